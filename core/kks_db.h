/* SQLite helpers: open in WAL mode and bring the schema up to date.
 *
 * A schema is an ordered list of migrations; migration i (0-based) takes
 * PRAGMA user_version from i to i+1 inside one transaction, so a database is
 * never left between versions. A database newer than the program is refused.
 *
 * Test builds (KKS_TEST_HOOKS) read two variables at kks_db_open, so that the
 * end-to-end tests can fill the disk for real:
 *   KKS_TEST_MAX_PAGES=N   PRAGMA max_page_count=N on the connection (the
 *                          database file may not grow: a statement that needs
 *                          a new page fails with SQLITE_FULL)
 *   KKS_TEST_DISK_FREE=N   every database file of the process lives on a disk
 *                          with N bytes free (a COMMIT that grows the WAL, or a
 *                          checkpoint that grows the database, fails with
 *                          SQLITE_FULL; truncating gives the space back)
 * A release build has neither. */
#ifndef KKS_DB_H
#define KKS_DB_H

#include <sqlite3.h>

/* Opens (creating) path, sets WAL, synchronous=NORMAL, a busy timeout and
 * foreign keys, and applies the pending migrations. Returns 0, KKS_EINVAL
 * when the file cannot be opened or created (no such directory, no
 * permission: logged with the reason), or KKS_EDB (logged with SQLite's
 * message). */
int kks_db_open(const char *path, const char *const *migrations, int n, sqlite3 **out);
/* Closes; NULL is a no-op. */
void kks_db_close(sqlite3 *db);

/* The page cache's layer that skips SQLite's end-of-transaction truncation
 * when no page could be dropped by it (core/pcache.c): installed by the
 * first kks_db_open, before SQLite is initialised; 0, or -1 when SQLite was
 * initialised first (its own cache is then used as it is). The counts are
 * the truncations skipped and passed on, over all connections. */
int kks_pcache_register(void);
void kks_pcache_stats(unsigned long long *skipped, unsigned long long *done);
/* Resets every statement of db that is still stepping, so that no read
 * transaction outlives the request that began it (a statement left on a
 * row keeps the WAL from being checkpointed). */
void kks_db_reset_all(sqlite3 *db);
/* Runs SQL with no results; logs and returns KKS_EDB on failure. */
int kks_db_exec(sqlite3 *db, const char *sql);

/* The migration that gives a daemon's database its identity: 32 hex digits
 * made at random once, kept in the table meta (key 'identity'), the same
 * after every restart, and on a copy of the file (a copy is the same world). */
#define KKS_DB_IDENTITY_MIGRATION                                                          \
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;"                \
    "INSERT INTO meta VALUES ('identity', lower(hex(randomblob(16))));"
/* The database's identity (KKS_DB_IDENTITY_MIGRATION) into out: 0, or KKS_EDB
 * (logged) when there is none. */
int kks_db_identity(sqlite3 *db, char out[33]);

/* Checkpoints a WAL database from a thread of its own, so that the thread
 * that writes never stalls on a checkpoint's copying and fsyncs (they took
 * 100 ms and more under load), and keeps the WAL file bounded while the daemon
 * runs (SPEC §9):
 *   - the thread copies what it can without waiting (PASSIVE) every
 *     interval_ms, and at once whenever the writer has written another
 *     KKS_WAL_STEP since it last woke it (over KKS_WAL_LIMIT);
 *   - when everything is copied and the WAL is over KKS_WAL_LIMIT, it
 *     empties the file (TRUNCATE) once the writer has made no commit for a
 *     whole round, or makes the writer's next transaction start the WAL over
 *     in the same file (RESTART) if the writer made no commit while it
 *     copied; either only if the writer is between transactions at that
 *     moment (it never waits for the writer), and never with anything left
 *     to copy: that copy and its fsyncs would hold the writer's lock, and
 *     the event loop would wait (10-40 ms here, the tail of authorisation
 *     latency). An idle daemon's WAL is at most KKS_WAL_LIMIT;
 *   - a writer that is never idle (commits back to back) would keep the WAL
 *     growing: over KKS_WAL_MAX, the writer copies what is left itself after
 *     its commit, and its next transaction starts the WAL over, reusing the
 *     file from its start (journal_size_limit is twice KKS_WAL_MAX). While the
 *     daemon runs, the WAL stays under KKS_WAL_MAX plus one group transaction.
 * A bulk run at 400,000 credits/s writes about 50 MB of WAL a second: with
 * KKS_WAL_MAX at 64 MiB the writer stopped to copy and fsync more than once a
 * second of it. Replaces the writer's automatic checkpoints with a WAL hook.
 * Returns 0, KKS_ENOMEM or KKS_EDB. */
#define KKS_WAL_LIMIT (4 * 1024 * 1024)
#define KKS_WAL_STEP (32 * 1024 * 1024)
#define KKS_WAL_MAX (192 * 1024 * 1024)
typedef struct kks_checkpointer kks_checkpointer;
int kks_db_checkpointer_start(sqlite3 *writer, const char *path, unsigned interval_ms,
                              kks_checkpointer **out);
/* Stops the thread and frees it; NULL is a no-op. (Closing the writer, the
 * last connection, checkpoints and removes the WAL.) */
void kks_db_checkpointer_stop(kks_checkpointer *c);

#endif
