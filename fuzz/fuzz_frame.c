/* libFuzzer target: the frame decoder and Envelope unpacking, as a server
 * sees bytes from a peer. The first byte picks how the input is split into
 * reads, so that frames straddle read boundaries. Build: make fuzz. */
#include <stddef.h>
#include <stdint.h>

#include "kks.pb-c.h"
#include "kks_frame.h"

static int on_frame(void *ud, const uint8_t *p, size_t len)
{
    Kks__Envelope *env = kks__envelope__unpack(NULL, len, p);
    if (!env)
        return -7;
    /* Touch what a handler would read. */
    if (env->body_case == KKS__ENVELOPE__BODY_PONG && env->pong)
        for (size_t i = 0; i < env->pong->n_links; i++)
            (void)env->pong->links[i]->address;
    kks__envelope__free_unpacked(env, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kks_framer f;
    size_t chunk;
    if (size < 1)
        return 0;
    chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    kks_framer_init(&f, (size_t)data[-1] & 1 ? 4096 : KKS_FRAME_MAX);
    while (size > 0) {
        size_t n = size < chunk ? size : chunk;
        if (kks_framer_feed(&f, data, n, on_frame, NULL) < 0)
            break;
        data += n;
        size -= n;
    }
    kks_framer_close(&f);
    return 0;
}
