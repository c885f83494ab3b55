#include "kks_db.h"

#include <stdio.h>

#include "kks_err.h"
#include "kks_log.h"

int kks_db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        kks_error("database error", "error", err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return KKS_EDB;
    }
    return 0;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    int rc = KKS_EDB;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return KKS_EDB;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int kks_db_open(const char *path, const char *const *migrations, int n, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int v = 0;
    *out = NULL;
    /* Each connection is used by one thread: no mutexes, no global memory
     * statistics (its lock was a tenth of the enrolment profile). */
    static int configured;
    if (!configured) {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        configured = 1;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        kks_error("cannot open database", "file", path, "error",
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return KKS_EDB;
    }
    sqlite3_busy_timeout(db, 5000);
    /* WAL + synchronous=NORMAL: a commit survives the process being killed;
     * only an OS crash or power loss can lose the last transactions. */
    if (kks_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                        "PRAGMA foreign_keys=ON;") < 0 ||
        user_version(db, &v) < 0)
        goto fail;
    if (v > n) {
        char have[16], know[16];
        snprintf(have, sizeof have, "%d", v);
        snprintf(know, sizeof know, "%d", n);
        kks_error("database schema is newer than this program", "file", path, "version", have,
                  "known", know);
        goto fail;
    }
    for (; v < n; v++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version=%d;", v + 1);
        if (kks_db_exec(db, "BEGIN IMMEDIATE") < 0)
            goto fail;
        if (kks_db_exec(db, migrations[v]) < 0 || kks_db_exec(db, bump) < 0 ||
            kks_db_exec(db, "COMMIT") < 0) {
            kks_db_exec(db, "ROLLBACK");
            goto fail;
        }
    }
    *out = db;
    return 0;
fail:
    sqlite3_close(db);
    return KKS_EDB;
}

void kks_db_close(sqlite3 *db)
{
    if (db)
        sqlite3_close(db);
}
