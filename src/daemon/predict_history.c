/*
 * predict_history.c - the predictor's windows primed from the telemetry
 * history (predict_history.h, docs/prediction.md "After a restart").
 */
#include "predict_history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histstore.h"
#include "monoclock.h"

bool pred_history_restarts(const char *label_kind)
{
    static const char *const kinds[] = {"psu_fail", "psu_repair", "out_of_service", "in_service",
                                        "risk_cleared"};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++)
        if (!strcmp(label_kind, kinds[k]))
            return true;
    return false;
}

struct starts {
    const struct rack *r;
    int64_t *after_ms; /* per PSU: readings after this time only */
};

static int take_label(void *arg, const struct hist_label *l)
{
    struct starts *s = arg;
    if (!pred_history_restarts(l->kind))
        return 0;
    int i = rack_find_psu(s->r, l->elem);
    if (i >= 0 && l->t_ms > s->after_ms[i])
        s->after_ms[i] = l->t_ms;
    return 0;
}

struct feed {
    struct predictor *p;
    const struct rack *r;
    int psu;
    int64_t rows, primed;
    char *err;
    size_t errlen;
};

static int take_row(void *arg, const struct hist_row *h)
{
    struct feed *f = arg;
    struct tcsv_row row;
    hist_row_tcsv(h, &row);
    f->rows++;
    int rc = pred_prime(f->p, f->r, f->psu, h->t_ms, &row, f->err, f->errlen);
    if (rc < 0)
        return -1;
    f->primed += rc;
    return 0;
}

int pred_history_prime(struct predictor *p, const struct rack *r, const char *hist_path,
                       struct pred_history_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    err[0] = '\0';
    if (!p->on)
        return 0;
    int64_t t0 = mono_ns();
    /* the window's span in the history's (wall) time, and a row per sample */
    double scale = p->time_scale > 0 ? p->time_scale : 1;
    int64_t span_ms = (int64_t)((double)p->model.window_s * 1000 / scale);
    int64_t step_ms = (int64_t)((double)p->sample_s * 1000 / scale);
    if (step_ms < 1)
        step_ms = 1;
    int64_t to_ms = (p->t0_unix + 1) * 1000; /* t0_unix's second, not after */
    int64_t from_ms = to_ms - span_ms;
    st->from_s = from_ms / 1000;
    st->to_s = p->t0_unix;
    /* rows per PSU: one a step, a few more for the steps' edges */
    size_t max_rows = (size_t)(span_ms / step_ms) + 16;

    struct histstore *h = hist_open(hist_path, true, err, errlen);
    if (!h)
        return -1;
    int64_t *after = calloc((size_t)r->npsus + 1, sizeof(*after));
    if (!after) {
        hist_close(h);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < r->npsus; i++)
        after[i] = from_ms - 1;
    struct starts s = {.r = r, .after_ms = after};
    if (hist_labels(h, from_ms, to_ms, take_label, &s, err, errlen) < 0)
        rc = -1;
    for (int i = 0; !rc && i < r->npsus; i++) { /* one the history never had: no rows */
        struct feed f = {.p = p, .r = r, .psu = i, .err = err, .errlen = errlen};
        int q = hist_query(h, HIST_PSU, r->psus[i].id, after[i] + 1, to_ms, step_ms, max_rows,
                           take_row, &f, err, errlen);
        st->rows += f.rows;
        st->primed += f.primed;
        st->psus += f.primed > 0;
        if (q != 0) {
            char what[300];
            snprintf(what, sizeof(what), "%s", err);
            snprintf(err, errlen, "%s: %s", r->psus[i].id, what);
            rc = -1;
        }
    }
    free(after);
    hist_close(h);
    st->ms = (mono_ns() - t0) / 1000000;
    return rc;
}
