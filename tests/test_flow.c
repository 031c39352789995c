/*
 * test_flow.c - what each bus carries (flow.h) and the one random generator
 * (splitmix.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "rack.h"
#include "splitmix.h"

static void test_spread_single_bus_carries_its_servers(void **state)
{
    (void)state;
    int64_t cap[2] = {4000, 3000}, load[2];
    uint32_t mask[] = {1, 2}, worst;
    int64_t dem[] = {1000, 1500};
    double r = flow_spread(2, cap, 2, mask, dem, load, &worst);
    assert_true(r == 0.5);
    assert_int_equal(worst, 2);
    assert_int_equal(load[0], 1000);
    assert_int_equal(load[1], 1500);
}

static void test_spread_dual_servers_balance_the_buses(void **state)
{
    (void)state;
    int64_t cap[2] = {5000, 5000}, load[2];
    uint32_t mask[] = {1, 3}, worst;
    int64_t dem[] = {3000, 1000};
    double r = flow_spread(2, cap, 2, mask, dem, load, &worst);
    assert_true(fabs(r - 0.6) < 1e-9);
    assert_true(load[0] >= 2990 && load[0] <= 3010);
    assert_int_equal(load[0] + load[1], 4000);
    /* the dual demand went to B: A carries only what must be on A */
    assert_true(load[1] >= 990);
}

static void test_spread_overload_names_the_short_buses(void **state)
{
    (void)state;
    int64_t cap[3] = {2000, 6000, 1000}, load[3];
    uint32_t mask[] = {1, 3, 4}, worst;
    int64_t dem[] = {2500, 1000, 500};
    double r = flow_spread(3, cap, 3, mask, dem, load, &worst);
    assert_true(fabs(r - 1.25) < 1e-9);
    assert_int_equal(worst, 1); /* A alone; the dual server is fed from B */
    cap[0] = 0;
    r = flow_spread(3, cap, 3, mask, dem, load, &worst);
    assert_true(isinf(r));
    assert_int_equal(worst & 1, 1);
    assert_int_equal(load[0], 0);
}

static struct rack_psu psus[2];
static struct rack_server servers[2];

/* Two buses: ps1 (5000 W) on A, ps2 (3000 W) on B; a1 wired to A only, ab to
 * both; both off. */
static void two_bus_rack(struct rack *r)
{
    rack_init(r);
    r->nfeeds = 1;
    r->nbuses = 2;
    psus[0] = (struct rack_psu){.rated_mw = 5000000, .derated_mw = 5000000, .wired = 3, .bus = 0};
    psus[1] = (struct rack_psu){.rated_mw = 3000000, .derated_mw = 3000000, .wired = 3, .bus = 1};
    servers[0] = (struct rack_server){.power_mw = 1000000, .wired = 1, .chassis = -1};
    servers[1] = (struct rack_server){.power_mw = 4000000, .wired = 3, .chassis = -1};
    r->psus = psus;
    r->npsus = 2;
    r->servers = servers;
    r->nservers = 2;
}

static void test_rack_capacity_counts_live_psus_on_live_buses(void **state)
{
    (void)state;
    struct rack r;
    two_bus_rack(&r);
    int64_t cap[RACK_MAX_BUSES];
    flow_bus_capacity(&r, cap);
    assert_int_equal(cap[0], 5000000);
    assert_int_equal(cap[1], 3000000);
    r.bus_failed[1] = true;
    flow_bus_capacity(&r, cap);
    assert_int_equal(cap[1], 0);
    r.bus_failed[1] = false;
    r.psus[0].health = RACK_PSU_FAILED;
    flow_bus_capacity(&r, cap);
    assert_int_equal(cap[0], 0);
}

static void test_rack_loads_split_granted_power_by_capacity(void **state)
{
    (void)state;
    struct rack r;
    two_bus_rack(&r);
    int64_t cap[RACK_MAX_BUSES], load[RACK_MAX_BUSES];
    r.servers[1].state = RACK_SRV_ON; /* ab: 4000 W on A and B */
    r.servers[1].alloc_mw = 4000000;
    double ratio = flow_rack(&r, NULL, cap, load);
    assert_true(fabs(ratio - 0.5) < 1e-9);
    assert_true(llabs(load[0] - 2500000) <= 10);
    assert_true(llabs(load[1] - 1500000) <= 10);
    assert_int_equal(load[0] + load[1], 4000000);
    /* given draws instead of grants: a1 draws 1000 W from A */
    int64_t draw[2] = {1000000, 0};
    ratio = flow_rack(&r, draw, cap, load);
    assert_true(fabs(ratio - 0.2) < 1e-9);
    assert_int_equal(load[0], 1000000);
    assert_int_equal(load[1], 0);
    /* a drawing server with no live bus: infeasible */
    r.servers[1].wired = 1u << 1;
    r.bus_failed[1] = true;
    assert_true(isinf(flow_rack(&r, NULL, cap, load)));
}

static void test_splitmix64_is_the_published_sequence(void **state)
{
    (void)state;
    uint64_t s = 0;
    assert_true(splitmix64_next(&s) == 0xe220a8397b1dcdafull);
    uint64_t a = 42, b = 42;
    for (int i = 0; i < 1000; i++) {
        double u = splitmix64_unit(&a);
        assert_true(u >= 0 && u < 1);
        assert_true(u == splitmix64_unit(&b));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_single_bus_carries_its_servers),
        cmocka_unit_test(test_spread_dual_servers_balance_the_buses),
        cmocka_unit_test(test_spread_overload_names_the_short_buses),
        cmocka_unit_test(test_rack_capacity_counts_live_psus_on_live_buses),
        cmocka_unit_test(test_rack_loads_split_granted_power_by_capacity),
        cmocka_unit_test(test_splitmix64_is_the_published_sequence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
