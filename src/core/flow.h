/*
 * flow.h - what each bus carries: the capacity the PSUs switched onto it
 * deliver, and how the servers' draws spread over the live buses they are
 * wired to. The one computation of it: the simulator's physics (which PSU
 * delivers what), the daemon's /v1/status and the scenario runner's state
 * lines all use it.
 *
 * Pure: no I/O, no clock, no allocation.
 */
#ifndef FLOW_H
#define FLOW_H

#include <stdint.h>

#include "rack.h"

/* Demands with the same bus mask merge into one class: never more than this. */
#define FLOW_MAX_CLASSES (1 << RACK_MAX_BUSES)

/* cap_mw[b]: what the PSUs switched onto bus b deliver (rack_psu_capacity_mw:
 * 0 on a failed bus, from a failed PSU or from a PSU whose feed is down). */
void flow_bus_capacity(const struct rack *r, int64_t cap_mw[RACK_MAX_BUSES]);

/*
 * Spreads demands over buses. Demand k may be drawn from any bus in mask[k].
 * Returns the worst ratio of demand to capacity over every set of buses X
 * (the demands that can only be drawn from X against the capacity of X;
 * INFINITY when some demand has a set with no capacity at all), the set in
 * *worst (on ties the larger set; worst may be NULL), and in load_mw the
 * spread that keeps the most loaded bus, relative to its capacity, as little
 * loaded as possible (demands with no capacity under them are left out of
 * it). Serving is feasible when the ratio is <= 1. Demands with an empty
 * mask are left out. nbuses at most RACK_MAX_BUSES, nclass at most
 * FLOW_MAX_CLASSES (more: INFINITY and no load).
 */
double flow_spread(int nbuses, const int64_t cap_mw[], int nclass, const uint32_t mask[],
                   const int64_t demand_mw[], int64_t load_mw[], uint32_t *worst);

/*
 * Max flow from demand classes to buses (Edmonds-Karp on source -> class ->
 * bus -> sink; a class draws from any bus in its mask without limit), on
 * doubles, continued from the flow already in sent (per class), flow
 * (per class and bus) and into (per bus): start them at zero; raising cap and
 * calling again keeps what each bus carried (a path ends on a bus's edge to
 * the sink, never leaves by it), so flows can be filled tier by tier (the
 * outage energy model: mains, then ups, then bbu reserves). Amounts at or
 * below eps count as none: 0 for whole milliwatts (flow_spread), a small
 * epsilon for sums of doubles. nb at most RACK_MAX_BUSES and nk at most
 * FLOW_MAX_CLASSES (more: nothing is routed).
 */
void flow_augment(int nb, const double cap[], int nk, const uint32_t mask[], const double dem[],
                  double eps, double sent[], double (*flow)[RACK_MAX_BUSES], double into[]);

/*
 * The rack's buses: cap_mw as flow_bus_capacity, load_mw as flow_spread
 * over the live buses each server is wired to, server i drawing draw_mw[i]
 * (draw_mw NULL: its grant while it draws, rack_server_draws). Returns
 * flow_spread's ratio, or INFINITY when a drawing server has no live bus.
 */
double flow_rack(const struct rack *r, const int64_t *draw_mw, int64_t cap_mw[RACK_MAX_BUSES],
                 int64_t load_mw[RACK_MAX_BUSES]);

#endif
