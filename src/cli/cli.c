/* cli.c - shared command-line helpers (see cli.h). */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "tmpfile.h"

int cli_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    uint64_t mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024; end++; break;
    case 'm': case 'M': mul = 1024 * 1024; end++; break;
    case 'g': case 'G': mul = 1024ull * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end || v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

const char *cli_human(uint64_t n, char *buf, int len)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    if (i == 0)
        snprintf(buf, (size_t)len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, (size_t)len, "%.1f %s", v, u[i]);
    return buf;
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int cli_progress_init(cli_progress *p, int enabled, uint64_t total, int files,
                      int slots)
{
    memset(p, 0, sizeof *p);
    p->enabled = enabled && isatty(STDERR_FILENO);
    p->total = total;
    p->files_total = files;
    p->t0 = cli_now();
    pthread_mutex_init(&p->lock, NULL);
    p->nactive = slots > 0 ? slots : 1;
    p->active = calloc((size_t)p->nactive, sizeof *p->active);
    return p->active ? 0 : -1;
}

/* Caller holds the lock. */
static void cli_progress_draw(cli_progress *p, int force)
{
    double t = cli_now();
    if (!p->enabled || (!force && t - p->last < 0.1))
        return;
    p->last = t;
    uint64_t done = p->base;
    for (int i = 0; i < p->nactive; i++)
        done += p->active[i];
    double el = t - p->t0;
    /* Kept files took no work: not in the rate (and so the ETA). */
    double rate = el > 0 ? (double)(done - p->kept) / el : 0;
    double pct = p->total ? 100.0 * (double)done / (double)p->total : 100;
    char a[32], b[32], r[32];
    int eta = rate > 0 && done < p->total
                  ? (int)((double)(p->total - done) / rate)
                  : 0;
    char kept[32] = "";
    if (p->files_kept)
        snprintf(kept, sizeof kept, " (%d kept)", p->files_kept);
    fprintf(stderr, "\r\033[K%d/%d files%s  %s / %s  %3.0f%%  %s/s  ETA %d:%02d",
            p->files_done, p->files_total, kept, cli_human(done, a, sizeof a),
            cli_human(p->total, b, sizeof b), pct,
            cli_human((uint64_t)rate, r, sizeof r), eta / 60, eta % 60);
}

void cli_progress_cb(void *ctx, uint64_t done, uint64_t total_file)
{
    (void)total_file;
    cli_progress_slot *s = ctx;
    cli_progress *p = s->p;
    if (!p->enabled)
        return;
    pthread_mutex_lock(&p->lock);
    p->active[s->slot] = done;
    cli_progress_draw(p, 0);
    pthread_mutex_unlock(&p->lock);
}

void cli_progress_file_done(cli_progress *p, int slot, uint64_t bytes)
{
    pthread_mutex_lock(&p->lock);
    p->active[slot] = 0;
    p->base += bytes;
    p->files_done++;
    cli_progress_draw(p, 1);
    pthread_mutex_unlock(&p->lock);
}

void cli_progress_file_kept(cli_progress *p, uint64_t bytes)
{
    pthread_mutex_lock(&p->lock);
    p->base += bytes;
    p->files_done++;
    p->files_kept++;
    p->kept += bytes;
    cli_progress_draw(p, 1);
    pthread_mutex_unlock(&p->lock);
}

void cli_progress_println(cli_progress *p, FILE *f, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&p->lock);
    if (p->enabled)
        fprintf(stderr, "\r\033[K");
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fflush(f);
    cli_progress_draw(p, 1);
    pthread_mutex_unlock(&p->lock);
}

void cli_progress_end(cli_progress *p)
{
    if (p->enabled)
        fprintf(stderr, "\r\033[K");
    free(p->active);
    p->active = NULL;
    pthread_mutex_destroy(&p->lock);
}

int cli_has_suffix(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    return a >= b && !strcmp(path + a - b, suffix);
}

typedef struct {
    int set;
    dev_t dev;
    ino_t ino;
    int follow;
} cli_skip;

static int cli_walk_rec(const char *root, const char *rel, cli_visit_fn fn,
                        void *ctx, const cli_skip *skip)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    /* Sorted, so output order and error reports are reproducible. */
    struct dirent **list;
    int n = scandir(path, &list, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = list[i]->d_name;
        if (rc || !strcmp(nm, ".") || !strcmp(nm, "..")) {
            free(list[i]);
            continue;
        }
        char sub[4096], full[4096];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", nm);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        free(list[i]);
        struct stat st;
        if (skip->follow ? stat(full, &st) : lstat(full, &st)) {
            fprintf(stderr, "%s: %s\n", full, strerror(errno));
            rc = -1;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (skip->set && st.st_dev == skip->dev && st.st_ino == skip->ino)
                continue;
            rc = fn(ctx, full, sub, &st);
            if (!rc)
                rc = cli_walk_rec(root, sub, fn, ctx, skip);
        } else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
            rc = fn(ctx, full, sub, &st);
        } else {
            fprintf(stderr, "%s: skipped (not a regular file, folder or "
                            "symbolic link)\n", full);
        }
    }
    free(list);
    return rc;
}

int cli_walk_skip(const char *root, const char *skip, int follow,
                  cli_visit_fn fn, void *ctx)
{
    cli_skip sk = {.follow = follow};
    struct stat st;
    if (skip && !stat(skip, &st)) {
        sk.set = 1;
        sk.dev = st.st_dev;
        sk.ino = st.st_ino;
    }
    return cli_walk_rec(root, "", fn, ctx, &sk);
}

/* Remove a non-folder at dst so it can be made again (force). */
static int cli_make_room(const char *dst, int force)
{
    struct stat st;
    if (lstat(dst, &st))
        return 0;
    if (!force || S_ISDIR(st.st_mode))
        return wc_fail(WCODEC_E_EXISTS, "%s: already exists%s", dst,
                       force ? " (a folder)" : " (use --force to replace it)");
    if (unlink(dst))
        return wc_fail_errno(errno, "remove", dst);
    return 0;
}

int cli_copy_symlink(const char *src, const char *dst, int force)
{
    char target[4096];
    ssize_t n = readlink(src, target, sizeof target);
    if (n < 0)
        return wc_fail(WCODEC_E_IO, "%s: %s", src, strerror(errno));
    if ((size_t)n >= sizeof target)
        return wc_fail(WCODEC_E_IO, "%s: link target too long", src);
    target[n] = 0;
    int rc = cli_make_room(dst, force);
    if (rc)
        return rc;
    if (symlink(target, dst))
        return wc_fail_errno(errno, "symlink", dst);
    return 0;
}

int cli_link_leaves(const char *rel, const char *target)
{
    if (target[0] == '/')
        return 1;
    long depth = 0; /* folders between the root and the link */
    for (const char *p = rel; (p = strchr(p, '/')); p++)
        depth++;
    for (const char *p = target; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && !memcmp(p, "..", 2)) {
            if (--depth < 0)
                return 1;
        } else if (len && !(len == 1 && *p == '.')) {
            depth++;
        }
        p += len;
        while (*p == '/')
            p++;
    }
    return 0;
}

struct cli_inode {
    dev_t dev;
    ino_t ino;
    char *dst;
    int tag;
};

const char *cli_inodes_seen(cli_inodes *t, const struct stat *st,
                            const char *dst, int *tag)
{
    if (st->st_nlink < 2)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].dev == st->st_dev && t->v[i].ino == st->st_ino) {
            *tag = t->v[i].tag;
            return t->v[i].dst;
        }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        struct cli_inode *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    char *d = strdup(dst);
    if (d)
        t->v[t->n++] = (struct cli_inode){st->st_dev, st->st_ino, d, *tag};
    return NULL;
}

void cli_inodes_free(cli_inodes *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].dst);
    free(t->v);
    memset(t, 0, sizeof *t);
}

int cli_hardlink(const char *first, const char *dst, int force)
{
    int rc = cli_make_room(dst, force);
    if (rc)
        return rc;
    if (link(first, dst))
        return wc_fail_errno(errno, "link", dst);
    return 0;
}

int cli_copy_file(const char *src, const char *dst, int force)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return wc_fail(WCODEC_E_IO, "%s: %s", src, strerror(errno));
    wc_tmp t;
    struct stat st;
    int rc = fstat(in, &st) ? wc_fail(WCODEC_E_IO, "%s: %s", src,
                                      strerror(errno))
                            : wc_tmp_create(&t, dst, force);
    if (rc) {
        close(in);
        return rc;
    }
    wc_tmp_keep_attr(&t, &st);
    for (;;) {
        ssize_t r = read(in, t.buf, t.cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = wc_fail(WCODEC_E_IO, "%s: %s", src, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        t.used = (size_t)r;
        if ((rc = wc_tmp_flush(&t)))
            break;
    }
    close(in);
    if (!rc)
        rc = wc_tmp_commit(&t, force);
    if (rc)
        wc_tmp_abort(&t);
    return rc;
}

const char *cli_dst_file(const char *src, const char *dst, const char *from,
                         const char *to, char *buf, size_t size)
{
    struct stat st;
    if (stat(dst, &st) || !S_ISDIR(st.st_mode))
        return dst;
    const char *base = strrchr(src, '/');
    base = base ? base + 1 : src;
    size_t bl = strlen(base);
    if (cli_has_suffix(base, from))
        bl -= strlen(from);
    snprintf(buf, size, "%s/%.*s%s", dst, (int)bl, base, to);
    return buf;
}

static const char *volatile cli_note;

void cli_signals_note(const char *line)
{
    cli_note = line;
}

static void cli_on_signal(int sig)
{
    wcodec_remove_temporaries();
    const char *note = cli_note;
    if (note)
        (void)!write(2, note, strlen(note));
    signal(sig, SIG_DFL);
    _exit(128 + sig);
}

/* Inputs are read through mmap: a file truncated while it is read faults
 * with SIGBUS. Say so, remove the temporaries, fail as any error does. */
static void cli_on_sigbus(int sig)
{
    (void)sig;
    static const char msg[] =
        ": bus error reading an input file (was it truncated while being "
        "read?); nothing was written\n";
    wcodec_remove_temporaries();
    const char *tool = program_invocation_short_name;
    if (write(2, tool, strlen(tool)) > 0)
        (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

void cli_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = cli_on_sigbus;
    sigaction(SIGBUS, &sa, NULL);
}

/* Packed bytes of [b, e) given the segment table: a tensor's share of each
 * segment it lies in, in proportion to its bytes. */
uint64_t cli_packed_share(const wcodec_segment_info *seg, uint32_t nseg,
                             uint64_t b, uint64_t e, uint32_t *first,
                             char *codec, size_t clen)
{
    double sum = 0;
    codec[0] = 0;
    for (uint32_t i = *first; i < nseg; i++) {
        const wcodec_segment_info *s = &seg[i];
        if (s->offset >= e)
            break;
        if (s->offset + s->length <= b) {
            *first = i + 1;
            continue;
        }
        uint64_t lo = b > s->offset ? b : s->offset;
        uint64_t hi = e < s->offset + s->length ? e : s->offset + s->length;
        sum += (double)s->packed * (double)(hi - lo) / (double)s->length;
        if (!codec[0]) {
            int shared = s->offset < b || s->offset + s->length > e;
            snprintf(codec, clen, "%s%s%s%s", s->codec, s->planes[0] ? ":" : "",
                     s->planes, shared ? "*" : "");
        }
    }
    return (uint64_t)(sum + 0.5);
}
