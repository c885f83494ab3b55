#include "kks_group.h"

#include <assert.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_db.h"
#include "kks_err.h"
#include "kks_log.h"

#ifdef KKS_TEST_HOOKS
#include <unistd.h>
#endif

struct held {
    kks_conn *c;
    uint64_t id;
    uint8_t *buf; /* packed Envelope */
    size_t len;
    int own;      /* held by kks_group_defer: its request wrote in this transaction */
    kks_group_tag tag;
};

enum { G_BEGIN, G_COMMIT, G_SAVEPOINT, G_RELEASE, G_ST__COUNT };
static const char *const g_sql[G_ST__COUNT] = {"BEGIN IMMEDIATE", "COMMIT", "SAVEPOINT req",
                                               "RELEASE req"};

struct kks_group {
    uv_loop_t *loop;
    sqlite3 *db;
    uv_check_t check;
    uv_idle_t idle;   /* keeps the loop from sleeping while a transaction is open */
    uv_timer_t fill;  /* a bulk transaction waiting to fill: commits at the deadline */
    unsigned max_rows, fill_rows;
    int urgent;       /* a reply that is not bulk work waits: a quiet iteration commits */
    int open, in_request, work_this_iter, handles, closing;
    int committing; /* our own COMMIT is running: the commit hook lets it through */
    int bare;       /* the current request began the transaction: it has no savepoint */
    unsigned rows;
    uint64_t deadline; /* commit by then: the earliest held reply's budget */
    struct held *held;
    size_t nheld, capheld;
    kks_group_failure_fn on_failure;
    kks_group_answered_fn on_answered;
    void *answered_ud;
    sqlite3_stmt *st[G_ST__COUNT]; /* prepared once: sqlite3_exec compiled them each time */
    kks_group_stats stats;
};

/* 50 µs .. 1 s: a COMMIT of a few pages takes tens of microseconds, one that
 * waits on a busy disk or a checkpoint many milliseconds */
const uint64_t kks_group_bounds_ns[KKS_GROUP_BUCKETS] = {
    50000,   100000,   250000,   500000,    1000000,   2500000,
    5000000, 10000000, 25000000, 100000000, 250000000, 1000000000,
};

/* Runs one of the group's own statements; 0 or KKS_EDB (logged). */
static int gexec(kks_group *g, int which)
{
    sqlite3_stmt *st = g->st[which];
    if (!st && sqlite3_prepare_v3(g->db, g_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                  &g->st[which], NULL) != SQLITE_OK)
        return kks_db_exec(g->db, g_sql[which]); /* says why, or works after all */
    st = g->st[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        kks_error("database error", "sql", g_sql[which], "error", sqlite3_errmsg(g->db));
        return KKS_EDB;
    }
    return 0;
}

static const char not_written[] = "database error at commit; nothing of this request was written";

/* A commit that the group did not ask for while a request or the group
 * transaction is open can only be a write that escaped the transaction (SQLite
 * rolled it back by itself and the next statement, SAVEPOINT or RELEASE began
 * and ended one of its own). Turning it into a rollback keeps it unwritten. */
static int on_commit(void *ud)
{
    kks_group *g = ud;
    if (g->committing || (!g->open && !g->in_request))
        return 0;
    kks_error("a commit outside the group transaction was refused (rolled back)");
    return 1;
}

/* SQLite rolled the group transaction back by itself. */
static int lost(const kks_group *g)
{
    return g->open && sqlite3_get_autocommit(g->db);
}

static size_t body_offset(const uint8_t *b, size_t n)
{
    size_t off = 0;
    kks_envelope_peek(b, n, &off);
    return off;
}

/* A duplicate held with kks_group_hold whose reply is, body for body, one
 * deferred in this transaction reports that request's writes. */
static int same_as_own(const kks_group *g, const struct held *h)
{
    size_t ho = body_offset(h->buf, h->len);
    for (size_t i = 0; i < g->nheld; i++) {
        const struct held *o = &g->held[i];
        size_t oo = body_offset(o->buf, o->len);
        if (o->own && o->len - oo == h->len - ho &&
            memcmp(o->buf + oo, h->buf + ho, h->len - ho) == 0)
            return 1;
    }
    return 0;
}

/* Tells the owner that a tagged reply has been answered. */
static void answered(const kks_group *g, const kks_group_tag *tag, int sent)
{
    if (tag && tag->kind && g->on_answered)
        g->on_answered(g->answered_ud, tag, sent);
}

/* Answers a request whose reply rep reported writes that were not committed. */
static void answer_failed(kks_group *g, kks_conn *c, uint64_t id, const Kks__Envelope *rep)
{
    if (g->on_failure && rep)
        g->on_failure(c, id, rep);
    else
        kks_conn_reply_error(c, id, KKS_EDB, not_written);
}

static void answer_failed_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                                 size_t len)
{
    Kks__Envelope *rep = kks__envelope__unpack(NULL, len, buf);
    answer_failed(g, c, id, rep);
    if (rep)
        kks__envelope__free_unpacked(rep, NULL);
}

static void close_transaction(kks_group *g)
{
    g->open = 0;
    g->in_request = 0;
    g->bare = 0;
    g->rows = 0;
    g->urgent = 0;
    uv_idle_stop(&g->idle);
    uv_timer_stop(&g->fill);
}

/* The group transaction ends without being committed: rolled back if SQLite
 * has not done so already, and every held reply answered as failed. */
static void group_fail(kks_group *g, const char *why)
{
    char n[24];
    size_t own = 0;
    if (!sqlite3_get_autocommit(g->db))
        kks_db_exec(g->db, "ROLLBACK");
    close_transaction(g);
    snprintf(n, sizeof n, "%zu", g->nheld);
    kks_error("group transaction not committed; the requests it held are answered as failed",
              "error", why, "replies", n);
    for (size_t i = 0; i < g->nheld; i++)
        own += g->held[i].own != 0;
    for (size_t i = 0; i < g->nheld; i++) {
        struct held *h = &g->held[i];
        if (h->own || (own && same_as_own(g, h)))
            answer_failed_packed(g, h->c, h->id, h->buf, h->len);
        else
            kks_conn_reply_error(h->c, h->id, KKS_EDB,
                                 "database error at commit; send the same request again: its "
                                 "first reply comes back if that was committed");
        answered(g, &h->tag, 0);
    }
    for (size_t i = 0; i < g->nheld; i++) {
        kks_conn_unref(g->held[i].c);
        free(g->held[i].buf);
    }
    g->nheld = 0;
}

static void send_held(kks_group *g)
{
    for (size_t i = 0; i < g->nheld; i++) {
        struct held *h = &g->held[i];
        kks_conn_reply_packed(h->c, h->id, h->buf, h->len);
        answered(g, &h->tag, 1);
        kks_conn_unref(h->c);
        free(h->buf);
    }
    g->nheld = 0;
}

#ifdef KKS_TEST_HOOKS
/* Test builds only: KKS_FAULT=exit-after-commit kills the process (SIGKILL,
 * as kill -9 would) right after a COMMIT that holds a transaction reply, before
 * any of the replies is sent: the switch "killed between debit and reply"
 * (SPEC §12). */
static void fault_after_commit(const kks_group *g)
{
    const char *f = getenv("KKS_FAULT");
    if (!f || strcmp(f, "exit-after-commit") != 0)
        return;
    for (size_t i = 0; i < g->nheld; i++) {
        Kks__Envelope *rep = kks__envelope__unpack(NULL, g->held[i].len, g->held[i].buf);
        int txn = rep && rep->body_case == KKS__ENVELOPE__BODY_TXN_REPLY;
        if (rep)
            kks__envelope__free_unpacked(rep, NULL);
        if (txn) {
            kks_warn("test hook: killed after COMMIT, before sending its replies",
                     "KKS_FAULT", f);
            kill(getpid(), SIGKILL);
        }
    }
}
#endif

static void group_commit(kks_group *g)
{
    char why[200];
    int rc;
    if (!g->open)
        return;
    if (lost(g)) {
        group_fail(g, "the database rolled the transaction back");
        return;
    }
    uint64_t t0 = uv_hrtime();
    g->committing = 1;
    rc = gexec(g, G_COMMIT);
    g->committing = 0;
    kks_histogram_observe(&g->stats.seconds, kks_group_bounds_ns, KKS_GROUP_BUCKETS,
                          uv_hrtime() - t0);
    if (rc < 0) {
        g->stats.failed++;
        snprintf(why, sizeof why, "%s", sqlite3_errmsg(g->db));
        group_fail(g, why);
        return;
    }
    g->stats.commits++;
    for (size_t i = 0; i < g->nheld; i++)
        g->stats.requests += g->held[i].own != 0;
#ifdef KKS_TEST_HOOKS
    fault_after_commit(g);
#endif
    close_transaction(g);
    send_held(g);
}

static void on_idle(uv_idle_t *h)
{
}

static void on_fill(uv_timer_t *h)
{
    group_commit(h->data);
}

static void on_check(uv_check_t *h)
{
    kks_group *g = h->data;
    if (!g->open)
        return;
    uv_update_time(g->loop);
    if (lost(g) || g->rows >= g->max_rows || uv_now(g->loop) >= g->deadline)
        group_commit(g);
    else if (!g->work_this_iter) {
        if (g->urgent || g->rows >= g->fill_rows || g->in_request || g->nheld == 0)
            group_commit(g);
        else {
            /* bulk work only, under fill_rows: more is on its way (a sender
             * keeps several batches in flight); sleep until it comes or the
             * earliest reply's budget runs out */
            uv_idle_stop(&g->idle);
            if (!uv_is_active((uv_handle_t *)&g->fill))
                uv_timer_start(&g->fill, on_fill, g->deadline - uv_now(g->loop), 0);
        }
    }
    g->work_this_iter = 0;
}

int kks_group_new(uv_loop_t *loop, sqlite3 *db, unsigned max_rows, kks_group **out)
{
    kks_group *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g)
        return KKS_ENOMEM;
    g->loop = loop;
    g->db = db;
    g->max_rows = max_rows;
    uv_check_init(loop, &g->check);
    uv_idle_init(loop, &g->idle);
    uv_timer_init(loop, &g->fill);
    g->check.data = g;
    g->idle.data = g;
    g->fill.data = g;
    g->handles = 3;
    uv_check_start(&g->check, on_check);
    uv_unref((uv_handle_t *)&g->check);
    sqlite3_commit_hook(db, on_commit, g);
    *out = g;
    return 0;
}

const kks_group_stats *kks_group_stats_of(const kks_group *g)
{
    return &g->stats;
}

void kks_group_set_failure(kks_group *g, kks_group_failure_fn fn)
{
    g->on_failure = fn;
}

void kks_group_set_answered(kks_group *g, kks_group_answered_fn fn, void *ud)
{
    g->on_answered = fn;
    g->answered_ud = ud;
}

int kks_group_begin(kks_group *g)
{
    assert(!g->in_request);
    if (lost(g))
        group_fail(g, "the database rolled the transaction back");
    if (g->open && g->rows >= g->max_rows)
        group_commit(g); /* full: the next request begins a transaction of its own */
    if (!g->open) {
        /* The first request of a transaction needs no savepoint: undoing it
         * is rolling the transaction back. A savepoint costs a copy of every
         * page the request changes (SQLite's sub-journal), which for a bulk
         * request was a third of the switch's system time. */
        if (gexec(g, G_BEGIN) < 0)
            return KKS_EDB;
        g->open = 1;
        g->deadline = UINT64_MAX;
        uv_idle_start(&g->idle, on_idle);
        g->in_request = 1;
        g->bare = 1;
        g->work_this_iter = 1;
        return 0;
    }
    uv_idle_start(&g->idle, on_idle); /* a transaction waiting to fill wakes up */
    if (gexec(g, G_SAVEPOINT) < 0) {
        /* With nothing else riding on the transaction, end it; if SQLite
         * ended it, what it held is lost. */
        if (g->nheld == 0 || lost(g))
            group_fail(g, "cannot open a savepoint");
        return KKS_EDB;
    }
    g->in_request = 1;
    g->work_this_iter = 1;
    return 0;
}

void kks_group_abort(kks_group *g)
{
    if (!g->in_request)
        return;
    if (g->bare && g->nheld == 0 && !lost(g)) {
        /* it began the transaction and nothing else rides on it */
        kks_db_exec(g->db, "ROLLBACK");
        close_transaction(g);
        return;
    }
    if (g->bare) {
        group_fail(g, lost(g) ? "the database rolled the transaction back"
                              : "a request failed after replies were held in its transaction");
        return;
    }
    if (!lost(g) && kks_db_exec(g->db, "ROLLBACK TO req; RELEASE req") == 0) {
        g->in_request = 0;
        return;
    }
    /* The savepoint went with the whole transaction (or cannot be undone,
     * and then nothing of the transaction may be committed either). */
    group_fail(g, "a request failed and its savepoint could not be rolled back alone");
}

/* Appends buf, a packed reply (its id set) of len bytes, to the replies held
 * for the COMMIT: copied, or taken when take (freed on failure too). 0 or
 * KKS_ENOMEM. */
static int hold_buf(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf, size_t len,
                    int take, int own, const kks_group_tag *tag)
{
    struct held *h;
    uint8_t *copy = (uint8_t *)buf;
    if (g->nheld == g->capheld) {
        size_t nc = g->capheld ? g->capheld * 2 : 64;
        struct held *nh = realloc(g->held, nc * sizeof *nh);
        if (!nh) {
            if (take)
                free(copy);
            return KKS_ENOMEM;
        }
        g->held = nh;
        g->capheld = nc;
    }
    if (!take) {
        if (!(copy = malloc(len ? len : 1)))
            return KKS_ENOMEM;
        memcpy(copy, buf, len);
    }
    h = &g->held[g->nheld];
    h->buf = copy;
    h->len = len;
    h->c = c;
    h->id = id;
    h->own = own;
    h->tag = tag ? *tag : (kks_group_tag){0};
    kks_conn_ref(c);
    g->nheld++;
    return 0;
}

/* Appends rep (its id set) to the replies held for the COMMIT. 0 or KKS_ENOMEM. */
static int hold(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep, int own,
                const kks_group_tag *tag)
{
    uint8_t *buf;
    size_t n;
    rep->id = id;
    n = kks__envelope__get_packed_size(rep);
    if (!(buf = malloc(n ? n : 1)))
        return KKS_ENOMEM;
    kks__envelope__pack(rep, buf);
    return hold_buf(g, c, id, buf, n, 1, own, tag);
}

static int hold_tagged(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep,
                       const kks_group_tag *tag)
{
    if (lost(g))
        group_fail(g, "the database rolled the transaction back");
    if (!g->open) { /* everything it reports is committed already */
        kks_conn_reply(c, id, rep);
        answered(g, tag, 1);
        return 0;
    }
    g->urgent = 1;
    if (hold(g, c, id, rep, 0, tag) < 0) {
        kks_conn_reply_error(c, id, KKS_ENOMEM, "out of memory; send the request again");
        answered(g, tag, 0);
        return KKS_ENOMEM;
    }
    return 0;
}

int kks_group_hold(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep)
{
    return hold_tagged(g, c, id, rep, NULL);
}

/* The request's reply held for the COMMIT: rep, or else buf (packed, len
 * bytes, its id set), which is decoded only to answer a failure. */
static int defer_tagged(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep,
                        const uint8_t *buf, size_t len, unsigned rows, unsigned budget_ms,
                        const kks_group_tag *tag)
{
    assert(g->in_request);
    if (lost(g) || (!g->bare && gexec(g, G_RELEASE) < 0)) {
        /* Its writes are not in the transaction any more, nor anyone's. */
        group_fail(g, "cannot release a request's savepoint");
        if (rep)
            answer_failed(g, c, id, rep);
        else
            answer_failed_packed(g, c, id, buf, len);
        answered(g, tag, 0);
        return KKS_EDB;
    }
    g->in_request = 0;
    g->bare = 0;
    if ((rep ? hold(g, c, id, rep, 1, tag) : hold_buf(g, c, id, buf, len, 0, 1, tag)) < 0)
        goto fail_mem;
    g->rows += rows;
    if (rows <= 1)
        g->urgent = 1;
    uv_update_time(g->loop);
    if (uv_now(g->loop) + budget_ms < g->deadline)
        g->deadline = uv_now(g->loop) + budget_ms;
    return 0;
fail_mem:
    /* The request's writes are already part of the transaction; without a
     * way to hold its reply, commit what is there and answer with an error. */
    kks_error("out of memory holding a reply; committing early");
    group_commit(g);
    kks_conn_reply_error(c, id, KKS_ENOMEM,
                         "out of memory after the write; check the result before retrying");
    answered(g, tag, 0);
    return KKS_ENOMEM;
}

int kks_group_defer(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep, unsigned rows,
                    unsigned budget_ms)
{
    return defer_tagged(g, c, id, rep, NULL, 0, rows, budget_ms, NULL);
}

/* A held duplicate is decoded once and takes the path above (its answer when
 * not open, its failure form); a deferred reply is copied as it is. */
int kks_group_hold_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                          size_t len, const kks_group_tag *tag)
{
    Kks__Envelope *rep = kks__envelope__unpack(NULL, len, buf);
    int rc;
    if (!rep) {
        kks_conn_reply_error(c, id, KKS_ENOMEM, "out of memory; send the request again");
        answered(g, tag, 0);
        return KKS_ENOMEM;
    }
    rc = hold_tagged(g, c, id, rep, tag);
    kks__envelope__free_unpacked(rep, NULL);
    return rc;
}

int kks_group_defer_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                           size_t len, unsigned rows, unsigned budget_ms,
                           const kks_group_tag *tag)
{
    return defer_tagged(g, c, id, NULL, buf, len, rows, budget_ms, tag);
}

void kks_group_flush(kks_group *g)
{
    group_commit(g);
}

static void group_closed(uv_handle_t *h)
{
    kks_group *g = h->data;
    if (--g->handles == 0) {
        free(g->held);
        free(g);
    }
}

void kks_group_free(kks_group *g)
{
    if (!g || g->closing)
        return;
    g->closing = 1;
    group_commit(g);
    for (int i = 0; i < G_ST__COUNT; i++) { /* before the owner closes the database */
        sqlite3_finalize(g->st[i]);
        g->st[i] = NULL;
    }
    uv_close((uv_handle_t *)&g->check, group_closed);
    uv_close((uv_handle_t *)&g->idle, group_closed);
    uv_close((uv_handle_t *)&g->fill, group_closed);
}

void kks_group_set_fill(kks_group *g, unsigned rows)
{
    g->fill_rows = rows;
}
