/*
 * log.c - stderr or syslog, one line per message.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_name = "rackpowerd";
static bool log_verbose, log_syslog, log_journal;

void log_init(const char *name, bool verbose)
{
    log_name = name;
    log_verbose = verbose;
    /* journald sets JOURNAL_STREAM for the services whose stderr it reads:
     * it stamps time and name itself, and reads the "<N>" priority prefix. */
    log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_to_syslog(void)
{
    openlog(log_name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = true;
}

__attribute__((format(printf, 3, 0))) static void vlog(int pri, const char *err, const char *fmt,
                                                       va_list ap)
{
    char msg[2048];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (err && n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", err);
    if (log_syslog) {
        syslog(pri, "%s", msg);
        return;
    }
    const char *level = pri <= LOG_WARNING ? "warning: " : "";
    if (log_journal) {
        fprintf(stderr, "<%d>%s%s\n", pri, level, msg);
        return;
    }
    struct timespec ts;
    struct tm tm;
    char stamp[32] = "";
    clock_gettime(CLOCK_REALTIME, &ts);
    if (localtime_r(&ts.tv_sec, &tm))
        strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    /* one fprintf: stdio locks the stream, so lines of threads never mix */
    fprintf(stderr, "%s.%03ld %s: %s%s\n", stamp, ts.tv_nsec / 1000000, log_name, level, msg);
}

#define LOG_BODY(pri, err)                                                                         \
    va_list ap;                                                                                    \
    va_start(ap, fmt);                                                                             \
    vlog(pri, err, fmt, ap);                                                                       \
    va_end(ap)

void log_info(const char *fmt, ...)
{
    LOG_BODY(LOG_INFO, NULL);
}

void log_debug(const char *fmt, ...)
{
    if (!log_verbose)
        return;
    LOG_BODY(LOG_DEBUG, NULL);
}

/* strerror_r: log_warn is called from worker and HTTP threads too */
#define ERRNO_TEXT(buf)                                                                            \
    char buf[128];                                                                                 \
    if (strerror_r(errno, buf, sizeof(buf)))                                                       \
    snprintf(buf, sizeof(buf), "error %d", errno)

void log_warn(const char *fmt, ...)
{
    ERRNO_TEXT(e);
    LOG_BODY(LOG_WARNING, e);
}

void log_warnx(const char *fmt, ...)
{
    LOG_BODY(LOG_WARNING, NULL);
}
