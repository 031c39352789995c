/*
 * outage.h - battery reserves in an outage (seed 003, docs/outage.md): the
 * reserve plan, on the energy model of outage_energy.h (included here: the
 * simulator and the planner share it).
 *
 * Pure, like the policy: the rack (with its reserves, activities and the
 * servers' states), the outage and `now` go in; a plan comes out, each step
 * with its reason and figures. The caller (the simulator, rackpowerd) carries
 * the steps out: diverts and moves on the rack model (outage_apply), stops
 * through the policy (POLICY_OUTAGE_STOP), and tells the devices.
 *
 * Energy is in watt-hours and power in watts (doubles) here: discharge is not
 * linear (Peukert), and the figures are estimates. Times are nanoseconds.
 */
#ifndef OUTAGE_H
#define OUTAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outage_energy.h"
#include "rack.h"

#define OUTAGE_REASON_LEN 320
#define OUTAGE_MAX_LEVELS 16 /* priority levels the plan keeps commitments for */

/* What started an outage (claims 6-7). */
enum outage_cause {
    OUTAGE_CAUSE_FEED,     /* a feed failed while reserves carry its load */
    OUTAGE_CAUSE_UPS,      /* NUT: ups.status OB (then LB) */
    OUTAGE_CAUSE_BBU,      /* an ORv3 BBU reports discharge */
    OUTAGE_CAUSE_OPERATOR, /* rackpowerctl outage start */
};

/* The caller's record of one outage. */
struct outage {
    bool active;
    enum outage_cause cause;
    int64_t since_ns;      /* when it started */
    int64_t mains_back_ns; /* when mains returned (INT64_MIN while out): releases wait
                            * for rack.outage.mains_stable_ns after it */
    int stages;            /* stop stages taken so far (the next one is stages + 1) */
    /* The plan's commitments, kept by outage_plan_make in this record (zero them
     * when an outage starts; ones made for another since_ns are dropped): per
     * priority level, the time before which less important work may not take
     * its servers' power. Without them, re-planning at every reading would give
     * away slack_pct of what is left each time, and slack would creep. */
    int nfloors;
    int floor_priority[OUTAGE_MAX_LEVELS];
    int64_t floor_ns[OUTAGE_MAX_LEVELS];
    int64_t floors_since_ns;
};

/* ---- The plan. ---- */

enum outage_step_kind {
    OUTAGE_STEP_DIVERT, /* reserve -> to_bus or to_server, watts (claims 1, 9, 12, 23) */
    OUTAGE_STEP_MOVE,   /* activity: server -> to_server (claims 8, 11) */
    OUTAGE_STEP_STOP,   /* server (and the activities on it), stage (claim 13) */
};

struct outage_step {
    enum outage_step_kind kind;
    int reserve;   /* divert; else -1 */
    int to_bus;    /* divert to a bus; else -1 */
    int to_server; /* divert to a server, move's target; else -1 */
    int activity;  /* move; stop: the most important activity on the server, -1 none */
    int server;    /* stop; move: the server it leaves; else -1 */
    double watts;  /* divert: W directed; move: W moved; stop: W the stop saves */
    int stage;     /* stop: 1, 2, ... in the order they come */
    bool now;      /* due now; else when the energy left falls to at_wh */
    double at_wh;  /* energy left in the reserves serving the server when it is due */
    double at_s;   /* the same as a time: predicted seconds from now */
    /* what the step buys: the most important set's runtime with it minus without */
    double gain_s;
    char reason[OUTAGE_REASON_LEN];
};

struct outage_plan {
    struct outage_step *steps; /* in the order they are due */
    size_t nsteps, cap;
    double *runtime_s; /* per activity (rack order): predicted runtime from now under the
                        * plan; 0 once stopped; INFINITY when mains carries it */
    int nruntime;
    double wh_left;       /* usable energy left in all reserves */
    double load_w;        /* what the rack draws now */
    double top_runtime_s; /* the most important set's runtime under the plan */
    bool feasible;        /* the servers kept up fit what the reserves can deliver */
    char summary[OUTAGE_REASON_LEN];
};

void outage_plan_clear(struct outage_plan *p);
void outage_plan_free(struct outage_plan *p);

/*
 * Plans the outage from the rack as it stands at now_ns: the reserves' wh_left
 * and known, the servers' states and draws (draw_mw when reported, else
 * alloc_mw), the activities where they run now. o->active false plans "if
 * mains failed now" (rackpowerctl outage plan): every feed taken as lost, the
 * ups reserves carrying their feeds. Maximises the runtime of the most important
 * set, then the next, giving up at most rack.outage.slack_pct of a set's
 * runtime for the less important ones, after a ride-through of
 * rack.outage.ride_through_ns from o->since_ns in which nothing stops.
 * Never plans to restart what an outage stopped. With o->active, records its
 * commitments in o (nfloors...). Steps are due when `now` is true: the caller
 * carries those out and plans again at the next reading or change (a server
 * already told to stop, its activities marked stopped by outage_apply, is
 * counted drawing for its graceful time and not planned again). Returns 0, or -1 with err (out of
 * memory).
 */
int outage_plan_make(const struct rack *r, struct outage *o, int64_t now_ns,
                     struct outage_plan *out, char *err, size_t errlen);

/*
 * Applies a divert or a move to the rack model (a reserve's to_bus/to_server;
 * an activity's servers and state, and the servers' priorities from the
 * activities they host). For a stop, marks stopped the activities that ran
 * only there (the server keeps its priority, to come back in its place); the
 * stop itself goes through the policy (POLICY_OUTAGE_STOP). Returns 0, or -1
 * with err for a step that does not fit the rack (a switch the reserve does
 * not have, a server not in movable_to).
 */
int outage_apply(struct rack *r, const struct outage_step *s, char *err, size_t errlen);

/*
 * Whether a divert is worth carrying out: always from a reserve's own place;
 * a reserve already directed elsewhere moves again only for a gain of at
 * least OUTAGE_REDIVERT_MIN_S and OUTAGE_REDIVERT_PCT of the most important
 * set's runtime, so that re-plans every few seconds do not swing it between
 * two servers for a second each (hysteresis).
 */
#define OUTAGE_REDIVERT_MIN_S 30.0
#define OUTAGE_REDIVERT_PCT 2.0
bool outage_divert_worth(const struct rack *r, const struct outage_step *s,
                         const struct outage_plan *plan);

/*
 * How many servers drawing now would lose power if a divert step were carried
 * out now (their shortfall grows): a divert waits until they have stopped
 * gracefully, so that a reserve is never pulled from under running work.
 * Names them in who (may be NULL). Returns -1 when out of memory.
 */
int outage_divert_darkens(const struct rack *r, const struct outage_step *s, char *who, size_t len);

/*
 * Whether the held servers may come back now: mains back for at least
 * rack.outage.mains_stable_ns and every reserve at least min_charge_pct full
 * (a reserve not known counts as not full). The caller then sends
 * POLICY_OUTAGE_RELEASE and puts moved activities home.
 */
bool outage_may_release(const struct rack *r, const struct outage *o, int64_t now_ns);

/*
 * A server's graceful time once told to stop: the longest stop_s of the
 * activities on it (RACK_DEFAULT_STOP_NS with none). Its power is cut
 * rack.outage.soft_off_ns after that.
 */
int64_t outage_graceful_ns(const struct rack *r, int server);

const char *outage_cause_name(enum outage_cause c);
const char *outage_step_name(enum outage_step_kind k);

#endif
