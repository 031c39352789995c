/*
 * policy.c - admission, overload and protection handling, restore.
 *
 * Every input ends in one settle: a plan of allocations is worked out on
 * scratch arrays (demand kept per bus mask so each check costs the same
 * whatever the number of servers), then compared with the rack to emit the
 * actions, then committed. The plan, in order:
 *   1. reduce: if the rack is not feasible (or not protected when the policy
 *      sheds for protection) under any routing, take priority groups away from
 *      the least important up; the group where taking all would be enough is
 *      capped first (evenly), then shed one server at a time (the smallest that
 *      settles it, else the largest), then its caps are relaxed; finally every
 *      server taken away comes back, most important first, if it fits alone.
 *   2. restore: once stable for restore_after, shed and capped servers come
 *      back most important first, as far as they fit. Before that (the
 *      restore wait) the same plan is made and nobody is raised: a server in
 *      the way of a held place gives it up at once.
 *   3. admit: waiting servers most important first, first come first served.
 *      While a more important shed or capped server could come back
 *      (come_back_fits), a request waits; else it is granted if the rack
 *      stays protected with it and with the held servers of its priority
 *      that could come back at full power.
 *   4. route: the routing with the fewest switch operations for the plan.
 */
#include "policy.h"
#include "route.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skey {
    uint64_t key; /* priority, then request order */
    int i;
};

struct policy {
    struct route *rt;
    int ns, np;
    int64_t demand[ROUTE_NMASKS];
    /* Battery reserves (docs/policy.md "Battery reserves"): per server what
     * its battery (or one directed to it) gives now, and per bus mask what
     * they carry of the plan (min of the two per server): no demand on the
     * buses while res_on, which the settle sets while the reserves count. */
    int64_t *batt;
    int64_t offset[ROUTE_NMASKS];
    bool res_on;
    int64_t *plan;  /* planned allocation per server, 0 when not drawing */
    int64_t *draw;  /* per server, its measured draw when above its grant, else 0:
                     * a server planned to draw counts at max(plan, draw) */
    int64_t *orig;  /* allocation a reduce starts from and gives back */
    int64_t *saved; /* scratch allocations */
    int *sorted;    /* all servers, most important first, first come first */
    bool sorted_dirty;
    int *order;     /* scratch server indices */
    bool *taken;    /* servers a reduce took away */
    bool *asked;    /* servers that asked for power in the inputs being handled */
    int *pos;       /* planned PSU positions */
    int *keep_bus;  /* scratch: the PSUs' positions while a drain is checked */
    int64_t *cur;   /* allocations before the restore plan, in the restore wait */
    int *blocker;   /* per waiting server: the held server it waits behind, or -1 */
    uint32_t reach; /* live buses some live PSU is wired to */
    struct skey *keys;
    int64_t fail_min[ROUTE_NMASKS]; /* smallest raise known not to fit, per mask */
    enum route_need need;           /* what a settle keeps: serving, or with on_loss shed
                                     * protection counting unknown PSUs (they shed nobody) */
    bool announced;
};

static const char *const action_names[] = {
    [POLICY_ACT_GRANT] = "grant",       [POLICY_ACT_WAIT] = "wait",
    [POLICY_ACT_RELEASE] = "release",   [POLICY_ACT_SWITCH] = "switch",
    [POLICY_ACT_CAP] = "cap",           [POLICY_ACT_SHED] = "shed",
    [POLICY_ACT_RESTORE] = "restore",   [POLICY_ACT_PROTECTION] = "protection",
    [POLICY_ACT_IGNORED] = "ignored",   [POLICY_ACT_STAGE] = "stage",
    [POLICY_ACT_SOFT_OFF] = "soft_off", [POLICY_ACT_STANDBY] = "standby",
    [POLICY_ACT_WAKE] = "wake",         [POLICY_ACT_SHARE] = "share",
};

const char *policy_action_name(enum policy_action_kind k)
{
    return (unsigned)k < sizeof(action_names) / sizeof(*action_names) ? action_names[k] : "?";
}

void policy_actions_clear(struct policy_actions *a)
{
    a->n = 0;
}

void policy_actions_free(struct policy_actions *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

/* Appends an action. Out of memory, the decision still stands and is applied;
 * only its report is lost (written to a spare and dropped). */
static struct policy_action *push(struct policy_actions *a, enum policy_action_kind kind)
{
    struct policy_action *x = &a->spare;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct policy_action *v = realloc(a->v, cap * sizeof(*v));
        if (v) {
            a->v = v;
            a->cap = cap;
        }
    }
    if (a->n < a->cap)
        x = &a->v[a->n++];
    else
        a->dropped++;
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->server = x->psu = x->from_bus = x->to_bus = -1;
    return x;
}

struct policy *policy_new(const struct rack *r)
{
    struct policy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    size_t ns = (size_t)(r->nservers > 0 ? r->nservers : 1);
    size_t np = (size_t)(r->npsus > 0 ? r->npsus : 1);
    p->ns = r->nservers;
    p->np = r->npsus;
    p->rt = route_new(r->npsus, r->nbuses);
    p->plan = calloc(ns, sizeof(*p->plan));
    p->batt = calloc(ns, sizeof(*p->batt));
    p->draw = calloc(ns, sizeof(*p->draw));
    p->orig = calloc(ns, sizeof(*p->orig));
    p->saved = calloc(ns, sizeof(*p->saved));
    p->sorted = calloc(ns, sizeof(*p->sorted));
    p->order = calloc(ns, sizeof(*p->order));
    p->taken = calloc(ns, sizeof(*p->taken));
    p->asked = calloc(ns, sizeof(*p->asked));
    p->pos = calloc(np, sizeof(*p->pos));
    p->keep_bus = calloc(np, sizeof(*p->keep_bus));
    p->keys = calloc(ns, sizeof(*p->keys));
    p->cur = calloc(ns, sizeof(*p->cur));
    p->blocker = calloc(ns, sizeof(*p->blocker));
    p->sorted_dirty = true;
    if (!p->rt || !p->plan || !p->batt || !p->draw || !p->orig || !p->saved || !p->sorted ||
        !p->order || !p->taken || !p->asked || !p->pos || !p->keep_bus || !p->keys || !p->cur ||
        !p->blocker) {
        policy_free(p);
        return NULL;
    }
    return p;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    route_free(p->rt);
    free(p->plan);
    free(p->batt);
    free(p->draw);
    free(p->orig);
    free(p->saved);
    free(p->sorted);
    free(p->order);
    free(p->taken);
    free(p->asked);
    free(p->pos);
    free(p->keep_bus);
    free(p->keys);
    free(p->cur);
    free(p->blocker);
    free(p);
}

/* ---- the plan ---------------------------------------------------------- */

/* What server i counts for when planned at mw: nothing when it is not to
 * draw, else mw, or more when it was measured drawing more (over-draw is
 * planned at what is really drawn, so feasibility and protection are judged
 * on it; a cap below the draw relieves nothing until a report shows it). */
static int64_t eff(const struct policy *p, int i, int64_t mw)
{
    return mw > 0 && p->draw[i] > mw ? p->draw[i] : mw;
}

/* What server i's battery carries of it when planned at mw. */
static int64_t carried(const struct policy *p, int i, int64_t mw)
{
    int64_t e = eff(p, i, mw);
    return e < p->batt[i] ? e : p->batt[i];
}

static void set_plan(struct policy *p, const struct rack *r, int i, int64_t mw)
{
    p->demand[r->servers[i].wired] += eff(p, i, mw) - eff(p, i, p->plan[i]);
    p->offset[r->servers[i].wired] += carried(p, i, mw) - carried(p, i, p->plan[i]);
    p->plan[i] = mw;
}

/* Whether the reserves count in the checks from here on. */
static void reserves_on(struct policy *p, bool on)
{
    p->res_on = on;
    route_use_reserves(p->rt, on, p->offset);
}

static bool ok(struct policy *p, enum route_need need)
{
    return route_ok(p->rt, p->demand, need);
}

/* A live PSU that serves but counts for no protection: it cannot be read, or
 * it is predicted to fail (docs/policy.md). */
static bool uncounted(const struct rack *r, const struct rack_psu *q)
{
    return (!rack_psu_known(q) || q->at_risk) && rack_psu_alive(r, q);
}

/* Some live PSU cannot be read or is predicted to fail. */
static bool has_unknown(const struct rack *r)
{
    for (int i = 0; i < r->npsus; i++)
        if (uncounted(r, &r->psus[i]))
            return true;
    return false;
}

/* Why the uncounted PSUs do not count: "cannot be read", "predicted to fail". */
static const char *uncounted_why(const struct rack *r)
{
    bool unread = false, risk = false;
    for (int i = 0; i < r->npsus; i++)
        if (uncounted(r, &r->psus[i])) {
            unread |= !rack_psu_known(&r->psus[i]);
            risk |= rack_psu_known(&r->psus[i]);
        }
    return unread && risk ? "cannot be read or predicted to fail"
           : risk         ? "predicted to fail"
                          : "cannot be read";
}

static int cmp_skey(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->i - y->i;
}

/* Keeps p->sorted: most important first, then first come first served.
 * Only a new request (a new seq) changes the order. */
static void ensure_sorted(struct policy *p, const struct rack *r)
{
    if (!p->sorted_dirty)
        return;
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        p->keys[i].key = ((uint64_t)(uint32_t)s->priority << 40) | (s->seq & ((1ull << 40) - 1));
        p->keys[i].i = i;
    }
    qsort(p->keys, (size_t)r->nservers, sizeof(*p->keys), cmp_skey);
    for (int k = 0; k < r->nservers; k++)
        p->sorted[k] = p->keys[k].i;
    p->sorted_dirty = false;
}

/* Server i just got the newest seq: it moves to the end of its priority. */
static void resort_one(struct policy *p, const struct rack *r, int i)
{
    if (p->sorted_dirty)
        return;
    int n = r->nservers, at = 0;
    while (at < n && p->sorted[at] != i)
        at++;
    if (at == n) {
        p->sorted_dirty = true;
        return;
    }
    memmove(&p->sorted[at], &p->sorted[at + 1], (size_t)(n - 1 - at) * sizeof(int));
    int lo = 0, hi = n - 1; /* first of the remaining n-1 less important than i */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (r->servers[p->sorted[mid]].priority <= r->servers[i].priority)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&p->sorted[lo + 1], &p->sorted[lo], (size_t)(n - 1 - lo) * sizeof(int));
    p->sorted[lo] = i;
}

/* Allocation reduced by level from `from`, never below min. */
static int64_t capped_at(const struct rack_server *s, int64_t from, int64_t level)
{
    int64_t a = from - level;
    return a < s->min_mw ? s->min_mw : a;
}

/* Applies the water level (in watts) to the still-drawing members of g that
 * are wired to `mask` (every member when mask is 0), each reduced from orig. */
static void apply_level(struct policy *p, const struct rack *r, const int *g, int n, uint32_t mask,
                        int64_t lvl_w)
{
    for (int k = 0; k < n; k++) {
        int i = g[k];
        if (p->plan[i] > 0 && (!mask || r->servers[i].wired == mask)) {
            int64_t mw = capped_at(&r->servers[i], p->orig[i], lvl_w * 1000);
            /* a cap below what it is measured drawing relieves nothing in
             * the plan: it is not planned (shedding, in its turn, does) */
            if (p->draw[i] > mw)
                mw = p->draw[i] < p->orig[i] ? p->draw[i] : p->orig[i];
            set_plan(p, r, i, mw);
        }
    }
}

/* Lowest level in [0, hi] (watts) that settles the rack, the members of mask
 * at that level, given hi settles it and 0 does not. */
static int64_t bisect_level(struct policy *p, const struct rack *r, const int *g, int n,
                            uint32_t mask, int64_t hi)
{
    int64_t lo = 0;
    while (hi - lo > 1) { /* lo fails, hi works */
        int64_t mid = lo + (hi - lo) / 2;
        apply_level(p, r, g, n, mask, mid);
        if (ok(p, p->need))
            hi = mid;
        else
            lo = mid;
    }
    apply_level(p, r, g, n, mask, hi);
    return hi;
}

/*
 * Caps group g evenly (one water level) as little as settles the rack, then
 * gives back, bus mask by bus mask, what members that do not relieve the
 * constraint need not give. Returns false (members at their minimum) when
 * capping alone cannot settle it.
 */
static bool cap_group(struct policy *p, const struct rack *r, const int *g, int n)
{
    int64_t top = 0;
    uint32_t masks[ROUTE_NMASKS / 32 + 1] = {0};
    for (int k = 0; k < n; k++) {
        int i = g[k];
        int64_t room = p->orig[i] - r->servers[i].min_mw;
        if (p->plan[i] > 0 && room > 0) {
            if (room > top)
                top = room;
            masks[r->servers[i].wired / 32] |= 1u << (r->servers[i].wired % 32);
        }
    }
    int64_t hi = (top + 999) / 1000;
    apply_level(p, r, g, n, 0, hi);
    if (!ok(p, p->need))
        return false;
    if (hi == 0)
        return true;
    hi = bisect_level(p, r, g, n, 0, hi);
    for (uint32_t m = 1; m < ROUTE_NMASKS; m++) {
        if (!(masks[m / 32] & (1u << (m % 32))))
            continue;
        apply_level(p, r, g, n, m, 0);
        if (ok(p, p->need))
            continue;
        bisect_level(p, r, g, n, m, hi);
    }
    return true;
}

static void reset_fail_min(struct policy *p)
{
    for (uint32_t m = 0; m < ROUTE_NMASKS; m++)
        p->fail_min[m] = INT64_MAX;
}

/* Does raising server i to `mw` fit (achieving need)? Remembers the
 * smallest raise that did not, per mask: while the plan only grows, a raise
 * that did not fit still does not. */
static bool fits(struct policy *p, const struct rack *r, int i, int64_t mw, enum route_need need)
{
    uint32_t m = r->servers[i].wired;
    int64_t before = p->plan[i];
    int64_t more = eff(p, i, mw) - eff(p, i, before); /* what the demand on m grows by */
    if (more >= p->fail_min[m])
        return false;
    set_plan(p, r, i, mw);
    bool yes = ok(p, need);
    set_plan(p, r, i, before);
    if (!yes)
        p->fail_min[m] = more;
    return yes;
}

/* Highest allocation in [lo, hi] (whole watts above lo) that fits, or 0. */
static int64_t best_fit(struct policy *p, const struct rack *r, int i, int64_t lo, int64_t hi,
                        enum route_need need)
{
    if (fits(p, r, i, hi, need))
        return hi;
    if (lo >= hi || !fits(p, r, i, lo, need))
        return 0;
    int64_t a = 0, b = (hi - lo + 999) / 1000; /* lo + a*1000 fits, lo + b*1000 does not */
    while (b - a > 1) {
        int64_t mid = a + (b - a) / 2;
        if (fits(p, r, i, lo + mid * 1000, need))
            a = mid;
        else
            b = mid;
    }
    return lo + a * 1000;
}

/* Sheds inside group g (its cappable members already at their minimum)
 * until the rack settles: the smallest member that settles it alone, else
 * the largest, again. */
static void shed_in_group(struct policy *p, const struct rack *r, const int *g, int n)
{
    while (!ok(p, p->need)) {
        int pick = -1;
        int64_t no_max[ROUTE_NMASKS]; /* largest allocation known not to settle it */
        for (uint32_t m = 0; m < ROUTE_NMASKS; m++)
            no_max[m] = 0;
        for (int k = 0; k < n; k++) {
            int i = g[k];
            int64_t a = eff(p, i, p->plan[i]); /* what shedding it takes off */
            uint32_t m = r->servers[i].wired;
            if (a == 0 || a <= no_max[m] || (pick >= 0 && a >= eff(p, pick, p->plan[pick])))
                continue;
            set_plan(p, r, i, 0);
            bool yes = ok(p, p->need);
            set_plan(p, r, i, a);
            if (yes)
                pick = i;
            else
                no_max[m] = a;
        }
        if (pick < 0)
            for (int k = 0; k < n; k++)
                if (p->plan[g[k]] > 0 &&
                    (pick < 0 || eff(p, g[k], p->plan[g[k]]) > eff(p, pick, p->plan[pick])))
                    pick = g[k];
        if (pick < 0)
            return; /* nothing left to shed here: cannot happen, the group alone settles it */
        set_plan(p, r, pick, 0);
        p->taken[pick] = true;
    }
}

/*
 * Brings the plan back to what p->need asks (feasible, or protected counting
 * the unknown PSUs when on_loss is shed), taking
 * from the least important first; p->orig holds what each server should
 * have if it could.
 */
static void reduce(struct policy *p, const struct rack *r)
{
    ensure_sorted(p, r);
    int n = 0;
    for (int k = r->nservers - 1; k >= 0; k--) { /* least important first */
        int i = p->sorted[k];
        p->taken[i] = false;
        if (p->plan[i] > 0)
            p->order[n++] = i;
    }
    int a = 0;
    while (a < n) {
        int b = a;
        while (b < n && r->servers[p->order[b]].priority == r->servers[p->order[a]].priority)
            b++;
        int *g = &p->order[a];
        int gn = b - a;
        for (int k = 0; k < gn; k++)
            set_plan(p, r, g[k], 0);
        if (!ok(p, p->need)) { /* even the whole group is not enough */
            for (int k = 0; k < gn; k++)
                p->taken[g[k]] = true;
            a = b;
            continue;
        }
        for (int k = 0; k < gn; k++)
            set_plan(p, r, g[k], p->orig[g[k]]);
        if (!cap_group(p, r, g, gn)) {
            shed_in_group(p, r, g, gn);
            cap_group(p, r, g, gn);
        }
        break;
    }
    /* Everything taken comes back, most important first, if it fits alone. */
    reset_fail_min(p);
    for (int k = 0; k < r->nservers; k++) {
        int i = p->sorted[k];
        if (!p->taken[i])
            continue;
        int64_t mw = best_fit(p, r, i, r->servers[i].min_mw, p->orig[i], p->need);
        if (mw > 0)
            set_plan(p, r, i, mw);
    }
}

/* Live buses that some live PSU is wired to: a server wired to none of them
 * can never come back as the rack stands (its buses are dead, or nothing that
 * delivers can reach them). */
static uint32_t live_reach(const struct rack *r)
{
    uint32_t alive = rack_alive_buses(r), m = 0;
    for (int i = 0; i < r->npsus; i++)
        if (rack_psu_alive(r, &r->psus[i]))
            m |= r->psus[i].wired;
    return m & alive;
}

/* Granted before (on, capped or shed), now below its full power, and on a bus
 * that something could feed: it holds a place. A server that can never come
 * back holds none. */
static bool holds_place(const struct rack *r, const struct policy *p, int i)
{
    const struct rack_server *s = &r->servers[i];
    return (rack_server_draws(s) || s->state == RACK_SRV_SHED) && p->plan[i] < s->power_mw &&
           (s->wired & p->reach);
}

/*
 * "Could come back", the one definition (docs/policy.md): with every server
 * less important than i off, i would fit at its min_w (power_w when it cannot
 * be capped) as the rack stands now, feasible and protected as a restore
 * would bring it back (p->need: unknown PSUs counted as healthy; with
 * on_protection_loss hold, feasible). upto is the plan's demand per bus mask
 * of the servers at least as important as i (i included): only they count, so
 * grants of less important ones never change the answer. The caller knows i
 * is held (shed or capped).
 */
static bool come_back_fits(struct policy *p, const struct rack *r, int i, const int64_t *upto)
{
    const struct rack_server *s = &r->servers[i];
    if (!(s->wired & p->reach))
        return false;
    int64_t d[ROUTE_NMASKS];
    memcpy(d, upto, sizeof(d));
    d[s->wired] += eff(p, i, s->min_mw > 0 ? s->min_mw : s->power_mw) - eff(p, i, p->plan[i]);
    return route_ok(p->rt, d, p->need);
}

/* Whether a held place may be raised now: not in its back-off after a loss
 * of power, not held by an outage plan (docs/outage.md). Either way it keeps
 * its place against requests (admit), not against the servers drawing in its
 * room. */
static bool may_rise(const struct rack_server *s, int64_t now)
{
    return s->back_ns <= now && !s->held;
}

/* Shed and capped servers back: all of them at full power, then, if that
 * does not settle, the same reduction as for a failure decides who stays
 * down: the least important. A server that lost power is not raised before
 * its back-off ends (it keeps its place meanwhile). */
static void restore(struct policy *p, const struct rack *r, int64_t now)
{
    bool any = false;
    for (int i = 0; i < r->nservers; i++) {
        if (holds_place(r, p, i) && may_rise(&r->servers[i], now)) {
            set_plan(p, r, i, r->servers[i].power_mw);
            any = true;
        }
        p->orig[i] = p->plan[i];
    }
    if (any && !ok(p, p->need))
        reduce(p, r);
}

/*
 * In the restore wait: nobody is raised before the rack is stable, but the
 * places are kept. Group by group, most important first, the held servers of
 * the group are put at their place (full power, or with the less important
 * servers off the most that fits, first come first served) and the servers
 * less important than the group give way as a failure would make them
 * (reduce, least important first: it never reaches the group, since the
 * place fits with them off). Each server then keeps the lower of what it has
 * and what that gives it. So when a change of health leaves a held place
 * that no longer fits, the servers in its way give it up at once, not at the
 * restore; nobody as important as a held server is cut for its place (the
 * restore decides between them). Only lowers the plan. A server in its
 * back-off after a loss of power holds its place against requests (admit)
 * but not against the servers drawing in its room: nobody is cut for it
 * before it could be restored.
 */
static bool hold_places(struct policy *p, const struct rack *r, int64_t now)
{
    bool cut = false;
    ensure_sorted(p, r);
    bool any = false;
    for (int i = 0; i < r->nservers; i++) {
        p->cur[i] = p->plan[i];
        if (holds_place(r, p, i) && may_rise(&r->servers[i], now)) {
            set_plan(p, r, i, r->servers[i].power_mw);
            any = true;
        }
    }
    bool fit = !any || ok(p, p->need);
    for (int i = 0; i < r->nservers; i++)
        if (p->plan[i] != p->cur[i])
            set_plan(p, r, i, p->cur[i]);
    if (fit) /* every place fits as things are: nobody gives way */
        return false;
    int k = 0;
    while (k < r->nservers) {
        int prio = r->servers[p->sorted[k]].priority, e = k, nh = 0;
        while (e < r->nservers && r->servers[p->sorted[e]].priority == prio)
            e++;
        for (int j = k; j < e; j++) {
            int i = p->sorted[j];
            if (holds_place(r, p, i) && may_rise(&r->servers[i], now)) {
                p->saved[i] = p->plan[i];
                p->order[nh++] = i;
                set_plan(p, r, i, r->servers[i].power_mw);
            }
        }
        if (nh == 0 || ok(p, p->need)) {
            k = e;
            continue;
        }
        /* the less important off, then each place as far as it fits */
        for (int j = e; j < r->nservers; j++) {
            int i = p->sorted[j];
            p->orig[i] = p->plan[i];
            set_plan(p, r, i, 0);
        }
        if (!ok(p, p->need)) {
            for (int h = 0; h < nh; h++)
                set_plan(p, r, p->order[h], p->saved[p->order[h]]);
            reset_fail_min(p);
            for (int h = 0; h < nh; h++) {
                int i = p->order[h];
                const struct rack_server *s = &r->servers[i];
                int64_t lo = p->saved[i] > s->min_mw ? p->saved[i] : s->min_mw;
                int64_t mw = best_fit(p, r, i, lo, s->power_mw, p->need);
                if (mw > p->plan[i])
                    set_plan(p, r, i, mw);
            }
        }
        for (int j = e; j < r->nservers; j++)
            set_plan(p, r, p->sorted[j], p->orig[p->sorted[j]]);
        for (int i = 0; i < r->nservers; i++)
            p->orig[i] = p->plan[i];
        if (!ok(p, p->need))
            reduce(p, r);
        k = e;
    }
    for (int i = 0; i < r->nservers; i++) {
        if (p->plan[i] > p->cur[i])
            set_plan(p, r, i, p->cur[i]);
        cut |= p->plan[i] < p->cur[i];
    }
    return cut;
}

/*
 * Waiting servers granted as they fit, most important first, first come
 * first served. A place is held in time as well as in watts: while a held
 * (shed or capped) server more important than a request could come back,
 * the request waits; a request as important is granted only if the rack
 * stays protected with it and with the held servers of its priority that
 * could come back at full power. A held server that could not come back
 * holds no place.
 */
static int admit(struct policy *p, const struct rack *r)
{
    int granted = 0;
    ensure_sorted(p, r);
    reset_fail_min(p);
    int last = -1; /* the last waiting server in priority order: nothing to do past it */
    for (int k = 0; k < r->nservers; k++) {
        p->blocker[p->sorted[k]] = -1;
        if (r->servers[p->sorted[k]].state == RACK_SRV_WAITING)
            last = k;
    }
    int64_t upto[ROUTE_NMASKS] = {0}; /* demand of the groups before this one */
    int blocker = -1; /* the first more important held server that could come back */
    int k = 0;
    while (k <= last) {
        int prio = r->servers[p->sorted[k]].priority, e = k;
        bool waiting = false;
        while (e < r->nservers && r->servers[p->sorted[e]].priority == prio) {
            waiting |= r->servers[p->sorted[e]].state == RACK_SRV_WAITING;
            e++;
        }
        if (blocker >= 0) { /* every request from here on waits behind it */
            for (int j = k; j < e; j++)
                if (r->servers[p->sorted[j]].state == RACK_SRV_WAITING)
                    p->blocker[p->sorted[j]] = blocker;
            k = e;
            continue;
        }
        /* places held at this priority: judged before its grants, which fit
         * with them back and so cannot change the answer */
        for (int j = k; j < e; j++)
            upto[r->servers[p->sorted[j]].wired] += eff(p, p->sorted[j], p->plan[p->sorted[j]]);
        int nh = 0;
        for (int j = k; j < e; j++) {
            int i = p->sorted[j];
            if (r->servers[i].state != RACK_SRV_WAITING && holds_place(r, p, i) &&
                come_back_fits(p, r, i, upto))
                p->order[nh++] = i;
        }
        if (waiting) {
            for (int h = 0; h < nh; h++) {
                p->saved[p->order[h]] = p->plan[p->order[h]];
                set_plan(p, r, p->order[h], r->servers[p->order[h]].power_mw);
            }
            for (int j = k; j < e; j++) {
                int w = p->sorted[j];
                if (r->servers[w].state == RACK_SRV_WAITING && p->plan[w] == 0 &&
                    !r->servers[w].held &&
                    fits(p, r, w, r->servers[w].power_mw, ROUTE_NEED_PROTECT)) {
                    set_plan(p, r, w, r->servers[w].power_mw);
                    upto[r->servers[w].wired] += eff(p, w, p->plan[w]);
                    granted++;
                }
            }
            for (int h = 0; h < nh; h++)
                set_plan(p, r, p->order[h], p->saved[p->order[h]]);
            reset_fail_min(p); /* the plan shrank */
        }
        if (nh > 0)
            blocker = p->order[0];
        k = e;
    }
    return granted;
}

/* ---- reasons ----------------------------------------------------------- */

/* Whole watts for messages (integer formatting: reasons are on the hot path). */
static long long watts(int64_t mw)
{
    return (long long)((mw + (mw >= 0 ? 500 : -500)) / 1000);
}

static void bus_names(const struct rack *r, uint32_t mask, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int b = 0; b < r->nbuses && o < len; b++)
        if (mask & (1u << b))
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "+" : "", r->buses[b]);
    if (!o)
        snprintf(buf, len, "no live bus");
}

/* "ps2", "ps2 and ps5", "ps2, ps5 and 3 more": the live PSUs that cannot be read.
 * Without such PSUs what route leaves out as unknown is the battery reserves. */
static void unknown_names(const struct rack *r, char *buf, size_t len)
{
    if (!has_unknown(r)) {
        snprintf(buf, len, "the battery reserves");
        return;
    }
    size_t o = 0;
    int n = 0, total = 0;
    buf[0] = 0;
    for (int i = 0; i < r->npsus; i++)
        total += uncounted(r, &r->psus[i]);
    for (int i = 0; i < r->npsus; i++) {
        if (!uncounted(r, &r->psus[i]))
            continue;
        if (n < 2 && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s",
                                  n == 0       ? ""
                                  : total == 2 ? " and "
                                               : ", ",
                                  r->psus[i].id);
        n++;
    }
    if (n > 2 && o < len)
        snprintf(buf + o, len - o, " and %d more", n - 2);
}

/* "app1 and web1", "app1, web1 and 2 more": the drawing servers none of
 * whose buses is alive. */
static void stranded_servers(const struct rack *r, char *buf, size_t len)
{
    uint32_t alive = rack_alive_buses(r);
    int n = 0, total = 0;
    for (int i = 0; i < r->nservers; i++)
        total += rack_server_draws(&r->servers[i]) && !(r->servers[i].wired & alive);
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < r->nservers && n < 3; i++) {
        if (!rack_server_draws(&r->servers[i]) || (r->servers[i].wired & alive))
            continue;
        n++;
        const char *sep = n == 1 ? "" : (n == total && total <= 3) ? " and " : ", ";
        if (o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", sep, r->servers[i].id);
    }
    if (total > 3 && o < len)
        snprintf(buf + o, len - o, " and %d more", total - 3);
    if (!total)
        snprintf(buf, len, "servers");
}

static void why_text(const struct rack *r, const struct route_why *w, char *buf, size_t len)
{
    char bn[96];
    bus_names(r, w->buses, bn, sizeof(bn));
    long long d = watts(w->demand_mw), c = watts(w->capacity_mw);
    const char *lvl = rack_protection_name(r->protection);
    /* after a failure: the figures, or, when nothing could reach the subset
     * within the hold-up time (only slow switches could), that */
    char fig[64];
    if (w->capacity_mw == 0)
        snprintf(fig, sizeof(fig), "nothing within the hold-up time for %lld W", d);
    else
        snprintf(fig, sizeof(fig), "%lld W for %lld W", c, d);
    switch (w->failure) {
    case ROUTE_FAIL_NONE:
        if (w->buses == 0) { /* servers whose every bus is dead */
            char who[96];
            stranded_servers(r, who, sizeof(who));
            snprintf(buf, len, "%s %s no live bus", who,
                     strchr(who, ',') || strstr(who, " and ") ? "have" : "has");
        } else if (w->capacity_mw == 0) {
            snprintf(buf, len, "overload: no PSU delivers to %s, where %lld W are granted", bn, d);
        } else {
            snprintf(buf, len, "overload: %s has %lld W for %lld W", bn, c, d);
        }
        break;
    case ROUTE_FAIL_PSU:
        snprintf(buf, len, "%s: losing %s would leave %s %s", lvl,
                 w->index >= 0 ? r->psus[w->index].id : "a psu", bn, fig);
        break;
    case ROUTE_FAIL_FEED:
        snprintf(buf, len, "%s: losing feed %s would leave %s %s", lvl, r->feeds[w->index], bn,
                 fig);
        break;
    case ROUTE_FAIL_BUS:
        snprintf(buf, len, "%s: losing bus %s would leave %s %s", lvl, r->buses[w->index], bn, fig);
        break;
    case ROUTE_FAIL_UNKNOWN: {
        char ids[96];
        unknown_names(r, ids, sizeof(ids));
        bool many = strchr(ids, ',') || strstr(ids, " and ");
        if (!has_unknown(r))
            snprintf(buf, len, "%s: on battery reserves: without them %s has %lld W for %lld W",
                     lvl, bn, c, d);
        else
            snprintf(buf, len, "%s: %s %s: without %s %s has %lld W for %lld W", lvl, ids,
                     uncounted_why(r), many ? "them" : "it", bn, c, d);
        break;
    }
    }
}

/* "db1", "db1, db2", "db1, db2 and 3 more": the drawing servers wired to
 * exactly the buses of mask. */
static void server_names(const struct rack *r, uint32_t mask, char *buf, size_t len)
{
    size_t o = 0;
    int n = 0;
    buf[0] = 0;
    for (int i = 0; i < r->nservers; i++) {
        if (r->servers[i].wired != mask || !rack_server_draws(&r->servers[i]))
            continue;
        if (n < 2 && o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", n ? ", " : "", r->servers[i].id);
        n++;
    }
    if (n > 2 && o < len)
        snprintf(buf + o, len - o, " and %d more", n - 2);
}

/*
 * Why the rack cannot be protected whatever is shed: the first failure of the
 * set that would leave some drawing servers nothing, in the operator's words,
 * e.g. "n+1 impossible: ps3 is the last PSU that reaches A+B (db1, db2)".
 */
static void lost_text(const struct rack *r, const struct route_lost *l, char *buf, size_t len)
{
    const char *lvl = rack_protection_name(r->protection);
    uint32_t live = l->wired & rack_alive_buses(r);
    char bn[96], who[96], on[96];
    bus_names(r, live, bn, sizeof(bn));
    server_names(r, l->wired, who, sizeof(who));
    switch (l->failure) {
    case ROUTE_FAIL_PSU:
        snprintf(buf, len, "%s impossible: %s is the last PSU that reaches %s (%s)", lvl,
                 l->index >= 0 ? r->psus[l->index].id : "one psu", bn, who);
        break;
    case ROUTE_FAIL_FEED:
        snprintf(buf, len, "%s impossible: every PSU that reaches %s is on feed %s (%s)", lvl, bn,
                 r->feeds[l->index], who);
        break;
    case ROUTE_FAIL_BUS:
        if ((live & ~(1u << l->index)) == 0) {
            snprintf(buf, len, "%s impossible: %s %s no live bus but %s", lvl, who,
                     strchr(who, ',') || strstr(who, " and ") ? "have" : "has", r->buses[l->index]);
        } else {
            bus_names(r, live & ~(1u << l->index), on, sizeof(on));
            snprintf(buf, len, "%s impossible: without bus %s no PSU reaches %s (%s)", lvl,
                     r->buses[l->index], on, who);
        }
        break;
    default:
        snprintf(buf, len, "%s impossible for %s", lvl, who);
        break;
    }
    if (l->unknown_gone) {
        char ids[96];
        unknown_names(r, ids, sizeof(ids));
        size_t o = strlen(buf);
        if (o < len)
            snprintf(buf + o, len - o, " (%s not counted: %s)", ids,
                     has_unknown(r) ? uncounted_why(r) : "a battery proves nothing");
    }
}

/* Why protection does not hold without the unknown PSUs: the failure, and
 * which PSUs were not counted. */
static void why_text_unknown(const struct rack *r, const struct route_why *w, char *buf, size_t len)
{
    why_text(r, w, buf, len);
    if (w->failure == ROUTE_FAIL_UNKNOWN || !w->unknown_gone)
        return;
    char ids[96];
    unknown_names(r, ids, sizeof(ids));
    size_t o = strlen(buf);
    if (o < len)
        snprintf(buf + o, len - o, " (%s not counted: %s)", ids,
                 has_unknown(r) ? uncounted_why(r) : "a battery proves nothing");
}

/* Why the demand does not settle. now: as the PSUs are switched at this
 * moment (what a re-route answers); else after the best re-routing (what
 * capping and shedding answer): overload first, then the protection gap,
 * counting the unknown PSUs when trust (what sheds), else not (what admits). */
static void explain(struct policy *p, const struct rack *r, bool now, bool trust, char *buf,
                    size_t len)
{
    struct route_why w = {0};
    bool lost;
    if (!route_feasible(p->rt, p->demand, &w) &&
        (now || !route_ok(p->rt, p->demand, ROUTE_NEED_SERVE)))
        why_text(r, &w, buf, len);
    else if (!route_protected(p->rt, p->demand, trust, &w, &lost, NULL))
        why_text_unknown(r, &w, buf, len);
    else
        snprintf(buf, len, "%s kept", rack_protection_name(r->protection));
}

static void input_text(const struct rack *r, const struct policy_input *in, char *buf, size_t len)
{
    switch (in->kind) {
    case POLICY_PSU_FAIL:
        snprintf(buf, len, "%s failed", r->psus[in->index].id);
        return;
    case POLICY_PSU_DEGRADE:
        snprintf(buf, len, "%s degraded to %lld W", r->psus[in->index].id, watts(in->watts_mw));
        return;
    case POLICY_PSU_REPAIR:
        snprintf(buf, len, "%s repaired", r->psus[in->index].id);
        return;
    case POLICY_PSU_UNKNOWN:
        snprintf(buf, len, "%s cannot be read", r->psus[in->index].id);
        return;
    case POLICY_PSU_AT_RISK:
        snprintf(buf, len, "%s predicted to fail", r->psus[in->index].id);
        return;
    case POLICY_PSU_RISK_CLEAR:
        snprintf(buf, len, "%s no longer predicted to fail", r->psus[in->index].id);
        return;
    case POLICY_BUS_FAIL:
        snprintf(buf, len, "bus %s failed", r->buses[in->index]);
        return;
    case POLICY_BUS_REPAIR:
        snprintf(buf, len, "bus %s repaired", r->buses[in->index]);
        return;
    case POLICY_FEED_FAIL:
        snprintf(buf, len, "feed %s failed", r->feeds[in->index]);
        return;
    case POLICY_FEED_REPAIR:
        snprintf(buf, len, "feed %s repaired", r->feeds[in->index]);
        return;
    case POLICY_REPORT: {
        const struct rack_server *s = &r->servers[in->index];
        int64_t grant = rack_server_draws(s) ? s->alloc_mw : 0;
        if (grant > 0 && in->watts_mw > grant)
            snprintf(buf, len, "%s draws %lld W over its %lld W grant", s->id, watts(in->watts_mw),
                     watts(grant));
        else
            snprintf(buf, len, "%s draws %lld W", s->id, watts(in->watts_mw));
        return;
    }
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
        snprintf(buf, len, "%s %s", r->servers[in->index].id, policy_input_name(in->kind));
        return;
    case POLICY_LOST_POWER:
        snprintf(buf, len, "%s lost power", r->servers[in->index].id);
        return;
    case POLICY_OUTAGE_STOP:
        snprintf(buf, len, "outage plan stops %s", r->servers[in->index].id);
        return;
    case POLICY_OUTAGE_RELEASE:
        snprintf(buf, len, "outage over for %s", r->servers[in->index].id);
        return;
    case POLICY_TICK:
        snprintf(buf, len, "rack stable for %lld s", (long long)(r->restore_after_ns / 1000000000));
        return;
    }
    snprintf(buf, len, "rack settled");
}

/* ---- settle ------------------------------------------------------------ */

static void load_plan(struct policy *p, const struct rack *r)
{
    memset(p->demand, 0, sizeof(p->demand));
    memset(p->offset, 0, sizeof(p->offset));
    bool any_batt = false;
    for (int i = 0; i < r->nservers; i++) {
        p->batt[i] = rack_reserve_server_mw(r, i);
        any_batt |= p->batt[i] > 0;
    }
    /* the reserves count while they give something (the settle turns them
     * off for what raises power) */
    reserves_on(p, any_batt || route_has_reserves(p->rt));
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        p->plan[i] = rack_server_draws(s) ? s->alloc_mw : 0;
        /* over-draw: measured above what it is granted now; a server within
         * its grant is planned at it. The draw is also what it drew when
         * last granted: a server shed for over-drawing reads 0 W while off,
         * and comes back only where its last draw when on fits, until a
         * reading while on says otherwise */
        int64_t d = s->draw_mw > s->on_draw_mw ? s->draw_mw : s->on_draw_mw;
        p->draw[i] = d > p->plan[i] ? d : 0;
        p->orig[i] = p->plan[i];
        p->demand[s->wired] += eff(p, i, p->plan[i]);
        p->offset[s->wired] += carried(p, i, p->plan[i]);
    }
}

/* What the emitters of one settle share. */
struct settle_ctx {
    struct policy *p;
    struct rack *r;
    struct policy_actions *out;
    const char *cause;
    bool trouble;                    /* the rack needed capping or shedding */
    bool lean;                       /* the servers kept lean on the battery reserves */
    bool stable;                     /* restore_after has passed since the last change */
    char why[POLICY_REASON_LEN];     /* why, after the best re-routing */
    char why_now[POLICY_REASON_LEN]; /* why, as the PSUs stood */
    int64_t cap0, cap1;              /* capacity before and after the switches */
    int64_t alloc;                   /* allocation as the actions apply */
};

static struct policy_action *emit(struct settle_ctx *c, enum policy_action_kind kind, int server,
                                  int64_t cap)
{
    struct policy_action *a = push(c->out, kind);
    a->server = server;
    a->capacity_mw = cap;
    a->allocated_mw = c->alloc;
    return a;
}

static void emit_switch(struct settle_ctx *c, int i)
{
    struct rack *r = c->r;
    struct rack_psu *q = &r->psus[i];
    struct policy_action *a = emit(c, POLICY_ACT_SWITCH, -1, c->cap0);
    a->psu = i;
    a->from_bus = q->bus;
    a->to_bus = c->p->pos[i];
    a->instant = q->switch_ns < r->holdup_ns;
    bool stranded = rack_psu_alive(r, q) && (q->bus < 0 || r->bus_failed[q->bus]);
    if (q->at_risk && a->to_bus < 0)
        snprintf(a->reason, sizeof(a->reason),
                 "%s: %s drained off bus %s before its predicted failure: %s", c->cause, q->id,
                 r->buses[q->bus],
                 r->on_predicted == RACK_PREDICTED_SHED
                     ? "it counts as failed (on_predicted_failure: shed)"
                     : "the rack keeps its protection without it");
    else if (q->at_risk && q->bus < 0)
        snprintf(a->reason, sizeof(a->reason),
                 "%s: %s, predicted to fail, back on bus %s: the rack needs it (%s)", c->cause,
                 q->id, r->buses[a->to_bus], c->why_now);
    else if (stranded)
        snprintf(a->reason, sizeof(a->reason),
                 "%s: %s delivered nothing %s%s: moved to live bus %s, %lld W back%s", c->cause,
                 q->id, q->bus < 0 ? "on no bus" : "on dead bus ",
                 q->bus < 0 ? "" : r->buses[q->bus], r->buses[a->to_bus],
                 watts(rack_psu_health_mw(q)), a->instant ? "" : " (a slow switch: not instant)");
    else
        snprintf(a->reason, sizeof(a->reason), "%s: %s; re-route", c->cause, c->why_now);
    q->bus = c->p->pos[i];
}

/* The order switches go out in (make before break): PSUs joining a bus
 * (from none, or from a dead one) first, then those moving between live
 * buses, and those leaving every bus (a drain, a failed one) last: a
 * drained PSU's load then has somewhere to go when its switch opens,
 * whatever the PSUs' order in the rack. */
static int switch_pass(const struct rack *r, const struct rack_psu *q, int to_bus)
{
    if (to_bus < 0)
        return 2;
    return q->bus < 0 || r->bus_failed[q->bus] ? 0 : 1;
}

static void emit_switches(struct settle_ctx *c)
{
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < c->r->npsus; i++)
            if (c->p->pos[i] != c->r->psus[i].bus &&
                switch_pass(c->r, &c->r->psus[i], c->p->pos[i]) == pass)
                emit_switch(c, i);
}

/* Caps and sheds, least important first. */
static void emit_reductions(struct settle_ctx *c)
{
    struct rack *r = c->r;
    for (int k = r->nservers - 1; k >= 0; k--) {
        int i = c->p->sorted[k];
        struct rack_server *s = &r->servers[i];
        int64_t was = rack_server_draws(s) ? s->alloc_mw : 0, mw = c->p->plan[i];
        if (!rack_server_draws(s) || mw >= was)
            continue;
        struct policy_action *a = emit(c, mw ? POLICY_ACT_CAP : POLICY_ACT_SHED, i, c->cap0);
        a->watts_mw = mw;
        const char *how = mw ? "capping before shedding," : "shedding lowest first,";
        if (c->trouble)
            snprintf(a->reason, sizeof(a->reason), "%s: %s; %s priority %d", c->cause, c->why, how,
                     s->priority);
        else if (c->stable)
            snprintf(a->reason, sizeof(a->reason),
                     "rack stable: making room for more important servers; %s priority %d", how,
                     s->priority);
        else
            snprintf(a->reason, sizeof(a->reason),
                     "%s: keeping the places of servers waiting to come back; %s priority %d",
                     c->cause, how, s->priority);
        c->alloc -= was - mw;
        a->allocated_mw = c->alloc;
        s->alloc_mw = mw;
        s->state = mw ? RACK_SRV_CAPPED : RACK_SRV_SHED;
        /* a cap is planned only for a server within its grant: its last
         * draw, measured under the old grant, says nothing of the new one
         * (a report after the cap does; above the cap, it is over-draw) */
        if (mw > 0 && (s->draw_mw > mw || s->on_draw_mw > mw))
            s->draw_mw = s->on_draw_mw = -1;
    }
}

/* Shed and capped servers back, most important first. */
static void emit_restores(struct settle_ctx *c)
{
    struct rack *r = c->r;
    for (int k = 0; k < r->nservers; k++) {
        int i = c->p->sorted[k];
        struct rack_server *s = &r->servers[i];
        int64_t mw = c->p->plan[i];
        bool back = (s->state == RACK_SRV_SHED && mw > 0) ||
                    (s->state == RACK_SRV_CAPPED && mw > s->alloc_mw);
        if (!back)
            continue;
        c->alloc += mw - (rack_server_draws(s) ? s->alloc_mw : 0);
        bool full = mw == s->power_mw || s->state == RACK_SRV_SHED;
        struct policy_action *a = emit(c, full ? POLICY_ACT_RESTORE : POLICY_ACT_CAP, i, c->cap1);
        a->watts_mw = mw;
        snprintf(a->reason, sizeof(a->reason), "stable for %lld s: fits at %lld W (%lld of %lld W)",
                 (long long)(r->restore_after_ns / 1000000000), watts(mw), watts(c->alloc),
                 watts(c->cap1));
        s->alloc_mw = mw;
        s->state = mw == s->power_mw ? RACK_SRV_ON : RACK_SRV_CAPPED;
    }
}

/* Grants, most important first, and why a new request must wait. */
static void emit_grants(struct settle_ctx *c)
{
    struct policy *p = c->p;
    struct rack *r = c->r;
    for (int k = 0; k < r->nservers; k++) {
        int i = p->sorted[k];
        struct rack_server *s = &r->servers[i];
        if (s->state != RACK_SRV_WAITING)
            continue;
        if (p->plan[i] > 0) {
            c->alloc += p->plan[i];
            struct policy_action *a = emit(c, POLICY_ACT_GRANT, i, c->cap1);
            a->watts_mw = p->plan[i];
            snprintf(a->reason, sizeof(a->reason), "fits with %s kept: %lld of %lld W allocated",
                     rack_protection_name(r->protection), watts(c->alloc), watts(c->cap1));
            s->alloc_mw = p->plan[i];
            s->state = RACK_SRV_ON;
        } else if (p->asked[i] && s->held) {
            struct policy_action *a = emit(c, POLICY_ACT_WAIT, i, c->cap1);
            a->watts_mw = s->power_mw;
            snprintf(a->reason, sizeof(a->reason),
                     "queued: %s was stopped by the outage plan and is held until mains is back",
                     s->id);
        } else if (p->asked[i] && c->lean) {
            struct policy_action *a = emit(c, POLICY_ACT_WAIT, i, c->cap1);
            a->watts_mw = s->power_mw;
            snprintf(a->reason, sizeof(a->reason),
                     "queued: the rack runs on its battery reserves; nothing is granted on "
                     "them");
        } else if (p->asked[i] && p->blocker[i] >= 0) {
            const struct rack_server *h = &r->servers[p->blocker[i]];
            struct policy_action *a = emit(c, POLICY_ACT_WAIT, i, c->cap1);
            a->watts_mw = s->power_mw;
            snprintf(a->reason, sizeof(a->reason),
                     "queued: %s (priority %d, %s) holds its place until it is back", h->id,
                     h->priority, rack_server_state_name(h->state));
        } else if (p->asked[i]) {
            struct policy_action *a = emit(c, POLICY_ACT_WAIT, i, c->cap1);
            a->watts_mw = s->power_mw;
            char w[POLICY_REASON_LEN];
            set_plan(p, r, i, s->power_mw);
            explain(p, r, false, false, w, sizeof(w));
            set_plan(p, r, i, 0);
            snprintf(a->reason, sizeof(a->reason), "queued: %s", w);
        }
    }
}

/* Protection as the rack now stands; an event when it changed. */
static void emit_protection(struct settle_ctx *c)
{
    struct policy *p = c->p;
    struct rack *r = c->r;
    route_load(p->rt, r);
    bool lost = false;
    struct route_why pw = {0};
    struct route_lost lw;
    bool feasible = route_feasible(p->rt, p->demand, NULL);
    /* protected for every failure that shedding could fix ... */
    bool fixable = route_protected(p->rt, p->demand, false, &pw, &lost, &lw) && feasible;
    /* ... and none that it could not: protected means every granted server
     * survives every failure of the set */
    bool prot = fixable && !lost;
    if (!p->announced || prot != r->is_protected || lost != r->redundancy_lost) {
        struct policy_action *a = emit(c, POLICY_ACT_PROTECTION, -1, c->cap1);
        a->is_protected = prot;
        a->redundancy_lost = lost;
        if (prot) {
            snprintf(a->reason, sizeof(a->reason), "%s kept", rack_protection_name(r->protection));
        } else if (fixable) {
            lost_text(r, &lw, a->reason, sizeof(a->reason));
            size_t o = strlen(a->reason);
            if (o < sizeof(a->reason))
                snprintf(a->reason + o, sizeof(a->reason) - o,
                         "; nobody is shed for a failure that shedding cannot fix");
        } else {
            why_text_unknown(r, &pw, a->reason, sizeof(a->reason));
            if (lost) {
                char lt[POLICY_REASON_LEN];
                lost_text(r, &lw, lt, sizeof(lt));
                size_t o = strlen(a->reason);
                if (o < sizeof(a->reason))
                    snprintf(a->reason + o, sizeof(a->reason) - o, "; %s", lt);
            }
            /* lost only because unknown PSUs do not count: hold, whatever
             * on_protection_loss says (the settle kept it so) */
            if (feasible && has_unknown(r) &&
                route_protected(p->rt, p->demand, true, NULL, NULL, NULL)) {
                size_t o = strlen(a->reason);
                if (o < sizeof(a->reason))
                    snprintf(a->reason + o, sizeof(a->reason) - o,
                             "; holding: no server is capped or shed for a PSU %s%s",
                             strcmp(uncounted_why(r), "predicted to fail") ? "that " : "",
                             uncounted_why(r));
            }
        }
    }
    p->announced = true;
    r->is_protected = prot;
    r->redundancy_lost = lost;
}

/* A PSU predicted to fail that still delivers: the drain takes it off its bus. */
static bool drainable(const struct rack_psu *q)
{
    return q->at_risk && rack_psu_health_mw(q) > 0;
}

/*
 * PSUs predicted to fail, with on_predicted keep (docs/policy.md "PSUs
 * predicted to fail"): off their buses, all of them, when the rack achieves
 * what rn asks without them (protection, trusting PSUs that cannot be read
 * where rn does), so that their load is on healthy PSUs before they fail.
 * The positions in p->pos and the moves, or -1: they stay where the routing
 * puts them (the rack needs them; they serve and count for no protection).
 * Never while the battery reserves carry some of the rack: in an outage every
 * PSU that delivers helps.
 */
static int drain_at_risk(struct policy *p, struct rack *r, enum route_need rn)
{
    bool any = false;
    for (int i = 0; i < r->npsus; i++)
        any |= drainable(&r->psus[i]);
    if (!any || r->on_predicted != RACK_PREDICTED_KEEP || rn == ROUTE_NEED_SERVE || p->res_on)
        return -1;
    route_skip_at_risk(p->rt, true);
    route_load(p->rt, r);
    enum route_need need = ok(p, ROUTE_NEED_PROTECT) ? ROUTE_NEED_PROTECT : rn;
    int moves = -1;
    if (need != ROUTE_NEED_SERVE && ok(p, need))
        moves = route_best(p->rt, p->demand, need, p->pos);
    for (int i = 0; moves >= 0 && i < r->npsus; i++)
        if (drainable(&r->psus[i])) {
            moves += r->psus[i].bus >= 0;
            p->pos[i] = -1;
        }
    route_skip_at_risk(p->rt, false);
    if (moves >= 0) {
        /* Where they are drained to, the rack as it is, with the PSUs that
         * do not count not counted (a drained PSU is no spare to switch in,
         * and a server that only it could reach is not left out of the
         * failures): protected, nobody with a failure it cannot survive.
         * Else they stay: a drain never makes protection worse. */
        for (int i = 0; i < r->npsus; i++) {
            p->keep_bus[i] = r->psus[i].bus;
            r->psus[i].bus = p->pos[i];
        }
        route_load(p->rt, r);
        bool lost = false;
        if (!route_protected(p->rt, p->demand, false, NULL, &lost, NULL) || lost)
            moves = -1;
        for (int i = 0; i < r->npsus; i++)
            r->psus[i].bus = p->keep_bus[i];
    }
    route_load(p->rt, r);
    return moves;
}

/* Works out the plan (reduce, restore, admit, route), then applies it to the
 * rack action by action. */
static void settle(struct policy *p, struct rack *r, int64_t now, const char *cause,
                   struct policy_actions *out)
{
    struct settle_ctx c = {.p = p, .r = r, .out = out, .cause = cause};
    p->need = r->on_loss == RACK_ON_LOSS_SHED ? ROUTE_NEED_PROTECT_TRUSTING : ROUTE_NEED_SERVE;
    route_load(p->rt, r);
    load_plan(p, r);
    p->reach = live_reach(r);
    c.cap0 = rack_capacity_mw(r);
    c.alloc = rack_allocated_mw(r);

    struct route_why w0 = {0};
    if (!route_feasible(p->rt, p->demand, &w0)) /* overload where the PSUs stand now */
        why_text(r, &w0, c.why_now, sizeof(c.why_now));
    bool held = false; /* some server was shed or capped before this input */
    for (int i = 0; i < r->nservers && !held; i++)
        held = r->servers[i].state == RACK_SRV_SHED || r->servers[i].state == RACK_SRV_CAPPED;
    c.trouble = !ok(p, p->need);
    if (c.trouble) {
        explain(p, r, false, true, c.why, sizeof(c.why));
        reduce(p, r);
    }
    /* Raising power never leans on a battery (docs/policy.md "Battery
     * reserves"): while the servers kept need the reserves, nobody is raised
     * (restored, put back in a held place, granted); otherwise every raise is
     * judged on the PSUs alone. */
    bool res = p->res_on;
    if (res) {
        reserves_on(p, false);
        c.lean = !ok(p, p->need);
    }
    c.stable = r->last_change_ns == INT64_MIN || now - r->last_change_ns >= r->restore_after_ns;
    if (c.lean) {
        if (c.stable)
            r->restore_done_ns = r->last_change_ns; /* this pass raised nobody, by rule */
    } else if (c.stable) {
        restore(p, r, now);
        r->restore_done_ns = r->last_change_ns;
    } else if (held) {
        /* places held before this input: a change may have left one short.
         * (Servers the reduce above just cut are in strict order already.) */
        hold_places(p, r, now);
    }
    for (int i = 0; i < r->nservers; i++) /* back-offs this pass considered */
        if (r->servers[i].back_ns <= now)
            r->servers[i].back_ns = 0;
    /* In the wait, a more important grant may take room a place needs; the
     * servers then cut may leave room for a request that waited: admit again.
     * Each round grants someone, so it ends. */
    while (!c.lean && admit(p, r) > 0 && !c.stable && hold_places(p, r, now))
        ;
    if (res)
        reserves_on(p, true); /* what is kept is routed with them */

    /* route for protection if the plan can have it; else, when unknown PSUs
     * are all that stands in the way, as if they were healthy */
    enum route_need rn = ok(p, ROUTE_NEED_PROTECT) ? ROUTE_NEED_PROTECT : p->need;
    if (rn == ROUTE_NEED_SERVE && has_unknown(r) && ok(p, ROUTE_NEED_PROTECT_TRUSTING))
        rn = ROUTE_NEED_PROTECT_TRUSTING;
    int moves = drain_at_risk(p, r, rn);
    if (moves < 0)
        moves = route_best(p->rt, p->demand, rn, p->pos);
    if (moves < 0 && rn != ROUTE_NEED_SERVE)
        moves = route_best(p->rt, p->demand, ROUTE_NEED_SERVE, p->pos);
    if (moves < 0) { /* search gave up: stay where we are, but strand nothing */
        uint32_t alive = rack_alive_buses(r);
        for (int i = 0; i < r->npsus; i++) {
            const struct rack_psu *q = &r->psus[i];
            p->pos[i] = q->bus;
            if (rack_psu_alive(r, q) && (q->bus < 0 || !(alive & (1u << q->bus))) &&
                (q->wired & alive)) {
                p->pos[i] = __builtin_ctz(q->wired & alive);
                moves = 1;
            }
        }
    }
    if (r->on_predicted == RACK_PREDICTED_SHED) /* counted as failed: off their buses */
        for (int i = 0; i < r->npsus; i++)
            if (drainable(&r->psus[i]) && p->pos[i] >= 0) {
                moves += (r->psus[i].bus >= 0) - (p->pos[i] != r->psus[i].bus);
                p->pos[i] = -1;
            }
    /* why the PSUs move: the overload where they stand, else the failure
     * that was settled, else what the new plan needs of them */
    if (moves > 0 && !c.why_now[0]) {
        if (c.trouble)
            snprintf(c.why_now, sizeof(c.why_now), "%s", c.why);
        else
            explain(p, r, true, false, c.why_now, sizeof(c.why_now));
    }

    ensure_sorted(p, r);
    emit_switches(&c);
    c.cap1 = rack_capacity_mw(r);
    emit_reductions(&c);
    emit_restores(&c);
    size_t g0 = out->n;
    emit_grants(&c);
    emit_protection(&c);
    /* a grant does not claim what the rack cannot have: with redundancy
     * lost it fits every failure shedding could fix, not every failure */
    for (size_t k = g0; r->redundancy_lost && k < out->n; k++)
        if (out->v[k].kind == POLICY_ACT_GRANT)
            snprintf(out->v[k].reason, sizeof(out->v[k].reason),
                     "fits with %s kept where shedding can keep it (redundancy lost): %lld of "
                     "%lld W allocated",
                     rack_protection_name(r->protection), watts(out->v[k].allocated_mw),
                     watts(out->v[k].capacity_mw));
}

void policy_settle(struct policy *p, struct rack *r, int64_t now_ns, struct policy_actions *out)
{
    p->sorted_dirty = true; /* the rack may have been edited or reloaded */
    settle(p, r, now_ns, "rack settled", out);
    memset(p->asked, 0, (size_t)r->nservers * sizeof(*p->asked));
}

void policy_reask_waiting(struct policy *p, const struct rack *r)
{
    for (int i = 0; i < r->nservers; i++)
        if (r->servers[i].state == RACK_SRV_WAITING)
            p->asked[i] = true;
}

static void ignored(struct policy_actions *out, int server, const char *id, const char *what)
{
    struct policy_action *a = push(out, POLICY_ACT_IGNORED);
    a->server = server;
    snprintf(a->reason, sizeof(a->reason), "%s %s", id, what);
}

/* Server inputs: returns false when nothing changed. */
static bool server_input(struct rack *r, const struct policy_input *in, struct policy_actions *out)
{
    struct rack_server *s = &r->servers[in->index];
    if (in->kind == POLICY_POWER_ON) {
        if (s->state != RACK_SRV_OFF) {
            ignored(out, in->index, s->id, "already asked for power");
            return false;
        }
        s->state = RACK_SRV_WAITING;
        s->seq = r->next_seq++;
        return true;
    }
    if (s->state == RACK_SRV_OFF) {
        ignored(out, in->index, s->id, "is already off");
        return false;
    }
    struct policy_action *a = push(out, POLICY_ACT_RELEASE);
    a->server = in->index;
    a->watts_mw = rack_server_draws(s) ? s->alloc_mw : 0;
    a->capacity_mw = rack_capacity_mw(r);
    a->allocated_mw = rack_allocated_mw(r) - a->watts_mw;
    const char *how = in->kind == POLICY_REMOVE      ? "removed: its chassis reports it gone"
                      : s->state == RACK_SRV_WAITING ? "request withdrawn"
                      : s->state == RACK_SRV_SHED    ? "powered off while shed"
                                                     : "orderly power-off";
    snprintf(a->reason, sizeof(a->reason), "%s", how);
    s->state = RACK_SRV_OFF;
    s->alloc_mw = 0;
    s->back_ns = 0;
    s->on_draw_mw = -1; /* a new request is a new request */
    if (in->kind == POLICY_REMOVE)
        s->draw_mw = -1;
    return true;
}

int64_t policy_loss_backoff_ns(int64_t restore_after_ns, int n)
{
    int64_t base = restore_after_ns > POLICY_LOSS_BACKOFF_MIN_NS ? restore_after_ns
                                                                 : POLICY_LOSS_BACKOFF_MIN_NS;
    int64_t b = base;
    for (int k = 1; k < n && b < INT64_MAX / 2 && b * 2 <= base * POLICY_LOSS_BACKOFF_MAX; k++)
        b *= 2;
    return b;
}

/*
 * A granted server lost power without a decision (brown-out, breaker,
 * cable). It is shed as if the controller had shed it: it holds its place,
 * and comes back by the restore, not before its back-off, which doubles for
 * each loss in a row (a server that powers itself on again after a loss and
 * browns out again must not loop). Returns false when it drew nothing.
 */
static bool lost_power(struct rack *r, const struct policy_input *in, int64_t now,
                       struct policy_actions *out)
{
    struct rack_server *s = &r->servers[in->index];
    if (!rack_server_draws(s)) {
        ignored(out, in->index, s->id, "lost power while not granted: nothing to take back");
        return false;
    }
    bool in_a_row =
        s->losses > 0 && now - s->lost_ns < policy_loss_backoff_ns(r->restore_after_ns, s->losses) +
                                                POLICY_LOSS_WINDOW_NS;
    s->losses = in_a_row ? s->losses + 1 : 1;
    s->lost_ns = now;
    int64_t back = policy_loss_backoff_ns(r->restore_after_ns, s->losses);
    s->back_ns = now + back;
    if (s->back_ns == 0) /* 0 means none */
        s->back_ns = 1;
    struct policy_action *a = push(out, POLICY_ACT_SHED);
    a->server = in->index;
    a->watts_mw = 0;
    a->capacity_mw = rack_capacity_mw(r);
    a->allocated_mw = rack_allocated_mw(r) - s->alloc_mw;
    snprintf(a->reason, sizeof(a->reason),
             "%s lost power without a decision (brown-out, breaker or cable): kept off, not "
             "restored for %lld s (loss %d in a row); priority %d",
             s->id, (long long)(back / 1000000000), s->losses, s->priority);
    s->state = RACK_SRV_SHED;
    s->alloc_mw = 0;
    return true;
}

/*
 * An outage plan stops a server (docs/outage.md): a drawing one is shed, its
 * power cut like any shed; whatever its state it is held: it keeps its place
 * and is neither restored nor granted until POLICY_OUTAGE_RELEASE. Returns
 * whether anything changed.
 */
static bool outage_stop(struct rack *r, const struct policy_input *in, struct policy_actions *out)
{
    struct rack_server *s = &r->servers[in->index];
    if (!rack_server_draws(s)) {
        bool was = s->held;
        s->held = true;
        ignored(out, in->index, s->id,
                was                         ? "is already held by the outage plan"
                : s->state == RACK_SRV_SHED ? "is already shed: held by the outage plan now"
                                            : "draws nothing: held by the outage plan, a "
                                              "request waits until mains is back");
        return !was;
    }
    struct policy_action *a = push(out, POLICY_ACT_SHED);
    a->server = in->index;
    a->watts_mw = 0;
    a->capacity_mw = rack_capacity_mw(r);
    a->allocated_mw = rack_allocated_mw(r) - s->alloc_mw;
    snprintf(a->reason, sizeof(a->reason),
             "outage plan: %s stopped (held until mains is back); priority %d, %lld W", s->id,
             s->priority, (long long)(s->alloc_mw / 1000));
    s->state = RACK_SRV_SHED;
    s->alloc_mw = 0;
    s->held = true;
    return true;
}

/* The outage is over for a held server: no back-off (the caller waited for
 * mains to be stable, outage_may_release), and the restore rules bring it
 * back, most important first. */
static bool outage_release(struct rack *r, const struct policy_input *in,
                           struct policy_actions *out)
{
    struct rack_server *s = &r->servers[in->index];
    if (!s->held) {
        ignored(out, in->index, s->id, "is not held by an outage plan");
        return false;
    }
    s->held = false;
    s->back_ns = 0;
    return true;
}

/*
 * A measured draw (claim 26). A server that draws more than its grant is
 * planned at its draw; a report that lowers it again brings the plan back
 * down with it, never below the grant (what the server may draw anyway), so
 * the room it frees was never granted to anyone. A rise of what the rack must
 * carry restarts the restore clock like a change of health: nobody comes
 * back on room that an over-draw has just shown to be unsafe. Returns
 * whether what the server counts for changed (then the rack settles).
 */
/* What a server's measurements make it count for, at least floor (as
 * load_plan plans it). */
static int64_t counted_mw(const struct rack_server *s, int64_t floor)
{
    int64_t d = s->draw_mw > s->on_draw_mw ? s->draw_mw : s->on_draw_mw;
    return d > floor ? d : floor;
}

static bool report(struct rack *r, const struct policy_input *in, int64_t now)
{
    struct rack_server *s = &r->servers[in->index];
    int64_t grant = rack_server_draws(s) ? s->alloc_mw : 0;
    int64_t was = s->draw_mw > grant && grant > 0 ? s->draw_mw : grant;
    int64_t now_mw = in->watts_mw > grant && grant > 0 ? in->watts_mw : grant;
    /* the least it could be planned at: its grant while it draws, its min_w
     * while it waits or is held (what it counts for when granted or back) */
    int64_t floor = grant > 0 ? grant : s->state == RACK_SRV_OFF ? INT64_MAX : s->min_mw;
    int64_t before = counted_mw(s, floor);
    s->draw_mw = in->watts_mw;
    /* 0 W is a server that is off whatever its grant says (a loss of power
     * the policy hears of next): it says nothing of what it draws when on */
    if (grant > 0 && in->watts_mw > 0)
        s->on_draw_mw = in->watts_mw;
    if (now_mw > was)
        r->last_change_ns = now;
    return counted_mw(s, floor) != before;
}

/* Health inputs: returns false when nothing changed. */
static bool health_input(struct rack *r, const struct policy_input *in, int64_t now)
{
    bool changed = true;
    switch (in->kind) {
    case POLICY_PSU_FAIL:
        changed = r->psus[in->index].health != RACK_PSU_FAILED;
        r->psus[in->index].health = RACK_PSU_FAILED;
        break;
    case POLICY_PSU_DEGRADE:
        r->psus[in->index].health =
            in->watts_mw >= r->psus[in->index].rated_mw ? RACK_PSU_OK : RACK_PSU_DEGRADED;
        r->psus[in->index].derated_mw = in->watts_mw;
        break;
    case POLICY_PSU_REPAIR:
        changed = r->psus[in->index].health != RACK_PSU_OK;
        if (r->psus[in->index].health == RACK_PSU_FAILED)
            r->psus[in->index].at_risk = false; /* back from a failure: a new prediction */
        r->psus[in->index].health = RACK_PSU_OK;
        r->psus[in->index].derated_mw = r->psus[in->index].rated_mw;
        break;
    case POLICY_PSU_UNKNOWN: {
        /* It keeps serving what it served when last read; a failed PSU was
         * last read failed and stays so (only a reading brings it back). */
        struct rack_psu *q = &r->psus[in->index];
        changed = q->health == RACK_PSU_OK || q->health == RACK_PSU_DEGRADED;
        if (changed) {
            q->derated_mw = rack_psu_health_mw(q);
            q->health = RACK_PSU_UNKNOWN;
        }
        break;
    }
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
        changed = r->psus[in->index].at_risk != (in->kind == POLICY_PSU_AT_RISK);
        r->psus[in->index].at_risk = in->kind == POLICY_PSU_AT_RISK;
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        changed = r->bus_failed[in->index] != (in->kind == POLICY_BUS_FAIL);
        r->bus_failed[in->index] = in->kind == POLICY_BUS_FAIL;
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        changed = r->feed_failed[in->index] != (in->kind == POLICY_FEED_FAIL);
        r->feed_failed[in->index] = in->kind == POLICY_FEED_FAIL;
        break;
    default:
        return false;
    }
    if (changed)
        r->last_change_ns = now;
    return changed;
}

int policy_handle_many(struct policy *p, struct rack *r, const struct policy_input *in, size_t n,
                       int64_t now_ns, struct policy_actions *out, char *err, size_t errlen)
{
    if (r->nservers != p->ns || r->npsus != p->np) {
        snprintf(err, errlen, "policy was made for another rack shape");
        return -1;
    }
    for (size_t k = 0; k < n; k++)
        if (policy_input_check(r, &in[k], err, errlen))
            return -1;
    char cause[POLICY_REASON_LEN] = "";
    size_t len = 0;
    bool changed = false;
    for (size_t k = 0; k < n; k++) {
        if (k < 3) {
            char one[POLICY_REASON_LEN];
            input_text(r, &in[k], one, sizeof(one));
            len += (size_t)snprintf(cause + len, sizeof(cause) - len, "%s%s", k ? ", " : "", one);
        } else if (k == 3) {
            snprintf(cause + len, sizeof(cause) - len, " and %zu more", n - 3);
            len = sizeof(cause) - 1;
        }
        switch (in[k].kind) {
        case POLICY_POWER_ON:
        case POLICY_POWER_OFF:
        case POLICY_REMOVE:
            if (!server_input(r, &in[k], out))
                break;
            changed = true;
            if (in[k].kind == POLICY_POWER_ON) {
                resort_one(p, r, in[k].index);
                p->asked[in[k].index] = true;
            }
            break;
        case POLICY_REPORT:
            changed |= report(r, &in[k], now_ns);
            break;
        case POLICY_LOST_POWER:
            changed |= lost_power(r, &in[k], now_ns, out);
            break;
        case POLICY_OUTAGE_STOP:
            changed |= outage_stop(r, &in[k], out);
            break;
        case POLICY_OUTAGE_RELEASE:
            changed |= outage_release(r, &in[k], out);
            break;
        case POLICY_TICK:
            changed = true;
            break;
        default:
            health_input(r, &in[k], now_ns);
            changed = true;
            break;
        }
    }
    if (changed)
        settle(p, r, now_ns, cause, out);
    memset(p->asked, 0, (size_t)r->nservers * sizeof(*p->asked));
    return 0;
}

int policy_handle(struct policy *p, struct rack *r, const struct policy_input *in, int64_t now_ns,
                  struct policy_actions *out, char *err, size_t errlen)
{
    return policy_handle_many(p, r, in, 1, now_ns, out, err, errlen);
}

int64_t policy_next_deadline(const struct rack *r)
{
    bool pending = r->last_change_ns != INT64_MIN && r->restore_done_ns != r->last_change_ns;
    int64_t stable =
        r->last_change_ns == INT64_MIN ? INT64_MIN : r->last_change_ns + r->restore_after_ns;
    int64_t t = INT64_MAX;
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        if (s->state != RACK_SRV_SHED && s->state != RACK_SRV_CAPPED)
            continue;
        if (pending && stable < t)
            t = stable;
        /* a back-off not yet considered: at its end, when its place is held
         * again (the restore wait) or it is restored (the rack is stable) */
        if (s->state == RACK_SRV_SHED && s->back_ns != 0 && s->back_ns < t)
            t = s->back_ns;
    }
    return t;
}

void policy_resort(struct policy *p)
{
    p->sorted_dirty = true;
}

bool policy_could_come_back(struct policy *p, const struct rack *r, int server)
{
    if (server < 0 || server >= r->nservers || r->nservers != p->ns || r->npsus != p->np)
        return false;
    const struct rack_server *s = &r->servers[server];
    if (s->state != RACK_SRV_SHED && s->state != RACK_SRV_CAPPED)
        return false;
    p->need = r->on_loss == RACK_ON_LOSS_SHED ? ROUTE_NEED_PROTECT_TRUSTING : ROUTE_NEED_SERVE;
    route_load(p->rt, r);
    load_plan(p, r);
    p->reach = live_reach(r);
    int64_t upto[ROUTE_NMASKS] = {0};
    for (int j = 0; j < r->nservers; j++)
        if (r->servers[j].priority <= s->priority)
            upto[r->servers[j].wired] += eff(p, j, p->plan[j]);
    return come_back_fits(p, r, server, upto);
}

void policy_check(struct policy *p, const struct rack *r, struct policy_check *out)
{
    route_load(p->rt, r);
    load_plan(p, r);
    out->feasible = route_feasible(p->rt, p->demand, NULL);
    out->is_protected =
        route_protected(p->rt, p->demand, false, NULL, &out->redundancy_lost, NULL) &&
        !out->redundancy_lost;
}
