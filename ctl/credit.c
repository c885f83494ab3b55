/* kksctl credit-run (the command; the engine is ctl/credit_run.c), ledger
 * check, account show, settle. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "credit_run.h"
#include "kc_op.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_money.h"
#include "kks_policy.h"
#include "kks_rc.h"
#include "kks_registry.h"
#include "kks_seeds.h"

static void print_money(int64_t v, char *out, size_t cap)
{
    kks_rupiah(v, '.', out, cap);
}

int cmd_credit_run(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"switch", required_argument, 0, 's'},
        {"pki", required_argument, 0, 'p'},
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {"progress-interval", required_argument, 0, 'i'},
        {"report", required_argument, 0, 'r'},
        {"metrics", required_argument, 0, 'm'},
        {"batch", required_argument, 0, 'b'},
        {0, 0, 0, 0},
    };
    static const char use[] =
        "usage: kksctl credit-run MANIFEST.csv [--switch A] [--json] [--report FILE.html]\n"
        "                         [--metrics A] [--batch N] [--progress-interval MS]\n"
        "  --report FILE.html  one self-contained page: figures, credits/s and batch round\n"
        "                      trips over time, the switch's RSS and WAL, rejections by reason\n"
        "  --metrics A         the switch's --metrics address (or KKS_SWITCH_METRICS): its\n"
        "                      RSS and WAL size are sampled every 100 ms during the run\n"
        "  --batch N           rows a batch, 1..16384 (default 16384)\n"
        "  progress: a bar on a terminal (every 100 ms), else a line every 5 s (or MS)";
    struct credit_run_opts ro = {.progress_ms = -1, .metrics = getenv("KKS_SWITCH_METRICS")};
    struct credit_run_stats st = {0};
    long batch = 0;
    char *end;
    int o, ec;

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 's': c->sw = optarg; break;
        case 'p': c->pki = optarg; break;
        case 'j': c->json = 1; break;
        case 'i': ro.progress_ms = strtol(optarg, &end, 10); if (*end) ro.progress_ms = -2; break;
        case 'r': ro.report = optarg; break;
        case 'm': ro.metrics = optarg; break;
        case 'b': batch = strtol(optarg, &end, 10); if (*end) batch = -1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || ro.progress_ms < -1 || ro.progress_ms > 3600000 || batch < 0 ||
        batch > CREDIT_RUN_BATCH) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    if (ctl_credit_run_metrics(&ro.metrics) != EXIT_OK)
        return EXIT_USAGE;
    ro.batch = (unsigned)batch;
    ec = ctl_credit_run(c, argv[optind], &ro, &st);
    if (ec != EXIT_USAGE && st.program[0]) { /* the manifest was read: its figures */
        if (c->json) {
            int jec = ctl_json_print(ctl_credit_run_json(&st));
            if (jec != EXIT_OK)
                ec = jec;
        } else {
            ctl_credit_run_print(stdout, &st);
        }
    }
    ctl_credit_run_free(&st);
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
    if ((ec = ctl_request_for(c, KKS_ROLE_SWITCH, &req, &rep, CTL_CHECK_TIMEOUT_MS)) != EXIT_OK)
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
