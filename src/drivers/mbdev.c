/*
 * mbdev.c - the modbus-tcp and modbus-rtu drivers: a rack's Modbus devices
 * (ORv3 PSUs, the switch module, chassis modules) behind the driver vtable.
 *
 * The polling itself (round robin, retries, dormancy, alerts) is the engine's
 * (mbdrv.h); this file maps what the engine sees to policy inputs by rack
 * index, and the policy's decisions to register and coil writes.
 *   PSU health: failed -> psu_fail, degraded -> psu_degrade (at what its
 *   current share says it carries, at most the entry's derate_pct of rated:
 *   orv3_psu_derated_mw; no ORv3 register says more), back to ok ->
 *   psu_repair; at risk is logged, not acted on (prediction comes later).
 *   Every PSU of a feed (one or more, all on this device) with its AC input
 *   lost -> feed_fail, one input naming the feed and its PSUs, instead of a
 *   psu_fail per PSU; the first of them back (the others read again in the
 *   same poll) -> feed_repair. A feed with one PSU is a feed too: that PSU's
 *   output is gone whether the feed or only its own input is lost, so for
 *   this rack the feed delivers nothing, and what the other PSUs cannot
 *   carry falls on the BBUs (feed_whole). A PSU failed for another reason is
 *   a psu_fail, one not answering a psu_unknown, never a feed failure. Each input
 *   carries its own PSU's alarm words, never its neighbours'. A
 *   PSU that stops answering (its monitor's comm loss, or its device gone
 *   dormant) -> psu_unknown: it keeps serving but does not count for
 *   protection (docs/policy.md); its next good read says its health again.
 *   Chassis slots: an ask to power on -> power_on, an orderly power-off ->
 *   power_off, a server gone from its slot -> remove, a measured draw ->
 *   report, a loss of power nobody ordered (the slot's LOST latch, or a
 *   granted slot read on before and off now) -> lost_power: never powered
 *   back to match the last decision (docs/daemon.md, "Lost power").
 *   BBUs (`role: bbu, reserve: ID`): each read of one is a reserve reading
 *   (orv3_bbu_state: on battery while it discharges, else online; low when
 *   fully discharged; a fault when its status forbids a discharge; its charge,
 *   run time and watts); once it stops answering (its monitor's comm loss, or
 *   dormant) it is reported unread at every poll until it answers again.
 *   No policy input: what a reading means in an outage is the engine's.
 *   PSUs with rackpower's extension (`extension: rackpower`, docs/modbus.md
 *   "Standby and share"): balancing's standby, wake and share actions become
 *   fenced commands to them, never sent before the unit answered a read of
 *   its extension registers (a unit answering 0x02 there has none: it gets
 *   nothing, and balancing is told to plan no standby). Their standby and
 *   share are read back every second (at once after a command): what differs
 *   from what the controller last heard is reported (driver_psu_state) and
 *   the model takes it; a PSU awake though told to stand by (the shelf woke
 *   it, or refused) stays awake; one standing by though told to wake is
 *   reported psu_unknown (it counts for no protection) and woken again every
 *   second until it reads awake.
 */
#include "mbdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "balance.h"
#include "mbdrv.h"
#include "risk.h"
#include "rackmod.h"

/* Where a rack element is on this bus. */
struct where {
    int dev;  /* engine device index, -1 when not on this bus */
    int item; /* PSU index within the switch module, or slot within a chassis */
};

#define MBDEV_ALERT_RETRY_NS 5000000000LL
/* how often a PSU's standby and share are read back (at once after a command) */
#define MBDEV_EXT_READ_NS 1000000000LL

/* rackpower's extension of one PSU (standby and share). */
struct ext_psu {
    bool on;            /* configured (extension: rackpower), and not refused with 0x02 */
    bool confirmed;     /* it answered a read of the registers: commands may go */
    signed char want;   /* standby the controller wants: 1, 0; -1 follow the device
                         * (after a fence: the new primary decides anew) */
    bool told;          /* standby as the controller believes it: its commands, the states
                         * reported */
    int told_share;     /* likewise its share, 1/10000 of its bus's load */
    bool stuck;         /* wanted awake, reads standing by: reported unknown */
    bool retry;         /* stuck at the last read-back: to be woken again */
    int64_t next_ns;    /* its next read-back (CLOCK_MONOTONIC) */
    char last_err[200]; /* the last command's failure, "" after a success */
};

struct mbdev {
    struct mbdrv_bus *bus;
    char alert_path[108]; /* the alert line's socket, "" for none */
    int alert_fd;         /* -1 while not connected */
    int64_t alert_retry_ns;
    int64_t poll_ns;
    int nbuses;
    int npsus, nservers;
    struct where *psu_dev;    /* per rack psu: its ORv3 device (item unused) */
    struct where *psu_switch; /* per rack psu: the switch module and its coil index */
    struct where *server;     /* per rack server: chassis module and slot */
    int *dev_psu;             /* per engine device: the rack psu of an ORv3 PSU, else -1 */
    int *dev_reserve;         /* per engine device: the rack reserve of a BBU, else -1 */
    struct orv3_bbu_telemetry *bbu_tel; /* per engine device: a BBU's last read */
    bool *bbu_fresh;                    /* per engine device: a BBU read in this poll */
    bool *bbu_lost;                     /* per engine device: a BBU that stopped answering */
    enum mbdrv_kind *kinds;             /* per engine device */
    int *dev_items;                     /* per engine device: offset into items */
    int *items;                         /* rack indices of switch and chassis items, per device */
    int64_t *rated_mw;                  /* per rack psu */
    int64_t *power_mw;                  /* per rack server: what it asks for */
    enum orv3_health *health;           /* per rack psu: the monitor's belief */
    int *told;                      /* per rack psu: the health last told the policy (told_of), or
                                     * TOLD_UNKNOWN */
    bool *unknown;                  /* per rack psu: not readable now (reported unknown) */
    bool *ac_lost;                  /* per rack psu: believed failed with its AC input lost */
    uint32_t *causes;               /* per rack psu: the believed health's causes */
    struct orv3_psu_telemetry *tel; /* per rack psu: its last read */
    int64_t *told_mw;               /* per rack psu: the derated capacity last told */
    int derate_pct;
    char (*why)[160]; /* per rack psu: its own alarm words at its last health event */
    int nfeeds;
    char (*feed_id)[RACK_ID_LEN];
    char (*psu_id)[RACK_ID_LEN];
    int *psu_feed;             /* per rack psu */
    int *feed_psus;            /* per feed: PSUs in the rack */
    int *feed_here;            /* per feed: PSUs read by this device */
    bool *feed_down;           /* per feed: feed_fail told */
    bool *feed_ups;            /* per feed: a UPS reserve keeps it (feed_whole) */
    struct driver_report *out; /* during a poll */
    /* What the controller last decided, put back where a device differs (a
     * write that was lost, a server that browned out); -1: no decision yet. */
    signed char *want_power; /* per server: 1 powered, 0 off */
    int64_t *want_cap_mw;    /* per server: 0 uncapped */
    int *want_bus;           /* per psu */
    /* per psu: an operator's out of service opened its switch; a device
     * that shows it on a bus (open_from) is told to open it again */
    bool *want_open;
    int *open_from;
    bool *fix_server, *fix_psu;
    bool *clear_lost; /* per server: its slot's LOST latch is to be written 0 */
    /* per server: granted in the rack at open, its slot not read since; the
     * first read says whether it is powered (the lower power stands) */
    bool *check_power;
    int *server_unit; /* per server: the unit id of its chassis module, for notes */
    /* Fencing (driver.h's fence): a controller of a cluster that is not the
     * primary, or was replaced, commands nothing (no act, no fix). */
    bool stood_down;
    /* per server / psu: what the controller wants was decided by it (an act,
     * or the rack at open); false after a fence until its next act: the
     * driver then follows what the device shows and puts nothing back (the
     * device may show a command of the replaced primary that the new one's
     * ledger holds but its driver never saw) */
    bool *decided_srv, *decided_psu;
    struct ext_psu *ext; /* per rack psu */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define TOLD_UNKNOWN (-1)

/* What the policy hears of a health: at risk still delivers (prediction is
 * a later matter), so it is told as ok. */
static int told_of(enum orv3_health h)
{
    return h == ORV3_AT_RISK ? ORV3_OK : (int)h;
}

/* A degraded PSU's capacity from its last read (orv3_psu_derated_mw). */
static int64_t derated_mw(const struct mbdev *m, int psu, int *share)
{
    /* the causes of the last read: the monitor's belief keeps its level
     * while the causes under it change without an event */
    uint32_t causes = m->causes[psu] | orv3_psu_assess(&m->tel[psu], false).causes;
    return orv3_psu_derated_mw(&m->tel[psu], causes, m->rated_mw[psu], m->derate_pct, share);
}

/* Whether the PSU's belief differs from what the policy was told: its
 * health, or while degraded its capacity by 5 % of its rating or more. */
static bool untold(const struct mbdev *m, int psu)
{
    if (m->told[psu] != told_of(m->health[psu]))
        return true;
    if (m->health[psu] != ORV3_DEGRADED)
        return false;
    int64_t d = derated_mw(m, psu, NULL) - m->told_mw[psu];
    return (d < 0 ? -d : d) * 20 >= m->rated_mw[psu];
}

/* Tells the policy the PSU's believed health, with its own alarm words. */
static void tell_health(struct mbdev *m, int psu)
{
    enum orv3_health h = m->health[psu];
    const char *why = m->why[psu][0] ? m->why[psu] : "read again";
    m->told[psu] = told_of(h);
    switch (h) {
    case ORV3_FAILED:
        driver_report_input_note(m->out, POLICY_PSU_FAIL, psu, 0, "%s", why);
        break;
    case ORV3_DEGRADED: {
        int share;
        int64_t mw = derated_mw(m, psu, &share);
        m->told_mw[psu] = mw;
        if (share >= 0)
            driver_report_input_note(m->out, POLICY_PSU_DEGRADE, psu, mw,
                                     "%s; counted at %.15g W: it carries %d.%d %% of its current "
                                     "share",
                                     why, (double)mw / 1000, share / 10, share % 10);
        else
            driver_report_input_note(m->out, POLICY_PSU_DEGRADE, psu, mw,
                                     "%s; counted at %.15g W: derate_pct %d %% of %.15g W (no "
                                     "register says how much)",
                                     why, (double)mw / 1000, m->derate_pct,
                                     (double)m->rated_mw[psu] / 1000);
        break;
    }
    case ORV3_OK:
    case ORV3_AT_RISK:
        driver_report_input_note(m->out, POLICY_PSU_REPAIR, psu, 0, "%s", why);
        break;
    }
}

/* A PSU that does not answer most likely still delivers: a cut monitoring
 * cable must not shed a rack. It is unknown until a good read. */
static void unknown_input(struct mbdev *m, int psu, const char *why)
{
    if (m->unknown[psu])
        return;
    m->unknown[psu] = true;
    m->told[psu] = TOLD_UNKNOWN;
    driver_report_input_note(m->out, POLICY_PSU_UNKNOWN, psu, 0, "psu unknown: %s", why);
}

/* Read again: its health as last believed is told at the end of the poll
 * (every change of the monitor's belief is told), until the reads say more. */
static void known_again(struct mbdev *m, int psu)
{
    m->unknown[psu] = false;
}

static void believe(struct mbdev *m, int psu, const struct orv3_assessment *a)
{
    m->health[psu] = a->level;
    m->causes[psu] = a->causes;
    m->ac_lost[psu] =
        a->level == ORV3_FAILED && (a->causes & ORV3_CAUSE_BIT(ORV3_C_INPUT_LOST)) != 0;
}

static void health_input(struct mbdev *m, int psu, const struct mbdrv_event *ev)
{
    const struct orv3_assessment *a = &ev->u.health.a;
    believe(m, psu, a);
    m->unknown[psu] = false;
    char causes[96];
    const uint16_t *al = ev->u.health.alarm;
    orv3_causes_format(a->causes, causes, sizeof(causes));
    snprintf(m->why[psu], sizeof(m->why[psu]),
             "unit %d %s: %s (alarm registers 60-64: %04x %04x %04x %04x %04x)", ev->unit,
             orv3_health_name(a->level), causes, al[0], al[1], al[2], al[3], al[4]);
}

/* "ps1 (unit 200), ps3 (unit 202)": the PSUs of a feed. */
static void feed_members(const struct mbdev *m, int f, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->npsus && n < len; i++)
        if (m->psu_feed[i] == f)
            n += (size_t)snprintf(buf + n, len - n, "%s%s (unit %d)", n ? ", " : "", m->psu_id[i],
                                  mbdrv_device_unit(m->bus, m->psu_dev[i].dev));
}

/*
 * Whether feed f is told as one (feed_fail, feed_repair): it has PSUs in the
 * rack and this device entry reads every one of them. A feed whose PSUs sit
 * on several entries is told PSU by PSU: no entry sees it whole.
 *
 * One PSU is enough. feed_fail takes away exactly what psu_fail would (the
 * PSU counts for nothing either way: lowering); what it adds is that the
 * battery reserves count while the feed is down (docs/policy.md "Battery
 * reserves"). That needs proof, and input_lost with the output gone is that
 * proof for this rack: whether the feed or only this PSU's own input went,
 * the PSU delivers nothing, its bus sags and its BBUs carry what the other
 * PSUs cannot, which is what a multi-PSU feed's loss looks like too. The
 * reserves count only for keeping what draws, only while they have energy,
 * never for raising power. A PSU failed for another reason is no feed
 * failure, and one that does not answer (unknown) proves nothing.
 */
static bool feed_whole(const struct mbdev *m, int f)
{
    /* Not one PSU behind a UPS: the outage logic fails and repairs a UPS's
     * feed by what NUT says (OL: repaired), and a feed this driver told
     * failed holds its PSUs' own changes; a lone PSU still without input
     * after OL would then count. Told PSU by PSU, its psu_fail stands until
     * it reads ok. (With two or more PSUs that gap remains: docs/modbus.md.) */
    if (m->feed_psus[f] == 1 && m->feed_ups[f])
        return false;
    return m->feed_psus[f] > 0 && m->feed_here[f] == m->feed_psus[f];
}

/* A feed whose PSUs are read here, some with their AC input lost and not all
 * yet: its other PSUs are made due at once, so that one poll sees the whole
 * feed and tells one feed failure, not a PSU failure first. True when some
 * were. */
static bool feed_suspect(struct mbdev *m)
{
    bool any = false;
    for (int f = 0; f < m->nfeeds; f++) {
        if (!feed_whole(m, f) || m->feed_down[f])
            continue;
        bool lost = false;
        for (int i = 0; i < m->npsus && !lost; i++)
            lost = m->psu_feed[i] == f && m->ac_lost[i] && m->told[i] != ORV3_FAILED;
        if (!lost)
            continue;
        for (int i = 0; i < m->npsus; i++)
            if (m->psu_feed[i] == f && !m->ac_lost[i]) {
                mbdrv_refresh(m->bus, m->psu_dev[i].dev);
                any = true;
            }
    }
    return any;
}

/* A feed told down whose PSUs are read here, some back and some still
 * without AC input: the ones still without it are read again at once, since
 * a poll reads its units one after another and the AC may have come back
 * between two of them; so that the feed's return is not told as a failure
 * of its PSUs read first. True when some were. */
static bool feed_returning(struct mbdev *m)
{
    bool any = false;
    for (int f = 0; f < m->nfeeds; f++) {
        if (!feed_whole(m, f) || !m->feed_down[f])
            continue;
        bool back = false;
        for (int i = 0; i < m->npsus && !back; i++)
            back = m->psu_feed[i] == f && !m->unknown[i] && !m->ac_lost[i];
        if (!back)
            continue;
        for (int i = 0; i < m->npsus; i++)
            if (m->psu_feed[i] == f && m->ac_lost[i]) {
                mbdrv_refresh(m->bus, m->psu_dev[i].dev);
                any = true;
            }
    }
    return any;
}

/*
 * After a poll: what the PSUs' health says, told once. A feed all of whose
 * PSUs (one or more, every one read here: feed_whole) lost their AC input is
 * one feed_fail; while it is down its PSUs' own changes wait. When the first of
 * them is back the feed is repaired, after a psu_fail of each one still
 * without AC (lowering first: nothing counts a PSU that has no input).
 * Every other PSU whose belief differs from what was told is told.
 */
static void settle_health(struct mbdev *m)
{
    char who[400];
    for (int f = 0; f < m->nfeeds; f++) {
        if (!feed_whole(m, f))
            continue; /* PSUs this device cannot see: PSU by PSU */
        bool all = true, any_back = false;
        for (int i = 0; i < m->npsus; i++)
            if (m->psu_feed[i] == f) {
                all = all && !m->unknown[i] && m->ac_lost[i];
                any_back = any_back || (!m->unknown[i] && !m->ac_lost[i]);
            }
        feed_members(m, f, who, sizeof(who));
        if (all && !m->feed_down[f]) {
            m->feed_down[f] = true;
            driver_report_input_note(m->out, POLICY_FEED_FAIL, f, 0,
                                     "feed %s: every PSU on it reports its AC input lost: %s",
                                     m->feed_id[f], who);
        } else if (m->feed_down[f] && any_back) {
            for (int i = 0; i < m->npsus; i++)
                if (m->psu_feed[i] == f && !m->unknown[i] && m->ac_lost[i] &&
                    m->told[i] != told_of(m->health[i]))
                    tell_health(m, i);
            m->feed_down[f] = false;
            driver_report_input_note(m->out, POLICY_FEED_REPAIR, f, 0,
                                     "feed %s: AC input back on its PSUs: %s", m->feed_id[f], who);
        }
    }
    for (int i = 0; i < m->npsus; i++) {
        if (m->psu_dev[i].dev < 0 || m->unknown[i] || m->feed_down[m->psu_feed[i]])
            continue;
        if (m->ext[i].stuck) {
            /* standing by though told to wake: it may not wake when needed */
            if (m->told[i] != TOLD_UNKNOWN)
                driver_report_input_note(m->out, POLICY_PSU_UNKNOWN, i, 0,
                                         "psu unknown: unit %d stands by though told to wake "
                                         "(register 4352 = 1)%s%s: it counts for no protection "
                                         "until it reads awake",
                                         mbdrv_device_unit(m->bus, m->psu_dev[i].dev),
                                         m->ext[i].last_err[0] ? "; " : "", m->ext[i].last_err);
            m->told[i] = TOLD_UNKNOWN;
            continue;
        }
        if (untold(m, i))
            tell_health(m, i);
    }
}

void mbdev_psu_reading(int psu, const struct orv3_psu_telemetry *t, struct driver_psu_reading *x)
{
    *x = driver_psu_unknown(psu);
    x->out_mw = t->pout_mw;
    x->in_mw = t->pin_mw;
    x->out_mv = t->vout_mv;
    x->out_ma = t->iout_ma;
    x->in_mv = t->vin_mv;
    x->in_ma = t->iin_ma;
    x->temp_mc = t->outlet_mc;
    x->inlet_mc = t->inlet_mc;
    /* The mean of the two fans: a PSU with one fan stopped reads half. */
    x->fan_rpm = ((int64_t)t->fan_rpm[0] + t->fan_rpm[1]) / 2;
    const uint16_t *al = t->alarm;
    x->status_word = risk_orv3_status_word(al[ORV3_AL_GENERAL], al[ORV3_AL_PFC], al[ORV3_AL_DCDC],
                                           al[ORV3_AL_TEMP], al[ORV3_AL_COMM]);
}

static void on_psu(struct mbdev *m, int psu, const struct mbdrv_event *ev)
{
    if (ev->kind == MBDRV_EV_PSU) {
        const struct orv3_psu_telemetry *t = &ev->u.psu;
        struct driver_psu_reading x;
        mbdev_psu_reading(psu, t, &x);
        m->tel[psu] = *t;
        known_again(m, psu); /* a good read */
        driver_report_psu(m->out, &x);
        return;
    }
    if (ev->kind == MBDRV_EV_DEVICE) {
        if (ev->u.dev.to == MBDRV_DORMANT)
            unknown_input(m, psu, "its device stopped answering");
        return;
    }
    if (ev->kind != MBDRV_EV_HEALTH)
        return;
    const struct orv3_event *h = &ev->u.health;
    switch (h->kind) {
    case ORV3_EV_RAISE:
    case ORV3_EV_CHANGE:
    case ORV3_EV_CLEAR:
        health_input(m, psu, ev);
        break;
    case ORV3_EV_COMM_LOST:
        unknown_input(m, psu, "its reads get no answer");
        break;
    case ORV3_EV_COMM_BACK:
        believe(m, psu, &h->a); /* the monitor's belief, debounced */
        known_again(m, psu);
        break;
    }
}

static void on_slot(struct mbdev *m, int server, const struct mbdrv_slot *s)
{
    unsigned c = s->changed;
    if ((c & MBDRV_SLOT_PRESENT) && !s->present && !(c & MBDRV_SLOT_FIRST)) {
        driver_report_input(m->out, POLICY_REMOVE, server, 0);
        return;
    }
    if ((c & (MBDRV_SLOT_ASK | MBDRV_SLOT_FIRST)) && s->present) {
        if (s->ask == RACKMOD_ASK_POWER_ON)
            driver_report_input(m->out, POLICY_POWER_ON, server, 0);
        else if (s->ask == RACKMOD_ASK_POWER_OFF)
            driver_report_input(m->out, POLICY_POWER_OFF, server, 0);
    }
    /* the first read too: a server drawing power that the controller does
     * not know of is adopted (a ledger lost), not powered off */
    if ((c & (MBDRV_SLOT_DRAW | MBDRV_SLOT_FIRST)) && s->present && s->draw_mw >= 0)
        driver_report_input(m->out, POLICY_REPORT, server, s->draw_mw);
}

/*
 * A granted server that lost power without a decision: the module latched
 * it (seen even when the server has powered itself on again since, as one
 * set to power on after AC loss does), or the slot, on at the last read, is
 * off now. The policy hears lost_power and decides; meanwhile the lower
 * power stands: the slot is not powered back to match the grant, and one
 * that came back on by itself is put off (a loop of brown-outs stops here).
 */
static void lost_power(struct mbdev *m, int server, const struct mbdrv_slot *s, bool on)
{
    if (s->lost)
        m->clear_lost[server] = true;
    bool went_off = (s->changed & MBDRV_SLOT_STATE) && !(s->changed & MBDRV_SLOT_FIRST) && !on;
    if (m->want_power[server] != 1 || !s->present || s->ask == RACKMOD_ASK_POWER_OFF ||
        (!s->lost && !went_off))
        return;
    m->want_power[server] = 0;
    if (s->lost)
        driver_report_input_note(m->out, POLICY_LOST_POWER, server, 0,
                                 "slot %d of unit %d lost power %u time%s without a decision "
                                 "(its LOST latch); now %s",
                                 s->slot, m->server_unit[server], s->lost, s->lost == 1 ? "" : "s",
                                 on ? "on again by itself: put off" : "off");
    else
        driver_report_input_note(m->out, POLICY_LOST_POWER, server, 0,
                                 "slot %d of unit %d went off without a decision", s->slot,
                                 m->server_unit[server]);
}

/* A BBU's events: its reads, and its answering or not. */
static void on_bbu(struct mbdev *m, int dev, const struct mbdrv_event *ev)
{
    switch (ev->kind) {
    case MBDRV_EV_BBU:
        m->bbu_tel[dev] = ev->u.bbu;
        m->bbu_fresh[dev] = true;
        m->bbu_lost[dev] = false;
        break;
    case MBDRV_EV_HEALTH:
        if (ev->u.health.kind == ORV3_EV_COMM_LOST)
            m->bbu_lost[dev] = true;
        else if (ev->u.health.kind == ORV3_EV_COMM_BACK)
            m->bbu_lost[dev] = false;
        break;
    case MBDRV_EV_DEVICE:
        if (ev->u.dev.to == MBDRV_DORMANT)
            m->bbu_lost[dev] = true;
        break;
    default:
        break;
    }
}

/* Each BBU read in this poll as a reserve reading; one that stopped answering
 * as unread (its figures withdrawn), every poll until it answers. */
static void report_bbus(struct mbdev *m, struct driver_report *out)
{
    for (int dev = 0; dev < mbdrv_device_count(m->bus); dev++) {
        int k = m->dev_reserve[dev];
        if (k < 0)
            continue;
        struct driver_reserve_reading x = {
            .reserve = k, .charge_pct = -1, .runtime_s = -1, .watts = -1};
        const struct orv3_bbu_telemetry *t = &m->bbu_tel[dev];
        int unit = mbdrv_device_unit(m->bus, dev);
        if (m->bbu_fresh[dev]) {
            struct orv3_bbu_state st;
            orv3_bbu_state(t, &st);
            x.flags = st.discharging ? DRIVER_RES_ON_BATTERY : DRIVER_RES_ONLINE;
            x.flags |= (st.charging ? DRIVER_RES_CHARGING : 0) | (st.empty ? DRIVER_RES_LOW : 0) |
                       (st.fault ? DRIVER_RES_FAULT : 0);
            x.charge_pct = st.charge_pct;
            x.runtime_s = st.runtime_s;
            x.watts = st.watts >= 0 ? (double)st.watts : -1;
            snprintf(x.status, sizeof(x.status), "unit %d: 104=%04x 107=%04x 108=%04x", unit,
                     t->status, t->mode, t->battery_status);
        } else if (m->bbu_lost[dev]) {
            x.unread = true;
            snprintf(x.status, sizeof(x.status), "unit %d: not answering", unit);
        } else {
            continue; /* not due in this poll: its last reading stands */
        }
        m->bbu_fresh[dev] = false;
        (void)driver_report_reserve(out, &x); /* out of memory: the next poll reports again */
    }
}

static void sink(void *ctx, const struct mbdrv_event *ev)
{
    struct mbdev *m = ctx;
    if (!m->out || ev->device < 0)
        return;
    if (m->dev_reserve[ev->device] >= 0) {
        on_bbu(m, ev->device, ev);
        return;
    }
    int psu = m->dev_psu[ev->device];
    if (psu >= 0) {
        on_psu(m, psu, ev);
        return;
    }
    if (ev->kind == MBDRV_EV_SLOT) {
        const struct mbdrv_slot *sl = &ev->u.slot;
        int server = m->items[m->dev_items[ev->device] + sl->slot];
        on_slot(m, server, sl);
        bool on = sl->state != RACKMOD_SLOT_OFF;
        if (m->check_power[server]) { /* the first read since the driver opened */
            m->check_power[server] = false;
            int64_t want = m->want_cap_mw[server];
            if (sl->present && !on) {
                m->want_power[server] = 0;
                driver_report_found(m->out, server, 0);
            } else if (sl->present && sl->cap_mw > 0 && (want == 0 || sl->cap_mw < want)) {
                m->want_cap_mw[server] = sl->cap_mw; /* never raised to match the ledger */
                driver_report_found(m->out, server, sl->cap_mw);
            }
        }
        lost_power(m, server, sl, on);
        if (!m->decided_srv[server]) { /* after a fence: follow the device */
            m->want_power[server] = sl->present && on ? 1 : 0;
            m->want_cap_mw[server] = sl->present && on ? sl->cap_mw : 0;
            return;
        }
        if (m->want_power[server] >= 0 && sl->present && sl->ask != RACKMOD_ASK_POWER_OFF &&
            (on != (m->want_power[server] == 1) ||
             (on && sl->cap_mw / 1000 != m->want_cap_mw[server] / 1000)))
            m->fix_server[server] = true;
    } else if (ev->kind == MBDRV_EV_SWITCH) {
        int p = m->items[m->dev_items[ev->device] + ev->u.sw.psu];
        if (!m->decided_psu[p]) { /* after a fence: follow the device */
            m->want_bus[p] = ev->u.sw.bus;
            return;
        }
        if (m->want_bus[p] >= 0 && ev->u.sw.bus != m->want_bus[p])
            m->fix_psu[p] = true;
        if (m->want_open[p] && ev->u.sw.bus >= 0) {
            m->open_from[p] = ev->u.sw.bus;
            m->fix_psu[p] = true;
        }
    }
}

/* ---- rackpower's extension: standby and share ---------------------------- */

static int64_t share_ppm_of(int share)
{
    return (int64_t)share * (BALANCE_PPM / RACKMOD_SHARE_SCALE);
}

/*
 * One read-back of PSU psu's standby (sb) and share: what differs from what
 * the controller believes is reported (it takes the device's word); a PSU
 * awake though told to stand by stays so (never put back to standby: the
 * shelf may have woken it because its bus sagged); one standing by though
 * wanted awake is stuck: unknown (settle_health) and woken again
 * (apply_fixes). While stuck its state is reported once, not at every
 * retry.
 */
static void ext_seen(struct mbdev *m, int psu, bool sb, int share)
{
    struct ext_psu *x = &m->ext[psu];
    int unit = mbdrv_device_unit(m->bus, m->psu_dev[psu].dev);
    const char *sep = x->last_err[0] ? "; " : "";
    if (x->want < 0) /* after a fence: the device's word is the decision */
        x->want = sb;
    bool was_stuck = x->stuck;
    if (x->want == 1 && !sb)
        x->want = 0;
    x->stuck = x->want == 0 && sb;
    x->retry = x->stuck;
    if (sb != x->told && !(was_stuck && x->stuck)) {
        if (sb)
            driver_report_psu_state(m->out, psu, true, share_ppm_of(share),
                                    "unit %d stands by (register 4352 = 1) though told to "
                                    "wake%s%s",
                                    unit, sep, x->last_err);
        else
            driver_report_psu_state(m->out, psu, false, share_ppm_of(share),
                                    "unit %d is awake (register 4352 = 0) though told to stand "
                                    "by: %s%s",
                                    unit,
                                    x->last_err[0] ? "the command failed: "
                                                   : "its shelf woke it (its bus sagged)",
                                    x->last_err);
    } else if (!sb && share != x->told_share) {
        driver_report_psu_state(m->out, psu, false, share_ppm_of(share),
                                "unit %d carries a share of %d.%02d %% (register 4353) though "
                                "told %d.%02d %%%s%s",
                                unit, share / 100, share % 100, x->told_share / 100,
                                x->told_share % 100, sep, x->last_err);
    } else {
        return;
    }
    x->told = sb;
    x->told_share = share;
}

/* Reads back the standby and share of the PSUs with the extension that are
 * due (every MBDEV_EXT_READ_NS, at once after a command). The first answer
 * confirms the extension; exception 0x02 says the unit has none. */
static void ext_read(struct mbdev *m, int64_t now)
{
    for (int i = 0; i < m->npsus; i++) {
        struct ext_psu *x = &m->ext[i];
        int dev = m->psu_dev[i].dev;
        struct mbdrv_stats st;
        if (!x->on || dev < 0 || now < x->next_ns)
            continue;
        /* a unit not answering waits for its next second too (its probes
         * are the engine's): no poll loop on a read that is always due */
        x->next_ns = now + MBDEV_EXT_READ_NS;
        if (mbdrv_device_stats(m->bus, dev, &st) || st.state != MBDRV_LIVE)
            continue;
        int sb, share;
        char err[200];
        int rc = mbdrv_psu_ext_read(m->bus, dev, &sb, &share, err, sizeof(err));
        if (rc == -3) {
            x->on = false;
            snprintf(m->out->no_standby, sizeof(m->out->no_standby),
                     "%s (unit %d) is configured with extension: rackpower but has no such "
                     "registers (%s): nothing is written to it, and balancing plans no standby",
                     m->psu_id[i], mbdrv_device_unit(m->bus, dev), err);
            continue;
        }
        if (rc)
            continue; /* no answer: its reads say so (unknown) */
        if (!x->confirmed && mbdrv_epoch(m->bus) && !m->stood_down) {
            /* the fence mbdev_fence left for it (a refusal: we were replaced,
             * and the poll says by what) */
            uint64_t seen;
            if (mbdrv_fence(m->bus, dev, &seen, err, sizeof(err)) == -2)
                m->stood_down = true;
        }
        x->confirmed = true;
        if (!m->stood_down) /* a secondary's model hears nothing of it */
            ext_seen(m, i, sb != 0, share);
    }
}

/* Engine device dev is a PSU whose extension has not answered a read yet. */
static bool ext_unconfirmed(const struct mbdev *m, int dev)
{
    return m->dev_psu[dev] >= 0 && !m->ext[m->dev_psu[dev]].confirmed;
}

/* A standby, wake or share for a PSU with the extension; 0 for any other
 * (placement only: the share is journaled, not written). */
static int act_ext(struct mbdev *m, const struct policy_action *a, char *err, size_t errlen)
{
    if (a->psu < 0 || a->psu >= m->npsus || m->psu_dev[a->psu].dev < 0 || !m->ext[a->psu].on)
        return 0;
    struct ext_psu *x = &m->ext[a->psu];
    int dev = m->psu_dev[a->psu].dev, op = RACKMOD_PSU_OP_STANDBY, value;
    const char *what = policy_action_name(a->kind);
    if (a->kind == POLICY_ACT_SHARE) {
        op = RACKMOD_PSU_OP_SHARE;
        int64_t per = BALANCE_PPM / RACKMOD_SHARE_SCALE;
        int64_t v = a->share_ppm < 0 ? 0 : (a->share_ppm + per / 2) / per;
        value = (int)(v > RACKMOD_SHARE_SCALE ? RACKMOD_SHARE_SCALE : v);
        x->told_share = value;
    } else {
        value = a->kind == POLICY_ACT_STANDBY;
        x->want = (signed char)value;
        x->told = value;
    }
    x->next_ns = INT64_MIN; /* read back at the next poll, done or not */
    char e[200];
    int rc = -1;
    if (!x->confirmed)
        snprintf(e, sizeof(e), "not sent: its extension registers have not answered a read yet");
    else
        rc = mbdrv_psu_command(m->bus, dev, op, value, e, sizeof(e));
    if (rc == 0) {
        x->last_err[0] = '\0';
        return 0;
    }
    snprintf(x->last_err, sizeof(x->last_err), "%s %d refused: %s", what, value, e);
    snprintf(err, errlen, "%s (unit %d): %s %d: %s", m->psu_id[a->psu],
             mbdrv_device_unit(m->bus, dev), what, value, e);
    return rc;
}

/* (Re)connects the alert line; without it the devices are simply polled. */
static void alert_connect(struct mbdev *m, int64_t now)
{
    if (!m->alert_path[0] || m->alert_fd >= 0 || now < m->alert_retry_ns)
        return;
    m->alert_retry_ns = now + MBDEV_ALERT_RETRY_NS;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->alert_path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return;
    }
    m->alert_fd = fd;
}

static void mbdev_close(void *inst)
{
    struct mbdev *m = inst;
    if (!m)
        return;
    if (m->alert_fd >= 0)
        close(m->alert_fd);
    mbdrv_bus_free(m->bus);
    free(m->psu_dev);
    free(m->psu_switch);
    free(m->server);
    free(m->dev_psu);
    free(m->dev_reserve);
    free(m->bbu_tel);
    free(m->bbu_fresh);
    free(m->bbu_lost);
    free(m->kinds);
    free(m->dev_items);
    free(m->items);
    free(m->rated_mw);
    free(m->power_mw);
    free(m->want_power);
    free(m->want_cap_mw);
    free(m->want_bus);
    free(m->want_open);
    free(m->open_from);
    free(m->fix_server);
    free(m->clear_lost);
    free(m->server_unit);
    free(m->check_power);
    free(m->decided_srv);
    free(m->decided_psu);
    free(m->fix_psu);
    free(m->health);
    free(m->told);
    free(m->unknown);
    free(m->ac_lost);
    free(m->causes);
    free(m->tel);
    free(m->told_mw);
    free(m->why);
    free(m->feed_id);
    free(m->psu_id);
    free(m->psu_feed);
    free(m->feed_psus);
    free(m->feed_here);
    free(m->feed_down);
    free(m->feed_ups);
    free(m->ext);
    free(m);
}

static void bus_config(const struct rackfile_device *d, struct mbdrv_bus_config *c)
{
    bool rtu = d->kind == RACKFILE_DEV_MODBUS_RTU;
    mbdrv_bus_config_default(c, rtu ? MBDRV_RTU : MBDRV_TCP);
    snprintf(c->host, sizeof(c->host), "%s", d->host);
    c->port = d->port;
    snprintf(c->device, sizeof(c->device), "%s", d->device);
    if (d->baud)
        c->baud = d->baud;
    c->parity = d->parity == RACKFILE_PARITY_NONE  ? 'N'
                : d->parity == RACKFILE_PARITY_ODD ? 'O'
                                                   : 'E';
    if (d->data_bits)
        c->data_bits = d->data_bits;
    if (d->stop_bits)
        c->stop_bits = d->stop_bits;
    if (d->timeout_ns)
        c->response_timeout_ns = d->timeout_ns;
    if (d->reprobe_ns)
        c->reprobe_ns = d->reprobe_ns;
    /* a unit that just stopped answering is tried again a poll later */
    if (d->poll_ns)
        c->reprobe_min_ns = d->poll_ns;
}

/* Adds the engine device for one configured unit and records where the rack
 * elements sit on it. */
static int add_unit(struct mbdev *m, const struct rackfile_unit *u, int *nitems, char *err,
                    size_t errlen)
{
    struct mbdrv_device_config c = {.unit = u->unit};
    switch (u->role) {
    case RACKFILE_UNIT_PSU:
        c.kind = MBDRV_ORV3_PSU;
        c.ext = u->extension == RACKFILE_EXT_RACKPOWER;
        break;
    case RACKFILE_UNIT_SWITCH:
        c.kind = MBDRV_SIM_SWITCH;
        c.count = (int)u->items.n;
        c.nbuses = m->nbuses;
        break;
    case RACKFILE_UNIT_CHASSIS:
        c.kind = MBDRV_SIM_CHASSIS;
        c.count = (int)u->items.n;
        break;
    case RACKFILE_UNIT_BBU: /* the BBU registers: a reserve's readings */
        c.kind = MBDRV_ORV3_BBU;
        break;
    }
    int dev = mbdrv_add_device(m->bus, &c, err, errlen);
    if (dev < 0)
        return -1;
    m->dev_psu[dev] = u->role == RACKFILE_UNIT_PSU ? u->psu : -1;
    m->dev_reserve[dev] = u->role == RACKFILE_UNIT_BBU ? u->reserve : -1;
    m->kinds[dev] = c.kind;
    m->dev_items[dev] = *nitems;
    for (size_t k = 0; k < u->items.n; k++) {
        int idx = u->items.v[k];
        m->items[(*nitems)++] = idx;
        if (u->role == RACKFILE_UNIT_SWITCH)
            m->psu_switch[idx] = (struct where){dev, (int)k};
        else {
            m->server[idx] = (struct where){dev, (int)k};
            m->server_unit[idx] = u->unit;
        }
    }
    if (u->role == RACKFILE_UNIT_PSU) {
        m->psu_dev[u->psu] = (struct where){dev, 0};
        m->ext[u->psu].on = c.ext;
    }
    return 0;
}

/* Puts the devices where the controller believes they are: PSUs on their
 * buses, granted servers at their grant. A server the devices show asking or
 * running without a grant is reported at the first poll. A granted server
 * its slot shows off, or capped below its grant, is not raised to match:
 * after a crash the ledger may lack a shed or a cap the device carried out,
 * and the lower power stands until the policy decides again (found in the
 * first poll's report). */
static void reconcile(struct mbdev *m, const struct rack *r)
{
    for (int i = 0; i < r->npsus; i++) {
        if (m->psu_switch[i].dev >= 0 && r->psus[i].bus >= 0) {
            m->want_bus[i] = r->psus[i].bus;
            m->fix_psu[i] = true;
        }
        /* failed and on no bus (an operator's out of service across a
         * restart): its switch stays open; the first read says from where.
         * The rack counts it at nothing, so no grant rests on it. */
        m->want_open[i] = r->psus[i].bus < 0 && r->psus[i].health == RACK_PSU_FAILED;
        /* standby and share as the controller has them (a restarted daemon:
         * every PSU awake, so one the shelf has standing by is woken) */
        struct ext_psu *x = &m->ext[i];
        x->want = r->psus[i].standby;
        x->told = r->psus[i].standby;
        x->told_share = (int)(r->psus[i].share_ppm / (BALANCE_PPM / RACKMOD_SHARE_SCALE));
        x->next_ns = INT64_MIN;
    }
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        if (m->server[i].dev < 0 || !rack_server_draws(s))
            continue;
        m->want_power[i] = 1;
        m->want_cap_mw[i] = s->state == RACK_SRV_CAPPED ? s->alloc_mw : 0;
        m->check_power[i] = true;
    }
}

/* Puts back what the controller decided where a device differs. */
static void apply_fixes(struct mbdev *m)
{
    char err[256];
    if (m->stood_down)
        return;
    for (int i = 0; i < m->npsus; i++) {
        if (!m->fix_psu[i])
            continue;
        m->fix_psu[i] = false;
        struct where w = m->psu_switch[i];
        if (m->want_open[i])
            mbdrv_set_switch(m->bus, w.dev, w.item, m->open_from[i], false, err, sizeof(err));
        else
            mbdrv_set_switch(m->bus, w.dev, w.item, m->want_bus[i], true, err, sizeof(err));
    }
    for (int i = 0; i < m->npsus; i++) {
        struct ext_psu *x = &m->ext[i];
        if (!x->retry || !x->on || !x->confirmed || m->psu_dev[i].dev < 0)
            continue;
        x->retry = false; /* once per read-back: it is read again in a second */
        char e[200];
        if (mbdrv_psu_command(m->bus, m->psu_dev[i].dev, RACKMOD_PSU_OP_STANDBY, 0, e, sizeof(e)) ==
            0)
            x->last_err[0] = '\0';
        else
            snprintf(x->last_err, sizeof(x->last_err), "wake 0 refused: %s", e);
    }
    for (int i = 0; i < m->nservers; i++) {
        struct where w = m->server[i];
        /* kept until written: the latch may not move again to say it */
        if (m->clear_lost[i] && mbdrv_clear_lost(m->bus, w.dev, w.item, err, sizeof(err)) == 0)
            m->clear_lost[i] = false;
        if (!m->fix_server[i])
            continue;
        m->fix_server[i] = false;
        if (m->want_power[i] == 1)
            mbdrv_set_slot_cap(m->bus, w.dev, w.item, m->want_cap_mw[i], err, sizeof(err));
        mbdrv_set_slot_power(m->bus, w.dev, w.item, m->want_power[i] == 1, err, sizeof(err));
    }
}

/* The feed-failure state (settle_health) was allocated. */
static bool feed_state_ok(const struct mbdev *m)
{
    return m->told && m->ac_lost && m->why && m->psu_id && m->psu_feed && m->feed_id &&
           m->feed_psus && m->feed_here && m->feed_down && m->feed_ups && m->causes && m->tel &&
           m->told_mw;
}

static void *mbdev_open(const struct rackfile_device *d, const struct rack *r, char *err,
                        size_t errlen)
{
    struct mbdev *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->alert_fd = -1;
    if (strlen(d->alert) >= sizeof(m->alert_path)) {
        snprintf(err, errlen, "alert: socket path longer than %zu bytes",
                 sizeof(m->alert_path) - 1);
        free(m);
        return NULL;
    }
    snprintf(m->alert_path, sizeof(m->alert_path), "%s", d->alert);
    m->poll_ns = d->poll_ns > 0 ? d->poll_ns : 200000000LL;
    m->nbuses = r->nbuses;
    m->npsus = r->npsus;
    m->nservers = r->nservers;
    size_t np = (size_t)r->npsus + 1, ns = (size_t)r->nservers + 1, nu = d->nunits + 1;
    size_t nitems = 1;
    for (size_t k = 0; k < d->nunits; k++)
        nitems += d->units[k].items.n;
    m->psu_dev = malloc(np * sizeof(*m->psu_dev));
    m->psu_switch = malloc(np * sizeof(*m->psu_switch));
    m->server = malloc(ns * sizeof(*m->server));
    m->dev_psu = malloc(nu * sizeof(*m->dev_psu));
    m->dev_reserve = malloc(nu * sizeof(*m->dev_reserve));
    m->bbu_tel = calloc(nu, sizeof(*m->bbu_tel));
    m->bbu_fresh = calloc(nu, sizeof(*m->bbu_fresh));
    m->bbu_lost = calloc(nu, sizeof(*m->bbu_lost));
    m->kinds = malloc(nu * sizeof(*m->kinds));
    m->dev_items = malloc(nu * sizeof(*m->dev_items));
    m->items = malloc(nitems * sizeof(*m->items));
    m->rated_mw = malloc(np * sizeof(*m->rated_mw));
    m->health = malloc(np * sizeof(*m->health));
    m->unknown = calloc(np, sizeof(*m->unknown));
    m->told = malloc(np * sizeof(*m->told));
    m->ac_lost = calloc(np, sizeof(*m->ac_lost));
    m->causes = calloc(np, sizeof(*m->causes));
    m->tel = calloc(np, sizeof(*m->tel));
    m->told_mw = calloc(np, sizeof(*m->told_mw));
    m->derate_pct = d->derate_pct > 0 ? d->derate_pct : 50;
    m->why = calloc(np, sizeof(*m->why));
    m->psu_id = calloc(np, sizeof(*m->psu_id));
    m->psu_feed = calloc(np, sizeof(*m->psu_feed));
    size_t nf = (size_t)r->nfeeds + 1;
    m->nfeeds = r->nfeeds;
    m->feed_id = calloc(nf, sizeof(*m->feed_id));
    m->feed_psus = calloc(nf, sizeof(*m->feed_psus));
    m->feed_here = calloc(nf, sizeof(*m->feed_here));
    m->feed_down = calloc(nf, sizeof(*m->feed_down));
    m->feed_ups = calloc(nf, sizeof(*m->feed_ups));
    m->power_mw = malloc(ns * sizeof(*m->power_mw));
    m->want_power = malloc(ns * sizeof(*m->want_power));
    m->want_cap_mw = calloc(ns, sizeof(*m->want_cap_mw));
    m->want_bus = malloc(np * sizeof(*m->want_bus));
    m->want_open = calloc(np, sizeof(*m->want_open));
    m->open_from = calloc(np, sizeof(*m->open_from));
    m->fix_server = calloc(ns, sizeof(*m->fix_server));
    m->clear_lost = calloc(ns, sizeof(*m->clear_lost));
    m->server_unit = calloc(ns, sizeof(*m->server_unit));
    m->fix_psu = calloc(np, sizeof(*m->fix_psu));
    m->check_power = calloc(ns, sizeof(*m->check_power));
    m->decided_srv = malloc(ns * sizeof(*m->decided_srv));
    m->decided_psu = malloc(np * sizeof(*m->decided_psu));
    m->ext = calloc(np, sizeof(*m->ext));
    if (!m->kinds || !m->psu_dev || !m->psu_switch || !m->server || !m->dev_psu || !m->dev_items ||
        !m->items || !m->rated_mw || !m->health || !m->unknown || !m->power_mw || !m->want_power ||
        !m->want_cap_mw || !m->want_bus || !m->want_open || !m->open_from || !m->fix_server ||
        !m->fix_psu || !m->check_power || !m->clear_lost || !m->server_unit || !m->decided_srv ||
        !m->decided_psu || !m->ext || !m->dev_reserve || !m->bbu_tel || !m->bbu_fresh ||
        !m->bbu_lost || !feed_state_ok(m)) {
        snprintf(err, errlen, "out of memory");
        mbdev_close(m);
        return NULL;
    }
    for (int i = 0; i < r->npsus; i++) {
        m->psu_dev[i] = m->psu_switch[i] = (struct where){-1, -1};
        m->want_bus[i] = -1;
        m->rated_mw[i] = r->psus[i].rated_mw;
        m->health[i] = r->psus[i].health == RACK_PSU_FAILED     ? ORV3_FAILED
                       : r->psus[i].health == RACK_PSU_DEGRADED ? ORV3_DEGRADED
                                                                : ORV3_OK;
        /* unknown to the rack: the first health the reads give is told */
        m->unknown[i] = r->psus[i].health == RACK_PSU_UNKNOWN;
        m->told[i] = m->unknown[i] ? TOLD_UNKNOWN : told_of(m->health[i]);
        m->told_mw[i] = r->psus[i].derated_mw;
        snprintf(m->psu_id[i], sizeof(m->psu_id[i]), "%s", r->psus[i].id);
        m->psu_feed[i] = r->psus[i].feed;
        m->feed_psus[r->psus[i].feed]++;
    }
    for (int f = 0; f < r->nfeeds; f++) {
        snprintf(m->feed_id[f], sizeof(m->feed_id[f]), "%s", r->feeds[f]);
        m->feed_down[f] = r->feed_failed[f];
    }
    for (int k = 0; k < r->nreserves; k++)
        if (r->reserves[k].kind == RACK_RESERVE_UPS && r->reserves[k].at >= 0 &&
            r->reserves[k].at < r->nfeeds)
            m->feed_ups[r->reserves[k].at] = true;
    for (int i = 0; i < r->nservers; i++) {
        m->server[i] = (struct where){-1, -1};
        m->power_mw[i] = r->servers[i].power_mw;
        m->want_power[i] = -1;
        m->decided_srv[i] = true;
    }
    for (int i = 0; i < r->npsus; i++)
        m->decided_psu[i] = true;
    struct mbdrv_bus_config c;
    bus_config(d, &c);
    m->bus = mbdrv_bus_new(&c, sink, m, err, errlen);
    if (!m->bus) {
        mbdev_close(m);
        return NULL;
    }
    int used = 0;
    for (size_t k = 0; k < d->nunits; k++)
        if (add_unit(m, &d->units[k], &used, err, errlen)) {
            mbdev_close(m);
            return NULL;
        }
    for (int i = 0; i < r->npsus; i++)
        if (m->psu_dev[i].dev >= 0)
            m->feed_here[m->psu_feed[i]]++;
    reconcile(m, r);
    return m;
}

/* The servers whose chassis module answered in the poll of now: their draw
 * and state are fresh, changed or not (a draw is reported only when it
 * moves). */
static void report_read(struct mbdev *m, int64_t now, struct driver_report *out)
{
    struct mbdrv_stats st;
    for (int s = 0; s < m->nservers; s++)
        if (m->server[s].dev >= 0 && !mbdrv_device_stats(m->bus, m->server[s].dev, &st) &&
            st.last_ok_ns == now)
            (void)driver_report_read(out, s); /* out of memory: older for a poll */
}

/* Reads what is due (everything of a device that raised an alert first).
 * Waiting happens in the worker, on mbdev_fd and mbdev_next_due_ns. */
static int mbdev_poll(void *inst, int timeout_ms, struct driver_report *out, char *err,
                      size_t errlen)
{
    struct mbdev *m = inst;
    int64_t now = mono_ns();
    alert_connect(m, now);
    if (m->alert_fd >= 0 && mbdrv_wait(m->bus, m->alert_fd, 0) < 0) {
        /* the alert line's writer is gone: poll on, reconnect later */
        close(m->alert_fd);
        m->alert_fd = -1;
    }
    m->out = out;
    mbdrv_poll_once(m->bus, now, now + (int64_t)timeout_ms * 1000000);
    if (feed_suspect(m) || feed_returning(m))
        mbdrv_poll_once(m->bus, now, now + (int64_t)timeout_ms * 1000000);
    ext_read(m, now);
    settle_health(m);
    m->out = NULL;
    apply_fixes(m);
    if (mbdrv_fenced_by(m->bus)) {
        m->stood_down = true;
        out->fenced_by = mbdrv_fenced_by(m->bus);
    }
    /* a cluster's controller: one command module read back holding our
     * epoch is the proof that commands without a fence may go (outage) */
    uint64_t ours = mbdrv_epoch(m->bus);
    for (int k = 0; ours && !m->stood_down && k < mbdrv_device_count(m->bus); k++) {
        uint64_t owner;
        if (mbdrv_is_command_device(m->bus, k) && !ext_unconfirmed(m, k) &&
            !mbdrv_owner_epoch(m->bus, k, &owner, NULL, 0) && owner == ours) {
            out->epoch_held = ours;
            break;
        }
    }
    report_read(m, now, out);
    report_bbus(m, out);
    /* the counters for the operator; devices that stopped answering: the
     * worker logs it once, the operator sees the device down */
    int ndown = 0;
    struct mbdrv_stats st, first = {0};
    for (int k = 0; k < mbdrv_device_count(m->bus); k++) {
        if (mbdrv_device_stats(m->bus, k, &st))
            continue;
        if (st.state == MBDRV_DORMANT && !ndown++)
            first = st;
        struct driver_unit_stats u = {.unit = mbdrv_device_unit(m->bus, k),
                                      .ok = st.ok,
                                      .timeouts = st.timeouts,
                                      .crc_errors = st.crc_errors,
                                      .exceptions = st.exceptions,
                                      .retries = st.retries,
                                      .writes = st.writes,
                                      .write_errors = st.write_errors,
                                      .last_ok_ns = st.last_ok_ns};
        snprintf(u.kind, sizeof(u.kind), "%s", mbdrv_kind_name(m->kinds[k]));
        snprintf(u.state, sizeof(u.state), "%s", mbdrv_state_name(st.state));
        snprintf(u.last_error, sizeof(u.last_error), "%s", st.last_error);
        driver_report_unit(out, &u);
    }
    if (ndown) {
        snprintf(err, errlen, "%d unit(s) not answering (dormant, re-probed), first: %s", ndown,
                 first.last_error);
        return -1;
    }
    return 0;
}

static int mbdev_fd(void *inst)
{
    struct mbdev *m = inst;
    alert_connect(m, mono_ns());
    return m->alert_fd;
}

static int64_t mbdev_next_due_ns(void *inst)
{
    struct mbdev *m = inst;
    int64_t next = mbdrv_next_due_ns(m->bus), now = mono_ns();
    for (int i = 0; i < m->npsus; i++)
        if (m->ext[i].on && m->psu_dev[i].dev >= 0 && m->ext[i].next_ns < next)
            next = m->ext[i].next_ns;
    /* "at once" is INT64_MIN inside: callers subtract their now */
    return next < now ? now : next;
}

static int act(struct mbdev *m, const struct policy_action *a, char *err, size_t errlen);

/* A command refused by a module fenced by a higher epoch: this controller
 * was replaced; it commands nothing more (the report says by what). */
static int mbdev_act(void *inst, const struct policy_action *a, char *err, size_t errlen)
{
    struct mbdev *m = inst;
    if (m->stood_down) {
        snprintf(err, errlen, "not the primary: commands withheld (%s)",
                 mbdrv_fenced_by(m->bus) ? "fenced by a higher epoch" : "stood down");
        return -1;
    }
    int rc = act(m, a, err, errlen);
    if (rc == -2 || (rc && mbdrv_fenced_by(m->bus))) {
        m->stood_down = true;
        return -2;
    }
    return rc;
}

static int act(struct mbdev *m, const struct policy_action *a, char *err, size_t errlen)
{
    if (a->kind == POLICY_ACT_STANDBY || a->kind == POLICY_ACT_WAKE || a->kind == POLICY_ACT_SHARE)
        return act_ext(m, a, err, errlen);
    if (a->kind == POLICY_ACT_SWITCH) {
        struct where w = m->psu_switch[a->psu];
        if (w.dev < 0)
            return 0;
        m->decided_psu[a->psu] = true;
        m->want_bus[a->psu] = a->to_bus;
        m->want_open[a->psu] = a->to_bus < 0;
        if (a->to_bus < 0 && a->from_bus < 0)
            return 0; /* on no bus already: nothing to open */
        return a->to_bus >= 0
                   ? mbdrv_set_switch(m->bus, w.dev, w.item, a->to_bus, true, err, errlen)
                   : mbdrv_set_switch(m->bus, w.dev, w.item, a->from_bus, false, err, errlen);
    }
    if (a->server < 0 || a->server >= m->nservers || m->server[a->server].dev < 0)
        return 0;
    struct where w = m->server[a->server];
    /* a cap below the grant is written before the power, so the server never
     * draws above what it was granted; 0 means uncapped */
    int64_t cap = a->watts_mw > 0 && a->watts_mw < m->power_mw[a->server] ? a->watts_mw : 0;
    /* a cap action is written as it is: the daemon caps a server that draws
     * more than its grant at the grant, power_w included (docs/daemon.md) */
    if (a->kind == POLICY_ACT_CAP && a->watts_mw > 0)
        cap = a->watts_mw;
    m->decided_srv[a->server] = true;
    switch (a->kind) {
    case POLICY_ACT_CAP:
    case POLICY_ACT_GRANT:
    case POLICY_ACT_RESTORE:
        m->want_power[a->server] = 1;
        m->want_cap_mw[a->server] = cap;
        break;
    case POLICY_ACT_SHED:
    case POLICY_ACT_RELEASE:
        m->want_power[a->server] = 0;
        break;
    default:
        break;
    }
    switch (a->kind) {
    case POLICY_ACT_CAP:
        return mbdrv_set_slot_cap(m->bus, w.dev, w.item, cap, err, errlen);
    case POLICY_ACT_GRANT:
    case POLICY_ACT_RESTORE:
        return mbdrv_grant_slot(m->bus, w.dev, w.item, cap, err, errlen);
    case POLICY_ACT_SHED:
        return mbdrv_set_slot_power(m->bus, w.dev, w.item, false, err, errlen);
    case POLICY_ACT_RELEASE:
        return mbdrv_clear_ask(m->bus, w.dev, w.item, err, errlen);
    default:
        return 0;
    }
}

/* Adopts what the modules showed at their last read as what the controller
 * wants, and forgets the fixes: a new primary puts back none of the
 * decisions made before it (they may be a replaced primary's, or stale),
 * and never raises a server to match its rack; it decides anew. Until it
 * acts on an element, the driver follows what the device shows (the sink). */
static void adopt_devices(struct mbdev *m)
{
    for (int i = 0; i < m->npsus; i++) {
        m->ext[i].want = -1; /* the next read-back says */
        m->ext[i].next_ns = INT64_MIN;
        m->ext[i].retry = false;
        m->fix_psu[i] = false;
        m->decided_psu[i] = false;
        m->want_open[i] = false;
        int bus;
        struct where w = m->psu_switch[i];
        m->want_bus[i] =
            w.dev >= 0 && mbdrv_last_switch(m->bus, w.dev, w.item, &bus) == 0 ? bus : -1;
    }
    for (int i = 0; i < m->nservers; i++) {
        m->fix_server[i] = false;
        m->decided_srv[i] = false;
        struct mbdrv_slot sl;
        struct where w = m->server[i];
        if (w.dev < 0 || mbdrv_last_slot(m->bus, w.dev, w.item, &sl)) {
            m->want_power[i] = -1;
            continue;
        }
        bool on = sl.present && sl.state != RACKMOD_SLOT_OFF;
        m->want_power[i] = on ? 1 : 0;
        m->want_cap_mw[i] = on ? sl.cap_mw : 0;
    }
}

static int mbdev_fence(void *inst, uint64_t epoch, uint64_t *seen, char *err, size_t errlen)
{
    struct mbdev *m = inst;
    *seen = 0;
    mbdrv_set_epoch(m->bus, epoch);
    if (epoch == 0) {
        m->stood_down = true;
        for (int i = 0; i < m->npsus; i++)
            m->ext[i].stuck = m->ext[i].retry = false; /* the primary's to judge */
        return 0;
    }
    adopt_devices(m);
    int rc = 0;
    for (int k = 0; k < mbdrv_device_count(m->bus); k++) {
        /* a PSU's extension is fenced once it answered a read (ext_read):
         * nothing goes to 4100 of a unit that may have no such register */
        if (!mbdrv_is_command_device(m->bus, k) || ext_unconfirmed(m, k))
            continue;
        uint64_t s;
        char e[256];
        int r = mbdrv_fence(m->bus, k, &s, e, sizeof(e));
        if (r == -2) {
            if (s > *seen)
                *seen = s;
            if (rc != -2)
                snprintf(err, errlen, "%s", e);
            rc = -2;
        } else if (r == -1 && rc == 0) {
            snprintf(err, errlen, "%s", e);
            rc = -1;
        }
    }
    m->stood_down = rc == -2;
    return rc;
}

#define MBDEV_OPS(name)                                                                            \
    {                                                                                              \
        .kind = name, .open = mbdev_open, .poll = mbdev_poll, .act = mbdev_act,                    \
        .close = mbdev_close, .fd = mbdev_fd, .next_due_ns = mbdev_next_due_ns,                    \
        .fence = mbdev_fence,                                                                      \
    }
const struct driver_ops mbdev_tcp_ops = MBDEV_OPS("modbus-tcp");
const struct driver_ops mbdev_rtu_ops = MBDEV_OPS("modbus-rtu");
