/* The complaints desk (layanan pengaduan) at the issuer: finding a family by
 * its holder's NIK or by KK, and complaints.
 *
 *   (none) --open--> open --close(resolution)--> closed
 *
 * open   a NIK (16 digits; it need not be in any family: "data not
 *        registered" is a complaint too), a kind, a note and, for a
 *        transaction, an RRN. The evidence is gathered in the same
 *        transaction as the row is written: the NIK's families (registry row,
 *        every card with its state and history) read here, and what the
 *        switch showed (accounts, credits, the RRN's journal rows and
 *        transfers), gathered by kksctl just before, since the issuer does not
 *        call the switch. Due: the business date plus the SLA policy's days
 *        for the kind (seeds/complaint-policy.csv).
 * close  an open complaint, with a resolution; a closed one is refused.
 * Both are audit rows (complaint_opened, complaint_closed: who is the
 * operator certificate's CN, when is UTC). Bad input changes nothing and is
 * answered 30 (format) or 12 (refused) with the reason in words.
 *
 * Functions: lookup (read, but a card read applies expiry, so inside a
 * transaction), complaint_open, complaint_close, complaint_list,
 * complaint_show. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer.h"
#include "kks_err.h"
#include "kks_json.h"
#include "kks_log.h"
#include "kks_rc.h"
#include "kks_registry.h"

#define MAX_FAMILIES 8   /* families of one NIK shown (re-enrolled under another KK) */
#define LIST_PAGE 200    /* complaints per list reply */
#define FIELD_MAX 208    /* a registry field (address: 200) */

typedef struct fam {
    Kks__FamilyView view;
    char f[KKS_REG_NFIELDS][FIELD_MAX];
    char *pf[KKS_REG_NFIELDS];
    char enrolled_at[24];
    family_cards *cards;
} fam;

typedef struct fams {
    fam *v; /* MAX_FAMILIES */
    Kks__FamilyView *pv[MAX_FAMILIES];
    int n;
} fams;

static void col(char *dst, size_t cap, sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", s ? (const char *)s : "");
}

#define FAMILY_COLS                                                                                \
    "SELECT kk, nik, name, birth_date, sex, address, kelurahan, kecamatan, city_code, decile,"    \
    " bank, pkh_pregnant, pkh_early_childhood, pkh_sd, pkh_smp, pkh_sma, pkh_disability,"        \
    " pkh_elderly, bpnt, enrolled_at FROM family"

static void fams_free(fams *fs)
{
    for (int i = 0; fs->v && i < fs->n; i++)
        family_cards_free(fs->v[i].cards);
    free(fs->v);
    fs->v = NULL;
    fs->n = 0;
}

/* The families of a NIK (newest enrolment first) or of a KK, each with its
 * cards. 0, KKS_ENOMEM or KKS_EDB (fs freed). */
static int fams_load(issuer *is, const char *nik, const char *kk, const char *at, fams *fs)
{
    sqlite3_stmt *st;
    int r, rc = 0;
    memset(fs, 0, sizeof *fs);
    if (!(fs->v = calloc(MAX_FAMILIES, sizeof *fs->v)))
        return KKS_ENOMEM;
    st = nik ? store_stmt(is, FAMILY_COLS " WHERE nik = ? ORDER BY enrolled_at DESC, kk LIMIT 8")
             : store_stmt(is, FAMILY_COLS " WHERE kk = ?");
    if (!st) {
        fams_free(fs);
        return KKS_EDB;
    }
    sqlite3_bind_text(st, 1, nik ? nik : kk, -1, SQLITE_STATIC);
    while (fs->n < MAX_FAMILIES && (r = sqlite3_step(st)) == SQLITE_ROW) {
        fam *f = &fs->v[fs->n++];
        kks__family_view__init(&f->view);
        for (int i = 0; i < KKS_REG_NFIELDS; i++) {
            col(f->f[i], FIELD_MAX, st, i);
            f->pf[i] = f->f[i];
        }
        col(f->enrolled_at, sizeof f->enrolled_at, st, KKS_REG_NFIELDS);
        f->view.n_fields = KKS_REG_NFIELDS;
        f->view.fields = f->pf;
        f->view.enrolled_at = f->enrolled_at;
        fs->pv[fs->n - 1] = &f->view;
    }
    sqlite3_reset(st);
    for (int i = 0; rc == 0 && i < fs->n; i++) {
        fam *f = &fs->v[i];
        if ((rc = family_cards_load(is, f->f[KKS_REG_KK], at, &f->cards)) < 0)
            break;
        f->view.n_cards = family_cards_count(f->cards);
        f->view.cards = family_cards_list(f->cards);
    }
    if (rc < 0)
        fams_free(fs);
    return rc;
}

/* Sends rep now, or holds it for the group COMMIT when the request wrote. */
static void answer(issuer *is, kks_conn *c, uint64_t id, Kks__Envelope *rep, int held)
{
    if (held)
        kks_group_defer(is->group, c, id, rep, 1, 2);
    else
        kks_conn_reply(c, id, rep);
}

/* ---- lookup ---- */

static void lookup(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    const Kks__LookupRequest *r = req->lookup_request;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__LookupReply lr = KKS__LOOKUP_REPLY__INIT;
    outcome o;
    fams fs = {0};
    char at[21];
    int held = 0, has_nik = *r->nik != '\0', has_kk = *r->kk != '\0';

    if (has_nik == has_kk) {
        set_out(&o, KKS_RC_FORMAT, "give a NIK or a KK, one of the two");
    } else if (!kks_digits(has_nik ? r->nik : r->kk, 16)) {
        set_out(&o, KKS_RC_FORMAT, "%s must be 16 digits", has_nik ? "NIK" : "KK");
    } else if (kks_group_begin(is->group) < 0) {
        set_out(&o, KKS_RC_SYSTEM, "system malfunction; try again");
    } else {
        store_now(at);
        if (fams_load(is, has_nik ? r->nik : NULL, has_kk ? r->kk : NULL, at, &fs) < 0) {
            kks_group_abort(is->group);
            kks_error("lookup failed", "error", sqlite3_errmsg(is->db));
            set_out(&o, KKS_RC_SYSTEM, "system malfunction; try again");
        } else {
            held = 1; /* a card read may have recorded its expiry */
            if (fs.n == 0)
                set_out(&o, KKS_RC_NO_CARD, "%s %s is not registered: no enrolled family has it",
                        has_nik ? "NIK" : "KK", has_nik ? r->nik : r->kk);
            else
                set_out(&o, KKS_RC_APPROVED, "%d famil%s", fs.n, fs.n == 1 ? "y" : "ies");
        }
    }
    lr.rc = (char *)o.rc;
    lr.reason = o.reason;
    lr.n_families = (size_t)fs.n;
    lr.families = fs.pv;
    rep.body_case = KKS__ENVELOPE__BODY_LOOKUP_REPLY;
    rep.lookup_reply = &lr;
    answer(is, c, req->id, &rep, held);
    fams_free(&fs);
}

/* ---- complaints ---- */

typedef struct crow {
    Kks__Complaint m;
    char nik[17], kk[17], kind[16], rrn[16], state[8], opened_at[24], opened_by[72], due[11],
        closed_at[24], closed_by[72];
    char *note, *resolution, *evidence; /* malloc'd */
} crow;

#define COMPLAINT_COLS                                                                             \
    "SELECT id, nik, coalesce(kk, ''), kind, coalesce(rrn, ''), note, state, opened_at,"          \
    " opened_by, due, coalesce(closed_at, ''), coalesce(closed_by, ''),"                          \
    " coalesce(resolution, ''), "

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return strdup(s ? (const char *)s : "");
}

/* Reads a row of COMPLAINT_COLS + evidence column (or ''). 0 or KKS_ENOMEM. */
static int crow_read(sqlite3_stmt *st, const char *today, crow *w)
{
    memset(w, 0, sizeof *w);
    kks__complaint__init(&w->m);
    w->m.id = (uint64_t)sqlite3_column_int64(st, 0);
    col(w->nik, sizeof w->nik, st, 1);
    col(w->kk, sizeof w->kk, st, 2);
    col(w->kind, sizeof w->kind, st, 3);
    col(w->rrn, sizeof w->rrn, st, 4);
    w->note = dup_col(st, 5);
    col(w->state, sizeof w->state, st, 6);
    col(w->opened_at, sizeof w->opened_at, st, 7);
    col(w->opened_by, sizeof w->opened_by, st, 8);
    col(w->due, sizeof w->due, st, 9);
    col(w->closed_at, sizeof w->closed_at, st, 10);
    col(w->closed_by, sizeof w->closed_by, st, 11);
    w->resolution = dup_col(st, 12);
    w->evidence = dup_col(st, 13);
    if (!w->note || !w->resolution || !w->evidence)
        return KKS_ENOMEM;
    w->m.nik = w->nik;
    w->m.kk = w->kk;
    w->m.kind = w->kind;
    w->m.rrn = w->rrn;
    w->m.note = w->note;
    w->m.state = w->state;
    w->m.opened_at = w->opened_at;
    w->m.opened_by = w->opened_by;
    w->m.due = w->due;
    w->m.overdue = strcmp(w->state, "open") == 0 && strcmp(today, w->due) > 0;
    w->m.closed_at = w->closed_at;
    w->m.closed_by = w->closed_by;
    w->m.resolution = w->resolution;
    w->m.evidence = w->evidence;
    return 0;
}

static void crow_free(crow *w)
{
    free(w->note);
    free(w->resolution);
    free(w->evidence);
}

/* One complaint by id: 0 found, 1 none, KKS_EDB / KKS_ENOMEM. */
static int complaint_get(issuer *is, uint64_t id, crow *w)
{
    sqlite3_stmt *st = store_stmt(is, COMPLAINT_COLS "evidence FROM complaint WHERE id = ?");
    int r, rc;
    memset(w, 0, sizeof *w);
    if (!st)
        return KKS_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)id);
    r = sqlite3_step(st);
    if (r != SQLITE_ROW) {
        sqlite3_reset(st);
        return r == SQLITE_DONE ? 1 : KKS_EDB;
    }
    rc = crow_read(st, store_today(is), w);
    sqlite3_reset(st);
    return rc;
}

/* The switch's part of the evidence: a JSON object (or nothing). A complaint
 * that names an RRN must carry that transaction's journal rows. *out is a new
 * reference (JSON null when none was given). 0, or 1 with o set. */
static int switch_part(const Kks__ComplaintRequest *r, json_t **out, outcome *o)
{
    json_error_t e;
    json_t *v, *rows;
    size_t n = strlen(r->switch_evidence), i;
    int found = 0;
    *out = NULL;
    if (n > KKS_DESK_EVIDENCE_MAX) {
        set_out(o, KKS_RC_FORMAT, "the switch's evidence is %zu bytes; at most %d", n,
                KKS_DESK_EVIDENCE_MAX);
        return 1;
    }
    if (n == 0) {
        v = json_null();
    } else if (!(v = json_loadb(r->switch_evidence, n, JSON_REJECT_DUPLICATES, &e)) ||
               !json_is_object(v)) {
        json_decref(v);
        set_out(o, KKS_RC_FORMAT, "the switch's evidence is not a JSON object");
        return 1;
    }
    if (*r->rrn) {
        rows = json_object_get(json_object_get(v, "transaction"), "journal");
        for (i = 0; json_is_array(rows) && i < json_array_size(rows); i++) {
            const char *rrn = json_string_value(json_object_get(json_array_get(rows, i), "rrn"));
            found |= rrn && strcmp(rrn, r->rrn) == 0;
        }
        if (!found) {
            json_decref(v);
            set_out(o, KKS_RC_INVALID_TXN, "no journal rows of RRN %s from the switch: a "
                                           "complaint naming a transaction needs them", r->rrn);
            return 1;
        }
    }
    *out = v;
    return 0;
}

/* Writes a new complaint. 0 (o says how it went; *id set when opened) or KKS_E*. */
static int complaint_open(issuer *is, const Kks__ComplaintRequest *r, const char *actor,
                          const char *at, outcome *o, uint64_t *id)
{
    int kind = kks_desk_kind(r->kind), rc;
    char why[200], due[11], detail[64];
    const char *today = store_today(is);
    json_t *sw = NULL, *ev = NULL, *famv;
    char *evtext = NULL;
    fams fs = {0};
    sqlite3_stmt *st;

    *id = 0;
    if (!kks_digits(r->nik, 16)) {
        set_out(o, KKS_RC_FORMAT, "NIK must be 16 digits");
        return 0;
    }
    if (kind < 0) {
        set_out(o, KKS_RC_FORMAT, "unknown kind '%.20s': data, lost-card, disbursement or "
                                  "transaction", r->kind);
        return 0;
    }
    if (kks_desk_text_check("note", r->note, KKS_DESK_NOTE_MAX, why, sizeof why) < 0) {
        set_out(o, KKS_RC_FORMAT, "%s", why);
        return 0;
    }
    if (kind == KKS_DESK_TRANSACTION && !*r->rrn) {
        set_out(o, KKS_RC_FORMAT, "a transaction complaint names its RRN");
        return 0;
    }
    if (*r->rrn && !kks_digits(r->rrn, 12)) {
        set_out(o, KKS_RC_FORMAT, "an RRN is 12 digits");
        return 0;
    }
    if (switch_part(r, &sw, o))
        return 0;
    if ((rc = fams_load(is, r->nik, NULL, at, &fs)) < 0) {
        json_decref(sw);
        return rc;
    }
    famv = json_array();
    for (int i = 0; i < fs.n; i++)
        kks_json_append(&famv, kks_desk_family_json(&fs.v[i].view));
    ev = json_pack("{s:s,s:s,s:{s:b,s:o},s:o}", "gathered_at", at, "nik", r->nik, "issuer",
                   "registered", fs.n > 0, "families", famv ? famv : json_null(), "switch", sw);
    if (!famv || !ev || !(evtext = json_dumps(ev, KKS_JSON_FLAGS))) {
        json_decref(ev);
        fams_free(&fs);
        return KKS_ENOMEM;
    }
    json_decref(ev);
    if (kks_desk_add_days(today, is->desk.days[kind], due) < 0) {
        free(evtext);
        fams_free(&fs);
        return KKS_EINVAL;
    }
    st = store_stmt(is, "INSERT INTO complaint(nik, kk, kind, rrn, note, opened_on, due,"
                        " opened_at, opened_by, evidence) VALUES (?,?,?,?,?,?,?,?,?,?)");
    rc = KKS_EDB;
    if (st) {
        sqlite3_bind_text(st, 1, r->nik, -1, SQLITE_STATIC);
        if (fs.n)
            sqlite3_bind_text(st, 2, fs.v[0].f[KKS_REG_KK], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, kks_desk_kinds[kind], -1, SQLITE_STATIC);
        if (*r->rrn)
            sqlite3_bind_text(st, 4, r->rrn, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->note, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, today, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, due, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, at, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, actor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, evtext, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE) {
            *id = (uint64_t)sqlite3_last_insert_rowid(is->db);
            snprintf(detail, sizeof detail, "complaint %llu: %s", (unsigned long long)*id,
                     kks_desk_kinds[kind]);
            rc = store_audit(is, NULL, fs.n ? fs.v[0].f[KKS_REG_KK] : NULL, "complaint_opened",
                             NULL, "open", actor, NULL, detail, NULL, at);
        }
    }
    free(evtext);
    if (rc == 0) {
        if (fs.n)
            set_out(o, KKS_RC_APPROVED, "complaint %llu opened (%s), due %s",
                    (unsigned long long)*id, kks_desk_kinds[kind], due);
        else
            set_out(o, KKS_RC_APPROVED, "complaint %llu opened (%s), due %s; NIK %s is not "
                    "registered", (unsigned long long)*id, kks_desk_kinds[kind], due, r->nik);
    }
    fams_free(&fs);
    return rc;
}

static int complaint_close(issuer *is, const Kks__ComplaintRequest *r, const char *actor,
                           const char *at, outcome *o)
{
    char why[200], detail[64];
    crow w;
    int rc;
    sqlite3_stmt *st;
    if (kks_desk_text_check("resolution", r->resolution, KKS_DESK_NOTE_MAX, why, sizeof why) < 0) {
        set_out(o, KKS_RC_FORMAT, "%s", why);
        return 0;
    }
    if ((rc = complaint_get(is, r->id, &w)) < 0) {
        crow_free(&w);
        return rc;
    }
    if (rc == 1) {
        set_out(o, KKS_RC_INVALID_TXN, "no complaint %llu", (unsigned long long)r->id);
        return 0;
    }
    if (strcmp(w.state, "open") != 0) {
        set_out(o, KKS_RC_INVALID_TXN, "complaint %llu was closed already (%s by %s)",
                (unsigned long long)r->id, w.closed_at, w.closed_by);
        crow_free(&w);
        return 0;
    }
    st = store_stmt(is, "UPDATE complaint SET state = 'closed', closed_at = ?, closed_by = ?,"
                        " resolution = ? WHERE id = ? AND state = 'open'");
    rc = KKS_EDB;
    if (st) {
        sqlite3_bind_text(st, 1, at, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->resolution, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (int64_t)r->id);
        if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(is->db) == 1) {
            snprintf(detail, sizeof detail, "complaint %llu: %s", (unsigned long long)r->id,
                     w.kind);
            rc = store_audit(is, NULL, *w.kk ? w.kk : NULL, "complaint_closed", "open",
                             "closed", actor, NULL, detail, NULL, at);
        }
    }
    if (rc == 0)
        set_out(o, KKS_RC_APPROVED, "complaint %llu closed", (unsigned long long)r->id);
    crow_free(&w);
    return rc;
}

/* Replies with complaints (list, show) or none (open, close, refusals). */
static void reply(issuer *is, kks_conn *c, uint64_t id, const outcome *o, crow *rows, size_t n,
                  uint32_t total, int held)
{
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__ComplaintReply cr = KKS__COMPLAINT_REPLY__INIT;
    Kks__Complaint **pm = n ? calloc(n, sizeof *pm) : NULL;
    for (size_t i = 0; pm && i < n; i++)
        pm[i] = &rows[i].m;
    cr.rc = (char *)o->rc;
    cr.reason = (char *)o->reason;
    cr.n_complaints = pm ? n : 0;
    cr.complaints = pm;
    cr.total = total;
    cr.today = (char *)store_today(is);
    rep.body_case = KKS__ENVELOPE__BODY_COMPLAINT_REPLY;
    rep.complaint_reply = &cr;
    answer(is, c, id, &rep, held);
    free(pm);
}

static void complaint_list(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    const Kks__ComplaintRequest *r = req->complaint_request;
    const char *today = store_today(is);
    crow *rows = calloc(LIST_PAGE, sizeof *rows);
    size_t n = 0;
    uint32_t total = 0;
    outcome o;
    sqlite3_stmt *st;
    int r2 = SQLITE_DONE;

    set_out(&o, KKS_RC_APPROVED, "%s", "");
    /* overdue first (open and past due), then open by due date, then closed */
    st = store_stmt(is, COMPLAINT_COLS "'' FROM complaint WHERE ?1 = 0 OR state = 'open'"
                    " ORDER BY CASE WHEN state = 'open' AND due < ?2 THEN 0"
                    " WHEN state = 'open' THEN 1 ELSE 2 END, due, id LIMIT ?3 OFFSET ?4");
    if (!rows || !st) {
        set_out(&o, KKS_RC_SYSTEM, "system malfunction; try again");
    } else {
        sqlite3_bind_int(st, 1, r->open_only);
        sqlite3_bind_text(st, 2, today, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, LIST_PAGE);
        sqlite3_bind_int64(st, 4, r->offset);
        while (n < LIST_PAGE && (r2 = sqlite3_step(st)) == SQLITE_ROW) {
            if (crow_read(st, today, &rows[n++]) < 0) {
                r2 = SQLITE_NOMEM;
                break;
            }
        }
        sqlite3_reset(st);
        st = store_stmt(is, "SELECT count(*) FROM complaint WHERE ?1 = 0 OR state = 'open'");
        if (st) {
            sqlite3_bind_int(st, 1, r->open_only);
            if (sqlite3_step(st) == SQLITE_ROW)
                total = (uint32_t)sqlite3_column_int(st, 0);
            else
                r2 = SQLITE_ERROR;
            sqlite3_reset(st);
        }
        if (r2 != SQLITE_DONE && r2 != SQLITE_ROW) {
            set_out(&o, KKS_RC_SYSTEM, "system malfunction; try again");
            total = 0;
        }
    }
    reply(is, c, req->id, &o, rows, strcmp(o.rc, KKS_RC_APPROVED) == 0 ? n : 0, total, 0);
    for (size_t i = 0; i < n; i++)
        crow_free(&rows[i]);
    free(rows);
}

static void complaint_show(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    crow w;
    outcome o;
    int rc = complaint_get(is, req->complaint_request->id, &w);
    if (rc < 0)
        set_out(&o, KKS_RC_SYSTEM, "system malfunction; try again");
    else if (rc == 1)
        set_out(&o, KKS_RC_INVALID_TXN, "no complaint %llu",
                (unsigned long long)req->complaint_request->id);
    else
        set_out(&o, KKS_RC_APPROVED, "complaint %llu", (unsigned long long)w.m.id);
    reply(is, c, req->id, &o, &w, rc == 0 ? 1 : 0, 0, 0);
    if (rc != 1)
        crow_free(&w);
}

/* open and close: one transaction; the reply (with the complaint as written)
 * after COMMIT. */
static void complaint_write(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    const Kks__ComplaintRequest *r = req->complaint_request;
    outcome o;
    char at[21];
    uint64_t id = 0;
    int rc, opening = strcmp(r->op, "open") == 0;
    crow w;

    set_out(&o, KKS_RC_SYSTEM, "system malfunction; nothing changed");
    store_now(at);
    if (kks_group_begin(is->group) < 0) {
        rc = KKS_EDB;
    } else {
        if (opening)
            rc = complaint_open(is, r, kks_conn_identity(c), at, &o, &id);
        else
            rc = complaint_close(is, r, kks_conn_identity(c), at, &o);
        if (rc != 0 || strcmp(o.rc, KKS_RC_APPROVED) != 0)
            kks_group_abort(is->group); /* refused: nothing of it stays */
    }
    if (rc < 0) {
        kks_error("complaint not written; rolled back", "error", sqlite3_errmsg(is->db));
        set_out(&o, KKS_RC_SYSTEM, "system malfunction; nothing changed");
        reply(is, c, req->id, &o, NULL, 0, 0, 0);
        return;
    }
    if (strcmp(o.rc, KKS_RC_APPROVED) != 0) {
        reply(is, c, req->id, &o, NULL, 0, 0, 0);
        return;
    }
    /* the complaint as written, read back inside the same transaction */
    rc = complaint_get(is, opening ? id : r->id, &w);
    if (rc != 0) {
        kks_group_abort(is->group);
        if (rc != 1)
            crow_free(&w);
        set_out(&o, KKS_RC_SYSTEM, "system malfunction; nothing changed");
        reply(is, c, req->id, &o, NULL, 0, 0, 0);
        return;
    }
    kks_info(opening ? "complaint opened" : "complaint closed", "kind", w.kind, "by",
             kks_conn_identity(c));
    reply(is, c, req->id, &o, &w, 1, 0, 1);
    crow_free(&w);
}

void desk_handle(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    if (req->body_case == KKS__ENVELOPE__BODY_LOOKUP_REQUEST) {
        lookup(is, c, req);
        return;
    }
    const char *op = req->complaint_request->op;
    outcome o;
    if (strcmp(op, "open") == 0 || strcmp(op, "close") == 0) {
        complaint_write(is, c, req);
    } else if (strcmp(op, "list") == 0) {
        complaint_list(is, c, req);
    } else if (strcmp(op, "show") == 0) {
        complaint_show(is, c, req);
    } else {
        set_out(&o, KKS_RC_FORMAT, "unknown complaint operation '%.20s'", op);
        reply(is, c, req->id, &o, NULL, 0, 0, 0);
    }
}
