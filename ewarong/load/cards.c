/* The cards of a load run, prepared as an operator would: a generated
 * registry extract enrolled (accounts opened at the switch), the cards
 * printed and handed over per bank, PKH and BPNT credited; the caller
 * activates them. Remembered in the state directory for the next run on the
 * same switch:
 *
 *   DIR/pin.key     32 random bytes (hex, 0600): the cards' PINs are
 *                   HMAC-SHA-256(key, PAN) as six digits; no PIN is stored
 *   DIR/cards.csv   "switch ADDR" then "pan,nik,pkh,bpnt" rows (0600: NIKs)
 *   DIR/prep/       the extract, print files and manifests of the last
 *                   preparation (0600), for the curious */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "kks_csv.h"
#include "kks_docs.h"
#include "kks_err.h"
#include "kks_pin.h"
#include "load.h"

#define CARDS_MAX 1000000

int ld_mkdir_p(const char *dir)
{
    char p[1024];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* A file written whole or not at all: tmp_open makes PATH.tmp (0600: NIKs,
 * PINs' key), tmp_done fsyncs and renames it over path when ok, else removes
 * it; -1 on any failure (errno says why). */
static int tmp_open(const char *path, char tmp[1300])
{
    snprintf(tmp, 1300, "%s.tmp", path);
    return open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

static int tmp_done(int fd, const char *tmp, const char *path, int ok)
{
    int rc = ok && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) < 0 || (rc == 0 && rename(tmp, path) < 0))
        rc = -1;
    if (rc < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    return rc;
}

static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[1300];
    int fd = tmp_open(path, tmp);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    return tmp_done(fd, tmp, path, off == len);
}

static int load_key(const ld_world *w, uint8_t key[32], char *why, size_t cap)
{
    char path[1100], hex[80];
    snprintf(path, sizeof path, "%s/pin.key", w->state);
    FILE *f = fopen(path, "r");
    if (f) {
        int ok = fgets(hex, sizeof hex, f) && strlen(hex) >= 64;
        fclose(f);
        for (int i = 0; ok && i < 32; i++) {
            unsigned v;
            ok = sscanf(hex + 2 * i, "%2x", &v) == 1;
            key[i] = (uint8_t)v;
        }
        if (ok)
            return 0;
        snprintf(why, cap, "%s is not a key (64 hex digits); remove it to start afresh", path);
        return -1;
    }
    if (RAND_bytes(key, 32) != 1) {
        snprintf(why, cap, "no randomness for the PIN key");
        return -1;
    }
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    hex[64] = '\n';
    if (write_file(path, hex, 65) < 0) {
        snprintf(why, cap, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void ld_pin(const ld_cards *c, const char *pan, char pin[7])
{
    uint8_t mac[32];
    unsigned len = sizeof mac;
    HMAC(EVP_sha256(), c->key, sizeof c->key, (const uint8_t *)pan, strlen(pan), mac, &len);
    for (unsigned i = 0;; i += 4) {
        uint32_t x = ((uint32_t)mac[i % 28] << 24 | (uint32_t)mac[i % 28 + 1] << 16 |
                      (uint32_t)mac[i % 28 + 2] << 8 | mac[i % 28 + 3]) +
                     i;
        snprintf(pin, 7, "%06" PRIu32, x % 1000000u);
        if (!kks_pin_trivial(pin))
            break;
    }
    OPENSSL_cleanse(mac, sizeof mac);
}

void ld_cards_free(ld_cards *c)
{
    free(c->v);
    OPENSSL_cleanse(c->key, sizeof c->key);
    memset(c, 0, sizeof *c);
}

static int add_card(ld_cards *c, size_t *cap, const char *pan, const char *nik, int pkh, int bpnt)
{
    if (strlen(pan) < 12 || strlen(pan) > 19 || strlen(nik) != 16)
        return 0;
    if (c->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 1024;
        ld_card *v = realloc(c->v, ncap * sizeof *v);
        if (!v)
            return -1;
        c->v = v;
        *cap = ncap;
    }
    ld_card *k = &c->v[c->n++];
    snprintf(k->pan, sizeof k->pan, "%s", pan);
    snprintf(k->nik, sizeof k->nik, "%s", nik);
    k->pkh = (uint8_t)(pkh != 0);
    k->bpnt = (uint8_t)(bpnt != 0);
    return 0;
}

/* The remembered cards, if they are for this world (c->world): the count, or 0. */
static size_t remembered(const ld_world *w, ld_cards *c)
{
    char path[1100];
    size_t cap = 0;
    snprintf(path, sizeof path, "%s/cards.csv", w->state);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    kks_csv csv;
    static const char *const hdr[] = {"pan", "nik", "pkh", "bpnt"};
    int ok = kks_csv_init(&csv, f, 4096) == 0 && kks_csv_next(&csv) == 1 && csv.nfields == 2 &&
             strcmp(csv.fields[0], "world") == 0 && strcmp(csv.fields[1], c->world) == 0 &&
             kks_csv_next(&csv) == 1 && kks_csv_is(&csv, hdr, 4);
    while (ok && c->n < CARDS_MAX && kks_csv_next(&csv) == 1)
        if (csv.nfields != 4 || add_card(c, &cap, csv.fields[0], csv.fields[1],
                                         atoi(csv.fields[2]), atoi(csv.fields[3])) < 0)
            ok = 0;
    ok = ok && !csv.error;
    kks_csv_close(&csv);
    fclose(f);
    if (!ok) {
        free(c->v);
        c->v = NULL;
        c->n = 0;
    }
    return c->n;
}

int ld_cards_save(const ld_world *w, const ld_cards *c, char *why, size_t cap)
{
    char path[1100];
    size_t len = 0, room = 128 + c->n * 48;
    char *buf = malloc(room);
    if (!buf) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    len += (size_t)snprintf(buf, room, "world,%s\npan,nik,pkh,bpnt\n", c->world);
    for (size_t i = 0; i < c->n && len < room; i++)
        len += (size_t)snprintf(buf + len, room - len, "%s,%s,%d,%d\n", c->v[i].pan, c->v[i].nik,
                                c->v[i].pkh, c->v[i].bpnt);
    snprintf(path, sizeof path, "%s/cards.csv", w->state);
    int rc = len < room ? write_file(path, buf, len) : -1;
    free(buf);
    if (rc < 0)
        snprintf(why, cap, "cannot write %s: %s", path, strerror(errno));
    return rc;
}

json_t *ld_ctl_result(const char *cmd, int ec, const char *out, const char *err, char *why,
                      size_t cap)
{
    /* 1 is "declined": for these, rows refused (a family already enrolled
     * with other data, a KK that recurs in a generated extract, a credit for
     * it) or nothing to print, all said in the JSON; the rest is done */
    int partial = ec == 1 && (strcmp(cmd, "enroll") == 0 || strcmp(cmd, "credit-run") == 0 ||
                              strcmp(cmd, "print") == 0);
    json_t *j = (ec == 0 || partial) && out ? json_loads(out, 0, NULL) : NULL;
    if (!j && ec == KKS_EOUTPUT)
        snprintf(why, cap, "kksctl %s: %s", cmd, kks_strerror(ec));
    else if (!j && ec < 0)
        snprintf(why, cap, "kksctl %s: could not be run", cmd);
    else if (!j && err && *err)
        snprintf(why, cap, "kksctl %s: %s", cmd, err);
    else if (!j && (ec == 0 || partial))
        snprintf(why, cap, "kksctl %s: its output is not JSON", cmd);
    else if (!j)
        snprintf(why, cap, "kksctl %s: exit status %d: %.200s", cmd, ec,
                 out && *out ? out : "nothing said");
    return j;
}

/* Runs kksctl with the world's peers; its --json output parsed (NULL when it
 * failed: why says so). */
static json_t *ctl(const ld_world *w, const char *const *args, char *why, size_t cap)
{
    const char *argv[32];
    char exe[1100], *out = NULL, *err = NULL;
    int n = 0;
    snprintf(exe, sizeof exe, "%s/kksctl", w->bin);
    argv[n++] = exe;
    argv[n++] = "--pki", argv[n++] = w->pki;
    argv[n++] = "--issuer", argv[n++] = w->issuer;
    argv[n++] = "--switch", argv[n++] = w->sw;
    argv[n++] = "--json";
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int ec = kc_run(w->loop, argv, &out, &err);
    json_t *j = ld_ctl_result(args[0], ec, out, err, why, cap);
    free(out);
    free(err);
    return j;
}

/* Whose cards: the switch's and the issuer's database identities, from kksctl
 * ping, as SWITCH-ISSUER into out (72 bytes). 0, or -1 with why. */
static int world_of(const ld_world *w, char *out, char *why, size_t cap)
{
    static const char *const args[] = {"ping", NULL};
    json_t *j = ctl(w, args, why, cap), *p;
    const char *sw = NULL, *is = NULL;
    size_t i;
    json_array_foreach(json_object_get(j, "peers"), i, p)
    {
        const char *peer = json_string_value(json_object_get(p, "peer"));
        const char *db = json_string_value(json_object_get(p, "database"));
        if (!peer || !db || strlen(db) != 32)
            continue;
        if (strcmp(peer, "switch") == 0)
            sw = db;
        else if (strcmp(peer, "issuer") == 0)
            is = db;
    }
    int ok = sw && is;
    if (ok)
        snprintf(out, 72, "%s-%s", sw, is);
    else if (j)
        snprintf(why, cap, "the switch and the issuer did not both say their database's identity "
                           "(kksctl ping): daemons older than this kks-terminal?");
    json_decref(j);
    return ok ? 0 : -1;
}

static int gen_registry(const ld_world *w, size_t n, const char *path, char *why, size_t cap)
{
    char exe[1100], fam[24], seed[24], tmp[1300], *err = NULL;
    snprintf(exe, sizeof exe, "%s/kksctl", w->bin);
    snprintf(fam, sizeof fam, "%zu", n);
    /* a new seed each time: new families, whatever the switch already holds */
    snprintf(seed, sizeof seed, "%" PRIu64, (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20));
    const char *argv[] = {exe, "gen", "population", "--families", fam, "--seed", seed, NULL};
    /* straight to the file: an extract is about 160 bytes a family, more
     * than a captured output may hold at 400,000 */
    int fd = tmp_open(path, tmp);
    if (fd < 0) {
        snprintf(why, cap, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    int ec = kc_run_to(w->loop, argv, fd, &err);
    int rc = tmp_done(fd, tmp, path, ec == 0);
    if (rc < 0) {
        snprintf(why, cap, "generating %zu families: %s", n,
                 ec > 0 && err && *err ? err : ec < 0 ? kks_strerror(ec) : strerror(errno));
    }
    free(err);
    return rc;
}

typedef struct fam {
    char kk[17], nik[17];
    uint8_t pkh, bpnt;
} fam;

static int fam_cmp(const void *a, const void *b)
{
    return strcmp(((const fam *)a)->kk, ((const fam *)b)->kk);
}

/* The extract's families sorted by KK, with their programmes. */
static fam *read_registry(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    kks_csv csv;
    fam *v = NULL;
    size_t cap = 0;
    int col_pkh[8], npkh = 0, col_bpnt = -1;
    *n = 0;
    if (!f)
        return NULL;
    if (kks_csv_init(&csv, f, 0) < 0 || kks_csv_next(&csv) != 1) {
        fclose(f);
        return NULL;
    }
    for (int i = 0; i < csv.nfields; i++) {
        if (strncmp(csv.fields[i], "pkh_", 4) == 0 && npkh < 8)
            col_pkh[npkh++] = i;
        if (strcmp(csv.fields[i], "bpnt") == 0)
            col_bpnt = i;
    }
    int nf = csv.nfields;
    while (kks_csv_next(&csv) == 1) {
        if (csv.nfields != nf || col_bpnt < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            fam *nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                break;
            v = nv;
        }
        fam *x = &v[*n];
        snprintf(x->kk, sizeof x->kk, "%s", csv.fields[0]);
        snprintf(x->nik, sizeof x->nik, "%s", csv.fields[1]);
        x->pkh = 0;
        for (int i = 0; i < npkh; i++)
            x->pkh |= atoi(csv.fields[col_pkh[i]]) > 0;
        x->bpnt = atoi(csv.fields[col_bpnt]) > 0;
        (*n)++;
    }
    kks_csv_close(&csv);
    fclose(f);
    qsort(v, *n, sizeof *v, fam_cmp);
    return v;
}

/* Adds the cards of a print file (pan,...,kk) whose family is in fams. */
static int read_print(const char *path, const fam *fams, size_t nf, ld_cards *c, size_t *cap)
{
    FILE *f = fopen(path, "r");
    kks_csv csv;
    if (!f)
        return -1;
    if (kks_csv_init(&csv, f, 4096) < 0) {
        fclose(f);
        return -1;
    }
    int rc = 0;
    while (rc == 0 && kks_csv_next(&csv) == 1) {
        if (csv.nfields != 6 || strlen(csv.fields[5]) != 16)
            continue;
        fam key;
        snprintf(key.kk, sizeof key.kk, "%s", csv.fields[5]);
        const fam *x = bsearch(&key, fams, nf, sizeof *fams, fam_cmp);
        if (x)
            rc = add_card(c, cap, csv.fields[0], x->nik, x->pkh, x->bpnt);
    }
    kks_csv_close(&csv);
    fclose(f);
    return rc;
}

static int write_manifest(const char *path, const char *program, const char *period,
                          const fam *fams, size_t nf, int64_t amount)
{
    size_t room = 64 + nf * 48, len = 0;
    char *buf = malloc(room);
    if (!buf)
        return -1;
    len += (size_t)snprintf(buf, room, "program,period,kk,amount\n");
    for (size_t i = 0; i < nf; i++)
        if (strcmp(program, "pkh") == 0 ? fams[i].pkh : fams[i].bpnt)
            len += (size_t)snprintf(buf + len, room - len, "%s,%s,%s,%" PRId64 "\n", program,
                                    period, fams[i].kk, amount);
    int rc = write_file(path, buf, len);
    free(buf);
    return rc;
}

/* Prepares the cards of n new families, adding them to c (*ccap: its room). */
static int prepare(const ld_world *w, size_t n, ld_cards *c, size_t *ccap, char *why, size_t cap)
{
    char dir[1100], reg[1200], path[1200], batch[24], pkh_period[16], bpnt_period[24];
    static const char *const banks[] = {"BNI", "BRI", "MANDIRI", "BTN"};
    size_t nf = 0;
    fam *fams = NULL;
    json_t *j;
    int rc = -1;

    snprintf(dir, sizeof dir, "%s/prep", w->state);
    snprintf(reg, sizeof reg, "%s/families.csv", dir);
    if (ld_mkdir_p(dir) < 0) {
        snprintf(why, cap, "cannot make %s: %s", dir, strerror(errno));
        return -1;
    }
    if (gen_registry(w, n, reg, why, cap) < 0)
        return -1;
    const char *enr[] = {"enroll", reg, NULL};
    if (!(j = ctl(w, enr, why, cap)))
        return -1;
    json_decref(j);
    for (int b = 0; b < 4; b++) {
        snprintf(path, sizeof path, "%s/print-%s.csv", dir, banks[b]);
        const char *pr[] = {"print", "--bank", banks[b], "--out", path, NULL};
        if (!(j = ctl(w, pr, why, cap)))
            goto out;
        json_int_t id = json_integer_value(json_object_get(j, "batch"));
        json_int_t cards = json_integer_value(json_object_get(j, "cards"));
        json_decref(j);
        if (cards <= 0)
            continue;
        snprintf(batch, sizeof batch, "%lld", (long long)id);
        /* the documents the policy asks at a hand-over: load testing
         * measures the switch, not the desk's checks */
        char docs[KKS_DOCS_LIST_MAX];
        if (kks_docs_required(NULL, KKS_DOC_HANDOVER, docs, sizeof docs, why, cap) < 0)
            goto out;
        const char *ho[] = {"handover", "--batch", batch, "--site", "Uji beban",
                            "--docs",   docs,    NULL};
        if (!(j = ctl(w, ho, why, cap)))
            goto out;
        json_decref(j);
    }
    if (!(fams = read_registry(reg, &nf)) || nf == 0) {
        snprintf(why, cap, "cannot read the generated extract %s", reg);
        goto out;
    }
    for (int b = 0; b < 4; b++) {
        snprintf(path, sizeof path, "%s/print-%s.csv", dir, banks[b]);
        if (access(path, R_OK) == 0 && read_print(path, fams, nf, c, ccap) < 0) {
            snprintf(why, cap, "cannot read %s", path);
            goto out;
        }
    }
    /* this year's last PKH stage and every BPNT month: one credit each */
    snprintf(pkh_period, sizeof pkh_period, "%.4s-T4", w->today);
    snprintf(bpnt_period, sizeof bpnt_period, "%.4s-01..12", w->today);
    struct {
        const char *program, *period;
        int64_t amount;
    } credits[] = {{"pkh", pkh_period, 3000000}, {"bpnt", bpnt_period, 2400000}};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s.csv", dir, credits[k].program);
        if (write_manifest(path, credits[k].program, credits[k].period, fams, nf,
                           credits[k].amount) < 0) {
            snprintf(why, cap, "cannot write %s: %s", path, strerror(errno));
            goto out;
        }
        const char *cr[] = {"credit-run", path, NULL};
        if (!(j = ctl(w, cr, why, cap)))
            goto out;
        json_decref(j);
    }
    rc = c->n ? 0 : -1;
    if (rc < 0)
        snprintf(why, cap, "no card came out of the print files in %s", dir);
out:
    free(fams);
    return rc;
}

int ld_cards_get(const ld_world *w, size_t n, int fresh, ld_cards *out, int *activate,
                 char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    *activate = 0;
    if (n == 0 || n > CARDS_MAX) {
        snprintf(why, cap, "--cards must be 1..%d", CARDS_MAX);
        return -1;
    }
    if (ld_mkdir_p(w->state) < 0) {
        snprintf(why, cap, "cannot make the state directory %s: %s", w->state, strerror(errno));
        return -1;
    }
    if (load_key(w, out->key, why, cap) < 0 || world_of(w, out->world, why, cap) < 0)
        return -1;
    if (!fresh && remembered(w, out) >= n) {
        out->n = n;
        fprintf(w->say, "using %zu cards remembered in %s\n", n, w->state);
        return 0;
    }
    free(out->v);
    out->v = NULL;
    out->n = 0;
    /* Rows refused at enrolment (a KK the issuer already holds) leave a
     * preparation short, and a run that kept fewer cards than asked would
     * prepare them all again the next time: more families until there are
     * n, then exactly n kept. A pass that adds no card ends it. */
    size_t ccap = 0, fams = n;
    fprintf(w->say, "preparing %zu cards: enrolment, printing, hand-over, credits...\n", n);
    for (int pass = 0; out->n < n; pass++) {
        size_t had = out->n;
        if (pass == 8) {
            snprintf(why, cap, "%zu cards asked, %zu came out of 8 preparations", n, out->n);
            ld_cards_free(out);
            return -1;
        }
        if (pass > 0)
            fprintf(w->say, "%zu cards so far: %zu more families\n", out->n, fams);
        if (prepare(w, fams, out, &ccap, why, cap) < 0) {
            ld_cards_free(out);
            return -1;
        }
        size_t got = out->n - had, need = out->n < n ? n - out->n : 0;
        if (got == 0) {
            snprintf(why, cap, "%zu cards asked, %zu prepared: no card came out of %zu more families",
                     n, out->n, fams);
            ld_cards_free(out);
            return -1;
        }
        /* the next pass: the shortfall at this pass's yield, and a margin */
        fams = need * fams / got + need / 8 + 16;
    }
    out->n = n;
    *activate = 1;
    return 0;
}
