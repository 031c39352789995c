/*
 * test_evjson.c - the readable line of an event, read from its JSON: the
 * simulator, the daemon's log and rackpowerctl all print it from here.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "evjson.h"
#include "evjson_outage.h"
#include "outage_rack.h"

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

/* The outage events' fields (docs/outage.md), and their readable line. */
static void test_outage_steps_and_reserves_carry_their_figures(void **state)
{
    (void)state;
    struct rack r;
    orack_init(&r, 1, 2);
    int db1 = orack_server(&r, "db1", 500, 9, 1);
    int db2 = orack_server(&r, "db2", 500, 9, 2);
    orack_activity(&r, "orders", 1, db1, 1, 1, &db2);
    int bbu = orack_reserve(&r, "bbu1", RACK_RESERVE_BBU, 0, 1000, 3000);
    r.reserves[bbu].wh_left = 512.3456;
    r.reserves[bbu].watts = 500;
    struct outage_step stop = {.kind = OUTAGE_STEP_STOP,
                               .reserve = -1,
                               .to_bus = -1,
                               .to_server = -1,
                               .activity = 0,
                               .server = db1,
                               .watts = 500,
                               .stage = 2,
                               .now = false,
                               .at_wh = 12.34567,
                               .at_s = 60,
                               .gain_s = INFINITY};
    snprintf(stop.reason, sizeof(stop.reason), "why");
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(outage_step_name(stop.kind)));
    evjson_outage_step(o, &r, &stop);
    assert_string_equal(json_string_value(json_object_get(o, "server")), "db1");
    assert_string_equal(json_string_value(json_object_get(o, "activity")), "orders");
    assert_int_equal(json_integer_value(json_object_get(o, "stage")), 2);
    assert_true(json_is_false(json_object_get(o, "now")));
    assert_true(fabs(json_number_value(json_object_get(o, "wh_left")) - 12.346) < 1e-9);
    assert_true(json_is_null(json_object_get(o, "gain_s")));
    struct outage_plan p = {0};
    double rt[1] = {INFINITY};
    p.runtime_s = rt;
    p.nruntime = 1;
    evjson_outage_runtimes(o, &r, &p);
    assert_true(json_is_null(json_object_get(json_object_get(o, "runtime_s"), "orders")));
    char b[256];
    struct evjson_text x;
    evjson_text(o, &x);
    evjson_columns(&x, b, sizeof(b));
    assert_string_equal(b, "stop        db1        stage 2       why");
    json_decref(o);

    struct outage_step mv = {.kind = OUTAGE_STEP_MOVE,
                             .reserve = -1,
                             .to_bus = -1,
                             .to_server = db2,
                             .activity = 0,
                             .server = db1,
                             .watts = 500};
    o = json_object();
    json_object_set_new(o, "event", json_string("move"));
    evjson_outage_step(o, &r, &mv);
    evjson_text(o, &x);
    evjson_columns(&x, b, sizeof(b));
    assert_string_equal(b, "move        orders     db1 -> db2    ");
    json_decref(o);

    struct outage_step dv = {.kind = OUTAGE_STEP_DIVERT,
                             .reserve = bbu,
                             .to_bus = 1,
                             .to_server = -1,
                             .activity = -1,
                             .server = -1,
                             .watts = 250};
    o = json_object();
    json_object_set_new(o, "event", json_string("divert"));
    evjson_outage_step(o, &r, &dv);
    assert_string_equal(json_string_value(json_object_get(o, "to")), "B");
    assert_int_equal(json_integer_value(json_object_get(o, "watts")), 250);
    json_decref(o);

    o = json_object();
    json_object_set_new(o, "event", json_string("reserve"));
    evjson_reserve(o, &r, bbu, 3686.4);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "bbu1");
    assert_true(fabs(json_number_value(json_object_get(o, "wh_left")) - 512.346) < 1e-9);
    assert_true(fabs(json_number_value(json_object_get(o, "runtime_s")) - 3686.4) < 1e-9);
    assert_true(json_is_true(json_object_get(o, "known")));
    evjson_text(o, &x);
    evjson_columns(&x, b, sizeof(b));
    assert_string_equal(b, "reserve     bbu1       512 Wh        ");
    json_decref(o);
    rack_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outage_steps_and_reserves_carry_their_figures),
        cmocka_unit_test(test_line_names_subject_figure_and_why),
        cmocka_unit_test(test_seconds_integer_when_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
