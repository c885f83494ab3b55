/* kks-terminal train: the device on screen, lessons, trainer faults, score.
 *
 * The screens, and the key that leaves each (Esc = Batal goes back to MENU
 * from any transaction screen):
 *
 *   LESSONS --digit--> MENU (a lesson, or 0 free practice); Esc: quit
 *   MENU --1..6--> CARD --Enter--> [NIK] --> PIN --> [PIN_AGAIN | AMOUNT |
 *                  ITEMS | NEW_PIN] --> send (BUSY) --> RESULT --Enter--> MENU
 *                  (or SCORE when the lesson's last step is done)
 *   SCORE --Enter--> LESSONS
 *   any --F9 / Ctrl-T--> TRAINER_PIN --right PIN--> TRAINER --digit--> back
 *
 * A lesson step is checked when the trainee does what it names (picks a menu,
 * inserts a card, types a NIK or a PIN, reads a response code). An action the
 * step does not expect counts as a mistake and the device asks again; a
 * response code other than the expected one counts as a mistake unless the
 * trainer's fault caused it. Every key is recorded (PIN digits as '*').
 *
 * The world: the embedded one (seeds/training/world.yaml, a private issuer
 * and switch in a temporary directory) unless --switch is given. Requests go
 * through this program's own one-shot path (sc_world_terminal), on the same
 * loop, so a transaction blocks the screen while it runs, as on a device. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "train.h"

#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kks_catalog.h"
#include "kks_docs.h"
#include "kks_log.h"
#include "kks_pki.h"
#include "kks_seeds.h"
#include "lesson.h"
#include "scenario/scenario.h"
#include "terminal.h"

#define MIN_W 80
#define MIN_H 26
#define DEV_W 42
#define DEV_H 18
#define RCPT_W 34
#define TRAINER_PIN_DEFAULT "9999"
#define TXN_TIMEOUT_MS 4000
#define REVERSAL_MS 8000

/* ---- the one table of words ---- */

enum {
    W_BANNER,
    W_DEVICE_EW,
    W_DEVICE_ATM,
    W_WATERMARK,
    W_LESSONS,
    W_FREE,
    W_CHOOSE_LESSON,
    W_MENU,
    W_M1,
    W_M2,
    W_M3,
    W_M4,
    W_M5,
    W_M6,
    W_INSERT,
    W_INSERT_HELP,
    W_NIK,
    W_PIN,
    W_PIN_NEW,
    W_PIN_AGAIN,
    W_PIN_OLD,
    W_AMOUNT,
    W_ITEMS,
    W_ITEMS_HELP,
    W_BUSY,
    W_OK_CANCEL,
    W_APPROVED,
    W_DECLINED,
    W_NO_REPLY,
    W_NO_REPLY_WHY,
    W_CONTINUE,
    W_RECEIPT,
    W_NO_RECEIPT,
    W_BAL_PKH,
    W_BAL_BPNT,
    W_RC,
    W_SCORE,
    W_CORRECT,
    W_MISTAKES,
    W_HINTS,
    W_TIME,
    W_SCORE_BACK,
    W_TRAINER_PIN,
    W_TRAINER,
    W_T1,
    W_T2,
    W_T0,
    W_SESSION,
    W_SESSION_BACK,
    W_SESSION_COLS,
    W_T_SET,
    W_T_WRONG_PIN,
    W_LESSON_KEYS,
    W_NOT_NOW,
    W_DONE,
    W_TOO_SMALL,
    W_BAD_KEY,
    W_PIN_MISMATCH,
    W_FAULT_CAUSE,
    W_FREE_MODE,
    W_SCENE,
    W_STEP,
    W_WRONG_CARD,
    W_WRONG_NIK,
    W_WEAK_PIN,
    W_WRONG_PIN,
    W_RIGHT_PIN,
    W_QUIT_HINT,
    W_AMOUNT_NOTE,
    W_TOO_SMALL_FIX,
    W_REV_DONE,
    W_REV_PENDING,
    W_REFUSED,
    W_BAD_LESSONS,
    W_T3,
    W_T4,
    W_T5,
    W_T6,
    W_COUNT
};

static const char *const words[W_COUNT][2] = {
    [W_BANNER] = {"KKS SIMULATOR - MODE LATIHAN", "KKS SIMULATOR - TRAINING MODE"},
    [W_DEVICE_EW] = {"EDC E-WARONG", "E-WARONG EDC"},
    [W_DEVICE_ATM] = {"ATM HIMBARA", "HIMBARA ATM"},
    [W_WATERMARK] = {"LATIHAN", "LATIHAN (TRAINING)"},
    [W_LESSONS] = {"DAFTAR PELAJARAN", "LESSONS"},
    [W_FREE] = {"0  Latihan bebas", "0  Free practice"},
    [W_CHOOSE_LESSON] = {"Pilih nomor, Esc = keluar", "Choose a number, Esc = quit"},
    [W_MENU] = {"MENU UTAMA", "MAIN MENU"},
    [W_M1] = {"1 Aktivasi Kartu", "1 Card Activation"},
    [W_M2] = {"2 Cek Saldo", "2 Balance"},
    [W_M3] = {"3 Pembelian", "3 Purchase"},
    [W_M4] = {"4 Tarik Tunai", "4 Cash Withdrawal"},
    [W_M5] = {"5 Ganti PIN", "5 Change PIN"},
    [W_M6] = {"6 Mutasi", "6 Statement"},
    [W_INSERT] = {"MASUKKAN KARTU", "INSERT CARD"},
    [W_INSERT_HELP] = {"Ketik nomor kartu, atau * = kartu latihan",
                       "Type the card number, or * = lesson card"},
    [W_NIK] = {"MASUKKAN NIK (16 angka)", "ENTER NIK (16 digits)"},
    [W_PIN] = {"MASUKKAN PIN", "ENTER PIN"},
    [W_PIN_NEW] = {"PIN BARU (6 angka)", "NEW PIN (6 digits)"},
    [W_PIN_AGAIN] = {"ULANGI PIN BARU", "NEW PIN AGAIN"},
    [W_PIN_OLD] = {"PIN LAMA", "OLD PIN"},
    [W_AMOUNT] = {"JUMLAH TARIK TUNAI (Rp)", "WITHDRAWAL AMOUNT (Rp)"},
    [W_AMOUNT_NOTE] = {"Kelipatan Rp50.000", "Multiples of Rp50,000"},
    [W_ITEMS] = {"PILIH BARANG", "CHOOSE ITEMS"},
    [W_ITEMS_HELP] = {"1 Beras 5kg  2 Telur 1kg  3 Minyak 1L", "1 Rice 5kg  2 Eggs 1kg  3 Oil 1L"},
    [W_BUSY] = {"MEMPROSES... MOHON TUNGGU", "PROCESSING... PLEASE WAIT"},
    [W_OK_CANCEL] = {"Enter=OK  Esc=Batal  Bksp=Hapus", "Enter=OK  Esc=Cancel  Bksp=Clear"},
    [W_APPROVED] = {"DISETUJUI", "APPROVED"},
    [W_DECLINED] = {"DITOLAK", "DECLINED"},
    [W_NO_REPLY] = {"GANGGUAN KOMUNIKASI", "COMMUNICATION ERROR"},
    [W_NO_REPLY_WHY] = {"Tidak ada jawaban dari bank. Coba lagi sebentar lagi.",
                        "No reply from the bank. Try again in a moment."},
    [W_REV_DONE] = {"Tidak ada jawaban; transaksi dibatalkan otomatis (reversal diterima): "
                    "saldo penerima tidak terpotong.",
                    "No reply; the transaction was reversed automatically (reversal accepted): "
                    "the recipient was not charged."},
    [W_REV_PENDING] = {"Tidak ada jawaban; pembatalan otomatis belum diterima, terminal "
                       "mengulanginya. Cek saldo sebelum mengulang transaksi.",
                       "No reply; the automatic reversal is not acknowledged yet and will be "
                       "repeated. Check the balance before repeating the transaction."},
    [W_CONTINUE] = {"Enter = lanjut", "Enter = continue"},
    [W_RECEIPT] = {"STRUK", "RECEIPT"},
    [W_NO_RECEIPT] = {"(belum ada struk)", "(no receipt yet)"},
    [W_BAL_PKH] = {"Saldo PKH", "PKH balance"},
    [W_BAL_BPNT] = {"Saldo BPNT", "BPNT balance"},
    [W_RC] = {"Kode respon", "Response code"},
    [W_SCORE] = {"HASIL PELAJARAN", "LESSON RESULT"},
    [W_CORRECT] = {"Langkah benar", "Correct steps"},
    [W_MISTAKES] = {"Kesalahan", "Mistakes"},
    [W_HINTS] = {"Petunjuk dipakai", "Hints used"},
    [W_TIME] = {"Waktu", "Time"},
    [W_SCORE_BACK] = {"Enter = daftar pelajaran", "Enter = lesson list"},
    [W_TRAINER_PIN] = {"PIN PELATIH", "TRAINER PIN"},
    [W_TRAINER] = {"MENU PELATIH: transaksi berikut", "TRAINER MENU: next transaction"},
    [W_T1] = {"1 Bank penerbit mati", "1 Issuer down"},
    [W_T2] = {"2 Jaringan timeout", "2 Network timeout"},
    [W_T3] = {"3 NIK salah (aktivasi)", "3 Wrong NIK (activation)"},
    [W_T4] = {"4 PIN lemah (aktivasi)", "4 Weak PIN (activation)"},
    [W_T5] = {"5 Kartu terblokir", "5 Card blocked"},
    [W_T6] = {"6 Kartu dilaporkan hilang", "6 Card reported lost"},
    [W_T0] = {"0 Tanpa gangguan", "0 No fault"},
    [W_SESSION] = {"HASIL SESI LATIHAN", "TRAINING SESSION RESULT"},
    [W_SESSION_COLS] = {"pelajaran       benar/salah/petunjuk",
                        "lesson          correct/mistakes/hints"},
    [W_SESSION_BACK] = {"Esc = keluar, Enter = kembali", "Esc = quit, Enter = back"},
    [W_T_SET] = {"Gangguan dipasang untuk transaksi berikut", "Fault set for the next transaction"},
    [W_T_WRONG_PIN] = {"PIN pelatih salah", "Wrong trainer PIN"},
    [W_LESSON_KEYS] = {"? = petunjuk   F9 = pelatih", "? = hint   F9 = trainer"},
    [W_NOT_NOW] = {"Belum langkah itu. Ikuti petunjuk:", "Not that step yet. Follow the guide:"},
    [W_DONE] = {"Pelajaran selesai. Tekan Enter.", "Lesson complete. Press Enter."},
    [W_TOO_SMALL] = {"Layar terlalu kecil: perlu", "Screen too small: needs"},
    [W_TOO_SMALL_FIX] = {"Perbesar jendela.", "Enlarge the window."},
    [W_BAD_KEY] = {"Tombol tidak berlaku di layar ini", "That key does nothing here"},
    [W_PIN_MISMATCH] = {"PIN tidak sama. Ulangi.", "The PINs differ. Again."},
    [W_FAULT_CAUSE] = {"Ini gangguan dari pelatih, bukan kesalahan Anda.",
                       "This was the trainer's fault, not your mistake."},
    [W_FREE_MODE] = {"Latihan bebas: semua menu boleh dicoba.", "Free practice: try any menu."},
    [W_SCENE] = {"Situasi", "Scene"},
    [W_STEP] = {"Langkah", "Step"},
    [W_WRONG_CARD] = {"Itu bukan kartu penerima dalam pelajaran ini.",
                      "That is not the recipient's card in this lesson."},
    [W_WRONG_NIK] = {"NIK tidak sama dengan KTP penerima.", "The NIK does not match the KTP."},
    [W_WEAK_PIN] = {"PIN mudah ditebak. Pilih yang lain.",
                    "The PIN is easy to guess. Pick another."},
    [W_WRONG_PIN] = {"Pelajaran ini meminta PIN yang salah.", "This lesson asks for a wrong PIN."},
    [W_RIGHT_PIN] = {"Itu bukan PIN penerima.", "That is not the recipient's PIN."},
    [W_QUIT_HINT] = {"Esc = kembali", "Esc = back"},
    [W_REFUSED] = {"Barang ditolak", "Refused item"},
    [W_BAD_LESSONS] = {"Pelajaran yang tidak bisa dimuat:", "Lessons that could not be loaded:"},
};

enum scr {
    S_LESSONS,
    S_MENU,
    S_CARD,
    S_NIK,
    S_PIN,
    S_PIN_AGAIN,
    S_AMOUNT,
    S_ITEMS,
    S_NEW_PIN,
    S_BUSY,
    S_RESULT,
    S_SCORE,
    S_TRAINER_PIN,
    S_TRAINER,
    S_SESSION
};
static const char *const screen_names[] = {
    "lessons", "menu", "card",   "nik",   "pin",         "pin_again", "amount", "items",
    "new_pin", "busy", "result", "score", "trainer_pin", "trainer",   "session"};

enum fault { F_NONE, F_ISSUER_DOWN, F_LINK_DROP, F_WRONG_NIK, F_WEAK_PIN, F_BLOCKED, F_LOST };
static const char *const fault_names[] = {"none",     "issuer-down",  "link-timeout", "wrong-nik",
                                          "weak-pin", "card-blocked", "card-lost"};

static const char *const txn_types[] = {"activate", "balance",    "purchase",
                                        "withdraw", "pin_change", "statement"};
static const char *const txn_cmds[] = {"activate", "balance",    "purchase",
                                       "withdraw", "pin-change", "statement"};

typedef struct score {
    int correct, mistakes, hints;
    time_t start;
} score;

typedef struct app {
    int lang, atm;
    const char *id, *record, *trainer_pin;
    sc_world *world;
    const sc_node *families; /* the training world's */
    tl_lesson lessons[TL_LESSONS_MAX];
    size_t nlessons;
    char lesson_errs[2048];
    const tl_lesson *lesson; /* NULL: free practice */
    size_t step;             /* the lesson's current step */
    score sc;
    enum scr scr, back; /* back: where the trainer's screens return */
    int txn;            /* index into txn_types */
    char input[40];
    char pan[40], nik[40], pin[40], pin2[40], amount[40], items[64];
    enum fault fault;
    int fault_used; /* the last transaction met the trainer's fault */
    char msg[300];  /* feedback line (lesson) */
    char dev_msg[120];
    char rc[4];
    json_t *reply;
    char receipt[16][RCPT_W];
    int nreceipt;
    json_t *rec, *rec_events, *rec_txns, *rec_done; /* rec_done: lessons ended */
    time_t t0;
    int quit;
} app;

#define W(a, k) (words[k][(a)->lang])

static const char *noreply_text(const app *a);

/* ---- the record ---- */

static void rec_event(app *a, const char *what, const char *detail)
{
    json_array_append_new(a->rec_events,
                          json_pack("{s:I,s:s,s:s,s:s}", "t", (json_int_t)(time(NULL) - a->t0),
                                    "screen", screen_names[a->scr], what, detail ? detail : "",
                                    "lesson", a->lesson ? a->lesson->name : ""));
}

static int secret_screen(const app *a)
{
    return a->scr == S_PIN || a->scr == S_PIN_AGAIN || a->scr == S_NEW_PIN ||
           a->scr == S_TRAINER_PIN;
}

static void keyname_of(const app *a, int ch, char *out, size_t cap)
{
    if (ch >= '0' && ch <= '9')
        snprintf(out, cap, "%c", secret_screen(a) ? '*' : ch);
    else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
        snprintf(out, cap, "OK");
    else if (ch == 27)
        snprintf(out, cap, "BATAL");
    else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8)
        snprintf(out, cap, "HAPUS");
    else if (ch == KEY_F(9) || ch == 20)
        snprintf(out, cap, "TRAINER");
    else if (ch == KEY_RESIZE)
        snprintf(out, cap, "RESIZE");
    else if (ch > 32 && ch < 127)
        snprintf(out, cap, "%c", ch);
    else
        snprintf(out, cap, "key-%d", ch);
}

static void score_json(app *a, json_t **out)
{
    *out = json_pack("{s:s,s:i,s:i,s:i,s:I,s:b}", "lesson", a->lesson ? a->lesson->name : "free",
                     "correct", a->sc.correct, "mistakes", a->sc.mistakes, "hints", a->sc.hints,
                     "seconds", (json_int_t)(time(NULL) - a->sc.start), "complete",
                     a->lesson && a->step >= a->lesson->nsteps);
}

static void record_write(app *a)
{
    json_t *lessons, *cur;
    if (!a->record)
        return;
    lessons = json_deep_copy(a->rec_done);
    if (a->scr != S_LESSONS && a->scr != S_SESSION) {
        score_json(a, &cur);
        json_array_append_new(lessons, cur);
    }
    json_object_set_new(a->rec, "lessons", lessons);
    if (json_dump_file(a->rec, a->record, JSON_INDENT(1) | JSON_PRESERVE_ORDER) < 0)
        fprintf(stderr, "kks-terminal train: cannot write %s\n", a->record);
}

/* ---- lesson checks ---- */

static const tl_step *cur_step(const app *a)
{
    return a->lesson && a->step < a->lesson->nsteps ? &a->lesson->steps[a->step] : NULL;
}

static void feedback(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void feedback(app *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
}

/* The NIK of the lesson's family, from the training world's families. */
/* The documents the policy asks at event ev: the bank's desk in a lesson
 * always sees them (the lesson is about the terminal). "" when the policy
 * cannot be read, and the issuer then says what is missing. */
static const char *desk_docs(int ev, char out[KKS_DOCS_LIST_MAX])
{
    char err[300];
    if (kks_docs_required(NULL, ev, out, KKS_DOCS_LIST_MAX, err, sizeof err) < 0)
        out[0] = '\0';
    return out;
}

static const char *family_field(const app *a, const char *kk, const char *field)
{
    for (size_t i = 0; a->families && i < a->families->n; i++) {
        const sc_node *f = a->families->items[i], *k = sc_get(f, "kk"), *v = sc_get(f, field);
        if (k && v && strcmp(k->scalar, kk) == 0) return v->scalar;
    }
    return NULL;
}

/* The family's new card (a replacement, ISSUED) printed and handed over:
 * it waits for activation. Its PAN in pan (the family's card from then on). */
static void hand_over_new(app *a, const char *kk, char pan[40])
{
    char out[1200], docs[KKS_DOCS_LIST_MAX];
    const char *bank = family_field(a, kk, "bank"), *cur = sc_world_card(a->world, kk);
    snprintf(pan, 40, "%s", cur ? cur : "");
    snprintf(out, sizeof out, "%s/print-replacement-%s.csv", sc_world_dir(a->world), pan);
    const char *p[] = {"print", "--bank", bank ? bank : "BNI", "--out", out, NULL};
    json_decref(sc_world_ctl(a->world, p));
    const char *h[] = {"handover", "--pan", pan, "--site", "Kantor Cabang (latihan)",
                       "--docs", desk_docs(KKS_DOC_HANDOVER_REPLACEMENT, docs), NULL};
    json_decref(sc_world_ctl(a->world, h));
}

/* Bank steps come to pass by themselves: the bank blocks a lost card, or
 * issues and hands over its replacement (a new card, waiting for activation). */
static void bank_steps(app *a)
{
    const tl_step *st;
    while ((st = a->lesson && a->step < a->lesson->nsteps ? &a->lesson->steps[a->step] : NULL) &&
           st->kind == TL_BANK) {
        char pan[40];
        const char *cur = sc_world_card(a->world, a->lesson->family);
        snprintf(pan, sizeof pan, "%s", cur ? cur : "");
        char docs[KKS_DOCS_LIST_MAX];
        int ev = kks_docs_event(st->value);
        const char *args[] = {"card",
                              st->value,
                              pan,
                              "--police-report",
                              "LP/LATIHAN/2026",
                              "--site",
                              "Kantor Cabang (latihan)",
                              "--docs",
                              ev >= 0 ? desk_docs(ev, docs) : "",
                              NULL};
        json_t *r = sc_world_ctl(a->world, args);
        char rcb[4];
        const char *rcs = json_string_value(json_object_get(r, "rc"));
        snprintf(rcb, sizeof rcb, "%s", rcs ? rcs : "");
        const char *rc = rcb[0] ? rcb : NULL;
        rec_event(a, "bank", st->value);
        json_decref(r);
        if (strcmp(st->value, "replace") == 0 && sc_world_card(a->world, a->lesson->family) &&
            strcmp(sc_world_card(a->world, a->lesson->family), pan) != 0)
            hand_over_new(a, a->lesson->family, pan);
        feedback(a, "%s%s%s", tl_str(&st->guide, a->lang), rc && strcmp(rc, "00") ? " rc " : "",
                 rc && strcmp(rc, "00") ? rc : "");
        a->step++;
    }
}

/* The trainee did kind with value: 1 when it may go on. */
static int check(app *a, enum tl_kind kind, const char *value)
{
    const tl_step *st = cur_step(a);
    int ok = 1;
    const char *why = NULL;
    if (!st) return 1;
    if (st->kind != kind) {
        a->sc.mistakes++;
        feedback(a, "%s %s", W(a, W_NOT_NOW), tl_str(&st->guide, a->lang));
        rec_event(a, "mistake", "out of order");
        return 0;
    }
    switch (kind) {
    case TL_MENU:
        ok = strcmp(st->value, value) == 0;
        break;
    case TL_CARD:
        ok = sc_world_card(a->world, a->lesson->family) &&
             strcmp(sc_world_card(a->world, a->lesson->family), value) == 0;
        why = W(a, W_WRONG_CARD);
        break;
    case TL_NIK: {
        const char *nik = family_field(a, a->lesson->family, "nik");
        ok = nik && strcmp(nik, value) == 0;
        why = W(a, W_WRONG_NIK);
        break;
    }
    case TL_PIN:
        if (strcmp(st->value, "strong") == 0)
            ok = !tl_pin_trivial(value), why = W(a, W_WEAK_PIN);
        else if (strcmp(st->value, "wrong") == 0)
            ok = !a->lesson->pin || strcmp(a->lesson->pin, value) != 0, why = W(a, W_WRONG_PIN);
        else if (strcmp(st->value, "right") == 0)
            ok = a->lesson->pin && strcmp(a->lesson->pin, value) == 0, why = W(a, W_RIGHT_PIN);
        break;
    default:
        break;
    }
    if (!ok) {
        a->sc.mistakes++;
        feedback(a, "%s",
                 st->wrong.t[0] ? tl_str(&st->wrong, a->lang)
                 : why          ? why
                                : tl_str(&st->guide, a->lang));
        rec_event(a, "mistake", value && secret_screen(a) ? "*" : value);
        return 0;
    }
    if (st->fault) /* the lesson's own fault, for the transaction this step starts */
        a->fault = strcmp(st->fault, "issuer-down") == 0 ? F_ISSUER_DOWN : F_LINK_DROP;
    a->sc.correct++;
    a->step++;
    a->msg[0] = '\0';
    bank_steps(a);
    return 1;
}

/* ---- drawing ---- */

static void put(int y, int x, int maxw, const char *s)
{
    if (maxw <= 0) return;
    mvaddnstr(y, x, s, maxw);
}

/* Word-wrapped text in a box of width w from row y; returns the rows used. */
static int wrap(int y, int x, int w, int maxrows, const char *s)
{
    int rows = 0;
    while (s && *s && rows < maxrows) {
        int n = (int)strlen(s);
        if (n > w) {
            n = w;
            while (n > 0 && s[n] != ' ')
                n--;
            if (n == 0) n = w;
        }
        mvaddnstr(y + rows, x, s, n);
        s += n;
        while (*s == ' ')
            s++;
        rows++;
    }
    return rows;
}

static void box_at(int y, int x, int h, int w, const char *title)
{
    mvhline(y, x + 1, ACS_HLINE, w - 2);
    mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
    mvvline(y + 1, x, ACS_VLINE, h - 2);
    mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
    mvaddch(y, x, ACS_ULCORNER);
    mvaddch(y, x + w - 1, ACS_URCORNER);
    mvaddch(y + h - 1, x, ACS_LLCORNER);
    mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
    if (title) {
        attron(A_BOLD);
        mvprintw(y, x + 2, " %s ", title);
        attroff(A_BOLD);
    }
}

static void masked(char *out, size_t cap, const char *in)
{
    size_t n = strlen(in);
    if (n + 1 > cap) n = cap - 1;
    memset(out, '*', n);
    out[n] = '\0';
}

static void draw_device(app *a, int y, int x)
{
    int w = DEV_W, cx = x + 2, cw = DEV_W - 4, r = y + 3;
    char buf[64];
    box_at(y, x, DEV_H, w, W(a, a->atm ? W_DEVICE_ATM : W_DEVICE_EW));
    attron(A_REVERSE);
    mvprintw(y + 1, x + w - 2 - (int)strlen(W(a, W_WATERMARK)) - 2, " %s ", W(a, W_WATERMARK));
    attroff(A_REVERSE);
    switch (a->scr) {
    case S_LESSONS:
        attron(A_BOLD);
        put(r++, cx, cw, W(a, W_LESSONS));
        attroff(A_BOLD);
        r++;
        for (size_t i = 0; i < a->nlessons && r < y + DEV_H - 4; i++) {
            snprintf(buf, sizeof buf, "%zu  %s", i + 1, tl_str(&a->lessons[i].title, a->lang));
            put(r++, cx, cw, buf);
        }
        put(r++, cx, cw, W(a, W_FREE));
        put(y + DEV_H - 3, cx, cw, W(a, W_CHOOSE_LESSON));
        break;
    case S_MENU:
        attron(A_BOLD);
        put(r++, cx, cw, W(a, W_MENU));
        attroff(A_BOLD);
        r++;
        if (a->atm) { /* side buttons: three on each side of the screen */
            for (int i = 0; i < 3; i++) {
                mvaddstr(r + 2 * i, x - 1, "=");
                put(r + 2 * i, cx, cw / 2, W(a, W_M1 + i));
                mvaddstr(r + 2 * i, x + w, "=");
                const char *t = W(a, W_M4 + i);
                int tl = (int)strlen(t) < cw / 2 ? (int)strlen(t) : cw / 2;
                put(r + 2 * i, cx + cw - tl, tl, t);
            }
        } else
            for (int i = 0; i < 6; i++)
                put(r++, cx + 2, cw - 2, W(a, W_M1 + i));
        break;
    case S_CARD:
    case S_NIK:
    case S_PIN:
    case S_PIN_AGAIN:
    case S_NEW_PIN:
    case S_AMOUNT:
    case S_ITEMS:
    case S_TRAINER_PIN: {
        int k = a->scr == S_CARD          ? W_INSERT
                : a->scr == S_NIK         ? W_NIK
                : a->scr == S_AMOUNT      ? W_AMOUNT
                : a->scr == S_ITEMS       ? W_ITEMS
                : a->scr == S_TRAINER_PIN ? W_TRAINER_PIN
                : a->scr == S_NEW_PIN     ? W_PIN_NEW
                : a->scr == S_PIN_AGAIN   ? W_PIN_AGAIN
                : a->txn == 0             ? W_PIN_NEW
                : a->txn == 4             ? W_PIN_OLD
                                          : W_PIN;
        attron(A_BOLD);
        put(r++, cx, cw, W(a, W_M1 + a->txn) + 2);
        attroff(A_BOLD);
        r++;
        put(r++, cx, cw, W(a, k));
        if (a->scr == S_CARD) r += wrap(r, cx, cw, 2, W(a, W_INSERT_HELP));
        if (a->scr == S_ITEMS) r += wrap(r, cx, cw, 2, W(a, W_ITEMS_HELP));
        if (a->scr == S_AMOUNT) put(r++, cx, cw, W(a, W_AMOUNT_NOTE));
        r++;
        if (secret_screen(a))
            masked(buf, sizeof buf, a->input);
        else
            snprintf(buf, sizeof buf, "%s", a->input);
        mvaddstr(r, cx, "> ");
        attron(A_BOLD);
        put(r, cx + 2, cw - 2, buf);
        attroff(A_BOLD);
        break;
    }
    case S_BUSY:
        put(r + 4, cx, cw, W(a, W_BUSY));
        break;
    case S_RESULT: {
        attron(A_BOLD);
        put(r++, cx, cw, W(a, W_M1 + a->txn) + 2);
        r++;
        put(r++, cx, cw,
            a->rc[0] == '\0'           ? W(a, W_NO_REPLY)
            : strcmp(a->rc, "00") == 0 ? W(a, W_APPROVED)
                                       : W(a, W_DECLINED));
        attroff(A_BOLD);
        if (a->rc[0]) {
            snprintf(buf, sizeof buf, "%s %s", W(a, W_RC), a->rc);
            put(r++, cx, cw, buf);
            r += wrap(r, cx, cw, 3, receipt_rc_text(a->rc, (enum term_lang)a->lang));
            const char *sku = json_string_value(json_object_get(a->reply, "refused_sku"));
            if (sku) {
                snprintf(buf, sizeof buf, "%s: %.20s", W(a, W_REFUSED), sku);
                put(r++, cx, cw, buf);
            }
        } else
            r += wrap(r, cx, cw, 6, noreply_text(a));
        put(y + DEV_H - 3, cx, cw, W(a, W_CONTINUE));
        break;
    }
    case S_SCORE: {
        attron(A_BOLD);
        put(r++, cx, cw, W(a, W_SCORE));
        attroff(A_BOLD);
        put(r++, cx, cw, a->lesson ? tl_str(&a->lesson->title, a->lang) : W(a, W_FREE) + 3);
        r++;
        long secs = (long)(time(NULL) - a->sc.start);
        snprintf(buf, sizeof buf, "%-18s %d", W(a, W_CORRECT), a->sc.correct);
        put(r++, cx, cw, buf);
        snprintf(buf, sizeof buf, "%-18s %d", W(a, W_MISTAKES), a->sc.mistakes);
        put(r++, cx, cw, buf);
        snprintf(buf, sizeof buf, "%-18s %d", W(a, W_HINTS), a->sc.hints);
        put(r++, cx, cw, buf);
        snprintf(buf, sizeof buf, "%-18s %02ld:%02ld", W(a, W_TIME), secs / 60, secs % 60);
        put(r++, cx, cw, buf);
        put(y + DEV_H - 3, cx, cw, W(a, W_SCORE_BACK));
        break;
    }
    case S_SESSION: {
        size_t i;
        json_t *l;
        int tc = 0, tm = 0, th = 0;
        attron(A_BOLD);
        put(r++, cx, cw, W(a, W_SESSION));
        attroff(A_BOLD);
        r++;
        put(r++, cx, cw, W(a, W_SESSION_COLS));
        json_array_foreach(a->rec_done, i, l)
        {
            int c = (int)json_integer_value(json_object_get(l, "correct"));
            int m = (int)json_integer_value(json_object_get(l, "mistakes"));
            int h = (int)json_integer_value(json_object_get(l, "hints"));
            tc += c, tm += m, th += h;
            if (r < y + DEV_H - 6) {
                snprintf(buf, sizeof buf, "%-16.16s %s %2d/%d/%d",
                         json_string_value(json_object_get(l, "lesson")),
                         json_is_true(json_object_get(l, "complete")) ? "ok" : "--", c, m, h);
                put(r++, cx, cw, buf);
            }
        }
        r++;
        snprintf(buf, sizeof buf, "%s %d, %s %d, %s %d", W(a, W_CORRECT), tc, W(a, W_MISTAKES), tm,
                 W(a, W_HINTS), th);
        r += wrap(r, cx, cw, 2, buf);
        put(y + DEV_H - 3, cx, cw, W(a, W_SESSION_BACK));
        break;
    }
    case S_TRAINER:
        attron(A_BOLD);
        r += wrap(r, cx, cw, 2, W(a, W_TRAINER));
        attroff(A_BOLD);
        r++;
        put(r++, cx, cw, W(a, W_T1));
        put(r++, cx, cw, W(a, W_T2));
        put(r++, cx, cw, W(a, W_T3));
        put(r++, cx, cw, W(a, W_T4));
        put(r++, cx, cw, W(a, W_T5));
        put(r++, cx, cw, W(a, W_T6));
        put(r++, cx, cw, W(a, W_T0));
        break;
    }
    if (a->dev_msg[0]) wrap(y + DEV_H - 5, cx, cw, 2, a->dev_msg);
    if (a->scr != S_LESSONS && a->scr != S_SCORE && a->scr != S_RESULT && a->scr != S_SESSION)
        put(y + DEV_H - 2, cx, cw, W(a, W_OK_CANCEL));
}

static void draw_receipt(app *a, int y, int x)
{
    box_at(y, x, DEV_H, RCPT_W, W(a, W_RECEIPT));
    if (!a->nreceipt) {
        put(y + 2, x + 2, RCPT_W - 4, W(a, W_NO_RECEIPT));
        return;
    }
    for (int i = 0; i < a->nreceipt && i < DEV_H - 4; i++)
        put(y + 2 + i, x + 2, RCPT_W - 4, a->receipt[i]);
    put(y + DEV_H - 2, x + 2, RCPT_W - 4, "*** LATIHAN ***");
}

static void draw_lesson(app *a, int y, int x, int w, int h)
{
    char buf[160];
    const tl_step *st = cur_step(a);
    long secs = (long)(time(NULL) - a->sc.start);
    int r = y;
    if (a->lesson) {
        snprintf(buf, sizeof buf, "%s %d  %s %d  %s %d  %s %02ld:%02ld", W(a, W_CORRECT),
                 a->sc.correct, W(a, W_MISTAKES), a->sc.mistakes, W(a, W_HINTS), a->sc.hints,
                 W(a, W_TIME), secs / 60, secs % 60);
        int sl = (int)strlen(buf);
        put(r, x + w - sl, sl, buf);
        attron(A_BOLD);
        put(r++, x, w - sl - 2, tl_str(&a->lesson->title, a->lang));
        attroff(A_BOLD);
        r += wrap(r, x, w, 2, tl_str(&a->lesson->scene, a->lang));
        if (st) {
            snprintf(buf, sizeof buf, "%s %zu/%zu: ", W(a, W_STEP), a->step + 1, a->lesson->nsteps);
            attron(A_BOLD);
            put(r, x, w, buf);
            attroff(A_BOLD);
            r +=
                wrap(r, x + (int)strlen(buf), w - (int)strlen(buf), 2, tl_str(&st->guide, a->lang));
        } else if (a->scr != S_SCORE)
            put(r++, x, w, W(a, W_DONE));
    } else if (a->scr != S_LESSONS && a->scr != S_SESSION)
        put(r++, x, w, W(a, W_FREE_MODE));
    else if (a->lesson_errs[0]) { /* each bad file: name, line, column, reason */
        const char *p = a->lesson_errs;
        attron(A_BOLD);
        put(r++, x, w, W(a, W_BAD_LESSONS));
        attroff(A_BOLD);
        while (*p && r < y + h - 2) {
            const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p), *base = p;
            for (const char *q = p; q < end && *q != ':'; q++)
                if (*q == '/') base = q + 1;
            char line[300];
            snprintf(line, sizeof line, "%.*s", (int)(end - base), base);
            r += wrap(r, x, w, 2, line);
            p = nl ? nl + 1 : end;
        }
    }
    if (a->msg[0] && r < y + h - 1) {
        attron(A_BOLD);
        r += wrap(r, x, w, y + h - 1 - r, a->msg);
        attroff(A_BOLD);
    }
    put(y + h - 1, x, w, W(a, W_LESSON_KEYS));
}

static void draw(app *a)
{
    int H, Wd;
    getmaxyx(stdscr, H, Wd);
    erase();
    if (H < MIN_H || Wd < MIN_W) {
        char buf[200];
        snprintf(buf, sizeof buf, "%s %dx%d (%dx%d). %s", W(a, W_TOO_SMALL), MIN_W, MIN_H, Wd, H,
                 W(a, W_TOO_SMALL_FIX));
        wrap(0, 0, Wd > 1 ? Wd - 1 : 1, H, buf);
        refresh();
        return;
    }
    attron(A_REVERSE);
    mvhline(0, 0, ' ', Wd);
    put(0, 1, Wd - 2, W(a, W_BANNER));
    put(0, Wd - 12, 11, "[ LATIHAN ]");
    attroff(A_REVERSE);
    draw_device(a, 1, 2);
    draw_receipt(a, 1, 2 + DEV_W + 2);
    mvhline(DEV_H + 1, 0, ACS_HLINE, Wd);
    draw_lesson(a, DEV_H + 2, 1, Wd - 2, H - DEV_H - 2);
    refresh();
}

/* ---- transactions ---- */

/* What a transaction with no reply means, from its automatic reversal. */
static const char *noreply_text(const app *a)
{
    const char *st =
        json_string_value(json_object_get(json_object_get(a->reply, "reversal"), "status"));
    if (!st) return W(a, W_NO_REPLY_WHY);
    return strcmp(st, "acknowledged") == 0 ? W(a, W_REV_DONE) : W(a, W_REV_PENDING);
}

static void receipt_line(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void receipt_line(app *a, const char *fmt, ...)
{
    va_list ap;
    if (a->nreceipt >= 16) return;
    va_start(ap, fmt);
    vsnprintf(a->receipt[a->nreceipt++], RCPT_W, fmt, ap);
    va_end(ap);
}

static void make_receipt(app *a)
{
    char m[24], v[32];
    json_t *b = json_object_get(a->reply, "balances");
    a->nreceipt = 0;
    receipt_line(a, "%s", receipt_title(txn_types[a->txn], (enum term_lang)a->lang));
    receipt_line(a, "TERMINAL %s", a->id);
    receipt_line(a, "STAN %06lld",
                 (long long)json_integer_value(json_object_get(a->reply, "stan")));
    snprintf(m, sizeof m, "%s",
             json_string_value(json_object_get(a->reply, "pan"))
                 ? json_string_value(json_object_get(a->reply, "pan"))
                 : "-");
    receipt_line(a, "%s", m);
    if (!a->rc[0]) {
        receipt_line(a, "%s", W(a, W_NO_REPLY));
        return;
    }
    receipt_line(a, "%s: %s", W(a, W_RC), a->rc);
    receipt_line(a, "%s", strcmp(a->rc, "00") == 0 ? W(a, W_APPROVED) : W(a, W_DECLINED));
    const char *t = receipt_rc_text(a->rc, (enum term_lang)a->lang);
    while (*t && a->nreceipt < 12) { /* wrapped at spaces */
        int n = (int)strlen(t), w = RCPT_W - 5;
        if (n > w) {
            n = w;
            while (n > 0 && t[n] != ' ')
                n--;
            if (n == 0) n = w;
        }
        receipt_line(a, "%.*s", n, t);
        t += n;
        while (*t == ' ')
            t++;
    }
    const char *sku = json_string_value(json_object_get(a->reply, "refused_sku"));
    if (sku) receipt_line(a, "%s: %.18s", W(a, W_REFUSED), sku);
    if (json_is_object(b)) {
        receipt_rupiah(json_integer_value(json_object_get(b, "pkh")), (enum term_lang)a->lang, v,
                       sizeof v);
        receipt_line(a, "%-12s %s", W(a, W_BAL_PKH), v);
        receipt_rupiah(json_integer_value(json_object_get(b, "bpnt")), (enum term_lang)a->lang, v,
                       sizeof v);
        receipt_line(a, "%-12s %s", W(a, W_BAL_BPNT), v);
    }
}

/* The transaction did not answer as the lesson expects: the trainee does it
 * again from its menu step, whose steps no longer count as done. */
static void rewind_lesson(app *a)
{
    size_t m = a->step;
    while (m > 0 && a->lesson->steps[m].kind != TL_MENU)
        m--;
    a->sc.correct -= (int)(a->step - m);
    if (a->sc.correct < 0) a->sc.correct = 0;
    a->step = m;
}

static void send_txn(app *a)
{
    const char *args[24];
    int n = 0;
    const char *id = a->id;
    args[n++] = txn_cmds[a->txn];
    args[n++] = "--lang", args[n++] = a->lang ? "en" : "id";
    args[n++] = "--pan", args[n++] = a->pan;
    args[n++] = "--pin", args[n++] = a->pin;
    if (a->txn == 0)
        args[n++] = "--nik", args[n++] = a->nik, args[n++] = "--pin-again", args[n++] = a->pin2;
    if (a->txn == 3) args[n++] = "--amount", args[n++] = a->amount;
    if (a->txn == 2) args[n++] = "--items", args[n++] = a->items;
    if (a->txn == 4) args[n++] = "--new-pin", args[n++] = a->pin2;
    args[n] = NULL;
    a->scr = S_BUSY;
    draw(a);
    a->fault_used = a->fault != F_NONE;
    if (a->fault == F_ISSUER_DOWN)
        sc_world_fault(a->world, "issuer-down");
    else if (a->fault == F_LINK_DROP) /* the reply is lost; the reversal gets through */
        sc_world_reply_lost(a->world, TXN_TIMEOUT_MS);
    else if (a->fault == F_WRONG_NIK && a->txn == 0) /* one digit of the NIK mistyped */
        a->nik[15] = a->nik[15] == '9' ? '0' : (char)(a->nik[15] + 1);
    else if (a->fault == F_WEAK_PIN && (a->txn == 0 || a->txn == 4)) {
        snprintf(a->txn == 0 ? a->pin : a->pin2, sizeof a->pin, "123456");
        if (a->txn == 0) snprintf(a->pin2, sizeof a->pin2, "123456");
    } else if (a->fault == F_BLOCKED) { /* three wrong PINs from somewhere else */
        for (int i = 0; i < 3; i++) {
            const char *b[] = {"balance", "--pan", a->pan, "--pin", i ? "000000" : "000001", NULL};
            json_decref(sc_world_terminal(a->world, a->id, b, TXN_TIMEOUT_MS, REVERSAL_MS));
        }
    } else if (a->fault == F_LOST) {
        const char *l[] = {"card", "lost", a->pan, "--police-report", "LP/LATIHAN/2026", NULL};
        json_decref(sc_world_ctl(a->world, l));
    }
    json_decref(a->reply);
    a->reply = sc_world_terminal(a->world, id, args, TXN_TIMEOUT_MS, REVERSAL_MS);
    if (a->fault == F_ISSUER_DOWN) sc_world_fault(a->world, "issuer-up");
    if (a->fault != F_NONE) rec_event(a, "fault-met", fault_names[a->fault]);
    a->fault = F_NONE;
    memset(a->pin, 0, sizeof a->pin);
    memset(a->pin2, 0, sizeof a->pin2);
    const char *rc = json_string_value(json_object_get(a->reply, "rc"));
    snprintf(a->rc, sizeof a->rc, "%s", rc && strlen(rc) == 2 ? rc : "");
    json_array_append_new(
        a->rec_txns,
        json_pack("{s:s,s:s,s:s,s:I,s:s,s:s}", "type", txn_types[a->txn], "lesson",
                  a->lesson ? a->lesson->name : "free", "rc", a->rc[0] ? a->rc : "none", "exit",
                  (json_int_t)json_integer_value(json_object_get(a->reply, "exit")), "fault",
                  a->fault_used ? "yes" : "no", "reason",
                  json_string_value(json_object_get(a->reply, "reason"))
                      ? json_string_value(json_object_get(a->reply, "reason"))
                  : json_string_value(json_object_get(a->reply, "stderr"))
                      ? json_string_value(json_object_get(a->reply, "stderr"))
                      : ""));
    make_receipt(a);
    a->scr = S_RESULT;
    /* the lesson reads the response code */
    const tl_step *st = cur_step(a);
    const tl_text *ex = a->lesson ? tl_explain(a->lesson, a->rc) : NULL;
    const char *plain =
        a->rc[0] ? receipt_rc_text(a->rc, (enum term_lang)a->lang) : noreply_text(a);
    int as_expected = st && st->kind == TL_RC &&
                      (strcmp(st->value, a->rc) == 0 || (!a->rc[0] && !strcmp(st->value, "none")));
    if (as_expected) {
        a->sc.correct++;
        a->step++;
        feedback(a, "%s %s %s", a->rc[0] ? a->rc : "--", plain, ex ? tl_str(ex, a->lang) : "");
        if (cur_step(a) && cur_step(a)->kind == TL_BANK) { /* say both */
            char said[sizeof a->msg];
            snprintf(said, sizeof said, "%s", a->msg);
            bank_steps(a);
            char both[sizeof a->msg];
            snprintf(both, sizeof both, "%.150s %.140s", said, a->msg);
            snprintf(a->msg, sizeof a->msg, "%s", both);
        }
    } else if (st && st->kind == TL_RC) {
        if (a->fault_used)
            feedback(a, "%s %s %s", a->rc[0] ? a->rc : "--", plain, W(a, W_FAULT_CAUSE));
        else {
            a->sc.mistakes++;
            feedback(a, "%s %s %s", a->rc[0] ? a->rc : "--", plain, ex ? tl_str(ex, a->lang) : "");
        }
        rewind_lesson(a);
    } else
        feedback(a, "%s %s%s%s", a->rc[0] ? a->rc : "--", plain, ex ? " " : "",
                 ex ? tl_str(ex, a->lang) : "");
}

/* ---- keys ---- */

static void go(app *a, enum scr s)
{
    a->scr = s;
    a->input[0] = '\0';
    a->dev_msg[0] = '\0';
}


static char *card_state(app *a, const char *pan, char *out, size_t cap)
{
    const char *args[] = {"card", "show", pan, NULL};
    json_t *r = sc_world_ctl(a->world, args);
    const char *st = json_string_value(json_object_get(json_object_get(r, "card"), "state"));
    snprintf(out, cap, "%s", st ? st : "");
    json_decref(r);
    return out;
}

static int terminal_rc(app *a, const char *const *args)
{
    json_t *r = sc_world_terminal(a->world, a->id, args, TXN_TIMEOUT_MS, REVERSAL_MS);
    const char *rc = json_string_value(json_object_get(r, "rc"));
    int ok = rc && strcmp(rc, "00") == 0;
    json_decref(r);
    return ok;
}

/* The bank gives the family a new card, handed over and waiting for
 * activation: the old one is reported lost (if it still lives) and replaced.
 * The new card's PAN is the family's card from then on. */
static int renew_card(app *a, const char *kk)
{
    char pan[40], st[24], docs[KKS_DOCS_LIST_MAX];
    const char *cur = sc_world_card(a->world, kk);
    snprintf(pan, sizeof pan, "%s", cur ? cur : "");
    card_state(a, pan, st, sizeof st);
    if (strcmp(st, "LOST") != 0 && strcmp(st, "STOLEN") != 0) {
        const char *l[] = {"card", "lost", pan, "--police-report", "LP/LATIHAN/ULANG", NULL};
        json_decref(sc_world_ctl(a->world, l));
    }
    const char *r[] = {"card",   "replace", pan, "--site", "Kantor Cabang (latihan)",
                       "--docs", desk_docs(KKS_DOC_REPLACE, docs), NULL};
    json_decref(sc_world_ctl(a->world, r));
    cur = sc_world_card(a->world, kk);
    if (!cur || strcmp(cur, pan) == 0) return -1;
    hand_over_new(a, kk, pan);
    return strcmp(card_state(a, pan, st, sizeof st), "DISTRIBUTED") == 0 ? 0 : -1;
}

/* Every lesson starts with the family's card in the state it needs, however
 * earlier lessons left it: waiting for activation (a lesson without a PIN),
 * or active with the lesson's PIN and no wrong tries. 0, or -1 when the bank
 * could not make it so. */
static int prepare_card(app *a, const tl_lesson *l)
{
    char st[24];
    const char *kk = l->family, *pan = sc_world_card(a->world, kk);
    if (!pan) return -1;
    card_state(a, pan, st, sizeof st);
    if (l->card_new)
        return strcmp(st, "DISTRIBUTED") == 0 ? 0 : renew_card(a, kk);
    if (strcmp(st, "BLOCKED") == 0) {
        const char *u[] = {"card", "unblock", pan, "--site", "Kantor Cabang (latihan)", NULL};
        json_decref(sc_world_ctl(a->world, u));
        card_state(a, pan, st, sizeof st);
    }
    if (strcmp(st, "ACTIVE") == 0) { /* the right PIN clears wrong tries left over */
        const char *b[] = {"balance", "--pan", pan, "--pin", l->pin, NULL};
        if (terminal_rc(a, b)) return 0;
    }
    if (renew_card(a, kk) < 0) return -1;
    const char *nik = family_field(a, kk, "nik");
    const char *act[] = {"activate", "--pan", sc_world_card(a->world, kk), "--nik", nik ? nik : "",
                         "--pin", l->pin, "--pin-again", l->pin, NULL};
    return terminal_rc(a, act) ? 0 : -1;
}

static void start_lesson(app *a, const tl_lesson *l)
{
    if (l && l->family && prepare_card(a, l) < 0)
        rec_event(a, "card-not-ready", l->family);
    a->lesson = l;
    a->step = 0;
    memset(&a->sc, 0, sizeof a->sc);
    a->sc.start = time(NULL);
    a->msg[0] = '\0';
    a->nreceipt = 0;
    rec_event(a, "lesson-start", l ? l->name : "free");
    go(a, S_MENU);
    bank_steps(a);
}

static void end_lesson(app *a)
{
    json_t *s;
    score_json(a, &s);
    json_array_append_new(a->rec_done, s);
    rec_event(a, "lesson-end", a->lesson ? a->lesson->name : "free");
    a->lesson = NULL;
    memset(&a->sc, 0, sizeof a->sc);
    a->msg[0] = '\0';
    go(a, S_LESSONS);
}

/* Enter on an input screen. */
static void enter(app *a)
{
    char *in = a->input;
    size_t n = strlen(in);
    switch (a->scr) {
    case S_CARD:
        if (strcmp(in, "*") == 0 && a->lesson && a->lesson->family &&
            sc_world_card(a->world, a->lesson->family))
            snprintf(in, sizeof a->input, "%s", sc_world_card(a->world, a->lesson->family));
        else if (strcmp(in, "*") == 0) {
            /* free practice: the card of the first lesson with an active one */
            const char *p = NULL;
            for (size_t i = 0; !p && i < a->nlessons; i++)
                if (a->lessons[i].family && !a->lessons[i].card_new)
                    p = sc_world_card(a->world, a->lessons[i].family);
            snprintf(in, sizeof a->input, "%s", p ? p : "");
        }
        n = strlen(in);
        if (n < 12 || n > 19 || strspn(in, "0123456789") != n) {
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_INSERT_HELP));
            a->input[0] = '\0';
            return;
        }
        if (!check(a, TL_CARD, in)) {
            a->input[0] = '\0';
            return;
        }
        snprintf(a->pan, sizeof a->pan, "%s", in);
        go(a, a->txn == 0 ? S_NIK : S_PIN);
        return;
    case S_NIK:
        if (n != 16 || strspn(in, "0123456789") != n) {
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_NIK));
            a->input[0] = '\0';
            return;
        }
        if (!check(a, TL_NIK, in)) {
            a->input[0] = '\0';
            return;
        }
        snprintf(a->nik, sizeof a->nik, "%s", in);
        go(a, S_PIN);
        return;
    case S_PIN:
        if (n < 4 || n > 12) {
            a->input[0] = '\0';
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_PIN));
            return;
        }
        if (!check(a, TL_PIN, in)) {
            memset(a->input, 0, sizeof a->input);
            return;
        }
        snprintf(a->pin, sizeof a->pin, "%s", in);
        memset(a->input, 0, sizeof a->input);
        if (a->txn == 0)
            go(a, S_PIN_AGAIN);
        else if (a->txn == 4)
            go(a, S_NEW_PIN);
        else if (a->txn == 3)
            go(a, S_AMOUNT);
        else if (a->txn == 2)
            go(a, S_ITEMS);
        else
            send_txn(a);
        return;
    case S_PIN_AGAIN:
    case S_NEW_PIN:
        if (a->scr == S_PIN_AGAIN && strcmp(in, a->pin) != 0) {
            memset(a->input, 0, sizeof a->input);
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_PIN_MISMATCH));
            return;
        }
        if (a->scr == S_PIN_AGAIN && !check(a, TL_PIN_AGAIN, "same")) {
            memset(a->input, 0, sizeof a->input);
            return;
        }
        snprintf(a->pin2, sizeof a->pin2, "%s", in);
        memset(a->input, 0, sizeof a->input);
        send_txn(a);
        return;
    case S_AMOUNT:
        if (n == 0 || n > 12) {
            a->input[0] = '\0';
            return;
        }
        snprintf(a->amount, sizeof a->amount, "%s", in);
        send_txn(a);
        return;
    case S_ITEMS: {
        static const char *const skus[] = {"BRS-MED-5KG", "TLR-1KG", "MYK-1L"};
        size_t used = 0;
        a->items[0] = '\0';
        for (size_t i = 0; i < n; i++) {
            if (in[i] < '1' || in[i] > '3') continue;
            int w = snprintf(a->items + used, sizeof a->items - used, "%s%s:1", used ? "," : "",
                             skus[in[i] - '1']);
            if (w < 0 || (size_t)w >= sizeof a->items - used) break;
            used += (size_t)w;
        }
        if (!used) {
            a->input[0] = '\0';
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_ITEMS_HELP));
            return;
        }
        send_txn(a);
        return;
    }
    case S_TRAINER_PIN:
        if (strcmp(in, a->trainer_pin) == 0)
            go(a, S_TRAINER);
        else {
            go(a, a->back);
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_T_WRONG_PIN));
        }
        memset(a->input, 0, sizeof a->input);
        return;
    default:
        return;
    }
}

static void key(app *a, int ch)
{
    char kn[24];
    keyname_of(a, ch, kn, sizeof kn);
    if (ch != KEY_RESIZE && ch != ERR) rec_event(a, "key", kn);
    if (ch == KEY_RESIZE || ch == ERR) return;
    if ((ch == KEY_F(9) || ch == 20) && a->scr != S_TRAINER_PIN && a->scr != S_TRAINER) {
        a->back = a->scr;
        go(a, S_TRAINER_PIN);
        return;
    }
    if (ch == '?' && cur_step(a)) {
        const tl_step *st = cur_step(a);
        a->sc.hints++;
        feedback(a, "%s", st->hint.t[0] ? tl_str(&st->hint, a->lang) : tl_str(&st->guide, a->lang));
        rec_event(a, "hint", "");
        return;
    }
    int enter_key = ch == '\n' || ch == '\r' || ch == KEY_ENTER;
    int esc = ch == 27;
    int bksp = ch == KEY_BACKSPACE || ch == 127 || ch == 8;
    switch (a->scr) {
    case S_LESSONS:
        if ((esc || ch == 'q') && json_array_size(a->rec_done))
            go(a, S_SESSION); /* the session's debrief before leaving */
        else if (esc || ch == 'q')
            a->quit = 1;
        else if (ch == '0')
            start_lesson(a, NULL);
        else if (ch >= '1' && ch <= '9' && (size_t)(ch - '1') < a->nlessons)
            start_lesson(a, &a->lessons[ch - '1']);
        else
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_BAD_KEY));
        return;
    case S_MENU:
        if (ch >= '1' && ch <= '6') {
            a->txn = ch - '1';
            if (!check(a, TL_MENU, txn_types[a->txn])) return;
            go(a, S_CARD);
        } else if (esc)
            end_lesson(a);
        else
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_BAD_KEY));
        return;
    case S_RESULT:
        if (enter_key || esc) {
            if (a->lesson && a->step >= a->lesson->nsteps)
                go(a, S_SCORE);
            else
                go(a, S_MENU);
        }
        return;
    case S_SCORE:
        if (enter_key || esc) end_lesson(a);
        return;
    case S_SESSION:
        if (esc || ch == 'q')
            a->quit = 1;
        else if (enter_key)
            go(a, S_LESSONS);
        return;
    case S_TRAINER:
        if (ch >= '0' && ch <= '6') {
            a->fault = (enum fault)(ch - '0');
            rec_event(a, "fault-set", fault_names[a->fault]);
            /* said on the trainer's screen only: back on the device, the
             * trainee sees nothing of what is coming */
            static const int item[] = {W_T0, W_T1, W_T2, W_T3, W_T4, W_T5, W_T6};
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s: %s", W(a, W_T_SET),
                     W(a, item[ch - '0']) + 2);
        } else if (esc || enter_key)
            go(a, a->back);
        return;
    case S_BUSY:
        return;
    default: /* input screens */
        if (esc) {
            memset(a->input, 0, sizeof a->input);
            go(a, a->scr == S_TRAINER_PIN ? a->back : S_MENU);
        } else if (bksp) {
            size_t n = strlen(a->input);
            if (n) a->input[n - 1] = '\0';
        } else if (enter_key)
            enter(a);
        else if ((ch >= '0' && ch <= '9') || (ch == '*' && a->scr == S_CARD)) {
            size_t n = strlen(a->input);
            size_t max = a->scr == S_CARD     ? 19
                         : a->scr == S_NIK    ? 16
                         : a->scr == S_AMOUNT ? 12
                                              : 12;
            if (n < max) {
                a->input[n] = (char)ch;
                a->input[n + 1] = '\0';
            }
            a->dev_msg[0] = '\0';
        } else
            snprintf(a->dev_msg, sizeof a->dev_msg, "%s", W(a, W_BAD_KEY));
        return;
    }
}

/* ---- the command line ---- */

static int usage(FILE *f, int rc)
{
    fprintf(f, "usage: kks-terminal --id ID train [--kind ewarong|atm] [--lang id|en]\n"
               "         [--lesson NAME] [--record FILE] [--lessons DIR] [--trainer-pin PIN]\n"
               "         [--switch HOST:PORT --issuer HOST:PORT --pki DIR] [--seeds DIR]\n"
               "  The device follows the terminal ID: ATM-... is a Himbara ATM, EW-... an\n"
               "  e-warong EDC; --kind, when given, must agree with it.\n"
               "  --seeds DIR: lessons (unless --lessons DIR) and training/world.yaml, and the\n"
               "  world's daemons (default $KKS_SEEDS, else the installed share/kks/seeds,\n"
               "  else the source tree's). --version: the version and the seeds in use.\n");
    return rc;
}

/* A closed window (SIGHUP), Ctrl-C or kill: leave the loop, so that the world
 * is stopped and its directory removed as on Esc. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

int train_cli(int argc, char **argv)
{
    app *a = calloc(1, sizeof *a);
    const char *sw = NULL, *issuer = NULL, *pki = NULL, *want = NULL, *kind = NULL;
    const char *seeds = kks_seeds_default(NULL), *lessons = NULL;
    char lessons_dir[1024], world_file[1024];
    int rc = 0;
    if (!a) return TERM_EXIT_INTERNAL;
    a->trainer_pin = TRAINER_PIN_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "train") == 0) continue;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            free(a);
            return usage(stdout, 0);
        }
        if (strcmp(o, "--version") == 0) {
            free(a);
            return kks_version_print(stdout, "kks-terminal");
        }
        if (!v || o[0] != '-') {
            fprintf(stderr, "kks-terminal train: unexpected %s\n", o);
            free(a);
            return usage(stderr, TERM_EXIT_USAGE);
        }
        i++;
        if (strcmp(o, "--id") == 0)
            a->id = v;
        else if (strcmp(o, "--kind") == 0 && (strcmp(v, "ewarong") == 0 || strcmp(v, "atm") == 0))
            kind = v;
        else if (strcmp(o, "--lang") == 0 && (strcmp(v, "id") == 0 || strcmp(v, "en") == 0))
            a->lang = strcmp(v, "en") == 0;
        else if (strcmp(o, "--lesson") == 0)
            want = v;
        else if (strcmp(o, "--record") == 0)
            a->record = v;
        else if (strcmp(o, "--lessons") == 0)
            lessons = v;
        else if (strcmp(o, "--seeds") == 0)
            seeds = v;
        else if (strcmp(o, "--trainer-pin") == 0)
            a->trainer_pin = v;
        else if (strcmp(o, "--switch") == 0)
            sw = v;
        else if (strcmp(o, "--issuer") == 0)
            issuer = v;
        else if (strcmp(o, "--pki") == 0)
            pki = v;
        else {
            fprintf(stderr, "kks-terminal train: bad option %s %s\n", o, v);
            free(a);
            return usage(stderr, TERM_EXIT_USAGE);
        }
    }
    if (!a->id || !kks_terminal_id_valid(a->id)) {
        fprintf(stderr, "kks-terminal train: --id ID is required (a terminal ID)\n");
        free(a);
        return usage(stderr, TERM_EXIT_USAGE);
    }
    /* The device is what the terminal ID says it is: the switch applies an
     * ATM's rules (notes of Rp50.000) to ATM- IDs only. */
    a->atm = kks_terminal_kind_of(a->id) == KKS_TERMINAL_ATM;
    if (kind && (strcmp(kind, "atm") == 0) != a->atm) {
        fprintf(stderr, "kks-terminal train: --kind %s does not match the terminal ID %s (%s)\n",
                kind, a->id,
                a->atm ? "an ATM; use --kind atm" : "use an ATM ID such as ATM-BNI-0001");
        free(a);
        return TERM_EXIT_USAGE;
    }
    if ((sw || issuer || pki) && !(sw && issuer && pki)) {
        fprintf(stderr, "kks-terminal train: --switch, --issuer and --pki go together\n");
        free(a);
        return TERM_EXIT_USAGE;
    }
    if (lessons)
        snprintf(lessons_dir, sizeof lessons_dir, "%s", lessons);
    else
        snprintf(lessons_dir, sizeof lessons_dir, "%s/lessons", seeds);
    snprintf(world_file, sizeof world_file, "%s/training/world.yaml", seeds);
    a->nlessons =
        tl_load_dir(lessons_dir, a->lessons, TL_LESSONS_MAX, a->lesson_errs, sizeof a->lesson_errs);
    if (a->lesson_errs[0])
        fprintf(stderr, "kks-terminal train: lessons that did not load:\n%s", a->lesson_errs);
    const tl_lesson *start = NULL;
    if (want) {
        for (size_t i = 0; i < a->nlessons; i++)
            if (strcmp(a->lessons[i].name, want) == 0) start = &a->lessons[i];
        if (!start) {
            fprintf(stderr, "kks-terminal train: no lesson named %s in %s\n", want, lessons_dir);
            rc = TERM_EXIT_USAGE;
            goto out;
        }
    }

    /* the world */
    sc_scenario s;
    char err[1200];
    if (sc_load_file(world_file, &s, err, sizeof err) < 0) {
        fprintf(stderr, "kks-terminal train: %s\n", err);
        rc = TERM_EXIT_INTERNAL;
        goto out;
    }
    char *log = NULL;
    size_t loglen = 0;
    FILE *lf = open_memstream(&log, &loglen);
    sc_target t = {.sw = sw, .issuer = issuer, .pki = pki, .seeds = seeds};
    sc_result r;
    fprintf(stderr, "%s\n",
            a->lang ? "Starting the training world..." : "Menyiapkan dunia latihan...");
    a->world = sc_world_open(&s, &t, lf, &r);
    fflush(lf);
    if (!a->world || !r.passed) {
        fprintf(stderr, "kks-terminal train: the training world did not start: %s\n%s",
                r.failure ? r.failure : "?", log ? log : "");
        sc_result_free(&r);
        sc_world_close(a->world);
        fclose(lf);
        free(log);
        sc_free(&s);
        rc = TERM_EXIT_PEER;
        goto out;
    }
    sc_result_free(&r);
    a->families = s.families;

    a->t0 = time(NULL);
    a->rec = json_object();
    a->rec_events = json_array();
    a->rec_txns = json_array();
    a->rec_done = json_array();
    json_object_set_new(a->rec, "terminal", json_string(a->id));
    json_object_set_new(a->rec, "kind", json_string(a->atm ? "atm" : "ewarong"));
    json_object_set_new(a->rec, "lang", json_string(a->lang ? "en" : "id"));
    json_object_set(a->rec, "events", a->rec_events);
    json_object_set(a->rec, "transactions", a->rec_txns);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setlocale(LC_ALL, "");
    set_escdelay(25);
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    /* The world's loop must keep running between keys: the fault proxies and
     * the daemons' heartbeats live on it. Keys are read without waiting, the
     * loop runs in between, and the screen is redrawn each second (the
     * lesson's clock) or after a key. */
    timeout(0);
    if (start)
        start_lesson(a, start);
    else
        go(a, S_LESSONS);
    time_t drawn = 0;
    while (!a->quit && !stop_signal) {
        if (time(NULL) != drawn) {
            draw(a);
            drawn = time(NULL);
        }
        int ch = getch();
        if (ch == ERR) {
            sc_world_pause(a->world, 40);
            continue;
        }
        if (ch == KEY_RESIZE) rec_event(a, "resize", "");
        key(a, ch);
        drawn = 0;
        record_write(a); /* the record is always current: a killed session keeps it */
    }
    endwin();
    record_write(a);
    json_decref(a->reply);
    json_decref(a->rec_events);
    json_decref(a->rec_txns);
    json_decref(a->rec_done);
    json_decref(a->rec);
    sc_world_close(a->world);
    fclose(lf);
    free(log);
    sc_free(&s);
out:
    for (size_t i = 0; i < a->nlessons; i++)
        tl_free(&a->lessons[i]);
    free(a);
    return rc;
}
