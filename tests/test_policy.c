/* Programme policy: the seeds files, period labels, PKH caps, BPNT batches and cash rules,
 * and `kksctl manifest` end to end on seeds/dtsen-medan.csv.
 *
 * Per-stage amounts in seeds/pkh-components.csv (DOMAIN.md), used in the comments below:
 *   P pregnant 750,000   E early_childhood 750,000   SD 225,000   SMP 375,000
 *   SMA 500,000          D disability 600,000        L elderly 600,000
 * Caps in seeds/programme-policy.csv: 4 components, 3 children, 2 in early childhood. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "kks_csv.h"
#include "kks_err.h"
#include "kks_policy.h"
#include "kks_registry.h"
#include "kks_seeds.h"

#define SEEDS_DIR KKS_SOURCE_DIR "/seeds"

static kks_policy pol;

static void load(void)
{
    char err[512];
    cr_assert_eq(kks_policy_load(&pol, SEEDS_DIR, err, sizeof err), 0, "%s", err);
}

TestSuite(policy, .init = load);

static kks_period period(const char *program, const char *label)
{
    kks_period p;
    cr_assert_eq(kks_period_parse(program, label, &p), 0, "%s %s refused", program, label);
    return p;
}

Test(policy, real_seeds_load)
{
    static const int64_t stage[KKS_PKH_COMPONENTS] = {750000, 750000, 225000, 375000,
                                                      500000, 600000, 600000};
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++) {
        cr_assert_eq(pol.pkh_per_stage[i], stage[i], "component %d", i);
        cr_assert_eq(pol.pkh_per_year[i], stage[i] * 4, "component %d", i);
    }
    cr_assert_eq(pol.pkh_max_components, 4);
    cr_assert_eq(pol.pkh_max_children, 3);
    cr_assert_eq(pol.pkh_max_early_childhood, 2);
    cr_assert_eq(pol.pkh_stages_per_year, 4);
    cr_assert_eq(pol.bpnt_monthly, 200000);
    cr_assert_eq(pol.bpnt_max_months, 12);
    cr_assert_eq(pol.bpnt_cash_default, 0);
}

Test(policy, pkh_caps_table)
{
    /* counts: pregnant, early_childhood, sd, smp, sma, disability, elderly */
    static const struct {
        int c[KKS_PKH_COMPONENTS];
        int64_t amount;
        int capped;
        const char *what;
    } t[] = {
        {{0, 0, 0, 0, 0, 0, 0}, 0, 0, "all zero"},
        {{1, 0, 0, 0, 0, 0, 0}, 750000, 0, "pregnant: P"},
        {{0, 1, 1, 0, 0, 0, 0}, 975000, 0, "no cap: E 750 + SD 225"},
        {{0, 0, 0, 0, 0, 1, 1}, 1200000, 0, "elderly + disability: D 600 + L 600"},
        {{0, 0, 0, 0, 0, 2, 2}, 2400000, 0, "2 D + 2 L: 4 x 600, exactly 4 components"},
        {{1, 1, 0, 0, 1, 1, 0}, 2600000, 0, "4 components: P 750 + E 750 + SMA 500 + D 600"},
        {{1, 1, 0, 0, 1, 1, 1}, 2700000, 1,
         "5 components -> 4 highest: P 750 + E 750 + D 600 + L 600; SMA 500 dropped"},
        {{0, 0, 0, 0, 0, 2, 3}, 2400000, 1, "2 D + 3 L -> 4 x 600; one L dropped"},
        {{0, 1, 1, 1, 1, 0, 0}, 1625000, 1,
         "4 children -> 3: E 750 + SMA 500 + SMP 375; SD 225 dropped"},
        {{0, 0, 5, 0, 0, 0, 0}, 675000, 1, "5 SD -> 3 x 225"},
        {{0, 3, 0, 0, 0, 0, 0}, 1500000, 1, "3 early childhood -> 2 x 750; the third counts 0"},
        {{0, 3, 1, 0, 0, 0, 0}, 1725000, 1, "3 E + SD: E cap 2, then SD is the 3rd child: "
                                            "750 + 750 + 225"},
        {{0, 2, 1, 1, 1, 0, 0}, 2000000, 1,
         "2 E + SD + SMP + SMA -> 3 children: 750 + 750 + SMA 500"},
        {{1, 2, 0, 0, 2, 0, 0}, 2750000, 1,
         "P + 2 E + 2 SMA: children cap keeps E E SMA, 4 components: 750+750+750+500"},
        {{1, 0, 2, 2, 2, 1, 1}, 2450000, 1,
         "P + 2 SD + 2 SMP + 2 SMA + D + L: children SMA SMA SMP; then 4 highest of P 750, "
         "D 600, L 600, SMA 500, SMA 500, SMP 375: 750 + 600 + 600 + 500"},
        {{0, 3, 3, 3, 3, 3, 3}, 2700000, 1,
         "everything but pregnant: E 750 x2 (E cap), then D 600 + L 600 beat SMA 500"},
        {{2, 2, 0, 0, 0, 0, 0}, 3000000, 0, "2 P + 2 E: 4 x 750, the most a family gets"},
        {{20, 20, 20, 20, 20, 20, 20}, 3000000, 1, "every count at the registry's 20: 4 x 750"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int capped = -1;
        int64_t got = kks_policy_pkh_stage_amount(&pol, t[i].c, &capped);
        cr_assert_eq(got, t[i].amount, "%s: got %lld, want %lld", t[i].what, (long long)got,
                     (long long)t[i].amount);
        cr_assert_eq(capped, t[i].capped, "%s: capped %d", t[i].what, capped);
        cr_assert_eq(kks_policy_pkh_stage_amount(&pol, t[i].c, NULL), t[i].amount);
    }
    const int neg[KKS_PKH_COMPONENTS] = {0, -1, 0, 0, 0, 0, 0};
    cr_assert_eq(kks_policy_pkh_stage_amount(&pol, neg, NULL), KKS_EINVAL);
}

Test(policy, period_labels_good)
{
    static const struct {
        const char *program, *label, *canon;
        int year, first, months, stage;
    } t[] = {
        {"pkh", "2026-T1", "2026-T1", 2026, 1, 3, 1},
        {"pkh", "2026-T2", "2026-T2", 2026, 4, 3, 2},
        {"pkh", "2026-T3", "2026-T3", 2026, 7, 3, 3},
        {"pkh", "2026-T4", "2026-T4", 2026, 10, 3, 4},
        {"bpnt", "2026-11", "2026-11", 2026, 11, 1, 0},
        {"bpnt", "2026-01..02", "2026-01..02", 2026, 1, 2, 0},
        {"bpnt", "2026-01..03", "2026-01..03", 2026, 1, 3, 0},
        {"bpnt", "2026-01..12", "2026-01..12", 2026, 1, 12, 0},
        {"bpnt", "2026-11..11", "2026-11", 2026, 11, 1, 0},
        {"bpnt", "2000-01", "2000-01", 2000, 1, 1, 0},
        {"bpnt", "2099-12", "2099-12", 2099, 12, 1, 0},
        /* across a year end */
        {"bpnt", "2026-12..2027-02", "2026-12..2027-02", 2026, 12, 3, 0},
        {"bpnt", "2026-11..2027-01", "2026-11..2027-01", 2026, 11, 3, 0},
        {"bpnt", "2026-03..2026-05", "2026-03..05", 2026, 3, 3, 0},
        {"bpnt", "2026-07..2026-07", "2026-07", 2026, 7, 1, 0},
    };
    char why[200];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kks_period p = period(t[i].program, t[i].label);
        cr_assert_str_eq(p.label, t[i].canon);
        cr_assert_str_eq(kks_program_name(p.program), t[i].program);
        cr_assert(p.year == t[i].year && p.first_month == t[i].first && p.months == t[i].months &&
                      p.stage == t[i].stage,
                  "%s %s: %d %d %d %d", t[i].program, t[i].label, p.year, p.first_month,
                  p.months, p.stage);
        cr_assert_eq(kks_policy_period_check(&pol, &p, why, sizeof why), 0, "%s", why);
    }
}

Test(policy, period_months_are_ranges)
{
    int f, l;
    char a[8], b[8];
    kks_period p = period("bpnt", "2026-12..2027-02");
    kks_period_months(&p, &f, &l);
    kks_month_format(f, a);
    kks_month_format(l, b);
    cr_assert_str_eq(a, "2026-12");
    cr_assert_str_eq(b, "2027-02");
    cr_assert_eq(l - f, 2);
    cr_assert_eq(kks_month_of_date("2027-01-31"), f + 1);
    p = period("pkh", "2026-T4");
    kks_period_months(&p, &f, &l);
    cr_assert_eq(f, kks_month_of_date("2026-10-01"));
    cr_assert_eq(l, kks_month_of_date("2026-12-31"));
    /* BPNT cash per month across a year end: every month must allow it */
    kks_period x = period("bpnt", "2021-12..2022-01");
    cr_assert_eq(kks_policy_bpnt_amount(&pol, &x), 2 * pol.bpnt_monthly);
}

Test(policy, period_labels_bad)
{
    static const struct {
        const char *program, *label;
    } t[] = {
        {"pkh", "2026-T0"},     {"pkh", "2026-T5"},      {"pkh", "2026-t1"},
        {"pkh", "2026-T"},      {"pkh", "2026-T12"},     {"pkh", "2026-11"},
        {"pkh", "2026-T1 "},    {"bpnt", "2026-13"},     {"bpnt", "2026-00"},
        {"bpnt", "2026-11..10"}, {"bpnt", "2026-T1"},    {"bpnt", "2026-1"},
        {"bpnt", "26-11"},      {"bpnt", "2026/11"},     {"bpnt", "2026-11.."},
        {"bpnt", "2026-11..1"}, {"bpnt", "2026-11..013"}, {"bpnt", "2026-11-12"},
        {"bpnt", "2026-01..13"}, {"bpnt", "2026-12..01"}, {"bpnt", "1999-12"},
        {"bpnt", "2100-01"},    {"bpnt", ""},            {"bpnt", "garbage"},
        {"bpnt", "abcd-ef"},    {"bpnt", " 2026-11"},    {"bpnt", "2026-11\n"},
        {"bpnt", "2026-01..03..05"}, {"bpnt", "2026-01..03xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
        {"PKH", "2026-T1"},     {"sembako", "2026-11"},  {"", "2026-11"},
        {"bpnt", "2026-12..2028-01"}, {"bpnt", "2026-12..2025-01"}, {"bpnt", "2026-12..2026-11"},
        {"bpnt", "2099-12..2100-01"}, {"bpnt", "2026-12..2027-13"}, {"bpnt", "2026-12..2027/01"},
        {"bpnt", "2026-12..27-01"},   {"pkh", "2026-T4..2027-T1"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kks_period p = {.year = 7};
        cr_assert_eq(kks_period_parse(t[i].program, t[i].label, &p), KKS_EINVAL,
                     "%s '%s' accepted", t[i].program, t[i].label);
        cr_assert_eq(p.year, 7, "out touched on failure");
    }
    kks_period p;
    cr_assert_eq(kks_period_parse(NULL, "2026-11", &p), KKS_EINVAL);
    cr_assert_eq(kks_period_parse("bpnt", NULL, &p), KKS_EINVAL);
}

Test(policy, bpnt_batch_amounts)
{
    kks_period p1 = period("bpnt", "2026-11"), p2 = period("bpnt", "2026-11..12"),
               p3 = period("bpnt", "2026-01..03"), p12 = period("bpnt", "2026-01..12"),
               pkh = period("pkh", "2026-T4");
    cr_assert_eq(kks_policy_bpnt_amount(&pol, &p1), 200000);  /* 1 x 200,000 */
    cr_assert_eq(kks_policy_bpnt_amount(&pol, &p2), 400000);  /* 2 x 200,000 */
    cr_assert_eq(kks_policy_bpnt_amount(&pol, &p3), 600000);  /* 3 x 200,000 */
    cr_assert_eq(kks_policy_bpnt_amount(&pol, &p12), 2400000); /* 12 x 200,000 */
    cr_assert_eq(kks_policy_bpnt_amount(&pol, &pkh), KKS_EINVAL);
}

Test(policy, bpnt_cash_per_period)
{
    static const struct {
        const char *label;
        int allowed;
    } t[] = {
        {"2022-01", 1},      {"2022-02", 1},      {"2022-03", 1},      {"2022-04", 0},
        {"2022-12", 0},      {"2023-01", 1},      {"2023-03", 1},      {"2023-04", 0},
        {"2021-12", 0},      {"2026-11", 0},      {"2022-01..03", 1},  {"2023-01..02", 1},
        {"2022-02..04", 0},  {"2022-01..12", 0},  {"2024-01..03", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kks_period p = period("bpnt", t[i].label);
        cr_assert_eq(kks_policy_bpnt_cash_allowed(&pol, &p), t[i].allowed, "%s", t[i].label);
    }
    kks_period pkh = period("pkh", "2022-T1");
    cr_assert_eq(kks_policy_bpnt_cash_allowed(&pol, &pkh), 0, "a PKH period is never BPNT cash");
}

Test(policy, max_amounts)
{
    kks_period t4 = period("pkh", "2026-T4"), m = period("bpnt", "2026-11"),
               q = period("bpnt", "2026-01..03");
    /* PKH: the best family is 4 members at 750,000 (P P E E, or P x4): 3,000,000. */
    cr_assert_eq(kks_policy_max_amount(&pol, &t4), 3000000);
    cr_assert_eq(kks_policy_max_amount(&pol, &m), 200000);
    cr_assert_eq(kks_policy_max_amount(&pol, &q), 600000);
    /* nothing in the caps table may exceed it */
    const int big[KKS_PKH_COMPONENTS] = {20, 20, 20, 20, 20, 20, 20};
    cr_assert_leq(kks_policy_pkh_stage_amount(&pol, big, NULL), kks_policy_max_amount(&pol, &t4));
    kks_period bad = t4;
    bad.program = (kks_program)0;
    cr_assert_eq(kks_policy_max_amount(&pol, &bad), KKS_EINVAL);
}

/* ---- policies other than the real one: a temporary seeds directory ---------------------- */

static const char *const policy_files[] = {"pkh-components.csv", "programme-policy.csv",
                                           "periods.csv"};

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    char buf[4096];
    size_t n;
    cr_assert(in && out, "copy %s", from);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

/* Loads a policy from the real files with file replaced by text (NULL: left out), and file2 by
 * text2 when file2 is not NULL. */
static int load_custom2(const char *file, const char *text, const char *file2, const char *text2,
                        kks_policy *p, char *err, size_t cap)
{
    char dir[] = "/tmp/kks-policy-XXXXXX", path[300], from[300];
    int rc;
    cr_assert_not_null(mkdtemp(dir));
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, policy_files[i]);
        snprintf(from, sizeof from, "%s/%s", SEEDS_DIR, policy_files[i]);
        if (strcmp(policy_files[i], file) == 0) {
            if (text)
                put_file(path, text);
        } else if (file2 && strcmp(policy_files[i], file2) == 0) {
            put_file(path, text2);
        } else {
            copy_file(from, path);
        }
    }
    rc = kks_policy_load(p, dir, err, cap);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, policy_files[i]);
        unlink(path);
    }
    rmdir(dir);
    return rc;
}

static int load_custom(const char *file, const char *text, kks_policy *p, char *err, size_t cap)
{
    return load_custom2(file, text, NULL, NULL, p, err, cap);
}

#define POLICY_HEAD "key,value\n"
#define ELDERLY_KEYS "pkh_elderly_min_age,60\npkh_elderly_one_per_family,0\n"
#define POLICY_REST                                                                                \
    "pkh_max_components,4\npkh_max_children,3\npkh_max_early_childhood,2\n"                        \
    "pkh_stages_per_year,4\nbpnt_monthly,200000\nbpnt_cash_default,0\n" ELDERLY_KEYS

Test(policy, bad_seeds_refused)
{
    static const struct {
        const char *file, *text, *reason_has;
    } t[] = {
        {"programme-policy.csv", NULL, "cannot open"},
        {"programme-policy.csv", "k,v\n", "unexpected header"},
        {"programme-policy.csv", POLICY_HEAD POLICY_REST, "bpnt_max_months missing"},
        {"programme-policy.csv", POLICY_HEAD POLICY_REST "bpnt_max_months,12\nbpnt_max_months,3\n",
         "given twice"},
        {"programme-policy.csv", POLICY_HEAD POLICY_REST "bpnt_max_months,13\n", "1..12"},
        {"programme-policy.csv", POLICY_HEAD POLICY_REST "bpnt_max_months,-3\n", "1..12"},
        {"programme-policy.csv", POLICY_HEAD POLICY_REST "bpnt_max_months, 3\n", "1..12"},
        {"programme-policy.csv", POLICY_HEAD POLICY_REST "bpnt_max_months,3\nbpnt_weekly,1\n",
         "unknown key"},
        {"programme-policy.csv",
         POLICY_HEAD
         "pkh_max_components,4\npkh_max_children,3\npkh_max_early_childhood,2\n"
         "pkh_stages_per_year,5\nbpnt_monthly,200000\nbpnt_cash_default,0\n" ELDERLY_KEYS
         "bpnt_max_months,3\n",
         "whole months"},
        {"pkh-components.csv",
         "component,per_year,per_stage\npregnant,3000000,750000\nearly_childhood,3000000,750000\n"
         "sd,900000,225000\nsmp,1500000,375000\nsma,2000000,500000\ndisability,2400000,600000\n",
         "elderly missing"},
        {"pkh-components.csv",
         "component,per_year,per_stage\npregnant,3000000,750000\nearly_childhood,3000000,750000\n"
         "sd,900000,225000\nsmp,1500000,375000\nsma,2000000,500000\ndisability,2400000,600000\n"
         "elderly,2400000,600000\nelderly,2400000,600000\n",
         "given twice"},
        {"pkh-components.csv",
         "component,per_year,per_stage\npregnant,3000000,750000\nearly_childhood,3000000,750000\n"
         "sd,900000,225000\nsmp,1500000,375000\nsma,2000000,500000\ndisability,2400000,600000\n"
         "lansia,2400000,600000\n",
         "unknown component"},
        {"pkh-components.csv",
         "component,per_year,per_stage\npregnant,3000000,750000\nearly_childhood,3000000,750000\n"
         "sd,900000,225001\nsmp,1500000,375000\nsma,2000000,500000\ndisability,2400000,600000\n"
         "elderly,2400000,600000\n",
         "not 4 stages"},
        {"pkh-components.csv",
         "component,per_year,per_stage\npregnant,3000000,750000\nearly_childhood,3000000,750000\n"
         "sd,900000,0\nsmp,1500000,375000\nsma,2000000,500000\ndisability,2400000,600000\n"
         "elderly,2400000,600000\n",
         "whole rupiah"},
        {"pkh-components.csv", "component,per_year,per_stage\npregnant,3000000\n",
         "wrong number of fields"},
        {"periods.csv", "program,period,key,value\nbpnt,2022-13,bpnt_cash_allowed,1\n",
         "not a period"},
        {"periods.csv", "program,period,key,value\npkh,2022-T1,bpnt_cash_allowed,1\n",
         "line 2: PKH rules are per year"},
        {"periods.csv", "program,period,key,value\npkh,2022,bpnt_cash_allowed,1\n",
         "line 2: unknown key 'bpnt_cash_allowed' for pkh"},
        {"periods.csv", "program,period,key,value\nbpnt,2022-01,pkh_stages_per_year,6\n",
         "line 2: unknown key 'pkh_stages_per_year' for bpnt"},
        {"periods.csv", "program,period,key,value\npkh,2023,pkh_stages_per_year,5\n",
         "line 2: pkh_stages_per_year must be 4 (T1..T4) or 6 (B1..B6)"},
        {"periods.csv", "program,period,key,value\npkh,2023,pkh_stages_per_year,12\n",
         "4 (T1..T4) or 6 (B1..B6), not 12"},
        {"periods.csv", "program,period,key,value\npkh,2022,pkh_elderly_min_age,30\n",
         "line 2: pkh_elderly_min_age must be a whole number 40..100"},
        {"periods.csv", "program,period,key,value\npkh,2022,pkh_elderly_one_per_family,2\n",
         "pkh_elderly_one_per_family must be a whole number 0..1"},
        {"periods.csv",
         "program,period,key,value\npkh,2022,pkh_elderly_min_age,70\n"
         "pkh,2022,pkh_elderly_min_age,65\n",
         "line 3: pkh_elderly_min_age for 2022 given twice"},
        {"periods.csv", "program,period,key,value\nbpnt,2022-01,bpnt_cash_allowed,2\n", "0 or 1"},
        {"periods.csv",
         "program,period,key,value\nbpnt,2022-01..03,bpnt_cash_allowed,1\n"
         "bpnt,2022-03,bpnt_cash_allowed,0\n",
         "2022-03 given twice"},
        {"periods.csv", "program,period,key,value\nbpnt,\"2022-01,bpnt_cash_allowed,1\n",
         "unterminated"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kks_policy p;
        char err[512] = "";
        cr_assert_eq(load_custom(t[i].file, t[i].text, &p, err, sizeof err), KKS_EINVAL,
                     "case %zu accepted", i);
        cr_assert(strstr(err, t[i].reason_has), "case %zu: '%s' lacks '%s'", i, err,
                  t[i].reason_has);
        cr_assert(strstr(err, t[i].file), "case %zu: '%s' does not name the file", i, err);
    }
}

Test(policy, other_policies)
{
    kks_policy p;
    char err[512] = "", why[200] = "";
    /* A 3-month longest batch refuses 4 months; amounts follow the file. */
    cr_assert_eq(load_custom("programme-policy.csv",
                             POLICY_HEAD
                             "pkh_max_components,4\npkh_max_children,3\n"
                             "pkh_max_early_childhood,2\npkh_stages_per_year,4\n" ELDERLY_KEYS
                             "bpnt_monthly,150000\nbpnt_cash_default,1\n"
                             "bpnt_max_months,3\n",
                             &p, err, sizeof err),
                 0, "%s", err);
    kks_period q = period("bpnt", "2026-01..03"), q4 = period("bpnt", "2026-01..04");
    cr_assert_eq(kks_policy_bpnt_amount(&p, &q), 450000);
    cr_assert_eq(kks_policy_period_check(&p, &q4, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "bpnt_max_months"), "%s", why);
    cr_assert_eq(kks_policy_bpnt_amount(&p, &q4), KKS_EINVAL);
    cr_assert_eq(kks_policy_max_amount(&p, &q4), KKS_EINVAL);
    cr_assert_eq(kks_policy_bpnt_cash_allowed(&p, &q4), 0);
    /* cash by default now; the 2022/2023 rows only say 1 again */
    cr_assert_eq(kks_policy_bpnt_cash_allowed(&p, &q), 1);

    /* Six stages a year (paid every two months): quarter labels no longer fit. */
    cr_assert_eq(load_custom("programme-policy.csv",
                             POLICY_HEAD
                             "pkh_max_components,4\npkh_max_children,3\n"
                             "pkh_max_early_childhood,2\npkh_stages_per_year,6\n" ELDERLY_KEYS
                             "bpnt_monthly,200000\nbpnt_cash_default,0\n"
                             "bpnt_max_months,3\n",
                             &p, err, sizeof err),
                 KKS_EINVAL, "per_year amounts are 4 stages, not 6");
    cr_assert(strstr(err, "not 6 stages"), "%s", err);
    /* ... and with amounts for six stages, a quarter label is refused, not paid. */
    cr_assert_eq(load_custom2("programme-policy.csv",
                              POLICY_HEAD
                              "pkh_max_components,4\npkh_max_children,3\n"
                              "pkh_max_early_childhood,2\npkh_stages_per_year,6\n" ELDERLY_KEYS
                              "bpnt_monthly,200000\nbpnt_cash_default,0\n"
                              "bpnt_max_months,3\n",
                              "pkh-components.csv",
                              "component,per_year,per_stage\npregnant,3000000,500000\n"
                              "early_childhood,3000000,500000\nsd,900000,150000\n"
                              "smp,1500000,250000\nsma,2000000,333333\n"
                              "disability,2400000,400000\nelderly,2400000,400000\n",
                              &p, err, sizeof err),
                 KKS_EINVAL, "2,000,000 is not 6 x 333,333");
    cr_assert(strstr(err, "sma: per_year 2000000 is not 6 stages of 333333"), "%s", err);
    cr_assert_eq(load_custom2("programme-policy.csv",
                              POLICY_HEAD
                              "pkh_max_components,4\npkh_max_children,3\n"
                              "pkh_max_early_childhood,2\npkh_stages_per_year,6\n" ELDERLY_KEYS
                              "bpnt_monthly,200000\nbpnt_cash_default,0\n"
                              "bpnt_max_months,3\n",
                              "pkh-components.csv",
                              "component,per_year,per_stage\npregnant,3000000,500000\n"
                              "early_childhood,3000000,500000\nsd,900000,150000\n"
                              "smp,1500000,250000\nsma,2100000,350000\n"
                              "disability,2400000,400000\nelderly,2400000,400000\n",
                              &p, err, sizeof err),
                 0, "%s", err);
    kks_period t2 = period("pkh", "2026-T2");
    cr_assert_eq(kks_policy_period_check(&p, &t2, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "6 stages a year"), "%s", why);
    cr_assert_eq(kks_policy_max_amount(&p, &t2), KKS_EINVAL);

    /* Caps from the file: 1 early-childhood child, 2 children, 3 components. */
    cr_assert_eq(load_custom("programme-policy.csv",
                             POLICY_HEAD
                             "pkh_max_components,3\npkh_max_children,2\n"
                             "pkh_max_early_childhood,1\npkh_stages_per_year,4\n" ELDERLY_KEYS
                             "bpnt_monthly,200000\nbpnt_cash_default,0\n"
                             "bpnt_max_months,3\n",
                             &p, err, sizeof err),
                 0, "%s", err);
    const int fam[KKS_PKH_COMPONENTS] = {0, 2, 1, 0, 1, 1, 0};
    int capped = 0;
    /* E 750 (1 only), SMA 500 (2nd child), D 600: 3 components = 1,850,000 */
    cr_assert_eq(kks_policy_pkh_stage_amount(&p, fam, &capped), 1850000);
    cr_assert_eq(capped, 1);
    /* best family: P P P (no child cap on P) = 2,250,000 */
    kks_period t1 = period("pkh", "2026-T1");
    cr_assert_eq(kks_policy_max_amount(&p, &t1), 2250000);

    /* A batch with a month overridden to 0 under a default of 1. */
    cr_assert_eq(load_custom("periods.csv",
                             "program,period,key,value\nbpnt,2026-02,bpnt_cash_allowed,0\n"
                             "bpnt,2026-04..05,bpnt_cash_allowed,1\n",
                             &p, err, sizeof err),
                 0, "%s", err);
    kks_period jan = period("bpnt", "2026-01..03"), apr = period("bpnt", "2026-04..05");
    cr_assert_eq(kks_policy_bpnt_cash_allowed(&p, &jan), 0); /* default 0; Feb 0 */
    cr_assert_eq(kks_policy_bpnt_cash_allowed(&p, &apr), 1); /* both months listed 1 */
    kks_period apr6 = period("bpnt", "2026-04..06");
    cr_assert_eq(kks_policy_bpnt_cash_allowed(&p, &apr6), 0); /* June takes the default 0 */
}

/* ---- policy that varies by year: the elderly rule, the payment schedule ------------------ */

Test(policy, elderly_rule_by_year)
{
    int age, one;
    /* seeds/periods.csv: 2022 from 70 and one per family; 2024 from 60, each counts */
    kks_policy_pkh_elderly(&pol, 2022, &age, &one);
    cr_assert(age == 70 && one == 1, "2022: %d %d", age, one);
    kks_policy_pkh_elderly(&pol, 2024, &age, &one);
    cr_assert(age == 60 && one == 0, "2024: %d %d", age, one);
    kks_policy_pkh_elderly(&pol, 2026, &age, &one); /* no row: programme-policy.csv */
    cr_assert(age == 60 && one == 0, "2026: %d %d", age, one);

    /* a grandmother of 75, a grandfather of 72 and an aunt of 65 */
    const int ages[] = {75, 72, 65};
    cr_assert_eq(kks_policy_pkh_elderly_count(&pol, 2022, ages, 3), 1, "70+, one per family");
    cr_assert_eq(kks_policy_pkh_elderly_count(&pol, 2024, ages, 3), 3, "60+, each");
    cr_assert_eq(kks_policy_pkh_elderly_count(&pol, 2022, ages + 2, 1), 0, "65 is not 70");
    cr_assert_eq(kks_policy_pkh_elderly_count(&pol, 2024, ages + 2, 1), 1);
    cr_assert_eq(kks_policy_pkh_elderly_count(&pol, 2024, ages, -1), KKS_EINVAL);
    const int bad[] = {-1};
    cr_assert_eq(kks_policy_pkh_elderly_count(&pol, 2024, bad, 1), KKS_EINVAL);

    /* two elderly members (already of age) and an SD child: one elderly counts in 2022 */
    const int fam[KKS_PKH_COMPONENTS] = {0, 0, 1, 0, 0, 0, 2};
    kks_period t22 = period("pkh", "2022-T1"), t24 = period("pkh", "2024-T1");
    int capped = -1;
    cr_assert_eq(kks_policy_pkh_amount(&pol, &t22, fam, &capped), 600000 + 225000);
    cr_assert_eq(capped, 1, "the second elderly member was cut");
    cr_assert_eq(kks_policy_pkh_amount(&pol, &t24, fam, &capped), 2 * 600000 + 225000);
    cr_assert_eq(capped, 0);
    /* the most a family can get follows the rule: P P P P in both years, but a policy
     * whose best members are elderly shows the difference (below) */
    cr_assert_eq(kks_policy_max_amount(&pol, &t22), 4 * 750000);
}

Test(policy, six_payment_year)
{
    char why[200] = "";
    /* seeds/periods.csv: 2023 pays PKH in 6 two-monthly payments, B1..B6 */
    cr_assert_eq(kks_policy_pkh_stages(&pol, 2023), 6);
    cr_assert_eq(kks_policy_pkh_stages(&pol, 2026), 4);
    kks_period t1 = period("pkh", "2023-T1"), b3 = period("pkh", "2023-B3");
    cr_assert_eq(b3.first_month, 5);
    cr_assert_eq(b3.months, 2);
    cr_assert_eq(b3.stage, 3);
    cr_assert_eq(kks_policy_period_check(&pol, &t1, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "6 stages a year in 2023 (2023-B1..B6)"), "%s", why);
    cr_assert_eq(kks_policy_period_check(&pol, &b3, why, sizeof why), 0, "%s", why);
    kks_period b26 = period("pkh", "2026-B1");
    cr_assert_eq(kks_policy_period_check(&pol, &b26, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "(2026-T1..T4)"), "%s", why);
    cr_assert_eq(kks_policy_pkh_component(&pol, &b26, 0), KKS_EINVAL);

    /* every component's six payments add up to its annual amount exactly; the remainder
     * of a division goes to B6 (SMA: 2,000,000 = 5 x 333,333 + 333,335) */
    for (int c = 0; c < KKS_PKH_COMPONENTS; c++) {
        int64_t sum = 0;
        for (int k = 1; k <= 6; k++) {
            char label[24];
            snprintf(label, sizeof label, "2023-B%d", k);
            kks_period b = period("pkh", label);
            int64_t v = kks_policy_pkh_component(&pol, &b, c);
            cr_assert_geq(v, 1, "%s component %d", label, c);
            sum += v;
        }
        cr_assert_eq(sum, pol.pkh_per_year[c], "component %d: %lld", c, (long long)sum);
    }
    kks_period b1 = period("pkh", "2023-B1"), b6 = period("pkh", "2023-B6");
    const int sma = KKS_REG_PKH_SMA - KKS_REG_PKH_PREGNANT;
    cr_assert_eq(kks_policy_pkh_component(&pol, &b1, sma), 333333);
    cr_assert_eq(kks_policy_pkh_component(&pol, &b6, sma), 333335);
    cr_assert_eq(kks_policy_pkh_component(&pol, &b1, 0), 500000);
    /* a family's six payments are its annual amount: E E E SD SMA, capped the same way */
    const int fam[KKS_PKH_COMPONENTS] = {0, 3, 1, 0, 1, 0, 0};
    int64_t year = 0;
    for (int k = 1; k <= 6; k++) {
        char label[24];
        snprintf(label, sizeof label, "2023-B%d", k);
        kks_period b = period("pkh", label);
        year += kks_policy_pkh_amount(&pol, &b, fam, NULL);
    }
    /* E x 2 (early-childhood cap), then SMA (pays more than SD) as the third child; SD is
     * cut by the 3-child cap; SMA's B6 remainder makes the year exact */
    cr_assert_eq(year, 2 * 3000000 + 2000000);
    cr_assert_eq(kks_policy_max_amount(&pol, &b1), 4 * 500000);
}

Test(policy, elderly_first_policy)
{
    /* when the elderly component pays most, one-per-family changes the best family */
    kks_policy p;
    char err[512] = "";
    cr_assert_eq(load_custom2("pkh-components.csv",
                              "component,per_year,per_stage\npregnant,3000000,750000\n"
                              "early_childhood,3000000,750000\nsd,900000,225000\n"
                              "smp,1500000,375000\nsma,2000000,500000\n"
                              "disability,2400000,600000\nelderly,4000000,1000000\n",
                              "periods.csv",
                              "program,period,key,value\npkh,2022,pkh_elderly_one_per_family,1\n",
                              &p, err, sizeof err),
                 0, "%s", err);
    kks_period t22 = period("pkh", "2022-T1"), t24 = period("pkh", "2024-T1");
    cr_assert_eq(kks_policy_max_amount(&p, &t22), 1000000 + 3 * 750000);
    cr_assert_eq(kks_policy_max_amount(&p, &t24), 4 * 1000000);
}

/* ---- kksctl manifest, the built binary --------------------------------------------------- */

static void manifest_setup(void)
{
    load(); /* the expected amounts are worked out with the real policy */
    e2e_setup();
}

TestSuite(manifest, .init = manifest_setup, .fini = e2e_teardown, .timeout = 120);

#define MEDAN SEEDS_DIR "/dtsen-medan.csv"

/* Runs kksctl manifest ARGS with stdout in *out and stderr in *err (both malloc'd). */
static int manifest(char **out, char **err, const char *args)
{
    char cmd[2048], errpath[400];
    snprintf(errpath, sizeof errpath, "%s/manifest.err", E.dir);
    snprintf(cmd, sizeof cmd, "exec '%s' manifest --seeds '%s' %s 2>'%s'", e2e_bin("kksctl"),
             SEEDS_DIR, args, errpath);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int rc = e2e_run(out, argv);
    *err = e2e_slurp(errpath);
    cr_assert_not_null(*out);
    cr_assert_not_null(*err);
    return rc;
}

/* What the manifest should hold for dtsen-medan.csv, worked out here from the library. */
static void expect_medan(const kks_period *per, long *rows, int64_t *total)
{
    kks_seeds s;
    kks_csv c;
    kks_family fam;
    char err[512], why[200];
    FILE *f = fopen(MEDAN, "r");
    cr_assert_not_null(f);
    cr_assert_eq(kks_seeds_load(&s, SEEDS_DIR, err, sizeof err), 0, "%s", err);
    kks_csv_init(&c, f, 0);
    cr_assert_eq(kks_csv_next(&c), 1);
    *rows = 0;
    *total = 0;
    while (kks_csv_next(&c) == 1) {
        cr_assert_eq(kks_registry_parse(&s, (const char *const *)c.fields, c.nfields, &fam, why,
                                        sizeof why),
                     0, "%s", why);
        int64_t a = per->program == KKS_PROGRAM_PKH
                        ? kks_policy_pkh_amount(&pol, per, fam.pkh, NULL)
                        : (fam.bpnt ? kks_policy_bpnt_amount(&pol, per) : 0);
        if (a > 0) {
            (*rows)++;
            *total += a;
        }
    }
    kks_csv_close(&c);
    fclose(f);
}

/* Checks the manifest text: header, every row program,period,16 digits,positive amount. */
static void check_manifest(const char *out, const char *prefix, long *rows, int64_t *total)
{
    const char *p = out;
    cr_assert(strncmp(p, "program,period,kk,amount\n", 25) == 0, "header: %.40s", p);
    p += 25;
    *rows = 0;
    *total = 0;
    while (*p) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        cr_assert(strncmp(p, prefix, strlen(prefix)) == 0, "row %.60s", p);
        const char *kk = p + strlen(prefix);
        cr_assert(strspn(kk, "0123456789") == 16 && kk[16] == ',', "kk in %.60s", p);
        long long a = strtoll(kk + 17, NULL, 10);
        cr_assert_gt(a, 0);
        (*rows)++;
        *total += a;
        p = nl + 1;
    }
}

Test(manifest, pkh_stage_on_medan)
{
    char *out, *err;
    long rows, want_rows;
    int64_t total, want_total;
    kks_period per = period("pkh", "2026-T4");
    cr_assert_eq(manifest(&out, &err, "--program pkh --period 2026-T4 --registry " MEDAN), 0,
                 "%s", err);
    check_manifest(out, "pkh,2026-T4,", &rows, &total);
    expect_medan(&per, &want_rows, &want_total);
    cr_assert_eq(rows, want_rows);
    cr_assert_eq(total, want_total);
    /* lines 2-4 of the file, worked by hand: SD = 225,000; SD + SMP = 225,000 + 375,000;
     * 2 E + L = 1,500,000 + 600,000 */
    cr_assert(strstr(out, "\npkh,2026-T4,1271211209020001,225000\n"));
    cr_assert(strstr(out, "\npkh,2026-T4,1271071411150001,600000\n"));
    cr_assert(strstr(out, "\npkh,2026-T4,1271030105990001,2100000\n"));
    cr_assert(strstr(err, "families in the extract   240"), "%s", err);
    cr_assert(strstr(err, "skipped as invalid        0"), "%s", err);
    cr_assert(strstr(err, "total                     Rp"), "%s", err);
    free(out);
    free(err);
}

/* A year of six payments (2023 in the seeds): B1..B6 manifests add up, family by family,
 * to the annual amounts, which are four quarters of a year of four stages. */
Test(manifest, six_payments_sum_to_the_year)
{
    char *out, *err, args[300];
    long rows;
    int64_t total, six = 0, b1 = 0, quarter;
    for (int k = 1; k <= 6; k++) {
        char prefix[32];
        snprintf(args, sizeof args, "--program pkh --period 2023-B%d --registry " MEDAN, k);
        cr_assert_eq(manifest(&out, &err, args), 0, "%s", err);
        snprintf(prefix, sizeof prefix, "pkh,2023-B%d,", k);
        check_manifest(out, prefix, &rows, &total);
        six += total;
        if (k == 1)
            b1 = total;
        if (k == 1) /* 2 E + L: 2 x 500,000 + 400,000 */
            cr_assert(strstr(out, "\npkh,2023-B1,1271030105990001,1400000\n"), "%.300s", out);
        free(out);
        free(err);
    }
    cr_assert_eq(manifest(&out, &err, "--program pkh --period 2026-T1 --registry " MEDAN), 0,
                 "%s", err);
    check_manifest(out, "pkh,2026-T1,", &rows, &quarter);
    free(out);
    free(err);
    cr_assert_eq(six, 4 * quarter, "six payments %lld, four quarters %lld", (long long)six,
                 (long long)(4 * quarter));
    cr_assert_neq(b1 * 6, six, "SMA's remainder goes to B6");
    /* a quarter label in a year of six payments is a usage error, nothing written */
    cr_assert_eq(manifest(&out, &err, "--program pkh --period 2023-T1 --registry " MEDAN), 2);
    cr_assert(strstr(err, "2023-B1..B6"), "%s", err);
    cr_assert_str_eq(out, "");
    free(out);
    free(err);
}

Test(manifest, bpnt_batch_on_medan)
{
    char *out, *err;
    long rows, want_rows;
    int64_t total, want_total;
    kks_period per = period("bpnt", "2026-01..03");
    cr_assert_eq(manifest(&out, &err, "--program bpnt --period 2026-01..03 --registry " MEDAN), 0,
                 "%s", err);
    check_manifest(out, "bpnt,2026-01..03,", &rows, &total);
    expect_medan(&per, &want_rows, &want_total);
    cr_assert_eq(rows, want_rows);
    cr_assert_eq(total, want_total);
    cr_assert_eq(total, rows * 600000); /* 3 months x 200,000 each */
    free(out);
    free(err);
    /* "2026-11..11" is written as the canonical "2026-11" */
    cr_assert_eq(manifest(&out, &err, "--program bpnt --period 2026-11..11 --registry " MEDAN), 0);
    check_manifest(out, "bpnt,2026-11,", &rows, &total);
    cr_assert_eq(total, rows * 200000);
    free(out);
    free(err);
}

static void write_medan_with(const char *path, const char *extra)
{
    char *all = e2e_slurp(MEDAN);
    cr_assert_not_null(all);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(all, f);
    fputs(extra, f);
    fclose(f);
    free(all);
}

Test(manifest, invalid_rows_skipped_and_reported)
{
    char path[400], *out, *err, args[600];
    long rows;
    int64_t total;
    snprintf(path, sizeof path, "%s/bad-rows.csv", E.dir);
    /* line 242: a NIK whose date disagrees; line 243: the KK of line 2 again */
    write_medan_with(path,
                     "1271011502210001,1271015707820001,Tetty Br Hutapea,1982-07-16,P,Jl. X,"
                     "Pasar Merah Barat,Medan Kota,1271,3,BTN,0,2,0,0,0,0,0,0\n"
                     "1271211209020001,1271215607820001,Tetty Br Hutapea,1982-07-16,P,Jl. X,"
                     "Tanjung Sari,Medan Selayang,1271,3,BTN,0,2,0,0,0,0,0,0\n");
    snprintf(args, sizeof args, "--program pkh --period 2026-T4 --registry %s", path);
    cr_assert_eq(manifest(&out, &err, args), 1, "%s", err);
    check_manifest(out, "pkh,2026-T4,", &rows, &total);
    cr_assert_gt(rows, 100);
    cr_assert(strstr(err, "families in the extract   242"), "%s", err);
    cr_assert(strstr(err, "skipped as invalid        2"), "%s", err);
    cr_assert(strstr(err, "line 242: NIK date"), "%s", err);
    cr_assert(strstr(err, "line 243: KK 1271211209020001 appears twice"), "%s", err);
    cr_assert(strstr(err, "first on line 2"), "%s", err);
    free(out);
    free(err);
}

Test(manifest, malformed_files_write_nothing)
{
    static const struct {
        const char *name, *text, *reason_has;
    } t[] = {
        {"header.csv", "kk,nik\n1,2\n", "not a registry extract"},
        {"empty.csv", "", "not a registry extract"},
        {"quote.csv", "\"1271211209020001,x\n", "unterminated"},
    };
    char path[400], args[600], *out, *err;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", E.dir, t[i].name);
        if (strcmp(t[i].name, "quote.csv") == 0)
            write_medan_with(path, t[i].text); /* good rows first: still nothing written */
        else
            put_file(path, t[i].text);
        snprintf(args, sizeof args, "--program bpnt --period 2026-11 --registry %s", path);
        cr_assert_eq(manifest(&out, &err, args), 2, "%s: %s", t[i].name, err);
        cr_assert_str_eq(out, "", "%s wrote to stdout", t[i].name);
        cr_assert(strstr(err, t[i].reason_has), "%s: %s", t[i].name, err);
        free(out);
        free(err);
    }
    /* binary: a NUL byte after good rows */
    snprintf(path, sizeof path, "%s/binary.csv", E.dir);
    write_medan_with(path, "");
    FILE *f = fopen(path, "a");
    fwrite("12\0\x01\x02\n", 1, 6, f);
    fclose(f);
    snprintf(args, sizeof args, "--program bpnt --period 2026-11 --registry %s", path);
    cr_assert_eq(manifest(&out, &err, args), 2, "%s", err);
    cr_assert_str_eq(out, "");
    cr_assert(strstr(err, "NUL"), "%s", err);
    free(out);
    free(err);
    /* an oversized record (a 100 KiB name) */
    snprintf(path, sizeof path, "%s/big.csv", E.dir);
    write_medan_with(path, "1271211209020002,1271215312640004,");
    f = fopen(path, "a");
    for (int i = 0; i < 100 * 1024; i++)
        fputc('a', f);
    fputs(",1964-12-13,P,x,y,z,1271,4,BNI,0,0,1,0,0,0,0,1\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--program bpnt --period 2026-11 --registry %s", path);
    cr_assert_eq(manifest(&out, &err, args), 2, "%s", err);
    cr_assert_str_eq(out, "");
    cr_assert(strstr(err, "longer than"), "%s", err);
    free(out);
    free(err);
}

Test(manifest, usage_errors)
{
    static const char *const bad[] = {
        "--program pkh --registry " MEDAN,
        "--period 2026-T4 --registry " MEDAN,
        "--program pkh --period 2026-T4",
        "--program sembako --period 2026-11 --registry " MEDAN,
        "--program pkh --period 2026-T5 --registry " MEDAN,
        "--program pkh --period 2026-11 --registry " MEDAN,
        "--program bpnt --period 2026-11..10 --registry " MEDAN,
        "--program bpnt --period 2026-11 --registry /nonexistent/x.csv",
        "--program bpnt --period 2026-11 --registry " SEEDS_DIR,
        "--program bpnt --period 2026-11 --registry " MEDAN " extra",
        "--program bpnt --period 2026-11 --registry " MEDAN " --seeds /nonexistent",
        "--bogus",
    };
    char *out, *err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(manifest(&out, &err, bad[i]), 2, "%s: %s", bad[i], err);
        cr_assert_str_eq(out, "", "%s wrote to stdout", bad[i]);
        free(out);
        free(err);
    }
    cr_assert_eq(manifest(&out, &err, "--help"), 0);
    cr_assert(strstr(out, "usage: kksctl manifest"));
    free(out);
    free(err);
}
