#ifndef KC_LINK_H
#define KC_LINK_H

#include <uv.h>

#include "kks.pb-c.h"
#include "kks_net.h"

/* A terminal's connection to the switch (client/link.c): one call at a time,
 * waited for on the caller's loop, and the automatic reversal that repeats until
 * the switch acknowledges. */

enum link_status {
    LINK_OK,          /* a reply came (it may be an Error envelope) */
    LINK_UNREACHABLE, /* no connection: the request was not sent */
    LINK_LOST,        /* sent, but no reply in time or the connection dropped */
    LINK_REFUSED,     /* the switch refused this terminal's identity */
    LINK_INTERNAL,    /* could not build or send the request here */
};

typedef struct kc_link {
    uv_loop_t *loop;
    SSL_CTX *ctx;
    const char *addr;
    kks_client *cl;
    uv_timer_t timer;
    int fired, timer_closed;
    char why[256]; /* what went wrong last, for people */
} kc_link;

/* Repetition of the automatic reversal (SPEC §7): first_ms doubling up to
 * max_ms between attempts, for at most total_ms. */
typedef struct link_retry {
    unsigned first_ms, max_ms, total_ms;
} link_retry;

void link_init(kc_link *l, uv_loop_t *loop, SSL_CTX *ctx, const char *addr);
/* Connects if needed (waiting at most timeout_ms), sends req and waits at
 * most timeout_ms for its reply. On LINK_OK *rep must be freed with
 * kks__envelope__free_unpacked. */
enum link_status link_call(kc_link *l, Kks__Envelope *req, unsigned timeout_ms,
                           Kks__Envelope **rep);
/* Sends the reversal, over a new connection when needed, until the switch
 * acknowledges it (rc 00) or r->total_ms pass. Returns LINK_OK (acknowledged;
 * *moved set), LINK_LOST (still pending) or LINK_REFUSED. */
enum link_status link_reverse(kc_link *l, const Kks__ReversalRequest *rev, unsigned timeout_ms,
                              const link_retry *r, int *moved, unsigned *attempts);
/* Closes the connection and the timer and lets the loop finish with them. */
void link_close(kc_link *l);

#endif
