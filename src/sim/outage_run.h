/*
 * outage_run.h - the scenario runner in an outage (docs/outage.md "In the
 * simulator"): mains failing and returning, the operator's outage, reserves
 * lost and back, reserves discharging in virtual time with the energy model
 * of outage.h, the planner re-planning at every reading, its steps carried
 * out (diverts and moves on the rack, stops staged through the policy), the
 * releases when mains is back and stable, and moved work going home.
 *
 * The runner (runner.c) owns the output: this module hands it events as
 * JSON objects, asks it to print the policy's actions and a state line, and
 * to play the policy's ticks.
 */
#ifndef OUTAGE_RUN_H
#define OUTAGE_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "outage.h"
#include "policy.h"
#include "rack.h"
#include "rackfile.h"

/* Virtual time on reserves advances at most this much at a time. */
#define ORUN_STEP_NS 1000000000LL
/* ... and at most this much while nothing discharges (recharge, waits). */
#define ORUN_IDLE_STEP_NS 10000000000LL
/* A "reading": the planner re-plans this often (and at every change). */
#define ORUN_READING_NS 10000000000LL
/* A `reserve` event for each reserve this often while on reserves. */
#define ORUN_REPORT_NS 60000000000LL
/* Reserves recharge at 0.2 C (a fifth of energy_wh per hour) while mains is on. */
#define ORUN_RECHARGE_C 0.2
/* The run stops this long after the last timeline step if something still waits. */
#define ORUN_HORIZON_NS (7 * 86400LL * 1000000000LL)

/* Who decides the stops: the planner, or the static groups NUT and PowerChute
 * are set up with in practice (bench_outage.c's comparison). */
enum orun_strategy {
    ORUN_PLANNER,
    ORUN_STATIC, /* hosts of any set but the most important stop after 5 min on battery
                  * or at 50 % charge, the rest at 10 % */
};

/* What a run measured (bench_outage.c). */
struct orun_stats {
    int64_t outage_ns;  /* when the first outage started, INT64_MIN none */
    int64_t top_end_ns; /* when the most important set first stopped running, INT64_MIN
                         * while it ran to the end of the run */
    int64_t end_ns;     /* the run's last virtual time */
    long replans;       /* calls of outage_plan_make */
};

struct orun_io {
    void *ctx;
    void (*event)(void *ctx, int64_t t, json_t *o); /* prints and frees o */
    void (*flush)(void *ctx, int64_t t);            /* prints the actions in *acts */
    void (*state)(void *ctx, int64_t t);            /* prints a state line */
    void (*ticks)(void *ctx, int64_t until);        /* plays the policy's ticks up to until */
    int64_t (*draw_mw)(void *ctx, const struct rack_server *s); /* a server's simulated draw */
};

struct orun;

/* Whether a rack needs this module: it has reserves or activities. */
bool orun_wanted(const struct rack *r);

/* A runner for rack r (which it updates) and the policy pol; the actions it
 * causes go to acts, printed by io.flush. NULL when out of memory. */
struct orun *orun_new(struct rack *r, struct policy *pol, struct policy_actions *acts,
                      const struct orun_io *io, enum orun_strategy strategy);
void orun_free(struct orun *u);

/* Brings virtual time up to `until`: discharge or recharge, re-plans, steps
 * due, stops in progress, releases, and the policy's ticks. */
void orun_advance(struct orun *u, int64_t until);

/* Applies a timeline event at t (orun_advance(u, t) first). Returns 0, or
 * -1 with err. */
int orun_event(struct orun *u, const struct rackfile_event *ev, int64_t t, char *err,
               size_t errlen);

/* After a step's inputs and events: re-plans at once (a change) and takes
 * the steps due. */
void orun_changed(struct orun *u, int64_t t);

/* Whether something still waits on time: a discharge that can change
 * something, a stop in progress, held servers or moved work to bring back. */
bool orun_waiting(const struct orun *u);

/* The virtual time reached. */
int64_t orun_now(const struct orun *u);

/* The fields of a state line: reserves and activities (the runner adds them). */
void orun_state_fields(const struct orun *u, json_t *o);
/* The same for a text state line: " | bbu1 812 Wh 1500 W" ... */
void orun_state_text(const struct orun *u, char *buf, size_t len);

void orun_stats(const struct orun *u, struct orun_stats *out);

#endif
