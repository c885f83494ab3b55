/* ewarong/load/hdr: against sorted arrays of samples, every quantile read back is
 * within 1% of the nearest-rank sample quantile; merging equals adding all; the
 * buckets tile 0 .. 2^36 - 1 without a gap or an overlap. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kr_hist.h"

static const double QS[] = {0, .5, .9, .99, .999, .9999, 1};
#define NQ (sizeof QS / sizeof QS[0])

/* splitmix64: the same samples on every run */
static uint64_t rnd_state = 0x4b4b53;
static uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double unit(void) /* (0, 1) */
{
    return ((double)(rnd() >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void) /* Box-Muller */
{
    return sqrt(-2 * log(unit())) * cos(2 * M_PI * unit());
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank quantile of sorted samples as kr_hist_quantile defines it:
 * q=0 and q=1 are the exact ends; in between the value of rank ceil(q n), seen as
 * KR_HIST_MAX_NS when above it, and kept within [min, max]. */
static uint64_t reference(const uint64_t *s, size_t n, double q)
{
    if (q <= 0)
        return s[0];
    if (q >= 1)
        return s[n - 1];
    double r = ceil(q * (double)n);
    size_t rank = r < 1 ? 1 : r > (double)n ? n : (size_t)r;
    uint64_t v = s[rank - 1] > KR_HIST_MAX_NS ? KR_HIST_MAX_NS : s[rank - 1];
    return v < s[0] ? s[0] : v;
}

/* Adds the samples, then checks every quantile and the exact fields. */
static void check(const char *name, uint64_t *s, size_t n)
{
    kr_hist *h = malloc(sizeof *h);
    cr_assert_not_null(h);
    kr_hist_init(h);
    double sum = 0;
    uint64_t clamped = 0;
    for (size_t i = 0; i < n; i++) {
        kr_hist_add(h, s[i]);
        sum += (double)s[i];
        clamped += s[i] > KR_HIST_MAX_NS;
    }
    qsort(s, n, sizeof *s, cmp_u64);
    cr_assert_eq(h->total, n, "%s", name);
    cr_assert_eq(h->min, s[0], "%s", name);
    cr_assert_eq(h->max, s[n - 1], "%s", name);
    cr_assert_eq(h->clamped, clamped, "%s", name);
    cr_assert(fabs(h->sum - sum) <= 1e-9 * sum, "%s: sum %f, want %f", name, h->sum, sum);
    for (size_t k = 0; k < NQ; k++) {
        uint64_t want = reference(s, n, QS[k]), got = kr_hist_quantile(h, QS[k]);
        uint64_t diff = got > want ? got - want : want - got;
        cr_assert(diff <= want / 100, "%s: q=%g gives %llu, the samples %llu", name, QS[k],
                  (unsigned long long)got, (unsigned long long)want);
    }
    free(h);
}

#define N 200000
static uint64_t samples[N];

Test(hdr, uniform)
{
    for (size_t i = 0; i < N; i++)
        samples[i] = rnd() % 10000001; /* 0 .. 10 ms */
    check("uniform", samples, N);
}

Test(hdr, log_normal)
{
    for (size_t i = 0; i < N; i++)
        samples[i] = (uint64_t)exp(log(2e6) + 1.2 * normal()); /* median 2 ms */
    check("log-normal", samples, N);
}

Test(hdr, bimodal)
{
    for (size_t i = 0; i < N; i++) {
        double mode = i % 10 == 3 ? 250e6 : 800e3; /* 10% at 250 ms, the rest at 0.8 ms */
        samples[i] = (uint64_t)(mode * (1 + 0.1 * normal()));
    }
    check("bimodal", samples, N);
}

Test(hdr, small_exact_values)
{
    for (size_t i = 0; i < N; i++)
        samples[i] = rnd() % 300; /* the exact buckets and the first shifted ones */
    check("small", samples, N);
}

Test(hdr, single_value_and_one_sample)
{
    for (size_t i = 0; i < 1000; i++)
        samples[i] = 1234567;
    check("single value", samples, 1000);
    samples[0] = 987654321;
    check("one sample", samples, 1);
}

Test(hdr, zero_ns)
{
    memset(samples, 0, 1000 * sizeof samples[0]);
    check("all zero", samples, 1000);
    for (size_t i = 0; i < 1000; i++)
        samples[i] = i % 4 ? 0 : 5000 + i;
    check("zeros and some", samples, 1000);
}

Test(hdr, huge_values_above_the_max)
{
    for (size_t i = 0; i < N; i++)
        samples[i] = i % 20 == 7 ? KR_HIST_MAX_NS + 1 + rnd() % 1000000000000000ull
                                 : (uint64_t)(5e6 * unit());
    check("5% above the max", samples, N);
    for (size_t i = 0; i < 50; i++)
        samples[i] = UINT64_MAX - i * 1000000000000ull;
    check("all above the max", samples, 50);
    samples[0] = UINT64_MAX;
    check("one at UINT64_MAX", samples, 1);
}

Test(hdr, empty)
{
    kr_hist h;
    kr_hist_init(&h);
    cr_assert_eq(h.min, UINT64_MAX);
    for (size_t k = 0; k < NQ; k++)
        cr_assert_eq(kr_hist_quantile(&h, QS[k]), 0);
    kr_bucket b;
    cr_assert_eq(kr_hist_buckets(&h, &b, 1), 0);
}

Test(hdr, merge_equals_all_samples)
{
    kr_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b), *all = malloc(sizeof *all);
    kr_hist_init(a);
    kr_hist_init(b);
    kr_hist_init(all);
    for (size_t i = 0; i < N; i++) {
        uint64_t v = i % 1000 == 0 ? KR_HIST_MAX_NS * 2 : (uint64_t)exp(log(1e6) + normal());
        kr_hist_add(i < N / 3 ? a : b, v);
        kr_hist_add(all, v);
    }
    kr_hist empty;
    kr_hist_init(&empty);
    kr_hist_merge(a, &empty); /* merging an empty one changes nothing */
    kr_hist_merge(a, b);
    cr_assert_eq(memcmp(a->counts, all->counts, sizeof a->counts), 0);
    cr_assert_eq(a->total, all->total);
    cr_assert_eq(a->min, all->min);
    cr_assert_eq(a->max, all->max);
    cr_assert_eq(a->clamped, all->clamped);
    cr_assert(fabs(a->sum - all->sum) <= 1e-9 * all->sum);
    for (size_t k = 0; k < NQ; k++)
        cr_assert_eq(kr_hist_quantile(a, QS[k]), kr_hist_quantile(all, QS[k]));
    kr_hist_init(&empty);
    kr_hist_merge(&empty, all); /* into an empty one: a copy */
    cr_assert_eq(memcmp(&empty, all, sizeof empty), 0);
    free(a);
    free(b);
    free(all);
}

Test(hdr, buckets_tile_without_gaps)
{
    kr_hist *h = malloc(sizeof *h);
    kr_bucket *out = malloc(KR_HIST_BUCKETS * sizeof *out);
    kr_hist_init(h);
    /* steps smaller than the narrowest bucket at each size: every bucket is hit */
    uint64_t added = 0;
    for (uint64_t v = 0; v < 1ull << KR_HIST_RANGE_BITS; v += v / 256 + 1) {
        if (v > KR_HIST_MAX_NS)
            break;
        kr_hist_add(h, v);
        added++;
    }
    size_t n = kr_hist_buckets(h, out, KR_HIST_BUCKETS);
    cr_assert_gt(n, 3700);
    cr_assert_eq(out[0].lo, 0);
    uint64_t counted = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(out[i].lo, out[i].hi);
        cr_assert_gt(out[i].count, 0);
        if (i > 0)
            cr_assert_eq(out[i].lo, out[i - 1].hi + 1, "gap or overlap at bucket %zu", i);
        /* never wider than 1/128 of where it starts */
        cr_assert_leq((out[i].hi - out[i].lo) * 128, out[i].lo, "bucket %zu", i);
        counted += out[i].count;
    }
    cr_assert_eq(counted, added);
    cr_assert_geq(out[n - 1].hi, KR_HIST_MAX_NS);
    cr_assert_eq(kr_hist_buckets(h, out, 10), 10, "cap is respected");
    free(out);
    free(h);
}

Test(hdr, the_bucket_of_a_value_holds_it)
{
    kr_hist h;
    for (int i = 0; i < 20000; i++) {
        uint64_t v = rnd() >> (rnd() % 64);
        kr_hist_init(&h);
        kr_hist_add(&h, v);
        kr_bucket b[2];
        cr_assert_eq(kr_hist_buckets(&h, b, 2), 1);
        uint64_t in = v > KR_HIST_MAX_NS ? KR_HIST_MAX_NS : v;
        cr_assert(b[0].lo <= in && in <= b[0].hi, "%llu not in [%llu, %llu]",
                  (unsigned long long)in, (unsigned long long)b[0].lo, (unsigned long long)b[0].hi);
    }
}
