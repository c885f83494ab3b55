/* kksctl gen population (ctl/gen.c): the rows it streams, read back through the registry
 * rules the issuer applies at enrolment (kks_registry_parse, kks_registry_check_holder). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kks_csv.h"
#include "kks_registry.h"
#include "kks_seeds.h"

#define SEEDS KKS_SOURCE_DIR "/seeds"
#define GEN KKS_BIN_DIR "/kksctl gen population --seeds " SEEDS " "
#define TODAY "2026-01-01" /* the generator's holders are of KTP age from this day on */

static kks_seeds seeds;

static void load(void)
{
    char err[256];
    cr_assert_eq(kks_seeds_load(&seeds, SEEDS, err, sizeof err), 0, "%s", err);
}

TestSuite(gen, .init = load, .timeout = 300);

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The number of values that occur more than once in v[0..n), sorted in place. */
static size_t repeats(uint64_t *v, size_t n)
{
    size_t r = 0;
    qsort(v, n, sizeof *v, cmp_u64);
    for (size_t i = 1; i < n; i++)
        r += v[i] == v[i - 1];
    return r;
}

/* Everything one streamed extract says about itself. */
typedef struct extract {
    size_t rows;
    uint64_t *kk, *nik;
    size_t per_province[100];
    size_t per_city[10000];
} extract;

/* Runs `kksctl gen population ARGS` for n families and reads its stdout as the issuer reads an
 * extract: the header, then every row through the registry rules, which must all accept it. */
static void read_extract(const char *args, size_t n, extract *x)
{
    char cmd[1024], why[256];
    kks_csv csv;
    kks_family fam;
    FILE *f;
    int rc;
    memset(x, 0, sizeof *x);
    cr_assert_not_null(x->kk = malloc(n * sizeof *x->kk));
    cr_assert_not_null(x->nik = malloc(n * sizeof *x->nik));
    snprintf(cmd, sizeof cmd, GEN "%s", args);
    cr_assert_not_null(f = popen(cmd, "r"), "%s", cmd);
    cr_assert_eq(kks_csv_init(&csv, f, 0), 0);
    cr_assert_eq(kks_csv_next(&csv), 1);
    cr_assert(kks_csv_is(&csv, kks_registry_header, KKS_REG_NFIELDS), "header");
    while ((rc = kks_csv_next(&csv)) == 1) {
        why[0] = '\0';
        cr_assert_eq(kks_registry_parse(&seeds, (const char *const *)csv.fields, csv.nfields,
                                        &fam, why, sizeof why),
                     0, "%s: line %lu refused: %s", args, csv.line, why);
        cr_assert_eq(kks_registry_check_holder(&seeds, &fam, TODAY, why, sizeof why), 0,
                     "%s: line %lu refused: %s", args, csv.line, why);
        cr_assert_lt(x->rows, n, "%s: more than %zu rows", args, n);
        x->kk[x->rows] = strtoull(fam.kk, NULL, 10);
        x->nik[x->rows] = strtoull(fam.nik, NULL, 10);
        x->per_province[atoi(fam.city) / 100]++;
        x->per_city[atoi(fam.city)]++;
        x->rows++;
    }
    cr_assert_eq(rc, 0, "%s: %s", args, csv.errmsg);
    kks_csv_close(&csv);
    cr_assert_eq(pclose(f), 0, "%s: exit status", args);
    cr_assert_eq(x->rows, n, "%s: %zu rows, not %zu", args, x->rows, n);
}

static void extract_free(extract *x)
{
    free(x->kk);
    free(x->nik);
}

/* Without --city: every row passes enrolment, every province is drawn in proportion to its
 * population (province-population.csv), Medan's rows among them, and no KK or NIK repeats. */
Test(gen, a_national_extract_passes_the_registry_rules)
{
    enum { N = 300000 }; /* a whole number of province tables (10,000 rows each) */
    static extract x;
    uint64_t total = 0;
    read_extract("--families 300000 --seed 11", N, &x);
    for (int p = 0; p < 100; p++)
        total += seeds.province[p] ? seeds.province_pop[p] : 0;
    for (int p = 0; p < 100; p++) {
        if (!seeds.province[p]) {
            cr_assert_eq(x.per_province[p], 0, "rows in unknown province %02d", p);
            continue;
        }
        double got = (double)x.per_province[p] / N, want = (double)seeds.province_pop[p] / total;
        cr_assert_gt(x.per_province[p], 0, "province %02d never drawn", p);
        cr_assert_lt(got - want < 0 ? want - got : got - want, 1.5e-4,
                     "province %02d: share %.5f, population share %.5f", p, got, want);
    }
    /* the cities with kecamatan lists are drawn too, and checked against the lists above */
    cr_assert_gt(x.per_city[1271], 0);
    cr_assert_gt(x.per_city[3171], 0);
    cr_assert_eq(repeats(x.kk, N), 0, "repeated KKs");
    cr_assert_eq(repeats(x.nik, N), 0, "repeated NIKs");
    extract_free(&x);
}

/* --city keeps to the city, and its rows pass too. */
Test(gen, a_city_extract_keeps_to_its_city)
{
    static const char *const cities[] = {"1271", "3171", "3273"};
    static extract x;
    for (size_t i = 0; i < sizeof cities / sizeof cities[0]; i++) {
        char args[96];
        snprintf(args, sizeof args, "--families 20000 --seed 4 --city %s", cities[i]);
        read_extract(args, 20000, &x);
        cr_assert_eq(x.per_city[atoi(cities[i])], 20000, "%s", args);
        cr_assert_eq(repeats(x.kk, x.rows), 0, "%s: repeated KKs", args);
        cr_assert_eq(repeats(x.nik, x.rows), 0, "%s: repeated NIKs", args);
        extract_free(&x);
    }
}

/* The whole stdout of a command, or NULL. */
static char *run(const char *args, size_t *len)
{
    char cmd[1024];
    size_t cap = 1 << 20, n = 0, k;
    char *buf = malloc(cap);
    FILE *f;
    snprintf(cmd, sizeof cmd, GEN "%s", args);
    if (!buf || !(f = popen(cmd, "r")))
        return NULL;
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap && !(buf = realloc(buf, cap *= 2)))
            return NULL;
    }
    if (pclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* The same seed and size give the same bytes; another seed other bytes; fewer families the
 * first rows of more (each row depends on its number alone, so a stream can stop anywhere). */
Test(gen, output_depends_on_seed_and_size_alone)
{
    size_t a_len, b_len, c_len, d_len;
    char *a = run("--families 20000 --seed 3", &a_len);
    char *b = run("--families 20000 --seed 3", &b_len);
    char *c = run("--families 20000 --seed 4", &c_len);
    char *d = run("--families 5000 --seed 3", &d_len);
    cr_assert(a && b && c && d);
    cr_assert_eq(a_len, b_len);
    cr_assert_eq(memcmp(a, b, a_len), 0, "same seed, different bytes");
    cr_assert(c_len != a_len || memcmp(a, c, a_len) != 0, "another seed, the same bytes");
    cr_assert_lt(d_len, a_len);
    cr_assert_eq(memcmp(a, d, d_len), 0, "5000 families are not the first rows of 20000");
    free(a);
    free(b);
    free(c);
    free(d);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        if (f)
            fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The sample extracts in seeds/ are what the commands in seeds/README.md make, byte for byte. */
Test(gen, the_sample_extracts_are_reproduced)
{
    static const struct {
        const char *args, *file;
    } samples[] = {
        {"--families 240 --seed 2026 --city 1271 --sample", SEEDS "/dtsen-medan.csv"},
        {"--families 120 --seed 2026 --city 3171 --sample", SEEDS "/dtsen-jakarta-pusat.csv"},
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        size_t got_len, want_len;
        char *got = run(samples[i].args, &got_len), *want = slurp(samples[i].file, &want_len);
        cr_assert(got && want, "%s", samples[i].args);
        cr_assert_eq(got_len, want_len, "%s: %zu bytes, the file %zu", samples[i].args, got_len,
                     want_len);
        cr_assert_eq(memcmp(got, want, got_len), 0, "%s differs from %s", samples[i].args,
                     samples[i].file);
        free(got);
        free(want);
    }
}

/* A size whose KK serials or NIK sequences would need a fifth digit is refused before a row is
 * written, rather than repeating numbers: with holders born in two years only (a registry policy
 * asking for age 74), a city of 8 made-up kecamatan runs out of NIK sequences. */
Test(gen, a_size_past_the_four_digit_numbers_is_refused)
{
    char dir[] = "/tmp/kks-gen-XXXXXX", cmd[768], path[64];
    char *out, *err;
    size_t out_len, err_len;
    int rc;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "cp " SEEDS "/*.csv %s/ && printf 'key,value\\nholder_min_age,74\\ndecile_min,1\\n"
             "decile_max,4\\n' > %s/registry-policy.csv",
             dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             KKS_BIN_DIR "/kksctl gen population --seeds %s --city 1172 --families 100000000 "
                         "> %s/out.csv 2> %s/err.txt",
             dir, dir, dir);
    rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "exit status %d", rc);
    snprintf(path, sizeof path, "%s/out.csv", dir);
    cr_assert_not_null(out = slurp(path, &out_len));
    cr_assert_eq(out_len, 0, "rows written before the refusal");
    snprintf(path, sizeof path, "%s/err.txt", dir);
    cr_assert_not_null(err = slurp(path, &err_len));
    err[err_len] = '\0';
    cr_assert(strstr(err, "too many for the 4-digit NIK sequences and KK serials of province 11"),
              "%s", err);
    /* the same seeds make a smaller extract */
    snprintf(cmd, sizeof cmd,
             KKS_BIN_DIR "/kksctl gen population --seeds %s --city 1172 --families 1000 > "
                         "/dev/null",
             dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -r %s", dir);
    cr_assert_eq(system(cmd), 0);
    free(out);
    free(err);
}
