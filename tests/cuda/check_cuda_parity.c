/* check_cuda_parity.c - the CUDA decoder gives the CPU decoder's bytes.
 *
 * For generated files with every dtype (REAL / CONST / RANDOM / byte-mix
 * tensors, small zstd-coded tensors; several chunk sizes) and every
 * .safetensors of the corpus ($WCODEC_CORPUS, skipped if unset or absent),
 * packed with wcodec_pack_file:
 *   1. wc_cuda_decode_chunks to host memory, all chunks and random ranges;
 *   2. wc_cuda_decode_chunks to device memory, copied back;
 *   3. wcodec_pread_cuda into device memory: the whole file, and random
 *      byte ranges at misaligned device addresses (bytes around the range
 *      must stay untouched);
 * all compared with wcodec_pread on the CPU. The backend's counters must
 * show no chunk the GPU got wrong (the backend would otherwise have
 * silently used the CPU's bytes). Then a damaged container: GPU reads must
 * fail with WCODEC_E_CORRUPT, never return bytes.
 *
 * Exit 77 (skip) when the build has no CUDA or there is no usable GPU.
 *
 * On a GPU machine, also run it under compute-sanitizer:
 *   compute-sanitizer --tool memcheck  --error-exitcode 1 build/check_cuda_parity
 *   compute-sanitizer --tool racecheck --error-exitcode 1 build/check_cuda_parity
 *   compute-sanitizer --tool synccheck --error-exitcode 1 build/check_cuda_parity
 *   compute-sanitizer --tool initcheck --error-exitcode 1 build/check_cuda_parity
 * WCODEC_PARITY_QUICK=1: small generated files only, fewer random ranges
 * (for slow runs: compute-sanitizer, or the mock build check_cuda_parity_mock
 * that runs this test on the CPU warp emulator, see cuda/mockcuda.cc).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wcodec.h"

#ifndef WCODEC_HAVE_CUDA
int main(void)
{
    printf("SKIP: libwcodec was built without the CUDA backend (nvcc or the "
           "CUDA runtime not found, or -Dcuda=disabled)\n");
    return 77;
}
#else

#include <cuda_runtime_api.h>

#include "testgen.h"
#include "wc_cuda.h"
#include "device.h"

static int failures;
static const char *cur = "";

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL [%s]: ", cur);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

static int quick;
static uint64_t rng = 0x12345678;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

#define CK(call)                                                                 \
    do {                                                                         \
        cudaError_t e_ = (call);                                                 \
        if (e_ != cudaSuccess) {                                                 \
            fail("%s: %s", #call, cudaGetErrorString(e_));                       \
            return;                                                              \
        }                                                                        \
    } while (0)

#define GUARD 64

static void check_container(const char *path)
{
    wcodec *w;
    cur = path;
    if (wcodec_open(path, &w)) {
        fail("open: %s", wcodec_errdetail());
        return;
    }
    uint64_t size = wcodec_size(w), n = wcodec_chunk_count(w);
    uint8_t *ref = malloc(size + 1), *got = malloc(size + 2 * GUARD + 8);
    uint8_t *dbuf = NULL;
    if (!ref || !got) {
        fail("out of memory");
        goto out;
    }
    if (wcodec_pread(w, ref, size, 0) != (ssize_t)size) {
        fail("CPU read: %s", wcodec_errdetail());
        goto out;
    }

    /* 1. host output */
    memset(got, 0xab, size);
    int rc = wc_cuda_decode_chunks(w, 0, n, got, 0);
    if (rc || memcmp(got, ref, size))
        fail("decode_chunks to host: rc %d (%s), bytes %s", rc, wcodec_errdetail(),
             rc ? "-" : "differ");
    for (int t = 0; t < (quick ? 3 : 8) && n; t++) {
        uint64_t first = rnd() % n, count = 1 + rnd() % (n - first);
        uint64_t off, end;
        uint32_t len;
        wcodec_chunk_extent(w, first, &off, &len);
        wcodec_chunk_extent(w, first + count - 1, &end, &len);
        end += len;
        rc = wcodec_decode_chunks(w, first, count, got, WCODEC_DEVICE_CUDA);
        if (rc || memcmp(got, ref + off, end - off))
            fail("decode_chunks %llu+%llu to host: rc %d", (unsigned long long)first,
                 (unsigned long long)count, rc);
    }

    /* 2. device output, whole file */
    if (cudaMalloc((void **)&dbuf, size + 2 * GUARD + 8) != cudaSuccess) {
        fail("cudaMalloc %llu bytes", (unsigned long long)(size + 2 * GUARD));
        goto out;
    }
    if (cudaMemset(dbuf, 0xcd, size + 2 * GUARD) != cudaSuccess) {
        fail("cudaMemset");
        goto out;
    }
    rc = wc_cuda_decode_chunks(w, 0, n, dbuf + GUARD, 1);
    if (rc || cudaMemcpy(got, dbuf + GUARD, size, cudaMemcpyDeviceToHost) ||
        memcmp(got, ref, size))
        fail("decode_chunks to device: rc %d (%s)", rc, wcodec_errdetail());

    /* 3. wcodec_pread_cuda: whole file, then ranges at odd addresses */
    ssize_t r = wcodec_pread_cuda(w, dbuf + GUARD, size, 0);
    if (r != (ssize_t)size || cudaMemcpy(got, dbuf + GUARD, size, cudaMemcpyDeviceToHost) ||
        memcmp(got, ref, size))
        fail("pread_cuda whole file: %zd (%s)", r, wcodec_errdetail());
    uint32_t cs = wcodec_chunk_size(w);
    for (int t = 0; t < (quick ? 8 : 40); t++) {
        uint64_t off = rnd() % size;
        uint64_t max = size - off;
        uint64_t len;
        switch (t % 4) {
        case 0: len = 1 + rnd() % 64; break;                  /* tiny */
        case 1: len = 1 + rnd() % (2 * (uint64_t)cs); break;  /* around a chunk */
        case 2: len = max; break;                             /* to the end */
        default: len = 1 + rnd() % (8 * (uint64_t)cs); break; /* several */
        }
        if (len > max)
            len = max;
        unsigned shift = (unsigned)(rnd() % 8);
        if (cudaMemset(dbuf, 0xcd, size + 2 * GUARD) != cudaSuccess) {
            fail("cudaMemset");
            goto out;
        }
        r = wcodec_pread_cuda(w, dbuf + GUARD + shift, len, off);
        if (r != (ssize_t)len) {
            fail("pread_cuda %llu+%llu: %zd (%s)", (unsigned long long)off,
                 (unsigned long long)len, r, wcodec_errdetail());
            continue;
        }
        if (cudaMemcpy(got, dbuf, len + 2 * GUARD, cudaMemcpyDeviceToHost)) {
            fail("cudaMemcpy");
            goto out;
        }
        if (memcmp(got + GUARD + shift, ref + off, len))
            fail("pread_cuda %llu+%llu at +%u: bytes differ", (unsigned long long)off,
                 (unsigned long long)len, shift);
        for (unsigned b = 0; b < GUARD + shift; b++)
            if (got[b] != 0xcd) {
                fail("pread_cuda %llu+%llu: wrote before the destination",
                     (unsigned long long)off, (unsigned long long)len);
                break;
            }
        for (uint64_t b = GUARD + shift + len; b < len + 2 * GUARD; b++)
            if (got[b] != 0xcd) {
                fail("pread_cuda %llu+%llu: wrote past the destination",
                     (unsigned long long)off, (unsigned long long)len);
                break;
            }
    }
    /* past the end: 0 bytes */
    if (wcodec_pread_cuda(w, dbuf, 16, size) != 0)
        fail("pread_cuda past the end did not return 0");
out:
    cudaFree(dbuf);
    free(ref);
    free(got);
    wcodec_close(w);
}

/* Flip bytes in the middle of the biggest non-raw chunk payloads: a GPU read
 * of the whole file must fail with CORRUPT. */
static void check_corrupt(const char *path, const char *tmp)
{
    cur = "corrupt";
    wcodec *w;
    if (wcodec_open(path, &w)) {
        fail("open: %s", wcodec_errdetail());
        return;
    }
    uint64_t size = wcodec_size(w);
    wcodec_close(w);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, tmp);
    if (system(cmd)) {
        fail("cp");
        return;
    }
    int fd = open(tmp, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        fail("open %s", tmp);
        return;
    }
    /* payloads sit between the 80-byte superblock and the index: damage a
     * byte in the first quarter of the file, where tensor payloads are */
    for (int i = 0; i < 3; i++) {
        off_t at = 4096 + (off_t)(rnd() % (uint64_t)(st.st_size / 4));
        uint8_t b;
        if (pread(fd, &b, 1, at) == 1) {
            b ^= 0x10;
            if (pwrite(fd, &b, 1, at) != 1)
                fail("pwrite");
        }
    }
    close(fd);
    if (wcodec_open(tmp, &w)) {
        fail("open damaged: %s", wcodec_errdetail());
        return;
    }
    uint8_t *d = NULL;
    if (cudaMalloc((void **)&d, size) == cudaSuccess) {
        ssize_t r = wcodec_pread_cuda(w, d, size, 0);
        if (r != -WCODEC_E_CORRUPT)
            fail("damaged container: pread_cuda returned %zd, not -CORRUPT", r);
        cudaFree(d);
    }
    uint8_t *h = malloc(size);
    if (h) {
        int rc = wcodec_decode_chunks(w, 0, wcodec_chunk_count(w), h, WCODEC_DEVICE_CUDA);
        if (rc != -WCODEC_E_CORRUPT)
            fail("damaged container: decode_chunks returned %d, not -CORRUPT", rc);
        free(h);
    }
    wcodec_close(w);
    unlink(tmp);
}

static char tmpdir[] = "/tmp/wcodec-parity-XXXXXX";

/* WCODEC_PARITY_FALLBACK: the GPU is made to fail (the mock runtime's
 * WCODEC_MOCK_FAIL): the public calls must still give the right bytes,
 * from the CPU. */
static int check_fallback(const char *path)
{
    cur = "fallback";
    wcodec *w;
    if (wcodec_open(path, &w)) {
        fail("open: %s", wcodec_errdetail());
        return 1;
    }
    uint64_t size = wcodec_size(w);
    uint8_t *ref = malloc(size), *got = malloc(size), *d = NULL;
    if (!ref || !got || wcodec_pread(w, ref, size, 0) != (ssize_t)size ||
        cudaMalloc((void **)&d, size) != cudaSuccess) {
        fail("setup");
        return 1;
    }
    for (int round = 0; round < 2; round++) {
        int rc = wcodec_decode_chunks(w, 0, wcodec_chunk_count(w), got, WCODEC_DEVICE_CUDA);
        if (rc || memcmp(got, ref, size))
            fail("round %d: decode_chunks after a GPU failure: %d", round, rc);
        memset(got, 0, size);
        ssize_t r = wcodec_pread_cuda(w, d, size, 0);
        if (r != (ssize_t)size || cudaMemcpy(got, d, size, cudaMemcpyDeviceToHost) ||
            memcmp(got, ref, size))
            fail("round %d: pread_cuda after a GPU failure: %zd (%s)", round, r,
                 wcodec_errdetail());
    }
    cudaFree(d);
    free(ref);
    free(got);
    wcodec_close(w);
    printf("fallback: the CPU served every read after the GPU failed\n");
    return 0;
}

static int pack(const char *src, const char *name, uint32_t chunk, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s/%s.%u.wcodec", tmpdir, name, chunk);
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    o.chunk_size = chunk;
    o.force = 1;
    int rc = wcodec_pack_file(src, dst, &o);
    if (rc)
        fail("pack %s: %s", src, wcodec_errdetail());
    return rc;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!wcodec_cuda_available()) {
        int n = -1;
        cudaError_t e = cudaGetDeviceCount(&n);
        printf("SKIP: no usable CUDA GPU (%s%s)\n",
               e == cudaSuccess ? "no device of compute capability 8.0+"
                                : cudaGetErrorString(e),
               getenv("WCODEC_NO_CUDA") ? "; WCODEC_NO_CUDA is set" : "");
        return 77;
    }
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char src[512], dst[600], tmp[600];
    snprintf(tmp, sizeof tmp, "%s/damaged.wcodec", tmpdir);
    quick = getenv("WCODEC_PARITY_QUICK") != NULL;

    if (getenv("WCODEC_PARITY_FALLBACK")) {
        snprintf(src, sizeof src, "%s/fb.safetensors", tmpdir);
        if (wc_tg_all_dtypes(src, 1, 7) || pack(src, "fb", 65536, dst, sizeof dst))
            return 1;
        check_fallback(dst);
        unlink(src);
        unlink(dst);
        rmdir(tmpdir);
        return failures ? 1 : 0;
    }

    /* generated: every dtype; sizes x1 and x40 (to fill 256 KiB chunks) */
    static const unsigned scales[] = {1, 40};
    static const uint32_t chunks[] = {4096, 65536, 0};
    const int ns = quick ? 1 : 2;
    for (int s = 0; s < ns; s++) {
        snprintf(src, sizeof src, "%s/all%u.safetensors", tmpdir, scales[s]);
        if (wc_tg_all_dtypes(src, scales[s], 100 + s)) {
            fail("generate %s", src);
            continue;
        }
        for (int c = quick ? 1 : 0; c < (quick ? 2 : 3); c++) {
            char name[32];
            snprintf(name, sizeof name, "all%u", scales[s]);
            if (pack(src, name, chunks[c], dst, sizeof dst))
                continue;
            printf("generated x%u, chunk %u\n", scales[s], chunks[c]);
            check_container(dst);
            if (s == ns - 1 && c == (quick ? 1 : 2))
                check_corrupt(dst, tmp);
            unlink(dst);
        }
        unlink(src);
    }
    /* eight RANS planes */
    snprintf(src, sizeof src, "%s/mix8.safetensors", tmpdir);
    const wc_tg_tensor t8[] = {
        {"a", "U64", 50001, WC_TG_BYTES, "ssssssss"},
        {"b", "F64", 40099, WC_TG_BYTES, "ssssssss"},
        {"c", "I64", 30003, WC_TG_BYTES, "sssssssr"},
    };
    if (!wc_tg_write(src, t8, 3, 8) && !pack(src, "mix8", 65536, dst, sizeof dst)) {
        printf("mix8\n");
        check_container(dst);
        unlink(dst);
    }
    unlink(src);

    const char *corpus = getenv("WCODEC_CORPUS");
    if (quick) {
        printf("corpus: skipped (WCODEC_PARITY_QUICK)\n");
    } else if (!corpus || !*corpus) {
        printf("corpus: WCODEC_CORPUS not set, skipped\n");
    } else {
        DIR *d = opendir(corpus);
        if (!d) {
            printf("corpus: %s: %s, skipped\n", corpus, strerror(errno));
        } else {
            struct dirent *e;
            while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (l < 13 || strcmp(e->d_name + l - 12, ".safetensors"))
                    continue;
                snprintf(src, sizeof src, "%s/%s", corpus, e->d_name);
                for (int c = 0; c < 2; c++) {
                    uint32_t cs = c ? 16384 : 0;
                    if (pack(src, "corpus", cs, dst, sizeof dst))
                        continue;
                    printf("corpus %s, chunk %u\n", e->d_name, cs);
                    check_container(dst);
                    unlink(dst);
                }
            }
            closedir(d);
        }
    }
    rmdir(tmpdir);

    uint64_t ok, wrong, bad;
    wc_cuda_counters(&ok, &wrong, &bad);
    printf("GPU chunks verified: %llu; GPU wrong but CPU right: %llu; corrupt: %llu\n",
           (unsigned long long)ok, (unsigned long long)wrong, (unsigned long long)bad);
    if (wrong)
        fail("the GPU decoded %llu chunks wrongly (the CPU fallback hid it)",
             (unsigned long long)wrong);
    if (!ok)
        fail("no chunk was decoded by the GPU");
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("GPU and CPU decoders agree\n");
    return 0;
}
#endif
