/*
 * driver.c - the drivers this build has, and the report helpers they share.
 */
#include "driver.h"
#include "telemetry_csv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hwdev.h"
#include "ipmi.h"
#include "mbdev.h"
#include "nut.h"
#include "simdrv.h"
#include "grow.h"

const struct driver_ops *driver_find(enum rackfile_device_kind kind)
{
    switch (kind) {
    case RACKFILE_DEV_SIM:
        return &simdrv_ops;
    case RACKFILE_DEV_MODBUS_TCP:
        return &mbdev_tcp_ops;
    case RACKFILE_DEV_MODBUS_RTU:
        return &mbdev_rtu_ops;
    case RACKFILE_DEV_HWMON:
        return &hwdev_ops;
    case RACKFILE_DEV_IPMI:
        return &ipmi_ops;
    case RACKFILE_DEV_NUT:
        return &nut_ops;
    }
    return NULL;
}

/* Grows an array to hold one more; -1 when out of memory. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    return grow_to(v, cap, n + 1, size, 16, 0);
}

int driver_report_input(struct driver_report *rep, enum policy_input_kind kind, int index,
                        int64_t watts_mw)
{
    if (grow((void **)&rep->inputs, &rep->inputs_cap, rep->ninputs, sizeof(*rep->inputs)) ||
        grow((void **)&rep->input_notes, &rep->input_notes_cap, rep->ninputs,
             sizeof(*rep->input_notes)))
        return -1;
    rep->input_notes[rep->ninputs][0] = '\0';
    rep->inputs[rep->ninputs++] =
        (struct policy_input){.kind = kind, .index = index, .watts_mw = watts_mw};
    return 0;
}

int driver_report_input_note(struct driver_report *rep, enum policy_input_kind kind, int index,
                             int64_t watts_mw, const char *fmt, ...)
{
    if (driver_report_input(rep, kind, index, watts_mw))
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->input_notes[rep->ninputs - 1], sizeof(*rep->input_notes), fmt, ap);
    va_end(ap);
    return 0;
}

int driver_report_psu(struct driver_report *rep, const struct driver_psu_reading *x)
{
    if (grow((void **)&rep->psus, &rep->psus_cap, rep->npsus, sizeof(*rep->psus)))
        return -1;
    rep->psus[rep->npsus++] = *x;
    return 0;
}

struct driver_psu_reading driver_psu_unknown(int psu)
{
    return (struct driver_psu_reading){.psu = psu,
                                       .out_mw = -1,
                                       .in_mw = -1,
                                       .out_mv = -1,
                                       .out_ma = -1,
                                       .in_mv = -1,
                                       .in_ma = -1,
                                       .temp_mc = -1,
                                       .inlet_mc = -1,
                                       .fan_rpm = -1,
                                       .status_word = -1};
}

/* A figure in milli-units as the history's unit; -1 is not read. */
static double milli(int64_t v)
{
    return v < 0 ? NAN : (double)v / 1000;
}

void driver_psu_row(const struct driver_psu_reading *x, int64_t t, struct tcsv_row *row)
{
    row->t = t;
    row->psu[0] = '\0';
    row->v[TCSV_VIN_V] = milli(x->in_mv);
    row->v[TCSV_IIN_A] = milli(x->in_ma);
    row->v[TCSV_VOUT_V] = milli(x->out_mv);
    row->v[TCSV_IOUT_A] = milli(x->out_ma);
    row->v[TCSV_PIN_W] = milli(x->in_mw);
    row->v[TCSV_POUT_W] = milli(x->out_mw);
    row->v[TCSV_TEMP_C] = milli(x->temp_mc);
    row->v[TCSV_INLET_C] = milli(x->inlet_mc);
    row->v[TCSV_FAN_RPM] = x->fan_rpm < 0 ? NAN : (double)x->fan_rpm;
    row->status_word = x->status_word < 0 ? -1 : x->status_word & 0xffff;
}

int driver_report_unit(struct driver_report *rep, const struct driver_unit_stats *u)
{
    if (grow((void **)&rep->units, &rep->units_cap, rep->nunits, sizeof(*rep->units)))
        return -1;
    rep->units[rep->nunits++] = *u;
    return 0;
}

void driver_report_note(struct driver_report *rep, const char *fmt, ...)
{
    size_t len = strlen(rep->note);
    if (len && len + 2 < sizeof(rep->note)) {
        memcpy(rep->note + len, "; ", 3);
        len += 2;
    }
    if (len + 1 >= sizeof(rep->note))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->note + len, sizeof(rep->note) - len, fmt, ap);
    va_end(ap);
}

int driver_report_found(struct driver_report *rep, int server, int64_t cap_mw)
{
    if (grow((void **)&rep->found, &rep->found_cap, rep->nfound, sizeof(*rep->found)))
        return -1;
    rep->found[rep->nfound++] = (struct driver_found){.server = server, .cap_mw = cap_mw};
    return 0;
}

int driver_report_read(struct driver_report *rep, int server)
{
    if (grow((void **)&rep->read, &rep->read_cap, rep->nread, sizeof(*rep->read)))
        return -1;
    rep->read[rep->nread++] = server;
    return 0;
}

int driver_report_reserve(struct driver_report *rep, const struct driver_reserve_reading *x)
{
    if (grow((void **)&rep->reserves, &rep->reserves_cap, rep->nreserves, sizeof(*x)))
        return -1;
    rep->reserves[rep->nreserves++] = *x;
    return 0;
}

int driver_report_psu_state(struct driver_report *rep, int psu, bool standby, int64_t share_ppm,
                            const char *fmt, ...)
{
    if (grow((void **)&rep->psu_states, &rep->psu_states_cap, rep->npsu_states,
             sizeof(*rep->psu_states)))
        return -1;
    struct driver_psu_state *x = &rep->psu_states[rep->npsu_states++];
    *x = (struct driver_psu_state){.psu = psu, .standby = standby, .share_ppm = share_ppm};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->why, sizeof(x->why), fmt, ap);
    va_end(ap);
    return 0;
}

void driver_report_clear(struct driver_report *rep)
{
    rep->npsu_states = 0;
    rep->no_standby[0] = '\0';
    rep->nreserves = 0;
    rep->nread = 0;
    rep->nfound = 0;
    rep->ninputs = 0;
    rep->npsus = 0;
    rep->nunits = 0;
    rep->fenced_by = 0;
    rep->note[0] = '\0';
}

void driver_report_free(struct driver_report *rep)
{
    free(rep->inputs);
    free(rep->input_notes);
    free(rep->psus);
    free(rep->units);
    free(rep->found);
    free(rep->read);
    free(rep->reserves);
    free(rep->psu_states);
    *rep = (struct driver_report){0};
}
