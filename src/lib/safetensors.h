/* safetensors.h - parse and validate a safetensors header.
 *
 * The file: u64 LE header length N, N bytes of JSON, then the data region.
 * Each tensor's data_offsets are relative to the data region. wcodec keeps
 * every byte as it is, so gaps between tensors are allowed (and preserved);
 * what is rejected is what no loader could read: offsets past the end,
 * overlapping tensors, a byte length that does not match dtype x shape,
 * an unknown dtype, or a header that is not a JSON object.
 */
#ifndef WC_SAFETENSORS_H
#define WC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* safetensors' own limit on the header size. */
#define WC_ST_MAX_HEADER (100u * 1024 * 1024)

typedef struct {
    char *name;
    int dtype;      /* enum wc_dtype */
    uint64_t begin; /* absolute file offsets */
    uint64_t end;
    unsigned ndim;
    uint64_t *shape;
} wc_st_tensor;

typedef struct {
    uint64_t header_len; /* N */
    uint64_t data_start; /* 8 + N */
    wc_st_tensor *t;     /* sorted by begin */
    size_t n;
} wc_st_file;

/* Parse the header. buf holds at least the first min(file_size, 8 + N)
 * bytes of the file (call wc_st_header_len first to learn N). name is used
 * in error details. @return 0 or -WCODEC_E_ST_*. */
int wc_st_header_len(const uint8_t *buf, size_t avail, uint64_t file_size,
                     const char *name, uint64_t *header_len);
int wc_st_parse(const uint8_t *buf, uint64_t file_size, const char *name,
                wc_st_file *out);
void wc_st_free(wc_st_file *f);

#endif
