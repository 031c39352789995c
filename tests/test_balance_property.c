/*
 * test_balance_property.c - balancing's invariants on random racks, checked
 * by an oracle of their own (route.h directly, with the demand summed here
 * from the servers' grants), not by balance's own check:
 * - B1 a plan never makes a rack that was feasible infeasible, nor one that
 *   was protected unprotected;
 * - B2 every bus's awake PSUs carry its load, each within its capacity, in
 *   shares that sum to the whole;
 * - B3 nothing stands by while a PSU is unknown or a feed has failed, nor a
 *   failed PSU, nor one whose device cannot stand it by;
 * - B4 the plan is within 1 % of balance_exhaustive on racks of at most 6
 *   PSUs (the worst gap is printed), and never below its lower bound.
 * RP_BALANCE_SEED and RP_BALANCE_ITERS choose the racks.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "balance.h"
#include "balance_rack.h"
#include "policy.h"
#include "route.h"
#include "splitmix.h"

/* The oracle's demand: grants per wired mask. */
static void demand_of(const struct rack *r, int64_t *demand)
{
    memset(demand, 0, ROUTE_NMASKS * sizeof(*demand));
    for (int i = 0; i < r->nservers; i++)
        if (rack_server_draws(&r->servers[i]))
            demand[r->servers[i].wired] += r->servers[i].alloc_mw;
}

static void oracle(struct route *rt, const struct rack *r, bool *feasible, bool *prot)
{
    int64_t demand[ROUTE_NMASKS];
    demand_of(r, demand);
    route_load(rt, r);
    *feasible = route_feasible(rt, demand, NULL);
    bool lost = false;
    *prot = route_protected(rt, demand, false, NULL, &lost, NULL) && !lost;
}

struct stats {
    long racks, plans, standbys, moves, compared, bounded;
    double worst_gap, sum_gap, worst_lower_gap;
    int failures;
};

static void prop_fail(struct stats *st, int seed, const char *what, const char *reason)
{
    st->failures++;
    if (st->failures <= 20 || getenv("RP_BALANCE_TRACE"))
        printf("rack %d: %s (plan: %s)\n", seed, what, reason);
}

static void run_one(struct stats *st, uint64_t seed0, int idx)
{
    struct rack r;
    int event, no_sb;
    int64_t load[RACK_MAX_BUSES];
    struct policy *pol = balance_case(seed0, idx, &r, &event, &no_sb, load);
    char err[256];
    struct balance_conf conf;
    balance_conf_default(&conf);
    conf.min_saving_mw = 0; /* no hysteresis: the plan is the search's best */
    conf.min_saving_pct = 0;
    struct balance *b = balance_new(&r, &conf);
    if (no_sb >= 0)
        balance_set_can_standby(b, no_sb, false);
    struct route *rt = route_new(r.npsus, r.nbuses);
    struct balance_plan pl, ex;
    balance_plan_init(&pl, r.npsus);
    balance_plan_init(&ex, r.npsus);
    st->racks++;

    bool feas0, prot0;
    oracle(rt, &r, &feas0, &prot0);
    bool doubt = false;
    for (int i = 0; i < r.npsus; i++)
        doubt |= r.psus[i].health == RACK_PSU_UNKNOWN;
    for (int f = 0; f < r.nfeeds; f++)
        doubt |= r.feed_failed[f];

    if (balance_plan(b, &r, load, 1000000000000LL, &pl, err, sizeof(err))) {
        prop_fail(st, idx, err, "");
        goto out;
    }
    st->plans++;
    struct rack planned;
    rack_copy(&planned, &r);
    for (int i = 0; i < r.npsus; i++) {
        planned.psus[i].bus = pl.psus[i].bus;
        planned.psus[i].standby = pl.psus[i].standby;
        planned.psus[i].share_ppm = pl.psus[i].share_ppm;
        st->standbys += pl.psus[i].standby;
        st->moves += pl.psus[i].bus != r.psus[i].bus;
    }
    /* B1 */
    bool feas1, prot1;
    oracle(rt, &planned, &feas1, &prot1);
    if (feas0 && !feas1)
        prop_fail(st, idx, "B1: the plan made a feasible rack infeasible", pl.reason);
    if (prot0 && !prot1)
        prop_fail(st, idx, "B1: the plan made a protected rack unprotected", pl.reason);
    /* B2 */
    for (int bb = 0; bb < r.nbuses; bb++) {
        int64_t ppm = 0, cap = 0, carried = 0;
        int n = 0;
        for (int i = 0; i < r.npsus; i++) {
            const struct balance_psu *q = &pl.psus[i];
            if (q->bus != bb || q->standby || !rack_psu_alive(&r, &r.psus[i]))
                continue;
            n++;
            ppm += q->share_ppm;
            cap += rack_psu_health_mw(&r.psus[i]);
            carried += q->load_mw;
        }
        for (int i = 0; i < r.npsus && load[bb] <= cap; i++) /* a bus that can be carried */
            if (pl.psus[i].bus == bb && !pl.psus[i].standby &&
                pl.psus[i].load_mw > rack_psu_health_mw(&r.psus[i]) + 1)
                prop_fail(st, idx, "B2: a PSU planned above its capacity", pl.reason);
        if (r.bus_failed[bb])
            continue;
        if (n && ppm != BALANCE_PPM)
            prop_fail(st, idx, "B2: shares of a bus do not sum to a million", pl.reason);
        if (load[bb] <= cap && (carried < load[bb] - n - 1 || carried > load[bb] + n + 1))
            prop_fail(st, idx, "B2: the PSUs awake do not carry their bus's load", pl.reason);
        /* a bus the rack as it stood could carry is carried by those awake */
        int64_t cap0 = 0;
        for (int i = 0; i < r.npsus; i++)
            if (r.psus[i].bus == bb && rack_psu_alive(&r, &r.psus[i]))
                cap0 += rack_psu_health_mw(&r.psus[i]);
        if (load[bb] <= cap0 && load[bb] > cap)
            prop_fail(st, idx, "B2: the plan left a bus short of awake PSUs", pl.reason);
    }
    /* B3 */
    for (int i = 0; i < r.npsus; i++) {
        if (!pl.psus[i].standby)
            continue;
        if (doubt)
            prop_fail(st, idx, "B3: standby while a PSU is unknown or a feed failed", pl.reason);
        if (!rack_psu_alive(&r, &r.psus[i]))
            prop_fail(st, idx, "B3: a failed PSU planned in standby", pl.reason);
        if (i == no_sb)
            prop_fail(st, idx, "B3: a PSU that cannot stand by planned in standby", pl.reason);
    }
    /* B4 */
    int64_t lower = 0;
    if (r.npsus <= 6 && balance_exhaustive(b, &r, load, &ex, &lower, err, sizeof(err)) == 0) {
        double best = (double)ex.loss_after_mw, got = (double)pl.loss_after_mw;
        double gap = best > 0 ? (got - best) / best : 0;
        st->compared++;
        st->sum_gap += gap;
        if (gap > st->worst_gap)
            st->worst_gap = gap;
        double lgap = lower > 0 ? (got - (double)lower) / (double)lower : 0;
        if (lgap > st->worst_lower_gap)
            st->worst_lower_gap = lgap;
        if (gap > 0.01) {
            prop_fail(st, idx, "B4: more than 1 % above the exhaustive optimum", pl.reason);
            if (getenv("RP_BALANCE_TRACE"))
                for (int i = 0; i < r.npsus; i++)
                    printf("  %s %s %.0f W wired %x model %d: was bus %d%s; plan bus %d%s %.1f W "
                           "loss %.1f; best bus %d%s %.1f W loss %.1f\n",
                           r.psus[i].id, rack_psu_health_name(r.psus[i].health),
                           (double)r.psus[i].rated_mw / 1e3, r.psus[i].wired, r.psus[i].model,
                           r.psus[i].bus, r.psus[i].standby ? " sb" : "", pl.psus[i].bus,
                           pl.psus[i].standby ? " sb" : "", (double)pl.psus[i].load_mw / 1e3,
                           (double)pl.psus[i].loss_mw / 1e3, ex.psus[i].bus,
                           ex.psus[i].standby ? " sb" : "", (double)ex.psus[i].load_mw / 1e3,
                           (double)ex.psus[i].loss_mw / 1e3);
        }
        if (got < (double)lower - 1000)
            prop_fail(st, idx, "B4: below the exhaustive lower bound", pl.reason);
        if (getenv("RP_BALANCE_TRACE") && (gap > 0.01 || got < (double)lower - 1000)) {
            printf("  loads:");
            for (int bb = 0; bb < r.nbuses; bb++)
                printf(" %s %.1f W", r.buses[bb], (double)load[bb] / 1e3);
            printf("; plan %.1f W, best %.1f W, bound %.1f W; prot %d\n",
                   (double)pl.loss_after_mw / 1e3, best / 1e3, (double)lower / 1e3, r.protection);
        }
    }
    rack_free(&planned);
    /* B5: a plan stopped by its bound on evaluations (rackpowerd's loop)
     * saves less, never risks more: the rack stays feasible and protected
     * as it was, and it checked no more than it may */
    struct balance_conf bconf = conf;
    bconf.max_evals = 1 + idx % 64;
    struct balance *bb = balance_new(&r, &bconf);
    if (bb && no_sb >= 0)
        balance_set_can_standby(bb, no_sb, false);
    if (bb && balance_plan(bb, &r, load, 1000000000000LL, &ex, err, sizeof(err)) == 0) {
        struct rack bounded;
        rack_copy(&bounded, &r);
        for (int i = 0; i < r.npsus; i++) {
            bounded.psus[i].bus = ex.psus[i].bus;
            bounded.psus[i].standby = ex.psus[i].standby;
        }
        bool feas2, prot2;
        oracle(rt, &bounded, &feas2, &prot2);
        if ((feas0 && !feas2) || (prot0 && !prot2))
            prop_fail(st, idx, "B5: a bounded plan made the rack infeasible or unprotected",
                      ex.reason);
        if (ex.evals > bconf.max_evals + 4 * r.npsus) /* the evaluations that end it */
            prop_fail(st, idx, "B5: a bounded plan checked more than its bound", ex.reason);
        st->bounded += ex.bounded;
        rack_free(&bounded);
    }
    balance_free(bb);
out:
    balance_plan_free(&pl);
    balance_plan_free(&ex);
    route_free(rt);
    balance_free(b);
    policy_free(pol);
    rack_free(&r);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void test_balance_property_random(void **state)
{
    (void)state;
    struct stats st = {0};
    uint64_t seed = env_u64("RP_BALANCE_SEED", 11);
    int iters = (int)env_u64("RP_BALANCE_ITERS", 1500);
    int first = (int)env_u64("RP_BALANCE_FIRST", 0);
    for (int i = first; i < first + iters; i++)
        run_one(&st, seed, i);
    printf(
        "balance property: seed %" PRIu64 ", %ld racks, %ld plans, %ld standbys, %ld moves; "
        "against the exhaustive optimum on %ld racks: mean gap %.3f %%, worst %.3f %%; "
        "worst above its lower bound %.3f %%; %ld plans stopped at a bound of 1-64 PSU evaluations "
        "(B5); %d failures\n",
        seed, st.racks, st.plans, st.standbys, st.moves, st.compared,
        st.compared ? 100 * st.sum_gap / (double)st.compared : 0.0, 100 * st.worst_gap,
        100 * st.worst_lower_gap, st.bounded, st.failures);
    assert_int_equal(st.failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balance_property_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
