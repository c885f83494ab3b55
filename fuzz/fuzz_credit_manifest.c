/* libFuzzer target: the credit-run manifest as kksctl credit-run reads it
 * (ctl/credit_manifest.c, credit_manifest_read). The input is the file.
 * Checks: the result is EXIT_OK, EXIT_USAGE or EXIT_INTERNAL; whatever it is,
 * credit_manifest_free releases everything (LeakSanitizer); on EXIT_OK the
 * programme and period parse (kks_period_parse), every kept row has a KK of
 * 16 digits and an amount within 0..999999999999999, rows and rejections are
 * in file order with lines from 2 (after the header), and every rejection has
 * a reason. Build and run: make fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "credit_manifest.h"
#include "kks_policy.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_credit_manifest: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    credit_manifest m = {0};
    kks_period per;
    FILE *f;
    int ec;
    if (size == 0 || !(f = fmemopen((void *)data, size, "r")))
        return 0;
    ec = credit_manifest_read(&m, f, "fuzz.csv");
    fclose(f);
    check(ec == EXIT_OK || ec == EXIT_USAGE || ec == EXIT_INTERNAL, "an unexpected result");
    if (ec == EXIT_OK) {
        check(m.program[0] && kks_period_parse(m.program, m.period, &per) == 0,
              "programme and period do not parse");
        for (size_t i = 0; i < m.nrows; i++) {
            check(m.rows[i].kk <= 9999999999999999ull,
                  "a KK over 16 digits");
            check(m.rows[i].amount >= 0 && m.rows[i].amount <= 999999999999999, "an amount out of range");
            check(m.rows[i].line >= 2 && (i == 0 || m.rows[i].line > m.rows[i - 1].line),
                  "rows out of file order");
        }
        for (size_t i = 0; i < m.nrej; i++)
            check(m.rejs[i].line >= 2 && m.rejs[i].reason && m.rejs[i].reason[0] &&
                      (i == 0 || m.rejs[i].line > m.rejs[i - 1].line),
                  "a rejection without line or reason");
    }
    credit_manifest_free(&m);
    check(!m.rows && !m.rejs && !m.nrows && !m.nrej, "free leaves something");
    return 0;
}
