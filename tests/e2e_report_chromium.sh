#!/bin/sh
# The load report as a browser shows it: report_sample writes a report, Debian's
# headless Chromium loads it from file://, and the DOM it built must hold the four
# charts with their lines and bars; the screenshot must be a real picture.
# Skips (and says so) only when no chromium is installed.
#
# usage: e2e_report_chromium.sh BIN_DIR
# KKS_KEEP_REPORT=DIR keeps report.html, dom.html and report.png in DIR.
set -u
BIN=${1:?usage: e2e_report_chromium.sh BIN_DIR}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kks-e2e-report-XXXXXX")
STEP=start
cleanup() {
    [ -n "${KKS_KEEP_REPORT:-}" ] && cp "$WORK"/*.html "$WORK"/*.png \
        "$KKS_KEEP_REPORT"/ 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fail() {
    echo "FAIL at $STEP: $*"
    echo "---- stderr ----"
    cat "$WORK/stderr" 2>/dev/null
    exit 1
}

# count PATTERN FILE: how many times PATTERN occurs (not how many lines)
count() { grep -o -- "$1" "$2" | wc -l; }

CHROMIUM=""
for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then CHROMIUM=$(command -v "$c"); break; fi
done
if [ -z "$CHROMIUM" ]; then
    echo "SKIP: no chromium found (apt-get install chromium, or make deps)"
    exit 0
fi
# Chromium writes its profile and crash files below HOME: keep them in WORK.
export HOME="$WORK/home"
mkdir -p "$HOME"
browse() {
    timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --user-data-dir="$WORK/profile" --hide-scrollbars "$@" 2>>"$WORK/stderr"
}

STEP="report_sample"
"$BIN/report_sample" "$WORK/report.html" 2>"$WORK/stderr" || fail "report_sample exited $?"
[ -s "$WORK/report.html" ] || fail "no report written"
grep -qiE 'https?://|src=|<script' "$WORK/report.html" && fail "the report fetches or runs something"

STEP="dump-dom"
browse --dump-dom "file://$WORK/report.html" >"$WORK/dom.html" || fail "chromium exited $?"
[ "$(count '<svg' "$WORK/dom.html")" -eq 4 ] ||
    fail "$(count '<svg' "$WORK/dom.html") svg elements in the DOM, want 4"
# throughput 4 series (errors and late starts happen), latency 4, spectrum 1
[ "$(count '<polyline' "$WORK/dom.html")" -eq 9 ] ||
    fail "$(count '<polyline' "$WORK/dom.html") polylines in the DOM, want 9"
# response codes: 00 05 14 51 55 61 91 and transport errors, plus 3 legend squares
[ "$(count '<rect' "$WORK/dom.html")" -ge 11 ] ||
    fail "$(count '<rect' "$WORK/dom.html") rects in the DOM, want 11 or more"
for text in "51 insufficient funds" "transport errors (no reply)" "99.999%" "time (s)" \
    "latency (ms)" "requests/s" "fell behind"; do
    grep -qF -- "$text" "$WORK/dom.html" || fail "\"$text\" not in the DOM"
done
grep -q "no data" "$WORK/dom.html" && fail "a chart says no data"

STEP="dump-dom, nothing measured"
"$BIN/report_sample" "$WORK/empty.html" --empty 2>"$WORK/stderr" || fail "report_sample exited $?"
browse --dump-dom "file://$WORK/empty.html" >"$WORK/empty-dom.html" || fail "chromium exited $?"
[ "$(count '<svg' "$WORK/empty-dom.html")" -eq 4 ] || fail "not 4 svg elements"
[ "$(count 'no data' "$WORK/empty-dom.html")" -eq 4 ] || fail "not 4 charts say no data"
[ "$(count '<polyline' "$WORK/empty-dom.html")" -eq 0 ] || fail "a line drawn without data"

STEP="screenshot"
browse --screenshot="$WORK/report.png" --window-size=1000,2400 "file://$WORK/report.html" \
    >/dev/null || fail "chromium exited $?"
[ -f "$WORK/report.png" ] || fail "no screenshot"
size=$(wc -c <"$WORK/report.png")
# a blank or error page of this size compresses to a few KB; the charts and tables do not
[ "$size" -gt 60000 ] || fail "the screenshot is only $size bytes"
browse --screenshot="$WORK/empty.png" --window-size=1000,1200 "file://$WORK/empty.html" \
    >/dev/null || fail "chromium exited $?"
[ -s "$WORK/empty.png" ] || fail "no screenshot of the empty report"
echo "ok: 4 charts in the DOM, screenshot $size bytes"
