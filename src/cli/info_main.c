/* info_main.c - wcodec-info: what is inside containers, per tensor. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codec.h"
#include "safetensors.h"
#include "wcodec.h"

static void usage(FILE *f)
{
    fprintf(f,
"Usage: wcodec-info [OPTIONS] FILE...\n"
"Describe .wcodec containers: every tensor's dtype, shape, codec, size and\n"
"packed size, totals per dtype, and the file's digest.\n"
"\n"
"  -j, --json           one JSON document (an array, one object per file)\n"
"  -s, --summary        totals only, no per-tensor lines\n"
"      --verify         also decode everything and check the digest\n"
"  -h, --help           show this help and exit\n"
"  -V, --version        show the version and exit\n"
"\n"
"Exit status: 0 success, 1 a file could not be read or failed --verify,\n"
"2 usage error.\n");
}

typedef struct {
    char name[16];
    uint64_t tensors, bytes, packed;
} dt_total;

static int info_one(const char *path, int json, int summary, int verify,
                    json_t *arr)
{
    wcodec *w;
    if (wcodec_open(path, &w)) {
        fprintf(stderr, "wcodec-info: %s\n", wcodec_errdetail());
        return 1;
    }
    int rc = 1;
    uint8_t hb[8];
    uint8_t *hdr = NULL;
    wc_st_file sf = {0};
    wcodec_segment_info *seg = NULL;
    uint32_t nseg = wcodec_segment_count(w);
    uint64_t hl;
    if (wcodec_pread(w, hb, 8, 0) != 8 ||
        wc_st_header_len(hb, 8, wcodec_size(w), path, &hl) ||
        !(hdr = malloc(8 + hl)) ||
        wcodec_pread(w, hdr, 8 + hl, 0) != (ssize_t)(8 + hl) ||
        wc_st_parse(hdr, wcodec_size(w), path, &sf)) {
        fprintf(stderr, "wcodec-info: %s\n", wcodec_errdetail());
        goto out;
    }
    seg = calloc(nseg ? nseg : 1, sizeof *seg);
    if (!seg)
        goto out;
    for (uint32_t i = 0; i < nseg; i++)
        wcodec_describe_segment(w, i, &seg[i]);
    if (verify && wcodec_verify(w)) {
        fprintf(stderr, "wcodec-info: %s\n", wcodec_errdetail());
        goto out;
    }

    uint8_t dg[16];
    char dgs[33];
    wcodec_digest(w, dg);
    for (int i = 0; i < 16; i++)
        sprintf(dgs + 2 * i, "%02x", dg[i]);
    uint64_t size = wcodec_size(w), packed = wcodec_packed_size(w);
    dt_total tot[20];
    int ntot = 0;
    json_t *jt = json ? json_array() : NULL;
    if (!json) {
        char a[32], b[32];
        printf("%s: %s -> %s (%.2f%%), %zu tensors, %" PRIu64
               " chunks of %u KiB, %u segments\n  xxh128 %s%s\n",
               path, cli_human(size, a, 32), cli_human(packed, b, 32),
               size ? 100.0 * (double)packed / (double)size : 0, sf.n,
               wcodec_chunk_count(w), wcodec_chunk_size(w) / 1024, nseg, dgs,
               verify ? "  (verified)" : "");
        if (!summary)
            printf("  %-48s %-8s %-18s %-12s %12s %12s %7s\n", "TENSOR",
                   "DTYPE", "SHAPE", "CODEC", "BYTES", "PACKED", "RATIO");
    }
    uint32_t first = 0;
    for (size_t i = 0; i < sf.n; i++) {
        const wc_st_tensor *t = &sf.t[i];
        char codec[32], shape[64];
        uint64_t bytes = t->end - t->begin;
        uint64_t pk = bytes ? cli_packed_share(seg, nseg, t->begin, t->end, &first,
                                           codec, sizeof codec)
                            : 0;
        if (!bytes)
            strcpy(codec, "-");
        int o = snprintf(shape, sizeof shape, "[");
        for (unsigned k = 0; k < t->ndim && o < (int)sizeof shape; k++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRIu64,
                          k ? "," : "", t->shape[k]);
        if (o < (int)sizeof shape)
            snprintf(shape + o, sizeof shape - (size_t)o, "]");
        /* totals per dtype */
        const char *dtn = wc_dtype_name(t->dtype);
        int d;
        for (d = 0; d < ntot; d++)
            if (!strcmp(tot[d].name, dtn))
                break;
        if (d == ntot && ntot < 20) {
            memset(&tot[d], 0, sizeof tot[d]);
            snprintf(tot[d].name, sizeof tot[d].name, "%s", dtn);
            ntot++;
        }
        if (d < ntot) {
            tot[d].tensors++;
            tot[d].bytes += bytes;
            tot[d].packed += pk;
        }
        if (json) {
            json_t *sh = json_array();
            for (unsigned k = 0; k < t->ndim; k++)
                json_array_append_new(sh, json_integer((json_int_t)t->shape[k]));
            json_array_append_new(
                jt, json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:s}", "name", t->name,
                              "dtype", dtn, "shape", sh, "offset",
                              (json_int_t)t->begin, "bytes", (json_int_t)bytes,
                              "packed", (json_int_t)pk, "codec", codec));
        } else if (!summary) {
            printf("  %-48s %-8s %-18s %-12s %12" PRIu64 " %12" PRIu64
                   " %6.2f%%\n",
                   t->name, dtn, shape, codec, bytes, pk,
                   bytes ? 100.0 * (double)pk / (double)bytes : 0);
        }
    }
    /* bytes outside tensors: header, gaps, trailing */
    uint64_t tb = 0, tp = 0;
    for (int d = 0; d < ntot; d++)
        tb += tot[d].bytes, tp += tot[d].packed;
    uint64_t idx = packed;
    for (uint32_t i = 0; i < nseg; i++)
        idx -= seg[i].packed;
    if (json) {
        json_t *jd = json_object();
        for (int d = 0; d < ntot; d++)
            json_object_set_new(jd, tot[d].name,
                                json_pack("{s:I,s:I,s:I}", "tensors",
                                          (json_int_t)tot[d].tensors, "bytes",
                                          (json_int_t)tot[d].bytes, "packed",
                                          (json_int_t)tot[d].packed));
        json_array_append_new(
            arr, json_pack("{s:s,s:I,s:I,s:f,s:I,s:I,s:i,s:s,s:I,s:I,s:o,s:o}",
                           "file", path, "size", (json_int_t)size, "packed",
                           (json_int_t)packed,
                           "ratio", size ? (double)packed / (double)size : 0.0,
                           "chunk_size", (json_int_t)wcodec_chunk_size(w),
                           "chunks", (json_int_t)wcodec_chunk_count(w),
                           "segments", (int)nseg, "xxh128", dgs,
                           "other_bytes", (json_int_t)(size - tb),
                           "index_bytes", (json_int_t)idx, "dtypes", jd,
                           "tensors", jt));
    } else {
        printf("  totals:\n");
        for (int d = 0; d < ntot; d++)
            printf("    %-8s %6" PRIu64 " tensors %14" PRIu64 " -> %14" PRIu64
                   " (%.2f%%)\n",
                   tot[d].name, tot[d].tensors, tot[d].bytes, tot[d].packed,
                   tot[d].bytes ? 100.0 * (double)tot[d].packed /
                                      (double)tot[d].bytes
                                : 0);
        printf("    %-8s %21" PRIu64 " -> %14" PRIu64
               " (header, gaps; packed share)\n",
               "other", size - tb, packed - tp - idx);
        printf("    %-8s %21s    %14" PRIu64 " (superblock, index, tables)\n",
               "index", "", idx);
    }
    rc = 0;
out:
    wc_st_free(&sf);
    free(hdr);
    free(seg);
    wcodec_close(w);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, 0, 'j'},
                                       {"summary", no_argument, 0, 's'},
                                       {"verify", no_argument, 0, 'y'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    int json = 0, summary = 0, verify = 0, opt;
    while ((opt = getopt_long(argc, argv, "jshV", lo, NULL)) != -1) {
        switch (opt) {
        case 'j': json = 1; break;
        case 's': summary = 1; break;
        case 'y': verify = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("wcodec-info %s\n", WCODEC_VERSION_STRING); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    json_t *arr = json_array();
    int rc = 0;
    for (int i = optind; i < argc; i++)
        rc |= info_one(argv[i], json, summary, verify, arr);
    if (json) {
        json_dumpf(arr, stdout, JSON_INDENT(1));
        putchar('\n');
    }
    json_decref(arr);
    return rc;
}
