/* A log-linear latency histogram for the load and credit-run reports (the idea of HdrHistogram,
 * written small): exact below 256 ns, then 128 sub-buckets per power of two, so
 * that a bucket is never wider than 1/128 of its lower bound and any value read
 * back is within 0.8% of the values counted in its bucket.
 *
 * Bucket index of v (shift s = max(0, floor(log2 v) - 7)): s * 128 + (v >> s).
 * Buckets 0..255 hold one value each; bucket i >= 256 holds
 * [m << s, ((m + 1) << s) - 1] with s = i / 128 - 1 and m = i - s * 128.
 *
 * A histogram is a plain value: no allocation, copy it, merge it, zero it with
 * kr_hist_init. Not thread-safe: one a thread, merged at the end. */
#ifndef KR_HIST_H
#define KR_HIST_H

#include <stddef.h>
#include <stdint.h>

#define KR_HIST_SUB_BITS 7 /* 128 sub-buckets per power of two: relative error < 1% */
#define KR_HIST_MAX_NS (60ull * 1000000000ull) /* values above are counted at this value */
#define KR_HIST_RANGE_BITS 36                  /* 2^36 ns = 68.7 s > KR_HIST_MAX_NS */
/* Enough for 0 .. 2^36 - 1 ns: 256 exact buckets, then 128 for each power of two. */
#define KR_HIST_BUCKETS ((KR_HIST_RANGE_BITS - KR_HIST_SUB_BITS + 1) << KR_HIST_SUB_BITS)

typedef struct kr_hist {
    uint64_t counts[KR_HIST_BUCKETS];
    uint64_t total, min, max; /* min/max exact, ns; min is UINT64_MAX when empty */
    double sum;               /* ns, for the mean */
    uint64_t clamped;         /* values above KR_HIST_MAX_NS */
} kr_hist;

typedef struct kr_bucket {
    uint64_t lo, hi, count;
} kr_bucket; /* ns, inclusive */

/* An empty histogram. */
void kr_hist_init(kr_hist *h);

/* Counts one value. A value above KR_HIST_MAX_NS is counted in the bucket of
 * KR_HIST_MAX_NS (and in clamped); min, max and sum keep the value itself. */
void kr_hist_add(kr_hist *h, uint64_t ns);

/* Adds every count of from to into (from is unchanged). */
void kr_hist_merge(kr_hist *into, const kr_hist *from);

/* The value at quantile q in [0,1] (q=1: the exact max, q=0: the exact min); 0 when empty.
 * Within 1% of the true sample quantile (nearest-rank definition: the value of rank
 * ceil(q * total), counting from 1). Between 0 and 1, a value above KR_HIST_MAX_NS
 * counts as KR_HIST_MAX_NS, and the answer is never outside [min, max]. */
uint64_t kr_hist_quantile(const kr_hist *h, double q);

/* The non-empty buckets in order, at most cap; returns how many were written. */
size_t kr_hist_buckets(const kr_hist *h, kr_bucket *out, size_t cap);

#endif
