/*
 * outage_run.c - rackpowerd in an outage (outage_run.h, docs/outage.md).
 */
#include "outage_run.h"
#include "evjson.h"
#include "log.h"
#include "migrate.h"
#include "monoclock.h"
#include "policy.h"
#include "view.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))
#define REPLAN_MAX_NS 10000000000LL       /* during an outage, planned again at least this often */
#define MIGRATE_DEFAULT_NS 300000000000LL /* a migrate command without timeout_s: 300 s */

static const char *const stage_names[] = {"OL", "OB", "OB LB"};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

static struct rack *rk(const struct orun *o)
{
    return o->dec->rack;
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(round(v * 10) / 10) : json_null();
}

static void journal(struct orun *o, json_t *ev)
{
    char err[256];
    /* a cluster's primary replicates it (hooks.record): the secondaries'
     * journals tell the outage as the primary's does */
    if (o->hooks.record && (o->pending || (o->pending = json_array())))
        json_array_append(o->pending, ev);
    if (decider_journal(o->dec, ev, err, sizeof(err)) < 0)
        log_warnx("journal: %s; the event waits for the journal", err);
}

int orun_init(struct orun *o, struct decider *dec, uv_loop_t *loop,
              const struct rackfile_device *devs, size_t ndevs, const struct orun_hooks *h,
              char *err, size_t errlen)
{
    *o = (struct orun){.dec = dec, .loop = loop, .hooks = *h};
    const struct rack *r = dec->rack;
    o->o.mains_back_ns = INT64_MIN;
    o->nres = r->nreserves;
    o->nsrv = r->nservers;
    o->nact = r->nactivities;
    o->res = calloc((size_t)o->nres + 1, sizeof(*o->res));
    o->srv = calloc((size_t)o->nsrv + 1, sizeof(*o->srv));
    o->move_failed = calloc((size_t)o->nact + 1, sizeof(*o->move_failed));
    if (!o->res || !o->srv || !o->move_failed) {
        orun_fini(o);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < o->nres; i++) {
        struct orun_reserve *x = &o->res[i];
        x->dev = -1;
        x->read_ns = INT64_MIN;
        x->integ_ns = INT64_MIN;
        x->charge_pct = -1;
        x->runtime_s = -1;
        x->stale_ns = INT64_MAX;
        x->had_energy = r->reserves[i].wh_left > 0;
    }
    /* which reserves a device reads, and how often: stale after 3 polls */
    for (size_t d = 0; d < ndevs; d++) {
        int64_t stale = view_stale_after_ns(devs[d].poll_ns);
        for (size_t k = 0; devs[d].kind == RACKFILE_DEV_NUT && k < devs[d].nups; k++) {
            int i = devs[d].ups[k].reserve;
            if (i >= 0 && i < o->nres) {
                o->res[i].read_by_device = true;
                if (stale < o->res[i].stale_ns)
                    o->res[i].stale_ns = stale;
            }
        }
        for (size_t k = 0; k < devs[d].nunits; k++) {
            const struct rackfile_unit *u = &devs[d].units[k];
            if (u->role == RACKFILE_UNIT_BBU && u->reserve >= 0 && u->reserve < o->nres) {
                o->res[u->reserve].read_by_device = true;
                if (stale < o->res[u->reserve].stale_ns)
                    o->res[u->reserve].stale_ns = stale;
            }
        }
    }
    return 0;
}

void orun_fini(struct orun *o)
{
    for (size_t k = 0; k < o->nmoves; k++)
        migrate_cancel(o->moves[k].m);
    free(o->moves);
    free(o->res);
    free(o->srv);
    free(o->move_failed);
    outage_plan_free(&o->plan);
    json_decref(o->pending);
    json_decref(o->sent);
    *o = (struct orun){0};
}

size_t orun_moves_running(const struct orun *o)
{
    return o->nmoves;
}

/* ---- readings ---- */

void orun_reading(struct orun *o, int dev, const struct driver_reserve_reading *x,
                  int64_t posted_ns)
{
    struct rack *r = rk(o);
    if (x->reserve < 0 || x->reserve >= o->nres || x->reserve >= r->nreserves)
        return;
    struct orun_reserve *s = &o->res[x->reserve];
    struct rack_reserve *res = &r->reserves[x->reserve];
    s->dev = dev;
    if (x->unread)
        return; /* its figures withdrawn: its age goes on, it drains at its last rate */
    s->read_ns = posted_ns;
    s->integ_ns = posted_ns;
    s->flags = x->flags;
    s->charge_pct = x->charge_pct;
    s->runtime_s = x->runtime_s;
    snprintf(s->status, sizeof(s->status), "%s", x->status);
    if (x->charge_pct >= 0) {
        int pct = x->charge_pct > 100 ? 100 : x->charge_pct;
        res->wh_left = res->energy_wh * pct / 100.0;
    }
    bool on_battery = (x->flags & DRIVER_RES_ON_BATTERY) != 0;
    res->discharging = on_battery;
    res->known = true;
    double eff = res->efficiency > 0 ? res->efficiency : 1.0;
    if (!on_battery) {
        res->watts = 0;
        s->drain_w = 0;
    } else if (x->watts >= 0) {
        res->watts = x->watts;
        s->drain_w = outage_cell_w(res, x->watts);
    } else if (x->runtime_s > 0 && res->wh_left > 0) {
        /* what it takes from its cells, from the run time it announces */
        s->drain_w = res->wh_left * 3600.0 / (double)x->runtime_s;
        res->watts = s->drain_w * eff;
    } /* else: the rate it had (or the model's, while it never said) */
}

/* ---- helpers ---- */

/* The longest graceful stop of the activities on server i. */
static int64_t graceful_ns(const struct rack *r, int i)
{
    int64_t ns = 0;
    bool any = false;
    for (int a = 0; a < r->nactivities; a++)
        for (int k = 0; k < r->activities[a].nservers; k++)
            if (r->activities[a].servers[k] == i) {
                any = true;
                if (r->activities[a].stop_ns > ns)
                    ns = r->activities[a].stop_ns;
            }
    return any ? ns : RACK_DEFAULT_STOP_NS;
}

static void send_stage(struct orun *o, int server, int stage, const char *reason)
{
    struct rack *r = rk(o);
    struct policy_action a = {.kind = POLICY_ACT_STAGE,
                              .server = server,
                              .psu = -1,
                              .from_bus = -1,
                              .to_bus = -1,
                              .stage = stage,
                              .capacity_mw = rack_capacity_mw(r),
                              .allocated_mw = rack_allocated_mw(r)};
    snprintf(a.reason, sizeof(a.reason), "%s", reason);
    json_t *ev = decider_event(o->dec, "stage");
    json_object_set_new(ev, "server", json_string(r->servers[server].id));
    json_object_set_new(ev, "stage", json_string(stage_names[stage]));
    json_object_set_new(ev, "reason", json_string(reason));
    journal(o, ev);
    if (o->hooks.send)
        o->hooks.send(o->hooks.arg, &a, 1);
}

static void stage_all(struct orun *o, int stage, const char *reason)
{
    for (int i = 0; i < rk(o)->nservers; i++)
        if (o->srv[i].phase == ORUN_UP || stage == POLICY_STAGE_OL)
            send_stage(o, i, stage, reason);
}

/* What a step says, as the journal and the API show it. */
static json_t *step_json(const struct rack *r, const struct outage_step *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "step", json_string(outage_step_name(s->kind)));
    switch (s->kind) {
    case OUTAGE_STEP_DIVERT:
        json_object_set_new(
            o, "reserve", s->reserve >= 0 ? json_string(r->reserves[s->reserve].id) : json_null());
        json_object_set_new(o, "to",
                            s->to_bus >= 0      ? json_string(r->buses[s->to_bus])
                            : s->to_server >= 0 ? json_string(r->servers[s->to_server].id)
                                                : json_null());
        break;
    case OUTAGE_STEP_MOVE:
        json_object_set_new(o, "activity",
                            s->activity >= 0 ? json_string(r->activities[s->activity].id)
                                             : json_null());
        json_object_set_new(o, "from",
                            s->server >= 0 ? json_string(r->servers[s->server].id) : json_null());
        json_object_set_new(
            o, "to", s->to_server >= 0 ? json_string(r->servers[s->to_server].id) : json_null());
        break;
    case OUTAGE_STEP_STOP:
        json_object_set_new(o, "server",
                            s->server >= 0 ? json_string(r->servers[s->server].id) : json_null());
        json_object_set_new(o, "activity",
                            s->activity >= 0 ? json_string(r->activities[s->activity].id)
                                             : json_null());
        json_object_set_new(o, "stage", json_integer(s->stage));
        json_object_set_new(o, "now", json_boolean(s->now));
        json_object_set_new(o, "at_wh", num_or_null(s->at_wh));
        json_object_set_new(o, "at_s", num_or_null(s->at_s));
        break;
    }
    json_object_set_new(o, "watts", num_or_null(s->watts));
    json_object_set_new(o, "gain_s", num_or_null(s->gain_s));
    json_object_set_new(o, "reason", json_string(s->reason));
    return o;
}

static json_t *plan_json(const struct rack *r, const struct outage_plan *p)
{
    json_t *o = json_object(), *steps = json_array(), *rt = json_object();
    json_object_set_new(o, "feasible", json_boolean(p->feasible));
    json_object_set_new(o, "wh_left", num_or_null(p->wh_left));
    json_object_set_new(o, "load_w", num_or_null(p->load_w));
    json_object_set_new(o, "top_runtime_s", num_or_null(p->top_runtime_s));
    for (int a = 0; a < p->nruntime && a < r->nactivities; a++)
        json_object_set_new(rt, r->activities[a].id, num_or_null(p->runtime_s[a]));
    json_object_set_new(o, "runtime_s", rt);
    for (size_t k = 0; k < p->nsteps; k++)
        json_array_append_new(steps, step_json(r, &p->steps[k]));
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "summary", json_string(p->summary));
    return o;
}

/* The runtime per set as the stop event says it: {activity: s}. */
static json_t *runtimes(const struct rack *r, const struct outage_plan *p)
{
    json_t *rt = json_object();
    for (int a = 0; a < p->nruntime && a < r->nactivities; a++)
        json_object_set_new(rt, r->activities[a].id, num_or_null(p->runtime_s[a]));
    return rt;
}

/* ---- the reserves' energy between readings ---- */

static double load_of(const struct rack_server *s)
{
    if (!rack_server_draws(s))
        return 0;
    return (double)(s->draw_mw >= 0 ? s->draw_mw : s->alloc_mw) / 1000.0;
}

/*
 * The rack the energy model looks at: the live one, or during the operator's
 * outage a copy in which mains is lost on every feed (a ups carries its feed,
 * the rest fail), as the planner takes it: the operator says the power is
 * out when the rack cannot see it (docs/outage.md "Signals").
 */
static int plan_rack(const struct orun *o, struct rack *copy, const struct rack **out)
{
    const struct rack *r = rk(o);
    *out = r;
    if (!o->operator_on)
        return 0;
    if (rack_copy(copy, r))
        return -1;
    for (int f = 0; f < copy->nfeeds; f++) {
        bool ups = false;
        for (int i = 0; i < copy->nreserves; i++)
            ups |= copy->reserves[i].kind == RACK_RESERVE_UPS && copy->reserves[i].at == f &&
                   copy->reserves[i].wh_left > 0;
        if (ups)
            copy->feed_on_reserve[f] = true;
        else
            copy->feed_failed[f] = true;
    }
    *out = copy;
    return 1;
}

/* Brings wh_left to now: a read reserve at its last known rate, a reserve
 * no device reads by the energy model (what outage_flow gives it). */
static void integrate(struct orun *o, int64_t now)
{
    struct rack *r = rk(o);
    double *load = calloc((size_t)r->nservers + 1, sizeof(double));
    double *res_w = calloc((size_t)r->nreserves + 1, sizeof(double));
    double *short_w = calloc((size_t)r->nservers + 1, sizeof(double));
    struct rack copy;
    const struct rack *pr = r;
    int copied = load && res_w && short_w ? plan_rack(o, &copy, &pr) : -1;
    if (copied >= 0) {
        for (int i = 0; i < r->nservers; i++)
            load[i] = load_of(&r->servers[i]);
        outage_flow(pr, load, res_w, short_w);
    }
    for (int i = 0; i < r->nreserves; i++) {
        struct orun_reserve *s = &o->res[i];
        struct rack_reserve *res = &r->reserves[i];
        int64_t from = s->integ_ns == INT64_MIN ? now : s->integ_ns;
        double dt_h = (double)(now - from) / 3.6e12;
        s->integ_ns = now;
        if (s->read_by_device) {
            res->known = s->read_ns != INT64_MIN && now - s->read_ns <= s->stale_ns;
            if (res->discharging && dt_h > 0)
                res->wh_left -= s->drain_w * dt_h;
        } else if (copied >= 0) {
            res->known = true;
            bool carrying = o->o.active && res_w[i] > 0;
            res->discharging = carrying;
            res->watts = carrying ? res_w[i] : 0;
            if (carrying && dt_h > 0)
                res->wh_left -= outage_cell_w(res, res_w[i]) * dt_h;
        }
        if (res->wh_left < 0)
            res->wh_left = 0;
    }
    if (copied > 0)
        rack_free(&copy);
    free(load);
    free(res_w);
    free(short_w);
}

/* ---- decisions ---- */

static int decide_inputs(struct orun *o, const struct policy_input *in, size_t n, const char *why)
{
    char err[256];
    struct decision x = decision_inputs(in, n, why);
    int rc = decide(o->dec, &x, err, sizeof(err));
    if (rc)
        log_warnx("outage: %s not decided: %s", why, err);
    return rc;
}

/* A ups that ran out (or went back on mains) takes its feed with it: the
 * feed fails then, not when mains failed (docs/outage.md "Semantics"). */
static void ups_feeds(struct orun *o)
{
    struct rack *r = rk(o);
    for (int i = 0; i < r->nreserves; i++) {
        struct rack_reserve *res = &r->reserves[i];
        struct orun_reserve *s = &o->res[i];
        if (res->kind != RACK_RESERVE_UPS || !s->read_by_device || res->at < 0 ||
            res->at >= r->nfeeds)
            continue;
        int f = res->at;
        bool ob = (s->flags & DRIVER_RES_ON_BATTERY) && s->read_ns != INT64_MIN;
        bool online = (s->flags & DRIVER_RES_ONLINE) && res->known;
        bool empty = ob && res->wh_left <= 0;
        char why[300];
        if (ob && !empty && !r->feed_on_reserve[f])
            r->feed_on_reserve[f] = true;
        if (empty && !r->feed_failed[f]) {
            r->feed_on_reserve[f] = false;
            s->feed_failed_by_us = true;
            snprintf(why, sizeof(why), "%s is empty (%s): feed %s has no power", res->id,
                     s->status[0] ? s->status : "no charge left", r->feeds[f]);
            struct policy_input in = {.kind = POLICY_FEED_FAIL, .index = f};
            decide_inputs(o, &in, 1, why);
        }
        if (online) {
            r->feed_on_reserve[f] = false;
            if (s->feed_failed_by_us && r->feed_failed[f]) {
                s->feed_failed_by_us = false;
                snprintf(why, sizeof(why), "%s is on mains again (%s): feed %s is back", res->id,
                         s->status, r->feeds[f]);
                struct policy_input in = {.kind = POLICY_FEED_REPAIR, .index = f};
                decide_inputs(o, &in, 1, why);
            }
        }
    }
}

/* Whether an outage holds now, and its cause and reason. */
static bool cause_now(const struct orun *o, enum outage_cause *cause, char *why, size_t len)
{
    const struct rack *r = rk(o);
    for (int i = 0; i < r->nreserves; i++) {
        const struct orun_reserve *s = &o->res[i];
        const struct rack_reserve *res = &r->reserves[i];
        if (!s->read_by_device || s->read_ns == INT64_MIN || !(s->flags & DRIVER_RES_ON_BATTERY))
            continue;
        *cause = res->kind == RACK_RESERVE_UPS ? OUTAGE_CAUSE_UPS : OUTAGE_CAUSE_BBU;
        snprintf(why, len, "%s %s says %s (%s%s)", rack_reserve_kind_name(res->kind), res->id,
                 res->kind == RACK_RESERVE_UPS ? "on battery" : "it discharges",
                 s->status[0] ? s->status : "on battery",
                 s->charge_pct >= 0 ? "" : ", charge unsaid");
        return true;
    }
    for (int f = 0; f < r->nfeeds; f++) {
        if (!r->feed_failed[f])
            continue;
        for (int i = 0; i < r->nreserves; i++)
            if (r->reserves[i].kind != RACK_RESERVE_UPS && r->reserves[i].wh_left > 0) {
                *cause = OUTAGE_CAUSE_FEED;
                snprintf(why, len, "feed %s failed while reserve %s can carry the load",
                         r->feeds[f], r->reserves[i].id);
                return true;
            }
        /* reserves run empty (an empty BBU reads idle, not discharging): the
         * outage lasts until mains is back, so what it stopped stays held */
        if (o->o.active && o->o.cause != OUTAGE_CAUSE_OPERATOR) {
            *cause = o->o.cause;
            snprintf(why, len, "feed %s is still down (the reserves are empty)", r->feeds[f]);
            return true;
        }
    }
    if (o->operator_on) {
        *cause = OUTAGE_CAUSE_OPERATOR;
        snprintf(why, len, "started by %s", o->operator_who[0] ? o->operator_who : "the operator");
        return true;
    }
    return false;
}

static void outage_event(struct orun *o, const char *state, const char *reason, const char *who)
{
    json_t *ev = decider_event(o->dec, "outage");
    json_object_set_new(ev, "state", json_string(state));
    json_object_set_new(ev, "cause", json_string(outage_cause_name(o->o.cause)));
    json_object_set_new(ev, "reason", json_string(reason));
    if (who && who[0])
        json_object_set_new(ev, "who", json_string(who));
    journal(o, ev);
}

static void start(struct orun *o, enum outage_cause cause, const char *why, int64_t now)
{
    /* a new record: the plan's commitments (floors) start afresh */
    o->o = (struct outage){
        .active = true, .cause = cause, .since_ns = now, .mains_back_ns = INT64_MIN};
    o->released = false;
    o->last_start_wall = wall_now();
    memset(o->move_failed, 0, (size_t)o->nact * sizeof(*o->move_failed));
    snprintf(o->cause_reason, sizeof(o->cause_reason), "%s", why);
    log_warnx("outage: start (%s): %s", outage_cause_name(cause), why);
    outage_event(o, "start", why, cause == OUTAGE_CAUSE_OPERATOR ? o->operator_who : NULL);
    char reason[400];
    snprintf(reason, sizeof(reason), "outage: on battery (%s)", why);
    stage_all(o, POLICY_STAGE_OB, reason);
}

static void end(struct orun *o, const char *why, int64_t now)
{
    o->o.active = false;
    o->o.mains_back_ns = now;
    log_info("outage: end: %s", why);
    outage_event(o, "end", why, NULL);
    /* before any restore: a server brought back must not find OB LB again */
    stage_all(o, POLICY_STAGE_OL, "mains is back: on line");
}

/* ---- the plan's steps ---- */

static void moved(void *arg, struct migrate *m, const struct migrate_result *res);

static struct orun_move *move_of(struct orun *o, int activity)
{
    for (size_t k = 0; k < o->nmoves; k++)
        if (o->moves[k].activity == activity)
            return &o->moves[k];
    return NULL;
}

static void move_event(struct orun *o, const struct orun_move *mv, const char *result,
                       const struct migrate_result *res)
{
    struct rack *r = rk(o);
    json_t *ev = decider_event(o->dec, "move");
    json_object_set_new(ev, "activity", json_string(r->activities[mv->activity].id));
    json_object_set_new(ev, "from", json_string(r->servers[mv->from].id));
    json_object_set_new(ev, "to", json_string(r->servers[mv->to].id));
    json_object_set_new(ev, "watts", num_or_null(mv->watts));
    json_object_set_new(ev, "home", json_boolean(mv->home));
    json_object_set_new(ev, "result", json_string(result));
    if (res) {
        json_object_set_new(ev, "exit_status",
                            res->exit_status >= 0 ? json_integer(res->exit_status) : json_null());
        json_object_set_new(ev, "timed_out", json_boolean(res->timed_out));
        json_object_set_new(ev, "took_s", json_real(round((double)res->took_ns / 1e6) / 1e3));
        json_object_set_new(ev, "output", json_string(res->tail));
    }
    json_object_set_new(ev, "reason", json_string(mv->reason));
    journal(o, ev);
}

/* Starts the activity's migrate command for a move (a plan's, or home). */
static void begin_move(struct orun *o, int activity, int from, int to, double watts, bool home,
                       const char *reason)
{
    struct rack *r = rk(o);
    struct rack_activity *a = &r->activities[activity];
    char why[200] = "";
    if (move_of(o, activity) || o->move_failed[activity])
        return;
    if (o->hooks.may_command && !o->hooks.may_command(o->hooks.arg, why, sizeof(why))) {
        log_info("outage: move of %s held back: %s", a->id, why);
        return; /* planned again at the next reading: it runs once the gate opens */
    }
    struct orun_move mv = {
        .activity = activity, .from = from, .to = to, .home = home, .watts = watts};
    snprintf(mv.reason, sizeof(mv.reason), "%s", reason);
    struct orun_move *grown = realloc(o->moves, (o->nmoves + 1) * sizeof(*o->moves));
    if (!grown)
        return;
    o->moves = grown;
    char err[256];
    int64_t limit = a->migrate_timeout_ns > 0 ? a->migrate_timeout_ns : MIGRATE_DEFAULT_NS;
    mv.m = a->migrate[0] ? migrate_start(o->loop, a->migrate, a->id, r->servers[from].id,
                                         r->servers[to].id, limit, moved, o, err, sizeof(err))
                         : NULL;
    if (!a->migrate[0])
        snprintf(err, sizeof(err), "activity %s has no migrate command", a->id);
    if (!mv.m) {
        if (!home)
            o->move_failed[activity] = true; /* planned without it from now */
        char text[400];
        snprintf(text, sizeof(text), "%s; %s", reason, err);
        snprintf(mv.reason, sizeof(mv.reason), "%s", text);
        move_event(o, &mv, "failed", NULL);
        log_warnx("outage: move of %s to %s failed: %s", a->id, r->servers[to].id, err);
        return;
    }
    o->moves[o->nmoves++] = mv;
    move_event(o, &mv, "started", NULL);
    log_info("outage: moving %s from %s to %s: %s %s %s %s", a->id, r->servers[from].id,
             r->servers[to].id, a->migrate, a->id, r->servers[from].id, r->servers[to].id);
}

static void moved(void *arg, struct migrate *m, const struct migrate_result *res)
{
    struct orun *o = arg;
    struct rack *r = rk(o);
    size_t k = 0;
    while (k < o->nmoves && o->moves[k].m != m)
        k++;
    if (k == o->nmoves)
        return;
    struct orun_move mv = o->moves[k];
    o->moves[k] = o->moves[--o->nmoves];
    const char *id = r->activities[mv.activity].id;
    if (!res->ok) {
        if (!mv.home)
            o->move_failed[mv.activity] = true;
        log_warnx("outage: move of %s to %s failed: %s", id, r->servers[mv.to].id, res->summary);
        move_event(o, &mv, "failed", res);
    } else {
        struct outage_step s = {.kind = OUTAGE_STEP_MOVE,
                                .reserve = -1,
                                .to_bus = -1,
                                .to_server = mv.to,
                                .activity = mv.activity,
                                .server = mv.from,
                                .watts = mv.watts};
        snprintf(s.reason, sizeof(s.reason), "%s", mv.reason);
        char err[256];
        if (outage_apply(r, &s, err, sizeof(err))) {
            log_warnx("outage: move of %s done, but the model refuses it: %s", id, err);
            move_event(o, &mv, "failed", res);
        } else {
            policy_resort(o->dec->pol); /* the policy's order follows the priorities */
            log_info("outage: %s moved to %s (%s)", id, r->servers[mv.to].id, res->summary);
            move_event(o, &mv, "done", res);
        }
    }
    orun_update(o, mono_ns());
    if (o->hooks.changed)
        o->hooks.changed(o->hooks.arg);
}

static void begin_stop(struct orun *o, const struct outage_step *s, int64_t now)
{
    struct rack *r = rk(o);
    int i = s->server;
    struct orun_server *v = &o->srv[i];
    v->phase = ORUN_STAGED;
    v->stage = ++o->o.stages;
    v->due_ns = now + graceful_ns(r, i);
    json_t *ev = decider_event(o->dec, "stop");
    json_object_set_new(ev, "server", json_string(r->servers[i].id));
    json_object_set_new(ev, "activity",
                        s->activity >= 0 ? json_string(r->activities[s->activity].id)
                                         : json_null());
    json_object_set_new(ev, "stage", json_integer(v->stage));
    json_object_set_new(ev, "wh_left", num_or_null(o->plan.wh_left));
    json_object_set_new(ev, "runtime_s", runtimes(r, &o->plan));
    json_object_set_new(ev, "gain_s", num_or_null(s->gain_s));
    json_object_set_new(ev, "watts", num_or_null(s->watts));
    json_object_set_new(ev, "reason", json_string(s->reason));
    journal(o, ev);
    log_warnx("outage: stop %d: %s: %s", v->stage, r->servers[i].id, s->reason);
    send_stage(o, i, POLICY_STAGE_OB_LB, s->reason);
}

/* Stops under way: the soft-off after the graceful time, the power off
 * (POLICY_OUTAGE_STOP through the policy) soft_off_ns after it. */
static void advance_stops(struct orun *o, int64_t now)
{
    struct rack *r = rk(o);
    for (int i = 0; i < o->nsrv && i < r->nservers; i++) {
        struct orun_server *v = &o->srv[i];
        if (v->phase == ORUN_STAGED && now >= v->due_ns) {
            v->phase = ORUN_SOFT_OFF;
            v->due_ns = now + r->outage.soft_off_ns;
            struct policy_action a = {.kind = POLICY_ACT_SOFT_OFF,
                                      .server = i,
                                      .psu = -1,
                                      .from_bus = -1,
                                      .to_bus = -1,
                                      .capacity_mw = rack_capacity_mw(r),
                                      .allocated_mw = rack_allocated_mw(r)};
            snprintf(a.reason, sizeof(a.reason),
                     "outage: stop %d: its graceful time (%.0f s) is over: soft-off", v->stage,
                     (double)graceful_ns(r, i) / 1e9);
            json_t *ev = decider_event(o->dec, "soft_off");
            json_object_set_new(ev, "server", json_string(r->servers[i].id));
            json_object_set_new(ev, "reason", json_string(a.reason));
            journal(o, ev);
            if (o->hooks.send)
                o->hooks.send(o->hooks.arg, &a, 1);
        }
        if (v->phase == ORUN_SOFT_OFF && now >= v->due_ns) {
            v->phase = ORUN_HELD;
            char why[300];
            snprintf(why, sizeof(why), "outage: stage %d: %s stopped (soft-off %.0f s ago)",
                     v->stage, r->servers[i].id, (double)r->outage.soft_off_ns / 1e9);
            struct policy_input in = {.kind = POLICY_OUTAGE_STOP, .index = i};
            decide_inputs(o, &in, 1, why);
            /* the work on it stops with it (the activities' states) */
            struct outage_step st = {.kind = OUTAGE_STEP_STOP,
                                     .reserve = -1,
                                     .to_bus = -1,
                                     .to_server = -1,
                                     .activity = -1,
                                     .server = i};
            char err[160];
            if (outage_apply(r, &st, err, sizeof(err)))
                log_warnx("outage: stop of %s: %s", r->servers[i].id, err);
        }
    }
}

static bool stopping(const struct orun *o, int server)
{
    return server >= 0 && server < o->nsrv && o->srv[server].phase != ORUN_UP;
}

/* The plan made again, and its steps due now carried out. */
static void replan(struct orun *o, int64_t now)
{
    struct rack *r = rk(o);
    char err[160];
    outage_plan_clear(&o->plan);
    /* the planner takes the operator's outage as mains lost on every feed */
    if (outage_plan_make(r, &o->o, now, &o->plan, err, sizeof(err))) {
        snprintf(o->plan_err, sizeof(o->plan_err), "%s", err);
        o->planned = false;
        log_warnx("outage: no plan: %s", o->plan_err);
        return;
    }
    o->plan_err[0] = '\0';
    o->planned = true;
    for (size_t k = 0; k < o->plan.nsteps; k++) {
        const struct outage_step *s = &o->plan.steps[k];
        if (!s->now)
            continue;
        if (s->kind == OUTAGE_STEP_STOP && s->server >= 0 && s->server < r->nservers &&
            !stopping(o, s->server) && rack_server_draws(&r->servers[s->server]))
            begin_stop(o, s, now);
        else if (s->kind == OUTAGE_STEP_MOVE && s->activity >= 0 && s->activity < r->nactivities &&
                 s->server >= 0 && s->to_server >= 0 && !stopping(o, s->to_server))
            begin_move(o, s->activity, s->server, s->to_server, s->watts, false, s->reason);
        else if (s->kind == OUTAGE_STEP_DIVERT && s->reserve >= 0 && s->reserve < r->nreserves) {
            struct rack_reserve *res = &r->reserves[s->reserve];
            if (!res->known || (res->to_bus == s->to_bus && res->to_server == s->to_server))
                continue; /* never raised on a stale figure; nothing new */
            if (!outage_divert_worth(r, s, &o->plan) || outage_divert_darkens(r, s, NULL, 0) != 0)
                continue; /* a swing for seconds, or from under running servers: it waits */
            if (outage_apply(r, s, err, sizeof(err))) {
                log_warnx("outage: divert of %s refused: %s", res->id, err);
                continue;
            }
            json_t *ev = decider_event(o->dec, "divert");
            json_object_set_new(ev, "reserve", json_string(res->id));
            json_object_set_new(ev, "to",
                                s->to_bus >= 0 ? json_string(r->buses[s->to_bus])
                                               : json_string(r->servers[s->to_server].id));
            json_object_set_new(ev, "watts", num_or_null(s->watts));
            json_object_set_new(ev, "reason", json_string(s->reason));
            journal(o, ev);
        }
    }
}

/* After the outage: the held servers back, most important first, once
 * mains has been stable and the reserves hold their minimum; moved work home
 * once its home server draws again. */
static void recover(struct orun *o, int64_t now)
{
    struct rack *r = rk(o);
    int held = 0;
    for (int i = 0; i < r->nservers; i++)
        held += r->servers[i].held || stopping(o, i);
    if (held && outage_may_release(r, &o->o, now)) {
        struct policy_input *in = calloc((size_t)held, sizeof(*in));
        size_t n = 0;
        for (int i = 0; in && i < r->nservers; i++)
            if (o->srv[i].phase == ORUN_HELD || r->servers[i].held)
                in[n++] = (struct policy_input){.kind = POLICY_OUTAGE_RELEASE, .index = i};
        /* most important first */
        for (size_t a = 1; a < n; a++)
            for (size_t b = a; b > 0 && r->servers[in[b].index].own_priority <
                                            r->servers[in[b - 1].index].own_priority;
                 b--) {
                struct policy_input t = in[b];
                in[b] = in[b - 1];
                in[b - 1] = t;
            }
        if (n) {
            char why[300];
            snprintf(why, sizeof(why),
                     "mains stable for %.0f s and every reserve at least %d %% full: released",
                     (double)(now - o->o.mains_back_ns) / 1e9, r->outage.min_charge_pct);
            for (size_t k = 0; k < n; k++)
                o->srv[in[k].index].phase = ORUN_UP;
            for (int a = 0; a < r->nactivities; a++)
                if (r->activities[a].state == RACK_ACT_STOPPED)
                    r->activities[a].state = RACK_ACT_RUNNING;
            json_t *ev = decider_event(o->dec, "outage_release"), *ids = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(ids, json_string(r->servers[in[k].index].id));
            json_object_set_new(ev, "servers", ids);
            json_object_set_new(ev, "reason", json_string(why));
            journal(o, ev);
            log_info("outage: %s", why);
            decide_inputs(o, in, n, why);
            o->released = true;
        }
        free(in);
    }
    for (int a = 0; a < r->nactivities; a++) {
        struct rack_activity *act = &r->activities[a];
        if (act->state != RACK_ACT_MOVED || !act->nhome || !act->nservers)
            continue;
        int home = act->home[0], from = act->servers[0];
        if (home == from || !rack_server_draws(&r->servers[home]))
            continue;
        char why[200];
        snprintf(why, sizeof(why), "mains is back and %s draws again: %s goes home",
                 r->servers[home].id, act->id);
        begin_move(o, a, from, home, 0, true, why);
    }
}

/* A reserve that ran empty while the policy counts the reserves (a feed is
 * down): the policy takes it out now, not at the next input, and sheds what
 * it carried, least important first (docs/policy.md "Battery reserves"). */
static void reserves_emptied(struct orun *o)
{
    struct rack *r = rk(o);
    bool any = false;
    for (int i = 0; i < o->nres && i < r->nreserves; i++) {
        bool has = r->reserves[i].wh_left > 0;
        if (o->res[i].had_energy && !has && rack_reserves_count(r)) {
            char why[200];
            snprintf(why, sizeof(why), "%s %s is empty: the policy counts it no more",
                     rack_reserve_kind_name(r->reserves[i].kind), r->reserves[i].id);
            json_t *ev = decider_event(o->dec, "reserve_empty");
            json_object_set_new(ev, "reserve", json_string(r->reserves[i].id));
            json_object_set_new(ev, "reason", json_string(why));
            journal(o, ev);
            log_warnx("outage: %s", why);
            any = true;
        }
        o->res[i].had_energy = has;
    }
    if (!any)
        return;
    char err[256];
    struct decision x = decision_settle(NULL);
    if (decide(o->dec, &x, err, sizeof(err)))
        log_warnx("outage: settle after a reserve ran empty: %s", err);
}

/* A server the policy shed while a feed is down (the reserves could not
 * deliver it at all) is the outage's: held, and back by the release rules
 * (mains stable, reserves recharged), not by the restore rules alone. */
static void hold_shed(struct orun *o)
{
    struct rack *r = rk(o);
    if (!o->o.active || !rack_reserves_count(r))
        return;
    for (int i = 0; i < r->nservers; i++) {
        if (r->servers[i].state != RACK_SRV_SHED || r->servers[i].held)
            continue;
        char why[200];
        snprintf(why, sizeof(why),
                 "outage: %s was shed while the rack runs on its reserves: held until released",
                 r->servers[i].id);
        struct policy_input in = {.kind = POLICY_OUTAGE_STOP, .index = i};
        decide_inputs(o, &in, 1, why);
    }
}

static bool any_held(const struct orun *o)
{
    for (int i = 0; i < rk(o)->nservers; i++)
        if (rk(o)->servers[i].held || stopping(o, i))
            return true;
    return false;
}

static bool adopted_may_end(struct orun *o, int64_t now);
static void record_replicate(struct orun *o, int64_t now);

void orun_update(struct orun *o, int64_t now)
{
    if (!o->dec)
        return;
    if (o->busy) {
        o->again = true;
        return;
    }
    o->busy = true;
    do {
        o->again = false;
        integrate(o, now);
        ups_feeds(o);
        reserves_emptied(o);
        enum outage_cause cause;
        char why[OUTAGE_REASON_LEN];
        bool on = cause_now(o, &cause, why, sizeof(why));
        if (on && !o->o.active)
            start(o, cause, why, now);
        else if (!on && o->o.active && adopted_may_end(o, now))
            end(o, "mains is back on every feed and every reserve is on line", now);
        if (o->o.active)
            replan(o, now);
        advance_stops(o, now);
        hold_shed(o);
        if (!o->o.active && o->o.mains_back_ns != INT64_MIN)
            recover(o, now);
    } while (o->again);
    o->busy = false;
    record_replicate(o, now);
}

static int64_t adopt_grace_ns(const struct orun *o);

int64_t orun_next_deadline(const struct orun *o, int64_t now)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < o->nsrv; i++)
        if ((o->srv[i].phase == ORUN_STAGED || o->srv[i].phase == ORUN_SOFT_OFF) &&
            o->srv[i].due_ns < next)
            next = o->srv[i].due_ns;
    const struct rack *r = rk(o);
    for (int i = 0; i < o->nres; i++) { /* a reading growing stale raises its alarm */
        const struct orun_reserve *s = &o->res[i];
        if (s->read_by_device && s->read_ns != INT64_MIN && r->reserves[i].known &&
            s->read_ns + s->stale_ns + 1 < next)
            next = s->read_ns + s->stale_ns + 1;
    }
    if (o->o.active) {
        int64_t t = now + REPLAN_MAX_NS;
        for (size_t k = 0; o->planned && k < o->plan.nsteps; k++) {
            const struct outage_step *s = &o->plan.steps[k];
            if (!s->now && isfinite(s->at_s) && s->at_s >= 0) {
                int64_t at = now + (int64_t)(s->at_s * 1e9);
                if (at < t)
                    t = at;
            }
        }
        if (t < next)
            next = t;
        int64_t proof = o->adopted_ns + adopt_grace_ns(o); /* may it end then? */
        if (o->adopted && proof > now && proof < next)
            next = proof;
    } else if (o->o.mains_back_ns != INT64_MIN && any_held(o)) {
        int64_t t = o->o.mains_back_ns + r->outage.mains_stable_ns;
        next = t > now ? (t < next ? t : next)
                       : (now + 1000000000LL < next ? now + 1000000000LL : next);
    }
    return next;
}

/* ---- the operator ---- */

int orun_command(struct orun *o, bool start_it, const char *who, const char *note, int64_t now,
                 char **body)
{
    char text[400];
    bool was = o->o.active;
    if (start_it) {
        o->operator_on = true;
        snprintf(o->operator_who, sizeof(o->operator_who), "%s", who && who[0] ? who : "the API");
    } else {
        o->operator_on = false;
        o->adopted = false; /* the operator's word, where no reading here can say */
    }
    json_t *ev = decider_event(o->dec, "outage_command");
    json_object_set_new(ev, "action", json_string(start_it ? "start" : "end"));
    json_object_set_new(ev, "who", json_string(who && who[0] ? who : "the API"));
    if (note && note[0])
        json_object_set_new(ev, "note", json_string(note));
    json_object_set_new(ev, "reason",
                        json_string(start_it ? "the operator says the power is out"
                                             : "the operator says the power is back"));
    journal(o, ev);
    orun_update(o, now);
    if (start_it)
        snprintf(text, sizeof(text),
                 was ? "an outage is on already (%s): it lasts until %s ends it" : "outage started",
                 outage_cause_name(o->o.cause), o->operator_who);
    else if (o->o.active)
        snprintf(text, sizeof(text), "the operator's outage is ended, but the outage goes on: %s",
                 o->cause_reason);
    else
        snprintf(text, sizeof(text), was ? "outage ended" : "no outage was on");
    json_t *ans = json_object();
    json_object_set_new(ans, "outage", orun_status(o, now));
    json_object_set_new(ans, "result", json_string(text));
    *body = json_dumps(ans, DUMP_FLAGS);
    json_decref(ans);
    if (o->hooks.changed)
        o->hooks.changed(o->hooks.arg);
    return 200;
}

/* ---- alarms and views ---- */

int orun_alarms(const struct orun *o, int64_t now, struct alarm_set *c)
{
    const struct rack *r = rk(o);
    char why[ALARM_REASON_LEN];
    for (int i = 0; i < o->nres && i < r->nreserves; i++) {
        const struct orun_reserve *s = &o->res[i];
        const struct rack_reserve *res = &r->reserves[i];
        if (!s->read_by_device || res->known)
            continue;
        if (s->read_ns == INT64_MIN)
            snprintf(why, sizeof(why),
                     "%s has not been read yet: no power is raised on it, and the plan takes "
                     "it as it was configured (%.0f Wh)",
                     res->id, res->wh_left);
        else
            snprintf(why, sizeof(why),
                     "%s not read for %.0f s: no power is raised on it, and the plan takes it as "
                     "draining at its last known rate (%.0f W from its cells, %.0f Wh left now)",
                     res->id, (double)(now - s->read_ns) / 1e9, s->drain_w, res->wh_left);
        if (alarm_set_add(c, ALARM_RESERVE_LOST, res->id, why))
            return -1;
    }
    if (o->o.active) {
        snprintf(why, sizeof(why), "outage (%s) for %.0f s: %s", outage_cause_name(o->o.cause),
                 (double)(now - o->o.since_ns) / 1e9, o->cause_reason);
        if (alarm_set_add(c, ALARM_ON_RESERVES, r->name, why))
            return -1;
    }
    return 0;
}

static const char *state_name(const struct orun *o)
{
    if (o->o.active)
        return "on";
    if (o->o.mains_back_ns != INT64_MIN && any_held(o))
        return "recovering";
    return "off";
}

json_t *orun_status(const struct orun *o, int64_t now)
{
    if (!o->o.active && !(o->o.mains_back_ns != INT64_MIN && any_held(o)))
        return json_null();
    json_t *s = json_object();
    json_object_set_new(s, "state", json_string(state_name(o)));
    json_object_set_new(s, "cause", json_string(outage_cause_name(o->o.cause)));
    json_object_set_new(s, "since", json_real(o->last_start_wall));
    json_object_set_new(s, "for_s", json_real(round((double)(now - o->o.since_ns) / 1e8) / 10));
    json_object_set_new(s, "reason", json_string(o->cause_reason));
    json_object_set_new(s, "stages", json_integer(o->o.stages));
    json_object_set_new(s, "wh_left", o->planned ? num_or_null(o->plan.wh_left) : json_null());
    json_object_set_new(s, "top_runtime_s",
                        o->planned ? num_or_null(o->plan.top_runtime_s) : json_null());
    return s;
}

json_t *orun_view(const struct orun *o, int64_t now)
{
    const struct rack *r = rk(o);
    json_t *v = json_object(), *res = json_object(), *acts = json_object(), *stops = json_object();
    json_object_set_new(v, "state", json_string(state_name(o)));
    json_object_set_new(v, "cause",
                        o->o.active || o->o.mains_back_ns != INT64_MIN
                            ? json_string(outage_cause_name(o->o.cause))
                            : json_null());
    json_object_set_new(v, "since",
                        o->last_start_wall > 0 ? json_real(o->last_start_wall) : json_null());
    json_object_set_new(v, "reason",
                        o->cause_reason[0] ? json_string(o->cause_reason) : json_null());
    json_object_set_new(v, "operator", json_boolean(o->operator_on));
    json_object_set_new(v, "mains_back_s",
                        o->o.mains_back_ns != INT64_MIN
                            ? json_real(round((double)(now - o->o.mains_back_ns) / 1e8) / 10)
                            : json_null());
    for (int i = 0; i < r->nreserves; i++) {
        const struct rack_reserve *x = &r->reserves[i];
        const struct orun_reserve *s = &o->res[i];
        json_t *e = json_object();
        json_object_set_new(e, "kind", json_string(rack_reserve_kind_name(x->kind)));
        json_object_set_new(e, "wh_left", num_or_null(x->wh_left));
        json_object_set_new(e, "energy_wh", num_or_null(x->energy_wh));
        json_object_set_new(e, "watts", num_or_null(x->watts));
        json_object_set_new(e, "runtime_s",
                            x->discharging ? num_or_null(outage_runtime_s(x, x->wh_left, x->watts))
                                           : json_null());
        json_object_set_new(e, "known", json_boolean(x->known));
        json_object_set_new(e, "read", json_boolean(s->read_by_device));
        json_object_set_new(e, "age_s",
                            s->read_ns != INT64_MIN
                                ? json_real(round((double)(now - s->read_ns) / 1e8) / 10)
                                : json_null());
        json_object_set_new(e, "charge_pct",
                            s->charge_pct >= 0 ? json_integer(s->charge_pct) : json_null());
        json_object_set_new(e, "status", s->status[0] ? json_string(s->status) : json_null());
        json_object_set_new(e, "discharging", json_boolean(x->discharging));
        json_object_set_new(res, x->id, e);
    }
    json_object_set_new(v, "reserves", res);
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *x = &r->activities[a];
        json_t *e = json_object(), *on = json_array();
        for (int k = 0; k < x->nservers; k++)
            json_array_append_new(on, json_string(r->servers[x->servers[k]].id));
        json_object_set_new(e, "state", json_string(rack_activity_state_name(x->state)));
        json_object_set_new(e, "servers", on);
        json_object_set_new(e, "priority", json_integer(x->priority));
        json_object_set_new(e, "qos", json_string(x->qos));
        const struct orun_move *mv = NULL;
        for (size_t k = 0; k < o->nmoves; k++)
            if (o->moves[k].activity == a)
                mv = &o->moves[k];
        json_object_set_new(e, "moving_to", mv ? json_string(r->servers[mv->to].id) : json_null());
        json_object_set_new(acts, x->id, e);
    }
    json_object_set_new(v, "activities", acts);
    static const char *const phases[] = {"up", "staged", "soft_off", "held"};
    for (int i = 0; i < o->nsrv && i < r->nservers; i++) {
        const struct orun_server *s = &o->srv[i];
        if (s->phase == ORUN_UP && !r->servers[i].held)
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "phase", json_string(phases[s->phase]));
        json_object_set_new(e, "held", json_boolean(r->servers[i].held));
        json_object_set_new(e, "stage", json_integer(s->stage));
        json_object_set_new(e, "next_in_s",
                            s->phase == ORUN_STAGED || s->phase == ORUN_SOFT_OFF
                                ? json_real(round((double)(s->due_ns - now) / 1e8) / 10)
                                : json_null());
        json_object_set_new(stops, r->servers[i].id, e);
    }
    json_object_set_new(v, "stops", stops);
    char why[200] = "";
    bool may = !o->hooks.may_command || o->hooks.may_command(o->hooks.arg, why, sizeof(why));
    json_object_set_new(v, "commands_held_back", may ? json_null() : json_string(why));
    json_object_set_new(v, "plan",
                        o->o.active && o->planned ? plan_json(r, &o->plan) : json_null());
    if (o->plan_err[0])
        json_object_set_new(v, "plan_error", json_string(o->plan_err));
    return v;
}

int orun_plan_preview(const struct orun *o, int64_t now, char **body)
{
    const struct rack *r = rk(o);
    struct outage_plan p = {0};
    struct outage what_if = {.active = false, .since_ns = now, .mains_back_ns = INT64_MIN};
    char err[160];
    json_t *ans = json_object();
    int status = 200;
    if (outage_plan_make(r, &what_if, now, &p, err, sizeof(err))) {
        json_object_set_new(ans, "error", json_string(err));
        status = 503;
    } else {
        json_object_set_new(ans, "if_mains_failed_now", json_true());
        json_object_set_new(ans, "plan", plan_json(r, &p));
    }
    outage_plan_free(&p);
    *body = json_dumps(ans, DUMP_FLAGS);
    json_decref(ans);
    return status;
}

/* ---- across a fail-over (outage_run.h) ---- */

#define ADOPT_GRACE_NS 3000000000LL /* a new primary's devices have read everything by then */

static const char *const phase_names[] = {"up", "staged", "soft_off", "held"};

static json_t *age_or_null(int64_t from, int64_t now)
{
    return from == INT64_MIN ? json_null() : json_integer((json_int_t)(now - from));
}

/* Where a reserve is directed: a bus's or a server's id, null at its own place. */
static json_t *reserve_to(const struct rack *r, const struct rack_reserve *x)
{
    if (x->to_bus >= 0 && x->to_bus < r->nbuses)
        return json_string(r->buses[x->to_bus]);
    if (x->to_server >= 0 && x->to_server < r->nservers)
        return json_string(r->servers[x->to_server].id);
    return json_null();
}

/*
 * The record; with lasting false only what changes by a step (the outage,
 * phases, holds, floors, places, diverts), without ages or readings: what
 * says whether it must be replicated again.
 */
static json_t *record_json(const struct orun *o, int64_t now, bool lasting)
{
    const struct rack *r = rk(o);
    json_t *v = json_object(), *srv = json_object(), *acts = json_object(), *res = json_object(),
           *floors = json_array(), *failed = json_array();
    if (!v || !srv || !acts || !res || !floors || !failed) {
        json_decref(v);
        json_decref(srv);
        json_decref(acts);
        json_decref(res);
        json_decref(floors);
        json_decref(failed);
        return NULL;
    }
    bool on = o->o.active || o->o.mains_back_ns != INT64_MIN;
    json_object_set_new(v, "active", json_boolean(o->o.active));
    json_object_set_new(v, "cause", json_string(outage_cause_name(o->o.cause)));
    json_object_set_new(v, "stages", json_integer(o->o.stages));
    json_object_set_new(v, "operator", json_boolean(o->operator_on));
    json_object_set_new(v, "who", json_string(o->operator_who));
    json_object_set_new(v, "reason", json_string(o->cause_reason));
    json_object_set_new(v, "released", json_boolean(o->released));
    json_object_set_new(v, "since_wall", json_real(o->last_start_wall));
    json_object_set_new(v, "mains_back", json_boolean(o->o.mains_back_ns != INT64_MIN));
    if (!lasting) {
        json_object_set_new(v, "since_age_ns", on ? age_or_null(o->o.since_ns, now) : json_null());
        json_object_set_new(v, "mains_back_age_ns", age_or_null(o->o.mains_back_ns, now));
    }
    bool floors_valid = o->o.floors_since_ns == o->o.since_ns;
    for (int k = 0; floors_valid && k < o->o.nfloors && k < OUTAGE_MAX_LEVELS; k++) {
        int64_t f = o->o.floor_ns[k];
        json_array_append_new(floors,
                              json_pack("{siso}", "priority", o->o.floor_priority[k], "in_ns",
                                        lasting          ? json_true()
                                        : f == INT64_MAX ? json_null()
                                                         : json_integer((json_int_t)(f - now))));
    }
    json_object_set_new(v, "floors", floors);
    for (int i = 0; i < o->nsrv && i < r->nservers; i++) {
        const struct orun_server *x = &o->srv[i];
        if (x->phase == ORUN_UP && !r->servers[i].held)
            continue;
        json_t *e = json_object();
        json_object_set_new(e, "phase", json_string(phase_names[x->phase]));
        json_object_set_new(e, "stage", json_integer(x->stage));
        json_object_set_new(e, "held", json_boolean(r->servers[i].held));
        if (!lasting)
            json_object_set_new(e, "due_in_ns",
                                x->phase == ORUN_STAGED || x->phase == ORUN_SOFT_OFF
                                    ? json_integer((json_int_t)(x->due_ns - now))
                                    : json_null());
        json_object_set_new(srv, r->servers[i].id, e);
    }
    json_object_set_new(v, "servers", srv);
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *x = &r->activities[a];
        json_t *e = json_object(), *on_ = json_array(), *share = json_array();
        for (int k = 0; k < x->nservers; k++) {
            json_array_append_new(on_, json_string(r->servers[x->servers[k]].id));
            json_array_append_new(share, json_real(x->share[k]));
        }
        json_object_set_new(e, "state", json_string(rack_activity_state_name(x->state)));
        json_object_set_new(e, "servers", on_);
        json_object_set_new(e, "share", share);
        json_object_set_new(acts, x->id, e);
        if (a < o->nact && o->move_failed[a])
            json_array_append_new(failed, json_string(x->id));
    }
    json_object_set_new(v, "activities", acts);
    json_object_set_new(v, "moves_failed", failed);
    for (int i = 0; i < o->nres && i < r->nreserves; i++) {
        const struct rack_reserve *x = &r->reserves[i];
        const struct orun_reserve *s = &o->res[i];
        json_t *e = json_object();
        json_object_set_new(e, "to", reserve_to(r, x));
        if (!lasting) {
            json_object_set_new(e, "wh_left", json_real(x->wh_left));
            json_object_set_new(e, "watts", json_real(x->watts));
            json_object_set_new(e, "discharging", json_boolean(x->discharging));
            json_object_set_new(e, "read_age_ns", age_or_null(s->read_ns, now));
            json_object_set_new(e, "flags", json_integer(s->flags));
            json_object_set_new(e, "charge_pct", json_integer(s->charge_pct));
            json_object_set_new(e, "runtime_s", json_integer(s->runtime_s));
            json_object_set_new(e, "drain_w", json_real(s->drain_w));
            json_object_set_new(e, "status", json_string(s->status));
        }
        json_object_set_new(res, x->id, e);
    }
    json_object_set_new(v, "reserves", res);
    return v;
}

json_t *orun_record(struct orun *o, int64_t now)
{
    json_t *sig = record_json(o, now, true);
    if (sig) {
        json_decref(o->sent);
        o->sent = sig;
    }
    o->sent_ns = now;
    return record_json(o, now, false);
}

json_t *orun_take_events(struct orun *o)
{
    json_t *evs = o->pending ? o->pending : json_array();
    o->pending = NULL;
    return evs;
}

/* After an update: a record that changed, or events not yet replicated,
 * go to the secondaries in an entry of their own. */
static void record_replicate(struct orun *o, int64_t now)
{
    if (!o->hooks.record)
        return;
    json_t *sig = record_json(o, now, true);
    bool changed = sig && (!o->sent || !json_equal(sig, o->sent));
    json_decref(sig);
    /* during an outage the readings go at least every REPLAN_MAX_NS: a new
     * primary (or a secondary restarted since) plans from fresh figures */
    bool due = o->o.active && now - o->sent_ns >= REPLAN_MAX_NS;
    if (changed || due || (o->pending && json_array_size(o->pending)))
        o->hooks.record(o->hooks.arg);
}

static int64_t adopt_grace_ns(const struct orun *o)
{
    int64_t g = ADOPT_GRACE_NS;
    for (int i = 0; i < o->nres; i++)
        if (o->res[i].read_by_device && o->res[i].stale_ns != INT64_MAX && o->res[i].stale_ns > g)
            g = o->res[i].stale_ns;
    return g;
}

/*
 * Whether an adopted outage may end because nothing here says it goes on:
 * only once every reserve this controller's devices read has been read
 * since the promotion (a reading taken as a secondary, or none, is no proof
 * that mains is back), and the devices' first reads are in.
 */
static bool adopted_may_end(struct orun *o, int64_t now)
{
    if (!o->adopted)
        return true;
    const struct rack *r = rk(o);
    int readers = 0;
    for (int i = 0; i < o->nres && i < r->nreserves; i++) {
        const struct orun_reserve *s = &o->res[i];
        if (!s->read_by_device)
            continue;
        readers++;
        if (s->read_ns == INT64_MIN || s->read_ns < o->adopted_ns || !r->reserves[i].known)
            return false;
    }
    if (!readers && (o->o.cause == OUTAGE_CAUSE_UPS || o->o.cause == OUTAGE_CAUSE_BBU))
        return false; /* nothing here reads a reserve: the operator says when */
    if (now - o->adopted_ns < adopt_grace_ns(o))
        return false;
    o->adopted = false;
    return true;
}

/* ---- following a record ---- */

static bool is_int_or_null(json_t *v)
{
    return !v || json_is_null(v) || json_is_integer(v);
}

static int phase_of(const char *name)
{
    for (size_t k = 0; name && k < sizeof(phase_names) / sizeof(phase_names[0]); k++)
        if (!strcmp(name, phase_names[k]))
            return (int)k;
    return -1;
}

static int cause_of(const char *name)
{
    static const enum outage_cause all[] = {OUTAGE_CAUSE_FEED, OUTAGE_CAUSE_UPS, OUTAGE_CAUSE_BBU,
                                            OUTAGE_CAUSE_OPERATOR};
    for (size_t k = 0; name && k < sizeof(all) / sizeof(all[0]); k++)
        if (!strcmp(name, outage_cause_name(all[k])))
            return (int)all[k];
    return -1;
}

static int activity_state_of(const char *name)
{
    static const enum rack_activity_state all[] = {RACK_ACT_RUNNING, RACK_ACT_MOVED,
                                                   RACK_ACT_STOPPED};
    for (size_t k = 0; name && k < sizeof(all) / sizeof(all[0]); k++)
        if (!strcmp(name, rack_activity_state_name(all[k])))
            return (int)all[k];
    return -1;
}

/* Every field checked before anything is taken: a record that is not one
 * changes nothing. */
static int record_check(json_t *rec, char *err, size_t errlen)
{
    const char *what = NULL;
    json_t *srv = json_object_get(rec, "servers"), *acts = json_object_get(rec, "activities"),
           *res = json_object_get(rec, "reserves"), *floors = json_object_get(rec, "floors"),
           *failed = json_object_get(rec, "moves_failed");
    if (!json_is_object(rec))
        what = "not an object";
    else if (!json_is_boolean(json_object_get(rec, "active")) ||
             cause_of(json_string_value(json_object_get(rec, "cause"))) < 0 ||
             !json_is_integer(json_object_get(rec, "stages")) ||
             !json_is_boolean(json_object_get(rec, "operator")) ||
             !json_is_string(json_object_get(rec, "who")) ||
             !json_is_string(json_object_get(rec, "reason")) ||
             !json_is_boolean(json_object_get(rec, "released")) ||
             !json_is_number(json_object_get(rec, "since_wall")) ||
             !is_int_or_null(json_object_get(rec, "since_age_ns")) ||
             !is_int_or_null(json_object_get(rec, "mains_back_age_ns")))
        what = "its outage fields";
    else if (!json_is_object(srv) || !json_is_object(acts) || !json_is_object(res) ||
             !json_is_array(floors) || !json_is_array(failed) ||
             json_array_size(floors) > OUTAGE_MAX_LEVELS)
        what = "its servers, activities, reserves, floors or failed moves";
    const char *key;
    json_t *e;
    size_t k;
    json_object_foreach(what ? NULL : srv, key, e)
    {
        if (!json_is_object(e) || phase_of(json_string_value(json_object_get(e, "phase"))) < 0 ||
            !json_is_integer(json_object_get(e, "stage")) ||
            !json_is_boolean(json_object_get(e, "held")) ||
            !is_int_or_null(json_object_get(e, "due_in_ns")))
            what = "a server's phase";
    }
    json_object_foreach(what ? NULL : acts, key, e)
    {
        json_t *on = json_object_get(e, "servers"), *share = json_object_get(e, "share");
        if (!json_is_object(e) ||
            activity_state_of(json_string_value(json_object_get(e, "state"))) < 0 ||
            !json_is_array(on) || !json_is_array(share) ||
            json_array_size(on) != json_array_size(share))
            what = "an activity's place";
        for (k = 0; !what && k < json_array_size(on); k++)
            if (!json_is_string(json_array_get(on, k)) || !json_is_number(json_array_get(share, k)))
                what = "an activity's place";
    }
    json_object_foreach(what ? NULL : res, key, e)
    {
        json_t *to = json_object_get(e, "to");
        if (!json_is_object(e) || !(json_is_null(to) || json_is_string(to)) ||
            !json_is_number(json_object_get(e, "wh_left")) ||
            !json_is_number(json_object_get(e, "watts")) ||
            !json_is_boolean(json_object_get(e, "discharging")) ||
            !is_int_or_null(json_object_get(e, "read_age_ns")) ||
            !json_is_integer(json_object_get(e, "flags")) ||
            !json_is_integer(json_object_get(e, "charge_pct")) ||
            !json_is_integer(json_object_get(e, "runtime_s")) ||
            !json_is_number(json_object_get(e, "drain_w")) ||
            !json_is_string(json_object_get(e, "status")))
            what = "a reserve's reading";
    }
    for (k = 0; !what && k < json_array_size(floors); k++) {
        json_t *fl = json_array_get(floors, k);
        if (!json_is_integer(json_object_get(fl, "priority")) ||
            !is_int_or_null(json_object_get(fl, "in_ns")))
            what = "a floor";
    }
    for (k = 0; !what && k < json_array_size(failed); k++)
        if (!json_is_string(json_array_get(failed, k)))
            what = "a failed move";
    if (what) {
        snprintf(err, errlen, "the outage record is not one: %s", what);
        return -1;
    }
    return 0;
}

static int64_t int_or(json_t *v, int64_t dflt)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* An activity's place as the primary has it (a move, or home again). */
static void follow_activity(struct rack *r, int a, json_t *e)
{
    struct rack_activity *x = &r->activities[a];
    json_t *on = json_object_get(e, "servers"), *share = json_object_get(e, "share");
    if (json_array_size(on) != (size_t)x->nservers)
        return; /* another rack file: its places stay this one's */
    for (int k = 0; k < x->nservers; k++)
        if (rack_find_server(r, json_string_value(json_array_get(on, (size_t)k))) < 0)
            return;
    for (int k = 0; k < x->nservers; k++) {
        double sh = json_number_value(json_array_get(share, (size_t)k));
        x->servers[k] = rack_find_server(r, json_string_value(json_array_get(on, (size_t)k)));
        x->share[k] = sh < 0 ? 0 : sh > 1 ? 1 : sh;
    }
    x->state =
        (enum rack_activity_state)activity_state_of(json_string_value(json_object_get(e, "state")));
}

/* A reserve's diverts, and its reading when the primary's is fresher. */
static void follow_reserve(struct orun *o, int i, json_t *e, int64_t now)
{
    struct rack *r = rk(o);
    struct rack_reserve *x = &r->reserves[i];
    struct orun_reserve *s = &o->res[i];
    const char *to = json_string_value(json_object_get(e, "to"));
    int b = to ? rack_find_bus(r, to) : -1, v = to && b < 0 ? rack_find_server(r, to) : -1;
    x->to_bus = b;
    x->to_server = v;
    json_t *age = json_object_get(e, "read_age_ns");
    int64_t read = json_is_integer(age) ? now - (int64_t)json_integer_value(age) : INT64_MIN;
    /* ours is as fresh: a reading of this controller's own devices stands */
    if (read == INT64_MIN || (s->read_ns != INT64_MIN && s->read_ns >= read))
        return;
    double wh = json_number_value(json_object_get(e, "wh_left"));
    x->wh_left = wh < 0 ? 0 : wh > x->energy_wh ? x->energy_wh : wh;
    x->watts = json_number_value(json_object_get(e, "watts"));
    x->discharging = json_is_true(json_object_get(e, "discharging"));
    s->read_ns = read;
    s->integ_ns = now;
    s->flags = (unsigned)json_integer_value(json_object_get(e, "flags"));
    s->charge_pct = (int)json_integer_value(json_object_get(e, "charge_pct"));
    s->runtime_s = json_integer_value(json_object_get(e, "runtime_s"));
    s->drain_w = json_number_value(json_object_get(e, "drain_w"));
    snprintf(s->status, sizeof(s->status), "%s", json_string_value(json_object_get(e, "status")));
}

int orun_follow(struct orun *o, json_t *rec, int64_t now, char *err, size_t errlen)
{
    if (!o->dec)
        return 0;
    if (record_check(rec, err, errlen))
        return -1;
    struct rack *r = rk(o);
    struct outage *x = &o->o;
    x->active = json_is_true(json_object_get(rec, "active"));
    x->cause = (enum outage_cause)cause_of(json_string_value(json_object_get(rec, "cause")));
    x->since_ns = now - int_or(json_object_get(rec, "since_age_ns"), 0);
    int64_t back = int_or(json_object_get(rec, "mains_back_age_ns"), -1);
    x->mains_back_ns = back < 0 ? INT64_MIN : now - back;
    x->stages = (int)json_integer_value(json_object_get(rec, "stages"));
    json_t *floors = json_object_get(rec, "floors");
    x->nfloors = (int)json_array_size(floors);
    for (int k = 0; k < x->nfloors; k++) {
        json_t *fl = json_array_get(floors, (size_t)k), *in = json_object_get(fl, "in_ns");
        x->floor_priority[k] = (int)json_integer_value(json_object_get(fl, "priority"));
        x->floor_ns[k] = json_is_integer(in) ? now + (int64_t)json_integer_value(in) : INT64_MAX;
    }
    x->floors_since_ns = x->since_ns; /* they are this outage's */
    o->operator_on = json_is_true(json_object_get(rec, "operator"));
    snprintf(o->operator_who, sizeof(o->operator_who), "%s",
             json_string_value(json_object_get(rec, "who")));
    snprintf(o->cause_reason, sizeof(o->cause_reason), "%s",
             json_string_value(json_object_get(rec, "reason")));
    o->released = json_is_true(json_object_get(rec, "released"));
    o->last_start_wall = json_number_value(json_object_get(rec, "since_wall"));

    json_t *srv = json_object_get(rec, "servers");
    for (int i = 0; i < o->nsrv && i < r->nservers; i++) {
        json_t *e = json_object_get(srv, r->servers[i].id);
        struct orun_server *v = &o->srv[i];
        *v = (struct orun_server){.phase = ORUN_UP};
        r->servers[i].held = e && json_is_true(json_object_get(e, "held"));
        if (!e)
            continue;
        v->phase = (enum orun_stop_phase)phase_of(json_string_value(json_object_get(e, "phase")));
        v->stage = (int)json_integer_value(json_object_get(e, "stage"));
        v->due_ns = now + int_or(json_object_get(e, "due_in_ns"), 0);
    }
    json_t *acts = json_object_get(rec, "activities"),
           *failed = json_object_get(rec, "moves_failed");
    for (int a = 0; a < r->nactivities && a < o->nact; a++) {
        json_t *e = json_object_get(acts, r->activities[a].id);
        if (e)
            follow_activity(r, a, e);
        o->move_failed[a] = false;
        for (size_t k = 0; k < json_array_size(failed); k++)
            if (!strcmp(json_string_value(json_array_get(failed, k)), r->activities[a].id))
                o->move_failed[a] = true;
    }
    for (int i = 0; i < r->nservers; i++) /* a server's priority follows its work */
        r->servers[i].priority = rack_server_activity_priority(r, i, r->servers[i].own_priority);
    if (r->nactivities)
        policy_resort(o->dec->pol);
    json_t *res = json_object_get(rec, "reserves");
    for (int i = 0; i < o->nres && i < r->nreserves; i++) {
        json_t *e = json_object_get(res, r->reserves[i].id);
        if (e)
            follow_reserve(o, i, e, now);
    }
    o->planned = false; /* the primary's plan is its own: made again on promotion */
    json_decref(o->sent);
    o->sent = record_json(o, now, true);
    return 0;
}

void orun_adopt(struct orun *o, int64_t now, const char *how)
{
    if (!o->dec)
        return;
    const struct rack *r = rk(o);
    json_decref(o->pending); /* what was journaled as a secondary is not ours to send */
    o->pending = NULL;
    o->adopted = false;
    if (!o->o.active && !(o->o.mains_back_ns != INT64_MIN && any_held(o)))
        return;
    o->adopted = o->o.active;
    o->adopted_ns = now;
    json_t *ev = decider_event(o->dec, "outage_adopted"), *held = json_array();
    for (int i = 0; i < o->nsrv && i < r->nservers; i++)
        if (o->srv[i].phase != ORUN_UP || r->servers[i].held)
            json_array_append_new(held, json_string(r->servers[i].id));
    char why[OUTAGE_REASON_LEN + 200];
    snprintf(why, sizeof(why),
             "%s during an outage (%s, %.0f s ago: %s): carried on as it stands, %d stage%s taken",
             how, outage_cause_name(o->o.cause), (double)(now - o->o.since_ns) / 1e9,
             o->cause_reason, o->o.stages, o->o.stages == 1 ? "" : "s");
    json_object_set_new(ev, "state", json_string(state_name(o)));
    json_object_set_new(ev, "cause", json_string(outage_cause_name(o->o.cause)));
    json_object_set_new(ev, "since", json_real(o->last_start_wall));
    json_object_set_new(ev, "stages", json_integer(o->o.stages));
    json_object_set_new(ev, "stopping", held);
    if (o->operator_on)
        json_object_set_new(ev, "who", json_string(o->operator_who));
    json_object_set_new(ev, "reason", json_string(why));
    journal(o, ev);
    log_warnx("outage: %s", why);
}

void orun_track(struct orun *o, int64_t now)
{
    if (o->dec)
        integrate(o, now);
}

int64_t orun_track_deadline(const struct orun *o, int64_t now)
{
    int64_t next = INT64_MAX;
    if (!o->dec)
        return next;
    const struct rack *r = rk(o);
    for (int i = 0; i < o->nres && i < r->nreserves; i++) {
        const struct orun_reserve *s = &o->res[i];
        int64_t t = s->read_ns != INT64_MIN ? s->read_ns + s->stale_ns + 1 : INT64_MAX;
        if (s->read_by_device && r->reserves[i].known && t > now && t < next)
            next = t;
    }
    return next;
}
