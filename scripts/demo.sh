#!/bin/sh
# make demo: the whole KKS story on the seeds/ data, step by step, in words a
# trainer can read aloud. Terminal receipts are in Bahasa Indonesia (the
# default). Issuer and switch run on 127.0.0.1 with ports chosen by the system;
# every file goes under var/demo/ (fresh each run). Whatever happens (an error,
# Ctrl-C), the trap stops the daemons this script started.
# POSIX sh plus awk, sed and grep: no python, no jq.
set -eu
cd "$(dirname "$0")/.."

DEMO=var/demo
SEEDS=seeds
REGISTRY=$SEEDS/dtsen-medan.csv
EWARONG="EW-127101-0001"    # e-Warong Berkah Jaya, Medan Kota (seeds/terminals.csv)
ATM="ATM-BNI-0001"          # ATM BNI Gatot Subroto (seeds/terminals.csv)
PIN=482915                  # the PIN the family chooses at activation
WRONG_PIN=111111
SITE_PRINT="Kantor Pusat"
SITE_HANDOVER="Kantor Camat Medan Kota"
PKH_PERIOD=2026-T4
BPNT_PERIOD=2026-10..12
PATH="$PWD/build/bin:$PATH"
pids=""
started=$(date +%s)
n=0

# ---------------------------------------------------------------- helpers
step() {
	n=$((n + 1))
	printf '\n======== Step %d. %s\n' "$n" "$1"
	shift
	for line in "$@"; do printf '%s\n' "$line"; done
}
say() { printf '%s\n' "$*"; }
# Prints a command the way you would type it, quoting what needs quoting.
show() {
	s=""
	for a in "$@"; do
		case $a in
		"&" | ">") ;;
		'' | *[!A-Za-z0-9_./:,=+-]*) a="\"$a\"" ;;
		esac
		s="$s $a"
	done
	printf '\n  $%s\n' "$s"
}
die() {
	printf '\ndemo: FAILED: %s\n' "$*" >&2
	for f in "$DEMO/issuer.log" "$DEMO/switch.log"; do
		[ -s "$f" ] || continue
		printf 'demo: last lines of %s:\n' "$f" >&2
		tail -n 5 "$f" >&2
	done
	exit 1
}
# Shows a command, runs it, and stops the demo if it does not succeed.
run() {
	show "$@"
	"$@" || die "this command failed (exit $?): $*"
}
# Runs a terminal transaction that must be declined (exit 1) with CODE.
expect_decline() {
	code=$1
	shift
	show "$@"
	if "$@" >"$DEMO/receipt.txt"; then rc=0; else rc=$?; fi
	cat "$DEMO/receipt.txt"
	[ "$rc" -eq 1 ] || die "expected a decline (exit 1), got exit $rc: $*"
	grep -q "^KODE RESPON *: *$code\$" "$DEMO/receipt.txt" ||
		die "expected response code $code on the receipt: $*"
	say "  (declined with $code, as expected)"
}
# 1234567 -> Rp1.234.567
rp() {
	awk -v n="$1" 'BEGIN { s = ""
		while (length(n) > 3) { s = "." substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) }
		print "Rp" n s }'
}
# The first "KEY": in a one-line JSON object (a string or a number).
json_get() {
	printf '%s\n' "$1" | awk -v k="\"$2\":" '{
		i = index($0, k); if (!i) exit
		v = substr($0, i + length(k))
		if (substr(v, 1, 1) == "\"") { v = substr(v, 2); sub(/".*/, "", v) }
		else sub(/[,}].*/, "", v)
		print v }'
}
wait_ready() { # FILE PID NAME
	i=0
	while [ ! -s "$1" ]; do
		kill -0 "$2" 2>/dev/null || die "$3 exited at start; see $DEMO/$3.log"
		i=$((i + 1))
		[ $i -lt 300 ] || die "$3 did not become ready within 30 s"
		sleep 0.1
	done
}
# Stops the daemons this script started: SIGTERM, then waits for each (SIGKILL
# after 15 s if one hangs). Sets $stop_errors to what did not exit 0.
stop_daemons() {
	set -- $pids
	pids=""
	stop_errors=""
	[ $# -gt 0 ] || return 0
	for p; do kill -TERM "$p" 2>/dev/null || true; done
	(
		trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
		sleep 15 &
		sleeper=$!
		wait "$sleeper"
		for p; do kill -KILL "$p" 2>/dev/null || true; done
	) >/dev/null 2>&1 &
	dog=$!
	for p; do
		if wait "$p"; then rc=0; else rc=$?; fi
		[ "$rc" -eq 0 ] || stop_errors="${stop_errors:+$stop_errors, }$(name_of "$p") exited $rc"
	done
	kill -TERM "$dog" 2>/dev/null || true
	wait "$dog" 2>/dev/null || true
}
name_of() {
	case $1 in
	"${issuer_pid:-}") echo "kks-issuer (pid $1)" ;;
	"${switch_pid:-}") echo "kks-switch (pid $1)" ;;
	*) echo "process $1" ;;
	esac
}
trap stop_daemons EXIT
trap 'echo; echo "demo: interrupted; stopping what it started" >&2; exit 130' INT
trap 'echo "demo: terminated; stopping what it started" >&2; exit 143' TERM

for b in kks-issuer kks-switch kksctl kks-terminal; do
	[ -x "build/bin/$b" ] || die "build/bin/$b is missing: run make first"
done

# The business date the terminals use: today in WIB (UTC+7). A POSIX TZ
# string, so it works without the tzdata package.
DAY=$(TZ=WIB-7 date +%F)

say "KKS Simulator demo: one Medan family's KKS card, from the social registry"
say "to a bag of rice, cash at an ATM, and the day's settlement."
say "Business date (WIB): $DAY. Everything is written under $DEMO/."

# ---------------------------------------------------------------- 1
step "A development PKI, and certificates for two terminals" \
	"Every connection in the system is mutual TLS with certificates from one CA." \
	"We make that CA, the issuer/switch/operator certificates and the PIN keys," \
	"then a certificate for e-Warong Berkah Jaya ($EWARONG) in Medan Kota" \
	"and one for the BNI ATM on Jl. Gatot Subroto ($ATM)."
rm -rf "$DEMO"
mkdir -p "$DEMO"
run kksctl pki init --dir "$DEMO/pki"
run kksctl pki terminal --dir "$DEMO/pki" --id "$EWARONG"
run kksctl pki terminal --dir "$DEMO/pki" --id "$ATM"

# ---------------------------------------------------------------- 2
step "Start the card issuer and the transaction switch" \
	"The issuer (a Himbara bank's card system) keeps cards and PINs. The switch" \
	"keeps the families' accounts and the ledger, and routes card requests to" \
	"the issuer. Both listen on 127.0.0.1; their logs go to $DEMO/*.log."
show kks-issuer --listen 127.0.0.1:0 --db "$DEMO/issuer.db" --pki "$DEMO/pki" \
	--ready-file "$DEMO/issuer.addr" "&"
kks-issuer --listen 127.0.0.1:0 --db "$DEMO/issuer.db" --pki "$DEMO/pki" \
	--ready-file "$DEMO/issuer.addr" 2>"$DEMO/issuer.log" &
pid=$!
issuer_pid=$pid
pids="$pids $pid"
wait_ready "$DEMO/issuer.addr" $pid issuer
ISSUER=$(cat "$DEMO/issuer.addr")
say "  issuer listening on $ISSUER"

show kks-switch --listen 127.0.0.1:0 --db "$DEMO/switch.db" --pki "$DEMO/pki" \
	--issuer "$ISSUER" --ready-file "$DEMO/switch.addr" "&"
kks-switch --listen 127.0.0.1:0 --db "$DEMO/switch.db" --pki "$DEMO/pki" \
	--issuer "$ISSUER" --ready-file "$DEMO/switch.addr" 2>"$DEMO/switch.log" &
pid=$!
switch_pid=$pid
pids="$pids $pid"
wait_ready "$DEMO/switch.addr" $pid switch
SWITCH=$(cat "$DEMO/switch.addr")
say "  switch listening on $SWITCH"

KKS_PKI=$DEMO/pki KKS_ISSUER=$ISSUER KKS_SWITCH=$SWITCH KKS_TERMINAL_STATE=$DEMO/terminal
export KKS_PKI KKS_ISSUER KKS_SWITCH KKS_TERMINAL_STATE
say
say "From here on the commands find their peers through the environment:"
say "  export KKS_PKI=$KKS_PKI KKS_ISSUER=$KKS_ISSUER KKS_SWITCH=$KKS_SWITCH"
say "  export KKS_TERMINAL_STATE=$KKS_TERMINAL_STATE   # terminals' STAN counters and journals"
say
say "The operator pings both; the switch also pings the issuer over its own link."
show kksctl ping
i=0
until kksctl ping >"$DEMO/ping.txt" 2>&1; do
	i=$((i + 1))
	[ $i -lt 20 ] || { cat "$DEMO/ping.txt"; die "kksctl ping kept failing"; }
	sleep 0.2 # the switch's link to the issuer may still be coming up
done
cat "$DEMO/ping.txt"

# ---------------------------------------------------------------- 3
step "Enrol the registry, print the cards, hand them over" \
	"$REGISTRY is an extract of the social registry (DTSEN): 240 Medan" \
	"families, each with its KK (family card) number, the head's NIK, a bank," \
	"and what it is entitled to. Enrolment gives every family a card (ISSUED)," \
	"and opens the families' accounts at the switch with their programmes" \
	"(collective account opening): only a family with an account can be credited."
run kksctl enroll "$REGISTRY"
say
say "Each bank prints its cards in one batch (the print file goes to the card"
say "bureau), then the batch is handed over to the families at the sub-district"
say "office. A handed-over card is DISTRIBUTED: it still needs activation."
say "Each family brings the documents the policy asks (document-policy.csv):"
HANDOVER_DOCS=$(awk -F, '$1 == "handover" { printf "%s%s", sep, $2; sep = "," }' \
	"$SEEDS/document-policy.csv")
say "  $HANDOVER_DOCS"
for bank in $(awk -F, 'NR > 1 { print $1 }' "$SEEDS/banks.csv"); do
	show kksctl --json print --bank "$bank" --site "$SITE_PRINT" --out "$DEMO/print-$bank.csv"
	out=$(kksctl --json print --bank "$bank" --site "$SITE_PRINT" --out "$DEMO/print-$bank.csv") ||
		die "printing $bank's cards failed: $out"
	batch=$(json_get "$out" batch)
	cards=$(json_get "$out" cards)
	case $batch in "" | *[!0-9]* | 0) die "no batch number in: $out" ;; esac
	say "  $bank: print batch $batch, $cards cards, print file $DEMO/print-$bank.csv"
	run kksctl handover --batch "$batch" --site "$SITE_HANDOVER" --docs "$HANDOVER_DOCS"
done

# ---------------------------------------------------------------- 4
step "Credit this period's assistance" \
	"The manifests say how much each family gets this period. PKH (conditional" \
	"cash) pays per family member in each component (pregnancy, young child," \
	"school child, disability, elderly; at most four), in four stages a year:" \
	"stage $PKH_PERIOD. BPNT (food assistance) pays Rp200.000 a month: months" \
	"$BPNT_PERIOD. kksctl computes both from the registry; a credit run then" \
	"streams one to the switch, which credits the families' wallets."
show kksctl manifest --program pkh --period "$PKH_PERIOD" --registry "$REGISTRY" ">" "$DEMO/pkh.csv"
kksctl manifest --program pkh --period "$PKH_PERIOD" --registry "$REGISTRY" >"$DEMO/pkh.csv" ||
	die "computing the PKH manifest failed"
show kksctl manifest --program bpnt --period "$BPNT_PERIOD" --registry "$REGISTRY" ">" "$DEMO/bpnt.csv"
kksctl manifest --program bpnt --period "$BPNT_PERIOD" --registry "$REGISTRY" >"$DEMO/bpnt.csv" ||
	die "computing the BPNT manifest failed"
run kksctl credit-run "$DEMO/pkh.csv"
run kksctl credit-run "$DEMO/bpnt.csv"
say
say "A credit run is exactly-once: running the PKH manifest again (a retry after"
say "a dropped connection, say) credits nothing a second time."
show kksctl credit-run "$DEMO/pkh.csv"
out=$(kksctl credit-run "$DEMO/pkh.csv") || die "the second PKH credit run failed: $out"
say "$out"
case $out in
*" credited 0,"*) ;;
*) die "the second credit run credited something again" ;;
esac

# ---------------------------------------------------------------- 5
step "Choose a family" \
	"We follow a family with a BNI card that receives both PKH and BPNT: the" \
	"first card of BNI's print file whose family (its KK) is in both manifests."
PAN=""
KK=""
for pan in $(awk -F, 'NR > 1 { gsub(/"/, "", $1); print $1 }' "$DEMO/print-BNI.csv"); do
	card=$(kksctl --json card show "$pan") || die "kksctl card show $pan failed: $card"
	kk=$(json_get "$card" kk)
	[ -n "$kk" ] || die "no KK in: $card"
	if grep -q "^pkh,[^,]*,$kk," "$DEMO/pkh.csv" && grep -q "^bpnt,[^,]*,$kk," "$DEMO/bpnt.csv"; then
		PAN=$pan
		KK=$kk
		break
	fi
done
[ -n "$PAN" ] || die "no BNI card belongs to a family in both manifests"
NAME=$(json_get "$card" name)
SEX=$(awk -F, -v kk="$KK" '$1 == kk { gsub(/[" \r]/, "", $5); print $5; exit }' "$REGISTRY")
case $SEX in P) SHE=she She=She HER=her ;; *) SHE=he She=He HER=his ;; esac
NIK=$(awk -F, -v kk="$KK" '$1 == kk { gsub(/[" \r]/, "", $2); print $2; exit }' "$REGISTRY")
[ -n "$NIK" ] || die "KK $KK is not in $REGISTRY"
PKH_AMOUNT=$(awk -F, -v kk="$KK" '$3 == kk { print $4; exit }' "$DEMO/pkh.csv")
BPNT_AMOUNT=$(awk -F, -v kk="$KK" '$3 == kk { print $4; exit }' "$DEMO/bpnt.csv")
say "  holder  $NAME"
say "  KK      $KK        (family card number)"
say "  NIK     $NIK        (the holder's identity number, from the registry)"
say "  card    $PAN        (BNI)"
say "  PKH     $(rp "$PKH_AMOUNT") for $PKH_PERIOD, BPNT $(rp "$BPNT_AMOUNT") for $BPNT_PERIOD"
say
say "The card has been handed over, but it is not active yet:"
run kksctl card show "$PAN"

# ---------------------------------------------------------------- 6
step "At the e-warong: activation, balance, shopping" \
	"$NAME brings the card to e-Warong Berkah Jaya ($EWARONG)." \
	"To activate it the terminal takes $HER NIK and a new PIN, typed twice;" \
	"the PIN leaves the terminal only inside an encrypted PIN block." \
	"The receipts are printed in Bahasa Indonesia."
run kks-terminal --id "$EWARONG" --date "$DAY" activate --pan "$PAN" --nik "$NIK" \
	--pin "$PIN" --pin-again "$PIN"
say
say "The balance: both wallets, PKH (cash) and BPNT (food)."
run kks-terminal --id "$EWARONG" --date "$DAY" balance --pan "$PAN" --pin "$PIN"
say
say "$She buys 5 kg of medium rice and 1 kg of eggs, paid from BPNT."
run kks-terminal --id "$EWARONG" --date "$DAY" purchase --pan "$PAN" --pin "$PIN" \
	--items BRS-MED-5KG:1,TLR-1KG:1
say
say "Cooking oil is not a BPNT staple: the switch declines it with code 57"
say "(transaction not permitted) and nothing is taken from the wallet."
expect_decline 57 kks-terminal --id "$EWARONG" --date "$DAY" purchase --pan "$PAN" \
	--pin "$PIN" --items MYK-1L:1
say
say "A mistyped PIN is declined with code 55. Three in a row would block the"
say "card (75); the next right PIN resets the count."
expect_decline 55 kks-terminal --id "$EWARONG" --date "$DAY" balance --pan "$PAN" \
	--pin "$WRONG_PIN"

# ---------------------------------------------------------------- 7
step "At the ATM: PKH cash" \
	"PKH is cash assistance: $SHE withdraws Rp100.000 at the BNI ATM ($ATM)" \
	"with the right PIN."
run kks-terminal --id "$ATM" --date "$DAY" withdraw --pan "$PAN" --pin "$PIN" --amount 100000

# ---------------------------------------------------------------- 8
step "Settle the day" \
	"At closing each terminal sends its count and total of the day's approved" \
	"transactions; the switch says whether its own figures match (COCOK)."
run kks-terminal --id "$EWARONG" --date "$DAY" settle
run kks-terminal --id "$ATM" --date "$DAY" settle
say
say "The operator then settles business date $DAY: what the programmes owe each"
say "e-warong and each ATM's bank, written as CSV and JSON."
run kksctl settle --date "$DAY" --out-dir "$DEMO"

# ---------------------------------------------------------------- 9
step "Check the books" \
	"The ledger is double-entry: every rupiah in a family's wallet came out of" \
	"a programme's funding account, and all balances sum to zero."
run kksctl ledger check
say
say "The family's account: what was credited, spent and withdrawn."
run kksctl account show "$KK"
say
say "And the card's history, from issue to activation at the e-warong:"
run kksctl card show "$PAN"

# ---------------------------------------------------------------- 10
step "Stop the issuer and the switch" \
	"SIGTERM: each stops accepting, answers what is in flight and exits 0."
stop_daemons
[ -z "$stop_errors" ] || die "after SIGTERM, $stop_errors; a daemon still running 15 s after SIGTERM is killed (exit 137)"
say "  both exited 0"
say
say "Demo complete in $(($(date +%s) - started)) s. Files in $DEMO/: print files,"
say "manifests, settlement-$DAY-b1.csv/.json, terminal journals, and the daemons' logs."
