/*
 * route.h - feasibility, protection and re-routing over bus subsets.
 *
 * Demand is given per bus mask: demand[m] is the power granted to servers
 * wired to exactly the buses in m. Serving is feasible when, for every subset
 * X of the live buses, the demand of servers that can only reach buses in X
 * fits the capacity switched onto X (Hall's condition for the flow
 * PSU -> bus -> server). Searches move whole PSUs (a switch connects a PSU to
 * one bus), grouping identical PSUs so a shelf of equal units stays cheap.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stdbool.h>

#include "rack.h"

#define ROUTE_NMASKS (1u << RACK_MAX_BUSES)

/* ROUTE_FAIL_UNKNOWN: the PSUs whose state is unknown, all at once. */
enum route_failure_kind {
    ROUTE_FAIL_NONE,
    ROUTE_FAIL_PSU,
    ROUTE_FAIL_FEED,
    ROUTE_FAIL_BUS,
    ROUTE_FAIL_UNKNOWN,
};

/*
 * What a routing must achieve. A PSU whose state is unknown serves (it counts
 * for feasibility) but does not count for protection: ROUTE_NEED_PROTECT
 * asks for protection counting them, and that the rack serve every drawing
 * server without them, and survive each failure of the protection set
 * without them too.
 * ROUTE_NEED_PROTECT_TRUSTING counts them as healthy: it is what the policy
 * sheds for, so that protection lost only to unknown PSUs sheds nobody. With
 * no unknown PSU the two are the same.
 */
enum route_need {
    ROUTE_NEED_SERVE = 0,            /* feasible */
    ROUTE_NEED_PROTECT = 1,          /* feasible, and protected without the unknown PSUs */
    ROUTE_NEED_PROTECT_TRUSTING = 2, /* feasible, and protected counting them */
};

/* Why a check failed: the failure considered (none for plain overload) and
 * the bus subset whose demand did not fit, with the figures. */
struct route_why {
    enum route_failure_kind failure;
    int index;      /* psu, feed or bus index; -1 for a psu not named */
    uint32_t buses; /* the subset X that did not fit */
    int64_t demand_mw;
    int64_t capacity_mw;
    bool unknown_gone; /* checked without the unknown PSUs (they did not count) */
};

/* The first failure of the protection set that leaves some drawing server no
 * capacity at all (no PSU alive after it reaches its live buses): shedding
 * others cannot fix it, so the policy does not shed for it, but the rack is
 * not protected. */
struct route_lost {
    enum route_failure_kind failure; /* ROUTE_FAIL_NONE: no such failure */
    int index;                       /* psu, feed or bus index; -1 for a psu not named */
    uint32_t wired;                  /* bus mask of the servers it leaves with nothing */
    bool unknown_gone;               /* found with the unknown PSUs not counted */
};

struct route;
struct route *route_new(int npsus, int nbuses);
void route_free(struct route *rt);

/* Takes the rack's PSU health, feeds, buses and switch positions. Call again
 * after any of them changes. */
void route_load(struct route *rt, const struct rack *r);

/*
 * Battery reserves (docs/policy.md "Battery reserves"): route_load takes what
 * the rack's reserves give each bus (rack_reserve_bus_mw); they count only
 * after route_use_reserves(rt, true, offset_mw), and then as a unit per bus
 * that serves but is never failed by the protection set and never counts for
 * ROUTE_NEED_PROTECT (as a PSU whose state is unknown). offset_mw (per bus
 * mask, may be NULL) is what server batteries carry of the demand: taken off
 * it while they count. The setting holds until changed (route_load keeps it).
 */
void route_use_reserves(struct route *rt, bool on, const int64_t *offset_mw);
/* With on, the next route_load leaves out the PSUs predicted to fail
 * (rack_psu.at_risk): what the rack achieves without them, for the policy's
 * drain (docs/policy.md "PSUs predicted to fail"). Otherwise they are units
 * like a PSU whose state is unknown. Holds until changed. */
void route_skip_at_risk(struct route *rt, bool on);

/* Whether the last route_load found reserves that give some bus power. */
bool route_has_reserves(const struct route *rt);

/* Current positions: feasible? (why is optional) */
bool route_feasible(struct route *rt, const int64_t *demand, struct route_why *why);

/* Protected with the current positions (instant re-routing only), for every
 * failure that shedding could fix? Without trust_unknown the unknown PSUs do
 * not count (ROUTE_NEED_PROTECT). lost is set when some drawing server has a
 * failure it cannot survive (the rack is then not protected, but nobody is
 * shed for it); lw (optional, with lost) names the first such failure. */
bool route_protected(struct route *rt, const int64_t *demand, bool trust_unknown,
                     struct route_why *why, bool *lost, struct route_lost *lw);

/* Is there any routing (all switches) that achieves need? */
bool route_ok(struct route *rt, const int64_t *demand, enum route_need need);

/*
 * The routing with the fewest switch operations that achieves need. For
 * ROUTE_NEED_SERVE with a protection level (protection is out of reach): the
 * routing with the largest margin under the worst failure of the set (what
 * could reach each bus subset within the hold-up time, less its demand,
 * servers no PSU could reach after the failure left out), then the fewest
 * moves. Either way no live PSU stays on a dead bus (or none) while a live bus
 * it is wired to exists. pos[i] receives the bus of psu
 * i (unchanged for PSUs that do not move). Returns the number of moves, or -1 when none exists (or
 * the search gave up: see ROUTE_BUDGET).
 */
int route_best(struct route *rt, const int64_t *demand, enum route_need need, int *pos);

/* Search effort bound per call, in visited nodes. Beyond it a search answers
 * "no": the policy then sheds rather than stalls. Racks of identical PSUs
 * never come near it. */
#define ROUTE_BUDGET 200000L

/* Routings a margin search scores at most (route_best when protection is out
 * of reach): each costs a pass over the failure set. */
#define ROUTE_MARGIN_LEAVES 4096L

#endif
