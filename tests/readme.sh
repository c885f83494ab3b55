#!/bin/sh
# The README as a newcomer follows it: every ```sh block of README.md, in
# order, in one shell, from a temporary directory laid out like a checkout
# (build/bin -> the binaries under test, seeds -> the source's), so that the
# README cannot rot. A block is left out only when the line before its fence
# says "<!-- not run by tests/readme.sh: REASON -->". `make` is the build
# that already happened (a no-op here). Daemons started by the blocks are
# stopped at the end.
#
# usage: readme.sh BIN_DIR SOURCE_DIR
set -u
BIN=$(cd "${1:?usage: readme.sh BIN_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?usage: readme.sh BIN_DIR SOURCE_DIR}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kks-readme-XXXXXX")
cleanup() {
    for f in "$WORK"/run/var/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    pkill -f "$WORK/run/" 2>/dev/null
    # the daemons the blocks started name themselves build/bin/...: found by their directory
    for p in $(pgrep -f 'build/bin/kks-'); do
        [ "$(readlink "/proc/$p/cwd")" = "$WORK/run" ] && kill "$p" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/run/build" "$WORK/home"
ln -s "$BIN" "$WORK/run/build/bin"
ln -s "$SRC/seeds" "$WORK/run/seeds"

# the blocks, each headed by its README line
awk -v q='```' '
    /^<!-- not run by tests\/readme.sh:/ { skip = 1; next }
    $0 == q "sh" { if (!skip) { inblock = 1; print "echo \"== README line " NR "\"" } skip = 0; next }
    $0 == q { inblock = 0; next }
    { skip = 0 }
    inblock { print }
' "$SRC/README.md" >"$WORK/blocks.sh"
[ -s "$WORK/blocks.sh" ] || { echo "FAIL at extract: no shell block in README.md"; exit 1; }

{
    echo 'set -eu'
    echo 'make() { :; }   # the build under test is already made'
    echo 'trap '"'"'kill $(jobs -p) 2>/dev/null; wait'"'"' EXIT   # the daemons the blocks started'
    cat "$WORK/blocks.sh"
    echo 'echo "== README done"'
} >"$WORK/script.sh"

cd "$WORK/run" || exit 1
HOME="$WORK/home" PATH="$BIN:$PATH" timeout 300 sh -x "$WORK/script.sh" >"$WORK/out" 2>"$WORK/err"
# set -e stops the script at the first command that fails: the last line
# is only printed when every block ran to its end
if ! grep -q "== README done" "$WORK/out"; then
    echo "FAIL at the README: a block did not run to its end"
    echo "---- the last commands ----"
    grep '^+ ' "$WORK/err" | tail -5
    echo "---- stderr (last lines) ----"
    grep -v '^+ ' "$WORK/err" | tail -15
    echo "---- stdout (last lines) ----"
    tail -15 "$WORK/out"
    exit 1
fi
n=$(grep -c '^== README line' "$WORK/out")
echo "PASS: $n shell blocks of README.md ran"
