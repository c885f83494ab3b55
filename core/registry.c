#include "kks_registry.h"

#include "kks_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kks_err.h"
#include "kks_json.h"

const char *const kks_registry_header[KKS_REG_NFIELDS] = {
    "kk",          "nik",           "name",    "birth_date",          "sex",
    "address",     "kelurahan",     "kecamatan", "city_code",         "decile",
    "bank",        "pkh_pregnant",  "pkh_early_childhood", "pkh_sd",  "pkh_smp",
    "pkh_sma",     "pkh_disability", "pkh_elderly", "bpnt",
};

int kks_digits(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return s[n] == '\0';
}

int kks_parse_digits(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 18)
        return KKS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return KKS_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return KKS_EINVAL;
    *out = v;
    return 0;
}

int kks_date_valid(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1)
        return 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

char kks_luhn_digit(const char *s, size_t n)
{
    int sum = 0, dbl = 1;
    for (size_t i = n; i-- > 0; dbl = !dbl) {
        int d = s[i] - '0';
        if (dbl && (d *= 2) > 9)
            d -= 9;
        sum += d;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

int kks_pan_valid(const char *pan)
{
    size_t n = strlen(pan);
    if (n < 12 || n > 19 || !kks_digits(pan, n))
        return 0;
    return kks_luhn_digit(pan, n - 1) == pan[n - 1];
}

void kks_pan_mask(const char *pan, char out[20])
{
    size_t n = strnlen(pan, 19);
    if (n < 10) {
        snprintf(out, 20, "%.*s", (int)n, "*******************");
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (i < 6 || i >= n - 4) ? pan[i] : '*';
    out[n] = '\0';
}

int kks_ymd_parse(const char *s, int *y, int *m, int *d)
{
    static const char shape[] = "dddd-dd-dd";
    for (int i = 0; i < 10; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-')
            return KKS_EINVAL;
    if (s[10] != '\0')
        return KKS_EINVAL;
    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    *m = (s[5] - '0') * 10 + (s[6] - '0');
    *d = (s[8] - '0') * 10 + (s[9] - '0');
    return kks_date_valid(*y, *m, *d) ? 0 : KKS_EINVAL;
}

static int two(const char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static int copy_text(char *dst, size_t cap, const char *src, const char *what, int required,
                     char *why, size_t wcap)
{
    size_t n = strlen(src);
    if (required && n == 0) {
        snprintf(why, wcap, "%s is empty", what);
        return -1;
    }
    if (n >= cap) {
        snprintf(why, wcap, "%s longer than %zu bytes", what, cap - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch - 0x20u < 0x5Fu) { /* printable ASCII, the common case, first */
            dst[i] = (char)ch;
            continue;
        }
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            dst[i] = ' '; /* a quoted field may span lines: keep it on one */
            continue;
        }
        if (ch < 0x20 || ch == 0x7f) {
            snprintf(why, wcap, "%s has a control character", what);
            return -1;
        }
        if (ch >= 0x80) { /* stored and echoed in protobuf strings: valid UTF-8 only */
            size_t k = kks_utf8_len(src + i);
            if (k == 0) {
                snprintf(why, wcap, "%s is not valid UTF-8 (byte %zu)", what, i + 1);
                return -1;
            }
            memcpy(dst + i, src + i, k);
            i += k - 1;
            continue;
        }
        dst[i] = (char)ch;
    }
    dst[n] = '\0';
    return 0;
}

static int small_int(const char *s, int lo, int hi, int *out)
{
    /* one to three digits, nothing else (no sign, no space) */
    int v = 0, i = 0;
    for (; s[i]; i++) {
        if (i == 3 || s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0 || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(why, cap, __VA_ARGS__);                                                           \
        return KKS_EINVAL;                                                                         \
    } while (0)

/* The places of a row in a city with no kecamatan listed: the KK's region lies
 * in the row's city and names a kecamatan (not 00), and the NIK was issued in
 * the same kecamatan. The kecamatan and kelurahan names cannot be checked. */
static int check_unlisted_places(const kks_family *o, char *why, size_t cap)
{
    if (memcmp(o->kk, o->city, 4) != 0)
        FAIL("KK region %.6s is not in city_code %s", o->kk, o->city);
    if (o->kk[4] == '0' && o->kk[5] == '0')
        FAIL("KK region %.6s names no kecamatan (kecamatan 00)", o->kk);
    if (memcmp(o->nik, o->kk, 6) != 0)
        FAIL("NIK region %.6s does not match the KK region %.6s", o->nik, o->kk);
    return 0;
}

/* The places of a row: the city is a regency or city of cities.csv. If its
 * kecamatan are listed, the KK's region is a listed kecamatan of that city and
 * the one the row names; the NIK was issued in the same kecamatan; the
 * kelurahan belongs to it. Otherwise check_unlisted_places. */
static int check_places(const kks_seeds *s, const kks_family *o, char *why, size_t cap)
{
    const kks_kecamatan *kk, *nik, *named, *home;
    if (!kks_seeds_city(s, o->city))
        FAIL("city_code %s is not a known city (not a regency or city in cities.csv)", o->city);
    if (!kks_seeds_city_known(s, o->city))
        return check_unlisted_places(o, why, cap);
    if (!(kk = kks_seeds_kecamatan(s, o->kk)))
        FAIL("KK region %.6s is not a known kecamatan code", o->kk);
    if (memcmp(kk->code, o->city, 4) != 0)
        FAIL("KK region %s (%s) is not in city_code %s", kk->code, kk->name, o->city);
    if (!(named = kks_seeds_kecamatan_named(s, o->city, o->kecamatan)))
        FAIL("kecamatan '%.40s' is not a kecamatan of city_code %s", o->kecamatan, o->city);
    if (named != kk)
        FAIL("kecamatan '%.40s' is %s, but the KK region is %s (%s)", o->kecamatan, named->code,
             kk->code, kk->name);
    if (!(nik = kks_seeds_kecamatan(s, o->nik)))
        FAIL("NIK region %.6s is not a known kecamatan code", o->nik);
    if (nik != kk)
        FAIL("NIK region %s (%s) does not match kecamatan %s (%s)", nik->code, nik->name,
             kk->code, kk->name);
    if (kks_seeds_kelurahan(s, kk, o->kelurahan))
        return 0;
    if ((home = kks_seeds_kelurahan_home(s, kk, o->kelurahan)))
        FAIL("kelurahan '%.40s' belongs to kecamatan %s (%s), not %s", o->kelurahan, home->name,
             home->code, kk->name);
    FAIL("kelurahan '%.40s' is not a known kelurahan of kecamatan %s", o->kelurahan, kk->name);
}

int kks_registry_unpack(const uint8_t *data, size_t len, const char **fields, int cap)
{
    const char *p = (const char *)data, *end = p + len;
    int n = 0;
    if (len == 0 || data[len - 1] != '\0')
        return -1;
    while (p < end) { /* the last byte is a NUL: each field ends inside data */
        if (!kks_utf8_valid(p))
            return -1;
        if (n == cap)
            return cap + 1; /* more than asked for: the rest is not read */
        fields[n++] = p;
        p += strlen(p) + 1;
    }
    return n;
}

int kks_registry_parse(const kks_seeds *s, const char *const *f, int n, kks_family *o, char *why,
                       size_t cap)
{
    int y, m, d, nd, nm, ny;
    memset(o, 0, sizeof *o);
    if (n != KKS_REG_NFIELDS)
        FAIL("expected %d fields, found %d", KKS_REG_NFIELDS, n);

    /* KK: region (checked with the places below) + a real registration date + serial */
    if (!kks_digits(f[KKS_REG_KK], 16))
        FAIL("KK must be 16 digits");
    d = two(f[KKS_REG_KK] + 6);
    m = two(f[KKS_REG_KK] + 8);
    y = two(f[KKS_REG_KK] + 10);
    if (!kks_date_valid(2000 + y, m, d) && !kks_date_valid(1900 + y, m, d))
        FAIL("KK registration date %.6s is not a real date", f[KKS_REG_KK] + 6);
    if (strcmp(f[KKS_REG_KK] + 12, "0000") == 0)
        FAIL("KK serial 0000 is not issued (serials start at 0001)");
    memcpy(o->kk, f[KKS_REG_KK], 17);

    /* birth_date, sex, and the NIK agreeing with both */
    if (kks_ymd_parse(f[KKS_REG_BIRTH_DATE], &y, &m, &d) < 0)
        FAIL("birth_date must be a real date YYYY-MM-DD");
    if (strcmp(f[KKS_REG_SEX], "L") != 0 && strcmp(f[KKS_REG_SEX], "P") != 0)
        FAIL("sex must be L or P");
    o->sex = f[KKS_REG_SEX][0];
    if (!kks_digits(f[KKS_REG_NIK], 16))
        FAIL("NIK must be 16 digits");
    nd = two(f[KKS_REG_NIK] + 6);
    nm = two(f[KKS_REG_NIK] + 8);
    ny = two(f[KKS_REG_NIK] + 10);
    if (nd > 40)
        nd -= 40;
    if (!kks_date_valid(y, nm, nd) || nm != m || ny != y % 100 || nd != d)
        FAIL("NIK date %.6s does not match birth_date %s", f[KKS_REG_NIK] + 6,
             f[KKS_REG_BIRTH_DATE]);
    if ((two(f[KKS_REG_NIK] + 6) > 40) != (o->sex == 'P'))
        FAIL("NIK day %.2s does not match sex %c (women add 40)", f[KKS_REG_NIK] + 6, o->sex);
    if (strcmp(f[KKS_REG_NIK] + 12, "0000") == 0)
        FAIL("NIK sequence 0000 is not issued");
    memcpy(o->nik, f[KKS_REG_NIK], 17);
    memcpy(o->birth_date, f[KKS_REG_BIRTH_DATE], 11);

    if (copy_text(o->name, sizeof o->name, f[KKS_REG_NAME], "name", 1, why, cap) < 0 ||
        copy_text(o->address, sizeof o->address, f[KKS_REG_ADDRESS], "address", 0, why, cap) <
            0 ||
        copy_text(o->kelurahan, sizeof o->kelurahan, f[KKS_REG_KELURAHAN], "kelurahan", 1, why,
                  cap) < 0 ||
        copy_text(o->kecamatan, sizeof o->kecamatan, f[KKS_REG_KECAMATAN], "kecamatan", 1, why,
                  cap) < 0)
        return KKS_EINVAL;
    if (!kks_digits(f[KKS_REG_CITY], 4) || !s->province[two(f[KKS_REG_CITY])])
        FAIL("city_code must be 4 digits with a known province");
    memcpy(o->city, f[KKS_REG_CITY], 5);
    if (check_places(s, o, why, cap) < 0)
        return KKS_EINVAL;
    if (small_int(f[KKS_REG_DECILE], 1, 10, &o->decile) < 0)
        FAIL("decile must be a DTSEN welfare decile 1 to 10, not '%.10s'", f[KKS_REG_DECILE]);
    if (o->decile < s->decile_min || o->decile > s->decile_max)
        FAIL("decile %d is outside the enrolment policy's deciles %d to %d", o->decile,
             s->decile_min, s->decile_max);
    if (!kks_seeds_bank(s, f[KKS_REG_BANK]))
        FAIL("unknown bank '%.15s'", f[KKS_REG_BANK]);
    snprintf(o->bank, sizeof o->bank, "%s", f[KKS_REG_BANK]);
    int any = 0;
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++) {
        if (small_int(f[KKS_REG_PKH_PREGNANT + i], 0, 20, &o->pkh[i]) < 0)
            FAIL("%s must be a count 0 to 20", kks_registry_header[KKS_REG_PKH_PREGNANT + i]);
        any |= o->pkh[i] > 0;
    }
    if (small_int(f[KKS_REG_BPNT], 0, 1, &o->bpnt) < 0)
        FAIL("bpnt must be 0 or 1");
    if (!any && !o->bpnt)
        FAIL("family receives no programme (no PKH component, bpnt 0)");
    return 0;
}

int kks_age_on(const char *birth, const char *today)
{
    int by, bm, bd, ty, tm, td;
    if (kks_ymd_parse(birth, &by, &bm, &bd) < 0 || kks_ymd_parse(today, &ty, &tm, &td) < 0)
        return -1;
    if (strcmp(birth, today) > 0)
        return -1;
    return ty - by - (tm < bm || (tm == bm && td < bd));
}

int kks_registry_check_holder(const kks_seeds *s, const kks_family *o, const char *today,
                              char *why, size_t cap)
{
    int age;
    if (strcmp(o->birth_date, today) > 0)
        FAIL("birth_date %s is after the enrolment date %s", o->birth_date, today);
    age = kks_age_on(o->birth_date, today);
    if (age < s->holder_min_age)
        FAIL("holder is %d on the enrolment date %s; a card holder must be %d or older (KTP "
             "age)",
             age, today, s->holder_min_age);
    return 0;
}
