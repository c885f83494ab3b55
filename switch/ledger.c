#include "ledger.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_db.h"
#include "kks_err.h"
#include "kks_log.h"

/* The transfers whose key the transfer_key index keeps unique (version 8):
 * all but a terminal's payments, which their journal row keeps unique. */
#define XFER_KEYED "kind NOT IN ('purchase', 'withdraw')"

const char *const ledger_schema[] = {
    "CREATE TABLE funding(id INTEGER PRIMARY KEY, program TEXT NOT NULL, period TEXT NOT NULL,"
    " balance INTEGER NOT NULL DEFAULT 0, UNIQUE(program, period));"
    "CREATE TABLE wallet(kk INTEGER PRIMARY KEY, pkh INTEGER NOT NULL DEFAULT 0,"
    " bpnt INTEGER NOT NULL DEFAULT 0, opened_at TEXT NOT NULL);"
    /* keyed by family first: a credit run in KK order walks both tables in order */
    "CREATE TABLE credit(kk INTEGER NOT NULL, funding INTEGER NOT NULL,"
    " amount INTEGER NOT NULL CHECK (amount > 0), at TEXT NOT NULL,"
    " PRIMARY KEY (kk, funding)) WITHOUT ROWID;"
    "CREATE TABLE account(kind TEXT NOT NULL, owner TEXT NOT NULL,"
    " balance INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, owner)) WITHOUT ROWID;"
    "CREATE TABLE transfer(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " from_kind TEXT NOT NULL, from_owner TEXT NOT NULL, to_kind TEXT NOT NULL,"
    " to_owner TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0), kind TEXT NOT NULL,"
    " at TEXT NOT NULL);"
    "CREATE INDEX transfer_from ON transfer(from_kind, from_owner);"
    "CREATE INDEX transfer_to ON transfer(to_kind, to_owner);",
    /* 2: the transaction journal (PAN masked; pan_ref is a keyed hash for per-card limits) */
    "CREATE TABLE txn(id INTEGER PRIMARY KEY, terminal TEXT NOT NULL, local_date TEXT NOT NULL,"
    " stan INTEGER NOT NULL, type TEXT NOT NULL, digest BLOB, pan_masked TEXT, pan_ref TEXT,"
    " kk INTEGER, rc TEXT NOT NULL, amount INTEGER NOT NULL DEFAULT 0, wallet TEXT, rrn TEXT,"
    " auth_code TEXT, reply BLOB, to_kind TEXT, to_owner TEXT,"
    " reversed INTEGER NOT NULL DEFAULT 0, at TEXT NOT NULL,"
    " UNIQUE(terminal, local_date, stan));"
    "CREATE INDEX txn_card_day ON txn(pan_ref, local_date) WHERE type = 'withdraw';"
    "CREATE INDEX txn_day ON txn(local_date);"
    "CREATE TABLE settlement(date TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,"
    " count INTEGER NOT NULL, total INTEGER NOT NULL, at TEXT NOT NULL,"
    " PRIMARY KEY(date, kind, id));",
    /* 3: accounts with programmes; credits as ranges of months (a month is paid
     * once whatever the label); the journal keeps the switch's business date,
     * each money transaction's settlement batch and, for a reversal, its own
     * business date and the batch that nets it; settlements are numbered
     * within a day. An older database whose credits overlap (a month paid
     * twice under two labels) is refused: the migration fails whole, the
     * database stays at 2, and the constraint's name says why. What version 2
     * settled (its transfers keyed settle:DATE:KIND:ID) counts as batch 1. */
    "ALTER TABLE wallet ADD COLUMN programs INTEGER NOT NULL DEFAULT 3;"
    "ALTER TABLE wallet ADD COLUMN pkh_last INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE wallet ADD COLUMN bpnt_last INTEGER NOT NULL DEFAULT -1;"
    /* room: bytes an account is opened with and its first credit gives back, so
     * that the row does not grow (balances from 0 to millions, last months from
     * -1) and the first credit rewrites it in place instead of splitting its page */
    "ALTER TABLE wallet ADD COLUMN room BLOB;"
    "CREATE TABLE credit3(kk INTEGER NOT NULL, program INTEGER NOT NULL, first INTEGER NOT NULL,"
    " last INTEGER NOT NULL, funding INTEGER NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0),"
    " at TEXT NOT NULL, PRIMARY KEY (kk, program, first)) WITHOUT ROWID;"
    "INSERT INTO credit3 SELECT c.kk, CASE f.program WHEN 'pkh' THEN 1 ELSE 2 END,"
    " CAST(substr(f.period, 1, 4) AS INTEGER) * 12 + CASE f.program WHEN 'pkh'"
    "  THEN (CAST(substr(f.period, 7, 1) AS INTEGER) - 1) * 3"
    "  ELSE CAST(substr(f.period, 6, 2) AS INTEGER) - 1 END,"
    " CAST(substr(f.period, 1, 4) AS INTEGER) * 12 + CASE WHEN f.program = 'pkh'"
    "  THEN (CAST(substr(f.period, 7, 1) AS INTEGER) - 1) * 3 + 2"
    "  WHEN length(f.period) = 11 THEN CAST(substr(f.period, 10, 2) AS INTEGER) - 1"
    "  ELSE CAST(substr(f.period, 6, 2) AS INTEGER) - 1 END,"
    " c.funding, c.amount, c.at FROM credit c JOIN funding f ON f.id = c.funding;"
    "CREATE TEMP TABLE upgrade_check(n INTEGER, CONSTRAINT \"credits of one family overlap"
    " under two labels (a month paid twice): resolve them before upgrading\" CHECK (n = 0));"
    "INSERT INTO upgrade_check SELECT count(*) FROM (SELECT first, lag(last) OVER"
    " (PARTITION BY kk, program ORDER BY first) AS prev FROM credit3) WHERE prev >= first;"
    "DROP TABLE upgrade_check;"
    "DROP TABLE credit;"
    "ALTER TABLE credit3 RENAME TO credit;"
    "UPDATE wallet SET pkh_last = coalesce((SELECT max(last) FROM credit c"
    " WHERE c.kk = wallet.kk AND c.program = 1), -1), bpnt_last = coalesce((SELECT max(last)"
    " FROM credit c WHERE c.kk = wallet.kk AND c.program = 2), -1);"
    "ALTER TABLE txn ADD COLUMN bdate TEXT;"
    "ALTER TABLE txn ADD COLUMN settle_batch INTEGER;"
    "ALTER TABLE txn ADD COLUMN rev_batch INTEGER;"
    "ALTER TABLE txn ADD COLUMN rev_bdate TEXT;"
    "UPDATE txn SET bdate = local_date;"
    "UPDATE txn SET rev_bdate = coalesce((SELECT date(t.at, '+7 hours') FROM transfer t"
    " WHERE t.key = 'rev:' || txn.terminal || ':' || txn.local_date || ':'"
    " || printf('%06d', txn.stan)), bdate) WHERE reversed = 1;"
    "CREATE TEMP TABLE v2settle AS SELECT substr(key, 8, 10) AS date,"
    " substr(key, 19, instr(substr(key, 19), ':') - 1) AS kind,"
    " substr(key, 19 + instr(substr(key, 19), ':')) AS id, amount, at FROM transfer"
    " WHERE key LIKE 'settle:%';"
    "UPDATE txn SET settle_batch = 1 WHERE rc = '00' AND to_kind IS NOT NULL AND EXISTS"
    " (SELECT 1 FROM v2settle s WHERE s.date = txn.bdate AND s.kind = txn.to_kind"
    " AND s.id = txn.to_owner AND s.at >= txn.at);"
    /* reversed before that settlement: left out of it, nothing to net later */
    "UPDATE txn SET rev_batch = 1 WHERE settle_batch = 1 AND reversed = 1 AND EXISTS"
    " (SELECT 1 FROM transfer t JOIN v2settle s ON s.date = txn.bdate AND s.kind = txn.to_kind"
    " AND s.id = txn.to_owner WHERE t.key = 'rev:' || txn.terminal || ':' || txn.local_date"
    " || ':' || printf('%06d', txn.stan) AND t.at <= s.at);"
    "DROP INDEX txn_card_day;"
    "DROP INDEX txn_day;"
    "CREATE INDEX txn_card_bday ON txn(pan_ref, bdate) WHERE type = 'withdraw';"
    "CREATE INDEX txn_bday ON txn(bdate) WHERE rc = '00' AND to_kind IS NOT NULL;"
    "CREATE INDEX txn_rev_bday ON txn(rev_bdate) WHERE rev_batch IS NULL;"
    "CREATE TABLE settlement3(date TEXT NOT NULL, batch INTEGER NOT NULL, kind TEXT NOT NULL,"
    " id TEXT NOT NULL, count INTEGER NOT NULL, total INTEGER NOT NULL, at TEXT NOT NULL,"
    " PRIMARY KEY (date, batch, kind, id));"
    "INSERT INTO settlement3 SELECT s.date, 1, s.kind, s.id, (SELECT count(*) FROM txn"
    " WHERE txn.bdate = s.date AND txn.to_kind = s.kind AND txn.to_owner = s.id"
    " AND txn.settle_batch = 1 AND txn.rev_batch IS NULL), s.amount, s.at FROM v2settle s;"
    "DROP TABLE v2settle;"
    "DROP TABLE settlement;"
    "ALTER TABLE settlement3 RENAME TO settlement;",
    /* 4: a credit names its batch (one CreditBatch request: funding account and
     * time) instead of carrying both: a credit row is 20 bytes smaller and its
     * insert binds no text (5% of the credit path). */
    "CREATE TABLE credit_batch(id INTEGER PRIMARY KEY, funding INTEGER NOT NULL,"
    " at TEXT NOT NULL);"
    "INSERT INTO credit_batch(funding, at) SELECT DISTINCT funding, at FROM credit"
    " ORDER BY at, funding;"
    "CREATE TABLE credit4(kk INTEGER NOT NULL, program INTEGER NOT NULL, first INTEGER NOT NULL,"
    " last INTEGER NOT NULL, batch INTEGER NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0),"
    " PRIMARY KEY (kk, program, first)) WITHOUT ROWID;"
    "INSERT INTO credit4 SELECT c.kk, c.program, c.first, c.last, b.id, c.amount FROM credit c"
    " JOIN credit_batch b ON b.funding = c.funding AND b.at = c.at;"
    "DROP TABLE credit;"
    "ALTER TABLE credit4 RENAME TO credit;",
    /* 5: the reversal index held every journal row (rev_batch is NULL for all
     * but the settled reversals); only reversed rows matter to settlement. An
     * authorisation writes one B-tree fewer. */
    "DROP INDEX txn_rev_bday;"
    "CREATE INDEX txn_rev_bday ON txn(rev_bdate) WHERE rev_bdate IS NOT NULL"
    " AND rev_batch IS NULL;",
    /* 6: the complaints desk finds a transaction by its RRN (txnlog_by_rrn) */
    "CREATE INDEX txn_rrn ON txn(rrn) WHERE rrn IS NOT NULL;",
    /* 7: transfers are found by destination only into a family's wallet (a
     * reversal's refund, for the statement, ST_MOVEMENTS); the index held
     * every payment to a merchant or ATM too: a leaf per merchant written by
     * every purchase, an eighth of an authorisation's pages. The ledger check
     * reads the rest by scanning, as it does for its other sums. */
    "DROP INDEX transfer_to;"
    "CREATE INDEX transfer_to_wallet ON transfer(to_kind, to_owner)"
    " WHERE to_kind IN ('pkh', 'bpnt');",
    /* 8: a purchase's or a withdrawal's transfer is keyed as its journal row
     * (txn:TERMINAL:DATE:STAN), whose own unique key guards it: the journal
     * row is written in the same savepoint, and when that identity is
     * journaled already the request fails and its transfer is undone
     * (txnlog_insert, txn.c). The transfer key index held them all the
     * same: one more leaf written per authorisation, at a place of its own
     * for each terminal, about a fifth of an authorisation's WAL pages. Keys
     * of the other kinds (reversals, settlements) stay unique by this index;
     * a payment's transfer is found by its wallet (ledger_transfer_get). A
     * column's UNIQUE cannot be dropped: the table is rebuilt, ids kept. */
    "CREATE TABLE transfer8(id INTEGER PRIMARY KEY, key TEXT NOT NULL,"
    " from_kind TEXT NOT NULL, from_owner TEXT NOT NULL, to_kind TEXT NOT NULL,"
    " to_owner TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0), kind TEXT NOT NULL,"
    " at TEXT NOT NULL);"
    "INSERT INTO transfer8 SELECT id, key, from_kind, from_owner, to_kind, to_owner, amount,"
    " kind, at FROM transfer ORDER BY id;"
    "DROP TABLE transfer;"
    "ALTER TABLE transfer8 RENAME TO transfer;"
    "CREATE UNIQUE INDEX transfer_key ON transfer(key) WHERE " XFER_KEYED ";"
    "CREATE INDEX transfer_from ON transfer(from_kind, from_owner);"
    "CREATE INDEX transfer_to_wallet ON transfer(to_kind, to_owner)"
    " WHERE to_kind IN ('pkh', 'bpnt');",
    /* 9: a card's withdrawals of the day (the per-card limit, txnlog_withdrawn)
     * answered from the index alone: it held every withdrawal, and the limit
     * read each approved one's row for its code, amount and reversal, at a
     * random place of a journal that grows by hundreds of MB a busy hour.
     * Only the rows the limit counts, with their amounts; and the columns
     * of its own condition, without which SQLite (3.40) reads the row to
     * test them again. */
    "DROP INDEX txn_card_bday;"
    "CREATE INDEX txn_card_withdrawn ON txn(pan_ref, bdate, amount, type, rc, reversed)"
    " WHERE type = 'withdraw' AND rc = '00' AND reversed = 0;",
    /* 10: the database's identity, which ping reports: what a load tester's
     * remembered cards belong to, whatever port the switch listens on. */
    KKS_DB_IDENTITY_MIGRATION,
};
const int ledger_schema_versions = (int)(sizeof ledger_schema / sizeof ledger_schema[0]);

enum {
    ST_FUNDING_GET, ST_FUNDING_NEW, ST_FUNDING_ADD, ST_BATCH_PERIOD, ST_BATCH_NEW, ST_BATCH_DROP,
    ST_CREDIT_FAST_PKH, ST_CREDIT_FAST_BPNT, ST_CREDIT_SLOW_PKH, ST_CREDIT_SLOW_BPNT,
    ST_CREDIT_INS, ST_CREDIT_NEAR, ST_PROGRAMS, ST_ACCOUNT_OPEN, ST_WALLET_GET, ST_XFER_INS,
    ST_WALLET_ADD_PKH, ST_WALLET_ADD_BPNT, ST_ACCOUNT_ADD, ST_MOVEMENTS, ST_XFER_EXISTS,
    ST_MANY_FAST_PKH, ST_MANY_FAST_BPNT, ST_MANY_INS, ST_CREDITS, ST_XFER_GET, ST_RANGE_FAST_PKH,
    ST_RANGE_FAST_BPNT, ST_ACCOUNT_NEW, ST_XFER_GET_FROM, ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    "SELECT id FROM funding WHERE program = ? AND period = ?",
    "INSERT INTO funding(program, period) VALUES (?, ?)",
    "UPDATE funding SET balance = balance + ? WHERE id = ?",
    "SELECT f.period FROM credit_batch b JOIN funding f ON f.id = b.funding WHERE b.id = ?",
    "INSERT INTO credit_batch(funding, at) VALUES (?, ?)",
    "DELETE FROM credit_batch WHERE id = ?",
    /* the common case: months after everything paid so far, one statement */
    "UPDATE wallet SET pkh = pkh + ?1, pkh_last = ?2, room = NULL WHERE kk = ?3 AND programs & 1"
    " AND pkh_last < ?4",
    "UPDATE wallet SET bpnt = bpnt + ?1, bpnt_last = ?2, room = NULL WHERE kk = ?3 AND programs & 2"
    " AND bpnt_last < ?4",
    /* months before the last paid, checked free of overlap */
    "UPDATE wallet SET pkh = pkh + ?1, pkh_last = max(pkh_last, ?2), room = NULL WHERE kk = ?3",
    "UPDATE wallet SET bpnt = bpnt + ?1, bpnt_last = max(bpnt_last, ?2), room = NULL WHERE kk = ?3",
    /* ON CONFLICT DO NOTHING: the caller has ruled a conflict out, and a statement
     * that cannot abort needs no statement journal (a third of the insert's cost) */
    "INSERT INTO credit(kk, program, first, last, batch, amount) VALUES (?,?,?,?,?,?)"
    " ON CONFLICT DO NOTHING",
    /* ranges of one family and programme never overlap, so they are ordered by
     * first and by last alike: walking down from the last one that starts by
     * our end finds every one that overlaps us */
    "SELECT first, last, batch, amount FROM credit WHERE kk = ?1 AND program = ?2"
    " AND first <= ?3 ORDER BY first DESC",
    "SELECT programs FROM wallet WHERE kk = ?",
    "INSERT INTO wallet(kk, programs, opened_at, room) VALUES (?1, ?2, ?3, zeroblob(12))"
    " ON CONFLICT(kk) DO UPDATE SET programs = ?2",
    "SELECT pkh, bpnt FROM wallet WHERE kk = ?",
    "INSERT INTO transfer(key, from_kind, from_owner, to_kind, to_owner, amount, kind, at)"
    " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) WHERE " XFER_KEYED " DO NOTHING",
    "UPDATE wallet SET pkh = pkh + ?1 WHERE kk = ?2 AND pkh + ?1 >= 0",
    "UPDATE wallet SET bpnt = bpnt + ?1 WHERE kk = ?2 AND bpnt + ?1 >= 0",
    "INSERT INTO account(kind, owner, balance) VALUES (?1, ?2, ?3)"
    " ON CONFLICT(kind, owner) DO UPDATE SET balance = balance + ?3",
    /* newest first; within one second, transfers (by id) before credits (by
     * batch, newest first): the order is the same every time */
    "SELECT at, w, amount, kind, ref FROM ("
    " SELECT b.at, CASE c.program WHEN 1 THEN 'pkh' ELSE 'bpnt' END AS w, c.amount,"
    "  'credit' AS kind, f.program || ' ' || f.period AS ref, 1 AS rank, c.batch AS seq"
    "  FROM credit c JOIN credit_batch b ON b.id = c.batch JOIN funding f ON f.id = b.funding"
    "  WHERE c.kk = ?1"
    " UNION ALL SELECT at, to_kind, amount, kind, key, 0, id FROM transfer"
    "  WHERE to_kind IN ('pkh', 'bpnt') AND to_owner = ?2"
    " UNION ALL SELECT at, from_kind, -amount, kind, key, 0, id FROM transfer"
    "  WHERE from_kind IN ('pkh', 'bpnt') AND from_owner = ?2)"
    " ORDER BY at DESC, rank, seq DESC LIMIT ?3",
    "SELECT 1 FROM transfer WHERE key = ? AND " XFER_KEYED,
    /* ledger_credit_many: the fast path of ST_CREDIT_FAST_* and ST_CREDIT_INS
     * for all the rows of kks_credit_rows at once */
    "UPDATE wallet SET pkh = pkh + kks_credit_take(kk), pkh_last = ?1, room = NULL"
    " WHERE kk IN (SELECT kk FROM kks_credit_rows) AND programs & 1 AND pkh_last < ?2",
    "UPDATE wallet SET bpnt = bpnt + kks_credit_take(kk), bpnt_last = ?1, room = NULL"
    " WHERE kk IN (SELECT kk FROM kks_credit_rows) AND programs & 2 AND bpnt_last < ?2",
    "INSERT INTO credit(kk, program, first, last, batch, amount)"
    " SELECT kk, ?1, ?2, ?3, ?4, amount FROM kks_credit_rows WHERE done ON CONFLICT DO NOTHING",
    /* the desk: a family's credits, by programme then month */
    "SELECT c.program, f.period, c.first, c.last, c.amount, b.at FROM credit c"
    " JOIN credit_batch b ON b.id = c.batch JOIN funding f ON f.id = b.funding"
    " WHERE c.kk = ? ORDER BY c.program, c.first LIMIT ?",
    "SELECT from_kind, from_owner, to_kind, to_owner, amount, kind, at FROM transfer WHERE key = ?1"
    " AND " XFER_KEYED,
    /* ST_MANY_FAST_* walking the wallets from the first family to the last
     * instead of collecting the families in a temporary b-tree:
     * kks_credit_in stops the walk (an error) once it has passed more wallets
     * than the rows allow (ledger_credit_many) */
    "UPDATE wallet SET pkh = pkh + kks_credit_take(kk), pkh_last = ?1, room = NULL"
    " WHERE kk BETWEEN ?3 AND ?4 AND kks_credit_in(kk) AND programs & 1 AND pkh_last < ?2",
    "UPDATE wallet SET bpnt = bpnt + kks_credit_take(kk), bpnt_last = ?1, room = NULL"
    " WHERE kk BETWEEN ?3 AND ?4 AND kks_credit_in(kk) AND programs & 2 AND bpnt_last < ?2",
    /* ledger_account_open's common case, a family new to the switch: one
     * statement instead of a SELECT of its programmes and an upsert */
    "INSERT INTO wallet(kk, programs, opened_at, room) VALUES (?1, ?2, ?3, zeroblob(12))"
    " ON CONFLICT(kk) DO NOTHING",
    /* a payment's transfer: among its wallet's (transfer_from) */
    "SELECT from_kind, from_owner, to_kind, to_owner, amount, kind, at FROM transfer"
    " WHERE from_kind = ?2 AND from_owner = ?3 AND key = ?1",
};

struct ledger {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
    /* what kks_credit_rows shows (ledger_credit_many): n families, their
     * amounts and whether the fast path credited their wallet */
    const uint64_t *rows_kk;
    const int64_t *rows_amount;
    unsigned char *rows_done;
    size_t rows_n, rows_ndone, rows_next; /* rows_next: where kks_credit_take looks first */
    size_t rows_scan, rows_passed, rows_budget; /* kks_credit_in's place, wallets passed, limit */
    uint64_t walks_stopped;                      /* ledger_credit_walks_stopped */
};

/* kks_credit_rows(kk, amount, done): an eponymous virtual table over the rows
 * ledger_credit_many is crediting, so that one statement can join them with
 * the wallets instead of one statement per row. Read-only, a plain scan. */
typedef struct rows_vtab {
    sqlite3_vtab base;
    ledger *l;
} rows_vtab;

typedef struct rows_cursor {
    sqlite3_vtab_cursor base;
    size_t i;
} rows_cursor;

static int rows_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err)
{
    rows_vtab *v;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(kk INTEGER, amount INTEGER, done INTEGER)");
    if (rc != SQLITE_OK)
        return rc;
    if (!(v = sqlite3_malloc(sizeof *v)))
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->l = aux;
    *out = &v->base;
    return SQLITE_OK;
}

static int rows_disconnect(sqlite3_vtab *v)
{
    sqlite3_free(v);
    return SQLITE_OK;
}

static int rows_best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
    /* a scan, whatever the constraints: the planner puts it outermost */
    info->estimatedCost = 16384;
    info->estimatedRows = 16384;
    return SQLITE_OK;
}

static int rows_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
    rows_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int rows_close(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int rows_filter(sqlite3_vtab_cursor *c, int idx, const char *idxstr, int argc,
                       sqlite3_value **argv)
{
    ((rows_cursor *)c)->i = 0;
    return SQLITE_OK;
}

static int rows_next(sqlite3_vtab_cursor *c)
{
    ((rows_cursor *)c)->i++;
    return SQLITE_OK;
}

static int rows_eof(sqlite3_vtab_cursor *c)
{
    return ((rows_cursor *)c)->i >= ((rows_vtab *)c->pVtab)->l->rows_n;
}

static int rows_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col)
{
    const ledger *l = ((rows_vtab *)c->pVtab)->l;
    size_t i = ((rows_cursor *)c)->i;
    sqlite3_result_int64(ctx, col == 0   ? (int64_t)l->rows_kk[i]
                              : col == 1 ? l->rows_amount[i]
                                         : (int64_t)l->rows_done[i]);
    return SQLITE_OK;
}

static int rows_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *rowid)
{
    *rowid = (sqlite3_int64)((rows_cursor *)c)->i;
    return SQLITE_OK;
}

/* Which row of kk[0..n) (ascending) holds key; n if none. */
static size_t row_find(const uint64_t *kk, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kk[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && kk[lo] == key ? lo : n;
}

/* kks_credit_take(kk): the amount of kk's row of kks_credit_rows, marking the
 * row done; called by the fast path's UPDATE for each wallet it credits. */
static void credit_take(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    ledger *l = sqlite3_user_data(ctx);
    uint64_t kk = (uint64_t)sqlite3_value_int64(argv[0]);
    size_t i = l->rows_next; /* the UPDATE walks the rows in order: most often the next */
    if (i >= l->rows_n || l->rows_kk[i] != kk)
        i = row_find(l->rows_kk, l->rows_n, kk);
    if (i == l->rows_n || l->rows_done[i]) {
        sqlite3_result_error(ctx, "kks_credit_take: not a row, or taken twice", -1);
        return;
    }
    l->rows_done[i] = 1;
    l->rows_ndone++;
    l->rows_next = i + 1;
    sqlite3_result_int64(ctx, l->rows_amount[i]);
}

/* kks_credit_in(kk): whether kk is one of the rows, for a walk over the
 * wallets in KK order; an error once the walk has passed more wallets that
 * are not rows than rows_budget. */
static void credit_in(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    ledger *l = sqlite3_user_data(ctx);
    uint64_t kk = (uint64_t)sqlite3_value_int64(argv[0]);
    size_t i = l->rows_scan;
    while (i < l->rows_n && l->rows_kk[i] < kk)
        i++;
    l->rows_scan = i;
    if (i < l->rows_n && l->rows_kk[i] == kk) {
        sqlite3_result_int(ctx, 1);
        return;
    }
    if (++l->rows_passed > l->rows_budget) {
        sqlite3_result_error(ctx, "kks_credit_in: the rows are too sparse for a walk", -1);
        return;
    }
    sqlite3_result_int(ctx, 0);
}

static const sqlite3_module rows_module = {
    .xConnect = rows_connect, /* no xCreate: eponymous only */
    .xBestIndex = rows_best_index,
    .xDisconnect = rows_disconnect,
    .xOpen = rows_open,
    .xClose = rows_close,
    .xFilter = rows_filter,
    .xNext = rows_next,
    .xEof = rows_eof,
    .xColumn = rows_column,
    .xRowid = rows_rowid,
};

/* A statement, reset: none is left on a row after the call that used it.
 * Every caller binds every parameter of its statement. */
static sqlite3_stmt *stmt(ledger *l, int i)
{
    sqlite3_stmt *s = l->st[i];
    sqlite3_reset(s);
    return s;
}

/* Steps a statement that returns no row; 0 or KKS_EDB. */
static int done(sqlite3_stmt *s)
{
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : KKS_EDB;
}

int ledger_new(sqlite3 *db, ledger **out)
{
    ledger *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return KKS_ENOMEM;
    l->db = db;
    if (sqlite3_create_module(db, "kks_credit_rows", &rows_module, l) != SQLITE_OK ||
        sqlite3_create_function(db, "kks_credit_take", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, l,
                                credit_take, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "kks_credit_in", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, l,
                                credit_in, NULL, NULL) != SQLITE_OK) {
        kks_error("cannot register the ledger's SQL functions", "error", sqlite3_errmsg(db));
        ledger_free(l);
        return KKS_EDB;
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i], NULL) !=
            SQLITE_OK) {
            kks_error("cannot prepare ledger statement", "error", sqlite3_errmsg(db));
            ledger_free(l);
            return KKS_EDB;
        }
    }
    *out = l;
    return 0;
}

void ledger_free(ledger *l)
{
    if (!l)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(l->st[i]);
    /* they point at l */
    sqlite3_create_module(l->db, "kks_credit_rows", NULL, NULL);
    sqlite3_create_function(l->db, "kks_credit_take", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
    sqlite3_create_function(l->db, "kks_credit_in", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
    free(l);
}

/* Writes a wallet with statement i (ST_ACCOUNT_NEW or ST_ACCOUNT_OPEN): the
 * rows changed (0 or 1), or KKS_EDB. */
static int account_write(ledger *l, int i, uint64_t kk, unsigned programs, const char *at)
{
    sqlite3_stmt *s = stmt(l, i);
    sqlite3_bind_int64(s, 1, (int64_t)kk);
    sqlite3_bind_int(s, 2, (int)programs);
    sqlite3_bind_text(s, 3, at, -1, SQLITE_STATIC);
    return done(s) < 0 ? KKS_EDB : sqlite3_changes(l->db);
}

int ledger_account_open(ledger *l, uint64_t kk, unsigned programs, const char *at)
{
    int had, r;
    if (programs == 0 || programs > (LEDGER_PKH | LEDGER_BPNT))
        return KKS_EINVAL;
    if ((r = account_write(l, ST_ACCOUNT_NEW, kk, programs, at)) != 0)
        return r < 0 ? r : LEDGER_OPENED;
    /* the family has an account: its programmes, changed or not */
    if ((had = ledger_programs(l, kk)) < 0)
        return had;
    if (had == (int)programs)
        return LEDGER_UNCHANGED;
    if (account_write(l, ST_ACCOUNT_OPEN, kk, programs, at) < 0)
        return KKS_EDB;
    return had ? LEDGER_UPDATED : LEDGER_OPENED;
}

int ledger_funding(ledger *l, const char *program, const char *period, int64_t *id)
{
    sqlite3_stmt *s = stmt(l, ST_FUNDING_GET);
    sqlite3_bind_text(s, 1, program, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, period, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s);
    if (r != SQLITE_DONE)
        return KKS_EDB;
    s = stmt(l, ST_FUNDING_NEW);
    sqlite3_bind_text(s, 1, program, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, period, -1, SQLITE_STATIC);
    if (done(s) < 0)
        return KKS_EDB;
    *id = sqlite3_last_insert_rowid(l->db);
    return 0;
}

int ledger_funding_add(ledger *l, int64_t funding, int64_t delta)
{
    sqlite3_stmt *s = stmt(l, ST_FUNDING_ADD);
    sqlite3_bind_int64(s, 1, delta);
    sqlite3_bind_int64(s, 2, funding);
    return done(s);
}

int ledger_credit_batch(ledger *l, int64_t funding, const char *at, int64_t *batch)
{
    sqlite3_stmt *s = stmt(l, ST_BATCH_NEW);
    sqlite3_bind_int64(s, 1, funding);
    sqlite3_bind_text(s, 2, at, -1, SQLITE_STATIC);
    if (done(s) < 0)
        return KKS_EDB;
    *batch = sqlite3_last_insert_rowid(l->db);
    return 0;
}

int ledger_credit_batch_drop(ledger *l, int64_t batch)
{
    sqlite3_stmt *s = stmt(l, ST_BATCH_DROP);
    sqlite3_bind_int64(s, 1, batch);
    return done(s);
}

int ledger_programs(ledger *l, uint64_t kk)
{
    sqlite3_stmt *s = stmt(l, ST_PROGRAMS);
    int r, v = 0;
    sqlite3_bind_int64(s, 1, (int64_t)kk);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    return r == SQLITE_ROW || r == SQLITE_DONE ? v : KKS_EDB;
}

static int credit_insert(ledger *l, const ledger_credit_in *in)
{
    sqlite3_stmt *s = stmt(l, ST_CREDIT_INS);
    int rc;
    sqlite3_bind_int64(s, 1, (int64_t)in->kk);
    sqlite3_bind_int(s, 2, (int)in->program);
    sqlite3_bind_int(s, 3, in->first);
    sqlite3_bind_int(s, 4, in->last);
    sqlite3_bind_int64(s, 5, in->batch);
    sqlite3_bind_int64(s, 6, in->amount);
    if ((rc = done(s)) < 0)
        return rc;
    return sqlite3_changes(l->db) == 1 ? 0 : KKS_EDB; /* a conflict here is a broken invariant */
}

/* Adds to the wallet: fast (only if every month is after the last paid) or
 * not. Returns the rows changed (0 or 1) or KKS_EDB. */
static int wallet_credit(ledger *l, const ledger_credit_in *in, int fast)
{
    int pkh = in->program == LEDGER_PKH;
    sqlite3_stmt *s = stmt(l, fast ? (pkh ? ST_CREDIT_FAST_PKH : ST_CREDIT_FAST_BPNT)
                                   : (pkh ? ST_CREDIT_SLOW_PKH : ST_CREDIT_SLOW_BPNT));
    sqlite3_bind_int64(s, 1, in->amount);
    sqlite3_bind_int(s, 2, in->last);
    sqlite3_bind_int64(s, 3, (int64_t)in->kk);
    if (fast)
        sqlite3_bind_int(s, 4, in->first);
    if (done(s) < 0)
        return KKS_EDB;
    return sqlite3_changes(l->db);
}

int ledger_credit(ledger *l, const ledger_credit_in *in, ledger_credit_out *out)
{
    sqlite3_stmt *s;
    int r, programs;
    memset(out, 0, sizeof *out);
    if (in->amount <= 0 || in->first > in->last ||
        (in->program != LEDGER_PKH && in->program != LEDGER_BPNT))
        return KKS_EINVAL;
    if (!in->tried && (r = wallet_credit(l, in, 1)) != 0) {
        if (r < 0)
            return r;
        return credit_insert(l, in); /* nothing paid from our first month on: no overlap possible */
    }

    if ((programs = ledger_programs(l, in->kk)) < 0)
        return programs;
    if (programs == 0)
        return LEDGER_NO_ACCOUNT;
    if (!(programs & (int)in->program))
        return LEDGER_NOT_IN_PROGRAM;
    s = stmt(l, ST_CREDIT_NEAR);
    sqlite3_bind_int64(s, 1, (int64_t)in->kk);
    sqlite3_bind_int(s, 2, (int)in->program);
    sqlite3_bind_int(s, 3, in->last);
    int64_t funding[LEDGER_OVERLAPS_MAX];
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        int f = sqlite3_column_int(s, 0), la = sqlite3_column_int(s, 1);
        if (la < in->first)
            break;
        if (f == in->first && la == in->last) { /* the same months: a rerun */
            out->existing = sqlite3_column_int64(s, 3);
            sqlite3_reset(s);
            out->noverlap = 0;
            return out->existing == in->amount ? LEDGER_ALREADY : LEDGER_OTHER_AMOUNT;
        }
        /* walking down, latest first: keep the earliest LEDGER_OVERLAPS_MAX */
        if (out->noverlap == LEDGER_OVERLAPS_MAX) {
            memmove(&out->overlap[0], &out->overlap[1],
                    (LEDGER_OVERLAPS_MAX - 1) * sizeof out->overlap[0]);
            memmove(&funding[0], &funding[1], (LEDGER_OVERLAPS_MAX - 1) * sizeof funding[0]);
        }
        int k = out->noverlap < LEDGER_OVERLAPS_MAX ? out->noverlap : LEDGER_OVERLAPS_MAX - 1;
        out->overlap[k].first = f > in->first ? f : in->first;
        out->overlap[k].last = la < in->last ? la : in->last;
        funding[k] = sqlite3_column_int64(s, 2);
        out->noverlap++;
    }
    sqlite3_reset(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        return KKS_EDB;
    if (out->noverlap) {
        int n = out->noverlap < LEDGER_OVERLAPS_MAX ? out->noverlap : LEDGER_OVERLAPS_MAX;
        /* collected latest first: put the earliest first, with their labels */
        for (int a = 0, b = n - 1; a < b; a++, b--) {
            __typeof__(out->overlap[0]) t = out->overlap[a];
            int64_t tf = funding[a];
            out->overlap[a] = out->overlap[b];
            out->overlap[b] = t;
            funding[a] = funding[b];
            funding[b] = tf;
        }
        for (int i = 0; i < n; i++) {
            s = stmt(l, ST_BATCH_PERIOD); /* funding[] holds batch ids */
            sqlite3_bind_int64(s, 1, funding[i]);
            if (sqlite3_step(s) == SQLITE_ROW)
                snprintf(out->overlap[i].label, sizeof out->overlap[i].label, "%s",
                         (const char *)sqlite3_column_text(s, 0));
            sqlite3_reset(s);
        }
        return LEDGER_OVERLAP;
    }
    /* months before the last paid ones, free: a late payment of a gap */
    if ((r = wallet_credit(l, in, 0)) < 0)
        return r;
    return r == 1 ? credit_insert(l, in) : KKS_EDB;
}

int ledger_credit_many(ledger *l, const ledger_credit_in *in, const uint64_t *kk,
                       const int64_t *amount, size_t n, unsigned char *credited)
{
    sqlite3_stmt *s;
    size_t nfast;
    if (in->first > in->last || (in->program != LEDGER_PKH && in->program != LEDGER_BPNT))
        return KKS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (amount[i] <= 0 || (i > 0 && kk[i - 1] >= kk[i]))
            return KKS_EINVAL;
        credited[i] = 0;
    }
    if (n == 0)
        return 0;
    /* the wallets: every family whose months all come after its last paid
     * month (which implies an account in the programme); kks_credit_take
     * marks each */
    l->rows_kk = kk;
    l->rows_amount = amount;
    l->rows_done = credited;
    l->rows_n = n;
    l->rows_ndone = l->rows_next = 0;
    l->rows_scan = l->rows_passed = 0;
    /* callgrind: a wallet passed costs about 500 instructions, a row collected
     * in the temporary b-tree about 2,800 */
    l->rows_budget = 2 * n + 16;
    s = stmt(l, in->program == LEDGER_PKH ? ST_RANGE_FAST_PKH : ST_RANGE_FAST_BPNT);
    sqlite3_bind_int(s, 1, in->last);
    sqlite3_bind_int(s, 2, in->first);
    sqlite3_bind_int64(s, 3, (int64_t)kk[0]);
    sqlite3_bind_int64(s, 4, (int64_t)kk[n - 1]);
    if (done(s) < 0) {
        if (l->rows_passed <= l->rows_budget)
            goto fail;
        /* too sparse: collect the families instead. The walk was rolled back
         * by its statement journal, which SQLite keeps for a statement that
         * writes several rows and may abort (here: the NOT NULL columns it
         * sets); a_sparse_batch_is_credited_once fails if that ever stops */
        l->walks_stopped++;
        memset(credited, 0, n);
        l->rows_ndone = l->rows_next = 0;
        s = stmt(l, in->program == LEDGER_PKH ? ST_MANY_FAST_PKH : ST_MANY_FAST_BPNT);
        sqlite3_bind_int(s, 1, in->last);
        sqlite3_bind_int(s, 2, in->first);
        if (done(s) < 0)
            goto fail;
    }
    if ((size_t)sqlite3_changes64(l->db) != l->rows_ndone)
        goto fail;
    if ((nfast = l->rows_ndone) == 0)
        goto out;
    /* their credits, in KK order */
    s = stmt(l, ST_MANY_INS);
    sqlite3_bind_int(s, 1, (int)in->program);
    sqlite3_bind_int(s, 2, in->first);
    sqlite3_bind_int(s, 3, in->last);
    sqlite3_bind_int64(s, 4, in->batch);
    if (done(s) < 0 || (size_t)sqlite3_changes64(l->db) != nfast) /* a conflict: a broken invariant */
        goto fail;
out:
    l->rows_n = 0;
    return (int)nfast;
fail:
    l->rows_n = 0;
    return KKS_EDB;
}

uint64_t ledger_credit_walks_stopped(const ledger *l)
{
    return l->walks_stopped;
}

/* Adds delta to one account. 0, LEDGER_NSF (a wallet would go negative, or
 * does not exist) or KKS_EDB. */
static int account_add(ledger *l, const char *kind, const char *owner, int64_t delta)
{
    sqlite3_stmt *s;
    if (strcmp(kind, "pkh") == 0 || strcmp(kind, "bpnt") == 0) {
        s = stmt(l, kind[0] == 'p' ? ST_WALLET_ADD_PKH : ST_WALLET_ADD_BPNT);
        sqlite3_bind_int64(s, 1, delta);
        sqlite3_bind_int64(s, 2, strtoll(owner, NULL, 10));
        if (done(s) < 0)
            return KKS_EDB;
        return sqlite3_changes(l->db) == 1 ? 0 : LEDGER_NSF;
    }
    if (strcmp(kind, "funding") == 0)
        return ledger_funding_add(l, strtoll(owner, NULL, 10), delta);
    s = stmt(l, ST_ACCOUNT_ADD);
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, delta);
    return done(s);
}

int ledger_transfer(ledger *l, const char *key, const char *from_kind, const char *from_owner,
                    const char *to_kind, const char *to_owner, int64_t amount, const char *kind,
                    const char *at)
{
    sqlite3_stmt *s;
    int rc;
    if (amount <= 0)
        return KKS_EINVAL;
    /* Debit first: if the wallet cannot pay, nothing has been written (and a
     * key seen before is a duplicate, whatever the balance now; a payment's
     * key is the journal's to judge, see XFER_KEYED). */
    if ((rc = account_add(l, from_kind, from_owner, -amount)) != 0) {
        if (rc != LEDGER_NSF)
            return rc;
        s = stmt(l, ST_XFER_EXISTS);
        sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
        int r = sqlite3_step(s);
        sqlite3_reset(s);
        return r == SQLITE_ROW ? LEDGER_DUPLICATE : r == SQLITE_DONE ? LEDGER_NSF : KKS_EDB;
    }
    s = stmt(l, ST_XFER_INS);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, from_kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, from_owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, to_kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, to_owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, amount);
    sqlite3_bind_text(s, 7, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, at, -1, SQLITE_STATIC);
    if (done(s) < 0)
        return KKS_EDB;
    if (sqlite3_changes(l->db) == 0) { /* seen before: undo the debit */
        if (account_add(l, from_kind, from_owner, amount) != 0)
            return KKS_EDB;
        return LEDGER_DUPLICATE;
    }
    return account_add(l, to_kind, to_owner, amount) == 0 ? 0 : KKS_EDB;
}

int ledger_wallet(ledger *l, uint64_t kk, int64_t *pkh, int64_t *bpnt)
{
    sqlite3_stmt *s = stmt(l, ST_WALLET_GET);
    int r;
    sqlite3_bind_int64(s, 1, (int64_t)kk);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *pkh = sqlite3_column_int64(s, 0);
        *bpnt = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return r == SQLITE_ROW ? 0 : r == SQLITE_DONE ? 1 : KKS_EDB;
}

int ledger_movements(ledger *l, uint64_t kk, ledger_movement *out, int cap)
{
    sqlite3_stmt *s = stmt(l, ST_MOVEMENTS);
    char kkbuf[24];
    int n = 0, r;
    snprintf(kkbuf, sizeof kkbuf, "%016" PRIu64, kk);
    sqlite3_bind_int64(s, 1, (int64_t)kk);
    sqlite3_bind_text(s, 2, kkbuf, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, cap);
    while (n < cap && (r = sqlite3_step(s)) == SQLITE_ROW) {
        ledger_movement *m = &out[n++];
        const unsigned char *t[4] = {sqlite3_column_text(s, 0), sqlite3_column_text(s, 1),
                                     sqlite3_column_text(s, 3), sqlite3_column_text(s, 4)};
        snprintf(m->at, sizeof m->at, "%s", t[0] ? (const char *)t[0] : "");
        snprintf(m->wallet, sizeof m->wallet, "%s", t[1] ? (const char *)t[1] : "");
        m->amount = sqlite3_column_int64(s, 2);
        snprintf(m->kind, sizeof m->kind, "%s", t[2] ? (const char *)t[2] : "");
        snprintf(m->ref, sizeof m->ref, "%s", t[3] ? (const char *)t[3] : "");
    }
    if (n < cap && r != SQLITE_DONE)
        n = KKS_EDB;
    sqlite3_reset(s);
    return n;
}

int ledger_check(ledger *l, char *violation, size_t cap, int64_t *accounts, int64_t *transfers,
                 int64_t *wallets_total, int64_t *funding_total)
{
    return ledger_check_db(l->db, violation, cap, accounts, transfers, wallets_total,
                           funding_total);
}

int ledger_credits(ledger *l, uint64_t kk, ledger_credit_line *out, int cap)
{
    sqlite3_stmt *s = stmt(l, ST_CREDITS);
    int n = 0, r = SQLITE_DONE;
    sqlite3_bind_int64(s, 1, (int64_t)kk);
    sqlite3_bind_int(s, 2, cap);
    while (n < cap && (r = sqlite3_step(s)) == SQLITE_ROW) {
        ledger_credit_line *c = &out[n++];
        const unsigned char *p = sqlite3_column_text(s, 1), *at = sqlite3_column_text(s, 5);
        c->program = sqlite3_column_int(s, 0) == LEDGER_PKH ? LEDGER_PKH : LEDGER_BPNT;
        snprintf(c->period, sizeof c->period, "%s", p ? (const char *)p : "");
        c->first = sqlite3_column_int(s, 2);
        c->last = sqlite3_column_int(s, 3);
        c->amount = sqlite3_column_int64(s, 4);
        snprintf(c->at, sizeof c->at, "%s", at ? (const char *)at : "");
    }
    if (n < cap && r != SQLITE_DONE)
        n = KKS_EDB;
    sqlite3_reset(s);
    return n;
}

int ledger_transfer_get(ledger *l, const char *key, const char *from_kind,
                        const char *from_owner, ledger_xfer *out)
{
    sqlite3_stmt *s = stmt(l, from_kind ? ST_XFER_GET_FROM : ST_XFER_GET);
    int r;
    memset(out, 0, sizeof *out);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (from_kind) {
        sqlite3_bind_text(s, 2, from_kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, from_owner, -1, SQLITE_STATIC);
    }
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        char *dst[] = {out->from_kind, out->from_owner, out->to_kind, out->to_owner};
        size_t caps[] = {sizeof out->from_kind, sizeof out->from_owner, sizeof out->to_kind,
                         sizeof out->to_owner};
        for (int i = 0; i < 4; i++) {
            const unsigned char *t = sqlite3_column_text(s, i);
            snprintf(dst[i], caps[i], "%s", t ? (const char *)t : "");
        }
        out->amount = sqlite3_column_int64(s, 4);
        const unsigned char *k = sqlite3_column_text(s, 5), *at = sqlite3_column_text(s, 6);
        snprintf(out->kind, sizeof out->kind, "%s", k ? (const char *)k : "");
        snprintf(out->at, sizeof out->at, "%s", at ? (const char *)at : "");
        snprintf(out->key, sizeof out->key, "%s", key);
    }
    sqlite3_reset(s);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : KKS_EDB;
}
