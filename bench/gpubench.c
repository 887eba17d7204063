/* gpubench.c - wcodec-gpubench: GPU decode throughput (not installed).
 *
 *   wcodec-gpubench [--dir DIR] [--size-mb N] [--dtypes LIST] [--iters N]
 *                   [--chunk-size N] [--no-e2e] [FILE.wcodec ...]
 *
 * Without files it generates, in DIR (default /tmp/wcodec-gpubench), one
 * trained-looking .safetensors model per dtype of LIST (default
 * bf16,fp16,fp32,fp8,int8; N MiB each, default 2048) and packs it (chunk
 * size default 256 KiB), reusing files already there.
 *
 * For every container it reports, per dtype of its tensors:
 *   kernel   decoded GB/s of the decode kernels alone: all the dtype's
 *            chunks in one batch, payloads uploaded once, output in device
 *            memory (many chunks per launch; best of --iters runs);
 *   +hash    the same plus the XXH3-64 verification kernel;
 * and end to end for the whole file (page cache warm):
 *   pread_cuda   wcodec_pread_cuda into device memory (pread, upload of
 *                compressed payloads, decode, GPU verification);
 *   gpu->host    wcodec_decode_chunks(CUDA) into host memory;
 *   cpu->host    wcodec_decode_chunks(CPU), one thread;
 *   plain        pread of the original .safetensors + cudaMemcpy to the
 *                device (what a loader does without wcodec), when the
 *                original is next to the container.
 * GB = 1e9 bytes. Every kernel result is checked against the CPU decoder.
 *
 * Profile with: nsys profile build/wcodec-gpubench ...  or
 *   ncu --set full -k regex:wc_k_planes build/wcodec-gpubench --iters 1 ...
 * Check with: compute-sanitizer --tool memcheck build/wcodec-gpubench \
 *   --size-mb 64 --iters 1
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime_api.h>

#include "reader.h"
#include "testgen.h"
#include "wc_cuda.h"
#include "wc_gpu.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const struct {
    const char *opt, *dtype;
} dmap[] = {
    {"bf16", "BF16"}, {"fp16", "F16"}, {"fp32", "F32"}, {"fp8", "F8_E4M3"},
    {"int8", "I8"},   {"fp64", "F64"}, {"int32", "I32"}, {"fp8e5", "F8_E5M2"},
};

static const char *dtype_of(const char *opt)
{
    for (size_t i = 0; i < sizeof dmap / sizeof dmap[0]; i++)
        if (!strcmp(dmap[i].opt, opt))
            return dmap[i].dtype;
    return NULL;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* A model-like file: 2-D-ish weight tensors of 64 MiB at most, plus norms. */
static int generate(const char *path, const char *dtype, uint64_t bytes)
{
    unsigned es = !strcmp(dtype, "F32") || !strcmp(dtype, "I32") ? 4
                : !strcmp(dtype, "F64") ? 8
                : dtype[0] == 'F' && dtype[1] == '8' ? 1
                : !strcmp(dtype, "I8") ? 1 : 2;
    size_t cap = (size_t)(bytes / (64u << 20)) * 2 + 8, n = 0;
    wc_tg_tensor *t = calloc(cap, sizeof *t);
    char (*names)[48] = calloc(cap, 48);
    if (!t || !names)
        return -ENOMEM;
    for (uint64_t done = 0; done < bytes && n + 2 < cap;) {
        uint64_t b = bytes - done < (64u << 20) ? bytes - done : (64u << 20);
        snprintf(names[n], 48, "layers.%zu.weight", n / 2);
        t[n] = (wc_tg_tensor){names[n], dtype, b / es, WC_TG_REAL, NULL};
        n++;
        snprintf(names[n], 48, "layers.%zu.norm", n / 2);
        t[n] = (wc_tg_tensor){names[n], dtype, 4096, WC_TG_CONST, NULL};
        n++;
        done += b;
    }
    fprintf(stderr, "generating %s (%s, %llu MiB)...\n", path, dtype,
            (unsigned long long)(bytes >> 20));
    int rc = wc_tg_write(path, t, n, 1);
    free(t);
    free(names);
    return rc;
}

static void kernel_bench(wcodec *w, int iters)
{
    /* group PLANES and JOINT chunks by dtype; everything else in one
     * "other" group */
    for (int dt = 0; dt < WC_DT_COUNT; dt++) {
        uint64_t *ks = NULL;
        size_t n = 0, cap = 0;
        for (uint32_t s = 0; s < w->nseg; s++) {
            const wc_segment *g = &w->seg[s];
            if ((g->c.codec != WC_CODEC_PLANES && g->c.codec != WC_CODEC_JOINT) ||
                g->c.dtype != dt)
                continue;
            uint64_t nc = wc_seg_chunks(g->length, w->chunk_size);
            for (uint64_t k = g->first_chunk; k < g->first_chunk + nc; k++) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 1024;
                    ks = realloc(ks, cap * sizeof *ks);
                    if (!ks)
                        return;
                }
                ks[n++] = k;
            }
        }
        if (!n)
            continue;
        wc_gbench *b;
        if (wc_gbench_prepare(w, ks, n, &b)) {
            printf("  %-8s prepare failed: %s\n", wc_dtype_name(dt), wcodec_errdetail());
            free(ks);
            continue;
        }
        double t1 = 1e30, t2 = 1e30, t;
        int ok = wc_gbench_run(b, 0, 1, &t) == 0; /* warm-up */
        ok = ok && wc_gbench_check(b) == 0;
        if (!ok)
            printf("  %-8s CHECK FAILED: %s\n", wc_dtype_name(dt), wcodec_errdetail());
        for (int i = 0; i < iters && ok; i++) {
            if (wc_gbench_run(b, 0, 1, &t) == 0 && t < t1)
                t1 = t;
            if (wc_gbench_run(b, 1, 1, &t) == 0 && t < t2)
                t2 = t;
        }
        if (ok && wc_gbench_check(b))
            printf("  %-8s CHECK FAILED after hash: %s\n", wc_dtype_name(dt),
                   wcodec_errdetail());
        uint64_t dec = wc_gbench_decoded(b), pay = wc_gbench_payload(b);
        uint32_t cls[WC_GCLASSES];
        wc_gbench_classes(b, cls);
        char cl[256] = "";
        for (int c = 0; c < WC_GCLASSES; c++)
            if (cls[c]) {
                size_t l = strlen(cl);
                if (c)
                    snprintf(cl + l, sizeof cl - l, " %ub/%urans:%u", wc_gclass_es(c),
                             wc_gclass_nr(c), cls[c]);
                else
                    snprintf(cl + l, sizeof cl - l, " copy:%u", cls[c]);
            }
        if (ok)
            printf("  %-8s %6zu chunks %8.1f MB ratio %.3f  kernel %8.1f GB/s  +hash "
                   "%8.1f GB/s  [%s ]\n",
                   wc_dtype_name(dt), n, dec / 1e6, (double)pay / (double)dec,
                   dec / t1 / 1e9, dec / t2 / 1e9, cl);
        wc_gbench_free(b);
        free(ks);
    }
}

static void e2e_bench(wcodec *w, const char *orig)
{
    uint64_t size = wcodec_size(w), n = wcodec_chunk_count(w);
    uint8_t *h = NULL, *d = NULL;
    if (cudaMallocHost((void **)&h, size) != cudaSuccess ||
        cudaMalloc((void **)&d, size) != cudaSuccess) {
        printf("  e2e: cannot allocate %llu bytes\n", (unsigned long long)size);
        goto out;
    }
    double t0 = now();
    ssize_t r = wcodec_pread_cuda(w, d, size, 0);
    double t1 = now();
    if (r == (ssize_t)size)
        printf("  e2e pread_cuda  %8.2f GB/s\n", size / (t1 - t0) / 1e9);
    else
        printf("  e2e pread_cuda  failed: %s\n", wcodec_errdetail());
    t0 = now();
    int rc = wcodec_decode_chunks(w, 0, n, h, WCODEC_DEVICE_CUDA);
    t1 = now();
    printf("  e2e gpu->host   %8.2f GB/s%s\n", size / (t1 - t0) / 1e9, rc ? " (FAILED)" : "");
    t0 = now();
    rc = wcodec_decode_chunks(w, 0, n, h, WCODEC_DEVICE_CPU);
    t1 = now();
    printf("  e2e cpu->host   %8.2f GB/s%s (one thread)\n", size / (t1 - t0) / 1e9,
           rc ? " (FAILED)" : "");
    if (orig && exists(orig)) {
        int fd = open(orig, O_RDONLY);
        if (fd >= 0) {
            t0 = now();
            uint64_t got = 0;
            while (got < size) {
                ssize_t k = pread(fd, h + got, size - got, (off_t)got);
                if (k <= 0)
                    break;
                got += (uint64_t)k;
            }
            cudaMemcpy(d, h, got, cudaMemcpyHostToDevice);
            t1 = now();
            close(fd);
            printf("  e2e plain file  %8.2f GB/s (pread + cudaMemcpy of the original)\n",
                   got / (t1 - t0) / 1e9);
        }
    }
out:
    cudaFreeHost(h);
    cudaFree(d);
}

static void usage(void)
{
    fprintf(stderr,
            "Usage: wcodec-gpubench [--dir DIR] [--size-mb N] [--dtypes LIST] "
            "[--iters N]\n"
            "                       [--chunk-size N] [--no-e2e] [FILE.wcodec ...]\n"
            "LIST: comma-separated of bf16 fp16 fp32 fp8 int8 fp64 int32 fp8e5\n");
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp/wcodec-gpubench", *dtypes = "bf16,fp16,fp32,fp8,int8";
    uint64_t size_mb = 2048;
    uint32_t chunk = 0;
    int iters = 10, e2e = 1, nf = 0;
    char **files = calloc((size_t)argc + 16, sizeof *files);
    char **origs = calloc((size_t)argc + 16, sizeof *origs);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--size-mb") && i + 1 < argc)
            size_mb = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dtypes") && i + 1 < argc)
            dtypes = argv[++i];
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--chunk-size") && i + 1 < argc)
            chunk = (uint32_t)strtoul(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--no-e2e"))
            e2e = 0;
        else if (argv[i][0] == '-') {
            usage();
            return 2;
        } else
            files[nf++] = argv[i];
    }
    if (!wcodec_cuda_available()) {
        fprintf(stderr, "wcodec-gpubench: no usable CUDA GPU\n");
        return 77;
    }
    struct cudaDeviceProp prop;
    int dev = 0;
    cudaGetDevice(&dev);
    if (cudaGetDeviceProperties(&prop, dev) == cudaSuccess)
        printf("device %d: %s, %d SMs, cc %d.%d, %.0f GiB\n", dev, prop.name,
               prop.multiProcessorCount, prop.major, prop.minor,
               prop.totalGlobalMem / 1073741824.0);

    if (!nf) {
        mkdir(dir, 0755);
        char *list = strdup(dtypes);
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
            const char *dt = dtype_of(tok);
            if (!dt) {
                fprintf(stderr, "unknown dtype %s\n", tok);
                return 2;
            }
            char st[1024], wc[1100];
            snprintf(st, sizeof st, "%s/bench-%s-%lluM.safetensors", dir, tok,
                     (unsigned long long)size_mb);
            snprintf(wc, sizeof wc, "%s/bench-%s-%lluM-c%u.wcodec", dir, tok,
                     (unsigned long long)size_mb, chunk);
            if (!exists(st) && generate(st, dt, size_mb << 20)) {
                fprintf(stderr, "cannot write %s\n", st);
                return 1;
            }
            if (!exists(wc)) {
                wcodec_pack_options o;
                wcodec_pack_options_init(&o);
                o.chunk_size = chunk;
                fprintf(stderr, "packing %s...\n", wc);
                if (wcodec_pack_file(st, wc, &o)) {
                    fprintf(stderr, "pack: %s\n", wcodec_errdetail());
                    return 1;
                }
            }
            files[nf] = strdup(wc);
            origs[nf++] = strdup(st);
        }
        free(list);
    }
    for (int i = 0; i < nf; i++) {
        wcodec *w;
        if (wcodec_open(files[i], &w)) {
            fprintf(stderr, "%s: %s\n", files[i], wcodec_errdetail());
            continue;
        }
        printf("%s: %.1f MB -> %.1f MB (%.3f), chunk %u KiB, %llu chunks\n", files[i],
               wcodec_size(w) / 1e6, wcodec_packed_size(w) / 1e6,
               (double)wcodec_packed_size(w) / (double)wcodec_size(w),
               wcodec_chunk_size(w) >> 10, (unsigned long long)wcodec_chunk_count(w));
        kernel_bench(w, iters);
        if (e2e)
            e2e_bench(w, origs[i]);
        wcodec_close(w);
    }
    uint64_t ok, wrong, bad;
    wc_cuda_counters(&ok, &wrong, &bad);
    if (wrong)
        printf("WARNING: %llu chunks decoded wrongly by the GPU (CPU fallback used)\n",
               (unsigned long long)wrong);
    return wrong ? 1 : 0;
}
