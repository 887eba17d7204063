/* pack_main.c - wcodec-pack: .safetensors files or model folders to
 * .wcodec containers. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "packstats.h"
#include "resume.h"
#include "wcodec.h"

static void usage(FILE *f)
{
    fprintf(f,
"Usage: wcodec-pack [OPTIONS] SRC DST\n"
"Pack a .safetensors file into a .wcodec container, or a model folder into a\n"
"folder where every .safetensors becomes .wcodec and every other file and\n"
"subfolder is copied as it is.\n"
"\n"
"  -j, --threads N      worker threads (default: number of CPUs)\n"
"  -f, --force          replace existing output files\n"
"      --verify         decode each container and compare it with its source\n"
"                       before it is renamed into place\n"
"  -c, --chunk-size N   decoded bytes per chunk, a power of two from 4K to 16M\n"
"                       (default 256K; suffixes K, M)\n"
"  -l, --level N        zstd level for headers and non-tensor bytes (default 9)\n"
"      --stats          after packing, print per dtype and tensor class the\n"
"                       order-0 bound, the packed size and the codecs chosen\n"
"  -q, --quiet          no progress display and no per-file lines\n"
"  -h, --help           show this help and exit\n"
"  -V, --version        show the version and exit\n"
"\n"
"Each output is written under a temporary name and renamed when complete,\n"
"with its source's permission bits. A folder is built as DST.partial and\n"
"renamed to DST when every file is done; run the same command again to\n"
"resume an interrupted one (unchanged files already packed are kept).\n"
"Exit status: 0 success, 1 a file failed, 2 usage error.\n");
}

typedef struct {
    char *src, *dst;
    char *rel; /* in the folder (NULL packing one file) */
    uint64_t size;
} pack_job;

typedef struct {
    wcodec_pack_options o;
    int quiet;
    int failed;
    int stop; /* a full disk stops everything */
    cli_progress prog;
    packstats *stats; /* --stats */
    cli_partial *part; /* folder mode */
    int kept;          /* files reused from an interrupted run */
    uint64_t in_bytes, out_bytes;
    pack_job *jobs;
    size_t njobs, cap, next;
    pthread_mutex_t lock;
} pack_ctx;

static void report(pack_ctx *c, const char *src, const char *dst, uint64_t in,
                   int kept)
{
    struct stat st;
    uint64_t out = stat(dst, &st) ? 0 : (uint64_t)st.st_size;
    pthread_mutex_lock(&c->lock);
    c->in_bytes += in;
    c->out_bytes += out;
    c->kept += kept;
    pthread_mutex_unlock(&c->lock);
    if (c->quiet)
        return;
    char a[32], b[32];
    cli_progress_println(&c->prog, stdout, "%s -> %s: %s -> %s (%.2f%%)%s\n",
                         src, dst, cli_human(in, a, sizeof a),
                         cli_human(out, b, sizeof b),
                         in ? 100.0 * (double)out / (double)in : 0,
                         kept ? ", kept: packed by the interrupted run" : "");
}

/* In a resumed folder: is j's container the one the interrupted run
 * finished from this same source? Then it is kept (with the source's
 * current permission bits). */
static int pack_kept(pack_ctx *c, const pack_job *j)
{
    uint32_t cs = c->o.chunk_size ? c->o.chunk_size : WCODEC_DEFAULT_CHUNK_SIZE;
    struct stat st;
    if (!c->part || !cli_partial_done(c->part, j->rel) ||
        !cli_container_matches(j->src, j->dst, cs) || stat(j->src, &st))
        return 0;
    if (c->o.verify) {
        /* The digests match; --verify asks for every chunk decoded too. */
        wcodec *w;
        int bad = wcodec_open(j->dst, &w) || wcodec_verify(w);
        wcodec_close(w);
        if (bad)
            return 0;
    }
    return !chmod(j->dst, st.st_mode & 0777);
}

static void pack_one(pack_ctx *c, int slot, const pack_job *j)
{
    cli_progress_slot ps = {&c->prog, slot};
    wcodec_pack_options o = c->o;
    o.progress = cli_progress_cb;
    o.progress_ctx = &ps;
    int kept = pack_kept(c, j), rc = 0;
    if (!kept) {
        /* Inside DST.partial everything is ours to write again. */
        if (c->part)
            o.force = 1;
        rc = wcodec_pack_file(j->src, j->dst, &o);
    }
    if (rc) {
        cli_progress_println(&c->prog, stderr, "wcodec-pack: %s\n",
                             wcodec_errdetail());
        pthread_mutex_lock(&c->lock);
        c->failed = 1;
        if (rc == -WCODEC_E_NOSPACE)
            c->stop = 1;
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (kept) {
        cli_progress_file_kept(&c->prog, j->size);
    } else {
        if (c->part)
            cli_partial_mark(c->part, j->rel);
        cli_progress_file_done(&c->prog, slot, j->size);
    }
    report(c, j->src, j->dst, j->size, kept);
    if (c->stats && packstats_add(c->stats, j->src, j->dst)) {
        /* The container is packed and good: only the statistics failed. */
        cli_progress_println(&c->prog, stderr, "wcodec-pack: --stats: %s\n",
                             wcodec_errdetail());
        pthread_mutex_lock(&c->lock);
        c->failed = 1;
        pthread_mutex_unlock(&c->lock);
    }
}

typedef struct {
    pack_ctx *c;
    int slot;
} pack_worker;

/* File-level workers: each takes the next file and packs it with all the
 * chunk threads, so a folder of many shards keeps every core busy and one
 * big file still gets them all. */
static void *pack_worker_main(void *arg)
{
    pack_worker *w = arg;
    pack_ctx *c = w->c;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        size_t k = c->next++;
        int stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (stop || k >= c->njobs)
            return NULL;
        pack_one(c, w->slot, &c->jobs[k]);
    }
}

static void free_jobs(pack_ctx *c)
{
    for (size_t i = 0; i < c->njobs; i++) {
        free(c->jobs[i].src);
        free(c->jobs[i].dst);
        free(c->jobs[i].rel);
    }
    free(c->jobs);
    c->jobs = NULL;
    c->njobs = c->cap = 0;
}

static int add_job(pack_ctx *c, const char *src, const char *dst,
                   const char *rel, uint64_t size)
{
    if (c->njobs == c->cap) {
        size_t n = c->cap ? c->cap * 2 : 16;
        pack_job *j = realloc(c->jobs, n * sizeof *j);
        if (!j)
            return -1;
        c->jobs = j;
        c->cap = n;
    }
    pack_job *j = &c->jobs[c->njobs];
    j->src = strdup(src);
    j->dst = strdup(dst);
    j->rel = rel ? strdup(rel) : NULL;
    j->size = size;
    if (!j->src || !j->dst || (rel && !j->rel))
        return -1;
    c->njobs++;
    return 0;
}

/* Walk: make folders and copy plain files now, queue the packs. */
static int tree_cb(void *ctx, const char *src, const char *rel, int is_dir,
                   uint64_t size)
{
    pack_ctx *c = ctx;
    char dst[8200];
    if (is_dir) {
        if (!cli_tree_dir(c->part, src, rel))
            return 0;
        c->failed = 1;
        return -1;
    }
    if (cli_has_suffix(rel, ".safetensors")) {
        char crel[4096];
        snprintf(crel, sizeof crel, "%.*s.wcodec",
                 (int)(strlen(rel) - strlen(".safetensors")), rel);
        snprintf(dst, sizeof dst, "%s/%s", c->part->part, crel);
        if (add_job(c, src, dst, crel, size)) {
            fprintf(stderr, "wcodec-pack: out of memory\n");
            return -1;
        }
        return 0;
    }
    int rc = cli_tree_copy(c->part, src, rel);
    if (rc) {
        c->failed = 1;
        return rc == -WCODEC_E_NOSPACE ? rc : 0;
    }
    return 0;
}

static void run_jobs(pack_ctx *c)
{
    unsigned threads = c->o.threads;
    if (!threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    size_t nw = c->njobs < threads ? c->njobs : threads;
    if (nw < 1)
        nw = 1;
    uint64_t total = 0;
    for (size_t i = 0; i < c->njobs; i++)
        total += c->jobs[i].size;
    if (cli_progress_init(&c->prog, !c->quiet, total, (int)c->njobs, (int)nw)) {
        fprintf(stderr, "wcodec-pack: out of memory\n");
        c->failed = 1;
        return;
    }
    pthread_t th[256];
    pack_worker w[256];
    size_t started = 0;
    for (size_t i = 1; i < nw && i < 256; i++) {
        w[i] = (pack_worker){c, (int)i};
        if (pthread_create(&th[i], NULL, pack_worker_main, &w[i]))
            break;
        started = i;
    }
    w[0] = (pack_worker){c, 0};
    pack_worker_main(&w[0]);
    for (size_t i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
    cli_progress_end(&c->prog);
}

/* Print the --stats table (of the files that packed) and free it.
 * @return the exit status. */
static int finish(pack_ctx *c)
{
    if (c->stats) {
        fflush(stdout);
        packstats_print(c->stats, stdout);
        packstats_free(c->stats);
        c->stats = NULL;
    }
    return c->failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"threads", required_argument, 0, 'j'},
        {"force", no_argument, 0, 'f'},
        {"verify", no_argument, 0, 'y'},
        {"chunk-size", required_argument, 0, 'c'},
        {"level", required_argument, 0, 'l'},
        {"quiet", no_argument, 0, 'q'},
        {"stats", no_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    pack_ctx c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.lock, NULL);
    wcodec_pack_options_init(&c.o);
    int opt, want_stats = 0;
    uint64_t v;
    char *end;
    while ((opt = getopt_long(argc, argv, "j:fc:l:qhV", lo, NULL)) != -1) {
        switch (opt) {
        case 'j':
            c.o.threads = (unsigned)strtoul(optarg, &end, 10);
            if (*end || c.o.threads < 1 || c.o.threads > 256) {
                fprintf(stderr, "wcodec-pack: --threads: expected 1..256\n");
                return 2;
            }
            break;
        case 'f': c.o.force = 1; break;
        case 'y': c.o.verify = 1; break;
        case 'c':
            if (cli_parse_size(optarg, &v) || v < 4096 || v > (16u << 20) ||
                (v & (v - 1))) {
                fprintf(stderr, "wcodec-pack: --chunk-size: expected a power "
                                "of two from 4K to 16M\n");
                return 2;
            }
            c.o.chunk_size = (uint32_t)v;
            break;
        case 'l':
            c.o.zstd_level = (int)strtol(optarg, &end, 10);
            if (*end || c.o.zstd_level < 1 || c.o.zstd_level > 22) {
                fprintf(stderr, "wcodec-pack: --level: expected 1..22\n");
                return 2;
            }
            break;
        case 'q': c.quiet = 1; break;
        case 's': want_stats = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("wcodec-pack %s\n", WCODEC_VERSION_STRING); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *src = argv[optind], *dst = argv[optind + 1];
    if (want_stats && !(c.stats = packstats_new())) {
        fprintf(stderr, "wcodec-pack: out of memory\n");
        return 1;
    }
    cli_signals();
    struct stat st;
    if (stat(src, &st)) {
        fprintf(stderr, "wcodec-pack: %s: %s\n", src, strerror(errno));
        c.failed = 1;
        return finish(&c);
    }
    if (S_ISDIR(st.st_mode)) {
        char opts[128];
        cli_partial part;
        snprintf(opts, sizeof opts, "wcodec-pack %s chunk_size=%u level=%d",
                 WCODEC_VERSION_STRING,
                 c.o.chunk_size ? c.o.chunk_size : WCODEC_DEFAULT_CHUNK_SIZE,
                 c.o.zstd_level);
        if (cli_partial_open(&part, "wcodec-pack", dst, c.o.force, opts)) {
            cli_partial_close(&part, 1);
            c.failed = 1;
            return finish(&c);
        }
        static char note[4400];
        snprintf(note, sizeof note, "wcodec-pack: interrupted: %s is not "
                 "complete; run the same command again to resume\n", part.part);
        cli_signals_note(note);
        c.part = &part;
        if (cli_partial_dir_mode(&part, "", st.st_mode) ||
            cli_walk_skip(src, part.part, tree_cb, &c))
            c.failed = 1;
        else
            run_jobs(&c);
        if (!c.quiet && c.in_bytes) {
            char a[32], b[32], k[48] = "";
            if (c.kept)
                snprintf(k, sizeof k, ", %d file%s kept", c.kept,
                         c.kept > 1 ? "s" : "");
            printf("total: %s -> %s (%.2f%%)%s\n", cli_human(c.in_bytes, a, 32),
                   cli_human(c.out_bytes, b, 32),
                   100.0 * (double)c.out_bytes / (double)c.in_bytes, k);
        }
        if (!c.failed && cli_partial_finish(&part))
            c.failed = 1;
        cli_partial_close(&part, !c.failed);
        cli_signals_note(NULL);
        free_jobs(&c);
        return finish(&c);
    }
    char dbuf[4096];
    dst = cli_dst_file(src, dst, ".safetensors", ".wcodec", dbuf, sizeof dbuf);
    if (add_job(&c, src, dst, NULL, (uint64_t)st.st_size)) {
        fprintf(stderr, "wcodec-pack: out of memory\n");
        c.failed = 1;
        return finish(&c);
    }
    run_jobs(&c);
    free_jobs(&c);
    return finish(&c);
}
