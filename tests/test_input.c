/*
 * test_input.c - what a policy input names and whether it fits the rack
 * (policy_input_target, policy_input_subject, policy_input_check).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

/* Two buses, one feed, two PSUs of 1000 W, three servers. */
static void small_rack(struct rack *r)
{
    rack_init(r);
    r->nbuses = 2;
    snprintf(r->buses[0], RACK_ID_LEN, "A");
    snprintf(r->buses[1], RACK_ID_LEN, "B");
    r->nfeeds = 1;
    snprintf(r->feeds[0], RACK_ID_LEN, "F1");
    r->npsus = 2;
    r->psus = calloc(2, sizeof(*r->psus));
    for (int i = 0; i < 2; i++) {
        snprintf(r->psus[i].id, RACK_ID_LEN, "ps%d", i + 1);
        r->psus[i].rated_mw = r->psus[i].derated_mw = 1000000;
        r->psus[i].wired = 3u;
        r->psus[i].bus = i;
    }
    r->nservers = 3;
    r->servers = calloc(3, sizeof(*r->servers));
    for (int i = 0; i < 3; i++) {
        snprintf(r->servers[i].id, RACK_ID_LEN, "s%d", i + 1);
        r->servers[i].power_mw = r->servers[i].min_mw = 300000;
        r->servers[i].priority = 1;
        r->servers[i].wired = 3u;
        r->servers[i].chassis = -1;
        r->servers[i].draw_mw = -1;
        r->servers[i].on_draw_mw = -1;
    }
}

static int check(const struct rack *r, enum policy_input_kind k, int index, int64_t mw, char *err,
                 size_t len)
{
    struct policy_input in = {.kind = k, .index = index, .watts_mw = mw};
    err[0] = 0;
    return policy_input_check(r, &in, err, len);
}

static void test_input_target_names_element_kind(void **state)
{
    (void)state;
    assert_int_equal(policy_input_target(POLICY_POWER_ON), POLICY_TARGET_SERVER);
    assert_int_equal(policy_input_target(POLICY_POWER_OFF), POLICY_TARGET_SERVER);
    assert_int_equal(policy_input_target(POLICY_REMOVE), POLICY_TARGET_SERVER);
    assert_int_equal(policy_input_target(POLICY_REPORT), POLICY_TARGET_SERVER);
    assert_int_equal(policy_input_target(POLICY_LOST_POWER), POLICY_TARGET_SERVER);
    assert_string_equal(policy_input_name(POLICY_LOST_POWER), "lost_power");
    assert_int_equal(policy_input_target(POLICY_PSU_FAIL), POLICY_TARGET_PSU);
    assert_int_equal(policy_input_target(POLICY_PSU_DEGRADE), POLICY_TARGET_PSU);
    assert_int_equal(policy_input_target(POLICY_PSU_REPAIR), POLICY_TARGET_PSU);
    assert_int_equal(policy_input_target(POLICY_PSU_UNKNOWN), POLICY_TARGET_PSU);
    assert_string_equal(policy_input_name(POLICY_PSU_UNKNOWN), "psu_unknown");
    assert_int_equal(policy_input_target(POLICY_BUS_FAIL), POLICY_TARGET_BUS);
    assert_int_equal(policy_input_target(POLICY_BUS_REPAIR), POLICY_TARGET_BUS);
    assert_int_equal(policy_input_target(POLICY_FEED_FAIL), POLICY_TARGET_FEED);
    assert_int_equal(policy_input_target(POLICY_FEED_REPAIR), POLICY_TARGET_FEED);
    assert_int_equal(policy_input_target(POLICY_TICK), POLICY_TARGET_NONE);
    assert_int_equal(policy_input_target((enum policy_input_kind)999), POLICY_TARGET_NONE);
    assert_string_equal(policy_target_name(POLICY_TARGET_PSU), "psu");
    assert_string_equal(policy_target_name((enum policy_target)99), "?");
}

static void test_input_subject_is_the_element_id(void **state)
{
    (void)state;
    struct rack r;
    small_rack(&r);
    struct policy_input in = {.kind = POLICY_POWER_ON, .index = 2};
    assert_string_equal(policy_input_subject(&r, &in), "s3");
    in = (struct policy_input){.kind = POLICY_PSU_DEGRADE, .index = 1};
    assert_string_equal(policy_input_subject(&r, &in), "ps2");
    in = (struct policy_input){.kind = POLICY_BUS_FAIL, .index = 1};
    assert_string_equal(policy_input_subject(&r, &in), "B");
    in = (struct policy_input){.kind = POLICY_FEED_REPAIR, .index = 0};
    assert_string_equal(policy_input_subject(&r, &in), "F1");
    rack_free(&r);
}

static void test_input_subject_null_when_nothing_named(void **state)
{
    (void)state;
    struct rack r;
    small_rack(&r);
    struct policy_input in = {.kind = POLICY_TICK};
    assert_null(policy_input_subject(&r, &in));
    in = (struct policy_input){.kind = POLICY_PSU_FAIL, .index = 2};
    assert_null(policy_input_subject(&r, &in));
    in = (struct policy_input){.kind = POLICY_REPORT, .index = -1};
    assert_null(policy_input_subject(&r, &in));
    in = (struct policy_input){.kind = POLICY_FEED_FAIL, .index = 1};
    assert_null(policy_input_subject(&r, &in));
    in = (struct policy_input){.kind = (enum policy_input_kind)999, .index = 0};
    assert_null(policy_input_subject(&r, &in));
    rack_free(&r);
}

static void test_input_check_accepts_what_fits(void **state)
{
    (void)state;
    struct rack r;
    small_rack(&r);
    char err[160];
    assert_int_equal(check(&r, POLICY_TICK, 0, 0, err, sizeof(err)), 0);
    assert_int_equal(check(&r, POLICY_TICK, 42, 0, err, sizeof(err)), 0);
    assert_int_equal(check(&r, POLICY_POWER_ON, 2, 0, err, sizeof(err)), 0);
    assert_int_equal(check(&r, POLICY_PSU_DEGRADE, 0, 1000000, err, sizeof(err)), 0);
    assert_int_equal(check(&r, POLICY_PSU_DEGRADE, 0, 1, err, sizeof(err)), 0);
    assert_int_equal(check(&r, POLICY_REPORT, 0, 0, err, sizeof(err)), 0);
    assert_int_equal(check(&r, POLICY_REPORT, 0, POLICY_MAX_REPORT_MW, err, sizeof(err)), 0);
    /* valid even when it changes nothing: the policy says "ignored" itself */
    assert_int_equal(check(&r, POLICY_PSU_REPAIR, 1, 0, err, sizeof(err)), 0);
    assert_int_equal(check(&r, POLICY_BUS_REPAIR, 1, 0, err, sizeof(err)), 0);
    rack_free(&r);
}

static void test_input_check_refuses_index_out_of_range(void **state)
{
    (void)state;
    struct rack r;
    small_rack(&r);
    char err[160];
    assert_int_equal(check(&r, POLICY_POWER_OFF, 3, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "power_off: no element 3 in this rack (3 servers)");
    assert_int_equal(check(&r, POLICY_PSU_FAIL, -1, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "psu_fail: no element -1 in this rack (2 psus)");
    assert_int_equal(check(&r, POLICY_BUS_FAIL, 2, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "bus_fail: no element 2 in this rack (2 buses)");
    assert_int_equal(check(&r, POLICY_FEED_REPAIR, 1, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "feed_repair: no element 1 in this rack (1 feed)");
    rack_free(&r);
}

static void test_input_check_refuses_bad_watts(void **state)
{
    (void)state;
    struct rack r;
    small_rack(&r);
    char err[160];
    assert_int_equal(check(&r, POLICY_PSU_DEGRADE, 1, 1000001, err, sizeof(err)), -1);
    assert_string_equal(
        err, "psu_degrade ps2: capacity must be > 0 and at most its rated 1000 W, got 1000 W");
    assert_int_equal(check(&r, POLICY_PSU_DEGRADE, 0, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "psu_degrade ps1: capacity must be > 0"));
    assert_int_equal(check(&r, POLICY_PSU_DEGRADE, 0, -5000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "got -5 W"));
    assert_int_equal(check(&r, POLICY_REPORT, 1, -1000, err, sizeof(err)), -1);
    assert_string_equal(err, "report s2: draw must be 0 to 1e+07 W, got -1 W");
    assert_int_equal(check(&r, POLICY_REPORT, 1, POLICY_MAX_REPORT_MW + 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "report s2: draw must be 0 to"));
    rack_free(&r);
}

static void test_input_check_refuses_unknown_kind(void **state)
{
    (void)state;
    struct rack r;
    small_rack(&r);
    char err[160];
    assert_int_equal(check(&r, (enum policy_input_kind)999, 0, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown input kind 999");
    assert_int_equal(check(&r, (enum policy_input_kind) - 1, 0, 0, err, sizeof(err)), -1);
    assert_string_equal(policy_input_name((enum policy_input_kind)999), "?");
    rack_free(&r);
}

/* The policy refuses what the check refuses, and leaves the rack as it was. */
static void test_policy_handle_refuses_what_check_refuses(void **state)
{
    (void)state;
    struct rack r;
    small_rack(&r);
    struct policy *p = policy_new(&r);
    assert_non_null(p);
    struct policy_actions a = {0};
    char err[160], want[160];
    struct policy_input bad[] = {
        {.kind = POLICY_PSU_FAIL, .index = 5},
        {.kind = POLICY_PSU_DEGRADE, .index = 0, .watts_mw = 2000000},
        {.kind = POLICY_REPORT, .index = 0, .watts_mw = -1},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        assert_int_equal(policy_input_check(&r, &bad[k], want, sizeof(want)), -1);
        assert_int_equal(policy_handle(p, &r, &bad[k], 0, &a, err, sizeof(err)), -1);
        assert_string_equal(err, want);
        assert_int_equal(a.n, 0);
    }
    assert_int_equal(r.psus[0].health, RACK_PSU_OK);
    assert_int_equal(r.servers[0].draw_mw, -1);
    policy_free(p);
    policy_actions_free(&a);
    rack_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input_target_names_element_kind),
        cmocka_unit_test(test_input_subject_is_the_element_id),
        cmocka_unit_test(test_input_subject_null_when_nothing_named),
        cmocka_unit_test(test_input_check_accepts_what_fits),
        cmocka_unit_test(test_input_check_refuses_index_out_of_range),
        cmocka_unit_test(test_input_check_refuses_bad_watts),
        cmocka_unit_test(test_input_check_refuses_unknown_kind),
        cmocka_unit_test(test_policy_handle_refuses_what_check_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
