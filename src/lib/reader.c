/* reader.c - open a container, validate its index, decode byte ranges.
 *
 * Everything in the index is checked once at open (structure, bounds,
 * codec tables), so the read path only has to check the payload bytes it
 * reads: their length against the file, and their decoded checksum.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "container.h"
#include "error.h"
#include "hash.h"
#include "reader.h"


uint64_t wc_chunk_payload_max(uint32_t chunk_size)
{
    return wc_chunk_bound(chunk_size);
}

/* ---- per-thread scratch ------------------------------------------------- */

/* Grown on first use: a thread that only serves whole chunks with direct
 * reads never allocates `decoded`, and every payload read lands in `span`
 * (buffered single chunks too), so each thread holds one payload buffer. */
typedef struct {
    uint8_t *planes;
    size_t planes_cap;
    uint8_t *decoded;
    size_t decoded_cap;
    uint8_t *span; /* payloads of a run, aligned for direct I/O */
    size_t span_cap;
} wc_tls;

static pthread_key_t wc_tls_key;
static pthread_once_t wc_tls_once = PTHREAD_ONCE_INIT;

static void wc_tls_free(void *p)
{
    wc_tls *t = p;
    if (!t)
        return;
    free(t->planes);
    free(t->decoded);
    if (t->span)
        munmap(t->span, t->span_cap);
    free(t);
}

static void wc_tls_init(void)
{
    pthread_key_create(&wc_tls_key, wc_tls_free);
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
    if (*cap >= need)
        return 0;
    uint8_t *n = realloc(*p, need);
    if (!n)
        return -1;
    *p = n;
    *cap = need;
    return 0;
}

static wc_tls *wc_tls_get(const wcodec *w)
{
    pthread_once(&wc_tls_once, wc_tls_init);
    wc_tls *t = pthread_getspecific(wc_tls_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || pthread_setspecific(wc_tls_key, t)) {
            free(t);
            return NULL;
        }
    }
    /* two chunks' planes: wc_decode_run decodes chunks in pairs */
    if (grow(&t->planes, &t->planes_cap, 2 * (size_t)w->chunk_size))
        return NULL;
    return t;
}

/* ---- open ------------------------------------------------------------------ */

static int bad(const char *name, const char *what)
{
    return wc_fail(WCODEC_E_CORRUPT, "%s: corrupt container: %s", name, what);
}

static int wc_load(wcodec *w)
{
    const char *nm = w->name;
    struct stat st;
    if (fstat(w->fd, &st))
        return wc_fail(WCODEC_E_IO, "%s: %s", nm, strerror(errno));
    uint64_t fsz = (uint64_t)st.st_size;
    w->packed_size = fsz;

    uint8_t sb[WC_SUPER_SIZE];
    ssize_t r = pread(w->fd, sb, sizeof sb, 0);
    if (r < 0)
        return wc_fail(WCODEC_E_IO, "%s: %s", nm, strerror(errno));
    if ((size_t)r < 8 || memcmp(sb, WC_MAGIC, 8))
        return wc_fail(WCODEC_E_NOT_CONTAINER,
                       "%s: not a wcodec container (bad magic)", nm);
    if ((size_t)r < sizeof sb)
        return wc_fail(WCODEC_E_TRUNCATED,
                       "%s: truncated container: %zd bytes, shorter than the "
                       "superblock",
                       nm, r);
    if (XXH3_64bits(sb, 72) != wc_get64(sb + 72))
        return bad(nm, "superblock checksum mismatch");
    uint16_t major = wc_get16(sb + 8);
    uint32_t flags = wc_get32(sb + 12);
    if (major != WCODEC_FORMAT_MAJOR || flags != 0)
        return wc_fail(WCODEC_E_VERSION,
                       "%s: container format %u.%u (flags %#x) is not "
                       "supported; this build reads %u.x",
                       nm, major, wc_get16(sb + 10), flags,
                       WCODEC_FORMAT_MAJOR);
    w->file_size = wc_get64(sb + 16);
    uint64_t ioff = wc_get64(sb + 24), isz = wc_get64(sb + 32);
    w->nchunks = wc_get64(sb + 40);
    w->chunk_size = wc_get32(sb + 48);
    w->nseg = wc_get32(sb + 52);
    uint64_t isum = wc_get64(sb + 56);
    if (wc_get64(sb + 64))
        return bad(nm, "reserved superblock field not zero");
    if (w->chunk_size < WC_CHUNK_MIN || w->chunk_size > WC_CHUNK_MAX ||
        (w->chunk_size & (w->chunk_size - 1)))
        return bad(nm, "chunk size not a power of two in 4 KiB..16 MiB");
    if (ioff < WC_SUPER_SIZE || isz > UINT64_MAX - ioff)
        return bad(nm, "index position out of range");
    if (ioff + isz > fsz)
        return wc_fail(WCODEC_E_TRUNCATED,
                       "%s: truncated container: index ends at %llu but the "
                       "file has %llu bytes",
                       nm, (unsigned long long)(ioff + isz),
                       (unsigned long long)fsz);
    /* Bound every count by the index size before any allocation, so a
     * hostile superblock cannot make us allocate more than the file. */
    if (isz < WC_DIGEST_SIZE || w->nseg > (isz - WC_DIGEST_SIZE) / WC_SEG_REC)
        return bad(nm, "segment count does not fit the index");
    uint64_t rest = isz - WC_DIGEST_SIZE - (uint64_t)w->nseg * WC_SEG_REC;
    if (w->nchunks > rest / WC_CHUNK_REC)
        return bad(nm, "chunk count does not fit the index");
    uint64_t poff = WC_DIGEST_SIZE + (uint64_t)w->nseg * WC_SEG_REC +
                    w->nchunks * WC_CHUNK_REC;
    uint64_t psz = isz - poff;

    uint8_t *ix = malloc(isz ? isz : 1);
    w->seg = calloc(w->nseg ? w->nseg : 1, sizeof *w->seg);
    w->chunk = calloc(w->nchunks ? w->nchunks : 1, sizeof *w->chunk);
    w->chunk_seg = calloc(w->nchunks ? w->nchunks : 1, sizeof *w->chunk_seg);
    if (!ix || !w->seg || !w->chunk || !w->chunk_seg) {
        free(ix);
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory for the index", nm);
    }
    int rc = 0;
    r = pread(w->fd, ix, isz, (off_t)ioff);
    if (r < 0 || (uint64_t)r != isz) {
        rc = r < 0 ? wc_fail(WCODEC_E_IO, "%s: %s", nm, strerror(errno))
                   : wc_fail(WCODEC_E_TRUNCATED,
                             "%s: truncated container: index unreadable", nm);
        goto out;
    }
    if (XXH3_64bits(ix, isz) != isum) {
        rc = bad(nm, "index checksum mismatch");
        goto out;
    }
    memcpy(w->digest, ix, WC_DIGEST_SIZE);

    /* Segments: contiguous, in order, covering [0, file_size). */
    uint64_t pos = 0, chunk = 0;
    const uint8_t *s = ix + WC_DIGEST_SIZE;
    for (uint32_t i = 0; i < w->nseg; i++, s += WC_SEG_REC) {
        wc_segment *g = &w->seg[i];
        g->offset = wc_get64(s);
        g->length = wc_get64(s + 8);
        g->first_chunk = wc_get64(s + 16);
        uint32_t po = wc_get32(s + 24), ps = wc_get32(s + 28);
        g->c.codec = s[32];
        g->c.dtype = s[33];
        if (wc_get16(s + 34) || wc_get32(s + 36)) {
            rc = bad(nm, "reserved segment field not zero");
            goto out;
        }
        if (g->offset != pos || g->length == 0 ||
            g->length > w->file_size - pos || g->first_chunk != chunk) {
            rc = bad(nm, "segment table not contiguous");
            goto out;
        }
        if (g->c.codec >= WC_CODEC_COUNT || g->c.dtype >= WC_DT_COUNT) {
            rc = bad(nm, "unknown codec or dtype in segment table");
            goto out;
        }
        g->c.nplanes = (uint8_t)wc_dtype_size(g->c.dtype);
        if ((g->c.codec == WC_CODEC_PLANES || g->c.codec == WC_CODEC_JOINT) &&
            (g->c.dtype == WC_DT_NONE || g->length % g->c.nplanes)) {
            rc = bad(nm, "segment length not a whole number of elements");
            goto out;
        }
        if (po > psz || ps > psz - po ||
            wc_segcodec_params_parse(&g->c, ix + poff + po, ps)) {
            rc = bad(nm, "bad codec parameters");
            goto out;
        }
        uint64_t nc = wc_seg_chunks(g->length, w->chunk_size);
        if (nc > w->nchunks - chunk) {
            rc = bad(nm, "segments need more chunks than the index has");
            goto out;
        }
        for (uint64_t k = chunk; k < chunk + nc; k++)
            w->chunk_seg[k] = i;
        pos += g->length;
        chunk += nc;
    }
    if (pos != w->file_size || chunk != w->nchunks) {
        rc = bad(nm, "segments do not cover the file");
        goto out;
    }

    /* Chunks: payloads inside [superblock, index), sizes bounded. */
    const uint8_t *c = ix + WC_DIGEST_SIZE + (uint64_t)w->nseg * WC_SEG_REC;
    uint64_t pmax = wc_chunk_payload_max(w->chunk_size);
    for (uint64_t k = 0; k < w->nchunks; k++, c += WC_CHUNK_REC) {
        wc_chunk *ch = &w->chunk[k];
        ch->offset = wc_get64(c);
        ch->csize = wc_get32(c + 8);
        ch->flags = c[12];
        ch->checksum = wc_get64(c + 16);
        const wc_segment *g = &w->seg[w->chunk_seg[k]];
        uint64_t first = g->offset + (k - g->first_chunk) * w->chunk_size;
        uint64_t dlen = g->offset + g->length - first;
        if (dlen > w->chunk_size)
            dlen = w->chunk_size;
        if ((ch->flags & ~WC_CHUNK_F_RAW) || c[13] || c[14] || c[15] ||
            ch->offset < WC_SUPER_SIZE || ch->offset > ioff ||
            ch->csize > pmax || ch->csize > ioff - ch->offset ||
            ((ch->flags & WC_CHUNK_F_RAW) && ch->csize != dlen)) {
            rc = bad(nm, "chunk table entry out of range");
            goto out;
        }
        if (ch->csize > w->max_csize)
            w->max_csize = ch->csize;
    }
out:
    free(ix);
    return rc;
}

int wcodec_open_fd(int fd, const char *name, wcodec **out)
{
    *out = NULL;
    wcodec *w = calloc(1, sizeof *w);
    if (!w)
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", name);
    w->fd = fd;
    w->dfd = -1;
    w->name = strdup(name ? name : "(fd)");
    int rc = w->name ? wc_load(w) : wc_fail(WCODEC_E_NOMEM, "out of memory");
    if (rc) {
        wcodec_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

int wcodec_open(const char *path, wcodec **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wc_fail(WCODEC_E_IO, "%s: %s", path, strerror(errno));
    int rc = wcodec_open_fd(fd, path, out);
    if (rc) {
        close(fd);
        return rc;
    }
    (*out)->own_fd = 1;
    return 0;
}

void wcodec_close(wcodec *w)
{
    if (!w)
        return;
    if (w->dev_release) /* GPU decode tables of this handle */
        w->dev_release(w);
    if (w->own_fd)
        close(w->fd);
    if (w->dfd >= 0)
        close(w->dfd);
    if (w->seg)
        for (uint32_t i = 0; i < w->nseg; i++)
            wc_segcodec_free(&w->seg[i].c);
    free(w->seg);
    free(w->chunk);
    free(w->chunk_seg);
    free(w->name);
    free(w);
}

/* ---- queries ------------------------------------------------------------- */

uint64_t wcodec_size(const wcodec *w) { return w->file_size; }
uint64_t wcodec_packed_size(const wcodec *w) { return w->packed_size; }
uint32_t wcodec_chunk_size(const wcodec *w) { return w->chunk_size; }
uint64_t wcodec_chunk_count(const wcodec *w) { return w->nchunks; }
uint32_t wcodec_segment_count(const wcodec *w) { return w->nseg; }

void wcodec_digest(const wcodec *w, uint8_t out[16])
{
    memcpy(out, w->digest, WC_DIGEST_SIZE);
}

int wcodec_chunk_find(const wcodec *w, uint64_t off, uint64_t *chunk)
{
    if (off >= w->file_size)
        return wc_fail(WCODEC_E_RANGE, "%s: offset %llu past end", w->name,
                       (unsigned long long)off);
    uint32_t lo = 0, hi = w->nseg; /* last segment with offset <= off */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->seg[mid].offset <= off)
            lo = mid;
        else
            hi = mid;
    }
    const wc_segment *g = &w->seg[lo];
    *chunk = g->first_chunk + (off - g->offset) / w->chunk_size;
    return 0;
}

int wcodec_chunk_extent(const wcodec *w, uint64_t chunk, uint64_t *off,
                        uint32_t *len)
{
    if (chunk >= w->nchunks)
        return wc_fail(WCODEC_E_RANGE, "%s: chunk %llu out of range", w->name,
                       (unsigned long long)chunk);
    const wc_segment *g = &w->seg[w->chunk_seg[chunk]];
    uint64_t o = g->offset + (chunk - g->first_chunk) * w->chunk_size;
    uint64_t l = g->offset + g->length - o;
    *off = o;
    *len = (uint32_t)(l < w->chunk_size ? l : w->chunk_size);
    return 0;
}

/* ---- payload reads and chunk decode ---------------------------------------- */

/* Direct I/O wants file offsets, lengths and buffers aligned to the
 * logical block size; 4096 covers every block size in use. */
#define WC_DIRECT_ALIGN 4096u
/* Most payload bytes one run read fetches (a few MiB keeps the disk busy
 * without holding much memory per thread). */
#define WC_RUN_MAX (8u << 20)

void wc_reader_set_direct(wcodec *w, int dfd)
{
    if (w->dfd >= 0)
        close(w->dfd);
    w->dfd = dfd;
    w->direct = dfd >= 0;
}

/* pread until n bytes or end of file. @return bytes read, or -errno. */
static ssize_t wc_pread_all(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* The span buffer comes straight from mmap: page-aligned as direct I/O
 * needs, and given back whole when it grows. (From malloc, buffers that
 * grew run by run left freed pieces in every thread's arena: 4 MiB a
 * thread under the mount's stress test.) */
static int wc_span_grow(wc_tls *t, size_t need)
{
    if (t->span_cap >= need)
        return 0;
    size_t cap = t->span_cap ? t->span_cap : 64u << 10;
    while (cap < need)
        cap *= 2;
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    if (t->span)
        munmap(t->span, t->span_cap);
    t->span = p;
    t->span_cap = cap;
    return 0;
}

/* The error of a payload read of chunk k that returned r (-errno, or a
 * short count). */
static int wc_payload_fail(wcodec *w, uint64_t k, ssize_t r)
{
    if (r < 0)
        return wc_fail(WCODEC_E_IO, "%s: chunk %llu: %s", w->name,
                       (unsigned long long)k, strerror((int)-r));
    uint64_t doff;
    uint32_t dlen;
    wcodec_chunk_extent(w, k, &doff, &dlen);
    return wc_fail(WCODEC_E_TRUNCATED,
                   "%s: chunk %llu (bytes %llu..%llu): container truncated",
                   w->name, (unsigned long long)k, (unsigned long long)doff,
                   (unsigned long long)(doff + dlen));
}

/* Direct reads cover whole aligned blocks: the buffer bytes that n payload
 * bytes at off take. */
static size_t wc_direct_span(uint64_t off, size_t n)
{
    uint64_t a = off & ~(uint64_t)(WC_DIRECT_ALIGN - 1);
    return (size_t)((off + n - a + WC_DIRECT_ALIGN - 1) &
                    ~(uint64_t)(WC_DIRECT_ALIGN - 1));
}

size_t wc_run_buffer_size(size_t n)
{
    return n + 2 * WC_DIRECT_ALIGN;
}

/* Read the n payload bytes at off with direct I/O into the page-aligned
 * buf of cap >= wc_direct_span bytes. @return where the bytes are, or NULL
 * with *r the result (-EINVAL: this file system takes no direct I/O). */
static const uint8_t *wc_direct_read(wcodec *w, uint8_t *buf, uint64_t off,
                                     size_t n, ssize_t *r)
{
    uint64_t a = off & ~(uint64_t)(WC_DIRECT_ALIGN - 1);
    *r = wc_pread_all(w->dfd, buf, wc_direct_span(off, n), a);
    return *r >= (ssize_t)(off + n - a) ? buf + (off - a) : NULL;
}

const uint8_t *wc_run_read(wcodec *w, uint8_t *buf, uint64_t off, size_t n,
                           uint64_t k, int *rc)
{
    ssize_t r;
    if (!n)
        return buf;
    if (__atomic_load_n(&w->direct, __ATOMIC_RELAXED)) {
        const uint8_t *p = wc_direct_read(w, buf, off, n, &r);
        if (p)
            return p;
        if (r != -EINVAL) { /* short, or an I/O error */
            *rc = wc_payload_fail(w, k, r);
            return NULL;
        }
        /* This file system takes no direct I/O: use the page cache. */
        __atomic_store_n(&w->direct, 0, __ATOMIC_RELAXED);
    }
    r = wc_pread_all(w->fd, buf, n, off);
    if (r == (ssize_t)n)
        return buf;
    *rc = wc_payload_fail(w, k, r);
    return NULL;
}

/* Read the n payload bytes at off, for chunk k (named in errors): into buf,
 * or, with buf NULL or direct reads on, into the thread's span buffer.
 * @return where the bytes are, or NULL with the error set in *rc. */
static const uint8_t *wc_payload_read(wcodec *w, wc_tls *t, uint8_t *buf,
                                      uint64_t off, size_t n, uint64_t k,
                                      int *rc)
{
    if (!n) /* an empty payload (a constant chunk): nothing to read */
        return buf ? buf : (const uint8_t *)"";
    /* Direct reads need the aligned span buffer. (direct only ever goes
     * from on to off, so a buffer sized for it fits either read.) */
    int direct = __atomic_load_n(&w->direct, __ATOMIC_RELAXED);
    if (!buf || direct) {
        if (wc_span_grow(t, direct ? wc_direct_span(off, n) : n)) {
            *rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", w->name);
            return NULL;
        }
        buf = t->span;
    }
    return wc_run_read(w, buf, off, n, k, rc);
}

/* Decode chunk k from its payload p into dst and check its checksum. */
static int wc_chunk_finish(wcodec *w, wc_tls *t, uint64_t k, const uint8_t *p,
                           uint8_t *dst)
{
    uint64_t off;
    uint32_t len;
    wcodec_chunk_extent(w, k, &off, &len);
    const wc_chunk *ch = &w->chunk[k];
    if (ch->flags & WC_CHUNK_F_RAW) {
        if (p != dst)
            memcpy(dst, p, len);
    } else if (wc_chunk_decode(&w->seg[w->chunk_seg[k]].c, p, ch->csize, dst,
                               len, t->planes)) {
        return wc_fail(WCODEC_E_CORRUPT,
                       "%s: chunk %llu (bytes %llu..%llu): payload does not "
                       "decode",
                       w->name, (unsigned long long)k, (unsigned long long)off,
                       (unsigned long long)(off + len));
    }
    if (wc_hash64(dst, len) != ch->checksum)
        return wc_fail(WCODEC_E_CORRUPT,
                       "%s: chunk %llu (bytes %llu..%llu): checksum mismatch",
                       w->name, (unsigned long long)k, (unsigned long long)off,
                       (unsigned long long)(off + len));
    return 0;
}

/* Chunks k and k + 1, whose payloads lie back to back from p, decoded
 * together and checked. 0, or -1 (nothing reported) when either is stored
 * raw, fails or mismatches: the caller then decodes them one by one. */
static int wc_chunk_pair(wcodec *w, wc_tls *t, uint64_t k, const uint8_t *p,
                         uint8_t *d0, uint8_t *d1)
{
    const wc_chunk *a = &w->chunk[k], *b = &w->chunk[k + 1];
    if ((a->flags | b->flags) & WC_CHUNK_F_RAW)
        return -1;
    uint64_t off;
    uint32_t la, lb;
    wcodec_chunk_extent(w, k, &off, &la);
    wcodec_chunk_extent(w, k + 1, &off, &lb);
    if (wc_chunk_decode_pair(&w->seg[w->chunk_seg[k]].c, p, a->csize, d0, la,
                             &w->seg[w->chunk_seg[k + 1]].c,
                             p + (b->offset - a->offset), b->csize, d1, lb,
                             t->planes))
        return -1;
    return wc_hash64(d0, la) == a->checksum && wc_hash64(d1, lb) == b->checksum
               ? 0
               : -1;
}

int wcodec_chunk_decode(wcodec *w, uint64_t k, void *dst)
{
    if (k >= w->nchunks)
        return wc_fail(WCODEC_E_RANGE, "%s: chunk %llu out of range", w->name,
                       (unsigned long long)k);
    const wc_chunk *ch = &w->chunk[k];
    wc_tls *t = wc_tls_get(w);
    if (!t)
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", w->name);
    /* Buffered raw chunks are read straight into the destination. */
    uint8_t *buf = (ch->flags & WC_CHUNK_F_RAW) ? dst : NULL;
    int rc = 0;
    const uint8_t *p = wc_payload_read(w, t, buf, ch->offset, ch->csize, k,
                                       &rc);
    return p ? wc_chunk_finish(w, t, k, p, dst) : rc;
}

uint64_t wc_run_extent(const wcodec *w, uint64_t first, uint64_t count,
                       size_t max, uint64_t *off, size_t *len)
{
    const wc_chunk *c0 = &w->chunk[first];
    uint64_t j = 1, end = c0->offset + c0->csize;
    while (j < count) {
        const wc_chunk *cj = &w->chunk[first + j];
        if (cj->offset != end || end + cj->csize - c0->offset > max)
            break;
        end += cj->csize;
        j++;
    }
    *off = c0->offset;
    *len = (size_t)(end - c0->offset);
    return j;
}

/* wc_run_decode with the thread's scratch t. */
static int wc_run_decode_t(wcodec *w, wc_tls *t, uint64_t first,
                           uint64_t count, const uint8_t *p,
                           uint8_t *const dst[])
{
    uint64_t base = w->chunk[first].offset;
    for (uint64_t k = 0; k < count; k++) {
        const uint8_t *q = p + (w->chunk[first + k].offset - base);
        /* Two coded chunks at a time: their rANS blocks decode interleaved
         * (wc_chunk_decode_pair), nearly twice as fast as one after the
         * other. A failed pair is redone chunk by chunk, so the error
         * names the chunk. */
        if (k + 1 < count &&
            wc_chunk_pair(w, t, first + k, q, dst[k], dst[k + 1]) == 0) {
            k++;
            continue;
        }
        int rc = wc_chunk_finish(w, t, first + k, q, dst[k]);
        if (rc)
            return rc;
    }
    return 0;
}

int wc_run_decode(wcodec *w, uint64_t first, uint64_t count,
                  const uint8_t *p, uint8_t *const dst[])
{
    wc_tls *t = wc_tls_get(w);
    if (!t)
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", w->name);
    return wc_run_decode_t(w, t, first, count, p, dst);
}

int wc_decode_run(wcodec *w, uint64_t first, uint64_t count,
                  uint8_t *const dst[])
{
    if (first > w->nchunks || count > w->nchunks - first)
        return wc_fail(WCODEC_E_RANGE, "%s: chunks %llu+%llu out of range",
                       w->name, (unsigned long long)first,
                       (unsigned long long)count);
    wc_tls *t = wc_tls_get(w);
    if (!t)
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", w->name);
    for (uint64_t i = 0; i < count;) {
        /* The longest run of back-to-back payloads from chunk first + i,
         * read at once. */
        uint64_t off;
        size_t len;
        uint64_t j = wc_run_extent(w, first + i, count - i, WC_RUN_MAX, &off,
                                   &len);
        int rc = 0;
        const uint8_t *p = wc_payload_read(w, t, NULL, off, len, first + i,
                                           &rc);
        /* A short or failed read is retried chunk by chunk, so the error
         * names the chunk it hits. */
        for (uint64_t k = 0; !p && k < j; k++)
            if ((rc = wcodec_chunk_decode(w, first + i + k, dst[i + k])))
                return rc;
        if (p && (rc = wc_run_decode_t(w, t, first + i, j, p, dst + i)))
            return rc;
        i += j;
    }
    return 0;
}

ssize_t wcodec_pread(wcodec *w, void *buf, size_t len, uint64_t off)
{
    if (off >= w->file_size || !len)
        return 0;
    if (len > w->file_size - off)
        len = (size_t)(w->file_size - off);
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    uint8_t *out = buf;
    size_t done = 0;
    while (done < len) {
        uint64_t k, coff;
        uint32_t clen;
        wcodec_chunk_find(w, off + done, &k);
        wcodec_chunk_extent(w, k, &coff, &clen);
        uint64_t skip = off + done - coff;
        size_t take = clen - skip;
        if (take > len - done)
            take = len - done;
        int rc;
        if (skip == 0 && take == clen) {
            rc = wcodec_chunk_decode(w, k, out + done);
        } else {
            wc_tls *t = wc_tls_get(w);
            if (!t || grow(&t->decoded, &t->decoded_cap, w->chunk_size))
                return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", w->name);
            rc = wcodec_chunk_decode(w, k, t->decoded);
            if (!rc)
                memcpy(out + done, t->decoded + skip, take);
        }
        if (rc)
            return rc;
        done += take;
    }
    return (ssize_t)done;
}

int wcodec_verify(wcodec *w)
{
    wc_tls *t = wc_tls_get(w);
    if (!t)
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", w->name);
    uint8_t *buf = malloc(w->chunk_size);
    XXH3_state_t *h = XXH3_createState();
    if (!buf || !h) {
        free(buf);
        XXH3_freeState(h);
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", w->name);
    }
    XXH3_128bits_reset(h);
    int rc = 0;
    for (uint64_t k = 0; k < w->nchunks && !rc; k++) {
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, k, &off, &len);
        rc = wcodec_chunk_decode(w, k, buf);
        if (!rc)
            XXH3_128bits_update(h, buf, len);
    }
    if (!rc) {
        XXH128_canonical_t cn;
        XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(h));
        if (memcmp(cn.digest, w->digest, WC_DIGEST_SIZE))
            rc = wc_fail(WCODEC_E_DIGEST,
                         "%s: decoded file does not match its digest", w->name);
    }
    free(buf);
    XXH3_freeState(h);
    return rc;
}

int wcodec_describe_segment(const wcodec *w, uint32_t i,
                            wcodec_segment_info *si)
{
    if (i >= w->nseg)
        return wc_fail(WCODEC_E_RANGE, "segment %u out of range", i);
    static const char *const codecs[] = {"raw", "zstd", "planes", "joint"};
    const wc_segment *g = &w->seg[i];
    memset(si, 0, sizeof *si);
    si->offset = g->offset;
    si->length = g->length;
    si->first_chunk = g->first_chunk;
    si->nchunks = wc_seg_chunks(g->length, w->chunk_size);
    si->dtype = g->c.dtype ? wc_dtype_name(g->c.dtype) : "";
    si->codec = codecs[g->c.codec];
    if (g->c.codec == WC_CODEC_PLANES)
        for (unsigned k = 0; k < g->c.nplanes; k++)
            si->planes[k] = "rca"[g->c.mode[k]];
    if (g->c.codec == WC_CODEC_JOINT)
        memcpy(si->planes, "a7", 3);
    for (uint64_t k = g->first_chunk; k < g->first_chunk + si->nchunks; k++) {
        si->packed += w->chunk[k].csize;
        si->raw_chunks += (w->chunk[k].flags & WC_CHUNK_F_RAW) != 0;
    }
    return 0;
}
