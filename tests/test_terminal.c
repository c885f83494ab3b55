/* kks-terminal (ewarong/): receipts in both languages, JSON, the command
 * line, the journal and settle totals, STAN allocation; and whole runs of
 * term_cli() against a fake switch served on the same libuv loop, which
 * checks the wire contract (PIN blocks under the TPK, STAN, reversal loop).
 *
 * Set KKS_RECEIPT_SAMPLES=FILE to collect the sample receipts in FILE. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kks_err.h"
#include "kks_rc.h"
#include "kks_json.h"
#include "kks_log.h"
#include "kks_pin.h"
#include "kks_pki.h"
#include "terminal.h"
#include "rmtree.h"

/* 2026-11-24 03:15:09 UTC = 10:15:09 WIB */
#define NOW ((time_t)1795490109)
#define TID "EW-127101-0001"
#define PAN "5221840000000019"
#define PIN "246810"
#define NEWPIN "135792"

/* ------------------------------------------------------------------ helpers */

static char dir[64]; /* per-test temporary directory */

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof dir, "/tmp/kks-term-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
    if (!dir[0])
        return;
    cr_assert_eq(rmtree(dir), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

/* Collects a sample receipt when KKS_RECEIPT_SAMPLES names a file. */
static void sample(const char *title, const char *text)
{
    const char *path = getenv("KKS_RECEIPT_SAMPLES");
    FILE *f;
    if (!path || !(f = fopen(path, "a")))
        return;
    fprintf(f, "---- %s\n%s\n", title, text);
    fclose(f);
}

typedef struct capture {
    char *buf;
    size_t len;
    FILE *f;
} capture;

static void cap_open(capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    cr_assert_not_null(c->f);
}

static char *cap_close(capture *c)
{
    fclose(c->f);
    return c->buf;
}

static receipt_ctx ctx_for(const char *type, enum term_lang lang)
{
    receipt_ctx c = {.lang = lang, .terminal = TID, .date = "2026-11-24", .now = NOW,
                     .type = type, .pan = PAN, .stan = 42, .wallet = ""};
    return c;
}

/* ------------------------------------------------------------------ rupiah, rc texts */

Test(receipt, rupiah_in_both_languages)
{
    char b[40];
    receipt_rupiah(200000, TERM_LANG_ID, b, sizeof b);
    cr_assert_str_eq(b, "Rp200.000");
    receipt_rupiah(200000, TERM_LANG_EN, b, sizeof b);
    cr_assert_str_eq(b, "Rp200,000");
    receipt_rupiah(0, TERM_LANG_ID, b, sizeof b);
    cr_assert_str_eq(b, "Rp0");
    receipt_rupiah(999, TERM_LANG_ID, b, sizeof b);
    cr_assert_str_eq(b, "Rp999");
    receipt_rupiah(1000, TERM_LANG_ID, b, sizeof b);
    cr_assert_str_eq(b, "Rp1.000");
    receipt_rupiah(-78500, TERM_LANG_ID, b, sizeof b);
    cr_assert_str_eq(b, "-Rp78.500");
    receipt_rupiah(15000000, TERM_LANG_EN, b, sizeof b);
    cr_assert_str_eq(b, "Rp15,000,000");
    receipt_rupiah(INT64_MIN, TERM_LANG_ID, b, sizeof b);
    cr_assert_str_eq(b, "-Rp9.223.372.036.854.775.808");
    receipt_rupiah(123456, TERM_LANG_ID, b, 5);
    cr_assert_str_eq(b, "Rp12", "bounded");
}

Test(receipt, every_response_code_has_words_in_both_languages)
{
    static const char *codes[] = {"00", "05", "12", "13", "14", "30", "41", "43", "51", "54", "55",
                                  "57", "58", "61", "63", "65", "68", "75", "91", "92", "94", "96"};
    const char *unk_id = receipt_rc_text("99", TERM_LANG_ID);
    const char *unk_en = receipt_rc_text("99", TERM_LANG_EN);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *id = receipt_rc_text(codes[i], TERM_LANG_ID);
        const char *en = receipt_rc_text(codes[i], TERM_LANG_EN);
        cr_assert_neq(id, unk_id, "%s has Bahasa words", codes[i]);
        cr_assert_neq(en, unk_en, "%s has English words", codes[i]);
        cr_assert_str_neq(id, en, "%s is translated", codes[i]);
        cr_assert_leq(strlen(id), 60);
    }
    cr_assert_str_eq(receipt_rc_text("51", TERM_LANG_ID), "Saldo tidak cukup");
    cr_assert_str_eq(receipt_rc_text("55", TERM_LANG_EN), "Incorrect PIN");
    cr_assert_str_eq(receipt_rc_text(NULL, TERM_LANG_EN), "Unknown response code");
    /* one table: the receipt's words are core/rc.c's */
    cr_assert_eq(receipt_rc_text("63", TERM_LANG_ID), kks_rc_text("63", KKS_LANG_ID));
    cr_assert(strstr(receipt_rc_text("63", TERM_LANG_ID), "NIK"), "a wrong NIK says so");
    cr_assert(!strstr(receipt_rc_text("63", TERM_LANG_ID), "aktif"),
              "a wrong NIK is not 'not activated'");
    cr_assert_str_eq(kks_rc_meaning("63"), "security violation");
}

Test(receipt, titles)
{
    cr_assert_str_eq(receipt_title("purchase", TERM_LANG_ID), "STRUK PEMBELIAN");
    cr_assert_str_eq(receipt_title("withdraw", TERM_LANG_ID), "TARIK TUNAI");
    cr_assert_str_eq(receipt_title("balance", TERM_LANG_ID), "CEK SALDO");
    cr_assert_str_eq(receipt_title("activate", TERM_LANG_ID), "AKTIVASI KARTU");
    cr_assert_str_eq(receipt_title("pin_change", TERM_LANG_ID), "GANTI PIN");
    cr_assert_str_eq(receipt_title("statement", TERM_LANG_ID), "MUTASI TERAKHIR");
    cr_assert_str_eq(receipt_title("settle", TERM_LANG_ID), "REKAP TRANSAKSI HARIAN");
    cr_assert_str_eq(receipt_title("withdraw", TERM_LANG_EN), "CASH WITHDRAWAL");
}

/* ------------------------------------------------------------------ receipts */

static Kks__ItemLine item_rice = {PROTOBUF_C_MESSAGE_INIT(&kks__item_line__descriptor),
                                  "BRS-MED-5KG", "Beras medium 5 kg", "karbohidrat", 2, 68500,
                                  137000};
static Kks__ItemLine item_egg = {PROTOBUF_C_MESSAGE_INIT(&kks__item_line__descriptor),
                                 "TLR-1KG", "Telur ayam ras 1 kg", "protein_hewani", 1, 28000,
                                 28000};

static Kks__TxnReply reply(const char *type, const char *rc)
{
    Kks__TxnReply r = KKS__TXN_REPLY__INIT;
    r.type = (char *)type;
    r.rc = (char *)rc;
    r.reason = strcmp(rc, "00") == 0 ? "approved" : (char *)"insufficient funds";
    r.stan = 42;
    r.rrn = "000000000123";
    if (strcmp(rc, "00") == 0) {
        r.auth_code = "A1B2C3";
        r.has_balances = 1;
        r.pkh = 550000;
        r.bpnt = 235000;
    }
    return r;
}

static char *render(const receipt_ctx *c, const Kks__TxnReply *r, int json)
{
    capture cp;
    cap_open(&cp);
    if (json)
        receipt_txn_json(cp.f, c, r);
    else
        receipt_txn(cp.f, c, r);
    return cap_close(&cp);
}

/* The slip with its lines joined, for phrases that wrap. */
static char *flat(const char *text)
{
    static char buf[8192];
    size_t i = 0;
    for (; text[i] && i + 1 < sizeof buf; i++)
        buf[i] = text[i] == '\n' ? ' ' : text[i];
    buf[i] = '\0';
    return buf;
}

static void assert_width(const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        cr_assert_leq(n, 40, "slip line wider than 40: %.*s", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

Test(receipt, withdrawal_approved_bahasa_and_english)
{
    receipt_ctx c = ctx_for("withdraw", TERM_LANG_ID);
    Kks__TxnReply r = reply("withdraw", "00");
    char *id, *en;
    r.amount = 200000;
    r.wallet = "pkh";
    c.amount = 200000;
    id = render(&c, &r, 0);
    sample("withdraw approved (id)", id);
    cr_assert(strstr(id, "TARIK TUNAI"));
    cr_assert(strstr(id, "DISETUJUI"));
    cr_assert(strstr(id, "522184******0019"), "masked PAN");
    cr_assert_null(strstr(id, PAN), "never the whole PAN");
    cr_assert(strstr(id, "EW-127101-0001"));
    cr_assert(strstr(id, "24/11/2026"));
    cr_assert(strstr(id, "10:15:09 WIB"));
    cr_assert(strstr(id, "000042"), "STAN");
    cr_assert(strstr(id, "000000000123"), "RRN");
    cr_assert(strstr(id, "A1B2C3"), "auth code");
    cr_assert(strstr(id, "Rp200.000"));
    cr_assert(strstr(id, "Saldo PKH"));
    cr_assert(strstr(id, "Rp550.000"));
    cr_assert(strstr(id, "Saldo BPNT"));
    cr_assert(strstr(id, "Rp235.000"));
    cr_assert(strstr(id, "E-WARONG"));
    assert_width(id);

    c.lang = TERM_LANG_EN;
    en = render(&c, &r, 0);
    sample("withdraw approved (en)", en);
    cr_assert(strstr(en, "CASH WITHDRAWAL"));
    cr_assert(strstr(en, "APPROVED"));
    cr_assert(strstr(en, "Rp200,000"));
    cr_assert(strstr(en, "PKH balance"));
    cr_assert(strstr(en, "AUTH CODE"));
    cr_assert_null(strstr(en, "DISETUJUI"));
    assert_width(en);
    free(id);
    free(en);
}

Test(receipt, purchase_lists_items_prices_and_total)
{
    receipt_ctx c = ctx_for("purchase", TERM_LANG_ID);
    Kks__TxnReply r = reply("purchase", "00");
    Kks__ItemLine *its[] = {&item_rice, &item_egg};
    char *id, *en;
    r.items = its;
    r.n_items = 2;
    r.amount = 165000;
    r.wallet = "bpnt";
    id = render(&c, &r, 0);
    sample("purchase approved (id)", id);
    cr_assert(strstr(id, "STRUK PEMBELIAN"));
    cr_assert(strstr(id, "Beras medium 5 kg"));
    cr_assert(strstr(id, "BRS-MED-5KG 2 x Rp68.500"));
    cr_assert(strstr(id, "Rp137.000"));
    cr_assert(strstr(id, "Telur ayam ras 1 kg"));
    cr_assert(strstr(id, "Rp165.000"));
    cr_assert(strstr(id, "BPNT (pangan)"));
    assert_width(id);
    c.lang = TERM_LANG_EN;
    en = render(&c, &r, 0);
    sample("purchase approved (en)", en);
    cr_assert(strstr(en, "PURCHASE RECEIPT"));
    cr_assert(strstr(en, "BRS-MED-5KG 2 x Rp68,500"));
    cr_assert(strstr(en, "BPNT (food)"));
    free(id);
    free(en);
}

Test(receipt, decline_shows_code_explanation_and_the_switch_reason)
{
    receipt_ctx c = ctx_for("purchase", TERM_LANG_ID);
    Kks__TxnReply r = reply("purchase", "57");
    char *id, *en;
    r.reason = "item MYK-GRG-1L (minyak goreng) is not allowed for BPNT in 2026-11";
    r.refused_sku = "MYK-GRG-1L";
    id = render(&c, &r, 0);
    sample("purchase declined 57 (id)", id);
    cr_assert(strstr(id, "DITOLAK"));
    cr_assert(strstr(id, "KODE RESPON  : 57"), "%s", id);
    cr_assert(strstr(flat(id), "Transaksi tidak diizinkan untuk kartu ini"));
    cr_assert(strstr(id, "BARANG DITOLAK: MYK-GRG-1L") || strstr(id, "BARANG DITOLAK : MYK-GRG-1L"),
              "the refused item, in Bahasa Indonesia: %s", id);
    cr_assert_null(strstr(flat(id), "is not allowed"),
                   "the switch's English words never on an Indonesian receipt: %s", id);
    cr_assert_null(strstr(id, "A1B2C3"));
    cr_assert_null(strstr(id, "Saldo PKH"), "no balances on a decline");
    assert_width(id);
    c.lang = TERM_LANG_EN;
    en = render(&c, &r, 0);
    sample("purchase declined 57 (en)", en);
    cr_assert(strstr(en, "DECLINED"));
    cr_assert(strstr(flat(en), "Transaction not permitted for this card"));
    cr_assert(strstr(en, "REFUSED ITEM"), "%s", en);
    cr_assert(strstr(flat(en), "MYK-GRG-1L (minyak goreng) is not allowed"), "the switch's words");
    free(id);
    free(en);

    /* The standard meaning is not repeated; the amount asked for is shown. */
    c = ctx_for("withdraw", TERM_LANG_ID);
    c.amount = 300000;
    r = reply("withdraw", "51");
    id = render(&c, &r, 0);
    sample("withdraw declined 51 (id)", id);
    cr_assert(strstr(id, "Saldo tidak cukup"));
    cr_assert_null(strstr(id, "insufficient funds"));
    cr_assert(strstr(id, "Rp300.000"));
    free(id);
}

Test(receipt, control_characters_from_the_switch_are_neutralised)
{
    receipt_ctx c = ctx_for("balance", TERM_LANG_ID);
    Kks__TxnReply r = reply("balance", "05");
    char *s;
    r.reason = "evil \x1b[2J reason";
    r.rrn = "12\r34";
    s = render(&c, &r, 0);
    cr_assert_null(strchr(s, '\x1b'));
    cr_assert_null(strchr(s, '\r'));
    free(s);
}

Test(receipt, balance_statement_activation_pin_change)
{
    receipt_ctx c = ctx_for("balance", TERM_LANG_ID);
    Kks__TxnReply r = reply("balance", "00");
    Kks__StatementLine l1 = KKS__STATEMENT_LINE__INIT, l2 = KKS__STATEMENT_LINE__INIT;
    Kks__StatementLine *ls[] = {&l1, &l2};
    char *s;

    s = render(&c, &r, 0);
    sample("balance (id)", s);
    cr_assert(strstr(s, "CEK SALDO"));
    cr_assert(strstr(s, "Saldo PKH"));
    free(s);

    l1.at = "2026-11-20T01:00:00Z";
    l1.wallet = "bpnt";
    l1.amount = 400000;
    l1.kind = "credit";
    l1.ref = "bpnt:2026-11..12";
    l2.at = "2026-11-23T23:30:00Z";
    l2.wallet = "pkh";
    l2.amount = -200000;
    l2.kind = "withdrawal";
    r = reply("statement", "00");
    r.statement = ls;
    r.n_statement = 2;
    c = ctx_for("statement", TERM_LANG_ID);
    s = render(&c, &r, 0);
    sample("statement (id)", s);
    cr_assert(strstr(s, "MUTASI TERAKHIR"));
    cr_assert(!strstr(s, "STATEMENT"), "no English on an Indonesian receipt");
    cr_assert(strstr(s, "20/11 08:00 BPNT BANSOS MASUK"), "UTC shown as WIB");
    cr_assert(strstr(s, "24/11 06:30 PKH  TARIK TUNAI"), "crosses midnight in WIB");
    cr_assert(strstr(s, "-Rp200.000"));
    assert_width(s);
    free(s);
    c.lang = TERM_LANG_EN;
    s = render(&c, &r, 0);
    sample("statement (en)", s);
    cr_assert(strstr(s, "BPNT CREDIT"));
    free(s);

    r = reply("activate", "00");
    r.has_balances = 0;
    c = ctx_for("activate", TERM_LANG_ID);
    s = render(&c, &r, 0);
    sample("activation (id)", s);
    cr_assert(strstr(s, "AKTIVASI KARTU"));
    cr_assert(strstr(s, "Kartu sudah aktif"));
    free(s);
    c = ctx_for("pin_change", TERM_LANG_EN);
    r = reply("pin_change", "55");
    r.reason = "incorrect PIN";
    s = render(&c, &r, 0);
    sample("PIN change declined 55 (en)", s);
    cr_assert(strstr(s, "PIN CHANGE"));
    cr_assert(strstr(s, "Incorrect PIN"));
    free(s);
}

Test(receipt, no_reply_reversal_settle_slips)
{
    receipt_ctx c = ctx_for("withdraw", TERM_LANG_ID);
    receipt_lost lost = {.why = "no reply within 10000 ms", .acked = 1, .moved = 1,
                         .attempts = 2};
    Kks__ReversalReply rv = KKS__REVERSAL_REPLY__INIT;
    Kks__TerminalSettleReply st = KKS__TERMINAL_SETTLE_REPLY__INIT;
    capture cp;
    char *s;

    c.amount = 200000;
    cap_open(&cp);
    receipt_noreply(cp.f, &c, &lost);
    s = cap_close(&cp);
    sample("withdraw, no reply, reversed (id)", s);
    cr_assert(strstr(s, "TIDAK ADA JAWABAN"));
    cr_assert(strstr(s, "TRANSAKSI DIBATALKAN"));
    cr_assert(strstr(flat(s), "dana sudah dikembalikan"));
    assert_width(s);
    free(s);

    lost.acked = 0;
    c.lang = TERM_LANG_EN;
    cap_open(&cp);
    receipt_noreply(cp.f, &c, &lost);
    s = cap_close(&cp);
    sample("withdraw, no reply, reversal pending (en)", s);
    cr_assert(strstr(s, "REVERSAL PENDING"));
    cr_assert(strstr(flat(s), "reverse --stan 42 --date 2026-11-24"));
    free(s);

    rv.rc = "00";
    rv.reason = "reversed";
    rv.moved = 1;
    c = ctx_for("reversal", TERM_LANG_ID);
    c.pan = "";
    cap_open(&cp);
    receipt_reversal(cp.f, &c, &rv, "000000000123");
    s = cap_close(&cp);
    sample("reversal (id)", s);
    cr_assert(strstr(s, "PEMBATALAN"));
    cr_assert(strstr(s, "DITERIMA"));
    cr_assert(strstr(s, "000000000123"));
    free(s);

    st.rc = "00";
    st.match = 0;
    st.count = 3;
    st.total = 465000;
    c = ctx_for("settle", TERM_LANG_ID);
    c.pan = "";
    cap_open(&cp);
    receipt_settle(cp.f, &c, 2, 265000, &st);
    s = cap_close(&cp);
    sample("settle mismatch (id)", s);
    cr_assert(strstr(s, "TIDAK COCOK"));
    cr_assert(strstr(s, "Rp265.000"));
    cr_assert(strstr(s, "Rp465.000"));
    assert_width(s);
    free(s);
    st.match = 1;
    st.count = 2;
    st.total = 265000;
    c.lang = TERM_LANG_EN;
    cap_open(&cp);
    receipt_settle(cp.f, &c, 2, 265000, &st);
    s = cap_close(&cp);
    sample("settle match (en)", s);
    cr_assert(strstr(s, "MATCH"));
    cr_assert_null(strstr(s, "MISMATCH"));
    free(s);
}

/* ------------------------------------------------------------------ JSON */

Test(json, approved_balance_exact)
{
    receipt_ctx c = ctx_for("balance", TERM_LANG_ID);
    Kks__TxnReply r = reply("balance", "00");
    char *s = render(&c, &r, 1);
    cr_assert_str_eq(s, "{\"type\":\"balance\",\"terminal\":\"EW-127101-0001\","
                        "\"local_date\":\"2026-11-24\",\"time\":\"2026-11-24T10:15:09+07:00\","
                        "\"stan\":42,\"pan\":\"522184******0019\",\"rc\":\"00\","
                        "\"reason\":\"approved\",\"message\":\"Transaksi berhasil\","
                        "\"approved\":true,\"rrn\":\"000000000123\",\"auth_code\":\"A1B2C3\","
                        "\"balances\":{\"pkh\":550000,\"bpnt\":235000}}\n");
    free(s);
}

Test(json, purchase_statement_decline_and_escaping)
{
    receipt_ctx c = ctx_for("purchase", TERM_LANG_EN);
    Kks__TxnReply r = reply("purchase", "00");
    Kks__ItemLine *its[] = {&item_rice, &item_egg};
    Kks__StatementLine l1 = KKS__STATEMENT_LINE__INIT, *ls[] = {&l1};
    char *s;
    r.items = its;
    r.n_items = 2;
    r.amount = 165000;
    r.wallet = "bpnt";
    s = render(&c, &r, 1);
    cr_assert(strstr(s, "\"amount\":165000,\"wallet\":\"bpnt\""), "%s", s);
    cr_assert(strstr(s, "\"items\":[{\"sku\":\"BRS-MED-5KG\",\"name\":\"Beras medium 5 kg\","
                        "\"category\":\"karbohidrat\",\"qty\":2,\"unit_price\":68500,"
                        "\"total\":137000},{"),
              "%s", s);
    cr_assert_eq(strchr(s, '\n'), s + strlen(s) - 1, "one line");
    free(s);

    r = reply("withdraw", "51");
    r.reason = "insufficient \"PKH\" funds\n";
    c = ctx_for("withdraw", TERM_LANG_EN);
    c.amount = 300000;
    s = render(&c, &r, 1);
    cr_assert(strstr(s, "\"rc\":\"51\",\"reason\":\"insufficient \\\"PKH\\\" funds\\n\","
                        "\"message\":\"Insufficient balance\",\"approved\":false"),
              "%s", s);
    cr_assert(strstr(s, "\"amount\":300000"), "the amount asked for");
    cr_assert_null(strstr(s, "auth_code"));
    cr_assert_null(strstr(s, "balances"));
    free(s);

    l1.at = "2026-11-20T01:00:00Z";
    l1.wallet = "bpnt";
    l1.amount = 400000;
    l1.kind = "credit";
    l1.ref = "bpnt:2026-11";
    r = reply("statement", "00");
    r.statement = ls;
    r.n_statement = 1;
    c = ctx_for("statement", TERM_LANG_ID);
    s = render(&c, &r, 1);
    cr_assert(strstr(s, "\"statement\":[{\"at\":\"2026-11-20T01:00:00Z\",\"wallet\":\"bpnt\","
                        "\"amount\":400000,\"kind\":\"credit\",\"ref\":\"bpnt:2026-11\"}]"),
              "%s", s);
    free(s);

    r = reply("pin_change", "00");
    r.has_balances = 0;
    c = ctx_for("pin_change", TERM_LANG_ID);
    s = render(&c, &r, 1);
    cr_assert(strstr(s, "\"auth_code\":\"A1B2C3\",\"balances\":null"), "%s", s);
    free(s);
}

Test(json, no_reply_settle_reversal_error)
{
    receipt_ctx c = ctx_for("withdraw", TERM_LANG_ID);
    receipt_lost lost = {.why = "no reply within 500 ms", .acked = 1, .moved = 0,
                         .attempts = 1};
    Kks__TerminalSettleReply st = KKS__TERMINAL_SETTLE_REPLY__INIT;
    Kks__ReversalReply rv = KKS__REVERSAL_REPLY__INIT;
    capture cp;
    char *s;
    c.amount = 50000;
    cap_open(&cp);
    receipt_noreply_json(cp.f, &c, &lost, TERM_EXIT_PEER);
    s = cap_close(&cp);
    cr_assert(strstr(s, "\"rc\":null,\"reason\":null,\"rrn\":null,\"approved\":false,"
                        "\"amount\":50000,\"error\":\"no reply within 500 ms\",\"exit\":3,"
                        "\"reversal\":{\"status\":\"acknowledged\",\"moved\":false,"
                        "\"attempts\":1}}"),
              "%s", s);
    free(s);

    st.rc = "00";
    st.match = 1;
    st.count = 2;
    st.total = 265000;
    c = ctx_for("settle", TERM_LANG_ID);
    cap_open(&cp);
    receipt_settle_json(cp.f, &c, 2, 265000, &st);
    s = cap_close(&cp);
    cr_assert_str_eq(s, "{\"type\":\"settle\",\"terminal\":\"EW-127101-0001\","
                        "\"date\":\"2026-11-24\",\"rc\":\"00\",\"reason\":\"\","
                        "\"message\":\"Transaksi berhasil\",\"match\":true,"
                        "\"terminal_totals\":{\"count\":2,\"total\":265000},"
                        "\"switch_totals\":{\"count\":2,\"total\":265000}}\n");
    free(s);

    rv.rc = "00";
    rv.moved = 1;
    c = ctx_for("reversal", TERM_LANG_ID);
    c.pan = "";
    cap_open(&cp);
    receipt_reversal_json(cp.f, &c, &rv, NULL);
    s = cap_close(&cp);
    cr_assert(strstr(s, "\"type\":\"reversal\""));
    cr_assert(strstr(s, "\"rrn\":null,\"moved\":true}"), "%s", s);
    cr_assert_null(strstr(s, "\"pan\""));
    free(s);

    c = ctx_for("balance", TERM_LANG_ID);
    cap_open(&cp);
    receipt_error_json(cp.f, &c, "switch 127.0.0.1:1: connection refused", TERM_EXIT_PEER);
    s = cap_close(&cp);
    cr_assert(strstr(s, "\"rc\":null"));
    cr_assert(strstr(s, "\"error\":\"switch 127.0.0.1:1: connection refused\",\"exit\":3}"),
              "%s", s);
    free(s);
}

/* Text from the switch is not trusted to be UTF-8: the line stays valid JSON and
 * parses back with every field. */
Test(json, reply_with_bad_bytes_parses_back)
{
    receipt_ctx c = ctx_for("purchase", TERM_LANG_ID);
    Kks__TxnReply r = reply("purchase", "00");
    Kks__ItemLine bad = item_egg, *its[] = {&bad};
    json_error_t err;
    json_t *v;
    char *s;
    bad.name = "Telur \xE9\x01 \"1 kg\"";
    r.reason = "ok\xFF";
    r.items = its;
    r.n_items = 1;
    s = render(&c, &r, 1);
    v = json_loads(s, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(v, "%s at %d:%d: %s", err.text, err.line, err.column, s);
    cr_assert_str_eq(json_string_value(json_object_get(v, "reason")), "ok\xEF\xBF\xBD");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(v, "items"), 0), "name")),
                     "Telur \xEF\xBF\xBD\x01 \"1 kg\"");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(v, "balances"), "bpnt")),
                 235000);
    json_decref(v);
    free(s);
}

/* ------------------------------------------------------------------ arguments */

#define MAXARGS 40

typedef struct argv_buf {
    int argc;
    char *argv[MAXARGS + 1];
} argv_buf;

/* Splits a command line on spaces into writable strings. */
static void split(argv_buf *b, const char *line)
{
    char *copy = strdup(line), *save = NULL;
    b->argc = 0;
    b->argv[b->argc++] = strdup("kks-terminal");
    for (char *t = strtok_r(copy, " ", &save); t && b->argc < MAXARGS;
         t = strtok_r(NULL, " ", &save))
        b->argv[b->argc++] = strdup(t);
    b->argv[b->argc] = NULL;
    free(copy);
}

static void argv_free(argv_buf *b)
{
    for (int i = 0; i < b->argc; i++)
        free(b->argv[i]);
}

static const term_defaults defaults = {.sw = "127.0.0.1:9", .pki = "/tmp/pki",
                                       .state = "/tmp/state", .now = NOW};

/* Parses a command line. a's string options point into argv: only the
 * fixed-size fields (id, pan, pin, date...) are valid after this returns. */
static int parse(const char *line, term_args *a, char *why)
{
    argv_buf b;
    int rc;
    split(&b, line);
    rc = targs_parse(a, b.argc, b.argv, &defaults, why, 256);
    argv_free(&b);
    return rc;
}

Test(args, a_good_withdrawal_with_options_after_the_command)
{
    term_args a;
    char why[256];
    argv_buf b;
    split(&b, "withdraw --id EW-127101-0001 --pan 5221840000000019 --pin 246810 "
              "--amount 200000 --json --lang en --stan 7 --date 2026-11-20 "
              "--timeout 2500 --wallet bpnt --state /tmp/x");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &defaults, why, sizeof why), TERM_EXIT_OK, "%s",
                 why);
    cr_assert_eq(a.cmd, TERM_CMD_WITHDRAW);
    cr_assert_str_eq(a.id, TID);
    cr_assert_str_eq(a.pan, PAN);
    cr_assert_str_eq(a.pin, PIN);
    cr_assert_eq(a.amount, 200000);
    cr_assert(a.json);
    cr_assert_eq(a.lang, TERM_LANG_EN);
    cr_assert_eq(a.stan, 7);
    cr_assert_str_eq(a.date, "2026-11-20");
    cr_assert_eq(a.timeout_ms, 2500);
    cr_assert_str_eq(a.wallet, "bpnt");
    cr_assert_str_eq(a.state, "/tmp/x");
    cr_assert_str_eq(a.sw, "127.0.0.1:9", "from the environment");
    targs_wipe(&a);
    cr_assert_eq(a.pin[0], '\0');
    argv_free(&b);
}

Test(args, defaults_date_in_wib_and_state)
{
    term_args a;
    char why[256];
    term_defaults d = defaults;
    argv_buf b;
    /* 2026-11-24 17:30 UTC is already the 25th in WIB. */
    d.now = (time_t)1795541400;
    split(&b, "--id ATM-BNI-0001 balance --pan 522184000000 --pin 000000");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &d, why, sizeof why), TERM_EXIT_OK, "%s", why);
    argv_free(&b);
    cr_assert_str_eq(a.date, "2026-11-25");
    cr_assert_str_eq(a.state, "/tmp/state");
    cr_assert_eq(a.timeout_ms, 10000);
    cr_assert_eq(a.lang, TERM_LANG_ID);
    cr_assert_eq(a.stan, 0, "allocate");
    d.state = NULL; /* no --state, no KKS_TERMINAL_STATE, no HOME: never the working directory */
    split(&b, "--id ATM-BNI-0001 balance --pan 522184000000 --pin 000000");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &d, why, sizeof why), TERM_EXIT_USAGE);
    argv_free(&b);
    cr_assert(strstr(why, "no state directory"), "%s", why);
    d.state = "/srv/state";
    split(&b, "--id BR-BNI-MEDAN-01 settle");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &d, why, sizeof why), TERM_EXIT_OK, "%s", why);
    argv_free(&b);
    cr_assert_str_eq(a.state, "/srv/state");
    cr_assert_eq(a.cmd, TERM_CMD_SETTLE);
}

Test(args, usage_errors_table)
{
    static const struct {
        const char *line, *why_has;
    } bad[] = {
        {"", "no command"},
        {"--id EW-1 fly", "unknown command fly"},
        {"--id EW-1 balance extra --pan 522184000000 --pin 123456", "unexpected argument"},
        {"--id EW-1 balance --pan 522184000000 --pin 123456 --bogus", "unknown option --bogus"},
        {"--id EW-1 balance --pan 522184000000 --pin", "needs a value"},
        {"balance --pan 522184000000 --pin 123456", "--id"},
        {"--id XX-1 balance --pan 522184000000 --pin 123456", "not a terminal ID"},
        {"--id ew-1 balance --pan 522184000000 --pin 123456", "not a terminal ID"},
        {"--id EW-1 balance --pan 52218400000 --pin 123456", "12 to 19 digits"},
        {"--id EW-1 balance --pan 52218400000000000000 --pin 123456", "12 to 19 digits"},
        {"--id EW-1 balance --pan 5221840000a0 --pin 123456", "12 to 19 digits"},
        {"--id EW-1 balance --pan 522184000000 --pin 12345", "6 digits"},
        {"--id EW-1 balance --pan 522184000000 --pin 1234567", "6 digits"},
        {"--id EW-1 balance --pan 522184000000 --pin 12345a", "6 digits"},
        {"--id EW-1 balance --pan 522184000000", "balance needs --pin"},
        {"--id EW-1 balance --pin 123456", "balance needs --pan"},
        {"--id EW-1 balance --pan 522184000000 --pin 123456 --amount 5", "--amount does not"},
        {"--id EW-1 withdraw --pan 522184000000 --pin 123456", "withdraw needs --amount"},
        {"--id EW-1 withdraw --pan 522184000000 --pin 123456 --amount 12.5", "digits only"},
        {"--id EW-1 withdraw --pan 522184000000 --pin 123456 --amount -5", "digits only"},
        {"--id EW-1 withdraw --pan 522184000000 --pin 123456 --amount Rp200.000",
         "digits only"},
        {"--id EW-1 withdraw --pan 522184000000 --pin 123456 --amount 1000000000000000",
         "below 10^15"},
        {"--id EW-1 withdraw --pan 522184000000 --pin 123456 --amount 5 --wallet cash",
         "pkh or bpnt"},
        {"--id EW-1 purchase --pan 522184000000 --pin 123456 --items beras:1", "A-Z"},
        {"--id EW-1 purchase --pan 522184000000 --pin 123456 --items BRS:0", "1 to 999"},
        {"--id EW-1 purchase --pan 522184000000 --pin 123456 --items BRS:1000", "1 to 999"},
        {"--id EW-1 purchase --pan 522184000000 --pin 123456 --items BRS:1,", "item 2"},
        {"--id EW-1 purchase --pan 522184000000 --pin 123456 --items BRS", "SKU:QTY"},
        {"--id EW-1 purchase --pan 522184000000 --pin 123456 --items ABCDEFGHIJKLMNOPQRSTU:1",
         "1 to 20"},
        {"--id EW-1 activate --pan 522184000000 --nik 127101560782 --pin 123456", "16 digits"},
        {"--id EW-1 activate --pan 522184000000 --nik 1271015607820001 --pin 123456 "
         "--pin-again 123457",
         "differ"},
        {"--id EW-1 pin-change --pan 522184000000 --pin 123456", "--new-pin"},
        {"--id EW-1 reverse", "reverse needs --stan"},
        {"--id EW-1 reverse --stan 0", "1 to 999999"},
        {"--id EW-1 reverse --stan 1000000", "1 to 999999"},
        {"--id EW-1 settle --stan 5", "--stan does not apply to settle"},
        {"--id EW-1 settle --date 2026-02-30", "real date"},
        {"--id EW-1 settle --lang fr", "id or en"},
        {"--id EW-1 settle --timeout 0", "--timeout"},
        {"--id EW-1 settle --switch nowhere", "HOST:PORT"},
        {"--id EW-1 balance --pan 522184000000 --pni 123456", "unknown option --pni"},
        {"--id EW-1 balance --pan 522184000000 123456", "unexpected argument (a number)"},
        {"--id EW-1 123456", "unknown command (a number)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        term_args a;
        char why[256];
        cr_assert_eq(parse(bad[i].line, &a, why), TERM_EXIT_USAGE, "accepted: %s", bad[i].line);
        cr_assert(strstr(why, bad[i].why_has), "'%s': reason '%s' lacks '%s'", bad[i].line,
                  why, bad[i].why_has);
        cr_assert_null(strstr(why, "123456"), "a PIN in a message: %s", why);
        cr_assert_eq(a.pin[0], '\0', "PIN wiped after a usage error");
    }
}

Test(args, no_switch_or_pki_is_a_usage_error)
{
    term_args a;
    char why[256];
    term_defaults d = {.state = "/tmp/state", .now = NOW};
    argv_buf b;
    split(&b, "--id EW-1 settle");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &d, why, sizeof why), TERM_EXIT_USAGE);
    cr_assert(strstr(why, "KKS_SWITCH"), "%s", why);
    argv_free(&b);
    split(&b, "--id EW-1 settle --switch 127.0.0.1:7000");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &d, why, sizeof why), TERM_EXIT_USAGE);
    cr_assert(strstr(why, "KKS_PKI"), "%s", why);
    argv_free(&b);
}

Test(args, items_limits)
{
    term_item items[TERM_MAX_ITEMS];
    size_t n = 0;
    char why[160], list[TERM_MAX_ITEMS * 8 + 16];
    size_t k = 0;
    cr_assert_eq(targs_items_parse("BRS-MED-5KG:2,TLR-1KG:999", items, &n, why, sizeof why), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(items[0].sku, "BRS-MED-5KG");
    cr_assert_eq(items[0].qty, 2);
    cr_assert_eq(items[1].qty, 999);
    for (int i = 0; i < TERM_MAX_ITEMS; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%sS%d:1", i ? "," : "", i);
    cr_assert_eq(targs_items_parse(list, items, &n, why, sizeof why), 0, "%s", why);
    cr_assert_eq(n, TERM_MAX_ITEMS);
    snprintf(list + k, sizeof list - k, ",X:1");
    cr_assert_eq(targs_items_parse(list, items, &n, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "at most 50"), "%s", why);
    cr_assert_eq(targs_items_parse("A:1,,B:2", items, &n, why, sizeof why), KKS_EINVAL);
    cr_assert_eq(targs_items_parse("A:01", items, &n, why, sizeof why), 0);
    cr_assert_eq(targs_items_parse("A:1x", items, &n, why, sizeof why), KKS_EINVAL);
}

Test(args, amounts_and_stans)
{
    int64_t v;
    uint32_t s;
    cr_assert_eq(targs_amount_parse("0", &v), 0, "zero is the switch's 13 to give");
    cr_assert_eq(v, 0);
    cr_assert_eq(targs_amount_parse("999999999999999", &v), 0);
    cr_assert_eq(v, 999999999999999LL);
    cr_assert_eq(targs_amount_parse("000000000000000001", &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(targs_amount_parse("99999999999999999999999", &v), KKS_EINVAL);
    cr_assert_eq(targs_amount_parse("", &v), KKS_EINVAL);
    cr_assert_eq(targs_amount_parse("+5", &v), KKS_EINVAL);
    cr_assert_eq(targs_amount_parse("5 ", &v), KKS_EINVAL);
    cr_assert_eq(targs_stan_parse("999999", &s), 0);
    cr_assert_eq(s, 999999);
    cr_assert_eq(targs_stan_parse("000001", &s), 0);
    cr_assert_eq(s, 1);
    cr_assert_eq(targs_stan_parse("1x", &s), KKS_EINVAL);
    cr_assert_eq(targs_pan_shape("522184000000"), 0);
    cr_assert_eq(targs_pan_shape("5221840000000000000"), 0);
    cr_assert_eq(targs_pan_shape("5221840000000000001"), 0, "Luhn is not checked here");
}

Test(args, pins_are_wiped_from_argv)
{
    term_args a;
    char why[256];
    argv_buf b;
    split(&b, "--id EW-1 pin-change --pan 522184000000 --pin 246810 --new-pin 135792");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &defaults, why, sizeof why), TERM_EXIT_OK,
                 "%s", why);
    cr_assert_str_eq(a.pin, "246810");
    cr_assert_str_eq(a.new_pin, "135792");
    for (int i = 0; i < b.argc; i++) {
        cr_assert_null(strstr(b.argv[i], "246810"), "argv[%d] still holds the PIN", i);
        cr_assert_null(strstr(b.argv[i], "135792"), "argv[%d] still holds the PIN", i);
    }
    argv_free(&b);
    targs_wipe(&a);
    cr_assert_eq(a.new_pin[0], '\0');
    /* Same for --pin=NNNNNN and a PIN that is refused. */
    split(&b, "--id EW-1 balance --pan 522184000000 --pin=98765");
    cr_assert_eq(targs_parse(&a, b.argc, b.argv, &defaults, why, sizeof why), TERM_EXIT_USAGE);
    for (int i = 0; i < b.argc; i++)
        cr_assert_null(strstr(b.argv[i], "98765"));
    argv_free(&b);
}

Test(args, activation_with_matching_pins_and_help)
{
    term_args a;
    char why[256];
    cr_assert_eq(parse("--id EW-1 activate --pan 522184000000 --nik 1271015607820001 "
                       "--pin 802613 --pin-again 802613",
                       &a, why),
                 TERM_EXIT_OK, "%s", why);
    cr_assert_str_eq(a.nik, "1271015607820001");
    cr_assert_eq(parse("purchase --help", &a, why), TERM_EXIT_OK);
    cr_assert(a.help);
    cr_assert_eq(a.cmd, TERM_CMD_PURCHASE);
    cr_assert(strstr(targs_usage(a.cmd), "--items SKU:QTY"));
    cr_assert(strstr(targs_usage(TERM_CMD_NONE), "pin-change --pan PAN --pin OLD --new-pin NEW"));
    cr_assert_eq(parse("--help", &a, why), TERM_EXIT_OK);
    cr_assert_eq(a.cmd, TERM_CMD_NONE);
    cr_assert_eq(parse("withdraw --pin 12 --help", &a, why), TERM_EXIT_OK, "--help wins");
    cr_assert_eq(a.cmd, TERM_CMD_WITHDRAW);
    cr_assert_eq(a.pin[0], '\0');
}

Test(args, help_through_term_cli_goes_to_stdout)
{
    argv_buf b;
    capture out, err;
    term_env env = {.defaults = {.state = "/tmp/state", .now = NOW}};
    char *o, *e;
    split(&b, "settle --help");
    cap_open(&out);
    cap_open(&err);
    env.out = out.f;
    env.err = err.f;
    cr_assert_eq(term_cli(&env, b.argc, b.argv), TERM_EXIT_OK);
    o = cap_close(&out);
    e = cap_close(&err);
    cr_assert(strstr(o, "usage: kks-terminal --id ID [options] settle [--date YYYY-MM-DD]"), "%s",
              o);
    cr_assert(strstr(o, "Exit codes:"));
    cr_assert_str_eq(e, "");
    free(o);
    free(e);
    argv_free(&b);

    split(&b, "--id EW-1 withdraw --pan 522184000000 --pin 123456 --amount 1,5");
    cap_open(&out);
    cap_open(&err);
    env.out = out.f;
    env.err = err.f;
    cr_assert_eq(term_cli(&env, b.argc, b.argv), TERM_EXIT_USAGE);
    o = cap_close(&out);
    e = cap_close(&err);
    cr_assert_str_eq(o, "", "nothing on stdout for a usage error");
    cr_assert(strstr(e, "kks-terminal: --amount"), "%s", e);
    cr_assert(strstr(e, "Try 'kks-terminal withdraw --help'"), "%s", e);
    free(o);
    free(e);
    argv_free(&b);
}

/* ------------------------------------------------------------------ journal */

TestSuite(journal, .init = mkdir_tmp, .fini = rm_tmp);

static journal_entry entry(const char *date, uint32_t stan, const char *type, const char *rc,
                           int64_t amount)
{
    journal_entry e = {0};
    snprintf(e.date, sizeof e.date, "%s", date);
    e.stan = stan;
    snprintf(e.type, sizeof e.type, "%s", type);
    snprintf(e.rc, sizeof e.rc, "%s", rc);
    e.amount = amount;
    snprintf(e.rrn, sizeof e.rrn, "%012u", stan);
    return e;
}

Test(journal, format_and_parse_round_trip)
{
    journal_entry e = entry("2026-11-24", 7, "withdraw", "00", 200000), back;
    char line[256];
    cr_assert_eq(journal_format(&e, line, sizeof line), 0);
    cr_assert_str_eq(line, "2026-11-24,000007,withdraw,00,200000,000000000007,0");
    cr_assert_eq(journal_parse(line, &back), 0);
    cr_assert_eq(memcmp(&e, &back, sizeof e), 0);
    cr_assert_eq(journal_parse("2026-11-24,000008,withdraw,,50000,,1\n", &back), 0);
    cr_assert_eq(back.rc[0], '\0');
    cr_assert(back.reversed);
    cr_assert_eq(journal_parse("2026-11-24,000008,withdraw,00,50000,x,2", &back), KKS_EINVAL);
    cr_assert_eq(journal_parse("2026-11-24,000008,withdraw,00,50000,x", &back), KKS_EINVAL);
    cr_assert_eq(journal_parse("2026-11-24,000008,withdraw,00,50000,x,0,9", &back), KKS_EINVAL);
    cr_assert_eq(journal_parse("2026-13-24,000008,withdraw,00,50000,x,0", &back), KKS_EINVAL);
    cr_assert_eq(journal_parse("2026-11-24,0,withdraw,00,50000,x,0", &back), KKS_EINVAL);
    cr_assert_eq(journal_parse("2026-11-24,1,withdraw,00,5e3,x,0", &back), KKS_EINVAL);
    snprintf(e.rrn, sizeof e.rrn, "12,4");
    cr_assert_eq(journal_format(&e, line, sizeof line), KKS_EINVAL, "a comma would split it");
}

Test(journal, record_totals_reversal_and_first_answer_stays)
{
    char path[128], *text;
    uint32_t count;
    int64_t total;
    int found;
    journal_entry e, got;

    e = entry("2026-11-24", 1, "withdraw", "00", 200000);
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    e = entry("2026-11-24", 2, "purchase", "00", 165000);
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    e = entry("2026-11-24", 3, "withdraw", "51", 900000); /* declined: not counted */
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    e = entry("2026-11-24", 4, "balance", "00", 0);
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    e = entry("2026-11-23", 9, "withdraw", "00", 50000); /* another day */
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    e = entry("2026-11-24", 5, "purchase", "00", 28000);
    cr_assert_eq(journal_record(dir, TID, &e), 0);

    cr_assert_eq(journal_totals(dir, TID, "2026-11-24", &count, &total), 0);
    cr_assert_eq(count, 3);
    cr_assert_eq(total, 393000);

    /* The same STAN again (the switch repeats its first reply, or says 94). */
    e = entry("2026-11-24", 1, "withdraw", "94", 200000);
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    cr_assert_eq(journal_find(dir, TID, "2026-11-24", 1, &got), 1);
    cr_assert_str_eq(got.rc, "00", "the first answer stays");

    cr_assert_eq(journal_mark_reversed(dir, TID, "2026-11-24", 5, &found), 0);
    cr_assert(found);
    cr_assert_eq(journal_mark_reversed(dir, TID, "2026-11-24", 5, &found), 0, "twice is fine");
    cr_assert_eq(journal_mark_reversed(dir, TID, "2026-11-24", 77, &found), 0);
    cr_assert_not(found);
    cr_assert_eq(journal_totals(dir, TID, "2026-11-24", &count, &total), 0);
    cr_assert_eq(count, 2);
    cr_assert_eq(total, 365000);
    cr_assert_eq(journal_totals(dir, TID, "2026-11-25", &count, &total), 0);
    cr_assert_eq(count, 0);
    cr_assert_eq(total, 0);

    /* A transaction with no reply, reversed by the terminal, then its answer. */
    e = entry("2026-11-24", 6, "withdraw", "", 100000);
    e.rrn[0] = '\0';
    e.reversed = 1;
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    e = entry("2026-11-24", 6, "withdraw", "00", 100000);
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    cr_assert_eq(journal_find(dir, TID, "2026-11-24", 6, &got), 1);
    cr_assert_str_eq(got.rc, "00");
    cr_assert(got.reversed, "stays reversed");
    cr_assert_eq(journal_totals(dir, TID, "2026-11-24", &count, &total), 0);
    cr_assert_eq(count, 2);

    snprintf(path, sizeof path, "%s/%s.journal", dir, TID);
    text = slurp(path);
    cr_assert_str_eq(text, "2026-11-24,000001,withdraw,00,200000,000000000001,0\n"
                           "2026-11-24,000002,purchase,00,165000,000000000002,0\n"
                           "2026-11-24,000003,withdraw,51,900000,000000000003,0\n"
                           "2026-11-24,000004,balance,00,0,000000000004,0\n"
                           "2026-11-23,000009,withdraw,00,50000,000000000009,0\n"
                           "2026-11-24,000005,purchase,00,28000,000000000005,1\n"
                           "2026-11-24,000006,withdraw,00,100000,000000000006,1\n");
    free(text);
}

Test(journal, damaged_lines_are_kept_and_ignored)
{
    char path[128], *text;
    FILE *f;
    uint32_t count;
    int64_t total;
    int found;
    snprintf(path, sizeof path, "%s/%s.journal", dir, TID);
    f = fopen(path, "w");
    fputs("garbage line\n2026-11-24,000001,withdraw,00,100,r,0\n2026-11-24,000002,purchase,00\n",
          f);
    fclose(f);
    cr_assert_eq(journal_totals(dir, TID, "2026-11-24", &count, &total), 0);
    cr_assert_eq(count, 1);
    cr_assert_eq(total, 100);
    cr_assert_eq(journal_mark_reversed(dir, TID, "2026-11-24", 1, &found), 0);
    text = slurp(path);
    cr_assert_str_eq(text, "garbage line\n2026-11-24,000001,withdraw,00,100,r,1\n"
                           "2026-11-24,000002,purchase,00\n");
    free(text);
}

Test(journal, totals_overflow_is_an_error)
{
    journal_entry e = entry("2026-11-24", 1, "withdraw", "00", INT64_MAX);
    uint32_t count;
    int64_t total;
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    e = entry("2026-11-24", 2, "withdraw", "00", 1);
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    cr_assert_eq(journal_totals(dir, TID, "2026-11-24", &count, &total), KKS_EINVAL);
}

/* ------------------------------------------------------------------ STAN */

TestSuite(stan, .init = mkdir_tmp, .fini = rm_tmp);

Test(stan, counts_per_date_and_resets)
{
    char path[128], *text;
    uint32_t s;
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-24", &s), 0);
    cr_assert_eq(s, 1);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-24", &s), 0);
    cr_assert_eq(s, 2);
    snprintf(path, sizeof path, "%s/%s.stan", dir, TID);
    text = slurp(path);
    cr_assert_str_eq(text, "2026-11-24 2\n");
    free(text);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-25", &s), 0);
    cr_assert_eq(s, 1, "a new date starts at 1");
    cr_assert_eq(journal_stan_next(dir, "ATM-BNI-0001", "2026-11-25", &s), 0);
    cr_assert_eq(s, 1, "per terminal");
    /* --stan N moves the counter forward, never back. */
    cr_assert_eq(journal_stan_note(dir, TID, "2026-11-25", 40), 0);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-25", &s), 0);
    cr_assert_eq(s, 41);
    cr_assert_eq(journal_stan_note(dir, TID, "2026-11-25", 3), 0);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-25", &s), 0);
    cr_assert_eq(s, 42);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(stan, journal_and_exhaustion_and_damage)
{
    char path[128];
    FILE *f;
    uint32_t s;
    journal_entry e = entry("2026-11-24", 500, "balance", "00", 0);
    /* The STAN file was lost but the journal remembers. */
    cr_assert_eq(journal_record(dir, TID, &e), 0);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-24", &s), 0);
    cr_assert_eq(s, 501);
    snprintf(path, sizeof path, "%s/%s.stan", dir, TID);
    f = fopen(path, "w");
    fputs("2026-11-24 999999\n", f);
    fclose(f);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-24", &s), KKS_EEXISTS);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-25", &s), 0);
    cr_assert_eq(s, 1);
    f = fopen(path, "w");
    fputs("rubbish\n", f);
    fclose(f);
    cr_assert_eq(journal_stan_next(dir, TID, "2026-11-25", &s), KKS_EIO, "never guess");
}

Test(stan, concurrent_processes_never_share_a_stan)
{
    enum { PROCS = 4, EACH = 40 };
    int fds[2];
    uint8_t seen[PROCS * EACH + 1] = {0};
    cr_assert_eq(pipe(fds), 0);
    for (int p = 0; p < PROCS; p++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            for (int i = 0; i < EACH; i++) {
                uint32_t s = 0;
                if (journal_stan_next(dir, TID, "2026-11-24", &s) < 0)
                    _exit(1);
                if (write(fds[1], &s, sizeof s) != sizeof s)
                    _exit(1);
            }
            _exit(0);
        }
    }
    close(fds[1]);
    uint32_t s;
    int n = 0;
    while (read(fds[0], &s, sizeof s) == sizeof s) {
        cr_assert(s >= 1 && s <= PROCS * EACH, "stan %u", s);
        cr_assert_not(seen[s], "stan %u handed out twice", s);
        seen[s] = 1;
        n++;
    }
    close(fds[0]);
    for (int p = 0; p < PROCS; p++) {
        int status;
        wait(&status);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    cr_assert_eq(n, PROCS * EACH);
}

/* ------------------------------------------------------------------ against a fake switch */

enum fake_mode {
    FAKE_ANSWER,  /* approve (or decline with F.decline) */
    FAKE_SILENT,  /* keep the request and answer only when its reversal comes */
    FAKE_ERROR,   /* an Error envelope: the terminal identity refused */
    FAKE_BAD_STAN /* a reply for another STAN */
};

static struct fake {
    uv_loop_t loop;
    SSL_CTX *sctx;
    kks_server *srv;
    char pki[128], state[128], addr[64];
    enum fake_mode mode;
    const char *decline;  /* rc to answer instead of 00 */
    int ack_reversals;    /* 0: never acknowledge a reversal */
    int txns, reversals, settles;
    /* the last transaction as the switch saw it */
    char terminal[48], date[16], type[16], pan[24], nik[20], wallet[8], pin[13], new_pin[13];
    uint32_t stan;
    int64_t amount;
    size_t n_items;
    char sku0[24];
    uint32_t qty0;
    /* the last reversal and settlement */
    uint32_t rev_stan;
    char rev_date[16];
    uint32_t set_count;
    int64_t set_total;
    int64_t switch_total; /* what the switch claims at settlement; -1: echo */
    kks_conn *held;
    uint64_t held_id;
} F;

static const struct {
    const char *sku, *name;
    int64_t price;
} catalogue[] = {{"BRS-MED-5KG", "Beras medium 5 kg", 68500},
                 {"TLR-1KG", "Telur ayam ras 1 kg", 28000}};

static void decode_pin(const ProtobufCBinaryData *b, const char *pan, char out[13])
{
    uint8_t tmk[16], tpk[16];
    out[0] = '\0';
    if (b->len != 16)
        return;
    cr_assert_eq(kks_pki_load_key(F.pki, "tmk", tmk, sizeof tmk), 0);
    cr_assert_eq(kks_tpk_derive(tmk, TID, tpk), 0);
    if (kks_pinblock_decode(tpk, b->data, pan, out) < 0)
        snprintf(out, 13, "BAD");
}

static void answer_txn(kks_conn *c, uint64_t id, const Kks__TxnRequest *t)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TxnReply r = KKS__TXN_REPLY__INIT;
    Kks__ItemLine lines[TERM_MAX_ITEMS], *plines[TERM_MAX_ITEMS];
    Kks__StatementLine sl = KKS__STATEMENT_LINE__INIT, *psl[] = {&sl};
    char rrn[16];
    snprintf(rrn, sizeof rrn, "%012u", 100 + F.txns);
    r.rc = F.decline ? (char *)F.decline : "00";
    r.reason = F.decline ? "declined by the fake switch" : "approved";
    r.stan = F.mode == FAKE_BAD_STAN ? t->stan + 1 : t->stan;
    r.rrn = rrn;
    r.type = t->type;
    if (!F.decline) {
        r.auth_code = "Z9Y8X7";
        r.has_balances = 1;
        r.pkh = 750000;
        r.bpnt = 400000;
    }
    if (strcmp(t->type, "withdraw") == 0 && !F.decline) {
        r.amount = t->amount;
        r.pkh -= t->amount;
        r.wallet = "pkh";
    }
    if (strcmp(t->type, "purchase") == 0) {
        for (size_t i = 0; i < t->n_items && i < TERM_MAX_ITEMS; i++) {
            kks__item_line__init(&lines[i]);
            lines[i].sku = t->items[i]->sku;
            lines[i].name = t->items[i]->sku;
            lines[i].unit_price = 1000;
            for (size_t k = 0; k < sizeof catalogue / sizeof catalogue[0]; k++)
                if (strcmp(catalogue[k].sku, t->items[i]->sku) == 0) {
                    lines[i].name = (char *)catalogue[k].name;
                    lines[i].unit_price = catalogue[k].price;
                }
            lines[i].qty = t->items[i]->qty;
            lines[i].total = lines[i].unit_price * lines[i].qty;
            if (!F.decline)
                r.amount += lines[i].total;
            plines[i] = &lines[i];
        }
        r.items = plines;
        r.n_items = t->n_items;
        r.bpnt -= r.amount;
        r.wallet = "bpnt";
    }
    if (strcmp(t->type, "statement") == 0) {
        sl.at = "2026-11-20T01:00:00Z";
        sl.wallet = "bpnt";
        sl.amount = 400000;
        sl.kind = "credit";
        sl.ref = "bpnt:2026-11..12";
        r.statement = psl;
        r.n_statement = 1;
    }
    rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    rep.txn_reply = &r;
    kks_conn_reply(c, id, &rep);
}

static void fake_on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    if (req->body_case == KKS__ENVELOPE__BODY_TXN) {
        const Kks__TxnRequest *t = req->txn;
        F.txns++;
        snprintf(F.terminal, sizeof F.terminal, "%s", t->terminal);
        snprintf(F.date, sizeof F.date, "%s", t->local_date);
        snprintf(F.type, sizeof F.type, "%s", t->type);
        snprintf(F.pan, sizeof F.pan, "%s", t->pan);
        snprintf(F.nik, sizeof F.nik, "%s", t->nik);
        snprintf(F.wallet, sizeof F.wallet, "%s", t->wallet);
        F.stan = t->stan;
        F.amount = t->amount;
        F.n_items = t->n_items;
        if (t->n_items) {
            snprintf(F.sku0, sizeof F.sku0, "%s", t->items[0]->sku);
            F.qty0 = t->items[0]->qty;
        }
        decode_pin(&t->pin_block, t->pan, F.pin);
        decode_pin(&t->new_pin_block, t->pan, F.new_pin);
        cr_assert_eq(strcmp(kks_conn_identity(c), t->terminal), 0, "the CN is the terminal");
        if (F.mode == FAKE_SILENT) {
            kks_conn_ref(c);
            F.held = c;
            F.held_id = req->id;
            return;
        }
        if (F.mode == FAKE_ERROR) {
            Kks__Error er = KKS__ERROR__INIT;
            er.code = KKS_EPEERROLE;
            er.message = "terminal identity refused: the request names another terminal";
            rep.body_case = KKS__ENVELOPE__BODY_ERROR;
            rep.error = &er;
            kks_conn_reply(c, req->id, &rep);
            return;
        }
        answer_txn(c, req->id, t);
        return;
    }
    if (req->body_case == KKS__ENVELOPE__BODY_REVERSAL) {
        Kks__ReversalReply rr = KKS__REVERSAL_REPLY__INIT;
        F.reversals++;
        F.rev_stan = req->reversal->stan;
        snprintf(F.rev_date, sizeof F.rev_date, "%s", req->reversal->local_date);
        if (F.held) { /* the original's reply arrives late, after the timeout */
            Kks__TxnRequest t = KKS__TXN_REQUEST__INIT;
            t.type = F.type;
            t.stan = F.stan;
            t.amount = F.amount;
            answer_txn(F.held, F.held_id, &t);
            kks_conn_unref(F.held);
            F.held = NULL;
        }
        if (!F.ack_reversals) { /* "not now": the terminal must try again */
            rr.rc = "96";
            rr.reason = "database locked";
            rep.body_case = KKS__ENVELOPE__BODY_REVERSAL_REPLY;
            rep.reversal_reply = &rr;
            kks_conn_reply(c, req->id, &rep);
            return;
        }
        rr.rc = "00";
        rr.reason = "reversed";
        rr.moved = 1;
        rep.body_case = KKS__ENVELOPE__BODY_REVERSAL_REPLY;
        rep.reversal_reply = &rr;
        kks_conn_reply(c, req->id, &rep);
        return;
    }
    if (req->body_case == KKS__ENVELOPE__BODY_TERMINAL_SETTLE) {
        Kks__TerminalSettleReply sr = KKS__TERMINAL_SETTLE_REPLY__INIT;
        F.settles++;
        F.set_count = req->terminal_settle->count;
        F.set_total = req->terminal_settle->total;
        sr.rc = "00";
        sr.count = F.set_count;
        sr.total = F.switch_total >= 0 ? F.switch_total : F.set_total;
        sr.match = sr.total == F.set_total;
        rep.body_case = KKS__ENVELOPE__BODY_TERMINAL_SETTLE_REPLY;
        rep.terminal_settle_reply = &sr;
        kks_conn_reply(c, req->id, &rep);
        return;
    }
    {
        Kks__Error er = KKS__ERROR__INIT;
        er.code = KKS_EUNEXPECTED;
        er.message = "not in this fake";
        rep.body_case = KKS__ENVELOPE__BODY_ERROR;
        rep.error = &er;
        kks_conn_reply(c, req->id, &rep);
    }
}

static void fake_setup(void)
{
    kks_server_opts o = {.accept_roles = KKS_ROLE_TERMINAL, .on_request = fake_on_request};
    mkdir_tmp();
    memset(&F, 0, sizeof F);
    F.ack_reversals = 1;
    F.switch_total = -1;
    kks_log_set_level(KKS_LOG_ERROR);
    snprintf(F.pki, sizeof F.pki, "%s/pki", dir);
    snprintf(F.state, sizeof F.state, "%s/state", dir);
    cr_assert_eq(kks_pki_init(F.pki), 0);
    cr_assert_eq(kks_pki_terminal(F.pki, TID), 0);
    cr_assert_eq(kks_tls_ctx_from_pki(&F.sctx, 1, F.pki, "switch"), 0);
    uv_loop_init(&F.loop);
    cr_assert_eq(kks_server_new(&F.loop, F.sctx, "127.0.0.1:0", &o, &F.srv), 0);
    snprintf(F.addr, sizeof F.addr, "%s", kks_server_address(F.srv));
}

static void drained(void *ud)
{
    *(int *)ud = 1;
}

static void fake_teardown(void)
{
    int done = 0;
    if (F.held) {
        Kks__Envelope rep = KKS__ENVELOPE__INIT;
        Kks__Error er = KKS__ERROR__INIT;
        er.message = "too late";
        rep.body_case = KKS__ENVELOPE__BODY_ERROR;
        rep.error = &er;
        kks_conn_reply(F.held, F.held_id, &rep);
        kks_conn_unref(F.held);
    }
    kks_server_drain(F.srv, 1000, drained, &done);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    kks_server_free(F.srv);
    cr_assert_eq(uv_loop_close(&F.loop), 0, "handles left open");
    SSL_CTX_free(F.sctx);
    rm_tmp();
}

TestSuite(cli, .init = fake_setup, .fini = fake_teardown, .timeout = 60);

typedef struct result {
    int rc;
    char *out, *err;
} result;

/* Runs kks-terminal with the fake switch's address, PKI and a state dir. */
static result term(const char *args)
{
    char line[1024];
    argv_buf b;
    capture out, err;
    term_env env = {.loop = &F.loop,
                    .defaults = {.now = NOW},
                    .retry = {.first_ms = 20, .max_ms = 80, .total_ms = 400}};
    result r;
    snprintf(line, sizeof line,
             "--id " TID " --switch %s --pki %s --state %s --date 2026-11-24 --timeout 300 %s",
             F.addr, F.pki, F.state, args);
    split(&b, line);
    cap_open(&out);
    cap_open(&err);
    env.out = out.f;
    env.err = err.f;
    r.rc = term_cli(&env, b.argc, b.argv);
    r.out = cap_close(&out);
    r.err = cap_close(&err);
    argv_free(&b);
    return r;
}

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static char *journal_text(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.journal", F.state, TID);
    return slurp(path);
}

Test(cli, balance_sends_a_pin_block_and_prints_a_receipt)
{
    result r = term("balance --pan " PAN " --pin " PIN);
    char *j;
    cr_assert_eq(r.rc, TERM_EXIT_OK, "%s", r.err);
    cr_assert_eq(F.txns, 1);
    cr_assert_str_eq(F.terminal, TID);
    cr_assert_str_eq(F.date, "2026-11-24");
    cr_assert_str_eq(F.type, "balance");
    cr_assert_str_eq(F.pan, PAN, "the PAN goes as typed");
    cr_assert_str_eq(F.pin, PIN, "the PIN block decodes under the TPK");
    cr_assert_eq(F.stan, 1);
    cr_assert(strstr(r.out, "CEK SALDO"), "%s", r.out);
    cr_assert(strstr(r.out, "Rp750.000"));
    sample("balance against the fake switch (id)", r.out);
    j = journal_text();
    cr_assert_str_eq(j, "2026-11-24,000001,balance,00,0,000000000101,0\n");
    cr_assert_null(strstr(r.out, PIN));
    cr_assert_null(strstr(r.err, PIN));
    free(j);
    result_free(&r);

    r = term("--json balance --pan " PAN " --pin " PIN);
    cr_assert_eq(r.rc, TERM_EXIT_OK);
    cr_assert_eq(F.stan, 2, "next STAN");
    cr_assert_eq(r.out[0], '{');
    cr_assert(strstr(r.out, "\"stan\":2,"), "%s", r.out);
    cr_assert(strstr(r.out, "\"balances\":{\"pkh\":750000,\"bpnt\":400000}"));
    cr_assert_eq(strchr(r.out, '\n'), r.out + strlen(r.out) - 1, "only the JSON on stdout");
    result_free(&r);
}

Test(cli, withdrawal_declined_then_approved_then_settled)
{
    result r;
    char *j;
    F.decline = "51";
    r = term("withdraw --pan " PAN " --pin " PIN " --amount 900000 --lang en");
    cr_assert_eq(r.rc, TERM_EXIT_DECLINED);
    cr_assert(strstr(r.out, "Insufficient balance"), "%s", r.out);
    cr_assert_eq(F.amount, 900000);
    result_free(&r);
    F.decline = NULL;
    r = term("withdraw --pan " PAN " --pin " PIN " --amount 200000");
    cr_assert_eq(r.rc, TERM_EXIT_OK, "%s", r.err);
    sample("withdraw against the fake switch (id)", r.out);
    result_free(&r);
    r = term("purchase --pan " PAN " --pin " PIN " --items BRS-MED-5KG:2,TLR-1KG:1");
    cr_assert_eq(r.rc, TERM_EXIT_OK, "%s", r.err);
    cr_assert_eq(F.n_items, 2);
    cr_assert_str_eq(F.sku0, "BRS-MED-5KG");
    cr_assert_eq(F.qty0, 2);
    cr_assert(strstr(r.out, "Rp165.000"), "%s", r.out);
    sample("purchase against the fake switch (id)", r.out);
    result_free(&r);
    j = journal_text();
    cr_assert_str_eq(j, "2026-11-24,000001,withdraw,51,900000,000000000101,0\n"
                        "2026-11-24,000002,withdraw,00,200000,000000000102,0\n"
                        "2026-11-24,000003,purchase,00,165000,000000000103,0\n");
    free(j);

    r = term("settle");
    cr_assert_eq(r.rc, TERM_EXIT_OK, "%s%s", r.out, r.err);
    cr_assert_eq(F.set_count, 2);
    cr_assert_eq(F.set_total, 365000);
    cr_assert(strstr(r.out, "COCOK"));
    result_free(&r);
    F.switch_total = 165000;
    r = term("--json settle");
    cr_assert_eq(r.rc, TERM_EXIT_DECLINED, "totals differ: exit 1");
    cr_assert(strstr(r.out, "\"match\":false"), "%s", r.out);
    result_free(&r);

    /* Reversing the withdrawal takes it out of the totals. */
    F.switch_total = -1;
    r = term("reverse --stan 2");
    cr_assert_eq(r.rc, TERM_EXIT_OK, "%s", r.err);
    cr_assert_eq(F.rev_stan, 2);
    cr_assert_str_eq(F.rev_date, "2026-11-24");
    cr_assert(strstr(r.out, "000000000102"), "the original's RRN from the journal");
    result_free(&r);
    r = term("settle");
    cr_assert_eq(F.set_count, 1);
    cr_assert_eq(F.set_total, 165000);
    result_free(&r);
}

Test(cli, activation_and_pin_change_blocks)
{
    result r = term("activate --pan " PAN " --nik 1271015607820001 --pin 802613 "
                    "--pin-again 802613");
    char *j;
    cr_assert_eq(r.rc, TERM_EXIT_OK, "%s", r.err);
    cr_assert_str_eq(F.type, "activate");
    cr_assert_str_eq(F.nik, "1271015607820001");
    cr_assert_str_eq(F.pin, "802613", "activate: the new PIN in pin_block");
    cr_assert_str_eq(F.new_pin, "");
    result_free(&r);
    r = term("pin-change --pan " PAN " --pin " PIN " --new-pin " NEWPIN);
    cr_assert_eq(r.rc, TERM_EXIT_OK, "%s", r.err);
    cr_assert_str_eq(F.type, "pin_change");
    cr_assert_str_eq(F.pin, PIN);
    cr_assert_str_eq(F.new_pin, NEWPIN);
    result_free(&r);
    r = term("statement --pan " PAN " --pin " PIN " --lang en");
    cr_assert_eq(r.rc, TERM_EXIT_OK);
    cr_assert(strstr(r.out, "BPNT CREDIT"), "%s", r.out);
    result_free(&r);
    j = journal_text();
    cr_assert_null(strstr(j, PIN));
    cr_assert_null(strstr(j, NEWPIN));
    cr_assert_null(strstr(j, "802613"));
    free(j);
    /* Two different PINs: refused before anything is sent. */
    r = term("activate --pan " PAN " --nik 1271015607820001 --pin 802613 --pin-again 802614");
    cr_assert_eq(r.rc, TERM_EXIT_USAGE);
    cr_assert_eq(F.txns, 3);
    cr_assert(strstr(r.err, "differ"));
    cr_assert_null(strstr(r.err, "80261"));
    result_free(&r);
}

Test(cli, bad_luhn_is_sent_for_the_switch_to_answer)
{
    result r = term("balance --pan 5221840000000018 --pin " PIN);
    cr_assert_eq(r.rc, TERM_EXIT_OK);
    cr_assert_eq(F.txns, 1);
    cr_assert_str_eq(F.pan, "5221840000000018");
    result_free(&r);
}

Test(cli, no_reply_to_a_withdrawal_reverses_it_and_exits_3)
{
    result r;
    char *j;
    F.mode = FAKE_SILENT;
    r = term("withdraw --pan " PAN " --pin " PIN " --amount 200000");
    cr_assert_eq(r.rc, TERM_EXIT_PEER, "%s", r.err);
    cr_assert_eq(F.reversals, 1);
    cr_assert_eq(F.rev_stan, 1);
    cr_assert_str_eq(F.rev_date, "2026-11-24");
    cr_assert(strstr(r.out, "TRANSAKSI DIBATALKAN"), "%s", r.out);
    cr_assert(strstr(r.err, "reversal of STAN 000001 acknowledged"), "%s", r.err);
    sample("withdraw with no reply, reversed (id, from a run)", r.out);
    j = journal_text();
    cr_assert_str_eq(j, "2026-11-24,000001,withdraw,,200000,,1\n");
    free(j);
    result_free(&r);

    /* Settlement leaves it out; a balance inquiry with no reply is not reversed. */
    F.mode = FAKE_ANSWER;
    r = term("settle");
    cr_assert_eq(F.set_count, 0);
    result_free(&r);
    F.mode = FAKE_SILENT;
    r = term("--json balance --pan " PAN " --pin " PIN);
    cr_assert_eq(r.rc, TERM_EXIT_PEER);
    cr_assert_eq(F.reversals, 1);
    cr_assert(strstr(r.out, "\"error\":"), "%s", r.out);
    result_free(&r);
}

Test(cli, reversal_never_acknowledged_stays_pending)
{
    result r;
    F.mode = FAKE_SILENT;
    F.ack_reversals = 0;
    r = term("--json purchase --pan " PAN " --pin " PIN " --items TLR-1KG:1");
    cr_assert_eq(r.rc, TERM_EXIT_PEER);
    cr_assert_geq(F.reversals, 2, "repeated");
    cr_assert(strstr(r.out, "\"status\":\"pending\""), "%s", r.out);
    result_free(&r);
}

Test(cli, error_envelope_and_wrong_stan)
{
    result r;
    F.mode = FAKE_ERROR;
    r = term("withdraw --pan " PAN " --pin " PIN " --amount 50000");
    cr_assert_eq(r.rc, TERM_EXIT_PEER);
    cr_assert(strstr(r.err, "terminal identity refused"), "%s", r.err);
    cr_assert_eq(F.reversals, 0, "an Error means the switch did not process it");
    result_free(&r);
    F.mode = FAKE_BAD_STAN;
    r = term("withdraw --pan " PAN " --pin " PIN " --amount 50000");
    cr_assert_eq(r.rc, TERM_EXIT_PEER);
    cr_assert_eq(F.reversals, 1, "a garbled answer to money is reversed");
    result_free(&r);
}

Test(cli, unreachable_switch_and_missing_credentials)
{
    result r;
    char line[600];
    snprintf(F.addr, sizeof F.addr, "127.0.0.1:1");
    r = term("--json withdraw --pan " PAN " --pin " PIN " --amount 50000");
    cr_assert_eq(r.rc, TERM_EXIT_PEER);
    cr_assert_eq(F.reversals, 0, "never sent, nothing to reverse");
    cr_assert(strstr(r.out, "\"error\":\"switch 127.0.0.1:1:"), "%s", r.out);
    result_free(&r);
    snprintf(line, sizeof line, "--pki %s/nowhere balance --pan " PAN " --pin " PIN, dir);
    r = term(line);
    cr_assert_eq(r.rc, TERM_EXIT_USAGE);
    cr_assert(strstr(r.err, "PIN key"), "%s", r.err);
    result_free(&r);
}

Test(cli, given_stan_is_used_and_repeated_reply_is_journaled_once)
{
    result r = term("--stan 77 withdraw --pan " PAN " --pin " PIN " --amount 100000");
    char *j;
    cr_assert_eq(r.rc, TERM_EXIT_OK);
    cr_assert_eq(F.stan, 77);
    result_free(&r);
    r = term("--stan 77 withdraw --pan " PAN " --pin " PIN " --amount 100000");
    cr_assert_eq(F.stan, 77);
    result_free(&r);
    r = term("balance --pan " PAN " --pin " PIN);
    cr_assert_eq(F.stan, 78, "automatic STANs continue after the one given");
    result_free(&r);
    j = journal_text();
    cr_assert_str_eq(j, "2026-11-24,000077,withdraw,00,100000,000000000101,0\n"
                        "2026-11-24,000078,balance,00,0,000000000103,0\n");
    free(j);
}
