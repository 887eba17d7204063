/* targets.h - the fuzz targets, shared by the libFuzzer binaries
 * (fuzz_entry.c, built with clang -fsanitize=fuzzer) and the regression
 * driver (replay.c, a plain main() run by meson test with any compiler).
 *
 * Each target takes arbitrary bytes and must neither crash nor leak; it
 * also checks properties no input may break, and abort()s (a finding) when
 * one is broken:
 *   fz_container   wcodec_open_fd on a memfd holding the bytes, then preads
 *                  of a few ranges, chunk decodes and wcodec_verify. Every
 *                  read that succeeds is checked against the chunk
 *                  checksums read straight from the input bytes (not from
 *                  the library's tables), and every failure must carry a
 *                  known error code and a detail naming the file. Each
 *                  input runs twice: as it is, and with its superblock and
 *                  index checksums recomputed (reaching the checks behind).
 *   fz_rans        rans_decode with a table derived from the first bytes;
 *                  a block that decodes must re-encode to itself (rANS is
 *                  a bijection on valid blocks), and the fused 16-bit
 *                  decode+merge and the fused JOINT decode must agree
 *                  with decode then merge.
 *   fz_chunk       wc_segcodec_params_parse + wc_chunk_decode for the codec
 *                  and dtype named by the first bytes; buffers are exactly
 *                  the sizes the reader gives. A PLANES or JOINT payload
 *                  that decodes must re-encode to itself byte for byte.
 *   fz_safetensors wc_st_header_len + wc_st_parse; a parse that succeeds
 *                  must describe tensors that are sorted, inside the data
 *                  region, non-overlapping and of a known dtype.
 * Input layouts of fz_rans and fz_chunk are described in targets.c;
 * mkseeds.c writes seeds in those layouts.
 */
#ifndef WC_FUZZ_TARGETS_H
#define WC_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

int fz_container(const uint8_t *d, size_t n);
int fz_rans(const uint8_t *d, size_t n);
int fz_chunk(const uint8_t *d, size_t n);
int fz_safetensors(const uint8_t *d, size_t n);

/* Layout constants shared with mkseeds.c. */
#define FZ_RANS_MAXSYM 64         /* (symbol, weight) pairs in the table */
#define FZ_CHUNK_HDR 8            /* codec, dtype, u16 params, u32 bytes */
#define FZ_CHUNK_CODECS 5         /* codec byte modulus: 4 is unknown */
#define FZ_CHUNK_MAX_BYTES (1u << 20)

#endif
