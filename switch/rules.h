/* Authorisation rules as pure functions: each takes what it needs and returns
 * NULL (the rule holds) or the response code that declines, with the reason in
 * why. No I/O, no database: tests/test_txn.c calls them directly. */
#ifndef KKS_RULES_H
#define KKS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "kks_catalog.h"
#include "kks_policy.h"

/* seeds/transaction-policy.csv */
typedef struct txn_policy {
    int64_t atm_note;             /* ATM amounts are multiples of this */
    int64_t daily_withdraw_limit; /* rupiah per card per business day */
    int64_t daily_withdraw_count; /* withdrawals per card per business day */
    int64_t max_amount;           /* any one transaction */
    int64_t issuer_timeout_ms;    /* then 91 */
} txn_policy;

/* Loads dir/transaction-policy.csv (key,value: every key above, once, in its range).
 * 0, or KKS_EINVAL with the file, line and reason in err, or KKS_ENOMEM. */
int rules_load(txn_policy *p, const char *dir, char *err, size_t cap);

/* Days from 1970-01-01 of a valid YYYY-MM-DD, or INT32_MIN for anything else. */
int32_t rules_day_number(const char *ymd);
/* The business date (WIB, UTC+7) of a UTC time. out holds 11 bytes. */
void rules_wib_date(int64_t unix_seconds, char out[11]);

/* The terminal's local date may be at most one day from the switch's
 * business date (its clock sets no policy): else 12. */
const char *rules_local_date(const char *bdate, const char *local_date, char *why, size_t cap);

/* A cash withdrawal: where, how much, and from which wallet in which month
 * (the business date's). kind is enum kks_terminal_kind. */
const char *rules_withdraw(const txn_policy *p, const kks_policy *pol, int kind, int64_t amount,
                           int bpnt_wallet, const char *bdate, char *why, size_t cap);
/* Daily limit per card: already withdrawn today + amount (61). */
const char *rules_daily_limit(const txn_policy *p, int64_t already, int64_t amount, char *why,
                              size_t cap);
/* Daily frequency limit per card: count approved withdrawals today already; one
 * more may be made while count < daily_withdraw_count, else 65. A negative count
 * (the journal could not be read) is 96: a limit never fails open. */
const char *rules_daily_count(const txn_policy *p, int64_t count, char *why, size_t cap);

/* One priced line of a purchase. */
typedef struct rules_line {
    const kks_item *item;
    uint32_t qty;
    int64_t total;
} rules_line;

/* A purchase: only at an e-warong; items known, 1..999 each, and with BPNT
 * only the categories allowed in the business date's month (bpnt-categories.csv,
 * bpnt-category-periods.csv; the first item outside them is named, 57); the
 * total within the maximum. Fills lines (n of them) and *total; on a decline
 * for one item, *refused is its index (else n). */
const char *rules_purchase(const txn_policy *p, const kks_catalog *cat, int kind, int bpnt_wallet,
                           const char *bdate,
                           const char *const *skus, const uint32_t *qtys, size_t n,
                           rules_line *lines, int64_t *total, size_t *refused, char *why,
                           size_t cap);
#define RULES_MAX_ITEMS 50

#endif
