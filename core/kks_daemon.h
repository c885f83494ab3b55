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
    uv_prepare_t log_flush; /* the held log lines, written before the loop waits */
    /* Called when a stop signal arrives, before the server drains: give up
     * work that need not be finished (NULL: none). */
    void (*on_stopping)(struct kks_daemon *d);
    /* Called once the server has drained: close the daemon's own handles
     * (clients, timers) so that the loop can end. */
    void (*on_stopped)(struct kks_daemon *d);
    void *app;
    int stopping;
} kks_daemon;

/* Starts metrics (if metrics_addr), installs the signal handlers, ignores
 * SIGPIPE, and writes ready_file (if given) with the server's address.
 * Returns 0, KKS_EINVAL (the ready file), KKS_EADDR, KKS_ELISTEN or
 * KKS_ENOMEM (logged). */
int kks_daemon_start(kks_daemon *d, const char *metrics_addr, const char *ready_file);

/* The exit code for a daemon that could not start with rc: an address it was
 * given that cannot be used (KKS_EADDR, KKS_ELISTEN: in use, not local, not
 * allowed) or a ready file that cannot be written (KKS_EINVAL) is a usage
 * error, anything else internal (kks_cli.h). */
int kks_daemon_exit_code(int rc);

/* A usage error, as a daemon reports it: a JSON log line (its stderr is the
 * log stream) naming what is wrong and where help is. Returns KKS_EXIT_USAGE. */
int kks_daemon_usage(const char *prog, const char *error);
/* The same for an option getopt_long refused (ret ':' or '?'; opterr 0). */
int kks_daemon_bad_option(const char *prog, int ret, char **argv);

/* Writes "HOST:PORT\n" to path atomically. Returns 0 or KKS_EINVAL (logged
 * with the reason). */
int kks_write_ready_file(const char *path, const char *addr);

#endif
