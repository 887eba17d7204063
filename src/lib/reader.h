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

#endif
