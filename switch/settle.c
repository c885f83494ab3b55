/* Settlement: per merchant and per ATM bank, the count and sum of approved
 * minus reversed money transactions of a business day.
 *
 *   settle(D), something arrived since batch N --> batch N+1: each payable's
 *       net moves to "settled" (back, if reversals of settled transactions
 *       outweigh), the transactions are marked with N+1, the lines recorded
 *   settle(D), nothing new --> "already": batch N's figures again, nothing moves
 * A reversal of a transaction already settled is netted in a batch of the
 * reversal's own business day. So every approved transaction is settled
 * once, and a purchase made after a day was settled is settled by the day's
 * next batch. A terminal's own
 * totals (of its local date) are compared with the switch's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "switch.h"

/* Payables in one batch: the reply stays far under the operators' frame cap.
 * A day with more is settled in as many batches (the reply says "more"). */
#define MAX_LINES 4096

enum sw_verdict terminal_settle_handle(sw *s, kks_conn *c, const Kks__Envelope *env, sw_out *o)
{
    const Kks__TerminalSettleRequest *r = env->terminal_settle;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TerminalSettleReply tr = KKS__TERMINAL_SETTLE_REPLY__INIT;
    char why[160];
    int y, m, d;
    if (!terminal_is_itself(c, r->terminal)) {
        sw_out_error(o, KKS_EPEERROLE, "a terminal may only act for itself");
        return SW_READ;
    }
    if (kks_ymd_parse(r->date, &y, &m, &d) < 0) {
        sw_out_error(o, KKS_EINVAL, "date must be YYYY-MM-DD");
        return SW_READ;
    }
    if (txnlog_terminal_totals(s->log, r->terminal, r->date, &tr.count, &tr.total) < 0) {
        sw_out_error(o, KKS_EDB, "database error");
        return SW_READ;
    }
    tr.match = tr.count == r->count && tr.total == r->total;
    tr.rc = KKS_RC_APPROVED;
    if (tr.match)
        snprintf(why, sizeof why, "totals match");
    else
        snprintf(why, sizeof why,
                 "totals differ: terminal %u / Rp%" PRId64 ", switch %u / Rp%" PRId64, r->count,
                 r->total, tr.count, tr.total);
    tr.reason = why;
    rep.body_case = KKS__ENVELOPE__BODY_TERMINAL_SETTLE_REPLY;
    rep.terminal_settle_reply = &tr;
    sw_out_set(o, &rep);
    return SW_READ;
}

static const char *payable_name(sw *s, const char *kind, const char *id)
{
    if (strcmp(kind, "merchant") == 0) {
        for (int i = 0; i < s->terminals.n; i++)
            if (strcmp(s->terminals.items[i].merchant_id, id) == 0 ||
                strcmp(s->terminals.items[i].id, id) == 0)
                return s->terminals.items[i].name;
    }
    return "";
}

/* Moves one payable's net for the batch. 0 or KKS_EDB. */
static int move(sw *s, const char *date, int batch, const txnlog_settle_line *l, const char *at)
{
    char key[160], settled[96];
    int rc;
    if (l->total == 0)
        return 0;
    snprintf(key, sizeof key, "settle:%s:%d:%s:%s", date, batch, l->kind, l->id);
    snprintf(settled, sizeof settled, "%s:%s", l->kind, l->id);
    if (l->total > 0)
        rc = ledger_transfer(s->ledger, key, l->kind, l->id, "settled", settled, l->total,
                             "settlement", at);
    else
        rc = ledger_transfer(s->ledger, key, "settled", settled, l->kind, l->id, -l->total,
                             "settlement", at);
    return rc == 0 ? 0 : KKS_EDB; /* a batch's key is new: a duplicate is a fault too */
}

enum sw_verdict settle_handle(sw *s, kks_conn *c, const Kks__Envelope *env, sw_out *o)
{
    const Kks__SettleRequest *r = env->settle;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__SettleReply sr = KKS__SETTLE_REPLY__INIT;
    txnlog_settle_line *lines = NULL;
    Kks__SettleLine *sl = NULL, **pl = NULL;
    char at[21], bdate[11], reason[160];
    enum sw_verdict v = SW_UNDO;
    int y, m, d, n, last, batch, more = 0;

    sw_business_date(s, bdate);
    if (kks_ymd_parse(r->date, &y, &m, &d) < 0) {
        sw_out_error(o, KKS_EINVAL, "date must be YYYY-MM-DD");
        return SW_UNDO;
    }
    if (strcmp(r->date, bdate) > 0) {
        snprintf(reason, sizeof reason, "%s is after the business date %s: nothing to settle",
                 r->date, bdate);
        sw_out_error(o, KKS_EINVAL, reason);
        return SW_UNDO;
    }
    lines = calloc(MAX_LINES, sizeof *lines);
    sl = calloc(MAX_LINES, sizeof *sl);
    pl = calloc(MAX_LINES, sizeof *pl);
    if (!lines || !sl || !pl) {
        sw_out_error(o, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        goto out;
    }
    kks_utc_now(at);
    if ((last = txnlog_settle_last(s->log, r->date)) < 0 ||
        (n = txnlog_settle_pending(s->log, r->date, lines, MAX_LINES, &more)) < 0)
        goto db_fail;
    if (n == 0) { /* nothing new: the last batch's figures, nothing moves */
        batch = last;
        if (last > 0 && (n = txnlog_settle_lines(s->log, r->date, last, lines, MAX_LINES)) < 0)
            goto db_fail;
        sr.already = 1;
        snprintf(reason, sizeof reason,
                 last ? "nothing new since batch %d: its figures repeated, nothing moved"
                      : "nothing to settle for this day%.0d",
                 last);
        v = SW_UNDO;
    } else {
        batch = last + 1;
        for (int i = 0; i < n; i++)
            if (move(s, r->date, batch, &lines[i], at) < 0)
                goto db_fail;
        if (txnlog_settle_commit(s->log, r->date, batch, lines, n, at) < 0)
            goto db_fail;
        snprintf(reason, sizeof reason,
                 more ? "settled as batch %d: payables moved to settled; more to settle in the "
                        "next batch"
                      : "settled as batch %d: payables moved to settled",
                 batch);
        char num[16];
        snprintf(num, sizeof num, "%d", batch);
        kks_info("settled", "date", r->date, "batch", num);
        v = SW_KEEP;
    }
    for (int i = 0; i < n; i++) {
        kks__settle_line__init(&sl[i]);
        sl[i].kind = lines[i].kind;
        sl[i].id = lines[i].id;
        sl[i].name = (char *)payable_name(s, lines[i].kind, lines[i].id);
        sl[i].count = lines[i].count;
        sl[i].total = lines[i].total;
        pl[i] = &sl[i];
    }
    sr.rc = KKS_RC_APPROVED;
    sr.reason = reason;
    sr.date = r->date;
    sr.business_date = bdate;
    sr.batch = (uint32_t)batch;
    sr.n_lines = (size_t)n;
    sr.lines = pl;
    sr.more = more;
    rep.body_case = KKS__ENVELOPE__BODY_SETTLE_REPLY;
    rep.settle_reply = &sr;
    if (sw_out_set(o, &rep) < 0)
        v = SW_UNDO;
    o->rows = (unsigned)n;
    o->budget_ms = 2;
    goto out;
db_fail:
    kks_error("settlement failed; rolled back", "error", sqlite3_errmsg(s->db));
    sw_out_error(o, KKS_EDB, "database error; nothing settled");
    v = SW_UNDO;
out:
    free(lines);
    free(sl);
    free(pl);
    return v;
}
