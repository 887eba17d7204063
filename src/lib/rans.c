/* rans.c - 32-way interleaved static rANS (see rans.h for the contract). */
#include "rans.h"

#include <stdlib.h>
#include <string.h>

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

void rans_normalize(const uint64_t counts[256], uint16_t freq[256])
{
    uint64_t total = 0;
    for (int s = 0; s < 256; s++)
        total += counts[s];

    int64_t sum = 0;
    for (int s = 0; s < 256; s++) {
        if (!counts[s]) {
            freq[s] = 0;
            continue;
        }
        /* Round to nearest; every present symbol keeps at least 1. */
        uint64_t f = (counts[s] * RANS_PROB_SCALE + total / 2) / total;
        if (f < 1)
            f = 1;
        if (f > RANS_PROB_SCALE - 1)
            f = RANS_PROB_SCALE - 1;
        freq[s] = (uint16_t)f;
        sum += (int64_t)f;
    }

    /* Fix the sum by moving slots to or from the symbol where a slot costs
     * least: the one with the largest count per slot (when adding) or the
     * smallest loss per slot taken (when removing). Cost of taking one slot
     * from s ~ counts[s] / freq[s], so take from the cheapest each time. */
    while (sum != RANS_PROB_SCALE) {
        int best = -1;
        double bestv = 0;
        for (int s = 0; s < 256; s++) {
            if (!counts[s])
                continue;
            if (sum < RANS_PROB_SCALE) {
                double v = (double)counts[s] / (freq[s] + 1.0);
                if (freq[s] < RANS_PROB_SCALE - 1 && (best < 0 || v > bestv))
                    best = s, bestv = v;
            } else {
                double v = (double)counts[s] / (freq[s] - 0.5);
                if (freq[s] > 1 && (best < 0 || v < bestv))
                    best = s, bestv = v;
            }
        }
        if (sum < RANS_PROB_SCALE) {
            /* Add in bulk when far off: rounding errors are small, but
             * one-by-one is 256 steps per slot. */
            int64_t d = RANS_PROB_SCALE - sum;
            int64_t room = RANS_PROB_SCALE - 1 - freq[best];
            int64_t step = d > 8 ? d / 8 : 1;
            if (step > room)
                step = room;
            freq[best] = (uint16_t)(freq[best] + step);
            sum += step;
        } else {
            freq[best]--;
            sum--;
        }
    }
}

int rans_freq_valid(const uint16_t freq[256])
{
    uint32_t sum = 0;
    for (int s = 0; s < 256; s++) {
        if (freq[s] >= RANS_PROB_SCALE)
            return -1;
        sum += freq[s];
    }
    return sum == RANS_PROB_SCALE ? 0 : -1;
}

void rans_etab_init(rans_etab *t, const uint16_t freq[256])
{
    uint16_t c = 0;
    for (int s = 0; s < 256; s++) {
        t->freq[s] = freq[s];
        t->start[s] = c;
        c = (uint16_t)(c + freq[s]);
    }
}

void rans_dtab_init(rans_dtab *t, const uint16_t freq[256])
{
    uint32_t c = 0;
    for (uint32_t s = 0; s < 256; s++) {
        for (uint32_t k = 0; k < freq[s]; k++)
            t->slot[c + k] = s | (uint32_t)freq[s] << 8 | k << 20;
        c += freq[s];
    }
}

size_t rans_bound(size_t n)
{
    /* At most one 16-bit word per symbol, plus the states. */
    return RANS_HEADER_BYTES + 2 * n + 2;
}

size_t rans_encode(const rans_etab *t, const uint8_t *src, size_t n,
                   uint8_t *dst, size_t cap)
{
    if (cap < RANS_HEADER_BYTES)
        return 0;
    uint32_t x[RANS_LANES];
    for (int l = 0; l < RANS_LANES; l++)
        x[l] = RANS_L;

    /* Words are produced last-first; write them backwards from the end of
     * dst, then move them behind the header. */
    uint8_t *lo = dst + RANS_HEADER_BYTES;
    uint8_t *w = dst + cap;
    for (size_t i = n; i-- > 0;) {
        uint32_t *xs = &x[i % RANS_LANES];
        uint32_t s = src[i];
        uint32_t f = t->freq[s];
        uint32_t xx = *xs;
        uint32_t xmax = ((RANS_L >> RANS_PROB_BITS) << 16) * f;
        if (xx >= xmax) {
            if (w - lo < 2)
                return 0;
            w -= 2;
            w[0] = (uint8_t)xx;
            w[1] = (uint8_t)(xx >> 8);
            xx >>= 16;
        }
        *xs = ((xx / f) << RANS_PROB_BITS) + (xx % f) + t->start[s];
    }
    for (int l = 0; l < RANS_LANES; l++) {
        dst[4 * l + 0] = (uint8_t)x[l];
        dst[4 * l + 1] = (uint8_t)(x[l] >> 8);
        dst[4 * l + 2] = (uint8_t)(x[l] >> 16);
        dst[4 * l + 3] = (uint8_t)(x[l] >> 24);
    }
    size_t nw = (size_t)(dst + cap - w);
    memmove(lo, w, nw);
    return RANS_HEADER_BYTES + nw;
}

/* Whole-u16 stores: gcc vectorises these loops, not byte stores. The
 * clones are static behind a plain exported function: clang 14 emits no
 * symbol under the plain name for an external target_clones function, so
 * callers in other files (codec.c) did not link. */
__attribute__((target_clones("avx2", "default"))) static void
rans_merge16_impl(const uint8_t *p0, const uint8_t *p1, size_t n,
                  uint8_t *dst, enum rans_merge how)
{
    if (how == RANS_MERGE_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)((p1[i] & 0x80) << 8 | p0[i] << 7 |
                                    (p1[i] & 0x7f));
            memcpy(dst + 2 * i, &v, 2); /* little-endian hosts */
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)(p0[i] << 8 | p1[i]);
            memcpy(dst + 2 * i, &v, 2);
        }
    }
}

void rans_merge16(const uint8_t *p0, const uint8_t *p1, size_t n, uint8_t *dst,
                  enum rans_merge how)
{
    rans_merge16_impl(p0, p1, n, dst, how);
}

void rans_raw7_pack(const uint8_t *r, size_t n, uint8_t *dst)
{
    uint64_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= (uint64_t)(r[i] & 0x7f) << bits;
        bits += 7;
        for (; bits >= 8; bits -= 8, acc >>= 8)
            *dst++ = (uint8_t)acc;
    }
    if (bits)
        *dst = (uint8_t)acc;
}

static inline uint16_t rans_joint16(uint32_t s, uint32_t r, uint32_t e)
{
    return (uint16_t)((r & 0x40) << 9 | ((s << 6) + e) | (r & 0x3f));
}

void rans_merge_joint(const uint8_t *sym, const uint8_t *raw7, size_t n,
                      unsigned base, uint8_t *dst)
{
    const uint32_t e = base << 7;
    uint32_t acc = 0; /* bits of raw7 read but not used yet */
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (bits < 7) { /* never reads past ceil(7n / 8) bytes */
            acc |= (uint32_t)*raw7++ << bits;
            bits += 8;
        }
        uint16_t v = rans_joint16(sym[i], acc, e);
        memcpy(dst + 2 * i, &v, 2); /* little-endian hosts */
        acc >>= 7;
        bits -= 7;
    }
}

/* Decode groups from g on with scalar code; shared tail of every variant. */
static int rans_decode_from(const uint32_t *tab, uint32_t *x, const uint8_t *p,
                            const uint8_t *end, uint8_t *dst, size_t g,
                            size_t n);

static int rans_decode_scalar(const rans_dtab *t, const uint8_t *src,
                              size_t len, uint8_t *dst, size_t n)
{
    if (len < RANS_HEADER_BYTES || ((len - RANS_HEADER_BYTES) & 1))
        return -1;
    const uint32_t *tab = t->slot;
    uint32_t x[RANS_LANES];
    for (int l = 0; l < RANS_LANES; l++) {
        x[l] = rd32(src + 4 * l);
        if (x[l] < RANS_L)
            return -1;
    }
    const uint8_t *p = src + RANS_HEADER_BYTES;
    const uint8_t *end = src + len;

    size_t g = 0;
    /* Fast path: a whole group reads at most 32 words, so check once.
     * Two phases per group: the 32 state updates are independent (full
     * instruction-level parallelism); only the cheap pointer advance of
     * the renorm phase is a chain. Doing both in one loop makes every
     * lane wait for the previous lane's table load. */
    for (; g + RANS_LANES <= n && end - p >= 2 * RANS_LANES; g += RANS_LANES) {
        uint8_t *out = dst + g;
        for (int l = 0; l < RANS_LANES; l++) {
            uint32_t xx = x[l];
            uint32_t e = tab[xx & (RANS_PROB_SCALE - 1)];
            out[l] = (uint8_t)e;
            x[l] = ((e >> 8) & 0xfff) * (xx >> RANS_PROB_BITS) + (e >> 20);
        }
        for (int l = 0; l < RANS_LANES; l++) {
            uint32_t xx = x[l];
            uint32_t need = xx < RANS_L;
            /* A mask, not ?: - gcc turns the select into a branch that
             * mispredicts a third of the time. */
            uint32_t m = 0u - need;
            x[l] = ((xx << 16 | rd16(p)) & m) | (xx & ~m);
            p += 2 * need;
        }
    }
    return rans_decode_from(tab, x, p, end, dst, g, n);
}

static int rans_decode_from(const uint32_t *tab, uint32_t *x, const uint8_t *p,
                            const uint8_t *end, uint8_t *dst, size_t g,
                            size_t n)
{
    /* Careful path: near the end of the words, or the last partial group. */
    for (; g < n; g += RANS_LANES) {
        uint8_t *out = dst + g;
        size_t m = n - g < RANS_LANES ? n - g : RANS_LANES;
        for (size_t l = 0; l < m; l++) {
            uint32_t xx = x[l];
            uint32_t e = tab[xx & (RANS_PROB_SCALE - 1)];
            out[l] = (uint8_t)e;
            xx = ((e >> 8) & 0xfff) * (xx >> RANS_PROB_BITS) + (e >> 20);
            if (xx < RANS_L) {
                if (end - p < 2)
                    return -1;
                xx = xx << 16 | rd16(p);
                p += 2;
            }
            x[l] = xx;
        }
    }
    if (p != end)
        return -1;
    for (int l = 0; l < RANS_LANES; l++)
        if (x[l] != RANS_L)
            return -1;
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* For each 8-bit renorm mask, the source word for each lane that reads:
 * lanes that read take consecutive words in lane order. */
static uint32_t rans_perm8[256][8];

static void rans_perm_init(void)
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
static inline __attribute__((always_inline, target("avx2,popcnt"))) int
rans_avx2_impl(const rans_dtab *t, const uint8_t *src, size_t len,
               uint8_t *dst, size_t n, const uint8_t *sm, uint8_t *tmp,
               enum rans_merge how, unsigned base)
{
    if (len < RANS_HEADER_BYTES || ((len - RANS_HEADER_BYTES) & 1))
        return -1;
    const uint32_t *tab = t->slot;
    uint32_t x[RANS_LANES];
    for (int l = 0; l < RANS_LANES; l++) {
        x[l] = rd32(src + 4 * l);
        if (x[l] < RANS_L)
            return -1;
    }
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
        return rans_decode_from(tab, x, p, end, dst, g, n);
    if (rans_decode_from(tab, x, p, end, tmp, g, n))
        return -1;
    if (how == RANS_MERGE_JOINT)
        rans_merge_joint(tmp + g, sm + g / 8 * 7, n - g, base, dst + 2 * g);
    else
        rans_merge16(tmp + g, sm + g, n - g, dst + 2 * g, how);
    return 0;
}

__attribute__((target("avx2,popcnt"))) static int
rans_decode_avx2(const rans_dtab *t, const uint8_t *src, size_t len,
                 uint8_t *dst, size_t n)
{
    return rans_avx2_impl(t, src, len, dst, n, NULL, NULL, 0, 0);
}

__attribute__((target("avx2,popcnt"))) static int
rans_decode_bf16_avx2(const rans_dtab *t, const uint8_t *src, size_t len,
                      const uint8_t *sm, uint8_t *dst, size_t n, uint8_t *tmp)
{
    return rans_avx2_impl(t, src, len, dst, n, sm, tmp, RANS_MERGE_BF16, 0);
}

__attribute__((target("avx2,popcnt"))) static int
rans_decode_hilo_avx2(const rans_dtab *t, const uint8_t *src, size_t len,
                      const uint8_t *lo, uint8_t *dst, size_t n, uint8_t *tmp)
{
    return rans_avx2_impl(t, src, len, dst, n, lo, tmp, RANS_MERGE_HI_LO, 0);
}

__attribute__((target("avx2,popcnt"))) static int
rans_decode_joint_avx2(const rans_dtab *t, const uint8_t *src, size_t len,
                       const uint8_t *raw7, unsigned base, uint8_t *dst,
                       size_t n, uint8_t *tmp)
{
    return rans_avx2_impl(t, src, len, dst, n, raw7, tmp, RANS_MERGE_JOINT,
                          base);
}

typedef int (*rans_decode_fn)(const rans_dtab *, const uint8_t *, size_t,
                              uint8_t *, size_t);
static rans_decode_fn rans_pick(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        rans_perm_init();
        return rans_decode_avx2;
    }
    return rans_decode_scalar;
}
#include <pthread.h>
static rans_decode_fn rans_impl;
static int rans_have_avx2;
static pthread_once_t rans_once = PTHREAD_ONCE_INIT;
static void rans_init_once(void)
{
    rans_impl = getenv("WCODEC_NO_SIMD") ? rans_decode_scalar : rans_pick();
    rans_have_avx2 = rans_impl != rans_decode_scalar;
}
#endif

int rans_decode_merge16(const rans_dtab *t, const uint8_t *src, size_t len,
                        const uint8_t *plane1, uint8_t *dst, size_t n,
                        uint8_t *tmp, enum rans_merge how)
{
#if defined(__x86_64__) && defined(__GNUC__)
    pthread_once(&rans_once, rans_init_once);
    if (rans_have_avx2)
        return how == RANS_MERGE_BF16
                   ? rans_decode_bf16_avx2(t, src, len, plane1, dst, n, tmp)
                   : rans_decode_hilo_avx2(t, src, len, plane1, dst, n, tmp);
#endif
    if (rans_decode(t, src, len, tmp, n))
        return -1;
    rans_merge16(tmp, plane1, n, dst, how);
    return 0;
}

int rans_decode_joint(const rans_dtab *t, const uint8_t *src, size_t len,
                      const uint8_t *raw7, unsigned base, uint8_t *dst,
                      size_t n, uint8_t *tmp)
{
#if defined(__x86_64__) && defined(__GNUC__)
    pthread_once(&rans_once, rans_init_once);
    if (rans_have_avx2)
        return rans_decode_joint_avx2(t, src, len, raw7, base, dst, n, tmp);
#endif
    if (rans_decode(t, src, len, tmp, n))
        return -1;
    rans_merge_joint(tmp, raw7, n, base, dst);
    return 0;
}

int rans_decode(const rans_dtab *t, const uint8_t *src, size_t len,
                uint8_t *dst, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
    pthread_once(&rans_once, rans_init_once);
    return rans_impl(t, src, len, dst, n);
#else
    return rans_decode_scalar(t, src, len, dst, n);
#endif
}
