/*
 * fuzz_pmbus.c - libFuzzer target for PMBus decoding (src/wire/pmbus.c):
 * words and status bytes as a PSU answers them, any values. The input is
 * taken 16 bytes at a time: a reading word, a VOUT_MODE byte, DIRECT
 * coefficients (m, b, R) and a set of status registers with the sub-registers
 * said to be read, plus the size of the reason buffer. Checked beyond "no
 * crash": the milli-unit decoders agree with the float decoders, a value
 * that decodes encodes again, and the status reason fits its buffer.
 * Run: make fuzz (tests/fuzz/pmbus holds the seeds).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pmbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECORD 16

static uint16_t word_at(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8); /* SMBus words are little-endian */
}

/* milli agrees with x * 1000 to within a unit (both round; x is exact or nearly) */
static void agree(int64_t milli, double x)
{
    if (isfinite(x) && fabs(x) < 1e12 && llabs(milli - (int64_t)llround(x * 1000.0)) > 1)
        __builtin_trap();
}

static void one(const uint8_t *p)
{
    uint16_t w = word_at(p);
    uint8_t vout_mode = p[2];

    double x = pmbus_linear11_decode(w);
    agree(pmbus_linear11_milli(w), x);
    uint16_t back;
    if (pmbus_linear11_encode(x, &back) != PMBUS_OK)
        __builtin_trap(); /* every LINEAR11 value is in LINEAR11's range */

    int64_t milli;
    if (pmbus_linear16_decode(w, vout_mode, &x) == PMBUS_OK) {
        if (pmbus_linear16_milli(w, vout_mode, &milli) != PMBUS_OK)
            __builtin_trap();
        agree(milli, x);
        if (pmbus_linear16_encode(x, vout_mode, &back) != PMBUS_OK || back != w)
            __builtin_trap(); /* LINEAR16 is exact: the same word comes back */
    }

    struct pmbus_direct c = {
        .m = (int16_t)word_at(p + 3), .b = (int16_t)word_at(p + 5), .r = (int8_t)p[7]};
    if (pmbus_direct_decode(w, &c, &x) == PMBUS_OK) {
        int rc = pmbus_direct_milli(w, &c, &milli); /* absurd coefficients: out of range */
        if (rc == PMBUS_OK)
            agree(milli, x);
        else if (rc != PMBUS_ERR_RANGE || fabs(x) < 9e15)
            __builtin_trap();
        (void)pmbus_direct_encode(x, &c, &back);
    }

    struct pmbus_status s = {.word = word_at(p + 8),
                             .vout = p[10],
                             .iout = p[11],
                             .input = p[12],
                             .temperature = p[13],
                             .cml = p[14],
                             .fans = p[15],
                             .other = p[15] ^ p[14],
                             .have = p[2] & PMBUS_HAVE_ALL};
    size_t len = p[7] % 96; /* 0 .. 95 bytes, on the heap */
    char *reason = len ? malloc(len) : NULL;
    enum pmbus_health h = pmbus_status_health(&s, reason, len);
    if (h != PMBUS_HEALTH_OK && h != PMBUS_HEALTH_DEGRADED && h != PMBUS_HEALTH_FAILED)
        __builtin_trap();
    if (reason && strlen(reason) >= len)
        __builtin_trap();
    free(reason);
    (void)pmbus_health_name(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t off = 0; off + RECORD <= size; off += RECORD)
        one(data + off);
    return 0;
}
