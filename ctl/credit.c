/* kksctl credit-run, ledger check, account show.
 *
 * credit-run reads the whole manifest first (structure, one programme and
 * period, 16-digit KKs, whole-rupiah amounts), sorts it by KK so the switch
 * walks its tables in order, and streams it in batches with several in
 * flight. Each batch is acknowledged after the switch committed it; running
 * the same manifest again credits only what is missing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "credit_manifest.h"
#include "kc_op.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_money.h"
#include "kks_policy.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "kks_seeds.h"

#define BATCH 16384
#define IN_FLIGHT 8

typedef credit_row row;

typedef ctl_rej rej;

typedef struct run {
    ctl *c;
    char program[8], period[32];
    row *rows;
    size_t nrows, caprows, sent, acked;
    uint64_t credited, already;
    int64_t rupiah;
    rej *rejs;
    size_t nrej, caprej;
    int inflight, failed, tty;
    kks_client *cl;
    uint64_t started, last_print;
    uint64_t interval_ns; /* between progress lines */
} run;

/* Keeps a rejected row; out of memory fails the run (a rejection is never lost
 * in silence). */
static void add_rej(run *r, uint32_t line, const char *reason)
{
    credit_manifest m = {.rejs = r->rejs, .nrej = r->nrej, .caprej = r->caprej};
    credit_manifest_reject(&m, line, reason);
    r->rejs = m.rejs;
    r->nrej = m.nrej;
    r->caprej = m.caprej;
    if (m.failed)
        r->failed = m.failed;
}

static int cmp_row(const void *a, const void *b)
{
    const row *x = a, *y = b;
    if (x->kk != y->kk)
        return x->kk < y->kk ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Sorts rows by KK, rows of one KK in file order: a stable LSD radix sort on
 * the KK (rows arrive in file order). qsort took 0.17 s of a 850k-row run, a
 * tenth of it end to end; this takes a few hundredths. Returns 0 or
 * KKS_ENOMEM (then the caller falls back to qsort). */
static int sort_rows(row *rows, size_t n)
{
    enum { BITS = 11, BUCKETS = 1 << BITS };
    size_t i, *count;
    row *tmp, *src = rows, *dst;
    int pass, passes = (54 + BITS - 1) / BITS; /* a KK is under 2^54 */
    for (i = 1; i < n && rows[i - 1].kk <= rows[i].kk; i++)
        ;
    if (i >= n)
        return 0; /* in order already */
    if (!(tmp = malloc(n * sizeof *tmp)) || !(count = malloc(BUCKETS * sizeof *count))) {
        free(tmp);
        return KKS_ENOMEM;
    }
    dst = tmp;
    for (pass = 0; pass < passes; pass++) {
        unsigned shift = (unsigned)(pass * BITS);
        size_t sum = 0;
        memset(count, 0, BUCKETS * sizeof *count);
        for (i = 0; i < n; i++)
            count[(src[i].kk >> shift) & (BUCKETS - 1)]++;
        for (i = 0; i < BUCKETS; i++) {
            size_t c = count[i];
            count[i] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++)
            dst[count[(src[i].kk >> shift) & (BUCKETS - 1)]++] = src[i];
        row *t = src;
        src = dst;
        dst = t;
    }
    if (src != rows)
        memcpy(rows, src, n * sizeof *rows);
    free(count);
    free(tmp);
    return 0;
}

static int cmp_rej(const void *a, const void *b)
{
    const rej *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}


/* Reads the manifest (ctl/credit_manifest.c) into r, which then owns its rows
 * and rejections. Returns EXIT_OK, or EXIT_USAGE / EXIT_INTERNAL after printing why. */
static int read_manifest(run *r, const char *path)
{
    credit_manifest m = {0};
    FILE *f = fopen(path, "r");
    int ec;
    if (!f) {
        ctl_say("kksctl: %s: cannot open: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    ec = credit_manifest_read(&m, f, path);
    fclose(f);
    memcpy(r->program, m.program, sizeof r->program);
    memcpy(r->period, m.period, sizeof r->period);
    r->rows = m.rows;
    r->nrows = m.nrows;
    r->caprows = m.caprows;
    r->rejs = m.rejs;
    r->nrej = m.nrej;
    r->caprej = m.caprej;
    if (m.failed)
        r->failed = m.failed;
    return ec;
}

static void progress(run *r, int final)
{
    uint64_t now = uv_hrtime();
    double el = (double)(now - r->started) / 1e9;
    double rate = el > 0 ? (double)r->acked / el : 0;
    double left = rate > 0 ? (double)(r->nrows - r->acked) / rate : 0;
    if (!final && now - r->last_print < r->interval_ns)
        return;
    r->last_print = now;
    if (r->tty) {
        int w = 30, done = r->nrows ? (int)((double)r->acked * w / (double)r->nrows) : w;
        char bar[32];
        for (int i = 0; i < w; i++)
            bar[i] = i < done ? '#' : '-';
        bar[w] = '\0';
        fprintf(stderr, "\r[%s] %3.0f%% %zu/%zu  %.0f/s  %.0f s left   %s", bar,
                r->nrows ? 100.0 * (double)r->acked / (double)r->nrows : 100.0, r->acked, r->nrows,
                rate, left, final ? "\n" : "");
    } else {
        fprintf(stderr, "credit-run: %zu/%zu rows, %.0f rows/s, %.0f s left\n", r->acked,
                r->nrows, rate, left);
    }
}

struct batch {
    run *r;
    size_t from, n;
};

static int send_batch(run *r, kks_client *cl, size_t from, size_t n);

static void on_result(int status, const Kks__Envelope *rep, void *ud)
{
    struct batch *b = ud;
    run *r = b->r;
    r->inflight--;
    if (status < 0 || rep->body_case != KKS__ENVELOPE__BODY_CREDIT_RESULT) {
        if (!r->failed) {
            ctl_say("\nkksctl: switch: %s\n",
                    status < 0 ? kks_strerror(status)
                    : rep->body_case == KKS__ENVELOPE__BODY_ERROR && rep->error->message
                        ? rep->error->message
                        : "unexpected reply");
            r->failed = status < 0 ? EXIT_PEER : EXIT_INTERNAL;
        }
    } else {
        const Kks__CreditResult *res = rep->credit_result;
        r->credited += res->credited;
        r->already += res->already;
        r->rupiah += res->rupiah;
        for (size_t i = 0; i < res->n_rejected; i++)
            add_rej(r, res->rejected[i]->line, res->rejected[i]->reason);
        size_t done = b->n;
        if (res->next_kk) {
            /* the switch kept its reply under the frame cap and stopped at this
             * family: the rest of the batch goes again */
            done = 0;
            while (done < b->n && r->rows[b->from + done].kk < res->next_kk)
                done++;
            if (done == 0 || done == b->n) {
                ctl_say("\nkksctl: switch: a partial batch that names no row of it\n");
                if (!r->failed)
                    r->failed = EXIT_INTERNAL;
            } else if (send_batch(r, r->cl, b->from + done, b->n - done) < 0 && !r->failed) {
                ctl_say("\nkksctl: switch: %s\n", kks_client_last_error(r->cl));
                r->failed = EXIT_PEER;
            }
        }
        r->acked += done;
        progress(r, 0);
    }
    free(b);
}

static int send_batch(run *r, kks_client *cl, size_t from, size_t n)
{
    Kks__Envelope env;
    kc_credits cb;
    struct batch *b = malloc(sizeof *b);
    int rc;
    if (!b || kc_credits_init(&cb, r->program, r->period, n) < 0) {
        free(b);
        return KKS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        kc_credits_add(&cb, r->rows[from + i].line, r->rows[from + i].kk,
                       r->rows[from + i].amount);
    kc_credits_envelope(&cb, &env);
    b->r = r;
    b->from = from;
    b->n = n;
    rc = kks_client_call(cl, &env, CTL_TIMEOUT_MS, on_result, b); /* packed: cb may go */
    kc_credits_free(&cb);
    if (rc < 0) {
        free(b);
        return rc;
    }
    r->inflight++;
    return 0;
}

static void print_money(int64_t v, char *out, size_t cap)
{
    kks_rupiah(v, '.', out, cap);
}

int cmd_credit_run(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"switch", required_argument, 0, 's'}, {"pki", required_argument, 0, 'p'},
        {"json", no_argument, 0, 'j'},         {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {"progress-interval", required_argument, 0, 'i'},
        {0, 0, 0, 0},
    };
    static const char use[] =
        "usage: kksctl credit-run MANIFEST.csv [--switch A] [--json] [--progress-interval MS]\n"
        "  progress: a bar on a terminal (every 100 ms), else a line every 5 s (or MS)";
    long interval_ms = -1;
    run r = {.c = c};
    kks_client *cl;
    int o, ec = EXIT_OK;
    char money[48];

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 's': c->sw = optarg; break;
        case 'p': c->pki = optarg; break;
        case 'j': c->json = 1; break;
        case 'i': interval_ms = strtol(optarg, NULL, 10); break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || (interval_ms < 0 && interval_ms != -1) || interval_ms > 3600000) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    if ((ec = read_manifest(&r, argv[optind])) != EXIT_OK)
        goto done;
    /* KK order: the switch's tables are keyed by KK, so in-order keys are appends. */
    if (sort_rows(r.rows, r.nrows) < 0)
        qsort(r.rows, r.nrows, sizeof *r.rows, cmp_row);
    size_t total_rows = r.nrows + r.nrej, w = 0;
    for (size_t i = 0; i < r.nrows; i++) {
        if (w > 0 && r.rows[w - 1].kk == r.rows[i].kk) {
            char why[96];
            snprintf(why, sizeof why, "KK %016" PRIu64 " appears twice in this run (first on "
                     "line %u)", r.rows[i].kk, r.rows[w - 1].line);
            add_rej(&r, r.rows[i].line, why);
            continue;
        }
        r.rows[w++] = r.rows[i];
    }
    r.nrows = w;
    if (!(cl = ctl_peer(c, KKS_ROLE_SWITCH, &ec)))
        goto done;
    r.cl = cl;
    r.tty = isatty(2);
    r.interval_ns = (uint64_t)(interval_ms >= 0 ? interval_ms : r.tty ? 100 : 5000) * 1000000ull;
    r.started = uv_hrtime();
    r.last_print = r.started; /* first line after the interval, not at once */
    while (r.sent < r.nrows && !r.failed) {
        while (r.inflight >= IN_FLIGHT && !r.failed)
            uv_run(c->loop, UV_RUN_ONCE);
        if (r.failed)
            break;
        size_t n = r.nrows - r.sent < BATCH ? r.nrows - r.sent : BATCH;
        if (send_batch(&r, cl, r.sent, n) < 0) {
            ctl_say("kksctl: switch: %s\n", kks_client_last_error(cl));
            r.failed = EXIT_PEER;
            break;
        }
        r.sent += n;
    }
    while (r.inflight > 0)
        uv_run(c->loop, UV_RUN_ONCE);
    progress(&r, 1);
    if (r.failed) {
        ctl_say("kksctl: credit run stopped after %zu of %zu rows were acknowledged. "
                "Acknowledged batches are committed; run the same manifest again to credit "
                "what is missing (nothing is credited twice).\n",
                r.acked, r.nrows);
        ec = r.failed;
        goto done;
    }
    if (r.nrej)
        qsort(r.rejs, r.nrej, sizeof *r.rejs, cmp_rej);
    if (c->json) {
        json_t *j = json_pack("{s:o,s:o,s:I,s:I,s:I,s:I}", "program", kks_json_str(r.program),
                              "period", kks_json_str(r.period), "rows", (json_int_t)total_rows,
                              "credited", (json_int_t)r.credited, "already_credited",
                              (json_int_t)r.already, "rupiah", (json_int_t)r.rupiah);
        kks_json_set(&j, "rejected", ctl_rejected_json(r.rejs, r.nrej));
        if ((ec = ctl_json_print(j)) != EXIT_OK)
            goto done;
    } else {
        print_money(r.rupiah, money, sizeof money);
        double el = (double)(uv_hrtime() - r.started) / 1e9;
        printf("%s %s: rows %zu, credited %" PRIu64 ", already credited %" PRIu64
               ", rejected %zu, %s credited, %.1f s\n",
               r.program, r.period, total_rows, r.credited, r.already, r.nrej, money, el);
        for (size_t i = 0; i < r.nrej && i < 100; i++)
            printf("  line %u: %s\n", r.rejs[i].line, r.rejs[i].reason);
        if (r.nrej > 100)
            printf("  ... and %zu more (use --json for all)\n", r.nrej - 100);
    }
    ec = r.nrej ? EXIT_DECLINED : EXIT_OK;
done:
    for (size_t i = 0; i < r.nrej; i++)
        free(r.rejs[i].reason);
    free(r.rejs);
    free(r.rows);
    return ec;
}

int cmd_ledger(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"switch", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},         {0, 0, 0, 0},
    };
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__LedgerCheckRequest lc = KKS__LEDGER_CHECK_REQUEST__INIT;
    char a[48], b[48];
    int o, ec;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 's': c->sw = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts("usage: kksctl ledger check [--switch A] [--json]"); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || strcmp(argv[optind], "check") != 0) {
        ctl_say("%s", "usage: kksctl ledger check [--switch A] [--json]\n");
        return EXIT_USAGE;
    }
    kc_op_ledger_check(&req, &lc);
    if ((ec = ctl_request(c, KKS_ROLE_SWITCH, &req, &rep)) != EXIT_OK)
        return ec;
    const Kks__LedgerCheckReply *r = rep->ledger_check_reply;
    ec = r->ok ? EXIT_OK : EXIT_DECLINED;
    if (c->json) {
        if (ctl_json_print(kks_json_pb(&r->base, "ok violation accounts transfers wallets_total "
                                                 "funding_total")) != EXIT_OK)
            ec = EXIT_INTERNAL;
    } else {
        print_money(r->wallets_total, a, sizeof a);
        print_money(r->funding_total, b, sizeof b);
        if (r->ok)
            printf("ledger OK: %" PRId64 " accounts, %" PRId64 " transfers; family wallets "
                   "%s, funding accounts %s; balances sum to zero\n",
                   r->accounts, r->transfers, a, b);
        else
            printf("LEDGER VIOLATION: %s\n", r->violation);
    }
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

int cmd_account(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"switch", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
        {"limit", required_argument, 0, 'l'},  {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const char use[] = "usage: kksctl account show KK [--limit N] [--switch A] [--json]";
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__AccountRequest ar = KKS__ACCOUNT_REQUEST__INIT;
    char m1[48], m2[48];
    int o, ec;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 's': c->sw = optarg; break;
        case 'j': c->json = 1; break;
        case 'l': ar.limit = (uint32_t)atoi(optarg); break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 2 != argc || strcmp(argv[optind], "show") != 0) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    kc_op_account(&req, &ar, argv[optind + 1], ar.limit);
    if ((ec = ctl_request(c, KKS_ROLE_SWITCH, &req, &rep)) != EXIT_OK)
        return ec;
    const Kks__AccountReply *r = rep->account_reply;
    ec = strcmp(r->rc, KKS_RC_APPROVED) == 0 ? EXIT_OK : EXIT_DECLINED;
    if (c->json) {
        json_t *j = kks_json_pb(&r->base, "rc reason kk"), *moves = json_array();
        kks_json_set(&j, "balances", json_pack("{s:I,s:I}", "pkh", (json_int_t)r->pkh, "bpnt",
                                               (json_int_t)r->bpnt));
        for (size_t i = 0; moves && i < r->n_movements; i++)
            kks_json_append(&moves, kks_json_pb(&r->movements[i]->base,
                                                "at wallet amount kind ref"));
        kks_json_set(&j, "movements", moves);
        if (ctl_json_print(j) != EXIT_OK)
            ec = EXIT_INTERNAL;
    } else if (strcmp(r->rc, KKS_RC_APPROVED) != 0) {
        printf("%s (%s)\n", r->reason, r->rc);
    } else {
        print_money(r->pkh, m1, sizeof m1);
        print_money(r->bpnt, m2, sizeof m2);
        printf("family %s\n  PKH (tunai)     %14s\n  BPNT (sembako)  %14s\nlast movements:\n", r->kk,
               m1, m2);
        for (size_t i = 0; i < r->n_movements; i++) {
            const Kks__Movement *m = r->movements[i];
            char when[32];
            print_money(m->amount, m1, sizeof m1);
            ctl_wib(m->at, when);
            printf("  %s  %-4s %14s  %-10s %s\n", when, m->wallet, m1, m->kind, m->ref);
        }
    }
    kks__envelope__free_unpacked(rep, NULL);
    return ec;
}

/* A CSV field in quotes, quotes inside doubled. */
static void csv_quoted(FILE *f, const char *v)
{
    fputc('"', f);
    for (; v && *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

int cmd_settle(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"date", required_argument, 0, 'd'},   {"out-dir", required_argument, 0, 'o'},
        {"switch", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},         {0, 0, 0, 0},
    };
    static const char use[] = "usage: kksctl settle --date YYYY-MM-DD [--out-dir DIR] [--json]";
    Kks__Envelope req = KKS__ENVELOPE__INIT, *rep;
    Kks__SettleRequest sr = KKS__SETTLE_REQUEST__INIT;
    const char *date = NULL, *dir = ".";
    char csvp[4200], jsonp[4200], tmp[4300], money[48];
    int o, ec = EXIT_OK, y, m, d;
    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'd': date = optarg; break;
        case 'o': dir = optarg; break;
        case 's': c->sw = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (!date || optind != argc || kks_ymd_parse(date, &y, &m, &d) < 0) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    /* a day with more payables than one batch holds is settled in several */
    for (int more = 1; more && ec == EXIT_OK;) {
        kc_op_settle(&req, &sr, date);
        if ((ec = ctl_request(c, KKS_ROLE_SWITCH, &req, &rep)) != EXIT_OK)
            return ec;
        const Kks__SettleReply *r = rep->settle_reply;
        more = r->more;
        /* one pair of files per batch: settlement-DATE-bN.csv and .json */
        snprintf(csvp, sizeof csvp, "%s/settlement-%s-b%u.csv", dir, date, r->batch);
        snprintf(jsonp, sizeof jsonp, "%s/settlement-%s-b%u.json", dir, date, r->batch);
        /* The JSON of the batch: the file's content, and --json's output. */
        json_t *j = json_pack("{s:o,s:I,s:b}", "date", kks_json_str(date), "batch",
                              (json_int_t)r->batch, "already", r->batch == 0 || r->already);
        json_t *lines = json_array();
        for (size_t i = 0; lines && i < r->n_lines && r->batch > 0; i++)
            kks_json_append(&lines, kks_json_pb(&r->lines[i]->base, "kind id name count total"));
        kks_json_set(&j, "lines", lines);
        /* CSV and JSON, each written to a temporary file and renamed */
        for (int pass = 0; pass < 2 && ec == EXIT_OK && r->batch > 0; pass++) {
            const char *final = pass ? jsonp : csvp;
            snprintf(tmp, sizeof tmp, "%s.tmp", final);
            /* 0600: what each merchant was owed is the bank's, not every local user's */
            int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
            int bad = 0;
            if (!f) {
                if (fd >= 0)
                    close(fd);
                ctl_say("kksctl: cannot write %s: %s\n", tmp, strerror(errno));
                ec = EXIT_USAGE;
                break;
            }
            if (pass) {
                bad = kks_json_print(f, json_incref(j)) < 0;
            } else {
                fprintf(f, "date,batch,kind,id,name,count,total\n");
                for (size_t i = 0; i < r->n_lines; i++) {
                    const Kks__SettleLine *l = r->lines[i];
                    fprintf(f, "%s,%u,%s,", date, r->batch, l->kind);
                    csv_quoted(f, l->id);
                    fputc(',', f);
                    csv_quoted(f, l->name);
                    fprintf(f, ",%d,%" PRId64 "\n", l->count, l->total);
                }
            }
            if (fclose(f) != 0 || bad || rename(tmp, final) != 0) {
                ec = EXIT_INTERNAL;
                unlink(tmp);
            }
        }
        if (ec == EXIT_OK && c->json) {
            ec = ctl_json_print(json_incref(j));
        } else if (ec == EXIT_OK) {
            int64_t sum = 0;
            printf("settlement %s: %s\n", date, r->reason);
            for (size_t i = 0; i < r->n_lines; i++) {
                const Kks__SettleLine *l = r->lines[i];
                print_money(l->total, money, sizeof money);
                printf("  %-8s %-16s %-28s %5d  %s\n", l->kind, l->id, l->name, l->count, money);
                sum += l->total;
            }
            print_money(sum, money, sizeof money);
            if (r->batch > 0)
                printf("  total %s; files %s and %s\n", money, csvp, jsonp);
        }
        json_decref(j);
        kks__envelope__free_unpacked(rep, NULL);
    }
    return ec;
}
