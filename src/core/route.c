/*
 * route.c - feasibility over bus subsets, protection against the failures of
 * the protection set, and the search for re-routings.
 *
 * A search assigns classes of identical movable PSUs (same capacity, same
 * current bus, same reachable buses) to buses. It visits assignments with
 * fewer moves first when asked for the fewest switch operations, and prunes a
 * branch as soon as some bus subset could not get enough capacity even if
 * every PSU left to place went there.
 */
#include "route.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct rpsu {
    int64_t cap; /* health capacity, 0 when dead */
    uint32_t wired;
    int feed;
    bool fast; /* switch faster than the hold-up time */
};

struct cls {
    int64_t cap;
    int cur;        /* bus it delivers to when it stays, -1 for none */
    uint32_t dests; /* buses it may move to */
    int n;
    int first; /* offset into search.members */
};

struct search {
    int ncls;
    struct cls *cls;
    int *members;
    int *dist;     /* ncls x nbuses: PSUs of a class sent to each bus */
    int *remcount; /* movable PSUs in classes >= ci */
    int64_t *rsuf; /* (ncls + 1) x nsub: capacity classes >= ci could bring to X */
    int64_t base[RACK_MAX_BUSES];
    int64_t dd[ROUTE_NMASKS]; /* demand that must be served inside X */
    int exact;                /* moves required at a leaf, -1 for any */
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
    struct rpsu *p;
    int *pos;     /* current positions */
    int *tmp_pos; /* positions at an outer leaf */
    bool *palive; /* scratch: alive under the failure being checked */
    struct search outer, inner;
    /* context of the running call */
    const int64_t *demand;
    bool protect;
};

static int search_alloc(struct search *s, int np, int nb, uint32_t nsub)
{
    size_t n = (size_t)(np > 0 ? np : 1);
    s->cls = calloc(n, sizeof(*s->cls));
    s->members = calloc(n, sizeof(*s->members));
    s->dist = calloc(n * (size_t)nb, sizeof(*s->dist));
    s->remcount = calloc(n + 1, sizeof(*s->remcount));
    s->rsuf = calloc((n + 1) * nsub, sizeof(*s->rsuf));
    return (s->cls && s->members && s->dist && s->remcount && s->rsuf) ? 0 : -1;
}

static void search_free(struct search *s)
{
    free(s->cls);
    free(s->members);
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
    rt->p = calloc(n, sizeof(*rt->p));
    rt->pos = calloc(n, sizeof(*rt->pos));
    rt->tmp_pos = calloc(n, sizeof(*rt->tmp_pos));
    rt->palive = calloc(n, sizeof(*rt->palive));
    if (!rt->p || !rt->pos || !rt->tmp_pos || !rt->palive ||
        search_alloc(&rt->outer, npsus, nbuses, rt->nsub) ||
        search_alloc(&rt->inner, npsus, nbuses, rt->nsub)) {
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
    free(rt->p);
    free(rt->pos);
    free(rt->tmp_pos);
    free(rt->palive);
    free(rt);
}

void route_load(struct route *rt, const struct rack *r)
{
    rt->alive_buses = rack_alive_buses(r);
    rt->nfeeds = r->nfeeds;
    rt->prot = r->protection;
    for (int i = 0; i < rt->np; i++) {
        const struct rack_psu *q = &r->psus[i];
        rt->p[i].cap = rack_psu_alive(r, q) ? rack_psu_health_mw(q) : 0;
        rt->p[i].wired = q->wired;
        rt->p[i].feed = q->feed;
        rt->p[i].fast = q->switch_ns < r->holdup_ns;
        rt->pos[i] = q->bus;
    }
}

void route_set_positions(struct route *rt, const int *pos)
{
    memcpy(rt->pos, pos, (size_t)rt->np * sizeof(*pos));
}

/*
 * dd[X] = demand of servers that can only be served inside X, given the live
 * buses A. Servers that cannot use any bus of `useful` are left out (lost is
 * raised when one of them draws): no re-routing could reach them.
 */
static void demand_subsets(const struct route *rt, const int64_t *demand, uint32_t A,
                           uint32_t useful, int64_t *dd, bool *lost)
{
    memset(dd, 0, rt->nsub * sizeof(*dd));
    for (uint32_t m = 0; m < rt->nsub; m++) {
        if (demand[m] == 0)
            continue;
        if ((m & useful) == 0 && useful != UINT32_MAX) {
            if (lost)
                *lost = true;
            continue;
        }
        dd[m & A] += demand[m];
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

static void capacity_at(const struct route *rt, const int *pos, const bool *palive, uint32_t A,
                        int64_t *cbus)
{
    memset(cbus, 0, RACK_MAX_BUSES * sizeof(*cbus));
    for (int i = 0; i < rt->np; i++)
        if (palive[i] && pos[i] >= 0 && (A & (1u << pos[i])))
            cbus[pos[i]] += rt->p[i].cap;
}

enum movable { MOVE_FAST, MOVE_SLOW, MOVE_ALL };

static bool is_movable(const struct rpsu *p, enum movable which)
{
    switch (which) {
    case MOVE_FAST:
        return p->fast;
    case MOVE_SLOW:
        return !p->fast;
    case MOVE_ALL:
        return true;
    }
    return false;
}

/*
 * Prepares a search: PSUs alive in palive and movable by `which` become
 * classes; the others are fixed at pos and form the base capacity.
 */
static void search_setup(struct route *rt, struct search *s, const int *pos, const bool *palive,
                         uint32_t A, enum movable which)
{
    int nb = rt->nb;
    s->ncls = 0;
    memset(s->base, 0, sizeof(s->base));
    for (int i = 0; i < rt->np; i++) {
        if (!palive[i])
            continue;
        const struct rpsu *p = &rt->p[i];
        int cur = (pos[i] >= 0 && (A & (1u << pos[i]))) ? pos[i] : -1;
        uint32_t dests = p->wired & A;
        if (cur >= 0)
            dests &= ~(1u << cur);
        if (!dests || !is_movable(p, which)) {
            if (cur >= 0)
                s->base[cur] += p->cap;
            continue;
        }
        int k;
        for (k = 0; k < s->ncls; k++)
            if (s->cls[k].cap == p->cap && s->cls[k].cur == cur && s->cls[k].dests == dests)
                break;
        if (k == s->ncls)
            s->cls[s->ncls++] = (struct cls){.cap = p->cap, .cur = cur, .dests = dests};
        s->cls[k].n++;
    }
    /* members grouped by class, in psu order inside a class */
    int off = 0;
    for (int k = 0; k < s->ncls; k++) {
        s->cls[k].first = off;
        off += s->cls[k].n;
        s->cls[k].n = 0;
    }
    for (int i = 0; i < rt->np; i++) {
        if (!palive[i] || !is_movable(&rt->p[i], which))
            continue;
        const struct rpsu *p = &rt->p[i];
        int cur = (pos[i] >= 0 && (A & (1u << pos[i]))) ? pos[i] : -1;
        uint32_t dests = p->wired & A;
        if (cur >= 0)
            dests &= ~(1u << cur);
        if (!dests)
            continue;
        for (int k = 0; k < s->ncls; k++)
            if (s->cls[k].cap == p->cap && s->cls[k].cur == cur && s->cls[k].dests == dests) {
                s->members[s->cls[k].first + s->cls[k].n++] = i;
                break;
            }
    }
    /* suffix bounds for pruning */
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
    memset(s->dist, 0, (size_t)(s->ncls > 0 ? s->ncls : 1) * (size_t)nb * sizeof(int));
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

static bool rec_dest(struct route *rt, struct search *s, int ci, int b, int remaining, int64_t *cbus,
                     int moves_left)
{
    const struct cls *c = &s->cls[ci];
    while (b < rt->nb && !(c->dests & (1u << b)))
        b++;
    if (b >= rt->nb) {
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
    return rec(rt, s, 0, cbus, exact >= 0 ? exact : INT_MAX);
}

/* Positions at the current leaf of s, starting from pos. */
static void leaf_positions(const struct route *rt, const struct search *s, const int *pos, int *out)
{
    memcpy(out, pos, (size_t)rt->np * sizeof(*out));
    for (int k = 0; k < s->ncls; k++) {
        int m = s->cls[k].first;
        for (int b = 0; b < rt->nb; b++)
            for (int x = 0; x < s->dist[k * rt->nb + b]; x++)
                out[s->members[m++]] = b;
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
static void explain_bound(const struct route *rt, const int *pos, uint32_t A, const int64_t *dd,
                          const int64_t *cbus, struct route_why *why)
{
    int64_t worst = 0;
    for (uint32_t x = 1; x < rt->nsub; x++) {
        int64_t reach = 0;
        for (int i = 0; i < rt->np; i++) {
            if (!rt->palive[i])
                continue;
            bool in = rt->p[i].fast ? (rt->p[i].wired & A & x) != 0
                                    : pos[i] >= 0 && (A & x & (1u << pos[i]));
            if (in)
                reach += rt->p[i].cap;
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

/* Protection with positions pos: every failure of the set survived after the
 * instant re-routing of fast switches. */
static bool protected_at(struct route *rt, const int *pos, const int64_t *demand,
                         struct route_why *why, bool *lost)
{
    if (rt->prot == RACK_PROT_NONE)
        return true;
    int nfail = rt->np + (rt->prot == RACK_PROT_NN ? rt->nfeeds + rt->nb : 0);
    bool all = true;
    for (int f = 0; f < nfail; f++) {
        enum route_failure_kind kind;
        int idx;
        uint32_t A = rt->alive_buses;
        bool changes = false;
        for (int i = 0; i < rt->np; i++)
            rt->palive[i] = rt->p[i].cap > 0;
        if (f < rt->np) {
            kind = ROUTE_FAIL_PSU;
            idx = f;
            changes = rt->palive[idx];
            rt->palive[idx] = false;
        } else if (f < rt->np + rt->nfeeds) {
            kind = ROUTE_FAIL_FEED;
            idx = f - rt->np;
            for (int i = 0; i < rt->np; i++)
                if (rt->p[i].feed == idx && rt->palive[i]) {
                    rt->palive[i] = false;
                    changes = true;
                }
        } else {
            kind = ROUTE_FAIL_BUS;
            idx = f - rt->np - rt->nfeeds;
            changes = (A & (1u << idx)) != 0;
            A &= ~(1u << idx);
        }
        if (!changes)
            continue;
        uint32_t useful = 0;
        for (int i = 0; i < rt->np; i++)
            if (rt->palive[i])
                useful |= rt->p[i].wired;
        useful &= A;
        struct search *s = &rt->inner;
        demand_subsets(rt, demand, A, useful, s->dd, lost);
        int64_t cbus[RACK_MAX_BUSES];
        capacity_at(rt, pos, rt->palive, A, cbus);
        if (hall(rt, s->dd, cbus, NULL))
            continue;
        search_setup(rt, s, pos, rt->palive, A, MOVE_FAST);
        s->leaf = leaf_hall;
        if (search_run(rt, s, -1))
            continue;
        if (why) {
            why->failure = kind;
            why->index = idx;
            explain_bound(rt, pos, A, s->dd, cbus, why);
        }
        all = false;
        if (!lost)
            return false;
        why = NULL; /* keep the first reason, go on only to learn `lost` */
    }
    return all;
}

bool route_feasible(struct route *rt, const int64_t *demand, struct route_why *why)
{
    int64_t dd[ROUTE_NMASKS], cbus[RACK_MAX_BUSES];
    for (int i = 0; i < rt->np; i++)
        rt->palive[i] = rt->p[i].cap > 0;
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, dd, NULL);
    capacity_at(rt, rt->pos, rt->palive, rt->alive_buses, cbus);
    if (why)
        why->failure = ROUTE_FAIL_NONE;
    return hall(rt, dd, cbus, why);
}

bool route_protected(struct route *rt, const int64_t *demand, struct route_why *why, bool *lost)
{
    if (lost)
        *lost = false;
    return protected_at(rt, rt->pos, demand, why, lost);
}

/* Feasible with the fast PSUs free and the others at pos? (inner search) */
static bool feasible_with_fast(struct route *rt, const int *pos, const int64_t *demand)
{
    struct search *s = &rt->inner;
    for (int i = 0; i < rt->np; i++)
        rt->palive[i] = rt->p[i].cap > 0;
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->dd, NULL);
    search_setup(rt, s, pos, rt->palive, rt->alive_buses, MOVE_FAST);
    s->leaf = leaf_hall;
    return search_run(rt, s, -1);
}

static bool leaf_slow_then_fast(struct route *rt, struct search *s, const int64_t *cbus)
{
    (void)cbus;
    leaf_positions(rt, s, rt->pos, rt->tmp_pos);
    return protected_at(rt, rt->tmp_pos, rt->demand, NULL, NULL) &&
           feasible_with_fast(rt, rt->tmp_pos, rt->demand);
}

static void alive_now(struct route *rt)
{
    for (int i = 0; i < rt->np; i++)
        rt->palive[i] = rt->p[i].cap > 0;
}

bool route_ok(struct route *rt, const int64_t *demand, bool protect)
{
    if (route_feasible(rt, demand, NULL) &&
        (!protect || protected_at(rt, rt->pos, demand, NULL, NULL)))
        return true;
    struct search *s = &rt->outer;
    rt->demand = demand;
    alive_now(rt);
    if (!protect) {
        demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->dd, NULL);
        search_setup(rt, s, rt->pos, rt->palive, rt->alive_buses, MOVE_ALL);
        s->leaf = leaf_hall;
        return search_run(rt, s, -1);
    }
    /* Protection depends only on where the slow PSUs sit: fast ones re-route
     * within the hold-up time wherever they start. */
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->dd, NULL);
    memset(s->dd, 0, rt->nsub * sizeof(*s->dd)); /* no pruning on the slow level */
    search_setup(rt, s, rt->pos, rt->palive, rt->alive_buses, MOVE_SLOW);
    s->leaf = leaf_slow_then_fast;
    return search_run(rt, s, -1);
}

static bool leaf_best(struct route *rt, struct search *s, const int64_t *cbus)
{
    if (!hall(rt, s->dd, cbus, NULL))
        return false;
    if (!rt->protect)
        return true;
    leaf_positions(rt, s, rt->pos, rt->tmp_pos);
    return protected_at(rt, rt->tmp_pos, rt->demand, NULL, NULL);
}

int route_best(struct route *rt, const int64_t *demand, bool protect, int *pos)
{
    struct search *s = &rt->outer;
    rt->demand = demand;
    rt->protect = protect;
    alive_now(rt);
    demand_subsets(rt, demand, rt->alive_buses, UINT32_MAX, s->dd, NULL);
    search_setup(rt, s, rt->pos, rt->palive, rt->alive_buses, MOVE_ALL);
    s->leaf = leaf_best;
    long spent = 0;
    for (int k = 0; k <= s->remcount[0]; k++) {
        s->nodes = 0;
        bool found = search_run(rt, s, k);
        spent += s->nodes;
        if (found) {
            leaf_positions(rt, s, rt->pos, pos);
            return k;
        }
        if (s->gave_up || spent > ROUTE_BUDGET)
            break;
    }
    /* Out of budget for the fewest moves: take any routing that works. */
    s->nodes = 0;
    s->gave_up = false;
    if (search_run(rt, s, -1)) {
        leaf_positions(rt, s, rt->pos, pos);
        int moves = 0;
        for (int i = 0; i < rt->np; i++)
            moves += pos[i] != rt->pos[i];
        return moves;
    }
    return -1;
}
