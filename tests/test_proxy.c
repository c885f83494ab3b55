/* The fault proxy (core/proxy.c): in one loop, a kks_server behind the proxy
 * and kks_clients in front of it, over mutual TLS with the project's own PKI;
 * raw libuv sockets for what a TLS peer cannot do (flood a delay queue, never
 * read). Timing is asserted as lower bounds only. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>
#include <arpa/inet.h>

#include "kks_err.h"
#include "kks_net.h"
#include "kks_pki.h"
#include "kks_proxy.h"
#include "rmtree.h"

/* LeakSanitizer reports at the exit of Criterion's worker, after the result is
 * in, and does not fail the test: check explicitly at the end of each one. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define NO_LEAKS() __lsan_do_recoverable_leak_check() == 0
#else
#define NO_LEAKS() 1
#endif

#define HELD_BOUND ((1u << 20) + 65536u) /* high-water mark plus one read */

static char dir[64];
static uv_loop_t loop;
static SSL_CTX *server_ctx, *op_ctx;
static kks_server *srv;
static kks_proxy *px;
static int served; /* requests the server has seen */

static void on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Pong pong = KKS__PONG__INIT;
    served++;
    pong.role = "issuer";
    pong.identity = (char *)kks_conn_identity(c); /* who the server says called */
    pong.version = "test";
    rep.body_case = KKS__ENVELOPE__BODY_PONG;
    rep.pong = &pong;
    kks_conn_reply(c, req->id, &rep);
}

static void setup(void)
{
    char pki[128];
    snprintf(dir, sizeof dir, "/tmp/kks-proxy-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(pki, sizeof pki, "%s/pki", dir);
    cr_assert_eq(kks_pki_init(pki), 0);
    cr_assert_eq(kks_tls_ctx_from_pki(&server_ctx, 1, pki, "issuer"), 0);
    cr_assert_eq(kks_tls_ctx_from_pki(&op_ctx, 0, pki, "operator"), 0);
    uv_loop_init(&loop);
    kks_server_opts o = {.accept_roles = KKS_ROLE_OPERATOR, .on_request = on_request};
    cr_assert_eq(kks_server_new(&loop, server_ctx, "127.0.0.1:0", &o, &srv), 0);
    cr_assert_eq(kks_proxy_new(&loop, "127.0.0.1:0", kks_server_address(srv), NULL, &px), 0);
}

static void drained(void *ud)
{
    *(int *)ud = 1;
}

/* Ends every test, in its body (Criterion does not fail a test for an
 * assertion in .fini): frees the proxy and the server, runs the loop until
 * every handle has closed, and checks that nothing is left. */
static void finish(void)
{
    int done = 0;
    kks_proxy_free(px);
    px = NULL;
    kks_server_drain(srv, 1000, drained, &done);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert(done);
    kks_server_free(srv);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open");
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(op_ctx);
    cr_assert(NO_LEAKS(), "memory leaked (LeakSanitizer's report is above)");
}

static void teardown(void)
{
    if (rmtree(dir) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(proxy, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers ---- */

static Kks__Envelope ping_env(void)
{
    static Kks__Ping ping = KKS__PING__INIT;
    Kks__Envelope e = KKS__ENVELOPE__INIT;
    e.body_case = KKS__ENVELOPE__BODY_PING;
    e.ping = &ping;
    return e;
}

static void on_tick(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Runs the loop for ms milliseconds. */
static void run_for(unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, on_tick, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* Runs the loop until *flag is set; the limit only keeps a broken build from
 * hanging (it is not a timing assertion). */
static int run_until(const int *flag)
{
    uint64_t t0 = uv_now(&loop);
    while (!*flag && uv_now(&loop) - t0 < 30000)
        run_for(10);
    return *flag;
}

static kks_client *client_via(const char *addr, int reconnect)
{
    kks_client *cl;
    kks_client_opts o = {.expect_role = KKS_ROLE_ISSUER, .reconnect = reconnect};
    cr_assert_eq(kks_client_new(&loop, op_ctx, addr, &o, &cl), 0);
    return cl;
}

static int ping(kks_client *cl, unsigned timeout_ms)
{
    Kks__Envelope req = ping_env(), *rep = NULL;
    int rc = kks_client_call_wait(cl, &req, timeout_ms, &rep);
    if (rep)
        kks__envelope__free_unpacked(rep, NULL);
    return rc;
}

static void wait_up(kks_client *cl)
{
    uint64_t t0 = uv_now(&loop);
    while (!kks_client_is_up(cl) && uv_now(&loop) - t0 < 30000)
        run_for(20);
    cr_assert(kks_client_is_up(cl), "client did not reconnect: %s", kks_client_last_error(cl));
}

/* What a peer sees when the link drops under it. */
static int link_error(int st)
{
    return st == KKS_ECLOSED || st == KKS_EIO || st == KKS_ECONNREFUSED;
}

static kks_proxy_stats stats(kks_proxy *p)
{
    kks_proxy_stats s;
    kks_proxy_stats_get(p, &s);
    return s;
}

struct calls {
    int n, done, ok, timedout, linkerr;
    int order[256]; /* index of each reply, in the order replies came */
};

struct call {
    struct calls *all;
    int index;
};

static void call_cb(int status, const Kks__Envelope *rep, void *ud)
{
    struct call *c = ud;
    struct calls *a = c->all;
    if (status == 0 && rep->body_case == KKS__ENVELOPE__BODY_PONG) {
        if (a->ok < 256)
            a->order[a->ok] = c->index;
        a->ok++;
    } else if (status == KKS_ETIMEDOUT) {
        a->timedout++;
    } else if (link_error(status)) {
        a->linkerr++;
    }
    if (++a->done == a->n)
        a->n = -a->n; /* all in */
}

/* ---- listening ---- */

Test(proxy, listens_only_where_told)
{
    struct sockaddr_storage sa;
    struct sockaddr_in other;
    const char *a = kks_proxy_address(px);
    kks_proxy *p2;

    cr_assert_eq(strncmp(a, "127.0.0.1:", 10), 0, "%s", a);
    cr_assert_neq(atoi(a + 10), 0, "port 0 picks a port: %s", a);
    cr_assert_eq(kks_addr_parse(a, &sa), 0);

    /* Another loopback address on the same port: nobody listens there. */
    other = *(struct sockaddr_in *)&sa;
    inet_pton(AF_INET, "127.0.0.2", &other.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&other, sizeof other), -1);
    cr_assert_eq(errno, ECONNREFUSED);
    close(fd);

    cr_assert_eq(kks_proxy_new(&loop, "host.example:80", "127.0.0.1:1", NULL, &p2), KKS_EADDR);
    cr_assert_null(p2);
    cr_assert_eq(kks_proxy_new(&loop, "127.0.0.1:0", "127.0.0.1", NULL, &p2), KKS_EADDR);
    cr_assert_eq(kks_proxy_new(&loop, a, "127.0.0.1:1", NULL, &p2), KKS_EIO, "port in use");
    cr_assert_null(p2);

    cr_assert_eq(kks_proxy_set(px, (enum kks_proxy_mode)7, 0), KKS_EINVAL);
    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_DELAY, KKS_PROXY_DELAY_MAX_MS + 1), KKS_EINVAL);
    cr_assert_eq(kks_proxy_mode(px), KKS_PROXY_PASS);
    cr_assert_str_eq(kks_proxy_mode_name(KKS_PROXY_DROP), "drop");
    kks_proxy_free(NULL);
    finish();
}

/* ---- PASS ---- */

Test(proxy, pass_relays_and_tls_sees_the_real_ends)
{
    uint64_t t0 = uv_now(&loop);
    kks_client *cl = client_via(kks_proxy_address(px), 0);
    Kks__Envelope req = ping_env(), *rep = NULL;
    cr_assert_eq(kks_client_call_wait(cl, &req, 10000, &rep), 0);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PONG);
    cr_assert_str_eq(rep->pong->identity, "operator", "the server sees the client's certificate");
    kks__envelope__free_unpacked(rep, NULL);
    cr_assert_str_eq(kks_client_peer_identity(cl), "issuer",
                     "the client sees the server's certificate");

    /* Many at once, both ways at once. */
    struct calls all = {.n = 200};
    struct call c[200];
    for (int i = 0; i < 200; i++) {
        Kks__Envelope r = ping_env();
        c[i] = (struct call){&all, i};
        cr_assert_eq(kks_client_call(cl, &r, 20000, call_cb, &c[i]), 0);
    }
    int in = 0;
    while (!in) {
        run_for(10);
        in = all.n < 0;
    }
    cr_assert_eq(all.ok, 200);
    cr_assert_eq(served, 201);

    kks_proxy_stats s = stats(px);
    cr_assert_eq(s.accepted, 1);
    cr_assert_eq(s.open, 1);
    cr_assert_gt(s.bytes_to_target, 0);
    cr_assert_gt(s.bytes_to_client, 0);
    cr_assert_eq(s.bytes_dropped, 0);

    /* The client leaves: its end of stream goes through, the server closes,
     * and the proxy's connection ends by itself. */
    kks_client_free(cl);
    while (stats(px).open > 0 && uv_now(&loop) - t0 < 30000)
        run_for(10);
    cr_assert_eq(stats(px).open, 0);
    cr_assert_eq(stats(px).held, 0);
    finish();
}

/* ---- DELAY ---- */

static void on_send_tick(uv_timer_t *t)
{
    struct {
        kks_client *cl;
        struct calls *all;
        struct call *c;
        int sent;
    } *st = t->data;
    for (int k = 0; k < 5 && st->sent < 200; k++, st->sent++) {
        Kks__Envelope r = ping_env();
        st->c[st->sent] = (struct call){st->all, st->sent};
        cr_assert_eq(kks_client_call(st->cl, &r, 30000, call_cb, &st->c[st->sent]), 0);
    }
    if (st->sent == 200)
        uv_timer_stop(t);
}

Test(proxy, delay_holds_each_way_and_keeps_order)
{
    kks_client *cl = client_via(kks_proxy_address(px), 0);
    cr_assert_eq(ping(cl, 10000), 0);
    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_DELAY, 200), 0);
    cr_assert_eq(kks_proxy_mode(px), KKS_PROXY_DELAY);

    uint64_t t0 = uv_now(&loop);
    cr_assert_eq(ping(cl, 10000), 0);
    /* 200 ms there and 200 ms back */
    cr_assert_geq(uv_now(&loop) - t0, 400, "round trip %llu ms",
                  (unsigned long long)(uv_now(&loop) - t0));

    /* 200 requests sent over 400 ms: many chunks held at once in each way. */
    struct calls all = {.n = 200};
    struct call c[200];
    struct {
        kks_client *cl;
        struct calls *all;
        struct call *c;
        int sent;
    } st = {cl, &all, c, 0};
    uv_timer_t sender;
    uv_timer_init(&loop, &sender);
    sender.data = &st;
    uv_timer_start(&sender, on_send_tick, 0, 10);
    uint64_t max_held = 0;
    while (all.n > 0) {
        run_for(20);
        kks_proxy_stats s = stats(px);
        if (s.held > max_held)
            max_held = s.held;
    }
    uv_close((uv_handle_t *)&sender, NULL);
    cr_assert_eq(all.ok, 200, "ok %d, timed out %d", all.ok, all.timedout);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(all.order[i], i, "reply %d came as %d", i, all.order[i]);
    cr_assert_gt(max_held, 0, "chunks were held");

    /* Back to PASS: flows again. */
    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_PASS, 0), 0);
    cr_assert_eq(ping(cl, 10000), 0);
    kks_client_free(cl);
    finish();
}

/* ---- DROP ---- */

Test(proxy, drop_delivers_the_request_and_swallows_the_reply)
{
    kks_client *cl = client_via(kks_proxy_address(px), 1);
    cr_assert_eq(ping(cl, 10000), 0);
    cr_assert_eq(served, 1);

    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_DROP, 0), 0);
    cr_assert_eq(ping(cl, 500), KKS_ETIMEDOUT);
    cr_assert_eq(served, 2, "the request reached the server");
    kks_proxy_stats s = stats(px);
    cr_assert_gt(s.bytes_dropped, 0);
    cr_assert_eq(s.open, 1, "the connection stays open");
    cr_assert(kks_client_is_up(cl));

    /* The lost reply was a TLS record: the next record cannot be decrypted
     * (TLS 1.3 nonces follow the record count), so the next call on that
     * connection fails, and the client reconnects. */
    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_PASS, 0), 0);
    int rc = ping(cl, 10000);
    cr_assert_eq(rc, KKS_ETLS, "%s", kks_errname(rc));
    wait_up(cl);
    cr_assert_eq(ping(cl, 10000), 0);
    cr_assert_eq(stats(px).accepted, 2);
    kks_client_free(cl);
    finish();
}

/* ---- CUT ---- */

Test(proxy, cut_closes_open_links_and_refuses_new_ones)
{
    kks_client *cl = client_via(kks_proxy_address(px), 1);
    cr_assert_eq(ping(cl, 10000), 0);

    /* A call on its way when the link is cut fails as closed, not by timing out. */
    struct calls all = {.n = 1};
    struct call c = {&all, 0};
    Kks__Envelope r = ping_env();
    cr_assert_eq(kks_client_call(cl, &r, 20000, call_cb, &c), 0);
    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_CUT, 0), 0);
    cr_assert_eq(stats(px).open, 0);
    cr_assert_eq(stats(px).cut, 1);
    while (all.n > 0)
        run_for(10);
    cr_assert_eq(all.linkerr, 1, "ok %d timed out %d", all.ok, all.timedout);

    /* While CUT: the reconnecting client keeps failing; a new one fails too. */
    run_for(400);
    cr_assert_not(kks_client_is_up(cl));
    kks_client *fresh = client_via(kks_proxy_address(px), 0);
    int rc = ping(fresh, 20000);
    cr_assert(link_error(rc), "%s", kks_errname(rc));
    kks_client_free(fresh);
    kks_proxy_stats s = stats(px);
    cr_assert_geq(s.refused, 2, "refused %llu", (unsigned long long)s.refused);
    cr_assert_eq(s.open, 0);

    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_PASS, 0), 0);
    wait_up(cl);
    cr_assert_eq(ping(cl, 10000), 0);
    kks_client_free(cl);
    finish();
}

/* ---- hostile and edge cases ---- */

Test(proxy, target_refusing_closes_the_client_side)
{
    kks_proxy *p2;
    /* nothing listens on port 1 */
    cr_assert_eq(kks_proxy_new(&loop, "127.0.0.1:0", "127.0.0.1:1", NULL, &p2), 0);
    kks_client *cl = client_via(kks_proxy_address(p2), 0);
    int rc = ping(cl, 20000);
    cr_assert(link_error(rc), "%s", kks_errname(rc));
    run_for(20);
    kks_proxy_stats s = stats(p2);
    cr_assert_eq(s.accepted, 1);
    cr_assert_eq(s.connect_failed, 1);
    cr_assert_eq(s.open, 0);
    kks_client_free(cl);
    kks_proxy_free(p2);
    finish();
}

Test(proxy, free_with_links_open_and_chunks_held)
{
    kks_client *cl = client_via(kks_proxy_address(px), 0);
    cr_assert_eq(ping(cl, 10000), 0);
    cr_assert_eq(kks_proxy_set(px, KKS_PROXY_DELAY, 10000), 0);
    struct calls all = {.n = 20};
    struct call c[20];
    for (int i = 0; i < 20; i++) {
        Kks__Envelope r = ping_env();
        c[i] = (struct call){&all, i};
        cr_assert_eq(kks_client_call(cl, &r, 30000, call_cb, &c[i]), 0);
    }
    run_for(100);
    cr_assert_gt(stats(px).held, 0, "requests held in the delay queue");
    /* A second connection still dialling or fresh when the proxy goes. */
    kks_client *late = client_via(kks_proxy_address(px), 0);
    run_for(1);

    kks_proxy_free(px);
    px = NULL;
    while (all.n > 0)
        run_for(10);
    cr_assert_eq(all.linkerr, 20, "ok %d timed out %d", all.ok, all.timedout);
    cr_assert_eq(served, 1, "nothing held was delivered");
    kks_client_free(late);
    kks_client_free(cl);
    finish(); /* no handle left open, nothing left allocated */
}

/* A raw client: writes what it is given and notes when the link drops. */
struct raw {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    char *data;
    size_t len;
    int connected, written, dropped;
    char rbuf[4096];
};

static void raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct raw *r = h->data;
    *b = uv_buf_init(r->rbuf, sizeof r->rbuf);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct raw *r = s->data;
    if (n < 0) {
        r->dropped = 1;
        uv_read_stop(s);
    }
}

static void raw_written(uv_write_t *req, int status)
{
    struct raw *r = req->data;
    r->written = status == 0 ? 1 : -1;
}

static void raw_connected(uv_connect_t *req, int status)
{
    struct raw *r = req->data;
    uv_buf_t b = uv_buf_init(r->data, (unsigned)r->len);
    cr_assert_eq(status, 0);
    r->connected = 1;
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
    r->wr.data = r;
    cr_assert_eq(uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, raw_written), 0);
}

static void raw_start(struct raw *r, const char *addr, size_t len)
{
    struct sockaddr_storage sa;
    cr_assert_eq(kks_addr_parse(addr, &sa), 0);
    r->len = len;
    r->data = calloc(1, len);
    cr_assert_not_null(r->data);
    uv_tcp_init(&loop, &r->tcp);
    r->tcp.data = r;
    r->conn.data = r;
    cr_assert_eq(uv_tcp_connect(&r->conn, &r->tcp, (struct sockaddr *)&sa, raw_connected), 0);
}

static void raw_stop(struct raw *r)
{
    uv_close((uv_handle_t *)&r->tcp, NULL);
    run_for(10); /* the write callback (cancelled) and the close callback */
    free(r->data);
}

Test(proxy, delay_queue_over_its_cap_cuts_that_connection)
{
    kks_proxy *p2;
    kks_proxy_opts o = {.queue_max = 64 << 10};
    cr_assert_eq(kks_proxy_new(&loop, "127.0.0.1:0", kks_server_address(srv), &o, &p2), 0);
    kks_client *cl = client_via(kks_proxy_address(p2), 0);
    cr_assert_eq(ping(cl, 10000), 0);

    cr_assert_eq(kks_proxy_set(p2, KKS_PROXY_DELAY, 10000), 0);
    struct raw r = {0};
    raw_start(&r, kks_proxy_address(p2), 256 << 10);
    run_until(&r.dropped);
    cr_assert(r.dropped, "the flooding connection was cut");
    kks_proxy_stats s = stats(p2);
    cr_assert_eq(s.over_cap, 1);
    cr_assert_eq(s.open, 1, "the other connection stays");
    cr_assert(kks_client_is_up(cl));
    raw_stop(&r);

    cr_assert_eq(kks_proxy_set(p2, KKS_PROXY_PASS, 0), 0);
    cr_assert_eq(ping(cl, 10000), 0);
    cr_assert_eq(served, 2, "the flood never reached the server");
    kks_client_free(cl);
    kks_proxy_free(p2);
    finish();
}

/* A target that accepts and never reads. */
static uv_tcp_t sink_listener, sink_conn;
static int sink_accepted;

static void sink_on_connection(uv_stream_t *ls, int status)
{
    cr_assert_eq(status, 0);
    uv_tcp_init(&loop, &sink_conn);
    cr_assert_eq(uv_accept(ls, (uv_stream_t *)&sink_conn), 0);
    sink_accepted = 1;
}

Test(proxy, a_target_that_does_not_read_stops_the_reading)
{
    struct sockaddr_storage sa;
    char addr[KKS_ADDR_MAX];
    int len = sizeof sa;
    kks_proxy *p2;

    cr_assert_eq(kks_addr_parse("127.0.0.1:0", &sa), 0);
    uv_tcp_init(&loop, &sink_listener);
    cr_assert_eq(uv_tcp_bind(&sink_listener, (struct sockaddr *)&sa, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&sink_listener, 8, sink_on_connection), 0);
    uv_tcp_getsockname(&sink_listener, (struct sockaddr *)&sa, &len);
    kks_addr_format((struct sockaddr *)&sa, addr, sizeof addr);
    cr_assert_eq(kks_proxy_new(&loop, "127.0.0.1:0", addr, NULL, &p2), 0);

    /* More than the kernel's buffers on the way can take. */
    struct raw r = {0};
    size_t total = 64u << 20;
    raw_start(&r, kks_proxy_address(p2), total);
    uint64_t max_held = 0, last = UINT64_MAX;
    int still = 0;
    while (still < 25 && !r.written) { /* until nothing moves for a while */
        run_for(20);
        kks_proxy_stats s = stats(p2);
        if (s.held > max_held)
            max_held = s.held;
        still = s.bytes_to_target == last ? still + 1 : 0;
        last = s.bytes_to_target;
    }
    cr_assert(sink_accepted);
    cr_assert_not(r.written, "all %zu bytes went through a target that reads nothing", total);
    cr_assert_lt(last, total);
    cr_assert_gt(max_held, 256u << 10, "the write queue filled (held at most %llu)",
                 (unsigned long long)max_held);
    cr_assert_leq(max_held, HELD_BOUND, "held %llu", (unsigned long long)max_held);

    kks_proxy_free(p2);
    raw_stop(&r);
    uv_close((uv_handle_t *)&sink_conn, NULL);
    uv_close((uv_handle_t *)&sink_listener, NULL);
    finish();
}
