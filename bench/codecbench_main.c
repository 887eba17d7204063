/* codecbench_main.c - wcodec-codecbench: the bf16 codecs side by side on the
 * same tensors. Not installed; the README's "Beyond order-0" figures.
 *
 * Every BF16 tensor of a .safetensors file is one segment (statistics over
 * the whole tensor, 256 KiB chunks), coded twice: as PLANES (exponent plane
 * rANS, sign|mantissa plane as the choice makes it) and as JOINT where its
 * exponents allow. Both sets of chunks are decoded from memory, one thread,
 * alternating PLANES and JOINT pass by pass so both see the same machine,
 * and checked against the tensor's bytes. Prints bytes, coded sizes (payload
 * plus tables) and best-pass decode GB/s of each. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "safetensors.h"

#define CB_CHUNK (256u * 1024)

typedef struct {
    wc_segcodec enc, dec;
    rans_etab et[WC_MAX_PLANES];
    uint8_t **pay;
    size_t *len;
    double coded; /* payload + parameter bytes */
} cb_coded;

/* Code the tensor [src, src+bytes) as c (already chosen); 0 or -1. */
static int cb_code(cb_coded *x, const uint8_t *src, size_t bytes,
                   size_t nchunks, uint8_t *scratch)
{
    for (unsigned k = 0; k < x->enc.nplanes; k++)
        if (x->enc.mode[k] == WC_PLANE_RANS)
            rans_etab_init(&x->et[k], x->enc.freq[k]);
    size_t ps = wc_segcodec_params_size(&x->enc);
    uint8_t *params = malloc(ps + 1);
    x->pay = calloc(nchunks, sizeof *x->pay);
    x->len = calloc(nchunks, sizeof *x->len);
    if (!params || !x->pay || !x->len)
        return -1;
    wc_segcodec_params_write(&x->enc, params);
    x->dec = (wc_segcodec){.codec = x->enc.codec, .dtype = x->enc.dtype,
                           .nplanes = x->enc.nplanes};
    if (wc_segcodec_params_parse(&x->dec, params, ps))
        return -1;
    free(params);
    x->coded = (double)ps;
    for (size_t c = 0; c < nchunks; c++) {
        size_t off = c * CB_CHUNK;
        size_t n = bytes - off < CB_CHUNK ? bytes - off : CB_CHUNK;
        x->pay[c] = malloc(wc_chunk_bound(n));
        if (!x->pay[c])
            return -1;
        x->len[c] = wc_chunk_encode(&x->enc, x->et, src + off, n, x->pay[c],
                                    wc_chunk_bound(n), scratch, 3);
        if (x->len[c] == WC_ENCODE_FAIL)
            return -1;
        x->coded += (double)x->len[c];
    }
    return 0;
}

/* One decode pass over every chunk; seconds, or -1 on a wrong byte. */
static double cb_pass(const cb_coded *x, const uint8_t *src, size_t bytes,
                      size_t nchunks, uint8_t *out, uint8_t *scratch)
{
    double t0 = cli_now();
    for (size_t c = 0; c < nchunks; c++) {
        size_t off = c * CB_CHUNK;
        size_t n = bytes - off < CB_CHUNK ? bytes - off : CB_CHUNK;
        if (wc_chunk_decode(&x->dec, x->pay[c], x->len[c], out + off, n,
                            scratch))
            return -1;
    }
    double t = cli_now() - t0;
    return memcmp(out, src, bytes) ? -1 : t;
}

static void cb_free(cb_coded *x, size_t nchunks)
{
    for (size_t c = 0; x->pay && c < nchunks; c++)
        free(x->pay[c]);
    free(x->pay);
    free(x->len);
    wc_segcodec_free(&x->dec);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("Usage: wcodec-codecbench FILE.safetensors [PASSES]\n"
               "Code every BF16 tensor as PLANES and as JOINT, decode both\n"
               "in memory on one thread, alternating, PASSES times (default\n"
               "5), and print: bf16_bytes planes_bytes joint_bytes\n"
               "planes_GBps joint_GBps joint_tensors tensors\n"
               "(JOINT sizes count PLANES for tensors it cannot code.)\n");
        return argc < 2 ? 2 : 0;
    }
    int passes = argc > 2 ? atoi(argv[2]) : 5;
    passes = passes < 1 ? 1 : passes;
    int fd = open(argv[1], O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) || sb.st_size == 0) {
        perror(argv[1]);
        return 1;
    }
    const uint8_t *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE,
                              fd, 0);
    wc_st_file sf;
    if (map == MAP_FAILED ||
        wc_st_parse(map, (uint64_t)sb.st_size, argv[1], &sf)) {
        fprintf(stderr, "wcodec-codecbench: %s: not a safetensors file\n",
                argv[1]);
        return 1;
    }
    double bytes_all = 0, sz[2] = {0, 0}, tm[2] = {0, 0};
    unsigned ntensors = 0, njoint = 0;
    uint8_t *scratch = malloc(CB_CHUNK);
    wc_planestats *st = malloc(sizeof *st);
    if (!scratch || !st)
        return 1;
    for (size_t i = 0; i < sf.n; i++) {
        const wc_st_tensor *t = &sf.t[i];
        size_t bytes = t->end - t->begin;
        if (t->dtype != WC_DT_BF16 || bytes < 2)
            continue;
        const uint8_t *src = map + t->begin;
        size_t nchunks = (bytes + CB_CHUNK - 1) / CB_CHUNK;
        memset(st, 0, sizeof *st);
        for (size_t off = 0; off < bytes; off += CB_CHUNK)
            wc_planestats_add(st, WC_DT_BF16, src + off,
                              bytes - off < CB_CHUNK ? bytes - off : CB_CHUNK,
                              scratch);
        cb_coded x[2];
        memset(x, 0, sizeof x);
        /* x[1]: the packer's choice; x[0]: PLANES (a choice made without
         * the joint histogram cannot pick JOINT) */
        wc_segcodec_choose(&x[1].enc, WC_DT_BF16, st, CB_CHUNK / 2);
        memset(st->joint, 0, sizeof st->joint);
        wc_segcodec_choose(&x[0].enc, WC_DT_BF16, st, CB_CHUNK / 2);
        uint8_t *out = malloc(bytes);
        if (!out || cb_code(&x[0], src, bytes, nchunks, scratch) ||
            cb_code(&x[1], src, bytes, nchunks, scratch)) {
            fprintf(stderr, "wcodec-codecbench: %s: coding failed\n", t->name);
            return 1;
        }
        double best[2] = {1e30, 1e30};
        for (int p = 0; p < passes; p++)
            for (int v = 0; v < 2; v++) {
                double s = cb_pass(&x[v], src, bytes, nchunks, out, scratch);
                if (s < 0) {
                    fprintf(stderr, "wcodec-codecbench: %s: %s decode wrong\n",
                            t->name, v ? "JOINT" : "PLANES");
                    return 1;
                }
                best[v] = s < best[v] ? s : best[v];
            }
        for (int v = 0; v < 2; v++) {
            sz[v] += x[v].coded;
            tm[v] += best[v];
            cb_free(&x[v], nchunks);
        }
        njoint += x[1].enc.codec == WC_CODEC_JOINT;
        ntensors++;
        bytes_all += (double)bytes;
        free(out);
    }
    printf("%.0f %.0f %.0f %.3f %.3f %u %u\n", bytes_all, sz[0], sz[1],
           tm[0] > 0 ? bytes_all / tm[0] / 1e9 : 0,
           tm[1] > 0 ? bytes_all / tm[1] / 1e9 : 0, njoint, ntensors);
    free(scratch);
    free(st);
    wc_st_free(&sf);
    return 0;
}
