/*
 * test_simbbu.c - the simulated ORv3 BBUs of rackpower-sim serve
 * (docs/sim-devices.md "BBU"): a reserve of kind bbu carries its bus when
 * mains cannot, drains by the planner's cell model, recharges when mains is
 * back, and answers the ORv3 BBU registers at its unit id; a status fault
 * keeps it from carrying; a silenced unit answers nothing.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mbsrv.h"
#include "orv3.h"
#include "outage.h"
#include "physics.h"
#include "simdevs.h"
#include "simbbu_fixture.h"

#define S(x) ((int64_t)((x)*1e9))

static struct phys ph;
static struct simdevs dev;

/* The rack with nbbu BBUs of wh each, s1 granted and drawing 800 W. */
static void start(int nbbu, double wh)
{
    struct rack r;
    char err[256];
    simbbu_rack(&r, nbbu, wh);
    assert_int_equal(phys_init(&ph, &r, 7, S(1), 0), 0);
    rack_free(&r);
    assert_int_equal(simdevs_init(&dev, &ph, 19200), 0);
    struct policy_input rep = {.kind = POLICY_REPORT, .index = 0, .watts_mw = 800000};
    assert_int_equal(phys_apply(&ph, &rep, 0, err, sizeof(err)), 0);
    assert_int_equal(phys_power(&ph, 0, true, 0, "grant"), 0);
}

static int teardown(void **state)
{
    (void)state;
    simdevs_free(&dev);
    phys_free(&ph);
    return 0;
}

static void input(enum policy_input_kind kind, int index, int64_t t_ns)
{
    struct policy_input in = {.kind = kind, .index = index};
    char err[256];
    if (phys_apply(&ph, &in, t_ns, err, sizeof(err)))
        fail_msg("%s", err);
}

/* The BBU's registers as a client reads them over Modbus at t_ns. */
static void read_bbu(int unit, int64_t t_ns, uint16_t img[ORV3_BBU_NREGS])
{
    dev.now_ns = t_ns;
    /* two reads, as a client would (at most 125 words each) */
    assert_int_equal(simdevs_ops.read_regs(&dev, (uint8_t)unit, 0, 120, img), 0);
    assert_int_equal(simdevs_ops.read_regs(&dev, (uint8_t)unit, 120, 120, img + 120), 0);
    assert_int_equal(
        simdevs_ops.read_regs(&dev, (uint8_t)unit, 240, ORV3_BBU_NREGS - 240, img + 240), 0);
}

static struct orv3_bbu_state state_of(int unit, int64_t t_ns, struct orv3_bbu_telemetry *t)
{
    uint16_t img[ORV3_BBU_NREGS];
    read_bbu(unit, t_ns, img);
    orv3_bbu_decode(img, t);
    struct orv3_bbu_state st;
    orv3_bbu_state(t, &st);
    return st;
}

static void test_bbu_units_follow_the_reserves_at_the_orv3_addresses(void **state)
{
    (void)state;
    start(3, 10);
    assert_int_equal(dev.nbbus, 3);
    assert_int_equal(simdevs_bbu_unit(&dev, 0), 64);
    assert_int_equal(simdevs_bbu_unit(&dev, 2), 66);
    assert_int_equal(simdevs_kind(&dev, 65), SIMDEVS_BBU);
    assert_int_equal(simdevs_kind(&dev, 67), SIMDEVS_NONE);
    char buf[512];
    simdevs_describe(&dev, buf, sizeof(buf));
    assert_non_null(strstr(buf, "bbu1=64 (bbu) bbu2=65 (bbu) bbu3=66 (bbu)"));
    struct orv3_bbu_telemetry t;
    state_of(64, 0, &t);
    assert_string_equal(t.model, "RPSIM-ORV3-BBU");
    assert_string_equal(t.serial, "RPSIM-t-bbu1");
    /* the map ends at 313: a read past it is refused, coils are not there */
    uint16_t w[2];
    uint8_t bit;
    assert_int_equal(simdevs_ops.read_regs(&dev, 64, 313, 2, w), MBSRV_EX_ILLEGAL_ADDRESS);
    assert_int_equal(simdevs_ops.read_coils(&dev, 64, 0, 1, &bit), MBSRV_EX_ILLEGAL_FUNCTION);
}

static void test_bbu_on_mains_is_full_and_delivers_nothing(void **state)
{
    (void)state;
    start(1, 10);
    phys_step(&ph, S(5));
    struct orv3_bbu_telemetry t;
    struct orv3_bbu_state st = state_of(64, S(5), &t);
    assert_false(st.discharging);
    assert_false(st.charging);
    assert_true(st.full);
    assert_int_equal(st.charge_pct, 100);
    assert_int_equal(st.runtime_s, -1);
    assert_int_equal(t.shelf_power_w, 0);
    assert_int_equal(t.psu_ac_ok, 1);
    assert_int_equal(t.bus_mv, PHYS_VOUT_MV);
    assert_true(t.battery_status & ORV3_BATT_INITIALIZED);
    assert_int_equal(ph.r.reserves[0].wh_left, 10);
    assert_int_equal(ph.psu[0].out_mw, 800000);
}

/* The feed fails: the BBU carries the server's 800 W, the server stays up
 * past the hold-up, the energy falls by the shared cell model, and the
 * registers say so. */
static void test_bbu_carries_its_bus_when_the_feed_fails_and_drains_by_the_cell_model(void **state)
{
    (void)state;
    start(1, 10);
    input(POLICY_FEED_FAIL, 0, S(1));
    assert_true(ph.r.reserves[0].discharging);
    assert_true(fabs(ph.r.reserves[0].watts - 800) < 1e-6);
    assert_int_equal(ph.psu[0].out_mw, 0);
    phys_step(&ph, S(31));
    assert_true(ph.srv[0].powered);
    double want = 10 - outage_cell_w(&ph.r.reserves[0], 800) * 30 / 3600;
    assert_true(fabs(ph.r.reserves[0].wh_left - want) < 1e-6);

    struct orv3_bbu_telemetry t;
    struct orv3_bbu_state st = state_of(64, S(31), &t);
    assert_true(st.discharging);
    assert_false(st.full || st.empty || st.charging);
    assert_int_equal(st.watts, 800);
    assert_int_equal(st.charge_pct, (int)lround(want / 10 * 100));
    /* run time to empty in whole minutes, as the register holds it */
    double rt = outage_runtime_s(&ph.r.reserves[0], want, 800);
    assert_int_equal(st.runtime_s, (int64_t)(rt / 60) * 60);
    assert_int_equal(t.psu_ac_ok, 0);
    assert_int_equal(t.bus_mv, 48500);
    assert_true(t.current_ma < 0);
    assert_int_equal(t.cycle_count, 1);
}

/* Run empty: the bus has nothing left, the server browns out after the
 * hold-up; the battery says fully discharged. */
static void test_bbu_run_empty_browns_its_bus_out(void **state)
{
    (void)state;
    start(1, 0.5);
    input(POLICY_FEED_FAIL, 0, 0);
    int64_t empty = phys_next_deadline(&ph);
    double rt = outage_runtime_s(&ph.r.reserves[0], 0.5, 800);
    assert_true(fabs((double)empty / 1e9 - rt) < 0.01);
    phys_step(&ph, empty);
    assert_int_equal(ph.r.reserves[0].wh_left, 0);
    assert_false(ph.r.reserves[0].discharging);
    assert_true(ph.srv[0].powered); /* the hold-up still carries it */
    phys_step(&ph, empty + S(1.1));
    assert_false(ph.srv[0].powered);
    struct orv3_bbu_telemetry t;
    struct orv3_bbu_state st = state_of(64, empty + S(1.1), &t);
    assert_true(st.empty);
    assert_false(st.discharging);
    assert_int_equal(st.charge_pct, 0);
}

/* Mains back: the PSU carries the bus again, the BBU stops discharging and
 * recharges at max_w / 10 until full. */
static void test_bbu_recharges_when_mains_returns(void **state)
{
    (void)state;
    start(1, 10);
    input(POLICY_FEED_FAIL, 0, 0);
    phys_step(&ph, S(60));
    double low = ph.r.reserves[0].wh_left;
    input(POLICY_FEED_REPAIR, 0, S(60));
    assert_false(ph.r.reserves[0].discharging);
    assert_int_equal(ph.psu[0].out_mw, 800000);
    phys_step(&ph, S(61));
    struct orv3_bbu_telemetry t;
    struct orv3_bbu_state st = state_of(64, S(61), &t);
    assert_true(st.charging);
    assert_false(st.discharging);
    assert_int_equal(st.watts, 0);
    assert_true(t.current_ma > 0);
    assert_true(fabs(ph.r.reserves[0].wh_left - (low + 300.0 / 3600)) < 1e-6);
    int64_t full = phys_next_deadline(&ph);
    phys_step(&ph, full);
    st = state_of(64, full, &t);
    assert_true(st.full);
    assert_false(st.charging);
    assert_int_equal(ph.r.reserves[0].wh_left, 10);
}

/* A status bit that forbids discharging (pack under-voltage): the BBU does
 * not carry its bus and the server browns out; clear fault (313) ends it. */
static void test_bbu_status_fault_keeps_it_from_carrying_until_cleared(void **state)
{
    (void)state;
    start(1, 10);
    assert_int_equal(phys_bbu_fault(&ph, 0, ORV3_BBU_PACK_UV, 0, "test"), 0);
    assert_int_equal(phys_bbu_fault(&ph, 5, ORV3_BBU_PACK_UV, 0, "test"), -1);
    struct orv3_bbu_telemetry t;
    assert_true(state_of(64, 0, &t).fault);
    input(POLICY_FEED_FAIL, 0, 0);
    assert_false(ph.r.reserves[0].discharging);
    phys_step(&ph, S(1.1));
    assert_false(ph.srv[0].powered);
    uint16_t one = 1;
    dev.now_ns = S(2);
    assert_int_equal(simdevs_ops.write_regs(&dev, 64, 104, 1, &one), MBSRV_EX_ILLEGAL_ADDRESS);
    assert_int_equal(simdevs_ops.write_regs(&dev, 64, 313, 1, &one), 0);
    assert_false(state_of(64, S(2), &t).fault);
    assert_int_equal(t.status, 0);
}

/* Two BBUs on one bus share its load by max_w. */
static void test_two_bbus_on_a_bus_share_its_load(void **state)
{
    (void)state;
    start(2, 10);
    input(POLICY_FEED_FAIL, 0, 0);
    assert_true(fabs(ph.r.reserves[0].watts - 400) < 1e-6);
    assert_true(fabs(ph.r.reserves[1].watts - 400) < 1e-6);
}

/* A silenced BBU (readings lost) is not answered; the others are. */
static void test_silenced_bbu_unit_answers_nothing(void **state)
{
    (void)state;
    start(2, 10);
    assert_true(simdevs_answers(&dev, 64));
    assert_int_equal(simdevs_bbu_silence(&dev, 0, true), 0);
    assert_false(simdevs_answers(&dev, 64));
    assert_true(simdevs_answers(&dev, 65));
    assert_int_equal(simdevs_bbu_silence(&dev, 7, true), -1);
    assert_int_equal(simdevs_bbu_silence(&dev, 0, false), 0);
    assert_true(simdevs_answers(&dev, 64));
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_bbu_units_follow_the_reserves_at_the_orv3_addresses),
        T(test_bbu_on_mains_is_full_and_delivers_nothing),
        T(test_bbu_carries_its_bus_when_the_feed_fails_and_drains_by_the_cell_model),
        T(test_bbu_run_empty_browns_its_bus_out),
        T(test_bbu_recharges_when_mains_returns),
        T(test_bbu_status_fault_keeps_it_from_carrying_until_cleared),
        T(test_two_bbus_on_a_bus_share_its_load),
        T(test_silenced_bbu_unit_answers_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
