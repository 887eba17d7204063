/* emu_run.h - launch kcore.h kernels in the CPU warp emulator (emu.h):
 * one thread per lane, blocks one after the other. Shared by the emulator
 * test (emu.cc) and the mock CUDA runtime (mockcuda.cc). Include after
 * kcore.h; define the globals once with EMU_GLOBALS. */
#ifndef WC_EMU_RUN_H
#define WC_EMU_RUN_H

#include <thread>
#include <vector>

#define EMU_GLOBALS                                                          \
    thread_local EmuThread emu_t;                                            \
    EmuRange emu_tables;                                                     \
    bool (*emu_table_ok)(const void *, size_t);                              \
    const char *emu_kernel = "";                                             \
    unsigned long emu_odd_streams[2];

template <class F>
static void emu_launch(const char *name, unsigned grid, unsigned nthreads,
                       size_t smem, F body)
{
    emu_kernel = name;
    for (unsigned b = 0; b < grid; b++) {
        EmuBlock *blk = new EmuBlock();
        blk->nthreads = nthreads;
        blk->bar.n = nthreads;
        for (unsigned w = 0; w < 32; w++)
            blk->warps[w].bar.n = 32;
        size_t sz = (smem + 15) & ~(size_t)15;
        blk->smem = (uint8_t *)aligned_alloc(16, sz ? sz : 16);
        memset(blk->smem, 0xa5, sz); /* garbage, like real shared memory */
        blk->smem_size = smem;
        std::vector<std::thread> th;
        th.reserve(nthreads);
        for (unsigned t = 0; t < nthreads; t++)
            th.emplace_back([=] {
                emu_t = EmuThread{t, blk, {nullptr, nullptr}, {nullptr, nullptr},
                                  {nullptr, nullptr}};
                body(b);
            });
        for (auto &x : th)
            x.join();
        free(blk->smem);
        delete blk;
    }
}

typedef void (*planes_body_fn)(const uint8_t *, const wc_gjob *, const wc_gblock *,
                               uint32_t, uint32_t *, uint8_t *);
static const planes_body_fn planes_bodies[WC_GCLASSES] = {
    nullptr,
    wc_planes_body<1, 0>, wc_planes_body<1, 1>,
    wc_planes_body<2, 0>, wc_planes_body<2, 1>, wc_planes_body<2, 2>,
    wc_planes_body<4, 0>, wc_planes_body<4, 1>, wc_planes_body<4, 2>,
    wc_planes_body<4, 3>, wc_planes_body<4, 4>,
    wc_planes_body<8, 0>, wc_planes_body<8, 1>, wc_planes_body<8, 2>,
    wc_planes_body<8, 3>, wc_planes_body<8, 4>, wc_planes_body<8, 5>,
    wc_planes_body<8, 6>, wc_planes_body<8, 7>, wc_planes_body<8, 8>,
};

/* wc_gk_launch, emulated. */
static void emu_run(const wc_gplan *p, const uint8_t *in, uint32_t *err,
                    uint64_t *hash)
{
    for (unsigned l = 0; l < p->nlaunch; l++) {
        const wc_glaunch L = p->launch[l];
        if (L.cls == 0) {
            emu_launch("copy", (L.njobs + 7) / 8, 256, 0, [&](unsigned b) {
                wc_copy_body(in, p->jobs, L.job0, L.njobs, err, b * 8 + wc_warp());
            });
        } else {
            char name[32];
            snprintf(name, sizeof name, "planes<%u,%u>", wc_gclass_es(L.cls),
                     wc_gclass_nr(L.cls));
            planes_body_fn fn = planes_bodies[L.cls];
            emu_launch(name, L.nblocks, 32 * wc_gclass_wpb(L.cls),
                       wc_gclass_smem(L.cls), [&](unsigned b) {
                           fn(in, p->jobs, p->blocks, L.block0 + b, err,
                              emu_t.blk->smem);
                       });
        }
    }
    if (hash && p->njobs)
        emu_launch("hash", (p->njobs + 7) / 8, 256, 0, [&](unsigned b) {
            wc_hash_body(p->jobs, p->njobs, hash, b * 8 + wc_warp());
        });
}

#endif
