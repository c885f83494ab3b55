/* Reading a credit-run manifest: see credit_manifest.h. The whole file is read
 * first, so that a structural error credits nothing. */
#include <stdlib.h>
#include <string.h>

#include "credit_manifest.h"
#include "kks_csv.h"
#include "kks_policy.h"
#include "kks_registry.h"
#include "kks_reject.h"

void credit_manifest_reject(credit_manifest *m, uint32_t line, unsigned kind,
                           const char *reason)
{
    char *copy;
    if (m->nrej == m->caprej) {
        size_t nc = m->caprej ? m->caprej * 2 : 64;
        ctl_rej *n = realloc(m->rejs, nc * sizeof *n);
        if (!n) {
            m->failed = EXIT_INTERNAL;
            return;
        }
        m->rejs = n;
        m->caprej = nc;
    }
    if (!(copy = strdup(reason))) {
        m->failed = EXIT_INTERNAL;
        return;
    }
    m->rejs[m->nrej].line = line;
    m->rejs[m->nrej].reason = copy;
    m->rejs[m->nrej].kind = kind;
    m->nrej++;
}

void credit_manifest_free(credit_manifest *m)
{
    for (size_t i = 0; i < m->nrej; i++)
        free(m->rejs[i].reason);
    free(m->rejs);
    free(m->rows);
    memset(m, 0, sizeof *m);
}

/* The reader over f, or over data and len when f is NULL. */
static int manifest_read(credit_manifest *m, FILE *f, const char *data, size_t len,
                         const char *path)
{
    static const char *const hdr[] = {"program", "period", "kk", "amount"};
    kks_csv csv;
    int rc, ec = EXIT_OK;
    if ((f ? kks_csv_init(&csv, f, 4096) : kks_csv_init_mem(&csv, data, len, 4096)) < 0)
        return EXIT_INTERNAL;
    rc = kks_csv_next(&csv);
    if (rc != 1 || !kks_csv_is(&csv, hdr, 4)) {
        ctl_say("kksctl: %s: %s; nothing credited\n", path,
                rc < 0 ? csv.errmsg : "not a manifest: the header must be program,period,kk,amount");
        ec = EXIT_USAGE;
        goto out;
    }
    while ((rc = kks_csv_next(&csv)) == 1) {
        uint32_t line = (uint32_t)csv.line;
        if (csv.nfields != 4) {
            credit_manifest_reject(m, line, KKS_REJECT_BAD_ROW,
                                   "expected 4 fields: program,period,kk,amount");
            continue;
        }
        if (!m->program[0]) {
            kks_period per;
            if (kks_period_parse(csv.fields[0], csv.fields[1], &per) < 0) {
                ctl_say("kksctl: %s line %u: not a programme and period: %.8s %.30s "
                        "(pkh YYYY-T1..T4 or YYYY-B1..B6; bpnt YYYY-MM, YYYY-MM..MM or "
                        "YYYY-MM..YYYY-MM); nothing credited\n",
                        path, line, csv.fields[0], csv.fields[1]);
                ec = EXIT_USAGE;
                goto out;
            }
            snprintf(m->program, sizeof m->program, "%s", csv.fields[0]);
            snprintf(m->period, sizeof m->period, "%s", csv.fields[1]);
        } else if (strcmp(csv.fields[0], m->program) != 0 ||
                   strcmp(csv.fields[1], m->period) != 0) {
            ctl_say("kksctl: %s line %u: %.8s %.30s, but the file is %s %s: one programme "
                    "and period per manifest; nothing credited\n",
                    path, line, csv.fields[0], csv.fields[1], m->program, m->period);
            ec = EXIT_USAGE;
            goto out;
        }
        int64_t amount;
        if (!kks_digits(csv.fields[2], 16)) {
            credit_manifest_reject(m, line, KKS_REJECT_BAD_KK, "KK must be 16 digits");
            continue;
        }
        if (kks_parse_digits(csv.fields[3], 0, 999999999999999, &amount) < 0) {
            credit_manifest_reject(m, line, KKS_REJECT_BAD_AMOUNT,
                                   "amount must be whole rupiah (digits only)");
            continue;
        }
        if (m->nrows == m->caprows) {
            size_t nc = m->caprows ? m->caprows * 2 : 1 << 16;
            credit_row *nr = realloc(m->rows, nc * sizeof *nr);
            if (!nr) {
                ctl_say("kksctl: out of memory reading %s\n", path);
                ec = EXIT_INTERNAL;
                goto out;
            }
            m->rows = nr;
            m->caprows = nc;
        }
        uint64_t kk = 0;
        for (const char *d = csv.fields[2]; *d; d++) /* 16 digits, checked above */
            kk = kk * 10 + (uint64_t)(*d - '0');
        m->rows[m->nrows].kk = kk;
        m->rows[m->nrows].amount = amount;
        m->rows[m->nrows].line = line;
        m->nrows++;
    }
    if (rc < 0) {
        ctl_say("kksctl: %s: %s; nothing credited\n", path, csv.errmsg);
        ec = EXIT_USAGE;
    } else if (!m->program[0]) {
        ctl_say("kksctl: %s: no rows\n", path);
        ec = EXIT_USAGE;
    }
out:
    kks_csv_close(&csv);
    return ec;
}

int credit_manifest_read(credit_manifest *m, FILE *f, const char *path)
{
    return manifest_read(m, f, NULL, 0, path);
}

int credit_manifest_read_mem(credit_manifest *m, const char *data, size_t len, const char *path)
{
    return manifest_read(m, NULL, data, len, path);
}
