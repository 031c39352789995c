/*
 * route.c - feasibility over bus subsets, protection against the failures of
 * the protection set, and the search for re-routings.
 *
 * Live PSUs are grouped into units of identical PSUs (same capacity, feed,
 * wiring, switch speed and position); a shelf of equal rectifiers is a few
 * units whatever its size, so every check costs about the same for 12 PSUs
 * or 1,800. Losing one PSU of a unit is the same failure for each member, so
 * n+1 checks one failure per unit.
 *
 * A search assigns the PSUs of movable units to buses. It visits assignments
 * with fewer moves first when asked for the fewest switch operations, and
 * prunes a branch as soon as some bus subset could not get enough capacity
 * even if every PSU left to place went there.
 */
#include "route.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct unit {
    int64_t cap;
    int feed;
    uint32_t wired;
    bool fast;    /* switch faster than the hold-up time */
    bool unknown; /* its state cannot be read: serves, not counted for protection */
    bool reserve; /* the battery reserves on one bus: serve, never fail, never move */
    int pos;      /* bus, -1 for none */
    int n;
    int first; /* offset of its members in route.members (base units only) */
};

struct cls {
    int unit; /* the unit it moves PSUs of */
    int64_t cap;
    int cur;        /* bus it delivers to when it stays, -1 for none */
    uint32_t dests; /* buses it may move to */
    int n;
};

struct search {
    int ncls;
    struct cls *cls;
    int *dist;     /* ncls x nbuses: PSUs of a class sent to each bus */
    int *remcount; /* movable PSUs in classes >= ci */
    int64_t *rsuf; /* (ncls + 1) x nsub: capacity classes >= ci could bring to X */
    int64_t base[RACK_MAX_BUSES];
    int64_t own_dd[ROUTE_NMASKS]; /* demand that must be served inside X ... */
    const int64_t *dd;            /* ... or a shared copy of it */
    const struct unit *units;     /* what the classes refer to */
    int nunits;
    int exact; /* moves required at a leaf, -1 for any */
    long nodes;
    bool gave_up;
    bool (*leaf)(struct route *rt, struct search *s, const int64_t *cbus);
};

struct route {
    int nb, np;
    uint32_t nsub;
    uint32_t alive_buses;
    int nfeeds;
    enum rack_protection prot;
    int nu;
    struct unit *u;        /* live PSUs as units, then the reserves' (one per bus) */
    int nu_psu;            /* units of PSUs: u[0..nu_psu) */
    int nu_all;            /* with the reserves' */
    bool use_res;          /* the reserves count (route_use_reserves) */
    const int64_t *offset; /* ... and what server batteries carry, per bus mask */
    bool no_offset;        /* ... which a check without the unknown does not count */
    int *members;          /* psu indices, grouped by unit, ascending inside one */
    int *pos;              /* current position of every psu */
    int ndu;
    struct unit *du; /* units after the moves of an outer leaf */
    struct unit *fu; /* units under a failure */
    struct unit *ku; /* units without the unknown PSUs */
    struct search outer, inner;
    /* demand per subset under the failure being checked, reused while the
     * live buses and the buses still reachable stay the same */
    int64_t dd_cache[ROUTE_NMASKS];
    bool dd_valid, dd_lost;
    uint32_t dd_A, dd_useful;
    uint32_t dd_lost_wired; /* the first bus mask left out when dd_lost */
    struct route_lost *lw;  /* where route_protected names the first such failure */
    bool lw_unknown_gone;   /* the failures being checked are without the unknown PSUs */
    /* the best routing found by a margin search (route_best without protection) */
    int *best_pos;
    int64_t best_margin;
    int best_moves;
    long leaves;
    /* context of the running call */
    const int64_t *demand;
    bool protect;
    bool trust;        /* unknown PSUs count for protection */
    bool skip_at_risk; /* route_skip_at_risk: PSUs predicted to fail left out */
};

static int search_alloc(struct search *s, size_t n, int nb, uint32_t nsub)
{
    s->cls = calloc(n, sizeof(*s->cls));
    s->dist = calloc(n * (size_t)nb, sizeof(*s->dist));
    s->remcount = calloc(n + 1, sizeof(*s->remcount));
    s->rsuf = calloc((n + 1) * nsub, sizeof(*s->rsuf));
    return (s->cls && s->dist && s->remcount && s->rsuf) ? 0 : -1;
}

static void search_free(struct search *s)
{
    free(s->cls);
    free(s->dist);
    free(s->remcount);
    free(s->rsuf);
}

struct route *route_new(int npsus, int nbuses)
{
    struct route *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return NULL;
    rt->nb = nbuses;
    rt->np = npsus;
    rt->nsub = 1u << nbuses;
    size_t n = (size_t)(npsus > 0 ? npsus : 1);
    size_t nun = n + RACK_MAX_BUSES;        /* and a reserves' unit per bus */
    size_t nd = nun * (size_t)(nbuses + 1); /* a unit splits at most once per bus */
    rt->u = calloc(nun, sizeof(*rt->u));
    rt->members = calloc(n, sizeof(*rt->members));
    rt->pos = calloc(n, sizeof(*rt->pos));
    rt->best_pos = calloc(n, sizeof(*rt->best_pos));
    rt->du = calloc(nd, sizeof(*rt->du));
    rt->fu = calloc(nd, sizeof(*rt->fu));
    rt->ku = calloc(nd, sizeof(*rt->ku));
    if (!rt->u || !rt->members || !rt->pos || !rt->best_pos || !rt->du || !rt->fu || !rt->ku ||
        search_alloc(&rt->outer, nd, nbuses, rt->nsub) ||
        search_alloc(&rt->inner, nd, nbuses, rt->nsub)) {
        route_free(rt);
        return NULL;
    }
    return rt;
}

void route_free(struct route *rt)
{
    if (!rt)
        return;
    search_free(&rt->outer);
    search_free(&rt->inner);
    free(rt->u);
    free(rt->members);
    free(rt->pos);
    free(rt->best_pos);
    free(rt->du);
    free(rt->fu);
    free(rt->ku);
    free(rt);
}

static bool same_unit(const struct unit *a, const struct unit *b)
{
    return a->cap == b->cap && a->feed == b->feed && a->wired == b->wired && a->fast == b->fast &&
           a->unknown == b->unknown && a->reserve == b->reserve && a->pos == b->pos;
}

/* ---- standby (balancing, docs/balancing.md) ----
 * A PSU standing by whose wake is slower than the hold-up counts for nothing
 * (as failed) until woken; one that wakes within the hold-up counts as active
 * for everything, and re-routes within the hold-up only if its switch and
 * its wake together do. So the policy needs to know nothing of standby. */
static bool psu_counts(const struct route *rt, const struct rack *r, const struct rack_psu *q)
{
    return rack_psu_alive(r, q) && !rack_psu_asleep(r, q) && !(rt->skip_at_risk && q->at_risk);
}

static int64_t psu_react_ns(const struct rack *r, const struct rack_psu *q)
{
    return q->switch_ns + (q->standby ? rack_psu_model_of(r, q)->wake_ns : 0);
}
/* ---- end of standby ---- */

static struct unit unit_of(const struct rack *r, const struct rack_psu *q)
{
    return (struct unit){.cap = rack_psu_health_mw(q),
                         .feed = q->feed,
                         .wired = q->wired,
                         .fast = psu_react_ns(r, q) < r->holdup_ns,
                         /* one predicted to fail counts as one not read */
                         .unknown = !rack_psu_known(q) || q->at_risk,
                         .pos = q->bus};
}

/* Live PSUs into units; members listed by unit, in psu order. */
static void build_units(struct route *rt, const struct rack *r)
{
    rt->nu = 0;
    for (int i = 0; i < rt->np; i++) {
        if (!psu_counts(rt, r, &r->psus[i]))
            continue;
        struct unit x = unit_of(r, &r->psus[i]);
        int k;
        for (k = 0; k < rt->nu; k++)
            if (same_unit(&rt->u[k], &x))
                break;
        if (k == rt->nu)
            rt->u[rt->nu++] = x;
        rt->u[k].n++;
    }
    int off = 0;
    for (int k = 0; k < rt->nu; k++) {
        rt->u[k].first = off;
        off += rt->u[k].n;
        rt->u[k].n = 0;
    }
    for (int i = 0; i < rt->np; i++) {
        if (!psu_counts(rt, r, &r->psus[i]))
            continue;
        struct unit x = unit_of(r, &r->psus[i]);
        for (int k = 0; k < rt->nu; k++)
            if (same_unit(&rt->u[k], &x)) {
                rt->members[rt->u[k].first + rt->u[k].n++] = i;
                break;
            }
    }
    /* The reserves on each live bus, as one unit that stays there: it serves
     * (it counts like a PSU whose state is unknown, so never for what admits)
     * and is no failure of the protection set: a battery is a bridge, not
     * redundancy (docs/policy.md "Battery reserves"). */
    rt->nu_psu = rt->nu;
    for (int b = 0; b < rt->nb && b < r->nbuses; b++) {
        int64_t mw = rack_reserve_bus_mw(r, b);
        if (mw > 0)
            rt->u[rt->nu++] = (struct unit){.cap = mw,
                                            .feed = -1,
                                            .wired = 1u << b,
                                            .fast = true,
                                            .unknown = true,
                                            .reserve = true,
                                            .pos = b,
                                            .n = 1,
                                            .first = -1};
    }
    rt->nu_all = rt->nu;
    rt->nu = rt->use_res ? rt->nu_all : rt->nu_psu;
}

void route_use_reserves(struct route *rt, bool on, const int64_t *offset_mw)
{
    rt->use_res = on;
    rt->offset = on ? offset_mw : NULL;
    rt->nu = on ? rt->nu_all : rt->nu_psu;
}

void route_skip_at_risk(struct route *rt, bool on)
{
    rt->skip_at_risk = on;
}

bool route_has_reserves(const struct route *rt)
{
    return rt->nu_all > rt->nu_psu;
}

void route_load(struct route *rt, const struct rack *r)
{
    rt->alive_buses = rack_alive_buses(r);
    rt->nfeeds = r->nfeeds;
    rt->prot = r->protection;
    for (int i = 0; i < rt->np; i++)
        rt->pos[i] = r->psus[i].bus;
    build_units(rt, r);
}

/*
 * dd[X] = demand of servers that can only be served inside X, given the live
 * buses A. Servers that cannot use any bus of `useful` are left out (lost is
 * raised when one of them draws): no re-routing could reach them.
 */
static void demand_subsets(const struct route *rt, const int64_t *demand, uint32_t A,
                           uint32_t useful, int64_t *dd, bool *lost, uint32_t *lost_wired)
{
    memset(dd, 0, rt->nsub * sizeof(*dd));
    for (uint32_t m = 0; m < rt->nsub; m++) {
        int64_t dm = demand[m];
        if (rt->offset && !rt->no_offset) /* server batteries carry it, not the buses */
            dm = dm > rt->offset[m] ? dm - rt->offset[m] : 0;
        if (dm == 0)
            continue;
        if ((m & useful) == 0 && useful != UINT32_MAX) {
            if (lost && !*lost && lost_wired)
                *lost_wired = m;
            if (lost)
                *lost = true;
            continue;
        }
        dd[m & A] += dm;
    }
    for (int b = 0; b < rt->nb; b++)
        for (uint32_t x = 0; x < rt->nsub; x++)
            if (x & (1u << b))
                dd[x] += dd[x ^ (1u << b)];
}

/* Hall's condition; on failure fills why with the worst subset. */
static bool hall(const struct route *rt, const int64_t *dd, const int64_t *cbus,
                 struct route_why *why)
{
    int64_t csub[ROUTE_NMASKS];
    int64_t worst = 0;
    csub[0] = 0;
    for (uint32_t x = 0; x < rt->nsub; x++) {
        if (x)
            csub[x] = csub[x & (x - 1)] + cbus[__builtin_ctz(x)];
        int64_t d = dd[x] - csub[x];
        if (d > worst) {
            worst = d;
            if (!why)
                return false;
            why->buses = x;
            why->demand_mw = dd[x];
            why->capacity_mw = csub[x];
        }
    }
    return worst == 0;
}

static void capacity_of(const struct unit *u, int nu, uint32_t A, int64_t *cbus)
{
    memset(cbus, 0, RACK_MAX_BUSES * sizeof(*cbus));
    for (int k = 0; k < nu; k++)
        if (u[k].n > 0 && u[k].pos >= 0 && (A & (1u << u[k].pos)))
            cbus[u[k].pos] += u[k].cap * u[k].n;
}

enum movable { MOVE_FAST, MOVE_SLOW, MOVE_ALL };

static bool is_movable(const struct unit *u, enum movable which)
{
    switch (which) {
    case MOVE_FAST:
        return u->fast;
    case MOVE_SLOW:
        return !u->fast;
    case MOVE_ALL:
        return true;
    }
    return false;
}

/* Prepares a search: units movable by `which` become classes; the others
 * stay where they are and form the base capacity. */
static void search_setup(struct route *rt, struct search *s, const struct unit *u, int nu,
                         uint32_t A, enum movable which)
{
    s->units = u;
    s->nunits = nu;
    s->ncls = 0;
    memset(s->base, 0, sizeof(s->base));
    for (int k = 0; k < nu; k++) {
        if (u[k].n <= 0)
            continue;
        int cur = (u[k].pos >= 0 && (A & (1u << u[k].pos))) ? u[k].pos : -1;
        uint32_t dests = u[k].wired & A;
        if (cur >= 0)
            dests &= ~(1u << cur);
        if (!dests || !is_movable(&u[k], which)) {
            if (cur >= 0)
                s->base[cur] += u[k].cap * u[k].n;
            continue;
        }
        s->cls[s->ncls++] =
            (struct cls){.unit = k, .cap = u[k].cap, .cur = cur, .dests = dests, .n = u[k].n};
    }
    uint32_t nsub = rt->nsub;
    s->remcount[s->ncls] = 0;
    memset(&s->rsuf[(size_t)s->ncls * nsub], 0, nsub * sizeof(int64_t));
    for (int k = s->ncls - 1; k >= 0; k--) {
        const struct cls *c = &s->cls[k];
        uint32_t reach = c->dests | (c->cur >= 0 ? 1u << c->cur : 0);
        int64_t add = c->cap * c->n;
        s->remcount[k] = s->remcount[k + 1] + c->n;
        for (uint32_t x = 0; x < nsub; x++)
            s->rsuf[(size_t)k * nsub + x] =
                s->rsuf[(size_t)(k + 1) * nsub + x] + ((reach & x) ? add : 0);
    }
    memset(s->dist, 0, (size_t)(s->ncls > 0 ? s->ncls : 1) * (size_t)rt->nb * sizeof(int));
    s->nodes = 0;
    s->gave_up = false;
}

static bool upper_ok(const struct route *rt, const struct search *s, int ci, const int64_t *cbus)
{
    int64_t csub[ROUTE_NMASKS];
    const int64_t *rs = &s->rsuf[(size_t)ci * rt->nsub];
    csub[0] = 0;
    if (s->dd[0] > 0)
        return false;
    for (uint32_t x = 1; x < rt->nsub; x++) {
        csub[x] = csub[x & (x - 1)] + cbus[__builtin_ctz(x)];
        if (s->dd[x] > csub[x] + rs[x])
            return false;
    }
    return true;
}

static bool rec(struct route *rt, struct search *s, int ci, int64_t *cbus, int moves_left);

static bool rec_dest(struct route *rt, struct search *s, int ci, int b, int remaining,
                     int64_t *cbus, int moves_left)
{
    const struct cls *c = &s->cls[ci];
    while (b < rt->nb && !(c->dests & (1u << b)))
        b++;
    if (b >= rt->nb) {
        /* a PSU that delivers to no live bus while one it is wired to lives
         * is stranded: it moves (its staying is never better, capacity only
         * grows when it moves) */
        if (c->cur < 0 && remaining > 0)
            return false;
        if (c->cur >= 0)
            cbus[c->cur] += remaining * c->cap;
        bool ok = rec(rt, s, ci + 1, cbus, moves_left);
        if (c->cur >= 0)
            cbus[c->cur] -= remaining * c->cap;
        return ok;
    }
    int maxx = remaining;
    if (s->exact >= 0 && maxx > moves_left)
        maxx = moves_left;
    for (int x = 0; x <= maxx; x++) {
        s->dist[ci * rt->nb + b] = x;
        cbus[b] += x * c->cap;
        bool ok = rec_dest(rt, s, ci, b + 1, remaining - x, cbus,
                           s->exact >= 0 ? moves_left - x : moves_left);
        cbus[b] -= x * c->cap;
        if (ok)
            return true;
        if (s->gave_up)
            return false;
    }
    return false;
}

static bool rec(struct route *rt, struct search *s, int ci, int64_t *cbus, int moves_left)
{
    if (++s->nodes > ROUTE_BUDGET) {
        s->gave_up = true;
        return false;
    }
    if (s->exact >= 0 && moves_left > s->remcount[ci])
        return false;
    if (ci == s->ncls)
        return (s->exact < 0 || moves_left == 0) && s->leaf(rt, s, cbus);
    if (!upper_ok(rt, s, ci, cbus))
        return false;
    return rec_dest(rt, s, ci, 0, s->cls[ci].n, cbus, moves_left);
}

static bool search_run(struct route *rt, struct search *s, int exact)
{
    int64_t cbus[RACK_MAX_BUSES];
    memcpy(cbus, s->base, sizeof(cbus));
    s->exact = exact;
    s->gave_up = false;
    return rec(rt, s, 0, cbus, exact >= 0 ? exact : INT_MAX);
}

/* The units after the moves at the current leaf of s (s->units split). */
static void leaf_units(struct route *rt, const struct search *s)
{
    int n = 0;
    for (int k = 0; k < s->nunits; k++) {
        rt->du[n] = s->units[k];
        rt->du[n].first = -1;
        n++;
    }
    for (int c = 0; c < s->ncls; c++) {
        const struct cls *cl = &s->cls[c];
        for (int b = 0; b < rt->nb; b++) {
            int x = s->dist[c * rt->nb + b];
            if (!x)
                continue;
            rt->du[cl->unit].n -= x;
            rt->du[n] = s->units[cl->unit];
            rt->du[n].pos = b;
            rt->du[n].n = x;
            rt->du[n].first = -1;
            n++;
        }
    }
    rt->ndu = n;
}

/* Per-psu positions at the current leaf of s (s must be over rt->u). */
static void leaf_positions(const struct route *rt, const struct search *s, int *out)
{
    memcpy(out, rt->pos, (size_t)rt->np * sizeof(*out));
    for (int c = 0; c < s->ncls; c++) {
        const struct unit *u = &rt->u[s->cls[c].unit];
        int m = u->first;
        for (int b = 0; b < rt->nb; b++)
            for (int x = 0; x < s->dist[c * rt->nb + b]; x++)
                out[rt->members[m++]] = b;
    }
}

static bool leaf_hall(struct route *rt, struct search *s, const int64_t *cbus)
{
    return hall(rt, s->dd, cbus, NULL);
}

/*
 * Names the bus subset that shows a failure cannot be survived: the one
 * whose demand exceeds all the capacity that could reach it with instant
 * re-routing. (Without such a subset the PSUs just do not divide well; then
 * the subset short with the current positions is named.)
 */
static void explain_bound(const struct route *rt, const struct unit *u, int nu, uint32_t A,
                          const int64_t *dd, const int64_t *cbus, struct route_why *why)
{
    int64_t worst = 0;
    for (uint32_t x = 1; x < rt->nsub; x++) {
        int64_t reach = 0;
        for (int k = 0; k < nu; k++) {
            bool in =
                u[k].fast ? (u[k].wired & A & x) != 0 : u[k].pos >= 0 && (A & x & (1u << u[k].pos));
            if (in)
                reach += u[k].cap * u[k].n;
        }
        if (dd[x] - reach > worst) {
            worst = dd[x] - reach;
            why->buses = x;
            why->demand_mw = dd[x];
            why->capacity_mw = reach;
        }
    }
    if (worst == 0)
        hall(rt, dd, cbus, why);
}

/* Survives one failure: fu (nu units) and A are the rack after it. Unless
 * keep_all, servers that nothing in fu could reach are left out. */
/* rt->fu = u with feed f's units gone; false when f has none among them. */
static bool without_feed(struct route *rt, const struct unit *u, int nu, int f)
{
    bool changes = false;
    for (int k = 0; k < nu; k++) {
        rt->fu[k] = u[k];
        if (u[k].feed == f && u[k].n > 0) {
            rt->fu[k].n = 0;
            changes = true;
        }
    }
    return changes;
}

static bool survives(struct route *rt, const struct unit *fu, int nu, uint32_t A,
                     const int64_t *demand, bool keep_all, struct route_why *why, bool *lost)
{
    uint32_t useful = 0;
    for (int k = 0; k < nu; k++)
        if (fu[k].n > 0)
            useful |= fu[k].wired;
    useful &= A;
    if (keep_all)
        useful = UINT32_MAX;
    struct search *s = &rt->inner;
    /* failures of one protection check mostly share live buses and reach:
     * the demand per subset is then the same */
    if (!rt->dd_valid || rt->dd_A != A || rt->dd_useful != useful) {
        rt->dd_lost = false;
        demand_subsets(rt, demand, A, useful, rt->dd_cache, &rt->dd_lost, &rt->dd_lost_wired);
        rt->dd_valid = true;
        rt->dd_A = A;
        rt->dd_useful = useful;
    }
    if (lost && rt->dd_lost)
        *lost = true;
    s->dd = rt->dd_cache;
    int64_t cbus[RACK_MAX_BUSES];
    capacity_of(fu, nu, A, cbus);
    if (hall(rt, s->dd, cbus, NULL))
        return true;
    search_setup(rt, s, fu, nu, A, MOVE_FAST);
    s->leaf = leaf_hall;
    if (search_run(rt, s, -1))
        return true;
    if (why)
        explain_bound(rt, fu, nu, A, s->dd, cbus, why);
    return false;
}

/* After survives(): names the failure just checked when it left some drawing
 * server nothing at all, if none was named yet (route_protected's lw). */
static void note_lost(struct route *rt, enum route_failure_kind kind, int index)
{
    if (!rt->lw || rt->lw->failure != ROUTE_FAIL_NONE || !rt->dd_valid || !rt->dd_lost)
        return;
    rt->lw->failure = kind;
    rt->lw->index = index;
    rt->lw->wired = rt->dd_lost_wired;
    rt->lw->unknown_gone = rt->lw_unknown_gone;
}

/* Units u without their unknown PSUs, in rt->ku; NULL when none is unknown. */
static const struct unit *known_units(struct route *rt, const struct unit *u, int nu)
{
    bool any = false;
    for (int k = 0; k < nu; k++) {
        rt->ku[k] = u[k];
        if (u[k].unknown && u[k].n > 0) {
            rt->ku[k].n = 0;
            any = true;
        }
    }
    return any ? rt->ku : NULL;
}

/*
 * Protection of the units u: every failure of the set survived after the
 * instant re-routing of fast switches. n+1: each PSU alone (one per unit:
 * its members are alike). n+n: each feed, each bus (a PSU alone is a subset
 * of its feed; once a feed is down, losing the other cannot be survived and
 * only shows as redundancy lost).
 */
static bool protected_set(struct route *rt, const struct unit *u, int nu, const int64_t *demand,
                          struct route_why *why, bool *lost)
{
    rt->dd_valid = false; /* the demand may have changed since the last check */
    bool all = true;
    struct route_why w = {0};
    if (rt->prot == RACK_PROT_NONE)
        return true;
    if (rt->prot == RACK_PROT_N1) {
        memcpy(rt->fu, u, (size_t)nu * sizeof(*u));
        for (int k = 0; k < nu; k++) {
            if (u[k].n <= 0 || u[k].reserve)
                continue;
            rt->fu[k].n--;
            bool yes =
                survives(rt, rt->fu, nu, rt->alive_buses, demand, false, why ? &w : NULL, lost);
            rt->fu[k].n++;
            note_lost(rt, ROUTE_FAIL_PSU, u[k].first >= 0 ? rt->members[u[k].first] : -1);
            if (yes)
                continue;
            if (why && all) {
                *why = w;
                why->failure = ROUTE_FAIL_PSU;
                why->index = u[k].first >= 0 ? rt->members[u[k].first] : -1;
            }
            all = false;
            if (!lost)
                return false;
        }
        return all;
    }
    for (int f = 0; f < rt->nfeeds; f++) {
        if (!without_feed(rt, u, nu, f))
            continue;
        bool yes = survives(rt, rt->fu, nu, rt->alive_buses, demand, false, why ? &w : NULL, lost);
        note_lost(rt, ROUTE_FAIL_FEED, f);
        if (yes)
            continue;
        if (why && all) {
            *why = w;
            why->failure = ROUTE_FAIL_FEED;
            why->index = f;
        }
        all = false;
        if (!lost)
            return false;
    }
    for (int b = 0; b < rt->nb; b++) {
        if (!(rt->alive_buses & (1u << b)))
            continue;
        bool yes =
            survives(rt, u, nu, rt->alive_buses & ~(1u << b), demand, false, why ? &w : NULL, lost);
        note_lost(rt, ROUTE_FAIL_BUS, b);
        if (yes)
            continue;
        if (why && all) {
            *why = w;
            why->failure = ROUTE_FAIL_BUS;
            why->index = b;
        }
        all = false;
        if (!lost)
            return false;
    }
    return all;
}

/*
 * Protection, unless trust, without counting the unknown PSUs: protected
 * counting them (so what admits never asks more of the rack than what sheds),
 * and every drawing server served without them (none left out: they may
 * well be alive, so this is no failure beyond the policy's reach), and each
 * failure of the set survived without them too.
 */
static bool protected_units(struct route *rt, const struct unit *u, int nu, const int64_t *demand,
                            bool trust, struct route_why *why, bool *lost)
{
    bool all = protected_set(rt, u, nu, demand, why, lost);
    const struct unit *ku = trust ? NULL : known_units(rt, u, nu);
    if (!trust && !ku && rt->offset) /* no unknown unit, but server batteries carry some */
        for (uint32_t m = 0; m < rt->nsub && !ku; m++)
            if (rt->offset[m] > 0)
                ku = u;
    if (!ku || (!all && !lost))
        return all;
    struct route_why w = {0};
    struct route_why *wp = why && all ? &w : NULL; /* the first failure is the one told */
    /* without the unknown: without what server batteries carry, too */
    rt->no_offset = rt->offset != NULL;
    rt->dd_valid = false;
    bool served = survives(rt, ku, nu, rt->alive_buses, demand, true, wp, NULL);
    if (!served) {
        if (wp) {
            *why = w;
            why->failure = ROUTE_FAIL_UNKNOWN;
            why->index = -1;
            why->unknown_gone = true;
            wp = NULL;
        }
        all = false;
        if (!lost) {
            rt->no_offset = false;
            rt->dd_valid = false;
            return false;
        }
    }
    rt->lw_unknown_gone = true;
    bool known_all = protected_set(rt, ku, nu, demand, wp, lost);
    rt->lw_unknown_gone = false;
    rt->no_offset = false;
    rt->dd_valid = false;
    if (!known_all) {
        if (wp) {
            *why = w;
            why->unknown_gone = true;
        }
        all = false;
    }
    return all;
}

bool route_feasible(struct route *rt, const int64_t *demand, struct route_why *why)
{
    int64_t dd[ROUTE_NMASKS], cbus[RACK_MAX_BUSES];
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, dd, NULL, NULL);
    capacity_of(rt->u, rt->nu, rt->alive_buses, cbus);
    if (why)
        why->failure = ROUTE_FAIL_NONE;
    return hall(rt, dd, cbus, why);
}

bool route_protected(struct route *rt, const int64_t *demand, bool trust_unknown,
                     struct route_why *why, bool *lost, struct route_lost *lw)
{
    if (lost)
        *lost = false;
    if (lw)
        *lw = (struct route_lost){.failure = ROUTE_FAIL_NONE, .index = -1};
    rt->lw = lost ? lw : NULL;
    rt->lw_unknown_gone = false;
    bool yes = protected_units(rt, rt->u, rt->nu, demand, trust_unknown, why, lost);
    rt->lw = NULL;
    return yes;
}

/* Feasible with the fast PSUs of u free and the others where they are? */
static bool feasible_with_fast(struct route *rt, const struct unit *u, int nu,
                               const int64_t *demand)
{
    struct search *s = &rt->inner;
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->own_dd, NULL, NULL);
    s->dd = s->own_dd;
    search_setup(rt, s, u, nu, rt->alive_buses, MOVE_FAST);
    s->leaf = leaf_hall;
    return search_run(rt, s, -1);
}

static bool leaf_slow_then_fast(struct route *rt, struct search *s, const int64_t *cbus)
{
    (void)cbus;
    leaf_units(rt, s);
    return protected_units(rt, rt->du, rt->ndu, rt->demand, rt->trust, NULL, NULL) &&
           feasible_with_fast(rt, rt->du, rt->ndu, rt->demand);
}

bool route_ok(struct route *rt, const int64_t *demand, enum route_need need)
{
    bool protect = need != ROUTE_NEED_SERVE;
    rt->trust = need == ROUTE_NEED_PROTECT_TRUSTING;
    if (route_feasible(rt, demand, NULL) &&
        (!protect || protected_units(rt, rt->u, rt->nu, demand, rt->trust, NULL, NULL)))
        return true;
    struct search *s = &rt->outer;
    rt->demand = demand;
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->own_dd, NULL, NULL);
    s->dd = s->own_dd;
    if (!protect) {
        search_setup(rt, s, rt->u, rt->nu, rt->alive_buses, MOVE_ALL);
        s->leaf = leaf_hall;
        return search_run(rt, s, -1);
    }
    /* Protection depends only on where the slow PSUs sit: fast ones re-route
     * within the hold-up time wherever they start. */
    memset(s->own_dd, 0, rt->nsub * sizeof(*s->own_dd)); /* no pruning on the slow level */
    search_setup(rt, s, rt->u, rt->nu, rt->alive_buses, MOVE_SLOW);
    s->leaf = leaf_slow_then_fast;
    return search_run(rt, s, -1);
}

static int route_best_moves(struct route *rt, const int64_t *demand, enum route_need need,
                            int *pos);

static bool leaf_best(struct route *rt, struct search *s, const int64_t *cbus)
{
    if (!hall(rt, s->dd, cbus, NULL))
        return false;
    if (!rt->protect)
        return true;
    leaf_units(rt, s);
    return protected_units(rt, rt->du, rt->ndu, rt->demand, rt->trust, NULL, NULL);
}

/*
 * The slack of units u under one failure (fu, live buses A): for every bus
 * subset X, what could reach X within the hold-up time (fast PSUs on any live
 * bus they are wired to, slow ones where they stand) less the demand that
 * must be served inside X (servers no PSU could reach after it left out, as
 * protection leaves them out); the least of these. Negative: a deficit. A
 * bound (fast PSUs counted wherever they could go), so it does not depend on
 * where the fast PSUs stand.
 */
static int64_t slack_under(struct route *rt, const struct unit *fu, int nu, uint32_t A)
{
    uint32_t useful = 0;
    for (int k = 0; k < nu; k++)
        if (fu[k].n > 0)
            useful |= fu[k].wired;
    int64_t dd[ROUTE_NMASKS];
    demand_subsets(rt, rt->demand, A, useful & A, dd, NULL, NULL);
    int64_t least = INT64_MAX;
    for (uint32_t x = 1; x < rt->nsub; x++) {
        if (x & ~A)
            continue;
        int64_t reach = 0;
        for (int k = 0; k < nu; k++) {
            if (fu[k].n <= 0)
                continue;
            bool in = fu[k].fast ? (fu[k].wired & A & x) != 0
                                 : fu[k].pos >= 0 && (A & x & (1u << fu[k].pos));
            if (in)
                reach += fu[k].cap * fu[k].n;
        }
        if (reach - dd[x] < least)
            least = reach - dd[x];
    }
    return least;
}

/* The margin under the worst failure of the protection set, for the units
 * of the current leaf (rt->du). */
static int64_t worst_margin(struct route *rt)
{
    const struct unit *u = rt->du;
    int nu = rt->ndu;
    int64_t worst = INT64_MAX, m;
    if (rt->prot == RACK_PROT_N1) {
        memcpy(rt->fu, u, (size_t)nu * sizeof(*u));
        for (int k = 0; k < nu; k++) {
            if (u[k].n <= 0 || u[k].reserve)
                continue;
            rt->fu[k].n--;
            m = slack_under(rt, rt->fu, nu, rt->alive_buses);
            rt->fu[k].n++;
            worst = m < worst ? m : worst;
        }
        return worst;
    }
    if (rt->prot != RACK_PROT_NN)
        return worst;
    for (int f = 0; f < rt->nfeeds; f++) {
        if (!without_feed(rt, u, nu, f))
            continue;
        m = slack_under(rt, rt->fu, nu, rt->alive_buses);
        worst = m < worst ? m : worst;
    }
    for (int b = 0; b < rt->nb; b++) {
        if (!(rt->alive_buses & (1u << b)))
            continue;
        m = slack_under(rt, u, nu, rt->alive_buses & ~(1u << b));
        worst = m < worst ? m : worst;
    }
    return worst;
}

/* Margin search: every feasible leaf is scored, the best (largest margin
 * under the worst failure, then fewest moves) is kept; never stops early. */
static bool leaf_margin(struct route *rt, struct search *s, const int64_t *cbus)
{
    if (!hall(rt, s->dd, cbus, NULL))
        return false;
    if (++rt->leaves > ROUTE_MARGIN_LEAVES) {
        s->gave_up = true;
        return false;
    }
    int moves = 0;
    for (int c = 0; c < s->ncls; c++)
        for (int b = 0; b < rt->nb; b++)
            moves += s->dist[c * rt->nb + b];
    leaf_units(rt, s);
    int64_t m = worst_margin(rt);
    if (rt->best_moves < 0 || m > rt->best_margin ||
        (m == rt->best_margin && moves < rt->best_moves)) {
        rt->best_margin = m;
        rt->best_moves = moves;
        leaf_positions(rt, s, rt->best_pos);
    }
    return false;
}

int route_best(struct route *rt, const int64_t *demand, enum route_need need, int *pos)
{
    /* the margin (a bound that counts fast PSUs wherever they could go)
     * depends only on where slow PSUs stand: without a slow PSU that could
     * move, every routing has the same and the fewest moves decide */
    bool slow_moves = false;
    for (int k = 0; k < rt->nu && !slow_moves; k++)
        slow_moves = !rt->u[k].fast && (rt->u[k].wired & rt->alive_buses &
                                        ~(rt->u[k].pos >= 0 ? 1u << rt->u[k].pos : 0u));
    if (need == ROUTE_NEED_SERVE && rt->prot != RACK_PROT_NONE && slow_moves) {
        /* protection out of reach: the routing that leaves the most margin
         * under the worst failure, then the fewest moves (within a bound;
         * beyond it, the best found, else the fewest moves below) */
        struct search *s = &rt->outer;
        rt->demand = demand;
        rt->protect = false;
        demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->own_dd, NULL, NULL);
        s->dd = s->own_dd;
        search_setup(rt, s, rt->u, rt->nu, rt->alive_buses, MOVE_ALL);
        s->leaf = leaf_margin;
        rt->best_moves = -1;
        rt->leaves = 0;
        search_run(rt, s, -1);
        if (rt->best_moves >= 0) {
            memcpy(pos, rt->best_pos, (size_t)rt->np * sizeof(*pos));
            return rt->best_moves;
        }
    }
    return route_best_moves(rt, demand, need, pos);
}

/* The routing with the fewest switch operations that achieves need. */
static int route_best_moves(struct route *rt, const int64_t *demand, enum route_need need, int *pos)
{
    struct search *s = &rt->outer;
    rt->demand = demand;
    rt->protect = need != ROUTE_NEED_SERVE;
    rt->trust = need == ROUTE_NEED_PROTECT_TRUSTING;
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->own_dd, NULL, NULL);
    s->dd = s->own_dd;
    search_setup(rt, s, rt->u, rt->nu, rt->alive_buses, MOVE_ALL);
    s->leaf = leaf_best;
    long spent = 0;
    for (int k = 0; k <= s->remcount[0]; k++) {
        s->nodes = 0;
        bool found = search_run(rt, s, k);
        spent += s->nodes;
        if (found) {
            leaf_positions(rt, s, pos);
            return k;
        }
        if (s->gave_up || spent > ROUTE_BUDGET)
            break;
    }
    /* Out of budget for the fewest moves: take any routing that works. */
    s->nodes = 0;
    if (search_run(rt, s, -1)) {
        leaf_positions(rt, s, pos);
        int moves = 0;
        for (int i = 0; i < rt->np; i++)
            moves += pos[i] != rt->pos[i];
        return moves;
    }
    return -1;
}
