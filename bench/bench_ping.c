/* Protocol round trips: C operator connections to a running daemon, each
 * keeping D pings in flight, for S seconds. Prints the rate and latency
 * percentiles. This is the transport's own ceiling, the reference for the
 * authorisation benchmark. usage: bench_ping ADDR PKI_DIR [C D S] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "kks_err.h"
#include "kks_log.h"
#include "kks_net.h"

#define MAX_SAMPLES (1u << 24)

static uint64_t *samples;
static size_t nsamples;
static uint64_t done_count, failed;
static int stopping;
static uv_loop_t *loop;

struct slot {
    kks_client *cl;
    uint64_t sent;
};

static void send_one(struct slot *s);

static void on_reply(int status, const Kks__Envelope *rep, void *ud)
{
    struct slot *s = ud;
    uint64_t lat = uv_hrtime() - s->sent;
    if (status == 0) {
        done_count++;
        if (nsamples < MAX_SAMPLES)
            samples[nsamples++] = lat;
    } else if (!stopping) {
        failed++; /* calls cut off by the end of the run are not failures */
    }
    if (!stopping)
        send_one(s);
}

static void send_one(struct slot *s)
{
    static Kks__Ping ping = KKS__PING__INIT;
    Kks__Envelope env = KKS__ENVELOPE__INIT;
    env.body_case = KKS__ENVELOPE__BODY_PING;
    env.ping = &ping;
    s->sent = uv_hrtime();
    if (kks_client_call(s->cl, &env, 10000, on_reply, s) < 0)
        failed++;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void on_stop(uv_timer_t *t)
{
    stopping = 1;
}

int main(int argc, char **argv)
{
    SSL_CTX *ctx;
    int conns = argc > 3 ? atoi(argv[3]) : 16, depth = argc > 4 ? atoi(argv[4]) : 32;
    int secs = argc > 5 ? atoi(argv[5]) : 5;
    if (argc < 3 || conns < 1 || depth < 1 || secs < 1) {
        fputs("usage: bench_ping ADDR PKI_DIR [CONNS DEPTH SECONDS]\n", stderr);
        return 2;
    }
    kks_log_init("bench");
    loop = uv_default_loop();
    samples = malloc(MAX_SAMPLES * sizeof *samples);
    if (!samples || kks_tls_ctx_from_pki(&ctx, 0, argv[2], "operator") < 0)
        return 4;
    struct slot *slots = calloc((size_t)(conns * depth), sizeof *slots);
    kks_client **cls = calloc((size_t)conns, sizeof *cls);
    kks_client_opts o = {.expect_role = 0};
    o.expect_role = KKS_ROLE_ISSUER;
    for (int c = 0; c < conns; c++) {
        if (kks_client_new(loop, ctx, argv[1], &o, &cls[c]) < 0)
            return 2;
        /* warm up: wait for the handshake with one call */
        Kks__Envelope env = KKS__ENVELOPE__INIT, *rep;
        Kks__Ping ping = KKS__PING__INIT;
        env.body_case = KKS__ENVELOPE__BODY_PING;
        env.ping = &ping;
        if (kks_client_call_wait(cls[c], &env, 10000, &rep) < 0) {
            /* the server may be a switch */
            kks_client_free(cls[c]);
            o.expect_role = KKS_ROLE_SWITCH;
            if (kks_client_new(loop, ctx, argv[1], &o, &cls[c]) < 0 ||
                kks_client_call_wait(cls[c], &env, 10000, &rep) < 0) {
                fprintf(stderr, "bench_ping: cannot reach %s\n", argv[1]);
                return 3;
            }
        }
        kks__envelope__free_unpacked(rep, NULL);
    }
    uv_timer_t stop;
    uv_timer_init(loop, &stop);
    uv_timer_start(&stop, on_stop, (uint64_t)secs * 1000, 0);
    uint64_t t0 = uv_hrtime();
    for (int c = 0; c < conns; c++)
        for (int d = 0; d < depth; d++) {
            slots[c * depth + d].cl = cls[c];
            send_one(&slots[c * depth + d]);
        }
    while (!stopping)
        uv_run(loop, UV_RUN_ONCE);
    double el = (double)(uv_hrtime() - t0) / 1e9;
    for (int c = 0; c < conns; c++)
        kks_client_free(cls[c]);
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    qsort(samples, nsamples, sizeof *samples, cmp);
#define PCT(p) (nsamples ? samples[(size_t)((double)(nsamples - 1) * (p))] / 1000.0 : 0)
    printf("ping round trips: %d connections x %d in flight, %.1f s: %" PRIu64
           " ok, %" PRIu64 " failed, %.0f/s; latency ms p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f "
           "max %.3f\n",
           conns, depth, el, done_count, failed, (double)done_count / el, PCT(0.5) / 1000,
           PCT(0.9) / 1000, PCT(0.99) / 1000, PCT(0.999) / 1000,
           nsamples ? samples[nsamples - 1] / 1e6 : 0);
    SSL_CTX_free(ctx);
    free(slots);
    free(cls);
    free(samples);
    return failed ? 1 : 0;
}
