/* mount_io.h - the session's /dev/fuse I/O, for the one INIT flag that
 * libfuse 3.14 cannot ask for.
 *
 * With -o direct_io the kernel refuses a shared mmap of the files (ENODEV)
 * unless the daemon's INIT reply sets FUSE_DIRECT_IO_ALLOW_MMAP (kernel
 * 6.6 and later). libfuse 3.16 has a capability for it; Debian 12's 3.14
 * does not, and it builds the INIT reply itself. mount_io_attach() puts a
 * pass-through read/writev under the session (fuse_session_custom_io):
 * the read sees the kernel's INIT request and notes whether the kernel
 * offers the flag, the writev adds it to the INIT reply if so, and every
 * other request and reply goes through untouched, one read() or writev()
 * each as before. Only a -o direct_io mount attaches it. With a libfuse
 * that knows the capability none of this is used (mount_ops.c asks for it
 * the documented way). */
#ifndef MOUNT_IO_H
#define MOUNT_IO_H

#include "mount_tree.h"

#include <fuse_lowlevel.h>

/* Where libfuse cannot ask for the flag: 1. */
#ifdef FUSE_CAP_DIRECT_IO_ALLOW_MMAP
#define MOUNT_IO_SHIM 0
#else
#define MOUNT_IO_SHIM 1
#endif

/* After fuse_session_mount(): serve se's /dev/fuse through the
 * pass-through, which asks for FUSE_DIRECT_IO_ALLOW_MMAP wherever the
 * kernel offers it. 0, or -1 (logged; the session then runs as before and
 * shared mmap of direct_io files stays refused). */
int mount_io_attach(struct fuse_session *se);

#endif
