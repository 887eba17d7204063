/* cache.c - decoded-chunk cache with per-stream sequential prefetch (see
 * cache.h for the contract).
 *
 * One mutex guards the hash table, the LRU list, the byte counts and the
 * read-ahead queue; it is held only for bookkeeping, never across a decode
 * or a copy. Lock order: a stream's lock, then the cache lock.
 *
 * Entry life: reserved (LOADING, in the hash, not in the LRU) by the thread
 * that decodes it; READY (in the LRU) once decoded; on a failed decode it
 * leaves the hash at once (FAILED) and is freed by its last pin, so a
 * failure is never cached and a later read tries again.
 */
#include "cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "reader.h"

#define CACHE_READAHEAD_MIN (2ull << 20) /* first window of a run */
#define CACHE_BATCH_MAX 32               /* chunks per GPU prefetch batch */
/* Chunks a reader decodes itself from one payload read. */
#define CACHE_BATCH_CPU 8
/* CPU read-ahead runs in two stages, so that the disk and both cores stay
 * busy at once: a prefetch thread reads the payloads of up to
 * CACHE_SPAN_CHUNKS queued chunks (at most CACHE_SPAN_BYTES) with one
 * direct read, up to CACHE_IO_DEPTH such reads in flight; the span's
 * chunks are then decoded two at a time (a pair decodes interleaved) by
 * whichever threads are free, oldest span first. Measured on a virtio disk
 * (2-core EPYC VM): one direct read of 4 MiB takes about as long as two of
 * 1 MiB, and 4 in flight read 1.4-1.7 GB/s against 0.5 for the single
 * 1.4 MB read per 8-chunk job that each thread used to make before
 * decoding it. (The disk finishes reads in flight together out of order;
 * 2 in flight instead of 4 measured no difference beyond the benchmark's
 * own bias, 2-core Xeon VM.) */
#define CACHE_SPAN_BYTES (4u << 20)
#define CACHE_SPAN_FIRST (1u << 20)
/* Span buffers are part of cache_size: each takes a 64th of it, at most
 * CACHE_SPAN_BYTES (6 x 4 MiB of 256 MiB), and the chunks get the rest. */
#define CACHE_SPAN_SHARE 64
#define CACHE_SPAN_CHUNKS 64
#define CACHE_IO_DEPTH 4
#define CACHE_SPANS (CACHE_IO_DEPTH + 2) /* span buffers, reads + decodes */
#define CACHE_DECODE_STEP 2

enum { ENTRY_LOADING, ENTRY_READY, ENTRY_FAILED };

struct cache_file {
    wcodec *w;
    uint64_t size;
    uint64_t nchunks;
    uint32_t chunk_size; /* every buffer of this file has this size */
    unsigned loading;    /* decodes in flight */
    cache_file *prev, *next;
};

struct cache_entry {
    cache_entry *hnext;      /* hash chain */
    cache_entry *prev, *next; /* LRU, READY entries only */
    cache_file *f;
    uint64_t chunk;
    uint8_t *data;
    uint32_t len;   /* decoded bytes */
    uint32_t cap;   /* buffer bytes, the accounted size */
    unsigned pins;
    unsigned char state;
    unsigned char ahead; /* decoded by read-ahead, not read yet */
    unsigned char by_prefetch; /* decoded on a prefetch thread */
    int err;
};

/* A chunk to decode ahead, for the run that asked for it (a job whose
 * chunk that run has already read past is stale and skipped). */
typedef struct {
    cache_file *f;
    uint64_t chunk;
    cache_stream *s;
    int track;
} cache_job;

typedef struct {
    uint64_t next;   /* a read starting near here continues the run; read
                        by prefetch threads without the stream lock */
    uint64_t ra_end; /* read-ahead queued up to here */
    uint64_t window;
    uint64_t tick;   /* last use, to replace the stalest run */
    unsigned hits;
    int used;
} cache_track;

struct cache_stream {
    cache_file *f;
    pthread_mutex_t lock;
    uint64_t tick;
    cache_track t[CACHE_TRACKS];
};

/* A span: the payloads of consecutive chunks of one file, read at once,
 * whose chunks are handed out to decode (see CACHE_SPAN_BYTES). */
typedef struct cache_span {
    cache_file *f;
    uint64_t first;        /* its first chunk */
    unsigned n;            /* chunks */
    unsigned next;         /* the next chunk to hand out */
    unsigned busy;         /* decodes running */
    const uint8_t *p;      /* the payload of chunk first, in buf */
    uint8_t *buf;          /* page aligned, for direct reads */
    size_t cap;
    struct cache_span *link; /* free list, or the list of read spans */
    cache_entry *ent[CACHE_SPAN_CHUNKS];
} cache_span;

struct cache {
    cache_config cfg;
    pthread_mutex_t lock;
    pthread_cond_t done; /* a decode finished */
    unsigned nwait;      /* threads waiting on done */
    pthread_cond_t work; /* read-ahead queued, or stop */
    cache_entry **bucket;
    size_t nbucket; /* power of two */
    cache_entry lru; /* sentinel: next is the hottest, prev the coldest */
    uint64_t used;      /* bytes of all entry buffers */
    cache_entry *spare; /* evicted entries kept with their buffers, chained
                           by hnext: faulted-in memory to decode into */
    uint64_t spare_bytes; /* their buffers; used + spare_bytes <= capacity
                             (but for a reader's overshoot) */
    uint8_t *arena;      /* chunk slots on huge pages (see cache_buf_alloc) */
    size_t arena_len, arena_top; /* bytes mapped, handed out so far */
    uint8_t *arena_free; /* freed slots, chained through their first bytes */
    uint64_t ahead;     /* read-ahead bytes queued or decoded, not read */
    uint64_t ahead_max;
    cache_job *q; /* ring */
    size_t qcap, qhead, qlen;
    cache_file files; /* sentinel of the list of registered files */
    cache_span span[CACHE_SPANS];
    cache_span *span_free;
    cache_span *ready, *ready_tail; /* read, with chunks to hand out */
    unsigned nio;                   /* span reads in flight */
    size_t span_bytes, span_first;  /* most payload bytes of a span read,
                                       and of a file's first */
    uint64_t capacity; /* for chunks: cache_size less the span buffers */
    pthread_t *thr;
    unsigned nthr;
    int stop;
    cache_stats st;
};

void cache_config_init(cache_config *cfg)
{
    cfg->capacity = CACHE_DEFAULT_CAPACITY;
    cfg->readahead = CACHE_DEFAULT_READAHEAD;
    cfg->prefetch_threads = 2;
    cfg->device = WCODEC_DEVICE_CPU;
}

/* ---- hash table and LRU (cache lock held) ---------------------------------- */

static size_t cache_hash(const cache *c, const cache_file *f, uint64_t k)
{
    uint64_t h = ((uint64_t)(uintptr_t)f >> 4) * 0x9E3779B97F4A7C15ull ^
                 k * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 29;
    return (size_t)h & (c->nbucket - 1);
}

static cache_entry *cache_lookup(const cache *c, const cache_file *f,
                                 uint64_t k)
{
    for (cache_entry *e = c->bucket[cache_hash(c, f, k)]; e; e = e->hnext)
        if (e->f == f && e->chunk == k)
            return e;
    return NULL;
}

static void cache_hash_remove(cache *c, cache_entry *e)
{
    cache_entry **p = &c->bucket[cache_hash(c, e->f, e->chunk)];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
}

static void cache_lru_unlink(cache_entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

/* Put a READY entry at the hot end, or at the cold end when it will not be
 * read again (a sequential run read it to its end). */
static void cache_lru_place(cache *c, cache_entry *e, int cold)
{
    if (e->prev)
        cache_lru_unlink(e);
    cache_entry *at = cold ? c->lru.prev : &c->lru;
    e->prev = at;
    e->next = at->next;
    at->next->prev = e;
    at->next = e;
}

/* Chunk buffers of the slot size (256 KiB, the default chunk) come from
 * one arena of `capacity` bytes, 2 MiB aligned and backed by transparent
 * huge pages where the kernel allows (MADV_HUGEPAGE): the kernel pins
 * every reply's pages to copy them (get_user_pages) and the decoder
 * writes them, both cheaper on 2 MiB pages than on 4 KiB ones (measured:
 * 10-15% of the daemon's CPU went to pinning and page-table locks). A
 * freed slot goes on the arena's free list; the arena only ever grows to
 * what the cache held at its peak, within the capacity.
 *
 * Other buffers of 64 KiB and more (other chunk sizes, a reader's
 * overshoot past a full arena) come straight from mmap: glibc would serve
 * them from per-thread arenas that keep what is freed in one thread for
 * that arena alone, and the daemon's resident size would creep past the
 * capacity. Smaller ones use malloc (one mapping each would make too
 * many). Where a buffer came from is told by its address and size, so
 * buffers can move between entries. */
#define CACHE_MMAP_MIN (64u << 10)
#define CACHE_SLOT (256u << 10)
#define CACHE_HUGE (2u << 20)

static void cache_arena_init(cache *c)
{
    size_t len = (size_t)(c->capacity / CACHE_HUGE * CACHE_HUGE);
    if (len < CACHE_HUGE)
        return;
    /* Over-map by 2 MiB to align; untouched pages cost nothing. */
    uint8_t *p = mmap(NULL, len + CACHE_HUGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return;
    uint8_t *a = (uint8_t *)(((uintptr_t)p + CACHE_HUGE - 1) &
                             ~(uintptr_t)(CACHE_HUGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + len < p + len + CACHE_HUGE)
        munmap(a + len, (size_t)(p + len + CACHE_HUGE - (a + len)));
#ifdef MADV_HUGEPAGE
    madvise(a, len, MADV_HUGEPAGE);
#endif
    c->arena = a;
    c->arena_len = len;
}

static int cache_in_arena(const cache *c, const uint8_t *p)
{
    return c->arena && p >= c->arena && p < c->arena + c->arena_len;
}

static uint8_t *cache_buf_alloc(cache *c, uint32_t cap)
{
    if (cap == CACHE_SLOT && c->arena) {
        if (c->arena_free) {
            uint8_t *p = c->arena_free;
            memcpy(&c->arena_free, p, sizeof c->arena_free);
            return p;
        }
        if (c->arena_top + CACHE_SLOT <= c->arena_len) {
            uint8_t *p = c->arena + c->arena_top;
            c->arena_top += CACHE_SLOT;
            return p;
        }
    }
    if (cap < CACHE_MMAP_MIN)
        return malloc(cap);
    /* Populated at once: one call instead of a page fault per 4 KiB
     * inside the decoder. */
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void cache_buf_free(cache *c, uint8_t *p, uint32_t cap)
{
    if (!p)
        return;
    if (cache_in_arena(c, p)) {
        memcpy(p, &c->arena_free, sizeof c->arena_free);
        c->arena_free = p;
    } else if (cap < CACHE_MMAP_MIN) {
        free(p);
    } else {
        munmap(p, cap);
    }
}

static void cache_entry_free(cache *c, cache_entry *e)
{
    cache_buf_free(c, e->data, e->cap);
    free(e);
}

/* Spare entries: a buffer that held a chunk is kept for the next one
 * instead of unmapped. Every cold read starts after the kernel forgot the
 * inodes (drop_caches, memory pressure) and the files' chunks were
 * dropped; fresh buffers then cost a page fault, a zeroed page and a
 * memory-cgroup charge per 4 KiB: 15-20% of the daemon's CPU, measured. */
static void cache_spare_put(cache *c, cache_entry *e)
{
    e->hnext = c->spare;
    c->spare = e;
    c->spare_bytes += e->cap;
}

/* @return a spare entry with a buffer of cap bytes, or NULL. */
static cache_entry *cache_spare_take(cache *c, uint32_t cap)
{
    for (cache_entry **p = &c->spare; *p; p = &(*p)->hnext)
        if ((*p)->cap == cap) {
            cache_entry *e = *p;
            *p = e->hnext;
            c->spare_bytes -= cap;
            return e;
        }
    return NULL;
}

static void cache_spare_free_one(cache *c)
{
    cache_entry *e = c->spare;
    c->spare = e->hnext;
    c->spare_bytes -= e->cap;
    cache_entry_free(c, e);
}

/* Read-ahead bytes stop counting once read, evicted or failed. */
static void cache_clear_ahead(cache *c, cache_entry *e)
{
    if (e->ahead) {
        e->ahead = 0;
        c->ahead -= e->cap;
    }
}

/* Remove a READY, unpinned entry. With keep, the entry (buffer included)
 * is returned for reuse, else it becomes a spare: steady-state reading
 * then allocates nothing. */
static cache_entry *cache_evict(cache *c, cache_entry *e, int keep)
{
    cache_hash_remove(c, e);
    cache_lru_unlink(e);
    c->used -= e->cap;
    if (e->ahead)
        c->st.prefetch_wasted++;
    cache_clear_ahead(c, e);
    if (keep)
        return e;
    cache_spare_put(c, e);
    return NULL;
}

/* Reserve chunk k of f (not in the cache) as LOADING, evicting cold
 * entries for room. A prefetch reservation fails when there is no room; a
 * reader's may overshoot the capacity (it must make progress), by at most
 * the chunks its own request spans. @return the entry, or NULL. */
static cache_entry *cache_reserve(cache *c, cache_file *f, uint64_t k,
                                  int prefetch)
{
    uint32_t need = f->chunk_size;
    /* A spare or evicted entry of the right size, reused. */
    cache_entry *e = cache_spare_take(c, need);
    while (c->used + c->spare_bytes + need > c->capacity) {
        if (c->spare) { /* spares hold nothing: they go first */
            cache_spare_free_one(c);
            continue;
        }
        cache_entry *v = c->lru.prev;
        while (v != &c->lru && v->pins)
            v = v->prev;
        if (v == &c->lru)
            break;
        c->st.evictions++;
        cache_entry *r = cache_evict(c, v, 1);
        if (!e && r->cap == need)
            e = r;
        else
            cache_entry_free(c, r);
    }
    if (prefetch && c->used + need > c->capacity) {
        if (e)
            cache_entry_free(c, e);
        return NULL;
    }
    if (e) {
        uint8_t *buf = e->data;
        memset(e, 0, sizeof *e);
        e->data = buf;
    } else {
        e = calloc(1, sizeof *e);
        if (!e || !(e->data = cache_buf_alloc(c, need))) {
            free(e);
            return NULL;
        }
    }
    uint64_t coff;
    wcodec_chunk_extent(f->w, k, &coff, &e->len);
    e->f = f;
    e->chunk = k;
    e->cap = need;
    e->state = ENTRY_LOADING;
    size_t h = cache_hash(c, f, k);
    e->hnext = c->bucket[h];
    c->bucket[h] = e;
    c->used += need;
    if (c->used > c->st.peak_bytes)
        c->st.peak_bytes = c->used;
    f->loading++;
    return e;
}

/* Wait for some decode to finish. Cache lock held. */
static void cache_wait_done(cache *c)
{
    c->nwait++;
    pthread_cond_wait(&c->done, &c->lock);
    c->nwait--;
}

/* Publish the result of a decode and wake the threads waiting for it. */
static void cache_complete(cache *c, cache_entry *e, int rc)
{
    e->f->loading--;
    if (!rc) {
        e->state = ENTRY_READY;
        cache_lru_place(c, e, 0);
        if (e->by_prefetch)
            c->st.prefetched++;
    } else {
        e->state = ENTRY_FAILED;
        e->err = rc;
        cache_hash_remove(c, e);
        c->used -= e->cap;
        if (e->ahead)
            c->st.prefetch_wasted++;
        cache_clear_ahead(c, e);
        c->st.errors++;
        if (!e->pins)
            cache_entry_free(c, e);
    }
    if (c->nwait) /* most decodes finish with nobody waiting on them */
        pthread_cond_broadcast(&c->done);
}

static void cache_unpin(cache *c, cache_entry *e)
{
    if (--e->pins == 0 && e->state == ENTRY_FAILED)
        cache_entry_free(c, e);
}

/* A reader takes a chunk: read-ahead it finds has done its job. */
static void cache_pin_found(cache *c, cache_entry *e)
{
    e->pins++;
    if (e->state == ENTRY_READY)
        c->st.hits++;
    else
        c->st.waits++;
    if (e->ahead)
        c->st.prefetch_used++;
    cache_clear_ahead(c, e);
}

static int cache_decode(cache *c, cache_file *f, uint64_t k, uint64_t count,
                        void *dst)
{
    return wcodec_decode_chunks(f->w, k, count, dst, c->cfg.device);
}

/* Get chunk k pinned and READY, one chunk at a time: the slow path, used
 * when the decode another thread did for us failed (we try ourselves, so
 * the error detail ends up in this thread). Cache lock held. */
static int cache_acquire(cache *c, cache_file *f, uint64_t k,
                         cache_entry **out)
{
    for (int attempt = 0;; attempt++) {
        cache_entry *e = cache_lookup(c, f, k);
        if (e) {
            cache_pin_found(c, e);
            while (e->state == ENTRY_LOADING)
                cache_wait_done(c);
            if (e->state == ENTRY_READY) {
                *out = e;
                return 0;
            }
            int err = e->err;
            cache_unpin(c, e);
            if (attempt >= 2)
                return wc_fail(-err, "chunk %llu: decode failed in another "
                                     "thread",
                               (unsigned long long)k);
            continue;
        }
        e = cache_reserve(c, f, k, 0);
        if (!e)
            return wc_fail(WCODEC_E_NOMEM, "out of memory for a chunk");
        e->pins++;
        c->st.misses++;
        pthread_mutex_unlock(&c->lock);
        int rc = cache_decode(c, f, k, 1, e->data);
        pthread_mutex_lock(&c->lock);
        cache_complete(c, e, rc);
        if (rc) {
            cache_unpin(c, e);
            return rc;
        }
        *out = e;
        return 0;
    }
}

/* ---- read-ahead -------------------------------------------------------------- */

static int cache_queue_push(cache *c, cache_job j)
{
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? 2 * c->qcap : 256;
        cache_job *n = malloc(ncap * sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < c->qlen; i++)
            n[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = n;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = j;
    c->qlen++;
    return 0;
}

static cache_job cache_queue_pop(cache *c)
{
    cache_job j = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    return j;
}

/* Queue the chunks of [from, to) that are not cached for track ti of s,
 * while the read-ahead budget lasts. Cache lock held. @return the offset
 * queued up to. */
static uint64_t cache_enqueue(cache *c, cache_stream *s, int ti,
                              uint64_t from, uint64_t to)
{
    cache_file *f = s->f;
    uint64_t k, reached = from, coff;
    uint32_t clen;
    int queued = 0;
    if (wcodec_chunk_find(f->w, from, &k))
        return from;
    for (; k < f->nchunks; k++) {
        wcodec_chunk_extent(f->w, k, &coff, &clen);
        if (coff >= to)
            break;
        if (!cache_lookup(c, f, k)) {
            if (c->ahead + f->chunk_size > c->ahead_max ||
                cache_queue_push(c, (cache_job){f, k, s, ti}))
                break;
            c->ahead += f->chunk_size;
            queued++;
        }
        reached = coff + clen;
    }
    /* One prefetch thread per job (a run of up to CACHE_BATCH_CPU chunks),
     * not all of them: a broadcast woke every idle thread on every read,
     * and most went back to sleep (5-6% of the daemon's CPU in context
     * switches). */
    for (int w = 0; w < queued && (unsigned)w < c->nthr; w += CACHE_BATCH_CPU)
        pthread_cond_signal(&c->work);
    return reached;
}

/* Note a read of [off, off + len) on stream s and queue read-ahead for the
 * run it belongs to; *ahead_end is where that run's read-ahead is queued
 * up to (at least off + len). @return 1 when the read continues a
 * sequential run. */
static int cache_stream_note(cache *c, cache_stream *s, uint64_t off,
                             uint64_t len, uint64_t *ahead_end)
{
    uint64_t end = off + len;
    *ahead_end = end;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    s->tick++;
    cache_track *t = NULL, *victim = &s->t[0];
    for (int i = 0; i < CACHE_TRACKS; i++) {
        cache_track *x = &s->t[i];
        /* Kernel read-ahead sends a window's requests at once and
         * several threads serve them in any order: a run also takes
         * requests from as far back as its own window reaches. */
        uint64_t back = x->window > CACHE_SEQ_BACK ? x->window : CACHE_SEQ_BACK;
        if (x->used && off + back >= x->next &&
            off <= x->next + CACHE_SEQ_FORWARD) {
            t = x;
            break;
        }
        if (!x->used || (victim->used && x->tick < victim->tick))
            victim = x;
    }
    if (t) {
        t->hits++;
    } else {
        t = victim;
        __atomic_store_n(&t->next, 0, __ATOMIC_RELAXED);
        t->ra_end = end;
        t->window = 0;
        t->hits = 0;
        t->used = 1;
        /* A read at 0 is a loader starting on the file: the header, then
         * the tensors in order. Its run gets the whole window at once;
         * ramping up from 2 MiB cost small files most of their read. */
        if (off == 0) {
            t->hits = 1;
            t->window = c->cfg.readahead;
        }
    }
    if (end > t->next)
        __atomic_store_n(&t->next, end, __ATOMIC_RELAXED);
    t->tick = s->tick;
    int seq = t->hits > 0;
    uint64_t ra = c->cfg.readahead;
    if (seq && ra && c->nthr) {
        if (!t->window)
            t->window = ra < CACHE_READAHEAD_MIN ? ra : CACHE_READAHEAD_MIN;
        else if (t->window < ra)
            t->window = 2 * t->window < ra ? 2 * t->window : ra;
        uint64_t target = end + t->window;
        if (target > s->f->size)
            target = s->f->size;
        uint64_t from = t->ra_end > end ? t->ra_end : end;
        /* Queued in steps of half a window at least (or to the end of the
         * file): one read's worth at a time made every span read as small
         * as one read (about 1 MB), which the disk serves at half the rate
         * of 4 MB reads. */
        if (target > from &&
            (target - from >= t->window / 2 || target == s->f->size)) {
            pthread_mutex_lock(&c->lock);
            uint64_t reached = cache_enqueue(c, s, (int)(t - s->t), from,
                                             target);
            pthread_mutex_unlock(&c->lock);
            if (reached > t->ra_end)
                t->ra_end = reached;
        }
    }
    if (t->ra_end > *ahead_end)
        *ahead_end = t->ra_end;
    pthread_mutex_unlock(&s->lock);
    return seq;
}

void cache_stream_start(cache *c, cache_stream *s)
{
    uint64_t ahead_end;
    cache_stream_note(c, s, 0, 0, &ahead_end);
}

/* Has the run that queued j read past its chunk already? (Prefetch lags
 * when readers outrun it; decoding behind them would only be evicted.) */
static int cache_job_stale(const cache_job *j)
{
    uint64_t coff;
    uint32_t clen;
    uint64_t next = __atomic_load_n(&j->s->t[j->track].next, __ATOMIC_RELAXED);
    wcodec_chunk_extent(j->f->w, j->chunk, &coff, &clen);
    return coff + clen <= next;
}

/* Reserve, as LOADING read-ahead, the chunk of the job at the queue's head
 * and the queued chunks of its file that follow it, up to max chunks and,
 * with bytes, whose payloads lie back to back within bytes. Cache lock
 * held. @return the entries in run[] (0: the head job was dropped), their
 * file in *fp and first chunk in *first. */
static unsigned cache_take_run(cache *c, cache_entry **run, unsigned max,
                               size_t bytes, cache_file **fp, uint64_t *first)
{
    cache_job j = cache_queue_pop(c);
    cache_file *f = j.f;
    *fp = f;
    *first = j.chunk;
    if (cache_lookup(c, f, j.chunk) || cache_job_stale(&j)) {
        c->ahead -= f->chunk_size;
        c->st.prefetch_skipped++;
        return 0;
    }
    if (bytes) { /* the chunks from j.chunk whose payloads fit */
        uint64_t off, left = f->nchunks - j.chunk;
        size_t len;
        max = (unsigned)wc_run_extent(f->w, j.chunk, left < max ? left : max,
                                      bytes, &off, &len);
    }
    unsigned n = 0;
    for (;;) {
        cache_entry *e = cache_reserve(c, f, j.chunk + n, 1);
        if (!e) {
            c->ahead -= f->chunk_size;
            c->st.prefetch_skipped++;
            break;
        }
        e->ahead = 1; /* its bytes were counted in c->ahead when queued */
        e->by_prefetch = 1;
        run[n++] = e;
        if (n == max || !c->qlen || c->q[c->qhead].f != f ||
            c->q[c->qhead].chunk != j.chunk + n ||
            cache_lookup(c, f, j.chunk + n) ||
            cache_job_stale(&c->q[c->qhead]))
            break;
        cache_queue_pop(c);
    }
    return n;
}

/* Read the payloads of the next queued run into a free span and put it on
 * the list of read spans. Cache lock held, dropped during the read. */
static void cache_span_read(cache *c)
{
    cache_span *sp = c->span_free;
    cache_file *f;
    uint64_t first;
    /* A file's first span is short: a reader opening the file waits for
     * it whole. */
    unsigned n = cache_take_run(c, sp->ent, CACHE_SPAN_CHUNKS,
                                c->q[c->qhead].chunk ? c->span_bytes
                                                     : c->span_first,
                                &f, &first);
    if (!n)
        return;
    c->span_free = sp->link;
    sp->f = f;
    sp->first = first;
    sp->n = n;
    sp->next = 0;
    sp->busy = 0;
    c->nio++;
    pthread_mutex_unlock(&c->lock);
    uint64_t off;
    size_t len;
    wc_run_extent(f->w, first, n, SIZE_MAX, &off, &len);
    int rc = 0;
    size_t need = wc_run_buffer_size(len);
    if (need > sp->cap) {
        /* From mmap: page aligned for direct reads, given back whole. */
        if (sp->buf)
            munmap(sp->buf, sp->cap);
        sp->cap = need > wc_run_buffer_size(c->span_bytes)
                      ? need
                      : wc_run_buffer_size(c->span_bytes);
        sp->buf = mmap(NULL, sp->cap, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (sp->buf == MAP_FAILED) {
            sp->buf = NULL;
            sp->cap = 0;
            rc = wc_fail(WCODEC_E_NOMEM, "out of memory for a read");
        }
    }
    sp->p = rc ? NULL : wc_run_read(f->w, sp->buf, off, len, first, &rc);
    pthread_mutex_lock(&c->lock);
    c->nio--;
    if (!sp->p) {
        /* Dropped quietly: the readers that need these chunks decode them
         * again and report the error themselves. */
        for (unsigned i = 0; i < n; i++)
            cache_complete(c, sp->ent[i], rc);
        sp->link = c->span_free;
        c->span_free = sp;
        return;
    }
    sp->link = NULL;
    if (c->ready_tail)
        c->ready_tail->link = sp;
    else
        c->ready = sp;
    c->ready_tail = sp;
    /* This thread decodes the first pair; wake others for the rest. */
    for (unsigned i = CACHE_DECODE_STEP; i < n && i / CACHE_DECODE_STEP < c->nthr;
         i += CACHE_DECODE_STEP)
        pthread_cond_signal(&c->work);
}

/* Decode the next chunks of the oldest read span. Cache lock held, dropped
 * during the decode. */
static void cache_span_decode(cache *c)
{
    cache_span *sp = c->ready;
    unsigned k = sp->next;
    unsigned m = sp->n - k < CACHE_DECODE_STEP ? sp->n - k : CACHE_DECODE_STEP;
    sp->next += m;
    if (sp->next == sp->n) {
        c->ready = sp->link;
        if (!c->ready)
            c->ready_tail = NULL;
    }
    sp->busy++;
    pthread_mutex_unlock(&c->lock);
    wcodec *w = sp->f->w;
    uint8_t *dst[CACHE_DECODE_STEP];
    for (unsigned i = 0; i < m; i++)
        dst[i] = sp->ent[k + i]->data;
    int rc = wc_run_decode(w, sp->first + k, m,
                           sp->p + (w->chunk[sp->first + k].offset -
                                    w->chunk[sp->first].offset),
                           dst);
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < m; i++)
        cache_complete(c, sp->ent[k + i], rc);
    if (--sp->busy == 0 && sp->next == sp->n) {
        sp->link = c->span_free;
        c->span_free = sp;
        if (c->qlen) /* a read may have waited for a free span */
            pthread_cond_signal(&c->work);
    }
}

/* Decode a queued run of up to CACHE_BATCH_MAX chunks as one GPU batch.
 * Cache lock held, dropped during the decode. */
static void cache_gpu_batch(cache *c, uint8_t **staging, size_t *staging_cap)
{
    cache_entry *run[CACHE_BATCH_MAX];
    cache_file *f;
    uint64_t first;
    unsigned n = cache_take_run(c, run, CACHE_BATCH_MAX, 0, &f, &first);
    if (!n)
        return;
    pthread_mutex_unlock(&c->lock);
    int rc;
    if (n == 1) {
        rc = cache_decode(c, f, first, 1, run[0]->data);
    } else {
        size_t total = 0;
        for (unsigned i = 0; i < n; i++)
            total += run[i]->len;
        if (total > *staging_cap) {
            free(*staging);
            *staging = malloc(total);
            *staging_cap = *staging ? total : 0;
        }
        rc = *staging ? cache_decode(c, f, first, n, *staging)
                      : -WCODEC_E_NOMEM;
        for (size_t i = 0, o = 0; !rc && i < n; o += run[i++]->len)
            memcpy(run[i]->data, *staging + o, run[i]->len);
    }
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < n; i++)
        cache_complete(c, run[i], rc);
}

/* Prefetch thread. On the CPU: start a span read while fewer than
 * CACHE_IO_DEPTH are in flight, else decode from the oldest read span; on
 * a GPU, one batch at a time. At stop, spans read or being read are
 * still decoded (their entries are LOADING, and waited on). */
static void *cache_prefetch_main(void *arg)
{
    cache *c = arg;
    uint8_t *staging = NULL;
    size_t staging_cap = 0;
    int gpu = c->cfg.device == WCODEC_DEVICE_CUDA;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (gpu && c->qlen && !c->stop)
            cache_gpu_batch(c, &staging, &staging_cap);
        else if (!gpu && c->qlen && !c->stop && c->nio < CACHE_IO_DEPTH &&
                 c->span_free)
            cache_span_read(c);
        else if (c->ready)
            cache_span_decode(c);
        else if (c->stop)
            break;
        else
            pthread_cond_wait(&c->work, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    free(staging);
    return NULL;
}

/* ---- reads ------------------------------------------------------------------- */

static void cache_view_free_arrays(cache_view *v)
{
    if (v->iov != v->iov_inline)
        free(v->iov);
    if (v->ent != v->ent_inline)
        free(v->ent);
    v->iov = v->iov_inline;
    v->ent = v->ent_inline;
    v->n = 0;
}

static void cache_unpin_all(cache *c, cache_view *v, int n)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < n; i++)
        cache_unpin(c, v->ent[i]);
    pthread_mutex_unlock(&c->lock);
}

ssize_t cache_view_get(cache *c, cache_file *f, cache_stream *s, uint64_t off,
                       size_t len, cache_view *v)
{
    v->n = 0;
    v->iov = v->iov_inline;
    v->ent = v->ent_inline;
    v->seq = 0;
    v->end = v->ahead_end = off;
    if (!len || off >= f->size)
        return 0;
    if (len > f->size - off)
        len = (size_t)(f->size - off);
    uint64_t k0, k1;
    wcodec_chunk_find(f->w, off, &k0);
    wcodec_chunk_find(f->w, off + len - 1, &k1);
    uint64_t n64 = k1 - k0 + 1;
    if (n64 > (uint64_t)INT32_MAX)
        return wc_fail(WCODEC_E_INVAL, "read spans too many chunks");
    int n = (int)n64;
    unsigned char own_inline[CACHE_VIEW_INLINE], *own = own_inline;
    if (n > CACHE_VIEW_INLINE) {
        v->iov = malloc((size_t)n * sizeof *v->iov);
        v->ent = malloc((size_t)n * sizeof *v->ent);
        own = malloc((size_t)n);
        if (!v->iov || !v->ent || !own) {
            if (own != own_inline)
                free(own);
            cache_view_free_arrays(v);
            return wc_fail(WCODEC_E_NOMEM, "out of memory");
        }
    }
    memset(own, 0, (size_t)n);
    v->seq = (unsigned char)cache_stream_note(c, s, off, len, &v->ahead_end);
    v->end = off + len;

    /* Pass 1: pin what is there, reserve what is not (ours to decode). */
    int rc = 0, pinned = 0;
    pthread_mutex_lock(&c->lock);
    for (; pinned < n; pinned++) {
        uint64_t k = k0 + (uint64_t)pinned;
        cache_entry *e = cache_lookup(c, f, k);
        if (e) {
            cache_pin_found(c, e);
        } else {
            e = cache_reserve(c, f, k, 0);
            if (!e) {
                rc = wc_fail(WCODEC_E_NOMEM, "out of memory for a chunk");
                break;
            }
            e->pins++;
            own[pinned] = 1;
            c->st.misses++;
        }
        v->ent[pinned] = e;
    }
    pthread_mutex_unlock(&c->lock);

    /* Pass 2: decode ours, while other threads decode theirs; on the CPU
     * each run of consecutive ones from one payload read. After the first
     * failure the rest are released undecoded (their waiters retry). */
    const int runmax =
        c->cfg.device == WCODEC_DEVICE_CUDA ? 1 : CACHE_BATCH_CPU;
    for (int i = 0; i < pinned;) {
        if (!own[i]) {
            i++;
            continue;
        }
        int j = i + 1;
        while (j < pinned && own[j] && j - i < runmax)
            j++;
        int run = 1; /* 1: not decoded as a run */
        if (!rc && j - i > 1) {
            uint8_t *dst[CACHE_BATCH_CPU];
            for (int x = i; x < j; x++)
                dst[x - i] = v->ent[x]->data;
            run = wc_decode_run(f->w, v->ent[i]->chunk, (uint64_t)(j - i),
                                dst);
        }
        for (int x = i; x < j; x++) {
            cache_entry *e = v->ent[x];
            /* A failed run is redone chunk by chunk: the error is then
             * this chunk's own, and the good ones before it are kept. */
            int r = rc ? -WCODEC_E_INTERRUPTED
                    : run == 0 ? 0
                               : cache_decode(c, f, e->chunk, 1, e->data);
            if (r && !rc)
                rc = r;
            pthread_mutex_lock(&c->lock);
            cache_complete(c, e, r);
            pthread_mutex_unlock(&c->lock);
        }
        i = j;
    }

    /* Pass 3: wait for the chunks other threads decode; redo failed ones. */
    pthread_mutex_lock(&c->lock);
    for (int i = 0; !rc && i < pinned; i++) {
        cache_entry *e = v->ent[i];
        while (e->state == ENTRY_LOADING)
            cache_wait_done(c);
        if (e->state == ENTRY_FAILED) {
            cache_unpin(c, e);
            rc = cache_acquire(c, f, k0 + (uint64_t)i, &v->ent[i]);
            if (rc) {
                /* v->ent[i] is unpinned: drop it from the unpin list. */
                memmove(&v->ent[i], &v->ent[i + 1],
                        (size_t)(pinned - i - 1) * sizeof *v->ent);
                pinned--;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (own != own_inline)
        free(own);
    if (rc) {
        cache_unpin_all(c, v, pinned);
        cache_view_free_arrays(v);
        return rc;
    }

    for (int i = 0; i < n; i++) {
        cache_entry *e = v->ent[i];
        uint64_t coff;
        uint32_t clen;
        wcodec_chunk_extent(f->w, e->chunk, &coff, &clen);
        uint64_t a = i == 0 ? off - coff : 0;
        uint64_t b = off + len - coff < e->len ? off + len - coff : e->len;
        v->iov[i].iov_base = e->data + a;
        v->iov[i].iov_len = (size_t)(b - a);
    }
    v->n = n;
    return (ssize_t)len;
}

void cache_view_put(cache *c, cache_view *v)
{
    if (v->n) {
        pthread_mutex_lock(&c->lock);
        for (int i = 0; i < v->n; i++) {
            cache_entry *e = v->ent[i];
            /* Every chunk but the last was read past its end; the last one
             * when the view reaches its end. */
            int done = i < v->n - 1 ||
                       (uint8_t *)v->iov[i].iov_base + v->iov[i].iov_len ==
                           e->data + e->len;
            cache_lru_place(c, e, v->seq && done);
            cache_unpin(c, e);
        }
        pthread_mutex_unlock(&c->lock);
    }
    cache_view_free_arrays(v);
}

ssize_t cache_pread(cache *c, cache_file *f, cache_stream *s, void *buf,
                    size_t len, uint64_t off)
{
    cache_view v;
    ssize_t r = cache_view_get(c, f, s, off, len, &v);
    if (r < 0)
        return r;
    uint8_t *o = buf;
    for (int i = 0; i < v.n; i++) {
        memcpy(o, v.iov[i].iov_base, v.iov[i].iov_len);
        o += v.iov[i].iov_len;
    }
    cache_view_put(c, &v);
    return r;
}

/* ---- files and streams ---------------------------------------------------------- */

int cache_file_add(cache *c, wcodec *w, cache_file **out)
{
    cache_file *f = calloc(1, sizeof *f);
    if (!f)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    f->w = w;
    f->size = wcodec_size(w);
    f->nchunks = wcodec_chunk_count(w);
    f->chunk_size = wcodec_chunk_size(w);
    pthread_mutex_lock(&c->lock);
    f->next = c->files.next;
    f->prev = &c->files;
    c->files.next->prev = f;
    c->files.next = f;
    pthread_mutex_unlock(&c->lock);
    *out = f;
    return 0;
}

/* Drop the queued read-ahead of file f or of stream s. Cache lock held. */
static void cache_drop_jobs(cache *c, const cache_file *f,
                            const cache_stream *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->qlen; i++) {
        cache_job j = c->q[(c->qhead + i) % c->qcap];
        if (j.f == f || j.s == s)
            c->ahead -= j.f->chunk_size;
        else
            c->q[(c->qhead + kept++) % c->qcap] = j;
    }
    c->qlen = kept;
}

/* Drop every trace of f. Cache lock held; no decode of f in flight. */
static void cache_file_purge(cache *c, cache_file *f)
{
    cache_drop_jobs(c, f, NULL);
    for (size_t b = 0; b < c->nbucket; b++) {
        cache_entry *e = c->bucket[b];
        while (e) {
            cache_entry *nx = e->hnext;
            if (e->f == f)
                cache_evict(c, e, 0);
            e = nx;
        }
    }
    f->prev->next = f->next;
    f->next->prev = f->prev;
}

void cache_file_remove(cache *c, cache_file *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&c->lock);
    /* Drop queued work first so no new decode of f starts while we wait. */
    cache_drop_jobs(c, f, NULL);
    while (f->loading)
        cache_wait_done(c);
    cache_file_purge(c, f);
    pthread_mutex_unlock(&c->lock);
    free(f);
}

int cache_stream_open(cache *c, cache_file *f, cache_stream **out)
{
    (void)c;
    cache_stream *s = calloc(1, sizeof *s);
    if (!s)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    s->f = f;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

void cache_stream_close(cache *c, cache_stream *s)
{
    if (!s)
        return;
    /* Queued jobs point at the stream's runs. */
    pthread_mutex_lock(&c->lock);
    cache_drop_jobs(c, NULL, s);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- the cache ------------------------------------------------------------------ */

int cache_create(const cache_config *cfg, cache **out)
{
    *out = NULL;
    if (cfg->capacity < (1u << 20))
        return wc_fail(WCODEC_E_INVAL, "cache size below 1 MiB");
    cache *c = calloc(1, sizeof *c);
    if (!c)
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    c->cfg = *cfg;
    if (c->cfg.device == WCODEC_DEVICE_AUTO)
        c->cfg.device = wcodec_cuda_available() ? WCODEC_DEVICE_CUDA
                                                : WCODEC_DEVICE_CPU;
    /* A span read holds at least one chunk, whatever span_bytes says. */
    c->span_bytes = c->cfg.capacity / CACHE_SPAN_SHARE;
    if (c->span_bytes > CACHE_SPAN_BYTES)
        c->span_bytes = CACHE_SPAN_BYTES;
    c->span_first = c->span_bytes < CACHE_SPAN_FIRST ? c->span_bytes
                                                      : CACHE_SPAN_FIRST;
    c->capacity = c->cfg.capacity -
                  CACHE_SPANS * (uint64_t)wc_run_buffer_size(c->span_bytes);
    c->ahead_max = c->capacity / 2;
    for (int i = CACHE_SPANS - 1; i >= 0; i--) {
        c->span[i].link = c->span_free;
        c->span_free = &c->span[i];
    }
    cache_arena_init(c);
    /* About two buckets per 64 KiB of capacity: short chains for the
     * default chunk size, still fine for small chunks. */
    c->nbucket = 1024;
    while (c->nbucket < (1u << 20) && c->nbucket < c->capacity >> 15)
        c->nbucket *= 2;
    c->bucket = calloc(c->nbucket, sizeof *c->bucket);
    c->lru.next = c->lru.prev = &c->lru;
    c->files.next = c->files.prev = &c->files;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->done, NULL);
    pthread_cond_init(&c->work, NULL);
    unsigned nt = c->cfg.readahead ? c->cfg.prefetch_threads : 0;
    c->thr = calloc(nt ? nt : 1, sizeof *c->thr);
    if (!c->bucket || !c->thr) {
        cache_destroy(c);
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    }
    for (; c->nthr < nt; c->nthr++)
        if (pthread_create(&c->thr[c->nthr], NULL, cache_prefetch_main, c))
            break; /* fewer prefetch threads than asked still works */
    *out = c;
    return 0;
}

void cache_destroy(cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < c->nthr; i++)
        pthread_join(c->thr[i], NULL);
    if (c->bucket)
        while (c->files.next != &c->files) {
            cache_file *f = c->files.next;
            cache_file_purge(c, f);
            free(f);
        }
    while (c->spare)
        cache_spare_free_one(c);
    if (c->arena)
        munmap(c->arena, c->arena_len);
    for (int i = 0; i < CACHE_SPANS; i++)
        if (c->span[i].buf)
            munmap(c->span[i].buf, c->span[i].cap);
    free(c->bucket);
    free(c->q);
    free(c->thr);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->done);
    pthread_cond_destroy(&c->work);
    free(c);
}

wcodec_device cache_device(const cache *c)
{
    return c->cfg.device;
}

uint64_t cache_readahead(const cache *c)
{
    return c->cfg.readahead;
}

void cache_get_stats(cache *c, cache_stats *st)
{
    pthread_mutex_lock(&c->lock);
    *st = c->st;
    st->bytes = c->used;
    pthread_mutex_unlock(&c->lock);
}
