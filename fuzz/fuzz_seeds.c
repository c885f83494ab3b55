/* libFuzzer target: the seeds and policy files every daemon and kksctl load
 * at start (core/seeds.c, policy.c, catalog.c, docs.c, desk.c). The first
 * byte picks one of the files below, the rest replaces it in a private copy
 * of the repository's seeds/ (made once, in LLVMFuzzerInitialize), and every
 * loader that reads the file loads the directory; then the file is put back.
 * Checks: a loader returns 0 or KKS_EINVAL/KKS_ENOMEM, a refusal names the
 * file in its message, and what loaded stays within its fixed tables. Build
 * and run: make fuzz. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kks_catalog.h"
#include "kks_desk.h"
#include "kks_docs.h"
#include "kks_err.h"
#include "kks_policy.h"
#include "kks_seeds.h"

enum { L_SEEDS = 1, L_POLICY = 2, L_CATALOG = 4, L_TERMINALS = 8, L_DOCS = 16, L_DESK = 32 };

static const struct {
    const char *name;
    int loaders;
} files[] = {
    {"banks.csv", L_SEEDS | L_TERMINALS},
    {"provinces.csv", L_SEEDS | L_TERMINALS},
    {"kecamatan.csv", L_SEEDS | L_TERMINALS},
    {"kelurahan.csv", L_SEEDS | L_TERMINALS},
    {"card-policy.csv", L_SEEDS | L_TERMINALS},
    {"registry-policy.csv", L_SEEDS | L_TERMINALS},
    {"pkh-components.csv", L_POLICY},
    {"programme-policy.csv", L_POLICY},
    {"periods.csv", L_POLICY},
    {"staples.csv", L_CATALOG},
    {"bpnt-categories.csv", L_CATALOG},
    {"bpnt-category-periods.csv", L_CATALOG},
    {"terminals.csv", L_TERMINALS},
    {"document-policy.csv", L_DOCS},
    {"complaint-policy.csv", L_DESK},
    /* appended, so that the corpus's first bytes keep naming the same files */
    {"province-population.csv", L_SEEDS | L_TERMINALS},
    {"cities.csv", L_SEEDS | L_TERMINALS},
};
#define NFILES (sizeof files / sizeof files[0])

static char dir[64];
static char *orig[NFILES];
static size_t orig_len[NFILES];

static void check(int ok, const char *file, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_seeds: %s: %s\n", file, what);
        abort();
    }
}

static void put(const char *name, const void *p, size_t n)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "wb")) || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        abort();
}

/* At exit: the private copy goes (libFuzzer exits normally at its time limit). */
static void remove_dir(void)
{
    char path[256];
    for (size_t i = 0; i < NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        unlink(path);
        free(orig[i]);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof dir, "/tmp/kks-fuzz-seeds-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    for (size_t i = 0; i < NFILES; i++) {
        char path[4096];
        FILE *f;
        long n;
        snprintf(path, sizeof path, "%s/%s", KKS_DEFAULT_SEEDS, files[i].name);
        if (!(f = fopen(path, "rb")) || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
            abort();
        rewind(f);
        if (!(orig[i] = malloc((size_t)n + 1)) || fread(orig[i], 1, (size_t)n, f) != (size_t)n)
            abort();
        fclose(f);
        orig_len[i] = (size_t)n;
        put(files[i].name, orig[i], orig_len[i]);
    }
    atexit(remove_dir);
    return 0;
}

static void refused(int rc, const char *file, const char *err)
{
    check(rc == KKS_EINVAL || rc == KKS_ENOMEM, file, "an unexpected error code");
    check(err[0] != '\0', file, "refused without a message");
    check(rc != KKS_EINVAL || strstr(err, ".csv") != NULL, file, "a refusal names no file");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kks_seeds s;
    static kks_policy p;
    static kks_catalog c;
    static kks_terminals t;
    static kks_docs d;
    static kks_desk_policy dp;
    char err[1024] = "";
    size_t which;
    int rc, l;
    if (size < 1)
        return 0;
    which = data[0] % NFILES;
    l = files[which].loaders;
    put(files[which].name, data + 1, size - 1);
    const char *fn = files[which].name;
    if (l & L_SEEDS) {
        if ((rc = kks_seeds_load(&s, dir, err, sizeof err)) < 0)
            refused(rc, fn, err);
        else
            check(s.nbanks >= 0 && s.nbanks <= KKS_MAX_BANKS && s.ncities >= 0 &&
                      s.ncities <= KKS_MAX_CITIES && s.nkecamatan >= 0 &&
                      s.nkecamatan <= KKS_MAX_KECAMATAN && s.nkelurahan >= 0 &&
                      s.nkelurahan <= KKS_MAX_KELURAHAN,
                  fn, "counts outside the tables");
    }
    err[0] = '\0';
    if ((l & L_POLICY) && (rc = kks_policy_load(&p, dir, err, sizeof err)) < 0)
        refused(rc, fn, err);
    err[0] = '\0';
    if ((l & L_CATALOG) && (rc = kks_catalog_load(&c, dir, err, sizeof err)) < 0)
        refused(rc, fn, err);
    err[0] = '\0';
    if ((l & L_TERMINALS) && (rc = kks_terminals_load(&t, dir, err, sizeof err)) < 0)
        refused(rc, fn, err);
    err[0] = '\0';
    if ((l & L_DOCS) && (rc = kks_docs_load(&d, dir, err, sizeof err)) < 0)
        refused(rc, fn, err);
    err[0] = '\0';
    if ((l & L_DESK) && (rc = kks_desk_policy_load(&dp, dir, err, sizeof err)) < 0)
        refused(rc, fn, err);
    put(files[which].name, orig[which], orig_len[which]);
    return 0;
}
