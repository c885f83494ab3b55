#include "kks_sort.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kks_err.h"

static uint64_t key_at(const unsigned char *rec, size_t key_offset)
{
    uint64_t k;
    memcpy(&k, rec + key_offset, sizeof k);
    return k;
}

int kks_sort_u64(void *base, size_t n, size_t size, size_t key_offset)
{
    enum { BITS = 11, BUCKETS = 1 << BITS };
    unsigned char *src = base, *dst, *tmp;
    size_t *count;
    uint64_t max = 0, prev = 0;
    int sorted = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_at(src + i * size, key_offset);
        sorted &= k >= prev;
        prev = k;
        max |= k;
    }
    if (sorted)
        return 0;
    if (!(tmp = malloc(n * size)) || !(count = malloc(BUCKETS * sizeof *count))) {
        free(tmp);
        return KKS_ENOMEM;
    }
    dst = tmp;
    for (unsigned shift = 0; shift < 64 && (max >> shift) != 0; shift += BITS) {
        size_t sum = 0;
        memset(count, 0, BUCKETS * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(key_at(src + i * size, key_offset) >> shift) & (BUCKETS - 1)]++;
        for (size_t d = 0; d < BUCKETS; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t d = (key_at(src + i * size, key_offset) >> shift) & (BUCKETS - 1);
            memcpy(dst + count[d]++ * size, src + i * size, size);
        }
        unsigned char *t = src;
        src = dst;
        dst = t;
    }
    if (src != base)
        memcpy(base, src, n * size);
    free(tmp);
    free(count);
    return 0;
}
