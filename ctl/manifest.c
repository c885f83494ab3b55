/* kksctl manifest: a credit-run manifest (SPEC §7, §10) from a DTSEN registry extract, with
 * the programme policy in the seeds directory.
 *
 * Pass 1 reads the whole extract for structure only (header, quoting, record length, binary
 * bytes); a malformed file writes nothing on stdout and exits 2. Pass 2 validates each row with
 * kks_registry_parse, skips (and reports) invalid rows and second rows for a KK already seen,
 * and writes one manifest row per family with a positive amount. The extract must be a regular
 * file, since it is read twice; memory stays flat whatever its size, apart from the set of KKs
 * seen (12 bytes a slot, about 17 bytes a family). */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "manifest.h"
#include "kks_money.h"
#include "kks_csv.h"
#include "kks_err.h"
#include "kks_policy.h"
#include "kks_registry.h"
#include "kks_seeds.h"

#define MF_IOBUF (1u << 20)

static const char mf_usage[] =
    "usage: kksctl manifest --program pkh|bpnt --period P --registry FILE [--seeds DIR]\n"
    "  --program   pkh (cash, per stage) or bpnt (food, per month)\n"
    "  --period P  pkh: YYYY-T1..T4, or YYYY-B1..B6 in a year of 6 payments; bpnt: YYYY-MM, or YYYY-MM..MM or YYYY-MM..YYYY-MM for a batch of months\n"
    "  --registry  a DTSEN registry extract (the enrolment CSV), a regular file\n"
    "  --seeds DIR policy and reference files (default $KKS_SEEDS, else the installed\n"
    "              share/kks/seeds, else the source tree's; --version shows which)\n"
    "Writes the manifest CSV (program,period,kk,amount) on stdout: one row per family with a\n"
    "positive amount under the policy in DIR. A summary goes to stderr. Exit 0 done, 1 done\n"
    "but some rows were skipped as invalid, 2 usage error or malformed file (nothing written).\n";

typedef struct mf_run {
    /* KKs of valid rows: open addressing on the 16-digit number + 1 (0 marks a free slot),
     * at most 70% full; the line each was first seen on (saturating at UINT32_MAX). */
    uint64_t *keys;
    uint32_t *lines;
    size_t cap, count;
} mf_run;

static void skip_row(struct ctl_manifest_stats *st, unsigned long line, const char *reason)
{
    if (st->nskipped < CTL_MANIFEST_SHOWN) {
        st->shown[st->nskipped].line = line;
        snprintf(st->shown[st->nskipped].reason, sizeof st->shown[0].reason, "%s", reason);
    }
    st->nskipped++;
}

static size_t kk_slot(uint64_t k, size_t cap)
{
    k ^= k >> 30; /* splitmix64's finaliser: KKs share long prefixes */
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    k ^= k >> 31;
    return (size_t)k & (cap - 1);
}

/* 0 if kk is new (and remembers it), the first line it was on if not, or -1 out of memory. */
static long long seen_kk(mf_run *r, const char *kk, unsigned long line)
{
    uint64_t k = 0;
    size_t j;
    for (int i = 0; i < 16; i++)
        k = k * 10 + (uint64_t)(kk[i] - '0');
    k++;
    if (r->count * 10 >= r->cap * 7) {
        size_t nc = r->cap ? r->cap * 2 : (size_t)1 << 16;
        uint64_t *nk = calloc(nc, sizeof *nk);
        uint32_t *nl = calloc(nc, sizeof *nl);
        if (!nk || !nl) {
            free(nk);
            free(nl);
            return -1;
        }
        for (size_t i = 0; i < r->cap; i++) {
            if (!r->keys[i])
                continue;
            for (j = kk_slot(r->keys[i], nc); nk[j]; j = (j + 1) & (nc - 1))
                ;
            nk[j] = r->keys[i];
            nl[j] = r->lines[i];
        }
        free(r->keys);
        free(r->lines);
        r->keys = nk;
        r->lines = nl;
        r->cap = nc;
    }
    for (j = kk_slot(k, r->cap); r->keys[j]; j = (j + 1) & (r->cap - 1))
        if (r->keys[j] == k)
            return (long long)r->lines[j];
    r->keys[j] = k;
    r->lines[j] = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    r->count++;
    return 0;
}

/* Rupiah the Indonesian way: Rp1.234.567.000 (negative amounts never reach here). */
static void fmt_rupiah(int64_t v, char *out, size_t cap)
{
    kks_rupiah(v, '.', out, cap);
}

/* Reads the header; strips a UTF-8 byte-order mark as kksctl enroll does. 0, or -1 after
 * printing why. */
static int read_header(kks_csv *csv, const char *path)
{
    int rc = kks_csv_next(csv);
    if (rc == 1 && strncmp(csv->fields[0], "\xEF\xBB\xBF", 3) == 0)
        memmove(csv->fields[0], csv->fields[0] + 3, strlen(csv->fields[0] + 3) + 1);
    if (rc == 1 && kks_csv_is(csv, kks_registry_header, KKS_REG_NFIELDS))
        return 0;
    if (rc < 0)
        ctl_say("kksctl manifest: %s: %s; no manifest written\n", path, csv->errmsg);
    else
        ctl_say(
                "kksctl manifest: %s: not a registry extract: the first line must be the "
                "header\n  kk,nik,name,birth_date,sex,address,kelurahan,kecamatan,city_code,"
                "decile,bank,pkh_pregnant,pkh_early_childhood,pkh_sd,pkh_smp,pkh_sma,"
                "pkh_disability,pkh_elderly,bpnt\nno manifest written\n",
                path);
    return -1;
}

/* Pass 1: structure only. Returns 0, or -1 after printing why. */
static int check_structure(FILE *f, const char *path)
{
    kks_csv csv;
    int rc;
    if (kks_csv_init(&csv, f, 0) < 0) {
        ctl_say("%s", "kksctl manifest: out of memory\n");
        return -1;
    }
    if (read_header(&csv, path) < 0) {
        kks_csv_close(&csv);
        return -1;
    }
    while ((rc = kks_csv_next(&csv)) == 1)
        ;
    if (rc < 0)
        ctl_say("kksctl manifest: %s: %s; no manifest written\n", path, csv.errmsg);
    kks_csv_close(&csv);
    return rc < 0 ? -1 : 0;
}

/* Appends the decimal digits of v (>= 0) to p; returns the new end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* One manifest being written: its row prefix and its BPNT amount. */
struct mf_prog {
    char prefix[64];
    size_t plen;
    int64_t bpnt_amount;
};

/* Pass 2: validate, compute, write each of the n manifests. EXIT_OK, or an
 * exit code after printing why. */
static int write_manifest(mf_run *r, FILE *f, const char *path, const kks_seeds *seeds,
                          const kks_policy *pol, const struct ctl_manifest_out *outs, int n)
{
    struct mf_prog pg[CTL_MANIFEST_MAX];
    char row[128], why[200];
    kks_csv csv;
    kks_family fam;
    int rc, ec = EXIT_OK;

    for (int i = 0; i < n; i++) {
        const kks_period *per = outs[i].per;
        pg[i].plen = (size_t)snprintf(pg[i].prefix, sizeof pg[i].prefix, "%s,%s,",
                                      kks_program_name(per->program), per->label);
        pg[i].bpnt_amount = 0;
        if (per->program == KKS_PROGRAM_BPNT &&
            (pg[i].bpnt_amount = kks_policy_bpnt_amount(pol, per)) < 0) {
            ctl_say("kksctl manifest: %s: the policy gives no BPNT amount\n", per->label);
            return EXIT_USAGE;
        }
    }
    if (kks_csv_init(&csv, f, 0) < 0) {
        ctl_say("%s", "kksctl manifest: out of memory\n");
        return EXIT_INTERNAL;
    }
    if (read_header(&csv, path) < 0) {
        kks_csv_close(&csv);
        return EXIT_USAGE; /* the file changed since pass 1 */
    }
    for (int i = 0; i < n; i++) {
        if (outs[i].out == stdout)
            ctl_stdout_taken(); /* no error object after the CSV */
        fputs("program,period,kk,amount\n", outs[i].out);
    }
    while ((rc = kks_csv_next(&csv)) == 1) {
        long long first;
        for (int i = 0; i < n; i++)
            outs[i].st->rows++;
        if (kks_registry_parse(seeds, (const char *const *)csv.fields, csv.nfields, &fam, why,
                               sizeof why) < 0) {
            for (int i = 0; i < n; i++)
                skip_row(outs[i].st, csv.line, why);
            continue;
        }
        if ((first = seen_kk(r, fam.kk, csv.line)) != 0) {
            if (first < 0) {
                ctl_say("%s", "kksctl manifest: out of memory\n");
                ec = EXIT_INTERNAL;
                break;
            }
            snprintf(why, sizeof why, "KK %s appears twice in this extract (first on line %lld)",
                     fam.kk, first);
            for (int i = 0; i < n; i++)
                skip_row(outs[i].st, csv.line, why);
            continue;
        }
        for (int i = 0; i < n; i++) {
            struct ctl_manifest_stats *st = outs[i].st;
            int64_t amount;
            int capped = 0;
            st->families++;
            if (outs[i].per->program == KKS_PROGRAM_PKH) {
                amount = kks_policy_pkh_amount(pol, outs[i].per, fam.pkh, &capped);
                st->capped += (uint64_t)capped;
            } else {
                amount = fam.bpnt ? pg[i].bpnt_amount : 0;
            }
            if (amount <= 0)
                continue;
            if (__builtin_add_overflow(st->total, amount, &st->total)) {
                ctl_say("kksctl manifest: the total overflows 64 bits; manifest incomplete\n");
                ec = EXIT_INTERNAL;
                break;
            }
            st->manifest++;
            memcpy(row, pg[i].prefix, pg[i].plen);
            memcpy(row + pg[i].plen, fam.kk, 16);
            row[pg[i].plen + 16] = ',';
            char *end = put_u64(row + pg[i].plen + 17, (uint64_t)amount);
            *end++ = '\n';
            fwrite(row, 1, (size_t)(end - row), outs[i].out);
        }
        if (ec != EXIT_OK)
            break;
    }
    if (rc < 0 && ec == EXIT_OK) {
        ctl_say("kksctl manifest: %s: %s (the file changed while being read?); manifest "
                "incomplete\n", path, csv.errmsg);
        ec = EXIT_USAGE;
    }
    kks_csv_close(&csv);
    for (int i = 0; i < n; i++)
        if (fflush(outs[i].out) != 0 || ferror(outs[i].out)) {
            fprintf(stderr, "kksctl manifest: %s: %s\n", outs[i].name, strerror(errno));
            return EXIT_INTERNAL;
        }
    return ec;
}

static void print_summary(const struct ctl_manifest_stats *r, const kks_period *per,
                          const char *path)
{
    char rp[48];
    fmt_rupiah(r->total, rp, sizeof rp);
    fprintf(stderr,
            "kksctl manifest: %s %s from %s\n"
            "  families in the extract   %llu\n"
            "  skipped as invalid        %llu\n"
            "  families in the manifest  %llu\n"
            "  total                     %s\n"
            "%s%llu\n",
            kks_program_name(per->program), per->label, path, (unsigned long long)r->rows,
            (unsigned long long)r->nskipped, (unsigned long long)r->manifest, rp,
            per->program == KKS_PROGRAM_PKH ? "  cut by a PKH cap          " : "  months in the batch       ",
            per->program == KKS_PROGRAM_PKH ? (unsigned long long)r->capped
                                            : (unsigned long long)per->months);
    for (uint64_t i = 0; i < r->nskipped && i < CTL_MANIFEST_SHOWN; i++)
        fprintf(stderr, "    line %lu: %s\n", r->shown[i].line, r->shown[i].reason);
    if (r->nskipped > CTL_MANIFEST_SHOWN)
        fprintf(stderr, "    ... and %llu more\n",
                (unsigned long long)(r->nskipped - CTL_MANIFEST_SHOWN));
}

int cmd_manifest(ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"program", required_argument, 0, 'p'}, {"period", required_argument, 0, 'e'},
        {"registry", required_argument, 0, 'r'}, {"seeds", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},           {0, 0, 0, 0},
    };
    static char outbuf[MF_IOBUF]; /* static: stdout may still use it after we return */
    const char *program = NULL, *label = NULL, *path = NULL, *dir = kks_seeds_default(NULL);
    static kks_seeds seeds;
    static kks_policy pol;
    static struct ctl_manifest_stats st;
    kks_period per;
    char err[512];
    int o, ec;

    while ((o = ctl_getopt(argc, argv, opts)) != -1) {
        switch (o) {
        case 'p': program = optarg; break;
        case 'e': label = optarg; break;
        case 'r': path = optarg; break;
        case 's': dir = optarg; break;
        case 'V': return kks_version_print(stdout, "kksctl");
        case 'h': fputs(mf_usage, stdout); return EXIT_OK;
        default: ctl_say("%s", mf_usage); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        ctl_say("kksctl manifest: unexpected argument %s\n%s", argv[optind], mf_usage);
        return EXIT_USAGE;
    }
    if (!program || !label || !path) {
        ctl_say("kksctl manifest: --program, --period and --registry are required\n%s",
                mf_usage);
        return EXIT_USAGE;
    }
    if (strcmp(program, "pkh") != 0 && strcmp(program, "bpnt") != 0) {
        ctl_say("kksctl manifest: --program %s: want pkh or bpnt\n", program);
        return EXIT_USAGE;
    }
    if (kks_period_parse(program, label, &per) < 0) {
        ctl_say("kksctl manifest: --period %s: want %s\n", label,
                strcmp(program, "pkh") == 0 ? "YYYY-T1..T4 or YYYY-B1..B6 for pkh"
                                            : "YYYY-MM, YYYY-MM..MM or YYYY-MM..YYYY-MM for bpnt");
        return EXIT_USAGE;
    }
    if (kks_seeds_load(&seeds, dir, err, sizeof err) < 0 ||
        kks_policy_load(&pol, dir, err, sizeof err) < 0) {
        ctl_say("kksctl manifest: seeds: %s\n", err);
        return EXIT_USAGE;
    }
    if (kks_policy_period_check(&pol, &per, err, sizeof err) < 0) {
        ctl_say("kksctl manifest: --period %s: %s\n", label, err);
        return EXIT_USAGE;
    }
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    memset(&st, 0, sizeof st);
    struct ctl_manifest_out out = {.per = &per, .out = stdout, .name = "stdout", .st = &st};
    ec = ctl_manifest_write(path, &seeds, &pol, &out, 1);
    if (ec == EXIT_OK || ec == EXIT_DECLINED)
        print_summary(&st, &per, path);
    return ec;
}

int ctl_manifest_write(const char *path, const kks_seeds *seeds, const kks_policy *pol,
                       const struct ctl_manifest_out *outs, int n)
{
    mf_run r = {0};
    struct stat sb;
    FILE *f;
    int ec;
    if (n < 1 || n > CTL_MANIFEST_MAX)
        return EXIT_INTERNAL;
    if (!(f = fopen(path, "r"))) {
        ctl_say("kksctl manifest: %s: cannot open: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ctl_say("kksctl manifest: %s: not a regular file (the extract is read twice)\n",
                path);
        fclose(f);
        return EXIT_USAGE;
    }
    setvbuf(f, NULL, _IOFBF, MF_IOBUF);
    if (check_structure(f, path) < 0) {
        fclose(f);
        return EXIT_USAGE;
    }
    rewind(f);
    ec = write_manifest(&r, f, path, seeds, pol, outs, n);
    fclose(f);
    free(r.keys);
    free(r.lines);
    if (ec == EXIT_OK && outs[0].st->nskipped) /* the same rows for every manifest */
        ec = EXIT_DECLINED;
    return ec;
}
