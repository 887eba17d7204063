/* mount_ops.c - fuse_lowlevel_ops of wcodec-mount (see mount_ops.h).
 *
 * Inodes: one per underlying object, keyed by (st_dev, st_ino) and whether
 * it is presented as a container, so numbers are stable and hard links
 * share one. The FUSE node id is the inode's address (the root is
 * FUSE_ROOT_ID); the inode lives while the kernel holds lookups on it, and
 * a container stays open (index in memory, one fd) as long as its inode.
 * The source folder is reached through paths relative to one directory fd:
 * it is immutable while mounted, so names do not move under us.
 *
 * Names: NAME.wcodec (a regular file, links followed) is shown as
 * NAME.safetensors; a plain NAME.safetensors next to it is hidden (the
 * container wins). A container that cannot be opened is still listed, but
 * looking it up gives EIO and the log says why, each time: the source may
 * be repaired while mounted.
 */
#include "mount_ops.h"
#include "reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define MOUNT_SUFFIX_ST ".safetensors"
#define MOUNT_SUFFIX_WC ".wcodec"
#define MOUNT_NBUCKET 4096 /* inode hash; chains grow past that, still fine */

typedef struct mount_inode {
    struct mount_inode *hnext;
    dev_t dev;
    ino_t ino;
    int container;
    uint64_t nlookup; /* kernel references; guarded by the fs inode lock */
    char *path;       /* relative to the source folder; "." is the root */
    pthread_mutex_t open_lock; /* the first lookup opens the container
                                  under it; it also guards last_err* */
    wcodec *w;
    int wfd;
    cache_file *cf;
    char last_err[256]; /* last read failure logged, and when */
    time_t last_err_time;
} mount_inode;

struct mount_fs {
    pthread_mutex_t flock; /* guards files */
    struct mount_file *files;
    int src_fd;
    char *src;
    cache *cache;
    unsigned max_readahead; /* asked of the kernel at init; 0 = its own */
    int direct;             /* read payloads with direct I/O */
    pthread_mutex_t ilock;
    mount_inode *bucket[MOUNT_NBUCKET];
    mount_inode root;
};

/* An open file: a container read through the cache, or a plain file.
 * Open files are listed in the fs: RELEASE is asynchronous, so some may
 * still be open when the session ends, and are freed then. */
typedef struct mount_file {
    struct mount_file *prev, *next;
    mount_inode *in;
    int fd;
    cache_stream *s;
} mount_file;

typedef struct {
    pthread_mutex_t lock;
    DIR *dp;
    struct dirent *entry; /* read but not yet sent (did not fit) */
    off_t offset;
    mount_inode *in;
} mount_dir;

/* ---- logging ------------------------------------------------------------------ */

static int mount_use_syslog;

void mount_log_syslog(void)
{
    openlog("wcodec-mount", LOG_PID, LOG_DAEMON);
    mount_use_syslog = 1;
}

void mount_log(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (mount_use_syslog) {
        vsyslog(prio, fmt, ap);
    } else {
        /* One buffer, one write: lines from several threads stay whole. */
        char line[1024];
        int n = snprintf(line, sizeof line, "wcodec-mount: ");
        vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        strcat(line, "\n");
        fputs(line, stderr);
    }
    va_end(ap);
}

/* ---- helpers ---------------------------------------------------------------- */

static mount_fs *mount_req_fs(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static mount_inode *mount_inode_of(mount_fs *fs, fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? &fs->root : (mount_inode *)(uintptr_t)ino;
}

/* The errno a library code stands for at the FUSE edge. */
static int mount_errno(int rc)
{
    switch (-rc) {
    case WCODEC_E_NOMEM: return ENOMEM;
    case WCODEC_E_INVAL: return EINVAL;
    case WCODEC_E_RANGE: return EINVAL;
    case WCODEC_E_INTERRUPTED: return EINTR;
    default: return EIO; /* CORRUPT, TRUNCATED, IO, ... */
    }
}

static int mount_has_suffix(const char *name, size_t len, const char *suf)
{
    size_t sl = strlen(suf);
    return len >= sl && !memcmp(name + len - sl, suf, sl);
}

/* dir/name relative to the source folder. @return 0 or ENAMETOOLONG. */
static int mount_join(char *out, size_t cap, const char *dir, const char *name,
                      size_t nlen)
{
    int n = strcmp(dir, ".") ? snprintf(out, cap, "%s/%.*s", dir, (int)nlen,
                                        name)
                             : snprintf(out, cap, "%.*s", (int)nlen, name);
    return n < 0 || (size_t)n >= cap ? ENAMETOOLONG : 0;
}

/* Is dir/NAME.wcodec a container presented as NAME.safetensors? (Only when
 * the presented name fits NAME_MAX; otherwise it passes through as is.) */
static int mount_is_container(mount_fs *fs, const char *dir, const char *stem,
                              size_t slen, struct stat *st)
{
    char wname[NAME_MAX + 16], path[PATH_MAX];
    struct stat tmp;
    if (slen + strlen(MOUNT_SUFFIX_ST) > NAME_MAX)
        return 0;
    snprintf(wname, sizeof wname, "%.*s%s", (int)slen, stem, MOUNT_SUFFIX_WC);
    if (mount_join(path, sizeof path, dir, wname, strlen(wname)))
        return 0;
    if (!st)
        st = &tmp;
    return !fstatat(fs->src_fd, path, st, 0) && S_ISREG(st->st_mode);
}

/* Attributes as presented: read-only, containers with their decoded size. */
static void mount_present_attr(const mount_inode *in, struct stat *st)
{
    st->st_mode &= ~(mode_t)0222;
    if (in->container && in->w) {
        st->st_size = (off_t)wcodec_size(in->w);
        st->st_blocks = (blkcnt_t)((wcodec_size(in->w) + 511) / 512);
    }
}

static int mount_stat(mount_fs *fs, mount_inode *in, struct stat *st)
{
    if (fstatat(fs->src_fd, in->path, st,
                in->container ? 0 : AT_SYMLINK_NOFOLLOW))
        return errno;
    mount_present_attr(in, st);
    return 0;
}

/* ---- inodes -------------------------------------------------------------------- */

static size_t mount_ihash(dev_t dev, ino_t ino, int container)
{
    uint64_t h = ((uint64_t)ino * 0x9E3779B97F4A7C15ull) ^ (uint64_t)dev ^
                 (uint64_t)container << 63;
    return (size_t)(h ^ h >> 31) % MOUNT_NBUCKET;
}

static void mount_inode_free(mount_fs *fs, mount_inode *in)
{
    if (in->cf)
        cache_file_remove(fs->cache, in->cf);
    if (in->w)
        wcodec_close(in->w);
    if (in->wfd >= 0)
        close(in->wfd);
    pthread_mutex_destroy(&in->open_lock);
    free(in->path);
    free(in);
}

/* Find or create the inode of an object and take one lookup on it.
 * @return the inode, or NULL (out of memory). */
static mount_inode *mount_inode_get(mount_fs *fs, const struct stat *st,
                                    int container, const char *path)
{
    size_t h = mount_ihash(st->st_dev, st->st_ino, container);
    pthread_mutex_lock(&fs->ilock);
    mount_inode *in = fs->bucket[h];
    while (in && !(in->dev == st->st_dev && in->ino == st->st_ino &&
                   in->container == container))
        in = in->hnext;
    if (!in) {
        in = calloc(1, sizeof *in);
        if (in && !(in->path = strdup(path))) {
            free(in);
            in = NULL;
        }
        if (in) {
            in->dev = st->st_dev;
            in->ino = st->st_ino;
            in->container = container;
            in->wfd = -1;
            pthread_mutex_init(&in->open_lock, NULL);
            in->hnext = fs->bucket[h];
            fs->bucket[h] = in;
        }
    }
    if (in)
        in->nlookup++;
    pthread_mutex_unlock(&fs->ilock);
    return in;
}

/* Drop n lookups; the last one frees the inode (and closes a container). */
static void mount_inode_unref(mount_fs *fs, mount_inode *in, uint64_t n)
{
    if (in == &fs->root)
        return;
    pthread_mutex_lock(&fs->ilock);
    in->nlookup = n < in->nlookup ? in->nlookup - n : 0;
    int last = in->nlookup == 0;
    if (last) {
        mount_inode **p = &fs->bucket[mount_ihash(in->dev, in->ino,
                                                  in->container)];
        while (*p != in)
            p = &(*p)->hnext;
        *p = in->hnext;
    }
    pthread_mutex_unlock(&fs->ilock);
    if (last)
        mount_inode_free(fs, in);
}

/* Open a container on its first lookup. @return 0 or an errno. */
static int mount_container_open(mount_fs *fs, mount_inode *in)
{
    int rc = 0;
    pthread_mutex_lock(&in->open_lock);
    if (in->w)
        goto out;
    int fd = openat(fs->src_fd, in->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno;
        mount_log(LOG_ERR, "%s: cannot open: %s", in->path, strerror(rc));
        goto out;
    }
    wcodec *w;
    int r = wcodec_open_fd(fd, in->path, &w);
    cache_file *cf = NULL;
    if (!r)
        r = cache_file_add(fs->cache, w, &cf);
    else
        w = NULL;
    if (r) {
        /* Not fatal to the mount: this name gives EIO until repaired. */
        mount_log(LOG_ERR, "%s: cannot open container: %s", in->path,
                  wcodec_errdetail());
        wcodec_close(w);
        close(fd);
        rc = mount_errno(r);
        goto out;
    }
    /* Payloads go once from disk into a decoder, so they bypass the page
     * cache where the file system allows (see wc_reader_set_direct);
     * elsewhere a deeper kernel read-ahead keeps the disk ahead. */
    if (fs->direct)
        wc_reader_set_direct(w, openat(fs->src_fd, in->path,
                                       O_RDONLY | O_CLOEXEC | O_DIRECT));
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    in->wfd = fd;
    in->cf = cf;
    __atomic_store_n(&in->w, w, __ATOMIC_RELEASE);
out:
    pthread_mutex_unlock(&in->open_lock);
    return rc;
}

/* Resolve name in parent: fills e and takes a lookup on success.
 * @return 0 or an errno (ENOENT: no such name as presented). */
static int mount_do_lookup(mount_fs *fs, mount_inode *parent,
                           const char *name, struct fuse_entry_param *e)
{
    size_t nl = strlen(name);
    char path[PATH_MAX];
    struct stat st;
    int container = 0, rc;
    memset(e, 0, sizeof *e);
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return ENOENT; /* only asked for by NFS export, which we do not do */
    size_t stl = strlen(MOUNT_SUFFIX_ST), wcl = strlen(MOUNT_SUFFIX_WC);
    if (mount_has_suffix(name, nl, MOUNT_SUFFIX_ST) &&
        mount_is_container(fs, parent->path, name, nl - stl, &st)) {
        container = 1;
        char wname[NAME_MAX + 16];
        snprintf(wname, sizeof wname, "%.*s%s", (int)(nl - stl), name,
                 MOUNT_SUFFIX_WC);
        if ((rc = mount_join(path, sizeof path, parent->path, wname,
                             strlen(wname))))
            return rc;
    } else {
        if (mount_has_suffix(name, nl, MOUNT_SUFFIX_WC) &&
            mount_is_container(fs, parent->path, name, nl - wcl, NULL))
            return ENOENT; /* shown under its .safetensors name */
        if ((rc = mount_join(path, sizeof path, parent->path, name, nl)))
            return rc;
        if (fstatat(fs->src_fd, path, &st, AT_SYMLINK_NOFOLLOW))
            return errno;
    }
    mount_inode *in = mount_inode_get(fs, &st, container, path);
    if (!in)
        return ENOMEM;
    if (container && (rc = mount_container_open(fs, in))) {
        mount_inode_unref(fs, in, 1);
        return rc;
    }
    mount_present_attr(in, &st);
    e->ino = (fuse_ino_t)(uintptr_t)in;
    e->attr = st;
    e->attr_timeout = MOUNT_TIMEOUT;
    e->entry_timeout = MOUNT_TIMEOUT;
    return 0;
}

/* ---- fs lifetime ---------------------------------------------------------------- */

int mount_fs_create(const char *src, mount_fs **out)
{
    *out = NULL;
    mount_fs *fs = calloc(1, sizeof *fs);
    if (!fs) {
        mount_log(LOG_ERR, "out of memory");
        return -1;
    }
    fs->src_fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->src_fd < 0) {
        mount_log(LOG_ERR, "%s: %s", src,
                  errno == ENOTDIR ? "not a folder (SRC must be a folder)"
                                   : strerror(errno));
        free(fs);
        return -1;
    }
    struct stat st;
    fstat(fs->src_fd, &st);
    fs->src = strdup(src);
    fs->root.path = strdup(".");
    if (!fs->src || !fs->root.path) {
        mount_log(LOG_ERR, "out of memory");
        mount_fs_destroy(fs);
        return -1;
    }
    fs->root.dev = st.st_dev;
    fs->root.ino = st.st_ino;
    fs->root.wfd = -1;
    fs->root.nlookup = 1;
    pthread_mutex_init(&fs->root.open_lock, NULL);
    pthread_mutex_init(&fs->ilock, NULL);
    pthread_mutex_init(&fs->flock, NULL);
    *out = fs;
    return 0;
}

void mount_fs_set_max_readahead(mount_fs *fs, unsigned bytes)
{
    fs->max_readahead = bytes;
}

void mount_fs_set_direct(mount_fs *fs, int on)
{
    fs->direct = on;
}

int mount_fs_start(mount_fs *fs, const cache_config *cfg)
{
    if (cache_create(cfg, &fs->cache)) {
        mount_log(LOG_ERR, "cannot start the chunk cache: %s",
                  wcodec_errdetail());
        return -1;
    }
    return 0;
}

static void mount_file_track(mount_fs *fs, mount_file *mf)
{
    pthread_mutex_lock(&fs->flock);
    mf->prev = NULL;
    mf->next = fs->files;
    if (fs->files)
        fs->files->prev = mf;
    fs->files = mf;
    pthread_mutex_unlock(&fs->flock);
}

/* Unlist and free an open file. */
static void mount_file_free(mount_fs *fs, mount_file *mf)
{
    pthread_mutex_lock(&fs->flock);
    if (mf->prev)
        mf->prev->next = mf->next;
    else
        fs->files = mf->next;
    if (mf->next)
        mf->next->prev = mf->prev;
    pthread_mutex_unlock(&fs->flock);
    cache_stream_close(fs->cache, mf->s);
    if (mf->fd >= 0)
        close(mf->fd);
    free(mf);
}

void mount_fs_destroy(mount_fs *fs)
{
    if (!fs)
        return;
    /* Files whose RELEASE had not arrived when the session ended; their
     * streams go before the inodes and the cache they point into. */
    while (fs->files)
        mount_file_free(fs, fs->files);
    /* The kernel does not forget every inode before unmounting. */
    for (size_t b = 0; b < MOUNT_NBUCKET; b++)
        while (fs->bucket[b]) {
            mount_inode *in = fs->bucket[b];
            fs->bucket[b] = in->hnext;
            mount_inode_free(fs, in);
        }
    if (fs->cache) {
        cache_stats st;
        cache_get_stats(fs->cache, &st);
        mount_log(LOG_INFO,
                  "cache: %llu hits, %llu waits, %llu misses, %llu "
                  "prefetched (%llu used, %llu wasted, %llu skipped), %llu "
                  "evictions, %llu decode errors, peak %llu MiB",
                  (unsigned long long)st.hits, (unsigned long long)st.waits,
                  (unsigned long long)st.misses,
                  (unsigned long long)st.prefetched,
                  (unsigned long long)st.prefetch_used,
                  (unsigned long long)st.prefetch_wasted,
                  (unsigned long long)st.prefetch_skipped,
                  (unsigned long long)st.evictions,
                  (unsigned long long)st.errors,
                  (unsigned long long)(st.peak_bytes >> 20));
        cache_destroy(fs->cache);
    }
    if (fs->src_fd >= 0)
        close(fs->src_fd);
    pthread_mutex_destroy(&fs->ilock);
    pthread_mutex_destroy(&fs->flock);
    pthread_mutex_destroy(&fs->root.open_lock);
    free(fs->root.path);
    free(fs->src);
    free(fs);
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
    /* Straight from the cached chunks to the kernel: no copy here. */
    fuse_reply_iov(req, v.iov, v.n);
    cache_view_put(fs->cache, &v);
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
