/* testgen.c - synthetic .safetensors writer (see testgen.h). */
#include "testgen.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t s;
} tg_rng;

static uint64_t tg_next(tg_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ~N(0,1): sum of four uniforms (Irwin-Hall), scaled; cheap and close
 * enough for realistic exponent statistics. */
static float tg_gauss(tg_rng *r)
{
    uint64_t v = tg_next(r);
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += (float)((v >> (16 * i)) & 0xffff) * (1.0f / 65536.0f);
    return (s - 2.0f) * 1.7320508f;
}

static unsigned tg_size(const char *dt)
{
    static const struct {
        const char *n;
        unsigned s;
    } t[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
             {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
             {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].n, dt))
            return t[i].s;
    return 0;
}

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint16_t tg_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffff) > 0x7f800000)
        return 0x7fc0;
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static uint16_t tg_f16(float f)
{
    uint32_t u = f2u(f), sign = (u >> 16) & 0x8000;
    float a = fabsf(f);
    if (a >= 65520.0f)
        return (uint16_t)(sign | 0x7c00);
    if (a < 6.103515625e-05f) { /* subnormal: units of 2^-24 */
        uint32_t m = (uint32_t)lrintf(a * 16777216.0f);
        return (uint16_t)(sign | m);
    }
    uint32_t au = u & 0x7fffffff;
    uint32_t e = (au >> 23) - 127 + 15, m = au & 0x7fffff;
    uint32_t h = e << 10 | m >> 13, rest = m & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

/* e4m3fn: bias 7, 3 mantissa bits, max 448, no infinities. */
static uint8_t tg_e4m3(float f)
{
    uint8_t sign = f < 0 ? 0x80 : 0;
    float a = fabsf(f);
    if (a > 448.0f)
        a = 448.0f;
    if (a < 0.015625f) /* subnormal: units of 2^-9 */
        return (uint8_t)(sign | (uint8_t)lrintf(a * 512.0f));
    int e;
    float m = frexpf(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int q = (int)lrintf(m * 16.0f); /* 8..16 */
    if (q == 16) {
        q = 8;
        e++;
    }
    int be = e - 1 + 7;
    if (be > 15 || (be == 15 && q - 8 > 6))
        return (uint8_t)(sign | 0x7e);
    return (uint8_t)(sign | be << 3 | (q - 8));
}

static void tg_fill(uint8_t *out, const char *dt, unsigned es, uint64_t first,
                    uint64_t n, int pattern, const char *bytes, tg_rng *r,
                    float *rowscale)
{
    if (pattern == WC_TG_BYTES) {
        for (uint64_t i = 0; i < n; i++) {
            uint64_t v = tg_next(r);
            for (unsigned b = 0; b < es; b++) {
                uint8_t x = (uint8_t)(v >> (8 * b));
                char m = bytes && bytes[b] ? bytes[b] : 'r';
                if (m == 's')
                    x = (x & 3) == 0 ? x : (uint8_t)((x >> 2) & 3);
                else if (m == 'c')
                    x = 0x5a;
                out[i * es + b] = x;
            }
        }
        return;
    }
    if (pattern == WC_TG_RANDOM) {
        for (uint64_t i = 0; i < n * es; i += 8) {
            uint64_t v = tg_next(r);
            size_t k = n * es - i < 8 ? (size_t)(n * es - i) : 8;
            memcpy(out + i, &v, k);
        }
        return;
    }
    enum { K_BF16, K_F16, K_F32, K_F64, K_E4M3, K_E5M2, K_BOOL, K_INT } kind =
        !strcmp(dt, "BF16") ? K_BF16 : !strcmp(dt, "F16") ? K_F16
        : !strcmp(dt, "F32") ? K_F32 : !strcmp(dt, "F64") ? K_F64
        : !strcmp(dt, "F8_E4M3") ? K_E4M3 : !strcmp(dt, "F8_E5M2") ? K_E5M2
        : !strcmp(dt, "BOOL") ? K_BOOL : K_INT;
    const int is_unsigned = dt[0] == 'U';
    for (uint64_t i = 0; i < n; i++) {
        uint64_t idx = first + i;
        float w;
        if (pattern == WC_TG_CONST) {
            w = 1.0f;
        } else {
            if (idx % 4096 == 0) /* a new row: its own scale, some outliers */
                *rowscale = 0.004f + 0.03f * (float)(tg_next(r) & 0xffff) / 65536.0f *
                                         ((tg_next(r) & 63) == 0 ? 8.0f : 1.0f);
            w = tg_gauss(r) * *rowscale;
            if ((tg_next(r) & 1023) == 0)
                w *= 20.0f;
        }
        uint8_t *o = out + i * es;
        switch (kind) {
        case K_BF16: {
            uint16_t v = tg_bf16(w);
            memcpy(o, &v, 2);
            break;
        }
        case K_F16: {
            uint16_t v = tg_f16(w);
            memcpy(o, &v, 2);
            break;
        }
        case K_F32:
            memcpy(o, &w, 4);
            break;
        case K_F64: {
            double d = (double)w * (1.0 + (double)(tg_next(r) & 0xffff) * 1e-9);
            memcpy(o, &d, 8);
            break;
        }
        case K_E4M3:
            *o = tg_e4m3(w * 64.0f);
            break;
        case K_E5M2:
            *o = (uint8_t)(tg_f16(w * 16.0f) >> 8);
            break;
        case K_BOOL:
            *o = pattern == WC_TG_CONST ? 1 : (tg_next(r) % 10 == 0);
            break;
        default: {
            /* integers: quantised weights (8/16-bit), ids/positions (wider) */
            int64_t v;
            if (pattern == WC_TG_CONST)
                v = 7;
            else if (es == 1)
                v = (int64_t)lrintf(w / (*rowscale + 1e-12f) * 24.0f);
            else if (es == 2)
                v = (int64_t)lrintf(w / (*rowscale + 1e-12f) * 2000.0f);
            else
                v = (int64_t)(tg_next(r) % 50000);
            if (is_unsigned && v < 0)
                v = -v;
            if (es == 1 && v > 127)
                v = 127;
            if (es == 1 && v < -127)
                v = -127;
            memcpy(o, &v, es); /* little-endian host */
            break;
        }
        }
    }
}

int wc_tg_write(const char *path, const wc_tg_tensor *t, size_t n,
                uint64_t seed)
{
    /* Header JSON with data_offsets, padded to a multiple of 8. */
    size_t cap = 256 + n * 160, hl = 0;
    char *h = malloc(cap);
    if (!h)
        return -ENOMEM;
    uint64_t off = 0;
    hl += (size_t)snprintf(h + hl, cap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        unsigned es = tg_size(t[i].dtype);
        if (!es || strlen(t[i].name) > 64) {
            free(h);
            return -EINVAL;
        }
        uint64_t len = t[i].nelem * es;
        hl += (size_t)snprintf(h + hl, cap - hl,
                               ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%llu],"
                               "\"data_offsets\":[%llu,%llu]}",
                               t[i].name, t[i].dtype,
                               (unsigned long long)t[i].nelem,
                               (unsigned long long)off,
                               (unsigned long long)(off + len));
        off += len;
    }
    hl += (size_t)snprintf(h + hl, cap - hl, "}");
    while (hl % 8)
        h[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h);
        return -errno;
    }
    uint8_t lenle[8];
    for (int i = 0; i < 8; i++)
        lenle[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    int rc = 0;
    if (fwrite(lenle, 1, 8, f) != 8 || fwrite(h, 1, hl, f) != hl)
        rc = -EIO;
    free(h);

    const uint64_t piece = 1u << 20; /* elements per write */
    uint8_t *buf = malloc(piece * 8);
    if (!buf)
        rc = -ENOMEM;
    tg_rng r = {seed};
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned es = tg_size(t[i].dtype);
        float rowscale = 0.02f;
        for (uint64_t e = 0; e < t[i].nelem && !rc; e += piece) {
            uint64_t m = t[i].nelem - e < piece ? t[i].nelem - e : piece;
            tg_fill(buf, t[i].dtype, es, e, m, t[i].pattern, t[i].bytes, &r,
                    &rowscale);
            if (fwrite(buf, es, m, f) != m)
                rc = -EIO;
        }
    }
    free(buf);
    if (fclose(f) && !rc)
        rc = -EIO;
    return rc;
}

int wc_tg_all_dtypes(const char *path, unsigned scale, uint64_t seed)
{
    static const char *const dts[] = {"BOOL", "U8",  "I8",  "F8_E4M3", "F8_E5M2",
                                      "I16",  "U16", "F16", "BF16",    "I32",
                                      "U32",  "F32", "F64", "I64",     "U64"};
    enum { ND = sizeof dts / sizeof dts[0] };
    /* Byte mixes giving every count of RANS planes per element size. */
    static const char *const mixes[] = {
        "ss", "sc", "rs",
        "ssss", "srsr", "sssr", "scrs", "rrrs",
        "ssssssss", "srsrsrsr", "sssrrsss", "ssrrrrrr", "sssssrcc",
        "sssrrrrr", "sssssssr", "ssssrrrr", "rrrrrrrs",
    };
    enum { NM = sizeof mixes / sizeof mixes[0] };
    wc_tg_tensor t[ND * 4 + NM * 3];
    char names[ND * 4 + NM * 3][48];
    size_t n = 0;
    if (!scale)
        scale = 1;
    for (size_t d = 0; d < ND; d++) {
        unsigned es = tg_size(dts[d]);
        for (int p = 0; p < 4; p++) {
            /* REAL big (several chunks, odd tail), CONST, RANDOM, small */
            static const uint64_t bytes[4] = {40000, 9000, 12000, 600};
            uint64_t ne = bytes[p] * scale / es + (p == 3 ? 1 : 2 * d + 1);
            snprintf(names[n], sizeof names[n], "%s.%s", dts[d],
                     p == 0 ? "real" : p == 1 ? "const" : p == 2 ? "random" : "small");
            t[n].name = names[n];
            t[n].dtype = dts[d];
            t[n].nelem = ne;
            t[n].pattern = p == 3 ? WC_TG_REAL : p;
            t[n].bytes = NULL;
            n++;
        }
    }
    for (size_t m = 0; m < NM; m++) {
        unsigned es = (unsigned)strlen(mixes[m]);
        /* the generic byte order, and the float transforms of that size */
        const char *const *dl = es == 2 ? (const char *const[]){"U16", "BF16", "F16"}
                              : es == 4 ? (const char *const[]){"I32", "F32", "U32"}
                                        : (const char *const[]){"U64", "F64", "I64"};
        for (int v = 0; v < 3; v++) {
            snprintf(names[n], sizeof names[n], "mix%zu.%s", m, dl[v]);
            t[n].name = names[n];
            t[n].dtype = dl[v];
            t[n].nelem = 5000 * scale / es * 3 + m + 1;
            t[n].pattern = WC_TG_BYTES;
            t[n].bytes = mixes[m];
            n++;
        }
    }
    return wc_tg_write(path, t, n, seed);
}
