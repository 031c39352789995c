/*
 * log.h - the daemon's log: one line per message on stderr (journald reads
 * it under systemd, with the priority as a "<N>" prefix), or syslog once the
 * daemon has detached. Callable from any thread.
 *
 * log_warn appends ": strerror(errno)" (a system call failed); log_warnx does
 * not (the problem is the input, not the system). Nothing here exits: code
 * that fails returns an error, and only main decides to exit (DESIGN.md).
 */
#ifndef LOG_H
#define LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

void log_init(const char *name, bool verbose);
/* Sends further messages to syslog (after detaching from the terminal). */
void log_to_syslog(void);

__attribute__((format(printf, 1, 2))) void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_debug(const char *fmt, ...);
/* Whether debug lines are written (to skip the work of building one). */
bool log_debugging(void);
__attribute__((format(printf, 1, 2))) void log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warnx(const char *fmt, ...);

/*
 * A warning that outside input can repeat at will (a flood of malformed
 * requests) is shown at most burst times per window; the rest are counted,
 * and one line says how many were held back and shows the last, when the
 * next one comes after the window or at log_limit_flush.
 */
struct log_limit {
    pthread_mutex_t mu;
    unsigned burst;
    int64_t window_ns;
    int64_t start_ns; /* of the window; 0: none yet */
    unsigned shown, held;
    char last[512]; /* the last one held back */
};

void log_limit_init(struct log_limit *l, unsigned burst, unsigned window_s);
void log_limit_fini(struct log_limit *l);
__attribute__((format(printf, 2, 3))) void log_warnx_limited(struct log_limit *l, const char *fmt,
                                                             ...);
/* Says how many were held back once their window is over (call it now and
 * then: a flood that stopped gets its count too). */
void log_limit_flush(struct log_limit *l);

#endif
