/*
 * replica.h - what a cluster's primary replicates of its ledger, and how a
 * secondary takes it (docs/controllers.md, "Running a cluster").
 *
 * An entry is one decision: its journal events and the ledger rows it
 * changed, as JSON (design9.md):
 *   {"events": [...], "servers": [rows], "psus": [rows], "buses": [rows]}
 * A snapshot is every row: {"snapshot": true, "servers": [...], ...}.
 * Both carry the outage record as it stands ("outage": outage_run.h's
 * orun_record) when the owner gives one: so that a new primary carries the
 * same outage on (docs/outage.md "Several controllers").
 * Rows: a server {"id", "state", "watts_mw", "cap_mw", "seq", "time"}, a PSU
 * {"id", "bus" ("" none), "oos", "at_risk"}, a bus {"id", "oos"}. A PSU row
 * without "at_risk" (a primary older than schema 2) leaves the flag as the
 * secondary holds it.
 *
 * An entry always carries every PSU's and bus's row (they are few) and the
 * rows of the servers its decision named (every server's after a settle).
 * One entry must fit one datagram (member_max_payload): when the events make
 * it too large they are left out ("events_left_out": n), the rows never are.
 *
 * Called on the loop thread only. Library code: -1 with a message, no log.
 */
#ifndef REPLICA_H
#define REPLICA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"
#include "store.h"

/* The entry of a decision (evs: its events; acts: its actions; all: every
 * server's row; outage: the outage record, NULL none), malloc'd, at most
 * max bytes; NULL with err when even its rows and record do not fit, or out
 * of memory. */
char *replica_entry(const struct rack *r, const bool *psu_oos, const bool *bus_oos, json_t *evs,
                    const struct policy_actions *acts, bool all, json_t *outage, double time,
                    size_t max, size_t *len, char *err, size_t errlen);
/* The snapshot of the whole ledger (and the outage record, NULL none),
 * malloc'd; NULL when out of memory. */
char *replica_snapshot(const struct rack *r, const bool *psu_oos, const bool *bus_oos,
                       json_t *outage, double time, size_t *len);

/* Where a secondary applies what it is sent. */
struct replica_target {
    struct store *store;
    struct rack *rack;
    bool *psu_oos, *bus_oos; /* the operator's flags, per PSU and bus */
    bool *known;             /* per server: a row named it (may be NULL) */
};

/*
 * Makes an entry (or a snapshot) durable and applies it: in one
 * transaction its events are appended to the journal (a snapshot's own
 * "snapshot" event says it), its rows written and the node's position pos
 * written; then the rows are put into the rack. *events (when not NULL)
 * gets the events journaled (a new reference); *outage (when not NULL) the
 * entry's outage record (a new reference, NULL when it has none: the
 * owner checks it, orun_follow). 0, or -1 with err and nothing written or
 * applied (malformed JSON, a row that is not a row, the store's error).
 */
int replica_apply(const struct replica_target *t, bool snapshot, uint64_t index,
                  const uint8_t *payload, size_t len, const struct store_node *pos, double time,
                  json_t **events, json_t **outage, char *err, size_t errlen);

#endif
