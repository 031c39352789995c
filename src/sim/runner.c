/*
 * runner.c - the scenario runner of rackpower-sim.
 *
 * Virtual time: each timeline step is applied at its `at`, input by input,
 * and when the policy asks for a tick (a restore waiting for the rack to be
 * stable) before the next step, the tick is played at that time. Every
 * settled step ends with a state line. Nothing depends on the wall clock, so
 * the same file and seed give the same output, byte for byte.
 */
#include "runner.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "evjson.h"
#include "flow.h"
#include "outage_run.h"
#include "physics.h"
#include "policy.h"
#include "splitmix.h"

struct run {
    struct rack *r;
    struct policy *pol;
    struct policy_actions acts;
    const struct runner_opts *o;
    uint64_t rng;
    struct orun *orun;   /* NULL for a rack without reserves or activities */
    struct balance *bal; /* NULL unless the rack file says balance: on */
    struct balance_plan plan;
    int64_t *psu_load_mw, *psu_loss_mw; /* scratch for the state lines */
};

/*
 * What a drawing server really takes: the published cluster power model
 * (phys_model_mw, the one draw curve), peak its grant, with a random
 * utilisation; a server that reported its draw keeps its report.
 */
static int64_t simulated_draw(struct run *ru, const struct rack_server *s)
{
    if (s->draw_mw >= 0)
        return s->draw_mw;
    if (ru->o->full_draw)
        return s->alloc_mw;
    int64_t mw = phys_model_mw(s->alloc_mw, splitmix64_unit(&ru->rng));
    return 1000 * llround((double)mw / 1000); /* whole watts */
}

static void emit_json(struct run *ru, json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (s) {
        fputs(s, ru->o->out);
        fputc('\n', ru->o->out);
        free(s);
    }
    json_decref(obj);
}

static json_t *event_obj(int64_t t, const char *event)
{
    json_t *o = json_object();
    json_object_set_new(o, "t", evjson_seconds(t));
    json_object_set_new(o, "event", json_string(event));
    return o;
}

/* One text line: the time, then the event's columns (evjson). */
static void text_line(struct run *ru, int64_t t, const struct evjson_text *x)
{
    char cols[1024];
    evjson_columns(x, cols, sizeof(cols));
    fprintf(ru->o->out, "%9.3fs  %s\n", (double)t / 1e9, cols);
}

/* What evjson_text does not say of the outage's events: a stage's name in
 * place of its watts, and a reserve whose readings are lost. */
static void outage_text(const json_t *o, struct evjson_text *x)
{
    const char *stage = json_string_value(json_object_get(o, "stage"));
    if (!strcmp(x->event, "stage") && stage)
        snprintf(x->figure, sizeof(x->figure), "%s", stage);
    else if (!strcmp(x->event, "reserve") && json_is_false(json_object_get(o, "known")))
        snprintf(x->figure + strlen(x->figure), sizeof(x->figure) - strlen(x->figure), " lost");
}

static void print_event(struct run *ru, int64_t t, json_t *o)
{
    if (ru->o->json) {
        emit_json(ru, o);
        return;
    }
    struct evjson_text x;
    evjson_text(o, &x);
    outage_text(o, &x);
    text_line(ru, t, &x);
    json_decref(o);
}

static void print_input(struct run *ru, int64_t t, const struct policy_input *in)
{
    const struct rack *r = ru->r;
    json_t *o = event_obj(t, policy_input_name(in->kind));
    if (evjson_input(o, r, in)) { /* requests show as grant, wait or release */
        json_decref(o);
        return;
    }
    /* an input has no reason: the text line says what the simulator knows */
    char detail[128] = "";
    if (!ru->o->json && in->kind == POLICY_PSU_DEGRADE)
        snprintf(detail, sizeof(detail), "derated from %.0f W",
                 (double)r->psus[in->index].rated_mw / 1000);
    if (!ru->o->json && (in->kind == POLICY_FEED_FAIL || in->kind == POLICY_FEED_REPAIR)) {
        size_t len = (size_t)snprintf(detail, sizeof(detail), "psus:");
        for (int i = 0; i < r->npsus && len < sizeof(detail); i++)
            if (r->psus[i].feed == in->index)
                len += (size_t)snprintf(detail + len, sizeof(detail) - len, " %s", r->psus[i].id);
    }
    if (detail[0])
        json_object_set_new(o, "reason", json_string(detail));
    print_event(ru, t, o);
}

static void print_action(struct run *ru, int64_t t, const struct policy_action *a)
{
    json_t *o = event_obj(t, policy_action_name(a->kind));
    evjson_action(o, ru->r, a);
    print_event(ru, t, o);
}

static void print_state(struct run *ru, int64_t t)
{
    struct rack *r = ru->r;
    int64_t loads[RACK_MAX_BUSES], bus_cap[RACK_MAX_BUSES];
    flow_rack(r, NULL, bus_cap, loads); /* the granted power, shown even when it does not fit */
    /* what each PSU delivers and loses (balance.h's model) */
    int64_t awake_mw[RACK_MAX_BUSES];
    balance_awake_loads(r, NULL, awake_mw);
    balance_rack_psus(r, awake_mw, ru->psu_load_mw, ru->psu_loss_mw);
    int64_t loss_mw = balance_rack_loss_mw(r, awake_mw);

    if (!ru->o->json) {
        char line[4096];
        size_t o = (size_t)snprintf(
            line, sizeof(line), "%.0f of %.0f W, %s %s", (double)rack_allocated_mw(r) / 1000,
            (double)rack_capacity_mw(r) / 1000, rack_protection_name(r->protection),
            r->is_protected ? "protected" : "NOT protected");
        static const enum rack_server_state shown[] = {RACK_SRV_ON, RACK_SRV_CAPPED, RACK_SRV_SHED,
                                                       RACK_SRV_WAITING};
        for (size_t k = 0; k < sizeof(shown) / sizeof(*shown); k++) {
            bool first = true;
            for (int i = 0; i < r->nservers && o < sizeof(line); i++) {
                const struct rack_server *s = &r->servers[i];
                if (s->state != shown[k])
                    continue;
                if (first)
                    o += (size_t)snprintf(line + o, sizeof(line) - o,
                                          " | %s:", rack_server_state_name(s->state));
                first = false;
                if (o < sizeof(line))
                    o += (size_t)snprintf(line + o, sizeof(line) - o, " %s", s->id);
                if (s->state == RACK_SRV_CAPPED && o < sizeof(line))
                    o += (size_t)snprintf(line + o, sizeof(line) - o, "@%.0f",
                                          (double)s->alloc_mw / 1000);
            }
        }
        int64_t res_mw = rack_reserve_mw(r);
        if (res_mw > 0 && o < sizeof(line)) { /* after "of N W": what the batteries add */
            char *cut = strstr(line, " W, ");
            if (cut) {
                char tail[sizeof(line)];
                snprintf(tail, sizeof(tail), "%s", cut + 2);
                snprintf(cut, sizeof(line) - (size_t)(cut - line), " W + %.0f W on reserves%s",
                         (double)res_mw / 1000, tail);
            }
        }
        if (ru->orun) {
            size_t used = strlen(line);
            orun_state_text(ru->orun, line + used, sizeof(line) - used);
        }
        if (ru->bal) { /* balancing: the loss, and who stands by */
            size_t used = strlen(line);
            used += (size_t)snprintf(line + used, sizeof(line) - used, " | loss %.0f W",
                                     (double)loss_mw / 1000);
            bool first = true;
            for (int i = 0; i < r->npsus && used < sizeof(line); i++) {
                if (!r->psus[i].standby)
                    continue;
                used += (size_t)snprintf(line + used, sizeof(line) - used, "%s %s",
                                         first ? ", standby:" : "", r->psus[i].id);
                first = false;
            }
        }
        struct evjson_text x = {.event = "state", .why = line};
        text_line(ru, t, &x);
        return;
    }
    json_t *o = event_obj(t, "state");
    json_object_set_new(o, "allocated_w", evjson_watts(rack_allocated_mw(r)));
    json_object_set_new(o, "capacity_w", evjson_watts(rack_capacity_mw(r)));
    if (rack_reserve_mw(r) > 0) /* while the policy counts the batteries */
        json_object_set_new(o, "reserve_capacity_w", evjson_watts(rack_reserve_mw(r)));
    json_object_set_new(o, "protected", json_boolean(r->is_protected));
    json_object_set_new(o, "redundancy_lost", json_boolean(r->redundancy_lost));
    json_object_set_new(o, "loss_w", evjson_watts(loss_mw));
    json_t *servers = json_object();
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        json_t *so = json_object();
        json_object_set_new(so, "state", json_string(rack_server_state_name(s->state)));
        json_object_set_new(so, "watts", evjson_watts(rack_server_draws(s) ? s->alloc_mw : 0));
        if (rack_server_draws(s))
            json_object_set_new(so, "draw_w", evjson_watts(simulated_draw(ru, s)));
        json_object_set_new(servers, s->id, so);
    }
    json_object_set_new(o, "servers", servers);
    json_t *psus = json_object();
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        json_t *po = json_object();
        bool dead = r->feed_failed[q->feed];
        json_object_set_new(po, "bus", q->bus >= 0 ? json_string(r->buses[q->bus]) : json_null());
        json_object_set_new(po, "state",
                            json_string(dead ? "failed" : rack_psu_health_name(q->health)));
        json_object_set_new(po, "capacity_w", evjson_watts(dead ? 0 : rack_psu_health_mw(q)));
        json_object_set_new(po, "load_w", evjson_watts(ru->psu_load_mw[i]));
        json_object_set_new(po, "loss_w", evjson_watts(ru->psu_loss_mw[i]));
        json_object_set_new(po, "standby", json_boolean(q->standby));
        if (q->share_ppm > 0)
            json_object_set_new(po, "share", json_real((double)q->share_ppm / BALANCE_PPM));
        json_object_set_new(psus, q->id, po);
    }
    json_object_set_new(o, "psus", psus);
    json_t *buses = json_object();
    for (int b = 0; b < r->nbuses; b++) {
        json_t *bo = json_object();
        json_object_set_new(bo, "state", json_string(r->bus_failed[b] ? "failed" : "ok"));
        json_object_set_new(bo, "capacity_w", evjson_watts(bus_cap[b]));
        json_object_set_new(bo, "load_w", evjson_watts(awake_mw[b]));
        json_object_set_new(buses, r->buses[b], bo);
    }
    json_object_set_new(o, "buses", buses);
    if (ru->orun)
        orun_state_fields(ru->orun, o);
    emit_json(ru, o);
}

static void flush_actions(struct run *ru, int64_t t)
{
    for (size_t k = 0; k < ru->acts.n; k++)
        print_action(ru, t, &ru->acts.v[k]);
    policy_actions_clear(&ru->acts);
}

/* A balancing action: in text, its reason is the balance line's below. */
static void print_balance_action(struct run *ru, int64_t t, struct policy_action *a)
{
    if (!ru->o->json)
        snprintf(a->reason, sizeof(a->reason), "balancing");
    print_action(ru, t, a);
}

/*
 * Balancing, after the policy has settled (failures first): a plan for the
 * granted loads on each bus; when it changes the rack, its actions (wakes
 * first, standbys last) and a balance event with its reason and the watts it
 * saves. The loads are the grants, as the state lines show them: a server
 * granted draws at most that.
 */
static void rebalance(struct run *ru, int64_t t)
{
    if (!ru->bal) {
        flush_actions(ru, t);
        return;
    }
    struct rack *r = ru->r;
    int64_t loads[RACK_MAX_BUSES];
    balance_awake_loads(r, NULL, loads);
    char err[128];
    if (balance_plan(ru->bal, r, loads, t, &ru->plan, err, sizeof(err)) || !ru->plan.changed) {
        flush_actions(ru, t);
        return;
    }
    /* The policy's decisions are in ru->acts; the wakes they need go first
     * (a grant never leans on a PSU standing by), the rest of the plan
     * after them (a standby lowers capacity last). */
    struct policy_actions bal = {0};
    balance_apply(ru->bal, r, &ru->plan, t, &bal);
    for (size_t k = 0; k < bal.n; k++)
        if (bal.v[k].kind == POLICY_ACT_WAKE)
            print_balance_action(ru, t, &bal.v[k]);
    flush_actions(ru, t);
    for (size_t k = 0; k < bal.n; k++)
        if (bal.v[k].kind != POLICY_ACT_WAKE)
            print_balance_action(ru, t, &bal.v[k]);
    policy_actions_free(&bal);
    if (ru->o->json) {
        json_t *o = event_obj(t, "balance");
        json_object_set_new(o, "saved_w",
                            evjson_watts(ru->plan.loss_before_mw - ru->plan.loss_after_mw));
        json_object_set_new(o, "loss_before_w", evjson_watts(ru->plan.loss_before_mw));
        json_object_set_new(o, "loss_w", evjson_watts(ru->plan.loss_after_mw));
        json_object_set_new(o, "reason", json_string(ru->plan.reason));
        emit_json(ru, o);
        return;
    }
    struct evjson_text x = {.event = "balance", .why = ru->plan.reason};
    snprintf(x.figure, sizeof(x.figure), "%.0f -> %.0f W", (double)ru->plan.loss_before_mw / 1000,
             (double)ru->plan.loss_after_mw / 1000);
    text_line(ru, t, &x);
}

/* Plays the ticks the policy asks for up to (and including) `until`. */
static void play_ticks(struct run *ru, int64_t until)
{
    char err[128];
    for (int guard = 0; guard < 1000; guard++) {
        int64_t d = policy_next_deadline(ru->r);
        if (d == INT64_MAX || d > until)
            return;
        struct policy_input tick = {.kind = POLICY_TICK};
        policy_handle(ru->pol, ru->r, &tick, d, &ru->acts, err, sizeof(err));
        if (ru->acts.n == 0) /* nothing came back: not a step worth a line */
            continue;
        rebalance(ru, d); /* flushes the policy's actions */
        print_state(ru, d);
    }
}

static void print_header(struct run *ru)
{
    const struct rack *r = ru->r;
    if (ru->o->json)
        return;
    fprintf(ru->o->out,
            "rack %s: %d PSUs, %.0f W on %d buses, %d feeds, %d servers; %s, on loss %s, "
            "restore after %.0f s\n",
            r->name, r->npsus, (double)rack_capacity_mw(r) / 1000, r->nbuses, r->nfeeds,
            r->nservers, rack_protection_name(r->protection),
            r->on_loss == RACK_ON_LOSS_SHED ? "shed" : "hold", (double)r->restore_after_ns / 1e9);
    struct evjson_text head = {
        .event = "event", .subject = "subject", .figure = "figure", .why = "why"};
    char cols[128];
    evjson_columns(&head, cols, sizeof(cols));
    fprintf(ru->o->out, "%10s  %s\n", "t", cols);
}

/* The outage runner's hands on the output (outage_run.h). */
static void io_event(void *ctx, int64_t t, json_t *o)
{
    print_event(ctx, t, o);
}

static void io_flush(void *ctx, int64_t t)
{
    flush_actions(ctx, t);
}

static void io_state(void *ctx, int64_t t)
{
    struct run *ru = ctx;
    if (ru->bal) /* it flushes the outage's actions not yet flushed */
        rebalance(ru, t);
    print_state(ctx, t);
}

static void io_ticks(void *ctx, int64_t until)
{
    play_ticks(ctx, until);
}

static int64_t io_draw(void *ctx, const struct rack_server *s)
{
    return simulated_draw(ctx, s);
}

/* Virtual time up to `until`: the policy's ticks, and with reserves the
 * outage's own (discharge, re-plans, stops, releases). */
static void advance(struct run *ru, int64_t until)
{
    if (ru->orun)
        orun_advance(ru->orun, until);
    else
        play_ticks(ru, until);
}

/* One timeline step: its inputs settled together, then its outage events. */
static int play_step(struct run *ru, const struct rackfile_step *st, char *err, size_t errlen)
{
    struct rack *r = ru->r;
    for (size_t j = 0; j < st->ninputs; j++)
        print_input(ru, st->at_ns, &st->inputs[j]);
    if (policy_handle_many(ru->pol, r, st->inputs, st->ninputs, st->at_ns, &ru->acts, err, errlen))
        return -1;
    rebalance(ru, st->at_ns); /* flushes the policy's actions */
    for (size_t j = 0; j < st->nevents; j++)
        if (orun_event(ru->orun, &st->events[j], st->at_ns, err, errlen))
            return -1;
    if (ru->orun) /* with the outage's own events of this instant */
        orun_changed(ru->orun, st->at_ns);
    else
        print_state(ru, st->at_ns);
    return 0;
}

static void run_free(struct run *ru)
{
    orun_free(ru->orun);
    policy_actions_free(&ru->acts);
    policy_free(ru->pol);
    balance_plan_free(&ru->plan);
    balance_free(ru->bal);
    free(ru->psu_load_mw);
    free(ru->psu_loss_mw);
}

int runner_run(struct rack *r, const struct rackfile_timeline *tl, const struct runner_opts *o,
               char *err, size_t errlen)
{
    struct run ru = {.r = r, .o = o, .rng = o->seed};
    ru.pol = policy_new(r);
    ru.psu_load_mw = calloc((size_t)r->npsus + 1, sizeof(*ru.psu_load_mw));
    ru.psu_loss_mw = calloc((size_t)r->npsus + 1, sizeof(*ru.psu_loss_mw));
    bool balance_ok = true;
    if (r->balance == RACK_BALANCE_ON) {
        struct balance_conf bc;
        balance_conf_default(&bc);
        ru.bal = balance_new(r, &bc);
        balance_ok = ru.bal && balance_plan_init(&ru.plan, r->npsus) == 0;
    }
    if (!ru.pol || !ru.psu_load_mw || !ru.psu_loss_mw || !balance_ok) {
        run_free(&ru);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool events = false; /* mains_fail in a rack without reserves: feeds fail at once */
    for (size_t k = 0; k < tl->nsteps; k++)
        events |= tl->steps[k].nevents > 0;
    if (orun_wanted(r) || events) {
        struct orun_io io = {.ctx = &ru,
                             .event = io_event,
                             .flush = io_flush,
                             .state = io_state,
                             .ticks = io_ticks,
                             .draw_mw = io_draw};
        ru.orun = orun_new(r, ru.pol, &ru.acts, &io, o->strategy);
        if (!ru.orun) {
            run_free(&ru);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    print_header(&ru);
    int64_t t0 = tl->nsteps ? tl->steps[0].at_ns : 0;
    policy_settle(ru.pol, r, t0, &ru.acts);
    flush_actions(&ru, t0);
    int rc = 0;
    for (size_t k = 0; k < tl->nsteps && rc == 0; k++) {
        const struct rackfile_step *st = &tl->steps[k];
        advance(&ru, st->at_ns);
        rc = play_step(&ru, st, err, errlen);
    }
    if (rc == 0 && ru.orun) { /* the outage plays on while something waits */
        int64_t end = orun_now(ru.orun);
        if (end == INT64_MIN)
            end = t0;
        int64_t horizon = end + ORUN_HORIZON_NS;
        while (orun_waiting(ru.orun) && orun_now(ru.orun) < horizon)
            orun_advance(ru.orun, orun_now(ru.orun) + ORUN_IDLE_STEP_NS);
    }
    if (rc == 0)
        play_ticks(&ru, INT64_MAX - 1);
    if (o->stats && ru.orun)
        orun_stats(ru.orun, o->stats);
    run_free(&ru);
    return rc;
}

int runner_run_file(const char *path, const struct runner_opts *o, char *err, size_t errlen)
{
    struct rack r;
    struct rackfile_timeline tl = {0};
    if (rackfile_load(path, &r, &tl, err, errlen))
        return -1;
    int rc = runner_run(&r, &tl, o, err, errlen);
    rackfile_timeline_free(&tl);
    rack_free(&r);
    return rc;
}
