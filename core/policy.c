/* Programme policy: the seeds files, period labels, and what a family gets.
 *
 * The PKH caps form a nested (laminar) family of limits: early childhood within
 * children within all components. Taking members from the highest per-stage
 * amount down, each while its caps have room, is the greedy algorithm on a
 * laminar matroid and so gives the largest total the caps allow whatever the
 * tie order; pkh_order is that order, fixed at load. */
#include "kks_policy.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "kks_csv.h"
#include "kks_err.h"

#define POLICY_AMOUNT_MAX 1000000000000LL /* Rp1 trillion: far above any real figure */
#define POLICY_CAP_MAX 100
#define MONTHS_PER_YEAR 12
/* The label formats: T1..T4 are calendar quarters, B1..B6 two-month payments. A year's
 * schedule is one of them, so these are the only numbers of stages a policy may give. */
#define PKH_QUARTERS 4
#define PKH_BIMONTHS 6
#define YEAR_SLOT(y) ((y) - KKS_PERIOD_YEAR_MIN)
#define ELDERLY_AGE_MIN 40
#define ELDERLY_AGE_MAX 100

/* Component indices in kks_family.pkh order. */
#define PKH_EARLY (KKS_REG_PKH_EARLY - KKS_REG_PKH_PREGNANT)
#define PKH_ELDERLY (KKS_REG_PKH_ELDERLY - KKS_REG_PKH_PREGNANT)
#define PKH_IS_CHILD(c) ((c) >= PKH_EARLY && (c) <= KKS_REG_PKH_SMA - KKS_REG_PKH_PREGNANT)

/* ---- reading the files ------------------------------------------------------------------ */

static void order_by_amount(const int64_t amt[KKS_PKH_COMPONENTS], int order[KKS_PKH_COMPONENTS]);

enum {
    K_COMPONENTS, K_CHILDREN, K_EARLY, K_STAGES, K_ELDERLY_AGE, K_ELDERLY_ONE, K_MONTHLY,
    K_MAX_MONTHS, K_CASH, K_N
};

typedef struct loader {
    kks_policy *p;
    int64_t keys[K_N];
    int seen_key[K_N];
    int seen_comp[KKS_PKH_COMPONENTS];
} loader;

/* programme-policy.csv keys and their ranges. */
static const struct {
    const char *name;
    int64_t lo, hi;
} policy_keys[K_N] = {
    [K_COMPONENTS] = {"pkh_max_components", 1, POLICY_CAP_MAX},
    [K_CHILDREN] = {"pkh_max_children", 0, POLICY_CAP_MAX},
    [K_EARLY] = {"pkh_max_early_childhood", 0, POLICY_CAP_MAX},
    [K_STAGES] = {"pkh_stages_per_year", 1, MONTHS_PER_YEAR},
    [K_ELDERLY_AGE] = {"pkh_elderly_min_age", ELDERLY_AGE_MIN, ELDERLY_AGE_MAX},
    [K_ELDERLY_ONE] = {"pkh_elderly_one_per_family", 0, 1},
    [K_MONTHLY] = {"bpnt_monthly", 1, POLICY_AMOUNT_MAX},
    [K_MAX_MONTHS] = {"bpnt_max_months", 1, MONTHS_PER_YEAR},
    [K_CASH] = {"bpnt_cash_default", 0, 1},
};

static int policy_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    loader *l = ctx;
    for (int k = 0; k < K_N; k++) {
        if (strcmp(c->fields[0], policy_keys[k].name) != 0)
            continue;
        if (l->seen_key[k]) {
            snprintf(why, cap, "%s given twice", policy_keys[k].name);
            return -1;
        }
        if (kks_parse_digits(c->fields[1], policy_keys[k].lo, policy_keys[k].hi, &l->keys[k]) < 0) {
            snprintf(why, cap, "%s must be a whole number %lld..%lld, not '%.20s'",
                     policy_keys[k].name, (long long)policy_keys[k].lo,
                     (long long)policy_keys[k].hi, c->fields[1]);
            return -1;
        }
        l->seen_key[k] = 1;
        return 0;
    }
    snprintf(why, cap, "unknown key '%.40s'", c->fields[0]);
    return -1;
}

/* The component's name in pkh-components.csv: its registry column without "pkh_". */
static const char *component_name(int i)
{
    return kks_registry_header[KKS_REG_PKH_PREGNANT + i] + 4;
}

static int component_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    loader *l = ctx;
    int i;
    for (i = 0; i < KKS_PKH_COMPONENTS; i++)
        if (strcmp(c->fields[0], component_name(i)) == 0)
            break;
    if (i == KKS_PKH_COMPONENTS) {
        snprintf(why, cap,
                 "unknown component '%.40s' (pregnant, early_childhood, sd, smp, sma, "
                 "disability, elderly)",
                 c->fields[0]);
        return -1;
    }
    if (l->seen_comp[i]) {
        snprintf(why, cap, "component %s given twice", component_name(i));
        return -1;
    }
    if (kks_parse_digits(c->fields[1], 1, POLICY_AMOUNT_MAX, &l->p->pkh_per_year[i]) < 0 ||
        kks_parse_digits(c->fields[2], 1, POLICY_AMOUNT_MAX, &l->p->pkh_per_stage[i]) < 0) {
        snprintf(why, cap, "%s: per_year and per_stage must be whole rupiah 1..%lld",
                 component_name(i), POLICY_AMOUNT_MAX);
        return -1;
    }
    l->seen_comp[i] = 1;
    return 0;
}

/* A periods.csv row for PKH: "pkh,YYYY,key,value", a rule of one year. */
static int pkh_year_row(loader *l, const kks_csv *c, char *why, size_t cap)
{
    static const struct {
        int key;
        size_t slot; /* offsetof the year array */
    } keys[] = {
        {K_STAGES, offsetof(kks_policy, pkh_year_stages)},
        {K_ELDERLY_AGE, offsetof(kks_policy, pkh_year_elderly_age)},
        {K_ELDERLY_ONE, offsetof(kks_policy, pkh_year_elderly_one)},
    };
    int64_t y, v;
    if (strlen(c->fields[1]) != 4 ||
        kks_parse_digits(c->fields[1], KKS_PERIOD_YEAR_MIN, KKS_PERIOD_YEAR_MAX, &y) < 0) {
        snprintf(why, cap,
                 "PKH rules are per year: the period must be a year %d..%d, not "
                 "'%.20s'",
                 KKS_PERIOD_YEAR_MIN, KKS_PERIOD_YEAR_MAX, c->fields[1]);
        return -1;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *name = policy_keys[keys[i].key].name;
        signed char *slot = (signed char *)l->p + keys[i].slot + YEAR_SLOT(y);
        if (strcmp(c->fields[2], name) != 0)
            continue;
        if (kks_parse_digits(c->fields[3], policy_keys[keys[i].key].lo, policy_keys[keys[i].key].hi,
                             &v) < 0) {
            snprintf(why, cap, "%s must be a whole number %lld..%lld, not '%.20s'", name,
                     (long long)policy_keys[keys[i].key].lo, (long long)policy_keys[keys[i].key].hi,
                     c->fields[3]);
            return -1;
        }
        if (keys[i].key == K_STAGES && v != PKH_QUARTERS && v != PKH_BIMONTHS) {
            snprintf(why, cap, "pkh_stages_per_year must be 4 (T1..T4) or 6 (B1..B6), not %lld",
                     (long long)v);
            return -1;
        }
        if (*slot >= 0) {
            snprintf(why, cap, "%s for %lld given twice", name, (long long)y);
            return -1;
        }
        *slot = (signed char)v;
        return 0;
    }
    snprintf(why, cap,
             "unknown key '%.40s' for pkh (known: pkh_stages_per_year, pkh_elderly_min_age, "
             "pkh_elderly_one_per_family)",
             c->fields[2]);
    return -1;
}

static int period_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    loader *l = ctx;
    kks_period per;
    int64_t v;
    if (strcmp(c->fields[0], "pkh") == 0)
        return pkh_year_row(l, c, why, cap);
    if (kks_period_parse(c->fields[0], c->fields[1], &per) < 0) {
        snprintf(why, cap, "not a period: program '%.10s', period '%.20s'", c->fields[0],
                 c->fields[1]);
        return -1;
    }
    if (strcmp(c->fields[2], "bpnt_cash_allowed") != 0) {
        snprintf(why, cap, "unknown key '%.40s' for bpnt (known: bpnt_cash_allowed)", c->fields[2]);
        return -1;
    }
    if (kks_parse_digits(c->fields[3], 0, 1, &v) < 0) {
        snprintf(why, cap, "bpnt_cash_allowed must be 0 or 1");
        return -1;
    }
    int first, last;
    kks_period_months(&per, &first, &last);
    for (int m = first; m <= last; m++) {
        signed char *slot =
            &l->p->bpnt_cash[m / MONTHS_PER_YEAR - KKS_PERIOD_YEAR_MIN][m % MONTHS_PER_YEAR];
        if (*slot >= 0) {
            char mm[8];
            kks_month_format(m, mm);
            snprintf(why, cap, "bpnt_cash_allowed for %s given twice", mm);
            return -1;
        }
        *slot = (signed char)v;
    }
    return 0;
}

int kks_policy_load(kks_policy *p, const char *dir, char *err, size_t cap)
{
    static const char *const pol_h[] = {"key", "value"};
    static const char *const comp_h[] = {"component", "per_year", "per_stage"};
    static const char *const per_h[] = {"program", "period", "key", "value"};
    static const char pol_f[] = "programme-policy.csv", comp_f[] = "pkh-components.csv";
    loader l;
    int rc;

    memset(p, 0, sizeof *p);
    memset(&l, 0, sizeof l);
    memset(p->bpnt_cash, -1, sizeof p->bpnt_cash);
    memset(p->pkh_year_stages, -1, sizeof p->pkh_year_stages);
    memset(p->pkh_year_elderly_age, -1, sizeof p->pkh_year_elderly_age);
    memset(p->pkh_year_elderly_one, -1, sizeof p->pkh_year_elderly_one);
    l.p = p;
    if ((rc = kks_csv_load(&l, dir, pol_f, pol_h, 2, policy_row, err, cap)) < 0)
        return rc;
    for (int k = 0; k < K_N; k++) {
        if (!l.seen_key[k]) {
            snprintf(err, cap, "%s/%s: %s missing", dir, pol_f, policy_keys[k].name);
            return KKS_EINVAL;
        }
    }
    p->pkh_max_components = (int)l.keys[K_COMPONENTS];
    p->pkh_max_children = (int)l.keys[K_CHILDREN];
    p->pkh_max_early_childhood = (int)l.keys[K_EARLY];
    p->pkh_stages_per_year = (int)l.keys[K_STAGES];
    p->bpnt_monthly = l.keys[K_MONTHLY];
    p->bpnt_max_months = (int)l.keys[K_MAX_MONTHS];
    p->bpnt_cash_default = (int)l.keys[K_CASH];
    p->pkh_elderly_min_age = (int)l.keys[K_ELDERLY_AGE];
    p->pkh_elderly_one_per_family = (int)l.keys[K_ELDERLY_ONE];
    if (MONTHS_PER_YEAR % p->pkh_stages_per_year != 0) {
        snprintf(err, cap,
                 "%s/%s: pkh_stages_per_year %d does not divide the year into whole "
                 "months",
                 dir, pol_f, p->pkh_stages_per_year);
        return KKS_EINVAL;
    }
    if (p->pkh_stages_per_year != PKH_QUARTERS && p->pkh_stages_per_year != PKH_BIMONTHS) {
        snprintf(err, cap, "%s/%s: pkh_stages_per_year must be 4 (T1..T4) or 6 (B1..B6), not %d",
                 dir, pol_f, p->pkh_stages_per_year);
        return KKS_EINVAL;
    }

    if ((rc = kks_csv_load(&l, dir, comp_f, comp_h, 3, component_row, err, cap)) < 0)
        return rc;
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++) {
        if (!l.seen_comp[i]) {
            snprintf(err, cap, "%s/%s: component %s missing", dir, comp_f, component_name(i));
            return KKS_EINVAL;
        }
        if (p->pkh_per_stage[i] * p->pkh_stages_per_year != p->pkh_per_year[i]) {
            snprintf(err, cap, "%s/%s: %s: per_year %lld is not %d stages of %lld", dir, comp_f,
                     component_name(i), (long long)p->pkh_per_year[i], p->pkh_stages_per_year,
                     (long long)p->pkh_per_stage[i]);
            return KKS_EINVAL;
        }
    }

    if ((rc = kks_csv_load(&l, dir, "periods.csv", per_h, 4, period_row, err, cap)) < 0)
        return rc;

    order_by_amount(p->pkh_per_stage, p->pkh_order);
    /* The best family: as many members of every component as the caps could take. */
    int all[KKS_PKH_COMPONENTS];
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++)
        all[i] = p->pkh_max_components;
    p->pkh_max_stage = kks_policy_pkh_stage_amount(p, all, NULL);
    return 0;
}

/* ---- periods ---------------------------------------------------------------------------- */

void kks_period_months(const kks_period *per, int *first, int *last)
{
    *first = per->year * MONTHS_PER_YEAR + per->first_month - 1;
    *last = *first + per->months - 1;
}

void kks_month_format(int month, char out[8])
{
    char t[32];
    snprintf(t, sizeof t, "%04d-%02d", (month / MONTHS_PER_YEAR) % 10000,
             month % MONTHS_PER_YEAR + 1);
    memcpy(out, t, 7);
    out[7] = '\0';
}

int kks_month_of_date(const char *ymd)
{
    return ((ymd[0] - '0') * 1000 + (ymd[1] - '0') * 100 + (ymd[2] - '0') * 10 + (ymd[3] - '0')) *
               MONTHS_PER_YEAR +
           (ymd[5] - '0') * 10 + (ymd[6] - '0') - 1;
}

const char *kks_program_name(kks_program program)
{
    return program == KKS_PROGRAM_PKH ? "pkh" : program == KKS_PROGRAM_BPNT ? "bpnt" : "?";
}

static int two_digits(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

int kks_period_parse(const char *program, const char *label, kks_period *out)
{
    kks_period r;
    size_t n;
    int hi, lo;
    memset(&r, 0, sizeof r);
    if (!program || !label)
        return KKS_EINVAL;
    if (strcmp(program, "pkh") == 0)
        r.program = KKS_PROGRAM_PKH;
    else if (strcmp(program, "bpnt") == 0)
        r.program = KKS_PROGRAM_BPNT;
    else
        return KKS_EINVAL;
    n = strnlen(label, KKS_PERIOD_LABEL_MAX);
    if (n < 7 || n >= KKS_PERIOD_LABEL_MAX || label[4] != '-')
        return KKS_EINVAL;
    if ((hi = two_digits(label)) < 0 || (lo = two_digits(label + 2)) < 0)
        return KKS_EINVAL;
    r.year = hi * 100 + lo;
    if (r.year < KKS_PERIOD_YEAR_MIN || r.year > KKS_PERIOD_YEAR_MAX)
        return KKS_EINVAL;

    if (r.program == KKS_PROGRAM_PKH) {
        int stages = n == 7 && label[5] == 'T'   ? PKH_QUARTERS
                     : n == 7 && label[5] == 'B' ? PKH_BIMONTHS
                                                 : 0;
        if (!stages || label[6] < '1' || label[6] > '0' + stages)
            return KKS_EINVAL;
        r.stage = label[6] - '0';
        r.months = MONTHS_PER_YEAR / stages;
        r.first_month = (r.stage - 1) * r.months + 1;
        memcpy(r.label, label, 7); /* the syntax is exact, so the label is canonical */
    } else {
        int first = two_digits(label + 5), last = first, last_year = r.year, yh, yl;
        if (n == 11 && label[7] == '.' && label[8] == '.') {
            last = two_digits(label + 9);
        } else if (n == 16 && label[7] == '.' && label[8] == '.' && label[13] == '-') {
            /* YYYY-MM..YYYY-MM: a batch that crosses into the next year */
            if ((yh = two_digits(label + 9)) < 0 || (yl = two_digits(label + 11)) < 0)
                return KKS_EINVAL;
            last_year = yh * 100 + yl;
            last = two_digits(label + 14);
            if (last_year != r.year && last_year != r.year + 1)
                return KKS_EINVAL;
        } else if (n != 7) {
            return KKS_EINVAL;
        }
        if (first < 1 || first > MONTHS_PER_YEAR || last < 1 || last > MONTHS_PER_YEAR)
            return KKS_EINVAL;
        if (last_year > KKS_PERIOD_YEAR_MAX)
            return KKS_EINVAL;
        int span = (last_year - r.year) * MONTHS_PER_YEAR + last - first + 1;
        if (span < 1)
            return KKS_EINVAL;
        r.first_month = first;
        r.months = span;
        /* canonical: one month "YYYY-MM", a batch in one year "YYYY-MM..MM",
         * across a year end "YYYY-MM..YYYY-MM" */
        if (span == 1)
            snprintf(r.label, sizeof r.label, "%04d-%02d", r.year, first);
        else if (last_year == r.year)
            snprintf(r.label, sizeof r.label, "%04d-%02d..%02d", r.year, first, last);
        else
            snprintf(r.label, sizeof r.label, "%04d-%02d..%04d-%02d", r.year, first, last_year,
                     last);
    }
    *out = r;
    return 0;
}

int kks_policy_period_check(const kks_policy *p, const kks_period *per, char *why, size_t cap)
{
    if (per->year < KKS_PERIOD_YEAR_MIN || per->year > KKS_PERIOD_YEAR_MAX ||
        per->first_month < 1 || per->first_month > MONTHS_PER_YEAR || per->months < 1 ||
        per->year * MONTHS_PER_YEAR + per->first_month + per->months - 2 >=
            (KKS_PERIOD_YEAR_MAX + 1) * MONTHS_PER_YEAR ||
        (per->program == KKS_PROGRAM_PKH &&
         per->first_month + per->months - 1 > MONTHS_PER_YEAR)) {
        snprintf(why, cap, "not a period (use kks_period_parse)");
        return KKS_EINVAL;
    }
    if (per->program == KKS_PROGRAM_BPNT) {
        if (per->months > p->bpnt_max_months) {
            snprintf(why, cap, "a BPNT batch of %d months is longer than bpnt_max_months (%d)",
                     per->months, p->bpnt_max_months);
            return KKS_EINVAL;
        }
        return 0;
    }
    if (per->program == KKS_PROGRAM_PKH) {
        int stages = kks_policy_pkh_stages(p, per->year);
        if (per->months * stages != MONTHS_PER_YEAR) {
            snprintf(why, cap,
                     "PKH stage %s is %d months but the policy has %d stages a year in %d "
                     "(%d-%s1..%s%d)",
                     per->label, per->months, stages, per->year, per->year,
                     stages == PKH_BIMONTHS ? "B" : "T", stages == PKH_BIMONTHS ? "B" : "T",
                     stages);
            return KKS_EINVAL;
        }
        return 0;
    }
    snprintf(why, cap, "unknown programme");
    return KKS_EINVAL;
}

/* ---- amounts ---------------------------------------------------------------------------- */

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

/* The caps over the amounts amt[] (one member of each component), members taken from the
 * highest amount down; order[] is the components by amount, highest first. */
static int64_t capped_amount(const kks_policy *p, const int64_t amt[KKS_PKH_COMPONENTS],
                             const int order[KKS_PKH_COMPONENTS],
                             const int counts[KKS_PKH_COMPONENTS], int *capped)
{
    int all = 0, children = 0, early = 0, cut = 0;
    int64_t total = 0, part;
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++)
        if (counts[i] < 0)
            return KKS_EINVAL;
    for (int k = 0; k < KKS_PKH_COMPONENTS; k++) {
        int c = order[k], room = p->pkh_max_components - all, take;
        if (PKH_IS_CHILD(c))
            room = min_int(room, p->pkh_max_children - children);
        if (c == PKH_EARLY)
            room = min_int(room, p->pkh_max_early_childhood - early);
        take = min_int(counts[c], room > 0 ? room : 0);
        cut |= take < counts[c];
        /* take <= POLICY_CAP_MAX and amounts <= POLICY_AMOUNT_MAX, so this cannot
         * overflow; checked all the same, as every sum of money is. */
        if (__builtin_mul_overflow(amt[c], (int64_t)take, &part) ||
            __builtin_add_overflow(total, part, &total))
            return KKS_EINVAL;
        all += take;
        children += PKH_IS_CHILD(c) ? take : 0;
        early += c == PKH_EARLY ? take : 0;
    }
    if (capped)
        *capped = cut;
    return total;
}

/* order[] := components by amt[], highest first; insertion sort keeps header order among
 * equals. */
static void order_by_amount(const int64_t amt[KKS_PKH_COMPONENTS], int order[KKS_PKH_COMPONENTS])
{
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++) {
        int j = i;
        for (; j > 0 && amt[order[j - 1]] < amt[i]; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
}

int64_t kks_policy_pkh_stage_amount(const kks_policy *p, const int counts[KKS_PKH_COMPONENTS],
                                    int *capped)
{
    return capped_amount(p, p->pkh_per_stage, p->pkh_order, counts, capped);
}

int kks_policy_pkh_stages(const kks_policy *p, int year)
{
    if (year < KKS_PERIOD_YEAR_MIN || year > KKS_PERIOD_YEAR_MAX)
        return p->pkh_stages_per_year;
    int v = p->pkh_year_stages[YEAR_SLOT(year)];
    return v < 0 ? p->pkh_stages_per_year : v;
}

void kks_policy_pkh_elderly(const kks_policy *p, int year, int *min_age, int *one_per_family)
{
    int a = -1, o = -1;
    if (year >= KKS_PERIOD_YEAR_MIN && year <= KKS_PERIOD_YEAR_MAX) {
        a = p->pkh_year_elderly_age[YEAR_SLOT(year)];
        o = p->pkh_year_elderly_one[YEAR_SLOT(year)];
    }
    *min_age = a < 0 ? p->pkh_elderly_min_age : a;
    *one_per_family = o < 0 ? p->pkh_elderly_one_per_family : o;
}

int kks_policy_pkh_elderly_count(const kks_policy *p, int year, const int *ages, int n)
{
    int min_age, one, count = 0;
    if (n < 0 || (n > 0 && !ages))
        return KKS_EINVAL;
    kks_policy_pkh_elderly(p, year, &min_age, &one);
    for (int i = 0; i < n; i++) {
        if (ages[i] < 0)
            return KKS_EINVAL;
        count += ages[i] >= min_age;
    }
    return one && count > 1 ? 1 : count;
}

int64_t kks_policy_pkh_component(const kks_policy *p, const kks_period *per, int c)
{
    char why[160];
    if (c < 0 || c >= KKS_PKH_COMPONENTS || per->program != KKS_PROGRAM_PKH ||
        kks_policy_period_check(p, per, why, sizeof why) < 0)
        return KKS_EINVAL;
    int stages = kks_policy_pkh_stages(p, per->year);
    int64_t base = p->pkh_per_year[c] / stages;
    return per->stage == stages ? base + p->pkh_per_year[c] % stages : base;
}

int64_t kks_policy_pkh_amount(const kks_policy *p, const kks_period *per,
                              const int counts[KKS_PKH_COMPONENTS], int *capped)
{
    int64_t amt[KKS_PKH_COMPONENTS];
    int order[KKS_PKH_COMPONENTS], cut[KKS_PKH_COMPONENTS], min_age, one;
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++) {
        if ((amt[i] = kks_policy_pkh_component(p, per, i)) < 0 || counts[i] < 0)
            return KKS_EINVAL;
        cut[i] = counts[i];
    }
    kks_policy_pkh_elderly(p, per->year, &min_age, &one);
    if (one && cut[PKH_ELDERLY] > 1) cut[PKH_ELDERLY] = 1;
    order_by_amount(amt, order);
    int64_t v = capped_amount(p, amt, order, cut, capped);
    if (v >= 0 && capped && cut[PKH_ELDERLY] < counts[PKH_ELDERLY]) *capped = 1;
    return v;
}

int64_t kks_policy_bpnt_amount(const kks_policy *p, const kks_period *per)
{
    char why[128];
    int64_t v;
    if (per->program != KKS_PROGRAM_BPNT || kks_policy_period_check(p, per, why, sizeof why) < 0)
        return KKS_EINVAL;
    if (__builtin_mul_overflow(p->bpnt_monthly, (int64_t)per->months, &v))
        return KKS_EINVAL;
    return v;
}

int kks_policy_bpnt_cash_allowed(const kks_policy *p, const kks_period *per)
{
    char why[128];
    if (per->program != KKS_PROGRAM_BPNT || kks_policy_period_check(p, per, why, sizeof why) < 0)
        return 0;
    int first, last;
    kks_period_months(per, &first, &last);
    for (int m = first; m <= last; m++) {
        int v = p->bpnt_cash[m / MONTHS_PER_YEAR - KKS_PERIOD_YEAR_MIN][m % MONTHS_PER_YEAR];
        if ((v < 0 ? p->bpnt_cash_default : v) != 1)
            return 0;
    }
    return 1;
}

int64_t kks_policy_max_amount(const kks_policy *p, const kks_period *per)
{
    char why[128];
    if (kks_policy_period_check(p, per, why, sizeof why) < 0)
        return KKS_EINVAL;
    if (per->program == KKS_PROGRAM_PKH) {
        int all[KKS_PKH_COMPONENTS];
        for (int i = 0; i < KKS_PKH_COMPONENTS; i++)
            all[i] = p->pkh_max_components;
        return kks_policy_pkh_amount(p, per, all, NULL);
    }
    return kks_policy_bpnt_amount(p, per);
}
