#!/bin/sh
# Instructions per unit of work, counted by callgrind (exact on a noisy machine, where
# time is not): one daemon runs under valgrind with instrumentation off until the work
# is steady, the rest run natively on 127.0.0.1, ports chosen by the system.
#   bench/instructions.sh BIN auth-switch|auth-issuer|credit|enroll [OUT]
# auth-switch, auth-issuer: 64 terminals in a closed loop (purchase=50,withdraw=30,
#   balance=20) on CARDS (20,000) cards; RUN_SECONDS (30) of instrumentation, 10 s in;
#   per request the switch answered (kks_requests_total).
# credit: a BPNT credit run of FAMILIES (200,000) generated families; per credit.
# enroll: kksctl enroll of FAMILIES (100,000) generated families; per family.
# Prints the total per unit and the functions that cost most, inclusive; the callgrind
# file is OUT (default $TMPDIR/kks-instructions.out) for callgrind_annotate.
set -eu
B=$1; WHAT=$2; OUT=${3:-${TMPDIR:-/tmp}/kks-instructions.out}
case $WHAT in auth-switch | auth-issuer | credit | enroll) ;; *)
	echo "usage: bench/instructions.sh BIN auth-switch|auth-issuer|credit|enroll [OUT]" >&2
	exit 2
	;;
esac
for t in valgrind callgrind_control curl; do
	command -v "$t" >/dev/null || { echo "$t is needed (Debian: apt-get install valgrind curl)" >&2; exit 1; }
done
. "$(dirname "$0")/lib.sh"
rm -f "$OUT" "$OUT".*
"$B/kksctl" pki init --dir "$WORK/pki" >/dev/null
export KKS_PKI="$WORK/pki"
VG="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$OUT"
requests() { curl -s "http://$1/metrics" | awk '/^kks_requests_total / {print $2}'; }
case $WHAT in
auth-*)
	iv=""; sv=""
	if [ "$WHAT" = auth-issuer ]; then iv=$VG; else sv=$VG; fi
	start issuer $iv "$B/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/i.db" --pki "$WORK/pki"; IP=$PID; IA=$ADDR
	start switch $sv "$B/kks-switch" --listen 127.0.0.1:0 --db "$WORK/s.db" --pki "$WORK/pki" --issuer "$IA" \
		--metrics 127.0.0.1:0; SP=$PID
	while [ -z "$(metrics_addr switch)" ]; do sleep 0.1; done
	MA=$(metrics_addr switch)
	if [ "$WHAT" = auth-issuer ]; then VP=$IP; else VP=$SP; fi
	L="$B/kks-terminal load --switch $ADDR --issuer $IA --pki $WORK/pki --state $WORK/load --terminals 64 --cards ${CARDS:-20000} --mix purchase=50,withdraw=30,balance=20 --warmup 1"
	$L --closed --duration 5 --json >/dev/null 2>"$WORK/prep.err" || { cat "$WORK/prep.err" >&2; exit 1; }
	S=${RUN_SECONDS:-30}
	$L --closed --duration $((S + 20)) --json >/dev/null 2>&1 &
	LP=$!
	sleep 10
	r0=$(requests "$MA")
	callgrind_control -i on "$VP" >/dev/null 2>&1
	sleep "$S"
	callgrind_control -i off "$VP" >/dev/null 2>&1
	r1=$(requests "$MA")
	wait "$LP" || true
	N=$((r1 - r0)); UNIT=request
	;;
credit)
	F=${FAMILIES:-200000}
	"$B/kksctl" gen population --families "$F" --seed 5 >"$WORK/pop.csv"
	start issuer "$B/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/i.db" --pki "$WORK/pki"; IA=$ADDR
	"$B/kksctl" --issuer "$IA" enroll "$WORK/pop.csv" >/dev/null
	"$B/kksctl" manifest --program bpnt --period 2026-11 --registry "$WORK/pop.csv" >"$WORK/m.csv" 2>/dev/null
	start switch $VG "$B/kks-switch" --listen 127.0.0.1:0 --db "$WORK/s.db" --pki "$WORK/pki" --issuer "$IA"; VP=$PID
	"$B/kksctl" --issuer "$IA" --switch "$ADDR" accounts open "$WORK/pop.csv" >/dev/null
	callgrind_control -i on "$VP" >/dev/null 2>&1
	"$B/kksctl" --switch "$ADDR" credit-run "$WORK/m.csv" >/dev/null 2>&1
	callgrind_control -i off "$VP" >/dev/null 2>&1
	N=$(($(wc -l <"$WORK/m.csv") - 1)); UNIT=credit
	;;
enroll)
	F=${FAMILIES:-100000}
	"$B/kksctl" gen population --families "$F" --seed 2026 >"$WORK/pop.csv"
	start issuer $VG "$B/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/i.db" --pki "$WORK/pki"; VP=$PID
	callgrind_control -i on "$VP" >/dev/null 2>&1
	"$B/kksctl" --issuer "$ADDR" enroll "$WORK/pop.csv" >/dev/null
	callgrind_control -i off "$VP" >/dev/null 2>&1
	N=$F; UNIT=family
	;;
esac
callgrind_control -d "$VP" >/dev/null 2>&1
# the dump is written by the daemon's next callgrind poll
for _ in $(seq 50); do [ -s "$OUT.1" ] && break; sleep 0.1; done
[ "$N" -gt 0 ] || { echo "no $UNIT was counted" >&2; exit 1; }
echo "$WHAT: $N ${UNIT}s under callgrind"
awk -v n="$N" -v u="$UNIT" '/^totals:/ {printf "  %.0f instructions a %s\n", $2 / n, u}' "$OUT.1"
callgrind_annotate --inclusive=yes "$OUT.1" 2>/dev/null | awk -v n="$N" -v u="$UNIT" '
	$1 ~ /^[0-9,]+$/ && $3 ~ /^\?\?\?:[a-z_]/ {
		gsub(",", "", $1); f = $3; sub(/^\?\?\?:/, "", f)
		if (f ~ /^(uv_run|on_read|conn_pump|kks_framer_feed|conn_on_frame|main)$/) next
		if (++k <= 24) printf "  %8.0f a %s  %s\n", $1 / n, u, f
	}'
