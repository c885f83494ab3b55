/* libFuzzer target: decoded Envelopes into the switch's dispatch, as a
 * terminal and as an operator, over in-memory connections, against an
 * in-memory SQLite, with an issuer that answers at once. Whatever arrives,
 * the switch must answer every request, never crash, and keep its ledger
 * consistent (checked after each input). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_rc.h"
#include "switch.h"

static uv_loop_t loop;
static sw *S;
static kks_conn *peers[2];

static int issuer(sw *s, link *l, Kks__Envelope *req, unsigned timeout_ms, kks_reply_cb cb,
                  void *ud)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__PinReply pr = KKS__PIN_REPLY__INIT;
    if (req->body_case == KKS__ENVELOPE__BODY_PING)
        return KKS_ENOTCONN; /* a link that is down: pings report it */
    pr.rc = KKS_RC_APPROVED;
    pr.reason = "ok";
    pr.kk = "1271051502100101";
    rep.body_case = KKS__ENVELOPE__BODY_PIN_REPLY;
    rep.pin_reply = &pr;
    cb(0, &rep, ud);
    return 0;
}

static void init(void)
{
    char err[256];
    uv_loop_init(&loop);
    S = calloc(1, sizeof *S);
    memcpy(S->today, "2026-11-24", 11);
    if (sw_open(S, &loop, ":memory:", KKS_DEFAULT_SEEDS, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_switch: %s\n", err);
        abort();
    }
    S->ask = issuer;
    S->nlinks = 1;
    S->links[0].is_default = 1;
    peers[0] = kks_conn_memory_new(KKS_ROLE_TERMINAL, "EW-127101-0001");
    peers[1] = kks_conn_memory_new(KKS_ROLE_OPERATOR, "operator");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!S)
        init();
    if (size < 1)
        return 0;
    Kks__Envelope *env = kks__envelope__unpack(NULL, size - 1, data + 1);
    if (!env)
        return 0;
    kks_conn *c = peers[data[0] & 1];
    int ping = env->body_case == KKS__ENVELOPE__BODY_PING;
    env->id = 7;
    sw_dispatch(S, c, env);
    kks__envelope__free_unpacked(env, NULL);
    kks_group_flush(S->group);
    int replies = 0;
    for (Kks__Envelope *r; (r = kks_conn_memory_take(c)); replies++)
        kks__envelope__free_unpacked(r, NULL);
    if (replies < 1 && !ping)
        abort(); /* a request went unanswered */
    char why[256];
    int64_t a, t, w, f;
    if (ledger_check(S->ledger, why, sizeof why, &a, &t, &w, &f) == 1) {
        fprintf(stderr, "ledger: %s\n", why);
        abort();
    }
    return 0;
}
