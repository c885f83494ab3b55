#include "kks_group.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kks_db.h"
#include "kks_err.h"
#include "kks_log.h"

struct held {
    kks_conn *c;
    uint64_t id;
    uint8_t *buf; /* packed Envelope */
    size_t len;
};

struct kks_group {
    uv_loop_t *loop;
    sqlite3 *db;
    uv_check_t check;
    uv_idle_t idle; /* keeps the loop from sleeping while a transaction is open */
    unsigned max_rows;
    int open, in_request, work_this_iter, handles, closing;
    unsigned rows;
    uint64_t deadline; /* commit by then: the earliest held reply's budget */
    struct held *held;
    size_t nheld, capheld;
};

static void send_held(kks_group *g, int committed)
{
    for (size_t i = 0; i < g->nheld; i++) {
        struct held *h = &g->held[i];
        if (committed) {
            kks_conn_reply_packed(h->c, h->id, h->buf, h->len);
        } else {
            kks_conn_reply_error(h->c, h->id, KKS_EDB,
                                 "database error at commit; nothing of this request was written");
        }
        kks_conn_unref(h->c);
        free(h->buf);
    }
    g->nheld = 0;
}

static void group_commit(kks_group *g)
{
    int ok;
    if (!g->open)
        return;
    ok = kks_db_exec(g->db, "COMMIT") == 0;
    if (!ok)
        kks_db_exec(g->db, "ROLLBACK");
    g->open = 0;
    g->rows = 0;
    uv_idle_stop(&g->idle);
    send_held(g, ok);
}

static void on_idle(uv_idle_t *h)
{
}

static void on_check(uv_check_t *h)
{
    kks_group *g = h->data;
    if (!g->open)
        return;
    uv_update_time(g->loop);
    if (!g->work_this_iter || g->rows >= g->max_rows || uv_now(g->loop) >= g->deadline)
        group_commit(g);
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
    g->check.data = g;
    g->idle.data = g;
    g->handles = 2;
    uv_check_start(&g->check, on_check);
    uv_unref((uv_handle_t *)&g->check);
    *out = g;
    return 0;
}

int kks_group_begin(kks_group *g)
{
    if (!g->open) {
        if (kks_db_exec(g->db, "BEGIN IMMEDIATE") < 0)
            return KKS_EDB;
        g->open = 1;
        g->deadline = UINT64_MAX;
        uv_idle_start(&g->idle, on_idle);
    }
    if (kks_db_exec(g->db, "SAVEPOINT req") < 0) {
        if (g->nheld == 0) { /* nothing else rides on it */
            kks_db_exec(g->db, "ROLLBACK");
            g->open = 0;
            uv_idle_stop(&g->idle);
        }
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
    kks_db_exec(g->db, "ROLLBACK TO req; RELEASE req");
    g->in_request = 0;
}

/* Appends a packed reply to those held for the COMMIT. 0 or KKS_ENOMEM. */
static int hold_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf, size_t len)
{
    struct held *h;
    if (g->nheld == g->capheld) {
        size_t nc = g->capheld ? g->capheld * 2 : 64;
        struct held *nh = realloc(g->held, nc * sizeof *nh);
        if (!nh)
            return KKS_ENOMEM;
        g->held = nh;
        g->capheld = nc;
    }
    h = &g->held[g->nheld];
    if (!(h->buf = malloc(len ? len : 1)))
        return KKS_ENOMEM;
    memcpy(h->buf, buf, len);
    h->len = len;
    h->c = c;
    h->id = id;
    kks_conn_ref(c);
    g->nheld++;
    return 0;
}

/* Appends rep (its id set) to the replies held for the COMMIT. 0 or KKS_ENOMEM. */
static int hold(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep)
{
    struct held *h;
    size_t n;
    if (g->nheld == g->capheld) {
        size_t nc = g->capheld ? g->capheld * 2 : 64;
        struct held *nh = realloc(g->held, nc * sizeof *nh);
        if (!nh)
            return KKS_ENOMEM;
        g->held = nh;
        g->capheld = nc;
    }
    h = &g->held[g->nheld];
    rep->id = id;
    n = kks__envelope__get_packed_size(rep);
    if (!(h->buf = malloc(n ? n : 1)))
        return KKS_ENOMEM;
    kks__envelope__pack(rep, h->buf);
    h->len = n;
    h->c = c;
    h->id = id;
    kks_conn_ref(c);
    g->nheld++;
    return 0;
}

int kks_group_hold(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep)
{
    if (!g->open) { /* everything it reports is committed already */
        kks_conn_reply(c, id, rep);
        return 0;
    }
    if (hold(g, c, id, rep) < 0) {
        kks_conn_reply_error(c, id, KKS_ENOMEM, "out of memory; send the request again");
        return KKS_ENOMEM;
    }
    return 0;
}

int kks_group_defer(kks_group *g, kks_conn *c, uint64_t id, Kks__Envelope *rep, unsigned rows,
                    unsigned budget_ms)
{
    if (kks_db_exec(g->db, "RELEASE req") < 0) {
        kks_group_abort(g);
        goto fail_db;
    }
    g->in_request = 0;
    if (hold(g, c, id, rep) < 0)
        goto fail_mem;
    g->rows += rows;
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
    return KKS_ENOMEM;
fail_db:
    kks_conn_reply_error(c, id, KKS_EDB, "database error; nothing of this request was written");
    return KKS_EDB;
}

int kks_group_hold_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                          size_t len)
{
    if (!g->open) {
        kks_conn_reply_packed(c, id, buf, len);
        return 0;
    }
    if (hold_packed(g, c, id, buf, len) < 0) {
        kks_conn_reply_error(c, id, KKS_ENOMEM, "out of memory; send the request again");
        return KKS_ENOMEM;
    }
    return 0;
}

int kks_group_defer_packed(kks_group *g, kks_conn *c, uint64_t id, const uint8_t *buf,
                           size_t len, unsigned rows, unsigned budget_ms)
{
    if (kks_db_exec(g->db, "RELEASE req") < 0) {
        kks_group_abort(g);
        kks_conn_reply_error(c, id, KKS_EDB, "database error; nothing of this request was written");
        return KKS_EDB;
    }
    g->in_request = 0;
    if (hold_packed(g, c, id, buf, len) < 0) {
        kks_error("out of memory holding a reply; committing early");
        group_commit(g);
        kks_conn_reply_error(c, id, KKS_ENOMEM,
                             "out of memory after the write; check the result before retrying");
        return KKS_ENOMEM;
    }
    g->rows += rows;
    uv_update_time(g->loop);
    if (uv_now(g->loop) + budget_ms < g->deadline)
        g->deadline = uv_now(g->loop) + budget_ms;
    return 0;
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
    uv_close((uv_handle_t *)&g->check, group_closed);
    uv_close((uv_handle_t *)&g->idle, group_closed);
}
