/* error.h - internal error helpers: codes are wcodec_err, the detail text is
 * thread-local so concurrent readers do not clobber each other's. */
#ifndef WC_ERROR_H
#define WC_ERROR_H

#include "wcodec.h"

/* Record a detail message for this thread and return -code. */
int wc_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* errno after a failed write: ENOSPC/EDQUOT -> NOSPACE, else IO. */
int wc_fail_errno(int err, const char *what, const char *path);

#endif
