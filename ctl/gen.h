/* The synthetic extract's generator (ctl/gen.c): kksctl gen population is a
 * thin command over it; kksctl period run writes an extract with it a chunk
 * of rows at a time. Row i depends only on (families, seed, city, sample) and
 * the seeds, so rows first .. first + count - 1 written alone are the same
 * bytes as those rows of the whole extract.
 *
 *   ctl_gen_new    loads the seeds' places, checks that the size fits the
 *                  4-digit KK serials and NIK sequences
 *   ctl_gen_write  the header and a range of rows on a stream
 *   ctl_gen_write_provinces  the same, the rows taken province by province
 *   ctl_gen_free   what ctl_gen_new made (NULL: nothing) */
#ifndef CTL_GEN_H
#define CTL_GEN_H

#include <stdint.h>
#include <stdio.h>

#define GEN_MAX_FAMILIES 100000000LL

struct ctl_gen_opts {
    uint64_t families; /* the whole extract, 1..GEN_MAX_FAMILIES */
    uint64_t seed;
    const char *city;  /* a 4-digit code of cities.csv; NULL: every province */
    int sample;        /* number from the range kept for the sample extracts */
    const char *seeds; /* the seeds directory */
};

typedef struct ctl_gen ctl_gen;

/* EXIT_OK with *out, or EXIT_USAGE (seeds, city or size; said on stderr) or
 * EXIT_INTERNAL (out of memory). */
int ctl_gen_new(const struct ctl_gen_opts *o, ctl_gen **out);
/* Writes the header, then rows first .. first + count - 1 (0-based; within
 * the families given to ctl_gen_new) on out, and flushes it. EXIT_OK, or
 * EXIT_INTERNAL after saying why on stderr (name names out). */
int ctl_gen_write(const ctl_gen *g, uint64_t first, uint64_t count, FILE *out, const char *name);
/* The same, in the province order: the extract's rows of the first province (by code), in
 * extract order, then those of the next, and so on (the order of a stable sort of the
 * extract by the KK's first two digits). Positions first .. first + count - 1 of that order.
 * A stretch of it holds the KKs of one or a few provinces, a narrow range of the KK space,
 * where the same count of rows in extract order holds KKs of every province. */
int ctl_gen_write_provinces(const ctl_gen *g, uint64_t first, uint64_t count, FILE *out,
                            const char *name);
/* The province code (2 digits) of position pos of the province order. */
unsigned ctl_gen_province(const ctl_gen *g, uint64_t pos);
void ctl_gen_free(ctl_gen *g);

#endif
