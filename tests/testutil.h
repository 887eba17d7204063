/* testutil.h - helpers shared by the check_* unit tests: a deterministic
 * RNG, float format conversions for realistic tensor data, guarded buffers
 * that fault on any access past their end, scratch folders and a tiny
 * safetensors writer. */
#ifndef WC_TESTUTIL_H
#define WC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* ---- random numbers (splitmix64: reproducible on every host) ----------- */
uint64_t tu_rand(uint64_t *s);
double tu_unif(uint64_t *s);  /* [0, 1) */
double tu_gauss(uint64_t *s); /* N(0, 1) */
void tu_fill_random(uint64_t *s, uint8_t *p, size_t n);

/* ---- float conversions, round to nearest even --------------------------- */
uint16_t tu_f32_to_bf16(float f);
uint16_t tu_f32_to_f16(float f);
uint8_t tu_f32_to_e5m2(float f);
uint8_t tu_f32_to_e4m3(float f); /* "fn": no inf, saturates at 448 */

/* ---- tensor data ---------------------------------------------------------
 * kinds of content for tu_gen:
 *   REAL     what a checkpoint holds for that dtype (gaussian weights with
 *            per-row scales converted to the format, quantised ints, ids)
 *   SMALLINT values 0..7 (as the dtype's number)
 *   CONST    every element the same non-zero value
 *   ZERO     all bytes zero
 *   RANDOM   uniformly random bytes */
enum { TU_REAL, TU_SMALLINT, TU_CONST, TU_ZERO, TU_RANDOM, TU_KINDS };
extern const char *const tu_kind_name[TU_KINDS];
/* Fill n elements of dtype (enum wc_dtype) at dst. */
void tu_gen(int dtype, int kind, uint8_t *dst, size_t n, uint64_t *seed);

/* ---- guarded memory ------------------------------------------------------
 * n usable bytes that end exactly where an inaccessible page begins, so a
 * read or write past the end faults (the check fork turns that into a test
 * error). Contents start random-looking (0xA5). */
void *tu_guard_alloc(size_t n);
void tu_guard_free(void *p, size_t n);

/* ---- decoder paths --------------------------------------------------------
 * Tests run once per rANS path (WCODEC_SIMD=scalar|avx2|avx512, meson). If
 * the path asked for is not on this CPU, print a TAP skip and return 1: the
 * test then exits 0 instead of testing the fallback twice. */
int tu_simd_skip(void);

/* ---- files -------------------------------------------------------------- */
char *tu_tmpdir(void);                 /* fresh folder, malloc'd path */
void tu_rmrf(const char *path);        /* remove a folder tree */
char *tu_path(const char *dir, const char *name); /* malloc'd dir/name */
int tu_write_file(const char *path, const void *p, size_t n);
uint8_t *tu_read_file(const char *path, size_t *n); /* NULL if missing */
int tu_exists(const char *path);
/* Number of entries in dir other than . and .. */
int tu_count_entries(const char *dir);

/* ---- the corpus -----------------------------------------------------------
 * The .safetensors files of $WCODEC_CORPUS, else of
 * $WCODEC_SOURCE_ROOT/../shared/corpus: *dir gets the folder and *names
 * its file names in name order (both malloc'd; *names never NULL).
 * @return how many (0 where there is no corpus). */
int tu_corpus_files(char **dir, char ***names);

/* ---- XXH3-128 canonical digest of a buffer ------------------------------ */
void tu_xxh128(const void *p, size_t n, uint8_t out[16]);

/* ---- safetensors writer ---------------------------------------------------
 * A safetensors file: u64 LE header length, header text, data. */
uint8_t *tu_st_file(const char *header, size_t hlen, const void *data,
                    size_t dlen, size_t *out_len);

/* Growable string for building JSON headers. */
typedef struct {
    char *s;
    size_t len, cap;
} tu_str;
void tu_str_addf(tu_str *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tu_str_free(tu_str *b);

#endif
