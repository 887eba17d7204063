/* packstats.c - wcodec-pack --stats (see packstats.h).
 *
 * The bound is the one the corpus README uses: for each (dtype, class)
 * group, the smaller of (a) each byte of the element coded alone, order-0,
 * and (b) for floats, the exponent field order-0 with the other bits raw;
 * no table costs. The achieved size is read back from the container: a
 * tensor gets its share of each segment it lies in, in proportion to its
 * bytes (segments can hold several neighbouring tensors). */
#include "packstats.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "error.h"
#include "safetensors.h"
#include "wcodec.h"

#define PS_CODECS 4 /* distinct codecs named per group */

typedef struct {
    int dtype;
    const char *cls;
    uint64_t tensors, elems, bytes;
    double packed;
    uint64_t byte_hist[8][256]; /* byte k of each element (LE) */
    uint64_t *exp_hist;         /* floats: the exponent field */
    char codec[PS_CODECS][24];
} ps_group;

struct packstats {
    pthread_mutex_t lock;
    ps_group *g;
    size_t n, cap;
};

/* Exponent and mantissa widths of the float dtypes; 0 for the others. */
static void ps_float_layout(int dt, unsigned *ebits, unsigned *mbits)
{
    static const struct { int dt; unsigned e, m; } f[] = {
        {WC_DT_F8_E4M3, 4, 3}, {WC_DT_F8_E5M2, 5, 2}, {WC_DT_F16, 5, 10},
        {WC_DT_BF16, 8, 7},    {WC_DT_F32, 8, 23},    {WC_DT_F64, 11, 52},
    };
    *ebits = *mbits = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].dt == dt) {
            *ebits = f[i].e;
            *mbits = f[i].m;
        }
}

const char *packstats_class(const char *name, unsigned ndim)
{
    if (ndim <= 1)
        return "vector";
    char low[256];
    size_t i = 0;
    for (; name[i] && i < sizeof low - 1; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = 0;
    static const struct { const char *cls, *pat[16]; } rules[] = {
        {"embedding", {"embed", "wte", "wpe", "tok_emb", NULL}},
        {"head", {"lm_head", "classifier", NULL}},
        {"attention", {"attn", "attention", "q_proj", "k_proj", "v_proj",
                       "o_proj", "qkv", "query", "key", "value", ".wq.",
                       ".wk.", ".wv.", ".wo.", NULL}},
        {"mlp", {"mlp", "ffn", "feed_forward", "gate_proj", "up_proj",
                 "down_proj", "fc1", "fc2", "c_fc", ".w1.", ".w2.", ".w3.",
                 "dense", NULL}},
        {"conv", {"conv", NULL}},
        {"recurrent", {"lstm", "gru", "rnn", NULL}},
    };
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
        for (const char *const *p = rules[r].pat; *p; p++)
            if (strstr(low, *p))
                return rules[r].cls;
    /* llama2.c names its classifier plain "output.weight". */
    if (!strcmp(low, "output.weight"))
        return "head";
    return "other";
}

packstats *packstats_new(void)
{
    packstats *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

void packstats_free(packstats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->g[i].exp_hist);
    free(s->g);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The group of (dtype, class), created on first use. Lock held. */
static ps_group *ps_group_get(packstats *s, int dtype, const char *cls)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->g[i].dtype == dtype && s->g[i].cls == cls)
            return &s->g[i];
    if (s->n == s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 16;
        ps_group *g = realloc(s->g, ncap * sizeof *g);
        if (!g)
            return NULL;
        s->g = g;
        s->cap = ncap;
    }
    ps_group *g = &s->g[s->n];
    memset(g, 0, sizeof *g);
    g->dtype = dtype;
    g->cls = cls;
    unsigned eb, mb;
    ps_float_layout(dtype, &eb, &mb);
    if (eb && !(g->exp_hist = calloc((size_t)1 << eb, sizeof *g->exp_hist)))
        return NULL;
    s->n++;
    return g;
}

static void ps_group_codec(ps_group *g, const char *codec)
{
    char c[24];
    snprintf(c, sizeof c, "%s", codec);
    char *star = strchr(c, '*'); /* shared with neighbours: same codec */
    if (star)
        *star = 0;
    for (int i = 0; i < PS_CODECS; i++) {
        if (!strcmp(g->codec[i], c))
            return;
        if (!g->codec[i][0]) {
            snprintf(g->codec[i], sizeof g->codec[i], "%s", c);
            return;
        }
    }
}

static void ps_count(ps_group *g, const uint8_t *p, uint64_t bytes,
                     unsigned esize)
{
    unsigned eb, mb;
    ps_float_layout(g->dtype, &eb, &mb);
    uint64_t n = bytes / esize;
    for (uint64_t i = 0; i < n; i++, p += esize) {
        uint64_t v = 0;
        for (unsigned k = 0; k < esize; k++) {
            g->byte_hist[k][p[k]]++;
            v |= (uint64_t)p[k] << (8 * k);
        }
        if (eb)
            g->exp_hist[(v >> mb) & ((1u << eb) - 1)]++;
    }
}

int packstats_add(packstats *s, const char *src, const char *dst)
{
    wcodec *w = NULL;
    wc_st_file sf = {0};
    wcodec_segment_info *seg = NULL;
    uint8_t *map = MAP_FAILED;
    struct stat st;
    int rc = wcodec_open(dst, &w);
    if (rc)
        return rc;
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        rc = wc_fail_errno(errno, "cannot read", src);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size, hl;
    if (size && (map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
                    MAP_FAILED) {
        rc = wc_fail_errno(errno, "cannot map", src);
        goto out;
    }
    if (size != wcodec_size(w)) {
        rc = wc_fail(WCODEC_E_INVAL, "%s: changed since it was packed", src);
        goto out;
    }
    if ((rc = wc_st_header_len(map, size, size, src, &hl)) ||
        (rc = wc_st_parse(map, size, src, &sf)))
        goto out;
    uint32_t nseg = wcodec_segment_count(w), first = 0;
    if (!(seg = calloc(nseg ? nseg : 1, sizeof *seg))) {
        rc = wc_fail(WCODEC_E_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < nseg; i++)
        wcodec_describe_segment(w, i, &seg[i]);
    madvise(map, size, MADV_SEQUENTIAL);
    for (size_t i = 0; i < sf.n; i++) {
        const wc_st_tensor *t = &sf.t[i];
        uint64_t bytes = t->end - t->begin;
        if (!bytes)
            continue;
        char codec[32];
        double pk = (double)cli_packed_share(seg, nseg, t->begin, t->end,
                                             &first, codec, sizeof codec);
        unsigned esize = wc_dtype_size(t->dtype);
        pthread_mutex_lock(&s->lock);
        ps_group *g = ps_group_get(s, t->dtype,
                                   packstats_class(t->name, t->ndim));
        if (g) {
            g->tensors++;
            g->elems += bytes / esize;
            g->bytes += bytes;
            g->packed += pk;
            ps_group_codec(g, codec);
            ps_count(g, map + t->begin, bytes, esize);
        }
        pthread_mutex_unlock(&s->lock);
        if (!g) {
            rc = wc_fail(WCODEC_E_NOMEM, "out of memory");
            goto out;
        }
    }
out:
    if (map != MAP_FAILED)
        munmap(map, size);
    if (fd >= 0)
        close(fd);
    free(seg);
    wc_st_free(&sf);
    wcodec_close(w);
    return rc;
}

/* Order-0 entropy, in bits, of the n symbols counted in h[0..k). */
static double ps_entropy(const uint64_t *h, size_t k, uint64_t n)
{
    double bits = 0;
    for (size_t i = 0; i < k; i++)
        if (h[i])
            bits -= (double)h[i] * log2((double)h[i] / (double)n);
    return bits;
}

/* The order-0 bound of a group, in bytes. */
static double ps_bound(const ps_group *g)
{
    unsigned esize = wc_dtype_size(g->dtype), eb, mb;
    double planes = 0;
    for (unsigned k = 0; k < esize; k++)
        planes += ps_entropy(g->byte_hist[k], 256, g->elems);
    ps_float_layout(g->dtype, &eb, &mb);
    if (eb) {
        double f = ps_entropy(g->exp_hist, (size_t)1 << eb, g->elems) +
                   (double)g->elems * (8.0 * esize - eb);
        if (f < planes)
            planes = f;
    }
    return planes / 8;
}

static void ps_line(FILE *f, const char *dt, const char *cls, uint64_t tensors,
                    uint64_t bytes, double bound, double packed,
                    const char *codec)
{
    char a[32];
    double b = bytes ? (double)bytes : 1;
    fprintf(f, "%-8s %-10s %7llu %12s %7.2f%% %7.2f%% %+7.2f%%  %s\n", dt, cls,
            (unsigned long long)tensors, cli_human(bytes, a, sizeof a),
            100 * bound / b, 100 * packed / b,
            bound > 0 ? 100 * (packed - bound) / bound : 0.0, codec);
}

/* Add group b's counts into a (same dtype). */
static void ps_merge(ps_group *a, const ps_group *b)
{
    unsigned eb, mb;
    ps_float_layout(a->dtype, &eb, &mb);
    a->tensors += b->tensors;
    a->elems += b->elems;
    a->bytes += b->bytes;
    a->packed += b->packed;
    for (int k = 0; k < 8; k++)
        for (int v = 0; v < 256; v++)
            a->byte_hist[k][v] += b->byte_hist[k][v];
    for (size_t v = 0; eb && v < ((size_t)1 << eb); v++)
        a->exp_hist[v] += b->exp_hist[v];
}

void packstats_print(const packstats *s, FILE *f)
{
    if (!s->n)
        return;
    fprintf(f, "%-8s %-10s %7s %12s %8s %8s %8s  %s\n", "DTYPE", "CLASS",
            "TENSORS", "BYTES", "BOUND", "PACKED", "VS BOUND", "CODEC");
    uint64_t all_tensors = 0, all_bytes = 0;
    double all_bound = 0, all_packed = 0;
    int dtypes = 0;
    for (int dt = 0; dt < WC_DT_COUNT; dt++) {
        /* The dtype's line bounds all its tensors with one set of tables,
         * as the corpus README does per file. */
        uint64_t exp_all[1u << 11] = {0};
        ps_group all = {.dtype = dt, .exp_hist = exp_all};
        int groups = 0;
        for (size_t i = 0; i < s->n; i++) {
            const ps_group *g = &s->g[i];
            if (g->dtype != dt)
                continue;
            char codec[PS_CODECS * 25] = "";
            for (int c = 0; c < PS_CODECS && g->codec[c][0]; c++) {
                if (c)
                    strcat(codec, ",");
                strcat(codec, g->codec[c]);
            }
            ps_line(f, wc_dtype_name(dt), g->cls, g->tensors, g->bytes,
                    ps_bound(g), g->packed, codec);
            ps_merge(&all, g);
            groups++;
        }
        if (!groups)
            continue;
        double bound = ps_bound(&all);
        if (groups > 1)
            ps_line(f, wc_dtype_name(dt), "(all)", all.tensors, all.bytes,
                    bound, all.packed, "");
        all_tensors += all.tensors;
        all_bytes += all.bytes;
        all_bound += bound;
        all_packed += all.packed;
        dtypes++;
    }
    if (dtypes > 1)
        ps_line(f, "(all)", "", all_tensors, all_bytes, all_bound, all_packed,
                "");
}
