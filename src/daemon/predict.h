/*
 * predict.h - live failure prediction in rackpowerd (issue 11 sections 2-3,
 * docs/prediction.md "In rackpowerd"): each PSU's fresh readings go through
 * the same risk code rackpower-predict replays files with (risk.h,
 * risk_fleet_step); an episode that starts becomes POLICY_PSU_AT_RISK, one
 * that ends POLICY_PSU_RISK_CLEAR, and both an alarm and journal events.
 *
 * Bookkeeping over the caller's clock: readings and `now` (monotonic ns)
 * come in, changes go out; no I/O but pred_open reading the model file, and
 * the clock read only to time its own evaluations (evals, eval_ns). The
 * engine owns one and calls it on its loop thread.
 */
#ifndef PREDICT_H
#define PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemonconf.h"
#include "driver.h"
#include "rack.h"
#include "risk.h"

#define PRED_REASON_LEN 200

/* A reading below this share of the PSU's rating does not enter its window:
 * a PSU standing by, drained or off says nothing of how it bears load, and
 * one at risk and drained would otherwise look healthy and be put back. */
#define PRED_MIN_LOAD_SHARE 0.05

struct pred_psu {
    int slot;           /* its index in the risk fleet, -1 before its first sample */
    int generation;     /* its unit: 1, then one more for each repair after a failure */
    int64_t next_t;     /* model time from which the next sample is taken */
    bool have;          /* risk and ttf_s hold an evaluation */
    double risk, ttf_s; /* the last evaluation; ttf_s in the daemon's seconds */
    char reason[PRED_REASON_LEN];
    bool at_risk;
    bool adopted; /* at risk from the ledger (pred_adopt), not from its window */
    /* the episode under way, or the last one: what it said, for the outcome */
    bool predicted;
    int64_t predicted_ns;
    double predicted_risk, predicted_ttf_s;
    char predicted_reason[PRED_REASON_LEN];
    enum rack_psu_health health; /* as last seen by pred_health */
};

struct predictor {
    bool on;
    char model_path[256];
    struct risk_model model;
    double threshold;
    double time_scale;
    int64_t sample_s;
    int64_t t0_ns;   /* monotonic time of model time t0_unix */
    int64_t t0_unix; /* the wall clock at start: model time starts there */
    struct risk_fleet fleet;
    int npsus;
    struct pred_psu *psu;
    /* evaluations made and their total cost, for the figure in the log */
    uint64_t evals;
    int64_t eval_ns;
};

/*
 * Reads the model and sets up a window per PSU of r. With the section's
 * model given, a missing or bad file is an error (-1 with err, a start
 * error); with none, the default (model_default_path) is read and when it
 * is missing or bad prediction is off: 0, p->on false and why in err (the
 * caller logs it). enabled: false is off, err "". now_ns and unix_s anchor
 * model time.
 */
int pred_open(struct predictor *p, const struct rackfile_prediction *conf, const struct rack *r,
              int64_t now_ns, int64_t unix_s, char *err, size_t errlen);
void pred_close(struct predictor *p);

/* What changed for a PSU. */
enum pred_change_kind {
    PRED_AT_RISK, /* an episode started: tell the policy POLICY_PSU_AT_RISK */
    PRED_CLEAR,   /* it ended: POLICY_PSU_RISK_CLEAR */
};

/*
 * A fresh reading of PSU x->psu at now_ns. When a sample is due (one per
 * sample_s of model time) and the PSU carries load, it enters the window
 * and is evaluated. Returns 1 with *kind when an episode started or ended,
 * 0 when nothing changed, -1 with err (out of memory: the reading is lost).
 */
int pred_reading(struct predictor *p, const struct rack *r, const struct driver_psu_reading *x,
                 int64_t now_ns, enum pred_change_kind *kind, char *err, size_t errlen);

/*
 * A reading of PSU i from before this predictor started: the history's
 * (engine.c primes the windows from it at start, so that a restart does not
 * blind prediction for a window's span). t_ms is the reading's Unix time
 * in milliseconds (past->t and past->psu are not read), no later than the
 * predictor's start; a PSU's readings come oldest first. It enters the window as a live reading
 * would (sampled once per sample_s of model time; kept out when the PSU is
 * failed now or the reading carries too little load) and its evaluation
 * sets the PSU's risk, ttf_s and reason, but no episode starts or ends
 * here: the PSU's window keeps its alarm state as the PSU is (at risk or
 * not), with how long its risk has been above the threshold, so that its
 * first live reading says what changed (an episode the past's readings
 * start, or one adopted from the ledger that they end). Returns 1 when it
 * entered the window, 0 when not, -1 with err (out of memory, or out of
 * time order).
 */
int pred_prime(struct predictor *p, const struct rack *r, int i, int64_t t_ms,
               const struct tcsv_row *past, char *err, size_t errlen);

/*
 * What became of predictions, from the PSUs' health in r at now_ns: a PSU
 * that failed ends its episode (outcome: predicted or not, how long before),
 * one that is repaired after a failure starts a new window (a new unit).
 * oos (per PSU, NULL: none) names those the operator holds out of service:
 * r shows them failed, but that is a person's act, not a failure. Their
 * episode ends with an outcome of its own (out_of_service), and coming back
 * in service starts a new unit, as a repair does: PSUs are taken out to be
 * swapped or serviced, and a window of the old unit would be wrong for both.
 * Fills out with at most max outcomes and returns how many; a PSU beyond
 * max is left for the next call (call again while it returns max).
 */
struct pred_outcome {
    int psu;
    bool out_of_service; /* the operator took it out, rather than a failure */
    bool predicted;      /* it was at risk when it failed (or was taken out) */
    double lead_s;       /* failure time - the start of its episode; NaN when not predicted */
    double risk;         /* what the prediction said (NaN when not predicted) */
    double ttf_s;        /* ... its time to failure, in the daemon's seconds */
    const char *reason;
};
int pred_health(struct predictor *p, const struct rack *r, const bool *oos, int64_t now_ns,
                struct pred_outcome *out, int max);

/* The operator cleared PSU i's prediction: its window starts again as a new
 * unit (the readings that raised the alarm would raise it again at once);
 * a window long enough for a risk has to fill before it can be at risk
 * again. Also when off: an adopted episode (pred_adopt) ends. */
void pred_forget(struct predictor *p, int i);

/*
 * What the ledger says: PSU i was predicted to fail before a restart or a
 * fail-over (the rack holds it at_risk) and this predictor has no episode of
 * it (its window starts empty). It is marked at risk as if predicted at
 * now_ns, its risk and time to failure unknown (NaN), PRED_ADOPTED_REASON
 * its reason: its alarm shows, a failure is an outcome predicted (lead_s
 * from now_ns), the operator's risk-clear (pred_forget) ends it. Loaded
 * again, its window ends the episode when it evaluates below threshold -
 * RISK_HYSTERESIS (pred_reading: PRED_CLEAR). Nothing for a PSU already at
 * risk. With prediction off it is marked all the same: no window ends it
 * then, only a clear or a failure. The caller's rack already says so.
 */
#define PRED_ADOPTED_REASON "predicted before a restart or fail-over (the ledger)"
void pred_adopt(struct predictor *p, int i, int64_t now_ns);

/* A controller that stops commanding drops the episodes it adopted
 * (pred_psu.adopted: no start or end of its window's since): as a secondary
 * it follows the primary's ledger, which may clear the PSU meanwhile, and
 * elected again it adopts what the ledger then says. The windows stay, and
 * so do the episodes they started; one still at or above the threshold
 * starts anew at its next sample. */
void pred_unadopt(struct predictor *p);

/*
 * A reload (SIGHUP, POST /v1/reload) of the prediction: section, in two
 * steps so that a refused reload changes nothing. First pred_open reads
 * conf into a new predictor next (the model file read again: an operator
 * replaces it and reloads; its -1, a model given missing or bad, refuses
 * the reload). pred_reload_commit then puts next in p's place, p's old self
 * closed, and says what changed in what ("" nothing):
 *  - the same window_s and time_scale: the windows, episodes and units go
 *    on under the new model, threshold and sample_s;
 *  - else the windows start empty (their readings are of another span or
 *    clock); a PSU at risk stays at risk, its episode taken on as adopted
 *    (pred_adopt: its new window may end it);
 *  - off: every PSU at risk stays at risk as adopted (only a clear or a
 *    failure ends it): turning prediction off puts nothing back on a bus.
 */
void pred_reload_commit(struct predictor *p, struct predictor *next, char *what, size_t len);

/* The model's time of now_ns (Unix seconds as the model counts them). */
int64_t pred_model_t(const struct predictor *p, int64_t now_ns);
/* ... and of a Unix time in milliseconds (before the start: time_scale
 * times as far back). */
int64_t pred_model_t_ms(const struct predictor *p, int64_t unix_ms);

#endif
