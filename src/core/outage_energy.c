/*
 * outage_energy.c - the energy model of an outage (docs/outage.md
 * "Physics"): what a reserve's cells give for what it delivers
 * (outage_cell_w), where the load comes from (outage_flow: flow.c's max-flow,
 * continued tier by tier), and time passing (outage_discharge); on the rack
 * or on the planner's what-if of it (struct outage_view).
 */
#include "outage_energy.h"

#include <math.h>
#include <string.h>

#include "flow.h"

/* Where a reserve delivers: a bus (through the bus bar), a server (its own
 * input), or a feed (a ups behind its PSUs). */
enum reserve_place { PLACE_BUS, PLACE_SERVER, PLACE_FEED };

static double view_wh(const struct outage_view *v, int k)
{
    return v->wh ? v->wh[k] : v->r->reserves[k].wh_left;
}

/* Where reserve k delivers, and the index of that bus, server or feed. */
static enum reserve_place view_place(const struct outage_view *v, int k, int *at)
{
    const struct rack_reserve *res = &v->r->reserves[k];
    int tb = v->to_bus ? v->to_bus[k] : res->to_bus;
    int ts = v->to_server ? v->to_server[k] : res->to_server;
    if (tb >= 0) {
        *at = tb;
        return PLACE_BUS;
    }
    if (ts >= 0) {
        *at = ts;
        return PLACE_SERVER;
    }
    *at = res->at;
    switch (res->kind) {
    case RACK_RESERVE_BBU:
        return PLACE_BUS;
    case RACK_RESERVE_SERVER:
        return PLACE_SERVER;
    case RACK_RESERVE_UPS:
        break;
    }
    return PLACE_FEED;
}

static bool view_live(const struct outage_view *v, int k)
{
    return view_wh(v, k) > OUTAGE_EPS_WH && v->r->reserves[k].max_w > 0;
}

void outage_view_init(struct outage_view *v, const struct rack *r)
{
    memset(v, 0, sizeof(*v));
    v->r = r;
    for (int f = 0; f < r->nfeeds && f < RACK_MAX_FEEDS; f++)
        v->feed[f] = r->feed_failed[f]       ? OUTAGE_FEED_DEAD
                     : r->feed_on_reserve[f] ? OUTAGE_FEED_RESERVE
                                             : OUTAGE_FEED_MAINS;
}

/* ---- Physics. ---- */

double outage_cell_w(const struct rack_reserve *res, double out_w)
{
    if (!(out_w > 0))
        return 0;
    double eff = res->efficiency > 0 && res->efficiency <= 1 ? res->efficiency : 1;
    double w = out_w / eff;
    /* Peukert: energy_wh holds at rated_w; above it the cells give less, as
     * if they were drained faster by (out/rated)^(k-1). Below it no bonus is
     * counted: the figures are the conservative side of the curve. */
    if (res->rated_w > 0 && out_w > res->rated_w && res->peukert > 1)
        w *= pow(out_w / res->rated_w, res->peukert - 1);
    return w;
}

double outage_runtime_s(const struct rack_reserve *res, double wh_left, double out_w)
{
    if (!(wh_left > 0))
        return 0;
    double cw = outage_cell_w(res, out_w);
    return cw > 0 ? wh_left * 3600.0 / cw : INFINITY;
}

/* ---- Where the load comes from. ---- */

double outage_view_flow(const struct outage_view *v, const double *load_w, double *reserve_w,
                        double *short_w)
{
    const struct rack *r = v->r;
    int nb = r->nbuses < RACK_MAX_BUSES ? r->nbuses : RACK_MAX_BUSES;
    double cap_m[RACK_MAX_BUSES] = {0}, cap_u[RACK_MAX_BUSES] = {0}, cap_b[RACK_MAX_BUSES] = {0};
    static const double zero_flow[RACK_MAX_BUSES];
    double psu_fb[RACK_MAX_FEEDS][RACK_MAX_BUSES];
    double ups_max[RACK_MAX_FEEDS] = {0}, feed_cap[RACK_MAX_FEEDS] = {0};
    memset(psu_fb, 0, sizeof(psu_fb));
    for (int k = 0; k < r->nreserves; k++) {
        reserve_w[k] = 0;
        int at;
        if (view_place(v, k, &at) == PLACE_FEED && at >= 0 && at < RACK_MAX_FEEDS &&
            view_live(v, k))
            ups_max[at] += r->reserves[k].max_w;
    }

    /* Tier 1, mains: PSUs on live feeds; tier 2: PSUs on feeds on reserve, no
     * more than the feed's ups reserves deliver between them. */
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        if (p->bus < 0 || p->bus >= nb || r->bus_failed[p->bus] || p->feed < 0 ||
            p->feed >= RACK_MAX_FEEDS)
            continue;
        double w = (double)rack_psu_health_mw(p) / 1000.0;
        if (w <= 0)
            continue;
        if (v->feed[p->feed] == OUTAGE_FEED_MAINS)
            cap_m[p->bus] += w;
        else if (v->feed[p->feed] == OUTAGE_FEED_RESERVE) {
            psu_fb[p->feed][p->bus] += w;
            feed_cap[p->feed] += w;
        }
    }
    for (int f = 0; f < r->nfeeds && f < RACK_MAX_FEEDS; f++) {
        double scale = feed_cap[f] > ups_max[f] ? ups_max[f] / feed_cap[f] : 1;
        for (int b = 0; b < nb; b++) {
            psu_fb[f][b] *= scale;
            cap_u[b] += psu_fb[f][b];
        }
    }
    /* Tier 3: reserves on a bus (bbu shelves, or directed there). */
    for (int k = 0; k < r->nreserves; k++) {
        int at;
        if (view_place(v, k, &at) == PLACE_BUS && at >= 0 && at < nb && !r->bus_failed[at] &&
            view_live(v, k))
            cap_b[at] += r->reserves[k].max_w;
    }

    /* Demand classes: servers with the same live buses draw as one. */
    int cls_of_mask[FLOW_MAX_CLASSES], nk = 0;
    uint32_t mask[FLOW_MAX_CLASSES];
    double dem[FLOW_MAX_CLASSES] = {0}, sent[FLOW_MAX_CLASSES] = {0};
    double flow[FLOW_MAX_CLASSES][RACK_MAX_BUSES], into[RACK_MAX_BUSES] = {0};
    uint32_t live = 0;
    for (int b = 0; b < nb; b++)
        if (!r->bus_failed[b])
            live |= 1u << b;
    for (int m = 0; m < FLOW_MAX_CLASSES; m++)
        cls_of_mask[m] = -1;
    for (int i = 0; i < r->nservers; i++) {
        uint32_t m = r->servers[i].wired & live & (FLOW_MAX_CLASSES - 1);
        if (!(load_w[i] > 0) || !m)
            continue;
        if (cls_of_mask[m] < 0) {
            cls_of_mask[m] = nk;
            mask[nk] = m;
            memcpy(flow[nk], zero_flow, sizeof(zero_flow));
            nk++;
        }
        dem[cls_of_mask[m]] += load_w[i];
    }
    double cap[RACK_MAX_BUSES] = {0};
    for (int b = 0; b < nb; b++)
        cap[b] = cap_m[b];
    flow_augment(nb, cap, nk, mask, dem, OUTAGE_EPS_W, sent, flow, into);
    for (int b = 0; b < nb; b++)
        cap[b] += cap_u[b];
    flow_augment(nb, cap, nk, mask, dem, OUTAGE_EPS_W, sent, flow, into);
    for (int b = 0; b < nb; b++)
        cap[b] += cap_b[b];
    flow_augment(nb, cap, nk, mask, dem, OUTAGE_EPS_W, sent, flow, into);

    /* Each bus takes from mains first, then its ups-fed PSUs (shared as their
     * capacity is), then its reserves (shared as their max_w is). */
    double from_u[RACK_MAX_BUSES], from_b[RACK_MAX_BUSES];
    for (int b = 0; b < nb; b++) {
        double rest = into[b] - cap_m[b];
        rest = rest > 0 ? rest : 0;
        from_u[b] = rest < cap_u[b] ? rest : cap_u[b];
        from_b[b] = rest - from_u[b] > 0 ? rest - from_u[b] : 0;
    }
    for (int k = 0; k < r->nreserves; k++) {
        int at;
        enum reserve_place pl = view_place(v, k, &at);
        if (!view_live(v, k))
            continue;
        double mw = r->reserves[k].max_w;
        if (pl == PLACE_FEED && at >= 0 && at < RACK_MAX_FEEDS && ups_max[at] > 0) {
            double feed_w = 0;
            for (int b = 0; b < nb; b++)
                if (cap_u[b] > 0)
                    feed_w += from_u[b] * psu_fb[at][b] / cap_u[b];
            reserve_w[k] = feed_w * mw / ups_max[at];
        } else if (pl == PLACE_BUS && at >= 0 && at < nb && cap_b[at] > 0 && !r->bus_failed[at]) {
            reserve_w[k] = from_b[at] * mw / cap_b[at];
        }
    }

    /* What the buses left short: each server of a class short in proportion;
     * then its own battery, or one directed to it, makes up what it can. */
    double total_short = 0;
    for (int i = 0; i < r->nservers; i++) {
        double sh = 0;
        if (load_w[i] > 0) {
            uint32_t m = r->servers[i].wired & live & (FLOW_MAX_CLASSES - 1);
            int c = m ? cls_of_mask[m] : -1;
            sh = c < 0 ? load_w[i] : load_w[i] * (1.0 - sent[c] / dem[c]);
            if (sh < OUTAGE_EPS_W)
                sh = 0;
        }
        if (sh > 0) {
            double avail = 0;
            for (int k = 0; k < r->nreserves; k++) {
                int at;
                if (view_place(v, k, &at) == PLACE_SERVER && at == i && view_live(v, k))
                    avail += r->reserves[k].max_w;
            }
            if (avail > 0) {
                double give = sh < avail ? sh : avail;
                for (int k = 0; k < r->nreserves; k++) {
                    int at;
                    if (view_place(v, k, &at) == PLACE_SERVER && at == i && view_live(v, k))
                        reserve_w[k] += give * r->reserves[k].max_w / avail;
                }
                sh -= give;
                if (sh < OUTAGE_EPS_W)
                    sh = 0;
            }
        }
        if (short_w)
            short_w[i] = sh;
        total_short += sh;
    }
    return total_short;
}

double outage_flow(const struct rack *r, const double *load_w, double *reserve_w, double *short_w)
{
    struct outage_view v;
    outage_view_init(&v, r);
    return outage_view_flow(&v, load_w, reserve_w, short_w);
}

double outage_view_advance(struct outage_view *v, double *wh, const double *load_w, double dt_s,
                           double *reserve_w)
{
    const struct rack *r = v->r;
    double taken = 0, left = dt_s;
    v->wh = wh;
    for (int piece = 0; piece <= r->nreserves + 1; piece++) {
        outage_view_flow(v, load_w, reserve_w, NULL);
        if (!(left > 0))
            break;
        double step = left;
        int first = -1;
        for (int k = 0; k < r->nreserves; k++) {
            double cw = outage_cell_w(&r->reserves[k], reserve_w[k]);
            if (cw > 0 && wh[k] * 3600.0 / cw < step) {
                step = wh[k] * 3600.0 / cw;
                first = k;
            }
        }
        for (int k = 0; k < r->nreserves; k++) {
            double use = outage_cell_w(&r->reserves[k], reserve_w[k]) * step / 3600.0;
            if (use > wh[k] || k == first)
                use = wh[k];
            wh[k] -= use;
            if (wh[k] < OUTAGE_EPS_WH)
                wh[k] = 0;
            taken += use;
        }
        left -= step;
        if (first < 0)
            left = 0;
    }
    return taken;
}

double outage_discharge(struct rack *r, const double *load_w, int64_t dt_ns)
{
    double wh[RACK_MAX_RESERVES], out_w[RACK_MAX_RESERVES];
    int n = r->nreserves < RACK_MAX_RESERVES ? r->nreserves : RACK_MAX_RESERVES;
    for (int k = 0; k < n; k++)
        wh[k] = r->reserves[k].wh_left;
    struct outage_view v;
    outage_view_init(&v, r);
    double taken = outage_view_advance(&v, wh, load_w, dt_ns > 0 ? (double)dt_ns / 1e9 : 0, out_w);
    for (int k = 0; k < n; k++) {
        r->reserves[k].wh_left = wh[k];
        r->reserves[k].watts = out_w[k];
        r->reserves[k].discharging = out_w[k] > OUTAGE_EPS_W;
    }
    return taken;
}
