/* Registry rows, identity numbers, Luhn, and the bounded CSV reader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_csv.h"
#include "kks_err.h"
#include "kks_registry.h"
#include "kks_seeds.h"

static kks_seeds seeds;

static void load(void)
{
    char err[256];
    cr_assert_eq(kks_seeds_load(&seeds, KKS_SOURCE_DIR "/seeds", err, sizeof err), 0, "%s", err);
}

TestSuite(registry, .init = load);

/* A good row: a woman born 1982-07-16 in kelurahan Pasar Merah Barat, Medan Kota (127101). */
static const char *good[KKS_REG_NFIELDS] = {
    "1271011502210001", "1271015607820001", "Tetty Br Hutapea", "1982-07-16", "P",
    "Jl. Amaliun No. 7", "Pasar Merah Barat", "Medan Kota", "1271", "3", "BTN",
    "0", "2", "0", "0", "0", "0", "0", "0"};

/* good, with the places of a row replaced. */
static void with_places(const char **f, const char *kk, const char *nik, const char *kelurahan,
                        const char *kecamatan, const char *city)
{
    memcpy(f, good, sizeof good);
    f[KKS_REG_KK] = kk;
    f[KKS_REG_NIK] = nik;
    f[KKS_REG_KELURAHAN] = kelurahan;
    f[KKS_REG_KECAMATAN] = kecamatan;
    f[KKS_REG_CITY] = city;
}

/* Parses good with the places of a row replaced; why holds 200 bytes. */
static int parse_places(const char *kk, const char *nik, const char *kelurahan,
                        const char *kecamatan, const char *city, kks_family *fam, char *why)
{
    const char *f[KKS_REG_NFIELDS];
    with_places(f, kk, nik, kelurahan, kecamatan, city);
    return kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, fam, why, 200);
}

static int check(int field, const char *value, char *why)
{
    const char *f[KKS_REG_NFIELDS];
    kks_family fam;
    memcpy(f, good, sizeof f);
    if (field >= 0)
        f[field] = value;
    return kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, 200);
}

Test(registry, good_row_parses)
{
    char why[200] = "";
    kks_family fam;
    cr_assert_eq(kks_registry_parse(&seeds, good, KKS_REG_NFIELDS, &fam, why, sizeof why), 0,
                 "%s", why);
    cr_assert_str_eq(fam.kk, "1271011502210001");
    cr_assert_eq(fam.sex, 'P');
    cr_assert_eq(fam.decile, 3);
    cr_assert_eq(fam.pkh[1], 2);
    cr_assert_eq(fam.bpnt, 0);
}

Test(registry, table_of_bad_rows)
{
    static const struct {
        int field;
        const char *value, *reason_has;
    } bad[] = {
        {KKS_REG_KK, "127101150221000", "16 digits"},
        {KKS_REG_KK, "12710115022100011", "16 digits"},
        {KKS_REG_KK, "127101150221000a", "16 digits"},
        {KKS_REG_KK, "9971011502210001", "region"},     /* province 99 */
        {KKS_REG_KK, "1271991502210001", "region"},     /* Medan has no kecamatan 99 */
        {KKS_REG_KK, "1271013202210001", "not a real date"},
        {KKS_REG_NIK, "9971015607820001", "region"},
        {KKS_REG_NIK, "1271011607820001", "sex"},       /* day 16: a man's NIK */
        {KKS_REG_NIK, "1271015707820001", "birth_date"},/* 17 July */
        {KKS_REG_NIK, "1271015606820001", "birth_date"},/* June */
        {KKS_REG_NIK, "1271015607830001", "birth_date"},/* 1983 */
        {KKS_REG_NIK, "1271017107820001", "birth_date"},/* day 31+40 of July vs 16 */
        {KKS_REG_NIK, "1271015607820000", "0000"},
        {KKS_REG_NIK, "127101560782000", "16 digits"},
        {KKS_REG_BIRTH_DATE, "1982-02-30", "real date"},
        {KKS_REG_BIRTH_DATE, "16-07-1982", "real date"},
        {KKS_REG_BIRTH_DATE, "1982-7-16", "real date"},
        {KKS_REG_SEX, "F", "L or P"},
        {KKS_REG_SEX, "", "L or P"},
        {KKS_REG_NAME, "", "name is empty"},
        {KKS_REG_NAME, "Tetty\x01", "control character"},
        {KKS_REG_NAME, "Tetty \xff", "not valid UTF-8"},          /* not UTF-8 at all */
        {KKS_REG_NAME, "Tetty \xc3", "not valid UTF-8"},          /* cut in the middle */
        {KKS_REG_NAME, "Tetty \xc0\xaf", "not valid UTF-8"},      /* overlong */
        {KKS_REG_ADDRESS, "Jl. \xed\xa0\x80", "not valid UTF-8"}, /* a surrogate */
        {KKS_REG_CITY, "127", "city_code"},
        {KKS_REG_CITY, "9971", "city_code"},
        {KKS_REG_DECILE, "5", "decile"},
        {KKS_REG_DECILE, "0", "decile"},
        {KKS_REG_DECILE, "", "decile"},
        {KKS_REG_DECILE, "-1", "decile"},
        {KKS_REG_DECILE, "3x", "decile"},
        {KKS_REG_DECILE, "\t3", "decile"},   /* strtol skipped this space */
        {KKS_REG_DECILE, "\n3", "decile"},
        {KKS_REG_DECILE, "+3", "decile"},
        {KKS_REG_DECILE, "0003", "decile"},
        {KKS_REG_PKH_EARLY, "1 ", "pkh_early_childhood"},
        {KKS_REG_BANK, "BCA", "unknown bank"},
        {KKS_REG_BANK, "bni", "unknown bank"},
        {KKS_REG_PKH_EARLY, "-1", "pkh_early_childhood"},
        {KKS_REG_PKH_EARLY, "99", "pkh_early_childhood"},
        {KKS_REG_PKH_EARLY, "0", "no programme"},
        {KKS_REG_BPNT, "2", "bpnt"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[200] = "";
        cr_assert_eq(check(bad[i].field, bad[i].value, why), KKS_EINVAL, "case %zu (%s) accepted",
                     i, bad[i].value);
        cr_assert(strstr(why, bad[i].reason_has), "case %zu: reason '%s' lacks '%s'", i, why,
                  bad[i].reason_has);
    }
}

Test(registry, women_add_forty_and_men_do_not)
{
    char why[200];
    const char *f[KKS_REG_NFIELDS];
    kks_family fam;
    memcpy(f, good, sizeof f);
    f[KKS_REG_NIK] = "1271011607820001";
    f[KKS_REG_SEX] = "L";
    cr_assert_eq(kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, sizeof why), 0, "%s",
                 why);
    /* leap day, a woman: 29 + 40 = 69 */
    f[KKS_REG_NIK] = "1271016902000001";
    f[KKS_REG_BIRTH_DATE] = "2000-02-29";
    f[KKS_REG_SEX] = "P";
    cr_assert_eq(kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, sizeof why), 0, "%s",
                 why);
    f[KKS_REG_NIK] = "1271016902010001";
    f[KKS_REG_BIRTH_DATE] = "2001-02-29";
    cr_assert_eq(kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, sizeof why),
                 KKS_EINVAL);
}

/* A city without a kecamatan list (Kota Bandung, 3273): a row whose KK and NIK lie in one
 * kecamatan of it is accepted, whatever its kecamatan and kelurahan are called, since the
 * seeds cannot say; a listed city (Medan) still checks the names. */
Test(registry, a_city_without_lists_checks_its_codes)
{
    char why[200] = "";
    kks_family fam;
    cr_assert_eq(parse_places("3273051502210001", "3273055607820001", "Suka Maju", "Bukit Indah",
                              "3273", &fam, why),
                 0, "%s", why);
    cr_assert_str_eq(fam.city, "3273");
    cr_assert_str_eq(fam.kecamatan, "Bukit Indah");
    cr_assert_eq(parse_places("1271011502210001", "1271015607820001", "Suka Maju", "Bukit Indah",
                              "1271", &fam, why),
                 KKS_EINVAL);
    cr_assert_str_eq(why, "kecamatan 'Bukit Indah' is not a kecamatan of city_code 1271");
}

/* Each registry rule, one fault per row, and the reason that names it. */
Test(registry, places_agree_with_the_regions)
{
    static const struct {
        const char *kk, *nik, *kelurahan, *kecamatan, *city, *reason;
    } bad[] = {
        /* Jakarta city, Medan kecamatan and numbers */
        {"1271011502210001", "1271015607820001", "Pasar Merah Barat", "Medan Kota", "3171",
         "KK region 127101 (Medan Kota) is not in city_code 3171"},
        /* Jakarta numbers and city, a Medan kecamatan name */
        {"3171011502210001", "3171015607820001", "Gambir", "Medan Kota", "3171",
         "kecamatan 'Medan Kota' is not a kecamatan of city_code 3171"},
        /* a city with no kecamatan: province 12, city 00 */
        {"1200011502210001", "1200015607820001", "Pasar Merah Barat", "Medan Kota", "1200",
         "city_code 1200 is not a known city"},
        /* a city code that is no regency or city of Aceh */
        {"1199011502210001", "1199015607820001", "Pasar Merah Barat", "Medan Kota", "1199",
         "city_code 1199 is not a known city"},
        /* Kabupaten Aceh Selatan has no kecamatan list: its codes are still checked */
        {"1271011502210001", "1101015607820001", "Kampung Baru", "Tapaktuan", "1101",
         "KK region 127101 is not in city_code 1101"},
        {"1101001502210001", "1101005607820001", "Kampung Baru", "Tapaktuan", "1101",
         "KK region 110100 names no kecamatan"},
        {"1101011502210001", "1101025607820001", "Kampung Baru", "Tapaktuan", "1101",
         "NIK region 110102 does not match the KK region 110101"},
        {"1101011502210001", "1271015607820001", "Kampung Baru", "Tapaktuan", "1101",
         "NIK region 127101 does not match the KK region 110101"},
        {"1271991502210001", "1271015607820001", "Pasar Merah Barat", "Medan Kota", "1271",
         "KK region 127199 is not a known kecamatan code"},
        /* the KK says Medan Sunggal, the row Medan Kota */
        {"1271021502210001", "1271015607820001", "Pasar Merah Barat", "Medan Kota", "1271",
         "kecamatan 'Medan Kota' is 127101, but the KK region is 127102 (Medan Sunggal)"},
        {"1271011502210001", "1271995607820001", "Pasar Merah Barat", "Medan Kota", "1271",
         "NIK region 127199 is not a known kecamatan code"},
        {"1271011502210001", "1271025607820001", "Pasar Merah Barat", "Medan Kota", "1271",
         "NIK region 127102 (Medan Sunggal) does not match kecamatan 127101 (Medan Kota)"},
        {"1271011502210001", "1271015607820001", "Kampung Entah", "Medan Kota", "1271",
         "kelurahan 'Kampung Entah' is not a known kelurahan of kecamatan Medan Kota"},
        /* a real kelurahan of another Medan kecamatan */
        {"1271011502210001", "1271015607820001", "Pasar Merah Timur", "Medan Kota", "1271",
         "kelurahan 'Pasar Merah Timur' belongs to kecamatan Medan Area (127110), not Medan "
         "Kota"},
        /* a Jakarta kelurahan in Medan: not a kelurahan of the city at all */
        {"1271011502210001", "1271015607820001", "Menteng", "Medan Kota", "1271",
         "kelurahan 'Menteng' is not a known kelurahan of kecamatan Medan Kota"},
        {"1271011502210000", "1271015607820001", "Pasar Merah Barat", "Medan Kota", "1271",
         "KK serial 0000 is not issued"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[200] = "";
        kks_family fam;
        cr_assert_eq(parse_places(bad[i].kk, bad[i].nik, bad[i].kelurahan, bad[i].kecamatan,
                                  bad[i].city, &fam, why),
                     KKS_EINVAL, "case %zu accepted", i);
        cr_assert(strstr(why, bad[i].reason), "case %zu: '%s' lacks '%s'", i, why, bad[i].reason);
    }
}

Test(registry, a_second_city_and_names_in_any_case)
{
    const char *f[KKS_REG_NFIELDS];
    char why[200] = "";
    kks_family fam;
    with_places(f, "3171061502210001", "3171065607820001", "Pegangsaan", "Menteng", "3171");
    cr_assert_eq(kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, sizeof why), 0, "%s",
                 why);
    /* registry extracts are often in capitals */
    f[KKS_REG_KELURAHAN] = "PEGANGSAAN";
    f[KKS_REG_KECAMATAN] = "MENTENG";
    cr_assert_eq(kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, sizeof why), 0, "%s",
                 why);
    /* Sei Mati is a kelurahan of both Medan Labuhan and Medan Maimun */
    memcpy(f, good, sizeof f);
    f[KKS_REG_KK] = "1271151502210001";
    f[KKS_REG_NIK] = "1271155607820001";
    f[KKS_REG_KELURAHAN] = "Sei Mati";
    f[KKS_REG_KECAMATAN] = "Medan Maimun";
    cr_assert_eq(kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, sizeof why), 0, "%s",
                 why);
}

Test(registry, deciles_come_from_policy)
{
    char why[200] = "";
    cr_assert_eq(seeds.decile_min, 1);
    cr_assert_eq(seeds.decile_max, 4);
    cr_assert_eq(check(KKS_REG_DECILE, "5", why), KKS_EINVAL);
    cr_assert(strstr(why, "decile 5 is outside the enrolment policy's deciles 1 to 4"), "%s", why);
    cr_assert_eq(check(KKS_REG_DECILE, "11", why), KKS_EINVAL);
    cr_assert(strstr(why, "decile must be a DTSEN welfare decile 1 to 10"), "%s", why);
    /* another policy: the same row is judged by it, not by a number in C */
    kks_seeds wide = seeds;
    kks_family fam;
    const char *f[KKS_REG_NFIELDS];
    memcpy(f, good, sizeof f);
    f[KKS_REG_DECILE] = "6";
    wide.decile_max = 6;
    cr_assert_eq(kks_registry_parse(&wide, f, KKS_REG_NFIELDS, &fam, why, sizeof why), 0, "%s",
                 why);
    wide.decile_min = 2;
    f[KKS_REG_DECILE] = "1";
    cr_assert_eq(kks_registry_parse(&wide, f, KKS_REG_NFIELDS, &fam, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "deciles 2 to 6"), "%s", why);
}

/* The holder: born 1982-07-16 in the good row; KTP age 17 in the seeds. */
static int holder(const char *birth, const char *nik, const char *today, char *why)
{
    const char *f[KKS_REG_NFIELDS];
    kks_family fam;
    memcpy(f, good, sizeof f);
    f[KKS_REG_BIRTH_DATE] = birth;
    f[KKS_REG_NIK] = nik;
    cr_assert_eq(kks_registry_parse(&seeds, f, KKS_REG_NFIELDS, &fam, why, 200), 0, "%s", why);
    return kks_registry_check_holder(&seeds, &fam, today, why, 200);
}

Test(registry, holder_is_of_ktp_age)
{
    char why[200] = "";
    cr_assert_eq(seeds.holder_min_age, 17);
    cr_assert_eq(holder("1982-07-16", "1271015607820001", "2026-11-20", why), 0, "%s", why);
    /* born in 2030: the NIK agrees, the date is real, but it has not happened */
    cr_assert_eq(holder("2030-01-05", "1271014501300001", "2026-11-20", why), KKS_EINVAL);
    cr_assert(strstr(why, "birth_date 2030-01-05 is after the enrolment date 2026-11-20"), "%s",
              why);
    /* aged 4 */
    cr_assert_eq(holder("2022-03-01", "1271014103220001", "2026-11-20", why), KKS_EINVAL);
    cr_assert(strstr(why, "holder is 4 on the enrolment date 2026-11-20; a card holder must be 17 "
                          "or older"),
              "%s", why);
    /* the 17th birthday is the first day */
    cr_assert_eq(holder("2009-11-20", "1271016011090001", "2026-11-19", why), KKS_EINVAL);
    cr_assert(strstr(why, "holder is 16"), "%s", why);
    cr_assert_eq(holder("2009-11-20", "1271016011090001", "2026-11-20", why), 0, "%s", why);
    /* born on 29 February: 17 on 1 March of a common year */
    cr_assert_eq(holder("2008-02-29", "1271016902080001", "2025-02-28", why), KKS_EINVAL);
    cr_assert_eq(holder("2008-02-29", "1271016902080001", "2025-03-01", why), 0, "%s", why);
    /* born today is not in the future, but far too young */
    cr_assert_eq(holder("2026-11-20", "1271016011260001", "2026-11-20", why), KKS_EINVAL);
    cr_assert(strstr(why, "holder is 0"), "%s", why);
}

Test(ids, age_on)
{
    cr_assert_eq(kks_age_on("1982-07-16", "2026-07-15"), 43);
    cr_assert_eq(kks_age_on("1982-07-16", "2026-07-16"), 44);
    cr_assert_eq(kks_age_on("2026-07-17", "2026-07-16"), -1);
    cr_assert_eq(kks_age_on("x", "2026-07-16"), -1);
}

Test(registry, wrong_field_count)
{
    char why[200];
    kks_family fam;
    cr_assert_eq(kks_registry_parse(&seeds, good, 18, &fam, why, sizeof why), KKS_EINVAL);
    cr_assert(strstr(why, "expected 19 fields"), "%s", why);
}

Test(ids, luhn_and_masking)
{
    cr_assert_eq(kks_luhn_digit("7992739871", 10), '3');
    cr_assert(kks_pan_valid("4111111111111111"));
    cr_assert(kks_pan_valid("5046010000000012"));
    cr_assert_not(kks_pan_valid("5046010000000013"));
    cr_assert_not(kks_pan_valid("50460100000"));          /* 11 digits */
    cr_assert_not(kks_pan_valid("50460100000000000000")); /* 20 digits */
    cr_assert_not(kks_pan_valid("504601000000001x"));
    cr_assert_not(kks_pan_valid(""));
    char m[20];
    kks_pan_mask("5046010000000012", m);
    cr_assert_str_eq(m, "504601******0012");
    kks_pan_mask("123", m);
    cr_assert_str_eq(m, "***");
}

Test(ids, dates)
{
    int y, m, d;
    cr_assert(kks_date_valid(2000, 2, 29));
    cr_assert_not(kks_date_valid(1900, 2, 29));
    cr_assert_not(kks_date_valid(2023, 4, 31));
    cr_assert_eq(kks_ymd_parse("2026-11-24", &y, &m, &d), 0);
    cr_assert(y == 2026 && m == 11 && d == 24);
    cr_assert_eq(kks_ymd_parse("2026-11-24x", &y, &m, &d), KKS_EINVAL);
    cr_assert_eq(kks_ymd_parse("2026-13-01", &y, &m, &d), KKS_EINVAL);
    cr_assert_eq(kks_ymd_parse("", &y, &m, &d), KKS_EINVAL);
}

/* ---- CSV ---- */

static FILE *mem(const char *s, size_t n)
{
    FILE *f = fmemopen((void *)s, n, "r");
    cr_assert_not_null(f);
    return f;
}

Test(csv, quoting_newlines_and_crlf)
{
    static const char text[] = "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n,,\nlast";
    FILE *f = mem(text, sizeof text - 1);
    kks_csv c;
    kks_csv_init(&c, f, 0);
    cr_assert_eq(kks_csv_next(&c), 1);
    cr_assert_eq(c.nfields, 3);
    cr_assert_eq(c.line, 1);
    cr_assert_eq(kks_csv_next(&c), 1);
    cr_assert_eq(c.line, 2);
    cr_assert_str_eq(c.fields[0], "x,1");
    cr_assert_str_eq(c.fields[1], "say \"hi\"");
    cr_assert_str_eq(c.fields[2], "two\nlines");
    cr_assert_eq(kks_csv_next(&c), 1); /* blank line skipped */
    cr_assert_eq(c.line, 5, "line numbers count the newline inside quotes");
    cr_assert_eq(c.nfields, 3);
    cr_assert_str_eq(c.fields[2], "");
    cr_assert_eq(kks_csv_next(&c), 1);
    cr_assert_str_eq(c.fields[0], "last");
    cr_assert_eq(kks_csv_next(&c), 0);
    kks_csv_close(&c);
    fclose(f);
}

/* Each record's offset is where it starts (after a CRLF, a quoted newline, a
 * blank line); seeking back to it, in any order, reads the same record with
 * the same line number. */
Test(csv, offsets_and_seeking_back)
{
    static const char text[] = "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n,,\nlast";
    FILE *f = mem(text, sizeof text - 1);
    kks_csv c;
    unsigned long long off[4];
    unsigned long line[4];
    char first[4][16];
    kks_csv_init(&c, f, 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(kks_csv_next(&c), 1);
        off[i] = c.offset;
        line[i] = c.line;
        snprintf(first[i], sizeof first[i], "%s", c.fields[0]);
    }
    cr_assert_eq(off[0], 0);
    cr_assert_eq(off[1], 7, "after the CRLF");
    cr_assert_eq(text[off[3]], 'l');
    for (int i = 3; i >= 0; i--) {
        cr_assert_eq(kks_csv_seek(&c, off[i], line[i]), 0);
        cr_assert_eq(kks_csv_next(&c), 1);
        cr_assert_eq(c.line, line[i]);
        cr_assert_eq(c.offset, off[i]);
        cr_assert_str_eq(c.fields[0], first[i]);
    }
    cr_assert_str_eq(c.fields[0], "a");
    cr_assert_eq(kks_csv_next(&c), 1);
    cr_assert_str_eq(c.fields[2], "two\nlines", "reading on after a seek");
    kks_csv_close(&c);
    fclose(f);
}

/* The reader over bytes in memory (kks_csv_init_mem) gives exactly what the
 * FILE reader gives for the same bytes: every record, its fields, line and
 * offset, and the same error at the same place. Returns the end (0 or error). */
static int same_both_ways(const char *text, size_t n, size_t max)
{
    FILE *f = mem(n ? text : "", n ? n : 1);
    kks_csv c, m;
    int rc, mrc, k = 0;
    if (!n)
        (void)fgetc(f);
    cr_assert_eq(kks_csv_init(&c, f, max), 0);
    cr_assert_eq(kks_csv_init_mem(&m, text, n, max), 0);
    do {
        rc = kks_csv_next(&c);
        mrc = kks_csv_next(&m);
        cr_assert_eq(mrc, rc, "record %d: memory %d, file %d", k, mrc, rc);
        cr_assert_str_eq(m.errmsg, c.errmsg);
        if (rc != 1)
            break;
        cr_assert_eq(m.nfields, c.nfields, "record %d", k);
        cr_assert_eq(m.line, c.line, "record %d", k);
        cr_assert_eq(m.next_line, c.next_line, "record %d", k);
        cr_assert_eq(m.offset, c.offset, "record %d", k);
        cr_assert_eq(m.pos, c.pos, "record %d", k);
        for (int i = 0; i < c.nfields; i++)
            cr_assert_str_eq(m.fields[i], c.fields[i], "record %d field %d", k, i);
        k++;
    } while (1);
    kks_csv_close(&c);
    kks_csv_close(&m);
    fclose(f);
    return rc;
}

static void expect_error(const char *text, size_t n, size_t max, const char *has)
{
    FILE *f = mem(text, n);
    kks_csv c;
    int rc;
    kks_csv_init(&c, f, max);
    while ((rc = kks_csv_next(&c)) == 1)
        ;
    cr_assert_eq(rc, KKS_EINVAL, "no error for %s", has);
    cr_assert(strstr(c.errmsg, has), "'%s' lacks '%s'", c.errmsg, has);
    cr_assert_eq(kks_csv_next(&c), KKS_EINVAL, "error is sticky");
    kks_csv_close(&c);
    fclose(f);
    cr_assert_eq(same_both_ways(text, n, max), KKS_EINVAL, "%s", has);
}

Test(csv, from_memory_exactly_as_from_a_file)
{
    static const char *const texts[] = {
        "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n\n,,\nlast",
        "kk,nik\n1,2\n3,4\n",      /* plain lines: the fast path */
        "kk,nik\n1,2\n3,4",         /* no newline at the end */
        "\n\n\na\n\n",             /* blank lines */
        ",\n,,\n,,,\n",            /* empty fields */
        "a,b\r\nc,d\r\n",           /* CRLF: the general path */
        "a,b\rc,d\n",               /* a lone CR ends a line */
        "Jl. Merdeka 5,Kel. Sukamaju\n\xc3\xa9t\xc3\xa9,x\n", /* UTF-8 */
        "x,\"q\"\nplain,line\nx,\"q\"\n", /* fast and general paths in turn */
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        cr_assert_geq(same_both_ways(texts[i], strlen(texts[i]), 0), 0, "text %zu", i);
    /* the record bound and the field count, at and past their limits */
    char line[200];
    memset(line, 'x', sizeof line);
    for (size_t n = 60; n <= 70; n++)
        same_both_ways(line, n, 64);
    char commas[200];
    for (int nf = 62; nf <= 66; nf++) {
        memset(commas, ',', (size_t)nf - 1);
        commas[nf - 1] = '\n';
        same_both_ways(commas, (size_t)nf, 0);
    }
}

Test(csv, hostile_inputs)
{
    expect_error("a,\"b\nc,d\n", 9, 0, "line 1: unterminated");
    expect_error("ok\nx,\"b\"c\n", 10, 0, "line 2: text after a closing quote");
    expect_error("ok\nab\"c\n", 8, 0, "line 2: quote inside");
    expect_error("a,b\nc\0d\n", 8, 0, "line 2: NUL byte");
    /* a 10 MB line against the default 64 KiB bound */
    size_t big = 10u << 20;
    char *s = malloc(big);
    memset(s, 'x', big);
    expect_error(s, big, 0, "longer than 65536");
    free(s);
    char many[300];
    memset(many, ',', sizeof many);
    expect_error(many, sizeof many, 0, "too many fields");
}

/* EnrollRow.packed, as kksctl sends rows: fields each ended by a NUL byte. */
Test(registry, packed_rows_unpack_and_hostile_ones_do_not)
{
    const char *f[4];
    static const uint8_t row[] = "1271\0\0Budi \xC3\xA9"; /* and the literal's own NUL */
    cr_assert_eq(kks_registry_unpack(row, sizeof row, f, 4), 3);
    cr_assert_str_eq(f[0], "1271");
    cr_assert_str_eq(f[1], "");
    cr_assert_str_eq(f[2], "Budi \xC3\xA9");
    cr_assert_eq(kks_registry_unpack((const uint8_t *)"", 1, f, 4), 1); /* one empty field */
    cr_assert_str_eq(f[0], "");
    /* more fields than asked for: cap + 1, nothing past cap written */
    const char *two[2] = {NULL, NULL};
    cr_assert_eq(kks_registry_unpack((const uint8_t *)"a\0b\0c", 6, two, 1), 2);
    cr_assert_str_eq(two[0], "a");
    cr_assert_null(two[1]);
    static const struct {
        const char *data;
        size_t len;
    } bad[] = {
        {"", 0},                 /* empty */
        {"abc", 3},              /* no NUL at the end: a read past len would follow */
        {"a\0bc", 4},            /* the last field not ended */
        {"\xC3\0", 2},           /* a lead byte alone */
        {"ok\0\xED\xA0\x80\0", 7}, /* a surrogate in the second field */
        {"\xC0\xAF\0", 3},       /* overlong */
        {"\xF4\x90\x80\x80\0", 5}, /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* a copy of exactly len bytes, so that ASan sees any read past them */
        uint8_t *d = malloc(bad[i].len ? bad[i].len : 1);
        memcpy(d, bad[i].data, bad[i].len);
        cr_assert_eq(kks_registry_unpack(d, bad[i].len, f, 4), -1, "case %zu", i);
        free(d);
    }
}
