/* ledger_check_db: the ledger's invariants, read in one pass.
 *
 * The rules (ledger.h) are answered in this order, the first broken one named:
 *   R_SUM      all balances sum to zero;
 *   R_NEGATIVE no family wallet is negative;
 *   R_BATCH    every credit names a batch that exists;
 *   R_FUNDING  a funding account's balance is its transfers less its credits;
 *   R_WALLET   a family's wallets are their credits and transfers;
 *   R_TWICE    a month is paid at most once per family and programme;
 *   R_LAST     a wallet's last paid month is not behind its credits;
 *   R_ACCOUNT  a named account's balance is its transfers.
 * The wallets (by KK), the credits (by KK, programme, first month) and the
 * wallets' transfer sums (by KK) are read as three ordered streams and merged:
 * the wallets and credits are read once, in the order they are stored (the
 * transfers, none after a credit run, by a few queries). A national ledger
 * (20.7M wallets, 29M credits) is checked in 17.9 s; a query a rule (scans,
 * joins, correlated subqueries and a window over the credits) took 155 s. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "ledger.h"

enum { R_SUM, R_NEGATIVE, R_BATCH, R_FUNDING, R_WALLET, R_TWICE, R_LAST, R_ACCOUNT, R__COUNT };

#define WHY_CAP 200

struct funding {
    int64_t id, balance, transfers, credits;
    char label[64]; /* "pkh 2026-T4" */
};

struct batch {
    int64_t id;
    size_t funding; /* index in check.funding */
};

struct check {
    sqlite3 *db;
    struct funding *funding;
    size_t nfunding;
    struct batch *batch;
    size_t nbatch;
    int found[R__COUNT];
    char why[R__COUNT][WHY_CAP];
    int64_t wallets, credits, wallets_total;
};

static int db_failed(sqlite3 *db)
{
    if (sqlite3_errcode(db) != SQLITE_INTERRUPT) /* a stop is the caller's to tell */
        kks_error("ledger check query failed", "error", sqlite3_errmsg(db));
    return KKS_EDB;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *q)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) {
        db_failed(db);
        return NULL;
    }
    return s;
}

/* Runs a query returning one integer (or a first violating row's text in
 * col 1). Returns 1 and fills what when a row comes back, 0 if none. */
static int probe(sqlite3 *db, const char *q, char *what, size_t cap, int64_t *num)
{
    sqlite3_stmt *s = prepare(db, q);
    int r;
    if (!s)
        return KKS_EDB;
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
        r = r == SQLITE_DONE ? 0 : db_failed(db);
    }
    sqlite3_finalize(s);
    return r;
}

/* The first finding of a rule is kept (the first family, in KK order). */
static void found(struct check *c, int rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void found(struct check *c, int rule, const char *fmt, ...)
{
    va_list ap;
    if (c->found[rule])
        return;
    c->found[rule] = 1;
    va_start(ap, fmt);
    vsnprintf(c->why[rule], WHY_CAP, fmt, ap);
    va_end(ap);
}

/* a += b, or KKS_EDB (as SQLite's sum() would be) if it overflows. */
static int add(int64_t *a, int64_t b)
{
    if (__builtin_add_overflow(*a, b, a)) {
        kks_error("ledger check: a sum overflows 64 bits");
        return KKS_EDB;
    }
    return 0;
}

/* The place of id in an array of n records of size bytes, sorted by their
 * first member (an int64_t id), or n. */
static size_t id_find(const void *base, size_t n, size_t size, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t m;
        memcpy(&m, (const char *)base + mid * size, sizeof m);
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n) {
        int64_t m;
        memcpy(&m, (const char *)base + lo * size, sizeof m);
        if (m == id)
            return lo;
    }
    return n;
}

/* p (n records, *cap allotted) with room for one more: p itself, moved, or
 * NULL (p left as it was) when memory runs out. */
static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    size_t nc = *cap ? 2 * *cap : 64;
    void *np = realloc(p, nc * size);
    if (np)
        *cap = nc;
    return np;
}

static size_t funding_find(const struct check *c, int64_t id)
{
    return id_find(c->funding, c->nfunding, sizeof *c->funding, id);
}

static int funding_load(struct check *c)
{
    sqlite3_stmt *s = prepare(c->db, "SELECT id, program, period, balance FROM funding"
                                     " ORDER BY id");
    size_t cap = 0;
    int r;
    if (!s)
        return KKS_EDB;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct funding *nf = grow(c->funding, &cap, c->nfunding, sizeof *nf);
        if (!nf) {
            sqlite3_finalize(s);
            return KKS_ENOMEM;
        }
        c->funding = nf;
        struct funding *f = &c->funding[c->nfunding++];
        const unsigned char *p = sqlite3_column_text(s, 1), *q = sqlite3_column_text(s, 2);
        memset(f, 0, sizeof *f);
        f->id = sqlite3_column_int64(s, 0);
        f->balance = sqlite3_column_int64(s, 3);
        snprintf(f->label, sizeof f->label, "%s %s", p ? (const char *)p : "",
                 q ? (const char *)q : "");
    }
    sqlite3_finalize(s);
    if (r != SQLITE_DONE)
        return db_failed(c->db);
    /* their transfers: none that the switch writes today (a credit run moves
     * a funding balance with the credits), but a transfer may name one */
    s = prepare(c->db, "SELECT owner, sum(d) FROM (SELECT CAST(to_owner AS INTEGER) AS owner,"
                       " amount AS d FROM transfer WHERE to_kind = 'funding' UNION ALL"
                       " SELECT CAST(from_owner AS INTEGER), -amount FROM transfer"
                       " WHERE from_kind = 'funding') GROUP BY owner");
    if (!s)
        return KKS_EDB;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        size_t i = funding_find(c, sqlite3_column_int64(s, 0));
        if (i < c->nfunding)
            c->funding[i].transfers = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? 0 : db_failed(c->db);
}

/* The credit batches, by id, each with its funding account's place. */
static int batch_load(struct check *c)
{
    sqlite3_stmt *s = prepare(c->db, "SELECT id, funding FROM credit_batch ORDER BY id");
    size_t cap = 0;
    int r;
    if (!s)
        return KKS_EDB;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct batch *nb = grow(c->batch, &cap, c->nbatch, sizeof *nb);
        if (!nb) {
            sqlite3_finalize(s);
            return KKS_ENOMEM;
        }
        c->batch = nb;
        struct batch *b = &c->batch[c->nbatch++];
        b->id = sqlite3_column_int64(s, 0);
        /* nfunding if it names none: its credits count towards no account */
        b->funding = funding_find(c, sqlite3_column_int64(s, 1));
    }
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? 0 : db_failed(c->db);
}

/* One stream: a statement and whether it is on a row. */
struct stream {
    sqlite3_stmt *s;
    int row;
};

static int stream_next(sqlite3 *db, struct stream *st)
{
    int r = sqlite3_step(st->s);
    st->row = r == SQLITE_ROW;
    return r == SQLITE_ROW || r == SQLITE_DONE ? 0 : db_failed(db);
}

/* The credit before, for months paid twice (ranges of one family and
 * programme come ordered by their first month). */
struct prev {
    int have, prog;
    int64_t kk, last;
};

/* What one family was credited, per programme (1 PKH, 2 BPNT). */
struct fam {
    int64_t sum[3], last[3];
    int any[3];
};

static const char *prog_name(int p)
{
    return p == LEDGER_PKH ? "PKH" : "BPNT";
}

/* Takes the credits of family kk (all of those before it too, which belong
 * to no wallet): funding sums, batches, months paid twice. */
static int credits_take(struct check *c, struct stream *cr, int64_t kk, struct fam *f,
                        struct prev *pv)
{
    memset(f, 0, sizeof *f);
    while (cr->row) {
        int64_t k = sqlite3_column_int64(cr->s, 0);
        if (k > kk)
            break;
        int prog = sqlite3_column_int(cr->s, 1);
        int64_t first = sqlite3_column_int64(cr->s, 2), last = sqlite3_column_int64(cr->s, 3);
        int64_t bid = sqlite3_column_int64(cr->s, 4), amount = sqlite3_column_int64(cr->s, 5);
        size_t bi = id_find(c->batch, c->nbatch, sizeof *c->batch, bid);
        struct batch *b = bi < c->nbatch ? &c->batch[bi] : NULL;
        c->credits++;
        if (!b)
            found(c, R_BATCH, "credit of family %" PRId64 " names batch %" PRId64
                              ", which does not exist",
                  k, bid);
        else if (b->funding < c->nfunding && add(&c->funding[b->funding].credits, amount) < 0)
            return KKS_EDB;
        if (pv->have && k == pv->kk && prog == pv->prog && pv->last >= first)
            found(c, R_TWICE, "family %" PRId64 ": %s paid twice for %04" PRId64 "-%02" PRId64, k,
                  prog_name(prog), first / 12, first % 12 + 1);
        *pv = (struct prev){.have = 1, .kk = k, .prog = prog, .last = last};
        if (k == kk && (prog == LEDGER_PKH || prog == LEDGER_BPNT)) {
            if (add(&f->sum[prog], amount) < 0)
                return KKS_EDB;
            if (!f->any[prog] || last > f->last[prog])
                f->last[prog] = last;
            f->any[prog] = 1;
        }
        if (stream_next(c->db, cr) < 0)
            return KKS_EDB;
    }
    return 0;
}

/* The merge: every wallet against its credits and its transfers. */
static int families(struct check *c)
{
    static const char *const q[3] = {
        "SELECT kk, pkh, bpnt, pkh_last, bpnt_last FROM wallet ORDER BY kk",
        "SELECT kk, program, first, last, batch, amount FROM credit"
        " ORDER BY kk, program, first",
        "SELECT owner, sum(p), sum(b) FROM (SELECT CAST(to_owner AS INTEGER) AS owner,"
        " CASE to_kind WHEN 'pkh' THEN amount ELSE 0 END AS p,"
        " CASE to_kind WHEN 'bpnt' THEN amount ELSE 0 END AS b FROM transfer"
        " WHERE to_kind IN ('pkh', 'bpnt') UNION ALL SELECT CAST(from_owner AS INTEGER),"
        " CASE from_kind WHEN 'pkh' THEN -amount ELSE 0 END,"
        " CASE from_kind WHEN 'bpnt' THEN -amount ELSE 0 END FROM transfer"
        " WHERE from_kind IN ('pkh', 'bpnt')) GROUP BY owner ORDER BY owner",
    };
    struct stream w = {0}, cr = {0}, t = {0};
    struct prev pv = {0};
    struct fam f;
    int rc = KKS_EDB;
    if (!(w.s = prepare(c->db, q[0])) || !(cr.s = prepare(c->db, q[1])) ||
        !(t.s = prepare(c->db, q[2])))
        goto out;
    if (stream_next(c->db, &w) < 0 || stream_next(c->db, &cr) < 0 || stream_next(c->db, &t) < 0)
        goto out;
    for (; w.row; c->wallets++) {
        int64_t kk = sqlite3_column_int64(w.s, 0), pkh = sqlite3_column_int64(w.s, 1),
                bpnt = sqlite3_column_int64(w.s, 2), tp = 0, tb = 0;
        int64_t last[3] = {0, sqlite3_column_int64(w.s, 3), sqlite3_column_int64(w.s, 4)};
        if (pkh < 0 || bpnt < 0)
            found(c, R_NEGATIVE, "negative wallet: family %" PRId64 ": PKH %" PRId64
                                 ", BPNT %" PRId64,
                  kk, pkh, bpnt);
        if (add(&c->wallets_total, pkh) < 0 || add(&c->wallets_total, bpnt) < 0)
            goto out;
        if (credits_take(c, &cr, kk, &f, &pv) < 0)
            goto out;
        /* transfer sums of owners with no wallet are not a family's */
        while (t.row && sqlite3_column_int64(t.s, 0) < kk)
            if (stream_next(c->db, &t) < 0)
                goto out;
        if (t.row && sqlite3_column_int64(t.s, 0) == kk) {
            tp = sqlite3_column_int64(t.s, 1);
            tb = sqlite3_column_int64(t.s, 2);
            if (stream_next(c->db, &t) < 0)
                goto out;
        }
        if (add(&tp, f.sum[LEDGER_PKH]) < 0 || add(&tb, f.sum[LEDGER_BPNT]) < 0)
            goto out;
        if (pkh != tp || bpnt != tb)
            found(c, R_WALLET, "family %" PRId64 ": wallets PKH %" PRId64 " BPNT %" PRId64
                               ", transfers PKH %" PRId64 " BPNT %" PRId64,
                  kk, pkh, bpnt, tp, tb);
        for (int p = LEDGER_PKH; p <= LEDGER_BPNT; p++)
            if (f.any[p] && last[p] < f.last[p]) {
                found(c, R_LAST, "family %" PRId64
                                 ": last paid month on the account is behind its credits",
                      kk);
                break;
            }
        if (stream_next(c->db, &w) < 0)
            goto out;
    }
    /* credits after the last wallet */
    if (credits_take(c, &cr, INT64_MAX, &f, &pv) < 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(w.s);
    sqlite3_finalize(cr.s);
    sqlite3_finalize(t.s);
    return rc;
}

int ledger_check_db(sqlite3 *db, char *violation, size_t cap, int64_t *accounts,
                    int64_t *transfers, int64_t *wallets_total, int64_t *funding_total)
{
    struct check c = {.db = db};
    int64_t naccounts = 0, nfunding = 0, ntransfers = 0, named = 0, sum = 0;
    int rc = KKS_EDB;
    violation[0] = '\0';
    if ((rc = funding_load(&c)) < 0 || (rc = batch_load(&c)) < 0 || (rc = families(&c)) < 0)
        goto out;
    rc = KKS_EDB;
    if (probe(db, "SELECT count(*) FROM account", NULL, 0, &naccounts) < 0 ||
        probe(db, "SELECT count(*) FROM transfer", NULL, 0, &ntransfers) < 0 ||
        probe(db, "SELECT coalesce(sum(balance), 0) FROM account", NULL, 0, &named) < 0)
        goto out;
    for (size_t i = 0; i < c.nfunding; i++) {
        struct funding *f = &c.funding[i];
        if (add(&nfunding, f->balance) < 0)
            goto out;
        int64_t net;
        if (__builtin_sub_overflow(f->transfers, f->credits, &net)) {
            kks_error("ledger check: a sum overflows 64 bits");
            goto out;
        }
        if (f->balance != net)
            found(&c, R_FUNDING, "funding %s: balance %" PRId64 ", transfers %" PRId64, f->label,
                  f->balance, net);
    }
    sum = nfunding;
    if (add(&sum, c.wallets_total) < 0 || add(&sum, named) < 0)
        goto out;
    if (sum != 0)
        found(&c, R_SUM, "balances sum to %" PRId64 ", not 0", sum);
    *accounts = (int64_t)c.nfunding + 2 * c.wallets + naccounts;
    *transfers = c.credits + ntransfers;
    *wallets_total = c.wallets_total;
    *funding_total = nfunding;
    for (int r = 0; r < R_ACCOUNT; r++)
        if (c.found[r]) {
            snprintf(violation, cap, "%s", c.why[r]);
            rc = 1;
            goto out;
        }
    /* R_ACCOUNT: merchants, ATMs, the bank's own */
    rc = probe(db,
               "WITH t AS (SELECT kind, owner, sum(d) AS s FROM ("
               "   SELECT to_kind AS kind, to_owner AS owner, amount AS d FROM transfer"
               "   UNION ALL SELECT from_kind, from_owner, -amount FROM transfer)"
               "   GROUP BY kind, owner)"
               " SELECT a.kind || ' ' || a.owner || ': balance ' || a.balance || ', transfers '"
               " || coalesce(t.s, 0) FROM account a LEFT JOIN t ON t.kind = a.kind"
               " AND t.owner = a.owner WHERE a.balance != coalesce(t.s, 0) LIMIT 1",
               violation, cap, NULL);
out:
    free(c.funding);
    free(c.batch);
    return rc;
}
