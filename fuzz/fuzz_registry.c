/* libFuzzer target: a DTSEN registry extract as kksctl enrol and manifest
 * read it: the input is the CSV file, read by the bounded CSV reader
 * (core/csv.c) and each record after the header validated by
 * kks_registry_parse and kks_registry_check_holder (core/registry.c) against
 * the repository's seeds/, loaded once. The first byte picks the record bound
 * (a small one reaches the "record too long" path). Checks: the reader
 * returns 1, 0 or an error and then stays failed with a message naming a
 * line; a record has 1..KKS_CSV_MAX_FIELDS fields within the bound; a refused
 * row has a reason; the reader over the same bytes in memory
 * (kks_csv_init_mem, the fast path kksctl enrol takes) gives exactly the same
 * records, offsets, line numbers and error; an accepted row holds what the rest of the system relies
 * on without checking again (16-digit KK and NIK, a real birth date, L or P,
 * a decile within the policy, a known bank, PKH counts 0..20, bpnt 0 or 1). Build and
 * run: make fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kks_csv.h"
#include "kks_err.h"
#include "kks_json.h"
#include "kks_registry.h"
#include "kks_seeds.h"

static kks_seeds seeds;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_registry: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    if (kks_seeds_load(&seeds, KKS_DEFAULT_SEEDS, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_registry: %s\n", err);
        abort();
    }
    return 0;
}

static void check_family(const kks_family *f)
{
    int y, m, d;
    check(kks_digits(f->kk, 16) && kks_digits(f->nik, 16), "KK or NIK not 16 digits");
    check(kks_ymd_parse(f->birth_date, &y, &m, &d) == 0, "birth date not a date");
    check(f->sex == 'L' || f->sex == 'P', "sex not L or P");
    check(f->decile >= seeds.decile_min && f->decile <= seeds.decile_max, "decile out of policy");
    check(kks_seeds_bank(&seeds, f->bank) != NULL, "an unknown bank");
    for (int i = 0; i < KKS_PKH_COMPONENTS; i++)
        check(f->pkh[i] >= 0 && f->pkh[i] <= 20, "a PKH count outside 0..20");
    check(f->bpnt == 0 || f->bpnt == 1, "bpnt not 0 or 1");
    /* a city with its kecamatan listed, or any regency or city of cities.csv */
    check(kks_seeds_city_known(&seeds, f->city) || kks_seeds_city(&seeds, f->city) != NULL,
          "an unknown city");
}

/* The row packed as kksctl sends it (EnrollRow.packed) unpacks to the same
 * fields when they are UTF-8, and is refused when one is not. */
static void packed_round_trip(const kks_csv *csv)
{
    static uint8_t buf[KKS_CSV_MAX_RECORD + KKS_CSV_MAX_FIELDS + 1];
    const char *f[KKS_CSV_MAX_FIELDS];
    size_t n = 0;
    int utf8 = 1;
    for (int i = 0; i < csv->nfields; i++) {
        size_t k = strlen(csv->fields[i]) + 1;
        check(n + k <= sizeof buf, "a record longer than its bound");
        memcpy(buf + n, csv->fields[i], k);
        n += k;
        utf8 &= kks_utf8_valid(csv->fields[i]);
    }
    uint8_t *exact = malloc(n); /* exactly n bytes: a read past them is ASan's */
    if (!exact)
        return;
    memcpy(exact, buf, n);
    int got = kks_registry_unpack(exact, n, f, KKS_CSV_MAX_FIELDS);
    if (!utf8) {
        check(got == -1, "a field that is not UTF-8 unpacked");
    } else {
        check(got == csv->nfields, "the packed row has another field count");
        for (int i = 0; i < got; i++)
            check(strcmp(f[i], csv->fields[i]) == 0, "a packed field differs");
    }
    free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t bounds[] = {0, 64, 512, 4096};
    kks_csv csv;
    FILE *f;
    int rc, rows = 0;
    if (size < 1)
        return 0;
    { /* the input itself as a packed row: hostile bytes, a bound of 8 fields */
        const char *pf[8];
        int n = kks_registry_unpack(data, size, pf, 8);
        check(n >= -1 && n <= 9, "an unpacked field count out of range");
        for (int i = 0; i < n && i < 8; i++)
            check((const uint8_t *)pf[i] >= data && (const uint8_t *)pf[i] < data + size &&
                      kks_utf8_valid(pf[i]),
                  "an unpacked field outside the row or not UTF-8");
    }
    if (!(f = fmemopen(size > 1 ? (void *)(data + 1) : (void *)"", size > 1 ? size - 1 : 1,
                       "r")))
        return 0;
    if (size == 1)
        (void)fgetc(f); /* an empty file */
    kks_csv mcsv;
    int mrc;
    if (kks_csv_init(&csv, f, bounds[data[0] % 4]) < 0 ||
        kks_csv_init_mem(&mcsv, (const char *)data + 1, size - 1, bounds[data[0] % 4]) < 0)
        abort();
    while ((rc = kks_csv_next(&csv)) == 1) {
        kks_family fam;
        char why[256] = "";
        check(kks_csv_next(&mcsv) == 1, "the memory reader ended or failed where the file one read");
        check(mcsv.nfields == csv.nfields && mcsv.line == csv.line &&
                  mcsv.next_line == csv.next_line && mcsv.offset == csv.offset &&
                  mcsv.pos == csv.pos,
              "the memory reader's record is placed otherwise");
        for (int i = 0; i < csv.nfields; i++)
            check(strcmp(mcsv.fields[i], csv.fields[i]) == 0, "the memory reader's field differs");
        check(csv.nfields >= 1 && csv.nfields <= KKS_CSV_MAX_FIELDS, "field count");
        check(csv.line >= 1 && csv.next_line >= csv.line, "line numbers");
        if (rows++ == 0 && kks_csv_is(&csv, kks_registry_header, KKS_REG_NFIELDS))
            continue;
        packed_round_trip(&csv);
        if (kks_registry_parse(&seeds, (const char *const *)csv.fields, csv.nfields, &fam, why,
                               sizeof why) < 0) {
            check(why[0] != '\0', "a row refused without a reason");
            continue;
        }
        check_family(&fam);
        why[0] = '\0';
        if (kks_registry_check_holder(&seeds, &fam, "2026-01-15", why, sizeof why) < 0)
            check(why[0] != '\0', "a holder refused without a reason");
        else
            check(kks_age_on(fam.birth_date, "2026-01-15") >= seeds.holder_min_age,
                  "a holder under the minimum age");
    }
    check(rc == 0 || rc == KKS_EINVAL || rc == KKS_ENOMEM, "an unexpected reader result");
    mrc = kks_csv_next(&mcsv);
    check(mrc == rc && strcmp(mcsv.errmsg, csv.errmsg) == 0, "the memory reader ends otherwise");
    kks_csv_close(&mcsv);
    if (rc < 0) {
        check(csv.errmsg[0] != '\0', "a reader error without a message");
        check(kks_csv_next(&csv) == rc, "the reader did not stay failed");
    }
    kks_csv_close(&csv);
    fclose(f);
    return 0;
}
