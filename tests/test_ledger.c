/* switch/ledger.c and switch/txnlog.c against an in-memory SQLite: accounts,
 * credits as ranges of months, transfers, the invariants, settlement batches. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include "kks_db.h"
#include "kks_err.h"
#include "ledger.h"
#include "txnlog.h"

static sqlite3 *db;
static ledger *L;
static txnlog *J;
static const uint8_t key[16] = {1, 2, 3};

static void open_db(void)
{
    cr_assert_eq(kks_db_open(":memory:", ledger_schema, ledger_schema_versions, &db), 0);
    cr_assert_eq(ledger_new(db, &L), 0);
    cr_assert_eq(txnlog_new(db, key, &J), 0);
}

static void close_db(void)
{
    txnlog_free(J);
    ledger_free(L);
    kks_db_close(db);
}

TestSuite(ledger, .init = open_db, .fini = close_db);

#define AT "2026-11-24T01:00:00Z"
#define M(y, m) ((y) * 12 + (m) - 1)

static int credit(uint64_t kk, unsigned prog, int first, int last, int64_t amount,
                  ledger_credit_out *out)
{
    int64_t f, b;
    char label[32];
    snprintf(label, sizeof label, "%d..%d", first, last);
    cr_assert_eq(ledger_funding(L, prog == LEDGER_PKH ? "pkh" : "bpnt", label, &f), 0);
    cr_assert_eq(ledger_credit_batch(L, f, AT, &b), 0);
    ledger_credit_in in = {.kk = kk, .program = prog, .first = first, .last = last,
                           .batch = b, .amount = amount};
    int rc = ledger_credit(L, &in, out);
    if (rc == 0)
        cr_assert_eq(ledger_funding_add(L, f, -amount), 0);
    return rc;
}

static void check_ok(void)
{
    char why[256];
    int64_t a, t, w, f;
    cr_assert_eq(ledger_check(L, why, sizeof why, &a, &t, &w, &f), 0, "%s", why);
}

Test(ledger, accounts_open_update_and_refuse)
{
    cr_assert_eq(ledger_account_open(L, 1271010000000001ull, 3, AT), LEDGER_OPENED);
    cr_assert_eq(ledger_account_open(L, 1271010000000001ull, 3, AT), LEDGER_UNCHANGED);
    cr_assert_eq(ledger_account_open(L, 1271010000000001ull, 2, AT), LEDGER_UPDATED);
    cr_assert_eq(ledger_programs(L, 1271010000000001ull), 2);
    cr_assert_eq(ledger_programs(L, 1271010000000002ull), 0);
    cr_assert_eq(ledger_account_open(L, 1271010000000003ull, 0, AT), KKS_EINVAL);
    cr_assert_eq(ledger_account_open(L, 1271010000000003ull, 4, AT), KKS_EINVAL);
}

Test(ledger, each_month_is_paid_once_whatever_the_label)
{
    ledger_credit_out o;
    uint64_t kk = 1271010000000001ull;
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 1), M(2026, 3), 600000, &o), LEDGER_NO_ACCOUNT);
    ledger_account_open(L, kk, LEDGER_PKH, AT);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 1), M(2026, 3), 600000, &o),
                 LEDGER_NOT_IN_PROGRAM);
    ledger_account_open(L, kk, LEDGER_PKH | LEDGER_BPNT, AT);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 1), M(2026, 3), 600000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 1), M(2026, 3), 600000, &o), LEDGER_ALREADY);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 1), M(2026, 3), 500000, &o),
                 LEDGER_OTHER_AMOUNT);
    cr_assert_eq(o.existing, 600000);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 2), M(2026, 2), 200000, &o), LEDGER_OVERLAP);
    cr_assert_eq(o.noverlap, 1);
    cr_assert(o.overlap[0].first == M(2026, 2) && o.overlap[0].last == M(2026, 2));
    cr_assert_str_eq(o.overlap[0].label, "24312..24314"); /* the paid months' funding label */
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 3), M(2026, 5), 600000, &o), LEDGER_OVERLAP);
    cr_assert(o.overlap[0].first == M(2026, 3) && o.overlap[0].last == M(2026, 3));
    /* after the last paid month: the fast path; then across a year end */
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 6), M(2026, 6), 200000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 12), M(2027, 2), 600000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2027, 1), M(2027, 1), 200000, &o), LEDGER_OVERLAP);
    /* a gap paid late, and one that would straddle paid months */
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 4), M(2026, 5), 400000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 7), M(2027, 3), 1800000, &o), LEDGER_OVERLAP);
    cr_assert_eq(o.noverlap, 1);
    cr_assert(o.overlap[0].first == M(2026, 12) && o.overlap[0].last == M(2027, 2));
    /* two separate paid ranges inside ours: each named, the gap between them not */
    cr_assert_eq(credit(kk, LEDGER_PKH, M(2027, 4), M(2027, 4), 750000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_PKH, M(2027, 6), M(2027, 6), 750000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_PKH, M(2027, 4), M(2027, 6), 750000, &o), LEDGER_OVERLAP);
    cr_assert_eq(o.noverlap, 2);
    cr_assert(o.overlap[0].first == M(2027, 4) && o.overlap[0].last == M(2027, 4));
    cr_assert(o.overlap[1].first == M(2027, 6) && o.overlap[1].last == M(2027, 6));
    /* PKH is another programme: the same months are free there */
    cr_assert_eq(credit(kk, LEDGER_PKH, M(2026, 1), M(2026, 3), 750000, &o), 0);
    int64_t pkh, bpnt;
    cr_assert_eq(ledger_wallet(L, kk, &pkh, &bpnt), 0);
    cr_assert_eq(pkh, 3 * 750000);
    cr_assert_eq(bpnt, 600000 + 200000 + 600000 + 400000);
    check_ok();
}

Test(ledger, check_names_a_month_paid_twice)
{
    ledger_credit_out o;
    uint64_t kk = 1271010000000001ull;
    ledger_account_open(L, kk, 3, AT);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 1), M(2026, 3), 600000, &o), 0);
    check_ok();
    /* what the old keying allowed: another label over February, written behind the
     * ledger's back (balances kept consistent, so only the new invariant sees it) */
    cr_assert_eq(kks_db_exec(db, "INSERT INTO credit VALUES (1271010000000001, 2, 24313, 24313,"
                                 " 1, 200000); UPDATE wallet SET bpnt = bpnt + 200000;"
                                 " UPDATE funding SET balance = balance - 200000 WHERE id = 1"),
                 0);
    char why[256];
    int64_t a, t, w, f;
    cr_assert_eq(ledger_check(L, why, sizeof why, &a, &t, &w, &f), 1);
    cr_assert(strstr(why, "family 1271010000000001: BPNT paid twice for 2026-02"), "%s", why);
}

Test(ledger, transfers_once_and_never_below_zero)
{
    ledger_credit_out o;
    uint64_t kk = 1271010000000001ull;
    ledger_account_open(L, kk, 2, AT);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 11), M(2026, 11), 200000, &o), 0);
    cr_assert_eq(ledger_transfer(L, "k1", "bpnt", "1271010000000001", "merchant", "M1", 150000,
                                 "purchase", AT), 0);
    cr_assert_eq(ledger_transfer(L, "r1", "merchant", "M1", "bpnt", "1271010000000001", 10000,
                                 "reversal", AT), 0);
    cr_assert_eq(ledger_transfer(L, "r1", "merchant", "M1", "bpnt", "1271010000000001", 10000,
                                 "reversal", AT), LEDGER_DUPLICATE);
    cr_assert_eq(ledger_transfer(L, "k2", "bpnt", "1271010000000001", "merchant", "M1", 60001,
                                 "purchase", AT), LEDGER_NSF);
    /* a payment's key is its journal row's to keep unique (txn.c): seen
     * before, it is judged on the balance alone */
    cr_assert_eq(ledger_transfer(L, "k1", "bpnt", "1271010000000001", "merchant", "M1", 60001,
                                 "purchase", AT), LEDGER_NSF);
    cr_assert_eq(ledger_transfer(L, "k3", "bpnt", "1271010000000001", "merchant", "M1", 0,
                                 "purchase", AT), KKS_EINVAL);
    ledger_movement mv[10];
    cr_assert_eq(ledger_movements(L, kk, mv, 10), 3);
    ledger_xfer x;
    cr_assert_eq(ledger_transfer_get(L, "k1", NULL, NULL, &x), 0, "a payment is found by its wallet");
    cr_assert_eq(ledger_transfer_get(L, "k1", "bpnt", "1271010000000001", &x), 1);
    cr_assert_eq(x.amount, 150000);
    cr_assert_str_eq(x.to_owner, "M1");
    cr_assert_eq(ledger_transfer_get(L, "r1", NULL, NULL, &x), 1);
    cr_assert_str_eq(x.kind, "reversal");
    check_ok();
}

/* The batch path (ledger_credit_many, then ledger_credit for the rows it left)
 * against the per-row path (ledger_credit for every row), on two databases
 * with the same history: the same outcome per row and the same tables. */
static void mixed_history(ledger *l)
{
    int64_t f, b;
    ledger_credit_out o;
    /* what each family was paid before, BPNT, under other labels */
    static const struct {
        uint64_t kk;
        int first, last;
        int64_t amount;
    } paid[] = {
        {1271010000000004ull, M(2026, 2), M(2026, 4), 600000}, /* overlap */
        {1271010000000005ull, M(2026, 3), M(2026, 5), 600000}, /* rerun, same amount */
        {1271010000000006ull, M(2026, 3), M(2026, 5), 500000}, /* rerun, other amount */
        {1271010000000007ull, M(2026, 6), M(2026, 6), 200000}, /* a gap before: late */
        {1271010000000008ull, M(2026, 1), M(2026, 2), 400000}, /* before: fast */
        {1271010000000011ull, M(2026, 1), M(2026, 1), 200000}, /* a gap between */
        {1271010000000011ull, M(2026, 7), M(2026, 7), 200000},
    };
    for (uint64_t kk = 1271010000000001ull; kk <= 1271010000000012ull; kk++)
        if (kk != 1271010000000002ull) /* no account */
            cr_assert_eq(ledger_account_open(l, kk, kk == 1271010000000003ull ? LEDGER_PKH : 3, AT),
                         LEDGER_OPENED);
    cr_assert_eq(ledger_funding(l, "pkh", "2026-T2", &f), 0);
    cr_assert_eq(ledger_credit_batch(l, f, AT, &b), 0);
    ledger_credit_in pk = {.kk = 1271010000000009ull, .program = LEDGER_PKH,
                           .first = M(2026, 4), .last = M(2026, 6), .batch = b, .amount = 750000};
    cr_assert_eq(ledger_credit(l, &pk, &o), 0); /* the other programme: no matter */
    cr_assert_eq(ledger_funding_add(l, f, -750000), 0);
    for (size_t i = 0; i < sizeof paid / sizeof paid[0]; i++) {
        char label[32];
        snprintf(label, sizeof label, "old-%zu", i);
        cr_assert_eq(ledger_funding(l, "bpnt", label, &f), 0);
        cr_assert_eq(ledger_credit_batch(l, f, AT, &b), 0);
        ledger_credit_in in = {.kk = paid[i].kk, .program = LEDGER_BPNT, .first = paid[i].first,
                               .last = paid[i].last, .batch = b, .amount = paid[i].amount};
        cr_assert_eq(ledger_credit(l, &in, &o), 0);
        cr_assert_eq(ledger_funding_add(l, f, -paid[i].amount), 0);
    }
}

/* The tables of a ledger as one string, to compare two. */
static void dump(sqlite3 *d, char *out, size_t cap)
{
    sqlite3_stmt *s;
    size_t n = 0;
    cr_assert_eq(sqlite3_prepare_v2(d,
                                    "SELECT group_concat(x, ';') FROM (SELECT kk || ',' || pkh || ','"
                                    " || bpnt || ',' || programs || ',' || pkh_last || ',' || bpnt_last"
                                    " || ',' || quote(room) AS x FROM wallet UNION ALL SELECT kk || ','"
                                    " || program || ',' || first || ',' || last || ',' || batch || ','"
                                    " || amount FROM credit UNION ALL SELECT id || ',' || balance FROM"
                                    " funding UNION ALL SELECT id || ',' || funding FROM credit_batch)",
                                    -1, &s, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    n = (size_t)snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    cr_assert(n < cap);
    sqlite3_finalize(s);
}

/* The one integer a query returns. */
static int64_t count(sqlite3 *d, const char *q)
{
    sqlite3_stmt *s;
    int64_t v;
    cr_assert_eq(sqlite3_prepare_v2(d, q, -1, &s, NULL), SQLITE_OK, "%s", q);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", q);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

Test(ledger, a_batch_at_once_ends_as_row_by_row)
{
    sqlite3 *d2;
    ledger *l2;
    int64_t f1, f2, b1, b2, total = 0;
    /* 1 fast, 2 no account, 3 not in BPNT, 4 overlap, 5 rerun, 6 rerun with another
     * amount, 7 late gap, 8 fast after earlier months, 9 fast (PKH paid), 10 fast,
     * 11 late, between paid months, 12 fast */
    uint64_t kk[12];
    int64_t amount[12];
    unsigned char done[12];
    ledger_credit_out o1, o2;
    cr_assert_eq(kks_db_open(":memory:", ledger_schema, ledger_schema_versions, &d2), 0);
    cr_assert_eq(ledger_new(d2, &l2), 0);
    mixed_history(L);
    mixed_history(l2);
    cr_assert_eq(ledger_funding(L, "bpnt", "2026-03..05", &f1), 0);
    cr_assert_eq(ledger_credit_batch(L, f1, AT, &b1), 0);
    cr_assert_eq(ledger_funding(l2, "bpnt", "2026-03..05", &f2), 0);
    cr_assert_eq(ledger_credit_batch(l2, f2, AT, &b2), 0);
    cr_assert_eq(b1, b2);
    for (int i = 0; i < 12; i++) {
        kk[i] = 1271010000000001ull + (uint64_t)i;
        amount[i] = 600000;
    }
    ledger_credit_in in = {.program = LEDGER_BPNT, .first = M(2026, 3), .last = M(2026, 5),
                           .batch = b2};
    cr_assert_eq(ledger_credit_many(l2, &in, kk, amount, 12, done), 5);
    cr_assert_eq(ledger_credit_walks_stopped(l2), 0); /* twelve wallets in a row: walked */
    static const int want[12] = {0, LEDGER_NO_ACCOUNT, LEDGER_NOT_IN_PROGRAM, LEDGER_OVERLAP,
                                 LEDGER_ALREADY, LEDGER_OTHER_AMOUNT, 0, 0, 0, 0, 0, 0};
    static const unsigned char fast[12] = {1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1};
    for (int i = 0; i < 12; i++) {
        in.kk = kk[i];
        in.amount = amount[i];
        in.batch = b1;
        int r1 = ledger_credit(L, &in, &o1);
        cr_assert_eq(r1, want[i], "row %d: %d", i, r1);
        cr_assert_eq(done[i], fast[i], "row %d", i);
        if (done[i])
            continue;
        in.batch = b2;
        in.tried = 1;
        int r2 = ledger_credit(l2, &in, &o2);
        in.tried = 0;
        cr_assert_eq(r2, r1, "row %d", i);
        cr_assert_eq(memcmp(&o1, &o2, sizeof o1), 0, "row %d", i);
        if (r1 == 0)
            total += amount[i];
    }
    cr_assert_eq(ledger_funding_add(L, f1, -(total + 5 * 600000)), 0);
    cr_assert_eq(ledger_funding_add(l2, f2, -(total + 5 * 600000)), 0);
    check_ok();
    char t1[8192], t2[8192];
    dump(db, t1, sizeof t1);
    dump(d2, t2, sizeof t2);
    cr_assert_str_eq(t1, t2);
    /* a second time: nothing is fast any more, nothing moves */
    cr_assert_eq(ledger_credit_many(l2, &in, kk, amount, 12, done), 0);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(done[i], 0);
    dump(d2, t1, sizeof t1);
    cr_assert_str_eq(t1, t2);
    ledger_free(l2);
    kks_db_close(d2);
}

/* A batch walks the wallets from its first family to its last; rows spread
 * thinly over many wallets stop the walk, which is rolled back whole, and are
 * collected instead: the same credits, nothing written twice. */
Test(ledger, a_sparse_batch_is_credited_once)
{
    uint64_t kk[3] = {1271010000000001ull, 1271010000000150ull, 1271010000000300ull};
    int64_t amount[3] = {200000, 400000, 600000}, f, b;
    unsigned char done[3];
    for (uint64_t k = kk[0]; k <= kk[2]; k++)
        cr_assert_eq(ledger_account_open(L, k, 3, AT), LEDGER_OPENED);
    cr_assert_eq(ledger_funding(L, "bpnt", "2026-11", &f), 0);
    cr_assert_eq(ledger_credit_batch(L, f, AT, &b), 0);
    ledger_credit_in in = {.program = LEDGER_BPNT, .first = M(2026, 11), .last = M(2026, 11),
                           .batch = b};
    cr_assert_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(ledger_credit_many(L, &in, kk, amount, 3, done), 3);
    cr_assert_eq(ledger_credit_walks_stopped(L), 1, "the walk was not stopped");
    cr_assert_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    cr_assert(done[0] && done[1] && done[2]);
    cr_assert_eq(ledger_funding_add(L, f, -1200000), 0);
    cr_assert_eq(count(db, "SELECT count(*) FROM credit"), 3);
    cr_assert_eq(count(db, "SELECT sum(bpnt) FROM wallet"), 1200000);
    cr_assert_eq(count(db, "SELECT count(*) FROM wallet WHERE bpnt > 0"), 3);
    /* the walk's credit was undone */
    cr_assert_eq(count(db, "SELECT bpnt FROM wallet WHERE kk = 1271010000000001"), 200000);
    check_ok();
}

Test(ledger, a_batch_at_once_refuses_what_it_cannot_take)
{
    uint64_t kk[3] = {1271010000000001ull, 1271010000000003ull, 1271010000000002ull};
    int64_t amount[3] = {1, 1, 1};
    unsigned char done[3];
    ledger_credit_in in = {.program = LEDGER_BPNT, .first = M(2026, 3), .last = M(2026, 5),
                           .batch = 1};
    cr_assert_eq(ledger_credit_many(L, &in, kk, amount, 3, done), KKS_EINVAL); /* not in order */
    kk[2] = 1271010000000003ull;
    cr_assert_eq(ledger_credit_many(L, &in, kk, amount, 3, done), KKS_EINVAL); /* twice */
    kk[2] = 1271010000000004ull;
    amount[1] = 0;
    cr_assert_eq(ledger_credit_many(L, &in, kk, amount, 3, done), KKS_EINVAL);
    amount[1] = 1;
    in.program = 4;
    cr_assert_eq(ledger_credit_many(L, &in, kk, amount, 3, done), KKS_EINVAL);
    in.program = LEDGER_BPNT;
    cr_assert_eq(ledger_credit_many(L, &in, kk, amount, 0, done), 0);
    cr_assert_eq(ledger_credit_many(L, &in, kk, amount, 3, done), 0); /* no accounts */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(done[i], 0);
}

static void journal(const char *terminal, uint32_t stan, const char *to, int64_t amount)
{
    uint8_t digest[32] = {0};
    txnlog_row r = {.terminal = terminal, .local_date = "2026-11-24", .bdate = "2026-11-24",
                    .type = "purchase", .pan = "5046010000000012", .pan_masked = "504601******0012",
                    .wallet = "bpnt", .rc = "00", .rrn = "1", .auth_code = "A", .to_kind = "merchant",
                    .to_owner = to, .at = AT, .stan = stan, .digest = digest, .kk = 1,
                    .amount = amount, .reply = (const uint8_t *)"", .reply_len = 0};
    cr_assert_eq(txnlog_insert(J, &r), 0);
}

/* The per-card withdrawal limit's count and sum: approved withdrawals of the
 * card on the business day, a reversed one not counted; answered from the
 * index alone (version 9), never from the journal's rows. */
Test(ledger, a_cards_withdrawals_of_the_day_from_the_index_alone)
{
    uint8_t digest[32] = {0};
    static const struct {
        const char *pan, *bdate, *rc;
        int64_t amount;
    } w[] = {
        {"5046010000000012", "2026-11-24", "00", 100000}, {"5046010000000012", "2026-11-24", "00", 50000},
        {"5046010000000012", "2026-11-24", "51", 900000}, {"5046010000000012", "2026-11-23", "00", 70000},
        {"5046010000000020", "2026-11-24", "00", 30000},  {"5046010000000012", "2026-11-24", "00", 20000},
    };
    for (uint32_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        txnlog_row r = {.terminal = "ATM-1", .local_date = w[i].bdate, .bdate = w[i].bdate,
                        .type = "withdraw", .pan = w[i].pan, .pan_masked = "x", .wallet = "pkh",
                        .rc = w[i].rc, .rrn = "1", .auth_code = "A", .at = AT, .stan = i + 1,
                        .digest = digest, .kk = 1, .amount = w[i].amount,
                        .reply = (const uint8_t *)"", .reply_len = 0};
        cr_assert_eq(txnlog_insert(J, &r), 0);
    }
    txnlog_orig o;
    cr_assert_eq(txnlog_original(J, "ATM-1", "2026-11-24", 6, &o), 1);
    cr_assert_eq(txnlog_set_reversed(J, o.rowid, "2026-11-24"), 0);
    int64_t n;
    cr_assert_eq(txnlog_withdrawn(J, "5046010000000012", "2026-11-24", &n), 150000);
    cr_assert_eq(n, 2);
    cr_assert_eq(txnlog_withdrawn(J, "5046010000000099", "2026-11-24", &n), 0);
    cr_assert_eq(n, 0);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT coalesce(sum(amount), 0),"
                                        " count(*) FROM txn WHERE pan_ref = 'x' AND bdate = 'y'"
                                        " AND type = 'withdraw' AND rc = '00' AND reversed = 0",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert(strstr((const char *)sqlite3_column_text(st, 3),
                     "USING COVERING INDEX txn_card_withdrawn"),
              "%s", sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
}

Test(ledger, settlement_batches_take_what_arrived_since)
{
    txnlog_settle_line l[8];
    txnlog_orig o;
    int more;
    journal("EW-1", 1, "M1", 100000);
    journal("EW-1", 2, "M1", 50000);
    journal("EW-2", 1, "M2", 70000);
    cr_assert_eq(txnlog_settle_last(J, "2026-11-24"), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8, &more), 2);
    cr_assert(strcmp(l[0].id, "M1") == 0 && l[0].count == 2 && l[0].total == 150000);
    cr_assert_not(more);
    cr_assert_eq(txnlog_settle_commit(J, "2026-11-24", 1, l, 2, AT), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8, &more), 0, "nothing new");
    cr_assert_eq(txnlog_settle_last(J, "2026-11-24"), 1);
    /* a purchase after the batch; a reversal, the next day, of a settled one */
    journal("EW-1", 3, "M1", 30000);
    cr_assert_eq(txnlog_original(J, "EW-2", "2026-11-24", 1, &o), 1);
    cr_assert_eq(txnlog_set_reversed(J, o.rowid, "2026-11-25"), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8, &more), 1);
    cr_assert(strcmp(l[0].id, "M1") == 0 && l[0].count == 1 && l[0].total == 30000);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-25", l, 8, &more), 1,
                 "the reversal is netted on its own day");
    cr_assert(strcmp(l[0].id, "M2") == 0 && l[0].count == -1 && l[0].total == -70000);
    cr_assert_eq(txnlog_settle_commit(J, "2026-11-25", 1, l, 1, AT), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-25", l, 8, &more), 0);
    /* reversed before it was settled: nets to nothing, no line */
    journal("EW-5", 1, "M5", 10000);
    cr_assert_eq(txnlog_original(J, "EW-5", "2026-11-24", 1, &o), 1);
    cr_assert_eq(txnlog_set_reversed(J, o.rowid, "2026-11-24"), 0);
    /* more payables than a batch takes: the batch stops at its last line's payable */
    journal("EW-3", 1, "M3", 1000);
    journal("EW-4", 1, "M4", 2000);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 2, &more), 2);
    cr_assert(more, "M4 waits");
    cr_assert(strcmp(l[0].id, "M1") == 0 && strcmp(l[1].id, "M3") == 0);
    cr_assert_eq(txnlog_settle_commit(J, "2026-11-24", 2, l, 2, AT), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8, &more), 1);
    cr_assert(strcmp(l[0].id, "M4") == 0 && !more);
    cr_assert_eq(txnlog_settle_commit(J, "2026-11-24", 3, l, 1, AT), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8, &more), 0,
                 "M5's purchase and reversal closed with nothing to settle");
    cr_assert_eq(txnlog_settle_lines(J, "2026-11-24", 2, l, 8), 2);
    /* the same identity cannot be journaled twice: money never moves without its row */
    uint8_t digest[32] = {0};
    txnlog_row again = {.terminal = "EW-1", .local_date = "2026-11-24", .bdate = "2026-11-24",
                        .type = "purchase", .pan = "5046010000000012", .pan_masked = "x",
                        .rc = "00", .at = AT, .stan = 1, .digest = digest,
                        .reply = (const uint8_t *)"r", .reply_len = 1};
    cr_assert_eq(txnlog_insert(J, &again), KKS_EDB);
}

/* A version-2 database (before accounts, month ranges and batches). */
static void v2_db(const char *path, const char *data)
{
    sqlite3 *d;
    unlink(path);
    cr_assert_eq(kks_db_open(path, ledger_schema, 2, &d), 0);
    cr_assert_eq(kks_db_exec(d, data), 0);
    kks_db_close(d);
}

Test(migration, credits_paid_twice_under_two_labels_refuse_the_upgrade)
{
    char path[] = "/tmp/kks-mig-XXXXXX";
    int fd = mkstemp(path);
    sqlite3 *d;
    close(fd);
    v2_db(path, "INSERT INTO funding(id, program, period, balance) VALUES"
                " (1, 'bpnt', '2026-10..12', -600000), (2, 'bpnt', '2026-11', -200000);"
                "INSERT INTO wallet(kk, bpnt, opened_at) VALUES (1271051502100101, 800000, 'x');"
                "INSERT INTO credit VALUES (1271051502100101, 1, 600000, 'x'),"
                " (1271051502100101, 2, 200000, 'x');");
    cr_assert_lt(kks_db_open(path, ledger_schema, ledger_schema_versions, &d), 0,
                 "an upgrade would hide a month paid twice");
    /* and it stays at version 2, whole */
    cr_assert_eq(kks_db_open(path, ledger_schema, 2, &d), 0);
    kks_db_close(d);
    unlink(path);
}

/* Version 8 rebuilds the transfer table: every row and id kept; keys unique
 * for all kinds but a terminal's payments, which their journal rows keep. */
Test(migration, version_8_keeps_every_transfer_and_keys_all_but_payments)
{
    char path[] = "/tmp/kks-mig-XXXXXX";
    int fd = mkstemp(path);
    sqlite3 *d;
    sqlite3_stmt *st;
    ledger *l;
    close(fd);
    unlink(path);
    cr_assert_eq(kks_db_open(path, ledger_schema, 7, &d), 0);
    cr_assert_eq(kks_db_exec(d,
                             "INSERT INTO wallet(kk, bpnt, opened_at) VALUES (1271051502100101, 40000, 'x');"
                             "INSERT INTO account VALUES ('merchant', 'M1', 60000), ('funding', '1', -100000);"
                             "INSERT INTO transfer(id, key, from_kind, from_owner, to_kind, to_owner, amount,"
                             " kind, at) VALUES (7, 'txn:EW-1:2026-11-20:000001', 'bpnt',"
                             " '1271051502100101', 'merchant', 'M1', 70000, 'purchase', 'a'),"
                             " (9, 'rev:EW-1:2026-11-20:000001', 'merchant', 'M1', 'bpnt',"
                             " '1271051502100101', 10000, 'reversal', 'b')"),
                 0);
    kks_db_close(d);
    cr_assert_eq(kks_db_open(path, ledger_schema, ledger_schema_versions, &d), 0);
    cr_assert_eq(sqlite3_prepare_v2(d, "SELECT group_concat(id || ':' || kind, ' ') FROM transfer",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "7:purchase 9:reversal");
    sqlite3_finalize(st);
    cr_assert_eq(ledger_new(d, &l), 0);
    cr_assert_eq(ledger_transfer(l, "rev:EW-1:2026-11-20:000001", "merchant", "M1", "bpnt",
                                 "1271051502100101", 10000, "reversal", AT),
                 LEDGER_DUPLICATE);
    cr_assert_eq(ledger_transfer(l, "txn:EW-1:2026-11-20:000001", "bpnt", "1271051502100101",
                                 "merchant", "M1", 20000, "purchase", AT),
                 0, "a payment's key is left to the journal");
    /* the lookups use the indexes (a payment's through its wallet's) */
    static const char *const plans[][2] = {
        {"EXPLAIN QUERY PLAN SELECT 1 FROM transfer WHERE key = 'k' AND kind NOT IN"
         " ('purchase', 'withdraw')", "transfer_key"},
        {"EXPLAIN QUERY PLAN SELECT 1 FROM transfer WHERE from_kind = 'bpnt' AND from_owner = 'o'"
         " AND key = 'k'", "transfer_from"},
    };
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(sqlite3_prepare_v2(d, plans[i][0], -1, &st, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        cr_assert(strstr((const char *)sqlite3_column_text(st, 3), plans[i][1]), "%s",
                  sqlite3_column_text(st, 3));
        sqlite3_finalize(st);
    }
    ledger_free(l);
    kks_db_close(d);
    unlink(path);
}

Test(migration, what_version_2_settled_stays_settled)
{
    char path[] = "/tmp/kks-mig-XXXXXX";
    int fd = mkstemp(path);
    sqlite3 *d;
    ledger *l;
    txnlog *j;
    txnlog_settle_line lines[4];
    int more;
    close(fd);
    v2_db(path,
          "INSERT INTO funding(id, program, period, balance) VALUES (1, 'bpnt', '2026-11', -200000);"
          "INSERT INTO wallet(kk, bpnt, opened_at) VALUES (1271051502100101, 50000, 'x');"
          "INSERT INTO credit VALUES (1271051502100101, 1, 200000, '2026-11-01T00:00:00Z');"
          /* a purchase, settled by version 2, then one after the settlement */
          "INSERT INTO txn(terminal, local_date, stan, type, rc, amount, wallet, to_kind, to_owner,"
          " at, reply) VALUES ('EW-1', '2026-11-20', 1, 'purchase', '00', 100000, 'bpnt',"
          " 'merchant', 'M1', '2026-11-20T03:00:00Z', x'00'),"
          " ('EW-1', '2026-11-20', 2, 'purchase', '00', 50000, 'bpnt', 'merchant', 'M1',"
          " '2026-11-20T09:00:00Z', x'00');"
          "INSERT INTO transfer(key, from_kind, from_owner, to_kind, to_owner, amount, kind, at)"
          " VALUES ('txn:EW-1:2026-11-20:000001', 'bpnt', '1271051502100101', 'merchant', 'M1',"
          " 100000, 'purchase', '2026-11-20T03:00:00Z'),"
          " ('txn:EW-1:2026-11-20:000002', 'bpnt', '1271051502100101', 'merchant', 'M1',"
          " 50000, 'purchase', '2026-11-20T09:00:00Z'),"
          " ('settle:2026-11-20:merchant:M1', 'merchant', 'M1', 'settled', 'merchant:M1',"
          " 100000, 'settlement', '2026-11-20T05:00:00Z');"
          "INSERT INTO account VALUES ('merchant', 'M1', 50000), ('settled', 'merchant:M1', 100000);");
    cr_assert_eq(kks_db_open(path, ledger_schema, ledger_schema_versions, &d), 0);
    cr_assert_eq(ledger_new(d, &l), 0);
    cr_assert_eq(txnlog_new(d, key, &j), 0);
    cr_assert_eq(txnlog_settle_last(j, "2026-11-20"), 1, "version 2's settlement is batch 1");
    cr_assert_eq(txnlog_settle_pending(j, "2026-11-20", lines, 4, &more), 1);
    cr_assert_eq(lines[0].count, 1, "only the purchase after it waits");
    cr_assert_eq(lines[0].total, 50000);
    char why[256];
    int64_t a, t, w, f;
    cr_assert_eq(ledger_check(l, why, sizeof why, &a, &t, &w, &f), 0, "%s", why);
    txnlog_free(j);
    ledger_free(l);
    kks_db_close(d);
    unlink(path);
}

/* Every rule of ledger_check, each broken once behind the ledger's back (the
 * other rules kept whole, so the one broken is the one named), then put back:
 * the check's first finding names it. */
Test(ledger, check_names_each_broken_rule)
{
    static const struct {
        const char *corrupt, *says;
    } rules[] = {
        {"UPDATE wallet SET pkh = pkh + 1 WHERE kk = 1271010000000001", "balances sum to 1, not 0"},
        {"UPDATE account SET balance = balance + (SELECT bpnt + 100 FROM wallet WHERE kk ="
         " 1271010000000001) WHERE owner = 'M1';"
         "UPDATE wallet SET bpnt = -100 WHERE kk = 1271010000000001",
         "negative wallet: family 1271010000000001: PKH 300000, BPNT -100"},
        {"UPDATE credit SET batch = 999 WHERE kk = 1271010000000002",
         "credit of family 1271010000000002 names batch 999, which does not exist"},
        {"UPDATE funding SET balance = balance + 1000 WHERE program = 'pkh';"
         "UPDATE funding SET balance = balance - 1000 WHERE program = 'bpnt'",
         "funding pkh "},
        {"UPDATE wallet SET bpnt = bpnt - 1000 WHERE kk = 1271010000000001;"
         "UPDATE wallet SET bpnt = bpnt + 1000 WHERE kk = 1271010000000002",
         ": wallets PKH "},
        {"UPDATE wallet SET pkh_last = pkh_last - 3 WHERE kk = 1271010000000002",
         "family 1271010000000002: last paid month on the account is behind its credits"},
        {"UPDATE account SET balance = balance + 1000 WHERE owner = 'M1';"
         "UPDATE account SET balance = balance - 1000 WHERE owner = 'M2'",
         "merchant M1: balance "},
    };
    ledger_credit_out o;
    uint64_t a = 1271010000000001ull, b = 1271010000000002ull;
    char why[256];
    int64_t n1, n2, n3, n4;
    ledger_account_open(L, a, 3, AT);
    ledger_account_open(L, b, 3, AT);
    cr_assert_eq(credit(a, LEDGER_PKH, M(2026, 10), M(2026, 12), 300000, &o), 0);
    cr_assert_eq(credit(a, LEDGER_BPNT, M(2026, 11), M(2026, 11), 200000, &o), 0);
    cr_assert_eq(credit(b, LEDGER_PKH, M(2026, 10), M(2026, 12), 300000, &o), 0);
    cr_assert_eq(credit(b, LEDGER_BPNT, M(2026, 11), M(2026, 11), 200000, &o), 0);
    cr_assert_eq(ledger_transfer(L, "txn:T1:2026-11-24:000001", "bpnt", "1271010000000001",
                                 "merchant", "M1", 50000, "purchase", AT),
                 0);
    cr_assert_eq(ledger_transfer(L, "txn:T2:2026-11-24:000001", "bpnt", "1271010000000002",
                                 "merchant", "M2", 70000, "purchase", AT),
                 0);
    check_ok();
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        char sql[600];
        snprintf(sql, sizeof sql, "SAVEPOINT broken; %s", rules[i].corrupt);
        cr_assert_eq(kks_db_exec(db, sql), 0, "rule %zu", i);
        cr_assert_eq(ledger_check(L, why, sizeof why, &n1, &n2, &n3, &n4), 1,
                     "rule %zu broken, and the check found nothing", i);
        cr_assert(strstr(why, rules[i].says), "rule %zu: %s", i, why);
        cr_assert_eq(kks_db_exec(db, "ROLLBACK TO broken; RELEASE broken"), 0);
        check_ok();
    }
}

/* The ledger check as it was written in SQL (a rule a query, four scans and
 * a window over the credits), kept here as the oracle of the one-pass check. */
static int oracle_probe(sqlite3 *d, const char *q, char *what, size_t cap, int64_t *num)
{
    sqlite3_stmt *s;
    int r;
    cr_assert_eq(sqlite3_prepare_v2(d, q, -1, &s, NULL), SQLITE_OK, "%s", q);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        if (num)
            *num = sqlite3_column_int64(s, 0);
        if (what)
            snprintf(what, cap, "%s", (const char *)sqlite3_column_text(s, 0));
        r = 1;
    } else {
        r = r == SQLITE_DONE ? 0 : KKS_EDB;
    }
    sqlite3_finalize(s);
    return r;
}

static int check_sql(sqlite3 *d, char *violation, size_t cap, int64_t *accounts,
                     int64_t *transfers, int64_t *wallets_total, int64_t *funding_total)
{
    char row[200];
    int64_t sum = 0;
    violation[0] = '\0';
    if (oracle_probe(d, "SELECT (SELECT count(*) FROM funding) + 2 * (SELECT count(*) FROM wallet)"
                     " + (SELECT count(*) FROM account)", NULL, 0, accounts) < 0 ||
        oracle_probe(d, "SELECT (SELECT count(*) FROM credit) + (SELECT count(*) FROM transfer)",
              NULL, 0, transfers) < 0 ||
        oracle_probe(d, "SELECT coalesce(sum(pkh + bpnt), 0) FROM wallet", NULL, 0, wallets_total) < 0 ||
        oracle_probe(d, "SELECT coalesce(sum(balance), 0) FROM funding", NULL, 0, funding_total) < 0)
        return KKS_EDB;

    /* 1. All balances sum to zero. */
    if (oracle_probe(d, "SELECT (SELECT coalesce(sum(balance), 0) FROM funding)"
                     " + (SELECT coalesce(sum(pkh + bpnt), 0) FROM wallet)"
                     " + (SELECT coalesce(sum(balance), 0) FROM account)",
              NULL, 0, &sum) < 0)
        return KKS_EDB;
    if (sum != 0) {
        snprintf(violation, cap, "balances sum to %" PRId64 ", not 0", sum);
        return 1;
    }
    /* 2. No family wallet is negative. 3. Every balance equals the sum of its
     * transfers: funding accounts, family wallets, named accounts. The first
     * query that returns a row names the violation. */
    static const char *const checks[] = {
        "SELECT 'negative wallet: family ' || kk || ': PKH ' || pkh || ', BPNT ' || bpnt"
        " FROM wallet WHERE pkh < 0 OR bpnt < 0 LIMIT 1",
        "SELECT 'credit of family ' || kk || ' names batch ' || batch || ', which does not exist'"
        " FROM credit WHERE batch NOT IN (SELECT id FROM credit_batch) LIMIT 1",
        "WITH c AS (SELECT b.funding, sum(c.amount) AS s FROM credit c"
        "   JOIN credit_batch b ON b.id = c.batch GROUP BY b.funding),"
        " t AS (SELECT owner, sum(d) AS s FROM (SELECT to_owner AS owner, amount AS d"
        "   FROM transfer WHERE to_kind = 'funding' UNION ALL SELECT from_owner, -amount"
        "   FROM transfer WHERE from_kind = 'funding') GROUP BY owner)"
        " SELECT 'funding ' || f.program || ' ' || f.period || ': balance ' || f.balance"
        " || ', transfers ' || (coalesce(t.s, 0) - coalesce(c.s, 0))"
        " FROM funding f LEFT JOIN c ON c.funding = f.id LEFT JOIN t ON t.owner = f.id"
        " WHERE f.balance != coalesce(t.s, 0) - coalesce(c.s, 0) LIMIT 1",
        "WITH c AS (SELECT kk, sum(CASE WHEN program = 1 THEN amount END) AS p,"
        "   sum(CASE WHEN program = 2 THEN amount END) AS b FROM credit GROUP BY kk),"
        " t AS (SELECT owner, sum(CASE WHEN w = 'pkh' THEN d END) AS p,"
        "   sum(CASE WHEN w = 'bpnt' THEN d END) AS b FROM ("
        "   SELECT CAST(to_owner AS INTEGER) AS owner, to_kind AS w, amount AS d FROM transfer"
        "   WHERE to_kind IN ('pkh', 'bpnt') UNION ALL SELECT CAST(from_owner AS INTEGER),"
        "   from_kind, -amount FROM transfer WHERE from_kind IN ('pkh', 'bpnt'))"
        "   GROUP BY owner)"
        " SELECT 'family ' || w.kk || ': wallets PKH ' || w.pkh || ' BPNT ' || w.bpnt"
        " || ', transfers PKH ' || (coalesce(c.p, 0) + coalesce(t.p, 0)) || ' BPNT '"
        " || (coalesce(c.b, 0) + coalesce(t.b, 0))"
        " FROM wallet w LEFT JOIN c ON c.kk = w.kk LEFT JOIN t ON t.owner = w.kk"
        " WHERE w.pkh != coalesce(c.p, 0) + coalesce(t.p, 0)"
        " OR w.bpnt != coalesce(c.b, 0) + coalesce(t.b, 0) LIMIT 1",
        /* 4. A month is paid at most once per family and programme. */
        "SELECT 'family ' || kk || ': ' || CASE program WHEN 1 THEN 'PKH' ELSE 'BPNT' END"
        " || ' paid twice for ' || printf('%04d-%02d', first / 12, first % 12 + 1)"
        " FROM (SELECT kk, program, first, lag(last) OVER (PARTITION BY kk, program"
        "  ORDER BY first) AS prev FROM credit) WHERE prev >= first LIMIT 1",
        "SELECT 'family ' || w.kk || ': last paid month on the account is behind its credits'"
        " FROM wallet w WHERE w.pkh_last < (SELECT max(last) FROM credit c WHERE c.kk = w.kk"
        " AND c.program = 1) OR w.bpnt_last < (SELECT max(last) FROM credit c"
        " WHERE c.kk = w.kk AND c.program = 2) LIMIT 1",
        /* (check.c asks this one in SQL too: here in other words) */
        "SELECT a.kind || ' ' || a.owner || ': balance ' || a.balance || ', transfers ' || s"
        " FROM (SELECT kind, owner, balance, (SELECT coalesce(sum(amount), 0) FROM transfer"
        "  WHERE to_kind = account.kind AND to_owner = account.owner) - (SELECT"
        "  coalesce(sum(amount), 0) FROM transfer WHERE from_kind = account.kind"
        "  AND from_owner = account.owner) AS s FROM account) a WHERE a.balance != s LIMIT 1",
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        int r = oracle_probe(d, checks[i], row, sizeof row, NULL);
        if (r < 0)
            return KKS_EDB;
        if (r == 1) {
            snprintf(violation, cap, "%s", row);
            return 1;
        }
    }
    return 0;
}

/* Runs one corruption with ?1 = d and ?2 = at: 0, or -1 if refused. */
static int corrupt_one(const char *q, int d, int at)
{
    sqlite3_stmt *s;
    int r;
    cr_assert_eq(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK, "%s: %s", q,
                 sqlite3_errmsg(db));
    sqlite3_bind_int(s, 1, d);
    sqlite3_bind_int(s, 2, at);
    r = sqlite3_step(s);
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? 0 : -1;
}

/* The one-pass check against the SQL oracle, on a ledger broken at random
 * behind its back (one to three changes at a time, each rolled back after):
 * the same verdict, the same first finding in the same words, the same
 * figures. The families start before and end after those with wallets, so
 * the merge's edges are walked. */
Test(ledger, check_agrees_with_the_sql_rules)
{
    static const char *const corrupt[] = {
        "UPDATE wallet SET pkh = pkh + ?1 WHERE kk = (SELECT kk FROM wallet ORDER BY kk LIMIT 1"
        " OFFSET ?2)",
        "UPDATE wallet SET bpnt = bpnt + ?1 WHERE kk = (SELECT kk FROM wallet ORDER BY kk LIMIT 1"
        " OFFSET ?2)",
        "UPDATE wallet SET pkh_last = pkh_last + ?1 % 3 WHERE kk = (SELECT kk FROM wallet"
        " ORDER BY kk LIMIT 1 OFFSET ?2)",
        "UPDATE wallet SET bpnt_last = bpnt_last + ?1 % 3 WHERE kk = (SELECT kk FROM wallet"
        " ORDER BY kk LIMIT 1 OFFSET ?2)",
        "UPDATE wallet SET bpnt = bpnt - ?1 * 1000000, pkh = pkh + ?1 * 1000000 WHERE kk ="
        " (SELECT kk FROM wallet ORDER BY kk LIMIT 1 OFFSET ?2)",
        "DELETE FROM wallet WHERE ?1 > 0 AND kk = (SELECT kk FROM wallet ORDER BY kk LIMIT 1"
        " OFFSET ?2)",
        "UPDATE credit SET amount = amount + ?1 WHERE (kk, program, first) = (SELECT kk,"
        " program, first FROM credit ORDER BY kk, program, first LIMIT 1 OFFSET ?2)",
        "UPDATE credit SET first = first - ?1 % 4, last = last - ?1 % 4 WHERE (kk, program,"
        " first) = (SELECT kk, program, first FROM credit ORDER BY kk, program, first LIMIT 1"
        " OFFSET ?2)",
        "UPDATE credit SET batch = batch + ?1 % 3 + (?1 > 500) * 1000 WHERE (kk, program, first) = (SELECT kk,"
        " program, first FROM credit ORDER BY kk, program, first LIMIT 1 OFFSET ?2)",
        "UPDATE credit SET kk = kk + ?1 % 50 WHERE (kk, program, first) = (SELECT kk,"
        " program, first FROM credit ORDER BY kk, program, first LIMIT 1 OFFSET ?2)",
        "INSERT INTO credit SELECT kk + ?1 % 2, program, first + 1, last + 1, batch, amount"
        " FROM credit ORDER BY kk, program, first LIMIT 1 OFFSET ?2",
        "UPDATE credit SET last = last + abs(?1 % 2) WHERE (kk, program, first) = (SELECT kk,"
        " program, first FROM credit ORDER BY kk, program, first LIMIT 1 OFFSET ?2)",
        "UPDATE funding SET balance = balance + ?1 WHERE id = 1 + ?2 % 3",
        "UPDATE transfer SET amount = amount + ?1 WHERE id = 1 + ?2",
        "UPDATE transfer SET from_owner = CAST(from_owner + ?1 % 30 AS TEXT) WHERE id = 1 + ?2",
        /* a transfer into or out of a funding account (none is written today) */
        "UPDATE transfer SET to_kind = 'funding', to_owner = CAST(1 + abs(?1) % 3 AS TEXT)"
        " WHERE id = 1 + ?2",
        "UPDATE transfer SET from_kind = 'funding', from_owner = CAST(1 + abs(?1) % 3 AS TEXT)"
        " WHERE id = 1 + ?2",
        "UPDATE account SET balance = balance + ?1 WHERE (kind, owner) = (SELECT kind, owner"
        " FROM account ORDER BY kind, owner LIMIT 1 OFFSET ?2 % 4)",
    };
    static const int deltas[] = {1, -1, 3, -200000, 750000, 1000};
    ledger_credit_out o;
    uint64_t state = 2026;
    int agreed[2] = {0, 0}, named[8] = {0};
    /* how each rule's finding reads: every rule is broken in some round */
    static const char *const rule[8] = {"balances sum to", "negative wallet", "names batch",
                                        "funding ", ": wallets PKH", "paid twice",
                                        "last paid month", ": balance "};
    /* families 2, 4, .. 40 with wallets; credits of families 1 and 41 come
     * only with a corruption that moves one there */
    for (uint64_t i = 2; i <= 40; i += 2) {
        uint64_t kk = 1271010000000000ull + i;
        cr_assert_eq(ledger_account_open(L, kk, i % 6 ? 3 : LEDGER_BPNT, AT), LEDGER_OPENED);
        if (i % 6)
            cr_assert_eq(credit(kk, LEDGER_PKH, M(2026, 10), M(2026, 12), 750000, &o), 0);
        cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 11), M(2026, 11), 200000, &o), 0);
        if (i % 4 == 0)
            cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 12), M(2026, 12), 200000, &o), 0);
    }
    for (int i = 0; i < 12; i++) {
        char tkey[32], owner[32];
        snprintf(tkey, sizeof tkey, "txn:T%d", i);
        snprintf(owner, sizeof owner, "%llu", 1271010000000002ull + 2ull * (unsigned)(i % 20));
        cr_assert_eq(ledger_transfer(L, tkey, i % 3 ? "bpnt" : "pkh", owner, i % 3 ? "merchant"
                                     : "atm", i % 2 ? "M1" : "M2", 10000 + i, "purchase", AT), 0);
    }
    cr_assert_eq(ledger_transfer(L, "rev:T1", "merchant", "M2", "bpnt", "1271010000000004", 10001,
                                 "reversal", AT), 0);
    check_ok();
    for (int round = 0; round < 2000; round++) {
        char why[256], want[256];
        int64_t got[4], exp[4];
        int n = 1 + (int)(round % 3), rg, rw;
        cr_assert_eq(kks_db_exec(db, "SAVEPOINT broken"), 0);
        for (int k = 0; k < n; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            unsigned c = (unsigned)(state >> 33) % (sizeof corrupt / sizeof corrupt[0]);
            int d = deltas[(state >> 20) % (sizeof deltas / sizeof deltas[0])];
            int at = (int)((state >> 40) % 24);
            cr_assert_eq(kks_db_exec(db, "SAVEPOINT one"), 0);
            if (corrupt_one(corrupt[c], d, at) != 0)
                cr_assert_eq(kks_db_exec(db, "ROLLBACK TO one"), 0); /* refused: no change */
            cr_assert_eq(kks_db_exec(db, "RELEASE one"), 0);
        }
        rg = ledger_check(L, why, sizeof why, &got[0], &got[1], &got[2], &got[3]);
        rw = check_sql(db, want, sizeof want, &exp[0], &exp[1], &exp[2], &exp[3]);
        cr_assert_eq(rg, rw, "round %d: %s | %s", round, why, want);
        if (rg == 1)
            cr_assert_str_eq(why, want, "round %d", round);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(got[i], exp[i], "round %d, figure %d", round, i);
        agreed[rg == 1]++;
        for (int r = 0; rg == 1 && r < 8; r++)
            if (strstr(why, rule[r])) {
                named[r]++;
                break;
            }
        cr_assert_eq(kks_db_exec(db, "ROLLBACK TO broken; RELEASE broken"), 0);
    }
    /* most rounds break something, some do not (a change and its undoing) */
    cr_assert(agreed[1] > 1000 && agreed[0] > 0, "%d ok, %d broken", agreed[0], agreed[1]);
    for (int r = 0; r < 8; r++)
        cr_assert(named[r] > 0, "no round broke the rule '%s'", rule[r]);
}
