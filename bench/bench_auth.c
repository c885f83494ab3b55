/* Authorisation benchmark (SPEC §11): T terminals over mutual TLS, each with
 * one request in flight (closed loop), the mix 50% BPNT purchase, 30% PKH
 * withdrawal, 20% balance inquiry, for S seconds. Prints approved/s, the
 * response codes and latency percentiles.
 *
 *   bench_auth manifests ISSUER_DB N OUTDIR   writes the cards to use (pan,nik,kk) and
 *                                             PKH/BPNT manifests for them
 *   bench_auth activate SWITCH PKI CARDS T    activates every card (PIN from its index)
 *   bench_auth load SWITCH PKI CARDS T SECONDS [RATE]
 *
 * Terminals are EW-127101-5001.. (their certificates must exist in PKI).
 * RATE (approved-or-not requests per second, all terminals together) paces
 * the load; without it the loop runs as fast as answers come back.
 * The cards list is read from the issuer's database (read-only): a
 * benchmark-only shortcut to learn each card's NIK. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "kc_txn.h"
#include "kks_err.h"
#include "kks_log.h"
#include "kks_net.h"
#include "kks_pin.h"
#include "kks_pki.h"

#define MAX_TERMS 256
#define MAX_SAMPLES (1u << 24)

typedef struct card {
    char pan[20], nik[17], pin[7];
} card;

static card *cards;
static size_t ncards;
static uint64_t *lat;
static size_t nlat;
static uint64_t counts[100], sent, failed;
static int stopping;
static uv_loop_t *loop;
static double rate; /* per second, 0: closed loop as fast as possible */
static uint64_t t_start;
static char local_date[11]; /* a different business day for every run: fresh STANs and limits */

static const char *const bpnt_items[] = {"BRS-MED-1KG", "TLR-1KG", "TMP-500G", "TAH-10",
                                         "SYR-BYM", "JGN-1KG"};

typedef struct term {
    char id[32];
    SSL_CTX *ctx;
    kks_client *cl;
    uint8_t tpk[16];
    uint32_t stan;
    uint64_t sent_at;
    uint64_t rnd;
    int mode; /* 0 load, 1 activate */
    uint64_t nsent;
    size_t next_card, end_card;
    uv_timer_t pace;
} term;

static term terms[MAX_TERMS];
static int nterms;

static void pin_for(size_t i, char out[7])
{
    /* non-trivial, distinct enough: digits of a hash of the index */
    uint32_t x = (uint32_t)(i * 2654435761u) % 900000u + 100000u;
    snprintf(out, 7, "%06u", x);
    if (kks_pin_trivial(out))
        snprintf(out, 7, "%06u", (x + 13) % 900000u + 100000u);
}

static uint64_t next_rand(term *t)
{
    t->rnd ^= t->rnd << 13;
    t->rnd ^= t->rnd >> 7;
    t->rnd ^= t->rnd << 17;
    return t->rnd;
}

static int load_cards(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[128];
    size_t cap = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (ncards == cap) {
            cap = cap ? cap * 2 : 1024;
            cards = realloc(cards, cap * sizeof *cards);
        }
        if (sscanf(line, "%19[0-9],%16[0-9]", cards[ncards].pan, cards[ncards].nik) == 2) {
            pin_for(ncards, cards[ncards].pin);
            ncards++;
        }
    }
    fclose(f);
    return ncards ? 0 : -1;
}

static void send_next(term *t);

static void on_pace(uv_timer_t *h)
{
    send_next(h->data);
}

static void schedule(term *t)
{
    if (stopping)
        return;
    if (rate <= 0) {
        send_next(t);
        return;
    }
    /* each terminal paces itself at rate / nterms, its phase offset so that
     * the terminals' requests interleave instead of arriving in bursts */
    double per = (double)nterms / rate * 1000.0;
    double phase = (double)(t - terms) / (double)nterms;
    uint64_t due = (uint64_t)(((double)t->nsent + phase) * per);
    uint64_t el = (uv_hrtime() - t_start) / 1000000;
    uv_timer_start(&t->pace, on_pace, due > el ? due - el : 0, 0);
}

static void on_reply(int status, const Kks__Envelope *rep, void *ud)
{
    term *t = ud;
    uint64_t l = uv_hrtime() - t->sent_at;
    if (status < 0 || rep->body_case != KKS__ENVELOPE__BODY_TXN_REPLY) {
        failed++;
        if (failed < 5 && !stopping)
            fprintf(stderr, "bench_auth: %s: %s\n", t->id,
                    status < 0 ? kks_strerror(status)
                    : rep->body_case == KKS__ENVELOPE__BODY_ERROR ? rep->error->message
                                                                  : "unexpected reply");
    } else {
        int rc = atoi(rep->txn_reply->rc);
        counts[rc >= 0 && rc < 100 ? rc : 99]++;
        if (nlat < MAX_SAMPLES && t->mode == 0)
            lat[nlat++] = l;
    }
    if (t->mode == 1 && t->next_card >= t->end_card)
        return;
    schedule(t);
}

static void send_next(term *t)
{
    Kks__Envelope env;
    kc_txn x = {.terminal = t->id, .local_date = local_date, .wallet = ""};
    kc_txn_req req;
    card *c;
    if (stopping)
        return;
    if (t->mode == 1) {
        if (t->next_card >= t->end_card)
            return;
        c = &cards[t->next_card++];
        x.type = "activate";
        x.nik = c->nik;
    } else {
        uint64_t r = next_rand(t);
        c = &cards[r % ncards];
        unsigned pick = (unsigned)((r >> 32) % 10);
        if (pick < 5) {
            x.type = "purchase";
            snprintf(x.items[0].sku, sizeof x.items[0].sku, "%s", bpnt_items[(r >> 40) % 6]);
            x.items[0].qty = 1;
            x.n_items = 1;
        } else if (pick < 8) {
            x.type = "withdraw";
            x.amount = 50000;
            x.wallet = "pkh";
        } else {
            x.type = "balance";
        }
    }
    x.stan = ++t->stan;
    x.pan = c->pan;
    snprintf(x.pin, sizeof x.pin, "%s", c->pin);
    kc_txn_build(&x, t->tpk, &req);
    kc_txn_envelope(&req, &env);
    t->sent_at = uv_hrtime();
    t->nsent++;
    sent++;
    if (kks_client_call(t->cl, &env, 30000, on_reply, t) < 0) {
        failed++;
        schedule(t);
    }
    kc_txn_req_wipe(&req);
}

static void on_stop(uv_timer_t *h)
{
    stopping = 1;
}

static int cmp64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int open_terms(const char *addr, const char *pki, int n)
{
    nterms = n;
    for (int i = 0; i < n; i++) {
        term *t = &terms[i];
        char name[64], p[4200];
        kks_client_opts o = {.expect_role = KKS_ROLE_SWITCH};
        snprintf(t->id, sizeof t->id, "EW-127101-%04d", 5001 + i);
        snprintf(name, sizeof name, "terminals/%s", t->id);
        snprintf(p, sizeof p, "%s/terminals/%s.tpk", pki, t->id);
        if (kks_tls_ctx_from_pki(&t->ctx, 0, pki, name) < 0 || kks_key_file_load(p, t->tpk, 16) < 0 ||
            kks_client_new(loop, t->ctx, addr, &o, &t->cl) < 0) {
            fprintf(stderr, "bench_auth: terminal %s: no credentials in %s\n", t->id, pki);
            return -1;
        }
        t->rnd = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
        t->stan = (uint32_t)(uv_hrtime() / 1000000 % 400000); /* fresh STANs each run */
        uv_timer_init(loop, &t->pace);
        t->pace.data = t;
    }
    return 0;
}

static void close_terms(void)
{
    for (int i = 0; i < nterms; i++) {
        kks_client_free(terms[i].cl);
        uv_close((uv_handle_t *)&terms[i].pace, NULL);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < nterms; i++)
        SSL_CTX_free(terms[i].ctx);
}

static int cmd_manifests(const char *db, long n, const char *out)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    char p[4200];
    FILE *cf, *pf, *bf;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "SELECT c.pan, f.nik, f.kk FROM card c JOIN family f ON"
                              " f.kk = c.kk WHERE c.state = 'DISTRIBUTED' LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_auth: %s: %s\n", db, sqlite3_errmsg(h));
        return 4;
    }
    sqlite3_bind_int64(st, 1, n);
    snprintf(p, sizeof p, "%s/cards.csv", out);
    cf = fopen(p, "w");
    snprintf(p, sizeof p, "%s/pkh.csv", out);
    pf = fopen(p, "w");
    snprintf(p, sizeof p, "%s/bpnt.csv", out);
    bf = fopen(p, "w");
    if (!cf || !pf || !bf)
        return 4;
    fprintf(pf, "program,period,kk,amount\n");
    fprintf(bf, "program,period,kk,amount\n");
    long k = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *kk = (const char *)sqlite3_column_text(st, 2);
        fprintf(cf, "%s,%s\n", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
        fprintf(pf, "pkh,2026-T4,%s,3000000\n", kk);
        fprintf(bf, "bpnt,2026-01..12,%s,2400000\n", kk);
        k++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    fclose(cf);
    fclose(pf);
    fclose(bf);
    fprintf(stderr, "bench_auth: %ld cards and their manifests in %s\n", k, out);
    return k ? 0 : 4;
}

int main(int argc, char **argv)
{
    kks_log_init("bench");
    loop = uv_default_loop();
    if (argc >= 5 && strcmp(argv[1], "manifests") == 0)
        return cmd_manifests(argv[2], atol(argv[3]), argv[4]);
    if (argc < 6 || (strcmp(argv[1], "activate") != 0 && strcmp(argv[1], "load") != 0)) {
        fputs("usage: bench_auth manifests ISSUER_DB N OUTDIR\n"
              "       bench_auth activate SWITCH PKI CARDS TERMINALS\n"
              "       bench_auth load SWITCH PKI CARDS TERMINALS SECONDS [RATE]\n",
              stderr);
        return 2;
    }
    int activate = strcmp(argv[1], "activate") == 0;
    int n = atoi(argv[5]);
    int secs = !activate && argc > 6 ? atoi(argv[6]) : 0;
    rate = !activate && argc > 7 ? atof(argv[7]) : 0;
    if (n < 1 || n > MAX_TERMS || load_cards(argv[4]) < 0 || (!activate && secs < 1)) {
        fputs("bench_auth: bad terminals count, seconds, or cards file\n", stderr);
        return 2;
    }
    time_t day = 1767225600 /* 2026-01-01 */ + (time(NULL) % 3650) * 86400;
    struct tm tm;
    gmtime_r(&day, &tm);
    strftime(local_date, sizeof local_date, "%Y-%m-%d", &tm);
    lat = malloc(MAX_SAMPLES * sizeof *lat);
    if (!lat || open_terms(argv[2], argv[3], n) < 0)
        return 3;
    uv_timer_t stop;
    uv_timer_init(loop, &stop);
    t_start = uv_hrtime();
    if (activate) {
        size_t per = (ncards + (size_t)n - 1) / (size_t)n;
        for (int i = 0; i < n; i++) {
            terms[i].mode = 1;
            terms[i].next_card = (size_t)i * per;
            terms[i].end_card = (size_t)(i + 1) * per < ncards ? (size_t)(i + 1) * per : ncards;
            send_next(&terms[i]);
        }
        for (;;) {
            uint64_t answered = failed;
            for (int k = 0; k < 100; k++)
                answered += counts[k];
            if (answered >= ncards)
                break;
            uv_run(loop, UV_RUN_ONCE);
        }
        double el = (double)(uv_hrtime() - t_start) / 1e9;
        printf("activation: %zu cards, %" PRIu64 " approved (00), %" PRIu64
               " failed, %.1f s, %.0f/s\n",
               ncards, counts[0], failed, el, (double)ncards / el);
    } else {
        uv_timer_start(&stop, on_stop, (uint64_t)secs * 1000, 0);
        for (int i = 0; i < n; i++)
            schedule(&terms[i]);
        while (!stopping)
            uv_run(loop, UV_RUN_ONCE);
        double el = (double)(uv_hrtime() - t_start) / 1e9;
        uint64_t answered = failed;
        for (int k = 0; k < 100; k++)
            answered += counts[k];
        qsort(lat, nlat, sizeof *lat, cmp64);
#define P(q) (nlat ? (double)lat[(size_t)((double)(nlat - 1) * (q))] / 1e6 : 0.0)
        printf("authorisation: %d terminals, %s, %.1f s: %" PRIu64 " answered, %" PRIu64
               " approved = %.0f approved/s (%.0f answered/s); latency ms p50 %.2f p90 %.2f "
               "p99 %.2f p99.9 %.2f max %.2f\n",
               n, rate > 0 ? "paced" : "closed loop", el, answered, counts[0],
               (double)counts[0] / el, (double)answered / el, P(0.5), P(0.9), P(0.99), P(0.999),
               nlat ? (double)lat[nlat - 1] / 1e6 : 0.0);
        printf("  response codes:");
        for (int k = 0; k < 100; k++)
            if (counts[k])
                printf(" %02d x %" PRIu64, k, counts[k]);
        printf("; transport failures %" PRIu64 "\n", failed);
    }
    uv_close((uv_handle_t *)&stop, NULL);
    close_terms();
    free(lat);
    free(cards);
    return 0;
}
