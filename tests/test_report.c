/* The HTML reports. ewarong/load/report: one self-contained file with four
 * charts, every setting escaped, an empty run drawn as "no data", a long run
 * kept small, and a failed write that leaves nothing behind. ctl/credit_report:
 * the credit run's five charts, its figures, its time buckets, a run that sent
 * nothing, one that stopped, one whose switch was not sampled. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credit_run.h"
#include "report.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/kks-report-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

TestSuite(report, .init = make_dir, .fini = remove_dir);

/* The names in dir, one a line, sorted by readdir's order. */
static int entries(void)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap)
            cr_assert_not_null(buf = realloc(buf, cap = 2 * cap + 8192));
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Every string of a NULL-ended list is in html (want 1) or none is (want 0). */
#define HAS(html, ...) has(html, 1, (const char *const[]){__VA_ARGS__, NULL})
#define HAS_NOT(html, ...) has(html, 0, (const char *const[]){__VA_ARGS__, NULL})
static void has(const char *html, int want, const char *const *s)
{
    for (; *s; s++)
        cr_assert_eq(strstr(html, *s) != NULL, want, "\"%s\" %s the report", *s,
                     want ? "not in" : "in");
}

/* No request for anything outside the file, and no number printed from a NAN or a
 * division by zero. */
static void self_contained(const char *html, int charts)
{
    cr_assert_eq(count(html, "<svg"), charts, "%d charts", charts);
    cr_assert_eq(count(html, "</svg>"), charts);
    cr_assert_geq(count(html, "<title>"), charts + 1, "the page's and one a chart");
    HAS_NOT(html, "http://", "https://", "src=", "<script", "<SCRIPT", "href=", "@import", "url(",
            "nan", "inf");
}

static kl_second secs[3600];
static kr_hist all;
static uint64_t codes[100];

/* n seconds of a steady run with a slow patch at a third and an outage at two thirds. */
static kl_report synthetic(size_t n)
{
    memset(secs, 0, sizeof secs);
    memset(codes, 0, sizeof codes);
    kr_hist_init(&all);
    uint64_t errors = 0;
    for (size_t i = 0; i < n; i++) {
        kl_second *s = &secs[i];
        int slow = i >= n / 3 && i < n / 3 + 3, down = n >= 3 && i == 2 * n / 3;
        s->answered = down ? 0 : 200 + i % 7;
        s->approved = s->answered * 9 / 10;
        s->errors = down ? 200 : 0;
        s->behind = slow ? 40 : 0;
        s->p50 = (slow ? 30 : 3) * 1000000ull + i * 1000;
        s->p90 = s->p50 * 2, s->p99 = s->p50 * 4, s->p999 = s->p50 * 7, s->max = s->p50 * 9;
        s->codes[0] = (uint32_t)s->approved;
        s->codes[51] = (uint32_t)(s->answered - s->approved);
        codes[0] += s->codes[0];
        codes[51] += s->codes[51];
        errors += s->errors;
        for (uint64_t k = 0; k < s->answered; k++)
            kr_hist_add(&all, s->p50 / 2 + k * s->p50 / 64);
    }
    static const kr_kv settings[] = {{"terminals", "50"}, {"model", "open, --rate 200/s"}};
    static const kr_kv summary[] = {{"approved/s", "182.1"}, {"fell behind", "yes"}};
    return (kl_report){"kks-terminal load, 2026-12-02 05:10 UTC",
                       settings,
                       2,
                       summary,
                       2,
                       secs,
                       n,
                       &all,
                       codes,
                       errors};
}

static char *written(const kl_report *r, size_t *len)
{
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/report.html", dir);
    cr_assert_eq(kl_report_html(r, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(entries(), 1, "one file, no temporary left");
    return slurp(path, len);
}

Test(report, one_file_four_charts_nothing_fetched)
{
    kl_report r = synthetic(120);
    char *html = written(&r, NULL);
    self_contained(html, 4);
    cr_assert_eq(count(html, "no data"), 0);
    /* throughput: answered, approved, errors, late; latency: four; spectrum: one */
    cr_assert_eq(count(html, "<polyline"), 9);
    HAS(html, "00 approved", "51 insufficient funds", "transport errors (no reply)", "99.999%",
        "<title>kks-terminal load, 2026-12-02 05:10 UTC</title>", "time (s)", "requests/s",
        "latency (ms)");
    free(html);
}

Test(report, hostile_strings_are_escaped)
{
    kl_report r = synthetic(5);
    const kr_kv settings[] = {{"<script>alert(1)</script>", "a & b \"q\" 'x' <img onerror=x>"},
                              {"switch", "127.0.0.1:7000\x01\n"}};
    const kr_kv summary[] = {{"verdict", "</td></tr></table><h1>"}};
    r.title = "<b>load</b> & \"run\"";
    r.settings = settings, r.nsettings = 2;
    r.summary = summary, r.nsummary = 1;
    char *html = written(&r, NULL);
    self_contained(html, 4);
    HAS(html, "&lt;script&gt;alert(1)&lt;/script&gt;",
        "a &amp; b &quot;q&quot; &#39;x&#39; &lt;img onerror=x&gt;",
        "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;h1&gt;",
        "<h1>&lt;b&gt;load&lt;/b&gt; &amp; &quot;run&quot;</h1>", "127.0.0.1:7000  </td>");
    HAS_NOT(html, "<img", "\"q\"", "\x01", "<b>");
    free(html);
}

Test(report, empty_run_says_no_data)
{
    kr_hist empty;
    kr_hist_init(&empty);
    uint64_t none[100] = {0};
    kl_report cases[] = {
        {.title = "empty"},                                             /* every pointer NULL */
        {.title = "empty", .all = &empty, .codes = none, .secs = secs}, /* zeros, 0 seconds */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *html = written(&cases[i], NULL);
        self_contained(html, 4);
        cr_assert_eq(count(html, "no data"), 4, "case %zu", i);
        cr_assert_eq(count(html, "<polyline"), 0);
        free(html);
    }
}

Test(report, seconds_without_answers)
{
    /* the switch was down the whole time: errors only, no latency at all */
    memset(secs, 0, sizeof secs);
    for (size_t i = 0; i < 10; i++)
        secs[i].errors = 50;
    kr_hist empty;
    kr_hist_init(&empty);
    uint64_t none[100] = {0};
    kl_report r = {
        .title = "down", .secs = secs, .nsecs = 10, .all = &empty, .codes = none, .errors = 500};
    char *html = written(&r, NULL);
    self_contained(html, 4);
    cr_assert_eq(count(html, "no data"), 2, "latency over time and distribution");
    HAS(html, "transport errors/s", "500 (100.0%)");
    free(html);
}

Test(report, one_second_is_a_line)
{
    kl_report r = synthetic(1);
    char *html = written(&r, NULL);
    self_contained(html, 4);
    cr_assert_eq(count(html, "no data"), 0);
    free(html);
}

Test(report, an_hour_stays_small)
{
    kl_report r = synthetic(3600);
    size_t len;
    char *html = written(&r, &len);
    self_contained(html, 4);
    cr_assert_lt(len, 400 * 1024, "%zu bytes", len);
    /* at most two points a pixel column in every series */
    for (const char *p = html; (p = strstr(p, "points=\"")); p++) {
        const char *end = strchr(p + 8, '"');
        int pts = 0;
        for (const char *c = p + 8; c < end; c++)
            pts += *c == ',';
        cr_assert_leq(pts, 2 * 800 + 2);
    }
    free(html);
}

Test(report, failed_write_leaves_nothing)
{
    kl_report r = synthetic(10);
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/no-such-dir/report.html", dir);
    cr_assert_eq(kl_report_html(&r, path, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "no-such-dir"), "%s", err);
    cr_assert_not_null(strstr(err, "No such file or directory"), "%s", err);
    cr_assert_eq(entries(), 0);
    cr_assert_eq(kl_report_html(&r, dir, err, sizeof err), -1, "a directory as the path");
    cr_assert_eq(kl_report_html(&r, "", err, sizeof err), -1);
    cr_assert_eq(kl_report_html(&r, path, NULL, 0), -1, "err may be NULL");
    cr_assert_eq(entries(), 0);
}

Test(report, replaces_an_older_report)
{
    char path[128];
    snprintf(path, sizeof path, "%s/report.html", dir);
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    kl_report r = synthetic(3);
    char *html = written(&r, NULL);
    cr_assert_eq(strncmp(html, "<!DOCTYPE html>", 15), 0);
    free(html);
}

/* ---- kksctl credit-run's report ---- */

static struct credit_run_batch cbatches[400];
static struct credit_run_sample csamples[200];

/* A run of n batches of 1,000 rows over 10 s, sampled every 0.1 s when asked. */
static struct credit_run_stats credit_run(size_t n, int sampled)
{
    struct credit_run_stats st = {.program = "bpnt", .period = "2026-11",
                                  .started_at = "2026-12-02T07:00:00Z",
                                  .manifest = "<script>x</script>&.csv", .complete = 1,
                                  .batch_rows = 1000, .in_flight = 8};
    kr_hist_init(&st.rtt);
    for (size_t i = 0; i < n; i++) {
        uint64_t rtt = (20 + i % 13) * 1000000ull;
        cbatches[i] = (struct credit_run_batch){(i + 1) * 10000000000ull / n, rtt, 1000, 990};
        kr_hist_add(&st.rtt, rtt);
        st.credited += 990;
        st.acked += 1000;
    }
    st.batches = cbatches;
    st.nbatches = n;
    st.seconds = n ? 10 : 0;
    st.by_kind[KKS_REJECT_ALREADY_PAID] = 12;
    st.by_kind[KKS_REJECT_NO_ACCOUNT] = 3;
    st.nrej = 15;
    st.rows = st.acked + st.nrej; /* the refused rows were not sent */
    if (sampled) {
        for (size_t i = 0; i < 100; i++)
            csamples[i] = (struct credit_run_sample){0.1 * (double)i, 50e6 + 1e6 * (double)i,
                                                     i % 10 ? 4e6 : NAN};
        st.samples = csamples;
        st.nsamples = 100;
        st.rss_max = 149e6;
        st.wal_max = 4e6;
        st.metrics = "127.0.0.1:9101";
    } else {
        snprintf(st.metrics_why, sizeof st.metrics_why, "no metrics address given");
    }
    return st;
}

static char *credit_written(const struct credit_run_stats *st)
{
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/credit.html", dir);
    cr_assert_eq(ctl_credit_run_report(st, path, "127.0.0.1:7001", err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(entries(), 1, "one file, no temporary left");
    return slurp(path, NULL);
}

/* The points of the n-th polyline (from 0). */
static int points_of(const char *html, int nth)
{
    const char *p = html;
    for (int i = 0; i <= nth; i++)
        cr_assert_not_null(p = strstr(p + 1, "<polyline"), "polyline %d", nth);
    p = strstr(p, "points=\"") + 8;
    int pts = 0;
    for (const char *e = strchr(p, '"'); p < e; p++)
        pts += *p == ',';
    return pts;
}

Test(report, credit_run_charts_and_figures)
{
    struct credit_run_stats st = credit_run(200, 1);
    char *html = credit_written(&st);
    self_contained(html, 5);
    cr_assert_eq(count(html, "no data"), 0);
    /* credited/s and rows/s; p50 p90 p99 max; the spectrum; RSS and WAL */
    cr_assert_eq(count(html, "<polyline"), 9);
    /* 200 batches, 8 in flight: 50 buckets of 0.2 s, a point each */
    cr_assert_eq(points_of(html, 0), 50);
    HAS(html, "in buckets of 0.2 s", "already paid", "12 (80.0%)", "no account", "3 (20.0%)",
        "<th>credited</th><td>198000</td>", "<th>credits/s</th><td>19800</td>",
        "p50 26.", "RSS up to 142.1 MiB, WAL up to 3.8 MiB (100 samples)",
        "&lt;script&gt;x&lt;/script&gt;&amp;.csv", "complete: every row answered");
    HAS_NOT(html, "<script>", "not sampled");
    /* a WAL sample missing from a scrape is no point, not a zero */
    cr_assert_eq(points_of(html, 8), 90);
    free(html);
}

Test(report, credit_run_that_sent_nothing)
{
    struct credit_run_stats st = credit_run(0, 0); /* every row refused by kksctl */
    char *html = credit_written(&st);
    self_contained(html, 4); /* the rejections, and three charts with no data */
    cr_assert_eq(count(html, "no data"), 3);
    cr_assert_eq(count(html, "<polyline"), 0);
    HAS(html, "The switch&#39;s memory was not sampled: no metrics address given.",
        "<th>rows</th><td>15</td>");
    free(html);
}

Test(report, credit_run_that_stopped)
{
    struct credit_run_stats st = credit_run(7, 1);
    st.complete = 0;
    snprintf(st.error, sizeof st.error, "connection closed");
    char *html = credit_written(&st);
    self_contained(html, 5);
    HAS(html, "STOPPED after 7000 of 7000 rows were answered: connection closed");
    free(html);
}
