/* The reference for the enrolment benchmark: the storage work of enrolment
 * alone, in process. Each family of the extract is inserted as the issuer
 * stores it (a family row naming its card, the card row ISSUED), into a
 * database the issuer itself created, so the schema, its indexes and the
 * issuer's pragmas are the same; one transaction per 65,536 families, as the
 * issuer fills its commits. No network, TLS, protobuf or row validation; the
 * NIK probe for one card per holder is done, as the issuer does it.
 * usage: bench_enroll_ref DB EXTRACT.csv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#define FIELDS 19
#define COMMIT_ROWS 65536

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ok(int rc, sqlite3 *db)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "bench_enroll_ref: sqlite: %s\n", sqlite3_errmsg(db));
        exit(4);
    }
}

/* Splits a generated row (no quoted commas in generated extracts; a quoted
 * field is refused) into f. Returns 0 or -1. */
static int split(char *line, char *f[FIELDS])
{
    int n = 0;
    char *p = line;
    line[strcspn(line, "\r\n")] = '\0';
    while (n < FIELDS) {
        if (*p == '"')
            return -1;
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n == FIELDS ? 0 : -1;
}

int main(int argc, char **argv)
{
    sqlite3 *db;
    sqlite3_stmt *probe, *fam, *card;
    char line[4096], *f[FIELDS], pan[24];
    long long n = 0;
    if (argc != 3) {
        fputs("usage: bench_enroll_ref DB EXTRACT.csv\n", stderr);
        return 2;
    }
    FILE *in = fopen(argv[2], "r");
    if (!in) {
        perror(argv[2]);
        return 2;
    }
    ok(sqlite3_open(argv[1], &db), db);
    ok(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                        "PRAGMA cache_size=-131072; PRAGMA temp_store=MEMORY;"
                        "PRAGMA wal_autocheckpoint=100000;", /* the issuer checkpoints in a thread */
                    NULL, NULL, NULL),
       db);
    ok(sqlite3_prepare_v2(db, "SELECT kk FROM family WHERE nik = ?1 AND kk <> ?2 LIMIT 8", -1,
                          &probe, NULL),
       db);
    ok(sqlite3_prepare_v2(db,
                          "INSERT INTO family(kk, nik, name, birth_date, sex, address, kelurahan,"
                          " kecamatan, city_code, decile, bank, pkh_pregnant, pkh_early_childhood,"
                          " pkh_sd, pkh_smp, pkh_sma, pkh_disability, pkh_elderly, bpnt,"
                          " enrolled_at, card) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                          " ON CONFLICT(kk) DO NOTHING",
                          -1, &fam, NULL),
       db);
    ok(sqlite3_prepare_v2(db,
                          "INSERT INTO card(pan, kk, bank, state, expiry, issued_at, issued_by)"
                          " VALUES (?,?,?,'ISSUED','2031-12',?,'operator')",
                          -1, &card, NULL),
       db);
    const char *at = "2026-12-02T00:00:00Z";
    if (!fgets(line, sizeof line, in)) { /* the header */
        fputs("bench_enroll_ref: empty extract\n", stderr);
        return 2;
    }
    double t0 = now();
    while (fgets(line, sizeof line, in)) {
        if (split(line, f) < 0) {
            fprintf(stderr, "bench_enroll_ref: row %lld is not a generated row\n", n + 2);
            return 2;
        }
        if (n % COMMIT_ROWS == 0)
            ok(sqlite3_exec(db, n ? "COMMIT; BEGIN" : "BEGIN", NULL, NULL, NULL), db);
        snprintf(pan, sizeof pan, "9%015lld", n); /* the issuer's: BIN, counter, Luhn digit */
        sqlite3_bind_text(probe, 1, f[1], -1, SQLITE_STATIC);
        sqlite3_bind_text(probe, 2, f[0], -1, SQLITE_STATIC);
        ok(sqlite3_step(probe), db);
        sqlite3_reset(probe);
        for (int i = 0; i < FIELDS; i++)
            sqlite3_bind_text(fam, i + 1, f[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(fam, 20, at, -1, SQLITE_STATIC);
        sqlite3_bind_text(fam, 21, pan, -1, SQLITE_STATIC);
        ok(sqlite3_step(fam), db);
        sqlite3_reset(fam);
        sqlite3_bind_text(card, 1, pan, -1, SQLITE_STATIC);
        sqlite3_bind_text(card, 2, f[0], -1, SQLITE_STATIC);
        sqlite3_bind_text(card, 3, f[10], -1, SQLITE_STATIC);
        sqlite3_bind_text(card, 4, at, -1, SQLITE_STATIC);
        ok(sqlite3_step(card), db);
        sqlite3_reset(card);
        n++;
    }
    ok(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db);
    double secs = now() - t0;
    printf("reference: %lld families stored in process (same schema, 64k-row commits) in %.2f s,"
           " %.0f families/s\n",
           n, secs, (double)n / secs);
    fclose(in);
    sqlite3_finalize(probe);
    sqlite3_finalize(fam);
    sqlite3_finalize(card);
    sqlite3_close(db);
    return 0;
}
