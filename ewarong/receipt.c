/* Receipts for people, 40 columns like an EDC slip, in Bahasa Indonesia or
 * English, and one JSON object per run for machines.
 *
 * Text that came from the switch (reasons, item names, RRN) is printed with
 * control characters replaced, so a reply cannot move the cursor of the
 * terminal it is shown on. The PAN is only ever printed masked. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kks_cli.h"
#include "kks_err.h"
#include "kks_json.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "kks_money.h"
#include "terminal.h"

#define W 40 /* slip width */

typedef struct tr {
    const char *id, *en;
} tr;

#define TX(lang, t) ((lang) == TERM_LANG_EN ? (t).en : (t).id)

static const tr L_BRAND = {"KARTU KELUARGA SEJAHTERA", "KARTU KELUARGA SEJAHTERA"};
static const tr L_EWARONG = {"E-WARONG", "E-WARONG"};
static const tr L_ATM = {"ATM", "ATM"};
static const tr L_BRANCH = {"KANTOR CABANG", "BANK BRANCH"};
static const tr L_DATE = {"TANGGAL", "DATE"};
static const tr L_TIME = {"JAM", "TIME"};
static const tr L_TERMINAL = {"TERMINAL", "TERMINAL"};
static const tr L_CARD = {"NO. KARTU", "CARD NO."};
static const tr L_AUTH = {"KODE OTOR.", "AUTH CODE"};
static const tr L_APPROVED = {"DISETUJUI", "APPROVED"};
static const tr L_DECLINED = {"DITOLAK", "DECLINED"};
static const tr L_RC = {"KODE RESPON", "RESPONSE CODE"};
static const tr L_NOTE = {"KETERANGAN", "DETAIL"};
static const tr L_REFUSED = {"BARANG DITOLAK", "REFUSED ITEM"};
static const tr L_AMOUNT = {"JUMLAH", "AMOUNT"};
static const tr L_TOTAL = {"TOTAL", "TOTAL"};
static const tr L_PAID_FROM = {"DIBAYAR DARI", "PAID FROM"};
static const tr L_FROM = {"DARI", "FROM"};
static const tr L_BAL_PKH = {"Saldo PKH", "PKH balance"};
static const tr L_BAL_BPNT = {"Saldo BPNT", "BPNT balance"};
static const tr L_KEEP = {"Simpan struk ini sebagai bukti transaksi",
                          "Keep this receipt as proof"};
static const tr L_NEVER_PIN = {"Jangan beritahukan PIN kepada siapa pun",
                               "Never tell anyone your PIN"};
static const tr L_ACTIVATED = {"Kartu sudah aktif. Gunakan PIN baru Anda.",
                               "The card is active. Use your new PIN."};
static const tr L_PIN_CHANGED = {"PIN berhasil diganti.", "The PIN has been changed."};
static const tr L_NO_MOVES = {"Belum ada mutasi.", "No movements yet."};
static const tr L_NO_REPLY = {"TIDAK ADA JAWABAN", "NO REPLY"};
static const tr L_NO_REPLY_WHY = {"Switch tidak menjawab:", "The switch did not answer:"};
static const tr L_REVERSED = {"TRANSAKSI DIBATALKAN", "TRANSACTION REVERSED"};
static const tr L_REV_MOVED = {"Pembatalan diterima switch; dana sudah dikembalikan.",
                               "The switch acknowledged the reversal; the money was returned."};
static const tr L_REV_NOT_MOVED = {
    "Pembatalan diterima switch; tidak ada dana yang terdebet.",
    "The switch acknowledged the reversal; no money had moved."};
static const tr L_REV_PENDING = {"PEMBATALAN TERTUNDA", "REVERSAL PENDING"};
static const tr L_REV_PENDING_WHY = {
    "Switch belum menerima pembatalan. Jangan serahkan barang atau uang. Ulangi dengan:",
    "The switch has not acknowledged the reversal. Do not hand over goods or cash. "
    "Repeat it with:"};
static const tr L_REV_REFUSED_WHY = {
    "Switch menolak identitas terminal ini; pembatalan tidak terkirim. Ulangi dengan:",
    "The switch refused this terminal's identity; the reversal was not delivered. "
    "Repeat it with:"};
static const tr L_ACK = {"DITERIMA", "ACKNOWLEDGED"};
static const tr L_MOVED = {"Dana dikembalikan ke rekening.", "The money went back to the account."};
static const tr L_NOT_MOVED = {"Tidak ada dana yang berpindah.", "No money moved."};
static const tr L_ORIG_STAN = {"STAN ASAL", "ORIG. STAN"};
static const tr L_ORIG_RRN = {"RRN ASAL", "ORIG. RRN"};
static const tr L_BIZ_DATE = {"TGL BISNIS", "BUS. DATE"};
static const tr L_COUNT = {"JML", "COUNT"};
static const tr L_MATCH = {"COCOK", "MATCH"};
static const tr L_MISMATCH = {"TIDAK COCOK", "MISMATCH"};
static const tr L_MISMATCH_WHY = {"Periksa transaksi hari ini dengan bank.",
                                  "Check today's transactions with the bank."};

static const struct {
    const char *type;
    tr title;
} titles[] = {
    {"activate", {"AKTIVASI KARTU", "CARD ACTIVATION"}},
    {"balance", {"CEK SALDO", "BALANCE INQUIRY"}},
    {"withdraw", {"TARIK TUNAI", "CASH WITHDRAWAL"}},
    {"purchase", {"STRUK PEMBELIAN", "PURCHASE RECEIPT"}},
    {"pin_change", {"GANTI PIN", "PIN CHANGE"}},
    {"statement", {"MUTASI TERAKHIR", "MINI STATEMENT"}},
    {"reversal", {"PEMBATALAN", "REVERSAL"}},
    {"settle", {"REKAP TRANSAKSI HARIAN", "SETTLEMENT"}},
};

static const struct {
    const char *kind;
    tr text;
} kinds[] = {
    {"credit", {"BANSOS MASUK", "CREDIT"}},
    {"purchase", {"BELANJA", "PURCHASE"}},
    {"withdrawal", {"TARIK TUNAI", "WITHDRAWAL"}},
    {"withdraw", {"TARIK TUNAI", "WITHDRAWAL"}},
    {"reversal", {"PEMBATALAN", "REVERSAL"}},
};

/* The words for a code come from the one table in core/rc.c (kks_rc_text), which
 * kks-terminal's JSON and the trainer read too. */
const char *receipt_rc_text(const char *rc, enum term_lang lang)
{
    return kks_rc_text(rc, lang == TERM_LANG_EN ? KKS_LANG_EN : KKS_LANG_ID);
}

const char *receipt_title(const char *type, enum term_lang lang)
{
    for (size_t i = 0; type && i < sizeof titles / sizeof titles[0]; i++)
        if (strcmp(type, titles[i].type) == 0)
            return TX(lang, titles[i].title);
    return type ? type : "";
}

size_t receipt_rupiah(int64_t v, enum term_lang lang, char *out, size_t cap)
{
    return kks_rupiah(v, lang == TERM_LANG_EN ? ',' : '.', out, cap);
}

/* ------------------------------------------------------------------ slip layout */

/* Copies s with control characters replaced, at most cap-1 bytes. */
static void clean(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && *s && i + 1 < cap; s++)
        out[i++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
    out[i] = '\0';
}

static void rule(FILE *f, char c)
{
    char line[W + 1];
    memset(line, c, W);
    line[W] = '\0';
    fprintf(f, "%s\n", line);
}

static void center(FILE *f, const char *s)
{
    int n = (int)strlen(s);
    fprintf(f, "%*s%s\n", n < W ? (W - n) / 2 : 0, "", s);
}

/* left ........ right, or right on a line of its own when both do not fit. */
static void lr(FILE *f, const char *l, const char *r)
{
    int nl = (int)strlen(l), nr = (int)strlen(r);
    if (nl + nr + 1 > W) {
        fprintf(f, "%s\n%*s\n", l, W, r);
        return;
    }
    fprintf(f, "%s%*s\n", l, W - nl, r);
}

/* "KEY          : value", the value on a line of its own when it is long. */
static void kv(FILE *f, const char *k, const char *v)
{
    if (13 + 2 + strlen(v) > W)
        fprintf(f, "%s:\n%*s\n", k, W, v);
    else
        fprintf(f, "%-13s: %s\n", k, v);
}

/* Word-wraps text to the slip width. */
static void wrap(FILE *f, const char *text)
{
    char buf[512];
    const char *p = buf;
    clean(buf, sizeof buf, text);
    while (*p) {
        int n = (int)strlen(p), cut = n;
        while (*p == ' ')
            p++, n--;
        if (n <= W) {
            fprintf(f, "%s\n", p);
            break;
        }
        cut = W;
        while (cut > 0 && p[cut] != ' ')
            cut--;
        if (cut == 0)
            cut = W; /* one word longer than the slip */
        fprintf(f, "%.*s\n", cut, p);
        p += cut;
    }
}

static const tr *terminal_kind(const char *id)
{
    if (strncmp(id, "ATM-", 4) == 0)
        return &L_ATM;
    if (strncmp(id, "BR-", 3) == 0)
        return &L_BRANCH;
    return &L_EWARONG;
}

static void wib(time_t now, char date[16], char tm_out[16])
{
    struct tm tm;
    time_t t = now + TERM_WIB_OFFSET;
    gmtime_r(&t, &tm);
    strftime(date, 16, "%d/%m/%Y", &tm);
    strftime(tm_out, 16, "%H:%M:%S", &tm);
}

/* The business date YYYY-MM-DD as DD/MM/YYYY. */
static void slip_date(const char *ymd, char out[16])
{
    if (strlen(ymd) == 10)
        snprintf(out, 16, "%.2s/%.2s/%.4s", ymd + 8, ymd + 5, ymd);
    else
        clean(out, 16, ymd);
}

static void head(FILE *f, const receipt_ctx *c, const char *title)
{
    char d[16], t[16], line[64], bd[16];
    wib(c->now, d, t);
    slip_date(c->date, bd);
    rule(f, '=');
    center(f, TX(c->lang, L_BRAND));
    center(f, TX(c->lang, *terminal_kind(c->terminal)));
    rule(f, '=');
    center(f, title);
    rule(f, '-');
    snprintf(line, sizeof line, "%s: %s", TX(c->lang, L_DATE), bd);
    {
        char r[32];
        snprintf(r, sizeof r, "%s: %s WIB", TX(c->lang, L_TIME), t);
        lr(f, line, r);
    }
    kv(f, TX(c->lang, L_TERMINAL), c->terminal);
    if (c->pan && *c->pan) {
        char m[20];
        kks_pan_mask(c->pan, m);
        kv(f, TX(c->lang, L_CARD), m);
    }
}

static void foot(FILE *f, const receipt_ctx *c)
{
    rule(f, '=');
    center(f, TX(c->lang, L_KEEP));
    center(f, TX(c->lang, L_NEVER_PIN));
    rule(f, '=');
}

static void money_line(FILE *f, const receipt_ctx *c, const char *label, int64_t v)
{
    char rp[40];
    receipt_rupiah(v, c->lang, rp, sizeof rp);
    lr(f, label, rp);
}

static const tr L_WALLET_PKH = {"PKH (tunai)", "PKH (cash)"};
static const tr L_WALLET_BPNT = {"BPNT (pangan)", "BPNT (food)"};

static void wallet_line(FILE *f, const receipt_ctx *c, const tr *label, const char *w)
{
    char buf[16];
    if (!w || !*w)
        return;
    if (strcmp(w, "pkh") == 0)
        kv(f, TX(c->lang, *label), TX(c->lang, L_WALLET_PKH));
    else if (strcmp(w, "bpnt") == 0)
        kv(f, TX(c->lang, *label), TX(c->lang, L_WALLET_BPNT));
    else {
        clean(buf, sizeof buf, w);
        kv(f, TX(c->lang, *label), buf);
    }
}

static void balances(FILE *f, const receipt_ctx *c, const Kks__TxnReply *r)
{
    if (!r->has_balances)
        return;
    rule(f, '-');
    money_line(f, c, TX(c->lang, L_BAL_PKH), r->pkh);
    money_line(f, c, TX(c->lang, L_BAL_BPNT), r->bpnt);
}

static void items(FILE *f, const receipt_ctx *c, const Kks__TxnReply *r)
{
    for (size_t i = 0; i < r->n_items; i++) {
        const Kks__ItemLine *it = r->items[i];
        char name[64], sku[32], left[96], rp[40], tot[40];
        clean(sku, sizeof sku, it->sku);
        clean(name, sizeof name, it->name && *it->name ? it->name : it->sku);
        fprintf(f, "%.*s\n", W, name);
        receipt_rupiah(it->unit_price, c->lang, rp, sizeof rp);
        receipt_rupiah(it->total, c->lang, tot, sizeof tot);
        snprintf(left, sizeof left, "  %s %u x %s", sku, it->qty, rp);
        lr(f, left, tot);
    }
}

static void statement(FILE *f, const receipt_ctx *c, const Kks__TxnReply *r)
{
    if (r->n_statement == 0) {
        fprintf(f, "%s\n", TX(c->lang, L_NO_MOVES));
        return;
    }
    for (size_t i = 0; i < r->n_statement; i++) {
        const Kks__StatementLine *s = r->statement[i];
        struct tm tm = {0};
        char when[16] = "", kind[24], wal[8], left[48], rp[40];
        const char *k = s->kind ? s->kind : "";
        if (s->at && sscanf(s->at, "%4d-%2d-%2dT%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min) == 5) {
            time_t t;
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            t = timegm(&tm) + TERM_WIB_OFFSET;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%d/%m %H:%M", &tm);
        }
        clean(kind, sizeof kind, k);
        for (size_t j = 0; j < sizeof kinds / sizeof kinds[0]; j++)
            if (strcmp(k, kinds[j].kind) == 0)
                snprintf(kind, sizeof kind, "%s", TX(c->lang, kinds[j].text));
        snprintf(wal, sizeof wal, "%s", s->wallet && strcmp(s->wallet, "bpnt") == 0 ? "BPNT" : "PKH");
        snprintf(left, sizeof left, "%-11s %-4s %.12s", when, wal, kind);
        receipt_rupiah(s->amount, c->lang, rp, sizeof rp);
        lr(f, left, rp);
    }
}

/* Prints the outcome block: DISETUJUI, or DITOLAK with code, its meaning in
 * the receipt's language, the item refused, and, on an English receipt, the
 * switch's own words when they add something (they are English: an Indonesian
 * receipt never shows them). */
static void outcome(FILE *f, const receipt_ctx *c, const char *rc, const char *reason,
                    const char *refused_sku)
{
    char code[8];
    clean(code, sizeof code, rc);
    if (strcmp(code, "00") == 0) {
        center(f, TX(c->lang, L_APPROVED));
        return;
    }
    center(f, TX(c->lang, L_DECLINED));
    kv(f, TX(c->lang, L_RC), code);
    wrap(f, receipt_rc_text(code, c->lang));
    if (refused_sku && *refused_sku) {
        char sku[24];
        clean(sku, sizeof sku, refused_sku);
        kv(f, TX(c->lang, L_REFUSED), sku);
    }
    if (c->lang == TERM_LANG_EN && reason && *reason &&
        strcasecmp(reason, kks_rc_meaning(code)) != 0) {
        char line[600];
        snprintf(line, sizeof line, "%s: %s", TX(c->lang, L_NOTE), reason);
        wrap(f, line);
    }
}

void receipt_txn(FILE *f, const receipt_ctx *c, const Kks__TxnReply *r)
{
    const char *type = r->type && *r->type ? r->type : c->type;
    const char *wallet = r->wallet && *r->wallet ? r->wallet : c->wallet;
    int ok = r->rc && strcmp(r->rc, "00") == 0;
    char buf[64];
    head(f, c, receipt_title(c->type, c->lang));
    snprintf(buf, sizeof buf, "%06u", r->stan ? r->stan : c->stan);
    kv(f, "STAN", buf);
    clean(buf, sizeof buf, r->rrn && *r->rrn ? r->rrn : "-");
    kv(f, "RRN", buf);
    if (ok && r->auth_code && *r->auth_code) {
        clean(buf, sizeof buf, r->auth_code);
        kv(f, TX(c->lang, L_AUTH), buf);
    }
    rule(f, '-');
    outcome(f, c, r->rc ? r->rc : "", r->reason, r->refused_sku);
    if (r->n_items) {
        rule(f, '-');
        items(f, c, r);
    }
    if (strcmp(type, "purchase") == 0 && (ok || r->amount)) {
        rule(f, '-');
        money_line(f, c, TX(c->lang, L_TOTAL), r->amount);
        wallet_line(f, c, &L_PAID_FROM, wallet);
    } else if (strcmp(type, "withdraw") == 0) {
        rule(f, '-');
        money_line(f, c, TX(c->lang, L_AMOUNT), ok ? r->amount : c->amount);
        wallet_line(f, c, &L_FROM, wallet);
    } else if (ok && strcmp(type, "activate") == 0) {
        wrap(f, TX(c->lang, L_ACTIVATED));
    } else if (ok && strcmp(type, "pin_change") == 0) {
        wrap(f, TX(c->lang, L_PIN_CHANGED));
    } else if (ok && strcmp(type, "statement") == 0) {
        rule(f, '-');
        statement(f, c, r);
    }
    if (ok)
        balances(f, c, r);
    foot(f, c);
}

void receipt_noreply(FILE *f, const receipt_ctx *c, const receipt_lost *n)
{
    char buf[160];
    head(f, c, receipt_title(c->type, c->lang));
    snprintf(buf, sizeof buf, "%06u", c->stan);
    kv(f, "STAN", buf);
    rule(f, '-');
    center(f, TX(c->lang, L_NO_REPLY));
    snprintf(buf, sizeof buf, "%s %s", TX(c->lang, L_NO_REPLY_WHY), n->why ? n->why : "");
    wrap(f, buf);
    if (strcmp(c->type, "withdraw") == 0) {
        rule(f, '-');
        money_line(f, c, TX(c->lang, L_AMOUNT), c->amount);
    }
    rule(f, '-');
    if (n->acked) {
        center(f, TX(c->lang, L_REVERSED));
        wrap(f, n->moved ? TX(c->lang, L_REV_MOVED) : TX(c->lang, L_REV_NOT_MOVED));
    } else {
        center(f, TX(c->lang, L_REV_PENDING));
        wrap(f, n->refused ? TX(c->lang, L_REV_REFUSED_WHY) : TX(c->lang, L_REV_PENDING_WHY));
        snprintf(buf, sizeof buf, "kks-terminal --id %s reverse --stan %u --date %s", c->terminal,
                 c->stan, c->date);
        wrap(f, buf);
    }
    foot(f, c);
}

void receipt_reversal(FILE *f, const receipt_ctx *c, const Kks__ReversalReply *r,
                      const char *rrn)
{
    char buf[64];
    head(f, c, receipt_title("reversal", c->lang));
    snprintf(buf, sizeof buf, "%06u", c->stan);
    kv(f, TX(c->lang, L_ORIG_STAN), buf);
    slip_date(c->date, buf);
    kv(f, TX(c->lang, L_BIZ_DATE), buf);
    if (rrn && *rrn) {
        clean(buf, sizeof buf, rrn);
        kv(f, TX(c->lang, L_ORIG_RRN), buf);
    }
    rule(f, '-');
    if (r->rc && strcmp(r->rc, "00") == 0) {
        center(f, TX(c->lang, L_ACK));
        wrap(f, r->moved ? TX(c->lang, L_MOVED) : TX(c->lang, L_NOT_MOVED));
    } else {
        outcome(f, c, r->rc ? r->rc : "", r->reason, NULL);
    }
    foot(f, c);
}

void receipt_settle(FILE *f, const receipt_ctx *c, uint32_t count, int64_t total,
                    const Kks__TerminalSettleReply *r)
{
    char buf[64], rp[40];
    int ok = r->rc && strcmp(r->rc, "00") == 0;
    head(f, c, receipt_title("settle", c->lang));
    slip_date(c->date, buf);
    kv(f, TX(c->lang, L_BIZ_DATE), buf);
    rule(f, '-');
    fprintf(f, "%-12s%8s%20s\n", "", TX(c->lang, L_COUNT), TX(c->lang, L_TOTAL));
    receipt_rupiah(total, c->lang, rp, sizeof rp);
    fprintf(f, "%-12s%8u%20s\n", TX(c->lang, L_TERMINAL), count, rp);
    if (ok) {
        receipt_rupiah(r->total, c->lang, rp, sizeof rp);
        fprintf(f, "%-12s%8u%20s\n", "SWITCH", r->count, rp);
    }
    rule(f, '-');
    if (!ok)
        outcome(f, c, r->rc ? r->rc : "", r->reason, NULL);
    else if (r->match)
        center(f, TX(c->lang, L_MATCH));
    else {
        center(f, TX(c->lang, L_MISMATCH));
        wrap(f, TX(c->lang, L_MISMATCH_WHY));
    }
    rule(f, '=');
}

/* ------------------------------------------------------------------ JSON */

/* Prints the object on one line; says on stderr when it could not. */
static void jprint(FILE *f, json_t *o)
{
    int rc = kks_json_print(f, o);
    if (rc < 0)
        fprintf(stderr, "kks-terminal: cannot write the JSON reply: %s\n", kks_strerror(rc));
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static const char *orempty(const char *s)
{
    return s ? s : "";
}

/* type, terminal, local_date, time, stan and the masked PAN, when there is one. */
static json_t *jcommon(const receipt_ctx *c, const char *type)
{
    char when[32];
    struct tm tm;
    json_t *o;
    time_t t = c->now + TERM_WIB_OFFSET;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
    o = json_pack("{s:o,s:o,s:o,s:s,s:I}", "type", kks_json_str(type), "terminal",
                  kks_json_str(c->terminal), "local_date", kks_json_str(c->date), "time", when,
                  "stan", (json_int_t)c->stan);
    if (c->pan && *c->pan) {
        char m[20];
        kks_pan_mask(c->pan, m);
        kks_json_set(&o, "pan", kks_json_str(m));
    }
    return o;
}

void receipt_txn_json(FILE *f, const receipt_ctx *c, const Kks__TxnReply *r)
{
    const char *type = c->type;
    const char *wallet = nonempty(r->wallet) ? r->wallet : nonempty(c->wallet);
    int ok = r->rc && strcmp(r->rc, "00") == 0;
    json_t *o = jcommon(c, type);
    kks_json_set(&o, "rc", kks_json_str(orempty(r->rc)));
    kks_json_set(&o, "reason", kks_json_str(orempty(r->reason)));
    kks_json_set(&o, "message", kks_json_str(receipt_rc_text(r->rc, c->lang)));
    if (nonempty(r->refused_sku))
        kks_json_set(&o, "refused_sku", kks_json_str(r->refused_sku));
    kks_json_set(&o, "approved", json_boolean(ok));
    kks_json_set(&o, "rrn", kks_json_str(nonempty(r->rrn)));
    if (ok)
        kks_json_set(&o, "auth_code", kks_json_str(nonempty(r->auth_code)));
    if (strcmp(type, "withdraw") == 0 || strcmp(type, "purchase") == 0) {
        kks_json_set(&o, "amount", json_integer(ok || r->amount ? r->amount : c->amount));
        kks_json_set(&o, "wallet", kks_json_str(wallet));
    }
    if (ok && r->has_balances)
        kks_json_set(&o, "balances", json_pack("{s:I,s:I}", "pkh", (json_int_t)r->pkh, "bpnt",
                                               (json_int_t)r->bpnt));
    else if (ok)
        kks_json_set(&o, "balances", json_null());
    if (strcmp(type, "purchase") == 0 || r->n_items) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < r->n_items; i++)
            kks_json_append(&a, kks_json_pb(&r->items[i]->base,
                                            "sku name category qty unit_price total"));
        kks_json_set(&o, "items", a);
    }
    if (strcmp(type, "statement") == 0) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < r->n_statement; i++)
            kks_json_append(&a, kks_json_pb(&r->statement[i]->base, "at wallet amount kind ref"));
        kks_json_set(&o, "statement", a);
    }
    jprint(f, o);
}

/* The object for a request the switch did not answer with a reply: the common
 * fields, no response code, not approved. */
static json_t *junanswered(const receipt_ctx *c)
{
    json_t *o = jcommon(c, c->type);
    kks_json_set(&o, "rc", json_null());
    kks_json_set(&o, "reason", json_null());
    kks_json_set(&o, "rrn", json_null());
    kks_json_set(&o, "approved", json_false());
    return o;
}

void receipt_noreply_json(FILE *f, const receipt_ctx *c, const receipt_lost *n, int exit_code)
{
    json_t *o = junanswered(c);
    if (strcmp(c->type, "withdraw") == 0)
        kks_json_set(&o, "amount", json_integer(c->amount));
    kks_cli_error_set(&o, n->why ? n->why : "no reply", exit_code);
    kks_json_set(&o, "reversal",
                 json_pack("{s:s,s:b,s:I}", "status",
                           n->acked ? "acknowledged" : n->refused ? "refused" : "pending",
                           "moved", n->acked && n->moved, "attempts", (json_int_t)n->attempts));
    jprint(f, o);
}

void receipt_reversal_json(FILE *f, const receipt_ctx *c, const Kks__ReversalReply *r,
                           const char *rrn)
{
    json_t *o = jcommon(c, "reversal");
    kks_json_set(&o, "rc", kks_json_str(orempty(r->rc)));
    kks_json_set(&o, "reason", kks_json_str(orempty(r->reason)));
    kks_json_set(&o, "message", kks_json_str(receipt_rc_text(r->rc, c->lang)));
    kks_json_set(&o, "approved", json_boolean(r->rc && strcmp(r->rc, "00") == 0));
    kks_json_set(&o, "rrn", kks_json_str(nonempty(rrn)));
    kks_json_set(&o, "moved", json_boolean(r->moved));
    jprint(f, o);
}

void receipt_settle_json(FILE *f, const receipt_ctx *c, uint32_t count, int64_t total,
                         const Kks__TerminalSettleReply *r)
{
    int ok = r->rc && strcmp(r->rc, "00") == 0;
    jprint(f, json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:b,s:{s:I,s:I},s:o}", "type", "settle",
                        "terminal", kks_json_str(c->terminal), "date", kks_json_str(c->date), "rc",
                        kks_json_str(orempty(r->rc)), "reason", kks_json_str(orempty(r->reason)),
                        "message", kks_json_str(receipt_rc_text(r->rc, c->lang)), "match",
                        ok && r->match, "terminal_totals", "count", (json_int_t)count, "total",
                        (json_int_t)total, "switch_totals",
                        ok ? json_pack("{s:I,s:I}", "count", (json_int_t)r->count, "total",
                                       (json_int_t)r->total)
                           : json_null()));
}

void receipt_error_json(FILE *f, const receipt_ctx *c, const char *error, int exit_code)
{
    json_t *o = junanswered(c);
    kks_cli_error_set(&o, error, exit_code);
    jprint(f, o);
}
