/* libFuzzer target: the metrics server's request head parser
 * (kks_metrics_parse_head), as the server calls it on what has arrived so
 * far. Whatever the bytes, it reads within them (ASan), and a verdict given
 * for a prefix never changes when more bytes arrive: the server answers as
 * soon as a prefix decides. Build: make fuzz. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kks_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that ASan sees any read past them */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    enum kks_metrics_head full = kks_metrics_parse_head(buf, size);
    if (full > KKS_HEAD_TOO_LARGE)
        abort();
    if (full == KKS_HEAD_METRICS && memcmp(buf, "GET /metrics", 12) != 0)
        abort();
    if (size >= KKS_METRICS_HEAD_MAX && full == KKS_HEAD_MORE)
        abort(); /* bounded: 4 KiB without a verdict is too large */
    /* the verdict of some prefixes, as the reads of a slow peer */
    size_t cuts[] = {size / 2, size / 3, size ? size - 1 : 0, size > 1 ? data[0] % size : 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        enum kks_metrics_head v = kks_metrics_parse_head(buf, cuts[i]);
        if (v != KKS_HEAD_MORE && v != full)
            abort();
    }
    free(buf);
    return 0;
}
