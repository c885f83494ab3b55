#!/bin/sh
# make demo: the whole flow on the embedded default data, printed step by step.
# Starts issuer and switch on 127.0.0.1 (ports chosen by the system), and
# stops everything it started, whatever happens.
set -eu
cd "$(dirname "$0")/.."
BIN=build/bin
DEMO=var/demo
pids=""

step() { printf '\n== %s\n' "$*"; }
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

wait_ready() { # FILE PID
	i=0
	while [ ! -s "$1" ]; do
		kill -0 "$2" 2>/dev/null || { echo "process $2 died; see $DEMO/*.log" >&2; exit 1; }
		i=$((i + 1)); [ $i -lt 300 ] || { echo "timed out waiting for $1" >&2; exit 1; }
		sleep 0.1
	done
}

step "A fresh development PKI in $DEMO/pki: a CA, certificates for issuer, switch, operator, and the PIN keys"
rm -rf "$DEMO"
mkdir -p "$DEMO"
$BIN/kksctl pki init --dir "$DEMO/pki"
$BIN/kksctl pki terminal --dir "$DEMO/pki" --id EW-127101-0001

step "Start the card issuer (kks-issuer) on loopback"
$BIN/kks-issuer --listen 127.0.0.1:0 --db "$DEMO/issuer.db" --pki "$DEMO/pki" \
	--ready-file "$DEMO/issuer.ready" 2>"$DEMO/issuer.log" &
pids="$pids $!"
wait_ready "$DEMO/issuer.ready" $!
ISSUER=$(cat "$DEMO/issuer.ready")
echo "issuer listening on $ISSUER"

step "Start the transaction switch (kks-switch); it keeps a mutual-TLS link to the issuer"
$BIN/kks-switch --listen 127.0.0.1:0 --db "$DEMO/switch.db" --pki "$DEMO/pki" \
	--issuer "$ISSUER" --ready-file "$DEMO/switch.ready" 2>"$DEMO/switch.log" &
pids="$pids $!"
wait_ready "$DEMO/switch.ready" $!
SWITCH=$(cat "$DEMO/switch.ready")
echo "switch listening on $SWITCH"

step "The operator pings both; the switch pings the issuer over its own link and reports it"
ok=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	if $BIN/kksctl --pki "$DEMO/pki" ping --switch "$SWITCH" --issuer "$ISSUER"; then ok=1; break; fi
	sleep 0.3
done
[ $ok = 1 ] || { echo "ping failed" >&2; exit 1; }

step "Stop both with SIGTERM: they answer what is in flight and exit 0"
for p in $pids; do kill -TERM "$p"; done
for p in $pids; do wait "$p"; done
pids=""
echo "done; logs in $DEMO/issuer.log and $DEMO/switch.log"
