/* A log-linear latency histogram for kks-terminal load (the idea of HdrHistogram,
 * written small): exact below 256 ns, then 128 sub-buckets per power of two, so
 * that a bucket is never wider than 1/128 of its lower bound and any value read
 * back is within 0.8% of the values counted in its bucket.
 *
 * Bucket index of v (shift s = max(0, floor(log2 v) - 7)): s * 128 + (v >> s).
 * Buckets 0..255 hold one value each; bucket i >= 256 holds
 * [m << s, ((m + 1) << s) - 1] with s = i / 128 - 1 and m = i - s * 128.
 *
 * A histogram is a plain value: no allocation, copy it, merge it, zero it with
 * kl_hist_init. Not thread-safe: one a thread, merged at the end. */
#ifndef KKS_LOAD_HDR_H
#define KKS_LOAD_HDR_H

#include <stddef.h>
#include <stdint.h>

#define KL_HIST_SUB_BITS 7 /* 128 sub-buckets per power of two: relative error < 1% */
#define KL_HIST_MAX_NS (60ull * 1000000000ull) /* values above are counted at this value */
#define KL_HIST_RANGE_BITS 36                  /* 2^36 ns = 68.7 s > KL_HIST_MAX_NS */
/* Enough for 0 .. 2^36 - 1 ns: 256 exact buckets, then 128 for each power of two. */
#define KL_HIST_BUCKETS ((KL_HIST_RANGE_BITS - KL_HIST_SUB_BITS + 1) << KL_HIST_SUB_BITS)

typedef struct kl_hist {
    uint64_t counts[KL_HIST_BUCKETS];
    uint64_t total, min, max; /* min/max exact, ns; min is UINT64_MAX when empty */
    double sum;               /* ns, for the mean */
    uint64_t clamped;         /* values above KL_HIST_MAX_NS */
} kl_hist;

typedef struct kl_bucket {
    uint64_t lo, hi, count;
} kl_bucket; /* ns, inclusive */

/* An empty histogram. */
void kl_hist_init(kl_hist *h);

/* Counts one value. A value above KL_HIST_MAX_NS is counted in the bucket of
 * KL_HIST_MAX_NS (and in clamped); min, max and sum keep the value itself. */
void kl_hist_add(kl_hist *h, uint64_t ns);

/* Adds every count of from to into (from is unchanged). */
void kl_hist_merge(kl_hist *into, const kl_hist *from);

/* The value at quantile q in [0,1] (q=1: the exact max, q=0: the exact min); 0 when empty.
 * Within 1% of the true sample quantile (nearest-rank definition: the value of rank
 * ceil(q * total), counting from 1). Between 0 and 1, a value above KL_HIST_MAX_NS
 * counts as KL_HIST_MAX_NS, and the answer is never outside [min, max]. */
uint64_t kl_hist_quantile(const kl_hist *h, double q);

/* The non-empty buckets in order, at most cap; returns how many were written. */
size_t kl_hist_buckets(const kl_hist *h, kl_bucket *out, size_t cap);

#endif
