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

#include <stdbool.h>

void log_init(const char *name, bool verbose);
/* Sends further messages to syslog (after detaching from the terminal). */
void log_to_syslog(void);

__attribute__((format(printf, 1, 2))) void log_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_debug(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void log_warnx(const char *fmt, ...);

#endif
