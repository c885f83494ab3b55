/* How the switch answers a request whose writes were not committed: the
 * group transaction failed (disk full, I/O error) and nothing of it moved
 * (kks_group.h). A terminal must read that as a decline with response code
 * 96, not as a failure to talk to the switch (kks-terminal exits 3 on an
 * Error envelope and shows no response code):
 *   TxnReply       96 "system malfunction; nothing moved", with the STAN,
 *                  type, wallet and RRN of the held reply and nothing that
 *                  only an approval carries (auth code, balances, amount,
 *                  items, statement)
 *   ReversalReply  96, moved false: not an acknowledgement, so the terminal
 *                  sends the reversal again until one is committed
 *                  (ewarong/link.c, link_reverse)
 *   anything else  the group's Error (operators' tools report it as such) */
#include "kks_err.h"
#include "kks_rc.h"
#include "switch.h"

void uncommitted_reply(kks_conn *c, uint64_t id, const Kks__Envelope *rep)
{
    Kks__Envelope out = KKS__ENVELOPE__INIT;
    switch (rep->body_case) {
    case KKS__ENVELOPE__BODY_TXN_REPLY: {
        const Kks__TxnReply *held = rep->txn_reply;
        Kks__TxnReply tr = KKS__TXN_REPLY__INIT;
        tr.rc = KKS_RC_SYSTEM;
        tr.reason = "system malfunction; nothing moved";
        tr.stan = held->stan;
        tr.type = held->type;
        tr.wallet = held->wallet;
        tr.rrn = held->rrn;
        out.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
        out.txn_reply = &tr;
        kks_conn_reply(c, id, &out);
        return;
    }
    case KKS__ENVELOPE__BODY_REVERSAL_REPLY: {
        Kks__ReversalReply rr = KKS__REVERSAL_REPLY__INIT;
        rr.rc = KKS_RC_SYSTEM;
        rr.reason = "system malfunction; nothing moved; send the reversal again";
        out.body_case = KKS__ENVELOPE__BODY_REVERSAL_REPLY;
        out.reversal_reply = &rr;
        kks_conn_reply(c, id, &out);
        return;
    }
    default:
        kks_conn_reply_error(c, id, KKS_EDB,
                             "database error at commit; nothing of this request was written");
        return;
    }
}
