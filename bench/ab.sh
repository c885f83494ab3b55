#!/bin/sh
# A/B of two builds on this machine, runs alternated (old, new, old, new...) so
# that a noisy machine moves both alike. Each run starts a fresh issuer (and
# switch) in its own directory under $TMPDIR on 127.0.0.1, port 0.
#   bench/ab.sh OLD_BIN NEW_BIN auth   [PAIRS=3 SECONDS=10 RATE=]  (closed loop, or open at RATE)
#   bench/ab.sh OLD_BIN NEW_BIN enroll [PAIRS=3 FAMILIES=1000000]
# auth: 64 terminals, 2,000 cards, purchase=50,withdraw=30,balance=20, after a
# 2 s preparation; prints approved/s, latency, the switch's CPU (centiseconds,
# system part) and its write syscalls per request (/proc/PID/io).
# enroll: kksctl enroll of one generated extract; wall seconds and families/s.
set -eu
OLD=$1; NEW=$2; WHAT=$3
PAIRS=${PAIRS:-3}
. "$(dirname "$0")/lib.sh"
"$NEW/kksctl" pki init --dir "$WORK/pki" >/dev/null
export KKS_PKI="$WORK/pki"

auth() { # BIN LABEL
	rm -rf "$WORK/run"; mkdir "$WORK/run"
	start issuer "$1/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/run/i.db" --pki "$WORK/pki"; IP=$PID; IA=$ADDR
	start switch "$1/kks-switch" --listen 127.0.0.1:0 --db "$WORK/run/s.db" --pki "$WORK/pki" --issuer "$IA"; SP=$PID
	L="$1/kks-terminal load --switch $ADDR --issuer $IA --pki $WORK/pki --state $WORK/run/load --terminals 64 --cards 2000 --mix purchase=50,withdraw=30,balance=20 --warmup 1"
	$L --closed --duration 2 --json >/dev/null 2>"$WORK/prep.err" || { cat "$WORK/prep.err"; exit 1; }
	c0=$(awk '{print $14 + $15, $15}' "/proc/$SP/stat"); w0=$(awk '/^syscw/ {print $2}' "/proc/$SP/io")
	if [ -n "${RATE:-}" ]; then mode="--rate $RATE"; else mode=--closed; fi
	$L $mode --duration "${SECONDS_:-10}" --json >"$WORK/a.json" 2>/dev/null
	c1=$(awk '{print $14 + $15, $15}' "/proc/$SP/stat"); w1=$(awk '/^syscw/ {print $2}' "/proc/$SP/io")
	n=$(field answered "$WORK/a.json")
	echo "$2: $(field approved_per_s "$WORK/a.json") approved/s; latency ms p50 $(field p50 "$WORK/a.json") p90 $(field p90 "$WORK/a.json") p99 $(field p99 "$WORK/a.json") p99.9 $(field p99_9 "$WORK/a.json"); switch CPU $(echo "$c0 $c1" | awk '{print $3 - $1 " cs (system " $4 - $2 ")"}'); write syscalls per request $(awk -v a="$w0" -v b="$w1" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / (n > 0 ? n : 1)}')"
	stop "$SP"; stop "$IP"; pids=""
}

enroll() { # BIN LABEL
	rm -rf "$WORK/run"; mkdir "$WORK/run"
	start issuer "$1/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/run/i.db" --pki "$WORK/pki"; IP=$PID
	t0=$(now)
	"$1/kksctl" --issuer "$ADDR" enroll "$WORK/pop.csv" >/dev/null
	t1=$(now)
	echo "$2: $(awk -v a="$t0" -v b="$t1" -v n="$FAMILIES" 'BEGIN {printf "%.2f s, %d families/s", b - a, n / (b - a)}')"
	stop "$IP"; pids=""
}

SECONDS_=${SECONDS:-10}
case $WHAT in
auth) ;;
enroll)
	FAMILIES=${FAMILIES:-1000000}
	"$NEW/kksctl" gen population --families "$FAMILIES" --seed 2026 >"$WORK/pop.csv" ;;
*) echo "usage: bench/ab.sh OLD_BIN NEW_BIN auth|enroll" >&2; exit 2 ;;
esac
i=0
while [ "$i" -lt "$PAIRS" ]; do
	$WHAT "$OLD" old
	$WHAT "$NEW" new
	i=$((i + 1))
done
