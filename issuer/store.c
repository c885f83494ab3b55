/* Issuer storage: one SQLite database, schema by migrations (kks_db.h).
 *
 * family: one row per KK from the registry extract.
 * card:   one row per card ever issued; keyed by PAN (allocated in order per
 *         bank, so inserts append); state per the picture in cards.c.
 * batch:  print batches.  pan_seq: next account number per bank.
 * audit:  every transition: who (certificate CN), where (site), when (UTC),
 *         and the documents the desk saw (docs, comma-separated; from v3).
 * complaint: the complaints desk (desk.c): one row per complaint, with the
 *         evidence gathered when it was opened (JSON), who opened and closed it
 *         and when; the opening and closing are audit rows too. */
#include "issuer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "kks_db.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_registry.h"

static const char *const migrations[] = {
    "CREATE TABLE family("
    " kk TEXT NOT NULL UNIQUE, nik TEXT NOT NULL, name TEXT NOT NULL, birth_date TEXT NOT NULL,"
    " sex TEXT NOT NULL, address TEXT NOT NULL, kelurahan TEXT NOT NULL,"
    " kecamatan TEXT NOT NULL, city_code TEXT NOT NULL, decile INTEGER NOT NULL,"
    " bank TEXT NOT NULL, pkh_pregnant INTEGER NOT NULL, pkh_early_childhood INTEGER NOT NULL,"
    " pkh_sd INTEGER NOT NULL, pkh_smp INTEGER NOT NULL, pkh_sma INTEGER NOT NULL,"
    " pkh_disability INTEGER NOT NULL, pkh_elderly INTEGER NOT NULL, bpnt INTEGER NOT NULL,"
    " enrolled_at TEXT NOT NULL);"
    "CREATE TABLE card("
    " pan TEXT PRIMARY KEY, kk TEXT NOT NULL, bank TEXT NOT NULL, state TEXT NOT NULL,"
    " expiry TEXT NOT NULL, batch INTEGER, pvv BLOB, pin_fails INTEGER NOT NULL DEFAULT 0,"
    " replaces TEXT, replaced_by TEXT, issued_at TEXT NOT NULL, issued_by TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX card_to_print ON card(bank) WHERE state = 'ISSUED';"
    "CREATE INDEX card_batch ON card(batch) WHERE batch IS NOT NULL;"
    "CREATE TABLE batch(id INTEGER PRIMARY KEY, bank TEXT NOT NULL, site TEXT NOT NULL,"
    " cards INTEGER NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL);"
    "CREATE TABLE pan_seq(bank TEXT PRIMARY KEY, next INTEGER NOT NULL);"
    "CREATE TABLE audit(id INTEGER PRIMARY KEY, pan TEXT, kk TEXT, event TEXT NOT NULL,"
    " from_state TEXT, to_state TEXT, actor TEXT NOT NULL, site TEXT, at TEXT NOT NULL,"
    " detail TEXT);"
    "CREATE INDEX audit_pan ON audit(pan);",
    /* v2: one live card per holder NIK, across KKs: enrolment looks the NIK up */
    "CREATE INDEX family_nik ON family(nik);",
    /* v3: the documents seen at an event (hand-over, replacement); older
     * events have none recorded */
    "ALTER TABLE audit ADD COLUMN docs TEXT;",
    /* v4: the complaints desk. A family's cards are found by its KK; a
     * complaint names a NIK that may be in no family ("data not registered"). */
    "CREATE INDEX card_kk ON card(kk);"
    "CREATE TABLE complaint(id INTEGER PRIMARY KEY, nik TEXT NOT NULL, kk TEXT,"
    " kind TEXT NOT NULL, rrn TEXT, note TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),"
    " opened_on TEXT NOT NULL, due TEXT NOT NULL, opened_at TEXT NOT NULL,"
    " opened_by TEXT NOT NULL, closed_at TEXT, closed_by TEXT, resolution TEXT,"
    " evidence TEXT NOT NULL);"
    "CREATE INDEX complaint_open ON complaint(due) WHERE state = 'open';",
    /* v5: a family names its first card, and its cards follow replaced_by
     * from there (STORE_FAMILY_CARDS): the index on card(kk), a third
     * random-order index written at enrolment, cost a third of its writes */
    "ALTER TABLE family ADD COLUMN card TEXT;"
    "UPDATE family SET card = (SELECT pan FROM card c WHERE c.kk = family.kk AND"
    " c.replaces IS NULL ORDER BY issued_at, pan LIMIT 1);"
    "DROP INDEX card_kk;",
    /* v6: a family is stored in its KK's B-tree (WITHOUT ROWID), not in a
     * rowid table beside a UNIQUE index on kk: every enrolment wrote both, and
     * the family is always found by KK (or through family_nik, which now
     * names the KK). One B-tree fewer per enrolment. */
    "CREATE TABLE family6("
    " kk TEXT NOT NULL PRIMARY KEY, nik TEXT NOT NULL, name TEXT NOT NULL,"
    " birth_date TEXT NOT NULL, sex TEXT NOT NULL, address TEXT NOT NULL,"
    " kelurahan TEXT NOT NULL, kecamatan TEXT NOT NULL, city_code TEXT NOT NULL,"
    " decile INTEGER NOT NULL, bank TEXT NOT NULL, pkh_pregnant INTEGER NOT NULL,"
    " pkh_early_childhood INTEGER NOT NULL, pkh_sd INTEGER NOT NULL, pkh_smp INTEGER NOT NULL,"
    " pkh_sma INTEGER NOT NULL, pkh_disability INTEGER NOT NULL, pkh_elderly INTEGER NOT NULL,"
    " bpnt INTEGER NOT NULL, enrolled_at TEXT NOT NULL, card TEXT) WITHOUT ROWID;"
    "INSERT INTO family6 SELECT kk, nik, name, birth_date, sex, address, kelurahan, kecamatan,"
    " city_code, decile, bank, pkh_pregnant, pkh_early_childhood, pkh_sd, pkh_smp, pkh_sma,"
    " pkh_disability, pkh_elderly, bpnt, enrolled_at, card FROM family ORDER BY kk;"
    "DROP TABLE family;"
    "ALTER TABLE family6 RENAME TO family;"
    "CREATE INDEX family_nik ON family(nik);",
    /* v7: the cards waiting to be printed are found by their PANs: a bank's
     * PANs are its BIN and an increasing account number, so every ISSUED card
     * of a bank is at or after its print mark (the first PAN issued since its
     * last print batch) in the card table's own order. The partial index
     * card_to_print, written by every enrolment, is gone. The marks start at
     * each bank's lowest ISSUED card, or after its last card. */
    "CREATE TABLE print_mark(bank TEXT PRIMARY KEY, from_pan TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT INTO print_mark SELECT bank, coalesce((SELECT min(pan) FROM card c WHERE"
    " c.bank = b.bank AND c.state = 'ISSUED'), max(pan) || ':') FROM card b GROUP BY bank;"
    "DROP INDEX card_to_print;",
    /* v8: the database's identity, which ping reports (see the switch's). */
    KKS_DB_IDENTITY_MIGRATION,
};

sqlite3_stmt *store_stmt(issuer *is, const char *sql)
{
    int i;
    for (i = 0; i < is->nstmts; i++) {
        if (is->stmts[i].sql == sql) { /* same literal: pointer compare is enough */
            sqlite3_reset(is->stmts[i].st);
            sqlite3_clear_bindings(is->stmts[i].st);
            return is->stmts[i].st;
        }
    }
    if (is->nstmts == ISSUER_MAX_STMTS)
        return NULL;
    if (sqlite3_prepare_v3(is->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &is->stmts[i].st, NULL) !=
        SQLITE_OK) {
        kks_error("cannot prepare statement", "error", sqlite3_errmsg(is->db));
        return NULL;
    }
    is->stmts[i].sql = sql;
    is->nstmts++;
    return is->stmts[i].st;
}

void set_out(outcome *o, const char *rc, const char *fmt, ...)
{
    va_list ap;
    o->rc = rc;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, ap);
    va_end(ap);
}

void store_now(char out[21])
{
    kks_utc_now(out);
}

const char *store_today(issuer *is)
{
    if (!is->fixed_today) {
        char now[21];
        store_now(now);
        memcpy(is->today, now, 10);
        is->today[10] = '\0';
    }
    return is->today;
}

int store_save_pan_seq(issuer *is)
{
    for (int i = 0; i < is->seeds.nbanks; i++) {
        if (!is->pan_dirty[i])
            continue;
        sqlite3_stmt *st = store_stmt(is, "INSERT INTO pan_seq(bank, next) VALUES (?, ?)"
                                          " ON CONFLICT(bank) DO UPDATE SET next = excluded.next");
        if (!st)
            return KKS_EDB;
        sqlite3_bind_text(st, 1, is->seeds.banks[i].code, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, is->pan_next[i]);
        if (sqlite3_step(st) != SQLITE_DONE)
            return KKS_EDB;
        is->pan_dirty[i] = 0;
    }
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC); /* outlives the step */
    else
        sqlite3_bind_null(st, i);
}

int store_audit(issuer *is, const char *pan, const char *kk, const char *event, const char *from,
                const char *to, const char *actor, const char *site, const char *detail,
                const char *docs, const char *at)
{
    sqlite3_stmt *st = store_stmt(is, "INSERT INTO audit(pan, kk, event, from_state, to_state,"
                                      " actor, site, at, detail, docs)"
                                      " VALUES (?,?,?,?,?,?,?,?,?,?)");
    if (!st)
        return KKS_EDB;
    bind_text(st, 1, pan);
    bind_text(st, 2, kk);
    bind_text(st, 3, event);
    bind_text(st, 4, from);
    bind_text(st, 5, to);
    bind_text(st, 6, actor);
    bind_text(st, 7, site);
    bind_text(st, 8, at);
    bind_text(st, 9, detail);
    bind_text(st, 10, docs);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : KKS_EDB;
}

int store_next_pan(issuer *is, const char *bank, char pan_out[20])
{
    const kks_bank *b = kks_seeds_bank(&is->seeds, bank);
    sqlite3_stmt *st;
    if (!b)
        return KKS_EINVAL;
    int bi = (int)(b - is->seeds.banks);
    size_t bin = strlen(b->bin), len = (size_t)is->seeds.pan_length - 1; /* without the check digit */
    if (is->pan_next[bi] == 0) { /* first use since start: read the counter */
        if (!(st = store_stmt(is, "SELECT next FROM pan_seq WHERE bank = ?")))
            return KKS_EDB;
        sqlite3_bind_text(st, 1, bank, -1, SQLITE_STATIC);
        is->pan_next[bi] = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
    }
    if (len < bin || len > 18)
        return KKS_EINVAL;
    /* the account number, zero-padded after the BIN (snprintf was a tenth of
     * an enrolment's own instructions) */
    long long v = is->pan_next[bi];
    memcpy(pan_out, b->bin, bin);
    for (size_t i = len; i > bin; i--, v /= 10)
        pan_out[i - 1] = (char)('0' + v % 10);
    if (v != 0)
        return KKS_EINVAL; /* account numbers of this bank are used up */
    pan_out[len] = kks_luhn_digit(pan_out, len);
    pan_out[len + 1] = '\0';
    return 0;
}

int store_issue_card(issuer *is, const char *pan, const char *kk, const char *bank,
                     const char *replaces, const char *actor, const char *site, const char *docs,
                     const char *at)
{
    const kks_bank *b = kks_seeds_bank(&is->seeds, bank);
    int y, m, d;
    char expiry[8];
    sqlite3_stmt *st;
    if (!b)
        return KKS_EINVAL;
    int bi = (int)(b - is->seeds.banks);
    if (strcmp(is->expiry_for, store_today(is)) != 0) {
        sscanf(is->today, "%d-%d-%d", &y, &m, &d);
        snprintf(is->expiry, sizeof is->expiry, "%04d-%02d", y + is->seeds.expiry_years, m);
        memcpy(is->expiry_for, is->today, sizeof is->expiry_for);
    }
    memcpy(expiry, is->expiry, sizeof expiry);
    st = store_stmt(is, "INSERT INTO card(pan, kk, bank, state, expiry, replaces, issued_at,"
                        " issued_by) VALUES (?,?,?,'ISSUED',?,?,?,?)");
    if (!st)
        return KKS_EDB;
    sqlite3_bind_text(st, 1, pan, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, bank, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, expiry, -1, SQLITE_STATIC);
    bind_text(st, 5, replaces);
    sqlite3_bind_text(st, 6, at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, actor, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return KKS_EDB;
    is->pan_next[bi]++;
    is->pan_dirty[bi] = 1;
    if (!is->print_marked[bi]) {
        /* the bank's first card since this process started: a bank with no
         * mark yet (no card before, none printed) is marked here; an existing
         * mark is lower than this card and stays */
        if (!(st = store_stmt(is, "INSERT INTO print_mark(bank, from_pan) VALUES (?, ?)"
                                  " ON CONFLICT(bank) DO NOTHING")))
            return KKS_EDB;
        sqlite3_bind_text(st, 1, bank, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pan, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            return KKS_EDB;
        is->print_marked[bi] = 1;
    }
    /* The card row itself records who issued it and when (issued_by,
     * issued_at): at enrolment speed a separate audit row per card was a
     * quarter of the work. A replacement, which is rare, gets its audit row. */
    if (!replaces)
        return 0;
    return store_audit(is, pan, kk, "replacement_issued", NULL, "ISSUED", actor, site,
                       replaces, docs, at);
}

int store_open(issuer *is, const char *path)
{
    int rc = kks_db_open(path, migrations, sizeof migrations / sizeof migrations[0], &is->db);
    if (rc < 0 || (rc = kks_db_identity(is->db, is->identity)) < 0)
        return rc;
    /* Enrolment touches two small random-order indexes; keep them in cache. */
    if ((rc = kks_db_exec(is->db, "PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY;"
                                  "PRAGMA wal_autocheckpoint=100000;")) < 0)
        return rc;
    if ((rc = kks_db_checkpointer_start(is->db, path, 200, &is->ckpt)) < 0)
        return rc;
    if ((rc = kks_group_new(uv_default_loop(), is->db, 200000, &is->group)) < 0)
        return rc;
    /* Enrolment batches fill a transaction of 64k rows before it commits:
     * at 8k rows a commit (what arrived between two quiet iterations), 1M
     * families wrote 7.8 GB through the WAL, nearly every page of the KK and
     * NIK indexes again at each commit. */
    kks_group_set_fill(is->group, 65536);
    return 0;
}

void store_close(issuer *is)
{
    kks_db_checkpointer_stop(is->ckpt);
    is->ckpt = NULL;
    for (int i = 0; i < is->nstmts; i++)
        sqlite3_finalize(is->stmts[i].st);
    is->nstmts = 0;
    kks_db_close(is->db);
    is->db = NULL;
}
