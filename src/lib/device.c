/* device.c - batch decoding on a chosen device. The CPU path is the oracle;
 * the CUDA backend (cuda/backend.c, built when nvcc and the CUDA runtime are
 * found: meson then defines WCODEC_HAVE_CUDA for the library) provides the
 * wc_cuda_* hooks; builds without it get the versions below. (Not weak
 * symbols: a weak definition in a static archive is not reliably replaced
 * by the strong one, depending on link order.) */
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "error.h"
#include "reader.h"

#ifndef WCODEC_HAVE_CUDA
int wc_cuda_probe(void) { return 0; }

int wc_cuda_decode_chunks(wcodec *w, uint64_t first, uint64_t count, void *dst,
                          int dst_on_device)
{
    (void)w; (void)first; (void)count; (void)dst; (void)dst_on_device;
    return wc_fail(WCODEC_E_NODEVICE, "built without CUDA");
}

ssize_t wc_cuda_pread(wcodec *w, void *dev_dst, size_t len, uint64_t off)
{
    (void)w; (void)dev_dst; (void)len; (void)off;
    return wc_fail(WCODEC_E_NODEVICE, "built without CUDA");
}

void wc_cuda_forget(wcodec *w) { (void)w; }
#endif

int wcodec_cuda_available(void)
{
    return wc_cuda_probe();
}

int wc_cpu_decode_chunks(wcodec *w, uint64_t first, uint64_t count,
                         void *dst)
{
    uint8_t *o = dst, *d[64];
    while (count) {
        uint64_t n = count < 64 ? count : 64;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t off;
            uint32_t len;
            wcodec_chunk_extent(w, first + i, &off, &len);
            d[i] = o;
            o += len;
        }
        int rc = wc_decode_run(w, first, n, d);
        if (rc)
            return rc;
        first += n;
        count -= n;
    }
    return 0;
}

int wcodec_decode_chunks(wcodec *w, uint64_t first, uint64_t count, void *dst,
                         wcodec_device dev)
{
    if (first > w->nchunks || count > w->nchunks - first)
        return wc_fail(WCODEC_E_RANGE, "%s: chunks %llu+%llu out of range",
                       w->name, (unsigned long long)first,
                       (unsigned long long)count);
    if (dev == WCODEC_DEVICE_AUTO)
        dev = wc_cuda_probe() ? WCODEC_DEVICE_CUDA : WCODEC_DEVICE_CPU;
    if (dev == WCODEC_DEVICE_CUDA) {
        int rc = wc_cuda_decode_chunks(w, first, count, dst, 0);
        if (!rc)
            return 0;
        /* Corrupt data is corrupt on any device: do not retry. */
        if (rc == -WCODEC_E_CORRUPT || rc == -WCODEC_E_TRUNCATED)
            return rc;
        static int warned;
        if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
            fprintf(stderr, "wcodec: GPU decode failed (%s); using the CPU\n",
                    wcodec_errdetail());
    }
    return wc_cpu_decode_chunks(w, first, count, dst);
}

ssize_t wcodec_pread_cuda(wcodec *w, void *dev_dst, size_t len, uint64_t off)
{
    if (!wc_cuda_probe())
        return wc_fail(WCODEC_E_NODEVICE, "no usable CUDA GPU");
    return wc_cuda_pread(w, dev_dst, len, off);
}
