/* unpack_main.c - wcodec-unpack: containers back to the original
 * .safetensors files, byte for byte, digest checked. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "resume.h"
#include "wcodec.h"

static void usage(FILE *f)
{
    fprintf(f,
"Usage: wcodec-unpack [OPTIONS] SRC DST\n"
"Write the original .safetensors file of a .wcodec container, or turn a\n"
"packed folder back into the original folder (NAME.wcodec becomes\n"
"NAME.safetensors, a container under another name keeps its name, every\n"
"other file and symbolic link is copied as it is, hard links stay links).\n"
"Every chunk checksum and the whole-file digest are checked.\n"
"\n"
"A regular file is written under a temporary name and renamed when\n"
"complete, with the container's permission bits. A DST that is a FIFO, a\n"
"character device or a socket is written through, never replaced (a block\n"
"device only with --force); DST - writes to standard output. A folder is\n"
"built as DST.partial and renamed to DST when every file is done; run the\n"
"same command again to resume an interrupted one.\n"
"\n"
"  -f, --force          replace existing output files\n"
"  -q, --quiet          no per-file lines\n"
"  -h, --help           show this help and exit\n"
"  -V, --version        show the version and exit\n"
"\n"
"Exit status: 0 success, 1 a file failed, 2 usage error.\n");
}

typedef struct {
    cli_partial *part; /* folder mode */
    int force, quiet, failed, kept;
    cli_inodes inodes; /* hard links: the first name of each file */
} unpack_ctx;

static int file_error(unpack_ctx *c, int rc)
{
    fprintf(stderr, "wcodec-unpack: %s\n", wcodec_errdetail());
    c->failed = 1;
    return rc == -WCODEC_E_NOSPACE ? rc : 0;
}

/* Is src a container by content (a pack keeps a safetensors file's name
 * unless it is NAME.safetensors)? @return 1, 0, or -1 with the reason
 * printed. */
static int is_container(const char *src)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "wcodec-unpack: %s: %s\n", src, strerror(errno));
        return -1;
    }
    int kind = wcodec_probe_fd(fd, src);
    close(fd);
    if (kind < 0)
        fprintf(stderr, "wcodec-unpack: %s\n", wcodec_errdetail());
    return kind < 0 ? -1 : kind == WCODEC_KIND_CONTAINER;
}

static int unpack_one(unpack_ctx *c, const char *src, const char *dst,
                      const char *rel)
{
    /* In a resumed folder, an output the interrupted run finished from this
     * same container is kept. */
    struct stat st;
    if (c->part && cli_partial_done(c->part, rel) &&
        cli_container_matches(dst, src, 0) && !stat(src, &st) &&
        !chmod(dst, st.st_mode & 0777)) {
        c->kept++;
        if (!c->quiet)
            printf("%s -> %s, kept: unpacked by the interrupted run\n", src,
                   dst);
        return 0;
    }
    int rc = c->part ? wcodec_unpack_file(src, dst, 1)
                     : !strcmp(dst, "-") ? wcodec_unpack_fd(src, STDOUT_FILENO)
                                         : wcodec_unpack_file(src, dst, c->force);
    if (rc) {
        fprintf(stderr, "wcodec-unpack: %s\n", wcodec_errdetail());
        c->failed = 1;
        return rc == -WCODEC_E_NOSPACE ? rc : 0;
    }
    if (c->part)
        cli_partial_mark(c->part, rel);
    /* Standard output carries the file: nothing else goes there. */
    if (!c->quiet && strcmp(dst, "-"))
        printf("%s -> %s\n", src, dst);
    return 0;
}

static int tree_cb(void *ctx, const char *src, const char *rel,
                   const struct stat *st)
{
    unpack_ctx *c = ctx;
    char orel[4096], dst[8200];
    if (S_ISDIR(st->st_mode)) {
        if (!cli_tree_dir(c->part, src, rel))
            return 0;
        c->failed = 1;
        return -1;
    }
    if (S_ISLNK(st->st_mode)) {
        snprintf(dst, sizeof dst, "%s/%s", c->part->part, rel);
        int rc = cli_copy_symlink(src, dst, 1);
        return rc ? file_error(c, rc) : 0;
    }
    int container = cli_has_suffix(rel, ".wcodec");
    if (container)
        snprintf(orel, sizeof orel, "%.*s.safetensors",
                 (int)(strlen(rel) - strlen(".wcodec")), rel);
    else
        snprintf(orel, sizeof orel, "%s", rel);
    snprintf(dst, sizeof dst, "%s/%s", c->part->part, orel);
    int tag = 0;
    const char *first = cli_inodes_seen(&c->inodes, st, dst, &tag);
    if (first) {
        int rc = cli_hardlink(first, dst, 1);
        return rc ? file_error(c, rc) : 0;
    }
    if (!container && (container = is_container(src)) < 0) {
        c->failed = 1;
        return 0;
    }
    if (container)
        return unpack_one(c, src, dst, orel);
    int rc = cli_tree_copy(c->part, src, rel);
    if (rc) {
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
        if (!strcmp(dst, "-")) {
            fprintf(stderr, "wcodec-unpack: %s: a folder cannot go to standard "
                            "output (DST - takes one container)\n", src);
            return 2;
        }
        char opts[64];
        cli_partial part;
        snprintf(opts, sizeof opts, "wcodec-unpack %s", WCODEC_VERSION_STRING);
        if (cli_partial_open(&part, "wcodec-unpack", dst, c.force, opts)) {
            cli_partial_close(&part, 1);
            return 1;
        }
        static char note[4400];
        snprintf(note, sizeof note, "wcodec-unpack: interrupted: %s is not "
                 "complete; run the same command again to resume\n", part.part);
        cli_signals_note(note);
        c.part = &part;
        if (cli_partial_dir_mode(&part, "", st.st_mode) ||
            cli_walk_skip(src, part.part, 0, tree_cb, &c))
            c.failed = 1;
        cli_inodes_free(&c.inodes);
        if (!c.failed && cli_partial_finish(&part))
            c.failed = 1;
        cli_partial_close(&part, !c.failed);
        cli_signals_note(NULL);
        return c.failed ? 1 : 0;
    }
    char dbuf[4096];
    if (!strcmp(dst, "-") && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "wcodec-unpack: standard output is a terminal: "
                        "redirect it, or name an output file\n");
        return 2;
    }
    if (strcmp(dst, "-"))
        dst = cli_dst_file(src, dst, ".wcodec", ".safetensors", dbuf,
                           sizeof dbuf);
    unpack_one(&c, src, dst, NULL);
    return c.failed ? 1 : 0;
}
