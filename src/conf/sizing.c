/*
 * sizing.c - the sizing check of a rack file (sizing.h): sums of what PSUs
 * and servers are rated at, the single failure that leaves the least, and
 * the routing's verdict (route.h) on every server at power_w and at min_w.
 */
#include "sizing.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "outage.h"

#define SHORT_EPS_W 1e-6  /* below this a server lacks nothing */
#define UNCAPPED 1e6      /* max_w times this: what a place asks, whatever max_w is */
#define RUNTIME_CAP_S 1e9 /* a figure beyond this is shown as is, not drained further */

/* Appends id to a ", "-separated list, "..." once full. */
static void join_short(char *buf, size_t len, const char *id)
{
    size_t n = strlen(buf);
    if (n + strlen(id) + 6 < len)
        snprintf(buf + n, len - n, "%s%s", n ? ", " : "", id);
    else if (n + 4 < len && strcmp(buf + n - 3, "..."))
        snprintf(buf + n, len - n, "...");
}

/* Watts as the rack file writes them: a whole number, or its decimals. */
static double watts(int64_t mw)
{
    return (double)mw / 1000.0;
}

__attribute__((format(printf, 2, 3))) static void warn(struct sizing *s, const char *fmt, ...)
{
    if (s->nwarnings >= SIZING_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->warnings[s->nwarnings++], SIZING_WARNING_LEN, fmt, ap);
    va_end(ap);
}

/* "A+B" for a bus mask. */
static void bus_names(const struct rack *r, uint32_t mask, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int b = 0; b < r->nbuses && n < len; b++)
        if (mask >> b & 1)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "+" : "", r->buses[b]);
}

/* What the PSUs that survive the failure can deliver to a live bus. A PSU
 * wired only to the failed bus is lost with it; one wired elsewhere too can
 * be moved (a slow switch takes its time, but the capacity is there). */
static int64_t left_after(const struct rack *r, enum route_failure_kind kind, int index)
{
    uint32_t live = (1u << r->nbuses) - 1;
    if (kind == ROUTE_FAIL_BUS)
        live &= ~(1u << index);
    int64_t left = 0;
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        if ((kind == ROUTE_FAIL_PSU && i == index) || (kind == ROUTE_FAIL_FEED && p->feed == index))
            continue;
        if (p->wired & live)
            left += p->rated_mw;
    }
    return left;
}

/* Keeps the failure that leaves the least (the first of equals). */
static void consider(const struct rack *r, struct sizing_failure *worst,
                     enum route_failure_kind kind, int index)
{
    int64_t left = left_after(r, kind, index);
    if (worst->kind == ROUTE_FAIL_NONE || left < worst->left_mw)
        *worst = (struct sizing_failure){.kind = kind, .index = index, .left_mw = left};
}

static void failure_name(const struct rack *r, enum route_failure_kind kind, int index, char *buf,
                         size_t len)
{
    switch (kind) {
    case ROUTE_FAIL_PSU:
        snprintf(buf, len, "%s%s", index >= 0 ? "PSU " : "a PSU",
                 index >= 0 ? r->psus[index].id : "");
        return;
    case ROUTE_FAIL_FEED: {
        size_t n = (size_t)snprintf(buf, len, "feed %s (", r->feeds[index]);
        bool first = true;
        for (int i = 0; i < r->npsus && n < len; i++)
            if (r->psus[i].feed == index) {
                n += (size_t)snprintf(buf + n, len - n, "%s%s", first ? "" : ", ", r->psus[i].id);
                first = false;
            }
        if (n < len)
            snprintf(buf + n, len - n, ")");
        return;
    }
    case ROUTE_FAIL_BUS:
        snprintf(buf, len, "bus %s", r->buses[index]);
        return;
    case ROUTE_FAIL_UNKNOWN: /* never here: a loaded rack knows every PSU */
    case ROUTE_FAIL_NONE:
        break;
    }
    snprintf(buf, len, "no failure");
}

/* "ps3 fails: A+B need 8000 W, 7000 W can reach them" */
static void why_text(const struct rack *r, const struct route_why *w, char *buf, size_t len)
{
    char fail[96] = "", buses[RACK_MAX_BUSES * RACK_ID_LEN];
    if (w->failure != ROUTE_FAIL_NONE) {
        char name[80];
        failure_name(r, w->failure, w->index, name, sizeof(name));
        snprintf(fail, sizeof(fail), "after %s fails, ", name);
    }
    bus_names(r, w->buses, buses, sizeof(buses));
    snprintf(buf, len, "%sbus%s %s need%s %.15g W, %.15g W can feed them", fail,
             __builtin_popcount(w->buses) > 1 ? "es" : "", buses,
             __builtin_popcount(w->buses) > 1 ? "" : "s", watts(w->demand_mw),
             watts(w->capacity_mw));
}

static void sums(const struct rack *r, struct sizing *s)
{
    int64_t cap[RACK_MAX_BUSES];
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        if (p->wired)
            s->total_mw += p->rated_mw;
        s->feed_mw[p->feed] += p->rated_mw;
        for (int b = 0; b < r->nbuses; b++)
            if (p->wired >> b & 1)
                s->bus_reach_mw[b] += p->rated_mw;
    }
    /* as written: the PSUs on the bus their `bus:` names */
    memset(cap, 0, sizeof(cap));
    for (int i = 0; i < r->npsus; i++)
        if (r->psus[i].bus >= 0 && r->psus[i].bus < r->nbuses)
            cap[r->psus[i].bus] += r->psus[i].rated_mw;
    memcpy(s->bus_now_mw, cap, sizeof(cap));
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *v = &r->servers[i];
        int k = v->priority < 1                       ? 0
                : v->priority > SIZING_MAX_PRIORITIES ? SIZING_MAX_PRIORITIES - 1
                                                      : v->priority - 1;
        s->power_mw += v->power_mw;
        s->min_mw += v->min_mw;
        s->prio_power_mw[k] += v->power_mw;
        s->prio_min_mw[k] += v->min_mw;
        s->prio_servers[k]++;
        if (k + 1 > s->npriorities)
            s->npriorities = k + 1;
    }
}

static void failures(const struct rack *r, struct sizing *s)
{
    for (int f = 0; f < r->nfeeds; f++)
        consider(r, &s->worst, ROUTE_FAIL_FEED, f);
    for (int b = 0; b < r->nbuses; b++)
        consider(r, &s->worst, ROUTE_FAIL_BUS, b);
    for (int i = 0; i < r->npsus; i++)
        consider(r, &s->worst, ROUTE_FAIL_PSU, i);
    if (r->protection == RACK_PROT_N1) {
        for (int i = 0; i < r->npsus; i++)
            consider(r, &s->worst_protected, ROUTE_FAIL_PSU, i);
    } else if (r->protection == RACK_PROT_NN) {
        for (int f = 0; f < r->nfeeds; f++)
            consider(r, &s->worst_protected, ROUTE_FAIL_FEED, f);
        for (int b = 0; b < r->nbuses; b++)
            consider(r, &s->worst_protected, ROUTE_FAIL_BUS, b);
    }
}

static void shape_warnings(const struct rack *r, struct sizing *s)
{
    for (int b = 0; b < r->nbuses; b++)
        if (s->bus_reach_mw[b] == 0)
            warn(s, "bus %s: no PSU is wired to it", r->buses[b]);
    for (int f = 0; f < r->nfeeds; f++) {
        bool any = false;
        for (int i = 0; i < r->npsus && !any; i++)
            any = r->psus[i].feed == f;
        if (!any)
            warn(s, "feed %s: no PSU draws from it", r->feeds[f]);
    }
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *v = &r->servers[i];
        int64_t reach = 0;
        for (int k = 0; k < r->npsus; k++)
            if (r->psus[k].wired & v->wired)
                reach += r->psus[k].rated_mw;
        char buses[RACK_MAX_BUSES * RACK_ID_LEN];
        bus_names(r, v->wired, buses, sizeof(buses));
        if (reach == 0)
            warn(s, "server %s: no PSU is wired to its bus%s %s: it can never be powered", v->id,
                 __builtin_popcount(v->wired) > 1 ? "es" : "", buses);
        else if (v->power_mw > reach)
            warn(s,
                 "server %s: asks %.15g W, more than all the PSUs that reach %s deliver "
                 "(%.15g W): %s",
                 v->id, watts(v->power_mw), buses, watts(reach),
                 v->min_mw <= reach ? "it can only run capped" : "it can never be powered");
    }
}

/* demand[m]: what the servers wired to exactly the buses m ask. */
static void demand_by_mask(const struct rack *r, bool at_min, int64_t demand[ROUTE_NMASKS])
{
    memset(demand, 0, ROUTE_NMASKS * sizeof(*demand));
    for (int i = 0; i < r->nservers; i++)
        demand[r->servers[i].wired & (ROUTE_NMASKS - 1)] +=
            at_min ? r->servers[i].min_mw : r->servers[i].power_mw;
}

/* A server of demand (at power_w or min_w) that no PSU left after the
 * failure can reach on a live bus: no re-routing and no shedding saves it.
 * Its index, or -1. */
static int stranded_by(const struct rack *r, enum route_failure_kind kind, int index, bool at_min)
{
    uint32_t live = (1u << r->nbuses) - 1;
    if (kind == ROUTE_FAIL_BUS)
        live &= ~(1u << index);
    uint32_t reach = 0;
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        if ((kind == ROUTE_FAIL_PSU && i == index) || (kind == ROUTE_FAIL_FEED && p->feed == index))
            continue;
        reach |= p->wired & live;
    }
    for (int i = 0; i < r->nservers; i++)
        if ((at_min ? r->servers[i].min_mw : r->servers[i].power_mw) > 0 &&
            !(r->servers[i].wired & reach))
            return i;
    return -1;
}

/* The first failure of the protection set that strands a server, with the
 * text that names both; false when there is none. */
static bool stranding_failure(const struct rack *r, bool at_min, char *why, size_t len)
{
    enum route_failure_kind kinds[2] = {ROUTE_FAIL_NONE, ROUTE_FAIL_NONE};
    int counts[2] = {0, 0};
    if (r->protection == RACK_PROT_N1) {
        kinds[0] = ROUTE_FAIL_PSU;
        counts[0] = r->npsus;
    } else if (r->protection == RACK_PROT_NN) {
        kinds[0] = ROUTE_FAIL_FEED;
        counts[0] = r->nfeeds;
        kinds[1] = ROUTE_FAIL_BUS;
        counts[1] = r->nbuses;
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < counts[k]; i++) {
            int v = stranded_by(r, kinds[k], i, at_min);
            if (v < 0)
                continue;
            if (why) {
                char name[96], buses[RACK_MAX_BUSES * RACK_ID_LEN];
                failure_name(r, kinds[k], i, name, sizeof(name));
                bus_names(r, r->servers[v].wired, buses, sizeof(buses));
                snprintf(why, len, "after %s fails, no PSU left can reach %s's bus%s %s", name,
                         r->servers[v].id, __builtin_popcount(r->servers[v].wired) > 1 ? "es" : "",
                         buses);
            }
            return true;
        }
    return false;
}

static int routing(const struct rack *r, struct sizing *s)
{
    struct route *rt = route_new(r->npsus, r->nbuses);
    if (!rt)
        return -1;
    route_load(rt, r);
    int64_t demand[ROUTE_NMASKS];
    /* protected means every server survives: a failure after which nothing
     * can reach a server's buses is no protection, whatever shedding does */
    demand_by_mask(r, true, demand);
    s->min_served = route_ok(rt, demand, ROUTE_NEED_SERVE);
    s->min_protected =
        route_ok(rt, demand, ROUTE_NEED_PROTECT) && !stranding_failure(r, true, NULL, 0);
    demand_by_mask(r, false, demand);
    s->power_served = route_ok(rt, demand, ROUTE_NEED_SERVE);
    s->power_protected = route_ok(rt, demand, ROUTE_NEED_PROTECT);
    struct route_why w = {0};
    bool lost = false;
    if (!s->power_served) {
        route_feasible(rt, demand, &w);
        why_text(r, &w, s->power_why, sizeof(s->power_why));
    } else if (stranding_failure(r, false, s->power_why, sizeof(s->power_why))) {
        s->power_protected = false;
    } else if (!s->power_protected && !route_protected(rt, demand, true, &w, &lost, NULL)) {
        why_text(r, &w, s->power_why, sizeof(s->power_why));
    }
    route_free(rt);
    return 0;
}

/* ---- reserves ---- */

/* A copy of r with no mains on any feed: a feed with a ups on it runs on
 * reserve, the others fail; every reserve full, where the file puts it. */
static int without_mains(const struct rack *r, struct rack *c)
{
    if (rack_copy(c, r))
        return -1;
    for (int f = 0; f < c->nfeeds; f++) {
        c->feed_failed[f] = true;
        c->feed_on_reserve[f] = false;
    }
    for (int k = 0; k < c->nreserves; k++) {
        struct rack_reserve *v = &c->reserves[k];
        v->wh_left = v->energy_wh;
        v->known = true;
        v->to_bus = v->to_server = -1;
        if (v->kind == RACK_RESERVE_UPS) {
            c->feed_failed[v->at] = false;
            c->feed_on_reserve[v->at] = true;
        }
    }
    return 0;
}

/* Seconds c's reserves carry load_w before some server lacks power, drained
 * piece by piece by the energy model (a piece ends where a reserve runs
 * empty and the flow changes); INFINITY when nothing drains them. */
static double runtime_until_short(struct rack *c, const double *load_w, double *rw)
{
    double t = 0;
    for (int piece = 0; piece <= c->nreserves + 1; piece++) {
        if (outage_flow(c, load_w, rw, NULL) > SHORT_EPS_W)
            return t;
        double step = INFINITY;
        for (int k = 0; k < c->nreserves; k++)
            if (rw[k] > 0) {
                double rt = outage_runtime_s(&c->reserves[k], c->reserves[k].wh_left, rw[k]);
                step = rt < step ? rt : step;
            }
        if (isinf(step) || step > RUNTIME_CAP_S)
            return t + step;
        outage_discharge(c, load_w, (int64_t)ceil(step * 1e9) + 1);
        t += step;
    }
    return t;
}

/* The place of a reserve in messages: "bus A", "feed F1", "server db1". */
static void place_name(const struct rack *r, const struct rack_reserve *v, char *buf, size_t len)
{
    if (v->kind == RACK_RESERVE_BBU)
        snprintf(buf, len, "bus %s", r->buses[v->at]);
    else if (v->kind == RACK_RESERVE_UPS)
        snprintf(buf, len, "feed %s", r->feeds[v->at]);
    else
        snprintf(buf, len, "server %s", r->servers[v->at].id);
}

/* Directs every reserve that gives the loaded servers nothing to one of
 * them its switch reaches: a bus one of them draws from, or the one of them
 * with the least reserve energy per watt so far (backing: scratch, one per
 * server). Whether any was. */
static bool switch_idle_reserves(struct rack *c, const double *load_w, double *rw, double *backing)
{
    bool any = false;
    outage_flow(c, load_w, rw, NULL);
    uint32_t buses = 0;
    for (int i = 0; i < c->nservers; i++) {
        backing[i] = 0;
        if (load_w[i] > 0)
            buses |= c->servers[i].wired;
    }
    for (int k = 0; k < c->nreserves; k++)
        if (c->reserves[k].kind == RACK_RESERVE_SERVER && rw[k] > 0)
            backing[c->reserves[k].at] += c->reserves[k].energy_wh;
    for (int k = 0; k < c->nreserves; k++) {
        struct rack_reserve *v = &c->reserves[k];
        if (rw[k] > 0)
            continue;
        uint32_t to = v->switch_buses & buses;
        for (int b = 0; to && b < c->nbuses; b++)
            if (to >> b & 1) {
                v->to_bus = b;
                any = true;
                break;
            }
        int best = -1;
        for (int j = 0; v->to_bus < 0 && j < v->nswitch_servers; j++) {
            int t = v->switch_servers[j];
            if (load_w[t] > 0 &&
                (best < 0 || backing[t] / load_w[t] < backing[best] / load_w[best]))
                best = t;
        }
        if (best >= 0) {
            v->to_server = best;
            backing[best] += v->energy_wh;
            any = true;
        }
    }
    return any;
}

static int reserves(const struct rack *r, struct sizing *s)
{
    struct rack c;
    size_t n = r->nservers ? (size_t)r->nservers : 1, m = r->nreserves ? (size_t)r->nreserves : 1;
    double *load = calloc(n, sizeof(*load)), *top = calloc(n, sizeof(*top));
    double *rw = calloc(m, sizeof(*rw)), *sw = calloc(n, sizeof(*sw));
    int rc = -1;
    if (!load || !top || !rw || !sw)
        goto out;
    s->nreserves = r->nreserves;
    for (int k = 0; k < r->nreserves; k++)
        s->reserve_wh += r->reserves[k].energy_wh;
    s->top_priority = 0;
    for (int a = 0; a < r->nactivities; a++)
        if (!s->top_priority || r->activities[a].priority < s->top_priority)
            s->top_priority = r->activities[a].priority;
    for (int a = 0; a < r->nactivities; a++)
        for (int j = 0;
             r->activities[a].priority == s->top_priority && j < r->activities[a].nservers; j++)
            top[r->activities[a].servers[j]] = 1;
    for (int i = 0; i < r->nservers; i++) {
        load[i] = watts(r->servers[i].power_mw);
        s->load_w += load[i];
        if (top[i]) {
            top[i] = load[i];
            s->top_w += load[i];
            s->top_servers++;
        }
    }

    /* What each place asks (the reserves as if without limit, shared as
     * their max_w are), then what each gives and for how long. */
    if (without_mains(r, &c))
        goto out;
    for (int k = 0; k < c.nreserves; k++)
        c.reserves[k].max_w *= UNCAPPED;
    outage_flow(&c, load, rw, NULL);
    for (int k = 0; k < r->nreserves && k < SIZING_MAX_RESERVES; k++)
        s->reserve[k].asked_w = rw[k];
    for (int k = 0; k < r->nreserves; k++) {
        const struct rack_reserve *v = &r->reserves[k];
        char place[RACK_ID_LEN + 16];
        place_name(r, v, place, sizeof(place));
        if (rw[k] > v->max_w * (1 + 1e-9))
            warn(s,
                 "reserve %s: %s asks %.0f W of it with no mains and every server at power_w, "
                 "above its max_w %.15g W: it cannot carry what it is placed to carry",
                 v->id, place, rw[k], v->max_w);
    }
    rack_free(&c);
    if (without_mains(r, &c))
        goto out;
    s->full_short_w = outage_flow(&c, load, rw, sw);
    for (int k = 0; k < r->nreserves && k < SIZING_MAX_RESERVES; k++) {
        s->reserve[k].full_w = rw[k];
        s->reserve[k].runtime_s =
            outage_runtime_s(&r->reserves[k], r->reserves[k].energy_wh, rw[k]);
    }
    s->full_runtime_s = runtime_until_short(&c, load, rw);
    rack_free(&c);

    if (s->top_priority) {
        if (without_mains(r, &c))
            goto out;
        s->top_runtime_s = runtime_until_short(&c, top, rw);
        rack_free(&c);
        if (without_mains(r, &c))
            goto out;
        s->top_switched_s = switch_idle_reserves(&c, top, rw, sw) ? runtime_until_short(&c, top, rw)
                                                                  : s->top_runtime_s;
        rack_free(&c);
    }
    rc = 0;
out:
    free(load);
    free(top);
    free(rw);
    free(sw);
    return rc;
}

int sizing_check(const struct rack *r, struct sizing *s)
{
    memset(s, 0, sizeof(*s));
    sums(r, s);
    failures(r, s);
    shape_warnings(r, s);
    if (routing(r, s))
        return -1;
    if (r->nreserves && reserves(r, s))
        return -1;
    const char *prot = rack_protection_name(r->protection);
    if (!s->power_served) {
        warn(s, "demand: not every server can be granted its power_w at once: %s", s->power_why);
    } else if (s->worst_protected.kind != ROUTE_FAIL_NONE &&
               s->power_mw > s->worst_protected.left_mw) {
        char name[96];
        failure_name(r, s->worst_protected.kind, s->worst_protected.index, name, sizeof(name));
        warn(s,
             "demand: the servers ask %.15g W (power_w), above the %.15g W that %s protection "
             "keeps after %s fails: not all of them can be granted at once",
             watts(s->power_mw), watts(s->worst_protected.left_mw), prot, name);
    } else if (!s->power_protected) {
        warn(s,
             "demand: not every server can be granted its power_w at once with %s protection: "
             "%s",
             prot, s->power_why);
    }
    return 0;
}

static const char *verdict(bool served, bool protected_, enum rack_protection p)
{
    if (!served)
        return "cannot all be served";
    if (p == RACK_PROT_NONE)
        return "can all be served";
    return protected_ ? "can all be served, protected" : "can all be served, not protected";
}

/* "380 s", "no drain" */
static const char *seconds(double t, char *buf, size_t len)
{
    if (isinf(t))
        snprintf(buf, len, "no end (nothing drains them)");
    else
        snprintf(buf, len, "%.0f s", t);
    return buf;
}

static void print_reserves(FILE *f, const struct rack *r, const struct sizing *s)
{
    char t1[48], t2[48], place[RACK_ID_LEN + 16];
    if (!s->nreserves)
        return;
    fprintf(f,
            "reserves: %.15g Wh in %d, with no mains on any feed and every server at power_w "
            "(%.15g W):\n",
            s->reserve_wh, s->nreserves, s->load_w);
    for (int k = 0; k < s->nreserves && k < SIZING_MAX_RESERVES; k++) {
        const struct rack_reserve *v = &r->reserves[k];
        const struct sizing_reserve *e = &s->reserve[k];
        place_name(r, v, place, sizeof(place));
        fprintf(f, "  reserve %s (%s on %s): %.15g Wh, max %.15g W: gives %.0f W, %s\n", v->id,
                rack_reserve_kind_name(v->kind), place, v->energy_wh, v->max_w, e->full_w,
                seconds(e->runtime_s, t1, sizeof(t1)));
    }
    if (s->nreserves > SIZING_MAX_RESERVES)
        fprintf(f, "  ... and %d more reserves\n", s->nreserves - SIZING_MAX_RESERVES);
    if (s->full_short_w > SHORT_EPS_W)
        fprintf(f, "  every server: cannot be carried, %.0f W short at once\n", s->full_short_w);
    else
        fprintf(f, "  every server: %s until one lacks power\n",
                seconds(s->full_runtime_s, t1, sizeof(t1)));
    if (!s->top_priority)
        return;
    char names[160] = "";
    for (int a = 0; a < r->nactivities; a++)
        if (r->activities[a].priority == s->top_priority)
            join_short(names, sizeof(names), r->activities[a].id);
    fprintf(f,
            "most important set (priority %d: %s): %.15g W on %d server%s, everything else "
            "stopped: %s as placed, %s with the reserves idle for it switched to it\n",
            s->top_priority, names, s->top_w, s->top_servers, s->top_servers == 1 ? "" : "s",
            seconds(s->top_runtime_s, t1, sizeof(t1)), seconds(s->top_switched_s, t2, sizeof(t2)));
}

void sizing_print(FILE *f, const struct rack *r, const struct sizing *s)
{
    fprintf(f, "capacity: %.15g W from %d PSU%s\n", watts(s->total_mw), r->npsus,
            r->npsus == 1 ? "" : "s");
    for (int b = 0; b < r->nbuses; b++)
        fprintf(f, "  bus %s: %.15g W switched onto it as written, %.15g W wired to it\n",
                r->buses[b], watts(s->bus_now_mw[b]), watts(s->bus_reach_mw[b]));
    for (int k = 0; k < r->nfeeds; k++)
        fprintf(f, "  feed %s: %.15g W\n", r->feeds[k], watts(s->feed_mw[k]));
    char name[96];
    if (s->worst.kind != ROUTE_FAIL_NONE) {
        failure_name(r, s->worst.kind, s->worst.index, name, sizeof(name));
        fprintf(f, "worst single failure: %s: %.15g W left\n", name, watts(s->worst.left_mw));
    }
    if (s->worst_protected.kind != ROUTE_FAIL_NONE) {
        failure_name(r, s->worst_protected.kind, s->worst_protected.index, name, sizeof(name));
        fprintf(f, "protected capacity (%s): %.15g W, after %s fails\n",
                rack_protection_name(r->protection), watts(s->worst_protected.left_mw), name);
    } else {
        fprintf(f, "protected capacity (none): %.15g W, no failure protected against\n",
                watts(s->total_mw));
    }
    fprintf(f, "demand: %.15g W at power_w, %.15g W at min_w, %d server%s\n", watts(s->power_mw),
            watts(s->min_mw), r->nservers, r->nservers == 1 ? "" : "s");
    for (int k = 0; k < s->npriorities; k++)
        if (s->prio_servers[k])
            fprintf(f, "  priority %d%s: %.15g W at power_w, %.15g W at min_w, %d server%s\n",
                    k + 1, k == SIZING_MAX_PRIORITIES - 1 ? " and beyond" : "",
                    watts(s->prio_power_mw[k]), watts(s->prio_min_mw[k]), s->prio_servers[k],
                    s->prio_servers[k] == 1 ? "" : "s");
    fprintf(f, "all servers at power_w: %s\n",
            verdict(s->power_served, s->power_protected, r->protection));
    fprintf(f, "all servers at min_w: %s\n",
            verdict(s->min_served, s->min_protected, r->protection));
    print_reserves(f, r, s);
    for (int k = 0; k < s->nwarnings; k++)
        fprintf(f, "warning: %s\n", s->warnings[k]);
}
