/*
 * engine.c - the loop thread: inputs in, decisions journaled, then executed.
 *
 * The order for every decision (decide()):
 *   1. the policy decides on a copy-protected rack (the copy is the undo);
 *   2. the events and the ledger rows it changed are written in one SQLite
 *      transaction; if that fails the rack is put back and nothing happens
 *      (an API caller gets 503, a device reports again);
 *   3. only then: log lines, event streams woken, snapshot swapped, actions
 *      queued for the devices, the API caller answered.
 * So no device is told of a grant the ledger does not hold.
 */
#include "engine.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <uv.h>

#include "api.h"
#include "devices.h"
#include "event.h"
#include "hub.h"
#include "log.h"
#include "policy.h"
#include "store.h"
#include "view.h"

#ifndef RP_VERSION
#define RP_VERSION "0"
#endif

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))
#define NSIGNALS 3

/* What the devices say about a PSU's health, apart from the operator. */
struct psu_seen {
    bool failed;
    int64_t derated_mw; /* 0: full capacity */
};

struct engine {
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t deadline, watchdog;
    uv_signal_t sig[NSIGNALS];
    bool loop_ready;

    struct engine_opts opts;
    char config_path[4096], db_path[4096];
    struct rack rack;
    struct rackfile_daemon conf;
    struct rackfile_device simdev; /* the embedded default */
    const struct rackfile_device *devs;
    size_t ndevs;

    struct policy *pol;
    struct policy_actions acts;
    struct store *store;
    struct hub *hub;
    struct api *api;
    struct devices *devices;
    struct view_device *vdev;

    bool *psu_oos, *bus_oos;
    struct psu_seen *psu_seen;
    bool bus_seen_failed[RACK_MAX_BUSES];
    struct driver_psu_reading *tel;

    int64_t start_ns;
    double started;
    int64_t last_id;
    const char *stop_reason;
};

static int64_t now_ns(void)
{
    return (int64_t)uv_hrtime();
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

static json_t *new_event(struct engine *e, const char *name)
{
    return event_new(now_ns() - e->start_ns, wall_now(), name);
}

/* The devices to run: the config's, or the simulated rack when there are
 * none, or with --sim (which keeps a configured sim device's settings). */
static void effective_devices(const struct rackfile_daemon *conf, bool force_sim,
                              struct rackfile_device *simdev, const struct rackfile_device **devs,
                              size_t *n)
{
    for (size_t i = 0; i < conf->ndevices; i++)
        if (conf->devices[i].kind == RACKFILE_DEV_SIM) {
            *devs = &conf->devices[i];
            *n = 1;
            return;
        }
    if (conf->ndevices && !force_sim) {
        *devs = conf->devices;
        *n = conf->ndevices;
        return;
    }
    /* as `devices: [{kind: sim}]` would load */
    *simdev = (struct rackfile_device){.kind = RACKFILE_DEV_SIM, .poll_ns = 1000000000, .seed = 1};
    *devs = simdev;
    *n = 1;
}

/* ---- the ledger ---- */

static struct store_server ledger_row(const struct rack_server *s, double time)
{
    struct store_server x = {.state = s->state, .seq = s->seq, .time = time};
    snprintf(x.id, sizeof(x.id), "%s", s->id);
    x.watts_mw = rack_server_draws(s) ? s->alloc_mw : 0;
    x.cap_mw = s->state == RACK_SRV_CAPPED ? s->alloc_mw : 0;
    return x;
}

static int put_server(struct engine *e, int i, double time, char *err, size_t len)
{
    struct store_server x = ledger_row(&e->rack.servers[i], time);
    return store_put_server(e->store, &x, err, len);
}

static int put_psu(struct engine *e, int i, char *err, size_t len)
{
    const struct rack_psu *p = &e->rack.psus[i];
    struct store_psu x = {.out_of_service = e->psu_oos[i]};
    snprintf(x.id, sizeof(x.id), "%s", p->id);
    snprintf(x.bus, sizeof(x.bus), "%s", p->bus >= 0 ? e->rack.buses[p->bus] : "");
    return store_put_psu(e->store, &x, err, len);
}

static int put_bus(struct engine *e, int b, char *err, size_t len)
{
    struct store_bus x = {.out_of_service = e->bus_oos[b]};
    snprintf(x.id, sizeof(x.id), "%s", e->rack.buses[b]);
    return store_put_bus(e->store, &x, err, len);
}

static int put_all(struct engine *e, double time, char *err, size_t len)
{
    for (int i = 0; i < e->rack.nservers; i++)
        if (put_server(e, i, time, err, len))
            return -1;
    for (int i = 0; i < e->rack.npsus; i++)
        if (put_psu(e, i, err, len))
            return -1;
    for (int b = 0; b < e->rack.nbuses; b++)
        if (put_bus(e, b, err, len))
            return -1;
    return 0;
}

/* ---- publishing ---- */

static void publish(struct engine *e)
{
    struct view_in in = {
        .r = &e->rack,
        .pol = e->pol,
        .psu_oos = e->psu_oos,
        .bus_oos = e->bus_oos,
        .tel = e->tel,
        .devices = e->vdev,
        .ndevices = e->ndevs,
        .t_ns = now_ns() - e->start_ns,
        .started = e->started,
        .last_event_id = e->last_id,
        .version = RP_VERSION,
    };
    struct hub_snap *s = view_build(&in);
    if (!s) {
        log_warnx("snapshot: out of memory; readers keep the previous one");
        return;
    }
    hub_publish(e->hub, s);
}

static void on_deadline(uv_timer_t *t);

/* Arms the timer for the policy's next deadline (a restore waiting for the
 * rack to be stable). */
static void schedule(struct engine *e)
{
    int64_t d = policy_next_deadline(&e->rack);
    if (d == INT64_MAX) {
        uv_timer_stop(&e->deadline);
        return;
    }
    int64_t now = now_ns();
    uint64_t ms = d > now ? (uint64_t)((d - now + 999999) / 1000000) : 0;
    uv_timer_start(&e->deadline, on_deadline, ms, 0);
}

/* ---- deciding ---- */

/* Which psus and buses an input names (to write their rows). */
static void input_marks(const struct policy_input *in, bool *psu, bool *bus)
{
    switch (in->kind) {
    case POLICY_PSU_FAIL:
    case POLICY_PSU_DEGRADE:
    case POLICY_PSU_REPAIR:
        psu[in->index] = true;
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        bus[in->index] = true;
        break;
    default:
        break;
    }
}

/* What to decide: inputs, or with settle the rack as it stands. */
struct decision {
    const struct policy_input *in;
    size_t n;
    bool settle;
    const char *why;         /* the reason shown on input events */
    const char *note;        /* the operator's words, added to every event; NULL: none */
    json_t *pre;             /* events to journal first (an operator's action, a reload); taken */
    bool flag_psu, flag_bus; /* write the row of flag_index too (an out-of-service flag) */
    int flag_index;
    json_t **events; /* when not NULL: every journaled event (a new reference) */
};

#define DECISION(...) ((struct decision){__VA_ARGS__})

/*
 * Decides, journals and then executes. Returns 0, or -1 with err when nothing
 * was decided or the journal could not be written (the rack is as before).
 */
static int decide(struct engine *e, const struct decision *d, char *err, size_t errlen)
{
    const struct policy_input *in = d->in;
    size_t n = d->n;
    bool settle = d->settle;
    const char *why = d->why;
    int mark_psu = d->flag_psu ? d->flag_index : -1, mark_bus = d->flag_bus ? d->flag_index : -1;
    json_t *pre = d->pre, **events = d->events;
    struct rack before;
    int64_t now = now_ns();
    double time = wall_now();
    json_t *evs = pre ? pre : json_array();
    int rc = -1;
    bool *psu = NULL, *bus = NULL;

    policy_actions_clear(&e->acts);
    e->acts.dropped = 0;
    if (rack_copy(&before, &e->rack)) {
        snprintf(err, errlen, "out of memory");
        json_decref(evs);
        return -1;
    }
    if (settle)
        policy_settle(e->pol, &e->rack, now, &e->acts);
    else if (policy_handle_many(e->pol, &e->rack, in, n, now, &e->acts, err, errlen))
        goto out; /* names nothing: the rack is unchanged */

    psu = calloc((size_t)e->rack.npsus + 1, sizeof(*psu));
    bus = calloc(RACK_MAX_BUSES, sizeof(*bus));
    if (!psu || !bus) {
        snprintf(err, errlen, "out of memory");
        goto undo;
    }
    if (mark_psu >= 0)
        psu[mark_psu] = true;
    if (mark_bus >= 0)
        bus[mark_bus] = true;
    for (size_t k = 0; k < n; k++) {
        json_t *ev = event_input(&e->rack, &in[k], now - e->start_ns, time, why);
        if (ev)
            json_array_append_new(evs, ev);
        input_marks(&in[k], psu, bus);
    }
    size_t nfacts = json_array_size(evs); /* the decisions' events follow */
    for (size_t k = 0; k < e->acts.n; k++) {
        const struct policy_action *a = &e->acts.v[k];
        json_array_append_new(evs, event_action(&e->rack, a, now - e->start_ns, time));
        if (a->psu >= 0)
            psu[a->psu] = true;
    }

    if (d->note && d->note[0]) {
        size_t k;
        json_t *ev;
        json_array_foreach(evs, k, ev) json_object_set_new(ev, "note", json_string(d->note));
    }
    bool all = settle || e->acts.dropped;
    bool any = all || json_array_size(evs) || mark_psu >= 0 || mark_bus >= 0;
    if (any) {
        if (store_begin(e->store, err, errlen))
            goto undo;
        size_t k;
        json_t *ev;
        int64_t id = 0;
        json_array_foreach(evs, k, ev)
        {
            if ((id = store_append(e->store, ev, err, errlen)) < 0)
                goto rollback;
        }
        if (all && put_all(e, time, err, errlen))
            goto rollback;
        for (size_t j = 0; !all && j < e->acts.n; j++)
            if (e->acts.v[j].server >= 0 && put_server(e, e->acts.v[j].server, time, err, errlen))
                goto rollback;
        for (int i = 0; !all && i < e->rack.npsus; i++)
            if (psu[i] && put_psu(e, i, err, errlen))
                goto rollback;
        for (int b = 0; !all && b < e->rack.nbuses; b++)
            if (bus[b] && put_bus(e, b, err, errlen))
                goto rollback;
        if (store_commit(e->store, err, errlen))
            goto rollback;
        if (id > 0)
            e->last_id = id;
    }

    /* journaled: now it may be announced and executed */
    if (e->acts.dropped)
        log_warnx("%zu decisions were applied but not reported (out of memory); the ledger was "
                  "written in full",
                  e->acts.dropped);
    for (size_t k = 0; k < nfacts; k++) { /* what happened, as the policy was told */
        json_t *ev = json_array_get(evs, k);
        static const char *const subjects[] = {"psu", "bus", "feed"};
        for (size_t j = 0; j < sizeof(subjects) / sizeof(*subjects); j++) {
            const char *id = json_string_value(json_object_get(ev, subjects[j]));
            const char *name = json_string_value(json_object_get(ev, "event"));
            const char *reason = json_string_value(json_object_get(ev, "reason"));
            if (id)
                log_info("%s %s: %s", name ? name : "?", id, reason ? reason : "");
        }
    }
    for (size_t j = 0; j < e->acts.n; j++) {
        char line[600];
        event_action_text(&e->rack, &e->acts.v[j], line, sizeof(line));
        log_info("%s", line);
    }
    if (any)
        hub_notify(e->hub, e->last_id);
    devices_act(e->devices, e->acts.v, e->acts.n);
    devices_rack(e->devices, &e->rack);
    if (e->hub)
        publish(e);
    if (e->loop_ready)
        schedule(e);
    rc = 0;
    goto out;

rollback:
    store_rollback(e->store);
undo:
    /* back to before the decision; a fresh policy forgets what it saw */
    rack_free(&e->rack);
    e->rack = before;
    before = (struct rack){0};
    policy_free(e->pol);
    if (!(e->pol = policy_new(&e->rack)))
        fatalx("out of memory");
    policy_actions_clear(&e->acts);
    log_warnx("journal: %s; the decision was not taken", err);
out:
    rack_free(&before);
    free(psu);
    free(bus);
    if (events && rc == 0)
        *events = json_incref(evs);
    json_decref(evs);
    return rc;
}

/* Journals events that decide nothing (device up/down, a refused reload). */
static void journal(struct engine *e, json_t *ev)
{
    char err[256];
    int64_t id = -1;
    if (!store_begin(e->store, err, sizeof(err))) {
        id = store_append(e->store, ev, err, sizeof(err));
        if (id < 0 || store_commit(e->store, err, sizeof(err))) {
            store_rollback(e->store);
            id = -1;
        }
    }
    if (id < 0)
        log_warnx("journal: %s", err);
    else {
        e->last_id = id;
        hub_notify(e->hub, id);
    }
    json_decref(ev);
}

static void on_deadline(uv_timer_t *t)
{
    struct engine *e = t->data;
    struct policy_input tick = {.kind = POLICY_TICK};
    char err[256];
    if (decide(e, &DECISION(.in = &tick, .n = 1), err, sizeof(err)))
        uv_timer_start(&e->deadline, on_deadline, 1000, 0); /* try again */
}

/* ---- commands from the API ---- */

static char *dump(json_t *o)
{
    char *s = json_dumps(o, DUMP_FLAGS);
    json_decref(o);
    return s;
}

__attribute__((format(printf, 1, 2))) static char *error_body(const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return dump(json_pack("{ss}", "error", msg));
}

/* What became of server i in the last decision. */
static const char *outcome(struct engine *e, int i, const struct policy_action **found)
{
    *found = NULL;
    for (size_t k = 0; k < e->acts.n; k++) {
        const struct policy_action *a = &e->acts.v[k];
        if (a->server != i)
            continue;
        *found = a;
        switch (a->kind) {
        case POLICY_ACT_GRANT:
            return "granted";
        case POLICY_ACT_WAIT:
            return "queued";
        case POLICY_ACT_RELEASE:
            return "released";
        case POLICY_ACT_IGNORED:
            return "ignored";
        default:
            break;
        }
    }
    switch (e->rack.servers[i].state) {
    case RACK_SRV_WAITING:
        return "queued";
    case RACK_SRV_OFF:
        return "released";
    default:
        return "granted";
    }
}

static int server_cmd(struct engine *e, struct hub_cmd *c, char **body)
{
    int i = rack_find_server(&e->rack, c->id);
    if (i < 0) {
        *body = error_body("no server '%s'", c->id);
        return 404;
    }
    struct policy_input in = {.kind = c->kind == HUB_POWER_ON ? POLICY_POWER_ON : POLICY_POWER_OFF,
                              .index = i};
    json_t *evs = NULL;
    char err[256];
    if (decide(e, &DECISION(.in = &in, .n = 1, .note = c->note, .events = &evs), err,
               sizeof(err))) {
        *body = error_body("cannot journal the decision, nothing was done: %s", err);
        return 503;
    }
    if (c->note[0])
        log_info("%s %s asked by operator: %s", c->kind == HUB_POWER_ON ? "power-on" : "power-off",
                 c->id, c->note);
    const struct policy_action *a;
    const struct rack_server *s = &e->rack.servers[i];
    const char *result = outcome(e, i, &a);
    json_t *o = json_object();
    json_object_set_new(o, "server", json_string(s->id));
    json_object_set_new(o, "result", json_string(result));
    json_object_set_new(o, "state", json_string(rack_server_state_name(s->state)));
    json_object_set_new(o, "watts", evjson_watts(rack_server_draws(s) ? s->alloc_mw : 0));
    json_object_set_new(o, "reason", json_string(a ? a->reason : ""));
    json_object_set_new(o, "events", evs);
    *body = dump(o);
    return 200;
}

/* Takes a PSU or bus out of service, or puts it back. The policy sees an
 * operator's "out" as a failure; "in" as a repair, unless the devices say
 * it is still failed (or degraded). */
static int health_cmd(struct engine *e, struct hub_cmd *c, char **body)
{
    bool is_psu = c->kind == HUB_PSU_OUT || c->kind == HUB_PSU_IN;
    bool out = c->kind == HUB_PSU_OUT || c->kind == HUB_BUS_OUT;
    int i = is_psu ? rack_find_psu(&e->rack, c->id) : rack_find_bus(&e->rack, c->id);
    const char *noun = is_psu ? "psu" : "bus";
    if (i < 0) {
        *body = error_body("no %s '%s'", noun, c->id);
        return 404;
    }
    bool *flag = is_psu ? &e->psu_oos[i] : &e->bus_oos[i];
    json_t *evs = NULL;
    bool changed = *flag != out;
    if (changed) {
        char why[400], err[256];
        struct policy_input in = {.index = i};
        size_t n = 1;
        bool seen_failed = is_psu ? e->psu_seen[i].failed : e->bus_seen_failed[i];
        snprintf(why, sizeof(why), "%s by operator%s%s", out ? "out of service" : "back in service",
                 c->note[0] ? ": " : "", c->note);
        if (out) {
            in.kind = is_psu ? POLICY_PSU_FAIL : POLICY_BUS_FAIL;
        } else if (seen_failed) {
            /* stays failed: journal the operator's word, decide nothing */
            n = 0;
            in.kind = is_psu ? POLICY_PSU_FAIL : POLICY_BUS_FAIL;
            snprintf(why + strlen(why), sizeof(why) - strlen(why),
                     "; still failed: its device reports it failed");
        } else if (is_psu && e->psu_seen[i].derated_mw) {
            in.kind = POLICY_PSU_DEGRADE;
            in.watts_mw = e->psu_seen[i].derated_mw;
        } else {
            in.kind = is_psu ? POLICY_PSU_REPAIR : POLICY_BUS_REPAIR;
        }
        *flag = out;
        json_t *pre = json_array();
        if (n == 0)
            json_array_append_new(
                pre, event_input(&e->rack, &in, now_ns() - e->start_ns, wall_now(), why));
        struct decision d =
            DECISION(.in = &in, .n = n, .why = why, .note = c->note, .pre = pre, .flag_psu = is_psu,
                     .flag_bus = !is_psu, .flag_index = i, .events = &evs);
        if (decide(e, &d, err, sizeof(err))) {
            *flag = !out;
            *body = error_body("cannot journal the decision, nothing was done: %s", err);
            return 503;
        }
    }
    json_t *o = json_object();
    json_object_set_new(o, noun, json_string(c->id));
    json_object_set_new(o, "out_of_service", json_boolean(out));
    json_object_set_new(o, "changed", json_boolean(changed));
    bool failed = is_psu ? !rack_psu_alive(&e->rack, &e->rack.psus[i]) : e->rack.bus_failed[i];
    json_object_set_new(o, "state", json_string(failed ? "failed" : "ok"));
    json_object_set_new(o, "events", evs ? evs : json_array());
    *body = dump(o);
    return 200;
}

static void handle_cmd(struct engine *e, struct hub_cmd *c)
{
    char *body = NULL;
    int status;
    switch (c->kind) {
    case HUB_POWER_ON:
    case HUB_POWER_OFF:
        status = server_cmd(e, c, &body);
        break;
    default:
        status = health_cmd(e, c, &body);
        break;
    }
    if (!body)
        status = 500;
    hub_answer(e->hub, c, status, body);
}

/* ---- device reports ---- */

/* Whether a device's word about health reaches the policy: not while the
 * operator holds the element out of service (it is failed for the policy
 * then); what the device said is kept for when it comes back. */
static bool pass_health(struct engine *e, const struct policy_input *in)
{
    int i = in->index;
    switch (in->kind) {
    case POLICY_PSU_FAIL:
    case POLICY_PSU_REPAIR:
    case POLICY_PSU_DEGRADE:
        if (i < 0 || i >= e->rack.npsus)
            return false;
        e->psu_seen[i].failed = in->kind == POLICY_PSU_FAIL;
        e->psu_seen[i].derated_mw = in->kind == POLICY_PSU_DEGRADE ? in->watts_mw : 0;
        return !e->psu_oos[i];
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        if (i < 0 || i >= e->rack.nbuses)
            return false;
        e->bus_seen_failed[i] = in->kind == POLICY_BUS_FAIL;
        return !e->bus_oos[i];
    default:
        return true;
    }
}

static void handle_report(struct engine *e, struct devices_msg *m)
{
    char err[256], why[900];
    struct policy_input *keep = m->rep.inputs;
    size_t n = 0;
    for (size_t k = 0; k < m->rep.npsus; k++) {
        int i = m->rep.psus[k].psu;
        if (i >= 0 && i < e->rack.npsus)
            e->tel[i] = m->rep.psus[k];
    }
    if (m->rep.nunits) { /* the counters: take the report's array */
        struct view_device *v = &e->vdev[m->dev];
        free(v->units);
        v->units = m->rep.units;
        v->nunits = m->rep.nunits;
        m->rep.units = NULL;
        m->rep.nunits = m->rep.units_cap = 0;
    }
    /* measured draw is shown, not decided on: applied without a journal line */
    for (size_t k = 0; k < m->rep.ninputs; k++) {
        struct policy_input *in = &m->rep.inputs[k];
        if (in->kind == POLICY_REPORT) {
            policy_actions_clear(&e->acts);
            policy_handle(e->pol, &e->rack, in, now_ns(), &e->acts, err, sizeof(err));
        } else if (pass_health(e, in)) {
            keep[n++] = *in;
        }
    }
    if (n) {
        snprintf(why, sizeof(why), "reported by %s%s%s", e->vdev[m->dev].name,
                 m->rep.note[0] ? ": " : "", m->rep.note);
        if (decide(e, &DECISION(.in = keep, .n = n, .why = why), err, sizeof(err)))
            log_warnx("%s: report not applied: %s", e->vdev[m->dev].name, err);
    } else {
        publish(e);
    }
}

static void handle_msg(struct engine *e, struct devices_msg *m)
{
    struct view_device *v = &e->vdev[m->dev];
    if (m->kind == DEVICES_REPORT) {
        handle_report(e, m);
        return;
    }
    bool up = m->kind == DEVICES_UP;
    v->up = up;
    snprintf(v->error, sizeof(v->error), "%s", up ? "" : m->text);
    if (up)
        log_info("device %s: %s", v->name, m->text);
    else
        log_warnx("device %s: %s", v->name, m->text);
    json_t *ev = new_event(e, "device");
    json_object_set_new(ev, "device", json_string(v->name));
    json_object_set_new(ev, "state", json_string(up ? "up" : "down"));
    json_object_set_new(ev, "reason", json_string(m->text));
    journal(e, ev);
    publish(e);
}

static void on_async(uv_async_t *h)
{
    struct engine *e = h->data;
    struct devices_msg *msgs = devices_take(e->devices);
    for (struct devices_msg *m = msgs; m; m = m->next)
        handle_msg(e, m);
    devices_msg_free(msgs);
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

static bool same_ids(const struct rackfile_ids *a, const struct rackfile_ids *b)
{
    return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof(*a->v)));
}

static bool same_timeline(const struct rackfile_timeline *a, const struct rackfile_timeline *b)
{
    if (a->nsteps != b->nsteps)
        return false;
    for (size_t k = 0; k < a->nsteps; k++) {
        const struct rackfile_step *x = &a->steps[k], *y = &b->steps[k];
        if (x->at_ns != y->at_ns || x->ninputs != y->ninputs ||
            memcmp(x->inputs, y->inputs, x->ninputs * sizeof(*x->inputs)))
            return false;
    }
    return true;
}

static bool same_device(const struct rackfile_device *a, const struct rackfile_device *b)
{
    if (a->kind != b->kind || a->poll_ns != b->poll_ns || a->timeout_ns != b->timeout_ns ||
        a->seed != b->seed || strcmp(a->host, b->host) || a->port != b->port ||
        strcmp(a->device, b->device) || a->baud != b->baud || a->parity != b->parity ||
        a->data_bits != b->data_bits || a->stop_bits != b->stop_bits || strcmp(a->path, b->path) ||
        a->psu != b->psu || a->nunits != b->nunits || !same_ids(&a->boot, &b->boot) ||
        !same_timeline(&a->timeline, &b->timeline))
        return false;
    for (size_t k = 0; k < a->nunits; k++) {
        const struct rackfile_unit *x = &a->units[k], *y = &b->units[k];
        if (x->unit != y->unit || x->role != y->role || x->psu != y->psu ||
            x->chassis != y->chassis || !same_ids(&x->items, &y->items))
            return false;
    }
    return true;
}

/* The first difference of ids between two lists, as "psu 'x' added". */
static bool ids_differ(const char *noun, const char *a, size_t astride, int na, const char *b,
                       size_t bstride, int nb, char *why, size_t len)
{
    for (int i = 0; i < nb; i++) {
        int j = 0;
        while (j < na && strcmp(a + (size_t)j * astride, b + (size_t)i * bstride))
            j++;
        if (j == na) {
            snprintf(why, len, "%s '%s' added", noun, b + (size_t)i * bstride);
            return true;
        }
    }
    for (int j = 0; j < na; j++) {
        int i = 0;
        while (i < nb && strcmp(a + (size_t)j * astride, b + (size_t)i * bstride))
            i++;
        if (i == nb) {
            snprintf(why, len, "%s '%s' removed", noun, a + (size_t)j * astride);
            return true;
        }
    }
    for (int i = 0; i < na; i++)
        if (strcmp(a + (size_t)i * astride, b + (size_t)i * bstride)) {
            snprintf(why, len, "the order of the %s list changed", noun);
            return true;
        }
    return false;
}

/* Whether the new rack has another shape: elements added, removed or wired
 * differently. The policy, the ledger and the drivers all hold indices. */
static bool shape_differs(const struct rack *a, const struct rack *b, char *why, size_t len)
{
    if (ids_differ("feed", a->feeds[0], RACK_ID_LEN, a->nfeeds, b->feeds[0], RACK_ID_LEN, b->nfeeds,
                   why, len) ||
        ids_differ("bus", a->buses[0], RACK_ID_LEN, a->nbuses, b->buses[0], RACK_ID_LEN, b->nbuses,
                   why, len) ||
        ids_differ("psu", a->psus ? a->psus[0].id : "", sizeof(*a->psus), a->npsus,
                   b->psus ? b->psus[0].id : "", sizeof(*b->psus), b->npsus, why, len) ||
        ids_differ("server", a->servers ? a->servers[0].id : "", sizeof(*a->servers), a->nservers,
                   b->servers ? b->servers[0].id : "", sizeof(*b->servers), b->nservers, why, len))
        return true;
    for (int i = 0; i < a->npsus; i++)
        if (a->psus[i].wired != b->psus[i].wired || a->psus[i].feed != b->psus[i].feed) {
            snprintf(why, len, "psu '%s': its buses or feed changed", a->psus[i].id);
            return true;
        }
    for (int i = 0; i < a->nservers; i++) {
        const struct rack_server *x = &a->servers[i], *y = &b->servers[i];
        const char *cx = x->chassis >= 0 ? a->chassis[x->chassis] : "";
        const char *cy = y->chassis >= 0 ? b->chassis[y->chassis] : "";
        if (x->wired != y->wired || strcmp(cx, cy)) {
            snprintf(why, len, "server '%s': its buses or chassis changed", x->id);
            return true;
        }
    }
    return false;
}

/* Appends "what old -> new" to a "; "-separated list. */
__attribute__((format(printf, 3, 4))) static void note(char *buf, size_t len, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 3 >= len)
        return;
    if (n)
        n += (size_t)snprintf(buf + n, len - n, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, len - n, fmt, ap);
    va_end(ap);
}

static double w(int64_t mw)
{
    return (double)mw / 1000;
}

/* Copies what a reload may change into the live rack; lists the changes. */
static void apply_reload(struct rack *r, const struct rack *nr, char *what, size_t len)
{
    if (strcmp(r->name, nr->name))
        note(what, len, "name %s -> %s", r->name, nr->name);
    if (r->protection != nr->protection)
        note(what, len, "protection %s -> %s", rack_protection_name(r->protection),
             rack_protection_name(nr->protection));
    if (r->on_loss != nr->on_loss)
        note(what, len, "on_protection_loss -> %s",
             nr->on_loss == RACK_ON_LOSS_SHED ? "shed" : "hold");
    if (r->restore_after_ns != nr->restore_after_ns)
        note(what, len, "restore_after_s %.15g -> %.15g", (double)r->restore_after_ns / 1e9,
             (double)nr->restore_after_ns / 1e9);
    if (r->holdup_ns != nr->holdup_ns)
        note(what, len, "holdup_ms %.15g -> %.15g", (double)r->holdup_ns / 1e6,
             (double)nr->holdup_ns / 1e6);
    memcpy(r->name, nr->name, sizeof(r->name));
    r->protection = nr->protection;
    r->on_loss = nr->on_loss;
    r->restore_after_ns = nr->restore_after_ns;
    r->holdup_ns = nr->holdup_ns;
    for (int i = 0; i < r->npsus; i++) {
        struct rack_psu *p = &r->psus[i];
        const struct rack_psu *q = &nr->psus[i];
        if (p->rated_mw != q->rated_mw)
            note(what, len, "%s capacity_w %.15g -> %.15g", p->id, w(p->rated_mw), w(q->rated_mw));
        if (p->sw != q->sw || p->switch_ns != q->switch_ns)
            note(what, len, "%s switch %s %.15g ms -> %s %.15g ms", p->id, rack_switch_name(p->sw),
                 (double)p->switch_ns / 1e6, rack_switch_name(q->sw), (double)q->switch_ns / 1e6);
        p->rated_mw = q->rated_mw;
        p->derated_mw = p->health == RACK_PSU_DEGRADED && p->derated_mw < q->rated_mw
                            ? p->derated_mw
                            : q->rated_mw;
        if (p->health == RACK_PSU_DEGRADED && p->derated_mw >= p->rated_mw)
            p->health = RACK_PSU_OK;
        p->sw = q->sw;
        p->switch_ns = q->switch_ns;
    }
    for (int i = 0; i < r->nservers; i++) {
        struct rack_server *s = &r->servers[i];
        const struct rack_server *q = &nr->servers[i];
        if (s->power_mw != q->power_mw)
            note(what, len, "%s power_w %.15g -> %.15g", s->id, w(s->power_mw), w(q->power_mw));
        if (s->min_mw != q->min_mw)
            note(what, len, "%s min_w %.15g -> %.15g", s->id, w(s->min_mw), w(q->min_mw));
        if (s->priority != q->priority)
            note(what, len, "%s priority %d -> %d", s->id, s->priority, q->priority);
        s->power_mw = q->power_mw;
        s->min_mw = q->min_mw;
        s->priority = q->priority;
        /* a grant follows the server's figure; a cap stays inside its new range */
        if (s->state == RACK_SRV_ON)
            s->alloc_mw = s->power_mw;
        if (s->state == RACK_SRV_CAPPED) {
            s->alloc_mw = s->alloc_mw < s->min_mw ? s->min_mw : s->alloc_mw;
            if (s->alloc_mw >= s->power_mw) {
                s->alloc_mw = s->power_mw;
                s->state = RACK_SRV_ON;
            }
        }
    }
}

static void reload(struct engine *e)
{
    struct rack nr;
    struct rackfile_daemon nd;
    struct rackfile_device nsim;
    struct rack saved = {0}; /* the running rack, should the journal fail */
    const struct rackfile_device *ndevs;
    size_t nn;
    char err[600] = "", what[1500] = "";
    sd_notify(0, "RELOADING=1");
    log_info("reloading %s", e->config_path);
    if (rackfile_load_config(e->config_path, &nr, &nd, err, sizeof(err)) == 0) {
        effective_devices(&nd, e->opts.force_sim, &nsim, &ndevs, &nn);
        char shape[300];
        if (shape_differs(&e->rack, &nr, shape, sizeof(shape)))
            snprintf(err, sizeof(err), "%s: the rack's shape changed (%s); that needs a restart",
                     e->config_path, shape);
        else if (nn != e->ndevs)
            snprintf(err, sizeof(err), "%s: devices: changes need a restart", e->config_path);
        for (size_t i = 0; !err[0] && i < nn; i++)
            if (!same_device(&ndevs[i], &e->devs[i]))
                snprintf(err, sizeof(err),
                         "%s: devices: the device at line %d changed; devices change with a "
                         "restart",
                         e->config_path, ndevs[i].line);
        if (!err[0] &&
            (strcmp(nd.api.listen, e->conf.api.listen) || nd.api.port != e->conf.api.port ||
             nd.api.keepalive_ns != e->conf.api.keepalive_ns))
            snprintf(err, sizeof(err), "%s: api: changes need a restart", e->config_path);
        if (!err[0] && rack_copy(&saved, &e->rack))
            snprintf(err, sizeof(err), "out of memory");
        if (!err[0])
            apply_reload(&e->rack, &nr, what, sizeof(what));
        rack_free(&nr);
        rackfile_daemon_free(&nd);
    }
    json_t *ev = new_event(e, "reload");
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
        json_t *pre = json_array();
        json_array_append_new(pre, ev);
        if (!decide(e, &DECISION(.settle = true, .pre = pre), err, sizeof(err))) {
            log_info("reload applied: %s", what);
        } else {
            log_warnx("reload not applied: %s", err);
            rack_free(&e->rack);
            e->rack = saved;
            saved = (struct rack){0};
            policy_free(e->pol);
            if (!(e->pol = policy_new(&e->rack)))
                fatalx("out of memory");
        }
    }
    rack_free(&saved);
    publish(e);
    sd_notify(0, "READY=1");
}

/* ---- signals and the watchdog ---- */

static void on_signal(uv_signal_t *h, int signum)
{
    struct engine *e = h->data;
    if (signum == SIGHUP) {
        reload(e);
        return;
    }
    e->stop_reason = signum == SIGTERM ? "SIGTERM" : "SIGINT";
    log_info("%s: stopping", e->stop_reason);
    sd_notify(0, "STOPPING=1");
    uv_stop(&e->loop);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

/* ---- start and stop ---- */

struct restore {
    struct engine *e;
    int count[5];
    uint64_t max_seq;
};

static int restore_server(void *arg, const struct store_server *x)
{
    struct restore *rs = arg;
    struct rack *r = &rs->e->rack;
    int i = rack_find_server(r, x->id);
    if (i < 0) {
        if (x->state != RACK_SRV_OFF)
            log_warnx("ledger: server '%s' (%s) is not in the rack any more; forgotten", x->id,
                      rack_server_state_name(x->state));
        return 0;
    }
    struct rack_server *s = &r->servers[i];
    s->state = x->state;
    s->seq = x->seq;
    s->alloc_mw = 0;
    if (x->state == RACK_SRV_ON) {
        s->alloc_mw = s->power_mw;
    } else if (x->state == RACK_SRV_CAPPED) {
        int64_t cap = x->cap_mw < s->min_mw ? s->min_mw : x->cap_mw;
        s->alloc_mw = cap < s->power_mw ? cap : s->power_mw;
        if (s->alloc_mw == s->power_mw)
            s->state = RACK_SRV_ON;
    }
    rs->count[s->state]++;
    if (x->seq > rs->max_seq)
        rs->max_seq = x->seq;
    return 0;
}

static int restore_psu(void *arg, const struct store_psu *x)
{
    struct restore *rs = arg;
    struct rack *r = &rs->e->rack;
    int i = rack_find_psu(r, x->id);
    if (i < 0)
        return 0;
    int b = x->bus[0] ? rack_find_bus(r, x->bus) : -1;
    if (b >= 0 && ((r->psus[i].wired >> b) & 1))
        r->psus[i].bus = b;
    rs->e->psu_oos[i] = x->out_of_service;
    if (x->out_of_service)
        r->psus[i].health = RACK_PSU_FAILED;
    return 0;
}

static int restore_bus(void *arg, const struct store_bus *x)
{
    struct restore *rs = arg;
    int b = rack_find_bus(&rs->e->rack, x->id);
    if (b >= 0 && x->out_of_service) {
        rs->e->bus_oos[b] = true;
        rs->e->rack.bus_failed[b] = true;
    }
    return 0;
}

/* Loads the ledger into the rack: every server comes back as it was left
 * (on, capped, shed, waiting), PSUs where they were switched, the operator's
 * flags. The settle that follows reconciles it with the config. */
static int restore(struct engine *e, struct restore *rs, char *err, size_t len)
{
    rs->e = e;
    if (store_load_servers(e->store, restore_server, rs, err, len) ||
        store_load_psus(e->store, restore_psu, rs, err, len) ||
        store_load_buses(e->store, restore_bus, rs, err, len))
        return -1;
    e->rack.next_seq = rs->max_seq + 1;
    /* a restart counts as a change: shed servers come back only after the
     * rack has been stable for restore_after_s */
    e->rack.last_change_ns = now_ns();
    return 0;
}

unsigned engine_api_port(const struct engine *e)
{
    return api_port(e->api);
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
    e->start_ns = now_ns();
    e->started = wall_now();
    effective_devices(&e->conf, o->force_sim, &e->simdev, &e->devs, &e->ndevs);

    struct rack *r = &e->rack;
    size_t np = (size_t)r->npsus + 1;
    e->psu_oos = calloc(np, sizeof(*e->psu_oos));
    e->bus_oos = calloc(RACK_MAX_BUSES, sizeof(*e->bus_oos));
    e->psu_seen = calloc(np, sizeof(*e->psu_seen));
    e->tel = calloc(np, sizeof(*e->tel));
    e->vdev = calloc(e->ndevs, sizeof(*e->vdev));
    e->pol = policy_new(r);
    if (!e->psu_oos || !e->bus_oos || !e->psu_seen || !e->tel || !e->vdev || !e->pol) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < r->npsus; i++)
        e->tel[i].psu = -1;
    for (size_t i = 0; i < e->ndevs; i++)
        devices_describe(&e->devs[i], e->vdev[i].name, sizeof(e->vdev[i].name));

    char dberr[512];
    if (!(e->store = store_open(e->db_path, false, dberr, sizeof(dberr)))) {
        snprintf(err, errlen, "cannot open the database: %s", dberr);
        goto fail;
    }
    e->last_id = store_last_id(e->store);
    struct restore rs = {0};
    if (restore(e, &rs, dberr, sizeof(dberr))) {
        snprintf(err, errlen, "cannot read the ledger: %s", dberr);
        goto fail;
    }

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
             RP_VERSION, e->config_path, e->db_path, rs.count[RACK_SRV_ON],
             rs.count[RACK_SRV_CAPPED], rs.count[RACK_SRV_SHED], rs.count[RACK_SRV_WAITING]);
    log_info("%s", why);
    json_t *start = new_event(e, "start");
    json_object_set_new(start, "reason", json_string(why));
    json_t *pre = json_array();
    json_array_append_new(pre, start);
    if (decide(e, &DECISION(.settle = true, .pre = pre), dberr, sizeof(dberr))) {
        snprintf(err, errlen, "cannot write the journal: %s", dberr);
        goto fail;
    }

    if (!(e->devices = devices_start(e->devs, e->ndevs, r, wake, e, dberr, sizeof(dberr)))) {
        snprintf(err, errlen, "%s", dberr);
        goto fail;
    }
    publish(e); /* before the API serves: no request sees an empty rack */
    struct api_opts ao = {
        .listen = e->conf.api.listen[0] ? e->conf.api.listen : "127.0.0.1",
        .port = e->conf.api.port,
        .keepalive_ms = (int)(e->conf.api.keepalive_ns / 1000000),
        .db_path = e->db_path,
        .hub = e->hub,
    };
    if (!(e->api = api_start(&ao, dberr, sizeof(dberr)))) {
        snprintf(err, errlen, "%s", dberr);
        goto fail;
    }
    log_info("serving the API on http://%s%s%s:%u", strchr(ao.listen, ':') ? "[" : "", ao.listen,
             strchr(ao.listen, ':') ? "]" : "", api_port(e->api));

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
    if (e->hub)
        hub_shutdown(e->hub); /* HTTP threads waiting on the loop give up */
    api_stop(e->api);
    devices_stop(e->devices);
    e->devices = NULL;
    if (e->store && e->hub && e->stop_reason) {
        json_t *ev = new_event(e, "stop");
        json_object_set_new(ev, "reason", json_string(e->stop_reason));
        journal(e, ev);
        log_info("stopped");
    }
    store_close(e->store);
    if (e->loop_ready) {
        uv_close((uv_handle_t *)&e->async, on_close);
        uv_close((uv_handle_t *)&e->deadline, on_close);
        uv_close((uv_handle_t *)&e->watchdog, on_close);
        for (int k = 0; k < NSIGNALS; k++)
            uv_close((uv_handle_t *)&e->sig[k], on_close);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        uv_loop_close(&e->loop);
    }
    hub_free(e->hub);
    policy_free(e->pol);
    policy_actions_free(&e->acts);
    rack_free(&e->rack);
    rackfile_daemon_free(&e->conf);
    free(e->psu_oos);
    free(e->bus_oos);
    free(e->psu_seen);
    free(e->tel);
    for (size_t i = 0; e->vdev && i < e->ndevs; i++)
        free(e->vdev[i].units);
    free(e->vdev);
    free(e);
}
