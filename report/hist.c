#include "kr_hist.h"

#include <math.h>
#include <string.h>

#define SUB (1u << KR_HIST_SUB_BITS)

_Static_assert(KR_HIST_MAX_NS < (1ull << KR_HIST_RANGE_BITS), "KR_HIST_MAX_NS beyond the buckets");

/* The bucket of v (v < 2^KR_HIST_RANGE_BITS): or-ing in 2*SUB-1 makes the shift 0
 * for the exact range without a branch. */
static inline size_t bucket_of(uint64_t v)
{
    unsigned s = (unsigned)(63 - __builtin_clzll(v | (2 * SUB - 1))) - KR_HIST_SUB_BITS;
    return ((size_t)s << KR_HIST_SUB_BITS) + (size_t)(v >> s);
}

static uint64_t bucket_lo(size_t i)
{
    if (i < 2 * SUB)
        return i;
    unsigned s = (unsigned)(i >> KR_HIST_SUB_BITS) - 1;
    return (uint64_t)(i - ((size_t)s << KR_HIST_SUB_BITS)) << s;
}

static uint64_t bucket_hi(size_t i)
{
    if (i < 2 * SUB)
        return i;
    unsigned s = (unsigned)(i >> KR_HIST_SUB_BITS) - 1;
    return bucket_lo(i) + (1ull << s) - 1;
}

void kr_hist_init(kr_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

void kr_hist_add(kr_hist *h, uint64_t ns)
{
    uint64_t v = ns;
    if (v > KR_HIST_MAX_NS) {
        v = KR_HIST_MAX_NS;
        h->clamped++;
    }
    h->counts[bucket_of(v)]++;
    h->total++;
    h->sum += (double)ns;
    if (ns < h->min)
        h->min = ns;
    if (ns > h->max)
        h->max = ns;
}

void kr_hist_merge(kr_hist *into, const kr_hist *from)
{
    for (size_t i = 0; i < KR_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->total += from->total;
    into->sum += from->sum;
    into->clamped += from->clamped;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t kr_hist_quantile(const kr_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    if (!(q > 0)) /* also NaN */
        return h->min;
    if (q >= 1)
        return h->max;
    double r = ceil(q * (double)h->total);
    uint64_t rank = r < 1 ? 1 : r >= (double)h->total ? h->total : (uint64_t)r;
    uint64_t seen = 0;
    size_t i = 0;
    for (; i < KR_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            break;
    }
    /* The bucket's highest value, as HdrHistogram reports: every value of the
     * bucket is within 1/128 of it, the true one included. */
    uint64_t v = i < KR_HIST_BUCKETS ? bucket_hi(i) : h->max;
    if (v > h->max)
        v = h->max;
    if (v < h->min)
        v = h->min;
    return v;
}

size_t kr_hist_buckets(const kr_hist *h, kr_bucket *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < KR_HIST_BUCKETS && n < cap; i++) {
        if (h->counts[i] == 0)
            continue;
        out[n++] = (kr_bucket){bucket_lo(i), bucket_hi(i), h->counts[i]};
    }
    return n;
}
