/*
 * hwdev.c - the hwmon driver: one PSU's hwmon directory behind the driver
 * vtable.
 *
 * The reading, debouncing and health rules are the hwmon reader's (hwmon.h);
 * this file paces the reads, turns its events into policy inputs for the
 * rack's PSU and its snapshots into telemetry.
 *   Health is kept as a state, not passed on as edges: each event sets what
 *   the policy should believe (hwmon_event_policy_input), and a poll reports
 *   it when it differs from what was last told. So an input lost to a
 *   failed allocation is reported again at the next poll (the reader itself
 *   says each change only once).
 *   A read that fails is not an error of the device: the reader counts it,
 *   and after comm_reads of them COMM_LOST makes the PSU unknown (it keeps
 *   serving, does not count for protection); COMM_BACK is followed by its
 *   health again.
 * Pacing: the worker calls poll every poll_ms, counted from the previous
 * call, and sleeps where nothing can wake it on an alarm. So poll spends that
 * interval itself, in hwmon_wait (which an alarm notification ends early),
 * and reads just before the worker's next call is due: it keeps back twice
 * the last read's duration (at most half the interval) so that it returns in
 * time. Waiting the whole interval would make the worker, finding itself
 * late, wait another one: reads every two intervals.
 */
#include "hwdev.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hwmon.h"
#include "monoclock.h"

#define HWDEV_EVENTS 4 /* 2 suffice per step (COMM_BACK and a health event) */

struct hwdev {
    struct hwmon *h;
    int psu; /* rack index */
    int64_t rated_mw;
    int64_t poll_ns;
    int64_t read_ns;          /* how long the last read took */
    bool comm_lost;           /* the reader said COMM_LOST and not yet COMM_BACK */
    struct policy_input want; /* what the policy should believe of the PSU */
    struct policy_input told; /* what it was last told */
    char why[HWMON_REASON_LEN + HWMON_ALARMS_LEN + 2]; /* what the device said for want */
    /* per poll; kept here rather than on the worker's stack (a few KiB) */
    struct hwmon_snapshot snap;
    struct hwmon_event ev[HWDEV_EVENTS];
};

static void hwdev_close(void *inst)
{
    struct hwdev *d = inst;
    if (!d)
        return;
    hwmon_close(d->h);
    free(d);
}

static void *hwdev_open(const struct rackfile_device *dev, const struct rack *r, char *err,
                        size_t errlen)
{
    if (dev->psu < 0 || dev->psu >= r->npsus) {
        snprintf(err, errlen, "psu index %d is not in the rack", dev->psu);
        return NULL;
    }
    struct hwdev *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const struct rack_psu *p = &r->psus[dev->psu];
    char herr[256];
    d->h = hwmon_open(dev->path, p->id, NULL, herr, sizeof(herr));
    if (!d->h) {
        snprintf(err, errlen, "psu %s: %s", p->id, herr);
        free(d);
        return NULL;
    }
    d->psu = dev->psu;
    d->rated_mw = p->rated_mw;
    d->poll_ns = dev->poll_ns > 0 ? dev->poll_ns : 1000000000LL;
    /* The reader assumes a healthy PSU until its reads show otherwise, and
     * so does the controller's engine for a device that has said nothing. */
    d->told = d->want = (struct policy_input){.kind = POLICY_PSU_REPAIR, .index = d->psu};
    return d;
}

/* A reading in the driver's convention: -1 when the device does not say. */
static int64_t tel(int64_t v)
{
    return v == HWMON_ABSENT ? -1 : v;
}

void hwdev_psu_reading(int psu, const struct hwmon_snapshot *s, struct driver_psu_reading *x)
{
    *x = driver_psu_unknown(psu);
    x->out_mw = tel(s->pout_mw);
    x->in_mw = tel(s->pin_mw);
    x->out_mv = tel(s->vout_mv);
    x->out_ma = tel(s->iout_ma);
    x->in_mv = tel(s->vin_mv);
    x->in_ma = tel(s->iin_ma);
    /* The hottest sensor is the hot spot. With two or more, temp1 is the
     * inlet: PMBus READ_TEMPERATURE_1 is the PSU's ambient/inlet sensor on
     * the supplies the pmbus driver serves; with one, it is not known. */
    for (int i = 0; i < s->ntemps; i++)
        if (i == 0 || s->temp_mc[i] > x->temp_mc)
            x->temp_mc = s->temp_mc[i];
    if (s->ntemps >= 2)
        x->inlet_mc = s->temp_mc[0];
    if (s->nfans > 0) {
        int64_t sum = 0;
        for (int i = 0; i < s->nfans; i++)
            sum += s->fan_rpm[i];
        x->fan_rpm = sum / s->nfans;
    }
    x->status_word = s->status_word;
}

static void report_telemetry(struct hwdev *d, struct driver_report *out)
{
    const struct hwmon_snapshot *s = &d->snap;
    struct driver_psu_reading x = driver_psu_unknown(d->psu);
    if (s->valid)
        hwdev_psu_reading(d->psu, s, &x);
    else if (!d->comm_lost) {
        return; /* one failed read: the last figures stand until comm_reads of them */
    } else {
        x.unread = true; /* withdrawn: their age goes on from the last good read */
    }
    (void)driver_report_psu(out, &x); /* out of memory: the next poll reports again */
}

static int hwdev_poll(void *inst, int timeout_ms, struct driver_report *out, char *err,
                      size_t errlen)
{
    (void)err;
    (void)errlen;
    struct hwdev *d = inst;
    int64_t keep_ns = 2 * d->read_ns + 1000000;
    if (keep_ns > d->poll_ns / 2)
        keep_ns = d->poll_ns / 2;
    int64_t wait_ms = (d->poll_ns - keep_ns) / 1000000;
    if (timeout_ms >= 0 && wait_ms > timeout_ms)
        wait_ms = timeout_ms;
    /* Ends early when an alarm fires (SMBALERT# wired to an interrupt); a
     * failed wait only means the read comes sooner. */
    (void)hwmon_wait(d->h, wait_ms > INT_MAX ? INT_MAX : (int)wait_ms);
    int64_t t0 = mono_ns();
    size_t n = hwmon_poll(d->h, &d->snap, d->ev, HWDEV_EVENTS);
    d->read_ns = mono_ns() - t0;
    for (size_t k = 0; k < n; k++) {
        const struct hwmon_event *e = &d->ev[k];
        struct policy_input in;
        if (e->kind == HWMON_EV_COMM_LOST)
            d->comm_lost = true;
        else if (e->kind == HWMON_EV_COMM_BACK)
            d->comm_lost = false;
        if (hwmon_event_policy_input(e, d->psu, d->rated_mw, &in)) {
            d->want = in;
            snprintf(d->why, sizeof(d->why), "%s%s%s", e->reason, e->alarms[0] ? " " : "",
                     e->alarms);
        }
    }
    if (d->want.kind != d->told.kind || d->want.watts_mw != d->told.watts_mw) {
        if (driver_report_input(out, d->want.kind, d->psu, d->want.watts_mw) == 0) {
            d->told = d->want;
            if (d->why[0])
                driver_report_note(out, "%s", d->why);
        }
    }
    report_telemetry(d, out);
    return 0;
}

/* A hwmon PSU has no switch and no servers: every decision is another
 * device's to execute. Its hwmon files are readings and alarms only, so an
 * operator's out of service (a switch to no bus) cannot open anything here:
 * the PSU stays on its bus, live (docs/pmbus-hwmon.md). */
static int hwdev_act(void *inst, const struct policy_action *a, char *err, size_t errlen)
{
    (void)inst;
    (void)a;
    (void)err;
    (void)errlen;
    return 0;
}

const struct driver_ops hwdev_ops = {
    .kind = "hwmon",
    .open = hwdev_open,
    .poll = hwdev_poll,
    .act = hwdev_act,
    .close = hwdev_close,
};
