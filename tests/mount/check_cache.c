/* check_cache.c - unit tests of the chunk cache (src/cache.c), no FUSE.
 *
 * Packs a synthetic safetensors file with small chunks (many of them, so a
 * small cache thrashes), then checks that reads through the cache return
 * the original bytes under concurrency, eviction and read-ahead; that no
 * chunk is decoded twice at once; that memory stays within the capacity;
 * that a corrupt chunk fails the reads touching it (every time) and only
 * those; and that a file can be dropped while read-ahead is in flight.
 * Exit status 0 = pass, 1 = fail (meson protocol 'exitcode').
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "reader.h"
#include "wcodec.h"

static int failures;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static uint8_t *orig;
static size_t orig_len;
static char dir[] = "/tmp/check-mount-cache.XXXXXX";
static char st_path[4200], wc_path[4200], bad_path[4200];

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double rng_gauss(uint64_t *s)
{
    double u = ((double)(rng_next(s) >> 11) + 1) / 9007199254740993.0;
    double v = (double)(rng_next(s) >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* A BF16 tensor and an F32 tensor of trained-looking values. */
static int make_safetensors(const char *path)
{
    const size_t nb = 2u << 20, nf = 1u << 19;
    char hdr[512];
    int hl = snprintf(hdr, sizeof hdr,
                      "{\"a\":{\"dtype\":\"BF16\",\"shape\":[%zu],"
                      "\"data_offsets\":[0,%zu]},\"b\":{\"dtype\":\"F32\","
                      "\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}}",
                      nb, 2 * nb, nf, 2 * nb, 2 * nb + 4 * nf);
    while (hl % 8)
        hdr[hl++] = ' ';
    orig_len = 8 + (size_t)hl + 2 * nb + 4 * nf;
    orig = malloc(orig_len);
    if (!orig)
        return -1;
    uint64_t n = (uint64_t)hl;
    memcpy(orig, &n, 8);
    memcpy(orig + 8, hdr, (size_t)hl);
    uint8_t *p = orig + 8 + hl;
    uint64_t s = 0x1234567;
    for (size_t i = 0; i < nb; i++) {
        float f = (float)(rng_gauss(&s) * 0.02);
        uint32_t u;
        memcpy(&u, &f, 4);
        uint16_t b = (uint16_t)(u >> 16);
        memcpy(p + 2 * i, &b, 2);
    }
    p += 2 * nb;
    for (size_t i = 0; i < nf; i++) {
        float f = (float)(rng_gauss(&s) * 0.05);
        memcpy(p + 4 * i, &f, 4);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(orig, 1, orig_len, f) != orig_len || fclose(f))
        return -1;
    return 0;
}

static cache *new_cache(uint64_t cap, uint64_t ra, unsigned threads)
{
    cache_config cfg;
    cache_config_init(&cfg);
    cfg.capacity = cap;
    cfg.readahead = ra;
    cfg.prefetch_threads = threads;
    cache *c;
    if (cache_create(&cfg, &c)) {
        fprintf(stderr, "cache_create: %s\n", wcodec_errdetail());
        exit(1);
    }
    return c;
}

/* ---- concurrent readers ---------------------------------------------------- */

typedef struct {
    cache *c;
    cache_file *f;
    int mode; /* 0 random, 1 sequential with jitter, 2 whole file in order */
    uint64_t seed;
    size_t step;
    pthread_barrier_t *start;
    int bad;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    cache_stream *s = NULL;
    if (a->mode)
        cache_stream_open(a->c, a->f, &s);
    uint8_t *buf = malloc(1u << 20);
    uint64_t seed = a->seed;
    if (a->start)
        pthread_barrier_wait(a->start);
    if (a->mode == 0) {
        for (int i = 0; i < 400 && !a->bad; i++) {
            uint64_t off = rng_next(&seed) % (orig_len + 1000);
            size_t len = (size_t)(rng_next(&seed) % (300u << 10)) + 1;
            ssize_t r = cache_pread(a->c, a->f, NULL, buf, len, off);
            size_t want = off >= orig_len ? 0
                          : len < orig_len - off ? len : orig_len - off;
            if (r != (ssize_t)want || (want && memcmp(buf, orig + off, want)))
                a->bad = 1;
        }
    } else {
        /* Requests that arrive slightly out of order, as FUSE threads and
         * kernel read-ahead deliver them. */
        uint64_t off = 0;
        while (off < orig_len && !a->bad) {
            size_t len = a->step;
            uint64_t o = off;
            if (a->mode == 1 && rng_next(&seed) % 4 == 0 && off >= len)
                o = off - len / 2;
            ssize_t r = cache_pread(a->c, a->f, s, buf, len, o);
            size_t want = len < orig_len - o ? len : orig_len - o;
            if (r != (ssize_t)want || memcmp(buf, orig + o, want))
                a->bad = 1;
            off += len;
        }
    }
    free(buf);
    cache_stream_close(a->c, s);
    return NULL;
}

static void run_readers(cache *c, cache_file *f, reader_arg *a, int n)
{
    pthread_t t[16];
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        a[i].c = c;
        a[i].f = f;
        a[i].start = &b;
        pthread_create(&t[i], NULL, reader_main, &a[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        CHECK(!a[i].bad, "reader %d (mode %d) read wrong bytes", i, a[i].mode);
    }
    pthread_barrier_destroy(&b);
}

static void test_thrash(wcodec *w)
{
    /* 1 MiB of small chunks (2 MiB, the smallest huge-page arena, of
     * 256 KiB ones) against 6 readers: constant eviction. */
    const uint64_t cap = wcodec_chunk_size(w) >= (256u << 10) ? 2u << 20
                                                               : 1u << 20;
    cache *c = new_cache(cap, 256u << 10, 2);
    cache_file *f;
    cache_file_add(c, w, &f);
    reader_arg a[6];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 6; i++) {
        a[i].mode = i % 3 == 0 ? 0 : 1;
        a[i].seed = 77 + (uint64_t)i;
        a[i].step = (size_t)(64u << 10) << (i % 3);
    }
    run_readers(c, f, a, 6);
    cache_stats st;
    cache_get_stats(c, &st);
    /* Overshoot only by what the readers' own requests span. */
    uint64_t cs = wcodec_chunk_size(w);
    uint64_t bound = cap + 6 * ((1u << 20) / cs + 2) * cs;
    CHECK(st.peak_bytes <= bound, "peak %llu > bound %llu",
          (unsigned long long)st.peak_bytes, (unsigned long long)bound);
    CHECK(st.evictions > 0, "no evictions with a %llu KiB cache",
          (unsigned long long)(cap >> 10));
    CHECK(st.errors == 0, "decode errors: %llu", (unsigned long long)st.errors);
    printf("thrash: hits %llu waits %llu misses %llu prefetched %llu/%llu "
           "evictions %llu peak %llu KiB\n",
           (unsigned long long)st.hits, (unsigned long long)st.waits,
           (unsigned long long)st.misses, (unsigned long long)st.prefetched,
           (unsigned long long)st.prefetch_used,
           (unsigned long long)st.evictions,
           (unsigned long long)(st.peak_bytes >> 10));
    cache_file_remove(c, f);
    cache_get_stats(c, &st);
    CHECK(st.bytes == 0, "%llu bytes left after removing the only file",
          (unsigned long long)st.bytes);
    cache_destroy(c);
}

static void test_dedup(wcodec *w)
{
    /* Room for everything, no read-ahead: 8 readers of the whole file must
     * decode every chunk exactly once between them. */
    cache *c = new_cache(64u << 20, 0, 0);
    cache_file *f;
    cache_file_add(c, w, &f);
    reader_arg a[8];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 8; i++) {
        a[i].mode = 2;
        a[i].step = (size_t)(16u << 10) << (i % 4);
    }
    run_readers(c, f, a, 8);
    cache_stats st;
    cache_get_stats(c, &st);
    CHECK(st.misses == wcodec_chunk_count(w),
          "%llu decodes for %llu chunks",
          (unsigned long long)st.misses,
          (unsigned long long)wcodec_chunk_count(w));
    CHECK(st.evictions == 0, "evictions with room for all");
    printf("dedup: %llu chunks, hits %llu waits %llu misses %llu\n",
           (unsigned long long)wcodec_chunk_count(w),
           (unsigned long long)st.hits, (unsigned long long)st.waits,
           (unsigned long long)st.misses);
    cache_file_remove(c, f);
    cache_destroy(c);
}

static void test_prefetch(wcodec *w)
{
    cache *c = new_cache(16u << 20, 2u << 20, 2);
    cache_file *f;
    cache_file_add(c, w, &f);
    reader_arg a = {.mode = 2, .step = 128u << 10};
    run_readers(c, f, &a, 1);
    cache_stats st;
    cache_get_stats(c, &st);
    CHECK(st.prefetched > 0 && st.prefetch_used > 0,
          "sequential read did not use read-ahead (%llu/%llu)",
          (unsigned long long)st.prefetched,
          (unsigned long long)st.prefetch_used);
    printf("prefetch: hits %llu waits %llu misses %llu prefetched %llu "
           "used %llu\n",
           (unsigned long long)st.hits, (unsigned long long)st.waits,
           (unsigned long long)st.misses, (unsigned long long)st.prefetched,
           (unsigned long long)st.prefetch_used);

    /* Drop the file while its read-ahead is queued and decoding. */
    for (int i = 0; i < 20; i++) {
        cache_file *g;
        cache_file_add(c, w, &g);
        cache_stream *s;
        cache_stream_open(c, g, &s);
        uint8_t buf[4096];
        for (uint64_t off = 0; off < 64u << 10; off += sizeof buf)
            cache_pread(c, g, s, buf, sizeof buf, off);
        cache_stream_close(c, s);
        cache_file_remove(c, g);
    }
    cache_file_remove(c, f);
    cache_get_stats(c, &st);
    CHECK(st.bytes == 0, "%llu bytes left after removing every file",
          (unsigned long long)st.bytes);
    cache_destroy(c);
}

static void test_corrupt(void)
{
    /* Flip a byte in the middle of one chunk's payload. */
    wcodec *w;
    if (wcodec_open(wc_path, &w)) {
        CHECK(0, "open: %s", wcodec_errdetail());
        return;
    }
    uint64_t bad = wcodec_chunk_count(w) / 2;
    while (w->chunk[bad].csize < 2)
        bad++;
    uint64_t pos = w->chunk[bad].offset + w->chunk[bad].csize / 2;
    wcodec_close(w);
    FILE *in = fopen(wc_path, "rb"), *out = fopen(bad_path, "wb");
    int ch;
    for (uint64_t i = 0; (ch = getc(in)) != EOF; i++)
        putc(i == pos ? ch ^ 0x40 : ch, out);
    fclose(in);
    fclose(out);
    if (wcodec_open(bad_path, &w)) {
        CHECK(0, "open corrupt copy: %s", wcodec_errdetail());
        return;
    }
    uint64_t coff;
    uint32_t clen;
    wcodec_chunk_extent(w, bad, &coff, &clen);
    cache *c = new_cache(4u << 20, 1u << 20, 2);
    cache_file *f;
    cache_file_add(c, w, &f);
    uint8_t *buf = malloc(1u << 20);
    char want[64];
    snprintf(want, sizeof want, "chunk %llu ", (unsigned long long)bad);
    for (int round = 0; round < 3; round++) {
        ssize_t r = cache_pread(c, f, NULL, buf, 3 * clen, coff - clen);
        CHECK(r == -WCODEC_E_CORRUPT, "read over the bad chunk gave %zd", r);
        CHECK(strstr(wcodec_errdetail(), want), "detail '%s' lacks '%s'",
              wcodec_errdetail(), want);
    }
    ssize_t r = cache_pread(c, f, NULL, buf, clen, coff - clen);
    CHECK(r == (ssize_t)clen && !memcmp(buf, orig + coff - clen, clen),
          "chunk before the bad one");
    r = cache_pread(c, f, NULL, buf, 1000, coff + clen);
    CHECK(r == 1000 && !memcmp(buf, orig + coff + clen, 1000),
          "chunk after the bad one");
    /* A sequential stream with read-ahead: fails exactly at the chunk. */
    cache_stream *s;
    cache_stream_open(c, f, &s);
    uint64_t off = 0;
    int failed_at = -1;
    for (; off < orig_len; off += 8192) {
        r = cache_pread(c, f, s, buf, 8192, off);
        size_t wnt = orig_len - off < 8192 ? orig_len - off : 8192;
        int overlaps = off < coff + clen && off + 8192 > coff;
        if (overlaps) {
            if (r >= 0)
                failed_at = -2;
            else if (failed_at == -1)
                failed_at = 1;
        } else {
            CHECK(r == (ssize_t)wnt && !memcmp(buf, orig + off, wnt),
                  "stream read at %llu: %zd", (unsigned long long)off, r);
        }
    }
    CHECK(failed_at == 1, "the stream did not fail on the bad chunk");
    cache_stream_close(c, s);
    free(buf);
    cache_file_remove(c, f);
    cache_destroy(c);
    wcodec_close(w);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(st_path, sizeof st_path, "%s/m.safetensors", dir);
    snprintf(wc_path, sizeof wc_path, "%s/m.wcodec", dir);
    snprintf(bad_path, sizeof bad_path, "%s/bad.wcodec", dir);
    if (make_safetensors(st_path)) {
        perror("write test file");
        return 1;
    }
    wcodec_pack_options po;
    wcodec_pack_options_init(&po);
    /* 4 KiB chunks (also the dedup case); 64 KiB and more live in buffers
     * of their own mapping; 256 KiB (the default) in the huge-page arena,
     * their buffers reused across evictions and removed files. */
    static const uint32_t sizes[] = {4096, 64u << 10, 256u << 10};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        wcodec *w;
        po.chunk_size = sizes[i];
        po.force = 1;
        if (wcodec_pack_file(st_path, wc_path, &po) ||
            wcodec_open(wc_path, &w)) {
            fprintf(stderr, "pack/open: %s\n", wcodec_errdetail());
            return 1;
        }
        printf("container: %zu bytes, %llu chunks of %u\n", orig_len,
               (unsigned long long)wcodec_chunk_count(w),
               wcodec_chunk_size(w));
        test_thrash(w);
        if (sizes[i] == 4096)
            test_dedup(w);
        test_prefetch(w);
        wcodec_close(w);
    }
    po.chunk_size = 4096;
    if (wcodec_pack_file(st_path, wc_path, &po)) {
        fprintf(stderr, "pack: %s\n", wcodec_errdetail());
        return 1;
    }
    test_corrupt();
    unlink(st_path);
    unlink(wc_path);
    unlink(bad_path);
    rmdir(dir);
    free(orig);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
