/* The fault proxy: see kks_proxy.h for the modes.
 *
 * A connection (struct pconn) has two sockets (down: the client we accepted,
 * up: the target we dialled), one timer for delayed chunks, and two ways:
 * WAY_UP reads down and writes up, WAY_DOWN reads up and writes down. Each way
 * keeps a queue of chunks, each due at a time; way_pump() delivers the chunks
 * that are due, in order, and the timer wakes it for the next one.
 *
 * States and the functions that move a connection between them:
 *
 *   (accept) --on_connection, mode CUT--> closed at once (refuse)
 *   (accept) --on_connection--> DIALING
 *   DIALING --on_dial ok, conn_open--> OPEN
 *   DIALING --on_dial fails--> conn_close --> CLOSING
 *   OPEN --on_read: end of stream queued like data; way_deliver shuts that
 *          way down (or swallows it under DROP); on_shutdown, or the swallow,
 *          closes the connection once both ways are shut--> CLOSING
 *   OPEN --read/write/shutdown error, way_queue over queue_max,
 *          kks_proxy_set(CUT), kks_proxy_free--> conn_close --> CLOSING
 *   CLOSING --on_conn_closed, the last of its three handles--> freed
 *
 * Invariants: nothing is read, queued or written once CLOSING; a chunk is
 * either in a way's queue (counted in held) or in a uv_write (freed by
 * on_write, which libuv calls with UV_ECANCELED for writes pending at close,
 * before the close callbacks); due times never decrease along a queue; a
 * connection is freed only in on_conn_closed and the proxy only when its
 * listener and every connection have been freed. */
#include "kks_proxy.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_net.h"

#define DEFAULT_QUEUE_MAX (4u << 20)
#define HIGH_WATER (1u << 20)
#define LOW_WATER (256u << 10)
#define READ_BUF 65536

enum { WAY_UP, WAY_DOWN };
enum conn_state { DIALING, OPEN, CLOSING };

struct chunk {
    uv_write_t req; /* first: on_write gets the chunk back from it */
    struct chunk *next;
    struct pconn *c;
    uint64_t due;
    size_t len;
    int eof; /* end of stream, no data */
    char data[];
};

struct way {
    uv_stream_t *from, *to;
    struct chunk *head, *tail;
    uv_shutdown_t shut_req;
    unsigned reading : 1, eof_in : 1, shut : 1;
};

struct pconn {
    kks_proxy *p;
    struct pconn *prev, *next;
    uv_tcp_t down, up;
    uv_timer_t timer;
    uv_connect_t dial;
    struct way way[2];
    size_t held; /* bytes in both queues */
    int handles;
    enum conn_state state;
};

struct kks_proxy {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    struct sockaddr_storage target;
    size_t queue_max;
    enum kks_proxy_mode mode;
    unsigned delay_ms;
    struct pconn *conns;
    kks_proxy_stats st;
    int refs; /* the listener and every connection not yet freed */
    int freeing;
    char addr[KKS_ADDR_MAX];
    char rbuf[READ_BUF]; /* on_read copies out of it before returning */
};

static void conn_close(struct pconn *c);
static void way_pump(struct way *w);

const char *kks_proxy_mode_name(enum kks_proxy_mode mode)
{
    switch (mode) {
    case KKS_PROXY_PASS:
        return "pass";
    case KKS_PROXY_DELAY:
        return "delay";
    case KKS_PROXY_DROP:
        return "drop";
    case KKS_PROXY_CUT:
        return "cut";
    }
    return "?";
}

static void proxy_unref(kks_proxy *p)
{
    assert(p->refs > 0);
    if (--p->refs == 0)
        free(p);
}

/* ------------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct pconn *c = h->data;
    *b = uv_buf_init(c->p->rbuf, sizeof c->p->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

/* Backpressure: a way reads only while the socket it writes to has room. */
static void way_update_reading(struct way *w)
{
    struct pconn *c = w->from->data;
    size_t wq;
    if (c->state != OPEN || w->eof_in)
        return;
    wq = uv_stream_get_write_queue_size(w->to);
    if (w->reading && wq > HIGH_WATER) {
        uv_read_stop(w->from);
        w->reading = 0;
    } else if (!w->reading && wq <= LOW_WATER) {
        if (uv_read_start(w->from, on_alloc, on_read) == 0)
            w->reading = 1;
        else
            conn_close(c);
    }
}

/* Queues n bytes (or the end of stream, when data is NULL) to be delivered
 * when due, then delivers what is due. */
static void way_queue(struct way *w, const char *data, size_t n)
{
    struct pconn *c = w->from->data;
    kks_proxy *p = c->p;
    struct chunk *ch;
    uint64_t due = uv_now(p->loop);

    assert(c->state == OPEN);
    if (!(ch = malloc(sizeof *ch + n))) {
        kks_error("out of memory relaying; closing the connection", "proxy", p->addr);
        conn_close(c);
        return;
    }
    if (p->mode == KKS_PROXY_DELAY)
        due += p->delay_ms;
    if (w->tail && w->tail->due > due)
        due = w->tail->due; /* in order, whatever the delay was when it came */
    ch->next = NULL;
    ch->c = c;
    ch->due = due;
    ch->len = n;
    ch->eof = data == NULL;
    if (n)
        memcpy(ch->data, data, n);
    if (w->tail)
        w->tail->next = ch;
    else
        w->head = ch;
    w->tail = ch;
    c->held += n;
    way_pump(w);
    if (c->state == OPEN && c->held > p->queue_max) {
        char held[32];
        snprintf(held, sizeof held, "%zu", c->held);
        kks_warn("proxy: delay queue over its cap; cutting the connection", "proxy", p->addr,
                 "held", held);
        p->st.over_cap++;
        conn_close(c);
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct pconn *c = s->data;
    struct way *w = &c->way[s == (uv_stream_t *)&c->down ? WAY_UP : WAY_DOWN];
    if (c->state != OPEN || n == 0)
        return;
    if (n == UV_EOF) {
        w->eof_in = 1; /* libuv has stopped reading */
        w->reading = 0;
        way_queue(w, NULL, 0);
        return;
    }
    if (n < 0) {
        kks_debug("proxy: read failed; closing", "proxy", c->p->addr, "error", uv_strerror((int)n));
        conn_close(c);
        return;
    }
    way_queue(w, b->base, (size_t)n);
}

/* ------------------------------------------------------------------ delivering */

static void on_write(uv_write_t *req, int status)
{
    struct chunk *ch = (struct chunk *)req;
    struct pconn *c = ch->c;
    free(ch);
    if (status == UV_ECANCELED || c->state != OPEN)
        return;
    if (status < 0) {
        kks_debug("proxy: write failed; closing", "proxy", c->p->addr, "error",
                  uv_strerror(status));
        conn_close(c);
        return;
    }
    way_update_reading(&c->way[WAY_UP]);
    way_update_reading(&c->way[WAY_DOWN]);
}

/* Both ways have delivered their end of stream: nothing more can come. */
static void way_shut(struct way *w)
{
    struct pconn *c = w->from->data;
    w->shut = 1;
    if (c->way[WAY_UP].shut && c->way[WAY_DOWN].shut)
        conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct way *w = req->data;
    struct pconn *c = w->from->data;
    if (status == UV_ECANCELED || c->state != OPEN)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    way_shut(w);
}

/* Hands one chunk taken off the queue to its socket, or swallows it. */
static void way_deliver(struct way *w, struct chunk *ch)
{
    struct pconn *c = w->from->data;
    kks_proxy *p = c->p;
    int back = w == &c->way[WAY_DOWN];

    if (back && p->mode == KKS_PROXY_DROP) {
        p->st.bytes_dropped += ch->len;
        int eof = ch->eof;
        free(ch);
        if (eof)
            way_shut(w); /* a lost FIN: the client is not told */
        return;
    }
    if (ch->eof) {
        free(ch);
        w->shut_req.data = w;
        /* a shutdown waits for the writes queued before it */
        if (uv_shutdown(&w->shut_req, w->to, on_shutdown) != 0)
            conn_close(c);
        return;
    }
    uv_buf_t buf = uv_buf_init(ch->data, (unsigned)ch->len);
    size_t len = ch->len;
    if (uv_write(&ch->req, w->to, &buf, 1, on_write) != 0) {
        free(ch);
        conn_close(c);
        return;
    }
    if (back)
        p->st.bytes_to_client += len;
    else
        p->st.bytes_to_target += len;
}

static void on_timer(uv_timer_t *t);

/* Wakes the connection when the earliest chunk still held is due. */
static void conn_arm_timer(struct pconn *c)
{
    uint64_t now = uv_now(c->p->loop), due = UINT64_MAX;
    for (int i = 0; i < 2; i++)
        if (c->way[i].head && c->way[i].head->due < due)
            due = c->way[i].head->due;
    if (due == UINT64_MAX)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

/* Delivers, in order, every chunk of w that is due. */
static void way_pump(struct way *w)
{
    struct pconn *c = w->from->data;
    uint64_t now = uv_now(c->p->loop);
    while (c->state == OPEN && w->head && w->head->due <= now) {
        struct chunk *ch = w->head;
        if (!(w->head = ch->next))
            w->tail = NULL;
        c->held -= ch->len;
        way_deliver(w, ch);
    }
    if (c->state != OPEN)
        return;
    conn_arm_timer(c);
    way_update_reading(w);
}

static void on_timer(uv_timer_t *t)
{
    struct pconn *c = t->data;
    way_pump(&c->way[WAY_UP]);
    way_pump(&c->way[WAY_DOWN]);
}

/* Makes everything held due now and delivers it, in order, under the mode
 * just set. */
static void conn_release(struct pconn *c)
{
    uint64_t now = uv_now(c->p->loop);
    for (int i = 0; i < 2; i++)
        for (struct chunk *ch = c->way[i].head; ch; ch = ch->next)
            if (ch->due > now)
                ch->due = now;
    way_pump(&c->way[WAY_UP]);
    way_pump(&c->way[WAY_DOWN]);
}

/* ------------------------------------------------------------------ connections */

static void on_conn_closed(uv_handle_t *h)
{
    struct pconn *c = h->data;
    assert(c->state == CLOSING);
    if (--c->handles > 0)
        return;
    kks_proxy *p = c->p;
    free(c);
    proxy_unref(p);
}

static void conn_close(struct pconn *c)
{
    kks_proxy *p = c->p;
    if (c->state == CLOSING)
        return;
    c->state = CLOSING;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    p->st.open--;
    for (int i = 0; i < 2; i++) {
        struct chunk *ch = c->way[i].head, *next;
        for (; ch; ch = next) {
            next = ch->next;
            free(ch);
        }
        c->way[i].head = c->way[i].tail = NULL;
    }
    c->held = 0;
    /* libuv calls the pending connect, write and shutdown callbacks with
     * UV_ECANCELED before the close callbacks: c outlives them all. */
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->down, on_conn_closed);
    uv_close((uv_handle_t *)&c->up, on_conn_closed);
}

static void conn_open(struct pconn *c)
{
    assert(c->state == DIALING);
    c->state = OPEN;
    uv_tcp_nodelay(&c->down, 1);
    uv_tcp_nodelay(&c->up, 1);
    way_update_reading(&c->way[WAY_UP]);
    way_update_reading(&c->way[WAY_DOWN]);
}

static void on_dial(uv_connect_t *req, int status)
{
    struct pconn *c = req->data;
    if (status == UV_ECANCELED || c->state != DIALING)
        return;
    if (status < 0) {
        char target[KKS_ADDR_MAX];
        kks_addr_format((struct sockaddr *)&c->p->target, target, sizeof target);
        kks_debug("proxy: target unreachable; closing the client", "proxy", c->p->addr, "target",
                  target, "error", uv_strerror(status));
        c->p->st.connect_failed++;
        conn_close(c);
        return;
    }
    conn_open(c);
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Takes the connection off the backlog and closes it: the peer sees the link
 * drop as soon as it connects. */
static void refuse(kks_proxy *p, uv_stream_t *ls)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t)
        return;
    uv_tcp_init(p->loop, t);
    uv_accept(ls, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_closed);
}

static void on_connection(uv_stream_t *ls, int status)
{
    kks_proxy *p = ls->data;
    struct pconn *c;

    if (status < 0) {
        kks_warn("proxy: accept failed", "proxy", p->addr, "error", uv_strerror(status));
        return;
    }
    p->st.accepted++;
    if (p->mode == KKS_PROXY_CUT) {
        p->st.refused++;
        refuse(p, ls);
        return;
    }
    if (!(c = calloc(1, sizeof *c))) {
        kks_error("proxy: out of memory accepting a connection", "proxy", p->addr);
        refuse(p, ls);
        return;
    }
    c->p = p;
    c->state = DIALING;
    uv_tcp_init(p->loop, &c->down);
    uv_tcp_init(p->loop, &c->up);
    uv_timer_init(p->loop, &c->timer);
    c->down.data = c->up.data = c->timer.data = c;
    c->dial.data = c;
    c->handles = 3;
    c->way[WAY_UP].from = (uv_stream_t *)&c->down;
    c->way[WAY_UP].to = (uv_stream_t *)&c->up;
    c->way[WAY_DOWN].from = (uv_stream_t *)&c->up;
    c->way[WAY_DOWN].to = (uv_stream_t *)&c->down;
    p->refs++;
    p->st.open++;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    if (uv_accept(ls, (uv_stream_t *)&c->down) != 0 ||
        uv_tcp_connect(&c->dial, &c->up, (struct sockaddr *)&p->target, on_dial) != 0) {
        p->st.connect_failed++;
        conn_close(c);
    }
}

/* ------------------------------------------------------------------ proxy */

static void on_listener_closed(uv_handle_t *h)
{
    proxy_unref(h->data);
}

int kks_proxy_new(uv_loop_t *loop, const char *listen, const char *target, const kks_proxy_opts *o,
                  kks_proxy **out)
{
    struct sockaddr_storage sa;
    int len = sizeof sa, r;
    kks_proxy *p;

    *out = NULL;
    if (kks_addr_parse(listen, &sa) < 0)
        return KKS_EADDR;
    if (!(p = calloc(1, sizeof *p)))
        return KKS_ENOMEM;
    if (kks_addr_parse(target, &p->target) < 0) {
        free(p);
        return KKS_EADDR;
    }
    /* A peer that dies mid-write must be an error to handle, not a signal
     * that kills the process (as in kks_client_new). */
    signal(SIGPIPE, SIG_IGN);
    p->loop = loop;
    p->queue_max = o && o->queue_max ? o->queue_max : DEFAULT_QUEUE_MAX;
    p->mode = KKS_PROXY_PASS;
    p->refs = 1;
    uv_tcp_init(loop, &p->tcp);
    p->tcp.data = p;
    if ((r = uv_tcp_bind(&p->tcp, (struct sockaddr *)&sa, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&p->tcp, 128, on_connection)) != 0) {
        kks_error("proxy: cannot listen", "addr", listen, "error", uv_strerror(r));
        p->freeing = 1;
        uv_close((uv_handle_t *)&p->tcp, on_listener_closed);
        return KKS_EIO;
    }
    uv_tcp_getsockname(&p->tcp, (struct sockaddr *)&sa, &len);
    kks_addr_format((struct sockaddr *)&sa, p->addr, sizeof p->addr);
    *out = p;
    return 0;
}

const char *kks_proxy_address(const kks_proxy *p)
{
    return p->addr;
}

enum kks_proxy_mode kks_proxy_mode(const kks_proxy *p)
{
    return p->mode;
}

int kks_proxy_set(kks_proxy *p, enum kks_proxy_mode mode, unsigned delay_ms)
{
    struct pconn *c, *next;
    if ((unsigned)mode > KKS_PROXY_CUT || delay_ms > KKS_PROXY_DELAY_MAX_MS)
        return KKS_EINVAL;
    if (p->freeing)
        return 0;
    p->mode = mode;
    p->delay_ms = mode == KKS_PROXY_DELAY ? delay_ms : 0;
    for (c = p->conns; c; c = next) {
        next = c->next; /* only c itself can close below */
        if (mode == KKS_PROXY_CUT) {
            p->st.cut++;
            conn_close(c);
        } else if (mode != KKS_PROXY_DELAY && c->state == OPEN) {
            conn_release(c);
        }
    }
    return 0;
}

void kks_proxy_stats_get(const kks_proxy *p, kks_proxy_stats *out)
{
    *out = p->st;
    out->held = 0;
    for (const struct pconn *c = p->conns; c; c = c->next)
        out->held += c->held + uv_stream_get_write_queue_size((uv_stream_t *)&c->down) +
                     uv_stream_get_write_queue_size((uv_stream_t *)&c->up);
}

void kks_proxy_free(kks_proxy *p)
{
    if (!p || p->freeing)
        return;
    p->freeing = 1;
    while (p->conns)
        conn_close(p->conns);
    uv_close((uv_handle_t *)&p->tcp, on_listener_closed);
}
