/* hash.h - XXH3-64 of chunk bytes, with an AVX2 build picked at run time:
 * Debian's libxxhash is built for baseline SSE2 and the checksum was a
 * fifth of decode time. Results are identical on every path (XXH3 is
 * defined independently of its vector width). */
#ifndef WC_HASH_H
#define WC_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t wc_hash64(const void *p, size_t n);

#endif
