/* emu.cc - run the GPU kernels (kcore.h) on the CPU with a warp emulator
 * and check them against the CPU decoder. Needs no GPU, no driver and no
 * nvcc: it tests the exact kernel source the GPU runs (only the CUDA
 * primitives are swapped for emu.h), the planner and the staging code the
 * backend uses.
 *
 * Checks:
 *  1. XXH3-64 kernel == libxxhash for lengths 0..~3000 and some large ones,
 *     at every alignment 0..7;
 *  2. every chunk of a file with every dtype (REAL / CONST / RANDOM / small
 *     tensors), packed with 4 KiB chunks: the emulated GPU path produces
 *     the CPU decoder's bytes, no chunk flagged, every hash matches the
 *     chunk table; output at aligned and misaligned device addresses;
 *  3. corrupted payloads (bit flips, shortened sizes, garbage): never an
 *     out-of-bounds access (the emulator aborts on one), and a chunk is
 *     either flagged, or its hash differs, or its bytes are right;
 *  4. a sample of chunks of every corpus file ($WCODEC_CORPUS), if set.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "codec.h"
#include "reader.h"
#include "testgen.h"
#include <xxhash.h>
}

#include "emu.h"
#include "kcore.h"
#include "emu_run.h"

EMU_GLOBALS

static_assert(WC_K_RAW == WC_PLANE_RAW && WC_K_CONST == WC_PLANE_CONST &&
                  WC_K_RANS == WC_PLANE_RANS,
              "plane modes");
static_assert(WC_K_DT_BF16 == WC_DT_BF16 && WC_K_DT_F32 == WC_DT_F32 &&
                  WC_K_DT_F64 == WC_DT_F64,
              "dtypes");
static_assert(WC_K_RANS_L == RANS_L && WC_K_PROB_BITS == RANS_PROB_BITS &&
                  WC_G_TAB_WORDS == RANS_PROB_SCALE && RANS_LANES == 32,
              "rans");
static_assert(sizeof(wc_gjob) == 24 && sizeof(wc_gblock) == 96, "descriptors");

static int failures;
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

/* ---- 1. XXH3 ------------------------------------------------------------- */

static void test_xxh3(void)
{
    std::vector<uint64_t> lens;
    for (uint64_t l = 0; l <= 300; l++)
        lens.push_back(l);
    for (uint64_t l = 1000; l <= 1100; l += 3)
        lens.push_back(l);
    const uint64_t big[] = {1023, 1024, 1025, 1087, 1088, 1089, 2047, 2048,
                            2049, 3000, 4095, 4096, 4097, 65536, 65536 + 77};
    for (uint64_t l : big)
        lens.push_back(l);
    std::vector<uint8_t> buf(70000 + 16);
    uint64_t s = 12345;
    for (auto &b : buf) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        b = (uint8_t)(s >> 56);
    }
    std::vector<wc_gjob> jobs;
    for (uint64_t l : lens)
        for (unsigned a = 0; a < 8; a++)
            if (l <= 1100 || a == 0 || a == 3)
                jobs.push_back(wc_gjob{0, (uint64_t)(uintptr_t)(buf.data() + 8 + a), 0,
                                       (uint32_t)l});
    std::vector<uint64_t> out(jobs.size());
    wc_gplan p = {};
    p.jobs = jobs.data();
    p.njobs = (uint32_t)jobs.size();
    emu_launch("hash", (p.njobs + 7) / 8, 256, 0, [&](unsigned b) {
        wc_hash_body(p.jobs, p.njobs, out.data(), b * 8 + wc_warp());
    });
    int bad = 0;
    for (size_t i = 0; i < jobs.size(); i++) {
        uint64_t want = XXH3_64bits((const void *)(uintptr_t)jobs[i].dst, jobs[i].dlen);
        if (out[i] != want && bad++ < 10)
            fail("xxh3 len %u align %u: %016llx != %016llx", jobs[i].dlen,
                 (unsigned)(jobs[i].dst & 7), (unsigned long long)out[i],
                 (unsigned long long)want);
    }
    printf("xxh3: %zu hashes checked against libxxhash, %d wrong\n", jobs.size(), bad);
}

/* ---- the device path, emulated ------------------------------------------ */

struct Tables {
    uint8_t *buf = nullptr;
    std::vector<uint64_t> addr; /* seg * 8 + plane */
    ~Tables() { free(buf); }
};

static uint64_t tab_addr(void *ctx, uint32_t seg, unsigned plane)
{
    Tables *t = (Tables *)ctx;
    return t->addr[(size_t)seg * 8 + plane];
}

static void tables_build(const wcodec *w, Tables *t)
{
    size_t n = 0;
    for (uint32_t s = 0; s < w->nseg; s++)
        for (unsigned k = 0; k < WC_MAX_PLANES; k++)
            n += w->seg[s].c.dtab[k] != NULL; /* PLANES and JOINT */
    t->buf = (uint8_t *)aligned_alloc(16, (n ? n : 1) * WC_G_TAB_BYTES);
    t->addr.assign((size_t)w->nseg * 8, 0);
    size_t i = 0;
    for (uint32_t s = 0; s < w->nseg; s++)
        for (unsigned k = 0; k < WC_MAX_PLANES; k++)
            if (w->seg[s].c.dtab[k]) {
                memcpy(t->buf + i * WC_G_TAB_BYTES, w->seg[s].c.dtab[k]->slot,
                       WC_G_TAB_BYTES);
                t->addr[(size_t)s * 8 + k] = (uint64_t)(uintptr_t)(t->buf + i * WC_G_TAB_BYTES);
                i++;
            }
    emu_tables = EmuRange{t->buf, t->buf + n * WC_G_TAB_BYTES};
}

struct Run {
    std::vector<wc_gitem> items;
    wc_gplan plan = {};
    uint8_t *in = nullptr;
    std::vector<uint32_t> err;
    std::vector<uint64_t> hash;
    ~Run()
    {
        wc_plan_free(&plan);
        free(in);
    }
};

/* Plan and stage chunks ks, output of chunk i at out + pos[i]. */
static bool run_prepare(wcodec *w, Tables *t, const std::vector<uint64_t> &ks,
                        uint8_t *out, const std::vector<uint64_t> &pos, Run *r)
{
    r->items.resize(ks.size());
    for (size_t i = 0; i < ks.size(); i++) {
        int rc = wc_plan_item(w, ks[i], (uint64_t)(uintptr_t)(out + pos[i]),
                              0xffffffffu, 1, &r->items[i]);
        if (rc != 1) {
            fail("wc_plan_item(%llu) = %d", (unsigned long long)ks[i], rc);
            return false;
        }
    }
    if (wc_plan_build(&r->plan, w, r->items.data(), r->items.size(), tab_addr, t)) {
        fail("wc_plan_build");
        return false;
    }
    r->in = (uint8_t *)aligned_alloc(16, (r->plan.in_bytes + 15) / 16 * 16 + 16);
    int rc = wc_plan_stage(w, r->items.data(), r->items.size(), r->in);
    if (rc) {
        fail("wc_plan_stage: %s", wcodec_errdetail());
        return false;
    }
    r->err.assign(r->plan.njobs, 0);
    r->hash.assign(r->plan.njobs, 0);
    return true;
}

/* Decode chunks ks (emulated GPU) and compare with the CPU. */
static void check_chunks(wcodec *w, const std::vector<uint64_t> &ks, unsigned align,
                         const char *what)
{
    Tables t;
    tables_build(w, &t);
    std::vector<uint64_t> pos(ks.size());
    uint64_t total = 0;
    for (size_t i = 0; i < ks.size(); i++) {
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, ks[i], &off, &len);
        pos[i] = align + total;
        total += len;
    }
    std::vector<uint8_t> out(total + align + 16, 0xee), ref(total);
    Run r;
    if (!run_prepare(w, &t, ks, out.data(), pos, &r))
        return;
    emu_run(&r.plan, r.in, r.err.data(), r.hash.data());
    uint64_t o = 0;
    int bad = 0;
    unsigned ncls[WC_GCLASSES] = {0};
    for (unsigned l = 0; l < r.plan.nlaunch; l++)
        ncls[r.plan.launch[l].cls] += r.plan.launch[l].njobs;
    for (size_t i = 0; i < ks.size(); i++) {
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, ks[i], &off, &len);
        if (wcodec_chunk_decode(w, ks[i], ref.data() + o)) {
            fail("%s: CPU decode of chunk %llu: %s", what, (unsigned long long)ks[i],
                 wcodec_errdetail());
            return;
        }
        uint32_t j = r.items[i].job;
        const wc_segcodec *c = &w->seg[w->chunk_seg[ks[i]]].c;
        if (r.err[j] || r.hash[j] != w->chunk[ks[i]].checksum ||
            memcmp(out.data() + pos[i], ref.data() + o, len)) {
            if (bad++ < 8)
                fail("%s: chunk %llu (%s, codec %u, planes %u%u%u%u, %u bytes, align "
                     "%u): err %u, hash %s, bytes %s",
                     what, (unsigned long long)ks[i], wc_dtype_name(c->dtype), c->codec,
                     c->mode[0], c->mode[1], c->mode[2], c->mode[3], len, align,
                     r.err[j], r.hash[j] == w->chunk[ks[i]].checksum ? "ok" : "WRONG",
                     memcmp(out.data() + pos[i], ref.data() + o, len) ? "WRONG" : "ok");
        }
        o += len;
    }
    /* nothing written outside the outputs */
    for (unsigned a = 0; a < align; a++)
        if (out[a] != 0xee)
            fail("%s: byte before the output written", what);
    for (size_t a = align + total; a < out.size(); a++)
        if (out[a] != 0xee)
            fail("%s: byte after the output written", what);
    unsigned njoint = 0;
    for (size_t i = 0; i < ks.size(); i++)
        njoint += r.items[i].kind == WC_GK_PLANES &&
                  w->seg[w->chunk_seg[ks[i]]].c.codec == WC_CODEC_JOINT;
    printf("%s: %zu chunks (align %u): %d wrong; %u JOINT; jobs per class:", what,
           ks.size(), align, bad, njoint);
    for (int c = 0; c < WC_GCLASSES; c++)
        if (ncls[c])
            printf(" %s%u/%u=%u", c ? "" : "copy:", wc_gclass_es(c), wc_gclass_nr(c),
                   ncls[c]);
    printf("\n");
}

/* ---- 3. corruption ------------------------------------------------------- */

static void check_corruption(wcodec *w, const std::vector<uint64_t> &ks, unsigned rounds)
{
    Tables t;
    tables_build(w, &t);
    uint64_t rng = 777;
    auto rnd = [&]() {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        return rng >> 33;
    };
    unsigned flagged = 0, hashed = 0, same = 0, wrong = 0;
    for (unsigned round = 0; round < rounds; round++) {
        std::vector<uint64_t> pos(ks.size());
        uint64_t total = 0;
        for (size_t i = 0; i < ks.size(); i++) {
            uint64_t off;
            uint32_t len;
            wcodec_chunk_extent(w, ks[i], &off, &len);
            pos[i] = total;
            total += len;
        }
        std::vector<uint8_t> out(total + 16), ref(total);
        Run r;
        if (!run_prepare(w, &t, ks, out.data(), pos, &r))
            return;
        /* Damage every PLANES job: flip bytes, shorten it (the slot stays
         * as allocated), or overwrite its header. */
        for (size_t i = 0; i < ks.size(); i++) {
            wc_gitem *it = &r.items[i];
            if (it->kind != WC_GK_PLANES)
                continue;
            wc_gjob *jb = &r.plan.jobs[it->job];
            uint8_t *p = r.in + jb->src;
            switch ((round + i) % 4) {
            case 0: /* flip 1-3 bits anywhere */
                for (unsigned f = 0, nf = 1 + rnd() % 3; f < nf && jb->csize; f++)
                    p[rnd() % jb->csize] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            case 1: /* shorter payload */
                if (jb->csize)
                    jb->csize -= 1 + (uint32_t)(rnd() % (jb->csize < 64 ? jb->csize : 64));
                break;
            case 2: /* bogus plane sizes */
                if (jb->csize >= 4) {
                    uint32_t v = (uint32_t)rnd();
                    memcpy(p, &v, 4);
                }
                break;
            case 3: /* garbage in the second half */
                for (uint32_t b = jb->csize / 2; b < jb->csize; b++)
                    p[b] = (uint8_t)rnd();
                break;
            }
        }
        emu_run(&r.plan, r.in, r.err.data(), r.hash.data());
        uint64_t o = 0;
        for (size_t i = 0; i < ks.size(); i++) {
            uint64_t off;
            uint32_t len;
            wcodec_chunk_extent(w, ks[i], &off, &len);
            wcodec_chunk_decode(w, ks[i], ref.data() + o);
            uint32_t j = r.items[i].job;
            if (r.items[i].kind == WC_GK_PLANES) {
                bool okb = !memcmp(out.data() + pos[i], ref.data() + o, len);
                if (r.err[j])
                    flagged++;
                else if (r.hash[j] != w->chunk[ks[i]].checksum)
                    hashed++;
                else if (okb)
                    same++;
                else {
                    wrong++;
                    fail("corruption: chunk %llu accepted with wrong bytes",
                         (unsigned long long)ks[i]);
                }
            }
            o += len;
        }
    }
    printf("corruption: %u flagged by the kernel, %u caught by the hash, %u decoded "
           "right anyway, %u accepted wrong\n",
           flagged, hashed, same, wrong);
}

/* ---- driver ---------------------------------------------------------------- */

static std::string tmpdir;

static wcodec *pack_open(const char *src, const char *name, uint32_t chunk)
{
    std::string dst = tmpdir + "/" + name + ".wcodec";
    wcodec_pack_options o;
    wcodec_pack_options_init(&o);
    o.chunk_size = chunk;
    o.force = 1;
    int rc = wcodec_pack_file(src, dst.c_str(), &o);
    if (rc) {
        fail("pack %s: %s", src, wcodec_errdetail());
        return nullptr;
    }
    wcodec *w;
    if (wcodec_open(dst.c_str(), &w)) {
        fail("open %s: %s", dst.c_str(), wcodec_errdetail());
        return nullptr;
    }
    unlink(dst.c_str());
    return w;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    setvbuf(stdout, nullptr, _IOLBF, 0);
    char tmpl[] = "/tmp/wcodec-emu-XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    tmpdir = tmpl;

    test_xxh3();

    std::string st = tmpdir + "/all.safetensors";
    if (wc_tg_all_dtypes(st.c_str(), 1, 42)) {
        fail("generate %s", st.c_str());
        return 1;
    }
    if (wcodec *w = pack_open(st.c_str(), "all", 4096)) {
        std::vector<uint64_t> ks;
        for (uint64_t k = 0; k < w->nchunks; k++)
            ks.push_back(k);
        bool joint = false;
        for (uint32_t s = 0; s < w->nseg; s++)
            joint |= w->seg[s].c.codec == WC_CODEC_JOINT;
        if (!joint) /* the bf16 weights must exercise the JOINT kernel path */
            fail("all dtypes: no JOINT segment in the container");
        check_chunks(w, ks, 0, "all dtypes");
        check_chunks(w, ks, 1, "all dtypes");
        check_chunks(w, ks, 6, "all dtypes");
        check_corruption(w, ks, 4);
        wcodec_close(w);
    }
    unlink(st.c_str());

    /* Eight RANS planes need bigger chunks to beat zstd's probe. */
    std::string st8 = tmpdir + "/mix8.safetensors";
    const wc_tg_tensor t8[] = {
        {"a", "U64", 5001, WC_TG_BYTES, "ssssssss"},
        {"b", "F64", 4099, WC_TG_BYTES, "ssssssss"},
        {"c", "I64", 3003, WC_TG_BYTES, "sssssssr"},
    };
    if (wc_tg_write(st8.c_str(), t8, 3, 8)) {
        fail("generate %s", st8.c_str());
        return 1;
    }
    if (wcodec *w = pack_open(st8.c_str(), "mix8", 16384)) {
        std::vector<uint64_t> ks;
        for (uint64_t k = 0; k < w->nchunks; k++)
            ks.push_back(k);
        check_chunks(w, ks, 0, "8 planes");
        check_chunks(w, ks, 3, "8 planes");
        check_corruption(w, ks, 2);
        wcodec_close(w);
    }
    unlink(st8.c_str());

    const char *corpus = getenv("WCODEC_CORPUS");
    if (corpus && *corpus) {
        DIR *d = opendir(corpus);
        if (!d) {
            printf("corpus %s: not readable, skipped\n", corpus);
        } else {
            std::vector<std::string> files;
            while (struct dirent *e = readdir(d)) {
                std::string n = e->d_name;
                if (n.size() > 12 && n.substr(n.size() - 12) == ".safetensors")
                    files.push_back(n);
            }
            closedir(d);
            for (const std::string &n : files) {
                std::string src = std::string(corpus) + "/" + n;
                wcodec *w = pack_open(src.c_str(), "corpus", 16384);
                if (!w)
                    continue;
                /* first and last chunk of every segment, at most 40 */
                std::vector<uint64_t> ks;
                for (uint32_t s = 0; s < w->nseg && ks.size() < 40; s++) {
                    uint64_t f = w->seg[s].first_chunk;
                    uint64_t nc = wc_seg_chunks(w->seg[s].length, w->chunk_size);
                    ks.push_back(f);
                    if (nc > 1)
                        ks.push_back(f + nc - 1);
                }
                check_chunks(w, ks, 0, n.c_str());
                wcodec_close(w);
            }
        }
    } else {
        printf("corpus: WCODEC_CORPUS not set, skipped\n");
    }
    rmdir(tmpdir.c_str());
    printf("rANS streams decoded: %lu at even offsets (16-bit word reads), %lu at odd "
           "offsets (byte reads)\n", emu_odd_streams[0], emu_odd_streams[1]);
    if (!emu_odd_streams[0] || !emu_odd_streams[1])
        fail("a word-read path was not exercised");
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("all emulated GPU kernel checks passed\n");
    return 0;
}
