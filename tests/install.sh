#!/bin/sh
# `cmake --install` of the test build into a temporary prefix, then the
# installed programs run from / with no --seeds and no KKS_SEEDS: each must
# find its seeds in PREFIX/share/kks/seeds, which `--version` reports as
# "seeds: DIR (installed)" (a program that fell back to the source tree's
# seeds would say "(source tree)"). Also: KKS_SEEDS and --seeds override it,
# the prefix can be moved, and the manual pages render.
#
# usage: install.sh BUILD_DIR
set -u
BUILD=$(cd "${1:?usage: install.sh BUILD_DIR}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kks-install-XXXXXX") && WORK=$(cd "$WORK" && pwd -P) || exit 1
trap 'rm -rf "$WORK"' EXIT
P="$WORK/prefix"
STEP=""
fail() {
    echo "FAIL at $STEP: $*"
    exit 1
}

STEP="cmake --install"
cmake --install "$BUILD" --prefix "$P" > "$WORK/install.log" 2>&1 ||
    fail "$(cat "$WORK/install.log")"
P=$(cd "$P" && pwd -P)
for f in bin/kks-issuer bin/kks-switch bin/kksctl bin/kks-terminal \
    share/kks/seeds/banks.csv share/kks/seeds/dtsen-medan.csv \
    share/kks/seeds/training/world.yaml share/man/man1/kks-issuer.1 \
    share/man/man1/kks-switch.1 share/man/man1/kksctl.1 share/man/man1/kks-terminal.1; do
    [ -f "$P/$f" ] || fail "$f was not installed"
done
[ -n "$(ls "$P/share/kks/seeds/lessons/"*.yaml 2>/dev/null)" ] || fail "no lessons installed"
[ -n "$(ls "$P/share/kks/seeds/scenarios/"*.yaml 2>/dev/null)" ] || fail "no scenarios installed"

cd / || fail "cd /"
unset KKS_SEEDS

STEP="versions"
for b in kks-issuer kks-switch kksctl kks-terminal; do
    out=$("$P/bin/$b" --version) || fail "$b --version exited $?"
    printf '%s\n' "$out" | head -1 | grep -Eq "^$b [0-9]+\.[0-9]+\.[0-9]+\$" ||
        fail "$b --version: $out"
    [ "$(printf '%s\n' "$out" | sed -n 2p)" = "seeds: $P/share/kks/seeds (installed)" ] ||
        fail "$b does not use the installed seeds: $out"
done
out=$("$P/bin/kksctl" manifest --version) || fail "kksctl manifest --version exited $?"
printf '%s\n' "$out" | grep -q "^seeds: $P/share/kks/seeds (installed)\$" ||
    fail "kksctl manifest --version: $out"

STEP="kksctl manifest"
"$P/bin/kksctl" manifest --program bpnt --period 2026-10..12 \
    --registry "$P/share/kks/seeds/dtsen-medan.csv" > "$WORK/manifest.csv" 2> "$WORK/manifest.err" ||
    fail "exit $?: $(cat "$WORK/manifest.err")"
[ "$(head -1 "$WORK/manifest.csv")" = "program,period,kk,amount" ] || fail "no manifest header"
grep -q '^bpnt,2026-10\.\.12,[0-9]\{16\},[1-9][0-9]*$' "$WORK/manifest.csv" || fail "no manifest row"
grep -q "families in the manifest" "$WORK/manifest.err" || fail "no summary"

STEP="kks-terminal --help"
"$P/bin/kks-terminal" --help > "$WORK/help.txt" || fail "exit $?"
grep -q "^usage: kks-terminal" "$WORK/help.txt" || fail "no usage"

STEP="KKS_SEEDS overrides the installed seeds"
out=$(KKS_SEEDS="$WORK/no-seeds" "$P/bin/kksctl" --version | sed -n 2p)
[ "$out" = "seeds: $WORK/no-seeds (\$KKS_SEEDS)" ] || fail "$out"
KKS_SEEDS="$WORK/no-seeds" "$P/bin/kksctl" manifest --program bpnt --period 2026-10 \
    --registry "$P/share/kks/seeds/dtsen-medan.csv" > /dev/null 2> "$WORK/env.err" &&
    fail "a missing KKS_SEEDS directory was not used"
grep -q "$WORK/no-seeds" "$WORK/env.err" || fail "$(cat "$WORK/env.err")"

STEP="--seeds overrides KKS_SEEDS"
KKS_SEEDS="$WORK/no-seeds" "$P/bin/kksctl" manifest --program bpnt --period 2026-10 \
    --registry "$P/share/kks/seeds/dtsen-medan.csv" --seeds "$P/share/kks/seeds" \
    > /dev/null 2> "$WORK/opt.err" || fail "exit $?: $(cat "$WORK/opt.err")"

STEP="a moved prefix"
mv "$P" "$WORK/moved" || fail "mv"
out=$("$WORK/moved/bin/kks-issuer" --version | sed -n 2p)
[ "$out" = "seeds: $WORK/moved/share/kks/seeds (installed)" ] || fail "$out"
mv "$WORK/moved" "$P" || fail "mv back"

STEP="manual pages"
for b in kks-issuer kks-switch kksctl kks-terminal; do
    page="$P/share/man/man1/$b.1"
    if command -v man > /dev/null 2>&1; then
        out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 > "$WORK/$b.txt") || fail "man -l $b.1"
    elif command -v groff > /dev/null 2>&1; then
        out=$(groff -man -Tutf8 -ww "$page" 2>&1 > "$WORK/$b.txt") || fail "groff $b.1"
    else
        echo "skipped: neither man nor groff is installed to render $b.1"
        continue
    fi
    [ -z "$out" ] || fail "$b.1 warnings: $out"
    grep -q "NAME" "$WORK/$b.txt" && grep -q "EXIT STATUS" "$WORK/$b.txt" &&
        grep -q "KKS_SEEDS" "$WORK/$b.txt" || fail "$b.1 did not render"
done
echo "install: ok ($P)"
