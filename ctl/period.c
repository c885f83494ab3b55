/* kksctl period run: a national period in one command. A synthetic extract of
 * N families is generated, enrolled, its accounts opened, the PKH stage and
 * BPNT month manifests computed from the policy and credited, with each
 * phase's time and rate in one summary (and --json, and --report FILE.html).
 *
 * Memory is bounded whatever N: the extract is done in chunks of --chunk
 * families (default PERIOD_CHUNK). The generator's row i depends only on the
 * seed and i, so a chunk is any C rows of the one extract, written on its own
 * into the work directory. The chunks take the extract kecamatan by kecamatan
 * (ctl_gen_write_places): chunk k is positions k*C .. k*C+C-1 of the extract
 * stably sorted by the KK's first six digits, so its KKs, NIKs and wallets
 * lie in narrow ranges of the issuer's and switch's tables, which the chunks
 * after it do not come back to. Taken in extract order, every chunk held KKs
 * of every province: at national size each chunk's enrolments and credits
 * landed on a different page nearly every row (measured, 20.7M families:
 * enrolment fell to 24,000/s and credits to 58,000/s by the 19th chunk of 83,
 * from 53,000/s and 390,000/s in the first); taken province by province, each
 * chunk of a large province cost more than the one before it (Jawa Barat's
 * 14: enrolment 4.8 -> 15.1 s, credits 1.7 -> 5.7 s a chunk), its KKs among
 * all those the province's earlier chunks had written. Then, for that chunk
 * alone, the engines of the single commands run in turn on files:
 *
 *   generate   ctl_gen_write_places DIR/extract-K.csv
 *   enrol      ctl_enroll           the issuer (one card a family), then
 *   accounts                        the switch (its accounts, with programmes)
 *   manifests  ctl_manifest_write   DIR/pkh-K.csv, DIR/bpnt-K.csv (one reading)
 *   credit     ctl_credit_run       the switch, each manifest in turn
 *
 * Each engine holds at most one chunk (the credit run reads and sorts its
 * manifest whole), and what is kept across chunks is figures: counts, times,
 * the credit runs' batches (one record a batch of 16,384 rows) and the first
 * PERIOD_SHOW rejections. Crediting chunk by chunk is the same as one run of
 * the whole manifest: the switch pays a family once per programme and month
 * or stage, so a second run of the same families and period credits nothing.
 *
 * The work directory is a new one under $TMPDIR (else /tmp), each chunk's
 * files removed once it is done and the directory at the end; --keep DIR
 * writes them in DIR instead and leaves them there (mode 0600: the extract
 * names people, even made-up ones). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "credit_run.h"
#include "ctl.h"
#include "enroll.h"
#include "gen.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_money.h"
#include "kks_policy.h"
#include "kks_seeds.h"
#include "kr_chart.h"
#include "manifest.h"

#define PERIOD_CHUNK 250000
#define PERIOD_CHUNK_MIN 1000
#define PERIOD_CHUNK_MAX 5000000
#define PERIOD_SHOW 100 /* rejections kept with their reasons */
#define PERIOD_IOBUF (1u << 20)

static const char period_usage[] =
    "usage: kksctl period run --families N [--seed S] [--month YYYY-MM] [--chunk N]\n"
    "                         [--report FILE.html] [--metrics A] [--keep DIR] [--seeds DIR]\n"
    "                         [--issuer A] [--switch A] [--pki DIR] [--json]\n"
    "  --families N   families of the synthetic national extract, 1..100000000\n"
    "                 (kksctl gen population --families N --seed S, every province)\n"
    "  --seed S       the extract's seed (default 1)\n"
    "  --month M      the period: BPNT that month, PKH the stage (or payment) that holds\n"
    "                 it in the year's schedule (default: this month, WIB)\n"
    "  --chunk N      families done at a time, 1000..5000000 (default 250000): memory\n"
    "                 depends on it, not on --families\n"
    "  --report FILE  one self-contained HTML page: each phase's time and rate, and the\n"
    "                 credit runs' charts\n"
    "  --metrics A    the switch's --metrics address (or KKS_SWITCH_METRICS): its RSS\n"
    "                 and WAL are sampled while credits run\n"
    "  --keep DIR     write the chunks' extracts and manifests in DIR and keep them\n"
    "                 (default: a new directory under $TMPDIR, removed at the end)\n"
    "  --seeds DIR    places and policy (default $KKS_SEEDS, else the installed\n"
    "                 share/kks/seeds, else the source tree's)\n"
    "Generates the extract, enrols it at the issuer, opens the accounts at the switch,\n"
    "computes the PKH and BPNT manifests and credits them, chunk by chunk; then one\n"
    "summary of each phase's rows, time and rate. Progress goes to stderr.\n"
    "Exit codes: 0 done, 1 done but some rows were rejected, 2 usage error, 3 cannot\n"
    "reach the issuer or the switch, 4 internal error.\n";

enum { PH_GEN, PH_ENROL, PH_ACCOUNTS, PH_MANIFESTS, PH_PKH, PH_BPNT, PH__N };

static const char *const phase_names[PH__N] = {"generate",  "enrol",      "accounts",
                                               "manifests", "credit pkh", "credit bpnt"};

typedef struct phase {
    uint64_t rows;
    double seconds;
} phase;

/* A refused row: the phase, the chunk (1..) and the line in that chunk's file. */
typedef struct period_rej {
    int phase;
    unsigned chunk;
    uint32_t line;
    char *reason;
} period_rej;

typedef struct period {
    /* what was asked */
    uint64_t families, seed, chunk;
    unsigned nchunks;
    const char *seeds_dir, *keep, *report, *metrics;
    char dir[512]; /* the work directory */
    kks_period pkh, bpnt;
    char started_at[24];
    /* the figures */
    phase ph[PH__N];
    uint64_t enrolled, unchanged, opened, updated, acct_unchanged;
    struct ctl_manifest_stats mf[2]; /* pkh, bpnt: summed over chunks */
    struct credit_run_stats cr[2];   /* pkh, bpnt: merged, without the rejections */
    uint64_t cr_rejected[2];
    uint64_t rejected; /* every phase */
    period_rej rejs[PERIOD_SHOW];
    size_t nrej;
    unsigned chunks_done;
    double seconds;
    int complete;
    char error[300]; /* not complete: where it stopped */
    int exit;        /* and the exit code */
} period;

static double now_s(void)
{
    return (double)uv_hrtime() / 1e9;
}

static double rate(uint64_t n, double s)
{
    return s > 0 ? (double)n / s : 0;
}

/* kksctl's own peak resident memory, bytes. */
static uint64_t peak_rss(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
}

static void keep_rej(period *p, int ph, unsigned chunk, uint32_t line, const char *reason)
{
    p->rejected++;
    if (p->nrej == PERIOD_SHOW)
        return;
    period_rej *r = &p->rejs[p->nrej];
    if (!(r->reason = strdup(reason)))
        return; /* counted, not named */
    r->phase = ph;
    r->chunk = chunk;
    r->line = line;
    p->nrej++;
}

/* ---- the credit runs' figures, merged over the chunks ---- */

static int append(void **arr, size_t *n, const void *more, size_t m, size_t size)
{
    if (m == 0)
        return 0;
    void *a = realloc(*arr, (*n + m) * size);
    if (!a)
        return KKS_ENOMEM;
    memcpy((char *)a + *n * size, more, m * size);
    *arr = a;
    *n += m;
    return 0;
}

/* Adds a chunk's credit run to into; its time axis goes on from into's. The
 * rejections are counted (by_kind), not kept: the caller keeps the first. */
static int credit_merge(struct credit_run_stats *into, const struct credit_run_stats *st)
{
    double off = into->seconds;
    size_t nb = into->nbatches, ns = into->nsamples;
    if (!into->program[0]) {
        memcpy(into->program, st->program, sizeof into->program);
        memcpy(into->period, st->period, sizeof into->period);
        memcpy(into->started_at, st->started_at, sizeof into->started_at);
        into->metrics = st->metrics;
        into->batch_rows = st->batch_rows;
        into->in_flight = st->in_flight;
        into->complete = 1;
        kr_hist_init(&into->rtt); /* min starts above any value */
    }
    into->rows += st->rows;
    into->acked += st->acked;
    into->credited += st->credited;
    into->already += st->already;
    into->rupiah += st->rupiah;
    for (unsigned k = 0; k < KKS_REJECT__COUNT; k++)
        into->by_kind[k] += st->by_kind[k];
    into->seconds += st->seconds;
    kr_hist_merge(&into->rtt, &st->rtt);
    if (append((void **)&into->batches, &into->nbatches, st->batches, st->nbatches,
               sizeof *st->batches) < 0 ||
        append((void **)&into->samples, &into->nsamples, st->samples, st->nsamples,
               sizeof *st->samples) < 0)
        return KKS_ENOMEM;
    for (size_t i = nb; i < into->nbatches; i++)
        into->batches[i].done_ns += (uint64_t)(off * 1e9);
    for (size_t i = ns; i < into->nsamples; i++)
        into->samples[i].t += off;
    if (st->rss_max > into->rss_max)
        into->rss_max = st->rss_max;
    if (st->wal_max > into->wal_max)
        into->wal_max = st->wal_max;
    if (!into->nsamples)
        memcpy(into->metrics_why, st->metrics_why, sizeof into->metrics_why);
    if (!st->complete) {
        into->complete = 0;
        memcpy(into->error, st->error, sizeof into->error);
    }
    return 0;
}

/* ---- one chunk ---- */

/* A file of the work directory for chunk k: DIR/NAME-K.csv, created 0600. */
static FILE *work_file(const period *p, const char *name, unsigned k, char *path, size_t cap)
{
    int fd;
    FILE *f;
    snprintf(path, cap, "%s/%s-%04u.csv", p->dir, name, k);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
        !(f = fdopen(fd, "w"))) {
        ctl_say("kksctl period run: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, PERIOD_IOBUF);
    return f;
}

/* Stops the run (the first reason only is kept); returns ec. An engine's
 * "usage" error on a file this command wrote is an internal one. */
static int stop(period *p, int ec, unsigned k, const char *what)
{
    if (ec == EXIT_USAGE)
        ec = EXIT_INTERNAL;
    if (p->complete) {
        p->complete = 0;
        p->exit = ec;
        snprintf(p->error, sizeof p->error, "stopped in chunk %u of %u, %s", k, p->nchunks, what);
    }
    return ec;
}

static int gen_chunk(period *p, ctl_gen *g, unsigned k, uint64_t first, uint64_t n,
                     char *path, size_t cap)
{
    double t0 = now_s();
    FILE *f = work_file(p, "extract", k, path, cap);
    int ec;
    if (!f)
        return stop(p, EXIT_INTERNAL, k, "writing the extract");
    ec = ctl_gen_write_places(g, first, n, f, path);
    if (fclose(f) != 0 && ec == EXIT_OK) {
        ctl_say("kksctl period run: %s: %s\n", path, strerror(errno));
        ec = EXIT_INTERNAL;
    }
    p->ph[PH_GEN].seconds += now_s() - t0;
    if (ec != EXIT_OK)
        return stop(p, ec, k, "writing the extract");
    p->ph[PH_GEN].rows += n;
    return EXIT_OK;
}

static int enrol_chunk(period *p, ctl *c, unsigned k, const char *path)
{
    struct ctl_enroll_opts eo = {.quiet = 1};
    struct ctl_enroll_stats st = {0};
    int ec = ctl_enroll(c, path, &eo, &st);
    p->ph[PH_ENROL].rows += st.done_rows;
    p->ph[PH_ENROL].seconds += st.enrol_seconds;
    p->ph[PH_ACCOUNTS].rows += st.opened + st.updated + st.acct_unchanged;
    p->ph[PH_ACCOUNTS].seconds += st.accounts_seconds;
    p->enrolled += st.enrolled;
    p->unchanged += st.unchanged;
    p->opened += st.opened;
    p->updated += st.updated;
    p->acct_unchanged += st.acct_unchanged;
    for (size_t i = 0; i < st.nrej; i++)
        keep_rej(p, PH_ENROL, k, st.rejs[i].line, st.rejs[i].reason);
    ctl_enroll_free(&st);
    if (ec != EXIT_OK && ec != EXIT_DECLINED)
        return stop(p, ec, k, "enrolling and opening accounts");
    return EXIT_OK;
}

static int manifest_chunk(period *p, unsigned k, const char *extract, const kks_seeds *seeds,
                          const kks_policy *pol, char paths[2][600])
{
    const kks_period *per[2] = {&p->pkh, &p->bpnt};
    struct ctl_manifest_stats st[2] = {{0}};
    struct ctl_manifest_out out[2];
    double t0 = now_s();
    int ec = EXIT_OK;
    for (int i = 0; i < 2; i++) {
        out[i] = (struct ctl_manifest_out){.per = per[i], .name = paths[i], .st = &st[i]};
        out[i].out = work_file(p, kks_program_name(per[i]->program), k, paths[i],
                               sizeof paths[i]);
        if (!out[i].out) {
            if (i == 1)
                fclose(out[0].out);
            return stop(p, EXIT_INTERNAL, k, "writing a manifest");
        }
    }
    /* both programmes from one reading of the chunk's extract */
    ec = ctl_manifest_write(extract, seeds, pol, out, 2);
    for (int i = 0; i < 2; i++)
        if (fclose(out[i].out) != 0 && (ec == EXIT_OK || ec == EXIT_DECLINED)) {
            ctl_say("kksctl period run: %s: %s\n", paths[i], strerror(errno));
            ec = EXIT_INTERNAL;
        }
    if (ec != EXIT_OK && ec != EXIT_DECLINED)
        return stop(p, ec, k, "computing the manifests");
    for (int i = 0; i < 2; i++) {
        struct ctl_manifest_stats *m = &p->mf[i];
        m->rows += st[i].rows;
        m->families += st[i].families;
        m->manifest += st[i].manifest;
        m->capped += st[i].capped;
        m->nskipped += st[i].nskipped;
        m->total += st[i].total;
    }
    /* the same rows are skipped for both programmes: once */
    for (uint64_t r = 0; r < st[0].nskipped && r < CTL_MANIFEST_SHOWN; r++)
        keep_rej(p, PH_MANIFESTS, k, (uint32_t)st[0].shown[r].line, st[0].shown[r].reason);
    if (st[0].nskipped > CTL_MANIFEST_SHOWN)
        p->rejected += st[0].nskipped - CTL_MANIFEST_SHOWN;
    p->ph[PH_MANIFESTS].rows += st[0].rows;
    p->ph[PH_MANIFESTS].seconds += now_s() - t0;
    return EXIT_OK;
}

static int credit_chunk(period *p, ctl *c, unsigned k, char paths[2][600])
{
    struct credit_run_opts ro = {.quiet = 1, .metrics = p->metrics};
    for (int i = 0; i < 2; i++) {
        struct credit_run_stats st = {0};
        double t0 = now_s();
        int ec = ctl_credit_run(c, paths[i], &ro, &st);
        phase *ph = &p->ph[PH_PKH + i];
        ph->seconds += now_s() - t0;
        ph->rows += st.acked;
        for (size_t r = 0; r < st.nrej; r++)
            keep_rej(p, PH_PKH + i, k, st.rejs[r].line, st.rejs[r].reason);
        p->cr_rejected[i] += st.nrej;
        if (credit_merge(&p->cr[i], &st) < 0 && ec == EXIT_OK)
            ec = EXIT_INTERNAL;
        ctl_credit_run_free(&st);
        if (ec != EXIT_OK && ec != EXIT_DECLINED)
            return stop(p, ec, k, i == 0 ? "crediting PKH" : "crediting BPNT");
    }
    return EXIT_OK;
}

/* The work directory: --keep DIR (made if missing), else a new one. 0, or -1
 * after saying why. */
static int work_dir(period *p)
{
    const char *tmp = getenv("TMPDIR");
    if (p->keep) {
        if (mkdir(p->keep, 0700) < 0 && errno != EEXIST) {
            ctl_say("kksctl period run: --keep %s: %s\n", p->keep, strerror(errno));
            return -1;
        }
        snprintf(p->dir, sizeof p->dir, "%s", p->keep);
        return 0;
    }
    snprintf(p->dir, sizeof p->dir, "%s/kks-period-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(p->dir)) {
        ctl_say("kksctl period run: cannot make a work directory %s: %s\n", p->dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

static void unlink_chunk(const period *p, const char *extract, char paths[2][600])
{
    if (p->keep)
        return;
    unlink(extract);
    unlink(paths[0]);
    unlink(paths[1]);
}

static void progress(const period *p, const ctl_gen *g, unsigned k, uint64_t first, uint64_t n)
{
    unsigned from = ctl_gen_province(g, first), to = ctl_gen_province(g, first + n - 1);
    char prov[16];
    snprintf(prov, sizeof prov, from == to ? "%02u" : "%02u..%02u", from, to);
    fprintf(stderr,
            "period run: chunk %u/%u, %" PRIu64 " families of province %s done: "
            "generate %.1f s, enrol %.1f s, accounts %.1f s, manifests %.1f s, credit pkh %.1f s, "
            "bpnt %.1f s (so far); kksctl peak RSS %.1f MiB\n",
            k, p->nchunks, n, prov, p->ph[PH_GEN].seconds, p->ph[PH_ENROL].seconds,
            p->ph[PH_ACCOUNTS].seconds, p->ph[PH_MANIFESTS].seconds, p->ph[PH_PKH].seconds,
            p->ph[PH_BPNT].seconds, (double)peak_rss() / 1048576.0);
}

static int run_chunks(period *p, ctl *c, ctl_gen *g, const kks_seeds *seeds,
                      const kks_policy *pol)
{
    char extract[600], paths[2][600] = {"", ""};
    int ec = EXIT_OK;
    double t0 = now_s();
    kks_utc_now(p->started_at);
    /* each kecamatan's rows counted, for the chunks' order: part of generating */
    if ((ec = ctl_gen_place_order(g)) != EXIT_OK)
        return stop(p, ec, 1, "ordering the extract");
    p->ph[PH_GEN].seconds += now_s() - t0;
    for (unsigned k = 1; k <= p->nchunks && ec == EXIT_OK; k++) {
        uint64_t first = (uint64_t)(k - 1) * p->chunk;
        uint64_t n = p->families - first < p->chunk ? p->families - first : p->chunk;
        extract[0] = paths[0][0] = paths[1][0] = '\0';
        if ((ec = gen_chunk(p, g, k, first, n, extract, sizeof extract)) == EXIT_OK &&
            (ec = enrol_chunk(p, c, k, extract)) == EXIT_OK &&
            (ec = manifest_chunk(p, k, extract, seeds, pol, paths)) == EXIT_OK &&
            (ec = credit_chunk(p, c, k, paths)) == EXIT_OK) {
            p->chunks_done = k;
            progress(p, g, k, first, n);
        }
        unlink_chunk(p, extract, paths);
    }
    p->seconds = now_s() - t0;
    return ec;
}

/* ---- the summary ---- */

static json_t *phase_json(const period *p, int i)
{
    const phase *ph = &p->ph[i];
    return json_pack("{s:s,s:I,s:f,s:f}", "phase", phase_names[i], "rows", (json_int_t)ph->rows,
                     "seconds", ph->seconds, "rows_per_s", rate(ph->rows, ph->seconds));
}

static json_t *credit_json(const period *p, int i)
{
    const struct credit_run_stats *st = &p->cr[i];
    const struct ctl_manifest_stats *m = &p->mf[i];
    json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "period",
                          (i == 0 ? p->pkh : p->bpnt).label, "manifest_rows",
                          (json_int_t)m->manifest, "manifest_rupiah", (json_int_t)m->total,
                          "rows", (json_int_t)st->rows, "credited", (json_int_t)st->credited,
                          "already_credited", (json_int_t)st->already, "rejected",
                          (json_int_t)p->cr_rejected[i], "rupiah", (json_int_t)st->rupiah);
    kks_json_set(&j, "credits_per_s", json_real(rate(st->credited, st->seconds)));
    kks_json_set(&j, "batch_ms",
                 json_pack("{s:f,s:f,s:f,s:f}", "p50", ctl_credit_run_ms(st, .5), "p90",
                           ctl_credit_run_ms(st, .9), "p99", ctl_credit_run_ms(st, .99), "max",
                           ctl_credit_run_ms(st, 1)));
    if (i == 0)
        kks_json_set(&j, "capped", json_integer((json_int_t)m->capped));
    return j;
}

static json_t *period_json(const period *p)
{
    json_t *phases = json_array(), *rejs = json_array();
    for (int i = 0; phases && i < PH__N; i++)
        kks_json_append(&phases, phase_json(p, i));
    for (size_t i = 0; rejs && i < p->nrej; i++)
        kks_json_append(&rejs, json_pack("{s:s,s:I,s:I,s:o}", "phase",
                                         phase_names[p->rejs[i].phase], "chunk",
                                         (json_int_t)p->rejs[i].chunk, "line",
                                         (json_int_t)p->rejs[i].line, "reason",
                                         kks_json_str(p->rejs[i].reason)));
    json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:s}", "families", (json_int_t)p->families,
                          "seed", (json_int_t)p->seed, "chunk", (json_int_t)p->chunk, "chunks",
                          (json_int_t)p->nchunks, "chunks_done", (json_int_t)p->chunks_done,
                          "started_at", p->started_at);
    kks_json_set(&j, "complete", json_boolean(p->complete));
    if (!p->complete) { /* as the error object of a failed command says it */
        kks_json_set(&j, "error", kks_json_str(p->error));
        kks_json_set(&j, "exit", json_integer(p->exit));
    }
    kks_json_set(&j, "seconds", json_real(p->seconds));
    kks_json_set(&j, "phases", phases);
    kks_json_set(&j, "enrol",
                 json_pack("{s:I,s:I}", "enrolled", (json_int_t)p->enrolled, "unchanged",
                           (json_int_t)p->unchanged));
    kks_json_set(&j, "accounts",
                 json_pack("{s:I,s:I,s:I}", "opened", (json_int_t)p->opened, "updated",
                           (json_int_t)p->updated, "unchanged", (json_int_t)p->acct_unchanged));
    kks_json_set(&j, "pkh", credit_json(p, 0));
    kks_json_set(&j, "bpnt", credit_json(p, 1));
    kks_json_set(&j, "kksctl_peak_rss_bytes", json_integer((json_int_t)peak_rss()));
    const struct credit_run_stats *s0 = &p->cr[0], *s1 = &p->cr[1];
    double rss = s0->rss_max > s1->rss_max ? s0->rss_max : s1->rss_max;
    double wal = s0->wal_max > s1->wal_max ? s0->wal_max : s1->wal_max;
    kks_json_set(&j, "switch_memory",
                 s0->nsamples + s1->nsamples
                     ? json_pack("{s:b,s:I,s:I}", "sampled", 1, "rss_max_bytes", (json_int_t)rss,
                                 "wal_max_bytes", (json_int_t)wal)
                     : json_pack("{s:b,s:o}", "sampled", 0, "why",
                                 kks_json_str(s0->metrics_why[0] ? s0->metrics_why
                                                                 : "no credit run")));
    kks_json_set(&j, "rejected_count", json_integer((json_int_t)p->rejected));
    kks_json_set(&j, "rejected", rejs);
    return j;
}

static void print_summary(FILE *f, const period *p)
{
    char money[2][48];
    fprintf(f, "period run: %" PRIu64 " families (seed %" PRIu64 "), pkh %s, bpnt %s, %u chunks "
               "of %" PRIu64 ": %.1f s%s\n",
            p->families, p->seed, p->pkh.label, p->bpnt.label, p->nchunks, p->chunk, p->seconds,
            p->complete ? "" : " (STOPPED)");
    if (!p->complete)
        fprintf(f, "  %s; %u chunks done\n", p->error, p->chunks_done);
    fprintf(f, "  %-12s %12s %10s %12s\n", "phase", "rows", "seconds", "rows/s");
    for (int i = 0; i < PH__N; i++)
        fprintf(f, "  %-12s %12" PRIu64 " %10.2f %12.0f\n", phase_names[i], p->ph[i].rows,
                p->ph[i].seconds, rate(p->ph[i].rows, p->ph[i].seconds));
    fprintf(f, "  enrolled %" PRIu64 ", unchanged %" PRIu64 "; accounts opened %" PRIu64
               ", programmes updated %" PRIu64 ", unchanged %" PRIu64 "\n",
            p->enrolled, p->unchanged, p->opened, p->updated, p->acct_unchanged);
    for (int i = 0; i < 2; i++) {
        const struct credit_run_stats *st = &p->cr[i];
        kks_rupiah(p->mf[i].total, '.', money[0], sizeof money[0]);
        kks_rupiah(st->rupiah, '.', money[1], sizeof money[1]);
        fprintf(f, "  %s %s: manifest %" PRIu64 " families, %s; credited %" PRIu64
                   ", already credited %" PRIu64 ", rejected %" PRIu64 ", %s credited; "
                   "%.0f credits/s, batch round trip p50 %.1f ms, p99 %.1f ms\n",
                i == 0 ? "pkh" : "bpnt", (i == 0 ? p->pkh : p->bpnt).label, p->mf[i].manifest,
                money[0], st->credited, st->already, p->cr_rejected[i], money[1],
                rate(st->credited, st->seconds), ctl_credit_run_ms(st, .5),
                ctl_credit_run_ms(st, .99));
    }
    fprintf(f, "  kksctl peak RSS %.1f MiB", (double)peak_rss() / 1048576.0);
    if (p->cr[0].nsamples + p->cr[1].nsamples)
        fprintf(f, "; switch RSS up to %.1f MiB, WAL up to %.1f MiB\n",
                (p->cr[0].rss_max > p->cr[1].rss_max ? p->cr[0].rss_max : p->cr[1].rss_max) /
                    1048576.0,
                (p->cr[0].wal_max > p->cr[1].wal_max ? p->cr[0].wal_max : p->cr[1].wal_max) /
                    1048576.0);
    else
        fprintf(f, "; switch memory not sampled: %s\n",
                p->cr[0].metrics_why[0] ? p->cr[0].metrics_why : "no credit run");
    fprintf(f, "  rejected %" PRIu64 "\n", p->rejected);
    for (size_t i = 0; i < p->nrej; i++)
        fprintf(f, "  %s, chunk %u line %u: %s\n", phase_names[p->rejs[i].phase], p->rejs[i].chunk,
                p->rejs[i].line, p->rejs[i].reason);
    if (p->rejected > p->nrej)
        fprintf(f, "  ... and %" PRIu64 " more\n", p->rejected - p->nrej);
}

/* ---- the report ---- */

typedef struct report_ctx {
    const period *p;
    const ctl *c;
    int failed;
} report_ctx;

static void report_body(FILE *f, const void *ud)
{
    const report_ctx *rc = ud;
    const period *p = rc->p;
    char title[200], b[16][400];
    kr_kv kv[16];
    kr_bar bars[PH__N];
    size_t n = 0;
#define ROW(key, ...) (snprintf(b[n], sizeof b[n], __VA_ARGS__), kv[n] = (kr_kv){key, b[n]}, n++)
    snprintf(title, sizeof title, "kksctl period run, %" PRIu64 " families, pkh %s, bpnt %s, %s",
             p->families, p->pkh.label, p->bpnt.label, p->started_at);
    kr_page_open(f, title);
    kr_h2(f, "Settings");
    ROW("families", "%" PRIu64 " (seed %" PRIu64 "), every province", p->families, p->seed);
    ROW("period", "pkh %s, bpnt %s", p->pkh.label, p->bpnt.label);
    ROW("chunks", "%u of %" PRIu64 " families", p->nchunks, p->chunk);
    ROW("issuer", "%s", rc->c->issuer ? rc->c->issuer : "-");
    ROW("switch", "%s", rc->c->sw ? rc->c->sw : "-");
    ROW("switch metrics", "%s", p->metrics ? p->metrics : "not given");
    kr_kv_table(f, kv, n);
    n = 0;
    kr_h2(f, "Phases");
    for (int i = 0; i < PH__N; i++)
        ROW(phase_names[i], "%" PRIu64 " rows in %.2f s: %.0f rows/s", p->ph[i].rows,
            p->ph[i].seconds, rate(p->ph[i].rows, p->ph[i].seconds));
    ROW("in all", "%.2f s; %s", p->seconds,
        p->complete ? "complete" : p->error);
    ROW("kksctl peak RSS", "%.1f MiB", (double)peak_rss() / 1048576.0);
    kr_kv_table(f, kv, n);
    for (int i = 0; i < PH__N; i++)
        bars[i] = (kr_bar){phase_names[i], KR_BLUE, (uint64_t)(p->ph[i].seconds * 1000 + 0.5)};
    static const char *const names[] = {"time"};
    static const char *const colors[] = {KR_BLUE};
    kr_bars(f, "Time per phase, ms", "ms", bars, PH__N, names, colors, 1);
    n = 0;
    kr_h2(f, "Outcome");
    ROW("enrolment", "enrolled %" PRIu64 ", unchanged %" PRIu64, p->enrolled, p->unchanged);
    ROW("accounts", "opened %" PRIu64 ", programmes updated %" PRIu64 ", unchanged %" PRIu64,
        p->opened, p->updated, p->acct_unchanged);
    for (int i = 0; i < 2; i++) {
        char m[2][48];
        kks_rupiah(p->mf[i].total, '.', m[0], sizeof m[0]);
        kks_rupiah(p->cr[i].rupiah, '.', m[1], sizeof m[1]);
        ROW(i == 0 ? "pkh" : "bpnt",
            "%s: manifest %" PRIu64 " families, %s; credited %" PRIu64 ", already credited %" PRIu64
            ", rejected %" PRIu64 ", %s credited; %.0f credits/s",
            (i == 0 ? p->pkh : p->bpnt).label, p->mf[i].manifest, m[0], p->cr[i].credited,
            p->cr[i].already, p->cr_rejected[i], m[1], rate(p->cr[i].credited, p->cr[i].seconds));
    }
    ROW("rejected", "%" PRIu64 " rows in all", p->rejected);
    kr_kv_table(f, kv, n);
#undef ROW
    for (int i = 0; i < 2; i++) {
        snprintf(title, sizeof title, "%s %s: ", i == 0 ? "PKH" : "BPNT",
                 (i == 0 ? p->pkh : p->bpnt).label);
        if (p->cr[i].program[0] && ctl_credit_run_charts(f, &p->cr[i], title) < 0)
            ((report_ctx *)rc)->failed = 1;
    }
    kr_page_close(f, "Written by kksctl period run " KKS_VERSION ". Times are summed over the "
                     "chunks; a credit chart's time runs over the chunks' credit runs end to end.");
}

/* ---- the command ---- */

/* The PKH stage (or payment) of the year's schedule that holds month m. */
static void pkh_label(const kks_policy *pol, int year, int m, char out[KKS_PERIOD_LABEL_MAX])
{
    if (kks_policy_pkh_stages(pol, year) == 6)
        snprintf(out, KKS_PERIOD_LABEL_MAX, "%04d-B%d", year, (m - 1) / 2 + 1);
    else
        snprintf(out, KKS_PERIOD_LABEL_MAX, "%04d-T%d", year, (m - 1) / 3 + 1);
}

/* --month (or this month in WIB) as the two periods. 0, or -1 after saying why. */
static int periods(period *p, const kks_policy *pol, const char *month)
{
    char now[8], label[KKS_PERIOD_LABEL_MAX], why[200];
    kks_period m;
    if (!month) {
        time_t t = time(NULL) + 7 * 3600;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m", &tm);
        month = now;
    }
    if (strlen(month) != 7 || kks_period_parse("bpnt", month, &m) < 0) {
        ctl_say("kksctl period run: --month %s: want YYYY-MM\n", month);
        return -1;
    }
    p->bpnt = m;
    pkh_label(pol, m.year, m.first_month, label);
    if (kks_period_parse("pkh", label, &p->pkh) < 0) /* cannot happen: the label is made here */
        return -1;
    if (kks_policy_period_check(pol, &p->bpnt, why, sizeof why) < 0 ||
        kks_policy_period_check(pol, &p->pkh, why, sizeof why) < 0) {
        ctl_say("kksctl period run: --month %s: %s\n", month, why);
        return -1;
    }
    return 0;
}

static int period_run(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"families", required_argument, 0, 'n'}, {"seed", required_argument, 0, 'S'},
        {"month", required_argument, 0, 'm'},    {"chunk", required_argument, 0, 'k'},
        {"report", required_argument, 0, 'r'},   {"metrics", required_argument, 0, 'M'},
        {"keep", required_argument, 0, 'K'},     {"seeds", required_argument, 0, 'd'},
        {"issuer", required_argument, 0, 'i'},   {"switch", required_argument, 0, 's'},
        {"pki", required_argument, 0, 'p'},      {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},           {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static kks_seeds seeds; /* large: not on the stack */
    static kks_policy pol;
    static period p;
    const char *families = NULL, *seed = "1", *chunk = NULL, *month = NULL;
    struct ctl_gen_opts go;
    ctl_gen *g = NULL;
    char err[512];
    int o, ec;

    memset(&p, 0, sizeof p);
    p.seeds_dir = kks_seeds_default(NULL);
    p.metrics = getenv("KKS_SWITCH_METRICS");
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'n': families = optarg; break;
        case 'S': seed = optarg; break;
        case 'm': month = optarg; break;
        case 'k': chunk = optarg; break;
        case 'r': p.report = optarg; break;
        case 'M': p.metrics = optarg; break;
        case 'K': p.keep = optarg; break;
        case 'd': p.seeds_dir = optarg; break;
        case 'i': c->issuer = optarg; break;
        case 's': c->sw = optarg; break;
        case 'p': c->pki = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': fputs(period_usage, stdout); return EXIT_OK;
        default: ctl_say("%s", period_usage); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        ctl_say("kksctl period run: unexpected argument %s\n%s", argv[optind],
                period_usage);
        return EXIT_USAGE;
    }
    if (!families || ctl_parse_u64(families, 1, GEN_MAX_FAMILIES, &p.families) < 0) {
        ctl_say("kksctl period run: --families N: want a whole number 1..%lld\n%s",
                GEN_MAX_FAMILIES, period_usage);
        return EXIT_USAGE;
    }
    if (ctl_parse_u64(seed, 0, UINT64_MAX, &p.seed) < 0) {
        ctl_say("kksctl period run: --seed %s: want a whole number 0..%llu\n", seed,
                (unsigned long long)UINT64_MAX);
        return EXIT_USAGE;
    }
    p.chunk = PERIOD_CHUNK;
    if (chunk && ctl_parse_u64(chunk, PERIOD_CHUNK_MIN, PERIOD_CHUNK_MAX, &p.chunk) < 0) {
        ctl_say("kksctl period run: --chunk %s: want a whole number %d..%d\n", chunk,
                PERIOD_CHUNK_MIN, PERIOD_CHUNK_MAX);
        return EXIT_USAGE;
    }
    if (ctl_credit_run_metrics(&p.metrics) != EXIT_OK)
        return EXIT_USAGE;
    if (!c->issuer || !c->sw) {
        ctl_say("kksctl period run: needs the issuer and the switch (--issuer, --switch "
                "or KKS_ISSUER, KKS_SWITCH)\n");
        return EXIT_USAGE;
    }
    if (kks_seeds_load(&seeds, p.seeds_dir, err, sizeof err) < 0 ||
        kks_policy_load(&pol, p.seeds_dir, err, sizeof err) < 0) {
        ctl_say("kksctl period run: seeds: %s\n", err);
        return EXIT_USAGE;
    }
    if (periods(&p, &pol, month) < 0)
        return EXIT_USAGE;
    go = (struct ctl_gen_opts){.families = p.families, .seed = p.seed, .seeds = p.seeds_dir};
    if ((ec = ctl_gen_new(&go, &g)) != EXIT_OK)
        return ec;
    if (!ctl_peer(c, KKS_ROLE_ISSUER, &ec) || !ctl_peer(c, KKS_ROLE_SWITCH, &ec)) {
        ctl_gen_free(g);
        return ec;
    }
    if (work_dir(&p) < 0) {
        ctl_gen_free(g);
        return EXIT_INTERNAL;
    }
    p.nchunks = (unsigned)((p.families + p.chunk - 1) / p.chunk);
    p.complete = 1;
    fprintf(stderr, "period run: %" PRIu64 " families (seed %" PRIu64 "), pkh %s, bpnt %s, in %u "
                    "chunks of %" PRIu64 "; work directory %s%s\n",
            p.families, p.seed, p.pkh.label, p.bpnt.label, p.nchunks, p.chunk, p.dir,
            p.keep ? " (kept)" : " (removed at the end)");
    ec = run_chunks(&p, c, g, &seeds, &pol);
    ctl_gen_free(g);
    if (!p.keep && rmdir(p.dir) < 0)
        ctl_say("kksctl period run: %s: %s\n", p.dir, strerror(errno));
    if (ec == EXIT_OK && p.rejected)
        ec = EXIT_DECLINED;
    if (p.report) {
        report_ctx rc = {&p, c, 0};
        if (kr_write(p.report, report_body, &rc, err, sizeof err) < 0 || rc.failed) {
            ctl_say("kksctl period run: the report %s: %s\n", p.report,
                    rc.failed ? "out of memory" : err);
            if (ec == EXIT_OK || ec == EXIT_DECLINED)
                ec = EXIT_INTERNAL;
        }
    }
    if (c->json) {
        int jec = ctl_json_print(period_json(&p));
        if (jec != EXIT_OK)
            ec = jec;
    } else {
        print_summary(stdout, &p);
    }
    for (size_t i = 0; i < p.nrej; i++)
        free(p.rejs[i].reason);
    ctl_credit_run_free(&p.cr[0]);
    ctl_credit_run_free(&p.cr[1]);
    return ec;
}

int cmd_period(ctl *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return period_run(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0)
        return kks_version_print(stdout, "kksctl");
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(period_usage, stdout);
        return EXIT_OK;
    }
    ctl_say("%s", period_usage);
    return EXIT_USAGE;
}
