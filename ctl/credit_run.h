/* The credit-run engine (ctl/credit_run.c): a manifest streamed to the switch
 * in batches, with the figures a load tester keeps. kksctl credit-run is a
 * thin command over it; another command may run manifests with it and read
 * the figures (struct credit_run_stats) without parsing any output.
 *
 *   ctl_credit_run         reads the manifest, runs it, fills the figures,
 *                          writes the HTML report when asked
 *   ctl_credit_run_json    the figures as --json prints them
 *   ctl_credit_run_print   the figures as a person reads them
 *   ctl_credit_run_report  the figures as one self-contained HTML page
 *   ctl_credit_run_free    what the figures hold
 *
 * While it runs, it samples the switch's Prometheus metrics (its --metrics
 * address, client/kc_scrape.h) every CREDIT_RUN_SAMPLE_MS: the switch's RSS
 * (process_resident_memory_bytes) and the size of its WAL (kks_switch_wal_bytes). */
#ifndef CTL_CREDIT_RUN_H
#define CTL_CREDIT_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"
#include "kks_reject.h"
#include "kr_hist.h"

#define CREDIT_RUN_BATCH 16384  /* rows a batch, and the most --batch takes */
#define CREDIT_RUN_IN_FLIGHT 8  /* batches sent and not yet answered */
#define CREDIT_RUN_SAMPLE_MS 100
#define CREDIT_RUN_SCRAPE_TIMEOUT_MS 1000

struct credit_run_opts {
    long progress_ms;    /* between progress lines; -1: 100 ms on a terminal, else 5 s */
    int quiet;           /* no progress lines at all */
    const char *report;  /* write the HTML report here; NULL: none */
    const char *metrics; /* the switch's metrics address (HOST:PORT); NULL: not sampled */
    unsigned batch;      /* rows a batch, 1..CREDIT_RUN_BATCH; 0: CREDIT_RUN_BATCH */
    unsigned in_flight;  /* 0: CREDIT_RUN_IN_FLIGHT */
};

/* One batch answered: when (ns after the first batch was sent), how long its
 * round trip took, its rows and how many of them were credited. */
struct credit_run_batch {
    uint64_t done_ns, rtt_ns;
    uint32_t rows, credited;
};

/* One scrape of the switch's metrics: seconds after the first batch was sent
 * (negative: before), its RSS and WAL size in bytes (NAN: not in that scrape). */
struct credit_run_sample {
    double t, rss, wal;
};

struct credit_run_stats {
    char program[8], period[32];
    char started_at[24];  /* UTC, YYYY-MM-DDTHH:MM:SSZ */
    const char *manifest; /* the path given */
    size_t rows;          /* every row of the manifest */
    size_t acked;         /* rows the switch answered (sent once, in batches) */
    uint64_t credited, already;
    int64_t rupiah;
    ctl_rej *rejs; /* every refused row, by line (kksctl's own and the switch's) */
    size_t nrej;
    uint64_t by_kind[KKS_REJECT__COUNT]; /* refused rows per class of reason */
    double seconds;                      /* first batch sent .. last answer */
    kr_hist rtt;                         /* batch round trips, ns */
    struct credit_run_batch *batches;    /* in the order they were answered */
    size_t nbatches;
    struct credit_run_sample *samples; /* in time order */
    size_t nsamples;
    double rss_max, wal_max; /* bytes, over the samples; 0: none */
    const char *metrics;     /* the address sampled, or NULL */
    char metrics_why[200];   /* no sample: why */
    int complete;            /* every row answered */
    char error[300];         /* when not complete: why the run stopped */
    unsigned batch_rows, in_flight;
};

/* Runs the manifest at path against the switch of c. *st is filled in any
 * case once the manifest was read (free it with ctl_credit_run_free; it must
 * start zeroed). Returns EXIT_OK (every row credited or credited before),
 * EXIT_DECLINED (some rows refused), EXIT_USAGE (the manifest cannot be read
 * or is not one; nothing sent), EXIT_PEER (the switch was lost: st->complete
 * is 0 and what was answered is committed), EXIT_INTERNAL. Progress goes to
 * stderr; the summary is the caller's to print. The report, when asked for,
 * is written whatever the outcome after the manifest was read. */
int ctl_credit_run(ctl *c, const char *path, const struct credit_run_opts *o,
                   struct credit_run_stats *st);
void ctl_credit_run_free(struct credit_run_stats *st);

/* The figures as one JSON object (stolen by the caller); NULL: out of memory. */
json_t *ctl_credit_run_json(const struct credit_run_stats *st);
/* The summary for people, on f. */
void ctl_credit_run_print(FILE *f, const struct credit_run_stats *st);
/* The HTML report (ctl/credit_report.c) at path; sw names the switch. 0, or
 * -1 with the reason in err. */
int ctl_credit_run_report(const struct credit_run_stats *st, const char *path, const char *sw,
                          char *err, size_t cap);

/* The quantile q of the batch round trips, in ms (0 when there were none);
 * in ctl/credit_report.c with the report, which a test links alone. */
double ctl_credit_run_ms(const struct credit_run_stats *st, double q);

#endif
