/*
 * predict.c - live failure prediction (predict.h, docs/prediction.md "In
 * rackpowerd").
 */
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_io.h"
#include "reload.h"
#include "monoclock.h"

int pred_open(struct predictor *p, const struct rackfile_prediction *conf, const struct rack *r,
              int64_t now_ns, int64_t unix_s, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    err[0] = '\0';
    p->npsus = r->npsus;
    p->psu = calloc((size_t)r->npsus + 1, sizeof(*p->psu));
    if (!p->psu) {
        snprintf(err, errlen, "prediction: out of memory");
        return -1;
    }
    for (int i = 0; i < r->npsus; i++) {
        p->psu[i].slot = -1;
        p->psu[i].generation = 1;
        p->psu[i].risk = p->psu[i].ttf_s = NAN;
        p->psu[i].health = r->psus[i].health;
    }
    if (!conf->enabled)
        return 0;
    bool given = conf->model[0] != '\0';
    snprintf(p->model_path, sizeof(p->model_path), "%s",
             given ? conf->model : model_default_path());
    char why[300];
    if (model_read(p->model_path, &p->model, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "prediction: %s%s", why,
                 given ? "" : " (the default model: prediction is off)");
        if (!given)
            return 0;
        pred_close(p);
        return -1;
    }
    p->threshold = conf->threshold > 0 ? conf->threshold : p->model.threshold;
    p->time_scale = conf->time_scale > 0 ? conf->time_scale : 1;
    p->sample_s = conf->sample_s > 0 ? conf->sample_s : 60;
    p->t0_ns = now_ns;
    p->t0_unix = unix_s;
    risk_fleet_init(&p->fleet, p->model.window_s);
    p->on = true;
    return 0;
}

void pred_close(struct predictor *p)
{
    if (p->on)
        risk_fleet_free(&p->fleet);
    free(p->psu);
    memset(p, 0, sizeof(*p));
}

int64_t pred_model_t(const struct predictor *p, int64_t now_ns)
{
    return p->t0_unix + (int64_t)floor((double)(now_ns - p->t0_ns) / 1e9 * p->time_scale);
}

int64_t pred_model_t_ms(const struct predictor *p, int64_t unix_ms)
{
    return p->t0_unix +
           (int64_t)floor((double)(unix_ms - p->t0_unix * 1000) / 1000 * p->time_scale);
}

/* The id a PSU's unit has in the fleet: a repaired PSU is a new unit with a
 * window of its own ("ps1", then "ps1:2", ...). */
static void unit_id(const struct rack *r, int i, int generation, char *buf, size_t len)
{
    if (generation <= 1)
        snprintf(buf, len, "%.*s", TCSV_ID_LEN - 1, r->psus[i].id);
    else
        snprintf(buf, len, "%.*s:%d", TCSV_ID_LEN - 8, r->psus[i].id, generation);
}

/* A PSU adopted at risk (pred_adopt) has no episode in its window's alarm
 * state: set it, so that the window's own evaluations can end it (below
 * threshold - RISK_HYSTERESIS) rather than start one anew. */
static void adopted_alarm(struct predictor *p, const struct pred_psu *q)
{
    if (q->at_risk && q->slot >= 0)
        p->fleet.psus[q->slot].alarm.at_risk = 1;
}

/* Whether a reading of PSU i with output out_w (NaN: not read) may enter
 * its window: prediction on, the PSU not failed and carrying load. */
static bool may_sample(const struct predictor *p, const struct rack *r, int i, double out_w)
{
    if (!p->on || i < 0 || i >= p->npsus)
        return false;
    const struct rack_psu *rp = &r->psus[i];
    if (rp->health == RACK_PSU_FAILED || r->feed_failed[rp->feed])
        return false; /* a failed PSU's readings are its failure, not its ageing */
    return !isnan(out_w) && out_w * 1000 >= PRED_MIN_LOAD_SHARE * (double)rp->rated_mw;
}

/* Whether PSU i takes a sample at model time t (one per sample_s), and if
 * so the time of the next. */
static bool due(struct predictor *p, int i, int64_t t)
{
    struct pred_psu *q = &p->psu[i];
    if (q->slot >= 0 && t < q->next_t)
        return false;
    q->next_t = t - t % p->sample_s + p->sample_s;
    return true;
}

/* A due sample, row at model time row->t, into PSU i's window, and
 * evaluated. Returns what risk_fleet_step does (1 an episode started, -1 it
 * ended, 0 neither, also when there was too little for a risk), or -2 with
 * err. */
static int sample(struct predictor *p, const struct rack *r, int i, struct tcsv_row *row, char *err,
                  size_t errlen)
{
    struct pred_psu *q = &p->psu[i];
    unit_id(r, i, q->generation, row->psu, sizeof(row->psu));

    int64_t t0 = mono_ns();
    int slot;
    struct risk_out o;
    bool fresh = q->slot < 0;
    adopted_alarm(p, q);
    int step = risk_fleet_step(&p->fleet, &p->model, p->threshold, row, &slot, &o, err, errlen);
    p->eval_ns += mono_ns() - t0;
    p->evals++;
    if (step == -2)
        return -2;
    q->slot = slot;
    if (fresh && step == 0)
        adopted_alarm(p, q); /* its first reading: the step made the slot */
    if (isnan(o.risk))
        return 0;
    q->have = true;
    q->risk = o.risk;
    q->ttf_s = o.ttf_s / p->time_scale;
    risk_reason(&o, q->reason, sizeof(q->reason));
    return step;
}

int pred_reading(struct predictor *p, const struct rack *r, const struct driver_psu_reading *x,
                 int64_t now_ns, enum pred_change_kind *kind, char *err, size_t errlen)
{
    int i = x->psu;
    if (x->unread || !may_sample(p, r, i, x->out_mw < 0 ? NAN : (double)x->out_mw / 1000))
        return 0;
    struct pred_psu *q = &p->psu[i];
    int64_t t = pred_model_t(p, now_ns);
    if (!due(p, i, t))
        return 0;
    struct tcsv_row row;
    driver_psu_row(x, t, &row);
    int step = sample(p, r, i, &row, err, errlen);
    if (step == -2)
        return -1;
    if (step != 0)
        q->adopted = false; /* the window's own word from now on */
    if (step > 0) {
        q->at_risk = q->predicted = true;
        q->predicted_ns = now_ns;
        q->predicted_risk = q->risk;
        q->predicted_ttf_s = q->ttf_s;
        snprintf(q->predicted_reason, sizeof(q->predicted_reason), "%s", q->reason);
        *kind = PRED_AT_RISK;
        return 1;
    }
    if (step < 0) {
        q->at_risk = q->predicted = false;
        *kind = PRED_CLEAR;
        return 1;
    }
    return 0;
}

int pred_prime(struct predictor *p, const struct rack *r, int i, int64_t t_ms,
               const struct tcsv_row *past, char *err, size_t errlen)
{
    if (!may_sample(p, r, i, past->v[TCSV_POUT_W]))
        return 0;
    struct pred_psu *q = &p->psu[i];
    struct tcsv_row row = *past;
    row.t = pred_model_t_ms(p, t_ms);
    if (!due(p, i, row.t))
        return 0;
    if (sample(p, r, i, &row, err, errlen) == -2)
        return -1;
    /* no episode starts or ends here: the window's alarm keeps the PSU's
     * word (how long the risk has been above the threshold it keeps too),
     * and its first live reading says what changed */
    p->fleet.psus[q->slot].alarm.at_risk = q->at_risk;
    return 1;
}

/* Forgets a PSU's unit: its next reading starts the window of a new one
 * (the fleet keeps the old unit's window under its old id). */
static void new_unit(struct predictor *p, int i)
{
    struct pred_psu *q = &p->psu[i];
    q->generation++;
    q->slot = -1;
    q->next_t = 0;
    q->have = q->at_risk = q->predicted = q->adopted = false;
    q->risk = q->ttf_s = NAN;
    q->reason[0] = '\0';
}

void pred_forget(struct predictor *p, int i)
{
    if (i >= 0 && i < p->npsus) /* off: an adopted episode ends all the same */
        new_unit(p, i);
}

void pred_adopt(struct predictor *p, int i, int64_t now_ns)
{
    if (i < 0 || i >= p->npsus || p->psu[i].at_risk)
        return;
    struct pred_psu *q = &p->psu[i];
    q->at_risk = q->predicted = q->adopted = true;
    q->predicted_ns = now_ns;
    q->predicted_risk = q->predicted_ttf_s = NAN;
    snprintf(q->predicted_reason, sizeof(q->predicted_reason), "%s", PRED_ADOPTED_REASON);
}

void pred_unadopt(struct predictor *p)
{
    for (int i = 0; i < p->npsus; i++) {
        struct pred_psu *q = &p->psu[i];
        if (!q->adopted)
            continue;
        q->adopted = q->at_risk = q->predicted = false;
        if (q->slot >= 0) /* set by adopted_alarm: the window starts an episode of its own */
            p->fleet.psus[q->slot].alarm.at_risk = 0;
    }
}

int pred_health(struct predictor *p, const struct rack *r, const bool *oos, int64_t now_ns,
                struct pred_outcome *out, int max)
{
    int n = 0;
    for (int i = 0; i < p->npsus && i < r->npsus; i++) {
        struct pred_psu *q = &p->psu[i];
        enum rack_psu_health h = r->psus[i].health;
        enum rack_psu_health was = q->health;
        if (h == was)
            continue;
        if (h == RACK_PSU_FAILED) {
            if (n == max)
                return n; /* this one and the rest: the next call */
            bool taken_out = oos && oos[i];
            out[n++] = (struct pred_outcome){
                .psu = i,
                .out_of_service = taken_out,
                .predicted = q->at_risk,
                .lead_s = q->at_risk ? (double)(now_ns - q->predicted_ns) / 1e9 : NAN,
                .risk = q->at_risk ? q->predicted_risk : NAN,
                .ttf_s = q->at_risk ? q->predicted_ttf_s : NAN,
                .reason = q->at_risk ? q->predicted_reason : "",
            };
            q->at_risk = q->adopted = false; /* the episode ends with the failure */
        } else if (was == RACK_PSU_FAILED && h != RACK_PSU_UNKNOWN && p->on) {
            new_unit(p, i); /* repaired, or back in service: a new unit */
        }
        q->health = h;
    }
    return n;
}

static bool same_model(const struct risk_model *a, const struct risk_model *b)
{
    if (a->horizon_s != b->horizon_s || a->window_s != b->window_s ||
        a->threshold != b->threshold || a->persist_s != b->persist_s ||
        a->intercept != b->intercept)
        return false;
    for (int f = 0; f < RISK_NFEATURES; f++)
        if (a->mean[f] != b->mean[f] || a->scale[f] != b->scale[f] || a->coef[f] != b->coef[f])
            return false;
    return true;
}

void pred_reload_commit(struct predictor *p, struct predictor *next, char *what, size_t len)
{
    what[0] = '\0';
    if (!p->on && !next->on) {
        /* off and off: the old one keeps what it adopted */
        pred_close(next);
        return;
    }
    if (p->on != next->on)
        reload_note(what, len, "prediction %s", next->on ? "on" : "off");
    else if (strcmp(p->model_path, next->model_path))
        reload_note(what, len, "prediction model %s -> %s", p->model_path, next->model_path);
    else if (!same_model(&p->model, &next->model))
        reload_note(what, len, "prediction model %s read again: changed", next->model_path);
    if (p->on && next->on && p->threshold != next->threshold)
        reload_note(what, len, "prediction threshold %g -> %g", p->threshold, next->threshold);
    if (p->on && next->on && p->sample_s != next->sample_s)
        reload_note(what, len, "prediction sample_s %lld -> %lld", (long long)p->sample_s,
                    (long long)next->sample_s);
    bool keep = p->on && next->on && p->model.window_s == next->model.window_s &&
                p->time_scale == next->time_scale && p->npsus == next->npsus;
    if (keep) {
        /* the windows go on: the new predictor takes the old one's books */
        risk_fleet_free(&next->fleet);
        free(next->psu);
        next->fleet = p->fleet;
        next->psu = p->psu;
        next->t0_ns = p->t0_ns;
        next->t0_unix = p->t0_unix;
        next->evals = p->evals;
        next->eval_ns = p->eval_ns;
        p->on = false; /* its fleet is next's now */
        p->psu = NULL;
        if (what[0])
            reload_note(what, len, "windows kept");
    } else {
        if (p->on && next->on)
            reload_note(what, len,
                        "prediction window %lld s at time_scale %g -> %lld s at %g: windows "
                        "start again",
                        (long long)p->model.window_s, p->time_scale,
                        (long long)next->model.window_s, next->time_scale);
        for (int i = 0; i < p->npsus && i < next->npsus; i++) {
            const struct pred_psu *q = &p->psu[i];
            struct pred_psu *n = &next->psu[i];
            n->generation = q->generation;
            n->health = q->health;
            if (!q->at_risk)
                continue;
            /* at risk it stays: what the prediction said, and the new
             * window may end it (adopted) */
            n->at_risk = n->predicted = n->adopted = true;
            n->predicted_ns = q->predicted_ns;
            n->predicted_risk = q->predicted_risk;
            n->predicted_ttf_s = q->predicted_ttf_s;
            snprintf(n->predicted_reason, sizeof(n->predicted_reason), "%s", q->predicted_reason);
        }
        next->evals = p->evals;
        next->eval_ns = p->eval_ns;
    }
    pred_close(p);
    *p = *next;
    memset(next, 0, sizeof(*next));
}
