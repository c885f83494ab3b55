#include "kks_money.h"

#include <inttypes.h>
#include <stdio.h>

size_t kks_rupiah(int64_t v, char sep, char *out, size_t cap)
{
    char digits[24], body[40];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(digits, sizeof digits, "%" PRIu64, mag), k = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            body[k++] = sep;
        body[k++] = digits[i];
    }
    body[k] = '\0';
    n = snprintf(out, cap, "%sRp%s", v < 0 ? "-" : "", body);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
}
