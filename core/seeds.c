#include "kks_seeds.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kks_csv.h"
#include "kks_err.h"
#include "kks_registry.h" /* kks_parse_digits */

static int all_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int bank_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    kks_bank *b;
    size_t bl = strlen(c->fields[2]);
    if (s->nbanks == KKS_MAX_BANKS || strlen(c->fields[0]) >= sizeof b->code ||
        !*c->fields[0] || strlen(c->fields[1]) >= sizeof b->name ||
        !((bl == 6 || bl == 8) && all_digits(c->fields[2], bl))) {
        snprintf(why, cap, "bad bank row (code, name, 6- or 8-digit BIN)");
        return -1;
    }
    b = &s->banks[s->nbanks++];
    snprintf(b->code, sizeof b->code, "%s", c->fields[0]);
    snprintf(b->name, sizeof b->name, "%s", c->fields[1]);
    snprintf(b->bin, sizeof b->bin, "%s", c->fields[2]);
    return 0;
}

static int province_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    if (!all_digits(c->fields[0], 2)) {
        snprintf(why, cap, "province code must be 2 digits");
        return -1;
    }
    s->province[atoi(c->fields[0])] = 1;
    return 0;
}

/* A place name: printable, no leading or trailing space, fits. */
static int place_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= KKS_PLACE_NAME || name[0] == ' ' || name[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    return 1;
}

/* What every row of a place list (code, name) must be: a place name, a code not listed
 * before (twice is 1 when it was), and room in a table that holds n of max. what and whats
 * name one place and many in the reason. Returns 0, or -1 with the reason in why. */
static int place_row_ok(const char *what, const char *whats, const kks_csv *c, int twice, int n,
                        int max, char *why, size_t cap)
{
    if (!place_name_ok(c->fields[1]))
        snprintf(why, cap, "%s name must be 1..%d printable bytes", what, KKS_PLACE_NAME - 1);
    else if (twice)
        snprintf(why, cap, "%s %s listed twice", what, c->fields[0]);
    else if (n == max)
        snprintf(why, cap, "more than %d %s", max, whats);
    else
        return 0;
    return -1;
}

/* province-population.csv: a known province, once, with a population of 1..1e9. */
static int population_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    int64_t v;
    int p;
    if (!all_digits(c->fields[0], 2) || !s->province[p = atoi(c->fields[0])]) {
        snprintf(why, cap, "province %.10s is not in provinces.csv", c->fields[0]);
        return -1;
    }
    if (s->province_pop[p]) {
        snprintf(why, cap, "province %s listed twice", c->fields[0]);
        return -1;
    }
    if (kks_parse_digits(c->fields[1], 1, 1000000000, &v) < 0) {
        snprintf(why, cap, "population must be a whole number 1..1000000000, not '%.20s'",
                 c->fields[1]);
        return -1;
    }
    s->province_pop[p] = (unsigned)v;
    return 0;
}

/* cities.csv: 4 digits of a known province, not ending in 00, once; a place name. */
static int city_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    kks_city *k;
    int code;
    if (!all_digits(c->fields[0], 4) || !s->province[(code = atoi(c->fields[0])) / 100] ||
        code % 100 == 0) {
        snprintf(why, cap, "city code must be 4 digits: a known province, a regency or city");
        return -1;
    }
    if (place_row_ok("city", "cities", c, s->city_at[code] != 0, s->ncities, KKS_MAX_CITIES, why,
                     cap) < 0)
        return -1;
    k = &s->cities[s->ncities++];
    memcpy(k->code, c->fields[0], 5);
    snprintf(k->name, sizeof k->name, "%s", c->fields[1]);
    s->city_at[code] = (short)s->ncities;
    return 0;
}

static int kecamatan_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    kks_kecamatan *k;
    if (!all_digits(c->fields[0], 6) || !kks_seeds_city(s, c->fields[0]) ||
        (c->fields[0][4] == '0' && c->fields[0][5] == '0')) {
        snprintf(why, cap,
                 "kecamatan code must be 6 digits: a known province and city (cities.csv), "
                 "then a kecamatan");
        return -1;
    }
    if (place_row_ok("kecamatan", "kecamatan", c, kks_seeds_kecamatan(s, c->fields[0]) != NULL,
                     s->nkecamatan, KKS_MAX_KECAMATAN, why, cap) < 0)
        return -1;
    k = &s->kecamatan[s->nkecamatan++];
    memcpy(k->code, c->fields[0], 7);
    snprintf(k->name, sizeof k->name, "%s", c->fields[1]);
    return 0;
}

static int kelurahan_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    const kks_kecamatan *k = all_digits(c->fields[0], 6) ? kks_seeds_kecamatan(s, c->fields[0])
                                                         : NULL;
    kks_kelurahan *l;
    if (!k) {
        snprintf(why, cap, "kecamatan_code %.10s is not in kecamatan.csv", c->fields[0]);
        return -1;
    }
    if (!place_name_ok(c->fields[1])) {
        snprintf(why, cap, "kelurahan name must be 1..%d printable bytes", KKS_PLACE_NAME - 1);
        return -1;
    }
    for (int i = 0; i < s->nkelurahan; i++) {
        if (s->kelurahan[i].kecamatan == (int)(k - s->kecamatan) &&
            strcasecmp(s->kelurahan[i].name, c->fields[1]) == 0) {
            snprintf(why, cap, "kelurahan %s listed twice under %s", c->fields[1], k->code);
            return -1;
        }
    }
    if (s->nkelurahan == KKS_MAX_KELURAHAN) {
        snprintf(why, cap, "more than %d kelurahan", KKS_MAX_KELURAHAN);
        return -1;
    }
    l = &s->kelurahan[s->nkelurahan++];
    l->kecamatan = (int)(k - s->kecamatan);
    snprintf(l->name, sizeof l->name, "%s", c->fields[1]);
    return 0;
}

/* Groups the kelurahan by kecamatan (a stable counting sort) and records each
 * kecamatan's slice, so that a lookup scans only its own. */
static int kelurahan_index(kks_seeds *s)
{
    kks_kelurahan *tmp = malloc(sizeof *tmp * (size_t)(s->nkelurahan + 1));
    int at = 0;
    if (!tmp)
        return KKS_ENOMEM;
    for (int k = 0; k < s->nkecamatan; k++) {
        s->kecamatan[k].kel_first = at;
        for (int i = 0; i < s->nkelurahan; i++)
            if (s->kelurahan[i].kecamatan == k)
                tmp[at++] = s->kelurahan[i];
        s->kecamatan[k].nkel = at - s->kecamatan[k].kel_first;
    }
    memcpy(s->kelurahan, tmp, sizeof *tmp * (size_t)s->nkelurahan);
    free(tmp);
    return 0;
}

static int policy_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    char *end;
    long v = strtol(c->fields[1], &end, 10);
    int *slot = NULL, lo = 1;
    if (strcmp(c->fields[0], "renew_months_before") == 0)
        slot = &s->renew_months_before, lo = 0; /* 0: only an expired card is renewed */
    else if (strcmp(c->fields[0], "expiry_years") == 0)
        slot = &s->expiry_years;
    else if (strcmp(c->fields[0], "pin_tries") == 0)
        slot = &s->pin_tries;
    else if (strcmp(c->fields[0], "pan_length") == 0)
        slot = &s->pan_length;
    if (!slot || *end || end == c->fields[1] || v < lo || v > 19) {
        snprintf(why, cap, "unknown key or value out of range: %.40s", c->fields[0]);
        return -1;
    }
    *slot = (int)v;
    return 0;
}

/* registry-policy.csv: every key once, each within its range. */
enum { RP_MIN_AGE, RP_DECILE_MIN, RP_DECILE_MAX, RP_N };
static const struct {
    const char *name;
    int64_t lo, hi;
} registry_keys[RP_N] = {
    [RP_MIN_AGE] = {"holder_min_age", 1, 100},
    [RP_DECILE_MIN] = {"decile_min", 1, 10},
    [RP_DECILE_MAX] = {"decile_max", 1, 10},
};

typedef struct registry_loader {
    kks_seeds *s;
    int seen[RP_N];
} registry_loader;

static int registry_policy_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    registry_loader *l = ctx;
    int64_t v;
    int *slot[RP_N] = {&l->s->holder_min_age, &l->s->decile_min, &l->s->decile_max};
    for (int k = 0; k < RP_N; k++) {
        if (strcmp(c->fields[0], registry_keys[k].name) != 0)
            continue;
        if (l->seen[k]) {
            snprintf(why, cap, "%s given twice", registry_keys[k].name);
            return -1;
        }
        if (kks_parse_digits(c->fields[1], registry_keys[k].lo, registry_keys[k].hi, &v) < 0) {
            snprintf(why, cap, "%s must be a whole number %lld..%lld, not '%.20s'",
                     registry_keys[k].name, (long long)registry_keys[k].lo,
                     (long long)registry_keys[k].hi, c->fields[1]);
            return -1;
        }
        *slot[k] = (int)v;
        l->seen[k] = 1;
        return 0;
    }
    snprintf(why, cap, "unknown key '%.40s' (holder_min_age, decile_min, decile_max)",
             c->fields[0]);
    return -1;
}

int kks_seeds_load(kks_seeds *s, const char *dir, char *err, size_t cap)
{
    static const char *const kel_h[] = {"kecamatan_code", "name"};
    registry_loader rl;
    static const char *const bank_h[] = {"code", "name", "bin"};
    static const char *const code_h[] = {"code", "name"};
    static const char *const pol_h[] = {"key", "value"};
    static const char *const pop_h[] = {"province", "population"};
    int rc;
    memset(s, 0, sizeof *s);
    s->expiry_years = 5;
    s->renew_months_before = 0;
    s->pin_tries = 3;
    s->pan_length = 16;
    if ((rc = kks_csv_load(s, dir, "banks.csv", bank_h, 3, bank_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "provinces.csv", code_h, 2, province_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "province-population.csv", pop_h, 2, population_row, err,
                           cap)) < 0)
        return rc;
    for (int p = 0; p < 100; p++) {
        if (s->province[p] && !s->province_pop[p]) {
            snprintf(err, cap, "%s/province-population.csv: province %02d has no population", dir,
                     p);
            return KKS_EINVAL;
        }
    }
    if ((rc = kks_csv_load(s, dir, "cities.csv", code_h, 2, city_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "kecamatan.csv", code_h, 2, kecamatan_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "kelurahan.csv", kel_h, 2, kelurahan_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "card-policy.csv", pol_h, 2, policy_row, err, cap)) < 0)
        return rc;
    if ((rc = kelurahan_index(s)) < 0) {
        snprintf(err, cap, "%s/kelurahan.csv: out of memory", dir);
        return rc;
    }
    memset(&rl, 0, sizeof rl);
    rl.s = s;
    if ((rc = kks_csv_load(&rl, dir, "registry-policy.csv", pol_h, 2, registry_policy_row, err,
                           cap)) < 0)
        return rc;
    for (int k = 0; k < RP_N; k++) {
        if (!rl.seen[k]) {
            snprintf(err, cap, "%s/registry-policy.csv: %s missing", dir, registry_keys[k].name);
            return KKS_EINVAL;
        }
    }
    if (s->decile_min > s->decile_max) {
        snprintf(err, cap, "%s/registry-policy.csv: decile_min %d is above decile_max %d", dir,
                 s->decile_min, s->decile_max);
        return KKS_EINVAL;
    }
    for (int i = 0; i < s->nbanks; i++) {
        if ((int)strlen(s->banks[i].bin) + 2 > s->pan_length) {
            snprintf(err, cap, "%s/card-policy.csv: pan_length too short for BIN %s", dir,
                     s->banks[i].bin);
            return KKS_EINVAL;
        }
    }
    if (s->nbanks == 0) {
        snprintf(err, cap, "%s/banks.csv: no banks", dir);
        return KKS_EINVAL;
    }
    return 0;
}

const kks_bank *kks_seeds_bank(const kks_seeds *s, const char *code)
{
    for (int i = 0; i < s->nbanks; i++)
        if (strcmp(s->banks[i].code, code) == 0)
            return &s->banks[i];
    return NULL;
}

const kks_bank *kks_seeds_bank_for_pan(const kks_seeds *s, const char *pan)
{
    for (int i = 0; i < s->nbanks; i++)
        if (strncmp(s->banks[i].bin, pan, strlen(s->banks[i].bin)) == 0)
            return &s->banks[i];
    return NULL;
}

const kks_kecamatan *kks_seeds_kecamatan(const kks_seeds *s, const char *id)
{
    for (int i = 0; i < s->nkecamatan; i++)
        if (memcmp(s->kecamatan[i].code, id, 6) == 0)
            return &s->kecamatan[i];
    return NULL;
}

const kks_city *kks_seeds_city(const kks_seeds *s, const char *id)
{
    int code = 0;
    for (int i = 0; i < 4; i++) {
        if (id[i] < '0' || id[i] > '9')
            return NULL;
        code = code * 10 + (id[i] - '0');
    }
    return s->city_at[code] ? &s->cities[s->city_at[code] - 1] : NULL;
}

int kks_seeds_region_ok(const kks_seeds *s, const char *id)
{
    for (int i = 0; i < 6; i++)
        if (id[i] < '0' || id[i] > '9')
            return 0;
    return kks_seeds_kecamatan(s, id) != NULL;
}

int kks_seeds_city_known(const kks_seeds *s, const char *city)
{
    for (int i = 0; i < s->nkecamatan; i++)
        if (memcmp(s->kecamatan[i].code, city, 4) == 0)
            return 1;
    return 0;
}

const kks_kecamatan *kks_seeds_kecamatan_named(const kks_seeds *s, const char *city,
                                               const char *name)
{
    for (int i = 0; i < s->nkecamatan; i++)
        if (memcmp(s->kecamatan[i].code, city, 4) == 0 &&
            strcasecmp(s->kecamatan[i].name, name) == 0)
            return &s->kecamatan[i];
    return NULL;
}

const kks_kelurahan *kks_seeds_kelurahan(const kks_seeds *s, const kks_kecamatan *k,
                                         const char *name)
{
    for (int i = k->kel_first; i < k->kel_first + k->nkel; i++)
        if (strcasecmp(s->kelurahan[i].name, name) == 0)
            return &s->kelurahan[i];
    return NULL;
}

const kks_kecamatan *kks_seeds_kelurahan_home(const kks_seeds *s, const kks_kecamatan *k,
                                              const char *name)
{
    for (int i = 0; i < s->nkecamatan; i++)
        if (memcmp(s->kecamatan[i].code, k->code, 4) == 0 &&
            kks_seeds_kelurahan(s, &s->kecamatan[i], name))
            return &s->kecamatan[i];
    return NULL;
}

/* The installed seeds, found once from /proc/self/exe: "" when this program
 * does not sit in an installed bin/ (a build tree's bin/ has no
 * ../share/kks/seeds beside it). */
static char installed_seeds[PATH_MAX];
static pthread_once_t installed_once = PTHREAD_ONCE_INIT;

static void find_installed(void)
{
    char exe[PATH_MAX], want[PATH_MAX + 32];
    struct stat st;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    snprintf(want, sizeof want, "%s/../share/kks/seeds", exe);
    if (stat(want, &st) == 0 && S_ISDIR(st.st_mode) && !realpath(want, installed_seeds))
        installed_seeds[0] = '\0';
}

const char *kks_seeds_default(enum kks_seeds_from *from)
{
    const char *env = getenv("KKS_SEEDS");
    enum kks_seeds_from f;
    const char *dir;
    pthread_once(&installed_once, find_installed);
    if (env && *env) {
        f = KKS_SEEDS_FROM_ENV;
        dir = env;
    } else if (installed_seeds[0]) {
        f = KKS_SEEDS_FROM_INSTALL;
        dir = installed_seeds;
    } else {
        f = KKS_SEEDS_FROM_SOURCE;
        dir = KKS_DEFAULT_SEEDS;
    }
    if (from)
        *from = f;
    return dir;
}

int kks_version_print(FILE *f, const char *prog)
{
    static const char *const where[] = {"$KKS_SEEDS", "installed", "source tree"};
    enum kks_seeds_from from;
    const char *dir = kks_seeds_default(&from);
    fprintf(f, "%s %s\nseeds: %s (%s)\n", prog, KKS_VERSION, dir, where[from]);
    return 0;
}
