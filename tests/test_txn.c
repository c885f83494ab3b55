/* The switch's request handling without sockets: sw_dispatch() over in-memory
 * connections, an in-memory SQLite, and an issuer played by this file (it
 * reads the PIN block the switch translated to the ZPK). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "kc_op.h"
#include "kc_txn.h"
#include "kks_err.h"
#include "kks_pin.h"
#include "kks_rc.h"
#include "switch.h"

#define DAY "2026-11-24"
#define EW "EW-127101-0001"
#define ATM "ATM-BNI-0001"
#define PAN "5046010000000012"
#define KK "1271051502100101"
#define PIN "135790"

static uv_loop_t loop;
static sw *S;
static kks_conn *op, *ew, *atm;
static int issuer_down;
static char issuer_rc[4];
static const char *journal_first; /* SQL the issuer runs before it answers */

/* The issuer: approves the right PIN (decoded under the ZPK), 55 otherwise. */
static int fake_issuer(sw *s, link *l, Kks__Envelope *req, unsigned timeout_ms, kks_reply_cb cb,
                       void *ud)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__PinReply pr = KKS__PIN_REPLY__INIT;
    char pin[13] = "";
    const ProtobufCBinaryData *b = req->body_case == KKS__ENVELOPE__BODY_PIN_VERIFY
                                       ? &req->pin_verify->pin_block
                                       : &req->pin_set->pin_block;
    if (issuer_down)
        return KKS_ENOTCONN;
    if (journal_first)
        cr_assert_eq(kks_db_exec(s->db, journal_first), 0);
    cr_assert_eq(b->len, 16);
    int ok = kks_pinblock_decode(s->zpk, b->data, PAN, pin) == 0 && strcmp(pin, PIN) == 0;
    pr.rc = issuer_rc[0] ? issuer_rc : ok ? KKS_RC_APPROVED : KKS_RC_BAD_PIN;
    pr.reason = ok ? "ok" : "wrong PIN";
    pr.kk = KK;
    rep.body_case = KKS__ENVELOPE__BODY_PIN_REPLY;
    rep.pin_reply = &pr;
    cb(0, &rep, ud);
    return 0;
}

static void setup(void)
{
    char err[256];
    uv_loop_init(&loop);
    S = calloc(1, sizeof *S);
    memcpy(S->today, DAY, 11);
    RAND_bytes(S->tmk, 16);
    RAND_bytes(S->zpk, 16);
    cr_assert_eq(sw_open(S, &loop, ":memory:", KKS_SOURCE_DIR "/seeds", err, sizeof err), 0, "%s",
                 err);
    S->ask = fake_issuer;
    S->nlinks = 1;
    S->links[0].is_default = 1;
    op = kks_conn_memory_new(KKS_ROLE_OPERATOR, "operator");
    ew = kks_conn_memory_new(KKS_ROLE_TERMINAL, EW);
    atm = kks_conn_memory_new(KKS_ROLE_TERMINAL, ATM);
    issuer_down = 0;
    issuer_rc[0] = '\0';
    journal_first = NULL;
}

static void teardown(void)
{
    kks_group_free(S->group);
    uv_run(&loop, UV_RUN_DEFAULT);
    sw_close(S);
    free(S);
    kks_conn_unref(op);
    kks_conn_unref(ew);
    kks_conn_unref(atm);
    uv_loop_close(&loop);
}

TestSuite(txn, .init = setup, .fini = teardown);

/* Sends one request and returns its reply, after the group commit. */
static Kks__Envelope *call(kks_conn *c, Kks__Envelope *req)
{
    static uint64_t id;
    req->id = ++id;
    sw_dispatch(S, c, req);
    kks_group_flush(S->group);
    Kks__Envelope *rep = kks_conn_memory_take(c);
    cr_assert_not_null(rep, "no reply");
    cr_assert_eq(rep->id, id);
    return rep;
}

static void setup_family(void)
{
    Kks__Envelope req;
    kc_accounts ab;
    cr_assert_eq(kc_accounts_init(&ab, 1), 0);
    kc_accounts_add(&ab, 2, 1271051502100101ull, 3);
    kc_accounts_envelope(&ab, &req);
    Kks__Envelope *rep = call(op, &req);
    kc_accounts_free(&ab);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ACCOUNTS_OPEN_RESULT);
    cr_assert_eq(rep->accounts_open_result->opened, 1);
    kks__envelope__free_unpacked(rep, NULL);
    const char *progs[] = {"pkh", "bpnt"}, *pers[] = {"2026-T4", "2026-10..12"};
    int64_t amounts[] = {1500000, 600000};
    for (int i = 0; i < 2; i++) {
        kc_credits cb;
        cr_assert_eq(kc_credits_init(&cb, progs[i], pers[i], 1), 0);
        kc_credits_add(&cb, 2, 1271051502100101ull, amounts[i]);
        kc_credits_envelope(&cb, &req);
        rep = call(op, &req);
        kc_credits_free(&cb);
        cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_CREDIT_RESULT);
        cr_assert_eq(rep->credit_result->credited, 1);
        kks__envelope__free_unpacked(rep, NULL);
    }
}

typedef struct t {
    const char *type, *date, *items, *wallet, *pin;
    uint32_t stan;
    int64_t amount;
} t;

static Kks__Envelope *txn(kks_conn *c, const char *terminal, t x)
{
    Kks__Envelope req;
    kc_txn k = {.terminal = terminal, .stan = x.stan, .local_date = x.date ? x.date : DAY,
                .type = x.type, .pan = PAN, .amount = x.amount, .wallet = x.wallet};
    kc_txn_req built;
    uint8_t tpk[16];
    cr_assert_eq(kks_tpk_derive(S->tmk, terminal, tpk), 0);
    snprintf(k.pin, sizeof k.pin, "%s", x.pin ? x.pin : PIN);
    if (x.items) {
        snprintf(k.items[0].sku, sizeof k.items[0].sku, "%s", x.items);
        k.items[0].qty = 1;
        k.n_items = 1;
    }
    cr_assert_eq(kc_txn_build(&k, tpk, &built), 0);
    kc_txn_envelope(&built, &req);
    return call(c, &req);
}

static void rc_is(Kks__Envelope *rep, const char *rc)
{
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_TXN_REPLY, "body %d", rep->body_case);
    cr_assert_str_eq(rep->txn_reply->rc, rc, "%s", rep->txn_reply->reason);
}

Test(txn, purchase_duplicate_other_content_and_balances)
{
    setup_family();
    Kks__Envelope *a = txn(ew, EW, (t){"purchase", .items = "BRS-MED-5KG", .stan = 1});
    rc_is(a, KKS_RC_APPROVED);
    cr_assert_str_eq(a->txn_reply->business_date, DAY);
    cr_assert(a->txn_reply->has_balances && a->txn_reply->bpnt < 600000);
    /* the same request again: the first reply (same RRN), nothing moves */
    Kks__Envelope *b = txn(ew, EW, (t){"purchase", .items = "BRS-MED-5KG", .stan = 1});
    rc_is(b, KKS_RC_APPROVED);
    cr_assert_str_eq(a->txn_reply->rrn, b->txn_reply->rrn);
    cr_assert_eq(a->txn_reply->bpnt, b->txn_reply->bpnt);
    kks__envelope__free_unpacked(b, NULL);
    /* the same identity with other content */
    b = txn(ew, EW, (t){"purchase", .items = "MYK-1L", .stan = 1, .wallet = "pkh"});
    rc_is(b, KKS_RC_DUPLICATE);
    kks__envelope__free_unpacked(b, NULL);
    /* BPNT may not buy cooking oil: 57, naming it */
    b = txn(ew, EW, (t){"purchase", .items = "MYK-1L", .stan = 2});
    rc_is(b, KKS_RC_NOT_PERMITTED_CARD);
    cr_assert(strstr(b->txn_reply->reason, "MYK-1L"));
    kks__envelope__free_unpacked(b, NULL);
    /* a wrong PIN is the issuer's 55 */
    b = txn(ew, EW, (t){"balance", .stan = 3, .pin = "999999"});
    rc_is(b, KKS_RC_BAD_PIN);
    kks__envelope__free_unpacked(b, NULL);
    kks__envelope__free_unpacked(a, NULL);
}

static int64_t scalar(const char *sql)
{
    sqlite3_stmt *st;
    int64_t v;
    cr_assert_eq(sqlite3_prepare_v2(S->db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A payment's transfer is unique through its journal row alone (the ledger
 * does not index a payment's key): when the journal holds the identity by the
 * time the money moves, the request fails whole and nothing moves. */
Test(txn, a_payment_whose_identity_is_journaled_meanwhile_moves_nothing)
{
    setup_family();
    int64_t bpnt = scalar("SELECT bpnt FROM wallet");
    journal_first = "INSERT INTO txn(terminal, local_date, stan, type, rc, at, reply)"
                    " VALUES ('" EW "', '" DAY "', 7, 'purchase', '00', 'x', x'00')";
    Kks__Envelope *a = txn(ew, EW, (t){"purchase", .items = "BRS-MED-5KG", .stan = 7});
    rc_is(a, KKS_RC_SYSTEM);
    kks__envelope__free_unpacked(a, NULL);
    cr_assert_eq(scalar("SELECT bpnt FROM wallet"), bpnt);
    cr_assert_eq(scalar("SELECT count(*) FROM transfer WHERE kind = 'purchase'"), 0);
    cr_assert_eq(scalar("SELECT count(*) FROM account WHERE kind = 'merchant' AND balance != 0"), 0);
    journal_first = NULL;
    a = txn(ew, EW, (t){"purchase", .items = "BRS-MED-5KG", .stan = 8});
    rc_is(a, KKS_RC_APPROVED);
    kks__envelope__free_unpacked(a, NULL);
    cr_assert_eq(scalar("SELECT count(*) FROM transfer WHERE kind = 'purchase'"), 1);
}

Test(txn, business_date_rules)
{
    setup_family();
    Kks__Envelope *r = txn(atm, ATM, (t){"balance", .stan = 1, .date = "2099-12-31"});
    rc_is(r, KKS_RC_INVALID_TXN);
    cr_assert(strstr(r->txn_reply->reason, "more than a day from the business date 2026-11-24"));
    kks__envelope__free_unpacked(r, NULL);
    r = txn(atm, ATM, (t){"withdraw", .stan = 2, .amount = 1000000, .date = "2026-11-23"});
    rc_is(r, KKS_RC_APPROVED);
    kks__envelope__free_unpacked(r, NULL);
    r = txn(atm, ATM, (t){"withdraw", .stan = 3, .amount = 4050000, .date = "2026-11-25"});
    rc_is(r, KKS_RC_OVER_LIMIT);
    kks__envelope__free_unpacked(r, NULL);
    r = txn(atm, ATM, (t){"withdraw", .stan = 4, .amount = 120000});
    rc_is(r, KKS_RC_INVALID_AMOUNT);
    kks__envelope__free_unpacked(r, NULL);
}

/* transaction-policy.csv: at most daily_withdraw_count (3 in the seeds) approved cash
 * withdrawals per card per business day; the next is 65 whatever its amount, a declined one
 * does not count, and the next business day starts again. */
Test(txn, withdrawal_frequency_limit_is_65)
{
    setup_family(); /* PKH 1,500,000 */
    cr_assert_eq(S->txp.daily_withdraw_count, 3);
    static const struct {
        const char *terminal, *rc;
        int64_t amount;
    } steps[] = {
        {ATM, KKS_RC_APPROVED, 100000},
        {ATM, KKS_RC_NSF, 2000000}, /* declined: does not count */
        {EW, KKS_RC_APPROVED, 100000}, /* an e-warong's cash counts too */
        {ATM, KKS_RC_APPROVED, 100000},
        {ATM, KKS_RC_OVER_FREQUENCY, 50000}, /* the fourth, however small */
        {EW, KKS_RC_OVER_FREQUENCY, 1000},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        Kks__Envelope *r = txn(strcmp(steps[i].terminal, ATM) == 0 ? atm : ew, steps[i].terminal,
                               (t){"withdraw", .stan = (uint32_t)i + 1, .amount = steps[i].amount});
        rc_is(r, steps[i].rc);
        if (strcmp(steps[i].rc, KKS_RC_OVER_FREQUENCY) == 0)
            cr_assert(strstr(r->txn_reply->reason, "at most 3 cash withdrawals a day"), "%s",
                      r->txn_reply->reason);
        kks__envelope__free_unpacked(r, NULL);
    }
    /* the next business day starts again */
    memcpy(S->today, "2026-11-25", 11);
    Kks__Envelope *r = txn(atm, ATM, (t){"withdraw", .stan = 1, .amount = 100000,
                                         .date = "2026-11-25"});
    rc_is(r, KKS_RC_APPROVED);
    kks__envelope__free_unpacked(r, NULL);
}

/* The BPNT commodity list is per period (bpnt-category-periods.csv): cooking oil refused in
 * November (57, naming it), allowed in a December that a rule opens to it. The rule is put
 * into the loaded catalogue as the loader would from "2026-12,minyak_goreng,1". */
Test(txn, commodity_refused_in_one_period_allowed_in_another)
{
    setup_family();
    kks_catalog *cat = &S->catalog;
    const kks_item *oil = kks_catalog_find(cat, "MYK-1L");
    cr_assert_not_null(oil);
    cr_assert_eq(cat->nrules, 0, "the seeds keep one list all year");
    cat->rules[0] = (kks_category_rule){.first_month = kks_month_of_date("2026-12-01"),
                                        .last_month = kks_month_of_date("2026-12-31"),
                                        .category_index = oil->category_index,
                                        .bpnt_allowed = 1};
    cat->nrules = 1;
    Kks__Envelope *r = txn(ew, EW, (t){"purchase", .items = "MYK-1L", .stan = 1});
    rc_is(r, KKS_RC_NOT_PERMITTED_CARD);
    cr_assert(strstr(r->txn_reply->reason, "MYK-1L") && strstr(r->txn_reply->reason, "2026-11"),
              "%s", r->txn_reply->reason);
    cr_assert_str_eq(r->txn_reply->refused_sku, "MYK-1L");
    kks__envelope__free_unpacked(r, NULL);
    memcpy(S->today, "2026-12-01", 11);
    r = txn(ew, EW, (t){"purchase", .items = "MYK-1L", .stan = 1, .date = "2026-12-01"});
    rc_is(r, KKS_RC_APPROVED);
    kks__envelope__free_unpacked(r, NULL);
}

Test(txn, issuer_down_is_91_and_nothing_moves_then_reversal_once)
{
    setup_family();
    issuer_down = 1;
    Kks__Envelope *r = txn(atm, ATM, (t){"withdraw", .stan = 1, .amount = 100000});
    rc_is(r, KKS_RC_INOPERATIVE);
    cr_assert_eq(r->txn_reply->amount, 0);
    kks__envelope__free_unpacked(r, NULL);
    issuer_down = 0;
    r = txn(atm, ATM, (t){"withdraw", .stan = 2, .amount = 100000});
    rc_is(r, KKS_RC_APPROVED);
    int64_t after = r->txn_reply->pkh;
    kks__envelope__free_unpacked(r, NULL);
    for (int i = 0; i < 2; i++) {
        Kks__Envelope req = KKS__ENVELOPE__INIT;
        Kks__ReversalRequest rv = KKS__REVERSAL_REQUEST__INIT;
        rv.terminal = ATM;
        rv.stan = 2;
        rv.local_date = DAY;
        req.body_case = KKS__ENVELOPE__BODY_REVERSAL;
        req.reversal = &rv;
        r = call(atm, &req);
        cr_assert_eq(r->body_case, KKS__ENVELOPE__BODY_REVERSAL_REPLY);
        cr_assert_str_eq(r->reversal_reply->rc, KKS_RC_APPROVED);
        cr_assert_eq(r->reversal_reply->moved, i == 0, "money back once");
        kks__envelope__free_unpacked(r, NULL);
    }
    r = txn(atm, ATM, (t){"balance", .stan = 3});
    rc_is(r, KKS_RC_APPROVED);
    cr_assert_eq(r->txn_reply->pkh, after + 100000);
    kks__envelope__free_unpacked(r, NULL);
    /* a terminal may not speak for another */
    r = txn(ew, ATM, (t){"balance", .stan = 4});
    cr_assert_eq(r->body_case, KKS__ENVELOPE__BODY_ERROR);
    kks__envelope__free_unpacked(r, NULL);
}

Test(txn, roles_are_enforced_and_settlement_runs_in_batches)
{
    setup_family();
    Kks__Envelope req;
    Kks__SettleRequest sr;
    kc_op_settle(&req, &sr, DAY);
    Kks__Envelope *r = call(ew, &req);
    cr_assert_eq(r->body_case, KKS__ENVELOPE__BODY_ERROR, "terminals do not settle the day");
    kks__envelope__free_unpacked(r, NULL);
    kks__envelope__free_unpacked(txn(ew, EW, (t){"purchase", .items = "BRS-MED-5KG", .stan = 1}),
                                 NULL);
    r = call(op, &req);
    cr_assert_eq(r->settle_reply->batch, 1);
    cr_assert_eq(r->settle_reply->n_lines, 1);
    kks__envelope__free_unpacked(r, NULL);
    r = call(op, &req);
    cr_assert(r->settle_reply->already && r->settle_reply->batch == 1);
    kks__envelope__free_unpacked(r, NULL);
    kks__envelope__free_unpacked(txn(ew, EW, (t){"purchase", .items = "BRS-MED-5KG", .stan = 2}),
                                 NULL);
    r = call(op, &req);
    cr_assert(!r->settle_reply->already && r->settle_reply->batch == 2);
    cr_assert_eq(r->settle_reply->lines[0]->count, 1);
    kks__envelope__free_unpacked(r, NULL);
    sr.date = "2026-11-25";
    r = call(op, &req);
    cr_assert_eq(r->body_case, KKS__ENVELOPE__BODY_ERROR, "a day after the business date");
    kks__envelope__free_unpacked(r, NULL);
}

/* A credit batch as columns (what kksctl sends, kc_credits): out of order
 * rows sorted, an unknown family rejected by line; columns of different
 * lengths are refused whole; the older form, a message per row, gives the
 * same answers. */
Test(txn, credit_columns_and_rows_are_the_same_batch)
{
    setup_family(); /* credits 1271051502100101 PKH 2026-T4 and BPNT 2026-10..12 */
    uint64_t kk[] = {1271051502100199ull, 1271051502100101ull};
    int64_t amount[] = {200000, 200000};
    uint32_t line[] = {2, 3};
    Kks__CreditColumns cc = KKS__CREDIT_COLUMNS__INIT;
    Kks__Envelope e = KKS__ENVELOPE__INIT;
    cc.program = "bpnt";
    cc.period = "2027-01";
    cc.n_kk = cc.n_amount = cc.n_line = 2;
    cc.kk = kk;
    cc.amount = amount;
    cc.line = line;
    e.body_case = KKS__ENVELOPE__BODY_CREDIT_COLUMNS;
    e.credit_columns = &cc;
    Kks__Envelope *rep = call(op, &e);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_CREDIT_RESULT);
    cr_assert_eq(rep->credit_result->credited, 1);
    cr_assert_eq(rep->credit_result->rupiah, 200000);
    cr_assert_eq(rep->credit_result->n_rejected, 1);
    cr_assert_eq(rep->credit_result->rejected[0]->line, 2);
    cr_assert(strstr(rep->credit_result->rejected[0]->reason, "no account"), "%s",
              rep->credit_result->rejected[0]->reason);
    kks__envelope__free_unpacked(rep, NULL);
    rep = call(op, &e); /* again: credited once */
    cr_assert_eq(rep->credit_result->credited, 0);
    cr_assert_eq(rep->credit_result->already, 1);
    kks__envelope__free_unpacked(rep, NULL);
    cc.n_line = 1;
    rep = call(op, &e);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ERROR);
    cr_assert(strstr(rep->error->message, "different lengths"), "%s", rep->error->message);
    kks__envelope__free_unpacked(rep, NULL);

    Kks__CreditBatch cb = KKS__CREDIT_BATCH__INIT;
    Kks__CreditRow rows[2], *prows[2] = {&rows[0], &rows[1]};
    for (int i = 0; i < 2; i++) {
        kks__credit_row__init(&rows[i]);
        rows[i].kk = kk[i];
        rows[i].amount = amount[i];
        rows[i].line = line[i];
    }
    cb.program = "bpnt";
    cb.period = "2027-02";
    cb.n_rows = 2;
    cb.rows = prows;
    e.body_case = KKS__ENVELOPE__BODY_CREDIT_BATCH;
    e.credit_batch = &cb;
    rep = call(op, &e);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_CREDIT_RESULT);
    cr_assert_eq(rep->credit_result->credited, 1);
    cr_assert_eq(rep->credit_result->n_rejected, 1);
    cr_assert_eq(rep->credit_result->rejected[0]->line, 2);
    kks__envelope__free_unpacked(rep, NULL);
}

/* The metrics count a reply when the group has sent it, after its COMMIT:
 * by type and response code, with the handling time; a retransmission
 * answered with the first reply is not counted again; credit batches count
 * their rows. */
Test(txn, metrics_count_replies_after_their_commit)
{
    setup_family(); /* two credit batches of one row each */
    swm *m = &S->metrics;
    cr_assert_eq(m->credit_rows, 2);
    cr_assert_eq(m->credits_applied, 2);
    cr_assert_eq(m->credit_batches, 2);
    cr_assert_eq(m->credit_rejected, 0);
    cr_assert_gt(m->credit_last_batch, 0);

    /* sent by hand to look before the COMMIT */
    Kks__Envelope req;
    kc_txn k = {.terminal = EW, .stan = 1, .local_date = DAY, .type = "purchase", .pan = PAN};
    kc_txn_req built;
    uint8_t tpk[16];
    cr_assert_eq(kks_tpk_derive(S->tmk, EW, tpk), 0);
    snprintf(k.pin, sizeof k.pin, "%s", PIN);
    snprintf(k.items[0].sku, sizeof k.items[0].sku, "BRS-MED-5KG");
    k.items[0].qty = 1;
    k.n_items = 1;
    cr_assert_eq(kc_txn_build(&k, tpk, &built), 0);
    kc_txn_envelope(&built, &req);
    req.id = 999;
    sw_dispatch(S, ew, &req);
    cr_assert_eq(m->txn[SWM_PURCHASE][0], 0, "held for its COMMIT: not counted yet");
    kks_group_flush(S->group);
    cr_assert_eq(m->txn[SWM_PURCHASE][0], 1);
    Kks__Envelope *r = kks_conn_memory_take(ew);
    rc_is(r, KKS_RC_APPROVED);
    kks__envelope__free_unpacked(r, NULL);

    r = txn(ew, EW, (t){"purchase", .items = "BRS-MED-5KG", .stan = 1}); /* the first reply again */
    kks__envelope__free_unpacked(r, NULL);
    r = txn(ew, EW, (t){"purchase", .items = "MYK-1L", .stan = 2}); /* 57 */
    kks__envelope__free_unpacked(r, NULL);
    r = txn(ew, EW, (t){"balance", .stan = 3, .pin = "999999"}); /* 55 */
    kks__envelope__free_unpacked(r, NULL);
    r = txn(ew, EW, (t){"purchase", .items = "MYK-1L", .stan = 1, .wallet = "pkh"}); /* 94 */
    kks__envelope__free_unpacked(r, NULL);
    issuer_down = 1;
    r = txn(atm, ATM, (t){"withdraw", .stan = 1, .amount = 100000}); /* 91 */
    kks__envelope__free_unpacked(r, NULL);
    Kks__ReversalRequest rv = KKS__REVERSAL_REQUEST__INIT;
    rv.terminal = EW;
    rv.stan = 1;
    rv.local_date = DAY;
    req = (Kks__Envelope)KKS__ENVELOPE__INIT;
    req.body_case = KKS__ENVELOPE__BODY_REVERSAL;
    req.reversal = &rv;
    r = call(ew, &req);
    kks__envelope__free_unpacked(r, NULL);

    cr_assert_eq(m->txn[SWM_PURCHASE][0], 1, "a retransmission is not counted again");
    cr_assert_eq(m->txn[SWM_PURCHASE][57], 1);
    cr_assert_eq(m->txn[SWM_PURCHASE][94], 1);
    cr_assert_eq(m->txn[SWM_BALANCE][55], 1);
    cr_assert_eq(m->txn[SWM_WITHDRAW][91], 1);
    cr_assert_eq(m->txn[SWM_REVERSAL][0], 1);
    uint64_t n = 0;
    for (int i = 0; i <= SWM_BUCKETS; i++)
        n += m->seconds[SWM_PURCHASE].in[i];
    cr_assert_eq(n, 3, "one observation per counted purchase");
    cr_assert_gt(m->seconds[SWM_PURCHASE].sum_ns, 0);
}
