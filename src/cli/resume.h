/* resume.h - folder packs and unpacks that never look finished when they
 * are not, and resume when interrupted.
 *
 * The output folder DST is built as DST.partial and renamed to DST only
 * when every file in it is done. DST.partial holds a manifest
 * (CLI_MANIFEST): a first line naming the tool, its version and the
 * options that shape the output, then one line per output file finished
 * (its path relative to the folder), appended after the file was renamed
 * into place. A re-run over a DST.partial left behind reuses each listed
 * file whose source is unchanged (cli_container_matches, cli_copy_matches)
 * when the first line is the same, and writes only the rest.
 */
#ifndef WC_CLI_RESUME_H
#define WC_CLI_RESUME_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define CLI_PARTIAL_SUFFIX ".partial"
#define CLI_MANIFEST ".wcodec-partial"

/* Is the container `container` complete and packed from the plain file
 * `plain` as it is now? Yes when the container opens (superblock and index
 * checked, not truncated), presents plain's size, has plain's modification
 * time (pack and unpack give their output the source's), uses chunk_size
 * (0: any), and the XXH3-128 digest of plain's bytes is the one stored in
 * the container. For a pack, plain is the source; for an unpack, the
 * output. Reads all of plain when the cheap checks pass.
 * @return 1 yes, 0 no (or either cannot be read). */
int cli_container_matches(const char *plain, const char *container,
                          uint32_t chunk_size);

/* Is dst a copy of src as it is now: both regular files of one size and
 * one modification time (copies are given their source's)? @return 1/0. */
int cli_copy_matches(const char *src, const char *dst);

typedef struct {
    char *rel;
    mode_t mode;
} cli_partial_dir;

typedef struct {
    const char *tool;
    char final[4096];  /* DST, without trailing slashes */
    char part[4096];   /* DST.partial: where everything is written */
    int manifest;      /* fd, appended under lock */
    char **done;       /* files listed by the run that left part, sorted */
    size_t ndone;
    int resumed;       /* part was left by an earlier run */
    cli_partial_dir *dirs; /* modes to give the folders at the end */
    size_t ndirs, capdirs;
    pthread_mutex_t lock;
} cli_partial;

/* Start a folder output at dst: resume in dst.partial if an earlier run
 * left one, else make it (0700 until the end). An existing dst that is
 * not a folder is an error; an existing folder dst is one too without
 * force, and with force it becomes dst.partial (its files are all written
 * again). options: the manifest's first line (no newline).
 * @return 0, or -1 with the reason printed after "tool: ". */
int cli_partial_open(cli_partial *p, const char *tool, const char *dst,
                     int force, const char *options);

/* Did the run that left part finish rel (and list it)? */
int cli_partial_done(const cli_partial *p, const char *rel);

/* List rel as finished (thread-safe). A failure only costs a resume the
 * reuse of rel. */
void cli_partial_mark(cli_partial *p, const char *rel);

/* Remember the permission bits for folder rel ("" the top), given when
 * the output is complete (a read-only folder must stay writable while
 * files go in). @return 0, or -1 out of memory. */
int cli_partial_dir_mode(cli_partial *p, const char *rel, mode_t mode);

/* Folder-walk steps shared by pack and unpack, inside p->part: make
 * folder rel (its mode, src's, given at the end), and copy the plain file
 * src to rel (kept when the interrupted run copied it already and it is
 * unchanged). @return 0, or -1 / a negative WCODEC_E_* with the reason
 * printed after "tool: ". */
int cli_tree_dir(cli_partial *p, const char *src, const char *rel);
int cli_tree_copy(cli_partial *p, const char *src, const char *rel);

/* Everything is written: give the folders their modes, drop the manifest
 * and rename part to final. @return 0, or -1 with the reason printed. */
int cli_partial_finish(cli_partial *p);

/* Free p (part stays where it is). When it is not finished, say how to
 * resume. */
void cli_partial_close(cli_partial *p, int finished);

#endif
