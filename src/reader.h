/* reader.h - the opened-container handle, shared inside the library (the
 * GPU backend reads the segment and chunk tables directly). */
#ifndef WC_READER_H
#define WC_READER_H

#include "container.h"

struct wcodec {
    int fd;
    int own_fd;
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
};

#endif
