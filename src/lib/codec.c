/* codec.c - dtype transforms and the chunk codecs (see codec.h). */
#include "codec.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static const struct {
    const char *name;
    unsigned size;
} wc_dtypes[WC_DT_COUNT] = {
    [WC_DT_NONE] = {"", 1},         [WC_DT_BOOL] = {"BOOL", 1},
    [WC_DT_U8] = {"U8", 1},         [WC_DT_I8] = {"I8", 1},
    [WC_DT_F8_E4M3] = {"F8_E4M3", 1}, [WC_DT_F8_E5M2] = {"F8_E5M2", 1},
    [WC_DT_I16] = {"I16", 2},       [WC_DT_U16] = {"U16", 2},
    [WC_DT_F16] = {"F16", 2},       [WC_DT_BF16] = {"BF16", 2},
    [WC_DT_I32] = {"I32", 4},       [WC_DT_U32] = {"U32", 4},
    [WC_DT_F32] = {"F32", 4},       [WC_DT_F64] = {"F64", 8},
    [WC_DT_I64] = {"I64", 8},       [WC_DT_U64] = {"U64", 8},
};

int wc_dtype_from_name(const char *name)
{
    for (int d = 1; d < WC_DT_COUNT; d++)
        if (!strcmp(name, wc_dtypes[d].name))
            return d;
    return -1;
}

const char *wc_dtype_name(int dt)
{
    return dt > 0 && dt < WC_DT_COUNT ? wc_dtypes[dt].name : "-";
}

unsigned wc_dtype_size(int dt)
{
    return dt >= 0 && dt < WC_DT_COUNT ? wc_dtypes[dt].size : 0;
}

/* ---- transforms ------------------------------------------------------
 * Planes are ordered so that plane 0 carries the exponent (floats) or the
 * most significant byte (integers): the skewed, compressible part.
 *   BF16: [exponent, sign<<7 | mantissa]
 *   F32:  [exponent, sign<<7 | mantissa[22:16], mantissa[15:8], [7:0]]
 *   F64:  bytes of rotl(x, 1), most significant first (sign moves to the
 *         bottom so the top byte is pure exponent)
 *   other multi-byte types: bytes most significant first
 *   1-byte types: the byte itself
 */

void wc_planes_split(int dtype, const uint8_t *src, size_t n, uint8_t *planes)
{
    unsigned es = wc_dtype_size(dtype);
    switch (dtype) {
    case WC_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            planes[i] = (uint8_t)(v >> 7);
            planes[n + i] = (uint8_t)((v >> 8 & 0x80) | (v & 0x7f));
        }
        return;
    case WC_DT_F32:
        for (size_t i = 0; i < n; i++) {
            const uint8_t *b = src + 4 * i;
            planes[i] = (uint8_t)(b[3] << 1 | b[2] >> 7);
            planes[n + i] = (uint8_t)((b[3] & 0x80) | (b[2] & 0x7f));
            planes[2 * n + i] = b[1];
            planes[3 * n + i] = b[0];
        }
        return;
    case WC_DT_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t v;
            memcpy(&v, src + 8 * i, 8); /* little-endian hosts only */
            v = v << 1 | v >> 63;
            for (unsigned k = 0; k < 8; k++)
                planes[k * n + i] = (uint8_t)(v >> (56 - 8 * k));
        }
        return;
    default:
        if (es == 1) {
            memcpy(planes, src, n);
            return;
        }
        if (es == 2) {
            for (size_t i = 0; i < n; i++) {
                planes[i] = src[2 * i + 1];
                planes[n + i] = src[2 * i];
            }
            return;
        }
        for (size_t i = 0; i < n; i++)
            for (unsigned k = 0; k < es; k++)
                planes[k * n + i] = src[es * i + (es - 1 - k)];
        return;
    }
}

/* JOINT (codec.h, rans.h): symbols and the 7-bit remainders; r is scratch
 * of n bytes. Returns -1 if an exponent falls outside [base, base + 127]
 * (the caller then stores the chunk raw). */
static int wc_joint_split(unsigned base, const uint8_t *src, size_t n,
                          uint8_t *sym, uint8_t *r)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)(src[2 * i] | src[2 * i + 1] << 8);
        unsigned d = (v >> 7 & 0xff) - base; /* wraps when below base */
        bad |= d > 127;
        sym[i] = (uint8_t)(d << 1 | (v >> 6 & 1));
        r[i] = (uint8_t)((v >> 15) << 6 | (v & 0x3f));
    }
    return bad ? -1 : 0;
}

__attribute__((target_clones("avx2", "default"))) static void
wc_planes_merge(int dtype, const uint8_t *const *pl, size_t n,
                            uint8_t *dst)
{
    unsigned es = wc_dtype_size(dtype);
    switch (dtype) {
    case WC_DT_BF16:
        rans_merge16(pl[0], pl[1], n, dst, RANS_MERGE_BF16);
        return;
    case WC_DT_F32: {
        const uint8_t *e = pl[0], *sm = pl[1], *m1 = pl[2], *m0 = pl[3];
        for (size_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)(sm[i] & 0x80) << 24 | (uint32_t)e[i] << 23 |
                         (uint32_t)(sm[i] & 0x7f) << 16 | (uint32_t)m1[i] << 8 |
                         m0[i];
            memcpy(dst + 4 * i, &v, 4);
        }
        return;
    }
    case WC_DT_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t v = 0;
            for (unsigned k = 0; k < 8; k++)
                v |= (uint64_t)pl[k][i] << (56 - 8 * k);
            v = v >> 1 | v << 63;
            memcpy(dst + 8 * i, &v, 8);
        }
        return;
    case WC_DT_F16:
    case WC_DT_I16:
    case WC_DT_U16: {
        rans_merge16(pl[0], pl[1], n, dst, RANS_MERGE_HI_LO);
        return;
    }
    default:
        if (es == 1) {
            memcpy(dst, pl[0], n);
            return;
        }
        for (size_t i = 0; i < n; i++)
            for (unsigned k = 0; k < es; k++)
                dst[es * i + (es - 1 - k)] = pl[k][i];
        return;
    }
}

/* ---- statistics and mode choice ---------------------------------------- */

void wc_planestats_add(wc_planestats *st, int dtype, const uint8_t *src,
                       size_t bytes, uint8_t *scratch)
{
    unsigned es = wc_dtype_size(dtype);
    size_t n = bytes / es;
    wc_planes_split(dtype, src, n, scratch);
    for (unsigned k = 0; k < es; k++) {
        const uint8_t *p = scratch + k * n;
        /* Four sub-histograms break the store-to-load chain on runs of
         * one value (zero planes are common). */
        uint32_t h[4][256];
        memset(h, 0, sizeof h);
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            h[0][p[i]]++;
            h[1][p[i + 1]]++;
            h[2][p[i + 2]]++;
            h[3][p[i + 3]]++;
        }
        for (; i < n; i++)
            h[0][p[i]]++;
        for (int s = 0; s < 256; s++)
            st->count[k][s] += (uint64_t)h[0][s] + h[1][s] + h[2][s] + h[3][s];
    }
    if (dtype == WC_DT_BF16) {
        uint32_t h[512] = {0};
        for (size_t i = 0; i < n; i++)
            h[scratch[i] << 1 | (scratch[n + i] >> 6 & 1)]++;
        for (int s = 0; s < 512; s++)
            st->joint[s] += h[s];
    }
    st->n += n;
}

void wc_planestats_merge(wc_planestats *dst, const wc_planestats *src)
{
    for (unsigned k = 0; k < WC_MAX_PLANES; k++)
        for (int s = 0; s < 256; s++)
            dst->count[k][s] += src->count[k][s];
    for (int s = 0; s < 512; s++)
        dst->joint[s] += src->joint[s];
    dst->n += src->n;
}

/* Per-plane decision shared by choose and estimate: the coded cost in bytes
 * of plane k under its best mode, the mode, and the normalised table. */
static double wc_plane_cost(const wc_planestats *st, unsigned k, size_t nchunks,
                            uint8_t *mode, uint8_t *cval, uint16_t freq[256])
{
    const uint64_t *cnt = st->count[k];
    int distinct = 0, last = 0;
    for (int s = 0; s < 256; s++)
        if (cnt[s]) {
            distinct++;
            last = s;
        }
    if (distinct <= 1) {
        *mode = WC_PLANE_CONST;
        *cval = (uint8_t)last;
        return 2; /* mode and value bytes */
    }
    rans_normalize(cnt, freq);
    /* Cost of the quantised table, not the ideal entropy. */
    double qbits = 0;
    for (int s = 0; s < 256; s++)
        if (cnt[s])
            qbits -= (double)cnt[s] * log2((double)freq[s] / RANS_PROB_SCALE);
    double rans = qbits / 8 + (double)nchunks * (RANS_HEADER_BYTES + 4) + 33 +
                  2.0 * distinct;
    /* A plane is coded only if that saves 3%: a rANS plane costs as much
     * decode time as the exponent plane, and near-uniform planes (bf16
     * sign|mantissa saves 0.4-1.2% of itself on the corpus) would halve
     * decode speed for ~0.2% of size. */
    if (rans < 0.97 * (double)st->n) {
        *mode = WC_PLANE_RANS;
        return rans;
    }
    *mode = WC_PLANE_RAW;
    return (double)st->n + 1;
}

/* Coded bytes of a BF16 segment as JOINT, its base exponent and table; or
 * HUGE_VAL when its exponents span more than 128 values (the symbol would
 * not fit a byte) or it has a single symbol. */
static double wc_joint_cost(const wc_planestats *st, size_t nchunks,
                            uint8_t *base, uint16_t freq[256])
{
    int lo = 256, hi = -1;
    for (int j = 0; j < 512; j++)
        if (st->joint[j]) {
            lo = lo < j >> 1 ? lo : j >> 1;
            hi = j >> 1;
        }
    if (hi < 0 || hi - lo > 127)
        return HUGE_VAL;
    uint64_t cnt[256] = {0};
    int distinct = 0;
    for (int s = 0; s < 256 && 2 * lo + s < 512; s++) {
        cnt[s] = st->joint[2 * lo + s];
        distinct += cnt[s] != 0;
    }
    if (distinct < 2)
        return HUGE_VAL;
    rans_normalize(cnt, freq);
    double qbits = 0;
    for (int s = 0; s < 256; s++)
        if (cnt[s])
            qbits -= (double)cnt[s] * log2((double)freq[s] / RANS_PROB_SCALE);
    *base = (uint8_t)lo;
    return qbits / 8 + (double)nchunks * (RANS_HEADER_BYTES + 4) + 34 +
           2.0 * distinct + (double)rans_raw7_size(st->n);
}

/* The cheaper of PLANES and (BF16) JOINT, filled into c when c != NULL. */
static double wc_choose(wc_segcodec *c, int dtype, const wc_planestats *st,
                        size_t chunk_elems)
{
    wc_segcodec tmp;
    if (!c)
        c = &tmp;
    memset(c, 0, sizeof *c);
    c->codec = WC_CODEC_PLANES;
    c->dtype = (uint8_t)dtype;
    c->nplanes = (uint8_t)wc_dtype_size(dtype);
    size_t nchunks = chunk_elems ? (st->n + chunk_elems - 1) / chunk_elems : 1;
    double total = 0;
    for (unsigned k = 0; k < c->nplanes; k++) {
        total += wc_plane_cost(st, k, nchunks, &c->mode[k], &c->cval[k],
                               c->freq[k]);
        if (c->mode[k] != WC_PLANE_RANS)
            memset(c->freq[k], 0, sizeof c->freq[k]);
    }
    if (dtype != WC_DT_BF16)
        return total;
    uint8_t base = 0;
    uint16_t freq[256];
    double joint = wc_joint_cost(st, nchunks, &base, freq);
    if (joint >= total)
        return total;
    memset(c->freq, 0, sizeof c->freq);
    memcpy(c->freq[0], freq, sizeof freq);
    c->codec = WC_CODEC_JOINT;
    c->jbase = base;
    c->mode[0] = WC_PLANE_RANS;
    c->mode[1] = WC_PLANE_RAW;
    c->cval[0] = c->cval[1] = 0;
    return joint;
}

void wc_segcodec_choose(wc_segcodec *c, int dtype, const wc_planestats *st,
                        size_t chunk_elems)
{
    wc_choose(c, dtype, st, chunk_elems);
}

double wc_segcodec_estimate(int dtype, const wc_planestats *st,
                            size_t chunk_elems)
{
    return wc_choose(NULL, dtype, st, chunk_elems);
}

/* ---- parameters ---------------------------------------------------------
 * A table: u8[32] presence bitmap (bit s of byte s/8 set when symbol s has
 * a frequency), then the u16 LE frequency of each present symbol in
 * increasing symbol order.
 * PLANES parameters, per plane in order: u8 mode; CONST: u8 value; RANS: a
 * table.
 * JOINT parameters: u8 base, then the symbol table.
 */

static size_t wc_table_size(const uint16_t freq[256])
{
    size_t sz = 32;
    for (int s = 0; s < 256; s++)
        sz += freq[s] ? 2 : 0;
    return sz;
}

static uint8_t *wc_table_write(const uint16_t freq[256], uint8_t *p)
{
    uint8_t *bm = p;
    memset(bm, 0, 32);
    p += 32;
    for (int s = 0; s < 256; s++) {
        if (!freq[s])
            continue;
        bm[s >> 3] |= (uint8_t)(1u << (s & 7));
        *p++ = (uint8_t)freq[s];
        *p++ = (uint8_t)(freq[s] >> 8);
    }
    return p;
}

/* Parse a table at *pp and build its decode table. 0 or -1. */
static int wc_table_parse(const uint8_t **pp, const uint8_t *end,
                          uint16_t freq[256], rans_dtab **dtab)
{
    const uint8_t *p = *pp;
    if (end - p < 32)
        return -1;
    const uint8_t *bm = p;
    p += 32;
    for (int s = 0; s < 256; s++) {
        if (!(bm[s >> 3] >> (s & 7) & 1))
            continue;
        if (end - p < 2)
            return -1;
        freq[s] = (uint16_t)(p[0] | p[1] << 8);
        p += 2;
        if (!freq[s])
            return -1;
    }
    if (rans_freq_valid(freq) || !(*dtab = malloc(sizeof(rans_dtab))))
        return -1;
    rans_dtab_init(*dtab, freq);
    *pp = p;
    return 0;
}

size_t wc_segcodec_params_size(const wc_segcodec *c)
{
    if (c->codec == WC_CODEC_JOINT)
        return 1 + wc_table_size(c->freq[0]);
    if (c->codec != WC_CODEC_PLANES)
        return 0;
    size_t sz = 0;
    for (unsigned k = 0; k < c->nplanes; k++) {
        sz += 1;
        if (c->mode[k] == WC_PLANE_CONST)
            sz += 1;
        else if (c->mode[k] == WC_PLANE_RANS)
            sz += wc_table_size(c->freq[k]);
    }
    return sz;
}

void wc_segcodec_params_write(const wc_segcodec *c, uint8_t *p)
{
    if (c->codec == WC_CODEC_JOINT) {
        *p++ = c->jbase;
        wc_table_write(c->freq[0], p);
        return;
    }
    if (c->codec != WC_CODEC_PLANES)
        return;
    for (unsigned k = 0; k < c->nplanes; k++) {
        *p++ = c->mode[k];
        if (c->mode[k] == WC_PLANE_CONST)
            *p++ = c->cval[k];
        else if (c->mode[k] == WC_PLANE_RANS)
            p = wc_table_write(c->freq[k], p);
    }
}

int wc_segcodec_params_parse(wc_segcodec *c, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    for (unsigned k = 0; k < WC_MAX_PLANES; k++)
        c->dtab[k] = NULL;
    if (c->codec == WC_CODEC_JOINT) {
        if (c->dtype != WC_DT_BF16 || c->nplanes != 2 || len < 1)
            return -1;
        c->jbase = *p++;
        c->mode[0] = WC_PLANE_RANS;
        c->mode[1] = WC_PLANE_RAW;
        memset(c->freq, 0, sizeof c->freq);
        if (wc_table_parse(&p, end, c->freq[0], &c->dtab[0]) || p != end)
            goto bad;
        /* Every symbol must make an exponent: (s >> 1) + base <= 255. */
        for (int s = 0; s < 256; s++)
            if (c->freq[0][s] && (s >> 1) + c->jbase > 255)
                goto bad;
        return 0;
    }
    if (c->codec != WC_CODEC_PLANES)
        return len == 0 ? 0 : -1;
    if (c->nplanes != wc_dtype_size(c->dtype) || c->dtype == WC_DT_NONE)
        return -1;
    for (unsigned k = 0; k < c->nplanes; k++) {
        if (end - p < 1)
            goto bad;
        c->mode[k] = *p++;
        memset(c->freq[k], 0, sizeof c->freq[k]);
        if (c->mode[k] == WC_PLANE_RAW)
            continue;
        if (c->mode[k] == WC_PLANE_CONST) {
            if (end - p < 1)
                goto bad;
            c->cval[k] = *p++;
            continue;
        }
        if (c->mode[k] != WC_PLANE_RANS ||
            wc_table_parse(&p, end, c->freq[k], &c->dtab[k]))
            goto bad;
    }
    if (p != end)
        goto bad;
    return 0;
bad:
    wc_segcodec_free(c);
    return -1;
}

void wc_segcodec_free(wc_segcodec *c)
{
    for (unsigned k = 0; k < WC_MAX_PLANES; k++) {
        free(c->dtab[k]);
        c->dtab[k] = NULL;
    }
}

/* ---- chunks --------------------------------------------------------------
 * PLANES chunk payload: a u32 LE size for every RANS plane (plane order),
 * then each non-CONST plane's bytes in plane order: RAW planes n bytes,
 * RANS planes their rANS block.
 * JOINT chunk payload: a u32 LE size of the rANS block of the symbols, the
 * block, then the packed 7-bit remainders (rans_raw7_size(n) bytes).
 */

size_t wc_chunk_bound(size_t bytes)
{
    size_t z = ZSTD_compressBound(bytes);
    size_t r = 4 * WC_MAX_PLANES + WC_MAX_PLANES * rans_bound(bytes);
    return z > r ? z : r;
}

/* zstd contexts are reused per thread (creating one per chunk costs more
 * than decoding it) and freed when the thread exits: packers and FUSE
 * workers come and go. */
typedef struct {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
} wc_zctx;

static pthread_key_t wc_zkey;
static pthread_once_t wc_zonce = PTHREAD_ONCE_INIT;

static void wc_zctx_free(void *p)
{
    wc_zctx *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    free(z);
}

static void wc_zkey_init(void)
{
    pthread_key_create(&wc_zkey, wc_zctx_free);
}

static wc_zctx *wc_zctx_get(void)
{
    pthread_once(&wc_zonce, wc_zkey_init);
    wc_zctx *z = pthread_getspecific(wc_zkey);
    if (!z) {
        z = calloc(1, sizeof *z);
        if (!z || pthread_setspecific(wc_zkey, z)) {
            free(z);
            return NULL;
        }
    }
    return z;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

size_t wc_chunk_encode(const wc_segcodec *c, const rans_etab *et,
                       const uint8_t *src, size_t bytes, uint8_t *dst,
                       size_t cap, uint8_t *scratch, int zstd_level)
{
    switch (c->codec) {
    case WC_CODEC_RAW:
        if (cap < bytes)
            return WC_ENCODE_FAIL;
        memcpy(dst, src, bytes);
        return bytes;
    case WC_CODEC_ZSTD: {
        wc_zctx *z = wc_zctx_get();
        if (!z || (!z->c && !(z->c = ZSTD_createCCtx())))
            return WC_ENCODE_FAIL;
        size_t r = ZSTD_compressCCtx(z->c, dst, cap, src, bytes, zstd_level);
        return ZSTD_isError(r) ? WC_ENCODE_FAIL : r;
    }
    case WC_CODEC_PLANES:
        break;
    case WC_CODEC_JOINT: {
        /* u32 LE size of the rANS block, the block, the packed bits. */
        size_t n = bytes / 2;
        uint8_t *sym = scratch, *r = scratch + n;
        if (bytes % 2 || cap < 4 + rans_raw7_size(n) ||
            wc_joint_split(c->jbase, src, n, sym, r))
            return WC_ENCODE_FAIL;
        size_t rs = rans_encode(&et[0], sym, n, dst + 4,
                                cap - 4 - rans_raw7_size(n));
        if (!rs)
            return WC_ENCODE_FAIL;
        wr32(dst, (uint32_t)rs);
        rans_raw7_pack(r, n, dst + 4 + rs);
        return 4 + rs + rans_raw7_size(n);
    }
    default:
        return WC_ENCODE_FAIL;
    }
    unsigned es = c->nplanes;
    size_t n = bytes / es;
    wc_planes_split(c->dtype, src, n, scratch);
    size_t nr = 0;
    for (unsigned k = 0; k < es; k++)
        nr += c->mode[k] == WC_PLANE_RANS;
    if (cap < 4 * nr)
        return WC_ENCODE_FAIL;
    uint8_t *hdr = dst, *o = dst + 4 * nr, *end = dst + cap;
    for (unsigned k = 0; k < es; k++) {
        const uint8_t *pl = scratch + k * n;
        if (c->mode[k] == WC_PLANE_CONST)
            continue;
        if (c->mode[k] == WC_PLANE_RAW) {
            if ((size_t)(end - o) < n)
                return WC_ENCODE_FAIL;
            memcpy(o, pl, n);
            o += n;
            continue;
        }
        size_t r = rans_encode(&et[k], pl, n, o, (size_t)(end - o));
        if (!r)
            return WC_ENCODE_FAIL; /* rans_encode: 0 means no room */
        wr32(hdr, (uint32_t)r);
        hdr += 4;
        o += r;
    }
    return (size_t)(o - dst);
}

/* A coded chunk's decode, planned: its rANS blocks as jobs (rans.h), then,
 * for PLANES in general, the merge of its planes into dst. */
typedef struct {
    rans_job job[WC_MAX_PLANES];
    unsigned nj;
    int merge;                       /* merge pl[] into dst after the jobs */
    const uint8_t *pl[WC_MAX_PLANES];
    size_t n;
} wc_plan;

/* Check a JOINT or PLANES payload's framing and plan its decode. Three
 * forms need no merge pass, the jobs writing dst themselves: JOINT; a
 * 1-byte type whose plane is coded (U8, I8, FP8); a 16-bit type with plane
 * 0 coded and plane 1 raw (nearly every bf16 and fp16 weight). Other
 * PLANES chunks decode their coded planes into scratch (CONST planes are
 * filled here, RAW ones merge from the payload). 0, or -1 if corrupt. */
static int wc_chunk_plan(const wc_segcodec *c, const uint8_t *src, size_t len,
                         uint8_t *dst, size_t bytes, uint8_t *scratch,
                         wc_plan *pl)
{
    pl->nj = 0;
    pl->merge = 0;
    if (c->codec == WC_CODEC_JOINT) {
        size_t n = bytes / 2;
        if (bytes % 2 || len < 4 || !c->dtab[0])
            return -1;
        size_t r = rd32(src);
        if (r > len - 4 || len - 4 - r != rans_raw7_size(n))
            return -1;
        /* The unused high bits of the last packed byte are 0: one payload
         * per chunk, as for every other codec. */
        if (n % 8 && src[len - 1] >> (7 * n % 8))
            return -1;
        pl->job[pl->nj++] = (rans_job){
            .t = c->dtab[0], .src = src + 4, .len = r, .side = src + 4 + r,
            .dst = dst, .n = n, .tmp = scratch, .how = RANS_MERGE_JOINT,
            .base = c->jbase};
        return 0;
    }
    unsigned es = c->nplanes;
    if (c->codec != WC_CODEC_PLANES || !es || bytes % es)
        return -1;
    size_t n = bytes / es;
    pl->n = n;
    size_t nr = 0;
    for (unsigned k = 0; k < es; k++)
        nr += c->mode[k] == WC_PLANE_RANS;
    if (len < 4 * nr)
        return -1;
    const uint8_t *hdr = src, *p = src + 4 * nr, *end = src + len;
    if ((es == 1 && c->mode[0] == WC_PLANE_RANS) ||
        (es == 2 && c->mode[0] == WC_PLANE_RANS &&
         c->mode[1] == WC_PLANE_RAW)) {
        size_t r = rd32(hdr);
        if (r > (size_t)(end - p) || (size_t)(end - p) - r != (es - 1) * n ||
            !c->dtab[0])
            return -1;
        rans_job *j = &pl->job[pl->nj++];
        *j = (rans_job){.t = c->dtab[0], .src = p, .len = r, .dst = dst,
                        .n = n, .tmp = scratch};
        if (es == 2) {
            j->side = p + r;
            j->how = c->dtype == WC_DT_BF16 ? RANS_MERGE_BF16
                                            : RANS_MERGE_HI_LO;
        }
        return 0;
    }
    pl->merge = 1;
    for (unsigned k = 0; k < es; k++) {
        uint8_t *buf = scratch + k * n;
        switch (c->mode[k]) {
        case WC_PLANE_CONST:
            memset(buf, c->cval[k], n);
            pl->pl[k] = buf;
            break;
        case WC_PLANE_RAW:
            /* Merge straight from the payload: no copy. */
            if ((size_t)(end - p) < n)
                return -1;
            pl->pl[k] = p;
            p += n;
            break;
        case WC_PLANE_RANS: {
            size_t r = rd32(hdr);
            hdr += 4;
            if ((size_t)(end - p) < r || !c->dtab[k])
                return -1;
            pl->job[pl->nj++] = (rans_job){.t = c->dtab[k], .src = p,
                                           .len = r, .dst = buf, .n = n};
            pl->pl[k] = buf;
            p += r;
            break;
        }
        default:
            return -1;
        }
    }
    return p == end ? 0 : -1;
}

/* Jobs from the first'th on, then the merge. 0 or -1. */
static int wc_plan_run(const wc_segcodec *c, const wc_plan *pl, unsigned first,
                       uint8_t *dst)
{
    for (unsigned i = first; i < pl->nj; i++)
        if (rans_decode_job(&pl->job[i]))
            return -1;
    if (pl->merge)
        wc_planes_merge(c->dtype, pl->pl, pl->n, dst);
    return 0;
}

int wc_chunk_decode_pair(const wc_segcodec *ca, const uint8_t *sa, size_t la,
                         uint8_t *da, size_t ba, const wc_segcodec *cb,
                         const uint8_t *sb, size_t lb, uint8_t *db, size_t bb,
                         uint8_t *scratch)
{
    int coded = (ca->codec == WC_CODEC_PLANES || ca->codec == WC_CODEC_JOINT) &&
                (cb->codec == WC_CODEC_PLANES || cb->codec == WC_CODEC_JOINT);
    wc_plan pa, pb;
    if (!coded || wc_chunk_plan(ca, sa, la, da, ba, scratch, &pa) ||
        wc_chunk_plan(cb, sb, lb, db, bb, scratch + ba, &pb) || !pa.nj ||
        !pb.nj)
        return (wc_chunk_decode(ca, sa, la, da, ba, scratch) ? 1 : 0) |
               (wc_chunk_decode(cb, sb, lb, db, bb, scratch + ba) ? 2 : 0);
    /* the first coded block of each together (for every dtype in use the
     * only one), the rest one by one */
    int m = rans_decode_pair(&pa.job[0], &pb.job[0]);
    if (!(m & 1) && wc_plan_run(ca, &pa, 1, da))
        m |= 1;
    if (!(m & 2) && wc_plan_run(cb, &pb, 1, db))
        m |= 2;
    return m;
}

int wc_chunk_decode(const wc_segcodec *c, const uint8_t *src, size_t len,
                    uint8_t *dst, size_t bytes, uint8_t *scratch)
{
    switch (c->codec) {
    case WC_CODEC_RAW:
        if (len != bytes)
            return -1;
        memcpy(dst, src, bytes);
        return 0;
    case WC_CODEC_ZSTD: {
        wc_zctx *z = wc_zctx_get();
        if (!z || (!z->d && !(z->d = ZSTD_createDCtx())))
            return -1;
        size_t r = ZSTD_decompressDCtx(z->d, dst, bytes, src, len);
        return !ZSTD_isError(r) && r == bytes ? 0 : -1;
    }
    case WC_CODEC_PLANES:
    case WC_CODEC_JOINT: {
        wc_plan pl;
        if (wc_chunk_plan(c, src, len, dst, bytes, scratch, &pl))
            return -1;
        return wc_plan_run(c, &pl, 0, dst);
    }
    default:
        return -1;
    }
}
