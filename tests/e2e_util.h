/* End-to-end helpers: real processes on 127.0.0.1 with port 0 and
 * --ready-file, each test in its own temporary directory; everything a test
 * starts is stopped by e2e_teardown (and dies with the test process). */
#ifndef KKS_E2E_UTIL_H
#define KKS_E2E_UTIL_H

#include <openssl/ssl.h>
#include <sys/types.h>

#include "kks.pb-c.h"

#define E2E_MAX_PROCS 32

typedef struct e2e {
    char dir[256]; /* the test's temporary directory */
    char pki[300]; /* dir/pki */
    pid_t pids[E2E_MAX_PROCS];
    int npids;
    char issuer_addr[64], switch_addr[64];
    pid_t issuer_pid, switch_pid;
    const char *today; /* the switch's --today, if set (the business date) */
    int metrics;       /* start the daemons with --metrics 127.0.0.1:0 */
    char issuer_metrics[64], switch_metrics[64]; /* their bound metrics addresses */
} e2e;

extern e2e E;

/* Makes the temporary directory and a PKI in it (kksctl pki init). */
void e2e_setup(void);
/* Stops every process still running and removes the directory. */
void e2e_teardown(void);

/* Path of a binary in the build tree. */
const char *e2e_bin(const char *name);
/* Starts argv (argv[0] a name from e2e_bin), output to dir/NAME.log. */
pid_t e2e_spawn(const char *logname, char *const argv[]);
/* Starts argv with its stdout in dir/NAME.out and its stderr in dir/NAME.log. */
pid_t e2e_spawn_split(const char *name, char *const argv[]);
/* Runs argv to completion with stdout in *out (malloc'd, may be NULL);
 * returns the exit status, or -1 if it did not exit normally in 60 s. */
int e2e_run(char **out, char *const argv[]);
/* The same with stderr in *err (malloc'd, may be NULL) instead of the test's. */
int e2e_run_err(char **out, char **err, char *const argv[]);
/* Runs kksctl --pki, --issuer and --switch of E (not --switch with
 * E2E_CTL_NO_SWITCH), --json with E2E_CTL_JSON, then args (up to a NULL), as
 * e2e_run does. */
enum { E2E_CTL_JSON = 1, E2E_CTL_NO_SWITCH = 2 };
int e2e_ctl_argv(char **out, int flags, const char *const *args);
#define e2e_ctl(out, flags, ...) \
    e2e_ctl_argv(out, flags, (const char *const[]){__VA_ARGS__, NULL})
/* Waits for a ready file; copies the address. 0 or -1 (timeout, or pid died). */
int e2e_wait_ready(const char *path, pid_t pid, char *addr, size_t cap);
/* Waits for a process the test started; its exit status, or 128+signal. */
int e2e_wait(pid_t pid);
/* The same, giving up after timeout_ms: -1 then (the process still runs). */
int e2e_wait_for(pid_t pid, int timeout_ms);
/* SIGTERM then wait; returns the exit status (or -1 / 128+signal). */
int e2e_stop(pid_t pid);
/* SIGKILL and reap. */
void e2e_kill(pid_t pid);

/* Starts the issuer and switch of E (switch routes to the issuer). */
void e2e_start_issuer(void);
void e2e_start_switch(void);
/* The same with another database file name in the test directory. */
void e2e_start_switch_db(const char *dbname);

/* The bound --metrics address of a daemon started with it, from its log
 * (dir/LOGNAME.log, the last "metrics listening" line; the daemons log it
 * before they write the ready file). 0 or -1. */
int e2e_metrics_addr(const char *logname, char *addr, size_t cap);
/* One HTTP/1.1 GET over a plain TCP socket; the whole response (head and
 * body, up to the server's close), malloc'd; NULL if it cannot connect. */
char *e2e_http_get(const char *addr, const char *path);
/* The value of the sample line that starts with series (name and labels,
 * exactly as written) in a Prometheus text; -1 if there is none. */
double e2e_metric(const char *text, const char *series);

/* 1 if the file (binary or not) holds needle; 0 if not or missing. */
int e2e_file_has(const char *path, const char *needle);
/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char *e2e_slurp(const char *path);
/* Writes s to path (the test fails if it cannot). */
void e2e_write_file(const char *path, const char *s);
/* The first card number of a print file (pan,name,...), 16 digits. */
void e2e_first_pan(const char *print_file, char out[20]);

/* A blocking TLS client for tests that need to send raw bytes. cred is a
 * name in the PKI ("operator", "terminals/EW-..."), or NULL for no
 * certificate. Returns NULL if TCP or the handshake fails. */
SSL *e2e_tls_dial(const char *addr, const char *pki, const char *cred);
void e2e_tls_close(SSL *ssl);
/* Writes a framed envelope; 0 or -1. */
int e2e_send(SSL *ssl, Kks__Envelope *env);
/* Reads one frame and unpacks it; NULL on close, error or 15 s timeout. */
Kks__Envelope *e2e_recv(SSL *ssl);
/* Opens accounts for kks at the switch (programs: 1 PKH, 2 BPNT, 3 both) as
 * kksctl enroll does once the issuer has enrolled them. */
void e2e_open_accounts(const uint64_t *kks, size_t n, unsigned programs);

#endif
