/*
 * test_outage.c - the energy model and the reserve plan (outage.h), one or
 * more tests per claim of seed 003 they carry out, named after it.
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

#define NS 1000000000LL

static bool near(double a, double b, double tol)
{
    return fabs(a - b) <= tol;
}

/* ---- Physics. ---- */

static void test_cell_watts_at_rated_are_output_over_efficiency(void **state)
{
    (void)state;
    struct rack_reserve res = {.rated_w = 1000, .max_w = 2000, .efficiency = 0.8, .peukert = 1.2};
    assert_true(near(outage_cell_w(&res, 1000), 1250, 1e-9));
    assert_true(near(outage_cell_w(&res, 500), 625, 1e-9)); /* no bonus below rated */
    assert_true(outage_cell_w(&res, 0) == 0);
    assert_true(outage_cell_w(&res, -5) == 0);
}

static void test_peukert_shrinks_usable_energy_above_rated(void **state)
{
    (void)state;
    struct rack_reserve res = {.rated_w = 1000, .max_w = 4000, .efficiency = 1, .peukert = 1.15};
    double w = outage_cell_w(&res, 2000);
    assert_true(near(w, 2000 * pow(2, 0.15), 1e-9));
    /* the energy delivered before the cut-off falls as the rate rises */
    double at_rated = 1000 * outage_runtime_s(&res, 100, 1000) / 3600;
    double at_double = 2000 * outage_runtime_s(&res, 100, 2000) / 3600;
    assert_true(near(at_rated, 100, 1e-9));
    assert_true(at_double < 91 && at_double > 90);
}

static void test_runtime_is_energy_over_cell_watts(void **state)
{
    (void)state;
    struct rack_reserve res = {.rated_w = 1000, .max_w = 1000, .efficiency = 0.95, .peukert = 1.05};
    assert_true(near(outage_runtime_s(&res, 95, 950), 342, 1e-9)); /* 1000 W from the cells */
    assert_true(isinf(outage_runtime_s(&res, 95, 0)));
    assert_true(outage_runtime_s(&res, 0, 100) == 0);
}

/* One feed F1 behind ups1 (2000 W max), two buses, 4 PSUs of 3000 W; a bbu
 * on bus B. */
static void ups_rack(struct rack *r)
{
    orack_init(r, 1, 2);
    orack_psu(r, 0, 0, 3000);
    orack_psu(r, 0, 0, 3000);
    orack_psu(r, 0, 1, 3000);
    orack_psu(r, 0, 1, 3000);
    orack_server(r, "a1", 1000, 1, 1);
    orack_server(r, "b1", 1500, 2, 2);
    orack_reserve(r, "ups1", RACK_RESERVE_UPS, 0, 500, 2000);
    orack_reserve(r, "bbu1", RACK_RESERVE_BBU, 1, 200, 1000);
}

static void loads(const struct rack *r, double *load)
{
    for (int i = 0; i < r->nservers; i++)
        load[i] = rack_server_draws(&r->servers[i]) ? r->servers[i].alloc_mw / 1000.0 : 0;
}

static void test_flow_mains_carries_everything_while_present(void **state)
{
    (void)state;
    struct rack r;
    ups_rack(&r);
    double load[2], rw[2], sw[2];
    loads(&r, load);
    assert_true(outage_flow(&r, load, rw, sw) == 0);
    assert_true(rw[0] == 0 && rw[1] == 0);
    rack_free(&r);
}

static void test_flow_ups_carries_its_feed_up_to_max_w_then_the_bbu(void **state)
{
    (void)state;
    struct rack r;
    ups_rack(&r);
    r.feed_on_reserve[0] = true;
    double load[2], rw[2], sw[2];
    loads(&r, load);
    /* 2500 W on a 2000 W ups: bus A's 1000 W and 1000 W of bus B from the ups's
     * PSUs (shared as their capacity is), bus B's other 500 W from bbu1 */
    double total = outage_flow(&r, load, rw, sw);
    assert_true(near(total, 0, 1e-6));
    assert_true(near(rw[0], 2000, 1e-6));
    assert_true(near(rw[1], 500, 1e-6));
    /* the ups empty: its feed's PSUs give nothing; bbu1 carries B, A is short */
    r.reserves[0].wh_left = 0;
    total = outage_flow(&r, load, rw, sw);
    assert_true(near(rw[0], 0, 1e-9));
    assert_true(near(rw[1], 1000, 1e-6));
    assert_true(near(sw[0], 1000, 1e-6));
    assert_true(near(sw[1], 500, 1e-6));
    assert_true(near(total, 1500, 1e-6));
    rack_free(&r);
}

static void test_flow_server_battery_carries_its_server_or_where_it_is_switched(void **state)
{
    (void)state;
    struct rack r;
    orack_init(&r, 1, 1);
    orack_psu(&r, 0, 0, 3000);
    int db1 = orack_server(&r, "db1", 400, 1, 1);
    int db2 = orack_server(&r, "db2", 300, 1, 1);
    int b1 = orack_reserve(&r, "bat-db1", RACK_RESERVE_SERVER, db1, 50, 800);
    orack_switch_server(&r, b1, db2);
    r.feed_failed[0] = true;
    double load[2], rw[1], sw[2];
    loads(&r, load);
    outage_flow(&r, load, rw, sw);
    assert_true(near(rw[0], 400, 1e-9));
    assert_true(sw[0] == 0 && near(sw[1], 300, 1e-9));
    struct outage_step to_db2 = {
        .kind = OUTAGE_STEP_DIVERT, .reserve = b1, .to_bus = -1, .to_server = db2};
    char err[128];
    assert_int_equal(outage_apply(&r, &to_db2, err, sizeof(err)), 0);
    outage_flow(&r, load, rw, sw);
    assert_true(near(rw[0], 300, 1e-9));
    assert_true(near(sw[0], 400, 1e-9) && sw[1] == 0);
    /* a switch it does not have is refused */
    struct outage_step bad = {
        .kind = OUTAGE_STEP_DIVERT, .reserve = b1, .to_bus = 0, .to_server = -1};
    assert_int_equal(outage_apply(&r, &bad, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bat-db1"));
    rack_free(&r);
}

static void test_discharge_never_goes_below_the_cutoff(void **state)
{
    (void)state;
    struct rack r;
    ups_rack(&r);
    r.feed_on_reserve[0] = true;
    double load[2];
    loads(&r, load);
    outage_discharge(&r, load, 3600 * NS);
    assert_true(r.reserves[0].wh_left == 0);
    assert_true(r.reserves[1].wh_left == 0);
    assert_false(r.reserves[0].discharging);
    rack_free(&r);
}

/*
 * Energy is conserved: what discharge takes is the integral of the cells'
 * watts, piece by piece (a reserve empties, another takes over), whatever
 * the size of the steps.
 */
static void test_discharge_takes_the_integral_of_cell_watts(void **state)
{
    (void)state;
    struct rack a, b;
    ups_rack(&a);
    ups_rack(&b);
    for (int k = 0; k < 2; k++) {
        a.reserves[k].efficiency = b.reserves[k].efficiency = 0.9;
        a.reserves[k].peukert = b.reserves[k].peukert = 1.2;
        a.reserves[k].rated_w = b.reserves[k].rated_w = 700;
    }
    a.feed_on_reserve[0] = b.feed_on_reserve[0] = true;
    double load[2];
    loads(&a, load);
    double before = a.reserves[0].wh_left + a.reserves[1].wh_left;
    double taken_a = outage_discharge(&a, load, 1200 * NS);
    double after = a.reserves[0].wh_left + a.reserves[1].wh_left;
    assert_true(near(before - after, taken_a, 1e-9));
    /* the same hour in 1 s steps, integrating the cells' watts by hand */
    double integral = 0, taken_b = 0;
    for (int s = 0; s < 1200; s++) {
        double rw[2], sw[2];
        outage_flow(&b, load, rw, sw);
        double cells = outage_cell_w(&b.reserves[0], rw[0]) + outage_cell_w(&b.reserves[1], rw[1]);
        double t = outage_discharge(&b, load, NS);
        taken_b += t;
        if (cells * 1.0 / 3600 <= t + 1e-9)
            integral += cells / 3600;
        else
            integral += t; /* the step where one ran out */
    }
    assert_true(near(taken_a, taken_b, 1e-6));
    assert_true(near(integral, taken_b, 1e-6));
    assert_true(near(a.reserves[0].wh_left, b.reserves[0].wh_left, 1e-6));
    assert_true(near(a.reserves[1].wh_left, b.reserves[1].wh_left, 1e-6));
    rack_free(&a);
    rack_free(&b);
}

static void test_may_release_waits_for_stable_mains_and_charge(void **state)
{
    (void)state;
    struct rack r;
    ups_rack(&r);
    struct outage o = {.active = false, .mains_back_ns = INT64_MIN};
    assert_false(outage_may_release(&r, &o, 1000 * NS));
    o.mains_back_ns = 100 * NS;
    assert_false(outage_may_release(&r, &o, 100 * NS + r.outage.mains_stable_ns - 1));
    assert_true(outage_may_release(&r, &o, 100 * NS + r.outage.mains_stable_ns));
    r.reserves[1].wh_left = 0.19 * r.reserves[1].energy_wh;
    assert_false(outage_may_release(&r, &o, 1000 * NS));
    r.reserves[1].wh_left = r.reserves[1].energy_wh;
    r.reserves[1].known = false;
    assert_false(outage_may_release(&r, &o, 1000 * NS));
    r.reserves[1].known = true;
    r.feed_on_reserve[0] = true;
    assert_false(outage_may_release(&r, &o, 1000 * NS));
    rack_free(&r);
}

/* ---- The plan. ---- */

static const struct outage_step *stop_of(const struct outage_plan *p, const struct rack *r,
                                         const char *server)
{
    for (size_t k = 0; k < p->nsteps; k++)
        if (p->steps[k].kind == OUTAGE_STEP_STOP &&
            !strcmp(r->servers[p->steps[k].server].id, server))
            return &p->steps[k];
    return NULL;
}

/* One bus on one feed behind a ups: crit (priority 1), gold (2), bronze (4). */
static void three_level_rack(struct rack *r, double wh)
{
    orack_init(r, 1, 1);
    orack_psu(r, 0, 0, 5000);
    orack_psu(r, 0, 0, 5000);
    int c = orack_server(r, "crit", 1000, 9, 1);
    int g = orack_server(r, "gold", 1000, 9, 1);
    int b = orack_server(r, "bronze", 2000, 9, 1);
    orack_activity(r, "orders", 1, c, 1, 0, NULL);
    orack_activity(r, "web", 2, g, 1, 0, NULL);
    orack_activity(r, "batch", 4, b, 1, 0, NULL);
    orack_reserve(r, "ups1", RACK_RESERVE_UPS, 0, wh, 10000);
    r->outage.ride_through_ns = 60 * NS;
    r->outage.slack_pct = 0;
}

static void test_claim13_less_important_sets_stop_after_the_ride_through(void **state)
{
    (void)state;
    struct rack r;
    three_level_rack(&r, 1000);
    r.feed_on_reserve[0] = true;
    struct outage o = {
        .active = true, .cause = OUTAGE_CAUSE_FEED, .since_ns = 0, .mains_back_ns = INT64_MIN};
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 10 * NS, &p, err, sizeof(err)), 0);
    const struct outage_step *sb = stop_of(&p, &r, "bronze"), *sg = stop_of(&p, &r, "gold");
    assert_non_null(sb);
    assert_non_null(sg);
    assert_null(stop_of(&p, &r, "crit"));
    /* nothing before the ride-through's end, 50 s from now; bronze first */
    assert_false(sb->now);
    assert_true(near(sb->at_s, 50, 1e-6));
    assert_true(sb->stage < sg->stage);
    assert_true(p.steps[0].server == sb->server);
    /* figures: the energy at the stop, what it buys, in the reason */
    assert_true(near(sb->at_wh, 1000 - 4000.0 * 50 / 3600, 1e-3));
    assert_true(sb->gain_s > 0);
    assert_non_null(strstr(sb->reason, "bronze"));
    assert_non_null(strstr(sb->reason, "batch"));
    assert_true(p.feasible);
    assert_true(p.top_runtime_s > 1000);
    /* after the ride-through they are due now */
    assert_int_equal(outage_plan_make(&r, &o, 61 * NS, &p, err, sizeof(err)), 0);
    assert_true(stop_of(&p, &r, "bronze")->now);
    assert_true(stop_of(&p, &r, "gold")->now);
    outage_plan_free(&p);
    rack_free(&r);
}

static void test_plan_if_mains_failed_now_takes_every_feed_as_lost(void **state)
{
    (void)state;
    struct rack r;
    three_level_rack(&r, 1000);
    struct outage o = {.active = false, .mains_back_ns = INT64_MIN};
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_non_null(stop_of(&p, &r, "bronze"));
    assert_true(isfinite(p.top_runtime_s));
    assert_non_null(strstr(p.summary, "if mains failed now"));
    /* with mains present and no outage the rack itself is untouched */
    assert_false(r.feed_on_reserve[0]);
    assert_int_equal(o.nfloors, 0);
    outage_plan_free(&p);
    rack_free(&r);
}

static void test_feasibility_stops_the_least_important_before_the_ride_through(void **state)
{
    (void)state;
    struct rack r;
    three_level_rack(&r, 1000);
    r.reserves[0].max_w = 2500; /* 4000 W drawn */
    r.feed_on_reserve[0] = true;
    struct outage o = {.active = true, .since_ns = 0, .mains_back_ns = INT64_MIN};
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *sb = stop_of(&p, &r, "bronze");
    assert_non_null(sb);
    assert_true(sb->now);
    assert_non_null(strstr(sb->reason, "feasibility"));
    /* gold still fits: it waits for the ride-through */
    assert_false(stop_of(&p, &r, "gold")->now);
    assert_true(p.feasible);
    outage_plan_free(&p);
    rack_free(&r);
}

static void test_no_stop_when_it_buys_nothing_for_the_more_important(void **state)
{
    (void)state;
    /* bronze on bus B with its own bbu and no switch: stopping it gives crit
     * nothing, so it runs on until its bbu is empty */
    struct rack r;
    orack_init(&r, 1, 2);
    orack_psu(&r, 0, 0, 5000);
    orack_psu(&r, 0, 1, 5000);
    int c = orack_server(&r, "crit", 1000, 9, 1);
    int b = orack_server(&r, "bronze", 1000, 9, 2);
    orack_activity(&r, "orders", 1, c, 1, 0, NULL);
    orack_activity(&r, "batch", 4, b, 1, 0, NULL);
    orack_reserve(&r, "bbuA", RACK_RESERVE_BBU, 0, 500, 3000);
    orack_reserve(&r, "bbuB", RACK_RESERVE_BBU, 1, 100, 3000);
    r.feed_failed[0] = true;
    struct outage o = {.active = true, .since_ns = 0, .mains_back_ns = INT64_MIN};
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_null(stop_of(&p, &r, "bronze"));
    assert_true(near(p.top_runtime_s, 1800, 1e-6));
    assert_true(near(p.runtime_s[1], 360, 1e-6));
    outage_plan_free(&p);
    rack_free(&r);
}

static const struct outage_step *step_of(const struct outage_plan *p, enum outage_step_kind k,
                                         int n)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == k && n-- == 0)
            return &p->steps[i];
    return NULL;
}

static struct outage active_outage(void)
{
    struct outage o = {.active = true, .cause = OUTAGE_CAUSE_FEED, .mains_back_ns = INT64_MIN};
    return o;
}

/* Two buses, no mains: crit on A with a small bbu, bronze on B with a large
 * one that its switch can direct to A. */
static void two_bbu_rack(struct rack *r)
{
    orack_init(r, 1, 2);
    orack_psu(r, 0, 0, 5000);
    orack_psu(r, 0, 1, 5000);
    int c = orack_server(r, "crit", 1000, 9, 1);
    int b = orack_server(r, "bronze", 1000, 9, 2);
    orack_activity(r, "orders", 1, c, 1, 0, NULL);
    orack_activity(r, "batch", 4, b, 1, 0, NULL);
    orack_reserve(r, "bbuA", RACK_RESERVE_BBU, 0, 100, 3000);
    int bb = orack_reserve(r, "bbuB", RACK_RESERVE_BBU, 1, 900, 3000);
    r->reserves[bb].switch_buses = 1u << 0;
    r->feed_failed[0] = true;
    r->outage.ride_through_ns = 0;
    r->outage.slack_pct = 0;
}

static void test_claim1_reserves_diverted_to_important_servers(void **state)
{
    (void)state;
    struct rack r;
    two_bbu_rack(&r);
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *d = step_of(&p, OUTAGE_STEP_DIVERT, 0);
    assert_non_null(d);
    assert_string_equal(r.reserves[d->reserve].id, "bbuB");
    assert_int_equal(d->to_bus, 0);
    /* bronze draws from bbuB: the divert is due once it has stopped (its
     * 30 s graceful stop and 10 s soft-off), not before */
    assert_non_null(stop_of(&p, &r, "bronze"));
    assert_true(stop_of(&p, &r, "bronze")->now);
    assert_false(d->now);
    assert_true(near(d->at_s, 40, 1e-6));
    assert_true(d->gain_s > 2000);
    assert_non_null(strstr(d->reason, "bbuB"));
    assert_non_null(strstr(d->reason, "to bus A once bronze has stopped"));
    /* crit gets all 1000 Wh but what both drew for those 40 s */
    assert_true(near(p.top_runtime_s, 40 + (1000 - 2 * 1000.0 * 40 / 3600) * 3.6, 1));
    /* bronze off: the divert is due now; carried out, the plan holds */
    r.servers[1].held = true;
    assert_int_equal(outage_plan_make(&r, &o, 40 * NS, &p, err, sizeof(err)), 0);
    d = step_of(&p, OUTAGE_STEP_DIVERT, 0);
    assert_non_null(d);
    assert_true(d->now);
    assert_int_equal(outage_divert_darkens(&r, d, NULL, 0), 0);
    assert_int_equal(outage_apply(&r, d, err, sizeof(err)), 0);
    assert_int_equal(r.reserves[1].to_bus, 0);
    assert_int_equal(outage_plan_make(&r, &o, 40 * NS, &p, err, sizeof(err)), 0);
    assert_null(step_of(&p, OUTAGE_STEP_DIVERT, 0));
    assert_true(near(p.top_runtime_s, 1000 * 3.6, 1));
    outage_plan_free(&p);
    rack_free(&r);
}

/* claim 1 with a ride-through: stopping bronze gains crit nothing while bbuB
 * stays on bus B, and diverting bbuB would leave bronze without power; the
 * two together give crit nearly all of bbuB. The plan stops bronze at the
 * end of the ride-through and diverts bbuB once it is off (never while it
 * runs, even after the ride-through), and credits the stop with what both
 * buy. */
static void test_claim1_a_stop_and_the_divert_it_frees_are_planned_together(void **state)
{
    (void)state;
    struct rack r;
    two_bbu_rack(&r);
    r.outage.ride_through_ns = 60 * NS;
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *sb = stop_of(&p, &r, "bronze");
    const struct outage_step *d = step_of(&p, OUTAGE_STEP_DIVERT, 0);
    assert_non_null(sb);
    assert_non_null(d);
    assert_false(sb->now);
    assert_true(near(sb->at_s, 60, 1e-6));
    assert_false(d->now);
    assert_true(near(d->at_s, 100, 1e-6)); /* 60 s, then 30 s graceful and 10 s soft-off */
    /* in the order they are due: the stop, then the divert */
    assert_true(sb < d);
    double expect = 100 + (1000 - 2 * 1000.0 * 100 / 3600) * 3.6;
    assert_true(near(p.top_runtime_s, expect, 1));
    /* without the divert bronze's stop buys nothing: its gain is the divert's */
    assert_true(near(sb->gain_s, expect - 360, 1));
    assert_non_null(strstr(sb->reason, "frees bbuB"));
    /* after the ride-through bronze stops now; the divert still waits for
     * it to be off, never leaving it without power while it runs */
    assert_int_equal(outage_plan_make(&r, &o, 61 * NS, &p, err, sizeof(err)), 0);
    d = step_of(&p, OUTAGE_STEP_DIVERT, 0);
    assert_non_null(d);
    assert_false(d->now);
    assert_true(near(d->at_s, 40, 1e-6));
    assert_true(stop_of(&p, &r, "bronze")->now);
    assert_int_equal(outage_divert_darkens(&r, d, NULL, 0), 1);
    outage_plan_free(&p);
    rack_free(&r);
}

static void test_reserve_not_known_is_never_diverted(void **state)
{
    (void)state;
    struct rack r;
    two_bbu_rack(&r);
    r.reserves[1].known = false;
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_null(step_of(&p, OUTAGE_STEP_DIVERT, 0));
    outage_plan_free(&p);
    rack_free(&r);
}

/* Servers on a dead bus, each with its own battery; the batteries of the
 * less important servers can be switched to the most important one. */
static void server_battery_rack(struct rack *r)
{
    orack_init(r, 1, 1);
    orack_psu(r, 0, 0, 5000);
    int db = orack_server(r, "db", 500, 9, 1);
    int w1 = orack_server(r, "web1", 500, 9, 1);
    int w2 = orack_server(r, "web2", 500, 9, 1);
    orack_activity(r, "orders", 1, db, 1, 0, NULL);
    orack_activity(r, "shop1", 3, w1, 1, 0, NULL);
    orack_activity(r, "shop2", 3, w2, 1, 0, NULL);
    orack_reserve(r, "bat-db", RACK_RESERVE_SERVER, db, 50, 800);
    int b1 = orack_reserve(r, "bat-web1", RACK_RESERVE_SERVER, w1, 50, 800);
    int b2 = orack_reserve(r, "bat-web2", RACK_RESERVE_SERVER, w2, 50, 800);
    orack_switch_server(r, b1, db);
    orack_switch_server(r, b2, db);
    r->feed_failed[0] = true;
    r->outage.ride_through_ns = 0;
    r->outage.slack_pct = 0;
}

static void test_claim10_server_battery_diverted_to_another_server(void **state)
{
    (void)state;
    struct rack r;
    server_battery_rack(&r);
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *d = step_of(&p, OUTAGE_STEP_DIVERT, 0);
    assert_non_null(d);
    assert_int_equal(d->to_server, 0);
    assert_int_equal(r.reserves[d->reserve].kind, RACK_RESERVE_SERVER);
    outage_plan_free(&p);
    rack_free(&r);
}

/* claims 9 and 12: the reserves of every less important server go to the
 * one hosting the most important activity, once those servers are off. */
static void test_claim9_claim12_reserves_from_all_servers_to_the_top_server(void **state)
{
    (void)state;
    struct rack r;
    server_battery_rack(&r);
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_non_null(step_of(&p, OUTAGE_STEP_DIVERT, 1));
    for (int n = 0; n < 2; n++) {
        const struct outage_step *d = step_of(&p, OUTAGE_STEP_DIVERT, n);
        assert_int_equal(d->to_server, 0);
        assert_false(d->now);
        assert_true(near(d->at_s, 40, 1e-6)); /* web1 and web2 stop now, off 40 s later */
    }
    assert_true(stop_of(&p, &r, "web1")->now);
    assert_true(stop_of(&p, &r, "web2")->now);
    /* db gets all 150 Wh at 500 W but what the three drew for 40 s */
    assert_true(near(p.top_runtime_s, 40 + (150 - 3 * 500.0 * 40 / 3600) * 7.2, 1));
    outage_plan_free(&p);
    rack_free(&r);
}

/* Two servers host the most important set, each on its own battery; the
 * batteries of two less important servers can be switched to either. One
 * divert alone lengthens one db server but not the set (the other is still
 * the shortest): the plan weighs each and finds both, one battery to each. */
static void two_db_battery_rack(struct rack *r)
{
    server_battery_rack(r); /* and db2 beside db, hosting orders too */
    int db2 = orack_server(r, "db2", 500, 9, 1);
    struct rack_activity *ac = &r->activities[0];
    int both[2] = {0, db2};
    free(ac->servers);
    free(ac->home);
    free(ac->share);
    ac->nservers = ac->nhome = 2;
    ac->servers = orack_ints(2, both);
    ac->home = orack_ints(2, both);
    ac->share = malloc(2 * sizeof(double));
    if (!ac->share)
        abort();
    ac->share[0] = ac->share[1] = 1;
    r->servers[db2].priority = 1;
    orack_reserve(r, "bat-db2", RACK_RESERVE_SERVER, db2, 50, 800);
    orack_switch_server(r, 1, db2); /* bat-web1 and bat-web2 reach either */
    orack_switch_server(r, 2, db2);
    r->outage.ride_through_ns = 20 * NS;
}

static void test_claim9_claim12_stopped_servers_batteries_go_one_to_each_top_server(void **state)
{
    (void)state;
    struct rack r;
    two_db_battery_rack(&r);
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *d0 = step_of(&p, OUTAGE_STEP_DIVERT, 0);
    const struct outage_step *d1 = step_of(&p, OUTAGE_STEP_DIVERT, 1);
    assert_non_null(d0);
    assert_non_null(d1);
    assert_null(step_of(&p, OUTAGE_STEP_DIVERT, 2));
    assert_true(d0->to_server == 0 || d0->to_server == 3);
    assert_true(d1->to_server == 0 || d1->to_server == 3);
    assert_int_not_equal(d0->to_server, d1->to_server);
    /* web1 and web2 stop at the ride-through's end; the batteries follow
     * once they are off */
    for (int n = 0; n < 2; n++) {
        const struct outage_step *d = step_of(&p, OUTAGE_STEP_DIVERT, n);
        assert_false(d->now);
        assert_true(near(d->at_s, 60, 1e-6));
    }
    assert_true(near(stop_of(&p, &r, "web1")->at_s, 20, 1e-6));
    assert_true(near(stop_of(&p, &r, "web2")->at_s, 20, 1e-6));
    /* each db server: its 50 Wh and a web battery's, less 60 s at 500 W each */
    double expect = 60 + (100 - 2 * 500.0 * 60 / 3600) * 7.2;
    assert_true(near(p.top_runtime_s, expect, 1));
    assert_true(p.top_runtime_s > 1.8 * 360); /* its own battery alone: 360 s */
    outage_plan_free(&p);
    rack_free(&r);
}

/* claim 13 with a divert: bbuB serves gold and bronze on bus B, and can go to
 * crit's bus A only once both are off. Both stop in stages (bronze first,
 * never after gold: strict priority), gold no later than crit's slack allows,
 * and the divert is due when the later of the two is off. */
static void test_claim13_stops_that_free_a_reserve_are_staged_by_priority(void **state)
{
    (void)state;
    struct rack r;
    two_bbu_rack(&r); /* and gold beside bronze on bus B, 500 W each */
    r.servers[1].power_mw = r.servers[1].alloc_mw = r.servers[1].min_mw = 500000;
    r.activities[1].stop_ns = 10 * NS; /* bronze is off sooner than gold */
    int g = orack_server(&r, "gold", 500, 9, 2);
    orack_activity(&r, "web", 2, g, 1, 0, NULL);
    r.outage.ride_through_ns = 30 * NS;
    r.outage.slack_pct = 5;
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *sg = stop_of(&p, &r, "gold"), *sb = stop_of(&p, &r, "bronze");
    const struct outage_step *d = step_of(&p, OUTAGE_STEP_DIVERT, 0);
    assert_non_null(sg);
    assert_non_null(sb);
    assert_non_null(d);
    assert_true(sb->stage < sg->stage);
    assert_true(sb->at_s <= sg->at_s + 1e-6);
    assert_true(sb->at_s >= 30 - 1e-6);
    assert_true(d->at_s >= sg->at_s + 40 - 1e-6);
    assert_true(d->at_s >= sb->at_s + 20 - 1e-6);
    assert_int_equal(d->to_bus, 0);
    /* crit keeps at least 95 % of its best: everything stopped at 30 s and
     * bbuB on bus A once gold is off, 70 s in */
    double best = 70 + (1000 - 1000.0 * 70 / 3600 - 500.0 * 70 / 3600 - 500.0 * 50 / 3600) * 3.6;
    assert_true(p.top_runtime_s >= 0.95 * best - 1);
    assert_true(p.top_runtime_s <= best + 1);
    assert_true(sg->gain_s > 1000); /* the divert's, credited to the stop */
    assert_int_equal(o.nfloors, 3);
    outage_plan_free(&p);
    rack_free(&r);
}

/* db1 runs orders (priority 1) beside batch (priority 4); app1 runs api
 * (priority 1) with room to spare. All on one ups. */
static void shared_server_rack(struct rack *r)
{
    orack_init(r, 1, 1);
    orack_psu(r, 0, 0, 5000);
    orack_psu(r, 0, 0, 5000);
    int db1 = orack_server(r, "db1", 1000, 9, 1);
    int app1 = orack_server(r, "app1", 1000, 9, 1);
    r->servers[app1].alloc_mw = 400000; /* draws 400 W of its 1000 */
    orack_activity(r, "orders", 1, db1, 0.4, 1, &app1);
    orack_activity(r, "batch", 4, db1, 0.6, 0, NULL);
    orack_activity(r, "api", 1, app1, 0.4, 0, NULL);
    orack_reserve(r, "ups1", RACK_RESERVE_UPS, 0, 1000, 5000);
    r->feed_on_reserve[0] = true;
    r->outage.ride_through_ns = 0;
    r->outage.slack_pct = 0;
}

static void test_claim8_claim11_consolidates_onto_fewest_servers(void **state)
{
    (void)state;
    struct rack r;
    shared_server_rack(&r);
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *m = step_of(&p, OUTAGE_STEP_MOVE, 0);
    assert_non_null(m);
    assert_string_equal(r.activities[m->activity].id, "orders");
    assert_string_equal(r.servers[m->server].id, "db1");
    assert_string_equal(r.servers[m->to_server].id, "app1");
    assert_true(near(m->watts, 400, 1e-9));
    assert_non_null(strstr(m->reason, "db1, left with priority 4 work, can stop"));
    /* db1 stops; app1 carries both priority-1 sets: 800 W for 1000 Wh less
     * the 40 s of db1's graceful stop (and soft-off) at 1400 W */
    const struct outage_step *st = stop_of(&p, &r, "db1");
    assert_non_null(st);
    assert_true(st->now);
    assert_null(stop_of(&p, &r, "app1"));
    double expect = 40 + (1000 - 1400.0 * 40 / 3600) * 3600 / 800;
    assert_true(near(p.top_runtime_s, expect, 1));
    assert_true(near(p.runtime_s[0], expect, 1)); /* orders, on app1 now */
    /* carried out: the activity runs on app1, whose priority it keeps; db1
     * hosts only batch */
    assert_int_equal(outage_apply(&r, m, err, sizeof(err)), 0);
    assert_int_equal(r.activities[0].servers[0], 1);
    assert_int_equal(r.activities[0].state, RACK_ACT_MOVED);
    assert_int_equal(r.servers[0].priority, 4);
    assert_int_equal(r.servers[1].priority, 1);
    outage_plan_free(&p);
    rack_free(&r);
}

static void test_no_move_without_headroom(void **state)
{
    (void)state;
    struct rack r;
    shared_server_rack(&r);
    r.servers[1].alloc_mw = 700000; /* 300 W of headroom for 400 W */
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_null(step_of(&p, OUTAGE_STEP_MOVE, 0));
    assert_null(stop_of(&p, &r, "db1")); /* it hosts orders: it stays */
    outage_plan_free(&p);
    rack_free(&r);
}

/* three_level_rack on its ups, no ride-through, 10 % slack. */
static void slack_rack(struct rack *r)
{
    three_level_rack(r, 1000);
    r->feed_on_reserve[0] = true;
    r->outage.ride_through_ns = 0;
    r->outage.slack_pct = 10;
}

/* With slack, less important work runs longer, and the most important set
 * keeps at least (1 - slack) of its best, over re-plans at every reading: the
 * commitments in struct outage keep the slack from creeping. */
static void test_slack_lets_less_important_run_without_creeping(void **state)
{
    (void)state;
    struct rack r;
    slack_rack(&r);
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    /* the best for crit: everything else stops now (graceful 40 s) */
    r.outage.slack_pct = 0;
    struct outage o0 = active_outage();
    assert_int_equal(outage_plan_make(&r, &o0, 0, &p, err, sizeof(err)), 0);
    double best = p.top_runtime_s;
    r.outage.slack_pct = 10;
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *sg = stop_of(&p, &r, "gold");
    assert_non_null(sg);
    assert_false(sg->now); /* gold runs on for a while */
    assert_true(sg->at_s > 60);
    assert_true(p.top_runtime_s >= 0.9 * best - 1);
    assert_int_equal(o.nfloors, 3);
    /* play it: a reading each 10 s, steps carried out as they fall due */
    struct policy *pol = policy_new(&r);
    struct policy_actions acts = {0};
    double t = 0, crit_end = -1;
    int64_t stop_at[3] = {-1, -1, -1};
    for (int step = 0; step < 2000 && crit_end < 0; step++) {
        int64_t now = (int64_t)(t * NS);
        assert_int_equal(outage_plan_make(&r, &o, now, &p, err, sizeof(err)), 0);
        for (size_t k = 0; k < p.nsteps; k++)
            if (p.steps[k].kind == OUTAGE_STEP_STOP && p.steps[k].now &&
                stop_at[p.steps[k].server] < 0)
                stop_at[p.steps[k].server] = now;
        for (int i = 0; i < 3; i++)
            if (stop_at[i] >= 0 && r.servers[i].state == RACK_SRV_ON &&
                now >= stop_at[i] + 40 * NS) {
                struct policy_input in = {.kind = POLICY_OUTAGE_STOP, .index = i};
                assert_int_equal(policy_handle(pol, &r, &in, now, &acts, err, sizeof(err)), 0);
            }
        double load[3];
        loads(&r, load);
        double rw[1], sw[3];
        outage_flow(&r, load, rw, sw);
        if (sw[0] > 0)
            crit_end = t;
        outage_discharge(&r, load, 10 * NS);
        t += 10;
    }
    assert_true(crit_end > 0);
    assert_true(crit_end >= 0.9 * best - 20);
    /* and no more than the slack lost: the best was kept within 10 % */
    assert_true(stop_at[1] > 60 * NS);
    policy_actions_free(&acts);
    policy_free(pol);
    outage_plan_free(&p);
    rack_free(&r);
}

/* Found by test_outage_property's "no avoidable shortfall" (one-bus seed 208
 * and others): with slack, a small less important server that keeps the most
 * important one above its target while never stopping was never stopped, so
 * both ran the ups dry together: crit lost power while batch still drew on
 * the ups it depends on. Slack lets less important work run longer, never
 * until the more important loses power: its cut (stop + graceful time) comes
 * no later than the more important set's end (which that stop moves later). */
static void
test_slack_never_lets_less_important_work_draw_until_the_more_important_loses_power(void **state)
{
    (void)state;
    struct rack r;
    orack_init(&r, 1, 1);
    orack_psu(&r, 0, 0, 5000);
    int c = orack_server(&r, "crit", 1000, 9, 1);
    int b = orack_server(&r, "batch", 100, 9, 1);
    orack_activity(&r, "orders", 1, c, 1, 0, NULL);
    orack_activity(&r, "report", 4, b, 1, 0, NULL); /* graceful stop 30 s */
    orack_reserve(&r, "ups1", RACK_RESERVE_UPS, 0, 100, 5000);
    r.feed_on_reserve[0] = true;
    r.outage.ride_through_ns = 0;
    r.outage.slack_pct = 10;
    /* crit alone after batch's graceful stop: (360000 - 100 * 30) / 1000 =
     * 357 s, 321 s at 10 % slack; batch never stopped: 360000 / 1100 = 327 s,
     * inside the slack, and both lose power at 327 s */
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    const struct outage_step *sb = stop_of(&p, &r, "batch");
    assert_non_null(sb);
    /* cut by crit's end at the latest (at it, the slack's full use: 327.3 s) */
    assert_true(sb->at_s + 30 <= p.top_runtime_s + 1e-3);
    assert_true(p.top_runtime_s >= 0.9 * 357 - 1e-6);
    outage_plan_free(&p);
    rack_free(&r);
}

/* Found by test_outage_property (random seed 121): the commitments were
 * recorded at the first plan only; when the rack got lighter later, each
 * re-plan gave away slack of the new best, and a stop receded at every
 * re-plan. A commitment follows the best the level was ever seen to have. */
static void test_commitments_rise_with_the_best_and_never_fall(void **state)
{
    (void)state;
    struct rack r;
    slack_rack(&r);
    struct outage o = active_outage();
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_int_equal(o.nfloors, 3);
    int64_t first = o.floor_ns[0];
    /* the rack gets lighter: crit's best grows, and its commitment with it */
    r.servers[0].alloc_mw /= 2;
    assert_int_equal(outage_plan_make(&r, &o, 5 * NS, &p, err, sizeof(err)), 0);
    assert_true(o.floor_ns[0] > first);
    int64_t risen = o.floor_ns[0];
    /* heavier again: the commitment stays where it rose to */
    r.servers[0].alloc_mw *= 2;
    assert_int_equal(outage_plan_make(&r, &o, 10 * NS, &p, err, sizeof(err)), 0);
    assert_int_equal(o.floor_ns[0], risen);
    outage_plan_free(&p);
    rack_free(&r);
}

/* claim 7: an operator's outage plans as if mains were gone, even while it
 * is still there (he knows it is coming). */
static void test_claim7_operator_command_plans_as_if_mains_failed(void **state)
{
    (void)state;
    struct rack r;
    three_level_rack(&r, 1000);
    struct outage o = active_outage();
    o.cause = OUTAGE_CAUSE_OPERATOR;
    struct outage_plan p = {0};
    char err[128];
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_non_null(stop_of(&p, &r, "bronze"));
    assert_true(isfinite(p.top_runtime_s));
    assert_string_equal(outage_cause_name(OUTAGE_CAUSE_OPERATOR), "operator");
    /* claim 6: a feed's failure with the rack on mains plans nothing to stop */
    o.cause = OUTAGE_CAUSE_FEED;
    assert_int_equal(outage_plan_make(&r, &o, 0, &p, err, sizeof(err)), 0);
    assert_null(stop_of(&p, &r, "bronze"));
    assert_true(isinf(p.top_runtime_s));
    outage_plan_free(&p);
    rack_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cell_watts_at_rated_are_output_over_efficiency),
        cmocka_unit_test(test_peukert_shrinks_usable_energy_above_rated),
        cmocka_unit_test(test_runtime_is_energy_over_cell_watts),
        cmocka_unit_test(test_flow_mains_carries_everything_while_present),
        cmocka_unit_test(test_flow_ups_carries_its_feed_up_to_max_w_then_the_bbu),
        cmocka_unit_test(test_flow_server_battery_carries_its_server_or_where_it_is_switched),
        cmocka_unit_test(test_discharge_never_goes_below_the_cutoff),
        cmocka_unit_test(test_discharge_takes_the_integral_of_cell_watts),
        cmocka_unit_test(test_may_release_waits_for_stable_mains_and_charge),
        cmocka_unit_test(test_claim13_less_important_sets_stop_after_the_ride_through),
        cmocka_unit_test(test_plan_if_mains_failed_now_takes_every_feed_as_lost),
        cmocka_unit_test(test_feasibility_stops_the_least_important_before_the_ride_through),
        cmocka_unit_test(test_no_stop_when_it_buys_nothing_for_the_more_important),
        cmocka_unit_test(test_claim1_reserves_diverted_to_important_servers),
        cmocka_unit_test(test_claim1_a_stop_and_the_divert_it_frees_are_planned_together),
        cmocka_unit_test(test_reserve_not_known_is_never_diverted),
        cmocka_unit_test(test_claim10_server_battery_diverted_to_another_server),
        cmocka_unit_test(test_claim9_claim12_reserves_from_all_servers_to_the_top_server),
        cmocka_unit_test(test_claim9_claim12_stopped_servers_batteries_go_one_to_each_top_server),
        cmocka_unit_test(test_claim13_stops_that_free_a_reserve_are_staged_by_priority),
        cmocka_unit_test(test_claim8_claim11_consolidates_onto_fewest_servers),
        cmocka_unit_test(test_no_move_without_headroom),
        cmocka_unit_test(test_slack_lets_less_important_run_without_creeping),
        cmocka_unit_test(
            test_slack_never_lets_less_important_work_draw_until_the_more_important_loses_power),
        cmocka_unit_test(test_commitments_rise_with_the_best_and_never_fall),
        cmocka_unit_test(test_claim7_operator_command_plans_as_if_mains_failed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
