/* rans_avx512.c - the AVX-512 rANS decoders (rans_simd.h).
 *
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vbmi; rans.c calls
 * these only on CPUs (and kernels) with all four.
 *
 * The 32 states live in two zmm registers, lanes 0-15 and 16-31. One group
 * of 32 symbols is:
 *   1. the table entries of all 32 slots by two vpgatherdd;
 *   2. x = freq * (x >> 12) + (slot - start), 16 lanes per instruction;
 *   3. renormalisation without a branch: a compare gives the mask of lanes
 *      below RANS_L, the next 16 words (zero-extended to 32 bits) are
 *      expanded into exactly those lanes (vpexpandd: the k-th set lane gets
 *      the k-th word, which is the stream's lane order), and the stream
 *      pointer moves by the popcount of the mask;
 *   4. the symbols (low byte of each entry) are packed and stored straight
 *      into the destination, merged with the raw plane or the packed 7-bit
 *      remainders where the codec has one.
 * No symbol takes a branch. Each lane's state is one dependency chain
 * (gather -> multiply -> compare -> expand -> gather): with 32 lanes the
 * loop is bound by that chain's latency (~58 core cycles per group on the
 * machines this was tuned on), not by the instruction count, so the merge
 * work of step 4 is nearly free, and two blocks decoded in lockstep
 * (ra5_two, for rans_decode_pair) take 1.6x the symbols per second.
 *
 * Bounds: a group reads at most 32 words (64 bytes); each half loads 32
 * bytes from where its words start, so the loop runs only while 64 bytes
 * remain, and the block's last groups go to the scalar tail, which checks
 * every read. The raw plane and the packed bits are read with exact or
 * masked loads inside their n (or rans_raw7_size(n)) bytes.
 */
#include <immintrin.h>
#include <string.h>

#include "rans.h"
#include "rans_simd.h"

/* freq * (x >> 12) for 16 lanes, where freq = (e >> 8) & 0xfff. vpmulld
 * costs 10 cycles of latency on the chain on Intel cores; two vpmuludq
 * (5 cycles, even and odd lanes) and a merge cost 6-7. The product fits 32
 * bits (freq < 2^12, x >> 12 < 2^20). */
static inline __attribute__((always_inline)) __m512i
ra5_mulfreq(__m512i x, __m512i e)
{
    const __m512i m12 = _mm512_set1_epi32(0xfff);
    __m512i ev = _mm512_mul_epu32(_mm512_srli_epi32(x, RANS_PROB_BITS),
                                  _mm512_and_si512(_mm512_srli_epi32(e, 8), m12));
    __m512i od = _mm512_mul_epu32(_mm512_srli_epi64(x, 32 + RANS_PROB_BITS),
                                  _mm512_and_si512(_mm512_srli_epi64(e, 40), m12));
    /* odd products sit in the low half of their qword: swap them up */
    return _mm512_mask_shuffle_epi32(ev, 0xAAAA, od, _MM_PERM_CDAB);
}

/* Steps 1-3 for one group: advance the two state vectors, return the 32
 * table entries (symbol in the low byte of each). */
static inline __attribute__((always_inline)) void
ra5_group(const uint32_t *tab, __m512i *X0, __m512i *X1, const uint8_t **pp,
          __m512i *E0, __m512i *E1)
{
    const __m512i m12 = _mm512_set1_epi32(RANS_PROB_SCALE - 1);
    const __m512i lim = _mm512_set1_epi32((int)RANS_L);
    __m512i x0 = *X0, x1 = *X1;
    __m512i e0 = _mm512_i32gather_epi32(_mm512_and_si512(x0, m12), tab, 4);
    __m512i e1 = _mm512_i32gather_epi32(_mm512_and_si512(x1, m12), tab, 4);
    x0 = _mm512_add_epi32(ra5_mulfreq(x0, e0), _mm512_srli_epi32(e0, 20));
    x1 = _mm512_add_epi32(ra5_mulfreq(x1, e1), _mm512_srli_epi32(e1, 20));
    const uint8_t *p = *pp;
    __mmask16 k0 = _mm512_cmplt_epu32_mask(x0, lim);
    __mmask16 k1 = _mm512_cmplt_epu32_mask(x1, lim);
    /* The word loads depend only on p (known a group ahead), so they and
     * the shifts run beside the chain; only the expand waits for the mask. */
    __m512i w0 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    p += 2 * (unsigned)__builtin_popcount((unsigned)k0);
    __m512i w1 = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    p += 2 * (unsigned)__builtin_popcount((unsigned)k1);
    x0 = _mm512_mask_or_epi32(x0, k0, _mm512_slli_epi32(x0, 16),
                              _mm512_maskz_expand_epi32(k0, w0));
    x1 = _mm512_mask_or_epi32(x1, k1, _mm512_slli_epi32(x1, 16),
                              _mm512_maskz_expand_epi32(k1, w1));
    *X0 = x0;
    *X1 = x1;
    *pp = p;
    *E0 = e0;
    *E1 = e1;
}

/* The symbols of a group as 32 words (low byte; the high byte holds freq
 * bits, which every caller masks or shifts out). */
static inline __attribute__((always_inline)) __m512i ra5_words(__m512i e0,
                                                               __m512i e1)
{
    const __m512i idx = _mm512_set_epi16(
        62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28,
        26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    return _mm512_permutex2var_epi16(e0, idx, e1);
}

/* One block being decoded: its table, states, word stream, next group. */
typedef struct {
    const rans_job *j;
    const uint32_t *tab;
    __m512i X0, X1;
    const uint8_t *p, *end;
    size_t g;
} ra5_blk;

/* Check the header and load the states; 0 or -1. */
static inline __attribute__((always_inline)) int ra5_begin(ra5_blk *b,
                                                           const rans_job *j)
{
    b->j = j;
    b->tab = j->t->slot;
    b->g = 0;
    if (j->len < RANS_HEADER_BYTES || ((j->len - RANS_HEADER_BYTES) & 1))
        return -1;
    const __m512i lim = _mm512_set1_epi32((int)RANS_L);
    b->X0 = _mm512_loadu_si512(j->src); /* little-endian u32 states */
    b->X1 = _mm512_loadu_si512(j->src + 64);
    if (_mm512_cmplt_epu32_mask(b->X0, lim) |
        _mm512_cmplt_epu32_mask(b->X1, lim))
        return -1;
    b->p = j->src + RANS_HEADER_BYTES;
    b->end = j->src + j->len;
    return 0;
}

/* A whole group can run without a bounds check: at most 32 words. */
static inline __attribute__((always_inline)) int ra5_more(const ra5_blk *b)
{
    return b->g + RANS_LANES <= b->j->n && b->end - b->p >= 2 * RANS_LANES;
}

/* JOINT: qword q of the spread gets bytes 7q/2 .. 7q/2 + 7 of the 28
 * packed bytes of the group (values 4q .. 4q + 3 start at bit 0 or 4 of
 * it); vpmultishiftqb then takes, for word i of the qword, the 8 bits at
 * s = 4 (q & 1) + 7i into its low byte (the value's bits 0-5 where the
 * element wants them) and the 8 bits at s - 1 (mod 64) into its high byte
 * (the value's bit 6, the sign, lands on bit 15). */
typedef struct {
    __m512i spread, shift;
} ra5_jconst;

static inline __attribute__((always_inline)) ra5_jconst ra5_jinit(void)
{
    uint8_t sp[64], sh[64];
    for (int q = 0; q < 8; q++)
        for (int j = 0; j < 8; j++) {
            sp[8 * q + j] = (uint8_t)((7 * q >> 1) + j);
            unsigned s = 4u * (q & 1) + 7u * (j >> 1);
            sh[8 * q + j] = (uint8_t)((j & 1) ? (s + 63) & 63 : s);
        }
    return (ra5_jconst){_mm512_loadu_si512(sp), _mm512_loadu_si512(sh)};
}

/* Step 4: the group's 32 symbols (entries e0, e1) into the destination. */
static inline __attribute__((always_inline)) void
ra5_emit(const ra5_blk *b, __m512i e0, __m512i e1, int how, ra5_jconst jc)
{
    const rans_job *j = b->j;
    size_t g = b->g;
    if (!how) {
        /* symbol byte i of the group is byte 4i of the entries */
        const __m512i bidx = _mm512_set_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 124, 120, 116, 112, 108, 104, 100,
            96, 92, 88, 84, 80, 76, 72, 68, 64, 60, 56, 52, 48, 44, 40, 36, 32,
            28, 24, 20, 16, 12, 8, 4, 0);
        _mm256_storeu_si256(
            (__m256i *)(j->dst + g),
            _mm512_castsi512_si256(_mm512_permutex2var_epi8(e0, bidx, e1)));
        return;
    }
    __m512i s16 = ra5_words(e0, e1);
    __m512i o;
    if (how == RANS_MERGE_JOINT) {
        /* element = (r & 0x40) << 9 | (s + 2 base) << 6 | (r & 0x3f) */
        __m256i raw = _mm256_maskz_loadu_epi8(0x0fffffff, j->side + g / 8 * 7);
        __m512i r = _mm512_multishift_epi64_epi8(
            jc.shift,
            _mm512_permutexvar_epi8(jc.spread, _mm512_castsi256_si512(raw)));
        __m512i sv = _mm512_slli_epi16(
            _mm512_add_epi16(_mm512_and_si512(s16, _mm512_set1_epi16(0xff)),
                             _mm512_set1_epi16((short)(2 * j->base))),
            6);
        o = _mm512_ternarylogic_epi32(_mm512_set1_epi16((short)0x803f), r, sv,
                                      0xEA); /* (a & b) | c */
    } else {
        __m512i z = _mm512_cvtepu8_epi16(
            _mm256_loadu_si256((const __m256i *)(j->side + g)));
        if (how == RANS_MERGE_BF16) {
            /* (p1 & 0x80) << 8 | p0 << 7 | (p1 & 0x7f): the sign from
             * z << 8, the exponent from s16 << 7 (its top bit, a freq
             * bit, is replaced by the sign), the rest from z. */
            __m512i d = _mm512_ternarylogic_epi32(
                _mm512_set1_epi16((short)0x8000), _mm512_slli_epi16(z, 8),
                _mm512_slli_epi16(s16, 7), 0xCA); /* a ? b : c */
            o = _mm512_ternarylogic_epi32(_mm512_set1_epi16(0x7f), z, d, 0xCA);
        } else {
            o = _mm512_or_si512(_mm512_slli_epi16(s16, 8), z);
        }
    }
    _mm512_storeu_si512(j->dst + 2 * g, o);
}

static inline __attribute__((always_inline)) void
ra5_step(ra5_blk *b, int how, ra5_jconst jc)
{
    __m512i e0, e1;
    ra5_group(b->tab, &b->X0, &b->X1, &b->p, &e0, &e1);
    ra5_emit(b, e0, e1, how, jc);
    b->g += RANS_LANES;
}

/* The rest of the block with scalar code (bounds and final checks), then
 * the merge of those last symbols. 0 or -1. */
static int ra5_finish(const ra5_blk *b, int how)
{
    const rans_job *j = b->j;
    uint32_t x[RANS_LANES];
    _mm512_storeu_si512(x, b->X0);
    _mm512_storeu_si512(x + 16, b->X1);
    size_t g = b->g, n = j->n;
    if (!how)
        return rans_decode_tail(j->t, x, b->p, b->end, j->dst, g, n);
    if (rans_decode_tail(j->t, x, b->p, b->end, j->tmp, g, n))
        return -1;
    if (how == RANS_MERGE_JOINT)
        rans_merge_joint(j->tmp + g, j->side + g / 8 * 7, n - g, j->base,
                         j->dst + 2 * g);
    else
        rans_merge16(j->tmp + g, j->side + g, n - g, j->dst + 2 * g,
                     (enum rans_merge)how);
    return 0;
}

static inline __attribute__((always_inline)) int ra5_one(const rans_job *j,
                                                         int how)
{
    ra5_blk b;
    if (ra5_begin(&b, j))
        return -1;
    ra5_jconst jc = ra5_jinit();
    while (ra5_more(&b))
        ra5_step(&b, how, jc);
    return ra5_finish(&b, how);
}

/* Two blocks in lockstep: their chains are independent, so the second
 * block's gathers and multiplies fill the latency of the first's. ha and
 * hb are the blocks' output forms (constants in every instance). Returns
 * bit 0 set if a is corrupt, bit 1 if b is. */
static inline __attribute__((always_inline)) int
ra5_two(const rans_job *ja, const rans_job *jb, int ha, int hb)
{
    ra5_blk a, b;
    int bad = (ra5_begin(&a, ja) ? 1 : 0) | (ra5_begin(&b, jb) ? 2 : 0);
    if (bad)
        return bad | (bad & 1 ? (bad & 2 || ra5_one(jb, hb) ? 2 : 0)
                              : (ra5_one(ja, ha) ? 1 : 0));
    ra5_jconst jc = ra5_jinit();
    while (ra5_more(&a) && ra5_more(&b)) {
        __m512i a0, a1, b0, b1;
        ra5_group(a.tab, &a.X0, &a.X1, &a.p, &a0, &a1);
        ra5_group(b.tab, &b.X0, &b.X1, &b.p, &b0, &b1);
        ra5_emit(&a, a0, a1, ha, jc);
        ra5_emit(&b, b0, b1, hb, jc);
        a.g += RANS_LANES;
        b.g += RANS_LANES;
    }
    while (ra5_more(&a))
        ra5_step(&a, ha, jc);
    while (ra5_more(&b))
        ra5_step(&b, hb, jc);
    return (ra5_finish(&a, ha) ? 1 : 0) | (ra5_finish(&b, hb) ? 2 : 0);
}

static int ra5_pair(const rans_job *a, const rans_job *b)
{
    /* One instance per pair of output forms that neighbouring chunks have:
     * the same form, or bf16 JOINT beside bf16 PLANES (the packer picks
     * one per tensor, so bf16 files alternate). Others go one by one. */
    enum { J = RANS_MERGE_JOINT, B = RANS_MERGE_BF16, H = RANS_MERGE_HI_LO };
    switch (a->how << 4 | b->how) {
    case 0x00:
        return ra5_two(a, b, 0, 0);
    case B << 4 | B:
        return ra5_two(a, b, B, B);
    case H << 4 | H:
        return ra5_two(a, b, H, H);
    case J << 4 | J:
        return ra5_two(a, b, J, J);
    case J << 4 | B:
        return ra5_two(a, b, J, B);
    case B << 4 | J:
        return ra5_two(a, b, B, J);
    default:
        return (ra5_one(a, a->how) ? 1 : 0) | (ra5_one(b, b->how) ? 2 : 0);
    }
}

static int rans_decode_avx512(const rans_dtab *t, const uint8_t *src,
                              size_t len, uint8_t *dst, size_t n)
{
    rans_job j = {.t = t, .src = src, .len = len, .dst = dst, .n = n};
    return ra5_one(&j, 0);
}

static int rans_decode_merge16_avx512(const rans_dtab *t, const uint8_t *src,
                                      size_t len, const uint8_t *plane1,
                                      uint8_t *dst, size_t n, uint8_t *tmp,
                                      enum rans_merge how)
{
    rans_job j = {.t = t, .src = src, .len = len, .side = plane1, .dst = dst,
                  .n = n, .tmp = tmp, .how = how};
    /* Two instances: the merge is chosen outside the loop. */
    if (how == RANS_MERGE_BF16)
        return ra5_one(&j, RANS_MERGE_BF16);
    return ra5_one(&j, RANS_MERGE_HI_LO);
}

static int rans_decode_joint_avx512(const rans_dtab *t, const uint8_t *src,
                                    size_t len, const uint8_t *raw7,
                                    unsigned base, uint8_t *dst, size_t n,
                                    uint8_t *tmp)
{
    rans_job j = {.t = t, .src = src, .len = len, .side = raw7, .dst = dst,
                  .n = n, .tmp = tmp, .how = RANS_MERGE_JOINT, .base = base};
    return ra5_one(&j, RANS_MERGE_JOINT);
}

const rans_ops rans_ops_avx512 = {
    .init = NULL,
    .decode = rans_decode_avx512,
    .merge16 = rans_decode_merge16_avx512,
    .joint = rans_decode_joint_avx512,
    .pair = ra5_pair,
};
