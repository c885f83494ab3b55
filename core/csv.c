#include "kks_csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kks_err.h"

int kks_csv_init(kks_csv *c, FILE *f, size_t max)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->max = max ? max : KKS_CSV_MAX_RECORD;
    c->cap = 4096 < c->max ? 4096 : c->max;
    c->next_line = 1;
    if (!(c->buf = malloc(c->cap + 1)))
        return KKS_ENOMEM;
    return 0;
}

int kks_csv_init_mem(kks_csv *c, const char *data, size_t len, size_t max)
{
    int rc = kks_csv_init(c, NULL, max);
    c->mem = data;
    c->mem_len = len;
    return rc;
}

void kks_csv_close(kks_csv *c)
{
    free(c->buf);
    c->buf = NULL;
}

int kks_csv_map(kks_csv_file *m, const char *path, char *why, size_t cap)
{
    struct stat sb;
    const char *what = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    memset(m, 0, sizeof *m);
    m->data = "";
    if (fd < 0) {
        snprintf(why, cap, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) < 0)
        what = strerror(errno);
    else if (!S_ISREG(sb.st_mode))
        what = "not a regular file";
    else if (sb.st_size > 0) {
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            what = strerror(errno);
        else {
            m->map = p;
            m->data = p;
            m->len = (size_t)sb.st_size;
        }
    }
    close(fd); /* the mapping stays */
    if (what) {
        snprintf(why, cap, "cannot read: %s", what);
        return -1;
    }
    return 0;
}

void kks_csv_unmap(kks_csv_file *m)
{
    if (m->map)
        munmap(m->map, m->len);
    memset(m, 0, sizeof *m);
    m->data = "";
}

static int csv_fail(kks_csv *c, int code, const char *what, unsigned long line)
{
    snprintf(c->errmsg, sizeof c->errmsg, "line %lu: %s", line, what);
    c->error = code;
    return code;
}

/* getc and ungetc keeping c->pos, the offset of the next byte */
static int csv_getc(kks_csv *c)
{
    int ch;
    if (c->mem)
        return c->pos < c->mem_len ? (unsigned char)c->mem[c->pos++] : EOF;
    ch = getc_unlocked(c->f);
    if (ch != EOF)
        c->pos++;
    return ch;
}

static void csv_ungetc(kks_csv *c, int ch)
{
    if (!c->mem)
        ungetc(ch, c->f);
    c->pos--;
}

/* The common record from memory: one line with no quote, NUL or CR, under
 * the bound. 1 when read (fields split), 0 to take the general path (which
 * starts over from c->pos, so what this wrote into buf does not matter). */
static int csv_mem_line(kks_csv *c)
{
    const char *p = c->mem + c->pos, *end = c->mem + c->mem_len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((eol ? eol : end) - p);
    if (n == 0 || n > c->cap)
        return 0;
    /* locals throughout: a store through char * may alias c's fields */
    char *buf = c->buf;
    char **fields = c->fields;
    int nf = 1;
    fields[0] = buf;
    memcpy(buf, p, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch > ',') /* letters, digits, UTF-8: none of , " \r NUL */
            continue;
        if (ch == '"' || ch == '\r' || ch == '\0')
            return 0;
        if (ch == ',') {
            if (nf == KKS_CSV_MAX_FIELDS)
                return 0; /* the general path names the error */
            buf[i] = '\0';
            fields[nf++] = buf + i + 1;
        }
    }
    c->nfields = nf;
    c->buf[n] = '\0';
    c->line = c->next_line;
    c->offset = c->pos;
    c->pos += n + (eol != NULL);
    if (eol)
        c->next_line++;
    return 1;
}

int kks_csv_seek(kks_csv *c, unsigned long long offset, unsigned long line)
{
    if (c->error)
        return c->error;
    if (c->mem ? offset > c->mem_len : fseeko(c->f, (off_t)offset, SEEK_SET) != 0)
        return csv_fail(c, KKS_EINVAL, "cannot seek", line);
    c->pos = offset;
    c->next_line = line;
    return 0;
}

int kks_csv_next(kks_csv *c)
{
    size_t n = 0;
    int ch, quoted = 0, field_start = 1, after_quote = 0;

    if (c->error)
        return c->error;
    if (c->mem && c->pos < c->mem_len && csv_mem_line(c))
        return 1;
    for (;;) {
        c->nfields = 0;
        n = 0;
        c->line = c->next_line;
        c->offset = c->pos;
        field_start = 1;
        c->fields[c->nfields++] = c->buf;
        for (;;) {
            ch = csv_getc(c);
            if (ch == EOF) {
                if (!c->mem && ferror(c->f))
                    return csv_fail(c, KKS_EINVAL, "read error", c->next_line);
                if (quoted)
                    return csv_fail(c, KKS_EINVAL, "unterminated quoted field", c->line);
                if (n == 0 && c->nfields == 1)
                    return 0;
                break;
            }
            if (ch == '\0')
                return csv_fail(c, KKS_EINVAL, "NUL byte: not a text CSV file", c->next_line);
            if (quoted) {
                if (ch == '"') {
                    int nx = csv_getc(c);
                    if (nx == '"') {
                        ch = '"';
                    } else {
                        if (nx != EOF)
                            csv_ungetc(c, nx);
                        quoted = 0;
                        after_quote = 1;
                        continue;
                    }
                } else if (ch == '\n') {
                    c->next_line++;
                }
            } else if (ch == '"') {
                if (!field_start)
                    return csv_fail(c, KKS_EINVAL, "quote inside an unquoted field",
                                    c->next_line);
                quoted = 1;
                field_start = 0;
                continue;
            } else if (ch == ',') {
                if (c->nfields == KKS_CSV_MAX_FIELDS)
                    return csv_fail(c, KKS_EINVAL, "too many fields", c->line);
                ch = '\0';
            } else if (ch == '\r' || ch == '\n') {
                if (ch == '\r') {
                    int nx = csv_getc(c);
                    if (nx != '\n' && nx != EOF)
                        csv_ungetc(c, nx);
                }
                c->next_line++;
                break;
            } else if (after_quote) {
                return csv_fail(c, KKS_EINVAL, "text after a closing quote", c->next_line);
            }
            if (n >= c->cap) {
                char *nb;
                size_t ncap = c->cap * 2;
                if (c->cap >= c->max) {
                    char what[80];
                    snprintf(what, sizeof what, "record longer than %zu bytes", c->max);
                    return csv_fail(c, KKS_EINVAL, what, c->line);
                }
                if (ncap > c->max)
                    ncap = c->max;
                if (!(nb = realloc(c->buf, ncap + 1)))
                    return csv_fail(c, KKS_ENOMEM, "out of memory", c->line);
                /* re-point the fields into the new buffer */
                for (int i = 0; i < c->nfields; i++)
                    c->fields[i] = nb + (c->fields[i] - c->buf);
                c->buf = nb;
                c->cap = ncap;
            }
            c->buf[n++] = (char)ch;
            if (ch == '\0' && !quoted) {
                c->fields[c->nfields++] = c->buf + n;
                field_start = 1;
                after_quote = 0;
            } else {
                field_start = 0;
            }
        }
        c->buf[n] = '\0';
        if (n == 0 && c->nfields == 1)
            continue; /* blank line */
        return 1;
    }
}

int kks_csv_is(const kks_csv *c, const char *const *names, int n)
{
    if (c->nfields != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(c->fields[i], names[i]) != 0)
            return 0;
    return 1;
}


int kks_csv_load(void *ctx, const char *dir, const char *file, const char *const *hdr, int nh,
                 kks_csv_row_fn fn, char *err, size_t cap)
{
    char path[4096], why[200] = "";
    kks_csv c;
    FILE *f;
    int rc;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (!(f = fopen(path, "r"))) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return KKS_EINVAL;
    }
    if (kks_csv_init(&c, f, KKS_CSV_SEEDS_RECORD_MAX) < 0) {
        fclose(f);
        snprintf(err, cap, "%s: out of memory", path);
        return KKS_ENOMEM;
    }
    rc = kks_csv_next(&c);
    if (rc < 0) {
        snprintf(err, cap, "%s: %s", path, c.errmsg);
        goto out;
    }
    if (rc == 0 || !kks_csv_is(&c, hdr, nh)) {
        char want[200];
        size_t off = 0;
        want[0] = '\0';
        for (int i = 0; i < nh && off < sizeof want; i++) {
            int w = snprintf(want + off, sizeof want - off, "%s%s", i ? "," : "", hdr[i]);
            off += w > 0 ? (size_t)w : 0;
        }
        snprintf(err, cap, "%s line %lu: unexpected header, expected %s", path,
                 rc == 0 ? 1ul : c.line, want);
        rc = KKS_EINVAL;
        goto out;
    }
    while ((rc = kks_csv_next(&c)) == 1) {
        if (c.nfields != nh) {
            snprintf(err, cap, "%s line %lu: %d fields, expected %d (wrong number of fields)",
                     path, c.line, c.nfields, nh);
            rc = KKS_EINVAL;
            goto out;
        }
        if (fn(ctx, &c, why, sizeof why) < 0) {
            snprintf(err, cap, "%s line %lu: %s", path, c.line, why);
            rc = KKS_EINVAL;
            goto out;
        }
    }
    if (rc < 0)
        snprintf(err, cap, "%s: %s", path, c.errmsg);
out:
    kks_csv_close(&c);
    fclose(f);
    if (rc == KKS_ENOMEM)
        return KKS_ENOMEM;
    return rc < 0 ? KKS_EINVAL : 0;
}
