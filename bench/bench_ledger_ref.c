/* The reference for the credit-run benchmark (SPEC §11): an in-process
 * SQLite loop doing the same per-credit work as the switch (insert the
 * credit if new, add to the family's wallet), with the switch's schema and
 * pragmas, one transaction per 16,384 credits, keys in order or scattered.
 * No network, no TLS, no protobuf. usage: bench_ledger_ref N in|scattered DB */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void ok(int rc, sqlite3 *db)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE) {
        fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
        exit(4);
    }
}

int main(int argc, char **argv)
{
    long long n = argc > 1 ? atoll(argv[1]) : 0;
    int scattered = argc > 2 && strcmp(argv[2], "scattered") == 0;
    const char *path = argc > 3 ? argv[3] : "ref.db";
    sqlite3 *db;
    sqlite3_stmt *ins, *up;
    if (n <= 0) {
        fputs("usage: bench_ledger_ref N in|scattered DB\n", stderr);
        return 2;
    }
    remove(path);
    ok(sqlite3_open(path, &db), db);
    ok(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                        "PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=20000;"
                        "CREATE TABLE wallet(kk INTEGER PRIMARY KEY, pkh INTEGER NOT NULL DEFAULT 0,"
                        " bpnt INTEGER NOT NULL DEFAULT 0, opened_at TEXT NOT NULL);"
                        "CREATE TABLE credit(kk INTEGER NOT NULL, funding INTEGER NOT NULL,"
                        " amount INTEGER NOT NULL, at TEXT NOT NULL,"
                        " PRIMARY KEY (kk, funding)) WITHOUT ROWID;",
                    NULL, NULL, NULL),
       db);
    ok(sqlite3_prepare_v2(db, "INSERT INTO credit(kk, funding, amount, at) VALUES (?, 1, ?, ?)"
                              " ON CONFLICT(kk, funding) DO NOTHING", -1, &ins, NULL), db);
    ok(sqlite3_prepare_v2(db, "INSERT INTO wallet(kk, bpnt, opened_at) VALUES (?, ?, ?)"
                              " ON CONFLICT(kk) DO UPDATE SET bpnt = bpnt + excluded.bpnt",
                          -1, &up, NULL), db);
    const char *at = "2026-11-24T00:00:00Z";
    double t0 = now();
    for (long long i = 0; i < n; i++) {
        if (i % 16384 == 0)
            ok(sqlite3_exec(db, i ? "COMMIT; BEGIN" : "BEGIN", NULL, NULL, NULL), db);
        int64_t kk = 1271010000000000ll +
                     (int64_t)(scattered ? ((uint64_t)i * 7919ull + 12345ull) % 10000000000ull
                                         : (uint64_t)i * 37ull);
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, kk);
        sqlite3_bind_int64(ins, 2, 200000);
        sqlite3_bind_text(ins, 3, at, -1, SQLITE_STATIC);
        ok(sqlite3_step(ins), db);
        if (sqlite3_changes(db)) {
            sqlite3_reset(up);
            sqlite3_bind_int64(up, 1, kk);
            sqlite3_bind_int64(up, 2, 200000);
            sqlite3_bind_text(up, 3, at, -1, SQLITE_STATIC);
            ok(sqlite3_step(up), db);
        }
    }
    ok(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), db);
    double el = now() - t0;
    printf("%.0f\n", (double)n / el);
    fprintf(stderr, "reference loop, %lld credits, keys %s: %.2f s, %.0f credits/s\n", n,
            scattered ? "scattered" : "in order", el, (double)n / el);
    sqlite3_finalize(ins);
    sqlite3_finalize(up);
    sqlite3_close(db);
    remove(path);
    return 0;
}
