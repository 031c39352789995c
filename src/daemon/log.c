/*
 * log.c - stderr or syslog, one line per message.
 */
#include "log.h"

#include "monoclock.h"

#include <errno.h>
#include <pthread.h>
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
    /* one fprintf: stdio locks the stream, so lines of threads never mix;
     * microseconds, so that a line says where the time of a fast path went */
    fprintf(stderr, "%s.%06ld %s: %s%s\n", stamp, ts.tv_nsec / 1000, log_name, level, msg);
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

bool log_debugging(void)
{
    return log_verbose;
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

void log_limit_init(struct log_limit *l, unsigned burst, unsigned window_s)
{
    *l = (struct log_limit){.burst = burst, .window_ns = (int64_t)window_s * 1000000000};
    pthread_mutex_init(&l->mu, NULL);
}

void log_limit_fini(struct log_limit *l)
{
    pthread_mutex_destroy(&l->mu);
}

/* Under l->mu: says how many were held back in the window that ended, and
 * starts a new one at now. */
static void limit_roll(struct log_limit *l, int64_t now_ns)
{
    if (l->held)
        log_warnx("%u more warnings like these in the last %lld s, not shown; the last: %s",
                  l->held, (long long)((now_ns - l->start_ns + 500000000) / 1000000000), l->last);
    l->start_ns = now_ns;
    l->shown = l->held = 0;
}

void log_warnx_limited(struct log_limit *l, const char *fmt, ...)
{
    char msg[sizeof(l->last)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int64_t now = mono_ns();
    pthread_mutex_lock(&l->mu);
    if (!l->start_ns || now - l->start_ns >= l->window_ns)
        limit_roll(l, now);
    bool show = l->shown < l->burst;
    if (show)
        l->shown++;
    else {
        l->held++;
        memcpy(l->last, msg, sizeof(msg));
    }
    pthread_mutex_unlock(&l->mu);
    if (show)
        log_warnx("%s", msg);
}

void log_limit_flush(struct log_limit *l)
{
    int64_t now = mono_ns();
    pthread_mutex_lock(&l->mu);
    if (l->held && now - l->start_ns >= l->window_ns)
        limit_roll(l, now);
    pthread_mutex_unlock(&l->mu);
}
