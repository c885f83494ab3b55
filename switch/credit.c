/* Credit runs, ledger check and account views: the operator's side of the switch.
 *
 * A credit batch is one programme and period; its rows are applied in KK
 * order (sorted here if the sender did not), each as one credit keyed by
 * (family, funding account), so running a manifest again, or again after a
 * crash, credits each family exactly once. A batch is a savepoint in the
 * group transaction and is acknowledged only after COMMIT. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "switch.h"

#define KK_MIN 1000000000000000ull
#define KK_MAX 9999999999999999ull

/* Rejected rows, grown only when there are some (a clean batch allocates nothing). */
struct rejects {
    Kks__Rejected **p;
    size_t n, cap;
};

static int rejects_add(struct rejects *r, uint32_t line, const char *why)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        Kks__Rejected **np = realloc(r->p, nc * sizeof *np);
        if (!np)
            return KKS_ENOMEM;
        r->p = np;
        r->cap = nc;
    }
    Kks__Rejected *x = malloc(sizeof *x + strlen(why) + 1);
    if (!x)
        return KKS_ENOMEM;
    kks__rejected__init(x);
    x->line = line;
    x->reason = (char *)(x + 1);
    memcpy(x->reason, why, strlen(why) + 1);
    r->p[r->n++] = x;
    return 0;
}

static void rejects_free(struct rejects *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->p[i]);
    free(r->p);
}

static int cmp_row(const void *a, const void *b)
{
    const Kks__CreditRow *x = *(Kks__CreditRow *const *)a, *y = *(Kks__CreditRow *const *)b;
    if (x->kk != y->kk)
        return x->kk < y->kk ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

void credit_handle(sw *s, kks_conn *c, const Kks__Envelope *req)
{
    const Kks__CreditBatch *b = req->credit_batch;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__CreditResult res = KKS__CREDIT_RESULT__INIT;
    Kks__CreditRow **rows = NULL;
    struct rejects rj = {0};
    char why[128];
    kks_period per;
    int64_t funding, max, total = 0;
    char at[21];
    int wallet;

    if (kks_period_parse(b->program, b->period, &per) < 0) {
        kks_conn_reply_error(c, req->id, KKS_EINVAL, "unknown programme or period label");
        return;
    }
    wallet = strcmp(b->program, "pkh") == 0 ? LEDGER_PKH : LEDGER_BPNT;
    max = kks_policy_max_amount(&s->policy, &per);
    rows = malloc((b->n_rows + 1) * sizeof *rows);
    if (!rows) {
        kks_conn_reply_error(c, req->id, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        goto out;
    }
    memcpy(rows, b->rows, b->n_rows * sizeof *rows);
    for (size_t i = 1; i < b->n_rows; i++) {
        if (cmp_row(&rows[i - 1], &rows[i]) > 0) {
            qsort(rows, b->n_rows, sizeof *rows, cmp_row);
            break;
        }
    }
    kks_utc_now(at);
    if (kks_group_begin(ledger_group(s->ledger)) < 0 ||
        ledger_funding(s->ledger, b->program, per.label, &funding) < 0) {
        kks_group_abort(ledger_group(s->ledger));
        kks_conn_reply_error(c, req->id, KKS_EDB, "database busy or unavailable; nothing credited");
        goto out;
    }
    for (size_t i = 0; i < b->n_rows; i++) {
        const Kks__CreditRow *r = rows[i];
        int64_t existing = 0;
        int rc;
        why[0] = '\0';
        if (r->kk < KK_MIN || r->kk > KK_MAX) {
            snprintf(why, sizeof why, "KK must be 16 digits");
        } else if (r->amount <= 0) {
            snprintf(why, sizeof why, "amount must be more than Rp0");
        } else if (r->amount > max) {
            snprintf(why, sizeof why,
                     "Rp%" PRId64 " is over the policy maximum Rp%" PRId64 " for %s %s",
                     r->amount, max, b->program, per.label);
        } else if (i > 0 && rows[i - 1]->kk == r->kk) {
            snprintf(why, sizeof why, "KK %" PRIu64 " twice in this run (line %u)",
                     r->kk, rows[i - 1]->line);
        } else if ((rc = ledger_credit(s->ledger, funding, wallet, r->kk, r->amount, at,
                                       &existing)) < 0) {
            kks_error("credit failed; batch rolled back", "error",
                      sqlite3_errmsg(ledger_db(s->ledger)));
            kks_group_abort(ledger_group(s->ledger));
            kks_conn_reply_error(c, req->id, KKS_EDB, "database error; nothing of this batch credited");
            goto out;
        } else if (rc == 0) {
            res.credited++;
            total += r->amount;
        } else if (rc == 1) {
            res.already++;
        } else {
            snprintf(why, sizeof why,
                     "already credited Rp%" PRId64 " for %s %s; the manifest says Rp%" PRId64
                     ": not applied",
                     existing, b->program, per.label, r->amount);
        }
        if (why[0] && rejects_add(&rj, r->line, why) < 0) {
            kks_group_abort(ledger_group(s->ledger));
            kks_conn_reply_error(c, req->id, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
            goto out;
        }
    }
    if (total && ledger_funding_add(s->ledger, funding, -total) < 0) {
        kks_group_abort(ledger_group(s->ledger));
        kks_conn_reply_error(c, req->id, KKS_EDB, "database error; nothing of this batch credited");
        goto out;
    }
    res.rupiah = total;
    res.n_rejected = rj.n;
    res.rejected = rj.p;
    rep.body_case = KKS__ENVELOPE__BODY_CREDIT_RESULT;
    rep.credit_result = &res;
    kks_group_defer(ledger_group(s->ledger), c, req->id, &rep, (unsigned)b->n_rows, 200);
out:
    free(rows);
    rejects_free(&rj);
}

void ledger_check_handle(sw *s, kks_conn *c, const Kks__Envelope *req)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__LedgerCheckReply lr = KKS__LEDGER_CHECK_REPLY__INIT;
    char violation[256];
    int rc = ledger_check(s->ledger, violation, sizeof violation, &lr.accounts, &lr.transfers,
                          &lr.wallets_total, &lr.funding_total);
    if (rc < 0) {
        kks_conn_reply_error(c, req->id, KKS_EDB, "database error during the check");
        return;
    }
    lr.ok = rc == 0;
    lr.violation = violation;
    rep.body_case = KKS__ENVELOPE__BODY_LEDGER_CHECK_REPLY;
    rep.ledger_check_reply = &lr;
    kks_conn_reply(c, req->id, &rep);
}

void account_handle(sw *s, kks_conn *c, const Kks__Envelope *req)
{
    const Kks__AccountRequest *a = req->account_request;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__AccountReply ar = KKS__ACCOUNT_REPLY__INIT;
    Kks__Movement mv[50], *pmv[50];
    char strs[50][4][40];
    unsigned limit = a->limit == 0 || a->limit > 50 ? 10 : a->limit;
    size_t n = 0;
    sqlite3_stmt *st = NULL;

    ar.kk = a->kk;
    if (!kks_digits(a->kk, 16)) {
        ar.rc = KKS_RC_FORMAT;
        ar.reason = "KK must be 16 digits";
    } else {
        uint64_t kk = strtoull(a->kk, NULL, 10);
        int rc = ledger_wallet(s->ledger, kk, &ar.pkh, &ar.bpnt);
        if (rc < 0) {
            ar.rc = KKS_RC_SYSTEM;
            ar.reason = "database error";
        } else if (rc == 1) {
            ar.rc = KKS_RC_NO_CARD;
            ar.reason = "no account for this family (never credited)";
        } else {
            ar.rc = KKS_RC_APPROVED;
            ar.reason = "";
            /* newest first: credits and transfers touching this family's wallets */
            if (sqlite3_prepare_v2(
                    ledger_db(s->ledger),
                    LEDGER_MOVEMENTS_SQL,
                    -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, (int64_t)kk);
                sqlite3_bind_text(st, 2, a->kk, -1, SQLITE_STATIC);
                sqlite3_bind_int(st, 3, (int)limit);
                while (n < limit && sqlite3_step(st) == SQLITE_ROW) {
                    kks__movement__init(&mv[n]);
                    for (int k = 0; k < 4; k++) {
                        const unsigned char *t = sqlite3_column_text(st, k < 2 ? k : k + 1);
                        snprintf(strs[n][k], sizeof strs[n][k], "%s", t ? (const char *)t : "");
                    }
                    mv[n].at = strs[n][0];
                    mv[n].wallet = strs[n][1];
                    mv[n].amount = sqlite3_column_int64(st, 2);
                    mv[n].kind = strs[n][2];
                    mv[n].ref = strs[n][3];
                    pmv[n] = &mv[n];
                    n++;
                }
            }
        }
    }
    ar.n_movements = n;
    ar.movements = pmv;
    rep.body_case = KKS__ENVELOPE__BODY_ACCOUNT_REPLY;
    rep.account_reply = &ar;
    kks_conn_reply(c, req->id, &rep);
    sqlite3_finalize(st);
}
