/* device.h - hooks between the library and the CUDA backend. */
#ifndef WC_DEVICE_H
#define WC_DEVICE_H

#include "wcodec.h"

/* CPU reference: decode chunks [first, first+count) contiguously. */
int wc_cpu_decode_chunks(wcodec *w, uint64_t first, uint64_t count, void *dst);

/* Provided by cuda/backend.c when the library is built with CUDA (meson
 * defines WCODEC_HAVE_CUDA); device.c has the no-GPU versions otherwise. */
int wc_cuda_probe(void); /* 1 if a usable GPU is present */
int wc_cuda_decode_chunks(wcodec *w, uint64_t first, uint64_t count, void *dst,
                          int dst_on_device);
ssize_t wc_cuda_pread(wcodec *w, void *dev_dst, size_t len, uint64_t off);
/* Free what the backend keeps for this handle (decode tables on the GPU);
 * the backend sets it as the handle's dev_release hook (reader.h). */
void wc_cuda_forget(wcodec *w);

#endif
