/* Connections, servers and clients: see kks_net.h for the state picture. */
#include "kks_net.h"

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "kks_err.h"
#include "kks_frame.h"
#include "kks_json.h"
#include "kks_log.h"
#include "kks_metrics.h"

#define HIGH_WATER (1u << 20)
#define LOW_WATER (256u << 10)
#define DEFAULT_HANDSHAKE_MS 10000u
#define DEFAULT_IDLE_MS 300000u
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
#define SWEEP_MS 50u
#define SHUTDOWN_MS 5000u

/* ------------------------------------------------------------------ addresses */

int kks_addr_parse(const char *text, struct sockaddr_storage *out)
{
    char host[64];
    const char *colon;
    char *end;
    long port;
    size_t hl;

    memset(out, 0, sizeof *out);
    if (!text)
        return KKS_EADDR;
    if (text[0] == '[') {
        const char *rb = strchr(text, ']');
        if (!rb || rb[1] != ':')
            return KKS_EADDR;
        hl = (size_t)(rb - text - 1);
        if (hl == 0 || hl >= sizeof host)
            return KKS_EADDR;
        memcpy(host, text + 1, hl);
        colon = rb + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return KKS_EADDR;
        hl = (size_t)(colon - text);
        if (hl == 0 || hl >= sizeof host)
            return KKS_EADDR;
        memcpy(host, text, hl);
    }
    host[hl] = '\0';
    if (colon[1] == '\0')
        return KKS_EADDR;
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return KKS_EADDR;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return KKS_EADDR;
}

void kks_addr_format(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(buf, cap, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(buf, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(buf, cap, "?");
    }
}

/* ------------------------------------------------------------------ envelopes */

int kks_envelope_peek(const uint8_t *env, size_t len, size_t *body_off)
{
    size_t i = 0;
    uint64_t tag = 0;
    /* the id: field 1, a varint, written first when it is not 0 */
    if (len > 0 && env[0] == 0x08) {
        for (i = 1; i < len && (env[i] & 0x80); i++)
            ;
        if (i++ >= len)
            return 0;
    }
    if (body_off)
        *body_off = i;
    for (int shift = 0; i < len && shift < 64; shift += 7, i++) {
        tag |= (uint64_t)(env[i] & 0x7f) << shift;
        if (!(env[i] & 0x80))
            return tag >> 3 <= KKS__ENVELOPE__BODY_SETTLE_REPLY && (tag & 7) == 2 ? (int)(tag >> 3)
                                                                                   : 0;
    }
    return 0;
}

const char *kks_envelope_kind(int body_case)
{
    const ProtobufCFieldDescriptor *f =
        body_case > 1 ? protobuf_c_message_descriptor_get_field(&kks__envelope__descriptor,
                                                                (unsigned)body_case)
                      : NULL;
    return f ? f->name : "unknown";
}

/* ------------------------------------------------------------------ connection */

typedef struct conn_ops {
    /* peer_rc: result of reading the peer certificate. Return <0 to refuse. */
    int (*on_ready)(kks_conn *c, int peer_rc);
    void (*on_envelope)(kks_conn *c, const Kks__Envelope *env);
    void (*on_close)(kks_conn *c, int err);
} conn_ops;

struct kks_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake, then idle (server side) */
    uv_prepare_t prep; /* pushes what this loop iteration queued, before the loop sleeps */
    uint8_t *out;      /* framed plaintext waiting for that push */
    size_t out_len, out_cap;
    SSL *ssl;
    BIO *rbio, *wbio;
    kks_framer fr;
    const conn_ops *ops;
    void *owner;
    kks_conn *prev, *next; /* server's list */
    int refs;
    int handles;
    unsigned closing : 1, ready : 1, reading : 1, shutting : 1, hold : 1, is_server : 1,
        memory : 1;
    unsigned refusing : 1; /* a protocol error: answering what was read, then closing */
    int hs_slot;           /* server side: index in the handshakes in progress, or -1 */
    struct sockaddr_storage peer_sa;
    unsigned role;
    size_t send_max; /* the peer's frame cap: a larger reply is answered with an Error */
    unsigned inflight;
    unsigned idle_ms;
    uint64_t last_active;
    char peer[KKS_ADDR_MAX];
    char identity[KKS_ID_MAX];
};

struct wreq {
    uv_write_t req;
    kks_conn *c;
    char data[];
};

static void conn_close(kks_conn *c, int err);
static void conn_pump(kks_conn *c);
static void on_timer(uv_timer_t *t);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

void kks_conn_ref(kks_conn *c)
{
    c->refs++;
}

void kks_conn_unref(kks_conn *c)
{
    assert(c->refs > 0);
    if (--c->refs > 0)
        return;
    SSL_free(c->ssl); /* frees the BIOs too */
    kks_framer_close(&c->fr);
    free(c->out);
    free(c);
}

unsigned kks_conn_role(const kks_conn *c)
{
    return c->role;
}

const char *kks_conn_identity(const kks_conn *c)
{
    return c->identity;
}

const char *kks_conn_peer(const kks_conn *c)
{
    return c->peer;
}

static void conn_handle_closed(uv_handle_t *h)
{
    kks_conn *c = h->data;
    if (--c->handles == 0)
        kks_conn_unref(c); /* the reference the open connection held */
}

static kks_conn *conn_new(uv_loop_t *loop, SSL_CTX *ctx, int is_server, const conn_ops *ops,
                          void *owner)
{
    kks_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ssl = SSL_new(ctx);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        SSL_free(c->ssl);
        free(c);
        return NULL;
    }
    BIO_set_mem_eof_return(c->rbio, -1); /* empty means "want more", not EOF */
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    if (is_server)
        SSL_set_accept_state(c->ssl);
    else
        SSL_set_connect_state(c->ssl);
    kks_framer_init(&c->fr, KKS_FRAME_MAX);
    c->send_max = KKS_FRAME_MAX;
    c->hs_slot = -1;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    uv_prepare_init(loop, &c->prep);
    c->tcp.data = c;
    c->timer.data = c;
    c->prep.data = c;
    c->handles = 3;
    c->refs = 1;
    c->ops = ops;
    c->owner = owner;
    c->is_server = is_server != 0;
    snprintf(c->peer, sizeof c->peer, "?");
    return c;
}

static void conn_update_reading(kks_conn *c)
{
    size_t wq;
    if (c->closing || c->shutting || c->refusing)
        return;
    wq = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (c->reading) {
        if (c->hold || wq > HIGH_WATER || c->inflight >= KKS_CONN_MAX_INFLIGHT) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = 0;
        }
    } else if (!c->hold && wq <= LOW_WATER && c->inflight < KKS_CONN_MAX_INFLIGHT / 2) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = 1;
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    kks_conn *c = w->c;
    free(w);
    if (status == UV_ECANCELED)
        return;
    if (status < 0) {
        if (!c->closing)
            kks_warn("socket write failed; closing", "peer", c->peer, "identity", c->identity,
                     "error", uv_strerror(status));
        conn_close(c, KKS_EIO);
        return;
    }
    conn_update_reading(c);
}

/* Moves whatever TLS produced to the socket. */
static int conn_flush(kks_conn *c)
{
    size_t n;
    if (c->closing)
        return KKS_ECLOSED;
    while ((n = BIO_ctrl_pending(c->wbio)) > 0) {
        struct wreq *w = malloc(sizeof *w + n);
        int got;
        uv_buf_t b;
        if (!w) {
            kks_error("out of memory writing to a peer; closing", "peer", c->peer);
            conn_close(c, KKS_ENOMEM);
            return KKS_ENOMEM;
        }
        got = BIO_read(c->wbio, w->data, (int)n);
        if (got <= 0) {
            free(w);
            break;
        }
        w->c = c;
        b = uv_buf_init(w->data, (unsigned)got);
        int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (r != 0) {
            free(w);
            kks_warn("socket write failed; closing", "peer", c->peer, "identity", c->identity,
                     "error", uv_strerror(r));
            conn_close(c, KKS_EIO);
            return KKS_EIO;
        }
    }
    conn_update_reading(c);
    return 0;
}

/* Writes everything queued this iteration as one TLS write and one socket
 * write: under load many replies and issuer requests share a record and a
 * syscall. Runs from the prepare phase, before the loop sleeps, and before
 * a shutdown. */
static int conn_push(kks_conn *c)
{
    size_t n = c->out_len;
    uv_prepare_stop(&c->prep);
    if (c->closing || n == 0)
        return 0;
    c->out_len = 0;
    if (SSL_write(c->ssl, c->out, (int)n) <= 0) {
        char e[256];
        kks_warn("tls write failed", "peer", c->peer, "error", kks_tls_errstr(e, sizeof e));
        conn_close(c, KKS_ETLS);
        return KKS_ETLS;
    }
    return conn_flush(c);
}

static void on_prepare(uv_prepare_t *h)
{
    conn_push(h->data);
}

/* Room for n more bytes at the end of the queue; NULL when out of memory. */
static uint8_t *conn_reserve(kks_conn *c, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 16384;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *nb = realloc(c->out, cap);
        if (!nb)
            return NULL;
        c->out = nb;
        c->out_cap = cap;
    }
    if (!c->memory && !uv_is_active((uv_handle_t *)&c->prep))
        uv_prepare_start(&c->prep, on_prepare);
    uint8_t *p = c->out + c->out_len;
    c->out_len += n;
    return p;
}

/* Queues bytes already framed. */
static int conn_queue(kks_conn *c, const uint8_t *p, size_t n)
{
    uint8_t *dst;
    if (c->closing || c->shutting)
        return KKS_ECLOSED;
    if (!(dst = conn_reserve(c, n)))
        return KKS_ENOMEM;
    memcpy(dst, p, n);
    return c->out_len > HIGH_WATER ? conn_push(c) : 0;
}

/* Frames an Envelope (env packed here, or already packed) and queues it. */
static int conn_send_bytes(kks_conn *c, const Kks__Envelope *env, const uint8_t *packed,
                           size_t len)
{
    size_t n = env ? kks__envelope__get_packed_size(env) : len;
    uint8_t *dst;

    if (c->closing || c->shutting)
        return KKS_ECLOSED;
    if (n == 0 || n > c->send_max)
        return KKS_ETOOBIG;
    if (!(dst = conn_reserve(c, n + KKS_FRAME_HDR)))
        return KKS_ENOMEM;
    kks_frame_header(dst, (uint32_t)n);
    if (env)
        kks__envelope__pack(env, dst + KKS_FRAME_HDR);
    else
        memcpy(dst + KKS_FRAME_HDR, packed, n);
    return c->out_len > HIGH_WATER ? conn_push(c) : 0;
}

static int conn_send(kks_conn *c, const Kks__Envelope *env)
{
    return conn_send_bytes(c, env, NULL, 0);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    kks_conn *c = req->data;
    free(req);
    conn_close(c, KKS_ECLOSED);
}

/* Closes once what is queued has been written: TLS close_notify, then FIN. */
static void conn_shutdown(kks_conn *c)
{
    uv_shutdown_t *req;
    if (c->closing || c->shutting)
        return;
    conn_push(c); /* what is queued goes before close_notify */
    if (c->closing)
        return;
    if (c->ready)
        SSL_shutdown(c->ssl);
    conn_flush(c);
    if (c->closing)
        return;
    c->shutting = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    /* a peer that never reads would hold the shutdown (and a drain) forever */
    uv_timer_start(&c->timer, on_timer, SHUTDOWN_MS, 0);
    req = malloc(sizeof *req);
    if (!req) {
        conn_close(c, KKS_ENOMEM);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        conn_close(c, KKS_ECLOSED);
    }
}

/* Closes the three handles; the conn is freed when they have closed and no
 * reference is left. */
static void conn_close_handles(kks_conn *c)
{
    c->closing = 1;
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&c->prep, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

int kks_conn_closed(const kks_conn *c)
{
    return c->closing;
}

static void conn_close(kks_conn *c, int err)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->reading = 0;
    if (c->ops->on_close)
        c->ops->on_close(c, err);
    conn_close_handles(c);
}

/* Tells the peer why, then closes: for frames we refuse and roles we refuse.
 * Requests read before the bad frame are still being answered (a reply held
 * for a group commit, a request waiting for the issuer): the connection stops
 * reading and closes once the last of them is answered (conn_reply), or after
 * SHUTDOWN_MS, so that their replies are not dropped. */
static void conn_refuse(kks_conn *c, uint64_t id, int code, const char *why)
{
    Kks__Envelope env = KKS__ENVELOPE__INIT;
    Kks__Error er = KKS__ERROR__INIT;
    int rc;
    er.code = code;
    er.message = (char *)why;
    env.id = id;
    env.body_case = KKS__ENVELOPE__BODY_ERROR;
    env.error = &er;
    if ((rc = conn_send(c, &env)) < 0 && !c->closing)
        kks_warn("cannot tell the peer why it is refused", "peer", c->peer, "error",
                 kks_strerror(rc));
    if (c->closing || c->shutting)
        return;
    if (c->is_server && c->ready && c->inflight > 0) {
        char n[16];
        snprintf(n, sizeof n, "%u", c->inflight);
        kks_info("answering the requests read before closing", "peer", c->peer, "requests", n);
        c->refusing = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        uv_timer_start(&c->timer, on_timer, SHUTDOWN_MS, 0);
        return;
    }
    conn_shutdown(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    /* read_cb consumes the bytes before returning, so one buffer serves all. */
    static char buf[65536];
    *b = uv_buf_init(buf, sizeof buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    kks_conn *c = s->data;
    if (n < 0) {
        if (kks_framer_pending(&c->fr) > 0) {
            kks_metric_add(KKS_M_PROTO_ERRORS, 1);
            kks_warn("connection closed inside a frame", "peer", c->peer, "error",
                     kks_strerror(KKS_ETRUNCATED));
        }
        conn_close(c, n == UV_EOF ? KKS_ECLOSED : KKS_EIO);
        return;
    }
    if (n == 0)
        return;
    c->last_active = uv_now(c->tcp.loop);
    if (BIO_write(c->rbio, b->base, (int)n) != (int)n) {
        conn_close(c, KKS_ENOMEM);
        return;
    }
    conn_pump(c);
}

/* Unpacking allocates from an arena that is emptied after each frame: an
 * enrolment batch is tens of thousands of small strings, and malloc/free of
 * each one was a quarter of the issuer's time. Handlers must not keep
 * pointers into a request after their callback returns (kks_request_cb). */
struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    _Alignas(16) uint8_t mem[];
};

static struct arena_chunk *arena;

static void *arena_alloc(void *ud, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (!arena || arena->cap - arena->used < size) {
        size_t cap = size > (256u << 10) ? size : (256u << 10);
        struct arena_chunk *ch = malloc(sizeof *ch + cap);
        if (!ch)
            return NULL;
        ch->next = arena;
        ch->cap = cap;
        ch->used = 0;
        arena = ch;
    }
    void *p = arena->mem + arena->used;
    arena->used += size;
    return p;
}

static void arena_free(void *ud, void *p)
{
}

/* Keeps one chunk for the next frame; frees the rest. */
static void arena_reset(void)
{
    if (!arena)
        return;
    while (arena->next) {
        struct arena_chunk *n = arena->next;
        arena->next = n->next;
        free(n);
    }
    arena->used = 0;
}

static ProtobufCAllocator arena_allocator = {arena_alloc, arena_free, NULL};

/* 1 when every string field of m (and of the messages in it) is valid UTF-8:
 * protobuf-c does not check, and a string stored and echoed back would make a
 * strict peer fail to decode our reply. */
static int pb_utf8_ok(const ProtobufCMessage *m, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > 32)
        return 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) { /* only the member set */
            uint32_t which = *(const uint32_t *)((const char *)m + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            void *const *v = *(void *const *const *)base;
            for (size_t k = 0; k < n; k++)
                if (f->type == PROTOBUF_C_TYPE_STRING ? !kks_utf8_valid(v[k])
                                                       : !pb_utf8_ok(v[k], depth + 1))
                    return 0;
            continue;
        }
        const void *v = *(const void *const *)base;
        if (!v)
            continue;
        if (f->type == PROTOBUF_C_TYPE_STRING ? !kks_utf8_valid(v) : !pb_utf8_ok(v, depth + 1))
            return 0;
    }
    return 1;
}

static int conn_on_frame(void *ud, const uint8_t *data, size_t len)
{
    kks_conn *c = ud;
    Kks__Envelope *env;
    if (c->closing || c->shutting || c->refusing)
        return KKS_ECLOSED;
    env = kks__envelope__unpack(&arena_allocator, len, data);
    if (!env || !pb_utf8_ok(&env->base, 0)) { /* not an Envelope, or text that is not UTF-8 */
        arena_reset();
        return KKS_EPROTO;
    }
    c->ops->on_envelope(c, env);
    arena_reset();
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    kks_conn *c = t->data;
    uint64_t idle;
    if (c->shutting) {
        kks_warn("peer did not take the end of the connection; closing", "peer", c->peer);
        conn_close(c, KKS_ETIMEDOUT);
        return;
    }
    if (c->refusing) {
        char n[16];
        snprintf(n, sizeof n, "%u", c->inflight);
        kks_warn("closing a refused connection with requests still unanswered", "peer", c->peer,
                 "requests", n);
        conn_shutdown(c);
        return;
    }
    if (!c->ready) {
        kks_warn("tls handshake timed out", "peer", c->peer);
        kks_metric_add(KKS_M_CONN_REFUSED, c->is_server);
        conn_close(c, KKS_ETIMEDOUT);
        return;
    }
    idle = uv_now(c->tcp.loop) - c->last_active;
    if (c->inflight > 0 && idle >= c->idle_ms) {
        /* a peer waiting for our answer (a ledger check takes minutes) is
         * not idle: look again later */
        uv_timer_start(&c->timer, on_timer, c->idle_ms, 0);
    } else if (idle >= c->idle_ms) {
        kks_info("closing idle connection", "peer", c->peer, "identity", c->identity);
        conn_shutdown(c);
    } else {
        uv_timer_start(&c->timer, on_timer, c->idle_ms - idle, 0);
    }
}

static void conn_handshake_done(kks_conn *c)
{
    int rc = kks_tls_peer(c->ssl, &c->role, c->identity);
    c->ready = 1;
    uv_timer_stop(&c->timer);
    rc = c->ops->on_ready(c, rc);
    if (rc < 0) {
        if (c->is_server) {
            char why[160];
            snprintf(why, sizeof why, "refused: %s (role %s)", kks_strerror(rc),
                     kks_role_name(c->role));
            conn_refuse(c, 0, rc, why);
        } else {
            conn_close(c, rc);
        }
        return;
    }
    if (c->idle_ms)
        uv_timer_start(&c->timer, on_timer, c->idle_ms, 0);
}

static void conn_pump(kks_conn *c)
{
    kks_conn_ref(c);
    if (!c->ready) {
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            conn_flush(c); /* the next handshake flight, or an alert */
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE && !c->closing) {
                char err[256];
                kks_warn(c->is_server ? "peer refused: tls handshake failed"
                                      : "tls handshake failed",
                         "peer", c->peer, "error", kks_tls_errstr(err, sizeof err));
                kks_metric_add(KKS_M_CONN_REFUSED, c->is_server);
                conn_close(c, KKS_ETLS);
            }
            goto out;
        }
        conn_flush(c);
        if (c->closing)
            goto out;
        conn_handshake_done(c);
    }
    while (!c->closing && !c->shutting && !c->refusing) {
        uint8_t buf[16384];
        int r = SSL_read(c->ssl, buf, sizeof buf);
        if (r > 0) {
            int rc = kks_framer_feed(&c->fr, buf, (size_t)r, conn_on_frame, c);
            if (rc < 0) {
                if (!c->closing && !c->shutting && !c->refusing) {
                    kks_metric_add(KKS_M_PROTO_ERRORS, 1);
                    kks_warn("protocol error, closing", "peer", c->peer, "identity",
                             c->identity, "error", kks_strerror(rc));
                    conn_refuse(c, 0, rc, kks_strerror(rc));
                }
                break;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            conn_close(c, KKS_ECLOSED);
        } else {
            char err[256];
            kks_tls_errstr(err, sizeof err);
            if (!c->is_server)
                kks_debug("tls read failed", "peer", c->peer, "error", err);
            conn_close(c, KKS_ETLS);
        }
        break;
    }
    if (!c->closing)
        conn_flush(c);
out:
    kks_conn_unref(c);
}

static void conn_start(kks_conn *c, unsigned handshake_ms)
{
    c->last_active = uv_now(c->tcp.loop);
    uv_timer_start(&c->timer, on_timer, handshake_ms ? handshake_ms : DEFAULT_HANDSHAKE_MS, 0);
    uv_tcp_nodelay(&c->tcp, 1);
    conn_update_reading(c);
    if (!c->is_server)
        conn_pump(c); /* ClientHello */
}

/* ------------------------------------------------------------------ server */

struct kks_server {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_timer_t drain_timer;
    uv_timer_t trim_timer;
    SSL_CTX *ctx;
    kks_server_opts o;
    kks_conn *conns;
    /* TLS handshakes in progress: each costs ~47 KiB before the peer has
     * proved anything, so their number is bounded, in all and per address */
    kks_conn **hs;
    unsigned nhs, max_hs, max_hs_addr;
    uint64_t refused_hs, closed_since_trim;
    uint64_t inflight;
    int draining, drained;
    void (*drain_done)(void *);
    void *drain_ud;
    char addr[KKS_ADDR_MAX];
};

/* ---- the handshake budget ---- */

#define HS_MAX_DEFAULT 1024     /* handshakes in progress, in all (~47 KiB each) */
#define HS_MAX_ADDR_DEFAULT 256 /* ... from one address */
#define TRIM_MS 10000
#define TRIM_AFTER 256 /* connections closed since the last trim */

static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return 0;
}

static void hs_remove(kks_server *s, kks_conn *c)
{
    if (c->hs_slot < 0)
        return;
    kks_conn *last = s->hs[--s->nhs];
    s->hs[c->hs_slot] = last;
    last->hs_slot = c->hs_slot;
    c->hs_slot = -1;
}

/* Returns 0 when the budget has room for c's handshake (and counts it), or
 * -1 with the reason logged. */
static int hs_admit(kks_server *s, kks_conn *c)
{
    unsigned same = 0;
    if (s->nhs >= s->max_hs)
        return -1;
    for (unsigned i = 0; i < s->nhs; i++)
        same += same_host(&s->hs[i]->peer_sa, &c->peer_sa);
    if (same >= s->max_hs_addr)
        return -1;
    c->hs_slot = (int)s->nhs;
    s->hs[s->nhs++] = c;
    return 0;
}

static void hs_refused(kks_server *s, const char *peer, const char *why)
{
    kks_metric_add(KKS_M_CONN_REFUSED, 1);
    /* a flood would flood the log too: the first, then every 1,000th */
    if (s->refused_hs++ % 1000 == 0) {
        char n[24];
        snprintf(n, sizeof n, "%" PRIu64, s->refused_hs);
        kks_warn("connection refused before its handshake", "peer", peer, "why", why,
                 "refused_so_far", n);
    }
}

/* Freed memory goes back to the system after many connections closed (a
 * flood's handshakes), not kept by the allocator for ever. */
static void on_trim(uv_timer_t *t)
{
    kks_server *s = t->data;
    if (s->closed_since_trim >= TRIM_AFTER) {
        s->closed_since_trim = 0;
        malloc_trim(0);
    }
}

static int server_on_ready(kks_conn *c, int rc)
{
    kks_server *s = c->owner;
    hs_remove(s, c);
    if (rc == 0 && !(c->role & s->o.accept_roles))
        rc = KKS_EPEERROLE;
    if (rc < 0) {
        kks_metric_add(KKS_M_CONN_REFUSED, 1);
        kks_warn("peer refused", "peer", c->peer, "role", kks_role_name(c->role), "identity",
                 c->identity, "error", kks_strerror(rc));
        return rc;
    }
    if (c->role == KKS_ROLE_OPERATOR)
        c->fr.max = KKS_FRAME_MAX_BULK;
    c->send_max = c->fr.max; /* what the peer may send, it may be sent */
    c->idle_ms = s->o.idle_ms ? s->o.idle_ms : DEFAULT_IDLE_MS;
    kks_debug("peer accepted", "peer", c->peer, "role", kks_role_name(c->role), "identity",
              c->identity);
    return 0;
}

static void server_on_envelope(kks_conn *c, const Kks__Envelope *env)
{
    kks_server *s = c->owner;
    kks_metric_add(KKS_M_REQUESTS, 1);
    kks_metric_add(KKS_M_INFLIGHT, 1);
    c->inflight++;
    s->inflight++;
    if (s->draining) {
        kks_conn_reply_error(c, env->id, KKS_ESHUTDOWN, kks_strerror(KKS_ESHUTDOWN));
        return;
    }
    s->o.on_request(c, env, s->o.ud);
    conn_update_reading(c);
}

static void server_on_close(kks_conn *c, int err)
{
    kks_server *s = c->owner;
    hs_remove(s, c);
    s->closed_since_trim++;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    kks_metric_add(KKS_M_CONN_OPEN, -1);
}

static const conn_ops server_ops = {server_on_ready, server_on_envelope, server_on_close};

static void server_finish_drain(kks_server *s)
{
    kks_conn *c, *next;
    if (s->drained)
        return;
    s->drained = 1;
    uv_timer_stop(&s->drain_timer);
    if (s->inflight)
        kks_warn("drain timed out with requests unanswered");
    for (c = s->conns; c; c = next) {
        next = c->next;
        conn_shutdown(c);
    }
    uv_close((uv_handle_t *)&s->drain_timer, NULL);
    if (s->drain_done)
        s->drain_done(s->drain_ud);
}

/* ---- in-memory connections: a peer for handlers driven without sockets ---- */

kks_conn *kks_conn_memory_new(unsigned role, const char *identity)
{
    kks_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->memory = 1;
    c->refs = 1;
    c->role = role;
    snprintf(c->identity, sizeof c->identity, "%s", identity);
    snprintf(c->peer, sizeof c->peer, "memory");
    return c;
}

/* Appends the reply as a frame (header + Envelope with its id) to c->out. */
static int memory_reply(kks_conn *c, uint64_t id, Kks__Envelope *rep, const uint8_t *packed,
                        size_t len)
{
    Kks__Envelope *e = rep;
    uint8_t *dst;
    size_t n;
    if (!e && !(e = kks__envelope__unpack(NULL, len, packed)))
        return KKS_EPROTO;
    e->id = id;
    n = kks__envelope__get_packed_size(e);
    if ((dst = conn_reserve(c, n + KKS_FRAME_HDR))) {
        kks_frame_header(dst, (uint32_t)n);
        kks__envelope__pack(e, dst + KKS_FRAME_HDR);
    }
    if (e != rep)
        kks__envelope__free_unpacked(e, NULL);
    return dst ? 0 : KKS_ENOMEM;
}

Kks__Envelope *kks_conn_memory_take(kks_conn *c)
{
    uint32_t n;
    Kks__Envelope *e;
    if (!c->memory || c->out_len < KKS_FRAME_HDR)
        return NULL;
    n = (uint32_t)c->out[0] << 24 | (uint32_t)c->out[1] << 16 | (uint32_t)c->out[2] << 8 |
        c->out[3];
    e = kks__envelope__unpack(NULL, n, c->out + KKS_FRAME_HDR);
    memmove(c->out, c->out + KKS_FRAME_HDR + n, c->out_len - KKS_FRAME_HDR - n);
    c->out_len -= KKS_FRAME_HDR + n;
    return e;
}

/* Logs a reply that cannot go out as it is, with the request: id, body kind
 * and size, never its content (no PAN, no PIN block). */
static void reply_trouble(const kks_conn *c, uint64_t id, const Kks__Envelope *rep,
                          const uint8_t *packed, size_t len, const char *what, int rc)
{
    char ids[24], size[24], cap[24];
    int body = rep ? (int)rep->body_case : kks_envelope_peek(packed, len, NULL);
    snprintf(ids, sizeof ids, "%" PRIu64, id);
    snprintf(size, sizeof size, "%zu", rep ? kks__envelope__get_packed_size(rep) : len);
    snprintf(cap, sizeof cap, "%zu", c->send_max);
    kks_log(rc == KKS_ECLOSED ? KKS_LOG_WARN : KKS_LOG_ERROR, what, "peer", c->peer, "identity",
            c->identity, "id", ids, "body", kks_envelope_kind(body), "size", size, "cap", cap,
            "error", kks_strerror(rc), (char *)0);
}

static int conn_reply(kks_conn *c, uint64_t id, Kks__Envelope *rep, const uint8_t *packed,
                      size_t len)
{
    kks_server *s = c->owner;
    int rc;
    if (c->memory)
        return memory_reply(c, id, rep, packed, len);
    assert(c->is_server && c->inflight > 0 && s->inflight > 0);
    c->inflight--;
    s->inflight--;
    kks_metric_add(KKS_M_INFLIGHT, -1);
    if (c->closing || c->shutting) {
        rc = KKS_ECLOSED;
        reply_trouble(c, id, rep, packed, len, "reply not sent: the connection is closed", rc);
    } else {
        if (rep)
            rep->id = id;
        rc = conn_send_bytes(c, rep, packed, len);
        if (rc == KKS_ETOOBIG || rc == KKS_ENOMEM) {
            /* Never vanish: the peer is told, and the log says which reply. */
            Kks__Envelope er = KKS__ENVELOPE__INIT;
            Kks__Error e = KKS__ERROR__INIT;
            char msg[160];
            reply_trouble(c, id, rep, packed, len,
                          rc == KKS_ETOOBIG ? "reply larger than the peer's frame cap; answered "
                                              "with an Error"
                                            : "no memory to send a reply; answered with an Error",
                          rc);
            if (rc == KKS_ETOOBIG)
                snprintf(msg, sizeof msg,
                         "the reply was too large to send (%zu bytes; a frame may hold %zu); "
                         "nothing of it was sent",
                         rep ? kks__envelope__get_packed_size(rep) : len, c->send_max);
            else
                snprintf(msg, sizeof msg, "out of memory sending the reply");
            e.code = rc;
            e.message = msg;
            er.id = id;
            er.body_case = KKS__ENVELOPE__BODY_ERROR;
            er.error = &e;
            if (conn_send(c, &er) < 0 && !c->closing) {
                kks_error("cannot send even an Error; closing so that the peer knows", "peer",
                          c->peer);
                conn_close(c, KKS_ENOMEM);
            }
        } else if (rc < 0) {
            reply_trouble(c, id, rep, packed, len, "reply lost: the connection failed", rc);
        }
        if (!c->closing) {
            conn_update_reading(c);
            if (c->refusing && c->inflight == 0)
                conn_shutdown(c); /* the last reply before the refusal closes */
        }
    }
    if (s->draining && s->inflight == 0)
        server_finish_drain(s);
    return rc;
}

int kks_conn_reply(kks_conn *c, uint64_t id, Kks__Envelope *rep)
{
    return conn_reply(c, id, rep, NULL, 0);
}

int kks_conn_reply_error(kks_conn *c, uint64_t id, int code, const char *msg)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Error er = KKS__ERROR__INIT;
    er.code = code;
    er.message = (char *)msg;
    rep.body_case = KKS__ENVELOPE__BODY_ERROR;
    rep.error = &er;
    return kks_conn_reply(c, id, &rep);
}

int kks_conn_reply_packed(kks_conn *c, uint64_t id, const uint8_t *env, size_t len)
{
    return conn_reply(c, id, NULL, env, len);
}

static void on_connection(uv_stream_t *ls, int status)
{
    kks_server *s = ls->data;
    struct sockaddr_storage sa;
    int len = sizeof sa;
    kks_conn *c;

    if (status < 0) {
        kks_warn("accept failed", "error", uv_strerror(status));
        return;
    }
    if (s->nhs >= s->max_hs) { /* full: no TLS state at all for this one */
        uv_tcp_t *t = malloc(sizeof *t);
        if (t && uv_tcp_init(s->loop, t) == 0) {
            if (uv_accept(ls, (uv_stream_t *)t) == 0)
                hs_refused(s, "", "too many handshakes in progress");
            uv_close((uv_handle_t *)t, (uv_close_cb)free);
        } else
            free(t);
        return;
    }
    c = conn_new(s->loop, s->ctx, 1, &server_ops, s);
    if (!c) {
        kks_error("out of memory accepting a connection");
        return;
    }
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        conn_close_handles(c);
        return;
    }
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        kks_addr_format((struct sockaddr *)&sa, c->peer, sizeof c->peer);
        c->peer_sa = sa;
    }
    if (hs_admit(s, c) < 0) {
        hs_refused(s, c->peer, "too many handshakes in progress from this address");
        conn_close_handles(c);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    kks_metric_add(KKS_M_CONN_ACCEPTED, 1);
    kks_metric_add(KKS_M_CONN_OPEN, 1);
    conn_start(c, s->o.handshake_ms);
}

int kks_server_new(uv_loop_t *loop, SSL_CTX *ctx, const char *addr, const kks_server_opts *o,
                   kks_server **out)
{
    struct sockaddr_storage sa;
    int len = sizeof sa, r;
    kks_server *s;

    *out = NULL;
    if (kks_addr_parse(addr, &sa) < 0)
        return KKS_EADDR;
    if (!(s = calloc(1, sizeof *s)))
        return KKS_ENOMEM;
    s->loop = loop;
    s->ctx = ctx;
    s->o = *o;
    s->max_hs = o->max_handshakes ? o->max_handshakes : HS_MAX_DEFAULT;
    s->max_hs_addr = o->max_handshakes_per_addr ? o->max_handshakes_per_addr : HS_MAX_ADDR_DEFAULT;
    if (!(s->hs = calloc(s->max_hs, sizeof *s->hs))) {
        free(s);
        return KKS_ENOMEM;
    }
    uv_tcp_init(loop, &s->tcp);
    uv_timer_init(loop, &s->drain_timer);
    uv_timer_init(loop, &s->trim_timer);
    s->tcp.data = s;
    s->drain_timer.data = s;
    s->trim_timer.data = s;
    if ((r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&sa, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&s->tcp, 1024, on_connection)) != 0) {
        kks_error("cannot listen", "addr", addr, "error", uv_strerror(r));
        uv_close((uv_handle_t *)&s->tcp, NULL);
        uv_close((uv_handle_t *)&s->drain_timer, NULL);
        uv_close((uv_handle_t *)&s->trim_timer, NULL);
        uv_run(loop, UV_RUN_NOWAIT); /* run the close callbacks before freeing */
        free(s->hs);
        free(s);
        return KKS_ELISTEN;
    }
    uv_timer_start(&s->trim_timer, on_trim, TRIM_MS, TRIM_MS);
    uv_unref((uv_handle_t *)&s->trim_timer);
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&sa, &len);
    kks_addr_format((struct sockaddr *)&sa, s->addr, sizeof s->addr);
    *out = s;
    return 0;
}

const char *kks_server_address(const kks_server *s)
{
    return s->addr;
}

static void on_drain_timeout(uv_timer_t *t)
{
    server_finish_drain(t->data);
}

void kks_server_drain(kks_server *s, unsigned timeout_ms, void (*done)(void *), void *ud)
{
    kks_conn *c;
    if (s->draining)
        return;
    s->draining = 1;
    s->drain_done = done;
    s->drain_ud = ud;
    uv_close((uv_handle_t *)&s->tcp, NULL);
    uv_close((uv_handle_t *)&s->trim_timer, NULL);
    for (c = s->conns; c; c = c->next) {
        c->hold = 1;
        conn_update_reading(c);
    }
    if (s->inflight == 0)
        server_finish_drain(s);
    else
        uv_timer_start(&s->drain_timer, on_drain_timeout, timeout_ms, 0);
}

void kks_server_handshakes(const kks_server *s, unsigned *in_progress, uint64_t *refused)
{
    *in_progress = s->nhs;
    *refused = s->refused_hs;
}

void kks_server_free(kks_server *s)
{
    if (s)
        free(s->hs);
    free(s);
}

/* ------------------------------------------------------------------ client */

struct pending {
    uint64_t id; /* 0: free slot */
    kks_reply_cb cb;
    void *ud;
    uint64_t deadline;
    uint8_t *frame; /* packed, not yet sent (waiting for the connection) */
    size_t len;
};

enum client_state { CL_DOWN, CL_CONNECTING, CL_UP };

struct kks_client {
    uv_loop_t *loop;
    SSL_CTX *ctx;
    kks_client_opts o;
    struct sockaddr_storage sa;
    char addr[KKS_ADDR_MAX];
    kks_conn *conn;
    enum client_state state;
    uv_timer_t retry;
    uv_timer_t sweep;
    unsigned backoff_ms;
    struct pending *tab; /* ring indexed by id & (cap - 1) */
    size_t cap, count;
    uint64_t next_id;
    uint64_t last_rx;
    int heartbeat_out;
    int refused_code; /* from a server's Error with id 0 */
    int freeing, handles;
    char last_error[256];
    char peer_id[KKS_ID_MAX];
    SSL_SESSION *session; /* the server's last ticket: the next connection resumes */
    unsigned handshakes, resumed;
};

static void client_connect(kks_client *cl);
static void on_sweep(uv_timer_t *t);

static void client_set_error(kks_client *cl, const char *msg)
{
    snprintf(cl->last_error, sizeof cl->last_error, "%s", msg);
}

static int tab_insert(kks_client *cl, struct pending *p)
{
    while (cl->tab[p->id & (cl->cap - 1)].id != 0) {
        /* An old request still occupies the slot: grow until all fit. */
        size_t ncap = cl->cap * 2;
        struct pending *nt;
    regrow:
        nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return KKS_ENOMEM;
        for (size_t i = 0; i < cl->cap; i++) {
            if (!cl->tab[i].id)
                continue;
            struct pending *d = &nt[cl->tab[i].id & (ncap - 1)];
            if (d->id) {
                free(nt);
                ncap *= 2;
                goto regrow;
            }
            *d = cl->tab[i];
        }
        free(cl->tab);
        cl->tab = nt;
        cl->cap = ncap;
    }
    cl->tab[p->id & (cl->cap - 1)] = *p;
    if (cl->count++ == 0 && !cl->o.heartbeat_ms) {
        /* the sweep runs while something is pending: an idle client costs
         * nothing (thousands of held connections in a load test) */
        uv_ref((uv_handle_t *)&cl->sweep);
        uv_timer_start(&cl->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    }
    return 0;
}

/* Removes entry id and returns it in *out; 0 if found. */
static int tab_take(kks_client *cl, uint64_t id, struct pending *out)
{
    struct pending *p = &cl->tab[id & (cl->cap - 1)];
    if (id == 0 || p->id != id)
        return -1;
    *out = *p;
    memset(p, 0, sizeof *p);
    if (--cl->count == 0 && !cl->o.heartbeat_ms) {
        uv_unref((uv_handle_t *)&cl->sweep);
        uv_timer_stop(&cl->sweep);
    }
    return 0;
}

/* Fails every pending request (sent or waiting) with err. */
static void client_fail_all(kks_client *cl, int err)
{
    for (size_t i = 0; i < cl->cap; i++) {
        struct pending p;
        if (!cl->tab[i].id || tab_take(cl, cl->tab[i].id, &p) < 0)
            continue;
        free(p.frame);
        if (p.cb)
            p.cb(err, NULL, p.ud);
    }
}

static int client_on_ready(kks_conn *c, int rc)
{
    kks_client *cl = c->owner;
    if (rc == 0 && c->role != cl->o.expect_role)
        rc = KKS_EPEERROLE;
    if (rc < 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s: server certificate says role %s, expected %s",
                 kks_strerror(rc), kks_role_name(c->role), kks_role_name(cl->o.expect_role));
        client_set_error(cl, msg);
        kks_warn("server refused", "peer", cl->addr, "error", msg);
        return rc;
    }
    cl->state = CL_UP;
    cl->handshakes++;
    cl->resumed += SSL_session_reused(c->ssl) == 1;
    cl->backoff_ms = 0;
    cl->last_error[0] = '\0';
    cl->refused_code = 0;
    cl->last_rx = uv_now(cl->loop);
    snprintf(cl->peer_id, sizeof cl->peer_id, "%s", c->identity);
    kks_metric_add(KKS_M_LINK_UP, 1);
    /* Send what waited for the connection, oldest first. */
    for (size_t i = 0; i < cl->cap && !c->closing; i++) {
        struct pending *p = &cl->tab[i];
        if (!p->id || !p->frame)
            continue;
        if (conn_queue(c, p->frame, p->len) < 0) {
            conn_close(c, KKS_ENOMEM);
            break;
        }
        free(p->frame);
        p->frame = NULL;
    }
    return 0;
}

static void client_on_envelope(kks_conn *c, const Kks__Envelope *env)
{
    kks_client *cl = c->owner;
    struct pending p;
    cl->last_rx = uv_now(cl->loop);
    if (env->id == 0) {
        if (env->body_case == KKS__ENVELOPE__BODY_ERROR && env->error) {
            char msg[256];
            snprintf(msg, sizeof msg, "server said: %.200s",
                     env->error->message ? env->error->message : "");
            client_set_error(cl, msg);
            cl->refused_code = env->error->code < 0 ? env->error->code : KKS_EPROTO;
        }
        return;
    }
    if (tab_take(cl, env->id, &p) < 0)
        return; /* a reply after its timeout: dropped */
    free(p.frame);
    if (p.cb)
        p.cb(0, env, p.ud);
}

static void on_retry(uv_timer_t *t)
{
    client_connect(t->data);
}

static void client_on_close(kks_conn *c, int err)
{
    kks_client *cl = c->owner;
    if (!cl)
        return;
    if (cl->state == CL_UP)
        kks_metric_add(KKS_M_LINK_UP, -1);
    cl->conn = NULL;
    cl->state = CL_DOWN;
    c->owner = NULL;
    if (cl->refused_code)
        err = cl->refused_code;
    if (!cl->last_error[0])
        client_set_error(cl, kks_strerror(err));
    client_fail_all(cl, err);
    if (cl->o.reconnect && !cl->freeing) {
        cl->backoff_ms = cl->backoff_ms ? cl->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (cl->backoff_ms > BACKOFF_MAX_MS)
            cl->backoff_ms = BACKOFF_MAX_MS;
        uv_timer_start(&cl->retry, on_retry, cl->backoff_ms, 0);
    }
}

static const conn_ops client_ops = {client_on_ready, client_on_envelope, client_on_close};

static void on_connect(uv_connect_t *req, int status)
{
    kks_conn *c = req->data;
    free(req);
    if (status == UV_ECANCELED || c->closing)
        return;
    if (status < 0) {
        kks_debug("connect failed", "peer", c->peer, "error", uv_strerror(status));
        conn_close(c, status == UV_ECONNREFUSED ? KKS_ECONNREFUSED : KKS_EIO);
        return;
    }
    kks_client *cl = c->owner;
    conn_start(c, cl->o.handshake_ms);
}

static void client_connect(kks_client *cl)
{
    uv_connect_t *req;
    kks_conn *c;
    if (cl->freeing || cl->state != CL_DOWN)
        return;
    c = conn_new(cl->loop, cl->ctx, 0, &client_ops, cl);
    req = malloc(sizeof *req);
    if (!c || !req) {
        free(req);
        if (c)
            conn_close_handles(c);
        client_set_error(cl, kks_strerror(KKS_ENOMEM));
        return;
    }
    snprintf(c->peer, sizeof c->peer, "%s", cl->addr);
    SSL_set_app_data(c->ssl, c);
    if (cl->session)
        SSL_set_session(c->ssl, cl->session); /* resume; a full handshake if refused */
    /* Replies to operators' bulk requests (print batches) are up to 1 MiB. */
    c->fr.max = KKS_FRAME_MAX_BULK;
    cl->conn = c;
    cl->state = CL_CONNECTING;
    cl->refused_code = 0;
    cl->last_error[0] = '\0';
    req->data = c;
    int r = uv_tcp_connect(req, &c->tcp, (struct sockaddr *)&cl->sa, on_connect);
    if (r != 0) {
        free(req);
        conn_close(c, KKS_EIO);
    }
}

static void on_heartbeat_reply(int status, const Kks__Envelope *rep, void *ud)
{
    kks_client *cl = ud;
    cl->heartbeat_out = 0;
    if (status < 0 && cl->conn) {
        kks_warn("heartbeat failed, reconnecting", "peer", cl->addr, "error",
                 kks_strerror(status));
        conn_close(cl->conn, status);
    }
}

static void on_sweep(uv_timer_t *t)
{
    kks_client *cl = t->data;
    uint64_t now = uv_now(cl->loop);
    struct pending *tab = cl->tab;
    for (size_t i = 0; i < cl->cap; i++) {
        struct pending p;
        if (!cl->tab[i].id || cl->tab[i].deadline > now)
            continue;
        if (tab_take(cl, cl->tab[i].id, &p) < 0)
            continue;
        free(p.frame);
        if (p.cb)
            p.cb(KKS_ETIMEDOUT, NULL, p.ud);
        if (cl->tab != tab) { /* a callback sent more and the table grew */
            tab = cl->tab;
            i = (size_t)-1;
        }
    }
    if (cl->o.heartbeat_ms && cl->state == CL_UP && !cl->heartbeat_out &&
        now - cl->last_rx >= cl->o.heartbeat_ms) {
        Kks__Envelope env = KKS__ENVELOPE__INIT;
        Kks__Ping ping = KKS__PING__INIT;
        env.body_case = KKS__ENVELOPE__BODY_PING;
        env.ping = &ping;
        int rc = kks_client_call(cl, &env, cl->o.heartbeat_ms, on_heartbeat_reply, cl);
        if (rc == 0)
            cl->heartbeat_out = 1;
        else /* tried again at the next sweep */
            kks_warn("heartbeat not sent", "peer", cl->addr, "error", kks_strerror(rc));
    }
}

/* A session ticket from the server (TLS 1.3 sends them after the handshake):
 * kept by the client whose connection got it, for its next connection. */
static int client_on_session(SSL *ssl, SSL_SESSION *sess)
{
    kks_conn *c = SSL_get_app_data(ssl);
    kks_client *cl = c ? c->owner : NULL;
    SSL_SESSION *copy;
    if (!cl || !SSL_SESSION_is_resumable(sess) || !(copy = SSL_SESSION_dup(sess)))
        return 0;
    /* a copy: OpenSSL marks the connection's own session unusable when the
     * connection ends without a TLS close, as after a network drop */
    SSL_SESSION_free(cl->session);
    cl->session = copy;
    return 0;
}

int kks_client_has_session(const kks_client *cl)
{
    return cl->session != NULL;
}

void kks_client_tls_stats(const kks_client *cl, unsigned *handshakes, unsigned *resumed)
{
    *handshakes = cl->handshakes;
    *resumed = cl->resumed;
}

void kks_client_drop(kks_client *cl)
{
    if (cl->conn && !cl->freeing)
        conn_close(cl->conn, KKS_ECLOSED);
}

int kks_client_new(uv_loop_t *loop, SSL_CTX *ctx, const char *addr, const kks_client_opts *o,
                   kks_client **out)
{
    kks_client *cl;
    *out = NULL;
    /* A peer that dies mid-write must be an error to handle, not a signal
     * that kills the tool (libuv writes with write(2), which raises SIGPIPE). */
    signal(SIGPIPE, SIG_IGN);
    if (!(cl = calloc(1, sizeof *cl)))
        return KKS_ENOMEM;
    if (kks_addr_parse(addr, &cl->sa) < 0) {
        free(cl);
        return KKS_EADDR;
    }
    cl->cap = 64;
    if (!(cl->tab = calloc(cl->cap, sizeof *cl->tab))) {
        free(cl);
        return KKS_ENOMEM;
    }
    snprintf(cl->addr, sizeof cl->addr, "%s", addr);
    cl->loop = loop;
    cl->ctx = ctx;
    cl->o = *o;
    /* clients keep their own session (no cache in the shared context) */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, client_on_session);
    uv_timer_init(loop, &cl->retry);
    uv_timer_init(loop, &cl->sweep);
    cl->retry.data = cl;
    cl->sweep.data = cl;
    cl->handles = 2;
    if (o->heartbeat_ms) /* else started by the first pending request */
        uv_timer_start(&cl->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    else
        uv_unref((uv_handle_t *)&cl->sweep);
    client_connect(cl);
    *out = cl;
    return 0;
}

int kks_client_call(kks_client *cl, Kks__Envelope *req, unsigned timeout_ms, kks_reply_cb cb,
                    void *ud)
{
    struct pending p = {0};
    size_t n;
    uint8_t *buf;
    int rc;

    if (cl->freeing || cl->state == CL_DOWN)
        return KKS_ENOTCONN;
    req->id = ++cl->next_id;
    n = kks__envelope__get_packed_size(req);
    if (n == 0 || n > (cl->o.max_frame ? cl->o.max_frame : KKS_FRAME_MAX_BULK))
        return KKS_ETOOBIG;
    if (!(buf = malloc(n + KKS_FRAME_HDR)))
        return KKS_ENOMEM;
    kks_frame_header(buf, (uint32_t)n);
    kks__envelope__pack(req, buf + KKS_FRAME_HDR);
    p.id = req->id;
    p.cb = cb;
    p.ud = ud;
    p.deadline = uv_now(cl->loop) + timeout_ms;
    p.len = n + KKS_FRAME_HDR;
    if (cl->state == CL_UP) {
        int w = conn_queue(cl->conn, buf, p.len);
        free(buf);
        if (w < 0)
            return w == KKS_ECLOSED ? KKS_ENOTCONN : w;
    } else {
        p.frame = buf; /* sent once the handshake completes */
    }
    if ((rc = tab_insert(cl, &p)) < 0) {
        free(p.frame);
        return rc;
    }
    return 0;
}

struct waiter {
    int done, status;
    Kks__Envelope *rep;
};

static void on_wait_reply(int status, const Kks__Envelope *rep, void *ud)
{
    struct waiter *w = ud;
    w->done = 1;
    w->status = status;
    if (rep) {
        /* The reply is freed after this returns: keep a copy for the caller. */
        size_t n = kks__envelope__get_packed_size(rep);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) {
            w->status = KKS_ENOMEM;
            return;
        }
        kks__envelope__pack(rep, buf);
        w->rep = kks__envelope__unpack(NULL, n, buf);
        free(buf);
        if (!w->rep)
            w->status = KKS_ENOMEM;
    }
}

int kks_client_call_wait(kks_client *cl, Kks__Envelope *req, unsigned timeout_ms,
                         Kks__Envelope **reply)
{
    struct waiter w = {0};
    int rc;
    *reply = NULL;
    if ((rc = kks_client_call(cl, req, timeout_ms, on_wait_reply, &w)) < 0)
        return rc;
    while (!w.done)
        if (uv_run(cl->loop, UV_RUN_ONCE) == 0 && !w.done)
            return KKS_ECLOSED; /* nothing left that could answer */
    *reply = w.rep;
    return w.status;
}

int kks_client_is_up(const kks_client *cl)
{
    return cl->state == CL_UP;
}

const char *kks_client_address(const kks_client *cl)
{
    return cl->addr;
}

const char *kks_client_last_error(const kks_client *cl)
{
    return cl->last_error;
}

const char *kks_client_peer_identity(const kks_client *cl)
{
    return cl->state == CL_UP ? cl->peer_id : "";
}

static void client_handle_closed(uv_handle_t *h)
{
    kks_client *cl = h->data;
    if (--cl->handles == 0) {
        SSL_SESSION_free(cl->session);
        free(cl->tab);
        free(cl);
    }
}

void kks_client_free(kks_client *cl)
{
    if (!cl || cl->freeing)
        return;
    cl->freeing = 1;
    if (cl->conn) {
        kks_conn *c = cl->conn;
        if (c->ready && !c->closing) {
            conn_push(c);
            SSL_shutdown(c->ssl);
            conn_flush(c);
        }
        conn_close(c, KKS_ECLOSED); /* runs client_on_close: fails what is pending */
    }
    client_fail_all(cl, KKS_ECLOSED);
    uv_close((uv_handle_t *)&cl->retry, client_handle_closed);
    uv_close((uv_handle_t *)&cl->sweep, client_handle_closed);
}
