#!/bin/sh
# make bench: the benchmarks on the Release build. Each runs 3 times and prints
# every run and the median. Servers listen on 127.0.0.1, ports chosen by the system.
# BENCH=enroll|credit|auth|ping|all (default all); FAMILIES=N for the enrolment size;
# CREDIT_SIZES="1000000 10000000"; AUTH_SECONDS=30, AUTH_TERMINALS=64, AUTH_CARDS=20000.
set -eu
BIN=${1:-build/bin}
WHICH=${BENCH:-all}
WORK=$(mktemp -d /tmp/kks-bench-XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

start() { # NAME ARGS... ; sets ADDR and PID
	name=$1; shift
	rm -f "$WORK/$name.ready"
	"$@" --ready-file "$WORK/$name.ready" 2>"$WORK/$name.log" &
	PID=$!
	pids="$pids $PID"
	while [ ! -s "$WORK/$name.ready" ]; do sleep 0.05; done
	ADDR=$(cat "$WORK/$name.ready")
}
stop() { # PID
	kill -TERM "$1"; wait "$1" || true
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

"$BIN/kksctl" pki init --dir "$WORK/pki" >/dev/null
export KKS_PKI="$WORK/pki"

if [ "$WHICH" = all ] || [ "$WHICH" = ping ]; then
	echo "== transport: ping round trips to the issuer, 16 connections x 32 in flight, 5 s, 3 runs"
	start issuer "$BIN/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/ping.db" --pki "$WORK/pki"
	for i in 1 2 3; do "$BIN/bench_ping" "$ADDR" "$WORK/pki" 16 32 5; done
	stop "$PID"
fi

if [ "$WHICH" = all ] || [ "$WHICH" = enroll ]; then
	N=${FAMILIES:-1000000}
	echo "== enrolment with card issuance: $N generated families, kksctl -> mTLS -> issuer -> committed"
	t0=$(now)
	"$BIN/kksctl" gen population --families "$N" --seed 2026 >"$WORK/pop.csv"
	echo "   (generating the extract took $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}') s; not counted)"
	: >"$WORK/rates"
	for i in 1 2 3; do
		rm -f "$WORK"/enroll.db*
		start issuer "$BIN/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/enroll.db" --pki "$WORK/pki"
		t0=$(now)
		"$BIN/kksctl" --issuer "$ADDR" enroll "$WORK/pop.csv" >"$WORK/enroll.out"
		t1=$(now)
		rss=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
		stop "$PID"
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
		rate=$(awk -v n="$N" -v s="$secs" 'BEGIN {printf "%d", n / s}')
		echo "   run $i: $(cat "$WORK/enroll.out" | tr -d '\n'); $secs s, $rate families/s, issuer peak RSS $((rss / 1024)) MiB"
		echo "$rate" >>"$WORK/rates"
	done
	echo "   median: $(median <"$WORK/rates") families/s (target >= 100000)"
fi

if [ "$WHICH" = all ] || [ "$WHICH" = credit ]; then
	for N in ${CREDIT_SIZES:-1000000 10000000}; do
		echo "== credit run: $N families, manifest CSV -> kksctl -> mTLS -> switch -> committed, 3 runs"
		# Credits need enrolled families with accounts: a generated extract, enrolled
		# once; each run opens the accounts on a fresh switch database (not timed).
		"$BIN/kksctl" gen population --families "$N" --seed 5 >"$WORK/credit-pop.csv"
		rm -f "$WORK"/ci.db*
		start issuer "$BIN/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/ci.db" --pki "$WORK/pki"
		IPID=$PID; IADDR=$ADDR
		"$BIN/kksctl" --issuer "$IADDR" enroll "$WORK/credit-pop.csv" >/dev/null || true
		"$BIN/kksctl" manifest --program bpnt --period 2026-11 --registry "$WORK/credit-pop.csv" >"$WORK/manifest.csv" 2>/dev/null
		ROWS=$(($(wc -l <"$WORK/manifest.csv") - 1))
		: >"$WORK/rates"; : >"$WORK/refs"
		for i in 1 2 3; do
			rm -f "$WORK"/credit.db* "$WORK"/ref.db*
			start switch "$BIN/kks-switch" --listen 127.0.0.1:0 --db "$WORK/credit.db" --pki "$WORK/pki" --issuer "$IADDR"
			"$BIN/kksctl" --issuer "$IADDR" --switch "$ADDR" accounts open "$WORK/credit-pop.csv" >/dev/null || true
			t0=$(now)
			"$BIN/kksctl" --switch "$ADDR" credit-run "$WORK/manifest.csv" >"$WORK/credit.out" 2>/dev/null
			t1=$(now)
			rss=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
			stop "$PID"
			secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
			rate=$(awk -v n="$ROWS" -v s="$secs" 'BEGIN {printf "%d", n / s}')
			ref=$("$BIN/bench_ledger_ref" "$ROWS" in "$WORK/ref.db" 2>/dev/null)
			echo "   run $i: $(tr -d '\n' <"$WORK/credit.out"); end to end $secs s = $rate credits/s; switch peak RSS $((rss / 1024)) MiB; reference loop (keys in order) $ref credits/s; ratio $(awk -v a="$rate" -v b="$ref" 'BEGIN {printf "%.2f", a / b}')"
			echo "$rate" >>"$WORK/rates"; echo "$ref" >>"$WORK/refs"
		done
		stop "$IPID"
		echo "   median: $(median <"$WORK/rates") credits/s end to end (target >= 400000), reference $(median <"$WORK/refs") credits/s"
		echo "   reference with keys scattered over the table, for comparison: $("$BIN/bench_ledger_ref" "$ROWS" scattered "$WORK/ref.db" 2>/dev/null) credits/s"
		rm -f "$WORK/manifest.csv" "$WORK/credit-pop.csv" "$WORK"/ci.db*
	done
fi

if [ "$WHICH" = all ] || [ "$WHICH" = auth ]; then
	T=${AUTH_TERMINALS:-64}; C=${AUTH_CARDS:-20000}; S=${AUTH_SECONDS:-30}
	echo "== authorisation: $T e-warong terminals over mTLS, closed loop, 50% BPNT purchase / 30% PKH withdrawal / 20% balance, $S s, 3 runs"
	i=0
	while [ $i -lt "$T" ]; do
		"$BIN/kksctl" pki terminal --dir "$WORK/pki" --id "EW-127101-$(printf %04d $((5001 + i)))" >/dev/null
		i=$((i + 1))
	done
	rm -f "$WORK"/auth-*.db*
	start issuer "$BIN/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/auth-issuer.db" --pki "$WORK/pki"
	IPID=$PID; IADDR=$ADDR
	start switch "$BIN/kks-switch" --listen 127.0.0.1:0 --db "$WORK/auth-switch.db" --pki "$WORK/pki" --issuer "$IADDR"
	SPID=$PID; SADDR=$ADDR
	"$BIN/kksctl" gen population --families "$C" --seed 11 >"$WORK/auth-pop.csv"
	"$BIN/kksctl" --issuer "$IADDR" --switch "$SADDR" enroll "$WORK/auth-pop.csv" >/dev/null
	for bank in BNI BRI MANDIRI BTN; do
		b=$("$BIN/kksctl" --issuer "$IADDR" --json print --bank "$bank" --out "$WORK/print-$bank.csv" | sed 's/.*"batch":\([0-9]*\).*/\1/')
		"$BIN/kksctl" --issuer "$IADDR" handover --batch "$b" --site "Kantor Camat" >/dev/null
	done
	"$BIN/bench_auth" manifests "$WORK/auth-issuer.db" "$C" "$WORK"
	"$BIN/kksctl" --switch "$SADDR" credit-run "$WORK/pkh.csv" >/dev/null 2>&1
	"$BIN/kksctl" --switch "$SADDR" credit-run "$WORK/bpnt.csv" >/dev/null 2>&1
	"$BIN/bench_auth" activate "$SADDR" "$WORK/pki" "$WORK/cards.csv" "$T"
	: >"$WORK/rates"
	for i in 1 2 3; do
		"$BIN/bench_auth" load "$SADDR" "$WORK/pki" "$WORK/cards.csv" "$T" "$S" | tee "$WORK/auth.out"
		awk '/approved\/s/ {for (i = 1; i <= NF; i++) if ($i == "approved/s") print $(i - 1)}' "$WORK/auth.out" | tr -d '=' >>"$WORK/rates"
	done
	echo "   median: $(median <"$WORK/rates") approved/s (target >= 15000)"
	half=$(awk -v r="$(median <"$WORK/rates")" 'BEGIN {printf "%d", r / 2}')
	echo "   at half that rate ($half requests/s, paced), for p99 (target <= 10 ms):"
	"$BIN/bench_auth" load "$SADDR" "$WORK/pki" "$WORK/cards.csv" "$T" "$S" "$half"
	"$BIN/kksctl" --switch "$SADDR" ledger check
	stop "$SPID"; stop "$IPID"
fi
