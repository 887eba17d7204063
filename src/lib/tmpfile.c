/* tmpfile.c - temporary outputs and their signal-time cleanup. */
#include "tmpfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

/* Registry of temporaries in progress, read by a signal handler: each slot
 * is published only after its path is fully written. */
#define WC_TMP_SLOTS 64
static char wc_tmp_paths[WC_TMP_SLOTS][4096];
static volatile sig_atomic_t wc_tmp_live[WC_TMP_SLOTS];
static pthread_mutex_t wc_tmp_lock = PTHREAD_MUTEX_INITIALIZER;

static int wc_tmp_register(const char *path)
{
    pthread_mutex_lock(&wc_tmp_lock);
    int slot = -1;
    for (int i = 0; i < WC_TMP_SLOTS; i++)
        if (!wc_tmp_live[i]) {
            slot = i;
            strcpy(wc_tmp_paths[i], path);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            wc_tmp_live[i] = 1;
            break;
        }
    pthread_mutex_unlock(&wc_tmp_lock);
    return slot;
}

static void wc_tmp_unregister(int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&wc_tmp_lock);
    wc_tmp_live[slot] = 0;
    pthread_mutex_unlock(&wc_tmp_lock);
}

void wcodec_remove_temporaries(void)
{
    for (int i = 0; i < WC_TMP_SLOTS; i++)
        if (wc_tmp_live[i])
            unlink(wc_tmp_paths[i]);
}

/* A temporary is stale when no process holds its lock (a writer holds it
 * from creation to rename; the kernel drops it when the writer dies, even by
 * SIGKILL) and it has not been written for a minute (a writer between
 * mkostemp and flock holds no lock yet). */
#define WC_TMP_STALE_SECONDS 60

/* Remove the stale temporaries that match the mkostemp template tmpl
 * (".../.NAME.tmpXXXXXX"), left by killed writers. */
static void wc_tmp_sweep(const char *tmpl)
{
    const char *slash = strrchr(tmpl, '/');
    const char *prefix = slash ? slash + 1 : tmpl;
    size_t pl = strlen(prefix) - 6; /* the name without its XXXXXX */
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - tmpl) + 1 : 1,
             slash ? tmpl : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, pl) || strlen(e->d_name) != pl + 6)
            continue;
        int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat st;
        if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
            now - st.st_mtime >= WC_TMP_STALE_SECONDS &&
            !flock(fd, LOCK_EX | LOCK_NB))
            unlinkat(dfd, e->d_name, 0);
        close(fd);
    }
    closedir(d);
}

static void wc_tmp_init(wc_tmp *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    t->slot = -1;
    t->mode = -1;
    t->mtime.tv_nsec = UTIME_OMIT;
}

void wc_tmp_keep_attr(wc_tmp *t, const struct stat *st)
{
    t->mode = (int)(st->st_mode & 0777);
    t->mtime = st->st_mtim;
}

int wc_tmp_create_fd(wc_tmp *t, int fd, const char *name)
{
    wc_tmp_init(t);
    snprintf(t->final, sizeof t->final, "%s", name);
    t->fd = fd;
    t->through = 1;
    t->cap = 8u << 20;
    t->buf = malloc(t->cap);
    if (!t->buf) {
        t->fd = -1;
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", name);
    }
    return 0;
}

/* A connected stream socket to the socket file at path. */
static int wc_tmp_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        int e = errno;
        close(fd);
        errno = e;
        fd = -1;
    }
    return fd;
}

int wc_tmp_create_out(wc_tmp *t, const char *final, int force)
{
    struct stat st;
    if (stat(final, &st) || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return wc_tmp_create(t, final, force);
    wc_tmp_init(t);
    if (S_ISBLK(st.st_mode) && !force)
        return wc_fail(WCODEC_E_EXISTS, "%s: is a block device (use --force "
                       "to write over what it holds)", final);
    /* A FIFO waits here for its reader, as a shell redirection does. */
    int fd = S_ISSOCK(st.st_mode)
                 ? wc_tmp_connect(final)
                 : open(final, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return wc_fail_errno(errno, "cannot open for writing", final);
    int rc = wc_tmp_create_fd(t, fd, final);
    if (rc) {
        close(fd);
        return rc;
    }
    t->own_fd = 1;
    return 0;
}

/* Create t->path (its last 6 characters XXXXXX, as for mkostemp) with a
 * random name, registered before the file exists: mkostemp, then
 * registering, left a window in which a signal (another thread's handler,
 * so blocking it here would not help) found nothing to remove and the
 * temporary stayed. A signal before the open now unlinks a name that is
 * not there yet, harmlessly. @return 0, or -1 with errno. */
static int wc_tmp_open_registered(wc_tmp *t)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char *x = t->path + strlen(t->path) - 6;
    for (int tries = 0; tries < 100; tries++) {
        unsigned char r[6];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
            uint64_t v = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^
                         (uint64_t)getpid() << 20 ^ (uint64_t)tries << 40 ^
                         (uint64_t)(uintptr_t)t;
            for (int i = 0; i < 6; i++, v >>= 8)
                r[i] = (unsigned char)v;
        }
        for (int i = 0; i < 6; i++)
            x[i] = al[r[i] % (sizeof al - 1)];
        t->slot = wc_tmp_register(t->path);
        t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (t->fd >= 0)
            return 0;
        int e = errno;
        wc_tmp_unregister(t->slot);
        t->slot = -1;
        if (e != EEXIST) {
            errno = e;
            return -1;
        }
    }
    errno = EEXIST;
    return -1;
}

int wc_tmp_create(wc_tmp *t, const char *final, int force)
{
    wc_tmp_init(t);
    if (strlen(final) + 32 >= sizeof t->path)
        return wc_fail(WCODEC_E_INVAL, "%s: path too long", final);
    struct stat st;
    if (!stat(final, &st) && !S_ISREG(st.st_mode))
        return wc_fail(WCODEC_E_EXISTS, "%s: exists and is not a regular "
                       "file (it is never replaced)", final);
    if (!force && lstat(final, &st) == 0)
        return wc_fail(WCODEC_E_EXISTS,
                       "%s: already exists (use --force to replace it)", final);
    strcpy(t->final, final);
    const char *slash = strrchr(final, '/');
    int dirlen = slash ? (int)(slash - final + 1) : 0;
    snprintf(t->path, sizeof t->path, "%.*s.%s.tmpXXXXXX", dirlen, final,
             slash ? slash + 1 : final);
    wc_tmp_sweep(t->path);
    if (wc_tmp_open_registered(t))
        return wc_fail_errno(errno, "cannot create temporary file", final);
    /* Held until the rename: says this temporary is not stale. */
    flock(t->fd, LOCK_EX | LOCK_NB);
    t->cap = 8u << 20;
    t->buf = malloc(t->cap);
    if (!t->buf) {
        wc_tmp_abort(t);
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", final);
    }
    return 0;
}

static int write_all(wc_tmp *t, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        /* Written through: a pipe or a device has no offsets to give. */
        ssize_t r = t->through ? write(t->fd, p, n)
                               : pwrite(t->fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return wc_fail_errno(errno, "write failed", t->final);
        if (r == 0)
            return wc_fail_errno(ENOSPC, "write failed", t->final);
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

int wc_tmp_flush(wc_tmp *t)
{
    int rc = write_all(t, t->buf, t->used, t->pos);
    t->pos += t->used;
    t->used = 0;
    return rc;
}

int wc_tmp_write(wc_tmp *t, const void *p, size_t n)
{
    if (n >= t->cap) {
        int rc = wc_tmp_flush(t);
        if (rc)
            return rc;
        rc = write_all(t, p, n, t->pos);
        t->pos += n;
        return rc;
    }
    if (t->used + n > t->cap) {
        int rc = wc_tmp_flush(t);
        if (rc)
            return rc;
    }
    memcpy(t->buf + t->used, p, n);
    t->used += n;
    return 0;
}

int wc_tmp_pwrite(wc_tmp *t, const void *p, size_t n, uint64_t off)
{
    if (t->through)
        return wc_fail(WCODEC_E_INVAL, "%s: not a regular file", t->final);
    int rc = wc_tmp_flush(t);
    return rc ? rc : write_all(t, p, n, off);
}

int wc_tmp_commit(wc_tmp *t, int force)
{
    int rc = wc_tmp_flush(t);
    if (rc)
        return rc;
    if (t->through) {
        if (t->own_fd && close(t->fd))
            rc = wc_fail_errno(errno, "write failed", t->final);
        t->fd = -1;
        free(t->buf);
        t->buf = NULL;
        return rc;
    }
    if (fsync(t->fd))
        return wc_fail_errno(errno, "fsync failed", t->final);
    mode_t mode = (mode_t)t->mode;
    if (t->mode < 0) {
        mode_t um = umask(0);
        umask(um);
        mode = 0666 & ~um;
    }
    if (fchmod(t->fd, mode))
        return wc_fail_errno(errno, "chmod failed", t->final);
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, t->mtime};
    if (t->mtime.tv_nsec != UTIME_OMIT && futimens(t->fd, ts))
        return wc_fail_errno(errno, "cannot set the modification time",
                             t->final);
    /* Renamed while still open, so its lock keeps sweepers off it. */
    if (force) {
        if (rename(t->path, t->final))
            return wc_fail_errno(errno, "rename failed", t->final);
    } else if (renameat2(AT_FDCWD, t->path, AT_FDCWD, t->final,
                         RENAME_NOREPLACE)) {
        if (errno == EEXIST)
            return wc_fail(WCODEC_E_EXISTS,
                           "%s: already exists (use --force to replace it)",
                           t->final);
        if (errno != EINVAL && errno != ENOSYS)
            return wc_fail_errno(errno, "rename failed", t->final);
        /* Filesystem without RENAME_NOREPLACE: link fails if it exists. */
        if (link(t->path, t->final))
            return errno == EEXIST
                       ? wc_fail(WCODEC_E_EXISTS, "%s: already exists",
                                 t->final)
                       : wc_fail_errno(errno, "rename failed", t->final);
        unlink(t->path);
    }
    /* Written and synced: a failing close loses nothing. */
    close(t->fd);
    t->fd = -1;
    wc_tmp_unregister(t->slot);
    t->slot = -1;
    t->path[0] = 0;
    free(t->buf);
    t->buf = NULL;
    return 0;
}

void wc_tmp_abort(wc_tmp *t)
{
    if (t->fd >= 0 && (!t->through || t->own_fd))
        close(t->fd);
    t->fd = -1;
    if (t->path[0])
        unlink(t->path);
    t->path[0] = 0;
    wc_tmp_unregister(t->slot);
    t->slot = -1;
    free(t->buf);
    t->buf = NULL;
}
