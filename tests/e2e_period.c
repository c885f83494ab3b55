/* End to end: kksctl period run against a real issuer and switch: every
 * phase's counts against the single commands' own figures for the same
 * extract, the ledger clean, a second run of the same families and period
 * crediting nothing (exactly once), the chunks being the rows of the one
 * extract kecamatan by kecamatan, the work directory removed, the report written, the exit codes. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdarg.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e_util.h"

TestSuite(period, .init = e2e_setup, .fini = e2e_teardown, .timeout = 300);

#define FAMILIES "20000"
#define CHUNK "7000" /* three chunks, the last one short */
#define SEED "11"
#define MONTH "2026-11" /* bpnt 2026-11, pkh 2026-T4 */

/* kksctl --pki P --issuer A --switch A [--json] then the rest. */
#define ctl(out, json, ...) e2e_ctl(out, (json) ? E2E_CTL_JSON : 0, __VA_ARGS__)

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s ? s : "", 0, &e);
    cr_assert_not_null(j, "not one JSON object (%s): %s", e.text, s ? s : "(null)");
    return j;
}

static long long jint(json_t *j, const char *path)
{
    char buf[128], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        j = json_object_get(j, k);
    cr_assert(json_is_integer(j), "%s is not an integer", path);
    return (long long)json_integer_value(j);
}

/* The phase named name of a summary: its rows; its seconds and rate checked. */
static long long phase_rows(json_t *sum, const char *name)
{
    json_t *ph = json_object_get(sum, "phases"), *p;
    size_t i;
    json_array_foreach(ph, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "phase")), name) != 0)
            continue;
        double s = json_real_value(json_object_get(p, "seconds"));
        double r = json_real_value(json_object_get(p, "rows_per_s"));
        long long rows = json_integer_value(json_object_get(p, "rows"));
        cr_assert(s > 0, "phase %s took no time", name);
        cr_assert(r > 0.99 * (double)rows / s && r < 1.01 * (double)rows / s,
                  "phase %s: rate %f for %lld rows in %f s", name, r, rows, s);
        return rows;
    }
    cr_assert_fail("no phase %s", name);
    return -1;
}

/* What the single commands say of the same extract: its rows with an
 * account to open (a PKH component or BPNT), and each manifest's rows and
 * rupiah. */
typedef struct expect {
    long long families, accounts, rows[2], rupiah[2];
} expect;

static void expected(expect *x)
{
    char path[400], *out = NULL;
    const char *const prog[2][2] = {{"pkh", "2026-T4"}, {"bpnt", MONTH}};
    snprintf(path, sizeof path, "%s/extract.csv", E.dir);
    char *gen[] = {(char *)e2e_bin("kksctl"), "gen", "population", "--families", FAMILIES,
                   "--seed", SEED, NULL};
    cr_assert_eq(e2e_run(&out, gen), 0);
    e2e_write_file(path, out);
    memset(x, 0, sizeof *x);
    for (char *line = strchr(out, '\n') + 1, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        /* the last 8 fields: seven pkh_* counts and bpnt */
        char *f = nl;
        int programmes = 0;
        for (int k = 0; k < 8; k++) {
            while (f[-1] != ',')
                f--;
            programmes |= atoi(f) > 0;
            f--;
        }
        x->families++;
        x->accounts += programmes;
    }
    free(out);
    for (int i = 0; i < 2; i++) {
        char *mf[] = {(char *)e2e_bin("kksctl"), "manifest", "--program", (char *)prog[i][0],
                      "--period", (char *)prog[i][1], "--registry", path, NULL};
        cr_assert_eq(e2e_run(&out, mf), 0);
        for (char *line = strchr(out, '\n') + 1, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            *nl = '\0';
            x->rows[i]++;
            x->rupiah[i] += strtoll(strrchr(line, ',') + 1, NULL, 10);
        }
        free(out);
    }
    cr_assert_eq(x->families, atoll(FAMILIES));
    cr_assert(x->rows[0] > 0 && x->rows[1] > 0 && x->accounts >= x->rows[1]);
}

static int dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    cr_assert_not_null(d, "%s", path);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n == 0;
}

static void ledger_ok(void)
{
    char *out = NULL;
    cr_assert_eq(ctl(&out, 1, "ledger", "check"), 0, "ledger check: %s", out);
    cr_assert(strstr(out, "\"ok\":true"), "%s", out);
    free(out);
}

typedef struct line_at {
    const char *p;
    size_t len, n; /* n: its place in the extract */
} line_at;

static int by_kecamatan(const void *a, const void *b)
{
    const line_at *x = a, *y = b;
    int c = memcmp(x->p, y->p, 6);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* The chunks kept in keep (extract-0001.csv ..), each header first, are the
 * rows of the one extract (path ext) kecamatan by kecamatan: their rows end
 * to end are the extract stably sorted by the KK's first six digits (its
 * kecamatan, whose first two are the province), size rows a chunk but the
 * last. */
static void chunks_are_places(const char *ext, const char *keep, int nchunks, size_t size)
{
    char path[400];
    char *whole = e2e_slurp(ext);
    cr_assert(whole, "%s", ext);
    size_t hlen = (size_t)(strchr(whole, '\n') + 1 - whole), wlen = strlen(whole), total = 0;
    char *want = malloc(wlen + 1), *got = malloc(wlen + 1);
    size_t nwant = 0, ngot = 0;
    cr_assert(want && got);
    for (char *l = whole + hlen; *l; l = strchr(l, '\n') + 1)
        total++;
    line_at *lines = calloc(total + 1, sizeof *lines);
    cr_assert(lines);
    total = 0;
    for (char *l = whole + hlen; *l; l = strchr(l, '\n') + 1, total++)
        lines[total] = (line_at){l, (size_t)(strchr(l, '\n') + 1 - l), total};
    qsort(lines, total, sizeof *lines, by_kecamatan);
    for (size_t i = 0; i < total; i++) {
        memcpy(want + nwant, lines[i].p, lines[i].len);
        nwant += lines[i].len;
    }
    free(lines);
    for (int k = 1; k <= nchunks; k++) {
        snprintf(path, sizeof path, "%s/extract-%04d.csv", keep, k);
        char *part = e2e_slurp(path);
        size_t rows = 0, len;
        cr_assert(part, "%s", path);
        cr_assert(strncmp(part, whole, hlen) == 0, "chunk %d does not start with the header", k);
        for (char *l = part + hlen; *l; l = strchr(l, '\n') + 1)
            rows++;
        cr_assert_eq(rows, k < nchunks ? size : total - (size_t)(nchunks - 1) * size,
                     "chunk %d: %zu rows", k, rows);
        len = strlen(part) - hlen;
        cr_assert(ngot + len <= wlen);
        memcpy(got + ngot, part + hlen, len);
        ngot += len;
        free(part);
    }
    snprintf(path, sizeof path, "%s/extract-%04d.csv", keep, nchunks + 1);
    cr_assert(access(path, F_OK) != 0, "a chunk too many: %s", path);
    cr_assert(ngot == nwant && memcmp(got, want, nwant) == 0,
              "the chunks are not the extract's rows kecamatan by kecamatan");
    free(want);
    free(got);
    free(whole);
}

Test(period, run_then_again_exactly_once)
{
    char tmp[400], report[400], keep[300], chunk2[400], *out = NULL;
    expect x;
    E.metrics = 1;
    e2e_start_issuer();
    e2e_start_switch();
    expected(&x);
    snprintf(tmp, sizeof tmp, "%s/tmp", E.dir);
    snprintf(report, sizeof report, "%s/period.html", E.dir);
    cr_assert_eq(mkdir(tmp, 0700), 0);
    setenv("TMPDIR", tmp, 1);

    cr_assert_eq(ctl(&out, 1, "period", "run", "--families", FAMILIES, "--seed", SEED, "--chunk",
                     CHUNK, "--month", MONTH, "--report", report, "--metrics", E.switch_metrics),
                 0, "%s", out);
    json_t *j = parse(out);
    cr_assert(json_is_true(json_object_get(j, "complete")), "%s", out);
    cr_assert_eq(jint(j, "chunks"), 3);
    cr_assert_eq(jint(j, "chunks_done"), 3);
    cr_assert_eq(phase_rows(j, "generate"), x.families);
    cr_assert_eq(phase_rows(j, "enrol"), x.families);
    cr_assert_eq(jint(j, "enrol.enrolled"), x.families, "%s", out);
    cr_assert_eq(jint(j, "enrol.unchanged"), 0);
    cr_assert_eq(phase_rows(j, "accounts"), x.accounts);
    cr_assert_eq(jint(j, "accounts.opened"), x.accounts, "%s", out);
    cr_assert_eq(phase_rows(j, "manifests"), x.families);
    const char *const prog[2] = {"pkh", "bpnt"};
    for (int i = 0; i < 2; i++) {
        char k[64];
        json_t *p = json_object_get(j, prog[i]);
        cr_assert_eq(phase_rows(j, i == 0 ? "credit pkh" : "credit bpnt"), x.rows[i]);
        cr_assert_eq(jint(p, "manifest_rows"), x.rows[i], "%s: %s", prog[i], out);
        cr_assert_eq(jint(p, "manifest_rupiah"), x.rupiah[i], "%s: %s", prog[i], out);
        cr_assert_eq(jint(p, "credited"), x.rows[i], "%s: %s", prog[i], out);
        cr_assert_eq(jint(p, "rupiah"), x.rupiah[i], "%s: %s", prog[i], out);
        cr_assert_eq(jint(p, "already_credited"), 0);
        cr_assert_eq(jint(p, "rejected"), 0);
        snprintf(k, sizeof k, "%s", i == 0 ? "2026-T4" : MONTH);
        cr_assert_str_eq(json_string_value(json_object_get(p, "period")), k);
    }
    cr_assert_eq(jint(j, "rejected_count"), 0);
    cr_assert(jint(j, "kksctl_peak_rss_bytes") > 0);
    cr_assert(json_is_true(json_object_get(json_object_get(j, "switch_memory"), "sampled")), "%s",
              out);
    json_decref(j);
    free(out);
    cr_assert(dir_empty(tmp), "the work directory under TMPDIR was left behind");
    cr_assert(e2e_file_has(report, "kksctl period run"));
    cr_assert(e2e_file_has(report, "PKH 2026-T4: Credits over time"));
    cr_assert(e2e_file_has(report, "BPNT " MONTH ": The switch&#39;s memory and WAL"));
    ledger_ok();

    /* The same families and period again, keeping the chunks' files: nothing
     * new anywhere, each manifest row already credited. */
    snprintf(keep, sizeof keep, "%s/keep", E.dir);
    cr_assert_eq(ctl(&out, 1, "period", "run", "--families", FAMILIES, "--seed", SEED, "--chunk",
                     CHUNK, "--month", MONTH, "--keep", keep ),
                 0, "%s", out);
    j = parse(out);
    cr_assert_eq(jint(j, "enrol.enrolled"), 0, "%s", out);
    cr_assert_eq(jint(j, "enrol.unchanged"), x.families, "%s", out);
    cr_assert_eq(jint(j, "accounts.opened"), 0, "%s", out);
    cr_assert_eq(jint(j, "accounts.unchanged"), x.accounts, "%s", out);
    for (int i = 0; i < 2; i++) {
        json_t *p = json_object_get(j, prog[i]);
        cr_assert_eq(jint(p, "credited"), 0, "%s: %s", prog[i], out);
        cr_assert_eq(jint(p, "rupiah"), 0, "%s: %s", prog[i], out);
        cr_assert_eq(jint(p, "already_credited"), x.rows[i], "%s: %s", prog[i], out);
    }
    json_decref(j);
    free(out);
    ledger_ok();

    /* the chunks kept are the one extract kecamatan by kecamatan */
    snprintf(chunk2, sizeof chunk2, "%s/extract.csv", E.dir);
    chunks_are_places(chunk2, keep, 3, 7000);
    /* each chunk's two manifests (written from one reading of its extract)
     * are, byte for byte, what kksctl manifest writes of that extract */
    for (int k = 1; k <= 3; k++) {
        const char *const period[2] = {"2026-T4", MONTH};
        char ext[400], mf[400];
        snprintf(ext, sizeof ext, "%s/extract-%04d.csv", keep, k);
        for (int i = 0; i < 2; i++) {
            char *argv[] = {(char *)e2e_bin("kksctl"), "manifest", "--program", (char *)prog[i],
                            "--period", (char *)period[i], "--registry", ext, NULL};
            char *kept;
            snprintf(mf, sizeof mf, "%s/%s-%04d.csv", keep, prog[i], k);
            cr_assert_eq(e2e_run(&out, argv), 0);
            cr_assert_not_null(kept = e2e_slurp(mf), "%s", mf);
            cr_assert(strchr(out, '\n') != strrchr(out, '\n'), "%s: no rows", mf);
            cr_assert_str_eq(kept, out, "%s differs from kksctl manifest of %s", mf, ext);
            free(kept);
            free(out);
        }
    }
}

Test(period, text_summary_and_usage)
{
    char *out = NULL;
    e2e_start_issuer();
    e2e_start_switch();
    char keep[400], ext[400];
    snprintf(keep, sizeof keep, "%s/keep", E.dir);
    cr_assert_eq(ctl(&out, 0, "period", "run", "--families", "1500", "--chunk", "1000",
                     "--month", MONTH, "--keep", keep),
                 0, "%s", out);
    cr_assert(strstr(out, "period run: 1500 families (seed 1), pkh 2026-T4, bpnt 2026-11, 2 "
                          "chunks of 1000"), "%s", out);
    cr_assert(strstr(out, "  generate             1500"), "%s", out);
    cr_assert(strstr(out, "  enrolled 1500, unchanged 0"), "%s", out);
    cr_assert(strstr(out, "  rejected 0\n"), "%s", out);
    free(out);
    /* fewer families than the province table has entries: provinces with a
     * row or two, some with none */
    char *gen[] = {(char *)e2e_bin("kksctl"), "gen", "population", "--families", "1500",
                   "--seed", "1", NULL};
    snprintf(ext, sizeof ext, "%s/extract.csv", E.dir);
    cr_assert_eq(e2e_run(&out, gen), 0);
    e2e_write_file(ext, out);
    free(out);
    chunks_are_places(ext, keep, 2, 1000);
    /* usage errors, each before anything is sent */
    cr_assert_eq(ctl(NULL, 0, "period", "run"), 2);
    cr_assert_eq(ctl(NULL, 0, "period", "run", "--families", "0"), 2);
    cr_assert_eq(ctl(NULL, 0, "period", "run", "--families", "10", "--chunk", "10"), 2);
    cr_assert_eq(ctl(NULL, 0, "period", "run", "--families", "10", "--month", "2026-13"),
                 2);
    cr_assert_eq(ctl(NULL, 0, "period", "run", "--families", "10", "--metrics", "nowhere"),
                 2);
    cr_assert_eq(ctl(&out, 0, "period", "--help"), 0);
    cr_assert(strstr(out, "usage: kksctl period run --families N"), "%s", out);
    free(out);
}

Test(period, unreachable_issuer)
{
    char *out = NULL, addr[64];
    /* a port the kernel gave and took back: nothing listens there */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    close(fd);
    char *argv[] = {(char *)e2e_bin("kksctl"), "--pki", E.pki, "--issuer", addr, "--switch", addr,
                    "--json", "period", "run", "--families", "1000", "--month", MONTH, NULL};
    cr_assert_eq(e2e_run(&out, argv), 3, "%s", out);
    free(out);
}
