/*
 * train_main.c - rackpower-train: fits the PSU risk model from a history
 * file and its labels, holding back a share of the PSUs (by id: no PSU on
 * both sides), and prints precision, recall and lead time on the held-back
 * PSUs, with the baseline of PMBus warning bits alone (man/rackpower-train.1,
 * docs/prediction.md "Training").
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history_io.h"
#include "model_io.h"
#include "risk.h"
#include "splitmix.h"

#define SAMPLE_EVERY_S 3600 /* one training vector per PSU per hour of history */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rackpower-train --history FILE.csv --labels FILE.csv --out MODEL [--seed S]\n"
            "       rackpower-train --history FILE.csv --labels FILE.csv --evaluate MODEL\n"
            "                       [--holdout SHARE] [--horizon-s S] [--window-s S] [--skip-bad]\n"
            "  --history FILE   the history CSV (docs/prediction.md)\n"
            "  --labels FILE    psu,failure_t,cause,predictable\n"
            "  --out MODEL      where the model is written\n"
            "  --seed S         which PSUs are held back (default 1)\n"
            "  --holdout SHARE  share of PSUs held back for evaluation (default 0.3)\n"
            "  --horizon-s S    failure within this is a positive (default 604800, 7 days)\n"
            "  --window-s S     the features' window (default 259200, 3 days)\n"
            "  --skip-bad       skip bad history rows and count them\n"
            "  --evaluate MODEL no fit: every PSU is held back and MODEL is evaluated\n"
            "  --help           this text\n");
}

/* What one PSU is: its label, its side, its replay state. */
struct psu_info {
    int64_t failure_t;               /* -1: did not fail */
    int predictable, held, labelled; /* labelled: set up from the labels */
    int64_t first_t, last_t, next_sample_t;
    int at_risk, warn_on;
    int64_t model_first_t, warn_first_t; /* first true alarm start, -1 none */
    int64_t model_start, warn_start;     /* current episode start */
};

struct scores {
    long episodes, true_episodes, failures, caught, caught24, predictable, pcaught, pcaught24;
    double psu_days;
    double *leads;
    size_t nleads;
};

/* An episode [start, end) is true when it overlaps [F - H, F). */
static void episode_end(struct psu_info *pi, int64_t start, int64_t end, int64_t h_s,
                        int64_t *first_true, struct scores *s)
{
    s->episodes++;
    int64_t f = pi->failure_t;
    if (f >= 0 && start < f && end > f - h_s) {
        s->true_episodes++;
        if (*first_true < 0)
            *first_true = start;
    }
}

static void failure_scores(const struct psu_info *pi, int64_t first_true, int64_t h_s,
                           struct scores *s)
{
    (void)h_s;
    s->psu_days += (double)(pi->last_t - pi->first_t) / 86400.0;
    if (pi->failure_t < 0 || pi->failure_t > pi->last_t + 86400)
        return; /* did not fail while the history watched it */
    s->failures++;
    s->predictable += pi->predictable;
    if (first_true >= 0) {
        double lead = (double)(pi->failure_t - first_true);
        s->caught++;
        s->caught24 += lead >= 86400;
        s->pcaught += pi->predictable;
        s->pcaught24 += pi->predictable && lead >= 86400;
        s->leads[s->nleads++] = lead;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_scores(const char *name, struct scores *s)
{
    long false_eps = s->episodes - s->true_episodes;
    printf("%s: precision %.3f (%ld of %ld episodes true), recall %.3f (%ld of %ld failures), "
           "recall at lead >= 24 h %.3f, recall of predictable %.3f (%ld of %ld), at lead >= 24 h "
           "%.3f (%ld)\n",
           name, s->episodes ? (double)s->true_episodes / (double)s->episodes : 0.0,
           s->true_episodes, s->episodes, s->failures ? (double)s->caught / s->failures : 0.0,
           s->caught, s->failures, s->failures ? (double)s->caught24 / s->failures : 0.0,
           s->predictable ? (double)s->pcaught / s->predictable : 0.0, s->pcaught, s->predictable,
           s->predictable ? (double)s->pcaught24 / s->predictable : 0.0, s->pcaught24);
    qsort(s->leads, s->nleads, sizeof(double), cmp_double);
    if (s->nleads)
        printf("%s: lead time median %.1f h (min %.1f h, max %.1f h)\n", name,
               s->leads[s->nleads / 2] / 3600, s->leads[0] / 3600, s->leads[s->nleads - 1] / 3600);
    else
        printf("%s: lead time: no failure caught\n", name);
    printf("%s: false alarms %.2f per 1000 PSU-days (%ld over %.0f PSU-days)\n", name,
           s->psu_days > 0 ? 1000.0 * (double)false_eps / s->psu_days : 0.0, false_eps,
           s->psu_days);
}

static double parse_num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double x = strtod(s, &end);
    if (*s == '\0' || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "rackpower-train: %s: a number from %g to %g\n", opt, lo, hi);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv)
{
    const char *history = NULL, *labels = NULL, *out = NULL, *evaluate = NULL;
    uint64_t seed = 1;
    double holdout = 0.3;
    int skip_bad = 0;
    struct risk_model m = {.horizon_s = 7 * 86400, .window_s = 3 * 86400, .threshold = 0.5};
    static const struct option opts[] = {
        {"history", required_argument, NULL, 'H'},
        {"labels", required_argument, NULL, 'l'},
        {"out", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 's'},
        {"holdout", required_argument, NULL, 'k'},
        {"horizon-s", required_argument, NULL, 'z'},
        {"window-s", required_argument, NULL, 'w'},
        {"skip-bad", no_argument, NULL, 'b'},
        {"evaluate", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            history = optarg;
            break;
        case 'e':
            evaluate = optarg;
            break;
        case 'l':
            labels = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 's':
            seed = (uint64_t)parse_num("--seed", optarg, 0, 9007199254740991.0);
            break;
        case 'k':
            holdout = parse_num("--holdout", optarg, 0.05, 0.95);
            break;
        case 'z':
            m.horizon_s = (int64_t)parse_num("--horizon-s", optarg, 3600, 366 * 86400.0);
            break;
        case 'w':
            m.window_s = (int64_t)parse_num("--window-s", optarg, 3600, 366 * 86400.0);
            break;
        case 'b':
            skip_bad = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!history || !labels || !out == !evaluate || optind < argc) {
        usage(stderr);
        return 2;
    }
    char err[300];
    struct history h;
    struct labels ls;
    if (history_read(history, skip_bad, &h, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s\n", err);
        return 1;
    }
    if (labels_read(labels, &ls, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s\n", err);
        history_free(&h);
        return 1;
    }
    if (skip_bad)
        fprintf(stderr, "rackpower-train: %ld bad rows skipped\n", h.bad);
    if (evaluate) {
        if (model_read(evaluate, &m, err, sizeof(err)) < 0) {
            fprintf(stderr, "rackpower-train: %s\n", err);
            labels_free(&ls);
            history_free(&h);
            return 1;
        }
        holdout = 1.0; /* every PSU is evaluated */
    }

    /* Pass 1: the training side's feature vectors, one per PSU-hour. */
    struct risk_fleet fleet;
    risk_fleet_init(&fleet, m.window_s);
    struct psu_info *pi = NULL;
    size_t picap = 0;
    double *x = NULL;
    uint8_t *y = NULL;
    size_t n = 0, ncap = 0;
    int rc = 0;
    for (size_t i = 0; i < h.n && rc == 0; i++) {
        const struct tcsv_row *r = &h.rows[i];
        int p = risk_fleet_add(&fleet, r, err, sizeof(err));
        if (p < 0) {
            fprintf(stderr, "rackpower-train: %s\n", err);
            rc = 1;
            break;
        }
        if ((size_t)p >= picap) {
            size_t nc = picap ? picap * 2 : 64;
            struct psu_info *np = realloc(pi, nc * sizeof(*np));
            if (!np) {
                rc = 1;
                break;
            }
            memset(np + picap, 0, (nc - picap) * sizeof(*np));
            pi = np;
            picap = nc;
        }
        struct psu_info *q = &pi[p];
        if (!q->labelled) { /* its first reading */
            const struct label *l = labels_find(&ls, r->psu);
            q->failure_t = l ? l->failure_t : -1;
            q->predictable = l ? l->predictable : 0;
            uint64_t st = seed ^ 0x9e3779b97f4a7c15ull;
            for (const char *s = r->psu; *s; s++)
                st = (st ^ (uint8_t)*s) * 1099511628211ull;
            q->held = splitmix64_unit(&st) < holdout;
            q->first_t = r->t;
            q->next_sample_t = r->t;
            q->model_first_t = q->warn_first_t = -1;
            q->labelled = 1;
        }
        q->last_t = r->t;
        if (q->held || (q->failure_t >= 0 && r->t >= q->failure_t) || r->t < q->next_sample_t)
            continue;
        double v[RISK_NFEATURES];
        if (risk_features(&fleet, p, v) < 0)
            continue;
        q->next_sample_t = r->t + SAMPLE_EVERY_S;
        if (n == ncap) {
            ncap = ncap ? ncap * 2 : 4096;
            double *nx = realloc(x, ncap * RISK_NFEATURES * sizeof(*nx));
            uint8_t *ny = realloc(y, ncap);
            if (nx)
                x = nx;
            if (ny)
                y = ny;
            if (!nx || !ny) {
                fprintf(stderr, "rackpower-train: out of memory\n");
                rc = 1;
                break;
            }
        }
        memcpy(&x[n * RISK_NFEATURES], v, sizeof(v));
        y[n] = q->failure_t >= 0 && q->failure_t - r->t <= m.horizon_s;
        n++;
    }
    size_t train_psus = 0, train_failed = 0, pos = 0;
    for (size_t p = 0; p < fleet.npsus; p++)
        if (!pi[p].held) {
            train_psus++;
            train_failed += pi[p].failure_t >= 0;
        }
    for (size_t i = 0; i < n; i++)
        pos += y[i];
    printf("training: %zu PSUs (%zu with a failure), %zu hourly samples (%zu within %lld s of a "
           "failure)\n",
           train_psus, train_failed, n, pos, (long long)m.horizon_s);
    if (evaluate) {
        printf("model %s: not fitted, evaluated on every PSU\n", evaluate);
    } else if (rc == 0 && risk_fit(x, y, n, 1.0, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s\n", err);
        rc = 1;
    }
    if (rc == 0 && !evaluate) {
        /* the threshold: best F1 over the training samples, on a 0.05 grid */
        double best_f1 = -1;
        for (int k = 1; k <= 19; k++) {
            double thr = k * 0.05;
            size_t tp = 0, fp = 0, fn = 0;
            for (size_t i = 0; i < n; i++) {
                struct risk_out o;
                risk_eval(&m, &x[i * RISK_NFEATURES], &o);
                int a = o.risk >= thr;
                tp += a && y[i], fp += a && !y[i], fn += !a && y[i];
            }
            double f1 = tp ? 2.0 * tp / (2.0 * tp + fp + fn) : 0;
            if (f1 > best_f1)
                best_f1 = f1, m.threshold = thr;
        }
        printf("threshold %.2f (best F1 %.3f on the training samples)\n", m.threshold, best_f1);
        char buf[4096];
        int len = risk_model_format(&m, buf, sizeof(buf));
        FILE *f = fopen(out, "w");
        if (len < 0 || !f || fwrite(buf, 1, (size_t)len, f) != (size_t)len || fclose(f) != 0) {
            fprintf(stderr, "rackpower-train: %s: cannot write the model\n", out);
            rc = 1;
        }
    }
    risk_fleet_free(&fleet);

    /* Pass 2: replay the held-back PSUs with the model and with warning bits alone. */
    if (rc == 0) {
        struct scores sm = {0}, sw = {0};
        sm.leads = calloc(picap + 1, sizeof(double));
        sw.leads = calloc(picap + 1, sizeof(double));
        risk_fleet_init(&fleet, m.window_s);
        size_t held = 0;
        for (size_t i = 0; i < h.n; i++) {
            const struct tcsv_row *r = &h.rows[i];
            int p = risk_fleet_add(&fleet, r, err, sizeof(err));
            if (p < 0)
                break;
            struct psu_info *q = &pi[p];
            if (!q->held || (q->failure_t >= 0 && r->t >= q->failure_t))
                continue;
            double v[RISK_NFEATURES];
            if (risk_features(&fleet, p, v) == 0) {
                struct risk_out o;
                risk_eval(&m, v, &o);
                int step = risk_episode_step(&q->at_risk, o.risk, m.threshold);
                if (step > 0)
                    q->model_start = r->t;
                else if (step < 0)
                    episode_end(q, q->model_start, r->t, m.horizon_s, &q->model_first_t, &sm);
            }
            if (r->status_word >= 0) {
                int w = ((uint32_t)r->status_word & RISK_WARN_MASK) != 0;
                if (w && !q->warn_on)
                    q->warn_on = 1, q->warn_start = r->t;
                else if (!w && q->warn_on) {
                    q->warn_on = 0;
                    episode_end(q, q->warn_start, r->t, m.horizon_s, &q->warn_first_t, &sw);
                }
            }
        }
        for (size_t p = 0; p < fleet.npsus; p++) {
            struct psu_info *q = &pi[p];
            if (!q->held)
                continue;
            held++;
            int64_t end = q->failure_t >= 0 ? q->failure_t : q->last_t + 1;
            if (q->at_risk)
                episode_end(q, q->model_start, end, m.horizon_s, &q->model_first_t, &sm);
            if (q->warn_on)
                episode_end(q, q->warn_start, end, m.horizon_s, &q->warn_first_t, &sw);
            failure_scores(q, q->model_first_t, m.horizon_s, &sm);
            failure_scores(q, q->warn_first_t, m.horizon_s, &sw);
        }
        printf("held back: %zu PSUs (seed %llu, share %.2f), %.0f PSU-days, %ld failures (%ld "
               "predictable)\n",
               held, (unsigned long long)seed, holdout, sm.psu_days, sm.failures, sm.predictable);
        print_scores("model", &sm);
        print_scores("warning bits alone", &sw);
        free(sm.leads);
        free(sw.leads);
        risk_fleet_free(&fleet);
    }
    free(pi);
    free(x);
    free(y);
    labels_free(&ls);
    history_free(&h);
    return rc;
}
