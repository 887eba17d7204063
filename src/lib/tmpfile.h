/* tmpfile.h - outputs are written under a temporary name in the target's
 * folder and renamed into place only when complete, so a killed process or
 * a full disk never leaves a partial file under the final name. */
#ifndef WC_TMPFILE_H
#define WC_TMPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
    int fd;
    int slot; /* registry slot for signal-time cleanup, -1 if none */
    char path[4096];
    char final[4096];
    /* buffered sequential writer */
    uint8_t *buf;
    size_t used;
    size_t cap;
    uint64_t pos; /* file offset of buf[0] */
    /* Written through to an existing target that is not a regular file (a
     * FIFO, a device, a socket, standard output): no temporary, no rename,
     * and the target's attributes are never changed. */
    int through;
    int own_fd;            /* through: close fd at commit/abort */
    int mode;              /* permission bits at commit; -1: 0666 & ~umask */
    struct timespec mtime; /* at commit; tv_nsec UTIME_OMIT: left as is */
} wc_tmp;

/* Create a temporary file next to `final`. If !force and final exists,
 * fails with -WCODEC_E_EXISTS; an existing final that is not a regular
 * file (or a link to one) is never replaced: -WCODEC_E_EXISTS too. */
int wc_tmp_create(wc_tmp *t, const char *final, int force);
/* As wc_tmp_create, but an existing final that is a FIFO, a character
 * device or a socket is opened and written through (a block device too,
 * only with force: it holds data). For outputs written in order only. */
int wc_tmp_create_out(wc_tmp *t, const char *final, int force);
/* Write through the open descriptor fd (not closed: the caller's). */
int wc_tmp_create_fd(wc_tmp *t, int fd, const char *name);
/* The output gets the permission bits and modification time of st (a
 * source's) at commit; ignored when written through. */
void wc_tmp_keep_attr(wc_tmp *t, const struct stat *st);
/* Append bytes (buffered). */
int wc_tmp_write(wc_tmp *t, const void *p, size_t n);
/* Write at an absolute offset (flushes the buffer first). */
int wc_tmp_pwrite(wc_tmp *t, const void *p, size_t n, uint64_t off);
int wc_tmp_flush(wc_tmp *t);
/* fsync, set the mode (0666 & ~umask unless wc_tmp_keep_attr gave one) and
 * mtime, rename to final (never replacing an existing file unless force).
 * Closes the file. Written through: flush only (and close if ours). */
int wc_tmp_commit(wc_tmp *t, int force);
/* Close and unlink (written through: close only; what went out stays
 * out). Safe on a failed or committed wc_tmp. */
void wc_tmp_abort(wc_tmp *t);

#endif
