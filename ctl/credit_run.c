/* kksctl credit-run's engine: see credit_run.h.
 *
 * It reads the whole manifest first (structure, one programme and period,
 * 16-digit KKs, whole-rupiah amounts), sorts it by KK so the switch walks its
 * tables in order, and streams it in batches with several in flight. Each
 * batch is acknowledged after the switch committed it; running the same
 * manifest again credits only what is missing, and two runs of one manifest
 * at once credit each family once between them (the switch applies one batch
 * at a time). Each answer records the batch's round trip; a timer on the same
 * loop scrapes the switch's metrics while the run lasts. */
#include "credit_run.h"

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credit_manifest.h"
#include "kks_csv.h"
#include "kc_op.h"
#include "kks_sort.h"
#include "kc_scrape.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_money.h"

typedef credit_row row;
typedef ctl_rej rej;

typedef struct run {
    ctl *c;
    struct credit_run_stats *st;
    row *rows;
    size_t nrows, sent, capbatches;
    size_t caprej;
    unsigned inflight;
    int failed, tty, quiet;
    kks_client *cl;
    uint64_t started, last_print;
    uint64_t interval_ns; /* between progress lines */
    /* sampling the switch's metrics */
    uv_timer_t timer;
    int timer_closed;
    kc_scrape *scrape; /* the one in flight, or NULL */
    size_t capsamples;
} run;

/* Keeps a refused row; out of memory fails the run (a rejection is never lost
 * in silence). */
static void add_rej(run *r, uint32_t line, unsigned kind, const char *reason)
{
    struct credit_run_stats *st = r->st;
    credit_manifest m = {.rejs = st->rejs, .nrej = st->nrej, .caprej = r->caprej};
    credit_manifest_reject(&m, line, kind, reason);
    st->rejs = m.rejs;
    st->nrej = m.nrej;
    r->caprej = m.caprej;
    st->by_kind[kind < KKS_REJECT__COUNT ? kind : KKS_REJECT_OTHER]++;
    if (m.failed)
        r->failed = m.failed;
}

/* Stops the run (the first reason only is kept). */
static void stop(run *r, int ec, const char *why)
{
    if (r->failed)
        return;
    r->failed = ec;
    snprintf(r->st->error, sizeof r->st->error, "%s", why);
    ctl_say("\nkksctl: switch: %s\n", why);
}

static int cmp_row(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->kk != y->kk)
        return x->kk < y->kk ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

static int cmp_rej(const void *a, const void *b)
{
    const rej *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

/* Reads the manifest (ctl/credit_manifest.c) into r and its figures. Returns
 * EXIT_OK, or EXIT_USAGE / EXIT_INTERNAL after printing why. */
static int read_manifest(run *r, const char *path)
{
    credit_manifest m = {0};
    struct credit_run_stats *st = r->st;
    kks_csv_file file;
    char why[128];
    int ec;
    if (kks_csv_map(&file, path, why, sizeof why) == 0) {
        ec = credit_manifest_read_mem(&m, file.data, file.len, path);
        kks_csv_unmap(&file);
    } else { /* a pipe, say: read as a stream */
        FILE *f = fopen(path, "r");
        if (!f) {
            ctl_say("kksctl: %s: cannot open: %s\n", path, strerror(errno));
            return EXIT_USAGE;
        }
        ec = credit_manifest_read(&m, f, path);
        fclose(f);
    }
    memcpy(st->program, m.program, sizeof st->program);
    memcpy(st->period, m.period, sizeof st->period);
    r->rows = m.rows;
    r->nrows = m.nrows;
    st->rejs = m.rejs;
    st->nrej = m.nrej;
    r->caprej = m.caprej;
    for (size_t i = 0; i < m.nrej; i++)
        st->by_kind[m.rejs[i].kind < KKS_REJECT__COUNT ? m.rejs[i].kind : 0]++;
    if (m.failed)
        r->failed = m.failed;
    return ec;
}

static void progress(run *r, int final)
{
    uint64_t now = uv_hrtime();
    size_t acked = r->st->acked;
    double el = (double)(now - r->started) / 1e9;
    double rate = el > 0 ? (double)acked / el : 0;
    double left = rate > 0 ? (double)(r->nrows - acked) / rate : 0;
    if (r->quiet || (!final && now - r->last_print < r->interval_ns))
        return;
    r->last_print = now;
    if (r->tty) {
        int w = 30, done = r->nrows ? (int)((double)acked * w / (double)r->nrows) : w;
        char bar[32];
        for (int i = 0; i < w; i++)
            bar[i] = i < done ? '#' : '-';
        bar[w] = '\0';
        fprintf(stderr, "\r[%s] %3.0f%% %zu/%zu  %.0f/s  %.0f s left   %s", bar,
                r->nrows ? 100.0 * (double)acked / (double)r->nrows : 100.0, acked, r->nrows,
                rate, left, final ? "\n" : "");
    } else {
        fprintf(stderr, "credit-run: %zu/%zu rows, %.0f rows/s, %.0f s left\n", acked, r->nrows,
                rate, left);
    }
}

/* ---- the switch's memory and WAL, sampled on the loop ---- */

static void on_scrape(void *ud, int status, const char *buf, size_t len)
{
    static const char *const names[] = {"process_resident_memory_bytes", "kks_switch_wal_bytes"};
    run *r = ud;
    struct credit_run_stats *st = r->st;
    double v[2] = {NAN, NAN};
    int found = status < 0 ? status : kc_scrape_parse(buf, len, names, v, 2);
    r->scrape = NULL;
    if (found <= 0) {
        if (st->nsamples == 0)
            snprintf(st->metrics_why, sizeof st->metrics_why, "%s: %s", st->metrics,
                     found < 0 ? kks_strerror(found)
                               : "no process_resident_memory_bytes or kks_switch_wal_bytes there");
        return;
    }
    if (st->nsamples == r->capsamples) {
        size_t nc = r->capsamples ? r->capsamples * 2 : 256;
        struct credit_run_sample *ns = realloc(st->samples, nc * sizeof *ns);
        if (!ns)
            return; /* a sample less: the run goes on */
        st->samples = ns;
        r->capsamples = nc;
    }
    double t = ((double)uv_hrtime() - (double)r->started) / 1e9;
    st->samples[st->nsamples++] = (struct credit_run_sample){t, v[0], v[1]};
    if (v[0] > st->rss_max)
        st->rss_max = v[0];
    if (v[1] > st->wal_max)
        st->wal_max = v[1];
    st->metrics_why[0] = '\0';
}

static void sample(run *r)
{
    if (r->scrape || !r->st->metrics)
        return;
    int rc = kc_scrape_start(r->c->loop, r->st->metrics, CREDIT_RUN_SCRAPE_TIMEOUT_MS, on_scrape,
                             r, &r->scrape);
    if (rc < 0 && r->st->nsamples == 0)
        snprintf(r->st->metrics_why, sizeof r->st->metrics_why, "%s: %s", r->st->metrics,
                 kks_strerror(rc));
}

static void on_tick(uv_timer_t *t)
{
    sample(t->data);
}

static void on_timer_closed(uv_handle_t *h)
{
    ((run *)h->data)->timer_closed = 1;
}

/* Starts sampling (a first scrape at once). */
static void sampling_start(run *r)
{
    if (!r->st->metrics) {
        r->timer_closed = 1;
        return;
    }
    uv_timer_init(r->c->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, 0, CREDIT_RUN_SAMPLE_MS);
}

/* A last scrape after the last answer, waited for; then the timer is closed
 * (r lives on the caller's stack: its handle must be closed before return). */
static void sampling_stop(run *r)
{
    if (r->timer_closed)
        return;
    uv_timer_stop(&r->timer);
    if (r->scrape) /* a scrape from before the end: its figures are not the last */
        kc_scrape_cancel(r->scrape);
    r->scrape = NULL;
    sample(r);
    while (r->scrape)
        uv_run(r->c->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    while (!r->timer_closed)
        uv_run(r->c->loop, UV_RUN_ONCE);
}

/* ---- batches ---- */

struct batch {
    run *r;
    size_t from, n;
    uint64_t sent;
};

static int send_batch(run *r, size_t from, size_t n);

/* Records an answered batch for the charts and the percentiles. */
static void record(run *r, const struct batch *b, uint32_t rows, uint32_t credited)
{
    struct credit_run_stats *st = r->st;
    uint64_t now = uv_hrtime();
    kr_hist_add(&st->rtt, now - b->sent);
    if (st->nbatches == r->capbatches) {
        size_t nc = r->capbatches ? r->capbatches * 2 : 256;
        struct credit_run_batch *nb = realloc(st->batches, nc * sizeof *nb);
        if (!nb) {
            stop(r, EXIT_INTERNAL, kks_strerror(KKS_ENOMEM));
            return;
        }
        st->batches = nb;
        r->capbatches = nc;
    }
    st->batches[st->nbatches++] =
        (struct credit_run_batch){now - r->started, now - b->sent, rows, credited};
}

static void on_result(int status, const Kks__Envelope *rep, void *ud)
{
    struct batch *b = ud;
    run *r = b->r;
    struct credit_run_stats *st = r->st;
    r->inflight--;
    if (status < 0 || rep->body_case != KKS__ENVELOPE__BODY_CREDIT_RESULT) {
        stop(r, status < 0 ? EXIT_PEER : EXIT_INTERNAL,
             status < 0 ? kks_strerror(status)
             : rep->body_case == KKS__ENVELOPE__BODY_ERROR && rep->error->message
                 ? rep->error->message
                 : "unexpected reply");
    } else {
        const Kks__CreditResult *res = rep->credit_result;
        st->credited += res->credited;
        st->already += res->already;
        st->rupiah += res->rupiah;
        for (size_t i = 0; i < res->n_rejected; i++)
            add_rej(r, res->rejected[i]->line, res->rejected[i]->kind, res->rejected[i]->reason);
        size_t done = b->n;
        if (res->next_kk) {
            /* the switch kept its reply under the frame cap and stopped at this
             * family: the rest of the batch goes again */
            done = 0;
            while (done < b->n && r->rows[b->from + done].kk < res->next_kk)
                done++;
            if (done == 0 || done == b->n)
                stop(r, EXIT_INTERNAL, "a partial batch that names no row of it");
            else if (send_batch(r, b->from + done, b->n - done) < 0)
                stop(r, EXIT_PEER, kks_client_last_error(r->cl));
        }
        st->acked += done;
        record(r, b, (uint32_t)done, res->credited);
        progress(r, 0);
    }
    free(b);
}

static int send_batch(run *r, size_t from, size_t n)
{
    Kks__Envelope env;
    kc_credits cb;
    struct batch *b = malloc(sizeof *b);
    int rc;
    if (!b || kc_credits_init(&cb, r->st->program, r->st->period, n) < 0) {
        free(b);
        return KKS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        kc_credits_add(&cb, r->rows[from + i].line, r->rows[from + i].kk,
                       r->rows[from + i].amount);
    kc_credits_envelope(&cb, &env);
    *b = (struct batch){r, from, n, uv_hrtime()};
    rc = kks_client_call(r->cl, &env, CTL_TIMEOUT_MS, on_result, b); /* packed: cb may go */
    kc_credits_free(&cb);
    if (rc < 0) {
        free(b);
        return rc;
    }
    r->inflight++;
    return 0;
}

/* Rows of one KK after its first: refused here, never sent. */
static void drop_twice(run *r)
{
    size_t w = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        if (w > 0 && r->rows[w - 1].kk == r->rows[i].kk) {
            char why[96];
            snprintf(why, sizeof why, "KK %016" PRIu64 " appears twice in this run (first on "
                     "line %u)", r->rows[i].kk, r->rows[w - 1].line);
            add_rej(r, r->rows[i].line, KKS_REJECT_TWICE, why);
            continue;
        }
        r->rows[w++] = r->rows[i];
    }
    r->nrows = w;
}

int ctl_credit_run(ctl *c, const char *path, const struct credit_run_opts *o,
                   struct credit_run_stats *st)
{
    run r = {.c = c, .st = st, .quiet = o->quiet};
    unsigned per = o->batch ? o->batch : CREDIT_RUN_BATCH;
    unsigned most = o->in_flight ? o->in_flight : CREDIT_RUN_IN_FLIGHT;
    int ec;

    kr_hist_init(&st->rtt);
    st->manifest = path;
    st->metrics = o->metrics && *o->metrics ? o->metrics : NULL;
    st->batch_rows = per;
    st->in_flight = most;
    if (!st->metrics)
        snprintf(st->metrics_why, sizeof st->metrics_why,
                 "no metrics address given (--metrics HOST:PORT or KKS_SWITCH_METRICS)");
    if ((ec = read_manifest(&r, path)) != EXIT_OK) {
        free(r.rows);
        return ec;
    }
    st->rows = r.nrows + st->nrej;
    /* KK order: the switch's tables are keyed by KK, so in-order keys are appends. */
    /* stable: rows of one KK stay in file order (qsort, when memory is short, by line) */
    if (kks_sort_u64(r.rows, r.nrows, sizeof *r.rows, offsetof(row, kk)) < 0)
        qsort(r.rows, r.nrows, sizeof *r.rows, cmp_row);
    drop_twice(&r);
    kks_utc_now(st->started_at);
    if (!(r.cl = ctl_peer(c, KKS_ROLE_SWITCH, &ec))) {
        snprintf(st->error, sizeof st->error, "no connection to the switch");
        goto done;
    }
    r.tty = isatty(2);
    r.interval_ns = (uint64_t)(o->progress_ms >= 0 ? o->progress_ms : r.tty ? 100 : 5000) *
                    1000000ull;
    r.started = uv_hrtime();
    r.last_print = r.started; /* first line after the interval, not at once */
    sampling_start(&r);
    while (r.sent < r.nrows && !r.failed) {
        while (r.inflight >= most && !r.failed)
            uv_run(c->loop, UV_RUN_ONCE);
        if (r.failed)
            break;
        size_t n = r.nrows - r.sent < per ? r.nrows - r.sent : per;
        if (send_batch(&r, r.sent, n) < 0) {
            stop(&r, EXIT_PEER, kks_client_last_error(r.cl));
            break;
        }
        r.sent += n;
    }
    while (r.inflight > 0)
        uv_run(c->loop, UV_RUN_ONCE);
    st->seconds = st->nbatches ? (double)st->batches[st->nbatches - 1].done_ns / 1e9 : 0;
    sampling_stop(&r);
    progress(&r, 1);
    st->complete = !r.failed;
    ec = r.failed ? r.failed : st->nrej ? EXIT_DECLINED : EXIT_OK;
    if (r.failed)
        ctl_say("kksctl: credit run stopped after %zu of %zu rows were acknowledged. "
                "Acknowledged batches are committed; run the same manifest again to credit "
                "what is missing (nothing is credited twice).\n",
                st->acked, r.nrows);
done:
    if (st->nrej)
        qsort(st->rejs, st->nrej, sizeof *st->rejs, cmp_rej);
    free(r.rows);
    if (o->report) {
        char err[300];
        if (ctl_credit_run_report(st, o->report, c->sw, err, sizeof err) < 0) {
            ctl_say("kksctl: the report: %s\n", err);
            if (ec == EXIT_OK || ec == EXIT_DECLINED)
                ec = EXIT_INTERNAL;
        }
    }
    return ec;
}

int ctl_credit_run_metrics(const char **addr)
{
    struct sockaddr_storage sa;
    if (*addr && !**addr)
        *addr = NULL; /* KKS_SWITCH_METRICS= : not given */
    if (*addr && kks_addr_parse(*addr, &sa) < 0) {
        ctl_say("kksctl: bad switch metrics address %s (expected HOST:PORT, from %s)\n", *addr,
                getenv("KKS_SWITCH_METRICS") == *addr ? "KKS_SWITCH_METRICS" : "--metrics");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

void ctl_credit_run_free(struct credit_run_stats *st)
{
    for (size_t i = 0; i < st->nrej; i++)
        free(st->rejs[i].reason);
    free(st->rejs);
    free(st->batches);
    free(st->samples);
    st->rejs = NULL;
    st->batches = NULL;
    st->samples = NULL;
    st->nrej = st->nbatches = st->nsamples = 0;
}

static double per_s(double n, double seconds)
{
    return seconds > 0 ? n / seconds : 0;
}

json_t *ctl_credit_run_json(const struct credit_run_stats *st)
{
    json_t *j = json_pack("{s:o,s:o,s:I,s:I,s:I,s:I}", "program", kks_json_str(st->program),
                          "period", kks_json_str(st->period), "rows", (json_int_t)st->rows,
                          "credited", (json_int_t)st->credited, "already_credited",
                          (json_int_t)st->already, "rupiah", (json_int_t)st->rupiah);
    json_t *kinds = json_object();
    for (unsigned k = 0; kinds && k < KKS_REJECT__COUNT; k++)
        if (st->by_kind[k])
            kks_json_set(&kinds, kks_reject_words(k), json_integer((json_int_t)st->by_kind[k]));
    kks_json_set(&j, "rejected_count", json_integer((json_int_t)st->nrej));
    kks_json_set(&j, "rejected_by_reason", kinds);
    kks_json_set(&j, "complete", json_boolean(st->complete));
    kks_json_set(&j, "acknowledged", json_integer((json_int_t)st->acked));
    if (!st->complete)
        kks_json_set(&j, "error", kks_json_str(st->error));
    kks_json_set(&j, "started_at", kks_json_str(st->started_at));
    kks_json_set(&j, "duration_s", json_real(st->seconds));
    kks_json_set(&j, "credits_per_s", json_real(per_s((double)st->credited, st->seconds)));
    kks_json_set(&j, "rows_per_s", json_real(per_s((double)st->acked, st->seconds)));
    kks_json_set(&j, "batches", json_integer((json_int_t)st->nbatches));
    kks_json_set(&j, "batch_ms",
                 json_pack("{s:f,s:f,s:f,s:f}", "p50", ctl_credit_run_ms(st, .5), "p90",
                           ctl_credit_run_ms(st, .9), "p99", ctl_credit_run_ms(st, .99), "max",
                           ctl_credit_run_ms(st, 1)));
    json_t *m = st->nsamples
                    ? json_pack("{s:b,s:o,s:I,s:I,s:I}", "sampled", 1, "address",
                                kks_json_str(st->metrics), "samples", (json_int_t)st->nsamples,
                                "rss_max_bytes", (json_int_t)st->rss_max, "wal_max_bytes",
                                (json_int_t)st->wal_max)
                    : json_pack("{s:b,s:o}", "sampled", 0, "why", kks_json_str(st->metrics_why));
    kks_json_set(&j, "switch_memory", m);
    kks_json_set(&j, "rejected", ctl_rejected_json(st->rejs, st->nrej));
    return j;
}

void ctl_credit_run_print(FILE *f, const struct credit_run_stats *st)
{
    char money[48];
    kks_rupiah(st->rupiah, '.', money, sizeof money);
    fprintf(f, "%s %s: rows %zu, credited %" PRIu64 ", already credited %" PRIu64
               ", rejected %zu, %s credited, %.1f s%s\n",
            st->program, st->period, st->rows, st->credited, st->already, st->nrej, money,
            st->seconds, st->complete ? "" : " (STOPPED: not every row was answered)");
    fprintf(f, "  %.0f credits/s, %.0f rows/s; %zu batches, round trip ms p50 %.1f, p90 %.1f, "
               "p99 %.1f, max %.1f\n",
            per_s((double)st->credited, st->seconds), per_s((double)st->acked, st->seconds),
            st->nbatches, ctl_credit_run_ms(st, .5), ctl_credit_run_ms(st, .9),
            ctl_credit_run_ms(st, .99), ctl_credit_run_ms(st, 1));
    if (st->nsamples)
        fprintf(f, "  switch: RSS up to %.1f MiB, WAL up to %.1f MiB (%zu samples of %s)\n",
                st->rss_max / 1048576.0, st->wal_max / 1048576.0, st->nsamples, st->metrics);
    else
        fprintf(f, "  switch memory not sampled: %s\n", st->metrics_why);
    if (st->nrej) {
        fputs("  rejected by reason:", f);
        for (unsigned k = 0, first = 1; k < KKS_REJECT__COUNT; k++)
            if (st->by_kind[k]) {
                fprintf(f, "%s %s %" PRIu64, first ? "" : ",", kks_reject_words(k), st->by_kind[k]);
                first = 0;
            }
        fputc('\n', f);
    }
    for (size_t i = 0; i < st->nrej && i < 100; i++)
        fprintf(f, "  line %u: %s\n", st->rejs[i].line, st->rejs[i].reason);
    if (st->nrej > 100)
        fprintf(f, "  ... and %zu more (use --json for all)\n", st->nrej - 100);
}
