/*
 * risk_select.h - episodes scored against labels, and the alarm rule (the
 * threshold and how long the risk must stay above it) chosen to meet a
 * false-alarm budget with the best recall (issue 11, section 7;
 * docs/prediction.md "Choosing the threshold"). Pure: the caller replays a
 * history through risk.h and hands over each PSU's risk after each reading.
 */
#ifndef RISK_SELECT_H
#define RISK_SELECT_H

#include <stddef.h>
#include <stdint.h>

/* A PSU's replay: the risk after each reading that had features, in time
 * order, what the history saw of it and what became of it. */
struct risk_trace {
    const int64_t *t;
    const double *risk;
    size_t n;
    int64_t first_t, last_t; /* its first and last reading (its observed days) */
    int64_t failure_t;       /* -1: did not fail */
    int predictable;         /* the labels' word: its cause showed 24 h ahead */
};

/* A failure counts as caught early when its first true episode began at
 * least this long before it (the "recall at a lead of 24 h"). */
#define RISK_EARLY_LEAD_S 86400

/* Scores over traces. An episode [start, end) is true when it overlaps the
 * horizon before its PSU's failure, [failure_t - horizon_s, failure_t); any
 * other is a false alarm. A failure counts when the history watched it (no
 * more than a day after the last reading). Lead = failure_t - the start of
 * the first true episode. */
struct risk_score {
    long episodes, true_episodes;
    long failures, caught, caught24;      /* all failures */
    long predictable, pcaught, pcaught24; /* the predictable ones */
    double psu_days;                      /* observed: last_t - first_t */
};

/* False alarms per 1000 PSU-days (0 when no days were observed). */
double risk_score_false_per_kday(const struct risk_score *s);

/* Replays one trace with the alarm rule (risk_alarm_step) and adds it to s.
 * Returns the lead in seconds of its first true episode, or -1 (none). */
double risk_score_trace(const struct risk_trace *tr, double threshold, int64_t persist_s,
                        int64_t horizon_s, struct risk_score *s);

/* The rule chosen, and what it scored on the traces it was chosen on. */
struct risk_choice {
    double threshold;
    int64_t persist_s;
    struct risk_score score;
    int met; /* 1: within the budget; 0: no rule was, this one has the fewest false alarms */
};

/* The candidates: thresholds 0.20 .. 0.99 in steps of 0.01, each with every
 * persistence of persists[] (seconds, ascending; persists NULL: 0 only). Not
 * below 2 x RISK_HYSTERESIS: an episode ends below threshold - 0.1, so under
 * that it almost never ends, and an alarm that never clears counts as one
 * episode: cheap by the count of false alarms, useless to an operator. */
#define RISK_SELECT_FIRST 20
#define RISK_SELECT_LAST 99
#define RISK_SELECT_THRESHOLD(j) ((j) / 100.0)

/* Chooses the rule, over the candidates, that meets budget (false alarms per
 * 1000 PSU-days, >= 0) with the most predictable failures caught at a lead of
 * RISK_EARLY_LEAD_S or more; ties go to fewer false alarms, then the shorter
 * persistence, then the higher threshold (the one further from alarming on
 * what it has not seen). When none meets it: the fewest false alarms, then
 * the same order. each (NULL, or npersists of them): the best rule of each
 * persistence by the same order, to show what the choice was between.
 * 0, or -1 with err (no traces, no observed days, a bad argument). */
int risk_select(const struct risk_trace *tr, size_t n, int64_t horizon_s, double budget,
                const int64_t *persists, size_t npersists, struct risk_choice *out,
                struct risk_choice *each, char *err, size_t errlen);

#endif
