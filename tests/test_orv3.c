/*
 * test_orv3.c - ORv3 register tables, span planning, value encodings, the
 * alarm-to-health mapping and the fault monitor's debounce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "orv3.h"

static const struct orv3_field *psu(int i)
{
    return &orv3_psu_fields[i];
}

static void check_table(const struct orv3_table *t)
{
    int end = 0;
    for (int i = 0; i < t->nfields; i++) {
        const struct orv3_field *f = &t->fields[i];
        assert_non_null(f->name);
        assert_true(f->words >= 1);
        assert_true(f->reg >= end); /* sorted, no overlap */
        end = f->reg + f->words;
        assert_true(f->format != ORV3_INT32 || f->words == 2);
        assert_true(f->format == ORV3_STRING || f->format == ORV3_INT32 || f->words == 1);
        assert_true(f->precision <= 15);
    }
    assert_int_equal(end, t->nregs);
}

static void test_tables_sorted_and_complete(void **state)
{
    (void)state;
    check_table(&orv3_psu_table);
    check_table(&orv3_bbu_table);
    assert_int_equal(orv3_find(&orv3_psu_table, 79)->precision, 10);
    assert_ptr_equal(orv3_find(&orv3_psu_table, 79), psu(ORV3_PSU_VOUT));
    assert_null(orv3_find(&orv3_psu_table, 58));
    assert_int_equal(orv3_find(&orv3_bbu_table, 119)->reg, 119); /* cell 11 */
    assert_int_equal(orv3_bbu_fields[ORV3_BBU_TEMP4].reg, 125);
    assert_int_equal(orv3_psu_units[14], 242);
    assert_int_equal(orv3_bbu_units[14], 101);
    /* 105..109 follow the reference's table without a gap or an overlap */
    const struct orv3_field *timer = &orv3_psu_ext_fields[ORV3_PSU_VOUT_TIMER];
    const struct orv3_field *fbl = &orv3_psu_ext_fields[ORV3_PSU_FBL_REV];
    assert_int_equal(timer->reg, ORV3_PSU_NREGS);
    assert_int_equal(fbl->reg, timer->reg + timer->words);
    assert_int_equal(fbl->reg + fbl->words, ORV3_PSU_EXT_NREGS);
    assert_int_equal(fbl->format, ORV3_STRING);
}

static void test_plan_whole_psu_in_one_120_word_span(void **state)
{
    (void)state;
    struct orv3_span s[64];
    struct orv3_span_policy p = {ORV3_MAX_SPAN_WORDS, ORV3_DEFAULT_MAX_HOLE};
    int n = orv3_plan_spans(&orv3_psu_table, ORV3_ALL_GROUPS, &p, s, 64);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].start, 0);
    assert_int_equal(s[0].words, 105);
    assert_int_equal(s[0].groups, ORV3_ALL_GROUPS);
}

static void test_plan_without_holes_splits_at_every_gap(void **state)
{
    (void)state;
    struct orv3_span s[64];
    struct orv3_span_policy p = {ORV3_MAX_SPAN_WORDS, 0};
    int n = orv3_plan_spans(&orv3_psu_table, ORV3_ALL_GROUPS, &p, s, 64);
    /* 0-39, 44-53, 56-57, 60-64, 67-72, 75-90, 94-99, 101-104 */
    static const int want[][2] = {{0, 40}, {44, 10}, {56, 2}, {60, 5},
                                  {67, 6}, {75, 16}, {94, 6}, {101, 4}};
    assert_int_equal(n, 8);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s[i].start, want[i][0]);
        assert_int_equal(s[i].words, want[i][1]);
    }
}

static void test_plan_16_words_never_splits_a_field(void **state)
{
    (void)state;
    struct orv3_span s[64];
    struct orv3_span_policy p = {ORV3_OLD_SPAN_WORDS, ORV3_DEFAULT_MAX_HOLE};
    int n = orv3_plan_spans(&orv3_psu_table, ORV3_ALL_GROUPS, &p, s, 64);
    assert_true(n > 6);
    int covered = 0;
    for (int i = 0; i < n; i++) {
        assert_true(s[i].words <= 16);
        if (i > 0)
            assert_true(s[i].start >= s[i - 1].start + s[i - 1].words);
    }
    /* every field lies inside exactly one span */
    for (int f = 0; f < ORV3_PSU_NFIELDS; f++) {
        int in = 0;
        for (int i = 0; i < n; i++) {
            uint16_t dummy[125] = {0};
            if (orv3_field_in_span(&s[i], dummy, psu(f)))
                in++;
        }
        assert_int_equal(in, 1);
        covered++;
    }
    assert_int_equal(covered, ORV3_PSU_NFIELDS);
    /* the 16-word serial is a span of its own */
    assert_int_equal(s[2].start, 24);
    assert_int_equal(s[2].words, 16);
}

static void test_plan_alarm_and_telemetry_bridge_small_holes(void **state)
{
    (void)state;
    struct orv3_span s[8];
    uint32_t g = ORV3_GROUP_BIT(ORV3_G_ALARM) | ORV3_GROUP_BIT(ORV3_G_TELEMETRY);
    struct orv3_span_policy p = {120, 8};
    assert_int_equal(orv3_plan_spans(&orv3_psu_table, g, &p, s, 8), 1);
    assert_int_equal(s[0].start, 60);
    assert_int_equal(s[0].words, 30); /* 60..89, reading 65-66 and 73-78 through */
    /* a hole larger than allowed splits: 73..78 is 6 words */
    p.max_hole_words = 5;
    assert_int_equal(orv3_plan_spans(&orv3_psu_table, g, &p, s, 8), 2);
    assert_int_equal(s[0].start, 60);
    assert_int_equal(s[0].words, 13);
    assert_int_equal(s[1].start, 79);
    assert_int_equal(s[1].words, 11);
    assert_int_equal(s[1].groups, ORV3_GROUP_BIT(ORV3_G_TELEMETRY));
    /* alarms only */
    assert_int_equal(orv3_plan_spans(&orv3_psu_table, ORV3_GROUP_BIT(ORV3_G_ALARM), &p, s, 8), 1);
    assert_int_equal(s[0].words, 5);
}

static void test_plan_rejects_bad_policies_and_small_output(void **state)
{
    (void)state;
    struct orv3_span s[2];
    struct orv3_span_policy p = {8, 0};
    /* the serial (16 words) cannot be read 8 words at a time */
    assert_int_equal(orv3_plan_spans(&orv3_psu_table, ORV3_GROUP_BIT(ORV3_G_IDENTITY), &p, s, 2),
                     -1);
    p = (struct orv3_span_policy){126, 0};
    assert_int_equal(orv3_plan_spans(&orv3_psu_table, ORV3_ALL_GROUPS, &p, s, 2), -1);
    p = (struct orv3_span_policy){120, 0};
    assert_int_equal(orv3_plan_spans(&orv3_psu_table, ORV3_ALL_GROUPS, &p, s, 2), -1);
    assert_int_equal(orv3_plan_spans(&orv3_psu_table, 0, &p, s, 2), 0);
}

static void test_plan_bbu_120_words(void **state)
{
    (void)state;
    struct orv3_span s[16];
    struct orv3_span_policy p = {120, 8};
    int n = orv3_plan_spans(&orv3_bbu_table, ORV3_ALL_GROUPS, &p, s, 16);
    assert_true(n >= 3);
    for (int i = 0; i < n; i++)
        assert_true(s[i].words <= 120);
    assert_int_equal(s[n - 1].start + s[n - 1].words, ORV3_BBU_NREGS);
}

static void test_float_vout_51v_round_trip(void **state)
{
    (void)state;
    uint16_t w[1];
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_VOUT), 51.0, w), 0);
    assert_int_equal(w[0], 52224);
    assert_int_equal(orv3_decode_milli(psu(ORV3_PSU_VOUT), w), 51000);
    assert_true(orv3_decode_float(psu(ORV3_PSU_VOUT), w) == 51.0);
    assert_int_equal(orv3_encode_milli(psu(ORV3_PSU_VOUT), 51000, w), 0);
    assert_int_equal(w[0], 52224);
    /* 20.5 A at precision 6, 1234.5 W at precision 3 */
    assert_int_equal(orv3_encode_milli(psu(ORV3_PSU_IOUT), 20500, w), 0);
    assert_int_equal(w[0], 1312);
    assert_int_equal(orv3_decode_milli(psu(ORV3_PSU_IOUT), w), 20500);
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_POUT), 1234.5, w), 0);
    assert_int_equal(w[0], 9876);
    assert_int_equal(orv3_decode_milli(psu(ORV3_PSU_POUT), w), 1234500);
    /* precision 0: frequency in whole Hz */
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_FIN), 50.0, w), 0);
    assert_int_equal(w[0], 50);
    assert_int_equal(orv3_decode_milli(psu(ORV3_PSU_FIN), w), 50000);
}

static void test_float_rounds_and_saturates(void **state)
{
    (void)state;
    uint16_t w[1];
    /* 1 LSB of vout is 0.9765625 mV: 12.3456 V -> raw 12642 -> 12345.703 mV -> 12346 */
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_VOUT), 12.3456, w), 0);
    assert_int_equal(w[0], 12642);
    assert_int_equal(orv3_decode_milli(psu(ORV3_PSU_VOUT), w), 12346);
    /* 70 V does not fit precision 10 (max 63.999 V): saturated, -1 */
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_VOUT), 70.0, w), -1);
    assert_int_equal(w[0], 65535);
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_VOUT), -1.0, w), -1);
    assert_int_equal(w[0], 0);
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_VOUT), 0.0 / 0.0, w), -1);
    assert_int_equal(orv3_encode_float(psu(ORV3_PSU_VOUT), 1e300, w), -1);
    assert_int_equal(w[0], 65535);
    assert_int_equal(orv3_encode_milli(psu(ORV3_PSU_VOUT), INT64_MAX, w), -1);
    assert_int_equal(w[0], 65535);
    assert_int_equal(orv3_encode_string(psu(ORV3_PSU_VOUT), "x", w), -1);
}

static void test_signed_temperatures(void **state)
{
    (void)state;
    uint16_t w[1];
    const struct orv3_field *t = psu(ORV3_PSU_TEMP_INLET);
    assert_int_equal(orv3_encode_float(t, -10.5, w), 0);
    assert_int_equal(w[0], (uint16_t)(-1344));
    assert_int_equal(w[0], 0xFAC0);
    assert_int_equal(orv3_decode_milli(t, w), -10500);
    assert_true(orv3_decode_float(t, w) == -10.5);
    assert_int_equal(orv3_encode_milli(t, 45250, w), 0);
    assert_int_equal(w[0], 5792);
    assert_int_equal(orv3_decode_milli(t, w), 45250);
    /* -0.01 C: raw -1 (-1/128 C = -7.8 m C) rounds to -8 */
    w[0] = 0xFFFF;
    assert_int_equal(orv3_decode_milli(t, w), -8);
    /* signed range: 255.99 C at precision 7 is the top */
    assert_int_equal(orv3_encode_float(t, 300.0, w), -1);
    assert_int_equal(w[0], 0x7FFF);
    assert_int_equal(orv3_encode_float(t, -300.0, w), -1);
    assert_int_equal(w[0], 0x8000);
    /* BBU signed current */
    const struct orv3_field *c = &orv3_bbu_fields[ORV3_BBU_CURRENT];
    assert_int_equal(orv3_encode_int(c, -2500, w), 0);
    assert_int_equal(orv3_decode_int(c, w), -2500);
}

static void test_int32_word_order(void **state)
{
    (void)state;
    uint16_t w[2];
    const struct orv3_field *f = psu(ORV3_PSU_UPTIME);
    assert_int_equal(orv3_encode_int(f, 0x12345678, w), 0);
    assert_int_equal(w[0], 0x1234);
    assert_int_equal(w[1], 0x5678);
    assert_int_equal(orv3_decode_int(f, w), 0x12345678);
    assert_int_equal(orv3_encode_int(f, 5000000000LL, w), -1);
    assert_int_equal(orv3_decode_int(f, w), UINT32_MAX);
    assert_int_equal(orv3_encode_int(psu(ORV3_PSU_FAN0_RPM), 70000, w), -1);
    assert_int_equal(w[0], 65535);
}

static void test_strings_round_trip_and_trim(void **state)
{
    (void)state;
    uint16_t w[16];
    char buf[40];
    const struct orv3_field *m = psu(ORV3_PSU_MODEL); /* 8 words */
    assert_int_equal(orv3_encode_string(m, "PSU-3000", w), 0);
    assert_int_equal(w[0], ('P' << 8) | 'S');
    assert_int_equal(w[3], ('0' << 8) | '0');
    assert_int_equal(w[7], 0x2020);
    assert_int_equal(orv3_decode_string(m, w, buf, sizeof(buf)), 8);
    assert_string_equal(buf, "PSU-3000");
    /* short strings are space padded and come back trimmed */
    assert_int_equal(orv3_encode_string(m, "AB", w), 0);
    assert_int_equal(w[1], 0x2020);
    orv3_decode_string(m, w, buf, sizeof(buf));
    assert_string_equal(buf, "AB");
    /* too long: truncated, -1 */
    assert_int_equal(orv3_encode_string(m, "0123456789ABCDEFXYZ", w), -1);
    orv3_decode_string(m, w, buf, sizeof(buf));
    assert_string_equal(buf, "0123456789ABCDEF");
    /* a device's junk: NUL ends, leading blanks trimmed, bytes >= 0x7f shown as '?' */
    w[0] = (' ' << 8) | 'X';
    w[1] = (0xff << 8) | 'Y';
    w[2] = ('Z' << 8) | 0;
    w[3] = ('Q' << 8) | 'Q';
    orv3_decode_string(m, w, buf, sizeof(buf));
    assert_string_equal(buf, "X?YZ");
    /* small buffers are never overrun */
    assert_int_equal(orv3_decode_string(m, w, buf, 3), 2);
    assert_string_equal(buf, "X?");
    /* 16-word serial */
    const struct orv3_field *s = psu(ORV3_PSU_SERIAL);
    assert_int_equal(orv3_encode_string(s, "SN0123456789ABCDEFGHIJKLMNOPQRST", w), 0);
    orv3_decode_string(s, w, buf, sizeof(buf));
    assert_string_equal(buf, "SN0123456789ABCDEFGHIJKLMNOPQRST");
}

static void test_psu_decode_from_image(void **state)
{
    (void)state;
    uint16_t img[ORV3_PSU_NREGS] = {0};
    const struct orv3_field *f = orv3_psu_fields;
    orv3_encode_string(&f[ORV3_PSU_MODEL], "ORV3-PSU", img + f[ORV3_PSU_MODEL].reg);
    orv3_encode_string(&f[ORV3_PSU_SERIAL], "S1", img + f[ORV3_PSU_SERIAL].reg);
    orv3_encode_float(&f[ORV3_PSU_VOUT], 51.0, img + 79);
    orv3_encode_float(&f[ORV3_PSU_IOUT], 20.5, img + 80);
    orv3_encode_float(&f[ORV3_PSU_POUT], 1045.5, img + 82);
    orv3_encode_float(&f[ORV3_PSU_TEMP_INLET], -5.25, img + 69);
    orv3_encode_float(&f[ORV3_PSU_VIN], 230.0, img + 88);
    orv3_encode_float(&f[ORV3_PSU_PF], 0.99, img + 86);
    orv3_encode_int(&f[ORV3_PSU_UPTIME], 100000, img + 52);
    img[62] = 1u << 8;
    struct orv3_psu_telemetry t;
    orv3_psu_decode(img, &t);
    assert_string_equal(t.model, "ORV3-PSU");
    assert_string_equal(t.serial, "S1");
    assert_int_equal(t.vout_mv, 51000);
    assert_int_equal(t.iout_ma, 20500);
    assert_int_equal(t.pout_mw, 1045500);
    assert_int_equal(t.inlet_mc, -5250);
    assert_int_equal(t.vin_mv, 230000);
    assert_int_equal(t.pf_permille, 990);
    assert_int_equal(t.uptime, 100000);
    assert_int_equal(t.alarm[2], 0x100);
}

static void test_bbu_decode_from_image(void **state)
{
    (void)state;
    uint16_t img[ORV3_BBU_NREGS] = {0};
    const struct orv3_field *f = orv3_bbu_fields;
    orv3_encode_string(&f[ORV3_BBU_MODEL], "BBU-1", img + 8);
    orv3_encode_int(&f[ORV3_BBU_CELL1 + 10], 3650, img + 119);
    orv3_encode_int(&f[ORV3_BBU_CURRENT], -12000, img + 129);
    orv3_encode_int(&f[ORV3_BBU_RSOC], 87, img + 126);
    orv3_encode_int(&f[ORV3_BBU_WALL_CLOCK], 1700000000, img + 302);
    img[104] = 1u << 7;
    struct orv3_bbu_telemetry t;
    orv3_bbu_decode(img, &t);
    assert_string_equal(t.model, "BBU-1");
    assert_int_equal(t.cell_mv[10], 3650);
    assert_int_equal(t.current_ma, -12000);
    assert_int_equal(t.rsoc_pct, 87);
    assert_int_equal(t.wall_clock, 1700000000u);
    assert_int_equal(t.status, 0x80);
}

/* A healthy PSU carrying its share at 51 V. */
static struct orv3_psu_telemetry healthy(void)
{
    struct orv3_psu_telemetry t;
    memset(&t, 0, sizeof(t));
    t.vout_mv = 51000;
    t.iout_ma = 20000;
    t.ishare_ma = 20000;
    t.inlet_mc = 30000;
    t.outlet_mc = 40000;
    return t;
}

static struct orv3_assessment with(int reg, int bit)
{
    struct orv3_psu_telemetry t = healthy();
    t.alarm[reg - 60] = (uint16_t)(1u << bit);
    return orv3_psu_assess(&t, false);
}

static void test_alarm_words_to_health(void **state)
{
    (void)state;
    struct orv3_psu_telemetry t = healthy();
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_OK);
    assert_false(a.at_risk);
    assert_int_equal(a.causes, 0);

    /* failed */
    static const int failed[][2] = {{60, 9}, {60, 8}, {61, 11}, {62, 10}, {62, 9},
                                    {62, 8}, {62, 3}, {62, 2},  {62, 1},  {62, 0}};
    for (size_t i = 0; i < sizeof(failed) / sizeof(failed[0]); i++)
        assert_int_equal(with(failed[i][0], failed[i][1]).level, ORV3_FAILED);
    /* degraded */
    static const int degraded[][2] = {{60, 11}, {60, 10}, {60, 2}, {63, 8}, {63, 0}, {63, 5}};
    for (size_t i = 0; i < sizeof(degraded) / sizeof(degraded[0]); i++) {
        a = with(degraded[i][0], degraded[i][1]);
        assert_int_equal(a.level, ORV3_DEGRADED);
        assert_false(a.at_risk);
    }
    /* at risk */
    static const int risk[][2] = {{61, 9}, {61, 5}, {61, 4}, {60, 0}, {60, 1}};
    for (size_t i = 0; i < sizeof(risk) / sizeof(risk[0]); i++) {
        a = with(risk[i][0], risk[i][1]);
        assert_int_equal(a.level, ORV3_AT_RISK);
        assert_true(a.at_risk);
    }
    assert_int_equal(with(61, 9).causes, ORV3_CAUSE_BIT(ORV3_C_BULK));
    /* comm alarms are recorded, not a fault */
    a = with(64, 3);
    assert_int_equal(a.level, ORV3_OK);
    assert_int_equal(a.causes, ORV3_CAUSE_BIT(ORV3_C_COMM));
}

static void test_ac_not_ok_fails_only_when_output_is_gone(void **state)
{
    (void)state;
    struct orv3_psu_telemetry t = healthy();
    t.alarm[1] = 1u << 8; /* AC not ok, riding through on the bulk capacitor */
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_AT_RISK);
    assert_int_equal(a.causes, ORV3_CAUSE_BIT(ORV3_C_INPUT));
    t.vout_mv = 0;
    t.iout_ma = 0;
    a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_FAILED);
    assert_true(a.causes & ORV3_CAUSE_BIT(ORV3_C_INPUT_LOST));
    /* input relay off, output gone */
    t.alarm[1] = 1u << 10;
    assert_int_equal(orv3_psu_assess(&t, false).level, ORV3_FAILED);
}

static void test_temperature_alarm_degrades_and_rising_puts_at_risk(void **state)
{
    (void)state;
    struct orv3_psu_telemetry t = healthy();
    t.alarm[3] = 1u << 2;
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_DEGRADED);
    assert_false(a.at_risk);
    a = orv3_psu_assess(&t, true);
    assert_int_equal(a.level, ORV3_DEGRADED);
    assert_true(a.at_risk);
    assert_true(a.causes & ORV3_CAUSE_BIT(ORV3_C_TEMP_RISING));
    /* rising without an alarm means nothing */
    t = healthy();
    assert_int_equal(orv3_psu_assess(&t, true).level, ORV3_OK);
}

static void test_current_share_off_degrades(void **state)
{
    (void)state;
    struct orv3_psu_telemetry t = healthy();
    t.iout_ma = 14000; /* 30 % under the 20 A share */
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_DEGRADED);
    assert_int_equal(a.causes, ORV3_CAUSE_BIT(ORV3_C_SHARE));
    t.iout_ma = 16000; /* 20 %: within tolerance */
    assert_int_equal(orv3_psu_assess(&t, false).level, ORV3_OK);
    t.ishare_ma = 2000; /* too light a load to judge */
    t.iout_ma = 0;
    assert_int_equal(orv3_psu_assess(&t, false).level, ORV3_OK);
}

/* The share says how much a degraded PSU carries; it lowers the configured
 * fraction, never raises it. */
static void test_degraded_capacity_from_the_current_share(void **state)
{
    (void)state;
    struct orv3_psu_telemetry t = healthy();
    t.iout_ma = 6000; /* 30 % of its 20 A share */
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    int share = 0;
    assert_int_equal(orv3_psu_derated_mw(&t, a.causes, 3000000, 50, &share), 900000);
    assert_int_equal(share, 300);
    /* 70 % of its share: above the 50 % fallback, which stands */
    t.iout_ma = 14000;
    a = orv3_psu_assess(&t, false);
    assert_int_equal(orv3_psu_derated_mw(&t, a.causes, 3000000, 50, &share), 1500000);
    assert_int_equal(share, -1);
    /* the same with a fallback of 80 %: the share lowers it to 70 % */
    assert_int_equal(orv3_psu_derated_mw(&t, a.causes, 3000000, 80, &share), 2100000);
    assert_int_equal(share, 700);
}

/* A fan or temperature cause says nothing of how much: the fraction. */
static void test_degraded_capacity_falls_back_to_the_fraction(void **state)
{
    (void)state;
    struct orv3_psu_telemetry t = healthy();
    t.alarm[ORV3_AL_GENERAL] = ORV3_GEN_FAN;
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_DEGRADED);
    int share = 0;
    assert_int_equal(orv3_psu_derated_mw(&t, a.causes, 3000000, 50, &share), 1500000);
    assert_int_equal(share, -1);
    assert_int_equal(orv3_psu_derated_mw(&t, a.causes, 3000000, 70, NULL), 2100000);
    assert_int_equal(orv3_psu_derated_mw(NULL, a.causes, 3000000, 70, NULL), 2100000);
    /* over-sharing is no shortfall: the fraction */
    t = healthy();
    t.iout_ma = 30000;
    a = orv3_psu_assess(&t, false);
    assert_int_equal(orv3_psu_derated_mw(&t, a.causes, 3000000, 50, NULL), 1500000);
    /* carrying nothing of its share: still 1 W, degraded is not failed */
    t.iout_ma = 0;
    a = orv3_psu_assess(&t, false);
    assert_int_equal(orv3_psu_derated_mw(&t, a.causes, 3000000, 50, NULL), 1000);
}

static void test_worst_cause_wins_and_formats(void **state)
{
    (void)state;
    struct orv3_psu_telemetry t = healthy();
    t.alarm[0] = (1u << 11) | (1u << 9); /* fan fail and DCDC fail */
    t.alarm[1] = 1u << 9;                /* bulk not ok */
    struct orv3_assessment a = orv3_psu_assess(&t, false);
    assert_int_equal(a.level, ORV3_FAILED);
    assert_true(a.at_risk);
    char buf[128];
    orv3_causes_format(a.causes, buf, sizeof(buf));
    assert_string_equal(buf, "dcdc_fail,fan,bulk_cap");
    orv3_causes_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "none");
    char small[6];
    int n = orv3_causes_format(a.causes, small, sizeof(small));
    assert_int_equal(n, (int)strlen("dcdc_fail,fan,bulk_cap"));
    assert_string_equal(small, "dcdc_");
    assert_string_equal(orv3_health_name(ORV3_AT_RISK), "at_risk");
}

static void test_bbu_flags_to_health(void **state)
{
    (void)state;
    struct orv3_bbu_telemetry t;
    memset(&t, 0, sizeof(t));
    t.battery_status = 0x80 | 0x20; /* initialized, fully charged */
    assert_int_equal(orv3_bbu_assess(&t).level, ORV3_OK);
    t.status = 1u << 10; /* pack under-voltage */
    assert_int_equal(orv3_bbu_assess(&t).level, ORV3_FAILED);
    t.status = 1u << 2; /* fuse */
    assert_int_equal(orv3_bbu_assess(&t).level, ORV3_FAILED);
    t.status = 1u << 6; /* fan */
    assert_int_equal(orv3_bbu_assess(&t).level, ORV3_DEGRADED);
    t.status = 1u << 14; /* charge not allowed */
    assert_int_equal(orv3_bbu_assess(&t).level, ORV3_DEGRADED);
    t.status = 1u << 7; /* end of life */
    assert_int_equal(orv3_bbu_assess(&t).level, ORV3_AT_RISK);
    t.status = 0;
    t.battery_status = 1u << 12; /* an alarm bit */
    assert_int_equal(orv3_bbu_assess(&t).level, ORV3_AT_RISK);
    t.battery_status = 0;
    t.perm_failures = 1;
    assert_int_equal(orv3_bbu_assess(&t).causes, ORV3_CAUSE_BIT(ORV3_C_BBU_PERM));
}

/* A discharging BBU as the daemon reads it for a reserve: its mode says so,
 * its charge and run time (minutes) come from the registers, its watts from
 * the shelf output power. */
static void test_bbu_discharging_reads_as_a_reserve_on_battery(void **state)
{
    (void)state;
    uint16_t img[ORV3_BBU_NREGS] = {0};
    const struct orv3_field *f = orv3_bbu_fields;
    orv3_encode_int(&f[ORV3_BBU_MODE], ORV3_MODE_DISCHARGE, img + 107);
    orv3_encode_int(&f[ORV3_BBU_BATTERY_STATUS], ORV3_BATT_INITIALIZED | ORV3_BATT_DISCHARGING,
                    img + 108);
    orv3_encode_int(&f[ORV3_BBU_RSOC], 63, img + 126);
    orv3_encode_int(&f[ORV3_BBU_RUN_TIME_TO_EMPTY], 7, img + 133);
    orv3_encode_int(&f[ORV3_BBU_SHELF_POWER], 4200, img + 310);
    struct orv3_bbu_telemetry t;
    orv3_bbu_decode(img, &t);
    struct orv3_bbu_state s;
    orv3_bbu_state(&t, &s);
    assert_true(s.discharging);
    assert_false(s.charging);
    assert_false(s.full || s.empty || s.fault);
    assert_int_equal(s.charge_pct, 63);
    assert_int_equal(s.runtime_s, 7 * 60);
    assert_int_equal(s.watts, 4200);
    /* no shelf power: battery voltage x discharge current (40.7 V x 12.5 A) */
    orv3_encode_int(&f[ORV3_BBU_SHELF_POWER], 0, img + 310);
    orv3_encode_int(&f[ORV3_BBU_VOLTAGE], 40700, img + 128);
    orv3_encode_int(&f[ORV3_BBU_CURRENT], -12500, img + 129);
    orv3_bbu_decode(img, &t);
    orv3_bbu_state(&t, &s);
    assert_int_equal(s.watts, 509);
    /* neither: unknown, not 0 */
    orv3_encode_int(&f[ORV3_BBU_CURRENT], 0, img + 129);
    orv3_bbu_decode(img, &t);
    orv3_bbu_state(&t, &s);
    assert_int_equal(s.watts, -1);
}

/* On mains: charging or full, no run time (65535), no watts; the status bits
 * that forbid a discharge make a fault, an end-of-life warning does not. */
static void test_bbu_on_mains_charging_full_empty_and_faults(void **state)
{
    (void)state;
    struct orv3_bbu_telemetry t;
    memset(&t, 0, sizeof(t));
    t.mode = ORV3_MODE_CHARGING;
    t.rsoc_pct = 40;
    t.run_time_to_empty_min = ORV3_BBU_NO_RUNTIME;
    t.shelf_power_w = 300; /* a charging shelf's figure is not delivered power */
    struct orv3_bbu_state s;
    orv3_bbu_state(&t, &s);
    assert_false(s.discharging);
    assert_true(s.charging);
    assert_int_equal(s.runtime_s, -1);
    assert_int_equal(s.watts, 0);
    t.mode = 0;
    t.battery_status = ORV3_BATT_FULL;
    t.rsoc_pct = 101; /* out of range: not believed */
    orv3_bbu_state(&t, &s);
    assert_true(s.full);
    assert_false(s.charging);
    assert_int_equal(s.charge_pct, -1);
    t.battery_status = ORV3_BATT_DISCHARGING | ORV3_BATT_EMPTY;
    t.mode = ORV3_MODE_CHARGING; /* contradictory: discharging wins */
    orv3_bbu_state(&t, &s);
    assert_true(s.discharging && s.empty);
    assert_false(s.charging);
    unsigned faults[] = {15, 13, 12, 11, 10};
    for (size_t k = 0; k < sizeof(faults) / sizeof(*faults); k++) {
        t.status = (uint16_t)(1u << faults[k]);
        orv3_bbu_state(&t, &s);
        assert_true(s.fault);
    }
    t.status = ORV3_BBU_EOL | ORV3_BBU_FAN_FAIL | ORV3_BBU_NO_CHARGE;
    orv3_bbu_state(&t, &s);
    assert_false(s.fault);
}

#define S(x) ((int64_t)(x)*1000000000LL)

static void test_monitor_debounces_and_raises_once_per_episode(void **state)
{
    (void)state;
    struct orv3_monitor m;
    orv3_monitor_init(&m, ORV3_DEV_PSU, NULL);
    struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS];
    struct orv3_psu_telemetry ok = healthy(), bad = healthy();
    bad.alarm[2] = 1u << 8; /* DCDC fail */
    int64_t t = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &ok, ev), 0);
    /* two bad reads are not believed */
    assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &bad, ev), 0);
    assert_true(orv3_monitor_pending(&m));
    assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &bad, ev), 0);
    /* the third is */
    assert_int_equal(orv3_monitor_feed_psu(&m, S(t), &bad, ev), 1);
    assert_false(orv3_monitor_pending(&m));
    assert_int_equal(ev[0].kind, ORV3_EV_RAISE);
    assert_int_equal(ev[0].a.level, ORV3_FAILED);
    assert_int_equal(ev[0].nalarm, 5);
    assert_int_equal(ev[0].alarm[2], 0x100);
    assert_int_equal(ev[0].t_ns, S(t));
    assert_int_equal(ev[0].since_ns, S(t));
    int64_t raised = S(t++);
    /* the episode goes on: nothing more, however long */
    for (int i = 0; i < 50; i++)
        assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &bad, ev), 0);
    /* flapping back and forth is not a clear */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &ok, ev), 0);
        assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &ok, ev), 0);
        assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &bad, ev), 0);
    }
    assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &ok, ev), 0);
    assert_int_equal(orv3_monitor_feed_psu(&m, S(t++), &ok, ev), 0);
    assert_int_equal(orv3_monitor_feed_psu(&m, S(t), &ok, ev), 1);
    assert_int_equal(ev[0].kind, ORV3_EV_CLEAR);
    assert_int_equal(ev[0].a.level, ORV3_OK);
    assert_int_equal(ev[0].since_ns, raised);
    for (int i = 0; i < 10; i++)
        assert_int_equal(orv3_monitor_feed_psu(&m, S(++t), &ok, ev), 0);
}

static void test_monitor_believes_a_failure_with_its_output_gone_at_once(void **state)
{
    (void)state;
    struct orv3_monitor m;
    orv3_monitor_init(&m, ORV3_DEV_PSU, NULL);
    struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS];
    struct orv3_psu_telemetry ok = healthy(), dead = healthy();
    dead.alarm[2] = 1u << 8; /* DCDC fail */
    dead.vout_mv = 0;        /* and no output: the servers are on their hold-up time */
    assert_int_equal(orv3_monitor_feed_psu(&m, S(0), &ok, ev), 0);
    assert_int_equal(orv3_monitor_feed_psu(&m, S(1), &dead, ev), 1);
    assert_int_equal(ev[0].kind, ORV3_EV_RAISE);
    assert_int_equal(ev[0].a.level, ORV3_FAILED);
    /* coming back still needs the debounce */
    assert_int_equal(orv3_monitor_feed_psu(&m, S(2), &ok, ev), 0);
    assert_int_equal(orv3_monitor_feed_psu(&m, S(3), &ok, ev), 0);
    assert_int_equal(orv3_monitor_feed_psu(&m, S(4), &ok, ev), 1);
    assert_int_equal(ev[0].kind, ORV3_EV_CLEAR);
}

static void test_monitor_flapping_alarm_never_raises(void **state)
{
    (void)state;
    struct orv3_monitor m;
    orv3_monitor_init(&m, ORV3_DEV_PSU, NULL);
    struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS];
    struct orv3_psu_telemetry ok = healthy(), bad = healthy();
    bad.alarm[0] = 1u << 11;
    for (int i = 0; i < 100; i++)
        assert_int_equal(orv3_monitor_feed_psu(&m, S(i), i % 3 == 2 ? &ok : &bad, ev), 0);
}

static void test_monitor_escalation_is_a_change_in_the_episode(void **state)
{
    (void)state;
    struct orv3_monitor m;
    orv3_monitor_init(&m, ORV3_DEV_PSU, NULL);
    struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS];
    struct orv3_psu_telemetry fan = healthy(), dead = healthy();
    fan.alarm[0] = 1u << 11;
    dead.alarm[0] = (1u << 11) | (1u << 9);
    int n = 0, t = 0;
    for (int i = 0; i < 3; i++)
        n += orv3_monitor_feed_psu(&m, S(t++), &fan, ev);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].kind, ORV3_EV_RAISE);
    assert_int_equal(ev[0].a.level, ORV3_DEGRADED);
    n = 0;
    for (int i = 0; i < 3; i++)
        n += orv3_monitor_feed_psu(&m, S(t++), &dead, ev);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].kind, ORV3_EV_CHANGE);
    assert_int_equal(ev[0].a.level, ORV3_FAILED);
    assert_int_equal(ev[0].since_ns, S(2));
}

static void test_monitor_rising_temperature(void **state)
{
    (void)state;
    struct orv3_monitor m;
    orv3_monitor_init(&m, ORV3_DEV_PSU, NULL);
    struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS];
    struct orv3_psu_telemetry t = healthy();
    t.alarm[0] = 1u << 2; /* temperature alarm */
    t.outlet_mc = 70000;
    int n = 0;
    for (int i = 0; i < 3; i++)
        n += orv3_monitor_feed_psu(&m, S(i), &t, ev);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].a.level, ORV3_DEGRADED);
    assert_false(ev[0].a.at_risk);
    /* steady temperature: still just degraded */
    for (int i = 3; i < 10; i++)
        assert_int_equal(orv3_monitor_feed_psu(&m, S(i), &t, ev), 0);
    /* 1.5 C hotter than when the alarm began, three reads running */
    t.outlet_mc = 71500;
    n = 0;
    for (int i = 10; i < 13; i++)
        n += orv3_monitor_feed_psu(&m, S(i), &t, ev);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].kind, ORV3_EV_CHANGE);
    assert_true(ev[0].a.at_risk);
    assert_true(ev[0].a.causes & ORV3_CAUSE_BIT(ORV3_C_TEMP_RISING));
}

static void test_monitor_comm_loss_once(void **state)
{
    (void)state;
    struct orv3_monitor m;
    orv3_monitor_init(&m, ORV3_DEV_BBU, NULL);
    struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS];
    struct orv3_bbu_telemetry t;
    memset(&t, 0, sizeof(t));
    assert_int_equal(orv3_monitor_feed_bbu(&m, S(0), &t, ev), 0);
    assert_int_equal(orv3_monitor_feed_fail(&m, S(1), ev), 0);
    assert_int_equal(orv3_monitor_feed_fail(&m, S(2), ev), 0);
    assert_int_equal(orv3_monitor_feed_fail(&m, S(3), ev), 1);
    assert_int_equal(ev[0].kind, ORV3_EV_COMM_LOST);
    assert_int_equal(ev[0].device, ORV3_DEV_BBU);
    assert_int_equal(ev[0].since_ns, S(1));
    for (int i = 4; i < 20; i++)
        assert_int_equal(orv3_monitor_feed_fail(&m, S(i), ev), 0);
    /* back, with a fault on arrival: comm back now, the fault after debounce */
    t.status = 1u << 8;
    assert_int_equal(orv3_monitor_feed_bbu(&m, S(20), &t, ev), 1);
    assert_int_equal(ev[0].kind, ORV3_EV_COMM_BACK);
    assert_int_equal(ev[0].since_ns, S(1));
    assert_int_equal(orv3_monitor_feed_bbu(&m, S(21), &t, ev), 0);
    assert_int_equal(orv3_monitor_feed_bbu(&m, S(22), &t, ev), 1);
    assert_int_equal(ev[0].kind, ORV3_EV_RAISE);
    assert_int_equal(ev[0].nalarm, 3);
    assert_int_equal(ev[0].alarm[0], 0x100);
    /* a failed read in between does not restart the debounce */
}

static void test_monitor_debounce_one_read(void **state)
{
    (void)state;
    struct orv3_monitor_config c;
    orv3_monitor_config_default(&c);
    c.debounce_reads = 0; /* taken as 1 */
    struct orv3_monitor m;
    orv3_monitor_init(&m, ORV3_DEV_PSU, &c);
    struct orv3_event ev[ORV3_MONITOR_MAX_EVENTS];
    struct orv3_psu_telemetry bad = healthy();
    bad.alarm[2] = 1;
    assert_int_equal(orv3_monitor_feed_psu(&m, 5, &bad, ev), 1);
    assert_int_equal(ev[0].kind, ORV3_EV_RAISE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_sorted_and_complete),
        cmocka_unit_test(test_plan_whole_psu_in_one_120_word_span),
        cmocka_unit_test(test_plan_without_holes_splits_at_every_gap),
        cmocka_unit_test(test_plan_16_words_never_splits_a_field),
        cmocka_unit_test(test_plan_alarm_and_telemetry_bridge_small_holes),
        cmocka_unit_test(test_plan_rejects_bad_policies_and_small_output),
        cmocka_unit_test(test_plan_bbu_120_words),
        cmocka_unit_test(test_float_vout_51v_round_trip),
        cmocka_unit_test(test_float_rounds_and_saturates),
        cmocka_unit_test(test_signed_temperatures),
        cmocka_unit_test(test_int32_word_order),
        cmocka_unit_test(test_strings_round_trip_and_trim),
        cmocka_unit_test(test_psu_decode_from_image),
        cmocka_unit_test(test_bbu_decode_from_image),
        cmocka_unit_test(test_alarm_words_to_health),
        cmocka_unit_test(test_ac_not_ok_fails_only_when_output_is_gone),
        cmocka_unit_test(test_temperature_alarm_degrades_and_rising_puts_at_risk),
        cmocka_unit_test(test_current_share_off_degrades),
        cmocka_unit_test(test_degraded_capacity_from_the_current_share),
        cmocka_unit_test(test_degraded_capacity_falls_back_to_the_fraction),
        cmocka_unit_test(test_worst_cause_wins_and_formats),
        cmocka_unit_test(test_bbu_flags_to_health),
        cmocka_unit_test(test_bbu_discharging_reads_as_a_reserve_on_battery),
        cmocka_unit_test(test_bbu_on_mains_charging_full_empty_and_faults),
        cmocka_unit_test(test_monitor_debounces_and_raises_once_per_episode),
        cmocka_unit_test(test_monitor_believes_a_failure_with_its_output_gone_at_once),
        cmocka_unit_test(test_monitor_flapping_alarm_never_raises),
        cmocka_unit_test(test_monitor_escalation_is_a_change_in_the_episode),
        cmocka_unit_test(test_monitor_rising_temperature),
        cmocka_unit_test(test_monitor_comm_loss_once),
        cmocka_unit_test(test_monitor_debounce_one_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
