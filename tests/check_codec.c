/* check_codec.c - per-dtype chunk codecs (src/codec.h): plane transforms,
 * statistics and mode choice, parameter (de)serialisation, chunk round
 * trips for every dtype and kind of content, and corrupt payloads.
 *
 * Sizes are checked against the order-0 entropy of each plane measured
 * here, not against numbers taken from the codec's own output. Decoder
 * inputs and outputs sit in guarded buffers (see testutil.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "testutil.h"

#define CHUNK 16384u /* decoded bytes per chunk in these tests */

/* ---- reference transform (from the layout documented in codec.c) -------- */

static void ref_split(int dt, const uint8_t *src, size_t n, uint8_t *pl)
{
    unsigned es = wc_dtype_size(dt);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = src + es * i;
        uint64_t v = 0;
        for (unsigned k = 0; k < es; k++)
            v |= (uint64_t)e[k] << 8 * k;
        switch (dt) {
        case WC_DT_BF16: /* [exponent, sign<<7 | mantissa] */
            pl[i] = (uint8_t)(v >> 7 & 0xff);
            pl[n + i] = (uint8_t)((v >> 15) << 7 | (v & 0x7f));
            break;
        case WC_DT_F32: /* [exponent, sign|m[22:16], m[15:8], m[7:0]] */
            pl[i] = (uint8_t)(v >> 23 & 0xff);
            pl[n + i] = (uint8_t)((v >> 31) << 7 | (v >> 16 & 0x7f));
            pl[2 * n + i] = (uint8_t)(v >> 8);
            pl[3 * n + i] = (uint8_t)v;
            break;
        case WC_DT_F64: { /* bytes of rotl(x, 1), most significant first */
            uint64_t r = v << 1 | v >> 63;
            for (unsigned k = 0; k < 8; k++)
                pl[k * n + i] = (uint8_t)(r >> (56 - 8 * k));
            break;
        }
        default: /* most significant byte first */
            for (unsigned k = 0; k < es; k++)
                pl[k * n + i] = (uint8_t)(v >> 8 * (es - 1 - k));
            break;
        }
    }
}

static int is_float(int dt)
{
    return dt == WC_DT_F8_E4M3 || dt == WC_DT_F8_E5M2 || dt == WC_DT_F16 ||
           dt == WC_DT_BF16 || dt == WC_DT_F32 || dt == WC_DT_F64;
}

/* Order-0 entropy of a plane, in bytes. */
static double plane_entropy(const uint8_t *p, size_t n, int *ndistinct)
{
    uint64_t c[256] = {0};
    for (size_t i = 0; i < n; i++)
        c[p[i]]++;
    double b = 0;
    int d = 0;
    for (int s = 0; s < 256; s++)
        if (c[s]) {
            d++;
            b -= (double)c[s] * log2((double)c[s] / (double)n);
        }
    if (ndistinct)
        *ndistinct = d;
    return b / 8;
}

/* What a good plane coder may spend on the data: per plane, the entropy
 * (+1% and 0.016 bit a symbol for 12-bit quantisation) plus the rANS states
 * and size word of every chunk and its table, or the plane raw, whichever
 * is smaller (or raw when coding gains under 3%). */
static double size_bound(int dt, const uint8_t *src, size_t bytes,
                         unsigned first_plane, unsigned last_plane)
{
    unsigned es = wc_dtype_size(dt);
    size_t n = bytes / es;
    size_t nchunks = (bytes + CHUNK - 1) / CHUNK;
    uint8_t *pl = malloc(bytes);
    ref_split(dt, src, n, pl);
    double total = 0;
    for (unsigned k = first_plane; k <= last_plane && k < es; k++) {
        int d;
        double h = plane_entropy(pl + k * n, n, &d);
        if (d <= 1)
            continue; /* constant: costs nothing */
        /* ...and the table, stored once: 32-byte bitmap, 2 bytes a symbol */
        double rans = h * 1.01 + 0.002 * (double)n +
                      (double)nchunks * (RANS_HEADER_BYTES + 4 + 2) + 32 +
                      2.0 * d;
        double raw = (double)n + 16.0 * (double)nchunks;
        /* leaving a plane raw to save decode time is fine when coding it
         * would gain less than 3% */
        total += rans < 0.97 * raw ? rans : raw;
    }
    free(pl);
    return total;
}

/* ---- the pipeline a packer runs, and a reader's parse ------------------- */

typedef struct {
    wc_segcodec c;                   /* encoder side (choose) */
    rans_etab et[WC_MAX_PLANES];
    wc_segcodec d;                   /* decoder side (parsed params) */
    uint8_t *params;
    size_t psize;
} codec_pair;

static void gather(wc_planestats *st, int dt, const uint8_t *src, size_t bytes)
{
    memset(st, 0, sizeof *st);
    uint8_t *scratch = malloc(CHUNK);
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        wc_planestats_add(st, dt, src + off, len, scratch);
    }
    free(scratch);
}

/* Serialise c's parameters (checking the writer stays within
 * params_size) and parse them into a fresh decoder-side codec. */
static void params_roundtrip(codec_pair *p)
{
    p->psize = wc_segcodec_params_size(&p->c);
    uint8_t *buf = tu_guard_alloc(p->psize + 64);
    memset(buf, 0xEE, p->psize + 64);
    wc_segcodec_params_write(&p->c, buf);
    for (size_t i = p->psize; i < p->psize + 64; i++)
        ck_assert_msg(buf[i] == 0xEE, "params_write wrote past params_size");
    p->params = malloc(p->psize ? p->psize : 1);
    memcpy(p->params, buf, p->psize);
    tu_guard_free(buf, p->psize + 64);

    uint8_t *in = tu_guard_alloc(p->psize);
    memcpy(in, p->params, p->psize);
    memset(&p->d, 0, sizeof p->d);
    p->d.codec = p->c.codec;
    p->d.dtype = p->c.dtype;
    p->d.nplanes = (uint8_t)wc_dtype_size(p->c.dtype);
    ck_assert_int_eq(wc_segcodec_params_parse(&p->d, in, p->psize), 0);
    tu_guard_free(in, p->psize);
    if (p->c.codec != WC_CODEC_PLANES)
        return;
    for (unsigned k = 0; k < p->c.nplanes; k++) {
        ck_assert_uint_eq(p->d.mode[k], p->c.mode[k]);
        if (p->c.mode[k] == WC_PLANE_CONST)
            ck_assert_uint_eq(p->d.cval[k], p->c.cval[k]);
        if (p->c.mode[k] == WC_PLANE_RANS) {
            ck_assert_int_eq(memcmp(p->d.freq[k], p->c.freq[k],
                                    sizeof p->c.freq[k]), 0);
            ck_assert_ptr_nonnull(p->d.dtab[k]);
            rans_dtab *want = malloc(sizeof *want);
            rans_dtab_init(want, p->c.freq[k]);
            ck_assert_int_eq(memcmp(want, p->d.dtab[k], sizeof *want), 0);
            free(want);
        } else {
            ck_assert_ptr_null(p->d.dtab[k]);
        }
    }
}

static void pair_setup(codec_pair *p, int dt, const uint8_t *src, size_t bytes)
{
    memset(p, 0, sizeof *p);
    wc_planestats *st = malloc(sizeof *st);
    gather(st, dt, src, bytes);
    wc_segcodec_choose(&p->c, dt, st, CHUNK / wc_dtype_size(dt));
    free(st);
    for (unsigned k = 0; k < p->c.nplanes; k++)
        if (p->c.mode[k] == WC_PLANE_RANS)
            rans_etab_init(&p->et[k], p->c.freq[k]);
    params_roundtrip(p);
}

static void pair_free(codec_pair *p)
{
    wc_segcodec_free(&p->d);
    free(p->params);
}

/* Decode payload [pay, pay+len) with guarded input, output and scratch
 * (scratch: the chunk's decoded size, what the reader gives). Returns rc;
 * *out (if given) receives a malloc'd copy of the output. */
static int guarded_decode(const wc_segcodec *d, const uint8_t *pay, size_t len,
                          size_t bytes, uint8_t **out)
{
    uint8_t *in = tu_guard_alloc(len);
    if (len)
        memcpy(in, pay, len);
    uint8_t *dst = tu_guard_alloc(bytes);
    uint8_t *scratch = tu_guard_alloc(bytes);
    int rc = wc_chunk_decode(d, in, len, dst, bytes, scratch);
    ck_assert_msg(rc == 0 || rc == -1, "wc_chunk_decode returned %d", rc);
    if (out) {
        *out = malloc(bytes ? bytes : 1);
        memcpy(*out, dst, bytes);
    }
    tu_guard_free(in, len);
    tu_guard_free(dst, bytes);
    tu_guard_free(scratch, bytes);
    return rc;
}

/* Encode every chunk with the encoder side, decode with the parsed side,
 * compare. Returns the total payload size. */
static size_t chunks_roundtrip(codec_pair *p, const uint8_t *src, size_t bytes)
{
    size_t total = 0;
    uint8_t *scratch = malloc(CHUNK);
    size_t cap = wc_chunk_bound(CHUNK);
    uint8_t *pay = malloc(cap);
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        size_t r = wc_chunk_encode(&p->c, p->et, src + off, len, pay, cap,
                                   scratch, 3);
        ck_assert_msg(r != WC_ENCODE_FAIL, "%s: encode failed at %zu",
                      wc_dtype_name(p->c.dtype), off);
        ck_assert_uint_le(r, wc_chunk_bound(len));
        uint8_t *out;
        int rc = guarded_decode(&p->d, pay, r, len, &out);
        ck_assert_msg(rc == 0, "%s: chunk at %zu does not decode",
                      wc_dtype_name(p->c.dtype), off);
        ck_assert_msg(memcmp(out, src + off, len) == 0,
                      "%s: chunk at %zu decodes to other bytes",
                      wc_dtype_name(p->c.dtype), off);
        free(out);
        total += r;
    }
    free(scratch);
    free(pay);
    return total;
}

/* n elements: three full chunks and a partial one. */
static size_t test_elems(int dt)
{
    return 3 * (CHUNK / wc_dtype_size(dt)) + 123;
}

/* ---- dtype table -------------------------------------------------------------- */

START_TEST(dtype_names)
{
    static const struct {
        const char *name;
        int dt;
        unsigned size;
    } want[] = {
        {"BOOL", WC_DT_BOOL, 1},       {"U8", WC_DT_U8, 1},
        {"I8", WC_DT_I8, 1},           {"F8_E4M3", WC_DT_F8_E4M3, 1},
        {"F8_E5M2", WC_DT_F8_E5M2, 1}, {"I16", WC_DT_I16, 2},
        {"U16", WC_DT_U16, 2},         {"F16", WC_DT_F16, 2},
        {"BF16", WC_DT_BF16, 2},       {"I32", WC_DT_I32, 4},
        {"U32", WC_DT_U32, 4},         {"F32", WC_DT_F32, 4},
        {"F64", WC_DT_F64, 8},         {"I64", WC_DT_I64, 8},
        {"U64", WC_DT_U64, 8},
    };
    ck_assert_int_eq(sizeof want / sizeof *want, WC_DT_COUNT - 1);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        ck_assert_int_eq(wc_dtype_from_name(want[i].name), want[i].dt);
        ck_assert_str_eq(wc_dtype_name(want[i].dt), want[i].name);
        ck_assert_uint_eq(wc_dtype_size(want[i].dt), want[i].size);
    }
    ck_assert_int_eq(wc_dtype_from_name(""), -1);
    ck_assert_int_eq(wc_dtype_from_name("bf16"), -1);
    ck_assert_int_eq(wc_dtype_from_name("F12"), -1);
    ck_assert_int_eq(wc_dtype_from_name("F8_E4M3FN"), -1);
    ck_assert_int_eq(wc_dtype_from_name("BF16 "), -1);
    ck_assert_uint_eq(wc_dtype_size(WC_DT_NONE), 1);
}
END_TEST

/* ---- wc_planes_split ------------------------------------------------------- */

START_TEST(split_layout)
{
    int dt = _i;
    uint64_t seed = 100 + (uint64_t)dt;
    unsigned es = wc_dtype_size(dt);
    size_t ns[] = {0, 1, 7, 1000};
    for (size_t j = 0; j < sizeof ns / sizeof *ns; j++) {
        size_t n = ns[j];
        uint8_t *src = malloc(n * es + 1);
        tu_fill_random(&seed, src, n * es);
        uint8_t *want = malloc(n * es + 1);
        ref_split(dt, src, n, want);
        uint8_t *got = tu_guard_alloc(n * es);
        wc_planes_split(dt, src, n, got);
        ck_assert_msg(n == 0 || memcmp(got, want, n * es) == 0,
                      "%s planes differ from the documented layout",
                      wc_dtype_name(dt));
        tu_guard_free(got, n * es);
        free(src);
        free(want);
    }
}
END_TEST

/* ---- wc_planestats_add ---------------------------------------------------- */

START_TEST(planestats_counts)
{
    int dt = _i;
    uint64_t seed = 200 + (uint64_t)dt;
    unsigned es = wc_dtype_size(dt);
    size_t n = 5000;
    uint8_t *src = malloc(n * es);
    tu_gen(dt, TU_REAL, src, n, &seed);
    wc_planestats *st = calloc(1, sizeof *st);
    uint8_t *scratch = malloc(n * es);
    /* two calls accumulate: elements [0, 1234) and [1234, n) */
    wc_planestats_add(st, dt, src, 1234 * es, scratch);
    wc_planestats_add(st, dt, src + 1234 * es, (n - 1234) * es, scratch);
    ck_assert_uint_eq(st->n, n);
    uint8_t *pl = malloc(n * es);
    ref_split(dt, src, n, pl);
    for (unsigned k = 0; k < WC_MAX_PLANES; k++) {
        uint64_t c[256] = {0};
        if (k < es)
            for (size_t i = 0; i < n; i++)
                c[pl[k * n + i]]++;
        for (int s = 0; s < 256; s++)
            ck_assert_msg(st->count[k][s] == c[s],
                          "%s plane %u symbol %d: %llu != %llu",
                          wc_dtype_name(dt), k, s,
                          (unsigned long long)st->count[k][s],
                          (unsigned long long)c[s]);
    }
    free(pl);
    free(scratch);
    free(st);
    free(src);
}
END_TEST

/* ---- wc_segcodec_choose ---------------------------------------------------- */

/* A JOINT choice (bf16): base is the smallest exponent, every exponent is
 * within 128 of it, and the table holds exactly the symbols
 * (exponent - base) << 1 | top mantissa bit of the data. */
static void check_joint_choice(const wc_segcodec *c, const uint8_t *src,
                               size_t n)
{
    ck_assert_uint_eq(c->nplanes, 2);
    ck_assert_uint_eq(c->mode[0], WC_PLANE_RANS);
    ck_assert_uint_eq(c->mode[1], WC_PLANE_RAW);
    unsigned lo = 255, hi = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned e = (src[2 * i] | src[2 * i + 1] << 8) >> 7 & 0xff;
        lo = e < lo ? e : lo;
        hi = e > hi ? e : hi;
    }
    ck_assert_uint_eq(c->jbase, lo);
    ck_assert_uint_le(hi - lo, 127);
    uint64_t cnt[256] = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned v = src[2 * i] | src[2 * i + 1] << 8;
        cnt[((v >> 7 & 0xff) - lo) << 1 | (v >> 6 & 1)]++;
    }
    ck_assert_int_eq(rans_freq_valid(c->freq[0]), 0);
    for (int s = 0; s < 256; s++)
        ck_assert_msg((cnt[s] != 0) == (c->freq[0][s] != 0),
                      "joint symbol %d: count %llu freq %u", s,
                      (unsigned long long)cnt[s], c->freq[0][s]);
}

static void check_choice(const wc_segcodec *c, int dt, const uint8_t *src,
                         size_t n)
{
    unsigned es = wc_dtype_size(dt);
    if (c->codec == WC_CODEC_JOINT) {
        ck_assert_uint_eq(dt, WC_DT_BF16);
        check_joint_choice(c, src, n);
        return;
    }
    ck_assert_uint_eq(c->codec, WC_CODEC_PLANES);
    ck_assert_uint_eq(c->dtype, dt);
    ck_assert_uint_eq(c->nplanes, es);
    uint8_t *pl = malloc(n * es);
    ref_split(dt, src, n, pl);
    for (unsigned k = 0; k < es; k++) {
        uint64_t cnt[256] = {0};
        int d = 0;
        for (size_t i = 0; i < n; i++)
            d += cnt[pl[k * n + i]]++ == 0;
        ck_assert_uint_le(c->mode[k], WC_PLANE_RANS);
        if (d == 1) {
            ck_assert_msg(c->mode[k] == WC_PLANE_CONST,
                          "%s: constant plane %u not CONST",
                          wc_dtype_name(dt), k);
            ck_assert_uint_eq(c->cval[k], pl[k * n]);
        } else {
            ck_assert_msg(c->mode[k] != WC_PLANE_CONST,
                          "%s: plane %u with %d values is CONST",
                          wc_dtype_name(dt), k, d);
        }
        if (c->mode[k] == WC_PLANE_RANS) {
            ck_assert_int_eq(rans_freq_valid(c->freq[k]), 0);
            for (int s = 0; s < 256; s++)
                ck_assert_msg((cnt[s] != 0) == (c->freq[k][s] != 0),
                              "%s plane %u symbol %d: count %llu freq %u",
                              wc_dtype_name(dt), k, s,
                              (unsigned long long)cnt[s], c->freq[k][s]);
        } else {
            for (int s = 0; s < 256; s++)
                ck_assert_uint_eq(c->freq[k][s], 0);
        }
    }
    free(pl);
}

/* Round trip of one dtype and kind: the choice is consistent with the
 * data, the chunks decode exactly, and the size is as expected for the
 * kind. */
static void kind_roundtrip(int dt, int kind)
{
    uint64_t seed = 1000 * (uint64_t)kind + (uint64_t)dt;
    unsigned es = wc_dtype_size(dt);
    size_t n = test_elems(dt), bytes = n * es;
    uint8_t *src = malloc(bytes);
    tu_gen(dt, kind, src, n, &seed);
    codec_pair p;
    pair_setup(&p, dt, src, bytes);
    check_choice(&p.c, dt, src, n);
    size_t total = chunks_roundtrip(&p, src, bytes);
    const char *nm = wc_dtype_name(dt);
    switch (kind) {
    case TU_ZERO:
    case TU_CONST:
        for (unsigned k = 0; k < es; k++)
            ck_assert_msg(p.c.mode[k] == WC_PLANE_CONST,
                          "%s %s: plane %u not CONST", nm, tu_kind_name[kind],
                          k);
        ck_assert_msg(total == 0, "%s %s: %zu payload bytes for a constant",
                      nm, tu_kind_name[kind], total);
        /* the parameters are a few bytes a plane, not a table */
        ck_assert_uint_le(p.psize, 2 * es);
        break;
    case TU_RANDOM:
        for (unsigned k = 0; k < es; k++)
            ck_assert_msg(p.c.mode[k] == WC_PLANE_RAW,
                          "%s random: plane %u coded as mode %u", nm, k,
                          p.c.mode[k]);
        ck_assert_uint_eq(total, bytes);
        break;
    case TU_SMALLINT:
        if (!is_float(dt) && es > 1) /* high bytes all zero */
            for (unsigned k = 0; k + 1 < es; k++) {
                ck_assert_uint_eq(p.c.mode[k], WC_PLANE_CONST);
                ck_assert_uint_eq(p.c.cval[k], 0);
            }
        /* fall through */
    case TU_REAL: {
        double bound = size_bound(dt, src, bytes, 0, es - 1);
        ck_assert_msg((double)total <= bound,
                      "%s %s: %zu payload bytes, entropy bound %.0f", nm,
                      tu_kind_name[kind], total, bound);
        if (kind == TU_REAL && is_float(dt) && es > 1)
            ck_assert_msg(p.c.mode[0] == WC_PLANE_RANS,
                          "%s: exponent plane not rANS-coded", nm);
        break;
    }
    }
    pair_free(&p);
    free(src);
}

START_TEST(choose_real) { kind_roundtrip(_i, TU_REAL); }
END_TEST
START_TEST(choose_smallint) { kind_roundtrip(_i, TU_SMALLINT); }
END_TEST
START_TEST(choose_const) { kind_roundtrip(_i, TU_CONST); }
END_TEST
START_TEST(choose_zero) { kind_roundtrip(_i, TU_ZERO); }
END_TEST
START_TEST(choose_random) { kind_roundtrip(_i, TU_RANDOM); }
END_TEST

/* fp32 tensors holding bf16 values (low mantissa bytes zero): those two
 * planes are CONST and cost nothing; the payload is what the top two
 * planes need. */
START_TEST(choose_f32_holding_bf16)
{
    uint64_t seed = 7;
    size_t n = 4 * (CHUNK / 4) + 77, bytes = 4 * n;
    uint8_t *src = malloc(bytes);
    tu_gen(WC_DT_F32, TU_REAL, src, n, &seed);
    for (size_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, src + 4 * i, 4);
        uint32_t b = (uint32_t)tu_f32_to_bf16(f) << 16;
        memcpy(src + 4 * i, &b, 4);
    }
    codec_pair p;
    pair_setup(&p, WC_DT_F32, src, bytes);
    check_choice(&p.c, WC_DT_F32, src, n);
    ck_assert_uint_eq(p.c.mode[2], WC_PLANE_CONST);
    ck_assert_uint_eq(p.c.mode[3], WC_PLANE_CONST);
    ck_assert_uint_eq(p.c.cval[2], 0);
    ck_assert_uint_eq(p.c.cval[3], 0);
    size_t total = chunks_roundtrip(&p, src, bytes);
    double top = size_bound(WC_DT_F32, src, bytes, 0, 1);
    ck_assert_msg((double)total <= top,
                  "%zu payload bytes, the top two planes need %.0f", total,
                  top);
    /* exponent ~3 bits + sign|mantissa 8 bits of 32 */
    ck_assert_msg(total < bytes * 0.40, "%zu of %zu bytes", total, bytes);
    pair_free(&p);
    free(src);
}
END_TEST

/* A chunk size small enough that rANS states dominate: a plane that would
 * gain a few bytes per chunk is not worth the 128-byte states. */
START_TEST(choose_charges_chunk_overhead)
{
    uint64_t seed = 8;
    /* 2 symbols at 50/50: 1 bit of 8, a large gain per symbol... */
    size_t n = 64 * 1024;
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(tu_rand(&seed) & 1);
    wc_planestats *st = malloc(sizeof *st);
    gather(st, WC_DT_U8, src, n);
    wc_segcodec c;
    wc_segcodec_choose(&c, WC_DT_U8, st, CHUNK);
    ck_assert_uint_eq(c.mode[0], WC_PLANE_RANS);
    /* ...but near-uniform bytes gain ~nothing and must stay raw even with
     * big chunks */
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(tu_rand(&seed) % 255);
    gather(st, WC_DT_U8, src, n);
    wc_segcodec_choose(&c, WC_DT_U8, st, CHUNK);
    ck_assert_uint_eq(c.mode[0], WC_PLANE_RAW);
    /* 240 symbols (7.9 bits): gains ~1.3% = ~850 bytes over 64 KiB; with
     * one element per chunk the states (128 bytes each) cost far more */
    for (size_t i = 0; i < n; i++)
        src[i] = (uint8_t)(tu_rand(&seed) % 240);
    gather(st, WC_DT_U8, src, n);
    wc_segcodec_choose(&c, WC_DT_U8, st, 1);
    ck_assert_uint_eq(c.mode[0], WC_PLANE_RAW);
    free(st);
    free(src);
}
END_TEST

/* ---- forced modes: every plane mode combination decodes --------------------- */

START_TEST(forced_modes)
{
    int dt = _i;
    uint64_t seed = 300 + (uint64_t)dt;
    unsigned es = wc_dtype_size(dt);
    size_t n = 2 * (CHUNK / es) + 45, bytes = n * es;
    uint8_t *src = malloc(bytes);
    tu_gen(dt, TU_REAL, src, n, &seed);
    /* make every plane have at least two values */
    tu_fill_random(&seed, src, es);
    tu_fill_random(&seed, src + es, es);
    wc_planestats *st = malloc(sizeof *st);
    gather(st, dt, src, bytes);
    for (unsigned combo = 0; combo < 4; combo++) {
        codec_pair p;
        memset(&p, 0, sizeof p);
        p.c.codec = WC_CODEC_PLANES;
        p.c.dtype = (uint8_t)dt;
        p.c.nplanes = (uint8_t)es;
        for (unsigned k = 0; k < es; k++) {
            /* 0: all RAW, 1: all RANS, 2/3: alternating */
            int rans = combo == 1 || (combo >= 2 && (k + combo) % 2 == 0);
            if (!rans)
                continue;
            p.c.mode[k] = WC_PLANE_RANS;
            rans_normalize(st->count[k], p.c.freq[k]);
            rans_etab_init(&p.et[k], p.c.freq[k]);
        }
        params_roundtrip(&p);
        size_t total = chunks_roundtrip(&p, src, bytes);
        if (combo == 0)
            ck_assert_uint_eq(total, bytes);
        pair_free(&p);
    }
    free(st);
    free(src);
}
END_TEST

/* ---- params ----------------------------------------------------------------------- */

/* U32 parameters with every mode: CONST, RANS, RAW, RANS. */
static void mixed_codec(wc_segcodec *c)
{
    memset(c, 0, sizeof *c);
    c->codec = WC_CODEC_PLANES;
    c->dtype = WC_DT_U32;
    c->nplanes = 4;
    c->mode[0] = WC_PLANE_CONST;
    c->cval[0] = 0x3c;
    c->mode[1] = WC_PLANE_RANS;
    c->freq[1][0] = 4000;
    c->freq[1][17] = 90;
    c->freq[1][255] = 6;
    c->mode[2] = WC_PLANE_RAW;
    c->mode[3] = WC_PLANE_RANS;
    for (int s = 0; s < 256; s++)
        c->freq[3][s] = 16;
}

static size_t mixed_params(uint8_t **out)
{
    wc_segcodec c;
    mixed_codec(&c);
    size_t n = wc_segcodec_params_size(&c);
    /* 4 mode bytes, 1 const, 2 x 32 bitmaps, 3 + 256 frequencies */
    ck_assert_uint_eq(n, 4 + 1 + 64 + 2 * (3 + 256));
    *out = malloc(n);
    wc_segcodec_params_write(&c, *out);
    return n;
}

static int parse(const uint8_t *p, size_t len, int codec, int dt,
                 wc_segcodec *c)
{
    uint8_t *in = tu_guard_alloc(len);
    if (len)
        memcpy(in, p, len);
    memset(c, 0, sizeof *c);
    c->codec = (uint8_t)codec;
    c->dtype = (uint8_t)dt;
    c->nplanes = (uint8_t)wc_dtype_size(dt);
    int rc = wc_segcodec_params_parse(c, in, len);
    tu_guard_free(in, len);
    ck_assert_msg(rc == 0 || rc == -1, "params_parse returned %d", rc);
    if (rc)
        for (int k = 0; k < WC_MAX_PLANES; k++)
            ck_assert_msg(c->dtab[k] == NULL,
                          "failed parse left decode table %d", k);
    return rc;
}

START_TEST(params_roundtrip_mixed)
{
    uint8_t *p;
    size_t n = mixed_params(&p);
    wc_segcodec want, c;
    mixed_codec(&want);
    ck_assert_int_eq(parse(p, n, WC_CODEC_PLANES, WC_DT_U32, &c), 0);
    for (int k = 0; k < 4; k++) {
        ck_assert_uint_eq(c.mode[k], want.mode[k]);
        ck_assert_int_eq(memcmp(c.freq[k], want.freq[k], sizeof c.freq[k]),
                         0);
    }
    ck_assert_uint_eq(c.cval[0], 0x3c);
    ck_assert_ptr_null(c.dtab[0]);
    ck_assert_ptr_nonnull(c.dtab[1]);
    ck_assert_ptr_null(c.dtab[2]);
    ck_assert_ptr_nonnull(c.dtab[3]);
    wc_segcodec_free(&c);
    free(p);
}
END_TEST

START_TEST(params_reject_truncated)
{
    uint8_t *p;
    size_t n = mixed_params(&p);
    wc_segcodec c;
    for (size_t len = 0; len < n; len++)
        ck_assert_msg(parse(p, len, WC_CODEC_PLANES, WC_DT_U32, &c) == -1,
                      "params cut to %zu of %zu bytes accepted", len, n);
    /* one byte too many */
    uint8_t *q = malloc(n + 1);
    memcpy(q, p, n);
    q[n] = 0;
    ck_assert_int_eq(parse(q, n + 1, WC_CODEC_PLANES, WC_DT_U32, &c), -1);
    free(q);
    free(p);
}
END_TEST

START_TEST(params_reject_bad_fields)
{
    uint8_t *p;
    size_t n = mixed_params(&p);
    uint8_t *q = malloc(n + 8);
    wc_segcodec c;
    /* layout: [0]=CONST [1]=0x3c [2]=RANS [3..34] bitmap [35..40] freqs
     * [41]=RAW [42]=RANS [43..74] bitmap [75..] 256 freqs */
    ck_assert_uint_eq(p[0], WC_PLANE_CONST);
    ck_assert_uint_eq(p[2], WC_PLANE_RANS);
    ck_assert_uint_eq(p[41], WC_PLANE_RAW);
    ck_assert_uint_eq(p[42], WC_PLANE_RANS);

    static const uint8_t bad_modes[] = {3, 4, 0x80, 0xff};
    for (size_t i = 0; i < sizeof bad_modes; i++) {
        size_t at[] = {0, 2, 41, 42};
        for (size_t j = 0; j < 4; j++) {
            memcpy(q, p, n);
            q[at[j]] = bad_modes[i];
            ck_assert_msg(parse(q, n, WC_CODEC_PLANES, WC_DT_U32, &c) == -1,
                          "mode %u at %zu accepted", bad_modes[i], at[j]);
        }
    }
    /* frequency sum 4097 and 4095 */
    memcpy(q, p, n);
    q[35]++; /* symbol 0: 4000 -> 4001 */
    ck_assert_int_eq(parse(q, n, WC_CODEC_PLANES, WC_DT_U32, &c), -1);
    memcpy(q, p, n);
    q[75]--; /* plane 3 symbol 0: 16 -> 15 */
    ck_assert_int_eq(parse(q, n, WC_CODEC_PLANES, WC_DT_U32, &c), -1);
    /* moving one slot between symbols keeps the sum: still valid */
    memcpy(q, p, n);
    q[75]--;
    q[77]++;
    ck_assert_int_eq(parse(q, n, WC_CODEC_PLANES, WC_DT_U32, &c), 0);
    wc_segcodec_free(&c);
    /* a present symbol with frequency 0 */
    memcpy(q, p, n);
    q[37] = 0; /* symbol 17: 90 -> 0, symbol 0 takes it: sum stays */
    q[38] = 0;
    q[35] = (uint8_t)(4090 & 0xff);
    q[36] = (uint8_t)(4090 >> 8);
    ck_assert_int_eq(parse(q, n, WC_CODEC_PLANES, WC_DT_U32, &c), -1);
    /* one symbol with all 4096 slots (a constant plane is CONST, never
     * rANS) */
    {
        /* BF16: plane 0 RAW, plane 1 RANS with symbol 0 only */
        uint8_t one[1 + 1 + 32 + 2] = {WC_PLANE_RAW, WC_PLANE_RANS};
        one[2] = 1;
        one[34] = 0x00;
        one[35] = 0x10; /* 4096 */
        ck_assert_int_eq(
            parse(one, sizeof one, WC_CODEC_PLANES, WC_DT_BF16, &c), -1);
        one[35] = 0x0f; /* 3840: sum wrong as well */
        ck_assert_int_eq(
            parse(one, sizeof one, WC_CODEC_PLANES, WC_DT_BF16, &c), -1);
    }
    /* a bitmap bit set or cleared: the frequency list no longer lines up */
    memcpy(q, p, n);
    q[3] |= 2; /* plane 1 symbol 1 */
    ck_assert_int_eq(parse(q, n, WC_CODEC_PLANES, WC_DT_U32, &c), -1);
    memcpy(q, p, n);
    q[3 + 2] &= (uint8_t)~2; /* plane 1 symbol 17 */
    ck_assert_int_eq(parse(q, n, WC_CODEC_PLANES, WC_DT_U32, &c), -1);
    /* right bytes, wrong dtype (2 planes): bytes left over */
    ck_assert_int_eq(parse(p, n, WC_CODEC_PLANES, WC_DT_BF16, &c), -1);
    /* 8 planes: runs out */
    ck_assert_int_eq(parse(p, n, WC_CODEC_PLANES, WC_DT_F64, &c), -1);
    /* PLANES with dtype NONE */
    uint8_t raw1[1] = {WC_PLANE_RAW};
    ck_assert_int_eq(parse(raw1, 1, WC_CODEC_PLANES, WC_DT_NONE, &c), -1);
    ck_assert_int_eq(parse(raw1, 1, WC_CODEC_PLANES, WC_DT_U8, &c), 0);
    /* codecs without parameters take none */
    ck_assert_int_eq(parse(p, 0, WC_CODEC_ZSTD, WC_DT_NONE, &c), 0);
    ck_assert_int_eq(parse(p, 0, WC_CODEC_RAW, WC_DT_F32, &c), 0);
    ck_assert_int_eq(parse(p, 1, WC_CODEC_ZSTD, WC_DT_NONE, &c), -1);
    ck_assert_int_eq(parse(p, n, WC_CODEC_RAW, WC_DT_U32, &c), -1);
    free(q);
    free(p);
}
END_TEST

/* nplanes disagreeing with the dtype is rejected (-1) without touching
 * memory past the codec struct, whatever its value (parse's contract:
 * "validates every field"). */
static const unsigned bad_nplanes[] = {0, 1, 2, 3, 5, 8, 9, 16, 255};

START_TEST(params_reject_bad_nplanes)
{
    uint8_t *p;
    size_t n = mixed_params(&p);
    unsigned np = bad_nplanes[_i];
    /* the struct ends where an inaccessible page begins */
    wc_segcodec *c = tu_guard_alloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->codec = WC_CODEC_PLANES;
    c->dtype = WC_DT_U32;
    c->nplanes = (uint8_t)np;
    int rc = wc_segcodec_params_parse(c, p, n);
    ck_assert_msg(rc == -1, "nplanes %u for U32 accepted", np);
    wc_segcodec_free(c);
    tu_guard_free(c, sizeof *c);
    free(p);
}
END_TEST

/* Random damage to valid parameters: parse accepts or rejects, never
 * crashes, and what it accepts is usable. */
START_TEST(params_fuzz)
{
    uint64_t seed = 9;
    uint8_t *p;
    size_t n = mixed_params(&p);
    uint8_t *q = malloc(n);
    for (int it = 0; it < 5000; it++) {
        memcpy(q, p, n);
        int edits = 1 + (int)(tu_rand(&seed) % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = tu_rand(&seed) % n;
            if (tu_rand(&seed) & 1)
                q[at] ^= (uint8_t)(1u << tu_rand(&seed) % 8);
            else
                q[at] = (uint8_t)tu_rand(&seed);
        }
        size_t len = (tu_rand(&seed) % 8) ? n : tu_rand(&seed) % (n + 1);
        wc_segcodec c;
        if (parse(q, len, WC_CODEC_PLANES, WC_DT_U32, &c))
            continue;
        for (int k = 0; k < 4; k++) {
            ck_assert_uint_le(c.mode[k], WC_PLANE_RANS);
            if (c.mode[k] == WC_PLANE_RANS) {
                ck_assert_int_eq(rans_freq_valid(c.freq[k]), 0);
                ck_assert_ptr_nonnull(c.dtab[k]);
            }
        }
        wc_segcodec_free(&c);
    }
    free(q);
    free(p);
}
END_TEST

/* ---- wc_chunk_encode ---------------------------------------------------------- */

START_TEST(encode_cap)
{
    int dt = _i;
    uint64_t seed = 400 + (uint64_t)dt;
    unsigned es = wc_dtype_size(dt);
    size_t n = CHUNK / es, bytes = n * es;
    uint8_t *src = malloc(bytes);
    tu_gen(dt, TU_REAL, src, n, &seed);
    codec_pair p;
    pair_setup(&p, dt, src, bytes);
    uint8_t *scratch = malloc(bytes);
    size_t cap = wc_chunk_bound(bytes);
    uint8_t *pay = malloc(cap);
    size_t r = wc_chunk_encode(&p.c, p.et, src, bytes, pay, cap, scratch, 3);
    ck_assert_uint_ne(r, WC_ENCODE_FAIL);
    /* exactly enough room works, one byte less fails without writing past
     * the end */
    uint8_t *dst = tu_guard_alloc(r);
    ck_assert_uint_eq(
        wc_chunk_encode(&p.c, p.et, src, bytes, dst, r, scratch, 3), r);
    ck_assert_int_eq(memcmp(dst, pay, r), 0);
    tu_guard_free(dst, r);
    if (r > 0) {
        for (size_t c2 = 0; c2 < r; c2 += 1 + r / 37) {
            dst = tu_guard_alloc(c2);
            ck_assert_msg(wc_chunk_encode(&p.c, p.et, src, bytes, dst, c2,
                                          scratch, 3) == WC_ENCODE_FAIL,
                          "%s: encode into %zu of %zu bytes did not fail",
                          wc_dtype_name(dt), c2, r);
            tu_guard_free(dst, c2);
        }
    }
    /* the same data through zstd and raw codecs */
    wc_segcodec z = {.codec = WC_CODEC_ZSTD, .dtype = (uint8_t)dt,
                     .nplanes = (uint8_t)es};
    size_t rz = wc_chunk_encode(&z, NULL, src, bytes, pay, cap, NULL, 3);
    ck_assert_uint_ne(rz, WC_ENCODE_FAIL);
    ck_assert_uint_le(rz, wc_chunk_bound(bytes));
    uint8_t *out;
    ck_assert_int_eq(guarded_decode(&z, pay, rz, bytes, &out), 0);
    ck_assert_int_eq(memcmp(out, src, bytes), 0);
    free(out);
    dst = tu_guard_alloc(rz / 2);
    ck_assert_uint_eq(
        wc_chunk_encode(&z, NULL, src, bytes, dst, rz / 2, NULL, 3),
        WC_ENCODE_FAIL);
    tu_guard_free(dst, rz / 2);
    wc_segcodec raw = {.codec = WC_CODEC_RAW, .dtype = (uint8_t)dt,
                       .nplanes = (uint8_t)es};
    ck_assert_uint_eq(
        wc_chunk_encode(&raw, NULL, src, bytes, pay, cap, NULL, 3), bytes);
    ck_assert_int_eq(memcmp(pay, src, bytes), 0);
    ck_assert_uint_eq(
        wc_chunk_encode(&raw, NULL, src, bytes, pay, bytes - 1, NULL, 3),
        WC_ENCODE_FAIL);
    wc_segcodec bogus = {.codec = WC_CODEC_COUNT, .dtype = (uint8_t)dt};
    ck_assert_uint_eq(
        wc_chunk_encode(&bogus, NULL, src, bytes, pay, cap, NULL, 3),
        WC_ENCODE_FAIL);
    free(pay);
    free(scratch);
    pair_free(&p);
    free(src);
}
END_TEST

/* ---- wc_chunk_decode: damaged payloads ------------------------------------------ */

/* Every shorter payload is rejected, so is every longer one; bit flips
 * decode or fail but stay inside the buffers. */
static void damage(const wc_segcodec *d, const uint8_t *pay, size_t r,
                   size_t bytes, uint64_t *seed, const char *what)
{
    for (size_t len = 0; len < r; len += (r > 600 && len > 300 &&
                                          len + 300 < r) ? 1 + r / 97 : 1)
        ck_assert_msg(guarded_decode(d, pay, len, bytes, NULL) == -1,
                      "%s: payload cut to %zu of %zu bytes decoded", what, len,
                      r);
    uint8_t *q = malloc(r + 16);
    for (size_t extra = 1; extra <= 16; extra++) {
        memcpy(q, pay, r);
        tu_fill_random(seed, q + r, extra);
        ck_assert_msg(guarded_decode(d, q, r + extra, bytes, NULL) == -1,
                      "%s: payload with %zu extra bytes decoded", what, extra);
    }
    for (size_t bit = 0; bit < 8 * r; bit += (bit < 1024 ? 1 : 1 + bit % 53)) {
        memcpy(q, pay, r);
        q[bit / 8] ^= (uint8_t)(1u << bit % 8);
        guarded_decode(d, q, r, bytes, NULL);
    }
    for (int it = 0; it < 50; it++) {
        memcpy(q, pay, r);
        size_t at = tu_rand(seed) % (r ? r : 1);
        if (r)
            tu_fill_random(seed, q + at, r - at < 64 ? r - at : 64);
        guarded_decode(d, q, r, bytes, NULL);
    }
    free(q);
}

START_TEST(decode_damaged_planes)
{
    int dt = _i;
    uint64_t seed = 500 + (uint64_t)dt;
    unsigned es = wc_dtype_size(dt);
    size_t n = 4096 / es + 7, bytes = n * es;
    uint8_t *src = malloc(bytes);
    tu_gen(dt, TU_REAL, src, n, &seed);
    codec_pair p;
    pair_setup(&p, dt, src, bytes);
    /* force rANS on every plane that can take it, and also try what choose
     * picked: covers RAW-only, RANS-only and mixed payloads */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            wc_planestats *st = malloc(sizeof *st);
            gather(st, dt, src, bytes);
            wc_segcodec_free(&p.d);
            free(p.params);
            for (unsigned k = 0; k < es; k++) {
                int d = 0;
                for (int s = 0; s < 256; s++)
                    d += st->count[k][s] != 0;
                if (d < 2)
                    continue;
                p.c.mode[k] = WC_PLANE_RANS;
                rans_normalize(st->count[k], p.c.freq[k]);
                rans_etab_init(&p.et[k], p.c.freq[k]);
            }
            free(st);
            params_roundtrip(&p);
        }
        uint8_t *scratch = malloc(bytes);
        size_t cap = wc_chunk_bound(bytes);
        uint8_t *pay = malloc(cap);
        size_t r = wc_chunk_encode(&p.c, p.et, src, bytes, pay, cap, scratch,
                                   3);
        ck_assert_uint_ne(r, WC_ENCODE_FAIL);
        uint8_t *out;
        ck_assert_int_eq(guarded_decode(&p.d, pay, r, bytes, &out), 0);
        ck_assert_int_eq(memcmp(out, src, bytes), 0);
        free(out);
        damage(&p.d, pay, r, bytes, &seed, wc_dtype_name(dt));
        /* wrong decoded sizes */
        if (es > 1)
            ck_assert_int_eq(guarded_decode(&p.d, pay, r, bytes - 1, NULL),
                             -1);
        guarded_decode(&p.d, pay, r, bytes - es, NULL);
        guarded_decode(&p.d, pay, r, bytes + es, NULL);
        free(pay);
        free(scratch);
    }
    pair_free(&p);
    free(src);
}
END_TEST

START_TEST(decode_damaged_zstd)
{
    uint64_t seed = 600;
    size_t n = 4096 / 8, bytes = n * 8;
    uint8_t *src = malloc(bytes);
    tu_gen(WC_DT_I64, TU_REAL, src, n, &seed);
    wc_segcodec z = {.codec = WC_CODEC_ZSTD, .dtype = WC_DT_I64, .nplanes = 8};
    size_t cap = wc_chunk_bound(bytes);
    uint8_t *pay = malloc(cap);
    size_t r = wc_chunk_encode(&z, NULL, src, bytes, pay, cap, NULL, 3);
    ck_assert_uint_ne(r, WC_ENCODE_FAIL);
    ck_assert_uint_lt(r, bytes / 4); /* position ids: an LZ coder's data */
    damage(&z, pay, r, bytes, &seed, "zstd");
    /* decoded size other than the frame's */
    ck_assert_int_eq(guarded_decode(&z, pay, r, bytes - 8, NULL), -1);
    ck_assert_int_eq(guarded_decode(&z, pay, r, bytes + 8, NULL), -1);
    free(pay);
    free(src);
}
END_TEST

START_TEST(decode_bad_codec)
{
    uint8_t pay[64] = {0};
    wc_segcodec raw = {.codec = WC_CODEC_RAW, .dtype = WC_DT_U8, .nplanes = 1};
    ck_assert_int_eq(guarded_decode(&raw, pay, 64, 64, NULL), 0);
    ck_assert_int_eq(guarded_decode(&raw, pay, 63, 64, NULL), -1);
    ck_assert_int_eq(guarded_decode(&raw, pay, 64, 63, NULL), -1);
    wc_segcodec bogus = {.codec = 7, .dtype = WC_DT_U8, .nplanes = 1};
    ck_assert_int_eq(guarded_decode(&bogus, pay, 64, 64, NULL), -1);
    /* a plane mode that does not exist */
    wc_segcodec m = {.codec = WC_CODEC_PLANES, .dtype = WC_DT_BF16,
                     .nplanes = 2};
    m.mode[1] = 9;
    ck_assert_int_eq(guarded_decode(&m, pay, 32, 64, NULL), -1);
    /* a RANS plane without its decode table */
    m.mode[1] = WC_PLANE_RANS;
    m.mode[0] = WC_PLANE_RAW;
    uint8_t big[4 + 32 + RANS_HEADER_BYTES] = {0};
    big[0] = RANS_HEADER_BYTES;
    ck_assert_int_eq(guarded_decode(&m, big, sizeof big, 64, NULL), -1);
    m.mode[0] = WC_PLANE_RANS;
    m.mode[1] = WC_PLANE_RAW;
    ck_assert_int_eq(guarded_decode(&m, big, sizeof big, 64, NULL), -1);
    /* all planes constant: the payload is empty, nothing else is */
    wc_segcodec k = {.codec = WC_CODEC_PLANES, .dtype = WC_DT_F32,
                     .nplanes = 4};
    for (int i = 0; i < 4; i++) {
        k.mode[i] = WC_PLANE_CONST;
        k.cval[i] = (uint8_t)(0x10 * i + 1);
    }
    uint8_t *out;
    ck_assert_int_eq(guarded_decode(&k, pay, 0, 64, &out), 0);
    uint8_t want[64];
    uint8_t planes[4] = {0x01, 0x11, 0x21, 0x31};
    /* element from planes [exp, sign|m hi, m mid, m lo] */
    uint32_t v = (uint32_t)(planes[1] & 0x80) << 24 | (uint32_t)planes[0] << 23 |
                 (uint32_t)(planes[1] & 0x7f) << 16 | (uint32_t)planes[2] << 8 |
                 planes[3];
    for (int i = 0; i < 16; i++)
        memcpy(want + 4 * i, &v, 4);
    ck_assert_int_eq(memcmp(out, want, 64), 0);
    free(out);
    ck_assert_int_eq(guarded_decode(&k, pay, 1, 64, NULL), -1);
    /* elements of 4 bytes: 62 bytes is not a whole number */
    ck_assert_int_eq(guarded_decode(&k, pay, 0, 62, NULL), -1);
}
END_TEST

/* ---- JOINT (bf16) ------------------------------------------------------------ */

static void put_bf16(uint8_t *src, size_t i, unsigned v)
{
    src[2 * i] = (uint8_t)v;
    src[2 * i + 1] = (uint8_t)(v >> 8);
}

/* Weights pick JOINT; the same weights with zeros and values >= 2^9 span
 * more than 128 exponents, which a byte symbol cannot hold, and stay
 * PLANES. Both round-trip. */
START_TEST(joint_exponent_span)
{
    uint64_t seed = 77;
    size_t n = test_elems(WC_DT_BF16), bytes = 2 * n;
    uint8_t *src = malloc(bytes);
    tu_gen(WC_DT_BF16, TU_REAL, src, n, &seed);
    codec_pair p;
    pair_setup(&p, WC_DT_BF16, src, bytes);
    ck_assert_uint_eq(p.c.codec, WC_CODEC_JOINT);
    check_choice(&p.c, WC_DT_BF16, src, n);
    size_t joint = chunks_roundtrip(&p, src, bytes);
    pair_free(&p);
    for (size_t i = 0; i < n; i += 97)
        put_bf16(src, i, i % 2 ? 0x0000 : 0x4400 /* 512.0 */);
    pair_setup(&p, WC_DT_BF16, src, bytes);
    ck_assert_uint_eq(p.c.codec, WC_CODEC_PLANES);
    check_choice(&p.c, WC_DT_BF16, src, n);
    chunks_roundtrip(&p, src, bytes);
    pair_free(&p);
    /* coded, not stored (kind_roundtrip checks JOINT sizes against the
     * planes' entropy bound) */
    ck_assert_uint_lt(joint, bytes * 3 / 4);
    /* 8191 elements in one chunk: 7 unused bits in the last packed byte,
     * which must be 0 (one payload per chunk) */
    tu_gen(WC_DT_BF16, TU_REAL, src, 8191, &seed);
    pair_setup(&p, WC_DT_BF16, src, 2 * 8191);
    ck_assert_uint_eq(p.c.codec, WC_CODEC_JOINT);
    size_t cap = wc_chunk_bound(2 * 8191);
    uint8_t *pay = malloc(cap), *scratch = malloc(2 * 8191);
    size_t r =
        wc_chunk_encode(&p.c, p.et, src, 2 * 8191, pay, cap, scratch, 3);
    ck_assert_uint_ne(r, WC_ENCODE_FAIL);
    uint8_t *out;
    ck_assert_int_eq(guarded_decode(&p.d, pay, r, 2 * 8191, &out), 0);
    ck_assert_int_eq(memcmp(out, src, 2 * 8191), 0);
    free(out);
    pay[r - 1] |= 0x80;
    ck_assert_int_eq(guarded_decode(&p.d, pay, r, 2 * 8191, NULL), -1);
    free(pay);
    free(scratch);
    pair_free(&p);
    free(src);
}
END_TEST

/* The choice between PLANES and JOINT is made on estimated sizes: they
 * must be the coded sizes (payloads and parameters) to within 0.5%, for
 * both codecs, or the choice is not by coded size. */
START_TEST(joint_estimate_is_coded_size)
{
    uint64_t seed = 78;
    size_t n = 4 * test_elems(WC_DT_BF16), bytes = 2 * n;
    uint8_t *src = malloc(bytes);
    tu_gen(WC_DT_BF16, TU_REAL, src, n, &seed);
    wc_planestats *st = malloc(sizeof *st);
    for (int v = 0; v < 2; v++) {
        gather(st, WC_DT_BF16, src, bytes);
        if (v == 0) /* without the joint histogram JOINT cannot be chosen */
            memset(st->joint, 0, sizeof st->joint);
        double est = wc_segcodec_estimate(WC_DT_BF16, st, CHUNK / 2);
        codec_pair p;
        memset(&p, 0, sizeof p);
        wc_segcodec_choose(&p.c, WC_DT_BF16, st, CHUNK / 2);
        ck_assert_uint_eq(p.c.codec, v ? WC_CODEC_JOINT : WC_CODEC_PLANES);
        for (unsigned k = 0; k < 2; k++)
            if (p.c.mode[k] == WC_PLANE_RANS)
                rans_etab_init(&p.et[k], p.c.freq[k]);
        params_roundtrip(&p);
        double coded = (double)chunks_roundtrip(&p, src, bytes) + (double)p.psize;
        ck_assert_msg(fabs(est - coded) < 0.005 * coded,
                      "%s: estimate %.0f, coded %.0f", v ? "JOINT" : "PLANES",
                      est, coded);
        pair_free(&p);
    }
    free(st);
    free(src);
}
END_TEST

START_TEST(joint_params)
{
    wc_segcodec c;
    memset(&c, 0, sizeof c);
    c.codec = WC_CODEC_JOINT;
    c.dtype = WC_DT_BF16;
    c.nplanes = 2;
    c.jbase = 100;
    c.mode[0] = WC_PLANE_RANS;
    c.mode[1] = WC_PLANE_RAW;
    c.freq[0][0] = 4000;
    c.freq[0][255] = 96; /* exponent 100 + 127 = 227 */
    size_t n = wc_segcodec_params_size(&c);
    ck_assert_uint_eq(n, 1 + 32 + 2 * 2);
    uint8_t *buf = malloc(n);
    wc_segcodec_params_write(&c, buf);
    wc_segcodec d;
    ck_assert_int_eq(parse(buf, n, WC_CODEC_JOINT, WC_DT_BF16, &d), 0);
    ck_assert_uint_eq(d.jbase, 100);
    ck_assert_uint_eq(d.mode[0], WC_PLANE_RANS);
    ck_assert_uint_eq(d.mode[1], WC_PLANE_RAW);
    ck_assert_int_eq(memcmp(d.freq[0], c.freq[0], sizeof c.freq[0]), 0);
    wc_segcodec_free(&d);
    /* only bf16 */
    ck_assert_int_eq(parse(buf, n, WC_CODEC_JOINT, WC_DT_F16, &d), -1);
    /* every truncation, and a byte too many */
    for (size_t len = 0; len < n; len++)
        ck_assert_int_eq(parse(buf, len, WC_CODEC_JOINT, WC_DT_BF16, &d), -1);
    uint8_t *more = calloc(1, n + 1);
    memcpy(more, buf, n);
    ck_assert_int_eq(parse(more, n + 1, WC_CODEC_JOINT, WC_DT_BF16, &d), -1);
    /* a symbol whose exponent would pass 255: base 129 + 255 / 2 = 256 */
    buf[0] = 129;
    ck_assert_int_eq(parse(buf, n, WC_CODEC_JOINT, WC_DT_BF16, &d), -1);
    buf[0] = 128; /* 128 + 127 = 255: the largest exponent, allowed */
    ck_assert_int_eq(parse(buf, n, WC_CODEC_JOINT, WC_DT_BF16, &d), 0);
    wc_segcodec_free(&d);
    free(more);
    free(buf);
}
END_TEST

/* ---- suite ------------------------------------------------------------------ */

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
    Suite *s = suite_create("codec");
    TCase *t = tc(s, "wc_dtype_from_name/wc_dtype_name/wc_dtype_size");
    tcase_add_test(t, dtype_names);
    t = tc(s, "wc_planes_split");
    tcase_add_loop_test(t, split_layout, 1, WC_DT_COUNT);
    t = tc(s, "wc_planestats_add");
    tcase_add_loop_test(t, planestats_counts, 1, WC_DT_COUNT);
    t = tc(s, "wc_segcodec_choose");
    tcase_add_loop_test(t, choose_real, 1, WC_DT_COUNT);
    tcase_add_loop_test(t, choose_smallint, 1, WC_DT_COUNT);
    tcase_add_loop_test(t, choose_const, 1, WC_DT_COUNT);
    tcase_add_loop_test(t, choose_zero, 1, WC_DT_COUNT);
    tcase_add_loop_test(t, choose_random, 1, WC_DT_COUNT);
    tcase_add_test(t, choose_f32_holding_bf16);
    tcase_add_test(t, choose_charges_chunk_overhead);
    t = tc(s, "wc_segcodec_params_parse");
    tcase_add_test(t, params_roundtrip_mixed);
    tcase_add_test(t, params_reject_truncated);
    tcase_add_test(t, params_reject_bad_fields);
    tcase_add_loop_test(t, params_reject_bad_nplanes, 0,
                        sizeof bad_nplanes / sizeof *bad_nplanes);
    tcase_add_test(t, params_fuzz);
    t = tc(s, "wc_chunk_encode");
    tcase_add_loop_test(t, encode_cap, 1, WC_DT_COUNT);
    t = tc(s, "wc_chunk_decode");
    tcase_add_loop_test(t, forced_modes, 1, WC_DT_COUNT);
    tcase_add_loop_test(t, decode_damaged_planes, 1, WC_DT_COUNT);
    tcase_add_test(t, decode_damaged_zstd);
    tcase_add_test(t, decode_bad_codec);
    tcase_add_test(t, joint_exponent_span);
    tcase_add_test(t, joint_params);
    tcase_add_test(t, joint_estimate_is_coded_size);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
