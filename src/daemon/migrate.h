/*
 * migrate.h - an activity's migrate command (docs/outage.md "Moving work"):
 * the operator's program run as COMMAND ACTIVITY FROM TO, in a process of
 * its own watched by the loop (libuv), so that the loop never waits for it.
 *
 * Its output (stdout and stderr together) is kept to its last lines, its
 * time limit is kept by sending SIGTERM, then SIGKILL 5 s later, and its
 * end (exit status, signal, or the time limit) is told once to done(). The
 * command is run without a shell: COMMAND is the program's path, and
 * ACTIVITY, FROM and TO are its three arguments.
 *
 * Loop thread only.
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define MIGRATE_TAIL_LEN 512         /* the last lines of its output, journaled */
#define MIGRATE_KILL_NS 5000000000LL /* after SIGTERM at the time limit, SIGKILL */

struct migrate_result {
    bool ok;                     /* exited 0 within its time limit */
    int exit_status;             /* its exit status, -1 when it did not exit */
    int term_signal;             /* the signal that ended it, 0 none */
    bool timed_out;              /* it outlived its time limit and was killed */
    int64_t took_ns;             /* from its start to its end */
    char tail[MIGRATE_TAIL_LEN]; /* its last output lines */
    char summary[160];           /* "exit 0 after 1.2 s", "killed after its time limit of 300 s" */
};

struct migrate;

typedef void (*migrate_done_fn)(void *arg, struct migrate *m, const struct migrate_result *r);

/*
 * Starts command ACTIVITY FROM TO on loop, with a time limit of timeout_ns.
 * done(arg, m, result) is called once when it has ended; m is freed by the
 * loop after done returns (it must not be used after). NULL with err when
 * it cannot start (no such program, out of memory): done is not called.
 */
struct migrate *migrate_start(uv_loop_t *loop, const char *command, const char *activity,
                              const char *from, const char *to, int64_t timeout_ns,
                              migrate_done_fn done, void *arg, char *err, size_t errlen);

/* Kills it (SIGKILL) and forgets it: done is not called. The loop must run
 * for its handles to close. NULL is fine. */
void migrate_cancel(struct migrate *m);

#endif
