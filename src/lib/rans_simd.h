/* rans_simd.h - the vector decoders behind rans.c's run-time dispatch.
 *
 * Internal to rans*.c: each rans_<isa>.c file is compiled with its own
 * -m flags (meson.build) and only called once rans.c has seen, from cpuid,
 * that the CPU has that instruction set. Every variant decodes the same
 * blocks to the same bytes as the scalar decoder (the oracle), and reports
 * the same blocks as corrupt: the vector loop runs only while a whole group
 * of 32 symbols cannot run out of words, and hands the rest of the block to
 * rans_decode_tail, which does the bounds and final-state checks.
 */
#ifndef WC_RANS_SIMD_H
#define WC_RANS_SIMD_H

/* Include rans.h before this file: rans.h is the coder's contract and
 * rans.c includes this one, so it does not include rans.h back. */

/* A block's header: RANS_LANES little-endian u32 initial states, each at
 * least RANS_L, then an even number of bytes of 16-bit words. Loads x[]
 * and returns 0, or -1 for a malformed block. (The AVX-512 decoder checks
 * the same with two vector loads.) */
static inline int rans_states_load(const uint8_t *src, size_t len,
                                   uint32_t *x)
{
    if (len < RANS_HEADER_BYTES || ((len - RANS_HEADER_BYTES) & 1))
        return -1;
    for (int l = 0; l < RANS_LANES; l++) {
        x[l] = (uint32_t)src[4 * l] | (uint32_t)src[4 * l + 1] << 8 |
               (uint32_t)src[4 * l + 2] << 16 | (uint32_t)src[4 * l + 3] << 24;
        if (x[l] < RANS_L)
            return -1;
    }
    return 0;
}

/* Scalar decode of groups g.. (g a multiple of RANS_LANES) of a block whose
 * states are x[] and next word is at p; checks that the block ends exactly
 * at end with every state back at RANS_L. 0 or -1. */
int rans_decode_tail(const rans_dtab *t, uint32_t *x, const uint8_t *p,
                     const uint8_t *end, uint8_t *dst, size_t g, size_t n);

/* One set of entry points per instruction set; same contracts as
 * rans_decode, rans_decode_merge16 and rans_decode_joint in rans.h. */
typedef struct {
    void (*init)(void); /* once, before the first call; may be NULL */
    int (*decode)(const rans_dtab *t, const uint8_t *src, size_t len,
                  uint8_t *dst, size_t n);
    int (*merge16)(const rans_dtab *t, const uint8_t *src, size_t len,
                   const uint8_t *plane1, uint8_t *dst, size_t n, uint8_t *tmp,
                   enum rans_merge how);
    int (*joint)(const rans_dtab *t, const uint8_t *src, size_t len,
                 const uint8_t *raw7, unsigned base, uint8_t *dst, size_t n,
                 uint8_t *tmp);
    /* rans_decode_pair; NULL: one job after the other */
    int (*pair)(const rans_job *a, const rans_job *b);
} rans_ops;

extern const rans_ops rans_ops_avx2;   /* rans_avx2.c */
extern const rans_ops rans_ops_avx512; /* rans_avx512.c */

#endif
