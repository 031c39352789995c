/*
 * risk.h - the PSU failure-risk model (issue 11, section 2; docs/prediction.md):
 * per PSU, a sliding window of history rows -> features -> a logistic
 * regression -> the probability of failure within the horizon and an
 * estimated time to failure; the model file (plain text) read and written;
 * the fit (IRLS) from labelled feature vectors; ORv3 alarm registers 60-64
 * mapped onto PMBus STATUS_WORD bits. Pure: no I/O, the tools read files.
 */
#ifndef RISK_H
#define RISK_H

#include <stddef.h>
#include <stdint.h>

#include "telemetry_csv.h"

/* The features, in the order of the model file's and the fit's vectors. */
enum risk_feature {
    RISK_F_RTH,         /* (temp - inlet) / (pin - pout), °C/W: thermal resistance */
    RISK_F_RTH_TREND,   /* its least-squares slope over the window, °C/W per day */
    RISK_F_FAN_PER_C,   /* fan rpm / (temp - inlet): a worn fan turns slower for the heat */
    RISK_F_EFF,         /* pout / pin */
    RISK_F_EFF_TREND,   /* its slope, per day */
    RISK_F_SAG,         /* -d(vout)/d(iout), mV/A: output sag under load */
    RISK_F_WARN_SHARE,  /* share of readings with a warning bit in STATUS_WORD */
    RISK_F_WARN_EVENTS, /* times a warning bit was raised in the window */
    RISK_F_KH_SERVICE,  /* thousands of hours since the PSU's first reading */
    RISK_F_LOSS_TREND,  /* slope of the loss at like output power, share of its mean per day */
    RISK_F_RISE_TREND,  /* slope of (temp - inlet) at like loss, °C per day */
    RISK_NFEATURES
};

const char *risk_feature_name(int f);
/* What the feature says, for a reason line ("thermal resistance rising"). */
const char *risk_feature_words(int f);

/* STATUS_WORD bits counted as warnings: VOUT, IOUT/POUT, INPUT, MFR, FANS,
 * OTHER, VOUT_OV, IOUT_OC, VIN_UV, TEMPERATURE, CML (not OFF, BUSY,
 * POWER_GOOD#, UNKNOWN, NONE_OF_ABOVE: those say the PSU is off or failed). */
#define RISK_WARN_MASK 0xf63eu

/* ORv3 PSU alarm registers 60 (general), 61 (PFC), 62 (DCDC), 63 (temperature),
 * 64 (communication) as the STATUS_WORD a PMBus PSU would report
 * (docs/prediction.md "ORv3 alarms as STATUS_WORD"). */
uint16_t risk_orv3_status_word(uint16_t r60, uint16_t r61, uint16_t r62, uint16_t r63,
                               uint16_t r64);

/* Version 2 added persist_s; version 3 the features loss_trend_day and
 * rise_trend_c_day. Older files still read: persist_s 0 (version 1), the
 * version 3 features with no weight (versions 1 and 2). */
#define RISK_MODEL_VERSION 3

struct risk_model {
    int64_t horizon_s; /* the probability is of a failure within this */
    int64_t window_s;  /* features are over the last window_s of readings */
    double threshold;  /* at risk from this probability (rackpower-predict --threshold) */
    int64_t persist_s; /* ... held at every reading for this long (0: at once; risk_alarm_step) */
    double intercept;
    double mean[RISK_NFEATURES];  /* standardisation: z = (x - mean) / scale */
    double scale[RISK_NFEATURES]; /* > 0 */
    double coef[RISK_NFEATURES];
};

/* Parses a model file's text (len bytes). 0, or -1 with err naming the line. */
int risk_model_parse(const char *text, size_t len, struct risk_model *m, char *err, size_t errlen);
/* Writes the model as a file's text; its length, or -1 if buf is too small. */
int risk_model_format(const struct risk_model *m, char *buf, size_t len);

/* The risk beyond which the time to failure is not shortened further:
 * ttf_s = horizon_s / -ln(1 - min(risk, this)). */
#define RISK_TTF_MAX_P 0.99

/* The fewest readings, and the shortest span as a share of the window, for
 * which features are computed: before that the PSU has no risk. */
#define RISK_MIN_READINGS 6
#define RISK_MIN_SPAN_SHARE 0.25

/* One reading's derived values (NaN = not available). */
struct risk_reading {
    int64_t t;
    double rth, eff, fanr, iout, vout;
    double loss, pout_kw, rise; /* W, kW, °C: the regressions at like load */
    int status_read, warn, warn_raised;
};

/* Running least-squares sums of y against x. */
struct risk_lin {
    double n, sx, sy, sxx, sxy;
};

/* Running least-squares sums of y against time t and a covariate u, for the
 * slope in t at like u (a trend the daily load swing does not drive). */
struct risk_lin2 {
    double n, st, su, sy, stt, suu, stu, sty, suy;
};

/* A PSU's alarm state (risk_alarm_step below). */
struct risk_alarm {
    int at_risk;
    int above; /* the risk has been at or above threshold since above_t */
    int64_t above_t;
};

/* One PSU's window. */
struct risk_psu {
    char id[TCSV_ID_LEN];
    int64_t first_t, last_t;
    int32_t last_warn; /* -1 before the first status read */
    struct risk_reading *ring;
    size_t cap, head, n; /* ring of n readings, oldest at head */
    size_t evicted;      /* since the sums were last recomputed */
    double xref_day;     /* x of the regressions is (t / 86400) - xref_day */
    struct risk_lin rth, eff, sag;
    struct risk_lin2 loss, rise; /* loss against t and pout; rise against t and loss */
    double fan_n, fan_sum, warn_n, warn_sum, raised_sum;
    struct risk_alarm alarm; /* its episode (risk_fleet_step) */
};

/* All PSUs seen, by id. */
struct risk_fleet {
    int64_t window_s;
    struct risk_psu *psus;
    size_t npsus, cap;
    int32_t *slots; /* open addressing: index into psus, -1 empty */
    size_t nslots;
};

void risk_fleet_init(struct risk_fleet *f, int64_t window_s);
void risk_fleet_free(struct risk_fleet *f);
/* Adds a row (rows of one PSU in time order; an older row than the PSU's last
 * is refused). The PSU's index, or -1 with err (out of memory, out of order). */
int risk_fleet_add(struct risk_fleet *f, const struct tcsv_row *row, char *err, size_t errlen);
/* The PSU's features now (NaN = not enough data for that one). 0, or -1 when
 * the window holds too little for any (RISK_MIN_READINGS, RISK_MIN_SPAN_SHARE). */
int risk_features(const struct risk_fleet *f, int psu, double x[RISK_NFEATURES]);

struct risk_out {
    double risk;   /* probability of failure within the horizon */
    double ttf_s;  /* estimated time to failure */
    int top;       /* the feature that adds most to the risk, or -1 */
    double top_x;  /* its value */
    double top_sd; /* its standardised value */
};

/* Risk from features (NaN features count as the mean). The time to failure
 * assumes a constant hazard over the horizon: ttf = horizon / -ln(1 - risk). */
void risk_eval(const struct risk_model *m, const double x[RISK_NFEATURES], struct risk_out *o);

/* Episodes: at risk from threshold, no longer at risk below threshold - 0.1
 * (hysteresis, so that a risk hovering at the threshold is one episode).
 * Returns +1 when an episode starts, -1 when it ends, else 0. */
#define RISK_HYSTERESIS 0.1
int risk_episode_step(int *at_risk, double risk, double threshold);

/* The alarm rule of a model with persistence: an episode starts when the risk
 * has been at or above threshold at every reading for persist_s or more (so a
 * PSU is at risk after a hot afternoon only if it stays so); it ends, as
 * above, below threshold - RISK_HYSTERESIS. With persist_s 0 it is
 * risk_episode_step. Zero-initialise; feed one PSU's readings in time order.
 * Returns +1 when an episode starts, -1 when it ends, else 0. */
int risk_alarm_step(struct risk_alarm *a, int64_t t, double risk, double threshold,
                    int64_t persist_s);
/*
 * One reading through the model, as rackpower-predict replays a file and
 * rackpowerd runs live: the row is added to its PSU's window (risk_fleet_add),
 * the PSU's features evaluated (risk_eval) and its episode stepped
 * (risk_alarm_step at threshold and the model's persist_s, its state in the
 * PSU's alarm). *psu
 * gets the PSU's index (-1 on error), o its risk. Returns +1 when an episode
 * starts, -1 when it ends, 0 otherwise (also when the window holds too
 * little for features: o->risk is then NaN), or -2 with err (out of memory,
 * out of time order).
 */
int risk_fleet_step(struct risk_fleet *f, const struct risk_model *m, double threshold,
                    const struct tcsv_row *row, int *psu, struct risk_out *o, char *err,
                    size_t errlen);

/* Why a risk is what it is, in words: "thermal resistance rising:
 * rth_trend_c_per_w_day=0.0123 (+3.1 sd)" (the feature that adds most), or
 * "the model's base rate" when none adds. */
void risk_reason(const struct risk_out *o, char *buf, size_t len);

/* Fits the model's intercept, means, scales and coefficients from n feature
 * vectors x (n * RISK_NFEATURES, NaN = missing) with labels y (1 = failed
 * within the horizon) by IRLS (Newton) with an L2 penalty l2 on the
 * coefficients. horizon_s, window_s and threshold are left as they are.
 * 0, or -1 with err (no rows, one class only, a singular system). */
int risk_fit(const double *x, const uint8_t *y, size_t n, double l2, struct risk_model *m,
             char *err, size_t errlen);

#endif
