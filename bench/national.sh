#!/bin/sh
# A national period end to end, once: kksctl period run of N families
# (20,700,000 by default: about 29M credits) against a fresh issuer and switch
# on 127.0.0.1, then ledger check (timed) and the switch's peak RSS. About
# 3 to 9 minutes on 2 cores and 30 GB of disk under $TMPDIR.
#   bench/national.sh BIN [N]
set -eu
B=$1; N=${2:-20700000}
. "$(dirname "$0")/lib.sh"
"$B/kksctl" pki init --dir "$WORK/pki" >/dev/null
export KKS_PKI="$WORK/pki"
start issuer "$B/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/i.db" --pki "$WORK/pki"; IA=$ADDR
start switch "$B/kks-switch" --listen 127.0.0.1:0 --db "$WORK/s.db" --pki "$WORK/pki" --issuer "$IA"; SA=$ADDR; SP=$PID
"$B/kksctl" --issuer "$IA" --switch "$SA" period run --families "$N" --month 2026-11 2>"$WORK/period.err" ||
	{ tail -3 "$WORK/period.err"; exit 1; }
t0=$(now)
"$B/kksctl" --switch "$SA" ledger check
echo "ledger check: $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}') s; switch peak RSS $(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$SP/status") MiB"
