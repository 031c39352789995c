/*
 * test_pmbus.c - PMBus data formats (LINEAR11, LINEAR16, DIRECT) and the
 * health verdict of the status registers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pmbus.h"

static uint16_t enc11(double x)
{
    uint16_t w = 0xFFFF;
    assert_int_equal(pmbus_linear11_encode(x, &w), PMBUS_OK);
    return w;
}

static int mantissa11(uint16_t w)
{
    int y = w & 0x7FF;
    return y >= 1024 ? y - 2048 : y;
}

static int exponent11(uint16_t w)
{
    int n = w >> 11;
    return n >= 16 ? n - 32 : n;
}

static void test_linear11_known_words(void **state)
{
    (void)state;
    /* N = -6, Y = 672: 10.5 */
    assert_true(pmbus_linear11_decode(0xD2A0) == 10.5);
    assert_int_equal(pmbus_linear11_milli(0xD2A0), 10500);
    /* N = 1, Y = 1000: 2000 */
    assert_true(pmbus_linear11_decode(0x0BE8) == 2000.0);
    assert_int_equal(pmbus_linear11_milli(0x0BE8), 2000000);
    /* N = -2, Y = -1: -0.25 */
    assert_true(pmbus_linear11_decode(0xF7FF) == -0.25);
    assert_int_equal(pmbus_linear11_milli(0xF7FF), -250);
    /* N = -3, Y = -100: -12.5 */
    assert_true(pmbus_linear11_decode(0xEF9C) == -12.5);
    /* N = 15, Y = -1024: the most negative value */
    assert_true(pmbus_linear11_decode(0x7C00) == -1024.0 * 32768);
    /* N = -16, Y = 1: the finest step, 0.0153 milli-units rounds to 0 */
    assert_true(pmbus_linear11_decode(0x8001) == ldexp(1, -16));
    assert_int_equal(pmbus_linear11_milli(0x8001), 0);
    /* N = -16, Y = 33: 0.5035 milli rounds half away from zero to 1 */
    assert_int_equal(pmbus_linear11_milli(0x8021), 1);
    assert_int_equal(pmbus_linear11_milli(0x87DF), -1); /* Y = -33 */
    assert_int_equal(pmbus_linear11_milli(0x0000), 0);
}

static void test_linear11_encode_normalises_like_the_kernel(void **state)
{
    (void)state;
    assert_int_equal(enc11(10.5), 0xD2A0);
    assert_int_equal(enc11(2000), 0x0BE8);
    assert_int_equal(enc11(-12.5), 0xD4E0); /* Y = -800, N = -6 */
    assert_true(pmbus_linear11_decode(0xD4E0) == -12.5);
    assert_int_equal(enc11(1023.0 * 32768), 0x7BFF);
    assert_int_equal(enc11(-1024.0 * 32768), 0x7C00);
    assert_int_equal(enc11(1023), 0x03FF); /* already normal: N = 0 */
    assert_int_equal(enc11(1), 0xBA00);    /* Y = 512, N = -9 */
}

static void test_linear11_encode_zero_and_bad_values(void **state)
{
    (void)state;
    uint16_t w = 0x1234;
    assert_int_equal(enc11(0), 0x0000);
    assert_int_equal(enc11(-0.0), 0x0000);
    assert_int_equal(enc11(1e-9), 0x0000); /* below the finest step */
    assert_int_equal(pmbus_linear11_encode(1024.0 * 32768, &w), PMBUS_ERR_RANGE);
    assert_int_equal(pmbus_linear11_encode(-1025.0 * 32768, &w), PMBUS_ERR_RANGE);
    assert_int_equal(pmbus_linear11_encode(1e12, &w), PMBUS_ERR_RANGE);
    assert_int_equal(pmbus_linear11_encode(NAN, &w), PMBUS_ERR_INVALID);
    assert_int_equal(pmbus_linear11_encode(INFINITY, &w), PMBUS_ERR_INVALID);
    assert_int_equal(w, 0x1234); /* untouched on error */
    assert_string_equal(pmbus_strerror(PMBUS_ERR_RANGE), "value out of range for the format");
}

/* Every word decodes to a value that encodes back to the same value, with a
 * mantissa normalised into 511..1023 unless the exponent is at its floor. */
static void test_linear11_round_trip_every_word(void **state)
{
    (void)state;
    for (uint32_t w = 0; w <= 0xFFFF; w++) {
        double x = pmbus_linear11_decode((uint16_t)w);
        uint16_t e = enc11(x);
        assert_true(pmbus_linear11_decode(e) == x);
        if (x == 0) {
            assert_int_equal(e, 0);
            continue;
        }
        int y = abs(mantissa11(e));
        if (exponent11(e) > -16)
            assert_true(y >= 511 && y <= 1024);
        if (exponent11(e) < 15)
            assert_true(y <= 1023);
    }
}

/* Values over the whole range come back within half a step. */
static void test_linear11_round_trip_values(void **state)
{
    (void)state;
    srand(11);
    for (int i = 0; i < 200000; i++) {
        double mag = ldexp((double)rand() / RAND_MAX, (rand() % 39) - 14);
        double x = (rand() & 1) ? -mag : mag;
        uint16_t w = enc11(x);
        double step = ldexp(1, exponent11(w));
        double back = pmbus_linear11_decode(w);
        assert_true(fabs(back - x) <= step / 2 + 1e-12 * fabs(x) || (w == 0 && fabs(x) < step));
        if (fabs(x) >= 1)
            assert_true(fabs(back - x) <= fabs(x) / 1022);
    }
}

static void test_linear16_with_vout_mode(void **state)
{
    (void)state;
    double x;
    int64_t mv;
    uint16_t w;
    int n;
    assert_int_equal(pmbus_vout_mode_exponent(0x17, &n), PMBUS_OK);
    assert_int_equal(n, -9);
    assert_int_equal(pmbus_vout_mode_exponent(0x14, &n), PMBUS_OK);
    assert_int_equal(n, -12);

    /* 0x17: N = -9, 12 V is 6144 */
    assert_int_equal(pmbus_linear16_decode(0x1800, 0x17, &x), PMBUS_OK);
    assert_true(x == 12.0);
    assert_int_equal(pmbus_linear16_milli(0x1833, 0x17, &mv), PMBUS_OK);
    assert_int_equal(mv, 12100); /* 6195 / 512 = 12.0996 V */
    assert_int_equal(pmbus_linear16_encode(12.1, 0x17, &w), PMBUS_OK);
    assert_int_equal(w, 0x1833);
    assert_int_equal(pmbus_linear16_encode(0, 0x17, &w), PMBUS_OK);
    assert_int_equal(w, 0);

    /* 0x14: N = -12 */
    assert_int_equal(pmbus_linear16_encode(12.0, 0x14, &w), PMBUS_OK);
    assert_int_equal(w, 0xC000);
    assert_int_equal(pmbus_linear16_encode(5.0, 0x14, &w), PMBUS_OK);
    assert_int_equal(w, 0x5000);
    assert_int_equal(pmbus_linear16_milli(0x5000, 0x14, &mv), PMBUS_OK);
    assert_int_equal(mv, 5000);
    assert_int_equal(pmbus_linear16_milli(0xFFFF, 0x14, &mv), PMBUS_OK);
    assert_int_equal(mv, 16000); /* 15.99976 V */

    /* round trip over the whole word range for one mode */
    for (uint32_t v = 0; v <= 0xFFFF; v += 7) {
        assert_int_equal(pmbus_linear16_decode((uint16_t)v, 0x17, &x), PMBUS_OK);
        assert_int_equal(pmbus_linear16_encode(x, 0x17, &w), PMBUS_OK);
        assert_int_equal(w, v);
    }
}

static void test_linear16_rejects_other_modes_and_bad_values(void **state)
{
    (void)state;
    double x = 7;
    int64_t mv = 7;
    uint16_t w = 0x1234;
    const uint8_t modes[] = {0x20 | 0x17, 0x40, 0x60 | 0x14, 0x80, 0xE0};
    for (size_t i = 0; i < sizeof(modes); i++) {
        assert_int_equal(pmbus_linear16_decode(0x1800, modes[i], &x), PMBUS_ERR_MODE);
        assert_int_equal(pmbus_linear16_milli(0x1800, modes[i], &mv), PMBUS_ERR_MODE);
        assert_int_equal(pmbus_linear16_encode(12, modes[i], &w), PMBUS_ERR_MODE);
    }
    assert_true(x == 7 && mv == 7 && w == 0x1234);
    assert_int_equal(pmbus_linear16_encode(-1, 0x17, &w), PMBUS_ERR_RANGE);
    assert_int_equal(pmbus_linear16_encode(17, 0x14, &w), PMBUS_ERR_RANGE); /* > 15.9998 */
    assert_int_equal(pmbus_linear16_encode(NAN, 0x14, &w), PMBUS_ERR_INVALID);
    assert_int_equal(w, 0x1234);
}

static void test_direct_with_datasheet_coefficients(void **state)
{
    (void)state;
    /* A hot-swap controller's style of table: volts m=4062 b=0 R=-2,
     * amps (with its sense resistor) m=807 b=20475 R=-1. */
    const struct pmbus_direct volts = {4062, 0, -2}, amps = {807, 20475, -1};
    uint16_t w;
    double x;
    int64_t milli;

    assert_int_equal(pmbus_direct_encode(12.0, &volts, &w), PMBUS_OK);
    assert_int_equal(w, 487); /* 48744 * 10^-2 = 487.44 */
    assert_int_equal(pmbus_direct_decode(487, &volts, &x), PMBUS_OK);
    assert_true(fabs(x - 48700.0 / 4062) < 1e-9);
    assert_int_equal(pmbus_direct_milli(487, &volts, &milli), PMBUS_OK);
    assert_int_equal(milli, 11989);

    assert_int_equal(pmbus_direct_encode(10.0, &amps, &w), PMBUS_OK);
    assert_int_equal(w, 2855); /* (8070 + 20475) / 10 = 2854.5, half away from zero */
    assert_int_equal(pmbus_direct_milli(2855, &amps, &milli), PMBUS_OK);
    assert_int_equal(milli, 10006);
    /* b pushes small currents negative: Y is two's complement */
    assert_int_equal(pmbus_direct_encode(-30.0, &amps, &w), PMBUS_OK);
    assert_int_equal((int16_t)w, -374); /* (-24210 + 20475) / 10 = -373.5 */
    assert_int_equal(pmbus_direct_decode(w, &amps, &x), PMBUS_OK);
    assert_true(fabs(x - (-3740.0 - 20475) / 807) < 1e-9);

    /* a positive R: temperatures in m=1 b=0 R=2 would be 0.01 degree steps */
    const struct pmbus_direct centi = {1, 0, 2};
    assert_int_equal(pmbus_direct_encode(45.67, &centi, &w), PMBUS_OK);
    assert_int_equal(w, 4567);
    assert_int_equal(pmbus_direct_milli(4567, &centi, &milli), PMBUS_OK);
    assert_int_equal(milli, 45670);
}

static void test_direct_rejects_bad_coefficients_and_range(void **state)
{
    (void)state;
    const struct pmbus_direct zero_m = {0, 0, 0}, big_r = {1, 0, 16}, volts = {4062, 0, -2};
    uint16_t w = 0x4321;
    double x = 3;
    assert_int_equal(pmbus_direct_encode(1, &zero_m, &w), PMBUS_ERR_INVALID);
    assert_int_equal(pmbus_direct_decode(1, &zero_m, &x), PMBUS_ERR_INVALID);
    assert_int_equal(pmbus_direct_decode(1, &big_r, &x), PMBUS_ERR_INVALID);
    assert_int_equal(pmbus_direct_decode(1, NULL, &x), PMBUS_ERR_INVALID);
    assert_int_equal(pmbus_direct_encode(1000, &volts, &w), PMBUS_ERR_RANGE); /* Y = 40620 */
    assert_int_equal(pmbus_direct_encode(-1000, &volts, &w), PMBUS_ERR_RANGE);
    assert_int_equal(pmbus_direct_encode(NAN, &volts, &w), PMBUS_ERR_INVALID);
    assert_true(w == 0x4321 && x == 3);
}

static enum pmbus_health health(uint16_t word, unsigned have, uint8_t vout, uint8_t iout,
                                uint8_t input, uint8_t temp, uint8_t cml, uint8_t fans,
                                char *reason)
{
    struct pmbus_status s = {.word = word,
                             .vout = vout,
                             .iout = iout,
                             .input = input,
                             .temperature = temp,
                             .cml = cml,
                             .fans = fans,
                             .have = have};
    return pmbus_status_health(&s, reason, 128);
}

static void test_status_word_alone(void **state)
{
    (void)state;
    char r[128];
    assert_int_equal(health(0x0000, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_OK);
    assert_string_equal(r, "");
    assert_int_equal(health(0x0820, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "POWER_GOOD# VOUT_OV_FAULT");
    assert_int_equal(health(0x0840, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "POWER_GOOD# OFF");
    assert_int_equal(health(0x0010, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "IOUT_OC_FAULT");
    /* summaries without their registers: something is wrong, not how badly */
    assert_int_equal(health(0x0004, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "TEMPERATURE");
    assert_int_equal(health(0x0401, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "FANS"); /* NONE_OF_THE_ABOVE only points at the high byte */
    assert_int_equal(health(0x0100, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "UNKNOWN");
    /* information only */
    assert_int_equal(health(0x1080, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_OK);
    assert_string_equal(r, "MFR BUSY");
    assert_int_equal(health(0x0001, 0, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_OK);
    assert_string_equal(r, "NONE_OF_THE_ABOVE");
}

static void test_status_sub_registers(void **state)
{
    (void)state;
    char r[128];
    const unsigned all = PMBUS_HAVE_ALL;
    /* the sub-register says which, and the names are not repeated */
    assert_int_equal(health(0x8820, all, 0x80, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "POWER_GOOD# VOUT_OV_FAULT");
    assert_int_equal(health(0x0004, all, 0, 0, 0, 0x40, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "OT_WARN");
    assert_int_equal(health(0x0004, all, 0, 0, 0, 0xC0, 0, 0, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "OT_FAULT OT_WARN");
    assert_int_equal(health(0x0400, all, 0, 0, 0, 0, 0, 0x20, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "FAN1_WARN");
    assert_int_equal(health(0x0400, all, 0, 0, 0, 0, 0, 0x40, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "FAN2_FAULT");
    assert_int_equal(health(0x4000, all, 0, 0x04, 0, 0, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "POWER_LIMITING");
    assert_int_equal(health(0x4000, all, 0, 0x20, 0, 0, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "IOUT_OC_WARN");
    /* input fault while the unit still runs, then with the unit off */
    assert_int_equal(health(0x2008, all, 0, 0, 0x10, 0, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "VIN_UV_FAULT");
    assert_int_equal(health(0x2848, all, 0, 0, 0x38, 0, 0, 0, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "POWER_GOOD# OFF UNIT_OFF_LOW_INPUT VIN_UV_FAULT VIN_UV_WARN");
    /* traffic errors are not the PSU's power */
    assert_int_equal(health(0x0002, all, 0, 0, 0, 0, 0x20, 0, r), PMBUS_HEALTH_OK);
    assert_string_equal(r, "CML_PEC_FAILED");
    assert_int_equal(health(0x0002, all, 0, 0, 0, 0, 0x10, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "CML_MEMORY_FAULT");
    /* a summary bit its read register does not explain still counts */
    assert_int_equal(health(0x8000, all, 0, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "VOUT");
    /* sub-registers count even when the word was not refreshed */
    assert_int_equal(health(0x0000, PMBUS_HAVE_VOUT, 0x10, 0, 0, 0, 0, 0, r), PMBUS_HEALTH_FAILED);
    assert_string_equal(r, "VOUT_UV_FAULT");
    /* ... and registers not marked read are ignored */
    assert_int_equal(health(0x0000, 0, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, r), PMBUS_HEALTH_OK);

    struct pmbus_status other = {.word = 0x0200, .other = 0x20, .have = PMBUS_HAVE_OTHER};
    assert_int_equal(pmbus_status_health(&other, r, sizeof(r)), PMBUS_HEALTH_DEGRADED);
    assert_string_equal(r, "INPUT_A_FUSE_FAULT");
}

static void test_status_reason_truncates_safely(void **state)
{
    (void)state;
    char r[16];
    memset(r, 'x', sizeof(r));
    struct pmbus_status s = {.word = 0xFFFF,
                             .vout = 0xFF,
                             .iout = 0xFF,
                             .input = 0xFF,
                             .temperature = 0xFF,
                             .cml = 0xFF,
                             .fans = 0xFF,
                             .other = 0xFF,
                             .have = PMBUS_HAVE_ALL};
    assert_int_equal(pmbus_status_health(&s, r, sizeof(r)), PMBUS_HEALTH_FAILED);
    assert_true(strlen(r) < sizeof(r));
    assert_int_equal(pmbus_status_health(&s, NULL, 0), PMBUS_HEALTH_FAILED);
    char big[1024];
    pmbus_status_health(&s, big, sizeof(big));
    assert_non_null(strstr(big, "POWER_GOOD# OFF"));
    assert_non_null(strstr(big, "FAN1_FAULT"));
    assert_string_equal(pmbus_health_name(PMBUS_HEALTH_DEGRADED), "degraded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear11_known_words),
        cmocka_unit_test(test_linear11_encode_normalises_like_the_kernel),
        cmocka_unit_test(test_linear11_encode_zero_and_bad_values),
        cmocka_unit_test(test_linear11_round_trip_every_word),
        cmocka_unit_test(test_linear11_round_trip_values),
        cmocka_unit_test(test_linear16_with_vout_mode),
        cmocka_unit_test(test_linear16_rejects_other_modes_and_bad_values),
        cmocka_unit_test(test_direct_with_datasheet_coefficients),
        cmocka_unit_test(test_direct_rejects_bad_coefficients_and_range),
        cmocka_unit_test(test_status_word_alone),
        cmocka_unit_test(test_status_sub_registers),
        cmocka_unit_test(test_status_reason_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
