/*
 * test_predict.c - live prediction (src/daemon/predict.c): readings sampled
 * once per sample_s of model time, the time scale, an episode once, readings
 * without load kept out, the outcome of a failure (predicted, and how long
 * before) and a repaired PSU as a new unit; the model file as a start error;
 * a PSU adopted at risk from the ledger (pred_adopt).
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

#include "predict.h"
#include "rackfile.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
