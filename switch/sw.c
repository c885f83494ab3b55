/* The switch without its network set-up: opening and closing its state,
 * dispatch and the request bracket, the business date, ping. main.c starts
 * the daemon around it; tests/test_txn.c and fuzz/fuzz_switch.c drive it
 * over in-memory connections. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "switch.h"

#define LINK_PING_MS 2000

/* ---- Ping: the switch asks each issuer link and reports what it saw. ---- */

typedef struct ping_ctx {
    kks_conn *c;
    uint64_t id;
    int remaining;
    uint64_t started;
    sw *s;
    Kks__Link links[MAX_LINKS];
    Kks__Link *plinks[MAX_LINKS];
    char strs[MAX_LINKS][3][KKS_ID_MAX];
    char errs[MAX_LINKS][128];
    uint64_t sent_at[MAX_LINKS];
} ping_ctx;

static void ping_finish(ping_ctx *p)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Pong pong = KKS__PONG__INIT;
    pong.role = "switch";
    pong.identity = "switch";
    pong.version = KKS_VERSION;
    pong.database = p->s->identity;
    pong.n_links = (size_t)p->s->nlinks;
    pong.links = p->plinks;
    rep.body_case = KKS__ENVELOPE__BODY_PONG;
    rep.pong = &pong;
    kks_conn_reply(p->c, p->id, &rep);
    kks_conn_unref(p->c);
    free(p);
}

struct ping_link {
    ping_ctx *p;
    int i;
};

static void on_link_pong(int status, const Kks__Envelope *rep, void *ud)
{
    struct ping_link *pl = ud;
    ping_ctx *p = pl->p;
    Kks__Link *l = &p->links[pl->i];
    if (status == 0 && rep->body_case == KKS__ENVELOPE__BODY_PONG) {
        snprintf(p->strs[pl->i][0], KKS_ID_MAX, "%s", rep->pong->role);
        snprintf(p->strs[pl->i][1], KKS_ID_MAX, "%s", rep->pong->identity);
        snprintf(p->strs[pl->i][2], KKS_ID_MAX, "%s", rep->pong->version);
        l->up = 1;
        l->rtt_us = (uint32_t)((uv_hrtime() - p->sent_at[pl->i]) / 1000);
    } else {
        snprintf(p->errs[pl->i], sizeof p->errs[pl->i], "%s",
                 status < 0 ? kks_strerror(status) : "unexpected reply");
    }
    free(pl);
    if (--p->remaining == 0)
        ping_finish(p);
}

static void handle_ping(sw *s, kks_conn *c, uint64_t id)
{
    ping_ctx *p = calloc(1, sizeof *p);
    if (!p) {
        Kks__Envelope rep = KKS__ENVELOPE__INIT;
        Kks__Error er = KKS__ERROR__INIT;
        er.code = KKS_ENOMEM;
        er.message = (char *)kks_strerror(KKS_ENOMEM);
        rep.body_case = KKS__ENVELOPE__BODY_ERROR;
        rep.error = &er;
        kks_conn_reply(c, id, &rep);
        return;
    }
    kks_conn_ref(c);
    p->c = c;
    p->id = id;
    p->s = s;
    p->remaining = 1; /* held until every link has been asked */
    for (int i = 0; i < s->nlinks; i++) {
        link *lk = &s->links[i];
        Kks__Link *l = &p->links[i];
        kks__link__init(l);
        p->plinks[i] = l;
        l->address = lk->addr;
        l->bins = (char **)lk->bins;
        l->n_bins = (size_t)lk->nbins;
        l->is_default = lk->is_default;
        l->role = p->strs[i][0];
        l->identity = p->strs[i][1];
        l->version = p->strs[i][2];
        l->error = p->errs[i];
        Kks__Envelope req = KKS__ENVELOPE__INIT;
        Kks__Ping ping = KKS__PING__INIT;
        req.body_case = KKS__ENVELOPE__BODY_PING;
        req.ping = &ping;
        struct ping_link *pl = malloc(sizeof *pl);
        if (!pl) {
            snprintf(p->errs[i], sizeof p->errs[i], "%s", kks_strerror(KKS_ENOMEM));
            continue;
        }
        pl->p = p;
        pl->i = i;
        p->sent_at[i] = uv_hrtime();
        int rc = s->ask(s, lk, &req, LINK_PING_MS, on_link_pong, pl);
        if (rc < 0) {
            const char *why = lk->cl ? kks_client_last_error(lk->cl) : "";
            snprintf(p->errs[i], sizeof p->errs[i], "%s", *why ? why : kks_strerror(rc));
            free(pl);
            continue;
        }
        p->remaining++;
    }
    if (--p->remaining == 0)
        ping_finish(p);
}

/* ---- replies, the request bracket, and dispatch ---- */

int sw_out_set(sw_out *o, Kks__Envelope *rep)
{
    size_t n;
    free(o->buf);
    o->buf = NULL;
    o->len = 0;
    rep->id = 0; /* set when sent: see with_id() */
    n = kks__envelope__get_packed_size(rep);
    if (!(o->buf = malloc(n ? n : 1)))
        return KKS_ENOMEM;
    o->len = kks__envelope__pack(rep, o->buf);
    return 0;
}

int sw_out_error(sw_out *o, int code, const char *msg)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__Error er = KKS__ERROR__INIT;
    er.code = code;
    er.message = (char *)msg;
    rep.body_case = KKS__ENVELOPE__BODY_ERROR;
    rep.error = &er;
    return sw_out_set(o, &rep);
}

/* A packed Envelope with id 0 has no field 1 (proto3); fields may come in
 * any order, so the id goes in front. 0 or KKS_ENOMEM. */
static int with_id(sw_out *o, uint64_t id)
{
    uint8_t pre[11], *nb;
    size_t n = 0;
    if (id == 0)
        return 0;
    pre[n++] = 0x08; /* field 1, varint */
    do {
        pre[n++] = (uint8_t)((id & 0x7f) | (id > 0x7f ? 0x80 : 0));
        id >>= 7;
    } while (id);
    if (!(nb = malloc(o->len + n)))
        return KKS_ENOMEM;
    memcpy(nb, pre, n);
    memcpy(nb + n, o->buf, o->len);
    free(o->buf);
    o->buf = nb;
    o->len += n;
    return 0;
}

int sw_begin(sw *s)
{
    return kks_group_begin(s->group);
}

int sw_complete(sw *s, kks_conn *c, uint64_t id, enum sw_verdict v, sw_out *o)
{
    int rc = 0;
    if (v == SW_LATER) {
        free(o->buf);
        o->buf = NULL;
        return 0;
    }
    if (v == SW_UNDO)
        kks_group_abort(s->group);
    const kks_group_tag *tag = o->tag.kind ? &o->tag : NULL;
    if (!o->buf || with_id(o, id) < 0) {
        if (v == SW_KEEP) /* nothing to hold the writes' reply: keep nothing */
            kks_group_abort(s->group);
        kks_conn_reply_error(c, id, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        if (tag)
            swm_answered(&s->metrics, tag, 0);
        rc = KKS_ENOMEM;
    } else if (v == SW_KEEP) {
        rc = kks_group_defer_packed(s->group, c, id, o->buf, o->len, o->rows, o->budget_ms, tag);
    } else {
        /* a read may have seen writes of requests not yet committed: it goes
         * out with them, after the COMMIT (at once when none is open) */
        kks_group_hold_packed(s->group, c, id, o->buf, o->len, tag);
    }
    free(o->buf);
    o->buf = NULL;
    return rc;
}

static enum sw_verdict ping_handle(sw *s, kks_conn *c, const Kks__Envelope *req, sw_out *o)
{
    handle_ping(s, c, req->id);
    return SW_LATER;
}

/* Which peer may send what, and whether it writes (then dispatch opens its
 * savepoint). Transactions write later, when the issuer has answered. */
static const struct {
    Kks__Envelope__BodyCase body;
    unsigned roles;
    int writes;
    sw_handler fn;
    const char *refused;
} handlers[] = {
    {KKS__ENVELOPE__BODY_PING, KKS_ROLE_TERMINAL | KKS_ROLE_OPERATOR, 0, ping_handle, ""},
    {KKS__ENVELOPE__BODY_TXN, KKS_ROLE_TERMINAL, 0, txn_handle, "transactions come from terminals"},
    {KKS__ENVELOPE__BODY_REVERSAL, KKS_ROLE_TERMINAL, 1, reversal_handle,
     "transactions come from terminals"},
    {KKS__ENVELOPE__BODY_TERMINAL_SETTLE, KKS_ROLE_TERMINAL, 0, terminal_settle_handle,
     "transactions come from terminals"},
    {KKS__ENVELOPE__BODY_SETTLE, KKS_ROLE_OPERATOR, 1, settle_handle,
     "credit runs and ledger views are for operators"},
    {KKS__ENVELOPE__BODY_CREDIT_BATCH, KKS_ROLE_OPERATOR, 1, credit_handle,
     "credit runs and ledger views are for operators"},
    {KKS__ENVELOPE__BODY_CREDIT_COLUMNS, KKS_ROLE_OPERATOR, 1, credit_handle,
     "credit runs and ledger views are for operators"},
    {KKS__ENVELOPE__BODY_ACCOUNTS_OPEN, KKS_ROLE_OPERATOR, 1, accounts_handle,
     "credit runs and ledger views are for operators"},
    {KKS__ENVELOPE__BODY_LEDGER_CHECK, KKS_ROLE_OPERATOR, 0, ledger_check_handle,
     "credit runs and ledger views are for operators"},
    {KKS__ENVELOPE__BODY_ACCOUNT_REQUEST, KKS_ROLE_OPERATOR, 0, account_handle,
     "credit runs and ledger views are for operators"},
    {KKS__ENVELOPE__BODY_DESK_ACCOUNT_REQUEST, KKS_ROLE_OPERATOR, 0, desk_account_handle,
     "the complaints desk is for operators"},
    {KKS__ENVELOPE__BODY_TXN_LOOKUP_REQUEST, KKS_ROLE_OPERATOR, 0, txn_lookup_handle,
     "the complaints desk is for operators"},
};

/* The answer when a writing request's savepoint cannot even be opened. */
static void unavailable(sw_out *o, const Kks__Envelope *req)
{
    if (req->body_case == KKS__ENVELOPE__BODY_REVERSAL) {
        Kks__Envelope rep = KKS__ENVELOPE__INIT;
        Kks__ReversalReply rr = KKS__REVERSAL_REPLY__INIT;
        rr.rc = KKS_RC_SYSTEM;
        rr.reason = "system malfunction; nothing moved; send the reversal again";
        rep.body_case = KKS__ENVELOPE__BODY_REVERSAL_REPLY;
        rep.reversal_reply = &rr;
        sw_out_set(o, &rep);
        o->tag = swm_txn_tag(o->tag.t0, SWM_REVERSAL, rr.rc);
    } else {
        sw_out_error(o, KKS_EDB, "database unavailable; nothing written");
    }
}

void sw_dispatch(sw *s, kks_conn *c, const Kks__Envelope *req)
{
    sw_out o = {.tag.t0 = uv_hrtime()};
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        if (handlers[i].body != req->body_case)
            continue;
        if (!(kks_conn_role(c) & handlers[i].roles)) {
            sw_out_error(&o, KKS_EPEERROLE, handlers[i].refused);
            sw_complete(s, c, req->id, SW_READ, &o);
            return;
        }
        if (handlers[i].writes && sw_begin(s) < 0) {
            unavailable(&o, req);
            sw_complete(s, c, req->id, SW_READ, &o);
            return;
        }
        enum sw_verdict v = handlers[i].fn(s, c, req, &o);
        assert(handlers[i].writes || v != SW_KEEP);
        sw_complete(s, c, req->id, v, &o);
        kks_db_reset_all(s->db); /* no read transaction outlives the request */
        return;
    }
    sw_out_error(&o, KKS_EUNEXPECTED, "the switch does not handle this message");
    sw_complete(s, c, req->id, SW_READ, &o);
}

void sw_on_request(kks_conn *c, const Kks__Envelope *req, void *ud)
{
    sw_dispatch(ud, c, req);
}

void sw_business_date(const sw *s, char out[11])
{
    if (s->today[0])
        memcpy(out, s->today, 11);
    else
        rules_wib_date((int64_t)time(NULL), out);
}

static int ask_issuer(sw *s, link *l, Kks__Envelope *req, unsigned timeout_ms, kks_reply_cb cb,
                      void *ud)
{
    return kks_client_call(l->cl, req, timeout_ms, cb, ud);
}

int sw_open(sw *s, uv_loop_t *loop, const char *dbpath, const char *seeds, char *err, size_t cap)
{
    int rc, mem = strcmp(dbpath, ":memory:") == 0;
    int64_t maxid;
    s->ask = ask_issuer;
    if (kks_policy_load(&s->policy, seeds, err, cap) < 0 ||
        kks_catalog_load(&s->catalog, seeds, err, cap) < 0 ||
        kks_terminals_load(&s->terminals, seeds, err, cap) < 0 ||
        rules_load(&s->txp, seeds, err, cap) < 0)
        return KKS_EINVAL;
    if (!(s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL))) {
        snprintf(err, cap, "SHA-256 unavailable");
        return KKS_ENOMEM;
    }
    if ((rc = kks_db_open(dbpath, ledger_schema, ledger_schema_versions, &s->db)) < 0) {
        snprintf(err, cap, "%s: cannot open the database (see the log)", dbpath);
        return rc;
    }
    /* Bounded cache, 160 MiB: a 10M-family credit run walks the tables in KK
     * order and needs only a window of pages, but authorisations touch a
     * random wallet, its transfer_from leaf and the journal's indexes, a
     * working set that grows with the journal. At 64 MiB three closed runs of
     * 30 s (600,000 cards) lost 15-20% from the first to the third, as the
     * misses went to the kernel (pread) and the event loop's system time per
     * request grew by a third; at 160 MiB, run in turn with it on the same
     * machine, +1.1% and -3.6%. Within the 256 MiB a switch may use. */
    if (kks_db_exec(s->db, "PRAGMA cache_size=-163840;") < 0 ||
        (rc = ledger_new(s->db, &s->ledger)) < 0 || (rc = txnlog_new(s->db, s->zpk, &s->log)) < 0 ||
        /* max_rows: a credit or account batch (16,384 rows) is a transaction
         * of its own, with no savepoint (kks_group.h) */
        kks_group_new(loop, s->db, 16384, &s->group) < 0 ||
        (kks_group_set_failure(s->group, uncommitted_reply), 0) ||
        (kks_group_set_answered(s->group, swm_answered, &s->metrics), 0) ||
        (s->metrics.group = kks_group_stats_of(s->group), 0) ||
        (!mem && kks_db_checkpointer_start(s->db, dbpath, 200, &s->ckpt) < 0)) {
        snprintf(err, cap, "%s: cannot prepare the database (see the log)", dbpath);
        return KKS_EDB;
    }
    if (kks_db_identity(s->db, s->identity) < 0) {
        snprintf(err, cap, "%s: the database has no identity (see the log)", dbpath);
        return KKS_EDB;
    }
    if ((maxid = txnlog_max_id(s->log)) < 0) {
        snprintf(err, cap, "%s: cannot read the journal", dbpath);
        return KKS_EDB;
    }
    s->rrn_seq = (uint64_t)maxid % 100000000;
    return 0;
}

void sw_close(sw *s)
{
    kks_db_checkpointer_stop(s->ckpt);
    s->ckpt = NULL;
    route_forget_keys(s);
    txnlog_free(s->log);
    ledger_free(s->ledger);
    s->log = NULL;
    s->ledger = NULL;
    kks_db_close(s->db);
    s->db = NULL;
    EVP_MD_free(s->sha256);
    s->sha256 = NULL;
    OPENSSL_cleanse(s->tmk, sizeof s->tmk);
    OPENSSL_cleanse(s->zpk, sizeof s->zpk);
}

