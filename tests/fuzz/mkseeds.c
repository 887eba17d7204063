/* mkseeds.c - writes seed inputs for the fz_rans and fz_chunk targets in
 * their layouts (targets.c): valid rANS blocks of many shapes, and the
 * parameters and payloads of real chunks taken out of containers. Used by
 * make-corpus.sh; not part of the tests.
 *
 *   mkseeds rans OUTDIR
 *   mkseeds chunk OUTDIR CONTAINER...
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "container.h"
#include "rans.h"
#include "reader.h"
#include "targets.h"
#include "wcodec.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int seeds_rans(const char *dir)
{
    static const size_t sizes[] = {0, 1, 31, 32, 33, 64, 100, 1000, 4099};
    int rc = 0, id = 0;
    for (int shape = 0; shape < 4; shape++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t m = shape == 0 ? 2 : shape == 1 ? 8 : shape == 2 ? 40 : 64;
            uint8_t hdr[2 + 2 * FZ_RANS_MAXSYM + 3];
            hdr[0] = (uint8_t)(m - 1);
            hdr[1] = (uint8_t)(id & 1);
            uint64_t counts[256] = {0};
            for (size_t i = 0; i < m; i++) {
                /* skewed like an exponent plane: one symbol dominates */
                uint8_t s = (uint8_t)(shape == 3 ? i * 4 : 100 + i);
                uint8_t wgt = (uint8_t)(i == 0 ? 255 : next() % 64);
                hdr[2 + 2 * i] = s;
                hdr[3 + 2 * i] = wgt;
                counts[s] += (uint64_t)wgt + 1;
            }
            uint16_t freq[256];
            rans_normalize(counts, freq);
            size_t ns = sizes[si];
            uint8_t *p = hdr + 2 + 2 * m;
            p[0] = (uint8_t)ns;
            p[1] = (uint8_t)(ns >> 8);
            p[2] = (uint8_t)(ns >> 16);
            /* symbols drawn from the table's distribution */
            uint8_t *src = malloc(ns + 1);
            uint32_t cum[257] = {0};
            for (int s = 0; s < 256; s++)
                cum[s + 1] = cum[s] + freq[s];
            for (size_t i = 0; i < ns; i++) {
                uint32_t r = (uint32_t)(next() % RANS_PROB_SCALE);
                int s = 0;
                while (cum[s + 1] <= r)
                    s++;
                src[i] = (uint8_t)s;
            }
            rans_etab et;
            rans_etab_init(&et, freq);
            size_t cap = rans_bound(ns);
            size_t hl = (size_t)(p + 3 - hdr);
            uint8_t *out = malloc(hl + cap);
            memcpy(out, hdr, hl);
            size_t el = rans_encode(&et, src, ns, out + hl, cap);
            char name[64];
            snprintf(name, sizeof name, "rans-%02d-m%zu-n%zu", id++, m, ns);
            rc |= el ? put(dir, name, out, hl + el) : 1;
            free(out);
            free(src);
        }
    return rc;
}

static int seeds_chunk(const char *dir, int argc, char **argv)
{
    int rc = 0, id = 0;
    for (int a = 0; a < argc; a++) {
        wcodec *w;
        if (wcodec_open(argv[a], &w)) {
            fprintf(stderr, "mkseeds: %s\n", wcodec_errdetail());
            return 1;
        }
        /* One seed per (codec, dtype, plane modes) seen, from a segment's
         * first chunk. */
        char seen[256][16];
        int nseen = 0;
        for (uint32_t i = 0; i < w->nseg; i++) {
            const wc_segment *g = &w->seg[i];
            char key[16];
            snprintf(key, sizeof key, "%u.%u.", g->c.codec, g->c.dtype);
            size_t kl = strlen(key);
            for (unsigned k = 0; g->c.codec == WC_CODEC_PLANES &&
                                 k < g->c.nplanes; k++)
                key[kl++] = (char)('0' + g->c.mode[k]);
            key[kl] = 0;
            int dup = 0;
            for (int s = 0; s < nseen; s++)
                dup |= !strcmp(seen[s], key);
            if (dup || nseen == 256)
                continue;
            strcpy(seen[nseen++], key);
            const wc_chunk *ch = &w->chunk[g->first_chunk];
            uint64_t off;
            uint32_t len;
            wcodec_chunk_extent(w, g->first_chunk, &off, &len);
            int raw = ch->flags & WC_CHUNK_F_RAW;
            size_t pl = raw ? 0 : wc_segcodec_params_size(&g->c);
            size_t n = FZ_CHUNK_HDR + pl + ch->csize;
            uint8_t *b = malloc(n);
            b[0] = raw ? WC_CODEC_RAW : g->c.codec;
            b[1] = g->c.dtype;
            wc_put16(b + 2, (uint16_t)pl);
            wc_put32(b + 4, len);
            if (pl)
                wc_segcodec_params_write(&g->c, b + FZ_CHUNK_HDR);
            if (pread(w->fd, b + FZ_CHUNK_HDR + pl, ch->csize,
                      (off_t)ch->offset) != (ssize_t)ch->csize) {
                fprintf(stderr, "mkseeds: %s: short read\n", argv[a]);
                return 1;
            }
            char name[64];
            snprintf(name, sizeof name, "chunk-%02d-%s-%s", id++,
                     raw ? "stored" : (const char *[]){"raw", "zstd",
                                                       "planes", "joint"}[g->c.codec],
                     g->c.dtype ? wc_dtype_name(g->c.dtype) : "none");
            rc |= put(dir, name, b, n);
            free(b);
        }
        wcodec_close(w);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "rans"))
        return seeds_rans(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "chunk"))
        return seeds_chunk(argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: mkseeds rans OUTDIR | chunk OUTDIR CONTAINER...\n");
    return 2;
}
