/*
 * test_evjson.c - the readable line of an event, read from its JSON: the
 * simulator, the daemon's log and rackpowerctl all print it from here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "evjson.h"

static void line_of(const char *json, char *buf, size_t len)
{
    json_t *ev = json_loads(json, 0, NULL);
    assert_non_null(ev);
    struct evjson_text x;
    evjson_text(ev, &x);
    evjson_columns(&x, buf, len);
    json_decref(ev);
}

static void test_line_names_subject_figure_and_why(void **state)
{
    (void)state;
    char b[256];
    line_of("{\"event\":\"grant\",\"server\":\"db1\",\"watts\":1000,\"priority\":1,"
            "\"capacity_w\":10000,\"allocated_w\":1000,\"reason\":\"fits\"}",
            b, sizeof(b));
    assert_string_equal(b, "grant       db1        1000 W p1     fits");
    line_of("{\"event\":\"switch\",\"psu\":\"ps4\",\"from\":null,\"to\":\"A\",\"instant\":false,"
            "\"reason\":\"r\"}",
            b, sizeof(b));
    assert_string_equal(b, "switch      ps4        - -> A (slow) r");
    line_of("{\"event\":\"protection\",\"protected\":false,\"level\":\"n+1\",\"reason\":\"r\"}", b,
            sizeof(b));
    assert_string_equal(b, "protection  n+1        NOT protected r");
    /* a line shows whole watts, rounded half away from zero as the policy's
     * reasons are; the JSON keeps the fraction */
    line_of("{\"event\":\"psu_degrade\",\"psu\":\"ps2\",\"capacity_w\":1500.5}", b, sizeof(b));
    assert_string_equal(b, "psu_degrade ps2        1501 W        ");
    line_of("{\"event\":\"psu_degrade\",\"psu\":\"ps2\",\"capacity_w\":1500.499}", b, sizeof(b));
    assert_string_equal(b, "psu_degrade ps2        1500 W        ");
    line_of("{\"event\":\"report\",\"server\":\"db1\",\"watts\":812}", b, sizeof(b));
    assert_string_equal(b, "report      db1        812 W         ");
    line_of("{\"event\":\"device\",\"device\":\"psu-shelf\",\"state\":\"down\",\"reason\":\"x\"}",
            b, sizeof(b));
    assert_string_equal(b, "device      psu-shelf  down          x");
    line_of("{}", b, sizeof(b));
    assert_string_equal(b, "                                     "); /* 11 + 10 + 13 + 3 */
}

static void test_seconds_integer_when_whole(void **state)
{
    (void)state;
    json_t *t = evjson_seconds(12000000000);
    assert_true(json_is_integer(t));
    assert_int_equal(json_integer_value(t), 12);
    json_decref(t);
    t = evjson_seconds(1500000000);
    assert_true(json_is_real(t));
    assert_true(json_real_value(t) == 1.5);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_names_subject_figure_and_why),
        cmocka_unit_test(test_seconds_integer_when_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
