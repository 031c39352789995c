/*
 * outage_energy.h - the energy model of an outage (docs/outage.md "Physics"):
 * what a reserve's cells give for what it delivers, where the rack's load
 * comes from with reserves in play, and time passing. The simulator,
 * sim-serve's BBUs, sizing and the planner (outage.h, which includes this)
 * all use these same functions, so that what the planner predicts is what the
 * simulator does.
 *
 * Pure. Energy in watt-hours and power in watts (doubles): discharge is not
 * linear (Peukert), and the figures are estimates.
 */
#ifndef OUTAGE_ENERGY_H
#define OUTAGE_ENERGY_H

#include <stdbool.h>
#include <stdint.h>

#include "rack.h"

/*
 * Watts taken from a reserve's cells while it delivers out_w: out_w divided
 * by its efficiency, and above rated_w raised by (out_w / rated_w)^(peukert-1),
 * so that usable energy shrinks at high rates and never exceeds energy_wh.
 */
double outage_cell_w(const struct rack_reserve *res, double out_w);

/* Seconds a reserve with wh_left lasts delivering out_w (INFINITY at 0 W). */
double outage_runtime_s(const struct rack_reserve *res, double wh_left, double out_w);

/*
 * Where the load of the rack comes from, with reserves in play: load_w[i] is
 * what server i draws (0 when not drawing). Mains (PSUs on feeds that are not
 * failed and not on reserve) serves first, by the PSUs' capacity, shared as
 * the PSUs on a bus share it; PSUs on a feed that is on reserve take their
 * share from that feed's ups; a bus left short takes the rest from the bbu
 * reserves directed to it; a server left short takes it from its own battery
 * or one directed to it. Fills reserve_w[r] (what each reserve delivers,
 * capped at max_w and 0 when empty) and short_w[i] (what server i lacks: its
 * power is lost if > 0). Returns the total shortfall in watts.
 */
double outage_flow(const struct rack *r, const double *load_w, double *reserve_w, double *short_w);

/*
 * Advances the reserves by dt_ns at the rack's present load (the simulator;
 * the daemon takes wh_left from readings): each delivers what outage_flow
 * gives it and loses outage_cell_w of it in energy, never below 0. Returns
 * the total watt-hours taken from the cells.
 */
double outage_discharge(struct rack *r, const double *load_w, int64_t dt_ns);

/* ---- The same model on a what-if of the rack (the planner's plays). ---- */

#define OUTAGE_EPS_W 1e-6  /* watts below this are none: flows are sums of doubles */
#define OUTAGE_EPS_WH 1e-9 /* watt-hours below this are an empty reserve */

/* How a feed stands in a flow. */
enum outage_feed_mode { OUTAGE_FEED_MAINS, OUTAGE_FEED_RESERVE, OUTAGE_FEED_DEAD };

/* The rack with the planner's changes: feeds taken as lost, reserves placed
 * elsewhere, other energy left. */
struct outage_view {
    const struct rack *r;
    unsigned char feed[RACK_MAX_FEEDS]; /* enum outage_feed_mode */
    const int *to_bus;                  /* per reserve, NULL: the rack's */
    const int *to_server;
    const double *wh; /* per reserve, NULL: the rack's wh_left */
};

/* The rack as it stands (its feeds; its reserves' places and energy). */
void outage_view_init(struct outage_view *v, const struct rack *r);

/* outage_flow on a view. short_w may be NULL. */
double outage_view_flow(const struct outage_view *v, const double *load_w, double *reserve_w,
                        double *short_w);

/*
 * Advances the reserves in wh[] by dt_s at load_w on a view (v->wh is set to
 * wh): piece by piece, a piece ending where a reserve runs empty (the flow
 * changes there: another takes over, or a server loses power). Fills
 * reserve_w with the last piece's flow. Returns the watt-hours taken from the
 * cells.
 */
double outage_view_advance(struct outage_view *v, double *wh, const double *load_w, double dt_s,
                           double *reserve_w);

#endif
