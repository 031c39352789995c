/*
 * outage_run.c - the scenario runner in an outage (docs/outage.md "In the
 * simulator", docs/simulator.md).
 *
 * The simulation holds the truth: what each reserve really has left
 * (true_wh), discharged at the servers' simulated draw with the energy model
 * the planner uses (outage_discharge), so that the plan's predictions and
 * what happens differ only by the draws. The rack the planner sees has the
 * same figures, except for a reserve whose readings are lost: the planner
 * sees it draining at its last known rate, as rackpowerd would.
 */
#include "outage_run.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evjson.h"
#include "evjson_outage.h"

enum stop_phase {
    STOP_NONE,
    STOP_GRACE, /* told OB LB: its upsmon shuts it down; it draws until due */
    STOP_SOFT,  /* soft-off asked; power off when due */
};

struct orun {
    struct rack *r;
    struct policy *pol;
    struct policy_actions *acts;
    struct orun_io io;
    enum orun_strategy strategy;

    struct outage o;
    bool operator_on;
    bool mains_out[RACK_MAX_FEEDS];
    bool ever; /* an outage happened: releases and moves home may wait */
    int64_t now;
    int64_t next_reading, next_report;
    bool dirty;   /* something changed: re-plan now */
    bool touched; /* something was printed at this instant: a state line follows */
    struct outage_plan plan;
    bool have_plan;

    enum stop_phase *phase; /* per server */
    bool *stopped;          /* per server: stopped in this outage (never stopped twice) */
    int64_t *due;           /* per server: end of its phase */
    double *load_w;         /* per server, scratch */
    double *short_w;        /* per server, scratch */
    double *res_w;          /* per reserve, scratch */
    double *true_wh;        /* per reserve: what it really holds */
    double *lost_cell_w;    /* per reserve: its cells' rate when its readings were lost */
    bool *top_server;       /* static groups without activities: the top set's hosts */

    struct orun_stats st;
    int top_priority;
};

bool orun_wanted(const struct rack *r)
{
    return r->nreserves > 0 || r->nactivities > 0;
}

struct orun *orun_new(struct rack *r, struct policy *pol, struct policy_actions *acts,
                      const struct orun_io *io, enum orun_strategy strategy)
{
    struct orun *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->r = r;
    u->pol = pol;
    u->acts = acts;
    u->io = *io;
    u->strategy = strategy;
    u->o.mains_back_ns = INT64_MIN;
    u->now = INT64_MIN;
    size_t ns = (size_t)r->nservers + 1, nr = (size_t)r->nreserves + 1;
    u->phase = calloc(ns, sizeof(*u->phase));
    u->due = calloc(ns, sizeof(*u->due));
    u->load_w = calloc(ns, sizeof(double));
    u->short_w = calloc(ns, sizeof(double));
    u->top_server = calloc(ns, sizeof(bool));
    u->stopped = calloc(ns, sizeof(bool));
    u->res_w = calloc(nr, sizeof(double));
    u->true_wh = calloc(nr, sizeof(double));
    u->lost_cell_w = calloc(nr, sizeof(double));
    if (!u->phase || !u->due || !u->load_w || !u->short_w || !u->top_server || !u->stopped ||
        !u->res_w || !u->true_wh || !u->lost_cell_w) {
        orun_free(u);
        return NULL;
    }
    for (int i = 0; i < r->nreserves; i++)
        u->true_wh[i] = r->reserves[i].wh_left;
    u->st.outage_ns = u->st.top_end_ns = INT64_MIN;
    u->top_priority = INT_MAX;
    for (int a = 0; a < r->nactivities; a++)
        if (r->activities[a].priority < u->top_priority)
            u->top_priority = r->activities[a].priority;
    return u;
}

void orun_free(struct orun *u)
{
    if (!u)
        return;
    outage_plan_free(&u->plan);
    free(u->phase);
    free(u->due);
    free(u->load_w);
    free(u->short_w);
    free(u->top_server);
    free(u->stopped);
    free(u->res_w);
    free(u->true_wh);
    free(u->lost_cell_w);
    free(u);
}

int64_t orun_now(const struct orun *u)
{
    return u->now;
}

void orun_stats(const struct orun *u, struct orun_stats *out)
{
    *out = u->st;
    out->end_ns = u->now;
}

/* ---- Output. ---- */

static json_t *event_obj(int64_t t, const char *event)
{
    json_t *o = json_object();
    json_object_set_new(o, "t", evjson_seconds(t));
    json_object_set_new(o, "event", json_string(event));
    return o;
}

static void emit(struct orun *u, json_t *o)
{
    u->io.event(u->io.ctx, u->now, o);
    u->touched = true;
}

static void flush(struct orun *u)
{
    if (u->acts->n)
        u->touched = true;
    u->io.flush(u->io.ctx, u->now);
}

static const char *stage_name(int stage)
{
    return stage == POLICY_STAGE_OL ? "OL" : stage == POLICY_STAGE_OB ? "OB" : "OB LB";
}

static json_t *runtime_json(double s)
{
    return isfinite(s) ? json_real(s) : json_null();
}

/* A plan's step as an event (divert, move, stop; docs/simulator.md); a stop
 * carries the runtime per set of the plan it came from (p, NULL: none). */
static void step_fields(json_t *o, const struct rack *r, const struct outage_step *s,
                        const struct outage_plan *p)
{
    evjson_outage_step(o, r, s);
    if (s->kind == OUTAGE_STEP_STOP) {
        if (p)
            evjson_outage_runtimes(o, r, p);
        else
            json_object_set_new(o, "runtime_s", json_object());
    }
}

/* An action the runner makes (stage, soft-off), printed as the policy's are. */
static void emit_action(struct orun *u, enum policy_action_kind kind, int server, int stage,
                        const char *reason)
{
    struct policy_action a = {
        .kind = kind, .server = server, .psu = -1, .from_bus = -1, .to_bus = -1, .stage = stage};
    a.watts_mw = rack_server_draws(&u->r->servers[server]) ? u->r->servers[server].alloc_mw : 0;
    a.capacity_mw = rack_capacity_mw(u->r);
    a.allocated_mw = rack_allocated_mw(u->r);
    snprintf(a.reason, sizeof(a.reason), "%s", reason);
    json_t *o = event_obj(u->now, policy_action_name(kind));
    evjson_action(o, u->r, &a);
    if (kind == POLICY_ACT_STAGE)
        json_object_set_new(o, "stage", json_string(stage_name(stage)));
    emit(u, o);
}

static void emit_reserve(struct orun *u, int i)
{
    const struct rack_reserve *v = &u->r->reserves[i];
    json_t *o = event_obj(u->now, "reserve");
    evjson_reserve(o, u->r, i, outage_runtime_s(v, v->wh_left, v->watts));
    emit(u, o);
}

static void emit_reserves(struct orun *u)
{
    for (int i = 0; i < u->r->nreserves; i++)
        emit_reserve(u, i);
}

/* Applies one policy input now and prints what it caused. */
static void policy_now(struct orun *u, struct policy_input in)
{
    char err[POLICY_REASON_LEN];
    if (policy_handle(u->pol, u->r, &in, u->now, u->acts, err, sizeof(err)) == 0) {
        flush(u);
        u->dirty = true;
    }
}

/* A feed's failure or repair as an input event, with why. */
static void feed_input(struct orun *u, int feed, bool fail, const char *why)
{
    struct policy_input in = {.kind = fail ? POLICY_FEED_FAIL : POLICY_FEED_REPAIR, .index = feed};
    json_t *o = event_obj(u->now, policy_input_name(in.kind));
    evjson_input(o, u->r, &in);
    json_object_set_new(o, "reason", json_string(why));
    emit(u, o);
    policy_now(u, in);
}

/* ---- The physics. ---- */

static void fill_loads(struct orun *u)
{
    const struct rack *r = u->r;
    for (int i = 0; i < r->nservers; i++)
        u->load_w[i] = rack_server_draws(&r->servers[i])
                           ? (double)u->io.draw_mw(u->io.ctx, &r->servers[i]) / 1000
                           : 0;
}

static bool any_mains_out(const struct orun *u)
{
    for (int f = 0; f < u->r->nfeeds; f++)
        if (u->mains_out[f])
            return true;
    return false;
}

static bool any_held(const struct orun *u)
{
    for (int i = 0; i < u->r->nservers; i++)
        if (u->r->servers[i].held)
            return true;
    return false;
}

/* Work the outage displaced: moved, or stopped (it runs again with its servers). */
static bool any_moved(const struct orun *u)
{
    for (int a = 0; a < u->r->nactivities; a++)
        if (u->r->activities[a].state != RACK_ACT_RUNNING)
            return true;
    return false;
}

static bool any_stopping(const struct orun *u)
{
    for (int i = 0; i < u->r->nservers; i++)
        if (u->phase[i] != STOP_NONE)
            return true;
    return false;
}

/* The flow at the loads in load_w; reserves' watts and discharging follow it
 * (a reserve whose readings are lost keeps showing its last figure). */
static double flow_now(struct orun *u)
{
    struct rack *r = u->r;
    for (int i = 0; i < r->nreserves; i++)
        r->reserves[i].wh_left = u->true_wh[i];
    double lacking = outage_flow(r, u->load_w, u->res_w, u->short_w);
    return lacking;
}

/* Shows the planner the figures it would read: the truth, or for a reserve
 * whose readings are lost, its estimate (kept in est). */
static void show_estimates(struct orun *u, const double *est)
{
    struct rack *r = u->r;
    for (int i = 0; i < r->nreserves; i++) {
        struct rack_reserve *res = &r->reserves[i];
        if (res->known) {
            res->wh_left = u->true_wh[i];
            res->watts = u->res_w[i];
            res->discharging = u->res_w[i] > 0;
        } else {
            res->wh_left = est[i];
        }
    }
}

/* dt of discharge (some feed out or an outage on) or recharge. */
static void energy(struct orun *u, int64_t dt_ns)
{
    struct rack *r = u->r;
    if (r->nreserves == 0 || dt_ns <= 0)
        return;
    double est[RACK_MAX_RESERVES];
    for (int i = 0; i < r->nreserves; i++)
        est[i] = r->reserves[i].wh_left;
    if (any_mains_out(u)) {
        fill_loads(u);
        flow_now(u);
        outage_discharge(r, u->load_w, dt_ns);
        for (int i = 0; i < r->nreserves; i++) {
            u->true_wh[i] = r->reserves[i].wh_left;
            if (!r->reserves[i].known)
                est[i] = fmax(0, est[i] - u->lost_cell_w[i] * (double)dt_ns / 3.6e12);
        }
    } else {
        /* mains on every feed: every reserve recharges (docs/outage.md) */
        for (int i = 0; i < r->nreserves; i++) {
            struct rack_reserve *res = &r->reserves[i];
            u->true_wh[i] = fmin(res->energy_wh, u->true_wh[i] + res->energy_wh * ORUN_RECHARGE_C *
                                                                     (double)dt_ns / 3.6e12);
            u->res_w[i] = 0;
        }
    }
    show_estimates(u, est);
}

/* When the first reserve that delivers now would be empty, INT64_MAX none. */
static int64_t next_empty(struct orun *u)
{
    struct rack *r = u->r;
    if (!any_mains_out(u))
        return INT64_MAX;
    int64_t best = INT64_MAX;
    for (int i = 0; i < r->nreserves; i++) {
        double w = u->res_w[i];
        if (w <= 0 || u->true_wh[i] <= 0)
            continue;
        double s = u->true_wh[i] * 3600 / outage_cell_w(&r->reserves[i], w);
        double ns = ceil(s * 1e9);
        if (ns < 1e6)
            ns = 1e6;
        if (ns < (double)(INT64_MAX - u->now) && u->now + (int64_t)ns < best)
            best = u->now + (int64_t)ns;
    }
    return best;
}

/* ---- The outage's start and end. ---- */

static void stage_all(struct orun *u, int stage, const char *why)
{
    for (int i = 0; i < u->r->nservers; i++)
        emit_action(u, POLICY_ACT_STAGE, i, stage, why);
}

/* The servers of the most important set (static groups, the figures). */
static bool hosts_top(const struct orun *u, int server)
{
    const struct rack *r = u->r;
    if (r->nactivities == 0)
        return u->top_server[server];
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *act = &r->activities[a];
        if (act->priority != u->top_priority)
            continue;
        for (int k = 0; k < act->nservers; k++)
            if (act->servers[k] == server)
                return true;
    }
    return false;
}

static bool top_running(const struct orun *u)
{
    const struct rack *r = u->r;
    bool any = false;
    for (int i = 0; i < r->nservers; i++)
        if (hosts_top(u, i)) {
            any = true;
            if (!rack_server_draws(&r->servers[i]) || u->phase[i] == STOP_SOFT)
                return false;
        }
    for (int a = 0; a < r->nactivities; a++)
        if (r->activities[a].priority == u->top_priority &&
            r->activities[a].state == RACK_ACT_STOPPED)
            return false;
    return any;
}

static void outage_start(struct orun *u, enum outage_cause cause, const char *why)
{
    struct rack *r = u->r;
    /* a new record: the plan's commitments of an earlier outage do not hold */
    u->o = (struct outage){
        .active = true, .cause = cause, .since_ns = u->now, .mains_back_ns = INT64_MIN};
    u->ever = true;
    u->dirty = true;
    u->next_reading = u->now + ORUN_READING_NS;
    u->next_report = u->now + ORUN_REPORT_NS;
    if (u->st.outage_ns == INT64_MIN) {
        u->st.outage_ns = u->now;
        if (r->nactivities == 0) { /* the most important servers drawing now */
            int best = INT_MAX;
            for (int i = 0; i < r->nservers; i++)
                if (rack_server_draws(&r->servers[i]) && r->servers[i].priority < best)
                    best = r->servers[i].priority;
            for (int i = 0; i < r->nservers; i++)
                u->top_server[i] =
                    rack_server_draws(&r->servers[i]) && r->servers[i].priority == best;
        }
    }
    json_t *o = event_obj(u->now, "outage");
    json_object_set_new(o, "state", json_string("start"));
    json_object_set_new(o, "cause", json_string(outage_cause_name(cause)));
    json_object_set_new(o, "reason", json_string(why));
    emit(u, o);
    stage_all(u, POLICY_STAGE_OB, "outage: on battery");
    emit_reserves(u);
}

/* Every reserve back at its own place when the outage is over. */
static void undivert(struct orun *u)
{
    struct rack *r = u->r;
    for (int i = 0; i < r->nreserves; i++) {
        struct rack_reserve *res = &r->reserves[i];
        if (res->to_bus < 0 && res->to_server < 0)
            continue;
        res->to_bus = res->to_server = -1;
        json_t *o = event_obj(u->now, "divert");
        json_object_set_new(o, "reserve", json_string(res->id));
        const char *home = res->kind == RACK_RESERVE_BBU   ? r->buses[res->at]
                           : res->kind == RACK_RESERVE_UPS ? r->feeds[res->at]
                                                           : r->servers[res->at].id;
        json_object_set_new(o, "to", json_string(home));
        json_object_set_new(o, "watts", json_integer(0));
        json_object_set_new(o, "reason", json_string("outage over: back to its own place"));
        emit(u, o);
    }
}

static void outage_end(struct orun *u, const char *why)
{
    u->o.active = false;
    if (u->o.mains_back_ns == INT64_MIN)
        u->o.mains_back_ns = u->now;
    json_t *o = event_obj(u->now, "outage");
    json_object_set_new(o, "state", json_string("end"));
    json_object_set_new(o, "cause", json_string(outage_cause_name(u->o.cause)));
    json_object_set_new(o, "reason", json_string(why));
    emit(u, o);
    emit_reserves(u);
    /* before any restore: a server that comes back must not be shut down again
     * by its upsmon */
    stage_all(u, POLICY_STAGE_OL, "outage over: mains back");
    undivert(u);
    memset(u->stopped, 0, (size_t)u->r->nservers * sizeof(bool));
    outage_plan_clear(&u->plan);
    u->have_plan = false;
}

/* An outage starts when reserves carry load with mains out. */
static void check_start(struct orun *u, const char *why)
{
    if (u->o.active || !any_mains_out(u))
        return;
    fill_loads(u);
    flow_now(u);
    for (int i = 0; i < u->r->nreserves; i++)
        if (u->res_w[i] > 0) {
            outage_start(u, OUTAGE_CAUSE_FEED, why);
            return;
        }
}

/* ---- Carrying out the plan. ---- */

static int64_t graceful_ns(const struct rack *r, int server)
{
    int64_t best = -1;
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *act = &r->activities[a];
        for (int k = 0; k < act->nservers; k++)
            if (act->servers[k] == server && act->stop_ns > best)
                best = act->stop_ns;
    }
    return best < 0 ? RACK_DEFAULT_STOP_NS : best;
}

/* A stop begins: the event with its figures, then OB LB to the server. */
static void begin_stop(struct orun *u, int server, const struct outage_step *s, const char *why)
{
    struct outage_step own = {.kind = OUTAGE_STEP_STOP,
                              .server = server,
                              .activity = -1,
                              .reserve = -1,
                              .to_bus = -1,
                              .to_server = -1,
                              .now = true};
    if (!s) {
        own.stage = u->o.stages + 1;
        own.watts = u->load_w[server];
        for (int i = 0; i < u->r->nreserves; i++)
            own.at_wh += u->r->reserves[i].wh_left;
        snprintf(own.reason, sizeof(own.reason), "%s", why);
        s = &own;
    }
    u->o.stages++;
    json_t *o = event_obj(u->now, "stop");
    step_fields(o, u->r, s, s == &own ? NULL : &u->plan);
    emit(u, o);
    char reason[POLICY_REASON_LEN];
    snprintf(reason, sizeof(reason), "outage: stage %d: shut down now", s->stage);
    emit_action(u, POLICY_ACT_STAGE, server, POLICY_STAGE_OB_LB, reason);
    u->phase[server] = STOP_GRACE;
    u->stopped[server] = true;
    u->due[server] = u->now + graceful_ns(u->r, server);
    u->dirty = true;
}

/* A stop's next phase when due: soft-off, then power off through the policy. */
static void advance_stops(struct orun *u)
{
    struct rack *r = u->r;
    for (int i = 0; i < r->nservers; i++) {
        if (u->phase[i] == STOP_NONE || u->due[i] > u->now)
            continue;
        if (u->phase[i] == STOP_GRACE) {
            char why[POLICY_REASON_LEN];
            snprintf(why, sizeof(why), "outage: graceful stop of %.0f s over",
                     (double)graceful_ns(r, i) / 1e9);
            emit_action(u, POLICY_ACT_SOFT_OFF, i, 0, why);
            u->phase[i] = STOP_SOFT;
            u->due[i] = u->now + r->outage.soft_off_ns;
            continue;
        }
        u->phase[i] = STOP_NONE;
        if (rack_server_draws(&r->servers[i]))
            policy_now(u, (struct policy_input){.kind = POLICY_OUTAGE_STOP, .index = i});
        for (int a = 0; a < r->nactivities; a++) { /* what ran there has stopped */
            struct rack_activity *act = &r->activities[a];
            for (int k = 0; k < act->nservers; k++)
                if (act->servers[k] == i)
                    act->state = RACK_ACT_STOPPED;
        }
        u->dirty = true;
    }
}

static void note_priorities(struct orun *u)
{
    struct rack *r = u->r;
    for (int i = 0; i < r->nservers; i++)
        r->servers[i].priority = rack_server_activity_priority(r, i, r->servers[i].own_priority);
    policy_resort(u->pol);
}

static bool activity_on(const struct rack_activity *a, int server)
{
    for (int k = 0; k < a->nservers; k++)
        if (a->servers[k] == server)
            return true;
    return false;
}

static void take_move(struct orun *u, const struct outage_step *s)
{
    char err[128];
    if (outage_apply(u->r, s, err, sizeof(err)))
        return;
    note_priorities(u);
    json_t *o = event_obj(u->now, "move");
    step_fields(o, u->r, s, NULL);
    emit(u, o);
    u->dirty = true;
}

/* Takes the plan's steps that are due; returns how many. */
static int take_steps(struct orun *u)
{
    struct rack *r = u->r;
    int taken = 0;
    for (size_t k = 0; k < u->plan.nsteps; k++) {
        const struct outage_step *s = &u->plan.steps[k];
        if (!s->now && s->at_s > 1e-3)
            continue;
        if (s->kind == OUTAGE_STEP_DIVERT) {
            const struct rack_reserve *res = &r->reserves[s->reserve];
            if (res->to_bus == s->to_bus && res->to_server == s->to_server)
                continue;
            /* a swing for seconds, or from under running servers: it waits */
            if (!outage_divert_worth(r, s, &u->plan) || outage_divert_darkens(r, s, NULL, 0) != 0)
                continue;
            char err[128];
            if (outage_apply(r, s, err, sizeof(err)))
                continue;
            json_t *o = event_obj(u->now, "divert");
            step_fields(o, r, s, NULL);
            emit(u, o);
        } else if (s->kind == OUTAGE_STEP_MOVE) {
            if (!activity_on(&r->activities[s->activity], s->server))
                continue;
            take_move(u, s);
        } else {
            if (u->stopped[s->server] || !rack_server_draws(&r->servers[s->server]))
                continue;
            begin_stop(u, s->server, s, NULL);
        }
        taken++;
    }
    return taken;
}

static void replan(struct orun *u)
{
    char err[128];
    for (int round = 0; round < 8; round++) {
        if (outage_plan_make(u->r, &u->o, u->now, &u->plan, err, sizeof(err)))
            return;
        u->have_plan = true;
        u->st.replans++;
        if (take_steps(u) == 0)
            return;
    }
}

/* The charge a host's NUT would show: the emptiest reserve that can feed it. */
static double host_charge(const struct orun *u, int server)
{
    const struct rack *r = u->r;
    const struct rack_server *s = &r->servers[server];
    double pct = 1;
    for (int i = 0; i < r->nreserves; i++) {
        const struct rack_reserve *res = &r->reserves[i];
        bool feeds = false;
        if (res->kind == RACK_RESERVE_UPS) {
            for (int p = 0; p < r->npsus; p++)
                if (r->psus[p].feed == res->at && r->psus[p].bus >= 0 &&
                    (s->wired >> r->psus[p].bus & 1))
                    feeds = true;
        } else if (res->kind == RACK_RESERVE_BBU) {
            int bus = res->to_bus >= 0 ? res->to_bus : res->at;
            feeds = res->to_server == server || (res->to_server < 0 && (s->wired >> bus & 1));
        } else {
            feeds = (res->to_server >= 0 ? res->to_server : res->at) == server;
        }
        if (feeds && res->energy_wh > 0)
            pct = fmin(pct, u->true_wh[i] / res->energy_wh);
    }
    return pct;
}

/* NUT's and PowerChute's static groups: the comparison of bench_outage.c. */
static void static_groups(struct orun *u)
{
    struct rack *r = u->r;
    double on_battery_s = (double)(u->now - u->o.since_ns) / 1e9;
    for (int i = 0; i < r->nservers; i++) {
        if (u->stopped[i] || !rack_server_draws(&r->servers[i]))
            continue;
        double c = host_charge(u, i);
        char why[OUTAGE_REASON_LEN];
        if (hosts_top(u, i)) {
            if (c > 0.10)
                continue;
            snprintf(why, sizeof(why), "static groups: charge %.0f %% <= 10 %%", 100 * c);
        } else {
            if (on_battery_s < 300 && c > 0.50)
                continue;
            snprintf(why, sizeof(why), "static groups: %s",
                     on_battery_s >= 300 ? "5 min on battery" : "charge <= 50 %");
        }
        begin_stop(u, i, NULL, why);
    }
}

/* ---- Mains back: releases and moves home. ---- */

static void release(struct orun *u)
{
    struct rack *r = u->r;
    if (u->o.active || any_mains_out(u) || !any_held(u))
        return;
    if (!outage_may_release(r, &u->o, u->now))
        return;
    for (int a = 0; a < r->nactivities; a++)
        if (r->activities[a].state == RACK_ACT_STOPPED)
            r->activities[a].state = RACK_ACT_RUNNING; /* runs again where it is */
    note_priorities(u);
    /* most important first, as the restore rules then bring them back */
    for (;;) {
        int best = -1;
        for (int i = 0; i < r->nservers; i++)
            if (r->servers[i].held &&
                (best < 0 || r->servers[i].priority < r->servers[best].priority))
                best = i;
        if (best < 0)
            break;
        policy_now(u, (struct policy_input){.kind = POLICY_OUTAGE_RELEASE, .index = best});
        if (r->servers[best].held) /* the policy did not take it: do not loop */
            break;
    }
}

static void go_home(struct orun *u)
{
    struct rack *r = u->r;
    if (u->o.active)
        return;
    bool resort = false;
    for (int a = 0; a < r->nactivities; a++) { /* a stopped set runs again with its servers */
        struct rack_activity *act = &r->activities[a];
        bool up = act->state == RACK_ACT_STOPPED && act->nservers > 0;
        for (int k = 0; up && k < act->nservers; k++)
            up = rack_server_draws(&r->servers[act->servers[k]]);
        if (up) {
            act->state = act->nhome == act->nservers && !memcmp(act->home, act->servers,
                                                                sizeof(int) * (size_t)act->nservers)
                             ? RACK_ACT_RUNNING
                             : RACK_ACT_MOVED;
            resort = true;
        }
    }
    if (resort) {
        note_priorities(u);
        u->touched = true;
    }
    for (int a = 0; a < r->nactivities; a++) {
        struct rack_activity *act = &r->activities[a];
        if (act->state != RACK_ACT_MOVED || act->nhome != act->nservers)
            continue;
        for (int k = 0; k < act->nservers; k++) {
            int from = act->servers[k], home = act->home[k];
            if (from == home || !rack_server_draws(&r->servers[home]))
                continue;
            struct outage_step s = {.kind = OUTAGE_STEP_MOVE,
                                    .activity = a,
                                    .server = from,
                                    .to_server = home,
                                    .reserve = -1,
                                    .to_bus = -1,
                                    .now = true};
            s.watts = act->share[k] * (double)r->servers[home].power_mw / 1000;
            snprintf(s.reason, sizeof(s.reason), "outage over: %s draws again, %s goes home",
                     r->servers[home].id, act->id);
            take_move(u, &s);
        }
    }
}

/* ---- Time. ---- */

/* The servers that lack power lose it (a reserve empty or over its limit). */
static void lose_power(struct orun *u)
{
    struct rack *r = u->r;
    if (!any_mains_out(u))
        return;
    fill_loads(u);
    if (flow_now(u) <= 0)
        return;
    for (int i = 0; i < r->nservers; i++)
        if (rack_server_draws(&r->servers[i]) && u->short_w[i] > 0.005 * u->load_w[i] + 0.5) {
            policy_now(u, (struct policy_input){.kind = POLICY_LOST_POWER, .index = i});
            /* held until the outage releases it, as a server it stopped */
            policy_now(u, (struct policy_input){.kind = POLICY_OUTAGE_STOP, .index = i});
        }
}

/* A server the policy shed while mains is out (the reserves could not carry
 * it) is the outage's: held, and back by its release rules (mains stable,
 * reserves recharged), not by the restore rules alone. */
static void hold_shed(struct orun *u)
{
    struct rack *r = u->r;
    if (!any_mains_out(u))
        return;
    for (int i = 0; i < r->nservers; i++)
        if (r->servers[i].state == RACK_SRV_SHED && !r->servers[i].held)
            policy_now(u, (struct policy_input){.kind = POLICY_OUTAGE_STOP, .index = i});
}

/* Whether a bbu or a server battery still has energy (what a feed without a
 * ups has behind it once it fails). */
static bool any_bus_reserve(const struct orun *u)
{
    const struct rack *r = u->r;
    for (int i = 0; i < r->nreserves; i++)
        if (r->reserves[i].kind != RACK_RESERVE_UPS && u->true_wh[i] > 1e-9)
            return true;
    return false;
}

/* A ups that is empty cannot keep its feed up: the feed fails now. A feed
 * left to the bbus and server batteries fails when the last of them is empty. */
static void ups_empty(struct orun *u)
{
    struct rack *r = u->r;
    for (int i = 0; i < r->nreserves; i++) {
        const struct rack_reserve *res = &r->reserves[i];
        if (res->kind != RACK_RESERVE_UPS || !r->feed_on_reserve[res->at] || u->true_wh[i] > 1e-9)
            continue;
        r->feed_on_reserve[res->at] = false;
        char why[128];
        snprintf(why, sizeof(why), "%s is empty", res->id);
        emit_reserve(u, i);
        feed_input(u, res->at, true, why);
    }
}

static void process(struct orun *u)
{
    advance_stops(u);
    ups_empty(u);
    lose_power(u);
    hold_shed(u);
    if (u->o.active) {
        if (u->now >= u->next_report) { /* the reserves that carry load */
            for (int i = 0; i < u->r->nreserves; i++)
                if (u->r->reserves[i].watts > 0)
                    emit_reserve(u, i);
            u->next_report = u->now + ORUN_REPORT_NS;
        }
        if (u->now >= u->next_reading) {
            u->dirty = true;
            u->next_reading = u->now + ORUN_READING_NS;
        }
        if (u->strategy == ORUN_STATIC) {
            fill_loads(u);
            static_groups(u);
        } else if (u->dirty) {
            u->dirty = false;
            replan(u);
        }
    }
    release(u);
    go_home(u);
    if (u->st.outage_ns != INT64_MIN && u->st.top_end_ns == INT64_MIN && !top_running(u))
        u->st.top_end_ns = u->now;
    if (u->touched)
        u->io.state(u->io.ctx, u->now);
    u->touched = false;
}

void orun_changed(struct orun *u, int64_t t)
{
    u->now = t;
    u->dirty = true;
    u->touched = true; /* the step's state line */
    process(u);
}

static bool busy(const struct orun *u)
{
    return u->o.active || any_mains_out(u) || any_stopping(u) ||
           (u->ever && (any_held(u) || any_moved(u)));
}

bool orun_waiting(const struct orun *u)
{
    if (any_stopping(u))
        return true;
    if (!u->o.active && !any_mains_out(u))
        return u->ever && (any_held(u) || any_moved(u));
    /* on reserves: time changes something while some reserve still delivers */
    for (int i = 0; i < u->r->nreserves; i++)
        if (u->res_w[i] > 0 && u->true_wh[i] > 0)
            return true;
    if (u->have_plan) /* a stop planned at a later time */
        for (size_t k = 0; k < u->plan.nsteps; k++)
            if (!u->plan.steps[k].now && u->plan.steps[k].kind == OUTAGE_STEP_STOP &&
                isfinite(u->plan.steps[k].at_s))
                return true;
    return false;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

void orun_advance(struct orun *u, int64_t until)
{
    if (u->now == INT64_MIN)
        u->now = until;
    while (u->now < until) {
        if (!busy(u)) { /* nothing on reserves: only the policy's ticks, and recharge */
            energy(u, until - u->now);
            u->io.ticks(u->io.ctx, until);
            u->now = until;
            break;
        }
        bool on_reserves = any_mains_out(u);
        int64_t next = min64(until, u->now + (on_reserves ? ORUN_STEP_NS : ORUN_IDLE_STEP_NS));
        int64_t d = policy_next_deadline(u->r);
        if (d > u->now)
            next = min64(next, d);
        for (int i = 0; i < u->r->nservers; i++)
            if (u->phase[i] != STOP_NONE)
                next = min64(next, u->due[i]);
        if (u->o.active) {
            next = min64(next, u->next_reading);
            next = min64(next, u->next_report);
            if (u->have_plan)
                for (size_t k = 0; k < u->plan.nsteps; k++) {
                    const struct outage_step *s = &u->plan.steps[k];
                    if (s->now || !isfinite(s->at_s) || s->at_s * 1e9 > 1e15)
                        continue;
                    next = min64(next, u->now + (int64_t)fmax(1e6, ceil(s->at_s * 1e9)));
                }
        }
        if (on_reserves) {
            fill_loads(u);
            flow_now(u);
            next = min64(next, next_empty(u));
        }
        if (next <= u->now)
            next = u->now + 1000000;
        energy(u, next - u->now);
        u->io.ticks(u->io.ctx, next);
        u->now = next;
        if (u->o.active && u->have_plan) /* a planned time reached: re-plan there */
            for (size_t k = 0; k < u->plan.nsteps; k++)
                if (!u->plan.steps[k].now && isfinite(u->plan.steps[k].at_s))
                    u->dirty = true;
        process(u);
    }
}

/* ---- Timeline events. ---- */

/* Mains lost on feed f: a ups with energy carries it; without one the feed
 * fails, with the others of the same event (fails, n of them). */
static void mains_fail(struct orun *u, int f, struct policy_input *fails, size_t *n)
{
    struct rack *r = u->r;
    if (u->mains_out[f])
        return;
    u->mains_out[f] = true;
    int ups = -1;
    for (int i = 0; i < r->nreserves; i++)
        if (r->reserves[i].kind == RACK_RESERVE_UPS && r->reserves[i].at == f && u->true_wh[i] > 0)
            ups = i;
    json_t *o = event_obj(u->now, "mains_fail");
    json_object_set_new(o, "feed", json_string(r->feeds[f]));
    char why[128];
    if (ups >= 0) {
        snprintf(why, sizeof(why), "%s carries %s", r->reserves[ups].id, r->feeds[f]);
        json_object_set_new(o, "reason", json_string(why));
        emit(u, o);
        r->feed_on_reserve[f] = true;
        u->dirty = true;
        return;
    }
    /* Its PSUs deliver nothing: the feed fails in the policy, which counts
     * the bbus and server batteries while they have energy (docs/policy.md
     * "Battery reserves") and sheds, least important first, what they cannot
     * carry. */
    json_object_set_new(o, "reason",
                        json_string(any_bus_reserve(u)
                                        ? "no ups behind the feed: it fails; the battery "
                                          "reserves carry what they can"
                                        : "no ups behind the feed: it fails"));
    emit(u, o);
    fails[(*n)++] = (struct policy_input){.kind = POLICY_FEED_FAIL, .index = f};
}

/* Mains back on feed f: off its ups, or a failed feed repaired (with the
 * others of the same event: repairs, n of them). */
static void mains_return(struct orun *u, int f, struct policy_input *repairs, size_t *n)
{
    struct rack *r = u->r;
    if (!u->mains_out[f])
        return;
    u->mains_out[f] = false;
    json_t *o = event_obj(u->now, "mains_return");
    json_object_set_new(o, "feed", json_string(r->feeds[f]));
    json_object_set_new(o, "reason", json_string("mains back"));
    emit(u, o);
    if (r->feed_on_reserve[f]) {
        r->feed_on_reserve[f] = false;
        u->dirty = true;
    } else if (r->feed_failed[f]) {
        repairs[(*n)++] = (struct policy_input){.kind = POLICY_FEED_REPAIR, .index = f};
    }
}

int orun_event(struct orun *u, const struct rackfile_event *ev, int64_t t, char *err, size_t errlen)
{
    struct rack *r = u->r;
    u->now = t;
    switch (ev->kind) {
    case RACKFILE_EV_MAINS_FAIL:
    case RACKFILE_EV_MAINS_RETURN: {
        struct policy_input fails[RACK_MAX_FEEDS];
        size_t nfails = 0;
        for (int f = 0; f < r->nfeeds; f++) {
            if (ev->index >= 0 && f != ev->index)
                continue;
            if (ev->kind == RACKFILE_EV_MAINS_FAIL)
                mains_fail(u, f, fails, &nfails);
            else
                mains_return(u, f, fails, &nfails);
        }
        if (nfails) { /* the feeds of one event settle once, as feed_fail does */
            for (size_t k = 0; k < nfails; k++) {
                json_t *o = event_obj(u->now, policy_input_name(fails[k].kind));
                evjson_input(o, r, &fails[k]);
                json_object_set_new(
                    o, "reason",
                    json_string(fails[k].kind == POLICY_FEED_FAIL ? "mains lost" : "mains back"));
                emit(u, o);
            }
            if (policy_handle_many(u->pol, r, fails, nfails, u->now, u->acts, err, errlen))
                return -1;
            flush(u);
        }
        if (ev->kind == RACKFILE_EV_MAINS_FAIL) {
            check_start(u, "mains lost: reserves carry the load");
        } else if (!any_mains_out(u)) {
            u->o.mains_back_ns = t;
            for (int i = 0; i < r->nreserves; i++)
                u->res_w[i] = r->reserves[i].watts = 0, r->reserves[i].discharging = false;
            if (u->o.active && !u->operator_on)
                outage_end(u, "mains back on every feed");
        }
        return 0;
    }
    case RACKFILE_EV_OUTAGE_START:
        u->operator_on = true;
        if (!u->o.active)
            outage_start(u, OUTAGE_CAUSE_OPERATOR, "the operator's command");
        return 0;
    case RACKFILE_EV_OUTAGE_END:
        u->operator_on = false;
        if (u->o.active && !any_mains_out(u)) {
            if (u->o.mains_back_ns == INT64_MIN)
                u->o.mains_back_ns = t;
            outage_end(u, "the operator's command, mains on every feed");
        }
        return 0;
    case RACKFILE_EV_RESERVE_LOST:
    case RACKFILE_EV_RESERVE_BACK: {
        if (ev->index < 0 || ev->index >= r->nreserves) {
            snprintf(err, errlen, "reserve event: no reserve %d", ev->index);
            return -1;
        }
        struct rack_reserve *res = &r->reserves[ev->index];
        bool lost = ev->kind == RACKFILE_EV_RESERVE_LOST;
        if (lost && res->known) {
            res->known = false;
            u->lost_cell_w[ev->index] = res->watts > 0 ? outage_cell_w(res, res->watts) : 0;
        } else if (!lost && !res->known) {
            res->known = true;
            res->wh_left = u->true_wh[ev->index];
        }
        emit_reserve(u, ev->index);
        u->dirty = true;
        return 0;
    }
    }
    snprintf(err, errlen, "unknown timeline event %d", (int)ev->kind);
    return -1;
}

/* ---- State lines. ---- */

void orun_state_fields(const struct orun *u, json_t *o)
{
    const struct rack *r = u->r;
    if (!orun_wanted(r))
        return;
    json_t *res = json_object();
    for (int i = 0; i < r->nreserves; i++) {
        const struct rack_reserve *v = &r->reserves[i];
        json_t *x = json_object();
        json_object_set_new(x, "wh_left", json_real(v->wh_left));
        json_object_set_new(x, "watts", json_real(v->watts));
        json_object_set_new(x, "runtime_s",
                            runtime_json(outage_runtime_s(v, v->wh_left, v->watts)));
        json_object_set_new(res, v->id, x);
    }
    json_object_set_new(o, "reserves", res);
    json_t *acts = json_object();
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *act = &r->activities[a];
        json_t *x = json_object();
        json_object_set_new(x, "state", json_string(rack_activity_state_name(act->state)));
        json_object_set_new(
            x, "server", act->nservers ? json_string(r->servers[act->servers[0]].id) : json_null());
        json_object_set_new(x, "priority", json_integer(act->priority));
        json_object_set_new(acts, act->id, x);
    }
    json_object_set_new(o, "activities", acts);
}

void orun_state_text(const struct orun *u, char *buf, size_t len)
{
    const struct rack *r = u->r;
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < r->nreserves && o < len; i++) {
        const struct rack_reserve *v = &r->reserves[i];
        o += (size_t)snprintf(buf + o, len - o, "%s %s %.0f Wh%s", i ? "," : " | reserves:", v->id,
                              v->wh_left, v->known ? "" : " (lost)");
    }
    bool first = true;
    for (int a = 0; a < r->nactivities && o < len; a++) {
        const struct rack_activity *act = &r->activities[a];
        if (act->state == RACK_ACT_RUNNING)
            continue;
        o += (size_t)snprintf(buf + o, len - o, "%s %s %s", first ? " |" : ",", act->id,
                              rack_activity_state_name(act->state));
        first = false;
    }
}
