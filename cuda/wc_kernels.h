/* wc_kernels.h - plain-C entry points of the CUDA kernels (kernels.cu). */
#ifndef WC_KERNELS_H
#define WC_KERNELS_H

#include "wc_gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per device, once (current device): allow the shared memory each class
 * needs, up to max_smem bytes per block (cudaDevAttrMaxSharedMemoryPerBlockOptin).
 * Sets *supported bit c for every class c the device can run.
 * Returns 0 or a cudaError_t. */
int wc_gk_init(int max_smem, uint32_t *supported);

/* Enqueue the plan's kernels on `stream` (a cudaStream_t): PLANES classes
 * and COPY jobs decode into each job's dst, err[job] set nonzero for a
 * chunk that does not decode (err must be zeroed beforehand); then, if
 * hash is not NULL, XXH3-64 of every job's decoded bytes into hash[job].
 * Returns 0 or a cudaError_t (launch errors). */
int wc_gk_launch(const wc_gplan *p, const uint8_t *d_in, const wc_gjob *d_jobs,
                 const wc_gblock *d_blocks, uint32_t *d_err, uint64_t *d_hash,
                 void *stream);

#ifdef __cplusplus
}
#endif

#endif
