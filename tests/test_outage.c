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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
