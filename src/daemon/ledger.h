/*
 * ledger.h - the ledger's rows (store.h) and the rack: which row says what
 * about a server, a PSU or a bus, and how rows read at start put the rack
 * back as it was left.
 *
 * A server row holds its state, its grant, its cap and its request order;
 * a PSU row where it is switched, the operator's out-of-service flag and
 * whether the policy holds it predicted to fail (at_risk); a bus row the
 * operator's flag. Reading rows back is forgiving: a row that names
 * nothing in the rack any more is forgotten (logged when it held power), a
 * position the PSU is not wired to is ignored, a cap outside the server's
 * new range is clamped into it. Called on the loop thread only.
 */
#ifndef LEDGER_H
#define LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rack.h"
#include "store.h"

/* The rows of server i, PSU i and bus b as the rack holds them now (time:
 * the Unix time of the change; oos: the operator's flag). */
struct store_server ledger_server_row(const struct rack *r, int i, double time);
struct store_psu ledger_psu_row(const struct rack *r, int i, bool oos);
struct store_bus ledger_bus_row(const struct rack *r, int b, bool oos);

/* Puts a row back into the rack (and the flags into psu_oos/bus_oos):
 * returns the element's index, or -1 when the row names nothing in it. */
int ledger_apply_server(struct rack *r, const struct store_server *x);
int ledger_apply_psu(struct rack *r, bool *psu_oos, const struct store_psu *x);
int ledger_apply_bus(struct rack *r, bool *bus_oos, const struct store_bus *x);

/* Writes rows inside the caller's transaction. 0, or -1 with err. */
int ledger_put_server(struct store *s, const struct rack *r, int i, double time, char *err,
                      size_t len);
int ledger_put_psu(struct store *s, const struct rack *r, int i, bool oos, char *err, size_t len);
int ledger_put_bus(struct store *s, const struct rack *r, int b, bool oos, char *err, size_t len);
/* Every server, PSU and bus. */
int ledger_put_all(struct store *s, const struct rack *r, const bool *psu_oos, const bool *bus_oos,
                   double time, char *err, size_t len);

/* What came back from the ledger: servers per state (enum rack_server_state). */
struct ledger_counts {
    int servers[RACK_SRV_SHED + 1];
    int rows; /* server rows that named a server of the rack: 0 for no ledger */
};

/*
 * Loads the ledger into the rack: every server as it was left (on, capped,
 * shed, waiting), PSUs where they were switched and whether they were
 * predicted to fail (rack_psu.at_risk), the operator's flags (an element out
 * of service is failed for the policy). The request order goes
 * on after the highest one read, and now_ns counts as a change of health:
 * shed servers come back only after the rack has been stable for
 * restore_after_s. The settle that follows reconciles it with the config.
 * known (per server, may be NULL) says which servers a row named: the
 * others are unknown to the ledger (a new server, or a ledger that is
 * missing: a database new, deleted or replaced).
 */
int ledger_restore(struct store *s, struct rack *r, bool *psu_oos, bool *bus_oos, int64_t now_ns,
                   struct ledger_counts *counts, bool *known, char *err, size_t len);

/*
 * Adoption: server i, unknown to the ledger, is reported drawing drawn_mw
 * by its device. The device's word stands (it is never powered off to match
 * a ledger that does not know it): a server that draws power and that the
 * rack holds off or waiting becomes on at its power_w, in the request order
 * after the others (a waiting one keeps its place). Returns true when it
 * changed the rack; the caller journals it and lets the policy settle (which
 * may then cap or shed by priority like after any change).
 */
bool ledger_adopt(struct rack *r, int i, int64_t drawn_mw);

#endif
