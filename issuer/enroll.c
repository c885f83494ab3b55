/* Enrolment: rows of the registry extract, a batch per request, each batch
 * a savepoint inside the group transaction (kks_group.h), answered after
 * COMMIT. A row is enrolled (family
 * written and a card ISSUED), unchanged (the same family is already there),
 * or rejected with a reason. A batch that cannot be committed writes
 * nothing and is answered with an Error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_registry.h"

#define MAX_ROWS 20000 /* a 1 MiB frame holds fewer anyway */

/* 1 if the stored family equals f. */
static int family_same(sqlite3_stmt *st, const kks_family *f)
{
    char buf[16];
    const char *want[] = {f->nik, f->name, f->birth_date, NULL, f->address, f->kelurahan,
                          f->kecamatan, f->city, NULL, f->bank};
    for (int i = 0; i < 10; i++) {
        const char *got = (const char *)sqlite3_column_text(st, i);
        if (i == 3) {
            snprintf(buf, sizeof buf, "%c", f->sex);
            want[i] = buf;
        }
        if (i == 8) {
            if (sqlite3_column_int(st, i) != f->decile)
                return 0;
            continue;
        }
        if (!got || strcmp(got, want[i]) != 0)
            return 0;
    }
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++)
        if (sqlite3_column_int(st, 10 + i) != f->pkh[i])
            return 0;
    return sqlite3_column_int(st, 17) == f->bpnt;
}

/* 1 if family kk has a card in a live state, 0 if not, -1 on error. */
static int family_has_live_card(issuer *is, const char *kk)
{
    sqlite3_stmt *st = store_stmt(is, STORE_FAMILY_CARDS
                                  "SELECT 1 FROM chain JOIN card c ON c.pan = chain.pan WHERE"
                                  " c.state IN ('ISSUED','PRINTED','DISTRIBUTED','ACTIVE','BLOCKED')"
                                  " LIMIT 1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, kk, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    return r == SQLITE_ROW ? 1 : r == SQLITE_DONE ? 0 : -1;
}

enum row_result { ROW_ENROLLED, ROW_UNCHANGED, ROW_REJECTED, ROW_FAILED };

static enum row_result enroll_row(issuer *is, const Kks__EnrollRow *row, const char *actor,
                                  const char *at, int verify, char *why, size_t cap)
{
    kks_family f;
    sqlite3_stmt *st;
    char pan[20];
    const char *packed[KKS_REG_NFIELDS], *const *fields = (const char *const *)row->fields;
    int nfields = (int)row->n_fields;

    if (row->packed.len > 0) {
        if ((nfields = kks_registry_unpack(row->packed.data, row->packed.len, packed,
                                           KKS_REG_NFIELDS)) < 0) {
            snprintf(why, cap, "the row is not fields of UTF-8 text, each ended by a NUL byte");
            return ROW_REJECTED;
        }
        if (nfields > KKS_REG_NFIELDS) {
            snprintf(why, cap, "expected %d fields, found more", KKS_REG_NFIELDS);
            return ROW_REJECTED;
        }
        fields = packed;
    }
    if (kks_registry_parse(&is->seeds, fields, nfields, &f, why, cap) < 0 ||
        kks_registry_check_holder(&is->seeds, &f, store_today(is), why, cap) < 0)
        return ROW_REJECTED;
    if (verify)
        goto existing;
    /* One live card per holder: a NIK holding a live card under another KK
     * is refused (an index probe on family(nik); the cards are read only for
     * the rare NIK found). The same KK falls through to the insert, which
     * finds it unchanged or conflicting. */
    st = store_stmt(is, "SELECT kk FROM family WHERE nik = ?1 AND kk <> ?2 LIMIT 8");
    if (!st)
        return ROW_FAILED;
    sqlite3_bind_text(st, 1, f.nik, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, f.kk, -1, SQLITE_STATIC);
    for (;;) {
        int r = sqlite3_step(st), live;
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW)
            return ROW_FAILED;
        char other[32];
        snprintf(other, sizeof other, "%s", (const char *)sqlite3_column_text(st, 0));
        if ((live = family_has_live_card(is, other)) < 0)
            return ROW_FAILED;
        if (live) {
            snprintf(why, cap, "NIK %s already holds a live card under KK %s; one card per holder",
                     f.nik, other);
            return ROW_REJECTED;
        }
    }
    if (store_next_pan(is, f.bank, pan) < 0)
        return ROW_FAILED;
    /* Insert first: a new family (the common case) costs one index probe. */
    st = store_stmt(is, "INSERT INTO family(kk, nik, name, birth_date, sex, address, kelurahan,"
                        " kecamatan, city_code, decile, bank, pkh_pregnant, pkh_early_childhood,"
                        " pkh_sd, pkh_smp, pkh_sma, pkh_disability, pkh_elderly, bpnt,"
                        " enrolled_at, card) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                        " ON CONFLICT(kk) DO NOTHING");
    if (!st)
        return ROW_FAILED;
    char sex[2] = {f.sex, '\0'};
    const char *texts[] = {f.kk, f.nik, f.name, f.birth_date, sex, f.address, f.kelurahan,
                           f.kecamatan, f.city};
    for (int i = 0; i < 9; i++)
        sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, f.decile);
    sqlite3_bind_text(st, 11, f.bank, -1, SQLITE_STATIC);
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++)
        sqlite3_bind_int(st, 12 + i, f.pkh[i]);
    sqlite3_bind_int(st, 19, f.bpnt);
    sqlite3_bind_text(st, 20, at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 21, pan, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return ROW_FAILED;
    if (sqlite3_changes(is->db) == 0) { /* already enrolled: the same, or a conflict */
    existing:
        st = store_stmt(is, "SELECT nik, name, birth_date, sex, address, kelurahan, kecamatan,"
                            " city_code, decile, bank, pkh_pregnant, pkh_early_childhood, pkh_sd,"
                            " pkh_smp, pkh_sma, pkh_disability, pkh_elderly, bpnt"
                            " FROM family WHERE kk = ?");
        if (!st)
            return ROW_FAILED;
        sqlite3_bind_text(st, 1, f.kk, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE && verify) {
            snprintf(why, cap, "KK %s is not enrolled at the issuer: enrol it first", f.kk);
            return ROW_REJECTED;
        }
        if (r != SQLITE_ROW)
            return ROW_FAILED;
        if (family_same(st, &f))
            return ROW_UNCHANGED;
        snprintf(why, cap, "KK %s is already enrolled with other data; one card per family", f.kk);
        return ROW_REJECTED;
    }
    if (store_issue_card(is, pan, f.kk, f.bank, NULL, actor, NULL, NULL, at) < 0)
        return ROW_FAILED;
    return ROW_ENROLLED;
}

void enroll_handle(issuer *is, kks_conn *c, const Kks__Envelope *req)
{
    const Kks__EnrollBatch *b = req->enroll_batch;
    Kks__Envelope rep = KKS__ENVELOPE__INIT;
    Kks__EnrollResult res = KKS__ENROLL_RESULT__INIT;
    Kks__Rejected *rej = NULL, **prej = NULL;
    char (*why)[256] = NULL;
    char at[21];
    size_t nrej = 0;

    if (b->n_rows > MAX_ROWS) {
        kks_conn_reply_error(c, req->id, KKS_EINVAL, "too many rows in one batch");
        return;
    }
    rej = calloc(b->n_rows + 1, sizeof *rej);
    prej = calloc(b->n_rows + 1, sizeof *prej);
    why = calloc(b->n_rows + 1, sizeof *why);
    if (!rej || !prej || !why) {
        kks_conn_reply_error(c, req->id, KKS_ENOMEM, kks_strerror(KKS_ENOMEM));
        goto out;
    }
    store_now(at);
    if (b->verify_only) {
        /* a check for account opening: reads only, answered at once */
    } else if (kks_group_begin(is->group) < 0) {
        kks_conn_reply_error(c, req->id, KKS_EDB, "database busy or unavailable; nothing written");
        goto out;
    }
    for (size_t i = 0; i < b->n_rows; i++) {
        switch (enroll_row(is, b->rows[i], kks_conn_identity(c), at, b->verify_only, why[nrej],
                           sizeof why[nrej])) {
        case ROW_ENROLLED:
            res.enrolled++;
            break;
        case ROW_UNCHANGED:
            res.unchanged++;
            break;
        case ROW_REJECTED:
            kks__rejected__init(&rej[nrej]);
            rej[nrej].line = b->rows[i]->line;
            rej[nrej].reason = why[nrej];
            prej[nrej] = &rej[nrej];
            nrej++;
            break;
        case ROW_FAILED:
            kks_error("enrolment failed; batch rolled back", "error", sqlite3_errmsg(is->db));
            if (!b->verify_only)
                kks_group_abort(is->group);
            kks_conn_reply_error(c, req->id, KKS_EDB, "database error; nothing of this batch written");
            goto out;
        }
    }
    if (b->verify_only) {
        res.n_rejected = nrej;
        res.rejected = prej;
        rep.body_case = KKS__ENVELOPE__BODY_ENROLL_RESULT;
        rep.enroll_result = &res;
        kks_conn_reply(c, req->id, &rep);
        goto out;
    }
    if (store_save_pan_seq(is) < 0) {
        kks_group_abort(is->group);
        kks_conn_reply_error(c, req->id, KKS_EDB, "database error; nothing of this batch written");
        goto out;
    }
    res.n_rejected = nrej;
    res.rejected = prej;
    rep.body_case = KKS__ENVELOPE__BODY_ENROLL_RESULT;
    rep.enroll_result = &res;
    /* bulk work: the reply may wait up to a second for more batches to share
     * the commit (kks_group_set_fill in store.c), but not after the sender's
     * last batch: nothing more is coming */
    kks_group_defer(is->group, c, req->id, &rep, (unsigned)b->n_rows, b->last ? 0 : 1000);
out:
    free(rej);
    free(prej);
    free(why);
}
