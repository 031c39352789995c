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

#include "flow.h"

#define PLAN_SAMPLES 100        /* per PSU curve, for balance_plan */
#define EXHAUSTIVE_SAMPLES 1000 /* ... for balance_exhaustive */
#define AT_RISK_WEIGHT 1000.0   /* mW of cost per mW an at-risk PSU carries */
#define OVER_WEIGHT 1e6         /* ... per mW of a bus's load its awake PSUs cannot carry */
#define PAIR_MAX_PSUS 24        /* racks up to this size also try two changes at once */
#define REFINE_MAX_PSUS 16      /* buses up to this many awake PSUs refine their shares */
#define KICK_MAX_PSUS 12        /* ... and up to this size, descents from every one change */
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
    int samples, stride;
    int64_t evals; /* this plan's evaluations so far (conf.max_evals) */
    double lower;  /* hull bound of the configuration evaluated last */
    double over;   /* load its awake PSUs cannot carry, mW (0: it is carried) */
    int frozen;    /* a PSU the search leaves as it is (a kick's), or -1 */
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
    b->frozen = -1;
    for (size_t i = 0; i < n; i++) {
        b->flip_ns[i] = INT64_MIN;
        b->can_standby[i] = true;
    }
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
    return p->at_risk; /* predicted to fail (docs/policy.md) */
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
 * Pairwise transfers between the PSUs of a bus, in steps from 5 % of the
 * load down to a watt, while one lowers the true cost: the hull solution is
 * a point of every true curve but one, and where a curve is not convex a
 * better point may lie off the hull's vertices. Buses of up to
 * REFINE_MAX_PSUS PSUs.
 */
static void refine(const struct rack *r, const int *on, int m, double load_mw, double *x)
{
    if (m < 2 || m > REFINE_MAX_PSUS)
        return;
    for (double step = load_mw * 0.05; step >= 1000.0; step /= 3) {
        for (int pass = 0; pass < 50; pass++) {
            bool moved = false;
            for (int j = 0; j < m; j++) {
                const struct rack_psu *pj = &r->psus[on[j]];
                if (x[j] < step)
                    continue;
                for (int k = 0; k < m; k++) {
                    const struct rack_psu *pk = &r->psus[on[k]];
                    if (k == j || x[k] + step > cap_of(pk) || x[j] < step)
                        continue;
                    double d = cost_at(r, pj, x[j] - step) + cost_at(r, pk, x[k] + step) -
                               cost_at(r, pj, x[j]) - cost_at(r, pk, x[k]);
                    if (d < -1e-6) {
                        x[j] -= step;
                        x[k] += step;
                        moved = true;
                    }
                }
            }
            if (!moved)
                break;
        }
    }
}

/* Every PSU's hull, once per plan: a hull depends on the PSU alone. */
static void build_hulls(struct balance *b, const struct rack *r, int samples)
{
    b->samples = samples;
    b->stride = samples + RACK_MODEL_POINTS + 2;
    for (int i = 0; i < r->npsus; i++)
        b->hn[i] = rack_psu_alive(r, &r->psus[i])
                       ? build_hull(b, r, &r->psus[i], &b->hx[(size_t)i * b->stride],
                                    &b->hc[(size_t)i * b->stride])
                       : 0;
}

/*
 * Loads x of the m PSUs on[] carrying load_mw together, cheapest for their
 * hulls, then the PSU left inside a hull segment tried at its segment's
 * start with the rest on another PSU. Returns the true cost; b->lower +=
 * the hulls' cost. What they cannot carry is left out and added to b->over.
 */
static double solve_shares(struct balance *b, const struct rack *r, const int *on, int m,
                           double load_mw, double *x)
{
    int nseg = 0;
    double base = 0, total = 0;
    for (int j = 0; j < m; j++) {
        const double *hx = &b->hx[(size_t)on[j] * b->stride];
        const double *hc = &b->hc[(size_t)on[j] * b->stride];
        base += hc[0];
        total += cap_of(&r->psus[on[j]]);
        x[j] = 0;
        for (int k = 0; k < b->hn[on[j]]; k++)
            b->segs[nseg++] = (struct seg){.slope = (hc[k + 1] - hc[k]) / (hx[k + 1] - hx[k]),
                                           .dx = hx[k + 1] - hx[k],
                                           .psu = j};
    }
    if (load_mw > total + 0.5) {
        b->over += load_mw - total;
        load_mw = total;
    }
    qsort(b->segs, (size_t)nseg, sizeof(*b->segs), seg_cmp);
    double left = load_mw, hull = base;
    int partial = -1;
    double part = 0; /* how far into its segment the partial PSU went */
    for (int k = 0; k < nseg && left > 0; k++) {
        const struct seg *sg = &b->segs[k];
        double take = sg->dx < left ? sg->dx : left;
        x[sg->psu] += take;
        hull += take * sg->slope;
        left -= take;
        if (take < sg->dx) {
            partial = sg->psu;
            part = take;
        }
    }
    b->lower += hull;
    (void)partial;
    (void)part;
    refine(r, on, m, load_mw, x);
    return true_cost(r, on, m, x);
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
 * Cost of configuration (bus, sb) with optimal shares (loads into b->load):
 * the loss (with at-risk weights), plus OVER_WEIGHT per mW some bus's awake
 * PSUs cannot carry (b->over), so that a search from an overloaded rack
 * heads for one that carries its load. b->lower gets the hulls' bound.
 */
/* The plan has evaluated all it may (conf.max_evals). */
static bool spent(const struct balance *b)
{
    return b->conf.max_evals > 0 && b->evals >= b->conf.max_evals;
}

static double config_loss(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                          const int *bus, const bool *sb)
{
    b->evals += r->npsus;
    double loss = 0;
    b->lower = 0;
    b->over = 0;
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
        loss += solve_shares(b, r, b->on, m, (double)bus_load(r, bus_load_mw, bb), b->x);
        for (int j = 0; j < m; j++)
            b->load[b->on[j]] = (int64_t)llround(b->x[j]);
    }
    return loss + OVER_WEIGHT * b->over;
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
    if (spent(b))
        return false; /* not checked: not safe */
    b->evals += r->npsus;
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

/* The states PSU i may change to in the search, as bus * 2 + standby:
 * awake or standing by (when its device can, and past its dwell unless it
 * stands by already) where it is, or on another live bus it is wired to
 * when its switch is faster than the hold-up. */
static int changes_of(const struct balance *b, const struct rack *r, int i, int64_t now_ns,
                      int *list)
{
    const struct rack_psu *p = &r->psus[i];
    int n = 0;
    if (!plannable(r, p) || i == b->frozen)
        return 0;
    bool dwell_ok =
        b->flip_ns[i] == INT64_MIN || now_ns - b->flip_ns[i] >= b->conf.min_dwell_ns || p->standby;
    bool sb_ok = b->csb[i] || (b->can_standby[i] && dwell_ok);
    for (int to = 0; to < r->nbuses; to++) {
        if (to != b->cbus[i] &&
            (!fast_switch(r, p) || !(p->wired & (1u << to)) || r->bus_failed[to]))
            continue;
        if (to != b->cbus[i] || b->csb[i])
            list[n++] = to * 2;
        if (sb_ok && (to != b->cbus[i] || !b->csb[i]))
            list[n++] = to * 2 + 1;
    }
    return n;
}

/* Puts PSU i in state c; returns its state before. */
static int change(struct balance *b, int i, int c)
{
    int before = b->cbus[i] * 2 + (b->csb[i] ? 1 : 0);
    b->cbus[i] = c / 2;
    b->csb[i] = c % 2;
    return before;
}

/*
 * Local search from (cbus, csb): the best single change, or on racks of up
 * to PAIR_MAX_PSUS PSUs when no single one helps the best pair (a PSU
 * stands by while another wakes or moves: what one change at a time cannot
 * reach past the policy's check), while it lowers the cost by a milliwatt.
 * Only candidates cheaper than the best so far are checked with the policy.
 */
static double descend(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                      int64_t now_ns, double cur)
{
    int ci[2 * RACK_MAX_BUSES], cj[2 * RACK_MAX_BUSES];
    for (int iter = 0; iter < 4 * r->npsus + 4 && !spent(b); iter++) {
        double best = cur - 1;
        int bi = -1, bci = 0, bj = -1, bcj = 0;
        for (int i = 0; i < r->npsus && !spent(b); i++) {
            int ni = changes_of(b, r, i, now_ns, ci);
            for (int a = 0; a < ni && !spent(b); a++) {
                int undo = change(b, i, ci[a]);
                double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
                if (c < best && config_safe(b, r, b->cbus, b->csb)) {
                    best = c;
                    bi = i;
                    bci = ci[a];
                }
                change(b, i, undo);
            }
        }
        for (int i = 0; bi < 0 && r->npsus <= PAIR_MAX_PSUS && i < r->npsus && !spent(b); i++) {
            int ni = changes_of(b, r, i, now_ns, ci);
            for (int a = 0; a < ni; a++) {
                int undo_i = change(b, i, ci[a]);
                for (int j = i + 1; j < r->npsus && !spent(b); j++) {
                    int nj = changes_of(b, r, j, now_ns, cj);
                    for (int k = 0; k < nj && !spent(b); k++) {
                        int undo_j = change(b, j, cj[k]);
                        double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
                        if (c < best && config_safe(b, r, b->cbus, b->csb)) {
                            best = c;
                            bi = i;
                            bci = ci[a];
                            bj = j;
                            bcj = cj[k];
                        }
                        change(b, j, undo_j);
                    }
                }
                change(b, i, undo_i);
            }
        }
        if (bi < 0)
            break;
        change(b, bi, bci);
        if (bj >= 0)
            change(b, bj, bcj);
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

void balance_rack_psus(const struct rack *r, const int64_t *bus_load_mw, int64_t *load_mw,
                       int64_t *loss_mw)
{
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        load_mw[i] = 0;
        loss_mw[i] = !rack_psu_alive(r, p) ? 0
                     : p->standby
                         ? rack_psu_model_of(r, p)->standby_mw
                         : (int64_t)llround(loss_at(rack_psu_model_of(r, p), p->rated_mw, 0));
    }
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
            load_mw[i] = (int64_t)llround(x);
            loss_mw[i] = (int64_t)llround(loss_at(rack_psu_model_of(r, p), p->rated_mw, x));
        }
    }
}

int balance_awake_loads(const struct rack *r, const int64_t *draw_mw,
                        int64_t load_mw[RACK_MAX_BUSES])
{
    struct rack v = *r;
    struct rack_psu *awake = malloc(((size_t)r->npsus + 1) * sizeof(*awake));
    int64_t cap[RACK_MAX_BUSES];
    if (!awake) {
        flow_rack(r, draw_mw, cap, load_mw);
        return -1;
    }
    memcpy(awake, r->psus, (size_t)r->npsus * sizeof(*awake));
    for (int i = 0; i < r->npsus; i++)
        if (awake[i].standby)
            awake[i].bus = -1;
    v.psus = awake;
    flow_rack(&v, draw_mw, cap, load_mw);
    free(awake);
    return 0;
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

static int plan_search(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                       int64_t now_ns, struct balance_plan *out, char *err, size_t errlen)
{
    if (out->npsus != r->npsus || r->npsus != b->np || r->nbuses != b->nb) {
        snprintf(err, errlen, "balance: plan or state for %d PSUs and %d buses, rack has %d and %d",
                 out->npsus, b->nb, r->npsus, r->nbuses);
        return -1;
    }
    char why[128];
    const char *no_sb = no_standby_why(r, why, sizeof(why));
    b->evals = 0;
    build_hulls(b, r, PLAN_SAMPLES);
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
        if (start == 0 && !config_safe(b, r, b->cbus, b->csb))
            continue;
        double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
        /* in an outage or in doubt: nothing stands by, nothing moves */
        if (!no_sb)
            c = descend(b, r, bus_load_mw, now_ns, c);
        if (best < 0 || c < best) {
            best = c;
            memcpy(b->bbus, b->cbus, (size_t)r->npsus * sizeof(*b->bbus));
            memcpy(b->bsb, b->csb, (size_t)r->npsus * sizeof(*b->bsb));
        }
    }
    /* Kicks, on small racks: each PSU forced into each state it may take
     * from the best so far and held there, and a descent from there (three
     * changes and more that the pairs cannot see). */
    for (int round = 0; !no_sb && r->npsus <= KICK_MAX_PSUS && round < 3 && !spent(b); round++) {
        bool better = false;
        int cs[2 * RACK_MAX_BUSES];
        for (int i = 0; i < r->npsus && !spent(b); i++) {
            memcpy(b->cbus, b->bbus, (size_t)r->npsus * sizeof(*b->cbus));
            memcpy(b->csb, b->bsb, (size_t)r->npsus * sizeof(*b->csb));
            int n = changes_of(b, r, i, now_ns, cs);
            for (int k = 0; k < n; k++) {
                memcpy(b->cbus, b->bbus, (size_t)r->npsus * sizeof(*b->cbus));
                memcpy(b->csb, b->bsb, (size_t)r->npsus * sizeof(*b->csb));
                change(b, i, cs[k]);
                if (!config_safe(b, r, b->cbus, b->csb))
                    continue;
                b->frozen = i;
                double c = descend(b, r, bus_load_mw, now_ns,
                                   config_loss(b, r, bus_load_mw, b->cbus, b->csb));
                b->frozen = -1;
                if (c < best - 1) {
                    best = c;
                    better = true;
                    memcpy(b->bbus, b->cbus, (size_t)r->npsus * sizeof(*b->bbus));
                    memcpy(b->bsb, b->csb, (size_t)r->npsus * sizeof(*b->bsb));
                }
            }
        }
        if (!better)
            break;
    }
    /* the best configuration's loads */
    best = config_loss(b, r, bus_load_mw, b->bbus, b->bsb);
    memcpy(b->bload, b->load, (size_t)r->npsus * sizeof(*b->bload));
    if (b->over > 0) {
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

/* Whether PSU i can leave its bus now without leaving it with no awake PSU
 * (it stands by, is on no bus, or another awake PSU stays there). */
static bool leaves_awake(const struct rack *r, int i)
{
    const struct rack_psu *p = &r->psus[i];
    if (p->bus < 0 || p->standby || !rack_psu_alive(r, p))
        return true;
    for (int k = 0; k < r->npsus; k++)
        if (k != i && r->psus[k].bus == p->bus && !r->psus[k].standby &&
            rack_psu_alive(r, &r->psus[k]))
            return true;
    return false;
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
    /* The switches one at a time, each from a bus that keeps an awake PSU
     * while it leaves, when one can: the devices carry them out one after
     * another, and a bus left with PSUs standing by alone sags meanwhile
     * (its shelf wakes them by itself). A PSU standing by carries nothing
     * and may go first. A cycle with no such switch takes the first. */
    for (;;) {
        int pick = -1;
        for (int i = 0; i < r->npsus; i++) {
            if (r->psus[i].bus == pl->psus[i].bus)
                continue;
            if (pick < 0)
                pick = i;
            if (leaves_awake(r, i)) {
                pick = i;
                break;
            }
        }
        if (pick < 0)
            break;
        emit(out, r, POLICY_ACT_SWITCH, pick, pl);
        r->psus[pick].bus = pl->psus[pick].bus;
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

int balance_plan(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                 int64_t now_ns, struct balance_plan *out, char *err, size_t errlen)
{
    int rc = plan_search(b, r, bus_load_mw, now_ns, out, err, errlen);
    out->evals = b->evals;
    out->bounded = b->conf.max_evals > 0 && b->evals >= b->conf.max_evals;
    return rc;
}

/* ---- the exhaustive optimum -------------------------------------------- */

static int exhaustive_search(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
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
        if (!plannable(r, p) || !standby_ok) { /* in doubt nothing moves either */
            opts[i][nchoice[i]++] = p->bus;    /* as it stands, awake */
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
    build_hulls(b, r, EXHAUSTIVE_SAMPLES);
    double best = -1, lower = -1;
    for (;;) {
        for (int i = 0; i < n; i++) {
            int o = opts[i][choice[i]];
            b->cbus[i] = o <= -2 ? -2 - o : o;
            b->csb[i] = o <= -2;
        }
        double c = config_loss(b, r, bus_load_mw, b->cbus, b->csb);
        if (b->over == 0 && config_safe(b, r, b->cbus, b->csb)) {
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

int balance_exhaustive(struct balance *b, const struct rack *r, const int64_t *bus_load_mw,
                       struct balance_plan *out, int64_t *lower_mw, char *err, size_t errlen)
{
    int64_t max_evals = b->conf.max_evals; /* the optimum is searched whole */
    b->conf.max_evals = 0;
    int rc = exhaustive_search(b, r, bus_load_mw, out, lower_mw, err, errlen);
    b->conf.max_evals = max_evals;
    return rc;
}
