/* Money for people. Amounts are int64_t whole rupiah everywhere. */
#ifndef KKS_MONEY_H
#define KKS_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Writes "Rp1.234.567" (sep '.', Indonesian) or "Rp1,234,567" (sep ','),
 * with a leading '-' for negatives, into out (truncated to cap, always
 * terminated). Returns the length written. */
size_t kks_rupiah(int64_t v, char sep, char *out, size_t cap);

#endif
