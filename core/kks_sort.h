/* Stable sort of fixed-size records by an unsigned 64-bit key inside each
 * record: an LSD radix sort, 11 bits a pass, as many passes as the largest
 * key needs (a KK is under 2^54: 5). Records already in order cost one
 * read. Used where qsort was most of a command's own time (kksctl enrol and
 * credit-run order a national file by KK). */
#ifndef KKS_SORT_H
#define KKS_SORT_H

#include <stddef.h>

/* Sorts n records of size bytes at base by the uint64_t at key_offset in
 * each; equal keys keep their order. 0, or KKS_ENOMEM (nothing moved). */
int kks_sort_u64(void *base, size_t n, size_t size, size_t key_offset);

#endif
