/* emu.h - CPU stand-ins for the CUDA primitives used by cuda/kcore.h
 * (include this, then kcore.h; on a GPU cuda/kprim.h takes its place).
 *
 * Every lane of an emulated block is a std::thread; warp collectives
 * (ballot, any, shuffles, __syncwarp) meet at a per-warp barrier and
 * __syncthreads at a block barrier, so a kernel whose lanes would diverge
 * around a collective deadlocks here instead of passing. Every global and
 * shared memory access is checked: payload reads must stay inside the
 * job's 16-byte-rounded input slot, table reads inside the registered
 * table buffer, hash reads inside the 8-byte granules of the job's output,
 * stores exactly inside the job's output, shared accesses inside the
 * block's dynamic shared memory. A violation aborts the test. */
#ifndef WC_EMU_H
#define WC_EMU_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <condition_variable>
#include <mutex>

/* The primitive layer kcore.h expects (cuda/kprim.h on a GPU). */
#define WC_KPRIM 1
#define WC_KCONST static const
#define WC_D static inline
#define WC_UNROLL

struct wc_v4 {
    uint32_t x, y, z, w;
};

/* A reusable barrier (std::barrier is C++20). */
struct EmuBarrier {
    std::mutex mu;
    std::condition_variable cv;
    unsigned n = 0, waiting = 0;
    uint64_t gen = 0;
    void wait()
    {
        std::unique_lock<std::mutex> lk(mu);
        uint64_t g = gen;
        if (++waiting == n) {
            waiting = 0;
            gen++;
            cv.notify_all();
            return;
        }
        cv.wait(lk, [&] { return gen != g; });
    }
};

struct EmuWarp {
    EmuBarrier bar;
    uint64_t slot[32];
};

struct EmuBlock {
    unsigned nthreads;
    EmuBarrier bar;
    EmuWarp warps[32];
    uint8_t *smem;
    size_t smem_size;
};

struct EmuRange {
    const uint8_t *lo, *hi;
};

struct EmuThread {
    unsigned tid;
    EmuBlock *blk;
    EmuRange src, dst, hsrc;
};

extern thread_local EmuThread emu_t;
extern EmuRange emu_tables;
/* If set, decides table reads instead of emu_tables (the mock runtime
 * allows any of its device allocations). */
extern bool (*emu_table_ok)(const void *p, size_t n);
extern const char *emu_kernel; /* name of the running kernel, for reports */

[[noreturn]] static void emu_fail(const char *what, const void *p, size_t n,
                                  EmuRange r)
{
    fprintf(stderr,
            "emu: %s: out-of-bounds access in %s: %zu bytes at %p, allowed "
            "[%p, %p) (thread %u)\n",
            emu_kernel, what, n, p, (const void *)r.lo, (const void *)r.hi,
            emu_t.tid);
    abort();
}
static inline void emu_chk(const char *what, const void *p, size_t n, EmuRange r)
{
    const uint8_t *a = (const uint8_t *)p;
    if (!r.lo || a < r.lo || a + n > r.hi || a + n < a)
        emu_fail(what, p, n, r);
}

#define WC_EMU_JOB(s, slen, d, dlen_)                                        \
    do {                                                                     \
        emu_t.src.lo = (s);                                                  \
        emu_t.src.hi = (s) + (slen);                                         \
        emu_t.dst.lo = (d);                                                  \
        emu_t.dst.hi = (d) + (dlen_);                                        \
    } while (0)
#define WC_EMU_HASHJOB(p, len)                                               \
    do {                                                                     \
        emu_t.hsrc.lo = (const uint8_t *)((uintptr_t)(p) & ~(uintptr_t)7);  \
        emu_t.hsrc.hi =                                                      \
            (const uint8_t *)(((uintptr_t)(p) + (len) + 7) & ~(uintptr_t)7); \
    } while (0)

/* how many rANS streams started at odd / even offsets (coverage) */
extern unsigned long emu_odd_streams[2];
#define WC_EMU_NOTE_ODD(odd)                                                 \
    do {                                                                     \
        if (wc_lane() == 0)                                                  \
            __atomic_fetch_add(&emu_odd_streams[(odd) ? 1 : 0], 1,           \
                               __ATOMIC_RELAXED);                            \
    } while (0)

WC_D unsigned wc_tid() { return emu_t.tid; }
WC_D unsigned wc_nthreads() { return emu_t.blk->nthreads; }
WC_D unsigned wc_lane() { return emu_t.tid & 31u; }
WC_D unsigned wc_warp() { return emu_t.tid >> 5; }

WC_D EmuWarp &emu_warp() { return emu_t.blk->warps[emu_t.tid >> 5]; }
WC_D uint64_t emu_exchange(uint64_t v, unsigned from)
{
    EmuWarp &w = emu_warp();
    w.slot[wc_lane()] = v;
    w.bar.wait();
    uint64_t r = w.slot[from & 31];
    w.bar.wait();
    return r;
}
WC_D uint32_t wc_ballot(int p)
{
    EmuWarp &w = emu_warp();
    w.slot[wc_lane()] = p != 0;
    w.bar.wait();
    uint32_t m = 0;
    for (unsigned l = 0; l < 32; l++)
        m |= (uint32_t)(w.slot[l] != 0) << l;
    w.bar.wait();
    return m;
}
WC_D int wc_any(int p) { return wc_ballot(p) != 0; }
WC_D uint64_t wc_shfl64(uint64_t v, int src) { return emu_exchange(v, (unsigned)src); }
WC_D uint64_t wc_shflx64(uint64_t v, int m) { return emu_exchange(v, wc_lane() ^ (unsigned)m); }
WC_D void wc_syncwarp() { emu_warp().bar.wait(); }
WC_D void wc_syncthreads() { emu_t.blk->bar.wait(); }
WC_D int wc_popc(uint32_t v) { return __builtin_popcount(v); }
WC_D uint64_t wc_mulhi64(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}
WC_D uint64_t wc_bswap64(uint64_t v) { return __builtin_bswap64(v); }
WC_D wc_v4 wc_v4zero() { return wc_v4{0, 0, 0, 0}; }

WC_D uint32_t wc_ld8(const uint8_t *p)
{
    emu_chk("payload read", p, 1, emu_t.src);
    return *p;
}
WC_D uint32_t wc_ld32(const uint8_t *p)
{
    emu_chk("payload read", p, 4, emu_t.src);
    if ((uintptr_t)p & 3)
        emu_fail("misaligned 4-byte payload read", p, 4, emu_t.src);
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
WC_D wc_v4 wc_ld16(const uint8_t *p)
{
    emu_chk("payload read", p, 16, emu_t.src);
    if ((uintptr_t)p & 15)
        emu_fail("misaligned 16-byte payload read", p, 16, emu_t.src);
    wc_v4 v;
    memcpy(&v, p, 16);
    return v;
}
WC_D wc_v4 wc_ldt16(const uint8_t *p)
{
    if (emu_table_ok) {
        if (!emu_table_ok(p, 16))
            emu_fail("table read", p, 16, emu_tables);
    } else {
        emu_chk("table read", p, 16, emu_tables);
    }
    if ((uintptr_t)p & 15)
        emu_fail("misaligned table read", p, 16, emu_tables);
    wc_v4 v;
    memcpy(&v, p, 16);
    return v;
}
WC_D uint32_t wc_ldh8(const uint8_t *p)
{
    emu_chk("hash read", p, 1, emu_t.hsrc);
    return *p;
}
WC_D uint64_t wc_ldh64(const uint8_t *p)
{
    emu_chk("hash read", p, 8, emu_t.hsrc);
    if ((uintptr_t)p & 7)
        emu_fail("misaligned 8-byte hash read", p, 8, emu_t.hsrc);
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void emu_st(uint8_t *p, const void *v, size_t n)
{
    emu_chk("store", p, n, emu_t.dst);
    if ((uintptr_t)p & (n - 1))
        emu_fail("misaligned store", p, n, emu_t.dst);
    memcpy(p, v, n);
}
WC_D void wc_st8(uint8_t *p, uint32_t v)
{
    uint8_t b = (uint8_t)v;
    emu_st(p, &b, 1);
}
WC_D void wc_st16(uint8_t *p, uint32_t v)
{
    uint16_t b = (uint16_t)v;
    emu_st(p, &b, 2);
}
WC_D void wc_st32(uint8_t *p, uint32_t v) { emu_st(p, &v, 4); }
WC_D void wc_st64(uint8_t *p, uint64_t v) { emu_st(p, &v, 8); }
WC_D void wc_stv4(uint8_t *p, wc_v4 v) { emu_st(p, &v, 16); }

static inline EmuRange emu_smem()
{
    return EmuRange{emu_t.blk->smem, emu_t.blk->smem + emu_t.blk->smem_size};
}
WC_D uint32_t wc_sld8(const uint8_t *p)
{
    emu_chk("shared read", p, 1, emu_smem());
    return *p;
}
WC_D uint32_t wc_sld16(const uint8_t *p)
{
    emu_chk("shared read", p, 2, emu_smem());
    if ((uintptr_t)p & 1)
        emu_fail("misaligned 2-byte shared read", p, 2, emu_smem());
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
WC_D uint32_t wc_sld32(const uint32_t *p)
{
    emu_chk("shared read", p, 4, emu_smem());
    return *p;
}
WC_D void wc_sst16(uint8_t *p, wc_v4 v)
{
    emu_chk("shared store", p, 16, emu_smem());
    if ((uintptr_t)p & 15)
        emu_fail("misaligned shared store", p, 16, emu_smem());
    memcpy(p, &v, 16);
}

#endif
