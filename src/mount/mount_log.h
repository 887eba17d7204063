/* mount_log.h - wcodec-mount's log: stderr ("wcodec-mount: ...") until
 * mount_log_syslog() is called, syslog afterwards (daemon mode). */
#ifndef WC_MOUNT_LOG_H
#define WC_MOUNT_LOG_H

void mount_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mount_log_syslog(void);

#endif
