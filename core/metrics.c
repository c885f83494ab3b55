#include "kks_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_net.h"

int64_t kks_metrics[KKS_M__COUNT];

static const struct {
    const char *type, *name, *help;
} metric_info[] = {
#define KKS__METRIC_INFO(n, type, text, help) {type, text, help},
    KKS_METRICS_MAP(KKS__METRIC_INFO)
#undef KKS__METRIC_INFO
};

size_t kks_metrics_render(char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < KKS_M__COUNT && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, "# HELP %s %s\n# TYPE %s %s\n%s %" PRId64 "\n",
                         metric_info[i].name, metric_info[i].help, metric_info[i].name,
                         metric_info[i].type, metric_info[i].name, kks_metrics[i]);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return n;
}

struct kks_metrics_server {
    uv_tcp_t tcp;
    char addr[KKS_ADDR_MAX];
};

/* One HTTP exchange: read the request head (at most 4 KiB), answer, close. */
struct mconn {
    uv_tcp_t tcp;
    uv_write_t wr;
    size_t len;
    int answered;
    char in[4096];
    char out[8192];
};

static void mconn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void mconn_written(uv_write_t *req, int status)
{
    struct mconn *m = req->data;
    uv_close((uv_handle_t *)&m->tcp, mconn_closed);
}

static void mconn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct mconn *m = h->data;
    *b = uv_buf_init(m->in + m->len, (unsigned)(sizeof m->in - m->len - 1));
}

static void mconn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct mconn *m = s->data;
    const char *status = "200 OK";
    char body[6144];
    size_t blen = 0;
    uv_buf_t out;

    if (n < 0 || m->answered) {
        if (!m->answered)
            uv_close((uv_handle_t *)&m->tcp, mconn_closed);
        return;
    }
    m->len += (size_t)n;
    m->in[m->len] = '\0';
    if (!strstr(m->in, "\r\n\r\n") && !strstr(m->in, "\n\n")) {
        if (m->len < sizeof m->in - 1)
            return;
        status = "431 Request Header Fields Too Large";
    } else if (strncmp(m->in, "GET ", 4) != 0) {
        status = "405 Method Not Allowed";
    } else {
        blen = kks_metrics_render(body, sizeof body);
    }
    m->answered = 1;
    uv_read_stop(s);
    int hl = snprintf(m->out, sizeof m->out,
                      "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      status, blen);
    if (hl < 0 || (size_t)hl + blen > sizeof m->out)
        blen = 0;
    memcpy(m->out + hl, body, blen);
    out = uv_buf_init(m->out, (unsigned)((size_t)hl + blen));
    m->wr.data = m;
    if (uv_write(&m->wr, s, &out, 1, mconn_written) != 0)
        uv_close((uv_handle_t *)&m->tcp, mconn_closed);
}

static void metrics_on_connection(uv_stream_t *ls, int status)
{
    struct mconn *m;
    if (status < 0 || !(m = calloc(1, sizeof *m)))
        return;
    uv_tcp_init(ls->loop, &m->tcp);
    m->tcp.data = m;
    if (uv_accept(ls, (uv_stream_t *)&m->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&m->tcp, mconn_alloc, mconn_read) != 0)
        uv_close((uv_handle_t *)&m->tcp, mconn_closed);
}

int kks_metrics_listen(uv_loop_t *loop, const char *addr, kks_metrics_server **out)
{
    struct sockaddr_storage sa;
    int len = sizeof sa, r;
    kks_metrics_server *m;
    *out = NULL;
    if (kks_addr_parse(addr, &sa) < 0)
        return KKS_EADDR;
    if (!(m = calloc(1, sizeof *m)))
        return KKS_ENOMEM;
    uv_tcp_init(loop, &m->tcp);
    m->tcp.data = m;
    if ((r = uv_tcp_bind(&m->tcp, (struct sockaddr *)&sa, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&m->tcp, 64, metrics_on_connection)) != 0) {
        kks_error("cannot listen for metrics", "addr", addr, "error", uv_strerror(r));
        uv_close((uv_handle_t *)&m->tcp, mconn_closed);
        return KKS_EIO;
    }
    uv_tcp_getsockname(&m->tcp, (struct sockaddr *)&sa, &len);
    kks_addr_format((struct sockaddr *)&sa, m->addr, sizeof m->addr);
    *out = m;
    return 0;
}

const char *kks_metrics_address(const kks_metrics_server *m)
{
    return m->addr;
}

void kks_metrics_close(kks_metrics_server *m)
{
    if (m)
        uv_close((uv_handle_t *)&m->tcp, mconn_closed);
}
