/* mount_ops.c - fuse_lowlevel_ops of wcodec-mount (see mount_ops.h): the
 * FUSE edge over the presented tree (mount_tree.c) and the chunk cache. */
#include "mount_ops.h"
#include "mount_io.h"
#include "mount_log.h"
#include "reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    pthread_mutex_t lock;
    DIR *dp;
    struct dirent *entry; /* read but not yet sent (did not fit) */
    off_t offset;
    mount_inode *in;
} mount_dir;

/* ---- helpers ---------------------------------------------------------------- */

static mount_fs *mount_req_fs(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static mount_inode *mount_inode_of(mount_fs *fs, fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? &fs->root : (mount_inode *)(uintptr_t)ino;
}

/* ---- the next files: read-ahead across files ------------------------------------ */

/* Loaders read a model's shards one after another, and folders of models
 * are read file by file. When a container's read-ahead reaches its end
 * (the reader is a window short of it, or at its start for a small file),
 * the containers after it in its folder by name (shards are named in
 * their order) are looked up, opened and their first read-ahead windows
 * queued: as many as make up one read-ahead window (small files), at most
 * MOUNT_NEXT_MAX. The reader's next open then finds its first chunks read
 * and decoded or on the way; starting only once the reader reached the
 * end left each file's first read waiting 5-11 ms on its disk read
 * (measured, 21 files of a mixed folder: a quarter of the read time).
 * Each such file is held by a lookup and a stream of its own until the
 * next start replaces the set. */
#define MOUNT_NEXT_MAX 4
static struct {
    pthread_mutex_t lock;
    unsigned n;
    mount_inode *in[MOUNT_NEXT_MAX]; /* the next files, held by a lookup */
    cache_stream *s[MOUNT_NEXT_MAX]; /* their streams, which queued */
    const void *from; /* the file whose read-ahead started them (compared) */
} mount_next = {PTHREAD_MUTEX_INITIALIZER, 0, {NULL}, {NULL}, NULL};

static void mount_next_set(mount_fs *fs, unsigned n, mount_inode **in,
                           cache_stream **s, const void *from)
{
    mount_inode *old[MOUNT_NEXT_MAX];
    cache_stream *olds[MOUNT_NEXT_MAX];
    pthread_mutex_lock(&mount_next.lock);
    unsigned oldn = mount_next.n;
    memcpy(old, mount_next.in, sizeof old);
    memcpy(olds, mount_next.s, sizeof olds);
    mount_next.from = from;
    mount_next.n = n;
    for (unsigned i = 0; i < n; i++) {
        mount_next.in[i] = in[i];
        mount_next.s[i] = s[i];
    }
    pthread_mutex_unlock(&mount_next.lock);
    for (unsigned i = 0; i < oldn; i++) {
        cache_stream_close(fs->cache, olds[i]);
        mount_inode_unref(fs, old[i], 1);
    }
}

/* The presented names of the up to max containers after path (a
 * container's source path) in its folder, by name, into names[].
 * @return how many, with dir (the folder, "." at the top) filled. */
static unsigned mount_next_names(mount_fs *fs, const char *path, char *dir,
                                 size_t dcap, char (*names)[NAME_MAX + 1],
                                 unsigned max)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        snprintf(dir, dcap, "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, dcap, ".");
    int fd = openat(fs->src_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dp = fd < 0 ? NULL : fdopendir(fd);
    if (!dp) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    size_t wcl = strlen(MOUNT_SUFFIX_WC), stl = strlen(MOUNT_SUFFIX_ST);
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t nl = strlen(de->d_name);
        if (!mount_has_suffix(de->d_name, nl, MOUNT_SUFFIX_WC) ||
            (de->d_type != DT_REG && de->d_type != DT_UNKNOWN) ||
            strcmp(de->d_name, base) <= 0 || nl - wcl + stl > NAME_MAX ||
            (n == max && strcmp(de->d_name, names[n - 1]) >= 0))
            continue;
        /* Insert in order, dropping the last when full. */
        unsigned i = n < max ? n++ : max - 1;
        while (i > 0 && strcmp(de->d_name, names[i - 1]) < 0) {
            memcpy(names[i], names[i - 1], sizeof names[i]);
            i--;
        }
        snprintf(names[i], sizeof names[i], "%s", de->d_name);
    }
    closedir(dp);
    for (unsigned i = 0; i < n; i++) /* NAME.wcodec -> NAME.safetensors */
        memcpy(names[i] + strlen(names[i]) - wcl, MOUNT_SUFFIX_ST, stl + 1);
    return n;
}

/* The read-ahead of the container at path (inode in, which may be gone:
 * compared, never read) reached its end: start on the next containers of
 * its folder. */
static void mount_next_start(mount_fs *fs, const char *path,
                             const void *in)
{
    pthread_mutex_lock(&mount_next.lock);
    int busy = mount_next.from == in; /* started from this file already */
    if (!busy)
        mount_next.from = in;
    pthread_mutex_unlock(&mount_next.lock);
    if (busy)
        return;
    char dir[PATH_MAX], names[MOUNT_NEXT_MAX][NAME_MAX + 1];
    mount_inode parent = {.path = dir};
    mount_inode *next[MOUNT_NEXT_MAX];
    cache_stream *s[MOUNT_NEXT_MAX];
    unsigned nn = mount_next_names(fs, path, dir, sizeof dir, names,
                                   MOUNT_NEXT_MAX);
    unsigned n = 0;
    uint64_t bytes = 0, window = cache_readahead(fs->cache);
    for (unsigned i = 0; i < nn && bytes < window; i++) {
        struct fuse_entry_param e;
        if (mount_do_lookup(fs, &parent, names[i], &e))
            continue;
        mount_inode *x = (mount_inode *)(uintptr_t)e.ino;
        if (!x->container || cache_stream_open(fs->cache, x->cf, &s[n])) {
            mount_inode_unref(fs, x, 1);
            continue;
        }
        cache_stream_start(fs->cache, s[n]);
        bytes += wcodec_size(x->w);
        next[n++] = x;
    }
    /* With no next file the last ones are let go too: nothing stays held
     * once the folder is read. */
    mount_next_set(fs, n, next, s, in);
}

static void mount_op_destroy(void *userdata)
{
    mount_next_set(userdata, 0, NULL, NULL, NULL);
}

/* ---- operations ------------------------------------------------------------------ */

static void mount_op_init(void *userdata, struct fuse_conn_info *conn)
{
    mount_fs *fs = userdata;
    /* Requests of up to 1 MiB (max_pages follows max_write in libfuse). */
    conn->max_write = 1u << 20;
    /* The kernel keeps the smaller of this and the mount's read-ahead
     * (which mount_main.c raises, as root, before this reply). */
    if (fs->max_readahead > conn->max_readahead)
        conn->max_readahead = fs->max_readahead;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    /* With -o direct_io, loaders still mmap (safetensors, transformers):
     * the kernel maps such files through its page cache only when INIT
     * allows it (Linux 6.6 and later). Where libfuse cannot ask,
     * mount_io.c does (mount_main.c attaches it). */
#if !MOUNT_IO_SHIM
    if (fs->direct_io && (conn->capable & FUSE_CAP_DIRECT_IO_ALLOW_MMAP))
        conn->want |= FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
#endif
    /* Files never change: no need to compare mtimes to drop page cache. */
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    /* Readahead requests are "background": let more be in flight. */
    if (conn->max_background < 64)
        conn->max_background = 64;
    if (conn->congestion_threshold < 48)
        conn->congestion_threshold = 48;
}

static void mount_op_lookup(fuse_req_t req, fuse_ino_t parent,
                            const char *name)
{
    mount_fs *fs = mount_req_fs(req);
    struct fuse_entry_param e;
    int rc = mount_do_lookup(fs, mount_inode_of(fs, parent), name, &e);
    if (rc == ENOENT) {
        /* A negative entry: the kernel remembers the name is absent. */
        memset(&e, 0, sizeof e);
        e.entry_timeout = MOUNT_TIMEOUT;
        fuse_reply_entry(req, &e);
    } else if (rc) {
        fuse_reply_err(req, rc);
    } else {
        fuse_reply_entry(req, &e);
    }
}

static void mount_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    mount_fs *fs = mount_req_fs(req);
    mount_inode_unref(fs, mount_inode_of(fs, ino), nlookup);
    fuse_reply_none(req);
}

static void mount_op_forget_multi(fuse_req_t req, size_t count,
                                  struct fuse_forget_data *forgets)
{
    mount_fs *fs = mount_req_fs(req);
    for (size_t i = 0; i < count; i++)
        mount_inode_unref(fs, mount_inode_of(fs, forgets[i].ino),
                          forgets[i].nlookup);
    fuse_reply_none(req);
}

static void mount_op_getattr(fuse_req_t req, fuse_ino_t ino,
                             struct fuse_file_info *fi)
{
    (void)fi;
    mount_fs *fs = mount_req_fs(req);
    struct stat st;
    int rc = mount_stat(fs, mount_inode_of(fs, ino), &st);
    if (rc)
        fuse_reply_err(req, rc);
    else
        fuse_reply_attr(req, &st, MOUNT_TIMEOUT);
}

static void mount_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    mount_fs *fs = mount_req_fs(req);
    char buf[PATH_MAX + 1];
    ssize_t n = readlinkat(fs->src_fd, mount_inode_of(fs, ino)->path, buf,
                           sizeof buf);
    if (n < 0)
        fuse_reply_err(req, errno);
    else if ((size_t)n >= sizeof buf)
        fuse_reply_err(req, ENAMETOOLONG);
    else {
        buf[n] = 0;
        fuse_reply_readlink(req, buf);
    }
}

static void mount_op_open(fuse_req_t req, fuse_ino_t ino,
                          struct fuse_file_info *fi)
{
    mount_fs *fs = mount_req_fs(req);
    mount_inode *in = mount_inode_of(fs, ino);
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    mount_file *mf = calloc(1, sizeof *mf);
    if (!mf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    mf->in = in;
    mf->fd = -1;
    if (in->container) {
        if (cache_stream_open(fs->cache, in->cf, &mf->s)) {
            free(mf);
            fuse_reply_err(req, ENOMEM);
            return;
        }
    } else {
        mf->fd = openat(fs->src_fd, in->path,
                        O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
                            (fi->flags & O_NONBLOCK));
        if (mf->fd < 0) {
            int err = errno;
            free(mf);
            fuse_reply_err(req, err);
            return;
        }
    }
    fi->fh = (uint64_t)(uintptr_t)mf;
    fi->keep_cache = 1; /* immutable: page cache survives close and reopen */
    /* Past the page cache: one copy per read instead of two, and no page
     * cache to fill. Measured on a 2-core VM, the page-cache path capped
     * reads of decoded chunks at 0.75-1.0 GB/s, direct replies at 2.7-3.2.
     * A shared mmap goes through the page cache where INIT allowed it
     * (mount_io.h), else the kernel refuses it; and a second read() is
     * served by the daemon again, not by the page cache: hence an
     * option. */
    if (in->container && fs->direct_io)
        fi->direct_io = 1;
    mount_file_track(fs, mf);
    if (fuse_reply_open(req, fi) == -ENOENT)
        mount_file_free(fs, mf); /* opener interrupted: no release comes */
}

/* Log a failed read with the library's detail (file and chunk). The kernel
 * retries a failed range page by page and loaders retry too: the same
 * failure is logged again only after MOUNT_ERR_REPEAT seconds. */
#define MOUNT_ERR_REPEAT 10
static void mount_log_read_error(mount_inode *in, off_t off, size_t size)
{
    const char *detail = wcodec_errdetail();
    time_t now = time(NULL);
    pthread_mutex_lock(&in->open_lock);
    int repeat = !strncmp(in->last_err, detail, sizeof in->last_err - 1) &&
                 now - in->last_err_time < MOUNT_ERR_REPEAT;
    if (!repeat) {
        snprintf(in->last_err, sizeof in->last_err, "%s", detail);
        in->last_err_time = now;
    }
    pthread_mutex_unlock(&in->open_lock);
    if (!repeat)
        mount_log(LOG_ERR, "read of %s bytes %lld..%lld failed: %s", in->path,
                  (long long)off, (long long)off + (long long)size, detail);
}

static void mount_op_read(fuse_req_t req, fuse_ino_t ino, size_t size,
                          off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    mount_fs *fs = mount_req_fs(req);
    mount_file *mf = (mount_file *)(uintptr_t)fi->fh;
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (!mf->in->container) {
        struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
        buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
        buf.buf[0].fd = mf->fd;
        buf.buf[0].pos = off;
        fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
        return;
    }
    cache_view v;
    ssize_t r = cache_view_get(fs->cache, mf->in->cf, mf->s, (uint64_t)off,
                               size, &v);
    if (r < 0) {
        mount_log_read_error(mf->in, off, size);
        fuse_reply_err(req, mount_errno((int)r));
        return;
    }
    /* Once replied to, the file may be released and its inode forgotten
     * by other threads: what the next-file start needs is taken first. */
    char path[PATH_MAX];
    const mount_inode *in = mf->in;
    int ahead_done = r > 0 && v.ahead_end >= wcodec_size(in->w) &&
                     snprintf(path, sizeof path, "%s", in->path) < PATH_MAX;
    /* Straight from the cached chunks to the kernel: no copy here. */
    fuse_reply_iov(req, v.iov, v.n);
    cache_view_put(fs->cache, &v);
    if (ahead_done) /* this file's read-ahead reached its end */
        mount_next_start(fs, path, in);
}

static void mount_op_release(fuse_req_t req, fuse_ino_t ino,
                             struct fuse_file_info *fi)
{
    (void)ino;
    mount_fs *fs = mount_req_fs(req);
    mount_file_free(fs, (mount_file *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

static void mount_op_opendir(fuse_req_t req, fuse_ino_t ino,
                             struct fuse_file_info *fi)
{
    mount_fs *fs = mount_req_fs(req);
    mount_inode *in = mount_inode_of(fs, ino);
    mount_dir *d = calloc(1, sizeof *d);
    if (!d) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int fd = openat(fs->src_fd, in->path,
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || !(d->dp = fdopendir(fd))) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        free(d);
        fuse_reply_err(req, err);
        return;
    }
    pthread_mutex_init(&d->lock, NULL);
    d->in = in;
    fi->fh = (uint64_t)(uintptr_t)d;
    fi->keep_cache = 1;
    fi->cache_readdir = 1; /* listings never change */
    if (fuse_reply_open(req, fi) == -ENOENT) {
        closedir(d->dp);
        pthread_mutex_destroy(&d->lock);
        free(d);
    }
}

/* How a directory entry is presented. @return 0 to list it under *shown
 * (may point into namebuf), 1 to hide it. */
static int mount_present_dirent(mount_fs *fs, const mount_inode *dir,
                                const struct dirent *de, char *namebuf,
                                const char **shown, unsigned char *type)
{
    const char *name = de->d_name;
    size_t nl = strlen(name);
    size_t stl = strlen(MOUNT_SUFFIX_ST), wcl = strlen(MOUNT_SUFFIX_WC);
    *shown = name;
    *type = de->d_type;
    if (mount_has_suffix(name, nl, MOUNT_SUFFIX_WC) &&
        (de->d_type == DT_REG || de->d_type == DT_LNK ||
         de->d_type == DT_UNKNOWN) &&
        mount_is_container(fs, dir->path, name, nl - wcl, NULL)) {
        snprintf(namebuf, NAME_MAX + 1, "%.*s%s", (int)(nl - wcl), name,
                 MOUNT_SUFFIX_ST);
        *shown = namebuf;
        *type = DT_REG;
        return 0;
    }
    if (mount_has_suffix(name, nl, MOUNT_SUFFIX_ST) &&
        mount_is_container(fs, dir->path, name, nl - stl, NULL))
        return 1; /* the container of the same name wins */
    return 0;
}

static void mount_do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
                             off_t offset, struct fuse_file_info *fi,
                             int plus)
{
    mount_fs *fs = mount_req_fs(req);
    mount_dir *d = (mount_dir *)(uintptr_t)fi->fh;
    char *buf = malloc(size ? size : 1), *p = buf;
    size_t rem = size;
    int err = 0;
    (void)ino;
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (offset != d->offset) {
        seekdir(d->dp, offset);
        d->entry = NULL;
        d->offset = offset;
    }
    for (;;) {
        if (!d->entry) {
            errno = 0;
            d->entry = readdir(d->dp);
            if (!d->entry) {
                err = errno;
                break;
            }
        }
        off_t nextoff = d->entry->d_off;
        char namebuf[NAME_MAX + 1];
        const char *name;
        unsigned char type;
        if (mount_present_dirent(fs, d->in, d->entry, namebuf, &name, &type)) {
            d->entry = NULL;
            d->offset = nextoff;
            continue;
        }
        size_t entsize;
        fuse_ino_t entry_ino = 0;
        if (plus) {
            struct fuse_entry_param e;
            if (!strcmp(name, ".") || !strcmp(name, "..") ||
                mount_do_lookup(fs, d->in, name, &e)) {
                /* No attributes: the kernel lists the name only (and a
                 * later lookup reports the error, if any). */
                memset(&e, 0, sizeof e);
                e.attr.st_ino = d->entry->d_ino;
                e.attr.st_mode = (mode_t)type << 12;
            }
            entry_ino = e.ino;
            entsize = fuse_add_direntry_plus(req, p, rem, name, &e, nextoff);
        } else {
            struct stat st = {.st_ino = d->entry->d_ino,
                              .st_mode = (mode_t)type << 12};
            entsize = fuse_add_direntry(req, p, rem, name, &st, nextoff);
        }
        if (entsize > rem) {
            if (entry_ino)
                mount_inode_unref(fs, mount_inode_of(fs, entry_ino), 1);
            break;
        }
        p += entsize;
        rem -= entsize;
        d->entry = NULL;
        d->offset = nextoff;
    }
    pthread_mutex_unlock(&d->lock);
    /* Entries already in the buffer carry lookups: send them even if a
     * later readdir failed. */
    if (err && rem == size)
        fuse_reply_err(req, err);
    else
        fuse_reply_buf(req, buf, size - rem);
    free(buf);
}

static void mount_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
                             off_t off, struct fuse_file_info *fi)
{
    mount_do_readdir(req, ino, size, off, fi, 0);
}

static void mount_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                                 off_t off, struct fuse_file_info *fi)
{
    mount_do_readdir(req, ino, size, off, fi, 1);
}

static void mount_op_releasedir(fuse_req_t req, fuse_ino_t ino,
                                struct fuse_file_info *fi)
{
    (void)ino;
    mount_dir *d = (mount_dir *)(uintptr_t)fi->fh;
    closedir(d->dp);
    pthread_mutex_destroy(&d->lock);
    free(d);
    fuse_reply_err(req, 0);
}

static void mount_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs sv;
    if (fstatvfs(mount_req_fs(req)->src_fd, &sv))
        fuse_reply_err(req, errno);
    else
        fuse_reply_statfs(req, &sv);
}

/* ---- everything that would write: read-only file system ------------------------- */

static void mount_rofs(fuse_req_t req) { fuse_reply_err(req, EROFS); }

static void mount_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *a,
                             int to_set, struct fuse_file_info *fi)
{
    (void)ino; (void)a; (void)to_set; (void)fi;
    mount_rofs(req);
}

static void mount_op_mknod(fuse_req_t req, fuse_ino_t p, const char *n,
                           mode_t m, dev_t r)
{
    (void)p; (void)n; (void)m; (void)r;
    mount_rofs(req);
}

static void mount_op_mkdir(fuse_req_t req, fuse_ino_t p, const char *n,
                           mode_t m)
{
    (void)p; (void)n; (void)m;
    mount_rofs(req);
}

static void mount_op_unlink(fuse_req_t req, fuse_ino_t p, const char *n)
{
    (void)p; (void)n;
    mount_rofs(req);
}

static void mount_op_symlink(fuse_req_t req, const char *l, fuse_ino_t p,
                             const char *n)
{
    (void)l; (void)p; (void)n;
    mount_rofs(req);
}

static void mount_op_rename(fuse_req_t req, fuse_ino_t p, const char *n,
                            fuse_ino_t np, const char *nn, unsigned int fl)
{
    (void)p; (void)n; (void)np; (void)nn; (void)fl;
    mount_rofs(req);
}

static void mount_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np,
                          const char *nn)
{
    (void)ino; (void)np; (void)nn;
    mount_rofs(req);
}

static void mount_op_write(fuse_req_t req, fuse_ino_t ino, const char *b,
                           size_t s, off_t o, struct fuse_file_info *fi)
{
    (void)ino; (void)b; (void)s; (void)o; (void)fi;
    mount_rofs(req);
}

static void mount_op_create(fuse_req_t req, fuse_ino_t p, const char *n,
                            mode_t m, struct fuse_file_info *fi)
{
    (void)p; (void)n; (void)m; (void)fi;
    mount_rofs(req);
}

static void mount_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *n,
                              const char *v, size_t s, int fl)
{
    (void)ino; (void)n; (void)v; (void)s; (void)fl;
    mount_rofs(req);
}

static void mount_op_removexattr(fuse_req_t req, fuse_ino_t ino,
                                 const char *n)
{
    (void)ino; (void)n;
    mount_rofs(req);
}

static void mount_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
                               off_t o, off_t l, struct fuse_file_info *fi)
{
    (void)ino; (void)mode; (void)o; (void)l; (void)fi;
    mount_rofs(req);
}

const struct fuse_lowlevel_ops mount_ops = {
    .init = mount_op_init,
    .destroy = mount_op_destroy,
    .lookup = mount_op_lookup,
    .forget = mount_op_forget,
    .forget_multi = mount_op_forget_multi,
    .getattr = mount_op_getattr,
    .readlink = mount_op_readlink,
    .open = mount_op_open,
    .read = mount_op_read,
    .release = mount_op_release,
    .opendir = mount_op_opendir,
    .readdir = mount_op_readdir,
    .readdirplus = mount_op_readdirplus,
    .releasedir = mount_op_releasedir,
    .statfs = mount_op_statfs,
    .setattr = mount_op_setattr,
    .mknod = mount_op_mknod,
    .mkdir = mount_op_mkdir,
    .unlink = mount_op_unlink,
    .rmdir = mount_op_unlink,
    .symlink = mount_op_symlink,
    .rename = mount_op_rename,
    .link = mount_op_link,
    .write = mount_op_write,
    .create = mount_op_create,
    .setxattr = mount_op_setxattr,
    .removexattr = mount_op_removexattr,
    .fallocate = mount_op_fallocate,
};

