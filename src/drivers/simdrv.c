/*
 * simdrv.c - the simulated rack as a driver: a thin shell over the
 * simulator's physics (src/sim/physics.h), so that the daemon's embedded
 * rack and rackpower-sim behave alike: same draws, same temperatures, same
 * faults, from the same seed.
 *
 * The physics keeps its own copy of the rack: the controller's copy says
 * what was decided, this one what the hardware does. At open the hardware is
 * where the controller believes it is (a daemon restarted over a running
 * rack finds its grants powered); after that only actions and the timeline
 * change it. Like the Modbus driver over rackpower-sim serve, the driver
 * tells a granted server that lost power without a decision (a brown-out:
 * the slot's latch, or found off) as lost_power, and does not power it
 * again to match the grant; one that powered itself on again is put off.
 */
#include "simdrv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monoclock.h"
#include "physics.h"
#include "rackmod.h"
#include "risk.h"

struct sim {
    struct phys ph;
    bool *want_on; /* per server: the controller granted it (the coil it writes) */
    int *boot;
    size_t nboot;
    bool booted;
    struct rackfile_step *steps; /* the timeline, copied */
    size_t nsteps, next;
    int64_t start_ns; /* CLOCK_MONOTONIC at open: virtual time 0 */
};

static void sim_close(void *inst)
{
    struct sim *sim = inst;
    if (!sim)
        return;
    for (size_t k = 0; k < sim->nsteps; k++)
        free(sim->steps[k].inputs);
    free(sim->steps);
    free(sim->boot);
    free(sim->want_on);
    phys_free(&sim->ph);
    free(sim);
}

static int64_t cap_of(const struct rack_server *s, int64_t watts_mw)
{
    return watts_mw > 0 && watts_mw < s->power_mw ? watts_mw : 0;
}

void *simdrv_open_at(const struct rackfile_device *dev, const struct rack *rack, int64_t now_ns,
                     char *err, size_t errlen)
{
    struct sim *sim = calloc(1, sizeof(*sim));
    struct rack hw;
    rack_init(&hw);
    if (!sim || rack_copy(&hw, rack)) {
        free(sim);
        snprintf(err, errlen, "sim: out of memory");
        return NULL;
    }
    /* the hardware itself is healthy: failures seen by the controller come
     * back through the timeline or an operator, not from here */
    for (int i = 0; i < hw.npsus; i++) {
        hw.psus[i].health = RACK_PSU_OK;
        hw.psus[i].derated_mw = hw.psus[i].rated_mw;
    }
    memset(hw.bus_failed, 0, sizeof(hw.bus_failed));
    memset(hw.feed_failed, 0, sizeof(hw.feed_failed));
    int rc = phys_init(&sim->ph, &hw, (uint64_t)dev->seed, PHYS_DEFAULT_OVERLOAD_NS, now_ns);
    rack_free(&hw);
    if (rc) {
        free(sim);
        snprintf(err, errlen, "sim: out of memory");
        return NULL;
    }
    sim->start_ns = now_ns;
    sim->want_on = calloc((size_t)rack->nservers + 1, sizeof(*sim->want_on));
    sim->boot = calloc(dev->boot.n + 1, sizeof(*sim->boot));
    sim->steps = calloc(dev->timeline.nsteps + 1, sizeof(*sim->steps));
    if (!sim->want_on || !sim->boot || !sim->steps)
        goto oom;
    for (int i = 0; i < rack->nservers; i++) {
        const struct rack_server *s = &rack->servers[i];
        if (s->state == RACK_SRV_WAITING) { /* it still asks */
            struct policy_input ask = {.kind = POLICY_POWER_ON, .index = i};
            phys_apply(&sim->ph, &ask, now_ns, err, errlen);
        }
        if (!rack_server_draws(s))
            continue;
        sim->want_on[i] = true;
        phys_power(&sim->ph, i, true, now_ns, "open: granted before");
        if (cap_of(s, s->alloc_mw))
            phys_cap(&sim->ph, i, s->alloc_mw, now_ns, "open: capped before");
    }
    /* The boot list is for servers with no record of a power-off: one the
     * controller has off after a request (seq > 0: it asked once, then was
     * released by a power-off, an operator's or its own, or removed) stays
     * off until someone asks again (docs/daemon.md). */
    for (size_t k = 0; k < dev->boot.n; k++) {
        const struct rack_server *s = &rack->servers[dev->boot.v[k]];
        if (!(s->state == RACK_SRV_OFF && s->seq > 0))
            sim->boot[sim->nboot++] = dev->boot.v[k];
    }
    for (size_t k = 0; k < dev->timeline.nsteps; k++) {
        const struct rackfile_step *st = &dev->timeline.steps[k];
        sim->steps[k] = *st;
        sim->steps[k].inputs = calloc(st->ninputs + 1, sizeof(*st->inputs));
        if (!sim->steps[k].inputs)
            goto oom;
        sim->nsteps = k + 1;
        memcpy(sim->steps[k].inputs, st->inputs, st->ninputs * sizeof(*st->inputs));
    }
    sim->ph.nev = 0;
    return sim;
oom:
    sim_close(sim);
    snprintf(err, errlen, "sim: out of memory");
    return NULL;
}

static void *sim_open(const struct rackfile_device *dev, const struct rack *rack, char *err,
                      size_t errlen)
{
    return simdrv_open_at(dev, rack, mono_ns(), err, errlen);
}

/*
 * A timeline input happens to the hardware; the controller hears of what
 * happened (a server's ask, a fault). A report pins a server's draw, which
 * shows in its draw; what the hardware refuses (a server already on) does
 * not happen.
 */
static int happen(struct sim *sim, const struct policy_input *in, int64_t now_ns,
                  struct driver_report *out)
{
    char err[PHYS_MSG_LEN];
    if (phys_apply(&sim->ph, in, now_ns, err, sizeof(err)))
        return 0;
    if (in->kind == POLICY_REPORT)
        return 0;
    if (in->kind == POLICY_POWER_OFF || in->kind == POLICY_REMOVE)
        phys_clear_ask(&sim->ph, in->index, now_ns, "sim: reported");
    return driver_report_input(out, in->kind, in->index, in->watts_mw);
}

/* PSU telemetry as the ORv3 registers say it (the Modbus driver reports the
 * same figures, the outlet temperature for the PSU's). */
static int report_psus(const struct phys *ph, struct driver_report *out)
{
    for (int i = 0; i < ph->r.npsus; i++) {
        const struct phys_psu *p = &ph->psu[i];
        struct driver_psu_reading x = driver_psu_unknown(i);
        x.out_mw = p->out_mw;
        x.in_mw = p->pin_mw;
        x.out_mv = p->vout_mv;
        x.out_ma = p->iout_ma;
        x.in_mv = p->vin_mv;
        x.in_ma = p->iin_ma;
        x.temp_mc = llround(p->outlet_c * 1000);
        x.inlet_mc = llround(p->inlet_c * 1000);
        x.fan_rpm = llround((p->fan_rpm[0] + p->fan_rpm[1]) / 2);
        x.status_word = risk_orv3_status_word(p->alarm[ORV3_AL_GENERAL], p->alarm[ORV3_AL_PFC],
                                              p->alarm[ORV3_AL_DCDC], p->alarm[ORV3_AL_TEMP],
                                              p->alarm[ORV3_AL_COMM]);
        if (driver_report_psu(out, &x))
            return -1;
    }
    return 0;
}

int simdrv_poll_at(void *inst, int64_t now_ns, struct driver_report *out, char *err, size_t errlen)
{
    struct sim *sim = inst;
    struct phys *ph = &sim->ph;
    const struct rack *r = &ph->r;
    int rc = 0;
    phys_step(ph, now_ns);
    if (!sim->booted) {
        for (size_t k = 0; k < sim->nboot; k++) {
            struct policy_input in = {.kind = POLICY_POWER_ON, .index = sim->boot[k]};
            if (!ph->srv[in.index].powered)
                rc |= happen(sim, &in, now_ns, out);
        }
        sim->booted = true;
    }
    for (; sim->next < sim->nsteps && sim->start_ns + sim->steps[sim->next].at_ns <= now_ns;
         sim->next++) {
        const struct rackfile_step *st = &sim->steps[sim->next];
        for (size_t j = 0; j < st->ninputs; j++)
            rc |= happen(sim, &st->inputs[j], now_ns, out);
    }
    /* a granted server that lost power without a decision: told, and the
     * lower power stands (as the Modbus driver reads a slot's LOST latch) */
    for (int i = 0; i < r->nservers; i++) {
        struct phys_server *s = &ph->srv[i];
        bool lost = s->lost > 0 || (!s->powered && s->present);
        if (s->lost)
            phys_clear_lost(ph, i, now_ns, "sim: seen");
        if (!sim->want_on[i] && s->powered) { /* it powered itself on after a loss */
            phys_power(ph, i, false, now_ns, "sim: powered without a grant, put off");
            continue;
        }
        if (!sim->want_on[i] || !lost || s->ask == RACKMOD_ASK_POWER_OFF)
            continue;
        sim->want_on[i] = false;
        rc |= driver_report_input(out, POLICY_LOST_POWER, i, 0);
        if (s->powered) /* it powered itself on again after the loss */
            phys_power(ph, i, false, now_ns, "sim: lost power, put off");
    }
    ph->nev = 0; /* the physics' log lines: the daemon journals its own decisions */
    /* the measured draw, in whole watts as a chassis module's register */
    for (int i = 0; i < r->nservers; i++)
        rc |= driver_report_read(out, i);
    for (int i = 0; i < r->nservers; i++)
        if (ph->srv[i].powered)
            rc |= driver_report_input(out, POLICY_REPORT, i,
                                      1000 * llround((double)ph->srv[i].draw_mw / 1000));
    rc |= report_psus(ph, out);
    if (rc) {
        snprintf(err, errlen, "sim: out of memory");
        return -1;
    }
    return 0;
}

static int sim_poll(void *inst, int timeout_ms, struct driver_report *out, char *err, size_t errlen)
{
    (void)timeout_ms; /* the simulated devices answer at once */
    return simdrv_poll_at(inst, mono_ns(), out, err, errlen);
}

int simdrv_act_at(void *inst, const struct policy_action *a, int64_t now_ns, char *err,
                  size_t errlen)
{
    struct sim *sim = inst;
    struct phys *ph = &sim->ph;
    const struct rack *r = &ph->r;
    const char *why = policy_action_name(a->kind);
    bool server = a->server >= 0 && a->server < r->nservers;
    switch (a->kind) {
    case POLICY_ACT_GRANT:
    case POLICY_ACT_RESTORE:
        if (!server)
            break;
        sim->want_on[a->server] = true;
        phys_cap(ph, a->server, cap_of(&r->servers[a->server], a->watts_mw), now_ns, why);
        phys_power(ph, a->server, true, now_ns, why); /* -1: the slot is empty, nothing to do */
        break;
    case POLICY_ACT_CAP: /* as given: an over-draw is capped at its grant, power_w included */
        if (server)
            phys_cap(ph, a->server, a->watts_mw > 0 ? a->watts_mw : 0, now_ns, why);
        break;
    case POLICY_ACT_SHED:
    case POLICY_ACT_RELEASE:
        if (!server)
            break;
        sim->want_on[a->server] = false;
        phys_power(ph, a->server, false, now_ns, why);
        break;
    case POLICY_ACT_SWITCH:
        if (a->psu < 0 || a->psu >= r->npsus)
            break;
        if (a->to_bus >= 0 ? phys_switch(ph, a->psu, a->to_bus, true, now_ns, why)
            : r->psus[a->psu].bus >= 0
                ? phys_switch(ph, a->psu, r->psus[a->psu].bus, false, now_ns, why)
                : 0) {
            snprintf(err, errlen, "sim: %s is not wired to bus %d", r->psus[a->psu].id, a->to_bus);
            return -1;
        }
        break;
    case POLICY_ACT_WAIT:
    case POLICY_ACT_PROTECTION:
    case POLICY_ACT_IGNORED:
    case POLICY_ACT_STAGE: /* no upsd or BMC in the in-process rack */
    case POLICY_ACT_SOFT_OFF:
        break;
    case POLICY_ACT_STANDBY: /* balancing (docs/balancing.md) */
    case POLICY_ACT_WAKE:
        if (a->psu >= 0 && a->psu < r->npsus)
            phys_standby(ph, a->psu, a->kind == POLICY_ACT_STANDBY, now_ns, why);
        break;
    case POLICY_ACT_SHARE:
        if (a->psu >= 0 && a->psu < r->npsus && phys_share(ph, a->psu, a->share_ppm, now_ns, why)) {
            snprintf(err, errlen, "sim: bad share %lld ppm for %s", (long long)a->share_ppm,
                     r->psus[a->psu].id);
            return -1;
        }
        break;
    }
    return 0;
}

static int sim_act(void *inst, const struct policy_action *a, char *err, size_t errlen)
{
    return simdrv_act_at(inst, a, mono_ns(), err, errlen);
}

/* A switch that arrives or an overload that outlasts the hold-up: poll then. */
static int64_t sim_next_due(void *inst)
{
    const struct sim *sim = inst;
    return phys_next_deadline(&sim->ph);
}

const struct driver_ops simdrv_ops = {
    .kind = "sim",
    .open = sim_open,
    .poll = sim_poll,
    .act = sim_act,
    .close = sim_close,
    .next_due_ns = sim_next_due,
};
