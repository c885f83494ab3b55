# Shared by the tmux tests of kks-terminal train: sourced after setting
# BIN, WORK, S (session name) and T (the tmux command with its own socket).
# Every wait polls the screen until the text appears, with a deadline.
STEP=start

cleanup() {
    $T kill-server 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

fail() {
    echo "FAIL at $STEP: $*"
    echo "---- screen ----"
    $T capture-pane -p -t $S 2>/dev/null
    echo "---- stderr ----"
    cat "$WORK/stderr" 2>/dev/null
    exit 1
}

screen() { $T capture-pane -p -t $S; }

# wait_for TEXT [SECONDS]: polls the screen every 0.2 s.
wait_for() {
    n=$(( ${2:-20} * 5 ))
    while [ $n -gt 0 ]; do
        if screen | grep -qF -- "$1"; then return 0; fi
        sleep 0.2
        n=$((n - 1))
    done
    fail "\"$1\" did not appear"
}

keys() { $T send-keys -t $S "$@"; }
# type TEXT: one key at a time, as a person does
type_in() { keys -l "$1"; }

# start_train ARGS...: kks-terminal train in a 100x32 tmux window, as the
# terminal $TRAIN_ID (default EW-127101-0001)
start_train() {
    command -v tmux >/dev/null || { echo "tmux is not installed"; exit 1; }
    $T new-session -d -s $S -x 100 -y 32 \
        "LC_ALL=C.UTF-8 '$BIN/kks-terminal' --id ${TRAIN_ID:-EW-127101-0001} train $* 2>'$WORK/stderr'; echo EXITED \$?; sleep 60" \
        || fail "tmux did not start"
}

# card_pin PIN: the lesson card, then its PIN
card_pin() {
    wait_for "$W_INSERT"
    keys '*' Enter
    wait_for "$W_PIN"
    type_in "$1"; keys Enter
}
