/* kcore.h - the GPU decode kernels' bodies (C++).
 *
 * Included by kernels.cu (nvcc: real CUDA intrinsics, kprim.h) and by
 * tests/cuda/emu.cc (g++: a CPU warp emulator that runs every lane as a thread and checks every
 * global and shared memory access against the job's bounds). Everything a
 * kernel touches goes through the small wc_* primitive layer below, so the
 * same source is what runs on the GPU and what the emulator test executes.
 *
 * Work mapping (see wc_gpu.h): one warp per chunk. For a PLANES chunk the
 * 32 interleaved rANS states of each RANS plane live in the 32 lanes (lane
 * l decodes elements l, l+32, l+64, ...); every RANS plane of the chunk
 * advances in lock step (independent dependency chains, so more ILP); the
 * lanes that need a renormalisation word find it with
 * __ballot_sync + __popc(ballot & lanemask_lt), exactly the word order of
 * the CPU decoder (src/rans.c). Decode tables (4096 u32 per RANS plane) are
 * in shared memory, shared by the block's warps (all jobs of a block come
 * from one segment). Each RANS plane's word stream is staged through a
 * 2 KiB shared-memory ring per warp, refilled 512 bytes at a time with
 * 16-byte loads issued one refill ahead (software pipelining), so the
 * serial state chain only ever waits on shared memory. RAW planes are read
 * from the payload, CONST planes are constants, and the element is merged
 * in registers exactly like wc_planes_merge (src/codec.c) and stored: 32
 * consecutive elements per warp store.
 */
#ifndef WC_KCORE_H
#define WC_KCORE_H

#include <stdint.h>

#include "wc_gpu.h"

/* Mirrors of src/codec.h / src/rans.h values (checked in emu.cc). */
#define WC_K_RAW 0
#define WC_K_CONST 1
#define WC_K_RANS 2
#define WC_K_DT_BF16 9
#define WC_K_DT_F32 12
#define WC_K_DT_F64 13
#define WC_K_RANS_L (1u << 16)
#define WC_K_PROB_BITS 12

/* ---- primitive layer ------------------------------------------------------ */
/* The includer provides the wc_* primitives first: kprim.h (real CUDA, for
 * kernels.cu) or the test emulator's emu.h (tests/cuda/), which gives the
 * same names on the CPU with bounds checks. The core never names either,
 * so the emulator depends on the core and not the other way round. */
#ifndef WC_KPRIM
#error "include a primitive layer (kprim.h or the emulator) before kcore.h"
#endif

WC_KCONST uint8_t wc_ksecret[192] = {
    /* XXH3_kSecret (xxhash.h) */
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c,
    0xf7, 0x21, 0xad, 0x1c, 0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb,
    0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f, 0xcb, 0x79, 0xe6, 0x4e,
    0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6,
    0x81, 0x3a, 0x26, 0x4c, 0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb,
    0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3, 0x71, 0x64, 0x48, 0x97,
    0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7,
    0xc7, 0x0b, 0x4f, 0x1d, 0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31,
    0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64, 0xea, 0xc5, 0xac, 0x83,
    0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26,
    0x29, 0xd4, 0x68, 0x9e, 0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc,
    0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce, 0x45, 0xcb, 0x3a, 0x8f,
    0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

/* ---- merge: planes -> element (wc_planes_merge in src/codec.c) ------------
 * P holds plane k's byte in bits 8k..8k+7 (32-bit for elements up to 4
 * bytes). FL: the dtype's float transform (BF16, F32, F64), else bytes most
 * significant first; WC_M_JOINT: the JOINT element (src/rans.h). */
template <int ES>
struct wc_pw {
    typedef uint32_t T;
};
template <>
struct wc_pw<8> {
    typedef uint64_t T;
};

#define WC_M_JOINT 2 /* FL value of a JOINT segment (bf16) */

template <int ES, int FL>
WC_D typename wc_pw<ES>::T wc_merge(typename wc_pw<ES>::T P)
{
    if (ES == 1)
        return P & 0xff;
    if (ES == 2) {
        const uint32_t b0 = (uint32_t)P & 0xff, b1 = (uint32_t)(P >> 8) & 0xff;
        if (FL == WC_M_JOINT) { /* symbol, 7 bits, base (from cmask) */
            const uint32_t base = (uint32_t)(P >> 16) & 0xff;
            return ((b1 & 0x40) << 9 | ((b0 << 6) + (base << 7)) | (b1 & 0x3f)) &
                   0xffff;
        }
        if (FL) /* BF16: [exponent, sign<<7 | mantissa] */
            return (b1 & 0x80) << 8 | b0 << 7 | (b1 & 0x7f);
        return b0 << 8 | b1;
    }
    if (ES == 4) {
        const uint32_t b0 = (uint32_t)P & 0xff, b1 = (uint32_t)(P >> 8) & 0xff,
                       b2 = (uint32_t)(P >> 16) & 0xff,
                       b3 = (uint32_t)(P >> 24) & 0xff;
        if (FL) /* F32: [exp, sign<<7|m[22:16], m[15:8], m[7:0]] */
            return (b1 & 0x80) << 24 | b0 << 23 | (b1 & 0x7f) << 16 | b2 << 8 | b3;
        return b0 << 24 | b1 << 16 | b2 << 8 | b3;
    }
    /* ES == 8: bytes most significant first; F64 planes are of rotl(x, 1) */
    const uint64_t y = wc_bswap64((uint64_t)P);
    if (FL)
        return (typename wc_pw<ES>::T)(y >> 1 | y << 63);
    return (typename wc_pw<ES>::T)y;
}

template <int ES, bool AL>
WC_D void wc_store(uint8_t *p, typename wc_pw<ES>::T v)
{
    if (AL) {
        if (ES == 1)
            wc_st8(p, (uint32_t)v);
        else if (ES == 2)
            wc_st16(p, (uint32_t)v);
        else if (ES == 4)
            wc_st32(p, (uint32_t)v);
        else
            wc_st64(p, (uint64_t)v);
    } else {
        WC_UNROLL
        for (int b = 0; b < ES; b++)
            wc_st8(p + b, (uint32_t)(v >> (8 * b)));
    }
}

WC_D uint32_t wc_ld32le(const uint8_t *p)
{
    return wc_ld8(p) | wc_ld8(p + 1) << 8 | wc_ld8(p + 2) << 16 |
           wc_ld8(p + 3) << 24;
}

/* Per-warp decoding state of a chunk's RANS planes. Positions are relative
 * to sb (the 16-byte aligned address at or below the stream start); a
 * stream position r lives at ring[r % WC_G_RING]. */
template <int NR>
struct wc_rstate {
    enum { RA = NR > 0 ? NR : 1 };
    const uint8_t *sb[RA];
    uint8_t *ring[RA];
    uint32_t ep[RA];   /* stream end */
    uint32_t cons[RA]; /* next word */
    uint32_t fill[RA]; /* ring holds [fill - WC_G_RING, fill) */
    uint32_t x[RA];    /* this lane's state */
    uint32_t rsh[RA];  /* 8 * plane index */
    bool odd[RA];      /* stream starts at an odd offset: unaligned words */
    wc_v4 pend[RA];    /* next refill unit, loaded one refill ahead */
};

/* The planes that are not RANS (ES - NR of them): RAW ones are read from
 * the payload (bit o of bits set), CONST ones are in the constant mask. */
template <int ES, int NR>
struct wc_rawp {
    enum { NO = ES - NR > 0 ? ES - NR : 1 };
    const uint8_t *p[NO];
    uint32_t sh[NO];
    uint32_t bits;
};

/* Refill each ring whose oldest unit is consumed. Called at most every two
 * groups (<= 128 bytes of words): after it, fill - cons > WC_G_RING -
 * WC_G_RUNIT = 1536 >= 128, so the words of the next two groups are in the
 * ring, and a refill never overwrites a word not yet consumed. Uniform. */
template <int NR>
WC_D void wc_refill(wc_rstate<NR> &R, uint32_t lane16)
{
    WC_UNROLL
    for (int q = 0; q < NR; q++) {
        if (R.fill[q] + WC_G_RUNIT - R.cons[q] <= WC_G_RING) {
            wc_syncwarp();
            wc_sst16(R.ring[q] + ((R.fill[q] + lane16) & (WC_G_RING - 1)), R.pend[q]);
            wc_syncwarp();
            R.fill[q] += WC_G_RUNIT;
            const uint32_t rel = R.fill[q] + lane16;
            R.pend[q] = rel < R.ep[q] ? wc_ld16(R.sb[q] + rel) : wc_v4zero();
        }
    }
}

/* JOINT: value i of the packed 7-bit string (wcodec(5)). The second byte
 * is read only when the value reaches into it, so reads stay inside the
 * string. */
WC_D uint32_t wc_ld7(const uint8_t *p, uint32_t i)
{
    const uint32_t bit = 7u * i, sh = bit & 7u;
    uint32_t v = wc_ld8(p + (bit >> 3));
    if (sh > 1)
        v |= wc_ld8(p + (bit >> 3) + 1) << 8;
    return v >> sh & 0x7fu;
}

/* One group of 32 elements: element i of this lane (FULL: all 32 lanes
 * have one). Lanes that need a word take them in lane order from cons:
 * lane's word is at cons + 2 * popc(ballot & lanemask_lt). If the group's
 * words run past the stream end the chunk is bad (warp-uniform test; the
 * ring reads stay in the ring, their values are then never used). */
template <int ES, int NR, int FL, bool AL, bool ODD, bool FULL>
WC_D void wc_step(wc_rstate<NR> &R, const wc_rawp<ES, NR> &W,
                  typename wc_pw<ES>::T cmask, const uint8_t *smem, uint8_t *out,
                  uint32_t i, bool act, uint32_t lt, int &bad)
{
    typedef typename wc_pw<ES>::T PT;
    PT P = cmask;
    WC_UNROLL
    for (int q = 0; q < NR; q++) {
        const uint32_t *tab = (const uint32_t *)(smem + q * WC_G_TAB_BYTES);
        uint32_t xx = R.x[q], sym = 0;
        int need = 0;
        if (FULL || act) {
            const uint32_t e = wc_sld32(tab + (xx & ((1u << WC_K_PROB_BITS) - 1)));
            sym = e & 0xff;
            xx = ((e >> 8) & 0xfff) * (xx >> WC_K_PROB_BITS) + (e >> 20);
            need = xx < WC_K_RANS_L;
        }
        const uint32_t b = wc_ballot(need);
        const uint32_t tot = 2u * (uint32_t)wc_popc(b);
        if (R.cons[q] + tot > R.ep[q])
            bad = 1;
        if (need) {
            const uint32_t p = R.cons[q] + 2u * (uint32_t)wc_popc(b & lt);
            const uint8_t *ring = R.ring[q];
            uint32_t w;
            if (!ODD || !R.odd[q]) /* p even: one aligned 16-bit load */
                w = wc_sld16(ring + (p & (WC_G_RING - 1)));
            else
                w = wc_sld8(ring + (p & (WC_G_RING - 1))) |
                    wc_sld8(ring + ((p + 1) & (WC_G_RING - 1))) << 8;
            xx = xx << 16 | w;
        }
        R.x[q] = xx;
        R.cons[q] += tot;
        P |= (PT)sym << R.rsh[q];
    }
    if (FULL || act) {
        WC_UNROLL
        for (int o = 0; o < ES - NR; o++)
            if (W.bits >> o & 1)
                P |= (PT)(FL == WC_M_JOINT ? wc_ld7(W.p[o], i)
                                           : wc_ld8(W.p[o] + i))
                     << W.sh[o];
        wc_store<ES, AL>(out, wc_merge<ES, FL>(P));
    }
}

/* The element loop of a PLANES chunk, specialised per chunk on the merge
 * (FL), the output alignment (AL) and whether any stream is at an odd
 * offset (ODD). Full groups two at a time, then the partial last group.
 * Returns this lane's bad flag. */
template <int ES, int NR, int FL, bool AL, bool ODD>
WC_D int wc_planes_loop(wc_rstate<NR> &R, const wc_rawp<ES, NR> &W,
                        typename wc_pw<ES>::T cmask, const uint8_t *smem,
                        uint8_t *dst, uint32_t n, uint32_t lane, uint32_t lt)
{
    const uint32_t lane16 = lane * 16u, nfull = n / 32;
    int bad = 0;
    uint8_t *out = dst + (uint64_t)lane * ES;
    uint32_t i = lane, g = 0;
    for (; g + 2 <= nfull; g += 2, i += 64, out += 64 * ES) {
        wc_refill<NR>(R, lane16);
        wc_step<ES, NR, FL, AL, ODD, true>(R, W, cmask, smem, out, i, true, lt, bad);
        wc_step<ES, NR, FL, AL, ODD, true>(R, W, cmask, smem, out + 32 * ES, i + 32,
                                           true, lt, bad);
    }
    if (g < nfull) {
        wc_refill<NR>(R, lane16);
        wc_step<ES, NR, FL, AL, ODD, true>(R, W, cmask, smem, out, i, true, lt, bad);
        g++;
        i += 32;
        out += 32 * ES;
    }
    if (n % 32) {
        wc_refill<NR>(R, lane16);
        wc_step<ES, NR, FL, AL, ODD, false>(R, W, cmask, smem, out, i, i < n, lt, bad);
    }
    return bad;
}

template <int ES, int NR, int FL, bool AL>
WC_D int wc_planes_loop_odd(wc_rstate<NR> &R, const wc_rawp<ES, NR> &W,
                            typename wc_pw<ES>::T cmask, const uint8_t *smem,
                            uint8_t *dst, uint32_t n, uint32_t lane, uint32_t lt,
                            bool anyodd)
{
    /* Specialised for streams at even offsets only where it matters (the
     * common 1-2 RANS plane classes): fewer instances to compile. */
    if (anyodd || NR > 2)
        return wc_planes_loop<ES, NR, FL, AL, true>(R, W, cmask, smem, dst, n, lane, lt);
    return wc_planes_loop<ES, NR, FL, AL, false>(R, W, cmask, smem, dst, n, lane, lt);
}

/* ---- PLANES: one warp per chunk, ES-byte elements, NR RANS planes ---------
 * bidx: block descriptor index. err[job] is set nonzero when the chunk does
 * not decode (bad structure, a word read past the plane's stream, words
 * left over, a lane not ending on RANS_L); the host then decodes it on the
 * CPU. */
template <int ES, int NR>
WC_D void wc_planes_body(const uint8_t *in, const wc_gjob *jobs,
                         const wc_gblock *blocks, uint32_t bidx,
                         uint32_t *err, uint8_t *smem)
{
    typedef typename wc_pw<ES>::T PT;
    const wc_gblock *B = &blocks[bidx];
    const unsigned lane = wc_lane(), warp = wc_warp();
    const unsigned RA = NR > 0 ? NR : 1; /* array extent */

    /* Decode tables of the segment's RANS planes -> shared memory. */
    if (NR > 0) {
        const unsigned per = WC_G_TAB_BYTES / 16, nv = NR * per;
        for (unsigned q = wc_tid(); q < nv; q += wc_nthreads()) {
            const uint8_t *t = (const uint8_t *)(uintptr_t)B->tab[q / per];
            wc_sst16(smem + 16u * q, wc_ldt16(t + 16u * (q % per)));
        }
        wc_syncthreads();
    }
    if (warp >= B->njobs)
        return; /* no further block-wide barrier below */

    const uint32_t jid = B->job0 + warp;
    const wc_gjob J = jobs[jid];
    const uint8_t *src = in + J.src;
    const uint32_t len = J.csize;
    uint8_t *dst = (uint8_t *)(uintptr_t)J.dst;
    WC_EMU_JOB(src, (len + 15u) & ~15u, dst, J.dlen);
    const unsigned dtype = B->dtype;
    const uint32_t n = J.dlen / ES;

    /* Chunk layout (wc_chunk_decode): u32 size per RANS plane, then each
     * non-CONST plane's bytes in plane order. Warp-uniform. */
    /* JOINT: the RAW plane is the packed 7 bits, ceil(7n / 8) bytes */
    const bool joint = ES == 2 && NR == 1 && B->joint;
    const uint32_t rawlen = joint ? (uint32_t)(((uint64_t)7 * n + 7) / 8) : n;
    int bad = (J.dlen % ES) != 0 || B->nplanes != ES || B->nrans != NR ||
              len < 4u * NR || (B->joint && (!joint || dtype != WC_K_DT_BF16));
    uint32_t pos = 4u * NR;
    uint32_t roff[RA], rlen[RA];
    wc_rstate<NR> R;
    wc_rawp<ES, NR> W;
    PT cmask = 0;
    unsigned j = 0, o = 0; /* RANS planes, other planes seen */
    W.bits = 0;
    WC_UNROLL
    for (int q = 0; q < (int)RA; q++)
        roff[q] = rlen[q] = R.rsh[q] = 0;
    WC_UNROLL
    for (int q = 0; q < (int)W.NO; q++) {
        W.p[q] = src;
        W.sh[q] = 0;
    }
    WC_UNROLL
    for (int k = 0; k < ES; k++) {
        if (bad)
            continue;
        const unsigned m = B->mode[k];
        if (m == WC_K_CONST && o < ES - NR) {
            cmask |= (PT)B->cval[k] << (8 * k);
            o++;
        } else if (m == WC_K_RAW && o < ES - NR) {
            if (len - pos < rawlen) {
                bad = 1;
            } else {
                WC_UNROLL
                for (int q = 0; q < (int)W.NO; q++)
                    if ((unsigned)q == o) {
                        W.p[q] = src + pos;
                        W.sh[q] = 8u * k;
                    }
                W.bits |= 1u << o;
                pos += rawlen;
            }
            o++;
        } else if (m == WC_K_RANS && j < NR) {
            const uint32_t r = wc_ld32le(src + 4u * j);
            if (len - pos < r || r < 4u * 32 || ((r - 4u * 32) & 1)) {
                bad = 1;
            } else {
                WC_UNROLL
                for (int q = 0; q < (int)RA; q++)
                    if ((unsigned)q == j) {
                        roff[q] = pos;
                        rlen[q] = r;
                        R.rsh[q] = 8u * k;
                    }
                pos += r;
            }
            j++;
        } else {
            bad = 1;
        }
    }
    if (j != NR || pos != len)
        bad = 1;
    /* JOINT: the unused high bits of the last packed byte are 0 (as the
     * CPU decoder requires) */
    if (!bad && joint && (n & 7) && W.bits)
        bad = (wc_ld8(W.p[0] + rawlen - 1) >> (7u * n & 7u)) != 0;
    if (bad) {
        if (lane == 0)
            err[jid] = 1;
        return;
    }

    /* Word-stream rings. A lane loads a 16-byte granule only if it starts
     * before the stream end: reads stay inside the job's 16-byte rounded
     * slot, and bytes past the stream end are never used (a word read past
     * it marks the chunk bad). */
    uint8_t *ringbase = smem + NR * WC_G_TAB_BYTES + (uint64_t)warp * NR * WC_G_RING;
    WC_UNROLL
    for (int q = 0; q < NR; q++) {
        const uint8_t *s = src + roff[q];
        R.sb[q] = (const uint8_t *)((uintptr_t)s & ~(uintptr_t)15);
        const uint32_t sp = (uint32_t)(s - R.sb[q]);
        R.ep[q] = sp + rlen[q];
        R.odd[q] = sp & 1;
        WC_EMU_NOTE_ODD(R.odd[q]);
        uint8_t *ring = R.ring[q] = ringbase + q * WC_G_RING;
        for (uint32_t u = 0; u < WC_G_RING; u += WC_G_RUNIT) {
            const uint32_t rel = u + lane * 16u;
            wc_sst16(ring + rel, rel < R.ep[q] ? wc_ld16(R.sb[q] + rel) : wc_v4zero());
        }
        R.fill[q] = WC_G_RING;
        const uint32_t rel = R.fill[q] + lane * 16u;
        R.pend[q] = rel < R.ep[q] ? wc_ld16(R.sb[q] + rel) : wc_v4zero();
        R.cons[q] = sp + 4u * 32;
    }
    wc_syncwarp();
    WC_UNROLL
    for (int q = 0; q < NR; q++) {
        const uint8_t *ring = R.ring[q];
        const uint32_t o = R.cons[q] - 4u * 32 + 4u * lane; /* < 16 + 128 */
        R.x[q] = wc_sld8(ring + o) | wc_sld8(ring + o + 1) << 8 |
                 wc_sld8(ring + o + 2) << 16 | wc_sld8(ring + o + 3) << 24;
        if (R.x[q] < WC_K_RANS_L)
            bad = 1;
    }

    /* One loop per (merge, alignment, odd streams): no per-element tests
     * for them. */
    const uint32_t lt = (1u << lane) - 1u;
    bool anyodd = false;
    WC_UNROLL
    for (int q = 0; q < NR; q++)
        anyodd = anyodd || R.odd[q];
    if (joint) {
        /* joint is only ever true in the (2, 1) instance; the others do not
         * instantiate this loop */
        if constexpr (ES == 2 && NR == 1) {
            cmask |= (PT)B->jbase << 16; /* wc_merge<2, WC_M_JOINT> */
            if (((uintptr_t)dst & 1) == 0)
                bad |= wc_planes_loop_odd<2, 1, WC_M_JOINT, true>(
                    R, W, cmask, smem, dst, n, lane, lt, anyodd);
            else
                bad |= wc_planes_loop_odd<2, 1, WC_M_JOINT, false>(
                    R, W, cmask, smem, dst, n, lane, lt, anyodd);
        }
    } else if (ES == 1) { /* one byte: no transform, always aligned */
        bad |= wc_planes_loop_odd<ES, NR, false, true>(R, W, cmask, smem, dst, n,
                                                       lane, lt, anyodd);
    } else {
        const bool fl = ES == 2 ? dtype == WC_K_DT_BF16
                      : ES == 4 ? dtype == WC_K_DT_F32 : dtype == WC_K_DT_F64;
        const bool al = ((uintptr_t)dst & (ES - 1)) == 0;
        if (fl && al)
            bad |= wc_planes_loop_odd<ES, NR, true, true>(R, W, cmask, smem, dst, n,
                                                          lane, lt, anyodd);
        else if (fl)
            bad |= wc_planes_loop_odd<ES, NR, true, false>(R, W, cmask, smem, dst, n,
                                                           lane, lt, anyodd);
        else if (al)
            bad |= wc_planes_loop_odd<ES, NR, false, true>(R, W, cmask, smem, dst, n,
                                                           lane, lt, anyodd);
        else
            bad |= wc_planes_loop_odd<ES, NR, false, false>(R, W, cmask, smem, dst, n,
                                                            lane, lt, anyodd);
    }

    WC_UNROLL
    for (int q = 0; q < NR; q++)
        if (R.cons[q] != R.ep[q] || R.x[q] != WC_K_RANS_L)
            bad = 1;
    const int anybad = wc_any(bad);
    if (anybad && lane == 0)
        err[jid] = 2;
}

/* ---- COPY: one warp per job (chunks stored raw, host-decoded chunks) ------ */
WC_D void wc_copy_body(const uint8_t *in, const wc_gjob *jobs, uint32_t job0,
                       uint32_t njobs, uint32_t *err, uint32_t gwarp)
{
    if (gwarp >= njobs)
        return;
    const uint32_t jid = job0 + gwarp;
    const wc_gjob J = jobs[jid];
    const uint8_t *src = in + J.src; /* 16-byte aligned */
    uint8_t *dst = (uint8_t *)(uintptr_t)J.dst;
    const unsigned lane = wc_lane();
    WC_EMU_JOB(src, (J.csize + 15u) & ~15u, dst, J.dlen);
    if (J.csize != J.dlen) {
        if (lane == 0)
            err[jid] = 1;
        return;
    }
    const uint32_t len = J.dlen;
    uint32_t done = 0;
    if (((uintptr_t)dst & 15) == 0) {
        const uint32_t nv = len / 16;
        uint32_t v = lane;
        for (; v + 96 < nv; v += 128) { /* four loads in flight */
            const wc_v4 a = wc_ld16(src + 16u * v), b = wc_ld16(src + 16u * (v + 32)),
                        c = wc_ld16(src + 16u * (v + 64)), d = wc_ld16(src + 16u * (v + 96));
            wc_stv4(dst + 16u * v, a);
            wc_stv4(dst + 16u * (v + 32), b);
            wc_stv4(dst + 16u * (v + 64), c);
            wc_stv4(dst + 16u * (v + 96), d);
        }
        for (; v < nv; v += 32)
            wc_stv4(dst + 16u * v, wc_ld16(src + 16u * v));
        done = nv * 16;
    } else if (((uintptr_t)dst & 3) == 0) {
        const uint32_t nw = len / 4;
        for (uint32_t v = lane; v < nw; v += 32)
            wc_st32(dst + 4u * v, wc_ld32(src + 4u * v));
        done = nw * 4;
    }
    for (uint32_t b = done + lane; b < len; b += 32)
        wc_st8(dst + b, wc_ld8(src + b));
}

/* ---- XXH3-64 (seed 0, default secret), bit-exact with xxhash 0.8 ---------- */
#define WC_P32_1 0x9E3779B1u
#define WC_P32_2 0x85EBCA77u
#define WC_P32_3 0xC2B2AE3Du
#define WC_P64_1 0x9E3779B185EBCA87ull
#define WC_P64_2 0xC2B2AE3D27D4EB4Full
#define WC_P64_3 0x165667B19E3779F9ull
#define WC_P64_4 0x85EBCA77C2B2AE63ull
#define WC_P64_5 0x27D4EB2F165667C5ull

WC_D uint64_t wc_sec64(unsigned off)
{
    uint64_t v = 0;
    WC_UNROLL
    for (int b = 7; b >= 0; b--)
        v = v << 8 | wc_ksecret[off + b];
    return v;
}
WC_D uint32_t wc_sec32(unsigned off)
{
    return (uint32_t)wc_ksecret[off] | (uint32_t)wc_ksecret[off + 1] << 8 |
           (uint32_t)wc_ksecret[off + 2] << 16 | (uint32_t)wc_ksecret[off + 3] << 24;
}
WC_D uint64_t wc_h64(const uint8_t *p) /* any alignment, byte loads */
{
    uint64_t v = 0;
    WC_UNROLL
    for (int b = 7; b >= 0; b--)
        v = v << 8 | wc_ldh8(p + b);
    return v;
}
WC_D uint32_t wc_h32(const uint8_t *p)
{
    return wc_ldh8(p) | wc_ldh8(p + 1) << 8 | wc_ldh8(p + 2) << 16 |
           wc_ldh8(p + 3) << 24;
}
/* 8 bytes at any alignment from aligned 8-byte loads: both granules read
 * hold at least one byte of [p, p + 8), so they are inside the buffer. */
WC_D uint64_t wc_h64u(const uint8_t *p)
{
    const unsigned sh = (unsigned)((uintptr_t)p & 7) * 8;
    const uint8_t *a = (const uint8_t *)((uintptr_t)p & ~(uintptr_t)7);
    if (!sh)
        return wc_ldh64(a);
    return wc_ldh64(a) >> sh | wc_ldh64(a + 8) << (64 - sh);
}
WC_D uint64_t wc_rotl64(uint64_t v, int r) { return v << r | v >> (64 - r); }
WC_D uint64_t wc_mulfold(uint64_t a, uint64_t b)
{
    return (a * b) ^ wc_mulhi64(a, b);
}
WC_D uint64_t wc_xxh64_aval(uint64_t h)
{
    h ^= h >> 33;
    h *= WC_P64_2;
    h ^= h >> 29;
    h *= WC_P64_3;
    h ^= h >> 32;
    return h;
}
WC_D uint64_t wc_xxh3_aval(uint64_t h)
{
    h ^= h >> 37;
    h *= 0x165667919E3779F9ull;
    h ^= h >> 32;
    return h;
}
WC_D uint64_t wc_rrmxmx(uint64_t h, uint64_t len)
{
    h ^= wc_rotl64(h, 49) ^ wc_rotl64(h, 24);
    h *= 0x9FB21C651E98DF25ull;
    h ^= (h >> 35) + len;
    h *= 0x9FB21C651E98DF25ull;
    return h ^ (h >> 28);
}
WC_D uint64_t wc_mix16(const uint8_t *p, unsigned soff)
{
    return wc_mulfold(wc_h64(p) ^ wc_sec64(soff), wc_h64(p + 8) ^ wc_sec64(soff + 8));
}

/* len <= 240: one lane, scalar (the tail chunks of segments). */
WC_D uint64_t wc_xxh3_small(const uint8_t *p, uint64_t len)
{
    if (len > 128) {
        uint64_t acc = len * WC_P64_1;
        const int rounds = (int)len / 16;
        for (int i = 0; i < 8; i++)
            acc += wc_mix16(p + 16 * i, 16u * i);
        acc = wc_xxh3_aval(acc);
        for (int i = 8; i < rounds; i++)
            acc += wc_mix16(p + 16 * i, 16u * (i - 8) + 3);
        acc += wc_mix16(p + len - 16, 136 - 17);
        return wc_xxh3_aval(acc);
    }
    if (len > 16) {
        uint64_t acc = len * WC_P64_1;
        if (len > 32) {
            if (len > 64) {
                if (len > 96) {
                    acc += wc_mix16(p + 48, 96);
                    acc += wc_mix16(p + len - 64, 112);
                }
                acc += wc_mix16(p + 32, 64);
                acc += wc_mix16(p + len - 48, 80);
            }
            acc += wc_mix16(p + 16, 32);
            acc += wc_mix16(p + len - 32, 48);
        }
        acc += wc_mix16(p, 0);
        acc += wc_mix16(p + len - 16, 16);
        return wc_xxh3_aval(acc);
    }
    if (len > 8) {
        const uint64_t lo = wc_h64(p) ^ (wc_sec64(24) ^ wc_sec64(32));
        const uint64_t hi = wc_h64(p + len - 8) ^ (wc_sec64(40) ^ wc_sec64(48));
        const uint64_t acc = len + wc_bswap64(lo) + hi + wc_mulfold(lo, hi);
        return wc_xxh3_aval(acc);
    }
    if (len >= 4) {
        const uint32_t in1 = wc_h32(p), in2 = wc_h32(p + len - 4);
        const uint64_t in64 = in2 + ((uint64_t)in1 << 32);
        return wc_rrmxmx(in64 ^ (wc_sec64(8) ^ wc_sec64(16)), len);
    }
    if (len) {
        const uint32_t c1 = wc_ldh8(p), c2 = wc_ldh8(p + (len >> 1)),
                       c3 = wc_ldh8(p + len - 1);
        const uint32_t comb = c1 << 16 | c2 << 24 | c3 | (uint32_t)len << 8;
        return wc_xxh64_aval((uint64_t)comb ^ (uint64_t)(wc_sec32(0) ^ wc_sec32(4)));
    }
    return wc_xxh64_aval(wc_sec64(56) ^ wc_sec64(64));
}

/* len > 240: the whole warp. Lane L keeps accumulator L & 7 (four copies).
 * In a 1 KiB block (16 stripes of 64 bytes), lane L handles stripes
 * (L >> 3) + 4t, t = 0..3, word L & 7: it reads 8-byte word L + 32t of the
 * block (coalesced). Within a block XXH3 only adds to the accumulators, so
 * the per-lane sums are reduced with shuffles before the scramble. */
WC_D uint64_t wc_xxh3_long(const uint8_t *in, uint64_t len)
{
    const unsigned lane = wc_lane(), i = lane & 7;
    const uint64_t init[8] = {WC_P32_3, WC_P64_1, WC_P64_2, WC_P64_3,
                              WC_P64_4, WC_P32_2, WC_P64_5, WC_P32_1};
    uint64_t acc = 0;
    WC_UNROLL
    for (int q = 0; q < 8; q++)
        if ((unsigned)q == i)
            acc = init[q];
    uint64_t sec[4];
    WC_UNROLL
    for (int t = 0; t < 4; t++)
        sec[t] = wc_sec64(8u * ((lane >> 3) + 4u * t + i));
    const uint64_t scr = wc_sec64(128 + 8 * i);
    const uint64_t nb = (len - 1) / 1024;
    for (uint64_t blk = 0; blk <= nb; blk++) {
        const uint8_t *bp = in + blk * 1024;
        /* stripes in this block: 16, or the last partial block's count */
        const unsigned ns = blk < nb ? 16u : (unsigned)(((len - 1) - 1024 * nb) / 64);
        uint64_t self = 0, swp = 0;
        WC_UNROLL
        for (int t = 0; t < 4; t++) {
            const unsigned s = (lane >> 3) + 4u * t;
            if (s < ns) {
                const uint64_t dv = wc_h64u(bp + 8u * (lane + 32u * t));
                const uint64_t dk = dv ^ sec[t];
                swp += dv;
                self += (dk & 0xffffffffu) * (dk >> 32);
            }
        }
        self += wc_shflx64(self, 8);
        self += wc_shflx64(self, 16);
        swp += wc_shflx64(swp, 8);
        swp += wc_shflx64(swp, 16);
        acc += self + wc_shflx64(swp, 1); /* acc[i] += self[i] + swp[i ^ 1] */
        if (blk < nb) {
            acc ^= acc >> 47;
            acc ^= scr;
            acc *= WC_P32_1;
        }
    }
    /* last stripe: input + len - 64 with secret + 192 - 64 - 7 */
    {
        const uint64_t dv = wc_h64u(in + len - 64 + 8 * i);
        const uint64_t dk = dv ^ wc_sec64(121 + 8 * i);
        const uint64_t self = (dk & 0xffffffffu) * (dk >> 32);
        acc += self + wc_shflx64(dv, 1);
    }
    uint64_t r = len * WC_P64_1;
    WC_UNROLL
    for (int q = 0; q < 4; q++) {
        const uint64_t a0 = wc_shfl64(acc, 2 * q), a1 = wc_shfl64(acc, 2 * q + 1);
        r += wc_mulfold(a0 ^ wc_sec64(11 + 16 * q), a1 ^ wc_sec64(11 + 16 * q + 8));
    }
    return wc_xxh3_aval(r);
}

/* ---- HASH: XXH3-64 of each job's decoded bytes, one warp per job --------- */
WC_D void wc_hash_body(const wc_gjob *jobs, uint32_t njobs, uint64_t *out,
                       uint32_t gwarp)
{
    if (gwarp >= njobs)
        return;
    const wc_gjob J = jobs[gwarp];
    const uint8_t *p = (const uint8_t *)(uintptr_t)J.dst;
    WC_EMU_HASHJOB(p, J.dlen);
    uint64_t h;
    if (J.dlen <= 240)
        h = wc_lane() == 0 ? wc_xxh3_small(p, J.dlen) : 0;
    else
        h = wc_xxh3_long(p, J.dlen);
    if (wc_lane() == 0)
        out[gwarp] = h;
}

#endif
