/* probe.c - what a file is, by its bytes (wcodec_probe_fd in wcodec.h).
 *
 * Folder packs find safetensors files by content, not by name (a Hugging
 * Face cache keeps them as blobs/<hash>), and the mount and unpack find
 * the containers made of them the same way. Reading is bounded: 8 bytes
 * for the magic or the header length, then the header itself, never more
 * than the file or the safetensors limit on headers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "error.h"
#include "safetensors.h"
#include "wcodec.h"

/* pread all of len bytes at off, or fewer only at end of file. */
static ssize_t probe_read(int fd, void *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int wcodec_probe_fd(int fd, const char *name)
{
    struct stat st;
    if (fstat(fd, &st))
        return wc_fail(WCODEC_E_IO, "%s: %s", name, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size < 8)
        return WCODEC_KIND_OTHER;
    uint64_t size = (uint64_t)st.st_size;
    uint8_t head[9];
    ssize_t r = probe_read(fd, head, sizeof head, 0);
    if (r < 0)
        return wc_fail(WCODEC_E_IO, "%s: %s", name, strerror(errno));
    if (r < 8)
        return WCODEC_KIND_OTHER;
    if (!memcmp(head, WC_MAGIC, 8))
        return WCODEC_KIND_CONTAINER;
    /* Cheap rejections first: most files fail on the length or the '{',
     * before anything the size of the header is allocated. */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | head[i];
    if (r < 9 || head[8] != '{' || hl < 2 || hl > size - 8 ||
        hl > WC_ST_MAX_HEADER)
        return WCODEC_KIND_OTHER;
    uint8_t *buf = malloc(8 + hl);
    if (!buf)
        return wc_fail(WCODEC_E_NOMEM, "%s: out of memory", name);
    int kind = WCODEC_KIND_OTHER;
    r = probe_read(fd, buf, 8 + hl, 0);
    if (r < 0) {
        kind = wc_fail(WCODEC_E_IO, "%s: %s", name, strerror(errno));
    } else if ((uint64_t)r == 8 + hl) {
        wc_st_file sf;
        if (!wc_st_parse(buf, size, name, &sf)) {
            /* A header with no tensor (metadata only) is JSON-shaped data,
             * not a checkpoint worth a container. */
            if (sf.n > 0)
                kind = WCODEC_KIND_SAFETENSORS;
            wc_st_free(&sf);
        }
    }
    free(buf);
    return kind;
}
