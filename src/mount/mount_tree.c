/* mount_tree.c - the source folder as wcodec-mount presents it (see
 * mount_tree.h).
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
 * container wins). Any other regular file that is a container by its
 * magic is shown under its own name, decoded (how the pack keeps
 * blobs/HASH of a Hugging Face cache). Symbolic links are shown as they
 * are, target text unchanged, and resolve inside the mount. A container
 * that cannot be opened is still listed, but looking it up gives EIO and
 * the log says why, each time: the source may be repaired while mounted.
 */
#include "mount_tree.h"
#include "mount_log.h"
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* The errno a library code stands for at the FUSE edge. */
int mount_errno(int rc)
{
    switch (-rc) {
    case WCODEC_E_NOMEM: return ENOMEM;
    case WCODEC_E_INVAL: return EINVAL;
    case WCODEC_E_RANGE: return EINVAL;
    case WCODEC_E_INTERRUPTED: return EINTR;
    default: return EIO; /* CORRUPT, TRUNCATED, IO, ... */
    }
}

int mount_has_suffix(const char *name, size_t len, const char *suf)
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
int mount_is_container(mount_fs *fs, const char *dir, const char *stem,
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

/* Is the regular file at path a container by its bytes? The pack keeps
 * the name of a safetensors file not named NAME.safetensors (a Hugging
 * Face cache's blobs/HASH), so its container is found by the magic. */
static int mount_is_container_bytes(mount_fs *fs, const char *path)
{
    int fd = openat(fs->src_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0; /* the open of a plain file reports it */
    int kind = wcodec_probe_fd(fd, path);
    close(fd);
    return kind == WCODEC_KIND_CONTAINER;
}

/* Attributes as presented: read-only, containers with their decoded size. */
void mount_present_attr(const mount_inode *in, struct stat *st)
{
    st->st_mode &= ~(mode_t)0222;
    if (in->container && in->w) {
        st->st_size = (off_t)wcodec_size(in->w);
        st->st_blocks = (blkcnt_t)((wcodec_size(in->w) + 511) / 512);
    }
}

int mount_stat(mount_fs *fs, mount_inode *in, struct stat *st)
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
void mount_inode_unref(mount_fs *fs, mount_inode *in, uint64_t n)
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
int mount_do_lookup(mount_fs *fs, mount_inode *parent,
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
        container = S_ISREG(st.st_mode) && mount_is_container_bytes(fs, path);
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

void mount_fs_set_direct_io(mount_fs *fs, int on)
{
    fs->direct_io = on;
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

void mount_file_track(mount_fs *fs, mount_file *mf)
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
void mount_file_free(mount_fs *fs, mount_file *mf)
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

