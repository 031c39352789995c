/*
 * balance.h - load balancing for efficiency (issue 11 section 5,
 * docs/balancing.md): which PSUs stand by, where each is switched and which
 * share of its bus's load each active one carries, so that the rack wastes
 * least in conversion.
 *
 * Pure, like the policy: the rack, the load on each bus and `now` go in; a
 * plan comes out with its reason and figures. The caller carries it out
 * (balance_apply: the rack's fields and the actions for the devices). The
 * plan never weakens what the policy sees: every plan is checked with the
 * policy's own check (policy_check), and anything in doubt wakes PSUs.
 *
 * The loss model: an active PSU delivering x of its rated R loses
 * x * (1 / eff(x / R) - 1), eff linear between the model's points at 10, 20,
 * 50 and 100 % of R; below 10 % it loses what it loses at 10 % (its fixed
 * losses: fans, control, magnetising, dominate there). One standing by
 * draws its model's standby_w. A failed PSU costs nothing.
 */
#ifndef BALANCE_H
#define BALANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"

#define BALANCE_REASON_LEN 256
#define BALANCE_PPM 1000000LL

/* Hysteresis defaults (docs/balancing.md "Hysteresis"). */
#define BALANCE_DEFAULT_MIN_SAVING_MW 5000LL        /* 5 W */
#define BALANCE_DEFAULT_MIN_SAVING_PCT 1            /* ... or 1 % of the loss, the more */
#define BALANCE_DEFAULT_MIN_DWELL_NS 300000000000LL /* 300 s between standby flips */

/* The bound on a plan's evaluations for a caller on an event loop
 * (rackpowerd plans on its loop thread): some tens of milliseconds on the
 * benchmark's machine whatever the rack's size (docs/benchmarks.md
 * "Balancing"). */
#define BALANCE_LOOP_MAX_EVALS 8000

/* Largest rack balance_exhaustive takes. */
#define BALANCE_EXHAUSTIVE_MAX_PSUS 8

struct balance_conf {
    int64_t min_saving_mw; /* a plan replaces the current one only when it saves */
    int min_saving_pct;    /* ... at least the larger of these (of the current loss) */
    int64_t min_dwell_ns;  /* a PSU goes to standby at most once per this (waking: always) */
    /* The most PSU evaluations one plan makes (0: no bound): a candidate
     * rack's loss, or the policy's check of it, costs one per PSU of the
     * rack (what its time grows with). Bounded, the search ends with the
     * best it has found, and a candidate past the bound counts as unsafe: a
     * bounded plan saves less, never risks more; the next plan searches on
     * from where the rack then stands. It may go past the bound by the few
     * evaluations that end it (at most four racks). A count, not a clock:
     * the same rack and loads give the same plan. */
    int64_t max_evals;
};

/* What the plan wants of one PSU. */
struct balance_psu {
    int bus;           /* where it is switched (-1: none) */
    bool standby;      /* stands by */
    int64_t share_ppm; /* of its bus's load; 0 in standby, failed or on no bus */
    int64_t load_mw;   /* what that share is of the bus load given */
    int64_t loss_mw;   /* its loss at that load (standby_w in standby) */
};

struct balance_plan {
    int npsus;
    struct balance_psu *psus; /* npsus of them (balance_plan_init) */
    bool changed;             /* differs from the rack as it stands */
    int64_t loss_before_mw;   /* the rack as it stands, at the loads given */
    int64_t loss_after_mw;    /* with this plan */
    int64_t evals;            /* PSU evaluations it made (max_evals) */
    bool bounded;             /* it reached max_evals: its search stopped there */
    char reason[BALANCE_REASON_LEN];
};

/* A plan for racks of npsus PSUs; 0, or -1 when out of memory. */
int balance_plan_init(struct balance_plan *pl, int npsus);
void balance_plan_free(struct balance_plan *pl);

/* The loss model (above): what a PSU of model m rated rated_mw loses while
 * active and delivering load_mw (>= 0). The simulator uses it too. */
int64_t balance_loss_mw(const struct rack_psu_model *m, int64_t rated_mw, int64_t load_mw);
/* Efficiency at load_mw, parts per million (the curve; below 10 %, 10 %'s). */
int64_t balance_efficiency_ppm(const struct rack_psu_model *m, int64_t rated_mw, int64_t load_mw);

/* Scratch space and memory for one rack's shape: the time of each PSU's
 * last standby flip (hysteresis) and which PSUs can stand by at all. */
struct balance;
struct balance *balance_new(const struct rack *r, const struct balance_conf *conf);
void balance_free(struct balance *b);
/* The defaults above. */
void balance_conf_default(struct balance_conf *conf);
/* Whether psu's device can stand it by and wake it (hwmon cannot write
 * OPERATION): a PSU that cannot is never planned in standby. All can until
 * told. */
void balance_set_can_standby(struct balance *b, int psu, bool can);

/*
 * The plan for rack r with bus_load_mw[b] on each bus b (what its servers
 * draw now, measured) at now_ns. Fills out (initialised for r->npsus):
 * - nothing stands by while some PSU is unknown, some feed has failed, or the
 *   reserves carry or recharge (an outage: everything wakes), nor a PSU that
 *   is at risk, degraded... see docs/balancing.md "Safety";
 * - a standby set and placement only where the rack, so planned, passes the
 *   policy's own check (feasible and protected) and each bus's active PSUs
 *   carry its load;
 * - shares minimising the sum of losses on each bus;
 * - hysteresis: the rack as it stands is kept unless it breaks a rule above
 *   (then the plan wakes what it must, at once) or the new plan saves at
 *   least the larger of min_saving_mw and min_saving_pct of its loss.
 * Returns 0, or -1 with a message in err for a plan of the wrong size.
 */
int balance_plan(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                 int64_t now_ns, struct balance_plan *out, char *err, size_t errlen);

/*
 * Carries a plan out on the rack model at now_ns: each PSU's bus, standby
 * and share_ppm, and the time of its flips (for the dwell). Appends the
 * actions for the devices, in a safe order: wakes first, then switches, then
 * shares, then standbys (capacity is raised before anything leans on it and
 * lowered last). Nothing when the plan did not change anything.
 */
void balance_apply(struct balance *b, struct rack *r, const struct balance_plan *pl, int64_t now_ns,
                   struct policy_actions *out);

/*
 * The optimum by exhaustive search, for racks of at most
 * BALANCE_EXHAUSTIVE_MAX_PSUS PSUs: every standby set and every placement the
 * switches allow, under the same rules as balance_plan but without its
 * hysteresis, with each bus's shares solved finely. out gets the best;
 * *lower_mw (optional) a lower bound on the optimum's loss (the convex
 * relaxation of the shares: docs/balancing.md "How close"). Returns 0, or -1
 * with a message for a rack too large.
 */
int balance_exhaustive(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                       struct balance_plan *out, int64_t *lower_mw, char *err, size_t errlen);

/* The loss of the rack as it stands (its standby flags, positions and
 * shares; shares of 0 everywhere on a bus: sharing in proportion to
 * capacity, as hardware does unplanned) at bus_load_mw. */
int64_t balance_rack_loss_mw(const struct rack *r, const int64_t *bus_load_mw);

/* The rack as it stands, PSU by PSU (the same model as
 * balance_rack_loss_mw): load_mw[i] what PSU i delivers at bus_load_mw and
 * loss_mw[i] what it loses (standby_w standing by, its idle loss awake on no
 * bus or a dead one, 0 failed). Both arrays hold r->npsus. */
void balance_rack_psus(const struct rack *r, const int64_t *bus_load_mw, int64_t *load_mw,
                       int64_t *loss_mw);

/* The load on each bus as the hardware carries it (the caller's split of
 * balance_plan's loads): server i draws draw_mw[i] (NULL: its grant while
 * it draws), one wired to several buses from those whose PSUs are awake (a
 * bus whose PSUs all stand by carries none of it), spread as flow_rack
 * spreads. 0, or -1 when out of memory (then spread as flow_rack alone). */
int balance_awake_loads(const struct rack *r, const int64_t *draw_mw,
                        int64_t load_mw[RACK_MAX_BUSES]);

#endif
