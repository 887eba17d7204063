/* kprim.h - the wc_* primitive layer of kcore.h on a real GPU (nvcc).
 *
 * kcore.h's kernels touch memory and warp collectives only through these
 * names; the test emulator (tests/cuda/emu.h) defines the same names on
 * the CPU with bounds checks. Include this, then kcore.h. */
#ifndef WC_KPRIM_H
#define WC_KPRIM_H

#if !defined(__CUDACC__)
#error "kprim.h is the CUDA primitive layer: compile with nvcc"
#endif

#include <stdint.h>

#define WC_KPRIM 1
#define WC_KCONST __constant__


#define WC_D __device__ __forceinline__
#define WC_UNROLL _Pragma("unroll")
#define WC_FULL 0xffffffffu
typedef uint4 wc_v4;

#define WC_EMU_JOB(src, srclen, dst, dstlen) ((void)0)
#define WC_EMU_NOTE_ODD(odd) ((void)0)
#define WC_EMU_HASHJOB(p, len) ((void)0)

WC_D unsigned wc_tid() { return threadIdx.x; }
WC_D unsigned wc_nthreads() { return blockDim.x; }
WC_D unsigned wc_lane() { return threadIdx.x & 31u; }
WC_D unsigned wc_warp() { return threadIdx.x >> 5; }
WC_D uint32_t wc_ballot(int p) { return __ballot_sync(WC_FULL, p); }
WC_D int wc_any(int p) { return __any_sync(WC_FULL, p); }
WC_D uint64_t wc_shfl64(uint64_t v, int src)
{
    return __shfl_sync(WC_FULL, (unsigned long long)v, src);
}
WC_D uint64_t wc_shflx64(uint64_t v, int m)
{
    return __shfl_xor_sync(WC_FULL, (unsigned long long)v, m);
}
WC_D void wc_syncwarp() { __syncwarp(); }
WC_D void wc_syncthreads() { __syncthreads(); }
WC_D int wc_popc(uint32_t v) { return __popc(v); }
WC_D uint64_t wc_mulhi64(uint64_t a, uint64_t b) { return __umul64hi(a, b); }
WC_D uint64_t wc_bswap64(uint64_t v)
{
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
    return (uint64_t)__byte_perm(lo, 0, 0x0123) << 32 | __byte_perm(hi, 0, 0x0123);
}
WC_D wc_v4 wc_v4zero() { return make_uint4(0, 0, 0, 0); }

/* payload (input buffer, read-only during the kernel) */
WC_D uint32_t wc_ld8(const uint8_t *p) { return __ldg(p); }
WC_D uint32_t wc_ld32(const uint8_t *p) { return __ldg((const uint32_t *)p); }
WC_D wc_v4 wc_ld16(const uint8_t *p) { return __ldg((const uint4 *)p); }
/* decode tables (global, read-only) */
WC_D wc_v4 wc_ldt16(const uint8_t *p) { return __ldg((const uint4 *)p); }
/* decoded bytes, read back by the hash kernel */
WC_D uint32_t wc_ldh8(const uint8_t *p) { return __ldg(p); }
WC_D uint64_t wc_ldh64(const uint8_t *p)
{
    return __ldg((const unsigned long long *)p);
}
/* output */
WC_D void wc_st8(uint8_t *p, uint32_t v) { *p = (uint8_t)v; }
WC_D void wc_st16(uint8_t *p, uint32_t v) { *(uint16_t *)p = (uint16_t)v; }
WC_D void wc_st32(uint8_t *p, uint32_t v) { *(uint32_t *)p = v; }
WC_D void wc_st64(uint8_t *p, uint64_t v) { *(uint64_t *)p = v; }
WC_D void wc_stv4(uint8_t *p, wc_v4 v) { *(uint4 *)p = v; }
/* shared memory */
WC_D uint32_t wc_sld8(const uint8_t *p) { return *p; }
WC_D uint32_t wc_sld16(const uint8_t *p) { return *(const uint16_t *)p; }
WC_D uint32_t wc_sld32(const uint32_t *p) { return *p; }
WC_D void wc_sst16(uint8_t *p, wc_v4 v) { *(uint4 *)p = v; }


#endif
