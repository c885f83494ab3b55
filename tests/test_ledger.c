/* switch/ledger.c and switch/txnlog.c against an in-memory SQLite: accounts,
 * credits as ranges of months, transfers, the invariants, settlement batches. */
#include <criterion/criterion.h>
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
    cr_assert_eq(ledger_transfer(L, "k1", "bpnt", "1271010000000001", "merchant", "M1", 150000,
                                 "purchase", AT), LEDGER_DUPLICATE);
    cr_assert_eq(ledger_transfer(L, "k2", "bpnt", "1271010000000001", "merchant", "M1", 60000,
                                 "purchase", AT), LEDGER_NSF);
    cr_assert_eq(ledger_transfer(L, "k3", "bpnt", "1271010000000001", "merchant", "M1", 0,
                                 "purchase", AT), KKS_EINVAL);
    ledger_movement mv[10];
    cr_assert_eq(ledger_movements(L, kk, mv, 10), 2);
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
