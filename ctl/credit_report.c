/* The credit-run report: the run's figures drawn with the shared report pieces
 * (report/kr_chart.h), the look of kks-terminal load's report.
 *
 *   settings and summary tables (the summary: the figures --json gives)
 *   (a) rejections by reason: a bar a class of reason
 *   (b) credits over time: credited/s and answered rows/s, per time bucket
 *   (c) batch round trip over time: p50, p90, p99 and max of each bucket, ms
 *   (d) batch round trips: the percentile spectrum and its table
 *   (e) the switch's RSS and WAL size over time, from its metrics, or why not
 *
 * Batches are answered in lumps, so a time bucket is about as wide as half a
 * round of the batches in flight (at most 100 buckets, widths of 1, 2 or 5
 * times a power of ten seconds). Nothing here names a family: the report
 * holds no personal data. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "credit_run.h"
#include "kks_money.h"
#include "kr_chart.h"

#define MAX_BUCKETS 100

enum { Y_CREDITED, Y_ROWS, Y_P50, Y_P90, Y_P99, Y_MAX, Y__N };

typedef struct view {
    const struct credit_run_stats *st;
    const char *sw;
    double w;    /* bucket width, s */
    size_t nb;   /* buckets */
    double *x, *y[Y__N];
    double *sx, *rss, *wal; /* the samples: seconds, MiB, MiB */
} view;

/* The smallest 1, 2 or 5 times a power of ten that is at least v. */
static double nice_up(double v)
{
    double mag = pow(10, floor(log10(v)));
    for (int i = 0; i < 3; i++) {
        double m = (double[]){1, 2, 5}[i] * mag;
        if (m >= v * (1 - 1e-9))
            return m;
    }
    return 10 * mag;
}

static void view_free(view *v)
{
    free(v->x);
    for (int i = 0; i < Y__N; i++)
        free(v->y[i]);
    free(v->sx);
    free(v->rss);
    free(v->wal);
}

/* Buckets and sample columns of the run. -1 when out of memory. */
static int view_make(view *v, const struct credit_run_stats *st)
{
    /* answers come in rounds of the batches in flight: a bucket holds about
     * half a round (8 in flight: 4 batches), fewer buckets than that are steps
     * of nothing and everything */
    size_t half = st->in_flight > 1 ? st->in_flight / 2 : 1;
    size_t target = st->nbatches / half;
    if (target > MAX_BUCKETS)
        target = MAX_BUCKETS;
    if (target == 0 && st->nbatches)
        target = 1;
    v->w = st->seconds > 0 && target ? nice_up(st->seconds / (double)target) : 1;
    v->nb = st->nbatches ? (size_t)ceil(st->seconds / v->w - 1e-9) : 0;
    if (st->nbatches && v->nb == 0)
        v->nb = 1;
    size_t nb = v->nb ? v->nb : 1, ns = st->nsamples ? st->nsamples : 1;
    int ok = (v->x = calloc(nb, sizeof *v->x)) != NULL;
    for (int i = 0; i < Y__N; i++)
        ok &= (v->y[i] = calloc(nb, sizeof *v->y[i])) != NULL;
    ok &= (v->sx = malloc(ns * sizeof *v->sx)) && (v->rss = malloc(ns * sizeof *v->rss)) &&
          (v->wal = malloc(ns * sizeof *v->wal));
    if (!ok)
        return -1;
    kr_hist h;
    size_t k = 0; /* the next batch: batches come in time order */
    for (size_t b = 0; b < v->nb; b++) {
        kr_hist_init(&h);
        v->x[b] = ((double)b + 0.5) * v->w;
        for (; k < st->nbatches && ((double)st->batches[k].done_ns / 1e9 < (double)(b + 1) * v->w ||
                                    b + 1 == v->nb);
             k++) {
            v->y[Y_CREDITED][b] += st->batches[k].credited;
            v->y[Y_ROWS][b] += st->batches[k].rows;
            kr_hist_add(&h, st->batches[k].rtt_ns);
        }
        v->y[Y_CREDITED][b] /= v->w;
        v->y[Y_ROWS][b] /= v->w;
        v->y[Y_P50][b] = h.total ? (double)kr_hist_quantile(&h, .5) / 1e6 : NAN;
        v->y[Y_P90][b] = h.total ? (double)kr_hist_quantile(&h, .9) / 1e6 : NAN;
        v->y[Y_P99][b] = h.total ? (double)kr_hist_quantile(&h, .99) / 1e6 : NAN;
        v->y[Y_MAX][b] = h.total ? (double)kr_hist_quantile(&h, 1) / 1e6 : NAN;
    }
    for (size_t i = 0; i < st->nsamples; i++) {
        v->sx[i] = st->samples[i].t > 0 ? st->samples[i].t : 0;
        v->rss[i] = st->samples[i].rss / 1048576.0;
        v->wal[i] = st->samples[i].wal / 1048576.0;
    }
    return 0;
}

static void summary(FILE *f, const view *v)
{
    const struct credit_run_stats *st = v->st;
    char b[12][512], money[48];
    kr_kv kv[12];
    size_t n = 0;
    double s = st->seconds;
#define ROW(key, ...) (snprintf(b[n], sizeof b[n], __VA_ARGS__), kv[n] = (kr_kv){key, b[n]}, n++)
    ROW("rows", "%zu", st->rows);
    ROW("credited", "%" PRIu64, st->credited);
    ROW("already credited", "%" PRIu64 " (by an earlier run, or by another run at the same time)",
        st->already);
    ROW("rejected", "%zu", st->nrej);
    kks_rupiah(st->rupiah, '.', money, sizeof money);
    ROW("credited now", "%s", money);
    ROW("duration", "%.3f s (first batch sent to last answer)", s);
    ROW("credits/s", "%.0f", s > 0 ? (double)st->credited / s : 0);
    ROW("rows/s", "%.0f (answered rows: credited, already credited or rejected)",
        s > 0 ? (double)st->acked / s : 0);
    ROW("batch round trip, ms", "p50 %.2f, p90 %.2f, p99 %.2f, max %.2f (%zu batches)",
        ctl_credit_run_ms(st, .5), ctl_credit_run_ms(st, .9), ctl_credit_run_ms(st, .99),
        ctl_credit_run_ms(st, 1), st->nbatches);
    if (st->nsamples)
        ROW("switch", "RSS up to %.1f MiB, WAL up to %.1f MiB (%zu samples)",
            st->rss_max / 1048576.0, st->wal_max / 1048576.0, st->nsamples);
    else
        ROW("switch", "memory not sampled: %s", st->metrics_why);
    if (st->complete)
        ROW("outcome", "complete: every row answered");
    else
        ROW("outcome", "STOPPED after %zu of %zu rows were answered: %s. Answered batches are "
            "committed; run the same manifest again to credit what is missing.",
            st->acked, st->rows - st->nrej, st->error[0] ? st->error : "the switch was lost");
#undef ROW
    kr_kv_table(f, kv, n);
}

static void rejections(FILE *f, const struct credit_run_stats *st)
{
    static const char *const names[] = {"rows refused"};
    static const char *const colors[] = {KR_ORANGE};
    kr_bar bars[KKS_REJECT__COUNT];
    size_t n = 0;
    for (unsigned k = 0; k < KKS_REJECT__COUNT; k++)
        if (st->by_kind[k])
            bars[n++] = (kr_bar){kks_reject_words(k), KR_ORANGE, st->by_kind[k]};
    if (n == 0) {
        kr_para(f, "No row was rejected.");
        return;
    }
    kr_bars(f, "Rejections by reason: rows refused, by class of reason", "rows", bars, n, names,
            colors, 1);
}

static void body(FILE *f, const void *ud)
{
    const view *v = ud;
    const struct credit_run_stats *st = v->st;
    char title[160], mem[300], set[4][160];
    snprintf(title, sizeof title, "kksctl credit-run, %s %s, %s", st->program, st->period,
             st->started_at);
    snprintf(set[0], sizeof set[0], "%s %s", st->program, st->period);
    snprintf(set[1], sizeof set[1], "%u rows a batch, %u in flight", st->batch_rows,
             st->in_flight);
    snprintf(set[2], sizeof set[2], "%s", st->metrics ? st->metrics : "not given");
    const kr_kv settings[] = {
        {"manifest", st->manifest}, {"programme and period", set[0]},
        {"switch", v->sw ? v->sw : "-"}, {"batches", set[1]}, {"switch metrics", set[2]},
    };
    const kr_series rate[] = {
        {"credited/s", KR_GREEN, v->x, v->y[Y_CREDITED], v->nb, 0, 0},
        {"rows answered/s", KR_BLUE, v->x, v->y[Y_ROWS], v->nb, 1, 0},
    };
    const kr_series rtt[] = {
        {"p50", KR_GREEN, v->x, v->y[Y_P50], v->nb, 0, 0},
        {"p90", KR_BLUE, v->x, v->y[Y_P90], v->nb, 0, 0},
        {"p99", KR_ORANGE, v->x, v->y[Y_P99], v->nb, 0, 0},
        {"max", KR_RED, v->x, v->y[Y_MAX], v->nb, 1, 0},
    };
    const kr_series memory[] = {
        {"switch RSS (MiB)", KR_PURPLE, v->sx, v->rss, st->nsamples, 0, 0},
        {"WAL size (MiB)", KR_ORANGE, v->sx, v->wal, st->nsamples, 0, 0},
    };
    double xmem = st->seconds;
    for (size_t i = 0; i < st->nsamples; i++)
        if (v->sx[i] > xmem)
            xmem = v->sx[i];
    kr_page_open(f, title);
    kr_h2(f, "Settings");
    kr_kv_table(f, settings, sizeof settings / sizeof settings[0]);
    kr_h2(f, "Summary");
    summary(f, v);
    kr_h2(f, "Rejections by reason");
    rejections(f, st);
    kr_h2(f, "Credits over time");
    snprintf(title, sizeof title, "Credits over time: credited rows and answered rows per second, "
                                  "in buckets of %g s", v->w);
    kr_time_chart(f, title, "rows/s", (double)v->nb * v->w, rate, 2);
    kr_h2(f, "Batch round trip over time");
    snprintf(title, sizeof title,
             "Batch round trip over time: p50, p90, p99 and max of the batches answered in each "
             "%g s, ms", v->w);
    kr_time_chart(f, title, "round trip (ms)", (double)v->nb * v->w, rtt, 4);
    kr_h2(f, "Batch round trips");
    kr_spectrum(f, "Batch round trips: round trip at each percentile, ms", &st->rtt);
    kr_percentile_table(f, &st->rtt, "batches");
    kr_h2(f, "The switch's memory and WAL");
    if (st->nsamples) {
        kr_time_chart(f, "The switch's resident memory and WAL file size over time, MiB", "MiB",
                      xmem, memory, 2);
    } else {
        snprintf(mem, sizeof mem, "The switch's memory was not sampled: %s.", st->metrics_why);
        kr_para(f, mem);
    }
    kr_page_close(f, "Written by kksctl credit-run " KKS_VERSION ". A batch's round trip runs "
                     "from its send to its answer, which the switch gives after COMMIT.");
}

double ctl_credit_run_ms(const struct credit_run_stats *st, double q)
{
    return (double)kr_hist_quantile(&st->rtt, q) / 1e6;
}

int ctl_credit_run_report(const struct credit_run_stats *st, const char *path, const char *sw,
                          char *err, size_t cap)
{
    view v = {.st = st, .sw = sw};
    int rc;
    if (view_make(&v, st) < 0) {
        view_free(&v);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    rc = kr_write(path, body, &v, err, cap);
    view_free(&v);
    return rc;
}
