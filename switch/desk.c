/* The complaints desk's views of the switch (operators only, read-only): a
 * family's account with its credits per period, and a transaction by its RRN
 * with its journal rows, reversal state and ledger transfers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_rc.h"
#include "kks_registry.h"
#include "switch.h"

#define DESK_CREDITS 120 /* ten years of BPNT months, thirty of PKH stages */
#define DESK_ROWS 8      /* journal rows of one RRN (one, unless a sequence wrapped) */

static const char *program_name(unsigned p)
{
    return p == LEDGER_PKH ? "pkh" : "bpnt";
}

enum sw_verdict desk_account_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o)
{
    const Kks__DeskAccountRequest *a = req->desk_account_request;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__DeskAccountReply ar = KKS__DESK_ACCOUNT_REPLY__INIT;
    ledger_movement mv[50];
    Kks__Movement m[50], *pm[50];
    ledger_credit_line *cl = calloc(DESK_CREDITS, sizeof *cl);
    Kks__CreditLine *cm = calloc(DESK_CREDITS, sizeof *cm), **pcm = calloc(DESK_CREDITS, sizeof *pcm);
    char (*months)[2][8] = calloc(DESK_CREDITS, sizeof *months);
    char *progs[2];
    int limit = a->limit == 0 || a->limit > 50 ? 10 : (int)a->limit, n = 0, nc = 0, np = 0;

    ar.kk = a->kk;
    ar.rc = KKS_RC_APPROVED;
    ar.reason = "";
    if (!cl || !cm || !pcm || !months) {
        ar.rc = KKS_RC_SYSTEM;
        ar.reason = "out of memory";
    } else if (!kks_digits(a->kk, 16)) {
        ar.rc = KKS_RC_FORMAT;
        ar.reason = "KK must be 16 digits";
    } else {
        uint64_t kk = strtoull(a->kk, NULL, 10);
        int rc = ledger_wallet(s->ledger, kk, &ar.pkh, &ar.bpnt), p = 0;
        if (rc == 0 && (p = ledger_programs(s->ledger, kk)) >= 0 &&
            (nc = ledger_credits(s->ledger, kk, cl, DESK_CREDITS)) >= 0)
            n = ledger_movements(s->ledger, kk, mv, limit);
        if (rc < 0 || p < 0 || nc < 0 || n < 0) {
            ar.rc = KKS_RC_SYSTEM;
            ar.reason = "database error";
            n = nc = 0;
        } else if (rc == 1) {
            ar.rc = KKS_RC_NO_CARD;
            ar.reason = "no account for this family (not enrolled, or its account not opened)";
        } else {
            if (p & LEDGER_PKH)
                progs[np++] = "pkh";
            if (p & LEDGER_BPNT)
                progs[np++] = "bpnt";
        }
    }
    for (int i = 0; i < nc; i++) {
        kks__credit_line__init(&cm[i]);
        kks_month_format(cl[i].first, months[i][0]);
        kks_month_format(cl[i].last, months[i][1]);
        cm[i].program = (char *)program_name(cl[i].program);
        cm[i].period = cl[i].period;
        cm[i].first = months[i][0];
        cm[i].last = months[i][1];
        cm[i].amount = cl[i].amount;
        cm[i].at = cl[i].at;
        pcm[i] = &cm[i];
    }
    for (int i = 0; i < n; i++) {
        kks__movement__init(&m[i]);
        m[i].at = mv[i].at;
        m[i].wallet = mv[i].wallet;
        m[i].amount = mv[i].amount;
        m[i].kind = mv[i].kind;
        m[i].ref = mv[i].ref;
        pm[i] = &m[i];
    }
    ar.n_programs = (size_t)np;
    ar.programs = progs;
    ar.n_credits = (size_t)nc;
    ar.credits = pcm;
    ar.n_movements = (size_t)n;
    ar.movements = pm;
    rep.body_case = KKS__ENVELOPE__BODY_DESK_ACCOUNT_REPLY;
    rep.desk_account_reply = &ar;
    sw_out_set(o, &rep);
    free(cl);
    free(cm);
    free(pcm);
    free(months);
    return SW_READ;
}

enum sw_verdict txn_lookup_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o)
{
    const char *rrn = req->txn_lookup_request->rrn;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TxnLookupReply tr = KKS__TXN_LOOKUP_REPLY__INIT;
    txnlog_view v[DESK_ROWS];
    Kks__JournalRow jr[DESK_ROWS], *pjr[DESK_ROWS];
    ledger_xfer x[2 * DESK_ROWS];
    Kks__Transfer tm[2 * DESK_ROWS], *ptm[2 * DESK_ROWS];
    char kk[DESK_ROWS][24], paid[DESK_ROWS][96], why[96];
    int n = 0, nx = 0;

    tr.rc = KKS_RC_APPROVED;
    tr.reason = "";
    if (!kks_digits(rrn, 12)) {
        tr.rc = KKS_RC_FORMAT;
        tr.reason = "an RRN is 12 digits";
    } else if ((n = txnlog_by_rrn(s->log, rrn, v, DESK_ROWS)) < 0) {
        tr.rc = KKS_RC_SYSTEM;
        tr.reason = "database error";
        n = 0;
    } else if (n == 0) {
        snprintf(why, sizeof why, "no transaction with RRN %s in the journal", rrn);
        tr.rc = KKS_RC_INVALID_TXN;
        tr.reason = why;
    }
    for (int i = 0; i < n; i++) {
        kks__journal_row__init(&jr[i]);
        snprintf(kk[i], sizeof kk[i], v[i].kk ? "%016" PRIu64 : "", v[i].kk);
        snprintf(paid[i], sizeof paid[i], "%s%s%s", v[i].to_kind, *v[i].to_kind ? ":" : "",
                 v[i].to_owner);
        jr[i].terminal = v[i].terminal;
        jr[i].local_date = v[i].local_date;
        jr[i].stan = v[i].stan;
        jr[i].type = v[i].type;
        jr[i].pan_masked = v[i].pan_masked;
        jr[i].kk = kk[i];
        jr[i].rc = v[i].rc;
        jr[i].amount = v[i].amount;
        jr[i].wallet = v[i].wallet;
        jr[i].rrn = v[i].rrn;
        jr[i].auth_code = v[i].auth_code;
        jr[i].paid_to = paid[i];
        jr[i].business_date = v[i].bdate;
        jr[i].at = v[i].at;
        jr[i].reversed = v[i].reversed;
        jr[i].reversed_on = v[i].rev_bdate;
        jr[i].settle_batch = (uint32_t)v[i].settle_batch;
        jr[i].reversal_settle_batch = (uint32_t)v[i].rev_batch;
        pjr[i] = &jr[i];
        /* the payment and its reversal: keys as txn.c and reversal.c write them */
        for (int k = 0; k < 2; k++) {
            char key[96];
            int kn = snprintf(key, sizeof key, "%s:%s:%s:%06u", k ? "rev" : "txn",
                              v[i].terminal, v[i].local_date, v[i].stan);
            /* a key that does not fit was never written (terminal IDs are short) */
            int r = kn < 0 || (size_t)kn >= sizeof key
                        ? 0
                        : ledger_transfer_get(s->ledger, key, k ? NULL : v[i].wallet,
                                              k ? NULL : kk[i], &x[nx]);
            if (r < 0) {
                tr.rc = KKS_RC_SYSTEM;
                tr.reason = "database error";
            } else if (r == 1) {
                kks__transfer__init(&tm[nx]);
                tm[nx].key = x[nx].key;
                tm[nx].from_kind = x[nx].from_kind;
                tm[nx].from_owner = x[nx].from_owner;
                tm[nx].to_kind = x[nx].to_kind;
                tm[nx].to_owner = x[nx].to_owner;
                tm[nx].amount = x[nx].amount;
                tm[nx].kind = x[nx].kind;
                tm[nx].at = x[nx].at;
                ptm[nx] = &tm[nx];
                nx++;
            }
        }
    }
    tr.n_rows = (size_t)n;
    tr.rows = pjr;
    tr.n_transfers = (size_t)nx;
    tr.transfers = ptm;
    rep.body_case = KKS__ENVELOPE__BODY_TXN_LOOKUP_REPLY;
    rep.txn_lookup_reply = &tr;
    sw_out_set(o, &rep);
    return SW_READ;
}
