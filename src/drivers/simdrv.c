/*
 * simdrv.c - the simulated rack as a driver.
 *
 * The simulation keeps its own copy of the rack: the controller's copy says
 * what was decided, this one what the hardware does. At open the hardware is
 * where the controller believes it is (a daemon restarted over a running
 * rack finds its grants powered); after that only actions and the timeline
 * change it.
 */
#include "simdrv.h"
#include "flow.h"
#include "monoclock.h"
#include "splitmix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_BUS_MV 51000 /* ORv3 bus bar */
#define SIM_EFFICIENCY 0.96

struct sim {
    struct rack r;      /* the simulated hardware */
    int64_t *alloc_mw;  /* per server: what it may draw, 0 when off */
    int64_t *pinned_mw; /* per server: a draw set by a report step, -1 when none */
    int *boot;
    size_t nboot;
    bool booted;
    struct rackfile_step *steps; /* the timeline, copied */
    size_t nsteps, next;
    int64_t start_ns;
    uint64_t rng;
};

/* P(u) = idle + (peak - idle)(2u - u^1.4), idle half the grant, u random. */
static int64_t draw_mw(struct sim *sim, int i)
{
    if (sim->pinned_mw[i] >= 0)
        return sim->pinned_mw[i] < sim->alloc_mw[i] ? sim->pinned_mw[i] : sim->alloc_mw[i];
    double u = splitmix64_unit(&sim->rng);
    double peak = (double)sim->alloc_mw[i], idle = peak / 2;
    return 1000 * llround((idle + (peak - idle) * (2 * u - pow(u, 1.4))) / 1000);
}

static void sim_close(void *inst)
{
    struct sim *sim = inst;
    if (!sim)
        return;
    for (size_t k = 0; k < sim->nsteps; k++)
        free(sim->steps[k].inputs);
    free(sim->steps);
    free(sim->boot);
    free(sim->alloc_mw);
    free(sim->pinned_mw);
    rack_free(&sim->r);
    free(sim);
}

static void *sim_open(const struct rackfile_device *dev, const struct rack *rack, char *err,
                      size_t errlen)
{
    struct sim *sim = calloc(1, sizeof(*sim));
    if (!sim || rack_copy(&sim->r, rack)) {
        free(sim);
        snprintf(err, errlen, "sim: out of memory");
        return NULL;
    }
    size_t ns = (size_t)(rack->nservers ? rack->nservers : 1);
    sim->alloc_mw = calloc(ns, sizeof(*sim->alloc_mw));
    sim->pinned_mw = calloc(ns, sizeof(*sim->pinned_mw));
    sim->boot = calloc(dev->boot.n ? dev->boot.n : 1, sizeof(*sim->boot));
    sim->steps = calloc(dev->timeline.nsteps ? dev->timeline.nsteps : 1, sizeof(*sim->steps));
    if (!sim->alloc_mw || !sim->pinned_mw || !sim->boot || !sim->steps)
        goto oom;
    for (int i = 0; i < rack->nservers; i++) {
        const struct rack_server *s = &rack->servers[i];
        sim->alloc_mw[i] = rack_server_draws(s) ? s->alloc_mw : 0;
        sim->pinned_mw[i] = -1;
    }
    /* the hardware itself is healthy: failures seen by the controller come
     * back through the timeline or an operator, not from here */
    for (int i = 0; i < rack->npsus; i++) {
        sim->r.psus[i].health = RACK_PSU_OK;
        sim->r.psus[i].derated_mw = sim->r.psus[i].rated_mw;
    }
    memset(sim->r.bus_failed, 0, sizeof(sim->r.bus_failed));
    memset(sim->r.feed_failed, 0, sizeof(sim->r.feed_failed));
    if (dev->boot.n)
        memcpy(sim->boot, dev->boot.v, dev->boot.n * sizeof(*sim->boot));
    sim->nboot = dev->boot.n;
    for (size_t k = 0; k < dev->timeline.nsteps; k++) {
        const struct rackfile_step *st = &dev->timeline.steps[k];
        sim->steps[k] = *st;
        sim->steps[k].inputs = calloc(st->ninputs ? st->ninputs : 1, sizeof(*st->inputs));
        if (!sim->steps[k].inputs)
            goto oom;
        sim->nsteps = k + 1;
        memcpy(sim->steps[k].inputs, st->inputs, st->ninputs * sizeof(*st->inputs));
    }
    sim->rng = (uint64_t)dev->seed;
    sim->start_ns = mono_ns();
    return sim;
oom:
    sim_close(sim);
    snprintf(err, errlen, "sim: out of memory");
    return NULL;
}

/* A timeline input happens to the hardware; returns whether to report it. */
static bool happen(struct sim *sim, const struct policy_input *in)
{
    struct rack *r = &sim->r;
    switch (in->kind) {
    case POLICY_POWER_ON:
        return true; /* the server asks; power comes with the grant */
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
        sim->alloc_mw[in->index] = 0;
        return true;
    case POLICY_PSU_FAIL:
        r->psus[in->index].health = RACK_PSU_FAILED;
        return true;
    case POLICY_PSU_DEGRADE:
        r->psus[in->index].health = RACK_PSU_DEGRADED;
        r->psus[in->index].derated_mw = in->watts_mw;
        return true;
    case POLICY_PSU_REPAIR:
        r->psus[in->index].health = RACK_PSU_OK;
        r->psus[in->index].derated_mw = r->psus[in->index].rated_mw;
        return true;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        r->bus_failed[in->index] = in->kind == POLICY_BUS_FAIL;
        return true;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        r->feed_failed[in->index] = in->kind == POLICY_FEED_FAIL;
        return true;
    case POLICY_REPORT:
        sim->pinned_mw[in->index] = in->watts_mw;
        return false; /* shows in the draw below */
    case POLICY_TICK:
        break;
    }
    return false;
}

/* PSU telemetry: each bus's load (flow.h) shared by its PSUs in proportion
 * to what they deliver. */
static int report_psus(struct sim *sim, const int64_t *draw, struct driver_report *out)
{
    const struct rack *r = &sim->r;
    int64_t cap[RACK_MAX_BUSES], load[RACK_MAX_BUSES];
    flow_rack(r, draw, cap, load);
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        int64_t c = rack_psu_capacity_mw(r, p);
        int64_t w = p->bus >= 0 && cap[p->bus] > 0 ? load[p->bus] * c / cap[p->bus] : 0;
        struct driver_psu_reading x = {
            .psu = i,
            .out_mw = w,
            .in_mw = llround((double)w / SIM_EFFICIENCY),
            .out_mv = c > 0 ? SIM_BUS_MV : 0,
            .out_ma = c > 0 ? w * 1000 / SIM_BUS_MV : 0,
            .temp_mc = 30000 + (p->rated_mw ? 25000 * w / p->rated_mw : 0),
        };
        if (driver_report_psu(out, &x))
            return -1;
    }
    return 0;
}

static int sim_poll(void *inst, int timeout_ms, struct driver_report *out, char *err, size_t errlen)
{
    (void)timeout_ms; /* the simulated devices answer at once */
    struct sim *sim = inst;
    struct rack *r = &sim->r;
    int rc = 0;
    if (!sim->booted) {
        for (size_t k = 0; k < sim->nboot; k++)
            if (r->servers[sim->boot[k]].state == RACK_SRV_OFF)
                rc |= driver_report_input(out, POLICY_POWER_ON, sim->boot[k], 0);
        sim->booted = true;
    }
    int64_t now = mono_ns() - sim->start_ns;
    for (; sim->next < sim->nsteps && sim->steps[sim->next].at_ns <= now; sim->next++) {
        const struct rackfile_step *st = &sim->steps[sim->next];
        for (size_t j = 0; j < st->ninputs; j++)
            if (happen(sim, &st->inputs[j]))
                rc |= driver_report_input(out, st->inputs[j].kind, st->inputs[j].index,
                                          st->inputs[j].watts_mw);
    }
    int64_t *draw = calloc((size_t)(r->nservers ? r->nservers : 1), sizeof(*draw));
    if (!draw)
        rc = -1;
    for (int i = 0; draw && i < r->nservers; i++) {
        if (!sim->alloc_mw[i])
            continue;
        draw[i] = draw_mw(sim, i);
        rc |= driver_report_input(out, POLICY_REPORT, i, draw[i]);
    }
    if (draw)
        rc |= report_psus(sim, draw, out);
    free(draw);
    if (rc) {
        snprintf(err, errlen, "sim: out of memory");
        return -1;
    }
    return 0;
}

static int sim_act(void *inst, const struct policy_action *a, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct sim *sim = inst;
    switch (a->kind) {
    case POLICY_ACT_GRANT:
    case POLICY_ACT_RESTORE:
    case POLICY_ACT_CAP:
        if (a->server >= 0 && a->server < sim->r.nservers)
            sim->alloc_mw[a->server] = a->watts_mw;
        break;
    case POLICY_ACT_SHED:
    case POLICY_ACT_RELEASE:
        if (a->server >= 0 && a->server < sim->r.nservers)
            sim->alloc_mw[a->server] = 0;
        break;
    case POLICY_ACT_SWITCH:
        if (a->psu >= 0 && a->psu < sim->r.npsus)
            sim->r.psus[a->psu].bus = a->to_bus;
        break;
    case POLICY_ACT_WAIT:
    case POLICY_ACT_PROTECTION:
    case POLICY_ACT_IGNORED:
        break;
    }
    return 0;
}

const struct driver_ops simdrv_ops = {
    .kind = "sim",
    .open = sim_open,
    .poll = sim_poll,
    .act = sim_act,
    .close = sim_close,
};
