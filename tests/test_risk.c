/*
 * test_risk.c - the PSU risk model (src/core/risk.c) on hand-made traces:
 * features of an ageing PSU against a healthy one, the warning count, the
 * ORv3 alarm mapping, the model file (round trip, each bad file refused),
 * the fit (train, save, load, predict: the same risks) and episodes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "risk.h"
#include "splitmix.h"

#define DAY 86400
#define T0 1700000000

/* A PSU at a daily load profile, 5-minute readings: thermal resistance,
 * efficiency and fan speed may drift per day. */
struct trace {
    double rth0, rth_per_day; /* °C/W */
    double eff0, eff_per_day;
    double fan0, fan_per_day; /* rpm per °C of rise */
    double sag_v_per_a;
    double load_per_day; /* the load's own drift, not ageing */
};

static void reading(const struct trace *tr, int64_t t, const char *id, struct tcsv_row *r)
{
    double day = (double)(t - T0) / DAY;
    /* the same load every day, plus its drift */
    double load = 0.5 + 0.3 * sin(2 * 3.14159265358979 * day) + tr->load_per_day * day;
    memset(r, 0, sizeof(*r));
    r->t = t;
    snprintf(r->psu, sizeof(r->psu), "%s", id);
    double pout = 1500 * load, eff = tr->eff0 + tr->eff_per_day * day;
    double pin = pout / eff, rth = tr->rth0 + tr->rth_per_day * day;
    double inlet = 25, temp = inlet + rth * (pin - pout);
    double iout = pout / 12.0;
    r->v[TCSV_VIN_V] = 230;
    r->v[TCSV_IIN_A] = pin / 230;
    r->v[TCSV_VOUT_V] = 12.2 - tr->sag_v_per_a * iout;
    r->v[TCSV_IOUT_A] = iout;
    r->v[TCSV_PIN_W] = pin;
    r->v[TCSV_POUT_W] = pout;
    r->v[TCSV_TEMP_C] = temp;
    r->v[TCSV_INLET_C] = inlet;
    r->v[TCSV_FAN_RPM] = (tr->fan0 + tr->fan_per_day * day) * (temp - inlet);
    r->status_word = 0;
}

/* Feeds days of the trace and returns the features at the end. */
static void features_after(const struct trace *tr, int days, double x[RISK_NFEATURES])
{
    struct risk_fleet f;
    risk_fleet_init(&f, 3 * DAY);
    struct tcsv_row r;
    char err[160];
    int i = -1;
    for (int64_t t = T0; t <= T0 + (int64_t)days * DAY; t += 300) {
        reading(tr, t, "p1", &r);
        i = risk_fleet_add(&f, &r, err, sizeof(err));
        assert_int_equal(i, 0);
    }
    assert_int_equal(risk_features(&f, i, x), 0);
    risk_fleet_free(&f);
}

static const struct trace healthy = {0.08, 0, 0.95, 0, 100, 0, 0.0005, 0};

static void a_psu_heating_at_like_load_has_a_rising_thermal_resistance_trend(void **state)
{
    (void)state;
    struct trace ageing = healthy;
    ageing.rth_per_day = 0.004;
    double xh[RISK_NFEATURES], xa[RISK_NFEATURES];
    features_after(&healthy, 10, xh);
    features_after(&ageing, 10, xa);
    assert_true(fabs(xh[RISK_F_RTH_TREND]) < 1e-6);
    assert_true(fabs(xa[RISK_F_RTH_TREND] - 0.004) < 1e-4);
    assert_true(fabs(xh[RISK_F_RTH] - 0.08) < 1e-6);
    assert_true(xa[RISK_F_RTH] > 0.11); /* 0.08 + 0.004 * ~8.5 days */
}

static void falling_efficiency_has_a_negative_trend(void **state)
{
    (void)state;
    struct trace ageing = healthy;
    ageing.eff_per_day = -0.001;
    double xh[RISK_NFEATURES], xa[RISK_NFEATURES];
    features_after(&healthy, 10, xh);
    features_after(&ageing, 10, xa);
    assert_true(fabs(xh[RISK_F_EFF] - 0.95) < 1e-9);
    assert_true(fabs(xh[RISK_F_EFF_TREND]) < 1e-9);
    assert_true(fabs(xa[RISK_F_EFF_TREND] + 0.001) < 1e-5);
}

/* Efficiency falling 0.1 point a day: over the window of days 7-10 it is
 * 0.9415 on average, and at like output the loss of a mean output of 750 W
 * rises by 750 * 0.001 / 0.9415^2 = 0.846 W a day, of a mean loss of
 * 750 * (1 / 0.9415 - 1) = 46.6 W: a share of 0.0182 a day. */
static void losses_rising_at_like_load_have_a_loss_trend(void **state)
{
    (void)state;
    struct trace ageing = healthy;
    ageing.eff_per_day = -0.001;
    double xh[RISK_NFEATURES], xa[RISK_NFEATURES];
    features_after(&healthy, 10, xh);
    features_after(&ageing, 10, xa);
    assert_true(fabs(xh[RISK_F_LOSS_TREND]) < 1e-6);
    if (fabs(xa[RISK_F_LOSS_TREND] - 0.0182) > 0.0005)
        fail_msg("loss trend %g, want 0.0182", xa[RISK_F_LOSS_TREND]);
}

/* A load that grows makes more loss, and more heat, but not more at like
 * load: neither trend moves, where the plain slopes of loss or rise would. */
static void a_growing_load_is_not_ageing(void **state)
{
    (void)state;
    struct trace growing = healthy;
    growing.load_per_day = 0.01;
    double x[RISK_NFEATURES];
    features_after(&growing, 10, x);
    assert_true(fabs(x[RISK_F_LOSS_TREND]) < 1e-6);
    assert_true(fabs(x[RISK_F_RISE_TREND]) < 1e-6);
}

/* Thermal resistance up 0.004 °C/W a day: at like loss (a mean of 39.5 W)
 * the hot spot rises by about 0.16 °C a day over the inlet. */
static void a_psu_hotter_at_like_loss_has_a_rise_trend(void **state)
{
    (void)state;
    struct trace ageing = healthy;
    ageing.rth_per_day = 0.004;
    double xh[RISK_NFEATURES], xa[RISK_NFEATURES];
    features_after(&healthy, 10, xh);
    features_after(&ageing, 10, xa);
    assert_true(fabs(xh[RISK_F_RISE_TREND]) < 1e-6);
    if (fabs(xa[RISK_F_RISE_TREND] - 0.158) > 0.01)
        fail_msg("rise trend %g, want 0.158", xa[RISK_F_RISE_TREND]);
    assert_true(fabs(xa[RISK_F_LOSS_TREND]) < 1e-6); /* the heat is not more loss */
}

static void a_worn_fan_turns_slower_for_its_heat(void **state)
{
    (void)state;
    struct trace worn = healthy;
    worn.fan0 = 60;
    double xh[RISK_NFEATURES], xw[RISK_NFEATURES];
    features_after(&healthy, 4, xh);
    features_after(&worn, 4, xw);
    assert_true(fabs(xh[RISK_F_FAN_PER_C] - 100) < 1e-6);
    assert_true(fabs(xw[RISK_F_FAN_PER_C] - 60) < 1e-6);
}

static void output_sag_is_millivolts_per_amp(void **state)
{
    (void)state;
    struct trace sagging = healthy;
    sagging.sag_v_per_a = 0.004;
    double xh[RISK_NFEATURES], xs[RISK_NFEATURES];
    features_after(&healthy, 4, xh);
    features_after(&sagging, 4, xs);
    assert_true(fabs(xh[RISK_F_SAG] - 0.5) < 1e-6);
    assert_true(fabs(xs[RISK_F_SAG] - 4.0) < 1e-6);
}

static void hours_in_service_count_from_the_first_reading(void **state)
{
    (void)state;
    double x[RISK_NFEATURES];
    features_after(&healthy, 10, x);
    assert_true(fabs(x[RISK_F_KH_SERVICE] - 0.240) < 1e-9);
}

/* Warnings: share of readings, and the times a bit was raised; OFF and
 * POWER_GOOD# are not warnings. The window forgets what is older. */
static void warning_bits_are_counted_and_leave_the_window(void **state)
{
    (void)state;
    struct risk_fleet f;
    risk_fleet_init(&f, DAY);
    struct tcsv_row r;
    char err[160];
    double x[RISK_NFEATURES];
    int64_t t = T0;
    /* a day: status 0, TEMPERATURE, 0, TEMPERATURE|FANS, OFF|PG#, ... every hour */
    static const int32_t seq[] = {0x0000, 0x0004, 0x0000, 0x0404, 0x0840, 0x0000};
    for (int h = 0; h < 24; h++, t += 3600) {
        reading(&healthy, t, "p1", &r);
        r.status_word = seq[h % 6];
        assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), 0);
    }
    assert_int_equal(risk_features(&f, 0, x), 0);
    assert_true(fabs(x[RISK_F_WARN_SHARE] - 8.0 / 24) < 1e-9);
    /* raised: 0->4 (1), 0->0x404 (1), every block of 6: 2, 4 blocks, minus none */
    assert_true(fabs(x[RISK_F_WARN_EVENTS] - 8) < 1e-9);
    /* a quiet day pushes them out of the window */
    for (int h = 0; h < 24; h++, t += 3600) {
        reading(&healthy, t, "p1", &r);
        assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), 0);
    }
    assert_int_equal(risk_features(&f, 0, x), 0);
    assert_true(fabs(x[RISK_F_WARN_SHARE]) < 1e-9);
    assert_true(fabs(x[RISK_F_WARN_EVENTS]) < 1e-9);
    /* not read: no share, and not a warning */
    reading(&healthy, t, "p1", &r);
    r.status_word = -1;
    assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), 0);
    risk_fleet_free(&f);
}

static void too_little_history_gives_no_features(void **state)
{
    (void)state;
    struct risk_fleet f;
    risk_fleet_init(&f, 4 * DAY);
    struct tcsv_row r;
    char err[160];
    double x[RISK_NFEATURES];
    for (int k = 0; k < 100; k++) { /* 100 readings over 8 h: under a quarter of 4 days */
        reading(&healthy, T0 + k * 300, "p1", &r);
        assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), 0);
    }
    assert_int_equal(risk_features(&f, 0, x), -1);
    assert_int_equal(risk_features(&f, 5, x), -1);
    risk_fleet_free(&f);
}

static void readings_out_of_time_order_are_refused(void **state)
{
    (void)state;
    struct risk_fleet f;
    risk_fleet_init(&f, DAY);
    struct tcsv_row r;
    char err[160];
    reading(&healthy, T0 + 600, "p1", &r);
    assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), 0);
    reading(&healthy, T0, "p2", &r); /* another PSU: its own order */
    assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), 1);
    reading(&healthy, T0 + 300, "p1", &r);
    assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "PSU p1"));
    assert_non_null(strstr(err, "not in time order"));
    risk_fleet_free(&f);
}

/* Many PSUs: each keeps its own window (the table grows). */
static void many_psus_keep_their_own_windows(void **state)
{
    (void)state;
    struct risk_fleet f;
    risk_fleet_init(&f, DAY);
    struct tcsv_row r;
    char err[160], id[32];
    for (int64_t t = T0; t < T0 + DAY; t += 1800)
        for (int k = 0; k < 500; k++) {
            snprintf(id, sizeof(id), "psu%d", k);
            reading(&healthy, t, id, &r);
            r.v[TCSV_FAN_RPM] = k * (r.v[TCSV_TEMP_C] - r.v[TCSV_INLET_C]);
            assert_int_equal(risk_fleet_add(&f, &r, err, sizeof(err)), k);
        }
    assert_int_equal(f.npsus, 500);
    double x[RISK_NFEATURES];
    assert_int_equal(risk_features(&f, 321, x), 0);
    assert_true(fabs(x[RISK_F_FAN_PER_C] - 321) < 0.1);
    risk_fleet_free(&f);
}

static void orv3_alarms_map_onto_status_word_bits(void **state)
{
    (void)state;
    assert_int_equal(risk_orv3_status_word(0, 0, 0, 0, 0), 0);
    assert_int_equal(risk_orv3_status_word(1u << 11, 0, 0, 0, 0), 0x0400); /* fan -> FANS */
    assert_int_equal(risk_orv3_status_word(1u << 2, 0, 0, 0, 0), 0x0004);  /* temp -> TEMP */
    assert_int_equal(risk_orv3_status_word(0, 1u << 0, 0, 0, 0), 0x2008);  /* AC UVP */
    assert_int_equal(risk_orv3_status_word(0, 0, 1u << 8, 0, 0), 0x8800);  /* DCDC fail */
    assert_int_equal(risk_orv3_status_word(0, 0, 1u << 2, 0, 0), 0x4010);  /* OCP */
    assert_int_equal(risk_orv3_status_word(0, 0, 0, 1u << 8, 0), 0x0400);  /* fan failure */
    assert_int_equal(risk_orv3_status_word(0, 0, 0, 0, 0x0100), 0x0002);   /* comm -> CML */
    /* every mapped warning is counted as one by the features */
    assert_true((risk_orv3_status_word(0xffff, 0xffff, 0xffff, 0xffff, 0xffff) & RISK_WARN_MASK) ==
                0xf63e);
}

/* ---- the model ---- */

/* A labelled sample set: failing PSUs have a higher rth trend and warnings. */
static size_t samples(double **xo, uint8_t **yo)
{
    size_t n = 4000;
    double *x = calloc(n * RISK_NFEATURES, sizeof(*x));
    uint8_t *y = calloc(n, 1);
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++) {
        double *v = &x[i * RISK_NFEATURES];
        int bad = splitmix64_unit(&s) < 0.1;
        y[i] = (uint8_t)bad;
        for (int f = 0; f < RISK_NFEATURES; f++)
            v[f] = splitmix64_unit(&s);
        v[RISK_F_RTH_TREND] = 0.001 * (splitmix64_unit(&s) - 0.5) + (bad ? 0.002 : 0);
        v[RISK_F_WARN_EVENTS] = bad ? floor(3 * splitmix64_unit(&s)) : 0;
        if (i % 7 == 0)
            v[RISK_F_SAG] = NAN; /* not read */
    }
    *xo = x;
    *yo = y;
    return n;
}

static void train_save_load_predict_gives_the_same_risks(void **state)
{
    (void)state;
    double *x;
    uint8_t *y;
    size_t n = samples(&x, &y);
    struct risk_model m = {
        .horizon_s = 7 * DAY, .window_s = 3 * DAY, .threshold = 0.5, .persist_s = 7200};
    char err[200];
    assert_int_equal(risk_fit(x, y, n, 1e-3, &m, err, sizeof(err)), 0);
    assert_true(m.coef[RISK_F_RTH_TREND] > 1.0); /* it found what separates them */
    assert_true(fabs(m.coef[RISK_F_FAN_PER_C]) < 0.5);
    char buf[4096];
    int len = risk_model_format(&m, buf, sizeof(buf));
    assert_true(len > 0);
    struct risk_model back;
    if (risk_model_parse(buf, (size_t)len, &back, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(back.horizon_s, m.horizon_s);
    assert_int_equal(back.window_s, m.window_s);
    assert_int_equal(back.persist_s, 7200);
    assert_true(back.threshold == m.threshold);
    size_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) {
        struct risk_out a, b;
        risk_eval(&m, &x[i * RISK_NFEATURES], &a);
        risk_eval(&back, &x[i * RISK_NFEATURES], &b);
        assert_true(a.risk == b.risk); /* %.17g: exact */
        assert_true(a.ttf_s == b.ttf_s);
        int alarm = a.risk >= 0.5;
        tp += alarm && y[i], fp += alarm && !y[i], fn += !alarm && y[i];
    }
    assert_true(tp > 10 * (fp + fn)); /* well separated data is fitted well */
    assert_int_equal(risk_model_format(&m, buf, 100), -1);
    free(x);
    free(y);
}

static void one_class_only_cannot_be_fitted(void **state)
{
    (void)state;
    double x[10 * RISK_NFEATURES] = {0};
    uint8_t y[10] = {0};
    struct risk_model m = {0};
    char err[200];
    assert_int_equal(risk_fit(x, y, 10, 1e-3, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "both kinds"));
}

static void risk_and_time_to_failure_agree(void **state)
{
    (void)state;
    struct risk_model m = {.horizon_s = 7 * DAY, .window_s = DAY, .threshold = 0.5};
    for (int f = 0; f < RISK_NFEATURES; f++)
        m.scale[f] = 1;
    m.coef[RISK_F_WARN_EVENTS] = 2;
    double x[RISK_NFEATURES];
    for (int f = 0; f < RISK_NFEATURES; f++)
        x[f] = NAN;
    struct risk_out o;
    risk_eval(&m, x, &o); /* intercept 0: risk 0.5, no top feature */
    assert_true(fabs(o.risk - 0.5) < 1e-12);
    assert_int_equal(o.top, -1);
    assert_true(fabs(o.ttf_s - 7 * DAY / log(2.0)) < 1e-6);
    x[RISK_F_WARN_EVENTS] = 3;
    risk_eval(&m, x, &o);
    assert_true(o.risk > 0.99);
    assert_true(o.ttf_s < 7 * DAY / 4.0); /* higher risk, sooner */
    assert_int_equal(o.top, RISK_F_WARN_EVENTS);
    assert_true(o.top_x == 3);
    /* ... but no sooner than a risk of RISK_TTF_MAX_P says: a saturated
     * model is sure of the failure, not of its hour */
    assert_true(fabs(o.ttf_s - 7 * DAY / -log1p(-RISK_TTF_MAX_P)) < 1e-6);
    x[RISK_F_WARN_EVENTS] = 30;
    risk_eval(&m, x, &o);
    assert_true(o.risk > 1 - 1e-12);
    assert_true(fabs(o.ttf_s - 7 * DAY / -log1p(-RISK_TTF_MAX_P)) < 1e-6);
}

static const char good_model[] = "rackpower-psu-risk 1\n"
                                 "# a comment\n"
                                 "horizon_s 604800\nwindow_s 259200\nthreshold 0.5\n"
                                 "intercept -3\n"
                                 "feature rth_c_per_w 0.1 0.02 0.5\n"
                                 "feature rth_trend_c_per_w_day 0 0.001 2\n"
                                 "feature fan_rpm_per_c 100 20 -0.5\n"
                                 "feature efficiency 0.95 0.01 -0.3\n"
                                 "feature efficiency_trend_day 0 0.001 -1\n"
                                 "feature vout_sag_mv_per_a 1 0.5 0.4\n"
                                 "feature warn_share 0 0.1 0.8\n"
                                 "feature warn_events 0 1 1\n"
                                 "feature kh_in_service 10 10 0.1\n";

static void a_good_model_file_reads(void **state)
{
    (void)state;
    struct risk_model m;
    char err[200];
    if (risk_model_parse(good_model, strlen(good_model), &m, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(m.horizon_s, 604800);
    assert_true(m.coef[RISK_F_FAN_PER_C] == -0.5);
    assert_true(m.scale[RISK_F_KH_SERVICE] == 10);
    assert_int_equal(m.persist_s, 0); /* version 1: at once */
}

static void a_version_2_file_may_say_how_long_the_risk_must_hold(void **state)
{
    (void)state;
    char text[2048], err[200];
    const char *v1 = strstr(good_model, "# a comment");
    snprintf(text, sizeof(text), "rackpower-psu-risk 2\npersist_s 7200\n%s", v1);
    struct risk_model m;
    if (risk_model_parse(text, strlen(text), &m, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(m.persist_s, 7200);
    /* without it, 0 */
    snprintf(text, sizeof(text), "rackpower-psu-risk 2\n%s", v1);
    assert_int_equal(risk_model_parse(text, strlen(text), &m, err, sizeof(err)), 0);
    assert_int_equal(m.persist_s, 0);
    static const char *const bad[] = {"persist_s -1", "persist_s 1.5", "persist_s 1e9", "persist_s",
                                      "persist_s 5\npersist_s 6"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "rackpower-psu-risk 2\n%s\n%s", bad[i], v1);
        if (risk_model_parse(text, strlen(text), &m, err, sizeof(err)) != -1 ||
            (strstr(err, "persist_s") == NULL && strstr(err, "given twice") == NULL))
            fail_msg("\"%s\" not refused: %s", bad[i], err);
    }
}

/* Version 3 names the two features it added; a version 1 or 2 file reads
 * without them (they add nothing) and may not name them. */
static void a_version_3_file_names_the_trends_at_like_load(void **state)
{
    (void)state;
    char text[2048], err[200];
    const char *v1 = strstr(good_model, "# a comment");
    struct risk_model m;
    assert_int_equal(risk_model_parse(good_model, strlen(good_model), &m, err, sizeof(err)), 0);
    assert_true(m.coef[RISK_F_LOSS_TREND] == 0 && m.coef[RISK_F_RISE_TREND] == 0);
    assert_true(m.scale[RISK_F_LOSS_TREND] == 1 && m.scale[RISK_F_RISE_TREND] == 1);
    snprintf(text, sizeof(text),
             "rackpower-psu-risk 3\n%sfeature loss_trend_day 0 0.01 2\n"
             "feature rise_trend_c_day 0.1 0.2 0.5\n",
             v1);
    if (risk_model_parse(text, strlen(text), &m, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_true(m.coef[RISK_F_LOSS_TREND] == 2 && m.scale[RISK_F_RISE_TREND] == 0.2);
    /* the round trip writes version 3 with every feature */
    char out[4096];
    assert_true(risk_model_format(&m, out, sizeof(out)) > 0);
    assert_true(strncmp(out, "rackpower-psu-risk 3\n", 21) == 0);
    assert_non_null(
        strstr(out, "feature rise_trend_c_day 0.10000000000000001 0.20000000000000001 0.5"));
    /* version 3 without one of them */
    snprintf(text, sizeof(text), "rackpower-psu-risk 3\n%sfeature loss_trend_day 0 0.01 2\n", v1);
    assert_int_equal(risk_model_parse(text, strlen(text), &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "feature rise_trend_c_day missing"));
    /* version 2 naming one */
    snprintf(text, sizeof(text), "rackpower-psu-risk 2\n%sfeature loss_trend_day 0 0.01 2\n", v1);
    assert_int_equal(risk_model_parse(text, strlen(text), &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "a version 3 feature"));
}

/* Replaces the first occurrence of from in the good model by to. */
static void edited(const char *from, const char *to, char *out, size_t len)
{
    const char *p = strstr(good_model, from);
    assert_non_null(p);
    snprintf(out, len, "%.*s%s%s", (int)(p - good_model), good_model, to, p + strlen(from));
}

static void each_bad_model_file_is_refused_with_its_line(void **state)
{
    (void)state;
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        {"rackpower-psu-risk 1", "rackpower-psu-risk 4", "model line 1: unknown model version"},
        {"threshold 0.5\n", "threshold 0.5\npersist_s 3600\n",
         "model line 6: persist_s: a version 2 key"},
        {"rackpower-psu-risk 1", "hello", "model line 1: not a rackpower PSU risk model"},
        {"horizon_s 604800", "horizon_s 12", "model line 3: horizon_s: whole seconds"},
        {"horizon_s 604800", "horizon_s 1e99", "model line 3: horizon_s"},
        {"window_s 259200", "window_s 2.5e5x", "model line 4: window_s"},
        {"threshold 0.5", "threshold 1.5", "model line 5: threshold"},
        {"intercept -3", "intercept nan", "model line 6: intercept"},
        {"feature rth_c_per_w 0.1 0.02 0.5", "feature rth_c_per_w 0.1 0 0.5",
         "model line 7: feature: SCALE must be above 0"},
        {"feature rth_c_per_w 0.1 0.02 0.5", "feature rth_c_per_w 0.1 0.02",
         "model line 7: feature: want"},
        {"feature rth_c_per_w 0.1 0.02 0.5", "feature rth 0.1 0.02 0.5",
         "model line 7: unknown feature"},
        {"feature rth_c_per_w 0.1 0.02 0.5", "feature warn_events 0.1 0.02 0.5",
         "model line 14: feature given twice"},
        {"feature kh_in_service 10 10 0.1\n", "", "feature kh_in_service missing"},
        {"intercept -3\n", "", "intercept missing"},
        {"threshold 0.5\n", "threshold 0.5\nthreshold 0.4\n", "model line 6: given twice"},
        {"# a comment", "colour blue", "model line 2: unknown key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[2048], err[200] = "";
        struct risk_model m;
        edited(cases[i].from, cases[i].to, text, sizeof(text));
        int rc = risk_model_parse(text, strlen(text), &m, err, sizeof(err));
        if (rc != -1 || strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: rc %d, err \"%s\", wanted \"%s\"", i, rc, err, cases[i].want);
    }
    char err[200];
    struct risk_model m;
    assert_int_equal(risk_model_parse("", 0, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty"));
    assert_int_equal(risk_model_parse("rackpower-psu-risk 1\0x", 22, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NUL"));
}

static void an_episode_starts_once_and_ends_below_the_hysteresis(void **state)
{
    (void)state;
    int at = 0;
    static const double risks[] = {0.1, 0.6, 0.7, 0.45, 0.55, 0.39, 0.2, 0.8};
    static const int want[] = {0, 1, 0, 0, 0, -1, 0, 1};
    for (size_t i = 0; i < sizeof(risks) / sizeof(risks[0]); i++)
        assert_int_equal(risk_episode_step(&at, risks[i], 0.5), want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_psu_heating_at_like_load_has_a_rising_thermal_resistance_trend),
        cmocka_unit_test(falling_efficiency_has_a_negative_trend),
        cmocka_unit_test(losses_rising_at_like_load_have_a_loss_trend),
        cmocka_unit_test(a_growing_load_is_not_ageing),
        cmocka_unit_test(a_psu_hotter_at_like_loss_has_a_rise_trend),
        cmocka_unit_test(a_worn_fan_turns_slower_for_its_heat),
        cmocka_unit_test(output_sag_is_millivolts_per_amp),
        cmocka_unit_test(hours_in_service_count_from_the_first_reading),
        cmocka_unit_test(warning_bits_are_counted_and_leave_the_window),
        cmocka_unit_test(too_little_history_gives_no_features),
        cmocka_unit_test(readings_out_of_time_order_are_refused),
        cmocka_unit_test(many_psus_keep_their_own_windows),
        cmocka_unit_test(orv3_alarms_map_onto_status_word_bits),
        cmocka_unit_test(train_save_load_predict_gives_the_same_risks),
        cmocka_unit_test(one_class_only_cannot_be_fitted),
        cmocka_unit_test(risk_and_time_to_failure_agree),
        cmocka_unit_test(a_good_model_file_reads),
        cmocka_unit_test(a_version_2_file_may_say_how_long_the_risk_must_hold),
        cmocka_unit_test(a_version_3_file_names_the_trends_at_like_load),
        cmocka_unit_test(each_bad_model_file_is_refused_with_its_line),
        cmocka_unit_test(an_episode_starts_once_and_ends_below_the_hysteresis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
