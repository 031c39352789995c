/*
 * test_readings.c - a PSU's reading (driver.h struct driver_psu_reading) as
 * the Modbus driver makes it from ORv3 registers and the hwmon driver from a
 * PMBus snapshot: every quantity of the history, and -1 where the device does
 * not say (docs/devices.md "Readings").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "driver.h"
#include "hwdev.h"
#include "mbdev.h"
#include "orv3.h"
#include "pmbus.h"

static void put_float(uint16_t *img, int field, double v)
{
    const struct orv3_field *f = &orv3_psu_fields[field];
    assert_int_equal(orv3_encode_float(f, v, img + f->reg), 0);
}

static void put_int(uint16_t *img, int field, int64_t v)
{
    const struct orv3_field *f = &orv3_psu_fields[field];
    assert_int_equal(orv3_encode_int(f, v, img + f->reg), 0);
}

/* An ORv3 PSU at 1.2 kW out with its registers as rackpower-sim serves them. */
static void orv3_image(uint16_t img[ORV3_PSU_NREGS])
{
    memset(img, 0, ORV3_PSU_NREGS * sizeof(*img));
    put_float(img, ORV3_PSU_VIN, 230.5);
    put_float(img, ORV3_PSU_IIN, 5.5);
    put_float(img, ORV3_PSU_VOUT, 50.875);
    put_float(img, ORV3_PSU_IOUT, 23.5);
    put_float(img, ORV3_PSU_PIN, 1240.5);
    put_float(img, ORV3_PSU_POUT, 1200.25);
    put_float(img, ORV3_PSU_TEMP_INLET, 26.5);
    put_float(img, ORV3_PSU_TEMP_OUTLET, 41.25);
    put_int(img, ORV3_PSU_FAN0_RPM, 8000);
    put_int(img, ORV3_PSU_FAN1_RPM, 7001);
}

static void test_orv3_reading_has_every_quantity(void **state)
{
    (void)state;
    uint16_t img[ORV3_PSU_NREGS];
    orv3_image(img);
    struct orv3_psu_telemetry t;
    orv3_psu_decode(img, &t);
    struct driver_psu_reading x;
    mbdev_psu_reading(3, &t, &x);
    assert_int_equal(x.psu, 3);
    assert_int_equal(x.in_mv, 230500);
    assert_int_equal(x.in_ma, 5500);
    assert_int_equal(x.out_mv, 50875);
    assert_int_equal(x.out_ma, 23500);
    assert_int_equal(x.in_mw, 1240500);
    assert_int_equal(x.out_mw, 1200250);
    assert_int_equal(x.inlet_mc, 26500);
    assert_int_equal(x.temp_mc, 41250); /* the outlet: the hot spot */
    assert_int_equal(x.fan_rpm, 7500);  /* the mean of the two fans, rounded down */
    assert_int_equal(x.status_word, 0); /* no alarm */
    assert_false(x.unread);
}

/* Registers 60-64 become STATUS_WORD bits by the table of prediction.md. */
static void test_orv3_alarms_are_the_status_word(void **state)
{
    (void)state;
    uint16_t img[ORV3_PSU_NREGS];
    orv3_image(img);
    img[orv3_psu_fields[ORV3_PSU_ALARM_GENERAL].reg] = ORV3_GEN_FAN | ORV3_GEN_TEMP_WARN;
    struct orv3_psu_telemetry t;
    orv3_psu_decode(img, &t);
    struct driver_psu_reading x;
    mbdev_psu_reading(0, &t, &x);
    assert_int_equal(x.status_word, PMBUS_SW_FANS | PMBUS_SW_TEMPERATURE);

    orv3_image(img);
    img[orv3_psu_fields[ORV3_PSU_ALARM_GENERAL].reg + ORV3_AL_DCDC] = ORV3_DCDC_FAIL;
    img[orv3_psu_fields[ORV3_PSU_ALARM_GENERAL].reg + ORV3_AL_COMM] = 0x0004;
    orv3_psu_decode(img, &t);
    mbdev_psu_reading(0, &t, &x);
    assert_int_equal(x.status_word, PMBUS_SW_VOUT | PMBUS_SW_POWER_GOOD_N | PMBUS_SW_CML);
}

static void test_unknown_reading_says_nothing(void **state)
{
    (void)state;
    struct driver_psu_reading x = driver_psu_unknown(7);
    assert_int_equal(x.psu, 7);
    const int64_t figures[] = {x.out_mw, x.in_mw,   x.out_mv,   x.out_ma, x.in_mv,
                               x.in_ma,  x.temp_mc, x.inlet_mc, x.fan_rpm};
    for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
        assert_int_equal(figures[i], -1);
    assert_int_equal(x.status_word, -1);
    assert_false(x.unread);
}

/* A good hwmon snapshot of a PMBus PSU with three sensors and two fans. */
static void snapshot(struct hwmon_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->valid = true;
    s->vin_mv = 230000;
    s->iin_ma = 4480;
    s->vout_mv = 12100;
    s->iout_ma = 83000;
    s->pin_mw = 1030500;
    s->pout_mw = 1004001;
    s->pout_cap_mw = s->pout_max_mw = HWMON_ABSENT;
    s->ntemps = 3;
    s->temp_mc[0] = 27000; /* temp1: inlet */
    s->temp_mc[1] = 55500; /* the hot spot */
    s->temp_mc[2] = 48000;
    s->nfans = 2;
    s->fan_rpm[0] = 9800;
    s->fan_rpm[1] = 9700;
    s->status_word = PMBUS_SW_TEMPERATURE;
}

static void test_hwmon_reading_has_every_quantity(void **state)
{
    (void)state;
    struct hwmon_snapshot s;
    snapshot(&s);
    struct driver_psu_reading x;
    hwdev_psu_reading(2, &s, &x);
    assert_int_equal(x.psu, 2);
    assert_int_equal(x.in_mv, 230000);
    assert_int_equal(x.in_ma, 4480);
    assert_int_equal(x.out_mv, 12100);
    assert_int_equal(x.out_ma, 83000);
    assert_int_equal(x.in_mw, 1030500);
    assert_int_equal(x.out_mw, 1004001);
    assert_int_equal(x.inlet_mc, 27000);
    assert_int_equal(x.temp_mc, 55500);
    assert_int_equal(x.fan_rpm, 9750);
    assert_int_equal(x.status_word, PMBUS_SW_TEMPERATURE);
}

/* What a device does not have stays -1: no iin, one temperature (not known
 * to be the inlet), no fans, no alarm files. */
static void test_hwmon_reading_without_sensors_says_minus_one(void **state)
{
    (void)state;
    struct hwmon_snapshot s;
    snapshot(&s);
    s.iin_ma = HWMON_ABSENT;
    s.vin_mv = HWMON_ABSENT;
    s.ntemps = 1;
    s.temp_mc[0] = 44000;
    s.nfans = 0;
    s.status_word = -1;
    struct driver_psu_reading x;
    hwdev_psu_reading(0, &s, &x);
    assert_int_equal(x.in_ma, -1);
    assert_int_equal(x.in_mv, -1);
    assert_int_equal(x.temp_mc, 44000);
    assert_int_equal(x.inlet_mc, -1);
    assert_int_equal(x.fan_rpm, -1);
    assert_int_equal(x.status_word, -1);
    assert_int_equal(x.out_mw, 1004001);
}

/* Each status register's bit shows in STATUS_WORD as its summary bit. */
static void test_pmbus_status_word_bits(void **state)
{
    (void)state;
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_TEMPERATURE, PMBUS_TEMP_OT_WARN),
                     PMBUS_SW_TEMPERATURE);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_FANS_1_2, PMBUS_FAN2_FAULT),
                     PMBUS_SW_FANS);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_VOUT, PMBUS_VOUT_UV_WARN), PMBUS_SW_VOUT);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_VOUT, PMBUS_VOUT_OV_FAULT),
                     PMBUS_SW_VOUT | PMBUS_SW_VOUT_OV_FAULT);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_IOUT, PMBUS_IOUT_OC_FAULT),
                     PMBUS_SW_IOUT_POUT | PMBUS_SW_IOUT_OC_FAULT);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_INPUT, PMBUS_INPUT_VIN_UV_FAULT),
                     PMBUS_SW_INPUT | PMBUS_SW_VIN_UV_FAULT);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_INPUT, PMBUS_INPUT_PIN_OP_WARN),
                     PMBUS_SW_INPUT);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_CML, PMBUS_CML_PEC_FAILED), PMBUS_SW_CML);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_OTHER, PMBUS_OTHER_OUTPUT_ORING_FAULT),
                     PMBUS_SW_OTHER);
    assert_int_equal(pmbus_status_word_bits(PMBUS_STATUS_WORD, PMBUS_SW_UNKNOWN), PMBUS_SW_UNKNOWN);
    assert_int_equal(pmbus_status_word_bits(0x12, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orv3_reading_has_every_quantity),
        cmocka_unit_test(test_orv3_alarms_are_the_status_word),
        cmocka_unit_test(test_unknown_reading_says_nothing),
        cmocka_unit_test(test_hwmon_reading_has_every_quantity),
        cmocka_unit_test(test_hwmon_reading_without_sensors_says_minus_one),
        cmocka_unit_test(test_pmbus_status_word_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
