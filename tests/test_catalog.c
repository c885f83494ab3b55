/* The catalogue (staples.csv, bpnt-categories.csv) and the known terminals (terminals.csv):
 * the real seeds, then hostile copies in a temporary directory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kks_catalog.h"
#include "kks_err.h"
#include "kks_pki.h"

#define SEEDS KKS_SOURCE_DIR "/seeds"

static kks_catalog cat;
static kks_terminals terms; /* about 1.3 MB: static, not on the stack */

/* ---- the real seeds --------------------------------------------------------------------- */

static void load_real(void)
{
    char err[512] = "";
    cr_assert_eq(kks_catalog_load(&cat, SEEDS, err, sizeof err), 0, "%s", err);
    cr_assert_eq(kks_terminals_load(&terms, SEEDS, err, sizeof err), 0, "%s", err);
}

TestSuite(seeds, .init = load_real);

Test(seeds, catalogue_lookups)
{
    const kks_item *rice = kks_catalog_find(&cat, "BRS-MED-5KG");
    cr_assert_geq(cat.nitems, 20);
    cr_assert_not_null(rice);
    cr_assert_str_eq(rice->category, "karbohidrat");
    cr_assert_gt(rice->price, 0);
    cr_assert_not_null(kks_catalog_find(&cat, "TLR-1KG"));
    cr_assert_not_null(kks_catalog_find(&cat, "MYK-1L"));
    cr_assert_null(kks_catalog_find(&cat, "brs-med-5kg"), "SKUs are case-sensitive");
    cr_assert_null(kks_catalog_find(&cat, "BRS-MED-5K"));
    cr_assert_null(kks_catalog_find(&cat, ""));
    cr_assert_null(kks_catalog_find(&cat, NULL));
    /* Every item is found by its own SKU, and prices are in range. */
    for (int i = 0; i < cat.nitems; i++) {
        cr_assert_eq(kks_catalog_find(&cat, cat.items[i].sku), &cat.items[i], "%s",
                     cat.items[i].sku);
        cr_assert(cat.items[i].price >= 1 && cat.items[i].price <= KKS_CATALOG_PRICE_MAX);
    }
}

Test(seeds, bpnt_allowed_follows_the_category_file)
{
    static const char *const allowed[] = {"BRS-PRM-5KG", "BRS-MED-5KG", "JGN-1KG", "SGU-500G",
                                          "SKG-1KG",     "TLR-1KG",     "TLR-TRAY", "DGS-1KG",
                                          "DGA-1KG",     "IKN-TGK-1KG", "KCH-1KG",  "TMP-500G",
                                          "TAH-10",      "SYR-BYM",     "BUA-PSG"};
    static const char *const refused[] = {"MYK-1L",     "TPG-1KG",      "GLP-1KG",
                                          "SSU-UHT-1L", "MBY-BUB-120G", "KLG-SRD-425G",
                                          "MIE-GRG",    "PLS-10K",      "RKK-16"};
    static const char *const allowed_cats[] = {"karbohidrat", "protein_hewani", "protein_nabati",
                                               "vitamin_mineral"};
    int seen[4] = {0};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        const kks_item *it = kks_catalog_find(&cat, allowed[i]);
        cr_assert_not_null(it, "%s", allowed[i]);
        cr_assert_eq(kks_catalog_bpnt_allowed(&cat, it), 1, "%s", allowed[i]);
    }
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const kks_item *it = kks_catalog_find(&cat, refused[i]);
        cr_assert_not_null(it, "%s", refused[i]);
        cr_assert_eq(kks_catalog_bpnt_allowed(&cat, it), 0, "%s", refused[i]);
    }
    /* Exactly the four DOMAIN.md categories are allowed, and each has goods. */
    for (int i = 0; i < cat.nitems; i++) {
        int in = 0;
        for (int k = 0; k < 4; k++) {
            if (strcmp(cat.items[i].category, allowed_cats[k]) == 0) {
                in = 1;
                seen[k]++;
            }
        }
        cr_assert_eq(kks_catalog_bpnt_allowed(&cat, &cat.items[i]), in, "%s", cat.items[i].sku);
    }
    for (int k = 0; k < 4; k++)
        cr_assert_gt(seen[k], 0, "no goods in %s", allowed_cats[k]);
    /* Fails safe for anything that is not an item of this catalogue. */
    kks_item stray = cat.items[0];
    cr_assert_eq(kks_catalog_bpnt_allowed(&cat, NULL), 0);
    cr_assert_eq(kks_catalog_bpnt_allowed(&cat, &stray), 0);
}

Test(seeds, every_terminal_is_valid_and_its_kind_matches_the_prefix)
{
    int n[4] = {0};
    cr_assert_geq(terms.n, 12 + 4 + 2);
    for (int i = 0; i < terms.n; i++) {
        const kks_terminal *t = &terms.items[i];
        cr_assert(kks_terminal_id_valid(t->id), "%s", t->id);
        cr_assert_neq(t->kind, KKS_TERMINAL_UNKNOWN, "%s", t->id);
        cr_assert_eq(kks_terminal_kind_of(t->id), t->kind, "%s", t->id);
        cr_assert_eq(kks_terminals_find(&terms, t->id), t, "%s", t->id);
        cr_assert_eq(t->merchant_id[0] != '\0', t->kind == KKS_TERMINAL_EWARONG, "%s", t->id);
        n[t->kind]++;
    }
    cr_assert_geq(n[KKS_TERMINAL_EWARONG], 12);
    cr_assert_geq(n[KKS_TERMINAL_ATM], 4);
    cr_assert_geq(n[KKS_TERMINAL_BRANCH], 2);
    /* One ATM per bank at least, with the bank its ID names. */
    static const char *const atms[][2] = {{"ATM-BNI-0001", "BNI"},
                                          {"ATM-BRI-0001", "BRI"},
                                          {"ATM-MANDIRI-0001", "MANDIRI"},
                                          {"ATM-BTN-0001", "BTN"}};
    for (size_t i = 0; i < 4; i++) {
        const kks_terminal *t = kks_terminals_find(&terms, atms[i][0]);
        cr_assert_not_null(t, "%s", atms[i][0]);
        cr_assert_eq(t->kind, KKS_TERMINAL_ATM);
        cr_assert_str_eq(t->bank, atms[i][1]);
        cr_assert_str_eq(t->merchant_id, "");
    }
    const kks_terminal *ew = kks_terminals_find(&terms, "EW-127101-0001");
    cr_assert_not_null(ew);
    cr_assert_str_eq(ew->merchant_id, "M-127101-0001");
    cr_assert_str_eq(ew->kecamatan_code, "127101");
    cr_assert_str_eq(kks_terminal_kind_name(ew->kind), "ewarong");
    cr_assert_null(kks_terminals_find(&terms, "EW-127101-9999"));
    cr_assert_null(kks_terminals_find(&terms, NULL));
}

Test(seeds, kind_of_unlisted_ids)
{
    cr_assert_eq(kks_terminal_kind_of("EW-127199-0042"), KKS_TERMINAL_EWARONG);
    cr_assert_eq(kks_terminal_kind_of("ATM-BRI-9999"), KKS_TERMINAL_ATM);
    cr_assert_eq(kks_terminal_kind_of("BR-BTN-X"), KKS_TERMINAL_BRANCH);
    cr_assert_eq(kks_terminal_kind_of("POS-0001"), KKS_TERMINAL_UNKNOWN);
    cr_assert_eq(kks_terminal_kind_of("EW-"), KKS_TERMINAL_UNKNOWN);
    cr_assert_eq(kks_terminal_kind_of("ew-127101-0001"), KKS_TERMINAL_UNKNOWN);
    cr_assert_eq(kks_terminal_kind_of("ATM-bni-1"), KKS_TERMINAL_UNKNOWN);
    cr_assert_eq(kks_terminal_kind_of("ATM-BNI-0001-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                 KKS_TERMINAL_UNKNOWN); /* 41 characters */
    cr_assert_eq(kks_terminal_kind_of(""), KKS_TERMINAL_UNKNOWN);
    cr_assert_eq(kks_terminal_kind_of(NULL), KKS_TERMINAL_UNKNOWN);
    cr_assert_str_eq(kks_terminal_kind_name(KKS_TERMINAL_UNKNOWN), "unknown");
    cr_assert_str_eq(kks_terminal_kind_name((enum kks_terminal_kind)99), "unknown");
}

/* ---- hostile seeds ---------------------------------------------------------------------- */

static char tmp[256];

static void copy_file(const char *name)
{
    char src[512], dst[512], buf[8192];
    size_t n;
    FILE *in, *out;
    snprintf(src, sizeof src, "%s/%s", SEEDS, name);
    snprintf(dst, sizeof dst, "%s/%s", tmp, name);
    in = fopen(src, "rb");
    out = fopen(dst, "wb");
    cr_assert(in && out, "%s", name);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void make_tmp(void)
{
    static const char *const files[] = {"banks.csv",         "provinces.csv",
                                        "province-population.csv", "cities.csv",
                                        "kecamatan.csv",     "kelurahan.csv",
                                        "card-policy.csv",   "registry-policy.csv",
                                        "bpnt-categories.csv", "staples.csv",
                                        "terminals.csv", "bpnt-category-periods.csv"};
    snprintf(tmp, sizeof tmp, "/tmp/kks-catalog-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        copy_file(files[i]);
}

static void remove_tmp(void)
{
    static const char *const files[] = {"banks.csv",         "provinces.csv",
                                        "province-population.csv", "cities.csv",
                                        "kecamatan.csv",     "kelurahan.csv",
                                        "card-policy.csv",   "registry-policy.csv",
                                        "bpnt-categories.csv", "staples.csv",
                                        "terminals.csv", "bpnt-category-periods.csv"};
    char p[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, files[i]);
        unlink(p);
    }
    rmdir(tmp);
}

TestSuite(hostile, .init = make_tmp, .fini = remove_tmp);

static void write_file(const char *name, const char *text)
{
    char p[512];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    cr_assert_not_null(f = fopen(p, "w"));
    fputs(text, f);
    fclose(f);
}

/* Writes the file, loads, and expects KKS_EINVAL with an err naming the file and the line and
 * containing the reason. */
static void expect_bad(const char *file, const char *text, const char *line, const char *reason)
{
    static kks_catalog c;
    static kks_terminals t;
    char err[512] = "", want[64];
    int rc;
    write_file(file, text);
    if (strcmp(file, "terminals.csv") == 0)
        rc = kks_terminals_load(&t, tmp, err, sizeof err);
    else
        rc = kks_catalog_load(&c, tmp, err, sizeof err);
    cr_assert_eq(rc, KKS_EINVAL, "%s: rc %d, err '%s'", reason, rc, err);
    snprintf(want, sizeof want, "%s line %s:", file, line);
    cr_assert_not_null(strstr(err, want), "err '%s' lacks '%s'", err, want);
    cr_assert_not_null(strstr(err, reason), "err '%s' lacks '%s'", err, reason);
}

#define STAPLES_H "sku,name,category,unit,price\n"
#define TERMS_H "terminal_id,kind,name,merchant_id,bank,kecamatan_code,address\n"
#define EW1 "EW-127101-0001,ewarong,e-Warong A,M-127101-0001,BNI,127101,Jl. A\n"

Test(hostile, copies_load)
{
    static kks_catalog c;
    static kks_terminals t;
    char err[512] = "";
    cr_assert_eq(kks_catalog_load(&c, tmp, err, sizeof err), 0, "%s", err);
    cr_assert_eq(kks_terminals_load(&t, tmp, err, sizeof err), 0, "%s", err);
    write_file("terminals.csv", TERMS_H);
    cr_assert_eq(kks_terminals_load(&t, tmp, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.n, 0);
}

/* bpnt-category-periods.csv: which categories BPNT may buy in some months only. */
Test(hostile, commodity_list_per_period)
{
    static kks_catalog c;
    char err[512] = "";
    write_file("bpnt-category-periods.csv", "period,category,allowed\n"
                                            "2022-04..06,minyak_goreng,1\n"
                                            "2022-05,karbohidrat,0\n");
    cr_assert_eq(kks_catalog_load(&c, tmp, err, sizeof err), 0, "%s", err);
    const kks_item *oil = kks_catalog_find(&c, "MYK-1L"), *rice = kks_catalog_find(&c, "BRS-MED-5KG");
    cr_assert(oil && rice);
    cr_assert_eq(kks_catalog_bpnt_allowed_in(&c, oil, kks_month_of_date("2022-03-31")), 0);
    cr_assert_eq(kks_catalog_bpnt_allowed_in(&c, oil, kks_month_of_date("2022-04-01")), 1);
    cr_assert_eq(kks_catalog_bpnt_allowed_in(&c, oil, kks_month_of_date("2022-06-30")), 1);
    cr_assert_eq(kks_catalog_bpnt_allowed_in(&c, oil, kks_month_of_date("2022-07-01")), 0);
    cr_assert_eq(kks_catalog_bpnt_allowed(&c, oil), 0, "the default list is unchanged");
    cr_assert_eq(kks_catalog_bpnt_allowed_in(&c, rice, kks_month_of_date("2022-05-15")), 0);
    cr_assert_eq(kks_catalog_bpnt_allowed_in(&c, rice, kks_month_of_date("2022-06-15")), 1);
    cr_assert_eq(kks_catalog_bpnt_allowed_in(&c, NULL, kks_month_of_date("2022-06-15")), 0);

    expect_bad("bpnt-category-periods.csv", "period,category,allowed\n2022-13,gula,1\n", "2",
               "must be a BPNT month");
    expect_bad("bpnt-category-periods.csv", "period,category,allowed\n2022-04,camilan,1\n", "2",
               "'camilan' is not in bpnt-categories.csv");
    expect_bad("bpnt-category-periods.csv", "period,category,allowed\n2022-04,gula,ya\n", "2",
               "allowed must be 1 or 0");
    expect_bad("bpnt-category-periods.csv",
               "period,category,allowed\n2022-04..06,gula,1\n2022-07,gula,1\n2022-06,gula,0\n",
               "4", "gula in 2022-06 overlaps the rule on line 2");
    expect_bad("bpnt-category-periods.csv", "periode,kategori,boleh\n", "1", "header");
}

Test(hostile, duplicate_sku)
{
    expect_bad("staples.csv",
               STAPLES_H "BRS-5KG,Beras 5 kg,karbohidrat,karung,70000\n"
                         "TLR-1KG,Telur 1 kg,protein_hewani,kg,29000\n"
                         "BRS-5KG,Beras lagi,karbohidrat,karung,71000\n",
               "4", "already listed on line 2");
}

Test(hostile, bad_prices)
{
    static const char *const prices[] = {"-5000", "0", "100000001", "99999999999999999999",
                                         "", "12.500", "1e6", " 5000", "+5000"};
    char text[256];
    for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++) {
        snprintf(text, sizeof text,
                 STAPLES_H "TLR-1KG,Telur 1 kg,protein_hewani,kg,29000\n"
                           "BRS-5KG,Beras 5 kg,karbohidrat,karung,%s\n",
                 prices[i]);
        expect_bad("staples.csv", text, "3", "price must be whole rupiah");
    }
    /* The bound itself is accepted. */
    static kks_catalog c;
    char err[512] = "";
    write_file("staples.csv", STAPLES_H "SPR-1,Barang mahal,lainnya,unit,100000000\n");
    cr_assert_eq(kks_catalog_load(&c, tmp, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.items[0].price, KKS_CATALOG_PRICE_MAX);
}

Test(hostile, unknown_category)
{
    expect_bad("staples.csv",
               STAPLES_H "TLR-1KG,Telur 1 kg,protein_hewani,kg,29000\n"
                         "KRP-1,Kerupuk,camilan,bungkus,5000\n",
               "3", "'camilan' is not in bpnt-categories.csv");
}

Test(hostile, bad_sku_and_fields)
{
    expect_bad("staples.csv", STAPLES_H "brs-5kg,Beras,karbohidrat,karung,70000\n", "2",
               "SKU 'brs-5kg'");
    expect_bad("staples.csv", STAPLES_H "BRS-5KG-PREMIUM-X,Beras,karbohidrat,karung,70000\n",
               "2", "SKU");
    expect_bad("staples.csv", STAPLES_H "BRS-5KG,,karbohidrat,karung,70000\n", "2", "name");
    expect_bad("staples.csv", STAPLES_H "BRS-5KG,Beras,karbohidrat,karung\n", "2",
               "4 fields, expected 5");
}

Test(hostile, bad_category_file)
{
    expect_bad("bpnt-categories.csv", "category,allowed\nkarbohidrat,1\nkarbohidrat,0\n", "3",
               "already listed on line 2");
    expect_bad("bpnt-categories.csv", "category,allowed\nkarbohidrat,yes\n", "2",
               "allowed must be 1 or 0");
    expect_bad("bpnt-categories.csv", "category,allowed\nKarbohidrat,1\n", "2", "category");
}

Test(hostile, wrong_headers)
{
    expect_bad("staples.csv", "sku,name,category,price,unit\nBRS,Beras,karbohidrat,5,kg\n", "1",
               "unexpected header, expected sku,name,category,unit,price");
    expect_bad("staples.csv", "", "1", "unexpected header");
    expect_bad("bpnt-categories.csv", "kategori,boleh\nkarbohidrat,1\n", "1",
               "unexpected header");
    expect_bad("terminals.csv", "terminal_id,kind,name,merchant_id,bank,kecamatan\n" EW1, "1",
               "unexpected header");
}

Test(hostile, bad_terminal_ids)
{
    static const char *const ids[] = {"EW-127101-0001!", "ew-127101-0001", "POS-0001", "EW-",
                                      "ATM-BNI-0001-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""};
    char text[512];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        snprintf(text, sizeof text, TERMS_H EW1 "%s,atm,ATM X,,BNI,127101,Jl. B\n", ids[i]);
        expect_bad("terminals.csv", text, "3", "is not EW-..., ATM-... or BR-...");
    }
}

Test(hostile, kind_prefix_mismatch)
{
    expect_bad("terminals.csv", TERMS_H EW1 "ATM-BNI-0001,ewarong,ATM BNI,,BNI,127101,Jl. B\n",
               "3", "kind ewarong does not match the ID prefix, which means atm");
    expect_bad("terminals.csv",
               TERMS_H "EW-127101-0001,branch,e-Warong A,M-127101-0001,BNI,127101,Jl. A\n", "2",
               "kind branch does not match the ID prefix, which means ewarong");
    expect_bad("terminals.csv", TERMS_H "BR-BNI-MEDAN-01,kiosk,BNI,,BNI,127101,Jl. A\n", "2",
               "kind must be ewarong, atm or branch");
}

Test(hostile, terminal_rows)
{
    expect_bad("terminals.csv", TERMS_H EW1 EW1, "3", "already listed on line 2");
    expect_bad("terminals.csv", TERMS_H "ATM-BNI-0001,atm,ATM BNI,,BCA,127101,Jl. A\n", "2",
               "bank 'BCA' is not in banks.csv");
    expect_bad("terminals.csv", TERMS_H "ATM-BNI-0001,atm,ATM BNI,,BNI,127199,Jl. A\n", "2",
               "kecamatan_code '127199'");
    expect_bad("terminals.csv", TERMS_H "ATM-BRI-0001,atm,ATM BRI,,BNI,127101,Jl. A\n", "2",
               "must start ATM-BNI-");
    expect_bad("terminals.csv", TERMS_H "ATM-BNI-0001,atm,ATM BNI,M-1,BNI,127101,Jl. A\n", "2",
               "only an e-warong has a merchant_id");
    expect_bad("terminals.csv", TERMS_H "EW-127101-0001,ewarong,e-Warong,,BNI,127101,Jl. A\n",
               "2", "needs a merchant_id");
    expect_bad("terminals.csv", TERMS_H "EW-127101-0001,ewarong,e-Warong,M-1,BNI,127102,Jl. A\n",
               "2", "must start EW-127102-");
    expect_bad("terminals.csv", TERMS_H "EW-127101-0001,ewarong,,M-1,BNI,127101,Jl. A\n", "2",
               "name empty");
}

Test(hostile, a_failed_load_leaves_nothing)
{
    static kks_catalog c;
    char err[512] = "";
    cr_assert_eq(kks_catalog_load(&c, tmp, err, sizeof err), 0, "%s", err);
    write_file("staples.csv", STAPLES_H "BRS-5KG,Beras,karbohidrat,karung,0\n");
    cr_assert_eq(kks_catalog_load(&c, tmp, err, sizeof err), KKS_EINVAL);
    cr_assert_eq(c.nitems, 0);
    cr_assert_null(kks_catalog_find(&c, "BRS-5KG"));
}

/* The seeds that the registry rules read: kelurahan.csv and registry-policy.csv. */
static void expect_bad_seeds(const char *file, const char *text, const char *line,
                             const char *reason)
{
    static kks_terminals t;
    char err[512] = "", want[64];
    write_file(file, text);
    cr_assert_eq(kks_terminals_load(&t, tmp, err, sizeof err), KKS_EINVAL, "%s: err '%s'", reason,
                 err);
    snprintf(want, sizeof want, "%s line %s:", file, line);
    cr_assert_not_null(strstr(err, want), "err '%s' lacks '%s'", err, want);
    cr_assert_not_null(strstr(err, reason), "err '%s' lacks '%s'", err, reason);
}

#define REGPOL_H "key,value\n"
#define KEL_H "kecamatan_code,name\n"

Test(hostile, registry_seeds)
{
    expect_bad_seeds("registry-policy.csv", REGPOL_H "holder_min_age,17\ndecile_min,1\nfoo,2\n",
                     "4", "unknown key 'foo'");
    expect_bad_seeds("registry-policy.csv",
                     REGPOL_H "holder_min_age,17\ndecile_min,1\nholder_min_age,18\n", "4",
                     "holder_min_age given twice");
    expect_bad_seeds("registry-policy.csv", REGPOL_H "holder_min_age,abc\n", "2",
                     "holder_min_age must be a whole number 1..100");
    expect_bad_seeds("registry-policy.csv", REGPOL_H "decile_max,11\n", "2",
                     "decile_max must be a whole number 1..10");
    /* every key is required, and the range must not be empty */
    static kks_terminals t;
    char err[512] = "";
    write_file("registry-policy.csv", REGPOL_H "holder_min_age,17\ndecile_min,1\n");
    cr_assert_eq(kks_terminals_load(&t, tmp, err, sizeof err), KKS_EINVAL);
    cr_assert(strstr(err, "registry-policy.csv: decile_max missing"), "%s", err);
    write_file("registry-policy.csv", REGPOL_H "holder_min_age,17\ndecile_min,5\ndecile_max,4\n");
    cr_assert_eq(kks_terminals_load(&t, tmp, err, sizeof err), KKS_EINVAL);
    cr_assert(strstr(err, "decile_min 5 is above decile_max 4"), "%s", err);
    /* places last: each overwrites a file the loads above need */
    expect_bad_seeds("kelurahan.csv", KEL_H "127101,Mesjid\n127199,Nowhere\n", "3",
                     "kecamatan_code 127199 is not in kecamatan.csv");
    expect_bad_seeds("kelurahan.csv", KEL_H "127101,Mesjid\n127101,MESJID\n", "3",
                     "listed twice");
    expect_bad_seeds("kelurahan.csv", KEL_H "127101,\n", "2", "kelurahan name");
    expect_bad_seeds("kecamatan.csv", "code,name\n127101,Medan Kota\n127101,Medan Kota\n", "3",
                     "listed twice");
    expect_bad_seeds("kecamatan.csv", "code,name\n127100,Kota Medan\n", "2",
                     "kecamatan code must be 6 digits");
    expect_bad_seeds("kecamatan.csv", "code,name\n997101,Nowhere\n", "2",
                     "a known province");
    /* a kecamatan of a city that cities.csv does not list (Medan's province, city 99) */
    expect_bad_seeds("kecamatan.csv", "code,name\n129901,Nowhere\n", "2",
                     "a known province and city (cities.csv)");
}

#define CITY_H "code,name\n"
#define POP_H "province,population\n"

/* cities.csv and province-population.csv: hostile rows, each refused with its line. */
Test(hostile, city_and_population_seeds)
{
    static kks_terminals t;
    static const int provs[] = {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31};
    char err[512] = "", *big;
    size_t n = 0, cap = (size_t)(KKS_MAX_CITIES + 2) * 24;
    static const struct {
        const char *file, *text, *line, *reason;
    } bad[] = {
        {"cities.csv", CITY_H "1271,Kota Medan\n1271,Kota Medan\n", "3", "city 1271 listed twice"},
        {"cities.csv", CITY_H "9971,Nowhere\n", "2", "a known province"},
        {"cities.csv", CITY_H "1200,Sumatera Utara\n", "2", "regency or city"},
        {"cities.csv", CITY_H "127,Kota Medan\n", "2", "4 digits"},
        {"cities.csv", CITY_H "12a1,Kota Medan\n", "2", "4 digits"},
        {"cities.csv", CITY_H "1271,\n", "2", "city name"},
        {"cities.csv", CITY_H "1271, Kota Medan\n", "2", "city name"},
        {"cities.csv", CITY_H "1271,Kota Medan Kota Medan Kota Medan Kota Medan Kota Medan\n", "2",
         "city name"},
        {"cities.csv", CITY_H "1271,Kota\x01Medan\n", "2", "city name"},
        {"province-population.csv", POP_H "99,1000\n", "2", "province 99 is not in provinces.csv"},
        {"province-population.csv", POP_H "12,1000\n12,2000\n", "3", "province 12 listed twice"},
        {"province-population.csv", POP_H "12,0\n", "2",
         "population must be a whole number 1..1000000000"},
        {"province-population.csv", POP_H "12,-5\n", "2", "population must be"},
        {"province-population.csv", POP_H "12,99999999999999999999\n", "2", "population must be"},
        {"province-population.csv", POP_H "1,1000\n", "2", "not in provinces.csv"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_bad_seeds(bad[i].file, bad[i].text, bad[i].line, bad[i].reason);
        copy_file(bad[i].file);
    }
    /* the bound: more cities than the table holds is refused, not written past */
    cr_assert_not_null(big = malloc(cap));
    n += (size_t)snprintf(big + n, cap - n, CITY_H);
    for (int i = 0; i <= KKS_MAX_CITIES; i++) /* 99 city codes in each of these provinces */
        n += (size_t)snprintf(big + n, cap - n, "%d,Kota %d\n", provs[i / 99] * 100 + i % 99 + 1,
                              i);
    write_file("cities.csv", big);
    free(big);
    cr_assert_eq(kks_terminals_load(&t, tmp, err, sizeof err), KKS_EINVAL);
    cr_assert(strstr(err, "more than 1024 cities"), "%s", err);
    copy_file("cities.csv");
    /* every province needs a population */
    write_file("province-population.csv", POP_H "12,14799000\n");
    cr_assert_eq(kks_terminals_load(&t, tmp, err, sizeof err), KKS_EINVAL);
    cr_assert(strstr(err, "province-population.csv: province 11 has no population"), "%s", err);
}

Test(hostile, missing_file)
{
    static kks_catalog c;
    char err[512] = "", p[512];
    snprintf(p, sizeof p, "%s/staples.csv", tmp);
    unlink(p);
    cr_assert_eq(kks_catalog_load(&c, tmp, err, sizeof err), KKS_EINVAL);
    cr_assert_not_null(strstr(err, "staples.csv: cannot open"), "%s", err);
}
