/* Reversals: a reversal names terminal + STAN + local date of the original.
 *
 *   original approved, money moved, not reversed --> money back once, marked
 *   original declined or moved nothing            --> marked, nothing moves
 *   original already reversed                     --> acknowledged, nothing moves
 *   original never seen                           --> a mark, so that it is
 *                                                     declined (12) if it comes
 *   original still in flight                      --> 91: send the reversal again
 * Every outcome but the last is acknowledged with 00; a database failure
 * answers 96 with nothing written, and the terminal sends the reversal again.
 * A reversal of a transaction already settled is settled in a later batch of
 * its day (txnlog.c). */
#include <stdio.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "switch.h"

static enum sw_verdict answer(sw_out *o, const char *rc, const char *reason, int moved,
                              enum sw_verdict v)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__ReversalReply rr = KKS__REVERSAL_REPLY__INIT;
    rr.rc = (char *)rc;
    rr.reason = (char *)reason;
    rr.moved = moved;
    rep.body_case = KKS__ENVELOPE__BODY_REVERSAL_REPLY;
    rep.reversal_reply = &rr;
    sw_out_set(o, &rep);
    o->rows = 1;
    o->budget_ms = 2;
    o->tag = swm_txn_tag(o->tag.t0, SWM_REVERSAL, rc);
    return v;
}

enum sw_verdict reversal_handle(sw *s, kks_conn *c, const Kks__Envelope *env, sw_out *o)
{
    const Kks__ReversalRequest *req = env->reversal;
    txnlog_orig orig;
    char at[21];
    int y, m, d, r, moved = 0;

    if (!terminal_is_itself(c, req->terminal)) {
        sw_out_error(o, KKS_EPEERROLE, "a terminal may only act for itself");
        return SW_UNDO;
    }
    if (req->stan == 0 || req->stan > 999999 || kks_ymd_parse(req->local_date, &y, &m, &d) < 0) {
        sw_out_error(o, KKS_EINVAL, "STAN must be 1..999999 and local_date YYYY-MM-DD");
        return SW_UNDO;
    }
    if (txn_in_flight(s, req->terminal, req->local_date, req->stan))
        return answer(o, KKS_RC_INOPERATIVE,
                      "the original is still being processed; send the reversal again", 0,
                      SW_UNDO);
    kks_utc_now(at);
    if ((r = txnlog_original(s->log, req->terminal, req->local_date, req->stan, &orig)) < 0)
        goto db_fail;
    if (r == 0) {
        if (txnlog_mark_reversed_first(s->log, req->terminal, req->local_date, req->stan, at) < 0)
            goto db_fail;
        return answer(o, KKS_RC_APPROVED, "no such transaction; noted, nothing moved", 0, SW_KEEP);
    }
    if (orig.reversed)
        return answer(o, KKS_RC_APPROVED, "already reversed; nothing moved", 0, SW_UNDO);
    if (strcmp(orig.rc, KKS_RC_APPROVED) == 0 && orig.amount > 0 && orig.to_kind[0]) {
        char key[96];
        snprintf(key, sizeof key, "rev:%s:%s:%06u", req->terminal, req->local_date, req->stan);
        r = ledger_transfer(s->ledger, key, orig.to_kind, orig.to_owner, orig.wallet, orig.kk,
                            orig.amount, "reversal", at);
        if (r < 0)
            goto db_fail;
        moved = r == 0;
    }
    char bdate[11];
    sw_business_date(s, bdate);
    if (txnlog_set_reversed(s->log, orig.rowid, bdate) < 0)
        goto db_fail;
    kks_info("reversal", "terminal", req->terminal, "moved", moved ? "yes" : "no");
    return answer(o, KKS_RC_APPROVED, moved ? "reversed; the money is back" : "reversed; nothing had moved",
                  moved, SW_KEEP);
db_fail:
    kks_error("reversal failed; rolled back", "error", sqlite3_errmsg(s->db));
    return answer(o, KKS_RC_SYSTEM, "system malfunction; nothing moved; send the reversal again",
                  0, SW_UNDO);
}
