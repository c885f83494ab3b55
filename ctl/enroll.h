/* The enrolment engine (ctl/enroll.c): a registry extract streamed to the
 * issuer, then the accounts of the families it enrolled opened at the switch
 * (when c names one). kksctl enroll and kksctl accounts open are thin
 * commands over it; kksctl period run enrols its chunks with it.
 *
 *   ctl_enroll       reads the file, enrols (or, verify, checks) its rows,
 *                    opens the accounts, fills the figures
 *   ctl_enroll_free  what the figures hold */
#ifndef CTL_ENROLL_H
#define CTL_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

struct ctl_enroll_opts {
    int verify; /* accounts open: the issuer checks the rows against what it enrolled */
    int quiet;  /* no progress line, even on a terminal */
};

struct ctl_enroll_stats {
    uint64_t rows, enrolled, unchanged, done_rows;
    uint64_t opened, updated, acct_unchanged; /* accounts at the switch */
    int accounts_done;                        /* accounts opened (a switch was given) */
    ctl_rej *rejs;                            /* every refused row, by line */
    size_t nrej;
    double enrol_seconds, accounts_seconds; /* first batch sent .. last answer, each half */
};

/* Enrols the extract at path with the issuer of c, then opens the accounts at
 * c's switch if it has one. *st must start zeroed; free it with
 * ctl_enroll_free whatever this returns. EXIT_OK, EXIT_DECLINED (some rows
 * refused, in st->rejs), EXIT_USAGE (the file cannot be read or is malformed:
 * nothing sent), EXIT_PEER, EXIT_INTERNAL; what went wrong is said on stderr,
 * and a run that stops says how far it got (committed batches stay). */
int ctl_enroll(ctl *c, const char *path, const struct ctl_enroll_opts *o,
               struct ctl_enroll_stats *st);
void ctl_enroll_free(struct ctl_enroll_stats *st);

#endif
