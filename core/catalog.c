/* The e-warong catalogue (staples.csv, bpnt-categories.csv) and the known terminals
 * (terminals.csv). Each table keeps its rows in file order plus an index sorted by key,
 * built by binary insertion while loading: that finds a duplicate key on the row that
 * repeats it, and gives lookups in O(log n) for the switch's per-transaction path. */
#include "kks_catalog.h"

#include "kks_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_csv.h"
#include "kks_err.h"
#include "kks_pki.h"
#include "kks_seeds.h"


/* ---- field checks --------------------------------------------------------------------- */

static int is_upper_id(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int is_category_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KKS_CATEGORY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* Text that fits in cap bytes with its NUL and has no control characters (UTF-8 is fine). */
static int is_text(const char *s, size_t cap, int allow_empty)
{
    size_t n = strlen(s);
    if ((n == 0 && !allow_empty) || n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}


/* ---- sorted index ----------------------------------------------------------------------- */

/* The key of entry i is the string at base + i * stride, so one search serves items and
 * terminals. index holds entry numbers sorted by key. */
static const char *key_of(const char *base, size_t stride, int entry)
{
    return base + (size_t)entry * stride;
}

/* The position of key in index[0..n): *found = 1 if present, else where it would go. */
static int index_search(const char *base, size_t stride, const uint16_t *index, int n,
                        const char *key, int *found)
{
    int lo = 0, hi = n;
    *found = 0;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int cmp = strcmp(key, key_of(base, stride, index[mid]));
        if (cmp == 0) {
            *found = 1;
            return mid;
        }
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Adds entry n (its key already stored) to index[0..n); -1 with *dup set to the entry that
 * already has the key. */
static int index_insert(const char *base, size_t stride, uint16_t *index, int n, int *dup)
{
    int found, pos = index_search(base, stride, index, n, key_of(base, stride, n), &found);
    if (found) {
        *dup = index[pos];
        return -1;
    }
    memmove(&index[pos + 1], &index[pos], (size_t)(n - pos) * sizeof index[0]);
    index[pos] = (uint16_t)n;
    return 0;
}

/* ---- reading a file ------------------------------------------------------------------- */

/* ---- catalogue -------------------------------------------------------------------------- */

typedef struct catalog_loader {
    kks_catalog *cat;
    unsigned long item_line[KKS_CATALOG_MAX_ITEMS];
    unsigned long category_line[KKS_CATALOG_MAX_CATEGORIES];
    unsigned long rule_line[KKS_CATALOG_MAX_PERIOD_RULES];
} catalog_loader;

static int find_category(const kks_catalog *c, const char *name)
{
    for (int i = 0; i < c->ncategories; i++)
        if (strcmp(c->categories[i].name, name) == 0)
            return i;
    return -1;
}

static int category_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    catalog_loader *l = ctx;
    kks_catalog *cat = l->cat;
    const char *name = c->fields[0], *allowed = c->fields[1];
    kks_category *k;
    int prev;
    if (!is_category_name(name)) {
        snprintf(why, cap, "category '%.40s' must be 1..%d of a-z, 0-9 and '_'", name,
                 KKS_CATEGORY_MAX);
        return -1;
    }
    if ((prev = find_category(cat, name)) >= 0) {
        snprintf(why, cap, "category '%s' already listed on line %lu", name,
                 l->category_line[prev]);
        return -1;
    }
    if (strcmp(allowed, "0") != 0 && strcmp(allowed, "1") != 0) {
        snprintf(why, cap, "allowed must be 1 or 0, not '%.20s'", allowed);
        return -1;
    }
    if (cat->ncategories == KKS_CATALOG_MAX_CATEGORIES) {
        snprintf(why, cap, "more than %d categories", KKS_CATALOG_MAX_CATEGORIES);
        return -1;
    }
    l->category_line[cat->ncategories] = c->line;
    k = &cat->categories[cat->ncategories++];
    snprintf(k->name, sizeof k->name, "%s", name);
    k->bpnt_allowed = allowed[0] == '1';
    return 0;
}

static int staple_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    catalog_loader *l = ctx;
    kks_catalog *cat = l->cat;
    const char *sku = c->fields[0], *name = c->fields[1], *category = c->fields[2];
    const char *unit = c->fields[3], *price = c->fields[4];
    kks_item *it;
    int ci, dup;
    if (!is_upper_id(sku, KKS_SKU_MAX)) {
        snprintf(why, cap, "SKU '%.40s' must be 1..%d of A-Z, 0-9 and '-'", sku, KKS_SKU_MAX);
        return -1;
    }
    if (!is_text(name, sizeof it->name, 0)) {
        snprintf(why, cap, "%s: name empty, longer than %zu bytes or with a control character",
                 sku, sizeof it->name - 1);
        return -1;
    }
    if ((ci = find_category(cat, category)) < 0) {
        snprintf(why, cap, "%s: category '%.40s' is not in bpnt-categories.csv", sku, category);
        return -1;
    }
    if (!is_text(unit, sizeof it->unit, 0)) {
        snprintf(why, cap, "%s: unit empty, longer than %zu bytes or with a control character",
                 sku, sizeof it->unit - 1);
        return -1;
    }
    if (cat->nitems == KKS_CATALOG_MAX_ITEMS) {
        snprintf(why, cap, "more than %d items", KKS_CATALOG_MAX_ITEMS);
        return -1;
    }
    it = &cat->items[cat->nitems];
    if (kks_parse_digits(price, 1, KKS_CATALOG_PRICE_MAX, &it->price) < 0) {
        snprintf(why, cap, "%s: price must be whole rupiah 1..%lld, not '%.24s'", sku,
                 (long long)KKS_CATALOG_PRICE_MAX, price);
        return -1;
    }
    snprintf(it->sku, sizeof it->sku, "%s", sku);
    if (index_insert(cat->items[0].sku, sizeof cat->items[0], cat->by_sku, cat->nitems, &dup) <
        0) {
        snprintf(why, cap, "SKU %s already listed on line %lu", sku, l->item_line[dup]);
        return -1;
    }
    snprintf(it->name, sizeof it->name, "%s", name);
    snprintf(it->category, sizeof it->category, "%s", category);
    snprintf(it->unit, sizeof it->unit, "%s", unit);
    it->category_index = ci;
    l->item_line[cat->nitems++] = c->line;
    return 0;
}

/* bpnt-category-periods.csv: "period,category,allowed", a BPNT month or batch label. */
static int category_period_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    catalog_loader *l = ctx;
    kks_catalog *cat = l->cat;
    kks_period per;
    kks_category_rule *r;
    int ci, first, last;
    if (kks_period_parse("bpnt", c->fields[0], &per) < 0) {
        snprintf(why, cap, "period '%.20s' must be a BPNT month (2022-04) or batch (2022-04..06)",
                 c->fields[0]);
        return -1;
    }
    if ((ci = find_category(cat, c->fields[1])) < 0) {
        snprintf(why, cap, "category '%.40s' is not in bpnt-categories.csv", c->fields[1]);
        return -1;
    }
    if (strcmp(c->fields[2], "0") != 0 && strcmp(c->fields[2], "1") != 0) {
        snprintf(why, cap, "allowed must be 1 or 0, not '%.20s'", c->fields[2]);
        return -1;
    }
    kks_period_months(&per, &first, &last);
    for (int i = 0; i < cat->nrules; i++) {
        const kks_category_rule *o = &cat->rules[i];
        if (o->category_index == ci && o->first_month <= last && first <= o->last_month) {
            snprintf(why, cap, "%s in %s overlaps the rule on line %lu", c->fields[1],
                     per.label, l->rule_line[i]);
            return -1;
        }
    }
    if (cat->nrules == KKS_CATALOG_MAX_PERIOD_RULES) {
        snprintf(why, cap, "more than %d rules", KKS_CATALOG_MAX_PERIOD_RULES);
        return -1;
    }
    l->rule_line[cat->nrules] = c->line;
    r = &cat->rules[cat->nrules++];
    r->first_month = first;
    r->last_month = last;
    r->category_index = ci;
    r->bpnt_allowed = c->fields[2][0] == '1';
    return 0;
}

int kks_catalog_load(kks_catalog *c, const char *dir, char *err, size_t cap)
{
    static const char *const cat_h[] = {"category", "allowed"};
    static const char *const item_h[] = {"sku", "name", "category", "unit", "price"};
    static const char *const rule_h[] = {"period", "category", "allowed"};
    catalog_loader l;
    int rc;
    memset(c, 0, sizeof *c);
    memset(&l, 0, sizeof l);
    l.cat = c;
    if ((rc = kks_csv_load(&l, dir, "bpnt-categories.csv", cat_h, 2, category_row, err, cap)) < 0 ||
        (rc = kks_csv_load(&l, dir, "staples.csv", item_h, 5, staple_row, err, cap)) < 0 ||
        (rc = kks_csv_load(&l, dir, "bpnt-category-periods.csv", rule_h, 3, category_period_row,
                           err, cap)) < 0) {
        memset(c, 0, sizeof *c);
        return rc;
    }
    if (c->nitems == 0) {
        snprintf(err, cap, "%s/staples.csv: no items", dir);
        return KKS_EINVAL;
    }
    return 0;
}

const kks_item *kks_catalog_find(const kks_catalog *c, const char *sku)
{
    int found, pos;
    if (!c || !sku)
        return NULL;
    pos = index_search(c->items[0].sku, sizeof c->items[0], c->by_sku, c->nitems, sku, &found);
    return found ? &c->items[c->by_sku[pos]] : NULL;
}

int kks_catalog_bpnt_allowed(const kks_catalog *c, const kks_item *it)
{
    if (!c || !it || it < c->items || it >= c->items + c->nitems)
        return 0;
    if (it->category_index < 0 || it->category_index >= c->ncategories)
        return 0;
    return c->categories[it->category_index].bpnt_allowed == 1;
}

int kks_catalog_bpnt_allowed_in(const kks_catalog *c, const kks_item *it, int month)
{
    if (!c || !it || it < c->items || it >= c->items + c->nitems)
        return 0;
    for (int i = 0; i < c->nrules; i++) {
        const kks_category_rule *r = &c->rules[i];
        if (r->category_index == it->category_index && r->first_month <= month &&
            month <= r->last_month)
            return r->bpnt_allowed == 1;
    }
    return kks_catalog_bpnt_allowed(c, it);
}

/* ---- terminals -------------------------------------------------------------------------- */

typedef struct terminal_loader {
    kks_terminals *t;
    kks_seeds seeds;
    unsigned long line[KKS_TERMINALS_MAX];
} terminal_loader;

static const char *const kind_names[] = {
    [KKS_TERMINAL_UNKNOWN] = "unknown",
    [KKS_TERMINAL_EWARONG] = "ewarong",
    [KKS_TERMINAL_ATM] = "atm",
    [KKS_TERMINAL_BRANCH] = "branch",
};

const char *kks_terminal_kind_name(enum kks_terminal_kind kind)
{
    if ((int)kind < 0 || (size_t)kind >= sizeof kind_names / sizeof kind_names[0])
        return kind_names[KKS_TERMINAL_UNKNOWN];
    return kind_names[kind];
}

static enum kks_terminal_kind kind_from_name(const char *s)
{
    for (int k = KKS_TERMINAL_EWARONG; k <= KKS_TERMINAL_BRANCH; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return (enum kks_terminal_kind)k;
    return KKS_TERMINAL_UNKNOWN;
}

enum kks_terminal_kind kks_terminal_kind_of(const char *id)
{
    if (!id || !kks_terminal_id_valid(id))
        return KKS_TERMINAL_UNKNOWN;
    if (strncmp(id, "EW-", 3) == 0)
        return KKS_TERMINAL_EWARONG;
    if (strncmp(id, "ATM-", 4) == 0)
        return KKS_TERMINAL_ATM;
    if (strncmp(id, "BR-", 3) == 0)
        return KKS_TERMINAL_BRANCH;
    return KKS_TERMINAL_UNKNOWN;
}

/* 1 if id, after its kind prefix, starts with seg followed by '-'. */
static int id_segment_is(const char *id, const char *seg)
{
    const char *rest = strchr(id, '-') + 1; /* a valid ID has its prefix's '-' */
    size_t n = strlen(seg);
    return n > 0 && strncmp(rest, seg, n) == 0 && rest[n] == '-';
}

static int terminal_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    terminal_loader *l = ctx;
    kks_terminals *ts = l->t;
    const char *id = c->fields[0], *kind = c->fields[1], *name = c->fields[2];
    const char *merchant = c->fields[3], *bank = c->fields[4], *kec = c->fields[5];
    const char *address = c->fields[6];
    enum kks_terminal_kind k, want;
    kks_terminal *t;
    int dup;
    if (!kks_terminal_id_valid(id)) {
        snprintf(why, cap,
                 "terminal_id '%.48s' is not EW-..., ATM-... or BR-... of A-Z, 0-9 and '-', "
                 "at most %d characters",
                 id, KKS_TERMINAL_ID_MAX);
        return -1;
    }
    want = kks_terminal_kind_of(id);
    if ((k = kind_from_name(kind)) == KKS_TERMINAL_UNKNOWN) {
        snprintf(why, cap, "%s: kind must be ewarong, atm or branch, not '%.20s'", id, kind);
        return -1;
    }
    if (k != want) {
        snprintf(why, cap, "%s: kind %s does not match the ID prefix, which means %s", id,
                 kind_names[k], kind_names[want]);
        return -1;
    }
    if (!is_text(name, sizeof t->name, 0)) {
        snprintf(why, cap, "%s: name empty, longer than %zu bytes or with a control character",
                 id, sizeof t->name - 1);
        return -1;
    }
    if (!kks_seeds_bank(&l->seeds, bank)) {
        snprintf(why, cap, "%s: bank '%.20s' is not in banks.csv", id, bank);
        return -1;
    }
    if (strlen(kec) != 6 || !kks_seeds_region_ok(&l->seeds, kec)) {
        snprintf(why, cap, "%s: kecamatan_code '%.20s' is not a known six-digit kecamatan", id,
                 kec);
        return -1;
    }
    if (!is_text(address, sizeof t->address, 1)) {
        snprintf(why, cap, "%s: address longer than %zu bytes or with a control character", id,
                 sizeof t->address - 1);
        return -1;
    }
    if (k == KKS_TERMINAL_EWARONG) {
        if (!is_upper_id(merchant, KKS_MERCHANT_ID_MAX)) {
            snprintf(why, cap, "%s: an e-warong needs a merchant_id of 1..%d of A-Z, 0-9, '-'",
                     id, KKS_MERCHANT_ID_MAX);
            return -1;
        }
        if (!id_segment_is(id, kec)) {
            snprintf(why, cap, "%s: an e-warong ID must start EW-%s- (its kecamatan_code)", id,
                     kec);
            return -1;
        }
    } else {
        if (*merchant) {
            snprintf(why, cap, "%s: only an e-warong has a merchant_id", id);
            return -1;
        }
        if (!id_segment_is(id, bank)) {
            snprintf(why, cap, "%s: the ID must start %s-%s- (its bank)", id,
                     k == KKS_TERMINAL_ATM ? "ATM" : "BR", bank);
            return -1;
        }
    }
    if (ts->n == KKS_TERMINALS_MAX) {
        snprintf(why, cap, "more than %d terminals", KKS_TERMINALS_MAX);
        return -1;
    }
    t = &ts->items[ts->n];
    snprintf(t->id, sizeof t->id, "%s", id);
    if (index_insert(ts->items[0].id, sizeof ts->items[0], ts->by_id, ts->n, &dup) < 0) {
        snprintf(why, cap, "terminal %s already listed on line %lu", id, l->line[dup]);
        return -1;
    }
    t->kind = k;
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->merchant_id, sizeof t->merchant_id, "%s", merchant);
    snprintf(t->bank, sizeof t->bank, "%s", bank);
    snprintf(t->kecamatan_code, sizeof t->kecamatan_code, "%s", kec);
    snprintf(t->address, sizeof t->address, "%s", address);
    l->line[ts->n++] = c->line;
    return 0;
}

int kks_terminals_load(kks_terminals *t, const char *dir, char *err, size_t cap)
{
    static const char *const hdr[] = {"terminal_id", "kind",           "name",   "merchant_id",
                                      "bank",        "kecamatan_code", "address"};
    terminal_loader *l;
    int rc;
    memset(t, 0, sizeof *t);
    /* The loader holds the seeds and a line number per terminal: heap, not stack. */
    if (!(l = calloc(1, sizeof *l))) {
        snprintf(err, cap, "%s/terminals.csv: out of memory", dir);
        return KKS_ENOMEM;
    }
    l->t = t;
    if ((rc = kks_seeds_load(&l->seeds, dir, err, cap)) < 0 ||
        (rc = kks_csv_load(l, dir, "terminals.csv", hdr, 7, terminal_row, err, cap)) < 0)
        memset(t, 0, sizeof *t);
    free(l);
    return rc < 0 ? rc : 0;
}

const kks_terminal *kks_terminals_find(const kks_terminals *t, const char *id)
{
    int found, pos;
    if (!t || !id)
        return NULL;
    pos = index_search(t->items[0].id, sizeof t->items[0], t->by_id, t->n, id, &found);
    return found ? &t->items[t->by_id[pos]] : NULL;
}
