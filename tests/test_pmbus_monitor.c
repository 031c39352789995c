/*
 * test_pmbus_monitor.c - the pure PSU health debouncer and brownout
 * debouncer (src/wire/pmbus_monitor.h), without any file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pmbus_monitor.h"

enum { A_TEMP_WARN, A_VOUT_LOST, A_VIN_FAULT, A_FAN_FAULT, NA };

/* Defaults (3, 5, 3, 3) and four alarms: an over-temperature warning, the
 * output lost (a pgood alarm), an input fault, a fan fault. */
static void setup_monitor(struct pmbus_monitor *m)
{
    pmbus_monitor_init(m, NULL);
    assert_int_equal(
        pmbus_monitor_add_alarm(m, PMBUS_STATUS_TEMPERATURE, PMBUS_TEMP_OT_WARN, false, false),
        A_TEMP_WARN);
    assert_int_equal(
        pmbus_monitor_add_alarm(m, PMBUS_STATUS_VOUT, PMBUS_VOUT_UV_FAULT, true, false),
        A_VOUT_LOST);
    assert_int_equal(
        pmbus_monitor_add_alarm(m, PMBUS_STATUS_INPUT, PMBUS_INPUT_VIN_UV_WARN, false, true),
        A_VIN_FAULT);
    assert_int_equal(
        pmbus_monitor_add_alarm(m, PMBUS_STATUS_FANS_1_2, PMBUS_FAN1_FAULT, false, false),
        A_FAN_FAULT);
}

static void feed_one(struct pmbus_monitor *m, int alarm)
{
    bool set[NA] = {0};
    if (alarm >= 0)
        set[alarm] = true;
    pmbus_monitor_feed(m, set, NA);
}

static void test_healthy_psu_says_nothing(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    for (int i = 0; i < 10; i++) {
        feed_one(&m, -1);
        assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    }
    assert_int_equal(pmbus_monitor_health(&m, NULL, 0), PMBUS_HEALTH_OK);
}

static void test_warning_degrades_after_fault_reads_and_clears_after_clear_reads(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    feed_one(&m, A_TEMP_WARN);
    feed_one(&m, A_TEMP_WARN);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    feed_one(&m, A_TEMP_WARN);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_HEALTH);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE); /* told once */
    char why[64];
    assert_int_equal(pmbus_monitor_health(&m, why, sizeof(why)), PMBUS_HEALTH_DEGRADED);
    assert_non_null(strstr(why, "OT_WARN"));
    assert_true(m.alarms[A_TEMP_WARN].active);
    feed_one(&m, -1);
    feed_one(&m, -1);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    feed_one(&m, -1);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_HEALTH);
    assert_int_equal(pmbus_monitor_health(&m, NULL, 0), PMBUS_HEALTH_OK);
}

static void test_interrupted_alarm_does_not_count(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    for (int i = 0; i < 5; i++) {
        feed_one(&m, A_TEMP_WARN);
        feed_one(&m, A_TEMP_WARN);
        feed_one(&m, -1);
        assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    }
}

static void test_output_lost_needs_pgood_reads(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    for (int i = 0; i < 4; i++) {
        feed_one(&m, A_VOUT_LOST);
        assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    }
    feed_one(&m, A_VOUT_LOST);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_HEALTH);
    assert_int_equal(pmbus_monitor_health(&m, NULL, 0), PMBUS_HEALTH_FAILED);
}

/* A VIN warning bit marked as an input fault fails the PSU (hwmon's rule). */
static void test_input_fault_fails_the_psu(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    for (int i = 0; i < 3; i++)
        feed_one(&m, A_VIN_FAULT);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_HEALTH);
    assert_int_equal(pmbus_monitor_health(&m, NULL, 0), PMBUS_HEALTH_FAILED);
}

static void test_fan_fault_fails(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    for (int i = 0; i < 3; i++)
        feed_one(&m, A_FAN_FAULT);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_HEALTH);
    char why[64];
    assert_int_equal(pmbus_monitor_health(&m, why, sizeof(why)), PMBUS_HEALTH_FAILED);
    assert_non_null(strstr(why, "FAN1_FAULT"));
}

static void test_comm_lost_after_comm_reads_and_health_again_when_back(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    pmbus_monitor_feed_fail(&m);
    pmbus_monitor_feed_fail(&m);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    pmbus_monitor_feed_fail(&m);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_COMM_LOST);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    for (int i = 0; i < 5; i++)
        pmbus_monitor_feed_fail(&m);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    feed_one(&m, -1);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_COMM_BACK);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_HEALTH); /* said again, even if ok */
    assert_int_equal(pmbus_monitor_health(&m, NULL, 0), PMBUS_HEALTH_OK);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
}

static void test_failed_reads_between_good_ones_are_no_comm_loss(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    for (int i = 0; i < 5; i++) {
        pmbus_monitor_feed_fail(&m);
        pmbus_monitor_feed_fail(&m);
        feed_one(&m, -1);
        assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_NONE);
    }
}

/* The alarms keep their debounce across failed reads: a failed read is no
 * clean read. */
static void test_failed_read_leaves_alarm_counts(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    feed_one(&m, A_TEMP_WARN);
    feed_one(&m, A_TEMP_WARN);
    pmbus_monitor_feed_fail(&m);
    feed_one(&m, A_TEMP_WARN);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_HEALTH);
}

static void test_config_below_one_is_one_and_alarms_are_bounded(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    struct pmbus_monitor_config c = {0, -4, 0, 0};
    pmbus_monitor_init(&m, &c);
    assert_int_equal(m.cfg.fault_reads, 1);
    assert_int_equal(m.cfg.pgood_reads, 1);
    assert_int_equal(m.cfg.clear_reads, 1);
    assert_int_equal(m.cfg.comm_reads, 1);
    for (int i = 0; i < PMBUS_MONITOR_MAX_ALARMS; i++)
        assert_int_equal(
            pmbus_monitor_add_alarm(&m, PMBUS_STATUS_WORD, PMBUS_SW_UNKNOWN, false, false), i);
    assert_int_equal(pmbus_monitor_add_alarm(&m, PMBUS_STATUS_WORD, PMBUS_SW_UNKNOWN, false, false),
                     -1);
    pmbus_monitor_feed_fail(&m);
    assert_int_equal(pmbus_monitor_next(&m), PMBUS_NEWS_COMM_LOST);
}

/* Fewer alarms in a read than the monitor has: the others keep their state. */
static void test_short_read_leaves_other_alarms(void **state)
{
    (void)state;
    struct pmbus_monitor m;
    setup_monitor(&m);
    for (int i = 0; i < 3; i++)
        feed_one(&m, A_FAN_FAULT);
    assert_true(m.alarms[A_FAN_FAULT].active);
    bool set[1] = {false};
    for (int i = 0; i < 5; i++)
        pmbus_monitor_feed(&m, set, 1);
    assert_true(m.alarms[A_FAN_FAULT].active);
}

static void test_blackout_debounced_like_a_fault(void **state)
{
    (void)state;
    struct pmbus_blackout b;
    pmbus_blackout_init(&b, NULL);
    assert_false(pmbus_blackout_mute(&b));
    pmbus_blackout_feed(&b, 2, true);
    assert_true(pmbus_blackout_mute(&b)); /* suspected: per-PSU news wait */
    assert_false(pmbus_blackout_news(&b));
    pmbus_blackout_feed(&b, 2, true);
    pmbus_blackout_feed(&b, 0, false); /* nobody read: changes nothing */
    assert_false(pmbus_blackout_news(&b));
    pmbus_blackout_feed(&b, 1, true);
    assert_true(b.active);
    assert_true(pmbus_blackout_news(&b));
    assert_false(pmbus_blackout_news(&b));
    for (int i = 0; i < 2; i++) {
        pmbus_blackout_feed(&b, 2, false);
        assert_false(pmbus_blackout_news(&b));
        assert_true(pmbus_blackout_mute(&b));
    }
    pmbus_blackout_feed(&b, 2, false);
    assert_false(b.active);
    assert_true(pmbus_blackout_mute(&b)); /* over, not yet told */
    assert_true(pmbus_blackout_news(&b));
    assert_false(pmbus_blackout_mute(&b)); /* told: the PSUs catch up */
}

static void test_blackout_interrupted_is_no_blackout(void **state)
{
    (void)state;
    struct pmbus_blackout b;
    pmbus_blackout_init(&b, NULL);
    for (int i = 0; i < 4; i++) {
        pmbus_blackout_feed(&b, 2, true);
        pmbus_blackout_feed(&b, 2, true);
        pmbus_blackout_feed(&b, 2, false);
        assert_false(pmbus_blackout_news(&b));
    }
    assert_false(pmbus_blackout_mute(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_psu_says_nothing),
        cmocka_unit_test(test_warning_degrades_after_fault_reads_and_clears_after_clear_reads),
        cmocka_unit_test(test_interrupted_alarm_does_not_count),
        cmocka_unit_test(test_output_lost_needs_pgood_reads),
        cmocka_unit_test(test_input_fault_fails_the_psu),
        cmocka_unit_test(test_fan_fault_fails),
        cmocka_unit_test(test_comm_lost_after_comm_reads_and_health_again_when_back),
        cmocka_unit_test(test_failed_reads_between_good_ones_are_no_comm_loss),
        cmocka_unit_test(test_failed_read_leaves_alarm_counts),
        cmocka_unit_test(test_config_below_one_is_one_and_alarms_are_bounded),
        cmocka_unit_test(test_short_read_leaves_other_alarms),
        cmocka_unit_test(test_blackout_debounced_like_a_fault),
        cmocka_unit_test(test_blackout_interrupted_is_no_blackout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
