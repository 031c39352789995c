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

static const char *rack_text =
    "rack:\n"
    "  name: t\n"
    "  feeds: [F1, F2]\n"
    "  buses: [A, B]\n"
    "  psus:\n"
    "    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A, B], bus: A}\n"
    "    - {id: ps2, capacity_w: 3000, feed: F2, buses: [A, B], bus: B}\n"
    "  servers:\n"
    "    - {id: a1, power_w: 1000, priority: 1, buses: [A, B], chassis: c1}\n"
    "    - {id: a2, power_w: 1500, priority: 2, buses: [A, B], chassis: c1}\n"
    "    - {id: b1, power_w: 500, priority: 3, buses: [B], chassis: c2}\n";

#define SW RACKMOD_SWITCH_UNIT
#define C1 RACKMOD_CHASSIS_UNIT_BASE
#define MAX_CLIENTS 4

/* ---- the simulated modules on a TCP port --------------------------------- */

static struct {
    struct phys ph;
    struct simdevs d;
    int lfd, port;
    pthread_t th;
    pthread_mutex_t mu;
    atomic_int stop;
    int fenced_writes; /* 0x10 requests to RACKMOD_FENCED_CMD */
} srv;

static void answer(int fd, uint8_t *buf, size_t *have)
{
    for (;;) {
        int n = mbsrv_tcp_frame_len(buf, *have);
        if (n <= 0) {
            if (n < 0)
                *have = 0;
            return;
        }
        uint8_t rsp[MBSRV_TCP_MAX];
        pthread_mutex_lock(&srv.mu);
        if (buf[7] == 0x10 && (buf[8] << 8 | buf[9]) == RACKMOD_FENCED_CMD)
            srv.fenced_writes++;
        size_t r = mbsrv_handle(&simdevs_ops, &srv.d, buf[6], buf + 7, (size_t)n - 7, rsp + 7);
        pthread_mutex_unlock(&srv.mu);
        memcpy(rsp, buf, 4);
        rsp[4] = (uint8_t)((r + 1) >> 8);
        rsp[5] = (uint8_t)(r + 1);
        rsp[6] = buf[6];
        if (write(fd, rsp, 7 + r) < 0)
            return;
        memmove(buf, buf + n, *have - (size_t)n);
        *have -= (size_t)n;
    }
}

static void *serve(void *arg)
{
    (void)arg;
    struct pollfd p[1 + MAX_CLIENTS];
    uint8_t buf[MAX_CLIENTS][1024];
    size_t have[MAX_CLIENTS] = {0};
    int nc = 0;
    p[0] = (struct pollfd){.fd = srv.lfd, .events = POLLIN};
    while (!atomic_load(&srv.stop)) {
        if (poll(p, (nfds_t)(1 + nc), 20) <= 0)
            continue;
        for (int i = 0; i < nc; i++) {
            if (!(p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(p[1 + i].fd, buf[i] + have[i], sizeof(buf[i]) - have[i]);
            if (k <= 0) { /* the client closed: keep its place, no more reads */
                close(p[1 + i].fd);
                p[1 + i].fd = -1;
                continue;
            }
            have[i] += (size_t)k;
            answer(p[1 + i].fd, buf[i], &have[i]);
        }
        if ((p[0].revents & POLLIN) && nc < MAX_CLIENTS) {
            int c = accept(srv.lfd, NULL, NULL);
            if (c >= 0) {
                have[nc] = 0;
                p[1 + nc++] = (struct pollfd){.fd = c, .events = POLLIN};
            }
        }
    }
    for (int i = 0; i < nc; i++)
        if (p[1 + i].fd >= 0)
            close(p[1 + i].fd);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    struct rack r;
    char err[256];
    if (rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &r, NULL, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(phys_init(&srv.ph, &r, 7, 1000000000LL, 0), 0);
    rack_free(&r);
    assert_int_equal(simdevs_init(&srv.d, &srv.ph, 0), 0);
    pthread_mutex_init(&srv.mu, NULL);
    srv.fenced_writes = 0;
    atomic_store(&srv.stop, 0);
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(srv.lfd, 8), 0);
    assert_int_equal(getsockname(srv.lfd, (struct sockaddr *)&a, &al), 0);
    srv.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&srv.th, NULL, serve, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&srv.stop, 1);
    pthread_join(srv.th, NULL);
    close(srv.lfd);
    simdevs_free(&srv.d);
    phys_free(&srv.ph);
    pthread_mutex_destroy(&srv.mu);
    return 0;
}

static uint64_t owner(int unit)
{
    pthread_mutex_lock(&srv.mu);
    uint64_t e = simdevs_owner_epoch(&srv.d, unit);
    pthread_mutex_unlock(&srv.mu);
    return e;
}

static bool powered(int server)
{
    pthread_mutex_lock(&srv.mu);
    bool on = srv.ph.srv[server].powered;
    pthread_mutex_unlock(&srv.mu);
    return on;
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
    assert_non_null(strstr(err, "exception 4"));
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

/* ---- the driver (mbdev) --------------------------------------------------- */

struct ctl {
    struct rack r;
    struct rackfile_daemon dc;
    void *inst;
};

static void ctl_open(struct ctl *c)
{
    char text[2048], err[256];
    snprintf(text, sizeof(text),
             "%sdevices:\n"
             "  - kind: modbus-tcp\n"
             "    host: 127.0.0.1\n"
             "    port: %d\n"
             "    units:\n"
             "      - {unit: 1, switches: [ps1, ps2]}\n"
             "      - {unit: 10, chassis: c1}\n",
             rack_text, srv.port);
    if (rackfile_load_config_string("t.yaml", text, strlen(text), driver_conf_keys, &c->r, &c->dc,
                                    err, sizeof(err)))
        fail_msg("%s", err);
    c->inst = mbdev_tcp_ops.open(&c->dc.devices[0], &c->r, err, sizeof(err));
    if (!c->inst)
        fail_msg("%s", err);
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
    struct policy_action grant = {.kind = POLICY_ACT_GRANT, .server = 1, .watts_mw = 1500000};
    assert_int_equal(mbdev_tcp_ops.act(one.inst, &grant, err, sizeof(err)), 0);
    assert_true(powered(1));
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

static void test_driver_fence_with_a_module_unreachable_fails_with_the_error(void **state)
{
    (void)state;
    struct ctl c;
    char text[2048], err[256];
    /* c1 is at unit 10; the simulator serves c2 at 11, not at 30: no answer */
    snprintf(text, sizeof(text),
             "%sdevices:\n"
             "  - kind: modbus-tcp\n"
             "    host: 127.0.0.1\n"
             "    port: %d\n"
             "    units:\n"
             "      - {unit: 10, chassis: c1}\n"
             "      - {unit: 30, chassis: c2}\n",
             rack_text, srv.port);
    if (rackfile_load_config_string("t.yaml", text, strlen(text), driver_conf_keys, &c.r, &c.dc,
                                    err, sizeof(err)))
        fail_msg("%s", err);
    c.inst = mbdev_tcp_ops.open(&c.dc.devices[0], &c.r, err, sizeof(err));
    assert_non_null(c.inst);
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
        T(test_driver_fences_grants_and_stands_down_when_replaced),
        T(test_driver_fence_with_a_module_unreachable_fails_with_the_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
