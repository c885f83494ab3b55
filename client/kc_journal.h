#ifndef KC_JOURNAL_H
#define KC_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define KC_STAN_MAX 999999u

/* A STAN as typed: 1..6 digits, 1..999999. 0 or KKS_EINVAL. */
int kc_stan_parse(const char *s, uint32_t *out);

/* The terminal's own state (client/journal.c), kept by kks-terminal, the
 * scenario runner and the load generator alike:
 *
 * DIR/ID.stan   one line "YYYY-MM-DD N": the last STAN used on that date.
 * DIR/ID.journal one CSV line per transaction the terminal saw answered:
 *                local_date,stan,type,rc,amount,rrn,reversed
 *                (rc and rrn are empty for a money transaction that got no
 *                reply and was reversed by the terminal).
 * DIR/ID.lock   flock()ed while either file is read and rewritten, so two
 *               processes of one terminal never take the same STAN.
 * Files are rewritten as a temporary file + fsync + rename. */

typedef struct journal_entry {
    char date[11];
    uint32_t stan;
    char type[12];
    char rc[3];
    int64_t amount;
    char rrn[13];
    int reversed;
} journal_entry;

/* The next STAN for (id, date): 1 on a new date, else one past the larger of
 * the counter and any STAN journaled for the date; then saves it. Returns 0,
 * KKS_EIO, or KKS_EEXISTS when 999999 has been used. */
int journal_stan_next(const char *dir, const char *id, const char *date, uint32_t *stan);
/* Records that stan (given with --stan) was used, so that later automatic
 * STANs of the date come after it. Returns 0 or KKS_EIO. */
int journal_stan_note(const char *dir, const char *id, const char *date, uint32_t stan);
/* Adds e. If (date, stan) is journaled already the first line stays (the
 * switch repeats the first reply, or declines 94), except that a line with no
 * reply gets the reply's fields. Returns 0, KKS_EINVAL or KKS_EIO. */
int journal_record(const char *dir, const char *id, const journal_entry *e);
/* Sets reversed=1 on (date, stan); *found says whether it was journaled. */
int journal_mark_reversed(const char *dir, const char *id, const char *date, uint32_t stan,
                          int *found);
/* Finds (date, stan). Returns 1 (found, *out set), 0 (not found) or KKS_EIO. */
int journal_find(const char *dir, const char *id, const char *date, uint32_t stan,
                 journal_entry *out);
/* Count and sum of the date's approved (00) withdraw and purchase lines not
 * reversed. Returns 0, KKS_EIO, or KKS_EINVAL if the sum would overflow. */
int journal_totals(const char *dir, const char *id, const char *date, uint32_t *count,
                   int64_t *total);
/* One line without the newline; 0 or KKS_EINVAL (a field would break the CSV). */
int journal_format(const journal_entry *e, char *buf, size_t cap);
/* Parses one line (with or without newline). 0 or KKS_EINVAL. */
int journal_parse(const char *line, journal_entry *e);

#endif
