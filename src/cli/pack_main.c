/* pack_main.c - wcodec-pack: .safetensors files or model folders to
 * .wcodec containers. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "packstats.h"
#include "wcodec.h"

static void usage(FILE *f)
{
    fprintf(f,
"Usage: wcodec-pack [OPTIONS] SRC DST\n"
"Pack a .safetensors file into a .wcodec container, or a folder into a\n"
"folder where every NAME.safetensors becomes NAME.wcodec, every other file\n"
"that is a safetensors file by content becomes a container under its own\n"
"name (a Hugging Face cache's blobs/HASH), and every other file, subfolder\n"
"and symbolic link is copied as it is (links as links, hard links once).\n"
"\n"
"  -j, --threads N      worker threads (default: number of CPUs)\n"
"  -f, --force          replace existing output files\n"
"  -L, --dereference    follow symbolic links: pack what they point to\n"
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
"Output is written under a temporary name and renamed when complete.\n"
"Exit status: 0 success, 1 a file failed, 2 usage error.\n");
}

typedef struct {
    char *src, *dst;
    uint64_t size;
} pack_job;

/* A hard link to make once its first name is written. */
typedef struct {
    char *first, *dst;
} pack_link;

typedef struct {
    wcodec_pack_options o;
    const char *dst_root;
    int quiet;
    int follow;         /* -L */
    cli_inodes inodes;  /* hard links: the first name of each file */
    pack_link *links;
    size_t nlinks, links_cap;
    size_t outside;     /* symbolic links leaving SRC, kept as they are */
    char outside_example[600];
    int failed;
    int stop; /* a full disk stops everything */
    cli_progress prog;
    packstats *stats; /* --stats */
    uint64_t in_bytes, out_bytes;
    pack_job *jobs;
    size_t njobs, cap, next;
    pthread_mutex_t lock;
} pack_ctx;

static void report(pack_ctx *c, const char *src, const char *dst, uint64_t in)
{
    struct stat st;
    uint64_t out = stat(dst, &st) ? 0 : (uint64_t)st.st_size;
    pthread_mutex_lock(&c->lock);
    c->in_bytes += in;
    c->out_bytes += out;
    pthread_mutex_unlock(&c->lock);
    if (c->quiet)
        return;
    char a[32], b[32];
    cli_progress_println(&c->prog, stdout, "%s -> %s: %s -> %s (%.2f%%)\n", src,
                         dst, cli_human(in, a, sizeof a),
                         cli_human(out, b, sizeof b),
                         in ? 100.0 * (double)out / (double)in : 0);
}

static void pack_one(pack_ctx *c, int slot, const pack_job *j)
{
    cli_progress_slot ps = {&c->prog, slot};
    wcodec_pack_options o = c->o;
    o.progress = cli_progress_cb;
    o.progress_ctx = &ps;
    int rc = wcodec_pack_file(j->src, j->dst, &o);
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
    cli_progress_file_done(&c->prog, slot, j->size);
    report(c, j->src, j->dst, j->size);
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
    }
    free(c->jobs);
    c->jobs = NULL;
    c->njobs = c->cap = 0;
}

static int add_job(pack_ctx *c, const char *src, const char *dst, uint64_t size)
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
    j->size = size;
    if (!j->src || !j->dst)
        return -1;
    c->njobs++;
    return 0;
}

static int add_link(pack_ctx *c, const char *first, const char *dst)
{
    if (c->nlinks == c->links_cap) {
        size_t n = c->links_cap ? c->links_cap * 2 : 16;
        pack_link *l = realloc(c->links, n * sizeof *l);
        if (!l)
            return -1;
        c->links = l;
        c->links_cap = n;
    }
    pack_link *l = &c->links[c->nlinks];
    l->first = strdup(first);
    l->dst = strdup(dst);
    if (!l->first || !l->dst) {
        free(l->first);
        free(l->dst);
        return -1;
    }
    c->nlinks++;
    return 0;
}

/* What a regular file not named .safetensors is, by content.
 * @return a wcodec_kind, or -1 with the reason printed. */
static int probe_file(const char *src)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "wcodec-pack: %s: %s\n", src, strerror(errno));
        return -1;
    }
    int kind = wcodec_probe_fd(fd, src);
    close(fd);
    if (kind < 0)
        fprintf(stderr, "wcodec-pack: %s\n", wcodec_errdetail());
    return kind < 0 ? -1 : kind;
}

static int file_error(pack_ctx *c, int rc)
{
    fprintf(stderr, "wcodec-pack: %s\n", wcodec_errdetail());
    c->failed = 1;
    return rc == -WCODEC_E_NOSPACE ? rc : 0;
}

/* Walk: make folders, links and plain copies now, queue the packs and the
 * hard links. */
static int tree_cb(void *ctx, const char *src, const char *rel,
                   const struct stat *st)
{
    pack_ctx *c = ctx;
    char dst[4096];
    if (S_ISDIR(st->st_mode)) {
        snprintf(dst, sizeof dst, "%s/%s", c->dst_root, rel);
        if (mkdir(dst, 0777) && !(errno == EEXIST && c->o.force)) {
            fprintf(stderr, "wcodec-pack: %s: %s\n", dst, strerror(errno));
            c->failed = 1;
            return -1;
        }
        return 0;
    }
    if (S_ISLNK(st->st_mode)) {
        snprintf(dst, sizeof dst, "%s/%s", c->dst_root, rel);
        int rc = cli_copy_symlink(src, dst, c->o.force);
        if (rc)
            return file_error(c, rc);
        char target[4096];
        ssize_t n = readlink(dst, target, sizeof target - 1);
        if (n >= 0) {
            target[n] = 0;
            if (cli_link_leaves(rel, target) && !c->outside++)
                snprintf(c->outside_example, sizeof c->outside_example,
                         "%s -> %s", rel, target);
        }
        return 0;
    }
    /* Named .safetensors: NAME.wcodec (shown again as NAME.safetensors).
     * Otherwise a safetensors file by content keeps its name. */
    int named = cli_has_suffix(rel, ".safetensors");
    if (named)
        snprintf(dst, sizeof dst, "%s/%.*s.wcodec", c->dst_root,
                 (int)(strlen(rel) - strlen(".safetensors")), rel);
    else
        snprintf(dst, sizeof dst, "%s/%s", c->dst_root, rel);
    int kind = named ? WCODEC_KIND_SAFETENSORS : probe_file(src);
    if (kind < 0) {
        c->failed = 1;
        return 0;
    }
    if (kind == WCODEC_KIND_CONTAINER) {
        /* It would be decoded by the mount and unpack, which find
         * containers by content: refuse rather than change its bytes. */
        fprintf(stderr, "wcodec-pack: %s: is a wcodec container already; "
                        "unpack it first (or name it .wcodec)\n", src);
        c->failed = 1;
        return 0;
    }
    /* A hard link to a file met before becomes a link to what that one
     * became (named NAME.safetensors, a file is taken to be safetensors
     * unprobed: if it is not, it fails alone rather than linking a copy). */
    int tag = kind;
    const char *first = cli_inodes_seen(&c->inodes, st, dst, &tag);
    if (first && tag == kind) {
        if (add_link(c, first, dst))
            goto nomem;
        return 0;
    }
    if (kind == WCODEC_KIND_SAFETENSORS) {
        if (add_job(c, src, dst, (uint64_t)st->st_size))
            goto nomem;
        return 0;
    }
    int rc = cli_copy_file(src, dst, c->o.force);
    return rc ? file_error(c, rc) : 0;
nomem:
    fprintf(stderr, "wcodec-pack: out of memory\n");
    return -1;
}

/* Hard links after the packs: their first names exist now. */
static void make_links(pack_ctx *c)
{
    for (size_t i = 0; i < c->nlinks && !c->stop; i++) {
        int rc = cli_hardlink(c->links[i].first, c->links[i].dst, c->o.force);
        if (rc)
            file_error(c, rc);
        else if (!c->quiet)
            printf("%s: hard link to %s\n", c->links[i].dst,
                   c->links[i].first);
    }
}

static void free_links(pack_ctx *c)
{
    for (size_t i = 0; i < c->nlinks; i++) {
        free(c->links[i].first);
        free(c->links[i].dst);
    }
    free(c->links);
    cli_inodes_free(&c->inodes);
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
        {"dereference", no_argument, 0, 'L'},
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
    while ((opt = getopt_long(argc, argv, "j:fLc:l:qhV", lo, NULL)) != -1) {
        switch (opt) {
        case 'j':
            c.o.threads = (unsigned)strtoul(optarg, &end, 10);
            if (*end || c.o.threads < 1 || c.o.threads > 256) {
                fprintf(stderr, "wcodec-pack: --threads: expected 1..256\n");
                return 2;
            }
            break;
        case 'f': c.o.force = 1; break;
        case 'L': c.follow = 1; break;
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
        if (cli_dst_folder("wcodec-pack", dst, c.o.force)) {
            c.failed = 1;
            return finish(&c);
        }
        c.dst_root = dst;
        if (cli_walk_skip(src, dst, c.follow, tree_cb, &c))
            c.failed = 1;
        else {
            run_jobs(&c);
            make_links(&c);
        }
        if (c.outside > 1)
            fprintf(stderr, "wcodec-pack: %zu symbolic links point outside %s "
                            "and were kept as they are (first: %s); what "
                            "they point to is not packed (-L packs it)\n",
                    c.outside, src, c.outside_example);
        else if (c.outside)
            fprintf(stderr, "wcodec-pack: a symbolic link points outside %s "
                            "and was kept as it is (%s); what it points to "
                            "is not packed (-L packs it)\n",
                    src, c.outside_example);
        if (!c.quiet && c.in_bytes) {
            char a[32], b[32];
            printf("total: %s -> %s (%.2f%%)\n", cli_human(c.in_bytes, a, 32),
                   cli_human(c.out_bytes, b, 32),
                   100.0 * (double)c.out_bytes / (double)c.in_bytes);
        }
        free_jobs(&c);
        free_links(&c);
        return finish(&c);
    }
    char dbuf[4096];
    dst = cli_dst_file(src, dst, ".safetensors", ".wcodec", dbuf, sizeof dbuf);
    if (add_job(&c, src, dst, (uint64_t)st.st_size)) {
        fprintf(stderr, "wcodec-pack: out of memory\n");
        c.failed = 1;
        return finish(&c);
    }
    run_jobs(&c);
    free_jobs(&c);
    return finish(&c);
}
