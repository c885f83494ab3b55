#include "kks_daemon.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kks_cli.h"
#include "kks_err.h"
#include "kks_log.h"

#define DRAIN_TIMEOUT_MS 10000

int kks_write_ready_file(const char *path, const char *addr)
{
    char tmp[4200];
    FILE *f;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return KKS_EIO;
    if (!(f = fopen(tmp, "w")) || fprintf(f, "%s\n", addr) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        kks_error("cannot write ready file", "file", path, "error", strerror(errno));
        return KKS_EINVAL;
    }
    return 0;
}

static void on_drained(void *ud)
{
    kks_daemon *d = ud;
    if (d->on_stopped)
        d->on_stopped(d);
    kks_metrics_close(d->metrics);
    d->metrics = NULL;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->log_flush, NULL);
    kks_info("stopped");
    kks_log_hold(0);
}

static void on_log_flush(uv_prepare_t *p)
{
    (void)p;
    kks_log_flush();
}

static void on_signal(uv_signal_t *s, int signum)
{
    kks_daemon *d = s->data;
    if (d->stopping)
        return;
    d->stopping = 1;
    kks_info("stopping: answering requests in flight", "signal",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    if (d->on_stopping)
        d->on_stopping(d);
    kks_server_drain(d->srv, DRAIN_TIMEOUT_MS, on_drained, d);
}

/* As many connections as the system allows: the descriptor soft limit up to
 * the hard one (a switch holds one per terminal). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            kks_warn("cannot raise the file descriptor limit", "error", strerror(errno));
    }
}

/* The daemons hold keys and PINs pass through them: no core dump (and no
 * ptrace by other processes of the user), whatever the shell's ulimit. */
static void no_core_dumps(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0)
        kks_warn("cannot turn core dumps off", "error", strerror(errno));
}

int kks_daemon_start(kks_daemon *d, const char *metrics_addr, const char *ready_file)
{
    int rc;
    signal(SIGPIPE, SIG_IGN);
    no_core_dumps();
    raise_fd_limit();
    if (metrics_addr) {
        if ((rc = kks_metrics_listen(d->loop, metrics_addr, d->metrics_source, d->metrics_ud,
                                     &d->metrics)) < 0)
            return rc;
        kks_info("metrics listening", "addr", kks_metrics_address(d->metrics));
    }
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    d->sigterm.data = d;
    d->sigint.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_prepare_init(d->loop, &d->log_flush);
    uv_prepare_start(&d->log_flush, on_log_flush);
    uv_unref((uv_handle_t *)&d->log_flush); /* never what keeps the loop running */
    kks_log_hold(1);
    kks_info("listening", "addr", kks_server_address(d->srv));
    if (ready_file && (rc = kks_write_ready_file(ready_file, kks_server_address(d->srv))) < 0)
        return rc;
    return 0;
}

int kks_daemon_exit_code(int rc)
{
    return rc == KKS_EADDR || rc == KKS_ELISTEN || rc == KKS_EINVAL ? KKS_EXIT_USAGE
                                                                    : KKS_EXIT_INTERNAL;
}

int kks_daemon_usage(const char *prog, const char *error)
{
    char help[64];
    snprintf(help, sizeof help, "%s --help", prog);
    kks_error("usage error", "error", error, "help", help);
    return KKS_EXIT_USAGE;
}

int kks_daemon_bad_option(const char *prog, int ret, char **argv)
{
    char msg[80];
    kks_cli_bad_option(ret, argv, msg, sizeof msg);
    return kks_daemon_usage(prog, msg);
}
