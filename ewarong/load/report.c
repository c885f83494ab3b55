/* The load report: the run's seconds turned into the series of the shared
 * report pieces (report/kr_chart.h), and the response codes into bars. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kks_rc.h"

enum { S_ANSWERED, S_APPROVED, S_ERRORS, S_BEHIND, S_P50, S_P90, S_P99, S_P999, S__N };

/* The seconds as columns: x (the middle of each second) and one y array a series. */
typedef struct cols {
    double *x, *y[S__N];
} cols;

static void cols_free(cols *c)
{
    free(c->x);
    for (int i = 0; i < S__N; i++)
        free(c->y[i]);
}

static int cols_make(cols *c, const kl_second *secs, size_t n)
{
    *c = (cols){0};
    size_t k = n ? n : 1;
    int ok = (c->x = malloc(k * sizeof *c->x)) != NULL;
    for (int i = 0; i < S__N; i++)
        ok &= (c->y[i] = malloc(k * sizeof *c->y[i])) != NULL;
    if (!ok) {
        cols_free(c);
        *c = (cols){0};
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const kl_second *s = &secs[i];
        c->x[i] = (double)i + 0.5;
        c->y[S_ANSWERED][i] = (double)s->answered;
        c->y[S_APPROVED][i] = (double)s->approved;
        c->y[S_ERRORS][i] = (double)s->errors;
        c->y[S_BEHIND][i] = (double)s->behind;
        c->y[S_P50][i] = s->answered ? (double)s->p50 / 1e6 : NAN;
        c->y[S_P90][i] = s->answered ? (double)s->p90 / 1e6 : NAN;
        c->y[S_P99][i] = s->answered ? (double)s->p99 / 1e6 : NAN;
        c->y[S_P999][i] = s->answered ? (double)s->p999 / 1e6 : NAN;
    }
    return 0;
}

/* One bar a response code that came back, then the transport errors. */
static void chart_codes(FILE *f, const kl_report *r)
{
    static const char *const names[] = {"approved", "declined or other", "transport error"};
    static const char *const colors[] = {KR_GREEN, KR_ORANGE, KR_RED};
    char labels[101][80];
    kr_bar bars[101];
    size_t n = 0;
    for (int c = 0; c <= 100; c++) { /* 100: the transport errors */
        uint64_t k = c < 100 ? (r->codes ? r->codes[c] : 0) : r->errors;
        if (k == 0)
            continue;
        if (c < 100) {
            char code[3] = {(char)('0' + c / 10), (char)('0' + c % 10), 0};
            snprintf(labels[n], sizeof labels[n], "%s %s", code, kks_rc_meaning(code));
        } else {
            snprintf(labels[n], sizeof labels[n], "transport errors (no reply)");
        }
        bars[n] = (kr_bar){labels[n], c == 100 ? KR_RED : c == 0 ? KR_GREEN : KR_ORANGE, k};
        n++;
    }
    kr_bars(f, "Response codes: requests by response code, and transport errors", "requests",
            bars, n, names, colors, 3);
}

static void body(FILE *f, const void *ud)
{
    const kl_report *r = ud;
    cols c;
    int have = cols_make(&c, r->secs, r->nsecs) == 0;
    size_t n = have ? r->nsecs : 0;
    const kr_series tput[] = {
        {"answered/s", KR_BLUE, c.x, c.y[S_ANSWERED], n, 0, 0},
        {"approved/s", KR_GREEN, c.x, c.y[S_APPROVED], n, 0, 0},
        {"transport errors/s", KR_RED, c.x, c.y[S_ERRORS], n, 0, 1},
        {"started > 1 ms late/s", KR_ORANGE, c.x, c.y[S_BEHIND], n, 1, 1},
    };
    /* the first series decides whether a second has a point: one with answers */
    const kr_series lat[] = {
        {"p50", KR_GREEN, c.x, c.y[S_P50], n, 0, 0},
        {"p90", KR_BLUE, c.x, c.y[S_P90], n, 0, 0},
        {"p99", KR_ORANGE, c.x, c.y[S_P99], n, 0, 0},
        {"p99.9", KR_RED, c.x, c.y[S_P999], n, 0, 0},
    };
    kr_page_open(f, r->title ? r->title : "kks-terminal load");
    kr_h2(f, "Settings");
    kr_kv_table(f, r->settings, r->nsettings);
    kr_h2(f, "Summary");
    kr_kv_table(f, r->summary, r->nsummary);
    kr_h2(f, "Throughput");
    kr_time_chart(f, "Throughput over time: answered and approved requests per second",
                  "requests/s", (double)r->nsecs, tput, 4);
    kr_h2(f, "Latency over time");
    kr_time_chart(f, "Latency over time: p50, p90, p99 and p99.9 of each second, ms",
                  "latency (ms)", (double)r->nsecs, lat, 4);
    kr_h2(f, "Latency distribution");
    kr_spectrum(f, "Latency distribution: latency at each percentile, ms", r->all);
    kr_percentile_table(f, r->all, "latencies");
    kr_h2(f, "Response codes");
    chart_codes(f, r);
    kr_page_close(f, "Written by kks-terminal load " KKS_VERSION
                     ". Latency is measured from each request's intended start.");
    if (have)
        cols_free(&c);
}

int kl_report_html(const kl_report *r, const char *path, char *err, size_t cap)
{
    if (!r)
        return kr_write(path, NULL, NULL, err, cap);
    return kr_write(path, body, r, err, cap);
}
