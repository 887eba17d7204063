/* wc_gpu.h - what the host side and the CUDA kernels share (plain C).
 *
 * Work is described to the GPU as jobs and blocks:
 *
 *  - a job is one chunk: where its bytes are in the input buffer (`src`,
 *    an offset, 16-byte aligned; the job may read the whole 16-byte-rounded
 *    slot [src, src + roundup16(csize)) and nothing else), how many payload
 *    bytes there are (`csize`), where its decoded bytes go (`dst`, a device
 *    address, any alignment) and how many (`dlen`);
 *  - a PLANES job is decoded by one warp: the 32 interleaved rANS states of
 *    every RANS plane of the chunk map to the 32 lanes (lane l owns elements
 *    l, l+32, ...), all RANS planes advance in lock step, RAW planes are
 *    read straight from the payload, CONST planes come from the block, and
 *    the planes are merged into elements in registers and stored directly
 *    (32 consecutive elements per warp store: coalesced);
 *  - a block (one CUDA thread block) holds up to wc_gclass_wpb() PLANES
 *    jobs of the same segment, so they share the segment's decode tables
 *    (4096 u32 per RANS plane, 16 KiB) loaded once into shared memory;
 *  - blocks are grouped by class (element size, number of RANS planes):
 *    each class is one launch of its kernel instance, with its own shared
 *    memory size;
 *  - COPY jobs (chunks stored raw, and chunks the host decoded itself, e.g.
 *    zstd) are copied from the input buffer by one warp each;
 *  - the hash kernel computes XXH3-64 of each job's decoded bytes at dst,
 *    one warp per job (the host compares with the chunk table).
 *
 * Kernels bound every payload read by the job's slot and check the chunk's
 * structure like the CPU decoder (src/codec.c, src/rans.c) does; a chunk
 * that does not decode sets err[job] != 0. Its dst bytes are then
 * unspecified and the host decodes it again on the CPU (which reports the
 * corruption if there is one).
 */
#ifndef WC_GPU_H
#define WC_GPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WC_G_TAB_WORDS 4096u                     /* decode table entries */
#define WC_G_TAB_BYTES (WC_G_TAB_WORDS * 4u)     /* 16 KiB per RANS plane */
#define WC_G_RING 2048u   /* word-stream ring per RANS plane per warp (smem) */
#define WC_G_RUNIT 512u   /* ring refill: 32 lanes x 16 bytes */
#define WC_G_SLOT_ALIGN 16u /* input slots (and the buffer base) alignment */
#define WC_G_MAX_PLANES 8

enum { WC_GK_PLANES = 0, WC_GK_COPY = 1 };

/* Classes: 0 = COPY; PLANES classes by (element size, RANS planes). */
#define WC_GCLASSES 20

static inline int wc_gclass(unsigned es, unsigned nr)
{
    /* es 1: classes 1-2, es 2: 3-5, es 4: 6-10, es 8: 11-19 */
    static const signed char base[9] = {-1, 1, 3, -1, 6, -1, -1, -1, 11};
    if (es > 8 || base[es] < 0 || nr > es)
        return -1;
    return base[es] + (int)nr;
}
static inline unsigned wc_gclass_es(int cls)
{
    return cls <= 0 ? 1 : cls <= 2 ? 1 : cls <= 5 ? 2 : cls <= 10 ? 4 : 8;
}
static inline unsigned wc_gclass_nr(int cls)
{
    return cls <= 0 ? 0 : cls <= 2 ? (unsigned)cls - 1 : cls <= 5 ? (unsigned)cls - 3
         : cls <= 10 ? (unsigned)cls - 6 : (unsigned)cls - 11;
}
/* Warps (jobs) per block: more RANS planes need more shared memory. */
static inline unsigned wc_gclass_wpb(int cls)
{
    unsigned nr = wc_gclass_nr(cls);
    return nr <= 2 ? 8 : nr <= 4 ? 4 : 2;
}
/* Dynamic shared memory of a block: tables, then one ring per RANS plane
 * per warp. At most 8 * (16 KiB + 2 * 2 KiB) = 160 KiB (fits sm_80 and
 * sm_90; smaller parts decode such segments on the CPU). */
static inline size_t wc_gclass_smem(int cls)
{
    size_t nr = wc_gclass_nr(cls);
    return nr * (WC_G_TAB_BYTES + (size_t)wc_gclass_wpb(cls) * WC_G_RING);
}

typedef struct {
    uint64_t src;   /* offset in the input buffer (16-byte aligned) */
    uint64_t dst;   /* device address of the decoded bytes */
    uint32_t csize; /* payload bytes (COPY: == dlen) */
    uint32_t dlen;  /* decoded bytes */
} wc_gjob;

typedef struct {
    uint64_t tab[WC_G_MAX_PLANES]; /* device address of the decode table of
                                      the j-th RANS plane (16-byte aligned) */
    uint32_t job0;                 /* first job; jobs job0 .. job0+njobs-1 */
    uint32_t njobs;                /* <= wc_gclass_wpb(class) */
    uint8_t dtype;                 /* enum wc_dtype */
    uint8_t nplanes;               /* element size */
    uint8_t nrans;                 /* RANS planes (== class's) */
    uint8_t joint;                 /* 1: a JOINT segment (bf16; plane 0 the
                                      symbols, plane 1 the packed 7 bits) */
    uint8_t mode[WC_G_MAX_PLANES]; /* enum wc_plane_mode per plane */
    uint8_t cval[WC_G_MAX_PLANES]; /* CONST values */
    uint8_t jbase;                 /* JOINT: base exponent */
    uint8_t pad1[3];
} wc_gblock;

typedef struct {
    int cls;
    uint32_t block0, nblocks; /* PLANES classes */
    uint32_t job0, njobs;     /* all jobs of the class */
} wc_glaunch;

/* ---- planning (cuda/plan.c, plain C, no CUDA needed) --------------------- */

/* One chunk to put on the GPU. The caller fills chunk, dst, kind, csize
 * (PLANES: payload size; COPY: decoded size, the input slot holds the
 * decoded bytes), dlen and seg; wc_plan_build fills src and job. */
typedef struct {
    uint64_t chunk;
    uint64_t dst;
    uint32_t csize;
    uint32_t dlen;
    uint32_t seg;
    uint8_t kind; /* WC_GK_PLANES or WC_GK_COPY */
    uint8_t how;  /* WC_GS_PAYLOAD or WC_GS_DECODE: what wc_plan_stage puts
                     in the slot */
    uint64_t src; /* out: input-buffer offset of this chunk's slot */
    uint32_t job; /* out: job index */
} wc_gitem;

enum {
    WC_GS_PAYLOAD = 0, /* the chunk's payload, read from the container */
    WC_GS_DECODE = 1,  /* decoded (and verified) on the CPU: zstd segments,
                          classes the device cannot run. They are small:
                          headers, runs of small tensors, some integer
                          tensors */
};

typedef struct wcodec wcodec;

/* Device address of the decode table of plane `plane` of segment `seg`
 * (0 on failure). */
typedef uint64_t (*wc_gtabfn)(void *ctx, uint32_t seg, unsigned plane);

typedef struct {
    wc_gjob *jobs;
    wc_gblock *blocks;
    uint32_t njobs, nblocks;
    uint32_t njobs_cap, nblocks_cap;
    wc_glaunch launch[WC_GCLASSES];
    unsigned nlaunch;
    uint64_t in_bytes; /* input buffer bytes used (slots, 16-aligned) */
} wc_gplan;

/* Slot size of a job's input: payload rounded up to 16 bytes. */
static inline uint64_t wc_gslot(uint32_t csize)
{
    return ((uint64_t)csize + WC_G_SLOT_ALIGN - 1) & ~(uint64_t)(WC_G_SLOT_ALIGN - 1);
}

/* Class of a PLANES or JOINT chunk of segment seg (-1 if the GPU cannot
 * decode it: another codec, or bad parameters). JOINT is class (2, 1). */
int wc_plan_class(const wcodec *w, uint32_t seg);

/* Describe chunk k for the GPU, its decoded bytes going to device address
 * dst. supported: bit c set for every class c the device runs. copy_ok: put
 * chunks that are not GPU-decodable PLANES chunks (stored raw, zstd, ...)
 * on the GPU as COPY items (raw: payload; others: decoded on the CPU into
 * the slot); without it they are left to the caller.
 * Returns 1 (*it filled), 0 (decode this chunk on the CPU) or a negative
 * wcodec error. */
int wc_plan_item(const wcodec *w, uint64_t k, uint64_t dst, uint32_t supported,
                 int copy_ok, wc_gitem *it);

/* Fill the input buffer: every item's slot at buf + src (after
 * wc_plan_build). Returns 0 or a negative wcodec error (IO, TRUNCATED;
 * CORRUPT for a WC_GS_DECODE chunk that does not decode). */
int wc_plan_stage(wcodec *w, const wc_gitem *items, size_t n, uint8_t *buf);

/* Build jobs, blocks and launches for items[0..n) (input slots assigned
 * in item order from offset 0). Returns 0, or -1 (out of memory, a table
 * address of 0, or an item the GPU cannot decode). */
int wc_plan_build(wc_gplan *p, const wcodec *w, wc_gitem *items, size_t n,
                  wc_gtabfn tab, void *ctx);
void wc_plan_free(wc_gplan *p);

#ifdef __cplusplus
}
#endif

#endif
