/* Credit runs, account opening, ledger check and account views: the
 * operator's side of the switch.
 *
 * A credit batch is one programme and period; its rows are applied in KK
 * order (sorted here if the sender did not), each a credit of the family for
 * the period's months (ledger_credit): running a manifest again, or again
 * after a crash, or another manifest whose months overlap, pays each family
 * each month at most once. Most rows are the common case (months after
 * everything the family was paid): ledger_credit_many credits those of a
 * stretch of the batch at once, ledger_credit the others one by one, with the
 * same results. A batch is one savepoint of the group commit and
 * is acknowledged only after COMMIT. Its reply stays under the frame cap:
 * when the rejections would not fit, the switch stops at a family boundary
 * and says where (next_kk); the sender sends the rest again. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "kks_reject.h"
#include "switch.h"

#define KK_MIN 1000000000000000ull
#define KK_MAX 9999999999999999ull
/* Bytes of rejections one reply may carry: a quarter of the operators' 1 MiB
 * frame, so the reply always fits with room to spare. */
#define REJECT_BUDGET (256u * 1024u)
/* The longest reason of a rejection, and what one rejection can add to the
 * reply's bytes (rejects_add). */
#define WHY_MAX 320
#define REJECT_MAX (WHY_MAX + 16)
/* Fewer rows than this are not worth a ledger_credit_many; more save little
 * (800 rows: 0.9% fewer instructions than 200) and leave more to collect in
 * a temporary b-tree when the rows are too sparse for a walk. */
#define AHEAD_MIN 16
#define AHEAD_MAX 200

/* Rejected rows, grown only when there are some (a clean batch allocates nothing). */
struct rejects {
    Kks__Rejected **p;
    size_t n, cap, bytes;
};

/* kind: the class of why (core/kks_reject.h; 0 for rows that are not credits). */
static int rejects_add(struct rejects *r, uint32_t line, unsigned kind, const char *why)
{
    size_t len = strlen(why);
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        Kks__Rejected **np = realloc(r->p, nc * sizeof *np);
        if (!np)
            return KKS_ENOMEM;
        r->p = np;
        r->cap = nc;
    }
    Kks__Rejected *x = malloc(sizeof *x + len + 1);
    if (!x)
        return KKS_ENOMEM;
    kks__rejected__init(x);
    x->line = line;
    x->kind = kind;
    x->reason = (char *)(x + 1);
    memcpy(x->reason, why, len + 1);
    r->p[r->n++] = x;
    r->bytes += len + 16; /* with the line and the framing of the message */
    return 0;
}

static void rejects_free(struct rejects *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->p[i]);
    free(r->p);
}

/* A row of either form of a batch (CreditBatch rows, CreditColumns). */
struct crow {
    uint64_t kk;
    int64_t amount;
    uint32_t line;
    unsigned char credited, tried; /* by ledger_credit_many, or not */
};

static int cmp_row(const void *a, const void *b)
{
    const struct crow *x = a, *y = b;
    if (x->kk != y->kk)
        return x->kk < y->kk ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* The batch's rows, in KK order (then line), or NULL with *n = 0 and the
 * error set in o. */
static struct crow *batch_rows(const Kks__Envelope *req, const char **program,
                               const char **period, size_t *n, sw_out *o)
{
    struct crow *rows;
    *n = 0;
    if (req->body_case == KKS__ENVELOPE__BODY_CREDIT_COLUMNS) {
        const Kks__CreditColumns *c = req->credit_columns;
        if (c->n_amount != c->n_kk || c->n_line != c->n_kk) {
            sw_out_error(o, KKS_EINVAL, "credit columns of different lengths");
            return NULL;
        }
        *program = c->program;
        *period = c->period;
        *n = c->n_kk;
    } else {
        *program = req->credit_batch->program;
        *period = req->credit_batch->period;
        *n = req->credit_batch->n_rows;
    }
    if (!(rows = malloc((*n + 1) * sizeof *rows))) {
        *n = 0;
        sw_out_error(o, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        return NULL;
    }
    for (size_t i = 0; i < *n; i++) {
        if (req->body_case == KKS__ENVELOPE__BODY_CREDIT_COLUMNS) {
            const Kks__CreditColumns *c = req->credit_columns;
            rows[i] = (struct crow){c->kk[i], c->amount[i], c->line[i], 0, 0};
        } else {
            const Kks__CreditRow *r = req->credit_batch->rows[i];
            rows[i] = (struct crow){r->kk, r->amount, r->line, 0, 0};
        }
    }
    for (size_t i = 1; i < *n; i++) {
        if (cmp_row(&rows[i - 1], &rows[i]) > 0) {
            qsort(rows, *n, sizeof *rows, cmp_row);
            break;
        }
    }
    return rows;
}

/* "bpnt 2026-02, 2026-04..2026-05 already paid (under bpnt 2026-01..03, bpnt
 * 2026-04..06): not applied": exactly the months paid before. */
static void overlap_text(const char *program, const ledger_credit_out *o, char *out, size_t cap)
{
    char months[160] = "", labels[160] = "";
    int n = o->noverlap < LEDGER_OVERLAPS_MAX ? o->noverlap : LEDGER_OVERLAPS_MAX;
    for (int i = 0; i < n; i++) {
        char a[8], b[8];
        size_t m = strlen(months), l = strlen(labels);
        kks_month_format(o->overlap[i].first, a);
        kks_month_format(o->overlap[i].last, b);
        if (o->overlap[i].first == o->overlap[i].last)
            snprintf(months + m, sizeof months - m, "%s%s", i ? ", " : "", a);
        else
            snprintf(months + m, sizeof months - m, "%s%s..%s", i ? ", " : "", a, b);
        snprintf(labels + l, sizeof labels - l, "%s%s %s", i ? ", " : "", program,
                 o->overlap[i].label);
    }
    snprintf(out, cap, "%.8s %.80s%s already paid (under %.90s): not applied", program, months,
             o->noverlap > n ? " and more" : "", labels);
}

/* Why row i of a batch is refused before the ledger is asked: 1 with the
 * reason in why and its class in *kind (when why is not NULL), or 0. */
static int row_refused(const struct crow *rows, size_t i, int64_t max, const char *program,
                       const char *label, char *why, size_t cap, unsigned *kind)
{
    const struct crow *r = &rows[i];
    if (r->kk < KK_MIN || r->kk > KK_MAX) {
        if (why) {
            snprintf(why, cap, "KK must be 16 digits");
            *kind = KKS_REJECT_BAD_KK;
        }
    } else if (r->amount <= 0) {
        if (why) {
            snprintf(why, cap, "amount must be more than Rp0");
            *kind = KKS_REJECT_BAD_AMOUNT;
        }
    } else if (r->amount > max) {
        if (why) {
            snprintf(why, cap, "Rp%" PRId64 " is over the policy maximum Rp%" PRId64 " for %s %s",
                     r->amount, max, program, label);
            *kind = KKS_REJECT_OVER_MAX;
        }
    } else if (i > 0 && rows[i - 1].kk == r->kk) {
        if (why) {
            snprintf(why, cap, "KK %016" PRIu64 " twice in this run (line %u)", r->kk,
                     rows[i - 1].line);
            *kind = KKS_REJECT_TWICE;
        }
    } else {
        return 0;
    }
    return 1;
}

/* Working space of credit_ahead: up to its rows' count each. */
struct ahead {
    uint64_t *kk;
    int64_t *amount;
    size_t *row;
    unsigned char *done;
    size_t cap;
};

/* The common case of the rows from i on, at once (ledger_credit_many), for as
 * many rows as the reply's budget cannot stop before (bytes of rejections so
 * far, each row adding at most REJECT_MAX): marks those it credited. *end is
 * the first row after them. Returns 0, KKS_ENOMEM or KKS_EDB. */
static int credit_ahead(ledger *l, const ledger_credit_in *in, struct crow *rows, size_t i,
                        size_t nrows, size_t bytes, int64_t max, struct ahead *a, size_t *end)
{
    size_t n = bytes <= REJECT_BUDGET ? (REJECT_BUDGET - bytes) / REJECT_MAX + 1 : 1, k = 0;
    int rc;
    if (n > AHEAD_MAX)
        n = AHEAD_MAX;
    if (n > nrows - i)
        n = nrows - i;
    *end = i + n;
    if (n < AHEAD_MIN)
        return 0;
    if (a->cap < n) {
        free(a->kk);
        free(a->amount);
        free(a->row);
        free(a->done);
        a->kk = malloc(n * sizeof *a->kk);
        a->amount = malloc(n * sizeof *a->amount);
        a->row = malloc(n * sizeof *a->row);
        a->done = malloc(n);
        a->cap = a->kk && a->amount && a->row && a->done ? n : 0;
        if (!a->cap)
            return KKS_ENOMEM;
    }
    for (size_t j = i; j < i + n; j++) {
        if (!row_refused(rows, j, max, NULL, NULL, NULL, 0, NULL)) {
            a->kk[k] = rows[j].kk;
            a->amount[k] = rows[j].amount;
            a->row[k++] = j;
        }
    }
    if ((rc = ledger_credit_many(l, in, a->kk, a->amount, k, a->done)) < 0)
        return rc;
    for (size_t j = 0; j < k; j++) {
        rows[a->row[j]].credited = a->done[j];
        rows[a->row[j]].tried = !a->done[j];
    }
    return 0;
}

static void ahead_free(struct ahead *a)
{
    free(a->kk);
    free(a->amount);
    free(a->row);
    free(a->done);
}

enum sw_verdict credit_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__CreditResult res = KKS__CREDIT_RESULT__INIT;
    struct crow *rows = NULL;
    const char *program, *period;
    size_t nrows, ahead = 0;
    struct rejects rj = {0};
    struct ahead aw = {0};
    enum sw_verdict v = SW_UNDO;
    char why[WHY_MAX], at[21], perr[160];
    unsigned kind;
    kks_period per;
    ledger_credit_in in;
    ledger_credit_out out;
    int64_t funding, max, total = 0;

    if (!(rows = batch_rows(req, &program, &period, &nrows, o)))
        return SW_UNDO;
    s->metrics.credit_rows += nrows;
    if (kks_period_parse(program, period, &per) < 0 ||
        kks_policy_period_check(&s->policy, &per, perr, sizeof perr) < 0) {
        sw_out_error(o, KKS_EINVAL, "unknown programme or period label, or one the policy refuses");
        free(rows);
        return SW_UNDO;
    }
    max = kks_policy_max_amount(&s->policy, &per);
    kks_utc_now(at);
    if (ledger_funding(s->ledger, program, per.label, &funding) < 0 ||
        ledger_credit_batch(s->ledger, funding, at, &in.batch) < 0)
        goto db_fail;
    in.program = per.program == KKS_PROGRAM_PKH ? LEDGER_PKH : LEDGER_BPNT;
    in.tried = 0;
    kks_period_months(&per, &in.first, &in.last);
    for (size_t i = 0; i < nrows; i++) {
        const struct crow *r = &rows[i];
        int rc;
        /* the rest another time: the reply must fit (at a family's first row,
         * or anywhere for a sender that repeats one family very many times) */
        if (rj.bytes > REJECT_BUDGET && (rows[i - 1].kk != r->kk || rj.bytes > 2 * REJECT_BUDGET)) {
            res.next_kk = r->kk;
            break;
        }
        if (i == ahead &&
            (rc = credit_ahead(s->ledger, &in, rows, i, nrows, rj.bytes, max, &aw, &ahead)) < 0) {
            if (rc == KKS_EDB)
                goto db_fail;
            sw_out_error(o, rc, kks_strerror(rc));
            goto out;
        }
        why[0] = '\0';
        kind = KKS_REJECT_OTHER;
        in.kk = r->kk;
        in.amount = r->amount;
        in.tried = r->tried;
        if (row_refused(rows, i, max, program, per.label, why, sizeof why, &kind)) {
            /* why says */
        } else if (r->credited) {
            res.credited++;
            total += r->amount;
        } else if ((rc = ledger_credit(s->ledger, &in, &out)) < 0) {
            goto db_fail;
        } else if (rc == 0) {
            res.credited++;
            total += r->amount;
        } else if (rc == LEDGER_ALREADY) {
            res.already++;
        } else if (rc == LEDGER_OTHER_AMOUNT) {
            snprintf(why, sizeof why,
                     "already credited Rp%" PRId64 " for %s %s; the manifest says Rp%" PRId64
                     ": not applied",
                     out.existing, program, per.label, r->amount);
            kind = KKS_REJECT_OTHER_AMOUNT;
        } else if (rc == LEDGER_OVERLAP) {
            overlap_text(program, &out, why, sizeof why);
            kind = KKS_REJECT_ALREADY_PAID;
        } else if (rc == LEDGER_NO_ACCOUNT) {
            snprintf(why, sizeof why,
                     "no account at the switch for KK %016" PRIu64
                     " (not enrolled, or its account not opened)",
                     r->kk);
            kind = KKS_REJECT_NO_ACCOUNT;
        } else {
            snprintf(why, sizeof why, "family %016" PRIu64 " is not in %s", r->kk,
                     in.program == LEDGER_PKH ? "PKH" : "BPNT");
            kind = KKS_REJECT_NOT_IN_PROGRAMME;
        }
        if (why[0] && rejects_add(&rj, r->line, kind, why) < 0) {
            sw_out_error(o, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
            goto out;
        }
    }
    if (total ? ledger_funding_add(s->ledger, funding, -total) < 0
              : ledger_credit_batch_drop(s->ledger, in.batch) < 0)
        goto db_fail;
    res.rupiah = total;
    res.n_rejected = rj.n;
    res.rejected = rj.p;
    rep.body_case = KKS__ENVELOPE__BODY_CREDIT_RESULT;
    rep.credit_result = &res;
    if (sw_out_set(o, &rep) == 0) {
        o->rows = (unsigned)nrows;
        o->budget_ms = 200;
        o->tag = swm_credit_tag(res.credited, (uint32_t)rj.n);
        v = SW_KEEP;
    }
    goto out;
db_fail:
    kks_error("credit failed; batch rolled back", "error", sqlite3_errmsg(s->db));
    sw_out_error(o, KKS_EDB, "database error; nothing of this batch credited");
out:
    free(rows);
    ahead_free(&aw);
    rejects_free(&rj);
    return v;
}

enum sw_verdict accounts_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o)
{
    const Kks__AccountsOpen *a = req->accounts_open;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__AccountsOpenResult res = KKS__ACCOUNTS_OPEN_RESULT__INIT;
    struct rejects rj = {0};
    enum sw_verdict v = SW_UNDO;
    char at[21], why[120];
    kks_utc_now(at);
    for (size_t i = 0; i < a->n_rows; i++) {
        const Kks__AccountRow *r = a->rows[i];
        int rc;
        if (rj.bytes > REJECT_BUDGET) { /* the reply must fit: the rest another time */
            res.next_kk = r->kk;
            break;
        }
        why[0] = '\0';
        if (r->kk < KK_MIN || r->kk > KK_MAX)
            snprintf(why, sizeof why, "KK must be 16 digits");
        else if (r->programs == 0 || r->programs > (LEDGER_PKH | LEDGER_BPNT))
            snprintf(why, sizeof why, "a family is in PKH, BPNT or both");
        else if ((rc = ledger_account_open(s->ledger, r->kk, r->programs, at)) < 0)
            goto db_fail;
        else if (rc == LEDGER_OPENED)
            res.opened++;
        else if (rc == LEDGER_UPDATED)
            res.updated++;
        else
            res.unchanged++;
        if (why[0] && rejects_add(&rj, r->line, KKS_REJECT_OTHER, why) < 0) {
            sw_out_error(o, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
            goto out;
        }
    }
    res.n_rejected = rj.n;
    res.rejected = rj.p;
    rep.body_case = KKS__ENVELOPE__BODY_ACCOUNTS_OPEN_RESULT;
    rep.accounts_open_result = &res;
    if (sw_out_set(o, &rep) == 0) {
        o->rows = (unsigned)a->n_rows;
        o->budget_ms = 200;
        v = SW_KEEP;
    }
    goto out;
db_fail:
    kks_error("account opening failed; batch rolled back", "error", sqlite3_errmsg(s->db));
    sw_out_error(o, KKS_EDB, "database error; no account of this batch opened");
out:
    rejects_free(&rj);
    return v;
}

/* A ledger check reads every wallet, credit and transfer: minutes at national
 * size (29M credits), during which the event loop would answer no terminal.
 * So it runs in libuv's thread pool on a read-only connection of its own, in
 * one read transaction: the ledger as committed when it starts, whatever
 * commits meanwhile. One at a time. A check whose operator has gone, or that
 * the switch is stopping for, is given up.
 * An in-memory database (tests) has no second connection: checked on the
 * loop. */
typedef struct check_job {
    uv_work_t work;
    uv_timer_t watch; /* the operator's connection, looked at every CHECK_WATCH_MS */
    sw *s;
    kks_conn *c;
    uint64_t id;
    sqlite3 *db;
    atomic_int stop; /* set at shutdown or when the operator has gone: the progress
                        handler interrupts */
    int rc;
    char violation[256];
    Kks__LedgerCheckReply lr;
    struct check_job *next; /* sw.checks: the one running */
} check_job;

/* The reply to a check that ended with rc (ledger_check, or KKS_ESHUTDOWN):
 * its figures in lr. */
static void check_reply(int rc, const char *violation, Kks__LedgerCheckReply *lr,
                        Kks__Envelope *rep, Kks__Error *er)
{
    if (rc < 0) {
        er->code = rc == KKS_ESHUTDOWN ? KKS_ESHUTDOWN : KKS_EDB;
        er->message = rc == KKS_ESHUTDOWN ? "the switch is stopping: the check was given up"
                                          : "database error during the check";
        rep->body_case = KKS__ENVELOPE__BODY_ERROR;
        rep->error = er;
        return;
    }
    lr->ok = rc == 0;
    lr->violation = (char *)violation;
    rep->body_case = KKS__ENVELOPE__BODY_LEDGER_CHECK_REPLY;
    rep->ledger_check_reply = lr;
}

#define CHECK_WATCH_MS 250

static void check_watch(uv_timer_t *t)
{
    check_job *j = t->data;
    if (kks_conn_closed(j->c))
        atomic_store(&j->stop, 1); /* nobody to answer: give the snapshot up */
}

static void check_free(uv_handle_t *h)
{
    free(h->data);
}

static int check_stopped(void *ud)
{
    return atomic_load(&((check_job *)ud)->stop);
}

static void check_work(uv_work_t *w)
{
    check_job *j = w->data;
    j->rc = KKS_EDB;
    sqlite3_progress_handler(j->db, 10000, check_stopped, j);
    if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return;
    j->rc = ledger_check_db(j->db, j->violation, sizeof j->violation, &j->lr.accounts,
                            &j->lr.transfers, &j->lr.wallets_total, &j->lr.funding_total);
    sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

/* On the loop: the answer goes out at once (the check read committed data
 * only: nothing to wait for), even while the switch stops. */
static void check_done(uv_work_t *w, int status)
{
    check_job *j = w->data;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Error er = KKS__ERROR__INIT;
    for (check_job **p = &j->s->checks; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    if (status < 0)
        j->rc = KKS_EDB;
    else if (j->rc < 0 && atomic_load(&j->stop)) /* interrupted, not failed */
        j->rc = KKS_ESHUTDOWN;
    check_reply(j->rc, j->violation, &j->lr, &rep, &er);
    kks_conn_reply(j->c, j->id, &rep);
    kks_conn_unref(j->c);
    sqlite3_close(j->db);
    uv_timer_stop(&j->watch);
    uv_close((uv_handle_t *)&j->watch, check_free);
}

void ledger_checks_stop(sw *s)
{
    for (check_job *j = s->checks; j; j = j->next)
        atomic_store(&j->stop, 1);
}

enum sw_verdict ledger_check_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    check_job *j;
    if (!path || !*path) { /* in memory: on this connection, now */
        Kks__Envelope rep = KKS__ENVELOPE__INIT;
        Kks__Error er = KKS__ERROR__INIT;
        Kks__LedgerCheckReply lr = KKS__LEDGER_CHECK_REPLY__INIT;
        char violation[256];
        int rc = ledger_check(s->ledger, violation, sizeof violation, &lr.accounts,
                              &lr.transfers, &lr.wallets_total, &lr.funding_total);
        check_reply(rc, violation, &lr, &rep, &er);
        sw_out_set(o, &rep);
        return SW_READ;
    }
    if (s->checks) { /* one at a time: each holds a snapshot, a thread and temporary files */
        sw_out_error(o, KKS_EEXISTS, "a ledger check is already running: ask again once it ends");
        return SW_READ;
    }
    if (!(j = calloc(1, sizeof *j))) {
        sw_out_error(o, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        return SW_READ;
    }
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(j->db, 5000) != SQLITE_OK) {
        kks_error("ledger check: cannot open the database", "error",
                  j->db ? sqlite3_errmsg(j->db) : "out of memory");
        sqlite3_close(j->db);
        free(j);
        sw_out_error(o, KKS_EDB, "database error during the check");
        return SW_READ;
    }
    kks__ledger_check_reply__init(&j->lr);
    j->s = s;
    j->c = c;
    j->id = req->id;
    j->work.data = j;
    if (uv_queue_work(s->d.loop, &j->work, check_work, check_done) != 0) {
        sqlite3_close(j->db);
        free(j);
        sw_out_error(o, KKS_ENOMEM, "cannot start the check");
        return SW_READ;
    }
    kks_conn_ref(c);
    uv_timer_init(s->d.loop, &j->watch);
    j->watch.data = j;
    uv_timer_start(&j->watch, check_watch, CHECK_WATCH_MS, CHECK_WATCH_MS);
    j->next = s->checks;
    s->checks = j;
    return SW_LATER;
}

void account_movements_pb(const ledger_movement *mv, int n, Kks__Movement *m, Kks__Movement **pm)
{
    for (int i = 0; i < n; i++) {
        kks__movement__init(&m[i]);
        m[i].at = (char *)mv[i].at;
        m[i].wallet = (char *)mv[i].wallet;
        m[i].amount = mv[i].amount;
        m[i].kind = (char *)mv[i].kind;
        m[i].ref = (char *)mv[i].ref;
        pm[i] = &m[i];
    }
}

enum sw_verdict account_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o)
{
    const Kks__AccountRequest *a = req->account_request;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__AccountReply ar = KKS__ACCOUNT_REPLY__INIT;
    ledger_movement mv[50];
    Kks__Movement m[50], *pm[50];
    int limit = a->limit == 0 || a->limit > 50 ? 10 : (int)a->limit, n = 0;

    ar.kk = a->kk;
    if (!kks_digits(a->kk, 16)) {
        ar.rc = KKS_RC_FORMAT;
        ar.reason = "KK must be 16 digits";
    } else {
        uint64_t kk = strtoull(a->kk, NULL, 10);
        int rc = ledger_wallet(s->ledger, kk, &ar.pkh, &ar.bpnt);
        if (rc < 0 || (rc == 0 && (n = ledger_movements(s->ledger, kk, mv, limit)) < 0)) {
            ar.rc = KKS_RC_SYSTEM;
            ar.reason = "database error";
            n = 0;
        } else if (rc == 1) {
            ar.rc = KKS_RC_NO_CARD;
            ar.reason = "no account for this family (not enrolled, or its account not opened)";
        } else {
            ar.rc = KKS_RC_APPROVED;
            ar.reason = "";
        }
    }
    account_movements_pb(mv, n, m, pm);
    ar.n_movements = (size_t)n;
    ar.movements = pm;
    rep.body_case = KKS__ENVELOPE__BODY_ACCOUNT_REPLY;
    rep.account_reply = &ar;
    sw_out_set(o, &rep);
    return SW_READ;
}
