#include "ledger.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_db.h"
#include "kks_err.h"
#include "kks_log.h"

static const char *const migrations[] = {
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
};

enum {
    ST_FUNDING_GET, ST_FUNDING_NEW, ST_CREDIT_INS, ST_CREDIT_GET, ST_WALLET_PKH, ST_WALLET_BPNT,
    ST_FUNDING_ADD, ST_WALLET_GET, ST_XFER_INS, ST_WALLET_ADD_PKH, ST_WALLET_ADD_BPNT,
    ST_ACCOUNT_ADD, ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    "SELECT id FROM funding WHERE program = ? AND period = ?",
    "INSERT INTO funding(program, period) VALUES (?, ?)",
    "INSERT INTO credit(kk, funding, amount, at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT(kk, funding) DO NOTHING",
    "SELECT amount FROM credit WHERE kk = ? AND funding = ?",
    "INSERT INTO wallet(kk, pkh, opened_at) VALUES (?, ?, ?)"
    " ON CONFLICT(kk) DO UPDATE SET pkh = pkh + excluded.pkh",
    "INSERT INTO wallet(kk, bpnt, opened_at) VALUES (?, ?, ?)"
    " ON CONFLICT(kk) DO UPDATE SET bpnt = bpnt + excluded.bpnt",
    "UPDATE funding SET balance = balance + ? WHERE id = ?",
    "SELECT pkh, bpnt FROM wallet WHERE kk = ?",
    "INSERT INTO transfer(key, from_kind, from_owner, to_kind, to_owner, amount, kind, at)"
    " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(key) DO NOTHING",
    "UPDATE wallet SET pkh = pkh + ?1 WHERE kk = ?2 AND pkh + ?1 >= 0",
    "UPDATE wallet SET bpnt = bpnt + ?1 WHERE kk = ?2 AND bpnt + ?1 >= 0",
    "INSERT INTO account(kind, owner, balance) VALUES (?1, ?2, ?3)"
    " ON CONFLICT(kind, owner) DO UPDATE SET balance = balance + ?3",
};

struct ledger {
    sqlite3 *db;
    kks_checkpointer *ckpt;
    kks_group *group;
    sqlite3_stmt *st[ST__COUNT];
};

static sqlite3_stmt *stmt(ledger *l, int i)
{
    sqlite3_stmt *s = l->st[i];
    sqlite3_reset(s);
    return s;
}

int ledger_open(const char *path, uv_loop_t *loop, ledger **out)
{
    ledger *l = calloc(1, sizeof *l);
    int rc;
    *out = NULL;
    if (!l)
        return KKS_ENOMEM;
    if ((rc = kks_db_open(path, migrations, sizeof migrations / sizeof migrations[0], &l->db)) <
        0) {
        free(l);
        return rc;
    }
    /* Bounded cache: a 10M-family run walks the tables in KK order, so a
     * small window of pages is enough (and keeps the switch under 256 MiB). */
    if (kks_db_exec(l->db, "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=20000;") < 0)
        goto fail;
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(l->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &l->st[i], NULL) !=
            SQLITE_OK) {
            kks_error("cannot prepare ledger statement", "error", sqlite3_errmsg(l->db));
            goto fail;
        }
    }
    if (kks_group_new(loop, l->db, 500000, &l->group) < 0 ||
        kks_db_checkpointer_start(l->db, path, 200, &l->ckpt) < 0)
        goto fail;
    *out = l;
    return 0;
fail:
    ledger_close(l);
    return KKS_EDB;
}

void ledger_close(ledger *l)
{
    if (!l)
        return;
    kks_db_checkpointer_stop(l->ckpt);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(l->st[i]);
    kks_db_close(l->db);
    free(l);
}

kks_group *ledger_group(ledger *l)
{
    return l->group;
}

sqlite3 *ledger_db(ledger *l)
{
    return l->db;
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
    if (r != SQLITE_DONE)
        return KKS_EDB;
    s = stmt(l, ST_FUNDING_NEW);
    sqlite3_bind_text(s, 1, program, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, period, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        return KKS_EDB;
    *id = sqlite3_last_insert_rowid(l->db);
    return 0;
}

int ledger_credit(ledger *l, int64_t funding, int wallet, uint64_t kk, int64_t amount,
                  const char *at, int64_t *existing)
{
    sqlite3_stmt *s = stmt(l, ST_CREDIT_INS);
    sqlite3_bind_int64(s, 1, (int64_t)kk);
    sqlite3_bind_int64(s, 2, funding);
    sqlite3_bind_int64(s, 3, amount);
    sqlite3_bind_text(s, 4, at, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        return KKS_EDB;
    if (sqlite3_changes(l->db) == 0) {
        s = stmt(l, ST_CREDIT_GET);
        sqlite3_bind_int64(s, 1, (int64_t)kk);
        sqlite3_bind_int64(s, 2, funding);
        if (sqlite3_step(s) != SQLITE_ROW)
            return KKS_EDB;
        *existing = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return *existing == amount ? 1 : 2;
    }
    s = stmt(l, wallet == LEDGER_PKH ? ST_WALLET_PKH : ST_WALLET_BPNT);
    sqlite3_bind_int64(s, 1, (int64_t)kk);
    sqlite3_bind_int64(s, 2, amount);
    sqlite3_bind_text(s, 3, at, -1, SQLITE_STATIC);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : KKS_EDB;
}

int ledger_funding_add(ledger *l, int64_t funding, int64_t delta)
{
    sqlite3_stmt *s = stmt(l, ST_FUNDING_ADD);
    sqlite3_bind_int64(s, 1, delta);
    sqlite3_bind_int64(s, 2, funding);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : KKS_EDB;
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
        if (sqlite3_step(s) != SQLITE_DONE)
            return KKS_EDB;
        return sqlite3_changes(l->db) == 1 ? 0 : LEDGER_NSF;
    }
    if (strcmp(kind, "funding") == 0)
        return ledger_funding_add(l, strtoll(owner, NULL, 10), delta);
    s = stmt(l, ST_ACCOUNT_ADD);
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, delta);
    return sqlite3_step(s) == SQLITE_DONE ? 0 : KKS_EDB;
}

int ledger_transfer(ledger *l, const char *key, const char *from_kind, const char *from_owner,
                    const char *to_kind, const char *to_owner, int64_t amount, const char *kind,
                    const char *at)
{
    sqlite3_stmt *s;
    int rc;
    if (amount <= 0)
        return KKS_EINVAL;
    /* Debit first: if the wallet cannot pay, nothing has been written. */
    if ((rc = account_add(l, from_kind, from_owner, -amount)) != 0)
        return rc;
    s = stmt(l, ST_XFER_INS);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, from_kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, from_owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, to_kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, to_owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, amount);
    sqlite3_bind_text(s, 7, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, at, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
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
    if (r == SQLITE_DONE)
        return 1;
    if (r != SQLITE_ROW)
        return KKS_EDB;
    *pkh = sqlite3_column_int64(s, 0);
    *bpnt = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return 0;
}

/* Runs a query returning one integer (or a first violating row's text in
 * col 1). Returns 1 and fills what when a row comes back, 0 if none. */
static int probe(sqlite3 *db, const char *q, char *what, size_t cap, int64_t *num)
{
    sqlite3_stmt *s;
    int r;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) {
        kks_error("ledger check query failed", "error", sqlite3_errmsg(db));
        return KKS_EDB;
    }
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        if (num)
            *num = sqlite3_column_int64(s, 0);
        if (what) {
            const unsigned char *t = sqlite3_column_text(s, 0);
            snprintf(what, cap, "%s", t ? (const char *)t : "");
        }
        r = 1;
    } else {
        r = r == SQLITE_DONE ? 0 : KKS_EDB;
    }
    sqlite3_finalize(s);
    return r;
}

int ledger_check(ledger *l, char *violation, size_t cap, int64_t *accounts, int64_t *transfers,
                 int64_t *wallets_total, int64_t *funding_total)
{
    char row[200];
    int64_t sum = 0;
    violation[0] = '\0';
    if (probe(l->db, "SELECT (SELECT count(*) FROM funding) + 2 * (SELECT count(*) FROM wallet)"
                     " + (SELECT count(*) FROM account)", NULL, 0, accounts) < 0 ||
        probe(l->db, "SELECT (SELECT count(*) FROM credit) + (SELECT count(*) FROM transfer)",
              NULL, 0, transfers) < 0 ||
        probe(l->db, "SELECT coalesce(sum(pkh + bpnt), 0) FROM wallet", NULL, 0, wallets_total) < 0 ||
        probe(l->db, "SELECT coalesce(sum(balance), 0) FROM funding", NULL, 0, funding_total) < 0)
        return KKS_EDB;

    /* 1. All balances sum to zero. */
    if (probe(l->db, "SELECT (SELECT coalesce(sum(balance), 0) FROM funding)"
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
        "WITH c AS (SELECT funding, sum(amount) AS s FROM credit GROUP BY funding),"
        " t AS (SELECT owner, sum(d) AS s FROM (SELECT to_owner AS owner, amount AS d"
        "   FROM transfer WHERE to_kind = 'funding' UNION ALL SELECT from_owner, -amount"
        "   FROM transfer WHERE from_kind = 'funding') GROUP BY owner)"
        " SELECT 'funding ' || f.program || ' ' || f.period || ': balance ' || f.balance"
        " || ', transfers ' || (coalesce(t.s, 0) - coalesce(c.s, 0))"
        " FROM funding f LEFT JOIN c ON c.funding = f.id LEFT JOIN t ON t.owner = f.id"
        " WHERE f.balance != coalesce(t.s, 0) - coalesce(c.s, 0) LIMIT 1",
        "WITH c AS (SELECT c.kk, sum(CASE WHEN f.program = 'pkh' THEN c.amount END) AS p,"
        "   sum(CASE WHEN f.program = 'bpnt' THEN c.amount END) AS b"
        "   FROM credit c JOIN funding f ON f.id = c.funding GROUP BY c.kk),"
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
        "WITH t AS (SELECT kind, owner, sum(d) AS s FROM ("
        "   SELECT to_kind AS kind, to_owner AS owner, amount AS d FROM transfer"
        "   UNION ALL SELECT from_kind, from_owner, -amount FROM transfer)"
        "   GROUP BY kind, owner)"
        " SELECT a.kind || ' ' || a.owner || ': balance ' || a.balance || ', transfers '"
        " || coalesce(t.s, 0) FROM account a LEFT JOIN t ON t.kind = a.kind"
        " AND t.owner = a.owner WHERE a.balance != coalesce(t.s, 0) LIMIT 1",
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        int r = probe(l->db, checks[i], row, sizeof row, NULL);
        if (r < 0)
            return KKS_EDB;
        if (r == 1) {
            snprintf(violation, cap, "%s", row);
            return 1;
        }
    }
    return 0;
}
