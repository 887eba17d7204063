/* check_golden.c - replays the golden corrupt files (tests/golden/MANIFEST,
 * written by make-golden.py) through the library, then checks hostile
 * sizes and offset arithmetic on containers built here.
 *
 *   check-golden GOLDEN_DIR
 *
 * For every container: wcodec_open must give the expected result; when it
 * opens, every chunk is read on its own with wcodec_pread and must either
 * fail with the expected code (the damaged chunks) or return exactly the
 * bytes of base.safetensors; a whole-file read must fail with the first
 * damaged chunk's code or return the whole file; wcodec_verify must give
 * the expected result. Wrong bytes are counted and must be zero.
 * For every safetensors file: wc_st_header_len + wc_st_parse must give the
 * expected code. Every error must come with a one-line detail naming the
 * file.
 *
 * Large allocations are refused here (RLIMIT_AS 2 GiB; under ASan
 * max_allocation_size_mb=1024 and allocator_may_return_null), so a hostile
 * size that reached malloc would show up as NOMEM instead of the expected
 * CORRUPT or TRUNCATED.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include "container.h"
#include "reader.h"
#include "safetensors.h"
#include "wcodec.h"

#if defined(__SANITIZE_ADDRESS__)
#define GOLDEN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GOLDEN_ASAN 1
#endif
#endif

#ifdef GOLDEN_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=1024:allocator_may_return_null=1";
}
#endif

static int failures, checks;
static unsigned long wrong_bytes;

__attribute__((format(printf, 1, 2))) static void bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    failures++;
}

static const struct {
    const char *name;
    int code;
} codes[] = {
    {"OK", 0},
    {"IO", WCODEC_E_IO},
    {"NOMEM", WCODEC_E_NOMEM},
    {"RANGE", WCODEC_E_RANGE},
    {"NOT_CONTAINER", WCODEC_E_NOT_CONTAINER},
    {"VERSION", WCODEC_E_VERSION},
    {"TRUNCATED", WCODEC_E_TRUNCATED},
    {"CORRUPT", WCODEC_E_CORRUPT},
    {"DIGEST", WCODEC_E_DIGEST},
    {"ST_FORMAT", WCODEC_E_ST_FORMAT},
    {"ST_JSON", WCODEC_E_ST_JSON},
    {"ST_DTYPE", WCODEC_E_ST_DTYPE},
    {"ST_SHAPE", WCODEC_E_ST_SHAPE},
    {"ST_OFFSETS", WCODEC_E_ST_OFFSETS},
};

static int code_of(const char *name)
{
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (!strcmp(codes[i].name, name))
            return codes[i].code;
    fprintf(stderr, "check-golden: unknown code name '%s'\n", name);
    exit(2);
}

static const char *name_of(int rc)
{
    if (rc < 0)
        rc = -rc;
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (codes[i].code == rc)
            return codes[i].name;
    return "?";
}

static uint8_t *slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    off_t sz = lseek(fd, 0, SEEK_END);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (!b || pread(fd, b, (size_t)sz, 0) != sz) {
        free(b);
        close(fd);
        return NULL;
    }
    close(fd);
    *n = (size_t)sz;
    return b;
}

/* The detail must be one line naming the file. */
static void check_detail(const char *file, const char *what)
{
    const char *d = wcodec_errdetail();
    if (!strstr(d, file) || strchr(d, '\n'))
        bad("%s: %s: detail does not name the file on one line: '%s'", file,
            what, d);
}

/* ---- golden files ---------------------------------------------------------- */

typedef struct {
    uint64_t off;
    uint32_t len;
} extent;

static uint8_t *orig;
static size_t orig_len;
static extent *ext;
static size_t next_;

static void golden_container(const char *dir, const char *file, char **kv,
                             int nkv)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    const char *open_ = NULL, *verify = "OK";
    char badlist[512] = "";
    for (int i = 0; i < nkv; i++) {
        if (!strncmp(kv[i], "open=", 5))
            open_ = kv[i] + 5;
        else if (!strncmp(kv[i], "bad=", 4))
            snprintf(badlist, sizeof badlist, "%s", kv[i] + 4);
        else if (!strncmp(kv[i], "verify=", 7))
            verify = kv[i] + 7;
    }
    if (!open_) {
        bad("%s: manifest line without open=", file);
        return;
    }
    int badcode[4096];
    for (size_t k = 0; k < next_; k++)
        badcode[k] = 0;
    for (char *s = strtok(badlist, ","); s; s = strtok(NULL, ",")) {
        char *c = strchr(s, ':');
        unsigned long k = strtoul(s, NULL, 10);
        if (!c || k >= next_) {
            bad("%s: bad= entry '%s'", file, s);
            return;
        }
        badcode[k] = code_of(c + 1);
    }
    wcodec *w;
    checks++;
    int rc = wcodec_open(path, &w);
    if (rc != -code_of(open_)) {
        bad("%s: open gave %s (%s), expected %s", file, name_of(rc),
            wcodec_errdetail(), open_);
        if (!rc)
            wcodec_close(w);
        return;
    }
    if (rc) {
        check_detail(file, "open");
        return;
    }
    if (wcodec_size(w) != orig_len || wcodec_chunk_count(w) != next_) {
        bad("%s: size %llu, %llu chunks: not base.wcodec's", file,
            (unsigned long long)wcodec_size(w),
            (unsigned long long)wcodec_chunk_count(w));
        wcodec_close(w);
        return;
    }
    int first_bad = 0;
    for (size_t k = 0; k < next_; k++) {
        uint64_t o;
        uint32_t l;
        if (wcodec_chunk_extent(w, k, &o, &l) || o != ext[k].off ||
            l != ext[k].len)
            bad("%s: chunk %zu extent differs from base.chunks", file, k);
        uint8_t *buf = malloc(ext[k].len);
        checks++;
        ssize_t r = wcodec_pread(w, buf, ext[k].len, ext[k].off);
        if (badcode[k]) {
            if (!first_bad)
                first_bad = badcode[k];
            if (r != -badcode[k])
                bad("%s: chunk %zu read gave %zd (%s), expected %s", file, k,
                    r, r < 0 ? name_of((int)r) : "bytes",
                    name_of(badcode[k]));
            else
                check_detail(file, "pread");
        } else if (r != (ssize_t)ext[k].len) {
            bad("%s: chunk %zu read gave %zd (%s: %s)", file, k, r,
                r < 0 ? name_of((int)r) : "short", wcodec_errdetail());
        }
        if (r > 0)
            for (ssize_t i = 0; i < r; i++)
                if (buf[i] != orig[ext[k].off + (size_t)i]) {
                    wrong_bytes++;
                    if (i == 0 || buf[i - 1] == orig[ext[k].off + (size_t)i - 1])
                        bad("%s: chunk %zu: WRONG BYTE at %llu", file, k,
                            (unsigned long long)(ext[k].off + (size_t)i));
                }
        free(buf);
    }
    /* Whole file in one read, and across every chunk boundary. */
    uint8_t *all = malloc(orig_len);
    checks++;
    ssize_t r = wcodec_pread(w, all, orig_len, 0);
    if (first_bad ? r != -first_bad : r != (ssize_t)orig_len)
        bad("%s: whole-file read gave %zd, expected %s", file, r,
            first_bad ? name_of(first_bad) : "the file");
    if (r == (ssize_t)orig_len && memcmp(all, orig, orig_len)) {
        wrong_bytes++;
        bad("%s: whole-file read: WRONG BYTES", file);
    }
    for (size_t k = 1; k < next_; k++) {
        uint64_t o = ext[k].off - 3;
        r = wcodec_pread(w, all, 6, o);
        if (r > 0 && memcmp(all, orig + o, (size_t)r)) {
            wrong_bytes++;
            bad("%s: read across chunks %zu/%zu: WRONG BYTES", file, k - 1, k);
        }
        if (r < 0 && !badcode[k] && !badcode[k - 1])
            bad("%s: read across good chunks %zu/%zu failed", file, k - 1, k);
    }
    free(all);
    checks++;
    rc = wcodec_verify(w);
    if (rc != -code_of(verify))
        bad("%s: verify gave %s, expected %s", file, name_of(rc), verify);
    else if (rc)
        check_detail(file, "verify");
    wcodec_close(w);
}

static void golden_safetensors(const char *dir, const char *file, char **kv,
                               int nkv)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    const char *want = NULL;
    for (int i = 0; i < nkv; i++)
        if (!strncmp(kv[i], "st=", 3))
            want = kv[i] + 3;
    size_t n;
    uint8_t *b = slurp(path, &n);
    if (!b || !want) {
        bad("%s: unreadable or no st= in the manifest", file);
        free(b);
        return;
    }
    /* An exact-size copy, so an over-read is a heap over-read. */
    uint8_t *e = malloc(n ? n : 1);
    memcpy(e, b, n);
    free(b);
    checks++;
    uint64_t hl;
    int rc = wc_st_header_len(e, n, n, file, &hl);
    wc_st_file f;
    if (!rc) {
        rc = wc_st_parse(e, n, file, &f);
        if (!rc)
            wc_st_free(&f);
    }
    if (rc != -code_of(want))
        bad("%s: parse gave %s (%s), expected %s", file, name_of(rc),
            wcodec_errdetail(), want);
    else if (rc)
        check_detail(file, "parse");
    free(e);
}

static int run_manifest(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/base.safetensors", dir);
    orig = slurp(path, &orig_len);
    snprintf(path, sizeof path, "%s/base.chunks", dir);
    FILE *fc = fopen(path, "r");
    snprintf(path, sizeof path, "%s/MANIFEST", dir);
    FILE *fm = fopen(path, "r");
    if (!orig || !fc || !fm) {
        fprintf(stderr, "check-golden: %s: base.safetensors, base.chunks or "
                        "MANIFEST missing\n", dir);
        return 2;
    }
    ext = calloc(4096, sizeof *ext);
    unsigned long k, o, l;
    while (next_ < 4096 && fscanf(fc, "%lu %lu %lu", &k, &o, &l) == 3) {
        ext[next_].off = o;
        ext[next_++].len = (uint32_t)l;
    }
    fclose(fc);
    char line[1024];
    int files = 0;
    while (fgets(line, sizeof line, fm)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *kv[16];
        int nkv = 0;
        char *file = strtok(line, " \n");
        for (char *t; nkv < 16 && (t = strtok(NULL, " \n"));)
            kv[nkv++] = t;
        size_t fl = strlen(file);
        int fails = failures;
        if (fl > 7 && !strcmp(file + fl - 7, ".wcodec"))
            golden_container(dir, file, kv, nkv);
        else
            golden_safetensors(dir, file, kv, nkv);
        printf("%s %s\n", failures > fails ? "not ok" : "ok", file);
        files++;
    }
    fclose(fm);
    printf("# %d golden files\n", files);
    free(ext);
    free(orig);
    return 0;
}

/* ---- hostile sizes on containers built here ---------------------------------
 * A container whose checksums are right but whose sizes are hostile: the
 * library must refuse it (or serve it) without allocating by the claim and
 * without wrapping offset arithmetic. */

typedef struct {
    uint8_t *b;
    size_t n;
} buf;

static void put_super(uint8_t *sb, uint64_t fsz, uint64_t ioff, uint64_t isz,
                      uint64_t nchunks, uint32_t cs, uint32_t nseg,
                      const uint8_t *ix)
{
    memset(sb, 0, WC_SUPER_SIZE);
    memcpy(sb, WC_MAGIC, 8);
    wc_put16(sb + 8, 1);
    wc_put64(sb + 16, fsz);
    wc_put64(sb + 24, ioff);
    wc_put64(sb + 32, isz);
    wc_put64(sb + 40, nchunks);
    wc_put32(sb + 48, cs);
    wc_put32(sb + 52, nseg);
    wc_put64(sb + 56, XXH3_64bits(ix, isz));
    wc_put64(sb + 72, XXH3_64bits(sb, 72));
}

/* A container of one segment (codec, dtype, params) of fsz bytes cut into
 * chunks of cs, every chunk record given by rec(k). */
typedef void (*rec_fn)(uint8_t *r, uint64_t k, void *ctx);

static buf build(uint64_t fsz, uint32_t cs, uint8_t codec, uint8_t dtype,
                 const uint8_t *params, uint32_t ps, uint64_t nchunks,
                 size_t payload, rec_fn rec, void *ctx)
{
    size_t isz = WC_DIGEST_SIZE + WC_SEG_REC + nchunks * WC_CHUNK_REC + ps;
    buf o;
    o.n = WC_SUPER_SIZE + payload + isz;
    o.b = calloc(1, o.n);
    uint8_t *ix = o.b + WC_SUPER_SIZE + payload;
    uint8_t *s = ix + WC_DIGEST_SIZE;
    wc_put64(s + 8, fsz);
    wc_put32(s + 28, ps);
    s[32] = codec;
    s[33] = dtype;
    for (uint64_t k = 0; k < nchunks; k++)
        rec(s + WC_SEG_REC + k * WC_CHUNK_REC, k, ctx);
    if (ps)
        memcpy(s + WC_SEG_REC + nchunks * WC_CHUNK_REC, params, ps);
    put_super(o.b, fsz, WC_SUPER_SIZE + payload, isz, nchunks, cs, 1, ix);
    return o;
}

static int open_buf(const buf *b, const char *name, wcodec **w)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0 || write(fd, b->b, b->n) != (ssize_t)b->n) {
        perror("memfd");
        exit(2);
    }
    int rc = wcodec_open_fd(fd, name, w);
    if (rc)
        close(fd);
    return rc;
}

static void close_buf(wcodec *w)
{
    /* wcodec_open_fd does not own the descriptor */
    int fd = w->fd;
    wcodec_close(w);
    close(fd);
}

/* zero-byte payloads of an all-constant U8 segment */
static void rec_const(uint8_t *r, uint64_t k, void *ctx)
{
    const uint64_t *sum = ctx;
    wc_put64(r, WC_SUPER_SIZE);
    wc_put64(r + 16, *sum);
    (void)k;
}

static void rec_off(uint8_t *r, uint64_t k, void *ctx)
{
    const uint64_t *v = ctx; /* offset, size */
    wc_put64(r, v[0]);
    wc_put32(r + 8, (uint32_t)v[1]);
    (void)k;
}

static void expect_open(const char *what, const buf *b, int want)
{
    wcodec *w;
    checks++;
    int rc = open_buf(b, what, &w);
    if (rc != -want) {
        bad("hostile %s: open gave %s (%s), expected %s", what, name_of(rc),
            rc ? wcodec_errdetail() : "", name_of(want));
        if (!rc)
            close_buf(w);
        return;
    }
    if (rc)
        check_detail(what, "open");
    else
        close_buf(w);
    printf("ok hostile %s: %s\n", what, rc ? name_of(rc) : "opens");
}

static void hostile(void)
{
    const uint8_t const0[] = {WC_PLANE_CONST, 0};
    uint32_t cs = WC_CHUNK_MAX;
    uint8_t *zero = calloc(1, cs);
    uint64_t zsum = XXH3_64bits(zero, cs);

    /* 1 TiB of zeros in 65536 chunks of 16 MiB, each a 0-byte payload: a
     * valid container. It must open with tables the size of its index
     * (1.5 MiB), and reads must work at the far end without decoding the
     * rest. */
    uint64_t tb = 1ull << 40;
    buf b = build(tb, cs, WC_CODEC_PLANES, WC_DT_U8, const0, 2, tb / cs, 0,
                  rec_const, &zsum);
    wcodec *w;
    checks++;
    int rc = open_buf(&b, "tebibyte.wcodec", &w);
    if (rc) {
        bad("hostile 1 TiB of constant chunks: open gave %s (%s)",
            name_of(rc), wcodec_errdetail());
    } else {
        uint8_t out[64];
        memset(out, 0xAA, sizeof out);
        ssize_t r = wcodec_pread(w, out, sizeof out, tb - 10);
        int z = 1;
        for (int i = 0; i < 10; i++)
            z &= out[i] == 0;
        if (r != 10 || !z)
            bad("hostile 1 TiB: read at the end gave %zd", r);
        if (wcodec_pread(w, out, SIZE_MAX, tb) != 0 ||
            wcodec_pread(w, out, SIZE_MAX, UINT64_MAX) != 0)
            bad("hostile 1 TiB: read at or past the end not empty");
        uint64_t k;
        if (wcodec_chunk_find(w, UINT64_MAX, &k) != -WCODEC_E_RANGE ||
            wcodec_chunk_extent(w, UINT64_MAX, &k, &(uint32_t){0}) !=
                -WCODEC_E_RANGE ||
            wcodec_decode_chunks(w, UINT64_MAX, 2, out, WCODEC_DEVICE_CPU) !=
                -WCODEC_E_RANGE ||
            wcodec_decode_chunks(w, 5, UINT64_MAX - 2, out,
                                 WCODEC_DEVICE_CPU) != -WCODEC_E_RANGE)
            bad("hostile 1 TiB: out-of-range chunk calls not RANGE");
        close_buf(w);
        printf("ok hostile 1 TiB of constant chunks: opens, reads the end\n");
    }
    free(b.b);

    /* The same claim with a chunk table that does not fit its index: the
     * count is refused before anything is allocated for it. */
    b = build(tb, cs, WC_CODEC_PLANES, WC_DT_U8, const0, 2, 4, 0, rec_const,
              &zsum);
    wc_put64(b.b + 40, tb / cs);
    wc_put64(b.b + 72, XXH3_64bits(b.b, 72));
    expect_open("chunk count over index", &b, WCODEC_E_CORRUPT);
    free(b.b);

    /* 2^64 - 1 bytes claimed: 2^40 chunks needed, 1 listed. */
    b = build(UINT64_MAX, cs, WC_CODEC_PLANES, WC_DT_U8, const0, 2, 1, 0,
              rec_const, &zsum);
    expect_open("file of 2^64-1 bytes", &b, WCODEC_E_CORRUPT);
    free(b.b);

    /* Payload offsets whose end wraps around 2^64, or that lie past the
     * index: refused at open (not read later). */
    static const uint64_t offs[][2] = {
        {UINT64_MAX - 7, 16}, {UINT64_MAX, 1}, {1ull << 63, 8},
        {WC_SUPER_SIZE + 4096, 8}, {WC_SUPER_SIZE + 4095, 2}};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        b = build(4096, 4096, WC_CODEC_ZSTD, 0, NULL, 0, 1, 4096, rec_off,
                  (void *)offs[i]);
        char what[96];
        snprintf(what, sizeof what, "payload at %llu+%llu",
                 (unsigned long long)offs[i][0],
                 (unsigned long long)offs[i][1]);
        expect_open(what, &b, WCODEC_E_CORRUPT);
        free(b.b);
    }
    /* ... while a payload ending exactly at the index is fine */
    static const uint64_t edge[2] = {WC_SUPER_SIZE + 4088, 8};
    b = build(4096, 4096, WC_CODEC_ZSTD, 0, NULL, 0, 1, 4096, rec_off,
              (void *)edge);
    expect_open("payload ending at the index", &b, 0);
    free(b.b);

    /* Two segments whose lengths add up past 2^64. */
    {
        size_t isz = WC_DIGEST_SIZE + 2 * WC_SEG_REC + 2 * WC_CHUNK_REC;
        b.n = WC_SUPER_SIZE + isz;
        b.b = calloc(1, b.n);
        uint8_t *ix = b.b + WC_SUPER_SIZE, *s = ix + WC_DIGEST_SIZE;
        wc_put64(s + 8, UINT64_MAX - 50);
        s[32] = WC_CODEC_ZSTD;
        wc_put64(s + WC_SEG_REC, UINT64_MAX - 50);
        wc_put64(s + WC_SEG_REC + 8, 100);
        wc_put64(s + WC_SEG_REC + 16, 1);
        s[WC_SEG_REC + 32] = WC_CODEC_ZSTD;
        put_super(b.b, UINT64_MAX, WC_SUPER_SIZE, isz, 2, 4096, 2, ix);
        expect_open("segment lengths wrapping 2^64", &b, WCODEC_E_CORRUPT);
        free(b.b);
    }

    /* safetensors: header lengths are bounded by the file and by 100 MB,
     * looking at the first 8 bytes only. */
    struct {
        uint64_t hl, fsz;
        int want;
    } st[] = {
        {WC_ST_MAX_HEADER + 1ull, 1ull << 40, WCODEC_E_ST_FORMAT},
        {UINT64_MAX, UINT64_MAX, WCODEC_E_ST_FORMAT},
        {UINT64_MAX - 7, UINT64_MAX, WCODEC_E_ST_FORMAT},
        {1ull << 40, 1ull << 41, WCODEC_E_ST_FORMAT},
        {1000, 1007, WCODEC_E_ST_FORMAT},
        {1000, 1008, 0},
        {WC_ST_MAX_HEADER, WC_ST_MAX_HEADER + 8ull, 0},
    };
    for (size_t i = 0; i < sizeof st / sizeof *st; i++) {
        uint8_t h[8];
        wc_put64(h, st[i].hl);
        uint64_t got = 0;
        checks++;
        int r = wc_st_header_len(h, 8, st[i].fsz, "hostile.safetensors", &got);
        if (r != -st[i].want || (!r && got != st[i].hl))
            bad("hostile safetensors header length %llu in %llu bytes: %s",
                (unsigned long long)st[i].hl, (unsigned long long)st[i].fsz,
                name_of(r));
        else
            printf("ok hostile safetensors header length %llu in %llu bytes: "
                   "%s\n", (unsigned long long)st[i].hl,
                   (unsigned long long)st[i].fsz, r ? name_of(r) : "accepted");
    }
    /* A header whose offsets reach 2^63 inside a file that claims 2^64-1
     * bytes (only the header is read). */
    const char *js = "{\"x\":{\"dtype\":\"U8\",\"shape\":[9223372036854775807],"
                     "\"data_offsets\":[0,9223372036854775807]},"
                     "\"y\":{\"dtype\":\"U64\",\"shape\":[1152921504606846976],"
                     "\"data_offsets\":[0,9223372036854775807]}}";
    size_t jl = strlen(js);
    uint8_t *sb = malloc(8 + jl);
    wc_put64(sb, jl);
    memcpy(sb + 8, js, jl);
    wc_st_file f;
    checks++;
    int r = wc_st_parse(sb, UINT64_MAX, "hostile.safetensors", &f);
    if (r != -WCODEC_E_ST_SHAPE)
        bad("hostile safetensors offsets near 2^63: %s", name_of(r));
    else
        printf("ok hostile safetensors offsets near 2^63: ST_SHAPE\n");
    if (!r)
        wc_st_free(&f);
    free(sb);
    free(zero);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: check-golden GOLDEN_DIR\n");
        return 2;
    }
#ifndef GOLDEN_ASAN
    struct rlimit rl = {2ull << 30, 2ull << 30};
    setrlimit(RLIMIT_AS, &rl);
#endif
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = run_manifest(argv[1]);
    if (rc)
        return rc;
    hostile();
    printf("# %d checks, %d failed, %lu wrong bytes returned\n", checks,
           failures, wrong_bytes);
    return failures || wrong_bytes ? 1 : 0;
}
