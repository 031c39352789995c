/*
 * test_outage_property.c - random racks and outages, played in steps with
 * the energy model, the planner and the policy (a loop of its own, as the
 * simulator and the daemon run theirs: the plan's steps are carried out when
 * due, a stop at its planned instant, its power cut at the end of its
 * graceful time; a server the reserves cannot carry loses power and is held
 * until mains returns, as the simulator holds it), checking after every step:
 * - energy is conserved (what the cells lose is what discharge took) and no
 *   reserve delivers above its max_w;
 * - strict priority of stops: no server is stopped by the plan while a less
 *   important one that draws has not been told to stop;
 * - no avoidable shortfall: when a server i loses power (its shortfall in
 *   outage_flow > 0: an unplanned loss) while some server less important
 *   than i still draws past its due (the outage's ride-through plus its
 *   graceful time, stop_s and soft_off_s; or, if the plan told it to stop,
 *   its power cut coming after i's loss), then neither
 *   (energy) a reserve that could reach i (its own place or its switch:
 *   switch_buses, switch_servers) is empty and, with its energy back, would
 *   deliver more with such servers on than off -- its energy went to less
 *   important work, which stopping sooner would have left for i -- nor
 *   (watts) the model's own flow carries i once the servers past their due
 *   are off and each reserve they leave idle is put back where it reaches i
 *   -- i was short only for watts given to less important work, or for a
 *   reserve diverted away from it.
 *   A correct planner passes on every rack: slack lets less important work
 *   run longer, its cut at the latest at the more important set's end,
 *   never into it; and a shortfall with nothing less important past its due,
 *   or one the reserves could not carry with that work off (empty reserves
 *   that fed only i, too few watts for i alone, a ups's watts shared among
 *   buses by their PSUs as outage_flow shares them), is unavoidable. The
 *   loop sees a loss at its next 5 s step: the dues have one step of slop;
 * - on one bus with every reserve reaching it, the most important set runs
 *   at least (1 - slack) of the oracle (less 0.5 %: see below): all the
 *   energy left after the ride-through and the others' graceful stops,
 *   given to it alone;
 * - nothing stopped is forgotten when mains returns: every held server is
 *   released, and is drawing again or holds its place.
 * Seeds: OUTAGE_SEEDS (default 400 per family) from OUTAGE_SEED (default 1); a failing
 * seed prints and replays alone with OUTAGE_SEED=n OUTAGE_SEEDS=1 (OUTAGE_TRACE=1
 * prints each plan). Each family ends with a summary line (run_family).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outage.h"
#include "outage_rack.h"
#include "policy.h"
#include "splitmix.h"

#define NS 1000000000LL
#define STEP_S 5

static int below(uint64_t *g, int n)
{
    return (int)(splitmix64_unit(g) * n);
}

static double between(uint64_t *g, double lo, double hi)
{
    return lo + (hi - lo) * splitmix64_unit(g);
}

/* A random rack; `simple`: one bus, one feed, ups and bbu reserves only, the
 * reserves ample in watts (the oracle's family). */
static void random_rack(struct rack *r, uint64_t *g, bool simple)
{
    int nb = simple ? 1 : 1 + below(g, 3), nf = simple ? 1 : 1 + below(g, 2);
    orack_init(r, nf, nb);
    int ns = 2 + below(g, 7);
    double total = 0;
    for (int i = 0; i < ns; i++) {
        char id[16];
        snprintf(id, sizeof(id), "s%d", i);
        uint32_t mask = simple ? 1 : (uint32_t)(1 + below(g, (1 << nb) - 1));
        double w = 200 + 100 * below(g, 8);
        total += w;
        orack_server(r, id, w, 9, mask);
    }
    for (int b = 0; b < nb; b++)
        for (int f = 0; f < nf; f++)
            orack_psu(r, f, b, total * 2);
    for (int i = 0; i < ns; i++) {
        char id[16];
        snprintf(id, sizeof(id), "a%d", i);
        int mv[2] = {below(g, ns), below(g, ns)};
        double share = below(g, 3) == 0 ? 0.4 : 1;
        int a = orack_activity(r, id, 1 + below(g, 4), i, share, simple ? 0 : 2, mv);
        r->activities[a].stop_ns = (int64_t)(10 + below(g, 60)) * NS;
        if (share < 1 && !simple) { /* a less important one beside it */
            snprintf(id, sizeof(id), "b%d", i);
            orack_activity(r, id, 2 + below(g, 3), i, 0.6, 0, NULL);
        }
    }
    int nr = 0;
    for (int f = 0; f < nf; f++)
        if (simple || below(g, 2)) {
            char id[16];
            snprintf(id, sizeof(id), "ups%d", f);
            orack_reserve(r, id, RACK_RESERVE_UPS, f, between(g, 50, 800),
                          simple ? total * 2 : between(g, 500, total * 1.5));
            nr++;
        }
    for (int b = 0; b < nb; b++)
        if (below(g, 2) || (nr == 0 && b == 0)) {
            char id[16];
            snprintf(id, sizeof(id), "bbu%d", b);
            int k = orack_reserve(r, id, RACK_RESERVE_BBU, b, between(g, 20, 500),
                                  simple ? total * 2 : between(g, 300, total));
            if (!simple)
                r->reserves[k].switch_buses = (uint32_t)below(g, 1 << nb) & ~(1u << b);
            nr++;
        }
    if (!simple)
        for (int i = 0; i < ns; i++)
            if (below(g, 4) == 0) {
                char id[16];
                snprintf(id, sizeof(id), "bat%d", i);
                int k = orack_reserve(r, id, RACK_RESERVE_SERVER, i, between(g, 5, 80),
                                      between(g, 300, 1200));
                if (below(g, 2))
                    orack_switch_server(r, k, below(g, ns));
            }
    for (int k = 0; k < r->nreserves; k++) {
        struct rack_reserve *x = &r->reserves[k];
        x->efficiency = between(g, 0.85, 1);
        x->peukert = simple ? 1.1 : between(g, 1, 1.2);
        x->rated_w = simple ? x->max_w : between(g, 0.5, 1) * x->max_w;
    }
    r->outage.ride_through_ns = (int64_t)below(g, 4) * 20 * NS;
    r->outage.slack_pct = below(g, 3) * 5;
    r->outage.soft_off_ns = (int64_t)below(g, 3) * 5 * NS;
    r->outage.mains_stable_ns = 30 * NS;
    r->restore_after_ns = 10 * NS;
}

static void loads_of(const struct rack *r, double *load)
{
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        load[i] = rack_server_draws(s) ? (double)s->alloc_mw / 1000 : 0;
    }
}

/* A stopping server's time from its stop to its power cut: its graceful
 * time (the longest of its activities', as the planner counts it), then
 * soft-off. */
static int64_t cut_after_ns(const struct rack *r, int i)
{
    int64_t grace = -1;
    for (int a = 0; a < r->nactivities; a++)
        for (int q = 0; q < r->activities[a].nservers; q++)
            if (r->activities[a].servers[q] == i && r->activities[a].stop_ns > grace)
                grace = r->activities[a].stop_ns;
    if (grace < 0)
        grace = RACK_DEFAULT_STOP_NS;
    return grace + r->outage.soft_off_ns;
}

/* Whether reserve k, placed at its own place (to_bus = to_server = -1) or at
 * bus to_bus or server to_server, powers server i: a ups through the PSUs of
 * its feed (on every bus of these racks), a bbu on a bus i is wired to, a
 * server battery at i. */
static bool placed_reaches(const struct rack *r, int k, int to_bus, int to_server, int i)
{
    const struct rack_reserve *x = &r->reserves[k];
    if (to_bus >= 0)
        return r->servers[i].wired >> to_bus & 1;
    if (to_server >= 0)
        return to_server == i;
    switch (x->kind) {
    case RACK_RESERVE_UPS:
        for (int p = 0; p < r->npsus; p++)
            if (r->psus[p].feed == x->at && (r->servers[i].wired >> r->psus[p].bus & 1))
                return true;
        return false;
    case RACK_RESERVE_BBU:
        return r->servers[i].wired >> x->at & 1;
    case RACK_RESERVE_SERVER:
        return x->at == i;
    }
    return false;
}

/* Whether reserve k could power server i at some place its switch allows
 * (its own, a bus of switch_buses, a server of switch_servers). */
static bool could_reach(const struct rack *r, int k, int i)
{
    const struct rack_reserve *x = &r->reserves[k];
    if (placed_reaches(r, k, -1, -1, i))
        return true;
    for (int b = 0; b < r->nbuses; b++)
        if ((x->switch_buses >> b & 1) && placed_reaches(r, k, b, -1, i))
            return true;
    for (int q = 0; q < x->nswitch_servers; q++)
        if (placed_reaches(r, k, -1, x->switch_servers[q], i))
            return true;
    return false;
}

/*
 * Whether server i, short of sw_i watts now (at t), lost power avoidably (the
 * header): some server less important than i draws past its due, and either
 * a reserve that could reach i is empty and gave such servers some of its
 * watts (its energy went to less important work), or the model's own flow carries
 * i once the servers past their due are off and each reserve they leave idle
 * is put back where it reaches i (its watts went to less important work).
 * Says why in why.
 */
static bool avoidable(struct rack *r, const double *load, double sw_i, int i, int64_t t,
                      const int64_t *stop_at, char *why, size_t len)
{
    bool past[16] = {false};
    int first = -1;
    for (int j = 0; j < r->nservers; j++) {
        if (!(load[j] > 0) || r->servers[j].priority <= r->servers[i].priority)
            continue;
        int64_t cut = cut_after_ns(r, j), slop = STEP_S * NS;
        if (t < r->outage.ride_through_ns + cut + slop)
            continue; /* its ride-through and graceful stop: its due */
        if (stop_at[j] >= 0 && stop_at[j] + cut <= t + slop)
            continue; /* told in time: cut by i's loss, within the loop's step */
        past[j] = true;
        if (first < 0)
            first = j;
    }
    if (first < 0)
        return false;
    char head[256];
    snprintf(head, sizeof(head),
             "t=%llds %s (priority %d) lost power (short %.1f W) while %s (priority %d, %s, "
             "graceful stop %llds) still draws",
             (long long)(t / NS), r->servers[i].id, r->servers[i].priority, sw_i,
             r->servers[first].id, r->servers[first].priority,
             stop_at[first] < 0 ? "never told to stop" : "told to stop late",
             (long long)(cut_after_ns(r, first) / NS));
    double cl[16], rw[64], rw_off[64], sw[16];
    for (int j = 0; j < r->nservers; j++)
        cl[j] = past[j] ? 0 : load[j];
    /* energy: an empty reserve that could reach i and gave the servers past
     * their due some of its watts: with its energy back (as just before it
     * emptied) it delivers more with them on than off */
    for (int k = 0; k < r->nreserves; k++) {
        struct rack_reserve *x = &r->reserves[k];
        if (!(x->energy_wh > 0) || x->wh_left > 1e-9 || !could_reach(r, k, i))
            continue;
        double left = x->wh_left;
        x->wh_left = x->energy_wh;
        outage_flow(r, load, rw, sw);
        outage_flow(r, cl, rw_off, sw);
        x->wh_left = left;
        if (rw[k] > rw_off[k] + 1e-6) {
            snprintf(why, len, "%s; %s, emptied, gave less important work %.1f W of its %.1f W",
                     head, x->id, rw[k] - rw_off[k], rw[k]);
            return true;
        }
    }
    /* watts: the flow with the servers past their due off, and the reserves
     * they leave idle put back where they reach i */
    outage_flow(r, cl, rw, sw);
    if (!(sw[i] > 1e-6)) {
        snprintf(why, len, "%s; with the less important work off it is carried", head);
        return true;
    }
    int save_b[64], save_s[64], moved = 0;
    for (int k = 0; k < r->nreserves; k++) {
        struct rack_reserve *x = &r->reserves[k];
        save_b[k] = x->to_bus;
        save_s[k] = x->to_server;
        if (rw[k] > 1e-9 || !(x->wh_left > 1e-9) ||
            placed_reaches(r, k, x->to_bus, x->to_server, i) || !could_reach(r, k, i))
            continue;
        x->to_bus = x->to_server = -1;
        for (int b = 0; b < r->nbuses && !placed_reaches(r, k, x->to_bus, x->to_server, i); b++)
            if (x->switch_buses >> b & 1)
                x->to_bus = b;
        for (int q = 0; q < x->nswitch_servers && !placed_reaches(r, k, x->to_bus, x->to_server, i);
             q++) {
            x->to_bus = -1;
            x->to_server = x->switch_servers[q];
        }
        moved++;
    }
    if (moved)
        outage_flow(r, cl, rw, sw);
    for (int k = 0; k < r->nreserves; k++) {
        r->reserves[k].to_bus = save_b[k];
        r->reserves[k].to_server = save_s[k];
    }
    if (moved && !(sw[i] > 1e-6)) {
        snprintf(why, len,
                 "%s; with the less important work off and its idle reserves put back "
                 "it is carried",
                 head);
        return true;
    }
    return false;
}

struct run {
    uint64_t seed;
    bool failed;
    char why[512];
    bool shortfall; /* an avoidable shortfall (its own count: see shortfall_fails) */
    char short_why[512];
    double top_ratio; /* one-bus: the most important set's runtime over (1 - slack) of
                       * the oracle; NAN when not measured */
};

static void failf(struct run *run, const char *fmt, ...)
{
    if (run->failed)
        return;
    run->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->why, sizeof(run->why), fmt, ap);
    va_end(ap);
}

/* The oracle of the simple family: the energy the reserves deliver (their
 * cells times efficiency: no Peukert at or below rated) after the others' ride-through
 * and graceful stops, given to the most important set alone. */
static double oracle_s(const struct rack *r, const double *load, double grace_extra_s)
{
    double e = 0; /* Wh delivered */
    for (int k = 0; k < r->nreserves; k++)
        e += r->reserves[k].wh_left * r->reserves[k].efficiency;
    int top = 1 << 30;
    for (int i = 0; i < r->nservers; i++)
        if (load[i] > 0 && r->servers[i].priority < top)
            top = r->servers[i].priority;
    double p_top = 0, t_lo = 0, t_hi = 1e7;
    for (int i = 0; i < r->nservers; i++)
        if (load[i] > 0 && r->servers[i].priority == top)
            p_top += load[i];
    /* find T with p_top*T + sum others' p*min(T, ride + grace) = e */
    for (int it = 0; it < 100; it++) {
        double t = 0.5 * (t_lo + t_hi), used = p_top * t;
        for (int i = 0; i < r->nservers; i++) {
            if (!(load[i] > 0) || r->servers[i].priority == top)
                continue;
            int64_t g = 0;
            for (int a = 0; a < r->nactivities; a++)
                if (r->activities[a].servers[0] == i && r->activities[a].stop_ns > g)
                    g = r->activities[a].stop_ns;
            double until = (double)(r->outage.ride_through_ns + g + r->outage.soft_off_ns) / 1e9 +
                           grace_extra_s;
            used += load[i] * (t < until ? t : until);
        }
        if (used / 3600 > e)
            t_hi = t;
        else
            t_lo = t;
    }
    return t_lo;
}

static void one_run(struct run *run, bool simple)
{
    uint64_t g = run->seed * 0x9e3779b97f4a7c15ull + (simple ? 7 : 3);
    struct rack r;
    random_rack(&r, &g, simple);
    struct policy *pol = policy_new(&r);
    struct policy_actions acts = {0};
    char err[256];
    policy_settle(pol, &r, 0, &acts);
    double load[16], rw[64], sw[16];
    loads_of(&r, load);
    int nstart = 0;
    bool drew[16];
    for (int i = 0; i < r.nservers; i++) {
        drew[i] = load[i] > 0;
        nstart += drew[i];
    }
    /* mains fails everywhere at 0 */
    for (int f = 0; f < r.nfeeds; f++) {
        bool ups = false;
        for (int k = 0; k < r.nreserves; k++)
            ups |= r.reserves[k].kind == RACK_RESERVE_UPS && r.reserves[k].at == f;
        if (ups) {
            r.feed_on_reserve[f] = true;
        } else {
            struct policy_input in = {.kind = POLICY_FEED_FAIL, .index = f};
            policy_handle(pol, &r, &in, 0, &acts, err, sizeof(err));
        }
    }
    struct outage o = {.active = true, .cause = OUTAGE_CAUSE_FEED, .mains_back_ns = INT64_MIN};
    struct outage_plan p = {0};
    int64_t stop_at[16];
    bool feas_stop[16];
    for (int i = 0; i < 16; i++) {
        stop_at[i] = -1;
        feas_stop[i] = false;
    }
    loads_of(&r, load);
    double oracle = simple ? oracle_s(&r, load, 0) : 0;
    double top_end = -1;
    int top = 1 << 30;
    for (int i = 0; i < r.nservers; i++)
        if (load[i] > 0 && r.servers[i].priority < top)
            top = r.servers[i].priority;
    int64_t t = 0;
    for (; t < 6 * 3600 * NS && !run->failed; t += STEP_S * NS) {
        if (outage_plan_make(&r, &o, t, &p, err, sizeof(err)) < 0) {
            failf(run, "plan: %s", err);
            break;
        }
        if (getenv("OUTAGE_TRACE")) {
            fprintf(stderr, "t=%llds %s\n", (long long)(t / NS), p.summary);
            for (size_t k = 0; k < p.nsteps; k++)
                fprintf(stderr, "  %s\n", p.steps[k].reason);
        }
        /* stops due before the next step are carried out at their time, as
         * the simulator lands on them (below) */
        int64_t due[16];
        int due_step[16];
        for (int i = 0; i < 16; i++)
            due[i] = -1;
        for (size_t k = 0; k < p.nsteps; k++) {
            const struct outage_step *s = &p.steps[k];
            if (!s->now && s->kind == OUTAGE_STEP_STOP && s->at_s * 1e9 < STEP_S * NS &&
                stop_at[s->server] < 0 && due[s->server] < 0) {
                due[s->server] = s->at_s > 0 ? (int64_t)(s->at_s * 1e9) : 0;
                due_step[s->server] = (int)k;
            }
            if (!s->now)
                continue;
            if (s->kind != OUTAGE_STEP_STOP) {
                if (outage_apply(&r, s, err, sizeof(err)) < 0)
                    failf(run, "t=%llds apply %s: %s", (long long)(t / NS),
                          outage_step_name(s->kind), err);
                policy_resort(pol);
                continue;
            }
            if (stop_at[s->server] >= 0)
                continue;
            stop_at[s->server] = t;
            feas_stop[s->server] = strstr(s->reason, "feasibility") != NULL;
            outage_apply(&r, s, err, sizeof(err));
        }
        /* strict priority of stops, among those the plan chose */
        for (int i = 0; i < r.nservers; i++) {
            if (stop_at[i] < 0 || feas_stop[i])
                continue;
            for (int j = 0; j < r.nservers; j++)
                if (rack_server_draws(&r.servers[j]) && stop_at[j] < 0 &&
                    r.servers[j].priority > r.servers[i].priority && !r.servers[j].held)
                    failf(run, "t=%llds %s (priority %d) stopped while %s (priority %d) runs",
                          (long long)(t / NS), r.servers[i].id, r.servers[i].priority,
                          r.servers[j].id, r.servers[j].priority);
        }
        loads_of(&r, load);
        outage_flow(&r, load, rw, sw);
        for (int k = 0; k < r.nreserves; k++)
            if (rw[k] > r.reserves[k].max_w + 1e-6)
                failf(run, "t=%llds %s delivers %.1f W above its max_w %.1f", (long long)(t / NS),
                      r.reserves[k].id, rw[k], r.reserves[k].max_w);
        /* no avoidable shortfall (the header) */
        for (int i = 0; i < r.nservers && !run->shortfall; i++)
            if (load[i] > 0 && sw[i] > 1e-6 &&
                avoidable(&r, load, sw[i], i, t, stop_at, run->short_why, sizeof(run->short_why)))
                run->shortfall = true;
        /* servers the reserves cannot carry lose their power */
        for (int i = 0; i < r.nservers; i++)
            if (load[i] > 0 && sw[i] > 1e-6) {
                if (r.servers[i].priority == top && top_end < 0)
                    top_end = (double)t / NS;
                struct policy_input in = {.kind = POLICY_LOST_POWER, .index = i};
                policy_handle(pol, &r, &in, t, &acts, err, sizeof(err));
                /* held until mains is back, as the simulator holds it: the
                 * policy counts a feed on reserve as up and would restore it
                 * onto power that is not there */
                in.kind = POLICY_OUTAGE_STOP;
                policy_handle(pol, &r, &in, t, &acts, err, sizeof(err));
                if (getenv("OUTAGE_TRACE"))
                    fprintf(stderr, "t=%llds %s lost power: short %.1f W\n", (long long)(t / NS),
                            r.servers[i].id, sw[i]);
            }
        loads_of(&r, load);
        double before = 0, after = 0;
        for (int k = 0; k < r.nreserves; k++)
            before += r.reserves[k].wh_left;
        /* the step, cut where a stopping server's graceful time ends: the
         * policy cuts and holds it there, to the nanosecond */
        double taken = 0;
        for (int64_t done = 0; done < STEP_S * NS;) {
            int64_t next = STEP_S * NS;
            for (int i = 0; i < r.nservers; i++) {
                if (due[i] >= done && due[i] < next)
                    next = due[i];
                if (stop_at[i] < 0 || !rack_server_draws(&r.servers[i]))
                    continue;
                int64_t cut = stop_at[i] + cut_after_ns(&r, i) - t;
                if (cut < done)
                    cut = done;
                if (cut < next)
                    next = cut;
            }
            taken += outage_discharge(&r, load, next - done);
            done = next;
            for (int i = 0; i < r.nservers; i++)
                if (due[i] >= 0 && due[i] <= done) {
                    if (stop_at[i] < 0 && rack_server_draws(&r.servers[i])) {
                        stop_at[i] = t + due[i];
                        outage_apply(&r, &p.steps[due_step[i]], err, sizeof(err));
                    }
                    due[i] = -1;
                }
            for (int i = 0; i < r.nservers; i++)
                if (stop_at[i] >= 0 && rack_server_draws(&r.servers[i]) &&
                    stop_at[i] + cut_after_ns(&r, i) <= t + done) {
                    struct policy_input in = {.kind = POLICY_OUTAGE_STOP, .index = i};
                    policy_handle(pol, &r, &in, t + done, &acts, err, sizeof(err));
                }
            loads_of(&r, load);
        }
        for (int k = 0; k < r.nreserves; k++) {
            after += r.reserves[k].wh_left;
            if (r.reserves[k].wh_left < 0 || r.reserves[k].wh_left > r.reserves[k].energy_wh)
                failf(run, "%s holds %.3f Wh", r.reserves[k].id, r.reserves[k].wh_left);
        }
        if (fabs(before - after - taken) > 1e-6)
            failf(run, "energy: %.6f Wh left the cells, discharge took %.6f", before - after,
                  taken);
        /* A ups empty: its feed's PSUs give nothing (outage_flow). The feed
         * is not failed in the policy here: the policy would shed a bus a bbu
         * still carries (it does not count reserves), which is the caller's
         * part (docs/outage.md, "What is not done yet"). */
        bool any = false;
        for (int i = 0; i < r.nservers; i++) {
            any |= rack_server_draws(&r.servers[i]);
            /* the most important set ends when one of its servers does, for
             * whatever reason (a stop, a shortfall, its feed failing) */
            if (drew[i] && r.servers[i].priority == top && !rack_server_draws(&r.servers[i]) &&
                top_end < 0) {
                top_end = (double)t / NS + STEP_S;
                if (getenv("OUTAGE_TRACE"))
                    fprintf(stderr, "t=%llds top server %s %s\n", (long long)(t / NS),
                            r.servers[i].id, rack_server_state_name(r.servers[i].state));
            }
        }
        if (!any)
            break;
        policy_actions_clear(&acts);
    }
    if (simple && !run->failed && top_end >= 0) {
        double bound = (1 - r.outage.slack_pct / 100.0) * oracle;
        run->top_ratio = bound > 0 ? top_end / bound : NAN;
        /* within 0.5 %: stops and cuts fall at their instants and top_end is
         * never before the set's real end (a loss is seen at the next step),
         * which leaves the planner's bisection (half a second) and its
         * re-plans; over seeds 1-5000 the worst run is 100.0 % of the bound
         * (it was 1 % and two steps while the loop issued stops at its steps,
         * which cost up to 17 %: docs/outage.md, "Tests") */
        double want = bound * 0.995;
        if (top_end < want)
            failf(run, "the most important set ran %.0f s, oracle %.0f s, slack %d %%", top_end,
                  oracle, r.outage.slack_pct);
    }
    /* mains returns; the reserves recharge; releases once it is stable */
    for (int f = 0; f < r.nfeeds; f++) {
        r.feed_on_reserve[f] = false;
        struct policy_input in = {.kind = POLICY_FEED_REPAIR, .index = f};
        policy_handle(pol, &r, &in, t, &acts, err, sizeof(err));
    }
    o.mains_back_ns = t;
    for (int k = 0; k < r.nreserves; k++)
        r.reserves[k].wh_left = r.reserves[k].energy_wh;
    int64_t rel = t + r.outage.mains_stable_ns;
    if (!outage_may_release(&r, &o, rel) || outage_may_release(&r, &o, rel - 1))
        failf(run, "release not exactly at mains_stable_s");
    for (int prio = 1; prio <= 5; prio++)
        for (int i = 0; i < r.nservers; i++)
            if (r.servers[i].held && r.servers[i].priority == prio) {
                struct policy_input in = {.kind = POLICY_OUTAGE_RELEASE, .index = i};
                policy_handle(pol, &r, &in, rel, &acts, err, sizeof(err));
            }
    for (int i = 0; i < r.nservers; i++)
        if (r.servers[i].held) {
            struct policy_input in = {.kind = POLICY_OUTAGE_RELEASE, .index = i};
            policy_handle(pol, &r, &in, rel, &acts, err, sizeof(err));
        }
    struct policy_input tick = {.kind = POLICY_TICK};
    policy_handle(pol, &r, &tick, rel + 3600 * NS, &acts, err, sizeof(err));
    for (int i = 0; i < r.nservers; i++) {
        if (r.servers[i].held)
            failf(run, "%s still held after mains returned", r.servers[i].id);
        if (drew[i] && !rack_server_draws(&r.servers[i]) && r.servers[i].state != RACK_SRV_SHED)
            failf(run, "%s forgotten: %s after mains returned", r.servers[i].id,
                  rack_server_state_name(r.servers[i].state));
        if (drew[i] && r.servers[i].state == RACK_SRV_SHED)
            failf(run, "%s still shed an hour after mains returned on a full rack",
                  r.servers[i].id);
    }
    (void)nstart;
    outage_plan_free(&p);
    policy_actions_free(&acts);
    policy_free(pol);
    rack_free(&r);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : dflt;
}

/*
 * Runs a family's seeds and prints one summary line (make soak-outage reads
 * it): seeds run, seeds failed, avoidable shortfalls, and on one bus the
 * worst ratio of the most important set's runtime to (1 - slack) of the
 * oracle. Stops after OUTAGE_MAX_FAILURES failing seeds (default 5).
 * An avoidable shortfall fails the run (OUTAGE_SHORTFALL=0 only counts it,
 * to look at a planner that is known to break it).
 */
static void run_family(bool simple)
{
    uint64_t first = env_u64("OUTAGE_SEED", 1), n = env_u64("OUTAGE_SEEDS", 400);
    uint64_t max_fail = env_u64("OUTAGE_MAX_FAILURES", 5);
    bool shortfall_fails = env_u64("OUTAGE_SHORTFALL", 1) != 0;
    uint64_t failures = 0, shortfalls = 0, ran = 0, worst_seed = 0;
    double worst = INFINITY;
    const char *fam = simple ? "one-bus" : "random";
    for (uint64_t s = first; s < first + n; s++) {
        struct run run = {.seed = s, .top_ratio = NAN};
        one_run(&run, simple);
        ran++;
        if (run.top_ratio < worst) {
            worst = run.top_ratio;
            worst_seed = s;
        }
        if (run.shortfall) {
            shortfalls++;
            fprintf(stderr,
                    "%s seed %llu: avoidable shortfall: %s (replay: OUTAGE_SEED=%llu "
                    "OUTAGE_SEEDS=1)\n",
                    fam, (unsigned long long)s, run.short_why, (unsigned long long)s);
        }
        if (run.failed || (run.shortfall && shortfall_fails)) {
            if (run.failed)
                fprintf(stderr, "%s seed %llu: %s (replay: OUTAGE_SEED=%llu OUTAGE_SEEDS=1)\n", fam,
                        (unsigned long long)s, run.why, (unsigned long long)s);
            if (++failures >= max_fail)
                break;
        }
    }
    printf("outage-property %s: seeds %llu-%llu, %llu run, %llu failed, %llu avoidable "
           "shortfalls (%s)",
           fam, (unsigned long long)first, (unsigned long long)(first + n - 1),
           (unsigned long long)ran, (unsigned long long)failures, (unsigned long long)shortfalls,
           shortfall_fails ? "failing" : "counted, not failing");
    if (simple && isfinite(worst))
        printf(", the most important set's worst run %.2f %% of (1 - slack) x oracle (seed %llu)",
               100 * worst, (unsigned long long)worst_seed);
    printf("\n");
    fflush(stdout);
    assert_int_equal(failures, 0);
}

static void test_random_racks_keep_energy_max_w_priority_and_come_back(void **state)
{
    (void)state;
    run_family(false);
}

static void test_one_bus_racks_give_the_top_set_its_oracle_within_slack(void **state)
{
    (void)state;
    run_family(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_racks_keep_energy_max_w_priority_and_come_back),
        cmocka_unit_test(test_one_bus_racks_give_the_top_set_its_oracle_within_slack),
    };
    /* OUTAGE_FAMILY=random or one-bus runs that family alone (make soak-outage
     * runs chunks of each side by side) */
    const char *fam = getenv("OUTAGE_FAMILY");
    if (fam && !strcmp(fam, "random"))
        cmocka_set_test_filter("test_random_*");
    else if (fam && !strcmp(fam, "one-bus"))
        cmocka_set_test_filter("test_one_bus_*");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
