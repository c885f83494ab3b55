/* kksctl enroll FILE.csv: streams a registry extract to the issuer, then
 * opens the enrolled families' accounts at the switch (collective account
 * opening, with their programmes). kksctl accounts open FILE.csv does the
 * second half for an extract enrolled earlier: the issuer checks each row
 * against what it enrolled (writing nothing), and only enrolled families get
 * an account.
 *
 * Pass 1 reads the whole file for structure only (header, quoting, record
 * length, binary bytes) and sends nothing if it is malformed, so a broken
 * file writes nothing; it notes where each row is. Pass 2 sends batches of
 * rows in KK order (check_structure says why), several in flight; the
 * issuer validates each row and commits each batch in one transaction. A KK
 * seen twice in the file is rejected here, naming the first line. */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "enroll.h"
#include "kc_op.h"
#include "kks_csv.h"
#include "kks_err.h"
#include "kks_registry.h"
#include "kks_seeds.h"
#include "kks_sort.h"

#define BATCH_ROWS 4000
#define BATCH_BYTES (600u * 1024u) /* well under the 1 MiB frame cap */
#define IN_FLIGHT 32 /* ~100k rows: more than the issuer fills a commit with (64k) */

typedef ctl_rej rej;

/* A family to open an account for. */
typedef struct acct_row {
    uint64_t kk;
    uint32_t line;
    uint8_t programs;
} acct_row;

#define ACCOUNT_BATCH 16384

typedef struct run {
    ctl *c;
    int verify; /* accounts open: check enrolment only */
    acct_row *accts;
    size_t nacct, capacct;
    uint64_t opened, updated, acct_unchanged;
    int accounts_done;
    uint64_t rows, enrolled, unchanged, sent_rows, done_rows;
    rej *rejs;
    size_t nrej, caprej;
    int inflight;
    int failed; /* exit code of the first failure */
    int tty;
    uint64_t started;
    uint64_t accounts_started;
} run;

static void add_rej(run *r, unsigned line, const char *reason)
{
    if (r->nrej == r->caprej) {
        size_t nc = r->caprej ? r->caprej * 2 : 64;
        rej *n = realloc(r->rejs, nc * sizeof *n);
        if (!n) {
            r->failed = EXIT_INTERNAL;
            return;
        }
        r->rejs = n;
        r->caprej = nc;
    }
    r->rejs[r->nrej].line = line;
    r->rejs[r->nrej].reason = strdup(reason);
    r->rejs[r->nrej].kind = 0;
    r->nrej++;
}

static void progress(run *r, int final)
{
    double el = (double)(uv_hrtime() - r->started) / 1e9;
    if (!r->tty)
        return;
    fprintf(stderr, "\r%llu / %llu rows enrolled or checked, %.0f rows/s%s",
            (unsigned long long)r->done_rows, (unsigned long long)r->rows,
            el > 0 ? (double)r->done_rows / el : 0.0, final ? "\n" : "");
}

struct batch_ctx {
    run *r;
    uint32_t nrows;
    acct_row rows[]; /* what each row would open, if the issuer accepts it */
};

static int rejected_line(const Kks__EnrollResult *res, uint32_t line)
{
    for (size_t i = 0; i < res->n_rejected; i++)
        if (res->rejected[i]->line == line)
            return 1;
    return 0;
}

static void on_result(int status, const Kks__Envelope *rep, void *ud)
{
    struct batch_ctx *b = ud;
    run *r = b->r;
    r->inflight--;
    if (status < 0) {
        ctl_say("kksctl: issuer: %s\n", kks_strerror(status));
        if (!r->failed)
            r->failed = EXIT_PEER;
    } else if (rep->body_case != KKS__ENVELOPE__BODY_ENROLL_RESULT) {
        ctl_say("kksctl: issuer refused a batch: %s\n",
                rep->body_case == KKS__ENVELOPE__BODY_ERROR && rep->error->message
                    ? rep->error->message
                    : "unexpected reply");
        if (!r->failed)
            r->failed = EXIT_INTERNAL;
    } else {
        const Kks__EnrollResult *res = rep->enroll_result;
        r->enrolled += res->enrolled;
        r->unchanged += res->unchanged;
        for (size_t i = 0; i < res->n_rejected; i++)
            add_rej(r, res->rejected[i]->line, res->rejected[i]->reason);
        for (uint32_t i = 0; i < b->nrows; i++) {
            if (!b->rows[i].programs || rejected_line(res, b->rows[i].line))
                continue;
            if (r->nacct == r->capacct) {
                size_t nc = r->capacct ? r->capacct * 2 : 1024;
                acct_row *na = realloc(r->accts, nc * sizeof *na);
                if (!na) {
                    r->failed = EXIT_INTERNAL;
                    break;
                }
                r->accts = na;
                r->capacct = nc;
            }
            r->accts[r->nacct++] = b->rows[i];
        }
        r->done_rows += b->nrows;
        progress(r, 0);
    }
    free(b);
}

/* The account a registry row asks for: its KK and programmes (PKH if any
 * member counts for a PKH component, BPNT if bpnt is 1). */
static acct_row row_account(uint32_t line, char *const *fields, int n)
{
    acct_row a = {.line = line};
    if (n != KKS_REG_NFIELDS || !kks_digits(fields[0], 16))
        return a;
    a.kk = strtoull(fields[0], NULL, 10);
    for (int i = 11; i < 18; i++)
        if (strtol(fields[i], NULL, 10) > 0)
            a.programs |= 1;
    if (strcmp(fields[18], "1") == 0)
        a.programs |= 2;
    return a;
}

static void on_accounts(int status, const Kks__Envelope *rep, void *ud)
{
    run *r = ud;
    r->inflight--;
    if (status < 0 || rep->body_case != KKS__ENVELOPE__BODY_ACCOUNTS_OPEN_RESULT) {
        ctl_say("kksctl: switch: %s\n",
                status < 0 ? kks_strerror(status)
                : rep->body_case == KKS__ENVELOPE__BODY_ERROR && rep->error->message
                    ? rep->error->message
                    : "unexpected reply");
        if (!r->failed)
            r->failed = status < 0 ? EXIT_PEER : EXIT_INTERNAL;
        return;
    }
    const Kks__AccountsOpenResult *res = rep->accounts_open_result;
    r->opened += res->opened;
    r->updated += res->updated;
    r->acct_unchanged += res->unchanged;
    for (size_t i = 0; i < res->n_rejected; i++)
        add_rej(r, res->rejected[i]->line, res->rejected[i]->reason);
    if (res->next_kk) { /* only for thousands of refused rows, which kksctl never sends */
        ctl_say("kksctl: switch: a batch of accounts was only partly processed\n");
        if (!r->failed)
            r->failed = EXIT_INTERNAL;
    }
}

/* Opens the accounts of the families the issuer accepted, in batches. */
static void open_accounts(run *r, kks_client *sw)
{
    kc_accounts ab;
    if (kc_accounts_init(&ab, ACCOUNT_BATCH) < 0) {
        r->failed = EXIT_INTERNAL;
        return;
    }
    for (size_t at = 0; at < r->nacct && !r->failed; at += ACCOUNT_BATCH) {
        size_t n = r->nacct - at < ACCOUNT_BATCH ? r->nacct - at : ACCOUNT_BATCH;
        Kks__Envelope env;
        kc_accounts_clear(&ab);
        for (size_t i = 0; i < n; i++)
            kc_accounts_add(&ab, r->accts[at + i].line, r->accts[at + i].kk,
                            r->accts[at + i].programs);
        kc_accounts_envelope(&ab, &env);
        while (r->inflight >= IN_FLIGHT && !r->failed)
            uv_run(r->c->loop, UV_RUN_ONCE);
        if (kks_client_call(sw, &env, CTL_TIMEOUT_MS, on_accounts, r) < 0) {
            ctl_say("kksctl: switch: %s\n", kks_client_last_error(sw));
            r->failed = EXIT_PEER;
            break;
        }
        r->inflight++;
    }
    kc_accounts_free(&ab);
    while (r->inflight > 0)
        uv_run(r->c->loop, UV_RUN_ONCE);
    r->accounts_done = !r->failed;
}

static int send_batch(run *r, kks_client *cl, Kks__EnrollRow *rows, const acct_row *accts,
                      size_t n, int last)
{
    Kks__Envelope env = KKS__ENVELOPE__INIT;
    Kks__EnrollBatch b = KKS__ENROLL_BATCH__INIT;
    Kks__EnrollRow *prow[BATCH_ROWS];
    struct batch_ctx *bc = malloc(sizeof *bc + n * sizeof(acct_row));
    int rc;
    if (!bc)
        return KKS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        prow[i] = &rows[i];
    memcpy(bc->rows, accts, n * sizeof *accts);
    b.n_rows = n;
    b.verify_only = r->verify;
    b.last = last;
    b.rows = prow;
    env.body_case = KKS__ENVELOPE__BODY_ENROLL_BATCH;
    env.enroll_batch = &b;
    bc->r = r;
    bc->nrows = (uint32_t)n;
    if ((rc = kks_client_call(cl, &env, CTL_TIMEOUT_MS, on_result, bc)) < 0) {
        free(bc);
        return rc;
    }
    r->inflight++;
    return 0;
}

static int cmp_rej(const void *a, const void *b)
{
    const rej *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

/* Where a row is in the file, for sending rows in KK order. */
typedef struct row_at {
    uint64_t kk; /* the KK as a number; UINT64_MAX when it is not 16 digits */
    unsigned long long offset;
    unsigned long line;
} row_at;

/* Pass 1: structure only, and where each row is. Returns rows (*at: their
 * places, in KK order, then line order), or -1 after printing why. Rows go
 * to the issuer in KK order: its KK and NIK indexes (NIKs start with the same
 * region) are then written a range at a time, not a page per row; 1M
 * generated families enrolled in 11.1 s instead of 20.4 s. */
static long long check_structure(const char *path, const char *data, size_t len, row_at **at)
{
    size_t cap = 0;
    *at = NULL;
    kks_csv csv;
    long long rows = 0;
    int rc;
    if (kks_csv_init_mem(&csv, data, len, 0) < 0)
        return -1;
    rc = kks_csv_next(&csv);
    if (rc == 1 && csv.nfields > 0 && strncmp(csv.fields[0], "\xEF\xBB\xBF", 3) == 0)
        memmove(csv.fields[0], csv.fields[0] + 3, strlen(csv.fields[0] + 3) + 1); /* BOM */
    if (rc != 1 || !kks_csv_is(&csv, kks_registry_header, KKS_REG_NFIELDS)) {
        if (rc < 0)
            ctl_say("kksctl: %s: %s; nothing enrolled\n", path, csv.errmsg);
        else
            ctl_say(
                    "kksctl: %s: not a registry extract: the first line must be the header\n"
                    "  kk,nik,name,birth_date,sex,address,kelurahan,kecamatan,city_code,"
                    "decile,bank,pkh_pregnant,pkh_early_childhood,pkh_sd,pkh_smp,pkh_sma,"
                    "pkh_disability,pkh_elderly,bpnt\nnothing enrolled\n",
                    path);
        kks_csv_close(&csv);
        return -1;
    }
    while ((rc = kks_csv_next(&csv)) == 1) {
        if ((size_t)rows == cap) {
            size_t nc = cap ? cap * 2 : 4096;
            row_at *n = realloc(*at, nc * sizeof *n);
            if (!n) {
                ctl_say("kksctl: out of memory; nothing enrolled\n");
                rc = KKS_ENOMEM;
                break;
            }
            *at = n;
            cap = nc;
        }
        row_at *r = &(*at)[rows++];
        r->kk = UINT64_MAX;
        if (csv.nfields > 0 && kks_digits(csv.fields[0], 16)) {
            r->kk = 0;
            for (int i = 0; i < 16; i++)
                r->kk = r->kk * 10 + (uint64_t)(csv.fields[0][i] - '0');
        }
        r->offset = csv.offset;
        r->line = csv.line;
    }
    if (rc == KKS_EINVAL)
        ctl_say("kksctl: %s: %s; nothing enrolled\n", path, csv.errmsg);
    kks_csv_close(&csv);
    if (rc < 0) {
        free(*at);
        *at = NULL;
        return -1;
    }
    /* rows are in line order: a stable sort by KK keeps them so within a KK */
    if (rows && kks_sort_u64(*at, (size_t)rows, sizeof **at, offsetof(row_at, kk)) < 0) {
        ctl_say("kksctl: out of memory; nothing enrolled\n");
        free(*at);
        *at = NULL;
        return -1;
    }
    return rows;
}

/* Prints the summary; returns EXIT_OK or EXIT_INTERNAL (--json not written). */
static int print_summary(ctl *c, const struct ctl_enroll_stats *r, int verify)
{
    if (c->json) {
        json_t *o = json_pack("{s:I,s:I,s:I}", "rows", (json_int_t)r->rows, "enrolled",
                              (json_int_t)r->enrolled, "unchanged", (json_int_t)r->unchanged);
        kks_json_set(&o, "accounts",
                     r->accounts_done
                         ? json_pack("{s:I,s:I,s:I}", "opened", (json_int_t)r->opened, "updated",
                                     (json_int_t)r->updated, "unchanged",
                                     (json_int_t)r->acct_unchanged)
                         : json_null());
        kks_json_set(&o, "rejected", ctl_rejected_json(r->rejs, r->nrej));
        return ctl_json_print(o);
    }
    if (verify)
        printf("rows %llu, enrolled at the issuer %llu, rejected %zu\n",
               (unsigned long long)r->rows, (unsigned long long)r->unchanged, r->nrej);
    else
        printf("rows %llu, enrolled %llu, unchanged %llu, rejected %zu\n",
               (unsigned long long)r->rows, (unsigned long long)r->enrolled,
               (unsigned long long)r->unchanged, r->nrej);
    if (r->accounts_done)
        printf("accounts at the switch: opened %llu, programmes updated %llu, unchanged %llu\n",
               (unsigned long long)r->opened, (unsigned long long)r->updated,
               (unsigned long long)r->acct_unchanged);
    else
        printf("accounts at the switch: not opened (no switch given: --switch or KKS_SWITCH);"
               " run kksctl accounts open FILE.csv\n");
    for (size_t i = 0; i < r->nrej && i < 100; i++)
        printf("  line %u: %s\n", r->rejs[i].line, r->rejs[i].reason);
    if (r->nrej > 100)
        printf("  ... and %zu more (use --json for all)\n", r->nrej - 100);
    return EXIT_OK;
}

/* The figures of a run into st (which takes the rejections). */
static void keep_stats(run *r, struct ctl_enroll_stats *st)
{
    if (r->nrej)
        qsort(r->rejs, r->nrej, sizeof *r->rejs, cmp_rej);
    st->rows = r->rows;
    st->enrolled = r->enrolled;
    st->unchanged = r->unchanged;
    st->done_rows = r->done_rows;
    st->opened = r->opened;
    st->updated = r->updated;
    st->acct_unchanged = r->acct_unchanged;
    st->accounts_done = r->accounts_done;
    st->rejs = r->rejs;
    st->nrej = r->nrej;
    r->rejs = NULL;
    r->nrej = 0;
}

int ctl_enroll(ctl *c, const char *path, const struct ctl_enroll_opts *o,
               struct ctl_enroll_stats *st)
{
    static Kks__EnrollRow rows[BATCH_ROWS];
    static acct_row accts[BATCH_ROWS];
    /* the batch's rows packed (EnrollRow.packed: each field ended by a NUL),
     * one after the other: BATCH_BYTES and the last row, which may pass it */
    static uint8_t packed[BATCH_BYTES + KKS_CSV_MAX_RECORD + KKS_CSV_MAX_FIELDS];
    run r = {.c = c, .verify = o->verify};
    kks_client *sw = NULL;
    kks_csv csv;
    kks_client *cl;
    long long total;
    int ec = EXIT_OK, rc;
    size_t n = 0, used = 0; /* rows in the batch, bytes of packed used */
    row_at *at = NULL;
    kks_csv_file file;
    char cant[128];

    /* Both passes read the file from memory: the second reads rows out of
     * file order, where a seek is free */
    if (kks_csv_map(&file, path, cant, sizeof cant) < 0) {
        ctl_say("kksctl: %s: %s\n", path, cant);
        return EXIT_USAGE;
    }
    if ((total = check_structure(path, file.data, file.len, &at)) < 0) {
        kks_csv_unmap(&file);
        return EXIT_USAGE;
    }
    r.rows = (uint64_t)total;
    if (!(cl = ctl_peer(c, KKS_ROLE_ISSUER, &ec)) ||
        (c->sw && !(sw = ctl_peer(c, KKS_ROLE_SWITCH, &ec)))) {
        kks_csv_unmap(&file);
        free(at);
        return ec;
    }
    r.tty = !o->quiet && isatty(2);
    r.started = uv_hrtime();
    kks_csv_init_mem(&csv, file.data, file.len, 0);
    unsigned long kk_first = 0; /* the first line of the current KK */
    for (size_t next = 0;;) {
        rc = next < (size_t)total ? kks_csv_seek(&csv, at[next].offset, at[next].line) : 0;
        if (rc == 0)
            rc = next < (size_t)total ? kks_csv_next(&csv) : 0;
        next++;
        if (rc == 1) {
            /* rows come in (KK, line) order: a KK again is the row before's */
            const row_at *cur = &at[next - 1];
            if (next == 1 || cur[-1].kk != cur->kk)
                kk_first = cur->line;
            else if (cur->kk != UINT64_MAX) {
                char why[96];
                snprintf(why, sizeof why, "KK %.16s appears twice in this file (first on line %lu)",
                         csv.fields[0], kk_first);
                add_rej(&r, (unsigned)csv.line, why);
                continue;
            }
            Kks__EnrollRow *row = &rows[n];
            kks__enroll_row__init(row);
            row->line = (unsigned)csv.line;
            row->packed.data = packed + used;
            for (int i = 0; i < csv.nfields; i++) {
                size_t k = strlen(csv.fields[i]) + 1; /* with its NUL */
                memcpy(packed + used, csv.fields[i], k);
                used += k;
            }
            row->packed.len = (size_t)(packed + used - row->packed.data);
            accts[n] = row_account(row->line, csv.fields, csv.nfields);
            n++;
        }
        /* the message: the rows' bytes and about 8 more a row for their framing */
        if ((rc != 1 && n > 0) || n == BATCH_ROWS || used + 8 * n >= BATCH_BYTES) {
            while (r.inflight >= IN_FLIGHT && !r.failed)
                uv_run(c->loop, UV_RUN_ONCE);
            int last = rc != 1 || next >= (size_t)total;
            if (!r.failed && send_batch(&r, cl, rows, accts, n, last) < 0 && !r.failed) {
                ctl_say("kksctl: issuer: %s\n", kks_client_last_error(cl));
                r.failed = EXIT_PEER;
            }
            n = 0;
            used = 0;
        }
        if (rc != 1 || r.failed)
            break;
    }
    while (r.inflight > 0)
        uv_run(c->loop, UV_RUN_ONCE);
    kks_csv_close(&csv);
    kks_csv_unmap(&file);
    free(at);
    progress(&r, 1);
    r.accounts_started = uv_hrtime();
    st->enrol_seconds = (double)(r.accounts_started - r.started) / 1e9;
    if (!r.failed && sw) {
        open_accounts(&r, sw);
        st->accounts_seconds = (double)(uv_hrtime() - r.accounts_started) / 1e9;
    }
    if (r.failed) {
        ctl_say("kksctl: enrolment stopped; %llu rows done. Batches committed stay; "
                "run the same file again to finish (done rows are unchanged).\n",
                (unsigned long long)r.done_rows);
        ec = r.failed;
    } else {
        ec = r.nrej ? EXIT_DECLINED : EXIT_OK;
    }
    keep_stats(&r, st);
    for (size_t i = 0; i < r.nrej; i++)
        free(r.rejs[i].reason);
    free(r.rejs);
    free(r.accts);
    return ec;
}

void ctl_enroll_free(struct ctl_enroll_stats *st)
{
    for (size_t i = 0; i < st->nrej; i++)
        free(st->rejs[i].reason);
    free(st->rejs);
    memset(st, 0, sizeof *st);
}

static int enroll_or_open(ctl *c, int argc, char **argv, int verify)
{
    static const struct option opts[] = {
        {"issuer", required_argument, 0, 'i'}, {"pki", required_argument, 0, 'p'},
        {"switch", required_argument, 0, 's'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},         {0, 0, 0, 0},
    };
    const char *use =
        verify ? "usage: kksctl accounts open FILE.csv [--issuer A] [--switch A] [--json]"
               : "usage: kksctl enroll FILE.csv [--issuer A] [--switch A] [--json]";
    struct ctl_enroll_opts eo = {.verify = verify};
    struct ctl_enroll_stats st = {0};
    int o, ec;

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'i': c->issuer = optarg; break;
        case 'p': c->pki = optarg; break;
        case 's': c->sw = optarg; break;
        case 'j': c->json = 1; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': puts(use); return EXIT_OK;
        default: return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    if (verify && !c->sw) {
        ctl_say("kksctl: accounts open needs the switch (--switch or KKS_SWITCH)\n%s\n",
                use);
        return EXIT_USAGE;
    }
    ec = ctl_enroll(c, argv[optind], &eo, &st);
    if (ec == EXIT_OK || ec == EXIT_DECLINED) {
        int pec = print_summary(c, &st, verify);
        if (pec != EXIT_OK)
            ec = pec;
    }
    ctl_enroll_free(&st);
    return ec;
}

int cmd_enroll(ctl *c, int argc, char **argv)
{
    return enroll_or_open(c, argc, argv, 0);
}

int cmd_accounts(ctl *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--version") == 0)
        return kks_version_print(stdout, "kksctl");
    static const char use[] =
        "usage: kksctl accounts open FILE.csv [--issuer A] [--switch A] [--json]";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts(use);
        return EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "open") != 0) {
        if (argc >= 2)
            ctl_say("kksctl accounts: unknown command %.40s\n", argv[1]);
        ctl_say("%s\n", use);
        return EXIT_USAGE;
    }
    return enroll_or_open(c, argc - 1, argv + 1, 1);
}
