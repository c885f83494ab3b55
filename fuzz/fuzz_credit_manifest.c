/* libFuzzer target: the credit-run manifest as kksctl credit-run reads it
 * (ctl/credit_manifest.c): from memory (credit_manifest_read_mem, a mapped
 * file) and as a stream (credit_manifest_read, a pipe), which must give
 * exactly the same result. The input is the file.
 * Checks: the result is EXIT_OK, EXIT_USAGE or EXIT_INTERNAL; whatever it is,
 * credit_manifest_free releases everything (LeakSanitizer); on EXIT_OK the
 * programme and period parse (kks_period_parse), every kept row has a KK of
 * 16 digits and an amount within 0..999999999999999, rows and rejections are
 * in file order with lines from 2 (after the header), and every rejection has
 * a reason. Build and run: make fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credit_manifest.h"
#include "kks_policy.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_credit_manifest: %s\n", what);
        abort();
    }
}

/* The stream reader's result on the same bytes is the memory reader's. */
static void same(const credit_manifest *a, int eca, const credit_manifest *b, int ecb)
{
    check(eca == ecb, "the stream and memory readers disagree on the result");
    if (eca != EXIT_OK)
        return;
    check(strcmp(a->program, b->program) == 0 && strcmp(a->period, b->period) == 0,
          "the readers disagree on the programme or period");
    check(a->nrows == b->nrows && a->nrej == b->nrej, "the readers disagree on the counts");
    for (size_t i = 0; i < a->nrows; i++)
        check(a->rows[i].kk == b->rows[i].kk && a->rows[i].amount == b->rows[i].amount &&
                  a->rows[i].line == b->rows[i].line,
              "the readers disagree on a row");
    for (size_t i = 0; i < a->nrej; i++)
        check(a->rejs[i].line == b->rejs[i].line && a->rejs[i].kind == b->rejs[i].kind &&
                  strcmp(a->rejs[i].reason, b->rejs[i].reason) == 0,
              "the readers disagree on a rejection");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    credit_manifest m = {0}, ms = {0};
    kks_period per;
    FILE *f;
    int ec, ecs;
    if (size == 0 || !(f = fmemopen((void *)data, size, "r")))
        return 0;
    ecs = credit_manifest_read(&ms, f, "fuzz.csv");
    fclose(f);
    ec = credit_manifest_read_mem(&m, (const char *)data, size, "fuzz.csv");
    same(&m, ec, &ms, ecs);
    credit_manifest_free(&ms);
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
