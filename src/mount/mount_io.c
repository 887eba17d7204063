/* mount_io.c - the session's /dev/fuse I/O (mount_io.h says why). */
#include "mount_io.h"

#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "mount_log.h"

#ifndef FUSE_DIRECT_IO_ALLOW_MMAP
#define FUSE_DIRECT_IO_ALLOW_MMAP (1ULL << 36) /* <linux/fuse.h> 7.39 */
#endif

/* One session per process. INIT is the first request and is answered
 * before the kernel sends any other, so these are written by the one
 * thread that serves it; other serving threads only read the flags (one
 * atomic load per request once INIT is answered). */
static uint64_t mount_io_init_unique;
static int mount_io_offered;
static _Atomic int mount_io_seen_init, mount_io_done;

static ssize_t mount_io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    ssize_t n = read(fd, buf, len);
    if (!mount_io_seen_init &&
        n >= (ssize_t)(sizeof(struct fuse_in_header) +
                       offsetof(struct fuse_init_in, flags2))) {
        const struct fuse_in_header *h = buf;
        if (h->opcode == FUSE_INIT) {
            const struct fuse_init_in *in = (const void *)(h + 1);
            uint64_t flags = in->flags;
            /* flags2 is there from protocol 7.36, when FUSE_INIT_EXT is */
            if ((flags & FUSE_INIT_EXT) &&
                n >= (ssize_t)(sizeof *h +
                               offsetof(struct fuse_init_in, flags2) + 4))
                flags |= (uint64_t)in->flags2 << 32;
            mount_io_init_unique = h->unique;
            mount_io_offered = !!(flags & FUSE_DIRECT_IO_ALLOW_MMAP);
            mount_io_seen_init = 1;
        }
    }
    return n;
}

static ssize_t mount_io_writev(int fd, struct iovec *iov, int count,
                               void *userdata)
{
    (void)userdata;
    if (!mount_io_done && mount_io_seen_init && count >= 2 &&
        iov[0].iov_len == sizeof(struct fuse_out_header)) {
        struct fuse_out_header *h = iov[0].iov_base;
        if (h->unique == mount_io_init_unique) {
            mount_io_done = 1;
            /* libfuse's reply: header, then its fuse_init_out (64 bytes
             * from protocol 7.23 on; flags2 is inside them). */
            if (h->error == 0 && mount_io_offered &&
                iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) + 4) {
                struct fuse_init_out *out = iov[1].iov_base;
                out->flags |= FUSE_INIT_EXT;
                out->flags2 |= (uint32_t)(FUSE_DIRECT_IO_ALLOW_MMAP >> 32);
            }
        }
    }
    return writev(fd, iov, count);
}

int mount_io_attach(struct fuse_session *se)
{
    static const struct fuse_custom_io io = {.read = mount_io_read,
                                             .writev = mount_io_writev};
    int fd = fuse_session_fd(se);
    int rc = fd >= 0 ? fuse_session_custom_io(se, &io, fd) : -1;
    if (rc)
        mount_log(LOG_WARNING, "direct_io: cannot ask the kernel to allow "
                               "shared mmap (%d): loaders that mmap will "
                               "get ENODEV", rc);
    return rc ? -1 : 0;
}
