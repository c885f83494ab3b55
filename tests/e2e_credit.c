/* End to end: credit runs through kksctl -> mTLS -> switch, exactly once,
 * including after the switch is killed half way. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e_util.h"

TestSuite(credit, .init = e2e_setup, .fini = e2e_teardown, .timeout = 240);

/* kksctl --pki P --switch A --json, the first words of every command here:
 * how many. */
static int ctl_head(char **argv)
{
    int n = 0;
    argv[n++] = (char *)e2e_bin("kksctl");
    argv[n++] = "--pki";
    argv[n++] = E.pki;
    argv[n++] = "--switch";
    argv[n++] = E.switch_addr;
    argv[n++] = "--json";
    return n;
}

static int ctl(char **out, const char *a1, const char *a2, const char *a3)
{
    char *argv[12];
    int n = ctl_head(argv);
    const char *a[] = {a1, a2, a3};
    for (int i = 0; i < 3 && a[i]; i++)
        argv[n++] = (char *)a[i];
    argv[n] = NULL;
    return e2e_run(out, argv);
}

static long long num(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = s ? strstr(s, k) : NULL;
    cr_assert_not_null(p, "no %s in %s", key, s ? s : "(null)");
    return strtoll(p + strlen(k), NULL, 10);
}

/* n families, KKs spread out and not in order, amount each; extra rows appended as given. */
static void manifest(const char *path, const char *program, const char *period, long n,
                     long amount, const char *extra)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "program,period,kk,amount\n");
    for (long i = 0; i < n; i++) {
        uint64_t kk = 1271010000000000ull + (uint64_t)((i * 7919) % n) * 37;
        fprintf(f, "%s,%s,%016" PRIu64 ",%ld\n", program, period, kk, amount);
    }
    if (extra)
        fputs(extra, f);
    fclose(f);
}

/* The accounts of manifest()'s first n families. */
static void open_accounts(long n, unsigned programs)
{
    uint64_t *kks = calloc((size_t)n, sizeof *kks);
    for (long i = 0; i < n; i++)
        kks[i] = 1271010000000000ull + (uint64_t)((i * 7919) % n) * 37;
    e2e_open_accounts(kks, (size_t)n, programs);
    free(kks);
}

static void ledger_ok(void)
{
    char *out = NULL;
    cr_assert_eq(ctl(&out, "ledger", "check", NULL), 0, "ledger check: %s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    free(out);
}

Test(credit, run_rerun_conflicts_and_rejects)
{
    char path[400], *out = NULL;
    e2e_start_issuer();
    e2e_start_switch();
    open_accounts(1000, 3);
    snprintf(path, sizeof path, "%s/bpnt.csv", E.dir);
    /* extra rows: a KK twice, bad KK, amount 0, over the policy maximum, negative */
    manifest(path, "bpnt", "2026-10..12", 1000, 600000,
             "bpnt,2026-10..12,1271010000000000,600000\n"
             "bpnt,2026-10..12,127101000000,600000\n"
             "bpnt,2026-10..12,1271019999999999,0\n"
             "bpnt,2026-10..12,1271019999999998,600001\n"
             "bpnt,2026-10..12,1271019999999997,-5\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert_eq(num(out, "rows"), 1005, "%s", out);
    cr_assert_eq(num(out, "credited"), 1000, "%s", out);
    cr_assert_eq(num(out, "already_credited"), 0, "%s", out);
    cr_assert_eq(num(out, "rupiah"), 1000LL * 600000, "%s", out);
    cr_assert(strstr(out, "{\"line\":1002,\"reason\":\"KK 1271010000000000 appears twice in this "
                          "run (first on line 2)\"}"), "%s", out);
    cr_assert(strstr(out, "{\"line\":1003,\"reason\":\"KK must be 16 digits\"}"), "%s", out);
    cr_assert(strstr(out, "{\"line\":1004,\"reason\":\"amount must be more than Rp0\"}"), "%s",
              out);
    cr_assert(strstr(out, "{\"line\":1005,\"reason\":\"Rp600001 is over the policy maximum"),
              "%s", out);
    cr_assert(strstr(out, "{\"line\":1006,\"reason\":\"amount must be whole rupiah"), "%s", out);
    /* grouped by class: kksctl's own (twice, bad KK, -5) and the switch's (0, over the maximum) */
    cr_assert(strstr(out, "\"rejected_count\":5,\"rejected_by_reason\":{\"bad KK\":1,"
                          "\"bad amount\":2,\"over the policy maximum\":1,"
                          "\"twice in the manifest\":1}"),
              "%s", out);
    free(out);
    ledger_ok();

    /* The same manifest again: nothing moves. */
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert_eq(num(out, "credited"), 0, "%s", out);
    cr_assert_eq(num(out, "already_credited"), 1000, "%s", out);
    cr_assert_eq(num(out, "rupiah"), 0, "%s", out);
    free(out);

    /* A different amount for a family already credited is reported, not applied. */
    manifest(path, "bpnt", "2026-10..12", 3, 400000, NULL);
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert_eq(num(out, "credited"), 0, "%s", out);
    cr_assert(strstr(out, "already credited Rp600000 for bpnt 2026-10..12; the manifest says "
                          "Rp400000: not applied"), "%s", out);
    cr_assert(strstr(out, "\"rejected_by_reason\":{\"credited before with another amount\":3}"),
              "%s", out);
    free(out);

    /* PKH for the same families goes to the other wallet. */
    manifest(path, "pkh", "2026-T4", 10, 750000, NULL);
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 0, "%s", out);
    cr_assert_eq(num(out, "credited"), 10, "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "account", "show", "1271010000000000"), 0, "%s", out);
    cr_assert(strstr(out, "\"balances\":{\"pkh\":750000,\"bpnt\":600000}"), "%s", out);
    cr_assert(strstr(out, "\"kind\":\"credit\",\"ref\":\"pkh 2026-T4\""), "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "account", "show", "9999999999999999"), 1, "%s", out);
    cr_assert(strstr(out, "\"rc\":\"14\""), "%s", out);
    free(out);
    ledger_ok();

    /* Malformed manifests send nothing. */
    FILE *f = fopen(path, "w");
    fprintf(f, "program,period,kk,amount\npkh,2026-T4,1271010000000001,1\n"
               "bpnt,2026-11,1271010000000002,1\n");
    fclose(f);
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 2, "mixed periods: %s", out);
    free(out);
    f = fopen(path, "w");
    fprintf(f, "program,period,kk,amount\npkh,2026-T5,1271010000000001,1\n");
    fclose(f);
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 2, "bad period: %s", out);
    free(out);
    f = fopen(path, "w");
    fprintf(f, "kk,amount\n1271010000000001,1\n");
    fclose(f);
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 2, "bad header: %s", out);
    free(out);
    /* flags out of their range send nothing either (this manifest would exit 1) */
    e2e_write_file(path, "program,period,kk,amount\npkh,2026-T4,9999999999999999,1\n");
    cr_assert_eq(ctl(&out, "credit-run", path, "--metrics=no-port"), 2, "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "credit-run", path, "--batch=16385"), 2, "%s", out);
    free(out);
    cr_assert_eq(ctl(&out, "credit-run", path, "--batch=12x"), 2, "%s", out);
    free(out);
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
}


#define A "1271010000000101" /* PKH and BPNT */
#define B "1271010000000202" /* BPNT only */
#define C "1271010000000303" /* PKH only */

/* Each family is paid at most once per programme and month, whatever labels
 * the manifests use; accounts and programmes are checked; a batch whose
 * rejections would pass the frame cap is answered in full. */
Test(credit, months_once_accounts_and_programmes)
{
    char path[400], *out = NULL;
    e2e_start_issuer();
    e2e_start_switch();
    uint64_t a = 1271010000000101ull, b = 1271010000000202ull, c = 1271010000000303ull;
    e2e_open_accounts(&a, 1, 3);
    e2e_open_accounts(&b, 1, 2);
    e2e_open_accounts(&c, 1, 1);
    snprintf(path, sizeof path, "%s/m.csv", E.dir);

    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-01..03," A ",600000\nbpnt,2026-01..03," B
                     ",600000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 0, "%s", out);
    cr_assert_eq(num(out, "credited"), 2, "%s", out);
    free(out);
    /* February again under another label: rejected, naming the month */
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-02," A ",200000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert_eq(num(out, "credited"), 0, "%s", out);
    cr_assert(strstr(out, "bpnt 2026-02 already paid (under bpnt 2026-01..03): not applied"),
              "%s", out);
    cr_assert(strstr(out, "\"rejected_by_reason\":{\"already paid\":1}"), "%s", out);
    free(out);
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-02..04," A ",600000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert(strstr(out, "bpnt 2026-02..2026-03 already paid (under bpnt 2026-01..03)"), "%s",
              out);
    free(out);
    /* new months, then a batch across the year end, then a month inside it */
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-04," A ",200000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 0, "%s", out);
    free(out);
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-12..2027-02," A ",600000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 0, "%s", out);
    cr_assert_eq(num(out, "credited"), 1, "%s", out);
    free(out);
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2027-01," A ",200000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert(strstr(out, "bpnt 2027-01 already paid (under bpnt 2026-12..2027-02)"), "%s", out);
    free(out);
    /* a gap paid late is fine: 2026-05 lies between paid months */
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-05," A ",200000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 0, "%s", out);
    free(out);

    /* programmes and accounts */
    e2e_write_file(path, "program,period,kk,amount\npkh,2026-T4," B ",375000\npkh,2026-T4," C
                     ",375000\npkh,2026-T4,9999999999999999,375000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert_eq(num(out, "credited"), 1, "%s", out);
    cr_assert(strstr(out, "family " B " is not in PKH"), "%s", out);
    cr_assert(strstr(out, "no account at the switch for KK 9999999999999999"), "%s", out);
    cr_assert(strstr(out, "\"rejected_by_reason\":{\"no account\":1,\"not in the programme\":1}"),
              "%s", out);
    free(out);
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-06," C ",200000\npkh,2026-T1," C
                     ",375000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 2, "mixed periods: %s", out);
    free(out);
    e2e_write_file(path, "program,period,kk,amount\nbpnt,2026-06," C ",200000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert(strstr(out, "family " C " is not in BPNT"), "%s", out);
    free(out);
    /* PKH stage 1 after stage 4: earlier, but free */
    e2e_write_file(path, "program,period,kk,amount\npkh,2026-T1," C ",375000\n");
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 0, "%s", out);
    free(out);

    cr_assert_eq(ctl(&out, "account", "show", A), 0, "%s", out);
    cr_assert(strstr(out, "\"bpnt\":1600000"), "3 + 1 + 1 + 3 months of Rp200.000: %s", out);
    free(out);
    ledger_ok();
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
}

Test(credit, a_reply_too_large_for_one_frame_still_arrives_whole)
{
    char path[400], *out = NULL;
    const long n = 22000;
    e2e_start_issuer();
    e2e_start_switch();
    open_accounts(n, 2);
    snprintf(path, sizeof path, "%s/big.csv", E.dir);
    manifest(path, "bpnt", "2026-11", n, 200000, NULL);
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 0, "%s", out);
    free(out);
    /* every amount changed: every row rejected with a long reason, ~2 MiB of it */
    manifest(path, "bpnt", "2026-11", n, 150000, NULL);
    cr_assert_eq(ctl(&out, "credit-run", path, NULL), 1, "%s", out);
    cr_assert_eq(num(out, "credited"), 0, "%s", out);
    long count = 0;
    for (const char *p = out; (p = strstr(p, "already credited Rp200000 for bpnt 2026-11;")); p++)
        count++;
    cr_assert_eq(count, n, "every rejection reaches kksctl: %ld of %ld", count, n);
    free(out);
    ledger_ok();
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
}

/* The rows acknowledged so far, from kksctl's progress lines in its log. */
static long acked_in_log(const char *log)
{
    char *s = e2e_slurp(log), *p = s, *line;
    long acked = 0;
    while (p && (line = strstr(p, "credit-run: "))) {
        acked = strtol(line + strlen("credit-run: "), NULL, 10);
        p = line + 1;
    }
    free(s);
    return acked;
}

/* kksctl --json credit-run PATH --report NAME.html --progress-interval 0 [--batch N],
 * started now: stdout in dir/NAME.out, progress in dir/NAME.log. */
static pid_t spawn_run(const char *name, const char *path, const char *batch)
{
    static char report[8][400];
    static int k;
    char *r = report[k++ % 8];
    snprintf(r, 400, "%s/%s.html", E.dir, name);
    char *argv[20];
    int n = ctl_head(argv);
    argv[n++] = "credit-run";
    argv[n++] = (char *)path;
    argv[n++] = "--report";
    argv[n++] = r;
    argv[n++] = "--progress-interval";
    argv[n++] = "0";
    if (E.metrics) {
        argv[n++] = "--metrics";
        argv[n++] = E.switch_metrics;
    }
    if (batch) {
        argv[n++] = "--batch";
        argv[n++] = (char *)batch;
    }
    argv[n] = NULL;
    return e2e_spawn_split(name, argv);
}

/* What a run spawned with spawn_run printed on stdout, and its report. */
static char *run_out(const char *name, const char *ext)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s.%s", E.dir, name, ext);
    char *s = e2e_slurp(p);
    cr_assert_not_null(s, "no %s", p);
    return s;
}

/* A summary row of a report: the number after <th>key</th><td>. */
static long long report_num(const char *html, const char *key)
{
    char k[96];
    snprintf(k, sizeof k, "<th>%s</th><td>", key);
    const char *p = strstr(html, k);
    cr_assert_not_null(p, "no %s in the report", key);
    return strtoll(p + strlen(k), NULL, 10);
}

/* 1 while pid has not exited (it is not reaped: e2e_wait does that). */
static int running(pid_t pid)
{
    siginfo_t si = {0};
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* 1 when both runs have answered batches while both are still running. */
static int both_mid_run(const char *a, const char *b, pid_t pa, pid_t pb)
{
    char la[400], lb[400];
    snprintf(la, sizeof la, "%s/%s.log", E.dir, a);
    snprintf(lb, sizeof lb, "%s/%s.log", E.dir, b);
    return acked_in_log(la) > 0 && acked_in_log(lb) > 0 && running(pa) && running(pb);
}

/* Starts two runs of BATCH rows a batch and waits for both: 1 if they were
 * seen answering batches at the same time. Batches small enough that a run
 * lasts far longer than starting one: two runs of 1,000-row batches on
 * different wallets were over before they met in a Release build. */
static int run_both(const char *a, const char *pa, const char *b, const char *pb,
                    const char *batch, int *ea, int *eb)
{
    pid_t x = spawn_run(a, pa, batch), y = spawn_run(b, pb, batch);
    int overlap = 0;
    for (int i = 0; i < 12000 && !overlap; i++) {
        overlap = both_mid_run(a, b, x, y);
        if (!overlap && (!running(x) || !running(y)))
            break;
        usleep(2000);
    }
    *ea = e2e_wait(x);
    *eb = e2e_wait(y);
    return overlap;
}

Test(credit, sigkill_half_way_then_rerun_credits_exactly_what_is_missing)
{
    char path[400], logp[400], *out = NULL;
    const long n = 200000, amount = 200000;
    e2e_start_issuer();
    e2e_start_switch();
    open_accounts(n, 2);
    snprintf(path, sizeof path, "%s/big.csv", E.dir);
    manifest(path, "bpnt", "2026-11", n, amount, NULL);
    snprintf(logp, sizeof logp, "%s/run1.log", E.dir);
    /* a progress line after every acknowledged batch, to know when to strike */
    char *argv[] = {(char *)e2e_bin("kksctl"), "--pki", E.pki, "--switch", E.switch_addr,
                    "--json", "credit-run", path, "--progress-interval", "0", NULL};
    pid_t run = e2e_spawn("run1", argv);
    long acked = 0;
    for (int i = 0; i < 6000 && acked == 0; i++) {
        usleep(5000);
        acked = acked_in_log(logp);
    }
    e2e_kill(E.switch_pid); /* SIGKILL: no drain, no last commit */
    cr_assert_gt(acked, 0, "no batch was acknowledged");
    cr_assert_lt(acked, n, "the run finished before the kill");
    cr_assert_eq(e2e_wait(run), 3, "kksctl must report the lost switch");

    /* The run that lost its switch said how far it got. */
    char *log1 = e2e_slurp(logp);
    cr_assert(log1 && strstr(log1, "\"complete\":false"), "%s", log1 ? log1 : "");
    long long acked1 = num(log1, "acknowledged");
    free(log1);

    /* The switch comes back on the same database; the same manifest again,
     * with its report. */
    e2e_start_switch();
    cr_assert_eq(e2e_wait(spawn_run("rerun", path, NULL)), 0);
    out = run_out("rerun", "out");
    long long credited = num(out, "credited"), already = num(out, "already_credited");
    cr_assert(strstr(out, "\"complete\":true"), "%s", out);
    free(out);
    fprintf(stderr, "sigkill: %ld rows acknowledged before the kill (%lld by its JSON); the rerun "
                    "found %lld already credited and credited %lld\n", acked, acked1, already,
            credited);
    cr_assert_eq(credited + already, n, "every family credited once: %lld + %lld", credited,
                 already);
    cr_assert_geq(already, acked1, "every acknowledged batch was committed");
    cr_assert_geq(acked1, acked);
    cr_assert_gt(already, 0, "the rerun says what the first run had credited");
    cr_assert_gt(credited, 0, "the kill came before the run finished");
    char *html = run_out("rerun", "html");
    cr_assert_eq(report_num(html, "already credited"), already);
    cr_assert_eq(report_num(html, "credited"), credited);
    cr_assert_eq(report_num(html, "rows"), n);
    free(html);
    cr_assert_eq(ctl(&out, "ledger", "check", NULL), 0, "%s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    cr_assert_eq(num(out, "wallets_total"), (long long)n * amount, "%s", out);
    cr_assert_eq(num(out, "funding_total"), -(long long)n * amount, "%s", out);
    free(out);
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
}

Test(credit, two_runs_of_one_manifest_and_pkh_with_bpnt_run_at_once_exactly_once)
{
    char bpnt[400], bpnt2[400], pkh[400], *out = NULL;
    const long n = 100000;
    E.metrics = 1;
    e2e_start_issuer();
    e2e_start_switch();
    open_accounts(n, 3);
    snprintf(bpnt, sizeof bpnt, "%s/bpnt.csv", E.dir);
    snprintf(bpnt2, sizeof bpnt2, "%s/bpnt2.csv", E.dir);
    snprintf(pkh, sizeof pkh, "%s/pkh.csv", E.dir);
    manifest(bpnt, "bpnt", "2026-11", n, 200000, NULL);
    manifest(bpnt2, "bpnt", "2026-12", n, 200000, NULL);
    manifest(pkh, "pkh", "2026-T4", n, 750000, NULL);

    /* the same manifest from two kksctl processes at once */
    int ea, eb;
    int overlap = run_both("a", bpnt, "b", bpnt, "1000", &ea, &eb);
    cr_assert_eq(ea, 0, "run a exited %d", ea);
    cr_assert_eq(eb, 0, "run b exited %d", eb);
    cr_assert(overlap, "the two runs did not answer batches at the same time");
    char *ja = run_out("a", "out"), *jb = run_out("b", "out");
    long long ca = num(ja, "credited"), aa = num(ja, "already_credited");
    long long cb = num(jb, "credited"), ab = num(jb, "already_credited");
    fprintf(stderr, "same manifest at once: a credited %lld (already %lld), b credited %lld "
                    "(already %lld)\n", ca, aa, cb, ab);
    cr_assert_eq(ca + aa, n, "every row of a answered once: %lld + %lld", ca, aa);
    cr_assert_eq(cb + ab, n, "every row of b answered once: %lld + %lld", cb, ab);
    cr_assert_eq(ca + cb, n, "each family credited by exactly one of them: %lld + %lld", ca, cb);
    cr_assert_eq(ab, ca, "what a credited, b found credited");
    cr_assert(strstr(ja, "\"switch_memory\":{\"sampled\":true"), "%s", ja);
    /* the reports say the same */
    char *ra = run_out("a", "html"), *rb = run_out("b", "html");
    cr_assert_eq(report_num(ra, "credited") + report_num(rb, "credited"), n);
    cr_assert_eq(report_num(ra, "already credited"), aa);
    cr_assert_eq(report_num(rb, "already credited"), ab);
    cr_assert_eq(report_num(rb, "rows"), n);
    free(ja);
    free(jb);
    free(ra);
    free(rb);
    cr_assert_eq(ctl(&out, "ledger", "check", NULL), 0, "%s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    cr_assert_eq(num(out, "wallets_total"), (long long)n * 200000, "%s", out);
    free(out);

    /* PKH and the next BPNT month at once: different wallets, both whole */
    overlap = run_both("pkh", pkh, "bpnt", bpnt2, "100", &ea, &eb);
    cr_assert_eq(ea, 0, "pkh run exited %d", ea);
    cr_assert_eq(eb, 0, "bpnt run exited %d", eb);
    cr_assert(overlap, "the PKH and BPNT runs did not answer batches at the same time");
    ja = run_out("pkh", "out");
    jb = run_out("bpnt", "out");
    cr_assert_eq(num(ja, "credited"), n, "%s", ja);
    cr_assert_eq(num(jb, "credited"), n, "%s", jb);
    cr_assert_eq(num(ja, "rupiah"), (long long)n * 750000, "%s", ja);
    free(ja);
    free(jb);
    cr_assert_eq(ctl(&out, "ledger", "check", NULL), 0, "%s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    cr_assert_eq(num(out, "wallets_total"), (long long)n * (2 * 200000 + 750000), "%s", out);
    cr_assert_eq(num(out, "funding_total"), -(long long)n * (2 * 200000 + 750000), "%s", out);
    free(out);
    /* a family or two, to the rupiah */
    const char *fams[] = {"1271010000000000", "1271010000003700"};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ctl(&out, "account", "show", fams[i]), 0, "%s", out);
        cr_assert(strstr(out, "\"balances\":{\"pkh\":750000,\"bpnt\":400000}"), "%s", out);
        free(out);
    }
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
}

/* A ledger check reads the whole ledger (18 s at national size). It runs
 * off the switch's event loop on a read connection of its own: the switch
 * goes on answering meanwhile, and a switch told to stop in the middle of one
 * stops at once. A switch database filled straight with wallets, WALLETS at a
 * time, each with a credit (a consistent ledger), makes a check that takes
 * seconds. */
#define WALLETS 4000000

/* Adds wallets FROM to FROM + N - 1, each with its credit, and keeps the
 * ledger whole: the funding account pays for them (made by the first call). */
static void fill_ledger(const char *db, long long from, long long n)
{
    sqlite3 *d;
    char sql[1600];
    cr_assert_eq(sqlite3_open(db, &d), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "BEGIN;"
             "INSERT OR IGNORE INTO funding(id, program, period, balance)"
             " VALUES (1, 'pkh', '2026-T4', 0);"
             "INSERT OR IGNORE INTO credit_batch(id, funding, at)"
             " VALUES (1, 1, '2026-10-01T00:00:00Z');"
             "UPDATE funding SET balance = balance - %lld WHERE id = 1;"
             "WITH RECURSIVE n(i) AS (SELECT %lld UNION ALL SELECT i + 1 FROM n WHERE i < %lld)"
             " INSERT INTO wallet(kk, pkh, bpnt, opened_at, programs, pkh_last, bpnt_last)"
             " SELECT 3201010000000000 + i * 7, 100000, 0, '2026-10-01T00:00:00Z', 3, 24323, -1"
             " FROM n;"
             "INSERT INTO credit(kk, program, first, last, batch, amount)"
             " SELECT kk, 1, 24321, 24323, 1, 100000 FROM wallet"
             " WHERE kk >= 3201010000000000 + %lld * 7;"
             "COMMIT;",
             100000LL * n, from, from + n - 1, from);
    cr_assert_eq(sqlite3_exec(d, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(d));
    sqlite3_close(d);
}

static pid_t check_in_background(void)
{
    char *argv[12];
    int n = ctl_head(argv);
    argv[n++] = "ledger";
    argv[n++] = "check";
    argv[n] = NULL;
    return e2e_spawn("check", argv);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(credit, a_ledger_check_leaves_the_switch_answering)
{
    char db[400], *out = NULL, log[400];
    e2e_start_issuer();
    e2e_start_switch_db("big.db"); /* its schema */
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    snprintf(db, sizeof db, "%s/big.db", E.dir);
    /* Sized from a measured check, not from an assumed machine: a Release
     * build on a fast machine checked 8M accounts in 800 ms, too little time
     * to ask for anything while it runs. A check of at least 1.5 s, or of
     * 4 x WALLETS wallets, whichever comes first. */
    long long wallets = 0, check_ms = 0;
    char accounts[64];
    for (;;) {
        fill_ledger(db, wallets, WALLETS);
        wallets += WALLETS;
        e2e_start_switch_db("big.db");
        long long t = now_ms();
        cr_assert_eq(ctl(&out, "ledger", "check", NULL), 0, "%s", out);
        check_ms = now_ms() - t;
        snprintf(accounts, sizeof accounts, "\"accounts\":%lld", 2 * wallets + 1);
        cr_assert(strstr(out, "\"ok\":true") && strstr(out, accounts), "%s", out);
        free(out);
        if (check_ms >= 1500 || wallets >= 4 * WALLETS)
            break;
        cr_assert_eq(e2e_stop(E.switch_pid), 0);
    }
    fprintf(stderr, "ledger check: %lld wallets in %lld ms\n", wallets, check_ms);
    cr_assert_geq(check_ms, 1000, "a check of %lld ms shows nothing: more wallets", check_ms);

    long long t0 = now_ms();
    pid_t check = check_in_background();
    usleep(300000); /* the request is in */
    long long t1 = now_ms();
    cr_assert_eq(ctl(&out, "ping", NULL, NULL), 0, "%s", out);
    free(out);
    long long ping_ms = now_ms() - t1;
    /* a second check while the first runs: refused, at once */
    cr_assert_eq(ctl(&out, "ledger", "check", NULL), 4, "%s", out);
    cr_assert(strstr(out, "a ledger check is already running"), "%s", out);
    free(out);
    cr_assert_eq(e2e_wait_for(check, 10), -1,
                 "the ping was answered only once the ledger check was done");
    cr_assert_eq(e2e_wait_for(check, 120000), 0, "ledger check failed");
    check_ms = now_ms() - t0;
    snprintf(log, sizeof log, "%s/check.log", E.dir);
    cr_assert(e2e_file_has(log, "\"ok\":true"), "the check did not find the ledger whole");
    cr_assert(e2e_file_has(log, accounts), "not every wallet was read");
    cr_assert_lt(ping_ms, check_ms / 2, "ping %lld ms during a check of %lld ms", ping_ms,
                 check_ms);

    /* an operator gone in the middle of a check: the check is given up (its
     * snapshot with it), so the next one is accepted, not refused as running */
    check = check_in_background();
    usleep(300000);
    e2e_kill(check);
    usleep(800000);
    cr_assert_eq(ctl(&out, "ledger", "check", NULL), 0, "the abandoned check still ran: %s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    free(out);

    /* stopped in the middle of a check: at once, the check given up */
    check = check_in_background();
    usleep(300000);
    long long t2 = now_ms();
    cr_assert_eq(e2e_stop(E.switch_pid), 0);
    long long stop_ms = now_ms() - t2;
    cr_assert_lt(stop_ms, check_ms / 2, "stopping took %lld ms during a check of %lld ms",
                 stop_ms, check_ms);
    cr_assert_eq(e2e_wait_for(check, 20000), 3, "the given-up check's kksctl: not exit 3");
}
