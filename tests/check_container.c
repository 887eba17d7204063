/* check_container.c - packing safetensors files and reading containers
 * back (include/wcodec.h): byte-exact reads at every kind of offset, the
 * chunk and segment API, digests, malformed safetensors inputs, damaged
 * and forged containers, and the packer's output handling.
 *
 * The safetensors files are written here by a tiny writer; damaged
 * containers are made by truncating, flipping bits, or editing fields and
 * recomputing the checksums ("forging") so the structural checks behind
 * the checksums are reached too. The rule checked everywhere: a read
 * returns the original bytes or fails with CORRUPT/TRUNCATED (IO for a
 * forged index pointing outside the file), never different bytes. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "codec.h"
#include "container.h"
#include "reader.h"
#include "testutil.h"
#include "wcodec.h"

#define CS 4096u /* chunk size for most containers here */

static char *root; /* per-run scratch folder, removed at exit */

static char *fresh_dir(void)
{
    static int seq;
    char name[64];
    snprintf(name, sizeof name, "t%d.%d", (int)getpid(), seq++);
    char *d = tu_path(root, name);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    return d;
}

#define ck_assert_rc(rc, code)                                               \
    ck_assert_msg((rc) == -(code), "expected %s, got %d (%s): %s",          \
                  wcodec_strerror(code), (int)(rc), wcodec_strerror(rc),    \
                  wcodec_errdetail())

/* ---- safetensors writer ---------------------------------------------------- */

typedef struct {
    const char *name;
    const char *dtype; /* as written in the header */
    size_t nel;
    int kind;          /* tu_gen kind */
    const char *shape; /* JSON text; NULL: [nel] */
    size_t gap;        /* noise bytes before the tensor */
    uint64_t begin, end; /* filled in: absolute file offsets */
} tspec;

typedef struct {
    uint8_t *data;
    size_t len;
    size_t data_start;
} stfile;

/* Lay tensors out in order with their gaps, list them in the header in
 * reverse order, pad the header with spaces to a multiple of 8 (as the
 * reference writer does), append `trailing` noise bytes. */
static stfile st_build(tspec *t, size_t nt, const char *meta, size_t trailing,
                       uint64_t seed)
{
    size_t dlen = trailing;
    for (size_t i = 0; i < nt; i++) {
        int dt = wc_dtype_from_name(t[i].dtype);
        dlen += t[i].gap + t[i].nel * (dt > 0 ? wc_dtype_size(dt) : 1);
    }
    uint8_t *data = malloc(dlen + 1);
    size_t pos = 0;
    uint64_t *rel = calloc(nt * 2 + 1, sizeof *rel);
    for (size_t i = 0; i < nt; i++) {
        tu_fill_random(&seed, data + pos, t[i].gap);
        pos += t[i].gap;
        int dt = wc_dtype_from_name(t[i].dtype);
        rel[2 * i] = pos;
        tu_gen(dt, t[i].kind, data + pos, t[i].nel, &seed);
        pos += t[i].nel * wc_dtype_size(dt);
        rel[2 * i + 1] = pos;
    }
    tu_fill_random(&seed, data + pos, trailing);
    tu_str h = {0};
    tu_str_addf(&h, "{");
    if (meta)
        tu_str_addf(&h, "\"__metadata__\":%s", meta);
    for (size_t j = nt; j-- > 0;) {
        tu_str_addf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":", h.len > 1 ? "," : "",
                    t[j].name, t[j].dtype);
        if (t[j].shape)
            tu_str_addf(&h, "%s", t[j].shape);
        else
            tu_str_addf(&h, "[%zu]", t[j].nel);
        tu_str_addf(&h, ",\"data_offsets\":[%llu,%llu]}",
                    (unsigned long long)rel[2 * j],
                    (unsigned long long)rel[2 * j + 1]);
    }
    tu_str_addf(&h, "}");
    while (h.len % 8)
        tu_str_addf(&h, " ");
    stfile f;
    f.data = tu_st_file(h.s, h.len, data, dlen, &f.len);
    f.data_start = 8 + h.len;
    for (size_t i = 0; i < nt; i++) {
        t[i].begin = f.data_start + rel[2 * i];
        t[i].end = f.data_start + rel[2 * i + 1];
    }
    tu_str_free(&h);
    free(rel);
    free(data);
    return f;
}

/* The main test model: every dtype as a large tensor (several chunks, a
 * partial last one) and as a small one, gaps of noise between some,
 * constant, zero and random tensors, empty and scalar tensors, metadata
 * and trailing bytes. */
#define NMODEL (2 * (WC_DT_COUNT - 1) + 8)
static tspec model[NMODEL];
static char model_names[NMODEL][32];

static stfile model_file(void)
{
    uint64_t seed = 42;
    size_t n = 0;
    for (int dt = 1; dt < WC_DT_COUNT; dt++) {
        unsigned es = wc_dtype_size(dt);
        snprintf(model_names[n], 32, "big.%s", wc_dtype_name(dt));
        model[n] = (tspec){model_names[n], wc_dtype_name(dt),
                           16384 / es + 37, TU_REAL, NULL,
                           (size_t)(tu_rand(&seed) % 3 ? 0 : 1 + tu_rand(&seed) % 40),
                           0, 0};
        n++;
        snprintf(model_names[n], 32, "small.%s", wc_dtype_name(dt));
        model[n] = (tspec){model_names[n], wc_dtype_name(dt), 50, TU_REAL,
                           NULL, (size_t)(tu_rand(&seed) % 2 ? 0 : 7), 0, 0};
        n++;
    }
    model[n++] = (tspec){"const.f32", "F32", 5000, TU_CONST, "[50,100]", 0, 0, 0};
    model[n++] = (tspec){"empty.a", "F32", 0, TU_ZERO, "[0]", 0, 0, 0};
    model[n++] = (tspec){"zero.bf16", "BF16", 8192, TU_ZERO, "[64,128]", 13, 0, 0};
    model[n++] = (tspec){"noise.u8", "U8", 20000, TU_RANDOM, NULL, 0, 0, 0};
    model[n++] = (tspec){"empty.b", "BF16", 0, TU_ZERO, "[3,0]", 5, 0, 0};
    model[n++] = (tspec){"ids.i64", "I64", 3000, TU_REAL, "[1,3000]", 0, 0, 0};
    model[n++] = (tspec){"scalar", "F32", 1, TU_REAL, "[]", 3, 0, 0};
    model[n++] = (tspec){"empty.end", "I8", 0, TU_ZERO, "[0,4]", 0, 0, 0};
    ck_assert_int_eq(n, NMODEL);
    return st_build(model, NMODEL,
                    "{\"format\":\"pt\",\"note\":\"wcodec test model\"}", 123,
                    seed);
}

/* ---- pack / read helpers ---------------------------------------------------- */

static int pack(const char *src, const char *dst, uint32_t cs, unsigned threads,
                int force, int verify)
{
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    o.chunk_size = cs;
    o.threads = threads;
    o.force = force;
    o.verify = verify;
    return wcodec_pack_file(src, dst, &o);
}

typedef struct {
    char *dir, *src, *dst;
    stfile f;
} packed;

static packed pack_model(uint32_t cs, unsigned threads)
{
    packed p;
    p.dir = fresh_dir();
    p.src = tu_path(p.dir, "model.safetensors");
    p.dst = tu_path(p.dir, "model.wcodec");
    p.f = model_file();
    ck_assert_int_eq(tu_write_file(p.src, p.f.data, p.f.len), 0);
    int rc = pack(p.src, p.dst, cs, threads, 0, 0);
    ck_assert_msg(rc == 0, "pack failed: %s", wcodec_errdetail());
    return p;
}

static void packed_free(packed *p)
{
    tu_rmrf(p->dir);
    free(p->dir);
    free(p->src);
    free(p->dst);
    free(p->f.data);
}

/* Read [off, off+len) and compare with the original; returns pread's
 * result. With strict, the read must succeed. */
static ssize_t read_check(wcodec *w, const uint8_t *orig, size_t olen,
                          uint64_t off, size_t len, int strict)
{
    uint8_t *buf = tu_guard_alloc(len);
    ssize_t r = wcodec_pread(w, buf, len, off);
    size_t want = off >= olen ? 0 : (olen - off < len ? olen - off : len);
    if (r >= 0) {
        ck_assert_msg((size_t)r == want,
                      "pread(%llu, %zu) returned %zd, want %zu",
                      (unsigned long long)off, len, r, want);
        ck_assert_msg(r == 0 || memcmp(buf, orig + off, (size_t)r) == 0,
                      "pread(%llu, %zu) returned different bytes",
                      (unsigned long long)off, len);
    } else {
        ck_assert_msg(!strict, "pread(%llu, %zu) failed: %s",
                      (unsigned long long)off, len, wcodec_errdetail());
        ck_assert_msg(r == -WCODEC_E_CORRUPT || r == -WCODEC_E_TRUNCATED ||
                          r == -WCODEC_E_IO,
                      "pread failed with %s", wcodec_strerror((int)r));
    }
    tu_guard_free(buf, len);
    return r;
}

/* ---- pack + read back ------------------------------------------------------------ */

START_TEST(pack_readback)
{
    unsigned threads = (unsigned)_i;
    packed p = pack_model(CS, threads);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(p.dst, &w), 0);
    struct stat st;
    ck_assert_int_eq(stat(p.dst, &st), 0);
    ck_assert_uint_eq(wcodec_size(w), p.f.len);
    ck_assert_uint_eq(wcodec_packed_size(w), (uint64_t)st.st_size);
    ck_assert_uint_eq(wcodec_chunk_size(w), CS);
    /* smaller than the original: most of it is compressible */
    ck_assert_uint_lt(wcodec_packed_size(w), p.f.len);
    ck_assert_int_eq(wcodec_verify(w), 0);
    uint8_t d[16], want[16];
    wcodec_digest(w, d);
    tu_xxh128(p.f.data, p.f.len, want);
    ck_assert_int_eq(memcmp(d, want, 16), 0);
    /* whole file in one read, and asking for more than there is */
    read_check(w, p.f.data, p.f.len, 0, p.f.len, 1);
    read_check(w, p.f.data, p.f.len, 0, p.f.len + 4096, 1);
    wcodec_close(w);
    packed_free(&p);
}
END_TEST

START_TEST(pread_offsets)
{
    packed p = pack_model(CS, 2);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(p.dst, &w), 0);
    size_t n = p.f.len;
    /* at and past the end: 0 */
    ck_assert_int_eq(wcodec_pread(w, p.f.data, 10, n), 0);
    ck_assert_int_eq(wcodec_pread(w, p.f.data, 10, n + 1), 0);
    ck_assert_int_eq(wcodec_pread(w, p.f.data, 10, UINT64_MAX), 0);
    ck_assert_int_eq(wcodec_pread(w, p.f.data, 0, 5), 0);
    read_check(w, p.f.data, n, n - 1, 1, 1);
    read_check(w, p.f.data, n, n - 1, 100, 1);
    read_check(w, p.f.data, n, n - 5000, 5000, 1);
    /* around every chunk boundary */
    for (uint64_t k = 0; k < wcodec_chunk_count(w); k++) {
        uint64_t off;
        uint32_t len;
        ck_assert_int_eq(wcodec_chunk_extent(w, k, &off, &len), 0);
        read_check(w, p.f.data, n, off, len, 1);
        if (off > 0) {
            read_check(w, p.f.data, n, off - 1, 2, 1);
            read_check(w, p.f.data, n, off - 7, (size_t)len + 14, 1);
        }
        read_check(w, p.f.data, n, off + len / 2, 1, 1);
    }
    /* around every tensor boundary */
    for (size_t i = 0; i < NMODEL; i++) {
        read_check(w, p.f.data, n, model[i].begin,
                   model[i].end - model[i].begin, 1);
        if (model[i].begin > 3)
            read_check(w, p.f.data, n, model[i].begin - 3, 6, 1);
    }
    /* random ranges, up to three chunks */
    uint64_t seed = 5;
    for (int it = 0; it < 1000; it++) {
        uint64_t off = tu_rand(&seed) % n;
        size_t len = 1 + tu_rand(&seed) % (3 * CS);
        read_check(w, p.f.data, n, off, len, 1);
    }
    wcodec_close(w);
    packed_free(&p);
}
END_TEST

START_TEST(chunk_api)
{
    packed p = pack_model(CS, 2);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(p.dst, &w), 0);
    uint64_t nc = wcodec_chunk_count(w), pos = 0;
    ck_assert_uint_ge(nc, p.f.len / CS);
    for (uint64_t k = 0; k < nc; k++) {
        uint64_t off, got;
        uint32_t len;
        ck_assert_int_eq(wcodec_chunk_extent(w, k, &off, &len), 0);
        ck_assert_uint_eq(off, pos); /* contiguous, in order */
        ck_assert_uint_gt(len, 0);
        ck_assert_uint_le(len, CS);
        ck_assert_int_eq(wcodec_chunk_find(w, off, &got), 0);
        ck_assert_uint_eq(got, k);
        ck_assert_int_eq(wcodec_chunk_find(w, off + len - 1, &got), 0);
        ck_assert_uint_eq(got, k);
        uint8_t *buf = tu_guard_alloc(len);
        ck_assert_int_eq(wcodec_chunk_decode(w, k, buf), 0);
        ck_assert_int_eq(memcmp(buf, p.f.data + off, len), 0);
        tu_guard_free(buf, len);
        pos += len;
    }
    ck_assert_uint_eq(pos, p.f.len);
    uint64_t k;
    uint64_t off;
    uint32_t len;
    uint8_t buf[CS];
    ck_assert_rc(wcodec_chunk_find(w, p.f.len, &k), WCODEC_E_RANGE);
    ck_assert_rc(wcodec_chunk_extent(w, nc, &off, &len), WCODEC_E_RANGE);
    ck_assert_rc(wcodec_chunk_decode(w, nc, buf), WCODEC_E_RANGE);
    wcodec_close(w);
    packed_free(&p);
}
END_TEST

/* Runs of chunks decode to the same bytes as single chunks, reading their
 * payloads buffered and with direct I/O (where the file system has it),
 * from every start and for every run length up to a few. */
START_TEST(decode_runs)
{
    packed p = pack_model(CS, 2);
    for (int direct = 0; direct < 2; direct++) {
        wcodec *w;
        ck_assert_int_eq(wcodec_open(p.dst, &w), 0);
        if (direct) {
            int dfd = open(p.dst, O_RDONLY | O_DIRECT);
            if (dfd < 0) { /* e.g. tmpfs before Linux 6.6 */
                fprintf(stderr, "decode_runs: no O_DIRECT here (%s)\n",
                        strerror(errno));
                wcodec_close(w);
                break;
            }
            wc_reader_set_direct(w, dfd);
        }
        uint64_t nc = wcodec_chunk_count(w);
        uint8_t *out[5];
        for (int i = 0; i < 5; i++)
            out[i] = tu_guard_alloc(CS);
        for (uint64_t k = 0; k < nc; k++) {
            for (uint64_t n = 1; n <= 5 && k + n <= nc; n++) {
                ck_assert_int_eq(wc_decode_run(w, k, n, out), 0);
                for (uint64_t i = 0; i < n; i++) {
                    uint64_t off;
                    uint32_t len;
                    wcodec_chunk_extent(w, k + i, &off, &len);
                    ck_assert_int_eq(memcmp(out[i], p.f.data + off, len), 0);
                }
            }
        }
        ck_assert_rc(wc_decode_run(w, nc - 1, 2, out), WCODEC_E_RANGE);
        /* Everything at once, through the public batch call. */
        uint8_t *all = malloc(p.f.len);
        ck_assert_int_eq(wcodec_decode_chunks(w, 0, nc, all,
                                              WCODEC_DEVICE_CPU), 0);
        ck_assert_int_eq(memcmp(all, p.f.data, p.f.len), 0);
        free(all);
        for (int i = 0; i < 5; i++)
            tu_guard_free(out[i], CS);
        wcodec_close(w);
    }
    packed_free(&p);
}
END_TEST

START_TEST(describe_segments)
{
    packed p = pack_model(CS, 2);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(p.dst, &w), 0);
    uint32_t ns = wcodec_segment_count(w);
    ck_assert_uint_ge(ns, 2);
    uint64_t pos = 0, chunk = 0, packed_sum = 0;
    wcodec_segment_info si;
    for (uint32_t i = 0; i < ns; i++) {
        ck_assert_int_eq(wcodec_describe_segment(w, i, &si), 0);
        ck_assert_uint_eq(si.offset, pos);
        ck_assert_uint_gt(si.length, 0);
        ck_assert_uint_eq(si.first_chunk, chunk);
        ck_assert_uint_eq(si.nchunks, (si.length + CS - 1) / CS);
        ck_assert_uint_le(si.raw_chunks, si.nchunks);
        /* nothing is stored larger than itself */
        ck_assert_uint_le(si.packed, si.length);
        ck_assert_ptr_nonnull(si.codec);
        ck_assert_ptr_nonnull(si.dtype);
        ck_assert_msg(!strcmp(si.codec, "raw") || !strcmp(si.codec, "zstd") ||
                          !strcmp(si.codec, "planes") ||
                          !strcmp(si.codec, "joint"),
                      "codec '%s'", si.codec);
        if (!strcmp(si.codec, "joint")) {
            ck_assert_str_eq(si.dtype, "BF16");
            ck_assert_str_eq(si.planes, "a7");
        } else if (!strcmp(si.codec, "planes")) {
            int dt = wc_dtype_from_name(si.dtype);
            ck_assert_int_gt(dt, 0);
            ck_assert_uint_eq(strlen(si.planes), wc_dtype_size(dt));
            for (const char *c = si.planes; *c; c++)
                ck_assert_msg(*c == 'r' || *c == 'c' || *c == 'a',
                              "plane mode '%c'", *c);
        } else {
            ck_assert_str_eq(si.planes, "");
        }
        /* the chunk API agrees */
        uint64_t k;
        ck_assert_int_eq(wcodec_chunk_find(w, si.offset, &k), 0);
        ck_assert_uint_eq(k, si.first_chunk);
        pos += si.length;
        chunk += si.nchunks;
        packed_sum += si.packed;
    }
    ck_assert_uint_eq(pos, p.f.len);
    ck_assert_uint_eq(chunk, wcodec_chunk_count(w));
    ck_assert_uint_le(packed_sum + WC_SUPER_SIZE, wcodec_packed_size(w));
    ck_assert_rc(wcodec_describe_segment(w, ns, &si), WCODEC_E_RANGE);

    /* The first segment starts with the header and is not a tensor. */
    ck_assert_int_eq(wcodec_describe_segment(w, 0, &si), 0);
    ck_assert_str_eq(si.dtype, "");
    /* Large tensors (4+ chunks) are coded as tensors: each lies inside one
     * segment of its dtype (alone, or merged with neighbours of the same
     * dtype). */
    for (size_t t = 0; t < NMODEL; t++) {
        if (model[t].end - model[t].begin < 4 * CS)
            continue;
        uint32_t i = 0;
        for (; i < ns; i++) {
            wcodec_describe_segment(w, i, &si);
            if (si.offset <= model[t].begin &&
                model[t].begin < si.offset + si.length)
                break;
        }
        ck_assert_msg(i < ns, "tensor %s has no segment", model[t].name);
        ck_assert_msg(model[t].end <= si.offset + si.length,
                      "tensor %s [%llu, %llu) split at %llu", model[t].name,
                      (unsigned long long)model[t].begin,
                      (unsigned long long)model[t].end,
                      (unsigned long long)(si.offset + si.length));
        ck_assert_msg(!strcmp(si.dtype, model[t].dtype),
                      "tensor %s in a segment of dtype '%s'", model[t].name,
                      si.dtype);
        if (!strcmp(model[t].name, "const.f32")) {
            /* constant: CONST planes, next to nothing stored */
            ck_assert_str_eq(si.codec, "planes");
            ck_assert_str_eq(si.planes, "cccc");
            ck_assert_uint_le(si.packed * 100, si.length);
        }
        if (!strcmp(model[t].name, "zero.bf16"))
            ck_assert_uint_le(si.packed * 100, si.length);
        if (!strcmp(model[t].name, "noise.u8"))
            ck_assert_msg(!strcmp(si.codec, "raw") ||
                              si.raw_chunks == si.nchunks,
                          "random bytes coded (%s, %u of %llu chunks raw)",
                          si.codec, si.raw_chunks,
                          (unsigned long long)si.nchunks);
        if (!strcmp(model[t].name, "big.BF16") ||
            !strcmp(model[t].name, "big.F32")) {
            /* bf16 weights: the exponent and its top mantissa bit coded
             * together */
            ck_assert_str_eq(si.codec, strcmp(model[t].name, "big.BF16")
                                           ? "planes" : "joint");
            ck_assert_msg(si.planes[0] == 'a', "exponent plane '%c'",
                          si.planes[0]);
        }
    }
    wcodec_close(w);
    packed_free(&p);
}
END_TEST

typedef struct {
    wcodec *w;
    const uint8_t *orig;
    size_t len;
    uint64_t seed;
    int bad;
} reader_arg;

static void *reader_thread(void *a_)
{
    reader_arg *a = a_;
    uint8_t *buf = malloc(3 * CS);
    for (int it = 0; it < 400; it++) {
        uint64_t off = tu_rand(&a->seed) % a->len;
        size_t len = 1 + tu_rand(&a->seed) % (3 * CS);
        ssize_t r = wcodec_pread(a->w, buf, len, off);
        size_t want = a->len - off < len ? a->len - off : len;
        if (r != (ssize_t)want || memcmp(buf, a->orig + off, want))
            a->bad++;
    }
    free(buf);
    return NULL;
}

START_TEST(pread_threads)
{
    packed p = pack_model(CS, 2);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(p.dst, &w), 0);
    pthread_t th[6];
    reader_arg a[6];
    for (int i = 0; i < 6; i++) {
        a[i] = (reader_arg){w, p.f.data, p.f.len, (uint64_t)i + 100, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader_thread, &a[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].bad, 0);
    }
    wcodec_close(w);
    packed_free(&p);
}
END_TEST

START_TEST(open_fd)
{
    packed p = pack_model(CS, 1);
    int fd = open(p.dst, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    wcodec *w;
    ck_assert_int_eq(wcodec_open_fd(fd, "model", &w), 0);
    ck_assert_uint_eq(wcodec_size(w), p.f.len);
    read_check(w, p.f.data, p.f.len, 0, p.f.len, 1);
    wcodec_close(w);
    /* the descriptor is the caller's: still open */
    ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
    close(fd);
    /* and opening what is not there */
    char *nope = tu_path(p.dir, "missing.wcodec");
    w = (wcodec *)1;
    ck_assert_rc(wcodec_open(nope, &w), WCODEC_E_IO);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(wcodec_errdetail(), "missing.wcodec"));
    free(nope);
    packed_free(&p);
}
END_TEST

/* Small files, chunk sizes and thread counts. */
static void roundtrip_bytes(const uint8_t *data, size_t len, uint32_t cs,
                            unsigned threads)
{
    char *dir = fresh_dir();
    char *src = tu_path(dir, "a.safetensors"), *dst = tu_path(dir, "a.wcodec");
    char *back = tu_path(dir, "b.safetensors");
    ck_assert_int_eq(tu_write_file(src, data, len), 0);
    int rc = pack(src, dst, cs, threads, 0, 1);
    ck_assert_msg(rc == 0, "pack: %s", wcodec_errdetail());
    wcodec *w;
    ck_assert_int_eq(wcodec_open(dst, &w), 0);
    ck_assert_uint_eq(wcodec_size(w), len);
    ck_assert_uint_eq(wcodec_chunk_size(w), cs ? cs : WCODEC_DEFAULT_CHUNK_SIZE);
    ck_assert_int_eq(wcodec_verify(w), 0);
    read_check(w, data, len, 0, len + 1, 1);
    uint8_t d[16], want[16];
    wcodec_digest(w, d);
    tu_xxh128(data, len, want);
    ck_assert_int_eq(memcmp(d, want, 16), 0);
    wcodec_close(w);
    ck_assert_int_eq(wcodec_unpack_file(dst, back, 0), 0);
    size_t n;
    uint8_t *b = tu_read_file(back, &n);
    ck_assert_uint_eq(n, len);
    ck_assert_int_eq(memcmp(b, data, len), 0);
    free(b);
    tu_rmrf(dir);
    free(dir);
    free(src);
    free(dst);
    free(back);
}

START_TEST(pack_small_files)
{
    static const char *headers[] = {
        "{}",
        "{}      ",
        "{\"__metadata__\":{\"format\":\"pt\"}}",
        "{\"__metadata__\":{}}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        size_t len;
        uint8_t *f = tu_st_file(headers[i], strlen(headers[i]), NULL, 0, &len);
        roundtrip_bytes(f, len, CS, 1);
        roundtrip_bytes(f, len, 0, 0);
        free(f);
    }
    /* header-only file with bytes after it that no tensor claims */
    size_t len;
    uint8_t *f = tu_st_file("{}", 2, "trailing", 8, &len);
    roundtrip_bytes(f, len, CS, 1);
    free(f);
    /* one tensor exactly filling the data, scalar and empty ones */
    tspec t[] = {{"s", "F32", 1, TU_REAL, "[]", 0, 0, 0},
                 {"e", "BF16", 0, TU_REAL, "[0,7]", 0, 0, 0},
                 {"x", "BF16", 3000, TU_REAL, "[3000]", 0, 0, 0}};
    stfile s = st_build(t, 3, NULL, 0, 1);
    roundtrip_bytes(s.data, s.len, CS, 1);
    free(s.data);
}
END_TEST

START_TEST(pack_chunk_sizes)
{
    stfile f = model_file();
    static const uint32_t sizes[] = {4096, 8192, 65536, 1u << 20, 16u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        roundtrip_bytes(f.data, f.len, sizes[i], (unsigned)(1 + i % 3));
    free(f.data);
}
END_TEST

/* One tensor per dtype and kind of content, at a chunk size that makes
 * every tensor several chunks with a partial last one. */
START_TEST(pack_every_dtype_kind)
{
    int kind = _i;
    tspec t[WC_DT_COUNT];
    for (int dt = 1; dt < WC_DT_COUNT; dt++)
        t[dt - 1] = (tspec){wc_dtype_name(dt), wc_dtype_name(dt),
                            20000 / wc_dtype_size(dt) + 3, kind, NULL,
                            (size_t)(dt % 3), 0, 0};
    stfile f = st_build(t, WC_DT_COUNT - 1, NULL, 9, 100 + (uint64_t)kind);
    roundtrip_bytes(f.data, f.len, CS, 2);
    free(f.data);
}
END_TEST

/* ---- pack options and outputs ----------------------------------------------- */

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    uint64_t *st = ctx; /* [calls, last done, total, backwards] */
    st[0]++;
    if (done < st[1])
        st[3]++;
    st[1] = done;
    st[2] = total;
}

START_TEST(pack_options)
{
    char *dir = fresh_dir();
    char *src = tu_path(dir, "m.safetensors"), *dst = tu_path(dir, "m.wcodec");
    stfile f = model_file();
    ck_assert_int_eq(tu_write_file(src, f.data, f.len), 0);
    static const uint32_t bad[] = {1, 1000, 2048, 4095, 4097, 3 * 4096,
                                   32u << 20, 0x80000000u};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_rc(pack(src, dst, bad[i], 1, 0, 0), WCODEC_E_INVAL);
        ck_assert_int_eq(tu_count_entries(dir), 1);
    }
    /* defaults */
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    ck_assert_uint_eq(o.chunk_size, WCODEC_DEFAULT_CHUNK_SIZE);
    ck_assert_int_eq(o.force, 0);
    ck_assert_int_eq(o.verify, 0);
    ck_assert_int_eq(wcodec_pack_file(src, dst, NULL), 0);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(dst, &w), 0);
    ck_assert_uint_eq(wcodec_chunk_size(w), WCODEC_DEFAULT_CHUNK_SIZE);
    wcodec_close(w);
    unlink(dst);
    /* progress: forward only, ends at the file size */
    uint64_t st[4] = {0};
    o.chunk_size = CS;
    o.progress = progress_cb;
    o.progress_ctx = st;
    ck_assert_int_eq(wcodec_pack_file(src, dst, &o), 0);
    ck_assert_uint_gt(st[0], 0);
    ck_assert_uint_eq(st[3], 0);
    ck_assert_uint_eq(st[1], f.len);
    ck_assert_uint_eq(st[2], f.len);
    free(f.data);
    tu_rmrf(dir);
    free(dir);
    free(src);
    free(dst);
}
END_TEST

START_TEST(pack_existing_output)
{
    packed p = pack_model(CS, 1);
    size_t n0;
    uint8_t *before = tu_read_file(p.dst, &n0);
    int entries = tu_count_entries(p.dir);
    /* without force: EXISTS, untouched, nothing left beside it */
    ck_assert_rc(pack(p.src, p.dst, CS, 1, 0, 0), WCODEC_E_EXISTS);
    ck_assert_ptr_nonnull(strstr(wcodec_errdetail(), "model.wcodec"));
    size_t n1;
    uint8_t *after = tu_read_file(p.dst, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_int_eq(memcmp(before, after, n0), 0);
    ck_assert_int_eq(tu_count_entries(p.dir), entries);
    free(after);
    /* an unrelated file under the name is not replaced either */
    ck_assert_int_eq(tu_write_file(p.dst, "precious", 8), 0);
    ck_assert_rc(pack(p.src, p.dst, CS, 1, 0, 0), WCODEC_E_EXISTS);
    after = tu_read_file(p.dst, &n1);
    ck_assert_uint_eq(n1, 8);
    ck_assert_int_eq(memcmp(after, "precious", 8), 0);
    free(after);
    /* with force: replaced by a good container */
    ck_assert_int_eq(pack(p.src, p.dst, CS, 1, 1, 1), 0);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(p.dst, &w), 0);
    ck_assert_int_eq(wcodec_verify(w), 0);
    wcodec_close(w);
    ck_assert_int_eq(tu_count_entries(p.dir), entries);
    free(before);
    packed_free(&p);
}
END_TEST

/* The destination appears while packing: the finished container does not
 * replace it (no force), and no temporary is left. */
static void create_dst_cb(void *ctx, uint64_t done, uint64_t total)
{
    const char *dst = ctx;
    if (done * 2 >= total && !tu_exists(dst))
        tu_write_file(dst, "raced", 5);
}

START_TEST(pack_output_appears)
{
    char *dir = fresh_dir();
    char *src = tu_path(dir, "m.safetensors"), *dst = tu_path(dir, "m.wcodec");
    stfile f = model_file();
    ck_assert_int_eq(tu_write_file(src, f.data, f.len), 0);
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    o.chunk_size = CS;
    o.progress = create_dst_cb;
    o.progress_ctx = dst;
    ck_assert_rc(wcodec_pack_file(src, dst, &o), WCODEC_E_EXISTS);
    size_t n;
    uint8_t *b = tu_read_file(dst, &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(b, "raced", 5), 0);
    free(b);
    ck_assert_int_eq(tu_count_entries(dir), 2);
    free(f.data);
    tu_rmrf(dir);
    free(dir);
    free(src);
    free(dst);
}
END_TEST

START_TEST(pack_bad_paths)
{
    char *dir = fresh_dir();
    char *src = tu_path(dir, "m.safetensors");
    stfile f = model_file();
    ck_assert_int_eq(tu_write_file(src, f.data, f.len), 0);
    char *nodir = tu_path(dir, "no/such/dir/m.wcodec");
    int rc = pack(src, nodir, CS, 1, 0, 0);
    ck_assert_rc(rc, WCODEC_E_IO);
    char *nosrc = tu_path(dir, "missing.safetensors");
    char *dst = tu_path(dir, "m.wcodec");
    ck_assert_rc(pack(nosrc, dst, CS, 1, 0, 0), WCODEC_E_IO);
    ck_assert_ptr_nonnull(strstr(wcodec_errdetail(), "missing.safetensors"));
    /* a folder is not a safetensors file */
    ck_assert_rc(pack(dir, dst, CS, 1, 0, 0), WCODEC_E_ST_FORMAT);
    ck_assert_int_eq(tu_count_entries(dir), 1);
    free(f.data);
    tu_rmrf(dir);
    free(dir);
    free(src);
    free(nodir);
    free(nosrc);
    free(dst);
}
END_TEST

/* ---- wcodec_unpack_file ------------------------------------------------------------- */

START_TEST(unpack)
{
    packed p = pack_model(CS, 2);
    char *out = tu_path(p.dir, "out.safetensors");
    ck_assert_int_eq(wcodec_unpack_file(p.dst, out, 0), 0);
    size_t n;
    uint8_t *b = tu_read_file(out, &n);
    ck_assert_uint_eq(n, p.f.len);
    ck_assert_int_eq(memcmp(b, p.f.data, n), 0);
    free(b);
    /* existing output: EXISTS and untouched; force replaces */
    ck_assert_int_eq(tu_write_file(out, "keep", 4), 0);
    ck_assert_rc(wcodec_unpack_file(p.dst, out, 0), WCODEC_E_EXISTS);
    b = tu_read_file(out, &n);
    ck_assert_uint_eq(n, 4);
    free(b);
    ck_assert_int_eq(wcodec_unpack_file(p.dst, out, 1), 0);
    b = tu_read_file(out, &n);
    ck_assert_uint_eq(n, p.f.len);
    ck_assert_int_eq(memcmp(b, p.f.data, n), 0);
    free(b);
    unlink(out);
    /* not a container: nothing written */
    ck_assert_rc(wcodec_unpack_file(p.src, out, 0), WCODEC_E_NOT_CONTAINER);
    ck_assert_int_eq(tu_exists(out), 0);
    ck_assert_int_eq(tu_count_entries(p.dir), 2);
    free(out);
    packed_free(&p);
}
END_TEST

/* ---- malformed safetensors --------------------------------------------------------- */

typedef struct {
    const char *what;
    const char *header; /* NULL: raw bytes below */
    size_t data_len;    /* zero bytes after the header */
    int code;
} bad_st;

#define T1(dtype, shape, offs) \
    "{\"t\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static const bad_st bad_headers[] = {
    /* not JSON, or not an object */
    {"cut JSON", "{\"a\":", 0, WCODEC_E_ST_JSON},
    {"missing colon", "{\"a\" 1}", 0, WCODEC_E_ST_JSON},
    {"extra brace", "{}}", 0, WCODEC_E_ST_JSON},
    {"bad UTF-8", "{\"\xff\xfe\":{}}", 0, WCODEC_E_ST_JSON},
    {"array", "[1,2]", 0, WCODEC_E_ST_JSON},
    {"string", "\"{}\"", 0, WCODEC_E_ST_JSON},
    {"number", "12", 0, WCODEC_E_ST_JSON},
    {"tensor not an object", "{\"t\":5}", 0, WCODEC_E_ST_JSON},
    {"metadata not an object", "{\"__metadata__\":\"x\"}", 0,
     WCODEC_E_ST_JSON},
    /* missing or mistyped fields */
    {"no dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     WCODEC_E_ST_JSON},
    {"no shape", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
     WCODEC_E_ST_JSON},
    {"no offsets", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
     WCODEC_E_ST_JSON},
    {"one offset", T1("F32", "[1]", "[0]"), 4, WCODEC_E_ST_JSON},
    {"three offsets", T1("F32", "[1]", "[0,4,4]"), 4, WCODEC_E_ST_JSON},
    {"dtype not a string",
     "{\"t\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     WCODEC_E_ST_JSON},
    {"shape not an array", T1("F32", "1", "[0,4]"), 4, WCODEC_E_ST_JSON},
    /* dtypes */
    {"unknown dtype", T1("F12", "[1]", "[0,4]"), 4, WCODEC_E_ST_DTYPE},
    {"lower-case dtype", T1("bf16", "[2]", "[0,4]"), 4, WCODEC_E_ST_DTYPE},
    {"empty dtype", T1("", "[1]", "[0,4]"), 4, WCODEC_E_ST_DTYPE},
    /* shape x dtype size != bytes */
    {"shape too small", T1("F32", "[2]", "[0,4]"), 8, WCODEC_E_ST_SHAPE},
    {"shape too big", T1("BF16", "[3]", "[0,4]"), 8, WCODEC_E_ST_SHAPE},
    {"scalar of 8 bytes", T1("F32", "[]", "[0,8]"), 8, WCODEC_E_ST_SHAPE},
    {"empty shape, bytes", T1("F32", "[0]", "[0,4]"), 4, WCODEC_E_ST_SHAPE},
    {"negative dim", T1("U8", "[-4]", "[0,4]"), 4, WCODEC_E_ST_SHAPE},
    {"fractional dim", T1("U8", "[4.0]", "[0,4]"), 4, WCODEC_E_ST_SHAPE},
    {"string dim", T1("U8", "[\"4\"]", "[0,4]"), 4, WCODEC_E_ST_SHAPE},
    {"overflowing dims",
     T1("F64", "[4294967296,4294967296,1024]", "[0,0]"), 0,
     WCODEC_E_ST_SHAPE},
    {"overflow by dtype", T1("F64", "[2305843009213693952]", "[0,0]"), 0,
     WCODEC_E_ST_SHAPE},
    /* offsets */
    {"end past data", T1("U8", "[4]", "[0,4]"), 3, WCODEC_E_ST_OFFSETS},
    {"begin past data", T1("U8", "[0]", "[9,9]"), 4, WCODEC_E_ST_OFFSETS},
    {"begin > end", T1("U8", "[0]", "[4,0]"), 4, WCODEC_E_ST_OFFSETS},
    {"negative offset", T1("U8", "[4]", "[-4,0]"), 4, WCODEC_E_ST_OFFSETS},
    {"string offset", T1("U8", "[4]", "[\"0\",4]"), 4, WCODEC_E_ST_OFFSETS},
    {"huge offsets", T1("U8", "[0]",
                        "[9223372036854775807,9223372036854775807]"),
     4, WCODEC_E_ST_OFFSETS},
    /* overlaps */
    {"overlap",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}",
     12, WCODEC_E_ST_OFFSETS},
    {"same range",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"I8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
     8, WCODEC_E_ST_OFFSETS},
    {"nested",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]},"
     "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[16,18]}}",
     18, WCODEC_E_ST_OFFSETS},
    {"nested after its end",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
     "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[8,10]}}",
     18, WCODEC_E_ST_OFFSETS},
    {"overlap behind an empty tensor",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
     "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[12,20]}}",
     20, WCODEC_E_ST_OFFSETS},
    {"overlap behind an empty tensor at its start",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
     "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[12,12]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[12,20]}}",
     20, WCODEC_E_ST_OFFSETS},
    {"overlap behind two empty tensors",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
     "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
     "\"f\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[15,15]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[15,16]}}",
     20, WCODEC_E_ST_OFFSETS},
};

/* Valid corner cases next to the invalid ones: these pack. */
static const bad_st good_headers[] = {
    {"adjacent",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[8,16]}}",
     16, 0},
    {"empty inside another",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
     "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]}}",
     16, 0},
    {"empty tensors at the same place",
     "{\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
     "\"f\":{\"dtype\":\"BF16\",\"shape\":[0,9],\"data_offsets\":[4,4]}}",
     8, 0},
    {"empty at the end", T1("U8", "[0]", "[4,4]"), 4, 0},
    {"gaps and trailing bytes", T1("U8", "[4]", "[10,14]"), 30, 0},
    {"scalar", T1("F64", "[]", "[0,8]"), 8, 0},
    {"space padding", T1("U8", "[4]", "[0,4]") "        ", 4, 0},
    {"unicode name", "{\"\xc3\xa9t\xc3\xa9\":{\"dtype\":\"U8\",\"shape\":[1],"
                     "\"data_offsets\":[0,1]}}", 1, 0},
};

static int pack_bytes(const char *dir, const uint8_t *b, size_t n)
{
    char *src = tu_path(dir, "in.safetensors"), *dst = tu_path(dir, "out.wcodec");
    ck_assert_int_eq(tu_write_file(src, b, n), 0);
    int rc = pack(src, dst, CS, 1, 0, 0);
    if (rc) {
        /* nothing under the final name, no temporary beside it */
        ck_assert_msg(!tu_exists(dst), "failed pack left %s", dst);
        ck_assert_int_eq(tu_count_entries(dir), 1);
        ck_assert_msg(strstr(wcodec_errdetail(), "in.safetensors"),
                      "error detail does not name the file: %s",
                      wcodec_errdetail());
    } else {
        unlink(dst);
    }
    unlink(src);
    free(src);
    free(dst);
    return rc;
}

START_TEST(st_malformed)
{
    const bad_st *c = &bad_headers[_i];
    char *dir = fresh_dir();
    size_t n;
    uint8_t *zeros = calloc(1, c->data_len + 1);
    uint8_t *f = tu_st_file(c->header, strlen(c->header), zeros, c->data_len,
                            &n);
    int rc = pack_bytes(dir, f, n);
    ck_assert_msg(rc == -c->code, "%s: expected %s, got %s (%s)", c->what,
                  wcodec_strerror(c->code), wcodec_strerror(rc),
                  wcodec_errdetail());
    free(f);
    free(zeros);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

START_TEST(st_valid_corners)
{
    const bad_st *c = &good_headers[_i];
    size_t n;
    uint8_t *data = malloc(c->data_len + 1);
    uint64_t seed = (uint64_t)_i;
    tu_fill_random(&seed, data, c->data_len);
    uint8_t *f = tu_st_file(c->header, strlen(c->header), data, c->data_len,
                            &n);
    roundtrip_bytes(f, n, CS, 1);
    free(f);
    free(data);
}
END_TEST

START_TEST(st_bad_length)
{
    char *dir = fresh_dir();
    uint8_t b[64] = {0};
    /* shorter than the 8-byte length */
    for (size_t n = 0; n < 8; n++)
        ck_assert_rc(pack_bytes(dir, b, n), WCODEC_E_ST_FORMAT);
    /* length 0 and 1: no room for "{}" */
    ck_assert_rc(pack_bytes(dir, b, 8), WCODEC_E_ST_FORMAT);
    b[0] = 1;
    b[8] = '{';
    ck_assert_rc(pack_bytes(dir, b, 9), WCODEC_E_ST_FORMAT);
    /* header length past the end of the file */
    memcpy(b, "\x03\0\0\0\0\0\0\0{}", 10);
    ck_assert_rc(pack_bytes(dir, b, 10), WCODEC_E_ST_FORMAT);
    memset(b, 0xff, 8);
    ck_assert_rc(pack_bytes(dir, b, 10), WCODEC_E_ST_FORMAT);
    memcpy(b, "\x00\x00\x00\x00\x00\x00\x00\x80{}", 10);
    ck_assert_rc(pack_bytes(dir, b, 10), WCODEC_E_ST_FORMAT);
    tu_rmrf(dir);
    free(dir);
}
END_TEST

/* A header length over safetensors' 100 MB limit, in a (sparse) file long
 * enough to hold it: rejected before anything is parsed. */
START_TEST(st_header_over_limit)
{
    char *dir = fresh_dir();
    char *src = tu_path(dir, "big.safetensors"), *dst = tu_path(dir, "big.wcodec");
    uint64_t hl = 100ull * 1024 * 1024 + 1;
    int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(hl >> 8 * i);
    ck_assert_int_eq(pwrite(fd, len, 8, 0), 8);
    ck_assert_int_eq(pwrite(fd, "{}", 2, 8), 2);
    ck_assert_int_eq(ftruncate(fd, (off_t)(8 + hl + 16)), 0);
    close(fd);
    ck_assert_rc(pack(src, dst, CS, 1, 0, 0), WCODEC_E_ST_FORMAT);
    ck_assert_int_eq(tu_exists(dst), 0);
    /* exactly at the limit is allowed by the length check (the JSON, a
     * '{' and spaces without a '}', is what fails then) */
    hl = 100ull * 1024 * 1024;
    fd = open(src, O_WRONLY | O_TRUNC);
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(hl >> 8 * i);
    ck_assert_int_eq(pwrite(fd, len, 8, 0), 8);
    ck_assert_int_eq(pwrite(fd, "{", 1, 8), 1);
    ck_assert_int_eq(ftruncate(fd, (off_t)(8 + hl)), 0);
    close(fd);
    int rc = pack(src, dst, CS, 1, 0, 0);
    ck_assert_msg(rc == -WCODEC_E_ST_JSON, "got %s", wcodec_strerror(rc));
    ck_assert_int_eq(tu_exists(dst), 0);
    tu_rmrf(dir);
    free(dir);
    free(src);
    free(dst);
}
END_TEST

/* ---- damaged containers --------------------------------------------------------- */

typedef struct {
    packed p;
    uint8_t *c; /* pristine container bytes */
    size_t clen;
    uint64_t ioff, isz, nchunks;
    uint32_t nseg;
    int fd; /* the damaged copy: a memfd, opened as "work.wcodec" */
} damaged;

static damaged damage_setup(void)
{
    damaged d;
    d.p = pack_model(CS, 2);
    d.c = tu_read_file(d.p.dst, &d.clen);
    ck_assert_ptr_nonnull(d.c);
    d.ioff = wc_get64(d.c + 24);
    d.isz = wc_get64(d.c + 32);
    d.nchunks = wc_get64(d.c + 40);
    d.nseg = wc_get32(d.c + 52);
    ck_assert_uint_eq(d.ioff + d.isz, d.clen);
    /* checksums as the format has them: XXH3-64 of the index and of the
     * first 72 superblock bytes */
    ck_assert_uint_eq(wc_get64(d.c + 56), XXH3_64bits(d.c + d.ioff, d.isz));
    ck_assert_uint_eq(wc_get64(d.c + 72), XXH3_64bits(d.c, 72));
    /* Damaged copies live in memory: rewriting a file on disk hundreds of
     * times costs seconds of writeback. */
    d.fd = memfd_create("work.wcodec", MFD_CLOEXEC);
    ck_assert_int_ge(d.fd, 0);
    return d;
}

static void damage_free(damaged *d)
{
    free(d->c);
    close(d->fd);
    packed_free(&d->p);
}

/* Recompute the index and superblock checksums of a modified copy. */
static void reseal(uint8_t *c, uint64_t ioff, uint64_t isz)
{
    wc_put64(c + 56, XXH3_64bits(c + ioff, isz));
    wc_put64(c + 72, XXH3_64bits(c, 72));
}

#define BIT(code) (1u << (code))

/* Open the damaged copy (len bytes of buf). If open fails, its code must
 * be in open_ok. If it opens, every chunk is decoded and the whole file
 * read: each read gives the original bytes or fails; verify as well.
 * Returns the open code (0 if it opened) and, in *read_fail, how many
 * chunks failed. */
static void set_copy(damaged *d, const uint8_t *buf, size_t len)
{
    ck_assert_int_eq(ftruncate(d->fd, 0), 0);
    ck_assert_int_eq(pwrite(d->fd, buf, len, 0), (ssize_t)len);
}

/* Flip bits of one byte of the copy in place. */
static void flip(damaged *d, uint64_t at, uint8_t mask)
{
    uint8_t v = d->c[at] ^ mask;
    ck_assert_int_eq(pwrite(d->fd, &v, 1, (off_t)at), 1);
}

static void unflip(damaged *d, uint64_t at)
{
    ck_assert_int_eq(pwrite(d->fd, d->c + at, 1, (off_t)at), 1);
}

static int try_open(damaged *d, unsigned open_ok, int *read_fail);

static int try_container(damaged *d, const uint8_t *buf, size_t len,
                         unsigned open_ok, int *read_fail)
{
    set_copy(d, buf, len);
    return try_open(d, open_ok, read_fail);
}

static int try_open(damaged *d, unsigned open_ok, int *read_fail)
{
    wcodec *w;
    int rc = wcodec_open_fd(d->fd, "work.wcodec", &w);
    if (read_fail)
        *read_fail = 0;
    if (rc) {
        ck_assert_msg(rc < 0 && (open_ok & BIT(-rc)),
                      "open failed with %s (%s)", wcodec_strerror(rc),
                      wcodec_errdetail());
        ck_assert_ptr_null(w);
        return rc;
    }
    const uint8_t *orig = d->p.f.data;
    size_t olen = d->p.f.len;
    ck_assert_uint_eq(wcodec_size(w), olen);
    uint8_t *buf2 = malloc(WC_CHUNK_MAX);
    for (uint64_t k = 0; k < wcodec_chunk_count(w); k++) {
        uint64_t off;
        uint32_t clen;
        ck_assert_int_eq(wcodec_chunk_extent(w, k, &off, &clen), 0);
        ck_assert_uint_le(off + clen, olen);
        int r = wcodec_chunk_decode(w, k, buf2);
        if (r == 0)
            ck_assert_msg(memcmp(buf2, orig + off, clen) == 0,
                          "chunk %llu decoded to different bytes",
                          (unsigned long long)k);
        else {
            ck_assert_msg(r == -WCODEC_E_CORRUPT || r == -WCODEC_E_TRUNCATED ||
                              r == -WCODEC_E_IO,
                          "chunk decode failed with %s", wcodec_strerror(r));
            if (read_fail)
                (*read_fail)++;
        }
    }
    free(buf2);
    read_check(w, orig, olen, 0, olen, 0);
    int v = wcodec_verify(w);
    ck_assert_msg(v == 0 || v == -WCODEC_E_CORRUPT || v == -WCODEC_E_TRUNCATED ||
                      v == -WCODEC_E_DIGEST || v == -WCODEC_E_IO,
                  "verify: %s", wcodec_strerror(v));
    if (read_fail && *read_fail)
        ck_assert_msg(v != 0, "verify passed although chunks fail");
    wcodec_close(w);
    return 0;
}

START_TEST(truncated)
{
    damaged d = damage_setup();
    size_t cuts[200];
    size_t nc = 0;
    for (int i = 0; i < 50; i++)
        cuts[nc++] = d.clen * (size_t)i / 50;
    for (size_t i = 0; i <= WC_SUPER_SIZE; i += 1)
        if (nc < 200)
            cuts[nc++] = i;
    for (int i = 0; i < 20; i++)
        cuts[nc++] = d.ioff + d.isz * (size_t)i / 20;
    cuts[nc++] = d.clen - 1;
    for (size_t i = 0; i < nc; i++) {
        size_t len = cuts[i];
        int rc = try_container(&d, d.c, len,
                               BIT(WCODEC_E_TRUNCATED) |
                                   BIT(WCODEC_E_NOT_CONTAINER),
                               NULL);
        /* the index is at the end, so any cut loses part of it */
        if (len < 8)
            ck_assert_msg(rc == -WCODEC_E_NOT_CONTAINER, "cut at %zu: %s",
                          len, wcodec_strerror(rc));
        else
            ck_assert_msg(rc == -WCODEC_E_TRUNCATED, "cut at %zu: %s", len,
                          wcodec_strerror(rc));
    }
    /* bytes appended after the index change nothing */
    uint8_t *more = malloc(d.clen + 100);
    memcpy(more, d.c, d.clen);
    memset(more + d.clen, 0x5a, 100);
    ck_assert_int_eq(try_container(&d, more, d.clen + 100, 0, NULL), 0);
    free(more);
    damage_free(&d);
}
END_TEST

/* Truncated after it was opened: reads of the lost payloads fail with
 * TRUNCATED; the others still work. */
START_TEST(truncated_after_open)
{
    damaged d = damage_setup();
    set_copy(&d, d.c, d.clen);
    wcodec *w;
    ck_assert_int_eq(wcodec_open_fd(d.fd, "work.wcodec", &w), 0);
    uint64_t cut = WC_SUPER_SIZE + (d.ioff - WC_SUPER_SIZE) / 2;
    ck_assert_int_eq(ftruncate(d.fd, (off_t)cut), 0);
    uint8_t *buf = malloc(CS);
    int lost = 0;
    for (uint64_t k = 0; k < wcodec_chunk_count(w); k++) {
        const uint8_t *e = d.c + d.ioff + WC_DIGEST_SIZE +
                           (uint64_t)d.nseg * WC_SEG_REC + k * WC_CHUNK_REC;
        uint64_t coff = wc_get64(e);
        uint32_t csize = wc_get32(e + 8);
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, k, &off, &len);
        int rc = wcodec_chunk_decode(w, k, buf);
        if (csize == 0 || coff + csize <= cut) {
            ck_assert_int_eq(rc, 0);
            ck_assert_int_eq(memcmp(buf, d.p.f.data + off, len), 0);
        } else {
            ck_assert_rc(rc, WCODEC_E_TRUNCATED);
            lost++;
        }
    }
    ck_assert_int_gt(lost, 0);
    ck_assert_rc(wcodec_verify(w), WCODEC_E_TRUNCATED);
    free(buf);
    wcodec_close(w);
    damage_free(&d);
}
END_TEST

/* The same through runs of chunks, buffered and with direct I/O: a run
 * that reaches a lost payload fails with TRUNCATED, one that does not
 * decodes right. */
START_TEST(truncated_runs)
{
    damaged d = damage_setup();
    for (int direct = 0; direct < 2; direct++) {
        set_copy(&d, d.c, d.clen);
        wcodec *w;
        ck_assert_int_eq(wcodec_open_fd(d.fd, "work.wcodec", &w), 0);
        if (direct) {
            char path[64];
            snprintf(path, sizeof path, "/proc/self/fd/%d", d.fd);
            int dfd = open(path, O_RDONLY | O_DIRECT);
            if (dfd < 0) {
                fprintf(stderr, "truncated_runs: no O_DIRECT here (%s)\n",
                        strerror(errno));
                wcodec_close(w);
                break;
            }
            wc_reader_set_direct(w, dfd);
        }
        uint64_t cut = WC_SUPER_SIZE + (d.ioff - WC_SUPER_SIZE) / 2;
        ck_assert_int_eq(ftruncate(d.fd, (off_t)cut), 0);
        uint64_t nc = wcodec_chunk_count(w);
        uint8_t *out[4];
        for (int i = 0; i < 4; i++)
            out[i] = malloc(CS);
        int lost = 0, kept = 0;
        for (uint64_t k = 0; k < nc; k++) {
            uint64_t n = nc - k < 4 ? nc - k : 4, reach = 0;
            for (uint64_t i = 0; i < n; i++) {
                const uint8_t *e = d.c + d.ioff + WC_DIGEST_SIZE +
                                   (uint64_t)d.nseg * WC_SEG_REC +
                                   (k + i) * WC_CHUNK_REC;
                uint64_t end = wc_get64(e) + wc_get32(e + 8);
                if (wc_get32(e + 8) && end > reach) /* empty: nothing read */
                    reach = end;
            }
            int rc = wc_decode_run(w, k, n, out);
            if (reach <= cut) {
                ck_assert_int_eq(rc, 0);
                for (uint64_t i = 0; i < n; i++) {
                    uint64_t off;
                    uint32_t len;
                    wcodec_chunk_extent(w, k + i, &off, &len);
                    ck_assert_int_eq(memcmp(out[i], d.p.f.data + off, len), 0);
                }
                kept++;
            } else {
                ck_assert_rc(rc, WCODEC_E_TRUNCATED);
                lost++;
            }
        }
        ck_assert_int_gt(lost, 0);
        ck_assert_int_gt(kept, 0);
        for (int i = 0; i < 4; i++)
            free(out[i]);
        wcodec_close(w);
    }
    damage_free(&d);
}
END_TEST

START_TEST(superblock_bits)
{
    damaged d = damage_setup();
    set_copy(&d, d.c, d.clen);
    for (size_t bit = 0; bit < 8 * WC_SUPER_SIZE; bit++) {
        flip(&d, bit / 8, (uint8_t)(1u << bit % 8));
        int rc = try_open(&d, ~0u, NULL);
        if (bit / 8 < 8)
            ck_assert_msg(rc == -WCODEC_E_NOT_CONTAINER, "magic bit %zu: %s",
                          bit, wcodec_strerror(rc));
        else
            ck_assert_msg(rc == -WCODEC_E_CORRUPT, "superblock bit %zu: %s",
                          bit, wcodec_strerror(rc));
        unflip(&d, bit / 8);
    }
    damage_free(&d);
}
END_TEST

START_TEST(index_bits)
{
    damaged d = damage_setup();
    set_copy(&d, d.c, d.clen);
    /* one bit in every byte of the index: the index checksum catches it */
    for (uint64_t i = d.ioff; i < d.clen; i++) {
        flip(&d, i, (uint8_t)(1u << i % 8));
        int rc = try_open(&d, BIT(WCODEC_E_CORRUPT), NULL);
        ck_assert_msg(rc == -WCODEC_E_CORRUPT, "index byte %llu: %s",
                      (unsigned long long)(i - d.ioff), wcodec_strerror(rc));
        unflip(&d, i);
    }
    damage_free(&d);
}
END_TEST

/* Every bit of the codec tables (the PLANES parameters at the end of the
 * index). */
START_TEST(codec_table_bits)
{
    damaged d = damage_setup();
    uint64_t poff = d.ioff + WC_DIGEST_SIZE + (uint64_t)d.nseg * WC_SEG_REC +
                    d.nchunks * WC_CHUNK_REC;
    ck_assert_uint_gt(d.clen - poff, 32); /* the model has rANS tables */
    set_copy(&d, d.c, d.clen);
    for (uint64_t bit = 8 * poff; bit < 8 * (uint64_t)d.clen; bit++) {
        flip(&d, bit / 8, (uint8_t)(1u << bit % 8));
        ck_assert_rc(try_open(&d, BIT(WCODEC_E_CORRUPT), NULL),
                     WCODEC_E_CORRUPT);
        unflip(&d, bit / 8);
    }
    damage_free(&d);
}
END_TEST

/* Bits of chunk payloads: the container opens, only the chunk holding the
 * bit can fail, and it fails rather than returning other bytes. */
START_TEST(payload_bits)
{
    damaged d = damage_setup();
    set_copy(&d, d.c, d.clen);
    const uint8_t *ct = d.c + d.ioff + WC_DIGEST_SIZE +
                        (uint64_t)d.nseg * WC_SEG_REC;
    int tries = 0, detected = 0;
    uint64_t span = d.ioff - WC_SUPER_SIZE;
    uint8_t *out = malloc(CS);
    /* densely through the first two chunks, then ~400 spots over the rest */
    for (uint64_t i = WC_SUPER_SIZE; i < d.ioff;
         i += (i < WC_SUPER_SIZE + 2 * CS) ? 13 : 1 + span / 400) {
        /* the chunk this byte belongs to */
        uint64_t k = 0;
        for (; k < d.nchunks; k++) {
            uint64_t o = wc_get64(ct + k * WC_CHUNK_REC);
            uint32_t s = wc_get32(ct + k * WC_CHUNK_REC + 8);
            if (i >= o && i < o + s)
                break;
        }
        ck_assert_uint_lt(k, d.nchunks); /* payloads are contiguous */
        flip(&d, i, (uint8_t)(1u << i % 8));
        wcodec *w;
        ck_assert_int_eq(wcodec_open_fd(d.fd, "work.wcodec", &w), 0);
        for (uint64_t j = 0; j < d.nchunks; j++) {
            uint64_t off;
            uint32_t len;
            wcodec_chunk_extent(w, j, &off, &len);
            int rc = wcodec_chunk_decode(w, j, out);
            if (j != k) {
                ck_assert_msg(rc == 0, "chunk %llu failed after a flip in %llu",
                              (unsigned long long)j, (unsigned long long)k);
            } else if (rc) {
                ck_assert_rc(rc, WCODEC_E_CORRUPT);
                detected++;
            }
            if (!rc)
                ck_assert_msg(memcmp(out, d.p.f.data + off, len) == 0,
                              "chunk %llu decoded to different bytes",
                              (unsigned long long)j);
        }
        tries++;
        /* a read across the damaged chunk and its neighbours */
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, k, &off, &len);
        uint64_t from = off > CS / 2 ? off - CS / 2 : 0;
        read_check(w, d.p.f.data, d.p.f.len, from, len + CS, 0);
        wcodec_close(w);
        unflip(&d, i);
    }
    free(out);
    /* a payload byte that does not matter is rare */
    ck_assert_msg(detected * 100 >= tries * 95, "%d of %d flips detected",
                  detected, tries);
    damage_free(&d);
}
END_TEST

START_TEST(wrong_magic)
{
    damaged d = damage_setup();
    uint8_t *b = malloc(d.clen);
    memcpy(b, d.c, d.clen);
    memcpy(b, "\x89WCODEX\n", 8);
    ck_assert_rc(try_container(&d, b, d.clen, ~0u, NULL),
                 WCODEC_E_NOT_CONTAINER);
    memset(b, 0, 8);
    ck_assert_rc(try_container(&d, b, d.clen, ~0u, NULL),
                 WCODEC_E_NOT_CONTAINER);
    /* the safetensors file itself, and an empty file */
    ck_assert_rc(try_container(&d, d.p.f.data, d.p.f.len, ~0u, NULL),
                 WCODEC_E_NOT_CONTAINER);
    ck_assert_rc(try_container(&d, b, 0, ~0u, NULL), WCODEC_E_NOT_CONTAINER);
    ck_assert_ptr_nonnull(strstr(wcodec_errdetail(), "work.wcodec"));
    free(b);
    damage_free(&d);
}
END_TEST

/* Superblock fields changed with the checksums recomputed. */
START_TEST(forged_superblock)
{
    damaged d = damage_setup();
    uint8_t *b = malloc(d.clen);
#define FORGE(stmt, ok, expect)                                            \
    do {                                                                   \
        memcpy(b, d.c, d.clen);                                            \
        stmt;                                                              \
        reseal(b, d.ioff, d.isz);                                          \
        int rc_ = try_container(&d, b, d.clen, ok, NULL);                  \
        ck_assert_msg(rc_ == (expect), "%s: got %s, want %s", #stmt,       \
                      wcodec_strerror(rc_), wcodec_strerror(expect));      \
    } while (0)
    unsigned V = BIT(WCODEC_E_VERSION), C = BIT(WCODEC_E_CORRUPT),
             T = BIT(WCODEC_E_TRUNCATED);
    FORGE(wc_put16(b + 8, 2), V, -WCODEC_E_VERSION);
    FORGE(wc_put16(b + 8, 0), V, -WCODEC_E_VERSION);
    FORGE(wc_put16(b + 8, 0xffff), V, -WCODEC_E_VERSION);
    FORGE(wc_put32(b + 12, 1), V, -WCODEC_E_VERSION);
    FORGE(wc_put32(b + 12, 0x80000000u), V, -WCODEC_E_VERSION);
    /* a newer minor version of format 1 is read */
    FORGE(wc_put16(b + 10, 7), 0, 0);
    FORGE(wc_put16(b + 10, 0xffff), 0, 0);
    FORGE(wc_put64(b + 64, 1), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 48, 2048), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 48, 4097), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 48, 8192), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 48, 32u << 20), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 48, 0), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 24, 0), C | T, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 24, WC_SUPER_SIZE - 1), C | T, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 32, d.isz + 1), T, -WCODEC_E_TRUNCATED);
    FORGE(wc_put64(b + 24, d.ioff + 1), T, -WCODEC_E_TRUNCATED);
    FORGE(wc_put64(b + 24, UINT64_MAX - 8), C | T, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 32, UINT64_MAX), C | T, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 16, d.p.f.len + 1), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 16, d.p.f.len - 1), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 16, 0), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 40, d.nchunks + 1), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 40, d.nchunks - 1), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put64(b + 40, UINT64_MAX), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 52, d.nseg + 1), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 52, d.nseg - 1), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 52, 0xffffffffu), C, -WCODEC_E_CORRUPT);
    FORGE(wc_put32(b + 52, 0), C, -WCODEC_E_CORRUPT);
    free(b);
    damage_free(&d);
}
END_TEST

/* Index fields changed with the checksums recomputed: the structure
 * checks behind the checksum. */
START_TEST(forged_index)
{
    damaged d = damage_setup();
    uint8_t *b = malloc(d.clen);
    uint8_t *ix = b + d.ioff;
    uint8_t *seg = ix + WC_DIGEST_SIZE;
    uint8_t *ch = seg + (size_t)d.nseg * WC_SEG_REC;
    uint8_t *par = ch + (size_t)d.nchunks * WC_CHUNK_REC;
    unsigned C = BIT(WCODEC_E_CORRUPT);
    int CC = -WCODEC_E_CORRUPT;
    /* find a PLANES segment with a rANS plane and a coded chunk */
    uint32_t ps = 0, pseg = 0;
    for (uint32_t i = 0; i < d.nseg; i++) {
        const uint8_t *s = d.c + d.ioff + WC_DIGEST_SIZE + i * WC_SEG_REC;
        if (s[32] == WC_CODEC_PLANES && wc_get32(s + 28) > 8) {
            pseg = i;
            ps = wc_get32(s + 24);
            break;
        }
    }
    ck_assert_uint_gt(wc_get32(d.c + d.ioff + WC_DIGEST_SIZE +
                               pseg * WC_SEG_REC + 28), 8);
    uint64_t kcoded = 0;
    for (; kcoded < d.nchunks; kcoded++) {
        const uint8_t *e = d.c + d.ioff + WC_DIGEST_SIZE +
                           (uint64_t)d.nseg * WC_SEG_REC + kcoded * WC_CHUNK_REC;
        if (!(e[12] & WC_CHUNK_F_RAW) && wc_get32(e + 8) > 0)
            break;
    }
    ck_assert_uint_lt(kcoded, d.nchunks);
    uint8_t *kc = ch + kcoded * WC_CHUNK_REC;
#define IFORGE(stmt, ok, expect)                                           \
    do {                                                                   \
        memcpy(b, d.c, d.clen);                                            \
        stmt;                                                              \
        reseal(b, d.ioff, d.isz);                                          \
        int rc_ = try_container(&d, b, d.clen, ok, NULL);                  \
        ck_assert_msg(rc_ == (expect), "%s: got %s, want %s", #stmt,       \
                      wcodec_strerror(rc_), wcodec_strerror(expect));      \
    } while (0)
    /* segment table */
    IFORGE(wc_put64(seg + WC_SEG_REC + 0, wc_get64(seg + WC_SEG_REC) + 1), C,
           CC);
    IFORGE(wc_put64(seg + 8, wc_get64(seg + 8) + 1), C, CC);
    IFORGE(wc_put64(seg + 8, 0), C, CC);
    IFORGE(wc_put64(seg + WC_SEG_REC + 16, wc_get64(seg + WC_SEG_REC + 16) + 1),
           C, CC);
    IFORGE(seg[32] = 3, C, CC);
    IFORGE(seg[33] = WC_DT_COUNT, C, CC);
    IFORGE(seg[34] = 1, C, CC);
    IFORGE(seg[39] = 1, C, CC);
    IFORGE(wc_put32(seg + pseg * WC_SEG_REC + 28, 0xffffffffu), C, CC);
    IFORGE(wc_put32(seg + pseg * WC_SEG_REC + 24, 0xfffffff0u), C, CC);
    IFORGE(wc_put32(seg + pseg * WC_SEG_REC + 28,
                    wc_get32(seg + pseg * WC_SEG_REC + 28) - 1), C, CC);
    /* PLANES with an element size that does not divide the length */
    IFORGE(seg[pseg * WC_SEG_REC + 33] = WC_DT_NONE, C, CC);
    /* codec parameters */
    IFORGE(par[ps] = 3, C, CC);
    IFORGE(par[ps] = 0xff, C, CC);
    /* chunk table */
    IFORGE(kc[12] = 2, C, CC);
    IFORGE(kc[12] = WC_CHUNK_F_RAW, C, CC); /* raw, but csize != length */
    IFORGE(kc[13] = 1, C, CC);
    IFORGE(kc[15] = 0x80, C, CC);
    IFORGE(wc_put64(kc, 0), C, CC);
    IFORGE(wc_put64(kc, WC_SUPER_SIZE - 1), C, CC);
    IFORGE(wc_put32(kc + 8, 0xffffffffu), C, CC);
    /* payload running into the index */
    IFORGE(wc_put64(kc, d.ioff - wc_get32(kc + 8) + 1), C, CC);
    /* payload inside or past the index: not "inside [superblock, index)" */
    IFORGE(wc_put64(kc, d.ioff), C, CC);
    IFORGE(wc_put64(kc, d.ioff + 8), C, CC);
    IFORGE(wc_put64(kc, d.clen + 4096), C, CC);
    IFORGE(wc_put64(kc, UINT64_MAX - 2), C, CC);
    free(b);
    damage_free(&d);
}
END_TEST

/* Checksums and digest changed: the container opens; the chunk (or the
 * whole-file check) fails. */
START_TEST(forged_checksums)
{
    damaged d = damage_setup();
    uint8_t *b = malloc(d.clen);
    memcpy(b, d.c, d.clen);
    uint8_t *ch = b + d.ioff + WC_DIGEST_SIZE + (size_t)d.nseg * WC_SEG_REC;
    uint64_t k = d.nchunks / 2;
    ch[k * WC_CHUNK_REC + 16] ^= 1;
    reseal(b, d.ioff, d.isz);
    int fails;
    ck_assert_int_eq(try_container(&d, b, d.clen, 0, &fails), 0);
    ck_assert_int_eq(fails, 1);
    /* the digest: reads are fine, verify and unpack are not */
    memcpy(b, d.c, d.clen);
    b[d.ioff + 3] ^= 0x10;
    reseal(b, d.ioff, d.isz);
    ck_assert_int_eq(try_container(&d, b, d.clen, 0, &fails), 0);
    ck_assert_int_eq(fails, 0);
    wcodec *w;
    ck_assert_int_eq(wcodec_open_fd(d.fd, "work.wcodec", &w), 0);
    ck_assert_rc(wcodec_verify(w), WCODEC_E_DIGEST);
    wcodec_close(w);
    char *work = tu_path(d.p.dir, "work.wcodec");
    ck_assert_int_eq(tu_write_file(work, b, d.clen), 0);
    char *out = tu_path(d.p.dir, "out.safetensors");
    ck_assert_rc(wcodec_unpack_file(work, out, 0), WCODEC_E_DIGEST);
    free(work);
    ck_assert_int_eq(tu_exists(out), 0);
    free(out);
    free(b);
    damage_free(&d);
}
END_TEST

/* Random single-byte edits anywhere in the index with the checksums
 * recomputed: open rejects them or reads stay correct. */
START_TEST(forged_fuzz)
{
    damaged d = damage_setup();
    uint8_t *b = malloc(d.clen);
    uint64_t seed = 77 + (uint64_t)_i;
    for (int it = 0; it < 400; it++) {
        memcpy(b, d.c, d.clen);
        uint64_t at = d.ioff + tu_rand(&seed) % d.isz;
        uint8_t v = (uint8_t)tu_rand(&seed);
        if (v == b[at])
            v ^= 1;
        b[at] = v;
        reseal(b, d.ioff, d.isz);
        try_container(&d, b, d.clen,
                      BIT(WCODEC_E_CORRUPT) | BIT(WCODEC_E_TRUNCATED), NULL);
    }
    free(b);
    damage_free(&d);
}
END_TEST

/* ---- resources ------------------------------------------------------------- */

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Many small tensors of alternating dtypes (nothing to merge into a
 * tensor segment): one zstd-coded run of many chunks, so every worker
 * thread codes zstd chunks and every reader decodes them. */
static stfile small_tensors_file(void)
{
    static tspec t[400];
    static char names[400][16];
    for (int i = 0; i < 400; i++) {
        int dt = 1 + i % (WC_DT_COUNT - 1);
        snprintf(names[i], sizeof names[i], "s%d", i);
        t[i] = (tspec){names[i], wc_dtype_name(dt), 496 / wc_dtype_size(dt),
                       TU_REAL, NULL, 0, 0, 0};
    }
    return st_build(t, 400, NULL, 0, 3);
}

/* Packing again and again in one process (a folder of shards, a service)
 * does not grow memory: what worker threads allocate goes when they end. */
START_TEST(pack_repeated_memory)
{
    char *dir = fresh_dir();
    char *src = tu_path(dir, "s.safetensors"), *dst = tu_path(dir, "s.wcodec");
    stfile f = small_tensors_file();
    ck_assert_int_eq(tu_write_file(src, f.data, f.len), 0);
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    o.chunk_size = CS;
    o.threads = 8;
    o.force = 1;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(wcodec_pack_file(src, dst, &o), 0);
    long before = rss_kib();
    for (int i = 0; i < 40; i++)
        ck_assert_int_eq(wcodec_pack_file(src, dst, &o), 0);
    long grown = rss_kib() - before;
    ck_assert_msg(grown < 8 * 1024,
                  "40 packs of a %zu-byte file grew memory by %ld KiB",
                  f.len, grown);
    free(f.data);
    tu_rmrf(dir);
    free(dir);
    free(src);
    free(dst);
}
END_TEST

typedef struct {
    wcodec *w;
    const uint8_t *orig;
    uint64_t off;
    int bad;
} one_read;

static void *one_read_thread(void *a_)
{
    one_read *a = a_;
    uint8_t buf[64];
    if (wcodec_pread(a->w, buf, sizeof buf, a->off) != (ssize_t)sizeof buf ||
        memcmp(buf, a->orig + a->off, sizeof buf))
        a->bad = 1;
    return NULL;
}

/* Short-lived reader threads (thread-per-request servers) leave nothing
 * behind when they end. */
START_TEST(pread_thread_memory)
{
    char *dir = fresh_dir();
    char *src = tu_path(dir, "s.safetensors"), *dst = tu_path(dir, "s.wcodec");
    stfile f = small_tensors_file();
    ck_assert_int_eq(tu_write_file(src, f.data, f.len), 0);
    ck_assert_int_eq(pack(src, dst, CS, 1, 0, 0), 0);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(dst, &w), 0);
    one_read a = {w, f.data, f.len / 2, 0};
    long before = 0;
    for (int i = 0; i < 1020; i++) {
        if (i == 20)
            before = rss_kib();
        pthread_t th;
        ck_assert_int_eq(pthread_create(&th, NULL, one_read_thread, &a), 0);
        pthread_join(th, NULL);
        ck_assert_int_eq(a.bad, 0);
    }
    long grown = rss_kib() - before;
    ck_assert_msg(grown < 8 * 1024,
                  "1000 reader threads grew memory by %ld KiB", grown);
    wcodec_close(w);
    free(f.data);
    tu_rmrf(dir);
    free(dir);
    free(src);
    free(dst);
}
END_TEST


/* ---- errors ------------------------------------------------------------------ */

START_TEST(error_names)
{
    for (int e = 0; e <= WCODEC_E_NODEVICE; e++) {
        const char *a = wcodec_strerror(e), *b = wcodec_strerror(-e);
        ck_assert_ptr_nonnull(a);
        ck_assert_str_eq(a, b);
        ck_assert_str_ne(a, "unknown error");
        for (int f = 0; f < e; f++)
            ck_assert_str_ne(a, wcodec_strerror(f));
    }
    ck_assert_str_eq(wcodec_strerror(999), wcodec_strerror(-999));
    ck_assert_str_eq(wcodec_strerror(WCODEC_E_NODEVICE + 1),
                     wcodec_strerror(999));
    ck_assert_str_eq(wcodec_strerror(INT32_MIN + 1), wcodec_strerror(999));
}
END_TEST

/* ---- suite --------------------------------------------------------------------- */

static TCase *tc(Suite *s, const char *name)
{
    TCase *t = tcase_create(name);
    tcase_set_timeout(t, 120);
    suite_add_tcase(s, t);
    return t;
}

int main(void)
{
    root = tu_tmpdir();
    Suite *s = suite_create("container");
    TCase *t = tc(s, "wcodec_pack_file");
    tcase_add_loop_test(t, pack_readback, 1, 4);
    tcase_add_test(t, pack_small_files);
    tcase_add_test(t, pack_chunk_sizes);
    tcase_add_loop_test(t, pack_every_dtype_kind, 0, TU_KINDS);
    tcase_add_test(t, pack_options);
    tcase_add_test(t, pack_existing_output);
    tcase_add_test(t, pack_output_appears);
    tcase_add_test(t, pack_bad_paths);
    tcase_add_test(t, pack_repeated_memory);
    t = tc(s, "wcodec_pack_file (malformed safetensors)");
    tcase_add_loop_test(t, st_malformed, 0,
                        sizeof bad_headers / sizeof *bad_headers);
    tcase_add_loop_test(t, st_valid_corners, 0,
                        sizeof good_headers / sizeof *good_headers);
    tcase_add_test(t, st_bad_length);
    tcase_add_test(t, st_header_over_limit);
    t = tc(s, "wcodec_pread");
    tcase_add_test(t, pread_offsets);
    tcase_add_test(t, pread_threads);
    tcase_add_test(t, pread_thread_memory);
    t = tc(s, "wcodec_chunk_find/extent/decode");
    tcase_add_test(t, chunk_api);
    tcase_add_test(t, decode_runs);
    t = tc(s, "wcodec_describe_segment");
    tcase_add_test(t, describe_segments);
    t = tc(s, "wcodec_open");
    tcase_add_test(t, open_fd);
    tcase_add_test(t, truncated);
    tcase_add_test(t, truncated_after_open);
    tcase_add_test(t, truncated_runs);
    tcase_add_test(t, superblock_bits);
    tcase_add_test(t, index_bits);
    tcase_add_test(t, codec_table_bits);
    tcase_add_test(t, payload_bits);
    tcase_add_test(t, wrong_magic);
    tcase_add_test(t, forged_superblock);
    tcase_add_test(t, forged_index);
    tcase_add_test(t, forged_checksums);
    tcase_add_loop_test(t, forged_fuzz, 0, 4);
    t = tc(s, "wcodec_unpack_file");
    tcase_add_test(t, unpack);
    t = tc(s, "wcodec_strerror");
    tcase_add_test(t, error_names);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_rmrf(root);
    free(root);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
