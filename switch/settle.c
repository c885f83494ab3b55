/* Settlement (SPEC §7): per merchant and per ATM bank, the count and sum of
 * approved, not reversed money transactions of a business day (the
 * terminals' local date). kksctl settle moves each merchant payable and ATM
 * cash account into "settled" once per day; a terminal's own totals are
 * compared with the switch's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "switch.h"

#define MAX_LINES 4096

void terminal_settle_handle(sw *s, kks_conn *c, const Kks__Envelope *env)
{
    const Kks__TerminalSettleRequest *r = env->terminal_settle;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TerminalSettleReply tr = KKS__TERMINAL_SETTLE_REPLY__INIT;
    sqlite3_stmt *st;
    char why[160];
    int y, m, d;
    if (!terminal_is_itself(c, env->id, r->terminal))
        return;
    if (kks_ymd_parse(r->date, &y, &m, &d) < 0) {
        kks_conn_reply_error(c, env->id, KKS_EINVAL, "date must be YYYY-MM-DD");
        return;
    }
    if (sqlite3_prepare_v2(ledger_db(s->ledger),
                           "SELECT count(*), coalesce(sum(amount), 0) FROM txn WHERE terminal = ?"
                           " AND local_date = ? AND rc = '00' AND type IN ('withdraw', 'purchase')"
                           " AND reversed = 0",
                           -1, &st, NULL) != SQLITE_OK) {
        kks_conn_reply_error(c, env->id, KKS_EDB, "database error");
        return;
    }
    sqlite3_bind_text(st, 1, r->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->date, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        tr.count = (uint32_t)sqlite3_column_int(st, 0);
        tr.total = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
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
    kks_conn_reply(c, env->id, &rep);
}

static const char *merchant_name(sw *s, const char *kind, const char *id)
{
    if (strcmp(kind, "merchant") == 0) {
        for (int i = 0; i < s->terminals.n; i++)
            if (strcmp(s->terminals.items[i].merchant_id, id) == 0 ||
                strcmp(s->terminals.items[i].id, id) == 0)
                return s->terminals.items[i].name;
    }
    return "";
}

void settle_handle(sw *s, kks_conn *c, const Kks__Envelope *env)
{
    const Kks__SettleRequest *r = env->settle;
    kks_group *g = ledger_group(s->ledger);
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__SettleReply sr = KKS__SETTLE_REPLY__INIT;
    Kks__SettleLine *lines = NULL, **pl = NULL;
    char (*strs)[3][80] = NULL, at[21];
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    int y, m, d, settled_before = 0;

    if (kks_ymd_parse(r->date, &y, &m, &d) < 0) {
        kks_conn_reply_error(c, env->id, KKS_EINVAL, "date must be YYYY-MM-DD");
        return;
    }
    lines = calloc(MAX_LINES, sizeof *lines);
    pl = calloc(MAX_LINES, sizeof *pl);
    strs = calloc(MAX_LINES, sizeof *strs);
    if (!lines || !pl || !strs) {
        kks_conn_reply_error(c, env->id, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        goto out;
    }
    kks_utc_now(at);
    if (kks_group_begin(g) < 0) {
        kks_conn_reply_error(c, env->id, KKS_EDB, "database busy; nothing settled");
        goto out;
    }
    if (sqlite3_prepare_v2(ledger_db(s->ledger),
                           "SELECT to_kind, to_owner, count(*), sum(amount) FROM txn"
                           " WHERE local_date = ? AND rc = '00' AND type IN ('withdraw', 'purchase')"
                           " AND reversed = 0 AND to_kind IS NOT NULL"
                           " GROUP BY to_kind, to_owner ORDER BY to_kind DESC, to_owner",
                           -1, &st, NULL) != SQLITE_OK)
        goto db_fail;
    sqlite3_bind_text(st, 1, r->date, -1, SQLITE_STATIC);
    while (n < MAX_LINES && sqlite3_step(st) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 0);
        const char *owner = (const char *)sqlite3_column_text(st, 1);
        kks__settle_line__init(&lines[n]);
        snprintf(strs[n][0], 80, "%s", strcmp(kind, "atm") == 0 ? "atm" : "merchant");
        snprintf(strs[n][1], 80, "%s", owner ? owner : "");
        snprintf(strs[n][2], 80, "%s", merchant_name(s, kind, strs[n][1]));
        lines[n].kind = strs[n][0];
        lines[n].id = strs[n][1];
        lines[n].name = strs[n][2];
        lines[n].count = (uint32_t)sqlite3_column_int(st, 2);
        lines[n].total = sqlite3_column_int64(st, 3);
        pl[n] = &lines[n];
        n++;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Move each payable into "settled", once per day and account. */
    for (size_t i = 0; i < n; i++) {
        char key[160], to[96];
        const char *from_kind = strcmp(lines[i].kind, "atm") == 0 ? "atm" : "merchant";
        snprintf(key, sizeof key, "settle:%s:%s:%s", r->date, from_kind, lines[i].id);
        snprintf(to, sizeof to, "%s:%s", from_kind, lines[i].id);
        int rc = ledger_transfer(s->ledger, key, from_kind, lines[i].id, "settled", to,
                                 lines[i].total, "settlement", at);
        if (rc < 0)
            goto db_fail;
        settled_before |= rc == LEDGER_DUPLICATE;
    }
    sr.rc = KKS_RC_APPROVED;
    sr.reason = settled_before ? "already settled: figures repeated, nothing moved"
                               : "settled: payables moved to settled";
    sr.date = r->date;
    sr.n_lines = n;
    sr.lines = pl;
    sr.already = settled_before;
    rep.body_case = KKS__ENVELOPE__BODY_SETTLE_REPLY;
    rep.settle_reply = &sr;
    kks_group_defer(g, c, env->id, &rep, (unsigned)n, 2);
    goto out;
db_fail:
    sqlite3_finalize(st);
    kks_group_abort(g);
    kks_conn_reply_error(c, env->id, KKS_EDB, "database error; nothing settled");
out:
    free(lines);
    free(pl);
    free(strs);
}
