/* End to end: authorisation through the real switch and issuer, with a test
 * terminal speaking the protocol directly (mutual TLS with its own
 * certificate, PIN blocks under its own TPK). One test per family of rules
 * in SPEC §7 and rows of SPEC §12. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "e2e_util.h"
#include "kc_txn.h"
#include "kks_err.h"
#include "kks_pin.h"
#include "kks_pki.h"
#include "kks_rc.h"

#define EW "EW-127101-0001"
#define ATM "ATM-BNI-0001"
#define BR "BR-BNI-MEDAN-01"
#define KK_A "1271011502210001"
#define NIK_A "1271015607820001"
#define KK_B "1271012001190002"
#define NIK_B "1271011205700003"
#define PIN_A "482915"
#define PIN_B "730164"
#define DAY "2026-11-24"

static char pan_a[20], pan_b[20];

static const char header[] =
    "kk,nik,name,birth_date,sex,address,kelurahan,kecamatan,city_code,decile,bank,pkh_pregnant,"
    "pkh_early_childhood,pkh_sd,pkh_smp,pkh_sma,pkh_disability,pkh_elderly,bpnt\n";

/* kksctl --json ARGS... (ending at the first NULL) against E's daemons. */
#define ctl(out, ...) e2e_ctl(out, E2E_CTL_JSON, __VA_ARGS__)



/* Two families with handed-over cards, PKH and BPNT credited. */
static void world(void)
{
    char path[400], *out = NULL;
    e2e_setup();
    E.metrics = 1; /* --metrics 127.0.0.1:0 on both daemons */
    const char *ids[] = {EW, ATM, BR, "EW-127101-0002"};
    for (int i = 0; i < 4; i++) {
        char *argv[] = {(char *)e2e_bin("kksctl"), "pki", "terminal", "--dir", E.pki, "--id",
                        (char *)ids[i], NULL};
        cr_assert_eq(e2e_run(NULL, argv), 0);
    }
    e2e_start_issuer();
    E.today = DAY; /* the switch's business date: limits, policy and settlement follow it */
    e2e_start_switch();
    snprintf(path, sizeof path, "%s/fam.csv", E.dir);
    char rows[2048];
    snprintf(rows, sizeof rows,
             "%s%s,%s,Tetty Br Hutapea,1982-07-16,P,Jl. Bhayangkara No. 7,Teladan Barat,"
             "Medan Kota,1271,3,BNI,0,2,0,0,0,0,0,1\n"
             "%s,%s,Togar Simanjuntak,1970-05-12,L,Jl. Sutomo No. 1,Teladan Barat,Medan Kota,"
             "1271,1,BRI,0,0,1,1,0,0,1,1\n",
             header, KK_A, NIK_A, KK_B, NIK_B);
    e2e_write_file(path, rows);
    cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0), 0, "%s", out);
    free(out);
    const char *banks[] = {"BNI", "BRI"};
    char *pans[] = {pan_a, pan_b};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/print-%s.csv", E.dir, banks[i]);
        cr_assert_eq(ctl(&out, "print", "--bank", banks[i], "--out", path), 0, "%s", out);
        free(out);
        e2e_first_pan(path, pans[i]);
        cr_assert_eq(ctl(&out, "handover", "--pan", pans[i], "--site", "Kantor Camat Medan Kota",
                         "--docs", "undangan,ktp,kk"),
                     0, "%s", out);
        free(out);
    }
    /* PKH stage 4: A has 2 early-childhood children (2 x 750,000), B sd + smp + elderly. */
    snprintf(path, sizeof path, "%s/pkh.csv", E.dir);
    snprintf(rows, sizeof rows, "program,period,kk,amount\npkh,2026-T4,%s,1500000\n"
                                "pkh,2026-T4,%s,1200000\n", KK_A, KK_B);
    e2e_write_file(path, rows);
    cr_assert_eq(ctl(&out, "credit-run", path, 0, 0, 0), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/bpnt.csv", E.dir);
    snprintf(rows, sizeof rows, "program,period,kk,amount\nbpnt,2026-10..12,%s,600000\n"
                                "bpnt,2026-10..12,%s,600000\n", KK_A, KK_B);
    e2e_write_file(path, rows);
    cr_assert_eq(ctl(&out, "credit-run", path, 0, 0, 0), 0, "%s", out);
    free(out);
}

TestSuite(auth, .init = world, .fini = e2e_teardown, .timeout = 240);

/* ---- a test terminal ---- */

typedef struct term {
    const char *id;
    SSL *ssl;
    uint8_t tpk[16];
    uint32_t stan;
    uint64_t msg;
} term;

static void term_open(term *t, const char *id)
{
    char p[400];
    memset(t, 0, sizeof *t);
    t->id = id;
    snprintf(p, sizeof p, "%s/terminals/%s.tpk", E.pki, id);
    cr_assert_eq(kks_key_file_load(p, t->tpk, 16), 0);
    snprintf(p, sizeof p, "terminals/%s", id);
    t->ssl = e2e_tls_dial(E.switch_addr, E.pki, p);
    cr_assert_not_null(t->ssl);
    t->stan = 100;
}

static void term_close(term *t)
{
    e2e_tls_close(t->ssl);
}

typedef struct txn {
    const char *type, *pan, *pin, *new_pin, *nik, *wallet, *items; /* items "SKU:QTY,..." */
    int64_t amount;
    uint32_t stan;       /* 0: the next */
    const char *name_as; /* another terminal's ID */
    const char *local_date; /* NULL: DAY */
} txn;

static Kks__Envelope *send_txn(term *t, const txn *x)
{
    Kks__Envelope env;
    kc_txn k = {.terminal = x->name_as ? x->name_as : t->id,
                .stan = x->stan ? x->stan : ++t->stan,
                .local_date = x->local_date ? x->local_date : DAY,
                .type = x->type, .pan = x->pan, .nik = x->nik, .wallet = x->wallet,
                .amount = x->amount};
    kc_txn_req req;
    char why[200];
    snprintf(k.pin, sizeof k.pin, "%s", x->pin ? x->pin : "000000");
    snprintf(k.new_pin, sizeof k.new_pin, "%s", x->new_pin ? x->new_pin : "");
    if (x->items)
        cr_assert_eq(kc_items_parse(x->items, k.items, &k.n_items, why, sizeof why), 0, "%s", why);
    cr_assert_eq(kc_txn_build(&k, t->tpk, &req), 0);
    if (!x->pin) /* a request with no PIN block at all */
        req.req.pin_block.len = 0;
    kc_txn_envelope(&req, &env);
    env.id = ++t->msg;
    cr_assert_eq(e2e_send(t->ssl, &env), 0);
    Kks__Envelope *rep = e2e_recv(t->ssl);
    cr_assert_not_null(rep, "no reply to %s", x->type);
    cr_assert_eq(rep->id, env.id);
    return rep;
}

/* Runs a transaction and checks its response code; returns the reply. */
static Kks__TxnReply *expect(term *t, const txn *x, const char *rc, Kks__Envelope **keep)
{
    Kks__Envelope *rep = send_txn(t, x);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_TXN_REPLY, "%s: not a transaction reply",
                 x->type);
    cr_assert_str_eq(rep->txn_reply->rc, rc, "%s at %s: got %s (%s)", x->type, t->id,
                     rep->txn_reply->rc, rep->txn_reply->reason);
    *keep = rep;
    return rep->txn_reply;
}

static void ok(term *t, const txn *x)
{
    Kks__Envelope *k;
    expect(t, x, KKS_RC_APPROVED, &k);
    kks__envelope__free_unpacked(k, NULL);
}

static void rc_is(term *t, const txn *x, const char *rc)
{
    Kks__Envelope *k;
    expect(t, x, rc, &k);
    kks__envelope__free_unpacked(k, NULL);
}

static void activate_both(term *t)
{
    ok(t, &(txn){.type = "activate", .pan = pan_a, .pin = PIN_A, .nik = NIK_A});
    ok(t, &(txn){.type = "activate", .pan = pan_b, .pin = PIN_B, .nik = NIK_B});
}

static void balances(term *t, const char *pan, const char *pin, int64_t *pkh, int64_t *bpnt)
{
    Kks__Envelope *k;
    Kks__TxnReply *r = expect(t, &(txn){.type = "balance", .pan = pan, .pin = pin},
                              KKS_RC_APPROVED, &k);
    cr_assert(r->has_balances);
    *pkh = r->pkh;
    *bpnt = r->bpnt;
    kks__envelope__free_unpacked(k, NULL);
}

static void ledger_clean(void)
{
    char *out = NULL;
    cr_assert_eq(ctl(&out, "ledger", "check", 0, 0, 0), 0, "%s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    free(out);
}

Test(auth, activation_rules)
{
    term t;
    term_open(&t, EW);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A}, KKS_RC_DO_NOT_HONOR);
    rc_is(&t, &(txn){.type = "activate", .pan = pan_a, .pin = "123456", .nik = NIK_A},
          KKS_RC_INVALID_TXN);                                             /* trivial PIN */
    rc_is(&t, &(txn){.type = "activate", .pan = pan_a, .pin = "111111", .nik = NIK_A},
          KKS_RC_INVALID_TXN);
    {
        /* wrong NIK: 63 (cardholder check failed) and says so, never "not activated" */
        Kks__Envelope *keep;
        Kks__TxnReply *r = expect(&t, &(txn){.type = "activate", .pan = pan_a, .pin = PIN_A,
                                             .nik = NIK_B},
                                  KKS_RC_SECURITY, &keep);
        cr_assert(strstr(r->reason, "NIK"), "%s", r->reason);
        cr_assert_null(strstr(r->reason, "activated"), "%s", r->reason);
        kks__envelope__free_unpacked(keep, NULL);
    }
    ok(&t, &(txn){.type = "activate", .pan = pan_a, .pin = PIN_A, .nik = NIK_A});
    rc_is(&t, &(txn){.type = "activate", .pan = pan_a, .pin = PIN_A, .nik = NIK_A},
          KKS_RC_INVALID_TXN);                                             /* already active */
    term_close(&t);
    /* activation at an ATM and at a branch works too */
    term_open(&t, BR);
    ok(&t, &(txn){.type = "activate", .pan = pan_b, .pin = PIN_B, .nik = NIK_B});
    rc_is(&t, &(txn){.type = "purchase", .pan = pan_b, .pin = PIN_B, .items = "BRS-MED-5KG:1"},
          KKS_RC_NOT_PERMITTED_TERMINAL);
    rc_is(&t, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 100000},
          KKS_RC_NOT_PERMITTED_TERMINAL);
    term_close(&t);
}

Test(auth, purchases_withdrawals_and_balances)
{
    term ew, atm;
    int64_t pkh, bpnt;
    Kks__Envelope *k;
    term_open(&ew, EW);
    term_open(&atm, ATM);
    activate_both(&ew);
    balances(&ew, pan_a, PIN_A, &pkh, &bpnt);
    cr_assert_eq(pkh, 1500000);
    cr_assert_eq(bpnt, 600000);

    /* rice and eggs from BPNT */
    Kks__TxnReply *r = expect(&ew, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A,
                                          .items = "BRS-MED-5KG:2,TLR-1KG:1"},
                              KKS_RC_APPROVED, &k);
    cr_assert_eq(r->amount, 2 * 68500 + 29000);
    cr_assert_eq(r->bpnt, 600000 - (2 * 68500 + 29000));
    cr_assert_eq(r->pkh, 1500000);
    cr_assert_eq(strlen(r->rrn), 12, "%s", r->rrn);
    cr_assert_eq(strlen(r->auth_code), 6);
    cr_assert_eq(r->n_items, 2);
    kks__envelope__free_unpacked(k, NULL);
    /* cooking oil: refused from BPNT, naming the item; allowed from PKH */
    r = expect(&ew, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A,
                           .items = "BRS-MED-1KG:1,MYK-1L:2"},
               KKS_RC_NOT_PERMITTED_CARD, &k);
    cr_assert(strstr(r->reason, "MYK-1L"), "%s", r->reason);
    kks__envelope__free_unpacked(k, NULL);
    r = expect(&ew, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .wallet = "pkh",
                           .items = "MYK-1L:2"},
               KKS_RC_APPROVED, &k);
    cr_assert_eq(r->pkh, 1500000 - 2 * 19500);
    kks__envelope__free_unpacked(k, NULL);
    rc_is(&ew, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "NOPE:1"},
          KKS_RC_INVALID_TXN);
    /* BPNT short: more rice than the quota buys */
    rc_is(&ew, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "BRS-PRM-5KG:9"},
          KKS_RC_NSF);

    /* ATM: not a purchase terminal; notes of 50,000; amounts; limits; BPNT cash not allowed */
    rc_is(&atm, &(txn){.type = "purchase", .pan = pan_b, .pin = PIN_B, .items = "TLR-1KG:1"},
          KKS_RC_NOT_PERMITTED_TERMINAL);
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 120000},
          KKS_RC_INVALID_AMOUNT);
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 0},
          KKS_RC_INVALID_AMOUNT);
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = -50000},
          KKS_RC_INVALID_AMOUNT);
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 5050000},
          KKS_RC_OVER_LIMIT);
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = INT64_MAX},
          KKS_RC_INVALID_AMOUNT); /* over the maximum of any one transaction */
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 1250000},
          KKS_RC_NSF);
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 100000,
                       .wallet = "bpnt"},
          KKS_RC_NOT_PERMITTED_CARD);
    r = expect(&atm, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 1000000},
               KKS_RC_APPROVED, &k);
    cr_assert_eq(r->pkh, 200000);
    cr_assert_eq(r->bpnt, 600000);
    kks__envelope__free_unpacked(k, NULL);
    /* e-warong cash: any amount */
    ok(&ew, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 75000});
    /* statement: the last movements, newest first */
    r = expect(&ew, &(txn){.type = "statement", .pan = pan_b, .pin = PIN_B}, KKS_RC_APPROVED, &k);
    cr_assert_geq(r->n_statement, 4);
    cr_assert_eq(r->statement[0]->amount, -75000);
    kks__envelope__free_unpacked(k, NULL);
    /* unknown PAN and bad Luhn: 14 */
    char unknown[20] = "5046010000999995";
    rc_is(&ew, &(txn){.type = "balance", .pan = "5046010000000013", .pin = PIN_A},
          KKS_RC_NO_CARD);
    rc_is(&ew, &(txn){.type = "balance", .pan = unknown, .pin = PIN_A}, KKS_RC_NO_CARD);
    term_close(&ew);
    term_close(&atm);

    /* settlement: per merchant and per ATM bank; the terminal's own totals */
    char *out = NULL, dir[400];
    snprintf(dir, sizeof dir, "%s", E.dir);
    cr_assert_eq(ctl(&out, "settle", "--date", DAY, "--out-dir", dir), 0, "%s", out);
    cr_assert(strstr(out, "\"kind\":\"atm\",\"id\":\"BNI\",\"name\":\"\",\"count\":1,"
                          "\"total\":1000000"), "%s", out);
    cr_assert(strstr(out, "\"id\":\"M-127101-0001\",\"name\":\"e-Warong Berkah Jaya\","
                          "\"count\":3,\"total\":280000"), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "settle", "--date", DAY, "--out-dir", dir), 0, "%s", out);
    cr_assert(strstr(out, "\"batch\":1,\"already\":true"), "nothing new: nothing moves: %s",
              out);
    free(out);
    char csv[500];
    snprintf(csv, sizeof csv, "%s/settlement-%s-b1.csv", dir, DAY);
    cr_assert(e2e_file_has(csv, "1,merchant,\"M-127101-0001\""), "CSV written, naming its batch");
    struct stat fs;
    cr_assert_eq(stat(csv, &fs), 0);
    cr_assert_eq(fs.st_mode & 0777, 0600, "settlement file mode %o", fs.st_mode & 0777);

    /* A purchase after the day was settled is settled by the day's next batch,
     * and then no payable holds anything. */
    term_open(&ew, EW);
    ok(&ew, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "BRS-MED-5KG:1",
                   .stan = 900001});
    term_close(&ew);
    cr_assert_eq(ctl(&out, "settle", "--date", DAY, "--out-dir", dir), 0, "%s", out);
    cr_assert(strstr(out, "\"batch\":2,\"already\":false"), "%s", out);
    cr_assert(strstr(out, "\"id\":\"M-127101-0001\",\"name\":\"e-Warong Berkah Jaya\","
                          "\"count\":1,"), "%s", out);
    free(out);
    snprintf(csv, sizeof csv, "%s/switch.db", E.dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(csv, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM account WHERE kind IN"
                                        " ('merchant', 'atm') AND balance != 0", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 0, "every payable settled");
    sqlite3_finalize(st);
    sqlite3_close(db);
    ledger_clean();
}

/* The switch owns the business date: a terminal's clock sets no policy. */
Test(auth, the_terminal_clock_sets_no_policy)
{
    term atm;
    term_open(&atm, ATM);
    activate_both(&atm);
    rc_is(&atm, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A, .local_date = "2099-12-31"},
          KKS_RC_INVALID_TXN);
    rc_is(&atm, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A, .local_date = "1970-01-01"},
          KKS_RC_INVALID_TXN);
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_a, .pin = PIN_A, .wallet = "bpnt",
                       .amount = 100000, .local_date = "2022-01-20"},
          KKS_RC_INVALID_TXN);
    /* a day either side is a clock near midnight: accepted, judged by the business date */
    ok(&atm, &(txn){.type = "withdraw", .pan = pan_a, .pin = PIN_A, .amount = 1000000,
                    .local_date = "2026-11-23"});
    /* the daily limit counts the business day, whatever date the terminal says */
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_a, .pin = PIN_A, .amount = 4050000,
                       .local_date = "2026-11-25"},
          KKS_RC_OVER_LIMIT);
    /* BPNT cash follows the business date's period (2026-11: not allowed) */
    rc_is(&atm, &(txn){.type = "withdraw", .pan = pan_a, .pin = PIN_A, .wallet = "bpnt",
                       .amount = 100000, .local_date = "2026-11-25"},
          KKS_RC_NOT_PERMITTED_CARD);
    term_close(&atm);
    ledger_clean();
}

Test(auth, wrong_pins_block_the_card)
{
    term t;
    term_open(&t, EW);
    activate_both(&t);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_a, .pin = "000001"}, KKS_RC_BAD_PIN);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_a, .pin = "000002"}, KKS_RC_BAD_PIN);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_a, .pin = "000003"}, KKS_RC_PIN_TRIES);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A}, KKS_RC_PIN_TRIES);
    /* PIN change on the other card */
    ok(&t, &(txn){.type = "pin_change", .pan = pan_b, .pin = PIN_B, .new_pin = "591837"});
    rc_is(&t, &(txn){.type = "balance", .pan = pan_b, .pin = PIN_B}, KKS_RC_BAD_PIN);
    ok(&t, &(txn){.type = "balance", .pan = pan_b, .pin = "591837"});
    rc_is(&t, &(txn){.type = "pin_change", .pan = pan_b, .pin = "591837", .new_pin = "222222"},
          KKS_RC_INVALID_TXN);
    term_close(&t);
}

Test(auth, idempotency_and_reversals)
{
    term t;
    int64_t pkh, bpnt, pkh2, bpnt2;
    Kks__Envelope *k1, *k2;
    term_open(&t, EW);
    activate_both(&t);
    balances(&t, pan_a, PIN_A, &pkh, &bpnt);
    /* the same request again: the first reply again, nothing moves */
    txn buy = {.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "TLR-1KG:2", .stan = 500};
    Kks__TxnReply *r1 = expect(&t, &buy, KKS_RC_APPROVED, &k1);
    Kks__TxnReply *r2 = expect(&t, &buy, KKS_RC_APPROVED, &k2);
    cr_assert_str_eq(r1->rrn, r2->rrn);
    cr_assert_str_eq(r1->auth_code, r2->auth_code);
    kks__envelope__free_unpacked(k1, NULL);
    kks__envelope__free_unpacked(k2, NULL);
    balances(&t, pan_a, PIN_A, &pkh2, &bpnt2);
    cr_assert_eq(bpnt2, bpnt - 58000, "charged once");
    /* the same identity with other content: 94 */
    rc_is(&t, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "TLR-1KG:3",
                     .stan = 500},
          KKS_RC_DUPLICATE);

    /* the same request twice before the first is answered: both get the first reply,
     * money moves once; then the same STAN with other content while in flight: 94 */
    int64_t p0, b0;
    balances(&t, pan_a, PIN_A, &p0, &b0);
    txn twice = {.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "TLR-1KG:1",
                 .stan = 600};
    Kks__Envelope *a = NULL, *b = NULL, *x;
    {
        Kks__Envelope e1 = KKS__ENVELOPE__INIT, e2 = KKS__ENVELOPE__INIT;
        Kks__TxnRequest q1 = KKS__TXN_REQUEST__INIT, q2;
        Kks__Item it = KKS__ITEM__INIT, *pit = &it;
        uint8_t blk[16];
        it.sku = "TLR-1KG";
        it.qty = 1;
        cr_assert_eq(kks_pinblock_encode(t.tpk, PIN_A, pan_a, NULL, blk), 0);
        q1.terminal = (char *)t.id;
        q1.stan = twice.stan;
        q1.local_date = DAY;
        q1.type = "purchase";
        q1.pan = pan_a;
        q1.pin_block.data = blk;
        q1.pin_block.len = 16;
        q1.n_items = 1;
        q1.items = &pit;
        q2 = q1;
        e1.id = ++t.msg;
        e1.body_case = KKS__ENVELOPE__BODY_TXN;
        e1.txn = &q1;
        e2 = e1;
        e2.id = ++t.msg;
        e2.txn = &q2;
        cr_assert_eq(e2e_send(t.ssl, &e1), 0);
        cr_assert_eq(e2e_send(t.ssl, &e2), 0);
        a = e2e_recv(t.ssl);
        b = e2e_recv(t.ssl);
        cr_assert(a && b && a->body_case == KKS__ENVELOPE__BODY_TXN_REPLY &&
                  b->body_case == KKS__ENVELOPE__BODY_TXN_REPLY);
        cr_assert_str_eq(a->txn_reply->rc, KKS_RC_APPROVED, "%s", a->txn_reply->reason);
        cr_assert_str_eq(b->txn_reply->rc, KKS_RC_APPROVED, "%s", b->txn_reply->reason);
        cr_assert_str_eq(a->txn_reply->rrn, b->txn_reply->rrn);
        kks__envelope__free_unpacked(a, NULL);
        kks__envelope__free_unpacked(b, NULL);
        /* other content under a STAN still in flight */
        Kks__TxnRequest q3 = q1;
        Kks__Item it3 = KKS__ITEM__INIT, *pit3 = &it3;
        it3.sku = "TLR-1KG";
        it3.qty = 3;
        q3.stan = 601;
        q3.items = &pit3;
        Kks__TxnRequest q4 = q1;
        q4.stan = 601;
        Kks__Envelope e3 = e1, e4 = e1;
        e3.id = ++t.msg;
        e3.txn = &q4;
        e4.id = ++t.msg;
        e4.txn = &q3;
        cr_assert_eq(e2e_send(t.ssl, &e3), 0);
        cr_assert_eq(e2e_send(t.ssl, &e4), 0);
        for (int i = 0; i < 2; i++) {
            x = e2e_recv(t.ssl);
            cr_assert(x && x->body_case == KKS__ENVELOPE__BODY_TXN_REPLY);
            cr_assert_str_eq(x->txn_reply->rc, x->id == e3.id ? KKS_RC_APPROVED : KKS_RC_DUPLICATE,
                             "reply %" PRIu64 ": %s %s", x->id, x->txn_reply->rc,
                             x->txn_reply->reason);
            kks__envelope__free_unpacked(x, NULL);
        }
    }
    balances(&t, pan_a, PIN_A, &pkh2, &bpnt2);
    cr_assert_eq(bpnt2, b0 - 2 * 29000, "charged once for 600 and once for 601");
    bpnt -= 2 * 29000; /* what stays spent after stan 500 is reversed below */

    /* reversal: the money back once */
    Kks__Envelope env = KKS__ENVELOPE__INIT, *rep;
    Kks__ReversalRequest rv = KKS__REVERSAL_REQUEST__INIT;
    rv.terminal = (char *)t.id;
    rv.stan = 500;
    rv.local_date = DAY;
    env.body_case = KKS__ENVELOPE__BODY_REVERSAL;
    env.reversal = &rv;
    for (int i = 0; i < 2; i++) {
        env.id = ++t.msg;
        cr_assert_eq(e2e_send(t.ssl, &env), 0);
        rep = e2e_recv(t.ssl);
        cr_assert(rep && rep->body_case == KKS__ENVELOPE__BODY_REVERSAL_REPLY);
        cr_assert_str_eq(rep->reversal_reply->rc, KKS_RC_APPROVED);
        cr_assert_eq(rep->reversal_reply->moved, i == 0, "moved only the first time");
        kks__envelope__free_unpacked(rep, NULL);
    }
    balances(&t, pan_a, PIN_A, &pkh2, &bpnt2);
    cr_assert_eq(bpnt2, bpnt);
    /* a reversal for a transaction never seen is acknowledged; the late original is declined */
    rv.stan = 777;
    env.id = ++t.msg;
    cr_assert_eq(e2e_send(t.ssl, &env), 0);
    rep = e2e_recv(t.ssl);
    cr_assert(rep && rep->body_case == KKS__ENVELOPE__BODY_REVERSAL_REPLY);
    cr_assert_str_eq(rep->reversal_reply->rc, KKS_RC_APPROVED);
    cr_assert_not(rep->reversal_reply->moved);
    kks__envelope__free_unpacked(rep, NULL);
    rc_is(&t, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "TLR-1KG:1",
                     .stan = 777},
          KKS_RC_INVALID_TXN);
    balances(&t, pan_a, PIN_A, &pkh2, &bpnt2);
    cr_assert_eq(bpnt2, bpnt, "the late original moved nothing");

    /* a request naming another terminal is refused */
    Kks__Envelope *e = send_txn(&t, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A,
                                           .name_as = "EW-127101-0002"});
    cr_assert_eq(e->body_case, KKS__ENVELOPE__BODY_ERROR);
    cr_assert_eq(e->error->code, KKS_EPEERROLE);
    kks__envelope__free_unpacked(e, NULL);
    term_close(&t);
    ledger_clean();
}

/* Starts the issuer (stopped or killed before) again on addr with business
 * date today; waits until the switch has reconnected, then a balance of pan
 * gets rc. */
static void issuer_on(term *t, const char *name, const char *addr, const char *today,
                      const char *pan, const char *pin, const char *rc)
{
    char ready[400], db[400];
    snprintf(ready, sizeof ready, "%s/%s.ready", E.dir, name);
    snprintf(db, sizeof db, "%s/issuer.db", E.dir);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", (char *)addr, "--db", db,
                    "--pki", E.pki, "--ready-file", ready, "--today", (char *)today, NULL};
    E.issuer_pid = e2e_spawn(name, argv);
    cr_assert_eq(e2e_wait_ready(ready, E.issuer_pid, E.issuer_addr, sizeof E.issuer_addr), 0);
    Kks__Envelope *k = NULL;
    for (int i = 0; i < 100; i++) { /* until the switch has reconnected */
        k = send_txn(t, &(txn){.type = "balance", .pan = pan, .pin = pin});
        if (strcmp(k->txn_reply->rc, KKS_RC_INOPERATIVE) != 0)
            break;
        kks__envelope__free_unpacked(k, NULL);
        k = NULL;
        usleep(100000);
    }
    cr_assert_not_null(k);
    cr_assert_str_eq(k->txn_reply->rc, rc, "%s", k->txn_reply->reason);
    kks__envelope__free_unpacked(k, NULL);
}

Test(auth, lost_and_expired_cards_and_issuer_down)
{
    term t;
    char *out = NULL;
    int64_t pkh, bpnt, pkh2, bpnt2;
    term_open(&t, EW);
    activate_both(&t);
    balances(&t, pan_b, PIN_B, &pkh, &bpnt);
    cr_assert_eq(ctl(&out, "card", "lost", pan_a, "--police-report", "LP/1/2026"), 0, "%s", out);
    free(out);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A}, KKS_RC_LOST);

    /* the issuer dies: 91 within the timeout, nothing moves */
    char addr[64];
    snprintf(addr, sizeof addr, "%s", E.issuer_addr);
    e2e_kill(E.issuer_pid);
    rc_is(&t, &(txn){.type = "withdraw", .pan = pan_b, .pin = PIN_B, .amount = 50000},
          KKS_RC_INOPERATIVE);
    /* it comes back, with the business date past the cards' expiry */
    issuer_on(&t, "issuer3", addr, "2099-01-01", pan_b, PIN_B, KKS_RC_EXPIRED);
    term_close(&t);
    /* nothing moved while the issuer was away */
    cr_assert_eq(ctl(&out, "account", "show", KK_B, 0, 0), 0, "%s", out);
    char want[64];
    snprintf(want, sizeof want, "\"balances\":{\"pkh\":%" PRId64 ",\"bpnt\":%" PRId64 "}", pkh,
             bpnt);
    cr_assert(strstr(out, want), "%s", out);
    free(out);
    (void)pkh2;
    (void)bpnt2;
    ledger_clean();

    /* No PIN and no full PAN in any log or database file. */
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    const char *files[] = {"issuer.log", "issuer3.log", "switch.log", "switch.db",
                           "switch.db-wal", "issuer.db", "issuer.db-wal"};
    const char *secrets[] = {PIN_A, PIN_B, pan_a, pan_b};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", E.dir, files[f]);
        for (int s = 0; s < 4; s++) {
            if (s >= 2 && strstr(files[f], "issuer.db"))
                continue; /* the issuer is the authority for cards: it keeps PANs */
            cr_assert_not(e2e_file_has(p, secrets[s]), "%s found in %s",
                          s < 2 ? "a PIN" : "a full PAN", files[f]);
        }
    }
}

/* The card's PAN in a kksctl --json card reply. */
static void reply_pan(const char *out, char pan[20])
{
    const char *p = out ? strstr(out, "\"card\":{\"pan\":\"") : NULL;
    cr_assert_not_null(p, "no card in %s", out ? out : "(null)");
    p += strlen("\"card\":{\"pan\":\"");
    size_t n = strcspn(p, "\"");
    cr_assert(n > 0 && n < 20, "%s", out);
    memcpy(pan, p, n);
    pan[n] = '\0';
}

/* A replacement card printed, handed over at the branch and activated. */
static void new_card_in_hand(term *t, const char *pan, const char *bank, const char *pin,
                             const char *nik)
{
    char *out = NULL, path[400];
    snprintf(path, sizeof path, "%s/print-%s-%s.csv", E.dir, bank, pan);
    cr_assert_eq(ctl(&out, "print", "--bank", bank, "--out", path), 0, "%s", out);
    free(out);
    /* a replacement's hand-over asks no invitation letter (document-policy.csv) */
    cr_assert_eq(ctl(&out, "handover", "--pan", pan, "--site", "BNI Kantor Cabang Medan"), 1,
                 "%s", out);
    cr_assert(strstr(out, "\"missing\":[\"ktp\",\"kk\"]"), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "handover", "--pan", pan, "--site", "BNI Kantor Cabang Medan",
                     "--docs", "ktp,kk"),
                 0, "%s", out);
    free(out);
    ok(t, &(txn){.type = "activate", .pan = pan, .pin = pin, .nik = nik});
}

Test(auth, damaged_and_expired_cards_replaced_and_the_money_stays)
{
    term t;
    char *out = NULL, pan_new[20], pan_renewed[20];
    int64_t pkh, bpnt, pkh2, bpnt2;
    term_open(&t, EW);
    activate_both(&t);
    balances(&t, pan_a, PIN_A, &pkh, &bpnt);
    cr_assert_gt(pkh + bpnt, 0);

    /* without the documents: refused naming them, and the card still works */
    cr_assert_eq(ctl(&out, "card", "damaged", pan_a, "--docs", "ktp"), 1, "%s", out);
    cr_assert(strstr(out, "\"rc\":\"30\""), "%s", out);
    cr_assert(strstr(out, "\"missing\":[\"kk\"]"), "%s", out);
    cr_assert(strstr(out, "documents missing: kk"), "%s", out);
    free(out);
    balances(&t, pan_a, PIN_A, &pkh2, &bpnt2);

    /* the damaged card is surrendered: it stops at once, a new card is issued */
    cr_assert_eq(ctl(&out, "card", "damaged", pan_a, "--docs", "ktp,kk", "--site",
                     "BNI Kantor Cabang Medan"),
                 0, "%s", out);
    reply_pan(out, pan_new);
    cr_assert_str_neq(pan_new, pan_a);
    cr_assert(strstr(out, "\"state\":\"ISSUED\""), "%s", out);
    cr_assert(strstr(out, "\"kk\":\"" KK_A "\""), "the same family: %s", out);
    free(out);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A}, KKS_RC_DO_NOT_HONOR);
    cr_assert_eq(ctl(&out, "card", "show", pan_a), 0, "%s", out);
    cr_assert(strstr(out, "\"state\":\"DAMAGED\""), "%s", out);
    cr_assert(strstr(out, "\"event\":\"damaged\""), "%s", out);
    cr_assert(strstr(out, "\"site\":\"BNI Kantor Cabang Medan\""), "%s", out);
    cr_assert(strstr(out, "\"docs\":[\"ktp\",\"kk\"]"), "%s", out);
    cr_assert(strstr(out, "\"docs\":[\"undangan\",\"ktp\",\"kk\"]"), "hand-over: %s", out);
    free(out);
    /* once only */
    cr_assert_eq(ctl(&out, "card", "damaged", pan_a, "--docs", "ktp,kk"), 1, "%s", out);
    cr_assert(strstr(out, "already replaced"), "%s", out);
    free(out);
    new_card_in_hand(&t, pan_new, "BNI", PIN_A, NIK_A);
    balances(&t, pan_new, PIN_A, &pkh2, &bpnt2);
    cr_assert_eq(pkh2, pkh, "the money stays with the family");
    cr_assert_eq(bpnt2, bpnt);

    /* the business date moves past the new card's expiry: 54, then renewed */
    char addr[64];
    snprintf(addr, sizeof addr, "%s", E.issuer_addr);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    issuer_on(&t, "issuer-late", addr, "2099-01-01", pan_new, PIN_A, KKS_RC_EXPIRED);
    cr_assert_eq(ctl(&out, "card", "replace", pan_new, "--docs", "ktp,kk"), 1, "%s", out);
    cr_assert(strstr(out, "renew it"), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "renew", pan_new), 1, "%s", out);
    cr_assert(strstr(out, "\"missing\":[\"ktp\",\"kk\"]"), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "renew", pan_new, "--docs", "kk,ktp,buku-tabungan"), 0, "%s",
                 out);
    reply_pan(out, pan_renewed);
    cr_assert(strstr(out, "\"expiry\":\"2104-01\""), "five years from the business date: %s",
              out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "renew", pan_new, "--docs", "ktp,kk"), 1, "%s", out);
    cr_assert(strstr(out, "already replaced"), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "show", pan_new), 0, "%s", out);
    cr_assert(strstr(out, "\"event\":\"renewed\""), "%s", out);
    cr_assert(strstr(out, "\"docs\":[\"ktp\",\"kk\",\"buku-tabungan\"]"), "%s", out);
    free(out);
    new_card_in_hand(&t, pan_renewed, "BNI", PIN_A, NIK_A);
    balances(&t, pan_renewed, PIN_A, &pkh2, &bpnt2);
    cr_assert_eq(pkh2, pkh, "the money stays with the family");
    cr_assert_eq(bpnt2, bpnt);
    term_close(&t);
    ledger_clean();
}

Test(auth, routes_by_bin_and_a_locked_database_is_96)
{
    char *out = NULL, ready[400], db[400];
    term t;
    term_open(&t, EW);
    activate_both(&t);
    term_close(&t);
    /* A second switch on the same database whose route for BRI's BIN leads nowhere:
     * BNI cards still reach the default issuer, BRI cards get 91. */
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    snprintf(ready, sizeof ready, "%s/switch2.ready", E.dir);
    snprintf(db, sizeof db, "%s/switch.db", E.dir);
    char route[64];
    snprintf(route, sizeof route, "%.6s=127.0.0.1:1", pan_b);
    char *argv[] = {(char *)e2e_bin("kks-switch"), "--listen", "127.0.0.1:0", "--db", db,
                    "--pki", E.pki, "--issuer", E.issuer_addr, "--route", route,
                    "--ready-file", ready, "--today", DAY, NULL};
    E.switch_pid = e2e_spawn("switch2", argv);
    cr_assert_eq(e2e_wait_ready(ready, E.switch_pid, E.switch_addr, sizeof E.switch_addr), 0);
    term_open(&t, EW);
    Kks__Envelope *k = NULL;
    for (int i = 0; i < 100; i++) { /* until the default link is up */
        k = send_txn(&t, &(txn){.type = "balance", .pan = pan_a, .pin = PIN_A});
        if (strcmp(k->txn_reply->rc, KKS_RC_APPROVED) == 0)
            break;
        kks__envelope__free_unpacked(k, NULL);
        k = NULL;
        usleep(50000);
    }
    cr_assert_not_null(k, "BNI card through the default route");
    kks__envelope__free_unpacked(k, NULL);
    rc_is(&t, &(txn){.type = "balance", .pan = pan_b, .pin = PIN_B}, KKS_RC_INOPERATIVE);

    /* Another process holds the switch's database: the purchase fails with 96 and moves
     * nothing (after the busy timeout). */
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    rc_is(&t, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "TLR-1KG:1"},
          KKS_RC_SYSTEM);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);
    int64_t pkh, bpnt;
    balances(&t, pan_a, PIN_A, &pkh, &bpnt);
    cr_assert_eq(bpnt, 600000, "nothing moved");
    term_close(&t);
    (void)out;
    ledger_clean();
}

/* What a load tester graphs, scraped over plain TCP from the switch's
 * --metrics address: transactions by type and response code, the latency
 * histogram, the credit-run counters (world() ran two batches of two rows),
 * the process_* series; and 404 for another path. */
Test(auth, metrics_count_what_the_switch_answered)
{
    term t;
    char path[400], *out = NULL;
    term_open(&t, EW);
    ok(&t, &(txn){.type = "activate", .pan = pan_a, .pin = PIN_A, .nik = NIK_A});
    int64_t pkh, bpnt;
    balances(&t, pan_a, PIN_A, &pkh, &bpnt);
    ok(&t, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "BRS-MED-5KG:1"});
    rc_is(&t, &(txn){.type = "purchase", .pan = pan_a, .pin = PIN_A, .items = "MYK-1L:1"},
          KKS_RC_NOT_PERMITTED_CARD);
    term_close(&t);
    /* a small credit run: two rows paid already (neither applied nor
     * rejected), one family with no account (rejected) */
    snprintf(path, sizeof path, "%s/bpnt-again.csv", E.dir);
    char rows[512];
    snprintf(rows, sizeof rows,
             "program,period,kk,amount\nbpnt,2026-10..12,%s,600000\nbpnt,2026-10..12,%s,600000\n"
             "bpnt,2026-10..12,1271099999990001,600000\n",
             KK_A, KK_B);
    e2e_write_file(path, rows);
    ctl(&out, "credit-run", path, 0, 0, 0);
    cr_assert(out && strstr(out, "no account at the switch"), "%s", out ? out : "");
    free(out);

    char *m = e2e_http_get(E.switch_metrics, "/metrics");
    cr_assert_not_null(m, "cannot reach %s", E.switch_metrics);
    cr_assert(strncmp(m, "HTTP/1.1 200 OK\r\n", 17) == 0, "%.200s", m);
    cr_assert(strstr(m, "\r\nContent-Type: text/plain; version=0.0.4"), "%.300s", m);
    struct {
        const char *series;
        double want;
    } exact[] = {
        {"kks_switch_transactions_total{type=\"activate\",rc=\"00\"}", 1},
        {"kks_switch_transactions_total{type=\"balance\",rc=\"00\"}", 1},
        {"kks_switch_transactions_total{type=\"purchase\",rc=\"00\"}", 1},
        {"kks_switch_transactions_total{type=\"purchase\",rc=\"57\"}", 1},
        {"kks_switch_transaction_seconds_count{type=\"purchase\"}", 2},
        {"kks_switch_transaction_seconds_bucket{type=\"purchase\",le=\"+Inf\"}", 2},
        {"kks_switch_transaction_seconds_count{type=\"activate\"}", 1},
        {"kks_switch_transaction_seconds_count{type=\"withdraw\"}", 0},
        {"kks_switch_credit_rows_total", 7},
        {"kks_switch_credits_applied_total", 4},
        {"kks_switch_credit_rejected_total", 1},
        {"kks_switch_credit_batches_total", 3},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        cr_assert_eq(e2e_metric(m, exact[i].series), exact[i].want, "%s: %g in\n%s",
                     exact[i].series, e2e_metric(m, exact[i].series), m);
    cr_assert_lt(e2e_metric(m, "kks_switch_transactions_total{type=\"withdraw\",rc=\"00\"}"), 0,
                 "no series for what never happened");
    double sum = e2e_metric(m, "kks_switch_transaction_seconds_sum{type=\"purchase\"}");
    cr_assert(sum > 0 && sum < 30, "purchase seconds %g", sum);
    /* the group commits: every answered write rode on one, none failed */
    double commits = e2e_metric(m, "kks_switch_commits_total"),
           carried = e2e_metric(m, "kks_switch_commit_requests_total");
    cr_assert(commits >= 1 && carried >= commits, "%g commits carrying %g requests", commits,
              carried);
    cr_assert_eq(e2e_metric(m, "kks_switch_commit_failures_total"), 0);
    cr_assert_eq(e2e_metric(m, "kks_switch_commit_seconds_count"), commits);
    double last = e2e_metric(m, "kks_switch_credit_last_batch_timestamp_seconds");
    cr_assert(last > (double)time(NULL) - 300 && last < (double)time(NULL) + 5, "last batch %f",
              last);
    const char *described[] = {"# TYPE kks_switch_transactions_total counter\n",
                               "# TYPE kks_switch_transaction_seconds histogram\n",
                               "# TYPE kks_switch_commit_seconds histogram\n",
                               "# HELP kks_switch_credit_rows_total ",
                               "# TYPE kks_switch_credit_last_batch_timestamp_seconds gauge\n",
                               "# TYPE process_cpu_seconds_total counter\n"};
    for (size_t i = 0; i < sizeof described / sizeof described[0]; i++)
        cr_assert(strstr(m, described[i]), "missing %s", described[i]);
    const char *process[] = {"process_cpu_seconds_total", "process_resident_memory_bytes",
                             "process_virtual_memory_bytes", "process_open_fds",
                             "process_max_fds", "process_start_time_seconds"};
    for (size_t i = 0; i < sizeof process / sizeof process[0]; i++)
        cr_assert_gt(e2e_metric(m, process[i]), 0, "%s", process[i]);
    cr_assert_gt(e2e_metric(m, "kks_issuer_links_up"), 0);
    free(m);

    m = e2e_http_get(E.switch_metrics, "/other");
    cr_assert(m && strncmp(m, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "%s", m ? m : "");
    free(m);
    /* the issuer serves the process-wide series and none of the switch's */
    m = e2e_http_get(E.issuer_metrics, "/metrics");
    cr_assert(m && strncmp(m, "HTTP/1.1 200 OK\r\n", 17) == 0);
    cr_assert_gt(e2e_metric(m, "process_open_fds"), 0);
    cr_assert_gt(e2e_metric(m, "kks_requests_total"), 0);
    cr_assert_null(strstr(m, "kks_switch_"));
    free(m);
}
