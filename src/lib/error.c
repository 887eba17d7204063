/* error.c - error names and per-thread detail messages. */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char wc_detail[512];

static const char *const wc_names[] = {
    [WCODEC_OK] = "success",
    [WCODEC_E_IO] = "input/output error",
    [WCODEC_E_NOMEM] = "out of memory",
    [WCODEC_E_NOSPACE] = "no space left on device",
    [WCODEC_E_EXISTS] = "output exists",
    [WCODEC_E_INVAL] = "invalid argument",
    [WCODEC_E_RANGE] = "out of range",
    [WCODEC_E_NOT_CONTAINER] = "not a wcodec container",
    [WCODEC_E_VERSION] = "unsupported container version",
    [WCODEC_E_TRUNCATED] = "truncated container",
    [WCODEC_E_CORRUPT] = "corrupt container",
    [WCODEC_E_DIGEST] = "file digest mismatch",
    [WCODEC_E_ST_FORMAT] = "not a safetensors file",
    [WCODEC_E_ST_JSON] = "invalid safetensors header JSON",
    [WCODEC_E_ST_DTYPE] = "unknown dtype",
    [WCODEC_E_ST_SHAPE] = "shape does not match byte length",
    [WCODEC_E_ST_OFFSETS] = "tensor offsets out of range or overlapping",
    [WCODEC_E_INTERRUPTED] = "interrupted",
    [WCODEC_E_NODEVICE] = "no usable GPU",
};

const char *wcodec_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err >= (int)(sizeof wc_names / sizeof wc_names[0]) || !wc_names[err])
        return "unknown error";
    return wc_names[err];
}

const char *wcodec_errdetail(void)
{
    return wc_detail;
}

int wc_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wc_detail, sizeof wc_detail, fmt, ap);
    va_end(ap);
    return -code;
}

int wc_fail_errno(int err, const char *what, const char *path)
{
    if (err == ENOSPC || err == EDQUOT)
        return wc_fail(WCODEC_E_NOSPACE, "%s: %s: disk full (%s)", path, what,
                       strerror(err));
    return wc_fail(WCODEC_E_IO, "%s: %s: %s", path, what, strerror(err));
}
