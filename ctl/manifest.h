/* The manifest engine (ctl/manifest.c): a credit-run manifest computed from a
 * registry extract with the programme policy. kksctl manifest is a thin
 * command over it; kksctl period run computes its chunks' manifests with it.
 * Memory stays flat whatever the extract's size, apart from the set of KKs
 * seen (about 17 bytes a family). */
#ifndef CTL_MANIFEST_H
#define CTL_MANIFEST_H

#include <stdint.h>
#include <stdio.h>

#include "ctl.h"
#include "kks_policy.h"
#include "kks_seeds.h"

#define CTL_MANIFEST_SHOWN 10 /* skipped rows kept with their reasons */

struct ctl_manifest_stats {
    uint64_t rows;     /* of the extract */
    uint64_t families; /* valid rows, each KK once */
    uint64_t manifest; /* rows written: families with a positive amount */
    uint64_t capped;   /* PKH families whose amount a cap cut */
    uint64_t nskipped; /* invalid rows, and rows of a KK seen before */
    int64_t total;     /* rupiah */
    struct {
        unsigned long line;
        char reason[200];
    } shown[CTL_MANIFEST_SHOWN]; /* the first skipped rows */
};

#define CTL_MANIFEST_MAX 2 /* manifests written from one reading of an extract */

/* One manifest to write: the period per, on out (name names it in
 * messages), its figures in *st (which must start zeroed). */
struct ctl_manifest_out {
    const kks_period *per;
    FILE *out;
    const char *name;
    struct ctl_manifest_stats *st;
};

/* Writes the n (1..CTL_MANIFEST_MAX) manifests outs[] of the extract at path
 * (a regular file: it is read for structure first, then once for all n):
 * each the header, then one row per family with a positive amount. Every
 * *st gets the same rows, families and skipped rows. EXIT_OK, EXIT_DECLINED
 * (some rows skipped; the rest written), EXIT_USAGE (cannot open, not a
 * regular file, malformed: nothing written), EXIT_INTERNAL (out of memory, a
 * write failed); said on stderr. */
int ctl_manifest_write(const char *path, const kks_seeds *seeds, const kks_policy *pol,
                       const struct ctl_manifest_out *outs, int n);

#endif
