/* bench_main.c - wcodec-bench: in-memory decode throughput of a container,
 * single thread, best of N passes (the payload is read through the page
 * cache, as the mount does). Not installed; used by scripts/bench-*.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "wcodec.h"

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("Usage: wcodec-bench FILE.wcodec [PASSES]\n"
               "Decode every chunk single-threaded PASSES times (default 5)\n"
               "and print: size packed ratio best_GBps median_GBps\n");
        return argc < 2 ? 2 : 0;
    }
    int passes = argc > 2 ? atoi(argv[2]) : 5;
    if (passes < 1)
        passes = 1;
    wcodec *w;
    int rc = wcodec_open(argv[1], &w);
    if (rc) {
        fprintf(stderr, "wcodec-bench: %s\n", wcodec_errdetail());
        return 1;
    }
    uint8_t *buf = malloc(wcodec_chunk_size(w));
    double *t = calloc((size_t)passes, sizeof *t);
    if (!buf || !t)
        return 1;
    for (int p = 0; p < passes; p++) {
        double t0 = cli_now();
        for (uint64_t k = 0; k < wcodec_chunk_count(w); k++)
            if ((rc = wcodec_chunk_decode(w, k, buf))) {
                fprintf(stderr, "wcodec-bench: %s\n", wcodec_errdetail());
                return 1;
            }
        t[p] = cli_now() - t0;
    }
    /* sort for best and median */
    for (int i = 0; i < passes; i++)
        for (int j = i + 1; j < passes; j++)
            if (t[j] < t[i]) {
                double x = t[i];
                t[i] = t[j];
                t[j] = x;
            }
    double sz = (double)wcodec_size(w);
    printf("%llu %llu %.4f %.3f %.3f\n", (unsigned long long)wcodec_size(w),
           (unsigned long long)wcodec_packed_size(w),
           (double)wcodec_packed_size(w) / sz, sz / t[0] / 1e9,
           sz / t[passes / 2] / 1e9);
    free(buf);
    free(t);
    wcodec_close(w);
    return 0;
}
