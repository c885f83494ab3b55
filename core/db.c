#include "kks_db.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ---- shims over the default VFS ----
 *
 * A shim's file is its sqlite3_file, the real file's pointer, its own state,
 * then the real file (szOsFile makes room for both). The calls a shim does
 * not change go straight to the real file. */

typedef struct shim_file {
    sqlite3_file base;
    sqlite3_file *real; /* allocated after the shim's own struct */
} shim_file;

#define REAL(f) (((shim_file *)(f))->real)

static int fwd_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int fwd_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int fwd_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int fwd_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int fwd_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int fwd_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int fwd_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static void fwd_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int fwd_lock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int fwd_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int fwd_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int fwd_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int fwd_device_characteristics(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int fwd_shm_map(sqlite3_file *f, int i, int sz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, extend, pp);
}

static int fwd_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static int fwd_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int fwd_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int fwd_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* ---- a WAL written once a commit ----
 *
 * SQLite writes each WAL frame with two pwrite calls, its 24-byte header and
 * then its page: a group commit of 26 authorisations (about 120 pages) cost
 * the event loop 240 system calls, ten an authorisation and most of its
 * system time. This shim gathers a WAL file's consecutive writes in a buffer
 * and writes them with one call (per WAL_GATHER_MAX) when a commit's last
 * frame is in: the frame
 * whose header carries the database's size, SQLite's mark of a commit frame.
 *
 * What SQLite sees does not change:
 *   - only appends are gathered (a write where the last one ended); a write
 *     elsewhere (a frame's checksum rewritten, the WAL started over) writes
 *     the buffer, then goes straight to the file;
 *   - every other use of the file (a read, its size, a sync, a truncation, a
 *     file control, closing) writes the buffer first;
 *   - a failed write fails the call that needed it: for the commit's last
 *     frame, the commit, which SQLite then rolls back with nothing published;
 *   - other connections (the checkpointer's thread) read a frame only once
 *     its commit is published in the shared index, and SQLite publishes it
 *     after the commit frame's write returned. Should a commit ever go
 *     unrecognised (a future SQLite writing a frame in one call), the
 *     database file's barrier before the publication writes the buffer, and
 *     a write that fails there stops the process before anything is
 *     published: no reply has gone out, and the restart recovers the WAL up
 *     to its last whole commit;
 *   - when the connection gives up its write lock (its transaction ended)
 *     what is still gathered belongs to no commit (rolled back, or its
 *     commit failed): it is dropped, never written over frames that another
 *     writer may have committed since, nor published later.
 * A database file is wrapped only for that barrier and that lock; other
 * files are the default VFS's own, untouched. */

/* the unix VFS writes at most 128 KiB - 1 bytes in one call (seekAndWriteFd):
 * 31 frames of 4 KiB pages */
#define WAL_GATHER_MAX (128 * 1024 - 1)
#define WAL_FRAME_HEADER 24
#define WAL_HEADER 32

typedef struct gather_file {
    sqlite3_file base;
    sqlite3_file *real;
    unsigned char *buf;     /* WAL_GATHER_MAX bytes, from the first write */
    size_t len;             /* bytes gathered */
    sqlite3_int64 at;       /* where buf[0] goes in the file */
    sqlite3_int64 end;      /* where the last write ended (-1: unknown) */
    int commit;             /* the last write was a commit frame's header */
    int failed;             /* the last attempt to write the buffer failed */
    struct gather_db *db;   /* the database file it is the WAL of */
} gather_file;

typedef struct gather_db {
    sqlite3_file base;
    sqlite3_file *real;
    gather_file *wal; /* open */
} gather_db;

static sqlite3_vfs *gather_real;
static sqlite3_vfs gather_vfs;

static int gather_flush(gather_file *g)
{
    int rc;
    if (!g->len)
        return SQLITE_OK;
    rc = g->real->pMethods->xWrite(g->real, g->buf, (int)g->len, g->at);
    if (rc == SQLITE_OK)
        g->len = 0;
    g->failed = rc != SQLITE_OK;
    return rc;
}

/* What is gathered belongs to no commit: gone. */
static void gather_drop(gather_file *g)
{
    if (g->len)
        g->end = -1;
    g->len = 0;
    g->commit = 0;
    g->failed = 0;
}

static int g_close(sqlite3_file *f)
{
    gather_file *g = (gather_file *)f;
    int rc = gather_flush(g), rc2 = g->real->pMethods->xClose(g->real);
    if (g->db)
        g->db->wal = NULL;
    free(g->buf);
    g->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int g_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    int rc = gather_flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int g_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    gather_file *g = (gather_file *)f;
    const unsigned char *b = p;
    int rc, ends_commit = g->commit, append = off == g->end;
    /* a frame header: page number, then the database's size in pages on a
     * commit frame, 0 on the others */
    g->commit = n == WAL_FRAME_HEADER && off >= WAL_HEADER && (b[4] | b[5] | b[6] | b[7]);
    if ((!append || g->len + (size_t)n > WAL_GATHER_MAX) && (rc = gather_flush(g)) != SQLITE_OK)
        return rc;
    if (!append || n <= 0 || n > WAL_GATHER_MAX ||
        (!g->buf && !(g->buf = malloc(WAL_GATHER_MAX)))) {
        rc = g->real->pMethods->xWrite(g->real, p, n, off);
        g->end = rc == SQLITE_OK ? off + n : -1;
        return rc;
    }
    if (!g->len)
        g->at = off;
    memcpy(g->buf + g->len, p, (size_t)n);
    g->len += (size_t)n;
    g->end = off + n;
    return ends_commit && !g->commit ? gather_flush(g) : SQLITE_OK;
}

static int g_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = gather_flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int g_sync(sqlite3_file *f, int flags)
{
    int rc = gather_flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int g_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = gather_flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int g_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = gather_flush((gather_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static const sqlite3_io_methods gather_io = {
    3,           g_close,         g_read,           g_write,
    g_truncate,  g_sync,          g_file_size,      fwd_lock,
    fwd_unlock,  fwd_check_reserved, g_file_control, fwd_sector_size,
    fwd_device_characteristics, fwd_shm_map, fwd_shm_lock, fwd_shm_barrier,
    fwd_shm_unmap, fwd_fetch,     fwd_unfetch,
};

/* the database file's side of the shared index, before SQLite publishes a
 * commit there: its WAL's frames are in the file first (but those of a
 * failed write: their commit cannot be published, its own write failed) */
static void gdb_shm_barrier(sqlite3_file *f)
{
    gather_db *d = (gather_db *)f;
    if (d->wal && d->wal->len && !d->wal->failed && gather_flush(d->wal) != SQLITE_OK) {
        kks_error("cannot write the WAL before publishing a commit: stopping");
        abort();
    }
    d->real->pMethods->xShmBarrier(d->real);
}

/* SQLite's WAL write lock is lock 0 of the shared index; released when the
 * connection's write transaction ends, committed or not */
#define WAL_WRITE_LOCK 0

static int gdb_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    gather_db *d = (gather_db *)f;
    if (d->wal && off == WAL_WRITE_LOCK && flags == (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE))
        gather_drop(d->wal);
    return d->real->pMethods->xShmLock(d->real, off, n, flags);
}

static const sqlite3_io_methods gather_db_io = {
    3,           fwd_close,       fwd_read,         fwd_write,
    fwd_truncate, fwd_sync,       fwd_file_size,    fwd_lock,
    fwd_unlock,  fwd_check_reserved, fwd_file_control, fwd_sector_size,
    fwd_device_characteristics, fwd_shm_map, gdb_shm_lock, gdb_shm_barrier,
    fwd_shm_unmap, fwd_fetch,     fwd_unfetch,
};

/* A statement journal kept in memory (SQLITE_CONFIG_STMTJRNL_SPILL, see
 * KKS_SUBJOURNAL_MEM) is made of chunks as large as the spill threshold, and
 * SQLite writes each chunk with one call when it spills to a file. The unix
 * VFS masks a write's length to 17 bits (seekAndWriteFd: 128 KiB - 1 at
 * most), so an 8 MiB chunk became a write of 0 bytes, which it reports as
 * SQLITE_FULL: any statement of a transaction that changed more than 8 MiB of
 * pages failed with "database or disk is full" (SQLite 3.40.1, Debian 12; a
 * 300,000-row UPDATE, a DROP TABLE of a large table). Such a file's writes
 * go down in pieces the VFS takes whole. */
#define SPLIT_WRITE_MAX (64 * 1024)

static int split_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    const unsigned char *b = p;
    while (n > 0) {
        int k = n < SPLIT_WRITE_MAX ? n : SPLIT_WRITE_MAX;
        int rc = REAL(f)->pMethods->xWrite(REAL(f), b, k, off);
        if (rc != SQLITE_OK)
            return rc;
        b += k;
        off += k;
        n -= k;
    }
    return SQLITE_OK;
}

static const sqlite3_io_methods split_io = {
    .iVersion = 1, .xClose = fwd_close, .xRead = fwd_read, .xWrite = split_write,
    .xTruncate = fwd_truncate, .xSync = fwd_sync, .xFileSize = fwd_file_size, .xLock = fwd_lock,
    .xUnlock = fwd_unlock, .xCheckReservedLock = fwd_check_reserved,
    .xFileControl = fwd_file_control, .xSectorSize = fwd_sector_size,
    .xDeviceCharacteristics = fwd_device_characteristics,
};

static int g_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    shim_file *sh = (shim_file *)f;
    int rc, wal = flags & SQLITE_OPEN_WAL, sub = flags & SQLITE_OPEN_SUBJOURNAL;
    (void)vfs;
    if (!wal && !sub && !(flags & SQLITE_OPEN_MAIN_DB)) /* the real file in our place */
        return gather_real->xOpen(gather_real, name, f, flags, out_flags);
    memset(f, 0, wal ? sizeof(gather_file) : sub ? sizeof(shim_file) : sizeof(gather_db));
    /* the real file after the largest of them (szOsFile) */
    sh->real = (sqlite3_file *)((gather_file *)f + 1);
    rc = gather_real->xOpen(gather_real, name, sh->real, flags, out_flags);
    if (rc != SQLITE_OK || !sh->real->pMethods) {
        f->pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    if (wal) {
        gather_file *g = (gather_file *)f;
        sqlite3_file *db = sqlite3_database_file_object(name);
        if (db && db->pMethods == &gather_db_io) {
            g->db = (gather_db *)db;
            g->db->wal = g;
        }
    }
    f->pMethods = wal ? &gather_io : sub ? &split_io : &gather_db_io;
    return SQLITE_OK;
}

/* Makes the WAL-gathering shim the default VFS; once, before any open. */
static void gather_register(void)
{
    gather_real = sqlite3_vfs_find(NULL);
    if (!gather_real)
        return;
    gather_vfs = *gather_real; /* the unix VFS ignores its vfs argument but for xOpen */
    gather_vfs.zName = "kks-wal-gather";
    gather_vfs.szOsFile = (int)sizeof(gather_file) + gather_real->szOsFile;
    gather_vfs.xOpen = g_open;
    if (sqlite3_vfs_register(&gather_vfs, 1) != SQLITE_OK)
        kks_warn("cannot gather WAL writes: the VFS was not registered");
}

#ifdef KKS_TEST_HOOKS
/* ---- test builds only: a disk that fills up ----
 *
 * KKS_TEST_DISK_FREE=N makes every database file of the process live on a
 * disk with N bytes free: a write that would grow the files by more than is
 * left fails with SQLITE_FULL, as ENOSPC does, and a truncation gives the
 * space back. In WAL mode this is where a real full disk bites: at COMMIT
 * (the WAL grows) and at checkpoints (the database file grows). A VFS shim
 * over the default VFS, registered as the default; its byte count is shared
 * by all connections (the checkpointer's thread too). */

typedef struct quota_file {
    sqlite3_file base;
    sqlite3_file *real; /* allocated right after this struct (shim_file) */
    sqlite3_int64 size; /* as far as writes and truncations have taken it */
} quota_file;

static sqlite3_vfs *quota_real;
static sqlite3_vfs quota_vfs;
static sqlite3_int64 quota_free;
static pthread_mutex_t quota_mu = PTHREAD_MUTEX_INITIALIZER;

static int q_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    quota_file *q = (quota_file *)f;
    sqlite3_int64 end = off + n;
    if (end > q->size) {
        int full;
        pthread_mutex_lock(&quota_mu);
        full = end - q->size > quota_free;
        if (!full)
            quota_free -= end - q->size;
        pthread_mutex_unlock(&quota_mu);
        if (full)
            return SQLITE_FULL;
        q->size = end;
    }
    return q->real->pMethods->xWrite(q->real, p, n, off);
}

static int q_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    quota_file *q = (quota_file *)f;
    if (size < q->size) {
        pthread_mutex_lock(&quota_mu);
        quota_free += q->size - size;
        pthread_mutex_unlock(&quota_mu);
        q->size = size;
    }
    return q->real->pMethods->xTruncate(q->real, size);
}

static int q_file_control(sqlite3_file *f, int op, void *arg)
{
    if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE)
        return SQLITE_OK; /* would grow the file behind the count's back */
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static const sqlite3_io_methods quota_io = {
    3,         fwd_close,       fwd_read,       q_write,       q_truncate,
    fwd_sync,  fwd_file_size,   fwd_lock,       fwd_unlock,    fwd_check_reserved,
    q_file_control, fwd_sector_size, fwd_device_characteristics, fwd_shm_map, fwd_shm_lock,
    fwd_shm_barrier, fwd_shm_unmap, fwd_fetch,  fwd_unfetch,
};

static int q_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    quota_file *q = (quota_file *)f;
    int rc;
    q->real = (sqlite3_file *)(q + 1);
    rc = quota_real->xOpen(quota_real, name, q->real, flags, out_flags);
    if (rc != SQLITE_OK || !q->real->pMethods) {
        f->pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    if (q->real->pMethods->xFileSize(q->real, &q->size) != SQLITE_OK)
        q->size = 0;
    f->pMethods = &quota_io;
    return SQLITE_OK;
}

/* Applies the test hooks named in the environment before a database is opened. */
static void test_hooks_before_open(void)
{
    const char *v = getenv("KKS_TEST_DISK_FREE");
    if (!v || !*v)
        return;
    if (!quota_real) {
        quota_real = sqlite3_vfs_find(NULL);
        quota_vfs = *quota_real; /* the unix VFS ignores its vfs argument but for xOpen */
        quota_vfs.zName = "kks-test-quota";
        quota_vfs.szOsFile = (int)sizeof(quota_file) + quota_real->szOsFile;
        quota_vfs.xOpen = q_open;
        sqlite3_vfs_register(&quota_vfs, 1);
    }
    pthread_mutex_lock(&quota_mu);
    quota_free = strtoll(v, NULL, 10);
    pthread_mutex_unlock(&quota_mu);
    kks_warn("test hook: the disk has a limited number of bytes free", "KKS_TEST_DISK_FREE", v);
}

/* KKS_TEST_MAX_PAGES=N: PRAGMA max_page_count on this connection (SQLite
 * never lowers it below the current size: 1 means "no more pages"). */
static int test_hooks_after_open(sqlite3 *db)
{
    const char *v = getenv("KKS_TEST_MAX_PAGES");
    char sql[64];
    if (!v || !*v)
        return 0;
    snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld", strtoll(v, NULL, 10));
    kks_warn("test hook: the database may not grow", "KKS_TEST_MAX_PAGES", v);
    return kks_db_exec(db, sql);
}
#else
static void test_hooks_before_open(void)
{
}

static int test_hooks_after_open(sqlite3 *db)
{
    return 0;
}
#endif

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

/* A lock held elsewhere (the checkpointer starting the WAL over takes the
 * writer's lock for a moment): retry every 100 us, for at most a second.
 * SQLite's own handler sleeps 1, 2, 5, 10, 15, 20 ms...: a 20 ms hold kept
 * the writer, and every terminal waiting on it, out for up to 53 ms. */
static int busy_wait(void *ud, int tries)
{
    (void)ud;
    if (tries >= 10000)
        return 0;
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
    return 1;
}

/* Savepoints' sub-journals stay in memory up to this size. Every
 * authorisation after the first of a group transaction runs in a savepoint,
 * and SQLite copies each page it changes into the sub-journal; past SQLite's
 * default of 64 KiB (about a dozen authorisations into a group) it spilled to
 * a temporary file, two write syscalls a page. A group of authorisations
 * stays well under this; a bulk batch is a transaction of its own, with no
 * savepoint. Unlike temp_store=MEMORY it leaves temporary tables and sorts
 * (the ledger check's GROUP BYs over every transfer) on disk. */
#define KKS_SUBJOURNAL_MEM (8 * 1024 * 1024)

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
        if (sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, KKS_SUBJOURNAL_MEM) != SQLITE_OK)
            kks_warn("cannot keep sub-journals in memory: SQLite was initialised first");
        if (kks_pcache_register() < 0)
            kks_warn("cannot skip empty page cache truncations: SQLite was initialised first");
    }
    /* after sqlite3_config (finding a VFS initialises SQLite); the test disk
     * below the WAL gathering, so that its failures reach the gathering */
    test_hooks_before_open();
    if (!configured) {
        gather_register();
        configured = 1;
    }
    /* The databases hold PANs, NIKs and names: made 0600 before SQLite opens
     * them (its -wal and -shm files take the main file's mode). */
    if (strcmp(path, ":memory:") != 0 && path[0]) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            kks_error("cannot open database", "file", path, "error", strerror(errno));
            return KKS_EINVAL;
        }
        close(fd);
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        kks_error("cannot open database", "file", path, "error",
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return KKS_EDB;
    }
    sqlite3_busy_handler(db, busy_wait, NULL); /* the event loop waits meanwhile */
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
    if (test_hooks_after_open(db) < 0)
        goto fail;
    *out = db;
    return 0;
fail:
    sqlite3_close(db);
    return KKS_EDB;
}

int kks_db_identity(sqlite3 *db, char out[33])
{
    sqlite3_stmt *st = NULL;
    const unsigned char *v;
    int ok = sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'identity'", -1, &st, NULL) ==
                 SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW && (v = sqlite3_column_text(st, 0)) &&
             sqlite3_column_bytes(st, 0) == 32;
    if (ok)
        memcpy(out, v, 33);
    else
        kks_error("the database has no identity", "error", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok ? 0 : KKS_EDB;
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
    int stop, wake;
    unsigned interval_ms;
    int64_t frame_bytes; /* a WAL frame: page + 24-byte header */
    int warned;
    int64_t woken_at; /* WAL bytes when the writer last woke the thread */
    _Atomic int64_t commits; /* the writer's commits so far */
    int64_t commits_seen;    /* ... when the thread last looked */
    int64_t commit_seen_at;  /* when it last saw them change (now_ms) */
    char *wal_path;   /* the WAL file, whose size the WAL header does not tell */
    int dbfd;         /* the database file, for fdatasync (see checkpoint_once) */
    int copied_synced; /* frames copied when the thread last synced the database */
    sqlite3 *db;      /* the thread's own connection */
    sqlite3 *writer;  /* the event loop's, whose commits wake the thread */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One round: copy what the WAL holds into the database without waiting for
 * anyone (PASSIVE: the writer goes on meanwhile; the copy and its fsyncs
 * happen here, not in the event loop). A PASSIVE checkpoint never makes the
 * WAL file smaller, and the writer only starts it over when a transaction of
 * its own begins after everything was copied, which under load (commits back
 * to back) hardly ever happens. So, when all is copied and the WAL is over
 * the limit:
 *   - once the writer has made no commit for a whole round's interval, a
 *     TRUNCATE checkpoint empties the file;
 *   - if the writer made no commit while this round copied, a RESTART makes
 *     its next transaction start the WAL over: nothing is left to copy, so it
 *     holds the writer's lock for no copy and no fsync;
 *   - otherwise nothing: a RESTART would copy the writer's latest commits and
 *     fsync the WAL and the database under the writer's lock, and the event
 *     loop waited for it (10 to 40 ms here) every round or two under load:
 *     p90 of the authorisation latency went from 4-5 ms to 26-33 ms. Under
 *     load the WAL starts over at KKS_WAL_MAX instead (on_wal_commit).
 * Both need the writer's lock: with no busy handler they take it only when
 * the writer is between transactions, and are tried again next round
 * otherwise. For TRUNCATE the file, not the frames in use, is measured:
 * after the writer started the WAL over, the file keeps its length
 * (journal_size_limit is twice KKS_WAL_MAX, see kks_db_checkpointer_start) with few
 * frames in use. */
static void checkpoint_once(kks_checkpointer *c)
{
    int log = -1, copied = -1;
    struct stat st;
    int64_t before = atomic_load(&c->commits);
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        if (!c->warned++)
            kks_warn("checkpoint failed; the WAL grows until it works", "error",
                     sqlite3_errmsg(c->db));
        return;
    }
    c->warned = 0;
    /* SQLite syncs the database file only after a round that copied up to
     * the end of the WAL, which under load (commits while it copies) hardly
     * any does: the file then gathered every page copied since, and the
     * writer's own round at KKS_WAL_MAX, which does reach the end, synced
     * them all in the event loop (fdatasync took 50 ms there). Synced here
     * after each such round, that fdatasync is left with the writer's copy. */
    if (rc == SQLITE_OK && copied > 0 && copied < log && copied != c->copied_synced &&
        fdatasync(c->dbfd) == 0)
        c->copied_synced = copied;
    else if (copied == log)
        c->copied_synced = 0;
    int64_t commits = atomic_load(&c->commits), now = now_ms();
    if (commits != c->commits_seen) {
        c->commits_seen = commits;
        c->commit_seen_at = now;
    }
    /* no commit for a whole round's interval: rounds woken by the writer's
     * commits (near KKS_WAL_MAX, after each) can follow each other closer
     * than its commits, and one of them took a busy writer for idle */
    int idle = now - c->commit_seen_at >= (int64_t)c->interval_ms;
    if (rc != SQLITE_OK || log < 0 || copied != log)
        return;
    if (idle && (log * c->frame_bytes > KKS_WAL_LIMIT ||
                 (stat(c->wal_path, &st) == 0 && st.st_size > KKS_WAL_LIMIT)))
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    else if (commits == before && log * c->frame_bytes > KKS_WAL_LIMIT)
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
}

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
        while (!c->wake && !c->stop && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
            ;
        c->wake = 0;
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        checkpoint_once(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* After each of the writer's commits (in the event loop, the write lock
 * released). Over KKS_WAL_LIMIT the thread is woken at once rather than at
 * its next round whenever another KKS_WAL_STEP has been written since it was
 * last woken, so that it stays close behind the writer in rounds large
 * enough to be worth their two fsyncs (woken at every commit of a bulk run,
 * it did a round per 16,384-row batch), and after every commit once within
 * KKS_WAL_STEP of KKS_WAL_MAX. Over KKS_WAL_MAX the writer copies,
 * itself, what the thread has not yet: a few batches, as a rule, and then its
 * next transaction starts the WAL over (SQLite does so when it begins with
 * everything copied; the file is reused from its start, up to
 * journal_size_limit). Under a load that never leaves the writer idle that
 * is the only way the WAL can start over: it costs the loop that copy and
 * its fsyncs once every KKS_WAL_MAX bytes written. */
static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int frames)
{
    kks_checkpointer *c = ud;
    int64_t bytes = frames * c->frame_bytes;
    atomic_fetch_add_explicit(&c->commits, 1, memory_order_relaxed);
    if (bytes > KKS_WAL_MAX) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        c->woken_at = 0;
    } else if (bytes < c->woken_at) {
        c->woken_at = 0; /* the WAL started over */
    } else if (bytes > KKS_WAL_LIMIT &&
               (bytes - c->woken_at >= KKS_WAL_STEP || bytes > KKS_WAL_MAX - KKS_WAL_STEP)) {
        /* near the cap, after every commit: the writer's copy is then small */
        c->woken_at = bytes;
        pthread_mutex_lock(&c->mu);
        c->wake = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

int kks_db_checkpointer_start(sqlite3 *writer, const char *path, unsigned interval_ms,
                              kks_checkpointer **out)
{
    kks_checkpointer *c = calloc(1, sizeof *c);
    sqlite3_stmt *st = NULL;
    char limit[64];
    *out = NULL;
    if (!c)
        return KKS_ENOMEM;
    c->dbfd = -1;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        kks_error("checkpointer cannot open the database", "file", path);
        goto fail;
    }
    /* Never waits for the writer: see checkpoint_once. A connection learns
     * that the database is in WAL mode, and opens the WAL, only when it first
     * reads; until then sqlite3_wal_checkpoint_v2 does nothing and says
     * SQLITE_OK (it did so here for every round: switch.db stayed at 4 KiB
     * while a 165k-credit run left 14 MB of WAL). So read, and check the mode. */
    sqlite3_busy_timeout(c->db, 0);
    if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        kks_error("checkpointer cannot read the database", "file", path, "error",
                  sqlite3_errmsg(c->db));
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        kks_error("checkpointer: the database is not in WAL mode", "file", path);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        kks_error("checkpointer cannot read the database", "file", path, "error",
                  sqlite3_errmsg(c->db));
        goto fail;
    }
    c->frame_bytes = sqlite3_column_int64(st, 0) + 24;
    sqlite3_finalize(st);
    st = NULL;
    /* After the writer starts the WAL over, its next commit would cut the
     * file back to journal_size_limit: at KKS_WAL_LIMIT that cost the event
     * loop an ftruncate of a 64 MiB file (tens of ms) each time. The file is
     * reused from its start instead, and emptied when the writer is idle
     * (checkpoint_once). The limit is twice KKS_WAL_MAX: the file passes
     * KKS_WAL_MAX by the commits made before the writer's own copy, and
     * cutting it back to KKS_WAL_MAX cost the loop another 5-7 ms ftruncate
     * every time the WAL started over (perf trace). */
    if (!(c->wal_path = sqlite3_mprintf("%s-wal", path)))
        goto fail;
    if ((c->dbfd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        kks_error("checkpointer cannot open the database", "file", path, "error", strerror(errno));
        goto fail;
    }
    snprintf(limit, sizeof limit, "PRAGMA journal_size_limit=%lld", (long long)2 * KKS_WAL_MAX);
    if (kks_db_exec(writer, limit) < 0)
        goto fail;
    c->interval_ms = interval_ms;
    c->writer = writer;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, checkpoint_main, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        close(c->dbfd);
        sqlite3_close(c->db);
        sqlite3_free(c->wal_path);
        free(c);
        return KKS_ENOMEM;
    }
    sqlite3_wal_autocheckpoint(writer, 0); /* removes SQLite's own WAL hook: before ours */
    sqlite3_wal_hook(writer, on_wal_commit, c);
    *out = c;
    return 0;
fail:
    sqlite3_finalize(st);
    if (c->dbfd >= 0)
        close(c->dbfd);
    sqlite3_close(c->db);
    sqlite3_free(c->wal_path);
    free(c);
    return KKS_EDB;
}

void kks_db_checkpointer_stop(kks_checkpointer *c)
{
    if (!c)
        return;
    sqlite3_wal_hook(c->writer, NULL, NULL);
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    close(c->dbfd);
    sqlite3_close(c->db);
    sqlite3_free(c->wal_path);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
