/*
 * balance_rack.h - the random racks of test_balance_property.c, shared with
 * bench/bench_balance.c so that the bench's gap to balance_exhaustive is the
 * test's, rack for rack (same seed and index, same rack, failures and loads).
 */
#ifndef BALANCE_RACK_H
#define BALANCE_RACK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "rack.h"
#include "splitmix.h"

#define W(x) ((int64_t)(x)*1000)

static inline int pick(uint64_t *g, int n)
{
    return (int)(splitmix64_next(g) % (uint64_t)n);
}

/* A random rack: 2-6 PSUs of random models (built-in or random curves), 1-3
 * buses, 1-2 feeds, servers granted by the policy. */
static inline void gen_rack(uint64_t *g, struct rack *r)
{
    rack_init(r);
    r->protection = pick(g, 3) == 0 ? RACK_PROT_NONE : RACK_PROT_N1;
    r->nbuses = 1 + pick(g, 3);
    for (int b = 0; b < r->nbuses; b++)
        snprintf(r->buses[b], RACK_ID_LEN, "%c", 'A' + b);
    r->nfeeds = 1 + pick(g, 2);
    for (int f = 0; f < r->nfeeds; f++)
        snprintf(r->feeds[f], RACK_ID_LEN, "F%d", f + 1);
    if (pick(g, 2)) { /* a random model: rising to a peak, falling a little at full */
        struct rack_psu_model *m = &r->models[r->nmodels++];
        snprintf(m->name, RACK_ID_LEN, "rnd");
        int peak = 930000 + pick(g, 50000);
        m->eff_ppm[2] = peak;
        m->eff_ppm[1] = peak - 5000 - pick(g, 30000);
        m->eff_ppm[0] = m->eff_ppm[1] - 10000 - pick(g, 50000);
        m->eff_ppm[3] = peak - pick(g, 50000);
        m->standby_mw = W(1 + pick(g, 10));
        m->wake_ns = pick(g, 4) == 0 ? 50000000 : 5000000 + pick(g, 10000000);
    }
    r->npsus = 2 + pick(g, 5);
    r->psus = calloc((size_t)r->npsus, sizeof(*r->psus));
    static const int sizes[] = {1500, 2000, 3000};
    for (int i = 0; i < r->npsus; i++) {
        struct rack_psu *p = &r->psus[i];
        snprintf(p->id, RACK_ID_LEN, "ps%d", i + 1);
        p->rated_mw = p->derated_mw = W(sizes[pick(g, 3)]);
        p->feed = pick(g, r->nfeeds);
        p->wired = (uint32_t)(1 + pick(g, (1 << r->nbuses) - 1));
        do
            p->bus = pick(g, r->nbuses);
        while (!(p->wired & (1u << p->bus)));
        p->sw = pick(g, 4) == 0 ? RACK_SWITCH_RELAY : RACK_SWITCH_FET;
        p->switch_ns = rack_switch_default_ns(p->sw);
        p->model = pick(g, r->nmodels);
    }
    r->nservers = 1 + pick(g, 6);
    r->servers = calloc((size_t)r->nservers, sizeof(*r->servers));
    for (int i = 0; i < r->nservers; i++) {
        struct rack_server *s = &r->servers[i];
        snprintf(s->id, RACK_ID_LEN, "srv%d", i + 1);
        s->power_mw = s->min_mw = W(200 + pick(g, 1800));
        s->priority = 1 + pick(g, 3);
        s->wired = (uint32_t)(1 + pick(g, (1 << r->nbuses) - 1));
        s->chassis = -1;
        s->draw_mw = s->on_draw_mw = -1;
    }
}

/* Bus loads: each server's grant times a utilisation, spread over its live
 * buses in proportion to the capacity on them (as parallel buses share). */
static inline void bus_loads(uint64_t *g, const struct rack *r, int64_t *load)
{
    int64_t cap[RACK_MAX_BUSES] = {0};
    memset(load, 0, RACK_MAX_BUSES * sizeof(*load));
    for (int i = 0; i < r->npsus; i++)
        if (r->psus[i].bus >= 0)
            cap[r->psus[i].bus] += rack_psu_capacity_mw(r, &r->psus[i]);
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        if (!rack_server_draws(s))
            continue;
        int64_t mw = s->alloc_mw * (20 + pick(g, 81)) / 100, sum = 0;
        for (int b = 0; b < r->nbuses; b++)
            if (s->wired >> b & 1u)
                sum += cap[b];
        for (int b = 0; b < r->nbuses && sum; b++)
            if (s->wired >> b & 1u)
                load[b] += mw * cap[b] / sum;
    }
}

/* One random case: the rack of (seed0, idx) with its servers granted by
 * the policy, now and then a failure, a feed down or an unknown PSU
 * (*event 0, 1, 2), a PSU whose device cannot stand by (*no_sb, else -1),
 * and the loads on its buses. The caller frees the policy and the rack. */
static inline struct policy *balance_case(uint64_t seed0, int idx, struct rack *r, int *event,
                                          int *no_sb, int64_t load[RACK_MAX_BUSES])
{
    uint64_t g = seed0 ^ ((uint64_t)idx * 0x9e3779b97f4a7c15ULL);
    gen_rack(&g, r);
    struct policy *pol = policy_new(r);
    struct policy_actions a = {0};
    char err[256];
    policy_settle(pol, r, 0, &a);
    for (int i = 0; i < r->nservers; i++) {
        struct policy_input in = {.kind = POLICY_POWER_ON, .index = i};
        policy_handle(pol, r, &in, 0, &a, err, sizeof(err));
    }
    *event = pick(&g, 8);
    if (*event == 0) {
        struct policy_input in = {.kind = POLICY_PSU_FAIL, .index = pick(&g, r->npsus)};
        policy_handle(pol, r, &in, 1, &a, err, sizeof(err));
    } else if (*event == 1 && r->nfeeds > 1) {
        struct policy_input in = {.kind = POLICY_FEED_FAIL, .index = 1};
        policy_handle(pol, r, &in, 1, &a, err, sizeof(err));
    } else if (*event == 2) {
        struct policy_input in = {.kind = POLICY_PSU_UNKNOWN, .index = pick(&g, r->npsus)};
        policy_handle(pol, r, &in, 1, &a, err, sizeof(err));
    }
    *no_sb = *event == 3 ? pick(&g, r->npsus) : -1;
    bus_loads(&g, r, load);
    policy_actions_free(&a);
    return pol;
}

#endif
