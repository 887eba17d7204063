/* rans.h - 32-way interleaved static rANS over bytes (order 0).
 *
 * What to know first:
 *  - Probabilities are quantised to RANS_PROB_BITS (12) bits: a table is 256
 *    frequencies summing to 4096, every symbol present in the data >= 1.
 *    A table with one symbol of frequency 4096 is not valid here: such a
 *    plane is stored as a constant by the caller, never rANS-coded.
 *  - State x is 32 bits, kept in [2^16, 2^32); renormalisation moves 16-bit
 *    words, at most one per symbol, so a decoder reads one word or none.
 *  - RANS_LANES (32) states are interleaved: element i belongs to lane
 *    i % 32. All lanes share one word stream; within a group of 32 elements
 *    the lanes that need a word read it in lane order. This is exactly what
 *    a GPU warp does with ballot + popc, so one chunk decodes on one warp.
 *  - Encoded block: 32 final states (u32 LE), then the u16 LE words.
 *
 * The decoder never trusts its input: every word read is bounded by the end
 * of the block, and a block that runs out or leaves states off their start
 * value is reported as corrupt.
 */
#ifndef WC_RANS_H
#define WC_RANS_H

#include <stddef.h>
#include <stdint.h>

#define RANS_PROB_BITS 12
#define RANS_PROB_SCALE (1u << RANS_PROB_BITS)
#define RANS_LANES 32
#define RANS_L (1u << 16)
#define RANS_HEADER_BYTES (RANS_LANES * 4)

/* Decode table: one 32-bit entry per slot of the 4096 probability slots:
 * sym | freq << 8 | (slot - start) << 20. */
typedef struct {
    uint32_t slot[RANS_PROB_SCALE];
} rans_dtab;

/* Encoder symbol: frequency and cumulative start. */
typedef struct {
    uint16_t freq[256];
    uint16_t start[256];
} rans_etab;

/* Quantise counts[256] (sum > 0, at least two distinct symbols) to freq[256]
 * summing to RANS_PROB_SCALE, each present symbol >= 1. */
void rans_normalize(const uint64_t counts[256], uint16_t freq[256]);

/* Check freq sums to RANS_PROB_SCALE with no entry of RANS_PROB_SCALE.
 * Returns 0 if valid, -1 otherwise. */
int rans_freq_valid(const uint16_t freq[256]);

void rans_etab_init(rans_etab *t, const uint16_t freq[256]);
void rans_dtab_init(rans_dtab *t, const uint16_t freq[256]);

/* Bound on the encoded size of n symbols (worst case, for buffer sizing). */
size_t rans_bound(size_t n);

/* Encode n bytes. Returns the encoded size (<= rans_bound(n)), or 0 if
 * cap is too small. Every symbol of src must have freq > 0. */
size_t rans_encode(const rans_etab *t, const uint8_t *src, size_t n,
                   uint8_t *dst, size_t cap);

/* Decode n bytes from [src, src+len) into dst. Returns 0 on success, -1 if
 * the block is corrupt (too short, words left over, or a lane that does
 * not end on its start state). */
int rans_decode(const rans_dtab *t, const uint8_t *src, size_t len,
                uint8_t *dst, size_t n);

/* Fast path for 16-bit elements whose plane 0 is rANS-coded and plane 1
 * raw: decode plane 0 of n elements and merge it with plane1 into
 * little-endian 16-bit elements at dst (2n bytes) in one pass. tmp: n bytes
 * of scratch. Same result as rans_decode + rans_merge16. */
enum rans_merge {
    RANS_MERGE_BF16 = 1,  /* (p1 & 0x80) << 8 | p0 << 7 | (p1 & 0x7f) */
    RANS_MERGE_HI_LO = 2, /* p0 << 8 | p1 */
    RANS_MERGE_JOINT = 3, /* rans_decode_joint only */
};
int rans_decode_merge16(const rans_dtab *t, const uint8_t *src, size_t len,
                        const uint8_t *plane1, uint8_t *dst, size_t n,
                        uint8_t *tmp, enum rans_merge how);
void rans_merge16(const uint8_t *p0, const uint8_t *p1, size_t n, uint8_t *dst,
                  enum rans_merge how);

/* The JOINT bf16 layout (codec.h): symbol s = (exponent - base) << 1 | m6,
 * and the 7 other bits r = sign << 6 | m[5:0], packed little-endian: value
 * i is bits 7i..7i+6 of the byte string (8 values in 7 bytes). The
 * element is
 *   (r & 0x40) << 9 | ((s << 6) + (base << 7)) | (r & 0x3f). */
static inline size_t rans_raw7_size(size_t n)
{
    return (7 * n + 7) / 8;
}
/* Pack n values (< 128) into rans_raw7_size(n) bytes. */
void rans_raw7_pack(const uint8_t *r, size_t n, uint8_t *dst);
/* Decode n JOINT elements: symbols from the rANS block [src, src+len), the
 * packed bits from raw7 (rans_raw7_size(n) bytes), into dst (2n bytes).
 * tmp: n bytes of scratch. Every symbol in the table must satisfy
 * (s >> 1) + base <= 255 (checked when the table is loaded). */
int rans_decode_joint(const rans_dtab *t, const uint8_t *src, size_t len,
                      const uint8_t *raw7, unsigned base, uint8_t *dst,
                      size_t n, uint8_t *tmp);
/* The merge alone: n symbols and their packed bits -> dst. raw7 holds the
 * packed bits of these n elements, from its first byte. */
void rans_merge_joint(const uint8_t *sym, const uint8_t *raw7, size_t n,
                      unsigned base, uint8_t *dst);

/* ---- two blocks at once -----------------------------------------------------
 * One decode as the calls above take it: how 0 is rans_decode (side
 * unused), RANS_MERGE_BF16 or RANS_MERGE_HI_LO rans_decode_merge16 (side is
 * plane 1), RANS_MERGE_JOINT rans_decode_joint (side is the packed bits,
 * base its base). */
typedef struct {
    const rans_dtab *t;
    const uint8_t *src;
    size_t len;
    const uint8_t *side;
    uint8_t *dst;
    size_t n;
    uint8_t *tmp;
    int how; /* 0 or enum rans_merge */
    unsigned base;
} rans_job;
/* Run one job. 0 or -1, as the call it stands for. */
int rans_decode_job(const rans_job *j);
/* Run two independent jobs (two chunks), interleaved where the path can: a
 * single block's loop mostly waits on its own table gathers, and a second
 * block's work fills that time. Same bytes and verdicts as two
 * rans_decode_job calls. Returns 0, or bit 0 set if a is corrupt and bit 1
 * if b is. */
int rans_decode_pair(const rans_job *a, const rans_job *b);

/* ---- decoder paths --------------------------------------------------------
 * Every decode call above runs on one of these, chosen once at the first
 * call from cpuid: the widest the CPU has. WCODEC_SIMD=scalar|avx2|avx512
 * asks for one (a path the CPU lacks falls back to the best below it);
 * WCODEC_NO_SIMD=1 means scalar. All paths give the same bytes and reject
 * the same blocks; the scalar one is the oracle the tests compare with. */
enum rans_simd {
    RANS_SIMD_SCALAR = 0,
    RANS_SIMD_AVX2 = 1,   /* AVX2: 4 x 8 states, scalar table loads */
    RANS_SIMD_AVX512 = 2, /* AVX-512 F/BW/VL/VBMI: 2 x 16 states, gathers */
    RANS_SIMD_COUNT
};
const char *rans_simd_name(int level);        /* "scalar", "avx2", "avx512" */
int rans_simd_from_name(const char *name);    /* -1 if none */
int rans_simd_supported(int level);           /* this build on this CPU */
int rans_simd_active(void);                   /* the path in use */
/* Use this path from now on (tests, benchmarks; not while other threads
 * decode). Returns 0, or -1 if the CPU or build lacks it. */
int rans_simd_select(int level);

#endif
