/*
 * orv3.h - the Open Rack V3 PSU and BBU Modbus register layouts as data, the
 * value encodings, read planning, the alarm-to-health mapping and a fault
 * monitor. Pure: no I/O, no clock (time comes in as now_ns), no allocation.
 *
 * The layout is shared/reference/orv3-modbus.md; the mapping and the rules
 * are docs/modbus.md. The driver (src/drivers/mbdrv.c) reads with these
 * tables; the simulator fills its registers with the encode functions.
 *
 * Registers are held in a "register image": an array of uint16_t indexed by
 * register address (ORV3_PSU_NREGS / ORV3_BBU_NREGS words). A field's words
 * are image + field->reg.
 */
#ifndef ORV3_H
#define ORV3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum orv3_format {
    ORV3_STRING, /* two ASCII characters per word, high byte first */
    ORV3_INT,    /* one word, unsigned unless is_signed */
    ORV3_INT32,  /* two words, most significant word first */
    ORV3_FLOAT,  /* one word: value = raw / 2^precision */
    ORV3_FLAGS,  /* one word of bits, bit 0 the least significant */
};

/* How often a field is worth reading; poll plans give each group an interval. */
enum orv3_group {
    ORV3_G_IDENTITY,  /* strings: read once, and again when a device comes back */
    ORV3_G_ALARM,     /* alarm and status flags */
    ORV3_G_TELEMETRY, /* voltages, currents, powers, temperatures */
    ORV3_G_STATS,     /* counters that move slowly */
    ORV3_G_CONFIG,    /* settings */
    ORV3_NGROUPS,
};
#define ORV3_GROUP_BIT(g) (1u << (g))
#define ORV3_ALL_GROUPS ((1u << ORV3_NGROUPS) - 1)

struct orv3_field {
    uint16_t reg;
    uint8_t words;
    uint8_t format;    /* enum orv3_format */
    uint8_t precision; /* FLOAT only, 0..15 */
    bool is_signed;    /* INT, INT32, FLOAT: two's complement */
    uint8_t group;     /* enum orv3_group */
    const char *name;
    const char *unit; /* "V", "A", "W", "C", "Hz", "rpm", "%", "mV", ... or "" */
};

/* Fields sorted by register, not overlapping. */
struct orv3_table {
    const char *name; /* "psu", "bbu" */
    const struct orv3_field *fields;
    int nfields;
    int nregs; /* image size: one past the last register of the last field */
};

enum orv3_psu_field {
    ORV3_PSU_PART_NUMBER,
    ORV3_PSU_MODEL,
    ORV3_PSU_MFG_DATE,
    ORV3_PSU_SERIAL,
    ORV3_PSU_HW_REV,
    ORV3_PSU_FW_REV,
    ORV3_PSU_UPTIME,
    ORV3_PSU_AC_CYCLES,
    ORV3_PSU_AC_OUTAGES,
    ORV3_PSU_ALARM_GENERAL, /* reg 60 */
    ORV3_PSU_ALARM_PFC,     /* reg 61 */
    ORV3_PSU_ALARM_DCDC,    /* reg 62 */
    ORV3_PSU_ALARM_TEMP,    /* reg 63 */
    ORV3_PSU_ALARM_COMM,    /* reg 64 */
    ORV3_PSU_FAN0_RPM,
    ORV3_PSU_FAN1_RPM,
    ORV3_PSU_TEMP_INLET,
    ORV3_PSU_TEMP_OUTLET,
    ORV3_PSU_TEMP_MAX,
    ORV3_PSU_TEMP_MIN,
    ORV3_PSU_CRC_ERRORS,
    ORV3_PSU_TIMEOUT_ERRORS,
    ORV3_PSU_VOUT,
    ORV3_PSU_IOUT,
    ORV3_PSU_ISHARE,
    ORV3_PSU_POUT,
    ORV3_PSU_VBULK,
    ORV3_PSU_FIN,
    ORV3_PSU_THD,
    ORV3_PSU_PF,
    ORV3_PSU_PIN,
    ORV3_PSU_VIN,
    ORV3_PSU_IIN,
    ORV3_PSU_FAULT_COUNT,
    ORV3_PSU_SETTING,
    ORV3_PSU_BAUD,
    ORV3_PSU_FAN_DUTY,
    ORV3_PSU_LED,
    ORV3_PSU_UNIX_TIME,
    ORV3_PSU_VIN_MIN,
    ORV3_PSU_VIN_MAX,
    ORV3_PSU_VSET_HIGH,
    ORV3_PSU_VSET_LOW,
    ORV3_PSU_NFIELDS,
};

enum orv3_bbu_field {
    ORV3_BBU_MANUFACTURER,
    ORV3_BBU_MODEL,
    ORV3_BBU_MFG_DATE,
    ORV3_BBU_PART_NUMBER,
    ORV3_BBU_FW_REV,
    ORV3_BBU_SERIAL,
    ORV3_BBU_STATUS,         /* reg 104 */
    ORV3_BBU_PERM_FAILURES,  /* reg 105 */
    ORV3_BBU_MODE,           /* reg 107 */
    ORV3_BBU_BATTERY_STATUS, /* reg 108 */
    ORV3_BBU_CELL1,          /* regs 109..119: ORV3_BBU_CELL1 + i */
    ORV3_BBU_CELL11 = ORV3_BBU_CELL1 + 10,
    ORV3_BBU_TEMP1, /* regs 122..125 */
    ORV3_BBU_TEMP4 = ORV3_BBU_TEMP1 + 3,
    ORV3_BBU_RSOC,
    ORV3_BBU_ASOC,
    ORV3_BBU_VOLTAGE,
    ORV3_BBU_CURRENT,
    ORV3_BBU_AVG_CURRENT,
    ORV3_BBU_REMAINING_CAP,
    ORV3_BBU_FULL_CAP,
    ORV3_BBU_RUN_TIME_TO_EMPTY,
    ORV3_BBU_AVG_TIME_TO_EMPTY,
    ORV3_BBU_CYCLE_COUNT,
    ORV3_BBU_DESIGN_CAP,
    ORV3_BBU_SOH,
    ORV3_BBU_CHARGE_CURRENT,
    ORV3_BBU_CHARGE_VOLTAGE,
    ORV3_BBU_DISCHARGE_CURRENT,
    ORV3_BBU_BUS_VOLTAGE,
    ORV3_BBU_TEMP_INLET,
    ORV3_BBU_TEMP_OUTLET,
    ORV3_BBU_FAN_RPM,
    ORV3_BBU_EOL_STATUS,
    ORV3_BBU_MAX_DISCHARGE_TIME,
    ORV3_BBU_WALL_CLOCK,
    ORV3_BBU_SHELF_POWER,
    ORV3_BBU_PSU_AC_OK,
    ORV3_BBU_CLEAR_FAULT,
    ORV3_BBU_NFIELDS,
};

#define ORV3_PSU_NREGS 105
#define ORV3_BBU_NREGS 314
#define ORV3_MAX_NREGS ORV3_BBU_NREGS
#define ORV3_PROBE_REG 8   /* discovery and re-probe: a one-word read of the model */
#define ORV3_STRING_MAX 32 /* characters of the longest string field (16 words) */

extern const struct orv3_field orv3_psu_fields[ORV3_PSU_NFIELDS];

/*
 * PSU registers 105..109, beyond the reference's table: the Vout change
 * timer (105, INT, no unit given) and the bootloader firmware revision
 * (106..109, STRING), as deployed rack monitors read them in one span with
 * 92..104. The simulator serves them (ORV3_PSU_EXT_NREGS words) so that
 * such a monitor's span is not refused; the daemon's plans do not read them,
 * because the reference does not name them and a PSU without them would
 * refuse every read that reached past 104.
 */
enum orv3_psu_ext_field { ORV3_PSU_VOUT_TIMER, ORV3_PSU_FBL_REV, ORV3_PSU_NEXT_FIELDS };
#define ORV3_PSU_EXT_NREGS 110
extern const struct orv3_field orv3_psu_ext_fields[ORV3_PSU_NEXT_FIELDS];
extern const struct orv3_field orv3_bbu_fields[ORV3_BBU_NFIELDS];
extern const struct orv3_table orv3_psu_table;
extern const struct orv3_table orv3_bbu_table;

/* Unit ids from the address byte (bits 7..6 type, 5..3 shelf, 2..0 slot). */
#define ORV3_NPSU_UNITS 15
#define ORV3_NBBU_UNITS 15
extern const uint8_t orv3_psu_units[ORV3_NPSU_UNITS]; /* 200-205, 232-237, 240-242 */
extern const uint8_t orv3_bbu_units[ORV3_NBBU_UNITS]; /* 64-69, 80-82, 96-101 */

/* Field at exactly register reg, or NULL. */
const struct orv3_field *orv3_find(const struct orv3_table *t, int reg);
const char *orv3_group_name(enum orv3_group g);

/* ---- read planning ------------------------------------------------------ */

/*
 * A span is one Read Holding Registers transaction: words registers from
 * start. groups says which groups have fields inside it.
 */
struct orv3_span {
    uint16_t start;
    uint16_t words;
    uint32_t groups;
};

/*
 * max_words: the most registers one request may ask for (Modbus allows 125;
 * ORv3 shelves 120, some older PSUs 16). max_hole_words: the largest run of
 * registers outside the wanted fields that may be read through to save a
 * transaction (0 = never read a register that is not wanted). On RTU a new
 * transaction costs about 10-12 words of wire time (request, response header
 * and CRC, two silent intervals) plus the device's turnaround, so bridging a
 * hole of up to ORV3_DEFAULT_MAX_HOLE words is cheaper than splitting.
 */
#define ORV3_MAX_SPAN_WORDS 120
#define ORV3_OLD_SPAN_WORDS 16
#define ORV3_DEFAULT_MAX_HOLE 8
struct orv3_span_policy {
    int max_words;      /* 1..125 */
    int max_hole_words; /* 0..max_words */
};

/*
 * Plans the spans that read every field of t whose group is in the mask
 * groups (ORV3_GROUP_BIT ...), in register order: contiguous fields share a
 * span, a hole of at most max_hole_words is read through, no span exceeds
 * max_words and no field is split between spans. Returns the number of spans
 * written to out (0 when no field is wanted), or -1 when the policy is
 * invalid, a wanted field is wider than max_words, or out (cap entries) is too
 * small.
 */
int orv3_plan_spans(const struct orv3_table *t, uint32_t groups, const struct orv3_span_policy *p,
                    struct orv3_span *out, int cap);

/* Words of field f inside a span that was read into span_words, or NULL when
 * f is not entirely inside the span. */
const uint16_t *orv3_field_in_span(const struct orv3_span *s, const uint16_t *span_words,
                                   const struct orv3_field *f);

/* ---- value encodings ---------------------------------------------------- */

/* INT, INT32, FLAGS and the raw word of FLOAT, sign-extended when is_signed. */
int64_t orv3_decode_int(const struct orv3_field *f, const uint16_t *words);
/* FLOAT: raw / 2^precision. INT/INT32 decode as their integer value. */
double orv3_decode_float(const struct orv3_field *f, const uint16_t *words);
/* The value times 1000, rounded half away from zero, in integers only:
 * 51.0 V (raw 52224 at precision 10) gives 51000 (mV). */
int64_t orv3_decode_milli(const struct orv3_field *f, const uint16_t *words);
/* STRING: the characters up to the first NUL, leading and trailing blanks
 * trimmed, anything outside printable ASCII shown as '?'. Writes a
 * NUL-terminated string (truncated to cap - 1) and returns its length. */
size_t orv3_decode_string(const struct orv3_field *f, const uint16_t *words, char *buf, size_t cap);

/*
 * Encoders write f->words words. Each returns 0, or -1 when the value does not
 * fit (the nearest representable value is written: saturated numbers, a
 * truncated string) or the format does not match.
 */
int orv3_encode_int(const struct orv3_field *f, int64_t value, uint16_t *words);
int orv3_encode_float(const struct orv3_field *f, double value, uint16_t *words);
int orv3_encode_milli(const struct orv3_field *f, int64_t milli, uint16_t *words);
/* Space-padded. */
int orv3_encode_string(const struct orv3_field *f, const char *s, uint16_t *words);

/* ---- alarm bits ---------------------------------------------------------- */

/*
 * The PSU's alarm registers 60..64 (orv3_psu_telemetry.alarm[ORV3_AL_*]) and
 * their bits, as shared/reference/orv3-modbus.md names them. The decoder's
 * health mapping tests these and the simulator sets them: one set of names.
 */
#define ORV3_PSU_ALARM_REG 60 /* the first of the five */
enum orv3_psu_alarm_reg {
    ORV3_AL_GENERAL, /* 60 */
    ORV3_AL_PFC,     /* 61 */
    ORV3_AL_DCDC,    /* 62 */
    ORV3_AL_TEMP,    /* 63 */
    ORV3_AL_COMM,    /* 64: any bit is a communication alarm */
    ORV3_PSU_NALARMS,
};
/* 60 general alarm status */
#define ORV3_GEN_FAN (1u << 11)
#define ORV3_GEN_TEMP (1u << 10)
#define ORV3_GEN_DCDC_FAIL (1u << 9)
#define ORV3_GEN_PFC_FAIL (1u << 8)
#define ORV3_GEN_COMM (1u << 3)
#define ORV3_GEN_TEMP_WARN (1u << 2) /* the reference's second "temp" bit */
#define ORV3_GEN_DCDC (1u << 1)      /* a DCDC alarm: see register 62 */
#define ORV3_GEN_PFC (1u << 0)       /* a PFC alarm: see register 61 */
/* 61 PFC alarm */
#define ORV3_PFC_FAIL (1u << 11)
#define ORV3_PFC_RELAY_OFF (1u << 10) /* input relay off */
#define ORV3_PFC_BULK_NOK (1u << 9)   /* bulk capacitor not ok */
#define ORV3_PFC_AC_NOK (1u << 8)
#define ORV3_PFC_FREQ_HIGH (1u << 5)
#define ORV3_PFC_FREQ_LOW (1u << 4)
#define ORV3_PFC_AC_OVP (1u << 1)
#define ORV3_PFC_AC_UVP (1u << 0)
/* 62 DCDC alarm */
#define ORV3_DCDC_ORING_FAIL (1u << 10)
#define ORV3_DCDC_MCU_FAIL (1u << 9) /* secondary MCU */
#define ORV3_DCDC_FAIL (1u << 8)
#define ORV3_DCDC_SHORT (1u << 3)
#define ORV3_DCDC_OCP (1u << 2)
#define ORV3_DCDC_OVP (1u << 1)
#define ORV3_DCDC_UVP (1u << 0)
/* 63 temperature alarm */
#define ORV3_TEMP_FAN_FAIL (1u << 8)
#define ORV3_TEMP_SENSORS 0x003fu /* 5..0: one per sensor */

/* BBU register 104, BBU status */
#define ORV3_BBU_NO_DISCHARGE (1u << 15) /* discharge not allowed */
#define ORV3_BBU_NO_CHARGE (1u << 14)    /* charge not allowed */
#define ORV3_BBU_TEMP_FAIL (1u << 13)
#define ORV3_BBU_PACK_OC (1u << 12)
#define ORV3_BBU_CELL_UV (1u << 11)
#define ORV3_BBU_PACK_UV (1u << 10)
#define ORV3_BBU_CELL_OV (1u << 9)
#define ORV3_BBU_PACK_OV (1u << 8)
#define ORV3_BBU_EOL (1u << 7) /* end of life */
#define ORV3_BBU_FAN_FAIL (1u << 6)
#define ORV3_BBU_MICRO (1u << 4)
#define ORV3_BBU_AFE (1u << 3)
#define ORV3_BBU_FUSE (3u << 1) /* 2..1 */
#define ORV3_BBU_CHARGE_FET (1u << 0)
/* What says a BBU cannot carry its bus now (docs/modbus.md, "BBUs"): discharge
 * not allowed, temperature failure, pack over-current, cell or pack under-voltage. */
#define ORV3_BBU_CANNOT_DISCHARGE                                                                  \
    (ORV3_BBU_NO_DISCHARGE | ORV3_BBU_TEMP_FAIL | ORV3_BBU_PACK_OC | ORV3_BBU_CELL_UV |            \
     ORV3_BBU_PACK_UV)
/* BBU register 107, BBU mode */
#define ORV3_MODE_SOH_TEST (1u << 3) /* state-of-health test */
#define ORV3_MODE_DISCHARGE (1u << 1)
#define ORV3_MODE_CHARGING (1u << 0)
/* BBU register 108, battery status: 15..8 are alarms */
#define ORV3_BATT_ALARMS 0xff00u
#define ORV3_BATT_INITIALIZED (1u << 7)
#define ORV3_BATT_DISCHARGING (1u << 6)
#define ORV3_BATT_FULL (1u << 5)  /* fully charged */
#define ORV3_BATT_EMPTY (1u << 4) /* fully discharged */
/* Run time to empty (133, 134) while it does not discharge: the smart
 * battery convention, "not discharging, no figure". */
#define ORV3_BBU_NO_RUNTIME 65535

/* ---- decoded readings (integer units) ----------------------------------- */

struct orv3_psu_telemetry {
    char part_number[17], model[17], mfg_date[17], serial[33], hw_rev[9], fw_rev[9];
    uint32_t uptime; /* as reported */
    uint16_t ac_cycles, ac_outages;
    uint16_t alarm[ORV3_PSU_NALARMS]; /* regs 60..64 raw, ORV3_AL_* */
    uint16_t fan_rpm[2];
    int32_t inlet_mc, outlet_mc, max_mc, min_mc; /* milli-degrees Celsius */
    uint32_t crc_errors, timeout_errors;
    int32_t vout_mv, iout_ma, ishare_ma, pout_mw, vbulk_mv;
    int32_t fin_millihz;
    int32_t thd_permille, pf_permille; /* ratios times 1000 */
    int32_t pin_mw, vin_mv, iin_ma;
    uint16_t fault_count, setting, baud, fan_duty, led;
    uint32_t unix_time;
    int32_t vin_min_mv, vin_max_mv, vset_high_mv, vset_low_mv;
};

/*
 * BBU units beyond the reference's: voltages mV, currents mA (signed:
 * negative = discharging), capacities mAh, temperatures C, times min, as on
 * the smart-battery units deployed monitors read. docs/modbus.md.
 */
struct orv3_bbu_telemetry {
    char manufacturer[17], model[17], mfg_date[17], part_number[17], fw_rev[9], serial[33];
    uint16_t status, perm_failures, mode, battery_status; /* regs 104, 105, 107, 108 */
    uint16_t cell_mv[11];
    int16_t temp_c[4];
    uint16_t rsoc_pct, asoc_pct;
    int32_t voltage_mv, current_ma, avg_current_ma;
    uint16_t remaining_mah, full_mah, run_time_to_empty_min, avg_time_to_empty_min;
    uint16_t cycle_count, design_mah, soh_pct;
    uint16_t charge_current_ma, charge_voltage_mv, discharge_current_ma, bus_mv;
    int16_t inlet_c, outlet_c;
    uint16_t fan_rpm, eol_status, max_discharge_s;
    uint32_t wall_clock;
    uint16_t shelf_power_w, psu_ac_ok, clear_fault;
};

/* Decode from a register image of at least ORV3_PSU_NREGS / ORV3_BBU_NREGS words. */
void orv3_psu_decode(const uint16_t *image, struct orv3_psu_telemetry *t);
void orv3_bbu_decode(const uint16_t *image, struct orv3_bbu_telemetry *t);

/*
 * What a BBU says of itself as a battery reserve (docs/modbus.md, "BBUs"),
 * from its decoded registers. Figures the registers do not give are -1.
 */
struct orv3_bbu_state {
    bool discharging;  /* mode 107.1 or battery status 108.6: it carries its bus */
    bool charging;     /* mode 107.0 while not discharging */
    bool full, empty;  /* battery status 108.5 fully charged, 108.4 fully discharged */
    bool fault;        /* status 104: one of ORV3_BBU_CANNOT_DISCHARGE */
    int charge_pct;    /* relative state of charge (126), 0..100; -1 above 100 */
    int64_t runtime_s; /* run time to empty (133, minutes) in s; -1 for ORV3_BBU_NO_RUNTIME */
    int64_t watts;     /* delivered now: shelf output power (310), else battery voltage x
                        * discharge current (128, 129); 0 when not discharging; -1 when
                        * discharging and neither says */
};
void orv3_bbu_state(const struct orv3_bbu_telemetry *t, struct orv3_bbu_state *s);

/* ---- health ------------------------------------------------------------- */

/* Ranked: a device's level is the worst of its causes. */
enum orv3_health { ORV3_OK, ORV3_AT_RISK, ORV3_DEGRADED, ORV3_FAILED };

/* Causes, one bit each; orv3_cause_level gives the level each one implies. */
enum orv3_cause {
    /* PSU, failed: no output, or output that must not be trusted */
    ORV3_C_DCDC_FAIL,  /* 60.9, 62.8 */
    ORV3_C_PFC_FAIL,   /* 60.8, 61.11 */
    ORV3_C_ORING_FAIL, /* 62.10 */
    ORV3_C_MCU_FAIL,   /* 62.9 secondary MCU */
    ORV3_C_SHORT,      /* 62.3 */
    ORV3_C_OUT_OCP,    /* 62.2 */
    ORV3_C_OUT_OVP,    /* 62.1 */
    ORV3_C_OUT_UVP,    /* 62.0 */
    ORV3_C_INPUT_LOST, /* AC not ok / input relay off / AC OVP/UVP, output gone */
    /* PSU, degraded: delivers, but derates or does not carry its share */
    ORV3_C_FAN,   /* 60.11, 63.8 */
    ORV3_C_TEMP,  /* 60.10, 60.2, 63.5..0 */
    ORV3_C_SHARE, /* output current far from the current-share bus */
    /* PSU, at risk: still delivering, predicts a failure */
    ORV3_C_TEMP_RISING, /* temperature alarm while the temperature keeps rising */
    ORV3_C_BULK,        /* 61.9 bulk capacitor not ok: hold-up at risk */
    ORV3_C_FREQ,        /* 61.5, 61.4 input frequency out of range */
    ORV3_C_INPUT,       /* AC not ok / relay off / AC OVP/UVP, output still there */
    ORV3_C_PFC_WARN,    /* 60.0 */
    ORV3_C_DCDC_WARN,   /* 60.1 */
    /* PSU, ok: recorded only */
    ORV3_C_COMM, /* 60.3, reg 64 */
    /* BBU */
    ORV3_C_BBU_PERM,      /* 105 != 0: permanent failure */
    ORV3_C_BBU_PROTECT,   /* 104.15..8 discharge not allowed, temp, OC, UV, OV */
    ORV3_C_BBU_HW,        /* 104.4..1 micro, AFE, fuse */
    ORV3_C_BBU_NO_CHARGE, /* 104.14 charge not allowed, 104.0 charge FET */
    ORV3_C_BBU_FAN,       /* 104.6 */
    ORV3_C_BBU_EOL,       /* 104.7 end of life */
    ORV3_C_BBU_ALARM,     /* 108.15..8 battery alarms */
    ORV3_NCAUSES,
};
#define ORV3_CAUSE_BIT(c) (1u << (c))

/* Output below this with an input alarm means the output is gone. */
#define ORV3_VOUT_GONE_MV 40000
/* Current share: judged from this share current up, off by more than 25 %. */
#define ORV3_SHARE_MIN_MA 5000
#define ORV3_SHARE_TOLERANCE_PCT 25

struct orv3_assessment {
    enum orv3_health level; /* worst of the causes */
    bool at_risk;           /* some cause predicts a failure (also when level is worse) */
    uint32_t causes;        /* ORV3_CAUSE_BIT set */
};

/* temp_rising: the monitor's judgement that the temperature keeps climbing. */
struct orv3_assessment orv3_psu_assess(const struct orv3_psu_telemetry *t, bool temp_rising);
struct orv3_assessment orv3_bbu_assess(const struct orv3_bbu_telemetry *t);

enum orv3_health orv3_cause_level(enum orv3_cause c);
const char *orv3_cause_name(enum orv3_cause c);
const char *orv3_health_name(enum orv3_health h);
/* "dcdc_fail,fan" (or "none"); returns what snprintf would. */
int orv3_causes_format(uint32_t causes, char *buf, size_t len);

/*
 * What a degraded PSU can deliver, from what its registers say. The
 * reference names no register for available or derated output power, nor a
 * current limit; the one figure they give is the current share: a PSU that
 * carries less than its share (the current_share cause, iout below ishare)
 * carries iout/ishare of it, and counts at rated x iout/ishare (whole watts,
 * rounded down). Never above
 * fallback_pct of rated: telemetry only lowers the figure (a share ratio is
 * no proof that a degraded PSU can deliver more than the configured
 * fraction); never below 1 W (a PSU that delivers nothing is failed, not
 * degraded). *permille_of_share (may be NULL) gets iout/ishare x 1000 when
 * the share was used, else -1.
 */
int64_t orv3_psu_derated_mw(const struct orv3_psu_telemetry *t, uint32_t causes, int64_t rated_mw,
                            int fallback_pct, int *permille_of_share);

/* ---- monitor ------------------------------------------------------------ */

enum orv3_device { ORV3_DEV_PSU, ORV3_DEV_BBU };

struct orv3_monitor_config {
    int debounce_reads;   /* a new health is believed after this many consecutive reads (3) */
    int comm_loss_reads;  /* failed reads in a row that make a comm loss (3) */
    int32_t temp_rise_mc; /* rise since the temperature alarm began that counts as rising (1 C) */
};

enum orv3_event_kind {
    ORV3_EV_RAISE,     /* health left ok: a fault episode begins */
    ORV3_EV_CHANGE,    /* the episode's level or at_risk changed */
    ORV3_EV_CLEAR,     /* back to ok: the episode ends */
    ORV3_EV_COMM_LOST, /* comm_loss_reads failed reads in a row */
    ORV3_EV_COMM_BACK, /* a good read after a comm loss */
};

struct orv3_event {
    enum orv3_event_kind kind;
    enum orv3_device device;
    int64_t t_ns;
    int64_t since_ns; /* start of the episode (or of the comm loss) */
    struct orv3_assessment a;
    uint16_t alarm[5]; /* raw: PSU regs 60..64; BBU regs 104, 105, 108 */
    int nalarm;
};

struct orv3_monitor {
    struct orv3_monitor_config cfg;
    enum orv3_device device;
    struct orv3_assessment stable; /* debounced */
    int64_t episode_ns;
    struct orv3_assessment cand; /* what the last reads say */
    int cand_reads;
    int failed_reads;
    bool comm_lost;
    int64_t comm_lost_ns;
    bool temp_alarm;     /* temperature alarm seen at the last read */
    int32_t temp_ref_mc; /* temperature when that alarm began */
};

#define ORV3_MONITOR_MAX_EVENTS 2

void orv3_monitor_config_default(struct orv3_monitor_config *c);
/* cfg NULL: defaults. Values below 1 are taken as 1. */
void orv3_monitor_init(struct orv3_monitor *m, enum orv3_device device,
                       const struct orv3_monitor_config *cfg);
/*
 * Feed one successful read (alarm registers and telemetry decoded). Writes at
 * most ORV3_MONITOR_MAX_EVENTS events to out and returns how many.
 */
int orv3_monitor_feed_psu(struct orv3_monitor *m, int64_t now_ns,
                          const struct orv3_psu_telemetry *t, struct orv3_event *out);
int orv3_monitor_feed_bbu(struct orv3_monitor *m, int64_t now_ns,
                          const struct orv3_bbu_telemetry *t, struct orv3_event *out);
/* Feed a read that got no answer (after the driver's retries). */
int orv3_monitor_feed_fail(struct orv3_monitor *m, int64_t now_ns, struct orv3_event *out);
/* True while a new health is seen but not yet believed: worth reading again soon. */
bool orv3_monitor_pending(const struct orv3_monitor *m);
const char *orv3_event_name(enum orv3_event_kind k);

#endif
