/*
 * prune.h - keeps the journal within its limits (the config's `journal:`,
 * docs/daemon.md): events older than max_age_days, then the oldest while
 * the journal's JSON is over max_mb, are deleted.
 *
 * Off the critical path: a thread of its own with its own SQLite
 * connection, which deletes at most PRUNE_BATCH events per short
 * transaction, not synced to disk (a deletion lost to a power cut is done
 * again), and lets the loop's writes in between (WAL: readers never wait;
 * the loop's transaction waits at most for one batch). It looks
 * every second; while it finds more than a batch to delete it goes on
 * after a short pause.
 */
#ifndef PRUNE_H
#define PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "daemonconf.h"

#define PRUNE_BATCH 100

struct pruner;

/* Opens its own connection to the database at path and starts the thread.
 * NULL with err when the database cannot be opened or the thread start. */
struct pruner *pruner_start(const char *path, const struct rackfile_journal *lim, char *err,
                            size_t errlen);
/* New limits (a reload), used from the next pass on. */
void pruner_limits(struct pruner *p, const struct rackfile_journal *lim);
/* Events deleted so far. */
int64_t pruner_deleted(struct pruner *p);
/* Stops the thread and closes its connection. NULL is fine. */
void pruner_stop(struct pruner *p);

#endif
