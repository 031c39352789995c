/*
 * store.h - what rackpowerd keeps across restarts, in SQLite (WAL mode):
 *   - the grant ledger: one row per server (state, granted watts, cap,
 *     request order, time of the last change);
 *   - PSU positions and the operator's out-of-service flags (PSUs, buses),
 *     and which PSUs the policy holds predicted to fail (at_risk);
 *   - the event journal: every decision as JSON, numbered 1, 2, 3 ...
 *
 * One writer, the loop thread, holds a store opened read-write and writes
 * only between store_begin and store_commit. Readers (HTTP threads) open their
 * own read-only stores on the same file: WAL lets them read while the writer
 * writes. A crash (kill -9, power loss: synchronous=FULL) loses at most the
 * transaction that was open, never one that was committed.
 */
#ifndef STORE_H
#define STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rack.h"

struct store;

struct store_server {
    char id[RACK_ID_LEN];
    enum rack_server_state state;
    int64_t watts_mw; /* granted now: 0 unless on or capped */
    int64_t cap_mw;   /* the cap while capped, else 0 */
    uint64_t seq;     /* order of its request */
    double time;      /* Unix time of the last change */
};

struct store_psu {
    char id[RACK_ID_LEN];
    char bus[RACK_ID_LEN]; /* where it is switched, "" for none */
    bool out_of_service;
    bool at_risk; /* the policy's rack_psu.at_risk: predicted to fail */
};

struct store_bus {
    char id[RACK_ID_LEN];
    bool out_of_service;
};

/* A cluster member's position (node.h's node_disk): the highest epoch it
 * has seen, and the epoch and index of the last ledger entry it holds. One
 * row; zeros when none was written. */
struct store_node {
    uint64_t max_epoch, log_epoch, index;
};

/* The outage record (outage_run.h's orun_record, JSON text) as this
 * controller last kept it, and the Unix time it was made (its ages count
 * from then): one row. get: *record malloc'd, NULL when none was written.
 * 0, or -1 with err. */
int store_outage_put(struct store *s, const char *record, double made, char *err, size_t errlen);
int store_outage_get(struct store *s, char **record, double *made, char *err, size_t errlen);

/* Opens (creating when read-write) the database at path. NULL with err.
 * A writer brings a new or older database to this version's schema in one
 * transaction (version 1 to 2: psus gains at_risk, 0 for every row); one
 * made by a newer rackpowerd is refused. Readers read only the journal,
 * whose table every version has. */
struct store *store_open(const char *path, bool readonly, char *err, size_t errlen);
/* Closes; an open transaction is rolled back. A writer checkpoints the WAL
 * into the database first. NULL is fine. */
void store_close(struct store *s);

/*
 * Whether the files a writer opened are still the ones at its path: 0 when
 * they are (or the store has no file: ":memory:", a reader), 1 with why
 * when the database file or its WAL was unlinked, replaced (another inode
 * or device at the path) or cannot be looked at. Then what the writer
 * commits goes to a file nobody will open again: the journal cannot be
 * trusted. A stat(2) per file: cheap enough for a timer.
 */
int store_check_file(struct store *s, char *why, size_t len);

int store_begin(struct store *s, char *err, size_t errlen);
int store_commit(struct store *s, char *err, size_t errlen);
void store_rollback(struct store *s);

int store_put_server(struct store *s, const struct store_server *x, char *err, size_t errlen);
int store_put_psu(struct store *s, const struct store_psu *x, char *err, size_t errlen);
int store_put_bus(struct store *s, const struct store_bus *x, char *err, size_t errlen);

/* Appends an event to the journal: sets ev's "id" (replacing a placeholder
 * keeps the key's place) and stores ev as JSON, with its "time" and "event".
 * Returns the id, or -1 with err. Ids grow by one per event. */
int64_t store_append(struct store *s, json_t *ev, char *err, size_t errlen);
/* Highest id in the journal, 0 when empty, -1 on error. */
int64_t store_last_id(struct store *s);

/* The node's row (zeros when none), and writing it (inside the caller's
 * transaction, or alone). 0, or -1 with err. */
int store_node_get(struct store *s, struct store_node *x, char *err, size_t errlen);
int store_node_put(struct store *s, const struct store_node *x, char *err, size_t errlen);

/* Calls fn for every row; a non-zero return from fn stops and is returned. */
int store_load_servers(struct store *s, int (*fn)(void *arg, const struct store_server *x),
                       void *arg, char *err, size_t errlen);
int store_load_psus(struct store *s, int (*fn)(void *arg, const struct store_psu *x), void *arg,
                    char *err, size_t errlen);
int store_load_buses(struct store *s, int (*fn)(void *arg, const struct store_bus *x), void *arg,
                     char *err, size_t errlen);

/* Journal reads, oldest first: the events with id > since, at most limit;
 * with tail, the last limit events instead. fn gets each one's JSON. */
int store_events(struct store *s, int64_t since, int limit, bool tail,
                 int (*fn)(void *arg, int64_t id, const char *json), void *arg, char *err,
                 size_t errlen);

/*
 * Pruning, by age and size: deletes the journal's oldest events, those
 * whose time (Unix seconds) is before before_time and then the oldest while
 * the events' JSON is over max_bytes, at most batch of them, in one short
 * transaction. The newest event always stays (ids go on from it). Returns
 * how many were deleted (0: nothing to prune), or -1 with err. The journal
 * is taken as ordered by time (a wall clock set back makes the age
 * approximate). The size is counted in the store, from its first call on:
 * use one store for pruning, and no other store deletes events.
 */
int store_prune(struct store *s, double before_time, int64_t max_bytes, int batch, char *err,
                size_t errlen);
/* Commits of this store are no longer synced to disk each (WAL's
 * synchronous=NORMAL: a power loss may undo the last ones, never corrupt).
 * For the pruner: a deletion undone is done again, and its commits hold
 * the write lock shorter. 0, or -1 with err. */
int store_sync_normal(struct store *s, char *err, size_t errlen);
/* The journal's JSON bytes as the last store_prune counted them. */
int64_t store_journal_bytes(const struct store *s);

/* Parses a state name as rack_server_state_name writes it; -1 when unknown. */
int store_state_parse(const char *name);

#endif
