/* cache.h - decoded-chunk cache with per-stream sequential prefetch.
 *
 * One cache serves every open container of a mount. It is FUSE-free: calls
 * return byte counts or the library's negative -WCODEC_E_* codes, and the
 * detail of a failure is left in wcodec_errdetail() of the calling thread.
 *
 * What to know first:
 *  - Memory is bounded: decoded chunks live in buffers whose total stays
 *    within `capacity` less the read-ahead's payload buffers (a 64th of it
 *    each, at most 6 x 4 MiB); a reader that finds every buffer pinned by
 *    other readers may overshoot by the chunks its own request spans,
 *    never more.
 *  - No chunk is decoded twice at the same time: the first thread to miss a
 *    chunk reserves it, later ones wait for that decode.
 *  - Eviction is LRU over chunks, except that a chunk a sequential stream
 *    has read to its end goes to the cold end (it will not be read again:
 *    the kernel page cache keeps those bytes), so streams do not push each
 *    other's read-ahead out.
 *  - A stream (one per open file) tracks up to CACHE_TRACKS sequential
 *    runs; a read within 1 MiB (or the run's read-ahead window, if
 *    larger) behind or 16 MiB ahead of a run continues it (kernel
 *    read-ahead and several FUSE threads reorder requests), and
 *    a run read twice in a row gets a read-ahead window that doubles up to
 *    `readahead` bytes, decoded on the prefetch threads; a run that starts
 *    at offset 0 gets the whole window at once; the window is topped up in
 *    steps of half of it. Read-ahead is read from disk in spans of many
 *    chunks, several at once, and decoded on every prefetch thread.
 *    Read-ahead that is queued or decoded but not read yet is capped at
 *    half the capacity.
 *  - Chunk buffers are kept for reuse while the bytes of cached chunks and
 *    kept buffers stay within `capacity`; 256 KiB ones come from one arena
 *    of `capacity` bytes on transparent huge pages.
 */
#ifndef WC_CACHE_H
#define WC_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "wcodec.h"

#define CACHE_TRACKS 4                     /* sequential runs per stream */
#define CACHE_SEQ_BACK (1u << 20)          /* tolerated backward jump */
#define CACHE_SEQ_FORWARD (16u << 20)      /* tolerated forward jump */
#define CACHE_DEFAULT_CAPACITY (256ull << 20)
#define CACHE_DEFAULT_READAHEAD (16ull << 20)

typedef struct cache cache;
typedef struct cache_file cache_file;
typedef struct cache_stream cache_stream;
typedef struct cache_entry cache_entry;

typedef struct {
    uint64_t capacity;         /* bytes of decoded chunks kept, and of the
                                  read-ahead's payload buffers */
    uint64_t readahead;        /* largest read-ahead window of a stream;
                                  0 = no prefetch */
    unsigned prefetch_threads; /* 0 = no prefetch */
    wcodec_device device;      /* decode device; AUTO is resolved at create */
} cache_config;

void cache_config_init(cache_config *cfg);

/* @return 0 and *out, or -WCODEC_E_NOMEM / -WCODEC_E_INVAL (capacity
 *         smaller than 1 MiB). Starts the prefetch threads: call it after
 *         any fork (daemonizing). */
int cache_create(const cache_config *cfg, cache **out);

/* Stops the prefetch threads and frees everything, files included. No call
 * may be in progress. */
void cache_destroy(cache *c);

/* The device decodes run on (AUTO resolved). */
wcodec_device cache_device(const cache *c);
/* The largest read-ahead window of a stream (cache_config.readahead). */
uint64_t cache_readahead(const cache *c);

/* Register an open container; the cache uses w but does not own it.
 * @return 0 and *out, or -WCODEC_E_NOMEM. */
int cache_file_add(cache *c, wcodec *w, cache_file **out);

/* Drop a container: waits for its decodes in flight, drops its queued
 * read-ahead and cached chunks, frees f. No read or stream of f may be in
 * progress or open. */
void cache_file_remove(cache *c, cache_file *f);

/* A stream: sequential-access state of one open file.
 * @return 0 and *out, or -WCODEC_E_NOMEM. */
int cache_stream_open(cache *c, cache_file *f, cache_stream **out);
/* Queue the stream's read-ahead as a read at offset 0 would, without
 * reading: for a file about to be read (the next shard of a model). */
void cache_stream_start(cache *c, cache_stream *s);
/* Drops the stream's queued read-ahead. No read on s may be in progress. */
void cache_stream_close(cache *c, cache_stream *s);

/* Pinned bytes of a read: iov[0..n) point into cached chunks and stay
 * valid until cache_view_put(). */
#define CACHE_VIEW_INLINE 8
typedef struct {
    int n;
    struct iovec *iov;
    cache_entry **ent;
    struct iovec iov_inline[CACHE_VIEW_INLINE];
    cache_entry *ent_inline[CACHE_VIEW_INLINE];
    unsigned char seq; /* read by a sequential run: chunks read to their end
                          go to the cold end of the LRU */
    uint64_t end;      /* presented-file offset the view ends at */
    uint64_t ahead_end; /* read-ahead of the view's run queued up to here
                           (at least end) */
} cache_view;

/* Pin [off, off + len) of f, decoding the chunks not cached (on this
 * thread, several at once if other threads decode the rest). s may be NULL
 * (no read-ahead). Reads past the end are short; at or past it, empty.
 * @return bytes pinned (>= 0) with v filled (release it with
 *         cache_view_put, even when empty), or a negative error (CORRUPT,
 *         TRUNCATED, IO, NOMEM) with nothing pinned. */
ssize_t cache_view_get(cache *c, cache_file *f, cache_stream *s, uint64_t off,
                       size_t len, cache_view *v);
void cache_view_put(cache *c, cache_view *v);

/* cache_view_get + copy into buf. @return bytes read or a negative error. */
ssize_t cache_pread(cache *c, cache_file *f, cache_stream *s, void *buf,
                    size_t len, uint64_t off);

typedef struct {
    uint64_t hits;          /* chunk found decoded */
    uint64_t waits;         /* chunk found being decoded by another thread */
    uint64_t misses;        /* chunk decoded by the reading thread */
    uint64_t prefetched;    /* chunk decoded by a prefetch thread */
    uint64_t prefetch_used; /* ... and later read */
    uint64_t prefetch_skipped; /* queued, not decoded: cached already, its
                                  reader got there first, or no room */
    uint64_t prefetch_wasted;  /* decoded ahead, evicted before any read */
    uint64_t evictions;
    uint64_t errors;        /* failed decodes */
    uint64_t bytes;         /* decoded bytes held now */
    uint64_t peak_bytes;
} cache_stats;

void cache_get_stats(cache *c, cache_stats *st);

#endif
