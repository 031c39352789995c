/*
 * pmbus.c - PMBus data formats and the health verdict of status registers.
 */
#include "pmbus.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *pmbus_strerror(int rc)
{
    switch (rc) {
    case PMBUS_OK:
        return "ok";
    case PMBUS_ERR_RANGE:
        return "value out of range for the format";
    case PMBUS_ERR_MODE:
        return "VOUT_MODE is not linear (VID, DIRECT or IEEE half)";
    case PMBUS_ERR_INVALID:
        return "invalid value or coefficients";
    }
    return "unknown PMBus error";
}

/* Sign-extends the low `bits` bits of v. */
static int32_t sign_extend(uint32_t v, int bits)
{
    uint32_t m = 1u << (bits - 1);
    v &= (1u << bits) - 1;
    return (int32_t)(v ^ m) - (int32_t)m;
}

/* num / 2^shift (shift > 0), rounded half away from zero. */
static int64_t div_pow2_round(int64_t num, int shift)
{
    int64_t den = (int64_t)1 << shift;
    if (num >= 0)
        return (num + den / 2) / den;
    return -((-num + den / 2) / den);
}

/* v * 1000 * 2^n exactly, rounded half away from zero when n < 0.
 * |v| <= 65535 and |n| <= 16 keep this far inside int64. */
static int64_t milli_pow2(int64_t v, int n)
{
    if (n >= 0)
        return v * 1000 * ((int64_t)1 << n);
    return div_pow2_round(v * 1000, -n);
}

double pmbus_linear11_decode(uint16_t w)
{
    return ldexp(sign_extend(w & 0x7FFu, 11), sign_extend(w >> 11, 5));
}

int64_t pmbus_linear11_milli(uint16_t w)
{
    return milli_pow2(sign_extend(w & 0x7FFu, 11), sign_extend(w >> 11, 5));
}

int pmbus_linear11_encode(double x, uint16_t *w)
{
    if (!isfinite(x))
        return PMBUS_ERR_INVALID;
    if (x == 0) {
        *w = 0;
        return PMBUS_OK;
    }
    bool neg = x < 0;
    double m = fabs(x);
    int n = 0;
    /* Normalise into 511..1023: shrink large mantissas, grow small ones
     * for precision, within the 5-bit exponent's range. Growing stops where
     * doubling would round past 1023, so m ends in [511.75, 1023.5). */
    while (m >= 1023.5 && n < 15) {
        m /= 2;
        n++;
    }
    while (m < 511.75 && n > -16) {
        m *= 2;
        n--;
    }
    double y = round(m);
    /* -1024 fits 11-bit two's complement, +1024 does not. */
    if (y > (neg ? 1024 : 1023))
        return PMBUS_ERR_RANGE;
    if (y == 0) {
        *w = 0;
        return PMBUS_OK;
    }
    int32_t yi = neg ? -(int32_t)y : (int32_t)y;
    *w = (uint16_t)((((uint32_t)n & 0x1Fu) << 11) | ((uint32_t)yi & 0x7FFu));
    return PMBUS_OK;
}

int pmbus_vout_mode_exponent(uint8_t vout_mode, int *exponent)
{
    if ((vout_mode >> 5) != PMBUS_VOUT_MODE_LINEAR)
        return PMBUS_ERR_MODE;
    *exponent = sign_extend(vout_mode & 0x1Fu, 5);
    return PMBUS_OK;
}

int pmbus_linear16_decode(uint16_t w, uint8_t vout_mode, double *x)
{
    int n;
    int rc = pmbus_vout_mode_exponent(vout_mode, &n);
    if (rc != PMBUS_OK)
        return rc;
    *x = ldexp(w, n);
    return PMBUS_OK;
}

int pmbus_linear16_milli(uint16_t w, uint8_t vout_mode, int64_t *milli)
{
    int n;
    int rc = pmbus_vout_mode_exponent(vout_mode, &n);
    if (rc != PMBUS_OK)
        return rc;
    *milli = milli_pow2(w, n);
    return PMBUS_OK;
}

int pmbus_linear16_encode(double x, uint8_t vout_mode, uint16_t *w)
{
    int n;
    int rc = pmbus_vout_mode_exponent(vout_mode, &n);
    if (rc != PMBUS_OK)
        return rc;
    if (!isfinite(x))
        return PMBUS_ERR_INVALID;
    double v = round(ldexp(x, -n));
    if (v < 0 || v > 65535)
        return PMBUS_ERR_RANGE;
    *w = (uint16_t)v;
    return PMBUS_OK;
}

static bool direct_ok(const struct pmbus_direct *c)
{
    return c && c->m != 0 && c->r >= -15 && c->r <= 15;
}

int pmbus_direct_decode(uint16_t w, const struct pmbus_direct *c, double *x)
{
    if (!direct_ok(c))
        return PMBUS_ERR_INVALID;
    double y = sign_extend(w, 16);
    *x = (y * pow(10, -c->r) - c->b) / c->m;
    return PMBUS_OK;
}

int pmbus_direct_milli(uint16_t w, const struct pmbus_direct *c, int64_t *milli)
{
    double x;
    int rc = pmbus_direct_decode(w, c, &x);
    if (rc != PMBUS_OK)
        return rc;
    /* |Y| <= 32768, |R| <= 15, |b| < 2^31: |x| < 1e20 may exceed int64 in
     * milli-units only for absurd coefficients. */
    double mx = round(x * 1000);
    if (!(mx > -9.2e18 && mx < 9.2e18))
        return PMBUS_ERR_RANGE;
    *milli = (int64_t)mx;
    return PMBUS_OK;
}

int pmbus_direct_encode(double x, const struct pmbus_direct *c, uint16_t *w)
{
    if (!direct_ok(c) || !isfinite(x))
        return PMBUS_ERR_INVALID;
    double y = round(((double)c->m * x + c->b) * pow(10, c->r));
    if (!(y >= -32768 && y <= 32767))
        return PMBUS_ERR_RANGE;
    *w = (uint16_t)(int16_t)y;
    return PMBUS_OK;
}

/* ---- status ---- */

enum sev { SEV_INFO, SEV_WARN, SEV_FAIL };

struct bitdef {
    unsigned mask;
    const char *name;
    enum sev sev;
};

static const struct bitdef vout_bits[] = {
    {PMBUS_VOUT_OV_FAULT, "VOUT_OV_FAULT", SEV_FAIL},
    {PMBUS_VOUT_OV_WARN, "VOUT_OV_WARN", SEV_WARN},
    {PMBUS_VOUT_UV_WARN, "VOUT_UV_WARN", SEV_WARN},
    {PMBUS_VOUT_UV_FAULT, "VOUT_UV_FAULT", SEV_FAIL},
    {PMBUS_VOUT_MAX_MIN_WARN, "VOUT_MAX_MIN_WARN", SEV_WARN},
    {PMBUS_VOUT_TON_MAX_FAULT, "TON_MAX_FAULT", SEV_FAIL},
    {PMBUS_VOUT_TOFF_MAX_WARN, "TOFF_MAX_WARN", SEV_WARN},
    {PMBUS_VOUT_TRACKING_ERROR, "VOUT_TRACKING_ERROR", SEV_WARN},
    {0, NULL, SEV_INFO},
};

static const struct bitdef iout_bits[] = {
    {PMBUS_IOUT_OC_FAULT, "IOUT_OC_FAULT", SEV_FAIL},
    {PMBUS_IOUT_OC_LV_FAULT, "IOUT_OC_LV_FAULT", SEV_FAIL},
    {PMBUS_IOUT_OC_WARN, "IOUT_OC_WARN", SEV_WARN},
    {PMBUS_IOUT_UC_FAULT, "IOUT_UC_FAULT", SEV_FAIL},
    {PMBUS_IOUT_SHARE_FAULT, "CURRENT_SHARE_FAULT", SEV_WARN},
    {PMBUS_IOUT_POWER_LIMITING, "POWER_LIMITING", SEV_WARN},
    {PMBUS_IOUT_POUT_OP_FAULT, "POUT_OP_FAULT", SEV_FAIL},
    {PMBUS_IOUT_POUT_OP_WARN, "POUT_OP_WARN", SEV_WARN},
    {0, NULL, SEV_INFO},
};

/* Input faults alone degrade: the unit says it turned off through bit 3,
 * OFF or POWER_GOOD#, which fail it. */
static const struct bitdef input_bits[] = {
    {PMBUS_INPUT_VIN_OV_FAULT, "VIN_OV_FAULT", SEV_WARN},
    {PMBUS_INPUT_VIN_OV_WARN, "VIN_OV_WARN", SEV_WARN},
    {PMBUS_INPUT_VIN_UV_WARN, "VIN_UV_WARN", SEV_WARN},
    {PMBUS_INPUT_VIN_UV_FAULT, "VIN_UV_FAULT", SEV_WARN},
    {PMBUS_INPUT_UNIT_OFF, "UNIT_OFF_LOW_INPUT", SEV_FAIL},
    {PMBUS_INPUT_IIN_OC_FAULT, "IIN_OC_FAULT", SEV_WARN},
    {PMBUS_INPUT_IIN_OC_WARN, "IIN_OC_WARN", SEV_WARN},
    {PMBUS_INPUT_PIN_OP_WARN, "PIN_OP_WARN", SEV_WARN},
    {0, NULL, SEV_INFO},
};

static const struct bitdef temp_bits[] = {
    {PMBUS_TEMP_OT_FAULT, "OT_FAULT", SEV_FAIL},
    {PMBUS_TEMP_OT_WARN, "OT_WARN", SEV_WARN},
    {PMBUS_TEMP_UT_WARN, "UT_WARN", SEV_WARN},
    {PMBUS_TEMP_UT_FAULT, "UT_FAULT", SEV_FAIL},
    {0, NULL, SEV_INFO},
};

/* Traffic errors are the host's problem, not the PSU's power. */
static const struct bitdef cml_bits[] = {
    {PMBUS_CML_INVALID_COMMAND, "CML_INVALID_COMMAND", SEV_INFO},
    {PMBUS_CML_INVALID_DATA, "CML_INVALID_DATA", SEV_INFO},
    {PMBUS_CML_PEC_FAILED, "CML_PEC_FAILED", SEV_INFO},
    {PMBUS_CML_MEMORY_FAULT, "CML_MEMORY_FAULT", SEV_WARN},
    {PMBUS_CML_PROCESSOR_FAULT, "CML_PROCESSOR_FAULT", SEV_WARN},
    {PMBUS_CML_OTHER_COMM_FAULT, "CML_OTHER_COMM_FAULT", SEV_INFO},
    {PMBUS_CML_OTHER_MEM_LOGIC_FAULT, "CML_OTHER_MEM_LOGIC_FAULT", SEV_WARN},
    {0, NULL, SEV_INFO},
};

static const struct bitdef fan_bits[] = {
    {PMBUS_FAN1_FAULT, "FAN1_FAULT", SEV_FAIL},
    {PMBUS_FAN2_FAULT, "FAN2_FAULT", SEV_FAIL},
    {PMBUS_FAN1_WARN, "FAN1_WARN", SEV_WARN},
    {PMBUS_FAN2_WARN, "FAN2_WARN", SEV_WARN},
    {PMBUS_FAN1_OVERRIDE, "FAN1_OVERRIDE", SEV_INFO},
    {PMBUS_FAN2_OVERRIDE, "FAN2_OVERRIDE", SEV_INFO},
    {PMBUS_AIRFLOW_FAULT, "AIRFLOW_FAULT", SEV_FAIL},
    {PMBUS_AIRFLOW_WARN, "AIRFLOW_WARN", SEV_WARN},
    {0, NULL, SEV_INFO},
};

static const struct bitdef other_bits[] = {
    {PMBUS_OTHER_INPUT_A_FUSE_FAULT, "INPUT_A_FUSE_FAULT", SEV_WARN},
    {PMBUS_OTHER_INPUT_B_FUSE_FAULT, "INPUT_B_FUSE_FAULT", SEV_WARN},
    {PMBUS_OTHER_INPUT_A_ORING_FAULT, "INPUT_A_ORING_FAULT", SEV_WARN},
    {PMBUS_OTHER_INPUT_B_ORING_FAULT, "INPUT_B_ORING_FAULT", SEV_WARN},
    {PMBUS_OTHER_OUTPUT_ORING_FAULT, "OUTPUT_ORING_FAULT", SEV_WARN},
    {0, NULL, SEV_INFO},
};

/* STATUS_WORD bits that stand on their own (not summaries of a sub-register). */
static const struct bitdef word_bits[] = {
    {PMBUS_SW_MFR, "MFR", SEV_INFO},
    {PMBUS_SW_POWER_GOOD_N, "POWER_GOOD#", SEV_FAIL},
    {PMBUS_SW_UNKNOWN, "UNKNOWN", SEV_WARN},
    {PMBUS_SW_BUSY, "BUSY", SEV_INFO},
    {PMBUS_SW_OFF, "OFF", SEV_FAIL},
    {PMBUS_SW_VOUT_OV_FAULT, "VOUT_OV_FAULT", SEV_FAIL},
    {PMBUS_SW_IOUT_OC_FAULT, "IOUT_OC_FAULT", SEV_FAIL},
    {PMBUS_SW_VIN_UV_FAULT, "VIN_UV_FAULT", SEV_WARN},
    {0, NULL, SEV_INFO},
};

/* A summary bit of STATUS_WORD and the sub-register that explains it. */
struct summary {
    unsigned word_mask;
    const char *name;
    unsigned have;
    const struct bitdef *bits;
    enum sev sev; /* when the sub-register is unread or 0 */
};

static const struct summary summaries[] = {
    {PMBUS_SW_VOUT, "VOUT", PMBUS_HAVE_VOUT, vout_bits, SEV_WARN},
    {PMBUS_SW_IOUT_POUT, "IOUT_POUT", PMBUS_HAVE_IOUT, iout_bits, SEV_WARN},
    {PMBUS_SW_INPUT, "INPUT", PMBUS_HAVE_INPUT, input_bits, SEV_WARN},
    {PMBUS_SW_TEMPERATURE, "TEMPERATURE", PMBUS_HAVE_TEMPERATURE, temp_bits, SEV_WARN},
    {PMBUS_SW_CML, "CML", PMBUS_HAVE_CML, cml_bits, SEV_INFO},
    {PMBUS_SW_FANS, "FANS", PMBUS_HAVE_FANS, fan_bits, SEV_WARN},
    {PMBUS_SW_OTHER, "OTHER", PMBUS_HAVE_OTHER, other_bits, SEV_WARN},
};
#define NSUMMARIES (sizeof(summaries) / sizeof(summaries[0]))

/* At most 16 word bits + 7 registers * 8 bits. */
#define MAX_ITEMS 80

struct items {
    const char *name[MAX_ITEMS];
    enum sev sev[MAX_ITEMS];
    int n;
};

static void add_item(struct items *it, const char *name, enum sev sev)
{
    for (int i = 0; i < it->n; i++)
        if (strcmp(it->name[i], name) == 0) {
            if (sev > it->sev[i])
                it->sev[i] = sev;
            return;
        }
    if (it->n < MAX_ITEMS) {
        it->name[it->n] = name;
        it->sev[it->n] = sev;
        it->n++;
    }
}

static void add_bits(struct items *it, const struct bitdef *defs, unsigned value)
{
    for (const struct bitdef *d = defs; d->name; d++)
        if (value & d->mask)
            add_item(it, d->name, d->sev);
}

static uint8_t sub_value(const struct pmbus_status *s, unsigned have)
{
    switch (have) {
    case PMBUS_HAVE_VOUT:
        return s->vout;
    case PMBUS_HAVE_IOUT:
        return s->iout;
    case PMBUS_HAVE_INPUT:
        return s->input;
    case PMBUS_HAVE_TEMPERATURE:
        return s->temperature;
    case PMBUS_HAVE_CML:
        return s->cml;
    case PMBUS_HAVE_FANS:
        return s->fans;
    case PMBUS_HAVE_OTHER:
        return s->other;
    }
    return 0;
}

enum pmbus_health pmbus_status_health(const struct pmbus_status *s, char *reason, size_t reasonlen)
{
    struct items it = {.n = 0};

    add_bits(&it, word_bits, s->word);
    for (size_t i = 0; i < NSUMMARIES; i++) {
        const struct summary *sm = &summaries[i];
        if (s->have & sm->have)
            add_bits(&it, sm->bits, sub_value(s, sm->have));
    }
    /* A summary bit the sub-registers do not explain still counts. */
    for (size_t i = 0; i < NSUMMARIES; i++) {
        const struct summary *sm = &summaries[i];
        bool explained = (s->have & sm->have) && sub_value(s, sm->have) != 0;
        if ((s->word & sm->word_mask) && !explained)
            add_item(&it, sm->name, sm->sev);
    }
    /* NONE_OF_THE_ABOVE only says "look at the high byte"; alone it is news. */
    if ((s->word & PMBUS_SW_NONE_OF_ABOVE) && (s->word & 0xFF00u) == 0)
        add_item(&it, "NONE_OF_THE_ABOVE", SEV_INFO);

    enum sev worst = SEV_INFO;
    for (int i = 0; i < it.n; i++)
        if (it.sev[i] > worst)
            worst = it.sev[i];

    if (reason && reasonlen > 0) {
        size_t len = 0;
        reason[0] = '\0';
        for (int sev = SEV_FAIL; sev >= SEV_INFO; sev--)
            for (int i = 0; i < it.n; i++) {
                if ((int)it.sev[i] != sev || len >= reasonlen)
                    continue;
                int k = snprintf(reason + len, reasonlen - len, "%s%s", len ? " " : "", it.name[i]);
                len = k < 0 ? reasonlen : len + (size_t)k;
            }
    }
    if (it.n == 0 || worst == SEV_INFO)
        return PMBUS_HEALTH_OK;
    return worst == SEV_FAIL ? PMBUS_HEALTH_FAILED : PMBUS_HEALTH_DEGRADED;
}

const char *pmbus_health_name(enum pmbus_health h)
{
    switch (h) {
    case PMBUS_HEALTH_OK:
        return "ok";
    case PMBUS_HEALTH_DEGRADED:
        return "degraded";
    case PMBUS_HEALTH_FAILED:
        return "failed";
    }
    return "unknown";
}

uint16_t pmbus_status_word_bits(unsigned reg, unsigned bit)
{
    switch (reg) {
    case PMBUS_STATUS_WORD:
        return (uint16_t)(bit & 0xffffu);
    case PMBUS_STATUS_VOUT:
        return PMBUS_SW_VOUT | (bit & PMBUS_VOUT_OV_FAULT ? PMBUS_SW_VOUT_OV_FAULT : 0);
    case PMBUS_STATUS_IOUT:
        return PMBUS_SW_IOUT_POUT | (bit & PMBUS_IOUT_OC_FAULT ? PMBUS_SW_IOUT_OC_FAULT : 0);
    case PMBUS_STATUS_INPUT:
        return PMBUS_SW_INPUT | (bit & PMBUS_INPUT_VIN_UV_FAULT ? PMBUS_SW_VIN_UV_FAULT : 0);
    case PMBUS_STATUS_TEMPERATURE:
        return PMBUS_SW_TEMPERATURE;
    case PMBUS_STATUS_CML:
        return PMBUS_SW_CML;
    case PMBUS_STATUS_FANS_1_2:
        return PMBUS_SW_FANS;
    case PMBUS_STATUS_OTHER:
        return PMBUS_SW_OTHER;
    }
    return 0;
}
