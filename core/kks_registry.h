/* The DTSEN registry extract (SPEC §10) and the identity numbers in it.
 *
 * NIK: 2 province, 2 city, 2 kecamatan, DDMMYY of birth (DD + 40 for women),
 * 4-digit sequence from 0001. KK: 6-digit region, DDMMYY registration date,
 * 4-digit serial. PAN: BIN + account digits + Luhn check digit. */
#ifndef KKS_REGISTRY_H
#define KKS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "kks_seeds.h"

enum {
    KKS_REG_KK, KKS_REG_NIK, KKS_REG_NAME, KKS_REG_BIRTH_DATE, KKS_REG_SEX, KKS_REG_ADDRESS,
    KKS_REG_KELURAHAN, KKS_REG_KECAMATAN, KKS_REG_CITY, KKS_REG_DECILE, KKS_REG_BANK,
    KKS_REG_PKH_PREGNANT, KKS_REG_PKH_EARLY, KKS_REG_PKH_SD, KKS_REG_PKH_SMP, KKS_REG_PKH_SMA,
    KKS_REG_PKH_DISABILITY, KKS_REG_PKH_ELDERLY, KKS_REG_BPNT,
    KKS_REG_NFIELDS
};
#define KKS_PKH_COMPONENTS 7

extern const char *const kks_registry_header[KKS_REG_NFIELDS];

typedef struct kks_family {
    char kk[17], nik[17];
    char name[101];
    char birth_date[11];
    char sex; /* 'L' or 'P' */
    char address[201], kelurahan[65], kecamatan[65], city[5];
    int decile;
    char bank[16];
    int pkh[KKS_PKH_COMPONENTS]; /* in header order: pregnant .. elderly */
    int bpnt;
} kks_family;

/* Validates one row of n fields and fills out. Returns 0, or KKS_EINVAL with
 * the reason in why (for a person: "NIK date 160782 does not match birth_date
 * 1982-07-17"). Besides the syntax it checks the registry rules that need no
 * date and no database:
 *   - KK serial (last 4 digits) and NIK sequence are not 0000;
 *   - city_code is a regency or city of cities.csv;
 *   - in a city with listed kecamatan (kecamatan.csv): the KK's and the NIK's
 *     first 6 digits are both the listed kecamatan that the row names, in that
 *     city, and the kelurahan is listed under it (kelurahan.csv); kecamatan and
 *     kelurahan names ignore ASCII case;
 *   - in any other city, as far as the seeds allow: the KK's first 6 digits lie
 *     in that city with a kecamatan other than 00, and the NIK's are the same;
 *   - decile is within the policy's decile_min..decile_max.
 * Lookups are scans of the in-memory seeds: no allocation, no I/O. */
int kks_registry_parse(const kks_seeds *s, const char *const *fields, int n, kks_family *out,
                       char *why, size_t cap);

/* A row as kksctl sends it to the issuer (EnrollRow.packed): its fields one
 * after the other, each ended by a NUL byte. Points fields[0 ..) at them
 * (inside data) and returns how many there are, or cap + 1 when there are
 * more than cap (the rest unread); -1 when data is empty, does not end with a
 * NUL byte, or a field is not UTF-8. Reads len bytes, nothing past them. */
int kks_registry_unpack(const uint8_t *data, size_t len, const char **fields, int cap);

/* The rules that need the enrolment date today (YYYY-MM-DD): the holder's
 * birth_date is not after it, and the holder is at least holder_min_age
 * years old on it. f comes from kks_registry_parse. Returns 0 or KKS_EINVAL
 * with the reason in why. */
int kks_registry_check_holder(const kks_seeds *s, const kks_family *f, const char *today,
                              char *why, size_t cap);

/* Whole years from birth to today (both YYYY-MM-DD; someone born on 29
 * February has a birthday on 1 March in other years), or -1 when either is not
 * a date or birth is after today. */
int kks_age_on(const char *birth, const char *today);

/* 1 if s is exactly n ASCII digits. */
int kks_digits(const char *s, size_t n);
/* A whole decimal number written with digits only (no sign, no spaces, at
 * most 18 digits) within [lo, hi]. Returns 0 or KKS_EINVAL. */
int kks_parse_digits(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* 1 if y-m-d is a real Gregorian date. */
int kks_date_valid(int y, int m, int d);
/* Parses a real date written YYYY-MM-DD exactly. Returns 0 or KKS_EINVAL. */
int kks_ymd_parse(const char *s, int *y, int *m, int *d);
/* The Luhn check digit ('0'..'9') for the digits in s. */
char kks_luhn_digit(const char *s, size_t n);
/* 1 if pan is 12..19 digits with a correct Luhn digit. */
int kks_pan_valid(const char *pan);
/* Masks a PAN for logs: first 6, last 4 (1234 56** **** 7890 as 123456******7890). */
void kks_pan_mask(const char *pan, char out[20]);

#endif
