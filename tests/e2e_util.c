#define _GNU_SOURCE
#include "e2e_util.h"
#include "kc_op.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kks_frame.h"
#include "kks_net.h"
#include "kks_tls.h"
#include "rmtree.h"

e2e E;

const char *e2e_bin(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", KKS_BIN_DIR, name);
    return buf[k];
}

static void track(pid_t pid)
{
    for (int i = 0; i < E.npids; i++) {
        if (E.pids[i] == 0) {
            E.pids[i] = pid;
            return;
        }
    }
    cr_assert_lt(E.npids, E2E_MAX_PROCS);
    E.pids[E.npids++] = pid;
}

static void untrack(pid_t pid)
{
    for (int i = 0; i < E.npids; i++)
        if (E.pids[i] == pid)
            E.pids[i] = 0;
}

/* Starts argv with stdout to out_path and stderr to err_path (the same file
 * when they are equal; left as the test's when err_path is NULL). */
static pid_t spawn_to(const char *out_path, const char *err_path, char *const argv[])
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, 1);
            if (err_path == out_path)
                dup2(fd, 2);
            close(fd);
        }
        if (err_path && err_path != out_path &&
            (fd = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

pid_t e2e_spawn(const char *logname, char *const argv[])
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.log", E.dir, logname);
    pid_t pid = spawn_to(path, path, argv);
    track(pid);
    return pid;
}

pid_t e2e_spawn_split(const char *name, char *const argv[])
{
    char out[512], log[512];
    snprintf(out, sizeof out, "%s/%s.out", E.dir, name);
    snprintf(log, sizeof log, "%s/%s.log", E.dir, name);
    pid_t pid = spawn_to(out, log, argv);
    track(pid);
    return pid;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    int st;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            untrack(pid);
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            return 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    return -1;
}

int e2e_run(char **out, char *const argv[])
{
    return e2e_run_err(out, NULL, argv);
}

int e2e_run_err(char **out, char **err, char *const argv[])
{
    char path[512], epath[520];
    static int seq;
    snprintf(path, sizeof path, "%s/run-%d.out", E.dir, ++seq);
    snprintf(epath, sizeof epath, "%s.err", path);
    pid_t pid = spawn_to(path, err ? epath : NULL, argv);
    track(pid);
    int rc = wait_exit(pid, 60000);
    if (rc == -1)
        e2e_kill(pid);
    if (out)
        *out = e2e_slurp(path);
    if (err)
        *err = e2e_slurp(epath);
    return rc;
}

int e2e_ctl_argv(char **out, int flags, const char *const *args)
{
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)e2e_bin("kksctl");
    argv[n++] = "--pki";
    argv[n++] = E.pki;
    argv[n++] = "--issuer";
    argv[n++] = E.issuer_addr;
    if (!(flags & E2E_CTL_NO_SWITCH)) {
        argv[n++] = "--switch";
        argv[n++] = E.switch_addr;
    }
    if (flags & E2E_CTL_JSON)
        argv[n++] = "--json";
    for (int i = 0; args[i]; i++) {
        cr_assert_lt(n, 39, "too many arguments for kksctl");
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    if (out)
        *out = NULL;
    return e2e_run(out, argv);
}

int e2e_wait(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    untrack(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int e2e_wait_for(pid_t pid, int timeout_ms)
{
    return wait_exit(pid, timeout_ms);
}

int e2e_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int rc = wait_exit(pid, 20000);
    if (rc == -1)
        e2e_kill(pid);
    return rc;
}

void e2e_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    untrack(pid);
}

char *e2e_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

int e2e_file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    int found;
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    found = buf && fread(buf, 1, (size_t)n, f) == (size_t)n &&
            memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
    free(buf);
    fclose(f);
    return found;
}

int e2e_wait_ready(const char *path, pid_t pid, char *addr, size_t cap)
{
    for (int i = 0; i < 3000; i++) { /* 30 s: sanitizer builds start slowly */
        char *s = e2e_slurp(path);
        if (s && strchr(s, '\n')) {
            *strchr(s, '\n') = '\0';
            snprintf(addr, cap, "%s", s);
            free(s);
            return 0;
        }
        free(s);
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            untrack(pid);
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

void e2e_setup(void)
{
    char *out = NULL;
    snprintf(E.dir, sizeof E.dir, "/tmp/kks-e2e-XXXXXX");
    cr_assert_not_null(mkdtemp(E.dir));
    snprintf(E.pki, sizeof E.pki, "%s/pki", E.dir);
    char *argv[] = {(char *)e2e_bin("kksctl"), "pki", "init", "--dir", E.pki, NULL};
    cr_assert_eq(e2e_run(&out, argv), 0, "pki init failed: %s", out ? out : "");
    free(out);
}

void e2e_teardown(void)
{
    for (int i = 0; i < E.npids; i++) {
        if (E.pids[i] > 0) {
            kill(E.pids[i], SIGKILL);
            waitpid(E.pids[i], NULL, 0);
        }
    }
    E.npids = 0;
    if (E.dir[0] && !getenv("KKS_E2E_KEEP")) {
        if (rmtree(E.dir) != 0)
            fprintf(stderr, "could not remove %s\n", E.dir);
    }
}

void e2e_start_issuer(void)
{
    char ready[400], db[400];
    snprintf(ready, sizeof ready, "%s/issuer.ready", E.dir);
    snprintf(db, sizeof db, "%s/issuer.db", E.dir);
    unlink(ready);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", "127.0.0.1:0", "--db", db,
                    "--pki", E.pki, "--ready-file", ready,
                    E.metrics ? "--metrics" : NULL, "127.0.0.1:0", NULL};
    E.issuer_pid = e2e_spawn("issuer", argv);
    cr_assert_eq(e2e_wait_ready(ready, E.issuer_pid, E.issuer_addr, sizeof E.issuer_addr), 0,
                 "issuer did not start");
    if (E.metrics)
        cr_assert_eq(e2e_metrics_addr("issuer", E.issuer_metrics, sizeof E.issuer_metrics), 0);
}

void e2e_start_switch(void)
{
    e2e_start_switch_db("switch.db");
}

void e2e_start_switch_db(const char *dbname)
{
    char ready[400], db[400];
    snprintf(ready, sizeof ready, "%s/switch.ready", E.dir);
    snprintf(db, sizeof db, "%s/%s", E.dir, dbname);
    unlink(ready);
    char *argv[16] = {(char *)e2e_bin("kks-switch"), "--listen", "127.0.0.1:0", "--db", db,
                      "--pki", E.pki, "--issuer", E.issuer_addr, "--ready-file", ready};
    int n = 11;
    if (E.metrics) {
        argv[n++] = "--metrics";
        argv[n++] = "127.0.0.1:0";
    }
    if (E.today) {
        argv[n++] = "--today";
        argv[n++] = (char *)E.today;
    }
    argv[n] = NULL;
    E.switch_pid = e2e_spawn("switch", argv);
    cr_assert_eq(e2e_wait_ready(ready, E.switch_pid, E.switch_addr, sizeof E.switch_addr), 0,
                 "switch did not start");
    if (E.metrics)
        cr_assert_eq(e2e_metrics_addr("switch", E.switch_metrics, sizeof E.switch_metrics), 0);
}

int e2e_metrics_addr(const char *logname, char *addr, size_t cap)
{
    static const char key[] = "\"msg\":\"metrics listening\",\"addr\":\"";
    char path[400], *log, *last = NULL;
    const char *end;
    snprintf(path, sizeof path, "%s/%s.log", E.dir, logname);
    if (!(log = e2e_slurp(path)))
        return -1;
    for (char *p = strstr(log, key); p; p = strstr(p + 1, key))
        last = p + strlen(key);
    if (!last || !(end = strchr(last, '"')) || (size_t)(end - last) >= cap) {
        free(log);
        return -1;
    }
    snprintf(addr, cap, "%.*s", (int)(end - last), last);
    free(log);
    return 0;
}

char *e2e_http_get(const char *addr, const char *path)
{
    struct sockaddr_storage sa;
    struct timeval tv = {15, 0};
    char req[512];
    size_t n = 0, cap = 65536;
    ssize_t r;
    int fd, len;
    if (kks_addr_parse(addr, &sa) < 0 || (fd = socket(sa.ss_family, SOCK_STREAM, 0)) < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa,
                sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) != 0) {
        close(fd);
        return NULL;
    }
    len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: e2e\r\n\r\n",
                   path, addr);
    char *buf = malloc(cap);
    if (!buf || write(fd, req, (size_t)len) != len) {
        free(buf);
        close(fd);
        return NULL;
    }
    while ((r = read(fd, buf + n, cap - 1 - n)) > 0) {
        if ((n += (size_t)r) == cap - 1) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
    }
    buf[n] = '\0';
    close(fd);
    return buf;
}

double e2e_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = strstr(text, series); p; p = strstr(p + 1, series))
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

SSL *e2e_tls_dial(const char *addr, const char *pki, const char *cred)
{
    struct sockaddr_storage sa;
    char ca[512], crt[512], key[512];
    SSL_CTX *ctx;
    SSL *ssl;
    struct timeval tv = {15, 0};
    int fd;

    cr_assert_eq(kks_addr_parse(addr, &sa), 0);
    snprintf(ca, sizeof ca, "%s/ca.crt", pki);
    snprintf(crt, sizeof crt, "%s/%s.crt", pki, cred ? cred : "");
    snprintf(key, sizeof key, "%s/%s.key", pki, cred ? cred : "");
    cr_assert_eq(kks_tls_ctx_new(&ctx, 0, ca, cred ? crt : NULL, cred ? key : NULL), 0);
    fd = socket(sa.ss_family, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa,
                sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) != 0) {
        close(fd);
        SSL_CTX_free(ctx);
        return NULL;
    }
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        e2e_tls_close(ssl);
        return NULL;
    }
    return ssl;
}

void e2e_tls_close(SSL *ssl)
{
    int fd = SSL_get_fd(ssl);
    SSL_free(ssl);
    close(fd);
}

int e2e_send(SSL *ssl, Kks__Envelope *env)
{
    uint8_t buf[8192];
    size_t n = kks__envelope__get_packed_size(env);
    cr_assert_leq(n + 4, sizeof buf);
    kks_frame_header(buf, (uint32_t)n);
    kks__envelope__pack(env, buf + 4);
    return SSL_write(ssl, buf, (int)(n + 4)) == (int)(n + 4) ? 0 : -1;
}

static int read_full(SSL *ssl, uint8_t *p, size_t n)
{
    while (n > 0) {
        int r = SSL_read(ssl, p, (int)n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

Kks__Envelope *e2e_recv(SSL *ssl)
{
    uint8_t hdr[4], *body;
    uint32_t len;
    Kks__Envelope *env;
    if (read_full(ssl, hdr, 4) < 0)
        return NULL;
    len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len == 0 || len > KKS_FRAME_MAX_BULK || !(body = malloc(len)))
        return NULL;
    if (read_full(ssl, body, len) < 0) {
        free(body);
        return NULL;
    }
    env = kks__envelope__unpack(NULL, len, body);
    free(body);
    return env;
}

/* Opens accounts at the switch directly (the operator's AccountsOpen, as
 * kksctl enroll sends it once the issuer has enrolled the families): the
 * switch's own rules are under test here, not enrolment. */
void e2e_open_accounts(const uint64_t *kks, size_t n, unsigned programs)
{
    SSL *ssl = e2e_tls_dial(E.switch_addr, E.pki, "operator");
    kc_accounts ab;
    cr_assert_not_null(ssl);
    cr_assert_eq(kc_accounts_init(&ab, 400), 0);
    for (size_t at = 0; at < n; at += 400) { /* 400 rows: under e2e_send's 8 KiB */
        size_t m = n - at < 400 ? n - at : 400;
        Kks__Envelope env;
        kc_accounts_clear(&ab);
        for (size_t i = 0; i < m; i++)
            kc_accounts_add(&ab, (uint32_t)(at + i + 2), kks[at + i], programs);
        kc_accounts_envelope(&ab, &env);
        env.id = 1;
        cr_assert_eq(e2e_send(ssl, &env), 0);
        Kks__Envelope *rep = e2e_recv(ssl);
        cr_assert_not_null(rep);
        cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ACCOUNTS_OPEN_RESULT);
        cr_assert_eq(rep->accounts_open_result->n_rejected, 0);
        kks__envelope__free_unpacked(rep, NULL);
    }
    kc_accounts_free(&ab);
    e2e_tls_close(ssl);
}

void e2e_write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(s, f);
    cr_assert_eq(fclose(f), 0);
}

void e2e_first_pan(const char *print_file, char out[20])
{
    char *pf = e2e_slurp(print_file);
    cr_assert_not_null(pf);
    const char *row = strchr(pf, '\n');
    cr_assert_not_null(row, "no card in %s", print_file);
    memcpy(out, row + 1, 16);
    out[16] = '\0';
    free(pf);
}
