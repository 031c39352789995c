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
#include "risk_select.h"
#include "splitmix.h"

#define SAMPLE_EVERY_S 3600 /* one training vector per PSU per hour of history */
#define MAX_PERSISTS 16
#define DEFAULT_PERSISTS "0,3600,7200,14400,21600,43200"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rackpower-train --history FILE.csv --labels FILE.csv --out MODEL [--seed S]\n"
            "       rackpower-train --history FILE.csv --labels FILE.csv --evaluate MODEL\n"
            "                       [--holdout SHARE] [--horizon-s S] [--window-s S] [--skip-bad]\n"
            "                       [--false-alarms N] [--persist-s LIST] [--curve]\n"
            "                       [--choose-history FILE.csv --choose-labels FILE.csv]\n"
            "  --history FILE   the history CSV (docs/prediction.md)\n"
            "  --labels FILE    psu,failure_t,cause,predictable\n"
            "  --out MODEL      where the model is written\n"
            "  --seed S         which PSUs are held back (default 1)\n"
            "  --holdout SHARE  share of PSUs held back for evaluation (default 0.3)\n"
            "  --horizon-s S    failure within this is a positive (default 604800, 7 days)\n"
            "  --window-s S     the features' window (default 259200, 3 days)\n"
            "  --skip-bad       skip bad history rows and count them\n"
            "  --false-alarms N the budget the threshold is chosen to meet on the held-back\n"
            "                   PSUs, false alarms per 1000 PSU-days (default 1)\n"
            "  --persist-s LIST how long the risk must hold above the threshold: the\n"
            "                   choices, seconds, rising (default " DEFAULT_PERSISTS ")\n"
            "  --choose-history FILE, --choose-labels FILE\n"
            "                   choose the threshold on every PSU of this second training\n"
            "                   fleet instead of on the held-back PSUs\n"
            "  --curve          print each threshold's false alarms and recall\n"
            "  --evaluate MODEL no fit: every PSU is held back and MODEL is evaluated\n"
            "  --help           this text\n");
}

/* What one PSU is: its label, its side, its replay state. */
struct psu_info {
    int64_t failure_t;               /* -1: did not fail */
    int predictable, held, labelled; /* labelled: set up from the labels */
    int64_t first_t, last_t, next_sample_t;
};

/* Every held-back reading's risk (or warning state) in replay order, then
 * grouped by PSU (stable: each PSU's readings stay in time order). */
struct series {
    int64_t *t;
    double *v;
    int32_t *psu;
    size_t n, cap;
};

static int series_add(struct series *s, int32_t psu, int64_t t, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        int64_t *nt = realloc(s->t, cap * sizeof(*nt));
        if (nt)
            s->t = nt;
        double *nv = realloc(s->v, cap * sizeof(*nv));
        if (nv)
            s->v = nv;
        int32_t *np = realloc(s->psu, cap * sizeof(*np));
        if (np)
            s->psu = np;
        if (!nt || !nv || !np)
            return -1;
        s->cap = cap;
    }
    s->t[s->n] = t, s->v[s->n] = v, s->psu[s->n] = psu;
    s->n++;
    return 0;
}

static void series_free(struct series *s)
{
    free(s->t);
    free(s->v);
    free(s->psu);
    memset(s, 0, sizeof(*s));
}

/* Groups s by PSU into traces (one per held-back PSU, npsus of pi); the
 * traces point into s. -1 when out of memory. */
static int series_traces(struct series *s, const struct psu_info *pi, size_t npsus,
                         struct risk_trace *tr)
{
    size_t *at = calloc(npsus + 1, sizeof(*at));
    int64_t *t = malloc((s->n ? s->n : 1) * sizeof(*t));
    double *v = malloc((s->n ? s->n : 1) * sizeof(*v));
    if (!at || !t || !v) {
        free(at);
        free(t);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < s->n; i++)
        at[s->psu[i] + 1]++;
    for (size_t p = 0; p < npsus; p++)
        at[p + 1] += at[p];
    size_t k = 0;
    for (size_t p = 0; p < npsus; p++) {
        if (!pi[p].held)
            continue;
        tr[k] = (struct risk_trace){.t = t + at[p],
                                    .risk = v + at[p],
                                    .n = at[p + 1] - at[p],
                                    .first_t = pi[p].first_t,
                                    .last_t = pi[p].last_t,
                                    .failure_t = pi[p].failure_t,
                                    .predictable = pi[p].predictable};
        k++;
    }
    for (size_t i = 0; i < s->n; i++) {
        size_t j = at[s->psu[i]]++;
        t[j] = s->t[i];
        v[j] = s->v[i];
    }
    free(at);
    free(s->t);
    free(s->v);
    free(s->psu);
    s->t = t, s->v = v, s->psu = NULL;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Scores the traces with a rule and prints the figures under name. */
static void print_scores(const char *name, const struct risk_trace *tr, size_t n, double threshold,
                         int64_t persist_s, int64_t horizon_s)
{
    struct risk_score s = {0};
    double *leads = calloc(n + 1, sizeof(*leads));
    size_t nleads = 0;
    for (size_t i = 0; i < n; i++) {
        double lead = risk_score_trace(&tr[i], threshold, persist_s, horizon_s, &s);
        if (lead >= 0 && leads)
            leads[nleads++] = lead;
    }
    printf("%s: precision %.3f (%ld of %ld episodes true), recall %.3f (%ld of %ld failures), "
           "recall at lead >= 24 h %.3f, recall of predictable %.3f (%ld of %ld), at lead >= 24 h "
           "%.3f (%ld)\n",
           name, s.episodes ? (double)s.true_episodes / (double)s.episodes : 0.0, s.true_episodes,
           s.episodes, s.failures ? (double)s.caught / s.failures : 0.0, s.caught, s.failures,
           s.failures ? (double)s.caught24 / s.failures : 0.0,
           s.predictable ? (double)s.pcaught / s.predictable : 0.0, s.pcaught, s.predictable,
           s.predictable ? (double)s.pcaught24 / s.predictable : 0.0, s.pcaught24);
    if (nleads) {
        qsort(leads, nleads, sizeof(double), cmp_double);
        printf("%s: lead time median %.1f h (min %.1f h, max %.1f h)\n", name,
               leads[nleads / 2] / 3600, leads[0] / 3600, leads[nleads - 1] / 3600);
    } else {
        printf("%s: lead time: no failure caught\n", name);
    }
    printf("%s: false alarms %.2f per 1000 PSU-days (%ld over %.0f PSU-days)\n", name,
           risk_score_false_per_kday(&s), s.episodes - s.true_episodes, s.psu_days);
    free(leads);
}

/* A comma-separated list of rising whole seconds; their count, or exits 2. */
static size_t parse_persists(const char *s, int64_t *out)
{
    size_t n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !(x >= 0 && x <= 366 * 86400.0) || x != floor(x) || n == MAX_PERSISTS ||
            (n > 0 && (int64_t)x <= out[n - 1]) || (*end != ',' && *end != '\0')) {
            fprintf(stderr,
                    "rackpower-train: --persist-s: up to %d whole seconds (0 to a year), rising, "
                    "separated by commas\n",
                    MAX_PERSISTS);
            exit(2);
        }
        out[n++] = (int64_t)x;
        if (*end == '\0')
            return n;
        p = end + 1;
    }
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

/* A fleet's PSUs and, when x is given, the training side's feature vectors. */
struct fleet_scan {
    struct psu_info *pi; /* by the index risk_fleet_add gives (order of first reading) */
    size_t npsus, held;
    double *x; /* n * RISK_NFEATURES */
    uint8_t *y;
    size_t n;
};

static void scan_free(struct fleet_scan *sc)
{
    free(sc->pi);
    free(sc->x);
    free(sc->y);
    memset(sc, 0, sizeof(*sc));
}

/* Pass 1 over a history: each PSU's label, side (a share holdout of the PSUs
 * held back, by a hash of the id and seed) and span; with vectors, one
 * feature vector per training PSU per hour of history, labelled 1 when it
 * fails within the horizon after it. 0, or -1 with err. */
static int scan(const struct history *h, const struct labels *ls, uint64_t seed, double holdout,
                const struct risk_model *m, int vectors, struct fleet_scan *sc, char *err,
                size_t errlen)
{
    struct risk_fleet fleet;
    risk_fleet_init(&fleet, m->window_s);
    size_t picap = 0, ncap = 0;
    int rc = 0;
    memset(sc, 0, sizeof(*sc));
    for (size_t i = 0; i < h->n && rc == 0; i++) {
        const struct tcsv_row *r = &h->rows[i];
        int p = risk_fleet_add(&fleet, r, err, errlen);
        if (p < 0) {
            rc = -1;
            break;
        }
        if ((size_t)p >= picap) {
            size_t nc = picap ? picap * 2 : 64;
            struct psu_info *np = realloc(sc->pi, nc * sizeof(*np));
            if (!np) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            memset(np + picap, 0, (nc - picap) * sizeof(*np));
            sc->pi = np;
            picap = nc;
        }
        struct psu_info *q = &sc->pi[p];
        if (!q->labelled) { /* its first reading */
            const struct label *l = labels_find(ls, r->psu);
            q->failure_t = l ? l->failure_t : -1;
            q->predictable = l ? l->predictable : 0;
            uint64_t st = seed ^ 0x9e3779b97f4a7c15ull;
            for (const char *c = r->psu; *c; c++)
                st = (st ^ (uint8_t)*c) * 1099511628211ull;
            q->held = splitmix64_unit(&st) < holdout;
            q->first_t = r->t;
            q->next_sample_t = r->t;
            q->labelled = 1;
        }
        q->last_t = r->t;
        if (!vectors || q->held || (q->failure_t >= 0 && r->t >= q->failure_t) ||
            r->t < q->next_sample_t)
            continue;
        double v[RISK_NFEATURES];
        if (risk_features(&fleet, p, v) < 0)
            continue;
        q->next_sample_t = r->t + SAMPLE_EVERY_S;
        if (sc->n == ncap) {
            ncap = ncap ? ncap * 2 : 4096;
            double *nx = realloc(sc->x, ncap * RISK_NFEATURES * sizeof(*nx));
            if (nx)
                sc->x = nx;
            uint8_t *ny = realloc(sc->y, ncap);
            if (ny)
                sc->y = ny;
            if (!nx || !ny) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
        }
        memcpy(&sc->x[sc->n * RISK_NFEATURES], v, sizeof(v));
        sc->y[sc->n] = q->failure_t >= 0 && q->failure_t - r->t <= m->horizon_s;
        sc->n++;
    }
    sc->npsus = fleet.npsus;
    for (size_t p = 0; p < sc->npsus; p++)
        sc->held += sc->pi[p].held;
    risk_fleet_free(&fleet);
    return rc;
}

/* The held-back PSUs of a scan replayed with the model: their traces of risk
 * (rt) and of the warning bits (wt, 1 while one is set), sc->held of each,
 * pointing into rs and ws. 0, or -1 with err. */
static int replay(const struct history *h, const struct fleet_scan *sc, const struct risk_model *m,
                  struct series *rs, struct series *ws, struct risk_trace **rt,
                  struct risk_trace **wt, char *err, size_t errlen)
{
    struct risk_fleet fleet;
    risk_fleet_init(&fleet, m->window_s);
    int rc = 0;
    for (size_t i = 0; i < h->n && rc == 0; i++) {
        const struct tcsv_row *r = &h->rows[i];
        int p = risk_fleet_add(&fleet, r, err, errlen);
        if (p < 0 || (size_t)p >= sc->npsus) {
            rc = -1;
            break;
        }
        const struct psu_info *q = &sc->pi[p];
        if (!q->held || (q->failure_t >= 0 && r->t >= q->failure_t))
            continue;
        double v[RISK_NFEATURES];
        if (risk_features(&fleet, p, v) == 0) {
            struct risk_out o;
            risk_eval(m, v, &o);
            rc |= series_add(rs, p, r->t, o.risk);
        }
        if (r->status_word >= 0)
            rc |= series_add(ws, p, r->t,
                             ((uint32_t)r->status_word & RISK_WARN_MASK) != 0 ? 1.0 : 0.0);
        if (rc)
            snprintf(err, errlen, "out of memory");
    }
    risk_fleet_free(&fleet);
    if (rc)
        return -1;
    *rt = calloc(sc->held + 1, sizeof(**rt));
    *wt = calloc(sc->held + 1, sizeof(**wt));
    if (!*rt || !*wt || series_traces(rs, sc->pi, sc->npsus, *rt) < 0 ||
        series_traces(ws, sc->pi, sc->npsus, *wt) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Each threshold's false alarms and recall, with each persistence (--curve). */
static void print_curve(const struct risk_trace *tr, size_t n, int64_t horizon_s,
                        const int64_t *persists, size_t npersists)
{
    printf("curve: persist_s threshold false_alarms per_1000_psu_days predictable_caught_24h "
           "of\n");
    for (size_t k = 0; k < npersists; k++)
        for (int j = 1; j <= RISK_SELECT_LAST; j++) {
            struct risk_score s = {0};
            double thr = RISK_SELECT_THRESHOLD(j);
            for (size_t i = 0; i < n; i++)
                risk_score_trace(&tr[i], thr, persists[k], horizon_s, &s);
            printf("curve: %lld %.2f %ld %.2f %ld %ld\n", (long long)persists[k], thr,
                   s.episodes - s.true_episodes, risk_score_false_per_kday(&s), s.pcaught24,
                   s.predictable);
        }
}

/* Chooses the rule on traces and prints the choice and why; -1 with err. */
static int choose(const struct risk_trace *tr, size_t n, const char *on, double budget,
                  const int64_t *persists, size_t npersists, struct risk_model *m, char *err,
                  size_t errlen)
{
    struct risk_choice ch, each[MAX_PERSISTS];
    if (risk_select(tr, n, m->horizon_s, budget, persists, npersists, &ch, each, err, errlen) < 0)
        return -1;
    for (size_t k = 0; k < npersists; k++)
        printf("persist %lld s: best threshold %.2f, %ld false alarms (%.2f per 1000 PSU-days), "
               "%ld of %ld predictable failures caught 24 h ahead%s\n",
               (long long)each[k].persist_s, each[k].threshold,
               each[k].score.episodes - each[k].score.true_episodes,
               risk_score_false_per_kday(&each[k].score), each[k].score.pcaught24,
               each[k].score.predictable, each[k].met ? "" : " (over the budget)");
    m->threshold = ch.threshold;
    m->persist_s = ch.persist_s;
    long fa = ch.score.episodes - ch.score.true_episodes;
    if (ch.met)
        printf("chosen: threshold %.2f, persist %lld s: the most predictable failures caught 24 h "
               "ahead (%ld of %ld) within %g false alarms per 1000 PSU-days (%ld, %.2f) on %s\n",
               m->threshold, (long long)m->persist_s, ch.score.pcaught24, ch.score.predictable,
               budget, fa, risk_score_false_per_kday(&ch.score), on);
    else
        printf("chosen: threshold %.2f, persist %lld s: NO rule meets %g false alarms per 1000 "
               "PSU-days on %s; this one has the fewest (%ld, %.2f), %ld of %ld predictable "
               "failures caught 24 h ahead\n",
               m->threshold, (long long)m->persist_s, budget, on, fa,
               risk_score_false_per_kday(&ch.score), ch.score.pcaught24, ch.score.predictable);
    return 0;
}

static int write_model(const char *out, const struct risk_model *m)
{
    char buf[4096];
    int len = risk_model_format(m, buf, sizeof(buf));
    FILE *f = fopen(out, "w");
    int bad = len < 0 || !f || fwrite(buf, 1, (size_t)len, f) != (size_t)len;
    if (f && fclose(f) != 0)
        bad = 1;
    if (bad)
        fprintf(stderr, "rackpower-train: %s: cannot write the model\n", out);
    return bad ? -1 : 0;
}

static int read_inputs(const char *history, const char *labels, int skip_bad, struct history *h,
                       struct labels *ls)
{
    char err[300];
    if (history_read(history, skip_bad, h, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s\n", err);
        return -1;
    }
    if (labels_read(labels, ls, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s\n", err);
        history_free(h);
        return -1;
    }
    if (skip_bad)
        fprintf(stderr, "rackpower-train: %s: %ld bad rows skipped\n", history, h->bad);
    return 0;
}

int main(int argc, char **argv)
{
    const char *history = NULL, *labels = NULL, *out = NULL, *evaluate = NULL;
    const char *chist = NULL, *clabels = NULL;
    uint64_t seed = 1;
    double holdout = 0.3;
    int skip_bad = 0, curve = 0;
    double budget = 1.0;
    int64_t persists[MAX_PERSISTS];
    size_t npersists = parse_persists(DEFAULT_PERSISTS, persists);
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
        {"false-alarms", required_argument, NULL, 'f'},
        {"persist-s", required_argument, NULL, 'p'},
        {"choose-history", required_argument, NULL, 'C'},
        {"choose-labels", required_argument, NULL, 'L'},
        {"curve", no_argument, NULL, 'c'},
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
        case 'f':
            budget = parse_num("--false-alarms", optarg, 0, 1e6);
            break;
        case 'p':
            npersists = parse_persists(optarg, persists);
            break;
        case 'C':
            chist = optarg;
            break;
        case 'L':
            clabels = optarg;
            break;
        case 'c':
            curve = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!history || !labels || !out == !evaluate || optind < argc || !chist != !clabels ||
        (evaluate && chist)) {
        usage(stderr);
        return 2;
    }
    char err[300];
    struct history h;
    struct labels ls;
    if (read_inputs(history, labels, skip_bad, &h, &ls) < 0)
        return 1;
    if (evaluate) {
        if (model_read(evaluate, &m, err, sizeof(err)) < 0) {
            fprintf(stderr, "rackpower-train: %s\n", err);
            labels_free(&ls);
            history_free(&h);
            return 1;
        }
        holdout = 1.0; /* every PSU is evaluated */
    }

    struct fleet_scan sc;
    int rc = 0;
    if (scan(&h, &ls, seed, holdout, &m, !evaluate, &sc, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s: %s\n", history, err);
        rc = 1;
    }
    if (rc == 0) {
        size_t train_psus = 0, train_failed = 0, pos = 0;
        for (size_t p = 0; p < sc.npsus; p++)
            if (!sc.pi[p].held) {
                train_psus++;
                train_failed += sc.pi[p].failure_t >= 0;
            }
        for (size_t i = 0; i < sc.n; i++)
            pos += sc.y[i];
        printf("training: %zu PSUs (%zu with a failure), %zu hourly samples (%zu within %lld s of "
               "a failure)\n",
               train_psus, train_failed, sc.n, pos, (long long)m.horizon_s);
    }
    if (rc == 0 && evaluate) {
        printf("model %s: not fitted, evaluated on every PSU\n", evaluate);
    } else if (rc == 0 && risk_fit(sc.x, sc.y, sc.n, 1.0, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s\n", err);
        rc = 1;
    }
    free(sc.x), free(sc.y);
    sc.x = NULL, sc.y = NULL;

    /* The held-back PSUs replayed. */
    struct series rs = {0}, ws = {0};
    struct risk_trace *rt = NULL, *wt = NULL;
    if (rc == 0 && replay(&h, &sc, &m, &rs, &ws, &rt, &wt, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-train: %s: %s\n", history, err);
        rc = 1;
    }
    history_free(&h);
    labels_free(&ls);

    /* The alarm rule: chosen on episodes against the budget, on the second
     * fleet if there is one (every PSU of it), else on the held-back PSUs. */
    if (rc == 0 && !evaluate && chist) {
        struct fleet_scan cs;
        struct series crs = {0}, cws = {0};
        struct risk_trace *crt = NULL, *cwt = NULL;
        if (read_inputs(chist, clabels, skip_bad, &h, &ls) < 0) {
            rc = 1;
        } else {
            if (scan(&h, &ls, 0, 1.0, &m, 0, &cs, err, sizeof(err)) < 0 ||
                replay(&h, &cs, &m, &crs, &cws, &crt, &cwt, err, sizeof(err)) < 0) {
                fprintf(stderr, "rackpower-train: %s: %s\n", chist, err);
                rc = 1;
            }
            history_free(&h);
            labels_free(&ls);
            char on[64];
            snprintf(on, sizeof(on), "the %zu PSUs of the second fleet", cs.held);
            if (rc == 0 && curve)
                print_curve(crt, cs.held, m.horizon_s, persists, npersists);
            if (rc == 0 &&
                choose(crt, cs.held, on, budget, persists, npersists, &m, err, sizeof(err)) < 0) {
                fprintf(stderr, "rackpower-train: %s\n", err);
                rc = 1;
            }
            scan_free(&cs);
        }
        free(crt);
        free(cwt);
        series_free(&crs);
        series_free(&cws);
    } else if (rc == 0 && !evaluate) {
        if (curve)
            print_curve(rt, sc.held, m.horizon_s, persists, npersists);
        if (choose(rt, sc.held, "the held-back PSUs", budget, persists, npersists, &m, err,
                   sizeof(err)) < 0) {
            fprintf(stderr, "rackpower-train: %s\n", err);
            rc = 1;
        }
    } else if (rc == 0 && curve) {
        print_curve(rt, sc.held, m.horizon_s, persists, npersists);
    }
    if (rc == 0 && !evaluate && write_model(out, &m) < 0)
        rc = 1;

    if (rc == 0 && sc.held) {
        struct risk_score all = {0};
        for (size_t i = 0; i < sc.held; i++)
            risk_score_trace(&rt[i], 0.5, 0, m.horizon_s, &all);
        printf(
            "held back: %zu PSUs (seed %llu, share %.2f), %.0f PSU-days, %ld failures (%ld "
            "predictable)%s\n",
            sc.held, (unsigned long long)seed, holdout, all.psu_days, all.failures, all.predictable,
            evaluate || chist ? "" : "; the rule was chosen on them: not an independent measure");
        print_scores("model", rt, sc.held, m.threshold, m.persist_s, m.horizon_s);
        print_scores("warning bits alone", wt, sc.held, 0.5, 0, m.horizon_s);
    } else if (rc == 0) {
        printf("held back: no PSU\n");
    }
    free(rt);
    free(wt);
    series_free(&rs);
    series_free(&ws);
    scan_free(&sc);
    return rc;
}
