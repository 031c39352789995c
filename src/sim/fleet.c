/*
 * fleet.c - the fleet simulator: PSUs over days, ageing and failing
 * (docs/prediction.md "The fleet simulator" for the model and its sources).
 */
#include "fleet.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "splitmix.h"

/* ---- the mixes of causes -------------------------------------------------------- */

static const char *const cause_names[FLEET_NCAUSES] = {"capacitor", "fan", "efficiency", "sudden"};
/* Fixed before any training: shares of the failures, percent, by cause. */
static const int mix_pct[FLEET_NMIXES][FLEET_NCAUSES] = {
    [FLEET_MIX_TRAIN] = {35, 25, 15, 25},
    [FLEET_MIX_EVAL] = {20, 35, 20, 25},
    [FLEET_MIX_WIDE] = {25, 25, 25, 25},
};

const char *fleet_cause_name(enum fleet_cause c)
{
    return c >= 0 && c < FLEET_NCAUSES ? cause_names[c] : "none";
}

int fleet_mix_pct(enum fleet_mix m, enum fleet_cause c)
{
    if (m < 0 || m >= FLEET_NMIXES || c < 0 || c >= FLEET_NCAUSES)
        return 0;
    return mix_pct[m][c];
}

/* ---- the physics ----------------------------------------------------------------- */

double fleet_efficiency(double load_frac)
{
    static const double at[][2] = {{0.1, 0.90}, {0.2, 0.94}, {0.5, 0.975}, {1.0, 0.965}};
    if (!(load_frac > at[0][0]))
        return at[0][1];
    for (size_t k = 1; k < sizeof(at) / sizeof(*at); k++)
        if (load_frac <= at[k][0])
            return at[k - 1][1] + (at[k][1] - at[k - 1][1]) * (load_frac - at[k - 1][0]) /
                                      (at[k][0] - at[k - 1][0]);
    return at[3][1];
}

/* How the damage shows (docs/prediction.md): */
#define STANDBY_W 15.0      /* input with no output */
#define EFF_DROP_MAX 0.04   /* efficiency points lost at the end of an efficiency decline */
#define FAN_SLOW_MAX 0.45   /* share of speed a worn-out fan loses at a given duty */
#define FAN_MAX_RPM 16000.0 /* at full duty */
#define FAN_LOSS_FULL_W 120 /* loss at which the fan controller runs at full duty */
#define RTH_C_PER_W 0.30    /* hot spot above inlet per watt of loss, nominal airflow */
#define HOTSPOT_BASE_C 4.0  /* hot spot above inlet at no loss (neighbours' heat) */
#define ESR_HEAT_C 30.0     /* capacitor self-heating at the end of life, per (0.4 + load) */
#define ESR_SAG_V 1.5       /* output sag (ripple) at the end of life, at full load */
#define DROOP_V 0.3         /* droop of a healthy unit at full load */

void fleet_read(const struct fleet_age *a, double pout_w, double inlet_c, double thermal_k,
                struct fleet_reading *r)
{
    double frac = pout_w > 0 ? pout_w / FLEET_RATED_W : 0;
    double eff_drop = EFF_DROP_MAX * pow(fmin(fmax(a->eff, 0), 1), 1.5);
    double eff = fleet_efficiency(frac) - eff_drop;
    double pin = pout_w > 0 ? pout_w / eff : STANDBY_W;
    double loss = pin - fmax(pout_w, 0);
    double duty = fmin(fmax(0.25 + 0.75 * loss / FAN_LOSS_FULL_W, 0.25), 1.0);
    double fan_health = 1 - FAN_SLOW_MAX * pow(fmin(fmax(a->fan, 0), 1), 1.5);
    double esr = fmin(fmax(a->esr, 0), 1);
    /* less air through the unit: more degrees per watt */
    double rth = RTH_C_PER_W * thermal_k / pow(fan_health, 0.8);
    r->temp_c = inlet_c + HOTSPOT_BASE_C + rth * loss + ESR_HEAT_C * esr * esr * (0.4 + frac);
    r->inlet_c = inlet_c;
    r->fan_rpm = FAN_MAX_RPM * duty * fan_health;
    r->vout_v = FLEET_VOUT_V - DROOP_V * frac - ESR_SAG_V * esr * esr * frac;
    r->pout_w = fmax(pout_w, 0);
    r->iout_a = r->pout_w / r->vout_v;
    r->pin_w = pin;
    r->vin_v = FLEET_VIN_V;
    r->iin_a = pin / (FLEET_VIN_V * (frac < 0.2 ? 0.95 : 0.99));
    uint16_t sw = 0;
    if (r->temp_c >= FLEET_OT_WARN_C)
        sw |= FLEET_SW_TEMPERATURE;
    if (fan_health < FLEET_FAN_WARN_RATIO)
        sw |= FLEET_SW_FANS;
    if (r->vout_v < FLEET_VOUT_UV_WARN_V)
        sw |= FLEET_SW_VOUT;
    if (pout_w > 0 && eff_drop >= FLEET_EFF_WARN_DROP)
        sw |= FLEET_SW_INPUT;
    r->status_word = sw;
}

/* Damage at which a defect shows in telemetry (a few percent in temperature,
 * fan speed or efficiency): "predictable" is this at least 24 h ahead. */
#define VISIBLE_DAMAGE 0.3
#define DAMAGE_SEED 0.2 /* growth in proportion to damage + this: it accelerates */

void fleet_age(struct fleet_age *a, enum fleet_cause c, double rate_per_h, double dt_h,
               double temp_c)
{
    if (!(dt_h > 0))
        return;
    double arrhenius = exp2((fmin(temp_c, 120) - 40) / 10);
    double wear = FLEET_WEAR_PER_H * dt_h * arrhenius;
    a->esr += wear;
    a->fan += wear;
    a->eff += wear;
    double *x = c == FLEET_CAUSE_CAP   ? &a->esr
                : c == FLEET_CAUSE_FAN ? &a->fan
                : c == FLEET_CAUSE_EFF ? &a->eff
                                       : NULL;
    if (x && rate_per_h > 0)
        *x += rate_per_h * arrhenius * (*x + DAMAGE_SEED) * dt_h;
}

/* ---- the fleet ------------------------------------------------------------------- */

#define ONSET_MEAN_DAYS 250.0 /* mean time to a defect's onset: accelerated ~100x */
#define AGEING_MIN_DAYS 4.0   /* onset to failure at 40 °C, uniform in this range */
#define AGEING_MAX_DAYS 20.0
#define DROP_ROW 0.003    /* share of readings not taken */
#define BLANK_FIELD 0.005 /* share of readings with one field not read */
#define CML_GLITCH 0.0002 /* share of readings with a spurious CML bit */

struct unit {
    uint64_t rng;
    struct fleet_age age;
    int cause;      /* FLEET_NCAUSES: no defect in the run */
    double onset_s; /* from the start */
    double rate_per_h;
    double thermal_k, inlet_off_c, peak_w, idle_w;
    bool failed;
    double visible_s; /* when the defect's damage reached VISIBLE_DAMAGE, -1 not yet */
    char name[16];    /* ",psuNNNN" as written */
};

static double noise(uint64_t *s)
{
    /* triangular in -1..1: cheap, bounded, near enough to normal */
    return splitmix64_unit(s) + splitmix64_unit(s) - 1;
}

__attribute__((format(printf, 3, 4))) static int errf(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A fast CSV writer: 13 million rows of ten numbers in seconds need no printf. */
struct out {
    FILE *f;
    char buf[1 << 16];
    size_t n;
    bool bad;
};

static void out_flush(struct out *o)
{
    if (o->n && fwrite(o->buf, 1, o->n, o->f) != o->n)
        o->bad = true;
    o->n = 0;
}

static void out_str(struct out *o, const char *s)
{
    size_t l = strlen(s);
    memcpy(o->buf + o->n, s, l);
    o->n += l;
}

static void out_u64(struct out *o, uint64_t v)
{
    char t[24];
    int k = 0;
    do {
        t[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        o->buf[o->n++] = t[--k];
}

/* v with dec decimals (0..3), rounded half away from zero */
static void out_fixed(struct out *o, double v, int dec)
{
    static const double scale[] = {1, 10, 100, 1000};
    if (!isfinite(v))
        v = 0;
    long long m = llround(v * scale[dec]);
    if (m < 0) {
        o->buf[o->n++] = '-';
        m = -m;
    }
    long long p = (long long)scale[dec];
    out_u64(o, (uint64_t)(m / p));
    if (dec) {
        o->buf[o->n++] = '.';
        long long f = m % p;
        for (long long d = p / 10; d; d /= 10) {
            o->buf[o->n++] = (char)('0' + f / d);
            f %= d;
        }
    }
}

static void out_hex16(struct out *o, uint16_t v)
{
    static const char hx[] = "0123456789ABCDEF";
    o->buf[o->n++] = '0';
    o->buf[o->n++] = 'x';
    for (int s = 12; s >= 0; s -= 4)
        o->buf[o->n++] = hx[(v >> s) & 0xf];
}

#define NFIELDS 10 /* after t and psu */
#define FLEET_PI 3.14159265358979323846

int fleet_run(const struct fleet_opts *o, FILE *csv, FILE *labels, struct fleet_stats *st,
              char *err, size_t errlen)
{
    if (o->npsus < 1 || o->npsus > 100000)
        return errf(err, errlen, "psus: %d is not in 1..100000", o->npsus);
    if (!(o->days > 0) || o->days > 3650)
        return errf(err, errlen, "days: %g is not in (0, 3650]", o->days);
    if (o->interval_s < 1 || o->interval_s > 86400)
        return errf(err, errlen, "interval: %d s is not in 1..86400", o->interval_s);
    if (o->mix < 0 || o->mix >= FLEET_NMIXES)
        return errf(err, errlen, "mix: unknown");
    memset(st, 0, sizeof(*st));
    struct unit *u = calloc((size_t)o->npsus, sizeof(*u));
    struct out *w = malloc(sizeof(*w));
    if (!u || !w) {
        free(u);
        free(w);
        return errf(err, errlen, "out of memory");
    }
    w->f = csv;
    w->n = 0;
    w->bad = false;

    uint64_t master = o->seed ^ 0x6a09e667f3bcc908ull;
    double span_s = o->days * 86400;
    for (int i = 0; i < o->npsus; i++) {
        struct unit *x = &u[i];
        x->rng = splitmix64_next(&master);
        /* the unit's own constants */
        x->thermal_k = 0.9 + 0.2 * splitmix64_unit(&x->rng);
        x->inlet_off_c = -2 + 5 * splitmix64_unit(&x->rng);
        x->peak_w = FLEET_RATED_W * (0.45 + 0.2 * splitmix64_unit(&x->rng));
        x->idle_w = x->peak_w * (0.4 + 0.2 * splitmix64_unit(&x->rng));
        x->age.esr = 0.05 * splitmix64_unit(&x->rng); /* years in service */
        x->age.fan = 0.05 * splitmix64_unit(&x->rng);
        x->age.eff = 0.05 * splitmix64_unit(&x->rng);
        x->onset_s = -log(1 - splitmix64_unit(&x->rng)) * ONSET_MEAN_DAYS * 86400;
        int pick = (int)(splitmix64_unit(&x->rng) * 100);
        x->cause = FLEET_CAUSE_SUDDEN;
        for (int c = 0, acc = 0; c < FLEET_NCAUSES; c++) {
            acc += mix_pct[o->mix][c];
            if (pick < acc) {
                x->cause = c;
                break;
            }
        }
        double days =
            AGEING_MIN_DAYS + (AGEING_MAX_DAYS - AGEING_MIN_DAYS) * splitmix64_unit(&x->rng);
        /* damage from 0 to 1 at 40 °C: (1 + 1/seed) = e^(rate t) */
        x->rate_per_h = log(1 + 1 / DAMAGE_SEED) / (days * 24);
        if (x->onset_s >= span_s)
            x->cause = FLEET_NCAUSES; /* its defect comes after the run */
        x->visible_s = -1;
        snprintf(x->name, sizeof(x->name), ",psu%04d", i + 1);
    }

    long long start = FLEET_EPOCH_S + (long long)(o->seed % 1000) * 60;
    long long steps = (long long)(span_s / o->interval_s);
    double dt_h = o->interval_s / 3600.0;
    double walk = 0;
    out_str(w, "t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,"
               "status_word\n");
    if (labels)
        fputs("psu,failure_t,cause,predictable\n", labels);
    for (long long k = 0; k < steps; k++) {
        double t_s = (double)k * o->interval_s;
        double hour = fmod((double)(start % 86400) + t_s, 86400) / 3600;
        /* the rack's day: busiest at 15:00, warmest at 16:00, plus a slow walk */
        walk = 0.995 * walk + 0.01 * noise(&master);
        double u_rack = 0.5 + 0.28 * sin(2 * FLEET_PI * (hour - 9) / 24) + walk;
        double inlet_rack = 24 + 2.5 * sin(2 * FLEET_PI * (hour - 10) / 24);
        for (int i = 0; i < o->npsus; i++) {
            struct unit *x = &u[i];
            if (x->failed)
                continue;
            bool defect = x->cause < FLEET_NCAUSES && t_s >= x->onset_s;
            double *dmg = x->cause == FLEET_CAUSE_CAP   ? &x->age.esr
                          : x->cause == FLEET_CAUSE_FAN ? &x->age.fan
                          : x->cause == FLEET_CAUSE_EFF ? &x->age.eff
                                                        : NULL;
            if (defect && (x->cause == FLEET_CAUSE_SUDDEN || (dmg && *dmg >= 1))) {
                x->failed = true;
                long long ft = start + (long long)t_s;
                bool pred = x->cause != FLEET_CAUSE_SUDDEN && x->visible_s >= 0 &&
                            t_s - x->visible_s >= 86400;
                st->failures[x->cause]++;
                st->predictable += pred;
                if (labels)
                    fprintf(labels, "psu%04d,%lld,%s,%s\n", i + 1, ft, cause_names[x->cause],
                            pred ? "yes" : "no");
                continue;
            }
            double uu = fmin(fmax(u_rack + 0.04 * noise(&x->rng), 0), 1);
            double pout = x->idle_w + (x->peak_w - x->idle_w) * (2 * uu - pow(uu, 1.4));
            double inlet = inlet_rack + x->inlet_off_c + 0.2 * noise(&x->rng);
            struct fleet_reading r;
            fleet_read(&x->age, pout, inlet, x->thermal_k, &r);
            fleet_age(&x->age, defect ? x->cause : FLEET_NCAUSES, x->rate_per_h, dt_h, r.temp_c);
            if (defect && dmg && x->visible_s < 0 && *dmg >= VISIBLE_DAMAGE)
                x->visible_s = t_s;

            double roll = splitmix64_unit(&x->rng);
            long long t = start + (long long)t_s +
                          (long long)(splitmix64_unit(&x->rng) * (o->interval_s / 10));
            if (roll < DROP_ROW) {
                st->dropped++;
                continue;
            }
            int blank = roll < DROP_ROW + BLANK_FIELD ? (int)(noise(&x->rng) * 5 + 5) : -1;
            if (blank >= NFIELDS)
                blank = NFIELDS - 1;
            st->blanks += blank >= 0;
            if (splitmix64_unit(&x->rng) < CML_GLITCH)
                r.status_word |= FLEET_SW_CML;
            /* the sensors' noise */
            double vin = r.vin_v + 1.5 * noise(&x->rng);
            double pin = r.pin_w * (1 + 0.003 * noise(&x->rng));
            double pout_m = r.pout_w * (1 + 0.003 * noise(&x->rng));
            double vout = r.vout_v + 0.02 * noise(&x->rng);
            double vals[NFIELDS - 1] = {vin,
                                        r.iin_a * (1 + 0.005 * noise(&x->rng)),
                                        vout,
                                        r.iout_a * (1 + 0.005 * noise(&x->rng)),
                                        pin,
                                        pout_m,
                                        r.temp_c + 0.3 * noise(&x->rng),
                                        r.inlet_c,
                                        r.fan_rpm * (1 + 0.01 * noise(&x->rng))};
            static const int dec[NFIELDS - 1] = {1, 2, 3, 2, 1, 1, 1, 1, 0};
            if (w->n > sizeof(w->buf) - 256)
                out_flush(w);
            out_u64(w, (uint64_t)t);
            out_str(w, x->name);
            for (int f = 0; f < NFIELDS; f++) {
                w->buf[w->n++] = ',';
                if (f == blank)
                    continue;
                if (f < NFIELDS - 1)
                    out_fixed(w, vals[f], dec[f]);
                else
                    out_hex16(w, r.status_word);
            }
            w->buf[w->n++] = '\n';
            st->rows++;
        }
    }
    for (int i = 0; i < o->npsus; i++)
        st->ageing_at_end +=
            !u[i].failed && u[i].cause < FLEET_NCAUSES && u[i].cause != FLEET_CAUSE_SUDDEN;
    out_flush(w);
    bool bad = w->bad || fflush(csv) != 0 || ferror(csv) ||
               (labels && (fflush(labels) != 0 || ferror(labels)));
    free(u);
    free(w);
    if (bad)
        return errf(err, errlen, "write error");
    return 0;
}
