#!/bin/sh
# make bench: every benchmark on the Release build, each run 3 times; each prints
# its own figures. Servers run on 127.0.0.1 with ports chosen by the system.
set -eu
BIN=${1:-build/bin}
WORK=$(mktemp -d /tmp/kks-bench-XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

start() { # NAME ARGS... ; sets ADDR
	name=$1; shift
	"$@" --ready-file "$WORK/$name.ready" 2>"$WORK/$name.log" &
	pids="$pids $!"
	while [ ! -s "$WORK/$name.ready" ]; do sleep 0.05; done
	ADDR=$(cat "$WORK/$name.ready")
}

"$BIN/kksctl" pki init --dir "$WORK/pki" >/dev/null
start issuer "$BIN/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/issuer.db" --pki "$WORK/pki"
ISSUER=$ADDR
start switch "$BIN/kks-switch" --listen 127.0.0.1:0 --db "$WORK/switch.db" --pki "$WORK/pki" --issuer "$ISSUER"

echo "== transport: ping round trips to the issuer (reference for later benchmarks), 3 runs"
for i in 1 2 3; do "$BIN/bench_ping" "$ISSUER" "$WORK/pki" 16 32 5; done
