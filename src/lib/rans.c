/* rans.c - 32-way interleaved static rANS (see rans.h for the contract). */
#include "rans.h"
#include "rans_simd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int rans_decode_scalar(const rans_dtab *t, const uint8_t *src,
                              size_t len, uint8_t *dst, size_t n)
{
    const uint32_t *tab = t->slot;
    uint32_t x[RANS_LANES];
    if (rans_states_load(src, len, x))
        return -1;
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
    return rans_decode_tail(t, x, p, end, dst, g, n);
}

int rans_decode_tail(const rans_dtab *t, uint32_t *x, const uint8_t *p,
                     const uint8_t *end, uint8_t *dst, size_t g, size_t n)
{
    const uint32_t *tab = t->slot;
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

/* ---- run-time dispatch ---------------------------------------------------
 * The path is chosen once, from cpuid and the environment, then read by
 * every call (rans_simd_select changes it for tests and benchmarks). */

static int rans_scalar_merge16(const rans_dtab *t, const uint8_t *src,
                               size_t len, const uint8_t *plane1, uint8_t *dst,
                               size_t n, uint8_t *tmp, enum rans_merge how)
{
    if (rans_decode_scalar(t, src, len, tmp, n))
        return -1;
    rans_merge16(tmp, plane1, n, dst, how);
    return 0;
}

static int rans_scalar_joint(const rans_dtab *t, const uint8_t *src,
                             size_t len, const uint8_t *raw7, unsigned base,
                             uint8_t *dst, size_t n, uint8_t *tmp)
{
    if (rans_decode_scalar(t, src, len, tmp, n))
        return -1;
    rans_merge_joint(tmp, raw7, n, base, dst);
    return 0;
}

static const rans_ops rans_ops_scalar = {
    .init = NULL,
    .decode = rans_decode_scalar,
    .merge16 = rans_scalar_merge16,
    .joint = rans_scalar_joint,
};

static const char *const rans_simd_names[RANS_SIMD_COUNT] = {
    [RANS_SIMD_SCALAR] = "scalar",
    [RANS_SIMD_AVX2] = "avx2",
    [RANS_SIMD_AVX512] = "avx512",
};

static const rans_ops *rans_ops_of(int level)
{
#ifdef WC_HAVE_RANS_X86
    if (level == RANS_SIMD_AVX512)
        return &rans_ops_avx512;
    if (level == RANS_SIMD_AVX2)
        return &rans_ops_avx2;
#endif
    (void)level;
    return &rans_ops_scalar;
}

const char *rans_simd_name(int level)
{
    return level >= 0 && level < RANS_SIMD_COUNT ? rans_simd_names[level]
                                                 : "?";
}

int rans_simd_from_name(const char *name)
{
    for (int l = 0; l < RANS_SIMD_COUNT; l++)
        if (!strcmp(name, rans_simd_names[l]))
            return l;
    return -1;
}

int rans_simd_supported(int level)
{
    if (level == RANS_SIMD_SCALAR)
        return 1;
#ifdef WC_HAVE_RANS_X86
    __builtin_cpu_init();
    if (level == RANS_SIMD_AVX2)
        return __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("popcnt");
    /* __builtin_cpu_supports also checks that the kernel saves zmm state */
    if (level == RANS_SIMD_AVX512)
        return __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512vbmi") &&
               __builtin_cpu_supports("popcnt");
#endif
    return 0;
}

static _Atomic(const rans_ops *) rans_cur;
static _Atomic int rans_cur_level;
static pthread_once_t rans_once = PTHREAD_ONCE_INIT;

static void rans_set(int level)
{
    atomic_store(&rans_cur_level, level);
    atomic_store(&rans_cur, rans_ops_of(level));
}

/* WCODEC_SIMD=scalar|avx2|avx512 asks for a path, WCODEC_NO_SIMD=1 (older)
 * for scalar; a path the CPU lacks falls back to the best one below it
 * (never an illegal instruction), with a note on stderr. */
static void rans_pick(void)
{
    int want = RANS_SIMD_COUNT - 1;
    const char *e = getenv("WCODEC_SIMD");
    if (e && *e) {
        int l = rans_simd_from_name(e);
        if (l < 0)
            fprintf(stderr, "wcodec: WCODEC_SIMD=%s is not one of scalar, "
                            "avx2, avx512: ignored\n", e);
        else
            want = l;
    }
    if (getenv("WCODEC_NO_SIMD"))
        want = RANS_SIMD_SCALAR;
    /* Tables of every path the CPU has, so that rans_simd_select can
     * switch later without a race. */
    for (int k = 1; k < RANS_SIMD_COUNT; k++)
        if (rans_simd_supported(k) && rans_ops_of(k)->init)
            rans_ops_of(k)->init();
    int l = want;
    while (l > 0 && !rans_simd_supported(l))
        l--;
    if (e && l != want)
        fprintf(stderr, "wcodec: WCODEC_SIMD=%s: this CPU lacks it, using "
                        "%s\n", e, rans_simd_name(l));
    rans_set(l);
}

static inline const rans_ops *rans_get(void)
{
    pthread_once(&rans_once, rans_pick);
    return atomic_load_explicit(&rans_cur, memory_order_acquire);
}

int rans_simd_active(void)
{
    rans_get();
    return atomic_load(&rans_cur_level);
}

int rans_simd_select(int level)
{
    pthread_once(&rans_once, rans_pick);
    if (level < 0 || level >= RANS_SIMD_COUNT || !rans_simd_supported(level))
        return -1;
    rans_set(level);
    return 0;
}

int rans_decode_merge16(const rans_dtab *t, const uint8_t *src, size_t len,
                        const uint8_t *plane1, uint8_t *dst, size_t n,
                        uint8_t *tmp, enum rans_merge how)
{
    return rans_get()->merge16(t, src, len, plane1, dst, n, tmp, how);
}

int rans_decode_joint(const rans_dtab *t, const uint8_t *src, size_t len,
                      const uint8_t *raw7, unsigned base, uint8_t *dst,
                      size_t n, uint8_t *tmp)
{
    return rans_get()->joint(t, src, len, raw7, base, dst, n, tmp);
}

int rans_decode(const rans_dtab *t, const uint8_t *src, size_t len,
                uint8_t *dst, size_t n)
{
    return rans_get()->decode(t, src, len, dst, n);
}

static int rans_job_on(const rans_ops *o, const rans_job *j)
{
    if (j->how == RANS_MERGE_JOINT)
        return o->joint(j->t, j->src, j->len, j->side, j->base, j->dst, j->n,
                        j->tmp);
    if (j->how)
        return o->merge16(j->t, j->src, j->len, j->side, j->dst, j->n, j->tmp,
                          (enum rans_merge)j->how);
    return o->decode(j->t, j->src, j->len, j->dst, j->n);
}

int rans_decode_job(const rans_job *j)
{
    return rans_job_on(rans_get(), j);
}

int rans_decode_pair(const rans_job *a, const rans_job *b)
{
    const rans_ops *o = rans_get();
    if (o->pair)
        return o->pair(a, b);
    return (rans_job_on(o, a) ? 1 : 0) | (rans_job_on(o, b) ? 2 : 0);
}
