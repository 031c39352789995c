/*
 * test_devices_fence.c - the device workers (src/daemon/devices.c) fencing
 * the simulated modules over Modbus TCP: a clustered controller's workers
 * command nothing until fenced, answer devices_fence per device, carry the
 * epoch with every command after it, and tell the loop (fenced_by) when a
 * higher epoch has replaced them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemonconf.h"
#include "devices.h"
#include "driver_conf.h"
#include "mbdrv.h"
#include "rackmod.h"
#include "simdevs_tcp.h"

static const char *rack_text = SIMRACK_TWO_PSUS SIMRACK_C1_SERVERS;

#define C1 RACKMOD_CHASSIS_UNIT_BASE

static int setup(void **state)
{
    (void)state;
    return setup_rack(rack_text);
}

static void wake(void *arg)
{
    (void)arg;
}

static void sink(void *ctx, const struct mbdrv_event *ev)
{
    (void)ctx;
    (void)ev;
}

static struct devices_msg *pending;

/* Waits (at most 10 s) for a message of kind from the workers; returns it
 * (owned by the test: devices_msg_free), the others are dropped. */
static struct devices_msg *wait_for(struct devices *d, enum devices_msg_kind kind)
{
    for (int i = 0; i < 1000; i++) {
        if (!pending)
            pending = devices_take(d);
        while (pending) {
            struct devices_msg *m = pending;
            pending = m->next;
            m->next = NULL;
            if (m->kind == kind)
                return m;
            devices_msg_free(m);
        }
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    fail_msg("no message of kind %d in 10 s", kind);
    return NULL;
}

/* Waits for a report that carries fenced_by. */
static uint64_t wait_fenced_by(struct devices *d)
{
    for (int i = 0; i < 100; i++) {
        struct devices_msg *m = wait_for(d, DEVICES_REPORT);
        uint64_t e = m->rep.fenced_by;
        devices_msg_free(m);
        if (e)
            return e;
    }
    fail_msg("no report with fenced_by");
    return 0;
}

/* The device workers of a config with rest after the device's port (see
 * load_tcp_config), once they are up. */
static struct devices *start_workers(const char *rest, struct rack *r, struct rackfile_daemon *dc)
{
    char err[256];
    load_tcp_config(rack_text, rest, r, dc);
    struct devices *d = devices_start(dc->devices, dc->ndevices, r, wake, NULL, err, sizeof(err));
    assert_non_null(d);
    devices_msg_free(wait_for(d, DEVICES_UP));
    return d;
}

/* Stops the workers and frees what start_workers made and what they sent. */
static void stop_workers(struct devices *d, struct rack *r, struct rackfile_daemon *dc)
{
    devices_stop(d);
    devices_msg_free(pending);
    pending = NULL;
    rackfile_daemon_free(dc);
    rack_free(r);
}

static void until_powered(int server, bool on)
{
    for (int i = 0; i < 500 && powered(server) != on; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    assert_int_equal(powered(server), on);
}

static void test_clustered_workers_command_only_after_the_fence(void **state)
{
    (void)state;
    char err[256];
    struct rack r;
    struct rackfile_daemon dc;
    struct devices *d = start_workers("    poll_ms: 100\n"
                                      "    units:\n"
                                      "      - {unit: 1, switches: [ps1, ps2]}\n"
                                      "      - {unit: 10, chassis: c1}\n"
                                      "node: {address: 1, listen: 127.0.0.1:7301, key_file: /k}\n",
                                      &r, &dc);

    /* stood down: a grant is withheld */
    struct policy_action grant = {.kind = POLICY_ACT_GRANT, .server = 1, .watts_mw = 1500000};
    devices_act(d, &grant, 1);
    struct devices_msg *m = wait_for(d, DEVICES_DOWN);
    assert_non_null(strstr(m->text, "not the primary"));
    devices_msg_free(m);
    assert_false(powered(1));
    assert_true(owner(C1) == 0);

    /* the fence: one answer, the modules hold the epoch, commands carry it */
    devices_fence(d, 0x101);
    m = wait_for(d, DEVICES_FENCE);
    assert_int_equal(m->fence, 0);
    assert_true(m->epoch == 0x101);
    devices_msg_free(m);
    assert_true(owner(C1) == 0x101 && owner(RACKMOD_SWITCH_UNIT) == 0x101);
    devices_act(d, &grant, 1);
    until_powered(1, true);

    /* another controller is elected and fences the chassis */
    struct mbdrv_bus_config c;
    mbdrv_bus_config_default(&c, MBDRV_TCP);
    c.port = srv.port;
    struct mbdrv_bus *other = mbdrv_bus_new(&c, sink, NULL, err, sizeof(err));
    assert_non_null(other);
    struct mbdrv_device_config ch = {.kind = MBDRV_SIM_CHASSIS, .unit = C1, .count = 2};
    for (int g = 0; g < MBDRV_NGROUPS; g++)
        ch.interval_ns[g] = MBDRV_NEVER;
    assert_int_equal(mbdrv_add_device(other, &ch, err, sizeof(err)), 0);
    mbdrv_set_epoch(other, 0x202);
    uint64_t seen;
    assert_int_equal(mbdrv_fence(other, 0, &seen, err, sizeof(err)), 0);

    /* the old one's shed is refused; the loop hears by what */
    struct policy_action shed = {.kind = POLICY_ACT_SHED, .server = 1};
    devices_act(d, &shed, 1);
    assert_true(wait_fenced_by(d) == 0x202);
    assert_true(powered(1));

    /* fencing again with its old epoch: refused with the device's */
    devices_fence(d, 0x101);
    m = wait_for(d, DEVICES_FENCE);
    assert_int_equal(m->fence, -2);
    assert_true(m->seen == 0x202);
    devices_msg_free(m);

    /* elected again, later: a higher epoch fences and commands */
    devices_fence(d, 0x301);
    m = wait_for(d, DEVICES_FENCE);
    assert_int_equal(m->fence, 0);
    devices_msg_free(m);
    devices_act(d, &shed, 1);
    until_powered(1, false);

    /* standing down again: nothing is sent */
    devices_fence(d, 0);
    m = wait_for(d, DEVICES_FENCE);
    assert_int_equal(m->fence, 0);
    devices_msg_free(m);
    devices_act(d, &grant, 1);
    devices_msg_free(wait_for(d, DEVICES_DOWN));
    assert_false(powered(1));

    mbdrv_bus_free(other);
    stop_workers(d, &r, &dc);
}

static void test_lone_workers_send_bare_commands(void **state)
{
    (void)state;
    struct rack r;
    struct rackfile_daemon dc;
    struct devices *d = start_workers("    units:\n"
                                      "      - {unit: 10, chassis: c1}\n",
                                      &r, &dc);
    struct policy_action grant = {.kind = POLICY_ACT_GRANT, .server = 0, .watts_mw = 1000000};
    devices_act(d, &grant, 1);
    until_powered(0, true);
    assert_true(owner(C1) == 0);
    assert_int_equal(srv.fenced_writes, 0);
    stop_workers(d, &r, &dc);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_clustered_workers_command_only_after_the_fence),
        T(test_lone_workers_send_bare_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
