/*
 * test_physics.c - the simulated hardware behind rackpower-sim serve: load
 * sharing, brown-out, draws under caps, PSU readings and alarms, requests,
 * control lines, the ORv3 encodings and the device registers.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mbsrv.h"
#include "orv3.h"
#include "control.h"
#include "physics.h"
#include "rackfile.h"
#include "rackmod.h"
#include "simdevs.h"
#include "simrack_fixture.h"

#define S 1000000000LL

static const char *rack_text = SIMRACK_HEAD
    "    - {id: ps1, capacity_w: 2000, feed: F1, buses: [A, B], bus: A}\n"
    "    - {id: ps2, capacity_w: 3000, feed: F2, buses: [A, B], bus: A}\n"
    "    - {id: ps3, capacity_w: 3000, feed: F1, buses: [B], bus: B}\n"
    "    - {id: ps4, capacity_w: 1000, feed: F2, buses: [A, B], bus: B, switch: breaker}\n"
    "  servers:\n"
    "    - {id: a1, power_w: 1000, min_w: 500, priority: 1, buses: [A], chassis: c1}\n"
    "    - {id: a2, power_w: 1500, priority: 2, buses: [A], chassis: c1}\n"
    "    - {id: ab, power_w: 1000, priority: 1, buses: [A, B], chassis: c2}\n"
    "    - {id: b1, power_w: 800, priority: 3, buses: [B]}\n";

static struct phys ph;

static int setup(void **state)
{
    (void)state;
    simrack_phys(&ph, rack_text);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    phys_free(&ph);
    return 0;
}

static void in(enum policy_input_kind k, int idx, int64_t mw, int64_t now)
{
    struct policy_input i = {.kind = k, .index = idx, .watts_mw = mw};
    char err[256];
    if (phys_apply(&ph, &i, now, err, sizeof(err)))
        fail_msg("%s", err);
}

/* A server on with a fixed draw. */
static void on_at(int server, int64_t watts, int64_t now)
{
    in(POLICY_REPORT, server, watts * 1000, now);
    assert_int_equal(phys_power(&ph, server, true, now, "test"), 0);
}

static bool has_event(enum phys_event_kind k, int index)
{
    for (size_t i = 0; i < ph.nev; i++)
        if (ph.ev[i].kind == k && ph.ev[i].index == index)
            return true;
    return false;
}

/* ---- the rack -------------------------------------------------------------- */

static void test_psus_share_their_bus_by_capacity(void **state)
{
    (void)state;
    on_at(0, 1000, 0); /* a1 on A: ps1 2000 W and ps2 3000 W */
    assert_int_equal(ph.bus_load_mw[0], 1000000);
    assert_int_equal(ph.psu[0].out_mw, 400000);
    assert_int_equal(ph.psu[1].out_mw, 600000);
    /* current = power / voltage, voltage about 51 V */
    assert_true(ph.psu[0].vout_mv > 50500 && ph.psu[0].vout_mv <= 51000);
    assert_true(labs((long)(ph.psu[0].iout_ma - 400000000 / ph.psu[0].vout_mv)) <= 1);
}

static void test_servers_draw_only_while_powered(void **state)
{
    (void)state;
    assert_int_equal(ph.srv[1].draw_mw, 0);
    assert_int_equal(phys_power(&ph, 1, true, 0, "test"), 0);
    int64_t d = ph.srv[1].draw_mw;
    assert_true(d >= 750000 && d <= 1500000); /* idle half of 1500 W .. peak */
    assert_int_equal(phys_power(&ph, 1, false, 0, "test"), 0);
    assert_int_equal(ph.srv[1].draw_mw, 0);
    assert_int_equal(ph.bus_load_mw[0], 0);
}

static void test_capped_server_never_draws_above_its_cap(void **state)
{
    (void)state;
    phys_cap(&ph, 0, 600000, 0, "test");
    assert_int_equal(phys_power(&ph, 0, true, 0, "test"), 0);
    for (int64_t t = 1; t <= 600; t++) {
        phys_step(&ph, t * S / 10);
        assert_true(ph.srv[0].draw_mw <= 600000);
        assert_true(ph.srv[0].draw_mw >= 300000);
    }
    in(POLICY_REPORT, 0, 900000, 61 * S);
    assert_int_equal(ph.srv[0].draw_mw, 600000);
}

static void test_model_is_the_published_curve(void **state)
{
    (void)state;
    assert_int_equal(phys_model_mw(1000000, 0), 500000);
    assert_int_equal(phys_model_mw(1000000, 1), 1000000);
    int64_t half = phys_model_mw(1000000, 0.5);
    assert_int_equal(half, llround(500000 + 500000 * (1 - pow(0.5, 1.4))));
}

static void test_overload_browns_out_after_the_holdup(void **state)
{
    (void)state;
    on_at(0, 1000, 0);
    on_at(1, 1500, 0);
    on_at(2, 1000, 0);                /* ab can go to B */
    in(POLICY_PSU_FAIL, 1, 0, 1 * S); /* A keeps 2000 W for 2500 W of A-only servers */
    assert_true(ph.srv[0].powered && ph.srv[1].powered);
    phys_step(&ph, 1 * S + S / 2);
    assert_true(ph.srv[0].powered); /* carried for the hold-up */
    assert_true(phys_next_deadline(&ph) == 2 * S);
    ph.nev = 0;
    phys_step(&ph, 2 * S);
    assert_false(ph.srv[0].powered);
    assert_false(ph.srv[1].powered);
    assert_true(ph.srv[0].present);
    assert_true(has_event(PHYS_EV_SLOT, 0));
    assert_true(has_event(PHYS_EV_SLOT, 1));
    assert_true(ph.srv[2].powered); /* the dual-corded one drew from B */
    assert_int_equal(ph.bus_load_mw[0] + ph.bus_load_mw[1], 1000000);
}

static void test_overload_relieved_in_time_harms_nobody(void **state)
{
    (void)state;
    on_at(0, 1000, 0);
    on_at(1, 1500, 0);
    in(POLICY_PSU_FAIL, 1, 0, 1 * S);
    phys_cap(&ph, 1, 900000, 1 * S + S / 2, "test"); /* the controller caps in time */
    phys_step(&ph, 5 * S);
    assert_true(ph.srv[0].powered && ph.srv[1].powered);
}

static void test_failed_bus_drops_its_servers_at_once(void **state)
{
    (void)state;
    on_at(3, 500, 0); /* b1 on B only */
    on_at(2, 500, 0); /* ab on A and B */
    in(POLICY_BUS_FAIL, 1, 0, 1 * S);
    assert_false(ph.srv[3].powered);
    assert_true(ph.srv[2].powered);
    assert_int_equal(ph.bus_load_mw[0], 500000);
}

static void test_failed_psu_shows_dcdc_fail_and_no_output(void **state)
{
    (void)state;
    ph.nev = 0;
    in(POLICY_PSU_FAIL, 0, 0, 0);
    assert_int_equal(ph.psu[0].alarm[0], ORV3_GEN_DCDC_FAIL | ORV3_GEN_DCDC);
    assert_int_equal(ph.psu[0].alarm[2], ORV3_DCDC_FAIL);
    assert_int_equal(ph.psu[0].vout_mv, 0);
    assert_true(has_event(PHYS_EV_PSU, 0));
    assert_int_equal(ph.psu[0].fault_count, 1);
    in(POLICY_PSU_REPAIR, 0, 0, 1);
    assert_int_equal(ph.psu[0].alarm[0], 0);
    assert_true(ph.psu[0].vout_mv > 50000);
}

static void test_feed_down_shows_ac_not_ok_and_relay_off(void **state)
{
    (void)state;
    in(POLICY_FEED_FAIL, 0, 0, 0); /* ps1 and ps3 */
    for (int i = 0; i < 3; i += 2) {
        assert_true(ph.psu[i].alarm[1] & ORV3_PFC_AC_NOK);
        assert_true(ph.psu[i].alarm[1] & ORV3_PFC_RELAY_OFF);
        assert_int_equal(ph.psu[i].vout_mv, 0);
        assert_int_equal(ph.psu[i].vin_mv, 0);
        assert_int_equal(ph.psu[i].ac_outages, 1);
    }
    assert_int_equal(ph.psu[1].alarm[1], 0);
    assert_int_equal(ph.bus_cap_mw[0], 3000000);
    assert_int_equal(ph.bus_cap_mw[1], 1000000); /* ps4 on F2 */
}

static void test_degraded_psu_shows_a_fan_alarm_and_runs_hot(void **state)
{
    (void)state;
    on_at(0, 1000, 0);
    double before = ph.psu[1].outlet_c;
    in(POLICY_PSU_DEGRADE, 1, 1500000, 0);
    assert_true(ph.psu[1].alarm[0] & ORV3_GEN_FAN);
    assert_true(ph.psu[1].alarm[3] & ORV3_TEMP_FAN_FAIL);
    assert_int_equal(ph.bus_cap_mw[0], 3500000);
    phys_step(&ph, 120 * S);
    assert_true(ph.psu[1].outlet_c > before + 5);
    assert_true(ph.psu[1].fan_rpm[1] < 1);
}

static void test_temperatures_follow_load_with_a_lag(void **state)
{
    (void)state;
    double idle = ph.psu[1].outlet_c;
    on_at(0, 1000, 0);
    on_at(1, 1500, 0);
    phys_step(&ph, S / 10);
    double soon = ph.psu[1].outlet_c;
    assert_true(soon > idle && soon < idle + 1);
    phys_step(&ph, 200 * S);
    assert_true(ph.psu[1].outlet_c > idle + 5);
    assert_true(ph.psu[1].fan_rpm[0] > 5000);
}

static void test_switches_move_psus_between_buses(void **state)
{
    (void)state;
    /* ps3 is wired to B only */
    assert_int_equal(phys_switch(&ph, 2, 0, true, 0, "test"), -1);
    /* ps1 (fet, faster than the hold-up) moves at once */
    assert_int_equal(phys_switch(&ph, 0, 1, true, 0, "test"), 0);
    assert_int_equal(ph.r.psus[0].bus, 1);
    assert_int_equal(ph.bus_cap_mw[1], 6000000);
    assert_int_equal(phys_switch(&ph, 0, 1, false, 0, "test"), 0);
    assert_int_equal(ph.r.psus[0].bus, -1);
    assert_int_equal(phys_switch(&ph, 0, 0, true, 0, "test"), 0);
    assert_int_equal(ph.r.psus[0].bus, 0);
}

static void test_slow_switch_leaves_the_psu_on_no_bus_meanwhile(void **state)
{
    (void)state;
    /* ps4: a breaker, 200 ms */
    assert_int_equal(phys_switch(&ph, 3, 0, true, 0, "test"), 0);
    assert_int_equal(ph.r.psus[3].bus, -1);
    assert_int_equal(phys_next_deadline(&ph), 200000000);
    phys_step(&ph, 199000000);
    assert_int_equal(ph.r.psus[3].bus, -1);
    phys_step(&ph, 200000000);
    assert_int_equal(ph.r.psus[3].bus, 0);
    assert_int_equal(ph.bus_cap_mw[0], 6000000);
    assert_int_equal(phys_next_deadline(&ph), INT64_MAX);
}

static void test_power_on_asks_and_a_grant_clears_the_ask(void **state)
{
    (void)state;
    ph.nev = 0;
    in(POLICY_POWER_ON, 0, 0, 0);
    assert_int_equal(ph.srv[0].ask, RACKMOD_ASK_POWER_ON);
    assert_int_equal(ph.srv[0].changes, 1);
    assert_false(ph.srv[0].powered); /* it waits for the controller */
    assert_true(has_event(PHYS_EV_SLOT, 0));
    char err[128];
    struct policy_input again = {.kind = POLICY_POWER_ON, .index = 0};
    assert_int_equal(phys_check(&ph, &again, err, sizeof(err)), -1);
    assert_int_equal(phys_power(&ph, 0, true, 1, "grant"), 0);
    assert_int_equal(ph.srv[0].ask, RACKMOD_ASK_NONE);
    assert_int_equal(ph.srv[0].changes, 2);
    in(POLICY_POWER_OFF, 0, 0, 2);
    assert_false(ph.srv[0].powered);
    assert_int_equal(ph.srv[0].ask, RACKMOD_ASK_POWER_OFF);
    phys_clear_ask(&ph, 0, 3, "test");
    assert_int_equal(ph.srv[0].ask, RACKMOD_ASK_NONE);
    assert_int_equal(ph.srv[0].changes, 4);
}

static void test_remove_leaves_an_empty_slot(void **state)
{
    (void)state;
    on_at(0, 700, 0);
    in(POLICY_REMOVE, 0, 0, 1);
    assert_false(ph.srv[0].present);
    assert_false(ph.srv[0].powered);
    assert_int_equal(ph.bus_load_mw[0], 0);
    assert_int_equal(phys_power(&ph, 0, true, 2, "test"), -1);
}

static void test_control_lines(void **state)
{
    (void)state;
    struct policy_input v[8];
    size_t n;
    char err[256];
    assert_int_equal(control_parse(&ph.r, "  power_on a1 ab ", v, 8, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].kind, POLICY_POWER_ON);
    assert_int_equal(v[1].index, 2);
    assert_int_equal(control_parse(&ph.r, "psu_degrade ps2 1500", v, 8, &n, err, sizeof(err)), 0);
    assert_int_equal(v[0].watts_mw, 1500000);
    assert_int_equal(control_parse(&ph.r, "feed_fail F2", v, 8, &n, err, sizeof(err)), 0);
    assert_int_equal(v[0].index, 1);
    assert_int_equal(control_parse(&ph.r, "# comment", v, 8, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);

    assert_int_equal(control_parse(&ph.r, "psu_fail ghost", v, 8, &n, err, sizeof(err)), -1);
    assert_string_equal(err, "psu_fail: unknown psu 'ghost'");
    assert_int_equal(control_parse(&ph.r, "explode ps1", v, 8, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown command 'explode'"));
    assert_int_equal(control_parse(&ph.r, "psu_degrade ps2", v, 8, &n, err, sizeof(err)), -1);
    assert_int_equal(control_parse(&ph.r, "psu_degrade ps2 lots", v, 8, &n, err, sizeof(err)), -1);
    assert_int_equal(control_parse(&ph.r, "bus_fail a1", v, 8, &n, err, sizeof(err)), -1);
    assert_int_equal(control_parse(&ph.r, "remove", v, 8, &n, err, sizeof(err)), -1);
    assert_int_equal(control_parse(&ph.r, "power_on a1 a1 a1", v, 2, &n, err, sizeof(err)), -1);

    /* a degrade above the rating parses, and is refused without a change */
    assert_int_equal(control_parse(&ph.r, "psu_degrade ps1 2500", v, 8, &n, err, sizeof(err)), 0);
    assert_int_equal(phys_apply(&ph, &v[0], 0, err, sizeof(err)), -1);
    assert_int_equal(ph.r.psus[0].health, RACK_PSU_OK);
}

/* ---- encodings and registers --------------------------------------------- */

/* The simulator serves its PSUs through orv3.h's encoders: the figures
 * that matter on the wire. */
static uint16_t enc(int field, double value)
{
    uint16_t img[ORV3_PSU_NREGS] = {0};
    const struct orv3_field *f = &orv3_psu_fields[field];
    orv3_encode_float(f, value, img + f->reg);
    return img[f->reg];
}

static void test_orv3_float_encoding(void **state)
{
    (void)state;
    assert_int_equal(enc(ORV3_PSU_VOUT, 51.0), 52224);
    assert_int_equal(enc(ORV3_PSU_TEMP_INLET, 25.0), 3200);
    assert_int_equal(enc(ORV3_PSU_TEMP_INLET, -1.0), 0xFF80);
    assert_int_equal(enc(ORV3_PSU_POUT, 3000.0), 24000);
    assert_int_equal(enc(ORV3_PSU_POUT, 9000.0), 65535); /* saturates */
    assert_int_equal(enc(ORV3_PSU_VBULK, -5.0), 0);
    assert_int_equal(enc(ORV3_PSU_TEMP_INLET, 300.0), 32767);
}

static void test_orv3_string_high_byte_first(void **state)
{
    (void)state;
    uint16_t img[ORV3_PSU_NREGS] = {0};
    const struct orv3_field *f = &orv3_psu_fields[ORV3_PSU_HW_REV]; /* 4 words */
    orv3_encode_string(f, "ABC", img + f->reg);
    assert_int_equal(img[f->reg], 0x4142);
    assert_int_equal(img[f->reg + 1], 0x4320);
    assert_int_equal(img[f->reg + 2], 0x2020);
    orv3_encode_string(f, "TOOLONGFORIT", img + f->reg);
    assert_int_equal(img[f->reg], 0x544F);
}

static size_t req(struct simdevs *d, uint8_t unit, const uint8_t *pdu, size_t len, uint8_t *rsp)
{
    return mbsrv_handle(&simdevs_ops, d, unit, pdu, len, rsp);
}

static void test_psu_registers(void **state)
{
    (void)state;
    struct simdevs d;
    assert_int_equal(simdevs_init(&d, &ph, 19200), 0);
    assert_int_equal(simdevs_kind(&d, 200), SIMDEVS_PSU);
    assert_int_equal(simdevs_kind(&d, 203), SIMDEVS_PSU);
    assert_int_equal(simdevs_kind(&d, 204), SIMDEVS_NONE);
    assert_int_equal(simdevs_kind(&d, 77), SIMDEVS_NONE);
    uint8_t rsp[MBSRV_PDU_MAX];
    const uint8_t vout[] = {0x03, 0, 79, 0, 1};
    assert_int_equal(req(&d, 201, vout, sizeof(vout), rsp), 4);
    double v = (rsp[2] << 8 | rsp[3]) / 1024.0;
    assert_true(v > 50.5 && v < 51.5);
    const uint8_t model[] = {0x03, 0, 8, 0, 8};
    assert_int_equal(req(&d, 200, model, sizeof(model), rsp), 18);
    assert_memory_equal(rsp + 2, "RPSIM-ORV3-PSU  ", 16);
    const uint8_t past[] = {0x03, 0, 105, 0, 6}; /* 105..110: 110 is past the map */
    assert_int_equal(req(&d, 200, past, sizeof(past), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_ADDRESS);
    const uint8_t coils[] = {0x01, 0, 0, 0, 1};
    assert_int_equal(req(&d, 200, coils, sizeof(coils), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_FUNCTION);
    const uint8_t vout_write[] = {0x06, 0, 79, 0, 1};
    assert_int_equal(req(&d, 200, vout_write, sizeof(vout_write), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_ADDRESS);
    const uint8_t time_write[] = {0x10, 0, 98, 0, 2, 4, 0x65, 0x00, 0x12, 0x34};
    assert_int_equal(req(&d, 200, time_write, sizeof(time_write), rsp), 5);
    uint16_t img[SIMDEVS_PSU_NREGS];
    simdevs_psu_image(&d, 0, img);
    assert_int_equal(img[98], 0x6500);
    assert_int_equal(img[99], 0x1234);
    assert_int_equal(img[95], 192);
    in(POLICY_PSU_FAIL, 0, 0, 0);
    simdevs_psu_image(&d, 0, img);
    assert_int_equal(img[60], ORV3_GEN_DCDC_FAIL | ORV3_GEN_DCDC);
    assert_int_equal(img[79], 0);
    simdevs_free(&d);
}

/* A deployed monitor reads 92..109 in one span: the span is answered whole,
 * and nothing it names reads as a bare 0 when a real PSU would show a value. */
static void test_psu_answers_the_monitor_span_up_to_109(void **state)
{
    (void)state;
    struct simdevs d;
    assert_int_equal(simdevs_init(&d, &ph, 19200), 0);
    uint8_t rsp[MBSRV_PDU_MAX];
    const uint8_t span[] = {0x03, 0, 92, 0, 18};
    assert_int_equal(req(&d, 200, span, sizeof(span), rsp), 2 + 36);
    const uint8_t *r = rsp + 2 - 2 * 92; /* r + 2 * reg: that register's bytes */
    assert_int_equal(r[2 * 105] << 8 | r[2 * 105 + 1], SIMDEVS_VOUT_TIMER_DEFAULT);
    assert_memory_equal(r + 2 * 106, "0.9.2   ", 8);
    assert_int_equal(r[2 * 103] << 8 | r[2 * 103 + 1], 51 * 1024); /* Vout set high */
    const uint8_t whole[] = {0x03, 0, 0, 0, 110};
    assert_int_equal(req(&d, 201, whole, sizeof(whole), rsp), 2 + 220);

    const uint8_t timer[] = {0x06, 0, 105, 0, 30};
    assert_int_equal(req(&d, 200, timer, sizeof(timer), rsp), 5);
    const uint8_t fbl[] = {0x06, 0, 106, 0x41, 0x41};
    assert_int_equal(req(&d, 200, fbl, sizeof(fbl), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_ADDRESS);
    uint16_t img[SIMDEVS_PSU_NREGS];
    simdevs_psu_image(&d, 0, img);
    assert_int_equal(img[105], 30);
    assert_int_equal(img[106], 0x302E); /* "0." */

    /* The clock counts on from what the controller wrote, as a PSU's does. */
    assert_int_equal(img[98] << 16 | img[99], 0);
    d.now_ns = 5 * 1000000000LL;
    const uint8_t clock[] = {0x10, 0, 98, 0, 2, 4, 0x65, 0x00, 0x00, 0x10};
    assert_int_equal(req(&d, 200, clock, sizeof(clock), rsp), 5);
    d.now_ns += 3500000000LL;
    simdevs_psu_image(&d, 0, img);
    assert_int_equal((uint32_t)img[98] << 16 | img[99], 0x65000010u + 3);
    /* a write of the low word alone keeps the high word the clock reached */
    const uint8_t low[] = {0x06, 0, 99, 0, 0x20};
    assert_int_equal(req(&d, 200, low, sizeof(low), rsp), 5);
    d.now_ns += 1000000000LL;
    simdevs_psu_image(&d, 0, img);
    assert_int_equal((uint32_t)img[98] << 16 | img[99], 0x65000021u);
    simdevs_free(&d);
}

/* What the simulator serves is what the daemon's ORv3 decoder understands. */
static void test_psu_image_decodes_to_the_health_it_simulates(void **state)
{
    (void)state;
    struct simdevs d;
    assert_int_equal(simdevs_init(&d, &ph, 19200), 0);
    on_at(0, 1000, 0); /* ps1 400 W, ps2 600 W */
    uint16_t img[SIMDEVS_PSU_NREGS];
    struct orv3_psu_telemetry t;
    simdevs_psu_image(&d, 1, img);
    orv3_psu_decode(img, &t);
    assert_string_equal(t.model, "RPSIM-ORV3-PSU");
    assert_string_equal(t.serial, "RPSIM-t-ps2");
    assert_true(t.vout_mv > 50500 && t.vout_mv <= 51000);
    assert_true(labs((long)t.pout_mw - 600000) <= 125); /* precision 3: 1/8 W */
    assert_true(labs((long)t.iout_ma - 600000000L / t.vout_mv) <= 16);
    assert_true(t.inlet_mc > 24000 && t.inlet_mc < 30000);
    assert_int_equal(orv3_psu_assess(&t, false).level, ORV3_OK);

    in(POLICY_PSU_FAIL, 1, 0, 1);
    simdevs_psu_image(&d, 1, img);
    orv3_psu_decode(img, &t);
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_FAILED);
    assert_true(a.causes & ORV3_CAUSE_BIT(ORV3_C_DCDC_FAIL));

    in(POLICY_FEED_FAIL, 0, 0, 2); /* ps1 loses AC */
    simdevs_psu_image(&d, 0, img);
    orv3_psu_decode(img, &t);
    a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_FAILED);
    assert_true(a.causes & ORV3_CAUSE_BIT(ORV3_C_INPUT_LOST));

    in(POLICY_PSU_DEGRADE, 3, 500000, 3);
    simdevs_psu_image(&d, 3, img);
    orv3_psu_decode(img, &t);
    a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_DEGRADED);
    assert_true(a.causes & ORV3_CAUSE_BIT(ORV3_C_FAN));
    simdevs_free(&d);
}

static void test_switch_module_registers(void **state)
{
    (void)state;
    struct simdevs d;
    assert_int_equal(simdevs_init(&d, &ph, 19200), 0);
    uint8_t rsp[MBSRV_PDU_MAX];
    const uint8_t regs[] = {0x03, 0, 0, 0, 3};
    assert_int_equal(req(&d, RACKMOD_SWITCH_UNIT, regs, sizeof(regs), rsp), 8);
    assert_int_equal(rsp[3], 1); /* ps1 on A */
    assert_int_equal(rsp[7], 2); /* ps3 on B */
    /* ps2 (index 1) to B: coil 1*8+1 */
    const uint8_t to_b[] = {0x05, 0, RACKMOD_SW_COIL(1, 1), 0xFF, 0};
    assert_int_equal(req(&d, RACKMOD_SWITCH_UNIT, to_b, sizeof(to_b), rsp), 5);
    assert_int_equal(ph.r.psus[1].bus, 1);
    const uint8_t read[] = {0x01, 0, 8, 0, 8};
    assert_int_equal(req(&d, RACKMOD_SWITCH_UNIT, read, sizeof(read), rsp), 3);
    assert_int_equal(rsp[2], 0x02);
    /* ps3 is not wired to A: exception 3, nothing moves */
    const uint8_t unwired[] = {0x05, 0, RACKMOD_SW_COIL(2, 0), 0xFF, 0};
    assert_int_equal(req(&d, RACKMOD_SWITCH_UNIT, unwired, sizeof(unwired), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_VALUE);
    assert_int_equal(ph.r.psus[2].bus, 1);
    const uint8_t beyond[] = {0x01, 0, 30, 0, 8};
    assert_int_equal(req(&d, RACKMOD_SWITCH_UNIT, beyond, sizeof(beyond), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_ADDRESS);
    simdevs_free(&d);
}

static void test_chassis_module_registers(void **state)
{
    (void)state;
    struct simdevs d;
    assert_int_equal(simdevs_init(&d, &ph, 19200), 0);
    int slot;
    assert_int_equal(simdevs_server_unit(&d, 2, &slot), RACKMOD_CHASSIS_UNIT_BASE + 1);
    assert_int_equal(slot, 0);
    assert_int_equal(simdevs_server_unit(&d, 3, &slot), RACKMOD_LOOSE_CHASSIS_UNIT);
    uint8_t rsp[MBSRV_PDU_MAX];
    uint8_t unit = RACKMOD_CHASSIS_UNIT_BASE; /* c1: a1, a2 */
    in(POLICY_POWER_ON, 1, 0, 0);
    const uint8_t slot1[] = {0x03, 0, RACKMOD_SLOT_FIELDS, 0, RACKMOD_SLOT_FIELDS};
    assert_int_equal(req(&d, unit, slot1, sizeof(slot1), rsp), 2 + 2 * RACKMOD_SLOT_FIELDS);
    assert_int_equal(rsp[2 + 2 * RACKMOD_SLOT_PRESENT + 1], 1);
    assert_int_equal(rsp[2 + 2 * RACKMOD_SLOT_REQUEST_W] << 8 | rsp[3 + 2 * RACKMOD_SLOT_REQUEST_W],
                     1500);
    assert_int_equal(rsp[3 + 2 * RACKMOD_SLOT_ASK], RACKMOD_ASK_POWER_ON);
    assert_int_equal(rsp[3 + 2 * RACKMOD_SLOT_CHANGES], 1);
    /* grant: coil 1 */
    const uint8_t grant[] = {0x05, 0, 1, 0xFF, 0};
    assert_int_equal(req(&d, unit, grant, sizeof(grant), rsp), 5);
    assert_true(ph.srv[1].powered);
    assert_int_equal(ph.srv[1].ask, RACKMOD_ASK_NONE);
    /* cap: register 11 */
    const uint8_t cap[] = {0x06, 0, RACKMOD_SLOT_REG(1, RACKMOD_SLOT_CAP_W), 0x03, 0xE8};
    assert_int_equal(req(&d, unit, cap, sizeof(cap), rsp), 5);
    assert_int_equal(ph.srv[1].cap_mw, 1000000);
    const uint8_t state_reg[] = {0x03, 0, RACKMOD_SLOT_REG(1, RACKMOD_SLOT_STATE), 0, 1};
    assert_int_equal(req(&d, unit, state_reg, sizeof(state_reg), rsp), 4);
    assert_int_equal(rsp[3], RACKMOD_SLOT_CAPPED);
    /* read-only fields and asks other than 0 are refused */
    const uint8_t present[] = {0x06, 0, RACKMOD_SLOT_REG(1, RACKMOD_SLOT_PRESENT), 0, 0};
    assert_int_equal(req(&d, unit, present, sizeof(present), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_ADDRESS);
    const uint8_t ask1[] = {0x06, 0, RACKMOD_SLOT_REG(1, RACKMOD_SLOT_ASK), 0, 1};
    assert_int_equal(req(&d, unit, ask1, sizeof(ask1), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_VALUE);
    /* an empty slot cannot be powered */
    in(POLICY_REMOVE, 0, 0, 1);
    const uint8_t empty[] = {0x05, 0, 0, 0xFF, 0};
    assert_int_equal(req(&d, unit, empty, sizeof(empty), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t beyond[] = {0x03, 0, 16, 0, 1};
    assert_int_equal(req(&d, unit, beyond, sizeof(beyond), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_ADDRESS);
    simdevs_free(&d);
}

/* ---- power lost without the controller ------------------------------------ */

/* a1 and a2 (A only) draw 2500 W; ps2 fails at 1 s and leaves A 2000 W: both
 * brown out at 2 s. */
static void brown_out_a1_a2(void)
{
    on_at(0, 1000, 0);
    on_at(1, 1500, 0);
    in(POLICY_PSU_FAIL, 1, 0, 1 * S);
    phys_step(&ph, 2 * S);
    assert_false(ph.srv[0].powered);
    assert_false(ph.srv[1].powered);
}

static void test_brown_out_is_latched_until_the_controller_clears_it(void **state)
{
    (void)state;
    struct simdevs d;
    assert_int_equal(simdevs_init(&d, &ph, 19200), 0);
    uint8_t rsp[MBSRV_PDU_MAX];
    uint8_t unit = RACKMOD_CHASSIS_UNIT_BASE; /* c1: a1, a2 */
    const uint8_t lost0[] = {0x03, 0, RACKMOD_SLOT_REG(0, RACKMOD_SLOT_LOST), 0, 1};
    assert_int_equal(req(&d, unit, lost0, sizeof(lost0), rsp), 4);
    assert_int_equal(rsp[3], 0);
    /* the controller's own shed is no loss */
    on_at(3, 500, 0);
    assert_int_equal(phys_power(&ph, 3, false, 0, "test"), 0);
    assert_int_equal(ph.srv[3].lost, 0);
    brown_out_a1_a2();
    assert_int_equal(ph.srv[0].lost, 1);
    assert_int_equal(req(&d, unit, lost0, sizeof(lost0), rsp), 4);
    assert_int_equal(rsp[2] << 8 | rsp[3], 1);
    /* it stays latched, the server off (no power-on after AC loss) */
    phys_step(&ph, 10 * S);
    assert_false(ph.srv[0].powered);
    assert_int_equal(req(&d, unit, lost0, sizeof(lost0), rsp), 4);
    assert_int_equal(rsp[3], 1);
    /* only 0 may be written */
    const uint8_t set5[] = {0x06, 0, RACKMOD_SLOT_REG(0, RACKMOD_SLOT_LOST), 0, 5};
    assert_int_equal(req(&d, unit, set5, sizeof(set5), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t clear[] = {0x06, 0, RACKMOD_SLOT_REG(0, RACKMOD_SLOT_LOST), 0, 0};
    assert_int_equal(req(&d, unit, clear, sizeof(clear), rsp), 5);
    assert_int_equal(ph.srv[0].lost, 0);
    assert_int_equal(ph.srv[1].lost, 1); /* its neighbour's latch is its own */
    simdevs_free(&d);
}

static void test_power_on_after_ac_loss_loops_until_the_coil_is_written(void **state)
{
    (void)state;
    ph.r.servers[0].ac_restart = 1;
    ph.r.servers[1].ac_restart = 1;
    brown_out_a1_a2();
    assert_int_equal(phys_next_deadline(&ph), 2 * S + PHYS_AC_RESTART_NS);
    phys_step(&ph, 2 * S + PHYS_AC_RESTART_NS - S / 10);
    assert_false(ph.srv[0].powered);
    ph.nev = 0;
    phys_step(&ph, 2 * S + PHYS_AC_RESTART_NS);
    assert_true(ph.srv[0].powered); /* power returned: it boots by itself */
    assert_true(ph.srv[1].powered);
    assert_true(has_event(PHYS_EV_SLOT, 0));
    /* the overload is back: brown-out again, and again */
    int64_t t = 2 * S + PHYS_AC_RESTART_NS;
    for (int k = 0; k < 20; k++) {
        t += S / 10;
        phys_step(&ph, t);
    }
    assert_true(ph.srv[0].lost >= 2);
    /* the controller writes its coil 0: it stays off */
    assert_int_equal(phys_power(&ph, 0, false, t, "test"), 0);
    assert_int_equal(phys_power(&ph, 1, false, t, "test"), 0);
    uint16_t lost = ph.srv[0].lost;
    phys_step(&ph, t + 10 * S);
    assert_false(ph.srv[0].powered);
    assert_false(ph.srv[1].powered);
    assert_int_equal(ph.srv[0].lost, lost);
}

static void test_bus_failure_with_power_on_after_ac_loss_boots_at_its_repair(void **state)
{
    (void)state;
    ph.r.servers[3].ac_restart = 1;
    on_at(3, 500, 0); /* b1 on B only */
    in(POLICY_BUS_FAIL, 1, 0, 1 * S);
    assert_false(ph.srv[3].powered);
    assert_int_equal(ph.srv[3].lost, 1);
    phys_step(&ph, 5 * S); /* no power yet */
    assert_false(ph.srv[3].powered);
    in(POLICY_BUS_REPAIR, 1, 0, 6 * S);
    assert_true(ph.srv[3].powered);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_psus_share_their_bus_by_capacity),
        T(test_servers_draw_only_while_powered),
        T(test_capped_server_never_draws_above_its_cap),
        cmocka_unit_test(test_model_is_the_published_curve),
        T(test_overload_browns_out_after_the_holdup),
        T(test_overload_relieved_in_time_harms_nobody),
        T(test_failed_bus_drops_its_servers_at_once),
        T(test_failed_psu_shows_dcdc_fail_and_no_output),
        T(test_feed_down_shows_ac_not_ok_and_relay_off),
        T(test_degraded_psu_shows_a_fan_alarm_and_runs_hot),
        T(test_temperatures_follow_load_with_a_lag),
        T(test_switches_move_psus_between_buses),
        T(test_slow_switch_leaves_the_psu_on_no_bus_meanwhile),
        T(test_power_on_asks_and_a_grant_clears_the_ask),
        T(test_remove_leaves_an_empty_slot),
        T(test_brown_out_is_latched_until_the_controller_clears_it),
        T(test_power_on_after_ac_loss_loops_until_the_coil_is_written),
        T(test_bus_failure_with_power_on_after_ac_loss_boots_at_its_repair),
        T(test_control_lines),
        cmocka_unit_test(test_orv3_float_encoding),
        cmocka_unit_test(test_orv3_string_high_byte_first),
        T(test_psu_registers),
        T(test_psu_answers_the_monitor_span_up_to_109),
        T(test_psu_image_decodes_to_the_health_it_simulates),
        T(test_switch_module_registers),
        T(test_chassis_module_registers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
