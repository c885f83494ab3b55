/* Policy and reference data loaded from the seeds directory (SPEC §2):
 * banks and their simulated BINs; provinces, kecamatan and kelurahan for
 * validating NIK and KK numbers and the places of a registry row; the card
 * policy and the registry (enrolment) policy. Nothing here is hard-coded in C.
 * A plain value, no heap: lookups are in-memory scans of short lists, cheap
 * enough for every row of a million-family extract. */
#ifndef KKS_SEEDS_H
#define KKS_SEEDS_H

#include <stddef.h>
#include <stdio.h>

#define KKS_MAX_BANKS 16
#define KKS_MAX_KECAMATAN 512
#define KKS_MAX_KELURAHAN 4096
#define KKS_MAX_CITIES 1024
#define KKS_PLACE_NAME 48 /* longest kecamatan or kelurahan name, with its NUL */

typedef struct kks_bank {
    char code[16]; /* BNI, BRI, MANDIRI, BTN */
    char name[80];
    char bin[9];   /* 6 or 8 digits */
} kks_bank;

typedef struct kks_kecamatan {
    char code[7];               /* 6 digits: province, city, kecamatan */
    char name[KKS_PLACE_NAME];
    int kel_first, nkel;        /* its kelurahan: kelurahan[kel_first .. +nkel) */
} kks_kecamatan;

typedef struct kks_city {
    char code[5];               /* 4 digits: province, regency or city */
    char name[KKS_PLACE_NAME];
} kks_city;

typedef struct kks_kelurahan {
    int kecamatan;              /* index into kks_seeds.kecamatan */
    char name[KKS_PLACE_NAME];
} kks_kelurahan;

typedef struct kks_seeds {
    kks_bank banks[KKS_MAX_BANKS];
    int nbanks;
    unsigned char province[100]; /* province[code] = 1 when known */
    unsigned province_pop[100];  /* province-population.csv: people, > 0 for every province */
    kks_city cities[KKS_MAX_CITIES]; /* cities.csv, file order */
    int ncities;
    short city_at[10000];        /* city_at[code] = index in cities + 1, 0 when not listed */
    kks_kecamatan kecamatan[KKS_MAX_KECAMATAN]; /* file order */
    int nkecamatan;
    kks_kelurahan kelurahan[KKS_MAX_KELURAHAN]; /* grouped by kecamatan, file order within */
    int nkelurahan;
    int expiry_years;
    int renew_months_before; /* a card may be renewed from this many months before it expires */
    int pin_tries;
    int pan_length;
    /* registry-policy.csv */
    int holder_min_age;          /* a card holder has a KTP: 17 or older */
    int decile_min, decile_max;  /* DTSEN welfare deciles that may enrol */
} kks_seeds;

/* Loads banks.csv, provinces.csv, province-population.csv, cities.csv,
 * kecamatan.csv, kelurahan.csv, card-policy.csv and registry-policy.csv from
 * dir. Every province has a population; every city (regency or city) code is
 * 4 digits of a known province, listed once, at most KKS_MAX_CITIES; every
 * kecamatan code is 6 digits of a listed city, listed once; every kelurahan
 * names a listed kecamatan, once; every registry-policy key is given once.
 * Returns 0 or KKS_EINVAL with the file, line and reason in err. */
int kks_seeds_load(kks_seeds *s, const char *dir, char *err, size_t cap);

const kks_bank *kks_seeds_bank(const kks_seeds *s, const char *code);
/* The bank whose BIN starts pan, or NULL. */
const kks_bank *kks_seeds_bank_for_pan(const kks_seeds *s, const char *pan);

/* 1 if the first 6 digits of id are a listed kecamatan. */
int kks_seeds_region_ok(const kks_seeds *s, const char *id);
/* The listed kecamatan whose code is the first 6 digits of id, or NULL. */
const kks_kecamatan *kks_seeds_kecamatan(const kks_seeds *s, const char *id);
/* The kecamatan of city (4 digits) named name (ASCII case ignored), or NULL. */
const kks_kecamatan *kks_seeds_kecamatan_named(const kks_seeds *s, const char *city,
                                               const char *name);
/* The regency or city of cities.csv whose code is the first 4 digits of id,
 * or NULL. */
const kks_city *kks_seeds_city(const kks_seeds *s, const char *id);
/* 1 if some listed kecamatan lies in the 4-digit city code. */
int kks_seeds_city_known(const kks_seeds *s, const char *city);
/* The kelurahan named name (ASCII case ignored) in kecamatan k, or NULL. */
const kks_kelurahan *kks_seeds_kelurahan(const kks_seeds *s, const kks_kecamatan *k,
                                         const char *name);
/* The first kecamatan of the same city as k that has a kelurahan named name,
 * or NULL: says where a kelurahan put under the wrong kecamatan belongs. */
const kks_kecamatan *kks_seeds_kelurahan_home(const kks_seeds *s, const kks_kecamatan *k,
                                              const char *name);

/* The source tree's seeds/, compiled in: the last resort of
 * kks_seeds_default(), for a program run from its build tree. */
#ifndef KKS_DEFAULT_SEEDS
#define KKS_DEFAULT_SEEDS "seeds"
#endif

/* Where the seeds come from when no --seeds DIR is given. */
enum kks_seeds_from {
    KKS_SEEDS_FROM_ENV,       /* $KKS_SEEDS, set and not empty */
    KKS_SEEDS_FROM_INSTALL,   /* <executable's dir>/../share/kks/seeds, which exists */
    KKS_SEEDS_FROM_SOURCE,    /* KKS_DEFAULT_SEEDS */
};

/* The seeds directory of a program given no --seeds DIR: $KKS_SEEDS when set
 * and not empty; else the installed seeds beside the executable,
 * <exe dir>/../share/kks/seeds (made canonical), when that is a directory;
 * else the compiled-in source tree's. Resolved at run time, so that installed
 * binaries need no source tree. Never NULL; the string lives as long as the
 * process. from, when not NULL, says which of the three it is. Safe from any
 * thread; $KKS_SEEDS is read on each call. */
const char *kks_seeds_default(enum kks_seeds_from *from);

/* Prints "PROG VERSION" and, on a second line, "seeds: DIR (WHERE)" with
 * kks_seeds_default() and where it came from ($KKS_SEEDS, installed, source
 * tree), on f; what --version does in every program. Returns 0, the exit
 * status. */
int kks_version_print(FILE *f, const char *prog);

#endif
