/*
 * test_alarms.c - active alarms from conditions (src/daemon/alarms.h): one
 * raise when a condition appears, one clear when it goes, nothing while it
 * lasts, and the since of the raise kept throughout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alarms.h"

static struct alarm_set active, now, raised, cleared;

static int teardown(void **state)
{
    (void)state;
    alarm_set_free(&active);
    alarm_set_free(&now);
    alarm_set_free(&raised);
    alarm_set_free(&cleared);
    return 0;
}

/* The conditions that hold at t_ns, then the update. */
static void update(int64_t t_ns)
{
    assert_int_equal(alarms_update(&active, &now, t_ns, &raised, &cleared), 0);
    alarm_set_clear(&now);
}

static void holds(enum alarm_kind kind, const char *subject, const char *reason)
{
    assert_int_equal(alarm_set_add(&now, kind, subject, reason), 0);
}

static void test_alarm_raises_once_and_keeps_its_since(void **state)
{
    (void)state;
    holds(ALARM_DEVICE_DOWN, "modbus-tcp 10.0.0.5:502", "connection refused");
    update(1000);
    assert_int_equal(raised.n, 1);
    assert_int_equal(cleared.n, 0);
    assert_int_equal(raised.v[0].kind, ALARM_DEVICE_DOWN);
    assert_string_equal(raised.v[0].subject, "modbus-tcp 10.0.0.5:502");
    assert_string_equal(raised.v[0].reason, "connection refused");
    assert_int_equal(raised.v[0].since_ns, 1000);
    /* still down: no new raise, the same since, the latest reason */
    holds(ALARM_DEVICE_DOWN, "modbus-tcp 10.0.0.5:502", "timed out");
    update(5000);
    assert_int_equal(raised.n, 0);
    assert_int_equal(cleared.n, 0);
    assert_int_equal(active.n, 1);
    assert_int_equal(active.v[0].since_ns, 1000);
    assert_string_equal(active.v[0].reason, "timed out");
}

static void test_alarm_clears_once_when_its_condition_goes(void **state)
{
    (void)state;
    holds(ALARM_REDUNDANCY_LOST, "r1", "n+1: losing p1 would leave A 2000 W for 2500 W");
    update(10);
    update(20); /* the rack is protected again */
    assert_int_equal(raised.n, 0);
    assert_int_equal(cleared.n, 1);
    assert_int_equal(cleared.v[0].kind, ALARM_REDUNDANCY_LOST);
    assert_string_equal(cleared.v[0].subject, "r1");
    assert_int_equal(cleared.v[0].since_ns, 10);
    assert_string_equal(cleared.v[0].reason, "n+1: losing p1 would leave A 2000 W for 2500 W");
    assert_int_equal(active.n, 0);
    update(30);
    assert_int_equal(cleared.n, 0);
    /* it comes back: a new raise with a new since */
    holds(ALARM_REDUNDANCY_LOST, "r1", "again");
    update(40);
    assert_int_equal(raised.n, 1);
    assert_int_equal(raised.v[0].since_ns, 40);
}

static void test_alarms_are_told_apart_by_kind_and_subject(void **state)
{
    (void)state;
    holds(ALARM_PSU_UNKNOWN, "p1", "no answer");
    holds(ALARM_PSU_UNKNOWN, "p2", "no answer");
    holds(ALARM_DEVICE_DOWN, "p1", "a device named like a psu");
    update(1);
    assert_int_equal(raised.n, 3);
    holds(ALARM_PSU_UNKNOWN, "p2", "no answer");
    holds(ALARM_DEVICE_DOWN, "p1", "still");
    update(2);
    assert_int_equal(raised.n, 0);
    assert_int_equal(cleared.n, 1);
    assert_int_equal(cleared.v[0].kind, ALARM_PSU_UNKNOWN);
    assert_string_equal(cleared.v[0].subject, "p1");
    assert_non_null(alarm_set_find(&active, ALARM_PSU_UNKNOWN, "p2"));
    assert_non_null(alarm_set_find(&active, ALARM_DEVICE_DOWN, "p1"));
    assert_null(alarm_set_find(&active, ALARM_PSU_UNKNOWN, "p1"));
}

static void test_active_alarms_keep_the_order_of_raising(void **state)
{
    (void)state;
    holds(ALARM_DEVICE_DOWN, "d2", "");
    update(1);
    holds(ALARM_DEVICE_DOWN, "d1", "");
    holds(ALARM_DEVICE_DOWN, "d2", "");
    update(2);
    holds(ALARM_DEVICE_DOWN, "d3", "");
    holds(ALARM_DEVICE_DOWN, "d1", "");
    holds(ALARM_DEVICE_DOWN, "d2", "");
    update(3);
    assert_int_equal(active.n, 3);
    assert_string_equal(active.v[0].subject, "d2");
    assert_string_equal(active.v[1].subject, "d1");
    assert_string_equal(active.v[2].subject, "d3");
}

static void test_a_condition_said_twice_raises_once(void **state)
{
    (void)state;
    holds(ALARM_DEVICE_DOWN, "d1", "first");
    holds(ALARM_DEVICE_DOWN, "d1", "second");
    update(1);
    assert_int_equal(raised.n, 1);
    assert_int_equal(active.n, 1);
    assert_string_equal(active.v[0].reason, "first");
}

static void test_alarm_texts_are_cut_to_their_fields(void **state)
{
    (void)state;
    char longer[2 * ALARM_REASON_LEN];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    holds(ALARM_DEVICE_DOWN, longer, longer);
    update(1);
    assert_int_equal(strlen(active.v[0].subject), ALARM_SUBJECT_LEN - 1);
    assert_int_equal(strlen(active.v[0].reason), ALARM_REASON_LEN - 1);
}

static void test_alarm_kind_names(void **state)
{
    (void)state;
    assert_string_equal(alarm_kind_name(ALARM_DEVICE_DOWN), "device_down");
    assert_string_equal(alarm_kind_name(ALARM_PSU_UNKNOWN), "psu_unknown");
    assert_string_equal(alarm_kind_name(ALARM_REDUNDANCY_LOST), "redundancy_lost");
    assert_string_equal(alarm_kind_name(ALARM_DATABASE_REPLACED), "database_replaced");
    assert_string_equal(alarm_kind_name(ALARM_OVER_DRAW), "over_draw");
    assert_string_equal(alarm_kind_name(ALARM_LOST_POWER), "lost_power");
    assert_string_equal(alarm_kind_name(ALARM_PEER_LOST), "peer_lost");
    assert_string_equal(alarm_kind_name(ALARM_NKINDS), "?");
    for (int k = 0; k < ALARM_NKINDS; k++)
        assert_string_not_equal(alarm_kind_name((enum alarm_kind)k), "?");
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_alarm_raises_once_and_keeps_its_since),
        T(test_alarm_clears_once_when_its_condition_goes),
        T(test_alarms_are_told_apart_by_kind_and_subject),
        T(test_active_alarms_keep_the_order_of_raising),
        T(test_a_condition_said_twice_raises_once),
        T(test_alarm_texts_are_cut_to_their_fields),
        T(test_alarm_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
