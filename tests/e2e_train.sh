#!/bin/sh
# kks-terminal train, used as a person uses it: inside tmux, keys sent with
# send-keys, screens read with capture-pane. Completes the activation lesson
# (with one wrong NIK and one easy PIN on the way), then the wrong-PIN lesson
# with a hint and the trainer's "issuer down" fault on one attempt, and checks
# the screens, the scores and the record file.
#
# usage: e2e_train.sh BIN_DIR
# Every wait polls the screen until the text appears, with a deadline.
set -u
BIN=${1:?usage: e2e_train.sh BIN_DIR}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kks-e2e-train-XXXXXX")
SOCK="kks-e2e-train-$$"
S=train
T="tmux -u -L $SOCK"
W_INSERT="MASUKKAN KARTU" W_PIN="MASUKKAN PIN"
. "$(dirname "$0")/tmux_lib.sh"
start_train --record "'$WORK/record.json'"

STEP="lesson list"
wait_for "DAFTAR PELAJARAN" 120
wait_for "[ LATIHAN ]"
wait_for "Aktivasi kartu KKS"
wait_for "Tiga kali PIN salah"
screen > "$WORK/lessons.txt"

STEP="activation: menu"
keys 1
wait_for "Langkah 1/6"
wait_for "1 Aktivasi Kartu"
wait_for "6 Mutasi"
screen > "$WORK/menu.txt"
keys 5 # not what the lesson asks: a mistake, the menu stays
wait_for "Kesalahan 1"
keys 1
wait_for "MASUKKAN KARTU"
STEP="activation: card"
keys '*' Enter
wait_for "MASUKKAN NIK"
STEP="activation: wrong NIK"
type_in 1271107006020005; keys Enter
wait_for "NIK tidak sama"
STEP="activation: NIK"
type_in 1271107006020004; keys Enter
wait_for "PIN BARU"
STEP="activation: easy PIN"
type_in 123456; keys Enter
wait_for "mudah ditebak"
screen | grep -q "123456" && fail "the PIN shows in clear"
STEP="activation: PIN"
type_in 1357; keys BSpace BSpace; type_in 5792
wait_for "> ******"
screen > "$WORK/step.txt"
keys Enter
wait_for "ULANGI PIN BARU"
type_in 135792; keys Enter
STEP="activation: result"
wait_for "Pelajaran selesai" 30
wait_for "DISETUJUI"
wait_for "*** LATIHAN ***"
wait_for "Kartu aktif"
keys Enter
STEP="activation: score"
wait_for "HASIL PELAJARAN"
screen > "$WORK/score1.txt"
grep -q "Langkah benar      6" "$WORK/score1.txt" || fail "correct steps not 6"
grep -q "Kesalahan          3" "$WORK/score1.txt" || fail "mistakes not 3"
keys Enter
wait_for "DAFTAR PELAJARAN"

STEP="wrong PIN: start"
keys 3
wait_for "Langkah 1/12"
keys '?'
wait_for "Petunjuk dipakai 1"

STEP="wrong PIN: trainer fault"
keys F9
wait_for "PIN PELATIH"
type_in 9999; keys Enter
wait_for "MENU PELATIH"
keys 1
wait_for "berikut: Bank penerbit mati"
keys Escape
wait_for "MENU UTAMA"
screen | grep -q "Gangguan\|PELATIH" && fail "the trainee sees the trainer's fault"
keys 2
wait_for "MASUKKAN KARTU"
keys '*' Enter
wait_for "MASUKKAN PIN"
type_in 111111; keys Enter
wait_for "Kode respon 91" 30
wait_for "gangguan dari pelatih"
keys Enter
wait_for "MENU UTAMA"
# the issuer is up again: the lesson goes on
for attempt in 1 2 3; do
    STEP="wrong PIN: attempt $attempt"
    keys 2
    wait_for "MASUKKAN KARTU"
    keys '*' Enter
    wait_for "MASUKKAN PIN"
    type_in 11111$attempt; keys Enter
    if [ $attempt = 3 ]; then want=75; else want=55; fi
    wait_for "Kode respon $want" 30
    keys Enter
done
STEP="wrong PIN: score"
wait_for "HASIL PELAJARAN"
screen > "$WORK/score2.txt"
grep -q "Langkah benar      12" "$WORK/score2.txt" || fail "correct steps not 12"
grep -q "Kesalahan          0" "$WORK/score2.txt" || fail "mistakes not 0"
grep -q "Petunjuk dipakai   1" "$WORK/score2.txt" || fail "hints not 1"
keys Enter
wait_for "DAFTAR PELAJARAN"

# Lessons can be taken again: the bank puts each lesson's card back in the
# state the lesson needs (the blocked card unblocked, a fresh card to activate).
STEP="wrong PIN again"
keys 3
wait_for "Langkah 1/12"
for attempt in 1 2 3; do
    keys 2
    wait_for "MASUKKAN KARTU"
    keys '*' Enter
    wait_for "MASUKKAN PIN"
    type_in 22222$attempt; keys Enter
    if [ $attempt = 3 ]; then want=75; else want=55; fi
    wait_for "Kode respon $want" 30
    keys Enter
done
wait_for "HASIL PELAJARAN"
screen | grep -q "Langkah benar      12" || fail "correct steps not 12 the second time"
keys Enter
wait_for "DAFTAR PELAJARAN"

STEP="activation again"
keys 1
wait_for "Langkah 1/6"
keys 1
wait_for "MASUKKAN KARTU"
keys '*' Enter
wait_for "MASUKKAN NIK"
type_in 1271107006020004; keys Enter
wait_for "PIN BARU"
type_in 246801; keys Enter
wait_for "ULANGI PIN BARU"
type_in 246801; keys Enter
wait_for "Pelajaran selesai" 30
wait_for "DISETUJUI"
keys Enter
wait_for "HASIL PELAJARAN"
screen | grep -q "Kesalahan          0" || fail "the second activation was not clean"
keys Enter
wait_for "DAFTAR PELAJARAN"

STEP="resize"
$T resize-window -t $S -x 60 -y 20 2>/dev/null && {
    wait_for "Layar terlalu kecil"
    $T resize-window -t $S -x 100 -y 32
    wait_for "DAFTAR PELAJARAN"
}

STEP="session debrief"
keys Escape
wait_for "HASIL SESI LATIHAN"
wait_for "aktivasi"
wait_for "pin-salah"
screen > "$WORK/session.txt"
STEP="quit"
keys Escape
wait_for "EXITED 0" 30

STEP="record"
R="$WORK/record.json"
[ -s "$R" ] || fail "no record file"
for want in '"lesson": "aktivasi"' '"lesson": "pin-salah"' '"rc": "00"' '"rc": "55"' \
            '"rc": "75"' '"rc": "91"' '"fault-set": "issuer-down"' '"complete": true' \
            '"mistakes": 3' '"hints": 1' '"key": "OK"'; do
    grep -qF -- "$want" "$R" || fail "record lacks $want"
done
grep -q '135792\|111111\|246801' "$R" && fail "a PIN reached the record"
echo "--- main menu ---"; cat "$WORK/menu.txt"
echo "--- a lesson step ---"; cat "$WORK/step.txt"
echo "--- score ---"; cat "$WORK/score2.txt"
echo "--- session ---"; cat "$WORK/session.txt"
echo PASS
