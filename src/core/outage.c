/*
 * outage.c - the reserve plan of an outage (docs/outage.md "The plan"): the
 * planner plays its what-ifs on the energy model of outage_energy.c, the very
 * functions the simulator discharges with, so that what it predicts is what
 * the simulator does; and the caller's record (releases, names).
 */
#include "outage.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HORIZON_S (30.0 * 24 * 3600) /* predictions stop here: a month is "as long as mains" */

bool outage_may_release(const struct rack *r, const struct outage *o, int64_t now_ns)
{
    if (o->mains_back_ns == INT64_MIN || now_ns - o->mains_back_ns < r->outage.mains_stable_ns)
        return false;
    for (int f = 0; f < r->nfeeds; f++)
        if (r->feed_failed[f] || r->feed_on_reserve[f])
            return false;
    for (int k = 0; k < r->nreserves; k++) {
        const struct rack_reserve *res = &r->reserves[k];
        if (!res->known || res->wh_left * 100.0 < res->energy_wh * r->outage.min_charge_pct)
            return false;
    }
    return true;
}

const char *outage_cause_name(enum outage_cause c)
{
    switch (c) {
    case OUTAGE_CAUSE_FEED:
        return "feed";
    case OUTAGE_CAUSE_UPS:
        return "ups";
    case OUTAGE_CAUSE_BBU:
        return "bbu";
    case OUTAGE_CAUSE_OPERATOR:
        return "operator";
    }
    return "?";
}

const char *outage_step_name(enum outage_step_kind k)
{
    switch (k) {
    case OUTAGE_STEP_DIVERT:
        return "divert";
    case OUTAGE_STEP_MOVE:
        return "move";
    case OUTAGE_STEP_STOP:
        return "stop";
    }
    return "?";
}

/* ---- The plan. ---- */

/* The planner's priority of a server whose activities all moved away: it
 * runs nothing, so it is the first to stop. */
#define PRIO_IDLE (INT_MAX / 2)

/* The planner's what-if: the rack with the plan's diverts, moves and stops,
 * played forward with the energy model. */
struct plan_ctx {
    const struct rack *r;
    struct outage *o;
    struct outage_view v;
    int ns, nr;
    double slack;            /* slack_pct as a fraction */
    double ride_s;           /* ride-through left from now */
    int *to_bus, *to_server; /* per reserve: where the plan directs it */
    double *load;            /* per server: what it draws now, after the plan's moves */
    int *prio;               /* per server: its priority after the moves */
    double *grace_s;         /* per server: from its stop to its power cut */
    double *stop_s;          /* per server: when the plan stops it, INFINITY never */
    bool *feas;              /* per server: stopped now for feasibility */
    /* results of the last play */
    double *end_s; /* per server: when it loses power (INFINITY: not in the horizon) */
    double *wh_at; /* per server: energy left in all reserves at its stop */
    double wh_end; /* energy left at the end of the play */
    /* scratch */
    double *wh, *ld, *rw, *sw;
    double *target; /* per server: the runtime less important work must leave it */
    int *order;     /* per server: scratch for the stops' order */
    bool *had_act;  /* per server: hosted an activity before the plan's moves */
    bool *stopping; /* per server: told to stop (its activities stopped), still drawing */
    int nmoves;     /* the plan's moves: activity, from, to */
    int *mv_act, *mv_from, *mv_to;
    /* Diverts that wait for a stop (a stop and the divert it enables are
     * weighed together): per reserve, pend[k] says it goes to pend_bus /
     * pend_server once the servers in its row of wait (nr x ns) have lost
     * power, and no server still drawing would lose it then: a reserve is
     * never pulled from under running work (outage_divert_darkens). */
    bool *pend, *wait;
    int *pend_bus, *pend_server;
    double *div_gain; /* per reserve: what its divert bought the top set */
    /* results of the last play, per reserve: when its pending divert was
     * carried out (INFINITY: never, NAN: none pending) and the energy then */
    double *fire_s, *fire_wh;
    int *play_bus, *play_server; /* the play's copy of to_bus/to_server */
    int nlev;
    int lev[OUTAGE_MAX_LEVELS + 1]; /* the priority levels drawing, most important first */
};

static double load_of(const struct rack_server *s)
{
    if (!rack_server_draws(s) || s->held)
        return 0;
    return (double)(s->draw_mw >= 0 ? s->draw_mw : s->alloc_mw) / 1000.0;
}

bool outage_divert_worth(const struct rack *r, const struct outage_step *st,
                         const struct outage_plan *plan)
{
    if (st->kind != OUTAGE_STEP_DIVERT || st->reserve < 0 || st->reserve >= r->nreserves)
        return false;
    const struct rack_reserve *res = &r->reserves[st->reserve];
    if (res->to_bus < 0 && res->to_server < 0)
        return true; /* from its own place: the plan's first word on it */
    double top = plan && isfinite(plan->top_runtime_s) ? plan->top_runtime_s : 0;
    double bar = fmax(OUTAGE_REDIVERT_MIN_S, OUTAGE_REDIVERT_PCT / 100.0 * top);
    return st->gain_s >= bar;
}

int outage_divert_darkens(const struct rack *r, const struct outage_step *st, char *who, size_t len)
{
    if (who && len)
        who[0] = '\0';
    if (st->kind != OUTAGE_STEP_DIVERT || st->reserve < 0 || st->reserve >= r->nreserves)
        return 0;
    int ns = r->nservers, nr = r->nreserves;
    double *load = calloc((size_t)ns * 3 + (size_t)nr * 3 + 1, sizeof(double));
    if (!load)
        return -1;
    double *before = load + ns, *after = before + ns, *res_w = after + ns;
    int *to_bus = (int *)(res_w + nr); /* nr ints fit in nr doubles, twice */
    int *to_server = to_bus + nr;
    for (int i = 0; i < ns; i++)
        load[i] = load_of(&r->servers[i]);
    struct outage_view v;
    outage_view_init(&v, r);
    outage_view_flow(&v, load, res_w, before);
    for (int k = 0; k < nr; k++) {
        to_bus[k] = r->reserves[k].to_bus;
        to_server[k] = r->reserves[k].to_server;
    }
    to_bus[st->reserve] = st->to_bus;
    to_server[st->reserve] = st->to_server;
    v.to_bus = to_bus;
    v.to_server = to_server;
    outage_view_flow(&v, load, res_w, after);
    int n = 0;
    size_t used = 0;
    for (int i = 0; i < ns; i++) {
        if (!(load[i] > 0) || after[i] <= before[i] + 0.005 * load[i] + 0.5)
            continue;
        if (who && used + 1 < len)
            used +=
                (size_t)snprintf(who + used, len - used, "%s%s", n ? ", " : "", r->servers[i].id);
        if (used >= len)
            used = len - 1;
        n++;
    }
    free(load);
    return n;
}

int64_t outage_graceful_ns(const struct rack *r, int server)
{
    int64_t g = -1;
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *ac = &r->activities[a];
        for (int k = 0; k < ac->nservers; k++)
            if (ac->servers[k] == server && ac->stop_ns > g)
                g = ac->stop_ns;
    }
    return g < 0 ? RACK_DEFAULT_STOP_NS : g;
}

/* From a server's stop to its power cut: its graceful time, then soft_off. */
static double grace_of(const struct rack *r, int i)
{
    return (double)(outage_graceful_ns(r, i) + r->outage.soft_off_ns) / 1e9;
}

/*
 * Carries out, at time t of a play, the pending diverts whose servers have
 * all lost power, when no server still drawing would lose it by them (the
 * callers' outage_divert_darkens: a divert that would waits on). Returns
 * whether one was carried out. pc->sw holds the flow's shortfalls before.
 */
static bool fire_pending(struct plan_ctx *pc, double t, double total_wh)
{
    bool fired = false;
    for (int k = 0; k < pc->nr; k++) {
        if (!pc->pend[k] || isfinite(pc->fire_s[k]))
            continue;
        bool ready = true;
        for (int i = 0; i < pc->ns && ready; i++)
            ready = !(pc->wait[(size_t)k * (size_t)pc->ns + (size_t)i] && pc->ld[i] > 0);
        if (!ready)
            continue;
        int tb = pc->play_bus[k], ts = pc->play_server[k];
        pc->play_bus[k] = pc->pend_bus[k];
        pc->play_server[k] = pc->pend_server[k];
        outage_view_flow(&pc->v, pc->ld, pc->rw, pc->sw);
        bool dark = false;
        for (int i = 0; i < pc->ns && !dark; i++)
            dark = pc->ld[i] > 0 && pc->sw[i] > 0;
        if (dark) {
            pc->play_bus[k] = tb;
            pc->play_server[k] = ts;
            continue;
        }
        pc->fire_s[k] = t;
        pc->fire_wh[k] = total_wh;
        fired = true;
    }
    return fired;
}

/*
 * Plays the plan forward from now: stops at stop_s cut the power grace_s
 * later; a server the flow leaves short loses its power there (its load is
 * gone from then on); a pending divert is carried out once the servers it
 * waits for are off. Fills end_s, wh_at, fire_s and fire_wh.
 */
static void play(struct plan_ctx *pc)
{
    const struct rack *r = pc->r;
    double t = 0;
    for (int k = 0; k < pc->nr; k++) {
        pc->wh[k] = r->reserves[k].wh_left;
        pc->play_bus[k] = pc->to_bus[k];
        pc->play_server[k] = pc->to_server[k];
        pc->fire_s[k] = pc->pend[k] ? INFINITY : NAN;
    }
    for (int i = 0; i < pc->ns; i++) {
        pc->ld[i] = pc->feas[i] ? 0 : pc->load[i];
        pc->end_s[i] = pc->ld[i] > 0 ? INFINITY : 0;
        pc->wh_at[i] = NAN;
        if (pc->stopping[i])
            pc->stop_s[i] = 0;
    }
    pc->v.wh = pc->wh;
    pc->v.to_bus = pc->play_bus;
    pc->v.to_server = pc->play_server;
    for (int round = 0; round < 4 * (pc->ns + pc->nr) + 8; round++) {
        double total = 0;
        for (int k = 0; k < pc->nr; k++)
            total += pc->wh[k];
        for (int i = 0; i < pc->ns; i++) {
            if (pc->stop_s[i] <= t && isnan(pc->wh_at[i]))
                pc->wh_at[i] = total;
            if (pc->ld[i] > 0 && pc->stop_s[i] + pc->grace_s[i] <= t) {
                pc->ld[i] = 0;
                pc->end_s[i] = pc->stop_s[i] + pc->grace_s[i];
            }
        }
        /* servers the reserves cannot carry go dark, which may carry the
         * rest; the diverts waiting for them then go where they were due */
        for (int pass = 0; pass <= pc->nr; pass++) {
            for (int guard = 0; guard <= pc->ns; guard++) {
                outage_view_flow(&pc->v, pc->ld, pc->rw, pc->sw);
                bool lost = false;
                for (int i = 0; i < pc->ns; i++)
                    if (pc->ld[i] > 0 && pc->sw[i] > 0) {
                        pc->ld[i] = 0;
                        pc->end_s[i] = t;
                        lost = true;
                    }
                if (!lost)
                    break;
            }
            if (!fire_pending(pc, t, total))
                break;
        }
        double dt = INFINITY;
        for (int k = 0; k < pc->nr; k++) {
            double cw = outage_cell_w(&r->reserves[k], pc->rw[k]);
            if (cw > 0 && pc->wh[k] * 3600.0 / cw < dt)
                dt = pc->wh[k] * 3600.0 / cw;
        }
        for (int i = 0; i < pc->ns; i++) {
            if (pc->ld[i] > 0 && isfinite(pc->stop_s[i]) && pc->stop_s[i] + pc->grace_s[i] - t < dt)
                dt = pc->stop_s[i] + pc->grace_s[i] - t;
            if (isnan(pc->wh_at[i]) && isfinite(pc->stop_s[i]) && pc->stop_s[i] - t < dt)
                dt = pc->stop_s[i] - t;
        }
        if (!isfinite(dt) || t + dt > HORIZON_S)
            break;
        if (dt < 0)
            dt = 0;
        outage_view_advance(&pc->v, pc->wh, pc->ld, dt, pc->rw);
        t += dt;
    }
    pc->wh_end = 0;
    for (int k = 0; k < pc->nr; k++)
        pc->wh_end += pc->wh[k];
    pc->v.to_bus = pc->to_bus;
    pc->v.to_server = pc->to_server;
}

/* The shortest runtime among the servers of priority p that the plan keeps
 * (not stopped), INFINITY when none is on reserves; -1 when it has none. */
static double level_runtime(const struct plan_ctx *pc, int p)
{
    double m = -1;
    for (int i = 0; i < pc->ns; i++)
        if (pc->load[i] > 0 && !pc->feas[i] && pc->prio[i] == p && !isfinite(pc->stop_s[i]))
            if (m < 0 || pc->end_s[i] < m)
                m = pc->end_s[i];
    return m;
}

static void collect_levels(struct plan_ctx *pc)
{
    pc->nlev = 0;
    for (;;) {
        int best = -1;
        for (int i = 0; i < pc->ns; i++) {
            if (!(pc->load[i] > 0) || pc->feas[i] || pc->stopping[i])
                continue;
            int p = pc->prio[i];
            if ((pc->nlev == 0 || p > pc->lev[pc->nlev - 1]) && (best < 0 || p < best))
                best = p;
        }
        if (best < 0 || pc->nlev == OUTAGE_MAX_LEVELS)
            return;
        pc->lev[pc->nlev++] = best;
    }
}

/* For judging the tools: every priority a server could have under moves
 * (the activities', the drawing servers', idle), so that a move that changes
 * a server's priority is judged on the same levels. */
static void collect_all_levels(struct plan_ctx *pc)
{
    const struct rack *r = pc->r;
    pc->nlev = 0;
    for (;;) {
        int best = INT_MAX;
        int last = pc->nlev ? pc->lev[pc->nlev - 1] : INT_MIN;
        for (int i = 0; i < pc->ns; i++)
            if (pc->load[i] > 0 && !pc->feas[i] && !pc->stopping[i] && pc->prio[i] > last &&
                pc->prio[i] < best)
                best = pc->prio[i];
        for (int a = 0; a < r->nactivities; a++)
            if (r->activities[a].state != RACK_ACT_STOPPED && r->activities[a].priority > last &&
                r->activities[a].priority < best)
                best = r->activities[a].priority;
        if (PRIO_IDLE > last && PRIO_IDLE < best)
            best = PRIO_IDLE;
        if (best == INT_MAX || pc->nlev == OUTAGE_MAX_LEVELS)
            return;
        pc->lev[pc->nlev++] = best;
    }
}

static int find_floor(const struct outage *o, int p)
{
    for (int j = 0; j < o->nfloors; j++)
        if (o->floor_priority[j] == p)
            return j;
    return -1;
}

/* Whether server i belongs to level k: priorities past the last level kept
 * go with it (they are the least important). */
static bool in_level(const struct plan_ctx *pc, int i, int k)
{
    if (!(pc->load[i] > 0) || pc->feas[i] || pc->stopping[i])
        return false;
    if (pc->prio[i] < pc->lev[k])
        return false;
    return k + 1 >= pc->nlev || pc->prio[i] < pc->lev[k + 1];
}

/*
 * Feasibility before everything: while the reserves cannot carry the servers
 * kept up (a reserve past its max_w, a bus with nothing behind it), stop the
 * least important server whose stop relieves the shortfall (one that is short
 * itself, or whose load others are short for), as the policy sheds: lowest
 * priority first, the largest draw first inside one. Returns whether the rest
 * fits.
 */
static bool plan_feasibility(struct plan_ctx *pc)
{
    for (int guard = 0; guard <= pc->ns; guard++) {
        for (int i = 0; i < pc->ns; i++)
            pc->ld[i] = pc->feas[i] ? 0 : pc->load[i];
        pc->v.wh = NULL;
        double total = outage_view_flow(&pc->v, pc->ld, pc->rw, pc->sw);
        if (total <= 0)
            return true;
        int pick = -1;
        for (int i = 0; i < pc->ns; i++) {
            if (!(pc->ld[i] > 0))
                continue;
            if (pick >= 0 && (pc->prio[i] < pc->prio[pick] ||
                              (pc->prio[i] == pc->prio[pick] && pc->ld[i] <= pc->ld[pick])))
                continue;
            bool helps = pc->sw[i] > 0;
            if (!helps) {
                double own = pc->ld[i];
                pc->ld[i] = 0;
                double without = outage_view_flow(&pc->v, pc->ld, pc->rw, pc->sw);
                pc->ld[i] = own;
                helps = without < total - OUTAGE_EPS_W;
                outage_view_flow(&pc->v, pc->ld, pc->rw, pc->sw);
            }
            if (helps)
                pick = i;
        }
        if (pick < 0)
            return false;
        pc->feas[pick] = true;
    }
    return false;
}

/* Whether every server of the levels before k keeps its target. */
static bool keeps_targets(struct plan_ctx *pc, int k)
{
    const double *target = pc->target;
    play(pc);
    for (int j = 0; j < k; j++)
        for (int i = 0; i < pc->ns; i++)
            if (in_level(pc, i, j) && pc->end_s[i] < target[i] - 1e-3 - 1e-9 * target[i])
                return false;
    return true;
}

static void set_level_stop(struct plan_ctx *pc, int k, double t)
{
    for (int i = 0; i < pc->ns; i++)
        if (in_level(pc, i, k))
            pc->stop_s[i] = t;
}

/* The shortest runtime of the levels before k under the plan as it stands. */
static double end_before(struct plan_ctx *pc, int k)
{
    play(pc);
    double m = INFINITY;
    for (int j = 0; j < k; j++)
        for (int i = 0; i < pc->ns; i++)
            if (in_level(pc, i, j) && pc->end_s[i] < m)
                m = pc->end_s[i];
    return m;
}

/*
 * Slack lets level k run longer, never until the more important lose power:
 * when stopping it at the end of the ride-through would lengthen them (it
 * draws on power they could use), its power is cut (stop and graceful time)
 * no later than their end. Without this a level that keeps them inside their
 * slack by never stopping would never stop, and both would run the reserves
 * dry together: a hard power loss for both instead of a graceful stop.
 */
static void cut_before_the_more_important(struct plan_ctx *pc, int k)
{
    double cur = -1, g = 0;
    for (int i = 0; i < pc->ns; i++)
        if (in_level(pc, i, k)) {
            cur = pc->stop_s[i];
            g = fmax(g, pc->grace_s[i]);
        }
    if (cur <= pc->ride_s)
        return;
    double end_now = end_before(pc, k);
    if (!isfinite(end_now) || end_now >= cur + g)
        return;
    set_level_stop(pc, k, pc->ride_s);
    double end_early = end_before(pc, k);
    double lim = fmax(end_now - g, pc->ride_s);
    set_level_stop(pc, k, end_early > end_now + 1e-3 ? fmin(cur, lim) : cur);
}

/*
 * The stop schedule (claim 13), level by level, most important first: every
 * level after the first stops at the end of the ride-through, unless it may
 * run longer without taking from a more important server more than slack of
 * its best runtime (or less, where the outage's commitments say so). The
 * latest such stop is found by bisection; a level that takes nothing from the
 * more important ones (on power they cannot use) never stops.
 */
static void plan_stops(struct plan_ctx *pc, int64_t now_ns, bool record)
{
    for (int i = 0; i < pc->ns; i++)
        pc->stop_s[i] = INFINITY;
    for (int k = 1; k < pc->nlev; k++)
        set_level_stop(pc, k, pc->ride_s);
    double prev = INFINITY; /* the stop of the level before: strict priority of stops */
    for (int k = 0; k < pc->nlev; k++) {
        if (k > 0) {
            /* as long as the level before, no longer (never, when that one
             * never stops and this one takes nothing the others could use:
             * cut_before_the_more_important) */
            set_level_stop(pc, k, prev);
            if (!keeps_targets(pc, k)) {
                double hi = pc->ride_s;
                for (int i = 0; i < pc->ns; i++)
                    if (in_level(pc, i, k) && isfinite(pc->end_s[i]) && pc->end_s[i] > hi)
                        hi = pc->end_s[i];
                if (hi > prev)
                    hi = prev;
                double lo = pc->ride_s;
                for (int it = 0; it < 24 && hi - lo > 0.5; it++) {
                    double mid = 0.5 * (lo + hi);
                    set_level_stop(pc, k, mid);
                    if (keeps_targets(pc, k))
                        lo = mid;
                    else
                        hi = mid;
                }
                set_level_stop(pc, k, lo);
            }
            cut_before_the_more_important(pc, k);
            for (int i = 0; i < pc->ns; i++)
                if (in_level(pc, i, k))
                    prev = pc->stop_s[i];
        }
        play(pc);
        double best_max = -1;
        for (int i = 0; i < pc->ns; i++)
            if (in_level(pc, i, k) && pc->end_s[i] > best_max)
                best_max = pc->end_s[i];
        int f = find_floor(pc->o, pc->lev[k]);
        double floor_s = f >= 0 && pc->o->floor_ns[f] != INT64_MAX
                             ? (double)(pc->o->floor_ns[f] - now_ns) / 1e9
                             : -INFINITY;
        for (int i = 0; i < pc->ns; i++) {
            if (!in_level(pc, i, k))
                continue;
            double best = pc->end_s[i], t = (1 - pc->slack) * best;
            if (floor_s > t)
                t = floor_s;
            pc->target[i] = t < best ? t : best;
        }
        /* a commitment only rises: it follows the best this level was ever
         * seen to have, so that a lighter rack later does not let the slack
         * be given away again from the new best (a stop that recedes at
         * every re-plan) */
        if (record && isfinite(best_max) && best_max > 0) {
            int64_t fl = now_ns + (int64_t)((1 - pc->slack) * best_max * 1e9);
            if (f < 0 && pc->o->nfloors < OUTAGE_MAX_LEVELS) {
                int n = pc->o->nfloors++;
                pc->o->floor_priority[n] = pc->lev[k];
                pc->o->floor_ns[n] = fl;
            } else if (f >= 0 && pc->o->floor_ns[f] != INT64_MAX && fl > pc->o->floor_ns[f]) {
                pc->o->floor_ns[f] = fl;
            }
        }
    }
}

static int add_step(struct outage_plan *p, const struct outage_step *s)
{
    if (p->nsteps == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        struct outage_step *v = realloc(p->steps, cap * sizeof(*v));
        if (!v)
            return -1;
        p->steps = v;
        p->cap = cap;
    }
    p->steps[p->nsteps++] = *s;
    return 0;
}

static void fmt_s(char *buf, size_t len, double s)
{
    if (!isfinite(s))
        snprintf(buf, len, "as long as mains");
    else
        snprintf(buf, len, "%.0f s", s);
}

/* "priority 1 runs 1234 s, priority 3 runs 60 s" for the levels of the play */
static void fmt_levels(const struct plan_ctx *pc, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int k = 0; k < pc->nlev && n < len; k++) {
        double m = INFINITY;
        for (int i = 0; i < pc->ns; i++)
            if (in_level(pc, i, k) && pc->end_s[i] < m)
                m = pc->end_s[i];
        char t[48];
        fmt_s(t, sizeof(t), m);
        int w = pc->lev[k] == PRIO_IDLE
                    ? snprintf(buf + n, len - n, "%sidle servers %s", k ? ", " : "", t)
                    : snprintf(buf + n, len - n, "%spriority %d %s", k ? ", " : "", pc->lev[k], t);
        if (w < 0)
            return;
        n += (size_t)w;
    }
}

void outage_plan_clear(struct outage_plan *p)
{
    p->nsteps = 0;
    p->wh_left = 0;
    p->load_w = 0;
    p->top_runtime_s = 0;
    p->feasible = true;
    p->summary[0] = 0;
}

void outage_plan_free(struct outage_plan *p)
{
    free(p->steps);
    free(p->runtime_s);
    memset(p, 0, sizeof(*p));
}

static void ctx_free(struct plan_ctx *pc)
{
    free(pc->to_bus);
    free(pc->load);
    free(pc->wh);
    free(pc->mv_act);
    free(pc->had_act);
    free(pc->stopping);
    free(pc->pend);
}

static int ctx_init(struct plan_ctx *pc, const struct rack *r, struct outage *o, int64_t now_ns)
{
    memset(pc, 0, sizeof(*pc));
    pc->r = r;
    pc->o = o;
    pc->ns = r->nservers;
    pc->nr = r->nreserves;
    size_t ns = (size_t)pc->ns + 1, nr = (size_t)pc->nr + 1;
    /* per reserve: to_bus, to_server, pend_bus, pend_server, play_bus,
     * play_server; wh, rw, div_gain, fire_s, fire_wh */
    pc->to_bus = malloc(6 * nr * sizeof(int));
    pc->load = malloc(ns * (8 * sizeof(double) + 2 * sizeof(int) + sizeof(bool)));
    pc->wh = calloc(5 * nr, sizeof(double));
    pc->mv_act = malloc(3 * ((size_t)r->nactivities + 1) * sizeof(int));
    pc->had_act = calloc(ns, sizeof(bool));
    pc->stopping = calloc(ns, sizeof(bool));
    pc->pend = calloc(nr + nr * ns + 2 * ns, sizeof(bool)); /* and two scratch rows */
    if (!pc->to_bus || !pc->load || !pc->wh || !pc->mv_act || !pc->had_act || !pc->stopping ||
        !pc->pend) {
        ctx_free(pc);
        return -1;
    }
    pc->wait = pc->pend + nr;
    int **ints[] = {&pc->to_server, &pc->pend_bus, &pc->pend_server, &pc->play_bus,
                    &pc->play_server};
    for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++)
        *ints[k] = pc->to_bus + (k + 1) * nr;
    double **dbls[] = {&pc->rw, &pc->div_gain, &pc->fire_s, &pc->fire_wh};
    for (size_t k = 0; k < sizeof(dbls) / sizeof(dbls[0]); k++)
        *dbls[k] = pc->wh + (k + 1) * nr;
    pc->mv_from = pc->mv_act + r->nactivities + 1;
    pc->mv_to = pc->mv_from + r->nactivities + 1;
    for (int a = 0; a < r->nactivities; a++)
        for (int k = 0; k < r->activities[a].nservers; k++)
            if (r->activities[a].servers[k] >= 0 && r->activities[a].servers[k] < pc->ns)
                pc->had_act[r->activities[a].servers[k]] = true;
    pc->grace_s = pc->load + ns;
    pc->stop_s = pc->grace_s + ns;
    pc->end_s = pc->stop_s + ns;
    pc->wh_at = pc->end_s + ns;
    pc->ld = pc->wh_at + ns;
    pc->sw = pc->ld + ns;
    pc->target = pc->sw + ns;
    pc->prio = (int *)(pc->load + 8 * ns);
    pc->order = pc->prio + ns;
    pc->feas = (bool *)(pc->order + ns);

    outage_view_init(&pc->v, r);
    /* "If mains failed now", and the operator's outage (he says it is coming):
     * every feed lost, those with a ups carried by it. */
    if (!o->active || o->cause == OUTAGE_CAUSE_OPERATOR) {
        for (int f = 0; f < r->nfeeds && f < RACK_MAX_FEEDS; f++) {
            bool ups = false;
            for (int k = 0; k < r->nreserves; k++)
                ups |= r->reserves[k].kind == RACK_RESERVE_UPS && r->reserves[k].at == f &&
                       r->reserves[k].to_bus < 0 && r->reserves[k].to_server < 0;
            pc->v.feed[f] = ups ? OUTAGE_FEED_RESERVE : OUTAGE_FEED_DEAD;
        }
    }
    for (int k = 0; k < pc->nr; k++) {
        pc->to_bus[k] = r->reserves[k].to_bus;
        pc->to_server[k] = r->reserves[k].to_server;
    }
    pc->v.to_bus = pc->to_bus;
    pc->v.to_server = pc->to_server;
    for (int i = 0; i < pc->ns; i++) {
        pc->load[i] = load_of(&r->servers[i]);
        pc->prio[i] = r->servers[i].priority;
        /* a server whose activities were all stopped is on its way down: it
         * draws until its graceful time is over (counted in full: the plan
         * does not know when it was told), and is never planned again */
        bool running = false;
        for (int a = 0; a < r->nactivities; a++)
            for (int k = 0; k < r->activities[a].nservers; k++)
                if (r->activities[a].servers[k] == i && r->activities[a].state != RACK_ACT_STOPPED)
                    running = true;
        pc->stopping[i] = pc->had_act[i] && !running && pc->load[i] > 0;
        pc->grace_s[i] = grace_of(r, i);
        pc->feas[i] = false;
        pc->stop_s[i] = INFINITY;
    }
    pc->slack =
        r->outage.slack_pct > 0 && r->outage.slack_pct < 100 ? r->outage.slack_pct / 100.0 : 0;
    double ride = (double)r->outage.ride_through_ns / 1e9;
    if (o->active)
        ride = (double)(o->since_ns + r->outage.ride_through_ns - now_ns) / 1e9;
    pc->ride_s = ride > 0 ? ride : 0;
    return 0;
}

static double top_runtime(struct plan_ctx *pc)
{
    if (pc->nlev == 0)
        return 0;
    double m = level_runtime(pc, pc->lev[0]);
    return m < 0 ? 0 : m;
}

/* Stops in the order they are due: earliest first, then least important,
 * then largest draw. */
static bool due_before(const struct plan_ctx *pc, int a, int b)
{
    double ta = pc->feas[a] ? -1 : pc->stop_s[a], tb = pc->feas[b] ? -1 : pc->stop_s[b];
    if (ta != tb)
        return ta < tb;
    if (pc->prio[a] != pc->prio[b])
        return pc->prio[a] > pc->prio[b];
    if (pc->load[a] != pc->load[b])
        return pc->load[a] > pc->load[b];
    return a < b;
}

static int top_activity(const struct plan_ctx *pc, int i);
static void target_name(const struct rack *r, int res, int tb, int ts, char *buf, size_t len);

static int plan_emit_stops(struct plan_ctx *pc, struct outage_plan *out)
{
    const struct rack *r = pc->r;
    int n = 0;
    for (int i = 0; i < pc->ns; i++) {
        if (!(pc->load[i] > 0) || pc->stopping[i] || (!pc->feas[i] && !isfinite(pc->stop_s[i])))
            continue;
        int j = n++;
        for (; j > 0 && due_before(pc, i, pc->order[j - 1]); j--)
            pc->order[j] = pc->order[j - 1];
        pc->order[j] = i;
    }
    play(pc);
    double top = top_runtime(pc);
    char levels[160];
    fmt_levels(pc, levels, sizeof(levels));
    for (int k = 0; k < n; k++) {
        int i = pc->order[k];
        bool feas = pc->feas[i];
        double at = feas ? 0 : pc->stop_s[i];
        struct outage_step s = {.kind = OUTAGE_STEP_STOP,
                                .reserve = -1,
                                .to_bus = -1,
                                .to_server = -1,
                                .server = i,
                                .activity = top_activity(pc, i),
                                .watts = pc->load[i],
                                .stage = pc->o->stages + k + 1,
                                .now = at <= 0,
                                .at_s = at > 0 ? at : 0};
        if (add_step(out, &s) < 0)
            return -1;
    }
    /* the energy at each stop and what each buys: the plan without it */
    play(pc);
    for (size_t k = out->nsteps - (size_t)n; k < out->nsteps; k++) {
        struct outage_step *s = &out->steps[k];
        s->at_wh = isnan(pc->wh_at[s->server]) ? pc->wh_end : pc->wh_at[s->server];
    }
    for (size_t k = out->nsteps - (size_t)n; k < out->nsteps; k++) {
        struct outage_step *s = &out->steps[k];
        int i = s->server;
        bool feas = pc->feas[i];
        double at = pc->stop_s[i];
        pc->feas[i] = false;
        pc->stop_s[i] = INFINITY;
        play(pc);
        double without = top_runtime(pc);
        pc->feas[i] = feas;
        pc->stop_s[i] = at;
        if (isfinite(top) && isfinite(without))
            s->gain_s = top - without;
        else
            s->gain_s = isfinite(without) ? INFINITY : 0;
        const char *act = s->activity >= 0 ? r->activities[s->activity].id : NULL;
        char when[64], gain[48], topt[48];
        if (s->now)
            snprintf(when, sizeof(when), "now");
        else
            snprintf(when, sizeof(when), "in %.0f s, at %.0f Wh left", s->at_s, s->at_wh);
        fmt_s(gain, sizeof(gain), s->gain_s);
        fmt_s(topt, sizeof(topt), top);
        /* the reserves its stop frees for the more important work */
        char frees[128] = "";
        size_t nf = 0;
        for (int q = 0; q < pc->nr && nf + 1 < sizeof(frees); q++) {
            if (!pc->pend[q] || !pc->wait[(size_t)q * (size_t)pc->ns + (size_t)i])
                continue;
            char to[64];
            target_name(r, q, pc->pend_bus[q], pc->pend_server[q], to, sizeof(to));
            int w = snprintf(frees + nf, sizeof(frees) - nf, "%s%s for %s",
                             nf ? ", " : " and frees ", r->reserves[q].id, to);
            nf = w > 0 && nf + (size_t)w < sizeof(frees) ? nf + (size_t)w : sizeof(frees) - 1;
        }
        if (feas)
            snprintf(s->reason, sizeof(s->reason),
                     "stage %d: %s (priority %d%s%s, %.0f W) stops now: the reserves cannot "
                     "carry it with the more important servers (feasibility first); %.0f Wh "
                     "left; %s",
                     s->stage, r->servers[i].id, pc->prio[i], act ? ", " : "", act ? act : "",
                     s->watts, out->wh_left, levels);
        else
            snprintf(s->reason, sizeof(s->reason),
                     "stage %d: %s (priority %d%s%s, %.0f W) stops %s%s: %.0f Wh left at %.0f W; "
                     "it gives priority %d %s more (%s); %s",
                     s->stage, r->servers[i].id, pc->prio[i], act ? ", " : "", act ? act : "",
                     s->watts, when, frees, out->wh_left, out->load_w, pc->nlev ? pc->lev[0] : 0,
                     gain, topt, levels);
    }
    return 0;
}

/* Where activity a's k-th server is under the plan's moves. */
static int act_server(const struct plan_ctx *pc, int a, int k)
{
    int srv = pc->r->activities[a].servers[k];
    for (int m = 0; m < pc->nmoves; m++)
        if (pc->mv_act[m] == a && pc->mv_from[m] == srv)
            srv = pc->mv_to[m];
    return srv;
}

/* The most important activity running on server i under the plan's moves,
 * -1 none. */
static int top_activity(const struct plan_ctx *pc, int i)
{
    const struct rack *r = pc->r;
    int best = -1;
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *ac = &r->activities[a];
        if (ac->state == RACK_ACT_STOPPED)
            continue;
        for (int k = 0; k < ac->nservers; k++)
            if (act_server(pc, a, k) == i &&
                (best < 0 || ac->priority < r->activities[best].priority))
                best = a;
    }
    return best;
}

/* A server's priority under the plan's moves: its most important activity's,
 * PRIO_IDLE once all of them moved away. */
static int ctx_prio(const struct plan_ctx *pc, int i)
{
    const struct rack *r = pc->r;
    int best = INT_MAX;
    for (int a = 0; a < r->nactivities; a++) {
        if (r->activities[a].state == RACK_ACT_STOPPED || r->activities[a].priority >= best)
            continue;
        for (int k = 0; k < r->activities[a].nservers; k++)
            if (act_server(pc, a, k) == i)
                best = r->activities[a].priority;
    }
    if (best != INT_MAX)
        return best;
    return pc->had_act[i] ? PRIO_IDLE : r->servers[i].priority;
}

/* The objective the tools are judged by: per level, most important first,
 * its shortest runtime, and its servers' runtimes from the shortest up. */
struct score {
    int nlev;
    double lvl[OUTAGE_MAX_LEVELS + 1];
    int cnt[OUTAGE_MAX_LEVELS + 1];
    double *srv; /* per level, its servers' runtimes ascending, one level after another */
};

static void score_copy(struct score *to, const struct score *from)
{
    int n = 0;
    to->nlev = from->nlev;
    for (int k = 0; k < from->nlev; k++) {
        to->lvl[k] = from->lvl[k];
        to->cnt[k] = from->cnt[k];
        n += from->cnt[k];
    }
    memcpy(to->srv, from->srv, (size_t)n * sizeof(double));
}

/*
 * Scores the plan with every level after the first stopping at the end of
 * the ride-through (the stop schedule then gives back what it can).
 */
static void objective(struct plan_ctx *pc, struct score *sc)
{
    int top = INT_MAX;
    for (int i = 0; i < pc->ns; i++)
        if (pc->load[i] > 0 && !pc->feas[i] && !pc->stopping[i] && pc->prio[i] < top)
            top = pc->prio[i];
    for (int i = 0; i < pc->ns; i++)
        pc->stop_s[i] = pc->prio[i] > top ? pc->ride_s : INFINITY;
    play(pc);
    int n = 0;
    sc->nlev = pc->nlev;
    for (int k = 0; k < pc->nlev; k++) {
        sc->lvl[k] = INFINITY;
        sc->cnt[k] = 0;
        for (int i = 0; i < pc->ns; i++) {
            if (!in_level(pc, i, k))
                continue;
            double e = pc->end_s[i];
            if (e < sc->lvl[k])
                sc->lvl[k] = e;
            int j = n + sc->cnt[k]++;
            for (; j > n && sc->srv[j - 1] > e; j--)
                sc->srv[j] = sc->srv[j - 1];
            sc->srv[j] = e;
        }
        n += sc->cnt[k];
    }
    for (int i = 0; i < pc->ns; i++)
        pc->stop_s[i] = INFINITY;
}

/* -1, 0 or 1 as a is shorter, within half a second of, or longer than b */
static int cmp_runtime(double a, double b)
{
    if (isinf(a) && isinf(b))
        return 0;
    return a > b + 0.5 ? 1 : a < b - 0.5 ? -1 : 0;
}

/*
 * Lexicographically better by more than half a second somewhere: the levels'
 * shortest runtimes first; on a tie, each level's runtimes from the shortest
 * up, so that a divert that lengthens one of the top set's servers counts
 * even while another is still the shortest (two diverts to two servers are
 * then found one after the other).
 */
static bool better(const struct score *a, const struct score *b)
{
    int n = a->nlev < b->nlev ? a->nlev : b->nlev;
    for (int k = 0; k < n; k++) {
        int c = cmp_runtime(a->lvl[k], b->lvl[k]);
        if (c)
            return c > 0;
    }
    int oa = 0, ob = 0;
    for (int k = 0; k < n; k++) {
        int m = a->cnt[k] < b->cnt[k] ? a->cnt[k] : b->cnt[k];
        for (int j = 0; j < m; j++) {
            int c = cmp_runtime(a->srv[oa + j], b->srv[ob + j]);
            if (c)
                return c > 0;
        }
        oa += a->cnt[k];
        ob += b->cnt[k];
    }
    return false;
}

static void target_name(const struct rack *r, int res, int tb, int ts, char *buf, size_t len)
{
    const struct rack_reserve *x = &r->reserves[res];
    if (tb >= 0)
        snprintf(buf, len, "bus %s", r->buses[tb]);
    else if (ts >= 0)
        snprintf(buf, len, "server %s", r->servers[ts].id);
    else if (x->kind == RACK_RESERVE_BBU && x->at >= 0 && x->at < r->nbuses)
        snprintf(buf, len, "bus %s", r->buses[x->at]);
    else if (x->kind == RACK_RESERVE_SERVER && x->at >= 0 && x->at < r->nservers)
        snprintf(buf, len, "server %s", r->servers[x->at].id);
    else if (x->at >= 0 && x->at < r->nfeeds)
        snprintf(buf, len, "feed %s", r->feeds[x->at]);
    else
        snprintf(buf, len, "its place");
}

/* Marks in row the servers drawing at t = 0 that reserve k at (tb, ts) would
 * leave short (before: their shortfalls with k where the plan has it now);
 * returns how many. */
static int darkened(struct plan_ctx *pc, int k, int tb, int ts, const double *before, bool *row)
{
    int save_tb = pc->to_bus[k], save_ts = pc->to_server[k], n = 0;
    pc->to_bus[k] = tb;
    pc->to_server[k] = ts;
    for (int i = 0; i < pc->ns; i++)
        pc->ld[i] = pc->feas[i] ? 0 : pc->load[i];
    pc->v.wh = NULL;
    outage_view_flow(&pc->v, pc->ld, pc->rw, pc->sw);
    for (int i = 0; i < pc->ns; i++) {
        row[i] = pc->ld[i] > 0 && pc->sw[i] > before[i] + OUTAGE_EPS_W;
        n += row[i];
    }
    pc->to_bus[k] = save_tb;
    pc->to_server[k] = save_ts;
    return n;
}

/* What a step bought the top set: after minus before, INFINITY when it made
 * a finite runtime as long as mains. */
static double gain_of(double after, double before)
{
    if (isfinite(after) && isfinite(before))
        return after - before;
    return isfinite(before) ? INFINITY : 0;
}

/*
 * Diverts (claims 1, 9, 12, 23): each reserve with a switch, read and not
 * empty, goes where the objective is best: towards the servers of the most
 * important sets, away from the less important (or stopped) ones. Ties keep
 * it where it is. A divert that would leave servers drawing now without
 * power is weighed together with their stops: it waits for them (a pending
 * divert, due when they are off), and the objective, in which every level
 * after the first stops at the end of the ride-through, credits the two
 * together; the stop schedule then keeps a stop no later than the divert
 * needs it.
 */
static void plan_diverts(struct plan_ctx *pc, struct score *vec, struct score *cand, double *before)
{
    const struct rack *r = pc->r;
    size_t ns = (size_t)pc->ns;
    bool *row = pc->wait + (size_t)pc->nr * ns, *best_row = row + ns;
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < pc->nr; k++) {
            const struct rack_reserve *x = &r->reserves[k];
            if (!x->known || !(x->wh_left > OUTAGE_EPS_WH) ||
                (!x->switch_buses && x->nswitch_servers == 0))
                continue;
            bool *wrow = pc->wait + (size_t)k * ns;
            bool pend0 = pc->pend[k];
            int tb0 = pc->to_bus[k], ts0 = pc->to_server[k];
            int ctb = pend0 ? pc->pend_bus[k] : tb0, cts = pend0 ? pc->pend_server[k] : ts0;
            int best_tb = ctb, best_ts = cts;
            bool best_pend = pend0, found = false;
            memcpy(row, wrow, ns * sizeof(bool));
            objective(pc, vec);
            double base_top = pc->nlev ? vec->lvl[0] : 0;
            for (int i = 0; i < pc->ns; i++)
                pc->ld[i] = pc->feas[i] ? 0 : pc->load[i];
            pc->v.wh = NULL;
            outage_view_flow(&pc->v, pc->ld, pc->rw, before);
            int nopt = 1 + r->nbuses + x->nswitch_servers;
            for (int opt = 0; opt < nopt; opt++) {
                int tb = -1, ts = -1;
                if (opt > 0 && opt <= r->nbuses) {
                    if (!(x->switch_buses >> (opt - 1) & 1))
                        continue;
                    tb = opt - 1;
                } else if (opt > r->nbuses) {
                    ts = x->switch_servers[opt - 1 - r->nbuses];
                    if (ts < 0 || ts >= pc->ns)
                        continue;
                }
                if (tb == ctb && ts == cts)
                    continue;
                /* where it is now (a pending divert called off), now, or
                 * once the servers it would leave without power are off */
                bool pend = !(tb == tb0 && ts == ts0) && darkened(pc, k, tb, ts, before, wrow) > 0;
                pc->pend[k] = pend;
                if (pend) {
                    pc->pend_bus[k] = tb;
                    pc->pend_server[k] = ts;
                } else {
                    pc->to_bus[k] = tb;
                    pc->to_server[k] = ts;
                }
                objective(pc, cand);
                if (better(cand, vec)) {
                    score_copy(vec, cand);
                    best_tb = tb;
                    best_ts = ts;
                    best_pend = pend;
                    found = true;
                    if (pend)
                        memcpy(best_row, wrow, ns * sizeof(bool));
                }
                pc->pend[k] = pend0;
                pc->pend_bus[k] = ctb;
                pc->pend_server[k] = cts;
                pc->to_bus[k] = tb0;
                pc->to_server[k] = ts0;
                memcpy(wrow, row, ns * sizeof(bool));
            }
            if (!found)
                continue;
            pc->pend[k] = best_pend;
            if (best_pend) {
                pc->pend_bus[k] = best_tb;
                pc->pend_server[k] = best_ts;
                memcpy(wrow, best_row, ns * sizeof(bool));
            } else {
                pc->to_bus[k] = best_tb;
                pc->to_server[k] = best_ts;
            }
            pc->div_gain[k] += gain_of(vec->lvl[0], base_top);
        }
    }
}

/* The diverts the plan made, as steps: one due now where a reserve changes
 * place at once; one due when the servers it waits for are off (from the
 * last play) where it waits for a stop. A pending divert the play never
 * carried out is left out. */
static int plan_emit_diverts(struct plan_ctx *pc, struct outage_plan *out, double top)
{
    const struct rack *r = pc->r;
    char t1[48];
    fmt_s(t1, sizeof(t1), top);
    for (int k = 0; k < pc->nr; k++) {
        const struct rack_reserve *x = &r->reserves[k];
        bool moved = pc->to_bus[k] != x->to_bus || pc->to_server[k] != x->to_server;
        bool later = pc->pend[k] && isfinite(pc->fire_s[k]);
        if (!moved && !later)
            continue;
        int tb = later ? pc->pend_bus[k] : pc->to_bus[k];
        int ts = later ? pc->pend_server[k] : pc->to_server[k];
        int ftb = x->to_bus, fts = x->to_server; /* from where it is now */
        char who[160] = "";
        size_t used = 0;
        int nwho = 0;
        if (moved && later) { /* in two steps: the first due now */
            struct outage_step st = {.kind = OUTAGE_STEP_DIVERT,
                                     .reserve = k,
                                     .to_bus = pc->to_bus[k],
                                     .to_server = pc->to_server[k],
                                     .activity = -1,
                                     .server = -1,
                                     .now = true};
            char from[64], to[64];
            target_name(r, k, ftb, fts, from, sizeof(from));
            target_name(r, k, st.to_bus, st.to_server, to, sizeof(to));
            snprintf(st.reason, sizeof(st.reason),
                     "%s (%.0f Wh left) directed from %s to %s until it can go further", x->id,
                     x->wh_left, from, to);
            if (add_step(out, &st) < 0)
                return -1;
            ftb = pc->to_bus[k];
            fts = pc->to_server[k];
        }
        /* what it delivers there once the servers it waits for are off */
        for (int i = 0; i < pc->ns; i++) {
            bool w = later && pc->wait[(size_t)k * (size_t)pc->ns + (size_t)i];
            pc->ld[i] = pc->feas[i] || w ? 0 : pc->load[i];
            if (w && used + 1 < sizeof(who)) {
                int n = snprintf(who + used, sizeof(who) - used, "%s%s", nwho ? ", " : "",
                                 r->servers[i].id);
                used = n > 0 && used + (size_t)n < sizeof(who) ? used + (size_t)n : sizeof(who) - 1;
                nwho++;
            }
        }
        int save_tb = pc->to_bus[k], save_ts = pc->to_server[k];
        pc->to_bus[k] = tb;
        pc->to_server[k] = ts;
        pc->v.wh = NULL;
        outage_view_flow(&pc->v, pc->ld, pc->rw, pc->sw);
        pc->to_bus[k] = save_tb;
        pc->to_server[k] = save_ts;
        struct outage_step st = {.kind = OUTAGE_STEP_DIVERT,
                                 .reserve = k,
                                 .to_bus = tb,
                                 .to_server = ts,
                                 .activity = -1,
                                 .server = -1,
                                 .watts = pc->rw[k],
                                 .now = !later || pc->fire_s[k] <= 0,
                                 .at_s = later && pc->fire_s[k] > 0 ? pc->fire_s[k] : 0,
                                 .at_wh = later ? pc->fire_wh[k] : x->wh_left,
                                 .gain_s = pc->div_gain[k]};
        if (tb < 0 && ts < 0) { /* home: name its own bus or server */
            if (x->kind == RACK_RESERVE_BBU)
                st.to_bus = x->at;
            else if (x->kind == RACK_RESERVE_SERVER)
                st.to_server = x->at;
        }
        char from[64], to[64], gain[48], when[224];
        target_name(r, k, ftb, fts, from, sizeof(from));
        target_name(r, k, tb, ts, to, sizeof(to));
        fmt_s(gain, sizeof(gain), st.gain_s);
        if (later)
            snprintf(when, sizeof(when), "once %s %s stopped (in %.0f s, at %.0f Wh left)", who,
                     nwho == 1 ? "has" : "have", st.at_s, st.at_wh);
        else
            snprintf(when, sizeof(when), "now");
        snprintf(st.reason, sizeof(st.reason),
                 "%s (%.0f Wh left) directed from %s to %s %s, where the more important work "
                 "is: it delivers %.0f W there; it gives priority %d %s more (runs %s)",
                 x->id, x->wh_left, from, to, when, st.watts, pc->nlev ? pc->lev[0] : 0, gain, t1);
        if (add_step(out, &st) < 0)
            return -1;
    }
    return 0;
}

/*
 * Moves (claims 8, 11): an activity leaves a server it shares with less
 * important work for one of its movable_to servers that draws, hosts work at
 * least as important (it stays up as long) and has the headroom (power_w
 * minus what it draws), when that is better for the objective: the server
 * left behind, running only less important work or none, can then stop, so
 * the important work ends on the fewest servers that stay up.
 */
static int plan_moves(struct plan_ctx *pc, struct outage_plan *out, struct score *vec,
                      struct score *cand)
{
    const struct rack *r = pc->r;
    for (int p = 0; p < pc->nlev; p++) {
        for (int a = 0; a < r->nactivities; a++) {
            const struct rack_activity *ac = &r->activities[a];
            if (ac->priority != pc->lev[p] || ac->state == RACK_ACT_STOPPED || ac->nmovable == 0)
                continue;
            for (int k = 0; k < ac->nservers; k++) {
                int from = act_server(pc, a, k);
                if (from < 0 || from >= pc->ns || !(pc->load[from] > 0) || pc->feas[from])
                    continue;
                bool moved = false;
                for (int m = 0; m < pc->nmoves; m++)
                    moved |= pc->mv_act[m] == a;
                if (moved)
                    continue;
                double w = ac->share[k] * (double)r->servers[from].power_mw / 1000.0;
                if (w > pc->load[from])
                    w = pc->load[from];
                objective(pc, vec);
                double base_top = pc->nlev ? vec->lvl[0] : 0;
                int best = -1;
                for (int j = 0; j < ac->nmovable; j++) {
                    int to = ac->movable_to[j];
                    if (to < 0 || to >= pc->ns || to == from || !(pc->load[to] > 0) ||
                        pc->feas[to] || pc->prio[to] > ac->priority ||
                        (double)r->servers[to].power_mw / 1000.0 - pc->load[to] < w)
                        continue;
                    bool there = false;
                    for (int q = 0; q < ac->nservers; q++)
                        there |= act_server(pc, a, q) == to;
                    if (there)
                        continue;
                    int n = pc->nmoves++;
                    pc->mv_act[n] = a;
                    pc->mv_from[n] = ac->servers[k];
                    pc->mv_to[n] = to;
                    int pf = pc->prio[from], pt = pc->prio[to];
                    pc->load[from] -= w;
                    pc->load[to] += w;
                    pc->prio[from] = ctx_prio(pc, from);
                    pc->prio[to] = ctx_prio(pc, to);
                    if (pc->prio[from] > ac->priority) { /* the server left behind can stop */
                        objective(pc, cand);
                        if (better(cand, vec)) {
                            score_copy(vec, cand);
                            best = to;
                        }
                    }
                    pc->load[from] += w;
                    pc->load[to] -= w;
                    pc->prio[from] = pf;
                    pc->prio[to] = pt;
                    pc->nmoves--;
                }
                if (best < 0)
                    continue;
                int n = pc->nmoves++;
                pc->mv_act[n] = a;
                pc->mv_from[n] = ac->servers[k];
                pc->mv_to[n] = best;
                pc->load[from] -= w;
                pc->load[best] += w;
                pc->prio[from] = ctx_prio(pc, from);
                pc->prio[best] = ctx_prio(pc, best);
                struct outage_step st = {.kind = OUTAGE_STEP_MOVE,
                                         .reserve = -1,
                                         .to_bus = -1,
                                         .to_server = best,
                                         .activity = a,
                                         .server = from,
                                         .watts = w,
                                         .now = true};
                st.gain_s = gain_of(vec->lvl[0], base_top);
                char t1[48], t0[48], left[48];
                fmt_s(t1, sizeof(t1), vec->lvl[0]);
                fmt_s(t0, sizeof(t0), base_top);
                if (pc->prio[from] == PRIO_IDLE)
                    snprintf(left, sizeof(left), "nothing");
                else
                    snprintf(left, sizeof(left), "priority %d work", pc->prio[from]);
                snprintf(st.reason, sizeof(st.reason),
                         "%s (priority %d, %.0f W) moves from %s to %s (%.0f W of headroom), "
                         "which stays up: %s, left with %s, can stop; priority %d runs %s "
                         "instead of %s",
                         ac->id, ac->priority, w, r->servers[from].id, r->servers[best].id,
                         (double)r->servers[best].power_mw / 1000.0 - (pc->load[best] - w),
                         r->servers[from].id, left, pc->lev[0], t1, t0);
                if (add_step(out, &st) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* Steps in the order they are due: those due now first, diverts before
 * moves before stops among steps due at one time (so that a move lands
 * before the server it leaves stops); stops keep the order of their stages. */
static void sort_steps(struct outage_plan *p)
{
    for (size_t k = 1; k < p->nsteps; k++) {
        struct outage_step s = p->steps[k];
        double t = s.now ? 0 : s.at_s;
        size_t j = k;
        for (; j > 0; j--) {
            const struct outage_step *q = &p->steps[j - 1];
            double tq = q->now ? 0 : q->at_s;
            if (tq < t || (tq == t && q->kind <= s.kind))
                break;
            p->steps[j] = p->steps[j - 1];
        }
        p->steps[j] = s;
    }
}

static double server_runtime(const struct plan_ctx *pc, int i)
{
    return pc->load[i] > 0 && !pc->feas[i] ? pc->end_s[i] : 0;
}

int outage_plan_make(const struct rack *r, struct outage *o, int64_t now_ns,
                     struct outage_plan *out, char *err, size_t errlen)
{
    outage_plan_clear(out);
    if (out->nruntime < r->nactivities) {
        double *v = realloc(out->runtime_s, (size_t)r->nactivities * sizeof(*v));
        if (!v) {
            snprintf(err, errlen, "outage plan: out of memory");
            return -1;
        }
        out->runtime_s = v;
    }
    out->nruntime = r->nactivities;
    struct plan_ctx pc;
    if (ctx_init(&pc, r, o, now_ns) < 0) {
        snprintf(err, errlen, "outage plan: out of memory");
        return -1;
    }
    bool record = o->active;
    if (record && o->floors_since_ns != o->since_ns) {
        o->nfloors = 0;
        o->floors_since_ns = o->since_ns;
    }
    for (int k = 0; k < r->nreserves; k++)
        out->wh_left += r->reserves[k].wh_left;
    for (int i = 0; i < pc.ns; i++)
        out->load_w += pc.load[i];

    /* the tools first (judged with every level after the first stopping at
     * the ride-through's end), then feasibility, then the stop schedule */
    collect_all_levels(&pc);
    size_t ns1 = (size_t)pc.ns + 1;
    double *mem = malloc(3 * ns1 * sizeof(double));
    struct score vec = {.srv = mem}, cand = {.srv = mem ? mem + ns1 : NULL};
    if (!mem) {
        ctx_free(&pc);
        snprintf(err, errlen, "outage plan: out of memory");
        return -1;
    }
    double *before = mem + 2 * ns1;
    plan_diverts(&pc, &vec, &cand, before);
    int bad = plan_moves(&pc, out, &vec, &cand);
    free(mem);
    if (bad) {
        ctx_free(&pc);
        snprintf(err, errlen, "outage plan: out of memory");
        return -1;
    }
    out->feasible = plan_feasibility(&pc);
    collect_levels(&pc);
    plan_stops(&pc, now_ns, record);
    if (plan_emit_stops(&pc, out) < 0) {
        ctx_free(&pc);
        snprintf(err, errlen, "outage plan: out of memory");
        return -1;
    }
    play(&pc);
    out->top_runtime_s = top_runtime(&pc);
    if (plan_emit_diverts(&pc, out, out->top_runtime_s) < 0) {
        ctx_free(&pc);
        snprintf(err, errlen, "outage plan: out of memory");
        return -1;
    }
    sort_steps(out);
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *ac = &r->activities[a];
        double m = ac->nservers > 0 && ac->state != RACK_ACT_STOPPED ? INFINITY : 0;
        for (int k = 0; k < ac->nservers; k++) {
            int i = act_server(&pc, a, k);
            double e = i >= 0 && i < pc.ns ? server_runtime(&pc, i) : 0;
            if (e < m)
                m = e;
        }
        out->runtime_s[a] = m;
    }
    char levels[160], topt[48];
    int nstops = 0;
    for (size_t k = 0; k < out->nsteps; k++)
        nstops += out->steps[k].kind == OUTAGE_STEP_STOP;
    fmt_levels(&pc, levels, sizeof(levels));
    fmt_s(topt, sizeof(topt), out->top_runtime_s);
    snprintf(out->summary, sizeof(out->summary),
             "%s%.0f Wh left in %d reserve%s, %.0f W drawn; the most important set runs %s "
             "(%s); %d stop%s planned%s",
             o->active ? "" : "if mains failed now: ", out->wh_left, r->nreserves,
             r->nreserves == 1 ? "" : "s", out->load_w, topt, levels, nstops,
             nstops == 1 ? "" : "s",
             out->feasible ? ""
                           : "; NOT feasible: some servers "
                             "kept up cannot be carried");
    ctx_free(&pc);
    return 0;
}

static bool switch_has_server(const struct rack_reserve *res, int i)
{
    for (int k = 0; k < res->nswitch_servers; k++)
        if (res->switch_servers[k] == i)
            return true;
    return false;
}

__attribute__((format(printf, 3, 4))) static void fail(char *err, size_t errlen, const char *fmt,
                                                       ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int apply_divert(struct rack *r, const struct outage_step *s, char *err, size_t errlen)
{
    if (s->reserve < 0 || s->reserve >= r->nreserves)
        return fail(err, errlen, "divert: no reserve %d", s->reserve), -1;
    struct rack_reserve *res = &r->reserves[s->reserve];
    bool home_bus = res->kind == RACK_RESERVE_BBU && s->to_bus == res->at;
    bool home_srv = res->kind == RACK_RESERVE_SERVER && s->to_server == res->at;
    if (s->to_bus >= 0 && s->to_server >= 0)
        return fail(err, errlen, "divert %s: to a bus or to a server, not both", res->id), -1;
    if (s->to_bus >= 0) {
        if (s->to_bus >= r->nbuses || (!home_bus && !(res->switch_buses >> s->to_bus & 1)))
            return fail(err, errlen, "divert %s: its switch does not reach bus %d", res->id,
                        s->to_bus),
                   -1;
        res->to_bus = home_bus ? -1 : s->to_bus;
        res->to_server = -1;
    } else if (s->to_server >= 0) {
        if (s->to_server >= r->nservers || (!home_srv && !switch_has_server(res, s->to_server)))
            return fail(err, errlen, "divert %s: its switch does not reach server %d", res->id,
                        s->to_server),
                   -1;
        res->to_server = home_srv ? -1 : s->to_server;
        res->to_bus = -1;
    } else {
        res->to_bus = res->to_server = -1; /* back to its own place */
    }
    return 0;
}

static void refresh_priority(struct rack *r, int i)
{
    if (i >= 0 && i < r->nservers)
        r->servers[i].priority = rack_server_activity_priority(r, i, r->servers[i].own_priority);
}

static int apply_move(struct rack *r, const struct outage_step *s, char *err, size_t errlen)
{
    if (s->activity < 0 || s->activity >= r->nactivities)
        return fail(err, errlen, "move: no activity %d", s->activity), -1;
    struct rack_activity *a = &r->activities[s->activity];
    int from = s->server, to = s->to_server, at = -1;
    for (int k = 0; k < a->nservers; k++)
        if (a->servers[k] == from)
            at = k;
    if (at < 0)
        return fail(err, errlen, "move %s: it does not run on server %d", a->id, from), -1;
    if (to < 0 || to >= r->nservers)
        return fail(err, errlen, "move %s: no server %d", a->id, to), -1;
    bool allowed = false, home = false;
    for (int k = 0; k < a->nmovable; k++)
        allowed |= a->movable_to[k] == to;
    for (int k = 0; k < a->nhome; k++)
        home |= a->home[k] == to;
    if (!allowed && !home)
        return fail(err, errlen, "move %s: %s is not in its movable_to", a->id, r->servers[to].id),
               -1;
    for (int k = 0; k < a->nservers; k++)
        if (a->servers[k] == to)
            return fail(err, errlen, "move %s: it already runs on %s", a->id, r->servers[to].id),
                   -1;
    /* the same watts on the new server: its share of that one's power_w */
    double w = a->share[at] * (double)r->servers[from].power_mw;
    double share = r->servers[to].power_mw > 0 ? w / (double)r->servers[to].power_mw : 0;
    a->servers[at] = to;
    a->share[at] = share > 1 ? 1 : share;
    bool all_home = a->nservers == a->nhome;
    for (int k = 0; k < a->nservers && all_home; k++) {
        bool found = false;
        for (int h = 0; h < a->nhome; h++)
            found |= a->home[h] == a->servers[k];
        all_home = found;
    }
    a->state = all_home ? RACK_ACT_RUNNING : RACK_ACT_MOVED;
    refresh_priority(r, from);
    refresh_priority(r, to);
    return 0;
}

/* A stop: the activities that ran only there (or on servers already stopped)
 * are stopped. The server's priority stays: it comes back in its place. */
static int apply_stop(struct rack *r, const struct outage_step *s, char *err, size_t errlen)
{
    if (s->server < 0 || s->server >= r->nservers)
        return fail(err, errlen, "stop: no server %d", s->server), -1;
    int prio = r->servers[s->server].priority;
    for (int a = 0; a < r->nactivities; a++) {
        struct rack_activity *ac = &r->activities[a];
        bool here = false, elsewhere = false;
        for (int k = 0; k < ac->nservers; k++) {
            int i = ac->servers[k];
            if (i == s->server)
                here = true;
            else if (i >= 0 && i < r->nservers && rack_server_draws(&r->servers[i]) &&
                     !r->servers[i].held)
                elsewhere = true;
        }
        if (here && !elsewhere)
            ac->state = RACK_ACT_STOPPED;
    }
    r->servers[s->server].priority = prio;
    return 0;
}

int outage_apply(struct rack *r, const struct outage_step *s, char *err, size_t errlen)
{
    switch (s->kind) {
    case OUTAGE_STEP_DIVERT:
        return apply_divert(r, s, err, errlen);
    case OUTAGE_STEP_MOVE:
        return apply_move(r, s, err, errlen);
    case OUTAGE_STEP_STOP:
        return apply_stop(r, s, err, errlen);
    }
    fail(err, errlen, "outage step: unknown kind %d", (int)s->kind);
    return -1;
}
