#!/bin/sh
# Every lesson the e2e_train test does not take, completed as a trainee does
# inside tmux: balance, the BPNT purchase with a refused item, the network
# timeout and its reversal, the lost card and its replacement, and free
# practice on the e-warong EDC in English; then the PKH withdrawal on the ATM
# in Bahasa Indonesia. Checks the screens, the scores and the record.
#
# usage: e2e_train_lessons.sh BIN_DIR
set -u
BIN=${1:?usage: e2e_train_lessons.sh BIN_DIR}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kks-e2e-lessons-XXXXXX")
SOCK="kks-e2e-lessons-$$"
S=train
T="tmux -u -L $SOCK"
W_INSERT="INSERT CARD" W_PIN="ENTER PIN"
. "$(dirname "$0")/tmux_lib.sh"

# done_lesson STEPS: the score screen says every step was done, no mistake
done_lesson() {
    wait_for "LESSON RESULT" 30
    screen | grep -Eq "Correct steps +$1\b" || fail "correct steps not $1"
    screen | grep -Eq "Mistakes +0\b" || fail "mistakes not 0"
    keys Enter
    wait_for "LESSONS"
}

start_train --lang en --record "'$WORK/record.json'"
STEP="lesson list"
wait_for "LESSONS" 120
wait_for "Free practice"

STEP="balance"
keys 2
wait_for "Step 1/4"
keys 2
card_pin 135792
wait_for "Response code 00" 30
wait_for "APPROVED"
wait_for "BPNT balance"
keys Enter
done_lesson 4

STEP="purchase: refused item"
keys 4
wait_for "Step 1/8"
keys 3
card_pin 135792
wait_for "CHOOSE ITEMS"
type_in 13; keys Enter
wait_for "Response code 57" 30
screen | grep -q "DECLINED" || fail "a refused basket is not declined"
keys Enter
STEP="purchase: rice only"
keys 3
card_pin 135792
wait_for "CHOOSE ITEMS"
type_in 1; keys Enter
wait_for "Response code 00" 30
keys Enter
done_lesson 8

STEP="network timeout"
keys 6
wait_for "Step 1/8"
keys 4
card_pin 135792
wait_for "WITHDRAWAL AMOUNT"
type_in 50000; keys Enter
wait_for "COMMUNICATION ERROR" 60
wait_for "not charged"
screen > "$WORK/timeout.txt"
keys Enter
STEP="network timeout: balance"
keys 2
card_pin 135792
wait_for "Response code 00" 30
keys Enter
done_lesson 8

STEP="lost card"
keys 7
wait_for "Step 2/"
keys 2
card_pin 111111
wait_for "Response code 41" 30
keys Enter
STEP="lost card: the replacement"
keys 1
wait_for "INSERT CARD"
keys '*' Enter
wait_for "ENTER NIK"
type_in 1271115004990004; keys Enter
wait_for "NEW PIN (6 digits)"
type_in 246813; keys Enter
wait_for "NEW PIN AGAIN"
type_in 246813; keys Enter
wait_for "Response code 00" 30
keys Enter
done_lesson 10

STEP="free practice"
keys 0
wait_for "Free practice: try any menu."
keys 2
card_pin 135792
wait_for "Response code 00" 30
keys Enter
wait_for "MAIN MENU"
keys Escape
wait_for "LESSONS"
keys Escape
wait_for "TRAINING SESSION RESULT"
screen | grep -q "Langkah\|Kesalahan\|DAFTAR" && fail "Indonesian words on an English screen"
keys Escape
wait_for "EXITED 0" 30

STEP="record"
R="$WORK/record.json"
for want in '"lesson": "cek-saldo"' '"lesson": "pembelian-bpnt"' '"lesson": "jaringan-timeout"' \
            '"lesson": "kartu-hilang"' '"lesson": "free"' '"rc": "57"' '"rc": "41"' \
            '"rc": "none"' '"bank": "replace"'; do
    grep -qF -- "$want" "$R" || fail "record lacks $want"
done
grep -q '135792\|246813' "$R" && fail "a PIN reached the record"

# The PKH withdrawal at the ATM, in Bahasa Indonesia
$T kill-server 2>/dev/null
sleep 0.5
STEP="ATM: the kind follows the ID"
"$BIN/kks-terminal" --id EW-127101-0001 train --kind atm >/dev/null 2>"$WORK/kind.err"
[ $? = 2 ] || fail "--kind atm with an e-warong ID was not a usage error"
grep -q "ATM-BNI-0001" "$WORK/kind.err" || fail "the error does not say which ID to use"
W_INSERT="MASUKKAN KARTU" W_PIN="MASUKKAN PIN"
TRAIN_ID=ATM-BNI-0001 start_train --lesson tarik-tunai
STEP="ATM withdrawal"
wait_for "ATM HIMBARA" 120
wait_for "Langkah 1/4"
wait_for "4 Tarik Tunai"
screen > "$WORK/atm.txt"
keys 4
card_pin 135792
wait_for "JUMLAH TARIK TUNAI"
type_in 120000; keys Enter
wait_for "Kode respon 13" 30
keys Enter
keys 4
card_pin 135792
wait_for "JUMLAH TARIK TUNAI"
type_in 100000; keys Enter
wait_for "Kode respon 00" 30
wait_for "DISETUJUI"
keys Enter
wait_for "HASIL PELAJARAN"
screen | grep -Eq "Langkah benar +4\b" || fail "correct steps not 4"
screen | grep -Eq "Kesalahan +1\b" || fail "the wrong amount was not a mistake"
keys Enter
keys Escape
wait_for "HASIL SESI LATIHAN"
keys Escape
wait_for "EXITED 0" 30

# Against running daemons (--switch, --issuer, --pki): the training families
# are enrolled there, and the balance lesson runs through them.
$T kill-server 2>/dev/null
STEP="given switch: daemons"
"$BIN/kksctl" pki init --dir "$WORK/pki" >/dev/null || fail "pki init"
"$BIN/kksctl" pki terminal --dir "$WORK/pki" --id EW-127101-0001 >/dev/null || fail "pki terminal"
"$BIN/kks-issuer" --listen 127.0.0.1:0 --db "$WORK/issuer.db" --pki "$WORK/pki" \
    --today 2026-11-20 --ready-file "$WORK/issuer.ready" 2>"$WORK/issuer.log" &
IPID=$!
n=100; while [ ! -s "$WORK/issuer.ready" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
"$BIN/kks-switch" --listen 127.0.0.1:0 --db "$WORK/switch.db" --pki "$WORK/pki" \
    --issuer "$(cat "$WORK/issuer.ready")" --today 2026-11-20 \
    --ready-file "$WORK/switch.ready" 2>"$WORK/switch.log" &
SPID=$!
trap 'kill $IPID $SPID 2>/dev/null; wait $IPID $SPID 2>/dev/null; cleanup' EXIT INT TERM
n=100; while [ ! -s "$WORK/switch.ready" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
[ -s "$WORK/switch.ready" ] || fail "the daemons did not start"
STEP="given switch: balance lesson"
start_train --lesson cek-saldo --switch "$(cat "$WORK/switch.ready")" \
    --issuer "$(cat "$WORK/issuer.ready")" --pki "'$WORK/pki'"
wait_for "Langkah 1/4" 120
keys 2
card_pin 135792
wait_for "Kode respon 00" 30
keys Enter
wait_for "HASIL PELAJARAN"
screen | grep -Eq "Langkah benar +4\b" || fail "correct steps not 4"
"$BIN/kksctl" --pki "$WORK/pki" --switch "$(cat "$WORK/switch.ready")" account show 1271031408210001 \
    >"$WORK/account.txt" 2>&1 || fail "the family is not at the given switch: $(cat "$WORK/account.txt")"

echo "--- ATM menu ---"; cat "$WORK/atm.txt"
echo "--- network timeout ---"; cat "$WORK/timeout.txt"
echo PASS
