/* kernels.cu - __global__ wrappers around kcore.h and their launches.
 *
 * Built for sm_90 (Hopper SASS) with compute_90 and compute_80 PTX so the
 * driver can JIT for other parts (see cuda/meson.build). */
#include <cuda_runtime.h>

#include "kprim.h"
#include "kcore.h"
#include "wc_kernels.h"

template <int ES, int NR>
__global__ void __launch_bounds__(256)
wc_k_planes(const uint8_t *in, const wc_gjob *jobs, const wc_gblock *blocks,
            uint32_t block0, uint32_t *err)
{
    extern __shared__ __align__(16) uint8_t wc_smem[];
    wc_planes_body<ES, NR>(in, jobs, blocks, block0 + blockIdx.x, err, wc_smem);
}

__global__ void __launch_bounds__(256)
wc_k_copy(const uint8_t *in, const wc_gjob *jobs, uint32_t job0, uint32_t njobs,
          uint32_t *err)
{
    wc_copy_body(in, jobs, job0, njobs, err,
                 blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5));
}

__global__ void __launch_bounds__(256)
wc_k_hash(const wc_gjob *jobs, uint32_t njobs, uint64_t *out)
{
    wc_hash_body(jobs, njobs, out, blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5));
}

typedef void (*wc_planes_fn)(const uint8_t *, const wc_gjob *, const wc_gblock *,
                             uint32_t, uint32_t *);

/* Indexed by class (wc_gclass in wc_gpu.h); 0 is COPY. */
static const wc_planes_fn wc_planes_fns[WC_GCLASSES] = {
    nullptr,
    wc_k_planes<1, 0>, wc_k_planes<1, 1>,
    wc_k_planes<2, 0>, wc_k_planes<2, 1>, wc_k_planes<2, 2>,
    wc_k_planes<4, 0>, wc_k_planes<4, 1>, wc_k_planes<4, 2>, wc_k_planes<4, 3>,
    wc_k_planes<4, 4>,
    wc_k_planes<8, 0>, wc_k_planes<8, 1>, wc_k_planes<8, 2>, wc_k_planes<8, 3>,
    wc_k_planes<8, 4>, wc_k_planes<8, 5>, wc_k_planes<8, 6>, wc_k_planes<8, 7>,
    wc_k_planes<8, 8>,
};

extern "C" int wc_gk_init(int max_smem, uint32_t *supported)
{
    uint32_t ok = 1; /* COPY */
    for (int c = 1; c < WC_GCLASSES; c++) {
        size_t sm = wc_gclass_smem(c);
        if (sm > (size_t)max_smem)
            continue;
        cudaError_t e = cudaFuncSetAttribute((const void *)wc_planes_fns[c],
                                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)sm);
        if (e != cudaSuccess)
            return (int)e;
        if (wc_gclass_nr(c) > 0) {
            /* Shared memory (tables + rings) is what limits residency. */
            e = cudaFuncSetAttribute((const void *)wc_planes_fns[c],
                                     cudaFuncAttributePreferredSharedMemoryCarveout,
                                     (int)cudaSharedmemCarveoutMaxShared);
            if (e != cudaSuccess)
                return (int)e;
        }
        ok |= 1u << c;
    }
    *supported = ok;
    return 0;
}

extern "C" int wc_gk_launch(const wc_gplan *p, const uint8_t *d_in,
                            const wc_gjob *d_jobs, const wc_gblock *d_blocks,
                            uint32_t *d_err, uint64_t *d_hash, void *stream)
{
    cudaStream_t s = (cudaStream_t)stream;
    for (unsigned l = 0; l < p->nlaunch; l++) {
        const wc_glaunch *L = &p->launch[l];
        if (L->cls == 0) {
            if (!L->njobs)
                continue;
            unsigned grid = (L->njobs + 7) / 8;
            wc_k_copy<<<grid, 256, 0, s>>>(d_in, d_jobs, L->job0, L->njobs, d_err);
        } else {
            if (!L->nblocks)
                continue;
            if (L->cls < 0 || L->cls >= WC_GCLASSES)
                return (int)cudaErrorInvalidValue;
            unsigned threads = 32 * wc_gclass_wpb(L->cls);
            size_t sm = wc_gclass_smem(L->cls);
            wc_planes_fns[L->cls]<<<L->nblocks, threads, sm, s>>>(
                d_in, d_jobs, d_blocks, L->block0, d_err);
        }
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            return (int)e;
    }
    if (d_hash && p->njobs) {
        wc_k_hash<<<(p->njobs + 7) / 8, 256, 0, s>>>(d_jobs, p->njobs, d_hash);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess)
            return (int)e;
    }
    return 0;
}
