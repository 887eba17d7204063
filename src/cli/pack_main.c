/* pack_main.c - wcodec-pack: .safetensors files or model folders to
 * .wcodec containers. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
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
#include "resume.h"
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
"      --update         SRC and DST are folders: bring DST up to date in place,\n"
"                       packing and copying only what is new or changed since\n"
"                       it was packed (a mount of DST sees it after a remount)\n"
"      --delete         with --update: also remove from DST what left SRC\n"
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

/* Work done after the packs (see run_after). */
enum { AFTER_HARDLINK, AFTER_SYMLINK, AFTER_COPY };
typedef struct {
    int op;
    char *a, *b; /* first name or source, and destination */
} pack_after;

typedef struct {
    wcodec_pack_options o;
    int quiet;
    int follow;         /* -L */
    int update, del;    /* --update, --delete */
    const char *root;   /* the folder written: DST.partial, or DST itself
                           with --update */
    cli_inodes inodes;  /* hard links: the first name of each file */
    pack_after *after;
    size_t nafter, after_cap;
    char **keep;        /* --delete: every output path, relative */
    size_t nkeep, keep_cap;
    int reused_other, written_other, removed; /* --update counts */
    size_t outside;     /* symbolic links leaving SRC, kept as they are */
    char outside_example[600];
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
                         !kept      ? ""
                         : c->update ? ", reused: unchanged since DST was packed"
                                     : ", kept: packed by the interrupted run");
}

/* In a resumed folder: is j's container the one the interrupted run
 * finished from this same source? With --update: is the container in DST
 * packed from this source as it is now? Then it is kept (with the
 * source's current permission bits). */
static int pack_kept(pack_ctx *c, const pack_job *j)
{
    uint32_t cs = c->o.chunk_size ? c->o.chunk_size : WCODEC_DEFAULT_CHUNK_SIZE;
    struct stat st;
    if (!(c->update || (c->part && cli_partial_done(c->part, j->rel))) ||
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
        /* Inside DST.partial everything is ours to write again; with
         * --update what changed is replaced. */
        if (c->part || c->update)
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

/* The output path of rel in the folder being written. */
static void out_path(const pack_ctx *c, const char *rel, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", c->root, rel);
}

static void run_jobs(pack_ctx *c);

static int add_after(pack_ctx *c, int op, const char *a, const char *b)
{
    if (c->nafter == c->after_cap) {
        size_t n = c->after_cap ? c->after_cap * 2 : 16;
        pack_after *l = realloc(c->after, n * sizeof *l);
        if (!l)
            goto nomem;
        c->after = l;
        c->after_cap = n;
    }
    pack_after *l = &c->after[c->nafter];
    l->op = op;
    l->a = strdup(a);
    l->b = strdup(b);
    if (!l->a || !l->b) {
        free(l->a);
        free(l->b);
        goto nomem;
    }
    c->nafter++;
    return 0;
nomem:
    fprintf(stderr, "wcodec-pack: out of memory\n");
    return -1;
}

/* --delete: remember that rel is an output of this SRC. */
static int keep_rel(pack_ctx *c, const char *rel)
{
    if (!c->del)
        return 0;
    if (c->nkeep == c->keep_cap) {
        size_t n = c->keep_cap ? c->keep_cap * 2 : 64;
        char **k = realloc(c->keep, n * sizeof *k);
        if (!k)
            return -1;
        c->keep = k;
        c->keep_cap = n;
    }
    if (!(c->keep[c->nkeep] = strdup(rel)))
        return -1;
    c->nkeep++;
    return 0;
}

/* --update: folder rel, made if it is new (with its source's bits). */
static int update_dir(pack_ctx *c, const char *rel, const struct stat *st)
{
    char dst[8200];
    struct stat ds;
    out_path(c, rel, dst, sizeof dst);
    if (!lstat(dst, &ds) && S_ISDIR(ds.st_mode))
        return 0;
    if (!lstat(dst, &ds) && unlink(dst)) {
        fprintf(stderr, "wcodec-pack: %s: %s\n", dst, strerror(errno));
        return -1;
    }
    if (mkdir(dst, (st->st_mode & 07777) | 0700)) {
        fprintf(stderr, "wcodec-pack: %s: %s\n", dst, strerror(errno));
        return -1;
    }
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

/* Same target text? (--update keeps a link that did not change.) */
static int same_link(const char *src, const char *dst)
{
    char a[4096], b[4096];
    ssize_t m = readlink(src, a, sizeof a), n = readlink(dst, b, sizeof b);
    return m >= 0 && m == n && !memcmp(a, b, (size_t)m);
}

/* Walk: make folders, and outside --update links and plain copies, now;
 * queue the packs, the hard links and (--update) the rest. */
static int tree_cb(void *ctx, const char *src, const char *rel,
                   const struct stat *st)
{
    pack_ctx *c = ctx;
    char dst[8200], crel[4096];
    if (S_ISDIR(st->st_mode)) {
        if (keep_rel(c, rel))
            goto nomem;
        if (c->part ? !cli_tree_dir(c->part, src, rel)
                    : !update_dir(c, rel, st))
            return 0;
        c->failed = 1;
        return -1;
    }
    if (S_ISLNK(st->st_mode)) {
        char target[4096];
        ssize_t n = readlink(src, target, sizeof target - 1);
        if (n >= 0) {
            target[n] = 0;
            if (cli_link_leaves(rel, target) && !c->outside++)
                snprintf(c->outside_example, sizeof c->outside_example,
                         "%s -> %s", rel, target);
        }
        if (keep_rel(c, rel))
            goto nomem;
        out_path(c, rel, dst, sizeof dst);
        if (c->update) {
            if (same_link(src, dst)) {
                c->reused_other++;
                return 0;
            }
            return add_after(c, AFTER_SYMLINK, src, dst) ? -1 : 0;
        }
        int rc = cli_copy_symlink(src, dst, 1);
        return rc ? file_error(c, rc) : 0;
    }
    /* Named .safetensors: NAME.wcodec (shown again as NAME.safetensors).
     * Otherwise a safetensors file by content keeps its name. */
    int named = cli_has_suffix(rel, ".safetensors");
    if (named)
        snprintf(crel, sizeof crel, "%.*s.wcodec",
                 (int)(strlen(rel) - strlen(".safetensors")), rel);
    else
        snprintf(crel, sizeof crel, "%s", rel);
    out_path(c, crel, dst, sizeof dst);
    if (keep_rel(c, crel))
        goto nomem;
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
        struct stat a, b;
        if (c->update && !stat(first, &a) && !lstat(dst, &b) &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            c->reused_other++;
            return 0;
        }
        return add_after(c, AFTER_HARDLINK, first, dst) ? -1 : 0;
    }
    if (kind == WCODEC_KIND_SAFETENSORS)
        return add_job(c, src, dst, crel, (uint64_t)st->st_size) ? -1 : 0;
    if (c->update) {
        if (cli_copy_matches(src, dst)) {
            c->reused_other++;
            return 0;
        }
        return add_after(c, AFTER_COPY, src, dst) ? -1 : 0;
    }
    int rc = cli_tree_copy(c->part, src, rel);
    if (rc) {
        c->failed = 1;
        return rc == -WCODEC_E_NOSPACE ? rc : 0;
    }
    return 0;
nomem:
    fprintf(stderr, "wcodec-pack: out of memory\n");
    return -1;
}

/* After the packs: hard links (their first names exist now) and, with
 * --update, the copies and symbolic links, so refs/ and snapshots/ never
 * name a blob that is not packed yet. */
static void run_after(pack_ctx *c)
{
    for (size_t i = 0; i < c->nafter && !c->stop; i++) {
        const pack_after *l = &c->after[i];
        int rc = l->op == AFTER_HARDLINK ? cli_hardlink(l->a, l->b, 1)
               : l->op == AFTER_SYMLINK  ? cli_copy_symlink(l->a, l->b, 1)
                                         : cli_copy_file(l->a, l->b, 1);
        if (rc) {
            file_error(c, rc);
            if (rc == -WCODEC_E_NOSPACE)
                c->stop = 1;
            continue;
        }
        if (l->op != AFTER_HARDLINK)
            c->written_other++;
        if (!c->quiet && l->op == AFTER_HARDLINK)
            printf("%s: hard link to %s\n", l->b, l->a);
    }
}

static void free_after(pack_ctx *c)
{
    for (size_t i = 0; i < c->nafter; i++) {
        free(c->after[i].a);
        free(c->after[i].b);
    }
    free(c->after);
    for (size_t i = 0; i < c->nkeep; i++)
        free(c->keep[i]);
    free(c->keep);
    cli_inodes_free(&c->inodes);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path) ? -1 : 0;
}

/* --delete: remove from folder rel of DST ("" the top) what no longer
 * comes from SRC: whatever this run did not write or keep. */
static void prune(pack_ctx *c, const char *rel)
{
    char dir[8200];
    snprintf(dir, sizeof dir, "%s%s%s", c->root, *rel ? "/" : "", rel);
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "wcodec-pack: %s: %s\n", dir, strerror(errno));
        c->failed = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *nm = list[i]->d_name;
        char sub[4096], path[8200];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", nm);
        snprintf(path, sizeof path, "%s/%s", c->root, sub);
        const char *key = sub;
        struct stat st;
        /* Skip . and .., and temporaries of packs in progress. */
        if (!strcmp(nm, ".") || !strcmp(nm, "..") ||
            (nm[0] == '.' && strstr(nm, ".tmp")) || lstat(path, &st)) {
        } else if (bsearch(&key, c->keep, c->nkeep, sizeof *c->keep,
                           cmp_str)) {
            if (S_ISDIR(st.st_mode))
                prune(c, sub);
        } else if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS)) {
            fprintf(stderr, "wcodec-pack: %s: cannot remove: %s\n", path,
                    strerror(errno));
            c->failed = 1;
        } else {
            c->removed++;
            if (!c->quiet)
                printf("%s: removed (not in the source any more)\n", path);
        }
        free(list[i]);
    }
    free(list);
}

/* Everything about symbolic links leaving SRC, said once. */
static void note_outside(const pack_ctx *c, const char *src)
{
    if (c->outside > 1)
        fprintf(stderr, "wcodec-pack: %zu symbolic links point outside %s "
                        "and were kept as they are (first: %s); what "
                        "they point to is not packed (-L packs it)\n",
                c->outside, src, c->outside_example);
    else if (c->outside)
        fprintf(stderr, "wcodec-pack: a symbolic link points outside %s "
                        "and was kept as it is (%s); what it points to "
                        "is not packed (-L packs it)\n",
                src, c->outside_example);
}

/* wcodec-pack --update SRC DST: in place, each output renamed into place
 * when complete, so a mount of DST stays consistent file by file. */
static int update_folder(pack_ctx *c, const char *src, const char *dst)
{
    struct stat ds;
    char part[4200];
    snprintf(part, sizeof part, "%s%s", dst, CLI_PARTIAL_SUFFIX);
    if (!stat(part, &ds)) {
        fprintf(stderr, "wcodec-pack: %s: an interrupted pack is there: run "
                        "it again without --update to finish it first\n",
                part);
        return -1;
    }
    if (!stat(dst, &ds) ? !S_ISDIR(ds.st_mode) : mkdir(dst, 0777)) {
        fprintf(stderr, "wcodec-pack: %s: %s\n", dst,
                errno && stat(dst, &ds) ? strerror(errno)
                                        : "exists and is not a folder");
        return -1;
    }
    c->root = dst;
    if (cli_walk_skip(src, dst, c->follow, tree_cb, c))
        return -1;
    run_jobs(c);
    run_after(c);
    /* Only after a clean run: a file that failed is not "gone". */
    if (c->del && !c->failed) {
        qsort(c->keep, c->nkeep, sizeof *c->keep, cmp_str);
        prune(c, "");
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
        {"dereference", no_argument, 0, 'L'},
        {"verify", no_argument, 0, 'y'},
        {"chunk-size", required_argument, 0, 'c'},
        {"level", required_argument, 0, 'l'},
        {"quiet", no_argument, 0, 'q'},
        {"stats", no_argument, 0, 's'},
        {"update", no_argument, 0, 'U'},
        {"delete", no_argument, 0, 'D'},
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
        case 'U': c.update = 1; break;
        case 'D': c.del = 1; break;
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
    if (c.del && !c.update) {
        fprintf(stderr, "wcodec-pack: --delete goes with --update\n");
        return 2;
    }
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
    if (S_ISDIR(st.st_mode) && c.update) {
        if (update_folder(&c, src, dst))
            c.failed = 1;
        note_outside(&c, src);
        if (!c.quiet) {
            printf("update: %zu container%s packed, %d reused (unchanged); "
                   "%d other file%s and link%s written, %d unchanged",
                   c.njobs - (size_t)c.kept, c.njobs - (size_t)c.kept == 1 ?
                   "" : "s", c.kept, c.written_other,
                   c.written_other == 1 ? "" : "s",
                   c.written_other == 1 ? "" : "s", c.reused_other);
            if (c.del)
                printf("; %d removed", c.removed);
            printf("\n");
        }
        free_jobs(&c);
        free_after(&c);
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
        c.root = part.part;
        if (cli_partial_dir_mode(&part, "", st.st_mode) ||
            cli_walk_skip(src, part.part, c.follow, tree_cb, &c))
            c.failed = 1;
        else {
            run_jobs(&c);
            run_after(&c);
        }
        note_outside(&c, src);
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
        free_after(&c);
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
