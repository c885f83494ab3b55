/* A fault proxy: a plain TCP relay that a test world puts on a link
 * (terminal -> switch, switch -> issuer) so that a scenario can make a slow,
 * lossy or broken link happen for real (SPEC §8.1 `fault: {link: ...}`, §12).
 *
 * It listens on one address and, for each connection it accepts, dials the
 * target and moves bytes both ways. TLS stays end to end: the proxy never
 * decrypts, so the peers see each other's certificates and nothing else; it
 * only moves, holds, drops or cuts bytes. Bytes that a fault drops in the
 * middle of a TLS record break that connection's TLS, as on a real link; the
 * peers reconnect.
 *
 * Modes (kks_proxy_set, at any time, open connections included):
 *
 *             client --> target          target --> client        new connections
 *   PASS      at once                    at once                  relayed
 *   DELAY d   d ms after arrival         d ms after arrival       relayed
 *   DROP      at once                    swallowed (counted)      relayed
 *   CUT       every open connection closed, both sides            accepted, closed at once
 *
 * Every chunk read is queued with the time it is due (arrival + d in DELAY,
 * arrival otherwise) and delivered in order: a later chunk is never due
 * before an earlier one of the same direction. Leaving DELAY makes what it
 * holds due at once, delivered in order under the new mode (swallowed in
 * DROP, if it goes to the client). DROP is applied when a chunk is
 * delivered, and swallows the target's end of stream too (a lost FIN).
 *
 * A connection:
 *
 *   accept --mode CUT--> closed at once (counted as refused)
 *   accept --> DIALING --target connect fails--> CLOSING (counted as connect_failed)
 *              DIALING --connected--> OPEN (reads both sides)
 *   OPEN --end of stream from one side, delivered in order--> that way shut down
 *        (TCP half close); when both ways are shut --> CLOSING
 *   OPEN --read/write error, delay queue over its cap, mode CUT,
 *          kks_proxy_free--> CLOSING: both sockets closed, what is held discarded
 *   CLOSING --its three handles closed--> freed
 *
 * Memory is bounded per connection: the bytes held for later delivery
 * (DELAY) are capped (queue_max, default 4 MiB; over it the connection is
 * cut and counted as over_cap), and a side is not read while the socket
 * write queue of the other side is over 1 MiB (it resumes under 256 KiB),
 * as kks_net does. */
#ifndef KKS_PROXY_H
#define KKS_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct kks_proxy kks_proxy;

enum kks_proxy_mode {
    KKS_PROXY_PASS,
    KKS_PROXY_DELAY,
    KKS_PROXY_DROP,
    KKS_PROXY_CUT,
};

#define KKS_PROXY_DELAY_MAX_MS 3600000u /* one hour */

typedef struct kks_proxy_opts {
    size_t queue_max; /* bytes a connection may hold for DELAY; 0: 4 MiB */
} kks_proxy_opts;

typedef struct kks_proxy_stats {
    uint64_t accepted;        /* connections accepted, the refused ones included */
    uint64_t refused;         /* accepted under CUT and closed at once */
    uint64_t connect_failed;  /* the target could not be reached: client side closed */
    uint64_t cut;             /* open connections closed by CUT */
    uint64_t over_cap;        /* connections cut for holding more than queue_max */
    uint64_t open;            /* connections open now (dialing included) */
    uint64_t bytes_to_target; /* handed to the target's socket */
    uint64_t bytes_to_client; /* handed to the client's socket */
    uint64_t bytes_dropped;   /* swallowed by DROP */
    uint64_t held;            /* bytes in delay queues and socket write queues now */
} kks_proxy_stats;

/* Listens on listen (HOST:PORT, an IP literal or "localhost"; port 0 picks
 * one) and relays each connection to target (HOST:PORT), in PASS mode.
 * o may be NULL for the defaults. Returns 0, KKS_EADDR (either address),
 * KKS_ENOMEM or KKS_EIO (bind/listen failed; logged; what was allocated is
 * released once the loop has run the close callback, as after
 * kks_proxy_free). */
int kks_proxy_new(uv_loop_t *loop, const char *listen, const char *target, const kks_proxy_opts *o,
                  kks_proxy **out);
/* The bound address as HOST:PORT. */
const char *kks_proxy_address(const kks_proxy *p);
/* Changes the mode (see the picture). delay_ms counts in DELAY only.
 * Returns 0 or KKS_EINVAL (unknown mode, delay over KKS_PROXY_DELAY_MAX_MS). */
int kks_proxy_set(kks_proxy *p, enum kks_proxy_mode mode, unsigned delay_ms);
enum kks_proxy_mode kks_proxy_mode(const kks_proxy *p);
/* "pass", "delay", "drop", "cut"; "?" for anything else. */
const char *kks_proxy_mode_name(enum kks_proxy_mode mode);
/* The counters since kks_proxy_new, and what is open and held now. */
void kks_proxy_stats_get(const kks_proxy *p, kks_proxy_stats *out);
/* Stops listening and closes every connection, discarding what is held.
 * Memory is released once the loop has run the close callbacks. NULL is a
 * no-op. */
void kks_proxy_free(kks_proxy *p);

#endif
