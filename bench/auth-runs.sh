#!/bin/sh
# Authorisation runs against one issuer and one switch, for profiling what a
# request costs as the tables grow (make bench gives the figures; this gives
# the why). Servers on 127.0.0.1, ports chosen by the system, files under $TMPDIR.
#   bench/auth-runs.sh BIN [RUNS]
#   CARDS=600000 RATES="closed closed closed 7500 7500" RUN_SECONDS=20 bench/auth-runs.sh build/bin 5
#   PERF=/tmp/p bench/auth-runs.sh build/bin   (perf record -g of the switch in each run)
# RATES: one word a run (the last repeats): "closed" or requests/s (open model).
# Each run prints approved/s, latency (ms; from the due time in the open model),
# the switch's and the issuer's CPU per answered request (/proc/PID/stat; the
# switch's also per thread, user and system), the
# bytes the switch wrote per request (/proc/PID/io wchar: WAL and checkpoints)
# and the database and WAL sizes; then ledger check.
set -eu
B=$1; RUNS=${2:-3}; C=${CARDS:-600000}; S=${RUN_SECONDS:-20}; RATES=${RATES:-7500}
. "$(dirname "$0")/lib.sh"
"$B/kksctl" pki init --dir "$WORK/pki" >/dev/null
export KKS_PKI="$WORK/pki"
start issuer "$B/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/i.db" --pki "$WORK/pki"; IP=$PID; IA=$ADDR
start switch "$B/kks-switch" --listen 127.0.0.1:0 --db "$WORK/s.db" --pki "$WORK/pki" --issuer "$IA" --metrics 127.0.0.1:0; SP=$PID
MA=$(metrics_addr switch)
# the group commits' counters from a scrape: commits, requests, COMMIT seconds, over 5 ms, over 25 ms
commits() {
	curl -s "http://$MA/metrics" | awk '
		/^kks_switch_commits_total / {c = $2} /^kks_switch_commit_requests_total / {r = $2}
		/^kks_switch_commit_seconds_sum / {s = $2}
		/^kks_switch_commit_seconds_bucket\{le="0.005"\}/ {b5 = $2}
		/^kks_switch_commit_seconds_bucket\{le="0.025"\}/ {b25 = $2}
		END {printf "%d %d %.6f %d %d\n", c, r, s, c - b5, c - b25}'
}
L="$B/kks-terminal load --switch $ADDR --issuer $IA --pki $WORK/pki --state $WORK/load --terminals 64 --cards $C --mix purchase=50,withdraw=30,balance=20 --warmup 2"
echo "preparing $C cards (not measured)..."
$L --closed --duration 2 --json >/dev/null 2>"$WORK/prep.err" || { cat "$WORK/prep.err"; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# bytes a process read from the disk (not the page cache), and the system's file pages read
# again after the kernel dropped them (a proactive reclaim, as on this VM, drops pages
# untouched for a minute)
rd() { awk '/^read_bytes/ {print $2}' "/proc/$1/io"; }
refaults() { awk '/^workingset_refault_file / {print $2}' /proc/vmstat; }
i=1
while [ "$i" -le "$RUNS" ]; do
	R=$(echo "$RATES" | awk -v i="$i" '{print (i <= NF ? $i : $NF)}')
	if [ "$R" = closed ]; then mode=--closed; else mode="--rate $R"; fi
	w0=$(awk '/^wchar/ {print $2}' "/proc/$SP/io"); c0=$(cpu "$SP"); i0=$(cpu "$IP"); g0=$(commits); threads "$SP" >"$WORK/t0"; r0=$(rd "$SP"); f0=$(refaults); s0=$(cpustat)
	# PERF=PREFIX: 10 s of the switch's samples with call stacks, 8 s into each run, in PREFIX.runN
	PP=""
	[ -z "${PERF:-}" ] || { (sleep 8; perf record -q -e cpu-clock -F 999 -g -p "$SP" -o "$PERF.run$i" -- sleep 10 >/dev/null 2>&1) & PP=$!; }
	$L $mode --duration "$S" --json >"$WORK/a.json" 2>/dev/null
	[ -z "$PP" ] || wait "$PP"
	w1=$(awk '/^wchar/ {print $2}' "/proc/$SP/io"); c1=$(cpu "$SP"); i1=$(cpu "$IP"); g1=$(commits); threads "$SP" >"$WORK/t1"; r1=$(rd "$SP"); f1=$(refaults); s1=$(cpustat)
	cp "$WORK/a.json" "$WORK/run$i.json"; n=$(field answered "$WORK/a.json")
	echo "run $i ($R): $(field approved_per_s "$WORK/a.json") approved/s; ms p50 $(field p50 "$WORK/a.json") p90 $(field p90 "$WORK/a.json") p99 $(field p99 "$WORK/a.json") p99.9 $(field p99_9 "$WORK/a.json"); $(awk -v a="$c0" -v b="$c1" -v x="$i0" -v y="$i1" -v w="$w0" -v z="$w1" -v n="$n" 'BEGIN {n = n > 0 ? n : 1; printf "switch %.0f us/req, issuer %.0f us/req, switch wrote %.1f KB/req", (b - a) * 10000 / n, (y - x) * 10000 / n, (z - w) / n / 1000}'); db $(du -m "$WORK/s.db" | cut -f1) MiB, WAL $(du -m "$WORK/s.db-wal" | cut -f1) MiB"
	echo "$r0 $r1 $f0 $f1" | awk -v n="$n" '{printf "  switch read from disk %.0f bytes/req; file pages refaulted in the system %.2f/req", ($2 - $1) / n, ($4 - $3) / n}'
	echo "; CPU taken by the host (steal) $(steal_pct "$s0" "$s1")"
	thread_cpu "$WORK/t0" "$WORK/t1" "$n" "  "
	echo "$g0 $g1" | awk '{c = $6 - $1; c = c > 0 ? c : 1; printf "  commits %d, %.1f requests a commit, COMMIT %.0f us on average, %d over 5 ms, %d over 25 ms\n", $6 - $1, ($7 - $2) / c, ($8 - $3) * 1e6 / c, $9 - $4, $10 - $5}'
	i=$((i + 1))
done
"$B/kksctl" --switch "$ADDR" ledger check
[ -z "${KEEP:-}" ] || curl -s "http://$MA/metrics" >"$WORK/metrics.txt"
