/* A bounded RFC 4180 CSV reader for files from outside (registry extracts,
 * manifests, seeds). Quoted fields may hold commas, doubled quotes and
 * newlines. A record longer than the bound, a NUL byte, a quote inside an
 * unquoted field or an unterminated quote is an error naming the line, and
 * the reader stays failed. Fields point into the reader's buffer and are
 * valid until the next call. */
#ifndef KKS_CSV_H
#define KKS_CSV_H

#include <stddef.h>
#include <stdio.h>

#define KKS_CSV_MAX_FIELDS 64
#define KKS_CSV_MAX_RECORD (64u * 1024u)

typedef struct kks_csv {
    FILE *f;
    const char *mem; /* kks_csv_init_mem: the bytes read instead of f */
    size_t mem_len;
    char *buf;
    size_t cap, max;
    char *fields[KKS_CSV_MAX_FIELDS];
    int nfields;
    unsigned long line;      /* line on which the current record starts (1-based) */
    unsigned long next_line; /* line the next record starts on */
    unsigned long long offset; /* byte offset at which the current record starts */
    unsigned long long pos;    /* byte offset of the next byte read */
    int error;
    char errmsg[160];
} kks_csv;

/* max: the longest record accepted (0: KKS_CSV_MAX_RECORD). The FILE stays the caller's. */
int kks_csv_init(kks_csv *c, FILE *f, size_t max);
/* The same reader over len bytes in memory (a mapped file, say), which stay
 * the caller's and must outlive the reader. Records are exactly what the
 * FILE reader gives for the same bytes; a line without quotes is split at
 * memchr speed. */
int kks_csv_init_mem(kks_csv *c, const char *data, size_t len, size_t max);
void kks_csv_close(kks_csv *c);

/* A file mapped read-only for kks_csv_init_mem (an empty file maps to ""
 * with len 0). kks_csv_map returns 0, or -1 with why filled (cannot open,
 * not a regular file, cannot map). */
typedef struct kks_csv_file {
    const char *data;
    size_t len;
    void *map; /* what to unmap, or NULL */
} kks_csv_file;
int kks_csv_map(kks_csv_file *m, const char *path, char *why, size_t cap);
void kks_csv_unmap(kks_csv_file *m);

/* Reads the next record: 1, 0 at end of file, or KKS_EINVAL (c->errmsg says
 * what and where) / KKS_ENOMEM. A blank line is skipped. "\r\n" ends a line too. */
int kks_csv_next(kks_csv *c);

/* Reads on from offset (a record's offset from an earlier pass over the same
 * FILE), counting lines from line. Returns 0 or KKS_EINVAL. */
int kks_csv_seek(kks_csv *c, unsigned long long offset, unsigned long line);
/* 1 if the current record is exactly these names (a header check). */
int kks_csv_is(const kks_csv *c, const char *const *names, int n);

/* Takes one data row of a seeds file; fills why and returns -1 to refuse it. */
typedef int (*kks_csv_row_fn)(void *ctx, const kks_csv *c, char *why, size_t cap);

#define KKS_CSV_SEEDS_RECORD_MAX 4096

/* Reads dir/file, a small policy or reference file: the header must be
 * exactly hdr (nh names), then fn takes each row (which must have nh fields).
 * Errors name the file and line in err. Returns 0, KKS_EINVAL or KKS_ENOMEM. */
int kks_csv_load(void *ctx, const char *dir, const char *file, const char *const *hdr, int nh,
                 kks_csv_row_fn fn, char *err, size_t cap);

#endif
