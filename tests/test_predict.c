/*
 * test_predict.c - live prediction (src/daemon/predict.c): readings sampled
 * once per sample_s of model time, the time scale, an episode once, readings
 * without load kept out, the outcome of a failure (predicted, and how long
 * before) and a repaired PSU as a new unit; the model file as a start error;
 * a PSU adopted at risk from the ledger (pred_adopt); the windows primed
 * from the past (pred_prime) and from a history file (pred_history_prime).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "histstore.h"
#include "predict.h"
#include "predict_history.h"
#include "rackfile.h"
#include "testdir.h"

#define S(x) ((int64_t)((x)*1e9))
#define T0 S(1000)

static const char rack_text[] = "rack:\n"
                                "  name: r1\n"
                                "  protection: n+1\n"
                                "  buses: [A, B]\n"
                                "  psus:\n"
                                "    - {id: p1, capacity_w: 2000, buses: [A, B], bus: A}\n"
                                "    - {id: p2, capacity_w: 2000, buses: [A, B], bus: B}\n"
                                "  servers:\n"
                                "    - {id: db1, power_w: 1500, priority: 1, buses: [A, B]}\n";

struct fix {
    struct rack r;
    struct predictor p;
    char model[64];
};

/* A model that says "at risk" exactly when warnings are on: warn_share
 * weighs 10 per 0.1, the rest nothing; a window of an hour, a day's horizon. */
static void write_model(const char *path)
{
    struct risk_model m = {.horizon_s = 86400, .window_s = 3600, .threshold = 0.5, .intercept = -5};
    for (int f = 0; f < RISK_NFEATURES; f++)
        m.scale[f] = 1;
    m.scale[RISK_F_WARN_SHARE] = 0.1;
    m.coef[RISK_F_WARN_SHARE] = 1;
    char buf[4096];
    int n = risk_model_format(&m, buf, sizeof(buf));
    assert_true(n > 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(buf, 1, (size_t)n, f);
    fclose(f);
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    char err[256];
    if (!f ||
        rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &f->r, NULL, err, sizeof(err)))
        return -1;
    snprintf(f->model, sizeof(f->model), "/tmp/rp-predict-XXXXXX");
    int fd = mkstemp(f->model);
    if (fd < 0)
        return -1;
    close(fd);
    write_model(f->model);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    pred_close(&f->p);
    unlink(f->model);
    rack_free(&f->r);
    free(f);
    return 0;
}

/* time_scale 60: a second of the clock is a minute of the model's */
static void open_pred(struct fix *f, double time_scale)
{
    struct rackfile_prediction c = {
        .enabled = 1, .threshold = 0, .time_scale = time_scale, .sample_s = 60};
    snprintf(c.model, sizeof(c.model), "%s", f->model);
    char err[400];
    if (pred_open(&f->p, &c, &f->r, T0, 1700000000, err, sizeof(err)))
        fail_msg("pred_open: %s", err);
    assert_true(f->p.on);
    assert_true(fabs(f->p.threshold - 0.5) < 1e-12);
}

static struct driver_psu_reading reading(int psu, int64_t out_mw, int32_t status_word)
{
    struct driver_psu_reading x = driver_psu_unknown(psu);
    x.out_mw = out_mw;
    x.in_mw = out_mw + out_mw / 30;
    x.out_mv = 51000;
    x.out_ma = out_mw / 51;
    x.in_mv = 230000;
    x.in_ma = 4000;
    x.temp_mc = 45000;
    x.inlet_mc = 25000;
    x.fan_rpm = 8000;
    x.status_word = status_word;
    return x;
}

/* Feeds PSU psu a reading each second of the clock from t_s to u_s; returns
 * the second an episode changed (its kind in *kind), or -1. */
static int feed(struct fix *f, int psu, int t_s, int u_s, int64_t out_mw, int32_t sw,
                enum pred_change_kind *kind)
{
    char err[256];
    for (int t = t_s; t <= u_s; t++) {
        struct driver_psu_reading x = reading(psu, out_mw, sw);
        int rc = pred_reading(&f->p, &f->r, &x, T0 + S(t), kind, err, sizeof(err));
        assert_int_not_equal(rc, -1);
        if (rc == 1)
            return t;
    }
    return -1;
}

static void test_a_warning_psu_is_at_risk_once(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    open_pred(f, 60);
    /* no warnings: a risk, never at risk; an hour window needs 15 min and 6 readings */
    assert_int_equal(feed(f, 0, 0, 30, 1000000, 0, &kind), -1);
    assert_true(f->p.psu[0].have);
    assert_true(f->p.psu[0].risk < 0.01);
    assert_false(f->p.psu[0].at_risk);
    /* one sample a model minute: 31 s at 60x is 31 samples */
    assert_int_equal(f->p.fleet.psus[f->p.psu[0].slot].n, 31);
    /* warnings: at risk once, with the reason and a time to failure in the clock's seconds */
    int t = feed(f, 0, 31, 120, 1000000, 0x0004, &kind);
    assert_true(t > 31);
    assert_int_equal(kind, PRED_AT_RISK);
    assert_true(f->p.psu[0].at_risk);
    assert_true(f->p.psu[0].risk >= 0.5);
    assert_non_null(strstr(f->p.psu[0].reason, "warn_share"));
    /* ttf = horizon / -ln(1 - risk) model seconds, / 60 */
    double p_ttf = f->p.psu[0].risk < RISK_TTF_MAX_P ? f->p.psu[0].risk : RISK_TTF_MAX_P;
    double want = 86400.0 / -log1p(-p_ttf) / 60;
    assert_true(fabs(f->p.psu[0].ttf_s - want) < 1e-6 * want);
    assert_int_equal(feed(f, 0, t + 1, 200, 1000000, 0x0004, &kind), -1); /* once an episode */
    /* the warnings go: once they have left most of the window, it ends */
    t = feed(f, 0, 201, 400, 1000000, 0, &kind);
    assert_true(t > 201);
    assert_int_equal(kind, PRED_CLEAR);
    assert_false(f->p.psu[0].at_risk);
    assert_false(f->p.psu[1].have); /* the other PSU was never read */
}

/* A drained PSU at risk keeps its prediction: its readings without load
 * stay out of the window. */
static void test_readings_without_load_stay_out(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    open_pred(f, 60);
    assert_true(feed(f, 1, 0, 60, 900000, 0x0400, &kind) > 0);
    assert_int_equal(kind, PRED_AT_RISK);
    size_t n = f->p.fleet.psus[f->p.psu[1].slot].n;
    /* drained: 50 W of 2000 (under 5 %), no warnings any more */
    assert_int_equal(feed(f, 1, 61, 400, 50000, 0, &kind), -1);
    assert_int_equal(f->p.fleet.psus[f->p.psu[1].slot].n, n);
    assert_true(f->p.psu[1].at_risk);
    /* an unread reading and a figure-less one do not count either */
    struct driver_psu_reading x = reading(1, 900000, 0);
    x.unread = true;
    char err[256];
    assert_int_equal(pred_reading(&f->p, &f->r, &x, T0 + S(500), &kind, err, sizeof(err)), 0);
    x = driver_psu_unknown(1);
    assert_int_equal(pred_reading(&f->p, &f->r, &x, T0 + S(501), &kind, err, sizeof(err)), 0);
    assert_int_equal(f->p.fleet.psus[f->p.psu[1].slot].n, n);
}

/* A failure ends the episode with what came of it; a repair starts a new
 * unit with a window of its own. */
static void test_failure_outcome_and_repair(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    struct pred_outcome out[4];
    open_pred(f, 60);
    int t = feed(f, 0, 0, 100, 1000000, 0x0004, &kind);
    assert_true(t > 0);
    assert_int_equal(pred_health(&f->p, &f->r, NULL, T0 + S(t), out, 4), 0); /* nothing changed */
    /* p1 fails 40 s after its prediction, p2 without one */
    f->r.psus[0].health = RACK_PSU_FAILED;
    f->r.psus[1].health = RACK_PSU_FAILED;
    assert_int_equal(pred_health(&f->p, &f->r, NULL, T0 + S(t + 40), out, 4), 2);
    assert_int_equal(out[0].psu, 0);
    assert_true(out[0].predicted);
    assert_true(fabs(out[0].lead_s - 40) < 1e-9);
    assert_true(out[0].risk >= 0.5);
    assert_non_null(strstr(out[0].reason, "warn_share"));
    assert_int_equal(out[1].psu, 1);
    assert_false(out[1].predicted);
    assert_true(isnan(out[1].lead_s));
    assert_false(f->p.psu[0].at_risk); /* the episode ended with the failure */
    assert_int_equal(pred_health(&f->p, &f->r, NULL, T0 + S(t + 41), out, 4), 0); /* told once */
    /* a failed PSU's readings are not its ageing */
    assert_int_equal(feed(f, 0, t + 42, t + 100, 1000000, 0x0004, &kind), -1);
    /* repaired: a new unit, a new window, the old one kept apart */
    f->r.psus[0].health = RACK_PSU_OK;
    assert_int_equal(pred_health(&f->p, &f->r, NULL, T0 + S(t + 101), out, 4), 0);
    assert_int_equal(f->p.psu[0].slot, -1);
    assert_false(f->p.psu[0].have);
    assert_int_equal(feed(f, 0, t + 102, t + 110, 1000000, 0, &kind), -1);
    assert_string_equal(f->p.fleet.psus[f->p.psu[0].slot].id, "p1:2");
}

/* An operator's out of service is not a failure: its outcome says so, and
 * back in service the PSU is a new unit. */
static void test_out_of_service_outcome(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    struct pred_outcome out[1];
    bool oos[2] = {true, false};
    open_pred(f, 60);
    int t = feed(f, 0, 0, 100, 1000000, 0x0004, &kind);
    assert_true(t > 0);
    assert_int_equal(kind, PRED_AT_RISK);
    f->r.psus[0].health = RACK_PSU_FAILED; /* as the overlay shows it */
    f->r.psus[1].health = RACK_PSU_FAILED; /* a real failure, beyond max */
    assert_int_equal(pred_health(&f->p, &f->r, oos, T0 + S(t + 10), out, 1), 1);
    assert_int_equal(out[0].psu, 0);
    assert_true(out[0].out_of_service);
    assert_true(out[0].predicted);
    assert_true(fabs(out[0].lead_s - 10) < 1e-9);
    /* the one left over comes with the next call */
    assert_int_equal(pred_health(&f->p, &f->r, oos, T0 + S(t + 10), out, 1), 1);
    assert_int_equal(out[0].psu, 1);
    assert_false(out[0].out_of_service);
    assert_false(out[0].predicted);
    assert_int_equal(pred_health(&f->p, &f->r, oos, T0 + S(t + 11), out, 1), 0);
    /* back in service: a new unit */
    oos[0] = false;
    f->r.psus[0].health = RACK_PSU_OK;
    assert_int_equal(pred_health(&f->p, &f->r, oos, T0 + S(t + 20), out, 1), 0);
    assert_int_equal(f->p.psu[0].slot, -1);
    assert_false(f->p.psu[0].at_risk);
}

/* A reload: the same window and clock keep the windows and the episode; a
 * new clock starts the windows again and keeps the PSU at risk; off keeps
 * it at risk too; a bad model file is refused and changes nothing. */
static void test_reload_keeps_or_restarts_windows(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    char err[400], what[700];
    open_pred(f, 60);
    int t = feed(f, 0, 0, 100, 1000000, 0x0004, &kind);
    assert_true(t > 0);
    assert_int_equal(kind, PRED_AT_RISK);
    size_t n = f->p.fleet.psus[f->p.psu[0].slot].n;
    struct rackfile_prediction c = {
        .enabled = 1, .threshold = 0.6, .time_scale = 60, .sample_s = 60};
    snprintf(c.model, sizeof(c.model), "%s", f->model);
    struct predictor next;
    /* a new threshold: windows kept */
    assert_int_equal(pred_open(&next, &c, &f->r, T0 + S(t), 1700000000, err, sizeof(err)), 0);
    pred_reload_commit(&f->p, &next, what, sizeof(what));
    assert_non_null(strstr(what, "prediction threshold 0.5 -> 0.6; windows kept"));
    assert_true(f->p.on);
    assert_int_equal(f->p.fleet.psus[f->p.psu[0].slot].n, n);
    assert_true(f->p.psu[0].at_risk);
    assert_false(f->p.psu[0].adopted);
    /* a bad model file: refused, p unchanged */
    FILE *m = fopen(f->model, "w");
    fputs("rackpower-psu-risk 2\nhorizon_s soon\n", m);
    fclose(m);
    assert_int_equal(pred_open(&next, &c, &f->r, T0 + S(t), 1700000000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 2"));
    assert_true(f->p.psu[0].at_risk);
    assert_int_equal(f->p.fleet.psus[f->p.psu[0].slot].n, n);
    write_model(f->model);
    /* another clock: the windows start again, the episode kept as adopted */
    c.time_scale = 120;
    assert_int_equal(pred_open(&next, &c, &f->r, T0 + S(t), 1700000000, err, sizeof(err)), 0);
    pred_reload_commit(&f->p, &next, what, sizeof(what));
    assert_non_null(strstr(what, "windows start again"));
    assert_int_equal(f->p.psu[0].slot, -1);
    assert_true(f->p.psu[0].at_risk);
    assert_true(f->p.psu[0].adopted);
    /* off: still at risk */
    c.enabled = 0;
    assert_int_equal(pred_open(&next, &c, &f->r, T0 + S(t), 1700000000, err, sizeof(err)), 0);
    pred_reload_commit(&f->p, &next, what, sizeof(what));
    assert_string_equal(what, "prediction off");
    assert_false(f->p.on);
    assert_true(f->p.psu[0].at_risk);
    assert_false(f->p.psu[1].at_risk);
}

static void test_model_file_errors(void **state)
{
    struct fix *f = *state;
    char err[400];
    struct rackfile_prediction c = {.enabled = 1, .time_scale = 1, .sample_s = 60};
    /* given and missing: a start error naming the file */
    snprintf(c.model, sizeof(c.model), "/nonexistent/model.txt");
    assert_int_equal(pred_open(&f->p, &c, &f->r, T0, 1700000000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/model.txt"));
    pred_close(&f->p);
    /* given and bad: the line */
    FILE *m = fopen(f->model, "w");
    fputs("rackpower-psu-risk 1\nhorizon_s banana\n", m);
    fclose(m);
    snprintf(c.model, sizeof(c.model), "%s", f->model);
    assert_int_equal(pred_open(&f->p, &c, &f->r, T0, 1700000000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 2"));
    pred_close(&f->p);
    /* off: nothing read, nothing said */
    c.enabled = 0;
    assert_int_equal(pred_open(&f->p, &c, &f->r, T0, 1700000000, err, sizeof(err)), 0);
    assert_false(f->p.on);
    assert_string_equal(err, "");
    enum pred_change_kind kind;
    struct driver_psu_reading x = reading(0, 1000000, 0x0004);
    assert_int_equal(pred_reading(&f->p, &f->r, &x, T0, &kind, err, sizeof(err)), 0);
}

/* A PSU the ledger holds at risk (a restart, a fail-over) is adopted: at
 * risk with no figures; a drained one stays so; loaded again, its own window
 * ends the episode once it evaluates below threshold - RISK_HYSTERESIS,
 * whether the window starts with the adoption (a restart: p1) or was
 * already full (a new primary that read the PSU before: p2). */
static void test_an_adopted_psu_is_at_risk_until_its_window_clears_it(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    open_pred(f, 60);
    assert_int_equal(feed(f, 1, 0, 30, 1000000, 0, &kind), -1); /* p2 healthy, its window full */
    assert_true(f->p.psu[1].have && f->p.psu[1].slot >= 0);
    pred_adopt(&f->p, 0, T0 + S(31));
    pred_adopt(&f->p, 1, T0 + S(31));
    for (int i = 0; i < 2; i++) {
        const struct pred_psu *q = &f->p.psu[i];
        assert_true(q->at_risk && q->predicted);
        assert_int_equal(q->predicted_ns, T0 + S(31));
        assert_true(isnan(q->predicted_risk) && isnan(q->predicted_ttf_s));
        assert_string_equal(q->predicted_reason, PRED_ADOPTED_REASON);
    }
    pred_adopt(&f->p, 0, T0 + S(40)); /* already at risk: nothing changes */
    assert_int_equal(f->p.psu[0].predicted_ns, T0 + S(31));
    pred_adopt(&f->p, 2, T0 + S(40)); /* no such PSU: nothing */
    /* p1 drained: its readings stay out, it stays at risk */
    assert_int_equal(feed(f, 0, 32, 100, 50000, 0, &kind), -1);
    assert_true(f->p.psu[0].at_risk);
    /* loaded and healthy: cleared as soon as its window has a risk */
    int t = feed(f, 0, 101, 200, 1000000, 0, &kind);
    assert_true(t > 101 + RISK_MIN_READINGS - 2);
    assert_int_equal(kind, PRED_CLEAR);
    assert_false(f->p.psu[0].at_risk);
    assert_true(f->p.psu[0].risk < 0.5 - RISK_HYSTERESIS);
    assert_int_equal(feed(f, 0, t + 1, t + 60, 1000000, 0, &kind), -1); /* once */
    /* p2: at its next sample */
    assert_int_equal(feed(f, 1, 32, 40, 1000000, 0, &kind), 32);
    assert_int_equal(kind, PRED_CLEAR);
    assert_false(f->p.psu[1].at_risk);
    /* a window that says at risk keeps it: one episode, not a second start */
    pred_adopt(&f->p, 0, T0 + S(300));
    assert_int_equal(feed(f, 0, 300, 400, 1000000, 0x0004, &kind), -1);
    assert_true(f->p.psu[0].at_risk);
    assert_true(f->p.psu[0].risk >= 0.5);
}

/* An adopted PSU's failure is an outcome predicted (lead_s from the
 * adoption); the operator's clear ends it; both also with prediction off. */
static void test_an_adopted_psu_fails_predicted_or_is_cleared(void **state)
{
    struct fix *f = *state;
    struct pred_outcome out[2];
    open_pred(f, 60);
    pred_adopt(&f->p, 0, T0 + S(5));
    pred_adopt(&f->p, 1, T0 + S(5));
    f->r.psus[0].health = RACK_PSU_FAILED;
    assert_int_equal(pred_health(&f->p, &f->r, NULL, T0 + S(65), out, 2), 1);
    assert_int_equal(out[0].psu, 0);
    assert_true(out[0].predicted);
    assert_true(fabs(out[0].lead_s - 60) < 1e-9);
    assert_true(isnan(out[0].risk));
    assert_string_equal(out[0].reason, PRED_ADOPTED_REASON);
    assert_false(f->p.psu[0].at_risk);
    pred_forget(&f->p, 1); /* risk-clear */
    assert_false(f->p.psu[1].at_risk);
    pred_close(&f->p);

    /* off: no window, but the marks hold */
    char err[400];
    struct rackfile_prediction c = {.enabled = 0};
    f->r.psus[0].health = RACK_PSU_OK;
    assert_int_equal(pred_open(&f->p, &c, &f->r, T0, 1700000000, err, sizeof(err)), 0);
    assert_false(f->p.on);
    pred_adopt(&f->p, 0, T0 + S(1));
    pred_adopt(&f->p, 1, T0 + S(1));
    assert_true(f->p.psu[0].at_risk && f->p.psu[1].at_risk);
    enum pred_change_kind kind;
    assert_int_equal(feed(f, 0, 2, 10, 1000000, 0, &kind), -1);
    assert_true(f->p.psu[0].at_risk);
    pred_forget(&f->p, 0);
    assert_false(f->p.psu[0].at_risk);
    f->r.psus[1].health = RACK_PSU_FAILED;
    assert_int_equal(pred_health(&f->p, &f->r, NULL, T0 + S(11), out, 2), 1);
    assert_int_equal(out[0].psu, 1);
    assert_true(out[0].predicted);
    assert_false(f->p.psu[1].at_risk);
}

/* A controller that stops commanding drops what it adopted, not what its
 * windows predicted; one whose window still says so starts its own episode. */
static void test_unadopt_drops_only_adopted_episodes(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    open_pred(f, 60);
    assert_true(feed(f, 0, 0, 100, 1000000, 0x0004, &kind) > 0); /* p1: its window's episode */
    assert_int_equal(kind, PRED_AT_RISK);
    pred_adopt(&f->p, 0, T0 + S(101)); /* already at risk: not adopted */
    pred_adopt(&f->p, 1, T0 + S(101));
    assert_false(f->p.psu[0].adopted);
    assert_true(f->p.psu[1].adopted);
    pred_unadopt(&f->p);
    assert_true(f->p.psu[0].at_risk);
    assert_false(f->p.psu[1].at_risk || f->p.psu[1].adopted);
    /* adopted again, its window fills with warnings: kept, not confirmed */
    pred_adopt(&f->p, 1, T0 + S(102));
    assert_int_equal(feed(f, 1, 102, 200, 1000000, 0x0004, &kind), -1);
    assert_true(f->p.psu[1].at_risk && f->p.psu[1].adopted);
    pred_unadopt(&f->p);
    assert_false(f->p.psu[1].at_risk);
    assert_int_equal(feed(f, 1, 201, 210, 1000000, 0x0004, &kind), 201); /* its own, at once */
    assert_int_equal(kind, PRED_AT_RISK);
    assert_true(f->p.psu[1].at_risk);
    assert_false(f->p.psu[1].adopted);
    assert_true(f->p.psu[1].risk >= 0.5);
}

#define U0 INT64_C(1700000000) /* open_pred's Unix time of T0 */

/* PSU psu's reading as a row of the history CSV at Unix second t. */
static struct tcsv_row past_row(int psu, int64_t t, int64_t out_mw, int32_t sw)
{
    struct driver_psu_reading x = reading(psu, out_mw, sw);
    struct tcsv_row row;
    driver_psu_row(&x, t, &row);
    return row;
}

/* Primes PSU psu with a row each second from t to u (Unix seconds); the
 * rows that entered its window. */
static int prime(struct fix *f, int psu, int64_t t, int64_t u, int64_t out_mw, int32_t sw)
{
    char err[256];
    int n = 0;
    for (int64_t s = t; s <= u; s++) {
        struct tcsv_row row = past_row(psu, s, out_mw, sw);
        int rc = pred_prime(&f->p, &f->r, psu, s * 1000, &row, err, sizeof(err));
        if (rc < 0)
            fail_msg("pred_prime: %s", err);
        n += rc;
    }
    return n;
}

/* The past's readings fill the window (a risk at once, at a sample per
 * sample_s of model time) but start no episode: the first live reading
 * does, at once, where an empty window would wait for RISK_MIN_READINGS. */
static void test_primed_windows_have_a_risk_and_the_first_live_reading_starts_it(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    open_pred(f, 60); /* a second of the clock is a sample (a model minute) */
    assert_int_equal(pred_model_t_ms(&f->p, U0 * 1000), U0);
    assert_int_equal(pred_model_t_ms(&f->p, U0 * 1000 - 10500), U0 - 630);
    /* the last minute of the clock: the model's last hour, its window */
    assert_int_equal(prime(f, 0, U0 - 59, U0, 1000000, 0x0004), 60);
    const struct pred_psu *q = &f->p.psu[0];
    assert_true(q->have && q->risk >= 0.5 && !q->at_risk && !q->predicted);
    assert_true(strstr(q->reason, "warn") != NULL);
    /* the clock's second 0 is the last primed sample's; 1 the next */
    assert_int_equal(feed(f, 0, 0, 1, 1000000, 0x0004, &kind), 1); /* at once */
    assert_int_equal(kind, PRED_AT_RISK);
    assert_true(q->at_risk && q->predicted);
    /* p2 healthy in the past: a risk, low, and no change when it goes on */
    assert_int_equal(prime(f, 1, U0 - 59, U0, 1000000, 0), 60);
    assert_true(f->p.psu[1].have && f->p.psu[1].risk < 0.5);
    assert_int_equal(feed(f, 1, 0, 30, 1000000, 0, &kind), -1);
    /* an empty window waits for its readings: p2's new unit */
    pred_forget(&f->p, 1);
    assert_true(feed(f, 1, 31, 60, 1000000, 0x0004, &kind) >= 31 + RISK_MIN_READINGS - 1);
}

/* What the past may not give: readings without load, of a failed PSU, two
 * in one sample, one later than the start; the first live reading after
 * them is in time order. */
static void test_primed_readings_kept_out(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    open_pred(f, 60);
    assert_int_equal(prime(f, 0, U0 - 59, U0 - 30, 50000, 0x0004), 0); /* under 5 % */
    struct tcsv_row row = past_row(0, U0 - 20, 1000000, 0x0004);
    row.v[TCSV_POUT_W] = NAN; /* output not read */
    char err[256];
    assert_int_equal(pred_prime(&f->p, &f->r, 0, (U0 - 20) * 1000, &row, err, sizeof(err)), 0);
    assert_int_equal(f->p.psu[0].slot, -1);
    f->r.psus[1].health = RACK_PSU_FAILED;
    assert_int_equal(prime(f, 1, U0 - 59, U0, 1000000, 0x0004), 0);
    f->r.psus[1].health = RACK_PSU_OK;
    /* at time_scale 30, 2 s are a sample: a second reading in it is not */
    pred_close(&f->p);
    open_pred(f, 30);
    assert_int_equal(prime(f, 0, U0 - 10, U0 - 10, 1000000, 0), 1);
    assert_int_equal(prime(f, 0, U0 - 10, U0 - 10, 1000000, 0), 0);
    assert_int_equal(prime(f, 0, U0 - 9, U0 - 8, 1000000, 0), 1); /* 2 s: one sample */
    assert_int_equal(prime(f, 0, U0, U0, 1000000, 0), 1);
    assert_int_equal(feed(f, 0, 2, 2, 1000000, 0, &kind), -1); /* not out of time order */
    assert_true(f->p.psu[0].slot >= 0);
}

/* A PSU adopted from the ledger: the past gives it figures and keeps it at
 * risk; a past that says it is healthy ends it at the first live reading. */
static void test_an_adopted_psu_primed(void **state)
{
    struct fix *f = *state;
    enum pred_change_kind kind;
    open_pred(f, 60);
    pred_adopt(&f->p, 0, T0);
    pred_adopt(&f->p, 1, T0);
    assert_int_equal(prime(f, 0, U0 - 59, U0, 1000000, 0x0004), 60);
    assert_int_equal(prime(f, 1, U0 - 59, U0, 1000000, 0), 60);
    for (int i = 0; i < 2; i++) {
        assert_true(f->p.psu[i].at_risk && f->p.psu[i].adopted && f->p.psu[i].have);
        assert_string_equal(f->p.psu[i].predicted_reason, PRED_ADOPTED_REASON);
    }
    assert_true(f->p.psu[0].risk >= 0.5 && f->p.psu[1].risk < 0.5);
    assert_int_equal(feed(f, 0, 1, 20, 1000000, 0x0004, &kind), -1); /* stays, once */
    assert_true(f->p.psu[0].at_risk);
    assert_int_equal(feed(f, 1, 1, 20, 1000000, 0, &kind), 1);
    assert_int_equal(kind, PRED_CLEAR);
    assert_false(f->p.psu[1].at_risk);
}

/* A history file: the readings of the last window before the start, after
 * the last label that restarts a PSU's window; at time_scale 60 the raw
 * readings a second apart, at 1 the minutes. */
static void test_windows_primed_from_a_history_file(void **state)
{
    struct fix *f = *state;
    char dir[128], path[160], err[400];
    assert_int_equal(testdir_make(dir, sizeof(dir), path, sizeof(path), "test_predict"), 0);
    struct histstore *h = hist_open(path, false, err, sizeof(err));
    if (!h)
        fail_msg("hist_open: %s", err);
    struct hist_reading v[2 * 200];
    size_t n = 0;
    for (int64_t s = U0 - 120; s <= U0 + 5; s++) /* p1 and p2 each second, warnings on */
        for (int i = 0; i < 2; i++) {
            struct hist_reading *x = &v[n++];
            memset(x, 0, sizeof(*x));
            x->t_ms = s * 1000 + 250;
            x->kind = HIST_PSU;
            snprintf(x->elem, sizeof(x->elem), "%s", f->r.psus[i].id);
            x->v[HIST_VIN_MV] = 230000;
            x->v[HIST_IIN_MA] = 4000;
            x->v[HIST_VOUT_MV] = 51000;
            x->v[HIST_IOUT_MA] = 19600;
            x->v[HIST_PIN_MW] = 1033000;
            x->v[HIST_POUT_MW] = 1000000;
            x->v[HIST_TEMP_MC] = 45000;
            x->v[HIST_INLET_MC] = 25000;
            x->v[HIST_FAN_RPM] = 8000;
            x->bits = 0x0004;
        }
    /* the operator cleared p2 30 s before the start; p1's risk-clear by the
     * window (no who: psu_risk_clear) and its at-risk restart nothing */
    struct hist_label l[3] = {{.t_ms = (U0 - 30) * 1000, .kind = "risk_cleared"},
                              {.t_ms = (U0 - 40) * 1000, .kind = "psu_risk_clear"},
                              {.t_ms = (U0 - 50) * 1000, .kind = "psu_at_risk"}};
    snprintf(l[0].elem, sizeof(l[0].elem), "p2");
    snprintf(l[1].elem, sizeof(l[1].elem), "p1");
    snprintf(l[2].elem, sizeof(l[2].elem), "p1");
    if (hist_put(h, v, n, l, 3, err, sizeof(err)) || hist_rollup(h, err, sizeof(err)) < 0)
        fail_msg("hist_put: %s", err);
    hist_close(h);

    open_pred(f, 60); /* the window: the last 60 s, a row a second */
    struct pred_history_stats st;
    if (pred_history_prime(&f->p, &f->r, path, &st, err, sizeof(err)))
        fail_msg("pred_history_prime: %s", err);
    /* p1 U0-59 .. U0; p2 after the label at U0-30 s: its readings from U0-29.75 s */
    assert_int_equal(st.rows, 60 + 31);
    assert_int_equal(st.primed, 60 + 31);
    assert_int_equal(st.psus, 2);
    assert_int_equal(st.to_s, U0);
    assert_true(f->p.psu[0].have && f->p.psu[0].risk >= 0.5 && !f->p.psu[0].at_risk);
    assert_true(f->p.psu[1].have);
    enum pred_change_kind kind;
    assert_int_equal(feed(f, 0, 1, 1, 1000000, 0x0004, &kind), 1);
    assert_int_equal(kind, PRED_AT_RISK);

    /* time_scale 1, a window of an hour: the minutes, one a sample */
    pred_close(&f->p);
    open_pred(f, 1);
    if (pred_history_prime(&f->p, &f->r, path, &st, err, sizeof(err)))
        fail_msg("pred_history_prime: %s", err);
    assert_int_equal(st.rows, 3 + 1); /* p1: the minutes of U0-120 .. U0; p2: after U0-30 */
    assert_true(st.primed >= 2 && st.primed <= st.rows);

    /* no file: an error, the windows as they were */
    pred_close(&f->p);
    open_pred(f, 60);
    char none[160];
    snprintf(none, sizeof(none), "%s/none.db", dir);
    assert_int_equal(pred_history_prime(&f->p, &f->r, none, &st, err, sizeof(err)), -1);
    assert_true(strstr(err, "no history") != NULL);
    assert_int_equal(f->p.psu[0].slot, -1);
    assert_true(pred_history_restarts("in_service") && !pred_history_restarts("psu_at_risk"));
    assert_int_equal(testdir_remove(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_warning_psu_is_at_risk_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readings_without_load_stay_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_outcome_and_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_service_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_or_restarts_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_adopted_psu_is_at_risk_until_its_window_clears_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_adopted_psu_fails_predicted_or_is_cleared, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unadopt_drops_only_adopted_episodes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_primed_windows_have_a_risk_and_the_first_live_reading_starts_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_primed_readings_kept_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_adopted_psu_primed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows_primed_from_a_history_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
