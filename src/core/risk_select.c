/*
 * risk_select.c - episodes scored, and the alarm rule chosen against a
 * false-alarm budget (risk_select.h).
 */
#include "risk_select.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "risk.h"

double risk_score_false_per_kday(const struct risk_score *s)
{
    long false_eps = s->episodes - s->true_episodes;
    return s->psu_days > 0 ? 1000.0 * (double)false_eps / s->psu_days : 0.0;
}

static void episode_end(const struct risk_trace *tr, int64_t start, int64_t end, int64_t horizon_s,
                        int64_t *first_true, struct risk_score *s)
{
    s->episodes++;
    int64_t f = tr->failure_t;
    if (f >= 0 && start < f && end > f - horizon_s) {
        s->true_episodes++;
        if (*first_true < 0)
            *first_true = start;
    }
}

double risk_score_trace(const struct risk_trace *tr, double threshold, int64_t persist_s,
                        int64_t horizon_s, struct risk_score *s)
{
    struct risk_alarm a = {0};
    int64_t start = 0, first_true = -1;
    for (size_t i = 0; i < tr->n; i++) {
        if (tr->failure_t >= 0 && tr->t[i] >= tr->failure_t)
            break; /* readings at or after the failure say nothing of it */
        int step = risk_alarm_step(&a, tr->t[i], tr->risk[i], threshold, persist_s);
        if (step > 0)
            start = tr->t[i];
        else if (step < 0)
            episode_end(tr, start, tr->t[i], horizon_s, &first_true, s);
    }
    if (a.at_risk) /* still at risk: the episode runs to the failure or past the last reading */
        episode_end(tr, start, tr->failure_t >= 0 ? tr->failure_t : tr->last_t + 1, horizon_s,
                    &first_true, s);
    s->psu_days += (double)(tr->last_t - tr->first_t) / 86400.0;
    if (tr->failure_t < 0 || tr->failure_t > tr->last_t + 86400)
        return -1; /* did not fail while the history watched it */
    s->failures++;
    s->predictable += tr->predictable != 0;
    if (first_true < 0)
        return -1;
    double lead = (double)(tr->failure_t - first_true);
    s->caught++;
    s->caught24 += lead >= RISK_EARLY_LEAD_S;
    s->pcaught += tr->predictable != 0;
    s->pcaught24 += tr->predictable && lead >= RISK_EARLY_LEAD_S;
    return lead;
}

/* a better than b by the order of risk_select.h (budget met first) */
static int better(const struct risk_choice *a, const struct risk_choice *b)
{
    if (a->met != b->met)
        return a->met > b->met;
    long fa = a->score.episodes - a->score.true_episodes;
    long fb = b->score.episodes - b->score.true_episodes;
    if (a->met && a->score.pcaught24 != b->score.pcaught24)
        return a->score.pcaught24 > b->score.pcaught24;
    if (fa != fb)
        return fa < fb;
    if (!a->met && a->score.pcaught24 != b->score.pcaught24)
        return a->score.pcaught24 > b->score.pcaught24;
    if (a->persist_s != b->persist_s)
        return a->persist_s < b->persist_s;
    return a->threshold > b->threshold;
}

int risk_select(const struct risk_trace *tr, size_t n, int64_t horizon_s, double budget,
                const int64_t *persists, size_t npersists, struct risk_choice *out,
                struct risk_choice *each, char *err, size_t errlen)
{
    static const int64_t no_persistence = 0;
    if (!persists || npersists == 0)
        persists = &no_persistence, npersists = 1;
    if (n == 0 || !(budget >= 0) || horizon_s <= 0) {
        snprintf(err, errlen, "select: %s", n == 0 ? "no PSUs to choose on" : "a bad argument");
        return -1;
    }
    for (size_t k = 0; k < npersists; k++)
        if (persists[k] < 0 || (k > 0 && persists[k] <= persists[k - 1])) {
            snprintf(err, errlen, "select: persistences must rise from 0 or more");
            return -1;
        }
    int have = 0;
    for (size_t k = 0; k < npersists; k++) {
        int have_k = 0;
        for (int j = RISK_SELECT_FIRST; j <= RISK_SELECT_LAST; j++) {
            struct risk_choice c = {.threshold = RISK_SELECT_THRESHOLD(j),
                                    .persist_s = persists[k]};
            for (size_t i = 0; i < n; i++)
                risk_score_trace(&tr[i], c.threshold, c.persist_s, horizon_s, &c.score);
            if (!(c.score.psu_days > 0)) {
                snprintf(err, errlen, "select: the PSUs were observed for no time");
                return -1;
            }
            c.met = risk_score_false_per_kday(&c.score) <= budget;
            if (!have || better(&c, out))
                *out = c, have = 1;
            if (each && (!have_k || better(&c, &each[k])))
                each[k] = c, have_k = 1;
        }
    }
    return 0;
}
