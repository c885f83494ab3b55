/* core/group.c: group commit when the disk fills up. A server in this process
 * answers CardRequests with real SQLite work in the group transaction; a
 * client sends several requests at once so that they share one transaction.
 *   op "small"    writes a small row and defers its reply (rc 00, reason op)
 *   op "big"      writes a row too large for a database that may not grow;
 *                 on failure aborts and answers 96 "statement failed" itself
 *   op "careless" ignores the failure of "big", writes again, and defers
 *   op "wait"     is answered by the next "twice" (a duplicate in flight)
 *   op "twice"    as small, and answers the waiting request with its reply
 *   op "replay"   holds a reply that reports an earlier commit
 * The failure callback answers a CardReply as rc 96 "not committed: REASON". */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kks_db.h"
#include "kks_err.h"
#include "kks_group.h"
#include "kks_log.h"
#include "kks_net.h"
#include "kks_pki.h"
#include "rmtree.h"

static char dir[64], dbpath[128];
static uv_loop_t loop;
static SSL_CTX *server_ctx, *op_ctx;
static kks_server *srv;
static kks_client *cl;
static sqlite3 *db;
static kks_group *grp;
static kks_conn *waiting_c;
static uint64_t waiting_id;

static const char *const schema[] = {"CREATE TABLE t(x BLOB NOT NULL);"};

static void failed_reply(kks_conn *c, uint64_t id, const Kks__Envelope *rep)
{
    Kks__Envelope out = KKS__ENVELOPE__INIT;
    Kks__CardReply cr = KKS__CARD_REPLY__INIT;
    char why[160];
    if (rep->body_case != KKS__ENVELOPE__BODY_CARD_REPLY) {
        kks_conn_reply_error(c, id, KKS_EDB, "not a card reply");
        return;
    }
    snprintf(why, sizeof why, "not committed: %s", rep->card_reply->reason);
    cr.rc = "96";
    cr.reason = why;
    out.body_case = KKS__ENVELOPE__BODY_CARD_REPLY;
    out.card_reply = &cr;
    kks_conn_reply(c, id, &out);
}

static void on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__CardReply cr = KKS__CARD_REPLY__INIT;
    const char *op = req->body_case == KKS__ENVELOPE__BODY_CARD_REQUEST ? req->card_request->op
                                                                        : "small";
    char reason[64];
    snprintf(reason, sizeof reason, "%s", op);
    rep.body_case = KKS__ENVELOPE__BODY_CARD_REPLY;
    rep.card_reply = &cr;
    cr.rc = "00";
    cr.reason = reason;
    if (strcmp(op, "wait") == 0) {
        kks_conn_ref(c);
        waiting_c = c;
        waiting_id = req->id;
        return;
    }
    if (strcmp(op, "replay") == 0) {
        kks_group_hold(grp, c, req->id, &rep);
        return;
    }
    if (kks_group_begin(grp) < 0) {
        cr.rc = "96";
        cr.reason = "begin failed";
        kks_conn_reply(c, req->id, &rep);
        return;
    }
    if (strcmp(op, "big") == 0 || strcmp(op, "careless") == 0) {
        if (sqlite3_exec(db, "INSERT INTO t VALUES (randomblob(20000))", 0, 0, 0) != SQLITE_OK &&
            strcmp(op, "big") == 0) {
            kks_group_abort(grp);
            cr.rc = "96";
            cr.reason = "statement failed";
            kks_conn_reply(c, req->id, &rep);
            return;
        }
        if (strcmp(op, "careless") == 0) /* and carries on as if nothing happened */
            sqlite3_exec(db, "INSERT INTO t VALUES (randomblob(16))", 0, 0, 0);
    } else if (sqlite3_exec(db, "INSERT INTO t VALUES (randomblob(16))", 0, 0, 0) != SQLITE_OK) {
        kks_group_abort(grp);
        cr.rc = "96";
        cr.reason = "statement failed";
        kks_conn_reply(c, req->id, &rep);
        return;
    }
    if (strncmp(op, "bulk", 4) == 0) /* 100 rows of bulk work: 5 s budget, or 400 ms */
        kks_group_defer(grp, c, req->id, &rep, 100, strcmp(op, "bulk") == 0 ? 5000 : 400);
    else
        kks_group_defer(grp, c, req->id, &rep, 1, 50);
    if (strcmp(op, "twice") == 0 && waiting_c) {
        kks_group_hold(grp, waiting_c, waiting_id, &rep);
        kks_conn_unref(waiting_c);
        waiting_c = NULL;
    }
}

#ifdef KKS_TEST_HOOKS
/* Sets the free space of the test disk that every connection of this process
 * lives on (the hook reads the variable when a database is opened). */
static void disk_free(const char *bytes)
{
    sqlite3 *tmp;
    setenv("KKS_TEST_DISK_FREE", bytes, 1);
    cr_assert_eq(kks_db_open(dbpath, schema, 1, &tmp), 0);
    kks_db_close(tmp);
}
#endif

static void setup(void)
{
    char pki[128];
    snprintf(dir, sizeof dir, "/tmp/kks-group-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(pki, sizeof pki, "%s/pki", dir);
    snprintf(dbpath, sizeof dbpath, "%s/g.db", dir);
    kks_log_set_level(KKS_LOG_ERROR);
    cr_assert_eq(kks_pki_init(pki), 0);
    cr_assert_eq(kks_tls_ctx_from_pki(&server_ctx, 1, pki, "issuer"), 0);
    cr_assert_eq(kks_tls_ctx_from_pki(&op_ctx, 0, pki, "operator"), 0);
    uv_loop_init(&loop);
#ifdef KKS_TEST_HOOKS
    setenv("KKS_TEST_DISK_FREE", "1000000000", 1); /* every connection on the test disk */
#endif
    cr_assert_eq(kks_db_open(dbpath, schema, 1, &db), 0);
    cr_assert_eq(kks_group_new(&loop, db, 1000, &grp), 0);
    kks_group_set_failure(grp, failed_reply);
    kks_server_opts o = {.accept_roles = KKS_ROLE_OPERATOR, .on_request = on_request};
    cr_assert_eq(kks_server_new(&loop, server_ctx, "127.0.0.1:0", &o, &srv), 0);
    kks_client_opts co = {.expect_role = KKS_ROLE_ISSUER};
    cr_assert_eq(kks_client_new(&loop, op_ctx, kks_server_address(srv), &co, &cl), 0);
}

static void drained(void *ud)
{
    *(int *)ud = 1;
}

static void teardown(void)
{
    int done = 0;
    kks_client_free(cl);
    kks_server_drain(srv, 1000, drained, &done);
    kks_group_free(grp);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(done);
    kks_server_free(srv);
    kks_db_close(db);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open");
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(op_ctx);
    cr_assert_eq(rmtree(dir), 0);
}

TestSuite(group, .init = setup, .fini = teardown, .timeout = 60);

typedef struct got {
    int done, status, is_error, code;
    char rc[4], reason[160];
} got;

static void on_reply(int status, const Kks__Envelope *rep, void *ud)
{
    got *g = ud;
    g->done = 1;
    g->status = status;
    if (status < 0)
        return;
    if (rep->body_case == KKS__ENVELOPE__BODY_ERROR) {
        g->is_error = 1;
        g->code = rep->error->code;
        snprintf(g->reason, sizeof g->reason, "%s", rep->error->message);
    } else if (rep->body_case == KKS__ENVELOPE__BODY_CARD_REPLY) {
        snprintf(g->rc, sizeof g->rc, "%s", rep->card_reply->rc);
        snprintf(g->reason, sizeof g->reason, "%s", rep->card_reply->reason);
    }
}

/* Sends the requests named in ops at once (one TLS record: one loop
 * iteration of the server, one group transaction) and waits for every reply. */
static void send_all(const char *const *ops, got *out, int n)
{
    Kks__CardRequest req[8];
    memset(out, 0, sizeof *out * (size_t)n);
    for (int i = 0; i < n; i++) {
        Kks__Envelope env = KKS__ENVELOPE__INIT;
        kks__card_request__init(&req[i]);
        req[i].op = (char *)ops[i];
        env.body_case = KKS__ENVELOPE__BODY_CARD_REQUEST;
        env.card_request = &req[i];
        cr_assert_eq(kks_client_call(cl, &env, 10000, on_reply, &out[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        while (!out[i].done)
            uv_run(&loop, UV_RUN_ONCE);
        cr_assert_eq(out[i].status, 0, "%s: %s", ops[i], kks_strerror(out[i].status));
    }
}

static void expect_reply(const got *g, const char *rc, const char *reason)
{
    cr_assert_not(g->is_error, "an Error instead of rc %s: %s", rc, g->reason);
    cr_assert_str_eq(g->rc, rc, "%s", g->reason);
    cr_assert_str_eq(g->reason, reason);
}

static int rows(void)
{
    sqlite3_stmt *st;
    int n = -1;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void one(const char *op, const char *rc, const char *reason)
{
    got g;
    send_all(&op, &g, 1);
    expect_reply(&g, rc, reason);
}

/* SQLite answers SQLITE_FULL to a statement and rolls the whole group
 * transaction back: the other request's savepoint is gone too, so its held
 * reply must say failed, never committed; then the group works again. */
Test(group, a_full_database_mid_transaction_fails_every_request_of_the_group)
{
    got g[2];
    one("small", "00", "small");
    cr_assert_eq(rows(), 1);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA max_page_count=1", 0, 0, 0), SQLITE_OK);
    send_all((const char *[]){"small", "big"}, g, 2);
    expect_reply(&g[0], "96", "not committed: small");
    expect_reply(&g[1], "96", "statement failed");
    cr_assert_eq(rows(), 1, "nothing of the failed group was written");
    one("small", "00", "small"); /* a fresh transaction, committed and answered */
    cr_assert_eq(rows(), 2);
}

/* A handler that ignores the failure and writes again would, after SQLite's
 * own rollback, write outside any transaction: the commit hook refuses it. */
Test(group, a_write_after_the_rollback_is_not_committed_behind_the_groups_back)
{
    got g[2];
    one("small", "00", "small");
    cr_assert_eq(sqlite3_exec(db, "PRAGMA max_page_count=1", 0, 0, 0), SQLITE_OK);
    send_all((const char *[]){"small", "careless"}, g, 2);
    expect_reply(&g[0], "96", "not committed: small");
    expect_reply(&g[1], "96", "not committed: careless");
    cr_assert_eq(rows(), 1, "the careless request's second row escaped the rollback");
    one("small", "00", "small");
    cr_assert_eq(rows(), 2);
}

/* The disk fills up: COMMIT cannot grow the WAL. Every request of the group
 * is answered in its failure form (the duplicate in flight too); a reply that
 * reports an earlier commit asks for the request again instead of claiming
 * failure; once space returns, the same process commits again. */
Test(group, commit_on_a_full_disk_fails_the_group_and_space_returning_heals_it)
{
#ifndef KKS_TEST_HOOKS
    cr_skip_test("needs a build with KKS_TEST_HOOKS");
#else
    got g[4];
    one("small", "00", "small");
    disk_free("0");
    send_all((const char *[]){"wait", "small", "twice", "replay"}, g, 4);
    expect_reply(&g[0], "96", "not committed: twice");
    expect_reply(&g[1], "96", "not committed: small");
    expect_reply(&g[2], "96", "not committed: twice");
    cr_assert(g[3].is_error, "a replay of an earlier commit must not be reported as failed");
    cr_assert_eq(g[3].code, KKS_EDB);
    cr_assert(strstr(g[3].reason, "send the same request again"), "%s", g[3].reason);
    cr_assert_eq(rows(), 1);
    disk_free("1000000000");
    one("small", "00", "small");
    cr_assert_eq(rows(), 2);
#endif
}

static double ms_since(uint64_t t0)
{
    return (double)(uv_hrtime() - t0) / 1e6;
}

/* Bulk work fills a transaction (kks_group_set_fill): a lone batch under
 * fill_rows waits for its budget; batches arriving one by one share one
 * commit once they reach fill_rows; an interactive request commits at once,
 * taking the bulk work with it. Waiting is never shorter than the budget; the
 * other bounds are far from any budget, so a loaded machine cannot fail them. */
Test(group, bulk_work_fills_a_commit_and_interactive_work_does_not_wait)
{
    got g[3];
    kks_group_set_fill(grp, 250);
    uint64_t t0 = uv_hrtime();
    one("bulk-short", "00", "bulk-short");
    cr_assert_geq(ms_since(t0), 390.0, "a lone batch under the fill waits for its budget");
    cr_assert_eq(rows(), 1);

    /* three batches sent in turn: the third reaches the fill */
    t0 = uv_hrtime();
    Kks__CardRequest req = KKS__CARD_REQUEST__INIT;
    Kks__Envelope env = KKS__ENVELOPE__INIT;
    req.op = "bulk";
    env.body_case = KKS__ENVELOPE__BODY_CARD_REQUEST;
    env.card_request = &req;
    memset(g, 0, sizeof g);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(kks_client_call(cl, &env, 10000, on_reply, &g[i]), 0);
        for (int k = 0; k < 20; k++) /* let the server take it on its own */
            uv_run(&loop, UV_RUN_NOWAIT);
        if (i < 2)
            cr_assert_not(g[i].done, "batch %d answered before the transaction filled", i);
    }
    for (int i = 0; i < 3; i++) {
        while (!g[i].done)
            uv_run(&loop, UV_RUN_ONCE);
        expect_reply(&g[i], "00", "bulk");
    }
    cr_assert_lt(ms_since(t0), 4000.0, "committed when filled, not at the 5 s budget");
    cr_assert_eq(rows(), 4);

    /* a bulk batch waits; an interactive request commits both */
    t0 = uv_hrtime();
    const char *ops[] = {"bulk", "small"};
    send_all(ops, g, 2);
    expect_reply(&g[0], "00", "bulk");
    expect_reply(&g[1], "00", "small");
    cr_assert_lt(ms_since(t0), 4000.0, "the interactive request did not wait for the bulk budget");
    cr_assert_eq(rows(), 6);
}

/* The commit statistics the switch serves as metrics: commits, the requests
 * they carried, failed commits, and a time for every COMMIT tried. */
Test(group, stats_count_commits_the_requests_they_carried_and_failures)
{
    got g[2];
    const kks_group_stats *st = kks_group_stats_of(grp);
    one("small", "00", "small");
    cr_assert_eq(st->commits, 1);
    cr_assert_eq(st->requests, 1);
    send_all((const char *[]){"small", "small"}, g, 2);
    cr_assert(st->commits == 2 || st->commits == 3, "%" PRIu64 " commits", st->commits);
    cr_assert_eq(st->requests, 3);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA max_page_count=1", 0, 0, 0), SQLITE_OK);
    send_all((const char *[]){"small", "big"}, g, 2);
    expect_reply(&g[0], "96", "not committed: small");
    cr_assert_eq(st->requests, 3, "requests of a failed group are not counted as carried");
    uint64_t timed = 0;
    for (int i = 0; i <= KKS_GROUP_BUCKETS; i++)
        timed += st->seconds.in[i];
    cr_assert_eq(timed, st->commits + st->failed);
}
