/* Metrics: rendering in the Prometheus text format, the process_* series,
 * the request head parser and the small HTTP server (kks_metrics.h).
 *
 * A connection of the server:
 *   READING  --head complete or refused (kks_metrics_parse_head)--> ANSWERED:
 *            the reply written, then our side shut down; what the peer still
 *            sends is read and dropped (closing with unread bytes would reset
 *            the connection and could lose the reply), at most LINGER_MAX bytes
 *   READING  --KKS_METRICS_HEAD_TIMEOUT_MS without a complete head--> closed
 *   ANSWERED --the reply not handed to the kernel within WRITE_MS; after it
 *            was, the peer's EOF, an error, LINGER_MS, or LINGER_MAX bytes--> closed
 * At most MAX_CONNS connections are open; one over that is closed at once. */
#include "kks_metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_net.h"

#define MAX_CONNS 64
#define WRITE_MS 10000 /* for the reply to reach the kernel */
#define LINGER_MS 2000
#define LINGER_MAX (64 * 1024)

int64_t kks_metrics[KKS_M__COUNT];

static const struct {
    const char *type, *name, *help;
} metric_info[] = {
#define KKS__METRIC_INFO(n, type, text, help) {type, text, help},
    KKS_METRICS_MAP(KKS__METRIC_INFO)
#undef KKS__METRIC_INFO
};

/* ---- the text ---- */

void kks_mbuf_printf(kks_mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int w;
    if (b->failed)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        w = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)w < room) {
            b->len += (size_t)w;
            return;
        }
        size_t nc = b->cap ? b->cap : 16384;
        while (nc - b->len <= (size_t)w)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

void kks_mbuf_free(kks_mbuf *b)
{
    free(b->p);
    *b = (kks_mbuf){0};
}

void kks_metrics_family(kks_mbuf *b, const char *name, const char *type, const char *help)
{
    kks_mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Nanoseconds as seconds, exactly and without trailing zeros: "0.00025", "1", "2.5". */
static void seconds(char *out, size_t cap, uint64_t ns)
{
    int n = snprintf(out, cap, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
}

void kks_metrics_histogram(kks_mbuf *b, const char *name, const char *labels,
                           const uint64_t *le_ns, size_t n, const kks_histogram *h)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    char le[32];
    for (size_t i = 0; i < n; i++) {
        cum += h->in[i];
        seconds(le, sizeof le, le_ns[i]);
        kks_mbuf_printf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, labels, sep, le, cum);
    }
    cum += h->in[n];
    kks_mbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
    seconds(le, sizeof le, h->sum_ns);
    if (labels[0]) {
        kks_mbuf_printf(b, "%s_sum{%s} %s\n", name, labels, le);
        kks_mbuf_printf(b, "%s_count{%s} %" PRIu64 "\n", name, labels, cum);
    } else {
        kks_mbuf_printf(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name, le, name, cum);
    }
}

/* ---- process_* (the Prometheus client conventions, from getrusage and /proc) ---- */

static void gauge(kks_mbuf *b, const char *name, const char *type, const char *help, double v)
{
    kks_metrics_family(b, name, type, help);
    if (v == (double)(int64_t)v)
        kks_mbuf_printf(b, "%s %" PRId64 "\n", name, (int64_t)v);
    else
        kks_mbuf_printf(b, "%s %.6f\n", name, v);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* not the one reading the directory */
}

/* Boot time (seconds since the epoch) from /proc/stat, or -1. */
static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    long long bt = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static void process_metrics(kks_mbuf *b)
{
    struct rusage ru;
    struct rlimit rl;
    char st[1024];
    FILE *f;
    size_t n = 0;
    int fds;

    if (getrusage(RUSAGE_SELF, &ru) == 0)
        gauge(b, "process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.",
              (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                  ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6);
    if ((f = fopen("/proc/self/stat", "r"))) {
        n = fread(st, 1, sizeof st - 1, f);
        fclose(f);
    }
    st[n] = '\0';
    /* after "pid (comm) ": state is field 3; starttime 22, vsize 23, rss 24 */
    char *p = strrchr(st, ')');
    unsigned long long start = 0, vsize = 0;
    long long rss = 0;
    if (p && sscanf(p + 2, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                           "%*s %*s %llu %llu %lld",
                    &start, &vsize, &rss) == 3) {
        gauge(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
              (double)vsize);
        gauge(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
              (double)rss * (double)sysconf(_SC_PAGESIZE));
        long long bt = boot_time();
        long tck = sysconf(_SC_CLK_TCK);
        if (bt > 0 && tck > 0)
            gauge(b, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.",
                  (double)bt + (double)start / (double)tck);
    }
    if ((fds = open_fds()) >= 0)
        gauge(b, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
              rl.rlim_cur == RLIM_INFINITY ? -1.0 : (double)rl.rlim_cur);
}

int kks_metrics_render(kks_mbuf *b, kks_metrics_source_fn source, void *ud)
{
    for (int i = 0; i < KKS_M__COUNT; i++) {
        kks_metrics_family(b, metric_info[i].name, metric_info[i].type, metric_info[i].help);
        kks_mbuf_printf(b, "%s %" PRId64 "\n", metric_info[i].name, kks_metrics[i]);
    }
    process_metrics(b);
    if (source)
        source(b, ud);
    return b->failed ? KKS_ENOMEM : 0;
}

/* ---- the request head ---- */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* METHOD SP TARGET SP HTTP/1.x; the method and target are returned. */
static int request_line(const char *p, size_t n, const char **method, size_t *mlen,
                        const char **target, size_t *tlen)
{
    const char *sp1 = memchr(p, ' ', n), *sp2, *end = p + n;
    if (!sp1 || sp1 == p || sp1 - p > 32)
        return -1;
    for (const char *q = p; q < sp1; q++)
        if (!is_tchar((unsigned char)*q))
            return -1;
    if (!(sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1))) || sp2 == sp1 + 1 || sp1[1] != '/')
        return -1;
    for (const char *q = sp1 + 1; q < sp2; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return -1;
    if (end - sp2 - 1 != 8 ||
        (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
        return -1;
    *method = p;
    *mlen = (size_t)(sp1 - p);
    *target = sp1 + 1;
    *tlen = (size_t)(sp2 - sp1 - 1);
    return 0;
}

/* name ":" value, the name a token (no folded continuation lines). */
static int header_line(const char *p, size_t n)
{
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return -1;
    for (const char *q = p; q < colon; q++)
        if (!is_tchar((unsigned char)*q))
            return -1;
    return 0;
}

enum kks_metrics_head kks_metrics_parse_head(const char *buf, size_t len)
{
    size_t n = len < KKS_METRICS_HEAD_MAX ? len : KKS_METRICS_HEAD_MAX, line = 0;
    const char *method = NULL, *target = NULL;
    size_t mlen = 0, tlen = 0, k = 0;

    /* the method, checked as it arrives: binary or a TLS hello is refused at once */
    while (k < n && k <= 32 && is_tchar((unsigned char)buf[k]))
        k++;
    if (k > 32 || (k < n && (k == 0 || buf[k] != ' ')))
        return KKS_HEAD_BAD;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n') {
            size_t end = i > line && buf[i - 1] == '\r' ? i - 1 : i;
            if (end == line) { /* the empty line: the head is complete */
                if (!method)
                    return KKS_HEAD_BAD;
                if (!(tlen == 8 || (tlen > 8 && target[8] == '?')) ||
                    memcmp(target, "/metrics", 8) != 0)
                    return KKS_HEAD_NOT_FOUND;
                if (mlen != 3 || memcmp(method, "GET", 3) != 0)
                    return KKS_HEAD_METHOD;
                return KKS_HEAD_METRICS;
            }
            if (!method ? request_line(buf + line, end - line, &method, &mlen, &target, &tlen) < 0
                        : header_line(buf + line, end - line) < 0)
                return KKS_HEAD_BAD;
            line = i + 1;
        } else if (c == '\r') {
            if (i + 1 < n && buf[i + 1] != '\n')
                return KKS_HEAD_BAD;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return KKS_HEAD_BAD;
        }
    }
    return len >= KKS_METRICS_HEAD_MAX ? KKS_HEAD_TOO_LARGE : KKS_HEAD_MORE;
}

/* ---- the server ---- */

struct kks_metrics_server {
    uv_tcp_t tcp;
    kks_metrics_source_fn source;
    void *ud;
    struct mconn *conns; /* open connections */
    int nconns, closed;
    char addr[KKS_ADDR_MAX];
};

enum { M_READING, M_ANSWERED };

struct mconn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sd;
    kks_metrics_server *srv;
    struct mconn *prev, *next;
    int state, closing, handles, written, eof;
    size_t len, dropped;
    kks_mbuf body;
    char head[256];
    char in[KKS_METRICS_HEAD_MAX];
};

static void server_free_if_done(kks_metrics_server *s)
{
    if (s->closed && s->nconns == 0)
        free(s);
}

static void mconn_closed(uv_handle_t *h)
{
    struct mconn *m = h->data;
    if (--m->handles > 0)
        return;
    kks_metrics_server *s = m->srv;
    if (m->prev)
        m->prev->next = m->next;
    else
        s->conns = m->next;
    if (m->next)
        m->next->prev = m->prev;
    s->nconns--;
    kks_mbuf_free(&m->body);
    free(m);
    server_free_if_done(s);
}

static void mconn_close(struct mconn *m)
{
    if (m->closing)
        return;
    m->closing = 1;
    uv_close((uv_handle_t *)&m->tcp, mconn_closed);
    uv_close((uv_handle_t *)&m->timer, mconn_closed);
}

static void mconn_timeout(uv_timer_t *t)
{
    mconn_close(t->data);
}

static void mconn_shut(uv_shutdown_t *req, int status)
{
    if (status < 0)
        mconn_close(req->data);
}

/* The reply is with the kernel: shut our side down and wait for the peer's
 * EOF (or LINGER_MS), or close at once if it came already. */
static void mconn_written(uv_write_t *req, int status)
{
    struct mconn *m = req->data;
    if (m->closing)
        return;
    m->written = 1;
    m->sd.data = m;
    if (status < 0 || m->eof || uv_shutdown(&m->sd, (uv_stream_t *)&m->tcp, mconn_shut) != 0) {
        mconn_close(m);
        return;
    }
    uv_timer_start(&m->timer, mconn_timeout, LINGER_MS, 0);
}

static void mconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    static char drop[4096]; /* what comes after the head; only the loop's thread reads into it */
    struct mconn *m = h->data;
    if (m->state == M_READING)
        *b = uv_buf_init(m->in + m->len, (unsigned)(sizeof m->in - m->len));
    else
        *b = uv_buf_init(drop, sizeof drop);
}

static const struct {
    const char *status, *body;
} answers[] = {
    [KKS_HEAD_NOT_FOUND] = {"404 Not Found", "not found: the metrics are at /metrics\n"},
    [KKS_HEAD_METHOD] = {"405 Method Not Allowed", "method not allowed: use GET /metrics\n"},
    [KKS_HEAD_BAD] = {"400 Bad Request", "bad request: not an HTTP/1.x request head\n"},
    [KKS_HEAD_TOO_LARGE] = {"400 Bad Request", "bad request: request head over 4096 bytes\n"},
};

static void mconn_answer(struct mconn *m, enum kks_metrics_head v)
{
    const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
    uv_buf_t out[2];
    int hl;

    m->state = M_ANSWERED;
    if (v == KKS_HEAD_METRICS) {
        if (kks_metrics_render(&m->body, m->srv->source, m->srv->ud) < 0) {
            kks_mbuf_free(&m->body);
            status = "500 Internal Server Error";
            type = "text/plain; charset=utf-8";
            kks_mbuf_printf(&m->body, "out of memory\n");
        }
    } else {
        status = answers[v].status;
        type = "text/plain; charset=utf-8";
        kks_mbuf_printf(&m->body, "%s", answers[v].body);
    }
    if (m->body.failed) {
        mconn_close(m);
        return;
    }
    hl = snprintf(m->head, sizeof m->head,
                  "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
                  "close\r\n\r\n",
                  status, type, m->body.len, v == KKS_HEAD_METHOD ? "Allow: GET\r\n" : "");
    out[0] = uv_buf_init(m->head, (unsigned)hl);
    out[1] = uv_buf_init(m->body.p, (unsigned)m->body.len);
    m->wr.data = m;
    uv_timer_start(&m->timer, mconn_timeout, WRITE_MS, 0);
    if (uv_write(&m->wr, (uv_stream_t *)&m->tcp, out, 2, mconn_written) != 0)
        mconn_close(m);
}

static void mconn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct mconn *m = s->data;
    enum kks_metrics_head v;

    if (n < 0) {
        /* a peer that half-closes after its request still gets the reply */
        m->eof = 1;
        uv_read_stop(s);
        if (m->state == M_READING || m->written)
            mconn_close(m);
        return;
    }
    if (n == 0)
        return;
    if (m->state == M_ANSWERED) {
        if ((m->dropped += (size_t)n) > LINGER_MAX)
            mconn_close(m);
        return;
    }
    m->len += (size_t)n;
    if ((v = kks_metrics_parse_head(m->in, m->len)) != KKS_HEAD_MORE)
        mconn_answer(m, v);
}

static void metrics_on_connection(uv_stream_t *ls, int status)
{
    kks_metrics_server *s = ls->data;
    struct mconn *m;
    if (status < 0 || !(m = calloc(1, sizeof *m)))
        return;
    m->srv = s;
    m->handles = 2;
    uv_tcp_init(ls->loop, &m->tcp);
    uv_timer_init(ls->loop, &m->timer);
    m->tcp.data = m;
    m->timer.data = m;
    m->next = s->conns;
    if (s->conns)
        s->conns->prev = m;
    s->conns = m;
    s->nconns++;
    if (uv_accept(ls, (uv_stream_t *)&m->tcp) != 0 || s->nconns > MAX_CONNS ||
        uv_read_start((uv_stream_t *)&m->tcp, mconn_alloc, mconn_read) != 0) {
        mconn_close(m);
        return;
    }
    uv_timer_start(&m->timer, mconn_timeout, KKS_METRICS_HEAD_TIMEOUT_MS, 0);
}

static void server_closed(uv_handle_t *h)
{
    kks_metrics_server *s = h->data;
    s->closed = 1;
    server_free_if_done(s);
}

int kks_metrics_listen(uv_loop_t *loop, const char *addr, kks_metrics_source_fn source, void *ud,
                       kks_metrics_server **out)
{
    struct sockaddr_storage sa;
    int len = sizeof sa, r;
    kks_metrics_server *m;
    *out = NULL;
    if (kks_addr_parse(addr, &sa) < 0)
        return KKS_EADDR;
    if (!(m = calloc(1, sizeof *m)))
        return KKS_ENOMEM;
    m->source = source;
    m->ud = ud;
    uv_tcp_init(loop, &m->tcp);
    m->tcp.data = m;
    if ((r = uv_tcp_bind(&m->tcp, (struct sockaddr *)&sa, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&m->tcp, 64, metrics_on_connection)) != 0) {
        kks_error("cannot listen for metrics", "addr", addr, "error", uv_strerror(r));
        uv_close((uv_handle_t *)&m->tcp, server_closed);
        return KKS_ELISTEN;
    }
    uv_tcp_getsockname(&m->tcp, (struct sockaddr *)&sa, &len);
    kks_addr_format((struct sockaddr *)&sa, m->addr, sizeof m->addr);
    *out = m;
    return 0;
}

const char *kks_metrics_address(const kks_metrics_server *m)
{
    return m->addr;
}

void kks_metrics_close(kks_metrics_server *m)
{
    if (!m)
        return;
    for (struct mconn *c = m->conns; c; c = c->next)
        mconn_close(c);
    uv_close((uv_handle_t *)&m->tcp, server_closed);
}
