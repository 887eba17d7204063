/* hash.h - XXH3-64 of chunk bytes, with an AVX2 or AVX-512 build picked at
 * run time: Debian's libxxhash is built for baseline SSE2 and the checksum
 * was a fifth of decode time; on a 256 KiB chunk in cache the AVX-512 build
 * hashes 46 GB/s against 33 for AVX2 (2-core Xeon VM). Results are
 * identical on every path (XXH3 is defined independently of its vector
 * width); check_simd compares each with libxxhash's own. The path follows
 * the rANS decoder's choice: WCODEC_SIMD=scalar|avx2|avx512 (rans.h). */
#ifndef WC_HASH_H
#define WC_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t wc_hash64(const void *p, size_t n);

/* The builds behind it, for tests: call only where the CPU has the
 * instruction set. */
uint64_t wc_hash64_avx2(const void *p, size_t n);   /* hash_avx2.c */
uint64_t wc_hash64_avx512(const void *p, size_t n); /* hash_avx512.c */

#endif
