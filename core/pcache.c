/* A thin layer over SQLite's own page cache (kks_pcache_register, see
 * kks_db.h) that skips the cache truncation SQLite asks for at the end of
 * every transaction when no page could be dropped by it.
 *
 * Why: when a b-tree split leaves new pages out of order, SQLite renumbers
 * them through a temporary page number, the pending-byte page (262,145 with
 * 4 KiB pages). Its default cache then believes a page that high may exist,
 * and the truncation to the database's size at the commit walks every slot
 * of its hash table (16,384 for the switch's cache of 64 MiB then, with a division
 * a slot) to drop pages that are not there. Under the authorisation load
 * almost every commit made such a split: the walk was a tenth of the
 * switch's event loop in the open model (perf, 7,800 requests/s).
 *
 * This layer keeps its own bound on the pages of each cache: a page number
 * no ordinary page exceeds (max), plus a few numbers pages were moved to
 * above it (high[]), forgotten when the page is moved away again. When the
 * truncation's limit is above all of them, nothing would be dropped and the
 * call is skipped; otherwise it goes through and the bound comes down. The
 * bound may be larger than the truth (a page the cache evicted or discarded
 * is not seen here), never smaller, so a needed truncation always happens. */
#include "kks_db.h"

#include <stdatomic.h>
#include <string.h>

#define HIGH_MAX 8

typedef struct wcache {
    sqlite3_pcache *inner;
    unsigned max;            /* every page's number is at most this, or in high[] */
    unsigned high[HIGH_MAX]; /* numbers pages were moved to above max */
    int nhigh;
} wcache;

static sqlite3_pcache_methods2 inner;
static atomic_ullong truncations_skipped, truncations_done; /* all caches */

static int w_init(void *arg)
{
    (void)arg;
    return inner.xInit ? inner.xInit(inner.pArg) : SQLITE_OK;
}

static void w_shutdown(void *arg)
{
    (void)arg;
    if (inner.xShutdown)
        inner.xShutdown(inner.pArg);
}

static sqlite3_pcache *w_create(int size, int extra, int purgeable)
{
    wcache *c = sqlite3_malloc((int)sizeof *c);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    if (!(c->inner = inner.xCreate(size, extra, purgeable))) {
        sqlite3_free(c);
        return NULL;
    }
    return (sqlite3_pcache *)c;
}

static void w_cachesize(sqlite3_pcache *p, int n)
{
    inner.xCachesize(((wcache *)p)->inner, n);
}

static int w_pagecount(sqlite3_pcache *p)
{
    return inner.xPagecount(((wcache *)p)->inner);
}

static int high_find(const wcache *c, unsigned key)
{
    for (int i = 0; i < c->nhigh; i++)
        if (c->high[i] == key)
            return i;
    return -1;
}

static sqlite3_pcache_page *w_fetch(sqlite3_pcache *p, unsigned key, int create)
{
    wcache *c = (wcache *)p;
    sqlite3_pcache_page *pg = inner.xFetch(c->inner, key, create);
    if (pg && key > c->max && high_find(c, key) < 0)
        c->max = key;
    return pg;
}

static void w_unpin(sqlite3_pcache *p, sqlite3_pcache_page *pg, int discard)
{
    inner.xUnpin(((wcache *)p)->inner, pg, discard);
}

static void w_rekey(sqlite3_pcache *p, sqlite3_pcache_page *pg, unsigned from, unsigned to)
{
    wcache *c = (wcache *)p;
    int i = high_find(c, from);
    inner.xRekey(c->inner, pg, from, to);
    if (i >= 0) /* page numbers are unique in a cache: none is at from now */
        c->high[i] = c->high[--c->nhigh];
    if (to <= c->max || high_find(c, to) >= 0)
        return;
    if (c->nhigh < HIGH_MAX)
        c->high[c->nhigh++] = to;
    else
        c->max = to;
}

static void w_truncate(sqlite3_pcache *p, unsigned limit)
{
    wcache *c = (wcache *)p;
    int any = limit <= c->max;
    for (int i = 0; i < c->nhigh && !any; i++)
        any = c->high[i] >= limit;
    if (!any) {
        atomic_fetch_add_explicit(&truncations_skipped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&truncations_done, 1, memory_order_relaxed);
    inner.xTruncate(c->inner, limit);
    if (limit == 0) {
        c->max = 0;
        c->nhigh = 0;
        return;
    }
    if (c->max > limit - 1)
        c->max = limit - 1;
    for (int i = 0; i < c->nhigh;)
        if (c->high[i] >= limit)
            c->high[i] = c->high[--c->nhigh];
        else
            i++;
}

static void w_destroy(sqlite3_pcache *p)
{
    wcache *c = (wcache *)p;
    inner.xDestroy(c->inner);
    sqlite3_free(c);
}

static void w_shrink(sqlite3_pcache *p)
{
    inner.xShrink(((wcache *)p)->inner);
}

int kks_pcache_register(void)
{
    static sqlite3_pcache_methods2 outer;
    if (inner.xCreate)
        return 0;
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &inner) != SQLITE_OK || !inner.xCreate) {
        memset(&inner, 0, sizeof inner);
        return -1;
    }
    outer = (sqlite3_pcache_methods2){
        .iVersion = 1,
        .xInit = w_init,
        .xShutdown = w_shutdown,
        .xCreate = w_create,
        .xCachesize = w_cachesize,
        .xPagecount = w_pagecount,
        .xFetch = w_fetch,
        .xUnpin = w_unpin,
        .xRekey = w_rekey,
        .xTruncate = w_truncate,
        .xDestroy = w_destroy,
        .xShrink = w_shrink,
    };
    if (sqlite3_config(SQLITE_CONFIG_PCACHE2, &outer) != SQLITE_OK) {
        memset(&inner, 0, sizeof inner);
        return -1;
    }
    return 0;
}

void kks_pcache_stats(unsigned long long *skipped, unsigned long long *done)
{
    *skipped = atomic_load_explicit(&truncations_skipped, memory_order_relaxed);
    *done = atomic_load_explicit(&truncations_done, memory_order_relaxed);
}
