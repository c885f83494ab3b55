/* The terminal's connection to the switch: one request at a time over a
 * kks_client, and the automatic reversal loop (SPEC §7).
 *
 * The connection is made before a request is handed to kks_client_call, so
 * that a failure can be classified: if the link never came up the request
 * was not sent and nothing can have happened at the switch (LINK_UNREACHABLE);
 * once it was sent, a timeout or a dropped connection leaves the outcome
 * unknown (LINK_LOST) and a money transaction must be reversed.
 *
 *   link_call:   [no client or down] --new client--> CONNECTING
 *                CONNECTING --up--> send --reply--> LINK_OK
 *                                        \--timeout/drop--> LINK_LOST
 *                CONNECTING --fails or timeout_ms--> LINK_UNREACHABLE
 *   link_reverse: link_call, then sleep first_ms, 2x, ... max_ms, until an
 *                acknowledgement (LINK_OK) or total_ms have passed (LINK_LOST). */
#include <stdio.h>
#include <string.h>

#include "kks_err.h"
#include "kks_frame.h"
#include "kks_rc.h"
#include "kc_link.h"

static void on_tick(uv_timer_t *t)
{
    kc_link *l = t->data;
    l->fired = 1;
}

static void on_timer_closed(uv_handle_t *h)
{
    kc_link *l = h->data;
    l->timer_closed = 1;
}

void link_init(kc_link *l, uv_loop_t *loop, SSL_CTX *ctx, const char *addr)
{
    memset(l, 0, sizeof *l);
    l->loop = loop;
    l->ctx = ctx;
    l->addr = addr;
    uv_timer_init(loop, &l->timer);
    l->timer.data = l;
}

/* Runs the loop until the timer fires (or, with until_up, the link is up or
 * has failed). */
static void wait_timer(kc_link *l, unsigned ms, int until_up)
{
    l->fired = 0;
    uv_timer_start(&l->timer, on_tick, ms, 0);
    while (!l->fired) {
        if (until_up && (kks_client_is_up(l->cl) || kks_client_last_error(l->cl)[0]))
            break;
        uv_run(l->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&l->timer);
}

static int link_connect(kc_link *l, unsigned timeout_ms)
{
    /* The handshake limit is a little longer than ours, so that a silent address is
     * reported as "no connection within N ms" rather than a TLS failure. */
    kks_client_opts o = {.expect_role = KKS_ROLE_SWITCH,
                         .handshake_ms = timeout_ms + 500,
                         .max_frame = KKS_FRAME_MAX}; /* the switch's cap for a terminal */
    int rc;
    if (l->cl && kks_client_is_up(l->cl))
        return 0;
    kks_client_free(l->cl); /* a link that went down: start afresh */
    l->cl = NULL;
    if ((rc = kks_client_new(l->loop, l->ctx, l->addr, &o, &l->cl)) < 0) {
        snprintf(l->why, sizeof l->why, "%s", kks_strerror(rc));
        return rc;
    }
    wait_timer(l, timeout_ms, 1);
    if (kks_client_is_up(l->cl))
        return 0;
    if (kks_client_last_error(l->cl)[0]) {
        snprintf(l->why, sizeof l->why, "%s", kks_client_last_error(l->cl));
        return KKS_ENOTCONN;
    }
    snprintf(l->why, sizeof l->why, "no connection within %u ms", timeout_ms);
    return KKS_ETIMEDOUT;
}

enum link_status link_call(kc_link *l, Kks__Envelope *req, unsigned timeout_ms,
                           Kks__Envelope **rep)
{
    int rc;
    *rep = NULL;
    l->why[0] = '\0';
    if ((rc = link_connect(l, timeout_ms)) < 0)
        return rc == KKS_ENOMEM ? LINK_INTERNAL : LINK_UNREACHABLE;
    rc = kks_client_call_wait(l->cl, req, timeout_ms, rep);
    if (rc == 0)
        return LINK_OK;
    if (rc == KKS_ETIMEDOUT)
        snprintf(l->why, sizeof l->why, "no reply within %u ms", timeout_ms);
    else
        snprintf(l->why, sizeof l->why, "%s",
                 kks_client_last_error(l->cl)[0] ? kks_client_last_error(l->cl)
                                                 : kks_strerror(rc));
    switch (rc) {
    case KKS_ENOTCONN: return LINK_UNREACHABLE; /* went down before it was written */
    case KKS_ETOOBIG: return LINK_INTERNAL;     /* refused before sending */
    case KKS_EPEERROLE:
    case KKS_ENOCERT: return LINK_REFUSED;      /* the switch refused us: not processed */
    default: return LINK_LOST;                  /* sent; the outcome is unknown */
    }
}

enum link_status link_reverse(kc_link *l, const Kks__ReversalRequest *rev, unsigned timeout_ms,
                              const link_retry *r, int *moved, unsigned *attempts)
{
    uint64_t start = uv_hrtime() / 1000000, now;
    unsigned backoff = r->first_ms;
    *moved = 0;
    *attempts = 0;
    for (;;) {
        Kks__Envelope req = KKS__ENVELOPE__INIT, *rep = NULL;
        uint64_t left;
        enum link_status st;
        now = uv_hrtime() / 1000000;
        left = now - start < r->total_ms ? r->total_ms - (now - start) : 0;
        if (left == 0)
            return LINK_LOST;
        req.body_case = KKS__ENVELOPE__BODY_REVERSAL;
        req.reversal = (Kks__ReversalRequest *)rev;
        (*attempts)++;
        st = link_call(l, &req, left < timeout_ms ? (unsigned)left : timeout_ms, &rep);
        if (st == LINK_REFUSED)
            return LINK_REFUSED;
        if (st == LINK_OK) {
            int done = 0;
            if (rep->body_case == KKS__ENVELOPE__BODY_REVERSAL_REPLY && rep->reversal_reply &&
                rep->reversal_reply->rc && strcmp(rep->reversal_reply->rc, KKS_RC_APPROVED) == 0) {
                *moved = rep->reversal_reply->moved;
                done = 1;
            } else if (rep->body_case == KKS__ENVELOPE__BODY_ERROR && rep->error &&
                       rep->error->code == KKS_EPEERROLE) {
                snprintf(l->why, sizeof l->why, "switch says: %.200s",
                         rep->error->message ? rep->error->message : "");
                kks__envelope__free_unpacked(rep, NULL);
                return LINK_REFUSED;
            } else if (rep->body_case == KKS__ENVELOPE__BODY_REVERSAL_REPLY &&
                       rep->reversal_reply) {
                /* A reversal advice cannot be refused: 96 (disk full...) means "again". */
                snprintf(l->why, sizeof l->why, "switch answered %.8s", rep->reversal_reply->rc
                                                                         ? rep->reversal_reply->rc
                                                                         : "");
            } else {
                snprintf(l->why, sizeof l->why, "unexpected reply to a reversal");
            }
            kks__envelope__free_unpacked(rep, NULL);
            if (done)
                return LINK_OK;
        } else if (st == LINK_INTERNAL) {
            return LINK_LOST;
        }
        now = uv_hrtime() / 1000000;
        left = now - start < r->total_ms ? r->total_ms - (now - start) : 0;
        if (left == 0)
            return LINK_LOST;
        wait_timer(l, left < backoff ? (unsigned)left : backoff, 0);
        backoff = backoff * 2 > r->max_ms ? r->max_ms : backoff * 2;
    }
}

void link_close(kc_link *l)
{
    kks_client_free(l->cl);
    l->cl = NULL;
    uv_close((uv_handle_t *)&l->timer, on_timer_closed);
    while (!l->timer_closed)
        uv_run(l->loop, UV_RUN_NOWAIT);
    /* One more turn so the client's closing handles finish too. */
    uv_run(l->loop, UV_RUN_NOWAIT);
}
