/*
 * test_ages.c - the ages of readings in the API's snapshot (src/daemon/view.h,
 * docs/api.md "Ages"): each PSU, server and device carries age_s, read_at and
 * stale; a reading never read is null, not 0; the status lists the PSUs the
 * protection check cannot count and how many readings are stale.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rackfile.h"
#include "view.h"

#define S(x) ((int64_t)((x)*1e9))

static const char rack_text[] = "rack:\n"
                                "  name: r1\n"
                                "  protection: n+1\n"
                                "  buses: [A, B]\n"
                                "  psus:\n"
                                "    - {id: p1, capacity_w: 2000, buses: [A, B], bus: A}\n"
                                "    - {id: p2, capacity_w: 2000, buses: [A, B], bus: B}\n"
                                "  servers:\n"
                                "    - {id: db1, power_w: 1500, priority: 1, buses: [A, B]}\n"
                                "    - {id: web1, power_w: 800, priority: 3, buses: [A, B]}\n";

struct fix {
    struct rack r;
    bool psu_oos[2], bus_oos[2];
    struct driver_psu_reading tel[2];
    struct view_device dev[1];
    struct view_read psu_read[2], srv_read[2];
    struct view_in in;
};

/* The daemon started at mono 1000 s, Unix 1700000000 s; now is 100 s later. */
static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    char err[256];
    if (!f ||
        rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &f->r, NULL, err, sizeof(err)))
        return -1;
    f->tel[0] = (struct driver_psu_reading){.psu = 0,
                                            .out_mw = 1200000,
                                            .in_mw = 1250000,
                                            .out_mv = 51000,
                                            .out_ma = 23500,
                                            .temp_mc = 30000};
    f->tel[1] = (struct driver_psu_reading){.psu = 1,
                                            .out_mw = 800000,
                                            .in_mw = 830000,
                                            .out_mv = 51000,
                                            .out_ma = 15700,
                                            .temp_mc = 29000};
    snprintf(f->dev[0].name, sizeof(f->dev[0].name), "modbus-tcp 127.0.0.1:502");
    f->dev[0].up = true;
    f->dev[0].read_ns = S(1000 + 99.5);
    f->dev[0].stale_after_ns = view_stale_after_ns(S(0.5));
    f->psu_read[0] = (struct view_read){S(1000 + 98.8), 0};  /* 1.2 s old */
    f->psu_read[1] = (struct view_read){S(1000 + 87.66), 0}; /* 12.34 s old */
    f->srv_read[0] = (struct view_read){S(1000 + 99.5), 0};  /* 0.5 s old */
    f->srv_read[1] = (struct view_read){INT64_MIN, -1};      /* never read */
    f->in = (struct view_in){.r = &f->r,
                             .psu_oos = f->psu_oos,
                             .bus_oos = f->bus_oos,
                             .tel = f->tel,
                             .devices = f->dev,
                             .ndevices = 1,
                             .psu_read = f->psu_read,
                             .srv_read = f->srv_read,
                             .start_ns = S(1000),
                             .t_ns = S(100),
                             .started = 1700000000.0,
                             .version = "test"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    rack_free(&f->r);
    free(f);
    return 0;
}

/* A snapshot's JSON text, parsed (the caller frees it). */
static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!o)
        fail_msg("not JSON: %s: %s", je.text, text);
    return o;
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("%s is not a number", key);
    return json_number_value(v);
}

static void test_stale_after_is_three_polls_never_under_three_seconds(void **state)
{
    (void)state;
    assert_int_equal(view_stale_after_ns(S(0.2)), S(3));
    assert_int_equal(view_stale_after_ns(S(1)), S(3));
    assert_int_equal(view_stale_after_ns(S(2)), S(6));
    assert_int_equal(view_stale_after_ns(INT64_MAX / 2), INT64_MAX); /* no overflow */
}

static void test_every_reading_carries_its_age_and_read_time(void **state)
{
    struct fix *f = *state;
    struct hub_snap *s = view_build(&f->in);
    assert_non_null(s);
    json_t *p1 = parse(s->psus.json[0]), *p2 = parse(s->psus.json[1]);
    assert_true(num(p1, "age_s") == 1.2);
    assert_true(num(p1, "read_at") == 1700000098.8);
    assert_true(json_is_false(json_object_get(p1, "stale")));
    assert_true(num(p1, "output_w") == 1200);
    /* 12.34 s: to the tenth, past the 3 s of a 500 ms poll: stale, figures kept */
    assert_true(num(p2, "age_s") == 12.3);
    assert_true(json_is_true(json_object_get(p2, "stale")));
    assert_true(num(p2, "output_w") == 800);
    json_t *db1 = parse(s->servers.json[0]);
    assert_true(num(db1, "age_s") == 0.5);
    assert_true(json_is_false(json_object_get(db1, "stale")));
    json_t *st = parse(s->status);
    json_t *d = json_array_get(json_object_get(st, "devices"), 0);
    assert_true(num(d, "age_s") == 0.5);
    assert_true(num(d, "stale_after_s") == 3);
    assert_true(json_is_false(json_object_get(d, "stale")));
    json_decref(p1);
    json_decref(p2);
    json_decref(db1);
    json_decref(st);
    hub_snap_free(s);
}

static void test_a_reading_never_read_is_null_not_zero(void **state)
{
    struct fix *f = *state;
    f->tel[1].psu = -1; /* ps2: no telemetry yet */
    f->psu_read[1] = (struct view_read){INT64_MIN, -1};
    struct hub_snap *s = view_build(&f->in);
    assert_non_null(s);
    json_t *web1 = parse(s->servers.json[1]), *p2 = parse(s->psus.json[1]);
    assert_true(json_is_null(json_object_get(web1, "age_s")));
    assert_true(json_is_null(json_object_get(web1, "read_at")));
    assert_true(json_is_null(json_object_get(web1, "draw_w")));
    assert_true(json_is_false(json_object_get(web1, "stale")));
    assert_true(json_is_null(json_object_get(p2, "age_s")));
    assert_true(json_is_null(json_object_get(p2, "output_w")));
    assert_true(json_is_null(json_object_get(p2, "temperature_c")));
    assert_true(json_is_false(json_object_get(p2, "stale")));
    json_decref(web1);
    json_decref(p2);
    hub_snap_free(s);
}

static void test_status_lists_unknown_psus_and_counts_stale_readings(void **state)
{
    struct fix *f = *state;
    struct hub_snap *s = view_build(&f->in);
    json_t *st = parse(s->status);
    assert_int_equal(json_array_size(json_object_get(st, "unknown")), 0);
    json_t *stale = json_object_get(st, "stale");
    assert_int_equal(json_integer_value(json_object_get(stale, "psus")), 1);
    assert_int_equal(json_integer_value(json_object_get(stale, "servers")), 0);
    json_decref(st);
    hub_snap_free(s);

    /* p2's device stopped answering: its health is unknown */
    f->r.psus[1].health = RACK_PSU_UNKNOWN;
    f->srv_read[0].at_ns = S(1000 + 90); /* 10 s old: stale too */
    s = view_build(&f->in);
    st = parse(s->status);
    json_t *u = json_object_get(st, "unknown");
    assert_int_equal(json_array_size(u), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(u, 0), "psu")), "p2");
    assert_true(num(json_array_get(u, 0), "age_s") == 12.3);
    stale = json_object_get(st, "stale");
    assert_int_equal(json_integer_value(json_object_get(stale, "psus")), 1);
    assert_int_equal(json_integer_value(json_object_get(stale, "servers")), 1);
    json_t *p2 = parse(s->psus.json[1]);
    assert_string_equal(json_string_value(json_object_get(p2, "state")), "unknown");
    json_decref(p2);
    json_decref(st);
    hub_snap_free(s);
}

static void test_ages_grow_with_the_clock(void **state)
{
    struct fix *f = *state;
    f->in.t_ns = S(130); /* 30 s later, nothing read */
    struct hub_snap *s = view_build(&f->in);
    json_t *p1 = parse(s->psus.json[0]), *st = parse(s->status);
    assert_true(num(p1, "age_s") == 31.2);
    assert_true(num(p1, "read_at") == 1700000098.8); /* the read did not move */
    assert_true(json_is_true(json_object_get(p1, "stale")));
    json_t *d = json_array_get(json_object_get(st, "devices"), 0);
    assert_true(num(d, "age_s") == 30.5);
    assert_true(json_is_true(json_object_get(d, "stale")));
    json_decref(p1);
    json_decref(st);
    hub_snap_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_after_is_three_polls_never_under_three_seconds),
        cmocka_unit_test_setup_teardown(test_every_reading_carries_its_age_and_read_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_reading_never_read_is_null_not_zero, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_status_lists_unknown_psus_and_counts_stale_readings,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ages_grow_with_the_clock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
