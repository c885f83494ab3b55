/* The terminal's own state: its STAN counter and its journal (see
 * terminal.h for the file formats).
 *
 * Every operation takes DIR/ID.lock with flock() for its whole
 * read-modify-write, so two kks-terminal processes of the same terminal never
 * hand out one STAN twice or lose each other's journal lines. Whole files are
 * replaced by writing DIR/ID.x.tmp, fsync, rename; a new journal line is
 * appended with one write and fsynced. Lines that do not parse are kept as
 * they are on a rewrite and ignored by the totals. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_registry.h"
#include "kc_journal.h"

int kc_stan_parse(const char *s, uint32_t *out)
{
    int64_t v;
    if (!s || strlen(s) > 6 || kks_parse_digits(s, 1, KC_STAN_MAX, &v) < 0)
        return KKS_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

#define LINE_MAX_LEN 256

typedef struct jlock {
    int fd;
} jlock;

static int path_of(char *out, size_t cap, const char *dir, const char *id, const char *ext)
{
    int n = snprintf(out, cap, "%s/%s.%s", dir, id, ext);
    return n > 0 && (size_t)n < cap ? 0 : KKS_EINVAL;
}

static int mkdir_p(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p)
        return KKS_EINVAL;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            kks_error("cannot make the terminal state directory", "dir", p, "error",
                      strerror(errno));
            return KKS_EIO;
        }
        p[i] = c;
    }
    return 0;
}

static int lock_take(const char *dir, const char *id, jlock *l)
{
    char p[4096];
    int rc;
    if ((rc = mkdir_p(dir)) < 0 || (rc = path_of(p, sizeof p, dir, id, "lock")) < 0)
        return rc;
    l->fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (l->fd < 0) {
        kks_error("cannot open the terminal lock file", "file", p, "error", strerror(errno));
        return KKS_EIO;
    }
    while (flock(l->fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            close(l->fd);
            return KKS_EIO;
        }
    }
    return 0;
}

static void lock_release(jlock *l)
{
    close(l->fd); /* releases the flock */
}

/* Replaces path with text, atomically. */
static int write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    int fd, ok;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        kks_error("cannot write terminal state", "file", tmp, "error", strerror(errno));
        return KKS_EIO;
    }
    ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        kks_error("cannot write terminal state", "file", path, "error", strerror(errno));
        unlink(tmp);
        return KKS_EIO;
    }
    return 0;
}

/* ------------------------------------------------------------------ lines */

static int csv_safe(const char *s)
{
    for (; *s; s++)
        if (*s == ',' || *s == '"' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

int journal_format(const journal_entry *e, char *buf, size_t cap)
{
    int n;
    if (!csv_safe(e->date) || !csv_safe(e->type) || !csv_safe(e->rc) || !csv_safe(e->rrn))
        return KKS_EINVAL;
    n = snprintf(buf, cap, "%s,%06u,%s,%s,%lld,%s,%d", e->date, e->stan, e->type, e->rc,
                 (long long)e->amount, e->rrn, e->reversed ? 1 : 0);
    return n > 0 && (size_t)n < cap ? 0 : KKS_EINVAL;
}

/* Copies field [s, s+n) into out (cap bytes with NUL); 0 or KKS_EINVAL. */
static int field(const char *s, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return KKS_EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* A signed decimal int64 (the switch's amounts are int64, unchecked here). */
static int parse_i64(const char *s, int64_t *out)
{
    int neg = *s == '-';
    int64_t v = 0;
    if (neg)
        s++;
    if (!*s)
        return KKS_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, neg ? -(*s - '0') : *s - '0', &v))
            return KKS_EINVAL;
    }
    *out = v;
    return 0;
}

int journal_parse(const char *line, journal_entry *e)
{
    const char *f[7];
    size_t len[7], k = 0;
    const char *p = line;
    char num[24];
    int y, m, d;
    int64_t amount;
    memset(e, 0, sizeof *e);
    for (;;) {
        size_t n = strcspn(p, ",\r\n");
        if (k == 7)
            return KKS_EINVAL;
        f[k] = p;
        len[k++] = n;
        p += n;
        if (*p != ',')
            break;
        p++;
    }
    if (k != 7 || (*p && strcmp(p, "\n") != 0 && strcmp(p, "\r\n") != 0))
        return KKS_EINVAL;
    if (field(f[0], len[0], e->date, sizeof e->date) < 0 || kks_ymd_parse(e->date, &y, &m, &d))
        return KKS_EINVAL;
    if (field(f[1], len[1], num, sizeof num) < 0 || kc_stan_parse(num, &e->stan) < 0)
        return KKS_EINVAL;
    if (field(f[2], len[2], e->type, sizeof e->type) < 0 || len[2] == 0)
        return KKS_EINVAL;
    if (field(f[3], len[3], e->rc, sizeof e->rc) < 0 || (len[3] != 0 && len[3] != 2))
        return KKS_EINVAL;
    if (field(f[4], len[4], num, sizeof num) < 0 || parse_i64(num, &amount) < 0)
        return KKS_EINVAL;
    e->amount = amount;
    if (field(f[5], len[5], e->rrn, sizeof e->rrn) < 0)
        return KKS_EINVAL;
    if (len[6] != 1 || (f[6][0] != '0' && f[6][0] != '1'))
        return KKS_EINVAL;
    e->reversed = f[6][0] == '1';
    return 0;
}

/* ------------------------------------------------------------------ whole journal */

/* The journal's text (malloc'd, NUL-terminated; "" when there is none yet). */
static int journal_load(const char *path, char **text, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    *text = NULL;
    if (!f) {
        if (errno != ENOENT) {
            kks_error("cannot read the terminal journal", "file", path, "error",
                      strerror(errno));
            return KKS_EIO;
        }
        if (!(*text = calloc(1, 1)))
            return KKS_ENOMEM;
        *len = 0;
        return 0;
    }
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap + 65536);
            if (!nb) {
                free(buf);
                fclose(f);
                return KKS_ENOMEM;
            }
            buf = nb;
            cap += 65536;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return KKS_EIO;
    }
    fclose(f);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* Calls fn on each parsed line of text; a line that does not parse is passed
 * with e == NULL. fn returns nonzero to stop. */
typedef int (*line_fn)(const char *line, size_t len, const journal_entry *e, void *ud);

static void each_line(const char *text, line_fn fn, void *ud)
{
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, "\n");
        char line[LINE_MAX_LEN];
        journal_entry e;
        int ok = n < sizeof line;
        if (ok) {
            memcpy(line, p, n);
            line[n] = '\0';
            ok = journal_parse(line, &e) == 0;
        }
        if (n > 0 && fn(p, n, ok ? &e : NULL, ud))
            return;
        p += n;
        if (*p == '\n')
            p++;
    }
}

struct find_ctx {
    const char *date;
    uint32_t stan;
    journal_entry *out;
    int found;
    uint32_t max_stan;
};

static int find_line(const char *line, size_t len, const journal_entry *e, void *ud)
{
    struct find_ctx *f = ud;
    if (!e || strcmp(e->date, f->date) != 0)
        return 0;
    if (e->stan > f->max_stan)
        f->max_stan = e->stan;
    if (e->stan == f->stan && !f->found) {
        f->found = 1;
        if (f->out)
            *f->out = *e;
    }
    return 0;
}

/* Rewrites the journal with the line for (date, stan) replaced by *with. */
struct rewrite_ctx {
    const char *date;
    uint32_t stan;
    const journal_entry *with;
    char *buf;
    size_t len, cap;
    int err, done;
};

static void put(struct rewrite_ctx *r, const char *s, size_t n)
{
    if (r->err)
        return;
    if (r->len + n + 2 > r->cap) {
        size_t ncap = (r->cap + n + 2) * 2;
        char *nb = realloc(r->buf, ncap);
        if (!nb) {
            r->err = KKS_ENOMEM;
            return;
        }
        r->buf = nb;
        r->cap = ncap;
    }
    memcpy(r->buf + r->len, s, n);
    r->len += n;
    r->buf[r->len++] = '\n';
    r->buf[r->len] = '\0';
}

static int rewrite_line(const char *line, size_t len, const journal_entry *e, void *ud)
{
    struct rewrite_ctx *r = ud;
    if (e && !r->done && strcmp(e->date, r->date) == 0 && e->stan == r->stan) {
        char out[LINE_MAX_LEN];
        if (journal_format(r->with, out, sizeof out) < 0) {
            r->err = KKS_EINVAL;
            return 1;
        }
        put(r, out, strlen(out));
        r->done = 1;
        return 0;
    }
    put(r, line, len);
    return 0;
}

static int rewrite(const char *path, const char *text, const journal_entry *with)
{
    struct rewrite_ctx r = {.date = with->date, .stan = with->stan, .with = with};
    int rc;
    each_line(text, rewrite_line, &r);
    if (r.err) {
        free(r.buf);
        return r.err;
    }
    rc = write_atomic(path, r.buf ? r.buf : "", r.len);
    free(r.buf);
    return rc;
}

static int append(const char *path, const journal_entry *e)
{
    char line[LINE_MAX_LEN];
    int fd, ok, rc;
    size_t n;
    if ((rc = journal_format(e, line, sizeof line - 1)) < 0)
        return rc;
    n = strlen(line);
    line[n++] = '\n';
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        kks_error("cannot write the terminal journal", "file", path, "error", strerror(errno));
        return KKS_EIO;
    }
    ok = write(fd, line, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        kks_error("cannot write the terminal journal", "file", path, "error", strerror(errno));
        return KKS_EIO;
    }
    return 0;
}

/* Runs under the lock with the journal loaded. */
typedef int (*locked_fn)(const char *path, const char *text, void *ud);

static int with_journal(const char *dir, const char *id, locked_fn fn, void *ud)
{
    char path[4096], *text = NULL;
    size_t len;
    jlock l;
    int rc;
    if ((rc = path_of(path, sizeof path, dir, id, "journal")) < 0)
        return rc;
    if ((rc = lock_take(dir, id, &l)) < 0)
        return rc;
    if ((rc = journal_load(path, &text, &len)) == 0)
        rc = fn(path, text, ud);
    free(text);
    lock_release(&l);
    return rc;
}

struct record_ctx {
    const journal_entry *e;
};

static int record_locked(const char *path, const char *text, void *ud)
{
    const journal_entry *e = ((struct record_ctx *)ud)->e;
    journal_entry old;
    struct find_ctx f = {.date = e->date, .stan = e->stan, .out = &old};
    each_line(text, find_line, &f);
    if (!f.found)
        return append(path, e);
    if (old.rc[0] || !e->rc[0])
        return 0; /* the first answer stays */
    {
        journal_entry upd = *e;
        upd.reversed = old.reversed || e->reversed;
        return rewrite(path, text, &upd);
    }
}

int journal_record(const char *dir, const char *id, const journal_entry *e)
{
    struct record_ctx r = {e};
    char line[LINE_MAX_LEN];
    if (journal_format(e, line, sizeof line) < 0)
        return KKS_EINVAL;
    return with_journal(dir, id, record_locked, &r);
}

struct mark_ctx {
    const char *date;
    uint32_t stan;
    int found;
};

static int mark_locked(const char *path, const char *text, void *ud)
{
    struct mark_ctx *m = ud;
    journal_entry old;
    struct find_ctx f = {.date = m->date, .stan = m->stan, .out = &old};
    each_line(text, find_line, &f);
    m->found = f.found;
    if (!f.found || old.reversed)
        return 0;
    old.reversed = 1;
    return rewrite(path, text, &old);
}

int journal_mark_reversed(const char *dir, const char *id, const char *date, uint32_t stan,
                          int *found)
{
    struct mark_ctx m = {date, stan, 0};
    int rc = with_journal(dir, id, mark_locked, &m);
    *found = m.found;
    return rc;
}

static int find_locked(const char *path, const char *text, void *ud)
{
    each_line(text, find_line, ud);
    return 0;
}

int journal_find(const char *dir, const char *id, const char *date, uint32_t stan,
                 journal_entry *out)
{
    struct find_ctx f = {.date = date, .stan = stan, .out = out};
    int rc = with_journal(dir, id, find_locked, &f);
    return rc < 0 ? rc : f.found;
}

struct totals_ctx {
    const char *date;
    uint32_t count;
    int64_t total;
    int overflow;
};

static int totals_line(const char *line, size_t len, const journal_entry *e, void *ud)
{
    struct totals_ctx *t = ud;
    if (!e || strcmp(e->date, t->date) != 0 || e->reversed || strcmp(e->rc, "00") != 0)
        return 0;
    if (strcmp(e->type, "withdraw") != 0 && strcmp(e->type, "purchase") != 0)
        return 0;
    if (__builtin_add_overflow(t->total, e->amount, &t->total) || t->count == UINT32_MAX) {
        t->overflow = 1;
        return 1;
    }
    t->count++;
    return 0;
}

static int totals_locked(const char *path, const char *text, void *ud)
{
    each_line(text, totals_line, ud);
    return 0;
}

int journal_totals(const char *dir, const char *id, const char *date, uint32_t *count,
                   int64_t *total)
{
    struct totals_ctx t = {.date = date};
    int rc = with_journal(dir, id, totals_locked, &t);
    if (rc < 0)
        return rc;
    if (t.overflow)
        return KKS_EINVAL;
    *count = t.count;
    *total = t.total;
    return 0;
}

/* ------------------------------------------------------------------ STAN */

/* Reads DIR/ID.stan: the date and last STAN; *last = 0 when missing. */
static int stan_read(const char *path, char date[11], uint32_t *last)
{
    char line[64], d[16], num[16];
    FILE *f = fopen(path, "r");
    int y, m, dd;
    *last = 0;
    date[0] = '\0';
    if (!f)
        return errno == ENOENT ? 0 : KKS_EIO;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return KKS_EIO;
    }
    fclose(f);
    if (sscanf(line, "%15s %15s", d, num) != 2 || kks_ymd_parse(d, &y, &m, &dd) < 0 ||
        kc_stan_parse(num, last) < 0) {
        kks_error("the terminal's STAN file is damaged: fix or remove it", "file", path);
        return KKS_EIO;
    }
    snprintf(date, 11, "%.10s", d);
    return 0;
}

static int stan_write(const char *path, const char *date, uint32_t stan)
{
    char line[40];
    int n = snprintf(line, sizeof line, "%s %u\n", date, stan);
    return write_atomic(path, line, (size_t)n);
}

/* The largest STAN journaled for date (0 if none). */
static int journal_max_stan(const char *dir, const char *id, const char *date, uint32_t *max)
{
    char path[4096], *text;
    size_t len;
    struct find_ctx f = {.date = date};
    int rc;
    if ((rc = path_of(path, sizeof path, dir, id, "journal")) < 0 ||
        (rc = journal_load(path, &text, &len)) < 0)
        return rc;
    each_line(text, find_line, &f);
    free(text);
    *max = f.max_stan;
    return 0;
}

static int stan_update(const char *dir, const char *id, const char *date, uint32_t want,
                       uint32_t *stan)
{
    char path[4096], fdate[11];
    uint32_t last, jmax;
    jlock l;
    int rc;
    if ((rc = path_of(path, sizeof path, dir, id, "stan")) < 0)
        return rc;
    if ((rc = lock_take(dir, id, &l)) < 0)
        return rc;
    if ((rc = stan_read(path, fdate, &last)) == 0 &&
        (rc = journal_max_stan(dir, id, date, &jmax)) == 0) {
        if (strcmp(fdate, date) != 0)
            last = 0; /* a new business date starts again at 1 */
        if (jmax > last)
            last = jmax;
        if (want) { /* --stan N: only move the counter forward */
            *stan = want;
            if (want > last || strcmp(fdate, date) != 0)
                rc = stan_write(path, date, want > last ? want : last);
        } else if (last >= KC_STAN_MAX) {
            rc = KKS_EEXISTS;
        } else {
            *stan = last + 1;
            rc = stan_write(path, date, *stan);
        }
    }
    lock_release(&l);
    return rc;
}

int journal_stan_next(const char *dir, const char *id, const char *date, uint32_t *stan)
{
    return stan_update(dir, id, date, 0, stan);
}

int journal_stan_note(const char *dir, const char *id, const char *date, uint32_t stan)
{
    uint32_t s;
    return stan_update(dir, id, date, stan, &s);
}
