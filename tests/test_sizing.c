/*
 * test_sizing.c - the sizing check of rack files (sizing.h): the figures
 * (total, per bus, per feed, the worst single failure, the protected
 * capacity, the demand by priority), the routing's verdicts, and each
 * warning about a rack that cannot work.
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

#include "rackfile.h"
#include "sizing.h"

static struct rack r;
static struct sizing s;

static void load(const char *text)
{
    char err[512];
    int rc = rackfile_load_string("t.yaml", text, strlen(text), &r, NULL, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(sizing_check(&r, &s), 0);
}

static int teardown(void **state)
{
    (void)state;
    rack_free(&r);
    return 0;
}

/* The warning that contains want, or fail with all of them. */
static void expect_warning(const char *want)
{
    for (int k = 0; k < s.nwarnings; k++)
        if (strstr(s.warnings[k], want))
            return;
    for (int k = 0; k < s.nwarnings; k++)
        print_message("warning: %s\n", s.warnings[k]);
    fail_msg("no warning with '%s' (%d warnings)", want, s.nwarnings);
}

#define DEMO                                                                                       \
    "rack:\n"                                                                                      \
    "  name: demo\n"                                                                               \
    "  protection: n+1\n"                                                                          \
    "  feeds: [F1, F2]\n"                                                                          \
    "  buses: [A, B]\n"                                                                            \
    "  psus:\n"                                                                                    \
    "    - {id: ps1, capacity_w: 2000, feed: F1, buses: [A, B], bus: A, switch: fet}\n"            \
    "    - {id: ps2, capacity_w: 2000, feed: F2, buses: [A, B], bus: A, switch: fet}\n"            \
    "    - {id: ps3, capacity_w: 3000, feed: F1, buses: [A, B], bus: B, switch: fet}\n"            \
    "    - {id: ps4, capacity_w: 3000, feed: F2, buses: [A, B], bus: B, switch: fet}\n"            \
    "  servers:\n"                                                                                 \
    "    - {id: db1, power_w: 1000, priority: 1, buses: [A, B]}\n"                                 \
    "    - {id: app1, power_w: 1200, min_w: 800, priority: 2, buses: [A]}\n"                       \
    "    - {id: web1, power_w: 1300, priority: 3, buses: [A]}\n"                                   \
    "    - {id: web2, power_w: 800, priority: 3, buses: [B]}\n"                                    \
    "    - {id: batch1, power_w: 700, priority: 4, buses: [B]}\n"                                  \
    "    - {id: ml1, power_w: 3000, priority: 5, buses: [A, B]}\n"

static void test_figures_total_per_bus_per_feed(void **state)
{
    (void)state;
    load(DEMO);
    assert_int_equal(s.total_mw, 10000000);
    assert_int_equal(s.bus_now_mw[0], 4000000); /* ps1 + ps2 as written */
    assert_int_equal(s.bus_now_mw[1], 6000000);
    assert_int_equal(s.bus_reach_mw[0], 10000000);
    assert_int_equal(s.bus_reach_mw[1], 10000000);
    assert_int_equal(s.feed_mw[0], 5000000);
    assert_int_equal(s.feed_mw[1], 5000000);
}

static void test_worst_single_failure_is_named(void **state)
{
    (void)state;
    load(DEMO);
    /* a feed takes two PSUs: 5000 W left, the first of the two equal feeds */
    assert_int_equal(s.worst.kind, ROUTE_FAIL_FEED);
    assert_int_equal(s.worst.index, 0);
    assert_int_equal(s.worst.left_mw, 5000000);
    /* n+1 protects against one PSU: the largest, ps3 */
    assert_int_equal(s.worst_protected.kind, ROUTE_FAIL_PSU);
    assert_int_equal(s.worst_protected.index, 2);
    assert_int_equal(s.worst_protected.left_mw, 7000000);
}

static void test_demand_sums_by_priority(void **state)
{
    (void)state;
    load(DEMO);
    assert_int_equal(s.power_mw, 8000000);
    assert_int_equal(s.min_mw, 7600000);
    assert_int_equal(s.npriorities, 5);
    assert_int_equal(s.prio_power_mw[2], 2100000); /* web1 + web2 */
    assert_int_equal(s.prio_servers[2], 2);
    assert_int_equal(s.prio_min_mw[1], 800000);
}

/* 8000 W of demand, 7000 W after ps3 fails: served, not protected. */
static void test_demand_above_protected_capacity_warns(void **state)
{
    (void)state;
    load(DEMO);
    assert_true(s.power_served);
    assert_false(s.power_protected);
    expect_warning("demand: the servers ask 8000 W (power_w), above the 7000 W that n+1 "
                   "protection keeps after PSU ps3 fails");
}

static void test_sound_rack_has_no_warning(void **state)
{
    (void)state;
    load("rack:\n"
         "  protection: n+n\n"
         "  feeds: [F1, F2]\n"
         "  buses: [A, B]\n"
         "  psus:\n"
         "    - {id: p1, capacity_w: 3000, feed: F1, buses: [A], bus: A}\n"
         "    - {id: p2, capacity_w: 3000, feed: F2, buses: [B], bus: B}\n"
         "  servers:\n"
         "    - {id: s1, power_w: 1000, priority: 1, buses: [A, B]}\n"
         "    - {id: s2, power_w: 1500, priority: 2, buses: [A, B]}\n");
    assert_int_equal(s.nwarnings, 0);
    assert_true(s.power_protected);
    assert_true(s.min_protected);
    /* n+n: the worst of the feeds and buses */
    assert_int_equal(s.worst_protected.kind, ROUTE_FAIL_FEED);
    assert_int_equal(s.worst_protected.left_mw, 3000000);
}

static void test_bus_no_psu_reaches_warns(void **state)
{
    (void)state;
    load("rack:\n"
         "  feeds: [F1]\n"
         "  buses: [A, B]\n"
         "  psus:\n"
         "    - {id: p1, capacity_w: 3000, feed: F1, buses: [A], bus: A}\n"
         "  servers:\n"
         "    - {id: s1, power_w: 1000, priority: 1, buses: [B]}\n");
    expect_warning("bus B: no PSU is wired to it");
    expect_warning("server s1: no PSU is wired to its bus B: it can never be powered");
    assert_false(s.power_served);
    expect_warning("demand: not every server can be granted its power_w at once: bus B needs "
                   "1000 W, 0 W can feed them");
}

static void test_feed_with_no_psu_warns(void **state)
{
    (void)state;
    load("rack:\n"
         "  protection: none\n"
         "  feeds: [F1, F2]\n"
         "  buses: [A]\n"
         "  psus:\n"
         "    - {id: p1, capacity_w: 3000, feed: F1, buses: [A], bus: A}\n"
         "  servers:\n"
         "    - {id: s1, power_w: 1000, priority: 1, buses: [A]}\n");
    expect_warning("feed F2: no PSU draws from it");
    assert_int_equal(s.nwarnings, 1);
}

/* Larger than every PSU that can reach its buses: capped at best, or never. */
static void test_server_larger_than_its_reach_warns(void **state)
{
    (void)state;
    load("rack:\n"
         "  feeds: [F1]\n"
         "  buses: [A, B]\n"
         "  psus:\n"
         "    - {id: p1, capacity_w: 2000, feed: F1, buses: [A], bus: A}\n"
         "    - {id: p2, capacity_w: 5000, feed: F1, buses: [B], bus: B}\n"
         "  servers:\n"
         "    - {id: big, power_w: 2500, priority: 1, buses: [A]}\n"
         "    - {id: capme, power_w: 2500, min_w: 1500, priority: 2, buses: [A]}\n"
         "    - {id: fits, power_w: 4000, priority: 3, buses: [B]}\n");
    expect_warning("server big: asks 2500 W, more than all the PSUs that reach A deliver "
                   "(2000 W): it can never be powered");
    expect_warning("server capme: asks 2500 W, more than all the PSUs that reach A deliver "
                   "(2000 W): it can only run capped");
    for (int k = 0; k < s.nwarnings; k++)
        assert_null(strstr(s.warnings[k], "server fits"));
}

/* Protected by sums, not by buses: the routing says so and names why. */
static void test_protection_judged_per_bus_not_by_sums(void **state)
{
    (void)state;
    load("rack:\n"
         "  protection: n+1\n"
         "  feeds: [F1]\n"
         "  buses: [A, B]\n"
         "  psus:\n"
         "    - {id: p1, capacity_w: 2000, feed: F1, buses: [A], bus: A}\n"
         "    - {id: p2, capacity_w: 2000, feed: F1, buses: [B], bus: B}\n"
         "    - {id: p3, capacity_w: 2000, feed: F1, buses: [B], bus: B}\n"
         "  servers:\n"
         "    - {id: s1, power_w: 1500, priority: 1, buses: [A]}\n");
    /* 1500 W against 4000 W after any one PSU; but p1 alone feeds A */
    assert_true(s.power_served);
    assert_false(s.power_protected);
    expect_warning("with n+1 protection: after PSU p1 fails, no PSU left can reach s1's bus A");
}

static void test_print_names_figures_and_warnings(void **state)
{
    (void)state;
    load(DEMO);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sizing_print(f, &r, &s);
    fclose(f);
    assert_non_null(strstr(buf, "capacity: 10000 W from 4 PSUs\n"));
    assert_non_null(strstr(buf, "  bus A: 4000 W switched onto it as written, 10000 W wired"));
    assert_non_null(strstr(buf, "worst single failure: feed F1 (ps1, ps3): 5000 W left\n"));
    assert_non_null(strstr(buf, "protected capacity (n+1): 7000 W, after PSU ps3 fails\n"));
    assert_non_null(strstr(buf, "demand: 8000 W at power_w, 7600 W at min_w, 6 servers\n"));
    assert_non_null(strstr(buf, "  priority 3: 2100 W at power_w, 2100 W at min_w, 2 servers\n"));
    assert_non_null(strstr(buf, "all servers at power_w: can all be served, not protected\n"));
    assert_non_null(strstr(buf, "warning: demand: the servers ask 8000 W"));
    free(buf);
}

/* ---- reserves (docs/outage.md): runtimes with no mains, the energy model's ---- */

#define RESERVE_RACK                                                                               \
    "rack:\n"                                                                                      \
    "  feeds: [F1, F2]\n"                                                                          \
    "  buses: [A, B]\n"                                                                            \
    "  psus:\n"                                                                                    \
    "    - {id: pa, capacity_w: 3000, feed: F1, buses: [A]}\n"                                     \
    "    - {id: pb, capacity_w: 3000, feed: F2, buses: [B]}\n"                                     \
    "  servers:\n"                                                                                 \
    "    - {id: db1, power_w: 1800, buses: [A]}\n"                                                 \
    "    - {id: w1, power_w: 900, buses: [B]}\n"                                                   \
    "  qos_classes: {critical: 1, bronze: 4}\n"                                                    \
    "  activities:\n"                                                                              \
    "    - {id: orders, qos: critical, servers: [db1]}\n"                                          \
    "    - {id: batch, qos: bronze, servers: [w1]}\n"

/* Warnings about reserves (the rack's others are tested above). */
static int reserve_warnings(void)
{
    int n = 0;
    for (int k = 0; k < s.nwarnings; k++)
        n += !strncmp(s.warnings[k], "reserve ", 8);
    return n;
}

static void test_rack_without_reserves_shows_none(void **state)
{
    (void)state;
    load(DEMO);
    assert_int_equal(s.nreserves, 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sizing_print(f, &r, &s);
    fclose(f);
    assert_null(strstr(buf, "reserve"));
    assert_null(strstr(buf, "most important set"));
    free(buf);
}

static void test_bbu_runtimes_at_full_load_and_of_the_most_important_set(void **state)
{
    (void)state;
    load(RESERVE_RACK "  reserves:\n"
                      "    - {id: bbuA, kind: bbu, bus: A, energy_wh: 632, max_w: 9000, switch: "
                      "{buses: [B]}}\n"
                      "    - {id: bbuB, kind: bbu, bus: B, energy_wh: 632, max_w: 9000, switch: "
                      "{buses: [A]}}\n");
    double at_1800 = 632 * 0.95 * 3600 / 1800, at_900 = 632 * 0.95 * 3600 / 900;
    assert_int_equal(s.nreserves, 2);
    assert_float_equal(s.reserve_wh, 1264, 1e-9);
    assert_float_equal(s.load_w, 2700, 1e-9);
    assert_float_equal(s.reserve[0].full_w, 1800, 1e-6); /* bus A's load */
    assert_float_equal(s.reserve[0].runtime_s, at_1800, 1e-6);
    assert_float_equal(s.reserve[1].full_w, 900, 1e-6);
    assert_float_equal(s.reserve[1].runtime_s, at_900, 1e-6);
    /* bbuA empties first and db1, on bus A only, goes dark */
    assert_float_equal(s.full_runtime_s, at_1800, 1e-3);
    assert_float_equal(s.full_short_w, 0, 1e-9);
    /* orders alone: bbuA as placed; with bbuB switched onto bus A, both share it */
    assert_int_equal(s.top_priority, 1);
    assert_int_equal(s.top_servers, 1);
    assert_float_equal(s.top_w, 1800, 1e-9);
    assert_float_equal(s.top_runtime_s, at_1800, 1e-3);
    assert_float_equal(s.top_switched_s, at_900, 1e-3);
    assert_int_equal(reserve_warnings(), 0);
}

static void test_ups_above_rated_w_loses_energy_to_peukert(void **state)
{
    (void)state;
    load("rack:\n"
         "  buses: [A]\n"
         "  psus:\n"
         "    - {id: p1, capacity_w: 6000, buses: [A]}\n"
         "    - {id: p2, capacity_w: 3000, buses: [A]}\n"
         "  servers:\n"
         "    - {id: s1, power_w: 6000, priority: 1, buses: [A]}\n"
         "  reserves:\n"
         "    - {id: ups1, kind: ups, energy_wh: 1000, max_w: 6000, rated_w: 3000}\n");
    /* lead-acid by default: 92 %, Peukert 1.15 above rated_w */
    double want = 1000 * 3600 / (6000 / 0.92 * pow(2, 0.15));
    assert_float_equal(s.reserve[0].full_w, 6000, 1e-6);
    assert_float_equal(s.reserve[0].runtime_s, want, 1e-6);
    assert_float_equal(s.full_runtime_s, want, 1e-3);
    assert_int_equal(s.top_priority, 0); /* no activities: no set */
    assert_int_equal(reserve_warnings(), 0);
}

static void test_reserve_asked_more_than_its_max_w_warns(void **state)
{
    (void)state;
    load(RESERVE_RACK "  reserves:\n"
                      "    - {id: ups1, kind: ups, feed: F1, energy_wh: 500, max_w: 1000}\n"
                      "    - {id: bat1, kind: server, server: w1, energy_wh: 50, max_w: 600}\n");
    expect_warning("reserve ups1: feed F1 asks 1800 W of it with no mains and every server at "
                   "power_w, above its max_w 1000 W: it cannot carry what it is placed to carry");
    expect_warning("reserve bat1: server w1 asks 900 W of it");
    assert_int_equal(reserve_warnings(), 2);
    assert_float_equal(s.reserve[0].asked_w, 1800, 1e-6);
    assert_float_equal(s.reserve[0].full_w, 1000, 1e-6);
    assert_float_equal(s.full_short_w, 800 + 300, 1e-6);
    assert_float_equal(s.full_runtime_s, 0, 1e-9);
}

static void test_server_battery_carries_its_server(void **state)
{
    (void)state;
    load(RESERVE_RACK "  reserves:\n"
                      "    - {id: bat1, kind: server, server: db1, energy_wh: 50, max_w: 2000, "
                      "switch: {servers: [w1]}}\n");
    double at_1800 = 50 * 0.95 * 3600 / 1800;
    assert_float_equal(s.reserve[0].full_w, 1800, 1e-6);
    assert_float_equal(s.reserve[0].runtime_s, at_1800, 1e-6);
    /* w1 has nothing at all: the rack is short at once */
    assert_float_equal(s.full_short_w, 900, 1e-6);
    assert_float_equal(s.top_runtime_s, at_1800, 1e-3);
    assert_float_equal(s.top_switched_s, at_1800, 1e-3); /* not idle: it stays */
}

static void test_idle_batteries_spread_over_the_set(void **state)
{
    (void)state;
    /* Two critical servers with a battery each, two idle batteries that can
     * be switched to either: one goes to each, so both last twice as long. */
    load("rack:\n"
         "  buses: [A]\n"
         "  psus:\n"
         "    - {id: p, capacity_w: 6000, buses: [A]}\n"
         "  servers:\n"
         "    - {id: db1, power_w: 1000, buses: [A]}\n"
         "    - {id: db2, power_w: 1000, buses: [A]}\n"
         "    - {id: w1, power_w: 500, buses: [A]}\n"
         "    - {id: w2, power_w: 500, buses: [A]}\n"
         "  qos_classes: {critical: 1, bronze: 4}\n"
         "  activities:\n"
         "    - {id: db, qos: critical, servers: [db1, db2]}\n"
         "    - {id: web, qos: bronze, servers: [w1, w2]}\n"
         "  reserves:\n"
         "    - {id: b1, kind: server, server: db1, energy_wh: 100, max_w: 2000}\n"
         "    - {id: b2, kind: server, server: db2, energy_wh: 100, max_w: 2000}\n"
         "    - {id: b3, kind: server, server: w1, energy_wh: 100, max_w: 2000, switch: "
         "{servers: [db1, db2]}}\n"
         "    - {id: b4, kind: server, server: w2, energy_wh: 100, max_w: 2000, switch: "
         "{servers: [db1, db2]}}\n");
    double one = 100 * 0.95 * 3600 / 1000;
    assert_float_equal(s.top_runtime_s, one, 1e-3);
    assert_float_equal(s.top_switched_s, 2 * one, 1e-3);
}

static void test_print_shows_reserves_and_the_set(void **state)
{
    (void)state;
    load(RESERVE_RACK "  reserves:\n"
                      "    - {id: bbuA, kind: bbu, bus: A, energy_wh: 632, max_w: 9000, switch: "
                      "{buses: [B]}}\n"
                      "    - {id: bbuB, kind: bbu, bus: B, energy_wh: 632, max_w: 9000, switch: "
                      "{buses: [A]}}\n");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sizing_print(f, &r, &s);
    fclose(f);
    assert_non_null(strstr(buf, "reserves: 1264 Wh in 2, with no mains on any feed and every "
                                "server at power_w (2700 W):\n"
                                "  reserve bbuA (bbu on bus A): 632 Wh, max 9000 W: gives 1800 W, "
                                "1201 s\n"
                                "  reserve bbuB (bbu on bus B): 632 Wh, max 9000 W: gives 900 W, "
                                "2402 s\n"
                                "  every server: 1201 s until one lacks power\n"
                                "most important set (priority 1: orders): 1800 W on 1 server, "
                                "everything else stopped: 1201 s as placed, 2402 s with the "
                                "reserves idle for it switched to it\n"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_figures_total_per_bus_per_feed, teardown),
        cmocka_unit_test_teardown(test_worst_single_failure_is_named, teardown),
        cmocka_unit_test_teardown(test_demand_sums_by_priority, teardown),
        cmocka_unit_test_teardown(test_demand_above_protected_capacity_warns, teardown),
        cmocka_unit_test_teardown(test_sound_rack_has_no_warning, teardown),
        cmocka_unit_test_teardown(test_bus_no_psu_reaches_warns, teardown),
        cmocka_unit_test_teardown(test_feed_with_no_psu_warns, teardown),
        cmocka_unit_test_teardown(test_server_larger_than_its_reach_warns, teardown),
        cmocka_unit_test_teardown(test_protection_judged_per_bus_not_by_sums, teardown),
        cmocka_unit_test_teardown(test_print_names_figures_and_warnings, teardown),
        cmocka_unit_test_teardown(test_rack_without_reserves_shows_none, teardown),
        cmocka_unit_test_teardown(test_bbu_runtimes_at_full_load_and_of_the_most_important_set,
                                  teardown),
        cmocka_unit_test_teardown(test_ups_above_rated_w_loses_energy_to_peukert, teardown),
        cmocka_unit_test_teardown(test_reserve_asked_more_than_its_max_w_warns, teardown),
        cmocka_unit_test_teardown(test_server_battery_carries_its_server, teardown),
        cmocka_unit_test_teardown(test_idle_batteries_spread_over_the_set, teardown),
        cmocka_unit_test_teardown(test_print_shows_reserves_and_the_set, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
