#include "txnlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "kks_err.h"
#include "kks_log.h"

enum {
    ST_FIND, ST_INSERT, ST_WITHDRAWN, ST_ORIG, ST_MARK, ST_SET_REV, ST_TERM_TOTALS,
    ST_SETTLE_PENDING, ST_SETTLE_LAST, ST_SETTLE_MARK, ST_SETTLE_MARK_REV, ST_SETTLE_REC,
    ST_SETTLE_LINES, ST_MAX_ID, ST_BY_RRN,
    ST__COUNT
};

/* What a settlement batch of business day ?1 takes: the day's money
 * transactions not settled yet (a reversed one nets to nothing and is closed),
 * and reversals made on that day of transactions settled before (negative).
 * The pending view and the marking share these conditions, so that what is
 * reported is exactly what is marked; ?3/?4 bound a batch to the payables up
 * to (kind, owner) in the view's order (kind descending, owner ascending). */
#define SETTLE_NEW " WHERE bdate = ?1 AND rc = '00' AND to_kind IS NOT NULL AND settle_batch IS NULL"
#define SETTLE_REV                                                                                 \
    " WHERE rev_bdate = ?1 AND rev_batch IS NULL AND reversed = 1 AND settle_batch IS NOT NULL"   \
    " AND rc = '00' AND to_kind IS NOT NULL"
#define SETTLE_UPTO " AND (to_kind > ?3 OR (to_kind = ?3 AND to_owner <= ?4))"

static const char *const sql[ST__COUNT] = {
    "SELECT digest, reply FROM txn WHERE terminal = ? AND local_date = ? AND stan = ?",
    "INSERT INTO txn(terminal, local_date, stan, type, digest, pan_masked, pan_ref, kk, rc,"
    " amount, wallet, rrn, auth_code, reply, to_kind, to_owner, at, bdate)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(terminal, local_date, stan) DO UPDATE SET type = excluded.type,"
    " digest = excluded.digest, pan_masked = excluded.pan_masked, pan_ref = excluded.pan_ref,"
    " kk = excluded.kk, rc = excluded.rc, amount = excluded.amount, rrn = excluded.rrn,"
    " reply = excluded.reply, bdate = excluded.bdate WHERE txn.reply IS NULL",
    /* from txn_card_withdrawn alone: its WHERE is these three terms, word for word */
    "SELECT coalesce(sum(amount), 0), count(*) FROM txn WHERE pan_ref = ? AND bdate = ?"
    " AND type = 'withdraw' AND rc = '00' AND reversed = 0",
    "SELECT id, reversed, rc, wallet, amount, to_kind, to_owner, kk FROM txn"
    " WHERE terminal = ? AND local_date = ? AND stan = ?",
    "INSERT INTO txn(terminal, local_date, stan, type, reversed, at, rc)"
    " VALUES (?, ?, ?, 'reversal_mark', 1, ?, '')",
    "UPDATE txn SET reversed = 1, rev_bdate = ?2 WHERE id = ?1",
    "SELECT count(*), coalesce(sum(amount), 0) FROM txn WHERE terminal = ?"
    " AND local_date = ? AND rc = '00' AND type IN ('withdraw', 'purchase') AND reversed = 0",
    "SELECT to_kind, to_owner, sum(n), sum(a) FROM ("
    " SELECT to_kind, to_owner, 1 - reversed AS n, CASE WHEN reversed = 0 THEN amount ELSE 0 END"
    " AS a FROM txn" SETTLE_NEW
    " UNION ALL SELECT to_kind, to_owner, -1, -amount FROM txn" SETTLE_REV ")"
    " GROUP BY to_kind, to_owner HAVING sum(n) != 0 OR sum(a) != 0"
    " ORDER BY to_kind DESC, to_owner",
    "SELECT coalesce(max(batch), 0) FROM settlement WHERE date = ?",
    "UPDATE txn SET settle_batch = ?2, rev_batch = CASE WHEN reversed = 1 THEN ?2 ELSE NULL END"
    SETTLE_NEW SETTLE_UPTO,
    "UPDATE txn SET rev_batch = ?2" SETTLE_REV SETTLE_UPTO,
    "INSERT INTO settlement(date, batch, kind, id, count, total, at) VALUES (?,?,?,?,?,?,?)",
    "SELECT kind, id, count, total FROM settlement WHERE date = ? AND batch = ?"
    " ORDER BY kind DESC, id",
    "SELECT coalesce(max(id), 0) FROM txn",
    "SELECT terminal, local_date, stan, type, coalesce(pan_masked, ''), coalesce(kk, 0), rc,"
    " amount, coalesce(wallet, ''), rrn, coalesce(auth_code, ''), coalesce(to_kind, ''),"
    " coalesce(to_owner, ''), coalesce(bdate, ''), at, reversed, coalesce(rev_bdate, ''),"
    " coalesce(settle_batch, 0), coalesce(rev_batch, 0) FROM txn WHERE rrn = ? ORDER BY id"
    " LIMIT ?",
};

struct txnlog {
    sqlite3 *db;
    uint8_t key[16];
    EVP_MD *sha256;
    sqlite3_stmt *st[ST__COUNT];
};

static sqlite3_stmt *stmt(txnlog *j, int i)
{
    sqlite3_stmt *s = j->st[i];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static int done(sqlite3_stmt *s)
{
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE ? 0 : KKS_EDB;
}

static void text(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

int txnlog_new(sqlite3 *db, const uint8_t key[16], txnlog **out)
{
    txnlog *j = calloc(1, sizeof *j);
    *out = NULL;
    if (!j)
        return KKS_ENOMEM;
    j->db = db;
    memcpy(j->key, key, sizeof j->key);
    if (!(j->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL))) {
        txnlog_free(j);
        return KKS_ENOMEM;
    }
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i], NULL) !=
            SQLITE_OK) {
            kks_error("cannot prepare journal statement", "error", sqlite3_errmsg(db));
            txnlog_free(j);
            return KKS_EDB;
        }
    }
    *out = j;
    return 0;
}

void txnlog_free(txnlog *j)
{
    if (!j)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(j->st[i]);
    EVP_MD_free(j->sha256);
    OPENSSL_cleanse(j->key, sizeof j->key);
    free(j);
}

/* Keyed reference to a PAN for per-card limits: the journal keeps only the
 * masked PAN. */
static void pan_ref(txnlog *j, const char *pan, char out[33])
{
    uint8_t h[32];
    unsigned len = 32;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, j->sha256, NULL) != 1 ||
        EVP_DigestUpdate(md, j->key, sizeof j->key) != 1 ||
        EVP_DigestUpdate(md, pan, strlen(pan)) != 1 || EVP_DigestFinal_ex(md, h, &len) != 1)
        memset(h, 0, sizeof h); /* an all-zero ref matches no card's withdrawals: still bounded */
    EVP_MD_CTX_free(md);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) { /* snprintf per byte was 6% of an authorisation */
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[32] = '\0';
}

int txnlog_find(txnlog *j, const char *terminal, const char *local_date, uint32_t stan,
                uint8_t digest[32], uint8_t **reply, size_t *reply_len)
{
    sqlite3_stmt *s = stmt(j, ST_FIND);
    int r, res = TXNLOG_FOUND;
    sqlite3_bind_text(s, 1, terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, local_date, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)stan);
    r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        return r == SQLITE_DONE ? TXNLOG_NONE : KKS_EDB;
    }
    if (sqlite3_column_type(s, 1) == SQLITE_NULL) {
        res = TXNLOG_REVERSED_FIRST; /* a reversal mark: no original ever came */
    } else {
        if (digest && sqlite3_column_bytes(s, 0) == 32)
            memcpy(digest, sqlite3_column_blob(s, 0), 32);
        if (reply) {
            size_t n = (size_t)sqlite3_column_bytes(s, 1);
            *reply = malloc(n ? n : 1);
            *reply_len = n;
            if (!*reply)
                res = KKS_ENOMEM;
            else if (n)
                memcpy(*reply, sqlite3_column_blob(s, 1), n);
        }
    }
    sqlite3_reset(s);
    return res;
}

int txnlog_insert(txnlog *j, const txnlog_row *r)
{
    sqlite3_stmt *s = stmt(j, ST_INSERT);
    char ref[33];
    pan_ref(j, r->pan, ref);
    sqlite3_bind_text(s, 1, r->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->local_date, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)r->stan);
    sqlite3_bind_text(s, 4, r->type, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 5, r->digest, 32, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, r->pan_masked, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, ref, -1, SQLITE_STATIC);
    if (r->kk)
        sqlite3_bind_int64(s, 8, (int64_t)r->kk);
    sqlite3_bind_text(s, 9, r->rc, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, r->amount);
    sqlite3_bind_text(s, 11, r->wallet, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 12, r->rrn, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 13, r->auth_code, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 14, r->reply, (int)r->reply_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 15, r->to_kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 16, r->to_owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 17, r->at, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 18, r->bdate, -1, SQLITE_STATIC);
    if (done(s) < 0)
        return KKS_EDB;
    /* nothing written means the identity is journaled already */
    return sqlite3_changes(j->db) == 1 ? 0 : KKS_EDB;
}

int64_t txnlog_withdrawn(txnlog *j, const char *pan, const char *bdate, int64_t *count)
{
    sqlite3_stmt *s = stmt(j, ST_WITHDRAWN);
    char ref[33];
    int64_t v = -1;
    *count = -1;
    pan_ref(j, pan, ref);
    sqlite3_bind_text(s, 1, ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, bdate, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        *count = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return v;
}

int txnlog_original(txnlog *j, const char *terminal, const char *local_date, uint32_t stan,
                    txnlog_orig *o)
{
    sqlite3_stmt *s = stmt(j, ST_ORIG);
    int r;
    memset(o, 0, sizeof *o);
    sqlite3_bind_text(s, 1, terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, local_date, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)stan);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        o->rowid = sqlite3_column_int64(s, 0);
        o->reversed = sqlite3_column_int(s, 1);
        text(o->rc, sizeof o->rc, s, 2);
        text(o->wallet, sizeof o->wallet, s, 3);
        o->amount = sqlite3_column_int64(s, 4);
        text(o->to_kind, sizeof o->to_kind, s, 5);
        text(o->to_owner, sizeof o->to_owner, s, 6);
        snprintf(o->kk, sizeof o->kk, "%016lld", (long long)sqlite3_column_int64(s, 7));
    }
    sqlite3_reset(s);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : KKS_EDB;
}

int txnlog_mark_reversed_first(txnlog *j, const char *terminal, const char *local_date,
                               uint32_t stan, const char *at)
{
    sqlite3_stmt *s = stmt(j, ST_MARK);
    sqlite3_bind_text(s, 1, terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, local_date, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, (int)stan);
    sqlite3_bind_text(s, 4, at, -1, SQLITE_STATIC);
    return done(s);
}

int txnlog_set_reversed(txnlog *j, int64_t rowid, const char *bdate)
{
    sqlite3_stmt *s = stmt(j, ST_SET_REV);
    sqlite3_bind_int64(s, 1, rowid);
    sqlite3_bind_text(s, 2, bdate, -1, SQLITE_STATIC);
    return done(s);
}

int txnlog_terminal_totals(txnlog *j, const char *terminal, const char *local_date,
                           uint32_t *count, int64_t *total)
{
    sqlite3_stmt *s = stmt(j, ST_TERM_TOTALS);
    int r;
    sqlite3_bind_text(s, 1, terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, local_date, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *count = (uint32_t)sqlite3_column_int(s, 0);
        *total = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return r == SQLITE_ROW ? 0 : KKS_EDB;
}

/* Reads up to cap lines; *more says whether the view had more. */
static int settle_read(sqlite3_stmt *s, txnlog_settle_line *out, int cap, int *more)
{
    int n = 0, r;
    *more = 0;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            *more = 1;
            r = SQLITE_DONE;
            break;
        }
        txnlog_settle_line *l = &out[n++];
        text(l->kind, sizeof l->kind, s, 0);
        text(l->id, sizeof l->id, s, 1);
        l->count = sqlite3_column_int(s, 2);
        l->total = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    return r == SQLITE_DONE ? n : KKS_EDB;
}

int txnlog_settle_pending(txnlog *j, const char *date, txnlog_settle_line *out, int cap,
                          int *more)
{
    sqlite3_stmt *s = stmt(j, ST_SETTLE_PENDING);
    sqlite3_bind_text(s, 1, date, -1, SQLITE_STATIC);
    return settle_read(s, out, cap, more);
}

int txnlog_settle_last(txnlog *j, const char *date)
{
    sqlite3_stmt *s = stmt(j, ST_SETTLE_LAST);
    int r, v = KKS_EDB;
    sqlite3_bind_text(s, 1, date, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    return v;
}

int txnlog_settle_commit(txnlog *j, const char *date, int batch, const txnlog_settle_line *lines,
                         int n, const char *at)
{
    sqlite3_stmt *s;
    if (n == 0)
        return 0;
    for (int k = ST_SETTLE_MARK; k <= ST_SETTLE_MARK_REV; k++) {
        s = stmt(j, k);
        sqlite3_bind_text(s, 1, date, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, batch);
        sqlite3_bind_text(s, 3, lines[n - 1].kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, lines[n - 1].id, -1, SQLITE_STATIC);
        if (done(s) < 0)
            return KKS_EDB;
    }
    for (int i = 0; i < n; i++) {
        s = stmt(j, ST_SETTLE_REC);
        sqlite3_bind_text(s, 1, date, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, batch);
        sqlite3_bind_text(s, 3, lines[i].kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, lines[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 5, lines[i].count);
        sqlite3_bind_int64(s, 6, lines[i].total);
        sqlite3_bind_text(s, 7, at, -1, SQLITE_STATIC);
        if (done(s) < 0)
            return KKS_EDB;
    }
    return 0;
}

int txnlog_settle_lines(txnlog *j, const char *date, int batch, txnlog_settle_line *out, int cap)
{
    sqlite3_stmt *s = stmt(j, ST_SETTLE_LINES);
    int more;
    sqlite3_bind_text(s, 1, date, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, batch);
    return settle_read(s, out, cap, &more);
}

int64_t txnlog_max_id(txnlog *j)
{
    sqlite3_stmt *s = stmt(j, ST_MAX_ID);
    int64_t v = KKS_EDB;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return v;
}

int txnlog_by_rrn(txnlog *j, const char *rrn, txnlog_view *out, int cap)
{
    sqlite3_stmt *s = stmt(j, ST_BY_RRN);
    int n = 0, r = SQLITE_DONE;
    sqlite3_bind_text(s, 1, rrn, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, cap);
    while (n < cap && (r = sqlite3_step(s)) == SQLITE_ROW) {
        txnlog_view *v = &out[n++];
        memset(v, 0, sizeof *v);
        text(v->terminal, sizeof v->terminal, s, 0);
        text(v->local_date, sizeof v->local_date, s, 1);
        v->stan = (uint32_t)sqlite3_column_int(s, 2);
        text(v->type, sizeof v->type, s, 3);
        text(v->pan_masked, sizeof v->pan_masked, s, 4);
        v->kk = (uint64_t)sqlite3_column_int64(s, 5);
        text(v->rc, sizeof v->rc, s, 6);
        v->amount = sqlite3_column_int64(s, 7);
        text(v->wallet, sizeof v->wallet, s, 8);
        text(v->rrn, sizeof v->rrn, s, 9);
        text(v->auth_code, sizeof v->auth_code, s, 10);
        text(v->to_kind, sizeof v->to_kind, s, 11);
        text(v->to_owner, sizeof v->to_owner, s, 12);
        text(v->bdate, sizeof v->bdate, s, 13);
        text(v->at, sizeof v->at, s, 14);
        v->reversed = sqlite3_column_int(s, 15);
        text(v->rev_bdate, sizeof v->rev_bdate, s, 16);
        v->settle_batch = sqlite3_column_int(s, 17);
        v->rev_batch = sqlite3_column_int(s, 18);
    }
    if (n < cap && r != SQLITE_DONE)
        n = KKS_EDB;
    sqlite3_reset(s);
    return n;
}
