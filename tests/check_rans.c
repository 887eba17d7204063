/* check_rans.c - 32-way rANS (src/rans.h): tables, round trips on edge-case
 * inputs, size against the entropy bound, and corrupt blocks.
 *
 * Run once per decoder path by meson: as is (the widest the CPU has), with
 * WCODEC_NO_SIMD=1 (scalar) and with WCODEC_SIMD=avx2 and =avx512 (a TAP
 * skip where the CPU lacks the path). Buffers are guarded: the
 * byte after every input block and every output buffer is an inaccessible
 * page, so an over-read or over-write crashes the test. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rans.h"
#include "testutil.h"

/* ---- helpers -------------------------------------------------------------- */

static void histogram(const uint8_t *d, size_t n, uint64_t c[256])
{
    memset(c, 0, 256 * sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[d[i]]++;
}

static int distinct(const uint64_t c[256])
{
    int k = 0;
    for (int s = 0; s < 256; s++)
        k += c[s] != 0;
    return k;
}

/* Bits needed to code data with histogram c under table freq. */
static double cost_bits(const uint64_t c[256], const uint16_t freq[256])
{
    double b = 0;
    for (int s = 0; s < 256; s++)
        if (c[s])
            b -= (double)c[s] * log2((double)freq[s] / RANS_PROB_SCALE);
    return b;
}

static double entropy_bits(const uint64_t c[256])
{
    uint64_t t = 0;
    for (int s = 0; s < 256; s++)
        t += c[s];
    double b = 0;
    for (int s = 0; s < 256; s++)
        if (c[s])
            b -= (double)c[s] * log2((double)c[s] / (double)t);
    return b;
}

static void check_table(const uint64_t c[256], const uint16_t f[256])
{
    uint32_t sum = 0;
    for (int s = 0; s < 256; s++) {
        sum += f[s];
        if (c[s])
            ck_assert_msg(f[s] >= 1, "present symbol %d got frequency 0", s);
        else
            ck_assert_msg(f[s] == 0, "absent symbol %d got frequency %u", s,
                          f[s]);
        ck_assert_msg(f[s] < RANS_PROB_SCALE, "symbol %d has all 4096 slots",
                      s);
    }
    ck_assert_uint_eq(sum, RANS_PROB_SCALE);
    ck_assert_int_eq(rans_freq_valid(f), 0);
}

typedef struct {
    uint8_t *blk; /* guarded, exactly len bytes */
    size_t len;
} block;

/* Encode src with table f; the block comes back in a guarded buffer of
 * exactly its size. Checks the encoder's own contract on the way. */
static block encode(const uint16_t f[256], const uint8_t *src, size_t n)
{
    rans_etab et;
    rans_etab_init(&et, f);
    size_t cap = rans_bound(n);
    uint8_t *dst = tu_guard_alloc(cap);
    size_t r = rans_encode(&et, src, n, dst, cap);
    ck_assert_msg(r >= RANS_HEADER_BYTES, "rans_encode of %zu symbols "
                  "failed with a rans_bound() buffer", n);
    ck_assert_uint_le(r, cap);
    ck_assert_msg((r - RANS_HEADER_BYTES) % 2 == 0, "odd word area");
    block b = {tu_guard_alloc(r), r};
    memcpy(b.blk, dst, r);
    tu_guard_free(dst, cap);
    return b;
}

static void block_free(block *b)
{
    tu_guard_free(b->blk, b->len);
}

/* Decode [blk, blk+len) as n symbols into a guarded buffer; *out gets the
 * buffer (caller frees with tu_guard_free(out, n)). */
static int decode(const uint16_t f[256], const uint8_t *blk, size_t len,
                  size_t n, uint8_t **out)
{
    rans_dtab *dt = malloc(sizeof *dt);
    rans_dtab_init(dt, f);
    uint8_t *o = tu_guard_alloc(n);
    int rc = rans_decode(dt, blk, len, o, n);
    free(dt);
    *out = o;
    return rc;
}

/* Full round trip: encode, decode, compare; returns the encoded size. */
static size_t roundtrip(const uint16_t f[256], const uint8_t *src, size_t n)
{
    block b = encode(f, src, n);
    uint8_t *out;
    int rc = decode(f, b.blk, b.len, n, &out);
    ck_assert_msg(rc == 0, "rans_decode failed on a fresh block (n=%zu)", n);
    ck_assert_msg(n == 0 || memcmp(out, src, n) == 0,
                  "round trip changed the data (n=%zu)", n);
    tu_guard_free(out, n);
    size_t len = b.len;
    block_free(&b);
    return len;
}

/* Table from the data's own histogram (>= 2 distinct symbols). */
static void table_of(const uint8_t *src, size_t n, uint16_t f[256])
{
    uint64_t c[256];
    histogram(src, n, c);
    rans_normalize(c, f);
}

/* Data drawn from a random distribution over k symbols (k >= 2). */
static void random_source(uint64_t *seed, uint8_t *d, size_t n, int k,
                          double skew)
{
    uint8_t sym[256];
    double cdf[256], t = 0;
    for (int i = 0; i < 256; i++)
        sym[i] = (uint8_t)i;
    for (int i = 255; i > 0; i--) { /* random symbol subset */
        int j = (int)(tu_rand(seed) % (uint64_t)(i + 1));
        uint8_t x = sym[i];
        sym[i] = sym[j];
        sym[j] = x;
    }
    for (int i = 0; i < k; i++) {
        t += pow(tu_unif(seed) + 1e-3, skew);
        cdf[i] = t;
    }
    for (size_t i = 0; i < n; i++) {
        double u = tu_unif(seed) * t;
        int lo = 0;
        while (lo < k - 1 && cdf[lo] <= u)
            lo++;
        d[i] = sym[lo];
    }
    /* Make sure at least two symbols are present. */
    if (n >= 2) {
        d[0] = sym[0];
        d[n - 1] = sym[1];
    }
}

static const size_t sizes[] = {1,   2,    3,    31,   32,   33,    63,
                               64,  65,   95,   100,  127,  1000,  4095,
                               4096, 4097, 4127, 10000, 65536 + 17};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- rans_normalize --------------------------------------------------------- */

START_TEST(normalize_random_counts)
{
    uint64_t seed = 1;
    for (int it = 0; it < 2000; it++) {
        uint64_t c[256] = {0};
        int k = 2 + (int)(tu_rand(&seed) % 255);
        int shape = it % 4;
        for (int i = 0; i < k; i++) {
            int s = (int)(tu_rand(&seed) % 256);
            uint64_t v;
            switch (shape) {
            case 0: v = 1 + tu_rand(&seed) % 100; break;
            case 1: v = 1 + (tu_rand(&seed) >> (tu_rand(&seed) % 64)); break;
            case 2: v = 1; break; /* many ones */
            default: v = 1 + tu_rand(&seed) % 1000000000000ull; break;
            }
            c[s] += v;
        }
        if (distinct(c) < 2) {
            c[0] += 1;
            c[1] += 1;
        }
        uint16_t f[256];
        rans_normalize(c, f);
        check_table(c, f);
    }
}
END_TEST

START_TEST(normalize_extremes)
{
    uint16_t f[256];
    /* Two symbols, one at 1 in 10^12: the rare one keeps a slot. */
    uint64_t c[256] = {0};
    c[0] = 1000000000000ull;
    c[255] = 1;
    rans_normalize(c, f);
    check_table(c, f);
    ck_assert_uint_eq(f[255], 1);
    ck_assert_uint_eq(f[0], RANS_PROB_SCALE - 1);

    /* All 256 present, one dominating: 255 keep one slot each. */
    for (int s = 0; s < 256; s++)
        c[s] = 1;
    c[77] = 1ull << 50;
    rans_normalize(c, f);
    check_table(c, f);
    ck_assert_uint_eq(f[77], RANS_PROB_SCALE - 255);

    /* Uniform over 256: 16 slots each. */
    for (int s = 0; s < 256; s++)
        c[s] = 12345;
    rans_normalize(c, f);
    check_table(c, f);
    for (int s = 0; s < 256; s++)
        ck_assert_uint_eq(f[s], 16);

    /* Two equal symbols. */
    memset(c, 0, sizeof c);
    c[3] = c[4] = 7;
    rans_normalize(c, f);
    check_table(c, f);
    ck_assert_uint_eq(f[3], 2048);
    ck_assert_uint_eq(f[4], 2048);

    /* Counts near 2^64 / 4096 must not overflow the scaling. */
    memset(c, 0, sizeof c);
    c[1] = 1ull << 51;
    c[2] = 3ull << 51;
    rans_normalize(c, f);
    check_table(c, f);
    ck_assert_uint_eq(f[1], 1024);
    ck_assert_uint_eq(f[2], 3072);
}
END_TEST

/* Counts that are an exact multiple of a valid table give that table. */
START_TEST(normalize_exact_tables)
{
    uint64_t seed = 2;
    for (int it = 0; it < 300; it++) {
        uint16_t want[256] = {0};
        int k = 2 + (int)(tu_rand(&seed) % 200);
        uint8_t sym[256];
        for (int i = 0; i < 256; i++)
            sym[i] = (uint8_t)i;
        for (int i = 255; i > 0; i--) {
            int j = (int)(tu_rand(&seed) % (uint64_t)(i + 1));
            uint8_t x = sym[i];
            sym[i] = sym[j];
            sym[j] = x;
        }
        for (int i = 0; i < k; i++)
            want[sym[i]] = 1;
        int left = RANS_PROB_SCALE - k;
        while (left > 0) {
            int v = 1 + (int)(tu_rand(&seed) % (uint64_t)left);
            want[sym[tu_rand(&seed) % (uint64_t)k]] += (uint16_t)v;
            left -= v;
        }
        uint64_t c[256];
        uint64_t mul = 1 + tu_rand(&seed) % 100000;
        for (int s = 0; s < 256; s++)
            c[s] = want[s] * mul;
        uint16_t f[256];
        rans_normalize(c, f);
        for (int s = 0; s < 256; s++)
            ck_assert_msg(f[s] == want[s],
                          "exact table not kept: symbol %d %u != %u", s, f[s],
                          want[s]);
    }
}
END_TEST

/* Quantising to 12 bits costs little when no symbol is very rare: the
 * coded size under the table is within 1% (+0.01 bit/symbol) of the
 * entropy. */
START_TEST(normalize_quality)
{
    uint64_t seed = 3;
    for (int it = 0; it < 500; it++) {
        uint64_t c[256] = {0};
        int k = 2 + (int)(tu_rand(&seed) % 255);
        uint64_t total = 0;
        for (int i = 0; i < k; i++) {
            uint64_t v = 1000 + tu_rand(&seed) % 100000;
            c[(i * 97 + it) % 256] += v;
        }
        for (int s = 0; s < 256; s++)
            total += c[s];
        uint16_t f[256];
        rans_normalize(c, f);
        check_table(c, f);
        double h = entropy_bits(c), q = cost_bits(c, f);
        ck_assert_msg(q <= h * 1.01 + 0.01 * (double)total,
                      "table costs %.1f bits vs entropy %.1f (k=%d)", q, h, k);
    }
}
END_TEST

/* ---- rans_freq_valid --------------------------------------------------------- */

START_TEST(freq_valid)
{
    uint16_t f[256] = {0};
    f[0] = 4000;
    f[9] = 96;
    ck_assert_int_eq(rans_freq_valid(f), 0);
    f[9] = 95; /* sum 4095 */
    ck_assert_int_eq(rans_freq_valid(f), -1);
    f[9] = 97; /* sum 4097 */
    ck_assert_int_eq(rans_freq_valid(f), -1);
    memset(f, 0, sizeof f);
    ck_assert_int_eq(rans_freq_valid(f), -1); /* empty */
    f[5] = RANS_PROB_SCALE; /* one symbol with everything */
    ck_assert_int_eq(rans_freq_valid(f), -1);
    f[5] = 0;
    f[255] = RANS_PROB_SCALE;
    ck_assert_int_eq(rans_freq_valid(f), -1);
    /* A huge entry that would wrap a 16-bit sum back to 4096. */
    memset(f, 0, sizeof f);
    f[0] = 65535;
    f[1] = 4097;
    ck_assert_int_eq(rans_freq_valid(f), -1);
    memset(f, 0, sizeof f);
    for (int s = 0; s < 256; s++)
        f[s] = 16;
    ck_assert_int_eq(rans_freq_valid(f), 0);
    f[0] = 17;
    ck_assert_int_eq(rans_freq_valid(f), -1);
    f[1] = 15;
    ck_assert_int_eq(rans_freq_valid(f), 0);
}
END_TEST

/* ---- table builders ------------------------------------------------------- */

START_TEST(etab_dtab_layout)
{
    uint64_t seed = 4;
    for (int it = 0; it < 50; it++) {
        uint64_t c[256] = {0};
        for (int i = 0; i < 2 + it * 5; i++)
            c[tu_rand(&seed) % 256] += 1 + tu_rand(&seed) % 1000;
        if (distinct(c) < 2)
            c[0]++, c[1]++;
        uint16_t f[256];
        rans_normalize(c, f);
        rans_etab et;
        rans_dtab *dt = malloc(sizeof *dt);
        rans_etab_init(&et, f);
        rans_dtab_init(dt, f);
        uint32_t start = 0;
        for (int s = 0; s < 256; s++) {
            ck_assert_uint_eq(et.freq[s], f[s]);
            if (f[s])
                ck_assert_uint_eq(et.start[s], start);
            for (uint32_t k = 0; k < f[s]; k++) {
                uint32_t e = dt->slot[start + k];
                ck_assert_uint_eq(e & 0xff, (uint32_t)s);
                ck_assert_uint_eq((e >> 8) & 0xfff, f[s]);
                ck_assert_uint_eq(e >> 20, k);
            }
            start += f[s];
        }
        ck_assert_uint_eq(start, RANS_PROB_SCALE);
        free(dt);
    }
}
END_TEST

/* ---- rans_bound / rans_encode ------------------------------------------------- */

/* Worst case: every symbol is the one with a single slot. */
START_TEST(bound_worst_case)
{
    uint16_t f[256] = {0};
    f[0] = RANS_PROB_SCALE - 1;
    f[1] = 1;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        uint8_t *src = malloc(n);
        memset(src, 1, n);
        size_t len = roundtrip(f, src, n);
        ck_assert_uint_le(len, rans_bound(n));
        free(src);
    }
}
END_TEST

START_TEST(encode_small_cap)
{
    uint64_t seed = 5;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        uint8_t *src = malloc(n);
        random_source(&seed, src, n, 40, 2.0);
        if (n == 1)
            src[0] = 1;
        uint16_t f[256];
        if (n >= 2)
            table_of(src, n, f);
        else {
            memset(f, 0, sizeof f);
            f[0] = 4000;
            f[1] = 96;
        }
        block b = encode(f, src, n);
        rans_etab et;
        rans_etab_init(&et, f);
        /* The exact size fits; one byte less (or a cap inside the state
         * header) reports failure with 0 and writes nothing past cap. */
        uint8_t *dst = tu_guard_alloc(b.len);
        ck_assert_uint_eq(rans_encode(&et, src, n, dst, b.len), b.len);
        ck_assert_int_eq(memcmp(dst, b.blk, b.len), 0);
        tu_guard_free(dst, b.len);
        if (b.len > RANS_HEADER_BYTES) {
            dst = tu_guard_alloc(b.len - 1);
            ck_assert_uint_eq(rans_encode(&et, src, n, dst, b.len - 1), 0);
            tu_guard_free(dst, b.len - 1);
        }
        dst = tu_guard_alloc(RANS_HEADER_BYTES - 1);
        ck_assert_uint_eq(
            rans_encode(&et, src, n, dst, RANS_HEADER_BYTES - 1), 0);
        tu_guard_free(dst, RANS_HEADER_BYTES - 1);
        block_free(&b);
        free(src);
    }
}
END_TEST

/* The coded size is the cost under the table plus the 128-byte state
 * header and at most a few words of rounding. */
START_TEST(encode_near_entropy)
{
    uint64_t seed = 6;
    const size_t n = 1 << 20;
    uint8_t *src = malloc(n);
    for (int it = 0; it < 6; it++) {
        random_source(&seed, src, n, 2 + it * 50, 1.0 + it);
        uint64_t c[256];
        uint16_t f[256];
        histogram(src, n, c);
        rans_normalize(c, f);
        size_t len = roundtrip(f, src, n);
        double want = cost_bits(c, f) / 8;
        ck_assert_msg((double)len <= RANS_HEADER_BYTES + want * 1.001 + 64,
                      "coded %zu bytes, table cost %.0f bytes", len, want);
    }
    free(src);
}
END_TEST

/* ---- rans_decode: round trips ------------------------------------------------ */

START_TEST(roundtrip_empty)
{
    uint16_t f[256] = {0};
    f[10] = 100;
    f[20] = RANS_PROB_SCALE - 100;
    block b = encode(f, (const uint8_t *)"", 0);
    ck_assert_uint_eq(b.len, RANS_HEADER_BYTES);
    uint8_t *out;
    ck_assert_int_eq(decode(f, b.blk, b.len, 0, &out), 0);
    tu_guard_free(out, 0);
    /* A block of nothing does not decode as one symbol. */
    ck_assert_int_eq(decode(f, b.blk, b.len, 1, &out), -1);
    tu_guard_free(out, 1);
    /* Nor does a block of nothing with a word after it. */
    uint8_t *big = tu_guard_alloc(b.len + 2);
    memcpy(big, b.blk, b.len);
    big[b.len] = big[b.len + 1] = 0;
    ck_assert_int_eq(decode(f, big, b.len + 2, 0, &out), -1);
    tu_guard_free(out, 0);
    tu_guard_free(big, b.len + 2);
    /* Fewer bytes than the state header. */
    ck_assert_int_eq(decode(f, b.blk + 2, b.len - 2, 0, &out), -1);
    tu_guard_free(out, 0);
    block_free(&b);
}
END_TEST

START_TEST(roundtrip_one)
{
    uint16_t f[256] = {0};
    f[7] = RANS_PROB_SCALE - 1;
    f[200] = 1;
    for (int s = 0; s < 2; s++) {
        uint8_t v = s ? 200 : 7;
        roundtrip(f, &v, 1);
    }
    /* All 256 values, one symbol each, under a uniform table. */
    for (int s = 0; s < 256; s++)
        f[s] = 16;
    for (int s = 0; s < 256; s++) {
        uint8_t v = (uint8_t)s;
        roundtrip(f, &v, 1);
    }
}
END_TEST

START_TEST(roundtrip_sizes)
{
    uint64_t seed = 7;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        if (n < 2)
            continue;
        uint8_t *src = malloc(n);
        for (int k = 2; k <= 256; k *= 2) {
            random_source(&seed, src, n, k, 1.5);
            uint16_t f[256];
            table_of(src, n, f);
            roundtrip(f, src, n);
        }
        free(src);
    }
}
END_TEST

START_TEST(roundtrip_extreme_skew)
{
    /* 10^6 symbols, exactly one of them the rare one, at several places
     * (first, last, lane 31 of a middle group, a random spot). */
    const size_t n = 1000000;
    uint8_t *src = malloc(n);
    size_t where[] = {0, n - 1, 32 * 1000 + 31, 777777, n / 2};
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        memset(src, 0x42, n);
        src[where[w]] = 0x99;
        uint64_t c[256];
        uint16_t f[256];
        histogram(src, n, c);
        rans_normalize(c, f);
        check_table(c, f);
        ck_assert_uint_eq(f[0x99], 1);
        size_t len = roundtrip(f, src, n);
        /* 10^6 x log2(4096/4095) + 12 bits ~ 44 bytes after the states */
        ck_assert_msg(len <= RANS_HEADER_BYTES + cost_bits(c, f) / 8 + 64,
                      "skewed block of %zu bytes", len);
    }
    /* The same table on data full of the rare symbol: valid, just big. */
    uint16_t f[256] = {0};
    f[0x42] = RANS_PROB_SCALE - 1;
    f[0x99] = 1;
    uint64_t seed = 8;
    for (size_t i = 0; i < n; i++)
        src[i] = (tu_rand(&seed) & 1) ? 0x99 : 0x42;
    ck_assert_uint_le(roundtrip(f, src, n), rans_bound(n));
    free(src);
}
END_TEST

START_TEST(roundtrip_uniform_256)
{
    uint64_t seed = 9;
    uint16_t f[256];
    for (int s = 0; s < 256; s++)
        f[s] = 16;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        uint8_t *src = malloc(n);
        tu_fill_random(&seed, src, n);
        size_t len = roundtrip(f, src, n);
        /* 8 bits a symbol: no gain, no more than rounding of loss */
        ck_assert_uint_le(len, RANS_HEADER_BYTES + n + 64);
        free(src);
    }
    /* every byte value in order, repeated */
    size_t n = 256 * 33 + 5;
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)i;
    roundtrip(f, src, n);
    free(src);
}
END_TEST

START_TEST(roundtrip_random_distributions)
{
    uint64_t seed = 10;
    for (int it = 0; it < 200; it++) {
        size_t n = 1 + tu_rand(&seed) % 70000;
        if (n < 2)
            n = 2;
        int k = 2 + (int)(tu_rand(&seed) % 255);
        uint8_t *src = malloc(n);
        random_source(&seed, src, n, k, 0.5 + 4 * tu_unif(&seed));
        uint16_t f[256];
        table_of(src, n, f);
        roundtrip(f, src, n);
        /* A table built from other data that still covers every symbol:
         * valid, decodes exactly. */
        uint64_t c[256];
        histogram(src, n, c);
        for (int s = 0; s < 256; s++)
            c[s] = c[s] ? 1 + tu_rand(&seed) % 1000 : 0;
        if (distinct(c) >= 2) {
            rans_normalize(c, f);
            roundtrip(f, src, n);
        }
        free(src);
    }
}
END_TEST

START_TEST(roundtrip_long_runs)
{
    uint64_t seed = 11;
    const size_t n = 300000;
    uint8_t *src = malloc(n);
    /* runs of 1000 of one symbol, alternating between a few */
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)((i / 1000) % 5 * 50);
    uint16_t f[256];
    table_of(src, n, f);
    roundtrip(f, src, n);
    /* one long run then a tail of another symbol */
    memset(src, 9, n);
    memset(src + n - 37, 10, 37);
    table_of(src, n, f);
    roundtrip(f, src, n);
    /* random run lengths 1..5000 */
    size_t i = 0;
    while (i < n) {
        size_t run = 1 + tu_rand(&seed) % 5000;
        uint8_t v = (uint8_t)tu_rand(&seed);
        for (size_t j = 0; j < run && i < n; j++)
            src[i++] = v;
    }
    src[0] = 0;
    src[1] = 1;
    table_of(src, n, f);
    roundtrip(f, src, n);
    free(src);
}
END_TEST

/* ---- rans_decode: corrupt blocks ---------------------------------------------- */

typedef struct {
    uint8_t *src;
    size_t n;
    uint16_t f[256];
    block b;
} sample;

static sample make_sample(uint64_t *seed, size_t n, int k)
{
    sample s;
    s.n = n;
    s.src = malloc(n);
    random_source(seed, s.src, n, k, 2.0);
    table_of(s.src, n, s.f);
    s.b = encode(s.f, s.src, n);
    return s;
}

static void sample_free(sample *s)
{
    free(s->src);
    block_free(&s->b);
}

/* Decode a modified copy of the block: the result must be -1, or 0 (a
 * corruption that happens to decode) without touching memory outside the
 * buffers. Returns rc. */
static int try_block(const sample *s, const uint8_t *blk, size_t len,
                     size_t n)
{
    uint8_t *in = tu_guard_alloc(len);
    memcpy(in, blk, len);
    uint8_t *out;
    int rc = decode(s->f, in, len, n, &out);
    ck_assert_msg(rc == 0 || rc == -1, "rans_decode returned %d", rc);
    tu_guard_free(out, n);
    tu_guard_free(in, len);
    return rc;
}

static const size_t corrupt_sizes[] = {37, 100, 4096, 10000, 33 * 32};

START_TEST(corrupt_truncated)
{
    uint64_t seed = 12;
    for (size_t z = 0; z < sizeof corrupt_sizes / sizeof *corrupt_sizes; z++) {
        sample s = make_sample(&seed, corrupt_sizes[z], 30);
        size_t words = (s.b.len - RANS_HEADER_BYTES) / 2;
        /* small blocks fit in the states alone; larger ones have words */
        if (s.n >= 1000)
            ck_assert_msg(words > 0, "sample of %zu without words", s.n);
        /* Every shorter length fails: whole words missing, an odd byte,
         * or a cut into the states. */
        for (size_t len = 0; len < s.b.len; len++) {
            if (len > RANS_HEADER_BYTES + 400 && len + 400 < s.b.len &&
                len % 61)
                continue; /* sample the middle of long blocks */
            ck_assert_msg(try_block(&s, s.b.blk, len, s.n) == -1,
                          "block cut to %zu of %zu bytes decoded", len,
                          s.b.len);
        }
        sample_free(&s);
    }
}
END_TEST

START_TEST(corrupt_trailing)
{
    uint64_t seed = 13;
    for (size_t z = 0; z < sizeof corrupt_sizes / sizeof *corrupt_sizes; z++) {
        sample s = make_sample(&seed, corrupt_sizes[z], 30);
        for (size_t extra = 1; extra <= 64; extra++) {
            size_t len = s.b.len + extra;
            uint8_t *b = malloc(len);
            memcpy(b, s.b.blk, s.b.len);
            tu_fill_random(&seed, b + s.b.len, extra);
            ck_assert_msg(try_block(&s, b, len, s.n) == -1,
                          "block with %zu extra bytes decoded", extra);
            memset(b + s.b.len, 0, extra);
            ck_assert_msg(try_block(&s, b, len, s.n) == -1,
                          "block with %zu extra zero bytes decoded", extra);
            free(b);
        }
        sample_free(&s);
    }
}
END_TEST

START_TEST(corrupt_states)
{
    uint64_t seed = 14;
    for (size_t z = 0; z < sizeof corrupt_sizes / sizeof *corrupt_sizes; z++) {
        sample s = make_sample(&seed, corrupt_sizes[z], 30);
        uint8_t *b = malloc(s.b.len);
        /* every bit of every state */
        for (size_t bit = 0; bit < 8 * RANS_HEADER_BYTES; bit++) {
            memcpy(b, s.b.blk, s.b.len);
            b[bit / 8] ^= (uint8_t)(1u << bit % 8);
            try_block(&s, b, s.b.len, s.n);
        }
        /* a state below RANS_L is never valid */
        for (int l = 0; l < RANS_LANES; l++) {
            memcpy(b, s.b.blk, s.b.len);
            b[4 * l + 2] = b[4 * l + 3] = 0;
            ck_assert_int_eq(try_block(&s, b, s.b.len, s.n), -1);
        }
        /* random states */
        for (int it = 0; it < 200; it++) {
            memcpy(b, s.b.blk, s.b.len);
            tu_fill_random(&seed, b, RANS_HEADER_BYTES);
            try_block(&s, b, s.b.len, s.n);
        }
        free(b);
        sample_free(&s);
    }
}
END_TEST

START_TEST(corrupt_words)
{
    uint64_t seed = 15;
    for (size_t z = 0; z < sizeof corrupt_sizes / sizeof *corrupt_sizes; z++) {
        sample s = make_sample(&seed, corrupt_sizes[z], 60);
        uint8_t *b = malloc(s.b.len);
        int failed = 0, tries = 0;
        for (size_t pos = RANS_HEADER_BYTES; pos < s.b.len;
             pos += 1 + pos % 7) {
            memcpy(b, s.b.blk, s.b.len);
            b[pos] ^= (uint8_t)(1u << pos % 8);
            failed += try_block(&s, b, s.b.len, s.n) == -1;
            tries++;
        }
        /* whole word area replaced by noise */
        for (int it = 0; it < 50; it++) {
            memcpy(b, s.b.blk, s.b.len);
            tu_fill_random(&seed, b + RANS_HEADER_BYTES,
                           s.b.len - RANS_HEADER_BYTES);
            try_block(&s, b, s.b.len, s.n);
        }
        free(b);
        /* A changed word sends its lane off course: it ends away from its
         * start state (or reads a different number of words). A match by
         * chance is possible but rare. */
        ck_assert_msg(failed * 10 >= tries * 9,
                      "only %d of %d word bit flips detected", failed, tries);
        sample_free(&s);
    }
}
END_TEST

START_TEST(corrupt_wrong_count)
{
    uint64_t seed = 16;
    for (size_t z = 0; z < sizeof corrupt_sizes / sizeof *corrupt_sizes; z++) {
        sample s = make_sample(&seed, corrupt_sizes[z], 30);
        size_t ns[] = {s.n - 1, s.n + 1, s.n + 31, s.n + 32, s.n + 1000,
                       s.n / 2, 0};
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            try_block(&s, s.b.blk, s.b.len, ns[i]);
        sample_free(&s);
    }
}
END_TEST

START_TEST(corrupt_garbage)
{
    uint64_t seed = 17;
    uint16_t f[256];
    for (int s = 0; s < 256; s++)
        f[s] = 16;
    sample dummy;
    memcpy(dummy.f, f, sizeof f);
    for (int it = 0; it < 300; it++) {
        size_t len = RANS_HEADER_BYTES + 2 * (tu_rand(&seed) % 3000);
        size_t n = tu_rand(&seed) % 8000;
        uint8_t *b = malloc(len);
        tu_fill_random(&seed, b, len);
        for (int l = 0; l < RANS_LANES; l++)
            b[4 * l + 3] |= 1; /* states >= RANS_L */
        memcpy(dummy.f, f, sizeof f);
        try_block(&dummy, b, len, n);
        /* the same under a skewed table */
        memset(dummy.f, 0, sizeof dummy.f);
        dummy.f[0] = 1;
        dummy.f[255] = RANS_PROB_SCALE - 1;
        try_block(&dummy, b, len, n);
        free(b);
    }
}
END_TEST

/* ---- rans_merge16 / rans_decode_merge16 -------------------------------------- */

static void ref_merge16(const uint8_t *p0, const uint8_t *p1, size_t n,
                        uint8_t *dst, enum rans_merge how)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t v = how == RANS_MERGE_BF16
                         ? (uint16_t)((p1[i] & 0x80) << 8 | p0[i] << 7 |
                                      (p1[i] & 0x7f))
                         : (uint16_t)(p0[i] << 8 | p1[i]);
        dst[2 * i] = (uint8_t)v;
        dst[2 * i + 1] = (uint8_t)(v >> 8);
    }
}

static const enum rans_merge merges[] = {RANS_MERGE_BF16, RANS_MERGE_HI_LO};

START_TEST(merge16)
{
    uint64_t seed = 18;
    enum rans_merge how = merges[_i];
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        uint8_t *p0 = malloc(n), *p1 = malloc(n), *want = malloc(2 * n);
        tu_fill_random(&seed, p0, n);
        tu_fill_random(&seed, p1, n);
        ref_merge16(p0, p1, n, want, how);
        uint8_t *dst = tu_guard_alloc(2 * n);
        rans_merge16(p0, p1, n, dst, how);
        ck_assert_msg(memcmp(dst, want, 2 * n) == 0, "merge of %zu differs",
                      n);
        tu_guard_free(dst, 2 * n);
        free(p0);
        free(p1);
        free(want);
    }
}
END_TEST

/* Decode plane 0 and merge with plane 1 in one pass: the same bytes as
 * rans_decode then the merge; the same failures on damaged blocks. Every
 * buffer is exactly sized behind a guard. RANS_MERGE_JOINT runs
 * rans_decode_joint (p1: the packed 7 bits, read no further than their
 * last byte), the others rans_decode_merge16 (p1: n bytes). */
static int decode_fused(const uint16_t f[256], const uint8_t *blk, size_t len,
                        const uint8_t *p1, size_t n, enum rans_merge how,
                        unsigned base, uint8_t **out)
{
    rans_dtab *dt = malloc(sizeof *dt);
    rans_dtab_init(dt, f);
    uint8_t *in = tu_guard_alloc(len);
    memcpy(in, blk, len);
    size_t p1len = how == RANS_MERGE_JOINT ? rans_raw7_size(n) : n;
    uint8_t *pl1 = tu_guard_alloc(p1len);
    if (p1len)
        memcpy(pl1, p1, p1len);
    uint8_t *o = tu_guard_alloc(2 * n);
    uint8_t *tmp = tu_guard_alloc(n);
    int rc = how == RANS_MERGE_JOINT
                 ? rans_decode_joint(dt, in, len, pl1, base, o, n, tmp)
                 : rans_decode_merge16(dt, in, len, pl1, o, n, tmp, how);
    ck_assert_msg(rc == 0 || rc == -1, "fused decode (%d) returned %d", how,
                  rc);
    *out = malloc(2 * n + 1);
    memcpy(*out, o, 2 * n);
    tu_guard_free(tmp, n);
    tu_guard_free(o, 2 * n);
    tu_guard_free(pl1, p1len);
    tu_guard_free(in, len);
    free(dt);
    return rc;
}

/* ---- JOINT: rans_raw7_pack / rans_merge_joint / rans_decode_joint --------- */

/* The layout from rans.h, bit by bit: value i is bits 7i..7i+6. */
static void ref_pack7(const uint8_t *r, size_t n, uint8_t *dst)
{
    memset(dst, 0, (7 * n + 7) / 8);
    for (size_t i = 0; i < n; i++)
        for (unsigned b = 0; b < 7; b++)
            if (r[i] >> b & 1)
                dst[(7 * i + b) / 8] |= (uint8_t)(1u << (7 * i + b) % 8);
}

static void ref_joint(const uint8_t *sym, const uint8_t *r, size_t n,
                      unsigned base, uint8_t *dst)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)((r[i] & 0x40) << 9 |
                                ((sym[i] << 6) + (base << 7)) | (r[i] & 0x3f));
        dst[2 * i] = (uint8_t)v;
        dst[2 * i + 1] = (uint8_t)(v >> 8);
    }
}

START_TEST(raw7_layout)
{
    uint64_t seed = 20;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i], len = rans_raw7_size(n);
        ck_assert_uint_eq(len, (7 * n + 7) / 8);
        uint8_t *r = malloc(n + 1), *want = malloc(len + 1);
        tu_fill_random(&seed, r, n);
        for (size_t k = 0; k < n; k++)
            r[k] &= 0x7f;
        ref_pack7(r, n, want);
        uint8_t *dst = tu_guard_alloc(len);
        rans_raw7_pack(r, n, dst);
        ck_assert_msg(memcmp(dst, want, len) == 0, "pack of %zu differs", n);
        tu_guard_free(dst, len);
        free(r);
        free(want);
    }
}
END_TEST

START_TEST(merge_joint)
{
    uint64_t seed = 21;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i], len = rans_raw7_size(n);
        unsigned base = (unsigned)(tu_rand(&seed) % 256);
        uint8_t *sym = malloc(n + 1), *r = malloc(n + 1);
        uint8_t *want = malloc(2 * n + 1), *raw = tu_guard_alloc(len);
        tu_fill_random(&seed, sym, n);
        /* valid symbols only: (s >> 1) + base <= 255 (rans.h) */
        for (size_t k = 0; k < n; k++)
            sym[k] = (uint8_t)(sym[k] % (2 * (256 - base) < 256
                                             ? 2 * (256 - base) : 256));
        tu_fill_random(&seed, r, n);
        for (size_t k = 0; k < n; k++)
            r[k] &= 0x7f;
        ref_pack7(r, n, raw);
        ref_joint(sym, r, n, base, want);
        uint8_t *dst = tu_guard_alloc(2 * n);
        rans_merge_joint(sym, raw, n, base, dst);
        ck_assert_msg(memcmp(dst, want, 2 * n) == 0,
                      "joint merge of %zu (base %u) differs", n, base);
        tu_guard_free(dst, 2 * n);
        tu_guard_free(raw, len);
        free(sym);
        free(r);
        free(want);
    }
}
END_TEST

static const enum rans_merge fused[] = {RANS_MERGE_BF16, RANS_MERGE_HI_LO,
                                        RANS_MERGE_JOINT};

START_TEST(decode_fused_sizes)
{
    enum rans_merge how = fused[_i];
    const int joint = how == RANS_MERGE_JOINT;
    uint64_t seed = joint ? 22 : 19;
    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        if (n < 2)
            continue;
        /* JOINT: any symbol is valid with base <= 128: (255 >> 1) + 128 */
        unsigned base = joint ? (unsigned)(tu_rand(&seed) % 129) : 0;
        uint8_t *p0 = malloc(n), *p1 = malloc(n), *want = malloc(2 * n);
        uint8_t *raw = malloc(rans_raw7_size(n) + 1);
        random_source(&seed, p0, n, joint ? 40 : 12, joint ? 2.0 : 3.0);
        tu_fill_random(&seed, p1, n);
        if (joint) { /* plane 1: the packed 7-bit values */
            for (size_t k = 0; k < n; k++)
                p1[k] &= 0x7f;
            rans_raw7_pack(p1, n, raw);
            ref_joint(p0, p1, n, base, want);
        } else {
            ref_merge16(p0, p1, n, want, how);
        }
        const uint8_t *plane = joint ? raw : p1;
        uint16_t f[256];
        table_of(p0, n, f);
        block b = encode(f, p0, n);
        uint8_t *out;
        ck_assert_int_eq(
            decode_fused(f, b.blk, b.len, plane, n, how, base, &out), 0);
        ck_assert_msg(memcmp(out, want, 2 * n) == 0,
                      "fused decode (%d) of %zu elements differs", how, n);
        free(out);
        /* damaged blocks: cut or lengthened ones always fail, flipped ones
         * fail or decode, inside the buffers */
        for (size_t len = 0; len < b.len; len += 1 + len / 16) {
            ck_assert_int_eq(
                decode_fused(f, b.blk, len, plane, n, how, base, &out), -1);
            free(out);
        }
        uint8_t *q = malloc(b.len + 2);
        memcpy(q, b.blk, b.len);
        q[b.len] = q[b.len + 1] = 0;
        ck_assert_int_eq(
            decode_fused(f, q, b.len + 2, plane, n, how, base, &out), -1);
        free(out);
        for (size_t bit = 0; bit < 8 * b.len; bit += 1 + bit / 8) {
            memcpy(q, b.blk, b.len);
            q[bit / 8] ^= (uint8_t)(1u << bit % 8);
            decode_fused(f, q, b.len, plane, n, how, base, &out);
            free(out);
        }
        free(q);
        block_free(&b);
        free(p0);
        free(p1);
        free(raw);
        free(want);
    }
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static TCase *tc(Suite *s, const char *name)
{
    TCase *t = tcase_create(name);
    tcase_set_timeout(t, 60);
    suite_add_tcase(s, t);
    return t;
}

int main(void)
{
    if (tu_simd_skip())
        return 0;
    Suite *s = suite_create(getenv("WCODEC_NO_SIMD") ? "rans (scalar)"
                                                     : "rans");
    TCase *t = tc(s, "rans_normalize");
    tcase_add_test(t, normalize_random_counts);
    tcase_add_test(t, normalize_extremes);
    tcase_add_test(t, normalize_exact_tables);
    tcase_add_test(t, normalize_quality);
    t = tc(s, "rans_freq_valid");
    tcase_add_test(t, freq_valid);
    t = tc(s, "rans_etab_init/rans_dtab_init");
    tcase_add_test(t, etab_dtab_layout);
    t = tc(s, "rans_bound");
    tcase_add_test(t, bound_worst_case);
    t = tc(s, "rans_encode");
    tcase_add_test(t, encode_small_cap);
    tcase_add_test(t, encode_near_entropy);
    t = tc(s, "rans_decode");
    tcase_add_test(t, roundtrip_empty);
    tcase_add_test(t, roundtrip_one);
    tcase_add_test(t, roundtrip_sizes);
    tcase_add_test(t, roundtrip_extreme_skew);
    tcase_add_test(t, roundtrip_uniform_256);
    tcase_add_test(t, roundtrip_random_distributions);
    tcase_add_test(t, roundtrip_long_runs);
    tcase_add_test(t, corrupt_truncated);
    tcase_add_test(t, corrupt_trailing);
    tcase_add_test(t, corrupt_states);
    tcase_add_test(t, corrupt_words);
    tcase_add_test(t, corrupt_wrong_count);
    tcase_add_test(t, corrupt_garbage);
    t = tc(s, "rans_merge16");
    tcase_add_loop_test(t, merge16, 0, 2);
    t = tc(s, "rans_decode_merge16/rans_decode_joint");
    tcase_add_loop_test(t, decode_fused_sizes, 0, 3);
    t = tc(s, "rans_raw7_pack/rans_merge_joint");
    tcase_add_test(t, raw7_layout);
    tcase_add_test(t, merge_joint);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
