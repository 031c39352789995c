/*
 * test_bbu_driver.c - the Modbus driver (mbdev.c over the mbdrv engine,
 * libmodbus) reading an ORv3 BBU unit (`role: bbu`) that the simulator's own
 * devices serve over TCP (simdevs_tcp.h): its readings as a reserve on mains,
 * on battery when the feed of its bus fails (charge and run time falling),
 * charging when the feed is back, a fault from its status bits, and unread
 * once it stops answering, read again when it answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemonconf.h"
#include "driver.h"
#include "mbdev.h"
#include "orv3.h"
#include "physics.h"
#include "simdevs.h"
#include "simbbu_fixture.h"
#include "simdevs_tcp.h"

#define S(x) ((int64_t)((x)*1e9))
#define POLL_WAIT_MS 10000 /* the longest a test waits for a reading */

static struct rack rack;
static struct rackfile_unit unit;
static struct rackfile_device dev;
static void *inst;

/* bbu1 (100 Wh, 3000 W) served at unit 64; s1 granted at 800 W; the driver
 * reads unit 64 as bbu1 every 100 ms. */
static int setup(void **state)
{
    (void)state;
    char err[256];
    simbbu_rack(&rack, 1, 100);
    assert_int_equal(phys_init(&srv.ph, &rack, 7, S(1), 0), 0);
    struct policy_input rep = {.kind = POLICY_REPORT, .index = 0, .watts_mw = 800000};
    assert_int_equal(phys_apply(&srv.ph, &rep, 0, err, sizeof(err)), 0);
    assert_int_equal(phys_power(&srv.ph, 0, true, 0, "grant"), 0);
    setup_served();
    unit = (struct rackfile_unit){
        .unit = 64, .role = RACKFILE_UNIT_BBU, .psu = -1, .reserve = 0, .chassis = -1};
    dev = (struct rackfile_device){.kind = RACKFILE_DEV_MODBUS_TCP,
                                   .poll_ns = 100000000,
                                   .timeout_ns = 100000000,
                                   .port = srv.port,
                                   .nunits = 1,
                                   .units = &unit};
    snprintf(dev.host, sizeof(dev.host), "127.0.0.1");
    inst = mbdev_tcp_ops.open(&dev, &rack, err, sizeof(err));
    if (!inst)
        fail_msg("%s", err);
    return 0;
}

static int teardown_all(void **state)
{
    mbdev_tcp_ops.close(inst);
    rack_free(&rack);
    return teardown(state);
}

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Polls until a reading of bbu1 has all of the flags `want` and none of
 * `not` (or is unread, when unread); fails the test after POLL_WAIT_MS. */
static struct driver_reserve_reading poll_until(unsigned want, unsigned not, bool unread)
{
    int64_t end = mono() + (int64_t)POLL_WAIT_MS * 1000000;
    char err[256], last[128] = "none";
    while (mono() < end) {
        struct driver_report rep = {0};
        mbdev_tcp_ops.poll(inst, 200, &rep, err, sizeof(err));
        for (size_t k = 0; k < rep.nreserves; k++) {
            struct driver_reserve_reading x = rep.reserves[k];
            assert_int_equal(x.reserve, 0);
            snprintf(last, sizeof(last), "flags 0x%x unread %d: %s", x.flags, x.unread, x.status);
            if (x.unread == unread && (unread || ((x.flags & want) == want && !(x.flags & not )))) {
                driver_report_free(&rep);
                return x;
            }
        }
        driver_report_free(&rep);
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("no reading with flags 0x%x without 0x%x (unread %d) in %d ms; last: %s", want, not,
             unread, POLL_WAIT_MS, last);
    return (struct driver_reserve_reading){0};
}

/* Moves the served rack to simulated time t (the physics' clock is the
 * test's, not the wall's). */
static void advance(double t)
{
    pthread_mutex_lock(&srv.mu);
    phys_step(&srv.ph, S(t));
    srv.d.now_ns = S(t);
    pthread_mutex_unlock(&srv.mu);
}

/* ... and applies an input to feed F1 there. */
static void at(double t, enum policy_input_kind kind)
{
    char err[256];
    advance(t);
    pthread_mutex_lock(&srv.mu);
    struct policy_input in = {.kind = kind, .index = 0};
    int rc = phys_apply(&srv.ph, &in, S(t), err, sizeof(err));
    pthread_mutex_unlock(&srv.mu);
    if (rc)
        fail_msg("%s", err);
}

static void test_bbu_on_mains_reads_online_and_full(void **state)
{
    (void)state;
    struct driver_reserve_reading x =
        poll_until(DRIVER_RES_ONLINE, DRIVER_RES_ON_BATTERY | DRIVER_RES_FAULT, false);
    assert_int_equal(x.charge_pct, 100);
    assert_int_equal(x.runtime_s, -1);
    assert_true(x.watts == 0);
    assert_non_null(strstr(x.status, "unit 64: 104=0000 107=0000 108=00a0"));
}

/* The feed of its bus fails: on battery, delivering the server's draw, the
 * charge and run time falling; the feed back: online and charging. */
static void test_bbu_reads_on_battery_when_its_feed_fails_and_charging_when_back(void **state)
{
    (void)state;
    poll_until(DRIVER_RES_ONLINE, 0, false);
    at(1, POLICY_FEED_FAIL);
    advance(31);
    struct driver_reserve_reading x =
        poll_until(DRIVER_RES_ON_BATTERY, DRIVER_RES_ONLINE | DRIVER_RES_LOW, false);
    assert_true(fabs(x.watts - 800) < 0.5);
    assert_true(x.charge_pct < 100 && x.charge_pct > 80);
    int first_pct = x.charge_pct;
    assert_true(x.runtime_s > 0 && x.runtime_s % 60 == 0);
    int64_t first_rt = x.runtime_s;
    advance(400);
    /* a later reading: both lower (wait for the telemetry's next read) */
    int64_t end = mono() + (int64_t)POLL_WAIT_MS * 1000000;
    do
        x = poll_until(DRIVER_RES_ON_BATTERY, 0, false);
    while (x.charge_pct == first_pct && mono() < end);
    assert_true(x.charge_pct < first_pct);
    assert_true(x.runtime_s < first_rt);
    at(401, POLICY_FEED_REPAIR);
    advance(402);
    x = poll_until(DRIVER_RES_ONLINE | DRIVER_RES_CHARGING, DRIVER_RES_ON_BATTERY, false);
    assert_true(x.watts == 0);
}

/* A status bit that forbids discharge is a fault; run empty is low. */
static void test_bbu_fault_bits_and_empty_are_told(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv.mu);
    phys_bbu_fault(&srv.ph, 0, ORV3_BBU_CELL_UV, 0, "test");
    pthread_mutex_unlock(&srv.mu);
    poll_until(DRIVER_RES_FAULT, 0, false);
    pthread_mutex_lock(&srv.mu);
    phys_bbu_fault(&srv.ph, 0, 0, 0, "test");
    pthread_mutex_unlock(&srv.mu);
    poll_until(0, DRIVER_RES_FAULT, false);
    at(1, POLICY_FEED_FAIL);
    advance(3600); /* 100 Wh at 800 W: empty in about 7 min */
    struct driver_reserve_reading x = poll_until(DRIVER_RES_LOW, DRIVER_RES_ON_BATTERY, false);
    assert_int_equal(x.charge_pct, 0);
}

/* It stops answering: unread (figures withdrawn), at every poll; it answers
 * again: read again. */
static void test_bbu_that_stops_answering_reads_unread_until_it_answers(void **state)
{
    (void)state;
    poll_until(DRIVER_RES_ONLINE, 0, false);
    pthread_mutex_lock(&srv.mu);
    simdevs_bbu_silence(&srv.d, 0, true);
    pthread_mutex_unlock(&srv.mu);
    struct driver_reserve_reading x = poll_until(0, 0, true);
    assert_int_equal(x.charge_pct, -1);
    assert_int_equal(x.runtime_s, -1);
    assert_true(x.watts == -1);
    assert_string_equal(x.status, "unit 64: not answering");
    poll_until(0, 0, true); /* told again, not once */
    pthread_mutex_lock(&srv.mu);
    simdevs_bbu_silence(&srv.d, 0, false);
    pthread_mutex_unlock(&srv.mu);
    x = poll_until(DRIVER_RES_ONLINE, 0, false);
    assert_int_equal(x.charge_pct, 100);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown_all)
    const struct CMUnitTest tests[] = {
        T(test_bbu_on_mains_reads_online_and_full),
        T(test_bbu_reads_on_battery_when_its_feed_fails_and_charging_when_back),
        T(test_bbu_fault_bits_and_empty_are_told),
        T(test_bbu_that_stops_answering_reads_unread_until_it_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
