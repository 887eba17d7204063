/* hash.c - XXH3-64 dispatch (see hash.h). */
#include "hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static uint64_t wc_hash64_base(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

static uint64_t (*wc_hash_impl)(const void *, size_t) = wc_hash64_base;
static pthread_once_t wc_hash_once = PTHREAD_ONCE_INIT;

static void wc_hash_pick(void)
{
#if defined(__x86_64__) && defined(WC_HAVE_HASH_AVX2)
    __builtin_cpu_init();
    const char *simd = getenv("WCODEC_SIMD"); /* rans.h: scalar = no SIMD */
    if (getenv("WCODEC_NO_SIMD") || (simd && !strcmp(simd, "scalar")))
        return;
    if (__builtin_cpu_supports("avx512f") && !(simd && !strcmp(simd, "avx2")))
        wc_hash_impl = wc_hash64_avx512;
    else if (__builtin_cpu_supports("avx2"))
        wc_hash_impl = wc_hash64_avx2;
#endif
}

uint64_t wc_hash64(const void *p, size_t n)
{
    pthread_once(&wc_hash_once, wc_hash_pick);
    return wc_hash_impl(p, n);
}
