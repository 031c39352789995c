/*
 * physics.c - the simulated rack's hardware: draws, load sharing, brown-outs,
 * PSU readings and alarms, faults and requests. No policy: the controller
 * decides, this only obeys the switches and slot relays it is given.
 */
#include "physics.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "outage.h"
#include "rackmod.h"
#include "splitmix.h"
#include "grow.h"

#define NO_OVERLOAD INT64_MIN
#define NO_PENDING (-2)
#define EVENTS_MAX 4096
#define TEMP_TAU_S 20.0 /* temperatures follow the load with this time constant */
#define FAN_TAU_S 2.0
#define WALK_PER_SQRT_S 0.1 /* utilisation random walk: spread of one step per sqrt(s) */
#define STANDBY_MW 12000    /* a PSU with AC and no load */
#define NS_PER_H 3.6e12
#define EMPTY_WH 1e-9 /* a BBU with less than this left is empty */

static void settle(struct phys *ph);
static void readings(struct phys *ph, int64_t dt_ns, bool snap);

void phys_event(struct phys *ph, enum phys_event_kind kind, int index, const char *fmt, ...)
{
    if (grow_to((void **)&ph->ev, &ph->evcap, ph->nev + 1, sizeof(*ph->ev), 32, EVENTS_MAX)) {
        ph->dropped++;
        return;
    }
    struct phys_event *e = &ph->ev[ph->nev++];
    e->kind = kind;
    e->index = index;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

int64_t phys_model_mw(int64_t peak_mw, double u)
{
    if (u < 0)
        u = 0;
    if (u > 1)
        u = 1;
    double peak = (double)peak_mw, idle = peak / 2;
    return llround(idle + (peak - idle) * (2 * u - pow(u, 1.4)));
}

/* ---- the rack ------------------------------------------------------------ */

static int64_t server_draw(const struct phys_server *s, const struct rack_server *rs)
{
    int64_t peak = rs->power_mw;
    if (s->cap_mw > 0 && s->cap_mw < peak)
        peak = s->cap_mw;
    int64_t d = s->report_mw >= 0 ? s->report_mw : phys_model_mw(peak, s->u);
    if (s->cap_mw > 0 && d > s->cap_mw)
        d = s->cap_mw;
    return d;
}

/* Its power is gone, the coil still on: latched for the controller, and a
 * server set to power on after AC loss will boot again once power returns. */
static void drop(struct phys *ph, int i, const char *why)
{
    struct phys_server *s = &ph->srv[i];
    s->powered = false;
    s->draw_mw = 0;
    if (s->lost < UINT16_MAX)
        s->lost++;
    s->ac_lost = true;
    s->ac_lost_ns = ph->now_ns;
    phys_event(ph, PHYS_EV_SLOT, i, "brown-out: %s lost power (%s)%s", ph->r.servers[i].id, why,
               ph->r.servers[i].ac_restart ? "; it powers on again when power returns" : "");
}

/* Whether a browned-out server set to power on after AC loss boots now:
 * its delay has passed and some bus it is wired to delivers again. */
static bool ac_restart_due(const struct phys *ph, int i)
{
    const struct phys_server *s = &ph->srv[i];
    const struct rack *r = &ph->r;
    if (!s->ac_lost || s->powered || !s->present || !r->servers[i].ac_restart ||
        ph->now_ns - s->ac_lost_ns < PHYS_AC_RESTART_NS)
        return false;
    uint32_t alive = rack_alive_buses(r);
    for (int b = 0; b < r->nbuses; b++)
        if ((r->servers[i].wired & alive) >> b & 1 && ph->bus_cap_mw[b] > 0)
            return true;
    return false;
}

static void bus_names(const struct rack *r, uint32_t set, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int b = 0; b < r->nbuses && o < len; b++)
        if (set >> b & 1)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "+" : "", r->buses[b]);
}

/* ---- BBUs ------------------------------------------------------------------ */

int phys_bbu_bus(const struct phys *ph, int k)
{
    const struct rack *r = &ph->r;
    if (k < 0 || k >= r->nreserves || r->reserves[k].kind != RACK_RESERVE_BBU)
        return -1;
    const struct rack_reserve *res = &r->reserves[k];
    if (res->to_server >= 0)
        return -1; /* directed to a server's input: not on a bus bar */
    int b = res->to_bus >= 0 ? res->to_bus : res->at;
    return b >= 0 && b < r->nbuses ? b : -1;
}

/* Whether BBU k can carry its bus now: energy left, no status bit that
 * forbids a discharge, its bus bar not failed. */
static bool bbu_able(const struct phys *ph, int k)
{
    int b = phys_bbu_bus(ph, k);
    return b >= 0 && !ph->r.bus_failed[b] && ph->r.reserves[k].wh_left > EMPTY_WH &&
           !(ph->bbu[k].status & ORV3_BBU_CANNOT_DISCHARGE);
}

/* Adds what the able BBUs deliver at most to their buses' capacity; whether
 * any did. */
static bool bbu_capacity(const struct phys *ph, int64_t cap_mw[RACK_MAX_BUSES])
{
    bool any = false;
    for (int k = 0; k < ph->r.nreserves; k++)
        if (bbu_able(ph, k) && ph->r.reserves[k].max_w > 0) {
            cap_mw[phys_bbu_bus(ph, k)] += llround(ph->r.reserves[k].max_w * 1000);
            any = true;
        }
    return any;
}

/* What each BBU delivers now: the load of its bus beyond what the PSUs there
 * deliver, shared among the bus's able BBUs by max_w; and whether it charges. */
static void bbu_flows(struct phys *ph)
{
    struct rack *r = &ph->r;
    double max_on[RACK_MAX_BUSES] = {0};
    for (int k = 0; k < r->nreserves; k++)
        if (bbu_able(ph, k))
            max_on[phys_bbu_bus(ph, k)] += r->reserves[k].max_w;
    for (int k = 0; k < r->nreserves; k++) {
        struct rack_reserve *res = &r->reserves[k];
        struct phys_bbu *u = &ph->bbu[k];
        if (res->kind != RACK_RESERVE_BBU)
            continue;
        int b = phys_bbu_bus(ph, k);
        double w = 0;
        if (bbu_able(ph, k) && max_on[b] > 0) {
            double over = (double)(ph->bus_load_mw[b] - ph->bus_psu_mw[b]) / 1000;
            if (over > 0)
                w = fmin(over * res->max_w / max_on[b], res->max_w);
        }
        bool was = res->discharging;
        res->watts = w;
        res->discharging = w > 0;
        u->charging = !res->discharging && b >= 0 && ph->bus_psu_mw[b] > 0 &&
                      res->wh_left < res->energy_wh && !(u->status & ORV3_BBU_NO_CHARGE);
        if (res->discharging && !was) {
            u->cycles++;
            phys_event(ph, PHYS_EV_BBU, k,
                       "bbu %s carries bus %s: %.0f W (%.1f of %.1f Wh left, mains delivers %.0f W "
                       "there)",
                       res->id, r->buses[b], w, res->wh_left, res->energy_wh,
                       (double)ph->bus_psu_mw[b] / 1000);
        } else if (!res->discharging && was) {
            phys_event(ph, PHYS_EV_BBU, k, "bbu %s stops discharging (%.1f of %.1f Wh left%s)",
                       res->id, res->wh_left, res->energy_wh,
                       res->wh_left <= EMPTY_WH                ? ", empty"
                       : u->status & ORV3_BBU_CANNOT_DISCHARGE ? ", its status forbids it"
                       : b >= 0 && r->bus_failed[b]            ? ", its bus failed"
                                                               : ", mains carries the bus");
        }
    }
}

/* Energy over dt at the rates of the last settle: the shared cell model
 * (outage_cell_w) while discharging, max_w / PHYS_BBU_CHARGE_DIV while charging. */
static void bbu_energy(struct phys *ph, int64_t dt_ns)
{
    struct rack *r = &ph->r;
    for (int k = 0; k < r->nreserves; k++) {
        struct rack_reserve *res = &r->reserves[k];
        if (res->kind != RACK_RESERVE_BBU || dt_ns <= 0)
            continue;
        double h = (double)dt_ns / NS_PER_H;
        if (res->discharging) {
            res->wh_left -= outage_cell_w(res, res->watts) * h;
            if (res->wh_left <= EMPTY_WH) {
                res->wh_left = 0;
                phys_event(ph, PHYS_EV_BBU, k, "bbu %s is empty", res->id);
            }
        } else if (ph->bbu[k].charging) {
            res->wh_left += res->max_w / PHYS_BBU_CHARGE_DIV * h;
            if (res->wh_left >= res->energy_wh) {
                res->wh_left = res->energy_wh;
                phys_event(ph, PHYS_EV_BBU, k, "bbu %s is fully charged (%.1f Wh)", res->id,
                           res->energy_wh);
            }
        }
    }
}

int phys_bbu_fault(struct phys *ph, int k, uint16_t status, int64_t now_ns, const char *why)
{
    if (k < 0 || k >= ph->r.nreserves || ph->r.reserves[k].kind != RACK_RESERVE_BBU)
        return -1;
    phys_step(ph, now_ns);
    uint16_t was = ph->bbu[k].status;
    ph->bbu[k].status = status;
    phys_event(ph, PHYS_EV_BBU, k, "%s: bbu %s status 0x%04x -> 0x%04x%s", why,
               ph->r.reserves[k].id, was, status,
               status & ORV3_BBU_CANNOT_DISCHARGE ? " (it cannot discharge)" : "");
    settle(ph);
    readings(ph, 0, false);
    return 0;
}

/* What the awake PSUs switched onto each bus deliver: one standing by
 * delivers nothing. */
static void awake_capacity(struct phys *ph)
{
    struct rack *r = &ph->r;
    flow_bus_capacity(r, ph->bus_psu_mw);
    for (int i = 0; i < r->npsus; i++)
        if (r->psus[i].standby && r->psus[i].bus >= 0)
            ph->bus_psu_mw[r->psus[i].bus] -= rack_psu_capacity_mw(r, &r->psus[i]);
}

/* Cold redundancy: a PSU standing by on a bus its awake PSUs cannot carry
 * wakes by itself (the bus sags; it takes its wake_ms, within the hold-up
 * the policy counts on). Whether any woke. */
static bool wake_on_sag(struct phys *ph, uint32_t buses)
{
    struct rack *r = &ph->r;
    bool woke = false;
    for (int i = 0; i < r->npsus; i++) {
        struct rack_psu *q = &r->psus[i];
        if (q->standby && q->bus >= 0 && (buses >> q->bus & 1u) && rack_psu_alive(r, q)) {
            q->standby = false;
            woke = true;
            phys_event(ph, PHYS_EV_NOTE, -1, "%s wakes by itself: bus %s sags", q->id,
                       r->buses[q->bus]);
        }
    }
    if (woke)
        awake_capacity(ph);
    return woke;
}

/* Draws, loads over buses, brown-outs, each PSU's share. */
static void settle(struct phys *ph)
{
    struct rack *r = &ph->r;
    uint32_t alive = rack_alive_buses(r);
    awake_capacity(ph);
    memcpy(ph->bus_cap_mw, ph->bus_psu_mw, sizeof(ph->bus_cap_mw));

    for (int i = 0; i < r->nservers; i++) {
        if (!ac_restart_due(ph, i))
            continue;
        ph->srv[i].powered = true;
        ph->srv[i].ac_lost = false;
        phys_event(ph, PHYS_EV_SLOT, i,
                   "power returned: %s powers on again by itself (power_on_after_ac_loss)",
                   r->servers[i].id);
    }
    for (int i = 0; i < r->nservers; i++) {
        struct phys_server *s = &ph->srv[i];
        if (s->powered && !(r->servers[i].wired & alive)) {
            char names[RACK_MAX_BUSES * RACK_ID_LEN];
            bus_names(r, r->servers[i].wired, names, sizeof(names));
            char why[sizeof(names) + 32];
            snprintf(why, sizeof(why), "bus %s failed", names);
            drop(ph, i, why);
        }
        s->draw_mw = s->powered ? server_draw(s, &r->servers[i]) : 0;
    }

    int cls[FLOW_MAX_CLASSES];
    uint32_t mask[FLOW_MAX_CLASSES];
    int64_t dem[FLOW_MAX_CLASSES];
    bool browned = false;
    for (int guard = 0; guard <= r->nservers; guard++) {
        int nk = 0;
        for (int m = 0; m < FLOW_MAX_CLASSES; m++)
            cls[m] = -1;
        for (int i = 0; i < r->nservers; i++) {
            if (!ph->srv[i].powered)
                continue;
            uint32_t m = r->servers[i].wired & alive & (FLOW_MAX_CLASSES - 1);
            if (cls[m] < 0) {
                cls[m] = nk;
                mask[nk] = m;
                dem[nk++] = 0;
            }
            dem[cls[m]] += ph->srv[i].draw_mw;
        }
        uint32_t worst = 0;
        /* Mains first: the BBUs take over only where the PSUs cannot carry
         * the load (an ORv3 BBU starts when its bus sags, docs/sim-devices.md). */
        memcpy(ph->bus_cap_mw, ph->bus_psu_mw, sizeof(ph->bus_cap_mw));
        double ratio =
            flow_spread(r->nbuses, ph->bus_cap_mw, nk, mask, dem, ph->bus_load_mw, &worst);
        if (ratio > 1.0 && wake_on_sag(ph, worst)) {
            memcpy(ph->bus_cap_mw, ph->bus_psu_mw, sizeof(ph->bus_cap_mw));
            ratio = flow_spread(r->nbuses, ph->bus_cap_mw, nk, mask, dem, ph->bus_load_mw, &worst);
        }
        if (ratio > 1.0 && bbu_capacity(ph, ph->bus_cap_mw))
            ratio = flow_spread(r->nbuses, ph->bus_cap_mw, nk, mask, dem, ph->bus_load_mw, &worst);
        if (ratio <= 1.0) {
            if (ph->overload_since_ns != NO_OVERLOAD && !browned)
                phys_event(ph, PHYS_EV_NOTE, -1, "overload relieved after %.3f s",
                           (double)(ph->now_ns - ph->overload_since_ns) / 1e9);
            ph->overload_since_ns = NO_OVERLOAD;
            break;
        }
        int64_t d = 0, c = 0;
        for (int k = 0; k < nk; k++)
            if (!(mask[k] & ~worst))
                d += dem[k];
        for (int b = 0; b < r->nbuses; b++)
            if (worst >> b & 1)
                c += ph->bus_cap_mw[b];
        char names[RACK_MAX_BUSES * RACK_ID_LEN];
        bus_names(r, worst, names, sizeof(names));
        if (ph->overload_since_ns == NO_OVERLOAD) {
            ph->overload_since_ns = ph->now_ns;
            phys_event(ph, PHYS_EV_NOTE, -1,
                       "overload: servers on bus %s draw %.0f W, its PSUs deliver %.0f W; they "
                       "brown out in %.3f s unless relieved",
                       names, (double)d / 1000, (double)c / 1000, (double)ph->overload_ns / 1e9);
        }
        if (ph->now_ns - ph->overload_since_ns < ph->overload_ns)
            break;
        char why[sizeof(names) + 96];
        snprintf(why, sizeof(why), "bus %s: %.0f W drawn, %.0f W delivered for %.3f s", names,
                 (double)d / 1000, (double)c / 1000, (double)ph->overload_ns / 1e9);
        for (int i = 0; i < r->nservers; i++)
            if (ph->srv[i].powered && !(r->servers[i].wired & alive & ~worst))
                drop(ph, i, why);
        browned = true;
    }

    /* the PSUs carry their bus's load up to what they deliver, the BBUs the
     * rest: in proportion to capacity, or by the shares the controller set
     * (the share registers of the awake PSUs on the bus; unset: capacity) */
    int64_t ppm[RACK_MAX_BUSES] = {0};
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        if (!q->standby && rack_psu_capacity_mw(r, q) > 0)
            ppm[q->bus] += q->share_ppm;
    }
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        int64_t c = q->standby ? 0 : rack_psu_capacity_mw(r, q);
        ph->psu[i].out_mw = 0;
        if (c > 0 && ph->bus_psu_mw[q->bus] > 0) {
            int64_t load = ph->bus_load_mw[q->bus];
            if (load > ph->bus_psu_mw[q->bus] && ph->bus_cap_mw[q->bus] > ph->bus_psu_mw[q->bus])
                load = ph->bus_psu_mw[q->bus];
            double part = ppm[q->bus] > PHYS_PPM / 2 ? (double)q->share_ppm / (double)ppm[q->bus]
                                                     : (double)c / (double)ph->bus_psu_mw[q->bus];
            ph->psu[i].out_mw = llround((double)load * part);
        }
    }
    bbu_flows(ph);
}

/* Rectifier efficiency by load: 97.5 % near half load, 96.5 % at full. */
static double efficiency(double frac)
{
    static const double at[][2] = {{0.0, 0.85},  {0.1, 0.92},  {0.2, 0.955},
                                   {0.5, 0.975}, {1.0, 0.965}, {2.0, 0.94}};
    for (size_t k = 1; k < sizeof(at) / sizeof(*at); k++)
        if (frac <= at[k][0])
            return at[k - 1][1] +
                   (at[k][1] - at[k - 1][1]) * (frac - at[k - 1][0]) / (at[k][0] - at[k - 1][0]);
    return 0.94;
}

static double lag(double v, double target, double dt_s, double tau_s, bool snap)
{
    if (snap)
        return target;
    return v + (target - v) * (1 - exp(-dt_s / tau_s));
}

/* ---- ageing (phys_set_ageing, the fleet simulator's model) ---- */

int phys_set_ageing(struct phys *ph, int psu, enum fleet_cause c, double h_per_s, char *err,
                    size_t errlen)
{
    if (psu < -1 || psu >= ph->r.npsus) {
        snprintf(err, errlen, "no PSU %d", psu);
        return -1;
    }
    if (c != FLEET_CAUSE_CAP && c != FLEET_CAUSE_FAN && c != FLEET_CAUSE_EFF) {
        snprintf(err, errlen, "a cause that ages is capacitor, fan or efficiency");
        return -1;
    }
    if (!(h_per_s >= 0) || h_per_s > 1e6) {
        snprintf(err, errlen, "ageing rate %g is not in 0..1e6 hours per second", h_per_s);
        return -1;
    }
    ph->ageing_h_per_s = h_per_s;
    ph->ageing_psu = psu;
    ph->ageing_cause = c;
    /* from 0 to 1 in PHYS_DEFECT_H at 40 °C (fleet.c's growth law) */
    ph->ageing_rate_per_h = log(1 + 1 / 0.2) / PHYS_DEFECT_H;
    return 0;
}

/* Advances every running PSU's age by dt_ns of time; a defect at its end
 * fails its unit. */
static void ageing_step(struct phys *ph, int64_t dt_ns)
{
    if (!(ph->ageing_h_per_s > 0) || dt_ns <= 0)
        return;
    double dt_h = (double)dt_ns / 1e9 * ph->ageing_h_per_s;
    struct rack *r = &ph->r;
    for (int i = 0; i < r->npsus; i++) {
        struct phys_psu *p = &ph->psu[i];
        if (r->psus[i].health == RACK_PSU_FAILED || r->feed_failed[r->psus[i].feed])
            continue;
        bool defect = i == ph->ageing_psu;
        fleet_age(&p->age, defect ? ph->ageing_cause : FLEET_NCAUSES, ph->ageing_rate_per_h, dt_h,
                  p->outlet_c);
        double d = ph->ageing_cause == FLEET_CAUSE_CAP   ? p->age.esr
                   : ph->ageing_cause == FLEET_CAUSE_FAN ? p->age.fan
                                                         : p->age.eff;
        if (defect && d >= 1) {
            r->psus[i].health = RACK_PSU_FAILED;
            p->fault_count++;
            phys_event(ph, PHYS_EV_NOTE, i, "ageing: %s failed (%s worn out)", r->psus[i].id,
                       fleet_cause_name(ph->ageing_cause));
        }
    }
}

/* How PSU i's age shows now, by the fleet model's difference between this
 * unit and a new one at the same output and inlet: its output voltage, input
 * power and current change here; the hot spot's rise is returned and the
 * fans' speed factor put in *fan_k; the warnings go to age_status. */
static double ageing_show(struct phys *ph, int i, double inlet_c, double *fan_k)
{
    struct phys_psu *p = &ph->psu[i];
    static const struct fleet_age new_unit;
    if (memcmp(&p->age, &new_unit, sizeof(new_unit)) == 0) {
        p->age_status = 0;
        return 0;
    }
    double pout_w = (double)p->out_mw / 1000;
    struct fleet_reading aged, fresh;
    fleet_read(&p->age, pout_w, inlet_c, 1, &aged);
    fleet_read(&new_unit, pout_w, inlet_c, 1, &fresh);
    p->age_status = aged.status_word;
    *fan_k = fresh.fan_rpm > 0 ? aged.fan_rpm / fresh.fan_rpm : 1;
    if (p->out_mw > 0) {
        double k = aged.pin_w / fresh.pin_w;
        p->pin_mw = llround((double)p->pin_mw * k);
        p->iin_ma = llround((double)p->iin_ma * k);
        int64_t vout_mv = p->vout_mv + llround((aged.vout_v - fresh.vout_v) * 1000);
        if (vout_mv > 0) {
            p->vout_mv = vout_mv;
            p->iout_ma = llround((double)p->out_mw / ((double)vout_mv / 1000));
        }
    }
    return aged.temp_c - fresh.temp_c;
}

/* Telemetry and alarms of every PSU from its health, feed and share. */
static void readings(struct phys *ph, int64_t dt_ns, bool snap)
{
    struct rack *r = &ph->r;
    double dt_s = (double)dt_ns / 1e9;
    /* A share bus that follows the most loaded unit (load per rated watt):
     * healthy units all carry that; a degraded one carries less, in
     * proportion to its derated capacity. */
    double share_frac[RACK_MAX_BUSES] = {0};
    int64_t ppm[RACK_MAX_BUSES] = {0}; /* the shares the controller set, as settle sums them */
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        if (q->bus >= 0 && q->bus < RACK_MAX_BUSES && q->rated_mw > 0 &&
            (double)ph->psu[i].out_mw / (double)q->rated_mw > share_frac[q->bus])
            share_frac[q->bus] = (double)ph->psu[i].out_mw / (double)q->rated_mw;
        if (q->bus >= 0 && !q->standby && rack_psu_capacity_mw(r, q) > 0)
            ppm[q->bus] += q->share_ppm;
    }
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        struct phys_psu *p = &ph->psu[i];
        bool ac = !r->feed_failed[q->feed];
        bool failed = q->health == RACK_PSU_FAILED;
        bool degraded = q->health == RACK_PSU_DEGRADED;
        bool output = ac && !failed && !q->standby; /* standing by: output off */
        int64_t health_mw = rack_psu_health_mw(q);
        double frac = output && health_mw > 0 ? (double)p->out_mw / (double)health_mw : 0;

        double vout = 0;
        if (output)
            vout = frac <= 1 ? 51.0 - 0.3 * frac : fmax(40.0, 50.7 - 5.0 * (frac - 1));
        p->vout_mv = llround(vout * 1000);
        p->iout_ma = vout > 0 ? llround((double)p->out_mw / vout) : 0;
        /* with shares set the share bus asks each unit its share (rackpower's
         * extension): what it carries, so a planned small share is no fault */
        if (q->bus >= 0 && ppm[q->bus] > PHYS_PPM / 2)
            p->ishare_ma = p->iout_ma;
        else
            p->ishare_ma = vout > 0 && q->bus >= 0
                               ? llround((double)q->rated_mw * share_frac[q->bus] / vout)
                               : 0;
        double eff = efficiency(frac);
        p->pin_mw = !ac                     ? 0
                    : q->standby && !failed ? rack_psu_model_of(r, q)->standby_mw
                    : p->out_mw > 0         ? llround((double)p->out_mw / eff)
                                            : STANDBY_MW;
        p->vin_mv = ac ? PHYS_VIN_MV : 0;
        p->pf = !ac ? 0 : frac < 0.2 ? 0.95 : 0.99;
        p->thd = !ac ? 0 : frac < 0.2 ? 0.12 : 0.05;
        p->iin_ma = ac ? llround((double)p->pin_mw / (PHYS_VIN_MV / 1000.0 * p->pf)) : 0;
        p->vbulk_mv = ac ? PHYS_VBULK_MV : 0;
        p->freq_hz = ac ? PHYS_FREQ_HZ : 0;
        if (ac)
            p->up_ns += dt_ns;

        double heat = fmin(frac, 1.5);
        double inlet = PHYS_AMBIENT_C + 3.0 * heat;
        double outlet = inlet + (ac ? 4.0 + 18.0 * heat : 0) + (ac && degraded ? 12.0 : 0);
        double fan_k = 1;
        if (output)
            outlet += ageing_show(ph, i, inlet, &fan_k);
        else
            p->age_status = 0;
        p->inlet_c = lag(p->inlet_c, inlet, dt_s, TEMP_TAU_S, snap);
        p->outlet_c = lag(p->outlet_c, outlet, dt_s, TEMP_TAU_S, snap);
        if (snap || p->outlet_c > p->max_c)
            p->max_c = p->outlet_c;
        if (snap || p->inlet_c < p->min_c)
            p->min_c = p->inlet_c;
        double fan = ac ? (4000 + 8000 * fmin(heat, 1.0)) * fan_k : 0;
        p->fan_rpm[0] = lag(p->fan_rpm[0], ac && degraded ? 12000 : fan, dt_s, FAN_TAU_S, snap);
        p->fan_rpm[1] = lag(p->fan_rpm[1], degraded ? 0 : fan, dt_s, FAN_TAU_S, snap);

        uint16_t a[ORV3_PSU_NALARMS] = {0};
        if (failed) {
            a[ORV3_AL_GENERAL] |= ORV3_GEN_DCDC_FAIL | ORV3_GEN_DCDC;
            a[ORV3_AL_DCDC] |= ORV3_DCDC_FAIL;
        }
        if (!ac) {
            a[ORV3_AL_GENERAL] |= ORV3_GEN_PFC;
            a[ORV3_AL_PFC] |=
                ORV3_PFC_RELAY_OFF | ORV3_PFC_BULK_NOK | ORV3_PFC_AC_NOK | ORV3_PFC_AC_UVP;
        }
        if (degraded) {
            a[ORV3_AL_GENERAL] |= ORV3_GEN_FAN;
            a[ORV3_AL_TEMP] |= ORV3_TEMP_FAN_FAIL;
        }
        /* ageing's warnings: ORv3 has no warning for sag or efficiency */
        if (p->age_status & FLEET_SW_TEMPERATURE)
            a[ORV3_AL_GENERAL] |= ORV3_GEN_TEMP_WARN;
        if (p->age_status & FLEET_SW_FANS)
            a[ORV3_AL_GENERAL] |= ORV3_GEN_FAN;
        if (memcmp(a, p->alarm, sizeof(a)) != 0) {
            memcpy(p->alarm, a, sizeof(a));
            phys_event(ph, PHYS_EV_PSU, i,
                       "%s alarms: 60=0x%04x 61=0x%04x 62=0x%04x 63=0x%04x 64=0x%04x, output "
                       "%.1f V",
                       q->id, a[0], a[1], a[2], a[3], a[4], vout);
        }
    }
}

int phys_init(struct phys *ph, const struct rack *r, uint64_t seed, int64_t overload_ns,
              int64_t now_ns)
{
    memset(ph, 0, sizeof(*ph));
    if (rack_copy(&ph->r, r))
        return -1;
    ph->srv = calloc((size_t)r->nservers + 1, sizeof(*ph->srv));
    ph->psu = calloc((size_t)r->npsus + 1, sizeof(*ph->psu));
    ph->bbu = calloc((size_t)r->nreserves + 1, sizeof(*ph->bbu));
    if (!ph->srv || !ph->psu || !ph->bbu) {
        phys_free(ph);
        return -1;
    }
    ph->rng = seed;
    ph->overload_ns = overload_ns;
    ph->overload_since_ns = NO_OVERLOAD;
    ph->now_ns = ph->start_ns = now_ns;
    ph->ageing_psu = -1;
    for (int i = 0; i < r->nservers; i++) {
        struct phys_server *s = &ph->srv[i];
        s->present = true;
        s->report_mw = -1;
        s->u = 0.2 + 0.6 * splitmix64_unit(&ph->rng);
    }
    for (int i = 0; i < r->npsus; i++) {
        ph->psu[i].ac_cycles = 1;
        ph->psu[i].pending_bus = NO_PENDING;
    }
    settle(ph);
    readings(ph, 0, true);
    return 0;
}

void phys_free(struct phys *ph)
{
    rack_free(&ph->r);
    free(ph->srv);
    free(ph->psu);
    free(ph->bbu);
    free(ph->ev);
    memset(ph, 0, sizeof(*ph));
}

void phys_step(struct phys *ph, int64_t now_ns)
{
    int64_t dt = now_ns - ph->now_ns;
    if (dt < 0)
        dt = 0;
    ph->now_ns += dt;
    struct rack *r = &ph->r;
    for (int i = 0; i < r->npsus; i++) {
        struct phys_psu *p = &ph->psu[i];
        if (p->pending_bus != NO_PENDING && ph->now_ns >= p->pending_at_ns) {
            r->psus[i].bus = p->pending_bus;
            p->pending_bus = NO_PENDING;
            phys_event(ph, PHYS_EV_NOTE, i, "switch: %s now on bus %s", r->psus[i].id,
                       r->buses[r->psus[i].bus]);
        }
    }
    if (dt > 0) {
        double step = WALK_PER_SQRT_S * sqrt((double)dt / 1e9);
        for (int i = 0; i < r->nservers; i++) {
            struct phys_server *s = &ph->srv[i];
            s->u += (splitmix64_unit(&ph->rng) - 0.5) * 2 * step;
            if (s->u < 0)
                s->u = -s->u;
            if (s->u > 1)
                s->u = 2 - s->u;
            s->u = fmin(fmax(s->u, 0), 1);
        }
    }
    bbu_energy(ph, dt);
    ageing_step(ph, dt);
    settle(ph);
    readings(ph, dt, false);
}

int64_t phys_next_deadline(const struct phys *ph)
{
    int64_t d = INT64_MAX;
    for (int i = 0; i < ph->r.npsus; i++)
        if (ph->psu[i].pending_bus != NO_PENDING && ph->psu[i].pending_at_ns < d)
            d = ph->psu[i].pending_at_ns;
    if (ph->overload_since_ns != NO_OVERLOAD && ph->overload_since_ns + ph->overload_ns < d)
        d = ph->overload_since_ns + ph->overload_ns;
    for (int i = 0; i < ph->r.nservers; i++) {
        const struct phys_server *s = &ph->srv[i];
        if (s->ac_lost && ph->r.servers[i].ac_restart && s->ac_lost_ns + PHYS_AC_RESTART_NS < d)
            d = s->ac_lost_ns + PHYS_AC_RESTART_NS;
    }
    /* a BBU running empty (its bus then browns out), or full */
    for (int k = 0; k < ph->r.nreserves; k++) {
        const struct rack_reserve *res = &ph->r.reserves[k];
        if (res->kind != RACK_RESERVE_BBU)
            continue;
        double rate_w = res->discharging      ? outage_cell_w(res, res->watts)
                        : ph->bbu[k].charging ? res->max_w / PHYS_BBU_CHARGE_DIV
                                              : 0;
        double wh = res->discharging ? res->wh_left : res->energy_wh - res->wh_left;
        if (rate_w > 0) {
            double at = (double)ph->now_ns + ceil(wh / rate_w * NS_PER_H);
            if (at < (double)d)
                d = (int64_t)at;
        }
    }
    return d;
}

/* ---- inputs -------------------------------------------------------------- */

/* The id an input names, "?" when none (phys_describe is also handed
 * inputs that were refused). */
static const char *subject(const struct rack *r, const struct policy_input *in)
{
    const char *id = policy_input_subject(r, in);
    return id ? id : "?";
}

void phys_describe(const struct rack *r, const struct policy_input *in, char *buf, size_t len)
{
    if (in->kind == POLICY_PSU_DEGRADE || in->kind == POLICY_REPORT)
        snprintf(buf, len, "%s %s %g", policy_input_name(in->kind), subject(r, in),
                 (double)in->watts_mw / 1000);
    else
        snprintf(buf, len, "%s %s", policy_input_name(in->kind), subject(r, in));
}

int phys_check(const struct phys *ph, const struct policy_input *in, char *err, size_t errlen)
{
    const struct rack *r = &ph->r;
    enum policy_target t = policy_input_target(in->kind);
    if (t == POLICY_TARGET_NONE) {
        snprintf(err, errlen, "%s: not a simulator input", policy_input_name(in->kind));
        return -1;
    }
    if (policy_input_check(r, in, err, errlen))
        return -1;
    /* what the hardware cannot do from where it is */
    const char *id = subject(r, in);
    const struct phys_server *s = t == POLICY_TARGET_SERVER ? &ph->srv[in->index] : NULL;
    const struct rack_psu *q = t == POLICY_TARGET_PSU ? &r->psus[in->index] : NULL;
    const char *why = NULL;
    switch (in->kind) {
    case POLICY_POWER_ON:
        why = s->powered                       ? "is already on"
              : s->ask == RACKMOD_ASK_POWER_ON ? "already asks for power"
                                               : NULL;
        break;
    case POLICY_POWER_OFF:
        why = !s->present                                     ? "is not present"
              : !s->powered && s->ask != RACKMOD_ASK_POWER_ON ? "is already off"
                                                              : NULL;
        break;
    case POLICY_REMOVE:
        why = s->present ? NULL : "is already removed";
        break;
    case POLICY_PSU_FAIL:
        why = q->health == RACK_PSU_FAILED ? "has already failed" : NULL;
        break;
    case POLICY_PSU_REPAIR:
        why = q->health == RACK_PSU_OK ? "is neither failed nor degraded" : NULL;
        break;
    case POLICY_BUS_FAIL:
        why = r->bus_failed[in->index] ? "has already failed" : NULL;
        break;
    case POLICY_BUS_REPAIR:
        why = r->bus_failed[in->index] ? NULL : "has not failed";
        break;
    case POLICY_FEED_FAIL:
        why = r->feed_failed[in->index] ? "has already failed" : NULL;
        break;
    case POLICY_FEED_REPAIR:
        why = r->feed_failed[in->index] ? NULL : "has not failed";
        break;
    default: /* psu_degrade and report: any sound figure applies */
        break;
    }
    if (why) {
        snprintf(err, errlen, "%s %s: %s %s", policy_input_name(in->kind), id, id, why);
        return -1;
    }
    return 0;
}

static void slot_change(struct phys *ph, int i)
{
    ph->srv[i].changes++;
}

int phys_apply(struct phys *ph, const struct policy_input *in, int64_t now_ns, char *err,
               size_t errlen)
{
    if (phys_check(ph, in, err, errlen))
        return -1;
    phys_step(ph, now_ns);
    struct rack *r = &ph->r;
    int i = in->index;
    switch (in->kind) {
    case POLICY_POWER_ON: {
        struct phys_server *s = &ph->srv[i];
        s->present = true;
        s->ask = RACKMOD_ASK_POWER_ON;
        slot_change(ph, i);
        phys_event(ph, PHYS_EV_SLOT, i, "%s asks for power (%g W)", r->servers[i].id,
                   (double)r->servers[i].power_mw / 1000);
        break;
    }
    case POLICY_POWER_OFF: {
        struct phys_server *s = &ph->srv[i];
        bool was_on = s->powered;
        s->powered = false;
        s->ac_lost = false;
        s->ask = RACKMOD_ASK_POWER_OFF;
        slot_change(ph, i);
        phys_event(ph, PHYS_EV_SLOT, i, "%s %s", r->servers[i].id,
                   was_on ? "powered down in order" : "withdrew its request");
        break;
    }
    case POLICY_REMOVE: {
        struct phys_server *s = &ph->srv[i];
        s->present = false;
        s->powered = false;
        s->ac_lost = false;
        s->ask = RACKMOD_ASK_NONE;
        slot_change(ph, i);
        phys_event(ph, PHYS_EV_SLOT, i, "%s pulled out of its slot", r->servers[i].id);
        break;
    }
    case POLICY_REPORT:
        ph->srv[i].report_mw = in->watts_mw;
        break;
    case POLICY_PSU_FAIL:
        r->psus[i].health = RACK_PSU_FAILED;
        ph->psu[i].fault_count++;
        break;
    case POLICY_PSU_DEGRADE:
        r->psus[i].health = RACK_PSU_DEGRADED;
        r->psus[i].derated_mw = in->watts_mw;
        break;
    case POLICY_PSU_REPAIR:
        r->psus[i].health = RACK_PSU_OK;
        r->psus[i].derated_mw = r->psus[i].rated_mw;
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        r->bus_failed[i] = in->kind == POLICY_BUS_FAIL;
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        r->feed_failed[i] = in->kind == POLICY_FEED_FAIL;
        for (int k = 0; k < r->npsus; k++)
            if (r->psus[k].feed == i) {
                if (in->kind == POLICY_FEED_FAIL)
                    ph->psu[k].ac_outages++;
                else
                    ph->psu[k].ac_cycles++;
            }
        break;
    default:
        break;
    }
    settle(ph);
    readings(ph, 0, false);
    return 0;
}

/* ---- the controller's side ------------------------------------------------ */

int phys_switch_target(const struct phys *ph, int psu)
{
    const struct phys_psu *p = &ph->psu[psu];
    return p->pending_bus != NO_PENDING ? p->pending_bus : ph->r.psus[psu].bus;
}

int phys_standby(struct phys *ph, int psu, bool standby, int64_t now_ns, const char *why)
{
    if (psu < 0 || psu >= ph->r.npsus)
        return -1;
    phys_step(ph, now_ns);
    struct rack_psu *q = &ph->r.psus[psu];
    if (q->standby != standby)
        phys_event(ph, PHYS_EV_NOTE, -1, "%s: %s %s", why, q->id, standby ? "stands by" : "wakes");
    q->standby = standby;
    settle(ph);
    readings(ph, 0, false);
    return 0;
}

int phys_share(struct phys *ph, int psu, int64_t share_ppm, int64_t now_ns, const char *why)
{
    if (psu < 0 || psu >= ph->r.npsus || share_ppm < 0 || share_ppm > PHYS_PPM)
        return -1;
    phys_step(ph, now_ns);
    ph->r.psus[psu].share_ppm = share_ppm;
    phys_event(ph, PHYS_EV_NOTE, -1, "%s: %s carries %.1f %% of its bus", why, ph->r.psus[psu].id,
               (double)share_ppm / 1e4);
    settle(ph);
    readings(ph, 0, false);
    return 0;
}

int phys_switch(struct phys *ph, int psu, int bus, bool connect, int64_t now_ns, const char *why)
{
    struct rack *r = &ph->r;
    struct rack_psu *q = &r->psus[psu];
    struct phys_psu *p = &ph->psu[psu];
    if (bus < 0 || bus >= r->nbuses || !(q->wired >> bus & 1))
        return -1;
    phys_step(ph, now_ns);
    int target = phys_switch_target(ph, psu);
    if (!connect) {
        if (target != bus) {
            phys_event(ph, PHYS_EV_NOTE, psu, "%s: %s is not on bus %s: nothing to do", why, q->id,
                       r->buses[bus]);
            return 0;
        }
        q->bus = -1;
        p->pending_bus = NO_PENDING;
        phys_event(ph, PHYS_EV_NOTE, psu, "%s: %s disconnected from bus %s", why, q->id,
                   r->buses[bus]);
    } else if (target == bus) {
        phys_event(ph, PHYS_EV_NOTE, psu, "%s: %s already on bus %s", why, q->id, r->buses[bus]);
        return 0;
    } else if (q->bus < 0 && p->pending_bus == NO_PENDING) {
        q->bus = bus; /* closing onto a bus from open is immediate */
        phys_event(ph, PHYS_EV_NOTE, psu, "%s: %s connected to bus %s", why, q->id, r->buses[bus]);
    } else if (q->switch_ns < r->holdup_ns) {
        /* faster than the hold-up: the load never notices (DESIGN.md) */
        phys_event(ph, PHYS_EV_NOTE, psu, "%s: %s moved %s -> %s (%s, %g ms)", why, q->id,
                   q->bus >= 0 ? r->buses[q->bus] : "-", r->buses[bus], rack_switch_name(q->sw),
                   (double)q->switch_ns / 1e6);
        q->bus = bus;
        p->pending_bus = NO_PENDING;
    } else {
        const char *from = q->bus >= 0 ? r->buses[q->bus] : "-";
        q->bus = -1;
        p->pending_bus = bus;
        p->pending_at_ns = ph->now_ns + q->switch_ns;
        phys_event(ph, PHYS_EV_NOTE, psu,
                   "%s: %s switching %s -> %s (%s, %g ms: on no bus meanwhile)", why, q->id, from,
                   r->buses[bus], rack_switch_name(q->sw), (double)q->switch_ns / 1e6);
    }
    settle(ph);
    readings(ph, 0, false);
    return 0;
}

int phys_power(struct phys *ph, int server, bool on, int64_t now_ns, const char *why)
{
    struct phys_server *s = &ph->srv[server];
    const char *id = ph->r.servers[server].id;
    if (on && !s->present)
        return -1;
    phys_step(ph, now_ns);
    bool was = s->powered;
    s->powered = on;
    s->ac_lost = false; /* the controller decided: it stays as written */
    if (on && s->ask == RACKMOD_ASK_POWER_ON) {
        s->ask = RACKMOD_ASK_NONE;
        slot_change(ph, server);
        phys_event(ph, PHYS_EV_NOTE, server, "%s: %s powered on (granted, ask cleared)", why, id);
    } else {
        phys_event(ph, PHYS_EV_NOTE, server, "%s: %s powered %s%s", why, id, on ? "on" : "off",
                   was == on ? " (it already was)" : "");
    }
    settle(ph);
    readings(ph, 0, false);
    return 0;
}

void phys_cap(struct phys *ph, int server, int64_t cap_mw, int64_t now_ns, const char *why)
{
    phys_step(ph, now_ns);
    ph->srv[server].cap_mw = cap_mw;
    if (cap_mw > 0)
        phys_event(ph, PHYS_EV_NOTE, server, "%s: %s capped at %g W", why, ph->r.servers[server].id,
                   (double)cap_mw / 1000);
    else
        phys_event(ph, PHYS_EV_NOTE, server, "%s: %s uncapped", why, ph->r.servers[server].id);
    settle(ph);
    readings(ph, 0, false);
}

void phys_clear_ask(struct phys *ph, int server, int64_t now_ns, const char *why)
{
    struct phys_server *s = &ph->srv[server];
    phys_step(ph, now_ns);
    if (s->ask != RACKMOD_ASK_NONE) {
        s->ask = RACKMOD_ASK_NONE;
        slot_change(ph, server);
        phys_event(ph, PHYS_EV_NOTE, server, "%s: %s ask cleared", why, ph->r.servers[server].id);
    }
}

void phys_clear_lost(struct phys *ph, int server, int64_t now_ns, const char *why)
{
    struct phys_server *s = &ph->srv[server];
    phys_step(ph, now_ns);
    if (s->lost) {
        phys_event(ph, PHYS_EV_NOTE, server, "%s: %s lost latch cleared (was %u)", why,
                   ph->r.servers[server].id, s->lost);
        s->lost = 0;
    }
}
