/* libFuzzer target: kc_scrape_parse, the reader of a daemon's metrics response
 * that kksctl credit-run samples the switch with. Whatever the bytes, it reads
 * within them (ASan) and never past KC_SCRAPE_MAX, it finds at most the names
 * asked for, a value it gives is finite and one it does not find is left as
 * it was, and an answer is the same when the bytes are read again. Build:
 * make fuzz. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kc_scrape.h"
#include "kks_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"process_resident_memory_bytes", "kks_switch_wal_bytes",
                                        "kks_switch_credits_applied_total"};
    enum { N = sizeof names / sizeof names[0] };
    /* a copy of exactly size bytes, so that ASan sees any read past them */
    char *buf = malloc(size ? size : 1);
    double v[N], w[N];
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    for (int i = 0; i < N; i++)
        v[i] = w[i] = -1;
    int found = kc_scrape_parse(buf, size, names, v, N);
    if (size > KC_SCRAPE_MAX && found != KKS_ETOOBIG)
        abort(); /* bounded: more than the cap is refused whole */
    if (found != KKS_ETOOBIG && found != KKS_EPROTO && (found < 0 || found > N))
        abort();
    if (found >= 0 && (size < 13 || memcmp(buf, "HTTP/1.", 7) != 0))
        abort(); /* only a response gives values */
    int changed = 0;
    for (int i = 0; i < N; i++) {
        if (v[i] != -1 && !isfinite(v[i]))
            abort();
        changed += v[i] != -1;
    }
    if (changed > (found > 0 ? found : 0))
        abort(); /* a value was set for a name not counted as found */
    if (kc_scrape_parse(buf, size, names, w, N) != found || memcmp(v, w, sizeof v) != 0)
        abort(); /* pure: the same bytes, the same answer */
    free(buf);
    return 0;
}
