#include "kc_world.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kks_err.h"
#include "kks_pki.h"
#include "kks_seeds.h"

#define READY_WAIT_MS 20000
#define STOP_WAIT_MS 10000
#define OUTPUT_MAX (64u << 20)

static const char *const names[2] = {"issuer", "switch"};

/* ---- waiting on the loop ---- */

static void on_tick(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void on_closed_timer(uv_handle_t *h)
{
}

void kc_pause(uv_loop_t *loop, unsigned ms)
{
    uv_timer_t t;
    int fired = 0;
    uv_timer_init(loop, &t);
    t.data = &fired;
    /* from now: a timer due at once would run before the poll, which would
     * then wait for other events with no timer left to wake it */
    uv_update_time(loop);
    uv_timer_start(&t, on_tick, ms, 0);
    while (!fired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, on_closed_timer);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* ---- child processes ---- */

static void on_proc_closed(uv_handle_t *h)
{
    ((kc_proc *)h->data)->closed = 1;
}

static void on_exit_cb(uv_process_t *h, int64_t status, int sig)
{
    kc_proc *p = h->data;
    p->running = 0;
    p->status = status;
    p->signal = sig;
    uv_close((uv_handle_t *)h, on_proc_closed);
}

static int spawn(uv_loop_t *loop, kc_proc *p, char **argv, const char *logpath, char *why,
                 size_t cap)
{
    uv_process_options_t o = {0};
    uv_stdio_container_t io[3];
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int rc;
    if (fd < 0) {
        snprintf(why, cap, "%s: %s", logpath, strerror(errno));
        return KKS_EIO;
    }
    io[0].flags = UV_IGNORE;
    io[1].flags = UV_INHERIT_FD;
    io[1].data.fd = fd;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = fd;
    o.file = argv[0];
    o.args = argv;
    o.stdio = io;
    o.stdio_count = 3;
    o.exit_cb = on_exit_cb;
    memset(p, 0, sizeof *p);
    snprintf(p->log, sizeof p->log, "%s", logpath);
    p->h.data = p;
    rc = uv_spawn(loop, &p->h, &o);
    close(fd);
    if (rc < 0) {
        snprintf(why, cap, "cannot start %s: %s", argv[0], uv_strerror(rc));
        uv_close((uv_handle_t *)&p->h, on_proc_closed); /* initialised even when it fails */
        while (!p->closed)
            uv_run(loop, UV_RUN_ONCE);
        return KKS_EIO;
    }
    p->running = 1;
    return 0;
}

/* Signals a child and waits for it; SIGKILL after wait_ms. Returns its exit
 * status (0..255), 128 + signal, or 0 when it was not running. */
static int reap(uv_loop_t *loop, kc_proc *p, int sig, unsigned wait_ms)
{
    unsigned waited = 0;
    if (p->running)
        uv_process_kill(&p->h, sig);
    while (p->running) {
        kc_pause(loop, 20);
        waited += 20;
        if (waited == wait_ms && p->running)
            uv_process_kill(&p->h, SIGKILL);
    }
    while (!p->closed)
        uv_run(loop, UV_RUN_ONCE);
    return p->signal ? 128 + p->signal : (int)p->status;
}

/* The program's own last lines of a log (a sanitizer's report in a test build
 * is skipped), for saying why a daemon did not start. */
static void log_tail(const char *path, char *out, size_t cap)
{
    char line[1024];
    char keep[8][256];
    int n = 0;
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == ' ' || line[0] == '#' || line[0] == '=' || line[0] == '\n' ||
            strncmp(line, "Direct leak", 11) == 0 || strncmp(line, "Indirect leak", 13) == 0 ||
            strncmp(line, "SUMMARY:", 8) == 0)
            continue;
        snprintf(keep[n % 8], sizeof keep[0], "%.250s", line);
        n++;
    }
    fclose(f);
    for (int i = n > 8 ? n - 8 : 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s", keep[i % 8]);
    }
}

static int ready_addr(const char *path, char *addr, size_t cap)
{
    char buf[KKS_ADDR_MAX + 2];
    FILE *f = fopen(path, "r");
    size_t n;
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n == 0 || buf[n - 1] != '\n')
        return 0; /* written atomically, but be sure */
    buf[n - 1] = '\0';
    snprintf(addr, cap, "%.*s", (int)(cap - 1), buf);
    return 1;
}

static int start_daemon(kc_world *w, enum kc_daemon which, const char *listen)
{
    char exe[KC_PATH_MAX + 16], db[KC_PATH_MAX + 16], ready[KC_PATH_MAX + 16],
        log[KC_PATH_MAX + 16], tail[1024];
    char *argv[20];
    int n = 0, rc;
    snprintf(exe, sizeof exe, "%s/kks-%s", w->bin, names[which]);
    snprintf(db, sizeof db, "%s/%s.db", w->dir, names[which]);
    snprintf(ready, sizeof ready, "%s/%s.ready", w->dir, names[which]);
    snprintf(log, sizeof log, "%s/%s.log", w->dir, names[which]);
    unlink(ready);
    argv[n++] = exe;
    argv[n++] = "--listen";
    argv[n++] = (char *)listen;
    argv[n++] = "--db";
    argv[n++] = db;
    argv[n++] = "--pki";
    argv[n++] = w->pki;
    argv[n++] = "--ready-file";
    argv[n++] = ready;
    if (which == KC_SWITCH) {
        argv[n++] = "--issuer";
        argv[n++] = w->issuer_link;
    }
    if (w->o.today) {
        argv[n++] = "--today";
        argv[n++] = (char *)w->o.today;
    }
    /* Always given: the daemons may sit in another bin_dir than this program,
     * so they read the seeds this program would read. */
    argv[n++] = "--seeds";
    argv[n++] = (char *)(w->o.seeds ? w->o.seeds : kks_seeds_default(NULL));
    argv[n] = NULL;
    if ((rc = spawn(w->loop, &w->proc[which], argv, log, w->why, sizeof w->why)) < 0)
        return rc;
    for (unsigned waited = 0; waited < READY_WAIT_MS; waited += 20) {
        if (ready_addr(ready, w->addr[which], sizeof w->addr[which]))
            return 0;
        if (!w->proc[which].running)
            break;
        kc_pause(w->loop, 20);
    }
    reap(w->loop, &w->proc[which], SIGKILL, 1000);
    log_tail(log, tail, sizeof tail);
    snprintf(w->why, sizeof w->why, "the %s did not start; its log ends:\n%.1000s", names[which],
             tail);
    return KKS_EIO;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[KC_PATH_MAX * 2];
    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

int kc_bin_dir(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash;
    if (n <= 0)
        return KKS_EIO;
    exe[n] = '\0';
    if (!(slash = strrchr(exe, '/')))
        return KKS_EIO;
    *slash = '\0';
    if (strlen(exe) >= cap)
        return KKS_EIO; /* a path this long would be cut: refuse it */
    memcpy(out, exe, strlen(exe) + 1);
    return 0;
}

int kc_world_start(kc_world *w, uv_loop_t *loop, const kc_world_opts *o)
{
    const char *tmp = o->tmp ? o->tmp : getenv("TMPDIR");
    const char *front;
    int rc;
    memset(w, 0, sizeof *w);
    w->loop = loop;
    w->o = *o;
    w->proc[0].closed = w->proc[1].closed = 1;
    if (o->bin_dir)
        snprintf(w->bin, sizeof w->bin, "%s", o->bin_dir);
    else if (kc_bin_dir(w->bin, sizeof w->bin) < 0) {
        snprintf(w->why, sizeof w->why, "cannot tell where this program lives");
        return KKS_EIO;
    }
    if (tmp && strlen(tmp) > 400) {
        snprintf(w->why, sizeof w->why, "the temporary directory's path is too long");
        return KKS_EINVAL;
    }
    snprintf(w->dir, sizeof w->dir, "%.400s/kks-world-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(w->dir)) {
        snprintf(w->why, sizeof w->why, "cannot make a directory in %s: %s",
                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return KKS_EIO;
    }
    if (o->pki) { /* a PKI kept elsewhere, made there the first time */
        struct stat st;
        snprintf(w->pki, sizeof w->pki, "%s", o->pki);
        char ca[KC_PATH_MAX + 16];
        snprintf(ca, sizeof ca, "%s/ca.crt", w->pki);
        rc = stat(ca, &st) == 0 ? 0 : kks_pki_init(w->pki);
    } else {
        snprintf(w->pki, sizeof w->pki, "%.490s/pki", w->dir);
        rc = kks_pki_init(w->pki);
    }
    if (rc < 0) {
        snprintf(w->why, sizeof w->why, "cannot make the PKI: %s", kks_strerror(rc));
        goto fail;
    }
    if ((rc = start_daemon(w, KC_ISSUER, "127.0.0.1:0")) < 0)
        goto fail;
    front = o->issuer_front ? o->issuer_front(o->ud, w->addr[KC_ISSUER]) : NULL;
    snprintf(w->issuer_link, sizeof w->issuer_link, "%s", front ? front : w->addr[KC_ISSUER]);
    if ((rc = start_daemon(w, KC_SWITCH, "127.0.0.1:0")) < 0)
        goto fail;
    return 0;
fail:
    reap(loop, &w->proc[KC_ISSUER], SIGTERM, STOP_WAIT_MS);
    reap(loop, &w->proc[KC_SWITCH], SIGTERM, STOP_WAIT_MS);
    if (!o->keep)
        remove_tree(w->dir);
    return rc;
}

int kc_world_stop(kc_world *w)
{
    int s = reap(w->loop, &w->proc[KC_SWITCH], SIGTERM, STOP_WAIT_MS);
    int i = reap(w->loop, &w->proc[KC_ISSUER], SIGTERM, STOP_WAIT_MS);
    if (!w->o.keep && w->dir[0])
        remove_tree(w->dir);
    return s == 0 && i == 0 ? 0 : KKS_EIO;
}

int kc_world_daemon(kc_world *w, enum kc_daemon which, enum kc_action what)
{
    char listen[KKS_ADDR_MAX];
    switch (what) {
    case KC_DOWN:
        reap(w->loop, &w->proc[which], SIGTERM, STOP_WAIT_MS);
        return 0;
    case KC_KILL:
        reap(w->loop, &w->proc[which], SIGKILL, STOP_WAIT_MS);
        return 0;
    case KC_UP:
        if (w->proc[which].running)
            return 0;
        /* the same address: the switch's link and the terminals find it again */
        snprintf(listen, sizeof listen, "%s", w->addr[which]);
        return start_daemon(w, which, listen);
    }
    return KKS_EINVAL;
}

int kc_world_terminal(kc_world *w, const char *id)
{
    char crt[KC_PATH_MAX * 2];
    int rc;
    snprintf(crt, sizeof crt, "%s/terminals/%s.crt", w->pki, id);
    if (access(crt, R_OK) == 0)
        return 0;
    if ((rc = kks_pki_terminal(w->pki, id)) < 0)
        snprintf(w->why, sizeof w->why, "cannot make the certificate of %s: %s", id,
                 kks_strerror(rc));
    return rc;
}

/* ---- running a program with its output captured ---- */

typedef struct capture {
    uv_pipe_t pipe;
    char *buf;
    size_t len, cap;
    int open, over;
} capture;

static void cap_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    capture *c = h->data;
    if (c->cap - c->len < 65536 && c->cap < OUTPUT_MAX + 1) {
        size_t nc = c->cap ? c->cap * 2 : 65536;
        char *nb = realloc(c->buf, nc + 1);
        if (nb) {
            c->buf = nb;
            c->cap = nc;
        }
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void cap_closed(uv_handle_t *h)
{
    ((capture *)h->data)->open = 0;
}

static void cap_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    capture *c = s->data;
    if (n > 0) {
        c->len += (size_t)n;
        if (c->len > OUTPUT_MAX) {
            c->over = 1;
            c->len = OUTPUT_MAX;
        }
    } else if (n < 0) {
        uv_close((uv_handle_t *)s, cap_closed);
    }
}

/* kc_run and kc_run_to: standard output captured in *out, or written to
 * out_fd when out is NULL. */
static int run(uv_loop_t *loop, const char *const *argv, int out_fd, char **out, char **err)
{
    uv_process_options_t o = {0};
    uv_stdio_container_t io[3];
    capture cap[2] = {0};
    kc_proc p = {0};
    int rc;
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    for (int i = 0; i < 2; i++) {
        if (i == 0 && !out) {
            io[1].flags = UV_INHERIT_FD;
            io[1].data.fd = out_fd;
            continue;
        }
        uv_pipe_init(loop, &cap[i].pipe, 0);
        cap[i].pipe.data = &cap[i];
        cap[i].open = 1;
        if (!(cap[i].buf = malloc(65537)))
            cap[i].cap = 0;
        else
            cap[i].cap = 65536;
        io[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        io[i + 1].data.stream = (uv_stream_t *)&cap[i].pipe;
    }
    io[0].flags = UV_IGNORE;
    o.file = argv[0];
    o.args = (char **)argv;
    o.stdio = io;
    o.stdio_count = 3;
    o.exit_cb = on_exit_cb;
    p.h.data = &p;
    int first = out ? 0 : 1; /* the first captured stream */
    if ((rc = uv_spawn(loop, &p.h, &o)) < 0) {
        uv_close((uv_handle_t *)&p.h, on_proc_closed); /* initialised even when it fails */
        for (int i = first; i < 2; i++) {
            uv_close((uv_handle_t *)&cap[i].pipe, cap_closed);
            free(cap[i].buf);
        }
        while (cap[0].open || cap[1].open || !p.closed)
            uv_run(loop, UV_RUN_ONCE);
        return KKS_EIO;
    }
    p.running = 1;
    for (int i = first; i < 2; i++)
        uv_read_start((uv_stream_t *)&cap[i].pipe, cap_alloc, cap_read);
    while (p.running || !p.closed || cap[0].open || cap[1].open)
        uv_run(loop, UV_RUN_ONCE);
    for (int i = first; i < 2; i++)
        if (cap[i].buf)
            cap[i].buf[cap[i].len] = '\0';
    if (out)
        *out = cap[0].buf;
    if (err)
        *err = cap[1].buf;
    else
        free(cap[1].buf);
    if ((out && !cap[0].buf) || !cap[1].buf)
        return KKS_ENOMEM;
    if (cap[0].over || cap[1].over) /* cut at the cap: not what the program said */
        return KKS_EOUTPUT;
    return p.signal ? 128 + p.signal : (int)p.status;
}

int kc_run(uv_loop_t *loop, const char *const *argv, char **out, char **err)
{
    return run(loop, argv, -1, out, err);
}

int kc_run_to(uv_loop_t *loop, const char *const *argv, int out_fd, char **err)
{
    return run(loop, argv, out_fd, NULL, err);
}

int kc_world_ctl(kc_world *w, const char *const *args, char **out, char **err)
{
    const char *argv[64];
    char exe[KC_PATH_MAX + 16];
    int n = 0;
    snprintf(exe, sizeof exe, "%s/kksctl", w->bin);
    argv[n++] = exe;
    argv[n++] = "--pki";
    argv[n++] = w->pki;
    argv[n++] = "--issuer";
    argv[n++] = w->addr[KC_ISSUER];
    argv[n++] = "--switch";
    argv[n++] = w->addr[KC_SWITCH];
    argv[n++] = "--json";
    for (int i = 0; args[i]; i++) {
        if (n == 63)
            return KKS_EINVAL;
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return kc_run(w->loop, argv, out, err);
}
