/* The synthetic extract's generator (ctl/gen.c): kksctl gen population is a
 * thin command over it; kksctl period run writes an extract with it a chunk
 * of rows at a time. Row i depends only on (families, seed, city, sample) and
 * the seeds, so rows first .. first + count - 1 written alone are the same
 * bytes as those rows of the whole extract.
 *
 *   ctl_gen_new    loads the seeds' places, checks that the size fits the
 *                  4-digit KK serials and NIK sequences
 *   ctl_gen_write  the header and a range of rows on a stream
 *   ctl_gen_write_places     the same, the rows taken kecamatan by kecamatan
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
/* The place order: the extract stably sorted by the KK's first six digits, its kecamatan
 * (province by province, kecamatan by kecamatan, each one's rows in extract order). A
 * stretch of it holds the KKs, NIKs and wallets of a few kecamatan, a narrow range of each
 * key space, where the same count of rows in extract order is spread over all of them.
 * ctl_gen_place_order counts each kecamatan's rows (a pass over the NIK numbering, no row
 * written); then ctl_gen_write_places writes the header and positions first .. first +
 * count - 1 of that order (computed a window of at least 2M positions at a time, by one
 * pass over the rows of the provinces in it: memory 16 bytes a position of the window,
 * 32 MiB at most unless count is larger), and ctl_gen_province gives the province code of a
 * position. */
int ctl_gen_place_order(ctl_gen *g); /* EXIT_OK, or EXIT_INTERNAL (out of memory) */
int ctl_gen_write_places(ctl_gen *g, uint64_t first, uint64_t count, FILE *out,
                         const char *name);
unsigned ctl_gen_province(const ctl_gen *g, uint64_t pos);
void ctl_gen_free(ctl_gen *g);

#endif
