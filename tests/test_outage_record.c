/*
 * test_outage_record.c - the outage record across a fail-over
 * (src/daemon/outage_run.h, docs/outage.md "Several controllers"): what a
 * primary's orun_record says, a secondary's orun_follow takes in its own
 * clock (the same outage, stop phases and due times, holds, commitments,
 * the operator's start); a record that is not one changes nothing; a
 * controller elected during an outage carries it on without a second start
 * and ends it only on a reading taken since its promotion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outage_run.h"
#include "rackfile.h"
#include "testdir.h"

static const char rack_text[] =
    "rack:\n"
    "  name: r1\n"
    "  protection: none\n"
    "  feeds: [F1]\n"
    "  buses: [A]\n"
    "  psus:\n"
    "    - {id: p1, capacity_w: 3000, feed: F1, buses: [A], bus: A}\n"
    "  servers:\n"
    "    - {id: db1, power_w: 1000, buses: [A]}\n"
    "    - {id: app1, power_w: 600, buses: [A]}\n"
    "    - {id: batch1, power_w: 800, buses: [A]}\n"
    "  qos_classes: {critical: 1, gold: 2, bronze: 4}\n"
    "  activities:\n"
    "    - {id: orders, qos: critical, servers: [db1], stop_s: 1}\n"
    "    - {id: shop, qos: gold, servers: [app1], stop_s: 1}\n"
    "    - {id: batch, qos: bronze, servers: [batch1], stop_s: 1}\n"
    "  reserves:\n"
    "    - {id: bbu1, kind: bbu, bus: A, energy_wh: 400, max_w: 3000}\n"
    "  outage: {ride_through_s: 600, mains_stable_s: 2, min_charge_pct: 0}\n";

#define S 1000000000LL

/* Two controllers, each with its rack, store, decider and orun. */
struct ctl {
    char dir[64], path[128];
    struct rack rack;
    bool psu_oos[1], bus_oos[1];
    struct store *store;
    struct decider dec;
    struct orun o;
};
static struct ctl prim, sec;
static char err[512];

static int ctl_open(struct ctl *c, const char *name)
{
    memset(c, 0, sizeof(*c));
    if (testdir_make(c->dir, sizeof(c->dir), c->path, sizeof(c->path), name) ||
        rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &c->rack, NULL, err,
                             sizeof(err)) ||
        !(c->store = store_open(c->path, false, err, sizeof(err))) ||
        decider_init(&c->dec, &c->rack, c->store, c->psu_oos, c->bus_oos, 0, err, sizeof(err)))
        return -1;
    struct orun_hooks h = {0};
    return orun_init(&c->o, &c->dec, NULL, NULL, 0, &h, err, sizeof(err));
}

static void ctl_close(struct ctl *c)
{
    orun_fini(&c->o);
    decider_fini(&c->dec);
    store_close(c->store);
    rack_free(&c->rack);
    testdir_remove(c->dir);
}

static int setup(void **state)
{
    (void)state;
    return ctl_open(&prim, "test_outage_record_p") || ctl_open(&sec, "test_outage_record_s");
}

static int teardown(void **state)
{
    (void)state;
    ctl_close(&prim);
    ctl_close(&sec);
    return 0;
}

/* The primary, 30 s into the operator's outage at its clock's 1000 s:
 * batch1 held (stage 1), app1 told OB LB (stage 2, soft-off in 4 s), a
 * commitment for priority 1 100 s ahead, bbu1 read 2 s ago at 60 %. */
static const int64_t p_now = 1000 * S;

static void primary_in_an_outage(void)
{
    struct orun *o = &prim.o;
    o->o = (struct outage){.active = true,
                           .cause = OUTAGE_CAUSE_OPERATOR,
                           .since_ns = p_now - 30 * S,
                           .mains_back_ns = INT64_MIN,
                           .stages = 2,
                           .nfloors = 1,
                           .floor_priority = {1},
                           .floor_ns = {p_now + 100 * S},
                           .floors_since_ns = p_now - 30 * S};
    o->operator_on = true;
    snprintf(o->operator_who, sizeof(o->operator_who), "uid:0");
    snprintf(o->cause_reason, sizeof(o->cause_reason), "started by uid:0");
    o->last_start_wall = 1795000000.5;
    o->srv[2] = (struct orun_server){.phase = ORUN_HELD, .stage = 1};
    prim.rack.servers[2].held = true;
    prim.rack.servers[2].state = RACK_SRV_SHED;
    o->srv[1] = (struct orun_server){.phase = ORUN_STAGED, .stage = 2, .due_ns = p_now + 4 * S};
    o->res[0].read_by_device = true;
    o->res[0].read_ns = p_now - 2 * S;
    o->res[0].charge_pct = 60;
    snprintf(o->res[0].status, sizeof(o->res[0].status), "unit 64: 107=0000");
    prim.rack.reserves[0].wh_left = 240;
}

static void test_a_followed_record_is_the_same_outage_in_the_secondarys_clock(void **state)
{
    (void)state;
    primary_in_an_outage();
    json_t *rec = orun_record(&prim.o, p_now);
    assert_non_null(rec);
    /* the secondary's clock started elsewhere: 5000 s */
    const int64_t s_now = 5000 * S;
    assert_int_equal(orun_follow(&sec.o, rec, s_now, err, sizeof(err)), 0);
    json_decref(rec);
    const struct orun *f = &sec.o;
    assert_true(f->o.active);
    assert_int_equal(f->o.cause, OUTAGE_CAUSE_OPERATOR);
    assert_true(f->o.since_ns == s_now - 30 * S);
    assert_int_equal(f->o.stages, 2);
    assert_true(f->operator_on);
    assert_string_equal(f->operator_who, "uid:0");
    assert_string_equal(f->cause_reason, "started by uid:0");
    assert_true(f->last_start_wall == 1795000000.5);
    /* the commitment, still this outage's */
    assert_int_equal(f->o.nfloors, 1);
    assert_int_equal(f->o.floor_priority[0], 1);
    assert_true(f->o.floor_ns[0] == s_now + 100 * S);
    assert_true(f->o.floors_since_ns == f->o.since_ns);
    /* the stops: batch1 held (the policy's hold too), app1 soft-off due in 4 s */
    assert_int_equal(f->srv[2].phase, ORUN_HELD);
    assert_int_equal(f->srv[2].stage, 1);
    assert_true(sec.rack.servers[2].held);
    assert_int_equal(f->srv[1].phase, ORUN_STAGED);
    assert_true(f->srv[1].due_ns == s_now + 4 * S);
    assert_int_equal(f->srv[0].phase, ORUN_UP);
    assert_false(sec.rack.servers[0].held);
    /* the primary's reading of bbu1, fresher than none */
    assert_true(f->res[0].read_ns == s_now - 2 * S);
    assert_int_equal(f->res[0].charge_pct, 60);
    assert_true(sec.rack.reserves[0].wh_left == 240);
    /* what its API shows is the primary's */
    json_t *pv = orun_view(&prim.o, p_now), *sv = orun_view(&sec.o, s_now);
    assert_true(json_equal(json_object_get(pv, "since"), json_object_get(sv, "since")));
    assert_true(json_equal(json_object_get(pv, "stops"), json_object_get(sv, "stops")));
    json_decref(pv);
    json_decref(sv);
}

static void test_a_fresher_own_reading_stands_over_the_primarys(void **state)
{
    (void)state;
    primary_in_an_outage();
    const int64_t s_now = 5000 * S;
    sec.o.res[0].read_ns = s_now - S; /* its own, 1 s old: fresher than the primary's 2 s */
    sec.o.res[0].charge_pct = 58;
    json_t *rec = orun_record(&prim.o, p_now);
    assert_int_equal(orun_follow(&sec.o, rec, s_now, err, sizeof(err)), 0);
    json_decref(rec);
    assert_int_equal(sec.o.res[0].charge_pct, 58);
    assert_true(sec.o.res[0].read_ns == s_now - S);
}

static void test_a_record_that_is_not_one_changes_nothing(void **state)
{
    (void)state;
    primary_in_an_outage();
    static const char *const bad[][2] = {
        {"cause", "\"sunspots\""},    {"stages", "\"two\""}, {"active", "1"},
        {"since_age_ns", "\"30\""},   {"servers", "[]"},     {"floors", "{}"},
        {"reserves", "{\"bbu1\":1}"}, {"who", "null"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        json_t *rec = orun_record(&prim.o, p_now);
        json_t *v = json_loads(bad[k][1], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_object_set_new(rec, bad[k][0], v);
        assert_int_equal(orun_follow(&sec.o, rec, 5000 * S, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "the outage record is not one"));
        json_decref(rec);
        assert_false(sec.o.o.active);
        assert_false(sec.rack.servers[2].held);
    }
    /* a phase it does not know, inside a server */
    json_t *rec = orun_record(&prim.o, p_now);
    json_object_set_new(json_object_get(json_object_get(rec, "servers"), "batch1"), "phase",
                        json_string("napping"));
    assert_int_equal(orun_follow(&sec.o, rec, 5000 * S, err, sizeof(err)), -1);
    json_decref(rec);
    assert_false(sec.o.o.active);
    assert_int_equal(orun_follow(&sec.o, json_null(), 5000 * S, err, sizeof(err)), -1);
}

/* journal events named name (the secondary's store, through its decider) */
static int counted;
static const char *counting;
static int count_fn(void *arg, int64_t id, const char *json)
{
    (void)arg;
    (void)id;
    char want[64];
    snprintf(want, sizeof(want), "\"event\":\"%s\"", counting);
    counted += strstr(json, want) != NULL;
    return 0;
}
static int events_named(const char *name)
{
    counted = 0;
    counting = name;
    assert_int_equal(store_events(sec.store, 0, 1000, false, count_fn, NULL, err, sizeof(err)), 0);
    return counted;
}

static void test_an_adopted_outage_goes_on_until_a_reading_since_the_promotion(void **state)
{
    (void)state;
    /* a BBU outage: bbu1 discharging, read by the secondary's device too */
    primary_in_an_outage();
    prim.o.operator_on = false;
    prim.o.o.cause = OUTAGE_CAUSE_BBU;
    prim.o.res[0].flags = DRIVER_RES_ON_BATTERY;
    sec.o.res[0].read_by_device = true;
    sec.o.res[0].stale_ns = 3 * S;
    const int64_t t = 5000 * S;
    json_t *rec = orun_record(&prim.o, p_now);
    assert_int_equal(orun_follow(&sec.o, rec, t, err, sizeof(err)), 0);
    json_decref(rec);
    /* its last reading (before the promotion) says on line: no proof */
    struct driver_reserve_reading online = {
        .reserve = 0, .flags = DRIVER_RES_ONLINE, .charge_pct = 60, .runtime_s = -1, .watts = -1};
    orun_reading(&sec.o, 0, &online, t);
    orun_adopt(&sec.o, t + S, "elected primary");
    assert_true(sec.o.adopted);
    assert_int_equal(events_named("outage_adopted"), 1);
    orun_update(&sec.o, t + 2 * S);
    assert_true(sec.o.o.active);         /* goes on */
    assert_int_equal(sec.o.o.stages, 2); /* nothing started again */
    assert_true(sec.o.o.since_ns == t - 30 * S);
    assert_int_equal(events_named("outage"), 0); /* no second start, no end */
    assert_int_equal(sec.o.srv[2].phase, ORUN_HELD);
    /* read on line after the promotion, and the devices' first reads in: it ends */
    orun_reading(&sec.o, 0, &online, t + 3 * S);
    orun_update(&sec.o, t + 3 * S);
    assert_true(sec.o.o.active); /* the grace (3 s after the promotion) is not over */
    orun_update(&sec.o, t + 4500000000LL);
    assert_false(sec.o.o.active);
    assert_int_equal(events_named("outage"), 1); /* the end */
    assert_true(sec.rack.servers[2].held);       /* held until the release */
}

static void test_nothing_to_adopt_without_an_outage(void **state)
{
    (void)state;
    orun_adopt(&sec.o, 5000 * S, "elected primary");
    assert_false(sec.o.adopted);
    assert_int_equal(events_named("outage_adopted"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_followed_record_is_the_same_outage_in_the_secondarys_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_fresher_own_reading_stands_over_the_primarys, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_record_that_is_not_one_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_an_adopted_outage_goes_on_until_a_reading_since_the_promotion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_to_adopt_without_an_outage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
