/*
 * bench_outage - the runtime of the most important set on battery, for each
 * scenario given (make bench-outage: every examples/outage-*.yaml), three
 * ways (docs/benchmarks.md, "Outages"):
 *
 * - oracle: all usable reserve energy given to that set alone, with the same
 *   losses (outage_cell_w: efficiency and Peukert), carried by the servers
 *   that host it when the outage starts, at their whole power (a server
 *   draws its power while anything runs on it); no ride-through, no
 *   graceful stops, no limit on where a reserve can go;
 * - static groups, as NUT and PowerChute are set up in practice: hosts of
 *   any set but the most important shut down after 5 min on battery or at
 *   50 % charge, whichever first; the rest at 10 % charge (NUT's low
 *   battery); played by the simulator (ORUN_STATIC);
 * - rackpower: the planner, played by the simulator;
 * - and the bound: the oracle on the energy left once the others have run the
 *   ride-through and their graceful stops (what no plan can avoid: the
 *   oracle counts neither), so that a gap to the oracle is split into what
 *   the rack's own settings cost and what the plan leaves.
 *
 * Every scenario is played from its timeline up to its first outage event;
 * there, mains fails on every feed and never returns. Servers draw their
 * whole grant (full_draw), so the three see the same load. Then the
 * planner's time per re-plan (outage_plan_make on the rack as the outage
 * starts), p50 and p99 over many calls, in wall time.
 *
 * Figures only; never a test.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "outage.h"
#include "outage_run.h"
#include "rackfile.h"
#include "runner.h"

#define REPLANS 2000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The timeline up to the first outage event, then mains failing on every
 * feed. Steps are shared with the loaded one (not freed here). */
static int cut_timeline(const struct rackfile_timeline *tl, struct rackfile_timeline *out,
                        struct rackfile_event *fail, int64_t *t_fail)
{
    size_t k = 0;
    while (k < tl->nsteps && tl->steps[k].nevents == 0)
        k++;
    if (k == tl->nsteps)
        return -1;
    out->steps = calloc(k + 1, sizeof(*out->steps));
    if (!out->steps)
        return -1;
    memcpy(out->steps, tl->steps, k * sizeof(*out->steps));
    out->steps[k] = tl->steps[k]; /* its inputs happen; its events become the failure */
    *fail = (struct rackfile_event){.kind = RACKFILE_EV_MAINS_FAIL, .index = -1};
    out->steps[k].events = fail;
    out->steps[k].nevents = 1;
    out->nsteps = k + 1;
    *t_fail = tl->steps[k].at_ns;
    return 0;
}

/* The most important priority among the activities (or the servers drawing,
 * in a rack without activities). */
static int top_priority(const struct rack *r)
{
    int best = INT_MAX;
    for (int a = 0; a < r->nactivities; a++)
        if (r->activities[a].priority < best)
            best = r->activities[a].priority;
    if (r->nactivities == 0)
        for (int i = 0; i < r->nservers; i++)
            if (rack_server_draws(&r->servers[i]) && r->servers[i].priority < best)
                best = r->servers[i].priority;
    return best;
}

static bool hosts_top(const struct rack *r, int server, int top)
{
    if (r->nactivities == 0)
        return r->servers[server].priority == top;
    for (int a = 0; a < r->nactivities; a++) {
        const struct rack_activity *act = &r->activities[a];
        for (int k = 0; act->priority == top && k < act->nservers; k++)
            if (act->servers[k] == server)
                return true;
    }
    return false;
}

/* The most a reserve delivers for t_s seconds from wh (capped at max_w). */
static double sustained_w(const struct rack_reserve *res, double wh, double t_s)
{
    double lo = 0, hi = res->max_w;
    if (outage_cell_w(res, hi) * t_s / 3600 <= wh)
        return hi;
    for (int i = 0; i < 60; i++) {
        double mid = (lo + hi) / 2;
        if (outage_cell_w(res, mid) * t_s / 3600 <= wh)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The oracle: the longest time all reserves together carry load_w, each
 * with `keep` of its energy (1: all of it). */
static double oracle_s(const struct rack *r, double load_w, double keep)
{
    double lo = 0, hi = 1e7;
    for (int i = 0; i < 100; i++) {
        double mid = (lo + hi) / 2, w = 0;
        for (int k = 0; k < r->nreserves; k++)
            w += sustained_w(&r->reserves[k], keep * r->reserves[k].energy_wh, mid);
        if (w >= load_w)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/*
 * The bound: the most any plan can give the top set when the others run the
 * ride-through and then their graceful stops (and nothing else) at their
 * whole grant; the oracle on what is left. What the others draw is taken
 * from the reserves pro rata, at each one's efficiency (no Peukert: these
 * draws are below rated_w in every shipped example).
 */
static double bound_s(const struct rack *pre, double top_w, int top)
{
    double others_wh = 0, cells_wh = 0, eff = 0;
    for (int k = 0; k < pre->nreserves; k++) {
        const struct rack_reserve *x = &pre->reserves[k];
        cells_wh += x->energy_wh;
        eff += x->energy_wh * (x->efficiency > 0 ? x->efficiency : 1);
    }
    if (!(cells_wh > 0))
        return 0;
    eff /= cells_wh;
    double ride = (double)pre->outage.ride_through_ns / 1e9;
    for (int i = 0; i < pre->nservers; i++)
        if (rack_server_draws(&pre->servers[i]) && !hosts_top(pre, i, top))
            others_wh +=
                (double)pre->servers[i].alloc_mw / 1000 *
                (ride + (double)(outage_graceful_ns(pre, i) + pre->outage.soft_off_ns) / 1e9) /
                3600;
    double keep = 1 - others_wh / eff / cells_wh;
    return keep > 0 ? oracle_s(pre, top_w, keep) : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Plays the cut scenario with a strategy; the top set's runtime in seconds
 * (negative: it still ran when nothing was left to happen). */
static double play(const struct rack *src, const struct rackfile_timeline *tl,
                   enum orun_strategy strategy, FILE *devnull, long *replans)
{
    struct rack r;
    if (rack_copy(&r, src))
        return NAN;
    struct orun_stats st;
    struct runner_opts o = {.json = true,
                            .seed = 1,
                            .out = devnull,
                            .full_draw = true,
                            .strategy = strategy,
                            .stats = &st};
    char err[512] = "";
    double s = NAN;
    int rc = runner_run(&r, tl, &o, err, sizeof(err));
    if (rc == 0 && st.outage_ns != INT64_MIN) {
        if (st.top_end_ns != INT64_MIN)
            s = (double)(st.top_end_ns - st.outage_ns) / 1e9;
        else
            s = -(double)(st.end_ns - st.outage_ns) / 1e9;
        if (replans)
            *replans = st.replans;
    } else if (rc) {
        fprintf(stderr, "bench-outage: %s\n", err);
    }
    rack_free(&r);
    return s;
}

/* outage_plan_make on the rack as the outage starts, REPLANS times. */
static void replan_times(const struct rack *src, const struct rackfile_timeline *pre,
                         int64_t t_fail, FILE *devnull, double *p50_us, double *p99_us)
{
    *p50_us = *p99_us = NAN;
    struct rack r;
    if (rack_copy(&r, src))
        return;
    struct runner_opts o = {.json = true, .seed = 1, .out = devnull, .full_draw = true};
    char err[512];
    double *t = malloc(REPLANS * sizeof(double));
    if (t && runner_run(&r, pre, &o, err, sizeof(err)) == 0) {
        for (int f = 0; f < r.nfeeds; f++) { /* mains lost on every feed */
            bool ups = false;
            for (int i = 0; i < r.nreserves; i++)
                ups |= r.reserves[i].kind == RACK_RESERVE_UPS && r.reserves[i].at == f;
            r.feed_on_reserve[f] = ups;
            r.feed_failed[f] = !ups;
        }
        struct outage out = {.active = true,
                             .cause = OUTAGE_CAUSE_FEED,
                             .since_ns = t_fail,
                             .mains_back_ns = INT64_MIN};
        struct outage_plan plan = {0};
        for (int k = 0; k < REPLANS; k++) {
            double a = now_s();
            outage_plan_make(&r, &out, t_fail + 120000000000LL, &plan, err, sizeof(err));
            t[k] = (now_s() - a) * 1e6;
        }
        outage_plan_free(&plan);
        qsort(t, REPLANS, sizeof(double), cmp_double);
        *p50_us = t[REPLANS / 2];
        *p99_us = t[REPLANS * 99 / 100];
    }
    free(t);
    rack_free(&r);
}

static void runtime_text(char *buf, size_t len, double s)
{
    if (isnan(s))
        snprintf(buf, len, "-");
    else if (s < 0)
        snprintf(buf, len, ">%.0f", -s);
    else
        snprintf(buf, len, "%.0f", s);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-outage SCENARIO.yaml...\n");
        return 2;
    }
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull)
        return 1;
    printf("%-30s %6s %8s %7s %8s %8s %6s %6s %8s %9s %9s %7s\n", "scenario", "top_w", "oracle_s",
           "bound_s", "static_s", "rackpw_s", "%orac", "%bound", "x_static", "plan_p50", "plan_p99",
           "replans");
    int rc = 0;
    for (int k = 1; k < argc; k++) {
        struct rack r;
        struct rackfile_timeline tl = {0}, cut = {0};
        struct rackfile_event fail;
        int64_t t_fail;
        char err[512];
        if (rackfile_load(argv[k], &r, &tl, err, sizeof(err))) {
            fprintf(stderr, "bench-outage: %s\n", err);
            rc = 1;
            continue;
        }
        const char *name = strrchr(argv[k], '/') ? strrchr(argv[k], '/') + 1 : argv[k];
        if (cut_timeline(&tl, &cut, &fail, &t_fail)) {
            fprintf(stderr, "bench-outage: %s: no outage in its timeline\n", name);
            rackfile_timeline_free(&tl);
            rack_free(&r);
            rc = 1;
            continue;
        }
        /* the load of the top set: its hosts' grants once the steps before
         * the outage are played */
        struct rack pre;
        struct rackfile_timeline before = {.nsteps = cut.nsteps - 1, .steps = cut.steps};
        double top_w = 0, bnd = NAN;
        if (rack_copy(&pre, &r) == 0) {
            struct runner_opts o = {.json = true, .seed = 1, .out = devnull, .full_draw = true};
            if (runner_run(&pre, &before, &o, err, sizeof(err)) == 0) {
                int top = top_priority(&pre);
                for (int i = 0; i < pre.nservers; i++)
                    if (rack_server_draws(&pre.servers[i]) && hosts_top(&pre, i, top))
                        top_w += (double)pre.servers[i].alloc_mw / 1000;
                bnd = bound_s(&pre, top_w, top);
            }
            rack_free(&pre);
        }
        double orc = oracle_s(&r, top_w, 1);
        long replans = 0;
        double st = play(&r, &cut, ORUN_STATIC, devnull, NULL);
        double rp = play(&r, &cut, ORUN_PLANNER, devnull, &replans);
        double p50, p99;
        replan_times(&r, &before, t_fail, devnull, &p50, &p99);
        char a[32], b[32], c[32], d[32];
        runtime_text(a, sizeof(a), orc);
        runtime_text(b, sizeof(b), st);
        runtime_text(c, sizeof(c), rp);
        runtime_text(d, sizeof(d), bnd);
        printf("%-30s %6.0f %8s %7s %8s %8s %5.1f%% %5.1f%% %8.2f %7.1fus %7.1fus %7ld\n", name,
               top_w, a, d, b, c, 100 * fabs(rp) / orc, 100 * fabs(rp) / bnd, fabs(rp) / fabs(st),
               p50, p99, replans);
        free(cut.steps);
        rackfile_timeline_free(&tl);
        rack_free(&r);
    }
    fclose(devnull);
    return rc;
}
