/* What kks-issuer and kks-switch share: the ready file, metrics, and the
 * SIGTERM/SIGINT path (stop accepting, answer what is in flight, close). */
#ifndef KKS_DAEMON_H
#define KKS_DAEMON_H

#include <uv.h>

#include "kks_metrics.h"
#include "kks_net.h"

typedef struct kks_daemon {
    uv_loop_t *loop;
    kks_server *srv;
    kks_metrics_server *metrics;
    /* What the daemon adds to the process-wide metrics (NULL: nothing). */
    kks_metrics_source_fn metrics_source;
    void *metrics_ud;
    uv_signal_t sigterm, sigint;
    /* Called once the server has drained: close the daemon's own handles
     * (clients, timers) so that the loop can end. */
    void (*on_stopped)(struct kks_daemon *d);
    void *app;
    int stopping;
} kks_daemon;

/* Starts metrics (if metrics_addr), installs the signal handlers, ignores
 * SIGPIPE, and writes ready_file (if given) with the server's address.
 * Returns 0, KKS_EIO or KKS_EADDR (logged). */
int kks_daemon_start(kks_daemon *d, const char *metrics_addr, const char *ready_file);

/* Writes "HOST:PORT\n" to path atomically. Returns 0 or KKS_EIO. */
int kks_write_ready_file(const char *path, const char *addr);

#endif
