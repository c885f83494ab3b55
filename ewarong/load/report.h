/* The HTML report of a kks-terminal load run, drawn with the shared report pieces
 * (report/kr_chart.h): one self-contained file, readable at ~900 px:
 *
 *   settings and summary tables (every string escaped: they come from the command line)
 *   (a) throughput over time: answered/s, approved/s, errors/s and late starts/s if any
 *   (b) latency over time: p50, p90, p99, p99.9 of each second, in ms
 *   (c) latency distribution: the percentile spectrum of `all` (x: 0% .. 99.999%
 *       on the log scale of 1/(1-p)), with a table of p50 .. p99.99 and max
 *   (d) response codes: one bar a code with its count and meaning, transport errors apart
 *
 * A chart without data says "no data". Long runs stay small: a series has at most
 * two points per pixel column (the smallest and largest of the seconds it covers). */
#ifndef KKS_LOAD_REPORT_H
#define KKS_LOAD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "kr_chart.h"

typedef struct kl_second {               /* one second of the measured part of the run */
    uint64_t answered, approved, errors; /* errors: transport errors (no reply) */
    uint64_t p50, p90, p99, p999, max; /* ns, of the requests answered in that second; 0 if none */
    uint64_t behind;                   /* requests started > 1 ms after their intended time */
    uint32_t codes[100];               /* response codes "00".."99" answered in that second */
} kl_second;

typedef struct kl_report {
    const char *title; /* e.g. "kks-terminal load, 2026-12-02 05:10 UTC" */
    const kr_kv *settings;
    size_t nsettings; /* run settings shown in a table (terminals, mix, model, rate, ...) */
    const kr_kv *summary;
    size_t nsummary; /* summary lines (throughput, percentiles, verdicts, ...) */
    const kl_second *secs;
    size_t nsecs;
    const kr_hist *all;    /* every latency of the measured part; NULL: empty */
    const uint64_t *codes; /* [100] totals; NULL: none */
    uint64_t errors;       /* transport errors, total */
} kl_report;

/* Writes the report to path atomically (a temporary file in the same directory, then rename).
 * 0, or -1 with the reason in err. */
int kl_report_html(const kl_report *r, const char *path, char *err, size_t cap);

#endif
