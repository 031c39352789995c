/*
 * test_property.c - random racks and timelines driven through the policy,
 * checked after every step against an independent brute-force oracle.
 *
 * The oracle below re-implements DESIGN.md's semantics from scratch (Hall's
 * condition over bus subsets, failure sets, instant re-routing, exclusion)
 * and never calls policy.c or route.c for a verdict: only rack.c helpers.
 * It enumerates switch positions, so racks are kept small.
 *
 * Checked after every policy_handle: the input took effect (P), actions tell
 * what changed (A), allocations are consistent (C), I1 feasible now, I2 the
 * protection flags, I3 strict priority (at every event, the restore wait
 * included), I4 least shedding, I5 no waiting server that fits; and, beyond
 * the brief, I6 restore once stable, I7 a grant leaves the rack protected
 * (against every failure shedding could fix), I8
 * a grant takes nothing a shed or capped server at least as important could
 * get back; I9 a PSU that cannot be read cuts nobody and keeps serving what
 * it served; I10 no grant while a more important server that could come back
 * is shed or capped (or_could_come_back: docs/policy.md's definition, written
 * again here from its words); I11 no live PSU left on a dead bus (or on
 * none) while a live bus it is wired to exists; I12 no server that lost power
 * (lost_power) comes back before its back-off ends, the back-off worked out
 * again here from docs/policy.md's words (or_loss_backoff_ns), and
 * lost_power for a server that draws nothing is ignored.
 *
 * Lost power (docs/policy.md): during its back-off a server that lost power
 * holds its place against requests (I5, I8, I10 unchanged) but not against
 * the servers already drawing: less important ones may draw, and be
 * restored, in its room, so I3 (held down by a less important one) and I6
 * (restored once stable) do not apply to it until its back-off has ended.
 * Then it is a held server like any other.
 *
 * A PSU whose state is unknown serves (it counts for feasibility) but not for
 * protection: "protected" means every drawing server is served without the
 * unknown PSUs (no server left out), and each failure of the set is survived
 * without them too. Shedding and capping (I2 shed, I3, I4) answer to
 * protection counting them as healthy: protection lost only to unknown PSUs
 * sheds nobody.
 *
 * Environment: RP_PROPERTY_ITERS (racks, default 20000), RP_PROPERTY_SEED
 * (default fixed), RP_PROPERTY_FIRST (first iteration, to replay one),
 * RP_PROPERTY_KEEP_GOING=1 (count every failure, report the first of each
 * invariant, instead of stopping at the first failing rack),
 * RP_PROPERTY_LARGE=1 (larger racks: up to 4 buses, 8 PSUs, 16 servers),
 * RP_PROPERTY_TRACE=1 (print every call and its actions: for a replay).
 * n+n is each feed and each bus (DESIGN.md); a PSU alone is not in its set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "rack.h"
#include "splitmix.h"

/* ------------------------------------------------------------------------ */
/* Oracle                                                                   */
/* ------------------------------------------------------------------------ */

#define OR_MAX_BUSES 4
#define OR_NSUB (1 << OR_MAX_BUSES)
#define OR_MAX_PSUS 12
#define OR_MAX_SERVERS 16
#define OR_MAX_FAILS (2 * (OR_MAX_PSUS + RACK_MAX_FEEDS + OR_MAX_BUSES) + 1)

/* A hypothetical serving state: who draws and how much. */
struct oload {
    bool draws[OR_MAX_SERVERS];
    int64_t alloc_mw[OR_MAX_SERVERS];
    int64_t measured_mw[OR_MAX_SERVERS]; /* last reported draw, 0 when none */
};

/* Issue 8, claim 26: a server measured drawing more than its grant (as the
 * rack stands) counts, whenever it is to draw, at the larger of what it is
 * allocated and what it was measured drawing. */
static int64_t or_counts(const struct oload *ld, int s)
{
    return ld->measured_mw[s] > ld->alloc_mw[s] ? ld->measured_mw[s] : ld->alloc_mw[s];
}

/* OF_UNKNOWN: every PSU that cannot be read is gone, and nothing else. */
enum ofail_kind { OF_NONE, OF_PSU, OF_FEED, OF_BUS, OF_UNKNOWN };

struct ofail {
    enum ofail_kind kind;
    int index;
    bool without_unknown; /* the unknown PSUs are gone as well */
};

/* What a question asks of the rack. */
enum oneed {
    ON_SERVE,            /* feasible */
    ON_PROTECT,          /* and protected, unknown PSUs not counted */
    ON_PROTECT_TRUSTING, /* and protected, unknown PSUs counted as healthy */
};

/* One feasibility question: fixed capacity on buses plus PSUs free to go to
 * any bus in their option mask; does some placement satisfy Hall's condition? */
struct asg {
    int nbuses;
    uint32_t alive;  /* buses alive in the scenario */
    bool infeasible; /* a drawing server has no alive bus at all */
    int64_t demand[OR_NSUB];
    int64_t capsub[OR_NSUB]; /* capacity placed on each subset */
    int nm;
    int64_t mcap[OR_MAX_PSUS];
    uint32_t mopt[OR_MAX_PSUS];
    int choice[OR_MAX_PSUS];
    int64_t reach[OR_MAX_PSUS + 1][OR_NSUB];
};

static void load_from_rack(const struct rack *r, struct oload *ld)
{
    memset(ld, 0, sizeof(*ld));
    for (int i = 0; i < r->nservers; i++) {
        ld->draws[i] = rack_server_draws(&r->servers[i]);
        ld->alloc_mw[i] = ld->draws[i] ? r->servers[i].alloc_mw : 0;
        /* over-draw: measured above its grant as it stands, now or when it
         * was last granted (docs/policy.md: a slot's 0 W while off says
         * nothing of what the server draws when on) */
        int64_t d = r->servers[i].draw_mw;
        if (r->servers[i].on_draw_mw > d)
            d = r->servers[i].on_draw_mw;
        ld->measured_mw[i] = d > ld->alloc_mw[i] ? d : 0;
    }
}

static bool or_fast(const struct rack *r, const struct rack_psu *p)
{
    return p->switch_ns < r->holdup_ns;
}

static uint32_t or_alive_buses(const struct rack *r, const struct ofail *f)
{
    uint32_t m = rack_alive_buses(r);
    if (f->kind == OF_BUS)
        m &= ~(1u << f->index);
    return m;
}

/* Serves but counts for no protection: it cannot be read, or it is predicted
 * to fail (docs/policy.md "PSUs predicted to fail"); "unknown" below. */
static bool or_uncounted(const struct rack_psu *p)
{
    return p->health == RACK_PSU_UNKNOWN || p->at_risk;
}

static bool or_psu_alive(const struct rack *r, int i, const struct ofail *f)
{
    const struct rack_psu *p = &r->psus[i];
    if (!rack_psu_alive(r, p))
        return false;
    if (f->kind == OF_PSU && f->index == i)
        return false;
    if (f->without_unknown && or_uncounted(p))
        return false;
    if (f->kind == OF_FEED && f->index == p->feed)
        return false;
    return true;
}

static bool or_bus_valid(const struct rack *r, int b)
{
    return b >= 0 && b < r->nbuses;
}

/* The failure set of the rack's protection level, with the unknown PSUs
 * counted (without_unknown false). */
static int or_failure_set(const struct rack *r, bool without_unknown, struct ofail *out)
{
    int n = 0;
    const struct ofail gone = {OF_NONE, -1, without_unknown};
    if (r->protection == RACK_PROT_NONE)
        return 0;
    for (int i = 0; i < r->npsus; i++)
        if (or_psu_alive(r, i, &gone) && r->protection == RACK_PROT_N1)
            out[n++] = (struct ofail){OF_PSU, i, without_unknown};
    if (r->protection == RACK_PROT_NN) {
        for (int f = 0; f < r->nfeeds; f++)
            if (!r->feed_failed[f])
                out[n++] = (struct ofail){OF_FEED, f, without_unknown};
        for (int b = 0; b < r->nbuses; b++)
            if (!r->bus_failed[b])
                out[n++] = (struct ofail){OF_BUS, b, without_unknown};
    }
    return n;
}

/* What protection must survive. strict (unknown PSUs do not count): the set
 * as if they were healthy, then their loss alone, then the set without them. */
static int or_failures(const struct rack *r, bool strict, struct ofail *out)
{
    int n = or_failure_set(r, false, out);
    bool any_unknown = false;
    for (int i = 0; i < r->npsus; i++)
        if (rack_psu_alive(r, &r->psus[i]) && or_uncounted(&r->psus[i]))
            any_unknown = true;
    if (!strict || !any_unknown)
        return n;
    out[n++] = (struct ofail){OF_UNKNOWN, -1, true};
    return n + or_failure_set(r, true, out + n);
}

/* No re-routing after f could give server s any capacity at all. */
static bool or_excluded(const struct rack *r, int s, const struct ofail *f)
{
    uint32_t m = r->servers[s].wired & or_alive_buses(r, f);
    if (m == 0)
        return true;
    for (int i = 0; i < r->npsus; i++)
        if (or_psu_alive(r, i, f) && (r->psus[i].wired & m) != 0)
            return false;
    return true;
}

static void asg_init(struct asg *g, const struct rack *r, uint32_t alive)
{
    memset(g, 0, sizeof(*g));
    assert_true(r->nbuses >= 1 && r->nbuses <= OR_MAX_BUSES);
    g->nbuses = r->nbuses;
    g->alive = alive;
}

/* Demand of the drawing servers; with exclude, servers excluded under f are
 * left out, else a drawing server without an alive bus makes it infeasible. */
static void asg_demand(struct asg *g, const struct rack *r, const struct oload *ld,
                       const struct ofail *f, bool exclude)
{
    int nsub = 1 << g->nbuses;
    for (int s = 0; s < r->nservers; s++) {
        if (!ld->draws[s])
            continue;
        if (exclude && or_excluded(r, s, f))
            continue;
        uint32_t m = r->servers[s].wired & g->alive;
        if (m == 0) {
            g->infeasible = true;
            continue;
        }
        for (int x = 1; x < nsub; x++)
            if ((m & ~(uint32_t)x) == 0)
                g->demand[x] += or_counts(ld, s);
    }
}

static void asg_place(struct asg *g, int b, int64_t cap)
{
    int nsub = 1 << g->nbuses;
    for (int x = 1; x < nsub; x++)
        if ((uint32_t)x >> b & 1u)
            g->capsub[x] += cap;
}

static void asg_fixed(struct asg *g, int b, int64_t cap)
{
    if (b >= 0 && b < g->nbuses && (g->alive >> b & 1u))
        asg_place(g, b, cap);
}

static void asg_movable(struct asg *g, uint32_t opt, int64_t cap)
{
    assert_true(g->nm < OR_MAX_PSUS);
    g->mopt[g->nm] = opt & g->alive;
    g->mcap[g->nm] = cap;
    g->nm++;
}

static bool asg_bound(const struct asg *g, int k)
{
    int nsub = 1 << g->nbuses;
    for (int x = 1; x < nsub; x++) {
        if ((uint32_t)x & ~g->alive)
            continue;
        if (g->capsub[x] + g->reach[k][x] < g->demand[x])
            return false;
    }
    return true;
}

static bool asg_search(struct asg *g, int k)
{
    if (!asg_bound(g, k))
        return false;
    if (k == g->nm)
        return true;
    uint32_t opt = g->mopt[k];
    if (opt == 0)
        return asg_search(g, k + 1);
    /* Identical neighbours (sorted) only take non-decreasing buses. */
    int from = 0;
    if (k > 0 && g->mopt[k - 1] == opt && g->mcap[k - 1] == g->mcap[k])
        from = g->choice[k - 1];
    for (int b = from; b < g->nbuses; b++) {
        if (!(opt >> b & 1u))
            continue;
        g->choice[k] = b;
        asg_place(g, b, g->mcap[k]);
        bool ok = asg_search(g, k + 1);
        asg_place(g, b, -g->mcap[k]);
        if (ok)
            return true;
    }
    return false;
}

static bool asg_solve(struct asg *g)
{
    if (g->infeasible)
        return false;
    /* Sort movables so identical ones are neighbours (insertion sort). */
    for (int i = 1; i < g->nm; i++) {
        for (int j = i; j > 0; j--) {
            bool before = g->mopt[j] < g->mopt[j - 1] ||
                          (g->mopt[j] == g->mopt[j - 1] && g->mcap[j] < g->mcap[j - 1]);
            if (!before)
                break;
            uint32_t o = g->mopt[j];
            int64_t c = g->mcap[j];
            g->mopt[j] = g->mopt[j - 1];
            g->mcap[j] = g->mcap[j - 1];
            g->mopt[j - 1] = o;
            g->mcap[j - 1] = c;
        }
    }
    int nsub = 1 << g->nbuses;
    for (int x = 0; x < nsub; x++)
        g->reach[g->nm][x] = 0;
    for (int k = g->nm - 1; k >= 0; k--)
        for (int x = 0; x < nsub; x++)
            g->reach[k][x] = g->reach[k + 1][x] + (((uint32_t)x & g->mopt[k]) ? g->mcap[k] : 0);
    return asg_search(g, 0);
}

/* I1: the rack with its switches where they are serves the load. */
static bool or_feasible_now(const struct rack *r, const struct oload *ld)
{
    struct asg g;
    const struct ofail none = {OF_NONE, -1, false};
    asg_init(&g, r, rack_alive_buses(r));
    for (int i = 0; i < r->npsus; i++)
        if (or_psu_alive(r, i, &none))
            asg_fixed(&g, r->psus[i].bus, rack_psu_health_mw(&r->psus[i]));
    asg_demand(&g, r, ld, &none, false);
    return asg_solve(&g);
}

/* Protected under f, slow PSUs at pos[], fast PSUs moved at will. With
 * exclude, servers that no re-routing could reach after f are left out (what
 * the policy sheds and admits for); without, every drawing server counts
 * (what "protected" reports). */
static bool or_protected_under(const struct rack *r, const struct oload *ld, const int *pos,
                               const struct ofail *f, bool exclude)
{
    struct asg g;
    asg_init(&g, r, or_alive_buses(r, f));
    for (int i = 0; i < r->npsus; i++) {
        if (!or_psu_alive(r, i, f))
            continue;
        const struct rack_psu *p = &r->psus[i];
        if (or_fast(r, p))
            asg_movable(&g, p->wired, rack_psu_health_mw(p));
        else
            asg_fixed(&g, pos[i], rack_psu_health_mw(p));
    }
    /* unknown PSUs may be alive: losing them is no failure beyond reach,
     * so nobody is left out of it */
    asg_demand(&g, r, ld, f, exclude && f->kind != OF_UNKNOWN);
    return asg_solve(&g);
}

static bool or_protected_at(const struct rack *r, const struct oload *ld, const int *pos,
                            bool strict, bool exclude)
{
    struct ofail fs[OR_MAX_FAILS];
    int nf = or_failures(r, strict, fs);
    for (int k = 0; k < nf; k++)
        if (!or_protected_under(r, ld, pos, &fs[k], exclude))
            return false;
    return true;
}

/* Protected with the current switch positions. exclude: for every failure
 * that shedding could fix (what the policy acts on); without, as issue 8
 * defines what the rack reports (I2): every drawing server survives every
 * failure of the set, nobody left out. */
static bool or_protected(const struct rack *r, const struct oload *ld, bool strict, bool exclude)
{
    int pos[OR_MAX_PSUS];
    for (int i = 0; i < r->npsus; i++)
        pos[i] = r->psus[i].bus;
    return or_protected_at(r, ld, pos, strict, exclude);
}

/* As the rack reports it: unknown PSUs not counted. */
static bool or_redundancy_lost(const struct rack *r, const struct oload *ld)
{
    struct ofail fs[OR_MAX_FAILS];
    int nf = or_failures(r, true, fs);
    for (int k = 0; k < nf; k++)
        for (int s = 0; s < r->nservers; s++)
            if (fs[k].kind != OF_UNKNOWN && ld->draws[s] && or_excluded(r, s, &fs[k]))
                return true;
    return false;
}

struct okctx {
    const struct rack *r;
    const struct oload *ld;
    bool strict;
    int slow[OR_MAX_PSUS];
    int nslow;
    int pos[OR_MAX_PSUS];
};

/* Slow PSUs placed: feasible now with fast ones anywhere, and protected? */
static bool ok_config(struct okctx *c)
{
    const struct rack *r = c->r;
    const struct ofail none = {OF_NONE, -1, false};
    struct asg g;
    asg_init(&g, r, rack_alive_buses(r));
    for (int i = 0; i < r->npsus; i++) {
        if (!or_psu_alive(r, i, &none))
            continue;
        const struct rack_psu *p = &r->psus[i];
        if (or_fast(r, p))
            asg_movable(&g, p->wired, rack_psu_health_mw(p));
        else
            asg_fixed(&g, c->pos[i], rack_psu_health_mw(p));
    }
    asg_demand(&g, r, c->ld, &none, false);
    if (!asg_solve(&g))
        return false;
    return or_protected_at(r, c->ld, c->pos, c->strict, true);
}

static bool ok_slow(struct okctx *c, int k)
{
    if (k == c->nslow)
        return ok_config(c);
    const struct rack *r = c->r;
    int i = c->slow[k];
    uint32_t opt = r->psus[i].wired & rack_alive_buses(r);
    int cur = r->psus[i].bus;
    if (opt == 0) {
        c->pos[i] = -1;
        return ok_slow(c, k + 1);
    }
    /* The current position first: the common answer. */
    if (or_bus_valid(r, cur) && (opt >> cur & 1u)) {
        c->pos[i] = cur;
        if (ok_slow(c, k + 1))
            return true;
    }
    for (int b = 0; b < r->nbuses; b++) {
        if (b == cur || !(opt >> b & 1u))
            continue;
        c->pos[i] = b;
        if (ok_slow(c, k + 1))
            return true;
    }
    return false;
}

/*
 * OK(state, need): some routing (every alive PSU on any one of its wired
 * alive buses) serves the load and, if asked, is protected. Protection from a
 * routing does not depend on where fast PSUs sit (they re-route instantly),
 * so only slow PSUs are enumerated in the outer loop.
 */
static bool or_ok(const struct rack *r, const struct oload *ld, enum oneed need)
{
    const struct ofail none = {OF_NONE, -1, false};
    struct ofail fs[OR_MAX_FAILS];
    bool strict = need == ON_PROTECT;
    int nf = need != ON_SERVE ? or_failures(r, strict, fs) : 0;
    if (nf == 0) {
        struct asg g;
        asg_init(&g, r, rack_alive_buses(r));
        for (int i = 0; i < r->npsus; i++)
            if (or_psu_alive(r, i, &none))
                asg_movable(&g, r->psus[i].wired, rack_psu_health_mw(&r->psus[i]));
        asg_demand(&g, r, ld, &none, false);
        return asg_solve(&g);
    }
    struct okctx c = {.r = r, .ld = ld, .strict = strict};
    for (int i = 0; i < r->npsus; i++) {
        c.pos[i] = r->psus[i].bus;
        if (or_psu_alive(r, i, &none) && !or_fast(r, &r->psus[i]))
            c.slow[c.nslow++] = i;
    }
    return ok_slow(&c, 0);
}

/*
 * "Could come back", from docs/policy.md's words and nothing of policy.c: h
 * is shed or capped and, with every server less important than h off, h at
 * its min_w fits the rack as it is now, as a restore brings servers back:
 * feasible and protected counting unknown PSUs as healthy, or with on_loss
 * hold feasible; some routing of the live PSUs does it. A server whose buses
 * are dead, or that no live PSU can reach, fails Hall's condition here and so
 * could not come back.
 */
static bool or_could_come_back(const struct rack *r, const struct oload *ld, int h)
{
    const struct rack_server *hv = &r->servers[h];
    if (hv->state != RACK_SRV_SHED && hv->state != RACK_SRV_CAPPED)
        return false;
    struct oload x = *ld;
    for (int t = 0; t < r->nservers; t++)
        if (r->servers[t].priority > hv->priority) {
            x.draws[t] = false;
            x.alloc_mw[t] = 0;
        }
    x.draws[h] = true;
    x.alloc_mw[h] = hv->min_mw;
    return or_ok(r, &x, r->on_loss == RACK_ON_LOSS_SHED ? ON_PROTECT_TRUSTING : ON_SERVE);
}

/* ------------------------------------------------------------------------ */
/* Dumps                                                                    */
/* ------------------------------------------------------------------------ */

static const char *fmt_w(char *buf, size_t len, int64_t mw)
{
    int64_t a = mw < 0 ? -mw : mw;
    if (a % 1000 == 0)
        snprintf(buf, len, "%s%" PRId64 " W", mw < 0 ? "-" : "", a / 1000);
    else
        snprintf(buf, len, "%s%" PRId64 ".%03" PRId64 " W", mw < 0 ? "-" : "", a / 1000, a % 1000);
    return buf;
}

static const char *fmt_mask(char *buf, size_t len, uint32_t m)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "{");
    bool first = true;
    for (int b = 0; b < 32 && o < len; b++) {
        if (m >> b & 1u) {
            o += (size_t)snprintf(buf + o, len - o, "%s%d", first ? "" : ",", b);
            first = false;
        }
    }
    if (o < len)
        snprintf(buf + o, len - o, "}");
    return buf;
}

static const char *input_name(enum policy_input_kind k)
{
    switch (k) {
    case POLICY_POWER_ON:
        return "power_on";
    case POLICY_POWER_OFF:
        return "power_off";
    case POLICY_REMOVE:
        return "remove";
    case POLICY_PSU_FAIL:
        return "psu_fail";
    case POLICY_PSU_DEGRADE:
        return "psu_degrade";
    case POLICY_PSU_REPAIR:
        return "psu_repair";
    case POLICY_BUS_FAIL:
        return "bus_fail";
    case POLICY_BUS_REPAIR:
        return "bus_repair";
    case POLICY_FEED_FAIL:
        return "feed_fail";
    case POLICY_FEED_REPAIR:
        return "feed_repair";
    case POLICY_REPORT:
        return "report";
    case POLICY_TICK:
        return "tick";
    case POLICY_PSU_UNKNOWN:
        return "psu_unknown";
    case POLICY_LOST_POWER:
        return "lost_power";
    case POLICY_OUTAGE_STOP:
        return "outage_stop";
    case POLICY_OUTAGE_RELEASE:
        return "outage_release";
    case POLICY_PSU_AT_RISK:
        return "psu_at_risk";
    case POLICY_PSU_RISK_CLEAR:
        return "psu_risk_clear";
    }
    return "?";
}

static const char *action_name(enum policy_action_kind k)
{
    switch (k) {
    case POLICY_ACT_GRANT:
        return "grant";
    case POLICY_ACT_WAIT:
        return "wait";
    case POLICY_ACT_RELEASE:
        return "release";
    case POLICY_ACT_SWITCH:
        return "switch";
    case POLICY_ACT_CAP:
        return "cap";
    case POLICY_ACT_SHED:
        return "shed";
    case POLICY_ACT_RESTORE:
        return "restore";
    case POLICY_ACT_PROTECTION:
        return "protection";
    case POLICY_ACT_IGNORED:
        return "ignored";
    case POLICY_ACT_STAGE:
        return "stage";
    case POLICY_ACT_SOFT_OFF:
        return "soft_off";
    case POLICY_ACT_STANDBY:
        return "standby";
    case POLICY_ACT_WAKE:
        return "wake";
    case POLICY_ACT_SHARE:
        return "share";
    }
    return "?";
}

static void dump_rack(FILE *o, const struct rack *r)
{
    char b1[32], b2[32], m[64];
    fprintf(o,
            "  rack: protection %s, on_loss %s, on_predicted %s, restore_after %" PRId64
            " ms, holdup %" PRId64 " ms, is_protected %d, redundancy_lost %d\n",
            rack_protection_name(r->protection), r->on_loss == RACK_ON_LOSS_SHED ? "shed" : "hold",
            r->on_predicted == RACK_PREDICTED_SHED ? "shed" : "keep", r->restore_after_ns / 1000000,
            r->holdup_ns / 1000000, r->is_protected, r->redundancy_lost);
    fprintf(o, "  feeds:");
    for (int f = 0; f < r->nfeeds; f++)
        fprintf(o, " %d:%s", f, r->feed_failed[f] ? "FAILED" : "ok");
    fprintf(o, "\n  buses:");
    for (int b = 0; b < r->nbuses; b++)
        fprintf(o, " %d:%s", b, r->bus_failed[b] ? "FAILED" : "ok");
    fprintf(o, "\n");
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        fprintf(o,
                "  psu%d: rated %s derated %s health %s feed %d wired %s bus %d switch %s (%" PRId64
                " us, %s)%s%s\n",
                i, fmt_w(b1, sizeof(b1), p->rated_mw), fmt_w(b2, sizeof(b2), p->derated_mw),
                rack_psu_health_name(p->health), p->feed, fmt_mask(m, sizeof(m), p->wired), p->bus,
                rack_switch_name(p->sw), p->switch_ns / 1000, or_fast(r, p) ? "instant" : "slow",
                p->at_risk ? " AT-RISK" : "", rack_psu_alive(r, p) ? "" : " DEAD");
    }
    for (int s = 0; s < r->nservers; s++) {
        const struct rack_server *v = &r->servers[s];
        char b3[32];
        fprintf(o, "  srv%d: power %s min %s prio %d wired %s state %s alloc %s seq %" PRIu64 "\n",
                s, fmt_w(b1, sizeof(b1), v->power_mw), fmt_w(b2, sizeof(b2), v->min_mw),
                v->priority, fmt_mask(m, sizeof(m), v->wired), rack_server_state_name(v->state),
                fmt_w(b3, sizeof(b3), v->alloc_mw), v->seq);
    }
}

static void dump_input(FILE *o, const struct policy_input *in, int64_t t)
{
    char b[32];
    fprintf(o, "    t=%" PRId64 ".%03" PRId64 " s %s", t / 1000000000, t / 1000000 % 1000,
            input_name(in->kind));
    switch (in->kind) {
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
    case POLICY_LOST_POWER:
    case POLICY_OUTAGE_STOP:
    case POLICY_OUTAGE_RELEASE:
        fprintf(o, " srv%d", in->index);
        break;
    case POLICY_REPORT:
        fprintf(o, " srv%d %s", in->index, fmt_w(b, sizeof(b), in->watts_mw));
        break;
    case POLICY_PSU_DEGRADE:
        fprintf(o, " psu%d %s", in->index, fmt_w(b, sizeof(b), in->watts_mw));
        break;
    case POLICY_PSU_FAIL:
    case POLICY_PSU_REPAIR:
    case POLICY_PSU_UNKNOWN:
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
        fprintf(o, " psu%d", in->index);
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        fprintf(o, " bus%d", in->index);
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        fprintf(o, " feed%d", in->index);
        break;
    case POLICY_TICK:
        break;
    }
    fprintf(o, "\n");
}

static void dump_actions(FILE *o, const struct policy_actions *a)
{
    char b[32];
    for (size_t i = 0; i < a->n; i++) {
        const struct policy_action *x = &a->v[i];
        fprintf(o, "    %s", action_name(x->kind));
        if (x->server >= 0)
            fprintf(o, " srv%d", x->server);
        if (x->psu >= 0)
            fprintf(o, " psu%d %d->%d", x->psu, x->from_bus, x->to_bus);
        if (x->kind == POLICY_ACT_PROTECTION)
            fprintf(o, " protected=%d lost=%d", x->is_protected, x->redundancy_lost);
        fprintf(o, " %s: %s\n", fmt_w(b, sizeof(b), x->watts_mw), x->reason);
    }
}

/* ------------------------------------------------------------------------ */
/* Oracle tests on hand-made racks                                          */
/* ------------------------------------------------------------------------ */

static void hand_rack(struct rack *r, int nbuses, int nfeeds, enum rack_protection prot)
{
    rack_init(r);
    r->nbuses = nbuses;
    r->nfeeds = nfeeds;
    for (int b = 0; b < nbuses; b++)
        snprintf(r->buses[b], RACK_ID_LEN, "bus%d", b);
    for (int f = 0; f < nfeeds; f++)
        snprintf(r->feeds[f], RACK_ID_LEN, "feed%d", f);
    r->protection = prot;
    r->psus = calloc(OR_MAX_PSUS, sizeof(*r->psus));
    r->servers = calloc(OR_MAX_SERVERS, sizeof(*r->servers));
    assert_non_null(r->psus);
    assert_non_null(r->servers);
}

static void hand_psu(struct rack *r, int64_t w, int feed, uint32_t wired, int bus,
                     enum rack_switch_kind sw)
{
    struct rack_psu *p = &r->psus[r->npsus];
    snprintf(p->id, RACK_ID_LEN, "psu%d", r->npsus);
    p->rated_mw = w * 1000;
    p->feed = feed;
    p->wired = wired;
    p->bus = bus;
    p->sw = sw;
    p->switch_ns = rack_switch_default_ns(sw);
    p->health = RACK_PSU_OK;
    r->npsus++;
}

static void hand_server(struct rack *r, int64_t w, int prio, uint32_t wired)
{
    struct rack_server *s = &r->servers[r->nservers];
    snprintf(s->id, RACK_ID_LEN, "srv%d", r->nservers);
    s->power_mw = s->min_mw = s->alloc_mw = w * 1000;
    s->priority = prio;
    s->wired = wired;
    s->chassis = -1;
    s->state = RACK_SRV_ON;
    s->draw_mw = -1;
    s->on_draw_mw = -1;
    r->nservers++;
}

static void hand_set_alloc(struct rack *r, int s, int64_t w)
{
    r->servers[s].power_mw = r->servers[s].min_mw = r->servers[s].alloc_mw = w * 1000;
}

/* Hall, not totals: one bus cannot borrow another bus's PSU. */
static void test_oracle_hall_condition(void **state)
{
    (void)state;
    struct rack r;
    struct oload ld;
    hand_rack(&r, 2, 1, RACK_PROT_NONE);
    hand_psu(&r, 1000, 0, 1u << 0, 0, RACK_SWITCH_FET);
    hand_psu(&r, 1000, 0, 1u << 1, 1, RACK_SWITCH_FET);
    hand_server(&r, 1500, 1, 1u << 0);
    load_from_rack(&r, &ld);
    assert_false(or_feasible_now(&r, &ld)); /* 2000 W in total, 1000 W on bus0 */
    assert_false(or_ok(&r, &ld, ON_SERVE));
    /* A server on both buses splits its load across them. */
    hand_set_alloc(&r, 0, 600);
    hand_server(&r, 1200, 1, 0x3);
    load_from_rack(&r, &ld);
    assert_true(or_feasible_now(&r, &ld));
    hand_set_alloc(&r, 1, 1500);
    load_from_rack(&r, &ld);
    assert_false(or_feasible_now(&r, &ld));
    /* A drawing server with no alive bus cannot be fed. */
    hand_set_alloc(&r, 1, 100);
    r.bus_failed[0] = true;
    load_from_rack(&r, &ld);
    assert_false(or_feasible_now(&r, &ld));
    rack_free(&r);
}

static void test_oracle_feasible_not_n1(void **state)
{
    (void)state;
    struct rack r;
    struct oload ld;
    hand_rack(&r, 1, 1, RACK_PROT_N1);
    hand_psu(&r, 1000, 0, 1u, 0, RACK_SWITCH_FET);
    hand_psu(&r, 1000, 0, 1u, 0, RACK_SWITCH_FET);
    hand_server(&r, 1500, 1, 1u);
    load_from_rack(&r, &ld);
    assert_true(or_feasible_now(&r, &ld));
    assert_false(or_protected(&r, &ld, true, true));
    assert_false(or_redundancy_lost(&r, &ld));
    assert_true(or_ok(&r, &ld, ON_SERVE));
    assert_false(or_ok(&r, &ld, ON_PROTECT));
    hand_set_alloc(&r, 0, 1000);
    load_from_rack(&r, &ld);
    assert_true(or_protected(&r, &ld, true, true));
    assert_true(or_ok(&r, &ld, ON_PROTECT));
    /* A degraded PSU counts its derated capacity only. */
    r.psus[1].health = RACK_PSU_DEGRADED;
    r.psus[1].derated_mw = 900000;
    assert_false(or_protected(&r, &ld, true, true));
    /* Protection none: nothing to survive. */
    r.protection = RACK_PROT_NONE;
    assert_true(or_protected(&r, &ld, true, true));
    rack_free(&r);
}

/* Two single-bus PSUs and one fet PSU wired to both, on bus0: losing the
 * bus1 PSU is survived only by moving the fet PSU to bus1. */
static void make_reroute_rack(struct rack *r, enum rack_switch_kind sw)
{
    hand_rack(r, 2, 1, RACK_PROT_N1);
    hand_psu(r, 1000, 0, 1u << 0, 0, RACK_SWITCH_FET);
    hand_psu(r, 1000, 0, 1u << 1, 1, RACK_SWITCH_FET);
    hand_psu(r, 1000, 0, 0x3, 0, sw);
    hand_server(r, 800, 1, 1u << 0);
    hand_server(r, 800, 1, 1u << 1);
}

static void test_oracle_protected_by_rerouting(void **state)
{
    (void)state;
    struct rack r;
    struct oload ld;
    make_reroute_rack(&r, RACK_SWITCH_FET);
    load_from_rack(&r, &ld);
    assert_true(or_feasible_now(&r, &ld));
    assert_true(or_protected(&r, &ld, true, true));
    assert_false(or_redundancy_lost(&r, &ld));
    assert_true(or_ok(&r, &ld, ON_PROTECT));
    /* Without the spare nothing could reach bus1 after losing psu1: the
     * server there is left out of the check, and redundancy is lost. */
    r.psus[2].health = RACK_PSU_FAILED;
    assert_true(or_protected(&r, &ld, true, true));
    assert_true(or_redundancy_lost(&r, &ld));
    /* Instant re-routing is limited by the hold-up budget, not the kind. */
    r.psus[2].health = RACK_PSU_OK;
    r.holdup_ns = RACK_FET_SWITCH_NS;
    assert_false(or_protected(&r, &ld, true, true));
    rack_free(&r);
}

static void test_oracle_relay_breaks_protection(void **state)
{
    (void)state;
    struct rack r;
    struct oload ld;
    make_reroute_rack(&r, RACK_SWITCH_RELAY);
    load_from_rack(&r, &ld);
    assert_true(r.psus[2].switch_ns > r.holdup_ns);
    assert_true(or_feasible_now(&r, &ld));
    assert_false(or_protected(&r, &ld, true, true)); /* relay on bus0: losing psu1 starves bus1 */
    assert_false(or_redundancy_lost(&r, &ld));       /* the relay could reach it: not excluded */
    assert_true(or_ok(&r, &ld, ON_SERVE));
    assert_false(or_ok(&r, &ld, ON_PROTECT)); /* on bus1 it is losing psu0 instead */
    /* Smaller loads: each bus survives alone, wherever the relay sits. */
    hand_set_alloc(&r, 0, 500);
    hand_set_alloc(&r, 1, 500);
    load_from_rack(&r, &ld);
    assert_false(
        or_protected(&r, &ld, true, true)); /* losing psu1 still leaves bus1 with nothing */
    r.psus[1].rated_mw = 0;
    r.psus[1].health = RACK_PSU_FAILED;
    /* psu1 dead: the relay must be on bus1 now; OK finds that routing. */
    assert_false(or_feasible_now(&r, &ld));
    assert_true(or_ok(&r, &ld, ON_SERVE));
    rack_free(&r);
}

static void test_oracle_excluded_server(void **state)
{
    (void)state;
    struct rack r;
    struct oload ld;
    hand_rack(&r, 2, 2, RACK_PROT_NN);
    hand_psu(&r, 2000, 0, 1u << 0, 0, RACK_SWITCH_FET);
    hand_psu(&r, 2000, 1, 1u << 1, 1, RACK_SWITCH_FET);
    hand_server(&r, 500, 1, 1u << 0); /* single-bus: bus0 or feed0 lost takes it */
    hand_server(&r, 500, 1, 0x3);
    load_from_rack(&r, &ld);
    assert_true(or_excluded(&r, 0, &(struct ofail){OF_BUS, 0, false}));
    assert_true(or_excluded(&r, 0, &(struct ofail){OF_FEED, 0, false}));
    assert_false(or_excluded(&r, 0, &(struct ofail){OF_BUS, 1, false}));
    assert_false(or_excluded(&r, 1, &(struct ofail){OF_BUS, 0, false}));
    assert_true(or_protected(&r, &ld, true, true));
    assert_true(or_redundancy_lost(&r, &ld));
    /* what the rack reports: the single-bus server does not survive losing
     * bus0, so the rack is not protected (nobody is shed for it) */
    assert_false(or_protected(&r, &ld, true, false));
    assert_true(or_ok(&r, &ld, ON_PROTECT));
    /* The dual-wired server must still survive on one side. */
    hand_set_alloc(&r, 1, 2500);
    load_from_rack(&r, &ld);
    assert_true(or_feasible_now(&r, &ld));
    assert_false(or_protected(&r, &ld, true, true));
    /* Not drawing: nothing is lost. */
    hand_set_alloc(&r, 1, 500);
    r.servers[0].state = RACK_SRV_SHED;
    load_from_rack(&r, &ld);
    assert_false(or_redundancy_lost(&r, &ld));
    /* Under n+1 only PSUs fail: psu0 alone takes the single-bus server. */
    r.protection = RACK_PROT_N1;
    r.servers[0].state = RACK_SRV_ON;
    load_from_rack(&r, &ld);
    assert_true(or_redundancy_lost(&r, &ld));
    rack_free(&r);
}

/* n+n is each feed and each bus, not each PSU. One feed, two PSUs: losing
 * the feed leaves nothing that could reach the server (excluded, redundancy
 * lost) and nothing else in the set fails it, though losing one PSU would
 * leave 1000 W for 1500 W: that is n+1's business. */
static void test_oracle_nn_is_feeds_and_buses(void **state)
{
    (void)state;
    struct rack r;
    struct oload ld;
    hand_rack(&r, 1, 1, RACK_PROT_NN);
    hand_psu(&r, 1000, 0, 1u, 0, RACK_SWITCH_FET);
    hand_psu(&r, 1000, 0, 1u, 0, RACK_SWITCH_FET);
    hand_server(&r, 1500, 1, 1u);
    load_from_rack(&r, &ld);
    assert_true(or_excluded(&r, 0, &(struct ofail){OF_FEED, 0, false}));
    assert_false(or_excluded(&r, 0, &(struct ofail){OF_PSU, 0, false}));
    assert_true(or_redundancy_lost(&r, &ld));
    assert_true(or_protected(&r, &ld, true, true));
    assert_false(or_protected(&r, &ld, true, false));
    r.protection = RACK_PROT_N1;
    load_from_rack(&r, &ld);
    assert_false(or_protected(&r, &ld, true, true));
    hand_set_alloc(&r, 0, 1000);
    load_from_rack(&r, &ld);
    assert_true(or_protected(&r, &ld, true, true));
    rack_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Random racks and timelines                                               */
/* ------------------------------------------------------------------------ */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
    return splitmix64_next(&g->s);
}

/* Uniform in [lo, hi]. */
static int64_t rng_range(struct rng *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(g) % (uint64_t)(hi - lo + 1));
}

static bool rng_chance(struct rng *g, int percent)
{
    return rng_range(g, 0, 99) < percent;
}

static uint32_t rng_mask(struct rng *g, int nbits)
{
    uint32_t all = (1u << nbits) - 1;
    if (rng_chance(g, 40))
        return all;
    uint32_t m;
    do
        m = (uint32_t)rng_next(g) & all;
    while (m == 0);
    return m;
}

static int rng_bit(struct rng *g, uint32_t m)
{
    int n = __builtin_popcount(m);
    int k = (int)rng_range(g, 0, n - 1);
    for (int b = 0; b < 32; b++)
        if ((m >> b & 1u) && k-- == 0)
            return b;
    return -1;
}

static const int64_t psu_watts[] = {500, 800, 1000, 1500, 2000, 3000};

/* RP_PROPERTY_LARGE=1: racks up to the oracle's limits (4 buses, 8 PSUs, 16
 * servers) instead of 3, 5 and 8; slower, for runs beyond CI's. */
static bool large_racks;
static bool trace; /* RP_PROPERTY_TRACE */

static void gen_rack(struct rng *g, struct rack *r)
{
    rack_init(r);
    snprintf(r->name, sizeof(r->name), "prop");
    r->nbuses = (int)rng_range(g, 1, large_racks ? OR_MAX_BUSES : 3);
    r->nfeeds = (int)rng_range(g, 1, 2);
    for (int b = 0; b < r->nbuses; b++)
        snprintf(r->buses[b], RACK_ID_LEN, "bus%d", b);
    for (int f = 0; f < r->nfeeds; f++)
        snprintf(r->feeds[f], RACK_ID_LEN, "feed%d", f);
    int p = (int)rng_range(g, 0, 9);
    r->protection = p < 2 ? RACK_PROT_NONE : p < 6 ? RACK_PROT_N1 : RACK_PROT_NN;
    r->on_loss = rng_chance(g, 70) ? RACK_ON_LOSS_SHED : RACK_ON_LOSS_HOLD;
    r->on_predicted = rng_chance(g, 15) ? RACK_PREDICTED_SHED : RACK_PREDICTED_KEEP;
    r->restore_after_ns = rng_chance(g, 25) ? 0 : rng_range(g, 1, 30) * 1000000000LL;

    r->npsus = (int)rng_range(g, 1, large_racks ? 8 : 5);
    r->psus = calloc((size_t)r->npsus, sizeof(*r->psus));
    assert_non_null(r->psus);
    int nw = (int)(sizeof(psu_watts) / sizeof(psu_watts[0]));
    bool uniform = rng_chance(g, 70);
    int64_t w = psu_watts[rng_range(g, 0, nw - 1)];
    for (int i = 0; i < r->npsus; i++) {
        struct rack_psu *q = &r->psus[i];
        snprintf(q->id, RACK_ID_LEN, "psu%d", i);
        q->rated_mw = (uniform ? w : psu_watts[rng_range(g, 0, nw - 1)]) * 1000;
        q->feed = rng_chance(g, 70) ? i % r->nfeeds : (int)rng_range(g, 0, r->nfeeds - 1);
        q->wired = rng_mask(g, r->nbuses);
        q->bus = rng_bit(g, q->wired);
        q->sw = rng_chance(g, 85) ? RACK_SWITCH_FET : RACK_SWITCH_RELAY;
        q->switch_ns = rack_switch_default_ns(q->sw);
        q->health = RACK_PSU_OK;
    }

    r->nservers = (int)rng_range(g, 1, large_racks ? OR_MAX_SERVERS : 8);
    r->servers = calloc((size_t)r->nservers, sizeof(*r->servers));
    assert_non_null(r->servers);
    for (int s = 0; s < r->nservers; s++) {
        struct rack_server *v = &r->servers[s];
        snprintf(v->id, RACK_ID_LEN, "srv%d", s);
        v->power_mw = rng_range(g, 2, 30) * 50 * 1000;
        v->min_mw = rng_chance(g, 40) ? v->power_mw * rng_range(g, 3, 9) / 10 : v->power_mw;
        v->priority = (int)rng_range(g, 1, 4);
        v->wired = rng_mask(g, r->nbuses);
        v->chassis = -1;
        v->state = RACK_SRV_OFF;
        v->draw_mw = -1;
        v->on_draw_mw = -1;
    }
}

/* What the oracle remembers of power lost without a decision, per server
 * (docs/policy.md, "Power lost without a decision"); INT64_MIN: none. */
struct oloss {
    int losses[OR_MAX_SERVERS];      /* losses in a row */
    int64_t lost_ns[OR_MAX_SERVERS]; /* the last loss */
    int64_t back_end_ns[OR_MAX_SERVERS];
};

/* restore_after, at least 5 s, for the first loss, doubled for each loss in
 * a row, at most 16 times that: the doc's rule, not policy_loss_backoff_ns. */
static int64_t or_loss_backoff_ns(int64_t restore_after_ns, int n)
{
    int64_t base = restore_after_ns > 5000000000LL ? restore_after_ns : 5000000000LL;
    int doublings = n - 1 < 4 ? n - 1 : 4;
    return base << doublings;
}

#define OR_LOSS_WINDOW_NS (10 * 60 * 1000000000LL)

/* In its back-off at now: not to be restored yet. */
static bool or_backing_off(const struct oloss *ol, int s, int64_t now)
{
    return ol->back_end_ns[s] != INT64_MIN && now < ol->back_end_ns[s];
}

/* The oracle's own record of an input that the policy accepted, applied
 * with the rack as it was before the call. */
static void or_loss_input(struct oloss *ol, const struct rack *b, const struct policy_input *in,
                          int64_t now)
{
    int s = in->index;
    if ((in->kind == POLICY_POWER_OFF || in->kind == POLICY_REMOVE) &&
        b->servers[s].state != RACK_SRV_OFF)
        ol->back_end_ns[s] = INT64_MIN; /* a new request is a new request */
    if (in->kind != POLICY_LOST_POWER || !rack_server_draws(&b->servers[s]))
        return;
    /* in a row: less than 10 min after the previous back-off's end */
    bool in_row = ol->losses[s] > 0 &&
                  now < ol->lost_ns[s] + or_loss_backoff_ns(b->restore_after_ns, ol->losses[s]) +
                            OR_LOSS_WINDOW_NS;
    ol->losses[s] = in_row ? ol->losses[s] + 1 : 1;
    ol->lost_ns[s] = now;
    ol->back_end_ns[s] = now + or_loss_backoff_ns(b->restore_after_ns, ol->losses[s]);
}

static void gen_input(struct rng *g, const struct rack *r, const struct oloss *ol,
                      struct policy_input *in)
{
    static const struct {
        enum policy_input_kind kind;
        int weight;
    } w[] = {
        {POLICY_POWER_ON, 40},   {POLICY_POWER_OFF, 8},   {POLICY_REMOVE, 4},
        {POLICY_PSU_FAIL, 10},   {POLICY_PSU_DEGRADE, 6}, {POLICY_PSU_REPAIR, 8},
        {POLICY_BUS_FAIL, 4},    {POLICY_BUS_REPAIR, 4},  {POLICY_FEED_FAIL, 4},
        {POLICY_FEED_REPAIR, 4}, {POLICY_REPORT, 8},      {POLICY_PSU_UNKNOWN, 10},
        {POLICY_LOST_POWER, 8},  {POLICY_PSU_AT_RISK, 6}, {POLICY_PSU_RISK_CLEAR, 4},
    };
    int total = 0;
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
        total += w[i].weight;
    int x = (int)rng_range(g, 0, total - 1);
    size_t k = 0;
    while (x >= w[k].weight)
        x -= w[k++].weight;
    memset(in, 0, sizeof(*in));
    in->kind = w[k].kind;
    switch (in->kind) {
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
        in->index = (int)rng_range(g, 0, r->nservers - 1);
        break;
    case POLICY_LOST_POWER: {
        /* a server that draws, one that lost power before when it can (a
         * loss in a row), and now and then any server (ignored unless it draws) */
        int draws[OR_MAX_SERVERS], nd = 0, again[OR_MAX_SERVERS], na = 0;
        for (int s = 0; s < r->nservers; s++) {
            if (!rack_server_draws(&r->servers[s]))
                continue;
            draws[nd++] = s;
            if (ol->losses[s] > 0)
                again[na++] = s;
        }
        if (na > 0 && rng_chance(g, 50))
            in->index = again[rng_range(g, 0, na - 1)];
        else if (nd > 0 && !rng_chance(g, 20))
            in->index = draws[rng_range(g, 0, nd - 1)];
        else
            in->index = (int)rng_range(g, 0, r->nservers - 1);
        break;
    }
    case POLICY_REPORT:
        in->index = (int)rng_range(g, 0, r->nservers - 1);
        /* up to three times its power: over-draw is planned at the draw */
        in->watts_mw = r->servers[in->index].power_mw * rng_range(g, 0, 30) / 10;
        break;
    case POLICY_PSU_DEGRADE:
        in->index = (int)rng_range(g, 0, r->npsus - 1);
        in->watts_mw = r->psus[in->index].rated_mw * rng_range(g, 2, 9) / 10;
        break;
    case POLICY_PSU_FAIL:
    case POLICY_PSU_REPAIR:
    case POLICY_PSU_UNKNOWN:
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
        in->index = (int)rng_range(g, 0, r->npsus - 1);
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        in->index = (int)rng_range(g, 0, r->nbuses - 1);
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        in->index = (int)rng_range(g, 0, r->nfeeds - 1);
        break;
    case POLICY_TICK:
    case POLICY_OUTAGE_STOP: /* not generated here: test_outage_property.c */
    case POLICY_OUTAGE_RELEASE:
        break;
    }
    /* Now and then an input naming nothing: must fail and change nothing. */
    if (rng_chance(g, 2) && in->kind != POLICY_TICK)
        in->index = rng_chance(g, 50) ? -1 : 40;
}

static bool is_health_input(enum policy_input_kind k)
{
    return k == POLICY_PSU_FAIL || k == POLICY_PSU_DEGRADE || k == POLICY_PSU_REPAIR ||
           k == POLICY_PSU_UNKNOWN || k == POLICY_PSU_AT_RISK || k == POLICY_PSU_RISK_CLEAR ||
           k == POLICY_BUS_FAIL || k == POLICY_BUS_REPAIR || k == POLICY_FEED_FAIL ||
           k == POLICY_FEED_REPAIR;
}

static bool input_valid(const struct rack *r, const struct policy_input *in)
{
    int n = 0;
    switch (in->kind) {
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
    case POLICY_REPORT:
    case POLICY_LOST_POWER:
        n = r->nservers;
        break;
    case POLICY_PSU_FAIL:
    case POLICY_PSU_DEGRADE:
    case POLICY_PSU_REPAIR:
    case POLICY_PSU_UNKNOWN:
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
        n = r->npsus;
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        n = r->nbuses;
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        n = r->nfeeds;
        break;
    case POLICY_OUTAGE_STOP:
    case POLICY_OUTAGE_RELEASE:
        n = r->nservers;
        break;
    case POLICY_TICK:
        return true;
    }
    return in->index >= 0 && in->index < n;
}

#define MAX_STEPS 64

enum inv {
    INV_RC,
    INV_UNCHANGED,
    INV_ACTIONS,
    INV_CONSISTENT,
    INV_APPLIED,
    INV_I1,
    INV_I2,
    INV_I2_SHED,
    INV_I3,
    INV_I4,
    INV_I5,
    INV_I6,
    INV_I7,
    INV_I8,
    INV_I9,
    INV_I10,
    INV_I11,
    INV_I12,
    INV_I13,
    INV_I14,
    INV_LOST,
    INV_TICK,
    INV_COUNT,
};

static const char *const inv_names[INV_COUNT] = {
    "R: policy_handle result",
    "E: input naming nothing changed the rack",
    "A: actions",
    "C: allocation/switch consistency",
    "P: input not applied, or the rack's shape changed",
    "I1: feasible now",
    "I2: is_protected/redundancy_lost flags",
    "I2: on_loss shed but not protected",
    "I3: strict priority",
    "I4: least shedding",
    "I5: waiting server fits",
    "I6 (extra): restore after stability",
    "I7 (extra): grant keeps protection",
    "I8 (extra): grant respects held places",
    "I9: psu_unknown cuts nobody, keeps serving",
    "I10: grant while a more important server could come back",
    "I11: a PSU stranded on a dead bus",
    "I12: restored before its back-off after lost power",
    "I13: psu_at_risk cuts nobody (on_predicted_failure keep)",
    "I14: drained while the rack is not protected without it",
    "L: lost_power not shed, or not ignored",
    "T: tick deadline does not advance",
};

struct prop {
    uint64_t seed;
    bool keep_going;
    int counts[INV_COUNT];
    bool reported[INV_COUNT];
    long calls, oks;
    long behind;          /* waiting requests judged behind a held server that could come back */
    long held_grants;     /* grants checked by I10 while a more important server was held */
    long lost;            /* lost_power inputs that shed a drawing server */
    long lost_ignored;    /* lost_power inputs for a server that drew nothing */
    long lost_in_row[6];  /* losses by their count in a row (5: 5 or more) */
    long backing_off;     /* servers checked by I12 at an event during their back-off */
    long back_after_loss; /* servers that came back (restore) after a back-off */
    long exempt;          /* I3/I6 checks skipped for a server in its back-off */
    long at_risk_seen;    /* PSUs predicted to fail seen after a call */
    long drained;         /* calls after which one was drained (checked by I14) */
};

/* One rack's run: what is needed to report a failure so it replays. */
struct run {
    struct prop *pp;
    int iter;
    uint64_t iter_seed;
    struct policy_input inputs[MAX_STEPS];
    int64_t times[MAX_STEPS];
    int ninputs;
    const struct rack *before;
    const struct policy_actions *acts;
    bool failed;
    int64_t now;       /* the time of the call being checked */
    struct oloss loss; /* the oracle's record of lost power */
};

__attribute__((format(printf, 4, 5))) static void prop_fail(struct run *run, const struct rack *r,
                                                            enum inv inv, const char *fmt, ...)
{
    struct prop *pp = run->pp;
    pp->counts[inv]++;
    if (run->failed)
        return;
    run->failed = true;
    if (pp->reported[inv]) {
        /* One line for the others, so a keep-going run can be sorted. */
        va_list ap;
        va_start(ap, fmt);
        printf("  also: iteration %d %s: ", run->iter, inv_names[inv]);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        return;
    }
    pp->reported[inv] = true;
    FILE *o = stdout;
    fprintf(o, "\n=== property failure: %s\n", inv_names[inv]);
    fprintf(o,
            "  seed %" PRIu64 " iteration %d (replay: RP_PROPERTY_SEED=%" PRIu64
            " RP_PROPERTY_FIRST=%d RP_PROPERTY_ITERS=1)\n",
            pp->seed, run->iter, pp->seed, run->iter);
    va_list ap;
    va_start(ap, fmt);
    fprintf(o, "  ");
    vfprintf(o, fmt, ap);
    va_end(ap);
    fprintf(o, "\n  inputs so far (the last one is the failing call):\n");
    for (int i = 0; i < run->ninputs; i++)
        dump_input(o, &run->inputs[i], run->times[i]);
    if (run->before) {
        fprintf(o, "  rack before the call:\n");
        dump_rack(o, run->before);
    }
    if (run->acts) {
        fprintf(o, "  actions of the call:\n");
        dump_actions(o, run->acts);
    }
    fprintf(o, "  rack after the call:\n");
    dump_rack(o, r);
    fflush(o);
}

static bool ok_counted(struct run *run, const struct rack *r, const struct oload *ld,
                       enum oneed need)
{
    run->pp->oks++;
    return or_ok(r, ld, need);
}

static void check_actions(struct run *run, const struct rack *b, const struct rack *r,
                          const struct policy_input *in, const struct policy_actions *a)
{
    bool draws[OR_MAX_SERVERS];
    int pos[OR_MAX_PSUS];
    for (int s = 0; s < b->nservers; s++)
        draws[s] = rack_server_draws(&b->servers[s]);
    for (int i = 0; i < b->npsus; i++)
        pos[i] = b->psus[i].bus;
    int last_prot = -1;
    int left = -1; /* a PSU that left every bus, the first */
    for (size_t k = 0; k < a->n; k++) {
        const struct policy_action *x = &a->v[k];
        bool about_server = x->kind != POLICY_ACT_SWITCH && x->kind != POLICY_ACT_PROTECTION &&
                            x->kind != POLICY_ACT_IGNORED;
        if (about_server && (x->server < 0 || x->server >= r->nservers)) {
            prop_fail(run, r, INV_ACTIONS, "action %zu (%s) names server %d", k,
                      action_name(x->kind), x->server);
            return;
        }
        switch (x->kind) {
        case POLICY_ACT_GRANT: {
            bool later = false;
            for (size_t j = k + 1; j < a->n; j++)
                if (a->v[j].server == x->server)
                    later = true;
            if (!later && !rack_server_draws(&r->servers[x->server]))
                prop_fail(run, r, INV_ACTIONS, "grant of srv%d, which is %s after the call",
                          x->server, rack_server_state_name(r->servers[x->server].state));
            draws[x->server] = true;
            break;
        }
        case POLICY_ACT_RESTORE:
        case POLICY_ACT_CAP:
            draws[x->server] = true;
            break;
        case POLICY_ACT_SHED:
            if (!draws[x->server])
                prop_fail(run, r, INV_ACTIONS, "action %zu sheds srv%d, which was not drawing", k,
                          x->server);
            draws[x->server] = false;
            break;
        case POLICY_ACT_RELEASE:
        case POLICY_ACT_WAIT:
            draws[x->server] = false;
            break;
        case POLICY_ACT_SWITCH:
            if (x->psu < 0 || x->psu >= r->npsus) {
                prop_fail(run, r, INV_ACTIONS, "switch names psu %d", x->psu);
                return;
            }
            /* off every bus (-1) only to drain a PSU predicted to fail */
            if (x->to_bus == -1
                    ? !r->psus[x->psu].at_risk
                    : !or_bus_valid(r, x->to_bus) || !(r->psus[x->psu].wired >> x->to_bus & 1u))
                prop_fail(run, r, INV_ACTIONS, "switch psu%d to bus %d, not in its wired mask%s",
                          x->psu, x->to_bus, x->to_bus == -1 ? " (and not predicted to fail)" : "");
            if (x->from_bus != pos[x->psu])
                prop_fail(run, r, INV_ACTIONS, "switch psu%d from bus %d, but it was on bus %d",
                          x->psu, x->from_bus, pos[x->psu]);
            /* make before break: a PSU leaves every bus only once the others
             * have joined theirs */
            if (x->to_bus >= 0 && left >= 0)
                prop_fail(run, r, INV_ACTIONS,
                          "switch psu%d onto bus %d after psu%d left every bus (break before make)",
                          x->psu, x->to_bus, left);
            if (x->to_bus == -1 && x->from_bus >= 0 && !r->bus_failed[x->from_bus] && left < 0)
                left = x->psu;
            pos[x->psu] = x->to_bus;
            break;
        case POLICY_ACT_PROTECTION:
            last_prot = (int)k;
            break;
        case POLICY_ACT_IGNORED:
        case POLICY_ACT_STAGE: /* never made by policy_handle */
        case POLICY_ACT_SOFT_OFF:
        case POLICY_ACT_STANDBY:
        case POLICY_ACT_WAKE:
        case POLICY_ACT_SHARE:
            break;
        }
    }
    for (int i = 0; i < r->npsus; i++)
        if (pos[i] != r->psus[i].bus)
            prop_fail(run, r, INV_ACTIONS, "psu%d is on bus %d, the switch actions say %d", i,
                      r->psus[i].bus, pos[i]);
    for (int s = 0; s < r->nservers; s++) {
        bool gone = (in->kind == POLICY_POWER_OFF || in->kind == POLICY_REMOVE) && in->index == s;
        if (!gone && draws[s] != rack_server_draws(&r->servers[s]))
            prop_fail(run, r, INV_ACTIONS, "srv%d is %s (was %s), the actions say %s", s,
                      rack_server_state_name(r->servers[s].state),
                      rack_server_state_name(b->servers[s].state),
                      draws[s] ? "drawing" : "not drawing");
    }
    bool changed = b->is_protected != r->is_protected || b->redundancy_lost != r->redundancy_lost;
    if (changed && last_prot < 0)
        prop_fail(run, r, INV_ACTIONS, "protection changed (%d/%d -> %d/%d) without an action",
                  b->is_protected, b->redundancy_lost, r->is_protected, r->redundancy_lost);
    if (last_prot >= 0 && (a->v[last_prot].is_protected != r->is_protected ||
                           a->v[last_prot].redundancy_lost != r->redundancy_lost))
        prop_fail(run, r, INV_ACTIONS, "last protection action says %d/%d, the rack %d/%d",
                  a->v[last_prot].is_protected, a->v[last_prot].redundancy_lost, r->is_protected,
                  r->redundancy_lost);
}

static void check_consistent(struct run *run, const struct rack *r)
{
    char b1[32], b2[32], b3[32];
    for (int s = 0; s < r->nservers; s++) {
        const struct rack_server *v = &r->servers[s];
        bool ok;
        switch (v->state) {
        case RACK_SRV_ON:
            ok = v->alloc_mw == v->power_mw;
            break;
        case RACK_SRV_CAPPED:
            ok = v->min_mw <= v->alloc_mw && v->alloc_mw < v->power_mw;
            break;
        default:
            ok = v->alloc_mw == 0;
            break;
        }
        if (!ok)
            prop_fail(run, r, INV_CONSISTENT, "srv%d %s with alloc %s (power %s, min %s)", s,
                      rack_server_state_name(v->state), fmt_w(b1, sizeof(b1), v->alloc_mw),
                      fmt_w(b2, sizeof(b2), v->power_mw), fmt_w(b3, sizeof(b3), v->min_mw));
    }
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        if (p->bus != -1 && (!or_bus_valid(r, p->bus) || !(p->wired >> p->bus & 1u)))
            prop_fail(run, r, INV_CONSISTENT, "psu%d on bus %d, not in its wired mask", i, p->bus);
    }
}

/* The input took effect on its target, and nothing else of the rack's
 * shape or health moved. */
static void check_applied(struct run *run, const struct rack *b, const struct rack *r,
                          const struct policy_input *in)
{
    int i = in->index;
    for (int k = 0; k < r->npsus; k++) {
        const struct rack_psu *p = &r->psus[k], *q = &b->psus[k];
        bool target = (in->kind == POLICY_PSU_FAIL || in->kind == POLICY_PSU_DEGRADE ||
                       in->kind == POLICY_PSU_REPAIR || in->kind == POLICY_PSU_UNKNOWN ||
                       in->kind == POLICY_PSU_AT_RISK || in->kind == POLICY_PSU_RISK_CLEAR) &&
                      k == i;
        if (p->rated_mw != q->rated_mw || p->feed != q->feed || p->wired != q->wired ||
            p->switch_ns != q->switch_ns ||
            (!target && (p->health != q->health || p->derated_mw != q->derated_mw ||
                         p->at_risk != q->at_risk)))
            prop_fail(run, r, INV_APPLIED, "psu%d changed its shape or health", k);
    }
    for (int k = 0; k < r->nservers; k++) {
        const struct rack_server *v = &r->servers[k], *w = &b->servers[k];
        if (v->power_mw != w->power_mw || v->min_mw != w->min_mw || v->priority != w->priority ||
            v->wired != w->wired)
            prop_fail(run, r, INV_APPLIED, "srv%d changed its shape", k);
    }
    for (int k = 0; k < r->nbuses; k++)
        if (r->bus_failed[k] != b->bus_failed[k] &&
            !((in->kind == POLICY_BUS_FAIL || in->kind == POLICY_BUS_REPAIR) && k == i))
            prop_fail(run, r, INV_APPLIED, "bus%d changed", k);
    for (int k = 0; k < r->nfeeds; k++)
        if (r->feed_failed[k] != b->feed_failed[k] &&
            !((in->kind == POLICY_FEED_FAIL || in->kind == POLICY_FEED_REPAIR) && k == i))
            prop_fail(run, r, INV_APPLIED, "feed%d changed", k);
    bool ok = true;
    switch (in->kind) {
    case POLICY_POWER_ON:
        ok = b->servers[i].state != RACK_SRV_OFF || r->servers[i].state != RACK_SRV_OFF;
        break;
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
        ok = r->servers[i].state == RACK_SRV_OFF && r->servers[i].on_draw_mw == -1;
        break;
    case POLICY_REPORT:
        /* a report while granted is what it draws when on */
        ok = r->servers[i].draw_mw == in->watts_mw &&
             (!rack_server_draws(&b->servers[i]) || in->watts_mw == 0 ||
              r->servers[i].on_draw_mw == in->watts_mw);
        break;
    case POLICY_LOST_POWER:
        /* shed, and not back in the same call: its back-off is at least 5 s */
        ok = !rack_server_draws(&r->servers[i]) || !rack_server_draws(&b->servers[i]);
        break;
    case POLICY_PSU_FAIL:
        ok = r->psus[i].health == RACK_PSU_FAILED;
        break;
    case POLICY_PSU_DEGRADE:
        ok = r->psus[i].health == RACK_PSU_DEGRADED && r->psus[i].derated_mw == in->watts_mw;
        break;
    case POLICY_PSU_REPAIR:
        ok = r->psus[i].health == RACK_PSU_OK;
        break;
    case POLICY_PSU_UNKNOWN: {
        /* I9: it keeps serving what it served when last read; a failed PSU
         * stays failed */
        const struct rack_psu *p = &r->psus[i], *q = &b->psus[i];
        int64_t was = q->health == RACK_PSU_OK       ? q->rated_mw
                      : q->health == RACK_PSU_FAILED ? 0
                                                     : q->derated_mw;
        ok = p->health == (q->health == RACK_PSU_FAILED ? RACK_PSU_FAILED : RACK_PSU_UNKNOWN) &&
             rack_psu_health_mw(p) == was;
        if (!ok)
            prop_fail(run, r, INV_I9, "psu%d %s -> %s, delivering %" PRId64 " mW (was %" PRId64 ")",
                      i, rack_psu_health_name(q->health), rack_psu_health_name(p->health),
                      rack_psu_health_mw(p), was);
        break;
    }
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
        ok = r->psus[i].at_risk == (in->kind == POLICY_PSU_AT_RISK) &&
             r->psus[i].health == b->psus[i].health;
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        ok = r->bus_failed[i] == (in->kind == POLICY_BUS_FAIL);
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        ok = r->feed_failed[i] == (in->kind == POLICY_FEED_FAIL);
        break;
    case POLICY_TICK:
    case POLICY_OUTAGE_STOP: /* not generated here: test_outage_property.c */
    case POLICY_OUTAGE_RELEASE:
        break;
    }
    if (!ok)
        prop_fail(run, r, INV_APPLIED, "%s did not take effect", input_name(in->kind));
}

static bool racks_equal(const struct rack *a, const struct rack *b);

/* L: lost_power sheds a server that draws and ignores one that does not.
 * I12: no server that lost power is restored before its back-off ends (the
 * oracle's record, already updated with this call's input). */
static void check_lost(struct run *run, const struct rack *b, const struct rack *r,
                       const struct policy_input *in, const struct policy_actions *a)
{
    struct prop *pp = run->pp;
    if (in->kind == POLICY_LOST_POWER) {
        int s = in->index;
        if (!rack_server_draws(&b->servers[s])) {
            pp->lost_ignored++;
            if (!racks_equal(b, r) || a->n != 1 || a->v[0].kind != POLICY_ACT_IGNORED)
                prop_fail(run, r, INV_LOST,
                          "lost_power for srv%d (%s) changed the rack or did more than ignore it",
                          s, rack_server_state_name(b->servers[s].state));
        } else {
            pp->lost++;
            int n = run->loss.losses[s];
            pp->lost_in_row[n < 5 ? n : 5]++;
            bool shed = false;
            for (size_t k = 0; k < a->n; k++)
                shed |= a->v[k].kind == POLICY_ACT_SHED && a->v[k].server == s;
            if (!shed)
                prop_fail(run, r, INV_LOST, "lost_power for drawing srv%d: no shed action", s);
        }
    }
    for (int s = 0; s < r->nservers; s++) {
        bool restored = false;
        for (size_t k = 0; k < a->n; k++)
            restored |= a->v[k].kind == POLICY_ACT_RESTORE && a->v[k].server == s;
        if (!or_backing_off(&run->loss, s, run->now)) {
            if (restored && run->loss.back_end_ns[s] != INT64_MIN) {
                pp->back_after_loss++;
                run->loss.back_end_ns[s] = INT64_MIN; /* served its back-off */
            }
            continue;
        }
        pp->backing_off++;
        if (restored || r->servers[s].state != RACK_SRV_SHED)
            prop_fail(run, r, INV_I12,
                      "srv%d is %s%s at %" PRId64 " ms, its back-off (loss %d in a row) ends at "
                      "%" PRId64 " ms",
                      s, rack_server_state_name(r->servers[s].state), restored ? " (restored)" : "",
                      run->now / 1000000, run->loss.losses[s], run->loss.back_end_ns[s] / 1000000);
    }
}

/* The invariants after one settled call; b is the rack before the call. */
static void check_step(struct run *run, const struct rack *b, const struct rack *r,
                       const struct policy_input *in, const struct policy_actions *a, bool stable)
{
    struct oload ld, x;
    load_from_rack(r, &ld);
    bool shed_mode = r->on_loss == RACK_ON_LOSS_SHED;

    check_applied(run, b, r, in);
    check_actions(run, b, r, in, a);
    check_consistent(run, r);
    check_lost(run, b, r, in, a);

    if (!or_feasible_now(r, &ld))
        prop_fail(run, r, INV_I1, "drawing servers do not fit the current switch positions");

    /* I11: no live PSU stays on a dead bus (or on none) while a live bus it
     * is wired to exists: what it could deliver is never stranded */
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        uint32_t alive = rack_alive_buses(r);
        bool on_live = q->bus >= 0 && (alive >> q->bus & 1u);
        if (q->at_risk) { /* drained before its predicted failure: I14 */
            run->pp->at_risk_seen++;
            continue;
        }
        if (rack_psu_alive(r, q) && !on_live && (q->wired & alive))
            prop_fail(run, r, INV_I11, "psu%d on bus %d (dead or none), wired to live buses 0x%x",
                      i, q->bus, q->wired & alive);
    }

    bool prot = or_protected(r, &ld, true, false);
    bool lost = or_redundancy_lost(r, &ld);
    bool fixable = or_protected(r, &ld, true, true);
    if (prot != r->is_protected || lost != r->redundancy_lost)
        prop_fail(run, r, INV_I2, "rack says is_protected %d redundancy_lost %d, oracle %d %d",
                  r->is_protected, r->redundancy_lost, prot, lost);
    /* protection lost only to unknown PSUs holds: what sheds counts them */
    enum oneed cut_need = shed_mode ? ON_PROTECT_TRUSTING : ON_SERVE;
    if (shed_mode && !fixable && !or_protected(r, &ld, false, true))
        prop_fail(run, r, INV_I2_SHED,
                  "on_loss shed, settled, not protected even counting unknown PSUs");

    /* I9: a PSU that cannot be read cuts nobody. */
    if (in->kind == POLICY_PSU_UNKNOWN) {
        struct oload lb9;
        load_from_rack(b, &lb9);
        for (int s = 0; s < r->nservers; s++)
            if (ld.alloc_mw[s] < lb9.alloc_mw[s])
                prop_fail(run, r, INV_I9, "psu_unknown cut srv%d", s);
    }

    /* I13: a prediction alone cuts nobody unless on_predicted_failure says shed. */
    if (in->kind == POLICY_PSU_AT_RISK && r->on_predicted == RACK_PREDICTED_KEEP) {
        struct oload lb13;
        load_from_rack(b, &lb13);
        for (int s = 0; s < r->nservers; s++)
            if (ld.alloc_mw[s] < lb13.alloc_mw[s])
                prop_fail(run, r, INV_I13, "psu_at_risk cut srv%d", s);
    }

    /* I14: a live PSU predicted to fail is off its buses (drained) only
     * while the rack keeps its protection without it: with the PSUs
     * predicted to fail gone, every drawing server survives every failure of
     * the protection level, trusting PSUs that cannot be read (the policy
     * asks more: it does not trust them either).
     * With on_predicted_failure shed they count as failed: off always. */
    bool drained = false;
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        drained |= q->at_risk && rack_psu_health_mw(q) > 0 && q->bus < 0 &&
                   !r->feed_failed[q->feed] && (q->wired & rack_alive_buses(r));
    }
    if (drained && r->on_predicted == RACK_PREDICTED_KEEP) {
        run->pp->drained++;
        struct rack w = *r;
        struct rack_psu ps[OR_MAX_PSUS];
        memcpy(ps, r->psus, (size_t)r->npsus * sizeof(*ps));
        for (int i = 0; i < r->npsus; i++)
            if (ps[i].at_risk) {
                ps[i].health = RACK_PSU_FAILED;
                ps[i].at_risk = false;
            }
        w.psus = ps;
        if (!or_protected(&w, &ld, false, false))
            prop_fail(
                run, r, INV_I14,
                "a PSU predicted to fail is drained but the rack is not protected without it");
    }

    /* I3: s held down while a less important t draws that would relieve it.
     * Checked at every event, the restore wait included: a held place is
     * held in time, so a change of health that leaves it short makes the
     * less important servers in its way give it up at once. The places of
     * servers more important than s come first: those that could come back
     * (and are not in a back-off) count back at full power, as the restore
     * will bring them, so a room that only they may take does not hold s
     * down. */
    struct oload lb;
    load_from_rack(b, &lb);
    bool back3[OR_MAX_SERVERS];
    for (int h = 0; h < r->nservers; h++)
        back3[h] = or_could_come_back(r, &ld, h) && !or_backing_off(&run->loss, h, run->now);
    for (int s = 0; s < r->nservers; s++) {
        const struct rack_server *sv = &r->servers[s];
        if (sv->state != RACK_SRV_SHED && sv->state != RACK_SRV_CAPPED)
            continue;
        if (or_backing_off(&run->loss, s, run->now)) {
            run->pp->exempt++; /* less important servers may draw in its room */
            continue;
        }
        bool s_cut = lb.alloc_mw[s] > ld.alloc_mw[s];
        for (int t = 0; t < r->nservers; t++) {
            const struct rack_server *tv = &r->servers[t];
            if (!rack_server_draws(tv) || tv->priority <= sv->priority)
                continue;
            bool t_raised = ld.alloc_mw[t] > lb.alloc_mw[t];
            int64_t cur = sv->state == RACK_SRV_SHED ? 0 : sv->alloc_mw;
            int64_t raise = sv->power_mw - cur < tv->alloc_mw ? sv->power_mw - cur : tv->alloc_mw;
            if (cur + raise < sv->min_mw)
                continue;
            x = ld;
            for (int h = 0; h < r->nservers; h++)
                if (back3[h] && r->servers[h].priority < sv->priority) {
                    x.draws[h] = true;
                    x.alloc_mw[h] = r->servers[h].power_mw;
                }
            x.draws[s] = true;
            x.alloc_mw[s] = cur + raise;
            /* Raising s fits without touching t: s waits for its restore, it
             * is not held down by t (I6 covers restore). */
            if (ok_counted(run, r, &x, cut_need))
                continue;
            x.draws[t] = false;
            x.alloc_mw[t] = 0;
            if (ok_counted(run, r, &x, cut_need)) {
                char b1[32];
                prop_fail(run, r, INV_I3,
                          "srv%d (prio %d, %s) would get +%s if srv%d (prio %d, drawing) were "
                          "shed (%s)",
                          s, sv->priority, rack_server_state_name(sv->state),
                          fmt_w(b1, sizeof(b1), raise), t, tv->priority,
                          s_cut      ? "this call cut it"
                          : t_raised ? "this call gave the other more"
                          : stable   ? "rack stable"
                                     : "restore wait");
            }
        }
    }

    /* I4: a server shed in this call could not have stayed on alone. In the
     * restore wait, alone beside the places held by the other shed and
     * capped servers at least as important (at full power). */
    for (int s = 0; s < r->nservers; s++) {
        const struct rack_server *sv = &r->servers[s];
        if (sv->state != RACK_SRV_SHED || b->servers[s].state == RACK_SRV_SHED)
            continue;
        if (in->kind == POLICY_LOST_POWER && in->index == s)
            continue; /* shed by no decision: it lost its power */
        x = ld;
        for (int h = 0; h < r->nservers && !stable; h++) {
            const struct rack_server *hv = &r->servers[h];
            /* in its back-off, a server that lost power holds no place
             * against the servers drawing (docs/policy.md) */
            if (h != s && (hv->state == RACK_SRV_SHED || hv->state == RACK_SRV_CAPPED) &&
                hv->priority <= sv->priority && !or_backing_off(&run->loss, h, run->now)) {
                x.draws[h] = true;
                x.alloc_mw[h] = hv->power_mw;
            }
        }
        x.draws[s] = true;
        x.alloc_mw[s] = sv->min_mw;
        if (ok_counted(run, r, &x, cut_need))
            prop_fail(run, r, INV_I4, "srv%d shed, but the rack is OK with it back at its min", s);
    }

    /* I5: a waiting server is not left waiting when no more important shed
     * or capped server could come back and it fits with the held servers
     * that could come back at full power (held that could not hold no place). */
    bool back[OR_MAX_SERVERS];
    for (int s = 0; s < r->nservers; s++)
        back[s] = or_could_come_back(r, &ld, s);
    for (int w = 0; w < r->nservers; w++) {
        const struct rack_server *wv = &r->servers[w];
        if (wv->state != RACK_SRV_WAITING)
            continue;
        bool behind = false;
        for (int s = 0; s < r->nservers; s++)
            behind |= back[s] && r->servers[s].priority < wv->priority;
        if (behind) {
            run->pp->behind++;
            continue;
        }
        x = ld;
        for (int s = 0; s < r->nservers; s++) {
            const struct rack_server *sv = &r->servers[s];
            if (back[s] && sv->priority <= wv->priority) {
                x.draws[s] = true;
                x.alloc_mw[s] = sv->power_mw;
            }
        }
        x.draws[w] = true;
        x.alloc_mw[w] = wv->power_mw;
        if (ok_counted(run, r, &x, ON_PROTECT))
            prop_fail(run, r, INV_I5,
                      "srv%d (prio %d) waits, but fits protected with its betters back", w,
                      wv->priority);
    }

    /* I10, at every event: no less important server is granted while a
     * more important one that could come back is shed or capped. */
    for (int g = 0; g < r->nservers; g++) {
        const struct rack_server *gv = &r->servers[g];
        enum rack_server_state was = b->servers[g].state;
        if ((was != RACK_SRV_OFF && was != RACK_SRV_WAITING) || !rack_server_draws(gv))
            continue;
        for (int h = 0; h < r->nservers; h++)
            if ((r->servers[h].state == RACK_SRV_SHED || r->servers[h].state == RACK_SRV_CAPPED) &&
                r->servers[h].priority < gv->priority) {
                run->pp->held_grants++;
                break;
            }
        for (int h = 0; h < r->nservers; h++)
            if (back[h] && r->servers[h].priority < gv->priority) {
                prop_fail(run, r, INV_I10,
                          "srv%d (prio %d) granted while srv%d (prio %d, %s) could come back", g,
                          gv->priority, h, r->servers[h].priority,
                          rack_server_state_name(r->servers[h].state));
                break;
            }
    }

    /* I6: once stable for restore_after, no shed or capped server could come
     * back alone (protected). */
    if (stable) {
        for (int s = 0; s < r->nservers; s++) {
            const struct rack_server *sv = &r->servers[s];
            if (sv->state != RACK_SRV_SHED && sv->state != RACK_SRV_CAPPED)
                continue;
            if (or_backing_off(&run->loss, s, run->now)) {
                run->pp->exempt++; /* not restored before its back-off ends */
                continue;
            }
            x = ld;
            x.draws[s] = true;
            x.alloc_mw[s] = sv->state == RACK_SRV_SHED ? sv->min_mw : sv->power_mw;
            if (ok_counted(run, r, &x, ON_PROTECT))
                prop_fail(run, r, INV_I6, "srv%d still %s after the rack was stable, but fits back",
                          s, rack_server_state_name(sv->state));
        }
    }

    /* I7: a grant leaves the rack protected. I8: it takes nothing a shed or
     * capped server at least as important could have got back: for each
     * such holder h and level (its min if shed, its power), h at that level
     * fits without the grant but not with it. */
    for (int g = 0; g < r->nservers; g++) {
        const struct rack_server *gv = &r->servers[g];
        enum rack_server_state was = b->servers[g].state;
        if ((was != RACK_SRV_OFF && was != RACK_SRV_WAITING) || !rack_server_draws(gv))
            continue;
        if (!fixable)
            prop_fail(run, r, INV_I7,
                      "srv%d granted, but the rack is not protected after it against a failure "
                      "that shedding could fix",
                      g);
        for (int h = 0; h < r->nservers; h++) {
            const struct rack_server *hv = &r->servers[h];
            if ((hv->state != RACK_SRV_SHED && hv->state != RACK_SRV_CAPPED) ||
                hv->priority > gv->priority)
                continue;
            for (int lv = 0; lv < 2; lv++) {
                if (lv == 0 && hv->state != RACK_SRV_SHED)
                    continue;
                x = ld;
                x.draws[h] = true;
                x.alloc_mw[h] = lv == 0 ? hv->min_mw : hv->power_mw;
                if (ok_counted(run, r, &x, ON_PROTECT))
                    continue; /* h could come back with the grant too */
                x.draws[g] = false;
                x.alloc_mw[g] = 0;
                if (ok_counted(run, r, &x, ON_PROTECT)) {
                    char b1[32];
                    prop_fail(run, r, INV_I8,
                              "srv%d (prio %d) granted, but srv%d (prio %d, %s) would fit back at "
                              "%s without it",
                              g, gv->priority, h, hv->priority, rack_server_state_name(hv->state),
                              fmt_w(b1, sizeof(b1), x.alloc_mw[h]));
                    break;
                }
            }
        }
    }
}

static bool racks_equal(const struct rack *a, const struct rack *b)
{
    return a->npsus == b->npsus && a->nservers == b->nservers &&
           memcmp(a->psus, b->psus, (size_t)a->npsus * sizeof(*a->psus)) == 0 &&
           memcmp(a->servers, b->servers, (size_t)a->nservers * sizeof(*a->servers)) == 0 &&
           memcmp(a->bus_failed, b->bus_failed, sizeof(a->bus_failed)) == 0 &&
           memcmp(a->feed_failed, b->feed_failed, sizeof(a->feed_failed)) == 0 &&
           a->is_protected == b->is_protected && a->redundancy_lost == b->redundancy_lost &&
           a->next_seq == b->next_seq;
}

/* One policy_handle call and the checks after it. */
static void step(struct run *run, struct policy *pol, struct rack *r, const struct policy_input *in,
                 int64_t now, int64_t last_health)
{
    struct rack before;
    struct policy_actions acts = {0};
    char err[200] = "";
    assert_int_equal(rack_copy(&before, r), 0);
    if (run->ninputs < MAX_STEPS) {
        run->inputs[run->ninputs] = *in;
        run->times[run->ninputs] = now;
        run->ninputs++;
    }
    run->before = &before;
    run->acts = &acts;
    run->pp->calls++;
    int rc = policy_handle(pol, r, in, now, &acts, err, sizeof(err));
    if (trace) { /* RP_PROPERTY_TRACE: every call of a replay, with its actions */
        dump_input(stderr, in, now);
        dump_actions(stderr, &acts);
    }
    bool valid = input_valid(&before, in);
    if (!valid) {
        if (rc != -1)
            prop_fail(run, r, INV_RC, "input naming nothing returned %d", rc);
        if (!racks_equal(&before, r))
            prop_fail(run, r, INV_UNCHANGED, "rejected input (%s) changed the rack", err);
    } else if (rc != 0) {
        prop_fail(run, r, INV_RC, "valid input returned %d: %s", rc, err);
    } else {
        /* Stable: restore_after has passed since the last health input, and
         * the policy does not want a tick right now (it is settled). */
        bool stable = (last_health == INT64_MIN || now - last_health >= r->restore_after_ns) &&
                      policy_next_deadline(r) > now;
        run->now = now;
        or_loss_input(&run->loss, &before, in, now);
        check_step(run, &before, r, in, &acts, stable);
    }
    policy_actions_free(&acts);
    rack_free(&before);
    run->before = NULL;
    run->acts = NULL;
}

static uint64_t iter_seed(uint64_t seed, int iter)
{
    struct rng g = {seed ^ ((uint64_t)iter * 0xd1342543de82ef95ULL)};
    return rng_next(&g);
}

/* Ticks at the policy's deadlines up to `until` (a tick due at an input's time comes first). */
static void tick_until(struct run *run, struct policy *pol, struct rack *r, int64_t *now,
                       int64_t until, int64_t last_health)
{
    const struct policy_input tick = {.kind = POLICY_TICK, .index = -1};
    int64_t prev = INT64_MIN;
    for (int n = 0; !run->failed; n++) {
        int64_t d = policy_next_deadline(r);
        if (d == INT64_MAX || d > until)
            return;
        /* a tick for stability and one for each back-off's end after a loss
         * of power may fall in one interval; more is a deadline that does not
         * move on */
        if (n >= 4 + r->nservers || d <= prev) {
            prop_fail(run, r, INV_TICK,
                      "policy_next_deadline keeps answering %" PRId64 " (now %" PRId64 ")", d,
                      *now);
            return;
        }
        prev = d;
        if (d > *now)
            *now = d;
        step(run, pol, r, &tick, *now, last_health);
    }
}

static void run_one(struct prop *pp, int iter)
{
    struct run run = {.pp = pp, .iter = iter, .iter_seed = iter_seed(pp->seed, iter)};
    struct rng g = {run.iter_seed};
    for (int s = 0; s < OR_MAX_SERVERS; s++)
        run.loss.back_end_ns[s] = INT64_MIN;
    struct rack r;
    gen_rack(&g, &r);
    struct policy *pol = policy_new(&r);
    assert_non_null(pol);

    int64_t now = 1000000000LL;
    int64_t last_health = INT64_MIN;
    int n = (int)rng_range(&g, 5, 20);
    for (int i = 0; i < n && !run.failed; i++) {
        /* now and then minutes: a later loss of power is not in a row */
        int64_t t = now + (rng_chance(&g, 50)  ? rng_range(&g, 1, 2000) * 1000000LL
                           : rng_chance(&g, 5) ? rng_range(&g, 5, 15) * 60 * 1000000000LL
                                               : rng_range(&g, 1, 20) * 1000000000LL);
        tick_until(&run, pol, &r, &now, t, last_health);
        if (run.failed)
            break;
        now = t;
        struct policy_input in;
        gen_input(&g, &r, &run.loss, &in);
        if (is_health_input(in.kind) && input_valid(&r, &in))
            last_health = now;
        /* docs/policy.md: a report that raises what a drawing server counts
         * for (over-draw) restarts the restore clock like a change of health */
        if (in.kind == POLICY_REPORT && input_valid(&r, &in)) {
            const struct rack_server *v = &r.servers[in.index];
            int64_t grant = rack_server_draws(v) ? v->alloc_mw : 0;
            int64_t was = grant > 0 && v->draw_mw > grant ? v->draw_mw : grant;
            if (grant > 0 && in.watts_mw > was)
                last_health = now;
        }
        step(&run, pol, &r, &in, now, last_health);
    }
    /* Let pending restores happen, then look once more when all is stable. */
    if (!run.failed) {
        int64_t end = now + r.restore_after_ns + 1000000000LL;
        tick_until(&run, pol, &r, &now, end, last_health);
        if (!run.failed) {
            const struct policy_input tick = {.kind = POLICY_TICK, .index = -1};
            now = end;
            step(&run, pol, &r, &tick, now, last_health);
        }
    }
    policy_free(pol);
    rack_free(&r);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    return strtoull(v, NULL, 0);
}

static void test_property_random(void **state)
{
    (void)state;
    struct prop pp = {0};
    pp.seed = env_u64("RP_PROPERTY_SEED", 20240601);
    int iters = (int)env_u64("RP_PROPERTY_ITERS", 20000);
    int first = (int)env_u64("RP_PROPERTY_FIRST", 0);
    pp.keep_going = env_u64("RP_PROPERTY_KEEP_GOING", 0) != 0;
    large_racks = env_u64("RP_PROPERTY_LARGE", 0) != 0;
    trace = env_u64("RP_PROPERTY_TRACE", 0) != 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int failed_racks = 0, done = 0;
    for (int i = first; i < first + iters; i++) {
        int before = 0;
        for (int k = 0; k < INV_COUNT; k++)
            before += pp.counts[k];
        run_one(&pp, i);
        done++;
        int after = 0;
        for (int k = 0; k < INV_COUNT; k++)
            after += pp.counts[k];
        if (after > before) {
            failed_racks++;
            if (!pp.keep_going)
                break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("property: seed %" PRIu64 ", %d racks, %ld policy calls, %ld oracle OK searches, "
           "%.2f s, %d failing racks\n",
           pp.seed, done, pp.calls, pp.oks, secs, failed_racks);
    printf("  held places: %ld waits behind a server that could come back, %ld grants beside a "
           "more important held server (I10 checked)\n",
           pp.behind, pp.held_grants);
    printf("  lost power: %ld shed (by loss in a row: 1 %ld, 2 %ld, 3 %ld, 4 %ld, 5+ %ld), %ld "
           "ignored; %ld back-off checks (I12), %ld back after a back-off, %ld I3/I6 exemptions\n",
           pp.lost, pp.lost_in_row[1], pp.lost_in_row[2], pp.lost_in_row[3], pp.lost_in_row[4],
           pp.lost_in_row[5], pp.lost_ignored, pp.backing_off, pp.back_after_loss, pp.exempt);
    printf("  predicted to fail: %ld PSUs seen after a call, %ld calls left one drained (I14)\n",
           pp.at_risk_seen, pp.drained);
    for (int k = 0; k < INV_COUNT; k++)
        if (pp.counts[k])
            printf("  %-45s %d\n", inv_names[k], pp.counts[k]);
    assert_int_equal(failed_racks, 0);
    if (done >= 1000) { /* the drain is exercised, not only its absence */
        assert_true(pp.at_risk_seen > 0);
        assert_true(pp.drained > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_hall_condition),
        cmocka_unit_test(test_oracle_feasible_not_n1),
        cmocka_unit_test(test_oracle_protected_by_rerouting),
        cmocka_unit_test(test_oracle_relay_breaks_protection),
        cmocka_unit_test(test_oracle_excluded_server),
        cmocka_unit_test(test_oracle_nn_is_feeds_and_buses),
        cmocka_unit_test(test_property_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
