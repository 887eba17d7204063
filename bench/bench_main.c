/* bench_main.c - wcodec-bench: in-memory decode throughput of a container,
 * one thread, median of N passes, every chunk checksum-verified. Not
 * installed; used by scripts/bench-decode.sh and scripts/bench-*.
 *
 * The container is read into memory once (as `zstd -b` does with its
 * input), then every pass decodes every chunk from there into one buffer
 * and checks its XXH3 checksum: the work wcodec_chunk_decode does after its
 * payload read. --pread decodes through wcodec_chunk_decode instead (one
 * pread of the payload per chunk, as the mount does).
 *
 * Besides the whole file it reports each codec class on its own (bytes,
 * GB/s, cycles per byte): zstd, raw (stored), joint, and planes by element
 * size (planes/1 is the 1-byte-symbol rANS path: every U8, I8 and FP8
 * byte is one symbol). Chunk times come from rdtsc; the TSC rate is
 * calibrated against clock_gettime, and the core clock is measured with a
 * chain of dependent adds (one per cycle), so cycles per byte are core
 * cycles even where the core runs faster than its TSC. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "cli.h"
#include "codec.h"
#include "hash.h"
#include "rans.h"
#include "reader.h"
#include "wcodec.h"

enum { BC_RAW, BC_ZSTD, BC_JOINT, BC_PL1, BC_PL2, BC_PL4, BC_PL8, BC_COUNT };
static const char *const bc_name[BC_COUNT] = {
    "raw", "zstd", "joint", "planes/1", "planes/2", "planes/4", "planes/8"};

static int bc_class(const wcodec *w, uint64_t k)
{
    const wc_segcodec *c = &w->seg[w->chunk_seg[k]].c;
    if ((w->chunk[k].flags & WC_CHUNK_F_RAW) || c->codec == WC_CODEC_RAW)
        return BC_RAW;
    if (c->codec == WC_CODEC_ZSTD)
        return BC_ZSTD;
    if (c->codec == WC_CODEC_JOINT)
        return BC_JOINT;
    unsigned es = wc_dtype_size(c->dtype);
    return es == 1 ? BC_PL1 : es == 2 ? BC_PL2 : es == 4 ? BC_PL4 : BC_PL8;
}

static double bc_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* TSC ticks per second over ~50 ms of wall clock. */
static double bc_tsc_hz(void)
{
    double t0 = bc_now();
    uint64_t c0 = __rdtsc();
    while (bc_now() - t0 < 0.05)
        ;
    double t1 = bc_now();
    uint64_t c1 = __rdtsc();
    return (double)(c1 - c0) / (t1 - t0);
}

/* Core cycles per second: 2^26 dependent register adds take 2^26 cycles on
 * any x86 core of the last 20 years (adds of an immediate would not do:
 * Golden Cove's renamer folds those chains). Best of 5 (a busy neighbour
 * only slows it). */
static double bc_core_hz(void)
{
    double best = 0;
    for (int r = 0; r < 5; r++) {
        uint64_t x = 0, one = 1, n = 1u << 23;
        double t0 = bc_now();
        for (uint64_t i = 0; i < n; i++)
            __asm__ volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                             "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                             "add %1, %0\n\tadd %1, %0"
                             : "+r"(x)
                             : "r"(one));
        double hz = 8.0 * (double)n / (bc_now() - t0);
        best = hz > best ? hz : best;
    }
    return best;
}

static int bc_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double bc_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bc_cmp);
    return v[n / 2];
}

static void bc_usage(FILE *f)
{
    fprintf(f,
            "Usage: wcodec-bench [--simd scalar|avx2|avx512] [--pread] "
            "[--single] FILE.wcodec [PASSES]\n"
            "Decode every chunk single-threaded PASSES times (default 5), in\n"
            "memory, checksums verified. First line: size packed ratio\n"
            "best_GBps median_GBps; then the clock and, per codec class,\n"
            "chunks, decoded and packed bytes, median GB/s and cycles/byte\n"
            "(with the checksum, and of the decode alone). Coded chunks\n"
            "decode in pairs, as the mount decodes runs; --single: one by\n"
            "one; --pread: through wcodec_chunk_decode, one pread each.\n");
}

int main(int argc, char **argv)
{
    int use_pread = 0, single = 0, ai = 1;
    for (; ai < argc && argv[ai][0] == '-'; ai++) {
        if (!strcmp(argv[ai], "-h") || !strcmp(argv[ai], "--help")) {
            bc_usage(stdout);
            return 0;
        } else if (!strcmp(argv[ai], "--pread")) {
            use_pread = 1;
        } else if (!strcmp(argv[ai], "--single")) {
            single = 1;
        } else if (!strcmp(argv[ai], "--simd") && ai + 1 < argc) {
            int l = rans_simd_from_name(argv[++ai]);
            if (l < 0 || rans_simd_select(l)) {
                fprintf(stderr, "wcodec-bench: --simd %s: not available "
                                "here\n", argv[ai]);
                return 77;
            }
        } else {
            bc_usage(stderr);
            return 2;
        }
    }
    if (ai >= argc) {
        bc_usage(stderr);
        return 2;
    }
    int passes = ai + 1 < argc ? atoi(argv[ai + 1]) : 5;
    if (passes < 1)
        passes = 1;
    wcodec *w;
    int rc = wcodec_open(argv[ai], &w);
    if (rc) {
        fprintf(stderr, "wcodec-bench: %s\n", wcodec_errdetail());
        return 1;
    }
    /* The whole container in memory (the index too: offsets are file
     * offsets). */
    uint8_t *file = malloc(w->packed_size ? w->packed_size : 1);
    uint8_t *buf = malloc(w->chunk_size);
    uint8_t *scratch = malloc(2 * (size_t)w->chunk_size);
    double *t = calloc((size_t)passes, sizeof *t);
    double *ct = calloc((size_t)passes * BC_COUNT, sizeof *ct);
    double *dt = calloc((size_t)passes * BC_COUNT, sizeof *dt);
    uint8_t *buf2 = malloc(w->chunk_size);
    if (!file || !buf || !buf2 || !scratch || !t || !ct || !dt)
        return 1;
    for (uint64_t got = 0; got < w->packed_size;) {
        ssize_t r = pread(w->fd, file + got, w->packed_size - got, (off_t)got);
        if (r <= 0) {
            fprintf(stderr, "wcodec-bench: %s: read failed\n", argv[ai]);
            return 1;
        }
        got += (uint64_t)r;
    }
    uint64_t nb[BC_COUNT] = {0}, np[BC_COUNT] = {0}, nc[BC_COUNT] = {0};
    for (uint64_t k = 0; k < w->nchunks; k++) {
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, k, &off, &len);
        int c = bc_class(w, k);
        nb[c] += len;
        np[c] += w->chunk[k].csize;
        nc[c]++;
    }
    double tsc_hz = bc_tsc_hz(), core_hz = bc_core_hz();
    for (int p = 0; p < passes; p++) {
        uint64_t cyc[BC_COUNT] = {0}, dcyc[BC_COUNT] = {0};
        double t0 = bc_now();
        for (uint64_t k = 0; k < w->nchunks; k++) {
            uint64_t off;
            uint32_t len, len2 = 0;
            wcodec_chunk_extent(w, k, &off, &len);
            const wc_chunk *ch = &w->chunk[k], *ch2 = ch + 1;
            int c = bc_class(w, k), c2 = -1;
            /* Two coded chunks at a time, as wc_decode_run (the mount)
             * does: their rANS blocks decode interleaved. */
            if (k + 1 < w->nchunks)
                c2 = bc_class(w, k + 1);
            int two = !use_pread && !single && c != BC_RAW && c != BC_ZSTD &&
                      c2 != -1 && c2 != BC_RAW && c2 != BC_ZSTD;
            uint64_t c0 = __rdtsc(), c1;
            if (use_pread) {
                rc = wcodec_chunk_decode(w, k, buf);
                c1 = __rdtsc();
            } else if (ch->flags & WC_CHUNK_F_RAW) {
                memcpy(buf, file + ch->offset, len);
                c1 = __rdtsc();
                rc = wc_hash64(buf, len) != ch->checksum;
            } else if (two) {
                wcodec_chunk_extent(w, k + 1, &off, &len2);
                rc = wc_chunk_decode_pair(&w->seg[w->chunk_seg[k]].c,
                                          file + ch->offset, ch->csize, buf,
                                          len, &w->seg[w->chunk_seg[k + 1]].c,
                                          file + ch2->offset, ch2->csize,
                                          buf2, len2, scratch);
                c1 = __rdtsc();
                rc = rc || wc_hash64(buf, len) != ch->checksum ||
                     wc_hash64(buf2, len2) != ch2->checksum;
                k++;
            } else {
                rc = wc_chunk_decode(&w->seg[w->chunk_seg[k]].c,
                                     file + ch->offset, ch->csize, buf, len,
                                     scratch);
                c1 = __rdtsc();
                rc = rc || wc_hash64(buf, len) != ch->checksum;
            }
            uint64_t all = __rdtsc() - c0, dec = c1 - c0;
            if (two && c2 != c) { /* a mixed pair: shared by bytes */
                double f = (double)len / ((double)len + len2);
                cyc[c] += (uint64_t)(f * (double)all);
                cyc[c2] += all - (uint64_t)(f * (double)all);
                dcyc[c] += (uint64_t)(f * (double)dec);
                dcyc[c2] += dec - (uint64_t)(f * (double)dec);
            } else {
                cyc[c] += all;
                dcyc[c] += dec;
            }
            if (rc) {
                fprintf(stderr, "wcodec-bench: %s: chunk %llu does not "
                                "decode\n",
                        argv[ai], (unsigned long long)k);
                return 1;
            }
        }
        t[p] = bc_now() - t0;
        for (int c = 0; c < BC_COUNT; c++) {
            ct[(size_t)c * passes + p] = (double)cyc[c] / tsc_hz;
            dt[(size_t)c * passes + p] = (double)dcyc[c] / tsc_hz;
        }
    }
    double sz = (double)wcodec_size(w);
    double best = t[0];
    for (int p = 1; p < passes; p++)
        best = t[p] < best ? t[p] : best;
    double med = bc_median(t, passes);
    printf("%llu %llu %.4f %.3f %.3f\n", (unsigned long long)wcodec_size(w),
           (unsigned long long)wcodec_packed_size(w),
           (double)wcodec_packed_size(w) / sz, sz / best / 1e9, sz / med / 1e9);
    printf("# path %s, %s%s, %d passes; clock: TSC %.3f GHz (rdtsc vs "
           "clock_gettime), core %.3f GHz (dependent adds); cycles/byte are "
           "core cycles\n",
           rans_simd_name(rans_simd_active()),
           use_pread ? "pread per chunk" : "in memory",
           use_pread || single ? "" : ", chunks in pairs", passes, tsc_hz / 1e9,
           core_hz / 1e9);
    printf("# %-9s %7s %12s %12s %6s %8s %8s %9s\n", "codec", "chunks",
           "bytes", "packed", "ratio", "GB/s", "cyc/B", "dec cyc/B");
    for (int c = 0; c < BC_COUNT; c++) {
        if (!nc[c])
            continue;
        double s = bc_median(ct + (size_t)c * passes, passes);
        double d = bc_median(dt + (size_t)c * passes, passes);
        printf("# %-9s %7llu %12llu %12llu %6.4f %8.3f %8.3f %9.3f\n",
               bc_name[c], (unsigned long long)nc[c],
               (unsigned long long)nb[c], (unsigned long long)np[c],
               (double)np[c] / (double)nb[c], (double)nb[c] / s / 1e9,
               s * core_hz / (double)nb[c], d * core_hz / (double)nb[c]);
    }
    free(file);
    free(buf);
    free(scratch);
    free(t);
    free(ct);
    free(dt);
    free(buf2);
    wcodec_close(w);
    return 0;
}
