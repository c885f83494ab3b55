#include "rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kks_csv.h"
#include "kks_err.h"
#include "kks_rc.h"
#include "kks_registry.h"

/* transaction-policy.csv keys, their slots and ranges. Every key is required, once. */
#define TXP_KEYS 5
typedef struct txp_loader {
    txn_policy *p;
    int seen[TXP_KEYS];
} txp_loader;

static int64_t *txp_slot(txn_policy *p, int i)
{
    int64_t *slots[TXP_KEYS] = {&p->atm_note, &p->daily_withdraw_limit, &p->daily_withdraw_count,
                                &p->max_amount, &p->issuer_timeout_ms};
    return slots[i];
}

static const struct {
    const char *key;
    int64_t lo, hi;
} txp_keys[TXP_KEYS] = {
    {"atm_note", 1000, 1000000},
    {"daily_withdraw_limit", 1, 1000000000},
    {"daily_withdraw_count", 1, 1000},
    {"max_amount", 1, 100000000000},
    {"issuer_timeout_ms", 100, 60000},
};

static int txp_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    txp_loader *l = ctx;
    for (int i = 0; i < TXP_KEYS; i++) {
        if (strcmp(c->fields[0], txp_keys[i].key) != 0)
            continue;
        if (l->seen[i]) {
            snprintf(why, cap, "%s given twice", txp_keys[i].key);
            return -1;
        }
        if (kks_parse_digits(c->fields[1], txp_keys[i].lo, txp_keys[i].hi, txp_slot(l->p, i)) <
            0) {
            snprintf(why, cap, "%s must be a whole number %" PRId64 "..%" PRId64 ", not '%.20s'",
                     txp_keys[i].key, txp_keys[i].lo, txp_keys[i].hi, c->fields[1]);
            return -1;
        }
        l->seen[i] = 1;
        return 0;
    }
    snprintf(why, cap, "unknown key '%.40s'", c->fields[0]);
    return -1;
}

int rules_load(txn_policy *p, const char *dir, char *err, size_t cap)
{
    static const char *const hdr[] = {"key", "value"};
    txp_loader l = {.p = p};
    int rc;
    memset(p, 0, sizeof *p);
    if ((rc = kks_csv_load(&l, dir, "transaction-policy.csv", hdr, 2, txp_row, err, cap)) < 0)
        return rc;
    for (int i = 0; i < TXP_KEYS; i++) {
        if (!l.seen[i]) {
            snprintf(err, cap, "%s/transaction-policy.csv: %s missing", dir, txp_keys[i].key);
            return KKS_EINVAL;
        }
    }
    return 0;
}

/* Howard Hinnant's days_from_civil. */
int32_t rules_day_number(const char *ymd)
{
    int y, m, d;
    if (!ymd || kks_ymd_parse(ymd, &y, &m, &d) < 0)
        return INT32_MIN;
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

void rules_wib_date(int64_t unix_seconds, char out[11])
{
    time_t t = (time_t)(unix_seconds + 7 * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[48];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1,
             tm.tm_mday);
    memcpy(out, buf, 10);
    out[10] = '\0';
}

const char *rules_local_date(const char *bdate, const char *local_date, char *why, size_t cap)
{
    int32_t b = rules_day_number(bdate), l = rules_day_number(local_date);
    if (b == INT32_MIN || l == INT32_MIN) {
        snprintf(why, cap, "local date must be YYYY-MM-DD");
        return KKS_RC_INVALID_TXN;
    }
    if (l - b > 1 || b - l > 1) {
        snprintf(why, cap, "terminal date %s is more than a day from the business date %s",
                 local_date, bdate);
        return KKS_RC_INVALID_TXN;
    }
    return NULL;
}

const char *rules_withdraw(const txn_policy *p, const kks_policy *pol, int kind, int64_t amount,
                           int bpnt_wallet, const char *bdate, char *why, size_t cap)
{
    if (kind != KKS_TERMINAL_ATM && kind != KKS_TERMINAL_EWARONG) {
        snprintf(why, cap, "cash withdrawal only at an ATM or e-warong");
        return KKS_RC_NOT_PERMITTED_TERMINAL;
    }
    if (amount <= 0 || amount > p->max_amount) {
        snprintf(why, cap, "amount must be Rp1 to Rp%" PRId64, p->max_amount);
        return KKS_RC_INVALID_AMOUNT;
    }
    if (kind == KKS_TERMINAL_ATM && amount % p->atm_note != 0) {
        snprintf(why, cap, "an ATM pays in notes of Rp%" PRId64, p->atm_note);
        return KKS_RC_INVALID_AMOUNT;
    }
    if (bpnt_wallet) {
        kks_period per;
        char label[8];
        snprintf(label, sizeof label, "%.7s", bdate);
        if (kks_period_parse("bpnt", label, &per) < 0 ||
            !kks_policy_bpnt_cash_allowed(pol, &per)) {
            snprintf(why, cap, "BPNT may not be withdrawn as cash in %s; it buys staple food",
                     label);
            return KKS_RC_NOT_PERMITTED_CARD;
        }
    }
    return NULL;
}

const char *rules_daily_limit(const txn_policy *p, int64_t already, int64_t amount, char *why,
                              size_t cap)
{
    if (already < 0) {
        snprintf(why, cap, "system malfunction; nothing moved");
        return KKS_RC_SYSTEM;
    }
    if (already + amount > p->daily_withdraw_limit) {
        snprintf(why, cap, "daily cash limit Rp%" PRId64 " reached (Rp%" PRId64 " withdrawn today)",
                 p->daily_withdraw_limit, already);
        return KKS_RC_OVER_LIMIT;
    }
    return NULL;
}

const char *rules_daily_count(const txn_policy *p, int64_t count, char *why, size_t cap)
{
    if (count < 0) {
        snprintf(why, cap, "system malfunction; nothing moved");
        return KKS_RC_SYSTEM;
    }
    if (count >= p->daily_withdraw_count) {
        snprintf(why, cap, "at most %" PRId64 " cash withdrawals a day per card; %" PRId64
                 " made today", p->daily_withdraw_count, count);
        return KKS_RC_OVER_FREQUENCY;
    }
    return NULL;
}

const char *rules_purchase(const txn_policy *p, const kks_catalog *cat, int kind, int bpnt_wallet,
                           const char *bdate,
                           const char *const *skus, const uint32_t *qtys, size_t n,
                           rules_line *lines, int64_t *total, size_t *refused, char *why,
                           size_t cap)
{
    int64_t sum = 0;
    *refused = n;
    if (kind != KKS_TERMINAL_EWARONG) {
        snprintf(why, cap, "purchases only at an e-warong");
        return KKS_RC_NOT_PERMITTED_TERMINAL;
    }
    if (n == 0 || n > RULES_MAX_ITEMS) {
        snprintf(why, cap, "a purchase has 1 to %d items", RULES_MAX_ITEMS);
        return KKS_RC_FORMAT;
    }
    for (size_t i = 0; i < n; i++) {
        const kks_item *ci = kks_catalog_find(cat, skus[i]);
        if (!ci) {
            snprintf(why, cap, "unknown item %.20s", skus[i]);
            *refused = i;
            return KKS_RC_INVALID_TXN;
        }
        if (qtys[i] == 0 || qtys[i] > 999) {
            snprintf(why, cap, "quantity of %.20s must be 1 to 999", skus[i]);
            return KKS_RC_FORMAT;
        }
        if (bpnt_wallet && !kks_catalog_bpnt_allowed_in(cat, ci, kks_month_of_date(bdate))) {
            snprintf(why, cap, "%s (%s) may not be bought with BPNT in %.7s; only staple food",
                     ci->name, ci->sku, bdate);
            *refused = i;
            return KKS_RC_NOT_PERMITTED_CARD;
        }
        lines[i].item = ci;
        lines[i].qty = qtys[i];
        lines[i].total = ci->price * (int64_t)qtys[i];
        sum += lines[i].total; /* at most 50 x 999 x a catalogue price: no overflow */
    }
    if (sum > p->max_amount) {
        snprintf(why, cap, "purchase total over the maximum");
        return KKS_RC_INVALID_AMOUNT;
    }
    *total = sum;
    return NULL;
}
