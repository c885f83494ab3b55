/* The e-warong catalogue and the known terminals, read from the seeds directory.
 *
 *   staples.csv          sku,name,category,unit,price   what an e-warong sells
 *   bpnt-categories.csv  category,allowed               which categories BPNT may buy (1/0)
 *   bpnt-category-periods.csv  period,category,allowed  the same, for some months only
 *   terminals.csv        terminal_id,kind,name,merchant_id,bank,kecamatan_code,address
 *
 * Which goods BPNT may buy is policy (DOMAIN.md, SPEC §7: a BPNT purchase with any item
 * outside the allowed categories is 57): it lives in bpnt-categories.csv, never in C.
 * A terminal's kind comes from its ID prefix (SPEC §10); terminals.csv names the merchant or
 * bank behind each known terminal, and kks_terminal_kind_of() serves terminals not in it.
 *
 * Both tables are plain values with fixed arrays: no heap, nothing to close, read-only once
 * loaded and safe to share between threads. A kks_terminals is about 1.3 MB, so keep it in
 * static or heap-allocated state rather than on a thread's stack. Prices are int64_t whole
 * rupiah. */
#ifndef KKS_CATALOG_H
#define KKS_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "kks_policy.h" /* period labels */

#define KKS_CATALOG_MAX_ITEMS 512
#define KKS_CATALOG_MAX_CATEGORIES 64
#define KKS_CATALOG_PRICE_MAX 100000000LL /* Rp100 million for one unit of one item */
#define KKS_SKU_MAX 15                    /* A-Z, 0-9 and '-', e.g. "BRS-PRM-5KG" */
#define KKS_CATEGORY_MAX 31               /* a-z, 0-9 and '_', e.g. "protein_hewani" */

typedef struct kks_item {
    char sku[KKS_SKU_MAX + 1];
    char name[80]; /* Bahasa Indonesia, e.g. "Beras medium 5 kg" */
    char category[KKS_CATEGORY_MAX + 1];
    char unit[24];      /* selling unit: "kg", "karung", "tray", ... */
    int64_t price;      /* whole rupiah per unit, 1..KKS_CATALOG_PRICE_MAX */
    int category_index; /* into kks_catalog.categories */
} kks_item;

typedef struct kks_category {
    char name[KKS_CATEGORY_MAX + 1];
    int bpnt_allowed; /* 1 or 0, from bpnt-categories.csv */
} kks_category;

#define KKS_CATALOG_MAX_PERIOD_RULES 256

/* A bpnt-category-periods.csv row: in months first..last (kks_period_months numbers) the
 * category's allowed overrides bpnt-categories.csv. */
typedef struct kks_category_rule {
    int first_month, last_month;
    int category_index;
    int bpnt_allowed;
} kks_category_rule;

typedef struct kks_catalog {
    kks_item items[KKS_CATALOG_MAX_ITEMS]; /* in file order */
    int nitems;
    kks_category categories[KKS_CATALOG_MAX_CATEGORIES]; /* in file order */
    int ncategories;
    kks_category_rule rules[KKS_CATALOG_MAX_PERIOD_RULES]; /* in file order */
    int nrules;
    /* Indices into items sorted by SKU, for kks_catalog_find(). */
    uint16_t by_sku[KKS_CATALOG_MAX_ITEMS];
} kks_catalog;

/* Loads bpnt-categories.csv, then staples.csv, from dir; *c is overwritten.
 *   bpnt-categories.csv: header "category,allowed"; a category is 1..31 of a-z, 0-9, '_',
 *     listed once; allowed is "1" or "0"; at most KKS_CATALOG_MAX_CATEGORIES rows.
 *   staples.csv: header "sku,name,category,unit,price"; a SKU is 1..15 of A-Z, 0-9, '-',
 *     unique; name (non-empty, < 80 bytes) and unit (non-empty, < 24 bytes) have no control
 *     characters; the category is listed in bpnt-categories.csv; the price is digits only,
 *     1..KKS_CATALOG_PRICE_MAX; at least one and at most KKS_CATALOG_MAX_ITEMS items.
 *   bpnt-category-periods.csv: header "period,category,allowed"; the period is a BPNT month
 *     or batch label (kks_period_parse: 2022-04, 2022-04..06, 2022-12..2023-01), the category
 *     one in bpnt-categories.csv, allowed "1" or "0"; two rows for one category may not share
 *     a month; at most KKS_CATALOG_MAX_PERIOD_RULES rows; header only is fine.
 * Returns 0, or KKS_EINVAL with the file, the line and the reason in err (a file that cannot
 * be opened, a wrong header, a bad row, a record the CSV reader refuses), or KKS_ENOMEM. On
 * an error *c is left empty. */
int kks_catalog_load(kks_catalog *c, const char *dir, char *err, size_t cap);

/* The item with exactly this SKU (case-sensitive), or NULL. NULL sku gives NULL. */
const kks_item *kks_catalog_find(const kks_catalog *c, const char *sku);

/* 1 if BPNT may buy the item (its category is allowed in bpnt-categories.csv), else 0.
 * Never an error code: NULL or an item not from c gives 0, so "if (allowed)" fails safe. */
int kks_catalog_bpnt_allowed(const kks_catalog *c, const kks_item *it);
/* The same in a month (kks_month_of_date of the business date): a bpnt-category-periods.csv
 * row for the item's category and month decides, else bpnt-categories.csv. 1 or 0, never an
 * error code. */
int kks_catalog_bpnt_allowed_in(const kks_catalog *c, const kks_item *it, int month);

/* ---- terminals ---------------------------------------------------------------------------- */

#define KKS_TERMINALS_MAX 4096
#define KKS_TERMINAL_ID_MAX 40 /* kks_terminal_id_valid() */
#define KKS_MERCHANT_ID_MAX 31

enum kks_terminal_kind {
    KKS_TERMINAL_UNKNOWN = 0,
    KKS_TERMINAL_EWARONG, /* "EW-",  kind "ewarong" */
    KKS_TERMINAL_ATM,     /* "ATM-", kind "atm" */
    KKS_TERMINAL_BRANCH,  /* "BR-",  kind "branch" */
};

typedef struct kks_terminal {
    char id[KKS_TERMINAL_ID_MAX + 1];
    enum kks_terminal_kind kind;
    char name[80];                             /* "e-Warong Berkah Jaya", "ATM BNI ..." */
    char merchant_id[KKS_MERCHANT_ID_MAX + 1]; /* e-warong only ("M-127101-0001"), else "" */
    char bank[16];                             /* a code from banks.csv: BNI, BRI, ... */
    char kecamatan_code[7];                    /* six digits, e.g. "127101" */
    char address[128];
} kks_terminal;

typedef struct kks_terminals {
    kks_terminal items[KKS_TERMINALS_MAX]; /* in file order */
    int n;
    uint16_t by_id[KKS_TERMINALS_MAX]; /* indices into items sorted by ID */
} kks_terminals;

/* Loads terminals.csv from dir, checking banks and kecamatan against banks.csv,
 * provinces.csv, kecamatan.csv and card-policy.csv in the same dir (kks_seeds_load);
 * *t is overwritten. Header "terminal_id,kind,name,merchant_id,bank,kecamatan_code,address";
 * each row:
 *   - terminal_id passes kks_terminal_id_valid() and is unique;
 *   - kind is "ewarong", "atm" or "branch" and agrees with the ID prefix (EW-, ATM-, BR-);
 *   - name non-empty; name and address without control characters and within their arrays;
 *   - bank is a code in banks.csv;
 *   - kecamatan_code is a real region (kks_seeds_region_ok: six digits, a known province,
 *     and a listed kecamatan for a city whose kecamatan are listed);
 *   - an e-warong has a merchant_id of 1..31 of A-Z, 0-9, '-', and its ID is
 *     "EW-<kecamatan_code>-..."; an ATM or branch has no merchant_id, and its ID is
 *     "ATM-<bank>-..." or "BR-<bank>-...".
 * At most KKS_TERMINALS_MAX rows; an empty file (header only) is allowed. Returns 0, or
 * KKS_EINVAL with the file, the line and the reason in err (for a problem in one of the other
 * seeds files, kks_seeds_load's message), or KKS_ENOMEM. On an error *t is left empty. */
int kks_terminals_load(kks_terminals *t, const char *dir, char *err, size_t cap);

/* The terminal with exactly this ID, or NULL (also for a NULL id). */
const kks_terminal *kks_terminals_find(const kks_terminals *t, const char *id);

/* The kind a terminal ID names by its prefix: EW- e-warong, ATM- ATM, BR- branch. An ID that
 * kks_terminal_id_valid() rejects (or NULL) is KKS_TERMINAL_UNKNOWN. Works for any ID,
 * listed in terminals.csv or not. */
enum kks_terminal_kind kks_terminal_kind_of(const char *id);

/* "ewarong", "atm", "branch" or "unknown": the terminals.csv spelling. Never NULL. */
const char *kks_terminal_kind_name(enum kks_terminal_kind kind);

#endif
