/* mockcuda.cc - a stand-in for the CUDA runtime and for kernels.cu, to run
 * the real backend (cuda/backend.c) and the real parity test
 * (tests/check_cuda_parity.c) on a machine without a GPU.
 *
 * One fake device (compute capability 9.0, 227 KiB of shared memory per
 * block). "Device memory" is host memory from malloc, remembered so that
 * cudaPointerGetAttributes can tell it from host memory; streams run
 * everything at once (asynchronous calls are synchronous), events are
 * no-ops; kernels run in the CPU warp emulator (emu.h), which checks every
 * memory access of every job. What this does not test: real concurrency
 * between streams and the host, and the CUDA toolchain's code generation -
 * the GPU parity test on a real device covers those.
 *
 * WCODEC_MOCK_FAIL=N makes the N-th kernel launch fail (tests the
 * backend's fallback to the CPU). */
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <mutex>

#include "emu.h"
#include "kcore.h"
#include "emu_run.h"
#include "wc_kernels.h"

EMU_GLOBALS

namespace {
std::mutex mu;
std::map<uintptr_t, size_t> dev_alloc; /* base -> size */
cudaError_t last = cudaSuccess;
int launches;

bool is_dev(const void *p, size_t n)
{
    std::lock_guard<std::mutex> g(mu);
    uintptr_t a = (uintptr_t)p;
    auto it = dev_alloc.upper_bound(a);
    if (it == dev_alloc.begin())
        return false;
    --it;
    return a >= it->first && a + n <= it->first + it->second;
}

cudaError_t ret(cudaError_t e)
{
    if (e != cudaSuccess)
        last = e;
    return e;
}
} // namespace

extern "C" {

const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess ? "no error (mock)" : "mock CUDA error";
}
cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last;
    last = cudaSuccess;
    return e;
}
cudaError_t cudaGetDeviceCount(int *n)
{
    *n = getenv("WCODEC_MOCK_NODEV") ? 0 : 1;
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *d)
{
    *d = 0;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return ret(d == 0 ? cudaSuccess : cudaErrorInvalidDevice); }
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d)
{
    if (d != 0)
        return ret(cudaErrorInvalidDevice);
    switch (a) {
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = 227 * 1024; break;
    default: *v = 0;
    }
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int)
{
    *s = (cudaStream_t)malloc(1);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int)
{
    *e = (cudaEvent_t)malloc(1);
    return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, 0); }
cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    free((void *)e);
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t, cudaEvent_t)
{
    *ms = 1.0f;
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **p, size_t n)
{
    *p = aligned_alloc(256, (n + 255) / 256 * 256);
    if (!*p)
        return ret(cudaErrorMemoryAllocation);
    memset(*p, 0x5c, n); /* garbage, like fresh device memory */
    std::lock_guard<std::mutex> g(mu);
    dev_alloc[(uintptr_t)*p] = n;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p)
{
    if (!p)
        return cudaSuccess;
    {
        std::lock_guard<std::mutex> g(mu);
        if (!dev_alloc.erase((uintptr_t)p))
            return ret(cudaErrorInvalidValue);
    }
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMallocHost(void **p, size_t n)
{
    *p = aligned_alloc(4096, (n + 4095) / 4096 * 4096);
    return *p ? cudaSuccess : ret(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void *p)
{
    free(p);
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p)
{
    memset(a, 0, sizeof *a);
    a->type = is_dev(p, 1) ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered;
    a->device = 0;
    return cudaSuccess;
}
static cudaError_t copy(void *d, const void *s, size_t n, cudaMemcpyKind k)
{
    bool dd = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyHostToDevice;
    bool sd = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyDeviceToHost;
    if (n && ((dd && !is_dev(d, n)) || (!dd && is_dev(d, 1)) || (sd && !is_dev(s, n)) ||
              (!sd && is_dev(s, 1)))) {
        fprintf(stderr, "mockcuda: cudaMemcpy kind %d with %s destination %p / %s "
                        "source %p (%zu bytes)\n",
                (int)k, is_dev(d, 1) ? "device" : "host", d, is_dev(s, 1) ? "device" : "host",
                s, n);
        abort();
    }
    memmove(d, s, n);
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k)
{
    return copy(d, s, n, k);
}
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k,
                            cudaStream_t)
{
    return copy(d, s, n, k);
}
cudaError_t cudaMemset(void *d, int v, size_t n)
{
    if (n && !is_dev(d, n))
        abort();
    memset(d, v, n);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *d, int v, size_t n, cudaStream_t)
{
    return cudaMemset(d, v, n);
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int)
{
    memset(p, 0, sizeof *p);
    strcpy(p->name, "mock");
    return cudaSuccess;
}

/* kernels.cu */
int wc_gk_init(int max_smem, uint32_t *supported)
{
    uint32_t ok = 1;
    for (int c = 1; c < WC_GCLASSES; c++)
        if (wc_gclass_smem(c) <= (size_t)max_smem)
            ok |= 1u << c;
    *supported = ok;
    return 0;
}

int wc_gk_launch(const wc_gplan *p, const uint8_t *d_in, const wc_gjob *d_jobs,
                 const wc_gblock *d_blocks, uint32_t *d_err, uint64_t *d_hash,
                 void *stream)
{
    (void)stream;
    const char *f = getenv("WCODEC_MOCK_FAIL");
    if (f && ++launches == atoi(f))
        return (int)ret(cudaErrorLaunchFailure);
    /* The emulator reads the descriptors through the plan: check that what
     * the backend uploaded is the plan. */
    if (p->njobs && memcmp(d_jobs, p->jobs, p->njobs * sizeof *d_jobs)) {
        fprintf(stderr, "mockcuda: uploaded jobs differ from the plan\n");
        abort();
    }
    if (p->nblocks && memcmp(d_blocks, p->blocks, p->nblocks * sizeof *d_blocks)) {
        fprintf(stderr, "mockcuda: uploaded blocks differ from the plan\n");
        abort();
    }
    emu_table_ok = is_dev;
    emu_run(p, d_in, d_err, d_hash);
    return 0;
}

} /* extern "C" */
