/*
 * decide.c - decide, journal, then execute (decide.h).
 */
#include "decide.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "evjson.h"
#include "grow.h"
#include "ledger.h"
#include "log.h"
#include "monoclock.h"

/* Unix time, to the millisecond. */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

int decider_init(struct decider *d, struct rack *r, struct store *s, const bool *psu_oos,
                 const bool *bus_oos, int64_t start_ns, char *err, size_t len)
{
    *d = (struct decider){
        .rack = r, .store = s, .psu_oos = psu_oos, .bus_oos = bus_oos, .start_ns = start_ns};
    d->pol = policy_new(r);
    d->spare = policy_new(r);
    if (!d->pol || !d->spare) {
        decider_fini(d);
        snprintf(err, len, "out of memory");
        return -1;
    }
    d->last_id = s ? store_last_id(s) : 0;
    return 0;
}

void decider_fini(struct decider *d)
{
    balance_plan_free(&d->plan);
    balance_free(d->bal);
    d->bal = NULL;
    policy_free(d->pol);
    policy_free(d->spare);
    policy_actions_free(&d->acts);
    json_decref(d->backlog);
    free(d->out);
    d->pol = d->spare = NULL;
    d->backlog = NULL;
    d->out = NULL;
}

struct decision decision_inputs(const struct policy_input *in, size_t n, const char *why)
{
    struct decision x = {0};
    x.in = in;
    x.n = n;
    x.why = why;
    return x;
}

struct decision decision_settle(json_t *pre)
{
    struct decision x = {0};
    x.settle = true;
    x.pre = pre;
    return x;
}

json_t *decider_event(const struct decider *d, const char *name)
{
    return event_new(mono_ns() - d->start_ns, wall_now(), name);
}

json_t *decider_input_event(const struct decider *d, const struct policy_input *in, const char *why)
{
    return event_input(d->rack, in, mono_ns() - d->start_ns, wall_now(), why);
}

/* The rows a decision changed: its PSUs and buses (servers come from the
 * actions). */
struct marks {
    bool *psu; /* per PSU */
    bool bus[RACK_MAX_BUSES];
    bool all; /* every row (a settle, or actions lost to memory) */
};

/* The psu or bus an input names (to write its row); the policy has checked
 * the index. */
static void mark_input(struct marks *m, const struct policy_input *in)
{
    switch (policy_input_target(in->kind)) {
    case POLICY_TARGET_PSU:
        m->psu[in->index] = true;
        break;
    case POLICY_TARGET_BUS:
        m->bus[in->index] = true;
        break;
    default:
        break;
    }
}

bool decider_journal_trusted(const struct decider *d)
{
    return !d->distrust[0];
}

void decider_distrust(struct decider *d, const char *why)
{
    snprintf(d->distrust, sizeof(d->distrust), "%s", why && why[0] ? why : "journal untrusted");
}

void decider_trust(struct decider *d)
{
    d->distrust[0] = '\0';
}

/* What server i of r draws: its grant, 0 unless it draws (r: the rack before
 * the decision, or as it stands). */
static int64_t drew_mw(const struct rack *r, int i)
{
    const struct rack_server *s = &r->servers[i];
    return rack_server_draws(s) ? s->alloc_mw : 0;
}

/* Whether an action raises power: a grant, a restore, a cap above what the
 * server drew. A switch, a shed, a lower cap, a release lower it or keep the
 * rack within its capacity; a wait or a change of protection sends nothing. */
static bool raises(const struct policy_action *a, const struct rack *before)
{
    switch (a->kind) {
    case POLICY_ACT_GRANT:
    case POLICY_ACT_RESTORE:
        return true;
    case POLICY_ACT_CAP:
        return a->server >= 0 && a->watts_mw > drew_mw(before, a->server);
    default:
        return false;
    }
}

/*
 * Holds what the decision raised (decider_journal_trusted): every server
 * that draws more than before it goes back to where it was (a server that
 * asked in this decision to waiting), its grant, restore or raised cap
 * leaves the actions, and a new request's grant becomes a wait saying why.
 * What lowers power stays. 0, or -1 when out of memory.
 */
static int hold_raises(struct decider *d, const struct rack *before)
{
    struct rack *r = d->rack;
    bool *held = calloc((size_t)r->nservers + 1, sizeof(*held));
    if (!held)
        return -1;
    for (size_t k = 0; k < d->acts.n; k++) {
        int i = d->acts.v[k].server;
        if (i >= 0 && raises(&d->acts.v[k], before) && drew_mw(r, i) > drew_mw(before, i))
            held[i] = true;
    }
    size_t kept = 0;
    for (size_t k = 0; k < d->acts.n; k++) {
        struct policy_action a = d->acts.v[k];
        int i = a.server;
        if (i >= 0 && held[i] && raises(&a, before)) {
            const struct rack_server *b = &before->servers[i];
            if (b->state != RACK_SRV_OFF || a.kind != POLICY_ACT_GRANT)
                continue;             /* it stays as it was: no event */
            a.kind = POLICY_ACT_WAIT; /* a new request: it waits */
            snprintf(a.reason, sizeof(a.reason), "held: %s", d->distrust);
        }
        d->acts.v[kept++] = a;
    }
    d->acts.n = kept;
    for (int i = 0; i < r->nservers; i++) {
        if (!held[i])
            continue;
        struct rack_server *s = &r->servers[i];
        const struct rack_server *b = &before->servers[i];
        s->state = b->state == RACK_SRV_OFF ? RACK_SRV_WAITING : b->state;
        s->alloc_mw = b->state == RACK_SRV_OFF ? 0 : b->alloc_mw;
    }
    free(held);
    return 0;
}

/* PSU i leaves every bus: a switch action to no bus after the policy's
 * own, and the rack shows it on none. Its capacity left the policy's sums
 * with its failure, so no grant rests on it. 0, or -1 when out of memory. */
static int open_switch(struct rack *r, int i, struct policy_actions *acts)
{
    struct rack_psu *p = &r->psus[i];
    if (p->bus < 0)
        return 0; /* on no bus already */
    if (grow_to((void **)&acts->v, &acts->cap, acts->n + 1, sizeof(*acts->v), 16, 0))
        return -1;
    struct policy_action *a = &acts->v[acts->n++];
    *a = (struct policy_action){
        .kind = POLICY_ACT_SWITCH, .server = -1, .psu = i, .from_bus = p->bus, .to_bus = -1};
    a->instant = p->switch_ns <= r->holdup_ns;
    p->bus = -1;
    a->capacity_mw = rack_capacity_mw(r);
    a->allocated_mw = rack_allocated_mw(r);
    snprintf(a->reason, sizeof(a->reason),
             "out of service: %s leaves every bus (its switch is told to open; the PSU may "
             "still be live on its feed %s)",
             p->id, r->feeds[p->feed]);
    return 0;
}

/* Appends the events of the inputs and of the actions to evs and marks the
 * rows they change. Returns how many events are facts (pre and inputs): the
 * decisions' events follow them. */
static size_t collect(struct decider *d, const struct decision *x, int64_t t_ns, double time,
                      json_t *evs, struct marks *m)
{
    for (size_t k = 0; k < x->n; k++) {
        const char *why = x->whys && x->whys[k] ? x->whys[k] : x->why;
        json_t *ev = event_input(d->rack, &x->in[k], t_ns, time, why);
        if (ev)
            json_array_append_new(evs, ev);
        mark_input(m, &x->in[k]);
    }
    size_t nfacts = json_array_size(evs);
    for (size_t k = 0; k < d->acts.n; k++) {
        const struct policy_action *a = &d->acts.v[k];
        if (a->kind == POLICY_ACT_IGNORED)
            continue; /* it changed nothing: no journal row (the answer says it) */
        json_array_append_new(evs, event_action(d->rack, a, t_ns, time));
        if (a->psu >= 0)
            m->psu[a->psu] = true;
    }
    if (x->note && x->note[0]) {
        size_t k;
        json_t *ev;
        json_array_foreach(evs, k, ev) json_object_set_new(ev, "note", json_string(x->note));
    }
    if (x->who && x->who[0]) {
        size_t k;
        json_t *ev;
        json_array_foreach(evs, k, ev) json_object_set_new(ev, "who", json_string(x->who));
    }
    return nfacts;
}

/* Writes the rows the marks name, inside the open transaction. */
static int put_rows(struct decider *d, const struct marks *m, double time, char *err, size_t len)
{
    const struct rack *r = d->rack;
    if (m->all)
        return ledger_put_all(d->store, r, d->psu_oos, d->bus_oos, time, err, len);
    for (size_t j = 0; j < d->acts.n; j++) {
        int i = d->acts.v[j].server;
        if (i >= 0 && ledger_put_server(d->store, r, i, time, err, len))
            return -1;
    }
    for (int i = 0; i < r->npsus; i++)
        if (m->psu[i] && ledger_put_psu(d->store, r, i, d->psu_oos[i], err, len))
            return -1;
    for (int b = 0; b < r->nbuses; b++)
        if (m->bus[b] && ledger_put_bus(d->store, r, b, d->bus_oos[b], err, len))
            return -1;
    return 0;
}

/* A "journal" event: how late the events written with it are. */
static json_t *late_event(const struct decider *d, size_t n)
{
    char why[700];
    snprintf(why, sizeof(why),
             "the journal could not be written for %.1f s (%s); %zu events kept in memory are "
             "written now, late (their t and time say when each happened)%s",
             wall_now() - d->failing_since, d->failing_err, n,
             d->backlog_lost ? "; some were lost:" : "");
    if (d->backlog_lost)
        snprintf(why + strlen(why), sizeof(why) - strlen(why), " %zu, the oldest", d->backlog_lost);
    json_t *ev = decider_event(d, "journal");
    json_object_set_new(ev, "reason", json_string(why));
    json_object_set_new(ev, "late", json_integer((json_int_t)n));
    json_object_set_new(ev, "lost", json_integer((json_int_t)d->backlog_lost));
    return ev;
}

static int append_all(struct decider *d, json_t *evs, int64_t *id, char *err, size_t len)
{
    size_t k;
    json_t *ev;
    json_array_foreach(evs, k, ev)
    {
        if ((*id = store_append(d->store, ev, err, len)) < 0)
            return -1;
    }
    return 0;
}

/* The backlog (with a "journal" event saying so), then the events, then the
 * rows (every row when some changed unjournaled) in one transaction. 0, or
 * -1 with err and nothing written. m may be NULL: no rows of its own. */
static int write_journal(struct decider *d, json_t *evs, const struct marks *m, double time,
                         char *err, size_t len)
{
    if (d->failing_since && !d->retrying) {
        /* failing: only decider_catch_up tries again, so that no decision
         * waits on a write that is bound to fail */
        snprintf(err, len, "%s", d->failing_err);
        return -1;
    }
    size_t nlate = d->backlog ? json_array_size(d->backlog) : 0;
    json_t *late = nlate || d->rows_dirty || d->failing_since ? late_event(d, nlate) : NULL;
    int64_t id = 0;
    int rc = store_begin(d->store, err, len);
    if (!rc && nlate)
        rc = append_all(d, d->backlog, &id, err, len);
    if (!rc && late)
        rc = (id = store_append(d->store, late, err, len)) < 0 ? -1 : 0;
    if (!rc && evs)
        rc = append_all(d, evs, &id, err, len);
    if (!rc && d->rows_dirty)
        rc = ledger_put_all(d->store, d->rack, d->psu_oos, d->bus_oos, time, err, len);
    else if (!rc && m)
        rc = put_rows(d, m, time, err, len);
    if (!rc)
        rc = store_commit(d->store, err, len);
    if (rc) {
        store_rollback(d->store);
        json_decref(late);
        if (!d->failing_since) {
            d->failing_since = time;
            log_warnx("journal: %s; from now on what lowers power is done and journaled later, "
                      "what raises power waits for the journal",
                      err);
        }
        snprintf(d->failing_err, sizeof(d->failing_err), "%s", err);
        return -1;
    }
    if (late) {
        log_info("journal: written again after %.1f s; %zu late events written%s",
                 time - d->failing_since, nlate, d->backlog_lost ? " (some were lost)" : "");
        json_decref(late);
    }
    json_decref(d->backlog);
    d->backlog = NULL;
    d->backlog_lost = 0;
    d->rows_dirty = false;
    d->failing_since = 0;
    if (id > 0)
        d->last_id = id;
    return 0;
}

/* Keeps events for the next write that succeeds (their ids reset: the
 * journal numbers them then). */
static void keep_events(struct decider *d, json_t *evs)
{
    if (!d->backlog && !(d->backlog = json_array())) {
        d->backlog_lost += json_array_size(evs);
        return;
    }
    size_t k;
    json_t *ev;
    json_array_foreach(evs, k, ev)
    {
        json_object_set_new(ev, "id", json_integer(0));
        if (json_array_size(d->backlog) >= DECIDE_BACKLOG_MAX) {
            json_array_remove(d->backlog, 0);
            d->backlog_lost++;
        }
        json_array_append(d->backlog, ev);
    }
}

/* Log lines: what happened to PSUs, buses and feeds as the policy was told,
 * then each decision. */
static void log_decision(const struct decider *d, json_t *evs, size_t nfacts)
{
    static const char *const subjects[] = {"psu", "bus", "feed"};
    if (d->acts.dropped)
        log_warnx("%zu decisions were applied but not reported (out of memory); the ledger was "
                  "written in full",
                  d->acts.dropped);
    for (size_t k = 0; k < nfacts; k++) {
        json_t *ev = json_array_get(evs, k);
        bool named = false;
        for (size_t j = 0; j < sizeof(subjects) / sizeof(*subjects); j++)
            named = named || json_is_string(json_object_get(ev, subjects[j]));
        if (!named) /* the log tells what happened to PSUs, buses and feeds */
            continue;
        char line[600];
        event_text(ev, line, sizeof(line));
        log_info("%s", line);
    }
    for (size_t j = 0; j < d->acts.n; j++) {
        char line[600];
        event_action_text(d->rack, &d->acts.v[j], line, sizeof(line));
        log_info("%s", line);
    }
}

/* A fresh policy for the next decision, from the spare (the old one may
 * remember what the undone decision saw). */
static void fresh_policy(struct decider *d)
{
    policy_free(d->pol);
    d->pol = d->spare;
    d->spare = policy_new(d->rack);
}

/* Back to before the decision. */
static void undo(struct decider *d, struct rack *before)
{
    rack_free(d->rack);
    *d->rack = *before;
    *before = (struct rack){0};
    fresh_policy(d);
    policy_actions_clear(&d->acts);
}

/* Hands the actions with raises(a) == want to the devices, in order. */
static size_t send(struct decider *d, const struct rack *before, bool want)
{
    size_t n = 0;
    if (!d->hooks.send || !d->acts.n)
        return 0;
    if (grow_to((void **)&d->out, &d->out_cap, d->acts.n, sizeof(*d->out), 16, 0)) {
        /* out of memory: one at a time, the same order */
        for (size_t k = 0; k < d->acts.n; k++)
            if (raises(&d->acts.v[k], before) == want) {
                d->hooks.send(d->hooks.arg, &d->acts.v[k], 1);
                n++;
            }
        return n;
    }
    for (size_t k = 0; k < d->acts.n; k++)
        if (raises(&d->acts.v[k], before) == want)
            d->out[n++] = d->acts.v[k];
    if (n)
        d->hooks.send(d->hooks.arg, d->out, n);
    return n;
}

/* Whether server i was named by a power-on request among the inputs. */
static bool asked_on(const struct decision *x, int i)
{
    for (size_t k = 0; k < x->n; k++)
        if (x->in[k].kind == POLICY_POWER_ON && x->in[k].index == i)
            return true;
    return false;
}

/*
 * The journal failed on a decision about inputs whose lowering actions are
 * already on their way: it stands, but what raises power is taken back (the
 * server as it was before) and a power-on request is refused. The events of
 * what stands (evs: nfacts facts, then one per action) go to the backlog.
 * Returns whether a request was refused.
 */
static bool keep_lowering(struct decider *d, const struct decision *x, const struct rack *before,
                          json_t *evs, size_t nfacts)
{
    bool refused = false;
    size_t nraised = 0, nback = 0;
    for (size_t k = 0; k < d->acts.n; k++) {
        const struct policy_action *a = &d->acts.v[k];
        nraised += raises(a, before);
        nback += raises(a, before) || (a->server >= 0 && asked_on(x, a->server));
    }
    json_t *kept = json_array();
    for (size_t k = 0; k < nfacts; k++)
        json_array_append(kept, json_array_get(evs, k));
    size_t n = 0, ev = nfacts; /* the event of each action but an ignored one (collect) */
    for (size_t k = 0; k < d->acts.n; k++) {
        struct policy_action *a = &d->acts.v[k];
        size_t its = a->kind == POLICY_ACT_IGNORED ? SIZE_MAX : ev++;
        /* what was taken back goes, and with it the word on protection,
         * which was about the rack with it: the next settle says it again */
        if (raises(a, before) || (a->server >= 0 && asked_on(x, a->server)) ||
            (nback && a->kind == POLICY_ACT_PROTECTION))
            continue;
        if (its != SIZE_MAX)
            json_array_append(kept, json_array_get(evs, its));
        d->acts.v[n++] = *a;
    }
    d->acts.n = n;
    for (int i = 0; i < d->rack->nservers; i++) {
        struct rack_server *s = &d->rack->servers[i];
        const struct rack_server *b = &before->servers[i];
        if (asked_on(x, i)) {
            refused = refused || s->state != b->state || b->state == RACK_SRV_OFF;
            s->state = b->state;
            s->alloc_mw = b->alloc_mw;
            s->seq = b->seq;
        } else if ((rack_server_draws(s) ? s->alloc_mw : 0) > drew_mw(before, i)) {
            s->state = b->state;
            s->alloc_mw = b->alloc_mw;
        }
    }
    if (nback) {
        d->rack->is_protected = before->is_protected;
        d->rack->redundancy_lost = before->redundancy_lost;
    }
    /* the policy's scratch may remember the raises */
    if (d->spare)
        fresh_policy(d);
    json_array_clear(evs);
    json_array_extend(evs, kept);
    json_decref(kept);
    keep_events(d, evs);
    d->rows_dirty = true;
    d->withheld = d->withheld || nback;
    log_warnx("journal behind: %zu decisions stand and wait to be journaled; %zu that raise power "
              "were taken back%s",
              d->acts.n, nraised, refused ? "; a power-on request was refused" : "");
    return refused;
}

/*
 * A balance plan for the rack as the decision left it; when it changes the
 * rack, its actions join the decision's (and are sent: none raises power)
 * and *ev is its balance event. The balance scratch follows the rack's shape
 * (made again after a reload or an undo: the dwell's times start over).
 */
/* The load on each bus at what the servers draw (measured, else grants). A
 * draw counts once measured while granted: the 0 W a chassis module read
 * while the server was off says nothing of what it draws now it is on (over
 * Modbus a plan at a grant's decision saw 0 W and stood every PSU by). A
 * server released or shed counts what it was last measured drawing until a
 * device reads it stopped: its slot is powered off at the driver's next
 * poll, after this plan, and a PSU must not stand by under a load still
 * there (over Modbus a power-off through the API let the shelf see its bus
 * sag and wake the PSU itself). */
static void draw_loads(const struct rack *r, int64_t load[RACK_MAX_BUSES])
{
    int64_t *draw = calloc((size_t)r->nservers + 1, sizeof(*draw));
    for (int i = 0; draw && i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        bool measured = s->on_draw_mw >= 0 && s->draw_mw > 0;
        if (rack_server_draws(s))
            draw[i] = measured ? s->draw_mw : s->alloc_mw;
        else
            draw[i] = s->draw_mw > 0 ? s->draw_mw : 0;
    }
    balance_awake_loads(r, draw, load); /* NULL: the grants */
    free(draw);
}

static bool plan(struct decider *d, int64_t now)
{
    struct rack *r = d->rack;
    if (r->balance != RACK_BALANCE_ON || r->npsus == 0)
        return false;
    if (!d->bal || d->bal_psus != r->psus || d->plan.npsus != r->npsus) {
        balance_free(d->bal);
        balance_plan_free(&d->plan);
        struct balance_conf conf;
        balance_conf_default(&conf);
        conf.max_evals = BALANCE_LOOP_MAX_EVALS; /* the loop thread's: a large rack's plan
                                                  * stops with the best it found */
        d->bal = balance_new(r, &conf);
        d->bal_psus = r->psus;
        if (!d->bal || balance_plan_init(&d->plan, r->npsus)) {
            balance_free(d->bal);
            d->bal = NULL;
            return false; /* out of memory: the rack stays as it is */
        }
        for (int i = 0; i < r->npsus; i++)
            balance_set_can_standby(d->bal, i, d->standby_ok);
    }
    int64_t load[RACK_MAX_BUSES];
    draw_loads(r, load);
    memcpy(d->bal_load_mw, load, sizeof(load));
    d->bal_at_ns = now;
    char err[128];
    return balance_plan(d->bal, r, load, now, &d->plan, err, sizeof(err)) == 0 && d->plan.changed;
}

/*
 * Moves the plan's actions (from first on) ahead of the decision's actions
 * that raise power, so that the journal lists them in the order the devices
 * get them: what lowers power, the plan, then what raises it. 0, or -1 when
 * out of memory (then they stay last).
 */
static int plan_before_raises(struct decider *d, const struct rack *before, size_t first)
{
    size_t n = d->acts.n;
    struct policy_action *v = malloc((n + 1) * sizeof(*v));
    if (!v)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < first; i++)
        if (!raises(&d->acts.v[i], before))
            v[k++] = d->acts.v[i];
    for (size_t i = first; i < n; i++)
        v[k++] = d->acts.v[i];
    for (size_t i = 0; i < first; i++)
        if (raises(&d->acts.v[i], before))
            v[k++] = d->acts.v[i];
    memcpy(d->acts.v, v, n * sizeof(*v));
    free(v);
    return 0;
}

static void rebalance(struct decider *d, const struct rack *before, int64_t now, json_t **ev)
{
    struct rack *r = d->rack;
    *ev = NULL;
    if (!plan(d, now))
        return;
    size_t first = d->acts.n;
    balance_apply(d->bal, r, &d->plan, now, &d->acts);
    if (d->hooks.send && d->acts.n > first)
        d->hooks.send(d->hooks.arg, d->acts.v + first, d->acts.n - first);
    plan_before_raises(d, before, first);
    *ev = decider_event(d, "balance");
    json_object_set_new(*ev, "saved_w",
                        evjson_watts(d->plan.loss_before_mw - d->plan.loss_after_mw));
    json_object_set_new(*ev, "loss_before_w", evjson_watts(d->plan.loss_before_mw));
    json_object_set_new(*ev, "loss_w", evjson_watts(d->plan.loss_after_mw));
    json_object_set_new(*ev, "reason", json_string(d->plan.reason));
}

void decider_no_standby(struct decider *d)
{
    d->standby_ok = false;
    for (int i = 0; d->bal && i < d->rack->npsus; i++)
        balance_set_can_standby(d->bal, i, false);
}

bool decider_balance_due(struct decider *d)
{
    const struct rack *r = d->rack;
    int64_t now = mono_ns();
    if (r->balance != RACK_BALANCE_ON || !d->bal || now - d->bal_at_ns < DECIDE_BALANCE_EVERY_NS)
        return false;
    int64_t load[RACK_MAX_BUSES];
    draw_loads(r, load);
    bool moved = false;
    for (int b = 0; b < r->nbuses; b++) {
        int64_t was = d->bal_load_mw[b], dl = load[b] > was ? load[b] - was : was - load[b];
        moved =
            moved || (dl >= DECIDE_BALANCE_MOVED_MW && dl * 100 >= was * DECIDE_BALANCE_MOVED_PCT);
    }
    return moved && plan(d, now);
}

int decide(struct decider *d, const struct decision *x, char *err, size_t len)
{
    json_t *evs = x->pre ? x->pre : json_array();
    struct rack before;
    struct marks m = {.all = x->settle};
    int64_t now = mono_ns();
    double time = wall_now();

    d->trace = (struct decide_trace){.begin_ns = now};
    policy_actions_clear(&d->acts);
    d->acts.dropped = 0;
    if (!d->spare)
        d->spare = policy_new(d->rack);
    m.psu = calloc((size_t)d->rack->npsus + 1, sizeof(*m.psu));
    if (!evs || !d->spare || !m.psu || rack_copy(&before, d->rack)) {
        snprintf(err, len, "out of memory");
        json_decref(evs);
        free(m.psu);
        return -1;
    }
    if (x->settle) {
        if (x->reask)
            policy_reask_waiting(d->pol, d->rack);
        policy_settle(d->pol, d->rack, now, &d->acts);
    } else if (x->n > 0 &&
               policy_handle_many(d->pol, d->rack, x->in, x->n, now, &d->acts, err, len)) {
        rack_free(&before); /* names nothing: the rack is unchanged */
        json_decref(evs);
        free(m.psu);
        return -1;
    }
    if (x->flag_psu && x->open_switch && open_switch(d->rack, x->flag_index, &d->acts)) {
        undo(d, &before);
        snprintf(err, len, "out of memory");
        json_decref(evs);
        free(m.psu);
        return -1;
    }
    if (!decider_journal_trusted(d) && hold_raises(d, &before)) {
        undo(d, &before);
        snprintf(err, len, "out of memory");
        json_decref(evs);
        free(m.psu);
        return -1;
    }
    d->trace.decided_ns = mono_ns();
    /* a decision on inputs lowers power at once; a settle is all or nothing */
    bool early = !x->settle;
    if (early)
        d->trace.nsent = send(d, &before, false);
    d->trace.sent_ns = mono_ns();
    json_t *balanced = NULL; /* the balance event, when a plan changed the rack */
    if (early)
        rebalance(d, &before, now, &balanced);
    if (x->flag_psu)
        m.psu[x->flag_index] = true;
    if (x->flag_bus)
        m.bus[x->flag_index] = true;

    size_t nfacts = collect(d, x, now - d->start_ns, time, evs, &m);
    if (balanced)
        json_array_append_new(evs, balanced);
    m.all = m.all || d->acts.dropped;
    bool any = m.all || json_array_size(evs) || x->flag_psu || x->flag_bus;
    bool refused = false;
    bool all_rows = m.all || d->rows_dirty; /* a catch-up writes every row */
    if ((any || d->backlog || d->rows_dirty) && write_journal(d, evs, &m, time, err, len)) {
        if (!early) {
            if (x->defer) { /* the facts wait; the catch-up settles again */
                json_t *facts = json_array();
                for (size_t k = 0; facts && k < nfacts; k++)
                    json_array_append(facts, json_array_get(evs, k));
                if (facts)
                    keep_events(d, facts);
                json_decref(facts);
                d->withheld = true;
            }
            undo(d, &before);
            log_warnx("journal: %s; the decision was not taken", err);
            json_decref(evs);
            free(m.psu);
            return -1;
        }
        refused = keep_lowering(d, x, &before, evs, nfacts);
        any = false; /* nothing new in the journal */
    }
    d->trace.journaled_ns = mono_ns();
    if (any && d->hooks.replicate)
        d->hooks.replicate(d->hooks.arg, evs, all_rows);

    /* journaled (or, for what lowers power, done without it): announce and
     * execute the rest */
    log_decision(d, evs, nfacts);
    if (any && d->hooks.journaled)
        d->hooks.journaled(d->hooks.arg, d->last_id);
    if (early)
        send(d, &before, true);
    else if (d->hooks.send && d->acts.n) /* a settle: every action, in the policy's order */
        d->hooks.send(d->hooks.arg, d->acts.v, d->acts.n);
    rack_free(&before);
    free(m.psu);
    if (d->hooks.execute)
        d->hooks.execute(d->hooks.arg, &d->acts);
    d->trace.done_ns = mono_ns();
    if (x->events && !refused) /* a caller that gets -1 takes no events */
        *x->events = json_incref(evs);
    json_decref(evs);
    if (refused) {
        snprintf(err, len,
                 "the journal cannot be written (%s); power is not granted until it can be",
                 d->failing_err);
        return -1;
    }
    return 0;
}

int decider_preview(const struct decider *d, const struct decision *x, struct policy_actions *out,
                    char *err, size_t len)
{
    struct rack copy;
    policy_actions_clear(out);
    out->dropped = 0;
    if (rack_copy(&copy, d->rack)) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    struct policy *p = policy_new(&copy);
    int rc = p ? 0 : -1;
    if (!p)
        snprintf(err, len, "out of memory");
    else if (x->settle)
        policy_settle(p, &copy, mono_ns(), out);
    else
        rc = policy_handle_many(p, &copy, x->in, x->n, mono_ns(), out, err, len);
    if (!rc && x->flag_psu && x->open_switch && open_switch(&copy, x->flag_index, out)) {
        snprintf(err, len, "out of memory");
        rc = -1;
    }
    if (!rc && out->dropped) {
        snprintf(err, len, "out of memory");
        rc = -1;
    }
    /* the fresh policy's first word on protection, when it is no news */
    size_t kept = 0;
    for (size_t k = 0; !rc && k < out->n; k++) {
        const struct policy_action *a = &out->v[k];
        if (a->kind == POLICY_ACT_PROTECTION && a->is_protected == d->rack->is_protected &&
            a->redundancy_lost == d->rack->redundancy_lost)
            continue;
        out->v[kept++] = *a;
    }
    if (!rc)
        out->n = kept;
    policy_free(p);
    rack_free(&copy);
    return rc;
}

int64_t decider_journal(struct decider *d, json_t *ev, char *err, size_t len)
{
    json_t *evs = json_array();
    if (!evs || json_array_append_new(evs, ev)) {
        json_decref(evs);
        snprintf(err, len, "out of memory");
        return -1;
    }
    if (write_journal(d, evs, NULL, wall_now(), err, len)) {
        keep_events(d, evs);
        json_decref(evs);
        return -1;
    }
    json_decref(evs);
    if (d->hooks.journaled)
        d->hooks.journaled(d->hooks.arg, d->last_id);
    return d->last_id;
}

bool decider_behind(const struct decider *d)
{
    return d->backlog || d->rows_dirty || d->withheld || d->failing_since;
}

int decider_catch_up(struct decider *d, char *err, size_t len)
{
    if (d->backlog || d->rows_dirty || d->failing_since) {
        d->retrying = true;
        int rc = write_journal(d, NULL, NULL, wall_now(), err, len);
        d->retrying = false;
        if (rc)
            return -1;
        if (d->hooks.journaled)
            d->hooks.journaled(d->hooks.arg, d->last_id);
    }
    if (d->withheld) {
        struct decision x = decision_settle(NULL);
        if (decide(d, &x, err, len))
            return -1;
        d->withheld = false;
    }
    return 0;
}

int decider_restore(struct decider *d, struct rack *saved, char *err, size_t len)
{
    rack_free(d->rack);
    *d->rack = *saved;
    *saved = (struct rack){0};
    policy_actions_clear(&d->acts);
    if (!d->spare && !(d->spare = policy_new(d->rack))) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    fresh_policy(d);
    return 0;
}
