/*
 * pmbus.h - PMBus data formats and status registers (PMBus 1.2/1.3 Part II).
 *
 * Pure: words in, values and verdicts out; no I/O. Three numeric formats:
 *   LINEAR11  X = Y * 2^N, N the top 5 bits, Y the low 11 bits (both two's
 *             complement); most readings and limits.
 *   LINEAR16  X = V * 2^N, V the unsigned word, N from VOUT_MODE bits 4..0;
 *             output voltage only.
 *   DIRECT    X = (Y * 10^-R - b) / m, Y a two's complement word, m, b, R
 *             from the datasheet.
 * Decoders return doubles (physical units: V, A, W, degrees C) and, for the
 * callers that keep integers with units, *_milli variants (mV, mA, mW, m°C),
 * rounded half away from zero. Encoders answer a PMBUS_ERR_* code instead of
 * a wrong word when the value does not fit.
 */
#ifndef PMBUS_H
#define PMBUS_H

#include <stddef.h>
#include <stdint.h>

/* Command codes used by the status decoder and its callers. */
#define PMBUS_VOUT_MODE 0x20
#define PMBUS_STATUS_BYTE 0x78
#define PMBUS_STATUS_WORD 0x79
#define PMBUS_STATUS_VOUT 0x7A
#define PMBUS_STATUS_IOUT 0x7B
#define PMBUS_STATUS_INPUT 0x7C
#define PMBUS_STATUS_TEMPERATURE 0x7D
#define PMBUS_STATUS_CML 0x7E
#define PMBUS_STATUS_OTHER 0x7F
#define PMBUS_STATUS_FANS_1_2 0x81

/* Return codes. 0 is success; every error is negative. */
enum pmbus_result {
    PMBUS_OK = 0,
    PMBUS_ERR_RANGE = -1,   /* value does not fit the format (too large, negative for LINEAR16) */
    PMBUS_ERR_MODE = -2,    /* VOUT_MODE is VID, DIRECT, IEEE half or unknown, not linear */
    PMBUS_ERR_INVALID = -3, /* NaN or infinite value, or bad DIRECT coefficients */
};
/* "value out of range for the format", ... for a PMBUS_ERR_* code. */
const char *pmbus_strerror(int rc);

/* LINEAR11. Largest magnitude: 1023 * 2^15 (-1024 * 2^15 for negatives);
 * finest step 2^-16. */
double pmbus_linear11_decode(uint16_t w);
int64_t pmbus_linear11_milli(uint16_t w); /* exact, in milli-units */
/*
 * Encodes x the way the kernel does: the mantissa's magnitude is normalised
 * into 511..1023 by choosing N (N stays within -16..15, so values below
 * 511 * 2^-16 keep a smaller mantissa). 0 encodes as 0x0000; a value that
 * rounds below the finest step encodes as 0. PMBUS_ERR_RANGE when |x| is too
 * large, PMBUS_ERR_INVALID for NaN/inf; *w is untouched on error.
 */
int pmbus_linear11_encode(double x, uint16_t *w);

/* VOUT_MODE bits 7..5 (the mode) and 4..0 (the LINEAR16 exponent). */
#define PMBUS_VOUT_MODE_LINEAR 0
#define PMBUS_VOUT_MODE_VID 1
#define PMBUS_VOUT_MODE_DIRECT 2
#define PMBUS_VOUT_MODE_IEEE_HALF 3
/* The exponent N of a linear VOUT_MODE; PMBUS_ERR_MODE for any other mode. */
int pmbus_vout_mode_exponent(uint8_t vout_mode, int *exponent);

/* LINEAR16 with the exponent from vout_mode. PMBUS_ERR_MODE when vout_mode
 * is not linear. Encoding: PMBUS_ERR_RANGE for negatives and values above
 * 65535 * 2^N; values are rounded to the nearest step. */
int pmbus_linear16_decode(uint16_t w, uint8_t vout_mode, double *x);
int pmbus_linear16_milli(uint16_t w, uint8_t vout_mode, int64_t *milli);
int pmbus_linear16_encode(double x, uint8_t vout_mode, uint16_t *w);

/* DIRECT coefficients, one set per quantity, from the device's datasheet. */
struct pmbus_direct {
    int32_t m; /* non-zero */
    int32_t b;
    int32_t r; /* -15..15 */
};
/* PMBUS_ERR_INVALID for m == 0 or |r| > 15; encode: PMBUS_ERR_RANGE when Y
 * does not fit 16-bit two's complement. */
int pmbus_direct_decode(uint16_t w, const struct pmbus_direct *c, double *x);
int pmbus_direct_milli(uint16_t w, const struct pmbus_direct *c, int64_t *milli);
int pmbus_direct_encode(double x, const struct pmbus_direct *c, uint16_t *w);

/* STATUS_WORD bits (the low byte is STATUS_BYTE). */
#define PMBUS_SW_VOUT 0x8000u /* summary: see STATUS_VOUT */
#define PMBUS_SW_IOUT_POUT 0x4000u
#define PMBUS_SW_INPUT 0x2000u
#define PMBUS_SW_MFR 0x1000u
#define PMBUS_SW_POWER_GOOD_N 0x0800u /* set = power is NOT good */
#define PMBUS_SW_FANS 0x0400u
#define PMBUS_SW_OTHER 0x0200u
#define PMBUS_SW_UNKNOWN 0x0100u
#define PMBUS_SW_BUSY 0x0080u
#define PMBUS_SW_OFF 0x0040u
#define PMBUS_SW_VOUT_OV_FAULT 0x0020u
#define PMBUS_SW_IOUT_OC_FAULT 0x0010u
#define PMBUS_SW_VIN_UV_FAULT 0x0008u
#define PMBUS_SW_TEMPERATURE 0x0004u
#define PMBUS_SW_CML 0x0002u
#define PMBUS_SW_NONE_OF_ABOVE 0x0001u

/* STATUS_VOUT */
#define PMBUS_VOUT_OV_FAULT 0x80u
#define PMBUS_VOUT_OV_WARN 0x40u
#define PMBUS_VOUT_UV_WARN 0x20u
#define PMBUS_VOUT_UV_FAULT 0x10u
#define PMBUS_VOUT_MAX_MIN_WARN 0x08u
#define PMBUS_VOUT_TON_MAX_FAULT 0x04u
#define PMBUS_VOUT_TOFF_MAX_WARN 0x02u
#define PMBUS_VOUT_TRACKING_ERROR 0x01u
/* STATUS_IOUT */
#define PMBUS_IOUT_OC_FAULT 0x80u
#define PMBUS_IOUT_OC_LV_FAULT 0x40u
#define PMBUS_IOUT_OC_WARN 0x20u
#define PMBUS_IOUT_UC_FAULT 0x10u
#define PMBUS_IOUT_SHARE_FAULT 0x08u
#define PMBUS_IOUT_POWER_LIMITING 0x04u
#define PMBUS_IOUT_POUT_OP_FAULT 0x02u
#define PMBUS_IOUT_POUT_OP_WARN 0x01u
/* STATUS_INPUT */
#define PMBUS_INPUT_VIN_OV_FAULT 0x80u
#define PMBUS_INPUT_VIN_OV_WARN 0x40u
#define PMBUS_INPUT_VIN_UV_WARN 0x20u
#define PMBUS_INPUT_VIN_UV_FAULT 0x10u
#define PMBUS_INPUT_UNIT_OFF 0x08u /* unit off for insufficient input */
#define PMBUS_INPUT_IIN_OC_FAULT 0x04u
#define PMBUS_INPUT_IIN_OC_WARN 0x02u
#define PMBUS_INPUT_PIN_OP_WARN 0x01u
/* STATUS_TEMPERATURE */
#define PMBUS_TEMP_OT_FAULT 0x80u
#define PMBUS_TEMP_OT_WARN 0x40u
#define PMBUS_TEMP_UT_WARN 0x20u
#define PMBUS_TEMP_UT_FAULT 0x10u
/* STATUS_CML */
#define PMBUS_CML_INVALID_COMMAND 0x80u
#define PMBUS_CML_INVALID_DATA 0x40u
#define PMBUS_CML_PEC_FAILED 0x20u
#define PMBUS_CML_MEMORY_FAULT 0x10u
#define PMBUS_CML_PROCESSOR_FAULT 0x08u
#define PMBUS_CML_OTHER_COMM_FAULT 0x02u
#define PMBUS_CML_OTHER_MEM_LOGIC_FAULT 0x01u
/* STATUS_FANS_1_2 */
#define PMBUS_FAN1_FAULT 0x80u
#define PMBUS_FAN2_FAULT 0x40u
#define PMBUS_FAN1_WARN 0x20u
#define PMBUS_FAN2_WARN 0x10u
#define PMBUS_FAN1_OVERRIDE 0x08u
#define PMBUS_FAN2_OVERRIDE 0x04u
#define PMBUS_AIRFLOW_FAULT 0x02u
#define PMBUS_AIRFLOW_WARN 0x01u
/* STATUS_OTHER */
#define PMBUS_OTHER_INPUT_A_FUSE_FAULT 0x20u
#define PMBUS_OTHER_INPUT_B_FUSE_FAULT 0x10u
#define PMBUS_OTHER_INPUT_A_ORING_FAULT 0x08u
#define PMBUS_OTHER_INPUT_B_ORING_FAULT 0x04u
#define PMBUS_OTHER_OUTPUT_ORING_FAULT 0x02u

/* Which sub-registers the caller read (struct pmbus_status.have). */
#define PMBUS_HAVE_VOUT 0x01u
#define PMBUS_HAVE_IOUT 0x02u
#define PMBUS_HAVE_INPUT 0x04u
#define PMBUS_HAVE_TEMPERATURE 0x08u
#define PMBUS_HAVE_CML 0x10u
#define PMBUS_HAVE_FANS 0x20u
#define PMBUS_HAVE_OTHER 0x40u
#define PMBUS_HAVE_ALL 0x7Fu

struct pmbus_status {
    uint16_t word;
    uint8_t vout, iout, input, temperature, cml, fans, other;
    unsigned have; /* PMBUS_HAVE_*: sub-registers that were read; others are ignored */
};

enum pmbus_health {
    PMBUS_HEALTH_OK,       /* nothing set, or information only (BUSY, CML traffic errors, MFR) */
    PMBUS_HEALTH_DEGRADED, /* still delivering: a warning, power limiting, input fault, ... */
    PMBUS_HEALTH_FAILED,   /* not delivering or about to stop: see the rules below */
};

/*
 * Decides the health of a PSU from its status registers:
 *  failed   POWER_GOOD#, OFF, VOUT OV/UV faults, TON_MAX fault, IOUT OC,
 *           OC-LV, UC and POUT OP faults, OT and UT faults, unit off for low
 *           input, fan 1/2 and airflow faults;
 *  degraded every warning (VOUT, IOUT OC, POUT OP, VIN, IIN, PIN, OT/UT,
 *           fans, airflow, VOUT tracking/max-min/TOFF), power limiting,
 *           current share fault, input faults while the unit is still on
 *           (VIN OV/UV, IIN OC), CML memory/processor faults, STATUS_OTHER
 *           fuse and OR-ing faults, UNKNOWN, and any summary bit of
 *           STATUS_WORD whose sub-register was not read or reads 0;
 *  ok       otherwise; BUSY, MFR, NONE_OF_THE_ABOVE and CML traffic errors
 *           (invalid command/data, PEC, other comm) are listed but harmless.
 * Writes the names of the set bits to reason, failures first, then warnings,
 * then information, separated by spaces ("POWER_GOOD# VOUT_OV_FAULT"); an
 * empty string when nothing is set. reason may be NULL; it is truncated to
 * reasonlen.
 */
enum pmbus_health pmbus_status_health(const struct pmbus_status *s, char *reason, size_t reasonlen);
const char *pmbus_health_name(enum pmbus_health h); /* "ok", "degraded", "failed" */

/* The STATUS_WORD bits that a set bit of a status register shows as: the
 * bit itself for STATUS_WORD, else its sub-register's summary bit, and the
 * low byte's fault bits for VOUT OV, IOUT OC and VIN UV faults (as a device
 * sets them). 0 for a register STATUS_WORD does not summarise. */
uint16_t pmbus_status_word_bits(unsigned reg, unsigned bit);

#endif
