/* wcodec.h - lossless compressed containers for .safetensors checkpoints.
 *
 * A .wcodec container presents exactly one original .safetensors file,
 * byte for byte. The file is cut into independently decodable chunks, so
 * any byte range can be read without touching the rest. The on-disk format
 * is specified in wcodec(5).
 *
 * Conventions:
 *  - Functions returning int give 0 (WCODEC_OK) on success or a negative
 *    error code -WCODEC_E_*; wcodec_strerror() names the code and
 *    wcodec_errdetail() gives a one-line description of the last failure in
 *    the calling thread (file, offset, what was wrong).
 *  - Error codes are stable: they are part of the ABI.
 *  - A wcodec handle may be used by many threads at once: reads and decodes
 *    are thread-safe. open/close are not concurrent with other calls on the
 *    same handle.
 *  - Decoded bytes are always checked against their stored checksum: a read
 *    either returns the original bytes or fails with WCODEC_E_CORRUPT /
 *    WCODEC_E_TRUNCATED / WCODEC_E_IO. It never returns wrong bytes.
 */
#ifndef WCODEC_H
#define WCODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WCODEC_VERSION_MAJOR 0
#define WCODEC_VERSION_MINOR 2
#define WCODEC_VERSION_PATCH 0
#define WCODEC_VERSION_STRING "0.2.0"

/* Container format version written by this library (wcodec(5)). */
#define WCODEC_FORMAT_MAJOR 1
#define WCODEC_FORMAT_MINOR 1

typedef enum {
    WCODEC_OK = 0,
    WCODEC_E_IO = 1,           /* a read or write failed (errno in detail) */
    WCODEC_E_NOMEM = 2,        /* out of memory */
    WCODEC_E_NOSPACE = 3,      /* no space left on the output device */
    WCODEC_E_EXISTS = 4,       /* output exists and overwriting not asked */
    WCODEC_E_INVAL = 5,        /* invalid argument */
    WCODEC_E_RANGE = 6,        /* offset or index out of range */
    WCODEC_E_NOT_CONTAINER = 7, /* not a .wcodec container (bad magic) */
    WCODEC_E_VERSION = 8,      /* container version or flags not supported */
    WCODEC_E_TRUNCATED = 9,    /* container shorter than its index says */
    WCODEC_E_CORRUPT = 10,     /* checksum or structure check failed */
    WCODEC_E_DIGEST = 11,      /* whole-file digest does not match */
    WCODEC_E_ST_FORMAT = 12,   /* not a safetensors file / bad header length */
    WCODEC_E_ST_JSON = 13,     /* safetensors header is not valid JSON */
    WCODEC_E_ST_DTYPE = 14,    /* unknown dtype */
    WCODEC_E_ST_SHAPE = 15,    /* shape x dtype size != byte length */
    WCODEC_E_ST_OFFSETS = 16,  /* tensor offsets out of range or overlapping */
    WCODEC_E_INTERRUPTED = 17, /* stopped by a signal */
    WCODEC_E_NODEVICE = 18,    /* no usable GPU (or built without CUDA) */
} wcodec_err;

/* Name of an error code (accepts the code or its negation). */
const char *wcodec_strerror(int err);

/* One-line description of the last error in this thread ("" if none). */
const char *wcodec_errdetail(void);

/* ---- reading containers ------------------------------------------------ */

typedef struct wcodec wcodec;

/* Open a container; checks magic, version, the superblock and index
 * checksums and the whole index structure before returning.
 * @return 0 and *out set, or a negative error (NOT_CONTAINER, VERSION,
 *         TRUNCATED, CORRUPT, IO, NOMEM). */
int wcodec_open(const char *path, wcodec **out);

/* Same, on an open file descriptor (not closed by wcodec_close). */
int wcodec_open_fd(int fd, const char *name, wcodec **out);

void wcodec_close(wcodec *w);

/* Size in bytes of the presented (original) file. */
uint64_t wcodec_size(const wcodec *w);

/* Size in bytes of the container itself. */
uint64_t wcodec_packed_size(const wcodec *w);

/* XXH3-128 digest of the presented file, canonical (big-endian) form: the
 * same 16 bytes `xxhsum -H2` prints for the original file. */
void wcodec_digest(const wcodec *w, uint8_t out[16]);

/* Read up to len bytes of the presented file at off into buf.
 * @return the number of bytes read (short only at end of file, 0 at or
 *         past it), or a negative error; nothing partial is reported as
 *         success when a chunk fails. */
ssize_t wcodec_pread(wcodec *w, void *buf, size_t len, uint64_t off);

/* Decode the whole file and check every chunk and the file digest.
 * @return 0, or the first error met. */
int wcodec_verify(wcodec *w);

/* ---- chunk-level access (caches, GPU batching) -------------------------- */

/* Decoded size of every chunk but possibly the last of each segment. */
uint32_t wcodec_chunk_size(const wcodec *w);
uint64_t wcodec_chunk_count(const wcodec *w);

/* Chunk holding byte off of the presented file (O(log segments)).
 * @return 0, or -WCODEC_E_RANGE if off >= wcodec_size(w). */
int wcodec_chunk_find(const wcodec *w, uint64_t off, uint64_t *chunk);

/* Presented-file offset and decoded length of a chunk. */
int wcodec_chunk_extent(const wcodec *w, uint64_t chunk, uint64_t *off,
                        uint32_t *len);

/* Decode one chunk into dst (room for its decoded length), verified.
 * @return 0 or a negative error (CORRUPT, TRUNCATED, IO, RANGE). */
int wcodec_chunk_decode(wcodec *w, uint64_t chunk, void *dst);

/* ---- decode devices ------------------------------------------------------ */

typedef enum {
    WCODEC_DEVICE_CPU = 0,
    WCODEC_DEVICE_CUDA = 1,
    WCODEC_DEVICE_AUTO = 2, /* CUDA when usable, else CPU */
} wcodec_device;

/* 1 if this build has the CUDA backend and a usable GPU was found (the
 * first call probes the driver; binaries work where there is none). */
int wcodec_cuda_available(void);

/* Decode chunks [first, first + count) into dst, host memory laid out
 * contiguously (room for the sum of their decoded lengths). On CUDA, one
 * batch decodes on the GPU; any GPU failure falls back to the CPU for this
 * call (and is logged once to stderr). Every chunk is verified.
 * @return 0 or a negative error. */
int wcodec_decode_chunks(wcodec *w, uint64_t first, uint64_t count, void *dst,
                         wcodec_device dev);

/* Decode [off, off + len) of the presented file straight into device memory
 * dev_dst (a CUDA device pointer), without a host copy of the result.
 * @return bytes decoded, or a negative error (-WCODEC_E_NODEVICE without a
 *         GPU). */
ssize_t wcodec_pread_cuda(wcodec *w, void *dev_dst, size_t len, uint64_t off);

/* ---- description ---------------------------------------------------------
 * The presented file is a sequence of segments: the header; tensors, where
 * neighbouring tensors of one dtype share a segment (and its tables) when
 * that codes smaller; and runs of tiny tensors and gaps coded together. */

typedef struct {
    uint64_t offset;      /* in the presented file */
    uint64_t length;      /* decoded bytes */
    uint64_t packed;      /* payload bytes of its chunks */
    uint64_t first_chunk;
    uint64_t nchunks;
    const char *dtype;    /* safetensors dtype name, "" for non-tensor runs */
    const char *codec;    /* "raw", "zstd", "planes" or "joint" */
    char planes[9];       /* plane modes for "planes": 'r'aw 'c'onst 'a'ns;
                             "a7" for "joint" (symbols, packed 7 bits) */
    uint32_t raw_chunks;  /* chunks stored raw because coding did not pay */
} wcodec_segment_info;

uint32_t wcodec_segment_count(const wcodec *w);
int wcodec_describe_segment(const wcodec *w, uint32_t i,
                            wcodec_segment_info *si);

/* ---- what a file is, by content ------------------------------------------ */

typedef enum {
    WCODEC_KIND_OTHER = 0,       /* neither of the below */
    WCODEC_KIND_SAFETENSORS = 1, /* a safetensors file wcodec_pack_file
                                    accepts, with at least one tensor */
    WCODEC_KIND_CONTAINER = 2,   /* starts with the container magic (not
                                    otherwise checked: wcodec_open does) */
} wcodec_kind;

/* Classify the open file fd by its bytes, whatever its name: folder packs
 * find safetensors files this way, and unpack and the mount the
 * containers made of those not named .safetensors. Reads with pread (the
 * file offset is untouched) at most 8 + the header length bytes; a file
 * that is not regular is OTHER. name is used in error details.
 * @return a wcodec_kind, or a negative error (IO, NOMEM). */
int wcodec_probe_fd(int fd, const char *name);

/* ---- packing ------------------------------------------------------------ */

typedef struct {
    unsigned threads;     /* worker threads; 0 = number of online CPUs */
    uint32_t chunk_size;  /* decoded bytes per chunk; 0 = default (power of
                             two, 4 KiB .. 16 MiB) */
    int zstd_level;       /* level for header and non-tensor runs */
    int verify;           /* decode the result and compare before rename */
    int force;            /* replace an existing destination */
    /* Called from the packing thread as chunks are written. */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
} wcodec_pack_options;

#define WCODEC_DEFAULT_CHUNK_SIZE (256u * 1024u)

void wcodec_pack_options_init(wcodec_pack_options *o);

/* Pack the .safetensors file src into the container dst. The output is
 * written under a temporary name in dst's folder and renamed to dst only
 * when complete (and verified, if asked); it gets src's permission bits
 * and modification time. An existing dst that is not a regular file is
 * never replaced.
 * @return 0 or a negative error (ST_*, IO, NOSPACE, EXISTS, ...). */
int wcodec_pack_file(const char *src, const char *dst,
                     const wcodec_pack_options *o);

/* Write the presented file of container src to dst, checking every chunk
 * and the whole-file digest. A regular dst is written under a temporary
 * name and renamed when complete, with the container's permission bits and
 * modification time. An existing dst that is a FIFO, a character device or
 * a socket (a block device only with force) is written through, never
 * replaced: chunks go out as they are verified, so a failure there leaves
 * what was written (the call still fails).
 * @return 0 or a negative error (EXISTS, CORRUPT, DIGEST, IO, ...). */
int wcodec_unpack_file(const char *src, const char *dst, int force);

/* Write the presented file of container src through the open descriptor
 * fd (e.g. standard output; not closed), checked as wcodec_unpack_file. */
int wcodec_unpack_fd(const char *src, int fd);

/* Async-signal-safe: remove the temporary files of packs and unpacks in
 * progress. For SIGINT/SIGTERM handlers of programs using the library. */
void wcodec_remove_temporaries(void);

#ifdef __cplusplus
}
#endif

#endif
