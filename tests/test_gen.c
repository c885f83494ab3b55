/* kksctl gen population (ctl/gen.c): the rows it streams, read back through the registry
 * rules the issuer applies at enrolment (kks_registry_parse, kks_registry_check_holder). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "kks_csv.h"
#include "kks_registry.h"
#include "kks_seeds.h"

#define SEEDS KKS_SOURCE_DIR "/seeds"
#define KKSCTL KKS_BIN_DIR "/kksctl"
#define TODAY "2026-01-01" /* the generator's holders are of KTP age from this day on */

/* Starts kksctl with argv[0] and the words of args appended (args has no
 * quoting: words split at spaces), stdout to a pipe (*out) or to the file
 * out_path, stderr to err_path (NULL: inherited). Returns the pid. */
static pid_t spawn_ctl(const char *const *pre, const char *args, FILE **out, const char *out_path,
                       const char *err_path)
{
    static char words[1024];
    char *argv[64];
    int n = 0, fds[2] = {-1, -1};
    pid_t pid;
    posix_spawn_file_actions_t fa;
    argv[n++] = KKSCTL;
    for (int i = 0; pre[i]; i++)
        argv[n++] = (char *)pre[i];
    snprintf(words, sizeof words, "%s", args);
    for (char *w = strtok(words, " "); w && n < 63; w = strtok(NULL, " "))
        argv[n++] = w;
    argv[n] = NULL;
    cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
    if (out) {
        cr_assert_eq(pipe(fds), 0);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_addclose(&fa, fds[0]);
        posix_spawn_file_actions_addclose(&fa, fds[1]);
    } else
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (err_path)
        posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_eq(posix_spawn(&pid, KKSCTL, &fa, NULL, argv, environ), 0, "cannot start kksctl");
    posix_spawn_file_actions_destroy(&fa);
    if (out) {
        close(fds[1]);
        cr_assert_not_null(*out = fdopen(fds[0], "r"));
    }
    return pid;
}

/* kksctl gen population with the source tree's seeds and args, stdout to a pipe. */
static pid_t gen_pipe(const char *args, FILE **out)
{
    static const char *const pre[] = {"gen", "population", "--seeds", SEEDS, NULL};
    return spawn_ctl(pre, args, out, NULL, NULL);
}

/* The exit status of pid (128 + signal when killed). */
static int exit_of(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

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
    char why[256];
    kks_csv csv;
    kks_family fam;
    FILE *f;
    int rc;
    memset(x, 0, sizeof *x);
    cr_assert_not_null(x->kk = malloc(n * sizeof *x->kk));
    cr_assert_not_null(x->nik = malloc(n * sizeof *x->nik));
    pid_t pid = gen_pipe(args, &f);
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
    fclose(f);
    cr_assert_eq(exit_of(pid), 0, "%s: exit status", args);
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
    size_t cap = 1 << 20, n = 0, k;
    char *buf = malloc(cap);
    FILE *f;
    if (!buf)
        return NULL;
    pid_t pid = gen_pipe(args, &f);
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap)
            cr_assert_not_null(buf = realloc(buf, cap *= 2));
    }
    fclose(f);
    if (exit_of(pid) != 0) {
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
    static const char policy[] = "key,value\nholder_min_age,74\ndecile_min,1\ndecile_max,4\n";
    char dir[] = "/tmp/kks-gen-XXXXXX", path[512], out_path[64], err_path[64];
    char *out, *err;
    size_t out_len, err_len;
    cr_assert_not_null(mkdtemp(dir));
    /* the seeds, with a registry policy of holders born in two years */
    DIR *d = opendir(SEEDS);
    struct dirent *e;
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name), len;
        if (l < 5 || strcmp(e->d_name + l - 4, ".csv") != 0)
            continue;
        char from[512];
        snprintf(from, sizeof from, "%s/%s", SEEDS, e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        int is_policy = strcmp(e->d_name, "registry-policy.csv") == 0;
        char *text = is_policy ? NULL : slurp(from, &len);
        FILE *f = fopen(path, "w");
        cr_assert(f && (is_policy || text), "%s", from);
        if (is_policy)
            len = strlen(policy);
        cr_assert_eq(fwrite(is_policy ? policy : text, 1, len, f), len);
        fclose(f);
        free(text);
    }
    closedir(d);
    const char *const pre[] = {"gen", "population", "--seeds", dir, "--city", "1172", NULL};
    snprintf(out_path, sizeof out_path, "%s/out.csv", dir);
    snprintf(err_path, sizeof err_path, "%s/err.txt", dir);
    int rc = exit_of(spawn_ctl(pre, "--families 100000000", NULL, out_path, err_path));
    cr_assert_eq(rc, 2, "exit status %d", rc);
    cr_assert_not_null(out = slurp(out_path, &out_len));
    cr_assert_eq(out_len, 0, "rows written before the refusal");
    cr_assert_not_null(err = slurp(err_path, &err_len));
    err[err_len] = '\0';
    cr_assert(strstr(err, "too many for the 4-digit NIK sequences and KK serials of province 11"),
              "%s", err);
    /* the same seeds make a smaller extract */
    cr_assert_eq(exit_of(spawn_ctl(pre, "--families 1000", NULL, "/dev/null", NULL)), 0);
    d = opendir(dir);
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        cr_assert_eq(unlink(path), 0, "%s", path);
    }
    closedir(d);
    cr_assert_eq(rmdir(dir), 0);
    free(out);
    free(err);
}
