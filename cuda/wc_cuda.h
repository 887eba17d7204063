/* wc_cuda.h - internal interface of the CUDA backend (cuda/backend.c)
 * beyond the hooks in src/device.h: device-resident batches for
 * wcodec-gpubench. Plain C. */
#ifndef WC_CUDA_H
#define WC_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "wcodec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Chunks decoded by the GPU and verified; chunks the GPU got wrong (flag or
 * checksum) that the CPU then decoded (a GPU bug: the parity test wants
 * 0); chunks neither could decode (corrupt data). Since process start. */
void wc_cuda_counters(uint64_t *gpu_ok, uint64_t *gpu_wrong, uint64_t *bad);

/* A batch of chunks whose payloads are uploaded once and decoded into one
 * device buffer (chunk outputs 256-byte aligned), as many times as asked:
 * measures the kernels alone, input and output in device memory. All
 * chunks are GPU jobs (zstd chunks are staged decoded, as COPY jobs). */
typedef struct wc_gbench wc_gbench;

int wc_gbench_prepare(wcodec *w, const uint64_t *chunks, size_t n,
                      wc_gbench **out);
/* Run the decode kernels `iters` times (plus the XXH3 kernel if hash);
 * *seconds: mean wall time of one run, from CUDA events. */
int wc_gbench_run(wc_gbench *b, int hash, int iters, double *seconds);
/* Download and compare every chunk with the CPU decoder, and every
 * kernel hash with the chunk table. Returns 0 or -WCODEC_E_CORRUPT. */
int wc_gbench_check(wc_gbench *b);
uint64_t wc_gbench_decoded(const wc_gbench *b); /* decoded bytes per run */
uint64_t wc_gbench_payload(const wc_gbench *b); /* input bytes */
/* jobs per class (WC_GCLASSES entries) */
void wc_gbench_classes(const wc_gbench *b, uint32_t *jobs_per_class);
void wc_gbench_free(wc_gbench *b);

#ifdef __cplusplus
}
#endif

#endif
