/* cli.h - helpers shared by the command-line tools (not public API):
 * size parsing, progress display, folder walking and plain-file copying. */
#ifndef WC_CLI_H
#define WC_CLI_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "wcodec.h"

/* Parse "256K", "1M", "4096"; returns 0 or -1. */
int cli_parse_size(const char *s, uint64_t *out);

/* Human-readable size ("1.2 GiB") into buf. */
const char *cli_human(uint64_t n, char *buf, int len);

/* Overall progress over many files: shown in place on a terminal,
 * nothing otherwise (the tools print a line per file instead). */
typedef struct {
    int enabled;
    uint64_t total;  /* bytes over all files */
    uint64_t base;   /* bytes of files already done */
    int files_done;
    int files_kept;  /* of files_done: reused from an interrupted run */
    uint64_t kept;   /* of base: their bytes (not in the rate) */
    int files_total;
    double t0;
    double last;
    pthread_mutex_t lock; /* files are packed in parallel */
    uint64_t *active;     /* bytes done of each file in progress, by slot */
    int nactive;
} cli_progress;

/* slots: how many files may be in progress at once. */
int cli_progress_init(cli_progress *p, int enabled, uint64_t total, int files,
                      int slots);
/* Per-file callback context: one per slot. */
typedef struct {
    cli_progress *p;
    int slot;
} cli_progress_slot;
void cli_progress_cb(void *ctx, uint64_t done, uint64_t total_file);
void cli_progress_file_done(cli_progress *p, int slot, uint64_t bytes);
/* A file that needed no work (kept from an interrupted run): counted as
 * done, and shown as kept. */
void cli_progress_file_kept(cli_progress *p, uint64_t bytes);
/* Print a line without tearing the progress display. */
void cli_progress_println(cli_progress *p, FILE *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cli_progress_end(cli_progress *p);
double cli_now(void);

/* Visit a folder tree. For each entry the callback gets its source path,
 * the path relative to the root and its lstat (stat when follow is set:
 * symbolic links are then followed, as before 0.3). Folders are visited
 * before their contents; entries that are neither regular files, folders
 * nor symbolic links are skipped with a message. Returns the first
 * non-zero callback result, or -1 with an errno-based message printed. */
typedef int (*cli_visit_fn)(void *ctx, const char *src, const char *rel,
                            const struct stat *st);

/* Walk root, never entering the folder `skip` (the destination, when it
 * lies inside the source: it grows while we walk). */
int cli_walk_skip(const char *root, const char *skip, int follow,
                  cli_visit_fn fn, void *ctx);

/* Make dst a symbolic link with the same target text as the link src
 * (replacing a non-folder at dst with force). The target is copied as it
 * is, never resolved. @return 0 or -WCODEC_E_* with the detail set. */
int cli_copy_symlink(const char *src, const char *dst, int force);

/* Does the target text of a link at rel (relative to the tree's root)
 * leave the tree? Absolute targets do; relative ones that climb above the
 * root with "..", read as text, do. */
int cli_link_leaves(const char *rel, const char *target);

/* Hard links: the first path met for each (st_dev, st_ino) of a file with
 * more than one link. */
typedef struct {
    struct cli_inode *v;
    size_t n, cap;
} cli_inodes;

/* The destination recorded for st's file (and *tag, the caller's note on
 * it), or NULL after recording dst and tag as its first (NULL too when out
 * of memory: the file is then written again, which loses the link, never
 * data). Files with one link are never recorded. */
const char *cli_inodes_seen(cli_inodes *t, const struct stat *st,
                            const char *dst, int *tag);
void cli_inodes_free(cli_inodes *t);

/* Make dst a hard link to the file first (replacing a file at dst with
 * force). @return 0 or -WCODEC_E_* with the detail set. */
int cli_hardlink(const char *first, const char *dst, int force);

/* Copy a plain file through a temporary name; the copy gets the source's
 * permission bits and modification time. Returns 0 or -WCODEC_E_*. */
int cli_copy_file(const char *src, const char *dst, int force);

/* File mode: when dst is an existing folder, the output goes inside it as
 * the source's name with suffix `from` replaced by `to`, written to buf.
 * @return the output path (dst itself, or buf). */
const char *cli_dst_file(const char *src, const char *dst, const char *from,
                         const char *to, char *buf, size_t size);

/* 1 if path ends with suffix. */
int cli_has_suffix(const char *path, const char *suffix);

/* Packed bytes of the presented bytes [b, e) given a container's segment
 * table: its share of each segment it lies in, in proportion to bytes.
 * *first (0 at the start, kept between calls with increasing b) skips
 * segments already passed. codec gets the first segment's codec, e.g.
 * "planes:ar", with "*" when that segment also holds other bytes. */
uint64_t cli_packed_share(const wcodec_segment_info *seg, uint32_t nseg,
                          uint64_t b, uint64_t e, uint32_t *first,
                          char *codec, size_t clen);

/* Install SIGINT/SIGTERM/SIGHUP handlers that remove temporaries and exit
 * with 128 + signal, and a SIGBUS handler (an input truncated while mapped)
 * that removes them, says why and exits 1. */
void cli_signals(void);

/* A line the signal handlers write to stderr before exiting (e.g. how to
 * resume); NULL for none. The string must outlive the handlers. */
void cli_signals_note(const char *line);

#endif
