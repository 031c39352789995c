/*
 * flow.c - bus capacity and the spread of demands over buses: Hall's
 * condition over every set of buses for the worst ratio, then a max flow
 * with every bus's capacity scaled to that ratio for a balanced spread.
 */
#include "flow.h"

#include <math.h>
#include <string.h>

static int popcount8(uint32_t m)
{
    int n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
}

void flow_bus_capacity(const struct rack *r, int64_t cap_mw[RACK_MAX_BUSES])
{
    memset(cap_mw, 0, RACK_MAX_BUSES * sizeof(*cap_mw));
    for (int i = 0; i < r->npsus; i++)
        if (r->psus[i].bus >= 0 && r->psus[i].bus < RACK_MAX_BUSES)
            cap_mw[r->psus[i].bus] += rack_psu_capacity_mw(r, &r->psus[i]);
}

void flow_augment(int nb, const double cap[], int nk, const uint32_t mask[], const double dem[],
                  double eps, double sent[], double (*flow)[RACK_MAX_BUSES], double into[])
{
    int parent[FLOW_MAX_CLASSES + RACK_MAX_BUSES], queue[FLOW_MAX_CLASSES + RACK_MAX_BUSES];
    if (nb > RACK_MAX_BUSES || nk > FLOW_MAX_CLASSES)
        return;
    for (int guard = 0; guard < 100000; guard++) {
        /* nodes: demands 0..nk-1, buses nk..nk+nb-1; parent -1 = from the source */
        int nn = nk + nb, head = 0, tail = 0, end = -1;
        for (int v = 0; v < nn; v++)
            parent[v] = -2;
        for (int k = 0; k < nk; k++)
            if (dem[k] - sent[k] > eps) {
                parent[k] = -1;
                queue[tail++] = k;
            }
        while (head < tail && end < 0) {
            int v = queue[head++];
            if (v < nk) {
                for (int b = 0; b < nb; b++)
                    if ((mask[v] >> b & 1) && parent[nk + b] == -2) {
                        parent[nk + b] = v;
                        queue[tail++] = nk + b;
                    }
            } else {
                int b = v - nk;
                if (cap[b] - into[b] > eps) {
                    end = b;
                    break;
                }
                for (int k = 0; k < nk; k++)
                    if (flow[k][b] > eps && parent[k] == -2) {
                        parent[k] = v;
                        queue[tail++] = k;
                    }
            }
        }
        if (end < 0)
            return;
        /* bottleneck along sink <- end <- k <- bus <- k ... <- source */
        double amount = cap[end] - into[end];
        for (int v = nk + end; v >= 0;) {
            int k = parent[v];  /* a demand */
            int up = parent[k]; /* a bus node or -1 */
            if (up < 0) {
                if (dem[k] - sent[k] < amount)
                    amount = dem[k] - sent[k];
            } else if (flow[k][up - nk] < amount) {
                amount = flow[k][up - nk];
            }
            v = up;
        }
        into[end] += amount;
        for (int v = nk + end; v >= 0;) {
            int k = parent[v], up = parent[k];
            flow[k][v - nk] += amount;
            if (up < 0)
                sent[k] += amount;
            else
                flow[k][up - nk] -= amount;
            v = up;
        }
    }
}

double flow_spread(int nbuses, const int64_t cap_mw[], int nclass, const uint32_t mask[],
                   const int64_t demand_mw[], int64_t load_mw[], uint32_t *worst)
{
    if (nbuses > RACK_MAX_BUSES)
        nbuses = RACK_MAX_BUSES;
    for (int b = 0; b < nbuses; b++)
        load_mw[b] = 0;
    if (worst)
        *worst = 0;
    if (nclass > FLOW_MAX_CLASSES)
        return INFINITY;
    uint32_t all = (1u << nbuses) - 1;
    double worst_ratio = 0, fed_ratio = 0;
    uint32_t worst_set = 0;
    for (uint32_t x = 1; x <= all; x++) {
        int64_t d = 0, dfed = 0, c = 0;
        for (int b = 0; b < nbuses; b++)
            if (x >> b & 1)
                c += cap_mw[b];
        for (int k = 0; k < nclass; k++) {
            if (!mask[k] || (mask[k] & ~x) || demand_mw[k] <= 0)
                continue;
            d += demand_mw[k];
            int64_t under = 0;
            for (int b = 0; b < nbuses; b++)
                if (mask[k] >> b & 1)
                    under += cap_mw[b];
            if (under > 0)
                dfed += demand_mw[k];
        }
        double r = d == 0 ? 0 : c == 0 ? INFINITY : (double)d / (double)c;
        if (r > worst_ratio || (r > 0 && r == worst_ratio && popcount8(x) > popcount8(worst_set))) {
            worst_ratio = r;
            worst_set = x;
        }
        if (c > 0 && (double)dfed / (double)c > fed_ratio)
            fed_ratio = (double)dfed / (double)c;
    }
    if (worst)
        *worst = worst_set;
    if (fed_ratio <= 0)
        return worst_ratio;

    /* route the fed demands with every bus's capacity scaled to fed_ratio;
     * in doubles holding whole milliwatts (exact below 2^53 mW), so that
     * flow_augment, with eps 0, routes what integers would */
    double scaled[RACK_MAX_BUSES] = {0}, into[RACK_MAX_BUSES] = {0};
    double fed[FLOW_MAX_CLASSES] = {0}, sent[FLOW_MAX_CLASSES];
    double flow[FLOW_MAX_CLASSES][RACK_MAX_BUSES];
    memset(flow, 0, (size_t)nclass * sizeof(*flow));
    for (int b = 0; b < nbuses; b++) {
        /* nclass of slack for rounding; where the demands fit, never beyond
         * the bus's capacity (which, by Hall's condition, routes them all) */
        int64_t c = cap_mw[b] > 0 ? (int64_t)ceil((double)cap_mw[b] * fed_ratio) + nclass : 0;
        if (fed_ratio <= 1 && c > cap_mw[b])
            c = cap_mw[b];
        scaled[b] = (double)c;
    }
    for (int k = 0; k < nclass; k++) {
        int64_t under = 0;
        for (int b = 0; b < nbuses; b++)
            if (mask[k] >> b & 1)
                under += cap_mw[b];
        fed[k] = under > 0 && demand_mw[k] > 0 ? (double)demand_mw[k] : 0;
        sent[k] = 0;
    }
    flow_augment(nbuses, scaled, nclass, mask, fed, 0, sent, flow, into);
    for (int b = 0; b < nbuses; b++)
        load_mw[b] = (int64_t)into[b];
    return worst_ratio;
}

double flow_rack(const struct rack *r, const int64_t *draw_mw, int64_t cap_mw[RACK_MAX_BUSES],
                 int64_t load_mw[RACK_MAX_BUSES])
{
    /* one class per bus mask, in the order servers first name it */
    int cls[FLOW_MAX_CLASSES];
    uint32_t mask[FLOW_MAX_CLASSES] = {0};
    int64_t dem[FLOW_MAX_CLASSES] = {0};
    int nk = 0;
    bool stranded = false;
    uint32_t alive = rack_alive_buses(r);
    flow_bus_capacity(r, cap_mw);
    memset(load_mw, 0, RACK_MAX_BUSES * sizeof(*load_mw));
    for (int m = 0; m < FLOW_MAX_CLASSES; m++)
        cls[m] = -1;
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        int64_t d = draw_mw ? draw_mw[i] : rack_server_draws(s) ? s->alloc_mw : 0;
        if (d <= 0)
            continue;
        uint32_t m = s->wired & alive & (FLOW_MAX_CLASSES - 1);
        if (!m)
            stranded = true;
        if (cls[m] < 0) {
            cls[m] = nk;
            mask[nk] = m;
            dem[nk++] = 0;
        }
        dem[cls[m]] += d;
    }
    double ratio = flow_spread(r->nbuses, cap_mw, nk, mask, dem, load_mw, NULL);
    return stranded ? INFINITY : ratio;
}
