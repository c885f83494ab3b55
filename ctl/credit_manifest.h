/* A credit-run manifest read into memory (ctl/credit_manifest.c): the CSV
 * "program,period,kk,amount" that kksctl manifest writes and kksctl
 * credit-run streams to the switch. Reading does no network I/O, so a test
 * and a fuzzer (fuzz/fuzz_credit_manifest.c) drive it on any bytes. */
#ifndef CREDIT_MANIFEST_H
#define CREDIT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"

typedef struct credit_row {
    uint64_t kk;    /* the 16 digits */
    int64_t amount; /* whole rupiah, 0..999999999999999 */
    uint32_t line;
} credit_row;

typedef struct credit_manifest {
    char program[8], period[32]; /* of the first row; every row must repeat them */
    credit_row *rows;            /* file order */
    size_t nrows, caprows;
    ctl_rej *rejs; /* rows refused one by one (bad KK or amount, not 4 fields) */
    size_t nrej, caprej;
    int failed; /* EXIT_INTERNAL when a rejection could not be kept */
} credit_manifest;

/* Reads the whole manifest from f (the caller's; path only names it in
 * messages) into *m, which must start zeroed. A structural error (not a
 * manifest, bad CSV, a row of another programme or period, an unknown
 * programme or period, no rows) prints why on stderr and returns EXIT_USAGE;
 * out of memory EXIT_INTERNAL. Otherwise EXIT_OK, with the valid rows in
 * m->rows and the refused ones in m->rejs. Whatever it returns, m owns what
 * it holds: free it with credit_manifest_free. */
int credit_manifest_read(credit_manifest *m, FILE *f, const char *path);
/* The same from len bytes in memory (a mapped file: kks_csv_map), with the
 * same result for the same bytes; lines without quotes are split at memchr
 * speed, which kksctl credit-run needs for a national manifest. */
int credit_manifest_read_mem(credit_manifest *m, const char *data, size_t len, const char *path);

/* Keeps a refused row and its class of reason (core/kks_reject.h); out of
 * memory sets m->failed (a rejection is never lost in silence). */
void credit_manifest_reject(credit_manifest *m, uint32_t line, unsigned kind, const char *reason);

/* Frees the rows and rejections; m is then zeroed. */
void credit_manifest_free(credit_manifest *m);

#endif
