/* resume.c - resumable folder outputs (see resume.h). */
#include "resume.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli.h"
#include "wcodec.h"

/* XXH3-128 of a whole file in canonical form; 0, or -1 if unreadable. */
static int cli_digest_file(int fd, uint8_t out[16])
{
    size_t cap = 4u << 20;
    uint8_t *buf = malloc(cap);
    XXH3_state_t *h = XXH3_createState();
    int rc = buf && h ? 0 : -1;
    if (!rc)
        XXH3_128bits_reset(h);
    while (!rc) {
        ssize_t r = read(fd, buf, cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -1 : 0;
            break;
        }
        XXH3_128bits_update(h, buf, (size_t)r);
    }
    if (!rc) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
        memcpy(out, c.digest, 16);
    }
    XXH3_freeState(h);
    free(buf);
    return rc;
}

static int cli_same_mtime(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int cli_container_matches(const char *plain, const char *container,
                          uint32_t chunk_size)
{
    struct stat ps, cs;
    int fd = open(plain, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    wcodec *w = NULL;
    int yes = !fstat(fd, &ps) && S_ISREG(ps.st_mode) &&
              !stat(container, &cs) && S_ISREG(cs.st_mode) &&
              cli_same_mtime(&ps, &cs) && !wcodec_open(container, &w) &&
              wcodec_size(w) == (uint64_t)ps.st_size &&
              (!chunk_size || wcodec_chunk_size(w) == chunk_size);
    if (yes) {
        uint8_t have[16], want[16];
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        wcodec_digest(w, want);
        yes = !cli_digest_file(fd, have) && !memcmp(have, want, 16);
    }
    wcodec_close(w);
    close(fd);
    return yes;
}

int cli_copy_matches(const char *src, const char *dst)
{
    struct stat a, b;
    return !stat(src, &a) && !stat(dst, &b) && S_ISREG(a.st_mode) &&
           S_ISREG(b.st_mode) && a.st_size == b.st_size &&
           cli_same_mtime(&a, &b);
}

static int cli_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the manifest left in part: its entries when its first line is
 * options. @return 1 if the first line matched, 0 if not, -1 if there is
 * no manifest (part is not one of ours). */
static int cli_partial_load(cli_partial *p, const char *options)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", p->part, CLI_MANIFEST);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len = getline(&line, &cap, f);
    int same = len > 0 && line[len - 1] == '\n' &&
               (size_t)len - 1 == strlen(options) &&
               !strncmp(line, options, (size_t)len - 1);
    while (same && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* cut short by the interruption: not listed */
        line[len - 1] = 0;
        if (p->ndone == n) {
            n = n ? 2 * n : 64;
            char **d = realloc(p->done, n * sizeof *d);
            if (!d)
                break;
            p->done = d;
        }
        if (!(p->done[p->ndone] = strdup(line)))
            break;
        p->ndone++;
    }
    free(line);
    fclose(f);
    if (p->ndone)
        qsort(p->done, p->ndone, sizeof *p->done, cli_cmp_str);
    return same;
}

/* Is name a temporary as tmpfile.c names them: ".NAME.tmpXXXXXX"? */
static int cli_is_temporary(const char *name)
{
    size_t n = strlen(name);
    if (n < 12 || name[0] != '.' || memcmp(name + n - 10, ".tmp", 4))
        return 0;
    for (size_t i = n - 6; i < n; i++)
        if (!((name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= 'a' && name[i] <= 'z') ||
              (name[i] >= '0' && name[i] <= '9')))
            return 0;
    return 1;
}

/* Remove the temporaries the interrupted run left in part/rel (a writer
 * killed by SIGKILL cannot remove its own, and the next run's sweep of a
 * name spares temporaries under a minute old): with the manifest locked no
 * other run writes here, so every unlisted temporary is stale. */
static void cli_partial_sweep(const cli_partial *p, const char *dir,
                              const char *rel)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4200], sub[4200];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        struct stat st;
        if (lstat(path, &st))
            continue;
        if (S_ISDIR(st.st_mode))
            cli_partial_sweep(p, path, sub);
        else if (S_ISREG(st.st_mode) && cli_is_temporary(e->d_name) &&
                 !cli_partial_done(p, sub))
            unlink(path);
    }
    closedir(d);
}

int cli_partial_open(cli_partial *p, const char *tool, const char *dst,
                     int force, const char *options)
{
    memset(p, 0, sizeof *p);
    p->tool = tool;
    p->manifest = -1;
    pthread_mutex_init(&p->lock, NULL);
    size_t n = strlen(dst);
    while (n > 1 && dst[n - 1] == '/')
        n--;
    if (n + sizeof CLI_PARTIAL_SUFFIX >= sizeof p->part) {
        fprintf(stderr, "%s: %s: path too long\n", tool, dst);
        return -1;
    }
    snprintf(p->final, sizeof p->final, "%.*s", (int)n, dst);
    snprintf(p->part, sizeof p->part, "%s%s", p->final, CLI_PARTIAL_SUFFIX);
    struct stat st, ps;
    int have_part = !stat(p->part, &ps);
    if (have_part && !S_ISDIR(ps.st_mode)) {
        fprintf(stderr, "%s: %s: exists and is not a folder (remove it or "
                        "choose another DST)\n", tool, p->part);
        return -1;
    }
    int fresh = 0;
    if (!stat(p->final, &st)) {
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: %s: exists and is not a folder (a folder is "
                            "written as a folder)\n", tool, p->final);
            return -1;
        }
        if (!force) {
            fprintf(stderr, "%s: %s: already exists (use --force to write "
                            "it again)\n", tool, p->final);
            return -1;
        }
        if (have_part) {
            fprintf(stderr, "%s: %s and %s both exist: remove one of them\n",
                    tool, p->final, p->part);
            return -1;
        }
        /* --force: the old folder is written again in place, under the
         * name that says it is not complete. Nothing of it is reused. */
        if (rename(p->final, p->part)) {
            fprintf(stderr, "%s: %s: cannot rename to %s: %s\n", tool,
                    p->final, p->part, strerror(errno));
            return -1;
        }
        fresh = 1;
    } else if (have_part) {
        p->resumed = 1;
        int same = cli_partial_load(p, options);
        if (same < 0) {
            /* Someone's own folder: never written into. */
            fprintf(stderr, "%s: %s: exists but holds no %s, so no "
                            "interrupted run left it; remove or rename it, "
                            "or choose another DST\n",
                    tool, p->part, CLI_MANIFEST);
            return -1;
        }
        /* Writable again, should an interrupted finish have set modes. */
        chmod(p->part, 0700);
        fresh = !same;
        if (fresh)
            fprintf(stderr, "%s: %s: left by a run of another version or "
                            "with other options: writing every file again\n",
                    tool, p->part);
    } else {
        if (mkdir(p->part, 0700)) {
            fprintf(stderr, "%s: %s: %s\n", tool, p->part, strerror(errno));
            return -1;
        }
        fresh = 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", p->part, CLI_MANIFEST);
    p->manifest = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (p->manifest < 0) {
        fprintf(stderr, "%s: %s: %s\n", tool, path, strerror(errno));
        return -1;
    }
    /* Held for the whole run (the kernel drops it when the run dies, even
     * by SIGKILL): two runs never write one DST.partial, and what a
     * resumed run finds there unlocked was left by a run that is gone. */
    if (flock(p->manifest, LOCK_EX | LOCK_NB)) {
        fprintf(stderr, "%s: %s: another run is writing it (wait for it to "
                        "finish)\n", tool, p->part);
        return -1;
    }
    if (fresh && ftruncate(p->manifest, 0)) {
        fprintf(stderr, "%s: %s: %s\n", tool, path, strerror(errno));
        return -1;
    }
    if (p->resumed)
        cli_partial_sweep(p, p->part, "");
    if (fresh) {
        char line[1024];
        int len = snprintf(line, sizeof line, "%s\n", options);
        if (write(p->manifest, line, (size_t)len) != len) {
            fprintf(stderr, "%s: %s: %s\n", tool, path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int cli_partial_done(const cli_partial *p, const char *rel)
{
    return p->ndone &&
           bsearch(&rel, p->done, p->ndone, sizeof *p->done, cli_cmp_str);
}

void cli_partial_mark(cli_partial *p, const char *rel)
{
    if (strchr(rel, '\n'))
        return; /* not listable: a resume writes it again */
    size_t n = strlen(rel);
    char *line = malloc(n + 2);
    if (!line)
        return;
    memcpy(line, rel, n);
    line[n] = '\n';
    pthread_mutex_lock(&p->lock);
    /* One write: an interruption leaves a whole line or a cut one, which
     * the loader ignores. */
    if (write(p->manifest, line, n + 1) < 0) {
        /* Only a resume's reuse is lost. */
    }
    pthread_mutex_unlock(&p->lock);
    free(line);
}

int cli_partial_dir_mode(cli_partial *p, const char *rel, mode_t mode)
{
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (p->ndirs == p->capdirs) {
        size_t n = p->capdirs ? 2 * p->capdirs : 16;
        cli_partial_dir *d = realloc(p->dirs, n * sizeof *d);
        if (d) {
            p->dirs = d;
            p->capdirs = n;
        }
    }
    if (p->ndirs < p->capdirs && (p->dirs[p->ndirs].rel = strdup(rel))) {
        p->dirs[p->ndirs].mode = mode & 07777;
        p->ndirs++;
    } else {
        rc = -1;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int cli_tree_dir(cli_partial *p, const char *src, const char *rel)
{
    char dst[8200];
    struct stat st;
    snprintf(dst, sizeof dst, "%s/%s", p->part, rel);
    if (stat(src, &st)) {
        fprintf(stderr, "%s: %s: %s\n", p->tool, src, strerror(errno));
        return -1;
    }
    /* Private until the end; there from an interrupted run is fine (and
     * made writable again: a finish cut short may have set its mode). */
    if ((mkdir(dst, 0700) && errno != EEXIST) || chmod(dst, 0700)) {
        fprintf(stderr, "%s: %s: %s\n", p->tool, dst, strerror(errno));
        return -1;
    }
    if (cli_partial_dir_mode(p, rel, st.st_mode)) {
        fprintf(stderr, "%s: out of memory\n", p->tool);
        return -1;
    }
    return 0;
}

int cli_tree_copy(cli_partial *p, const char *src, const char *rel)
{
    char dst[8200];
    struct stat st;
    if (!strcmp(rel, CLI_MANIFEST)) {
        fprintf(stderr, "%s: %s: skipped (the name of the manifest of a "
                        "folder being built)\n", p->tool, src);
        return 0;
    }
    snprintf(dst, sizeof dst, "%s/%s", p->part, rel);
    if (cli_partial_done(p, rel) && cli_copy_matches(src, dst) &&
        !stat(src, &st) && !chmod(dst, st.st_mode & 0777))
        return 0;
    int rc = cli_copy_file(src, dst, 1);
    if (rc) {
        fprintf(stderr, "%s: %s\n", p->tool, wcodec_errdetail());
        return rc;
    }
    cli_partial_mark(p, rel);
    return 0;
}

static int cli_partial_finish_locked(cli_partial *p);

int cli_partial_finish(cli_partial *p)
{
    /* Modes, manifest and rename in one step a signal cannot cut: a part
     * without its manifest would not be resumed. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    int rc = cli_partial_finish_locked(p);
    if (!rc)
        cli_signals_note(NULL); /* complete: a late signal has no advice */
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int cli_partial_finish_locked(cli_partial *p)
{
    char path[4200];
    /* Children before their parents: a parent without its search bit
     * would hide them from anyone but root. */
    for (size_t i = p->ndirs; i-- > 0;) {
        snprintf(path, sizeof path, "%s%s%s", p->part,
                 *p->dirs[i].rel ? "/" : "", p->dirs[i].rel);
        if (chmod(path, p->dirs[i].mode)) {
            fprintf(stderr, "%s: %s: chmod: %s\n", p->tool, path,
                    strerror(errno));
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/%s", p->part, CLI_MANIFEST);
    if (p->manifest >= 0)
        close(p->manifest);
    p->manifest = -1;
    if (unlink(path) && errno != ENOENT) {
        fprintf(stderr, "%s: %s: %s\n", p->tool, path, strerror(errno));
        return -1;
    }
    if (renameat2(AT_FDCWD, p->part, AT_FDCWD, p->final, RENAME_NOREPLACE) &&
        ((errno != EINVAL && errno != ENOSYS) || rename(p->part, p->final))) {
        fprintf(stderr, "%s: %s: cannot rename to %s: %s\n", p->tool,
                p->part, p->final, strerror(errno));
        return -1;
    }
    return 0;
}

void cli_partial_close(cli_partial *p, int finished)
{
    if (!finished && p->part[0] && p->manifest >= 0)
        fprintf(stderr, "%s: %s is not complete; run the same command again "
                        "to resume\n", p->tool, p->part);
    if (p->manifest >= 0)
        close(p->manifest);
    p->manifest = -1;
    for (size_t i = 0; i < p->ndone; i++)
        free(p->done[i]);
    free(p->done);
    for (size_t i = 0; i < p->ndirs; i++)
        free(p->dirs[i].rel);
    free(p->dirs);
    pthread_mutex_destroy(&p->lock);
    p->done = NULL;
    p->dirs = NULL;
    p->ndone = p->ndirs = 0;
}
