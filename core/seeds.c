#include "kks_seeds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_csv.h"
#include "kks_err.h"

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

static int kecamatan_row(void *ctx, const kks_csv *c, char *why, size_t cap)
{
    kks_seeds *s = ctx;
    if (!all_digits(c->fields[0], 6) || s->nkecamatan == KKS_MAX_KECAMATAN) {
        snprintf(why, cap, "kecamatan code must be 6 digits");
        return -1;
    }
    memcpy(s->kecamatan[s->nkecamatan++], c->fields[0], 7);
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

int kks_seeds_load(kks_seeds *s, const char *dir, char *err, size_t cap)
{
    static const char *const bank_h[] = {"code", "name", "bin"};
    static const char *const code_h[] = {"code", "name"};
    static const char *const pol_h[] = {"key", "value"};
    int rc;
    memset(s, 0, sizeof *s);
    s->expiry_years = 5;
    s->renew_months_before = 0;
    s->pin_tries = 3;
    s->pan_length = 16;
    if ((rc = kks_csv_load(s, dir, "banks.csv", bank_h, 3, bank_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "provinces.csv", code_h, 2, province_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "kecamatan.csv", code_h, 2, kecamatan_row, err, cap)) < 0 ||
        (rc = kks_csv_load(s, dir, "card-policy.csv", pol_h, 2, policy_row, err, cap)) < 0)
        return rc;
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

int kks_seeds_region_ok(const kks_seeds *s, const char *id)
{
    int listed = 0;
    for (int i = 0; i < 6; i++)
        if (id[i] < '0' || id[i] > '9')
            return 0;
    if (!s->province[(id[0] - '0') * 10 + (id[1] - '0')])
        return 0;
    for (int i = 0; i < s->nkecamatan; i++) {
        if (memcmp(s->kecamatan[i], id, 4) != 0)
            continue;
        listed = 1;
        if (memcmp(s->kecamatan[i], id, 6) == 0)
            return 1;
    }
    return !listed;
}
