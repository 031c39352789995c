/*
 * test_reload.c - the reload differ (src/daemon/reload.h): what a SIGHUP
 * may change live, what needs a restart, and what the change does to the
 * running rack.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "driver_conf.h"
#include "reload.h"

#define RACK_HEAD                                                                                  \
    "rack:\n"                                                                                      \
    "  name: r1\n"                                                                                 \
    "  protection: n+1\n"

#define BUSES "  buses: [A, B]\n"
#define PSUS                                                                                       \
    "  psus:\n"                                                                                    \
    "    - {id: p1, capacity_w: 2000, buses: [A, B], bus: A}\n"                                    \
    "    - {id: p2, capacity_w: 2000, buses: [A, B], bus: B}\n"                                    \
    "    - {id: p3, capacity_w: 2000, buses: [A, B], bus: A}\n"
#define SERVERS                                                                                    \
    "  servers:\n"                                                                                 \
    "    - {id: db1, power_w: 800, priority: 1, buses: [A, B], chassis: c1}\n"                     \
    "    - {id: web1, power_w: 600, min_w: 300, priority: 3, buses: [A, B], chassis: c1}\n"        \
    "    - {id: app1, power_w: 500, priority: 2, buses: [A]}\n"
#define DEVICES                                                                                    \
    "devices:\n"                                                                                   \
    "  - {kind: modbus-tcp, host: 10.0.0.5, units: [{unit: 1, psu: p1}]}\n"
#define API "api: {port: 8470}\n"

#define BASE RACK_HEAD BUSES PSUS SERVERS DEVICES API

/* A loaded config and the view of it reload_check takes. */
struct cfg {
    struct rack r;
    struct rackfile_daemon d;
    struct rackfile_device sim;
    struct reload_config rc;
};

static struct cfg cur, next;
static char why[600], what[1500];

static void load(struct cfg *c, const char *text)
{
    char err[512];
    if (rackfile_load_config_string("t.yaml", text, strlen(text), driver_conf_keys, &c->r, &c->d,
                                    err, sizeof(err)))
        fail_msg("config: %s", err);
    c->rc = (struct reload_config){.rack = &c->r, .api = &c->d.api, .node = &c->d.node};
    reload_devices(&c->d, false, &c->sim, &c->rc.devs, &c->rc.ndevs);
}

static int teardown(void **state)
{
    (void)state;
    rack_free(&cur.r);
    rack_free(&next.r);
    rackfile_daemon_free(&cur.d);
    rackfile_daemon_free(&next.d);
    return 0;
}

/* The running config is BASE; text is the file after the edit. */
static int check(const char *text)
{
    load(&cur, BASE);
    load(&next, text);
    why[0] = '\0';
    return reload_check(&cur.rc, &next.rc, "t.yaml", why, sizeof(why));
}

static void expect_refused(const char *text, const char *want)
{
    assert_int_equal(check(text), -1);
    assert_string_equal(why, want);
}

static void test_reload_allows_the_same_config_and_changes_nothing(void **state)
{
    (void)state;
    assert_int_equal(check(BASE), 0);
    reload_apply(&cur.r, &next.r, what, sizeof(what));
    assert_string_equal(what, "");
}

static void test_reload_refuses_new_bus(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD "  buses: [A, B, C]\n" PSUS SERVERS DEVICES API,
                   "t.yaml: the rack's shape changed (bus 'C' added); that needs a restart");
}

/* Reserves are indexed by the drivers, the outage runner and the forwards
 * of the rack bus: adding, removing or moving one needs a restart. */
#define RESERVE_A "  reserves:\n    - {id: bbuA, kind: bbu, bus: A, energy_wh: 600, max_w: 3000}\n"
static void test_reload_refuses_a_reserve_added_or_moved(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS SERVERS RESERVE_A DEVICES API,
                   "t.yaml: the rack's shape changed (reserve 'bbuA' added); that needs a restart");
    teardown(state);
    load(&cur, RACK_HEAD BUSES PSUS SERVERS RESERVE_A DEVICES API);
    load(&next, RACK_HEAD BUSES PSUS SERVERS
         "  reserves:\n    - {id: bbuA, kind: bbu, bus: B, energy_wh: 600, max_w: 3000}\n" DEVICES
             API);
    assert_int_equal(reload_check(&cur.rc, &next.rc, "t.yaml", why, sizeof(why)), -1);
    assert_string_equal(why, "t.yaml: the rack's shape changed (reserve 'bbuA': its kind or place "
                             "changed); that needs a restart");
}

static void test_reload_refuses_removed_bus(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD "  buses: [A]\n"
                             "  psus:\n"
                             "    - {id: p1, capacity_w: 2000, buses: [A]}\n"
                             "    - {id: p2, capacity_w: 2000, buses: [A]}\n"
                             "    - {id: p3, capacity_w: 2000, buses: [A]}\n"
                             "  servers:\n"
                             "    - {id: db1, power_w: 800, priority: 1, buses: [A], chassis: c1}\n"
                             "    - {id: web1, power_w: 600, priority: 3, buses: [A]}\n"
                             "    - {id: app1, power_w: 500, priority: 2, buses: [A]}\n" API,
                   "t.yaml: the rack's shape changed (bus 'B' removed); that needs a restart");
}

static void test_reload_refuses_new_psu(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS
                   "    - {id: p4, capacity_w: 2000, buses: [A, B]}\n" SERVERS DEVICES API,
                   "t.yaml: the rack's shape changed (psu 'p4' added); that needs a restart");
}

static void test_reload_refuses_removed_psu(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES
                   "  psus:\n"
                   "    - {id: p1, capacity_w: 2000, buses: [A, B], bus: A}\n"
                   "    - {id: p2, capacity_w: 2000, buses: [A, B], bus: B}\n" SERVERS DEVICES API,
                   "t.yaml: the rack's shape changed (psu 'p3' removed); that needs a restart");
}

static void test_reload_refuses_reordered_psus(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES
                   "  psus:\n"
                   "    - {id: p2, capacity_w: 2000, buses: [A, B], bus: B}\n"
                   "    - {id: p1, capacity_w: 2000, buses: [A, B], bus: A}\n"
                   "    - {id: p3, capacity_w: 2000, buses: [A, B], bus: A}\n" SERVERS DEVICES API,
                   "t.yaml: the rack's shape changed (the order of the psu list changed); that "
                   "needs a restart");
}

static void test_reload_refuses_rewired_psu(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES
                   "  psus:\n"
                   "    - {id: p1, capacity_w: 2000, buses: [A, B], bus: A}\n"
                   "    - {id: p2, capacity_w: 2000, buses: [B]}\n"
                   "    - {id: p3, capacity_w: 2000, buses: [A, B], bus: A}\n" SERVERS DEVICES API,
                   "t.yaml: the rack's shape changed (psu 'p2': its buses or feed changed); that "
                   "needs a restart");
}

static void test_reload_refuses_new_server(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS SERVERS
                   "    - {id: gpu1, power_w: 900, priority: 4, buses: [B]}\n" DEVICES API,
                   "t.yaml: the rack's shape changed (server 'gpu1' added); that needs a restart");
}

static void test_reload_refuses_removed_server(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS
                   "  servers:\n"
                   "    - {id: db1, power_w: 800, priority: 1, buses: [A, B], chassis: c1}\n"
                   "    - {id: web1, power_w: 600, min_w: 300, priority: 3, buses: [A, B], "
                   "chassis: c1}\n" DEVICES API,
                   "t.yaml: the rack's shape changed (server 'app1' removed); that needs a "
                   "restart");
}

static void test_reload_refuses_server_moved_to_another_chassis(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS
                   "  servers:\n"
                   "    - {id: db1, power_w: 800, priority: 1, buses: [A, B], chassis: c2}\n"
                   "    - {id: web1, power_w: 600, min_w: 300, priority: 3, buses: [A, B], "
                   "chassis: c1}\n"
                   "    - {id: app1, power_w: 500, priority: 2, buses: [A]}\n" DEVICES API,
                   "t.yaml: the rack's shape changed (server 'db1': its buses or chassis "
                   "changed); that needs a restart");
}

static void test_reload_refuses_rewired_server(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS
                   "  servers:\n"
                   "    - {id: db1, power_w: 800, priority: 1, buses: [A, B], chassis: c1}\n"
                   "    - {id: web1, power_w: 600, min_w: 300, priority: 3, buses: [A, B], "
                   "chassis: c1}\n"
                   "    - {id: app1, power_w: 500, priority: 2, buses: [A, B]}\n" DEVICES API,
                   "t.yaml: the rack's shape changed (server 'app1': its buses or chassis "
                   "changed); that needs a restart");
}

static void test_reload_refuses_changed_device(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS SERVERS
                   "devices:\n"
                   "  - {kind: modbus-tcp, host: 10.0.0.6, units: [{unit: 1, psu: p1}]}\n" API,
                   "t.yaml: devices: the device at line 14 changed; devices change with a "
                   "restart");
}

static void test_reload_refuses_changed_alert_line_and_reprobe(void **state)
{
    (void)state;
    expect_refused(
        RACK_HEAD BUSES PSUS SERVERS
        "devices:\n"
        "  - {kind: modbus-tcp, host: 10.0.0.5, alert: /run/alert.sock, units: [{unit: 1, "
        "psu: p1}]}\n" API,
        "t.yaml: devices: the device at line 14 changed; devices change with a "
        "restart");
    teardown(NULL);
    expect_refused(RACK_HEAD BUSES PSUS SERVERS
                   "devices:\n"
                   "  - {kind: modbus-tcp, host: 10.0.0.5, reprobe_s: 9, units: [{unit: 1, "
                   "psu: p1}]}\n" API,
                   "t.yaml: devices: the device at line 14 changed; devices change with a "
                   "restart");
    teardown(NULL);
    /* what the driver may write to a PSU is set up at start */
    expect_refused(RACK_HEAD BUSES PSUS SERVERS
                   "devices:\n"
                   "  - {kind: modbus-tcp, host: 10.0.0.5, units: [{unit: 1, psu: p1, extension: "
                   "rackpower}]}\n" API,
                   "t.yaml: devices: the device at line 14 changed; devices change with a "
                   "restart");
}

static void test_reload_refuses_added_device(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS SERVERS DEVICES
                   "  - {kind: modbus-tcp, host: 10.0.0.7, units: [{unit: 1, psu: p2}]}\n" API,
                   "t.yaml: devices: changes need a restart");
}

static void test_reload_refuses_removed_devices_which_means_the_sim(void **state)
{
    (void)state;
    /* no devices: the daemon would run the simulated rack instead */
    expect_refused(RACK_HEAD BUSES PSUS SERVERS API,
                   "t.yaml: devices: the device at line 0 changed; devices change with a restart");
}

static void test_reload_refuses_api_change(void **state)
{
    (void)state;
    expect_refused(RACK_HEAD BUSES PSUS SERVERS DEVICES "api: {port: 8471}\n",
                   "t.yaml: api: changes need a restart (the tokens file's content is read again "
                   "on every reload)");
    teardown(NULL);
    /* who may do what is set up at start too */
    static const char *const keys[] = {
        "{port: 8470, plain_reads: true}\n",    "{port: 8470, socket: /run/x.sock}\n",
        "{port: 8470, socket_role: admin}\n",   "{port: 8470, tokens: /etc/x}\n",
        "{port: 8470, hosts: [rack.test]}\n",   "{port: 8470, origins: ['https://x']}\n",
        "{port: 8470, command_rate: 1}\n",      "{port: 8470, command_burst: 1}\n",
        "{port: 8470, socket_group: daemon}\n",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
        char text[2048];
        snprintf(text, sizeof(text), "%sapi: %s", RACK_HEAD BUSES PSUS SERVERS DEVICES, keys[i]);
        expect_refused(text, "t.yaml: api: changes need a restart (the tokens file's content is "
                             "read again on every reload)");
        teardown(NULL); /* the next check loads both again */
    }
}

static void test_reload_refuses_node_change(void **state)
{
    (void)state;
    static const char *const nodes[] = {
        "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k}\n",
        "node: {address: 2, listen: 127.0.0.1:7301, key_file: /k}\n",
        "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, heartbeat_ms: 50}\n",
        "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k, peers: [{address: 2, at: "
        "127.0.0.1:7302}]}\n",
    };
    char base[2048], text[2048];
    for (size_t i = 0; i < sizeof(nodes) / sizeof(*nodes); i++) {
        /* from no node: to a node:, and from the first node: to each other one */
        if (i)
            snprintf(base, sizeof(base), "%s%s", BASE, nodes[0]);
        else
            snprintf(base, sizeof(base), "%s", BASE);
        snprintf(text, sizeof(text), "%s%s", BASE, nodes[i]);
        load(&cur, base);
        load(&next, text);
        assert_int_equal(reload_check(&cur.rc, &next.rc, "t.yaml", why, sizeof(why)), -1);
        assert_string_equal(why, "t.yaml: node: changes need a restart (a controller's address, "
                                 "peers and key are what the others know it by)");
        teardown(NULL);
    }
    snprintf(text, sizeof(text), "%s%s", BASE, nodes[3]);
    load(&cur, text);
    load(&next, text);
    assert_int_equal(reload_check(&cur.rc, &next.rc, "t.yaml", why, sizeof(why)), 0);
}

static void test_reload_applies_figures_live(void **state)
{
    (void)state;
    assert_int_equal(
        check("rack:\n"
              "  name: r2\n"
              "  protection: none\n"
              "  on_protection_loss: hold\n"
              "  restore_after_s: 5\n"
              "  holdup_ms: 8\n" BUSES "  psus:\n"
              "    - {id: p1, capacity_w: 2500, buses: [A, B], bus: A, switch: relay}\n"
              "    - {id: p2, capacity_w: 2000, buses: [A, B], bus: B}\n"
              "    - {id: p3, capacity_w: 2000, buses: [A, B], bus: A}\n"
              "  servers:\n"
              "    - {id: db1, power_w: 900, priority: 1, buses: [A, B], chassis: c1}\n"
              "    - {id: web1, power_w: 600, min_w: 200, priority: 4, buses: [A, B], "
              "chassis: c1}\n"
              "    - {id: app1, power_w: 500, priority: 2, buses: [A]}\n" DEVICES API),
        0);
    reload_apply(&cur.r, &next.r, what, sizeof(what));
    assert_string_equal(what, "name r1 -> r2; protection n+1 -> none; on_protection_loss -> hold; "
                              "restore_after_s 30 -> 5; holdup_ms 16 -> 8; p1 capacity_w 2000 -> "
                              "2500; p1 switch fet 0.1 ms -> relay 20 ms; db1 power_w 800 -> 900; "
                              "db1 min_w 800 -> 900; "
                              "web1 min_w 300 -> 200; web1 priority 3 -> 4");
    assert_string_equal(cur.r.name, "r2");
    assert_int_equal(cur.r.protection, RACK_PROT_NONE);
    assert_int_equal(cur.r.on_loss, RACK_ON_LOSS_HOLD);
    assert_int_equal(cur.r.restore_after_ns, 5000000000LL);
    assert_int_equal(cur.r.holdup_ns, 8000000);
    assert_int_equal(cur.r.psus[0].rated_mw, 2500000);
    assert_int_equal(cur.r.psus[0].sw, RACK_SWITCH_RELAY);
    assert_int_equal(cur.r.servers[0].power_mw, 900000);
    assert_int_equal(cur.r.servers[1].min_mw, 200000);
    assert_int_equal(cur.r.servers[1].priority, 4);
}

static void test_reload_grant_follows_the_servers_new_power(void **state)
{
    (void)state;
    load(&cur, BASE);
    load(&next, RACK_HEAD BUSES PSUS
         "  servers:\n"
         "    - {id: db1, power_w: 700, priority: 1, buses: [A, B], chassis: c1}\n"
         "    - {id: web1, power_w: 600, min_w: 450, priority: 3, buses: [A, B], chassis: c1}\n"
         "    - {id: app1, power_w: 400, min_w: 100, priority: 2, buses: [A]}\n" DEVICES API);
    cur.r.servers[0].state = RACK_SRV_ON; /* on: its grant is its power */
    cur.r.servers[0].alloc_mw = 800000;
    cur.r.servers[1].state = RACK_SRV_CAPPED; /* capped under the new minimum */
    cur.r.servers[1].alloc_mw = 350000;
    cur.r.servers[2].state = RACK_SRV_SHED; /* holds nothing */
    cur.r.servers[2].alloc_mw = 0;
    reload_apply(&cur.r, &next.r, what, sizeof(what));
    assert_int_equal(cur.r.servers[0].alloc_mw, 700000);
    assert_int_equal(cur.r.servers[0].state, RACK_SRV_ON);
    assert_int_equal(cur.r.servers[1].alloc_mw, 450000);
    assert_int_equal(cur.r.servers[1].state, RACK_SRV_CAPPED);
    assert_int_equal(cur.r.servers[2].alloc_mw, 0);
    assert_int_equal(cur.r.servers[2].state, RACK_SRV_SHED);
}

static void test_reload_ends_a_cap_that_reaches_the_new_power(void **state)
{
    (void)state;
    load(&cur, BASE);
    load(&next, RACK_HEAD BUSES PSUS
         "  servers:\n"
         "    - {id: db1, power_w: 800, priority: 1, buses: [A, B], chassis: c1}\n"
         "    - {id: web1, power_w: 400, min_w: 300, priority: 3, buses: [A, B], chassis: c1}\n"
         "    - {id: app1, power_w: 500, priority: 2, buses: [A]}\n" DEVICES API);
    cur.r.servers[1].state = RACK_SRV_CAPPED;
    cur.r.servers[1].alloc_mw = 450000;
    reload_apply(&cur.r, &next.r, what, sizeof(what));
    assert_int_equal(cur.r.servers[1].state, RACK_SRV_ON);
    assert_int_equal(cur.r.servers[1].alloc_mw, 400000);
}

static void test_reload_keeps_a_derating_below_the_new_capacity(void **state)
{
    (void)state;
    load(&cur, BASE);
    load(&next, RACK_HEAD BUSES
         "  psus:\n"
         "    - {id: p1, capacity_w: 2500, buses: [A, B], bus: A}\n"
         "    - {id: p2, capacity_w: 1200, buses: [A, B], bus: B}\n"
         "    - {id: p3, capacity_w: 2000, buses: [A, B], bus: A}\n" SERVERS DEVICES API);
    for (int i = 0; i < 2; i++) {
        cur.r.psus[i].health = RACK_PSU_DEGRADED;
        cur.r.psus[i].derated_mw = 1500000;
    }
    cur.r.psus[2].health = RACK_PSU_FAILED;
    reload_apply(&cur.r, &next.r, what, sizeof(what));
    /* p1: 1500 W of a new 2500 W, still degraded */
    assert_int_equal(cur.r.psus[0].health, RACK_PSU_DEGRADED);
    assert_int_equal(cur.r.psus[0].derated_mw, 1500000);
    /* p2: the new capacity is below the derating: the derating ends */
    assert_int_equal(cur.r.psus[1].health, RACK_PSU_OK);
    assert_int_equal(cur.r.psus[1].derated_mw, 1200000);
    /* a reload never repairs */
    assert_int_equal(cur.r.psus[2].health, RACK_PSU_FAILED);
}

static void test_reload_devices_is_the_sim_without_devices(void **state)
{
    (void)state;
    load(&cur, RACK_HEAD BUSES PSUS SERVERS API);
    assert_int_equal(cur.rc.ndevs, 1);
    assert_ptr_equal(cur.rc.devs, &cur.sim);
    assert_int_equal(cur.sim.kind, RACKFILE_DEV_SIM);
    assert_int_equal(cur.sim.poll_ns, 1000000000);
    assert_int_equal(cur.sim.seed, 1);
}

static void test_reload_devices_force_sim_keeps_a_configured_sim(void **state)
{
    (void)state;
    load(&cur, RACK_HEAD BUSES PSUS SERVERS "devices:\n  - {kind: sim, seed: 7}\n" API);
    reload_devices(&cur.d, true, &cur.sim, &cur.rc.devs, &cur.rc.ndevs);
    assert_ptr_equal(cur.rc.devs, &cur.d.devices[0]);
    assert_int_equal(cur.rc.devs[0].seed, 7);
    /* --sim over modbus devices: the default sim instead of them */
    load(&next, BASE);
    reload_devices(&next.d, true, &next.sim, &next.rc.devs, &next.rc.ndevs);
    assert_int_equal(next.rc.ndevs, 1);
    assert_ptr_equal(next.rc.devs, &next.sim);
    assert_int_equal(next.sim.kind, RACKFILE_DEV_SIM);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_reload_allows_the_same_config_and_changes_nothing),
        T(test_reload_refuses_new_bus),
        T(test_reload_refuses_removed_bus),
        T(test_reload_refuses_a_reserve_added_or_moved),
        T(test_reload_refuses_new_psu),
        T(test_reload_refuses_removed_psu),
        T(test_reload_refuses_reordered_psus),
        T(test_reload_refuses_rewired_psu),
        T(test_reload_refuses_new_server),
        T(test_reload_refuses_removed_server),
        T(test_reload_refuses_server_moved_to_another_chassis),
        T(test_reload_refuses_rewired_server),
        T(test_reload_refuses_changed_device),
        T(test_reload_refuses_changed_alert_line_and_reprobe),
        T(test_reload_refuses_added_device),
        T(test_reload_refuses_removed_devices_which_means_the_sim),
        T(test_reload_refuses_api_change),
        T(test_reload_refuses_node_change),
        T(test_reload_applies_figures_live),
        T(test_reload_grant_follows_the_servers_new_power),
        T(test_reload_ends_a_cap_that_reaches_the_new_power),
        T(test_reload_keeps_a_derating_below_the_new_capacity),
        T(test_reload_devices_is_the_sim_without_devices),
        T(test_reload_devices_force_sim_keeps_a_configured_sim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
