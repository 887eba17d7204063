/* reader.h - the opened-container handle, shared inside the library (the
 * GPU backend reads the segment and chunk tables directly). */
#ifndef WC_READER_H
#define WC_READER_H

#include "container.h"

struct wcodec {
    int fd;
    int own_fd;
    int dfd;    /* the same file opened O_DIRECT for payload reads, or -1 */
    int direct; /* payloads are read through dfd (cleared if it fails) */
    char *name;
    uint64_t file_size;
    uint64_t packed_size;
    uint64_t nchunks;
    uint32_t chunk_size;
    uint32_t nseg;
    uint32_t max_csize;
    wc_segment *seg;
    wc_chunk *chunk;
    uint32_t *chunk_seg; /* segment of each chunk */
    uint8_t digest[WC_DIGEST_SIZE];
    /* Set by a device backend (device.h) that keeps state for this handle;
     * wcodec_close calls it first. A hook, so that the reader, which the
     * device layer is built on, never calls up into it. */
    void (*dev_release)(struct wcodec *w);
};

/* Payload reads bypass the page cache through dfd, which the handle then
 * owns (closed by wcodec_close). A reader that fills its own cache with
 * decoded chunks wants this: the compressed bytes are read once, and
 * copying them out of the page cache cost as much CPU as decoding them. */
void wc_reader_set_direct(wcodec *w, int dfd);

/* Decode chunks first..first+count-1 into dst[0..count-1], reading each
 * run of payloads that lie back to back in the file with one read. */
int wc_decode_run(wcodec *w, uint64_t first, uint64_t count,
                  uint8_t *const dst[]);

/* A run read by its caller (the mount reads runs on threads of their own,
 * several at a time, and decodes them on others):
 * wc_run_extent: of chunks first..first+count-1, how many from first have
 *   payloads back to back within max bytes (at least 1); *off and *len are
 *   their payload bytes in the file.
 * wc_run_buffer_size: the bytes of a page-aligned buffer that a read of n
 *   payload bytes needs (direct reads cover whole blocks).
 * wc_run_read: read the n payload bytes at off into buf (page aligned, of
 *   wc_run_buffer_size(n) bytes), chunk k named in errors. @return where
 *   the bytes are in buf, or NULL with the error code in *rc.
 * wc_run_decode: decode chunks first..first+count-1 from their payloads at
 *   p (chunk first's) into dst[], checksums checked. */
uint64_t wc_run_extent(const wcodec *w, uint64_t first, uint64_t count,
                       size_t max, uint64_t *off, size_t *len);
size_t wc_run_buffer_size(size_t n);
const uint8_t *wc_run_read(wcodec *w, uint8_t *buf, uint64_t off, size_t n,
                           uint64_t k, int *rc);
int wc_run_decode(wcodec *w, uint64_t first, uint64_t count,
                  const uint8_t *p, uint8_t *const dst[]);

#endif
