/* Programme policy: the seeds files, period labels, and what a family gets.
 *
 * The PKH caps form a nested (laminar) family of limits: early childhood within
 * children within all components. Taking members from the highest per-stage
 * amount down, each while its caps have room, is the greedy algorithm on a
 * laminar matroid and so gives the largest total the caps allow whatever the
 * tie order; pkh_order is that order, fixed at load. */
#include "kks_policy.h"

#include <stdio.h>
#include <string.h>

#include "kks_csv.h"
#include "kks_err.h"

#define POLICY_AMOUNT_MAX 1000000000000LL /* Rp1 trillion: far above any real figure */
#define POLICY_CAP_MAX 100
#define MONTHS_PER_YEAR 12
#define PKH_LABEL_STAGES 4 /* the label format: T1..T4 are calendar quarters (SPEC §7) */
#define PKH_LABEL_MONTHS (MONTHS_PER_YEAR / PKH_LABEL_STAGES)

/* Component indices in kks_family.pkh order. */
#define PKH_EARLY (KKS_REG_PKH_EARLY - KKS_REG_PKH_PREGNANT)
#define PKH_IS_CHILD(c) ((c) >= PKH_EARLY && (c) <= KKS_REG_PKH_SMA - KKS_REG_PKH_PREGNANT)

/* ---- reading the files ------------------------------------------------------------------ */


enum { K_COMPONENTS, K_CHILDREN, K_EARLY, K_STAGES, K_MONTHLY, K_MAX_MONTHS, K_CASH, K_N };

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

static int period_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    loader *l = ctx;
    kks_period per;
    int64_t v;
    if (kks_period_parse(c->fields[0], c->fields[1], &per) < 0) {
        snprintf(why, cap, "not a period: program '%.10s', period '%.20s'", c->fields[0],
                 c->fields[1]);
        return -1;
    }
    if (per.program != KKS_PROGRAM_BPNT || strcmp(c->fields[2], "bpnt_cash_allowed") != 0) {
        snprintf(why, cap, "unknown key '%.40s' for %s (known: bpnt bpnt_cash_allowed)",
                 c->fields[2], kks_program_name(per.program));
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
    if (MONTHS_PER_YEAR % p->pkh_stages_per_year != 0) {
        snprintf(err, cap, "%s/%s: pkh_stages_per_year %d does not divide the year into whole "
                 "months", dir, pol_f, p->pkh_stages_per_year);
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

    /* Components by per-stage amount, highest first; insertion sort keeps header
     * order among equals. */
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++) {
        int j = i;
        for (; j > 0 && p->pkh_per_stage[p->pkh_order[j - 1]] < p->pkh_per_stage[i]; j--)
            p->pkh_order[j] = p->pkh_order[j - 1];
        p->pkh_order[j] = i;
    }
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
        if (n != 7 || label[5] != 'T' || label[6] < '1' || label[6] > '0' + PKH_LABEL_STAGES)
            return KKS_EINVAL;
        r.stage = label[6] - '0';
        r.first_month = (r.stage - 1) * PKH_LABEL_MONTHS + 1;
        r.months = PKH_LABEL_MONTHS;
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
        if (per->months * p->pkh_stages_per_year != MONTHS_PER_YEAR) {
            snprintf(why, cap, "PKH stage %s is %d months but the policy has %d stages a year",
                     per->label, per->months, p->pkh_stages_per_year);
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

int64_t kks_policy_pkh_stage_amount(const kks_policy *p, const int counts[KKS_PKH_COMPONENTS],
                                    int *capped)
{
    int all = 0, children = 0, early = 0, cut = 0;
    int64_t total = 0, part;
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++)
        if (counts[i] < 0)
            return KKS_EINVAL;
    for (int k = 0; k < KKS_PKH_COMPONENTS; k++) {
        int c = p->pkh_order[k], room = p->pkh_max_components - all, take;
        if (PKH_IS_CHILD(c))
            room = min_int(room, p->pkh_max_children - children);
        if (c == PKH_EARLY)
            room = min_int(room, p->pkh_max_early_childhood - early);
        take = min_int(counts[c], room > 0 ? room : 0);
        cut |= take < counts[c];
        /* take <= POLICY_CAP_MAX and amounts <= POLICY_AMOUNT_MAX, so this cannot
         * overflow; checked all the same, as every sum of money is. */
        if (__builtin_mul_overflow(p->pkh_per_stage[c], (int64_t)take, &part) ||
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
    if (per->program == KKS_PROGRAM_PKH)
        return p->pkh_max_stage;
    return kks_policy_bpnt_amount(p, per);
}
