/* mount_ops.h - the wcodec-mount file system: a read-only view of a source
 * folder in which every NAME.wcodec container appears as NAME.safetensors
 * (decoded through the chunk cache) and everything else passes through.
 *
 * This is the FUSE edge: library codes (-WCODEC_E_*) become errno here and
 * nowhere else.
 */
#ifndef WC_MOUNT_OPS_H
#define WC_MOUNT_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "cache.h"

/* Seconds the kernel may keep names and attributes: the source folder is
 * immutable while mounted. */
#define MOUNT_TIMEOUT 3600.0

typedef struct mount_fs mount_fs;

/* Open the source folder (before daemonizing: relative paths still work).
 * @return 0 and *out, or -1 with the reason logged. */
int mount_fs_create(const char *src, mount_fs **out);

/* Read-ahead to ask of the kernel at init (it keeps the smaller of this
 * and the mount's own setting); 0 keeps the kernel's offer. */
void mount_fs_set_max_readahead(mount_fs *fs, unsigned bytes);

/* Read container payloads with direct I/O (source_io=direct), where the
 * file system allows it. Before mount_fs_start. */
void mount_fs_set_direct(mount_fs *fs, int on);

/* Start the chunk cache and its prefetch threads (after daemonizing: fork
 * keeps no threads). @return 0, or -1 with the reason logged. */
int mount_fs_start(mount_fs *fs, const cache_config *cfg);

/* Close every container and free everything (after the session ended). */
void mount_fs_destroy(mount_fs *fs);

/* The operations; fuse_session_new() gets the mount_fs as userdata. */
extern const struct fuse_lowlevel_ops mount_ops;

/* Log a line: stderr ("wcodec-mount: ...") until mount_log_syslog() is
 * called, syslog afterwards (daemon mode). */
void mount_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mount_log_syslog(void);

#endif
