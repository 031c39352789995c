/*
 * predict_history.h - the predictor's windows primed from the telemetry
 * history at start (docs/prediction.md "After a restart"): without it a
 * restarted rackpowerd had no risk for any PSU until a quarter of a window
 * (18 h of the default 72 h) of new readings came, and an episode of the
 * last run was known from the ledger alone, with no figures.
 *
 * Reads the history file (histstore.h) read-only; the caller's predictor
 * gets the readings through pred_prime. Called once, before the loop runs:
 * a window's worth of readings is a query of some thousand rows per PSU.
 */
#ifndef PREDICT_HISTORY_H
#define PREDICT_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "predict.h"
#include "rack.h"

/* What restarts a PSU's window, as the history labels it (history.h's
 * hist_label_of): a failure, a repair, out of and back in service, and the
 * operator's clear (risk_cleared). The readings before the last of these
 * are another unit's, or ones the operator told the predictor to forget. */
bool pred_history_restarts(const char *label_kind);

struct pred_history_stats {
    int64_t rows;   /* rows read from the history */
    int64_t primed; /* of them, samples that entered a window */
    int psus;       /* PSUs whose window got at least one */
    int64_t from_s; /* the span read: Unix seconds */
    int64_t to_s;
    int64_t ms; /* how long it took */
};

/*
 * Primes p's windows from the history at hist_path: for each PSU of r, its
 * readings of the last window (window_s of model time: window_s /
 * time_scale seconds) before p's start (p->t0_unix), after the last label
 * that restarts its window, at one row per sample_s of model time (the
 * minute rollups at the default sample_s, the raw readings grouped when the
 * time scale makes a sample shorter than a minute), oldest first. Nothing
 * when prediction is off. 0 with *st, or -1 with err (the file cannot be
 * opened or read, out of memory): a window left as it was is the
 * caller's to say, never a start error.
 */
int pred_history_prime(struct predictor *p, const struct rack *r, const char *hist_path,
                       struct pred_history_stats *st, char *err, size_t errlen);

#endif
