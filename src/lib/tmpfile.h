/* tmpfile.h - outputs are written under a temporary name in the target's
 * folder and renamed into place only when complete, so a killed process or
 * a full disk never leaves a partial file under the final name. */
#ifndef WC_TMPFILE_H
#define WC_TMPFILE_H

#include <stddef.h>
#include <stdint.h>

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
} wc_tmp;

/* Create a temporary file next to `final`. If !force and final exists,
 * fails with -WCODEC_E_EXISTS. */
int wc_tmp_create(wc_tmp *t, const char *final, int force);
/* Append bytes (buffered). */
int wc_tmp_write(wc_tmp *t, const void *p, size_t n);
/* Write at an absolute offset (flushes the buffer first). */
int wc_tmp_pwrite(wc_tmp *t, const void *p, size_t n, uint64_t off);
int wc_tmp_flush(wc_tmp *t);
/* fsync, set mode 0666 & ~umask, rename to final (never replacing an
 * existing file unless force). Closes the file. */
int wc_tmp_commit(wc_tmp *t, int force);
/* Close and unlink. Safe on a failed or committed wc_tmp. */
void wc_tmp_abort(wc_tmp *t);

#endif
