/* Framing: a 4-byte big-endian length, then that many bytes of protobuf Envelope.
 *
 * The decoder does no I/O: feed it bytes as they arrive and it calls back once
 * per complete frame. A length over the cap is refused as soon as the 4 header
 * bytes are seen, before anything is allocated; a zero length is refused too
 * (an Envelope always carries an id and a body). After an error the decoder
 * stays failed and refuses further input. */
#ifndef KKS_FRAME_H
#define KKS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define KKS_FRAME_MAX (64u * 1024u)        /* terminals, issuer link */
#define KKS_FRAME_MAX_BULK (1024u * 1024u) /* operator bulk messages */
#define KKS_FRAME_HDR 4u

typedef struct kks_framer {
    size_t max;      /* cap on a frame body */
    uint32_t need;   /* body length of the frame being read; 0 while in header */
    uint8_t hdr[4];
    uint8_t hdr_len;
    uint8_t *body;   /* partial body, allocated to exactly `need` bytes */
    uint32_t have;
    int error;       /* sticky: 0 or a negative KKS_E code */
} kks_framer;

/* Called for each complete frame; `data` is valid only during the call.
 * Return 0 to go on, or a negative code to stop decoding (it becomes sticky). */
typedef int (*kks_frame_cb)(void *ud, const uint8_t *data, size_t len);

void kks_framer_init(kks_framer *f, size_t max);
void kks_framer_close(kks_framer *f);

/* Feeds n bytes. Returns 0, KKS_ETOOBIG, KKS_EEMPTYFRAME, KKS_ENOMEM, or the
 * callback's own negative code. */
int kks_framer_feed(kks_framer *f, const uint8_t *p, size_t n, kks_frame_cb cb, void *ud);

/* Bytes held of an unfinished frame; non-zero at end of stream means truncated. */
size_t kks_framer_pending(const kks_framer *f);

/* Writes the 4-byte header for a body of len bytes. */
void kks_frame_header(uint8_t out[4], uint32_t len);

#endif
