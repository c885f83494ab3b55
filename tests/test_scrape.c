/* client/scrape.c: the metrics response parser on good and hostile bytes, and
 * a scrape over TCP against the daemons' own metrics server, a peer that says
 * too much, one that says nothing, and an address where nobody listens. */
#include <criterion/criterion.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kc_scrape.h"
#include "kks_err.h"
#include "kks_metrics.h"
#include "kks_net.h"
#include "metrics_thread.h"

static const char *const names[] = {"process_resident_memory_bytes", "kks_switch_wal_bytes"};

static int parse(const char *text, double v[2])
{
    v[0] = v[1] = -1;
    return kc_scrape_parse(text, strlen(text), names, v, 2);
}

Test(parse, a_response_gives_its_values)
{
    double v[2];
    cr_assert_eq(parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                       "# HELP process_resident_memory_bytes Resident memory.\r\n"
                       "# TYPE process_resident_memory_bytes gauge\r\n"
                       "process_resident_memory_bytes 123456789\r\n"
                       "kks_switch_wal_bytes 4.5e3\r\n",
                       v),
                 2);
    cr_assert_eq(v[0], 123456789);
    cr_assert_eq(v[1], 4500);
    /* bare LF, a timestamp after the value, the body without a last newline */
    cr_assert_eq(parse("HTTP/1.0 200 OK\n\nkks_switch_wal_bytes 7 1700000000000", v), 1);
    cr_assert_eq(v[1], 7);
    cr_assert_eq(v[0], -1, "a name not there is left as it was");
}

Test(parse, only_the_series_itself_counts)
{
    double v[2];
    cr_assert_eq(parse("HTTP/1.1 200 OK\r\n\r\n"
                       "process_resident_memory_bytes_total 1\n"   /* another name */
                       "process_resident_memory_bytes{a=\"b\"} 2\n" /* labels */
                       "#process_resident_memory_bytes 3\n"         /* a comment */
                       " process_resident_memory_bytes 4\n"         /* not at the start */
                       "kks_switch_wal_bytes NaN\n"
                       "kks_switch_wal_bytes +Inf\n"
                       "kks_switch_wal_bytes 1e400\n"
                       "kks_switch_wal_bytes 12abc\n"
                       "kks_switch_wal_bytes\n"
                       "kks_switch_wal_bytes \n"
                       "kks_switch_wal_bytes 5\n"
                       "kks_switch_wal_bytes 6\n",
                       v),
                 1);
    cr_assert_eq(v[0], -1);
    cr_assert_eq(v[1], 5, "the first finite value");
    cr_assert_eq(parse("HTTP/1.1 200 OK\r\n\r\nkks_switch_wal_bytes NaN\n"
                       "kks_switch_wal_bytes 1e999\n",
                       v),
                 0);
    cr_assert_eq(v[1], -1, "a value that is not a number leaves it as it was");
}

Test(parse, hostile_bytes_are_refused)
{
    double v[2];
    /* not a 200, not HTTP, no end of head */
    cr_assert_eq(parse("HTTP/1.1 404 Not Found\r\n\r\nkks_switch_wal_bytes 1\n", v), KKS_EPROTO);
    cr_assert_eq(parse("HTTP/1.1 2000 OK\r\n\r\nkks_switch_wal_bytes 1\n", v), KKS_EPROTO);
    cr_assert_eq(parse("kks_switch_wal_bytes 1\n", v), KKS_EPROTO);
    cr_assert_eq(parse("HTTP/1.1 200 OK\r\nkks_switch_wal_bytes 1\n", v), KKS_EPROTO);
    cr_assert_eq(parse("", v), KKS_EPROTO);
    cr_assert_eq(v[1], -1, "nothing taken from a refused response");
    /* a head longer than its bound, though it ends later */
    size_t big = KC_SCRAPE_HEAD_MAX + 100;
    char *h = malloc(big + 64);
    memcpy(h, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(h + 20, 'a', big - 20);
    snprintf(h + big, 64, "\r\n\r\nkks_switch_wal_bytes 1\n");
    cr_assert_eq(kc_scrape_parse(h, strlen(h), names, v, 2), KKS_EPROTO);
    free(h);
    /* a response over the cap is refused whole, whatever it holds */
    char *b = malloc(KC_SCRAPE_MAX + 1);
    memset(b, '\n', KC_SCRAPE_MAX + 1);
    memcpy(b, "HTTP/1.1 200 OK\r\n\r\nkks_switch_wal_bytes 1\n", 42);
    cr_assert_eq(kc_scrape_parse(b, KC_SCRAPE_MAX + 1, names, v, 2), KKS_ETOOBIG);
    cr_assert_eq(kc_scrape_parse(b, KC_SCRAPE_MAX, names, v, 2), 1, "the cap itself is fine");
    /* a line over its bound is skipped, the next one read; NULs read as bytes */
    memset(b, 'x', KC_SCRAPE_MAX);
    const char *head = "HTTP/1.1 200 OK\r\n\r\nkks_switch_wal_bytes 1";
    memcpy(b, head, strlen(head)); /* then x..., one line of 256 KiB */
    b[KC_SCRAPE_MAX - 100] = '\n';
    memcpy(b + KC_SCRAPE_MAX - 99, "kks_switch_wal_bytes 2\n\0\0\0", 26);
    v[1] = -1;
    cr_assert_eq(kc_scrape_parse(b, KC_SCRAPE_MAX, names, v, 2), 1);
    cr_assert_eq(v[1], 2);
    free(b);
}

/* ---- over TCP ---- */

static void source(kks_mbuf *b, void *ud)
{
    kks_mbuf_printf(b, "kks_switch_wal_bytes 8192\n");
}

struct got {
    int done, status, found;
    double v[2];
};

static void on_scrape(void *ud, int status, const char *buf, size_t len)
{
    struct got *g = ud;
    g->done = 1;
    g->status = status;
    g->v[0] = g->v[1] = -1;
    if (status == 0)
        g->found = kc_scrape_parse(buf, len, names, g->v, 2);
}

static struct got scrape(const char *addr, unsigned timeout_ms)
{
    uv_loop_t loop;
    kc_scrape *s;
    struct got g = {0};
    uv_loop_init(&loop);
    cr_assert_eq(kc_scrape_start(&loop, addr, timeout_ms, on_scrape, &g, &s), 0);
    while (!g.done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT); /* the handles close */
    cr_assert_eq(uv_loop_close(&loop), 0, "every handle closed");
    return g;
}

Test(tcp, the_daemons_metrics_server)
{
    struct got g = scrape(metrics_thread_up(source, NULL), 5000);
    cr_assert_eq(g.status, 0, "%s", kks_strerror(g.status));
    cr_assert_eq(g.found, 2);
    cr_assert_gt(g.v[0], 1024 * 1024, "this process's RSS");
    cr_assert_eq(g.v[1], 8192);
    metrics_thread_down();
}

/* A peer that reads the request, then writes `len` bytes of `fill` (after an
 * HTTP 200 head) or nothing at all, and closes; its address in addr. */
struct peer {
    int fd;
    size_t len;
    char addr[64];
    pthread_t t;
};

static void *peer_run(void *arg)
{
    struct peer *p = arg;
    int c = accept(p->fd, NULL, NULL);
    char req[1024];
    if (c < 0)
        return NULL;
    (void)!read(c, req, sizeof req);
    if (p->len) {
        char *b = malloc(p->len);
        memset(b, '#', p->len);
        memcpy(b, "HTTP/1.1 200 OK\r\n\r\n", 19);
        for (size_t off = 0; off < p->len;) {
            ssize_t w = write(c, b + off, p->len - off);
            if (w <= 0)
                break; /* the scraper hung up: it had enough */
            off += (size_t)w;
        }
        free(b);
    } else {
        char x;
        (void)!read(c, &x, 1); /* says nothing until the scraper gives up */
    }
    close(c);
    return NULL;
}

static void peer_start(struct peer *p, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    p->len = len;
    p->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(p->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(p->fd, 4), 0);
    getsockname(p->fd, (struct sockaddr *)&sa, &sl);
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    cr_assert_eq(pthread_create(&p->t, NULL, peer_run, p), 0);
}

static void peer_stop(struct peer *p)
{
    pthread_join(p->t, NULL);
    close(p->fd);
}

/* A peer that says too much is cut at the bound; one that says nothing times out. */
Test(tcp, peers_that_say_too_much_or_nothing)
{
    static const struct {
        size_t len;
        unsigned timeout_ms;
        int want;
    } cases[] = {{4u * KC_SCRAPE_MAX, 5000, KKS_ETOOBIG}, {0, 200, KKS_ETIMEDOUT}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct peer p;
        peer_start(&p, cases[i].len);
        struct got g = scrape(p.addr, cases[i].timeout_ms);
        cr_assert_eq(g.status, cases[i].want, "case %zu: %s", i, kks_strerror(g.status));
        peer_stop(&p);
    }
}

Test(tcp, nobody_listening_and_bad_addresses)
{
    struct peer p;
    peer_start(&p, 0);
    char addr[64];
    snprintf(addr, sizeof addr, "%s", p.addr);
    /* free the port: the peer's thread gets a connection, then we close it */
    struct got g = scrape(p.addr, 100);
    peer_stop(&p);
    g = scrape(addr, 2000);
    cr_assert_eq(g.status, KKS_ECONNREFUSED, "%s", kks_strerror(g.status));
    uv_loop_t loop;
    kc_scrape *s;
    uv_loop_init(&loop);
    cr_assert_eq(kc_scrape_start(&loop, "no-port", 100, on_scrape, &g, &s), KKS_EADDR);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(tcp, a_cancelled_scrape_calls_nobody_and_frees_itself)
{
    struct peer p;
    peer_start(&p, 0);
    uv_loop_t loop;
    kc_scrape *s;
    struct got g = {0};
    uv_loop_init(&loop);
    cr_assert_eq(kc_scrape_start(&loop, p.addr, 5000, on_scrape, &g, &s), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    kc_scrape_cancel(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(g.done, 0);
    cr_assert_eq(uv_loop_close(&loop), 0, "every handle closed");
    peer_stop(&p);
}
