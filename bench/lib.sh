# Sourced by bench/run.sh and bench/ab.sh: a work directory under $TMPDIR
# (TMPDIR=/dev/shm runs the same on tmpfs), removed at exit with every daemon
# started by start (KEEP=1 keeps the directory, for a look at the databases).
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kks-bench-XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

start() { # NAME COMMAND ARGS... ; sets ADDR and PID (a daemon that exits first stops the script)
	name=$1; shift
	rm -f "$WORK/$name.ready"
	"$@" --ready-file "$WORK/$name.ready" 2>"$WORK/$name.log" &
	PID=$!
	pids="$pids $PID"
	while [ ! -s "$WORK/$name.ready" ]; do
		kill -0 "$PID" 2>/dev/null || { echo "$name did not start: $(tail -1 "$WORK/$name.log")" >&2; exit 1; }
		sleep 0.05
	done
	ADDR=$(cat "$WORK/$name.ready")
}
# NAME: the metrics address a daemon started by start as NAME logged (--metrics), or nothing yet
metrics_addr() { sed -n 's/.*"msg":"metrics listening","addr":"\([^"]*\)".*/\1/p' "$WORK/$1.log"; }
stop() { # PID
	kill -TERM "$1"; wait "$1" || true
}
now() { date +%s.%N; }
field() { # NAME FILE: a number from a JSON report (kks-terminal load --json)
	tr -d ' \n' <"$2" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"
}
# PID: each of its threads, "TID user system" (clock ticks), one a line
threads() { for t in /proc/"$1"/task/*; do echo "${t##*/} $(awk '{print $14, $15}' "$t/stat")"; done; }
# BEFORE AFTER N PREFIX: each thread that worked between two snapshots of threads, its user and
# system time per request over N requests (a switch's event loop is its first thread)
thread_cpu() {
	awk -v n="$3" -v p="$4" 'NR == FNR {u[$1] = $2; k[$1] = $3; next}
		{du = $2 - u[$1]; dk = $3 - k[$1]; if (n > 0 && du + dk > 10) printf "%sthread %s: user %.1f, system %.1f us/req\n", p, $1, du * 10000 / n, dk * 10000 / n}' "$1" "$2"
}
# The system's CPU time so far, "TOTAL STEAL" (clock ticks, all CPUs, /proc/stat): steal is
# the time the hypervisor ran something else while this VM's CPUs wanted to run (0 on bare
# metal); a run's share of it says how much of a slower run was the host, not the code.
cpustat() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $9; exit}' /proc/stat; }
# BEFORE AFTER (two cpustat readings): the host's share of the CPU time between them
steal_pct() { echo "$1 $2" | awk '{d = $3 - $1; printf "%.1f%%", (d > 0 ? ($4 - $2) * 100 / d : 0)}'; }
