/*
 * engine.c - the loop thread (engine.h): wakes for device reports, API
 * commands, the policy's deadline, signals and the watchdog, and hands each
 * to the module that owns it: decide.c decides and journals, commands.c
 * runs the operator's commands, ledger.c restores the rack at start,
 * reload.c says what a SIGHUP may change.
 */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <uv.h>

#include "alarms.h"
#include "api.h"
#include "auth.h"
#include "commands.h"
#include "decide.h"
#include "devices.h"
#include "driver_conf.h"
#include "evjson.h"
#include "grow.h"
#include "hub.h"
#include "ledger.h"
#include "log.h"
#include "member.h"
#include "monoclock.h"
#include "outage_run.h"
#include "overdraw.h"
#include "policy.h"
#include "predict.h"
#include "predict_history.h"
#include "prune.h"
#include "history.h"
#include "relay.h"
#include "reload.h"
#include "replica.h"
#include "store.h"
#include "timer_at.h"
#include "view.h"

#ifndef RP_VERSION
#define RP_VERSION "0"
#endif

#define NSIGNALS 3
#define SHUTDOWN_ANSWER_MS 200 /* POST /v1/shutdown: the loop stops this long after its answer */
#define DB_CHECK_MS 1000       /* how often the database's file is looked at */
#define AGES_MS 1000           /* how often the snapshot is rebuilt for its readings' ages */

struct engine {
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t deadline, watchdog, catchup, dbcheck, stopper, ages, overdraw;
    uv_signal_t sig[NSIGNALS];
    bool loop_ready;

    struct engine_opts opts;
    char config_path[4096], db_path[4096];
    struct rack rack;
    struct rackfile_daemon conf;
    struct rackfile_device simdev; /* the embedded default */
    const struct rackfile_device *devs;
    size_t ndevs;

    struct decider dec; /* the policy, the last actions, the journal */
    bool dec_ready;
    struct commands_overlay ov;
    struct store *store;
    struct pruner *pruner; /* keeps the journal within the config's journal: limits */
    struct histw *hist;    /* the telemetry history's writer (history.h); NULL: none */
    char hist_path[4096];
    struct hub *hub;
    struct api *api;
    struct devices *devices;
    struct view_device *vdev;
    struct driver_psu_reading *tel;
    struct view_read *psu_read, *srv_read; /* when each reading was last fresh, and by whom */
    bool *dev_down; /* per device: its worker reported it down (not yet up again) */
    /* per server: the ledger named it at start, or its device said since
     * what it draws; a server drawing power that neither knew is adopted */
    bool *srv_known;
    /* per device: without a ledger, its first read is awaited before power
     * is raised (it may show servers drawing power to adopt) */
    bool *dev_awaited;
    size_t awaited;

    struct overdraw od; /* servers over their grant, servers shed by a loss of power */

    /* Live failure prediction (predict.h, docs/prediction.md "In rackpowerd"). */
    struct predictor pred;
    bool pred_ready;

    /* Outages with battery reserves (outage_run.h, docs/outage.md). */
    struct orun orun;
    bool orun_ready;
    bool outage_kept; /* the database holds a record of an outage (outage_keep) */
    uv_timer_t outage_tm;
    int64_t epoch_ok_ns; /* a command device last accepted this controller's epoch (mono_ns);
                          * INT64_MIN never: the gate of outage_may_command */

    /* conditions that last: the active alarms, and the scratch to update them */
    struct alarm_set alarms, conditions, raised, cleared;
    char protection_reason[POLICY_REASON_LEN]; /* the policy's last word on protection */
    /* per server: the reason of the last decision about it (GET /v1/servers/{id}) */
    char (*srv_reason)[VIEW_REASON_LEN];
    char db_lost[600]; /* why the database file cannot be trusted, "" while it can */

    double started;
    const char *stop_reason;
    char stop_why[128];

    /* A cluster member (node:), NULL for a lone controller. Only a lone
     * controller, or a primary whose devices are fenced, decides and
     * commands: `commanding`. A primary's decision is replicated before
     * what it raises is sent: its raises wait in `held` for the entry's
     * commit, and the API's answer in `answers` (docs/controllers.md). */
    struct member *member;
    bool commanding;
    uint64_t epoch;     /* the epoch it commands in; 0 alone */
    uint64_t gate;      /* the entry the decision being carried out waits for; 0 none */
    uint64_t appended;  /* the last entry appended */
    uint64_t committed; /* the last entry every live secondary holds */
    struct held_action {
        uint64_t index;
        struct policy_action a;
    } * held;
    size_t nheld, held_cap;
    struct held_answer {
        uint64_t index;
        struct hub_cmd *c;
        int status;
        char *body;
    } * answers;
    size_t nanswers, answers_cap;
    char unfit[300]; /* why it may not be primary ("" while fit): journal, devices */
    /* the fence under way: its epoch (0 none), devices yet to answer */
    uint64_t fencing, fence_seen;
    bool fence_refused;
    bool *fence_answered; /* per device */
    size_t fence_waiting;
    /* reports that came while fencing: a new driver's first read, which
     * must reach the primary it is fencing for (edges come once) */
    struct devices_msg *early, **early_tail;
    struct member_view mview;
    struct view_cluster vcluster;

    /* A cluster member's PSUs told to the primary, others' PSUs made unknown
     * when nobody tells of them, commands given to a secondary forwarded
     * (relay.h); NULL alone. */
    struct relay *relay;
    uv_timer_t relay_timer;
    bool relay_timer_open;
    struct relay_pending *pending; /* commands given to this secondary, waiting */
    uint32_t fwd_id;               /* the last FORWARD's id */
    int64_t forward_next_ns;       /* a secondary's next forward at the latest */
    /* after a promotion, until this (mono_ns; 0 none): what raises power is
     * held while the other controllers' PSUs may still count as last
     * replicated (their grace; docs/controllers.md "The first grace after
     * a promotion") */
    int64_t grace_hold_ns;
    int64_t promoted_ns;        /* mono_ns of the last promotion */
    char relay_device[160];     /* the device that last read its PSUs */
    bool forward_left_out;      /* the last forward left reserves out (logged once) */
    bool reserves_refused[256]; /* by node: its last forward's reserves refused (logged) */
    bool peer_dead[256];        /* as last seen, by address */
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

/* ---- publishing ---- */

/* The status's cluster fields, NULL for a lone controller. */
static const struct view_cluster *cluster_view(struct engine *e)
{
    if (!e->member)
        return NULL;
    struct member_view *m = &e->mview;
    struct view_cluster *v = &e->vcluster;
    member_view(e->member, m);
    v->role = m->role;
    v->node = m->node;
    v->epoch = m->epoch;
    v->primary = m->primary;
    v->npeers = m->npeers < VIEW_PEERS ? m->npeers : VIEW_PEERS;
    for (size_t i = 0; i < v->npeers; i++)
        v->peers[i] = (struct view_peer){.node = m->peers[i].node,
                                         .state = m->peers[i].state,
                                         .last_heard = m->peers[i].last_heard};
    v->sent = m->bus.sent;
    v->received = m->bus.received;
    v->forged = m->bus.guard.forged;
    v->replayed = m->bus.guard.replayed;
    v->unverified = m->bus.guard.unverified;
    return v;
}

static void publish(struct engine *e)
{
    struct view_in in = {
        .r = &e->rack,
        .psu_oos = e->ov.psu_oos,
        .bus_oos = e->ov.bus_oos,
        .tel = e->tel,
        .pred = e->pred_ready ? &e->pred : NULL,
        .devices = e->vdev,
        .ndevices = e->ndevs,
        .alarms = &e->alarms,
        .srv_reason = e->srv_reason,
        .psu_read = e->psu_read,
        .srv_read = e->srv_read,
        .start_ns = e->dec.start_ns,
        .t_ns = mono_ns() - e->dec.start_ns,
        .started = e->started,
        .last_event_id = e->dec.last_id,
        .version = RP_VERSION,
        .cluster = cluster_view(e),
        .raises_held = e->dec.distrust,
    };
    int64_t now = mono_ns();
    in.outage = e->orun_ready ? orun_view(&e->orun, now) : NULL;
    in.outage_status = e->orun_ready ? orun_status(&e->orun, now) : NULL;
    struct hub_snap *s = view_build(&in);
    json_decref(in.outage);
    json_decref(in.outage_status);
    if (!s) {
        log_warnx("snapshot: out of memory; readers keep the previous one");
        return;
    }
    hub_publish(e->hub, s);
}

static void on_deadline(uv_timer_t *t);
static void outage_soon(struct engine *e);

/* Arms the timer for the policy's next deadline (a restore waiting for the
 * rack to be stable). */
static void schedule(struct engine *e)
{
    timer_at(&e->deadline, on_deadline, policy_next_deadline(&e->rack));
}

static void on_catchup(uv_timer_t *t);
static void update_alarms(struct engine *e);
static void check_fit(struct engine *e);

/* While the journal is behind, it is tried again every second. */
static void watch_journal(struct engine *e)
{
    if (e->loop_ready && decider_behind(&e->dec) && !uv_is_active((uv_handle_t *)&e->catchup))
        uv_timer_start(&e->catchup, on_catchup, 1000, 1000);
}

static void on_catchup(uv_timer_t *t)
{
    struct engine *e = t->data;
    char err[256];
    if (decider_catch_up(&e->dec, err, sizeof(err)))
        return; /* the next tick tries again */
    uv_timer_stop(&e->catchup);
    update_alarms(e); /* journal_behind clears */
    publish(e);
}

/* Journals an event that decides nothing; a failure is logged, not fatal:
 * the event waits in memory for the journal, the daemon goes on. */
static void journal(struct engine *e, json_t *ev)
{
    char err[256];
    if (decider_journal(&e->dec, ev, err, sizeof(err)) < 0) {
        log_warnx("journal: %s; the event waits for the journal", err);
        watch_journal(e);
    }
}

/* ---- failure prediction (predict.h, docs/prediction.md "In rackpowerd") ---- */

static json_t *rounded(double x, double unit)
{
    return isnan(x) ? json_null() : json_real(round(x / unit) * unit);
}

/* A duration for a reason: "45 s", "36.2 h", "9.5 d". */
static const char *duration(double s, char *buf, size_t len)
{
    if (isnan(s))
        snprintf(buf, len, "unknown");
    else if (s < 3600)
        snprintf(buf, len, "%.0f s", s);
    else if (s < 4 * 86400)
        snprintf(buf, len, "%.1f h", s / 3600);
    else
        snprintf(buf, len, "%.1f d", s / 86400);
    return buf;
}

/* What the prediction said of PSU i, as an event ("prediction"). */
static json_t *prediction_event(struct engine *e, int i, bool at_risk)
{
    const struct pred_psu *q = &e->pred.psu[i];
    json_t *ev = decider_event(&e->dec, "prediction");
    json_object_set_new(ev, "psu", json_string(e->rack.psus[i].id));
    json_object_set_new(ev, "at_risk", json_boolean(at_risk));
    json_object_set_new(ev, "risk", rounded(q->risk, 1e-4));
    json_object_set_new(ev, "ttf_s", rounded(q->ttf_s, 1));
    json_object_set_new(ev, "threshold", json_real(e->pred.threshold));
    json_object_set_new(ev, "model", json_string(e->pred.model_path));
    if (e->pred.time_scale != 1)
        json_object_set_new(ev, "time_scale", json_real(e->pred.time_scale));
    json_object_set_new(ev, "reason",
                        json_string(at_risk ? q->reason : "risk below the threshold"));
    return ev;
}

/* Tells the policy that PSU i became at risk or no longer is: the
 * prediction's event first, then the decision (a drain off its bus). A
 * controller that does not command journals nothing: its primary predicts
 * from the readings it is forwarded; its own predictor, fed the same
 * readings, is ready should it take over (predict_retell). */
static void predict_tell(struct engine *e, int i, bool at_risk)
{
    const struct pred_psu *q = &e->pred.psu[i];
    char why[400], err[256], hz[32], ttf[32];
    if (at_risk)
        snprintf(why, sizeof(why),
                 "predicted to fail: risk %.2f within %s (threshold %.2f), time to failure about "
                 "%s: %s",
                 q->risk,
                 duration((double)e->pred.model.horizon_s / e->pred.time_scale, hz, sizeof(hz)),
                 e->pred.threshold, duration(q->ttf_s, ttf, sizeof(ttf)), q->reason);
    else
        snprintf(why, sizeof(why), "no longer predicted to fail: risk %.2f below %.2f", q->risk,
                 e->pred.threshold - RISK_HYSTERESIS);
    if (!e->commanding) { /* its windows are kept for a take-over; the primary tells */
        log_info("prediction %s (the primary decides): %s", e->rack.psus[i].id, why);
        return;
    }
    log_warnx("prediction %s: %s", e->rack.psus[i].id, why);
    json_t *pre = json_array();
    json_array_append_new(pre, prediction_event(e, i, at_risk));
    struct policy_input in = {.kind = at_risk ? POLICY_PSU_AT_RISK : POLICY_PSU_RISK_CLEAR,
                              .index = i};
    struct decision x = decision_inputs(&in, 1, why);
    x.pre = pre;
    if (decide(&e->dec, &x, err, sizeof(err)))
        log_warnx("prediction %s: not applied: %s", e->rack.psus[i].id, err);
}

/* A fresh reading through the model. */
static void predict_reading(struct engine *e, const struct driver_psu_reading *x)
{
    enum pred_change_kind kind;
    char err[300];
    if (!e->pred_ready || x->psu < 0 || x->psu >= e->rack.npsus)
        return;
    int rc = pred_reading(&e->pred, &e->rack, x, mono_ns(), &kind, err, sizeof(err));
    if (rc < 0)
        log_warnx("prediction: %s", err);
    else if (rc > 0)
        predict_tell(e, x->psu, kind == PRED_AT_RISK);
}

/* A commanding controller's rack holds every PSU its predictor has at risk
 * (a new primary's predictor ran on its own and forwarded readings). */
static void predict_retell(struct engine *e)
{
    for (int i = 0; e->pred_ready && i < e->rack.npsus; i++)
        if (e->pred.psu[i].at_risk && !e->rack.psus[i].at_risk &&
            e->rack.psus[i].health != RACK_PSU_FAILED)
            predict_tell(e, i, true);
}

/* The reverse: a PSU the rack holds at risk from the ledger (restored at
 * start, replicated before a promotion) that this predictor has no episode
 * of (its windows start empty) is adopted, so that its alarm shows, its
 * failure is an outcome predicted and risk-clear ends it. A failed or out
 * of service PSU keeps the rack's flag but is not adopted: a failure ends
 * an episode (pred_health), and a repair the rack's flag (policy.c). */
static void predict_adopt(struct engine *e)
{
    for (int i = 0; e->pred_ready && i < e->rack.npsus; i++)
        if (e->rack.psus[i].at_risk && !e->pred.psu[i].at_risk &&
            e->rack.psus[i].health != RACK_PSU_FAILED) {
            pred_adopt(&e->pred, i, mono_ns());
            log_info("prediction %s: still at risk: %s", e->rack.psus[i].id, PRED_ADOPTED_REASON);
        }
}

/* The figures of a prediction for a reason: "risk 0.31, time to failure
 * about 36.2 h", or none for one adopted from the ledger (pred_adopt). */
static const char *predicted_figures(double risk, double ttf_s, char *buf, size_t len)
{
    char ttf[32];
    if (isnan(risk))
        snprintf(buf, len, "risk unknown");
    else
        snprintf(buf, len, "risk %.2f, time to failure about %s", risk,
                 duration(ttf_s, ttf, sizeof(ttf)));
    return buf;
}

/* What came of the predictions: a PSU that failed, predicted or not (the
 * data the next model learns from), journaled as "prediction_outcome".
 * With prediction off only a PSU adopted from the ledger can have been
 * predicted: its outcome alone is journaled. */
static void predict_outcomes(struct engine *e)
{
    struct pred_outcome out[8];
    const int max = (int)(sizeof(out) / sizeof(*out));
    if (!e->pred_ready)
        return;
    int n;
    do {
        n = pred_health(&e->pred, &e->rack, e->ov.psu_oos, mono_ns(), out, max);
        /* a secondary's predictor follows the rack (units, episodes ended)
         * but the outcomes are the primary's to journal */
        for (int k = 0; k < n && e->commanding; k++) {
            const struct pred_outcome *o = &out[k];
            if (o->out_of_service && !o->predicted)
                continue; /* no episode to close, and no failure: nothing learnt */
            if (!e->pred.on && !o->predicted)
                continue;
            json_t *ev = decider_event(&e->dec, "prediction_outcome");
            char why[400], lead[32], figures[80];
            const char *what = o->out_of_service ? "was taken out of service" : "failed";
            if (o->predicted)
                snprintf(why, sizeof(why), "%s %s %s after it was predicted (%s: %s)",
                         e->rack.psus[o->psu].id, what, duration(o->lead_s, lead, sizeof(lead)),
                         predicted_figures(o->risk, o->ttf_s, figures, sizeof(figures)), o->reason);
            else
                snprintf(why, sizeof(why), "%s %s without a prediction", e->rack.psus[o->psu].id,
                         what);
            json_object_set_new(ev, "psu", json_string(e->rack.psus[o->psu].id));
            json_object_set_new(ev, "outcome",
                                json_string(o->out_of_service ? "out_of_service" : "failed"));
            json_object_set_new(ev, "predicted", json_boolean(o->predicted));
            json_object_set_new(ev, "lead_s", rounded(o->lead_s, 0.1));
            json_object_set_new(ev, "risk", rounded(o->risk, 1e-4));
            json_object_set_new(ev, "ttf_s", rounded(o->ttf_s, 1));
            json_object_set_new(ev, "reason", json_string(why));
            log_info("prediction_outcome: %s", why);
            journal(e, ev);
        }
    } while (n == max);
}

/* The operator cleared PSU i's prediction (the command is decided and
 * journaled): what the prediction had said is journaled as its outcome,
 * "cleared" (a false alarm, as a person judged it: data for the next model),
 * and the window starts again. */
static void predict_cleared(struct engine *e, const struct hub_cmd *c)
{
    int i = rack_find_psu(&e->rack, c->id);
    if (!e->pred_ready || i < 0) /* off: one adopted from the ledger is cleared too */
        return;
    const struct pred_psu *q = &e->pred.psu[i];
    if (q->at_risk) {
        json_t *ev = decider_event(&e->dec, "prediction_outcome");
        char why[600], lead[32];
        double lead_s = (double)(mono_ns() - q->predicted_ns) / 1e9;
        snprintf(why, sizeof(why), "%s: its prediction cleared by %s %s after it was made (%s)",
                 c->id, c->who[0] ? c->who : "an operator", duration(lead_s, lead, sizeof(lead)),
                 q->predicted_reason);
        json_object_set_new(ev, "psu", json_string(c->id));
        json_object_set_new(ev, "outcome", json_string("cleared"));
        json_object_set_new(ev, "predicted", json_true());
        json_object_set_new(ev, "lead_s", rounded(lead_s, 0.1));
        json_object_set_new(ev, "risk", rounded(q->predicted_risk, 1e-4));
        json_object_set_new(ev, "ttf_s", rounded(q->predicted_ttf_s, 1));
        if (c->who[0])
            json_object_set_new(ev, "who", json_string(c->who));
        json_object_set_new(ev, "reason", json_string(why));
        journal(e, ev);
    }
    pred_forget(&e->pred, i);
}

static void journal_alarm(struct engine *e, const char *name, const struct alarm *a)
{
    json_t *ev = decider_event(&e->dec, name);
    if (!strcmp(name, "alarm_raise")) { /* its t is the alarm's since, as /v1/status shows it */
        int64_t since_ns = a->since_ns - e->dec.start_ns;
        json_object_set_new(ev, "t", evjson_seconds(since_ns - since_ns % 1000000));
    }
    json_object_set_new(ev, "kind", json_string(alarm_kind_name(a->kind)));
    json_object_set_new(ev, "subject", json_string(a->subject));
    json_object_set_new(ev, "reason", json_string(a->reason));
    journal(e, ev);
}

/* The conditions that hold now, as alarms.h takes them. */
static int alarm_conditions(struct engine *e, struct alarm_set *c)
{
    alarm_set_clear(c);
    for (size_t i = 0; i < e->ndevs; i++)
        if (e->dev_down[i] &&
            alarm_set_add(c, ALARM_DEVICE_DOWN, e->vdev[i].name, e->vdev[i].error))
            return -1;
    for (int i = 0; i < e->rack.npsus; i++) {
        const char *why = e->relay ? relay_unknown_reason(e->relay, i) : NULL;
        if (e->rack.psus[i].health == RACK_PSU_UNKNOWN &&
            alarm_set_add(c, ALARM_PSU_UNKNOWN, e->rack.psus[i].id,
                          why ? why : "its health cannot be read"))
            return -1;
    }
    for (int i = 0; e->pred_ready && i < e->rack.npsus; i++) {
        const struct pred_psu *q = &e->pred.psu[i];
        char why[ALARM_REASON_LEN], figures[80];
        if (!q->at_risk)
            continue;
        snprintf(why, sizeof(why), "predicted to fail: %s%s: %s",
                 predicted_figures(q->predicted_risk, q->predicted_ttf_s, figures, sizeof(figures)),
                 isnan(q->predicted_risk) ? "" : " (the lead time)", q->predicted_reason);
        if (alarm_set_add(c, ALARM_PSU_AT_RISK, e->rack.psus[i].id, why))
            return -1;
    }
    if (e->relay && relay_alarms(e->relay, &e->rack, e->peer_dead, c))
        return -1;
    if (e->orun_ready && orun_alarms(&e->orun, mono_ns(), c))
        return -1;
    if ((!e->rack.is_protected || e->rack.redundancy_lost) &&
        alarm_set_add(c, ALARM_REDUNDANCY_LOST, e->rack.name, e->protection_reason))
        return -1;
    if (e->db_lost[0] && alarm_set_add(c, ALARM_DATABASE_REPLACED, e->db_path, e->db_lost))
        return -1;
    char why_srv[ALARM_REASON_LEN];
    for (int i = 0; i < e->od.n; i++) {
        const struct rack_server *s = &e->rack.servers[i];
        if (e->od.due[i]) {
            overdraw_reason(&e->od, &e->rack, i, e->dec.start_ns, why_srv, sizeof(why_srv));
            if (alarm_set_add(c, ALARM_OVER_DRAW, s->id, why_srv))
                return -1;
        }
        if (e->od.lost_ns[i] != INT64_MIN && s->state == RACK_SRV_SHED) {
            overdraw_lost_reason(&e->od, &e->rack, i, e->dec.start_ns, why_srv, sizeof(why_srv));
            if (alarm_set_add(c, ALARM_LOST_POWER, s->id, why_srv))
                return -1;
        }
    }
    if (e->dec.failing_since) {
        char why[ALARM_REASON_LEN];
        snprintf(why, sizeof(why),
                 "the journal cannot be written (%s): what lowers power is done and waits to be "
                 "journaled, what raises power waits for the journal",
                 e->dec.failing_err);
        if (alarm_set_add(c, ALARM_JOURNAL_BEHIND, e->db_path, why))
            return -1;
    }
    return 0;
}

/* Raises and clears alarms after a change: one event each, journaled after
 * what caused it. */
static void update_alarms(struct engine *e)
{
    predict_outcomes(e);
    if (alarm_conditions(e, &e->conditions) ||
        alarms_update(&e->alarms, &e->conditions, mono_ns(), &e->raised, &e->cleared)) {
        log_warnx("alarms: out of memory; they are brought up to date at the next change");
        return;
    }
    for (size_t k = 0; k < e->raised.n; k++) {
        const struct alarm *a = &e->raised.v[k];
        log_warnx("alarm %s %s: %s", alarm_kind_name(a->kind), a->subject, a->reason);
        journal_alarm(e, "alarm_raise", a);
    }
    for (size_t k = 0; k < e->cleared.n; k++) {
        const struct alarm *a = &e->cleared.v[k];
        log_info("alarm %s %s cleared", alarm_kind_name(a->kind), a->subject);
        journal_alarm(e, "alarm_clear", a);
    }
    check_fit(e);
}

/* ---- over-draw (overdraw.h, docs/daemon.md) ---- */

static void on_overdraw(uv_timer_t *t);

/* A server over its grant for too long (or drawing without one): said,
 * journaled, and capped at its grant where it can be. The cap lowers power:
 * it goes to the devices first, as every lowering action does. */
static void over_draw(struct engine *e, int i)
{
    const struct rack_server *s = &e->rack.servers[i];
    char why[ALARM_REASON_LEN];
    overdraw_reason(&e->od, &e->rack, i, e->dec.start_ns, why, sizeof(why));
    bool cap = overdraw_cappable(s);
    if (cap && e->devices && e->commanding) {
        struct policy_action a = {.kind = POLICY_ACT_CAP,
                                  .server = i,
                                  .psu = -1,
                                  .from_bus = -1,
                                  .to_bus = -1,
                                  .watts_mw = s->alloc_mw,
                                  .capacity_mw = rack_capacity_mw(&e->rack),
                                  .allocated_mw = rack_allocated_mw(&e->rack)};
        snprintf(a.reason, sizeof(a.reason), "over its grant: capped at it");
        devices_act(e->devices, &a, 1);
    }
    log_warnx("over-draw %s: %s", s->id, why);
    json_t *ev = decider_event(&e->dec, "over_draw");
    json_object_set_new(ev, "server", json_string(s->id));
    json_object_set_new(ev, "watts", evjson_watts(s->draw_mw));
    json_object_set_new(ev, "grant_w", evjson_watts(rack_server_draws(s) ? s->alloc_mw : 0));
    int64_t since_ns = e->od.since_ns[i] - e->dec.start_ns;
    json_object_set_new(ev, "since", evjson_seconds(since_ns - since_ns % 1000000));
    json_object_set_new(ev, "capped", json_boolean(cap));
    json_object_set_new(ev, "reason", json_string(why));
    journal(e, ev);
}

/* Brings the over-draw watch up to the rack; its timer for the next one. */
static void watch_draws(struct engine *e)
{
    int64_t next;
    int n = overdraw_update(&e->od, &e->rack, mono_ns(), &next);
    for (int k = 0; k < n; k++)
        over_draw(e, e->od.fresh[k]);
    if (!e->loop_ready)
        return;
    timer_at(&e->overdraw, on_overdraw, next);
}

static void on_overdraw(uv_timer_t *t)
{
    struct engine *e = t->data;
    watch_draws(e);
    update_alarms(e);
    publish(e);
}

/* The decider's hooks: the journal grew, actions for the devices, after a
 * decision. */
static void on_journaled(void *arg, int64_t last_id)
{
    struct engine *e = arg;
    hub_notify(e->hub, last_id);
}

static void hold_actions(struct engine *e, const struct policy_action *v, size_t n);
static void supersede(struct engine *e, const struct policy_action *v, size_t n);

/* A cluster's primary sends what raises power only once the decision's
 * entry is committed (held until then); what lowers power, decided on
 * inputs, goes before the entry exists (gate 0). A controller that does not
 * command sends nothing. */
static void on_send(void *arg, const struct policy_action *v, size_t n)
{
    struct engine *e = arg;
    if (!e->commanding) {
        log_warnx("%zu actions not sent: this controller does not command the devices", n);
        return;
    }
    if (e->gate == UINT64_MAX) {
        log_warnx("%zu actions not sent: their decision could not be replicated", n);
        return;
    }
    if (e->gate > e->committed) {
        hold_actions(e, v, n);
        return;
    }
    supersede(e, v, n);
    devices_act(e->devices, v, n);
}

static void on_decided(void *arg, const struct policy_actions *acts)
{
    struct engine *e = arg;
    for (size_t k = 0; k < acts->n; k++) {
        const struct policy_action *a = &acts->v[k];
        if (a->kind == POLICY_ACT_PROTECTION)
            snprintf(e->protection_reason, sizeof(e->protection_reason), "%s", a->reason);
        /* an ignored request changed nothing: the reason that stands is the
         * decision's before it */
        if (a->server >= 0 && a->server < e->rack.nservers && a->kind != POLICY_ACT_IGNORED)
            snprintf(e->srv_reason[a->server], sizeof(*e->srv_reason), "%s", a->reason);
    }
    e->gate = 0; /* the decision is carried out: the next starts ungated */
    outage_soon(e);
    watch_draws(e);
    update_alarms(e);
    if (e->commanding) /* a secondary's drivers reopen with nothing to put back */
        devices_rack(e->devices, &e->rack);
    if (e->hub)
        publish(e);
    if (e->loop_ready)
        schedule(e);
    watch_journal(e);
}

static void on_deadline(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (!e->commanding)
        return; /* the primary keeps the policy's time */
    struct policy_input tick = {.kind = POLICY_TICK};
    struct decision x = decision_inputs(&tick, 1, NULL);
    char err[256];
    if (decide(&e->dec, &x, err, sizeof(err)))
        uv_timer_start(&e->deadline, on_deadline, 1000, 0); /* try again */
}

/*
 * The database file unlinked or replaced under the daemon (an operator's
 * mistake, a restore from a backup, a clean-up script): from then on what
 * is journaled goes to a file that nobody opens again, and the next start
 * would find another ledger. Said once, loudly; the journal is distrusted
 * (decide.h: what raises power is held, what lowers it goes on) until a
 * restart.
 */
static void on_dbcheck(uv_timer_t *t)
{
    struct engine *e = t->data;
    char why[sizeof(e->db_lost)];
    if (!store_check_file(e->store, why, sizeof(why)))
        return;
    uv_timer_stop(t);
    snprintf(e->db_lost, sizeof(e->db_lost), "%s", why);
    log_warnx("DATABASE LOST: %s; what is journaled now is lost at exit, decisions that raise "
              "power are refused until rackpowerd restarts, decisions that lower it go on",
              why);
    decider_distrust(&e->dec, why);
    update_alarms(e);
    publish(e);
}

/* Readers see the readings' ages grow while nothing changes (a device that
 * stopped answering changes nothing): the snapshot is rebuilt every second. */
static void on_ages(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (e->hub)
        publish(e);
}

/* ---- outages (outage_run.h, docs/outage.md) ---- */

static void on_outage(uv_timer_t *t);

/* The outage brought up to date at the loop's next turn: after a decision
 * (a change of the rack), a reading, a command. Never inside a decision:
 * what it decides would overwrite the decision being carried out. */
static void outage_soon(struct engine *e)
{
    /* a rack without reserves or activities has nothing to plan until the
     * operator starts an outage: its decisions cost nothing more */
    if (!e->orun_ready || !e->loop_ready ||
        (!e->rack.nreserves && !e->rack.nactivities && !e->orun.o.active &&
         e->orun.o.mains_back_ns == INT64_MIN))
        return;
    uv_timer_start(&e->outage_tm, on_outage, 0, 0);
}

static void on_outage(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (e->commanding) /* a secondary decides nothing: the primary plans */
        orun_update(&e->orun, mono_ns());
    else /* it keeps its reserves' figures fresh, for the day it is elected */
        orun_track(&e->orun, mono_ns());
    update_alarms(e);
    publish(e);
    timer_at(&e->outage_tm, on_outage,
             e->commanding ? orun_next_deadline(&e->orun, mono_ns())
                           : orun_track_deadline(&e->orun, mono_ns()));
}

/*
 * Whether commands without a fence of their own (stages through upsd, BMC
 * power, migrate commands) may go now (docs/outage.md "Several
 * controllers"): from a lone controller, yes; from a member of a cluster,
 * only while it commands and a command device accepted its epoch within the
 * last heartbeat interval.
 */
static bool outage_may_command(void *arg, char *why, size_t len)
{
    struct engine *e = arg;
    if (!e->commanding) {
        snprintf(why, len, "held back: this controller does not command the devices");
        return false;
    }
    if (!e->member)
        return true;
    /* the last heartbeat, from the last poll that could read the proof */
    int64_t hb = e->conf.node.heartbeat_ns, poll = 0;
    for (size_t k = 0; k < e->ndevs; k++)
        if ((e->devs[k].kind == RACKFILE_DEV_MODBUS_TCP ||
             e->devs[k].kind == RACKFILE_DEV_MODBUS_RTU) &&
            e->devs[k].poll_ns > poll)
            poll = e->devs[k].poll_ns;
    if (e->epoch_ok_ns == INT64_MIN || mono_ns() - e->epoch_ok_ns > hb + poll) {
        snprintf(why, len,
                 "held back: epoch %llu not confirmed by a command device within the last "
                 "heartbeat (%.0f ms) after its last poll (%.0f ms)",
                 (unsigned long long)e->epoch, (double)hb / 1e6, (double)poll / 1e6);
        return false;
    }
    return true;
}

/* Stages and soft-offs for the nut and ipmi devices, through the gate. */
static void outage_send(void *arg, const struct policy_action *v, size_t n)
{
    struct engine *e = arg;
    char why[200];
    if (!outage_may_command(e, why, sizeof(why))) {
        for (size_t k = 0; k < n; k++) {
            json_t *ev = decider_event(&e->dec, "held_back");
            json_object_set_new(ev, "action", json_string(policy_action_name(v[k].kind)));
            if (v[k].server >= 0 && v[k].server < e->rack.nservers)
                json_object_set_new(ev, "server", json_string(e->rack.servers[v[k].server].id));
            json_object_set_new(ev, "reason", json_string(why));
            journal(e, ev);
        }
        log_warnx("%zu outage commands %s", n, why);
        return;
    }
    devices_act(e->devices, v, n);
}

static void outage_changed(void *arg)
{
    struct engine *e = arg;
    update_alarms(e);
    publish(e);
    if (e->loop_ready)
        timer_at(&e->outage_tm, on_outage,
                 e->commanding ? orun_next_deadline(&e->orun, mono_ns())
                               : orun_track_deadline(&e->orun, mono_ns()));
}

/* ---- commands and device reports ---- */

static json_t *reload(struct engine *e, const char *who);
static void stop(struct engine *e, const char *why);

static void on_stopper(uv_timer_t *t)
{
    struct engine *e = t->data;
    char why[sizeof(e->stop_why)];
    snprintf(why, sizeof(why), "%s", e->stop_why);
    stop(e, why);
}

static char *not_commanding(const struct engine *e);
static void hold_answer(struct engine *e, struct hub_cmd *c, uint64_t index, int status,
                        char *body);

static bool relay_command_out(struct engine *e, struct hub_cmd *c);

static void handle_cmd(struct engine *e, struct hub_cmd *c)
{
    char *body = NULL;
    int status = 200;
    if (relay_command_out(e, c)) /* given to a secondary: the primary's to carry out */
        return;
    if (c->kind == HUB_RELOAD) {
        json_t *ev = reload(e, c->who);
        body = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
        json_decref(ev);
    } else if (c->kind == HUB_SHUTDOWN) {
        char why[120];
        snprintf(why, sizeof(why), "shutdown asked by %s", c->who[0] ? c->who : "the API");
        body = strdup("{\"stopping\":true}");
        hub_answer(e->hub, c, body ? 202 : 500, body);
        /* the answer goes out first: the API is stopped with the loop */
        snprintf(e->stop_why, sizeof(e->stop_why), "%s", why);
        uv_timer_start(&e->stopper, on_stopper, SHUTDOWN_ANSWER_MS, 0);
        return;
    } else if (c->kind == HUB_OUTAGE_PLAN) { /* a preview: any controller answers it */
        status = orun_plan_preview(&e->orun, mono_ns(), &body);
    } else if (!e->commanding) {
        status = 503;
        body = not_commanding(e);
    } else if (c->kind == HUB_OUTAGE_START || c->kind == HUB_OUTAGE_END) {
        status =
            orun_command(&e->orun, c->kind == HUB_OUTAGE_START, c->who, c->note, mono_ns(), &body);
    } else {
        uint64_t before = e->appended;
        status = commands_run(&e->dec, &e->ov, c, &body);
        if (c->kind == HUB_PSU_RISK_CLEAR && status == 200)
            predict_cleared(e, c);
        /* its decision is answered once every live secondary holds it */
        if (body && e->member && e->appended != before && e->appended > e->committed) {
            hold_answer(e, c, e->appended, status, body);
            return;
        }
    }
    if (!body)
        status = 500;
    hub_answer(e->hub, c, status, body);
}

/*
 * Servers the ledger did not know that the report shows drawing power are
 * adopted (ledger.h: never powered off to match a missing ledger), said
 * loudly, journaled, and the policy settles the rack with them.
 */
static void adopt(struct engine *e, const struct devices_msg *m)
{
    json_t *pre = NULL;
    for (size_t k = 0; k < m->rep.ninputs; k++) {
        const struct policy_input *in = &m->rep.inputs[k];
        int i = in->index;
        if (in->kind != POLICY_REPORT || i < 0 || i >= e->rack.nservers || e->srv_known[i])
            continue;
        e->srv_known[i] = true;
        const struct rack_server *s = &e->rack.servers[i];
        const char *was = rack_server_state_name(s->state);
        if (!ledger_adopt(&e->rack, i, in->watts_mw))
            continue;
        char why[700];
        snprintf(why, sizeof(why),
                 "%s reports it drawing %lld W; the ledger does not know it (its database is new, "
                 "was deleted or replaced): adopted as on at %lld W, not powered off (it was %s "
                 "here)",
                 e->vdev[m->dev].name, (long long)(in->watts_mw / 1000),
                 (long long)(s->power_mw / 1000), was);
        log_warnx("ADOPTED %s: %s", s->id, why);
        json_t *ev = decider_event(&e->dec, "adopt");
        json_object_set_new(ev, "server", json_string(s->id));
        json_object_set_new(ev, "watts", evjson_watts(s->power_mw));
        json_object_set_new(ev, "reason", json_string(why));
        snprintf(e->srv_reason[i], sizeof(*e->srv_reason), "%s", why);
        if (!pre)
            pre = json_array();
        json_array_append_new(pre, ev);
    }
    if (!pre)
        return;
    char err[256];
    struct decision x = decision_settle(pre);
    if (decide(&e->dec, &x, err, sizeof(err)))
        log_warnx("adoption not journaled: %s", err);
}

/* Balancing stands PSUs by only where the devices can, every PSU of the
 * rack: the in-process simulated rack, or a Modbus PSU unit with rackpower's
 * extension. hwmon cannot write PMBus OPERATION; an ORv3 shelf has no
 * standby register (docs/balancing.md "Where it runs"). */
static bool standby_ok(const struct engine *e)
{
    for (int i = 0; i < e->rack.npsus; i++) {
        bool told = false;
        for (size_t k = 0; k < e->ndevs && !told; k++) {
            const struct rackfile_device *d = &e->devs[k];
            told = d->kind == RACKFILE_DEV_SIM;
            for (size_t u = 0; u < d->nunits && !told; u++)
                told = (d->kind == RACKFILE_DEV_MODBUS_TCP || d->kind == RACKFILE_DEV_MODBUS_RTU) &&
                       d->units[u].role == RACKFILE_UNIT_PSU && d->units[u].psu == i &&
                       d->units[u].extension == RACKFILE_EXT_RACKPOWER;
        }
        if (!told)
            return false;
    }
    return e->rack.npsus > 0;
}

/*
 * PSUs a device shows otherwise than the model has them (balancing's
 * standby and share, driver_psu_state): the model takes the device's word,
 * a reconcile event says so, and a decision follows (the plan sees the rack
 * as it is). A device that cannot stand PSUs by after all: balancing plans
 * no standby from now on (what stands by wakes at the next plan).
 */
static void reconcile_psu_states(struct engine *e, const struct devices_msg *m)
{
    char err[256];
    if (m->rep.no_standby[0] && e->dec.standby_ok) {
        log_warnx("%s: %s", e->vdev[m->dev].name, m->rep.no_standby);
        decider_no_standby(&e->dec);
    }
    json_t *pre = m->rep.npsu_states ? json_array() : NULL;
    size_t n = 0;
    for (size_t k = 0; pre && k < m->rep.npsu_states; k++) {
        const struct driver_psu_state *x = &m->rep.psu_states[k];
        if (x->psu < 0 || x->psu >= e->rack.npsus)
            continue;
        struct rack_psu *p = &e->rack.psus[x->psu];
        int64_t share = x->standby ? 0 : x->share_ppm;
        if (p->standby == x->standby && p->share_ppm == share)
            continue;
        char why[DRIVER_INPUT_NOTE_LEN + 300];
        snprintf(why, sizeof(why), "%s: %s", e->vdev[m->dev].name, x->why);
        log_warnx("reconcile %s: %s", p->id, why);
        json_t *ev = decider_event(&e->dec, "reconcile");
        json_object_set_new(ev, "psu", json_string(p->id));
        json_object_set_new(ev, "standby", json_boolean(x->standby));
        json_object_set_new(ev, "share",
                            x->standby || !share ? json_null() : json_real((double)share / 1e6));
        json_object_set_new(ev, "was", json_string(p->standby ? "standby" : "awake"));
        json_object_set_new(ev, "reason", json_string(why));
        json_array_append_new(pre, ev);
        p->standby = x->standby;
        p->share_ppm = share;
        n++;
    }
    if (!n) {
        json_decref(pre);
        return;
    }
    struct policy_input tick = {.kind = POLICY_TICK};
    struct decision x = decision_inputs(&tick, 1, NULL);
    x.pre = pre;
    if (decide(&e->dec, &x, err, sizeof(err)))
        log_warnx("reconcile: %s", err);
}

/* Servers the rack has drawing that a device, read after it opened, shows
 * powered off: after a crash the ledger may lack a shed that the device
 * carried out. The lower power stands: they count as shed (journaled as a
 * reconcile event), and only a fresh decision of the policy, journaled,
 * powers them again (a restore after restore_after_s of stability). */
static void reconcile_found(struct engine *e, const struct devices_msg *m)
{
    char err[256], why[600];
    json_t *pre = json_array();
    size_t n = 0;
    for (size_t k = 0; pre && k < m->rep.nfound; k++) {
        int i = m->rep.found[k].server;
        int64_t cap_mw = m->rep.found[k].cap_mw;
        if (i < 0 || i >= e->rack.nservers || !rack_server_draws(&e->rack.servers[i]))
            continue;
        struct rack_server *s = &e->rack.servers[i];
        if (cap_mw && cap_mw >= s->alloc_mw)
            continue; /* not lower than the ledger's grant */
        enum rack_server_state now = cap_mw ? RACK_SRV_CAPPED : RACK_SRV_SHED;
        char shows[64] = "powered off";
        if (cap_mw)
            snprintf(shows, sizeof(shows), "capped at %lld W", (long long)(cap_mw / 1000));
        snprintf(why, sizeof(why),
                 "%s shows it %s while the ledger has it %s at %lld W: the lower power stands "
                 "until the policy decides again",
                 e->vdev[m->dev].name, shows, rack_server_state_name(s->state),
                 (long long)(s->alloc_mw / 1000));
        log_warnx("reconcile %s: %s", s->id, why);
        json_t *ev = decider_event(&e->dec, "reconcile");
        json_object_set_new(ev, "server", json_string(s->id));
        json_object_set_new(ev, "state", json_string(rack_server_state_name(now)));
        json_object_set_new(ev, "was", json_string(rack_server_state_name(s->state)));
        json_object_set_new(ev, "watts", evjson_watts(cap_mw));
        json_object_set_new(ev, "reason", json_string(why));
        json_array_append_new(pre, ev);
        snprintf(e->srv_reason[i], sizeof(*e->srv_reason), "%s", why);
        s->state = now;
        s->alloc_mw = cap_mw;
        n++;
    }
    if (!n) {
        json_decref(pre);
        return;
    }
    e->rack.last_change_ns = mono_ns(); /* a restore waits for stability from now */
    /* a tick, not a settle: a decision on inputs, so that what it lowers
     * stands even when the journal fails */
    struct policy_input tick = {.kind = POLICY_TICK};
    struct decision x = decision_inputs(&tick, 1, NULL);
    x.pre = pre;
    if (decide(&e->dec, &x, err, sizeof(err)))
        log_warnx("reconcile: %s", err);
}

/* What raises power waits for after a promotion (grace_hold_ns), as the
 * decider's reason. */
static void grace_hold_why(struct engine *e)
{
    char why[300];
    int64_t left = e->grace_hold_ns - mono_ns();
    snprintf(why, sizeof(why),
             "promoted: waiting %.1f s for the other controllers' word on their PSUs (until "
             "then those PSUs count as last replicated)",
             left > 0 ? (double)left / 1e9 : 0.0);
    decider_distrust(&e->dec, why);
}

/* What held decisions that raise power is over (what says what); once
 * nothing holds them (the devices' first reads awaited, the grace after a
 * promotion, a lost database), they are taken again, and a settle answers
 * every waiting server: granted, or waiting with the rack's own reason (a
 * held request's last word was the hold's). */
static void raises_again(struct engine *e, const char *what)
{
    if (e->awaited || e->grace_hold_ns || e->db_lost[0])
        return;
    log_info("%s: decisions that raise power are taken again", what);
    decider_trust(&e->dec);
    char err[256];
    struct decision x = decision_settle(NULL);
    x.reask = true;
    if (decide(&e->dec, &x, err, sizeof(err)))
        log_warnx("settle after %s: %s", what, err);
}

/* The hold after a promotion ends when its grace is over (every PSU this
 * controller does not read has been told of since, or is unknown:
 * relay_due, just before), or sooner when each PSU another controller told
 * of has been heard since the promotion or is unknown (its node declared
 * lost). */
static void grace_hold_end(struct engine *e, int64_t now)
{
    if (!e->grace_hold_ns ||
        (now < e->grace_hold_ns && !relay_told_since(e->relay, e->promoted_ns)))
        return;
    e->grace_hold_ns = 0;
    raises_again(e, "the other controllers' PSUs are told of or unknown");
}

/* A device awaited since a start without a ledger was read: once the last
 * one was, what raises power is decided again (unless the database was
 * lost meanwhile), and a settle grants what was held. */
static void first_read(struct engine *e, const struct devices_msg *m)
{
    size_t dev = m->dev;
    if (!e->dev_awaited[dev])
        return;
    bool servers_read = false; /* a chassis module answered (a PSU's word is not enough) */
    for (size_t k = 0; k < m->rep.ninputs; k++)
        servers_read =
            servers_read || policy_input_target(m->rep.inputs[k].kind) == POLICY_TARGET_SERVER;
    if (!servers_read)
        return;
    e->dev_awaited[dev] = false;
    if (--e->awaited || e->db_lost[0])
        return;
    if (e->grace_hold_ns) {
        log_info("the devices' first reads are in; decisions that raise power wait for the "
                 "other controllers' word on their PSUs");
        grace_hold_why(e);
        return;
    }
    raises_again(e, "the devices' first reads are in");
}

/* Devices whose first read is awaited without a ledger: those that power
 * servers (a Modbus chassis module); the in-process sim starts with
 * nothing powered. Decisions that raise power are held meanwhile. */
static void await_first_reads(struct engine *e)
{
    for (size_t i = 0; i < e->ndevs; i++)
        for (size_t u = 0; u < e->devs[i].nunits; u++)
            if (e->devs[i].units[u].role == RACKFILE_UNIT_CHASSIS && !e->dev_awaited[i]) {
                e->dev_awaited[i] = true;
                e->awaited++;
            }
    if (!e->awaited)
        return;
    char why[300];
    snprintf(why, sizeof(why),
             "no ledger: waiting for the first read of %zu device%s that power%s "
             "servers",
             e->awaited, e->awaited == 1 ? "" : "s", e->awaited == 1 ? "s" : "");
    log_warnx("%s; decisions that raise power are held until then", why);
    decider_distrust(&e->dec, why);
}

/* The reasons of inputs that carry their own note (a PSU's alarm bits, a
 * feed and its PSUs), "reported by DEV: note"; NULL entries take the
 * report's. One allocation (pointers, then texts); NULL when none has one
 * or memory ran out (then every input takes the report's reason). */
static char **own_whys(const char *dev, const struct driver_report *rep, size_t n)
{
    enum { LEN = DRIVER_INPUT_NOTE_LEN + 64 };
    bool any = false;
    for (size_t k = 0; k < n && rep->input_notes && !any; k++)
        any = rep->input_notes[k][0] != '\0';
    if (!any)
        return NULL;
    char **whys = calloc(1, n * (sizeof(char *) + LEN));
    if (!whys)
        return NULL;
    char *text = (char *)(whys + n);
    for (size_t k = 0; k < n; k++) {
        if (!rep->input_notes[k][0])
            continue;
        whys[k] = text + k * LEN;
        snprintf(whys[k], LEN, "reported by %s: %s", dev, rep->input_notes[k]);
    }
    return whys;
}

/* The readings this report made fresh: the PSUs it read (not those whose
 * figures it withdrew), the servers its device answered for or whose draw
 * it gave. Their ages in the API count from when the worker posted it. */
static void stamp_reads(struct engine *e, struct devices_msg *m)
{
    struct view_read now = {m->posted_ns, (int)m->dev};
    bool fresh = false;
    for (size_t k = 0; k < m->rep.npsus; k++) {
        int i = m->rep.psus[k].psu;
        if (i >= 0 && i < e->rack.npsus && !m->rep.psus[k].unread) {
            e->psu_read[i] = now;
            fresh = true;
        }
    }
    for (size_t k = 0; k < m->rep.nread; k++) {
        int i = m->rep.read[k];
        if (i >= 0 && i < e->rack.nservers) {
            e->srv_read[i] = now;
            fresh = true;
        }
    }
    for (size_t k = 0; k < m->rep.ninputs; k++) {
        const struct policy_input *in = &m->rep.inputs[k];
        if (in->kind == POLICY_REPORT && in->index >= 0 && in->index < e->rack.nservers) {
            e->srv_read[in->index] = now;
            fresh = true;
        }
    }
    if (fresh)
        e->vdev[m->dev].read_ns = m->posted_ns;
}

static void relay_own_report(struct engine *e, const struct devices_msg *m, int64_t t_ms);

/* Every reading into the history, at t_ms: a queue push each, no more on
 * this thread (history.h). */
static void keep_history(struct engine *e, const struct devices_msg *m, int64_t t_ms)
{
    if (!e->hist)
        return;
    for (size_t k = 0; k < m->rep.npsus; k++) {
        int i = m->rep.psus[k].psu;
        if (i >= 0 && i < e->rack.npsus)
            histw_psu(e->hist, e->rack.psus[i].id, t_ms, &m->rep.psus[k]);
    }
    for (size_t k = 0; k < m->rep.nreserves; k++) {
        int i = m->rep.reserves[k].reserve;
        if (i >= 0 && i < e->rack.nreserves)
            histw_reserve(e->hist, e->rack.reserves[i].id, t_ms, &m->rep.reserves[k]);
    }
    for (size_t k = 0; k < m->rep.ninputs; k++) {
        const struct policy_input *in = &m->rep.inputs[k];
        if (in->kind == POLICY_REPORT && in->index >= 0 && in->index < e->rack.nservers)
            histw_server(e->hist, e->rack.servers[in->index].id, t_ms, in->watts_mw);
    }
}

static void handle_report(struct engine *e, struct devices_msg *m)
{
    char err[256], why[900];
    /* one time for a reading in this history and in the others' (relay.h) */
    int64_t t_ms = (int64_t)(wall_now() * 1000.0);
    relay_own_report(e, m, t_ms);      /* before the inputs are sorted below */
    if (m->rep.fenced_by && e->member) /* a device refused us: it holds a higher epoch */
        member_epoch_seen(e->member, m->rep.fenced_by);
    if (e->commanding) { /* a secondary decides nothing: the primary does */
        adopt(e, m);
        first_read(e, m);
    }
    struct policy_input *keep = m->rep.inputs;
    size_t n = 0;
    stamp_reads(e, m);
    if (e->member && e->commanding && m->rep.epoch_held && m->rep.epoch_held == e->epoch)
        e->epoch_ok_ns = m->posted_ns; /* the gate of outage_may_command */
    for (size_t k = 0; e->orun_ready && k < m->rep.nreserves; k++)
        orun_reading(&e->orun, (int)m->dev, &m->rep.reserves[k], m->posted_ns);
    if (m->rep.nreserves)
        outage_soon(e);
    for (size_t k = 0; k < m->rep.npsus; k++) {
        int i = m->rep.psus[k].psu;
        if (i >= 0 && i < e->rack.npsus)
            e->tel[i] = m->rep.psus[k];
    }
    keep_history(e, m, t_ms);
    if (m->rep.nunits) { /* the counters: take the report's array */
        struct view_device *v = &e->vdev[m->dev];
        free(v->units);
        v->units = m->rep.units;
        v->nunits = m->rep.nunits;
        m->rep.units = NULL;
        m->rep.nunits = m->rep.units_cap = 0;
    }
    if (e->commanding) {
        reconcile_found(e, m);
        reconcile_psu_states(e, m);
    }
    /* measured draw is shown, not decided on: applied without a journal line */
    for (size_t k = 0; k < m->rep.ninputs; k++) {
        struct policy_input *in = &m->rep.inputs[k];
        if (in->kind == POLICY_REPORT) {
            policy_actions_clear(&e->dec.acts);
            policy_handle(e->dec.pol, &e->rack, in, mono_ns(), &e->dec.acts, err, sizeof(err));
        } else if (commands_pass_health(&e->ov, &e->rack, in)) {
            if (m->rep.input_notes && n != k)
                memcpy(m->rep.input_notes[n], m->rep.input_notes[k], sizeof(*m->rep.input_notes));
            keep[n++] = *in;
            /* a loss that sheds it: alarmed while it stays shed (overdraw.h) */
            if (in->kind == POLICY_LOST_POWER && in->index >= 0 && in->index < e->rack.nservers &&
                rack_server_draws(&e->rack.servers[in->index]))
                overdraw_lost(&e->od, in->index, mono_ns());
        }
    }
    if (n && e->commanding) {
        snprintf(why, sizeof(why), "reported by %s%s%s", e->vdev[m->dev].name,
                 m->rep.note[0] ? ": " : "", m->rep.note);
        struct decision x = decision_inputs(keep, n, why);
        char **whys = own_whys(e->vdev[m->dev].name, &m->rep, n);
        x.whys = (const char *const *)whys;
        int failed = decide(&e->dec, &x, err, sizeof(err));
        free(whys);
        if (failed)
            log_warnx("%s: report not applied: %s", e->vdev[m->dev].name, err);
        const struct decide_trace *t = &e->dec.trace;
        log_debug("%s: report posted at %.6f, taken +%" PRId64 " us, decided +%" PRId64
                  " us, %zu actions sent +%" PRId64 " us, journaled +%" PRId64 " us, done +%" PRId64
                  " us (monotonic s; from the post)",
                  e->vdev[m->dev].name, (double)m->posted_ns / 1e9,
                  (t->begin_ns - m->posted_ns) / 1000, (t->decided_ns - m->posted_ns) / 1000,
                  t->nsent, (t->sent_ns - m->posted_ns) / 1000,
                  (t->journaled_ns - m->posted_ns) / 1000, (t->done_ns - m->posted_ns) / 1000);
    } else if (e->commanding && decider_balance_due(&e->dec)) {
        /* the draws moved enough for balancing to change the rack */
        struct decision x = decision_inputs(NULL, 0, "balance");
        if (decide(&e->dec, &x, err, sizeof(err)))
            log_warnx("balance not applied: %s", err);
    } else { /* a draw may have crossed its grant (decisions watch it in on_decided) */
        watch_draws(e);
        update_alarms(e);
        publish(e);
    }
    /* after the report's own inputs: a PSU it says failed is not predicted */
    for (size_t k = 0; k < m->rep.npsus; k++)
        if (!m->rep.psus[k].unread)
            predict_reading(e, &m->rep.psus[k]);
}

static void fence_answer(struct engine *e, const struct devices_msg *m);

static void handle_msg(struct engine *e, struct devices_msg *m)
{
    struct view_device *v = &e->vdev[m->dev];
    if (m->kind == DEVICES_REPORT) {
        handle_report(e, m);
        return;
    }
    if (m->kind == DEVICES_FENCE) {
        fence_answer(e, m);
        return;
    }
    bool up = m->kind == DEVICES_UP;
    bool again = !up && e->dev_down[m->dev]; /* the same outage, in other words */
    v->up = up;
    e->dev_down[m->dev] = !up;
    snprintf(v->error, sizeof(v->error), "%s", up ? "" : m->text);
    if (again) { /* one event per outage: the status and the alarm show the latest word */
        log_info("device %s: still down: %s", v->name, m->text);
        update_alarms(e);
        publish(e);
        return;
    }
    if (up)
        log_info("device %s: %s", v->name, m->text);
    else
        log_warnx("device %s: %s", v->name, m->text);
    json_t *ev = decider_event(&e->dec, "device");
    json_object_set_new(ev, "device", json_string(v->name));
    json_object_set_new(ev, "state", json_string(up ? "up" : "down"));
    json_object_set_new(ev, "reason", json_string(m->text));
    journal(e, ev);
    update_alarms(e);
    publish(e);
}

static void on_async(uv_async_t *h)
{
    struct engine *e = h->data;
    struct devices_msg *msgs = devices_take(e->devices);
    while (msgs) {
        struct devices_msg *m = msgs;
        msgs = m->next;
        m->next = NULL;
        if (e->fencing && m->kind == DEVICES_REPORT) { /* for the primary it may become */
            *e->early_tail = m;
            e->early_tail = &m->next;
            continue;
        }
        handle_msg(e, m);
        devices_msg_free(m);
    }
    struct hub_cmd *c = hub_take(e->hub);
    while (c) {
        struct hub_cmd *next = c->next;
        handle_cmd(e, c);
        c = next;
    }
}

static void wake(void *arg)
{
    struct engine *e = arg;
    uv_async_send(&e->async);
}

/* ---- reload ---- */

/* The journal's limits take effect at the pruner's next pass; said in what. */
static void reload_journal(struct engine *e, const struct rackfile_journal *j, char *what,
                           size_t len)
{
    struct rackfile_journal *cur = &e->conf.journal;
    if (cur->max_age_ns == j->max_age_ns && cur->max_bytes == j->max_bytes)
        return;
    size_t n = strlen(what);
    snprintf(what + n, len - n, "%sjournal max_age_days %g -> %g, max_mb %g -> %g", n ? ", " : "",
             (double)cur->max_age_ns / 86400e9, (double)j->max_age_ns / 86400e9,
             (double)cur->max_bytes / 1e6, (double)j->max_bytes / 1e6);
    *cur = *j;
    pruner_limits(e->pruner, j);
}

static void reload_history(struct engine *e, const struct rackfile_history *h, char *what,
                           size_t len)
{
    struct rackfile_history *cur = &e->conf.history;
    if (cur->enabled == h->enabled && !strcmp(cur->path, h->path) &&
        cur->raw_keep_ns == h->raw_keep_ns && cur->minute_keep_ns == h->minute_keep_ns &&
        cur->hour_keep_ns == h->hour_keep_ns && cur->max_bytes == h->max_bytes &&
        cur->min_free_bytes == h->min_free_bytes && cur->queue == h->queue)
        return;
    size_t n = strlen(what);
    if (strcmp(cur->path, h->path) || cur->enabled != h->enabled || cur->queue != h->queue)
        snprintf(what + n, len - n, "%shistory: path, enabled and queue take a restart",
                 n ? ", " : "");
    else
        snprintf(what + n, len - n, "%shistory limits", n ? ", " : "");
    int queue = cur->queue, enabled = cur->enabled;
    char path[sizeof(cur->path)];
    memcpy(path, cur->path, sizeof(path));
    *cur = *h;
    cur->queue = queue;
    cur->enabled = enabled;
    memcpy(cur->path, path, sizeof(path));
    if (e->hist)
        histw_limits(e->hist, cur);
}

/* The history beside the journal (docs/history.md). It cannot be opened:
 * the daemon runs without, saying so (readings are never what decides). */
static void start_history(struct engine *e)
{
    char herr[700];
    if (!e->conf.history.enabled) {
        log_info("history: off (history: enabled: false)");
        return;
    }
    if (e->conf.history.path[0])
        snprintf(e->hist_path, sizeof(e->hist_path), "%s", e->conf.history.path);
    else if (!strcmp(e->db_path, ":memory:"))
        snprintf(e->hist_path, sizeof(e->hist_path), ":memory:");
    else
        snprintf(e->hist_path, sizeof(e->hist_path), "%s.history", e->db_path);
    if (!(e->hist = histw_start(e->hist_path, &e->conf.history, herr, sizeof(herr))))
        log_warnx("%s; running without a history", herr);
}

/* The predictor's windows from the history (predict_history.h): a restart
 * does not blind prediction for a quarter of a window. A history that
 * cannot be read leaves them empty, as before: said, never a start error. */
static void predict_prime(struct engine *e)
{
    if (!e->pred_ready || !e->pred.on)
        return;
    if (!e->hist || !strcmp(e->hist_path, ":memory:")) {
        log_info("prediction: no history to fill the windows from: they start empty");
        return;
    }
    struct pred_history_stats st;
    char err[600];
    int rc = pred_history_prime(&e->pred, &e->rack, e->hist_path, &st, err, sizeof(err));
    if (rc)
        log_warnx("prediction: the windows from the history: %s; %" PRId64
                  " readings taken before it",
                  err, st.primed);
    else if (st.primed)
        log_info("prediction: the windows of %d PSUs filled from the history: %" PRId64
                 " samples of the last %.1f h (%" PRId64 " rows, %" PRId64 " ms)",
                 st.psus, st.primed, (double)(st.to_s - st.from_s) / 3600, st.rows, st.ms);
    else
        log_info("prediction: the history holds no readings for the windows: they start empty");
    for (int i = 0; i < e->rack.npsus; i++) {
        const struct pred_psu *q = &e->pred.psu[i];
        if (q->have && q->at_risk)
            log_info("prediction %s: risk %.2f from the history's readings (at risk before the "
                     "restart)",
                     e->rack.psus[i].id, q->risk);
    }
}

/* Loads the config, from its file or the embedded text (engine.h). */
int engine_load_config(const struct engine_opts *o, struct rack *r, struct rackfile_daemon *d,
                       char *err, size_t errlen)
{
    if (o->config_text)
        return rackfile_load_config_string(o->config_path, o->config_text, o->config_len,
                                           driver_conf_keys, r, d, err, errlen);
    return rackfile_load_config(o->config_path, driver_conf_keys, r, d, err, errlen);
}

/* Loads the config again and, when reload_check allows it, applies it: a
 * refusal and a change are journaled either way. Reads the tokens file
 * again too. Returns the reload's event (a new reference, NULL when out of
 * memory). who: who asked, NULL for a signal. */
static json_t *reload(struct engine *e, const char *who)
{
    struct rack nr;
    struct rackfile_daemon nd;
    struct rackfile_device nsim;
    struct rack saved = {0}; /* the running rack, should the journal fail */
    char err[600] = "", what[1500] = "";
    sd_notify(0, "RELOADING=1");
    log_info("reloading %s", e->config_path);
    if (engine_load_config(&e->opts, &nr, &nd, err, sizeof(err)) == 0) {
        struct reload_config cur = {.rack = &e->rack,
                                    .devs = e->devs,
                                    .ndevs = e->ndevs,
                                    .api = &e->conf.api,
                                    .node = &e->conf.node};
        struct reload_config next = {.rack = &nr, .api = &nd.api, .node = &nd.node};
        reload_devices(&nd, e->opts.force_sim, &nsim, &next.devs, &next.ndevs);
        if (!reload_check(&cur, &next, e->config_path, err, sizeof(err)) &&
            rack_copy(&saved, &e->rack))
            snprintf(err, sizeof(err), "out of memory");
        /* the model file is read again: a bad one refuses the whole reload */
        struct predictor npred = {0};
        char perr[400] = "";
        bool pred = !err[0] && e->pred_ready;
        if (pred && pred_open(&npred, &nd.prediction, &e->rack, mono_ns(), (int64_t)wall_now(),
                              perr, sizeof(perr))) {
            snprintf(err, sizeof(err), "%s: %s", e->config_path, perr);
            pred = false;
        }
        if (!err[0]) {
            reload_apply(&e->rack, &nr, what, sizeof(what));
            reload_journal(e, &nd.journal, what, sizeof(what));
            reload_history(e, &nd.history, what, sizeof(what));
        }
        if (pred) {
            char pwhat[700];
            pred_reload_commit(&e->pred, &npred, pwhat, sizeof(pwhat));
            e->conf.prediction = nd.prediction;
            size_t n = strlen(what);
            if (pwhat[0])
                snprintf(what + n, sizeof(what) - n, "%s%s", n ? ", " : "", pwhat);
            if (perr[0])
                log_warnx("reload: %s", perr);
        }
        rack_free(&nr);
        rackfile_daemon_free(&nd);
    }
    json_t *ev = decider_event(&e->dec, "reload");
    if (who && who[0])
        json_object_set_new(ev, "who", json_string(who));
    char terr[600];
    size_t ntokens;
    if (api_reload_tokens(e->api, &ntokens, terr, sizeof(terr))) {
        log_warnx("reload: tokens refused: %s; the tokens in use stay", terr);
        json_object_set_new(ev, "tokens", json_string(terr));
    } else {
        snprintf(terr, sizeof(terr), "%zu read", ntokens);
        json_object_set_new(ev, "tokens", json_string(terr));
    }
    json_incref(ev);
    if (err[0]) {
        log_warnx("reload refused: %s; the running config stays", err);
        json_object_set_new(ev, "applied", json_false());
        json_object_set_new(ev, "reason", json_string(err));
        journal(e, ev);
    } else {
        if (!what[0])
            snprintf(what, sizeof(what), "nothing changed");
        json_object_set_new(ev, "applied", json_true());
        json_object_set_new(ev, "reason", json_string(what));
    }
    if (!err[0] && !e->commanding) { /* figures only: the primary decides with its own */
        log_info("reload applied: %s", what);
        journal(e, ev);
    } else if (!err[0]) {
        json_t *pre = json_array();
        json_array_append_new(pre, ev);
        struct decision x = decision_settle(pre);
        if (!decide(&e->dec, &x, err, sizeof(err))) {
            log_info("reload applied: %s", what);
            /* the answer, not the journaled event, lists what it caused */
            json_t *answer = json_copy(ev);
            if (answer) {
                json_object_set_new(answer, "consequences",
                                    commands_consequences(&e->rack, &e->dec.acts, &saved));
                json_decref(ev);
                ev = answer;
            }
        } else {
            log_warnx("reload not applied: %s", err);
            if (decider_restore(&e->dec, &saved, err, sizeof(err)))
                log_warnx("reload: %s", err);
        }
    }
    rack_free(&saved);
    publish(e);
    sd_notify(0, "READY=1");
    return ev;
}

/* ---- signals and the watchdog ---- */

static void on_signal(uv_signal_t *h, int signum)
{
    struct engine *e = h->data;
    if (signum == SIGHUP) {
        json_decref(reload(e, NULL));
        return;
    }
    stop(e, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void stop(struct engine *e, const char *why)
{
    snprintf(e->stop_why, sizeof(e->stop_why), "%s", why);
    e->stop_reason = e->stop_why;
    log_info("%s: stopping", e->stop_reason);
    sd_notify(0, "STOPPING=1");
    uv_stop(&e->loop);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

/* ---- relay: other controllers' PSUs, commands given to a secondary (relay.h) ---- */

#define RELAY_CMD_WAIT_NS 10000000000LL /* a forwarded command's answer: as the API waits */

/* A command given to this secondary, waiting for the primary's answer. */
struct relay_pending {
    uint32_t id;
    uint8_t to;
    int64_t deadline_ns;
    struct hub_cmd *c; /* the hub's reference: answered with hub_answer */
    struct relay_pending *next;
};

static void on_relay_timer(uv_timer_t *t);

/* The PSUs this controller's own devices read. */
static bool *own_psus(const struct engine *e)
{
    bool *own = calloc((size_t)e->rack.npsus + 1, sizeof(*own));
    for (size_t d = 0; own && d < e->ndevs; d++) {
        const struct rackfile_device *dev = &e->devs[d];
        if (dev->kind == RACKFILE_DEV_HWMON && dev->psu >= 0 && dev->psu < e->rack.npsus)
            own[dev->psu] = true;
        for (size_t u = 0; u < dev->nunits; u++)
            if (dev->units[u].role == RACKFILE_UNIT_PSU && dev->units[u].psu >= 0 &&
                dev->units[u].psu < e->rack.npsus)
                own[dev->units[u].psu] = true;
    }
    return own;
}

/* How long another controller's PSU may go untold: its controller is lost
 * after missed heartbeats; a secondary tells after every poll (as this one
 * polls, three of them). */
static int64_t relay_grace_ns(const struct engine *e)
{
    int64_t poll = 0;
    for (size_t d = 0; d < e->ndevs; d++)
        if (e->devs[d].poll_ns > poll)
            poll = e->devs[d].poll_ns;
    return (int64_t)e->conf.node.missed * e->conf.node.heartbeat_ns + 3 * poll;
}

/* The reserves this controller's own devices read (a BBU unit, a NUT ups):
 * each is read by one device at most (daemonconf's claim). */
static bool *own_reserves(const struct engine *e)
{
    bool *own = calloc((size_t)e->rack.nreserves + 1, sizeof(*own));
    for (size_t d = 0; own && d < e->ndevs; d++) {
        const struct rackfile_device *dev = &e->devs[d];
        for (size_t u = 0; u < dev->nunits; u++)
            if (dev->units[u].role == RACKFILE_UNIT_BBU && dev->units[u].reserve >= 0 &&
                dev->units[u].reserve < e->rack.nreserves)
                own[dev->units[u].reserve] = true;
        for (size_t u = 0; dev->kind == RACKFILE_DEV_NUT && u < dev->nups; u++)
            if (dev->ups[u].reserve >= 0 && dev->ups[u].reserve < e->rack.nreserves)
                own[dev->ups[u].reserve] = true;
    }
    return own;
}

static int relay_setup(struct engine *e, char *err, size_t errlen)
{
    bool *own = own_psus(e), *own_res = own_reserves(e);
    if (own && own_res)
        e->relay = relay_new(&e->rack, own, own_res, relay_grace_ns(e));
    free(own);
    free(own_res);
    if (!e->relay) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uv_timer_init(&e->loop, &e->relay_timer);
    e->relay_timer_open = true;
    e->relay_timer.data = e;
    return 0;
}

static void relay_schedule(struct engine *e)
{
    int64_t d = relay_next_due(e->relay);
    if (e->forward_next_ns < d)
        d = e->forward_next_ns;
    if (e->grace_hold_ns && e->grace_hold_ns < d)
        d = e->grace_hold_ns;
    for (struct relay_pending *p = e->pending; p; p = p->next)
        if (p->deadline_ns < d)
            d = p->deadline_ns;
    timer_at(&e->relay_timer, on_relay_timer, d);
}

/* Inputs the relay made (a PSU told of, or unknown for want of a word),
 * decided as a device's report is, each with its own reason. */
static void relay_decide(struct engine *e, const struct relay_inputs *in, const char *why)
{
    if (!in->n)
        return;
    struct policy_input *keep = calloc(in->n, sizeof(*keep));
    const char **whys = calloc(in->n, sizeof(*whys));
    size_t n = 0;
    for (size_t k = 0; keep && whys && k < in->n; k++)
        if (commands_pass_health(&e->ov, &e->rack, &in->in[k])) {
            whys[n] = in->why[k];
            keep[n++] = in->in[k];
        }
    if (n) {
        char err[256];
        struct decision x = decision_inputs(keep, n, why);
        x.whys = whys;
        if (decide(&e->dec, &x, err, sizeof(err)))
            log_warnx("%s: not applied: %s", why, err);
    }
    free(keep);
    free(whys);
}

/* Every controller tells every other what it believes of its own PSUs and
 * what it read of them: kind alert at once when a health changed, else
 * readings. The primary decides on it; the others keep the readings in
 * their history (relay.h). One datagram to the rack bus's everyone (the
 * multicast group, else each peer): an older controller that is not
 * primary drops a forward unread. A secondary also sends at least once a
 * heartbeat (on the relay's timer), so that the primary's grace never ends
 * for a live controller whatever its devices' reports; the primary has
 * nobody's grace to keep, and its new readings go with its reports. */
static void relay_forward(struct engine *e, bool alert)
{
    uint8_t primary = member_primary(e->member); /* 0: this one, or none known */
    int64_t now = mono_ns();
    e->forward_next_ns = primary ? now + e->conf.node.heartbeat_ns : INT64_MAX;
    if (!primary)
        relay_drop_edges(e->relay); /* a new primary hears the whole belief, not edges */
    char *json = NULL, err[256];
    size_t left_out = 0;
    if (relay_encode(e->relay, &e->rack, e->relay_device, member_max_payload(), &json, &left_out)) {
        log_warnx("forward to the other controllers: out of memory");
        return;
    }
    if (left_out && !e->forward_left_out) /* once, until all fit again: the next go first */
        log_warnx("forward to the other controllers: %zu reserve readings left out (more than "
                  "one datagram holds); they go in the next forwards",
                  left_out);
    e->forward_left_out = left_out != 0;
    struct rackbus_msg f = {.type = RACKBUS_FORWARD};
    f.u.forward = (struct rackbus_forward){.id = ++e->fwd_id,
                                           .kind = alert ? RACKBUS_FWD_ALERT : RACKBUS_FWD_READINGS,
                                           .payload = (const uint8_t *)json,
                                           .len = (uint32_t)strlen(json)};
    if (member_send(e->member, 0, &f, err, sizeof(err)))
        log_warnx("forward to the other controllers: %s", err);
    else if (alert && primary)
        log_info("told the primary, node %u, of a change of health at once", primary);
    free(json);
}

/* After a report of its own devices: forwarded at once when it read a PSU
 * or a reserve. */
static void relay_own_report(struct engine *e, const struct devices_msg *m, int64_t t_ms)
{
    if (!e->relay)
        return;
    bool alert = relay_take_report(e->relay, &m->rep, t_ms), reserve = false;
    for (size_t k = 0; k < m->rep.nreserves; k++)
        reserve = reserve || !m->rep.reserves[k].unread;
    if (!alert && !m->rep.npsus && !reserve)
        return;                /* a chassis module's report: nothing of the PSUs or reserves */
    if (alert || m->rep.npsus) /* the device a PSU's health is told by, for the reasons */
        snprintf(e->relay_device, sizeof(e->relay_device), "%s", e->vdev[m->dev].name);
    relay_forward(e, alert);
    relay_schedule(e);
}

/* Another controller's readings into the history, whatever the role: each
 * once, at the time its controller read it (relay_keep_reading,
 * relay_keep_reserve); a queue push each, as the own ones. Its reserves'
 * readings go nowhere else: the outage logic reads its own devices'. */
static void keep_forwarded(struct engine *e, uint8_t from, const struct relay_forward *f)
{
    /* bad reserves: said once per sender until its reserves are taken again */
    if (f->reserves_refused[0] && !e->reserves_refused[from])
        log_warnx("forward from node %u: %s", from, f->reserves_refused);
    e->reserves_refused[from] = f->reserves_refused[0] != '\0';
    if (!e->hist)
        return;
    int64_t now_ms = (int64_t)(wall_now() * 1000.0);
    for (size_t k = 0; k < f->npsus; k++)
        if (relay_keep_reading(e->relay, f, k))
            histw_psu(e->hist, e->rack.psus[f->tel[k].psu].id,
                      f->t_ms[k] >= 0 ? f->t_ms[k] : now_ms, &f->tel[k]);
    for (size_t k = 0; k < f->nreserves; k++)
        if (relay_keep_reserve(e->relay, f, k))
            histw_reserve(e->hist, e->rack.reserves[f->reserves[k].reserve].id, f->res_t_ms[k],
                          &f->reserves[k]);
}

/* A forward of another controller's PSUs: kept in the history by every
 * controller, and taken as a report of its device by the primary alone. */
static void relay_readings(struct engine *e, const struct rackbus_msg *m, int64_t now)
{
    static struct relay_forward f;
    char err[300], why[300];
    if (relay_decode((const char *)m->u.forward.payload, m->u.forward.len, &e->rack, &f, err,
                     sizeof(err))) {
        log_warnx("forward from node %u refused: %s", m->from, err);
        return;
    }
    keep_forwarded(e, m->from, &f);
    relay_note_told(e->relay, &f);
    if (!e->commanding) {
        /* the history, and the predictor's windows (it tells nobody: the
         * primary predicts; these are full should this one take over). The
         * primary decides; a secondary's ledger and policy follow the
         * primary's entries, never a forward. */
        for (size_t k = 0; k < f.npsus; k++)
            if (!f.tel[k].unread)
                predict_reading(e, &f.tel[k]);
        return;
    }
    for (size_t k = 0; k < f.npsus; k++) {
        int i = f.tel[k].psu;
        e->tel[i] = f.tel[k];
        if (!f.tel[k].unread)
            e->psu_read[i] = (struct view_read){now, -1};
    }
    snprintf(why, sizeof(why), "told by node %u (%s)", m->from, f.device);
    relay_decide(e, relay_heard(e->relay, m->from, &f, &e->rack, now), why);
    grace_hold_end(e, now);
    relay_schedule(e);
    update_alarms(e);
    publish(e);
    for (size_t k = 0; k < f.npsus; k++)
        if (!f.tel[k].unread)
            predict_reading(e, &f.tel[k]);
}

/* The primary carries out a command given to a secondary; the answer goes
 * back from the hub's answer (on_answer). */
struct relay_answer_to {
    struct engine *e;
    uint8_t to;
    uint32_t id;
};

static void relay_answered(void *arg, const struct hub_cmd *c)
{
    struct relay_answer_to *a = arg;
    char err[256];
    const char *body = c->body ? c->body : "{\"error\":\"no answer\"}";
    size_t len = strlen(body);
    struct rackbus_msg m = {.type = RACKBUS_ANSWER};
    m.u.answer = (struct rackbus_answer){.id = a->id,
                                         .status = (uint16_t)c->status,
                                         .payload = (const uint8_t *)body,
                                         .len = (uint32_t)(len < RACKBUS_MAX_PAYLOAD ? len : 0)};
    if (!a->e->member || member_send(a->e->member, a->to, &m, err, sizeof(err)))
        log_warnx("answer to node %u: %s", a->to, err);
    free(a);
}

static void relay_command_in(struct engine *e, const struct rackbus_msg *m)
{
    char err[300];
    struct hub_cmd *c = hub_cmd_new(HUB_POWER_ON, "", "", "");
    struct relay_answer_to *a = calloc(1, sizeof(*a));
    if (!c || !a) {
        free(c);
        free(a);
        return;
    }
    *a = (struct relay_answer_to){e, m->from, m->u.forward.id};
    c->on_answer = relay_answered;
    c->on_answer_arg = a;
    if (!e->commanding) {
        hub_answer(
            e->hub, c, 503,
            strdup("{\"error\":\"this controller is not the primary (any more): ask again\"}"));
        return;
    }
    if (relay_cmd_decode((const char *)m->u.forward.payload, m->u.forward.len, m->from, c, err,
                         sizeof(err))) {
        char body[400];
        snprintf(body, sizeof(body), "{\"error\":\"%s\"}", err);
        hub_answer(e->hub, c, 400, strdup(body));
        return;
    }
    log_info("a command from node %u for %s, asked by %s", m->from, c->id, c->who);
    handle_cmd(e, c);
}

/* A command given to this secondary goes to the primary: true when it went
 * (or was answered here because there is none). */
static bool relay_command_out(struct engine *e, struct hub_cmd *c)
{
    if (!e->member || e->commanding || !relay_cmd_forwarded(c->kind))
        return false;
    uint8_t to = member_primary(e->member);
    char *json = NULL, err[256];
    if (!to) {
        hub_answer(e->hub, c, 503,
                   strdup("{\"error\":\"no primary now (an election is under way): this "
                          "controller is not the primary and cannot forward the command; ask "
                          "again in a moment\"}"));
        return true;
    }
    struct relay_pending *p = calloc(1, sizeof(*p));
    if (!p || relay_cmd_encode(c, &json)) {
        free(p);
        hub_answer(e->hub, c, 500, strdup("{\"error\":\"out of memory\"}"));
        return true;
    }
    struct rackbus_msg m = {.type = RACKBUS_FORWARD};
    m.u.forward = (struct rackbus_forward){.id = ++e->fwd_id,
                                           .kind = RACKBUS_FWD_COMMAND,
                                           .payload = (const uint8_t *)json,
                                           .len = (uint32_t)strlen(json)};
    int rc = member_send(e->member, to, &m, err, sizeof(err));
    free(json);
    if (rc) {
        free(p);
        char body[400];
        snprintf(body, sizeof(body), "{\"error\":\"cannot forward to the primary, node %u: %s\"}",
                 to, err);
        hub_answer(e->hub, c, 503, strdup(body));
        return true;
    }
    *p = (struct relay_pending){m.u.forward.id, to, mono_ns() + RELAY_CMD_WAIT_NS, c, e->pending};
    e->pending = p;
    log_info("a command for %s asked by %s: forwarded to the primary, node %u", c->id, c->who, to);
    relay_schedule(e);
    return true;
}

static void relay_answer_in(struct engine *e, const struct rackbus_msg *m)
{
    for (struct relay_pending **pp = &e->pending; *pp; pp = &(*pp)->next) {
        struct relay_pending *p = *pp;
        if (p->id != m->u.answer.id || p->to != m->from)
            continue;
        *pp = p->next;
        char *body = malloc(m->u.answer.len + 1);
        if (body) {
            memcpy(body, m->u.answer.payload, m->u.answer.len);
            body[m->u.answer.len] = '\0';
        }
        hub_answer(e->hub, p->c, body ? m->u.answer.status : 500, body);
        free(p);
        relay_schedule(e);
        return;
    }
}

/* FORWARD and ANSWER from the rack bus. */
static void relay_receive(struct engine *e, const struct rackbus_msg *m, int64_t now)
{
    if (m->type == RACKBUS_ANSWER)
        relay_answer_in(e, m);
    else if (m->u.forward.kind == RACKBUS_FWD_COMMAND)
        relay_command_in(e, m);
    else
        relay_readings(e, m, now);
}

static void on_relay_timer(uv_timer_t *t)
{
    struct engine *e = t->data;
    int64_t now = mono_ns();
    for (struct relay_pending **pp = &e->pending; *pp;) {
        struct relay_pending *p = *pp;
        if (p->deadline_ns > now) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        char body[300];
        snprintf(body, sizeof(body),
                 "{\"error\":\"the primary, node %u, did not answer within %d s: the command may "
                 "or may not have been carried out; look at its journal\"}",
                 p->to, (int)(RELAY_CMD_WAIT_NS / 1000000000));
        hub_answer(e->hub, p->c, 504, strdup(body));
        free(p);
    }
    relay_decide(e, relay_due(e->relay, &e->rack, now), "told by no controller");
    grace_hold_end(e, now);
    if (now >= e->forward_next_ns)
        relay_forward(e, false);
    relay_schedule(e);
    update_alarms(e);
    publish(e);
}

/* After the member's role or peers changed: a peer newly dead makes the
 * PSUs it told of unknown (while primary). */
static void relay_peers(struct engine *e)
{
    if (!e->relay)
        return;
    bool changed = false;
    member_view(e->member, &e->mview);
    for (size_t i = 0; i < e->mview.npeers; i++) {
        int a = e->mview.peers[i].node;
        bool dead = !strcmp(e->mview.peers[i].state, "dead");
        if (a < 1 || a > 255 || dead == e->peer_dead[a])
            continue;
        e->peer_dead[a] = dead;
        changed = true;
        if (dead && e->commanding) {
            char why[64];
            snprintf(why, sizeof(why), "node %d lost", a);
            relay_decide(e, relay_peer_dead(e->relay, (uint8_t)a, &e->rack), why);
            grace_hold_end(e, mono_ns());
        }
    }
    if (changed)
        update_alarms(e); /* peer_lost */
}

static void on_relayed(void *arg, const struct rackbus_msg *msg, int64_t now)
{
    relay_receive(arg, msg, now);
}

/* ---- a cluster member (member.h, docs/controllers.md) ---- */

static char *not_commanding(const struct engine *e)
{
    char text[300];
    int primary = e->member ? e->vcluster.primary : 0;
    if (primary)
        snprintf(text, sizeof(text),
                 "this controller (node %d) is a secondary: commands go to the primary, node %d",
                 e->vcluster.node, primary);
    else
        snprintf(text, sizeof(text),
                 "this controller (node %d) does not command the devices now: no primary is "
                 "known yet (an election is under way)",
                 e->vcluster.node);
    json_t *o = json_pack("{ss}", "error", text);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return body;
}

static void hold_actions(struct engine *e, const struct policy_action *v, size_t n)
{
    if (grow_to((void **)&e->held, &e->held_cap, e->nheld + n, sizeof(*e->held), 16, 0)) {
        log_warnx("out of memory: %zu actions that waited for replication are dropped", n);
        return;
    }
    for (size_t k = 0; k < n; k++)
        e->held[e->nheld++] = (struct held_action){.index = e->gate, .a = v[k]};
}

/* A later word on a server or a PSU replaces what waits for it: a shed
 * sent now must not be undone by the grant it follows. */
static void supersede(struct engine *e, const struct policy_action *v, size_t n)
{
    size_t kept = 0;
    for (size_t j = 0; j < e->nheld; j++) {
        const struct policy_action *h = &e->held[j].a;
        bool gone = false;
        for (size_t k = 0; k < n && !gone; k++)
            gone = (h->server >= 0 && h->server == v[k].server) ||
                   (h->server < 0 && h->psu >= 0 && h->psu == v[k].psu);
        if (gone)
            log_info("a held %s is dropped: a later decision replaced it",
                     policy_action_name(h->kind));
        else
            e->held[kept++] = e->held[j];
    }
    e->nheld = kept;
}

static void hold_answer(struct engine *e, struct hub_cmd *c, uint64_t index, int status, char *body)
{
    if (grow_to((void **)&e->answers, &e->answers_cap, e->nanswers + 1, sizeof(*e->answers), 8,
                0)) {
        free(body);
        hub_answer(e->hub, c, 500, strdup("{\"error\":\"out of memory\"}"));
        return;
    }
    e->answers[e->nanswers++] = (struct held_answer){index, c, status, body};
}

/* Answers what waits; committed: up to which entry (UINT64_MAX all), or
 * with why: refused (the controller stopped being primary first). */
static void release_answers(struct engine *e, uint64_t committed, const char *why)
{
    size_t kept = 0;
    for (size_t k = 0; k < e->nanswers; k++) {
        struct held_answer *a = &e->answers[k];
        if (!why && a->index > committed) {
            e->answers[kept++] = *a;
            continue;
        }
        if (why) {
            free(a->body);
            json_t *o = json_pack("{ss}", "error", why);
            a->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
            a->status = 503;
            json_decref(o);
        }
        hub_answer(e->hub, a->c, a->body ? a->status : 500, a->body);
    }
    e->nanswers = kept;
}

static void on_committed(void *arg, uint64_t index)
{
    struct engine *e = arg;
    if (index <= e->committed)
        return;
    e->committed = index;
    size_t n = 0;
    while (n < e->nheld && e->held[n].index <= index)
        n++;
    if (n && e->commanding) {
        struct policy_action *v = malloc(n * sizeof(*v));
        for (size_t k = 0; v && k < n; k++)
            v[k] = e->held[k].a;
        if (v)
            devices_act(e->devices, v, n);
        else /* out of memory: one at a time, the same order */
            for (size_t k = 0; k < n; k++)
                devices_act(e->devices, &e->held[k].a, 1);
        free(v);
    }
    if (n) {
        memmove(e->held, e->held + n, (e->nheld - n) * sizeof(*e->held));
        e->nheld -= n;
    }
    release_answers(e, index, NULL);
}

/*
 * Keeps the outage record in the database (store_outage_put), so that a
 * controller restarted during an outage carries it on (outage_recall): while
 * an outage is on or its servers wait for their release, and once more when
 * it is over. A secondary keeps the primary's with each entry (replica.c).
 */
static void outage_keep(struct engine *e, json_t *rec)
{
    bool on = e->orun.o.active || e->orun.o.mains_back_ns != INT64_MIN;
    if (!rec || !(on || e->outage_kept))
        return;
    char err[256];
    char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (!text || store_outage_put(e->store, text, wall_now(), err, sizeof(err)))
        log_warnx("outage: the record is not kept in the database: %s",
                  text ? err : "out of memory");
    else
        e->outage_kept = on;
    free(text);
}

/*
 * At start: the outage record the database kept, followed as it stood (its
 * ages count from when it was made, in Unix time: the monotonic clock of a
 * process before a reboot means nothing now). True when an outage was on
 * or its servers waited for their release.
 */
static bool outage_recall(struct engine *e)
{
    char err[256], *text = NULL;
    double made = 0;
    if (store_outage_get(e->store, &text, &made, err, sizeof(err))) {
        log_warnx("outage: the kept record cannot be read: %s", err);
        return false;
    }
    if (!text)
        return false;
    json_error_t jerr;
    json_t *rec = json_loads(text, 0, &jerr);
    free(text);
    double ago = wall_now() - made;
    int64_t then = mono_ns() - (int64_t)((ago > 0 ? ago : 0) * 1e9);
    bool on = false;
    if (!rec || orun_follow(&e->orun, rec, then, err, sizeof(err)))
        log_warnx("outage: the kept record is not taken: %s", rec ? err : jerr.text);
    else
        on = e->outage_kept = e->orun.o.active || e->orun.o.mains_back_ns != INT64_MIN;
    json_decref(rec);
    return on;
}

/* The decider's hook: a primary's decision becomes an entry; what it raises
 * waits for the entry's commit (on_send). */
static void on_replicate(void *arg, json_t *evs, bool all)
{
    struct engine *e = arg;
    histw_events(e->hist, evs); /* failures, repairs, operators' actions */
    if (!e->member)
        return;
    char err[256] = "not an active primary";
    size_t len = 0;
    /* the outage's events journaled before the decision go first, and the
     * outage record as it stands rides along (docs/outage.md) */
    json_t *all_evs = e->orun_ready ? orun_take_events(&e->orun) : json_array();
    if (all_evs && evs)
        json_array_extend(all_evs, evs);
    json_t *rec = e->orun_ready ? orun_record(&e->orun, mono_ns()) : NULL;
    outage_keep(e, rec);
    char *p = replica_entry(&e->rack, e->ov.psu_oos, e->ov.bus_oos, all_evs, &e->dec.acts, all, rec,
                            wall_now(), member_max_payload(), &len, err, sizeof(err));
    json_decref(all_evs);
    json_decref(rec);
    uint64_t index = p ? member_append(e->member, p, len) : 0;
    free(p);
    if (!index) {
        log_warnx("replication: a decision was not replicated (%s); what it raises is not sent",
                  err);
        e->gate = UINT64_MAX;
        return;
    }
    e->appended = index;
    e->gate = index;
}

/*
 * The outage's hook: its record changed, or it journaled events, without a
 * decision (a start, a stage, a soft-off, the operator's word). A primary
 * replicates them in an entry of their own (no server rows), so that a new
 * primary carries the same outage on; elsewhere they are dropped (a
 * secondary's journal gets them from the primary).
 */
static void outage_record(void *arg)
{
    struct engine *e = arg;
    json_t *evs = orun_take_events(&e->orun);
    json_t *rec = orun_record(&e->orun, mono_ns());
    outage_keep(e, rec);
    if (!e->member || !e->commanding || !member_active(e->member)) {
        json_decref(evs);
        json_decref(rec);
        return;
    }
    char err[256] = "not an active primary";
    size_t len = 0;
    struct policy_actions none = {0};
    char *p = replica_entry(&e->rack, e->ov.psu_oos, e->ov.bus_oos, evs, &none, false, rec,
                            wall_now(), member_max_payload(), &len, err, sizeof(err));
    json_decref(evs);
    json_decref(rec);
    uint64_t index = p ? member_append(e->member, p, len) : 0;
    free(p);
    if (!index)
        log_warnx("replication: the outage record was not replicated (%s)", err);
    else
        e->appended = index;
}

/* Journals a change of role. */
static void journal_role(struct engine *e, const char *role, const char *why)
{
    json_t *ev = decider_event(&e->dec, "role");
    json_object_set_new(ev, "role", json_string(role));
    json_object_set_new(ev, "epoch", json_integer((json_int_t)member_epoch(e->member)));
    json_object_set_new(ev, "reason", json_string(why));
    journal(e, ev);
}

/*
 * Elected. The workers start again: a driver reports edges, and what the
 * devices said while this controller was a secondary (a server's request,
 * its draw) went by unheeded; a driver that opens reports everything at its
 * first read, and puts back nothing once fenced (driver.h). Every new
 * worker fences its command devices with the epoch before anything else;
 * the node hears once every device has answered (fence_answer).
 */
static void on_fence(void *arg, uint64_t epoch)
{
    struct engine *e = arg;
    char err[300];
    devices_stop(e->devices);
    devices_msg_free(e->early);
    e->early = NULL;
    e->early_tail = &e->early;
    if (!(e->devices = devices_start(e->devs, e->ndevs, &e->rack, wake, e, err, sizeof(err)))) {
        log_warnx("elected: the devices cannot start again: %s", err);
        member_fenced(e->member, false, 0);
        return;
    }
    e->fencing = epoch;
    e->fence_seen = 0;
    e->fence_refused = false;
    memset(e->fence_answered, 0, e->ndevs * sizeof(*e->fence_answered));
    e->fence_waiting = e->ndevs;
    devices_fence(e->devices, epoch);
    if (!e->ndevs)
        member_fenced(e->member, true, 0);
}

/* The reports held while fencing: heard by the primary now, or as a
 * secondary's when the fence failed. */
static void flush_early(struct engine *e)
{
    struct devices_msg *early = e->early;
    e->early = NULL;
    e->early_tail = &e->early;
    while (early) {
        struct devices_msg *r = early;
        early = r->next;
        r->next = NULL;
        handle_msg(e, r);
        devices_msg_free(r);
    }
}

/* A worker's answer to the fence. The fence holds unless a device refused
 * it (it holds a higher epoch: this controller was replaced); a device not
 * reached is fenced by the epoch its first command carries. */
static void fence_answer(struct engine *e, const struct devices_msg *m)
{
    const char *name = e->vdev[m->dev].name;
    if (m->fence == -2) {
        log_warnx("device %s refused epoch %llu: it holds epoch %llu", name,
                  (unsigned long long)m->epoch, (unsigned long long)m->seen);
        if (m->seen > e->fence_seen)
            e->fence_seen = m->seen;
        e->fence_refused = true;
    } else if (m->fence == -1) {
        log_warnx("device %s: not fenced with epoch %llu: %s (its first command carries it)", name,
                  (unsigned long long)m->epoch, m->text);
    } else {
        log_info("device %s: fenced with epoch %llu%s%s", name, (unsigned long long)m->epoch,
                 m->text[0] ? ": " : "", m->text);
    }
    if (!e->member || !m->epoch)
        return;
    if (m->epoch != e->fencing || e->fence_answered[m->dev]) {
        if (m->fence == -2 && m->epoch == member_epoch(e->member))
            member_epoch_seen(e->member, m->seen); /* refused later (a device that came back) */
        return;
    }
    if (m->fence == 0 && m->epoch == e->fencing && !strstr(m->text, "no command device"))
        e->epoch_ok_ns = m->posted_ns; /* a command device holds our epoch */
    e->fence_answered[m->dev] = true;
    if (--e->fence_waiting)
        return;
    e->fencing = 0;
    member_fenced(e->member, !e->fence_refused, e->fence_seen);
    flush_early(e);
}

/* Devices whose first read is awaited after a promotion: those that power
 * servers. What raises power waits for them (the devices' word first). */
static void await_after_promotion(struct engine *e)
{
    e->awaited = 0;
    for (size_t i = 0; i < e->ndevs; i++) {
        e->dev_awaited[i] = false;
        for (size_t u = 0; u < e->devs[i].nunits && !e->dev_awaited[i]; u++)
            e->dev_awaited[i] = e->devs[i].units[u].role == RACKFILE_UNIT_CHASSIS;
        e->awaited += e->dev_awaited[i];
    }
    if (!e->awaited)
        return;
    char why[300];
    snprintf(why, sizeof(why),
             "promoted: waiting for the first read of %zu device%s that power%s servers",
             e->awaited, e->awaited == 1 ? "" : "s", e->awaited == 1 ? "s" : "");
    log_info("%s; decisions that raise power are held until then", why);
    decider_distrust(&e->dec, why);
}

static void on_active(void *arg, uint64_t epoch)
{
    struct engine *e = arg;
    char err[512], why[700];
    e->commanding = true;
    e->epoch = epoch;
    e->gate = e->appended = e->committed = 0;
    /* the replicated ledger is the rack now: a policy without memories of
     * it, drivers that put it back and say where the devices differ */
    struct rack copy;
    if (!rack_copy(&copy, &e->rack) && decider_restore(&e->dec, &copy, err, sizeof(err)))
        log_warnx("promotion: %s", err);
    await_after_promotion(e);
    predict_adopt(e); /* the replicated rows' PSUs at risk */
    predict_retell(e);
    if (e->relay) { /* the others' PSUs: told of within a grace, or unknown */
        int64_t now = mono_ns();
        e->promoted_ns = now;
        relay_primary(e->relay, now);
        /* ... and until then what raises power waits: a PSU whose reader
         * died with the old primary counts as last replicated until its
         * grace ends, and nothing may be granted on it. Only when another
         * controller reads PSUs (one has told of them): where none does,
         * they are unknown after the grace for good and would hold every
         * grant, which such racks (PSUs read by nobody) do not do. */
        if (relay_next_due(e->relay) != INT64_MAX && relay_others_read(e->relay)) {
            e->grace_hold_ns = now + relay_grace_ns(e);
            log_info("promoted: decisions that raise power wait %.1f s for the other "
                     "controllers' word on their PSUs",
                     (double)relay_grace_ns(e) / 1e9);
            if (!e->awaited && !e->db_lost[0])
                grace_hold_why(e);
        }
        for (int a = 1; a < 256; a++)
            if (e->peer_dead[a])
                relay_decide(e, relay_peer_dead(e->relay, (uint8_t)a, &e->rack), "a lost node");
        relay_schedule(e);
        /* the hold ends when its grace does, at a forward that completes it
         * (relay_readings), or when a lost node's PSUs complete it (below,
         * relay_peers) */
    }
    snprintf(why, sizeof(why),
             "elected primary in epoch %llu: the devices are read again and what they report is "
             "adopted before anything is raised",
             (unsigned long long)epoch);
    json_t *ev = decider_event(&e->dec, "role");
    json_object_set_new(ev, "role", json_string("primary"));
    json_object_set_new(ev, "epoch", json_integer((json_int_t)epoch));
    json_object_set_new(ev, "reason", json_string(why));
    json_t *pre = json_array();
    json_array_append_new(pre, ev);
    struct decision x = decision_settle(pre);
    x.defer = true;
    if (decide(&e->dec, &x, err, sizeof(err)))
        log_warnx("promotion: the settle was not taken: %s", err);
    if (e->orun_ready) { /* the outage the old primary ran, carried on */
        orun_adopt(&e->orun, mono_ns(), "elected primary");
        outage_soon(e);
    }
    update_alarms(e);
    publish(e);
}

static void on_demoted(void *arg, const char *why)
{
    struct engine *e = arg;
    bool was = e->commanding;
    e->commanding = false;
    e->gate = e->appended = e->committed = 0;
    if (e->nheld)
        log_warnx("demoted: %zu actions that waited for replication are dropped", e->nheld);
    e->nheld = 0;
    release_answers(e, UINT64_MAX,
                    "this controller stopped being primary before every secondary held the "
                    "decision: ask the new primary what stands");
    uv_timer_stop(&e->deadline);
    if (e->awaited || e->grace_hold_ns) { /* what a promotion awaited is the next one's */
        e->awaited = 0;
        memset(e->dev_awaited, 0, e->ndevs * sizeof(*e->dev_awaited));
        e->grace_hold_ns = 0;
        if (!e->db_lost[0])
            decider_trust(&e->dec);
    }
    e->fencing = 0;
    flush_early(e);
    if (was || e->epoch) /* stood down: what is queued is refused by the drivers */
        devices_fence(e->devices, 0);
    e->epoch = 0;
    if (e->relay) {
        relay_not_primary(e->relay);
        relay_schedule(e);
    }
    if (e->pred_ready) /* elected again, it adopts what the ledger says then */
        pred_unadopt(&e->pred);
    journal_role(e, "secondary", why);
    update_alarms(e);
    publish(e);
}

/* A secondary's predictor follows the primary's operator: a prediction
 * cleared there (psu_risk_clear with who) restarts this one's window of the
 * PSU too, as it did the primary's (commands.c), so that this controller,
 * elected, does not predict again from the readings the operator said to
 * forget. The window's own end of an episode (no who) is the primary's
 * model's word, not a verdict: this predictor keeps its own. */
static void follow_risk_clear(struct engine *e, const json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *psu = json_string_value(json_object_get(ev, "psu"));
    if (!e->pred_ready || !name || strcmp(name, "psu_risk_clear") || !psu ||
        !json_is_string(json_object_get(ev, "who")))
        return;
    int i = rack_find_psu(&e->rack, psu);
    if (i < 0)
        return;
    pred_forget(&e->pred, i);
    log_info("prediction %s: cleared by an operator on the primary: its window starts again", psu);
}

/* A secondary: an entry or the primary's snapshot into the journal, the
 * ledger and the rack. */
static int on_apply(void *arg, bool snapshot, uint64_t log_epoch, uint64_t index,
                    const uint8_t *payload, size_t len)
{
    struct engine *e = arg;
    char err[300];
    json_t *evs = NULL, *rec = NULL;
    struct replica_target t = {.store = e->store,
                               .rack = &e->rack,
                               .psu_oos = e->ov.psu_oos,
                               .bus_oos = e->ov.bus_oos,
                               .known = e->srv_known};
    struct store_node pos = {
        .max_epoch = member_epoch(e->member), .log_epoch = log_epoch, .index = index};
    if (replica_apply(&t, snapshot, index, payload, len, &pos, wall_now(), &evs, &rec, err,
                      sizeof(err))) {
        log_warnx("replication: entry %llu not applied: %s", (unsigned long long)index, err);
        return -1;
    }
    /* the primary's outage record: what a promotion carries on */
    if (rec && e->orun_ready && orun_follow(&e->orun, rec, mono_ns(), err, sizeof(err)))
        log_warnx("replication: entry %llu: %s; the outage stays as this controller had it",
                  (unsigned long long)index, err);
    json_decref(rec);
    histw_events(e->hist, evs); /* a secondary's labels, from the primary's entry */
    size_t k;
    json_t *ev;
    json_array_foreach(evs, k, ev)
    {
        const char *server = json_string_value(json_object_get(ev, "server"));
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        int i = server && reason ? rack_find_server(&e->rack, server) : -1;
        if (i >= 0)
            snprintf(e->srv_reason[i], sizeof(*e->srv_reason), "%s", reason);
        follow_risk_clear(e, ev);
    }
    json_decref(evs);
    e->dec.last_id = store_last_id(e->store);
    hub_notify(e->hub, e->dec.last_id);
    if (snapshot)
        log_info("replication: the primary's snapshot at entry %llu replaced the ledger",
                 (unsigned long long)index);
    update_alarms(e);
    publish(e);
    return 0;
}

static char *on_snapshot(void *arg, size_t *len)
{
    struct engine *e = arg;
    json_t *rec = e->orun_ready ? orun_record(&e->orun, mono_ns()) : NULL;
    char *p = replica_snapshot(&e->rack, e->ov.psu_oos, e->ov.bus_oos, rec, wall_now(), len);
    json_decref(rec);
    return p;
}

static void on_member_changed(void *arg)
{
    struct engine *e = arg;
    relay_peers(e);
    if (e->hub)
        publish(e);
}

/*
 * Whether this controller may be primary (relayd's habit: a controller
 * whose own checks fail steps down): not while its journal cannot be
 * written or trusted, nor while none of its devices answers.
 */
static void check_fit(struct engine *e)
{
    if (!e->member)
        return;
    char why[sizeof(e->unfit)] = "";
    size_t down = 0;
    for (size_t i = 0; i < e->ndevs; i++)
        down += e->dev_down[i];
    if (e->dec.failing_since)
        snprintf(why, sizeof(why), "its journal cannot be written (%s)", e->dec.failing_err);
    else if (e->db_lost[0])
        snprintf(why, sizeof(why), "its database cannot be trusted (%s)", e->db_lost);
    else if (e->ndevs && down == e->ndevs)
        snprintf(why, sizeof(why), "none of its %zu devices answers", e->ndevs);
    bool was = e->unfit[0] != '\0';
    snprintf(e->unfit, sizeof(e->unfit), "%s", why);
    if (why[0] && !was)
        member_unfit(e->member, why);
    else if (!why[0] && was)
        member_fit(e->member);
}

/* Joins the cluster: the workers only read, the node asks who is
 * primary. A rack whose snapshot a datagram cannot carry is refused. */
static int start_member(struct engine *e, char *err, size_t errlen)
{
    size_t len = 0;
    json_t *rec = e->orun_ready ? orun_record(&e->orun, mono_ns()) : NULL;
    char *snap = replica_snapshot(&e->rack, e->ov.psu_oos, e->ov.bus_oos, rec, wall_now(), &len);
    json_decref(rec);
    free(snap);
    if (!snap || len > member_max_payload() * 3 / 4) {
        snprintf(err, errlen,
                 snap ? "node: this rack's ledger (%zu bytes) is too large for the rack bus, "
                        "whose snapshot must fit one datagram (%zu bytes with room to grow)"
                      : "out of memory",
                 len, member_max_payload() * 3 / 4);
        return -1;
    }
    struct member_hooks h = {.fence = on_fence,
                             .active = on_active,
                             .demoted = on_demoted,
                             .committed = on_committed,
                             .apply = on_apply,
                             .snapshot = on_snapshot,
                             .changed = on_member_changed,
                             .relayed = on_relayed,
                             .arg = e};
    if (!(e->member = member_start(&e->loop, &e->conf.node, e->store, &h, err, errlen)))
        return -1;
    cluster_view(e);
    return 0;
}

/* ---- start and stop ---- */

/* Makes the missing directories above the file path, with mode. */
static void make_dirs(const char *path, mode_t mode)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, mode) && errno != EEXIST)
            log_warn("mkdir %s", dir);
        *p = '/';
    }
}

/* The local socket's and the tokens file's paths: the config's, or the
 * defaults (auth.h); a default socket's directory is made when missing. */
static void where_api(const struct rackfile_api *k, char *sock, size_t slen, char *tokens,
                      size_t tlen)
{
    if (!strcmp(k->socket, "none"))
        snprintf(sock, slen, "%s", "");
    else if (k->socket[0])
        snprintf(sock, slen, "%s", k->socket);
    else {
        auth_socket_default(sock, slen);
        make_dirs(sock, !strcmp(sock, "/run/rackpower/rackpowerd.sock") ? 0755 : 0700);
    }
    if (k->tokens[0])
        snprintf(tokens, tlen, "%s", k->tokens);
    else
        auth_tokens_default(tokens, tlen);
}

unsigned engine_api_port(const struct engine *e)
{
    return api_port(e->api);
}

/* Why a server is as it is survives a restart: its last decision's reason
 * comes from the journal's last events (a waiting server's queue reason, a
 * shed server's), until a new decision replaces it. */
#define RECALL_EVENTS 1000

static int recall_one(void *arg, int64_t id, const char *json)
{
    struct engine *e = arg;
    (void)id;
    json_t *ev = json_loads(json, 0, NULL);
    const char *kind = json_string_value(json_object_get(ev, "event"));
    const char *server = json_string_value(json_object_get(ev, "server"));
    const char *reason = json_string_value(json_object_get(ev, "reason"));
    /* decisions about a server, as on_decided keeps them (not a report, not
     * an ignored request: they change nothing) */
    static const char *const decisions[] = {"grant", "wait",    "release",   "cap",
                                            "shed",  "restore", "reconcile", "adopt"};
    bool decision = false;
    for (size_t k = 0; kind && k < sizeof(decisions) / sizeof(*decisions); k++)
        decision |= !strcmp(kind, decisions[k]);
    int i = decision && server && reason ? rack_find_server(&e->rack, server) : -1;
    if (i >= 0)
        snprintf(e->srv_reason[i], sizeof(*e->srv_reason), "%s", reason);
    json_decref(ev);
    return 0;
}

static void recall_reasons(struct engine *e)
{
    char err[256];
    if (store_events(e->store, 0, RECALL_EVENTS, true, recall_one, e, err, sizeof(err)))
        log_warnx("the servers' last reasons cannot be read from the journal: %s", err);
}

struct engine *engine_new(const struct engine_opts *o, struct rack *rack,
                          struct rackfile_daemon *conf, char *err, size_t errlen)
{
    static const int signals[NSIGNALS] = {SIGTERM, SIGINT, SIGHUP};
    struct engine *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->opts = *o;
    snprintf(e->config_path, sizeof(e->config_path), "%s", o->config_path);
    snprintf(e->db_path, sizeof(e->db_path), "%s", o->db_path);
    e->opts.config_path = e->config_path;
    e->opts.db_path = e->db_path;
    e->rack = *rack;
    e->conf = *conf;
    rack_init(rack);
    *conf = (struct rackfile_daemon){0};
    int64_t start_ns = mono_ns();
    e->started = wall_now();
    e->commanding = !e->conf.node.address; /* a member waits for its election */
    e->early_tail = &e->early;
    reload_devices(&e->conf, o->force_sim, &e->simdev, &e->devs, &e->ndevs);

    struct rack *r = &e->rack;
    size_t np = (size_t)r->npsus + 1;
    e->tel = calloc(np, sizeof(*e->tel));
    e->vdev = calloc(e->ndevs, sizeof(*e->vdev));
    e->dev_down = calloc(e->ndevs, sizeof(*e->dev_down));
    e->srv_known = calloc((size_t)r->nservers + 1, sizeof(*e->srv_known));
    e->srv_reason = calloc((size_t)r->nservers + 1, sizeof(*e->srv_reason));
    e->dev_awaited = calloc(e->ndevs + 1, sizeof(*e->dev_awaited));
    e->fence_answered = calloc(e->ndevs + 1, sizeof(*e->fence_answered));
    e->psu_read = calloc(np, sizeof(*e->psu_read));
    e->srv_read = calloc((size_t)r->nservers + 1, sizeof(*e->srv_read));
    if (overdraw_init(&e->od, r->nservers) || commands_overlay_init(&e->ov, r) || !e->tel ||
        !e->vdev || !e->dev_down || !e->srv_known || !e->srv_reason || !e->dev_awaited ||
        !e->fence_answered || !e->psu_read || !e->srv_read) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < r->npsus; i++) {
        e->tel[i].psu = -1;
        e->psu_read[i] = (struct view_read){INT64_MIN, -1};
    }
    for (int i = 0; i < r->nservers; i++)
        e->srv_read[i] = (struct view_read){INT64_MIN, -1};
    for (size_t i = 0; i < e->ndevs; i++) {
        devices_describe(&e->devs[i], e->vdev[i].name, sizeof(e->vdev[i].name));
        e->vdev[i].read_ns = INT64_MIN;
        e->vdev[i].stale_after_ns = view_stale_after_ns(e->devs[i].poll_ns);
    }

    char dberr[512];
    if (!(e->store = store_open(e->db_path, false, dberr, sizeof(dberr)))) {
        snprintf(err, errlen, "cannot open the database: %s", dberr);
        goto fail;
    }
    if (decider_init(&e->dec, r, e->store, e->ov.psu_oos, e->ov.bus_oos, start_ns, err, errlen))
        goto fail;
    e->dec_ready = true;
    e->dec.standby_ok = standby_ok(e);
    e->dec.hooks = (struct decider_hooks){.journaled = on_journaled,
                                          .send = on_send,
                                          .execute = on_decided,
                                          .replicate = on_replicate,
                                          .arg = e};
    struct orun_hooks oh = {.send = outage_send,
                            .may_command = outage_may_command,
                            .changed = outage_changed,
                            .record = outage_record,
                            .arg = e};
    if (orun_init(&e->orun, &e->dec, &e->loop, e->devs, e->ndevs, &oh, err, errlen))
        goto fail;
    e->orun_ready = true;
    e->epoch_ok_ns = INT64_MIN;
    struct ledger_counts counts;
    if (ledger_restore(e->store, r, e->ov.psu_oos, e->ov.bus_oos, mono_ns(), &counts, e->srv_known,
                       dberr, sizeof(dberr))) {
        snprintf(err, errlen, "cannot read the ledger: %s", dberr);
        goto fail;
    }

    /* after the ledger: a PSU it holds failed is not a failure seen now */
    char perr[400];
    if (pred_open(&e->pred, &e->conf.prediction, r, start_ns, (int64_t)e->started, perr,
                  sizeof(perr))) {
        snprintf(err, errlen, "%s", perr);
        goto fail;
    }
    e->pred_ready = true;
    /* A member adopts when it is elected, from the rows then replicated: a
     * flag it adopted now could have been cleared by the primary since. */
    if (e->commanding)
        predict_adopt(e);
    if (perr[0])
        log_warnx("%s", perr);
    else if (e->pred.on)
        log_info("prediction: model %s, threshold %.2f, horizon %.0f h, window %.0f h%s",
                 e->pred.model_path, e->pred.threshold, (double)e->pred.model.horizon_s / 3600,
                 (double)e->pred.model.window_s / 3600,
                 e->pred.time_scale != 1 ? " of model time (time_scale)" : "");
    else
        log_info("prediction: off (prediction: enabled: false)");

    recall_reasons(e);
    /* an outage this controller knew of before it stopped: its held servers
     * stay held through the start's settle */
    bool outage_on = outage_recall(e);

    if (uv_loop_init(&e->loop)) {
        snprintf(err, errlen, "cannot start the event loop");
        goto fail;
    }
    e->loop_ready = true;
    uv_async_init(&e->loop, &e->async, on_async);
    e->async.data = e;
    uv_timer_init(&e->loop, &e->deadline);
    e->deadline.data = e;
    uv_timer_init(&e->loop, &e->watchdog);
    e->watchdog.data = e;
    uv_timer_init(&e->loop, &e->catchup);
    e->catchup.data = e;
    uv_timer_init(&e->loop, &e->dbcheck);
    e->dbcheck.data = e;
    uv_timer_init(&e->loop, &e->stopper);
    e->stopper.data = e;
    uv_timer_init(&e->loop, &e->overdraw);
    e->overdraw.data = e;
    uv_timer_init(&e->loop, &e->outage_tm);
    e->outage_tm.data = e;
    uv_timer_start(&e->dbcheck, on_dbcheck, DB_CHECK_MS, DB_CHECK_MS);
    uv_timer_init(&e->loop, &e->ages);
    e->ages.data = e;
    uv_timer_start(&e->ages, on_ages, AGES_MS, AGES_MS);
    for (int k = 0; k < NSIGNALS; k++) {
        uv_signal_init(&e->loop, &e->sig[k]);
        e->sig[k].data = e;
        uv_signal_start(&e->sig[k], on_signal, signals[k]);
    }
    if (!(e->hub = hub_new(wake, e))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    /* the start, and the settle of the restored ledger, in the journal */
    char why[600];
    snprintf(why, sizeof(why),
             "rackpowerd %s started: config %s, database %s; from the ledger: %d on, %d capped, "
             "%d shed, %d waiting",
             RP_VERSION, e->config_path, e->db_path, counts.servers[RACK_SRV_ON],
             counts.servers[RACK_SRV_CAPPED], counts.servers[RACK_SRV_SHED],
             counts.servers[RACK_SRV_WAITING]);
    log_info("%s", why);
    json_t *start = decider_event(&e->dec, "start");
    json_object_set_new(start, "reason", json_string(why));
    json_t *pre = json_array();
    json_array_append_new(pre, start);
    if (counts.rows == 0 && r->nservers > 0 && !e->conf.node.address) {
        /* a first start, or a database deleted or replaced: say it loudly */
        snprintf(why, sizeof(why),
                 "the database %s holds no ledger (new, deleted or replaced): no server is "
                 "known to be granted; servers the devices report drawing power are adopted, "
                 "none is powered off to match it",
                 e->db_path);
        log_warnx("NO LEDGER: %s", why);
        json_t *ev = decider_event(&e->dec, "ledger_missing");
        json_object_set_new(ev, "reason", json_string(why));
        json_array_append_new(pre, ev);
        await_first_reads(e);
    }
    /* A journal that cannot be written (a full disk) does not keep the rack
     * without a controller: the start goes on with the journal behind, the
     * devices as they are, and nothing raised until the catch-up settles. */
    struct decision x = decision_settle(pre);
    x.defer = true;
    if (e->conf.node.address) { /* a member decides once it is primary */
        journal(e, json_incref(start));
        json_decref(pre);
    } else if (decide(&e->dec, &x, dberr, sizeof(dberr))) {
        if (!decider_behind(&e->dec)) {
            snprintf(err, errlen, "cannot write the journal: %s", dberr);
            goto fail;
        }
        log_warnx("starting with the journal behind: %s; what lowers power is done, what "
                  "raises it waits until the journal can be written",
                  dberr);
    }
    if (outage_on && !e->conf.node.address) { /* a member adopts when it is elected */
        orun_adopt(&e->orun, mono_ns(), "restarted");
        outage_soon(e);
    }
    update_alarms(e); /* journal_behind */
    watch_journal(e);

    if (!(e->pruner = pruner_start(e->db_path, &e->conf.journal, dberr, sizeof(dberr)))) {
        snprintf(err, errlen, "%s", dberr);
        goto fail;
    }
    start_history(e);
    predict_prime(e);
    if (!(e->devices = devices_start(e->devs, e->ndevs, r, wake, e, dberr, sizeof(dberr)))) {
        snprintf(err, errlen, "%s", dberr);
        goto fail;
    }
    if (e->conf.node.address && (relay_setup(e, err, errlen) || start_member(e, err, errlen)))
        goto fail;
    publish(e); /* before the API serves: no request sees an empty rack */
    char sock[256], tokens[4096];
    where_api(&e->conf.api, sock, sizeof(sock), tokens, sizeof(tokens));
    struct api_opts ao = {
        .listen = e->conf.api.listen[0] ? e->conf.api.listen : "127.0.0.1",
        .port = e->conf.api.port,
        .keepalive_ms = (int)(e->conf.api.keepalive_ns / 1000000),
        .db_path = e->db_path,
        .hist_path = e->hist ? e->hist_path : "",
        .hub = e->hub,
        .conf = &e->conf.api,
        .socket_path = sock,
        .tokens_path = tokens,
    };
    if (!(e->api = api_start(&ao, dberr, sizeof(dberr)))) {
        snprintf(err, errlen, "%s", dberr);
        goto fail;
    }
    if (api_socket(e->api)[0])
        log_info("serving the local socket %s", api_socket(e->api));
    log_info("serving the API on http%s://%s%s%s:%u", api_tls(e->api) ? "s" : "",
             strchr(ao.listen, ':') ? "[" : "", ao.listen, strchr(ao.listen, ':') ? "]" : "",
             api_port(e->api));

    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 2000)
        uv_timer_start(&e->watchdog, on_watchdog, 0, usec / 2000);
    return e;
fail:
    engine_free(e);
    return NULL;
}

int engine_run(struct engine *e)
{
    char status[128];
    snprintf(status, sizeof(status), "READY=1\nSTATUS=serving on port %u", api_port(e->api));
    sd_notify(0, status);
    schedule(e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    return 0;
}

static void on_close(uv_handle_t *h)
{
    (void)h;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    if (e->nanswers)
        release_answers(e, UINT64_MAX, "rackpowerd stopped before the decision was replicated");
    if (e->hub)
        hub_shutdown(e->hub); /* HTTP threads waiting on the loop give up */
    api_stop(e->api);
    devices_stop(e->devices);
    pruner_stop(e->pruner);
    e->pruner = NULL;
    histw_stop(e->hist); /* what is queued is written first */
    e->hist = NULL;
    e->devices = NULL;
    if (e->store && e->hub && e->stop_reason) {
        json_t *ev = decider_event(&e->dec, "stop");
        json_object_set_new(ev, "reason", json_string(e->stop_reason));
        journal(e, ev);
        if (decider_behind(&e->dec))
            log_warnx("journal: still cannot be written; %zu events kept in memory are lost",
                      e->dec.backlog ? json_array_size(e->dec.backlog) : 0);
        log_info("stopped");
    }
    member_stop(e->member);
    e->member = NULL;
    while (e->pending) { /* commands given to this secondary, unanswered */
        struct relay_pending *p = e->pending;
        e->pending = p->next;
        hub_cmd_put(e->hub, p->c);
        free(p);
    }
    relay_free(e->relay);
    e->relay = NULL;
    store_close(e->store);
    if (e->loop_ready) {
        uv_close((uv_handle_t *)&e->async, on_close);
        uv_close((uv_handle_t *)&e->deadline, on_close);
        uv_close((uv_handle_t *)&e->watchdog, on_close);
        uv_close((uv_handle_t *)&e->catchup, on_close);
        uv_close((uv_handle_t *)&e->dbcheck, on_close);
        uv_close((uv_handle_t *)&e->ages, on_close);
        uv_close((uv_handle_t *)&e->stopper, on_close);
        uv_close((uv_handle_t *)&e->overdraw, on_close);
        uv_close((uv_handle_t *)&e->outage_tm, on_close);
        if (e->orun_ready) /* its migrate commands killed, their handles closed */
            orun_fini(&e->orun);
        e->orun_ready = false;
        if (e->relay_timer_open)
            uv_close((uv_handle_t *)&e->relay_timer, on_close);
        for (int k = 0; k < NSIGNALS; k++)
            uv_close((uv_handle_t *)&e->sig[k], on_close);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        uv_loop_close(&e->loop);
    }
    hub_free(e->hub);
    if (e->dec_ready)
        decider_fini(&e->dec);
    rack_free(&e->rack);
    rackfile_daemon_free(&e->conf);
    commands_overlay_fini(&e->ov);
    if (e->pred_ready) {
        if (e->pred.evals)
            log_info("prediction: %" PRIu64 " evaluations, %.1f us each on average", e->pred.evals,
                     (double)e->pred.eval_ns / 1e3 / (double)e->pred.evals);
        pred_close(&e->pred);
    }
    e->pred_ready = false;
    free(e->tel);
    free(e->psu_read);
    free(e->srv_read);
    free(e->dev_down);
    free(e->srv_known);
    free(e->srv_reason);
    free(e->dev_awaited);
    free(e->held);
    free(e->answers);
    free(e->fence_answered);
    devices_msg_free(e->early);
    overdraw_fini(&e->od);
    alarm_set_free(&e->alarms);
    alarm_set_free(&e->conditions);
    alarm_set_free(&e->raised);
    alarm_set_free(&e->cleared);
    for (size_t i = 0; e->vdev && i < e->ndevs; i++)
        free(e->vdev[i].units);
    free(e->vdev);
    free(e);
}
