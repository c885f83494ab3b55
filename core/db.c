#include "kks_db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

void kks_db_reset_all(sqlite3 *db)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st))
        if (sqlite3_stmt_busy(st))
            sqlite3_reset(st);
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
    sqlite3_busy_timeout(db, 1000); /* the event loop waits meanwhile: keep it short */
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

struct kks_checkpointer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    unsigned interval_ms;
    sqlite3 *db; /* the thread's own connection */
};

static void *checkpoint_main(void *arg)
{
    kks_checkpointer *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += c->interval_ms / 1000;
        ts.tv_nsec += (long)(c->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        pthread_mutex_unlock(&c->mu);
        /* PASSIVE: copies what it can without waiting for the writer */
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int kks_db_checkpointer_start(sqlite3 *writer, const char *path, unsigned interval_ms,
                              kks_checkpointer **out)
{
    kks_checkpointer *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return KKS_ENOMEM;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        kks_error("checkpointer cannot open the database", "file", path);
        sqlite3_close(c->db);
        free(c);
        return KKS_EDB;
    }
    sqlite3_busy_timeout(c->db, 1000);
    c->interval_ms = interval_ms;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
        sqlite3_close(c->db);
        free(c);
        return KKS_ENOMEM;
    }
    sqlite3_wal_autocheckpoint(writer, 0);
    *out = c;
    return 0;
}

void kks_db_checkpointer_stop(kks_checkpointer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
