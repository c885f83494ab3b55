/* core/metrics.c: the request head parser on good and hostile heads, the
 * text format (histograms cumulative, _count equal to the +Inf bucket, label
 * format, a scrape larger than any fixed buffer), the process_* series, and
 * the server over real sockets: 200, 404, 405, 400 for binary and for an
 * oversized head, and a head that never completes closed after the timeout.
 * The switch's own families (switch/swmetrics.c) are rendered here too. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kks_metrics.h"
#include "kks_net.h"
#include "metrics_thread.h"
#include "swmetrics.h"

/* ---- the head parser ---- */

static enum kks_metrics_head parse(const char *s)
{
    return kks_metrics_parse_head(s, strlen(s));
}

Test(head, routes)
{
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), KKS_HEAD_METRICS);
    cr_assert_eq(parse("GET /metrics HTTP/1.0\r\n\r\n"), KKS_HEAD_METRICS);
    cr_assert_eq(parse("GET /metrics?name[]=x HTTP/1.1\r\nAccept: */*\r\n\r\n"), KKS_HEAD_METRICS);
    cr_assert_eq(parse("GET /metrics HTTP/1.1\n\n"), KKS_HEAD_METRICS, "bare LF");
    cr_assert_eq(parse("GET / HTTP/1.1\r\n\r\n"), KKS_HEAD_NOT_FOUND);
    cr_assert_eq(parse("GET /other HTTP/1.1\r\n\r\n"), KKS_HEAD_NOT_FOUND);
    cr_assert_eq(parse("GET /metricsx HTTP/1.1\r\n\r\n"), KKS_HEAD_NOT_FOUND);
    cr_assert_eq(parse("GET /metric HTTP/1.1\r\n\r\n"), KKS_HEAD_NOT_FOUND);
    cr_assert_eq(parse("GET /metrics/ HTTP/1.1\r\n\r\n"), KKS_HEAD_NOT_FOUND);
    cr_assert_eq(parse("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), KKS_HEAD_METHOD);
    cr_assert_eq(parse("HEAD /metrics HTTP/1.1\r\n\r\n"), KKS_HEAD_METHOD);
    cr_assert_eq(parse("get /metrics HTTP/1.1\r\n\r\n"), KKS_HEAD_METHOD,
                 "methods are case-sensitive");
}

Test(head, incomplete_heads_ask_for_more)
{
    const char full[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t n = 0; n < sizeof full - 1; n++)
        cr_assert_eq(kks_metrics_parse_head(full, n), KKS_HEAD_MORE, "at %zu", n);
    cr_assert_eq(parse("GET /metrics HTTP/1.1"), KKS_HEAD_MORE, "no CRLF yet");
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\n"), KKS_HEAD_MORE);
}

Test(head, malformed_heads_are_bad)
{
    const char *bad[] = {
        "\r\n\r\n",
        " GET /metrics HTTP/1.1\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET /metrics HTTP/2\r\n\r\n",
        "GET /metrics HTTP/1.1 \r\n\r\n",
        "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n",
        "GET /metrics HTTP/1.1\rHost: x\r\n\r\n",
        "GET /met\x01rics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: \x7f\r\n\r\n",
        "GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n",
        "THISMETHODISMUCHTOOLONGTOBEREALLYAMETHOD /metrics HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(parse(bad[i]), KKS_HEAD_BAD, "%zu: %s", i, bad[i]);
}

Test(head, hostile_bytes_are_refused_at_once)
{
    /* a TLS ClientHello, NULs, and a head cut by a NUL: no need to wait */
    const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    cr_assert_eq(kks_metrics_parse_head(tls, sizeof tls - 1), KKS_HEAD_BAD);
    char zeros[64] = {0};
    cr_assert_eq(kks_metrics_parse_head(zeros, sizeof zeros), KKS_HEAD_BAD);
    const char nul[] = "GET /metrics HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    cr_assert_eq(kks_metrics_parse_head(nul, sizeof nul - 1), KKS_HEAD_BAD);
    /* every single byte value, as a first byte: a token character waits */
    for (int c = 0; c < 256; c++) {
        char one = (char)c;
        enum kks_metrics_head v = kks_metrics_parse_head(&one, 1);
        cr_assert(v == KKS_HEAD_MORE || v == KKS_HEAD_BAD, "byte %d", c);
    }
}

Test(head, oversized_heads_are_too_large)
{
    static char big[5 * 1024];
    size_t n = (size_t)snprintf(big, sizeof big, "GET /metrics HTTP/1.1\r\n");
    while (n + 16 < sizeof big)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-Pad: aaaaaaa\r\n");
    cr_assert_eq(kks_metrics_parse_head(big, n), KKS_HEAD_TOO_LARGE);
    cr_assert_eq(kks_metrics_parse_head(big, KKS_METRICS_HEAD_MAX - 1), KKS_HEAD_MORE);
    /* no CRLF at all, 5 KiB of a token */
    memset(big, 'A', sizeof big);
    cr_assert_eq(kks_metrics_parse_head(big, sizeof big), KKS_HEAD_BAD, "a 5 KiB method");
    memcpy(big, "GET /", 5);
    cr_assert_eq(kks_metrics_parse_head(big, sizeof big), KKS_HEAD_TOO_LARGE, "a 5 KiB target");
    /* a complete head within the limit, more bytes after it: fine */
    n = (size_t)snprintf(big, sizeof big, "GET /metrics HTTP/1.1\r\n\r\n");
    memset(big + n, 'z', sizeof big - n);
    cr_assert_eq(kks_metrics_parse_head(big, sizeof big), KKS_HEAD_METRICS);
}

/* ---- the text ---- */

static const uint64_t le3[] = {1000000, 10000000, 100000000}; /* 1 ms, 10 ms, 100 ms */

Test(render, histogram_is_cumulative_with_count_equal_to_inf)
{
    kks_histogram h = {0};
    kks_mbuf b = {0};
    uint64_t obs[] = {500000, 1000000, 1000001, 5000000, 50000000, 200000000, 3000000000};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        kks_histogram_observe(&h, le3, 3, obs[i]);
    kks_metrics_histogram(&b, "x_seconds", "type=\"purchase\"", le3, 3, &h);
    cr_assert_not_null(b.p);
    cr_assert_str_eq(b.p, "x_seconds_bucket{type=\"purchase\",le=\"0.001\"} 2\n"
                          "x_seconds_bucket{type=\"purchase\",le=\"0.01\"} 4\n"
                          "x_seconds_bucket{type=\"purchase\",le=\"0.1\"} 5\n"
                          "x_seconds_bucket{type=\"purchase\",le=\"+Inf\"} 7\n"
                          "x_seconds_sum{type=\"purchase\"} 3.257500001\n"
                          "x_seconds_count{type=\"purchase\"} 7\n");
    kks_mbuf_free(&b);
    kks_metrics_histogram(&b, "y", "", le3, 3, &(kks_histogram){0});
    cr_assert_str_eq(b.p,
                     "y_bucket{le=\"0.001\"} 0\ny_bucket{le=\"0.01\"} 0\ny_bucket{le=\"0.1\"} 0\n"
                     "y_bucket{le=\"+Inf\"} 0\ny_sum 0\ny_count 0\n");
    kks_mbuf_free(&b);
}

static void big_source(kks_mbuf *b, void *ud)
{
    kks_metrics_family(b, "big_total", "counter", "many series");
    for (int i = 0; i < *(int *)ud; i++)
        kks_mbuf_printf(b, "big_total{i=\"%d\"} %d\n", i, i);
}

/* Every sample line's family has # HELP and # TYPE lines before it. */
static void assert_every_family_described(const char *text)
{
    for (const char *l = text; *l; l = strchr(l, '\n') + 1) {
        char name[128], help[160], type[160];
        if (*l == '#')
            continue;
        cr_assert_eq(sscanf(l, "%127[a-z_:]", name), 1, "%.60s", l);
        size_t n = strlen(name);
        /* histogram series belong to the family without the suffix */
        const char *suf[] = {"_bucket", "_sum", "_count"};
        for (int i = 0; i < 3; i++) {
            size_t k = strlen(suf[i]);
            snprintf(type, sizeof type, "# TYPE %.*s histogram\n", (int)(n - k), name);
            if (n > k && strcmp(name + n - k, suf[i]) == 0 && strstr(text, type))
                name[n - k] = '\0';
        }
        snprintf(help, sizeof help, "# HELP %s ", name);
        snprintf(type, sizeof type, "# TYPE %s ", name);
        const char *h = strstr(text, help), *t = strstr(text, type);
        cr_assert(h && t && h < l && t < l, "no HELP/TYPE before %s", name);
    }
}

Test(render, a_scrape_is_never_cut)
{
    kks_mbuf b = {0};
    int n = 5000;
    cr_assert_eq(kks_metrics_render(&b, big_source, &n), 0);
    cr_assert_gt(b.len, 8192 * 8);
    cr_assert_eq(b.len, strlen(b.p));
    cr_assert(strstr(b.p, "\nbig_total{i=\"4999\"} 4999\n"), "the last series is there");
    cr_assert(strstr(b.p, "# TYPE kks_requests_total counter\n"));
    assert_every_family_described(b.p);
    kks_mbuf_free(&b);
}

Test(render, process_series)
{
    kks_mbuf b = {0};
    double v;
    cr_assert_eq(kks_metrics_render(&b, NULL, NULL), 0);
    const char *names[] = {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char key[80];
        snprintf(key, sizeof key, "\n%s ", names[i]);
        const char *p = strstr(b.p, key);
        cr_assert_not_null(p, "%s missing:\n%s", names[i], b.p);
        cr_assert_eq(sscanf(p + strlen(key), "%lf", &v), 1);
        cr_assert_geq(v, 0, "%s", names[i]);
    }
    const char *p = strstr(b.p, "\nprocess_start_time_seconds ");
    sscanf(p + strlen("\nprocess_start_time_seconds "), "%lf", &v);
    cr_assert(v > (double)time(NULL) - 3600 && v <= (double)time(NULL) + 1, "start %f", v);
    p = strstr(b.p, "\nprocess_resident_memory_bytes ");
    sscanf(p + strlen("\nprocess_resident_memory_bytes "), "%lf", &v);
    cr_assert_gt(v, 1024 * 1024);
    assert_every_family_described(b.p);
    kks_mbuf_free(&b);
}

Test(render, switch_families)
{
    swm m = {0};
    kks_mbuf b = {0};
    kks_group_tag t = swm_txn_tag(1000, swm_type_of("purchase"), "00");
    swm_answered_at(&m, &t, 1, 1000 + 300000);  /* 0.3 ms */
    swm_answered_at(&m, &t, 1, 1000 + 7000000); /* 7 ms */
    swm_answered_at(&m, &t, 0, 1000 + 20000);   /* not committed: 96 */
    t = swm_txn_tag(0, swm_type_of("balance"), "55");
    swm_answered_at(&m, &t, 1, 2000000000);
    t = swm_txn_tag(0, swm_type_of("nonsense"), "12");
    swm_answered_at(&m, &t, 1, 1);
    t = swm_txn_tag(0, SWM_REVERSAL, "\"}");
    swm_answered_at(&m, &t, 1, 1);
    t = swm_credit_tag(9, 2);
    m.credit_rows = 11;
    swm_answered_at(&m, &t, 1, 0);
    swm_answered_at(&m, &t, 0, 0); /* not committed: not counted */
    swm_render(&b, &m);
    cr_assert(!b.failed);
    const char *want[] = {
        "# TYPE kks_switch_transactions_total counter\n",
        "\nkks_switch_transactions_total{type=\"purchase\",rc=\"00\"} 2\n",
        "\nkks_switch_transactions_total{type=\"purchase\",rc=\"96\"} 1\n",
        "\nkks_switch_transactions_total{type=\"balance\",rc=\"55\"} 1\n",
        "\nkks_switch_transactions_total{type=\"other\",rc=\"12\"} 1\n",
        "\nkks_switch_transactions_total{type=\"reversal\",rc=\"other\"} 1\n",
        "# TYPE kks_switch_transaction_seconds histogram\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"purchase\",le=\"0.0001\"} 1\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"purchase\",le=\"0.00025\"} 1\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"purchase\",le=\"0.0005\"} 2\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"purchase\",le=\"0.01\"} 3\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"purchase\",le=\"2.5\"} 3\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"purchase\",le=\"+Inf\"} 3\n",
        "\nkks_switch_transaction_seconds_count{type=\"purchase\"} 3\n",
        "\nkks_switch_transaction_seconds_sum{type=\"purchase\"} 0.00732\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"balance\",le=\"1\"} 0\n",
        "\nkks_switch_transaction_seconds_bucket{type=\"balance\",le=\"2.5\"} 1\n",
        "\nkks_switch_transaction_seconds_count{type=\"statement\"} 0\n",
        "\nkks_switch_transaction_seconds_count{type=\"other\"} 1\n",
        "\nkks_switch_credit_rows_total 11\n",
        "\nkks_switch_credits_applied_total 9\n",
        "\nkks_switch_credit_rejected_total 2\n",
        "\nkks_switch_credit_batches_total 1\n",
        "# TYPE kks_switch_credit_last_batch_timestamp_seconds gauge\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(b.p, want[i]), "missing %s in:\n%s", want[i], b.p);
    /* the buckets of every type are cumulative and end at _count */
    for (int ty = 0; ty < SWM__TYPES; ty++) {
        uint64_t total = 0;
        for (int i = 0; i <= SWM_BUCKETS; i++)
            total += m.seconds[ty].in[i];
        if (ty == SWM_OTHER && total == 0)
            continue;
        const char *names[] = {"activate", "balance", "withdraw", "purchase", "pin_change",
                               "statement", "reversal", "other"};
        char key[96];
        snprintf(key, sizeof key, "kks_switch_transaction_seconds_bucket{type=\"%s\",", names[ty]);
        unsigned long long prev = 0, v = 0;
        int lines = 0;
        for (const char *p = strstr(b.p, key); p; p = strstr(p + 1, key), lines++) {
            cr_assert_eq(sscanf(strchr(p, '}') + 2, "%llu", &v), 1);
            cr_assert_geq(v, prev, "%s not cumulative", names[ty]);
            prev = v;
        }
        cr_assert_eq(lines, SWM_BUCKETS + 1);
        cr_assert_eq(v, total, "+Inf equals the count (%s)", names[ty]);
    }
    static const char lastkey[] = "\nkks_switch_credit_last_batch_timestamp_seconds ";
    double last;
    const char *p = strstr(b.p, lastkey);
    cr_assert_eq(sscanf(p + strlen(lastkey), "%lf", &last), 1);
    cr_assert(last > (double)time(NULL) - 60);
    assert_every_family_described(b.p);
    kks_mbuf_free(&b);
}

/* ---- the server, over sockets ---- */

static char saddr[64];

static void server_up(void)
{
    snprintf(saddr, sizeof saddr, "%s", metrics_thread_up(NULL, NULL));
}

static void server_down(void)
{
    metrics_thread_down();
}

TestSuite(server, .init = server_up, .fini = server_down, .timeout = 60);

static int dial(void)
{
    struct sockaddr_storage sa;
    struct timeval tv = {15, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(kks_addr_parse(saddr, &sa), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(struct sockaddr_in)), 0);
    return fd;
}

/* Reads until the server closes; the reply, malloc'd. */
static char *read_all(int fd)
{
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + n, cap - 1 - n)) > 0)
        if ((n += (size_t)r) == cap - 1)
            buf = realloc(buf, cap *= 2);
    cr_assert_geq(r, 0, "read error (timeout?)");
    buf[n] = '\0';
    return buf;
}

static char *exchange(const void *req, size_t len)
{
    int fd = dial();
    cr_assert_eq(write(fd, req, len), (ssize_t)len);
    char *rep = read_all(fd);
    close(fd);
    return rep;
}

static char *get(const char *req)
{
    return exchange(req, strlen(req));
}

Test(server, answers_and_closes)
{
    char *r = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r);
    cr_assert(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4"), "%s", r);
    cr_assert(strstr(r, "\r\nConnection: close\r\n"));
    cr_assert(strstr(r, "\nprocess_open_fds "));
    size_t clen = 0;
    cr_assert_eq(sscanf(strstr(r, "Content-Length: "), "Content-Length: %zu", &clen), 1);
    cr_assert_eq(strlen(strstr(r, "\r\n\r\n") + 4), clen, "the whole body");
    free(r);
    r = get("GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r);
    free(r);
    r = get("GET /other HTTP/1.1\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 404 Not Found\r\n", 24) == 0, "%s", r);
    cr_assert(strstr(r, "\r\n\r\nnot found: the metrics are at /metrics\n"), "%s", r);
    free(r);
    r = get("DELETE /metrics HTTP/1.1\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0, "%s", r);
    cr_assert(strstr(r, "\r\nAllow: GET\r\n"), "%s", r);
    free(r);
}

Test(server, hostile_heads_get_400)
{
    char *r = exchange("\x16\x03\x01\x00\xff\x00\x00", 7);
    cr_assert(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", r);
    free(r);
    r = get("GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", r);
    free(r);
    /* a 5 KiB head: refused at 4 KiB, and the reply arrives although the
     * server never read the rest */
    static char big[5 * 1024];
    size_t n = (size_t)snprintf(big, sizeof big, "GET /metrics HTTP/1.1\r\n");
    while (n + 16 < sizeof big)
        n += (size_t)snprintf(big + n, sizeof big - n, "X-Pad: aaaaaaa\r\n");
    r = exchange(big, n);
    cr_assert(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", r);
    cr_assert(strstr(r, "over 4096 bytes"), "%s", r);
    free(r);
    /* a peer that half-closes after its request still gets the reply */
    int fd = dial();
    const char req[] = "GET /metrics HTTP/1.1\r\n\r\n";
    cr_assert_eq(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    shutdown(fd, SHUT_WR);
    r = read_all(fd);
    close(fd);
    cr_assert(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r);
    free(r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(server, heads_that_never_complete_are_closed_after_the_timeout)
{
    /* slowloris: a byte at a time, never the empty line; and a head without
     * CRLF; and one that sends nothing */
    int fds[3] = {dial(), dial(), dial()};
    double t0 = now_s();
    const char part[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (size_t i = 0; i < sizeof part - 1; i++) {
        cr_assert_eq(write(fds[0], part + i, 1), 1);
        usleep(20000);
    }
    cr_assert_eq(write(fds[1], "GET /metrics HTTP/1.1", 21), 21);
    for (int i = 0; i < 3; i++) {
        char *r = read_all(fds[i]);
        double waited = now_s() - t0;
        cr_assert_str_eq(r, "", "closed without an answer: %s", r);
        cr_assert(waited > KKS_METRICS_HEAD_TIMEOUT_MS / 1000.0 - 0.5 &&
                      waited < KKS_METRICS_HEAD_TIMEOUT_MS / 1000.0 + 3,
                  "closed after %.2f s", waited);
        free(r);
        close(fds[i]);
    }
}

Test(server, idle_connections_cannot_pile_up)
{
    enum { N = 80 };
    int fds[N], closed_at_once = 0;
    for (int i = 0; i < N; i++)
        fds[i] = dial();
    usleep(300000);
    for (int i = 0; i < N; i++) {
        struct timeval tv = {0, 1000};
        char c;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        closed_at_once += read(fds[i], &c, 1) == 0;
    }
    cr_assert_geq(closed_at_once, N - 64, "at most 64 held open (%d closed)", closed_at_once);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    usleep(300000);
    /* and the server still answers */
    char *r = get("GET /metrics HTTP/1.1\r\n\r\n");
    cr_assert(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", r);
    free(r);
}

Test(render, the_switch_wal_size)
{
    swm m = {0};
    kks_mbuf b = {0};
    char path[] = "/tmp/kks-wal-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    char block[12345] = {0};
    cr_assert_eq(write(fd, block, sizeof block), (ssize_t)sizeof block);
    close(fd);
    swm_render(&b, &m);
    cr_assert_null(strstr(b.p, "kks_switch_wal_bytes"), "no WAL path: no series");
    kks_mbuf_free(&b);
    snprintf(m.wal_path, sizeof m.wal_path, "%s", path);
    swm_render(&b, &m);
    cr_assert(strstr(b.p, "# TYPE kks_switch_wal_bytes gauge\nkks_switch_wal_bytes 12345\n"), "%s",
              b.p);
    kks_mbuf_free(&b);
    unlink(path); /* checkpointed and truncated away: 0 */
    swm_render(&b, &m);
    cr_assert(strstr(b.p, "\nkks_switch_wal_bytes 0\n"), "%s", b.p);
    kks_mbuf_free(&b);
}
