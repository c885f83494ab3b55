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
stop() { # PID
	kill -TERM "$1"; wait "$1" || true
}
now() { date +%s.%N; }
field() { # NAME FILE: a number from a JSON report (kks-terminal load --json)
	tr -d ' \n' <"$2" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"
}
