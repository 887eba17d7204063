/* container.h - the .wcodec on-disk format (normative text: man/wcodec.5).
 *
 *   superblock  80 bytes at offset 0
 *   payloads    chunk payloads, in chunk order
 *   index       digest, segment table, chunk table, codec parameters
 *
 * Everything little-endian. The index sits at the end so the packer can
 * stream payloads and write the superblock last.
 */
#ifndef WC_CONTAINER_H
#define WC_CONTAINER_H

#include <stdint.h>

#include "codec.h"
#include "wcodec.h"

#define WC_MAGIC "\x89WCODEC\n"
#define WC_SUPER_SIZE 80
#define WC_DIGEST_SIZE 16
#define WC_SEG_REC 40
#define WC_CHUNK_REC 24
#define WC_CHUNK_MIN (4u * 1024)
#define WC_CHUNK_MAX (16u * 1024 * 1024)

#define WC_CHUNK_F_RAW 0x01 /* payload is the decoded bytes as they are */

typedef struct {
    uint64_t offset; /* presented file */
    uint64_t length;
    uint64_t first_chunk;
    wc_segcodec c;
} wc_segment;

typedef struct {
    uint64_t offset; /* container */
    uint32_t csize;
    uint8_t flags;
    uint64_t checksum; /* XXH3-64 of the decoded bytes */
} wc_chunk;

/* little-endian helpers */
static inline void wc_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void wc_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}
static inline void wc_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}
static inline uint16_t wc_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t wc_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t wc_get64(const uint8_t *p)
{
    return (uint64_t)wc_get32(p) | (uint64_t)wc_get32(p + 4) << 32;
}

/* Number of chunks a segment of len bytes is cut into. */
static inline uint64_t wc_seg_chunks(uint64_t len, uint32_t chunk_size)
{
    return (len + chunk_size - 1) / chunk_size;
}

/* Chunk size for a segment: a multiple of the element size, so no element
 * straddles two chunks. chunk_size is a power of two >= 4096 and element
 * sizes are 1, 2, 4 or 8, so chunk_size itself always works. */

/* Payload bound for a chunk of the given decoded size and codec. */
uint64_t wc_chunk_payload_max(uint32_t chunk_size);

#endif
