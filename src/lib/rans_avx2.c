/* rans_avx2.c - the AVX2 rANS decoders (rans_simd.h): 4 vectors of 8
 * states. Compiled with -mavx2 -mpopcnt; rans.c calls them only on CPUs
 * with AVX2. */
#include <immintrin.h>
#include <string.h>

#include "rans.h"
#include "rans_simd.h"

/* For each 8-bit renorm mask, the source word for each lane that reads:
 * lanes that read take consecutive words in lane order. */
static uint32_t rans_perm8[256][8];

static void rans_avx2_init(void)
{
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int i = 0; i < 8; i++)
            rans_perm8[m][i] = (m >> i & 1) ? (uint32_t)k++ : 0;
    }
}

/* AVX2: 4 vectors of 8 lanes. Look up the table entries, update the
 * states, then renormalise the lanes below RANS_L with words spread by a
 * permute from the LUT above. Same stream order as scalar. */
static inline __attribute__((always_inline)) int
rans_avx2_impl(const rans_dtab *t, const uint8_t *src, size_t len,
               uint8_t *dst, size_t n, const uint8_t *sm, uint8_t *tmp,
               enum rans_merge how, unsigned base)
{
    const uint32_t *tab = t->slot;
    uint32_t x[RANS_LANES];
    if (rans_states_load(src, len, x))
        return -1;
    const uint8_t *p = src + RANS_HEADER_BYTES;
    const uint8_t *end = src + len;

    __m256i X[4];
#pragma GCC unroll 4
    for (int v = 0; v < 4; v++)
        X[v] = _mm256_loadu_si256((const __m256i *)(x + 8 * v));
    const __m256i mf = _mm256_set1_epi32(0xfff);
    const __m256i bias = _mm256_set1_epi32((int)0x80000000u);
    const __m256i lim = _mm256_set1_epi32((int)(RANS_L ^ 0x80000000u));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);

    size_t g = 0;
    /* JOINT reads 30 packed bytes from 7g/8 on for a group. */
    const size_t jlim = how == RANS_MERGE_JOINT ? rans_raw7_size(n) : SIZE_MAX;
    /* 32 words + 16 bytes of over-read for the last unaligned load. */
    for (; g + RANS_LANES <= n && end - p >= 2 * RANS_LANES + 16 &&
           g / 8 * 7 + 30 <= jlim;
         g += RANS_LANES) {
        __m256i S[4];
        (void)tmp;
        /* Phase 1: the 32 state updates are independent. The table
         * lookups are scalar loads: vpgatherdd measured 2x slower on the
         * Ice Lake machines this was tuned on. */
        uint32_t xs[32] __attribute__((aligned(32)));
        uint32_t es[32] __attribute__((aligned(32)));
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) _mm256_store_si256((__m256i*)(xs+8*v), X[v]);
#pragma GCC unroll 32
        for (int l = 0; l < 32; l++) es[l] = tab[xs[l] & (RANS_PROB_SCALE-1)];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            __m256i e = _mm256_load_si256((const __m256i*)(es+8*v));
            S[v] = _mm256_and_si256(e, _mm256_set1_epi32(0xff));
            __m256i f = _mm256_and_si256(_mm256_srli_epi32(e, 8), mf);
            X[v] = _mm256_add_epi32(
                _mm256_mullo_epi32(f, _mm256_srli_epi32(X[v], RANS_PROB_BITS)),
                _mm256_srli_epi32(e, 20));
        }
        /* Phase 2: renormalise; only the pointer advance is a chain. */
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            /* unsigned x < RANS_L via signed compare on biased values */
            __m256i lt = _mm256_cmpgt_epi32(lim, _mm256_xor_si256(X[v], bias));
            unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(lt));
            __m256i w = _mm256_cvtepu16_epi32(
                _mm_loadu_si128((const __m128i *)p));
            w = _mm256_permutevar8x32_epi32(
                w, _mm256_loadu_si256((const __m256i *)rans_perm8[mask]));
            __m256i nx = _mm256_or_si256(_mm256_slli_epi32(X[v], 16), w);
            X[v] = _mm256_blendv_epi8(X[v], nx, lt);
            p += 2 * __builtin_popcount(mask);
        }
        if (how == RANS_MERGE_JOINT) {
            /* 16 elements are 14 packed bytes: each 128-bit half takes 8
             * values from 7 bytes. Value k sits at bit 7k % 8 of a byte
             * pair; multiplying by 2^(9 - 7k % 8) moves it to bits 9..15
             * of its 16-bit lane (t), sign on top. With r = t >> 9 (sign
             * at bit 6, the low mantissa bits below), the element is
             * r + sign * (2^15 - 2^6) + (s << 6) + (base << 7). */
            const __m256i pick = _mm256_setr_epi8(
                0, 1, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7,
                7, 8, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14);
            const __m256i mul = _mm256_setr_epi16(512, 4, 8, 16, 32, 64, 128, 256,
                                                  512, 4, 8, 16, 32, 64, 128, 256);
            const __m256i e = _mm256_set1_epi16((short)(base << 7));
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128(
                    (const __m128i *)(sm + g / 8 * 7 + 14 * h)));
                const __m256i t =
                    _mm256_mullo_epi16(_mm256_shuffle_epi8(raw, pick), mul);
                /* symbols straight from the 32-bit lanes to 16 bits, in
                 * element order (packus interleaves 64-bit quarters) */
                const __m256i s16 = _mm256_permute4x64_epi64(
                    _mm256_packus_epi32(S[2 * h], S[2 * h + 1]), 0xd8);
                const __m256i o = _mm256_add_epi16(
                    _mm256_add_epi16(_mm256_srli_epi16(t, 9),
                                     _mm256_and_si256(_mm256_srai_epi16(t, 15),
                                                      _mm256_set1_epi16(0x7fc0))),
                    _mm256_add_epi16(_mm256_slli_epi16(s16, 6), e));
                _mm256_storeu_si256((__m256i *)(dst + 2 * g + 32 * h), o);
            }
            continue;
        }
        __m256i ab = _mm256_packus_epi32(S[0], S[1]);
        __m256i cd = _mm256_packus_epi32(S[2], S[3]);
        __m256i b = _mm256_packus_epi16(ab, cd);
        b = _mm256_permutevar8x32_epi32(b, order);
        if (!sm) {
            _mm256_storeu_si256((__m256i *)(dst + g), b);
            continue;
        }
        __m256i s8 = _mm256_loadu_si256((const __m256i *)(sm + g));
        __m256i lo, hi;
        if (how == RANS_MERGE_BF16) {
            /* u16 = (sm & 0x80) << 8 | e << 7 | (sm & 0x7f), as low and
             * high bytes; the 16-bit shifts leak a bit from the
             * neighbouring byte, which the masks remove. */
            lo = _mm256_or_si256(
                _mm256_and_si256(_mm256_slli_epi16(b, 7), _mm256_set1_epi8(-128)),
                _mm256_and_si256(s8, _mm256_set1_epi8(0x7f)));
            hi = _mm256_or_si256(
                _mm256_and_si256(s8, _mm256_set1_epi8(-128)),
                _mm256_and_si256(_mm256_srli_epi16(b, 1), _mm256_set1_epi8(0x7f)));
        } else {
            lo = s8;
            hi = b;
        }
        __m256i u0 = _mm256_unpacklo_epi8(lo, hi);
        __m256i u1 = _mm256_unpackhi_epi8(lo, hi);
        _mm256_storeu_si256((__m256i *)(dst + 2 * g),
                            _mm256_permute2x128_si256(u0, u1, 0x20));
        _mm256_storeu_si256((__m256i *)(dst + 2 * g + 32),
                            _mm256_permute2x128_si256(u0, u1, 0x31));
    }
    for (int v = 0; v < 4; v++)
        _mm256_storeu_si256((__m256i *)(x + 8 * v), X[v]);
    if (!sm)
        return rans_decode_tail(t, x, p, end, dst, g, n);
    if (rans_decode_tail(t, x, p, end, tmp, g, n))
        return -1;
    if (how == RANS_MERGE_JOINT)
        rans_merge_joint(tmp + g, sm + g / 8 * 7, n - g, base, dst + 2 * g);
    else
        rans_merge16(tmp + g, sm + g, n - g, dst + 2 * g, how);
    return 0;
}

static int
rans_decode_avx2(const rans_dtab *t, const uint8_t *src, size_t len,
                 uint8_t *dst, size_t n)
{
    return rans_avx2_impl(t, src, len, dst, n, NULL, NULL, 0, 0);
}

static int
rans_decode_merge16_avx2(const rans_dtab *t, const uint8_t *src, size_t len,
                         const uint8_t *plane1, uint8_t *dst, size_t n,
                         uint8_t *tmp, enum rans_merge how)
{
    /* Two instances: the merge is chosen outside the loop. */
    if (how == RANS_MERGE_BF16)
        return rans_avx2_impl(t, src, len, dst, n, plane1, tmp,
                              RANS_MERGE_BF16, 0);
    return rans_avx2_impl(t, src, len, dst, n, plane1, tmp, RANS_MERGE_HI_LO,
                          0);
}

static int
rans_decode_joint_avx2(const rans_dtab *t, const uint8_t *src, size_t len,
                       const uint8_t *raw7, unsigned base, uint8_t *dst,
                       size_t n, uint8_t *tmp)
{
    return rans_avx2_impl(t, src, len, dst, n, raw7, tmp, RANS_MERGE_JOINT,
                          base);
}

const rans_ops rans_ops_avx2 = {
    .init = rans_avx2_init,
    .decode = rans_decode_avx2,
    .merge16 = rans_decode_merge16_avx2,
    .joint = rans_decode_joint_avx2,
};
