/* Protobuf over mutual TLS over libuv.
 *
 * TLS runs over memory BIOs: bytes read from the socket go into the SSL
 * object, and whatever it wants to send is drained and written with uv_write.
 * Frames (kks_frame.h) ride inside TLS. A connection is a kks_conn; the
 * server side hands each request Envelope to a callback and the handler
 * answers with exactly one kks_conn_reply(), now or later. The client side
 * (kks_client) numbers requests, matches replies by id, times each one out,
 * and reconnects with backoff.
 *
 * Connection states:
 *
 *   TCP up --SSL handshake ok, peer role allowed--> READY --close/error--> CLOSING --> freed
 *        \--handshake fails or times out, wrong role--> CLOSING
 *
 * Invariants: a conn is freed only when its handles are closed and no
 * reference is held (kks_conn_ref); nothing is written after CLOSING; a frame
 * over the cap, an empty frame or bytes that are not an Envelope earn the peer
 * an Error envelope, and the connection stops reading and closes once the
 * requests read before it are answered (REFUSING; at most 5 s).
 *
 * No reply is dropped without a word: a reply larger than the peer's frame
 * cap (KKS_FRAME_MAX, KKS_FRAME_MAX_BULK for operators) is logged with its
 * request id, body kind and size and answered with an Error saying it was too
 * large; a reply that cannot be queued is answered with an Error or, failing
 * that, the connection closes so that the peer knows; a reply to a closed
 * connection is logged.
 *
 * Backpressure: a conn stops reading while its write queue is over 1 MiB or
 * more than KKS_CONN_MAX_INFLIGHT of its requests are unanswered, and resumes
 * as they drain. */
#ifndef KKS_NET_H
#define KKS_NET_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include <openssl/ssl.h>

#include "kks.pb-c.h"
#include "kks_tls.h"

#define KKS_CONN_MAX_INFLIGHT 1024
#define KKS_ADDR_MAX 64 /* "[v6]:port" text buffer */

typedef struct kks_conn kks_conn;
typedef struct kks_server kks_server;
typedef struct kks_client kks_client;

/* HOST:PORT where HOST is an IPv4 literal, [IPv6] or "localhost".
 * Returns 0 or KKS_EADDR. */
int kks_addr_parse(const char *text, struct sockaddr_storage *out);
/* Formats a socket address as HOST:PORT. */
void kks_addr_format(const struct sockaddr *sa, char *buf, size_t cap);

/* What a packed Envelope holds: its body_case (the field number of the body,
 * 0 if none or not an Envelope), and in *body_off (if not NULL) where the body
 * starts, after the id. Reads only the first bytes; no allocation. */
int kks_envelope_peek(const uint8_t *env, size_t len, size_t *body_off);
/* The name of a body_case ("txn_reply"), or "unknown". */
const char *kks_envelope_kind(int body_case);

/* ---- server ---- */

/* Called once per request; req is freed when the callback returns. */
typedef void (*kks_request_cb)(kks_conn *c, const Kks__Envelope *req, void *ud);

typedef struct kks_server_opts {
    unsigned accept_roles;  /* bitmask of enum kks_role */
    unsigned handshake_ms;  /* 0: 10 s */
    unsigned idle_ms;       /* 0: 300 s */
    /* TLS handshakes in progress at once (each costs memory before the peer
     * has proved anything): beyond, a new connection is closed at once.
     * 0: 1,024 in all, 256 from one address. */
    unsigned max_handshakes, max_handshakes_per_addr;
    kks_request_cb on_request;
    void *ud;
} kks_server_opts;

/* Listens on addr (port 0 picks one). Returns 0, KKS_EADDR, KKS_ENOMEM or
 * KKS_ELISTEN (bind/listen failed, such as an address in use; logged with the
 * address and the reason). ctx is borrowed and must outlive it. */
int kks_server_new(uv_loop_t *loop, SSL_CTX *ctx, const char *addr, const kks_server_opts *o,
                   kks_server **out);
/* TLS handshakes in progress now, and connections refused so far for want
 * of room in the handshake budget. */
void kks_server_handshakes(const kks_server *s, unsigned *in_progress, uint64_t *refused);
/* The bound address as HOST:PORT. */
const char *kks_server_address(const kks_server *s);
/* Stops accepting and reading; once every dispatched request has been
 * answered (or after timeout_ms), closes all connections and calls done. */
void kks_server_drain(kks_server *s, unsigned timeout_ms, void (*done)(void *), void *ud);
/* Frees a server whose handles have closed (after drain and the loop ran). */
void kks_server_free(kks_server *s);

/* Answers request `id` on c. Must be called exactly once per dispatched
 * request, even if c has closed meanwhile (then it only does the bookkeeping,
 * logs, and returns KKS_ECLOSED). rep->id is set here. Returns 0,
 * KKS_ECLOSED, or KKS_ETOOBIG / KKS_ENOMEM after answering with an Error
 * instead (see the picture). */
int kks_conn_reply(kks_conn *c, uint64_t id, Kks__Envelope *rep);
/* Answers request id with an Error envelope (code, message). */
int kks_conn_reply_error(kks_conn *c, uint64_t id, int code, const char *msg);
/* The same for a reply already packed (its id set), as kks_group holds them. */
int kks_conn_reply_packed(kks_conn *c, uint64_t id, const uint8_t *env, size_t len);
void kks_conn_ref(kks_conn *c);
/* A connection with no socket, for driving request handlers in tests and
 * fuzzers: a peer of this role and identity whose replies are kept in order
 * until taken. Free with kks_conn_unref. NULL on out of memory. */
kks_conn *kks_conn_memory_new(unsigned role, const char *identity);
/* The oldest reply not yet taken (free with kks__envelope__free_unpacked), or NULL. */
Kks__Envelope *kks_conn_memory_take(kks_conn *c);
void kks_conn_unref(kks_conn *c);
unsigned kks_conn_role(const kks_conn *c);
const char *kks_conn_identity(const kks_conn *c);
const char *kks_conn_peer(const kks_conn *c);
/* 1 once c is closed or closing (the peer went away, or it was closed here). */
int kks_conn_closed(const kks_conn *c);

/* ---- client ---- */

/* status 0 with a reply (freed after the callback), or a negative code:
 * KKS_ETIMEDOUT, KKS_ECLOSED, KKS_ETLS, KKS_EPEERROLE, KKS_ECONNREFUSED... */
typedef void (*kks_reply_cb)(int status, const Kks__Envelope *reply, void *ud);

typedef struct kks_client_opts {
    unsigned expect_role;   /* the server's certificate must carry this role */
    int reconnect;          /* reconnect with backoff after a drop */
    unsigned heartbeat_ms;  /* 0: none; else ping when idle this long */
    unsigned handshake_ms;  /* 0: 10 s */
    size_t max_frame;       /* the server's cap on our frames; 0: KKS_FRAME_MAX_BULK */
} kks_client_opts;

/* Starts connecting at once. Returns 0, KKS_EADDR or KKS_ENOMEM. */
int kks_client_new(uv_loop_t *loop, SSL_CTX *ctx, const char *addr, const kks_client_opts *o,
                   kks_client **out);
/* Sends req (its id is assigned here) and calls cb once with the reply or an
 * error. While a connection attempt is under way the request waits for it;
 * while the link is down between attempts the call fails at once.
 * Returns 0 (cb will be called) or KKS_ENOTCONN, KKS_ETOOBIG, KKS_ENOMEM
 * (cb will not be called). */
int kks_client_call(kks_client *cl, Kks__Envelope *req, unsigned timeout_ms, kks_reply_cb cb,
                    void *ud);
/* Runs the loop until the reply comes: for command-line tools whose loop
 * serves only this client. On 0, *reply must be freed with
 * kks__envelope__free_unpacked(*reply, NULL). */
int kks_client_call_wait(kks_client *cl, Kks__Envelope *req, unsigned timeout_ms,
                         Kks__Envelope **reply);
int kks_client_is_up(const kks_client *cl);
const char *kks_client_address(const kks_client *cl);
/* Why the link last failed, in words ("" if it has not). */
const char *kks_client_last_error(const kks_client *cl);
/* Identity (CN) of the server once connected ("" before). */
const char *kks_client_peer_identity(const kks_client *cl);
/* TLS handshakes completed and how many of them resumed a session (the
 * client keeps the server's last ticket and offers it when it reconnects). */
void kks_client_tls_stats(const kks_client *cl, unsigned *handshakes, unsigned *resumed);
/* 1 when the client holds a session ticket to offer on its next connection. */
int kks_client_has_session(const kks_client *cl);
/* Closes the connection as a network drop would (pending requests fail with
 * KKS_ECLOSED); a client made with reconnect connects again after its backoff. */
void kks_client_drop(kks_client *cl);
/* Closes; pending requests get KKS_ECLOSED. Memory is released once the
 * loop has run the close callbacks. NULL is a no-op. */
void kks_client_free(kks_client *cl);

#endif
