/* Authorisation: terminal -> switch -> issuer -> switch -> terminal (SPEC §7).
 *
 *   arrive --identity seen, same content--> the first reply again (nothing moves)
 *          --identity seen, other content--> 94
 *          --same identity still in flight--> waits for the first, then its reply
 *          --reversed before it arrived--> declined 12
 *          --terminal rules (13, 57, 58, 61 ...)--> declined, journaled
 *          --PIN block TPK->ZPK, issuer: PIN + card status--> issuer's code, or 91 on timeout
 *          --money: wallet -> merchant payable / bank ATM cash (51 if short)--> journaled
 *   The journal row, the transfer and the reply's balances are written in one
 *   group transaction; the reply goes out after COMMIT.
 *
 * A reversal names terminal + STAN + local date: it moves the money back
 * once, is acknowledged every time, and for an original never seen leaves a
 * mark so that the original, if it comes, is declined. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "kks_csv.h"
#include "kks_db.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_pin.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "switch.h"

#define MAX_ITEMS 50
/* How long a reply may wait for others to share its commit: fewer, larger
 * commits under load; an idle loop commits at once anyway. */
#define TXN_COMMIT_BUDGET_MS 5

typedef struct txn_ctx txn_ctx;
struct txn_ctx {
    sw *s;
    kks_conn *c;
    uint64_t id;
    txn_ctx *next; /* in flight */
    /* waiters: duplicates that arrived while this one was in flight */
    struct waiter {
        kks_conn *c;
        uint64_t id;
    } waiters[8];
    int nwaiters;
    /* the request, copied (the Envelope is freed when the handler returns) */
    char terminal[KKS_ID_MAX], local_date[11], type[12], pan[20], pan_masked[20], nik[17];
    char wallet[5];
    uint32_t stan;
    int64_t amount;
    uint8_t digest[32];
    int kind; /* enum kks_terminal_kind */
    char merchant[64], bank[16];
    /* purchase lines, priced */
    Kks__ItemLine lines[MAX_ITEMS];
    char line_strs[MAX_ITEMS][3][80];
    size_t nlines;
    /* issuer's answer */
    uint64_t kk;
};

static txn_ctx *inflight;

/* ---- helpers ---- */

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const EVP_MD *sha256(void)
{
    static EVP_MD *md; /* fetched once: see core/pin.c */
    if (!md)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    return md;
}

/* Each terminal's PIN key, derived once from the master key (HKDF is not
 * cheap) and kept in a small direct-mapped cache keyed by terminal ID. */
#define TPK_CACHE 1024
static struct {
    char id[KKS_ID_MAX];
    uint8_t tpk[16];
} tpk_cache[TPK_CACHE];

static int terminal_tpk(sw *s, const char *id, uint8_t tpk[16])
{
    uint32_t h = 2166136261u;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h %= TPK_CACHE;
    if (strcmp(tpk_cache[h].id, id) != 0) {
        if (kks_tpk_derive(s->tmk, id, tpk_cache[h].tpk) < 0) {
            tpk_cache[h].id[0] = '\0';
            return KKS_ETLS;
        }
        snprintf(tpk_cache[h].id, sizeof tpk_cache[h].id, "%s", id);
    }
    memcpy(tpk, tpk_cache[h].tpk, 16);
    return 0;
}

void auth_forget_keys(void)
{
    OPENSSL_cleanse(tpk_cache, sizeof tpk_cache);
}

/* SHA-256 over the fields that make a request what it is (not the PIN
 * blocks, whose fill is random on every encoding). */
static void request_digest(const Kks__TxnRequest *t, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char num[64];
    unsigned len = 32;
    EVP_DigestInit_ex(md, sha256(), NULL);
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

/* Keyed reference to a PAN for per-card limits: the journal keeps only the
 * masked PAN. */
static void pan_ref(sw *s, const char *pan, char out[33])
{
    uint8_t h[32];
    unsigned len = 32;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, sha256(), NULL);
    EVP_DigestUpdate(md, s->zpk, sizeof s->zpk);
    EVP_DigestUpdate(md, pan, strlen(pan));
    EVP_DigestFinal_ex(md, h, &len);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void make_rrn(sw *s, char out[24])
{
    /* last digit of the year, day of the year, 8-digit sequence */
    time_t t = time(NULL) + 7 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    s->rrn_seq = (s->rrn_seq + 1) % 100000000;
    snprintf(out, 24, "%u%03u%08" PRIu64, (unsigned)(tm.tm_year + 1900) % 10u,
             (unsigned)(tm.tm_yday + 1) % 1000u, s->rrn_seq); /* 12 digits */
}

static void make_auth_code(char out[7])
{
    static const char a[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uint8_t r[6];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r);
    for (int i = 0; i < 6; i++)
        out[i] = a[r[i] % 32];
    out[6] = '\0';
}

static void ctx_unlink(txn_ctx *t)
{
    for (txn_ctx **p = &inflight; *p; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            return;
        }
    }
}

static void ctx_free(txn_ctx *t)
{
    ctx_unlink(t);
    kks_conn_unref(t->c);
    for (int i = 0; i < t->nwaiters; i++)
        kks_conn_unref(t->waiters[i].c);
    free(t);
}

/* A decline that needs no journal row and moves nothing. */
static void quick_reply(kks_conn *c, uint64_t id, const Kks__TxnRequest *req, const char *rc,
                        const char *reason)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TxnReply tr = KKS__TXN_REPLY__INIT;
    tr.rc = (char *)rc;
    tr.reason = (char *)reason;
    tr.stan = req->stan;
    tr.type = req->type;
    rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    rep.txn_reply = &tr;
    kks_conn_reply(c, id, &rep);
}

/* A terminal may only act for itself (its certificate's CN): else refused,
 * logged with the peer's address, and answered. Returns 1 if it is itself. */
int terminal_is_itself(kks_conn *c, uint64_t id, const char *named)
{
    if (strcmp(named, kks_conn_identity(c)) == 0)
        return 1;
    kks_warn("terminal named another terminal: refused", "peer", kks_conn_peer(c), "identity",
             kks_conn_identity(c));
    kks_conn_reply_error(c, id, KKS_EPEERROLE, "a terminal may only act for itself");
    return 0;
}

/* ---- journal ---- */

/* Looks up (terminal, date, stan). Returns 0 none, 1 found (digest, reply
 * bytes copied out), 2 reversed before arrival, KKS_EDB. */
static int journal_find(sw *s, const char *terminal, const char *date, uint32_t stan,
                        uint8_t digest[32], uint8_t **reply, size_t *reply_len)
{
    sqlite3_stmt *st = s->st_find;
    int r;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, date, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)stan);
    r = sqlite3_step(st);
    if (r == SQLITE_DONE)
        return 0;
    if (r != SQLITE_ROW)
        return KKS_EDB;
    if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
        sqlite3_reset(st);
        return 2; /* a reversal mark: no original ever came */
    }
    if (digest && sqlite3_column_bytes(st, 0) == 32)
        memcpy(digest, sqlite3_column_blob(st, 0), 32);
    if (reply) {
        *reply_len = (size_t)sqlite3_column_bytes(st, 1);
        *reply = malloc(*reply_len ? *reply_len : 1);
        if (*reply)
            memcpy(*reply, sqlite3_column_blob(st, 1), *reply_len);
    }
    sqlite3_reset(st);
    return 1;
}

static int journal_insert(sw *s, txn_ctx *t, const char *rc, const char *rrn, const char *auth,
                          const uint8_t *reply, size_t reply_len, const char *moved_to_kind,
                          const char *moved_to, const char *at)
{
    sqlite3_stmt *st = s->st_insert;
    char ref[33];
    pan_ref(s, t->pan, ref);
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, t->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->local_date, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)t->stan);
    sqlite3_bind_text(st, 4, t->type, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, t->digest, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, t->pan_masked, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, ref, -1, SQLITE_STATIC);
    if (t->kk)
        sqlite3_bind_int64(st, 8, (int64_t)t->kk);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_text(st, 9, rc, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, strcmp(rc, KKS_RC_APPROVED) == 0 ? t->amount : 0);
    sqlite3_bind_text(st, 11, t->wallet, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, rrn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, auth, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 14, reply, (int)reply_len, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, moved_to_kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, moved_to, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 17, at, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    /* nothing written means the identity is already journaled: never let money
     * move without its journal row */
    return sqlite3_changes(ledger_db(s->ledger)) == 1 ? 0 : KKS_EDB;
}

/* Withdrawn today on this card (approved, not reversed). */
/* Withdrawn today on this card (approved, not reversed); -1 on a database
 * error (the caller declines: a limit must not fail open). */
static int64_t withdrawn_today(sw *s, txn_ctx *t)
{
    char ref[33];
    int64_t v = -1;
    sqlite3_stmt *st = s->st_withdrawn;
    pan_ref(s, t->pan, ref);
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->local_date, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
}

/* ---- the end of a transaction: journal, money, reply after COMMIT ---- */

static void finish(txn_ctx *t, const char *rc, const char *reason,
                   const Kks__StatementLine *const *stmt_lines, size_t nstmt)
{
    sw *s = t->s;
    kks_group *g = ledger_group(s->ledger);
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__TxnReply tr = KKS__TXN_REPLY__INIT;
    Kks__ItemLine *plines[MAX_ITEMS];
    char rrn[24], auth[7] = "", at[21], kkbuf[24], why[200];
    const char *to_kind = NULL, *to_owner = NULL;
    uint8_t *packed = NULL;
    size_t plen;
    int approved = strcmp(rc, KKS_RC_APPROVED) == 0, money = 0, r;

    kks_utc_now(at);
    make_rrn(s, rrn);
    copy(why, sizeof why, reason);
    if (kks_group_begin(g) < 0) {
        rc = KKS_RC_SYSTEM;
        copy(why, sizeof why, "system malfunction; nothing moved");
        approved = 0;
        goto reply_now;
    }
    snprintf(kkbuf, sizeof kkbuf, "%016" PRIu64, t->kk);
    money = approved && t->amount > 0 &&
            (strcmp(t->type, "withdraw") == 0 || strcmp(t->type, "purchase") == 0);
    if (money) {
        char key[96];
        if (t->kind == KKS_TERMINAL_ATM) {
            to_kind = "atm";
            to_owner = t->bank;
        } else {
            to_kind = "merchant";
            to_owner = t->merchant;
        }
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
            kks_group_abort(g);
            rc = KKS_RC_SYSTEM;
            copy(why, sizeof why, "system malfunction; nothing moved");
            approved = money = 0;
            goto reply_now;
        }
    }
    if (approved) {
        make_auth_code(auth);
        tr.auth_code = auth;
        if (t->kk && ledger_wallet(s->ledger, t->kk, &tr.pkh, &tr.bpnt) >= 0)
            tr.has_balances = 1;
    }
    tr.rc = (char *)rc;
    tr.reason = why;
    tr.stan = t->stan;
    tr.rrn = rrn;
    tr.type = t->type;
    tr.wallet = t->wallet;
    tr.amount = money ? t->amount : 0;
    for (size_t i = 0; i < t->nlines; i++)
        plines[i] = &t->lines[i];
    tr.n_items = t->nlines;
    tr.items = plines;
    tr.n_statement = nstmt;
    tr.statement = (Kks__StatementLine **)stmt_lines;
    rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    rep.txn_reply = &tr;
    rep.id = 0;
    plen = kks__txn_reply__get_packed_size(&tr);
    packed = malloc(plen ? plen : 1);
    if (!packed) {
        kks_group_abort(g);
        rc = KKS_RC_SYSTEM;
        copy(why, sizeof why, "system malfunction; nothing moved");
        tr.auth_code = "";
        tr.has_balances = 0;
        tr.amount = 0;
        goto reply_now;
    }
    kks__txn_reply__pack(&tr, packed);
    if (!money)
        t->amount = 0;
    if (journal_insert(s, t, rc, rrn, auth, packed, plen, to_kind, to_owner, at) < 0) {
        kks_error("journal insert failed; rolled back", "error",
                  sqlite3_errmsg(ledger_db(s->ledger)));
        kks_group_abort(g);
        rc = KKS_RC_SYSTEM;
        tr.rc = (char *)rc;
        copy(why, sizeof why, "system malfunction; nothing moved");
        tr.auth_code = "";
        tr.has_balances = 0;
        tr.amount = 0;
        goto reply_now;
    }
    {
        char pm[20];
        kks_info("txn", "terminal", t->terminal, "type", t->type, "pan", t->pan_masked, "rc", rc,
                 "rrn", rrn, "stan", (snprintf(pm, sizeof pm, "%06u", t->stan), pm));
    }
    kks_group_defer(g, t->c, t->id, &rep, 1, TXN_COMMIT_BUDGET_MS);
    for (int i = 0; i < t->nwaiters; i++) /* duplicates: the same reply, after the same COMMIT */
        kks_group_hold(g, t->waiters[i].c, t->waiters[i].id, &rep);
    free(packed);
    kks_db_reset_all(ledger_db(s->ledger));
    ctx_free(t);
    return;
reply_now:
    tr.rc = (char *)rc;
    tr.reason = why;
    tr.stan = t->stan;
    tr.rrn = rrn;
    tr.type = t->type;
    rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
    rep.txn_reply = &tr;
    kks_conn_reply(t->c, t->id, &rep);
    for (int i = 0; i < t->nwaiters; i++)
        kks_conn_reply(t->waiters[i].c, t->waiters[i].id, &rep);
    free(packed);
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

static void statement_reply(txn_ctx *t)
{
    Kks__StatementLine lines[10], *pl[10];
    char strs[10][4][48];
    size_t n = 0;
    sqlite3_stmt *st = t->s->st_statement;
    char kkbuf[24];
    snprintf(kkbuf, sizeof kkbuf, "%016" PRIu64, t->kk);
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (int64_t)t->kk);
    sqlite3_bind_text(st, 2, kkbuf, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, 10);
    while (n < 10 && sqlite3_step(st) == SQLITE_ROW) {
        kks__statement_line__init(&lines[n]);
        for (int k = 0; k < 4; k++) {
            const unsigned char *v = sqlite3_column_text(st, k < 2 ? k : k + 1);
            copy(strs[n][k], sizeof strs[n][k], v ? (const char *)v : "");
        }
        lines[n].at = strs[n][0];
        lines[n].wallet = strs[n][1];
        lines[n].amount = sqlite3_column_int64(st, 2);
        lines[n].kind = strs[n][2];
        lines[n].ref = strs[n][3];
        pl[n] = &lines[n];
        n++;
    }
    sqlite3_reset(st);
    finish(t, KKS_RC_APPROVED, "approved", (const Kks__StatementLine *const *)pl, n);
}

static void on_issuer(int status, const Kks__Envelope *rep, void *ud)
{
    txn_ctx *t = ud;
    sw *s = t->s;
    const Kks__PinReply *pr;
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
    if (strcmp(t->type, "withdraw") == 0) {
        int64_t already = withdrawn_today(s, t);
        if (already < 0) {
            decline(t, KKS_RC_SYSTEM, "system malfunction; nothing moved");
            return;
        }
        if (already + t->amount > s->txp.daily_withdraw_limit) {
            decline(t, KKS_RC_OVER_LIMIT, "daily cash limit Rp%" PRId64 " reached (Rp%" PRId64
                                          " withdrawn today)",
                    s->txp.daily_withdraw_limit, already);
            return;
        }
    }
    if (strcmp(t->type, "statement") == 0) {
        statement_reply(t);
        return;
    }
    finish(t, KKS_RC_APPROVED, "approved", NULL, 0);
}

/* Routes by BIN: the longest matching --route, else the default issuer. */
static link *route(sw *s, const char *pan)
{
    link *best = NULL, *dflt = NULL;
    size_t bestlen = 0;
    for (int i = 0; i < s->nlinks; i++) {
        link *l = &s->links[i];
        if (l->is_default)
            dflt = l;
        for (int b = 0; b < l->nbins; b++) {
            size_t n = strlen(l->bins[b]);
            if (n > bestlen && strncmp(pan, l->bins[b], n) == 0) {
                best = l;
                bestlen = n;
            }
        }
    }
    return best ? best : dflt;
}

static void ask_issuer(txn_ctx *t, const Kks__TxnRequest *req)
{
    sw *s = t->s;
    Kks__Envelope env = KKS__ENVELOPE__INIT;
    Kks__PinSetRequest ps = KKS__PIN_SET_REQUEST__INIT;
    Kks__PinVerifyRequest pv = KKS__PIN_VERIFY_REQUEST__INIT;
    Kks__PinChangeRequest pc = KKS__PIN_CHANGE_REQUEST__INIT;
    uint8_t tpk[16], b1[16], b2[16];
    link *l = route(s, t->pan);
    int rc;

    if (!l) {
        decline(t, KKS_RC_NO_ROUTE, "no issuer for this card's BIN");
        return;
    }
    if (req->pin_block.len != KKS_PINBLOCK_LEN ||
        (strcmp(t->type, "pin_change") == 0 && req->new_pin_block.len != KKS_PINBLOCK_LEN)) {
        decline(t, KKS_RC_FORMAT, "PIN block missing or malformed");
        return;
    }
    /* TPK -> ZPK: the only place a PIN is clear in the switch, inside kks_pin. */
    if (terminal_tpk(s, t->terminal, tpk) < 0 ||
        kks_pinblock_translate(tpk, s->zpk, req->pin_block.data, t->pan, b1) < 0 ||
        (strcmp(t->type, "pin_change") == 0 &&
         kks_pinblock_translate(tpk, s->zpk, req->new_pin_block.data, t->pan, b2) < 0)) {
        OPENSSL_cleanse(tpk, sizeof tpk);
        decline(t, KKS_RC_FORMAT, "PIN block could not be read (terminal key mismatch)");
        return;
    }
    OPENSSL_cleanse(tpk, sizeof tpk);
    if (strcmp(t->type, "activate") == 0) {
        ps.pan = t->pan;
        ps.nik = t->nik;
        ps.pin_block.data = b1;
        ps.pin_block.len = 16;
        ps.site = t->terminal;
        env.body_case = KKS__ENVELOPE__BODY_PIN_SET;
        env.pin_set = &ps;
    } else if (strcmp(t->type, "pin_change") == 0) {
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
    rc = kks_client_call(l->cl, &env, s->txp.issuer_timeout_ms, on_issuer, t);
    OPENSSL_cleanse(b1, sizeof b1);
    OPENSSL_cleanse(b2, sizeof b2);
    if (rc < 0)
        decline(t, KKS_RC_INOPERATIVE, "issuer link down (%s); nothing moved", kks_strerror(rc));
}

/* Prices the items and applies the BPNT commodity rule. 0 ok, else declined. */
static int price_items(txn_ctx *t, const Kks__TxnRequest *req)
{
    sw *s = t->s;
    int64_t total = 0;
    if (req->n_items == 0 || req->n_items > MAX_ITEMS) {
        decline(t, KKS_RC_FORMAT, "a purchase has 1 to %d items", MAX_ITEMS);
        return -1;
    }
    for (size_t i = 0; i < req->n_items; i++) {
        const Kks__Item *it = req->items[i];
        const kks_item *ci = kks_catalog_find(&s->catalog, it->sku);
        if (!ci) {
            decline(t, KKS_RC_INVALID_TXN, "unknown item %.20s", it->sku);
            return -1;
        }
        if (it->qty == 0 || it->qty > 999) {
            decline(t, KKS_RC_FORMAT, "quantity of %.20s must be 1 to 999", it->sku);
            return -1;
        }
        if (strcmp(t->wallet, "bpnt") == 0 && !kks_catalog_bpnt_allowed(&s->catalog, ci)) {
            decline(t, KKS_RC_NOT_PERMITTED_CARD,
                    "%s (%s) may not be bought with BPNT; only staple food", ci->name, ci->sku);
            return -1;
        }
        Kks__ItemLine *l = &t->lines[t->nlines];
        kks__item_line__init(l);
        copy(t->line_strs[t->nlines][0], 80, ci->sku);
        copy(t->line_strs[t->nlines][1], 80, ci->name);
        copy(t->line_strs[t->nlines][2], 80, ci->category);
        l->sku = t->line_strs[t->nlines][0];
        l->name = t->line_strs[t->nlines][1];
        l->category = t->line_strs[t->nlines][2];
        l->qty = it->qty;
        l->unit_price = ci->price;
        l->total = ci->price * (int64_t)it->qty;
        total += l->total;
        t->nlines++;
    }
    if (total > s->txp.max_amount) {
        decline(t, KKS_RC_INVALID_AMOUNT, "purchase total over the maximum");
        return -1;
    }
    t->amount = total;
    return 0;
}

void txn_handle(sw *s, kks_conn *c, const Kks__Envelope *env)
{
    const Kks__TxnRequest *req = env->txn;
    txn_ctx *t;
    int y, m, d, r;
    uint8_t *old = NULL;
    size_t oldlen = 0;
    uint8_t digest[32];

    if (!terminal_is_itself(c, env->id, req->terminal))
        return;
    if (req->stan == 0 || req->stan > 999999 || kks_ymd_parse(req->local_date, &y, &m, &d) < 0) {
        kks_conn_reply_error(c, env->id, KKS_EINVAL, "STAN must be 1..999999 and local_date YYYY-MM-DD");
        return;
    }
    request_digest(req, digest);
    /* Already in flight? Wait for its reply (or 94 if it is another request). */
    for (txn_ctx *p = inflight; p; p = p->next) {
        if (p->stan == req->stan && strcmp(p->terminal, req->terminal) == 0 &&
            strcmp(p->local_date, req->local_date) == 0) {
            if (memcmp(p->digest, digest, 32) != 0) {
                quick_reply(c, env->id, req, KKS_RC_DUPLICATE,
                            "this STAN is in use today for another transaction");
            } else if (p->nwaiters == 8) {
                quick_reply(c, env->id, req, KKS_RC_INOPERATIVE,
                            "the same transaction is still in progress; send it again");
            } else {
                kks_conn_ref(c);
                p->waiters[p->nwaiters].c = c;
                p->waiters[p->nwaiters].id = env->id;
                p->nwaiters++;
            }
            return;
        }
    }
    r = journal_find(s, req->terminal, req->local_date, req->stan, NULL, NULL, NULL);
    if (r == 1) {
        uint8_t seen[32];
        journal_find(s, req->terminal, req->local_date, req->stan, seen, &old, &oldlen);
        if (memcmp(seen, digest, 32) == 0 && old) {
            Kks__TxnReply *tr = kks__txn_reply__unpack(NULL, oldlen, old);
            Kks__Envelope rep = KKS__ENVELOPE__INIT;
            if (tr) {
                rep.body_case = KKS__ENVELOPE__BODY_TXN_REPLY;
                rep.txn_reply = tr;
                /* the first reply again, nothing moves; and not before the first
                 * one's row is committed (it may still be in the open group) */
                kks_group_hold(ledger_group(s->ledger), c, env->id, &rep);
                kks__txn_reply__free_unpacked(tr, NULL);
                free(old);
                return;
            }
        }
        free(old);
        quick_reply(c, env->id, req, KKS_RC_DUPLICATE,
                    "this STAN was already used today for another transaction");
        return;
    }
    if (r < 0) {
        kks_conn_reply_error(c, env->id, KKS_EDB, "database error; nothing moved");
        return;
    }
    if (!(t = calloc(1, sizeof *t))) {
        kks_conn_reply_error(c, env->id, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        return;
    }
    t->s = s;
    t->c = c;
    kks_conn_ref(c);
    t->id = env->id;
    t->stan = req->stan;
    memcpy(t->digest, digest, 32);
    copy(t->terminal, sizeof t->terminal, req->terminal);
    copy(t->local_date, sizeof t->local_date, req->local_date);
    copy(t->type, sizeof t->type, req->type);
    copy(t->pan, sizeof t->pan, strlen(req->pan) <= 19 ? req->pan : "");
    kks_pan_mask(t->pan, t->pan_masked);
    copy(t->nik, sizeof t->nik, strlen(req->nik) <= 16 ? req->nik : "");
    t->amount = req->amount;
    t->kind = kks_terminal_kind_of(t->terminal);
    const kks_terminal *known = kks_terminals_find(&s->terminals, t->terminal);
    copy(t->merchant, sizeof t->merchant, known && known->merchant_id[0] ? known->merchant_id
                                                                        : t->terminal);
    copy(t->bank, sizeof t->bank, known ? known->bank : "");
    if (!t->bank[0] && t->kind == KKS_TERMINAL_ATM) { /* ATM-BNI-0001 */
        const char *p = t->terminal + 4, *dash = strchr(p, '-');
        snprintf(t->bank, sizeof t->bank, "%.*s", dash ? (int)(dash - p) : 15, p);
    }
    t->next = inflight;
    inflight = t;

    if (r == 2) {
        decline(t, KKS_RC_INVALID_TXN, "this transaction was reversed before it arrived");
        return;
    }
    int is_withdraw = strcmp(t->type, "withdraw") == 0;
    int is_purchase = strcmp(t->type, "purchase") == 0;
    const char *wallet = req->wallet[0] ? req->wallet : (is_purchase ? "bpnt" : "pkh");
    if (strcmp(wallet, "pkh") != 0 && strcmp(wallet, "bpnt") != 0) {
        decline(t, KKS_RC_FORMAT, "wallet must be pkh or bpnt");
        return;
    }
    copy(t->wallet, sizeof t->wallet, wallet);
    if (!is_withdraw && !is_purchase)
        t->wallet[0] = '\0';
    if (strcmp(t->type, "activate") != 0 && strcmp(t->type, "balance") != 0 && !is_withdraw &&
        !is_purchase && strcmp(t->type, "pin_change") != 0 && strcmp(t->type, "statement") != 0) {
        decline(t, KKS_RC_INVALID_TXN, "unknown transaction type '%.11s'", t->type);
        return;
    }
    if (!kks_pan_valid(t->pan)) {
        decline(t, KKS_RC_NO_CARD, "not a card number (length or check digit)");
        return;
    }
    if (is_withdraw) {
        if (t->kind == KKS_TERMINAL_BRANCH || t->kind == KKS_TERMINAL_UNKNOWN) {
            decline(t, KKS_RC_NOT_PERMITTED_TERMINAL, "cash withdrawal only at an ATM or e-warong");
            return;
        }
        if (t->amount <= 0 || t->amount > s->txp.max_amount) {
            decline(t, KKS_RC_INVALID_AMOUNT, "amount must be Rp1 to Rp%" PRId64,
                    s->txp.max_amount);
            return;
        }
        if (t->kind == KKS_TERMINAL_ATM && t->amount % s->txp.atm_note != 0) {
            decline(t, KKS_RC_INVALID_AMOUNT, "an ATM pays in notes of Rp%" PRId64,
                    s->txp.atm_note);
            return;
        }
        if (strcmp(t->wallet, "bpnt") == 0) {
            kks_period per;
            char label[8];
            snprintf(label, sizeof label, "%.7s", t->local_date);
            if (kks_period_parse("bpnt", label, &per) < 0 ||
                !kks_policy_bpnt_cash_allowed(&s->policy, &per)) {
                decline(t, KKS_RC_NOT_PERMITTED_CARD,
                        "BPNT may not be withdrawn as cash in %s; it buys staple food", label);
                return;
            }
        }
    } else if (is_purchase) {
        if (t->kind != KKS_TERMINAL_EWARONG) {
            decline(t, KKS_RC_NOT_PERMITTED_TERMINAL, "purchases only at an e-warong");
            return;
        }
        if (price_items(t, req) < 0)
            return;
    } else {
        t->amount = 0;
    }
    if (strcmp(t->type, "activate") == 0 && !kks_digits(t->nik, 16)) {
        decline(t, KKS_RC_FORMAT, "activation needs the holder's 16-digit NIK");
        return;
    }
    ask_issuer(t, req);
}

/* ---- reversals ---- */

void reversal_handle(sw *s, kks_conn *c, const Kks__Envelope *env)
{
    const Kks__ReversalRequest *req = env->reversal;
    kks_group *g = ledger_group(s->ledger);
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__ReversalReply rr = KKS__REVERSAL_REPLY__INIT;
    sqlite3_stmt *st = s->st_rev_get;
    char at[21], reason[160] = "reversed";
    int y, m, d;

    if (!terminal_is_itself(c, env->id, req->terminal))
        return;
    if (req->stan == 0 || req->stan > 999999 || kks_ymd_parse(req->local_date, &y, &m, &d) < 0) {
        kks_conn_reply_error(c, env->id, KKS_EINVAL, "STAN must be 1..999999 and local_date YYYY-MM-DD");
        return;
    }
    for (txn_ctx *p = inflight; p; p = p->next) {
        if (p->stan == req->stan && strcmp(p->terminal, req->terminal) == 0 &&
            strcmp(p->local_date, req->local_date) == 0) {
            rr.rc = KKS_RC_INOPERATIVE;
            rr.reason = "the original is still being processed; send the reversal again";
            rep.body_case = KKS__ENVELOPE__BODY_REVERSAL_REPLY;
            rep.reversal_reply = &rr;
            kks_conn_reply(c, env->id, &rep);
            return;
        }
    }
    kks_utc_now(at);
    if (kks_group_begin(g) < 0) {
        kks_conn_reply_error(c, env->id, KKS_EDB, "database busy; send the reversal again");
        return;
    }
    rr.rc = KKS_RC_APPROVED;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, req->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, req->local_date, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, (int)req->stan);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        /* never seen: leave a mark so that a late original is declined */
        sqlite3_stmt *mk = s->st_rev_mark;
        sqlite3_reset(mk);
        sqlite3_bind_text(mk, 1, req->terminal, -1, SQLITE_STATIC);
        sqlite3_bind_text(mk, 2, req->local_date, -1, SQLITE_STATIC);
        sqlite3_bind_int(mk, 3, (int)req->stan);
        sqlite3_bind_text(mk, 4, at, -1, SQLITE_STATIC);
        if (sqlite3_step(mk) != SQLITE_DONE)
            goto db_fail;
        snprintf(reason, sizeof reason, "no such transaction; noted, nothing moved");
    } else if (r == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(st, 0), amount = sqlite3_column_int64(st, 4);
        int reversed = sqlite3_column_int(st, 1);
        char rc[4], wallet[8], to_kind[16], to_owner[64], kk[24], key[96];
        copy(rc, sizeof rc, (const char *)sqlite3_column_text(st, 2));
        copy(wallet, sizeof wallet, (const char *)sqlite3_column_text(st, 3));
        copy(to_kind, sizeof to_kind, (const char *)sqlite3_column_text(st, 5));
        copy(to_owner, sizeof to_owner, (const char *)sqlite3_column_text(st, 6));
        snprintf(kk, sizeof kk, "%016" PRId64, (int64_t)sqlite3_column_int64(st, 7));
        sqlite3_reset(st);
        if (reversed) {
            snprintf(reason, sizeof reason, "already reversed; nothing moved");
        } else {
            if (strcmp(rc, KKS_RC_APPROVED) == 0 && amount > 0 && to_kind[0]) {
                snprintf(key, sizeof key, "rev:%s:%s:%06u", req->terminal, req->local_date,
                         req->stan);
                r = ledger_transfer(s->ledger, key, to_kind, to_owner, wallet, kk, amount,
                                    "reversal", at);
                if (r < 0)
                    goto db_fail;
                rr.moved = r == 0;
            }
            sqlite3_stmt *up = s->st_rev_set;
            sqlite3_reset(up);
            sqlite3_bind_int64(up, 1, rowid);
            if (sqlite3_step(up) != SQLITE_DONE)
                goto db_fail;
            snprintf(reason, sizeof reason, rr.moved ? "reversed; the money is back"
                                                     : "reversed; nothing had moved");
        }
    } else {
        goto db_fail;
    }
    sqlite3_reset(st);
    rr.reason = reason;
    rep.body_case = KKS__ENVELOPE__BODY_REVERSAL_REPLY;
    rep.reversal_reply = &rr;
    kks_group_defer(g, c, env->id, &rep, 1, 2);
    return;
db_fail:
    sqlite3_reset(st);
    kks_group_abort(g);
    kks_conn_reply_error(c, env->id, KKS_EDB, "database error; send the reversal again");
}

/* ---- set-up ---- */

static const char *const auth_sql[] = {
    "SELECT digest, reply FROM txn WHERE terminal = ? AND local_date = ? AND stan = ?",
    "INSERT INTO txn(terminal, local_date, stan, type, digest, pan_masked, pan_ref, kk, rc,"
    " amount, wallet, rrn, auth_code, reply, to_kind, to_owner, at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(terminal, local_date, stan) DO UPDATE SET type = excluded.type,"
    " digest = excluded.digest, pan_masked = excluded.pan_masked, pan_ref = excluded.pan_ref,"
    " kk = excluded.kk, rc = excluded.rc, amount = excluded.amount, rrn = excluded.rrn,"
    " reply = excluded.reply WHERE txn.reply IS NULL",
    "SELECT coalesce(sum(amount), 0) FROM txn WHERE pan_ref = ? AND local_date = ?"
    " AND type = 'withdraw' AND rc = '00' AND reversed = 0",
    LEDGER_MOVEMENTS_SQL,
    "SELECT id, reversed, rc, wallet, amount, to_kind, to_owner, kk FROM txn"
    " WHERE terminal = ? AND local_date = ? AND stan = ?",
    "INSERT INTO txn(terminal, local_date, stan, type, reversed, at, rc)"
    " VALUES (?, ?, ?, 'reversal_mark', 1, ?, '')",
    "UPDATE txn SET reversed = 1 WHERE id = ?",
};

static int txp_row(sw *s, const char *k, const char *v, char *err, size_t cap)
{
    struct {
        const char *key;
        int64_t *slot;
        int64_t lo, hi;
    } keys[] = {
        {"atm_note", &s->txp.atm_note, 1000, 1000000},
        {"daily_withdraw_limit", &s->txp.daily_withdraw_limit, 1, 1000000000},
        {"max_amount", &s->txp.max_amount, 1, 100000000000},
        {"issuer_timeout_ms", &s->txp.issuer_timeout_ms, 100, 60000},
    };
    char *end;
    long long n = strtoll(v, &end, 10);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(k, keys[i].key) != 0)
            continue;
        if (*end || end == v || n < keys[i].lo || n > keys[i].hi) {
            snprintf(err, cap, "transaction-policy.csv: %s out of range", k);
            return -1;
        }
        *keys[i].slot = n;
        return 0;
    }
    snprintf(err, cap, "transaction-policy.csv: unknown key %.40s", k);
    return -1;
}

int auth_init(sw *s, const char *seeds, char *err, size_t cap)
{
    static const char *const hdr[] = {"key", "value"};
    char path[4096];
    kks_csv csv;
    FILE *f;
    int rc;
    sqlite3_stmt **slots[] = {&s->st_find,      &s->st_insert,   &s->st_withdrawn,
                              &s->st_statement, &s->st_rev_get,  &s->st_rev_mark,
                              &s->st_rev_set};
    s->txp.atm_note = 50000;
    s->txp.daily_withdraw_limit = 5000000;
    s->txp.max_amount = 10000000;
    s->txp.issuer_timeout_ms = 3000;
    snprintf(path, sizeof path, "%s/transaction-policy.csv", seeds);
    if (!(f = fopen(path, "r"))) {
        snprintf(err, cap, "%s: cannot open", path);
        return KKS_EINVAL;
    }
    kks_csv_init(&csv, f, 1024);
    rc = kks_csv_next(&csv);
    if (rc != 1 || !kks_csv_is(&csv, hdr, 2)) {
        snprintf(err, cap, "%s: bad header", path);
        rc = -1;
    } else {
        while ((rc = kks_csv_next(&csv)) == 1)
            if (csv.nfields != 2 || txp_row(s, csv.fields[0], csv.fields[1], err, cap) < 0) {
                rc = -1;
                break;
            }
        if (rc == KKS_EINVAL)
            snprintf(err, cap, "%s: %s", path, csv.errmsg);
    }
    kks_csv_close(&csv);
    fclose(f);
    if (rc < 0)
        return KKS_EINVAL;
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        if (sqlite3_prepare_v3(ledger_db(s->ledger), auth_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               slots[i], NULL) != SQLITE_OK) {
            snprintf(err, cap, "prepare: %s", sqlite3_errmsg(ledger_db(s->ledger)));
            return KKS_EDB;
        }
    }
    sqlite3_stmt *mx;
    if (sqlite3_prepare_v2(ledger_db(s->ledger), "SELECT coalesce(max(id), 0) FROM txn", -1, &mx,
                           NULL) == SQLITE_OK &&
        sqlite3_step(mx) == SQLITE_ROW)
        s->rrn_seq = (uint64_t)sqlite3_column_int64(mx, 0) % 100000000;
    sqlite3_finalize(mx);
    return 0;
}

void auth_close(sw *s)
{
    auth_forget_keys();
    sqlite3_stmt *all[] = {s->st_find,      s->st_insert,   s->st_withdrawn, s->st_statement,
                           s->st_rev_get,   s->st_rev_mark, s->st_rev_set};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
}
