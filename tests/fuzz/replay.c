/* replay.c - regression driver for the fuzz targets, built with any
 * compiler and run by meson test: every file under the folders named on
 * the command line goes through every target (a crasher kept as a golden
 * file stays a test forever). Arguments: folders or files. A target that
 * finds a broken property abort()s, which fails the test; -v names each
 * file before it runs (meson test runs it with -v, so the log names the
 * input that failed).
 *
 *   replay [-v] PATH...
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rans.h"
#include "targets.h"

static int verbose;
static unsigned long nfiles;

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (!b) {
            fclose(f);
            return NULL;
        }
        size_t r = fread(b + len, 1, cap - len, f);
        len += r;
        if (len < cap)
            break;
        cap *= 2;
        uint8_t *nb = realloc(b, cap);
        if (!nb)
            free(b);
        b = nb;
    }
    fclose(f);
    /* Exact-size copy: an over-read of the input is an over-read of the
     * heap block, which sanitizer builds catch. */
    uint8_t *e = malloc(len ? len : 1);
    if (e)
        memcpy(e, b, len);
    free(b);
    *n = len;
    return e;
}

static int run_file(const char *path)
{
    size_t n;
    uint8_t *d = slurp(path, &n);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (verbose)
        fprintf(stderr, "%s (%zu bytes)\n", path, n);
    fz_container(d, n);
    fz_rans(d, n);
    fz_chunk(d, n);
    fz_safetensors(d, n);
    free(d);
    nfiles++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? run_file(path) : 0;
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        if (nn == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names)
                abort();
        }
        size_t l = strlen(path) + strlen(e->d_name) + 2;
        names[nn] = malloc(l);
        if (!names[nn])
            abort();
        snprintf(names[nn++], l, "%s/%s", path, e->d_name);
    }
    closedir(dir);
    qsort(names, nn, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < nn; i++) {
        rc |= run_path(names[i]);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0, i = 1;
    /* run once per rANS path (meson); a path this CPU lacks is a skip */
    const char *simd = getenv("WCODEC_SIMD");
    if (simd && *simd &&
        !rans_simd_supported(rans_simd_from_name(simd))) {
        fprintf(stderr, "replay: WCODEC_SIMD=%s: not on this CPU, skipped\n",
                simd);
        return 77;
    }
    if (i < argc && !strcmp(argv[i], "-v")) {
        verbose = 1;
        i++;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: replay [-v] PATH...\n");
        return 2;
    }
    for (; i < argc; i++)
        rc |= run_path(argv[i]);
    fprintf(stderr, "replay: %lu files through 4 targets%s\n", nfiles,
            rc ? ", with errors" : "");
    if (!nfiles)
        return 1;
    return rc;
}
