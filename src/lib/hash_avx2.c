/* hash_avx2.c - XXH3-64 from Debian's xxhash.h, inlined and compiled with
 * -mavx2 (this file only; called only when the CPU has AVX2). */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "hash.h"

uint64_t wc_hash64_avx2(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}
