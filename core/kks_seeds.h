/* Policy and reference data loaded from the seeds directory (SPEC §2):
 * banks and their simulated BINs, province and kecamatan codes for
 * validating NIK and KK numbers, and the card policy. Nothing here is
 * hard-coded in C. */
#ifndef KKS_SEEDS_H
#define KKS_SEEDS_H

#include <stddef.h>

#define KKS_MAX_BANKS 16
#define KKS_MAX_KECAMATAN 1024

typedef struct kks_bank {
    char code[16]; /* BNI, BRI, MANDIRI, BTN */
    char name[80];
    char bin[9];   /* 6 or 8 digits */
} kks_bank;

typedef struct kks_seeds {
    kks_bank banks[KKS_MAX_BANKS];
    int nbanks;
    unsigned char province[100]; /* province[code] = 1 when known */
    char kecamatan[KKS_MAX_KECAMATAN][7];
    int nkecamatan;
    int expiry_years;
    int renew_months_before; /* a card may be renewed from this many months before it expires */
    int pin_tries;
    int pan_length;
} kks_seeds;

/* Loads banks.csv, provinces.csv, kecamatan.csv and card-policy.csv from dir.
 * Returns 0 or KKS_EINVAL with the file and reason in err. */
int kks_seeds_load(kks_seeds *s, const char *dir, char *err, size_t cap);

const kks_bank *kks_seeds_bank(const kks_seeds *s, const char *code);
/* The bank whose BIN starts pan, or NULL. */
const kks_bank *kks_seeds_bank_for_pan(const kks_seeds *s, const char *pan);

/* 1 if the first 6 digits of id are a real region: a known province and, for a
 * city whose kecamatan are listed, a listed kecamatan. */
int kks_seeds_region_ok(const kks_seeds *s, const char *id);

/* The default seeds directory: the source tree's seeds/. */
#ifndef KKS_DEFAULT_SEEDS
#define KKS_DEFAULT_SEEDS "seeds"
#endif

#endif
