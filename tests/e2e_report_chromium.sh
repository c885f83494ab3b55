#!/bin/sh
# The reports as a browser shows them: report_sample writes a load report, and a
# real kksctl credit-run against an issuer and a switch started here writes a
# credit-run report; Debian's headless Chromium loads each from file://, and the
# DOM it built must hold the charts with their lines and bars and the run's
# figures; the screenshots must be real pictures.
# Skips (and says so) only when no chromium is installed.
#
# usage: e2e_report_chromium.sh BIN_DIR
# KKS_KEEP_REPORT=DIR keeps the reports, their DOMs and screenshots in DIR.
set -u
BIN=${1:?usage: e2e_report_chromium.sh BIN_DIR}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kks-e2e-report-XXXXXX")
STEP=start
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
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
load_size=$size

# ---- kksctl credit-run --report, a real run ----
STEP="credit-run: an issuer and a switch"
K="$BIN/kksctl"
# wait_file FILE PID: until FILE has content (30 s), or fail when PID died
wait_file() {
    i=0
    while [ ! -s "$1" ]; do
        kill -0 "$2" 2>/dev/null || fail "$1: the daemon exited"
        i=$((i + 1))
        [ "$i" -lt 300 ] || fail "$1: not written in 30 s"
        sleep 0.1
    done
}
"$K" pki init --dir "$WORK/pki" >/dev/null 2>>"$WORK/stderr" || fail "pki init"
"$BIN/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/issuer.db" --pki "$WORK/pki" \
    --ready-file "$WORK/issuer.addr" 2>"$WORK/issuer.log" &
PIDS="$PIDS $!"
wait_file "$WORK/issuer.addr" $!
"$BIN/kks-switch" --listen 127.0.0.1:0 --db "$WORK/switch.db" --pki "$WORK/pki" \
    --issuer "$(cat "$WORK/issuer.addr")" --ready-file "$WORK/switch.addr" \
    --metrics 127.0.0.1:0 2>"$WORK/switch.log" &
PIDS="$PIDS $!"
wait_file "$WORK/switch.addr" $!
METRICS=$(sed -n 's/.*"msg":"metrics listening","addr":"\([^"]*\)".*/\1/p' "$WORK/switch.log" |
    tail -1)
[ -n "$METRICS" ] || fail "no metrics address in the switch's log"
export KKS_PKI="$WORK/pki" KKS_ISSUER="$(cat "$WORK/issuer.addr")"
export KKS_SWITCH="$(cat "$WORK/switch.addr")"

STEP="credit-run: families, and December paid to 100 of them"
"$K" gen population --families 20000 --seed 7 >"$WORK/pop.csv" 2>>"$WORK/stderr" || fail "gen"
"$K" enroll "$WORK/pop.csv" >/dev/null 2>>"$WORK/stderr" || fail "enroll exited $?"
"$K" manifest --program bpnt --period 2026-12 --registry "$WORK/pop.csv" >"$WORK/dec.csv" \
    2>>"$WORK/stderr" || fail "manifest"
head -101 "$WORK/dec.csv" >"$WORK/first100.csv"
"$K" credit-run "$WORK/first100.csv" >/dev/null 2>>"$WORK/stderr" || fail "credit-run exited $?"

STEP="credit-run --report --metrics"
"$K" manifest --program bpnt --period 2026-11..12 --registry "$WORK/pop.csv" >"$WORK/m.csv" \
    2>>"$WORK/stderr" || fail "manifest"
printf 'bpnt,2026-11..12,9999999999999999,400000\nbpnt,2026-11..12,12345,400000\n' >>"$WORK/m.csv"
rows=$(($(wc -l <"$WORK/m.csv") - 1))
"$K" --json credit-run "$WORK/m.csv" --batch 500 --metrics "$METRICS" \
    --report "$WORK/credit.html" >"$WORK/credit.json" 2>>"$WORK/stderr"
rc=$?
[ "$rc" -eq 1 ] || fail "credit-run exited $rc, want 1 (rows rejected)"
json() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$WORK/credit.json"; }
credited=$(json credited)
rejected=$(json rejected_count)
[ "$(json rows)" -eq "$rows" ] || fail "rows $(json rows), want $rows"
[ "$rejected" -eq 102 ] || fail "$rejected rejected, want 100 already paid + 2"
[ "$((credited + rejected))" -eq "$rows" ] || fail "$credited credited + $rejected rejected"
grep -q '"rejected_by_reason":{"bad KK":1,"already paid":100,"no account":1}' "$WORK/credit.json" ||
    fail "rejections by reason: $(grep -o '"rejected_by_reason":{[^}]*}' "$WORK/credit.json")"
grep -q '"switch_memory":{"sampled":true' "$WORK/credit.json" || fail "memory not sampled"
grep -qiE 'https?://|src=|<script' "$WORK/credit.html" && fail "the report fetches or runs something"

STEP="credit-run: dump-dom"
browse --dump-dom "file://$WORK/credit.html" >"$WORK/credit-dom.html" || fail "chromium exited $?"
# rejections, credits over time, round trip over time, round trip spectrum, RSS and WAL
[ "$(count '<svg' "$WORK/credit-dom.html")" -eq 5 ] ||
    fail "$(count '<svg' "$WORK/credit-dom.html") svg elements in the DOM, want 5"
# credited/s and rows/s 2, p50 p90 p99 max 4, the spectrum 1, RSS and WAL 2
[ "$(count '<polyline' "$WORK/credit-dom.html")" -eq 9 ] ||
    fail "$(count '<polyline' "$WORK/credit-dom.html") polylines in the DOM, want 9"
# three bars and the legend's square
[ "$(count '<rect' "$WORK/credit-dom.html")" -ge 4 ] ||
    fail "$(count '<rect' "$WORK/credit-dom.html") rects in the DOM, want 4 or more"
for text in "already paid" "no account" "bad KK" "credited/s" "round trip (ms)" \
    "switch RSS (MiB)" "WAL size (MiB)" "time (s)" "<th>credited</th><td>$credited</td>" \
    "<th>rejected</th><td>$rejected</td>" "<th>rows</th><td>$rows</td>" \
    "<th>switch metrics</th><td>$METRICS</td>"; do
    grep -qF -- "$text" "$WORK/credit-dom.html" || fail "\"$text\" not in the DOM"
done
grep -q "no data" "$WORK/credit-dom.html" && fail "a chart says no data"

STEP="credit-run --report without --metrics"
"$K" credit-run "$WORK/m.csv" --report "$WORK/nometrics.html" >/dev/null 2>>"$WORK/stderr"
browse --dump-dom "file://$WORK/nometrics.html" >"$WORK/nometrics-dom.html" || fail "chromium"
grep -qF "The switch&#39;s memory was not sampled: no metrics address given" \
    "$WORK/nometrics-dom.html" || grep -qF "The switch's memory was not sampled: no metrics" \
    "$WORK/nometrics-dom.html" || fail "the report does not say why memory was not sampled"
[ "$(count '<svg' "$WORK/nometrics-dom.html")" -eq 4 ] || fail "not 4 svg elements"
grep -qF "<th>already credited</th><td>$credited " "$WORK/nometrics-dom.html" ||
    fail "the rerun does not show $credited rows already credited"

STEP="credit-run: screenshot"
browse --screenshot="$WORK/credit.png" --window-size=1000,2800 "file://$WORK/credit.html" \
    >/dev/null || fail "chromium exited $?"
size=$(wc -c <"$WORK/credit.png")
[ "$size" -gt 60000 ] || fail "the screenshot is only $size bytes"
echo "ok: load report 4 charts (screenshot $load_size bytes); credit-run report 5 charts," \
    "$credited credited, $rejected rejected (screenshot $size bytes)"
