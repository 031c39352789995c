/*
 * test_mbfence.c - the Modbus engine and driver fencing real simulated
 * modules: simdevs (the devices of rackpower-sim serve) answered over Modbus
 * TCP on 127.0.0.1 by a thread of this test, two controllers' buses at once.
 * A lone controller (epoch 0) writes bare commands as before; with an epoch
 * every command carries it; a controller replaced by a higher epoch gets -2
 * and the device's epoch, never a retry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemonconf.h"
#include "driver.h"
#include "driver_conf.h"
#include "mbdev.h"
#include "mbdrv.h"
#include "mbsrv.h"
#include "physics.h"
#include "rackfile.h"
#include "rackmod.h"
#include "simdevs.h"
#include "simdevs_tcp.h"

static const char *rack_text = SIMRACK_TWO_PSUS SIMRACK_C1_SERVERS
    "    - {id: b1, power_w: 500, priority: 3, buses: [B], chassis: c2}\n";

#define SW RACKMOD_SWITCH_UNIT
#define C1 RACKMOD_CHASSIS_UNIT_BASE
static int setup(void **state)
{
    (void)state;
    return setup_rack(rack_text);
}

/* ---- the engine ------------------------------------------------------------ */

static void sink(void *ctx, const struct mbdrv_event *ev)
{
    (void)ctx;
    (void)ev;
}

/* A controller's bus: the switch (device 0) and chassis c1 (device 1). */
static struct mbdrv_bus *bus_new(void)
{
    struct mbdrv_bus_config c;
    mbdrv_bus_config_default(&c, MBDRV_TCP);
    c.port = srv.port;
    c.response_timeout_ns = 500000000LL;
    char err[256];
    struct mbdrv_bus *b = mbdrv_bus_new(&c, sink, NULL, err, sizeof(err));
    if (!b)
        fail_msg("%s", err);
    struct mbdrv_device_config sw = {.kind = MBDRV_SIM_SWITCH, .unit = SW, .count = 2, .nbuses = 2};
    struct mbdrv_device_config ch = {.kind = MBDRV_SIM_CHASSIS, .unit = C1, .count = 2};
    for (int g = 0; g < MBDRV_NGROUPS; g++)
        sw.interval_ns[g] = ch.interval_ns[g] = MBDRV_NEVER;
    assert_int_equal(mbdrv_add_device(b, &sw, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_add_device(b, &ch, err, sizeof(err)), 1);
    return b;
}

static void test_without_an_epoch_commands_are_bare_as_before(void **state)
{
    (void)state;
    struct mbdrv_bus *b = bus_new();
    char err[256];
    assert_int_equal(mbdrv_set_slot_power(b, 1, 0, true, err, sizeof(err)), 0);
    assert_true(powered(0));
    assert_int_equal(mbdrv_set_switch(b, 0, 0, 1, true, err, sizeof(err)), 0);
    assert_int_equal(srv.ph.r.psus[0].bus, 1);
    assert_int_equal(srv.fenced_writes, 0);
    assert_true(owner(C1) == 0 && owner(SW) == 0);
    uint64_t seen;
    assert_int_equal(mbdrv_fence(b, 1, &seen, err, sizeof(err)), -1); /* no epoch to fence with */
    mbdrv_bus_free(b);
}

static void test_fenced_commands_carry_the_epoch(void **state)
{
    (void)state;
    struct mbdrv_bus *b = bus_new(), *lone = bus_new();
    char err[256];
    uint64_t seen = 7;
    mbdrv_set_epoch(b, 0x101);
    assert_int_equal(mbdrv_fence(b, 0, &seen, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_fence(b, 1, &seen, err, sizeof(err)), 0);
    assert_true(seen == 0);
    assert_true(owner(SW) == 0x101 && owner(C1) == 0x101);
    assert_int_equal(mbdrv_set_slot_cap(b, 1, 1, 1200000, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_set_slot_power(b, 1, 1, true, err, sizeof(err)), 0);
    assert_true(powered(1));
    assert_int_equal(srv.ph.srv[1].cap_mw, 1200000);
    assert_int_equal(mbdrv_clear_lost(b, 1, 1, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_clear_ask(b, 1, 1, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_set_switch(b, 0, 1, 0, true, err, sizeof(err)), 0);
    assert_int_equal(srv.ph.r.psus[1].bus, 0);
    assert_int_equal(mbdrv_set_switch(b, 0, 1, 0, false, err, sizeof(err)), 0);
    assert_int_equal(srv.ph.r.psus[1].bus, -1);
    assert_int_equal(srv.fenced_writes, 2 + 6);
    /* a controller without an epoch can do nothing to the fenced modules */
    assert_int_equal(mbdrv_set_slot_power(lone, 1, 1, false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "fenced by a cluster's epoch 257"));
    assert_true(powered(1));
    assert_int_equal(mbdrv_set_switch(lone, 0, 0, 0, true, err, sizeof(err)), -1);
    mbdrv_bus_free(b);
    mbdrv_bus_free(lone);
}

static void test_replaced_controller_gets_the_higher_epoch_and_no_retry(void **state)
{
    (void)state;
    struct mbdrv_bus *old = bus_new(), *new = bus_new();
    char err[256];
    uint64_t seen;
    mbdrv_set_epoch(old, 0x101);
    assert_int_equal(mbdrv_set_slot_power(old, 1, 0, true, err, sizeof(err)), 0);
    assert_true(owner(C1) == 0x101);
    mbdrv_set_epoch(new, 0x202);
    assert_int_equal(mbdrv_fence(new, 1, &seen, err, sizeof(err)), 0);
    int before = srv.fenced_writes;
    assert_int_equal(mbdrv_set_slot_power(old, 1, 0, false, err, sizeof(err)), -2);
    assert_int_equal(srv.fenced_writes, before + 1); /* refused once, not tried again */
    assert_true(mbdrv_fenced_by(old) == 0x202);
    assert_non_null(strstr(err, "fenced"));
    assert_true(powered(0));
    assert_int_equal(mbdrv_fence(old, 1, &seen, err, sizeof(err)), -2);
    assert_true(seen == 0x202);
    /* the switch was never fenced by the new one: the old epoch still works
     * there until it is (the new primary fences every command device first) */
    assert_int_equal(mbdrv_set_switch(old, 0, 0, 1, true, err, sizeof(err)), 0);
    /* a higher epoch of its own (a later election) clears the refusal */
    mbdrv_set_epoch(old, 0x301);
    assert_true(mbdrv_fenced_by(old) == 0);
    assert_int_equal(mbdrv_fence(old, 1, &seen, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_set_slot_power(new, 1, 0, false, err, sizeof(err)), -2);
    assert_true(mbdrv_fenced_by(new) == 0x301);
    mbdrv_bus_free(old);
    mbdrv_bus_free(new);
}

/* The proof a cluster's controller reads at every poll before it sends
 * commands without a fence of their own (docs/outage.md "Several controllers"). */
static void test_owner_epoch_reads_back_who_fenced_the_module_last(void **state)
{
    (void)state;
    struct mbdrv_bus *old = bus_new(), *new = bus_new();
    char err[256];
    uint64_t seen, held = 1;
    assert_int_equal(mbdrv_owner_epoch(old, 1, &held, err, sizeof(err)), 0);
    assert_true(held == 0); /* never fenced */
    mbdrv_set_epoch(old, 0x101);
    assert_int_equal(mbdrv_fence(old, 1, &seen, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_owner_epoch(old, 1, &held, err, sizeof(err)), 0);
    assert_true(held == 0x101);
    mbdrv_set_epoch(new, 0x202);
    assert_int_equal(mbdrv_fence(new, 1, &seen, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_owner_epoch(old, 1, &held, err, sizeof(err)), 0);
    assert_true(held == 0x202); /* the old one sees it was replaced */
    assert_int_equal(mbdrv_owner_epoch(old, 5, &held, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no device 5"));
    mbdrv_bus_free(old);
    mbdrv_bus_free(new);
}

/* ---- the driver (mbdev) --------------------------------------------------- */

struct ctl {
    struct rack r;
    struct rackfile_daemon dc;
    void *inst;
};

/* A controller's driver over the device's units (see load_tcp_config). */
static void ctl_open_units(struct ctl *c, const char *units)
{
    char err[256];
    load_tcp_config(rack_text, units, &c->r, &c->dc);
    c->inst = mbdev_tcp_ops.open(&c->dc.devices[0], &c->r, err, sizeof(err));
    if (!c->inst)
        fail_msg("%s", err);
}

/* The switch (unit 1) and chassis c1 (unit 10). */
static void ctl_open(struct ctl *c)
{
    ctl_open_units(c, "    units:\n"
                      "      - {unit: 1, switches: [ps1, ps2]}\n"
                      "      - {unit: 10, chassis: c1}\n");
}

static void ctl_close(struct ctl *c)
{
    mbdev_tcp_ops.close(c->inst);
    rackfile_daemon_free(&c->dc);
    rack_free(&c->r);
}

static void test_driver_fences_grants_and_stands_down_when_replaced(void **state)
{
    (void)state;
    struct ctl one, two;
    ctl_open(&one);
    ctl_open(&two);
    char err[256];
    uint64_t seen = 9;
    assert_non_null(mbdev_tcp_ops.fence);
    assert_int_equal(mbdev_tcp_ops.fence(one.inst, 0x101, &seen, err, sizeof(err)), 0);
    assert_true(seen == 0);
    assert_true(owner(SW) == 0x101 && owner(C1) == 0x101);
    /* a grant (capped at 1200 W of its 1500) is one request: cap, power, ask cleared */
    struct policy_input ask = {.kind = POLICY_POWER_ON, .index = 1};
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(phys_apply(&srv.ph, &ask, 0, err, sizeof(err)), 0);
    pthread_mutex_unlock(&srv.mu);
    int before_grant = srv.fenced_writes;
    struct policy_action grant = {.kind = POLICY_ACT_GRANT, .server = 1, .watts_mw = 1200000};
    assert_int_equal(mbdev_tcp_ops.act(one.inst, &grant, err, sizeof(err)), 0);
    assert_int_equal(srv.fenced_writes, before_grant + 1);
    assert_true(powered(1));
    assert_int_equal(srv.ph.srv[1].cap_mw, 1200000);
    assert_int_equal(srv.ph.srv[1].ask, RACKMOD_ASK_NONE);
    /* controller two stands down (a secondary): it commands nothing */
    assert_int_equal(mbdev_tcp_ops.fence(two.inst, 0, &seen, err, sizeof(err)), 0);
    struct policy_action shed = {.kind = POLICY_ACT_SHED, .server = 1};
    assert_int_equal(mbdev_tcp_ops.act(two.inst, &shed, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not the primary"));
    assert_true(powered(1));
    /* two is elected: it fences; one is replaced and does not know yet */
    assert_int_equal(mbdev_tcp_ops.fence(two.inst, 0x202, &seen, err, sizeof(err)), 0);
    assert_true(owner(SW) == 0x202 && owner(C1) == 0x202);
    assert_int_equal(mbdev_tcp_ops.act(one.inst, &shed, err, sizeof(err)), -2);
    assert_true(powered(1));
    struct driver_report rep = {0};
    mbdev_tcp_ops.poll(one.inst, 500, &rep, err, sizeof(err));
    assert_true(rep.fenced_by == 0x202);
    driver_report_free(&rep);
    /* from then on one withholds every command without sending it */
    int before = srv.fenced_writes;
    assert_int_equal(mbdev_tcp_ops.act(one.inst, &shed, err, sizeof(err)), -1);
    assert_int_equal(srv.fenced_writes, before);
    /* a fence of one's old epoch is refused with the higher one */
    assert_int_equal(mbdev_tcp_ops.fence(one.inst, 0x101, &seen, err, sizeof(err)), -2);
    assert_true(seen == 0x202);
    /* two commands with its epoch */
    assert_int_equal(mbdev_tcp_ops.act(two.inst, &shed, err, sizeof(err)), 0);
    assert_false(powered(1));
    ctl_close(&one);
    ctl_close(&two);
}

/* Polls for about 1.5 s: the module spans come due again meanwhile. */
static void poll_a_while(struct ctl *c)
{
    char err[256];
    for (int i = 0; i < 30; i++) {
        struct driver_report rep = {0};
        mbdev_tcp_ops.poll(c->inst, 500, &rep, err, sizeof(err));
        driver_report_free(&rep);
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
}

/* The old primary granted a server after the new one's driver last read
 * it: the new primary's ledger has the grant (replicated before the
 * device command), its driver does not. After the fence it follows what
 * the device shows and sheds nothing to match its stale reading. */
static void test_new_primary_puts_back_nothing_its_driver_did_not_decide(void **state)
{
    (void)state;
    struct ctl one, two;
    ctl_open(&one);
    ctl_open(&two);
    char err[256];
    uint64_t seen;
    assert_int_equal(mbdev_tcp_ops.fence(one.inst, 0x101, &seen, err, sizeof(err)), 0);
    assert_int_equal(mbdev_tcp_ops.fence(two.inst, 0, &seen, err, sizeof(err)), 0);
    struct driver_report rep = {0};
    mbdev_tcp_ops.poll(two.inst, 500, &rep, err, sizeof(err)); /* two reads slot 1: off */
    driver_report_free(&rep);
    struct policy_action grant = {.kind = POLICY_ACT_GRANT, .server = 1, .watts_mw = 1500000};
    assert_int_equal(mbdev_tcp_ops.act(one.inst, &grant, err, sizeof(err)), 0);
    assert_true(powered(1));
    assert_int_equal(mbdev_tcp_ops.fence(two.inst, 0x202, &seen, err, sizeof(err)), 0);
    int after_fence = srv.fenced_writes;
    poll_a_while(&two);
    assert_true(powered(1));
    assert_int_equal(srv.fenced_writes, after_fence);
    /* its own decision is carried out, and then kept */
    struct policy_action shed = {.kind = POLICY_ACT_SHED, .server = 1};
    assert_int_equal(mbdev_tcp_ops.act(two.inst, &shed, err, sizeof(err)), 0);
    assert_false(powered(1));
    ctl_close(&one);
    ctl_close(&two);
}

static void test_driver_fence_with_a_module_unreachable_fails_with_the_error(void **state)
{
    (void)state;
    struct ctl c;
    char err[256];
    /* c1 is at unit 10; the simulator serves c2 at 11, not at 30: no answer */
    ctl_open_units(&c, "    units:\n"
                       "      - {unit: 10, chassis: c1}\n"
                       "      - {unit: 30, chassis: c2}\n");
    uint64_t seen;
    assert_int_equal(mbdev_tcp_ops.fence(c.inst, 0x101, &seen, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unit 30"));
    assert_true(owner(C1) == 0x101); /* the reachable one is fenced */
    ctl_close(&c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_without_an_epoch_commands_are_bare_as_before),
        T(test_fenced_commands_carry_the_epoch),
        T(test_replaced_controller_gets_the_higher_epoch_and_no_retry),
        T(test_owner_epoch_reads_back_who_fenced_the_module_last),
        T(test_driver_fences_grants_and_stands_down_when_replaced),
        T(test_new_primary_puts_back_nothing_its_driver_did_not_decide),
        T(test_driver_fence_with_a_module_unreachable_fails_with_the_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
