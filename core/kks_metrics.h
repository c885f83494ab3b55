/* Metrics in the Prometheus text exposition format (version 0.0.4), served
 * over HTTP on the daemons' --metrics address.
 *
 * What is served: the process-wide counters and gauges below (updated from
 * the loop: single-threaded), the process_* series of the Prometheus client
 * conventions (CPU, memory, file descriptors, start time; read from
 * getrusage and /proc at each scrape), and whatever the daemon's own source
 * adds (the switch's transactions and credit runs: switch/swmetrics.h).
 *
 * The HTTP side answers one request per connection and closes it:
 *   GET /metrics (query string ignored)  200 text/plain; version=0.0.4
 *   any other path                       404
 *   another method on /metrics           405 (Allow: GET)
 *   a malformed head, or none within KKS_METRICS_HEAD_MAX bytes  400
 *   no complete head within KKS_METRICS_HEAD_TIMEOUT_MS  closed, no answer
 * The head is parsed by kks_metrics_parse_head, a pure function (tests and
 * fuzz/fuzz_metrics_head.c drive it without sockets). */
#ifndef KKS_METRICS_H
#define KKS_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define KKS_METRICS_MAP(X)                                                                         \
    X(CONN_ACCEPTED, "counter", "kks_connections_accepted_total", "TCP connections accepted")      \
    X(CONN_REFUSED, "counter", "kks_connections_refused_total",                                    \
      "connections refused during or right after the TLS handshake")                              \
    X(CONN_OPEN, "gauge", "kks_connections_open", "connections open now")                          \
    X(REQUESTS, "counter", "kks_requests_total", "requests received")                              \
    X(INFLIGHT, "gauge", "kks_requests_inflight", "requests received and not yet answered")        \
    X(PROTO_ERRORS, "counter", "kks_protocol_errors_total",                                        \
      "frames refused: over the cap, empty, or not an Envelope")                                  \
    X(LINK_UP, "gauge", "kks_issuer_links_up", "issuer links that are connected (switch)")

enum kks_metric {
#define KKS__METRIC_ENUM(name, type, text, help) KKS_M_##name,
    KKS_METRICS_MAP(KKS__METRIC_ENUM)
#undef KKS__METRIC_ENUM
        KKS_M__COUNT
};

extern int64_t kks_metrics[KKS_M__COUNT];
#define kks_metric_add(m, v) (kks_metrics[(m)] += (v))

/* ---- rendering ---- */

/* The text of one scrape. It grows to hold every series (a scrape is never
 * cut); failed is set when memory ran out, and then the text is incomplete. */
typedef struct kks_mbuf {
    char *p;
    size_t len, cap;
    int failed;
} kks_mbuf;

void kks_mbuf_printf(kks_mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the text; the buffer is empty again. */
void kks_mbuf_free(kks_mbuf *b);

/* The "# HELP" and "# TYPE" lines that open a metric family. */
void kks_metrics_family(kks_mbuf *b, const char *name, const char *type, const char *help);

/* A latency histogram with fixed upper bounds (nanoseconds, ascending, at
 * most KKS_HIST_MAX). Observing is a short scan and two additions: no
 * allocation, no lock. */
#define KKS_HIST_MAX 16
typedef struct kks_histogram {
    uint64_t in[KKS_HIST_MAX + 1]; /* per bucket, not cumulative; in[n]: above every bound */
    uint64_t sum_ns;
} kks_histogram;

static inline void kks_histogram_observe(kks_histogram *h, const uint64_t *le_ns, size_t n,
                                         uint64_t ns)
{
    size_t i = 0;
    while (i < n && ns > le_ns[i])
        i++;
    h->in[i]++;
    h->sum_ns += ns;
}

/* Writes the series of one histogram (no # lines): NAME_bucket{LABELS,le="..."}
 * cumulative, le="+Inf", NAME_sum (seconds) and NAME_count. labels: name="value"
 * pairs separated by commas, or "" for none. */
void kks_metrics_histogram(kks_mbuf *b, const char *name, const char *labels,
                           const uint64_t *le_ns, size_t n, const kks_histogram *h);

/* What a daemon adds to a scrape, after the process-wide series. */
typedef void (*kks_metrics_source_fn)(kks_mbuf *b, void *ud);

/* Writes the process-wide counters, the process_* series and then
 * source(b, ud) if given. 0, or KKS_ENOMEM (b->failed). */
int kks_metrics_render(kks_mbuf *b, kks_metrics_source_fn source, void *ud);

/* ---- HTTP ---- */

#define KKS_METRICS_HEAD_MAX 4096
#define KKS_METRICS_HEAD_TIMEOUT_MS 5000

enum kks_metrics_head {
    KKS_HEAD_MORE = 0,     /* incomplete: read more */
    KKS_HEAD_METRICS,      /* GET /metrics: 200 */
    KKS_HEAD_NOT_FOUND,    /* another path: 404 */
    KKS_HEAD_METHOD,       /* /metrics with another method: 405 */
    KKS_HEAD_BAD,          /* malformed: 400 */
    KKS_HEAD_TOO_LARGE,    /* no end of head within KKS_METRICS_HEAD_MAX bytes: 400 */
};

/* Classifies the first len bytes received on a connection (any bytes; no
 * NUL needed). Pure and bounded: reads at most KKS_METRICS_HEAD_MAX bytes.
 * A head ends with an empty line (CRLF CRLF; bare LF accepted); a control
 * byte, a malformed request line (METHOD SP /TARGET SP HTTP/1.x) or a header
 * line without "name:" is KKS_HEAD_BAD as soon as it is seen. */
enum kks_metrics_head kks_metrics_parse_head(const char *buf, size_t len);

typedef struct kks_metrics_server kks_metrics_server;
/* Serves the metrics on addr (source as for kks_metrics_render). Returns 0,
 * KKS_EADDR, KKS_ENOMEM, KKS_ELISTEN (bind/listen failed; logged). */
int kks_metrics_listen(uv_loop_t *loop, const char *addr, kks_metrics_source_fn source, void *ud,
                       kks_metrics_server **out);
/* The bound address (HOST:PORT; the port chosen when addr asked for 0). */
const char *kks_metrics_address(const kks_metrics_server *m);
/* Closes the listener and every open connection; memory is released by the
 * close callbacks. NULL is a no-op. */
void kks_metrics_close(kks_metrics_server *m);

#endif
