/* testgen.h - write synthetic .safetensors files for the GPU tests and the
 * GPU benchmark (plain C, no dependencies; scripts/wcodec-genmodel is the
 * richer generator but needs numpy, which a GPU box may not have). */
#ifndef WC_TESTGEN_H
#define WC_TESTGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    WC_TG_REAL = 0,   /* trained-looking: per-row scales, outliers; ints small */
    WC_TG_CONST = 1,  /* one value everywhere (CONST planes) */
    WC_TG_RANDOM = 2, /* uniform random bytes (RAW planes / raw chunks) */
    WC_TG_BYTES = 3,  /* per byte of the element (least significant first),
                         from `bytes`: 's' skewed (mostly 0), 'r' uniform,
                         'c' constant: makes any mix of RANS/RAW/CONST planes */
};

typedef struct {
    const char *name;
    const char *dtype; /* safetensors dtype name */
    uint64_t nelem;
    int pattern;
    const char *bytes; /* WC_TG_BYTES: one letter per byte */
} wc_tg_tensor;

/* Write a safetensors file with these tensors (1-D shapes). Data is
 * generated and written in pieces, so multi-GB files need little memory.
 * Returns 0 or -errno. */
int wc_tg_write(const char *path, const wc_tg_tensor *t, size_t n,
                uint64_t seed);

/* Every safetensors dtype, each as REAL, CONST and RANDOM tensors, with
 * sizes that leave partial last chunks of odd element counts, plus small
 * tensors (which the packer codes with zstd). scale multiplies the sizes. */
int wc_tg_all_dtypes(const char *path, unsigned scale, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif
