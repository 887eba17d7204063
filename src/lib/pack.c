/* pack.c - safetensors file -> .wcodec container.
 *
 * 1. parse the header and cut the file into segments: the header, each
 *    tensor, and runs of gaps and small tensors (coded together with zstd);
 * 2. gather per-plane byte statistics of every tensor (parallel over
 *    chunks) and choose each tensor's codec and tables;
 * 3. encode chunks on worker threads while this thread writes them in
 *    order (a bounded window of chunks in flight keeps memory flat);
 * 4. write the index and superblock, optionally verify, fsync, rename.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "safetensors.h"
#include "tmpfile.h"

/* Tensors still smaller than this after merging are coded with their
 * neighbours in a zstd run: a rANS block's 128 bytes of states would cost
 * more than it saves. */
#define PK_SMALL_TENSOR 1024
/* Level used to test whether zstd beats the plane codec on a tensor. */
#define PK_ZSTD_PROBE_LEVEL 3

typedef struct {
    uint64_t off, len;
    int dtype; /* WC_DT_NONE: header, gaps, small tensors */
    uint64_t first_chunk;
    wc_segcodec c;
    rans_etab et[WC_MAX_PLANES];
    wc_planestats *st;
    pthread_mutex_t lock;
} pk_seg;

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

typedef struct {
    uint8_t *buf;
    size_t len;
    uint8_t flags;
    uint64_t sum;
    int state;
} pk_slot;

typedef struct {
    const char *name;
    const uint8_t *src;
    uint64_t size;
    uint32_t cs;
    int zlevel;
    pk_seg *seg;
    uint32_t nseg;
    uint64_t nchunks;
    uint32_t *chunk_seg;

    /* work distribution */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t next;    /* next chunk to claim */
    uint64_t written; /* chunks written (encode window base) */
    unsigned window;
    pk_slot *slots;
    int failed;
    int phase; /* 0 = statistics, 1 = encode */
} packer;

static void pk_extent(const packer *p, uint64_t k, uint64_t *off, size_t *len)
{
    const pk_seg *g = &p->seg[p->chunk_seg[k]];
    uint64_t o = g->off + (k - g->first_chunk) * p->cs;
    uint64_t l = g->off + g->len - o;
    *off = o;
    *len = (size_t)(l < p->cs ? l : p->cs);
}

/* ---- segments -------------------------------------------------------------- */

static int pk_add(pk_seg **v, uint32_t *n, size_t *cap, uint64_t off,
                  uint64_t len, int dtype)
{
    if (!len)
        return 0;
    if (*n && dtype == WC_DT_NONE && (*v)[*n - 1].dtype == WC_DT_NONE) {
        (*v)[*n - 1].len += len; /* merge runs of uncoded bytes */
        return 0;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        pk_seg *nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    pk_seg *g = &(*v)[(*n)++];
    memset(g, 0, sizeof *g);
    g->off = off;
    g->len = len;
    g->dtype = dtype;
    return 0;
}

static int pk_plan(packer *p, const wc_st_file *st)
{
    size_t cap = 0;
    uint64_t pos = 0;
    if (pk_add(&p->seg, &p->nseg, &cap, 0, st->data_start, WC_DT_NONE))
        return -1;
    pos = st->data_start;
    for (size_t i = 0; i < st->n; i++) {
        const wc_st_tensor *t = &st->t[i];
        if (t->begin == t->end)
            continue;
        if (pk_add(&p->seg, &p->nseg, &cap, pos, t->begin - pos, WC_DT_NONE) ||
            pk_add(&p->seg, &p->nseg, &cap, t->begin, t->end - t->begin,
                   t->dtype))
            return -1;
        pos = t->end;
    }
    if (pk_add(&p->seg, &p->nseg, &cap, pos, p->size - pos, WC_DT_NONE))
        return -1;
    for (uint32_t i = 0; i < p->nseg; i++)
        pthread_mutex_init(&p->seg[i].lock, NULL);
    return 0;
}

/* (Re)compute each segment's first chunk and the chunk -> segment map. */
static int pk_chunks(packer *p)
{
    uint64_t k = 0;
    for (uint32_t i = 0; i < p->nseg; i++) {
        p->seg[i].first_chunk = k;
        k += wc_seg_chunks(p->seg[i].len, p->cs);
    }
    p->nchunks = k;
    free(p->chunk_seg);
    p->chunk_seg = malloc((k ? k : 1) * sizeof *p->chunk_seg);
    if (!p->chunk_seg)
        return -1;
    for (uint32_t i = 0; i < p->nseg; i++)
        for (uint64_t j = 0; j < wc_seg_chunks(p->seg[i].len, p->cs); j++)
            p->chunk_seg[p->seg[i].first_chunk + j] = i;
    return 0;
}

/* Index and table bytes a segment costs beyond its payload estimate. */
static double pk_cost(const packer *p, int dtype, const wc_planestats *st,
                      uint64_t len)
{
    size_t ce = p->cs / wc_dtype_size(dtype);
    return wc_segcodec_estimate(dtype, st, ce) + WC_SEG_REC +
           (double)wc_seg_chunks(len, p->cs) * WC_CHUNK_REC;
}

/* Merge neighbouring tensors of one dtype into one segment (one table)
 * wherever the estimated size says sharing a table beats a table each:
 * models with many small tensors lose ~1% to per-tensor tables and rANS
 * states otherwise. Then fold what is still too small to pay for rANS,
 * and gaps, into zstd runs. */
static void pk_merge(packer *p)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < p->nseg; i++) {
        pk_seg *g = &p->seg[i];
        pk_seg *a = out ? &p->seg[out - 1] : NULL;
        if (a && a->dtype == g->dtype && a->dtype != WC_DT_NONE &&
            a->off + a->len == g->off) {
            wc_planestats m = *a->st;
            wc_planestats_merge(&m, g->st);
            double sep = pk_cost(p, a->dtype, a->st, a->len) +
                         pk_cost(p, g->dtype, g->st, g->len);
            double mer = pk_cost(p, a->dtype, &m, a->len + g->len);
            if (mer <= sep) {
                *a->st = m;
                a->len += g->len;
                free(g->st);
                g->st = NULL;
                continue;
            }
        }
        p->seg[out++] = *g;
    }
    p->nseg = out;
    out = 0;
    for (uint32_t i = 0; i < p->nseg; i++) {
        pk_seg *g = &p->seg[i];
        if (g->dtype != WC_DT_NONE && g->len < PK_SMALL_TENSOR) {
            g->dtype = WC_DT_NONE;
            free(g->st);
            g->st = NULL;
        }
        pk_seg *a = out ? &p->seg[out - 1] : NULL;
        if (a && a->dtype == WC_DT_NONE && g->dtype == WC_DT_NONE) {
            a->len += g->len;
            continue;
        }
        p->seg[out++] = *g;
    }
    p->nseg = out;
}

/* ---- workers --------------------------------------------------------------- */

static void pk_stats_chunk(packer *p, uint64_t k, uint8_t *scratch,
                           wc_planestats *tmp)
{
    pk_seg *g = &p->seg[p->chunk_seg[k]];
    if (g->dtype == WC_DT_NONE)
        return;
    uint64_t off;
    size_t len;
    pk_extent(p, k, &off, &len);
    memset(tmp, 0, sizeof *tmp);
    wc_planestats_add(tmp, g->dtype, p->src + off, len, scratch);
    pthread_mutex_lock(&g->lock);
    wc_planestats_merge(g->st, tmp);
    pthread_mutex_unlock(&g->lock);
}

static void pk_encode_chunk(packer *p, uint64_t k, pk_slot *sl, uint8_t *scratch)
{
    const pk_seg *g = &p->seg[p->chunk_seg[k]];
    uint64_t off;
    size_t len;
    pk_extent(p, k, &off, &len);
    const uint8_t *src = p->src + off;
    sl->sum = wc_hash64(src, len);
    size_t r = WC_ENCODE_FAIL;
    if (g->c.codec != WC_CODEC_RAW)
        r = wc_chunk_encode(&g->c, g->et, src, len, sl->buf,
                            wc_chunk_bound(p->cs), scratch, p->zlevel);
    /* Never store a chunk larger than itself. */
    if (r == WC_ENCODE_FAIL || r >= len) {
        sl->flags = WC_CHUNK_F_RAW;
        sl->len = len; /* written straight from the source */
    } else {
        sl->flags = 0;
        sl->len = r;
    }
}

static void *pk_worker(void *arg)
{
    packer *p = arg;
    uint8_t *scratch = malloc(p->cs);
    wc_planestats *tmp = malloc(sizeof *tmp);
    if (!scratch || !tmp) {
        pthread_mutex_lock(&p->mu);
        p->failed = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        free(scratch);
        free(tmp);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->phase == 1 && !p->failed && p->next < p->nchunks &&
               p->next >= p->written + p->window)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->failed || p->next >= p->nchunks) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        uint64_t k = p->next++;
        pk_slot *sl = p->phase == 1 ? &p->slots[k % p->window] : NULL;
        if (sl)
            sl->state = SLOT_BUSY;
        pthread_mutex_unlock(&p->mu);

        if (!sl) {
            pk_stats_chunk(p, k, scratch, tmp);
            continue;
        }
        pk_encode_chunk(p, k, sl, scratch);
        pthread_mutex_lock(&p->mu);
        sl->state = SLOT_DONE;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    free(scratch);
    free(tmp);
    return NULL;
}

static int pk_spawn(packer *p, unsigned n, pthread_t *th)
{
    unsigned i;
    for (i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, pk_worker, p))
            break;
    return (int)i;
}

static void pk_join(pthread_t *th, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* ---- codec choice ---------------------------------------------------------- */

static int pk_choose(packer *p, pk_seg *g, uint8_t *a, uint8_t *b,
                     uint8_t *scratch)
{
    if (g->dtype == WC_DT_NONE) {
        g->c.codec = WC_CODEC_ZSTD;
        return 0;
    }
    wc_segcodec_choose(&g->c, g->dtype, g->st, p->cs / wc_dtype_size(g->dtype));
    int coded = 0;
    for (unsigned k = 0; k < g->c.nplanes; k++) {
        if (g->c.mode[k] != WC_PLANE_RAW)
            coded = 1;
        if (g->c.mode[k] == WC_PLANE_RANS)
            rans_etab_init(&g->et[k], g->c.freq[k]);
    }
    /* Probe the first chunk: integer tensors with structure (positions,
     * ids) suit an LZ coder better than order-0 planes. */
    size_t len = g->len < p->cs ? (size_t)g->len : p->cs;
    size_t cap = wc_chunk_bound(p->cs);
    size_t rp = coded ? wc_chunk_encode(&g->c, g->et, p->src + g->off, len, a,
                                        cap, scratch, 0)
                      : len;
    if (rp > len)
        rp = len;
    wc_segcodec z = {.codec = WC_CODEC_ZSTD, .dtype = (uint8_t)g->dtype};
    size_t rz = wc_chunk_encode(&z, NULL, p->src + g->off, len, b, cap, NULL,
                                PK_ZSTD_PROBE_LEVEL);
    /* The faster decoder within a margin: zstd must code the probe 3%
     * smaller to be chosen, since the rANS planes decode 1.5-3x as fast as
     * zstd (README, "CPU decode speed"). The margin only ever keeps rANS,
     * and it predates the vector decoders, so no file changed size. */
    if (rz != WC_ENCODE_FAIL && rz < rp * 97 / 100) {
        memset(&g->c, 0, sizeof g->c);
        g->c.codec = WC_CODEC_ZSTD;
        g->c.dtype = (uint8_t)g->dtype;
    } else if (!coded) {
        memset(&g->c, 0, sizeof g->c);
        g->c.codec = WC_CODEC_RAW;
        g->c.dtype = (uint8_t)g->dtype;
    }
    g->c.nplanes = (uint8_t)wc_dtype_size(g->dtype);
    return 0;
}

/* ---- index ----------------------------------------------------------------- */

static uint8_t *pk_index(packer *p, const wc_chunk *ch, const uint8_t digest[16],
                         size_t *isz)
{
    size_t psz = 0;
    for (uint32_t i = 0; i < p->nseg; i++)
        psz += wc_segcodec_params_size(&p->seg[i].c);
    size_t n = WC_DIGEST_SIZE + (size_t)p->nseg * WC_SEG_REC +
               (size_t)p->nchunks * WC_CHUNK_REC + psz;
    uint8_t *ix = calloc(1, n);
    if (!ix)
        return NULL;
    memcpy(ix, digest, WC_DIGEST_SIZE);
    uint8_t *s = ix + WC_DIGEST_SIZE;
    uint8_t *c = s + (size_t)p->nseg * WC_SEG_REC;
    uint8_t *params = c + (size_t)p->nchunks * WC_CHUNK_REC;
    uint32_t po = 0;
    for (uint32_t i = 0; i < p->nseg; i++, s += WC_SEG_REC) {
        const pk_seg *g = &p->seg[i];
        uint32_t ps = (uint32_t)wc_segcodec_params_size(&g->c);
        wc_put64(s, g->off);
        wc_put64(s + 8, g->len);
        wc_put64(s + 16, g->first_chunk);
        wc_put32(s + 24, po);
        wc_put32(s + 28, ps);
        s[32] = g->c.codec;
        s[33] = (uint8_t)g->dtype;
        wc_segcodec_params_write(&g->c, params + po);
        po += ps;
    }
    for (uint64_t k = 0; k < p->nchunks; k++, c += WC_CHUNK_REC) {
        wc_put64(c, ch[k].offset);
        wc_put32(c + 8, ch[k].csize);
        c[12] = ch[k].flags;
        wc_put64(c + 16, ch[k].checksum);
    }
    *isz = n;
    return ix;
}

static int pk_verify(packer *p, wc_tmp *t)
{
    wcodec *w;
    int rc = wcodec_open_fd(t->fd, t->final, &w);
    if (rc)
        return rc;
    uint8_t *buf = malloc(p->cs);
    if (!buf) {
        wcodec_close(w);
        return wc_fail(WCODEC_E_NOMEM, "out of memory");
    }
    for (uint64_t k = 0; k < p->nchunks && !rc; k++) {
        uint64_t off;
        size_t len;
        pk_extent(p, k, &off, &len);
        rc = wcodec_chunk_decode(w, k, buf);
        if (!rc && memcmp(buf, p->src + off, len))
            rc = wc_fail(WCODEC_E_CORRUPT,
                         "%s: verify: chunk %llu decodes to different bytes",
                         t->final, (unsigned long long)k);
    }
    if (!rc && wcodec_size(w) != p->size)
        rc = wc_fail(WCODEC_E_CORRUPT, "%s: verify: size differs", t->final);
    free(buf);
    wcodec_close(w);
    return rc;
}

/* ---- driver -------------------------------------------------------------- */

void wcodec_pack_options_init(wcodec_pack_options *o)
{
    memset(o, 0, sizeof *o);
    o->chunk_size = WCODEC_DEFAULT_CHUNK_SIZE;
    o->zstd_level = 9;
}

static int pk_run(packer *p, unsigned threads, wc_tmp *t,
                  const wcodec_pack_options *o)
{
    int rc = 0;
    pthread_t *th = calloc(threads, sizeof *th);
    uint8_t *a = malloc(wc_chunk_bound(p->cs));
    uint8_t *b = malloc(wc_chunk_bound(p->cs));
    uint8_t *scratch = malloc(p->cs);
    wc_chunk *ch = NULL;
    p->window = threads * 4;
    p->slots = calloc(p->window, sizeof *p->slots);
    if (!th || !a || !b || !scratch || !p->slots) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", p->name);
        goto out;
    }
    for (unsigned i = 0; i < p->window; i++)
        if (!(p->slots[i].buf = malloc(wc_chunk_bound(p->cs)))) {
            rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", p->name);
            goto out;
        }
    for (uint32_t i = 0; i < p->nseg; i++)
        if (p->seg[i].dtype != WC_DT_NONE &&
            !(p->seg[i].st = calloc(1, sizeof(wc_planestats)))) {
            rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", p->name);
            goto out;
        }

    /* Phase 0: statistics. */
    p->phase = 0;
    p->next = 0;
    int n = pk_spawn(p, threads, th);
    pk_join(th, n);
    if (!n || p->failed) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: cannot start threads", p->name);
        goto out;
    }
    pk_merge(p);
    if (pk_chunks(p)) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", p->name);
        goto out;
    }
    for (uint32_t i = 0; i < p->nseg; i++)
        pk_choose(p, &p->seg[i], a, b, scratch);

    ch = calloc(p->nchunks ? p->nchunks : 1, sizeof *ch);
    if (!ch) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", p->name);
        goto out;
    }
    /* Phase 1: encode on workers, write here in order. */
    p->phase = 1;
    p->next = 0;
    p->written = 0;
    n = pk_spawn(p, threads, th);
    if (!n) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: cannot start threads", p->name);
        goto out;
    }
    XXH3_state_t *h = XXH3_createState();
    XXH3_128bits_reset(h);
    uint64_t pos = WC_SUPER_SIZE;
    t->pos = pos; /* payloads follow the superblock, written last */
    for (uint64_t k = 0; k < p->nchunks && !rc; k++) {
        pk_slot *sl = &p->slots[k % p->window];
        pthread_mutex_lock(&p->mu);
        while (sl->state != SLOT_DONE && !p->failed)
            pthread_cond_wait(&p->cv, &p->mu);
        int failed = p->failed;
        pthread_mutex_unlock(&p->mu);
        if (failed) {
            rc = wc_fail(WCODEC_E_NOMEM, "%s: worker failed", p->name);
            break;
        }
        uint64_t off;
        size_t len;
        pk_extent(p, k, &off, &len);
        const uint8_t *data = sl->flags & WC_CHUNK_F_RAW ? p->src + off : sl->buf;
        rc = wc_tmp_write(t, data, sl->len);
        XXH3_128bits_update(h, p->src + off, len);
        ch[k].offset = pos;
        ch[k].csize = (uint32_t)sl->len;
        ch[k].flags = sl->flags;
        ch[k].checksum = sl->sum;
        pos += sl->len;
        pthread_mutex_lock(&p->mu);
        sl->state = SLOT_FREE;
        p->written = k + 1;
        if (rc)
            p->failed = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (o->progress)
            o->progress(o->progress_ctx, off + len, p->size);
    }
    pthread_mutex_lock(&p->mu);
    if (rc)
        p->failed = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pk_join(th, n);
    XXH128_canonical_t dg;
    XXH128_canonicalFromHash(&dg, XXH3_128bits_digest(h));
    XXH3_freeState(h);
    if (rc)
        goto out;

    size_t isz;
    uint8_t *ix = pk_index(p, ch, dg.digest, &isz);
    if (!ix) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", p->name);
        goto out;
    }
    uint8_t sb[WC_SUPER_SIZE] = {0};
    memcpy(sb, WC_MAGIC, 8);
    wc_put16(sb + 8, WCODEC_FORMAT_MAJOR);
    wc_put16(sb + 10, WCODEC_FORMAT_MINOR);
    wc_put64(sb + 16, p->size);
    wc_put64(sb + 24, pos);
    wc_put64(sb + 32, isz);
    wc_put64(sb + 40, p->nchunks);
    wc_put32(sb + 48, p->cs);
    wc_put32(sb + 52, p->nseg);
    wc_put64(sb + 56, XXH3_64bits(ix, isz));
    wc_put64(sb + 72, XXH3_64bits(sb, 72));
    rc = wc_tmp_write(t, ix, isz);
    free(ix);
    if (!rc)
        rc = wc_tmp_pwrite(t, sb, sizeof sb, 0);
    if (!rc && o->verify)
        rc = pk_verify(p, t);
out:
    if (p->slots)
        for (unsigned i = 0; i < p->window; i++)
            free(p->slots[i].buf);
    free(p->slots);
    free(th);
    free(a);
    free(b);
    free(scratch);
    free(ch);
    return rc;
}

int wcodec_pack_file(const char *src, const char *dst,
                     const wcodec_pack_options *opt)
{
    wcodec_pack_options def;
    if (!opt) {
        wcodec_pack_options_init(&def);
        opt = &def;
    }
    uint32_t cs = opt->chunk_size ? opt->chunk_size : WCODEC_DEFAULT_CHUNK_SIZE;
    if (cs < WC_CHUNK_MIN || cs > WC_CHUNK_MAX || (cs & (cs - 1)))
        return wc_fail(WCODEC_E_INVAL,
                       "chunk size %u is not a power of two in 4 KiB..16 MiB",
                       cs);
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wc_fail(WCODEC_E_IO, "%s: %s", src, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return wc_fail(WCODEC_E_ST_FORMAT, "%s: not a regular file", src);
    }
    packer p = {.name = src, .size = (uint64_t)st.st_size, .cs = cs,
                .zlevel = opt->zstd_level};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    wc_st_file sf = {0};
    wc_tmp t = {.fd = -1, .slot = -1};
    int rc = 0;
    if (p.size) {
        p.src = mmap(NULL, p.size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p.src == MAP_FAILED) {
            p.src = NULL;
            rc = wc_fail(WCODEC_E_IO, "%s: mmap: %s", src, strerror(errno));
            goto out;
        }
        madvise((void *)p.src, p.size, MADV_SEQUENTIAL);
    }
    uint64_t hl;
    rc = wc_st_header_len(p.src, p.size, p.size, src, &hl);
    if (!rc)
        rc = wc_st_parse(p.src, p.size, src, &sf);
    if (rc)
        goto out;
    if (pk_plan(&p, &sf) || pk_chunks(&p)) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", src);
        goto out;
    }
    rc = wc_tmp_create(&t, dst, opt->force);
    if (rc)
        goto out;
    wc_tmp_keep_attr(&t, &st); /* never wider than the source */
    unsigned threads = opt->threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    if (threads > 256)
        threads = 256;
    rc = pk_run(&p, threads, &t, opt);
    if (!rc)
        rc = wc_tmp_commit(&t, opt->force);
out:
    if (rc)
        wc_tmp_abort(&t);
    for (uint32_t i = 0; i < p.nseg; i++) {
        free(p.seg[i].st);
        pthread_mutex_destroy(&p.seg[i].lock);
    }
    free(p.seg);
    free(p.chunk_seg);
    wc_st_free(&sf);
    if (p.src)
        munmap((void *)p.src, p.size);
    close(fd);
    return rc;
}

/* ---- unpack ---------------------------------------------------------------- */

/* Decode w into t chunk by chunk (each verified before it is written) and
 * check the whole-file digest; commits t on success. */
static int wc_unpack_to(wcodec *w, const char *src, wc_tmp *t, int force)
{
    int rc = 0;
    uint8_t *buf = malloc(wcodec_chunk_size(w));
    XXH3_state_t *h = XXH3_createState();
    if (!buf || !h) {
        rc = wc_fail(WCODEC_E_NOMEM, "%s: out of memory", src);
        goto out;
    }
    XXH3_128bits_reset(h);
    for (uint64_t k = 0; k < wcodec_chunk_count(w) && !rc; k++) {
        uint64_t off;
        uint32_t len;
        wcodec_chunk_extent(w, k, &off, &len);
        rc = wcodec_chunk_decode(w, k, buf);
        if (!rc) {
            XXH3_128bits_update(h, buf, len);
            rc = wc_tmp_write(t, buf, len);
        }
    }
    if (!rc) {
        XXH128_canonical_t dg;
        uint8_t want[16];
        XXH128_canonicalFromHash(&dg, XXH3_128bits_digest(h));
        wcodec_digest(w, want);
        if (memcmp(dg.digest, want, 16))
            rc = wc_fail(WCODEC_E_DIGEST,
                         "%s: decoded file does not match its digest", src);
    }
    if (!rc)
        rc = wc_tmp_commit(t, force);
out:
    XXH3_freeState(h);
    free(buf);
    return rc;
}

int wcodec_unpack_file(const char *src, const char *dst, int force)
{
    wcodec *w;
    struct stat st;
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return wc_fail(WCODEC_E_IO, "%s: %s", src, strerror(errno));
    int rc = fstat(fd, &st) ? wc_fail(WCODEC_E_IO, "%s: %s", src,
                                      strerror(errno))
                            : wcodec_open_fd(fd, src, &w);
    if (rc) {
        close(fd);
        return rc;
    }
    wc_tmp t;
    rc = wc_tmp_create_out(&t, dst, force);
    if (!rc) {
        wc_tmp_keep_attr(&t, &st); /* the container's mode and mtime */
        rc = wc_unpack_to(w, src, &t, force);
    }
    if (rc)
        wc_tmp_abort(&t);
    wcodec_close(w);
    close(fd);
    return rc;
}

int wcodec_unpack_fd(const char *src, int fd)
{
    wcodec *w;
    int rc = wcodec_open(src, &w);
    if (rc)
        return rc;
    wc_tmp t;
    rc = wc_tmp_create_fd(&t, fd, "(standard output)");
    if (!rc)
        rc = wc_unpack_to(w, src, &t, 0);
    if (rc)
        wc_tmp_abort(&t);
    wcodec_close(w);
    return rc;
}
