/* kc_scrape: see kc_scrape.h. One connection a scrape, the response read into
 * one buffer of KC_SCRAPE_MAX + 1 bytes (a byte more than allowed tells "too
 * big" without ever growing it), then the caller parses it. */
#include "kc_scrape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_net.h"

#define NAMES_MAX 16 /* names one parse looks for */

/* The end of the head (the index after its empty line), or 0 if there is none
 * within KC_SCRAPE_HEAD_MAX bytes. */
static size_t head_end(const char *buf, size_t len)
{
    size_t lim = len < KC_SCRAPE_HEAD_MAX ? len : KC_SCRAPE_HEAD_MAX;
    for (size_t i = 0; i < lim; i++) {
        if (buf[i] != '\n')
            continue;
        size_t j = i + 1;
        if (j < lim && buf[j] == '\r')
            j++;
        if (j < lim && buf[j] == '\n')
            return j + 1;
    }
    return 0;
}

/* The value of a sample line of name (line: ll bytes, no newline), into *v:
 * 1 if it is that series with a finite value, else 0. */
static int sample_of(const char *line, size_t ll, const char *name, double *v)
{
    size_t nl = strlen(name), q, t;
    char tok[64], *e;
    if (ll <= nl || memcmp(line, name, nl) != 0 || line[nl] != ' ')
        return 0;
    for (q = nl; q < ll && line[q] == ' '; q++)
        ;
    for (t = q; t < ll && line[t] != ' ' && line[t] != '\t'; t++)
        ;
    if (t == q || t - q >= sizeof tok)
        return 0;
    memcpy(tok, line + q, t - q);
    tok[t - q] = '\0';
    double x = strtod(tok, &e);
    if (*e != '\0' || !isfinite(x))
        return 0; /* *v untouched: a later line may give the value */
    *v = x;
    return 1;
}

int kc_scrape_parse(const char *buf, size_t len, const char *const *names, double *values,
                    size_t n)
{
    unsigned char got[NAMES_MAX] = {0};
    size_t body;
    int found = 0;
    if (n > NAMES_MAX)
        return KKS_EINVAL;
    if (len > KC_SCRAPE_MAX)
        return KKS_ETOOBIG;
    /* "HTTP/1.x 200" and then a space or the end of the line */
    if (len < 13 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9' ||
        buf[8] != ' ' || memcmp(buf + 9, "200", 3) != 0 ||
        (buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n'))
        return KKS_EPROTO;
    if (!(body = head_end(buf, len)))
        return KKS_EPROTO;
    for (size_t p = body; p < len;) {
        const char *nl = memchr(buf + p, '\n', len - p);
        size_t end = nl ? (size_t)(nl - buf) : len, ll = end - p;
        if (ll > 0 && buf[end - 1] == '\r')
            ll--;
        if (ll > 0 && ll <= KC_SCRAPE_LINE_MAX && buf[p] != '#')
            for (size_t i = 0; i < n; i++)
                if (!got[i] && sample_of(buf + p, ll, names[i], &values[i])) {
                    got[i] = 1;
                    found++;
                }
        p = end + 1;
    }
    return found;
}

struct kc_scrape {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    char *buf;
    size_t len;
    kc_scrape_cb cb;
    void *ud;
    int finished, open_handles;
    char req[KKS_ADDR_MAX + 96];
};

static void on_close(uv_handle_t *h)
{
    kc_scrape *s = h->data;
    if (--s->open_handles == 0) {
        free(s->buf);
        free(s);
    }
}

/* Once: tells the caller (unless cancelled) and closes both handles. Pending
 * requests get their callbacks before the handles' close callbacks free s. */
static void finish(kc_scrape *s, int status)
{
    if (s->finished)
        return;
    s->finished = 1;
    if (s->cb)
        s->cb(s->ud, status, status == 0 ? s->buf : NULL, status == 0 ? s->len : 0);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->tcp, on_close);
    uv_close((uv_handle_t *)&s->timer, on_close);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    kc_scrape *s = h->data;
    *b = uv_buf_init(s->buf + s->len, (unsigned)(KC_SCRAPE_MAX + 1 - s->len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    kc_scrape *s = st->data;
    if (nread > 0) {
        s->len += (size_t)nread;
        if (s->len > KC_SCRAPE_MAX)
            finish(s, KKS_ETOOBIG);
    } else if (nread == UV_EOF) {
        finish(s, 0);
    } else if (nread < 0) {
        finish(s, KKS_EIO);
    }
}

static void on_write(uv_write_t *w, int status)
{
    kc_scrape *s = w->data;
    if (status < 0)
        finish(s, KKS_EIO);
}

static void on_connect(uv_connect_t *c, int status)
{
    kc_scrape *s = c->data;
    if (s->finished)
        return;
    if (status < 0) {
        finish(s, status == UV_ECONNREFUSED ? KKS_ECONNREFUSED : KKS_EIO);
        return;
    }
    uv_buf_t b = uv_buf_init(s->req, (unsigned)strlen(s->req));
    if (uv_write(&s->wr, (uv_stream_t *)&s->tcp, &b, 1, on_write) < 0 ||
        uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) < 0)
        finish(s, KKS_EIO);
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, KKS_ETIMEDOUT);
}

int kc_scrape_start(uv_loop_t *loop, const char *addr, unsigned timeout_ms, kc_scrape_cb cb,
                    void *ud, kc_scrape **out)
{
    struct sockaddr_storage sa;
    kc_scrape *s;
    if (kks_addr_parse(addr, &sa) < 0 || strlen(addr) >= KKS_ADDR_MAX)
        return KKS_EADDR;
    if (!(s = calloc(1, sizeof *s)) || !(s->buf = malloc(KC_SCRAPE_MAX + 1))) {
        free(s);
        return KKS_ENOMEM;
    }
    snprintf(s->req, sizeof s->req,
             "GET /metrics HTTP/1.1\r\nHost: %s\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
             addr);
    s->cb = cb;
    s->ud = ud;
    s->tcp.data = s->timer.data = s->conn.data = s->wr.data = s;
    if (uv_tcp_init(loop, &s->tcp) < 0) {
        free(s->buf);
        free(s);
        return KKS_EIO;
    }
    s->open_handles = 2;
    uv_timer_init(loop, &s->timer);
    if (uv_tcp_connect(&s->conn, &s->tcp, (const struct sockaddr *)&sa, on_connect) < 0) {
        s->cb = NULL;
        finish(s, KKS_EIO);
        return KKS_EIO;
    }
    uv_timer_start(&s->timer, on_timeout, timeout_ms, 0);
    *out = s;
    return 0;
}

void kc_scrape_cancel(kc_scrape *s)
{
    if (!s || s->finished)
        return;
    s->cb = NULL;
    finish(s, KKS_ETIMEDOUT);
}
