/* mount_tree.h - the source folder as wcodec-mount presents it: inodes,
 * names (NAME.wcodec shown as NAME.safetensors), lookups, open files and
 * the file system's lifetime. FUSE-free apart from the entry it fills in;
 * the operations (mount_ops.c) are built on it.
 */
#ifndef WC_MOUNT_TREE_H
#define WC_MOUNT_TREE_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "cache.h"

/* Seconds the kernel may keep names and attributes: the source folder is
 * immutable while mounted. */
#define MOUNT_TIMEOUT 3600.0

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

typedef struct mount_fs {
    pthread_mutex_t flock; /* guards files */
    struct mount_file *files;
    int src_fd;
    char *src;
    cache *cache;
    unsigned max_readahead; /* asked of the kernel at init; 0 = its own */
    int direct;             /* read payloads with direct I/O */
    int direct_io;          /* open containers FOPEN_DIRECT_IO */
    pthread_mutex_t ilock;
    mount_inode *bucket[MOUNT_NBUCKET];
    mount_inode root;
} mount_fs;

/* An open file: a container read through the cache, or a plain file.
 * Open files are listed in the fs: RELEASE is asynchronous, so some may
 * still be open when the session ends, and are freed then. */
typedef struct mount_file {
    struct mount_file *prev, *next;
    mount_inode *in;
    int fd;
    cache_stream *s;
} mount_file;


/* Open the source folder (before daemonizing: relative paths still work).
 * @return 0 and *out, or -1 with the reason logged. */
int mount_fs_create(const char *src, mount_fs **out);

/* Read-ahead to ask of the kernel at init (it keeps the smaller of this
 * and the mount's own setting); 0 keeps the kernel's offer. */
void mount_fs_set_max_readahead(mount_fs *fs, unsigned bytes);

/* Read container payloads with direct I/O (source_io=direct), where the
 * file system allows it. Before mount_fs_start. */
void mount_fs_set_direct(mount_fs *fs, int on);

/* Open containers with FOPEN_DIRECT_IO (-o direct_io): each read goes to
 * the daemon and its reply is copied straight into the reader's buffer,
 * not into page cache and out again. Before mount_fs_start. */
void mount_fs_set_direct_io(mount_fs *fs, int on);

/* Start the chunk cache and its prefetch threads (after daemonizing: fork
 * keeps no threads). @return 0, or -1 with the reason logged. */
int mount_fs_start(mount_fs *fs, const cache_config *cfg);

/* Close every container and free everything (after the session ended). */
void mount_fs_destroy(mount_fs *fs);

/* The errno a library code stands for at the FUSE edge. */
int mount_errno(int rc);

/* Does name[0..len) end in suf? */
int mount_has_suffix(const char *name, size_t len, const char *suf);

/* Is dir/STEM.wcodec (stem[0..slen)) a container presented as
 * STEM.safetensors? Fills *st when st is not NULL. */
int mount_is_container(mount_fs *fs, const char *dir, const char *stem,
                       size_t slen, struct stat *st);

/* Attributes as presented: read-only, containers with their decoded size. */
void mount_present_attr(const mount_inode *in, struct stat *st);

/* stat of an inode as presented. @return 0 or an errno. */
int mount_stat(mount_fs *fs, mount_inode *in, struct stat *st);

/* Drop n lookups; the last one frees the inode (and closes a container). */
void mount_inode_unref(mount_fs *fs, mount_inode *in, uint64_t n);

/* Resolve name in parent: fills e and takes a lookup on success.
 * @return 0 or an errno (ENOENT: no such name as presented). */
int mount_do_lookup(mount_fs *fs, mount_inode *parent, const char *name,
                    struct fuse_entry_param *e);

/* List an open file in the fs (freed by mount_fs_destroy if RELEASE never
 * comes), and unlist and free it. */
void mount_file_track(mount_fs *fs, mount_file *mf);
void mount_file_free(mount_fs *fs, mount_file *mf);

#endif
