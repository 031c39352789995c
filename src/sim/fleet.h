/*
 * fleet.h - a fleet of simulated PSUs over days: a daily load and inlet
 * temperature, the conversion loss of the efficiency curve, and ageing that
 * shows in the telemetry before the failure it leads to (capacitor ESR, fan
 * wear, efficiency decline), beside failures that give no warning. It writes
 * the history CSV of docs/prediction.md and a labels file: the data the
 * failure prediction is trained and measured on.
 *
 * Pure and seeded (splitmix.h): the same options give the same bytes. The
 * physics (fleet_read, fleet_age) is shared with rackpower-sim serve's
 * --ageing-rate. docs/prediction.md "The fleet simulator" is the model.
 */
#ifndef FLEET_H
#define FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The simulated unit: an ORv3-like rectifier, like rackpower-sim serve's. */
#define FLEET_RATED_W 3000.0
#define FLEET_VOUT_V 51.0 /* at no load */
#define FLEET_VIN_V 230.0
/* The first reading: 2026-01-01 00:00:00 UTC, plus seed % 1000 minutes. */
#define FLEET_EPOCH_S 1767225600LL

/* What ends a unit's life. The first three age first and show it. */
enum fleet_cause {
    FLEET_CAUSE_CAP,    /* electrolytic capacitor ESR rise */
    FLEET_CAUSE_FAN,    /* fan bearing wear */
    FLEET_CAUSE_EFF,    /* conversion efficiency decline (PFC, magnetics) */
    FLEET_CAUSE_SUDDEN, /* no warning: a shorted switch, a surge, firmware */
    FLEET_NCAUSES
};

/* The fixed mixes of causes (shares of failures, percent). "train" and
 * "wide" (every cause an equal share, so that no ageing cause is rare in
 * training) are what the shipped model learns on; "eval" is the different mix
 * it is measured on. Never tune one on the other. */
enum fleet_mix { FLEET_MIX_TRAIN, FLEET_MIX_EVAL, FLEET_MIX_WIDE, FLEET_NMIXES };

const char *fleet_cause_name(enum fleet_cause c);
/* The share of cause c in mix m, percent. */
int fleet_mix_pct(enum fleet_mix m, enum fleet_cause c);

/* The ageing of one unit: damage per mechanism, 0 new, 1 the failure. */
struct fleet_age {
    double esr; /* capacitor ESR rise */
    double fan; /* fan wear */
    double eff; /* efficiency decline */
};

/* One reading, in engineering units. */
struct fleet_reading {
    double vin_v, iin_a, vout_v, iout_a, pin_w, pout_w, temp_c, inlet_c, fan_rpm;
    uint16_t status_word; /* PMBus STATUS_WORD */
};

/* STATUS_WORD bits the simulated units raise (pmbus-hwmon reference). */
#define FLEET_SW_VOUT 0x8000u
#define FLEET_SW_INPUT 0x2000u
#define FLEET_SW_FANS 0x0400u
#define FLEET_SW_TEMPERATURE 0x0004u
#define FLEET_SW_CML 0x0002u

/* Warning thresholds behind those bits. */
#define FLEET_OT_WARN_C 60.0      /* TEMPERATURE: hot-spot over temperature warning */
#define FLEET_FAN_WARN_RATIO 0.62 /* FANS: speed below this share of the commanded */
#define FLEET_VOUT_UV_WARN_V 50.3 /* VOUT: output under voltage warning */
#define FLEET_EFF_WARN_DROP 0.03  /* INPUT: input power over the curve by this much */

/* Efficiency at a load (share of rated output): 80 PLUS Titanium at 10 and
 * 20 % (90, 94 %), ORv3 at 50 and 100 % (97.5, 96.5 %), linear between,
 * flat outside. */
double fleet_efficiency(double load_frac);

/* The readings of a unit of age *a delivering pout_w with air at inlet_c,
 * noise-free (the fleet adds its noise). thermal_k scales its thermal
 * resistance (1 = nominal; units differ by a few percent). */
void fleet_read(const struct fleet_age *a, double pout_w, double inlet_c, double thermal_k,
                struct fleet_reading *out);

/* Ageing of a unit with a defect in mechanism c over dt_h hours at hot-spot
 * temperature temp_c: damage grows in proportion to itself plus a seed
 * (it accelerates) and doubles in speed every 10 °C (Arrhenius), at rate_per_h
 * at 40 °C. A unit without a defect ages at FLEET_WEAR_PER_H in each. */
#define FLEET_WEAR_PER_H (0.05 / 8760.0) /* 5 % of a life per year of service */
void fleet_age(struct fleet_age *a, enum fleet_cause c, double rate_per_h, double dt_h,
               double temp_c);

struct fleet_opts {
    int npsus;
    double days;
    uint64_t seed;
    int interval_s;
    enum fleet_mix mix;
};

struct fleet_stats {
    uint64_t rows;    /* readings written */
    uint64_t dropped; /* readings not taken (no row) */
    uint64_t blanks;  /* single fields left empty */
    int failures[FLEET_NCAUSES];
    int predictable;   /* failures shown at least 24 h ahead */
    int ageing_at_end; /* defective units still running at the end (not labelled) */
};

/* Writes the history CSV to csv and, when labels is not NULL, the labels
 * (header psu,failure_t,cause,predictable). Returns 0, or -1 with a message
 * (bad options, a write error). */
int fleet_run(const struct fleet_opts *o, FILE *csv, FILE *labels, struct fleet_stats *st,
              char *err, size_t errlen);

#endif
