/*
 * balance.c - the balancing plan: a standby set, a placement and the shares
 * that waste least (docs/balancing.md).
 *
 * Shares on one bus: each active PSU's cost (its loss, plus a large weight
 * per watt when it is at risk, so that at-risk PSUs carry as little as
 * possible first) is sampled over [0, capacity] and replaced by its lower
 * convex hull; the hulls' segments, taken cheapest slope first, fill the
 * bus's load (exact for the hulls). Every PSU then sits at a hull vertex, a
 * point of its true curve, except at most the last one filled: the shares
 * are optimal for the sampled curves within that one PSU's gap between its
 * curve and its hull, and the hull's total is a lower bound on the optimum
 * (docs/balancing.md "How close").
 *
 * The standby set and the placement: a local search from the rack as it
 * stands and from everything awake where it stands, one flip or one move at
 * a time, the best first, each candidate checked with the policy's own check
 * before it is taken.
 */
#include "balance.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_SAMPLES 100        /* per PSU curve, for balance_plan */
#define EXHAUSTIVE_SAMPLES 1000 /* ... for balance_exhaustive */
#define AT_RISK_WEIGHT 1000.0   /* mW of cost per mW an at-risk PSU carries */
#define SHARE_CHANGE_PPM 5000   /* a share moving less than 0.5 % is no change */

/* One PSU's cost curve as a convex hull: vertices x[0..n] (x[0] = 0). */
struct hull {
    int n; /* segments */
    double *x, *c;
};

struct seg {
    double slope, dx;
    int psu; /* index into the bus's list */
};

struct balance {
    struct balance_conf conf;
    int np, nb;
    struct policy *pol;
    struct rack_psu *psus; /* the candidate rack's PSUs */
    int64_t *flip_ns;      /* last standby flip, INT64_MIN: never */
    bool *can_standby;
    /* candidate configurations: per PSU bus and standby */
    int *cbus, *bbus;
    bool *csb, *bsb;
    int64_t *load;  /* per PSU, of the configuration evaluated last */
    int64_t *bload; /* ... of the best */
    /* share solver scratch */
    int *on;   /* PSUs on the bus being solved */
    double *x; /* their loads */
    double *hx, *hc;
    int *hn;
    struct seg *segs;
    int samples;
    double lower; /* hull bound of the configuration evaluated last */
};

/* ---- the loss model ---------------------------------------------------- */

int64_t balance_efficiency_ppm(const struct rack_psu_model *m, int64_t rated_mw, int64_t load_mw)
{
    if (rated_mw <= 0)
        return m->eff_ppm[0];
    double f = (double)load_mw / (double)rated_mw * 100.0; /* per cent of rated */
    const int *at = rack_model_load_pct;
    if (f <= at[0])
        return m->eff_ppm[0];
    for (int k = 1; k < RACK_MODEL_POINTS; k++)
        if (f <= at[k])
            return (int64_t)llround(m->eff_ppm[k - 1] + (m->eff_ppm[k] - m->eff_ppm[k - 1]) *
                                                            (f - at[k - 1]) / (at[k] - at[k - 1]));
    return m->eff_ppm[RACK_MODEL_POINTS - 1];
}

static double loss_at(const struct rack_psu_model *m, int64_t rated_mw, double load_mw)
{
    double floor_mw = (double)rated_mw * rack_model_load_pct[0] / 100.0;
    double x = load_mw > floor_mw ? load_mw : floor_mw; /* fixed losses below 10 % */
    double e = (double)balance_efficiency_ppm(m, rated_mw, (int64_t)llround(x)) / BALANCE_PPM;
    if (!(e > 0))
        return 0;
    return x * (1.0 / e - 1.0);
}

int64_t balance_loss_mw(const struct rack_psu_model *m, int64_t rated_mw, int64_t load_mw)
{
    return (int64_t)llround(loss_at(m, rated_mw, (double)(load_mw > 0 ? load_mw : 0)));
}

/* ---- plans and the object ---------------------------------------------- */

int balance_plan_init(struct balance_plan *pl, int npsus)
{
    memset(pl, 0, sizeof(*pl));
    pl->psus = calloc((size_t)(npsus > 0 ? npsus : 1), sizeof(*pl->psus));
    if (!pl->psus)
        return -1;
    pl->npsus = npsus;
    return 0;
}

void balance_plan_free(struct balance_plan *pl)
{
    free(pl->psus);
    pl->psus = NULL;
    pl->npsus = 0;
}

void balance_conf_default(struct balance_conf *conf)
{
    conf->min_saving_mw = BALANCE_DEFAULT_MIN_SAVING_MW;
    conf->min_saving_pct = BALANCE_DEFAULT_MIN_SAVING_PCT;
    conf->min_dwell_ns = BALANCE_DEFAULT_MIN_DWELL_NS;
}

void balance_free(struct balance *b)
{
    if (!b)
        return;
    policy_free(b->pol);
    free(b->psus);
    free(b->flip_ns);
    free(b->can_standby);
    free(b->cbus);
    free(b->bbus);
    free(b->csb);
    free(b->bsb);
    free(b->load);
    free(b->bload);
    free(b->on);
    free(b->x);
    free(b->hx);
    free(b->hc);
    free(b->hn);
    free(b->segs);
    free(b);
}

struct balance *balance_new(const struct rack *r, const struct balance_conf *conf)
{
    struct balance *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    if (conf)
        b->conf = *conf;
    else
        balance_conf_default(&b->conf);
    b->np = r->npsus;
    b->nb = r->nbuses;
    size_t n = (size_t)(r->npsus > 0 ? r->npsus : 1);
    size_t nh = n * (EXHAUSTIVE_SAMPLES + RACK_MODEL_POINTS + 2);
    b->pol = policy_new(r);
    b->psus = calloc(n, sizeof(*b->psus));
    b->flip_ns = calloc(n, sizeof(*b->flip_ns));
    b->can_standby = calloc(n, sizeof(*b->can_standby));
    b->cbus = calloc(n, sizeof(*b->cbus));
    b->bbus = calloc(n, sizeof(*b->bbus));
    b->csb = calloc(n, sizeof(*b->csb));
    b->bsb = calloc(n, sizeof(*b->bsb));
    b->load = calloc(n, sizeof(*b->load));
    b->bload = calloc(n, sizeof(*b->bload));
    b->on = calloc(n, sizeof(*b->on));
    b->x = calloc(n, sizeof(*b->x));
    b->hx = calloc(nh, sizeof(*b->hx));
    b->hc = calloc(nh, sizeof(*b->hc));
    b->hn = calloc(n, sizeof(*b->hn));
    b->segs = calloc(nh, sizeof(*b->segs));
    if (!b->pol || !b->psus || !b->flip_ns || !b->can_standby || !b->cbus || !b->bbus || !b->csb ||
        !b->bsb || !b->load || !b->bload || !b->on || !b->x || !b->hx || !b->hc || !b->hn ||
        !b->segs) {
        balance_free(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        b->flip_ns[i] = INT64_MIN;
        b->can_standby[i] = true;
    }
    b->samples = PLAN_SAMPLES;
    return b;
}

void balance_set_can_standby(struct balance *b, int psu, bool can)
{
    if (psu >= 0 && psu < b->np)
        b->can_standby[psu] = can;
}

/* ---- shares on one bus ------------------------------------------------- */

static bool psu_at_risk(const struct rack_psu *p)
{
    (void)p;
    return false; /* rack_psu.at_risk (issue 11 design C) is not in the rack yet */
}

/* What PSU i may deliver where it stands: its health's capacity. */
static double cap_of(const struct rack_psu *p)
{
    return (double)rack_psu_health_mw(p);
}

static double cost_at(const struct rack *r, const struct rack_psu *p, double x)
{
    double c = loss_at(rack_psu_model_of(r, p), p->rated_mw, x);
    return psu_at_risk(p) ? c + AT_RISK_WEIGHT * x : c;
}

/* Lower convex hull of PSU p's cost sampled over [0, capacity], into
 * hx/hc (its vertices); returns the number of segments. */
static int build_hull(struct balance *b, const struct rack *r, const struct rack_psu *p, double *hx,
                      double *hc)
{
    double cap = cap_of(p);
    int n = 0;
    int s = b->samples;
    /* samples, with the curve's breakpoints among them, in order */
    double bp[RACK_MODEL_POINTS];
    int nbp = 0;
    for (int k = 0; k < RACK_MODEL_POINTS; k++) {
        double x = (double)p->rated_mw * rack_model_load_pct[k] / 100.0;
        if (x > 0 && x < cap)
            bp[nbp++] = x;
    }
    int k = 0;
    for (int i = 0; i <= s; i++) {
        double x = cap * i / s;
        while (k < nbp && bp[k] < x) {
            double y = bp[k++];
            double c = cost_at(r, p, y);
            while (n >= 2 && (hc[n - 1] - hc[n - 2]) * (y - hx[n - 2]) >=
                                 (c - hc[n - 2]) * (hx[n - 1] - hx[n - 2]))
                n--;
            hx[n] = y;
            hc[n++] = c;
        }
        if (n > 0 && x <= hx[n - 1])
            continue;
        double c = cost_at(r, p, x);
        while (n >= 2 && (hc[n - 1] - hc[n - 2]) * (x - hx[n - 2]) >=
                             (c - hc[n - 2]) * (hx[n - 1] - hx[n - 2]))
            n--;
        hx[n] = x;
        hc[n++] = c;
    }
    return n - 1;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *s = a, *t = b;
    if (s->slope != t->slope)
        return s->slope < t->slope ? -1 : 1;
    return s->psu - t->psu;
}

/* True cost of the loads x of the m PSUs on[]. */
static double true_cost(const struct rack *r, const int *on, int m, const double *x)
{
    double c = 0;
    for (int j = 0; j < m; j++)
        c += cost_at(r, &r->psus[on[j]], x[j]);
    return c;
}

/*
 * Loads x of the m PSUs on[] carrying load_mw together, cheapest for their
 * hulls, then the PSU left inside a hull segment tried at either end of it
 * with the rest on another PSU. Returns the true cost, or -1 when they
 * cannot carry it; b->lower += the hull's cost.
 */
static double solve_shares(struct balance *b, const struct rack *r, const int *on, int m,
                           double load_mw, double *x)
{
    double total = 0;
    for (int j = 0; j < m; j++)
        total += cap_of(&r->psus[on[j]]);
    if (load_mw > total + 0.5 || (m == 0 && load_mw > 0))
        return -1;
    int nseg = 0, stride = b->samples + RACK_MODEL_POINTS + 2;
    double base = 0;
    for (int j = 0; j < m; j++) {
        double *hx = &b->hx[(size_t)j * stride], *hc = &b->hc[(size_t)j * stride];
        b->hn[j] = build_hull(b, r, &r->psus[on[j]], hx, hc);
        base += hc[0];
        x[j] = 0;
        for (int k = 0; k < b->hn[j]; k++)
            b->segs[nseg++] = (struct seg){.slope = (hc[k + 1] - hc[k]) / (hx[k + 1] - hx[k]),
                                           .dx = hx[k + 1] - hx[k],
                                           .psu = j};
    }
    qsort(b->segs, (size_t)nseg, sizeof(*b->segs), seg_cmp);
    double left = load_mw, hull = base;
    int partial = -1;
    double part = 0; /* how far into its segment the partial PSU went */
    for (int k = 0; k < nseg && left > 0; k++) {
        const struct seg *s = &b->segs[k];
        double take = s->dx < left ? s->dx : left;
        x[s->psu] += take;
        hull += take * s->slope;
        left -= take;
        if (take < s->dx) {
            partial = s->psu;
            part = take;
        }
    }
    b->lower += hull;
    double best = true_cost(r, on, m, x);
    if (partial < 0)
        return best;
    /* The partial PSU back to its segment's start, its part on another PSU
     * with room: a point of every true curve, maybe cheaper. */
    for (int j = 0; j < m; j++) {
        if (j == partial || x[j] + part > cap_of(&r->psus[on[j]]))
            continue;
        x[partial] -= part;
        x[j] += part;
        double c = true_cost(r, on, m, x);
        if (c < best)
            return c;
        x[j] -= part;
        x[partial] += part;
    }
    return best;
}

/* ---- configurations ---------------------------------------------------- */

static bool reserves_busy(const struct rack *r)
{
    for (int k = 0; k < r->nreserves; k++) {
        const struct rack_reserve *res = &r->reserves[k];
        if (res->discharging || !res->known || res->wh_left < res->energy_wh)
            return true;
    }
    return false;
}

/* Why nothing may stand by in r now, or NULL: an outage or doubt wakes all. */
static const char *no_standby_why(const struct rack *r, char *buf, size_t len)
{
    for (int i = 0; i < r->npsus; i++)
        if (!rack_psu_known(&r->psus[i]) && r->psus[i].health != RACK_PSU_FAILED) {
            snprintf(buf, len, "%s is unknown", r->psus[i].id);
            return buf;
        }
    for (int f = 0; f < r->nfeeds; f++)
        if (r->feed_failed[f]) {
            snprintf(buf, len, "feed %s has failed", r->feeds[f]);
            return buf;
        }
    if (reserves_busy(r)) {
        snprintf(buf, len, "the reserves carry or recharge");
        return buf;
    }
    return NULL;
}

/* A PSU the plan may flip or move: alive, known, not at risk, on a live bus. */
static bool plannable(const struct rack *r, const struct rack_psu *p)
{
    return rack_psu_alive(r, p) && rack_psu_known(p) && !psu_at_risk(p) && p->bus >= 0 &&
           !r->bus_failed[p->bus];
}

static bool fast_switch(const struct rack *r, const struct rack_psu *p)
{
    return p->switch_ns < r->holdup_ns;
}

static int64_t bus_load(const struct rack *r, const int64_t *bus_load_mw, int bb)
{
    if (r->bus_failed[bb] || bus_load_mw[bb] < 0)
        return 0;
    return bus_load_mw[bb];
}

/*
 * Loss of configuration (bus, sb) with optimal shares (loads into b->load),
 * or -1 when some bus's active PSUs cannot carry its load. b->lower gets the
 * hulls' bound.
 */
static double config_loss(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                          const int *bus, const bool *sb)
{
    double loss = 0;
    b->lower = 0;
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        b->load[i] = 0;
        if (!rack_psu_alive(r, p))
            continue;
        if (sb[i]) {
            loss += (double)rack_psu_model_of(r, p)->standby_mw;
            b->lower += (double)rack_psu_model_of(r, p)->standby_mw;
        } else if (bus[i] < 0 || r->bus_failed[bus[i]]) { /* awake, carrying nothing */
            loss += cost_at(r, p, 0);
            b->lower += cost_at(r, p, 0);
        }
    }
    for (int bb = 0; bb < r->nbuses; bb++) {
        int m = 0;
        for (int i = 0; i < r->npsus; i++)
            if (bus[i] == bb && !sb[i] && rack_psu_alive(r, &r->psus[i]) && !r->bus_failed[bb])
                b->on[m++] = i;
        double c = solve_shares(b, r, b->on, m, (double)bus_load(r, bus_load_mw, bb), b->x);
        if (c < 0)
            return -1;
        loss += c;
        for (int j = 0; j < m; j++)
            b->load[b->on[j]] = (int64_t)llround(b->x[j]);
    }
    return loss;
}

/* Whether configuration (bus, sb) passes the policy's own check: feasible and
 * protected as planned. The rack as it stands, awake, needs no proof. */
static bool config_safe(struct balance *b, const struct rack *r, const int *bus, const bool *sb)
{
    bool same = true;
    for (int i = 0; i < r->npsus && same; i++)
        same = bus[i] == r->psus[i].bus && !sb[i];
    if (same)
        return true;
    struct rack tmp = *r;
    memcpy(b->psus, r->psus, (size_t)r->npsus * sizeof(*b->psus));
    for (int i = 0; i < r->npsus; i++) {
        b->psus[i].bus = bus[i];
        b->psus[i].standby = sb[i];
    }
    tmp.psus = b->psus;
    struct policy_check chk;
    policy_check(b->pol, &tmp, &chk);
    return chk.feasible && chk.is_protected;
}

/* Local search from (cbus, csb): the best single flip or move while it
 * improves by a milliwatt. A PSU goes to standby only past its dwell. */
static double descend(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                      int64_t now_ns, double cur)
{
    for (int iter = 0; iter < 4 * r->npsus + 4; iter++) {
        double best = cur - 1;
        int bi = -1, bto = 0;
        bool bflip = false;
        for (int i = 0; i < r->npsus; i++) {
            const struct rack_psu *p = &r->psus[i];
            if (!plannable(r, p))
                continue;
            /* flip: waking always; standing by when allowed and past the dwell */
            bool to_sb = !b->csb[i];
            bool dwell_ok = b->flip_ns[i] == INT64_MIN ||
                            now_ns - b->flip_ns[i] >= b->conf.min_dwell_ns || r->psus[i].standby;
            if (!to_sb || (b->can_standby[i] && dwell_ok)) {
                b->csb[i] = to_sb;
                double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
                if (c >= 0 && c < best && config_safe(b, r, b->cbus, b->csb)) {
                    best = c;
                    bi = i;
                    bflip = true;
                }
                b->csb[i] = !to_sb;
            }
            if (!fast_switch(r, p))
                continue;
            int from = b->cbus[i];
            for (int to = 0; to < r->nbuses; to++) {
                if (to == from || !(p->wired & (1u << to)) || r->bus_failed[to])
                    continue;
                b->cbus[i] = to;
                double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
                if (c >= 0 && c < best && config_safe(b, r, b->cbus, b->csb)) {
                    best = c;
                    bi = i;
                    bto = to;
                    bflip = false;
                }
                b->cbus[i] = from;
            }
        }
        if (bi < 0)
            break;
        if (bflip)
            b->csb[bi] = !b->csb[bi];
        else
            b->cbus[bi] = bto;
        cur = best;
    }
    return cur;
}

/* ---- the plan ---------------------------------------------------------- */

/* Shares (ppm) of plan psus from their loads, summing to a million per bus. */
static void fill_shares(const struct rack *r, const int64_t *bus_load_mw, struct balance_plan *pl)
{
    for (int bb = 0; bb < r->nbuses; bb++) {
        int64_t d = bus_load(r, bus_load_mw, bb), sum = 0;
        int top = -1, n = 0;
        double capsum = 0;
        for (int i = 0; i < pl->npsus; i++) {
            struct balance_psu *q = &pl->psus[i];
            if (q->bus != bb || q->standby || !rack_psu_alive(r, &r->psus[i]))
                continue;
            capsum += cap_of(&r->psus[i]);
            n++;
        }
        for (int i = 0; i < pl->npsus; i++) {
            struct balance_psu *q = &pl->psus[i];
            if (q->bus != bb || q->standby || !rack_psu_alive(r, &r->psus[i]))
                continue;
            /* no load: in proportion to capacity, as the hardware shares */
            q->share_ppm = d > 0 ? q->load_mw * BALANCE_PPM / d
                                 : (int64_t)llround(cap_of(&r->psus[i]) / capsum * BALANCE_PPM);
            sum += q->share_ppm;
            if (top < 0 || q->share_ppm > pl->psus[top].share_ppm)
                top = i;
        }
        if (top >= 0 && n > 0)
            pl->psus[top].share_ppm += BALANCE_PPM - sum;
    }
}

/* The rack as it stands: loads from its shares (0 on a bus: by capacity). */
static double rack_loads(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                         bool *fits)
{
    double loss = 0;
    *fits = true;
    for (int bb = 0; bb < r->nbuses; bb++) {
        int64_t d = bus_load(r, bus_load_mw, bb), ppm = 0;
        double capsum = 0;
        for (int i = 0; i < r->npsus; i++) {
            const struct rack_psu *p = &r->psus[i];
            if (p->bus == bb && !p->standby && rack_psu_alive(r, p) && !r->bus_failed[bb]) {
                ppm += p->share_ppm;
                capsum += cap_of(p);
            }
        }
        bool planned = ppm > BALANCE_PPM / 2;
        if (d > 0 && capsum < (double)d)
            *fits = false;
        for (int i = 0; i < r->npsus; i++) {
            const struct rack_psu *p = &r->psus[i];
            if (p->bus != bb || p->standby || !rack_psu_alive(r, p) || r->bus_failed[bb])
                continue;
            double x = planned ? (double)d * (double)p->share_ppm / (double)ppm
                               : (capsum > 0 ? (double)d * cap_of(p) / capsum : 0);
            if (x > cap_of(p) + 0.5)
                *fits = false;
            b->load[i] = (int64_t)llround(x);
            loss += cost_at(r, p, x);
        }
    }
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        if (!rack_psu_alive(r, p))
            continue;
        if (p->standby)
            loss += (double)rack_psu_model_of(r, p)->standby_mw;
        else if (p->bus < 0 || r->bus_failed[p->bus])
            loss += cost_at(r, p, 0);
    }
    return loss;
}

int64_t balance_rack_loss_mw(const struct rack *r, const int64_t *bus_load_mw)
{
    /* the loss alone: at-risk weights are not losses */
    double loss = 0;
    for (int bb = 0; bb < r->nbuses; bb++) {
        int64_t d = bus_load(r, bus_load_mw, bb), ppm = 0;
        double capsum = 0;
        for (int i = 0; i < r->npsus; i++) {
            const struct rack_psu *p = &r->psus[i];
            if (p->bus == bb && !p->standby && rack_psu_alive(r, p) && !r->bus_failed[bb]) {
                ppm += p->share_ppm;
                capsum += cap_of(p);
            }
        }
        bool planned = ppm > BALANCE_PPM / 2;
        for (int i = 0; i < r->npsus; i++) {
            const struct rack_psu *p = &r->psus[i];
            if (p->bus != bb || p->standby || !rack_psu_alive(r, p) || r->bus_failed[bb])
                continue;
            double x = planned ? (double)d * (double)p->share_ppm / (double)ppm
                               : (capsum > 0 ? (double)d * cap_of(p) / capsum : 0);
            loss += loss_at(rack_psu_model_of(r, p), p->rated_mw, x);
        }
    }
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        if (!rack_psu_alive(r, p))
            continue;
        if (p->standby)
            loss += (double)rack_psu_model_of(r, p)->standby_mw;
        else if (p->bus < 0 || r->bus_failed[p->bus])
            loss += loss_at(rack_psu_model_of(r, p), p->rated_mw, 0);
    }
    return (int64_t)llround(loss);
}

/* Plan from a configuration and its loads (b->load). */
static void plan_from(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                      const int *bus, const bool *sb, struct balance_plan *pl)
{
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        struct balance_psu *q = &pl->psus[i];
        bool alive = rack_psu_alive(r, p);
        q->bus = bus[i];
        q->standby = sb[i];
        q->load_mw = alive && !sb[i] ? b->load[i] : 0;
        q->share_ppm = 0;
        q->loss_mw = !alive  ? 0
                     : sb[i] ? rack_psu_model_of(r, p)->standby_mw
                             : balance_loss_mw(rack_psu_model_of(r, p), p->rated_mw, q->load_mw);
    }
    fill_shares(r, bus_load_mw, pl);
}

static bool plan_differs(const struct rack *r, const struct balance_plan *pl)
{
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        const struct balance_psu *q = &pl->psus[i];
        int64_t d = q->share_ppm - p->share_ppm;
        if (q->bus != p->bus || q->standby != p->standby || d > SHARE_CHANGE_PPM ||
            d < -SHARE_CHANGE_PPM)
            return true;
    }
    return false;
}

static void describe(const struct rack *r, const struct balance_plan *pl, char *buf, size_t len)
{
    size_t n = strlen(buf);
    for (int i = 0; i < r->npsus && n + 1 < len; i++) {
        const struct rack_psu *p = &r->psus[i];
        const struct balance_psu *q = &pl->psus[i];
        const char *sep = n && buf[n - 1] != ' ' ? ", " : "";
        int k = 0;
        if (q->standby != p->standby)
            k = snprintf(buf + n, len - n, "%s%s %s", sep, p->id,
                         q->standby ? "stands by" : "wakes");
        else if (q->bus != p->bus)
            k = snprintf(buf + n, len - n, "%s%s to bus %s", sep, p->id,
                         q->bus >= 0 ? r->buses[q->bus] : "none");
        if (k > 0)
            n += (size_t)k < len - n ? (size_t)k : len - n - 1;
    }
}

int balance_plan(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                 int64_t now_ns, struct balance_plan *out, char *err, size_t errlen)
{
    if (out->npsus != r->npsus || r->npsus != b->np || r->nbuses != b->nb) {
        snprintf(err, errlen, "balance: plan or state for %d PSUs and %d buses, rack has %d and %d",
                 out->npsus, b->nb, r->npsus, r->nbuses);
        return -1;
    }
    char why[128];
    const char *no_sb = no_standby_why(r, why, sizeof(why));
    bool fits;
    double cur = rack_loads(b, r, bus_load_mw, &fits);
    out->loss_before_mw = balance_rack_loss_mw(r, bus_load_mw);
    out->reason[0] = 0;

    /* The rack as it stands breaks a rule: a standby it may not have, a bus
     * its awake PSUs cannot carry, or the policy's check. */
    bool any_sb = false;
    for (int i = 0; i < r->npsus; i++) {
        b->cbus[i] = r->psus[i].bus;
        b->csb[i] = r->psus[i].standby && plannable(r, &r->psus[i]) && !no_sb && b->can_standby[i];
        any_sb |= r->psus[i].standby;
    }
    bool cur_ok = fits && (!any_sb || (!no_sb && config_safe(b, r, b->cbus, b->csb)));
    for (int i = 0; i < r->npsus && cur_ok; i++)
        cur_ok = b->csb[i] == r->psus[i].standby;

    /* Candidates: from the rack as it stands (lawful standbys kept), and from
     * everything awake where it stands; the better of the two. */
    double best = -1;
    for (int start = 0; start < 2; start++) {
        for (int i = 0; i < r->npsus; i++) {
            b->cbus[i] = r->psus[i].bus;
            b->csb[i] = start == 0 && r->psus[i].standby && plannable(r, &r->psus[i]) && !no_sb &&
                        b->can_standby[i];
        }
        double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
        if (c >= 0 && !config_safe(b, r, b->cbus, b->csb))
            c = -1;
        if (c < 0 && start == 0)
            continue;
        /* in an outage or in doubt: nothing stands by, nothing moves */
        if (c >= 0 && !no_sb)
            c = descend(b, r, bus_load_mw, now_ns, c);
        if (c >= 0 && (best < 0 || c < best)) {
            best = c;
            memcpy(b->bbus, b->cbus, (size_t)r->npsus * sizeof(*b->bbus));
            memcpy(b->bsb, b->csb, (size_t)r->npsus * sizeof(*b->bsb));
        }
    }
    if (best < 0) {
        /* No bus can carry its load even with everything awake where it
         * stands: wake everything, shares by capacity (the policy's
         * business is the rest). */
        for (int i = 0; i < r->npsus; i++) {
            b->bbus[i] = r->psus[i].bus;
            b->bsb[i] = false;
        }
        struct rack tmp = *r;
        memcpy(b->psus, r->psus, (size_t)r->npsus * sizeof(*b->psus));
        for (int i = 0; i < r->npsus; i++) {
            b->psus[i].standby = false;
            b->psus[i].share_ppm = 0;
        }
        tmp.psus = b->psus;
        bool f;
        rack_loads(b, &tmp, bus_load_mw, &f);
        plan_from(b, r, bus_load_mw, b->bbus, b->bsb, out);
        out->loss_after_mw = balance_rack_loss_mw(&tmp, bus_load_mw);
        out->changed = plan_differs(r, out);
        snprintf(out->reason, sizeof(out->reason), "overload: every PSU awake");
        return 0;
    }
    /* the best configuration's loads */
    config_loss(b, r, bus_load_mw, b->bbus, b->bsb);
    memcpy(b->bload, b->load, (size_t)r->npsus * sizeof(*b->bload));

    double saving = cur - best;
    double need = (double)b->conf.min_saving_mw;
    if (cur * b->conf.min_saving_pct / 100.0 > need)
        need = cur * b->conf.min_saving_pct / 100.0;
    if (cur_ok && saving < need) {
        /* keep the rack as it stands */
        for (int i = 0; i < r->npsus; i++) {
            b->cbus[i] = r->psus[i].bus;
            b->csb[i] = r->psus[i].standby;
        }
        rack_loads(b, r, bus_load_mw, &fits);
        plan_from(b, r, bus_load_mw, b->cbus, b->csb, out);
        for (int i = 0; i < r->npsus; i++)
            if (!out->psus[i].standby && out->psus[i].bus >= 0 && r->psus[i].share_ppm > 0)
                out->psus[i].share_ppm = r->psus[i].share_ppm;
        out->loss_after_mw = out->loss_before_mw;
        out->changed = false;
        snprintf(out->reason, sizeof(out->reason), "kept: the best plan saves %.1f W, under %.1f W",
                 saving > 0 ? saving / 1e3 : 0.0, need / 1e3);
        return 0;
    }
    memcpy(b->load, b->bload, (size_t)r->npsus * sizeof(*b->load));
    plan_from(b, r, bus_load_mw, b->bbus, b->bsb, out);
    struct rack tmp = *r;
    memcpy(b->psus, r->psus, (size_t)r->npsus * sizeof(*b->psus));
    for (int i = 0; i < r->npsus; i++) {
        b->psus[i].bus = out->psus[i].bus;
        b->psus[i].standby = out->psus[i].standby;
        b->psus[i].share_ppm = out->psus[i].share_ppm;
    }
    tmp.psus = b->psus;
    out->loss_after_mw = balance_rack_loss_mw(&tmp, bus_load_mw);
    out->changed = plan_differs(r, out);
    if (no_sb && any_sb)
        snprintf(out->reason, sizeof(out->reason), "wake (%s): ", no_sb);
    else if (!cur_ok)
        snprintf(out->reason, sizeof(out->reason), "wake (the rack as it stands breaks a rule): ");
    else
        snprintf(out->reason, sizeof(out->reason),
                 "saves %.1f W: ", (double)(out->loss_before_mw - out->loss_after_mw) / 1e3);
    describe(r, out, out->reason, sizeof(out->reason));
    size_t n = strlen(out->reason);
    if (n >= 2 && out->reason[n - 2] == ':')
        snprintf(out->reason + n, sizeof(out->reason) - n, "shares");
    return 0;
}

/* ---- carrying a plan out ----------------------------------------------- */

static void emit(struct policy_actions *out, const struct rack *r, enum policy_action_kind kind,
                 int psu, const struct balance_plan *pl)
{
    const struct balance_psu *q = &pl->psus[psu];
    struct policy_action a = {.kind = kind,
                              .server = -1,
                              .psu = psu,
                              .from_bus = r->psus[psu].bus,
                              .to_bus = q->bus,
                              .watts_mw = q->load_mw,
                              .share_ppm = q->share_ppm,
                              .instant = fast_switch(r, &r->psus[psu]),
                              .capacity_mw = rack_capacity_mw(r),
                              .allocated_mw = rack_allocated_mw(r)};
    snprintf(a.reason, sizeof(a.reason), "%s", pl->reason);
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        struct policy_action *v = realloc(out->v, cap * sizeof(*v));
        if (!v) {
            out->dropped++;
            out->spare = a;
            return;
        }
        out->v = v;
        out->cap = cap;
    }
    out->v[out->n++] = a;
}

void balance_apply(struct balance *b, struct rack *r, const struct balance_plan *pl, int64_t now_ns,
                   struct policy_actions *out)
{
    if (!pl->changed || pl->npsus != r->npsus)
        return;
    for (int i = 0; i < r->npsus; i++)
        if (r->psus[i].standby && !pl->psus[i].standby) {
            emit(out, r, POLICY_ACT_WAKE, i, pl);
            r->psus[i].standby = false;
            b->flip_ns[i] = now_ns;
        }
    for (int i = 0; i < r->npsus; i++)
        if (r->psus[i].bus != pl->psus[i].bus) {
            emit(out, r, POLICY_ACT_SWITCH, i, pl);
            r->psus[i].bus = pl->psus[i].bus;
        }
    for (int i = 0; i < r->npsus; i++)
        if (!pl->psus[i].standby && r->psus[i].share_ppm != pl->psus[i].share_ppm) {
            emit(out, r, POLICY_ACT_SHARE, i, pl);
            r->psus[i].share_ppm = pl->psus[i].share_ppm;
        }
    for (int i = 0; i < r->npsus; i++)
        if (!r->psus[i].standby && pl->psus[i].standby) {
            emit(out, r, POLICY_ACT_STANDBY, i, pl);
            r->psus[i].standby = true;
            r->psus[i].share_ppm = 0;
            b->flip_ns[i] = now_ns;
        }
}

/* ---- the exhaustive optimum -------------------------------------------- */

int balance_exhaustive(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                       struct balance_plan *out, int64_t *lower_mw, char *err, size_t errlen)
{
    if (r->npsus > BALANCE_EXHAUSTIVE_MAX_PSUS || out->npsus != r->npsus || r->npsus != b->np ||
        r->nbuses != b->nb) {
        snprintf(err, errlen, "balance_exhaustive: at most %d PSUs and a plan of the rack's size",
                 BALANCE_EXHAUSTIVE_MAX_PSUS);
        return -1;
    }
    char why[128];
    bool standby_ok = !no_standby_why(r, why, sizeof(why));
    int n = r->npsus;
    /* per PSU: its choices, standby or awake on each bus it may be on */
    int nchoice[BALANCE_EXHAUSTIVE_MAX_PSUS], choice[BALANCE_EXHAUSTIVE_MAX_PSUS];
    int opts[BALANCE_EXHAUSTIVE_MAX_PSUS][2 * RACK_MAX_BUSES];
    for (int i = 0; i < n; i++) {
        const struct rack_psu *p = &r->psus[i];
        nchoice[i] = 0;
        choice[i] = 0;
        if (!plannable(r, p)) {
            opts[i][nchoice[i]++] = p->bus; /* as it stands, awake */
            continue;
        }
        for (int bb = 0; bb < r->nbuses; bb++) {
            if (bb != p->bus &&
                (!fast_switch(r, p) || !(p->wired & (1u << bb)) || r->bus_failed[bb]))
                continue;
            opts[i][nchoice[i]++] = bb;
            if (standby_ok && b->can_standby[i])
                opts[i][nchoice[i]++] = -2 - bb; /* standby on bb */
        }
    }
    int saved = b->samples;
    b->samples = EXHAUSTIVE_SAMPLES;
    double best = -1, lower = -1;
    for (;;) {
        for (int i = 0; i < n; i++) {
            int o = opts[i][choice[i]];
            b->cbus[i] = o <= -2 ? -2 - o : o;
            b->csb[i] = o <= -2;
        }
        double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
        if (c >= 0 && config_safe(b, r, b->cbus, b->csb)) {
            if (lower < 0 || b->lower < lower)
                lower = b->lower;
            if (best < 0 || c < best) {
                best = c;
                memcpy(b->bbus, b->cbus, (size_t)n * sizeof(*b->bbus));
                memcpy(b->bsb, b->csb, (size_t)n * sizeof(*b->bsb));
                memcpy(b->bload, b->load, (size_t)n * sizeof(*b->bload));
            }
        }
        int i = 0;
        while (i < n && ++choice[i] == nchoice[i])
            choice[i++] = 0;
        if (i == n)
            break;
    }
    b->samples = saved;
    if (best < 0) {
        snprintf(err, errlen, "balance_exhaustive: no configuration carries the load");
        return -1;
    }
    memcpy(b->load, b->bload, (size_t)n * sizeof(*b->load));
    plan_from(b, r, bus_load_mw, b->bbus, b->bsb, out);
    struct rack tmp = *r;
    memcpy(b->psus, r->psus, (size_t)n * sizeof(*b->psus));
    for (int i = 0; i < n; i++) {
        b->psus[i].bus = out->psus[i].bus;
        b->psus[i].standby = out->psus[i].standby;
        b->psus[i].share_ppm = out->psus[i].share_ppm;
    }
    tmp.psus = b->psus;
    out->loss_before_mw = balance_rack_loss_mw(r, bus_load_mw);
    out->loss_after_mw = balance_rack_loss_mw(&tmp, bus_load_mw);
    out->changed = plan_differs(r, out);
    snprintf(out->reason, sizeof(out->reason), "exhaustive optimum");
    if (lower_mw)
        *lower_mw = (int64_t)floor(lower);
    return 0;
}
