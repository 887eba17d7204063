/* plan.c - turn a list of chunks into GPU jobs, blocks and launches (see
 * wc_gpu.h). Plain C: used by the CUDA backend and by the kernel emulator
 * test, which runs on machines without a GPU. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "reader.h"
#include "wc_gpu.h"

int wc_plan_class(const wcodec *w, uint32_t seg)
{
    if (seg >= w->nseg)
        return -1;
    const wc_segcodec *c = &w->seg[seg].c;
    if (c->codec == WC_CODEC_JOINT)
        return c->dtype == WC_DT_BF16 && c->nplanes == 2 &&
                       c->mode[0] == WC_PLANE_RANS && c->dtab[0]
                   ? wc_gclass(2, 1)
                   : -1;
    if (c->codec != WC_CODEC_PLANES || c->nplanes != wc_dtype_size(c->dtype) ||
        c->nplanes > WC_G_MAX_PLANES)
        return -1;
    unsigned nr = 0;
    for (unsigned k = 0; k < c->nplanes; k++) {
        if (c->mode[k] == WC_PLANE_RANS) {
            if (!c->dtab[k])
                return -1;
            nr++;
        } else if (c->mode[k] != WC_PLANE_RAW && c->mode[k] != WC_PLANE_CONST) {
            return -1;
        }
    }
    return wc_gclass(c->nplanes, nr);
}

int wc_plan_item(const wcodec *w, uint64_t k, uint64_t dst, uint32_t supported,
                 int copy_ok, wc_gitem *it)
{
    uint64_t off;
    uint32_t dlen;
    int rc = wcodec_chunk_extent(w, k, &off, &dlen);
    if (rc)
        return rc;
    memset(it, 0, sizeof *it);
    it->chunk = k;
    it->dst = dst;
    it->dlen = dlen;
    it->seg = w->chunk_seg[k];
    const wc_chunk *ch = &w->chunk[k];
    if (!(ch->flags & WC_CHUNK_F_RAW)) {
        int c = wc_plan_class(w, it->seg);
        if (c > 0 && (supported >> c & 1)) {
            it->kind = WC_GK_PLANES;
            it->how = WC_GS_PAYLOAD;
            it->csize = ch->csize;
            return 1;
        }
    }
    if (!copy_ok)
        return 0;
    it->kind = WC_GK_COPY;
    it->csize = dlen;
    /* Stored raw: the payload is the bytes (csize == dlen, checked at
     * open); the GPU copy is then hashed like every other job. */
    it->how = (ch->flags & WC_CHUNK_F_RAW) ? WC_GS_PAYLOAD : WC_GS_DECODE;
    return 1;
}

static int stage_read(wcodec *w, uint64_t k, uint8_t *dst)
{
    const wc_chunk *ch = &w->chunk[k];
    size_t got = 0;
    while (got < ch->csize) {
        ssize_t r = pread(w->fd, dst + got, ch->csize - got,
                          (off_t)(ch->offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return wc_fail(WCODEC_E_IO, "%s: chunk %llu: %s", w->name,
                           (unsigned long long)k, strerror(errno));
        if (r == 0)
            return wc_fail(WCODEC_E_TRUNCATED,
                           "%s: chunk %llu: container truncated", w->name,
                           (unsigned long long)k);
        got += (size_t)r;
    }
    return 0;
}

int wc_plan_stage(wcodec *w, const wc_gitem *items, size_t n, uint8_t *buf)
{
    for (size_t i = 0; i < n; i++) {
        const wc_gitem *it = &items[i];
        int rc = it->how == WC_GS_PAYLOAD
                     ? stage_read(w, it->chunk, buf + it->src)
                     : wcodec_chunk_decode(w, it->chunk, buf + it->src);
        if (rc)
            return rc;
        /* Zero the slot's padding: nothing reads it as data, but keep the
         * buffer deterministic. */
        uint64_t slot = wc_gslot(it->csize);
        if (slot > it->csize)
            memset(buf + it->src + it->csize, 0, slot - it->csize);
    }
    return 0;
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (*cap >= need)
        return 0;
    uint32_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, (size_t)nc * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

int wc_plan_build(wc_gplan *p, const wcodec *w, wc_gitem *items, size_t n,
                  wc_gtabfn tab, void *ctx)
{
    p->njobs = p->nblocks = 0;
    p->nlaunch = 0;
    p->in_bytes = 0;
    if (n > UINT32_MAX / 2)
        return -1;

    /* Classes, and input slots in item order (sequential reads). */
    uint32_t count[WC_GCLASSES] = {0};
    uint8_t *cls = malloc(n ? n : 1);
    if (!cls)
        return -1;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        if (items[i].kind == WC_GK_PLANES) {
            c = wc_plan_class(w, items[i].seg);
            if (c <= 0) {
                free(cls);
                return -1;
            }
        } else if (items[i].kind != WC_GK_COPY ||
                   items[i].csize != items[i].dlen) {
            free(cls);
            return -1;
        }
        cls[i] = (uint8_t)c;
        count[c]++;
        items[i].src = off;
        off += wc_gslot(items[i].csize);
    }
    p->in_bytes = off;

    if (grow((void **)&p->jobs, &p->njobs_cap, (uint32_t)n, sizeof *p->jobs) ||
        grow((void **)&p->blocks, &p->nblocks_cap, (uint32_t)n,
             sizeof *p->blocks)) {
        free(cls);
        return -1;
    }

    /* Jobs ordered by class (stable), so a block's jobs are consecutive. */
    uint32_t first[WC_GCLASSES], next[WC_GCLASSES];
    uint32_t acc = 0;
    for (int c = 0; c < WC_GCLASSES; c++) {
        first[c] = next[c] = acc;
        acc += count[c];
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t j = next[cls[i]]++;
        items[i].job = j;
        wc_gjob *jb = &p->jobs[j];
        jb->src = items[i].src;
        jb->dst = items[i].dst;
        jb->csize = items[i].csize;
        jb->dlen = items[i].dlen;
    }
    p->njobs = (uint32_t)n;

    /* Job -> item, to find each job's segment while cutting blocks. */
    uint32_t *item_of = malloc((n ? n : 1) * sizeof *item_of);
    if (!item_of) {
        free(cls);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        item_of[items[i].job] = (uint32_t)i;

    int rc = 0;
    for (int c = 0; c < WC_GCLASSES && !rc; c++) {
        if (!count[c])
            continue;
        wc_glaunch *L = &p->launch[p->nlaunch++];
        L->cls = c;
        L->job0 = first[c];
        L->njobs = count[c];
        L->block0 = p->nblocks;
        L->nblocks = 0;
        if (c == 0)
            continue; /* COPY: one warp per job, no blocks */
        unsigned wpb = wc_gclass_wpb(c);
        for (uint32_t j = first[c]; j < first[c] + count[c];) {
            uint32_t seg = items[item_of[j]].seg;
            uint32_t e = j + 1;
            while (e < first[c] + count[c] && e - j < wpb &&
                   items[item_of[e]].seg == seg)
                e++;
            wc_gblock *b = &p->blocks[p->nblocks++];
            memset(b, 0, sizeof *b);
            const wc_segcodec *sc = &w->seg[seg].c;
            b->job0 = j;
            b->njobs = e - j;
            b->dtype = sc->dtype;
            b->nplanes = sc->nplanes;
            b->joint = sc->codec == WC_CODEC_JOINT;
            b->jbase = b->joint ? sc->jbase : 0;
            unsigned r = 0;
            for (unsigned k = 0; k < sc->nplanes; k++) {
                b->mode[k] = sc->mode[k];
                b->cval[k] = sc->mode[k] == WC_PLANE_CONST ? sc->cval[k] : 0;
                if (sc->mode[k] == WC_PLANE_RANS) {
                    uint64_t t = tab(ctx, seg, k);
                    if (!t || (t & 15)) {
                        rc = -1;
                        break;
                    }
                    b->tab[r++] = t;
                }
            }
            b->nrans = (uint8_t)r;
            L->nblocks++;
            j = e;
        }
    }
    free(item_of);
    free(cls);
    return rc;
}

void wc_plan_free(wc_gplan *p)
{
    free(p->jobs);
    free(p->blocks);
    memset(p, 0, sizeof *p);
}
