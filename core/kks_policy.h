/* Programme policy (DOMAIN.md): what PKH and BPNT pay, in which period, and
 * whether BPNT may be taken as cash. Every number is read from the seeds
 * directory; nothing here is hard-coded in C.
 *
 *   pkh-components.csv   component,per_year,per_stage   the seven PKH components
 *   programme-policy.csv key,value                      caps, BPNT amount, defaults
 *   periods.csv          program,period,key,value       per-year (PKH) and per-month
 *                                                       (BPNT) overrides
 *
 * PKH rules that change from year to year (the payment schedule, the elderly
 * rule) are programme-policy.csv defaults that a periods.csv row "pkh,YYYY,key,
 * value" overrides for one year. BPNT rules are per month.
 *
 * Period labels: PKH "YYYY-T1".."YYYY-T4", a stage of three calendar months
 * (T1 Jan-Mar .. T4 Oct-Dec) in a year of 4 stages, or "YYYY-B1".."YYYY-B6", a
 * payment of two months (B1 Jan-Feb .. B6 Nov-Dec) in a year of 6 two-monthly
 * payments; BPNT "YYYY-MM", "YYYY-MM..MM" for a batch of
 * months in one year, or "YYYY-MM..YYYY-MM" for a batch that crosses a year
 * end. Every period is a range of calendar months: a family is paid at most
 * once per programme and month, whatever labels say it (kks_period_months).
 * Money is int64_t whole rupiah. */
#ifndef KKS_POLICY_H
#define KKS_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "kks_registry.h" /* KKS_PKH_COMPONENTS and the component order */

/* Years a period label may name: the bounds of the label format, not a policy. */
#define KKS_PERIOD_YEAR_MIN 2000
#define KKS_PERIOD_YEAR_MAX 2099
#define KKS_PERIOD_LABEL_MAX 24 /* "2026-12..2027-02" and its NUL fit */

typedef enum kks_program { KKS_PROGRAM_PKH = 1, KKS_PROGRAM_BPNT = 2 } kks_program;

typedef struct kks_period {
    kks_program program;
    int year;                         /* KKS_PERIOD_YEAR_MIN .. KKS_PERIOD_YEAR_MAX */
    int first_month;                  /* 1..12: PKH T1 = 1, T2 = 4, ..; B1 = 1, B2 = 3, .. */
    int months;                       /* PKH 3 (T) or 2 (B); BPNT 1..24 (may cross a year) */
    int stage;                        /* PKH 1..4 (T) or 1..6 (B); BPNT 0 */
    char label[KKS_PERIOD_LABEL_MAX]; /* canonical: "2026-T4", "2026-11", "2026-01..03" */
} kks_period;

/* A loaded policy: a plain value, no heap, nothing to close. Read-only once
 * loaded; use the functions below rather than the fields where one exists. */
typedef struct kks_policy {
    /* pkh-components.csv, in kks_family.pkh order (pregnant .. elderly). */
    int64_t pkh_per_year[KKS_PKH_COMPONENTS];
    int64_t pkh_per_stage[KKS_PKH_COMPONENTS];
    /* programme-policy.csv */
    int pkh_max_components, pkh_max_children, pkh_max_early_childhood, pkh_stages_per_year;
    int pkh_elderly_min_age;        /* the elderly component: from this age */
    int pkh_elderly_one_per_family; /* 1: one elderly member per family counts; 0: each does */
    int64_t bpnt_monthly;
    int bpnt_max_months, bpnt_cash_default;
    /* periods.csv: bpnt_cash_allowed per month, -1 where no row names the month. */
    signed char bpnt_cash[KKS_PERIOD_YEAR_MAX - KKS_PERIOD_YEAR_MIN + 1][12];
    /* periods.csv "pkh,YYYY" rows, -1 where no row names the year: use the functions. */
    signed char pkh_year_stages[KKS_PERIOD_YEAR_MAX - KKS_PERIOD_YEAR_MIN + 1];
    signed char pkh_year_elderly_age[KKS_PERIOD_YEAR_MAX - KKS_PERIOD_YEAR_MIN + 1];
    signed char pkh_year_elderly_one[KKS_PERIOD_YEAR_MAX - KKS_PERIOD_YEAR_MIN + 1];
    /* Derived at load: components by per-stage amount, highest first (ties:
     * header order), and the most one family can get in a stage. */
    int pkh_order[KKS_PKH_COMPONENTS];
    int64_t pkh_max_stage;
} kks_policy;

/* Loads the three files from dir. Every key must be present once, every
 * component listed once, each amount 1..1,000,000,000,000 and
 * per_year = per_stage x pkh_stages_per_year (the default schedule; a year with
 * another schedule derives its amounts, kks_policy_pkh_component). A schedule is
 * 4 stages or 6 two-monthly payments. periods.csv rows:
 *   bpnt,<month or batch>,bpnt_cash_allowed,0|1
 *   pkh,<YYYY>,pkh_stages_per_year,4|6
 *   pkh,<YYYY>,pkh_elderly_min_age,<40..100>
 *   pkh,<YYYY>,pkh_elderly_one_per_family,0|1
 * each month or year and key at most once. Returns 0, or KKS_EINVAL with the
 * file, line and reason in err, or KKS_ENOMEM. */
int kks_policy_load(kks_policy *p, const char *dir, char *err, size_t cap);

/* Parses a period label for program "pkh" or "bpnt" (exact, lower case). The
 * syntax only: YYYY four digits in range; PKH T1..T4 or B1..B6; BPNT month 01..12, and for
 * "MM..NN" NN >= MM in the same year. "2026-11..11" is the month "2026-11".
 * Returns 0, or KKS_EINVAL (out untouched). kks_policy_period_check() says
 * whether the policy accepts it. */
int kks_period_parse(const char *program, const char *label, kks_period *out);

/* A calendar month as one number (year * 12 + month - 1), so that periods
 * compare as ranges: *first and *last are the period's first and last month. */
void kks_period_months(const kks_period *per, int *first, int *last);
/* "2026-02" for a month number; out holds 8 bytes. */
void kks_month_format(int month, char out[8]);
/* The month number of a YYYY-MM-DD date (no validation beyond the digits). */
int kks_month_of_date(const char *ymd);

/* "pkh" or "bpnt" ("?" for anything else). */
const char *kks_program_name(kks_program program);

/* Whether the policy accepts the period: a BPNT batch of at most
 * bpnt_max_months; a PKH stage of the year's schedule (T1..T4 in a year of 4
 * stages, B1..B6 in a year of 6). Returns 0, or KKS_EINVAL with the reason in why. */
int kks_policy_period_check(const kks_policy *p, const kks_period *per, char *why, size_t cap);

/* The year's PKH payment schedule: 4 (stages T1..T4) or 6 (payments B1..B6). */
int kks_policy_pkh_stages(const kks_policy *p, int year);
/* The year's elderly rule: the minimum age, and 1 if only one elderly member per family
 * counts (0: each one does). */
void kks_policy_pkh_elderly(const kks_policy *p, int year, int *min_age, int *one_per_family);
/* How many elderly members count in year: those of the ages given (in whole years on
 * the first day of the period) at or above the year's minimum, then at most one if
 * the year counts one per family. n < 0 or a negative age is KKS_EINVAL. */
int kks_policy_pkh_elderly_count(const kks_policy *p, int year, const int *ages, int n);

/* What component c (kks_family.pkh order) pays in the PKH period per, which the policy
 * accepts: per_year / stages in whole rupiah, rounded down, and the year's last stage
 * (T4 or B6) also takes the remainder, so that the stages of a year add up to per_year
 * exactly (SMA Rp2,000,000 in 6 payments: B1..B5 Rp333,333, B6 Rp333,335). KKS_EINVAL
 * for a period the policy refuses or a bad c. */
int64_t kks_policy_pkh_component(const kks_policy *p, const kks_period *per, int c);

/* What one family gets in the PKH period per: the caps of kks_policy_pkh_stage_amount,
 * over the period's component amounts (kks_policy_pkh_component), with the elderly
 * count cut to one when the year counts one per family (counts[elderly] is the number
 * of members already at the year's minimum age: kks_policy_pkh_elderly_count). Returns
 * the amount, or KKS_EINVAL for a refused period or a negative count. */
int64_t kks_policy_pkh_amount(const kks_policy *p, const kks_period *per,
                              const int counts[KKS_PKH_COMPONENTS], int *capped);

/* What one family gets per PKH stage of the default schedule (per_stage amounts, no
 * per-year elderly rule), from its counts of members per component
 * (kks_family.pkh order: pregnant, early_childhood, sd, smp, sma, disability,
 * elderly), after the caps:
 *   - at most pkh_max_early_childhood members counted in early childhood;
 *   - at most pkh_max_children counted as children (early_childhood, sd, smp, sma);
 *   - at most pkh_max_components counted in all.
 * Where a cap drops members, the highest-paying ones are kept: members are taken
 * from the highest per-stage amount down, each while every cap it falls under
 * has room. The caps are nested (early childhood within children within all),
 * so this greedy choice gives the largest total the caps allow. A member a cap
 * drops is not moved to another component: 3 early-childhood children under a
 * cap of 2 count 2 x early_childhood, and the third counts for nothing.
 *
 * A person who qualifies twice counts once, under the highest-paying component:
 * the extract gives counts, not people, so each count is taken to be a
 * different person, already listed by the registry under the one component that
 * pays most (an elderly person with a severe disability is 1 elderly or 1
 * disability, never both). This function cannot see a person listed twice.
 *
 * *capped (may be NULL) is set to 1 when a cap dropped anyone, else 0. Returns
 * the amount (0 for no components), or KKS_EINVAL for a negative count. */
int64_t kks_policy_pkh_stage_amount(const kks_policy *p, const int counts[KKS_PKH_COMPONENTS],
                                    int *capped);

/* bpnt_monthly x months for a BPNT period the policy accepts; KKS_EINVAL for a
 * PKH period or a batch longer than bpnt_max_months. */
int64_t kks_policy_bpnt_amount(const kks_policy *p, const kks_period *per);

/* 1 if BPNT money credited for this period may be withdrawn as cash: each month
 * takes its periods.csv row, or bpnt_cash_default without one, and a batch is
 * allowed only if every month in it is allowed. 0 otherwise, and 0 (never an
 * error code) for a PKH period or a period the policy refuses, so a caller's
 * "if (allowed)" fails safe. */
int kks_policy_bpnt_cash_allowed(const kks_policy *p, const kks_period *per);

/* The most one family can receive for the period, for refusing a credit over
 * policy: PKH, the period's amount (kks_policy_pkh_amount) for the best family the
 * caps and the year's elderly rule allow; BPNT, the batch amount. KKS_EINVAL for a
 * period the policy refuses. */
int64_t kks_policy_max_amount(const kks_policy *p, const kks_period *per);

#endif
