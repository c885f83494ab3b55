#!/bin/sh
# make bench: the benchmarks on the Release build. Each runs 3 times and prints
# every run and the median. Servers listen on 127.0.0.1, ports chosen by the system.
# BENCH=enroll|ping|all (default all); FAMILIES=N for the enrolment size.
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
