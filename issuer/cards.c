/* The card lifecycle (SPEC §6) and PIN operations.
 *
 *   ISSUED --print--> PRINTED --hand over--> DISTRIBUTED --activate(PIN)--> ACTIVE
 *   ACTIVE --3 wrong PINs in a row--> BLOCKED --unblock (operator)--> ACTIVE
 *   ISSUED|PRINTED|DISTRIBUTED|ACTIVE|BLOCKED --lost/stolen--> LOST|STOLEN
 *   LOST|STOLEN --replace--> (new card ISSUED for the same family; old.replaced_by)
 *   PRINTED|DISTRIBUTED|ACTIVE|BLOCKED --damaged--> DAMAGED, and a new card ISSUED
 *   any live state --expiry month passes--> EXPIRED (applied when the card is next read)
 *   EXPIRED --renew--> (new card ISSUED; old.replaced_by)
 *   PRINTED|DISTRIBUTED|ACTIVE|BLOCKED within renew_months_before of expiry
 *           --renew--> EXPIRED at once, and a new card ISSUED
 *
 * Functions: print_batch (ISSUED->PRINTED), handover (PRINTED->DISTRIBUTED),
 * pin_op (DISTRIBUTED->ACTIVE on activation; ACTIVE->BLOCKED on the last
 * try, in check_pin), card_op "unblock" (BLOCKED->ACTIVE), "lost"/"stolen",
 * "replace"/"damaged"/"renew" (all three through replace_card), and
 * card_load (->EXPIRED).
 *
 * Invariants: every transition writes an audit row in the same transaction,
 * with the documents the desk saw; a family has at most one live card (a
 * replacement is issued only once the old card is LOST, STOLEN, DAMAGED or
 * EXPIRED, and only once: replaced_by); the issuer stores a PIN verification
 * value, never a PIN; a request in the wrong state, or without the documents
 * document-policy.csv asks for, changes nothing and gets the matching code:
 * 14 unknown PAN, 41 lost, 43 stolen, 54 expired, 75 blocked, 05 not yet
 * activated or surrendered as damaged, 30 documents missing, 12 otherwise. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "issuer.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_pin.h"
#include "kks_rc.h"
#include "kks_registry.h"

#define PAGE_MAX 5000

typedef struct card_row {
    char pan[20], kk[17], bank[16], state[16], expiry[8];
    int64_t batch;
    uint8_t pvv[KKS_PVV_LEN];
    int has_pvv;
    int pin_fails;
    char replaces[20], replaced_by[20];
} card_row;

static int is_live(const char *state)
{
    return strcmp(state, "ISSUED") == 0 || strcmp(state, "PRINTED") == 0 ||
           strcmp(state, "DISTRIBUTED") == 0 || strcmp(state, "ACTIVE") == 0 ||
           strcmp(state, "BLOCKED") == 0;
}

/* The code a card in this state gets when it cannot be used. */
static void state_refusal(const card_row *c, outcome *o)
{
    static const struct {
        const char *state, *rc, *why;
    } t[] = {
        {"LOST", KKS_RC_LOST, "card reported lost"},
        {"STOLEN", KKS_RC_STOLEN, "card reported stolen"},
        {"EXPIRED", KKS_RC_EXPIRED, "card expired"},
        {"DAMAGED", KKS_RC_DO_NOT_HONOR, "card surrendered as damaged and replaced"},
        {"BLOCKED", KKS_RC_PIN_TRIES, "card blocked after too many wrong PINs"},
        {"ISSUED", KKS_RC_DO_NOT_HONOR, "card not yet activated (not printed)"},
        {"PRINTED", KKS_RC_DO_NOT_HONOR, "card not yet activated (not handed over)"},
        {"DISTRIBUTED", KKS_RC_DO_NOT_HONOR, "card not yet activated"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(c->state, t[i].state) == 0) {
            set_out(o, t[i].rc, "%s", t[i].why);
            return;
        }
    }
    set_out(o, KKS_RC_INVALID_TXN, "card is %s", c->state);
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

static int set_state(issuer *is, card_row *c, const char *to, const char *event,
                     const char *actor, const char *site, const char *detail, const char *docs,
                     const char *at)
{
    sqlite3_stmt *st = store_stmt(is, "UPDATE card SET state = ?, pin_fails = ? WHERE pan = ?");
    if (!st)
        return KKS_EDB;
    sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, c->pin_fails);
    sqlite3_bind_text(st, 3, c->pan, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    int rc = store_audit(is, c->pan, c->kk, event, c->state, to, actor, site, detail, docs, at);
    snprintf(c->state, sizeof c->state, "%s", to);
    return rc;
}

/* Reads a card inside a transaction, applying expiry. 0 found, 1 no such
 * card, KKS_EDB. */
static int card_load(issuer *is, const char *pan, card_row *c, const char *at)
{
    sqlite3_stmt *st = store_stmt(is, "SELECT pan, kk, bank, state, expiry, batch, pvv, pin_fails,"
                                      " replaces, replaced_by FROM card WHERE pan = ?");
    int r;
    if (!st)
        return KKS_EDB;
    memset(c, 0, sizeof *c);
    sqlite3_bind_text(st, 1, pan, -1, SQLITE_STATIC);
    r = sqlite3_step(st);
    if (r == SQLITE_DONE)
        return 1;
    if (r != SQLITE_ROW)
        return KKS_EDB;
    copy_col(c->pan, sizeof c->pan, st, 0);
    copy_col(c->kk, sizeof c->kk, st, 1);
    copy_col(c->bank, sizeof c->bank, st, 2);
    copy_col(c->state, sizeof c->state, st, 3);
    copy_col(c->expiry, sizeof c->expiry, st, 4);
    c->batch = sqlite3_column_int64(st, 5);
    if (sqlite3_column_bytes(st, 6) == KKS_PVV_LEN) {
        memcpy(c->pvv, sqlite3_column_blob(st, 6), KKS_PVV_LEN);
        c->has_pvv = 1;
    }
    c->pin_fails = sqlite3_column_int(st, 7);
    copy_col(c->replaces, sizeof c->replaces, st, 8);
    copy_col(c->replaced_by, sizeof c->replaced_by, st, 9);
    /* "valid thru" the expiry month: expired once the business date is past it */
    if (is_live(c->state) && strncmp(store_today(is), c->expiry, 7) > 0)
        return set_state(is, c, "EXPIRED", "expired", "issuer", NULL, c->expiry, NULL, at);
    return 0;
}

/* ---- replies ---- */

#define EV_FIELDS 8      /* at, event, from, to, actor, site, detail, docs */
#define EV_FIELD_MAX 160 /* each, with its NUL: a site or detail is at most ~120 */

typedef struct card_view {
    Kks__Card card;
    Kks__CardEvent *ev;
    Kks__CardEvent **pev;
    char *strs; /* backing store for event strings */
    char name[101];
} card_view;

/* Fills v from the database: the card, its holder, and its history. */
static void card_view_fill(issuer *is, const card_row *c, card_view *v)
{
    sqlite3_stmt *st;
    size_t n = 0, cap = 0;
    kks__card__init(&v->card);
    v->card.pan = (char *)c->pan;
    v->card.kk = (char *)c->kk;
    v->card.bank = (char *)c->bank;
    v->card.state = (char *)c->state;
    v->card.expiry = (char *)c->expiry;
    v->card.batch = (uint64_t)c->batch;
    v->card.replaced_by = (char *)c->replaced_by;
    v->card.replaces = (char *)c->replaces;
    v->name[0] = '\0';
    st = store_stmt(is, "SELECT name FROM family WHERE kk = ?");
    sqlite3_bind_text(st, 1, c->kk, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        copy_col(v->name, sizeof v->name, st, 0);
    v->card.name = v->name;
    v->ev = NULL;
    v->pev = NULL;
    v->strs = NULL;
    /* the issuance of an enrolled card is recorded in its own row */
    st = store_stmt(is, "SELECT at, event, from_state, to_state, actor, site, detail, docs"
                        " FROM ("
                        " SELECT issued_at AS at, 'issued' AS event, '' AS from_state,"
                        "  'ISSUED' AS to_state, issued_by AS actor, '' AS site, '' AS detail,"
                        "  '' AS docs, 0 AS id FROM card WHERE pan = ?1 AND replaces IS NULL"
                        " UNION ALL SELECT at, event, from_state, to_state, actor, site, detail,"
                        "  docs, id FROM audit WHERE pan = ?1) ORDER BY id LIMIT 1000");
    sqlite3_bind_text(st, 1, c->pan, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            Kks__CardEvent *ne = realloc(v->ev, cap * sizeof *ne);
            char *ns = realloc(v->strs, cap * EV_FIELDS * EV_FIELD_MAX);
            if (!ne || !ns) {
                v->ev = ne ? ne : v->ev;
                v->strs = ns ? ns : v->strs;
                break;
            }
            v->ev = ne;
            v->strs = ns;
        }
        kks__card_event__init(&v->ev[n]);
        n++;
    }
    v->pev = calloc(n + 1, sizeof *v->pev);
    sqlite3_reset(st);
    size_t i = 0;
    while (v->pev && i < n && sqlite3_step(st) == SQLITE_ROW) {
        char *s = v->strs + i * EV_FIELDS * EV_FIELD_MAX;
        char **fields[EV_FIELDS] = {&v->ev[i].at,       &v->ev[i].event, &v->ev[i].from_state,
                                    &v->ev[i].to_state, &v->ev[i].actor, &v->ev[i].site,
                                    &v->ev[i].detail,   &v->ev[i].docs};
        for (int k = 0; k < EV_FIELDS; k++) {
            copy_col(s + k * EV_FIELD_MAX, EV_FIELD_MAX, st, k);
            *fields[k] = s + k * EV_FIELD_MAX;
        }
        v->pev[i] = &v->ev[i];
        i++;
    }
    v->card.n_history = i;
    v->card.history = v->pev;
}

static void card_view_free(card_view *v)
{
    free(v->ev);
    free(v->pev);
    free(v->strs);
}

/* ---- the desk: every card of a family (desk.c) ---- */

struct family_cards {
    size_t n;
    card_row *rows;
    card_view *views;
    Kks__Card **cards;
};

int family_cards_load(issuer *is, const char *kk, const char *at, family_cards **out)
{
    family_cards *fc = calloc(1, sizeof *fc);
    sqlite3_stmt *st;
    char (*pans)[20] = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    if (!fc)
        return KKS_ENOMEM;
    /* PANs first: card_load uses statements of its own (and may write EXPIRED) */
    st = store_stmt(is, STORE_FAMILY_CARDS "SELECT pan FROM chain ORDER BY n");
    if (!st) {
        free(fc);
        return KKS_EDB;
    }
    sqlite3_bind_text(st, 1, kk, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            void *np = realloc(pans, cap * sizeof *pans);
            if (!np) {
                rc = KKS_ENOMEM;
                break;
            }
            pans = np;
        }
        copy_col(pans[n++], 20, st, 0);
    }
    sqlite3_reset(st);
    if (rc == 0 && n) {
        fc->rows = calloc(n, sizeof *fc->rows);
        fc->views = calloc(n, sizeof *fc->views);
        fc->cards = calloc(n, sizeof *fc->cards);
        if (!fc->rows || !fc->views || !fc->cards)
            rc = KKS_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int r = card_load(is, pans[i], &fc->rows[i], at);
        if (r != 0) {
            rc = r < 0 ? r : KKS_EDB;
            break;
        }
        card_view_fill(is, &fc->rows[i], &fc->views[i]);
        fc->cards[i] = &fc->views[i].card;
        fc->n = i + 1;
    }
    free(pans);
    if (rc < 0) {
        family_cards_free(fc);
        return rc;
    }
    *out = fc;
    return 0;
}

size_t family_cards_count(const family_cards *fc)
{
    return fc ? fc->n : 0;
}

Kks__Card **family_cards_list(const family_cards *fc)
{
    return fc ? fc->cards : NULL;
}

void family_cards_free(family_cards *fc)
{
    if (!fc)
        return;
    for (size_t i = 0; i < fc->n; i++)
        card_view_free(&fc->views[i]);
    free(fc->rows);
    free(fc->views);
    free(fc->cards);
    free(fc);
}

/* Sends rep now, or holds it for the group COMMIT when the request wrote. */
static void answer(issuer *is, kks_conn *c, uint64_t id, Kks__Envelope *rep, int held)
{
    if (held)
        kks_group_defer(is->group, c, id, rep, 1, 2); /* interactive: 2 ms budget */
    else
        kks_conn_reply(c, id, rep);
}

/* The names of the documents in set, pointing into is->docs. */
static size_t missing_names(issuer *is, unsigned set, char *out[KKS_DOCS_MAX])
{
    size_t n = 0;
    for (int i = 0; i < is->docs.n; i++)
        if (set & (1u << i))
            out[n++] = is->docs.names[i];
    return n;
}

static void reply_card(issuer *is, kks_conn *c, uint64_t id, const outcome *o, const card_row *cr,
                       int held)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__CardReply cardrep = KKS__CARD_REPLY__INIT;
    card_view v;
    int have = cr && cr->pan[0];
    char *missing[KKS_DOCS_MAX];
    cardrep.rc = (char *)o->rc;
    cardrep.reason = (char *)o->reason;
    cardrep.n_missing = missing_names(is, o->missing, missing);
    cardrep.missing = missing;
    if (have) {
        card_view_fill(is, cr, &v);
        cardrep.card = &v.card;
    }
    rep.body_case = KKS__ENVELOPE__BODY_CARD_REPLY;
    rep.card_reply = &cardrep;
    answer(is, c, id, &rep, held);
    if (have)
        card_view_free(&v);
}

/* ---- documents ---- */

/* The documents of a request against what event ev needs (document-policy.csv).
 * 0: all there, and seen gets the names given; 1: refused, o names the
 * missing ones (or the unknown one). Extra documents are recorded too. */
static int docs_check(issuer *is, int ev, char *const *docs, size_t n, outcome *o,
                      char seen[KKS_DOCS_LIST_MAX])
{
    unsigned given, need = is->docs.required[ev];
    char why[200], miss[KKS_DOCS_LIST_MAX], all[KKS_DOCS_LIST_MAX];
    seen[0] = '\0';
    if (n > 2 * KKS_DOCS_MAX) {
        set_out(o, KKS_RC_FORMAT, "too many documents (at most %d)", 2 * KKS_DOCS_MAX);
        return 1;
    }
    if (kks_docs_set(&is->docs, (const char *const *)docs, n, &given, why, sizeof why) < 0) {
        set_out(o, KKS_RC_FORMAT, "%s", why);
        return 1;
    }
    if (need & ~given) {
        o->missing = need & ~given;
        kks_docs_format(&is->docs, need & ~given, miss, sizeof miss);
        kks_docs_format(&is->docs, need, all, sizeof all);
        set_out(o, KKS_RC_FORMAT, "documents missing: %.80s (%s needs %.80s); nothing changed",
                miss, kks_docs_event_name(ev), all);
        return 1;
    }
    kks_docs_format(&is->docs, given, seen, KKS_DOCS_LIST_MAX);
    return 0;
}

/* ---- operator: lost, stolen, replace, damaged, renew, unblock, show ---- */

/* Months from the business date's month to the expiry month (0: expires
 * this month). */
static int months_left(issuer *is, const char *expiry)
{
    int ey = 0, em = 0, ty = 0, tm = 0;
    sscanf(expiry, "%d-%d", &ey, &em);
    sscanf(store_today(is), "%d-%d", &ty, &tm);
    return (ey * 12 + em) - (ty * 12 + tm);
}

/* Issues the replacement of c for the same family. The old card moves to
 * state to (NULL: stays as it is) with one audit row, event, naming the new
 * card; the new card's own row says which card it replaces. On return c is
 * the new card. The account is the family's (at the switch, by KK), so the
 * money stays. */
static int replace_card(issuer *is, card_row *c, const char *to, const char *event,
                        const Kks__CardRequest *r, const char *docs, const char *actor,
                        const char *at)
{
    char pan[20], detail[64];
    int rc;
    assert(!c->replaced_by[0] && !is_live(to ? to : c->state));
    if ((rc = store_next_pan(is, c->bank, pan)) < 0 ||
        (rc = store_issue_card(is, pan, c->kk, c->bank, c->pan, actor, r->site, docs, at)) < 0)
        return rc;
    sqlite3_stmt *st = store_stmt(is, "UPDATE card SET replaced_by = ? WHERE pan = ?");
    if (!st)
        return KKS_EDB;
    sqlite3_bind_text(st, 1, pan, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->pan, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    snprintf(detail, sizeof detail, "new card %s", pan);
    if (to)
        rc = set_state(is, c, to, event, actor, r->site, detail, docs, at);
    else
        rc = store_audit(is, c->pan, c->kk, event, c->state, c->state, actor, r->site, detail,
                         docs, at);
    if (rc < 0)
        return rc;
    if ((rc = card_load(is, pan, c, at)) != 0)
        return rc < 0 ? rc : KKS_EDB;
    return 0;
}

static int card_op(issuer *is, const Kks__CardRequest *r, const char *actor, const char *at,
                   outcome *o, card_row *c)
{
    char docs[KKS_DOCS_LIST_MAX];
    int rc;
    if (!kks_pan_valid(r->pan)) {
        set_out(o, KKS_RC_NO_CARD, "not a card number (length or check digit)");
        return 0;
    }
    if (strlen(r->site) > 64) {
        set_out(o, KKS_RC_FORMAT, "site name longer than 64 characters");
        return 0;
    }
    if ((rc = card_load(is, r->pan, c, at)) < 0)
        return rc;
    if (rc == 1) {
        c->pan[0] = '\0';
        set_out(o, KKS_RC_NO_CARD, "no such card");
        return 0;
    }
    if (strcmp(r->op, "show") == 0) {
        set_out(o, KKS_RC_APPROVED, "card %s", c->state);
        return 0;
    }
    if (strcmp(r->op, "lost") == 0 || strcmp(r->op, "stolen") == 0) {
        int lost = r->op[0] == 'l';
        char detail[120];
        size_t pl = strlen(r->police_report);
        if (pl == 0 || pl > 64) {
            set_out(o, KKS_RC_FORMAT, "a police report reference (surat keterangan kehilangan, "
                                      "at most 64 characters) is required");
            return 0;
        }
        if (!is_live(c->state)) {
            state_refusal(c, o);
            return 0;
        }
        if (docs_check(is, lost ? KKS_DOC_LOST : KKS_DOC_STOLEN, r->docs, r->n_docs, o, docs))
            return 0;
        snprintf(detail, sizeof detail, "police report %s", r->police_report);
        if ((rc = set_state(is, c, lost ? "LOST" : "STOLEN", lost ? "reported_lost"
                                                                  : "reported_stolen",
                            actor, r->site, detail, docs, at)) < 0)
            return rc;
        set_out(o, KKS_RC_APPROVED, "card %s; it stops working now", c->state);
        return 0;
    }
    if (strcmp(r->op, "replace") == 0) {
        if (strcmp(c->state, "LOST") != 0 && strcmp(c->state, "STOLEN") != 0) {
            if (strcmp(c->state, "EXPIRED") == 0 && !c->replaced_by[0])
                set_out(o, KKS_RC_EXPIRED, "card expired: renew it (card renew)");
            else if (strcmp(c->state, "DAMAGED") == 0)
                set_out(o, KKS_RC_INVALID_TXN, "already replaced by %s", c->replaced_by);
            else if (is_live(c->state))
                set_out(o, KKS_RC_INVALID_TXN, "report the card lost or stolen first, or "
                                               "surrender it as damaged (card damaged)");
            else
                state_refusal(c, o);
            return 0;
        }
        if (c->replaced_by[0]) {
            set_out(o, KKS_RC_INVALID_TXN, "already replaced by %s", c->replaced_by);
            return 0;
        }
        if (docs_check(is, KKS_DOC_REPLACE, r->docs, r->n_docs, o, docs))
            return 0;
        if ((rc = replace_card(is, c, NULL, "replaced", r, docs, actor, at)) < 0)
            return rc;
        set_out(o, KKS_RC_APPROVED, "new card issued for the same family");
        return 0;
    }
    if (strcmp(r->op, "damaged") == 0) {
        /* the holder hands the damaged card in: it stops at once, and its
         * replacement is issued in the same step (no police report) */
        if (strcmp(c->state, "ISSUED") == 0) {
            set_out(o, KKS_RC_INVALID_TXN, "card not printed yet: there is no card to surrender");
            return 0;
        }
        if (!is_live(c->state)) {
            if (strcmp(c->state, "EXPIRED") == 0 && !c->replaced_by[0])
                set_out(o, KKS_RC_EXPIRED, "card expired: renew it (card renew)");
            else if (c->replaced_by[0])
                set_out(o, KKS_RC_INVALID_TXN, "already replaced by %s", c->replaced_by);
            else
                state_refusal(c, o);
            return 0;
        }
        if (docs_check(is, KKS_DOC_DAMAGED, r->docs, r->n_docs, o, docs))
            return 0;
        if ((rc = replace_card(is, c, "DAMAGED", "damaged", r, docs, actor, at)) < 0)
            return rc;
        set_out(o, KKS_RC_APPROVED, "damaged card surrendered; new card issued for the same "
                                    "family");
        return 0;
    }
    if (strcmp(r->op, "renew") == 0) {
        /* an expired card, or a printed card within renew_months_before of
         * its expiry month (the old card is surrendered and expires now) */
        const char *to = NULL;
        if (c->replaced_by[0]) {
            set_out(o, KKS_RC_INVALID_TXN, "already replaced by %s", c->replaced_by);
            return 0;
        }
        if (strcmp(c->state, "EXPIRED") != 0) {
            int left = months_left(is, c->expiry);
            if (!is_live(c->state)) {
                state_refusal(c, o);
                return 0;
            }
            if (strcmp(c->state, "ISSUED") == 0) {
                set_out(o, KKS_RC_INVALID_TXN, "card not printed yet");
                return 0;
            }
            if (left >= is->seeds.renew_months_before) {
                set_out(o, KKS_RC_INVALID_TXN, "card valid thru %.2s/%.2s: it can be renewed "
                        "from %d month(s) before it expires", c->expiry + 5, c->expiry + 2,
                        is->seeds.renew_months_before);
                return 0;
            }
            to = "EXPIRED";
        }
        if (docs_check(is, KKS_DOC_RENEW, r->docs, r->n_docs, o, docs))
            return 0;
        if ((rc = replace_card(is, c, to, "renewed", r, docs, actor, at)) < 0)
            return rc;
        set_out(o, KKS_RC_APPROVED, "card renewed: new card issued for the same family");
        return 0;
    }
    if (strcmp(r->op, "unblock") == 0) {
        if (strcmp(c->state, "BLOCKED") != 0) {
            if (is_live(c->state))
                set_out(o, KKS_RC_INVALID_TXN, "card is %s, not blocked", c->state);
            else
                state_refusal(c, o);
            return 0;
        }
        c->pin_fails = 0;
        if ((rc = set_state(is, c, "ACTIVE", "unblocked", actor, r->site, NULL, NULL, at)) < 0)
            return rc;
        set_out(o, KKS_RC_APPROVED, "card unblocked");
        return 0;
    }
    set_out(o, KKS_RC_INVALID_TXN, "unknown card operation '%.20s'", r->op);
    return 0;
}

/* ---- operator: print batches and hand-over ---- */

static int print_batch(issuer *is, const Kks__PrintRequest *r, const char *actor, const char *at,
                       outcome *o, int64_t *batch, uint32_t *cards)
{
    const char *site = *r->site ? r->site : "KANTOR PUSAT";
    sqlite3_stmt *st;
    *batch = 0;
    *cards = 0;
    if (!kks_seeds_bank(&is->seeds, r->bank)) {
        set_out(o, KKS_RC_INVALID_TXN, "unknown bank '%.15s'", r->bank);
        return 0;
    }
    if (strlen(site) > 64) {
        set_out(o, KKS_RC_FORMAT, "site name longer than 64 characters");
        return 0;
    }
    st = store_stmt(is, "INSERT INTO batch(bank, site, cards, created_at, created_by)"
                        " VALUES (?, ?, 0, ?, ?)");
    sqlite3_bind_text(st, 1, r->bank, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, site, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, actor, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    *batch = sqlite3_last_insert_rowid(is->db);
    /* The bank's ISSUED cards: from its print mark to the end of its BIN's
     * PANs (':' follows '9'), in the card table's order. Without a mark (no
     * card issued since the upgrade), from the BIN's first PAN. */
    char lo[24], hi[24], next[24];
    const char *bin = kks_seeds_bank(&is->seeds, r->bank)->bin;
    snprintf(lo, sizeof lo, "%s", bin);
    snprintf(hi, sizeof hi, "%s:", bin);
    st = store_stmt(is, "SELECT from_pan FROM print_mark WHERE bank = ?");
    sqlite3_bind_text(st, 1, r->bank, -1, SQLITE_STATIC);
    int sr = sqlite3_step(st);
    if (sr == SQLITE_ROW && sqlite3_column_text(st, 0) &&
        strcmp((const char *)sqlite3_column_text(st, 0), lo) > 0)
        snprintf(lo, sizeof lo, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (sr != SQLITE_ROW && sr != SQLITE_DONE)
        return KKS_EDB;
    /* Audit first (it reads the ISSUED set), then move the cards. */
    st = store_stmt(is, "INSERT INTO audit(pan, kk, event, from_state, to_state, actor, site, at,"
                        " detail) SELECT pan, kk, 'printed', 'ISSUED', 'PRINTED', ?, ?, ?,"
                        " 'batch ' || ? FROM card WHERE pan >= ?6 AND pan < ?7 AND bank = ?5"
                        " AND state = 'ISSUED' ORDER BY pan");
    sqlite3_bind_text(st, 1, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, site, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, *batch);
    sqlite3_bind_text(st, 5, r->bank, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, hi, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    st = store_stmt(is, "UPDATE card SET state = 'PRINTED', batch = ?1"
                        " WHERE pan >= ?3 AND pan < ?4 AND bank = ?2 AND state = 'ISSUED'");
    sqlite3_bind_int64(st, 1, *batch);
    sqlite3_bind_text(st, 2, r->bank, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, hi, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    *cards = (uint32_t)sqlite3_changes(is->db);
    /* Every card issued so far is printed: the next print starts at the next
     * PAN this bank will issue. */
    if (store_next_pan(is, r->bank, next) < 0)
        snprintf(next, sizeof next, "%s", hi); /* its account numbers are used up */
    st = store_stmt(is, "INSERT INTO print_mark(bank, from_pan) VALUES (?, ?)"
                        " ON CONFLICT(bank) DO UPDATE SET from_pan = excluded.from_pan");
    sqlite3_bind_text(st, 1, r->bank, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, next, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    if (*cards == 0) {
        set_out(o, KKS_RC_INVALID_TXN, "no %s cards are waiting to be printed", r->bank);
        return 1; /* roll back the empty batch */
    }
    st = store_stmt(is, "UPDATE batch SET cards = ? WHERE id = ?");
    sqlite3_bind_int(st, 1, (int)*cards);
    sqlite3_bind_int64(st, 2, *batch);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    set_out(o, KKS_RC_APPROVED, "batch %lld: %u cards of %s for %s", (long long)*batch, *cards,
            r->bank, site);
    return 0;
}

static int handover(issuer *is, const Kks__HandoverRequest *r, const char *actor,
                    const char *at, outcome *o, uint32_t *cards)
{
    sqlite3_stmt *st;
    char docs[KKS_DOCS_LIST_MAX];
    int rc;
    *cards = 0;
    if (!*r->site || strlen(r->site) > 64) {
        set_out(o, KKS_RC_FORMAT, "the hand-over site (kelurahan or kecamatan office) is "
                                  "required, at most 64 characters");
        return 0;
    }
    if (*r->pan) {
        card_row c;
        if (!kks_pan_valid(r->pan)) {
            set_out(o, KKS_RC_NO_CARD, "not a card number (length or check digit)");
            return 0;
        }
        if ((rc = card_load(is, r->pan, &c, at)) < 0)
            return rc;
        if (rc == 1) {
            set_out(o, KKS_RC_NO_CARD, "no such card");
            return 0;
        }
        if (strcmp(c.state, "PRINTED") != 0) {
            if (strcmp(c.state, "ISSUED") == 0)
                set_out(o, KKS_RC_INVALID_TXN, "card not printed yet");
            else if (strcmp(c.state, "DISTRIBUTED") == 0 || strcmp(c.state, "ACTIVE") == 0)
                set_out(o, KKS_RC_INVALID_TXN, "card already handed over");
            else
                state_refusal(&c, o);
            return 0;
        }
        if (docs_check(is, c.replaces[0] ? KKS_DOC_HANDOVER_REPLACEMENT : KKS_DOC_HANDOVER,
                       r->docs, r->n_docs, o, docs))
            return 0;
        if ((rc = set_state(is, &c, "DISTRIBUTED", "handed_over", actor, r->site, NULL, docs,
                            at)) < 0)
            return rc;
        *cards = 1;
        set_out(o, KKS_RC_APPROVED, "card handed over at %s", r->site);
        return 0;
    }
    st = store_stmt(is, "SELECT count(*) FROM batch WHERE id = ?");
    sqlite3_bind_int64(st, 1, (int64_t)r->batch);
    if (sqlite3_step(st) != SQLITE_ROW)
        return KKS_EDB;
    if (sqlite3_column_int(st, 0) == 0) {
        set_out(o, KKS_RC_INVALID_TXN, "no print batch %llu", (unsigned long long)r->batch);
        return 0;
    }
    /* The documents asked of every family in the batch: first cards and
     * replacement cards may need different ones. */
    st = store_stmt(is, "SELECT count(*) FILTER (WHERE replaces IS NULL),"
                        " count(*) FILTER (WHERE replaces IS NOT NULL)"
                        " FROM card WHERE batch = ? AND state = 'PRINTED'");
    if (!st)
        return KKS_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)r->batch);
    if (sqlite3_step(st) != SQLITE_ROW)
        return KKS_EDB;
    int firsts = sqlite3_column_int(st, 0), replacements = sqlite3_column_int(st, 1);
    if ((firsts || !replacements) &&
        docs_check(is, KKS_DOC_HANDOVER, r->docs, r->n_docs, o, docs))
        return 0;
    if (replacements &&
        docs_check(is, KKS_DOC_HANDOVER_REPLACEMENT, r->docs, r->n_docs, o, docs))
        return 0;
    st = store_stmt(is, "INSERT INTO audit(pan, kk, event, from_state, to_state, actor, site, at,"
                        " docs) SELECT pan, kk, 'handed_over', 'PRINTED', 'DISTRIBUTED', ?, ?, ?,"
                        " ? FROM card WHERE batch = ? AND state = 'PRINTED' ORDER BY pan");
    sqlite3_bind_text(st, 1, actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->site, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
    if (docs[0])
        sqlite3_bind_text(st, 4, docs, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)r->batch);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    st = store_stmt(is, "UPDATE card SET state = 'DISTRIBUTED' WHERE batch = ? AND"
                        " state = 'PRINTED'");
    sqlite3_bind_int64(st, 1, (int64_t)r->batch);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    *cards = (uint32_t)sqlite3_changes(is->db);
    if (*cards == 0)
        set_out(o, KKS_RC_INVALID_TXN, "no cards of batch %llu are waiting for hand-over",
                (unsigned long long)r->batch);
    else
        set_out(o, KKS_RC_APPROVED, "%u cards of batch %llu handed over at %s", *cards,
                (unsigned long long)r->batch, r->site);
    return 0;
}

/* Embossing: upper case ASCII letters, spaces and a few marks, at most 26. */
static void emboss(const char *name, char out[27])
{
    size_t n = 0;
    for (; *name && n < 26; name++) {
        char ch = *name;
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if ((ch >= 'A' && ch <= 'Z') || ch == ' ' || ch == '.' || ch == '\'' || ch == '-')
            out[n++] = ch;
    }
    out[n] = '\0';
}

static void batch_lines(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    const Kks__BatchLinesRequest *r = req->batch_lines_request;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__BatchLinesReply br = KKS__BATCH_LINES_REPLY__INIT;
    uint32_t limit = r->limit == 0 || r->limit > PAGE_MAX ? PAGE_MAX : r->limit;
    Kks__PrintLine *lines = calloc(limit, sizeof *lines);
    Kks__PrintLine **pl = calloc(limit, sizeof *pl);
    char(*strs)[5][104] = calloc(limit, sizeof *strs);
    sqlite3_stmt *st;
    size_t n = 0;

    br.rc = KKS_RC_APPROVED;
    br.reason = "";
    st = store_stmt(is, "SELECT cards FROM batch WHERE id = ?");
    sqlite3_bind_int64(st, 1, (int64_t)r->batch);
    if (!lines || !pl || !strs) {
        br.rc = KKS_RC_SYSTEM;
        br.reason = "out of memory";
    } else if (sqlite3_step(st) != SQLITE_ROW) {
        br.rc = KKS_RC_INVALID_TXN;
        br.reason = "no such print batch";
    } else {
        br.total = (uint32_t)sqlite3_column_int(st, 0);
        st = store_stmt(is, "SELECT c.pan, f.name, c.expiry, b.site, c.kk FROM card c"
                            " JOIN family f ON f.kk = c.kk JOIN batch b ON b.id = c.batch"
                            " WHERE c.batch = ? ORDER BY c.pan LIMIT ? OFFSET ?");
        sqlite3_bind_int64(st, 1, (int64_t)r->batch);
        sqlite3_bind_int(st, 2, (int)limit);
        sqlite3_bind_int(st, 3, (int)r->offset);
        while (n < limit && sqlite3_step(st) == SQLITE_ROW) {
            char name[104];
            kks__print_line__init(&lines[n]);
            copy_col(strs[n][0], 20, st, 0);
            copy_col(name, sizeof name, st, 1);
            emboss(name, strs[n][1]);
            const char *exp = (const char *)sqlite3_column_text(st, 2); /* YYYY-MM */
            snprintf(strs[n][2], 8, "%.2s/%.2s", exp ? exp + 5 : "00", exp ? exp + 2 : "00");
            copy_col(strs[n][3], 104, st, 3);
            copy_col(strs[n][4], 20, st, 4);
            lines[n].pan = strs[n][0];
            lines[n].kk = strs[n][4];
            lines[n].name = strs[n][1];
            lines[n].expiry = strs[n][2];
            lines[n].site = strs[n][3];
            lines[n].batch = r->batch;
            pl[n] = &lines[n];
            n++;
        }
        br.n_lines = n;
        br.lines = pl;
    }
    rep.body_case = KKS__ENVELOPE__BODY_BATCH_LINES_REPLY;
    rep.batch_lines_reply = &br;
    kks_conn_reply(c, req->id, &rep);
    free(lines);
    free(pl);
    free(strs);
}

/* ---- PINs, for the switch ---- */

static int family_nik(issuer *is, const char *kk, char nik[17])
{
    sqlite3_stmt *st = store_stmt(is, "SELECT nik FROM family WHERE kk = ?");
    sqlite3_bind_text(st, 1, kk, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        return KKS_EDB;
    copy_col(nik, 17, st, 0);
    return 0;
}

static int store_pvv(issuer *is, card_row *c, const uint8_t pvv[KKS_PVV_LEN])
{
    sqlite3_stmt *st = store_stmt(is, "UPDATE card SET pvv = ?, pin_fails = 0 WHERE pan = ?");
    sqlite3_bind_blob(st, 1, pvv, KKS_PVV_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->pan, -1, SQLITE_STATIC);
    c->pin_fails = 0;
    return sqlite3_step(st) == SQLITE_DONE ? 0 : KKS_EDB;
}

/* Checks a PIN block against an ACTIVE card, counting failures. */
static int check_pin(issuer *is, card_row *c, const ProtobufCBinaryData *blk, const char *site,
                     const char *at, outcome *o, int *ok)
{
    int rc;
    *ok = 0;
    if (strcmp(c->state, "ACTIVE") != 0) {
        state_refusal(c, o);
        return 0;
    }
    if (blk->len != KKS_PINBLOCK_LEN || !c->has_pvv) {
        set_out(o, KKS_RC_FORMAT, "PIN block missing or malformed");
        return 0;
    }
    rc = kks_pin_verify(is->zpk, blk->data, c->pan, is->pvk, sizeof is->pvk, c->pvv);
    if (rc < 0) {
        set_out(o, KKS_RC_FORMAT, "PIN block could not be read (key or PAN mismatch)");
        return 0;
    }
    if (rc == 1) {
        if (c->pin_fails > 0) {
            sqlite3_stmt *st = store_stmt(is, "UPDATE card SET pin_fails = 0 WHERE pan = ?");
            sqlite3_bind_text(st, 1, c->pan, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                return KKS_EDB;
            c->pin_fails = 0;
        }
        *ok = 1;
        return 0;
    }
    c->pin_fails++;
    if (c->pin_fails >= is->seeds.pin_tries) {
        char detail[64];
        snprintf(detail, sizeof detail, "%d wrong PINs in a row", c->pin_fails);
        if ((rc = set_state(is, c, "BLOCKED", "blocked", "issuer", site, detail, NULL, at)) < 0)
            return rc;
        set_out(o, KKS_RC_PIN_TRIES, "wrong PIN; card blocked after %d tries", c->pin_fails);
        return 0;
    }
    sqlite3_stmt *st = store_stmt(is, "UPDATE card SET pin_fails = ? WHERE pan = ?");
    sqlite3_bind_int(st, 1, c->pin_fails);
    sqlite3_bind_text(st, 2, c->pan, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    set_out(o, KKS_RC_BAD_PIN, "wrong PIN; %d of %d tries left", is->seeds.pin_tries - c->pin_fails,
            is->seeds.pin_tries);
    return 0;
}

/* Makes a PVV from a new-PIN block; refuses trivial PINs. 0 ok, 1 refused (o set). */
static int new_pvv(issuer *is, const card_row *c, const ProtobufCBinaryData *blk, outcome *o,
                   uint8_t pvv[KKS_PVV_LEN])
{
    int trivial = 0;
    if (blk->len != KKS_PINBLOCK_LEN ||
        kks_pin_make_pvv(is->zpk, blk->data, c->pan, is->pvk, sizeof is->pvk, &trivial, pvv) <
            0) {
        set_out(o, KKS_RC_FORMAT, "new PIN block malformed, or the PIN is not six digits");
        return 1;
    }
    if (trivial) {
        set_out(o, KKS_RC_INVALID_TXN, "PIN too easy to guess (one digit repeated, or a run "
                                       "such as 123456); choose another");
        return 1;
    }
    return 0;
}

static int pin_op(issuer *is, const Kks__Envelope *req, const char *actor, const char *at,
                  outcome *o, card_row *c)
{
    const char *pan, *site;
    int rc, ok;
    uint8_t pvv[KKS_PVV_LEN];

    switch (req->body_case) {
    case KKS__ENVELOPE__BODY_PIN_SET: pan = req->pin_set->pan; site = req->pin_set->site; break;
    case KKS__ENVELOPE__BODY_PIN_VERIFY:
        pan = req->pin_verify->pan;
        site = req->pin_verify->site;
        break;
    default: pan = req->pin_change->pan; site = req->pin_change->site; break;
    }
    if (!kks_pan_valid(pan)) {
        set_out(o, KKS_RC_NO_CARD, "not a card number (length or check digit)");
        return 0;
    }
    if ((rc = card_load(is, pan, c, at)) < 0)
        return rc;
    if (rc == 1) {
        c->pan[0] = '\0';
        set_out(o, KKS_RC_NO_CARD, "no such card");
        return 0;
    }
    if (req->body_case == KKS__ENVELOPE__BODY_PIN_SET) {
        char nik[17];
        if (strcmp(c->state, "DISTRIBUTED") != 0) {
            if (strcmp(c->state, "ACTIVE") == 0 || strcmp(c->state, "BLOCKED") == 0)
                set_out(o, KKS_RC_INVALID_TXN, "card already activated");
            else
                state_refusal(c, o);
            return 0;
        }
        if ((rc = family_nik(is, c->kk, nik)) < 0)
            return rc;
        if (strcmp(nik, req->pin_set->nik) != 0) {
            /* 63, security violation: the cardholder check failed (as a network answers a
             * wrong card verification value), not 05, which reads "not activated yet" */
            set_out(o, KKS_RC_SECURITY, "NIK does not match the card holder");
            return 0;
        }
        if (new_pvv(is, c, &req->pin_set->pin_block, o, pvv))
            return 0;
        if ((rc = store_pvv(is, c, pvv)) < 0 ||
            (rc = set_state(is, c, "ACTIVE", "activated", actor, site, NULL, NULL, at)) < 0)
            return rc;
        OPENSSL_cleanse(pvv, sizeof pvv);
        set_out(o, KKS_RC_APPROVED, "card activated");
        return 0;
    }
    if ((rc = check_pin(is, c, req->body_case == KKS__ENVELOPE__BODY_PIN_VERIFY
                                   ? &req->pin_verify->pin_block
                                   : &req->pin_change->old_block,
                        site, at, o, &ok)) < 0 ||
        !ok)
        return rc;
    if (req->body_case == KKS__ENVELOPE__BODY_PIN_CHANGE) {
        if (new_pvv(is, c, &req->pin_change->new_block, o, pvv))
            return 0;
        if ((rc = store_pvv(is, c, pvv)) < 0 ||
            (rc = store_audit(is, c->pan, c->kk, "pin_changed", c->state, c->state, actor,
                              site, NULL, NULL, at)) < 0)
            return rc;
        OPENSSL_cleanse(pvv, sizeof pvv);
        set_out(o, KKS_RC_APPROVED, "PIN changed");
        return 0;
    }
    set_out(o, KKS_RC_APPROVED, "PIN correct");
    return 0;
}

/* ---- dispatch: one transaction per request, reply after COMMIT ---- */

void cards_handle(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    outcome o = {KKS_RC_SYSTEM, "system malfunction; nothing changed", 0};
    card_row cr = {0};
    char at[21];
    int rc = 0;
    int64_t batch = 0;
    uint32_t cards = 0;

    if (req->body_case == KKS__ENVELOPE__BODY_BATCH_LINES_REQUEST) {
        batch_lines(is, c, req);
        return;
    }
    store_now(at);
    if (kks_group_begin(is->group) < 0) {
        rc = KKS_EDB;
    } else {
        switch (req->body_case) {
        case KKS__ENVELOPE__BODY_CARD_REQUEST:
            rc = card_op(is, req->card_request, kks_conn_identity(c), at, &o, &cr);
            break;
        case KKS__ENVELOPE__BODY_PRINT_REQUEST:
            rc = print_batch(is, req->print_request, kks_conn_identity(c), at, &o, &batch,
                             &cards);
            break;
        case KKS__ENVELOPE__BODY_HANDOVER_REQUEST:
            rc = handover(is, req->handover_request, kks_conn_identity(c), at, &o, &cards);
            break;
        default:
            rc = pin_op(is, req, kks_conn_identity(c), at, &o, &cr);
            break;
        }
        if (rc == 0 && store_save_pan_seq(is) < 0)
            rc = KKS_EDB;
        if (rc != 0)
            kks_group_abort(is->group);
    }
    if (rc < 0) {
        kks_error("card operation failed; rolled back", "error", sqlite3_errmsg(is->db));
        set_out(&o, KKS_RC_SYSTEM, "system malfunction; nothing changed");
        cr.pan[0] = '\0';
        batch = 0;
    }
    /* Replies to writes wait for the group COMMIT; without an open request
     * (aborted or never begun) there is nothing to wait for. */
    int held = rc == 0;
    switch (req->body_case) {
    case KKS__ENVELOPE__BODY_PRINT_REQUEST: {
        Kks__PrintReply pr = KKS__PRINT_REPLY__INIT;
        pr.rc = (char *)o.rc;
        pr.reason = o.reason;
        pr.batch = rc == 0 ? (uint64_t)batch : 0;
        pr.cards = rc == 0 ? cards : 0;
        rep.body_case = KKS__ENVELOPE__BODY_PRINT_REPLY;
        rep.print_reply = &pr;
        answer(is, c, req->id, &rep, held);
        return;
    }
    case KKS__ENVELOPE__BODY_HANDOVER_REQUEST: {
        Kks__HandoverReply hr = KKS__HANDOVER_REPLY__INIT;
        hr.rc = (char *)o.rc;
        hr.reason = o.reason;
        hr.cards = rc == 0 ? cards : 0;
        char *missing[KKS_DOCS_MAX];
        hr.n_missing = missing_names(is, o.missing, missing);
        hr.missing = missing;
        rep.body_case = KKS__ENVELOPE__BODY_HANDOVER_REPLY;
        rep.handover_reply = &hr;
        answer(is, c, req->id, &rep, held);
        return;
    }
    case KKS__ENVELOPE__BODY_CARD_REQUEST:
        reply_card(is, c, req->id, &o, rc == 0 ? &cr : NULL, held);
        return;
    default: {
        Kks__PinReply pr = KKS__PIN_REPLY__INIT;
        pr.rc = (char *)o.rc;
        pr.reason = o.reason;
        pr.kk = cr.kk;
        rep.body_case = KKS__ENVELOPE__BODY_PIN_REPLY;
        rep.pin_reply = &pr;
        answer(is, c, req->id, &rep, held);
        return;
    }
    }
}
