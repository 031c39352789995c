/*
 * sizing.h - the sizing check of a rack file: what the PSUs can deliver
 * (in all, per bus, under the worst single failure), what the servers ask,
 * and warnings about a rack that cannot work as written.
 *
 * `rackpowerd --check` and `rackpower-sim --check` print it (docs/rack-file.md,
 * "Sizing check"). Whether the servers fit, and fit protected, is the
 * routing's own answer (route.h), not a sum: capacity is per bus.
 * Computed on the rack as the file gives it: every PSU healthy, every feed
 * and bus up. Warnings never make a file invalid. A rack with reserves also
 * gets their runtimes with no mains at all, by the outage energy model
 * (outage.h), and a warning for a reserve asked more than its max_w.
 */
#ifndef SIZING_H
#define SIZING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rack.h"
#include "route.h"

#define SIZING_MAX_PRIORITIES 16 /* priorities beyond are added to the last */
#define SIZING_MAX_WARNINGS 64
#define SIZING_WARNING_LEN 200
#define SIZING_MAX_RESERVES 64 /* reserves shown one by one; the rest are counted */

/* One single failure and the capacity it leaves: what the PSUs still up
 * could deliver to a live bus they are wired to (slow switches included). */
struct sizing_failure {
    enum route_failure_kind kind; /* ROUTE_FAIL_NONE: none considered */
    int index;                    /* psu, feed or bus */
    int64_t left_mw;
};

/* A reserve at the rack's full load with no mains on any feed (outage.h's
 * energy model, so the figures are the planner's and the simulator's). */
struct sizing_reserve {
    double asked_w;   /* what its place (bus, feed's PSUs, server) asks of it, max_w aside */
    double full_w;    /* what it delivers: asked_w, at most max_w */
    double runtime_s; /* from full at full_w (INFINITY at 0 W) */
};

struct sizing {
    int64_t total_mw;                      /* PSUs wired to at least one bus */
    int64_t bus_now_mw[RACK_MAX_BUSES];    /* switched onto the bus as written */
    int64_t bus_reach_mw[RACK_MAX_BUSES];  /* every PSU wired to the bus */
    int64_t feed_mw[RACK_MAX_FEEDS];       /* every PSU on the feed */
    struct sizing_failure worst;           /* of every PSU, feed and bus */
    struct sizing_failure worst_protected; /* of the protection set (kind NONE for none) */
    int64_t power_mw, min_mw;              /* the servers' power_w and min_w, summed */
    int npriorities;                       /* 1..SIZING_MAX_PRIORITIES used */
    int64_t prio_power_mw[SIZING_MAX_PRIORITIES], prio_min_mw[SIZING_MAX_PRIORITIES];
    int prio_servers[SIZING_MAX_PRIORITIES];
    /* The routing's answers for every server at power_w, and at min_w:
     * can some routing serve them all, and serve them protected? */
    bool power_served, power_protected, min_served, min_protected;
    /* Why all at power_w is not protected (or not served), as written. */
    char power_why[SIZING_WARNING_LEN];
    /* Reserves (docs/outage.md): every feed without mains (a feed behind a
     * ups on it, the others failed), every server at power_w, every reserve
     * full and where the file places it. nreserves 0: none, nothing shown. */
    int nreserves;
    double reserve_wh; /* usable energy of them all */
    struct sizing_reserve reserve[SIZING_MAX_RESERVES];
    double load_w;         /* every server at power_w */
    double full_runtime_s; /* until some server loses power (0: at once) */
    double full_short_w;   /* what the reserves cannot carry at once */
    /* The most important set (the activities of the lowest priority
     * number; 0: the rack has no activities), alone: its servers at power_w,
     * everything else stopped. */
    int top_priority;
    int top_servers;
    double top_w;
    double top_runtime_s;  /* the reserves as placed */
    double top_switched_s; /* and every reserve idle for it switched to it where it can */
    int nwarnings;
    char warnings[SIZING_MAX_WARNINGS][SIZING_WARNING_LEN];
};

/* Computes the figures and warnings of r (as loaded: healthy, nothing
 * drawing). 0, or -1 when out of memory (s then holds the plain sums only). */
int sizing_check(const struct rack *r, struct sizing *s);

/* Prints s in the text that --check shows (watts), one line each; the
 * warnings as "warning: ..." lines. */
void sizing_print(FILE *f, const struct rack *r, const struct sizing *s);

#endif
