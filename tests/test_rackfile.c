/*
 * test_rackfile.c - the rack/scenario file loader: every field, every default,
 * and the exact "file:line:column: message" of every kind of mistake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemonconf.h"
#include "daemonconf_driver.h"
#include "driver_conf.h"

static char err[512];
static struct rack r;
static struct rackfile_timeline tl;
static struct rackfile_daemon dc;

static int load_rack(const char *text)
{
    return rackfile_load_string("t.yaml", text, strlen(text), &r, NULL, err, sizeof(err));
}

static int load_scenario(const char *text)
{
    return rackfile_load_string("t.yaml", text, strlen(text), &r, &tl, err, sizeof(err));
}

/* A failed load reports exactly want and leaves the rack and timeline empty. */
static void expect_error(const char *text, const char *want)
{
    assert_int_equal(load_scenario(text), -1);
    assert_string_equal(err, want);
    assert_null(r.psus);
    assert_null(r.servers);
    assert_null(r.chassis);
    assert_int_equal(r.npsus, 0);
    assert_int_equal(r.nservers, 0);
    assert_int_equal(tl.nsteps, 0);
    assert_null(tl.steps);
}

static void expect_rack_error(const char *text, const char *want)
{
    assert_int_equal(load_rack(text), -1);
    assert_string_equal(err, want);
    assert_null(r.psus);
    assert_null(r.servers);
}

static int teardown(void **state)
{
    (void)state;
    rack_free(&r);
    rackfile_timeline_free(&tl);
    rackfile_daemon_free(&dc);
    return 0;
}

#define BUSES "rack:\n  buses: [A, B]\n"

static const char full_rack[] =
    "rack:\n"
    "  name: demo rack 1\n"
    "  protection: n+n\n"
    "  on_protection_loss: hold\n"
    "  on_predicted_failure: shed\n"
    "  restore_after_s: 2.5\n"
    "  holdup_ms: 12.5\n"
    "  feeds: [F1, F2]\n"
    "  buses: [A, B, C]\n"
    "  psus:\n"
    "    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A, B], bus: B, switch: relay, "
    "switch_ms: 0.5}\n"
    "    - id: ps2\n"
    "      capacity_w: 1500.25\n"
    "      feed: F2\n"
    "      buses: [C, A]\n"
    "      switch: breaker\n"
    "  servers:\n"
    "    - {id: db1, power_w: 800, min_w: 500, priority: 1, buses: [A, B], chassis: c1}\n"
    "    - {id: web1, power_w: 400, priority: 2, buses: [B], chassis: c2}\n"
    "    - {id: web2, power_w: 400.5, priority: 3, buses: [A, C], chassis: c1}\n"
    "    - {id: batch, power_w: 300, priority: 4, buses: [C]}\n";

static void test_full_rack_loads_every_field(void **state)
{
    (void)state;
    assert_int_equal(load_rack(full_rack), 0);
    assert_string_equal(r.name, "demo rack 1");
    assert_int_equal(r.protection, RACK_PROT_NN);
    assert_int_equal(r.on_loss, RACK_ON_LOSS_HOLD);
    assert_int_equal(r.on_predicted, RACK_PREDICTED_SHED);
    assert_int_equal(r.restore_after_ns, 2500000000LL);
    assert_int_equal(r.holdup_ns, 12500000LL);
    assert_int_equal(r.nfeeds, 2);
    assert_string_equal(r.feeds[0], "F1");
    assert_string_equal(r.feeds[1], "F2");
    assert_int_equal(r.nbuses, 3);
    assert_string_equal(r.buses[2], "C");

    assert_int_equal(r.npsus, 2);
    const struct rack_psu *p = &r.psus[0];
    assert_string_equal(p->id, "ps1");
    assert_int_equal(p->rated_mw, 3000000);
    assert_int_equal(p->derated_mw, 3000000);
    assert_int_equal(p->feed, 0);
    assert_int_equal(p->wired, 0x3);
    assert_int_equal(p->bus, 1);
    assert_int_equal(p->sw, RACK_SWITCH_RELAY);
    assert_int_equal(p->switch_ns, 500000);
    assert_int_equal(p->health, RACK_PSU_OK);
    p = &r.psus[1];
    assert_string_equal(p->id, "ps2");
    assert_int_equal(p->rated_mw, 1500250);
    assert_int_equal(p->feed, 1);
    assert_int_equal(p->wired, 0x5);
    assert_int_equal(p->bus, 2); /* the first bus written: C */
    assert_int_equal(p->sw, RACK_SWITCH_BREAKER);
    assert_int_equal(p->switch_ns, RACK_BREAKER_SWITCH_NS);

    assert_int_equal(r.nservers, 4);
    const struct rack_server *s = &r.servers[0];
    assert_string_equal(s->id, "db1");
    assert_int_equal(s->power_mw, 800000);
    assert_int_equal(s->min_mw, 500000);
    assert_int_equal(s->priority, 1);
    assert_int_equal(s->wired, 0x3);
    assert_int_equal(s->chassis, 0);
    assert_int_equal(s->state, RACK_SRV_OFF);
    assert_int_equal(s->alloc_mw, 0);
    assert_int_equal(s->draw_mw, -1);
    assert_int_equal(s->seq, 0);
    s = &r.servers[1];
    assert_int_equal(s->min_mw, s->power_mw);
    assert_int_equal(s->wired, 0x2);
    assert_int_equal(s->chassis, 1);
    s = &r.servers[2];
    assert_int_equal(s->power_mw, 400500);
    assert_int_equal(s->priority, 3);
    assert_int_equal(s->wired, 0x5);
    assert_int_equal(s->chassis, 0);
    s = &r.servers[3];
    assert_string_equal(s->id, "batch");
    assert_int_equal(s->chassis, -1);

    assert_int_equal(r.nchassis, 2);
    assert_string_equal(r.chassis[0], "c1");
    assert_string_equal(r.chassis[1], "c2");
}

static const char scenario[] = "rack:\n"
                               "  feeds: [F1, F2]\n"
                               "  buses: [A, B]\n"
                               "  psus:\n"
                               "    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A, B]}\n"
                               "    - {id: ps2, capacity_w: 3000, feed: F2, buses: [A, B]}\n"
                               "  servers:\n"
                               "    - {id: db1, power_w: 800, priority: 1, buses: [A, B]}\n"
                               "    - {id: web1, power_w: 400, priority: 2, buses: [B]}\n"
                               "timeline:\n"
                               "  - at: 0\n"
                               "    power_on: [db1, web1]\n"
                               "  - at: 1.5\n"
                               "    psu_fail: ps2\n"
                               "    report: {server: db1, watts: 612.5}\n"
                               "    power_off: web1\n"
                               "  - {at: 1.5, psu_degrade: [{psu: ps2, capacity_w: 2000}], "
                               "bus_fail: [A], feed_fail: F2}\n"
                               "  - at: 10\n"
                               "    feed_repair: F2\n"
                               "    bus_repair: A\n"
                               "    psu_repair: [ps2, ps1]\n"
                               "    remove: db1\n"
                               "    report: [{server: web1, watts: 0}]\n";

static void expect_input(const struct rackfile_step *s, size_t i, enum policy_input_kind kind,
                         int index, int64_t watts_mw)
{
    assert_true(i < s->ninputs);
    assert_int_equal(s->inputs[i].kind, kind);
    assert_int_equal(s->inputs[i].index, index);
    assert_int_equal(s->inputs[i].watts_mw, watts_mw);
}

static void test_scenario_loads_timeline_in_written_order(void **state)
{
    (void)state;
    assert_int_equal(load_scenario(scenario), 0);
    assert_int_equal(r.npsus, 2);
    assert_int_equal(r.nservers, 2);
    assert_int_equal(tl.nsteps, 4);

    const struct rackfile_step *s = &tl.steps[0];
    assert_int_equal(s->at_ns, 0);
    assert_int_equal(s->line, 11);
    assert_int_equal(s->ninputs, 2);
    expect_input(s, 0, POLICY_POWER_ON, 0, 0);
    expect_input(s, 1, POLICY_POWER_ON, 1, 0);

    s = &tl.steps[1];
    assert_int_equal(s->at_ns, 1500000000LL);
    assert_int_equal(s->line, 13);
    assert_int_equal(s->ninputs, 3);
    expect_input(s, 0, POLICY_PSU_FAIL, 1, 0);
    expect_input(s, 1, POLICY_REPORT, 0, 612500);
    expect_input(s, 2, POLICY_POWER_OFF, 1, 0);

    s = &tl.steps[2];
    assert_int_equal(s->at_ns, 1500000000LL);
    assert_int_equal(s->line, 17);
    assert_int_equal(s->ninputs, 3);
    expect_input(s, 0, POLICY_PSU_DEGRADE, 1, 2000000);
    expect_input(s, 1, POLICY_BUS_FAIL, 0, 0);
    expect_input(s, 2, POLICY_FEED_FAIL, 1, 0);

    s = &tl.steps[3];
    assert_int_equal(s->at_ns, 10000000000LL);
    assert_int_equal(s->ninputs, 6);
    expect_input(s, 0, POLICY_FEED_REPAIR, 1, 0);
    expect_input(s, 1, POLICY_BUS_REPAIR, 0, 0);
    expect_input(s, 2, POLICY_PSU_REPAIR, 1, 0);
    expect_input(s, 3, POLICY_PSU_REPAIR, 0, 0);
    expect_input(s, 4, POLICY_REMOVE, 0, 0);
    expect_input(s, 5, POLICY_REPORT, 1, 0);
}

static void test_scenario_without_timeline_has_no_steps(void **state)
{
    (void)state;
    assert_int_equal(load_scenario(BUSES), 0);
    assert_int_equal(tl.nsteps, 0);
    assert_null(tl.steps);
}

static void test_defaults_applied(void **state)
{
    (void)state;
    assert_int_equal(load_rack("rack:\n"
                               "  buses: [A, B]\n"
                               "  psus:\n"
                               "    - {id: ps1, capacity_w: 3000, buses: [B, A]}\n"
                               "    - {id: ps2, capacity_w: 3000, buses: [A], switch: relay, "
                               "feed: mains}\n"
                               "  servers:\n"
                               "    - {id: s1, power_w: 500, priority: 7, buses: [A]}\n"),
                     0);
    assert_string_equal(r.name, "rack");
    assert_int_equal(r.protection, RACK_PROT_N1);
    assert_int_equal(r.on_loss, RACK_ON_LOSS_SHED);
    assert_int_equal(r.restore_after_ns, 30000000000LL);
    assert_int_equal(r.holdup_ns, 16000000LL);
    assert_int_equal(r.over_draw_ns, 5000000000LL);
    assert_int_equal(r.nfeeds, 1);
    assert_string_equal(r.feeds[0], "mains");
    assert_int_equal(r.psus[0].feed, 0);
    assert_int_equal(r.psus[0].bus, 1); /* B: the first of its buses as written */
    assert_int_equal(r.psus[0].sw, RACK_SWITCH_FET);
    assert_int_equal(r.psus[0].switch_ns, RACK_FET_SWITCH_NS);
    assert_int_equal(r.psus[1].feed, 0);
    assert_int_equal(r.psus[1].switch_ns, RACK_RELAY_SWITCH_NS);
    assert_int_equal(r.servers[0].min_mw, 500000);
    assert_int_equal(r.servers[0].chassis, -1);
    assert_int_equal(r.servers[0].ac_restart, 0); /* stays off after a loss of power */
    assert_int_equal(r.nchassis, 0);
    assert_null(r.chassis);
}

static void test_empty_rack_is_allowed(void **state)
{
    (void)state;
    assert_int_equal(load_rack("rack:\n  buses: [A]\n  psus: []\n  servers: []\n"), 0);
    assert_int_equal(r.npsus, 0);
    assert_int_equal(r.nservers, 0);
}

static void test_decimal_watts_round_to_milliwatts(void **state)
{
    (void)state;
    assert_int_equal(load_rack(BUSES "  psus:\n"
                                     "    - {id: p1, capacity_w: 2999.9996, buses: [A]}\n"
                                     "    - {id: p2, capacity_w: 0.001, buses: [A]}\n"
                                     "    - {id: p3, capacity_w: 1.5e3, buses: [A]}\n"
                                     "  servers:\n"
                                     "    - {id: s1, power_w: 250.0004, min_w: .5, priority: 1, "
                                     "buses: [A]}\n"),
                     0);
    assert_int_equal(r.psus[0].rated_mw, 3000000);
    assert_int_equal(r.psus[1].rated_mw, 1);
    assert_int_equal(r.psus[2].rated_mw, 1500000);
    assert_int_equal(r.servers[0].power_mw, 250000);
    assert_int_equal(r.servers[0].min_mw, 500);
}

static void test_load_reads_a_real_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_rackfile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(full_rack, f);
    fclose(f);
    int rc = rackfile_load(path, &r, NULL, err, sizeof(err));
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(r.npsus, 2);
    assert_int_equal(r.nservers, 4);
}

static void test_load_reports_errors_with_the_path(void **state)
{
    (void)state;
    char path[] = "/tmp/test_rackfile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "rack: 5\n", 8), 8);
    close(fd);
    int rc = rackfile_load(path, &r, NULL, err, sizeof(err));
    unlink(path);
    assert_int_equal(rc, -1);
    char want[128];
    snprintf(want, sizeof(want), "%s:1:7: rack: expected a mapping, got '5'", path);
    assert_string_equal(err, want);
}

static void test_missing_file_cannot_open(void **state)
{
    (void)state;
    assert_int_equal(rackfile_load("/nonexistent/rack.yaml", &r, &tl, err, sizeof(err)), -1);
    assert_string_equal(err, "/nonexistent/rack.yaml: cannot open: No such file or directory");
    assert_null(r.psus);
    assert_int_equal(tl.nsteps, 0);
}

static void test_rack_file_refuses_timeline(void **state)
{
    (void)state;
    expect_rack_error(BUSES "timeline:\n  - {at: 0, bus_fail: A}\n",
                      "t.yaml:3:1: timeline: only allowed in a scenario file");
}

static void test_unknown_key_reports_line_and_column(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n"
                       "    - {id: ps1, capacty_w: 3000, buses: [A]}\n",
                 "t.yaml:4:17: unknown key 'capacty_w' in psu (expected id, capacity_w, feed, "
                 "buses, bus, switch, switch_ms, model)");
    expect_error(BUSES "  servers:\n"
                       "    - id: s1\n"
                       "      power: 100\n",
                 "t.yaml:5:7: unknown key 'power' in server (expected id, power_w, min_w, "
                 "priority, buses, chassis, power_on_after_ac_loss)");
    expect_error("rack:\n  buses: [A]\n  protecton: n+1\n",
                 "t.yaml:3:3: unknown key 'protecton' in rack (expected name, protection, "
                 "on_protection_loss, on_predicted_failure, restore_after_s, holdup_ms, "
                 "over_draw_s, feeds, buses, psu_models, "
                 "psus, "
                 "servers, qos_classes, activities, reserves, outage, balance)");
}

static void test_nn_needs_two_feeds(void **state)
{
    (void)state;
    expect_error("rack:\n  protection: n+n\n  buses: [A]\n",
                 "t.yaml:2:15: protection: n+n needs at least two feeds (list them under feeds:, "
                 "and give each psu its feed), this rack has 1");
    expect_error("rack:\n  protection: n+n\n  feeds: [F1]\n  buses: [A]\n",
                 "t.yaml:2:15: protection: n+n needs at least two feeds (list them under feeds:, "
                 "and give each psu its feed), this rack has 1");
}

static void test_unknown_top_level_key(void **state)
{
    (void)state;
    expect_error(BUSES "racks: {}\n",
                 "t.yaml:3:1: unknown top-level key 'racks' (expected rack, timeline)");
}

static void test_duplicate_key_points_at_second(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n"
                       "    - id: ps1\n"
                       "      capacity_w: 100\n"
                       "      buses: [A]\n"
                       "      capacity_w: 200\n",
                 "t.yaml:7:7: duplicate key 'capacity_w' in psu (first at line 5)");
    expect_error(BUSES "rack: {}\n",
                 "t.yaml:3:1: duplicate top-level key 'rack' (first at line 1)");
}

static void test_missing_required_key_points_at_mapping(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n"
                       "    - id: ps1\n"
                       "      buses: [A]\n",
                 "t.yaml:4:7: missing required key 'capacity_w' in psu 'ps1'");
    expect_error(BUSES "  servers:\n"
                       "    - {power_w: 1, priority: 1, buses: [A]}\n",
                 "t.yaml:4:7: missing required key 'id' in server");
    expect_error("rack:\n  name: x\n", "t.yaml:2:3: missing required key 'buses' in rack");
}

static void test_psu_models_load_and_psus_name_them(void **state)
{
    (void)state;
    assert_int_equal(load_rack(BUSES
                               "  psu_models:\n"
                               "    - {name: r1, efficiency: [91, 95.5, 97, 95], standby_w: 3, "
                               "wake_ms: 8}\n"
                               "    - {name: titanium, efficiency: [89, 93, 95, 90]}\n"
                               "  psus:\n"
                               "    - {id: p1, capacity_w: 3000, buses: [A], model: r1}\n"
                               "    - {id: p2, capacity_w: 3000, buses: [A], model: orv3}\n"
                               "    - {id: p3, capacity_w: 3000, buses: [A]}\n"),
                     0);
    int k = rack_find_model(&r, "r1");
    assert_true(k >= 2);
    assert_int_equal(r.psus[0].model, k);
    assert_int_equal(r.models[k].eff_ppm[1], 955000);
    assert_int_equal(r.models[k].standby_mw, 3000);
    assert_int_equal(r.models[k].wake_ns, 8000000);
    assert_int_equal(r.psus[1].model, RACK_MODEL_ORV3);
    assert_int_equal(r.models[RACK_MODEL_ORV3].eff_ppm[2], 975000);
    /* without model: the titanium one, here replaced by the file's */
    assert_int_equal(r.psus[2].model, RACK_MODEL_TITANIUM);
    assert_int_equal(r.models[RACK_MODEL_TITANIUM].eff_ppm[0], 890000);
    assert_int_equal(r.models[RACK_MODEL_TITANIUM].standby_mw, RACK_DEFAULT_STANDBY_MW);
    assert_int_equal(r.models[RACK_MODEL_TITANIUM].wake_ns, RACK_DEFAULT_WAKE_NS);
    assert_false(r.psus[0].standby);
    assert_int_equal(r.psus[0].share_ppm, 0);
}

static void test_psu_models_errors_name_the_key(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1, buses: [A], model: r9}\n",
                 "t.yaml:4:49: model: unknown psu model 'r9' (known: titanium, orv3)");
    expect_error(BUSES "  psu_models:\n    - {name: r1, efficiency: [90, 94, 96]}\n",
                 "t.yaml:4:30: efficiency: expected 4 numbers, per cent at 10, 20, 50 and 100 % "
                 "of rated load, such as [90, 94, 96, 91], got a list");
    expect_error(BUSES "  psu_models:\n    - {name: r1, efficiency: [90, 94, 101, 91]}\n",
                 "t.yaml:4:39: efficiency: must be at most 100, got '101'");
    expect_error(BUSES "  psu_models:\n    - {name: r1, efficiency: [0, 94, 96, 91]}\n",
                 "t.yaml:4:31: efficiency: must be > 0, got '0'");
    expect_error(BUSES
                 "  psu_models:\n    - {name: r1, efficiency: [90, 94, 96, 91], standby_w: -1}\n",
                 "t.yaml:4:59: standby_w: must be >= 0, got '-1'");
    expect_error(BUSES "  psu_models:\n    - {name: r1, efficiency: [90, 94, 96, 91]}\n"
                       "    - {name: r1, efficiency: [90, 94, 96, 91]}\n",
                 "t.yaml:5:14: duplicate psu model 'r1' (first at line 4)");
    expect_error(BUSES "  psu_models:\n    - {name: r1}\n",
                 "t.yaml:4:7: missing required key 'efficiency' in psu model");
    expect_error(BUSES "  psu_models: {name: r1}\n",
                 "t.yaml:3:15: psu_models: expected a list of {name, efficiency, standby_w, "
                 "wake_ms}, got a mapping");
}

static void test_balance_is_off_unless_on(void **state)
{
    (void)state;
    assert_int_equal(load_rack(BUSES), 0);
    assert_int_equal(r.balance, RACK_BALANCE_OFF);
    rack_free(&r);
    assert_int_equal(load_rack(BUSES "  balance: on\n"), 0);
    assert_int_equal(r.balance, RACK_BALANCE_ON);
    rack_free(&r);
    assert_int_equal(load_rack(BUSES "  balance: off\n"), 0);
    assert_int_equal(r.balance, RACK_BALANCE_OFF);
    rack_free(&r);
    expect_error(BUSES "  balance: yes\n",
                 "t.yaml:3:12: balance: expected one of off, on, got 'yes'");
}

static void test_wrong_type_for_number(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: abc, buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: expected a number, got 'abc'");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: '300', buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: expected a number, got '300' (quoted, so a string)");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: true, buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: expected a number, got 'true'");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: [1], buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: expected a number, got a list");
    expect_error(BUSES "  psus:\n    - id: p\n      capacity_w:\n      buses: [A]\n",
                 "t.yaml:5:18: capacity_w: expected a number, got nothing");
    expect_error(BUSES "  holdup_ms: 0x10\n",
                 "t.yaml:3:14: holdup_ms: expected a number, got '0x10'");
    expect_error(BUSES "  holdup_ms: .inf\n",
                 "t.yaml:3:14: holdup_ms: expected a number, got '.inf'");
    expect_error(BUSES "  holdup_ms: nan\n",
                 "t.yaml:3:14: holdup_ms: expected a number, got 'nan'");
}

static void test_zero_or_negative_rejected_where_positive_needed(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 0, buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: must be > 0, got '0'");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 0.0001, buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: must be > 0, got '0.0001'");
    expect_error(BUSES "  servers:\n    - {id: s, power_w: -5, priority: 1, buses: [A]}\n",
                 "t.yaml:4:24: power_w: must be > 0, got '-5'");
    expect_error(BUSES "  restore_after_s: -1\n",
                 "t.yaml:3:20: restore_after_s: must be >= 0, got '-1'");
    expect_error(BUSES "  holdup_ms: 0\n", "t.yaml:3:14: holdup_ms: must be > 0, got '0'");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1, buses: [A], switch_ms: -0.1}\n",
                 "t.yaml:4:53: switch_ms: must be >= 0, got '-0.1'");
}

static void test_absurd_values_rejected(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 10000001, buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: must be at most 10000000, got '10000001'");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1e999, buses: [A]}\n",
                 "t.yaml:4:27: capacity_w: must be at most 10000000, got '1e999'");
    expect_error(BUSES "timeline:\n  - {at: 1e10, bus_fail: A}\n",
                 "t.yaml:4:10: at: must be at most 1000000000, got '1e10'");
    expect_error(BUSES "  servers:\n    - {id: s, power_w: 1, priority: 99999999999999999999, "
                       "buses: [A]}\n",
                 "t.yaml:4:37: priority: must be at most 1000000, got '99999999999999999999'");
}

static void test_priority_must_be_integer(void **state)
{
    (void)state;
    expect_error(BUSES "  servers:\n    - {id: s, power_w: 1, priority: 1.5, buses: [A]}\n",
                 "t.yaml:4:37: priority: expected an integer >= 1, got '1.5'");
    expect_error(BUSES "  servers:\n    - {id: s, power_w: 1, priority: 0, buses: [A]}\n",
                 "t.yaml:4:37: priority: expected an integer >= 1, got '0'");
    expect_error(BUSES "  servers:\n    - {id: s, power_w: 1, priority: high, buses: [A]}\n",
                 "t.yaml:4:37: priority: expected an integer >= 1, got 'high'");
}

static void test_bad_words_list_the_allowed_ones(void **state)
{
    (void)state;
    expect_error(BUSES "  protection: n+2\n",
                 "t.yaml:3:15: protection: expected one of none, n+1, n+n, got 'n+2'");
    expect_error(BUSES "  on_predicted_failure: drain\n",
                 "t.yaml:3:25: on_predicted_failure: expected one of keep, shed, got 'drain'");
    expect_error(BUSES "  on_protection_loss: [shed]\n",
                 "t.yaml:3:23: on_protection_loss: expected one of shed, hold, got a list");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1, buses: [A], switch: mosfet}\n",
                 "t.yaml:4:50: switch: expected one of fet, relay, breaker, got 'mosfet'");
    expect_error(BUSES "  servers:\n    - {id: s, power_w: 1, priority: 1, buses: [A], "
                       "power_on_after_ac_loss: yes}\n",
                 "t.yaml:4:76: power_on_after_ac_loss: expected one of false, true, got 'yes'");
}

static void test_power_on_after_ac_loss_is_read_per_server(void **state)
{
    (void)state;
    assert_int_equal(load_rack(BUSES "  servers:\n"
                                     "    - {id: s1, power_w: 5, priority: 1, buses: [A], "
                                     "power_on_after_ac_loss: true}\n"
                                     "    - {id: s2, power_w: 5, priority: 1, buses: [A], "
                                     "power_on_after_ac_loss: false}\n"),
                     0);
    assert_int_equal(r.servers[0].ac_restart, 1);
    assert_int_equal(r.servers[1].ac_restart, 0);
}

static void test_bad_ids_and_names(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: ps 1, capacity_w: 1, buses: [A]}\n",
                 "t.yaml:4:12: id: expected an id (1 to 31 of A-Z a-z 0-9 _ . : -), got 'ps 1'");
    expect_error(BUSES "  psus:\n    - {id: abcdefghijklmnopqrstuvwxyz012345, capacity_w: 1, "
                       "buses: [A]}\n",
                 "t.yaml:4:12: id: expected an id (1 to 31 of A-Z a-z 0-9 _ . : -), got "
                 "'abcdefghijklmnopqrstuvwxyz012345'");
    expect_error("rack:\n  buses: [A, \"\"]\n",
                 "t.yaml:2:14: buses: expected an id (1 to 31 of A-Z a-z 0-9 _ . : -), got ''");
    expect_error(BUSES "  name: "
                       "0123456789012345678901234567890123456789012345678901234567890123\n",
                 "t.yaml:3:9: name: expected text of 1 to 63 bytes without control characters, "
                 "got '0123456789012345678901234567890123456789...'");
}

static void test_duplicate_ids_name_the_first(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n"
                       "    - {id: ps1, capacity_w: 1, buses: [A]}\n"
                       "    - {id: ps2, capacity_w: 1, buses: [A]}\n"
                       "    - {id: ps1, capacity_w: 1, buses: [A]}\n",
                 "t.yaml:6:12: duplicate psu id 'ps1' (first at line 4)");
    expect_error(BUSES "  servers:\n"
                       "    - {id: s1, power_w: 1, priority: 1, buses: [A]}\n"
                       "    - power_w: 1\n"
                       "      id: s1\n"
                       "      priority: 1\n"
                       "      buses: [A]\n",
                 "t.yaml:6:11: duplicate server id 's1' (first at line 4)");
    expect_error("rack:\n  buses:\n    - A\n    - B\n    - A\n",
                 "t.yaml:5:7: duplicate bus id 'A' (first at line 3)");
    expect_error("rack:\n  feeds: [F1, F1]\n  buses: [A]\n",
                 "t.yaml:2:15: duplicate feed id 'F1' (first at line 2)");
}

static void test_unknown_references(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1, buses: [A, C]}\n",
                 "t.yaml:4:41: buses: unknown bus 'C' (rack buses: A, B)");
    expect_error(BUSES "  servers:\n    - {id: s, power_w: 1, priority: 1, buses: [A, A]}\n",
                 "t.yaml:4:51: buses: bus 'A' is listed twice");
    expect_error("rack:\n  feeds: [F1, F2]\n  buses: [A]\n"
                 "  psus:\n    - {id: p, capacity_w: 1, buses: [A], feed: F3}\n",
                 "t.yaml:5:48: feed: unknown feed 'F3' (rack feeds: F1, F2)");
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1, buses: [A], feed: F1}\n",
                 "t.yaml:4:48: feed: unknown feed 'F1' (rack feeds: mains)");
    expect_error(BUSES "timeline:\n  - {at: 0, power_on: [ghost]}\n",
                 "t.yaml:4:24: power_on: unknown server 'ghost'");
    expect_error(BUSES "timeline:\n  - {at: 0, psu_fail: ps9}\n",
                 "t.yaml:4:23: psu_fail: unknown psu 'ps9'");
    expect_error(BUSES "timeline:\n  - {at: 0, feed_fail: F1}\n",
                 "t.yaml:4:24: feed_fail: unknown feed 'F1' (rack feeds: mains)");
    expect_error(BUSES "timeline:\n  - {at: 0, report: {server: s1, watts: 5}}\n",
                 "t.yaml:4:30: server: unknown server 's1'");
}

static void test_psu_bus_must_be_among_its_buses(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1, buses: [A], bus: B}\n",
                 "t.yaml:4:47: bus: 'B' is not one of the psu's buses (A)");
}

static void test_feed_required_when_several_feeds(void **state)
{
    (void)state;
    expect_error("rack:\n  feeds: [F1, F2]\n  buses: [A]\n"
                 "  psus:\n    - {id: p, capacity_w: 1, buses: [A]}\n",
                 "t.yaml:5:7: missing key 'feed' in psu 'p' (required when the rack has several "
                 "feeds: F1, F2)");
}

static void test_min_above_power_rejected(void **state)
{
    (void)state;
    expect_error(BUSES "  servers:\n    - {id: s, power_w: 500, min_w: 600, priority: 1, buses: "
                       "[A]}\n",
                 "t.yaml:4:36: min_w: must be at most power_w (500), got '600'");
}

static void test_too_many_buses(void **state)
{
    (void)state;
    expect_error("rack:\n  buses: [A, B, C, D, E, F, G, H, I]\n",
                 "t.yaml:2:35: buses: too many buses (at most 8)");
}

static void test_too_many_psus(void **state)
{
    (void)state;
    size_t n = RACKFILE_MAX_PSUS + 1, len = 64 + n * 48;
    char *text = malloc(len);
    assert_non_null(text);
    size_t at = (size_t)snprintf(text, len, "rack:\n  buses: [A]\n  psus:\n");
    for (size_t i = 0; i < n; i++)
        at +=
            (size_t)snprintf(text + at, len - at, "  - {id: p%zu, capacity_w: 1, buses: [A]}\n", i);
    expect_error(text, "t.yaml:4:3: psus: too many psus (4097, at most 4096)");
    free(text);
}

static void test_list_expected_not_a_string(void **state)
{
    (void)state;
    expect_error(BUSES "  psus:\n    - {id: p, capacity_w: 1, buses: A}\n",
                 "t.yaml:4:37: buses: expected a list of buses such as [A], got 'A'");
    expect_error("rack:\n  buses: A\n",
                 "t.yaml:2:10: buses: expected a list of ids such as [A, B], got 'A'");
    expect_error("rack:\n  buses: []\n",
                 "t.yaml:2:10: buses: expected a list of ids such as [A, B], got an empty list");
    expect_error(BUSES "  servers: {id: s}\n",
                 "t.yaml:3:12: servers: expected a list of servers, got a mapping");
    expect_error(BUSES "  psus:\n", "t.yaml:3:8: psus: expected a list of psus, got nothing");
    expect_error(BUSES "  psus: [ps1]\n", "t.yaml:3:10: psu: expected a mapping, got 'ps1'");
    expect_error(BUSES "timeline: {at: 0}\n",
                 "t.yaml:3:11: timeline: expected a list of steps, got a mapping");
}

static void test_yaml_syntax_error_has_libyaml_text_and_mark(void **state)
{
    (void)state;
    expect_error("rack:\n  buses: [A, B\n  name: x\n",
                 "t.yaml:3:7: did not find expected ',' or ']' (while parsing a flow sequence at "
                 "line 2, column 10)");
    expect_error("rack:\n\tbuses: [A]\n",
                 "t.yaml:2:1: found character that cannot start any token (while scanning for "
                 "the next token at line 2, column 1)");
    expect_error("rack:\n  buses: [A]\n  name: \xff\n", "t.yaml:3:9: invalid leading UTF-8 octet");
}

static void test_empty_file_and_bad_top_level(void **state)
{
    (void)state;
    expect_error("", "t.yaml:1:1: empty file: expected a mapping with a 'rack' key");
    expect_error("# only a comment\n",
                 "t.yaml:1:1: empty file: expected a mapping with a 'rack' key");
    expect_error("- rack\n", "t.yaml:1:1: expected a mapping at the top level (with keys rack, "
                             "timeline), got a list");
    expect_error("timeline: []\n", "t.yaml:1:1: missing required top-level key 'rack'");
    expect_error(BUSES "---\nrack: {}\n",
                 "t.yaml:4:1: a second YAML document: the file must hold only one");
}

static void test_timeline_must_be_in_time_order(void **state)
{
    (void)state;
    expect_error(BUSES "timeline:\n"
                       "  - {at: 5, bus_fail: A}\n"
                       "  - {at: 4.9, bus_repair: A}\n",
                 "t.yaml:5:10: at: '4.9' is earlier than the step before it (line 4): steps must "
                 "be in time order");
    expect_error(BUSES "timeline:\n  - {bus_fail: A}\n",
                 "t.yaml:4:5: missing required key 'at' in timeline step");
    expect_error(BUSES "timeline:\n  - {at: -1, bus_fail: A}\n",
                 "t.yaml:4:10: at: must be >= 0, got '-1'");
}

static void test_timeline_step_needs_a_known_action(void **state)
{
    (void)state;
    expect_error(
        BUSES "timeline:\n  - at: 1\n",
        "t.yaml:4:5: timeline step has no action (expected one or more of power_on, "
        "power_off, remove, psu_fail, psu_repair, psu_degrade, psu_at_risk, psu_risk_clear, "
        "bus_fail, bus_repair, "
        "feed_fail, feed_repair, report, mains_fail, mains_return, outage, reserve_lost, "
        "reserve_back)");
    expect_error(
        BUSES "timeline:\n  - at: 1\n    poweron: s1\n",
        "t.yaml:5:5: unknown key 'poweron' in timeline step (expected at, power_on, "
        "power_off, remove, psu_fail, psu_repair, psu_degrade, psu_at_risk, psu_risk_clear, "
        "bus_fail, bus_repair, "
        "feed_fail, feed_repair, report, mains_fail, mains_return, outage, reserve_lost, "
        "reserve_back)");
    expect_error(BUSES "timeline:\n  - {at: 1, bus_fail: []}\n",
                 "t.yaml:4:23: bus_fail: expected a bus id or a list of them, got an empty list");
    expect_error(BUSES "timeline:\n  - {at: 1, bus_fail: {bus: A}}\n",
                 "t.yaml:4:23: bus_fail: expected a bus id or a list of them, got a mapping");
    expect_error(BUSES "timeline:\n  - {at: 1, report: s1}\n",
                 "t.yaml:4:21: report: expected {server, watts} or a list of them, got 's1'");
}

static void test_degrade_and_report_are_checked(void **state)
{
    (void)state;
    static const char head[] = BUSES "  psus: [{id: p, capacity_w: 1000, buses: [A]}]\n"
                                     "  servers: [{id: s, power_w: 100, priority: 1, buses: "
                                     "[A]}]\n"
                                     "timeline:\n";
    char text[512];
    snprintf(text, sizeof(text), "%s  - {at: 0, psu_degrade: {psu: p, capacity_w: 1000.5}}\n",
             head);
    expect_error(text, "t.yaml:6:47: capacity_w: must be at most the rated capacity of psu 'p' "
                       "(1000), got '1000.5'");
    snprintf(text, sizeof(text), "%s  - {at: 0, psu_degrade: {psu: p, capacity_w: 0}}\n", head);
    expect_error(text, "t.yaml:6:47: capacity_w: must be > 0, got '0'");
    snprintf(text, sizeof(text), "%s  - {at: 0, psu_degrade: {psu: p}}\n", head);
    expect_error(text, "t.yaml:6:26: missing required key 'capacity_w' in psu_degrade");
    snprintf(text, sizeof(text), "%s  - {at: 0, report: {server: s, watts: -1}}\n", head);
    expect_error(text, "t.yaml:6:40: watts: must be >= 0, got '-1'");
    snprintf(text, sizeof(text), "%s  - {at: 0, report: [{server: s, watt: 1}]}\n", head);
    expect_error(text, "t.yaml:6:34: unknown key 'watt' in report (expected server, watts)");
}

/* ---- daemon configs: devices and api ---- */

#define CONF_RACK                                                                                  \
    "rack:\n"                                                                                      \
    "  buses: [A, B]\n"                                                                            \
    "  psus:\n"                                                                                    \
    "    - {id: ps1, capacity_w: 3000, buses: [A, B]}\n"                                           \
    "    - {id: ps2, capacity_w: 3000, buses: [A, B]}\n"                                           \
    "    - {id: ps3, capacity_w: 3000, buses: [A, B]}\n"                                           \
    "  servers:\n"                                                                                 \
    "    - {id: db1, power_w: 800, priority: 1, buses: [A, B], chassis: c1}\n"                     \
    "    - {id: web1, power_w: 400, priority: 2, buses: [B]}\n"                                    \
    "    - {id: web2, power_w: 400, priority: 2, buses: [B], chassis: c1}\n"                       \
    "    - {id: gpu1, power_w: 900, priority: 3, buses: [A]}\n"

static int load_config(const char *text)
{
    return rackfile_load_config_string("t.yaml", text, strlen(text), driver_conf_keys, &r, &dc, err,
                                       sizeof(err));
}

/* A failed config load reports exactly want and leaves everything empty. */
static void expect_config_error(const char *text, const char *want)
{
    assert_int_equal(load_config(text), -1);
    assert_string_equal(err, want);
    assert_null(r.psus);
    assert_int_equal(dc.ndevices, 0);
    assert_null(dc.devices);
}

static void test_config_api_security_keys(void **state)
{
    (void)state;
    assert_int_equal(load_config(CONF_RACK "api:\n"
                                           "  listen: 0.0.0.0\n"
                                           "  socket: /run/rp/rp.sock\n"
                                           "  socket_group: rackops\n"
                                           "  socket_role: operator\n"
                                           "  tokens: /etc/rp/tokens\n"
                                           "  tls_cert: /etc/rp/cert.pem\n"
                                           "  tls_key: /etc/rp/key.pem\n"
                                           "  hosts: [rack1.example.net, 10.0.0.7]\n"
                                           "  origins: ['https://rack1.example.net:8470']\n"
                                           "  command_rate: 0.5\n"
                                           "  command_burst: 3\n"),
                     0);
    assert_string_equal(dc.api.socket, "/run/rp/rp.sock");
    assert_string_equal(dc.api.socket_group, "rackops");
    assert_int_equal(dc.api.socket_role, 2);
    assert_string_equal(dc.api.tokens, "/etc/rp/tokens");
    assert_string_equal(dc.api.tls_cert, "/etc/rp/cert.pem");
    assert_string_equal(dc.api.tls_key, "/etc/rp/key.pem");
    assert_int_equal(dc.api.plain_reads, 0);
    assert_int_equal(dc.api.nhosts, 2);
    assert_string_equal(dc.api.hosts[1], "10.0.0.7");
    assert_int_equal(dc.api.norigins, 1);
    assert_string_equal(dc.api.origins[0], "https://rack1.example.net:8470");
    assert_int_equal(dc.api.command_rate_milli, 500);
    assert_int_equal(dc.api.command_burst, 3);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    /* the defaults: the default socket and tokens places, viewers on the
     * socket's group, no plain reads, 10 commands a second, 20 at once */
    assert_int_equal(load_config(CONF_RACK "api: {socket: none}\n"), 0);
    assert_string_equal(dc.api.socket, "none");
    assert_string_equal(dc.api.tokens, "");
    assert_int_equal(dc.api.socket_role, 1);
    assert_int_equal(dc.api.command_rate_milli, 10000);
    assert_int_equal(dc.api.command_burst, 20);
    rack_free(&r);
    rackfile_daemon_free(&dc);

    expect_config_error(CONF_RACK "api: {listen: 0.0.0.0}\n",
                        "t.yaml:12:6: api: listen 0.0.0.0 without tls_cert and tls_key: plain "
                        "HTTP is served on loopback only (127.0.0.1 or ::1), tokens must not "
                        "cross a network in clear");
    expect_config_error(CONF_RACK "api: {tls_cert: /c.pem}\n",
                        "t.yaml:12:17: api: tls_cert and tls_key go together");
    expect_config_error(CONF_RACK "api: {tls_cert: /c.pem, tls_key: /k.pem, plain_reads: true}\n",
                        "t.yaml:12:55: api: plain_reads: with tls_cert every request needs a "
                        "token");
    expect_config_error(CONF_RACK "api: {socket_role: root}\n",
                        "t.yaml:12:20: socket_role: expected one of none, viewer, operator, "
                        "admin, got 'root'");
    expect_config_error(CONF_RACK "api: {socket: rp.sock}\n",
                        "t.yaml:12:15: socket: expected an absolute path (starting with /), got "
                        "'rp.sock'");
    expect_config_error(CONF_RACK "api: {origins: [evil.example.com]}\n",
                        "t.yaml:12:17: origins: expected an origin such as "
                        "https://rack1.example.net:8470, got 'evil.example.com'");
    expect_config_error(CONF_RACK "api: {hosts: x}\n",
                        "t.yaml:12:14: hosts: expected a list such as [rack1.example.net], got "
                        "'x'");
}

static void test_config_node_section(void **state)
{
    (void)state;
    assert_int_equal(load_config(CONF_RACK "node:\n"
                                           "  address: 2\n"
                                           "  listen: 127.0.0.1:7302\n"
                                           "  peers:\n"
                                           "    - {address: 1, at: 127.0.0.1:7301}\n"
                                           "    - {address: 3, at: '[::1]:7303'}\n"
                                           "  multicast: 239.255.70.1:7300\n"
                                           "  key_file: /etc/rackpower/rack.key\n"
                                           "  heartbeat_ms: 50\n"
                                           "  missed_heartbeats: 4\n"),
                     0);
    assert_int_equal(dc.node.address, 2);
    assert_int_equal(dc.node.line, 13);
    assert_string_equal(dc.node.listen.host, "127.0.0.1");
    assert_int_equal(dc.node.listen.port, 7302);
    assert_int_equal(dc.node.npeers, 2);
    assert_int_equal(dc.node.peers[0].address, 1);
    assert_int_equal(dc.node.peers[1].address, 3);
    assert_string_equal(dc.node.peers[1].at.host, "::1");
    assert_int_equal(dc.node.peers[1].at.port, 7303);
    assert_string_equal(dc.node.multicast.host, "239.255.70.1");
    assert_int_equal(dc.node.multicast.port, 7300);
    assert_string_equal(dc.node.key_file, "/etc/rackpower/rack.key");
    assert_int_equal(dc.node.heartbeat_ns, 50000000);
    assert_int_equal(dc.node.missed, 4);
    char text[64];
    rackfile_udp_text(&dc.node.peers[1].at, text, sizeof(text));
    assert_string_equal(text, "[::1]:7303");
    rack_free(&r);
    rackfile_daemon_free(&dc);
    /* the defaults: no peers, no multicast, 100 ms, 3 missed */
    assert_int_equal(
        load_config(CONF_RACK "node: {address: 1, listen: '[::1]:7301', key_file: /k}\n"), 0);
    assert_int_equal(dc.node.npeers, 0);
    assert_null(dc.node.peers);
    assert_int_equal(dc.node.multicast.port, 0);
    assert_int_equal(dc.node.heartbeat_ns, 100000000);
    assert_int_equal(dc.node.missed, 3);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    /* no node: a lone controller */
    assert_int_equal(load_config(CONF_RACK), 0);
    assert_int_equal(dc.node.address, 0);
    rack_free(&r);
    rackfile_daemon_free(&dc);

    expect_config_error(CONF_RACK "node: {listen: 127.0.0.1:7301, key_file: /k}\n",
                        "t.yaml:12:7: missing required key 'address' in node");
    expect_config_error(CONF_RACK "node: {address: 256, listen: 127.0.0.1:7301, key_file: /k}\n",
                        "t.yaml:12:17: address: must be at most 255, got '256'");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1, key_file: /k}\n",
                        "t.yaml:12:28: listen: expected an address and a UDP port such as "
                        "127.0.0.1:7301 or [::1]:7301, got '127.0.0.1'");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 'ctl1:7301', key_file: /k}\n",
                        "t.yaml:12:28: listen: expected an address and a UDP port such as "
                        "127.0.0.1:7301 or [::1]:7301, got 'ctl1:7301'");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:70000, key_file: /k}\n",
                        "t.yaml:12:28: listen: expected an address and a UDP port such as "
                        "127.0.0.1:7301 or [::1]:7301, got '127.0.0.1:70000'");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301}\n",
                        "t.yaml:12:7: missing required key 'key_file' in node");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: k}\n",
                        "t.yaml:12:54: key_file: expected an absolute path (starting with /), "
                        "got 'k'");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "peers: [{address: 1, at: 127.0.0.1:7302}]}\n",
                        "t.yaml:12:65: peers: the peer at line 12 has this controller's own "
                        "address 1");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "peers: [{address: 2, at: 127.0.0.1:7301}]}\n",
                        "t.yaml:12:65: peers: the peer at line 12 is at this controller's own "
                        "listen address");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "peers: [{address: 2, at: 127.0.0.1:7302}, {address: 2, at: "
                                  "127.0.0.1:7303}]}\n",
                        "t.yaml:12:110: address: peer 2 is already listed at line 12");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "peers: [{address: 2}]}\n",
                        "t.yaml:12:66: missing required key 'at' in peer");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "multicast: 10.0.0.1:7300}\n",
                        "t.yaml:12:69: multicast: 10.0.0.1 is not a multicast group "
                        "(224.0.0.0/4 or ff00::/8)");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "heartbeat_ms: 5}\n",
                        "t.yaml:12:72: heartbeat_ms: must be >= 10, got '5'");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "missed_heartbeats: 1}\n",
                        "t.yaml:12:77: missed_heartbeats: expected an integer >= 2, got '1'");
    expect_config_error(CONF_RACK "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, "
                                  "epoch: 3}\n",
                        "t.yaml:12:58: unknown key 'epoch' in node (expected address, listen, "
                        "peers, multicast, key_file, heartbeat_ms, missed_heartbeats)");
}

#define NODE_1 "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k}\n"

/* Under node:, every device that commands must fence (its commands carry the
 * epoch); one that only reads is fine, and each is marked clustered. */
static void test_config_cluster_refuses_command_devices_without_an_epoch(void **state)
{
    (void)state;
    assert_int_equal(load_config(CONF_RACK "devices:\n"
                                           "  - {kind: hwmon, path: /sys/class/hwmon/hwmon3, "
                                           "psu: ps2}\n"
                                           "  - kind: modbus-tcp\n"
                                           "    host: 10.0.0.5\n"
                                           "    units:\n"
                                           "      - {unit: 1, switches: [ps2, ps1]}\n"
                                           "      - {unit: 10, chassis: c1}\n" NODE_1),
                     0);
    assert_true(dc.devices[0].clustered);
    assert_true(dc.devices[1].clustered);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    /* a lone controller: nothing is marked, the simulated rack is fine */
    assert_int_equal(load_config(CONF_RACK "devices:\n  - {kind: sim}\n"), 0);
    assert_false(dc.devices[0].clustered);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    expect_config_error(CONF_RACK NODE_1 "devices:\n  - {kind: sim}\n",
                        "t.yaml:14:5: devices[0] (sim): its commands cannot carry an epoch; a "
                        "cluster (node: at line 12) needs command devices with an owner-epoch "
                        "register (docs/controllers.md)");
}

static void test_config_loads_every_device_field(void **state)
{
    (void)state;
    assert_int_equal(load_config(CONF_RACK "devices:\n"
                                           "  - kind: modbus-tcp\n"
                                           "    host: 10.0.0.5\n"
                                           "    port: 1502\n"
                                           "    timeout_ms: 250\n"
                                           "    units:\n"
                                           "      - {unit: 200, psu: ps1}\n"
                                           "      - {unit: 1, switches: [ps2, ps1]}\n"
                                           "      - {unit: 10, chassis: c1}\n"
                                           "      - {unit: 9, servers: [web1]}\n"
                                           "  - {kind: hwmon, path: /sys/class/hwmon/hwmon3, "
                                           "psu: ps2, poll_ms: 500}\n"
                                           "  - kind: modbus-rtu\n"
                                           "    device: /dev/ttyUSB0\n"
                                           "    baud: 115200\n"
                                           "    parity: none\n"
                                           "    data_bits: 7\n"
                                           "    stop_bits: 2\n"
                                           "    units: [{unit: 3, psu: ps3, extension: rackpower}, "
                                           "{unit: 4, servers: [gpu1]}]\n"
                                           "api: {listen: '::1', port: 0, keepalive_s: 2.5}\n"),
                     0);
    assert_int_equal(dc.ndevices, 3);
    const struct rackfile_device *d = &dc.devices[0];
    assert_int_equal(d->kind, RACKFILE_DEV_MODBUS_TCP);
    assert_int_equal(d->line, 13);
    assert_string_equal(d->host, "10.0.0.5");
    assert_int_equal(d->port, 1502);
    assert_int_equal(d->timeout_ns, 250000000LL);
    assert_int_equal(d->poll_ns, 1000000000LL);
    assert_int_equal(d->nunits, 4);
    assert_int_equal(d->units[0].unit, 200);
    assert_int_equal(d->units[0].role, RACKFILE_UNIT_PSU);
    assert_int_equal(d->units[0].psu, 0);
    assert_int_equal(d->units[0].extension, RACKFILE_EXT_NONE); /* never written blindly */
    assert_int_equal(dc.devices[2].units[0].extension, RACKFILE_EXT_RACKPOWER);
    assert_int_equal(d->units[1].role, RACKFILE_UNIT_SWITCH);
    assert_int_equal(d->units[1].items.n, 2);
    assert_int_equal(d->units[1].items.v[0], 1); /* coil order as written */
    assert_int_equal(d->units[1].items.v[1], 0);
    assert_int_equal(d->units[2].role, RACKFILE_UNIT_CHASSIS);
    assert_int_equal(d->units[2].chassis, 0);
    assert_int_equal(d->units[2].items.n, 2); /* c1's servers in rack order */
    assert_int_equal(d->units[2].items.v[0], 0);
    assert_int_equal(d->units[2].items.v[1], 2);
    assert_int_equal(d->units[3].role, RACKFILE_UNIT_CHASSIS);
    assert_int_equal(d->units[3].chassis, -1);
    assert_int_equal(d->units[3].items.n, 1);
    assert_int_equal(d->units[3].items.v[0], 1);
    d = &dc.devices[1];
    assert_int_equal(d->kind, RACKFILE_DEV_HWMON);
    assert_string_equal(d->path, "/sys/class/hwmon/hwmon3");
    assert_int_equal(d->psu, 1);
    assert_int_equal(d->poll_ns, 500000000LL);
    d = &dc.devices[2];
    assert_int_equal(d->kind, RACKFILE_DEV_MODBUS_RTU);
    assert_string_equal(d->device, "/dev/ttyUSB0");
    assert_int_equal(d->baud, 115200);
    assert_int_equal(d->parity, RACKFILE_PARITY_NONE);
    assert_int_equal(d->data_bits, 7);
    assert_int_equal(d->stop_bits, 2);
    assert_int_equal(d->timeout_ns, 500000000LL);
    assert_int_equal(d->nunits, 2);
    assert_string_equal(dc.api.listen, "::1");
    assert_int_equal(dc.api.port, 0);
    assert_int_equal(dc.api.keepalive_ns, 2500000000LL);
    assert_string_equal(driver_kind_name(RACKFILE_DEV_MODBUS_RTU), "modbus-rtu");
}

/* prediction: its defaults, its values, and mistakes named with their place */
static void test_config_prediction(void **state)
{
    (void)state;
    assert_int_equal(load_config(CONF_RACK), 0);
    assert_int_equal(dc.prediction.enabled, 1);
    assert_string_equal(dc.prediction.model, "");
    assert_true(dc.prediction.threshold == 0);
    assert_true(dc.prediction.time_scale == 1);
    assert_int_equal(dc.prediction.sample_s, 60);
    assert_int_equal(dc.prediction.line, 0);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    assert_int_equal(load_config(CONF_RACK "prediction:\n"
                                           "  enabled: false\n"
                                           "  model: /etc/rackpower/m.txt\n"
                                           "  threshold: 0.4\n"
                                           "  time_scale: 21600\n"
                                           "  sample_s: 300\n"),
                     0);
    assert_int_equal(dc.prediction.enabled, 0);
    assert_string_equal(dc.prediction.model, "/etc/rackpower/m.txt");
    assert_true(dc.prediction.threshold == 0.4);
    assert_true(dc.prediction.time_scale == 21600);
    assert_int_equal(dc.prediction.sample_s, 300);
    assert_true(dc.prediction.line > 0);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    static const char *const bad[][2] = {
        {"prediction:\n  threshold: 1\n", "threshold"},
        {"prediction:\n  threshold: -0.1\n", "threshold"},
        {"prediction:\n  time_scale: 0\n", "time_scale"},
        {"prediction:\n  sample_s: 0\n", "sample_s"},
        {"prediction:\n  model: rel/m.txt\n", "model"},
        {"prediction:\n  enabled: yes please\n", "enabled"},
        {"prediction:\n  window_s: 60\n", "window_s"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[4096];
        snprintf(text, sizeof(text), "%s%s", CONF_RACK, bad[i][0]);
        assert_int_equal(load_config(text), -1);
        if (strncmp(err, "t.yaml:", 7) != 0 || !strstr(err, bad[i][1]))
            fail_msg("%s: %s", bad[i][0], err);
    }
}

static void test_config_defaults_and_the_sim(void **state)
{
    (void)state;
    assert_int_equal(load_config(CONF_RACK), 0);
    assert_int_equal(dc.ndevices, 0);
    assert_string_equal(dc.api.listen, "127.0.0.1");
    assert_int_equal(dc.api.port, 8470);
    assert_int_equal(dc.api.keepalive_ns, 15000000000LL);
    rack_free(&r);
    assert_int_equal(load_config(CONF_RACK "devices:\n"
                                           "  - {kind: modbus-rtu, device: /dev/ttyS0, units: "
                                           "[{unit: 1, psu: ps1}]}\n"),
                     0);
    const struct rackfile_device *d = &dc.devices[0];
    assert_int_equal(d->baud, 19200);
    assert_int_equal(d->parity, RACKFILE_PARITY_EVEN);
    assert_int_equal(d->data_bits, 8);
    assert_int_equal(d->stop_bits, 1);
    assert_int_equal(d->poll_ns, 1000000000LL);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    assert_int_equal(load_config(CONF_RACK "devices:\n"
                                           "  - kind: sim\n"
                                           "    boot: [db1, gpu1]\n"
                                           "    seed: 7\n"
                                           "    poll_ms: 250\n"
                                           "    timeline:\n"
                                           "      - {at: 5, psu_fail: ps1}\n"
                                           "      - {at: 9.5, psu_repair: ps1, power_on: web1}\n"
                                           "api: {port: 9000}\n"),
                     0);
    d = &dc.devices[0];
    assert_int_equal(d->kind, RACKFILE_DEV_SIM);
    assert_int_equal(d->boot.n, 2);
    assert_int_equal(d->boot.v[1], 3);
    assert_int_equal(d->seed, 7);
    assert_int_equal(d->poll_ns, 250000000LL);
    assert_int_equal(d->timeline.nsteps, 2);
    assert_int_equal(d->timeline.steps[1].at_ns, 9500000000LL);
    assert_int_equal(d->timeline.steps[1].ninputs, 2);
    assert_int_equal(d->timeline.steps[1].inputs[1].kind, POLICY_POWER_ON);
    assert_int_equal(d->timeline.steps[1].inputs[1].index, 1);
    assert_string_equal(dc.api.listen, "127.0.0.1");
    assert_int_equal(dc.api.port, 9000);
}

static void test_only_daemon_configs_take_devices_and_api(void **state)
{
    (void)state;
    expect_rack_error(BUSES "devices: []\n",
                      "t.yaml:3:1: devices: only allowed in a daemon config");
    expect_error(BUSES "api: {port: 1}\n", "t.yaml:3:1: api: only allowed in a daemon config");
    expect_config_error(BUSES "timeline: []\n",
                        "t.yaml:3:1: timeline: only allowed in a scenario file");
    expect_config_error(BUSES "racks: {}\n",
                        "t.yaml:3:1: unknown top-level key 'racks' (expected "
                        "rack, devices, api, journal, history, node, prediction)");
    expect_config_error("- rack\n",
                        "t.yaml:1:1: expected a mapping at the top level (with keys "
                        "rack, devices, api, journal, history, node, prediction), got a list");
}

#define DEV(text) CONF_RACK "devices:\n  - " text "\n"

static void test_config_device_mistakes(void **state)
{
    (void)state;
    expect_config_error(CONF_RACK "devices: {kind: sim}\n",
                        "t.yaml:12:10: devices: expected a list of devices, got a mapping");
    expect_config_error(DEV("5"), "t.yaml:13:5: device: expected a mapping with a kind, got '5'");
    expect_config_error(DEV("{host: x}"), "t.yaml:13:5: missing required key 'kind' in device "
                                          "(one of sim, modbus-tcp, modbus-rtu, hwmon, ipmi, nut)");
    expect_config_error(DEV("{kind: modbus}"),
                        "t.yaml:13:12: kind: expected one of sim, "
                        "modbus-tcp, modbus-rtu, hwmon, ipmi, nut, got 'modbus'");
    expect_config_error(DEV("{kind: sim, hosts: x}"),
                        "t.yaml:13:17: unknown key 'hosts' in sim device (expected kind, boot, "
                        "timeline, seed, poll_ms)");
    expect_config_error(DEV("{kind: modbus-tcp, units: [{unit: 1, psu: ps1}]}"),
                        "t.yaml:13:5: missing required key 'host' in modbus-tcp device");
    expect_config_error(DEV("{kind: modbus-tcp, host: 'a b', units: [{unit: 1, psu: ps1}]}"),
                        "t.yaml:13:30: host: expected a host name or an IP address, got 'a b'");
    expect_config_error(DEV("{kind: modbus-tcp, host: x, port: 0, units: [{unit: 1, psu: ps1}]}"),
                        "t.yaml:13:39: port: expected an integer >= 1, got '0'");
    expect_config_error(DEV("{kind: modbus-tcp, host: x, timeout_ms: 0, units: [{unit: 1, psu: "
                            "ps1}]}"),
                        "t.yaml:13:45: timeout_ms: must be > 0, got '0'");
    expect_config_error(DEV("{kind: modbus-tcp, host: x, units: []}"),
                        "t.yaml:13:40: units: expected a list of units such as [{unit: 200, psu: "
                        "ps1}], got an empty list");
    expect_config_error(DEV("{kind: modbus-rtu, device: dev/ttyUSB0, units: [{unit: 1, psu: "
                            "ps1}]}"),
                        "t.yaml:13:32: device: expected an absolute path (starting with /), got "
                        "'dev/ttyUSB0'");
    expect_config_error(DEV("{kind: modbus-rtu, device: /dev/x, baud: 12345, units: [{unit: 1, "
                            "psu: ps1}]}"),
                        "t.yaml:13:46: baud: expected one of 1200, 2400, 4800, 9600, 19200, "
                        "38400, 57600, 115200, 230400, 460800, 921600, got '12345'");
    expect_config_error(DEV("{kind: modbus-rtu, device: /dev/x, parity: mark, units: [{unit: 1, "
                            "psu: ps1}]}"),
                        "t.yaml:13:48: parity: expected one of none, even, odd, got 'mark'");
    expect_config_error(DEV("{kind: modbus-rtu, device: /dev/x, data_bits: 6, units: [{unit: 1, "
                            "psu: ps1}]}"),
                        "t.yaml:13:51: data_bits: expected an integer >= 7, got '6'");
    expect_config_error(DEV("{kind: modbus-rtu, device: /dev/x, stop_bits: 3, units: [{unit: 1, "
                            "psu: ps1}]}"),
                        "t.yaml:13:51: stop_bits: must be at most 2, got '3'");
    expect_config_error(DEV("{kind: hwmon, path: /x, psu: ps9}"),
                        "t.yaml:13:34: psu: unknown psu 'ps9'");
    expect_config_error(DEV("{kind: hwmon, path: /x, psu: ps1, units: []}"),
                        "t.yaml:13:39: unknown key 'units' in hwmon device (expected kind, path, "
                        "psu, poll_ms)");
    expect_config_error(DEV("{kind: sim}\n  - {kind: hwmon, path: /x, psu: ps1}"),
                        "t.yaml:14:5: devices: a sim device simulates the whole rack and cannot "
                        "be combined with other devices (the sim is at line 13)");
    expect_config_error(DEV("{kind: sim, boot: [ghost]}"),
                        "t.yaml:13:24: boot: unknown server 'ghost'");
    expect_config_error(DEV("{kind: sim, boot: [db1, db1]}"),
                        "t.yaml:13:29: boot: server 'db1' is listed twice");
    expect_config_error(DEV("{kind: sim, boot: db1}"), "t.yaml:13:23: boot: expected a list of "
                                                       "server ids such as [db1, web1], got 'db1'");
    expect_config_error(DEV("{kind: sim, timeline: [{at: 1, psu_fail: ghost}]}"),
                        "t.yaml:13:46: psu_fail: unknown psu 'ghost'");
    expect_config_error(DEV("{kind: sim, poll_ms: 0}"), "t.yaml:13:26: poll_ms: must be > 0, got "
                                                        "'0'");
}

/* A BBU unit reads a reserve of kind bbu (role: bbu), and one device reads it. */
#define BBU_RACK                                                                                   \
    CONF_RACK "  reserves:\n"                                                                      \
              "    - {id: bbu1, kind: bbu, bus: A, energy_wh: 1000, max_w: 15000}\n"               \
              "    - {id: bat1, kind: server, server: db1, energy_wh: 50, max_w: 800}\n"
#define BBU_TCP(units) BBU_RACK "devices:\n  - {kind: modbus-tcp, host: x, units: [" units "]}\n"

static void test_config_bbu_unit_reads_a_bbu_reserve_once(void **state)
{
    (void)state;
    assert_int_equal(
        load_config(BBU_TCP("{unit: 200, psu: ps1}, {unit: 64, role: bbu, reserve: bbu1}")), 0);
    assert_int_equal(dc.devices[0].nunits, 2);
    assert_int_equal(dc.devices[0].units[1].role, RACKFILE_UNIT_BBU);
    assert_int_equal(dc.devices[0].units[1].reserve, 0);
    assert_int_equal(dc.devices[0].units[1].unit, 64);
    assert_int_equal(dc.devices[0].units[0].reserve, -1);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    expect_config_error(BBU_TCP("{unit: 64, reserve: bat1, role: bbu}"),
                        "t.yaml:16:61: reserve: bat1 is a reserve of kind server; a BBU unit "
                        "reads a reserve of kind bbu (a ups is read through kind: nut)");
    expect_config_error(BBU_TCP("{unit: 64, reserve: bbu1, role: battery}"),
                        "t.yaml:16:73: role: expected bbu (an ORv3 BBU, with reserve: ID), got "
                        "'battery'");
    expect_config_error(BBU_TCP("{unit: 64, reserve: bbu1, role: bbu}, "
                                "{unit: 65, reserve: bbu1, role: bbu}"),
                        "t.yaml:16:99: reserve: reserve 'bbu1' is already mapped at line 16 (a "
                        "reserve is read by one device)");
}

/* The nut device's keys (docs/daemon.md): a rack with a UPS on each feed and
 * a BBU. */
#define NUT_RACK                                                                                   \
    "rack:\n"                                                                                      \
    "  feeds: [F1, F2]\n"                                                                          \
    "  buses: [A, B]\n"                                                                            \
    "  psus:\n"                                                                                    \
    "    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A, B]}\n"                                 \
    "    - {id: ps2, capacity_w: 3000, feed: F2, buses: [A, B]}\n"                                 \
    "  servers:\n"                                                                                 \
    "    - {id: db1, power_w: 800, priority: 1, buses: [A, B]}\n"                                  \
    "    - {id: web1, power_w: 400, priority: 2, buses: [B]}\n"                                    \
    "  reserves:\n"                                                                                \
    "    - {id: ups1, kind: ups, feed: F1, energy_wh: 500, max_w: 4000}\n"                         \
    "    - {id: ups2, kind: ups, feed: F2, energy_wh: 500, max_w: 4000}\n"                         \
    "    - {id: bbu1, kind: bbu, bus: A, energy_wh: 500, max_w: 4000}\n"                           \
    "devices:\n"
#define NUT_AUTH "user: rackpower, password_file: /etc/rackpower/upsd.pass"

/* A failed config load whose message holds want. */
static void expect_config_error_has(const char *text, const char *want)
{
    assert_int_equal(load_config(text), -1);
    if (!strstr(err, want))
        fail_msg("'%s' does not say '%s'", err, want);
    assert_int_equal(dc.ndevices, 0);
}

static void test_nut_device_reads_reserves_and_publishes_every_servers_stage(void **state)
{
    (void)state;
    assert_int_equal(load_config(NUT_RACK "  - {kind: nut, " NUT_AUTH ", ups: [{ups: ups-a, "
                                          "reserve: ups1}], stages: all}\n"),
                     0);
    assert_int_equal(dc.ndevices, 1);
    const struct rackfile_device *d = &dc.devices[0];
    assert_int_equal(d->kind, RACKFILE_DEV_NUT);
    assert_string_equal(d->host, "127.0.0.1");
    assert_int_equal(d->port, 3493);
    assert_int_equal(d->poll_ns, 2000000000LL);
    assert_int_equal(d->timeout_ns, 2000000000LL);
    assert_string_equal(d->user, "rackpower");
    assert_string_equal(d->password_file, "/etc/rackpower/upsd.pass");
    assert_int_equal(d->nups, 3);
    assert_string_equal(d->ups[0].ups, "ups-a");
    assert_int_equal(d->ups[0].reserve, 0);
    assert_int_equal(d->ups[0].server, -1);
    assert_string_equal(d->ups[1].ups, "db1");
    assert_int_equal(d->ups[1].server, 0);
    assert_int_equal(d->ups[1].reserve, -1);
    assert_string_equal(d->ups[2].ups, "web1");
    assert_int_equal(d->ups[2].server, 1);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    /* reading only: no user needed */
    assert_int_equal(load_config(NUT_RACK "  - {kind: nut, host: ups.example, port: 3494, ups: "
                                          "[{ups: ups1, reserve: ups1}]}\n"),
                     0);
    assert_int_equal(dc.devices[0].port, 3494);
    assert_string_equal(dc.devices[0].host, "ups.example");
    rack_free(&r);
    rackfile_daemon_free(&dc);
}

static void test_nut_device_mistakes_are_named(void **state)
{
    (void)state;
    expect_config_error_has(NUT_RACK "  - {kind: nut}\n",
                            "t.yaml:15:5: nut device: expected ups: (the UPSes it reads or "
                            "publishes stages on) or stages: all");
    expect_config_error_has(NUT_RACK "  - {kind: nut, stages: all}\n",
                            "t.yaml:15:5: nut device: publishing servers' stages needs user and "
                            "password_file");
    expect_config_error_has(NUT_RACK "  - {kind: nut, stages: some}\n",
                            "t.yaml:15:25: stages: expected all");
    expect_config_error_has(NUT_RACK
                            "  - {kind: nut, ups: [{ups: u, reserve: ups1, server: db1}]}\n",
                            "ups: a UPS is either a reserve it reads or a server");
    expect_config_error_has(NUT_RACK "  - {kind: nut, ups: [{ups: \"a b\", reserve: ups1}]}\n",
                            "ups: expected a UPS name as upsd knows it");
    expect_config_error_has(NUT_RACK "  - {kind: nut, ups: [{ups: b, reserve: bbu1}]}\n",
                            "reserve: reserve 'bbu1' is a bbu; a upsd reads reserves of kind ups");
    expect_config_error_has(NUT_RACK "  - {kind: nut, ups: [{ups: b, reserve: nope}]}\n",
                            "reserve: no reserve 'nope' in the rack");
    expect_config_error_has(NUT_RACK "  - {kind: nut, ups: [{ups: a, reserve: ups1}, {ups: a, "
                                     "reserve: ups2}]}\n",
                            "ups: 'a' is named twice on this device");
    expect_config_error_has(NUT_RACK "  - {kind: nut, " NUT_AUTH ", ups: [{ups: x, server: db1}], "
                                     "stages: all}\n",
                            "server 'db1' is already mapped at line 15 (a server's stage is "
                            "published by one device)");
    expect_config_error_has(NUT_RACK
                            "  - {kind: nut, ups: [{ups: a, reserve: ups1}]}\n"
                            "  - {kind: nut, port: 3494, ups: [{ups: a, reserve: ups1}]}\n",
                            "reserve: reserve 'ups1' is already mapped at line 15 (a reserve is "
                            "read by one device)");
    expect_config_error_has(NUT_RACK "  - {kind: nut, user: rp, ups: [{ups: a, reserve: ups1}]}\n",
                            "user and password_file go together");
    expect_config_error_has(NUT_RACK "  - {kind: nut, password_file: pass, ups: [{ups: a, "
                                     "reserve: ups1}]}\n",
                            "password_file: expected an absolute path");
}

static void test_config_unit_mistakes(void **state)
{
    (void)state;
#define TCP(units) DEV("{kind: modbus-tcp, host: x, units: [" units "]}")
    expect_config_error(
        TCP("{unit: 1}"),
        "t.yaml:13:41: unit 1: expected one of psu, switches, chassis, servers or reserve");
    expect_config_error(TCP("{unit: 1, psu: ps1, switches: [ps2]}"),
                        "t.yaml:13:61: switches: a unit is one of psu, switches, chassis, "
                        "servers or reserve (a BBU), and this one is already a psu");
    expect_config_error(TCP("{unit: 64, psu: ps1, role: bbu}"),
                        "t.yaml:13:62: role: a BBU unit names its reserve (reserve: ID)");
    expect_config_error(TCP("{unit: 64, reserve: bbu1}"),
                        "t.yaml:13:52: reserve: a unit that reads a reserve says what it is "
                        "(role: bbu)");
    expect_config_error(TCP("{unit: 64, reserve: bbu1, role: bbu}"),
                        "t.yaml:13:61: reserve: 'bbu1' is not a reserve of the rack");
    expect_config_error_has(TCP("{unit: 1, switches: [ps1], extension: rackpower}"),
                            "extension: only a PSU unit (psu: ID) has one");
    expect_config_error_has(TCP("{unit: 200, psu: ps1, extension: yes}"),
                            "extension: expected one of none, rackpower");
    expect_config_error(TCP("{unit: 1, psu: ps1}, {unit: 1, psu: ps2}"),
                        "t.yaml:13:69: unit: 1 is used twice on this device (first at line 13)");
    expect_config_error(TCP("{unit: 0, psu: ps1}"),
                        "t.yaml:13:48: unit: expected an integer >= 1, got '0'");
    expect_config_error(TCP("{unit: 256, psu: ps1}"),
                        "t.yaml:13:48: unit: must be at most 247, got '256'");
    expect_config_error(TCP("{unit: 1, chassis: c9}"),
                        "t.yaml:13:60: chassis: unknown chassis 'c9'");
    expect_config_error(TCP("{unit: 1, switches: [ps1, ps1]}"),
                        "t.yaml:13:67: switches: psu 'ps1' is listed twice");
    expect_config_error(TCP("{unit: 1, psu: ps1}, {unit: 2, psu: ps1}"),
                        "t.yaml:13:77: psu: psu 'ps1' is already mapped at line 13 (a PSU is "
                        "read by one device)");
    expect_config_error(TCP("{unit: 10, chassis: c1}, {unit: 11, servers: [web2]}"),
                        "t.yaml:13:87: servers: server 'web2' is already mapped at line 13 (a "
                        "server sits in one chassis module)");
    expect_config_error(TCP("{unit: 11, servers: [web2]}, {unit: 10, chassis: c1}"),
                        "t.yaml:13:90: chassis: server 'web2' is already mapped at line 13 (a "
                        "server sits in one chassis module)");
    expect_config_error(DEV("{kind: modbus-tcp, host: x, units: [{unit: 1, switches: [ps1]}]}\n"
                            "  - {kind: modbus-rtu, device: /dev/x, units: [{unit: 1, switches: "
                            "[ps1]}]}"),
                        "t.yaml:14:69: switches: psu 'ps1' is already mapped at line 13 (a PSU "
                        "has one switch)");
    expect_config_error(DEV("{kind: modbus-tcp, host: x, units: [{unit: 1, psu: ps1}]}\n"
                            "  - {kind: hwmon, path: /x, psu: ps1}"),
                        "t.yaml:14:34: psu: psu 'ps1' is already mapped at line 13 (a PSU is "
                        "read by one device)");
#undef TCP
}

static void test_config_api_mistakes(void **state)
{
    (void)state;
    expect_config_error(CONF_RACK "api: {listen: localhost}\n",
                        "t.yaml:12:15: listen: expected an IPv4 or IPv6 address such as "
                        "127.0.0.1 or ::1, got 'localhost'");
    expect_config_error(CONF_RACK "api: {port: 70000}\n",
                        "t.yaml:12:13: port: must be at most 65535, got '70000'");
    expect_config_error(CONF_RACK "api: {keepalive_s: 0}\n",
                        "t.yaml:12:20: keepalive_s: must be > 0, got '0'");
    expect_config_error(CONF_RACK "api:\n", "t.yaml:12:5: api: expected a mapping, got nothing");
    expect_config_error(CONF_RACK "api: {bind: x}\n",
                        "t.yaml:12:7: unknown key 'bind' in api (expected listen, port, "
                        "keepalive_s, socket, socket_group, socket_role, tokens, tls_cert, "
                        "tls_key, plain_reads, hosts, origins, command_rate, command_burst)");
}

/* ---- the schema knows no driver: it reads what the drivers it is given define ---- */

enum { FAKE_KIND = 42 }; /* no driver of the build has it */

/* A driver's check: what spans keys, reported at the entry like any mistake. */
static int fake_check(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_device *dev,
                      const yaml_node_t *vals[])
{
    (void)vals;
    if (strcmp(dev->path, "/refused") == 0)
        return conf_fail(c, map, "fake: %s is refused", dev->path);
    return daemonconf_claim(c, DAEMONCONF_READ_PSU, 0, dev->line, map, "fake");
}

static const struct conf_field fake_fields[] = {
    {"kind", daemonconf_set_kind, .required = true},
    {"path", conf_set_path, .required = true, .off = offsetof(struct rackfile_device, path)},
    {"seed", conf_set_int, .def = "7", .off = offsetof(struct rackfile_device, seed), .max = 9},
};
static const struct conf_table fake_table = {
    .what = "fake device", .f = fake_fields, .n = sizeof(fake_fields) / sizeof(fake_fields[0])};
static const struct daemonconf_driver fake_keys = {.kind = "fake",
                                                   .id = (enum rackfile_device_kind)FAKE_KIND,
                                                   .keys = &fake_table,
                                                   .check = fake_check};
static const struct daemonconf_driver fake_alone_keys = {
    .kind = "alone",
    .id = (enum rackfile_device_kind)(FAKE_KIND + 1),
    .keys = &fake_table,
    .whole_rack = true};

static int load_with_fakes(const char *text)
{
    static const struct daemonconf_driver *const drivers[] = {&fake_keys, &fake_alone_keys, NULL};
    return rackfile_load_config_string("t.yaml", text, strlen(text), drivers, &r, &dc, err,
                                       sizeof(err));
}

static void expect_fake_error(const char *text, const char *want)
{
    assert_int_equal(load_with_fakes(text), -1);
    assert_string_equal(err, want);
    assert_null(r.psus);
    assert_null(dc.devices);
}

static void test_config_reads_the_keys_of_the_drivers_it_is_given(void **state)
{
    (void)state;
    assert_int_equal(load_with_fakes(DEV("{kind: fake, path: /a}")), 0);
    assert_int_equal(dc.ndevices, 1);
    assert_int_equal(dc.devices[0].kind, FAKE_KIND);
    assert_string_equal(dc.devices[0].path, "/a");
    assert_int_equal(dc.devices[0].seed, 7); /* the driver's default */
    assert_int_equal(dc.devices[0].line, 13);
    rackfile_daemon_free(&dc);
    rack_free(&r);

    /* The build's drivers are unknown to a schema not given them. */
    expect_fake_error(DEV("{kind: sim}"),
                      "t.yaml:13:12: kind: expected one of fake, alone, got 'sim'");
    expect_fake_error(DEV("{path: /a}"),
                      "t.yaml:13:5: missing required key 'kind' in device (one of fake, alone)");
    expect_fake_error(DEV("{kind: fake, path: /a, seed: 10}"),
                      "t.yaml:13:34: seed: must be at most 9, got '10'");
    expect_fake_error(
        DEV("{kind: fake, path: /a, host: x}"),
        "t.yaml:13:28: unknown key 'host' in fake device (expected kind, path, seed)");
    /* The driver's check runs after its table, and claims are the schema's. */
    expect_fake_error(DEV("{kind: fake, path: /refused}"),
                      "t.yaml:13:5: fake: /refused is refused");
    expect_fake_error(DEV("{kind: fake, path: /a}\n  - {kind: fake, path: /b}"),
                      "t.yaml:14:5: fake: psu 'ps1' is already mapped at line 13 (a PSU is read "
                      "by one device)");
    expect_fake_error(DEV("{kind: fake, path: /a}\n  - {kind: alone, path: /b}"),
                      "t.yaml:14:5: devices: a alone device simulates the whole rack and cannot "
                      "be combined with other devices (the alone is at line 14)");
}

/* ---- outages: qos_classes, activities, reserves, outage, events ---- */

#define OUTAGE_RACK                                                                                \
    "rack:\n"                                                                                      \
    "  feeds: [F1, F2]\n"                                                                          \
    "  buses: [A, B]\n"                                                                            \
    "  psus:\n"                                                                                    \
    "    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A]}\n"                                    \
    "    - {id: ps2, capacity_w: 3000, feed: F2, buses: [B]}\n"                                    \
    "  servers:\n"                                                                                 \
    "    - {id: db1, power_w: 1500, buses: [A, B]}\n"                                              \
    "    - {id: db2, power_w: 1500, buses: [A, B]}\n"                                              \
    "    - {id: web1, power_w: 800, priority: 3, buses: [A, B]}\n"                                 \
    "    - {id: app1, power_w: 600, buses: [B]}\n"                                                 \
    "    - {id: spare, power_w: 300, priority: 7, buses: [B]}\n"                                   \
    "  qos_classes: {critical: 1, gold: 2, silver: 3, bronze: 4}\n"

static const char outage_scenario[] =
    OUTAGE_RACK "  activities:\n"
                "    - id: orders-db\n"
                "      qos: critical\n"
                "      group_by: data\n"
                "      servers: [db1]\n"
                "      share: 0.8\n"
                "      movable_to: [db2, app1]\n"
                "      stop_s: 120\n"
                "      migrate: {command: /usr/local/sbin/migrate, timeout_s: 90}\n"
                "    - {id: reports, qos: bronze, group_by: process, servers: {db1: 0.2, db2: "
                "0.5}}\n"
                "    - {id: web, qos: silver, servers: [web1]}\n"
                "    - {id: batch, qos: bronze, servers: [app1, db2], share: 0.5}\n"
                "  reserves:\n"
                "    - {id: bbu1, kind: bbu, bus: A, energy_wh: 1000, max_w: 15000, switch: "
                "{buses: [B]}}\n"
                "    - {id: ups1, kind: ups, feed: F1, energy_wh: 2000.5, max_w: 10000, "
                "efficiency: 0.9, peukert: 1.2}\n"
                "    - {id: bat-db1, kind: server, server: db1, energy_wh: 50, max_w: 800, "
                "rated_w: 400, switch: {servers: [db2, app1]}}\n"
                "  outage: {ride_through_s: 60, mains_stable_s: 90.5, min_charge_pct: 30, "
                "slack_pct: 10, soft_off_s: 15}\n"
                "timeline:\n"
                "  - {at: 5, outage: start}\n"
                "  - {at: 10, mains_fail: all, reserve_lost: ups1}\n"
                "  - {at: 20, reserve_back: [ups1, bbu1], power_on: db1, mains_return: [F2, F1]}\n"
                "  - {at: 30, outage: end, mains_fail: F2}\n";

static void test_outage_keys_load_every_field(void **state)
{
    (void)state;
    assert_int_equal(load_scenario(outage_scenario), 0);

    assert_int_equal(r.nactivities, 4);
    const struct rack_activity *a = &r.activities[0];
    assert_string_equal(a->id, "orders-db");
    assert_string_equal(a->qos, "critical");
    assert_int_equal(a->priority, 1);
    assert_int_equal(a->group_by, RACK_GROUP_DATA);
    assert_int_equal(a->nservers, 1);
    assert_int_equal(a->servers[0], 0);
    assert_true(a->share[0] == 0.8);
    assert_int_equal(a->nhome, 1);
    assert_int_equal(a->home[0], 0);
    assert_int_equal(a->nmovable, 2);
    assert_int_equal(a->movable_to[0], 1);
    assert_int_equal(a->movable_to[1], 3);
    assert_int_equal(a->stop_ns, 120000000000LL);
    assert_int_equal(a->state, RACK_ACT_RUNNING);
    assert_string_equal(a->migrate, "/usr/local/sbin/migrate");
    assert_int_equal(a->migrate_timeout_ns, 90000000000LL);
    a = &r.activities[1]; /* the map form: a share per server */
    assert_int_equal(a->priority, 4);
    assert_int_equal(a->group_by, RACK_GROUP_PROCESS);
    assert_int_equal(a->nservers, 2);
    assert_int_equal(a->servers[1], 1);
    assert_true(a->share[0] == 0.2 && a->share[1] == 0.5);
    assert_int_equal(a->nmovable, 0);
    assert_null(a->movable_to);
    assert_int_equal(a->stop_ns, RACK_DEFAULT_STOP_NS);
    assert_string_equal(a->migrate, "");
    a = &r.activities[2]; /* the list form without share: all of each server */
    assert_int_equal(a->group_by, RACK_GROUP_DATA);
    assert_true(a->share[0] == 1.0);
    a = &r.activities[3];
    assert_true(a->share[0] == 0.5 && a->share[1] == 0.5);
    assert_int_equal(a->home[1], 1);

    /* Priorities from the activities; an emptied server is worth the least
     * important of the rack's classes and explicit priorities (7, spare's). */
    assert_int_equal(r.servers[0].priority, 1);
    assert_int_equal(r.servers[0].own_priority, 7);
    assert_int_equal(r.servers[1].priority, 4);
    assert_int_equal(r.servers[2].priority, 3); /* explicit, and its activity agrees */
    assert_int_equal(r.servers[2].own_priority, 3);
    assert_int_equal(r.servers[3].priority, 4);
    assert_int_equal(r.servers[4].priority, 7); /* no activity: its own */
    assert_int_equal(r.servers[4].own_priority, 7);

    assert_int_equal(r.nreserves, 3);
    const struct rack_reserve *v = &r.reserves[0];
    assert_string_equal(v->id, "bbu1");
    assert_int_equal(v->kind, RACK_RESERVE_BBU);
    assert_int_equal(v->at, 0);
    assert_true(v->energy_wh == 1000 && v->max_w == 15000);
    assert_true(v->rated_w == 15000);   /* max_w */
    assert_true(v->efficiency == 0.95); /* lithium */
    assert_true(v->peukert == 1.05);
    assert_int_equal(v->switch_buses, 0x2);
    assert_int_equal(v->nswitch_servers, 0);
    assert_true(v->wh_left == 1000 && v->watts == 0);
    assert_true(v->known);
    assert_false(v->discharging);
    assert_int_equal(v->to_bus, -1);
    assert_int_equal(v->to_server, -1);
    v = &r.reserves[1];
    assert_int_equal(v->kind, RACK_RESERVE_UPS);
    assert_int_equal(v->at, 0);
    assert_true(v->energy_wh == 2000.5 && v->wh_left == 2000.5);
    assert_true(v->efficiency == 0.9 && v->peukert == 1.2);
    assert_int_equal(v->switch_buses, 0);
    v = &r.reserves[2];
    assert_int_equal(v->kind, RACK_RESERVE_SERVER);
    assert_int_equal(v->at, 0);
    assert_true(v->rated_w == 400 && v->max_w == 800);
    assert_int_equal(v->nswitch_servers, 2);
    assert_int_equal(v->switch_servers[0], 1);
    assert_int_equal(v->switch_servers[1], 3);

    assert_int_equal(r.outage.ride_through_ns, 60000000000LL);
    assert_int_equal(r.outage.mains_stable_ns, 90500000000LL);
    assert_int_equal(r.outage.min_charge_pct, 30);
    assert_int_equal(r.outage.slack_pct, 10);
    assert_int_equal(r.outage.soft_off_ns, 15000000000LL);

    /* Events in written order, after the step's policy inputs. */
    assert_int_equal(tl.nsteps, 4);
    assert_int_equal(tl.steps[0].ninputs, 0);
    assert_int_equal(tl.steps[0].nevents, 1);
    assert_int_equal(tl.steps[0].events[0].kind, RACKFILE_EV_OUTAGE_START);
    assert_int_equal(tl.steps[0].events[0].index, -1);
    const struct rackfile_step *st = &tl.steps[1];
    assert_int_equal(st->nevents, 2);
    assert_int_equal(st->events[0].kind, RACKFILE_EV_MAINS_FAIL);
    assert_int_equal(st->events[0].index, -1);
    assert_int_equal(st->events[1].kind, RACKFILE_EV_RESERVE_LOST);
    assert_int_equal(st->events[1].index, 1);
    st = &tl.steps[2];
    assert_int_equal(st->ninputs, 1);
    assert_int_equal(st->inputs[0].kind, POLICY_POWER_ON);
    assert_int_equal(st->nevents, 4);
    assert_int_equal(st->events[0].kind, RACKFILE_EV_RESERVE_BACK);
    assert_int_equal(st->events[0].index, 1);
    assert_int_equal(st->events[1].index, 0);
    assert_int_equal(st->events[2].kind, RACKFILE_EV_MAINS_RETURN);
    assert_int_equal(st->events[2].index, 1);
    assert_int_equal(st->events[3].index, 0);
    st = &tl.steps[3];
    assert_int_equal(st->events[0].kind, RACKFILE_EV_OUTAGE_END);
    assert_int_equal(st->events[1].kind, RACKFILE_EV_MAINS_FAIL);
    assert_int_equal(st->events[1].index, 1);

    /* A copy holds arrays of its own (rack_copy), for the planner's trials. */
    struct rack c;
    assert_int_equal(rack_copy(&c, &r), 0);
    assert_ptr_not_equal(c.activities[1].share, r.activities[1].share);
    assert_true(c.activities[1].share[1] == 0.5);
    rack_free(&c);
}

static void test_rack_without_outage_keys_has_none(void **state)
{
    (void)state;
    assert_int_equal(load_rack(full_rack), 0);
    assert_int_equal(r.nreserves, 0);
    assert_null(r.reserves);
    assert_int_equal(r.nactivities, 0);
    assert_null(r.activities);
    for (int i = 0; i < r.nservers; i++)
        assert_int_equal(r.servers[i].own_priority, r.servers[i].priority);
    assert_int_equal(r.outage.ride_through_ns, 0);
    assert_int_equal(r.outage.mains_stable_ns, RACK_DEFAULT_MAINS_STABLE_NS);
    assert_int_equal(r.outage.min_charge_pct, RACK_DEFAULT_MIN_CHARGE_PCT);
    assert_int_equal(r.outage.slack_pct, RACK_DEFAULT_SLACK_PCT);
    assert_int_equal(r.outage.soft_off_ns, RACK_DEFAULT_SOFT_OFF_NS);
}

static void test_outage_defaults_and_a_ups_on_the_only_feed(void **state)
{
    (void)state;
    assert_int_equal(load_rack(BUSES "  servers:\n"
                                     "    - {id: s1, power_w: 500, priority: 2, buses: [A]}\n"
                                     "  reserves:\n"
                                     "    - {id: u, kind: ups, energy_wh: 100, max_w: 1000}\n"
                                     "  outage: {}\n"),
                     0);
    const struct rack_reserve *v = &r.reserves[0];
    assert_int_equal(v->at, 0);                               /* the implicit feed */
    assert_true(v->efficiency == 0.92 && v->peukert == 1.15); /* lead-acid */
    assert_true(v->rated_w == 1000);
    assert_int_equal(r.outage.ride_through_ns, 0);
    assert_int_equal(r.outage.mains_stable_ns, RACK_DEFAULT_MAINS_STABLE_NS);
    assert_int_equal(r.outage.min_charge_pct, RACK_DEFAULT_MIN_CHARGE_PCT);
    assert_int_equal(r.outage.slack_pct, RACK_DEFAULT_SLACK_PCT);
    assert_int_equal(r.outage.soft_off_ns, RACK_DEFAULT_SOFT_OFF_NS);
    rack_free(&r);
    /* A migrate command's time limit defaults to 300 s. */
    assert_int_equal(load_rack(BUSES "  servers:\n"
                                     "    - {id: s1, power_w: 500, buses: [A]}\n"
                                     "  qos_classes: {gold: 2}\n"
                                     "  activities:\n"
                                     "    - {id: a, qos: gold, servers: [s1], migrate: {command: "
                                     "/bin/true}}\n"),
                     0);
    assert_int_equal(r.activities[0].migrate_timeout_ns, 300000000000LL);
    assert_int_equal(r.servers[0].priority, 2);
    assert_int_equal(r.servers[0].own_priority, 2);
}

/* A failed load names file:line:column and the key, and leaves nothing. */
static void expect_outage_error(const char *text, const char *want)
{
    expect_error(text, want);
    assert_null(r.reserves);
    assert_null(r.activities);
    assert_int_equal(r.nreserves, 0);
    assert_int_equal(r.nactivities, 0);
}

#define ONE_ACT(rest) OUTAGE_RACK "  activities:\n    - {id: a1, " rest "}\n"
#define ONE_RES(rest) OUTAGE_RACK "  reserves:\n    - {id: r1, " rest "}\n"
/* Every server without priority: hosts an activity. */
#define BASE_ACT "    - {id: base, qos: bronze, servers: {db1: 0.5, db2: 0.5, app1: 0.5}}\n"

static void test_activity_mistakes_name_key_and_place(void **state)
{
    (void)state;
    expect_outage_error(ONE_ACT("qos: platinum, servers: [db1]"),
                        "t.yaml:15:21: qos: unknown class 'platinum' (qos_classes: critical, "
                        "gold, silver, bronze)");
    expect_outage_error(BUSES "  servers:\n    - {id: s, power_w: 1, buses: [A]}\n"
                              "  activities:\n    - {id: a, qos: gold, servers: [s]}\n",
                        "t.yaml:6:20: qos: unknown class 'gold' (the rack has no qos_classes:)");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1, db9]"),
                        "t.yaml:15:42: servers: unknown server 'db9'");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1, db1]"),
                        "t.yaml:15:42: servers: server 'db1' is listed twice");
    expect_outage_error(ONE_ACT("qos: gold, servers: []"),
                        "t.yaml:15:36: servers: expected a list of server ids such as [db1, db2] "
                        "or their shares such as {db1: 0.8, db2: 0.5}, got an empty list");
    expect_outage_error(ONE_ACT("qos: gold, servers: db1"),
                        "t.yaml:15:36: servers: expected a list of server ids such as [db1, db2] "
                        "or their shares such as {db1: 0.8, db2: 0.5}, got 'db1'");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], share: 0"),
                        "t.yaml:15:50: share: must be > 0, got '0'");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], share: 1.5"),
                        "t.yaml:15:50: share: must be at most 1, got '1.5'");
    expect_outage_error(ONE_ACT("qos: gold, servers: {db1: 0}"),
                        "t.yaml:15:42: share: must be > 0, got '0'");
    expect_outage_error(ONE_ACT("qos: gold, servers: {db1: 0.5}, share: 0.5"),
                        "t.yaml:15:55: share: not with servers: given as a map (the map gives "
                        "each server's share)");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], movable_to: [db1]"),
                        "t.yaml:15:56: movable_to: server 'db1' already runs activity 'a1' "
                        "(servers:)");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], movable_to: [db2, db2]"),
                        "t.yaml:15:61: movable_to: server 'db2' is listed twice");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], group_by: host"),
                        "t.yaml:15:53: group_by: expected one of data, process, got 'host'");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], stop_s: -1"),
                        "t.yaml:15:51: stop_s: must be >= 0, got '-1'");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], migrate: {command: migrate.sh}"),
                        "t.yaml:15:62: command: expected an absolute path (starting with /), got "
                        "'migrate.sh'");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], migrate: {timeout_s: 5}"),
                        "t.yaml:15:52: missing required key 'command' in migrate");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], migrate: {command: /m, timeout_s: 0}"),
                        "t.yaml:15:77: timeout_s: must be > 0, got '0'");
    expect_outage_error(ONE_ACT("qos: gold"), "t.yaml:15:7: missing required key 'servers' in "
                                              "activity 'a1'");
    expect_outage_error(ONE_ACT("qos: gold, servers: [db1], priority: 1"),
                        "t.yaml:15:43: unknown key 'priority' in activity (expected id, qos, "
                        "group_by, servers, share, movable_to, stop_s, migrate)");
    expect_outage_error(OUTAGE_RACK "  activities: {a: 1}\n",
                        "t.yaml:14:15: activities: expected a list of activities, got a mapping");
}

static void test_shares_on_a_server_add_up_to_at_most_all_of_it(void **state)
{
    (void)state;
    expect_outage_error(OUTAGE_RACK "  activities:\n"
                                    "    - {id: a1, qos: gold, servers: [db1, db2], share: 0.7}\n"
                                    "    - {id: a2, qos: gold, servers: [db2]}\n"
                                    "    - {id: a3, qos: gold, servers: {db1: 0.4}}\n",
                        "t.yaml:16:37: servers: shares of server 'db2' add up to 1.7, more than "
                        "all of it (its first activity: 'a1' at line 15)");
    expect_outage_error(OUTAGE_RACK "  activities:\n"
                                    "    - {id: a1, qos: gold, servers: [db1], share: 0.7}\n"
                                    "    - {id: a3, qos: gold, servers: {db1: 0.4}}\n",
                        "t.yaml:16:37: servers: shares of server 'db1' add up to 1.1, more than "
                        "all of it (its first activity: 'a1' at line 15)");
    /* Decimals that add up to exactly 1 are not refused for a rounding ulp. */
    assert_int_equal(load_rack(OUTAGE_RACK "  activities:\n"
                                           "    - {id: a1, qos: gold, servers: {db1: 0.7}}\n"
                                           "    - {id: a2, qos: gold, servers: {db1: 0.2}}\n"
                                           "    - {id: a3, qos: gold, servers: {db1: 0.1}}\n"
                                           "    - {id: a4, qos: gold, servers: [db2, app1]}\n"),
                     0);
}

static void test_server_priority_follows_its_activities(void **state)
{
    (void)state;
    /* web1 says 3; a critical activity on it says 1. */
    expect_outage_error(OUTAGE_RACK "  activities:\n" BASE_ACT
                                    "    - {id: a1, qos: critical, servers: [web1]}\n",
                        "t.yaml:10:42: priority: 3 contradicts activity 'a1' (qos critical, "
                        "priority 1) on server 'web1': leave priority: out, and the server takes "
                        "its activities' priority");
    /* db2 has no priority: and no activity runs on it. */
    expect_outage_error(ONE_ACT("qos: critical, servers: [db1, app1]"),
                        "t.yaml:9:7: missing required key 'priority' in server 'db2' (no activity "
                        "runs on it to give it one)");
    /* The most important activity on a server gives its priority. */
    assert_int_equal(load_rack(OUTAGE_RACK "  activities:\n"
                                           "    - {id: a, qos: bronze, servers: [db1, db2, app1], "
                                           "share: 0.5}\n"
                                           "    - {id: b, qos: gold, servers: {db2: 0.5}}\n"),
                     0);
    assert_int_equal(r.servers[0].priority, 4);
    assert_int_equal(r.servers[1].priority, 2);
    assert_int_equal(r.servers[3].priority, 4);
}

static void test_qos_class_mistakes(void **state)
{
    (void)state;
    expect_outage_error(BUSES "  qos_classes: {gold: 1, gold: 2}\n",
                        "t.yaml:3:26: qos_classes: class 'gold' is listed twice (first at line "
                        "3)");
    expect_outage_error(BUSES "  qos_classes: {gold: 0}\n",
                        "t.yaml:3:23: qos_classes: gold: expected an integer >= 1, got '0'");
    expect_outage_error(BUSES "  qos_classes: {gold: high}\n",
                        "t.yaml:3:23: qos_classes: gold: expected an integer >= 1, got 'high'");
    expect_outage_error(BUSES "  qos_classes: [gold]\n",
                        "t.yaml:3:16: qos_classes: expected a mapping of class names to "
                        "priorities such as {critical: 1, gold: 2}, got a list");
    expect_outage_error(BUSES "  qos_classes: {'gold class': 1}\n",
                        "t.yaml:3:17: qos_classes: expected an id (1 to 31 of A-Z a-z 0-9 _ . : "
                        "-), got 'gold class'");
}

static void test_reserve_mistakes_name_key_and_place(void **state)
{
    (void)state;
    expect_outage_error(ONE_RES("kind: bbu, bus: C, energy_wh: 1, max_w: 1"),
                        "t.yaml:15:32: bus: unknown bus 'C' (rack buses: A, B)");
    expect_outage_error(ONE_RES("kind: ups, feed: F3, energy_wh: 1, max_w: 1"),
                        "t.yaml:15:33: feed: unknown feed 'F3' (rack feeds: F1, F2)");
    expect_outage_error(ONE_RES("kind: server, server: db9, energy_wh: 1, max_w: 1"),
                        "t.yaml:15:38: server: unknown server 'db9'");
    expect_outage_error(ONE_RES("kind: bbu, feed: F1, energy_wh: 1, max_w: 1"),
                        "t.yaml:15:33: feed: a reserve of kind bbu sits on a bus (bus:), not on "
                        "a feed");
    expect_outage_error(ONE_RES("kind: bbu, energy_wh: 1, max_w: 1"),
                        "t.yaml:15:7: missing key 'bus' in reserve 'r1' (a reserve of kind bbu "
                        "sits on a bus)");
    /* Several feeds: a ups names its own. */
    expect_outage_error(ONE_RES("kind: ups, energy_wh: 1, max_w: 1"),
                        "t.yaml:15:7: missing key 'feed' in reserve 'r1' (a reserve of kind ups "
                        "sits on a feed)");
    expect_outage_error(ONE_RES("kind: battery, bus: A, energy_wh: 1, max_w: 1"),
                        "t.yaml:15:22: kind: expected one of bbu, ups, server, got 'battery'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 0, max_w: 1"),
                        "t.yaml:15:46: energy_wh: must be > 0, got '0'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: -5"),
                        "t.yaml:15:56: max_w: must be > 0, got '-5'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, rated_w: 0"),
                        "t.yaml:15:68: rated_w: must be > 0, got '0'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, efficiency: 0"),
                        "t.yaml:15:71: efficiency: must be > 0, got '0'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, efficiency: 1.1"),
                        "t.yaml:15:71: efficiency: must be at most 1, got '1.1'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, peukert: 0.9"),
                        "t.yaml:15:68: peukert: must be >= 1, got '0.9'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, peukert: 2.5"),
                        "t.yaml:15:68: peukert: must be at most 2, got '2.5'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1e999, max_w: 1"),
                        "t.yaml:15:46: energy_wh: must be at most 1000000000, got '1e999'");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1"),
                        "t.yaml:15:7: missing required key 'max_w' in reserve 'r1'");
}

static void test_a_switch_names_other_places_than_its_own(void **state)
{
    (void)state;
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, switch: {buses: [B, "
                                "A]}"),
                        "t.yaml:15:79: switch: bus 'A' is where reserve 'r1' sits already");
    expect_outage_error(ONE_RES("kind: server, server: db1, energy_wh: 1, max_w: 1, switch: "
                                "{servers: [db1]}"),
                        "t.yaml:15:86: switch: server 'db1' is where reserve 'r1' sits already");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, switch: {}"),
                        "t.yaml:15:67: switch: expected buses:, servers: or both (where the "
                        "reserve can be directed besides its own place)");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, switch: {servers: "
                                "[db1, db1]}"),
                        "t.yaml:15:83: servers: server 'db1' is listed twice");
    expect_outage_error(ONE_RES("kind: bbu, bus: A, energy_wh: 1, max_w: 1, switch: {feeds: "
                                "[F2]}"),
                        "t.yaml:15:68: unknown key 'feeds' in switch (expected buses, servers)");
}

static void test_ids_of_reserves_and_activities_are_unique_together(void **state)
{
    (void)state;
    expect_outage_error(OUTAGE_RACK "  activities:\n"
                                    "    - {id: a1, qos: gold, servers: {db1: 0.5}}\n"
                                    "    - {id: a1, qos: gold, servers: {db1: 0.5}}\n",
                        "t.yaml:16:12: duplicate activity id 'a1' (first at line 15)");
    expect_outage_error(OUTAGE_RACK "  reserves:\n"
                                    "    - {id: b, kind: bbu, bus: A, energy_wh: 1, max_w: 1}\n"
                                    "    - {id: b, kind: bbu, bus: B, energy_wh: 1, max_w: 1}\n",
                        "t.yaml:16:12: duplicate reserve id 'b' (first at line 15)");
    expect_outage_error(OUTAGE_RACK "  activities:\n"
                                    "    - {id: a1, qos: gold, servers: [db1]}\n"
                                    "  reserves:\n"
                                    "    - {id: a1, kind: bbu, bus: A, energy_wh: 1, max_w: 1}\n",
                        "t.yaml:17:12: reserve id 'a1' is already an activity's (ids of "
                        "reserves and activities are unique together)");
}

/* Builds "rack: ... key: [item, item, ...]" with n items. */
static char *many(const char *head, const char *item, size_t n)
{
    size_t hl = strlen(head), il = strlen(item);
    char *s = malloc(hl + n * (il + 1) + 4);
    assert_non_null(s);
    memcpy(s, head, hl);
    char *p = s + hl;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        memcpy(p, item, il);
        p += il;
        *p++ = ',';
    }
    p[-1] = ']';
    *p++ = '\n';
    *p = '\0';
    return s;
}

static void test_too_many_reserves_or_activities(void **state)
{
    (void)state;
    char *text = many(OUTAGE_RACK "  reserves: ", "{}", RACK_MAX_RESERVES + 1);
    expect_outage_error(text, "t.yaml:14:13: reserves: too many reserves (1025, at most 1024)");
    free(text);
    text = many(OUTAGE_RACK "  activities: ", "{}", RACK_MAX_ACTIVITIES + 1);
    expect_outage_error(text,
                        "t.yaml:14:15: activities: too many activities (100001, at most 100000)");
    free(text);
}

static void test_outage_settings_are_checked(void **state)
{
    (void)state;
    expect_outage_error(BUSES "  outage: {min_charge_pct: 101}\n",
                        "t.yaml:3:28: min_charge_pct: must be at most 100, got '101'");
    expect_outage_error(BUSES "  outage: {slack_pct: 2.5}\n",
                        "t.yaml:3:23: slack_pct: expected an integer >= 0, got '2.5'");
    expect_outage_error(BUSES "  outage: {ride_through_s: -1}\n",
                        "t.yaml:3:28: ride_through_s: must be >= 0, got '-1'");
    expect_outage_error(BUSES "  outage: {ride_thru_s: 60}\n",
                        "t.yaml:3:12: unknown key 'ride_thru_s' in outage (expected "
                        "ride_through_s, mains_stable_s, min_charge_pct, slack_pct, soft_off_s)");
    expect_outage_error(BUSES "  outage: 60\n",
                        "t.yaml:3:11: outage: expected a mapping, got '60'");
}

#define TL_RACK                                                                                    \
    OUTAGE_RACK "  activities:\n" BASE_ACT                                                         \
                "  reserves:\n    - {id: r1, kind: bbu, bus: A, energy_wh: 1, max_w: 1}\n"

static void test_outage_timeline_mistakes(void **state)
{
    (void)state;
    expect_outage_error(TL_RACK "timeline:\n"
                                "  - {at: 1, mains_fail: F3}\n",
                        "t.yaml:19:25: mains_fail: unknown feed 'F3' (rack feeds: F1, F2)");
    expect_outage_error(TL_RACK "timeline:\n"
                                "  - {at: 1, mains_return: []}\n",
                        "t.yaml:19:27: mains_return: expected all, a feed id or a list of them, "
                        "got an empty list");
    expect_outage_error(TL_RACK "timeline:\n"
                                "  - {at: 1, reserve_lost: ups9}\n",
                        "t.yaml:19:27: reserve_lost: unknown reserve 'ups9'");
    expect_outage_error(TL_RACK "timeline:\n"
                                "  - {at: 1, reserve_back: {id: r1}}\n",
                        "t.yaml:19:27: reserve_back: expected a reserve id or a list of them, "
                        "got a mapping");
    expect_outage_error(TL_RACK "timeline:\n"
                                "  - {at: 1, outage: pause}\n",
                        "t.yaml:19:21: outage: expected one of start, end, got 'pause'");
    /* A rack without reserves still takes mains_fail (its feeds fail as feed_fail). */
    assert_int_equal(load_scenario(BUSES "timeline:\n  - {at: 1, mains_fail: [mains]}\n"), 0);
    assert_int_equal(tl.steps[0].events[0].index, 0);
}

static void test_config_loads_the_outage_keys(void **state)
{
    (void)state;
    assert_int_equal(load_config(OUTAGE_RACK "  activities:\n"
                                             "    - {id: a, qos: gold, servers: [db1, db2, app1], "
                                             "migrate: {command: /usr/sbin/mv-a, timeout_s: 30}}\n"
                                             "  reserves:\n"
                                             "    - {id: u1, kind: ups, feed: F2, energy_wh: 900, "
                                             "max_w: 3000}\n"
                                             "api: {socket: none}\n"),
                     0);
    assert_int_equal(r.nactivities, 1);
    assert_string_equal(r.activities[0].migrate, "/usr/sbin/mv-a");
    assert_int_equal(r.nreserves, 1);
    assert_int_equal(r.reserves[0].at, 1);
    assert_int_equal(r.servers[1].priority, 2);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    /* A sim device's timeline takes the outage events as a scenario does. */
    assert_int_equal(load_config(OUTAGE_RACK "  activities:\n" BASE_ACT "devices:\n"
                                             "  - kind: sim\n"
                                             "    timeline:\n"
                                             "      - {at: 5, mains_fail: all, outage: start}\n"),
                     0);
    assert_int_equal(dc.devices[0].timeline.steps[0].nevents, 2);
    assert_int_equal(dc.devices[0].timeline.steps[0].events[0].kind, RACKFILE_EV_MAINS_FAIL);
    assert_int_equal(dc.devices[0].timeline.steps[0].events[1].kind, RACKFILE_EV_OUTAGE_START);
    rack_free(&r);
    rackfile_daemon_free(&dc);
    assert_int_equal(load_config(ONE_ACT("qos: silver, servers: [db1]")), -1);
    assert_string_equal(err, "t.yaml:9:7: missing required key 'priority' in server 'db2' (no "
                             "activity runs on it to give it one)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_full_rack_loads_every_field, teardown),
        cmocka_unit_test_teardown(test_scenario_loads_timeline_in_written_order, teardown),
        cmocka_unit_test_teardown(test_scenario_without_timeline_has_no_steps, teardown),
        cmocka_unit_test_teardown(test_defaults_applied, teardown),
        cmocka_unit_test_teardown(test_empty_rack_is_allowed, teardown),
        cmocka_unit_test_teardown(test_decimal_watts_round_to_milliwatts, teardown),
        cmocka_unit_test_teardown(test_load_reads_a_real_file, teardown),
        cmocka_unit_test_teardown(test_load_reports_errors_with_the_path, teardown),
        cmocka_unit_test_teardown(test_missing_file_cannot_open, teardown),
        cmocka_unit_test_teardown(test_rack_file_refuses_timeline, teardown),
        cmocka_unit_test_teardown(test_unknown_key_reports_line_and_column, teardown),
        cmocka_unit_test_teardown(test_nn_needs_two_feeds, teardown),
        cmocka_unit_test_teardown(test_unknown_top_level_key, teardown),
        cmocka_unit_test_teardown(test_duplicate_key_points_at_second, teardown),
        cmocka_unit_test_teardown(test_missing_required_key_points_at_mapping, teardown),
        cmocka_unit_test_teardown(test_wrong_type_for_number, teardown),
        cmocka_unit_test_teardown(test_psu_models_load_and_psus_name_them, teardown),
        cmocka_unit_test_teardown(test_psu_models_errors_name_the_key, teardown),
        cmocka_unit_test_teardown(test_balance_is_off_unless_on, teardown),
        cmocka_unit_test_teardown(test_zero_or_negative_rejected_where_positive_needed, teardown),
        cmocka_unit_test_teardown(test_absurd_values_rejected, teardown),
        cmocka_unit_test_teardown(test_priority_must_be_integer, teardown),
        cmocka_unit_test_teardown(test_bad_words_list_the_allowed_ones, teardown),
        cmocka_unit_test_teardown(test_power_on_after_ac_loss_is_read_per_server, teardown),
        cmocka_unit_test_teardown(test_bad_ids_and_names, teardown),
        cmocka_unit_test_teardown(test_duplicate_ids_name_the_first, teardown),
        cmocka_unit_test_teardown(test_unknown_references, teardown),
        cmocka_unit_test_teardown(test_psu_bus_must_be_among_its_buses, teardown),
        cmocka_unit_test_teardown(test_feed_required_when_several_feeds, teardown),
        cmocka_unit_test_teardown(test_min_above_power_rejected, teardown),
        cmocka_unit_test_teardown(test_too_many_buses, teardown),
        cmocka_unit_test_teardown(test_too_many_psus, teardown),
        cmocka_unit_test_teardown(test_list_expected_not_a_string, teardown),
        cmocka_unit_test_teardown(test_yaml_syntax_error_has_libyaml_text_and_mark, teardown),
        cmocka_unit_test_teardown(test_empty_file_and_bad_top_level, teardown),
        cmocka_unit_test_teardown(test_timeline_must_be_in_time_order, teardown),
        cmocka_unit_test_teardown(test_timeline_step_needs_a_known_action, teardown),
        cmocka_unit_test_teardown(test_degrade_and_report_are_checked, teardown),
        cmocka_unit_test_teardown(test_config_loads_every_device_field, teardown),
        cmocka_unit_test_teardown(test_config_defaults_and_the_sim, teardown),
        cmocka_unit_test_teardown(test_config_prediction, teardown),
        cmocka_unit_test_teardown(test_only_daemon_configs_take_devices_and_api, teardown),
        cmocka_unit_test_teardown(test_nut_device_reads_reserves_and_publishes_every_servers_stage,
                                  teardown),
        cmocka_unit_test_teardown(test_nut_device_mistakes_are_named, teardown),
        cmocka_unit_test_teardown(test_config_device_mistakes, teardown),
        cmocka_unit_test_teardown(test_config_bbu_unit_reads_a_bbu_reserve_once, teardown),
        cmocka_unit_test_teardown(test_config_unit_mistakes, teardown),
        cmocka_unit_test_teardown(test_config_api_mistakes, teardown),
        cmocka_unit_test_teardown(test_config_api_security_keys, teardown),
        cmocka_unit_test_teardown(test_config_node_section, teardown),
        cmocka_unit_test_teardown(test_config_cluster_refuses_command_devices_without_an_epoch,
                                  teardown),
        cmocka_unit_test_teardown(test_config_reads_the_keys_of_the_drivers_it_is_given, teardown),
        cmocka_unit_test_teardown(test_outage_keys_load_every_field, teardown),
        cmocka_unit_test_teardown(test_rack_without_outage_keys_has_none, teardown),
        cmocka_unit_test_teardown(test_outage_defaults_and_a_ups_on_the_only_feed, teardown),
        cmocka_unit_test_teardown(test_activity_mistakes_name_key_and_place, teardown),
        cmocka_unit_test_teardown(test_shares_on_a_server_add_up_to_at_most_all_of_it, teardown),
        cmocka_unit_test_teardown(test_server_priority_follows_its_activities, teardown),
        cmocka_unit_test_teardown(test_qos_class_mistakes, teardown),
        cmocka_unit_test_teardown(test_reserve_mistakes_name_key_and_place, teardown),
        cmocka_unit_test_teardown(test_a_switch_names_other_places_than_its_own, teardown),
        cmocka_unit_test_teardown(test_ids_of_reserves_and_activities_are_unique_together,
                                  teardown),
        cmocka_unit_test_teardown(test_too_many_reserves_or_activities, teardown),
        cmocka_unit_test_teardown(test_outage_settings_are_checked, teardown),
        cmocka_unit_test_teardown(test_outage_timeline_mistakes, teardown),
        cmocka_unit_test_teardown(test_config_loads_the_outage_keys, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
