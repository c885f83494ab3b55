/* A driver that runs a libFuzzer target without libFuzzer, for the smoke
 * tests in `make test` (tests/CMakeLists.txt, fuzz_smoke_<name>): it calls
 * LLVMFuzzerInitialize (when the target has one), then LLVMFuzzerTestOneInput
 * on every file of the seed corpus directory, then on MUTATIONS pseudo-random
 * mutations of them (flipped, inserted, deleted and copied bytes, truncation,
 * two seeds spliced). The random source is a fixed xorshift, so a failure
 * happens again on the next run; KKS_FUZZ_SMOKE_SEED changes it.
 *
 *   fuzz_smoke_NAME CORPUS_DIR [MUTATIONS]
 *
 * A target reports a broken promise by aborting, and the sanitizers of the
 * test build report the rest: the exit status is the test's result. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define SMOKE_MAX_INPUT (64u * 1024u) /* a seed or a mutant is cut to this */
#define SMOKE_MAX_SEEDS 256

typedef struct seed {
    uint8_t *data;
    size_t len;
} seed;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

/* Reads a whole file, at most SMOKE_MAX_INPUT bytes. NULL if it cannot. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    if (!f)
        return NULL;
    if (!(buf = malloc(SMOKE_MAX_INPUT))) {
        fclose(f);
        return NULL;
    }
    *len = fread(buf, 1, SMOKE_MAX_INPUT, f);
    fclose(f);
    return buf;
}

/* Runs the target on a heap copy of exactly len bytes, so that ASan sees a
 * read one past the end. */
static void run_one(const uint8_t *p, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fprintf(stderr, "fuzz smoke: out of memory\n");
        exit(2);
    }
    if (len)
        memcpy(copy, p, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

/* One mutant of s (and maybe of other) in buf; returns its length. */
static size_t mutate(const seed *s, const seed *other, uint8_t *buf)
{
    size_t len = s->len, n = 1 + below(4);
    memcpy(buf, s->data, len);
    while (n--) {
        size_t at = below(len + 1);
        switch (below(7)) {
        case 0: /* flip bits */
            if (len)
                buf[below(len)] ^= (uint8_t)(1u << below(8));
            break;
        case 1: /* an interesting byte */
            if (len) {
                static const uint8_t b[] = {0, '\n', '\r', ',', '"', ':', '[', ']', '-', '9', 0xff};
                buf[below(len)] = b[below(sizeof b)];
            }
            break;
        case 2: /* insert a random byte */
            if (len < SMOKE_MAX_INPUT) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = (uint8_t)rng();
                len++;
            }
            break;
        case 3: /* delete a run */
            if (at < len) {
                size_t k = 1 + below(len - at < 16 ? len - at : 16);
                memmove(buf + at, buf + at + k, len - at - k);
                len -= k;
            }
            break;
        case 4: /* truncate */
            len = at;
            break;
        case 5: /* copy a run within the input */
            if (len) {
                uint8_t run[64];
                size_t from = below(len), k = 1 + below(len - from < 64 ? len - from : 64);
                if (len + k <= SMOKE_MAX_INPUT) {
                    memcpy(run, buf + from, k);
                    memmove(buf + at + k, buf + at, len - at);
                    memcpy(buf + at, run, k);
                    len += k;
                }
            }
            break;
        default: /* splice: our head, the other's tail */
            if (other->len) {
                size_t from = below(other->len), k = other->len - from;
                if (at + k > SMOKE_MAX_INPUT)
                    k = SMOKE_MAX_INPUT - at;
                memcpy(buf + at, other->data + from, k);
                len = at + k;
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    seed seeds[SMOKE_MAX_SEEDS];
    size_t nseeds = 0, i;
    long mutations = argc > 2 ? strtol(argv[2], NULL, 10) : 500;
    const char *env = getenv("KKS_FUZZ_SMOKE_SEED");
    struct dirent *de;
    uint8_t *buf;
    DIR *d;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
        return 2;
    }
    if (env && strtoull(env, NULL, 10))
        rng_state = strtoull(env, NULL, 10);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    if (!(d = opendir(argv[1]))) {
        fprintf(stderr, "fuzz smoke: %s: cannot open: %s\n", argv[1], strerror(errno));
        return 2;
    }
    while ((de = readdir(d)) && nseeds < SMOKE_MAX_SEEDS) {
        char path[4096];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        if ((seeds[nseeds].data = slurp(path, &seeds[nseeds].len)))
            nseeds++;
    }
    closedir(d);
    if (nseeds == 0) {
        fprintf(stderr, "fuzz smoke: no seeds in %s\n", argv[1]);
        return 2;
    }
    for (i = 0; i < nseeds; i++)
        run_one(seeds[i].data, seeds[i].len);
    run_one((const uint8_t *)"", 0);
    if (!(buf = malloc(SMOKE_MAX_INPUT)))
        return 2;
    for (long m = 0; m < mutations; m++) {
        const seed *s = &seeds[below(nseeds)], *o = &seeds[below(nseeds)];
        run_one(buf, mutate(s, o, buf));
    }
    free(buf);
    for (i = 0; i < nseeds; i++)
        free(seeds[i].data);
    printf("fuzz smoke: %zu seeds and %ld mutations of them, no failure\n", nseeds, mutations);
    return 0;
}
