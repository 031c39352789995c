/*
 * simdevs.c - registers of the simulated PSUs, switch module and chassis
 * modules, read from and written to struct phys.
 */
#include "simdevs.h"

#include "orv3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outage.h"
#include "rackmod.h"

/* The ORv3 PSU registers are served from the one layout of src/wire/orv3.h. */
static void put_float(uint16_t *img, int field, double value)
{
    const struct orv3_field *f = &orv3_psu_fields[field];
    orv3_encode_float(f, value, img + f->reg); /* out of range saturates */
}

static void put_int(uint16_t *img, int field, int64_t value)
{
    const struct orv3_field *f = &orv3_psu_fields[field];
    orv3_encode_int(f, value, img + f->reg);
}

static void put_string(uint16_t *img, int field, const char *value)
{
    const struct orv3_field *f = &orv3_psu_fields[field];
    orv3_encode_string(f, value, img + f->reg); /* too long is cut */
}

static void put_bbu(uint16_t *img, int field, int64_t value)
{
    const struct orv3_field *f = &orv3_bbu_fields[field];
    orv3_encode_int(f, value, img + f->reg); /* out of range saturates */
}

static void put_bbu_string(uint16_t *img, int field, const char *value)
{
    const struct orv3_field *f = &orv3_bbu_fields[field];
    orv3_encode_string(f, value, img + f->reg);
}

static void put_ext_int(uint16_t *img, int field, int64_t value)
{
    const struct orv3_field *f = &orv3_psu_ext_fields[field];
    orv3_encode_int(f, value, img + f->reg);
}

static void put_ext_string(uint16_t *img, int field, const char *value)
{
    const struct orv3_field *f = &orv3_psu_ext_fields[field];
    orv3_encode_string(f, value, img + f->reg);
}

/* The unix time PSU psu shows at now_ns: the written value counted on. */
static uint32_t psu_clock(const struct simdevs *d, int psu, int64_t now_ns)
{
    const uint16_t *w =
        d->settings[psu] + (orv3_psu_fields[ORV3_PSU_UNIX_TIME].reg - SIMDEVS_PSU_SETTINGS);
    uint32_t t = (uint32_t)w[0] << 16 | w[1];
    if (d->clock_set_ns[psu] > 0 && now_ns > d->clock_set_ns[psu])
        t += (uint32_t)((now_ns - d->clock_set_ns[psu]) / 1000000000);
    return t;
}

static uint16_t clamp16(uint64_t v)
{
    return v > 0xffff ? 0xffff : (uint16_t)v;
}

int simdevs_init(struct simdevs *d, struct phys *ph, int baud)
{
    const struct rack *r = &ph->r;
    memset(d, 0, sizeof(*d));
    d->ph = ph;
    d->now_ns = ph->now_ns;
    d->slot_server = calloc((size_t)r->nservers + 1, sizeof(int));
    d->server_unit = calloc((size_t)r->nservers + 1, sizeof(int));
    d->server_slot = calloc((size_t)r->nservers + 1, sizeof(int));
    d->settings = calloc((size_t)r->npsus + 1, sizeof(*d->settings));
    d->clock_set_ns = calloc((size_t)r->npsus + 1, sizeof(*d->clock_set_ns));
    d->reserve_unit = calloc((size_t)r->nreserves + 1, sizeof(*d->reserve_unit));
    if (!d->slot_server || !d->server_unit || !d->server_slot || !d->settings || !d->clock_set_ns ||
        !d->reserve_unit) {
        simdevs_free(d);
        return -1;
    }
    d->kind[RACKMOD_SWITCH_UNIT] = SIMDEVS_SWITCH;
    d->npsus = r->npsus < RACKMOD_MAX_PSUS ? r->npsus : RACKMOD_MAX_PSUS;
    d->unserved_psus = r->npsus - d->npsus;
    for (int i = 0; i < d->npsus; i++) {
        int unit = rackmod_psu_units[i];
        d->kind[unit] = SIMDEVS_PSU;
        d->index[unit] = i;
        uint16_t img[SIMDEVS_PSU_NREGS] = {0};
        put_int(img, ORV3_PSU_SETTING, 1u << 11 | 1u << 9); /* current sharing, 51 V */
        put_int(img, ORV3_PSU_BAUD, (baud > 0 ? baud : 0) / 100);
        put_float(img, ORV3_PSU_VIN_MIN, 180.0);
        put_float(img, ORV3_PSU_VIN_MAX, 277.0);
        put_float(img, ORV3_PSU_VSET_HIGH, 51.0);
        put_float(img, ORV3_PSU_VSET_LOW, 48.0);
        /* The reference gives the timer no unit; a non-zero default shows
         * the register is there (0 would read like a refused one). */
        put_ext_int(img, ORV3_PSU_VOUT_TIMER, SIMDEVS_VOUT_TIMER_DEFAULT);
        memcpy(d->settings[i], img + SIMDEVS_PSU_SETTINGS, sizeof(d->settings[i]));
    }
    for (int k = 0; k < r->nreserves; k++) {
        if (r->reserves[k].kind != RACK_RESERVE_BBU)
            continue;
        if (d->nbbus >= ORV3_NBBU_UNITS) {
            d->unserved_bbus++;
            continue;
        }
        int unit = orv3_bbu_units[d->nbbus++];
        d->kind[unit] = SIMDEVS_BBU;
        d->index[unit] = k;
        d->reserve_unit[k] = unit;
    }
    /* chassis modules: servers without a chassis first (unit 9), then 10 + c */
    int next = 0;
    for (int c = -1; c < r->nchassis; c++) {
        int unit = c < 0 ? RACKMOD_LOOSE_CHASSIS_UNIT : RACKMOD_CHASSIS_UNIT_BASE + c;
        bool served = c < RACKMOD_MAX_CHASSIS;
        int first = next, n = 0;
        for (int i = 0; i < r->nservers; i++) {
            if (r->servers[i].chassis != c)
                continue;
            if (!served || n >= RACKMOD_MAX_SLOTS) {
                d->unserved_servers++;
                continue;
            }
            d->slot_server[next++] = i;
            d->server_unit[i] = unit;
            d->server_slot[i] = n++;
        }
        if (served && (c >= 0 || n > 0)) {
            d->kind[unit] = SIMDEVS_CHASSIS;
            d->index[unit] = c;
            d->slot_first[unit] = first;
            d->nslots[unit] = n;
        }
    }
    return 0;
}

void simdevs_free(struct simdevs *d)
{
    free(d->slot_server);
    free(d->server_unit);
    free(d->server_slot);
    free(d->settings);
    free(d->clock_set_ns);
    free(d->reserve_unit);
    d->reserve_unit = NULL;
    d->slot_server = d->server_unit = d->server_slot = NULL;
    d->settings = NULL;
    d->clock_set_ns = NULL;
}

enum simdevs_kind simdevs_kind(const struct simdevs *d, int unit)
{
    return unit >= 0 && unit < 256 ? (enum simdevs_kind)d->kind[unit] : SIMDEVS_NONE;
}

bool simdevs_answers(const struct simdevs *d, int unit)
{
    return simdevs_kind(d, unit) != SIMDEVS_NONE && !d->silent[unit];
}

int simdevs_bbu_unit(const struct simdevs *d, int reserve)
{
    return reserve >= 0 && reserve < d->ph->r.nreserves ? d->reserve_unit[reserve] : 0;
}

int simdevs_bbu_silence(struct simdevs *d, int reserve, bool silent)
{
    int unit = simdevs_bbu_unit(d, reserve);
    if (!unit)
        return -1;
    d->silent[unit] = silent;
    return 0;
}

int simdevs_psu_unit(const struct simdevs *d, int psu)
{
    return psu >= 0 && psu < d->npsus ? rackmod_psu_units[psu] : 0;
}

int simdevs_server_unit(const struct simdevs *d, int server, int *slot)
{
    if (server < 0 || server >= d->ph->r.nservers)
        return 0;
    if (slot)
        *slot = d->server_slot[server];
    return d->server_unit[server];
}

uint64_t simdevs_owner_epoch(const struct simdevs *d, int unit)
{
    enum simdevs_kind k = simdevs_kind(d, unit);
    return k == SIMDEVS_SWITCH || k == SIMDEVS_CHASSIS || k == SIMDEVS_PSU ? d->owner_epoch[unit]
                                                                           : 0;
}

void simdevs_describe(const struct simdevs *d, char *buf, size_t len)
{
    const struct rack *r = &d->ph->r;
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < d->npsus && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s=%d ", r->psus[i].id, simdevs_psu_unit(d, i));
    if (o < len)
        o += (size_t)snprintf(buf + o, len - o, "switch=%d", RACKMOD_SWITCH_UNIT);
    for (int unit = 0; unit < 256 && o < len; unit++)
        if (d->kind[unit] == SIMDEVS_BBU)
            o += (size_t)snprintf(buf + o, len - o, " %s=%d (bbu)", r->reserves[d->index[unit]].id,
                                  unit);
    for (int unit = 0; unit < 256 && o < len; unit++)
        if (d->kind[unit] == SIMDEVS_CHASSIS)
            o += (size_t)snprintf(buf + o, len - o, " %s=%d (%d slots)",
                                  d->index[unit] < 0 ? "(no chassis)" : r->chassis[d->index[unit]],
                                  unit, d->nslots[unit]);
}

void simdevs_psu_image(const struct simdevs *d, int psu, uint16_t img[SIMDEVS_PSU_NREGS])
{
    const struct rack *r = &d->ph->r;
    const struct rack_psu *q = &r->psus[psu];
    const struct phys_psu *p = &d->ph->psu[psu];
    char s[64];
    memset(img, 0, SIMDEVS_PSU_NREGS * sizeof(*img));

    snprintf(s, sizeof(s), "RPSIM-%.0fW", (double)q->rated_mw / 1000);
    put_string(img, ORV3_PSU_PART_NUMBER, s);
    put_string(img, ORV3_PSU_MODEL, "RPSIM-ORV3-PSU");
    put_string(img, ORV3_PSU_MFG_DATE, "2024-01-15");
    snprintf(s, sizeof(s), "RPSIM-%s-%s", r->name, q->id);
    put_string(img, ORV3_PSU_SERIAL, s);
    put_string(img, ORV3_PSU_HW_REV, "A1");
    put_string(img, ORV3_PSU_FW_REV, "1.0.0");
    put_int(img, ORV3_PSU_UPTIME, p->up_ns / 1000000000);
    put_int(img, ORV3_PSU_AC_CYCLES, (int64_t)p->ac_cycles);
    put_int(img, ORV3_PSU_AC_OUTAGES, (int64_t)p->ac_outages);
    memcpy(img + orv3_psu_fields[ORV3_PSU_ALARM_GENERAL].reg, p->alarm, sizeof(p->alarm));
    put_int(img, ORV3_PSU_FAN0_RPM, llround(p->fan_rpm[0]));
    put_int(img, ORV3_PSU_FAN1_RPM, llround(p->fan_rpm[1]));
    put_float(img, ORV3_PSU_TEMP_INLET, p->inlet_c);
    put_float(img, ORV3_PSU_TEMP_OUTLET, p->outlet_c);
    put_float(img, ORV3_PSU_TEMP_MAX, p->max_c);
    put_float(img, ORV3_PSU_TEMP_MIN, p->min_c);
    put_int(img, ORV3_PSU_CRC_ERRORS, (int64_t)d->crc_errors[simdevs_psu_unit(d, psu)]);
    put_int(img, ORV3_PSU_TIMEOUT_ERRORS, (int64_t)d->timeout_errors[simdevs_psu_unit(d, psu)]);
    put_float(img, ORV3_PSU_VOUT, (double)p->vout_mv / 1000);
    put_float(img, ORV3_PSU_IOUT, (double)p->iout_ma / 1000);
    put_float(img, ORV3_PSU_ISHARE, (double)p->ishare_ma / 1000);
    put_float(img, ORV3_PSU_POUT, (double)p->out_mw / 1000);
    put_float(img, ORV3_PSU_VBULK, (double)p->vbulk_mv / 1000);
    put_float(img, ORV3_PSU_FIN, p->freq_hz);
    put_float(img, ORV3_PSU_THD, p->thd);
    put_float(img, ORV3_PSU_PF, p->pf);
    put_float(img, ORV3_PSU_PIN, (double)p->pin_mw / 1000);
    put_float(img, ORV3_PSU_VIN, (double)p->vin_mv / 1000);
    put_float(img, ORV3_PSU_IIN, (double)p->iin_ma / 1000);
    put_int(img, ORV3_PSU_FAULT_COUNT, (int64_t)p->fault_count);
    memcpy(img + SIMDEVS_PSU_SETTINGS, d->settings[psu], sizeof(d->settings[psu]));
    put_int(img, ORV3_PSU_UNIX_TIME, psu_clock(d, psu, d->now_ns));
    put_ext_string(img, ORV3_PSU_FBL_REV, SIMDEVS_FBL_REV);
}

/*
 * A BBU of 11 lithium cells in series (registers 109..119): each from 3.30 V
 * empty to 4.15 V full, linear in the charge; its capacity in mAh at the
 * nominal 3.7 V a cell. Currents are signed mA (negative: discharging) and
 * saturate at -32768 mA: the shelf output power (310, W) is the figure that
 * holds at shelf power. docs/sim-devices.md "BBU".
 */
#define BBU_CELLS 11
#define BBU_CELL_EMPTY_MV 3300.0
#define BBU_CELL_FULL_MV 4150.0
#define BBU_CELL_NOMINAL_V 3.7
#define BBU_CHARGE_CELL_MV 4200
#define BBU_BUS_PSU_MV PHYS_VOUT_MV /* the bus while PSUs hold it */
#define BBU_BUS_BBU_MV 48500        /* the bus while the BBU holds it: its take-over point */

void simdevs_bbu_image(const struct simdevs *d, int k, uint16_t img[ORV3_BBU_NREGS])
{
    const struct phys *ph = d->ph;
    const struct rack *r = &ph->r;
    const struct rack_reserve *res = &r->reserves[k];
    const struct phys_bbu *u = &ph->bbu[k];
    char s[64];
    memset(img, 0, ORV3_BBU_NREGS * sizeof(*img));
    double soc = res->energy_wh > 0 ? fmin(fmax(res->wh_left / res->energy_wh, 0), 1) : 0;
    double cell_mv = BBU_CELL_EMPTY_MV + (BBU_CELL_FULL_MV - BBU_CELL_EMPTY_MV) * soc;
    double pack_mv = BBU_CELLS * cell_mv;
    double full_mah = res->energy_wh / (BBU_CELLS * BBU_CELL_NOMINAL_V) * 1000;
    double charge_w = u->charging ? res->max_w / PHYS_BBU_CHARGE_DIV : 0;
    double cell_w = res->discharging ? outage_cell_w(res, res->watts) : 0;
    double current_ma = res->discharging ? -cell_w / pack_mv * 1e6 : charge_w / pack_mv * 1e6;
    int b = phys_bbu_bus(ph, k);
    bool ac = b >= 0 && ph->bus_psu_mw[b] > 0;

    put_bbu_string(img, ORV3_BBU_MANUFACTURER, "rackpower-sim");
    put_bbu_string(img, ORV3_BBU_MODEL, "RPSIM-ORV3-BBU");
    put_bbu_string(img, ORV3_BBU_MFG_DATE, "2024-01-15");
    snprintf(s, sizeof(s), "RPSIM-%.0fWH", res->energy_wh);
    put_bbu_string(img, ORV3_BBU_PART_NUMBER, s);
    put_bbu_string(img, ORV3_BBU_FW_REV, "1.0.0");
    snprintf(s, sizeof(s), "RPSIM-%s-%s", r->name, res->id);
    put_bbu_string(img, ORV3_BBU_SERIAL, s);
    put_bbu(img, ORV3_BBU_STATUS, u->status);
    put_bbu(img, ORV3_BBU_MODE,
            res->discharging ? ORV3_MODE_DISCHARGE
            : u->charging    ? ORV3_MODE_CHARGING
                             : 0);
    put_bbu(img, ORV3_BBU_BATTERY_STATUS,
            ORV3_BATT_INITIALIZED | (res->discharging ? ORV3_BATT_DISCHARGING : 0) |
                /* a pack that discharges is no longer fully charged, even in
                 * the first instant before its energy has moved */
                (!res->discharging && res->wh_left >= res->energy_wh ? ORV3_BATT_FULL : 0) |
                (res->wh_left <= 0 ? ORV3_BATT_EMPTY : 0));
    for (int c = 0; c < BBU_CELLS; c++)
        put_bbu(img, ORV3_BBU_CELL1 + c, llround(cell_mv));
    for (int t = 0; t < 4; t++)
        put_bbu(img, ORV3_BBU_TEMP1 + t, res->discharging ? 30 : 25);
    put_bbu(img, ORV3_BBU_RSOC, llround(soc * 100));
    put_bbu(img, ORV3_BBU_ASOC, llround(soc * 100));
    put_bbu(img, ORV3_BBU_VOLTAGE, llround(pack_mv));
    put_bbu(img, ORV3_BBU_CURRENT, llround(current_ma));
    put_bbu(img, ORV3_BBU_AVG_CURRENT, llround(current_ma));
    put_bbu(img, ORV3_BBU_REMAINING_CAP, llround(full_mah * soc));
    put_bbu(img, ORV3_BBU_FULL_CAP, llround(full_mah));
    int64_t minutes = ORV3_BBU_NO_RUNTIME;
    if (res->discharging) {
        double rt = outage_runtime_s(res, res->wh_left, res->watts);
        minutes =
            isfinite(rt) ? (int64_t)fmin(rt / 60, ORV3_BBU_NO_RUNTIME - 1) : ORV3_BBU_NO_RUNTIME;
    }
    put_bbu(img, ORV3_BBU_RUN_TIME_TO_EMPTY, minutes);
    put_bbu(img, ORV3_BBU_AVG_TIME_TO_EMPTY, minutes);
    put_bbu(img, ORV3_BBU_CYCLE_COUNT, u->cycles);
    put_bbu(img, ORV3_BBU_DESIGN_CAP, llround(full_mah));
    put_bbu(img, ORV3_BBU_SOH, 100);
    put_bbu(img, ORV3_BBU_CHARGE_CURRENT, llround(u->charging ? current_ma : 0));
    put_bbu(img, ORV3_BBU_CHARGE_VOLTAGE, BBU_CELLS * BBU_CHARGE_CELL_MV);
    put_bbu(img, ORV3_BBU_DISCHARGE_CURRENT, llround(res->discharging ? -current_ma : 0));
    put_bbu(img, ORV3_BBU_BUS_VOLTAGE, ac ? BBU_BUS_PSU_MV : res->discharging ? BBU_BUS_BBU_MV : 0);
    put_bbu(img, ORV3_BBU_TEMP_INLET, 25);
    put_bbu(img, ORV3_BBU_TEMP_OUTLET, res->discharging || u->charging ? 28 : 25);
    put_bbu(img, ORV3_BBU_FAN_RPM, res->discharging || u->charging ? 6000 : 3000);
    put_bbu(img, ORV3_BBU_MAX_DISCHARGE_TIME,
            res->max_w > 0 ? llround(res->energy_wh * 3600 / res->max_w) : 0);
    put_bbu(img, ORV3_BBU_SHELF_POWER, llround(res->watts));
    put_bbu(img, ORV3_BBU_PSU_AC_OK, ac ? 1 : 0);
}

/* ---- Modbus --------------------------------------------------------------- */

static int chassis_server(const struct simdevs *d, int unit, int slot)
{
    return d->slot_server[d->slot_first[unit] + slot];
}

static const char *unit_name(const struct simdevs *d, int unit, char *buf, size_t len)
{
    const struct rack *r = &d->ph->r;
    switch (simdevs_kind(d, unit)) {
    case SIMDEVS_PSU:
        snprintf(buf, len, "unit %d (%s)", unit, r->psus[d->index[unit]].id);
        break;
    case SIMDEVS_SWITCH:
        snprintf(buf, len, "unit %d (switch)", unit);
        break;
    case SIMDEVS_CHASSIS:
        snprintf(buf, len, "unit %d (%s)", unit,
                 d->index[unit] < 0 ? "no chassis" : r->chassis[d->index[unit]]);
        break;
    case SIMDEVS_BBU:
        snprintf(buf, len, "unit %d (%s)", unit, r->reserves[d->index[unit]].id);
        break;
    default:
        snprintf(buf, len, "unit %d", unit);
        break;
    }
    return buf;
}

static int read_coils(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, uint8_t *bits)
{
    struct simdevs *d = ctx;
    const struct rack *r = &d->ph->r;
    switch (simdevs_kind(d, unit)) {
    case SIMDEVS_SWITCH:
        if ((uint32_t)addr + n > (uint32_t)d->npsus * 8)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++) {
            unsigned c = addr + k;
            bits[k] = r->psus[c / 8].bus == (int)(c % 8);
        }
        return 0;
    case SIMDEVS_CHASSIS:
        if ((uint32_t)addr + n > (uint32_t)d->nslots[unit])
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++)
            bits[k] = d->ph->srv[chassis_server(d, unit, (int)(addr + k))].powered;
        return 0;
    case SIMDEVS_PSU:
    case SIMDEVS_BBU:
        return MBSRV_EX_ILLEGAL_FUNCTION;
    default:
        return MBSRV_EX_GATEWAY_TARGET;
    }
}

static uint16_t slot_reg(const struct simdevs *d, int unit, unsigned reg)
{
    int i = chassis_server(d, unit, (int)(reg / RACKMOD_SLOT_FIELDS));
    const struct phys_server *s = &d->ph->srv[i];
    const struct rack_server *rs = &d->ph->r.servers[i];
    switch (reg % RACKMOD_SLOT_FIELDS) {
    case RACKMOD_SLOT_PRESENT:
        return s->present;
    case RACKMOD_SLOT_REQUEST_W:
        return s->present ? clamp16((uint64_t)llround((double)rs->power_mw / 1000)) : 0;
    case RACKMOD_SLOT_STATE:
        if (!s->powered)
            return RACKMOD_SLOT_OFF;
        return s->cap_mw > 0 && s->cap_mw < rs->power_mw ? RACKMOD_SLOT_CAPPED : RACKMOD_SLOT_ON;
    case RACKMOD_SLOT_CAP_W:
        return clamp16((uint64_t)(s->cap_mw / 1000));
    case RACKMOD_SLOT_DRAW_W:
        return clamp16((uint64_t)llround((double)s->draw_mw / 1000));
    case RACKMOD_SLOT_ASK:
        return s->ask;
    case RACKMOD_SLOT_CHANGES:
        return s->changes;
    case RACKMOD_SLOT_LOST:
        return s->lost;
    default:
        return 0;
    }
}

static int read_owner_epoch(const struct simdevs *d, int unit, uint16_t addr, uint16_t n,
                            uint16_t *regs)
{
    if ((uint32_t)addr + n > RACKMOD_OWNER_EPOCH + RACKMOD_EPOCH_WORDS)
        return MBSRV_EX_ILLEGAL_ADDRESS;
    uint16_t w[RACKMOD_EPOCH_WORDS];
    rackmod_epoch_put(d->owner_epoch[unit], w);
    memcpy(regs, w + (addr - RACKMOD_OWNER_EPOCH), n * sizeof(*regs));
    return 0;
}

static int read_regs(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, uint16_t *regs)
{
    struct simdevs *d = ctx;
    const struct rack *r = &d->ph->r;
    switch (simdevs_kind(d, unit)) {
    case SIMDEVS_PSU: {
        if (addr >= RACKMOD_PSU_STATE) { /* rackpower's extension */
            if ((uint32_t)addr + n > RACKMOD_PSU_STATE + RACKMOD_PSU_STATE_WORDS)
                return MBSRV_EX_ILLEGAL_ADDRESS;
            const struct rack_psu *q = &r->psus[d->index[unit]];
            uint16_t st[RACKMOD_PSU_STATE_WORDS] = {
                q->standby, (uint16_t)(q->share_ppm / (PHYS_PPM / RACKMOD_SHARE_SCALE))};
            memcpy(regs, st + (addr - RACKMOD_PSU_STATE), n * sizeof(*regs));
            return 0;
        }
        if (addr >= RACKMOD_OWNER_EPOCH)
            return read_owner_epoch(d, unit, addr, n, regs);
        if ((uint32_t)addr + n > SIMDEVS_PSU_NREGS)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        uint16_t img[SIMDEVS_PSU_NREGS];
        simdevs_psu_image(d, d->index[unit], img);
        memcpy(regs, img + addr, n * sizeof(*regs));
        return 0;
    }
    case SIMDEVS_BBU: {
        if ((uint32_t)addr + n > ORV3_BBU_NREGS)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        uint16_t img[ORV3_BBU_NREGS];
        simdevs_bbu_image(d, d->index[unit], img);
        memcpy(regs, img + addr, n * sizeof(*regs));
        return 0;
    }
    case SIMDEVS_SWITCH:
        if (addr >= RACKMOD_OWNER_EPOCH)
            return read_owner_epoch(d, unit, addr, n, regs);
        if ((uint32_t)addr + n > (uint32_t)d->npsus)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++)
            regs[k] = (uint16_t)(r->psus[addr + k].bus + 1);
        return 0;
    case SIMDEVS_CHASSIS:
        if (addr >= RACKMOD_OWNER_EPOCH)
            return read_owner_epoch(d, unit, addr, n, regs);
        if ((uint32_t)addr + n > (uint32_t)d->nslots[unit] * RACKMOD_SLOT_FIELDS)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++)
            regs[k] = slot_reg(d, unit, addr + k);
        return 0;
    default:
        return MBSRV_EX_GATEWAY_TARGET;
    }
}

/* A bare command (no epoch) to a fenced module is refused: it could come
 * from a primary that was replaced (rackmod.h "Fencing"). */
static bool bare_ok(struct simdevs *d, int unit, const char *name, const char *what, unsigned addr)
{
    uint64_t owner = simdevs_owner_epoch(d, unit);
    if (rackmod_bare_ok(owner))
        return true;
    phys_event(d->ph, PHYS_EV_ERROR, -1,
               "write %s %s %u refused: fenced by epoch %llu, a command must carry its epoch "
               "(register %d)",
               name, what, addr, (unsigned long long)owner, RACKMOD_FENCED_CMD);
    return false;
}

/* Checks one command of a fenced write without carrying it out: 0 or the
 * exception. w points at its words. */
static int fenced_cmd_check(struct simdevs *d, int unit, const uint16_t *w, const char *name)
{
    struct phys *ph = d->ph;
    const struct rack *r = &ph->r;
    if (simdevs_kind(d, unit) == SIMDEVS_PSU) {
        if ((w[0] == RACKMOD_PSU_OP_STANDBY && w[1] <= 1) ||
            (w[0] == RACKMOD_PSU_OP_SHARE && w[1] <= RACKMOD_SHARE_SCALE))
            return 0;
        phys_event(ph, PHYS_EV_ERROR, -1,
                   "fenced write %s refused: op %u = %u (1 standby 0/1, 2 share 0..%d)", name, w[0],
                   w[1], RACKMOD_SHARE_SCALE);
        return MBSRV_EX_ILLEGAL_VALUE;
    }
    if (simdevs_kind(d, unit) == SIMDEVS_SWITCH) {
        if (w[0] >= d->npsus) {
            phys_event(ph, PHYS_EV_ERROR, -1, "fenced write %s refused: no PSU %u", name, w[0]);
            return MBSRV_EX_ILLEGAL_ADDRESS;
        }
        int bus = (int)w[1] - 1;
        if (bus >= 0 && (bus >= r->nbuses || !(r->psus[w[0]].wired >> bus & 1))) {
            phys_event(ph, PHYS_EV_ERROR, -1,
                       "fenced write %s refused: %s has no bus position %u (bus + 1, 0 = none)",
                       name, r->psus[w[0]].id, w[1]);
            return MBSRV_EX_ILLEGAL_VALUE;
        }
        return 0;
    }
    if (w[0] >= d->nslots[unit]) {
        phys_event(ph, PHYS_EV_ERROR, -1, "fenced write %s refused: no slot %u", name, w[0]);
        return MBSRV_EX_ILLEGAL_ADDRESS;
    }
    int i = chassis_server(d, unit, w[0]);
    switch (w[1]) {
    case RACKMOD_OP_POWER:
        if (w[2] > 1) {
            phys_event(ph, PHYS_EV_ERROR, -1, "fenced write %s refused: power %u (0 or 1)", name,
                       w[2]);
            return MBSRV_EX_ILLEGAL_VALUE;
        }
        if (w[2] && !ph->srv[i].present) {
            phys_event(ph, PHYS_EV_ERROR, -1, "fenced write %s refused: slot %u (%s) is empty",
                       name, w[0], r->servers[i].id);
            return MBSRV_EX_ILLEGAL_VALUE;
        }
        return 0;
    case RACKMOD_OP_CAP_W:
        return 0;
    case RACKMOD_OP_CLEAR_ASK:
    case RACKMOD_OP_CLEAR_LOST:
        if (w[2] != 0) {
            phys_event(ph, PHYS_EV_ERROR, -1,
                       "fenced write %s refused: slot %u: op %u clears, its value must be 0", name,
                       w[0], w[1]);
            return MBSRV_EX_ILLEGAL_VALUE;
        }
        return 0;
    default:
        phys_event(ph, PHYS_EV_ERROR, -1, "fenced write %s refused: slot %u: no op %u", name, w[0],
                   w[1]);
        return MBSRV_EX_ILLEGAL_VALUE;
    }
}

static void fenced_cmd_do(struct simdevs *d, int unit, const uint16_t *w, const char *why)
{
    struct phys *ph = d->ph;
    if (simdevs_kind(d, unit) == SIMDEVS_PSU) {
        int psu = d->index[unit];
        if (w[0] == RACKMOD_PSU_OP_STANDBY)
            phys_standby(ph, psu, w[1] == 1, d->now_ns, why);
        else
            phys_share(ph, psu, (int64_t)w[1] * (PHYS_PPM / RACKMOD_SHARE_SCALE), d->now_ns, why);
        return;
    }
    if (simdevs_kind(d, unit) == SIMDEVS_SWITCH) {
        int psu = w[0];
        if (w[1] > 0) {
            phys_switch(ph, psu, w[1] - 1, true, d->now_ns, why);
            return;
        }
        int bus = phys_switch_target(ph, psu);
        if (bus >= 0)
            phys_switch(ph, psu, bus, false, d->now_ns, why);
        else
            phys_event(ph, PHYS_EV_NOTE, psu, "%s: %s is on no bus: nothing to do", why,
                       ph->r.psus[psu].id);
        return;
    }
    int i = chassis_server(d, unit, w[0]);
    switch (w[1]) {
    case RACKMOD_OP_POWER:
        phys_power(ph, i, w[2] == 1, d->now_ns, why);
        break;
    case RACKMOD_OP_CAP_W:
        phys_cap(ph, i, (int64_t)w[2] * 1000, d->now_ns, why);
        break;
    case RACKMOD_OP_CLEAR_ASK:
        phys_clear_ask(ph, i, d->now_ns, why);
        break;
    default:
        phys_clear_lost(ph, i, d->now_ns, why);
        break;
    }
}

/*
 * A write to the fence block of a switch or chassis module (or of a PSU:
 * rackpower's extension): the epoch, then
 * the commands, all checked before any is carried out (rackmod.h).
 */
static int fenced_write(struct simdevs *d, int unit, uint16_t addr, uint16_t n,
                        const uint16_t *regs, const char *name)
{
    struct phys *ph = d->ph;
    if (addr != RACKMOD_FENCED_CMD) {
        phys_event(ph, PHYS_EV_ERROR, -1,
                   "write %s reg %u refused: the owner epoch is read-only; fenced commands "
                   "are written at %d",
                   name, addr, RACKMOD_FENCED_CMD);
        return MBSRV_EX_ILLEGAL_ADDRESS;
    }
    enum simdevs_kind kind = simdevs_kind(d, unit);
    int per = kind == SIMDEVS_SWITCH ? RACKMOD_SW_CMD_WORDS
              : kind == SIMDEVS_PSU  ? RACKMOD_PSU_CMD_WORDS
                                     : RACKMOD_SLOT_CMD_WORDS;
    if (n < RACKMOD_EPOCH_WORDS || (n - RACKMOD_EPOCH_WORDS) % per != 0) {
        phys_event(ph, PHYS_EV_ERROR, -1,
                   "fenced write %s refused: %u words (4 epoch words, then %d per command)", name,
                   n, per);
        return MBSRV_EX_ILLEGAL_VALUE;
    }
    uint64_t epoch = rackmod_epoch_get(regs);
    uint64_t owner = d->owner_epoch[unit];
    if (!rackmod_fence_check(owner, epoch)) {
        phys_event(ph, PHYS_EV_ERROR, -1,
                   "fenced write %s refused: epoch %llu is lower than the owner epoch %llu", name,
                   (unsigned long long)epoch, (unsigned long long)owner);
        return MBSRV_EX_DEVICE_FAILURE;
    }
    const uint16_t *cmds = regs + RACKMOD_EPOCH_WORDS;
    int ncmds = (n - RACKMOD_EPOCH_WORDS) / per;
    for (int k = 0; k < ncmds; k++) {
        int ex = fenced_cmd_check(d, unit, cmds + k * per, name);
        if (ex)
            return ex;
    }
    rackmod_fence_accept(&d->owner_epoch[unit], epoch);
    if (epoch > owner)
        phys_event(ph, PHYS_EV_NOTE, -1, "fenced write %s: owner epoch %llu -> %llu", name,
                   (unsigned long long)owner, (unsigned long long)epoch);
    for (int k = 0; k < ncmds; k++) {
        const uint16_t *w = cmds + k * per;
        char why[160];
        if (kind == SIMDEVS_PSU)
            snprintf(why, sizeof(why), "fenced write %s (epoch %llu) op %u = %u", name,
                     (unsigned long long)epoch, w[0], w[1]);
        else if (kind == SIMDEVS_SWITCH)
            snprintf(why, sizeof(why), "fenced write %s (epoch %llu) psu %u position %u", name,
                     (unsigned long long)epoch, w[0], w[1]);
        else
            snprintf(why, sizeof(why), "fenced write %s (epoch %llu) slot %u op %u = %u", name,
                     (unsigned long long)epoch, w[0], w[1], w[2]);
        fenced_cmd_do(d, unit, w, why);
    }
    return 0;
}

static int write_coils(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, const uint8_t *bits)
{
    struct simdevs *d = ctx;
    struct phys *ph = d->ph;
    const struct rack *r = &ph->r;
    char name[64], why[128];
    unit_name(d, unit, name, sizeof(name));
    if (!bare_ok(d, unit, name, "coil", addr))
        return MBSRV_EX_DEVICE_FAILURE;
    switch (simdevs_kind(d, unit)) {
    case SIMDEVS_SWITCH:
        if ((uint32_t)addr + n > (uint32_t)d->npsus * 8)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++) {
            unsigned c = addr + k;
            int bus = (int)(c % 8);
            if (bus >= r->nbuses || !(r->psus[c / 8].wired >> bus & 1)) {
                if (bus >= r->nbuses)
                    phys_event(ph, PHYS_EV_ERROR, -1,
                               "write %s coil %u = %d refused: the rack has no bus %d", name, c,
                               bits[k], bus);
                else
                    phys_event(ph, PHYS_EV_ERROR, -1,
                               "write %s coil %u = %d refused: %s is not wired to bus %s", name, c,
                               bits[k], r->psus[c / 8].id, r->buses[bus]);
                return MBSRV_EX_ILLEGAL_VALUE;
            }
        }
        for (unsigned k = 0; k < n; k++) {
            unsigned c = addr + k;
            snprintf(why, sizeof(why), "write %s coil %u = %d", name, c, bits[k]);
            phys_switch(ph, (int)(c / 8), (int)(c % 8), bits[k], d->now_ns, why);
        }
        return 0;
    case SIMDEVS_CHASSIS:
        if ((uint32_t)addr + n > (uint32_t)d->nslots[unit])
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++) {
            int i = chassis_server(d, unit, (int)(addr + k));
            if (bits[k] && !ph->srv[i].present) {
                phys_event(ph, PHYS_EV_ERROR, -1,
                           "write %s coil %u = 1 refused: slot %u (%s) is empty", name, addr + k,
                           addr + k, r->servers[i].id);
                return MBSRV_EX_ILLEGAL_VALUE;
            }
        }
        for (unsigned k = 0; k < n; k++) {
            snprintf(why, sizeof(why), "write %s coil %u = %d", name, addr + k, bits[k]);
            phys_power(ph, chassis_server(d, unit, (int)(addr + k)), bits[k], d->now_ns, why);
        }
        return 0;
    case SIMDEVS_PSU:
    case SIMDEVS_BBU:
        return MBSRV_EX_ILLEGAL_FUNCTION;
    default:
        return MBSRV_EX_GATEWAY_TARGET;
    }
}

static int write_regs(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, const uint16_t *regs)
{
    struct simdevs *d = ctx;
    struct phys *ph = d->ph;
    char name[64], why[128];
    unit_name(d, unit, name, sizeof(name));
    switch (simdevs_kind(d, unit)) {
    case SIMDEVS_PSU:
        if (addr >= RACKMOD_OWNER_EPOCH) /* rackpower's extension: standby and share */
            return fenced_write(d, unit, addr, n, regs, name);
        if (addr < SIMDEVS_PSU_SETTINGS || (uint32_t)addr + n > SIMDEVS_PSU_SETTINGS_END) {
            phys_event(ph, PHYS_EV_ERROR, -1,
                       "write %s regs %u..%u refused: only 94..105 are writable", name, addr,
                       addr + n - 1u);
            return MBSRV_EX_ILLEGAL_ADDRESS;
        }
        int psu = d->index[unit];
        unsigned clock_reg = orv3_psu_fields[ORV3_PSU_UNIX_TIME].reg;
        if (addr <= clock_reg + 1 && addr + n > clock_reg) {
            /* A write of one word of the clock keeps the other where the
             * clock had counted it; then it counts from now. */
            uint32_t t = psu_clock(d, psu, d->now_ns);
            uint16_t *w = d->settings[psu] + (clock_reg - SIMDEVS_PSU_SETTINGS);
            w[0] = (uint16_t)(t >> 16);
            w[1] = (uint16_t)t;
            d->clock_set_ns[psu] = d->now_ns > 0 ? d->now_ns : 1;
        }
        for (unsigned k = 0; k < n; k++) {
            d->settings[psu][addr + k - SIMDEVS_PSU_SETTINGS] = regs[k];
            phys_event(ph, PHYS_EV_NOTE, d->index[unit], "write %s reg %u = %u: stored", name,
                       addr + k, regs[k]);
        }
        return 0;
    case SIMDEVS_CHASSIS:
        if (addr >= RACKMOD_OWNER_EPOCH)
            return fenced_write(d, unit, addr, n, regs, name);
        if ((uint32_t)addr + n > (uint32_t)d->nslots[unit] * RACKMOD_SLOT_FIELDS)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        if (!bare_ok(d, unit, name, "reg", addr))
            return MBSRV_EX_DEVICE_FAILURE;
        for (unsigned k = 0; k < n; k++) {
            unsigned field = (addr + k) % RACKMOD_SLOT_FIELDS;
            if (field != RACKMOD_SLOT_CAP_W && field != RACKMOD_SLOT_ASK &&
                field != RACKMOD_SLOT_LOST) {
                phys_event(ph, PHYS_EV_ERROR, -1,
                           "write %s reg %u refused: only CAP_W, ASK and LOST are writable", name,
                           addr + k);
                return MBSRV_EX_ILLEGAL_ADDRESS;
            }
            if (field == RACKMOD_SLOT_ASK && regs[k] != RACKMOD_ASK_NONE) {
                phys_event(ph, PHYS_EV_ERROR, -1,
                           "write %s reg %u = %u refused: an ask can only be cleared (0)", name,
                           addr + k, regs[k]);
                return MBSRV_EX_ILLEGAL_VALUE;
            }
            if (field == RACKMOD_SLOT_LOST && regs[k] != 0) {
                phys_event(ph, PHYS_EV_ERROR, -1,
                           "write %s reg %u = %u refused: the lost latch can only be cleared (0)",
                           name, addr + k, regs[k]);
                return MBSRV_EX_ILLEGAL_VALUE;
            }
        }
        for (unsigned k = 0; k < n; k++) {
            unsigned reg = addr + k;
            int i = chassis_server(d, unit, (int)(reg / RACKMOD_SLOT_FIELDS));
            snprintf(why, sizeof(why), "write %s reg %u = %u", name, reg, regs[k]);
            if (reg % RACKMOD_SLOT_FIELDS == RACKMOD_SLOT_CAP_W)
                phys_cap(ph, i, (int64_t)regs[k] * 1000, d->now_ns, why);
            else if (reg % RACKMOD_SLOT_FIELDS == RACKMOD_SLOT_LOST)
                phys_clear_lost(ph, i, d->now_ns, why);
            else
                phys_clear_ask(ph, i, d->now_ns, why);
        }
        return 0;
    case SIMDEVS_SWITCH:
        if (addr >= RACKMOD_OWNER_EPOCH)
            return fenced_write(d, unit, addr, n, regs, name);
        phys_event(ph, PHYS_EV_ERROR, -1, "write %s reg %u refused: read-only (write the coils)",
                   name, addr);
        return MBSRV_EX_ILLEGAL_ADDRESS;
    case SIMDEVS_BBU: {
        /* 313 clear fault: any value clears the status bits (104) set at serve time */
        unsigned clear = orv3_bbu_fields[ORV3_BBU_CLEAR_FAULT].reg;
        if (addr != clear || n != 1) {
            phys_event(ph, PHYS_EV_ERROR, -1,
                       "write %s regs %u..%u refused: only %u (clear fault) is writable", name,
                       addr, addr + n - 1u, clear);
            return MBSRV_EX_ILLEGAL_ADDRESS;
        }
        snprintf(why, sizeof(why), "write %s reg %u = %u", name, addr, regs[0]);
        phys_bbu_fault(ph, d->index[unit], 0, d->now_ns, why);
        return 0;
    }
    default:
        return MBSRV_EX_GATEWAY_TARGET;
    }
}

static int ident(void *ctx, uint8_t unit, char *buf, size_t len)
{
    struct simdevs *d = ctx;
    const struct rack *r = &d->ph->r;
    switch (simdevs_kind(d, unit)) {
    case SIMDEVS_PSU: {
        const struct rack_psu *q = &r->psus[d->index[unit]];
        snprintf(buf, len, "rackpower-sim ORv3 PSU %s %.0f W", q->id, (double)q->rated_mw / 1000);
        return 0;
    }
    case SIMDEVS_SWITCH:
        snprintf(buf, len, "rackpower-sim switch module: %d PSUs, %d buses", d->npsus, r->nbuses);
        return 0;
    case SIMDEVS_BBU: {
        const struct rack_reserve *res = &r->reserves[d->index[unit]];
        snprintf(buf, len, "rackpower-sim ORv3 BBU %s %.0f Wh %.0f W", res->id, res->energy_wh,
                 res->max_w);
        return 0;
    }
    case SIMDEVS_CHASSIS:
        snprintf(buf, len, "rackpower-sim chassis %s: %d slots",
                 d->index[unit] < 0 ? "(no chassis)" : r->chassis[d->index[unit]], d->nslots[unit]);
        return 0;
    default:
        return MBSRV_EX_GATEWAY_TARGET;
    }
}

const struct mbsrv_ops simdevs_ops = {
    .read_coils = read_coils,
    .read_regs = read_regs,
    .write_coils = write_coils,
    .write_regs = write_regs,
    .ident = ident,
};
