/* End to end: the issuer process, kksctl, and PIN operations as the switch
 * sends them. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e_util.h"
#include "kks_err.h"
#include "kks_pin.h"
#include "kks_pki.h"
#include "kks_rc.h"
#include "kks_registry.h"

TestSuite(issuer, .init = e2e_setup, .fini = e2e_teardown, .timeout = 180);

#define SEEDS KKS_SOURCE_DIR "/seeds/dtsen-medan.csv"
/* What seeds/document-policy.csv asks for each event. */
#define HANDOVER_DOCS "undangan,ktp,kk"
#define LOST_DOCS "surat-kehilangan,ktp,kk,buku-tabungan"

/* kksctl --json ARGS... against E's issuer; returns the exit status. The
 * arguments end at the first NULL (0). */
#define ctl(out, ...) e2e_ctl(out, E2E_CTL_JSON | E2E_CTL_NO_SWITCH, __VA_ARGS__)

static long json_num(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = s ? strstr(s, k) : NULL;
    cr_assert_not_null(p, "no %s in %s", key, s ? s : "(null)");
    return strtol(p + strlen(k), NULL, 10);
}

static void json_str(const char *s, const char *key, char *out, size_t cap)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":\"", key);
    const char *p = s ? strstr(s, k) : NULL;
    cr_assert_not_null(p, "no %s in %s", key, s ? s : "(null)");
    p += strlen(k);
    size_t n = strcspn(p, "\"");
    cr_assert_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static long count_lines(const char *path)
{
    char *s = e2e_slurp(path);
    long n = 0;
    cr_assert_not_null(s, "%s missing", path);
    for (char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

static void restart_issuer(const char *extra1, const char *extra2)
{
    char ready[400], db[400];
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    snprintf(ready, sizeof ready, "%s/issuer.ready", E.dir);
    snprintf(db, sizeof db, "%s/issuer.db", E.dir);
    unlink(ready);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", "127.0.0.1:0", "--db", db,
                    "--pki", E.pki, "--ready-file", ready, (char *)extra1, (char *)extra2,
                    NULL};
    E.issuer_pid = e2e_spawn("issuer-again", argv);
    cr_assert_eq(e2e_wait_ready(ready, E.issuer_pid, E.issuer_addr, sizeof E.issuer_addr), 0);
}

Test(issuer, seeds_enrol_print_handover_restart_lost_replace)
{
    char *out = NULL, path[400], pan[20], newpan[20], kk[20];
    e2e_start_issuer();
    cr_assert_eq(ctl(&out, "enroll", SEEDS, 0, 0, 0, 0), 0, "%s", out);
    long rows = json_num(out, "rows");
    cr_assert_geq(rows, 200);
    cr_assert_eq(json_num(out, "enrolled"), rows, "%s", out);
    cr_assert(strstr(out, "\"rejected\":[]"), "%s", out);
    free(out);
    /* The same file again enrols nothing new. */
    cr_assert_eq(ctl(&out, "enroll", SEEDS, 0, 0, 0, 0), 0, "%s", out);
    cr_assert_eq(json_num(out, "enrolled"), 0);
    cr_assert_eq(json_num(out, "unchanged"), rows);
    free(out);

    snprintf(path, sizeof path, "%s/bni.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BNI", "--out", path, "--site"), 2,
                 "--site without a value is a usage error");
    free(out);
    cr_assert_eq(ctl(&out, "print", "--bank", "BNI", "--out", path, 0), 0, "%s", out);
    long cards = json_num(out, "cards"), batch = json_num(out, "batch");
    cr_assert_gt(cards, 0);
    cr_assert_eq(count_lines(path), cards + 1, "header plus one line per card");
    free(out);
    char *pf = e2e_slurp(path);
    cr_assert_null(strstr(pf, "PIN"), "a print file never holds a PIN");
    /* first card of the batch */
    char *l2 = strchr(pf, '\n') + 1;
    memcpy(pan, l2, 16);
    pan[16] = '\0';
    free(pf);
    cr_assert(kks_pan_valid(pan), "%s", pan);
    /* Nothing left to print for BNI now. */
    cr_assert_eq(ctl(&out, "print", "--bank", "BNI", "--out", path, 0), 1, "%s", out);
    free(out);

    char bs[32];
    snprintf(bs, sizeof bs, "%ld", batch);
    cr_assert_eq(ctl(&out, "handover", "--batch", bs, "--site", "Kantor Lurah Sei Sikambing B",
                     "--docs", HANDOVER_DOCS, 0),
                 0,
                 "%s", out);
    cr_assert_eq(json_num(out, "cards"), cards);
    free(out);

    /* The data survives a restart. */
    restart_issuer(NULL, NULL);
    cr_assert_eq(ctl(&out, "card", "show", pan, 0, 0, 0), 0, "%s", out);
    cr_assert(strstr(out, "\"state\":\"DISTRIBUTED\""), "%s", out);
    cr_assert(strstr(out, "\"event\":\"handed_over\""), "%s", out);
    json_str(out, "kk", kk, sizeof kk);
    free(out);

    cr_assert_eq(ctl(&out, "card", "lost", pan, "--police-report", "LP/123/XI/2026/SPKT", 0), 0,
                 "%s", out);
    cr_assert(strstr(out, "\"state\":\"LOST\""), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "lost", pan, "--police-report", "again", 0), 1);
    cr_assert(strstr(out, "\"rc\":\"41\""), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "replace", pan, "--docs", LOST_DOCS, 0),
                 0, "%s", out);
    json_str(out, "pan", newpan, sizeof newpan);
    cr_assert_str_neq(newpan, pan);
    cr_assert(strstr(out, "\"state\":\"ISSUED\""), "%s", out);
    char kk2[20];
    json_str(out, "kk", kk2, sizeof kk2);
    cr_assert_str_eq(kk2, kk, "the new card belongs to the same family");
    free(out);
    cr_assert_eq(ctl(&out, "card", "replace", pan, "--docs", LOST_DOCS, 0),
                 1, "replace twice");
    cr_assert(strstr(out, "already replaced"), "%s", out);
    free(out);
    restart_issuer(NULL, NULL);
    cr_assert_eq(ctl(&out, "card", "show", pan, 0, 0, 0), 0, "%s", out);
    cr_assert(strstr(out, newpan), "old card names its replacement: %s", out);
    free(out);
    /* The replacement waits for the next print batch (found from the bank's
     * print mark, which the first batch moved past its cards), alone in it. */
    cr_assert_eq(ctl(&out, "print", "--bank", "BNI", "--out", path, 0), 0, "%s", out);
    cr_assert_eq(json_num(out, "cards"), 1, "%s", out);
    free(out);
    pf = e2e_slurp(path);
    cr_assert(strstr(pf, newpan), "%s", pf);
    free(pf);
    cr_assert_eq(ctl(&out, "print", "--bank", "BNI", "--out", path, 0), 1, "%s", out);
    free(out);
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
}

static void write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(s, 1, n, f), n);
    fclose(f);
}

static const char header[] =
    "kk,nik,name,birth_date,sex,address,kelurahan,kecamatan,city_code,decile,bank,pkh_pregnant,"
    "pkh_early_childhood,pkh_sd,pkh_smp,pkh_sma,pkh_disability,pkh_elderly,bpnt\n";
static const char row_a[] = "1271011502210001,1271015607820001,Tetty Br Hutapea,1982-07-16,P,"
                            "\"Jl. Bhayangkara, Gg. Mawar No. 7\",Pasar Merah Barat,Medan Kota,"
                            "1271,3,BTN,0,2,0,0,0,0,0,0\n";
static const char row_b[] = "1271012001190002,1271011205700003,Togar Simanjuntak,1970-05-12,L,"
                            "Jl. Sutomo No. 1,Pasar Merah Barat,Medan Kota,1271,1,BRI,0,0,1,1,0,0,"
                            "1,1\n";

Test(issuer, a_print_batch_larger_than_a_terminal_frame)
{
    char path[400], pop[400], *out = NULL;
    e2e_start_issuer();
    snprintf(pop, sizeof pop, "%s/pop.csv", E.dir);
    char *gen[] = {(char *)e2e_bin("kksctl"), "gen", "population", "--families", "4000", NULL};
    cr_assert_eq(e2e_run(&out, gen), 0);
    FILE *f = fopen(pop, "w");
    fputs(out, f);
    fclose(f);
    free(out);
    cr_assert_eq(ctl(&out, "enroll", pop, 0, 0, 0, 0), 0, "%s", out);
    free(out);
    /* ~1,400 BRI cards: one page of print lines is well over 64 KiB */
    snprintf(path, sizeof path, "%s/bri.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BRI", "--out", path, 0), 0, "%s", out);
    long cards = json_num(out, "cards");
    free(out);
    cr_assert_gt(cards, 1000);
    cr_assert_eq(count_lines(path), cards + 1);
}

Test(issuer, malformed_files_write_nothing)
{
    char path[400], *out = NULL;
    char good[2048];
    e2e_start_issuer();
    snprintf(path, sizeof path, "%s/bad.csv", E.dir);
    snprintf(good, sizeof good, "%s%s%s", header, row_a, row_b);

    const char *cases[] = {"wrong header", "binary", "unterminated quote", "10 MB line"};
    for (int i = 0; i < 4; i++) {
        if (i == 0) {
            char s[2048];
            snprintf(s, sizeof s, "kk,nik,name\n%s", row_a);
            write_file(path, s, strlen(s));
        } else if (i == 1) {
            char s[2048];
            size_t n = (size_t)snprintf(s, sizeof s, "%s%s", header, row_a);
            s[n++] = '\0';
            memcpy(s + n, "\x7f" "ELF\x02\x01", 6);
            write_file(path, s, n + 6);
        } else if (i == 2) {
            char s[2048];
            snprintf(s, sizeof s, "%s%s\"1271012001190002,unterminated\n", header, row_a);
            write_file(path, s, strlen(s));
        } else {
            size_t big = 10u << 20, hl = strlen(header), al = strlen(row_a);
            char *s = malloc(hl + al + big + 1);
            memcpy(s, header, hl);
            memcpy(s + hl, row_a, al);
            memset(s + hl + al, 'x', big);
            s[hl + al + big] = '\n';
            write_file(path, s, hl + al + big + 1);
            free(s);
        }
        cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0, 0), 2, "%s: exit", cases[i]);
        free(out);
    }
    /* Nothing was written: both rows are new now. */
    write_file(path, good, strlen(good));
    cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0, 0), 0, "%s", out);
    cr_assert_eq(json_num(out, "enrolled"), 2, "%s", out);
    free(out);
}

Test(issuer, bad_rows_reported_with_line_and_reason)
{
    char path[400], *out = NULL, s[4096];
    e2e_start_issuer();
    snprintf(path, sizeof path, "%s/mixed.csv", E.dir);
    /* line 2 good, 3 bad NIK date, 4 good, 5 the KK of line 2 again, 6 bad bank,
     * 7 too few fields, then a quoted field with a newline (lines 8-9), 10 bad decile */
    snprintf(s, sizeof s,
             "%s%s"
             "1271012001190003,1271011305700003,Budi,1970-05-12,L,x,Mesjid,"
             "Medan Kota,1271,1,BRI,0,0,"
             "0,0,0,0,0,1\n"
             "%s"
             "1271011502210001,1271011205700004,Other,1970-05-12,L,x,Mesjid,"
             "Medan Kota,1271,1,BRI,0,"
             "0,0,0,0,0,0,1\n"
             "1271012001190004,1271011205700005,Siti,1970-05-12,L,x,Mesjid,"
             "Medan Kota,1271,1,BCA,0,0,"
             "0,0,0,0,0,1\n"
             "1271012001190005,1271011205700006\n"
             "1271012001190006,1271011205700007,Rina,1970-05-12,L,\"Jl. A\nNo. 2\",Mesjid,"
             "Medan Kota,"
             "1271,1,BNI,0,0,0,0,0,0,0,1\n"
             "1271012001190007,1271011205700008,Ani,1970-05-12,L,x,Mesjid,"
             "Medan Kota,1271,9,BNI,0,0,0,"
             "0,0,0,0,1\n",
             header, row_a, row_b);
    write_file(path, s, strlen(s));
    cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0, 0), 1, "%s", out);
    cr_assert_eq(json_num(out, "rows"), 8, "%s", out);
    cr_assert_eq(json_num(out, "enrolled"), 3, "%s", out);
    cr_assert(strstr(out, "{\"line\":3,\"reason\":\"NIK date"), "%s", out);
    cr_assert(strstr(out, "{\"line\":5,\"reason\":\"KK 1271011502210001 appears twice in this "
                          "file (first on line 2)\"}"),
              "%s", out);
    cr_assert(strstr(out, "{\"line\":6,\"reason\":\"unknown bank 'BCA'\"}"), "%s", out);
    cr_assert(strstr(out, "{\"line\":7,\"reason\":\"expected 19 fields, found 2\"}"), "%s", out);
    cr_assert(strstr(out, "{\"line\":10,\"reason\":\"decile"), "%s", out);
    free(out);
}

/* A hostile extract: every registry rule broken once, among good rows. */
#define PKH_BPNT ",1,BNI,0,0,1,0,0,0,0,1\n"
#define WOMAN_1990 "Siti Aminah,1990-01-01,P,Jl. Amaliun No. 3,"

Test(issuer, hostile_extract_each_rule_named)
{
    char path[400], *out = NULL, s[8192];
    size_t n = 0;
    e2e_start_issuer();
    restart_issuer("--today", "2026-11-20");
    snprintf(path, sizeof path, "%s/hostile.csv", E.dir);
    n += (size_t)snprintf(s + n, sizeof s - n, "%s%s", header, row_a); /* line 2 */
    /* lines 3-9: one NIK as the holder under 7 different KKs */
    for (int i = 1; i <= 7; i++)
        n += (size_t)snprintf(s + n, sizeof s - n,
                              "127102010110000%d,1271021205700003,Togar Simanjuntak,1970-05-12,L,"
                              "Jl. Sunggal No. %d,Sunggal,Medan Sunggal,1271" PKH_BPNT,
                              i, i);
    n += (size_t)snprintf(
        s + n, sizeof s - n,
        /* 10: a Jakarta city code on a Medan family */
        "1271010202100001,1271014101900001," WOMAN_1990 "Mesjid,Medan Kota,3171" PKH_BPNT
        /* 11: no such kelurahan */
        "1271010202100002,1271014101900002," WOMAN_1990 "Kampung Entah,Medan Kota,1271" PKH_BPNT
        /* 12: a kelurahan of another kecamatan */
        "1271010202100003,1271014101900003," WOMAN_1990 "Sunggal,Medan Kota,1271" PKH_BPNT
        /* 13: city 1200 (province 12, no city 00) */
        "1200010202100001,1200014101900004," WOMAN_1990 "Mesjid,Medan Kota,1200" PKH_BPNT
        /* 14: born in 2030 */
        "1271010202100004,1271014501300001,Siti Aminah,2030-01-05,P,Jl. A,Mesjid,Medan Kota,"
        "1271" PKH_BPNT
        /* 15: aged 4 */
        "1271010202100005,1271014103220001,Siti Aminah,2022-03-01,P,Jl. A,Mesjid,Medan Kota,"
        "1271" PKH_BPNT
        /* 16: KK serial 0000 */
        "1271010202100000,1271014101900005," WOMAN_1990 "Mesjid,Medan Kota,1271" PKH_BPNT
        /* 17: decile 5, outside the policy's 1 to 4 */
        "1271010202100006,1271014101900006," WOMAN_1990 "Mesjid,Medan Kota,1271"
        ",5,BNI,0,0,1,0,0,0,0,1\n"
        /* 18: a good Jakarta Pusat family */
        "3171061502210001,3171065607820001,Dewi Anggraini,1982-07-16,P,"
        "Jl. Pegangsaan Timur No. 9 RT 003 RW 001,Pegangsaan,Menteng,3171" PKH_BPNT);
    write_file(path, s, n);
    static const struct {
        int line;
        const char *reason;
    } want[] = {
        {4, "NIK 1271021205700003 already holds a live card under KK 1271020101100001; one card "
            "per holder"},
        {5, "NIK 1271021205700003 already holds a live card under KK 1271020101100001"},
        {9, "NIK 1271021205700003 already holds a live card under KK 1271020101100001"},
        {10, "KK region 127101 (Medan Kota) is not in city_code 3171"},
        {11, "kelurahan 'Kampung Entah' is not a known kelurahan of kecamatan Medan Kota"},
        {12, "kelurahan 'Sunggal' belongs to kecamatan Medan Sunggal (127102), not Medan Kota"},
        {13, "city_code 1200 is not a known city"},
        {14, "birth_date 2030-01-05 is after the enrolment date 2026-11-20"},
        {15, "holder is 4 on the enrolment date 2026-11-20; a card holder must be 17 or older"},
        {16, "KK serial 0000 is not issued"},
        {17, "decile 5 is outside the enrolment policy's deciles 1 to 4"},
    };
    for (int pass = 0; pass < 2; pass++) {
        cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0, 0), 1, "%s", out);
        cr_assert_eq(json_num(out, "rows"), 17, "%s", out);
        cr_assert_eq(json_num(out, "enrolled"), pass ? 0 : 3, "%s", out);
        cr_assert_eq(json_num(out, "unchanged"), pass ? 3 : 0, "%s", out);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            char k[300];
            snprintf(k, sizeof k, "{\"line\":%d,\"reason\":\"%s", want[i].line, want[i].reason);
            cr_assert(strstr(out, k), "pass %d: no '%s' in %s", pass, k, out);
        }
        cr_assert(strstr(out, "{\"line\":3,") == NULL, "%s", out);
        cr_assert(strstr(out, "{\"line\":18,") == NULL, "%s", out);
        free(out);
    }
    /* one card each for lines 2, 3 and 18, all BNI: the 7 KKs of one NIK got one */
    snprintf(path, sizeof path, "%s/bni.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BNI", "--out", path, 0), 0, "%s", out);
    cr_assert_eq(json_num(out, "cards"), 2, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/btn.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BTN", "--out", path, 0), 0, "%s", out);
    cr_assert_eq(json_num(out, "cards"), 1, "%s", out);
    free(out);
}

/* The KKs and NIKs (the first two fields) of an extract, each followed by '\n'. */
static void ids_of(const char *csv, char **kks, char **niks)
{
    size_t cap = strlen(csv) + 1;
    char *k = calloc(1, cap), *nk = calloc(1, cap);
    size_t kn = 0, nn = 0;
    cr_assert(k && nk);
    const char *p = strchr(csv, '\n'); /* past the header */
    for (p = p ? p + 1 : csv + strlen(csv); *p; p = strchr(p, '\n') + 1) {
        cr_assert(p[16] == ',' && p[33] == ',', "%.40s", p);
        memcpy(k + kn, p, 16);
        k[kn + 16] = '\n';
        kn += 17;
        memcpy(nk + nn, p + 17, 16);
        nk[nn + 16] = '\n';
        nn += 17;
    }
    *kks = k;
    *niks = nk;
}

static int has_line(const char *list, const char *id16)
{
    for (const char *p = list; *p; p += 17)
        if (memcmp(p, id16, 16) == 0)
            return 1;
    return 0;
}

Test(issuer, generated_population_never_reuses_a_sample)
{
    static const char *const samples[] = {KKS_SOURCE_DIR "/seeds/dtsen-medan.csv",
                                          KKS_SOURCE_DIR "/seeds/dtsen-jakarta-pusat.csv"};
    static const char *const seeds[] = {"1", "7", "42", "2026", "987654321"};
    static const char *const cities[] = {"1271", "3171"};
    char *skk[2], *snik[2];
    for (int i = 0; i < 2; i++) {
        char *text = e2e_slurp(samples[i]);
        cr_assert_not_null(text, "%s", samples[i]);
        ids_of(text, &skk[i], &snik[i]);
        /* the samples keep to the reserved numbers: serials and sequences 1..100 */
        for (const char *p = skk[i]; *p; p += 17)
            cr_assert_leq(atoi(p + 12), 100, "%.16s", p);
        for (const char *p = snik[i]; *p; p += 17)
            cr_assert_leq(atoi(p + 12), 100, "%.16s", p);
        free(text);
    }
    for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
        for (int ci = 0; ci < 2; ci++) {
            char *out = NULL, *kks, *niks;
            char *gen[] = {(char *)e2e_bin("kksctl"), "gen", "population", "--families", "3000",
                           "--seed", (char *)seeds[si], "--city", (char *)cities[ci], NULL};
            cr_assert_eq(e2e_run(&out, gen), 0);
            ids_of(out, &kks, &niks);
            for (const char *p = kks; *p; p += 17) {
                cr_assert_gt(atoi(p + 12), 100, "seed %s: %.16s", seeds[si], p);
                cr_assert_not(has_line(skk[ci], p), "seed %s reuses KK %.16s", seeds[si], p);
            }
            for (const char *p = niks; *p; p += 17) {
                cr_assert_gt(atoi(p + 12), 100, "seed %s: %.16s", seeds[si], p);
                cr_assert_not(has_line(snik[ci], p), "seed %s reuses NIK %.16s", seeds[si], p);
            }
            free(kks);
            free(niks);
            free(out);
        }
    }
    for (int i = 0; i < 2; i++) {
        free(skk[i]);
        free(snik[i]);
    }
}

/* Both sample extracts and generated families of both cities go into one issuer, every row. */
Test(issuer, samples_and_generated_populations_enrol_together)
{
    char path[400], *out = NULL;
    e2e_start_issuer();
    restart_issuer("--today", "2026-11-20");
    cr_assert_eq(ctl(&out, "enroll", SEEDS, 0, 0, 0, 0), 0, "%s", out);
    cr_assert_eq(json_num(out, "enrolled"), 240, "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "enroll", KKS_SOURCE_DIR "/seeds/dtsen-jakarta-pusat.csv", 0, 0, 0, 0),
                 0, "%s", out);
    cr_assert_eq(json_num(out, "enrolled"), 120, "%s", out);
    free(out);
    static const char *const cities[] = {"1271", "3171"};
    for (int ci = 0; ci < 2; ci++) {
        char *gen[] = {(char *)e2e_bin("kksctl"), "gen", "population", "--families", "1500",
                       "--seed", "7", "--city", (char *)cities[ci], NULL};
        cr_assert_eq(e2e_run(&out, gen), 0);
        snprintf(path, sizeof path, "%s/pop-%s.csv", E.dir, cities[ci]);
        write_file(path, out, strlen(out));
        free(out);
        cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0, 0), 0, "%s", out);
        cr_assert_eq(json_num(out, "enrolled"), 1500, "%s", out);
        free(out);
    }
}

/* ---- PIN operations, as the switch sends them ---- */

static uint8_t zpk[16];

static Kks__Envelope *pin_call(SSL *ssl, Kks__Envelope *req)
{
    static uint64_t id = 100;
    req->id = ++id;
    cr_assert_eq(e2e_send(ssl, req), 0);
    Kks__Envelope *rep = e2e_recv(ssl);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->id, id);
    return rep;
}

static void block(const char *pin, const char *pan, uint8_t out[16])
{
    cr_assert_eq(kks_pinblock_encode(zpk, pin, pan, NULL, out), 0);
}

static void expect_pin(SSL *ssl, int kind, const char *pan, const char *nik, const char *pin,
                       const char *newpin, const char *rc)
{
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__PinSetRequest ps = KKS__PIN_SET_REQUEST__INIT;
    Kks__PinVerifyRequest pv = KKS__PIN_VERIFY_REQUEST__INIT;
    Kks__PinChangeRequest pc = KKS__PIN_CHANGE_REQUEST__INIT;
    uint8_t b1[16], b2[16];
    block(pin, pan, b1);
    if (kind == 0) {
        ps.pan = (char *)pan;
        ps.nik = (char *)nik;
        ps.pin_block.data = b1;
        ps.pin_block.len = 16;
        ps.site = "EW-127101-0001";
        req.body_case = KKS__ENVELOPE__BODY_PIN_SET;
        req.pin_set = &ps;
    } else if (kind == 1) {
        pv.pan = (char *)pan;
        pv.pin_block.data = b1;
        pv.pin_block.len = 16;
        pv.site = "ATM-BNI-0001";
        req.body_case = KKS__ENVELOPE__BODY_PIN_VERIFY;
        req.pin_verify = &pv;
    } else {
        block(newpin, pan, b2);
        pc.pan = (char *)pan;
        pc.old_block.data = b1;
        pc.old_block.len = 16;
        pc.new_block.data = b2;
        pc.new_block.len = 16;
        pc.site = "ATM-BNI-0001";
        req.body_case = KKS__ENVELOPE__BODY_PIN_CHANGE;
        req.pin_change = &pc;
    }
    rep = pin_call(ssl, &req);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_PIN_REPLY);
    cr_assert_str_eq(rep->pin_reply->rc, rc, "kind %d pin %s: got %s (%s)", kind, pin,
                     rep->pin_reply->rc, rep->pin_reply->reason);
    kks__envelope__free_unpacked(rep, NULL);
}

Test(issuer, pin_lifecycle_and_wrong_state_codes)
{
    char path[400], *out = NULL, s[2048], pan[20], pan_b[20];
    const char *nik = "1271015607820001";
    e2e_start_issuer();
    cr_assert_eq(kks_pki_load_key(E.pki, "zpk", zpk, sizeof zpk), 0);
    snprintf(path, sizeof path, "%s/two.csv", E.dir);
    snprintf(s, sizeof s, "%s%s%s", header, row_a, row_b);
    write_file(path, s, strlen(s));
    cr_assert_eq(ctl(&out, "enroll", path, 0, 0, 0, 0), 0, "%s", out);
    free(out);

    SSL *ssl = e2e_tls_dial(E.issuer_addr, E.pki, "switch");
    cr_assert_not_null(ssl);

    /* BTN: family A. Find its PAN through the print file. */
    snprintf(path, sizeof path, "%s/btn.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BTN", "--out", path, 0), 0, "%s", out);
    free(out);
    char *pf = e2e_slurp(path);
    memcpy(pan, strchr(pf, '\n') + 1, 16);
    pan[16] = '\0';
    free(pf);

    /* PRINTED, not handed over: activation refused 05; hand-over twice refused. */
    expect_pin(ssl, 0, pan, nik, "482915", NULL, KKS_RC_DO_NOT_HONOR);
    cr_assert_eq(ctl(&out, "handover", "--pan", pan, "--site", "Kantor Camat Medan Kota", "--docs",
                     HANDOVER_DOCS, 0), 0,
                 "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "handover", "--pan", pan, "--site", "Kantor Camat Medan Kota", 0), 1);
    free(out);
    /* verify before activation: 05 */
    expect_pin(ssl, 1, pan, NULL, "482915", NULL, KKS_RC_DO_NOT_HONOR);
    /* wrong NIK, trivial PINs, then the real activation */
    expect_pin(ssl, 0, pan, "1271015607820002", "482915", NULL, KKS_RC_SECURITY);
    expect_pin(ssl, 0, pan, nik, "123456", NULL, KKS_RC_INVALID_TXN);
    expect_pin(ssl, 0, pan, nik, "777777", NULL, KKS_RC_INVALID_TXN);
    expect_pin(ssl, 0, pan, nik, "654321", NULL, KKS_RC_INVALID_TXN);
    expect_pin(ssl, 0, pan, nik, "482915", NULL, KKS_RC_APPROVED);
    expect_pin(ssl, 0, pan, nik, "482915", NULL, KKS_RC_INVALID_TXN); /* already active */
    /* wrong, right (resets), then 55 55 75, and 75 even with the right PIN */
    expect_pin(ssl, 1, pan, NULL, "000001", NULL, KKS_RC_BAD_PIN);
    expect_pin(ssl, 1, pan, NULL, "482915", NULL, KKS_RC_APPROVED);
    expect_pin(ssl, 1, pan, NULL, "000001", NULL, KKS_RC_BAD_PIN);
    expect_pin(ssl, 1, pan, NULL, "000002", NULL, KKS_RC_BAD_PIN);
    expect_pin(ssl, 1, pan, NULL, "000003", NULL, KKS_RC_PIN_TRIES);
    expect_pin(ssl, 1, pan, NULL, "482915", NULL, KKS_RC_PIN_TRIES);
    cr_assert_eq(ctl(&out, "card", "show", pan, 0, 0, 0), 0);
    cr_assert(strstr(out, "\"state\":\"BLOCKED\""), "%s", out);
    cr_assert(strstr(out, "\"detail\":\"3 wrong PINs in a row\""), "%s", out);
    free(out);
    /* the operator unblocks; the right PIN works again; change it */
    cr_assert_eq(ctl(&out, "card", "unblock", pan, 0, 0, 0), 0, "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "unblock", pan, 0, 0, 0), 1, "unblock an ACTIVE card");
    free(out);
    expect_pin(ssl, 1, pan, NULL, "482915", NULL, KKS_RC_APPROVED);
    expect_pin(ssl, 2, pan, NULL, "482915", "111111", KKS_RC_INVALID_TXN);
    expect_pin(ssl, 2, pan, NULL, "999999", "730164", KKS_RC_BAD_PIN);
    expect_pin(ssl, 2, pan, NULL, "482915", "730164", KKS_RC_APPROVED);
    expect_pin(ssl, 1, pan, NULL, "482915", NULL, KKS_RC_BAD_PIN);
    expect_pin(ssl, 1, pan, NULL, "730164", NULL, KKS_RC_APPROVED);

    /* stolen: 43 at once; unknown PAN and bad Luhn: 14 */
    cr_assert_eq(ctl(&out, "card", "stolen", pan, "--police-report", "LP/9/2026", 0), 0, "%s",
                 out);
    free(out);
    expect_pin(ssl, 1, pan, NULL, "730164", NULL, KKS_RC_STOLEN);
    cr_assert_eq(ctl(&out, "card", "unblock", pan, 0, 0, 0), 1);
    cr_assert(strstr(out, "\"rc\":\"43\""), "%s", out);
    free(out);
    char unknown[20] = "504601999999999";
    unknown[15] = kks_luhn_digit(unknown, 15);
    unknown[16] = '\0';
    expect_pin(ssl, 1, unknown, NULL, "730164", NULL, KKS_RC_NO_CARD);
    expect_pin(ssl, 1, "5046010000000013", NULL, "730164", NULL, KKS_RC_NO_CARD);
    cr_assert_eq(ctl(&out, "card", "show", unknown, 0, 0, 0), 1);
    cr_assert(strstr(out, "\"rc\":\"14\""), "%s", out);
    free(out);

    /* BRI: family B is ISSUED; lost without a report is refused before the wire */
    snprintf(path, sizeof path, "%s/bri.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BRI", "--out", path, 0), 0, "%s", out);
    free(out);
    pf = e2e_slurp(path);
    memcpy(pan_b, strchr(pf, '\n') + 1, 16);
    pan_b[16] = '\0';
    free(pf);
    cr_assert_eq(ctl(&out, "card", "lost", pan_b, 0, 0, 0), 2);
    free(out);
    cr_assert_eq(ctl(&out, "card", "replace", pan_b, 0, 0, 0), 1, "replace a live card");
    cr_assert(strstr(out, "report the card lost or stolen first"), "%s", out);
    free(out);
    e2e_tls_close(ssl);

    /* Expiry: the business date moves past "valid thru" (5 years). */
    restart_issuer("--today", "2099-01-01");
    ssl = e2e_tls_dial(E.issuer_addr, E.pki, "switch");
    cr_assert_not_null(ssl);
    cr_assert_eq(ctl(&out, "handover", "--pan", pan_b, "--site", "Kantor Camat", 0), 1);
    cr_assert(strstr(out, "\"rc\":\"54\""), "%s", out);
    free(out);
    expect_pin(ssl, 0, pan_b, "1271011205700003", "482915", NULL, KKS_RC_EXPIRED);
    e2e_tls_close(ssl);

    /* An operator cannot run PIN operations; the switch cannot enrol. */
    ssl = e2e_tls_dial(E.issuer_addr, E.pki, "operator");
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__PinVerifyRequest pv = KKS__PIN_VERIFY_REQUEST__INIT;
    uint8_t b[16];
    block("482915", pan, b);
    pv.pan = pan;
    pv.pin_block.data = b;
    pv.pin_block.len = 16;
    req.body_case = KKS__ENVELOPE__BODY_PIN_VERIFY;
    req.pin_verify = &pv;
    rep = pin_call(ssl, &req);
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ERROR);
    kks__envelope__free_unpacked(rep, NULL);
    e2e_tls_close(ssl);

    /* No PIN in the logs or the database. */
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    const char *pins[] = {"482915", "730164"};
    const char *files[] = {"issuer.db", "issuer.db-wal", "issuer.log", "issuer-again.log"};
    for (int f = 0; f < 4; f++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", E.dir, files[f]);
        for (int k = 0; k < 2; k++)
            cr_assert_not(e2e_file_has(p, pins[k]), "PIN %s found in %s", pins[k], files[f]);
    }
}

/* Collective account opening: enrolled without a switch, a family has no
 * account and cannot be credited; kksctl accounts open gives it one (and only
 * to families the issuer enrolled, with the programmes of their row). */
Test(issuer, accounts_open_for_an_extract_enrolled_earlier)
{
    char *out = NULL, path[400], man[400];
    e2e_start_issuer();
    e2e_start_switch();
    cr_assert_eq(ctl(&out, "enroll", SEEDS, 0, 0, 0, 0), 0, "%s", out);
    cr_assert(strstr(out, "\"accounts\":null"), "no switch given: no accounts: %s", out);
    free(out);
    /* a BPNT manifest of the seeds: every row refused, no account */
    snprintf(man, sizeof man, "%s/bpnt.csv", E.dir);
    char *margv[] = {(char *)e2e_bin("kksctl"), "manifest", "--program", "bpnt", "--period",
                     "2026-11", "--registry", SEEDS, NULL};
    cr_assert_eq(e2e_run(&out, margv), 0);
    FILE *f = fopen(man, "w");
    fputs(out, f);
    fclose(f);
    long families = -1;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        families++;
    free(out);
    char *run[] = {(char *)e2e_bin("kksctl"), "--pki", E.pki, "--switch", E.switch_addr,
                   "--json", "credit-run", man, NULL};
    cr_assert_eq(e2e_run(&out, run), 1, "%s", out);
    cr_assert(strstr(out, "\"credited\":0"), "%s", out);
    cr_assert(strstr(out, "no account at the switch"), "%s", out);
    free(out);

    /* accounts open: an extra family the issuer never enrolled is rejected */
    snprintf(path, sizeof path, "%s/with-stranger.csv", E.dir);
    char *seeds = e2e_slurp(SEEDS);
    f = fopen(path, "w");
    fputs(seeds, f);
    fputs("1271051502109999,1271056304909999,Orang Asing,1990-04-23,P,Jl. A,Karang Berombak,"
          "Medan Barat,1271,1,BNI,0,0,1,0,0,0,0,1\n", f);
    fclose(f);
    free(seeds);
    char *open_[] = {(char *)e2e_bin("kksctl"), "--pki", E.pki, "--issuer", E.issuer_addr,
                     "--switch", E.switch_addr, "--json", "accounts", "open", path, NULL};
    cr_assert_eq(e2e_run(&out, open_), 1, "%s", out);
    cr_assert(strstr(out, "\"opened\":240"), "%s", out);
    cr_assert(strstr(out, "is not enrolled at the issuer"), "%s", out);
    free(out);
    cr_assert_eq(e2e_run(&out, open_), 1, "again: nothing new: %s", out);
    cr_assert(strstr(out, "\"opened\":0,\"updated\":0,\"unchanged\":240"), "%s", out);
    free(out);
    cr_assert_eq(e2e_run(&out, run), 0, "%s", out);
    cr_assert_eq(json_num(out, "credited"), families, "%s", out);
    free(out);
    /* without a switch, accounts open is a usage error */
    char *noswitch[] = {(char *)e2e_bin("kksctl"), "--pki", E.pki, "--issuer", E.issuer_addr,
                        "accounts", "open", path, NULL};
    cr_assert_eq(e2e_run(&out, noswitch), 2, "%s", out);
    free(out);
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
}

/* The documents each event needs (seeds/document-policy.csv): refused naming
 * the missing ones with nothing changed, recorded in the history; a card
 * renewed early within the policy's window; a version-1 database (before
 * documents were recorded) upgrades on start. */
Test(issuer, documents_early_renewal_and_an_old_database)
{
    char path[400], db[400], rows[2048], *out = NULL, pan[20], pan2[20], expiry[8];
    e2e_start_issuer();
    snprintf(path, sizeof path, "%s/two.csv", E.dir);
    snprintf(rows, sizeof rows, "%s%s", header, row_a);
    write_file(path, rows, strlen(rows));
    cr_assert_eq(ctl(&out, "enroll", path), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/btn.csv", E.dir);
    cr_assert_eq(ctl(&out, "print", "--bank", "BTN", "--out", path), 0, "%s", out);
    char bs[32];
    snprintf(bs, sizeof bs, "%ld", json_num(out, "batch"));
    free(out);
    char *pf = e2e_slurp(path);
    memcpy(pan, strchr(pf, '\n') + 1, 16);
    pan[16] = '\0';
    free(pf);

    /* hand-over without the invitation letter: refused, the card stays PRINTED */
    cr_assert_eq(ctl(&out, "handover", "--batch", bs, "--site", "Kantor Lurah", "--docs",
                     "ktp,kk"),
                 1, "%s", out);
    cr_assert(strstr(out, "\"rc\":\"30\""), "%s", out);
    cr_assert(strstr(out, "\"missing\":[\"undangan\"]"), "%s", out);
    cr_assert(strstr(out, "documents missing: undangan (handover needs undangan,ktp,kk)"), "%s",
              out);
    free(out);
    cr_assert_eq(ctl(&out, "handover", "--batch", bs, "--site", "Kantor Lurah", "--docs",
                     "ktp,kk,undangan,paspor"),
                 1, "%s", out);
    cr_assert(strstr(out, "unknown document 'paspor'"), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "show", pan), 0, "%s", out);
    cr_assert(strstr(out, "\"state\":\"PRINTED\""), "nothing changed: %s", out);
    json_str(out, "expiry", expiry, sizeof expiry);
    free(out);
    cr_assert_eq(ctl(&out, "handover", "--batch", bs, "--site", "Kantor Lurah", "--docs",
                     " ktp, kk ,undangan"),
                 0, "%s", out);
    free(out);

    /* An old database: documents were not recorded before (schema 1). */
    cr_assert_eq(e2e_stop(E.issuer_pid), 0);
    snprintf(db, sizeof db, "%s/issuer.db", E.dir);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h, "DROP INDEX family_nik; ALTER TABLE family DROP COLUMN card; DROP TABLE complaint;"
                                 " ALTER TABLE audit DROP COLUMN docs; DROP TABLE print_mark; DROP TABLE meta;"
                                 " CREATE INDEX card_to_print ON card(bank) WHERE state = 'ISSUED';"
                                 " PRAGMA user_version=1;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_close(h);
    /* the business date two months before the card's expiry month: inside
     * renew_months_before (3), so the card may be renewed early */
    int y, m;
    char today[32];
    cr_assert_eq(sscanf(expiry, "%d-%d", &y, &m), 2);
    m -= 2;
    if (m < 1)
        m += 12, y--;
    snprintf(today, sizeof today, "%04d-%02d-15", y, m);
    char ready[400];
    snprintf(ready, sizeof ready, "%s/issuer-v1.ready", E.dir);
    char *argv[] = {(char *)e2e_bin("kks-issuer"), "--listen", "127.0.0.1:0", "--db", db,
                    "--pki", E.pki, "--ready-file", ready, "--today", today, NULL};
    E.issuer_pid = e2e_spawn("issuer-v1", argv);
    cr_assert_eq(e2e_wait_ready(ready, E.issuer_pid, E.issuer_addr, sizeof E.issuer_addr), 0);
    cr_assert_eq(ctl(&out, "card", "show", pan), 0, "%s", out);
    cr_assert(strstr(out, "\"state\":\"DISTRIBUTED\""), "%s", out);
    cr_assert(strstr(out, "\"event\":\"handed_over\""), "%s", out);
    cr_assert(strstr(out, "\"docs\":[]"), "the old event has no documents recorded: %s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "renew", pan, "--docs", "ktp,kk", "--site", "BTN Medan"), 0,
                 "%s", out);
    json_str(out, "pan", pan2, sizeof pan2);
    cr_assert_str_neq(pan2, pan);
    free(out);
    cr_assert_eq(ctl(&out, "card", "show", pan), 0, "%s", out);
    cr_assert(strstr(out, "\"state\":\"EXPIRED\""), "surrendered at renewal: %s", out);
    cr_assert(strstr(out, "\"docs\":[\"ktp\",\"kk\"]"), "%s", out);
    cr_assert(strstr(out, "\"site\":\"BTN Medan\""), "%s", out);
    free(out);
    /* the family's cards, the one from before the upgrade and the renewal, in order */
    /* exit 3: no switch here to show the account; the issuer's part is whole */
    cr_assert_eq(ctl(&out, "lookup", "--kk", "1271011502210001"), 3, "%s", out);
    char *first = strstr(out, pan), *second = strstr(out, pan2);
    cr_assert(first && second && first < second, "both cards, oldest first: %s", out);
    free(out);

    /* a card far from its expiry is not renewed */
    restart_issuer(NULL, NULL);
    cr_assert_eq(ctl(&out, "card", "renew", pan2, "--docs", "ktp,kk"), 1, "%s", out);
    cr_assert(strstr(out, "card not printed yet"), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "print", "--bank", "BTN", "--out", path), 0, "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "card", "renew", pan2, "--docs", "ktp,kk"), 1, "%s", out);
    cr_assert(strstr(out, "it can be renewed from 3 month(s) before it expires"), "%s", out);
    free(out);
}

/* An EnrollRow carries its fields as strings (fields) or, as kksctl sends
 * them, in one byte string, each ended by a NUL (packed): both enrol alike,
 * and a packed row that is not NUL-ended UTF-8 fields, or has too many, is
 * refused with the reason, the rest of the batch enrolled. */
static void add_packed(Kks__EnrollRow *r, uint32_t line, const char *csv_row, size_t extra,
                       const char *tail, uint8_t *buf)
{
    size_t n = strlen(csv_row);
    kks__enroll_row__init(r);
    r->line = line;
    memcpy(buf, csv_row, n);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == ',')
            buf[i] = '\0';
    buf[n] = '\0';
    memcpy(buf + n + 1, tail, extra);
    r->packed.data = buf;
    r->packed.len = n + 1 + extra;
}

Test(issuer, rows_as_strings_or_packed_and_hostile_packed_rows)
{
    static const char *rows[] = {
        "1271012001190003,1271011205700003,Budi,1970-05-12,L,x,Mesjid,Medan Kota,1271,1,BRI,"
        "0,0,0,0,0,0,0,1",
        "1271012001190004,1271015205700004,Siti,1970-05-12,P,x,Mesjid,Medan Kota,1271,1,BNI,"
        "0,0,0,0,0,0,0,1",
    };
    static uint8_t buf[6][512];
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__EnrollBatch b = KKS__ENROLL_BATCH__INIT;
    Kks__EnrollRow r[6], *pr[6];
    char copy[512], *fields[19], *save = NULL;
    e2e_start_issuer();
    /* line 2 as strings */
    kks__enroll_row__init(&r[0]);
    r[0].line = 2;
    snprintf(copy, sizeof copy, "%s", rows[0]);
    for (int i = 0; i < 19; i++)
        fields[i] = strtok_r(i ? NULL : copy, ",", &save);
    r[0].fields = fields;
    r[0].n_fields = 19;
    add_packed(&r[1], 3, rows[1], 0, "", buf[1]);              /* packed */
    add_packed(&r[2], 4, rows[1], 2, "x\0", buf[2]);           /* a 20th field */
    add_packed(&r[3], 5, rows[1], 1, "x", buf[3]);             /* not NUL-ended */
    add_packed(&r[4], 6, rows[1], 3, "\xC3\x28\0", buf[4]);    /* not UTF-8 */
    add_packed(&r[5], 7, "1271012001190005", 0, "", buf[5]);  /* one field */
    for (int i = 0; i < 6; i++)
        pr[i] = &r[i];
    b.rows = pr;
    b.n_rows = 6;
    b.last = 1;
    req.id = 1;
    req.body_case = KKS__ENVELOPE__BODY_ENROLL_BATCH;
    req.enroll_batch = &b;
    SSL *ssl = e2e_tls_dial(E.issuer_addr, E.pki, "operator");
    cr_assert_not_null(ssl);
    cr_assert_eq(e2e_send(ssl, &req), 0);
    cr_assert_not_null(rep = e2e_recv(ssl));
    cr_assert_eq(rep->body_case, KKS__ENVELOPE__BODY_ENROLL_RESULT);
    const Kks__EnrollResult *res = rep->enroll_result;
    cr_assert_eq(res->n_rejected, 4, "%zu rejected, the first: %s", res->n_rejected,
                 res->n_rejected ? res->rejected[0]->reason : "");
    cr_assert_eq(res->enrolled, 2);
    static const char *const want[] = {
        "expected 19 fields, found more",
        "the row is not fields of UTF-8 text, each ended by a NUL byte",
        "the row is not fields of UTF-8 text, each ended by a NUL byte",
        "expected 19 fields, found 1",
    };
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(res->rejected[i]->line, (uint32_t)(4 + i));
        cr_assert_str_eq(res->rejected[i]->reason, want[i]);
    }
    kks__envelope__free_unpacked(rep, NULL);
    e2e_tls_close(ssl);
}
