/* mount_main.c - wcodec-mount: option parsing and the session's life
 * (mount, daemonize, serve, unmount). The file system is in mount_ops.c,
 * the chunk cache in cache.c. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "mount_io.h"
#include "mount_log.h"
#include "mount_ops.h"
#include "wcodec.h"

/* The kernel reads ahead on a FUSE mount by 128 KiB (its init offer caps
 * what the daemon may ask for), so a sequential reader has one or two
 * 128 KiB requests in flight and waits on each round trip: measured here,
 * 0.6-0.7 GiB/s cold. With 1 MiB (the largest request), 0.9-1.0. Only
 * root may raise it, through the mount's bdi in sysfs; the bdi is named
 * by the MAJ:MIN that /proc/self/mountinfo gives for the mount point. */
#define MOUNT_KERNEL_READAHEAD (1u << 20)

static void mount_usage(FILE *f)
{
    fprintf(f,
"Usage: wcodec-mount [OPTIONS] SRC MNT\n"
"Mount the folder SRC read-only at MNT: every NAME.wcodec container in it\n"
"appears as NAME.safetensors with its original size and bytes, decoded on\n"
"demand; every other file and subfolder appears as it is.\n"
"\n"
"  -o cache_size=SIZE       memory for decoded chunks (default 256M;\n"
"                           suffixes K, M, G)\n"
"  -o readahead=SIZE        largest read-ahead window of a sequential reader\n"
"                           (default 16M; 0 turns read-ahead off)\n"
"  -o prefetch_threads=N    threads decoding ahead of readers (default:\n"
"                           4 per CPU, at most 32)\n"
"  -o source_io=MODE        read containers with direct I/O, past the page\n"
"                           cache (direct, the default), or through it\n"
"                           (buffered)\n"
"  -o direct_io             serve read() of containers past the kernel's\n"
"                           page cache: faster cold reads, but no page\n"
"                           cache for a second read; mmap goes through the\n"
"                           page cache (Linux 6.6 and later; before, it\n"
"                           fails with ENODEV)\n"
"  -o kernel_readahead=SIZE\n"
"                           the kernel's read-ahead on this mount, set when\n"
"                           run as root (default 1M; 0 leaves the kernel's)\n"
"  -o device=DEV, --device=DEV\n"
"                           decode on auto, cpu or cuda (default auto: a\n"
"                           usable GPU, else the CPU)\n"
"  -o notify_fd=N, --notify-fd=N\n"
"                           write one byte to file descriptor N once mounted\n"
"                           and close it\n"
"  -o nonempty              mount over a folder that holds files (hidden\n"
"                           while mounted); without it, refused\n"
"  -o OPT[,OPT...]          other mount options, e.g. allow_other,\n"
"                           allow_root, fsname=NAME (see mount.fuse3(8));\n"
"                           ro and default_permissions are always set\n"
"  -o max_threads=N         most threads serving requests (default 10)\n"
"  -o clone_fd              one /dev/fuse descriptor per serving thread\n"
"  -f                       stay in the foreground and log to stderr\n"
"                           (default: run as a daemon and log to syslog)\n"
"  -d                       print every request (debug; implies -f)\n"
"  -s                       serve requests on one thread\n"
"  -h, --help               show this help and exit\n"
"  -V, --version            show the version and exit\n"
"\n"
"Files appear with their permission bits in SRC less every write bit.\n"
"MNT must be a folder that is not already a mount point.\n"
"Unmount with fusermount3 -u MNT, or SIGINT or SIGTERM to the process.\n"
"Exit status: 0 unmounted cleanly, 1 error (cannot mount, MNT already a\n"
"mount point or not empty, no GPU for --device=cuda), 2 usage error.\n");
}

/* Everything the command line sets that libfuse does not. */
typedef struct {
    char *src;
    char *mnt;
    int extra_operands;
    char *cache_size;
    char *readahead;
    char *kernel_readahead;
    char *device;
    char *source_io;
    unsigned prefetch_threads;
    int notify_fd;
    int nonempty; /* ours: libfuse 3 dropped the option and its check */
    int direct_io;
    int show_help;
    int show_version;
} mount_opts;

enum { MOUNT_KEY_HELP, MOUNT_KEY_VERSION };

#define MOUNT_OPT(t, field) {t, offsetof(mount_opts, field), 1}
static const struct fuse_opt mount_opt_spec[] = {
    MOUNT_OPT("cache_size=%s", cache_size),
    MOUNT_OPT("readahead=%s", readahead),
    MOUNT_OPT("kernel_readahead=%s", kernel_readahead),
    MOUNT_OPT("prefetch_threads=%u", prefetch_threads),
    MOUNT_OPT("source_io=%s", source_io),
    MOUNT_OPT("device=%s", device),
    MOUNT_OPT("--device=%s", device),
    MOUNT_OPT("notify_fd=%d", notify_fd),
    MOUNT_OPT("--notify-fd=%d", notify_fd),
    MOUNT_OPT("nonempty", nonempty),
    MOUNT_OPT("direct_io", direct_io),
    FUSE_OPT_KEY("-h", MOUNT_KEY_HELP),
    FUSE_OPT_KEY("--help", MOUNT_KEY_HELP),
    FUSE_OPT_KEY("-V", MOUNT_KEY_VERSION),
    FUSE_OPT_KEY("--version", MOUNT_KEY_VERSION),
    FUSE_OPT_END,
};

/* SRC and MNT are taken here (so that a missing MNT is an error, not a
 * usage error); every other option libfuse knows is left for
 * fuse_parse_cmdline() and fuse_session_new(). */
static int mount_opt_proc(void *data, const char *arg, int key,
                          struct fuse_args *outargs)
{
    (void)outargs;
    mount_opts *o = data;
    switch (key) {
    case MOUNT_KEY_HELP: o->show_help = 1; return 0;
    case MOUNT_KEY_VERSION: o->show_version = 1; return 0;
    case FUSE_OPT_KEY_NONOPT: {
        char **slot = !o->src ? &o->src : !o->mnt ? &o->mnt : NULL;
        if (!slot) {
            o->extra_operands = 1;
            return 0;
        }
        *slot = strdup(arg);
        return *slot ? 0 : -1;
    }
    default: return 1;
    }
}

/* Is a GPU usable? Asked in a child process: the CUDA driver does not
 * survive fork(), and daemon mode forks after this check. */
static int mount_probe_cuda(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(wcodec_cuda_available() ? 0 : 1);
    if (pid < 0)
        return 0;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Check and convert our options. @return 0, or 2 (usage error) / 1. */
static int mount_config(const mount_opts *o, cache_config *cfg,
                        uint64_t *kernel_ra, int *direct)
{
    uint64_t v;
    cache_config_init(cfg);
    /* A prefetch thread waits on its (direct, synchronous) read about as
     * long as it decodes, and several streams each want reads in flight:
     * four per CPU kept both the disk and the CPUs busy with 4 readers. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->prefetch_threads = ncpu < 1 ? 4 : ncpu > 8 ? 32 : 4 * (unsigned)ncpu;
    *direct = 1;
    if (o->source_io) {
        if (!strcmp(o->source_io, "buffered")) {
            *direct = 0;
        } else if (strcmp(o->source_io, "direct")) {
            fprintf(stderr, "wcodec-mount: source_io: expected direct or "
                            "buffered, not '%s'\n", o->source_io);
            return 2;
        }
    }
    if (o->cache_size) {
        if (cli_parse_size(o->cache_size, &v) || v < (1u << 20)) {
            fprintf(stderr, "wcodec-mount: cache_size: expected a size of at "
                            "least 1M, e.g. 256M or 2G\n");
            return 2;
        }
        cfg->capacity = v;
    }
    if (o->readahead) {
        if (cli_parse_size(o->readahead, &v) || v > cfg->capacity / 2) {
            fprintf(stderr, "wcodec-mount: readahead: expected a size up to "
                            "half of cache_size, e.g. 16M\n");
            return 2;
        }
        cfg->readahead = v;
    }
    *kernel_ra = MOUNT_KERNEL_READAHEAD;
    if (o->kernel_readahead &&
        (cli_parse_size(o->kernel_readahead, kernel_ra) ||
         *kernel_ra > (1ull << 30))) {
        fprintf(stderr, "wcodec-mount: kernel_readahead: expected a size up "
                        "to 1G, e.g. 1M, or 0\n");
        return 2;
    }
    if (o->prefetch_threads != UINT_MAX) {
        if (o->prefetch_threads > 64) {
            fprintf(stderr, "wcodec-mount: prefetch_threads: expected 0..64\n");
            return 2;
        }
        cfg->prefetch_threads = o->prefetch_threads;
    }
    const char *dev = o->device ? o->device : "auto";
    if (!strcmp(dev, "auto")) {
        cfg->device = WCODEC_DEVICE_AUTO;
    } else if (!strcmp(dev, "cpu")) {
        cfg->device = WCODEC_DEVICE_CPU;
    } else if (!strcmp(dev, "cuda")) {
        cfg->device = WCODEC_DEVICE_CUDA;
        if (!mount_probe_cuda()) {
            fprintf(stderr, "wcodec-mount: --device=cuda: no usable CUDA GPU "
                            "(no GPU found, or this build has no CUDA "
                            "backend); use --device=auto or cpu\n");
            return 1;
        }
    } else {
        fprintf(stderr, "wcodec-mount: device: expected auto, cpu or cuda, "
                        "not '%s'\n", dev);
        return 2;
    }
    return 0;
}

/* Add the options every mount gets: ours first so the user's fsname or
 * subtype win, "ro" last so nothing makes the mount writable. */
static int mount_default_args(struct fuse_args *args, const char *src)
{
    /* The absolute source in /proc/mounts, as mount(8) users expect. */
    char *abs = realpath(src, NULL), *fsname = NULL;
    int rc = fuse_opt_add_opt_escaped(&fsname, abs ? abs : src);
    free(abs);
    if (!rc) {
        size_t n = strlen(fsname) + 16;
        char *arg = malloc(n);
        rc = -1;
        if (arg) {
            snprintf(arg, n, "-ofsname=%s", fsname);
            rc = fuse_opt_insert_arg(args, 1, arg);
            free(arg);
        }
    }
    free(fsname);
    if (!rc)
        rc = fuse_opt_insert_arg(args, 1,
                                 "-osubtype=wcodec,default_permissions");
    if (!rc)
        rc = fuse_opt_add_arg(args, "-oro");
    return rc;
}

/* Undo mountinfo's octal escapes (\040 for a space, ...) in place. */
static void mount_unescape(char *s)
{
    char *o = s;
    for (; *s; s++, o++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
            s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *o = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o = *s;
        }
    }
    *o = 0;
}

/* Set the kernel's read-ahead of the mount at mnt_abs (see
 * MOUNT_KERNEL_READAHEAD). Failure is quiet unless the option was given:
 * without root it is expected. */
static void mount_set_kernel_readahead(const char *mnt_abs, uint64_t bytes,
                                       int asked)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[8192], dev[64] = "";
    while (f && fgets(line, sizeof line, f)) {
        /* id parent MAJ:MIN root mountpoint ...; the last match is ours. */
        char majmin[64], point[4096];
        if (sscanf(line, "%*s %*s %63s %*s %4095s", majmin, point) != 2)
            continue;
        mount_unescape(point);
        if (!strcmp(point, mnt_abs))
            snprintf(dev, sizeof dev, "%s", majmin);
    }
    if (f)
        fclose(f);
    char path[128];
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    FILE *w = *dev ? fopen(path, "w") : NULL;
    int ok = w && fprintf(w, "%llu\n", (unsigned long long)(bytes >> 10)) > 0;
    if (w && fclose(w))
        ok = 0;
    if (!ok && asked)
        mount_log(LOG_WARNING, "kernel_readahead: cannot set %s (%s); the "
                  "kernel's read-ahead stays", *dev ? path : "the mount's bdi",
                  *dev ? strerror(errno) : "mount not found");
}

/* Is mnt_abs (st its stat) a mount point already? Listed as one in
 * mountinfo (the last listing is the one on top: its type and source go
 * to what), or on another device than its parent. */
static int mount_is_mountpoint(const char *mnt_abs, const struct stat *st,
                               char *what, size_t wlen)
{
    int found = 0;
    snprintf(what, wlen, "another file system");
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[8192];
    while (f && fgets(line, sizeof line, f)) {
        /* id parent MAJ:MIN root mountpoint opts ... - type source opts */
        char point[4096], type[256], source[4096];
        const char *sep = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 || !sep ||
            sscanf(sep + 3, "%255s %4095s", type, source) != 2)
            continue;
        mount_unescape(point);
        if (strcmp(point, mnt_abs))
            continue;
        mount_unescape(source);
        snprintf(what, wlen, "%s (%s)", source, type);
        found = 1;
    }
    if (f)
        fclose(f);
    char parent[PATH_MAX + 4];
    struct stat ps;
    snprintf(parent, sizeof parent, "%s/..", mnt_abs);
    if (!found && strcmp(mnt_abs, "/") && !stat(parent, &ps) &&
        ps.st_dev != st->st_dev)
        found = 1;
    return found;
}

/* Does folder path hold anything? (-1: cannot read it.) */
static int mount_dir_nonempty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    int any = 0;
    while (!any && (e = readdir(d)))
        any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return any;
}

/* Many containers and pass-through files may be open at once. */
static void mount_raise_nofile(void)
{
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts co;
    mount_opts o;
    cache_config cfg;
    mount_fs *fs = NULL;
    struct fuse_session *se = NULL;
    char *mnt_abs = NULL;
    int ret = 2;

    memset(&co, 0, sizeof co);
    memset(&o, 0, sizeof o);
    o.prefetch_threads = UINT_MAX;
    o.notify_fd = -1;
    if (fuse_opt_parse(&args, &o, mount_opt_spec, mount_opt_proc)) {
        fprintf(stderr, "Try 'wcodec-mount --help'.\n");
        goto out_args;
    }
    /* Before fuse_parse_cmdline(), which adds a subtype of its own. */
    if (o.src && mount_default_args(&args, o.src)) {
        fprintf(stderr, "wcodec-mount: out of memory\n");
        goto out_args;
    }
    if (fuse_parse_cmdline(&args, &co)) {
        fprintf(stderr, "Try 'wcodec-mount --help'.\n");
        goto out_args;
    }
    if (o.show_help) {
        mount_usage(stdout);
        ret = 0;
        goto out_args;
    }
    if (o.show_version) {
        printf("wcodec-mount %s (libfuse %s)\n", WCODEC_VERSION_STRING,
               fuse_pkgversion());
        ret = 0;
        goto out_args;
    }
    if (!o.src || !o.mnt || o.extra_operands) {
        mount_usage(stderr);
        goto out_args;
    }
    uint64_t kernel_ra;
    int direct;
    if ((ret = mount_config(&o, &cfg, &kernel_ra, &direct)))
        goto out_args;
    ret = 1;
    struct stat mst;
    if (stat(o.mnt, &mst)) {
        fprintf(stderr, "wcodec-mount: %s: %s\n", o.mnt, strerror(errno));
        goto out_args;
    }
    if (!S_ISDIR(mst.st_mode)) {
        fprintf(stderr, "wcodec-mount: %s: not a folder\n", o.mnt);
        goto out_args;
    }
    /* Resolved now: once mounted, looking at MNT needs the serving loop. */
    mnt_abs = realpath(o.mnt, NULL);
    /* A second mount would hide the first, which then cannot be unmounted
     * in order; files in MNT would be hidden while mounted. */
    char what[4400];
    if (mnt_abs && mount_is_mountpoint(mnt_abs, &mst, what, sizeof what)) {
        fprintf(stderr, "wcodec-mount: %s: already a mount point, of %s; "
                        "unmount it first or choose another folder\n",
                o.mnt, what);
        goto out_args;
    }
    if (!o.nonempty && mount_dir_nonempty(o.mnt) > 0) {
        fprintf(stderr, "wcodec-mount: %s: not empty (its files would be "
                        "hidden while mounted); use -o nonempty to mount "
                        "over them\n", o.mnt);
        goto out_args;
    }
    mount_raise_nofile();
    if (mount_fs_create(o.src, &fs))
        goto out_args;
    mount_fs_set_direct(fs, direct);
    mount_fs_set_direct_io(fs, o.direct_io);
    se = fuse_session_new(&args, &mount_ops, sizeof mount_ops, fs);
    if (!se) {
        ret = 2; /* libfuse said which option it did not know */
        goto out_fs;
    }
    /* libfuse leaves ignored signals ignored, and a shell starts background
     * jobs with SIGINT ignored: SIGINT and SIGTERM must always unmount. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (fuse_set_signal_handlers(se))
        goto out_session;
    if (fuse_session_mount(se, o.mnt))
        goto out_signals;
    /* Only where the option needs it: the INIT flag for shared mmap. */
    if (o.direct_io && MOUNT_IO_SHIM)
        mount_io_attach(se);
    if (kernel_ra && mnt_abs) {
        mount_set_kernel_readahead(mnt_abs, kernel_ra,
                                   o.kernel_readahead != NULL);
        mount_fs_set_max_readahead(fs, (unsigned)kernel_ra);
    }
    if (fuse_daemonize(co.foreground))
        goto out_unmount;
    if (!co.foreground)
        mount_log_syslog();
    if (mount_fs_start(fs, &cfg))
        goto out_unmount;
    if (o.notify_fd >= 0) {
        /* Mounted: requests queue in the kernel until the loop serves. */
        if (write(o.notify_fd, "m", 1) != 1)
            mount_log(LOG_WARNING, "--notify-fd=%d: %s", o.notify_fd,
                      strerror(errno));
        close(o.notify_fd);
    }

    int rc;
    if (co.singlethread) {
        rc = fuse_session_loop(se);
    } else {
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        if (!lc) {
            mount_log(LOG_ERR, "out of memory");
            goto out_unmount;
        }
        fuse_loop_cfg_set_clone_fd(lc, (unsigned)co.clone_fd);
        if (co.max_idle_threads != UINT_MAX) /* UINT_MAX: not given */
            fuse_loop_cfg_set_idle_threads(lc, co.max_idle_threads);
        fuse_loop_cfg_set_max_threads(lc, co.max_threads);
        rc = fuse_session_loop_mt(se, lc);
        fuse_loop_cfg_destroy(lc);
    }
    /* The loop returns the signal that stopped it: a requested, clean stop. */
    ret = rc == 0 || rc == SIGINT || rc == SIGTERM || rc == SIGHUP ? 0 : 1;
    if (ret)
        mount_log(LOG_ERR, "session ended with an error (%d)", rc);

out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
out_fs:
    mount_fs_destroy(fs);
out_args:
    free(o.src);
    free(o.mnt);
    free(o.cache_size);
    free(o.readahead);
    free(o.kernel_readahead);
    free(o.source_io);
    free(mnt_abs);
    free(o.device);
    free(co.mountpoint);
    fuse_opt_free_args(&args);
    return ret;
}
