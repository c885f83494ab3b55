/* switch/ledger.c and switch/txnlog.c against an in-memory SQLite: accounts,
 * credits as ranges of months, transfers, the invariants, settlement batches. */
#include <criterion/criterion.h>
#include <stdio.h>
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
    int64_t f;
    char label[32];
    snprintf(label, sizeof label, "%d..%d", first, last);
    cr_assert_eq(ledger_funding(L, prog == LEDGER_PKH ? "pkh" : "bpnt", label, &f), 0);
    ledger_credit_in in = {.kk = kk, .program = prog, .first = first, .last = last,
                           .funding = f, .amount = amount, .at = AT};
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
    cr_assert(o.first == M(2026, 2) && o.last == M(2026, 2), "%d..%d", o.first, o.last);
    cr_assert_str_eq(o.label, "24312..24314"); /* the funding label of the paid months */
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 3), M(2026, 5), 600000, &o), LEDGER_OVERLAP);
    cr_assert(o.first == M(2026, 3) && o.last == M(2026, 3));
    /* after the last paid month: the fast path; then across a year end */
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 6), M(2026, 6), 200000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 12), M(2027, 2), 600000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2027, 1), M(2027, 1), 200000, &o), LEDGER_OVERLAP);
    /* a gap paid late, and one that would straddle paid months */
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 4), M(2026, 5), 400000, &o), 0);
    cr_assert_eq(credit(kk, LEDGER_BPNT, M(2026, 7), M(2027, 3), 1800000, &o), LEDGER_OVERLAP);
    cr_assert(o.first == M(2026, 12) && o.last == M(2027, 2), "%d..%d", o.first, o.last);
    /* PKH is another programme: the same months are free there */
    cr_assert_eq(credit(kk, LEDGER_PKH, M(2026, 1), M(2026, 3), 750000, &o), 0);
    int64_t pkh, bpnt;
    cr_assert_eq(ledger_wallet(L, kk, &pkh, &bpnt), 0);
    cr_assert_eq(pkh, 750000);
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
                                 " 1, 200000, 'x'); UPDATE wallet SET bpnt = bpnt + 200000;"
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
    journal("EW-1", 1, "M1", 100000);
    journal("EW-1", 2, "M1", 50000);
    journal("EW-2", 1, "M2", 70000);
    cr_assert_eq(txnlog_settle_last(J, "2026-11-24"), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8), 2);
    cr_assert(strcmp(l[0].id, "M1") == 0 && l[0].count == 2 && l[0].total == 150000);
    cr_assert_eq(txnlog_settle_commit(J, "2026-11-24", 1, l, 2, AT), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8), 0, "nothing new");
    cr_assert_eq(txnlog_settle_last(J, "2026-11-24"), 1);
    /* a purchase after the batch, and a reversal of a settled one */
    journal("EW-1", 3, "M1", 30000);
    txnlog_orig o;
    cr_assert_eq(txnlog_original(J, "EW-2", "2026-11-24", 1, &o), 1);
    cr_assert_eq(txnlog_set_reversed(J, o.rowid), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8), 2);
    cr_assert(strcmp(l[0].id, "M1") == 0 && l[0].count == 1 && l[0].total == 30000);
    cr_assert(strcmp(l[1].id, "M2") == 0 && l[1].count == -1 && l[1].total == -70000);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 1), KKS_ETOOBIG);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8), 2);
    cr_assert_eq(txnlog_settle_commit(J, "2026-11-24", 2, l, 2, AT), 0);
    cr_assert_eq(txnlog_settle_pending(J, "2026-11-24", l, 8), 0);
    cr_assert_eq(txnlog_settle_lines(J, "2026-11-24", 2, l, 8), 2);
    /* the same identity cannot be journaled twice: money never moves without its row */
    uint8_t digest[32] = {0};
    txnlog_row again = {.terminal = "EW-1", .local_date = "2026-11-24", .bdate = "2026-11-24",
                        .type = "purchase", .pan = "5046010000000012", .pan_masked = "x",
                        .rc = "00", .at = AT, .stan = 1, .digest = digest,
                        .reply = (const uint8_t *)"r", .reply_len = 1};
    cr_assert_eq(txnlog_insert(J, &again), KKS_EDB);
}
