/* unpack_main.c - wcodec-unpack: containers back to the original
 * .safetensors files, byte for byte, digest checked. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "wcodec.h"

static void usage(FILE *f)
{
    fprintf(f,
"Usage: wcodec-unpack [OPTIONS] SRC DST\n"
"Write the original .safetensors file of a .wcodec container, or turn a\n"
"packed folder back into the original folder (.wcodec become .safetensors,\n"
"every other file is copied). Every chunk checksum and the whole-file\n"
"digest are checked.\n"
"\n"
"  -f, --force          replace existing output files\n"
"  -q, --quiet          no per-file lines\n"
"  -h, --help           show this help and exit\n"
"  -V, --version        show the version and exit\n"
"\n"
"Exit status: 0 success, 1 a file failed, 2 usage error.\n");
}

typedef struct {
    const char *dst_root;
    int force, quiet, failed;
} unpack_ctx;

static int unpack_one(unpack_ctx *c, const char *src, const char *dst)
{
    int rc = wcodec_unpack_file(src, dst, c->force);
    if (rc) {
        fprintf(stderr, "wcodec-unpack: %s\n", wcodec_errdetail());
        c->failed = 1;
        return rc == -WCODEC_E_NOSPACE ? rc : 0;
    }
    if (!c->quiet)
        printf("%s -> %s\n", src, dst);
    return 0;
}

static int tree_cb(void *ctx, const char *src, const char *rel, int is_dir,
                   uint64_t size)
{
    (void)size;
    unpack_ctx *c = ctx;
    char dst[4096];
    if (is_dir) {
        snprintf(dst, sizeof dst, "%s/%s", c->dst_root, rel);
        if (mkdir(dst, 0777) && !(errno == EEXIST && c->force)) {
            fprintf(stderr, "wcodec-unpack: %s: %s\n", dst, strerror(errno));
            c->failed = 1;
            return -1;
        }
        return 0;
    }
    if (cli_has_suffix(rel, ".wcodec")) {
        snprintf(dst, sizeof dst, "%s/%.*s.safetensors", c->dst_root,
                 (int)(strlen(rel) - strlen(".wcodec")), rel);
        return unpack_one(c, src, dst);
    }
    snprintf(dst, sizeof dst, "%s/%s", c->dst_root, rel);
    int rc = cli_copy_file(src, dst, c->force);
    if (rc) {
        fprintf(stderr, "wcodec-unpack: %s\n", wcodec_errdetail());
        c->failed = 1;
        return rc == -WCODEC_E_NOSPACE ? rc : 0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"force", no_argument, 0, 'f'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    unpack_ctx c = {0};
    int opt;
    while ((opt = getopt_long(argc, argv, "fqhV", lo, NULL)) != -1) {
        switch (opt) {
        case 'f': c.force = 1; break;
        case 'q': c.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("wcodec-unpack %s\n", WCODEC_VERSION_STRING); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    const char *src = argv[optind], *dst = argv[optind + 1];
    cli_signals();
    struct stat st;
    if (stat(src, &st)) {
        fprintf(stderr, "wcodec-unpack: %s: %s\n", src, strerror(errno));
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        if (cli_dst_folder("wcodec-unpack", dst, c.force))
            return 1;
        c.dst_root = dst;
        if (cli_walk_skip(src, dst, tree_cb, &c))
            c.failed = 1;
        return c.failed ? 1 : 0;
    }
    char dbuf[4096];
    dst = cli_dst_file(src, dst, ".wcodec", ".safetensors", dbuf, sizeof dbuf);
    unpack_one(&c, src, dst);
    return c.failed ? 1 : 0;
}
