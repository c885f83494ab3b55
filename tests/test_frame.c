/* The frame decoder (core/frame.c), driven without sockets. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kks.pb-c.h"
#include "kks_err.h"
#include "kks_frame.h"

#define MAXF 64

struct got {
    int n;
    size_t lens[MAXF];
    uint8_t *data[MAXF];
    int stop_at; /* return an error on this frame number (1-based) */
};

static int collect(void *ud, const uint8_t *p, size_t len)
{
    struct got *g = ud;
    cr_assert_lt(g->n, MAXF);
    g->lens[g->n] = len;
    g->data[g->n] = malloc(len);
    memcpy(g->data[g->n], p, len);
    g->n++;
    if (g->stop_at && g->n == g->stop_at)
        return KKS_EPROTO;
    return 0;
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
}

/* A stream of three envelopes: ping, pong, error. */
static size_t make_stream(uint8_t *buf, size_t cap, size_t lens[3])
{
    Kks__Envelope e[3] = {KKS__ENVELOPE__INIT, KKS__ENVELOPE__INIT, KKS__ENVELOPE__INIT};
    Kks__Ping ping = KKS__PING__INIT;
    Kks__Pong pong = KKS__PONG__INIT;
    Kks__Error er = KKS__ERROR__INIT;
    size_t n = 0;
    e[0].id = 1;
    e[0].body_case = KKS__ENVELOPE__BODY_PING;
    e[0].ping = &ping;
    pong.role = "issuer";
    pong.identity = "issuer";
    pong.version = "0.1.0";
    e[1].id = 300;
    e[1].body_case = KKS__ENVELOPE__BODY_PONG;
    e[1].pong = &pong;
    er.code = -4;
    er.message = "frame longer than the cap";
    e[2].id = 1ull << 40;
    e[2].body_case = KKS__ENVELOPE__BODY_ERROR;
    e[2].error = &er;
    for (int i = 0; i < 3; i++) {
        size_t len = kks__envelope__get_packed_size(&e[i]);
        cr_assert_leq(n + 4 + len, cap);
        kks_frame_header(buf + n, (uint32_t)len);
        kks__envelope__pack(&e[i], buf + n + 4);
        lens[i] = len;
        n += 4 + len;
    }
    return n;
}

static void check_stream(struct got *g, const uint8_t *buf, const size_t lens[3])
{
    size_t off = 0;
    cr_assert_eq(g->n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(g->lens[i], lens[i]);
        cr_assert(memcmp(g->data[i], buf + off + 4, lens[i]) == 0);
        Kks__Envelope *env = kks__envelope__unpack(NULL, g->lens[i], g->data[i]);
        cr_assert_not_null(env);
        kks__envelope__free_unpacked(env, NULL);
        off += 4 + lens[i];
    }
}

Test(frame, whole_stream_in_one_feed)
{
    uint8_t buf[512];
    size_t lens[3], n = make_stream(buf, sizeof buf, lens);
    struct got g = {0};
    kks_framer f;
    kks_framer_init(&f, KKS_FRAME_MAX);
    cr_assert_eq(kks_framer_feed(&f, buf, n, collect, &g), 0);
    cr_assert_eq(kks_framer_pending(&f), 0);
    check_stream(&g, buf, lens);
    got_free(&g);
    kks_framer_close(&f);
}

Test(frame, split_at_every_byte_boundary)
{
    uint8_t buf[512];
    size_t lens[3], n = make_stream(buf, sizeof buf, lens);
    for (size_t cut = 0; cut <= n; cut++) {
        struct got g = {0};
        kks_framer f;
        kks_framer_init(&f, KKS_FRAME_MAX);
        cr_assert_eq(kks_framer_feed(&f, buf, cut, collect, &g), 0);
        cr_assert_eq(kks_framer_feed(&f, buf + cut, n - cut, collect, &g), 0);
        check_stream(&g, buf, lens);
        got_free(&g);
        kks_framer_close(&f);
    }
}

Test(frame, split_in_three_at_every_pair_of_boundaries)
{
    /* Found by the fuzzer: a read ending right after a header, then the rest
     * of that frame with part of a larger one, once overran the buffer. */
    uint8_t buf[512];
    size_t lens[3], n = make_stream(buf, sizeof buf, lens);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            struct got g = {0};
            kks_framer f;
            kks_framer_init(&f, KKS_FRAME_MAX);
            cr_assert_eq(kks_framer_feed(&f, buf, a, collect, &g), 0);
            cr_assert_eq(kks_framer_feed(&f, buf + a, b - a, collect, &g), 0);
            cr_assert_eq(kks_framer_feed(&f, buf + b, n - b, collect, &g), 0);
            check_stream(&g, buf, lens);
            got_free(&g);
            kks_framer_close(&f);
        }
    }
}

Test(frame, one_byte_at_a_time)
{
    uint8_t buf[512];
    size_t lens[3], n = make_stream(buf, sizeof buf, lens);
    struct got g = {0};
    kks_framer f;
    kks_framer_init(&f, KKS_FRAME_MAX);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(kks_framer_feed(&f, buf + i, 1, collect, &g), 0);
        if (i + 1 < n)
            cr_assert_lt(g.n, 3);
    }
    check_stream(&g, buf, lens);
    got_free(&g);
    kks_framer_close(&f);
}

Test(frame, zero_length_is_refused)
{
    uint8_t buf[4] = {0, 0, 0, 0};
    struct got g = {0};
    kks_framer f;
    kks_framer_init(&f, KKS_FRAME_MAX);
    cr_assert_eq(kks_framer_feed(&f, buf, 4, collect, &g), KKS_EEMPTYFRAME);
    cr_assert_eq(g.n, 0);
    kks_framer_close(&f);
}

Test(frame, oversized_refused_from_the_header_alone)
{
    /* Only the header arrives: the decoder must refuse before any body byte
     * and without allocating the announced length. */
    uint8_t hdr[4];
    struct got g = {0};
    kks_framer f;
    kks_framer_init(&f, KKS_FRAME_MAX);
    kks_frame_header(hdr, KKS_FRAME_MAX + 1);
    cr_assert_eq(kks_framer_feed(&f, hdr, 3, collect, &g), 0);
    cr_assert_eq(kks_framer_feed(&f, hdr + 3, 1, collect, &g), KKS_ETOOBIG);
    cr_assert_null(f.body);
    /* Sticky: later bytes are refused too. */
    cr_assert_eq(kks_framer_feed(&f, hdr, 1, collect, &g), KKS_ETOOBIG);
    cr_assert_eq(g.n, 0);
    kks_framer_close(&f);
}

Test(frame, cap_is_inclusive_and_per_decoder)
{
    uint8_t *buf = calloc(1, KKS_FRAME_MAX + 4);
    struct got g = {0};
    kks_framer f;
    kks_framer_init(&f, KKS_FRAME_MAX);
    kks_frame_header(buf, KKS_FRAME_MAX);
    cr_assert_eq(kks_framer_feed(&f, buf, KKS_FRAME_MAX + 4, collect, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.lens[0], KKS_FRAME_MAX);
    got_free(&g);
    kks_framer_close(&f);

    /* 0xFFFFFFFF: the largest length a header can say. */
    uint8_t big[4] = {0xff, 0xff, 0xff, 0xff};
    struct got g2 = {0};
    kks_framer_init(&f, KKS_FRAME_MAX_BULK);
    cr_assert_eq(kks_framer_feed(&f, big, 4, collect, &g2), KKS_ETOOBIG);
    kks_framer_close(&f);
    free(buf);
}

Test(frame, truncated_frame_is_pending)
{
    uint8_t buf[512];
    size_t lens[3], n = make_stream(buf, sizeof buf, lens);
    struct got g = {0};
    kks_framer f;
    kks_framer_init(&f, KKS_FRAME_MAX);
    cr_assert_eq(kks_framer_feed(&f, buf, n - 2, collect, &g), 0);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(kks_framer_pending(&f), 4 + lens[2] - 2);
    got_free(&g);
    kks_framer_close(&f); /* frees the partial body: ASan checks */
}

Test(frame, callback_error_stops_and_sticks)
{
    uint8_t buf[512];
    size_t lens[3], n = make_stream(buf, sizeof buf, lens);
    struct got g = {.stop_at = 2};
    kks_framer f;
    kks_framer_init(&f, KKS_FRAME_MAX);
    cr_assert_eq(kks_framer_feed(&f, buf, n, collect, &g), KKS_EPROTO);
    cr_assert_eq(g.n, 2);
    cr_assert_eq(kks_framer_feed(&f, buf, n, collect, &g), KKS_EPROTO);
    cr_assert_eq(g.n, 2);
    got_free(&g);
    kks_framer_close(&f);
}

Test(frame, garbage_is_framed_but_not_an_envelope)
{
    /* Bytes that are not protobuf: framing passes them on; unpacking refuses. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    uint8_t buf[64];
    struct got g = {0};
    kks_framer f;
    kks_frame_header(buf, sizeof junk);
    memcpy(buf + 4, junk, sizeof junk);
    kks_framer_init(&f, KKS_FRAME_MAX);
    cr_assert_eq(kks_framer_feed(&f, buf, 4 + sizeof junk, collect, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_null(kks__envelope__unpack(NULL, g.lens[0], g.data[0]));
    got_free(&g);
    kks_framer_close(&f);
}

Test(frame, random_garbage_never_crashes)
{
    /* Deterministic pseudo-random bytes with a small cap: every outcome is a
     * clean error or frames, never an overrun (ASan watches). */
    uint32_t x = 2463534242u;
    for (int round = 0; round < 200; round++) {
        uint8_t buf[300];
        struct got g = {0};
        kks_framer f;
        for (size_t i = 0; i < sizeof buf; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (uint8_t)(i % 7 == 0 ? 0 : x);
        }
        kks_framer_init(&f, 200);
        int rc = kks_framer_feed(&f, buf, sizeof buf, collect, &g);
        cr_assert(rc == 0 || rc == KKS_ETOOBIG || rc == KKS_EEMPTYFRAME);
        for (int i = 0; i < g.n; i++) {
            Kks__Envelope *e = kks__envelope__unpack(NULL, g.lens[i], g.data[i]);
            if (e)
                kks__envelope__free_unpacked(e, NULL);
        }
        got_free(&g);
        kks_framer_close(&f);
    }
}
