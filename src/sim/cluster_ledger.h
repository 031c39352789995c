/*
 * cluster_ledger.h - the payload of the simulated controllers' ledger
 * entries and snapshots (rackpower-sim cluster, docs/controllers.md,
 * "Simulation"): every mutable field of a rack (servers' states and grants,
 * PSUs' health and positions, failed buses and feeds, the policy's
 * bookkeeping), in a compact big-endian form. An entry and a snapshot carry
 * the same thing, the whole ledger after a decision: a rack of a few dozen
 * servers fits in a few kilobytes, and applying an entry is then the same as
 * applying a snapshot. The daemon has its own JSON payload (design9.md).
 */
#ifndef CLUSTER_LEDGER_H
#define CLUSTER_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "rack.h"

/* Bytes cledger_encode needs for rack r. */
size_t cledger_size(const struct rack *r);

/* Writes r's mutable state into buf (cap bytes); returns the length, or 0
 * when cap is too small. */
size_t cledger_encode(const struct rack *r, uint8_t *buf, size_t cap);

/* Reads a payload into r, whose shape (counts of servers, PSUs, buses,
 * feeds) must match. 0, or -1 with a reason for a payload that is short,
 * long, of another shape, or holds a value the rack cannot take (an unknown
 * state or health, a bus out of range); r is unchanged then. */
int cledger_decode(struct rack *r, const uint8_t *buf, size_t len, char *err, size_t errlen);

#endif
