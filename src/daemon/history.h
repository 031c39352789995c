/*
 * history.h - rackpowerd's history writer (docs/history.md): the loop
 * thread hands readings and labels to a bounded queue; a thread of its own,
 * with its own SQLite connection to the history's file (histstore.h),
 * writes them in batches, rolls them up and prunes, the journal pruner's
 * way (prune.h): short transactions, off the loop.
 *
 * The history is the first thing dropped, and never waited for: a push
 * onto a full queue drops the reading (counted); a write that finds the
 * disk full (SQLITE_FULL) or the file system under its min_free_mb drops
 * the batch (counted). The journal and the decisions never wait for it.
 */
#ifndef HISTORY_H
#define HISTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemonconf.h"
#include "driver.h"
#include "histstore.h"

struct histw;

struct histw_stats {
    uint64_t queued;        /* readings pushed and taken */
    uint64_t written;       /* readings committed */
    uint64_t labels;        /* labels committed */
    uint64_t dropped_queue; /* readings and labels dropped: the queue was full */
    uint64_t dropped_disk;  /* ...: the disk was full, or under min_free_mb */
    uint64_t dropped_error; /* ...: another write error */
    uint64_t pruned;        /* rows deleted by age or size */
    int64_t bytes;          /* the history's data as last measured */
    int64_t write_ns;       /* time the thread spent in hist_put, in all */
};

/* Opens the history at path (its own connection) and starts the thread.
 * NULL with err. */
struct histw *histw_start(const char *path, const struct rackfile_history *conf, char *err,
                          size_t errlen);
/* New limits (a reload; the queue's size stays). */
void histw_limits(struct histw *w, const struct rackfile_history *conf);
/* From the loop thread: a copy goes on the queue. false: dropped (full). */
bool histw_push(struct histw *w, const struct hist_reading *r);
bool histw_label(struct histw *w, const struct hist_label *l);
/* The loop's readings as history rows, pushed (NULL w: nothing): a PSU's
 * telemetry (not an unread one), a reserve's, a server's measured draw.
 * t_ms Unix milliseconds. */
void histw_psu(struct histw *w, const char *id, int64_t t_ms, const struct driver_psu_reading *x);
void histw_reserve(struct histw *w, const char *id, int64_t t_ms,
                   const struct driver_reserve_reading *x);
void histw_server(struct histw *w, const char *id, int64_t t_ms, int64_t draw_mw);
/* The labels among a decision's events (an array; hist_label_of). */
void histw_events(struct histw *w, const json_t *evs);

/* Waits until what was pushed so far is written (or dropped): for tests
 * and a clean stop. */
void histw_flush(struct histw *w);
void histw_stats(struct histw *w, struct histw_stats *st);
/* For tests and the benchmark: while held the thread takes nothing from
 * the queue (it fills); caps the history's file at pages (as a full disk:
 * SQLITE_FULL), from the thread's next pass. */
void histw_hold(struct histw *w, bool hold);
void histw_cap_pages(struct histw *w, int64_t pages);
/* Writes what is queued, stops the thread, closes. NULL is fine. */
void histw_stop(struct histw *w);

/* The label an event of the journal makes, if it is one: a failure or
 * repair (psu_, bus_, feed_ events), a lost_power, or an operator's action
 * (an event with "who"). Its time from the event's "time" (Unix seconds).
 * true and *l filled, or false. */
bool hist_label_of(const json_t *ev, struct hist_label *l);

#endif
