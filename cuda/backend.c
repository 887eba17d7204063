/* backend.c - CUDA host side: device probe, per-handle decode tables,
 * the staging pipeline, and the wc_cuda_* hooks of src/device.h.
 *
 * Plain C on the CUDA runtime API; the runtime is linked statically
 * (libcudart_static dlopens libcuda.so.1 itself), so programs start on
 * machines without a GPU or a driver: cudaGetDeviceCount fails and
 * wc_cuda_probe() says 0.
 *
 * Pipeline (per device, two slots, one stream each): for a batch of chunks
 * the host reads the payloads with pread into a pinned buffer (16-byte
 * aligned slots) and, for chunks the GPU does not decode (zstd segments,
 * which are small), decodes them on the CPU; then enqueues on the slot's
 * stream: upload of the payloads and job descriptors, the decode kernels,
 * the download of the results, an event. While the GPU works on one slot
 * the host prepares the other.
 *
 * Verification - a read never returns wrong bytes:
 *  - host output (wc_cuda_decode_chunks to host memory): every chunk the GPU
 *    decoded is checked on the CPU after download (XXH3-64 against the chunk
 *    table) before it is copied to the caller's buffer;
 *  - device output (wc_cuda_pread, wc_cuda_decode_chunks to device memory):
 *    the GPU computes XXH3-64 of every decoded chunk where it lies (hash
 *    kernel, bit-exact with libxxhash; checked against it by the emulator
 *    test), and the host compares the 8-byte results with the chunk table.
 *  A chunk the kernel flags, or whose checksum differs, is decoded again on
 *  the CPU (wcodec_chunk_decode verifies it): if the CPU fails too the data
 *  is corrupt and the call fails with its error; if not, the CPU's bytes are
 *  used and the GPU mismatch is logged once.
 *
 * Decode tables are uploaded once per (handle, device) on first use of a
 * segment and freed by wc_cuda_forget(), which wcodec_close() calls
 * through the handle's dev_release hook.
 *
 * All GPU work is serialised by one mutex (one pipeline per device).
 */
#include <cuda_runtime_api.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "error.h"
#include "hash.h"
#include "reader.h"
#include "wc_cuda.h"
#include "wc_gpu.h"
#include "wc_kernels.h"

#define WC_MAXJ 16384u         /* jobs per batch */
#define WC_TABS_PER_PAGE 64u   /* decode tables per device allocation */
#define WC_OUT_ALIGN 256u      /* host path: chunk outputs in d_out */

/* ---- errors ---------------------------------------------------------------- */

static int cu_fail(cudaError_t e, const char *what)
{
    return wc_fail(WCODEC_E_NODEVICE, "CUDA: %s: %s", what, cudaGetErrorString(e));
}

#define CU(call, what)                                                         \
    do {                                                                       \
        cudaError_t e_ = (call);                                               \
        if (e_ != cudaSuccess)                                                 \
            return cu_fail(e_, what);                                          \
    } while (0)

/* ---- devices ---------------------------------------------------------------- */

typedef struct {
    uint8_t *h_in, *d_in;
    size_t in_cap;
    uint8_t *h_out, *d_out;
    size_t out_cap;
    uint8_t *h_desc, *d_desc; /* jobs | blocks | err | hash */
    size_t desc_cap;
    uint8_t *d_edge;          /* device path: 2 partial chunks */
    size_t edge_cap;
    cudaStream_t st;
    cudaEvent_t ev;
} wc_slot;

typedef struct {
    int state; /* 0 untouched, 1 ready, -1 unusable */
    uint32_t supported;
    wc_slot slot[2];
} wc_gdev;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_ndev;
static wc_gdev *g_dev;
static size_t g_batch = 64u << 20; /* payload bytes per batch (target) */

static void probe_once(void)
{
    const char *e = getenv("WCODEC_NO_CUDA");
    if (e && *e && strcmp(e, "0"))
        return;
    const char *mb = getenv("WCODEC_CUDA_BATCH_MB");
    if (mb && atoi(mb) > 0)
        g_batch = (size_t)atoi(mb) << 20;
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n <= 0) {
        cudaGetLastError();
        return;
    }
    /* The kernels are built for sm_90 with compute_80/90 PTX: 8.0 and up. */
    int usable = 0;
    for (int d = 0; d < n; d++) {
        int major = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) ==
                cudaSuccess &&
            major >= 8)
            usable = 1;
    }
    cudaGetLastError();
    if (!usable)
        return;
    g_dev = calloc((size_t)n, sizeof *g_dev);
    if (g_dev)
        g_ndev = n;
}

int wc_cuda_probe(void)
{
    pthread_once(&g_once, probe_once);
    return g_ndev > 0;
}

/* Called with g_mu held and device d current. */
static int dev_ready(int d)
{
    if (d < 0 || d >= g_ndev)
        return wc_fail(WCODEC_E_NODEVICE, "CUDA: no device %d", d);
    wc_gdev *D = &g_dev[d];
    if (D->state > 0)
        return 0;
    if (D->state < 0)
        return wc_fail(WCODEC_E_NODEVICE, "CUDA: device %d unusable after an "
                                          "earlier error", d);
    D->state = -1;
    int major = 0, smem = 0;
    CU(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d),
       "device attributes");
    if (major < 8)
        return wc_fail(WCODEC_E_NODEVICE,
                       "CUDA: device %d has compute capability %d.x, need 8.0+",
                       d, major);
    CU(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, d),
       "device attributes");
    int e = wc_gk_init(smem, &D->supported);
    if (e)
        return cu_fail((cudaError_t)e, "kernel attributes");
    for (int s = 0; s < 2; s++) {
        CU(cudaStreamCreateWithFlags(&D->slot[s].st, cudaStreamNonBlocking),
           "stream");
        CU(cudaEventCreateWithFlags(&D->slot[s].ev, cudaEventDisableTiming),
           "event");
    }
    D->state = 1;
    return 0;
}

/* After a CUDA failure the context may be unusable (sticky errors): stop
 * using this device; reads go to the CPU (device.c logs once). */
static void dev_broken(int d)
{
    if (d >= 0 && d < g_ndev)
        g_dev[d].state = -1;
}

/* A pinned host buffer and a device buffer of the same capacity, grown
 * (never shrunk) with some slack. Only called on an idle slot. */
static int grow_pair(uint8_t **h, uint8_t **d, size_t *cap, size_t need)
{
    if (*cap >= need && (!h || *h) && *d)
        return 0;
    size_t nc = need + need / 4 + 4096;
    if (h && *h)
        cudaFreeHost(*h);
    if (*d)
        cudaFree(*d);
    if (h)
        *h = NULL;
    *d = NULL;
    *cap = 0;
    if (h)
        CU(cudaMallocHost((void **)h, nc), "pinned allocation");
    CU(cudaMalloc((void **)d, nc), "device allocation");
    *cap = nc;
    return 0;
}

/* ---- per-handle contexts: decode tables ------------------------------------ */

typedef struct wc_gctx {
    struct wc_gctx *next;
    const wcodec *w;
    int dev;
    uint64_t *tab;   /* nseg * 8 device addresses, 0 = not uploaded */
    uint8_t **pages; /* device allocations of WC_TABS_PER_PAGE tables */
    size_t npages, pcap, used; /* tables used in the last page */
    int err;                   /* a table upload failed */
} wc_gctx;

static wc_gctx *g_ctx;

static wc_gctx *ctx_get(wcodec *w, int d)
{
    for (wc_gctx *c = g_ctx; c; c = c->next)
        if (c->w == w && c->dev == d)
            return c;
    wc_gctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->tab = calloc((size_t)w->nseg * 8 + 1, sizeof *c->tab);
    if (!c->tab) {
        free(c);
        return NULL;
    }
    c->w = w;
    c->dev = d;
    w->dev_release = wc_cuda_forget; /* wcodec_close frees this context */
    c->used = WC_TABS_PER_PAGE;
    c->next = g_ctx;
    g_ctx = c;
    return c;
}

static void ctx_free(wc_gctx *c)
{
    for (size_t i = 0; i < c->npages; i++)
        cudaFree(c->pages[i]);
    free(c->pages);
    free(c->tab);
    free(c);
}

void wc_cuda_forget(wcodec *w)
{
    if (!g_ndev) /* never probed or no device: nothing was allocated */
        return;
    pthread_mutex_lock(&g_mu);
    int prev = -1;
    for (wc_gctx **pp = &g_ctx; *pp;) {
        wc_gctx *c = *pp;
        if (c->w != w) {
            pp = &c->next;
            continue;
        }
        if (prev < 0 && cudaGetDevice(&prev) != cudaSuccess)
            prev = 0;
        cudaSetDevice(c->dev);
        *pp = c->next;
        ctx_free(c);
    }
    if (prev >= 0)
        cudaSetDevice(prev);
    cudaGetLastError();
    pthread_mutex_unlock(&g_mu);
}

/* wc_gtabfn: upload (once) and return the table of plane k of segment s. */
static uint64_t tab_addr(void *ctx, uint32_t s, unsigned k)
{
    wc_gctx *c = ctx;
    const wcodec *w = c->w;
    if (s >= w->nseg || k >= WC_MAX_PLANES || !w->seg[s].c.dtab[k])
        return 0;
    uint64_t *slot = &c->tab[(size_t)s * 8 + k];
    if (*slot)
        return *slot;
    if (c->used == WC_TABS_PER_PAGE) {
        if (c->npages == c->pcap) {
            size_t nc = c->pcap ? 2 * c->pcap : 16;
            uint8_t **np = realloc(c->pages, nc * sizeof *np);
            if (!np)
                return 0;
            c->pages = np;
            c->pcap = nc;
        }
        uint8_t *pg;
        cudaError_t e = cudaMalloc((void **)&pg, (size_t)WC_TABS_PER_PAGE * WC_G_TAB_BYTES);
        if (e != cudaSuccess) {
            cu_fail(e, "table allocation");
            c->err = 1;
            return 0;
        }
        c->pages[c->npages++] = pg;
        c->used = 0;
    }
    uint8_t *dst = c->pages[c->npages - 1] + (size_t)c->used * WC_G_TAB_BYTES;
    cudaError_t e = cudaMemcpy(dst, w->seg[s].c.dtab[k]->slot, WC_G_TAB_BYTES,
                               cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        cu_fail(e, "table upload");
        c->err = 1;
        return 0;
    }
    c->used++;
    *slot = (uint64_t)(uintptr_t)dst;
    return *slot;
}

/* ---- requests and batches ------------------------------------------------- */

/* Decoded bytes [skip, skip + take) of chunk k go to the caller: host path
 * at hdst (host memory), device path at ddst (device memory). */
typedef struct {
    uint64_t k;
    uint8_t *hdst;
    uint8_t *ddst;
    uint32_t skip, take, clen;
} wc_req;

typedef struct {
    wc_gitem *items;
    uint32_t *req;    /* item -> request index */
    uint64_t *outoff; /* host path: item's offset in h_out / d_out */
    size_t n, cap;
    wc_gplan plan;
    size_t off_blocks, off_err, off_hash, out_bytes;
    int pending;
} wc_batch;

typedef struct {
    wcodec *w;
    int dev;
    int device_out; /* 1: device path (hash on the GPU); 0: host path */
    wc_gdev *D;
    wc_gctx *ctx;
    wc_req *req;
    size_t nreq;
    size_t *cpu; /* host path: requests left to the CPU */
    size_t ncpu, cpucap, cpudone;
    wc_batch b[2];
} wc_job;

static int batch_room(wc_batch *B, size_t n)
{
    if (B->cap >= n)
        return 0;
    size_t nc = B->cap ? 2 * B->cap : 256;
    while (nc < n)
        nc *= 2;
    wc_gitem *it = realloc(B->items, nc * sizeof *it);
    if (it)
        B->items = it;
    uint32_t *rq = realloc(B->req, nc * sizeof *rq);
    if (rq)
        B->req = rq;
    uint64_t *oo = realloc(B->outoff, nc * sizeof *oo);
    if (oo)
        B->outoff = oo;
    if (!it || !rq || !oo)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    B->cap = nc;
    return 0;
}

static void batch_free(wc_batch *B)
{
    free(B->items);
    free(B->req);
    free(B->outoff);
    wc_plan_free(&B->plan);
    memset(B, 0, sizeof *B);
}

static size_t al64(size_t v) { return (v + 63) & ~(size_t)63; }

/* Decode one request on the CPU (after a GPU flag or checksum mismatch, or
 * a host-path chunk the GPU does not take). tmp: chunk_size bytes. */
static int cpu_req(wc_job *J, const wc_req *r, uint8_t *tmp)
{
    if (!J->device_out && r->skip == 0 && r->take == r->clen)
        return wcodec_chunk_decode(J->w, r->k, r->hdst);
    int rc = wcodec_chunk_decode(J->w, r->k, tmp);
    if (rc)
        return rc;
    if (!J->device_out) {
        memcpy(r->hdst, tmp + r->skip, r->take);
        return 0;
    }
    cudaError_t e = cudaMemcpy(r->ddst, tmp + r->skip, r->take, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? 0 : cu_fail(e, "upload of a CPU-decoded chunk");
}

static uint64_t g_cnt[3]; /* GPU ok, GPU wrong but CPU right, data bad */

void wc_cuda_counters(uint64_t *gpu_ok, uint64_t *gpu_wrong, uint64_t *bad)
{
    *gpu_ok = __atomic_load_n(&g_cnt[0], __ATOMIC_RELAXED);
    *gpu_wrong = __atomic_load_n(&g_cnt[1], __ATOMIC_RELAXED);
    *bad = __atomic_load_n(&g_cnt[2], __ATOMIC_RELAXED);
}

static void log_mismatch(uint64_t k, int flagged)
{
    static int warned;
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        fprintf(stderr,
                "wcodec: the GPU %s chunk %llu, which the CPU decodes; using "
                "the CPU's bytes (not logged again)\n",
                flagged ? "could not decode" : "got a wrong checksum for",
                (unsigned long long)k);
}

/* Form the next batch from requests [*r, nreq) into slot s, stage it on the
 * host and enqueue its GPU work on the slot's stream. */
static int batch_start(wc_job *J, int s, size_t *r)
{
    wc_batch *B = &J->b[s];
    wc_slot *S = &J->D->slot[s];
    wcodec *w = J->w;
    uint64_t in = 0, out = 0;
    int rc, edges = 0;
    uint32_t edge_of[2] = {0, 0}; /* batch index of the partial chunks */
    B->n = 0;
    while (*r < J->nreq && B->n < WC_MAXJ) {
        wc_req *q = &J->req[*r];
        int partial = q->skip != 0 || q->take != q->clen;
        if (partial && edges == 2)
            break;
        if ((rc = batch_room(B, B->n + 1)))
            return rc;
        wc_gitem *it = &B->items[B->n];
        rc = wc_plan_item(w, q->k, 0, J->D->supported, J->device_out, it);
        if (rc < 0)
            return rc;
        if (rc == 0) { /* host path, not for the GPU: decoded on the CPU */
            if (J->ncpu == J->cpucap) {
                size_t nc = J->cpucap ? 2 * J->cpucap : 64;
                size_t *np = realloc(J->cpu, nc * sizeof *np);
                if (!np)
                    return wc_fail(WCODEC_E_NOMEM, "out of memory");
                J->cpu = np;
                J->cpucap = nc;
            }
            J->cpu[J->ncpu++] = *r;
            (*r)++;
            continue;
        }
        uint64_t slot = wc_gslot(it->csize);
        uint64_t o = (out + WC_OUT_ALIGN - 1) & ~(uint64_t)(WC_OUT_ALIGN - 1);
        if (B->n && (in + slot > g_batch || (!J->device_out && o + it->dlen > g_batch)))
            break;
        if (J->device_out) {
            if (partial)
                edge_of[edges++] = (uint32_t)B->n;
            else
                it->dst = (uint64_t)(uintptr_t)q->ddst;
        } else {
            B->outoff[B->n] = o;
            out = o + it->dlen;
        }
        B->req[B->n] = (uint32_t)*r;
        in += slot;
        B->n++;
        (*r)++;
    }
    if (!B->n)
        return 0;

    /* Buffers (this slot is idle: its previous batch was finished). */
    const size_t nj = B->n;
    if ((rc = grow_pair(&S->h_in, &S->d_in, &S->in_cap, in + 64)) ||
        (!J->device_out && (rc = grow_pair(&S->h_out, &S->d_out, &S->out_cap, out + 64))) ||
        (rc = grow_pair(&S->h_desc, &S->d_desc, &S->desc_cap,
                        al64(nj * sizeof(wc_gjob)) + al64(nj * sizeof(wc_gblock)) +
                            al64(nj * 4) + al64(nj * 8))) ||
        (edges && (rc = grow_pair(NULL, &S->d_edge, &S->edge_cap, 2 * (size_t)w->chunk_size))))
        return rc;
    for (size_t i = 0; i < nj; i++)
        if (!J->device_out)
            B->items[i].dst = (uint64_t)(uintptr_t)(S->d_out + B->outoff[i]);
    for (int e = 0; e < edges; e++)
        B->items[edge_of[e]].dst = (uint64_t)(uintptr_t)(S->d_edge + (size_t)e * w->chunk_size);
    B->out_bytes = out;

    if (wc_plan_build(&B->plan, w, B->items, nj, tab_addr, J->ctx))
        return J->ctx->err ? -WCODEC_E_NODEVICE
                           : wc_fail(WCODEC_E_NOMEM, "%s: GPU batch planning failed",
                                     w->name);
    /* Payload reads (and CPU decodes of zstd chunks) while the GPU works on
     * the other slot. */
    if ((rc = wc_plan_stage(w, B->items, nj, S->h_in)))
        return rc;

    const wc_gplan *P = &B->plan;
    B->off_blocks = al64(nj * sizeof(wc_gjob));
    B->off_err = B->off_blocks + al64((size_t)P->nblocks * sizeof(wc_gblock));
    B->off_hash = B->off_err + al64(nj * 4);
    memcpy(S->h_desc, P->jobs, nj * sizeof(wc_gjob));
    memcpy(S->h_desc + B->off_blocks, P->blocks, (size_t)P->nblocks * sizeof(wc_gblock));

    cudaStream_t st = S->st;
    B->pending = 1; /* from here on the stream may hold work: drain it */
    CU(cudaMemcpyAsync(S->d_in, S->h_in, P->in_bytes, cudaMemcpyHostToDevice, st),
       "payload upload");
    CU(cudaMemcpyAsync(S->d_desc, S->h_desc, B->off_err, cudaMemcpyHostToDevice, st),
       "descriptor upload");
    CU(cudaMemsetAsync(S->d_desc + B->off_err, 0, nj * 4, st), "memset");
    int e = wc_gk_launch(P, S->d_in, (const wc_gjob *)S->d_desc,
                         (const wc_gblock *)(S->d_desc + B->off_blocks),
                         (uint32_t *)(S->d_desc + B->off_err),
                         J->device_out ? (uint64_t *)(S->d_desc + B->off_hash) : NULL, st);
    if (e)
        return cu_fail((cudaError_t)e, "kernel launch");
    if (J->device_out) {
        for (int x = 0; x < edges; x++) {
            const wc_req *q = &J->req[B->req[edge_of[x]]];
            CU(cudaMemcpyAsync(q->ddst, S->d_edge + (size_t)x * w->chunk_size + q->skip,
                               q->take, cudaMemcpyDeviceToDevice, st),
               "partial chunk copy");
        }
        CU(cudaMemcpyAsync(S->h_desc + B->off_err, S->d_desc + B->off_err,
                           B->off_hash - B->off_err + nj * 8, cudaMemcpyDeviceToHost, st),
           "result download");
    } else {
        CU(cudaMemcpyAsync(S->h_out, S->d_out, out, cudaMemcpyDeviceToHost, st),
           "output download");
        CU(cudaMemcpyAsync(S->h_desc + B->off_err, S->d_desc + B->off_err, nj * 4,
                           cudaMemcpyDeviceToHost, st),
           "result download");
    }
    CU(cudaEventRecord(S->ev, st), "event");
    return 0;
}

/* Wait for slot s's batch and check (and, host path, deliver) each chunk. */
static int batch_finish(wc_job *J, int s, uint8_t *tmp)
{
    wc_batch *B = &J->b[s];
    wc_slot *S = &J->D->slot[s];
    CU(cudaEventSynchronize(S->ev), "decode");
    B->pending = 0;
    const uint32_t *err = (const uint32_t *)(S->h_desc + B->off_err);
    const uint64_t *hash = (const uint64_t *)(S->h_desc + B->off_hash);
    for (size_t i = 0; i < B->n; i++) {
        const wc_gitem *it = &B->items[i];
        const wc_req *q = &J->req[B->req[i]];
        const uint64_t want = J->w->chunk[q->k].checksum;
        int flagged = err[it->job] != 0, ok = !flagged;
        if (ok && J->device_out) {
            ok = hash[it->job] == want;
        } else if (ok) {
            const uint8_t *h = S->h_out + B->outoff[i];
            ok = wc_hash64(h, it->dlen) == want;
            if (ok)
                memcpy(q->hdst, h + q->skip, q->take);
        }
        if (!ok) {
            int rc = cpu_req(J, q, tmp);
            if (rc) {
                __atomic_fetch_add(&g_cnt[2], 1, __ATOMIC_RELAXED);
                return rc; /* the data is bad (or the upload failed) */
            }
            __atomic_fetch_add(&g_cnt[1], 1, __ATOMIC_RELAXED);
            log_mismatch(q->k, flagged);
        } else {
            __atomic_fetch_add(&g_cnt[0], 1, __ATOMIC_RELAXED);
        }
    }
    return 0;
}

static int cpu_pending(wc_job *J, uint8_t *tmp)
{
    for (; J->cpudone < J->ncpu; J->cpudone++) {
        int rc = cpu_req(J, &J->req[J->cpu[J->cpudone]], tmp);
        if (rc)
            return rc;
    }
    return 0;
}

/* Run all requests through the two-slot pipeline. g_mu held, device
 * current. */
static int job_run(wc_job *J)
{
    uint8_t *tmp = malloc(J->w->chunk_size);
    if (!tmp)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    size_t r = 0;
    int s = 0, rc = 0;
    for (;;) {
        if (J->b[s].pending && (rc = batch_finish(J, s, tmp)))
            break;
        if (r < J->nreq) {
            if ((rc = batch_start(J, s, &r)))
                break;
            /* CPU-only chunks while the GPU decodes */
            if ((rc = cpu_pending(J, tmp)))
                break;
        } else if (!J->b[s ^ 1].pending) {
            break;
        }
        s ^= 1;
    }
    if (!rc)
        rc = cpu_pending(J, tmp);
    /* Never return while kernels may still write the caller's memory. */
    for (int i = 0; i < 2; i++)
        if (J->b[i].pending) {
            cudaStreamSynchronize(J->D->slot[i].st);
            J->b[i].pending = 0;
        }
    for (int i = 0; i < 2; i++)
        batch_free(&J->b[i]);
    free(J->cpu);
    free(tmp);
    return rc;
}

/* Lock, select device d (restoring the caller's afterwards), run. */
static int job_exec(wc_job *J, int d)
{
    pthread_mutex_lock(&g_mu);
    int prev = 0, rc;
    cudaError_t e = cudaGetDevice(&prev);
    if (e == cudaSuccess)
        e = cudaSetDevice(d);
    if (e != cudaSuccess) {
        rc = cu_fail(e, "select device");
    } else if (!(rc = dev_ready(d))) {
        J->dev = d;
        J->D = &g_dev[d];
        J->ctx = ctx_get(J->w, d);
        if (J->ctx)
            J->ctx->err = 0;
        rc = J->ctx ? job_run(J) : wc_fail(WCODEC_E_NOMEM, "out of memory");
    }
    if (rc == -WCODEC_E_NODEVICE) {
        cudaGetLastError();
        dev_broken(d);
    }
    if (e == cudaSuccess)
        cudaSetDevice(prev);
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* Device of a device pointer (device or managed memory). */
static int ptr_device(const void *p, int *d)
{
    struct cudaPointerAttributes a;
    cudaError_t e = cudaPointerGetAttributes(&a, p);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return cu_fail(e, "pointer attributes");
    }
    if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)
        return wc_fail(WCODEC_E_INVAL, "destination %p is not CUDA device memory", p);
    *d = a.device;
    return 0;
}

/* ---- hooks (src/device.h) -------------------------------------------------- */

int wc_cuda_decode_chunks(wcodec *w, uint64_t first, uint64_t count, void *dst,
                          int dst_on_device)
{
    if (!wc_cuda_probe())
        return wc_fail(WCODEC_E_NODEVICE, "no usable CUDA GPU");
    if (first > w->nchunks || count > w->nchunks - first)
        return wc_fail(WCODEC_E_RANGE, "%s: chunks out of range", w->name);
    if (!count)
        return 0;
    wc_job J;
    memset(&J, 0, sizeof J);
    J.w = w;
    J.device_out = dst_on_device != 0;
    J.nreq = (size_t)count;
    J.req = calloc(J.nreq, sizeof *J.req);
    if (!J.req)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    uint64_t pos = 0;
    for (size_t i = 0; i < J.nreq; i++) {
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, first + i, &off, &len);
        wc_req *q = &J.req[i];
        q->k = first + i;
        q->clen = q->take = len;
        if (J.device_out)
            q->ddst = (uint8_t *)dst + pos;
        else
            q->hdst = (uint8_t *)dst + pos;
        pos += len;
    }
    int d = 0, rc = 0;
    if (J.device_out)
        rc = ptr_device(dst, &d);
    else if (cudaGetDevice(&d) != cudaSuccess)
        d = 0;
    if (!rc)
        rc = job_exec(&J, d);
    free(J.req);
    return rc;
}

/* CPU decode of [off, off + len) uploaded to dev_dst: the device path's
 * fallback when the GPU decode itself failed. */
static ssize_t pread_fallback(wcodec *w, uint8_t *dev_dst, size_t len, uint64_t off)
{
    static int warned;
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "wcodec: GPU decode failed (%s); decoding on the CPU and "
                        "uploading\n", wcodec_errdetail());
    size_t piece = 16u << 20;
    uint8_t *buf = malloc(piece);
    if (!buf)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    size_t done = 0;
    ssize_t rc = 0;
    while (done < len) {
        size_t n = len - done < piece ? len - done : piece;
        ssize_t r = wcodec_pread(w, buf, n, off + done);
        if (r <= 0) {
            rc = r < 0 ? r : wc_fail(WCODEC_E_IO, "%s: short read", w->name);
            break;
        }
        cudaError_t e = cudaMemcpy(dev_dst + done, buf, (size_t)r, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            rc = cu_fail(e, "upload");
            break;
        }
        done += (size_t)r;
    }
    free(buf);
    return rc < 0 ? rc : (ssize_t)done;
}

ssize_t wc_cuda_pread(wcodec *w, void *dev_dst, size_t len, uint64_t off)
{
    if (!wc_cuda_probe())
        return wc_fail(WCODEC_E_NODEVICE, "no usable CUDA GPU");
    if (off >= w->file_size || !len)
        return 0;
    if (len > w->file_size - off)
        len = (size_t)(w->file_size - off);
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    int d = 0;
    int rc = ptr_device(dev_dst, &d);
    if (rc)
        return rc;
    uint64_t k0, k1;
    wcodec_chunk_find(w, off, &k0);
    wcodec_chunk_find(w, off + len - 1, &k1);
    wc_job J;
    memset(&J, 0, sizeof J);
    J.w = w;
    J.device_out = 1;
    J.nreq = (size_t)(k1 - k0 + 1);
    J.req = calloc(J.nreq, sizeof *J.req);
    if (!J.req)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    for (size_t i = 0; i < J.nreq; i++) {
        uint64_t coff;
        uint32_t clen;
        wcodec_chunk_extent(w, k0 + i, &coff, &clen);
        uint64_t lo = coff > off ? coff : off;
        uint64_t hi = coff + clen < off + len ? coff + clen : off + len;
        wc_req *q = &J.req[i];
        q->k = k0 + i;
        q->clen = clen;
        q->skip = (uint32_t)(lo - coff);
        q->take = (uint32_t)(hi - lo);
        q->ddst = (uint8_t *)dev_dst + (lo - off);
    }
    rc = job_exec(&J, d);
    free(J.req);
    if (rc == -WCODEC_E_NODEVICE || rc == -WCODEC_E_NOMEM) {
        /* The GPU path failed, not the data: CPU decode, then upload. */
        pthread_mutex_lock(&g_mu);
        int prev = 0;
        cudaGetDevice(&prev);
        cudaSetDevice(d);
        ssize_t r = pread_fallback(w, dev_dst, len, off);
        cudaSetDevice(prev);
        pthread_mutex_unlock(&g_mu);
        return r;
    }
    return rc ? rc : (ssize_t)len;
}

/* ---- benchmark batches (wc_cuda.h) ---------------------------------------- */

struct wc_gbench {
    wcodec *w;
    int dev;
    wc_gctx *ctx;
    wc_gitem *items;
    size_t n;
    wc_gplan plan;
    uint8_t *d_in, *d_out, *d_desc;
    size_t off_blocks, off_err, off_hash, out_bytes;
    uint64_t decoded;
};

void wc_gbench_free(wc_gbench *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&g_mu);
    cudaFree(b->d_in);
    cudaFree(b->d_out);
    cudaFree(b->d_desc);
    pthread_mutex_unlock(&g_mu);
    wc_plan_free(&b->plan);
    free(b->items);
    free(b);
}

static int gbench_prepare(wc_gbench *b, const uint64_t *chunks, size_t n)
{
    wcodec *w = b->w;
    int rc;
    if (cudaGetDevice(&b->dev) != cudaSuccess)
        b->dev = 0;
    if ((rc = dev_ready(b->dev)))
        return rc;
    if (!(b->ctx = ctx_get(w, b->dev)))
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    b->items = calloc(n ? n : 1, sizeof *b->items);
    if (!b->items)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    uint64_t out = 0;
    for (size_t i = 0; i < n; i++) {
        rc = wc_plan_item(w, chunks[i], out, g_dev[b->dev].supported, 1, &b->items[i]);
        if (rc < 0)
            return rc;
        out = (out + b->items[i].dlen + WC_OUT_ALIGN - 1) & ~(uint64_t)(WC_OUT_ALIGN - 1);
        b->decoded += b->items[i].dlen;
    }
    b->n = n;
    b->out_bytes = out;
    CU(cudaMalloc((void **)&b->d_out, out + 64), "output allocation");
    for (size_t i = 0; i < n; i++)
        b->items[i].dst += (uint64_t)(uintptr_t)b->d_out;
    if (wc_plan_build(&b->plan, w, b->items, n, tab_addr, b->ctx))
        return wc_fail(WCODEC_E_NODEVICE, "planning failed");
    const wc_gplan *P = &b->plan;
    uint8_t *h = malloc(P->in_bytes + 64);
    if (!h)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    rc = wc_plan_stage(w, b->items, n, h);
    cudaError_t e = cudaSuccess;
    if (!rc)
        e = cudaMalloc((void **)&b->d_in, P->in_bytes + 64);
    if (!rc && e == cudaSuccess)
        e = cudaMemcpy(b->d_in, h, P->in_bytes, cudaMemcpyHostToDevice);
    free(h);
    if (rc)
        return rc;
    if (e != cudaSuccess)
        return cu_fail(e, "payload upload");
    b->off_blocks = al64(n * sizeof(wc_gjob));
    b->off_err = b->off_blocks + al64((size_t)P->nblocks * sizeof(wc_gblock));
    b->off_hash = b->off_err + al64(n * 4);
    CU(cudaMalloc((void **)&b->d_desc, b->off_hash + n * 8 + 64), "descriptor allocation");
    CU(cudaMemcpy(b->d_desc, P->jobs, n * sizeof(wc_gjob), cudaMemcpyHostToDevice),
       "descriptor upload");
    CU(cudaMemcpy(b->d_desc + b->off_blocks, P->blocks,
                  (size_t)P->nblocks * sizeof(wc_gblock), cudaMemcpyHostToDevice),
       "descriptor upload");
    return 0;
}

int wc_gbench_prepare(wcodec *w, const uint64_t *chunks, size_t n, wc_gbench **out)
{
    *out = NULL;
    if (!wc_cuda_probe())
        return wc_fail(WCODEC_E_NODEVICE, "no usable CUDA GPU");
    wc_gbench *b = calloc(1, sizeof *b);
    if (!b)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    b->w = w;
    pthread_mutex_lock(&g_mu);
    int rc = gbench_prepare(b, chunks, n);
    pthread_mutex_unlock(&g_mu);
    if (rc) {
        wc_gbench_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static int gbench_run(wc_gbench *b, int hash, int iters, double *seconds)
{
    cudaEvent_t t0, t1;
    CU(cudaEventCreate(&t0), "event");
    CU(cudaEventCreate(&t1), "event");
    CU(cudaMemset(b->d_desc + b->off_err, 0, b->n * 4), "memset");
    const wc_gjob *jobs = (const wc_gjob *)b->d_desc;
    const wc_gblock *blocks = (const wc_gblock *)(b->d_desc + b->off_blocks);
    uint32_t *err = (uint32_t *)(b->d_desc + b->off_err);
    uint64_t *hs = hash ? (uint64_t *)(b->d_desc + b->off_hash) : NULL;
    int e = 0;
    CU(cudaEventRecord(t0, 0), "event");
    for (int i = 0; i < iters && !e; i++)
        e = wc_gk_launch(&b->plan, b->d_in, jobs, blocks, err, hs, 0);
    CU(cudaEventRecord(t1, 0), "event");
    if (e)
        return cu_fail((cudaError_t)e, "kernel launch");
    CU(cudaEventSynchronize(t1), "decode");
    float ms = 0;
    CU(cudaEventElapsedTime(&ms, t0, t1), "event");
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    *seconds = iters > 0 ? ms / 1000.0 / iters : 0;
    return 0;
}

int wc_gbench_run(wc_gbench *b, int hash, int iters, double *seconds)
{
    pthread_mutex_lock(&g_mu);
    int rc = gbench_run(b, hash, iters, seconds);
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int wc_gbench_check(wc_gbench *b)
{
    uint8_t *out = malloc(b->out_bytes + 1);
    uint8_t *ref = malloc(b->w->chunk_size);
    uint32_t *err = malloc(b->n * 4 + 4);
    uint64_t *hs = malloc(b->n * 8 + 8);
    int rc = 0;
    if (!out || !ref || !err || !hs) {
        rc = wc_fail(WCODEC_E_NOMEM, "out of memory");
        goto done;
    }
    cudaError_t e = cudaMemcpy(out, b->d_out, b->out_bytes, cudaMemcpyDeviceToHost);
    if (e == cudaSuccess)
        e = cudaMemcpy(err, b->d_desc + b->off_err, b->n * 4, cudaMemcpyDeviceToHost);
    if (e == cudaSuccess)
        e = cudaMemcpy(hs, b->d_desc + b->off_hash, b->n * 8, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess) {
        rc = cu_fail(e, "download");
        goto done;
    }
    for (size_t i = 0; i < b->n && !rc; i++) {
        const wc_gitem *it = &b->items[i];
        const uint8_t *o = out + (it->dst - (uint64_t)(uintptr_t)b->d_out);
        if ((rc = wcodec_chunk_decode(b->w, it->chunk, ref)))
            break;
        if (err[it->job] || hs[it->job] != b->w->chunk[it->chunk].checksum ||
            memcmp(o, ref, it->dlen))
            rc = wc_fail(WCODEC_E_CORRUPT,
                         "%s: chunk %llu: GPU result differs from the CPU (flag %u, "
                         "hash %s, bytes %s)",
                         b->w->name, (unsigned long long)it->chunk, err[it->job],
                         hs[it->job] == b->w->chunk[it->chunk].checksum ? "ok" : "wrong",
                         memcmp(o, ref, it->dlen) ? "wrong" : "ok");
    }
done:
    free(out);
    free(ref);
    free(err);
    free(hs);
    return rc;
}

uint64_t wc_gbench_decoded(const wc_gbench *b) { return b->decoded; }
uint64_t wc_gbench_payload(const wc_gbench *b) { return b->plan.in_bytes; }

void wc_gbench_classes(const wc_gbench *b, uint32_t *jobs_per_class)
{
    memset(jobs_per_class, 0, WC_GCLASSES * sizeof *jobs_per_class);
    for (unsigned l = 0; l < b->plan.nlaunch; l++)
        jobs_per_class[b->plan.launch[l].cls] += b->plan.launch[l].njobs;
}
