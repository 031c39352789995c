/*
 * policy.h - the power policy: admission, re-routing, capping, shedding and
 * restoring, as DESIGN.md's semantics define them.
 *
 * Pure: an input and `now` go in, the rack is updated and the decisions come
 * out as actions, each with its reason and figures. No I/O, no clock.
 * After policy_handle returns, the rack is settled: serving is feasible and,
 * unless on_loss is hold, protected (or nothing more can be shed).
 */
#ifndef POLICY_H
#define POLICY_H

#include "rack.h"

enum policy_input_kind {
    POLICY_POWER_ON,    /* server asks for power_mw */
    POLICY_POWER_OFF,   /* server releases its power in order */
    POLICY_REMOVE,      /* server is gone (abrupt removal): its power is free */
    POLICY_PSU_FAIL,    /* psu */
    POLICY_PSU_DEGRADE, /* psu, watts_mw = derated capacity */
    POLICY_PSU_REPAIR,  /* psu */
    POLICY_BUS_FAIL,
    POLICY_BUS_REPAIR,
    POLICY_FEED_FAIL,
    POLICY_FEED_REPAIR,
    POLICY_REPORT,         /* server reports its actual draw, watts_mw (claim 26) */
    POLICY_TICK,           /* time passes: restores that were waiting for stability */
    POLICY_PSU_UNKNOWN,    /* psu cannot be read: it keeps serving, does not count for
                            * protection; a failed one stays failed (docs/policy.md) */
    POLICY_LOST_POWER,     /* a granted server lost power without a decision (brown-out,
                            * breaker, cable): shed, holding its place, not restored
                            * before its back-off (docs/policy.md) */
    POLICY_OUTAGE_STOP,    /* an outage plan stops the server (docs/outage.md): shed and
                            * held, not restored until released */
    POLICY_OUTAGE_RELEASE, /* the outage is over for the server: no longer held, it comes
                            * back by the restore rules */
    POLICY_PSU_AT_RISK,    /* psu is predicted to fail (docs/prediction.md): it serves but
                            * counts for no protection or admission, and is drained off
                            * its bus while the rack stays protected without it; with
                            * on_predicted_failure: shed it counts as failed */
    POLICY_PSU_RISK_CLEAR, /* psu is no longer predicted to fail */
};

/* Back-off after a loss of power: restore_after (at least
 * POLICY_LOSS_BACKOFF_MIN_NS, so that a rack restoring at once still stops a
 * power loop) for the first loss, doubled for each loss in a row, at most
 * POLICY_LOSS_BACKOFF_MAX times that.
 * A loss counts as in a row when it comes less than POLICY_LOSS_WINDOW_NS after
 * the previous loss's back-off ended. */
#define POLICY_LOSS_BACKOFF_MAX 16
#define POLICY_LOSS_BACKOFF_MIN_NS 5000000000LL /* 5 s */
#define POLICY_LOSS_WINDOW_NS 600000000000LL    /* 10 min */

/* The back-off of the n-th loss in a row (n >= 1) with restore_after_ns. */
int64_t policy_loss_backoff_ns(int64_t restore_after_ns, int n);

struct policy_input {
    enum policy_input_kind kind;
    int index; /* server, psu, bus or feed index, per kind */
    int64_t watts_mw;
};

/* Which kind of element an input kind names (policy_input.index indexes it). */
enum policy_target {
    POLICY_TARGET_NONE, /* names no element (tick) */
    POLICY_TARGET_SERVER,
    POLICY_TARGET_PSU,
    POLICY_TARGET_BUS,
    POLICY_TARGET_FEED,
};

/* Largest draw a server may report: 10 MW, far above any rack, and low enough
 * that sums over a rack's servers cannot overflow. */
#define POLICY_MAX_REPORT_MW 10000000000LL

enum policy_target policy_input_target(enum policy_input_kind k);
const char *policy_target_name(enum policy_target t);

/* The id of the element an input names, or NULL when it names none in r
 * (a tick, or an index out of range). */
const char *policy_input_subject(const struct rack *r, const struct policy_input *in);

/*
 * Whether an input fits rack r, as policy_handle checks it: a known kind, an
 * index in range for its target, and sound watts (a derated capacity in
 * (0, rated], a reported draw in [0, POLICY_MAX_REPORT_MW]). It does not
 * judge whether the input changes anything (a repair of a healthy PSU is
 * valid). Returns 0, or -1 with a message in err naming the input.
 */
int policy_input_check(const struct rack *r, const struct policy_input *in, char *err, size_t len);

enum policy_action_kind {
    POLICY_ACT_GRANT,      /* server may draw power_mw */
    POLICY_ACT_WAIT,       /* request queued */
    POLICY_ACT_RELEASE,    /* server's power returned to the pool */
    POLICY_ACT_SWITCH,     /* psu moved from_bus -> to_bus */
    POLICY_ACT_CAP,        /* server capped to watts_mw (lowered or raised, still capped) */
    POLICY_ACT_SHED,       /* server powered down by the controller */
    POLICY_ACT_RESTORE,    /* shed or capped server back, at watts_mw */
    POLICY_ACT_PROTECTION, /* protection state changed */
    POLICY_ACT_IGNORED,    /* input did not apply (server already on, ...) */
    /* Outage actions (docs/outage.md): made by the caller from a plan, never by
     * policy_handle, and executed by the drivers that reach the server. */
    POLICY_ACT_STAGE,    /* publish the server's stage to its upsmon: stage 0 OL,
                          * 1 OB (on battery), 2 OB LB (shut down now) */
    POLICY_ACT_SOFT_OFF, /* ask the server's BMC for a soft (ACPI) power-off */
    /* Balancing actions (docs/balancing.md): made by the caller from a
     * balance plan (balance.h), never by policy_handle. Any action that raises
     * load (grant, restore, a raised cap) is preceded by the wakes it needs. */
    POLICY_ACT_STANDBY, /* psu stands by (cold redundancy: PMBus OPERATION off) */
    POLICY_ACT_WAKE,    /* psu carries load again */
    POLICY_ACT_SHARE,   /* psu carries share_ppm of its bus's load: watts_mw planned */
};

/* Stages of POLICY_ACT_STAGE. */
enum policy_stage { POLICY_STAGE_OL, POLICY_STAGE_OB, POLICY_STAGE_OB_LB };

#define POLICY_REASON_LEN 256

struct policy_action {
    enum policy_action_kind kind;
    int server;   /* -1 when not about a server */
    int psu;      /* -1 when not about a psu */
    int from_bus; /* switch: -1 when the psu was on no bus */
    int to_bus;
    int64_t watts_mw;
    bool is_protected;    /* protection: the new state */
    bool redundancy_lost; /* protection: some server has a failure it cannot survive */
    bool instant;         /* switch: faster than the hold-up time */
    int stage;            /* POLICY_ACT_STAGE: enum policy_stage */
    int64_t share_ppm;    /* POLICY_ACT_SHARE: of its bus's load, parts per million */
    /* Figures behind the decision, rack-wide, at the moment it was taken. */
    int64_t capacity_mw;
    int64_t allocated_mw;
    char reason[POLICY_REASON_LEN];
};

struct policy_actions {
    struct policy_action *v;
    size_t n, cap;
    size_t dropped;             /* reports lost to a failed allocation (decisions still apply) */
    struct policy_action spare; /* where such a report is written */
};

void policy_actions_clear(struct policy_actions *a);
void policy_actions_free(struct policy_actions *a);

/* Scratch space for one rack's shape; reused across calls so handling an
 * input allocates nothing in the steady state. */
struct policy;
struct policy *policy_new(const struct rack *r);
void policy_free(struct policy *p);

/*
 * Applies one input at time now_ns and settles the rack. Appends the actions
 * to out. Returns 0, or -1 with a message in err for an input that names
 * nothing in this rack (the rack is unchanged then).
 */
int policy_handle(struct policy *p, struct rack *r, const struct policy_input *in, int64_t now_ns,
                  struct policy_actions *out, char *err, size_t errlen);

/* Applies several inputs that happen at the same instant (servers asking
 * together in a boot storm, a feed taking PSUs down) and settles once: the
 * requests then queue in priority order before any is granted. All inputs are
 * checked first; on an error nothing is applied. */
int policy_handle_many(struct policy *p, struct rack *r, const struct policy_input *in, size_t n,
                       int64_t now_ns, struct policy_actions *out, char *err, size_t errlen);

/* After servers' priorities changed (an outage plan moved activities,
 * outage_apply): the policy's order, most important first, follows them at
 * the next input. */
void policy_resort(struct policy *p);

/* Settles the rack as it stands (after loading, or after a restart). */
void policy_settle(struct policy *p, struct rack *r, int64_t now_ns, struct policy_actions *out);
/* The next policy_settle answers every waiting server as a new request is
 * answered (a grant, or a wait saying why now), keeping its place in the
 * queue: after raises were held (the daemon's decider), a waiting server's
 * last word was the hold's, not the rack's. */
void policy_reask_waiting(struct policy *p, const struct rack *r);

/* When the policy next wants a POLICY_TICK (a restore waiting for the rack to
 * be stable, or the end of a back-off after lost power), or INT64_MAX when
 * nothing waits on time. */
int64_t policy_next_deadline(const struct rack *r);

/*
 * Checks, as the policy does, whether the rack as it stands is feasible and
 * protected (with the re-routing its switches allow). For tests and status.
 */
struct policy_check {
    bool feasible;
    bool is_protected;
    bool redundancy_lost;
};
void policy_check(struct policy *p, const struct rack *r, struct policy_check *out);

/*
 * Whether a shed or capped server could come back (docs/policy.md): with
 * every less important server off, it would fit at its min_w (power_w when it
 * cannot be capped) in the rack as it stands, feasible and protected as a
 * restore would bring it back (unknown PSUs counted as healthy; with
 * on_protection_loss hold, feasible). While one could, every less important request waits; one
 * that could not holds no place and blocks nobody. False for a server that is
 * not shed or capped, or an index out of range. The policy's own rule, for
 * tests and status.
 */
bool policy_could_come_back(struct policy *p, const struct rack *r, int server);

const char *policy_action_name(enum policy_action_kind k);
const char *policy_input_name(enum policy_input_kind k);

#endif
