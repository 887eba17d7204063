/* mount_ops.h - the wcodec-mount file system: a read-only view of a source
 * folder in which every NAME.wcodec container appears as NAME.safetensors
 * (decoded through the chunk cache) and everything else passes through.
 *
 * This is the FUSE edge: library codes (-WCODEC_E_*) become errno here and
 * nowhere else.
 */
#ifndef WC_MOUNT_OPS_H
#define WC_MOUNT_OPS_H

#include "mount_tree.h"

/* The operations; fuse_session_new() gets the mount_fs as userdata. */
extern const struct fuse_lowlevel_ops mount_ops;

#endif
