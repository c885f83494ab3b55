/* Authorisation: terminal -> switch -> issuer -> switch -> terminal.
 *
 *   txn_handle
 *     --identity seen, same content--> the first reply again (nothing moves)
 *     --identity seen, other content--> 94
 *     --same identity still in flight--> waits for the first, then its reply
 *     --reversed before it arrived--> finish: declined 12
 *     --terminal date more than a day from the business date--> finish: 12
 *     --rules (13, 57, 58 ...; rules.c)--> finish: declined, journaled
 *     --ask_issuer: PIN block TPK->ZPK (route.c), PIN + card status-->
 *   on_issuer
 *     --timeout / link down--> finish: 91, nothing moved
 *     --issuer's decline--> finish: its code
 *     --daily limit (61), statement--> finish
 *   finish: one savepoint: money (wallet -> merchant payable or bank ATM cash;
 *     51 if short) and the journal row; the reply waits for the COMMIT. A
 *     database failure anywhere answers 96 with nothing written.
 *
 * Limits, period policy and the day a transaction is settled in follow the
 * switch's business date; the terminal's local date is only part of the
 * transaction's identity (terminal, local date, STAN). */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_pin.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "switch.h"

/* How long a reply may wait for others to share its commit: fewer, larger
 * commits under load; an idle loop commits at once anyway. */
#define TXN_COMMIT_BUDGET_MS 5
#define MAX_WAITERS 8

struct txn_ctx {
    sw *s;
    kks_conn *c;
    uint64_t id;
    txn_ctx *next; /* in flight */
    struct waiter {
        kks_conn *c;
        uint64_t id;
    } waiters[MAX_WAITERS]; /* duplicates that arrived while this one was in flight */
    int nwaiters;
    /* the request, copied (the Envelope is freed when the handler returns) */
    char terminal[KKS_ID_MAX], local_date[11], bdate[11], type[12], pan[20], pan_masked[20],
        nik[17], wallet[5];
    uint32_t stan;
    int64_t amount;
    uint8_t digest[32];
    int kind; /* enum kks_terminal_kind */
    char merchant[64], bank[16];
    size_t nlines;
    char refused_sku[24]; /* the item a purchase was declined for */
    uint64_t kk; /* the issuer's answer */
    uint64_t t0; /* when the request was decoded (uv_hrtime), for the metrics */
    enum swm_type mtype;
    /* last, and not zeroed (ctx_new): the first nlines are set when priced */
    Kks__ItemLine lines[RULES_MAX_ITEMS]; /* purchase lines, priced */
};

static int is(const txn_ctx *t, const char *type)
{
    return strcmp(t->type, type) == 0;
}

/* src into dst, cut to cap - 1 bytes (cap > 0). */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/* SHA-256 over the fields that make a request what it is (not the PIN
 * blocks, whose fill is random on every encoding). */
static void request_digest(sw *s, const Kks__TxnRequest *t, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char num[64];
    unsigned len = 32;
    memset(out, 0, 32);
    if (!md || EVP_DigestInit_ex(md, s->sha256, NULL) != 1) {
        EVP_MD_CTX_free(md);
        return;
    }
    const char *parts[] = {t->type, t->pan, t->nik, t->wallet};
    for (int i = 0; i < 4; i++) {
        EVP_DigestUpdate(md, parts[i], strlen(parts[i]));
        EVP_DigestUpdate(md, "|", 1);
    }
    snprintf(num, sizeof num, "%" PRId64 "|", t->amount);
    EVP_DigestUpdate(md, num, strlen(num));
    for (size_t i = 0; i < t->n_items; i++) {
        snprintf(num, sizeof num, "%u|", t->items[i]->qty);
        EVP_DigestUpdate(md, t->items[i]->sku, strlen(t->items[i]->sku));
        EVP_DigestUpdate(md, num, strlen(num));
    }
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

static void make_rrn(sw *s, const char *bdate, char out[24])
{
    /* last digit of the year, day of the year, 8-digit sequence */
    int32_t day = rules_day_number(bdate), jan1;
    char y[11];
    snprintf(y, sizeof y, "%.4s-01-01", bdate);
    jan1 = rules_day_number(y);
    s->rrn_seq = (s->rrn_seq + 1) % 100000000;
    snprintf(out, 24, "%c%03d%08" PRIu64, bdate[3], (int)(day - jan1 + 1) % 1000, s->rrn_seq);
}

static void make_auth_code(char out[7])
{
    static const char a[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uint8_t r[6];
    if (kks_random(r, sizeof r) < 0)
        memset(r, 0, sizeof r);
    for (int i = 0; i < 6; i++)
        out[i] = a[r[i] % 32];
    out[6] = '\0';
}

int txn_in_flight(sw *s, const char *terminal, const char *local_date, uint32_t stan)
{
    for (txn_ctx *p = s->inflight; p; p = p->next)
        if (p->stan == stan && strcmp(p->terminal, terminal) == 0 &&
            strcmp(p->local_date, local_date) == 0)
            return 1;
    return 0;
}

static void ctx_free(txn_ctx *t)
{
    for (txn_ctx **p = &t->s->inflight; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    kks_conn_unref(t->c);
    for (int i = 0; i < t->nwaiters; i++)
        kks_conn_unref(t->waiters[i].c);
    free(t);
}

/* A decline that needs no journal row and moves nothing (it still has its RRN). */
static enum sw_verdict quick(sw *s, sw_out *o, const Kks__TxnRequest *req, const char *rc,
                             const char *reason)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TxnReply tr = KKS__TXN_REPLY__INIT;
    char bdate[11], rrn[24];
    sw_business_date(s, bdate);
    make_rrn(s, bdate, rrn);
    tr.rrn = rrn;
    tr.business_date = bdate;
    tr.rc = (char *)rc;
    tr.reason = (char *)reason;
    tr.stan = req->stan;
    tr.type = req->type;
    rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    rep.txn_reply = &tr;
    sw_out_set(o, &rep);
    o->tag = swm_txn_tag(o->tag.t0, swm_type_of(req->type), rc);
    return SW_READ;
}

/* ---- the end of a transaction: money, journal, reply after COMMIT ---- */

static void finish(txn_ctx *t, const char *rc, const char *reason,
                   const ledger_movement *stmt, int nstmt)
{
    sw *s = t->s;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TxnReply tr = KKS__TXN_REPLY__INIT;
    Kks__ItemLine *plines[RULES_MAX_ITEMS];
    Kks__StatementLine sl[10], *psl[10];
    char rrn[24], auth[7] = "", at[21], kkbuf[24], why[200];
    const char *to_kind = NULL, *to_owner = NULL;
    sw_out o = {0};
    int approved = strcmp(rc, KKS_RC_APPROVED) == 0, money = 0, r, begun;

    kks_utc_now(at);
    make_rrn(s, t->bdate, rrn);
    copy(why, sizeof why, reason);
    begun = sw_begin(s) == 0;
    if (!begun)
        goto failed;
    snprintf(kkbuf, sizeof kkbuf, "%016" PRIu64, t->kk);
    money = approved && t->amount > 0 && (is(t, "withdraw") || is(t, "purchase"));
    if (money) {
        char key[96];
        to_kind = t->kind == KKS_TERMINAL_ATM ? "atm" : "merchant";
        to_owner = t->kind == KKS_TERMINAL_ATM ? t->bank : t->merchant;
        snprintf(key, sizeof key, "txn:%s:%s:%06u", t->terminal, t->local_date, t->stan);
        r = ledger_transfer(s->ledger, key, t->wallet, kkbuf, to_kind, to_owner, t->amount,
                            t->type, at);
        if (r == LEDGER_NSF) {
            rc = KKS_RC_NSF;
            snprintf(why, sizeof why, "insufficient %s balance",
                     strcmp(t->wallet, "bpnt") == 0 ? "BPNT" : "PKH");
            approved = money = 0;
            to_kind = to_owner = NULL;
        } else if (r != 0) {
            goto failed;
        }
    }
    if (approved) {
        make_auth_code(auth);
        tr.auth_code = auth;
        if (t->kk && ledger_wallet(s->ledger, t->kk, &tr.pkh, &tr.bpnt) == 0)
            tr.has_balances = 1;
    }
    tr.rc = (char *)rc;
    tr.reason = why;
    tr.stan = t->stan;
    tr.rrn = rrn;
    tr.type = t->type;
    tr.wallet = t->wallet;
    tr.business_date = t->bdate;
    tr.refused_sku = t->refused_sku;
    tr.amount = money ? t->amount : 0;
    for (size_t i = 0; i < t->nlines; i++)
        plines[i] = &t->lines[i];
    tr.n_items = t->nlines;
    tr.items = plines;
    for (int i = 0; i < nstmt && i < 10; i++) {
        kks__statement_line__init(&sl[i]);
        sl[i].at = (char *)stmt[i].at;
        sl[i].wallet = (char *)stmt[i].wallet;
        sl[i].amount = stmt[i].amount;
        sl[i].kind = (char *)stmt[i].kind;
        sl[i].ref = (char *)stmt[i].ref;
        psl[i] = &sl[i];
    }
    tr.n_statement = (size_t)(nstmt < 10 ? nstmt : 10);
    tr.statement = psl;
    {
        /* the journal keeps the reply as sent, to send it again for a duplicate */
        size_t plen = kks__txn_reply__get_packed_size(&tr);
        uint8_t *packed = malloc(plen ? plen : 1);
        txnlog_row row = {
            .terminal = t->terminal, .local_date = t->local_date, .bdate = t->bdate,
            .type = t->type, .pan = t->pan, .pan_masked = t->pan_masked, .wallet = t->wallet,
            .rc = rc, .rrn = rrn, .auth_code = auth, .to_kind = to_kind, .to_owner = to_owner,
            .at = at, .stan = t->stan, .digest = t->digest, .kk = t->kk,
            .amount = money ? t->amount : 0, .reply = packed, .reply_len = plen,
        };
        if (!packed)
            goto failed;
        kks__txn_reply__pack(&tr, packed);
        r = txnlog_insert(s->log, &row);
        free(packed);
        if (r < 0) {
            kks_error("journal insert failed; rolled back", "error", sqlite3_errmsg(s->db));
            goto failed;
        }
    }
    rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    rep.txn_reply = &tr;
    if (sw_out_set(&o, &rep) < 0)
        goto failed;
    {
        char st[12];
        snprintf(st, sizeof st, "%06u", t->stan);
        kks_info("txn", "terminal", t->terminal, "type", t->type, "pan", t->pan_masked, "rc", rc,
                 "rrn", rrn, "stan", st);
    }
    o.rows = 1;
    o.budget_ms = TXN_COMMIT_BUDGET_MS;
    o.tag = swm_txn_tag(t->t0, t->mtype, rc);
    if (sw_complete(s, t->c, t->id, SW_KEEP, &o) == 0) {
        /* duplicates: the same reply, after the same COMMIT */
        for (int i = 0; i < t->nwaiters; i++)
            kks_group_hold(s->group, t->waiters[i].c, t->waiters[i].id, &rep);
    } else {
        /* the writes were undone: nothing to report but a failure */
        for (int i = 0; i < t->nwaiters; i++)
            kks_conn_reply_error(t->waiters[i].c, t->waiters[i].id, KKS_ENOMEM,
                                 "out of memory; nothing moved; send the request again");
    }
    ctx_free(t);
    return;

failed:
    /* Nothing of this transaction is written (its savepoint is rolled back):
     * 96, to the terminal and to every duplicate waiting for it. */
    free(o.buf);
    o.buf = NULL;
    kks__txn_reply__init(&tr);
    tr.rc = KKS_RC_SYSTEM;
    tr.reason = "system malfunction; nothing moved";
    tr.stan = t->stan;
    tr.rrn = rrn;
    tr.type = t->type;
    tr.wallet = t->wallet;
    tr.business_date = t->bdate;
    rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    rep.txn_reply = &tr;
    sw_out_set(&o, &rep);
    o.tag = swm_txn_tag(t->t0, t->mtype, KKS_RC_SYSTEM);
    for (int i = 0; i < t->nwaiters; i++)
        kks_conn_reply(t->waiters[i].c, t->waiters[i].id, &rep);
    sw_complete(s, t->c, t->id, begun ? SW_UNDO : SW_READ, &o);
    ctx_free(t);
}

static void decline(txn_ctx *t, const char *rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void decline(txn_ctx *t, const char *rc, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    finish(t, rc, why, NULL, 0);
}

/* ---- after the issuer answered ---- */

static void on_issuer(int status, const Kks__Envelope *rep, void *ud)
{
    txn_ctx *t = ud;
    sw *s = t->s;
    const Kks__PinReply *pr;
    const char *rc;
    char why[200];
    if (status < 0) {
        decline(t, KKS_RC_INOPERATIVE, "issuer did not answer in time (%s); nothing moved",
                kks_strerror(status));
        return;
    }
    if (rep->body_case != KKS__ENVELOPE__BODY_PIN_REPLY) {
        decline(t, KKS_RC_SYSTEM, "unexpected answer from the issuer");
        return;
    }
    pr = rep->pin_reply;
    if (kks_digits(pr->kk, 16))
        t->kk = strtoull(pr->kk, NULL, 10);
    if (strcmp(pr->rc, KKS_RC_APPROVED) != 0) {
        decline(t, pr->rc, "%s", pr->reason);
        return;
    }
    if (!t->kk && !is(t, "activate") && !is(t, "pin_change")) {
        /* no family, no wallet: never a misleading "insufficient balance" */
        decline(t, KKS_RC_SYSTEM, "the issuer named no family for this card; nothing moved");
        return;
    }
    if (is(t, "withdraw")) {
        int64_t count, sum = txnlog_withdrawn(s->log, t->pan, t->bdate, &count);
        if ((rc = rules_daily_count(&s->txp, count, why, sizeof why)) ||
            (rc = rules_daily_limit(&s->txp, sum, t->amount, why, sizeof why))) {
            finish(t, rc, why, NULL, 0);
            return;
        }
    }
    if (is(t, "statement")) {
        ledger_movement mv[10];
        int n = t->kk ? ledger_movements(s->ledger, t->kk, mv, 10) : 0;
        if (n < 0) {
            decline(t, KKS_RC_SYSTEM, "system malfunction; nothing moved");
            return;
        }
        finish(t, KKS_RC_APPROVED, "approved", mv, n);
        return;
    }
    finish(t, KKS_RC_APPROVED, "approved", NULL, 0);
}

static void ask_issuer(txn_ctx *t, const Kks__TxnRequest *req)
{
    sw *s = t->s;
    Kks__Envelope env = KKS__ENVELOPE__INIT;
    Kks__PinSetRequest ps = KKS__PIN_SET_REQUEST__INIT;
    Kks__PinVerifyRequest pv = KKS__PIN_VERIFY_REQUEST__INIT;
    Kks__PinChangeRequest pc = KKS__PIN_CHANGE_REQUEST__INIT;
    uint8_t b1[16], b2[16];
    link *l = route_for(s, t->pan);
    int rc;

    if (!l) {
        decline(t, KKS_RC_NO_ROUTE, "no issuer for this card's BIN");
        return;
    }
    if (route_translate(s, t->terminal, t->pan, &req->pin_block, b1) < 0 ||
        (is(t, "pin_change") && route_translate(s, t->terminal, t->pan, &req->new_pin_block, b2) < 0)) {
        OPENSSL_cleanse(b1, sizeof b1);
        decline(t, KKS_RC_FORMAT, "PIN block missing, malformed or not under this terminal's key");
        return;
    }
    if (is(t, "activate")) {
        ps.pan = t->pan;
        ps.nik = t->nik;
        ps.pin_block.data = b1;
        ps.pin_block.len = 16;
        ps.site = t->terminal;
        env.body_case = KKS__ENVELOPE__BODY_PIN_SET;
        env.pin_set = &ps;
    } else if (is(t, "pin_change")) {
        pc.pan = t->pan;
        pc.old_block.data = b1;
        pc.old_block.len = 16;
        pc.new_block.data = b2;
        pc.new_block.len = 16;
        pc.site = t->terminal;
        env.body_case = KKS__ENVELOPE__BODY_PIN_CHANGE;
        env.pin_change = &pc;
    } else {
        pv.pan = t->pan;
        pv.pin_block.data = b1;
        pv.pin_block.len = 16;
        pv.site = t->terminal;
        env.body_case = KKS__ENVELOPE__BODY_PIN_VERIFY;
        env.pin_verify = &pv;
    }
    rc = s->ask(s, l, &env, (unsigned)s->txp.issuer_timeout_ms, on_issuer, t);
    OPENSSL_cleanse(b1, sizeof b1);
    OPENSSL_cleanse(b2, sizeof b2);
    if (rc < 0)
        decline(t, KKS_RC_INOPERATIVE, "issuer link down (%s); nothing moved", kks_strerror(rc));
}

/* ---- arrival ---- */

/* Seen before? Answers from the journal or the transaction in flight.
 * Returns a verdict, -1 when the request is new, -2 when a reversal for it
 * came first. */
static int seen_before(sw *s, kks_conn *c, uint64_t id, const Kks__TxnRequest *req,
                       const uint8_t digest[32], sw_out *o)
{
    uint8_t seen[32], *old = NULL;
    size_t oldlen = 0;
    int r;
    for (txn_ctx *p = s->inflight; p; p = p->next) {
        if (p->stan != req->stan || strcmp(p->terminal, req->terminal) != 0 ||
            strcmp(p->local_date, req->local_date) != 0)
            continue;
        if (memcmp(p->digest, digest, 32) != 0)
            return quick(s, o, req, KKS_RC_DUPLICATE,
                         "this STAN is in use today for another transaction");
        if (p->nwaiters == MAX_WAITERS)
            return quick(s, o, req, KKS_RC_INOPERATIVE,
                         "the same transaction is still in progress; send it again");
        kks_conn_ref(c);
        p->waiters[p->nwaiters].c = c;
        p->waiters[p->nwaiters].id = id;
        p->nwaiters++;
        return SW_LATER;
    }
    r = txnlog_find(s->log, req->terminal, req->local_date, req->stan, seen, &old, &oldlen);
    if (r < 0)
        return quick(s, o, req, KKS_RC_SYSTEM, "system malfunction; nothing moved");
    if (r == TXNLOG_REVERSED_FIRST)
        return -2;
    if (r != TXNLOG_FOUND)
        return -1;
    if (memcmp(seen, digest, 32) == 0) {
        Kks__TxnReply *tr = kks__txn_reply__unpack(NULL, oldlen, old);
        free(old);
        if (!tr)
            return quick(s, o, req, KKS_RC_SYSTEM, "system malfunction; nothing moved");
        Kks__Envelope rep = KKS__ENVELOPE__INIT;
        rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
        rep.txn_reply = tr;
        /* the first reply again, nothing moves; and not before the first one's
         * row is committed (it may still be in the open group) */
        kks_group_hold(s->group, c, id, &rep);
        kks__txn_reply__free_unpacked(tr, NULL);
        return SW_LATER;
    }
    free(old);
    return quick(s, o, req, KKS_RC_DUPLICATE,
                 "this STAN was already used today for another transaction");
}

/* Checks what needs no issuer; 0 to go on, else declined (and t freed). */
static int check_request(txn_ctx *t, const Kks__TxnRequest *req)
{
    sw *s = t->s;
    const char *rc;
    char why[200];
    int is_withdraw = is(t, "withdraw"), is_purchase = is(t, "purchase");
    const char *wallet = req->wallet[0] ? req->wallet : (is_purchase ? "bpnt" : "pkh");

    if ((rc = rules_local_date(t->bdate, t->local_date, why, sizeof why)))
        goto declined;
    if (strcmp(wallet, "pkh") != 0 && strcmp(wallet, "bpnt") != 0) {
        decline(t, KKS_RC_FORMAT, "wallet must be pkh or bpnt");
        return -1;
    }
    copy(t->wallet, sizeof t->wallet, is_withdraw || is_purchase ? wallet : "");
    if (!is(t, "activate") && !is(t, "balance") && !is_withdraw && !is_purchase &&
        !is(t, "pin_change") && !is(t, "statement")) {
        decline(t, KKS_RC_INVALID_TXN, "unknown transaction type '%.11s'", t->type);
        return -1;
    }
    if (!kks_pan_valid(t->pan)) {
        decline(t, KKS_RC_NO_CARD, "not a card number (length or check digit)");
        return -1;
    }
    if (is_withdraw) {
        if ((rc = rules_withdraw(&s->txp, &s->policy, t->kind, t->amount,
                                 strcmp(t->wallet, "bpnt") == 0, t->bdate, why, sizeof why)))
            goto declined;
    } else if (is_purchase) {
        const char *skus[RULES_MAX_ITEMS];
        uint32_t qtys[RULES_MAX_ITEMS];
        rules_line lines[RULES_MAX_ITEMS];
        size_t n = req->n_items <= RULES_MAX_ITEMS ? req->n_items : RULES_MAX_ITEMS + 1;
        for (size_t i = 0; i < n && i < RULES_MAX_ITEMS; i++) {
            skus[i] = req->items[i]->sku;
            qtys[i] = req->items[i]->qty;
        }
        size_t refused;
        if ((rc = rules_purchase(&s->txp, &s->catalog, t->kind, strcmp(t->wallet, "bpnt") == 0,
                                 t->bdate, skus, qtys, n, lines, &t->amount, &refused, why,
                                 sizeof why))) {
            if (refused < n)
                copy(t->refused_sku, sizeof t->refused_sku, skus[refused]);
            goto declined;
        }
        for (size_t i = 0; i < n; i++) {
            Kks__ItemLine *l = &t->lines[i];
            kks__item_line__init(l);
            l->sku = (char *)lines[i].item->sku;
            l->name = (char *)lines[i].item->name;
            l->category = (char *)lines[i].item->category;
            l->qty = lines[i].qty;
            l->unit_price = lines[i].item->price;
            l->total = lines[i].total;
        }
        t->nlines = n;
    } else {
        t->amount = 0;
    }
    if (is(t, "activate") && !kks_digits(t->nik, 16)) {
        decline(t, KKS_RC_FORMAT, "activation needs the holder's 16-digit NIK");
        return -1;
    }
    return 0;
declined:
    finish(t, rc, why, NULL, 0);
    return -1;
}

enum sw_verdict txn_handle(sw *s, kks_conn *c, const Kks__Envelope *env, sw_out *o)
{
    const Kks__TxnRequest *req = env->txn;
    txn_ctx *t;
    int y, m, d, r;
    uint8_t digest[32];

    if (!terminal_is_itself(c, req->terminal)) {
        sw_out_error(o, KKS_EPEERROLE, "a terminal may only act for itself");
        return SW_READ;
    }
    if (req->stan == 0 || req->stan > 999999 || kks_ymd_parse(req->local_date, &y, &m, &d) < 0) {
        sw_out_error(o, KKS_EINVAL, "STAN must be 1..999999 and local_date YYYY-MM-DD");
        return SW_READ;
    }
    request_digest(s, req, digest);
    if ((r = seen_before(s, c, env->id, req, digest, o)) >= 0)
        return (enum sw_verdict)r;
    /* not calloc: zeroing the 50 item lines cost 4,500 instructions a request */
    if (!(t = malloc(sizeof *t))) {
        sw_out_error(o, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        return SW_READ;
    }
    memset(t, 0, offsetof(txn_ctx, lines));
    t->s = s;
    t->c = c;
    kks_conn_ref(c);
    t->id = env->id;
    t->t0 = o->tag.t0;
    t->stan = req->stan;
    memcpy(t->digest, digest, 32);
    copy(t->terminal, sizeof t->terminal, req->terminal);
    copy(t->local_date, sizeof t->local_date, req->local_date);
    sw_business_date(s, t->bdate);
    copy(t->type, sizeof t->type, req->type);
    t->mtype = swm_type_of(req->type);
    copy(t->pan, sizeof t->pan, strlen(req->pan) <= 19 ? req->pan : "");
    kks_pan_mask(t->pan, t->pan_masked);
    copy(t->nik, sizeof t->nik, strlen(req->nik) <= 16 ? req->nik : "");
    t->amount = req->amount;
    t->kind = kks_terminal_kind_of(t->terminal);
    const kks_terminal *known = kks_terminals_find(&s->terminals, t->terminal);
    copy(t->merchant, sizeof t->merchant,
         known && known->merchant_id[0] ? known->merchant_id : t->terminal);
    copy(t->bank, sizeof t->bank, known ? known->bank : "");
    if (!t->bank[0] && t->kind == KKS_TERMINAL_ATM) { /* ATM-BNI-0001 */
        const char *p = t->terminal + 4, *dash = strchr(p, '-');
        snprintf(t->bank, sizeof t->bank, "%.*s", dash ? (int)(dash - p) : 15, p);
    }
    t->next = s->inflight;
    s->inflight = t;

    if (r == -2) {
        decline(t, KKS_RC_INVALID_TXN, "this transaction was reversed before it arrived");
        return SW_LATER;
    }
    if (check_request(t, req) == 0)
        ask_issuer(t, req);
    return SW_LATER;
}
