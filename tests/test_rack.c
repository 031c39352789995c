/*
 * test_rack.c - the rack model: lookups, what a PSU delivers given its
 * health, feed and bus, copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rack.h"

static void two_psus(struct rack *r)
{
    rack_init(r);
    r->nbuses = 2;
    strcpy(r->buses[0], "A");
    strcpy(r->buses[1], "B");
    r->nfeeds = 2;
    strcpy(r->feeds[0], "F1");
    strcpy(r->feeds[1], "F2");
    r->npsus = 2;
    r->psus = calloc(2, sizeof(*r->psus));
    for (int i = 0; i < 2; i++) {
        snprintf(r->psus[i].id, RACK_ID_LEN, "ps%d", i + 1);
        r->psus[i].rated_mw = r->psus[i].derated_mw = 3000000;
        r->psus[i].feed = i;
        r->psus[i].wired = 3;
        r->psus[i].bus = i;
    }
    r->nservers = 1;
    r->servers = calloc(1, sizeof(*r->servers));
    strcpy(r->servers[0].id, "db1");
}

static void test_lookups_find_by_id(void **state)
{
    (void)state;
    struct rack r;
    two_psus(&r);
    assert_int_equal(rack_find_psu(&r, "ps2"), 1);
    assert_int_equal(rack_find_psu(&r, "ps3"), -1);
    assert_int_equal(rack_find_bus(&r, "B"), 1);
    assert_int_equal(rack_find_feed(&r, "F1"), 0);
    assert_int_equal(rack_find_server(&r, "db1"), 0);
    assert_int_equal(rack_find_server(&r, "DB1"), -1);
    rack_free(&r);
}

static void test_capacity_follows_health_feed_and_bus(void **state)
{
    (void)state;
    struct rack r;
    two_psus(&r);
    assert_int_equal(rack_capacity_mw(&r), 6000000);
    r.psus[0].health = RACK_PSU_DEGRADED;
    r.psus[0].derated_mw = 1000000;
    assert_int_equal(rack_capacity_mw(&r), 4000000);
    r.feed_failed[1] = true; /* ps2's feed */
    assert_int_equal(rack_capacity_mw(&r), 1000000);
    assert_false(rack_psu_alive(&r, &r.psus[1]));
    r.feed_failed[1] = false;
    r.bus_failed[1] = true; /* ps2 alive but on a dead bus */
    assert_true(rack_psu_alive(&r, &r.psus[1]));
    assert_int_equal(rack_psu_capacity_mw(&r, &r.psus[1]), 0);
    assert_int_equal(rack_alive_buses(&r), 1u);
    r.psus[0].health = RACK_PSU_FAILED;
    assert_int_equal(rack_capacity_mw(&r), 0);
    rack_free(&r);
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    struct rack r, c;
    two_psus(&r);
    assert_int_equal(rack_copy(&c, &r), 0);
    c.psus[0].bus = 1;
    strcpy(c.servers[0].id, "other");
    assert_int_equal(r.psus[0].bus, 0);
    assert_string_equal(r.servers[0].id, "db1");
    rack_free(&c);
    rack_free(&r);
}

static void test_allocated_counts_on_and_capped_only(void **state)
{
    (void)state;
    struct rack r;
    two_psus(&r);
    r.servers[0].alloc_mw = 500000;
    r.servers[0].state = RACK_SRV_CAPPED;
    assert_int_equal(rack_allocated_mw(&r), 500000);
    r.servers[0].state = RACK_SRV_SHED;
    assert_int_equal(rack_allocated_mw(&r), 0);
    rack_free(&r);
}

static void test_names_are_the_documented_words(void **state)
{
    (void)state;
    assert_string_equal(rack_protection_name(RACK_PROT_NN), "n+n");
    assert_string_equal(rack_switch_name(RACK_SWITCH_BREAKER), "breaker");
    assert_string_equal(rack_psu_health_name(RACK_PSU_DEGRADED), "degraded");
    assert_string_equal(rack_psu_health_name(RACK_PSU_UNKNOWN), "unknown");
    assert_string_equal(rack_server_state_name(RACK_SRV_WAITING), "waiting");
    assert_true(rack_switch_default_ns(RACK_SWITCH_FET) < RACK_DEFAULT_HOLDUP_NS);
    assert_true(rack_switch_default_ns(RACK_SWITCH_RELAY) > RACK_DEFAULT_HOLDUP_NS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups_find_by_id),
        cmocka_unit_test(test_capacity_follows_health_feed_and_bus),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_allocated_counts_on_and_capped_only),
        cmocka_unit_test(test_names_are_the_documented_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
