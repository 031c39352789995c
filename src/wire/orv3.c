/*
 * orv3.c - ORv3 PSU/BBU register tables, encodings, span planning, health
 * mapping and the fault monitor. See orv3.h for the contracts and
 * docs/modbus.md for the reasons behind the numbers.
 */
#include "orv3.h"

#include <stdio.h>
#include <string.h>

#define S(r, w, n)                                                                                 \
    {                                                                                              \
        .reg = r, .words = w, .format = ORV3_STRING, .group = ORV3_G_IDENTITY, .name = n,          \
        .unit = ""                                                                                 \
    }
#define I(r, g, n, u)                                                                              \
    {                                                                                              \
        .reg = r, .words = 1, .format = ORV3_INT, .group = g, .name = n, .unit = u                 \
    }
#define IS(r, g, n, u)                                                                             \
    {                                                                                              \
        .reg = r, .words = 1, .format = ORV3_INT, .is_signed = true, .group = g, .name = n,        \
        .unit = u                                                                                  \
    }
#define I32(r, g, n, u)                                                                            \
    {                                                                                              \
        .reg = r, .words = 2, .format = ORV3_INT32, .group = g, .name = n, .unit = u               \
    }
#define FL(r, g, n)                                                                                \
    {                                                                                              \
        .reg = r, .words = 1, .format = ORV3_FLAGS, .group = g, .name = n, .unit = ""              \
    }
#define F(r, p, g, n, u)                                                                           \
    {                                                                                              \
        .reg = r, .words = 1, .format = ORV3_FLOAT, .precision = p, .group = g, .name = n,         \
        .unit = u                                                                                  \
    }
#define FS(r, p, g, n, u)                                                                          \
    {                                                                                              \
        .reg = r, .words = 1, .format = ORV3_FLOAT, .precision = p, .is_signed = true, .group = g, \
        .name = n, .unit = u                                                                       \
    }

enum { G_ID = ORV3_G_IDENTITY, G_AL = ORV3_G_ALARM, G_TE = ORV3_G_TELEMETRY };
enum { G_ST = ORV3_G_STATS, G_CF = ORV3_G_CONFIG };

const struct orv3_field orv3_psu_fields[ORV3_PSU_NFIELDS] = {
    [ORV3_PSU_PART_NUMBER] = S(0, 8, "part_number"),
    [ORV3_PSU_MODEL] = S(8, 8, "model"),
    [ORV3_PSU_MFG_DATE] = S(16, 8, "mfg_date"),
    [ORV3_PSU_SERIAL] = S(24, 16, "serial"),
    [ORV3_PSU_HW_REV] = S(44, 4, "hw_rev"),
    [ORV3_PSU_FW_REV] = S(48, 4, "fw_rev"),
    [ORV3_PSU_UPTIME] = I32(52, G_ST, "uptime", ""),
    [ORV3_PSU_AC_CYCLES] = I(56, G_ST, "ac_cycles", ""),
    [ORV3_PSU_AC_OUTAGES] = I(57, G_ST, "ac_outages", ""),
    [ORV3_PSU_ALARM_GENERAL] = FL(60, G_AL, "alarm_general"),
    [ORV3_PSU_ALARM_PFC] = FL(61, G_AL, "alarm_pfc"),
    [ORV3_PSU_ALARM_DCDC] = FL(62, G_AL, "alarm_dcdc"),
    [ORV3_PSU_ALARM_TEMP] = FL(63, G_AL, "alarm_temp"),
    [ORV3_PSU_ALARM_COMM] = FL(64, G_AL, "alarm_comm"),
    [ORV3_PSU_FAN0_RPM] = I(67, G_TE, "fan0", "rpm"),
    [ORV3_PSU_FAN1_RPM] = I(68, G_TE, "fan1", "rpm"),
    [ORV3_PSU_TEMP_INLET] = FS(69, 7, G_TE, "temp_inlet", "C"),
    [ORV3_PSU_TEMP_OUTLET] = FS(70, 7, G_TE, "temp_outlet", "C"),
    [ORV3_PSU_TEMP_MAX] = FS(71, 7, G_TE, "temp_max", "C"),
    [ORV3_PSU_TEMP_MIN] = FS(72, 7, G_TE, "temp_min", "C"),
    [ORV3_PSU_CRC_ERRORS] = I32(75, G_ST, "crc_errors", ""),
    [ORV3_PSU_TIMEOUT_ERRORS] = I32(77, G_ST, "timeout_errors", ""),
    [ORV3_PSU_VOUT] = F(79, 10, G_TE, "vout", "V"),
    [ORV3_PSU_IOUT] = F(80, 6, G_TE, "iout", "A"),
    [ORV3_PSU_ISHARE] = F(81, 6, G_TE, "ishare", "A"),
    [ORV3_PSU_POUT] = F(82, 3, G_TE, "pout", "W"),
    [ORV3_PSU_VBULK] = F(83, 6, G_TE, "vbulk", "V"),
    [ORV3_PSU_FIN] = F(84, 0, G_TE, "fin", "Hz"),
    [ORV3_PSU_THD] = F(85, 9, G_TE, "thd", ""),
    [ORV3_PSU_PF] = F(86, 9, G_TE, "pf", ""),
    [ORV3_PSU_PIN] = F(87, 3, G_TE, "pin", "W"),
    [ORV3_PSU_VIN] = F(88, 6, G_TE, "vin", "V"),
    [ORV3_PSU_IIN] = F(89, 10, G_TE, "iin", "A"),
    [ORV3_PSU_FAULT_COUNT] = I(90, G_ST, "fault_count", ""),
    [ORV3_PSU_SETTING] = FL(94, G_CF, "setting"),
    [ORV3_PSU_BAUD] = I(95, G_CF, "baud", ""),
    [ORV3_PSU_FAN_DUTY] = I(96, G_CF, "fan_duty", "%"),
    [ORV3_PSU_LED] = FL(97, G_CF, "led"),
    [ORV3_PSU_UNIX_TIME] = I32(98, G_CF, "unix_time", "s"),
    [ORV3_PSU_VIN_MIN] = F(101, 6, G_CF, "vin_min", "V"),
    [ORV3_PSU_VIN_MAX] = F(102, 6, G_CF, "vin_max", "V"),
    [ORV3_PSU_VSET_HIGH] = F(103, 10, G_CF, "vset_high", "V"),
    [ORV3_PSU_VSET_LOW] = F(104, 10, G_CF, "vset_low", "V"),
};

const struct orv3_field orv3_psu_ext_fields[ORV3_PSU_NEXT_FIELDS] = {
    [ORV3_PSU_VOUT_TIMER] = I(105, G_CF, "vout_change_timer", ""),
    [ORV3_PSU_FBL_REV] = S(106, 4, "bootloader_fw_rev"),
};

#define CELL(k) [ORV3_BBU_CELL1 + (k)-1] = I(108 + (k), G_TE, "cell" #k, "mV")
#define BTEMP(k) [ORV3_BBU_TEMP1 + (k)-1] = IS(121 + (k), G_TE, "temp" #k, "C")

const struct orv3_field orv3_bbu_fields[ORV3_BBU_NFIELDS] = {
    [ORV3_BBU_MANUFACTURER] = S(0, 8, "manufacturer"),
    [ORV3_BBU_MODEL] = S(8, 8, "model"),
    [ORV3_BBU_MFG_DATE] = S(16, 8, "mfg_date"),
    [ORV3_BBU_PART_NUMBER] = S(24, 8, "part_number"),
    [ORV3_BBU_FW_REV] = S(56, 4, "fw_rev"),
    [ORV3_BBU_SERIAL] = S(64, 16, "serial"),
    [ORV3_BBU_STATUS] = FL(104, G_AL, "status"),
    [ORV3_BBU_PERM_FAILURES] = FL(105, G_AL, "perm_failures"),
    [ORV3_BBU_MODE] = FL(107, G_AL, "mode"),
    [ORV3_BBU_BATTERY_STATUS] = FL(108, G_AL, "battery_status"),
    CELL(1),
    CELL(2),
    CELL(3),
    CELL(4),
    CELL(5),
    CELL(6),
    CELL(7),
    CELL(8),
    CELL(9),
    CELL(10),
    CELL(11),
    BTEMP(1),
    BTEMP(2),
    BTEMP(3),
    BTEMP(4),
    [ORV3_BBU_RSOC] = I(126, G_TE, "rsoc", "%"),
    [ORV3_BBU_ASOC] = I(127, G_TE, "asoc", "%"),
    [ORV3_BBU_VOLTAGE] = I(128, G_TE, "voltage", "mV"),
    [ORV3_BBU_CURRENT] = IS(129, G_TE, "current", "mA"),
    [ORV3_BBU_AVG_CURRENT] = IS(130, G_TE, "avg_current", "mA"),
    [ORV3_BBU_REMAINING_CAP] = I(131, G_TE, "remaining_capacity", "mAh"),
    [ORV3_BBU_FULL_CAP] = I(132, G_TE, "full_charge_capacity", "mAh"),
    [ORV3_BBU_RUN_TIME_TO_EMPTY] = I(133, G_TE, "run_time_to_empty", "min"),
    [ORV3_BBU_AVG_TIME_TO_EMPTY] = I(134, G_TE, "avg_time_to_empty", "min"),
    [ORV3_BBU_CYCLE_COUNT] = I(135, G_ST, "cycle_count", ""),
    [ORV3_BBU_DESIGN_CAP] = I(136, G_ST, "design_capacity", "mAh"),
    [ORV3_BBU_SOH] = I(142, G_ST, "state_of_health", "%"),
    [ORV3_BBU_CHARGE_CURRENT] = I(144, G_TE, "charging_current", "mA"),
    [ORV3_BBU_CHARGE_VOLTAGE] = I(145, G_TE, "charging_voltage", "mV"),
    [ORV3_BBU_DISCHARGE_CURRENT] = I(146, G_TE, "discharge_current", "mA"),
    [ORV3_BBU_BUS_VOLTAGE] = I(147, G_TE, "bus_voltage", "mV"),
    [ORV3_BBU_TEMP_INLET] = IS(148, G_TE, "temp_inlet", "C"),
    [ORV3_BBU_TEMP_OUTLET] = IS(149, G_TE, "temp_outlet", "C"),
    [ORV3_BBU_FAN_RPM] = I(152, G_TE, "fan", "rpm"),
    [ORV3_BBU_EOL_STATUS] = FL(158, G_AL, "eol_status"),
    [ORV3_BBU_MAX_DISCHARGE_TIME] = I(289, G_ST, "max_discharge_time", "s"),
    [ORV3_BBU_WALL_CLOCK] = I32(302, G_CF, "wall_clock", "s"),
    [ORV3_BBU_SHELF_POWER] = I(310, G_TE, "shelf_output_power", "W"),
    [ORV3_BBU_PSU_AC_OK] = I(311, G_TE, "psu_ac_ok", ""),
    [ORV3_BBU_CLEAR_FAULT] = FL(313, G_CF, "clear_fault"),
};

const struct orv3_table orv3_psu_table = {"psu", orv3_psu_fields, ORV3_PSU_NFIELDS, ORV3_PSU_NREGS};
const struct orv3_table orv3_bbu_table = {"bbu", orv3_bbu_fields, ORV3_BBU_NFIELDS, ORV3_BBU_NREGS};

const uint8_t orv3_psu_units[ORV3_NPSU_UNITS] = {200, 201, 202, 203, 204, 205, 232, 233,
                                                 234, 235, 236, 237, 240, 241, 242};
const uint8_t orv3_bbu_units[ORV3_NBBU_UNITS] = {64, 65, 66, 67, 68, 69,  80, 81,
                                                 82, 96, 97, 98, 99, 100, 101};

const struct orv3_field *orv3_find(const struct orv3_table *t, int reg)
{
    for (int i = 0; i < t->nfields; i++)
        if (t->fields[i].reg == reg)
            return &t->fields[i];
    return NULL;
}

const char *orv3_group_name(enum orv3_group g)
{
    static const char *const names[ORV3_NGROUPS] = {"identity", "alarm", "telemetry", "stats",
                                                    "config"};
    return (unsigned)g < ORV3_NGROUPS ? names[g] : "?";
}

/* ---- read planning ------------------------------------------------------ */

int orv3_plan_spans(const struct orv3_table *t, uint32_t groups, const struct orv3_span_policy *p,
                    struct orv3_span *out, int cap)
{
    if (p->max_words < 1 || p->max_words > 125 || p->max_hole_words < 0 ||
        p->max_hole_words > p->max_words)
        return -1;
    int n = 0;
    struct orv3_span cur = {0};
    bool open = false;
    for (int i = 0; i < t->nfields; i++) {
        const struct orv3_field *f = &t->fields[i];
        if (!(groups & ORV3_GROUP_BIT(f->group)))
            continue;
        if (f->words > p->max_words)
            return -1;
        if (open) {
            int end = cur.start + cur.words;
            int hole = f->reg - end;
            if (hole <= p->max_hole_words && f->reg + f->words - cur.start <= p->max_words) {
                cur.words = (uint16_t)(f->reg + f->words - cur.start);
                cur.groups |= ORV3_GROUP_BIT(f->group);
                continue;
            }
            if (n >= cap)
                return -1;
            out[n++] = cur;
        }
        cur = (struct orv3_span){f->reg, f->words, ORV3_GROUP_BIT(f->group)};
        open = true;
    }
    if (open) {
        if (n >= cap)
            return -1;
        out[n++] = cur;
    }
    return n;
}

const uint16_t *orv3_field_in_span(const struct orv3_span *s, const uint16_t *span_words,
                                   const struct orv3_field *f)
{
    if (f->reg < s->start || f->reg + f->words > s->start + s->words)
        return NULL;
    return span_words + (f->reg - s->start);
}

/* ---- value encodings ---------------------------------------------------- */

int64_t orv3_decode_int(const struct orv3_field *f, const uint16_t *words)
{
    if (f->format == ORV3_STRING)
        return 0;
    if (f->words == 2) {
        uint32_t v = (uint32_t)words[0] << 16 | words[1];
        return f->is_signed ? (int64_t)(int32_t)v : (int64_t)v;
    }
    return f->is_signed ? (int64_t)(int16_t)words[0] : (int64_t)words[0];
}

double orv3_decode_float(const struct orv3_field *f, const uint16_t *words)
{
    double v = (double)orv3_decode_int(f, words);
    if (f->format == ORV3_FLOAT)
        v /= (double)(1u << f->precision);
    return v;
}

int64_t orv3_decode_milli(const struct orv3_field *f, const uint16_t *words)
{
    int64_t num = orv3_decode_int(f, words) * 1000;
    if (f->format != ORV3_FLOAT || f->precision == 0)
        return num;
    int64_t den = (int64_t)1 << f->precision;
    return num >= 0 ? (num + den / 2) / den : (num - den / 2) / den;
}

size_t orv3_decode_string(const struct orv3_field *f, const uint16_t *words, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    char tmp[2 * 128 + 1];
    size_t n = 0;
    if (f->format == ORV3_STRING) {
        for (int i = 0; i < f->words && i < 128; i++) {
            tmp[n++] = (char)(words[i] >> 8);
            tmp[n++] = (char)(words[i] & 0xff);
        }
    }
    tmp[n] = '\0';
    n = strlen(tmp);
    size_t a = 0;
    while (a < n && (tmp[a] == ' ' || tmp[a] == '\t'))
        a++;
    while (n > a && (tmp[n - 1] == ' ' || tmp[n - 1] == '\t'))
        n--;
    size_t len = 0;
    for (size_t i = a; i < n && len + 1 < cap; i++) {
        unsigned char c = (unsigned char)tmp[i];
        buf[len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    buf[len] = '\0';
    return len;
}

/* Writes raw (already in range or saturated) as f->words words. */
static void put_raw(const struct orv3_field *f, int64_t raw, uint16_t *words)
{
    if (f->words == 2) {
        uint32_t v = (uint32_t)raw;
        words[0] = (uint16_t)(v >> 16);
        words[1] = (uint16_t)(v & 0xffff);
    } else {
        words[0] = (uint16_t)((uint32_t)raw & 0xffff);
    }
}

/* Saturates raw into the field's range; returns -1 when it had to. */
static int put_checked(const struct orv3_field *f, int64_t raw, uint16_t *words)
{
    int64_t lo, hi;
    if (f->words == 2) {
        lo = f->is_signed ? INT32_MIN : 0;
        hi = f->is_signed ? INT32_MAX : (int64_t)UINT32_MAX;
    } else {
        lo = f->is_signed ? INT16_MIN : 0;
        hi = f->is_signed ? INT16_MAX : UINT16_MAX;
    }
    int rc = 0;
    if (raw < lo) {
        raw = lo;
        rc = -1;
    } else if (raw > hi) {
        raw = hi;
        rc = -1;
    }
    put_raw(f, raw, words);
    return rc;
}

int orv3_encode_int(const struct orv3_field *f, int64_t value, uint16_t *words)
{
    if (f->format == ORV3_STRING)
        return -1;
    return put_checked(f, value, words);
}

int orv3_encode_float(const struct orv3_field *f, double value, uint16_t *words)
{
    if (f->format == ORV3_STRING)
        return -1;
    double scaled = value * (double)(1u << (f->format == ORV3_FLOAT ? f->precision : 0));
    if (scaled != scaled) { /* NaN */
        put_raw(f, 0, words);
        return -1;
    }
    if (scaled > 4e9)
        return put_checked(f, INT64_C(1) << 40, words);
    if (scaled < -4e9)
        return put_checked(f, -(INT64_C(1) << 40), words);
    int64_t raw = (int64_t)(scaled >= 0 ? scaled + 0.5 : scaled - 0.5);
    return put_checked(f, raw, words);
}

int orv3_encode_milli(const struct orv3_field *f, int64_t milli, uint16_t *words)
{
    if (f->format == ORV3_STRING)
        return -1;
    /* Beyond +-2^40 nothing fits a field; clamp first so the shift cannot overflow. */
    const int64_t lim = INT64_C(1) << 40;
    if (milli > lim)
        milli = lim;
    if (milli < -lim)
        milli = -lim;
    int p = f->format == ORV3_FLOAT ? f->precision : 0;
    int64_t num = milli * ((int64_t)1 << p);
    int64_t raw = num >= 0 ? (num + 500) / 1000 : (num - 500) / 1000;
    return put_checked(f, raw, words);
}

int orv3_encode_string(const struct orv3_field *f, const char *s, uint16_t *words)
{
    if (f->format != ORV3_STRING)
        return -1;
    size_t len = strlen(s), cap = (size_t)f->words * 2;
    for (int i = 0; i < f->words; i++) {
        size_t k = (size_t)i * 2;
        unsigned char hi = k < len ? (unsigned char)s[k] : ' ';
        unsigned char lo = k + 1 < len ? (unsigned char)s[k + 1] : ' ';
        words[i] = (uint16_t)(hi << 8 | lo);
    }
    return len > cap ? -1 : 0;
}

/* ---- decoded readings --------------------------------------------------- */

static int32_t milli(const struct orv3_field *fields, int i, const uint16_t *image)
{
    return (int32_t)orv3_decode_milli(&fields[i], image + fields[i].reg);
}

static int64_t ival(const struct orv3_field *fields, int i, const uint16_t *image)
{
    return orv3_decode_int(&fields[i], image + fields[i].reg);
}

static void str(const struct orv3_field *fields, int i, const uint16_t *image, char *buf,
                size_t cap)
{
    orv3_decode_string(&fields[i], image + fields[i].reg, buf, cap);
}

void orv3_psu_decode(const uint16_t *image, struct orv3_psu_telemetry *t)
{
    const struct orv3_field *f = orv3_psu_fields;
    memset(t, 0, sizeof(*t));
    str(f, ORV3_PSU_PART_NUMBER, image, t->part_number, sizeof(t->part_number));
    str(f, ORV3_PSU_MODEL, image, t->model, sizeof(t->model));
    str(f, ORV3_PSU_MFG_DATE, image, t->mfg_date, sizeof(t->mfg_date));
    str(f, ORV3_PSU_SERIAL, image, t->serial, sizeof(t->serial));
    str(f, ORV3_PSU_HW_REV, image, t->hw_rev, sizeof(t->hw_rev));
    str(f, ORV3_PSU_FW_REV, image, t->fw_rev, sizeof(t->fw_rev));
    t->uptime = (uint32_t)ival(f, ORV3_PSU_UPTIME, image);
    t->ac_cycles = (uint16_t)ival(f, ORV3_PSU_AC_CYCLES, image);
    t->ac_outages = (uint16_t)ival(f, ORV3_PSU_AC_OUTAGES, image);
    for (int i = 0; i < ORV3_PSU_NALARMS; i++)
        t->alarm[i] = image[ORV3_PSU_ALARM_REG + i];
    t->fan_rpm[0] = (uint16_t)ival(f, ORV3_PSU_FAN0_RPM, image);
    t->fan_rpm[1] = (uint16_t)ival(f, ORV3_PSU_FAN1_RPM, image);
    t->inlet_mc = milli(f, ORV3_PSU_TEMP_INLET, image);
    t->outlet_mc = milli(f, ORV3_PSU_TEMP_OUTLET, image);
    t->max_mc = milli(f, ORV3_PSU_TEMP_MAX, image);
    t->min_mc = milli(f, ORV3_PSU_TEMP_MIN, image);
    t->crc_errors = (uint32_t)ival(f, ORV3_PSU_CRC_ERRORS, image);
    t->timeout_errors = (uint32_t)ival(f, ORV3_PSU_TIMEOUT_ERRORS, image);
    t->vout_mv = milli(f, ORV3_PSU_VOUT, image);
    t->iout_ma = milli(f, ORV3_PSU_IOUT, image);
    t->ishare_ma = milli(f, ORV3_PSU_ISHARE, image);
    t->pout_mw = milli(f, ORV3_PSU_POUT, image);
    t->vbulk_mv = milli(f, ORV3_PSU_VBULK, image);
    t->fin_millihz = milli(f, ORV3_PSU_FIN, image);
    t->thd_permille = milli(f, ORV3_PSU_THD, image);
    t->pf_permille = milli(f, ORV3_PSU_PF, image);
    t->pin_mw = milli(f, ORV3_PSU_PIN, image);
    t->vin_mv = milli(f, ORV3_PSU_VIN, image);
    t->iin_ma = milli(f, ORV3_PSU_IIN, image);
    t->fault_count = (uint16_t)ival(f, ORV3_PSU_FAULT_COUNT, image);
    t->setting = (uint16_t)ival(f, ORV3_PSU_SETTING, image);
    t->baud = (uint16_t)ival(f, ORV3_PSU_BAUD, image);
    t->fan_duty = (uint16_t)ival(f, ORV3_PSU_FAN_DUTY, image);
    t->led = (uint16_t)ival(f, ORV3_PSU_LED, image);
    t->unix_time = (uint32_t)ival(f, ORV3_PSU_UNIX_TIME, image);
    t->vin_min_mv = milli(f, ORV3_PSU_VIN_MIN, image);
    t->vin_max_mv = milli(f, ORV3_PSU_VIN_MAX, image);
    t->vset_high_mv = milli(f, ORV3_PSU_VSET_HIGH, image);
    t->vset_low_mv = milli(f, ORV3_PSU_VSET_LOW, image);
}

void orv3_bbu_decode(const uint16_t *image, struct orv3_bbu_telemetry *t)
{
    const struct orv3_field *f = orv3_bbu_fields;
    memset(t, 0, sizeof(*t));
    str(f, ORV3_BBU_MANUFACTURER, image, t->manufacturer, sizeof(t->manufacturer));
    str(f, ORV3_BBU_MODEL, image, t->model, sizeof(t->model));
    str(f, ORV3_BBU_MFG_DATE, image, t->mfg_date, sizeof(t->mfg_date));
    str(f, ORV3_BBU_PART_NUMBER, image, t->part_number, sizeof(t->part_number));
    str(f, ORV3_BBU_FW_REV, image, t->fw_rev, sizeof(t->fw_rev));
    str(f, ORV3_BBU_SERIAL, image, t->serial, sizeof(t->serial));
    t->status = image[104];
    t->perm_failures = image[105];
    t->mode = image[107];
    t->battery_status = image[108];
    for (int i = 0; i < 11; i++)
        t->cell_mv[i] = (uint16_t)ival(f, ORV3_BBU_CELL1 + i, image);
    for (int i = 0; i < 4; i++)
        t->temp_c[i] = (int16_t)ival(f, ORV3_BBU_TEMP1 + i, image);
    t->rsoc_pct = (uint16_t)ival(f, ORV3_BBU_RSOC, image);
    t->asoc_pct = (uint16_t)ival(f, ORV3_BBU_ASOC, image);
    t->voltage_mv = (int32_t)ival(f, ORV3_BBU_VOLTAGE, image);
    t->current_ma = (int32_t)ival(f, ORV3_BBU_CURRENT, image);
    t->avg_current_ma = (int32_t)ival(f, ORV3_BBU_AVG_CURRENT, image);
    t->remaining_mah = (uint16_t)ival(f, ORV3_BBU_REMAINING_CAP, image);
    t->full_mah = (uint16_t)ival(f, ORV3_BBU_FULL_CAP, image);
    t->run_time_to_empty_min = (uint16_t)ival(f, ORV3_BBU_RUN_TIME_TO_EMPTY, image);
    t->avg_time_to_empty_min = (uint16_t)ival(f, ORV3_BBU_AVG_TIME_TO_EMPTY, image);
    t->cycle_count = (uint16_t)ival(f, ORV3_BBU_CYCLE_COUNT, image);
    t->design_mah = (uint16_t)ival(f, ORV3_BBU_DESIGN_CAP, image);
    t->soh_pct = (uint16_t)ival(f, ORV3_BBU_SOH, image);
    t->charge_current_ma = (uint16_t)ival(f, ORV3_BBU_CHARGE_CURRENT, image);
    t->charge_voltage_mv = (uint16_t)ival(f, ORV3_BBU_CHARGE_VOLTAGE, image);
    t->discharge_current_ma = (uint16_t)ival(f, ORV3_BBU_DISCHARGE_CURRENT, image);
    t->bus_mv = (uint16_t)ival(f, ORV3_BBU_BUS_VOLTAGE, image);
    t->inlet_c = (int16_t)ival(f, ORV3_BBU_TEMP_INLET, image);
    t->outlet_c = (int16_t)ival(f, ORV3_BBU_TEMP_OUTLET, image);
    t->fan_rpm = (uint16_t)ival(f, ORV3_BBU_FAN_RPM, image);
    t->eol_status = (uint16_t)ival(f, ORV3_BBU_EOL_STATUS, image);
    t->max_discharge_s = (uint16_t)ival(f, ORV3_BBU_MAX_DISCHARGE_TIME, image);
    t->wall_clock = (uint32_t)ival(f, ORV3_BBU_WALL_CLOCK, image);
    t->shelf_power_w = (uint16_t)ival(f, ORV3_BBU_SHELF_POWER, image);
    t->psu_ac_ok = (uint16_t)ival(f, ORV3_BBU_PSU_AC_OK, image);
    t->clear_fault = (uint16_t)ival(f, ORV3_BBU_CLEAR_FAULT, image);
}

void orv3_bbu_state(const struct orv3_bbu_telemetry *t, struct orv3_bbu_state *s)
{
    memset(s, 0, sizeof(*s));
    s->discharging = (t->mode & ORV3_MODE_DISCHARGE) || (t->battery_status & ORV3_BATT_DISCHARGING);
    s->charging = !s->discharging && (t->mode & ORV3_MODE_CHARGING);
    s->full = t->battery_status & ORV3_BATT_FULL;
    s->empty = t->battery_status & ORV3_BATT_EMPTY;
    s->fault = t->status & ORV3_BBU_CANNOT_DISCHARGE;
    s->charge_pct = t->rsoc_pct <= 100 ? t->rsoc_pct : -1;
    s->runtime_s = t->run_time_to_empty_min == ORV3_BBU_NO_RUNTIME
                       ? -1
                       : (int64_t)t->run_time_to_empty_min * 60;
    if (!s->discharging)
        s->watts = 0;
    else if (t->shelf_power_w > 0)
        s->watts = t->shelf_power_w;
    else if (t->current_ma < 0 && t->voltage_mv > 0) /* mV x mA = uW */
        s->watts = ((int64_t)t->voltage_mv * -(int64_t)t->current_ma + 500000) / 1000000;
    else
        s->watts = -1;
}

/* ---- health ------------------------------------------------------------- */

static const struct {
    const char *name;
    enum orv3_health level;
} causes[ORV3_NCAUSES] = {
    [ORV3_C_DCDC_FAIL] = {"dcdc_fail", ORV3_FAILED},
    [ORV3_C_PFC_FAIL] = {"pfc_fail", ORV3_FAILED},
    [ORV3_C_ORING_FAIL] = {"oring_fail", ORV3_FAILED},
    [ORV3_C_MCU_FAIL] = {"mcu_fail", ORV3_FAILED},
    [ORV3_C_SHORT] = {"short_circuit", ORV3_FAILED},
    [ORV3_C_OUT_OCP] = {"output_ocp", ORV3_FAILED},
    [ORV3_C_OUT_OVP] = {"output_ovp", ORV3_FAILED},
    [ORV3_C_OUT_UVP] = {"output_uvp", ORV3_FAILED},
    [ORV3_C_INPUT_LOST] = {"input_lost", ORV3_FAILED},
    [ORV3_C_FAN] = {"fan", ORV3_DEGRADED},
    [ORV3_C_TEMP] = {"temperature", ORV3_DEGRADED},
    [ORV3_C_SHARE] = {"current_share", ORV3_DEGRADED},
    [ORV3_C_TEMP_RISING] = {"temperature_rising", ORV3_AT_RISK},
    [ORV3_C_BULK] = {"bulk_cap", ORV3_AT_RISK},
    [ORV3_C_FREQ] = {"input_frequency", ORV3_AT_RISK},
    [ORV3_C_INPUT] = {"input", ORV3_AT_RISK},
    [ORV3_C_PFC_WARN] = {"pfc_warning", ORV3_AT_RISK},
    [ORV3_C_DCDC_WARN] = {"dcdc_warning", ORV3_AT_RISK},
    [ORV3_C_COMM] = {"comm", ORV3_OK},
    [ORV3_C_BBU_PERM] = {"bbu_permanent_failure", ORV3_FAILED},
    [ORV3_C_BBU_PROTECT] = {"bbu_protection", ORV3_FAILED},
    [ORV3_C_BBU_HW] = {"bbu_hardware", ORV3_FAILED},
    [ORV3_C_BBU_NO_CHARGE] = {"bbu_no_charge", ORV3_DEGRADED},
    [ORV3_C_BBU_FAN] = {"bbu_fan", ORV3_DEGRADED},
    [ORV3_C_BBU_EOL] = {"bbu_end_of_life", ORV3_AT_RISK},
    [ORV3_C_BBU_ALARM] = {"bbu_alarm", ORV3_AT_RISK},
};

enum orv3_health orv3_cause_level(enum orv3_cause c)
{
    return (unsigned)c < ORV3_NCAUSES ? causes[c].level : ORV3_OK;
}

const char *orv3_cause_name(enum orv3_cause c)
{
    return (unsigned)c < ORV3_NCAUSES ? causes[c].name : "?";
}

const char *orv3_health_name(enum orv3_health h)
{
    static const char *const names[] = {"ok", "at_risk", "degraded", "failed"};
    return (unsigned)h < 4 ? names[h] : "?";
}

int64_t orv3_psu_derated_mw(const struct orv3_psu_telemetry *t, uint32_t set, int64_t rated_mw,
                            int fallback_pct, int *permille_of_share)
{
    int64_t mw = rated_mw * fallback_pct / 100;
    if (permille_of_share)
        *permille_of_share = -1;
    if (t && (set & ORV3_CAUSE_BIT(ORV3_C_SHARE)) && t->ishare_ma >= ORV3_SHARE_MIN_MA &&
        t->iout_ma >= 0 && t->iout_ma < t->ishare_ma) {
        /* whole watts, rounded down: a reading's noise claims nothing */
        int64_t share_mw = rated_mw * t->iout_ma / t->ishare_ma / 1000 * 1000;
        if (share_mw < mw) {
            mw = share_mw;
            if (permille_of_share)
                *permille_of_share = (int)((int64_t)t->iout_ma * 1000 / t->ishare_ma);
        }
    }
    if (mw > rated_mw)
        mw = rated_mw;
    return mw < 1000 ? (rated_mw < 1000 ? rated_mw : 1000) : mw;
}

int orv3_causes_format(uint32_t set, char *buf, size_t len)
{
    int total = 0;
    if (len > 0)
        buf[0] = '\0';
    for (int c = 0; c < ORV3_NCAUSES; c++) {
        if (!(set & ORV3_CAUSE_BIT(c)))
            continue;
        size_t used = (size_t)total < len ? (size_t)total : len;
        int n = snprintf(buf + used, len - used, "%s%s", total ? "," : "", causes[c].name);
        if (n < 0)
            return n;
        total += n;
    }
    if (total == 0)
        total = snprintf(buf, len, "none");
    return total;
}

static struct orv3_assessment finish(uint32_t set)
{
    struct orv3_assessment a = {ORV3_OK, false, set};
    for (int c = 0; c < ORV3_NCAUSES; c++) {
        if (!(set & ORV3_CAUSE_BIT(c)))
            continue;
        if (causes[c].level > a.level)
            a.level = causes[c].level;
        if (causes[c].level == ORV3_AT_RISK)
            a.at_risk = true;
    }
    return a;
}

/* Whether the temperature alarm bits of the PSU are set (60.10, 60.2, 63.5..0). */
static bool psu_temp_alarm(const uint16_t *al)
{
    return (al[ORV3_AL_GENERAL] & (ORV3_GEN_TEMP | ORV3_GEN_TEMP_WARN)) ||
           (al[ORV3_AL_TEMP] & ORV3_TEMP_SENSORS);
}

struct orv3_assessment orv3_psu_assess(const struct orv3_psu_telemetry *t, bool temp_rising)
{
    const uint16_t gen = t->alarm[ORV3_AL_GENERAL], pfc = t->alarm[ORV3_AL_PFC],
                   dcdc = t->alarm[ORV3_AL_DCDC], temp = t->alarm[ORV3_AL_TEMP],
                   comm = t->alarm[ORV3_AL_COMM];
    uint32_t set = 0;
    if ((gen & ORV3_GEN_DCDC_FAIL) || (dcdc & ORV3_DCDC_FAIL))
        set |= ORV3_CAUSE_BIT(ORV3_C_DCDC_FAIL);
    if ((gen & ORV3_GEN_PFC_FAIL) || (pfc & ORV3_PFC_FAIL))
        set |= ORV3_CAUSE_BIT(ORV3_C_PFC_FAIL);
    if (dcdc & ORV3_DCDC_ORING_FAIL)
        set |= ORV3_CAUSE_BIT(ORV3_C_ORING_FAIL);
    if (dcdc & ORV3_DCDC_MCU_FAIL)
        set |= ORV3_CAUSE_BIT(ORV3_C_MCU_FAIL);
    if (dcdc & ORV3_DCDC_SHORT)
        set |= ORV3_CAUSE_BIT(ORV3_C_SHORT);
    if (dcdc & ORV3_DCDC_OCP)
        set |= ORV3_CAUSE_BIT(ORV3_C_OUT_OCP);
    if (dcdc & ORV3_DCDC_OVP)
        set |= ORV3_CAUSE_BIT(ORV3_C_OUT_OVP);
    if (dcdc & ORV3_DCDC_UVP)
        set |= ORV3_CAUSE_BIT(ORV3_C_OUT_UVP);
    /* Input trouble (AC not ok, input relay off, AC over/under voltage): the
     * PSU rides it out on its bulk capacitor for the hold-up time; once the
     * output has collapsed it has failed for the rack. */
    if (pfc & (ORV3_PFC_AC_NOK | ORV3_PFC_RELAY_OFF | ORV3_PFC_AC_OVP | ORV3_PFC_AC_UVP))
        set |= ORV3_CAUSE_BIT(t->vout_mv < ORV3_VOUT_GONE_MV ? ORV3_C_INPUT_LOST : ORV3_C_INPUT);
    if ((gen & ORV3_GEN_FAN) || (temp & ORV3_TEMP_FAN_FAIL))
        set |= ORV3_CAUSE_BIT(ORV3_C_FAN);
    if (psu_temp_alarm(t->alarm)) {
        set |= ORV3_CAUSE_BIT(ORV3_C_TEMP);
        if (temp_rising)
            set |= ORV3_CAUSE_BIT(ORV3_C_TEMP_RISING);
    }
    if (t->ishare_ma >= ORV3_SHARE_MIN_MA) {
        int64_t dev = (int64_t)t->iout_ma - t->ishare_ma;
        if (dev < 0)
            dev = -dev;
        if (dev * 100 > (int64_t)t->ishare_ma * ORV3_SHARE_TOLERANCE_PCT)
            set |= ORV3_CAUSE_BIT(ORV3_C_SHARE);
    }
    if (pfc & ORV3_PFC_BULK_NOK)
        set |= ORV3_CAUSE_BIT(ORV3_C_BULK);
    if (pfc & (ORV3_PFC_FREQ_HIGH | ORV3_PFC_FREQ_LOW))
        set |= ORV3_CAUSE_BIT(ORV3_C_FREQ);
    if (gen & ORV3_GEN_PFC)
        set |= ORV3_CAUSE_BIT(ORV3_C_PFC_WARN);
    if (gen & ORV3_GEN_DCDC)
        set |= ORV3_CAUSE_BIT(ORV3_C_DCDC_WARN);
    if ((gen & ORV3_GEN_COMM) || comm)
        set |= ORV3_CAUSE_BIT(ORV3_C_COMM);
    return finish(set);
}

struct orv3_assessment orv3_bbu_assess(const struct orv3_bbu_telemetry *t)
{
    const uint32_t protect = ORV3_BBU_NO_DISCHARGE | ORV3_BBU_TEMP_FAIL | ORV3_BBU_PACK_OC |
                             ORV3_BBU_CELL_UV | ORV3_BBU_PACK_UV | ORV3_BBU_CELL_OV |
                             ORV3_BBU_PACK_OV;
    const uint32_t hw = ORV3_BBU_MICRO | ORV3_BBU_AFE | ORV3_BBU_FUSE;
    uint16_t st = t->status;
    uint32_t set = 0;
    if (t->perm_failures)
        set |= ORV3_CAUSE_BIT(ORV3_C_BBU_PERM);
    if (st & protect)
        set |= ORV3_CAUSE_BIT(ORV3_C_BBU_PROTECT);
    if (st & hw)
        set |= ORV3_CAUSE_BIT(ORV3_C_BBU_HW);
    if (st & (ORV3_BBU_NO_CHARGE | ORV3_BBU_CHARGE_FET))
        set |= ORV3_CAUSE_BIT(ORV3_C_BBU_NO_CHARGE);
    if (st & ORV3_BBU_FAN_FAIL)
        set |= ORV3_CAUSE_BIT(ORV3_C_BBU_FAN);
    if (st & ORV3_BBU_EOL)
        set |= ORV3_CAUSE_BIT(ORV3_C_BBU_EOL);
    if (t->battery_status & ORV3_BATT_ALARMS)
        set |= ORV3_CAUSE_BIT(ORV3_C_BBU_ALARM);
    return finish(set);
}

/* ---- monitor ------------------------------------------------------------ */

void orv3_monitor_config_default(struct orv3_monitor_config *c)
{
    c->debounce_reads = 3;
    c->comm_loss_reads = 3;
    c->temp_rise_mc = 1000;
}

void orv3_monitor_init(struct orv3_monitor *m, enum orv3_device device,
                       const struct orv3_monitor_config *cfg)
{
    memset(m, 0, sizeof(*m));
    if (cfg)
        m->cfg = *cfg;
    else
        orv3_monitor_config_default(&m->cfg);
    if (m->cfg.debounce_reads < 1)
        m->cfg.debounce_reads = 1;
    if (m->cfg.comm_loss_reads < 1)
        m->cfg.comm_loss_reads = 1;
    m->device = device;
}

static bool same(const struct orv3_assessment *a, const struct orv3_assessment *b)
{
    return a->level == b->level && a->at_risk == b->at_risk;
}

static void fill(const struct orv3_monitor *m, enum orv3_event_kind k, int64_t now_ns,
                 int64_t since_ns, const uint16_t *alarm, int nalarm, struct orv3_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = k;
    ev->device = m->device;
    ev->t_ns = now_ns;
    ev->since_ns = since_ns;
    ev->a = m->stable;
    ev->nalarm = nalarm;
    for (int i = 0; i < nalarm; i++)
        ev->alarm[i] = alarm[i];
}

/* One good read with its assessment: comm back, then the debounce. */
/* at_once: the read proves its health beyond doubt (a failure the output
 * voltage confirms): believed without waiting for more reads. */
static int feed(struct orv3_monitor *m, int64_t now_ns, const struct orv3_assessment *a,
                const uint16_t *alarm, int nalarm, bool at_once, struct orv3_event *out)
{
    int n = 0;
    m->failed_reads = 0;
    if (m->comm_lost) {
        m->comm_lost = false;
        fill(m, ORV3_EV_COMM_BACK, now_ns, m->comm_lost_ns, alarm, nalarm, &out[n++]);
    }
    if (same(a, &m->cand)) {
        if (m->cand_reads < m->cfg.debounce_reads)
            m->cand_reads++;
    } else {
        m->cand = *a;
        m->cand_reads = 1;
    }
    if (at_once)
        m->cand_reads = m->cfg.debounce_reads;
    m->cand.causes = a->causes;
    if (m->cand_reads < m->cfg.debounce_reads || same(&m->cand, &m->stable)) {
        if (same(&m->cand, &m->stable))
            m->stable.causes = a->causes;
        return n;
    }
    bool was_ok = m->stable.level == ORV3_OK && !m->stable.at_risk;
    bool now_ok = m->cand.level == ORV3_OK && !m->cand.at_risk;
    m->stable = m->cand;
    if (was_ok && now_ok)
        return n; /* only the recorded-only causes changed */
    enum orv3_event_kind k = was_ok ? ORV3_EV_RAISE : now_ok ? ORV3_EV_CLEAR : ORV3_EV_CHANGE;
    if (was_ok)
        m->episode_ns = now_ns;
    fill(m, k, now_ns, m->episode_ns, alarm, nalarm, &out[n++]);
    return n;
}

int orv3_monitor_feed_psu(struct orv3_monitor *m, int64_t now_ns,
                          const struct orv3_psu_telemetry *t, struct orv3_event *out)
{
    /* Rising: the hotter of inlet and outlet has climbed temp_rise_mc since
     * the temperature alarm began. Reg 71/72 may be lifetime extremes, so
     * they are not used. */
    int32_t temp = t->inlet_mc > t->outlet_mc ? t->inlet_mc : t->outlet_mc;
    bool alarm = psu_temp_alarm(t->alarm);
    if (alarm && !m->temp_alarm)
        m->temp_ref_mc = temp;
    else if (alarm && temp < m->temp_ref_mc)
        m->temp_ref_mc = temp; /* measure the climb from the coolest point of the alarm */
    m->temp_alarm = alarm;
    bool rising = alarm && (int64_t)temp - m->temp_ref_mc >= m->cfg.temp_rise_mc;
    struct orv3_assessment a = orv3_psu_assess(t, rising);
    /* A failure whose output is gone is no flicker of a flag: the servers
     * are on their hold-up time, the policy must hear it now. */
    bool gone = a.level == ORV3_FAILED && t->vout_mv < ORV3_VOUT_GONE_MV;
    return feed(m, now_ns, &a, t->alarm, ORV3_PSU_NALARMS, gone, out);
}

int orv3_monitor_feed_bbu(struct orv3_monitor *m, int64_t now_ns,
                          const struct orv3_bbu_telemetry *t, struct orv3_event *out)
{
    struct orv3_assessment a = orv3_bbu_assess(t);
    uint16_t alarm[3] = {t->status, t->perm_failures, t->battery_status};
    return feed(m, now_ns, &a, alarm, 3, false, out);
}

int orv3_monitor_feed_fail(struct orv3_monitor *m, int64_t now_ns, struct orv3_event *out)
{
    if (m->failed_reads == 0)
        m->comm_lost_ns = now_ns;
    if (m->failed_reads < m->cfg.comm_loss_reads)
        m->failed_reads++;
    if (m->comm_lost || m->failed_reads < m->cfg.comm_loss_reads)
        return 0;
    m->comm_lost = true;
    fill(m, ORV3_EV_COMM_LOST, now_ns, m->comm_lost_ns, NULL, 0, out);
    return 1;
}

bool orv3_monitor_pending(const struct orv3_monitor *m)
{
    return !same(&m->cand, &m->stable) && m->cand_reads > 0;
}

const char *orv3_event_name(enum orv3_event_kind k)
{
    static const char *const names[] = {"raise", "change", "clear", "comm_lost", "comm_back"};
    return (unsigned)k < 5 ? names[k] : "?";
}
