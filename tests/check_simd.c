/* check_simd.c - every rANS decoder path against the scalar oracle.
 *
 * rans.c picks the scalar, AVX2 or AVX-512 decoder at run time; this test
 * runs each path the CPU has (rans_simd_select) on the same inputs and
 * requires the scalar path's verdict and bytes from all of them:
 *   - blocks: random tables and lengths (partial groups, blocks shorter
 *     than one vector step), intact and damaged (truncated, extended, a
 *     byte flipped, states zeroed), through rans_decode, both 16-bit
 *     merges and JOINT; inputs sit at the end of guarded pages, so a read
 *     past the block, the raw plane or the packed bits faults;
 *   - containers: every file of the corpus (WCODEC_CORPUS, default
 *     $WCODEC_SOURCE_ROOT/../shared/corpus) and a generated file with a
 *     tensor of every dtype, packed, then every chunk decoded on each path
 *     and compared with the scalar path's chunk, and the whole file through
 *     wc_decode_run (chunks decoded in pairs, as the mount does);
 *   - pairs: every damaged block also decodes beside the intact one
 *     (rans_decode_pair, both orders), with the single calls' verdicts;
 *   - the chunk checksum: each XXH3 build (hash.h) the CPU can run against
 *     libxxhash's own XXH3_64bits, at every length around its internal
 *     block and stripe sizes, from every alignment.
 * A path the CPU lacks is skipped with a note in the TAP output. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "codec.h"
#include "hash.h"
#include "rans.h"
#include "reader.h"
#include "testutil.h"
#include "wcodec.h"

static void note_skips(void)
{
    for (int l = 0; l < RANS_SIMD_COUNT; l++)
        if (!rans_simd_supported(l))
            printf("# %s: this CPU or build lacks it: its checks are "
                   "skipped\n", rans_simd_name(l));
}

/* ---- blocks ------------------------------------------------------------- */

typedef struct {
    int rc;
    uint8_t *out; /* 2n bytes */
} sd_res;

enum { SD_DECODE, SD_BF16, SD_HILO, SD_JOINT, SD_CALLS };

static int sd_call(int call, const rans_dtab *t, const uint8_t *blk,
                   size_t len, const uint8_t *side, unsigned base,
                   uint8_t *out, size_t n, uint8_t *tmp)
{
    switch (call) {
    case SD_DECODE:
        return rans_decode(t, blk, len, out, n);
    case SD_BF16:
        return rans_decode_merge16(t, blk, len, side, out, n, tmp,
                                   RANS_MERGE_BF16);
    case SD_HILO:
        return rans_decode_merge16(t, blk, len, side, out, n, tmp,
                                   RANS_MERGE_HI_LO);
    default:
        return rans_decode_joint(t, blk, len, side, base, out, n, tmp);
    }
}

/* Decode one (possibly damaged) block with every call on every path;
 * returns how many path comparisons were made. */
/* The intact block of the case being damaged: rans_decode_pair runs each
 * damaged block beside it, in both orders. */
static const uint8_t *sd_good;
static size_t sd_good_len, sd_good_n;

static rans_job sd_job(int call, const rans_dtab *t, const uint8_t *blk,
                       size_t len, const uint8_t *side, unsigned base,
                       uint8_t *out, size_t n, uint8_t *tmp)
{
    static const int how[SD_CALLS] = {0, RANS_MERGE_BF16, RANS_MERGE_HI_LO,
                                      RANS_MERGE_JOINT};
    return (rans_job){.t = t, .src = blk, .len = len, .side = side,
                      .dst = out, .n = n, .tmp = tmp, .how = how[call],
                      .base = base};
}

static int sd_compare(const rans_dtab *t, const uint8_t *blk0, size_t len,
                      const uint8_t *side0, unsigned base, size_t n,
                      const char *what)
{
    /* exact-size guarded copies: over-reads fault */
    uint8_t *blk = tu_guard_alloc(len);
    memcpy(blk, blk0, len);
    size_t sl = n; /* raw plane n bytes; JOINT's packed bits fewer */
    uint8_t *side = tu_guard_alloc(sl);
    memcpy(side, side0, sl);
    uint8_t *raw7 = tu_guard_alloc(rans_raw7_size(n));
    memcpy(raw7, side0, rans_raw7_size(n));
    int made = 0;
    for (int call = 0; call < SD_CALLS; call++) {
        size_t ob = call == SD_DECODE ? n : 2 * n;
        const uint8_t *sd = call == SD_JOINT ? raw7 : side;
        uint8_t *want = tu_guard_alloc(ob), *got = tu_guard_alloc(ob);
        uint8_t *tmp = tu_guard_alloc(n);
        ck_assert_int_eq(rans_simd_select(RANS_SIMD_SCALAR), 0);
        int wrc = sd_call(call, t, blk, len, sd, base, want, n, tmp);
        for (int l = 1; l < RANS_SIMD_COUNT; l++) {
            if (rans_simd_select(l))
                continue;
            memset(got, 0xA5, ob);
            int rc = sd_call(call, t, blk, len, sd, base, got, n, tmp);
            ck_assert_msg((rc == 0) == (wrc == 0),
                          "%s: call %d, %zu symbols: %s returns %d, scalar %d",
                          what, call, n, rans_simd_name(l), rc, wrc);
            if (!wrc)
                ck_assert_msg(!memcmp(got, want, ob),
                              "%s: call %d, %zu symbols: %s bytes differ "
                              "from scalar", what, call, n,
                              rans_simd_name(l));
            made++;
        }
        /* In a pair, beside the intact block decoded the same way (and,
         * for the bf16 forms, the other way: files mix JOINT and PLANES
         * chunks), on every path: the same verdicts and bytes. */
        int partners[2] = {call, call == SD_JOINT  ? SD_BF16
                                 : call == SD_BF16 ? SD_JOINT
                                                   : -1};
        for (int pi = 0; pi < 2 && partners[pi] >= 0; pi++) {
            int pc = partners[pi];
            size_t gn = sd_good_n, gb = pc == SD_DECODE ? gn : 2 * gn;
            uint8_t *gw = tu_guard_alloc(gb), *gg = tu_guard_alloc(gb);
            uint8_t *gt = tu_guard_alloc(gn);
            /* its own side buffer of its own exact size */
            size_t gsl = pc == SD_JOINT ? rans_raw7_size(gn) : gn;
            uint8_t *gs = tu_guard_alloc(gsl);
            memcpy(gs, side0, gsl);
            rans_job gj = sd_job(pc, t, sd_good, sd_good_len, gs, base, gw, gn,
                                 gt);
            ck_assert_int_eq(rans_simd_select(RANS_SIMD_SCALAR), 0);
            ck_assert_int_eq(rans_decode_job(&gj), 0);
            for (int l = 0; l < RANS_SIMD_COUNT; l++) {
                if (rans_simd_select(l))
                    continue;
                for (int order = 0; order < 2; order++) {
                    memset(got, 0xA5, ob);
                    memset(gg, 0xA5, gb);
                    rans_job dj =
                        sd_job(call, t, blk, len, sd, base, got, n, tmp);
                    rans_job ij = sd_job(pc, t, sd_good, sd_good_len, gs, base,
                                         gg, gn, gt);
                    int m = order ? rans_decode_pair(&ij, &dj)
                                  : rans_decode_pair(&dj, &ij);
                    int dbad = order ? m >> 1 & 1 : m & 1;
                    int ibad = order ? m & 1 : m >> 1 & 1;
                    ck_assert_msg(dbad == (wrc != 0) && !ibad,
                                  "%s: call %d beside %d, %zu symbols: %s pair "
                                  "(order %d) returns %d, scalar %d",
                                  what, call, pc, n, rans_simd_name(l), order,
                                  m, wrc);
                    if (!wrc)
                        ck_assert_msg(!memcmp(got, want, ob),
                                      "%s: call %d beside %d: %s pair bytes "
                                      "differ", what, call, pc,
                                      rans_simd_name(l));
                    ck_assert_msg(!memcmp(gg, gw, gb),
                                  "%s: call %d beside %d: %s pair: the intact "
                                  "block's bytes differ", what, call, pc,
                                  rans_simd_name(l));
                    made++;
                }
            }
            tu_guard_free(gw, gb);
            tu_guard_free(gg, gb);
            tu_guard_free(gt, gn);
            tu_guard_free(gs, gsl);
        }
        tu_guard_free(want, ob);
        tu_guard_free(got, ob);
        tu_guard_free(tmp, n);
    }
    tu_guard_free(blk, len);
    tu_guard_free(side, sl);
    tu_guard_free(raw7, rans_raw7_size(n));
    return made;
}

static const size_t sd_sizes[] = {0, 1, 31, 32, 33, 63, 64, 65, 100, 257,
                                  1000, 4096, 4099, 65536 + 17, 262144};
#define SD_NSIZES (sizeof sd_sizes / sizeof sd_sizes[0])

/* ---- the checksum ------------------------------------------------------- */

START_TEST(hash_vs_xxhash)
{
    /* XXH3 changes method at 16, 128 and 240 bytes and works in 64-byte
     * stripes and 1 KiB blocks: every length to 2100, then chunk sizes
     * and their neighbours. */
    static const size_t big[] = {4095, 4096, 65535, 65536, 262143, 262144,
                                 262145, 1048576 + 7};
    const size_t nmax = 1048576 + 7 + 64;
    uint8_t *buf = malloc(nmax);
    ck_assert_ptr_nonnull(buf);
    uint64_t seed = 0x4a5b;
    for (size_t i = 0; i < nmax; i++)
        buf[i] = (uint8_t)tu_rand(&seed);
    __builtin_cpu_init();
    struct {
        const char *name;
        int have;
        uint64_t (*fn)(const void *, size_t);
    } path[] = {{"avx2", __builtin_cpu_supports("avx2"), wc_hash64_avx2},
                {"avx512", __builtin_cpu_supports("avx512f"),
                 wc_hash64_avx512}};
    for (size_t k = 0; k < sizeof path / sizeof path[0]; k++) {
        if (!path[k].have) {
            printf("# hash %s: this CPU lacks it: skipped\n", path[k].name);
            continue;
        }
        for (size_t n = 0; n <= 2100 + sizeof big / sizeof big[0]; n++) {
            size_t len = n <= 2100 ? n : big[n - 2101];
            size_t at = n % 64; /* every alignment */
            ck_assert_msg(path[k].fn(buf + at, len) ==
                              XXH3_64bits(buf + at, len),
                          "hash %s differs from libxxhash at %zu bytes "
                          "(offset %zu)", path[k].name, len, at);
        }
    }
    /* the dispatched call too, whichever build it picked */
    ck_assert(wc_hash64(buf, 262144) == XXH3_64bits(buf, 262144));
    free(buf);
}
END_TEST

START_TEST(blocks_vs_scalar)
{
    uint64_t seed = 0x5eed0000u + (uint64_t)_i;
    size_t n = sd_sizes[_i % SD_NSIZES];
    /* symbol alphabets: 2 symbols, a skewed exponent-like one, all 256 */
    int kind = _i / (int)SD_NSIZES;
    uint64_t counts[256] = {0};
    unsigned smax = kind == 0 ? 2 : kind == 1 ? 40 : 256;
    for (unsigned s = 0; s < smax; s++)
        counts[s] = kind == 1 ? (uint64_t)(1e6 / (1.0 + (s - 20.0) * (s - 20.0)))
                              : 1 + tu_rand(&seed) % 1000;
    uint16_t freq[256];
    rans_normalize(counts, freq);
    rans_etab et;
    rans_etab_init(&et, freq);
    rans_dtab *dt = malloc(sizeof *dt);
    rans_dtab_init(dt, freq);
    /* symbols drawn from the table's distribution */
    uint8_t *sym = malloc(n + 1), *side = malloc(n + 1);
    uint16_t cum[257];
    cum[0] = 0;
    for (int s = 0; s < 256; s++)
        cum[s + 1] = (uint16_t)(cum[s] + freq[s]);
    for (size_t i = 0; i < n; i++) {
        unsigned r = (unsigned)(tu_rand(&seed) % RANS_PROB_SCALE);
        int s = 0;
        while (cum[s + 1] <= r)
            s++;
        sym[i] = (uint8_t)s;
    }
    tu_fill_random(&seed, side, n + 1);
    /* JOINT needs (s >> 1) + base <= 255 */
    unsigned base = (unsigned)(255 - (smax - 1) / 2) / 2;
    size_t cap = rans_bound(n);
    uint8_t *blk = malloc(cap + 8);
    size_t len = rans_encode(&et, sym, n, blk, cap);
    ck_assert_uint_gt(len, 0);
    uint8_t *good = malloc(len);
    memcpy(good, blk, len);
    sd_good = good;
    sd_good_len = len;
    sd_good_n = n;
    int made = sd_compare(dt, blk, len, side, base, n, "intact");
    /* the intact block decodes to its symbols on every path */
    ck_assert_int_eq(rans_decode(dt, blk, len, side, n), 0);
    ck_assert(!memcmp(side, sym, n));
    tu_fill_random(&seed, side, n + 1);
    /* damage */
    for (size_t cut = 1; cut <= 66 && cut <= len; cut += cut < 4 ? 1 : 31)
        made += sd_compare(dt, blk, len - cut, side, base, n, "truncated");
    blk[len] = 0x12;
    blk[len + 1] = 0x34;
    made += sd_compare(dt, blk, len + 2, side, base, n, "extended");
    for (int f = 0; f < 4; f++) {
        size_t at = (size_t)(tu_rand(&seed) % len);
        blk[at] ^= (uint8_t)(1u << (tu_rand(&seed) & 7));
        /* flips accumulate: later ones see the earlier damage */
        made += sd_compare(dt, blk, len, side, base, n, "byte flipped");
    }
    memset(blk, 0, len < 8 ? len : 8);
    made += sd_compare(dt, blk, len, side, base, n, "state zeroed");
    if (n)
        made += sd_compare(dt, blk, len, side, base, n - 1, "one symbol less");
    if (_i == 0)
        printf("# %d path comparisons in the first case\n", made);
    free(dt);
    free(sym);
    free(side);
    free(blk);
    free(good);
}
END_TEST

/* ---- containers ---------------------------------------------------------- */

static char *corpus, *root;
static char **files;
static int nfiles;

/* Pack src, then decode every chunk on every path; all must equal the
 * scalar path's bytes and the file. */
static void sd_container(const char *src, const char *name)
{
    char *dst;
    if (asprintf(&dst, "%s/%s.wcodec", root, name) < 0)
        abort();
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    ck_assert_msg(wcodec_pack_file(src, dst, &o) == 0, "%s: pack: %s", name,
                  wcodec_errdetail());
    size_t fn;
    uint8_t *file = tu_read_file(src, &fn);
    ck_assert_ptr_nonnull(file);
    wcodec *w;
    ck_assert_int_eq(wcodec_open(dst, &w), 0);
    uint32_t cs = wcodec_chunk_size(w);
    uint8_t *want = malloc(cs), *got = malloc(cs);
    int paths = 0;
    for (uint64_t k = 0; k < wcodec_chunk_count(w); k++) {
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, k, &off, &len);
        ck_assert_int_eq(rans_simd_select(RANS_SIMD_SCALAR), 0);
        ck_assert_int_eq(wcodec_chunk_decode(w, k, want), 0);
        ck_assert(!memcmp(want, file + off, len));
        for (int l = 1; l < RANS_SIMD_COUNT; l++) {
            if (rans_simd_select(l))
                continue;
            memset(got, 0xA5, cs);
            ck_assert_msg(wcodec_chunk_decode(w, k, got) == 0,
                          "%s: chunk %llu does not decode on %s: %s", name,
                          (unsigned long long)k, rans_simd_name(l),
                          wcodec_errdetail());
            ck_assert_msg(!memcmp(got, want, len),
                          "%s: chunk %llu: %s bytes differ from scalar", name,
                          (unsigned long long)k, rans_simd_name(l));
            paths += k == 0;
        }
    }
    /* wc_decode_run (what the mount calls) decodes chunks in pairs */
    uint64_t nc = wcodec_chunk_count(w);
    uint8_t **dsts = malloc((nc ? nc : 1) * sizeof *dsts);
    for (uint64_t k = 0; k < nc; k++)
        dsts[k] = malloc(cs);
    for (int l = 0; l < RANS_SIMD_COUNT; l++) {
        if (rans_simd_select(l))
            continue;
        ck_assert_msg(wc_decode_run(w, 0, nc, dsts) == 0, "%s: run on %s: %s",
                      name, rans_simd_name(l), wcodec_errdetail());
        for (uint64_t k = 0; k < nc; k++) {
            uint64_t off;
            uint32_t len;
            wcodec_chunk_extent(w, k, &off, &len);
            ck_assert_msg(!memcmp(dsts[k], file + off, len),
                          "%s: run on %s: chunk %llu differs", name,
                          rans_simd_name(l), (unsigned long long)k);
        }
    }
    for (uint64_t k = 0; k < nc; k++)
        free(dsts[k]);
    free(dsts);
    printf("# %s: %llu chunks, scalar and %d other path(s) agree\n", name,
           (unsigned long long)wcodec_chunk_count(w), paths);
    wcodec_close(w);
    unlink(dst);
    free(dst);
    free(file);
    free(want);
    free(got);
}

START_TEST(corpus_vs_scalar)
{
    char *src = tu_path(corpus, files[_i]);
    sd_container(src, files[_i]);
    free(src);
}
END_TEST

/* A tensor of every dtype with weight-like and random content, sizes that
 * end in partial chunks and partial groups. */
START_TEST(dtypes_vs_scalar)
{
    static const int dts[] = {WC_DT_U8,  WC_DT_I8,  WC_DT_F8_E4M3,
                              WC_DT_F8_E5M2, WC_DT_I16, WC_DT_U16,
                              WC_DT_F16, WC_DT_BF16, WC_DT_I32,
                              WC_DT_F32, WC_DT_F64};
    static const int kinds[] = {TU_REAL, TU_SMALLINT, TU_RANDOM};
    tu_str h = {0};
    size_t total = 0, nt = 0, sizes[64];
    uint64_t seed = 77;
    tu_str_addf(&h, "{");
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            size_t n = 150001 + 977 * d + 31 * k;
            size_t b = n * wc_dtype_size(dts[d]);
            tu_str_addf(&h, "%s\"t%zu\":{\"dtype\":\"%s\",\"shape\":[%zu],"
                            "\"data_offsets\":[%zu,%zu]}",
                        nt ? "," : "", nt, wc_dtype_name(dts[d]), n, total,
                        total + b);
            sizes[nt++] = b;
            total += b;
        }
    tu_str_addf(&h, "}");
    uint8_t *data = malloc(total);
    size_t at = 0, i = 0;
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++, i++) {
            tu_gen(dts[d], kinds[k], data + at,
                   sizes[i] / wc_dtype_size(dts[d]), &seed);
            at += sizes[i];
        }
    size_t fl;
    uint8_t *f = tu_st_file(h.s, h.len, data, total, &fl);
    char *src = tu_path(root, "dtypes.safetensors");
    ck_assert_int_eq(tu_write_file(src, f, fl), 0);
    sd_container(src, "dtypes.safetensors");
    unlink(src);
    free(src);
    free(f);
    free(data);
    tu_str_free(&h);
}
END_TEST

int main(void)
{
    nfiles = tu_corpus_files(&corpus, &files);
    if (!nfiles)
        printf("# no .safetensors corpus at %s: corpus case skipped\n",
               corpus);
    note_skips();
    root = tu_tmpdir();

    Suite *s = suite_create("simd");
    TCase *t = tcase_create("rANS blocks: every path vs scalar");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, blocks_vs_scalar, 0, 3 * (int)SD_NSIZES);
    suite_add_tcase(s, t);
    t = tcase_create("chunk checksum: every build vs libxxhash");
    tcase_add_test(t, hash_vs_xxhash);
    suite_add_tcase(s, t);
    t = tcase_create("containers: every path vs scalar");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, dtypes_vs_scalar);
    if (nfiles)
        tcase_add_loop_test(t, corpus_vs_scalar, 0, nfiles);
    suite_add_tcase(s, t);
    SRunner *sr_ = srunner_create(s);
    srunner_run_all(sr_, CK_SILENT);
    int nf = srunner_ntests_failed(sr_);
    srunner_free(sr_);
    tu_rmrf(root);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
