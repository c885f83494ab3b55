#include "kks_frame.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"

void kks_framer_init(kks_framer *f, size_t max)
{
    memset(f, 0, sizeof *f);
    f->max = max;
}

void kks_framer_close(kks_framer *f)
{
    free(f->body);
    f->body = NULL;
}

size_t kks_framer_pending(const kks_framer *f)
{
    return f->hdr_len + f->have;
}

void kks_frame_header(uint8_t out[4], uint32_t len)
{
    out[0] = (uint8_t)(len >> 24);
    out[1] = (uint8_t)(len >> 16);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
}

static int frame_fail(kks_framer *f, int err)
{
    f->error = err;
    free(f->body);
    f->body = NULL;
    return err;
}

int kks_framer_feed(kks_framer *f, const uint8_t *p, size_t n, kks_frame_cb cb, void *ud)
{
    if (f->error)
        return f->error;
    while (n > 0) {
        if (f->hdr_len < KKS_FRAME_HDR) {
            size_t take = KKS_FRAME_HDR - f->hdr_len;
            if (take > n)
                take = n;
            memcpy(f->hdr + f->hdr_len, p, take);
            f->hdr_len += (uint8_t)take;
            p += take;
            n -= take;
            if (f->hdr_len < KKS_FRAME_HDR)
                break;
            uint32_t len = (uint32_t)f->hdr[0] << 24 | (uint32_t)f->hdr[1] << 16 |
                           (uint32_t)f->hdr[2] << 8 | f->hdr[3];
            if (len == 0)
                return frame_fail(f, KKS_EEMPTYFRAME);
            if (len > f->max)
                return frame_fail(f, KKS_ETOOBIG);
            f->need = len;
            f->have = 0;
            if (n == 0)
                break; /* allocate only once body bytes arrive */
        }
        /* Whole body already in the input: hand it over without copying. */
        if (f->have == 0 && n >= f->need) {
            assert(f->body == NULL);
            int rc = cb(ud, p, f->need);
            p += f->need;
            n -= f->need;
            f->hdr_len = 0;
            f->need = 0;
            if (rc < 0)
                return frame_fail(f, rc);
            continue;
        }
        if (!f->body) {
            f->body = malloc(f->need); /* bounded by f->max above */
            if (!f->body)
                return frame_fail(f, KKS_ENOMEM);
        }
        size_t take = f->need - f->have;
        if (take > n)
            take = n;
        memcpy(f->body + f->have, p, take);
        f->have += (uint32_t)take;
        p += take;
        n -= take;
        if (f->have == f->need) {
            int rc = cb(ud, f->body, f->need);
            free(f->body);
            f->body = NULL;
            f->hdr_len = 0;
            f->need = 0;
            f->have = 0;
            if (rc < 0)
                return frame_fail(f, rc);
        }
    }
    return 0;
}
