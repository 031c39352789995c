/*
 * simdevs.c - registers of the simulated PSUs, switch module and chassis
 * modules, read from and written to struct phys.
 */
#include "simdevs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simdev.h"

/* ORv3 PSU registers served (shared/reference/orv3-modbus.md). */
enum {
    REG_PART = 0,
    REG_MODEL = 8,
    REG_DATE = 16,
    REG_SERIAL = 24,
    REG_HW_REV = 44,
    REG_FW_REV = 48,
    REG_UPTIME = 52,
    REG_AC_CYCLES = 56,
    REG_AC_OUTAGES = 57,
    REG_ALARM = 60, /* 60..64 */
    REG_FAN0 = 67,
    REG_FAN1 = 68,
    REG_T_INLET = 69,
    REG_T_OUTLET = 70,
    REG_T_MAX = 71,
    REG_T_MIN = 72,
    REG_CRC_ERRORS = 75,
    REG_TIMEOUTS = 77,
    REG_VOUT = 79,
    REG_IOUT = 80,
    REG_ISHARE = 81,
    REG_POUT = 82,
    REG_VBULK = 83,
    REG_FIN = 84,
    REG_THD = 85,
    REG_PF = 86,
    REG_PIN = 87,
    REG_VIN = 88,
    REG_IIN = 89,
    REG_FAULTS = 90,
    REG_SETTING = 94,
    REG_BAUD = 95,
    REG_VIN_MIN = 101,
    REG_VIN_MAX = 102,
    REG_VSET_HIGH = 103,
    REG_VSET_LOW = 104,
};

uint16_t simdevs_enc_float(double value, int precision, bool is_signed)
{
    double raw = nearbyint(ldexp(value, precision));
    double lo = is_signed ? -32768 : 0, hi = is_signed ? 32767 : 65535;
    if (!(raw >= lo)) /* also NaN */
        raw = lo;
    if (raw > hi)
        raw = hi;
    return (uint16_t)(int32_t)raw;
}

void simdevs_enc_string(uint16_t *words, size_t nwords, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < nwords; i++) {
        unsigned char hi = 2 * i < len ? (unsigned char)s[2 * i] : ' ';
        unsigned char lo = 2 * i + 1 < len ? (unsigned char)s[2 * i + 1] : ' ';
        words[i] = (uint16_t)(hi << 8 | lo);
    }
}

static void put32(uint16_t *w, uint64_t v)
{
    if (v > 0xffffffffu)
        v = 0xffffffffu;
    w[0] = (uint16_t)(v >> 16);
    w[1] = (uint16_t)v;
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
    if (!d->slot_server || !d->server_unit || !d->server_slot || !d->settings) {
        simdevs_free(d);
        return -1;
    }
    d->kind[SIMDEV_SWITCH_UNIT] = SIMDEVS_SWITCH;
    d->npsus = r->npsus < SIMDEV_MAX_PSUS ? r->npsus : SIMDEV_MAX_PSUS;
    d->unserved_psus = r->npsus - d->npsus;
    for (int i = 0; i < d->npsus; i++) {
        int unit = simdev_psu_units[i];
        d->kind[unit] = SIMDEVS_PSU;
        d->index[unit] = i;
        uint16_t *s = d->settings[i];
        s[REG_SETTING - SIMDEVS_PSU_SETTINGS] = 1u << 11 | 1u << 9; /* current sharing, 51 V */
        s[REG_BAUD - SIMDEVS_PSU_SETTINGS] = clamp16((uint64_t)(baud > 0 ? baud : 0) / 100);
        s[REG_VIN_MIN - SIMDEVS_PSU_SETTINGS] = simdevs_enc_float(180.0, 6, false);
        s[REG_VIN_MAX - SIMDEVS_PSU_SETTINGS] = simdevs_enc_float(277.0, 6, false);
        s[REG_VSET_HIGH - SIMDEVS_PSU_SETTINGS] = simdevs_enc_float(51.0, 10, false);
        s[REG_VSET_LOW - SIMDEVS_PSU_SETTINGS] = simdevs_enc_float(48.0, 10, false);
    }
    /* chassis modules: servers without a chassis first (unit 9), then 10 + c */
    int next = 0;
    for (int c = -1; c < r->nchassis; c++) {
        int unit = c < 0 ? SIMDEV_LOOSE_CHASSIS_UNIT : SIMDEV_CHASSIS_UNIT_BASE + c;
        bool served = c < SIMDEV_MAX_CHASSIS;
        int first = next, n = 0;
        for (int i = 0; i < r->nservers; i++) {
            if (r->servers[i].chassis != c)
                continue;
            if (!served || n >= SIMDEV_MAX_SLOTS) {
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
    d->slot_server = d->server_unit = d->server_slot = NULL;
    d->settings = NULL;
}

enum simdevs_kind simdevs_kind(const struct simdevs *d, int unit)
{
    return unit >= 0 && unit < 256 ? (enum simdevs_kind)d->kind[unit] : SIMDEVS_NONE;
}

int simdevs_psu_unit(const struct simdevs *d, int psu)
{
    return psu >= 0 && psu < d->npsus ? simdev_psu_units[psu] : 0;
}

int simdevs_server_unit(const struct simdevs *d, int server, int *slot)
{
    if (server < 0 || server >= d->ph->r.nservers)
        return 0;
    if (slot)
        *slot = d->server_slot[server];
    return d->server_unit[server];
}

void simdevs_describe(const struct simdevs *d, char *buf, size_t len)
{
    const struct rack *r = &d->ph->r;
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < d->npsus && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s=%d ", r->psus[i].id, simdevs_psu_unit(d, i));
    if (o < len)
        o += (size_t)snprintf(buf + o, len - o, "switch=%d", SIMDEV_SWITCH_UNIT);
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
    simdevs_enc_string(img + REG_PART, 8, s);
    simdevs_enc_string(img + REG_MODEL, 8, "RPSIM-ORV3-PSU");
    simdevs_enc_string(img + REG_DATE, 8, "2024-01-15");
    snprintf(s, sizeof(s), "RPSIM-%s-%s", r->name, q->id);
    simdevs_enc_string(img + REG_SERIAL, 16, s);
    simdevs_enc_string(img + REG_HW_REV, 4, "A1");
    simdevs_enc_string(img + REG_FW_REV, 4, "1.0.0");
    put32(img + REG_UPTIME, (uint64_t)(p->up_ns / 1000000000));
    img[REG_AC_CYCLES] = clamp16(p->ac_cycles);
    img[REG_AC_OUTAGES] = clamp16(p->ac_outages);
    memcpy(img + REG_ALARM, p->alarm, sizeof(p->alarm));
    img[REG_FAN0] = clamp16((uint64_t)llround(p->fan_rpm[0]));
    img[REG_FAN1] = clamp16((uint64_t)llround(p->fan_rpm[1]));
    img[REG_T_INLET] = simdevs_enc_float(p->inlet_c, 7, true);
    img[REG_T_OUTLET] = simdevs_enc_float(p->outlet_c, 7, true);
    img[REG_T_MAX] = simdevs_enc_float(p->max_c, 7, true);
    img[REG_T_MIN] = simdevs_enc_float(p->min_c, 7, true);
    int unit = simdevs_psu_unit(d, psu);
    put32(img + REG_CRC_ERRORS, d->crc_errors[unit]);
    put32(img + REG_TIMEOUTS, 0);
    img[REG_VOUT] = simdevs_enc_float((double)p->vout_mv / 1000, 10, false);
    img[REG_IOUT] = simdevs_enc_float((double)p->iout_ma / 1000, 6, false);
    img[REG_ISHARE] = img[REG_IOUT];
    img[REG_POUT] = simdevs_enc_float((double)p->out_mw / 1000, 3, false);
    img[REG_VBULK] = simdevs_enc_float((double)p->vbulk_mv / 1000, 6, false);
    img[REG_FIN] = simdevs_enc_float(p->freq_hz, 0, false);
    img[REG_THD] = simdevs_enc_float(p->thd, 9, false);
    img[REG_PF] = simdevs_enc_float(p->pf, 9, false);
    img[REG_PIN] = simdevs_enc_float((double)p->pin_mw / 1000, 3, false);
    img[REG_VIN] = simdevs_enc_float((double)p->vin_mv / 1000, 6, false);
    img[REG_IIN] = simdevs_enc_float((double)p->iin_ma / 1000, 10, false);
    img[REG_FAULTS] = clamp16(p->fault_count);
    memcpy(img + SIMDEVS_PSU_SETTINGS, d->settings[psu], sizeof(d->settings[psu]));
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
        return MBSRV_EX_ILLEGAL_FUNCTION;
    default:
        return MBSRV_EX_GATEWAY_TARGET;
    }
}

static uint16_t slot_reg(const struct simdevs *d, int unit, unsigned reg)
{
    int i = chassis_server(d, unit, (int)(reg / SIMDEV_SLOT_FIELDS));
    const struct phys_server *s = &d->ph->srv[i];
    const struct rack_server *rs = &d->ph->r.servers[i];
    switch (reg % SIMDEV_SLOT_FIELDS) {
    case SIMDEV_SLOT_PRESENT:
        return s->present;
    case SIMDEV_SLOT_REQUEST_W:
        return s->present ? clamp16((uint64_t)llround((double)rs->power_mw / 1000)) : 0;
    case SIMDEV_SLOT_STATE:
        if (!s->powered)
            return SIMDEV_OFF;
        return s->cap_mw > 0 && s->cap_mw < rs->power_mw ? SIMDEV_CAPPED : SIMDEV_ON;
    case SIMDEV_SLOT_CAP_W:
        return clamp16((uint64_t)(s->cap_mw / 1000));
    case SIMDEV_SLOT_DRAW_W:
        return clamp16((uint64_t)llround((double)s->draw_mw / 1000));
    case SIMDEV_SLOT_ASK:
        return s->ask;
    case SIMDEV_SLOT_CHANGES:
        return s->changes;
    default:
        return 0;
    }
}

static int read_regs(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, uint16_t *regs)
{
    struct simdevs *d = ctx;
    const struct rack *r = &d->ph->r;
    switch (simdevs_kind(d, unit)) {
    case SIMDEVS_PSU: {
        if ((uint32_t)addr + n > SIMDEVS_PSU_NREGS)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        uint16_t img[SIMDEVS_PSU_NREGS];
        simdevs_psu_image(d, d->index[unit], img);
        memcpy(regs, img + addr, n * sizeof(*regs));
        return 0;
    }
    case SIMDEVS_SWITCH:
        if ((uint32_t)addr + n > (uint32_t)d->npsus)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++)
            regs[k] = (uint16_t)(r->psus[addr + k].bus + 1);
        return 0;
    case SIMDEVS_CHASSIS:
        if ((uint32_t)addr + n > (uint32_t)d->nslots[unit] * SIMDEV_SLOT_FIELDS)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++)
            regs[k] = slot_reg(d, unit, addr + k);
        return 0;
    default:
        return MBSRV_EX_GATEWAY_TARGET;
    }
}

static int write_coils(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, const uint8_t *bits)
{
    struct simdevs *d = ctx;
    struct phys *ph = d->ph;
    const struct rack *r = &ph->r;
    char name[64], why[128];
    unit_name(d, unit, name, sizeof(name));
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
        if (addr < SIMDEVS_PSU_SETTINGS || (uint32_t)addr + n > SIMDEVS_PSU_NREGS) {
            phys_event(ph, PHYS_EV_ERROR, -1,
                       "write %s regs %u..%u refused: only 94..104 are writable", name, addr,
                       addr + n - 1u);
            return MBSRV_EX_ILLEGAL_ADDRESS;
        }
        for (unsigned k = 0; k < n; k++) {
            d->settings[d->index[unit]][addr + k - SIMDEVS_PSU_SETTINGS] = regs[k];
            phys_event(ph, PHYS_EV_NOTE, d->index[unit], "write %s reg %u = %u: stored", name,
                       addr + k, regs[k]);
        }
        return 0;
    case SIMDEVS_CHASSIS:
        if ((uint32_t)addr + n > (uint32_t)d->nslots[unit] * SIMDEV_SLOT_FIELDS)
            return MBSRV_EX_ILLEGAL_ADDRESS;
        for (unsigned k = 0; k < n; k++) {
            unsigned field = (addr + k) % SIMDEV_SLOT_FIELDS;
            if (field != SIMDEV_SLOT_CAP_W && field != SIMDEV_SLOT_ASK) {
                phys_event(ph, PHYS_EV_ERROR, -1,
                           "write %s reg %u refused: only CAP_W and ASK are writable", name,
                           addr + k);
                return MBSRV_EX_ILLEGAL_ADDRESS;
            }
            if (field == SIMDEV_SLOT_ASK && regs[k] != SIMDEV_ASK_NONE) {
                phys_event(ph, PHYS_EV_ERROR, -1,
                           "write %s reg %u = %u refused: an ask can only be cleared (0)", name,
                           addr + k, regs[k]);
                return MBSRV_EX_ILLEGAL_VALUE;
            }
        }
        for (unsigned k = 0; k < n; k++) {
            unsigned reg = addr + k;
            int i = chassis_server(d, unit, (int)(reg / SIMDEV_SLOT_FIELDS));
            snprintf(why, sizeof(why), "write %s reg %u = %u", name, reg, regs[k]);
            if (reg % SIMDEV_SLOT_FIELDS == SIMDEV_SLOT_CAP_W)
                phys_cap(ph, i, (int64_t)regs[k] * 1000, d->now_ns, why);
            else
                phys_clear_ask(ph, i, d->now_ns, why);
        }
        return 0;
    case SIMDEVS_SWITCH:
        phys_event(ph, PHYS_EV_ERROR, -1, "write %s reg %u refused: read-only (write the coils)",
                   name, addr);
        return MBSRV_EX_ILLEGAL_ADDRESS;
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
