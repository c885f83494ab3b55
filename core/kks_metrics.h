/* Process-wide counters and gauges, served in the Prometheus text format on
 * the daemons' --metrics address. Single-threaded: updated from the loop. */
#ifndef KKS_METRICS_H
#define KKS_METRICS_H

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

/* Writes every metric in the text format into buf; returns the length. */
size_t kks_metrics_render(char *buf, size_t cap);

typedef struct kks_metrics_server kks_metrics_server;
/* Serves GET (any path) with the metrics on addr. Returns 0, KKS_EADDR, KKS_EIO. */
int kks_metrics_listen(uv_loop_t *loop, const char *addr, kks_metrics_server **out);
const char *kks_metrics_address(const kks_metrics_server *m);
/* Closes the listener; memory is released by the close callback. NULL is a no-op. */
void kks_metrics_close(kks_metrics_server *m);

#endif
