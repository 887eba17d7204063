/* mount_log.c - see mount_log.h. */
#include "mount_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static int mount_use_syslog;

void mount_log_syslog(void)
{
    openlog("wcodec-mount", LOG_PID, LOG_DAEMON);
    mount_use_syslog = 1;
}

void mount_log(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (mount_use_syslog) {
        vsyslog(prio, fmt, ap);
    } else {
        /* One buffer, one write: lines from several threads stay whole. */
        char line[1024];
        int n = snprintf(line, sizeof line, "wcodec-mount: ");
        vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        strcat(line, "\n");
        fputs(line, stderr);
    }
    va_end(ap);
}

