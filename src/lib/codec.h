/* codec.h - per-dtype chunk codecs.
 *
 * A segment of the presented file is coded with one codec:
 *   RAW    chunk payload is the bytes themselves
 *   ZSTD   chunk payload is one zstd frame
 *   PLANES every element is split into byte planes by a dtype transform
 *          (e.g. bf16 -> exponent byte, sign|mantissa byte); each plane is
 *          RAW, CONST (one byte value for the whole segment, costs nothing)
 *          or RANS (32-way rANS with a table stored once per segment).
 *   JOINT  BF16 only: the exponent and the top mantissa bit are one rANS
 *          symbol, (exponent - base) << 1 | m6, and the other 7 bits
 *          (sign, low 6 mantissa bits) are packed, 28 bytes per 32
 *          elements (rans_raw7_size in rans.h). Within a binade weights are not
 *          uniform, so that bit depends on the exponent.
 * Any chunk may also be stored raw when coding does not make it smaller
 * (the index says so per chunk), so nothing grows by more than its index
 * entry.
 */
#ifndef WC_CODEC_H
#define WC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "rans.h"

enum wc_codec {
    WC_CODEC_RAW = 0,
    WC_CODEC_ZSTD = 1,
    WC_CODEC_PLANES = 2,
    WC_CODEC_JOINT = 3, /* format 1.1 */
    WC_CODEC_COUNT
};
enum wc_plane_mode { WC_PLANE_RAW = 0, WC_PLANE_CONST = 1, WC_PLANE_RANS = 2 };

/* Dtype ids are stored in containers: never renumber. */
enum wc_dtype {
    WC_DT_NONE = 0, /* not a tensor (header, gaps, merged small tensors) */
    WC_DT_BOOL = 1,
    WC_DT_U8 = 2,
    WC_DT_I8 = 3,
    WC_DT_F8_E4M3 = 4,
    WC_DT_F8_E5M2 = 5,
    WC_DT_I16 = 6,
    WC_DT_U16 = 7,
    WC_DT_F16 = 8,
    WC_DT_BF16 = 9,
    WC_DT_I32 = 10,
    WC_DT_U32 = 11,
    WC_DT_F32 = 12,
    WC_DT_F64 = 13,
    WC_DT_I64 = 14,
    WC_DT_U64 = 15,
    WC_DT_COUNT
};

#define WC_MAX_PLANES 8

int wc_dtype_from_name(const char *name); /* -1 if unknown */
const char *wc_dtype_name(int dt);
unsigned wc_dtype_size(int dt); /* bytes per element; 1 for NONE */

/* Codec parameters of one segment. */
typedef struct {
    uint8_t codec;   /* enum wc_codec */
    uint8_t dtype;   /* enum wc_dtype */
    uint8_t nplanes; /* PLANES, JOINT: == wc_dtype_size(dtype) */
    uint8_t jbase;   /* JOINT: exponent of symbol 0 and 1 */
    uint8_t mode[WC_MAX_PLANES];
    uint8_t cval[WC_MAX_PLANES];             /* CONST value */
    uint16_t freq[WC_MAX_PLANES][256];        /* RANS table */
    rans_dtab *dtab[WC_MAX_PLANES];           /* built on load, RANS only */
} wc_segcodec;
/* JOINT uses plane 0 (mode RANS, freq[0], dtab[0]) for the symbols; plane 1
 * is the packed 7-bit remainder (mode RAW). */

/* Serialised size and (de)serialisation of the PLANES and JOINT parameters; other
 * codecs have none. parse validates every field and builds the decode
 * tables. Returns 0 or -1. */
size_t wc_segcodec_params_size(const wc_segcodec *c);
void wc_segcodec_params_write(const wc_segcodec *c, uint8_t *dst);
int wc_segcodec_params_parse(wc_segcodec *c, const uint8_t *p, size_t len);
void wc_segcodec_free(wc_segcodec *c);

/* Split n elements of dtype into planes: plane k gets n bytes at
 * planes + k * n. */
void wc_planes_split(int dtype, const uint8_t *src, size_t n, uint8_t *planes);

/* Histogram accumulation for choosing plane modes over a whole segment.
 * joint: BF16 only, exponent << 1 | top mantissa bit. */
typedef struct {
    uint64_t count[WC_MAX_PLANES][256];
    uint64_t joint[512];
    uint64_t n;
} wc_planestats;
void wc_planestats_add(wc_planestats *st, int dtype, const uint8_t *src,
                       size_t bytes, uint8_t *scratch);
void wc_planestats_merge(wc_planestats *dst, const wc_planestats *src);

/* Choose the codec (PLANES, or JOINT for BF16 where it is smaller), plane
 * modes and tables from the statistics. chunk_elems lets the choice charge
 * rANS its per-chunk state overhead. */
void wc_segcodec_choose(wc_segcodec *c, int dtype, const wc_planestats *st,
                        size_t chunk_elems);

/* Estimated coded bytes of a segment with these statistics (payloads and
 * tables, not index records). */
double wc_segcodec_estimate(int dtype, const wc_planestats *st,
                            size_t chunk_elems);

/* Worst-case encoded size of a chunk of `bytes` bytes (scratch sizing). */
size_t wc_chunk_bound(size_t bytes);

#define WC_ENCODE_FAIL ((size_t)-1)

/* Encode one chunk. scratch must hold `bytes` bytes (the planes).
 * Returns the payload size (0 is valid: all planes constant), or
 * WC_ENCODE_FAIL. The caller stores the chunk raw when the result is not
 * smaller than bytes. */
size_t wc_chunk_encode(const wc_segcodec *c, const rans_etab *et,
                       const uint8_t *src, size_t bytes, uint8_t *dst,
                       size_t cap, uint8_t *scratch, int zstd_level);

/* Decode one chunk payload into dst (exactly `bytes` bytes). scratch must
 * hold `bytes` bytes (the planes: element size x elements). Returns 0, or
 * -1 if the payload is corrupt. Never reads outside [src, src+len) nor
 * writes past dst+bytes. */
int wc_chunk_decode(const wc_segcodec *c, const uint8_t *src, size_t len,
                    uint8_t *dst, size_t bytes, uint8_t *scratch);

/* Decode two chunks (a, then b) with the same results as two
 * wc_chunk_decode calls, interleaving their rANS blocks where both are one
 * rANS job (rans_decode_pair: a single block leaves the core waiting on its
 * table lookups). scratch must hold ba + bb bytes. Returns 0, or bit 0 set
 * if a is corrupt and bit 1 if b is. */
int wc_chunk_decode_pair(const wc_segcodec *ca, const uint8_t *sa, size_t la,
                         uint8_t *da, size_t ba, const wc_segcodec *cb,
                         const uint8_t *sb, size_t lb, uint8_t *db, size_t bb,
                         uint8_t *scratch);

#endif
