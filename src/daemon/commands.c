/*
 * commands.c - the operator's commands and out-of-service overlay
 * (commands.h).
 */
#include "commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evjson.h"
#include "log.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

int commands_overlay_init(struct commands_overlay *ov, const struct rack *r)
{
    size_t np = (size_t)r->npsus + 1;
    *ov = (struct commands_overlay){0};
    ov->psu_oos = calloc(np, sizeof(*ov->psu_oos));
    ov->psu_seen = calloc(np, sizeof(*ov->psu_seen));
    if (!ov->psu_oos || !ov->psu_seen) {
        commands_overlay_fini(ov);
        return -1;
    }
    return 0;
}

void commands_overlay_fini(struct commands_overlay *ov)
{
    free(ov->psu_oos);
    free(ov->psu_seen);
    ov->psu_oos = NULL;
    ov->psu_seen = NULL;
}

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

/* What each server draws now (its grant when it draws, else 0): what a
 * decision's consequences start from. NULL when out of memory. */
static int64_t *drawn_now(const struct rack *r)
{
    int64_t *v = calloc((size_t)r->nservers + 1, sizeof(*v));
    for (int i = 0; v && i < r->nservers; i++)
        v[i] = rack_server_draws(&r->servers[i]) ? r->servers[i].alloc_mw : 0;
    return v;
}

/* What a decision caused, one object per action: {"action", the server or
 * PSU, watts, reason, ...} (docs/api.md "consequences"); a shed, cap,
 * restore or release says in was_w what the server drew before (drew: per
 * server, NULL when not known). An ignored input caused nothing and is left
 * out. */
static json_t *consequences(const struct rack *r, const struct policy_actions *acts,
                            const int64_t *drew)
{
    json_t *arr = json_array();
    for (size_t k = 0; arr && k < acts->n; k++) {
        const struct policy_action *a = &acts->v[k];
        if (a->kind == POLICY_ACT_IGNORED)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "action", json_string(policy_action_name(a->kind)));
        evjson_action(o, r, a);
        bool changes = a->kind == POLICY_ACT_SHED || a->kind == POLICY_ACT_CAP ||
                       a->kind == POLICY_ACT_RESTORE || a->kind == POLICY_ACT_RELEASE;
        if (drew && a->server >= 0 && changes)
            json_object_set_new(o, "was_w", evjson_watts(drew[a->server]));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* What became of server i in the last decision. */
static const char *outcome(const struct decider *d, int i, const struct policy_action **found)
{
    *found = NULL;
    for (size_t k = 0; k < d->acts.n; k++) {
        const struct policy_action *a = &d->acts.v[k];
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
    switch (d->rack->servers[i].state) {
    case RACK_SRV_WAITING:
        return "queued";
    case RACK_SRV_OFF:
        return "released";
    default:
        return "granted";
    }
}

/*
 * Decides and journals c's one input in (why: its reason, NULL the
 * policy's), as c's operator asked it. 0 with *evs the events journaled
 * and *caused the consequences (new references); 503 with *body when the
 * journal could not be written (nothing was done).
 */
static int decide_cmd(struct decider *d, const struct hub_cmd *c, struct policy_input in,
                      const char *why, json_t **evs, json_t **caused, char **body)
{
    char err[256];
    struct decision x = decision_inputs(&in, 1, why);
    x.note = c->note;
    x.who = c->who;
    x.events = evs;
    *evs = NULL;
    int64_t *drew = drawn_now(d->rack);
    if (decide(d, &x, err, sizeof(err))) {
        free(drew);
        *body = error_body("cannot journal the decision, nothing was done: %s", err);
        return 503;
    }
    *caused = consequences(d->rack, &d->acts, drew);
    free(drew);
    if (!*evs)
        *evs = json_array();
    return 0;
}

static int server_cmd(struct decider *d, const struct hub_cmd *c, char **body)
{
    int i = rack_find_server(d->rack, c->id);
    if (i < 0) {
        *body = error_body("no server '%s'", c->id);
        return 404;
    }
    struct policy_input in = {.kind = c->kind == HUB_POWER_ON ? POLICY_POWER_ON : POLICY_POWER_OFF,
                              .index = i};
    json_t *evs, *caused;
    int status = decide_cmd(d, c, in, NULL, &evs, &caused, body);
    if (status)
        return status;
    if (c->note[0])
        log_info("%s %s asked by %s: %s", c->kind == HUB_POWER_ON ? "power-on" : "power-off", c->id,
                 c->who[0] ? c->who : "operator", c->note);
    const struct policy_action *a;
    const struct rack_server *s = &d->rack->servers[i];
    const char *result = outcome(d, i, &a);
    json_t *o = json_object();
    json_object_set_new(o, "server", json_string(s->id));
    json_object_set_new(o, "result", json_string(result));
    json_object_set_new(o, "state", json_string(rack_server_state_name(s->state)));
    json_object_set_new(o, "watts", evjson_watts(rack_server_draws(s) ? s->alloc_mw : 0));
    json_object_set_new(o, "reason", json_string(a ? a->reason : ""));
    json_object_set_new(o, "consequences", caused);
    json_object_set_new(o, "events", evs);
    *body = dump(o);
    return 200;
}

json_t *commands_consequences(const struct rack *r, const struct policy_actions *acts,
                              const struct rack *before)
{
    int64_t *drew = before ? drawn_now(before) : NULL;
    json_t *o = consequences(r, acts, drew);
    free(drew);
    return o;
}

/* Whether a lowers a server's power below what it draws now: a shed, or a
 * cap under its grant. */
static bool takes_power(const struct rack *r, const struct policy_action *a)
{
    if (a->server < 0)
        return false;
    const struct rack_server *s = &r->servers[a->server];
    return a->kind == POLICY_ACT_SHED ||
           (a->kind == POLICY_ACT_CAP && rack_server_draws(s) && a->watts_mw < s->alloc_mw);
}

/* "shed web1, ml1; cap db1" for the servers acts would take power from. */
static void taken_text(const struct rack *r, const struct policy_actions *acts, char *buf,
                       size_t len)
{
    static const enum policy_action_kind kinds[] = {POLICY_ACT_SHED, POLICY_ACT_CAP};
    size_t o = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < sizeof(kinds) / sizeof(*kinds); j++) {
        int n = 0;
        for (size_t k = 0; k < acts->n && o < len; k++) {
            const struct policy_action *a = &acts->v[k];
            if (a->kind != kinds[j] || !takes_power(r, a))
                continue;
            o += (size_t)snprintf(buf + o, len - o, "%s%s%s",
                                  n   ? ", "
                                  : o ? "; "
                                      : "",
                                  n ? "" : policy_action_name(a->kind), n ? "" : " ");
            if (o < len)
                o += (size_t)snprintf(buf + o, len - o, "%s", r->servers[a->server].id);
            n++;
        }
    }
}

/*
 * The input that taking element i out of service (out) or back stands for,
 * and why, in *in and why. Returns how many inputs the policy gets: 0 when a
 * PSU or bus comes back that its device still reports failed (the operator's
 * word is journaled, nothing is decided).
 */
static size_t health_input(const struct commands_overlay *ov, const struct hub_cmd *c, bool is_psu,
                           bool out, int i, struct policy_input *in, char *why, size_t wlen)
{
    size_t n = 1;
    bool seen_failed = is_psu ? ov->psu_seen[i].failed : ov->bus_seen_failed[i];
    *in = (struct policy_input){.index = i};
    snprintf(why, wlen, "%s by operator%s%s", out ? "out of service" : "back in service",
             c->note[0] ? ": " : "", c->note);
    if (out) {
        in->kind = is_psu ? POLICY_PSU_FAIL : POLICY_BUS_FAIL;
    } else if (seen_failed) {
        /* stays failed: journal the operator's word, decide nothing */
        n = 0;
        in->kind = is_psu ? POLICY_PSU_FAIL : POLICY_BUS_FAIL;
        snprintf(why + strlen(why), wlen - strlen(why),
                 "; still failed: its device reports it failed");
    } else if (is_psu && ov->psu_seen[i].unknown) {
        in->kind = POLICY_PSU_UNKNOWN; /* back, as its device last said */
    } else if (is_psu && ov->psu_seen[i].derated_mw) {
        in->kind = POLICY_PSU_DEGRADE;
        in->watts_mw = ov->psu_seen[i].derated_mw;
    } else {
        in->kind = is_psu ? POLICY_PSU_REPAIR : POLICY_BUS_REPAIR;
    }
    return n;
}

/*
 * Takes a PSU or bus out of service, or puts it back. The policy sees an
 * operator's "out" as a failure; "in" as a repair, unless the devices say
 * it is still failed (or degraded). A PSU taken out leaves every bus (its
 * switch opens). With dry_run nothing is done: the answer is what would be.
 * Without force, an "out" that would shed or cap anyone is refused (409)
 * with that preview; "in" only raises power and is never refused.
 */
static int health_cmd(struct decider *d, struct commands_overlay *ov, const struct hub_cmd *c,
                      char **body)
{
    bool is_psu = c->kind == HUB_PSU_OUT || c->kind == HUB_PSU_IN;
    bool out = c->kind == HUB_PSU_OUT || c->kind == HUB_BUS_OUT;
    int i = is_psu ? rack_find_psu(d->rack, c->id) : rack_find_bus(d->rack, c->id);
    const char *noun = is_psu ? "psu" : "bus";
    if (i < 0) {
        *body = error_body("no %s '%s'", noun, c->id);
        return 404;
    }
    bool *flag = is_psu ? &ov->psu_oos[i] : &ov->bus_oos[i];
    json_t *evs = NULL, *caused = NULL;
    bool changed = *flag != out;
    int status = 200;
    char err[256], taken[300] = "";
    if (changed) {
        char why[400];
        struct policy_input in;
        size_t n = health_input(ov, c, is_psu, out, i, &in, why, sizeof(why));
        json_t *pre = json_array();
        if (n == 0 && pre)
            json_array_append_new(pre, decider_input_event(d, &in, why));
        struct decision x = decision_inputs(&in, n, why);
        x.note = c->note;
        x.who = c->who;
        x.pre = pre;
        x.flag_psu = is_psu;
        x.flag_bus = !is_psu;
        x.flag_index = i;
        x.open_switch = is_psu && out;
        x.events = &evs;
        if (c->dry_run || (out && !c->force)) {
            struct policy_actions prev = {0};
            if (decider_preview(d, &x, &prev, err, sizeof(err))) {
                policy_actions_free(&prev);
                json_decref(pre);
                *body = error_body("cannot preview the decision, nothing was done: %s", err);
                return 503;
            }
            int64_t *drew = drawn_now(d->rack);
            caused = consequences(d->rack, &prev, drew);
            free(drew);
            if (out)
                taken_text(d->rack, &prev, taken, sizeof(taken));
            policy_actions_free(&prev);
            if (c->dry_run || taken[0]) {
                json_decref(pre);
                status = c->dry_run ? 200 : 409;
            }
        }
        if (status == 200 && !c->dry_run) {
            json_decref(caused);
            int64_t *drew = drawn_now(d->rack);
            *flag = out;
            if (decide(d, &x, err, sizeof(err))) {
                *flag = !out;
                free(drew);
                *body = error_body("cannot journal the decision, nothing was done: %s", err);
                return 503;
            }
            caused = consequences(d->rack, &d->acts, drew);
            free(drew);
        }
    }
    json_t *o = json_object();
    if (status == 409) {
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "%s %s out of service would %s; nothing was done: ask again with force "
                 "(rackpowerctl --force) to do it, or see what it would do with dry_run",
                 noun, c->id, taken);
        json_object_set_new(o, "error", json_string(msg));
    }
    json_object_set_new(o, noun, json_string(c->id));
    json_object_set_new(o, "out_of_service",
                        json_boolean(status == 200 && !c->dry_run ? out : *flag));
    if (c->dry_run || status == 409) {
        json_object_set_new(o, "dry_run", json_boolean(c->dry_run));
        json_object_set_new(o, "would_change", json_boolean(changed));
        json_object_set_new(o, "changed", json_false());
    } else {
        json_object_set_new(o, "changed", json_boolean(changed));
    }
    bool failed = is_psu ? !rack_psu_alive(d->rack, &d->rack->psus[i]) : d->rack->bus_failed[i];
    json_object_set_new(o, "state", json_string(failed ? "failed" : "ok"));
    json_object_set_new(o, "consequences", caused ? caused : json_array());
    json_object_set_new(o, "events", evs ? evs : json_array());
    *body = dump(o);
    return status;
}

/*
 * An operator's word that a PSU predicted to fail is not (a false alarm, or
 * one checked and kept): the policy is told psu_risk_clear, so it counts for
 * protection again and may carry load. Only a PSU at risk: anything else is
 * 409, nothing done. Raising power: the API holds it to that role.
 */
static int risk_clear_cmd(struct decider *d, const struct hub_cmd *c, char **body)
{
    int i = rack_find_psu(d->rack, c->id);
    if (i < 0) {
        *body = error_body("no psu '%s'", c->id);
        return 404;
    }
    if (!d->rack->psus[i].at_risk) {
        *body = error_body("psu %s is not predicted to fail: nothing to clear", c->id);
        return 409;
    }
    char why[400];
    snprintf(why, sizeof(why), "its prediction cleared by %s%s%s",
             c->who[0] ? c->who : "an operator", c->note[0] ? ": " : "", c->note);
    struct policy_input in = {.kind = POLICY_PSU_RISK_CLEAR, .index = i};
    json_t *evs, *caused;
    int status = decide_cmd(d, c, in, why, &evs, &caused, body);
    if (status)
        return status;
    log_info("psu %s: %s", c->id, why);
    json_t *o = json_object();
    json_object_set_new(o, "psu", json_string(c->id));
    json_object_set_new(o, "at_risk", json_false());
    json_object_set_new(o, "changed", json_true());
    json_object_set_new(o, "consequences", caused);
    json_object_set_new(o, "events", evs);
    *body = dump(o);
    return 200;
}

int commands_run(struct decider *d, struct commands_overlay *ov, const struct hub_cmd *c,
                 char **body)
{
    *body = NULL;
    switch (c->kind) {
    case HUB_POWER_ON:
    case HUB_POWER_OFF:
        return server_cmd(d, c, body);
    case HUB_PSU_RISK_CLEAR:
        return risk_clear_cmd(d, c, body);
    default:
        return health_cmd(d, ov, c, body);
    }
}

bool commands_pass_health(struct commands_overlay *ov, const struct rack *r,
                          const struct policy_input *in)
{
    int i = in->index;
    enum policy_target t = policy_input_target(in->kind);
    if (t != POLICY_TARGET_PSU && t != POLICY_TARGET_BUS)
        return true; /* not the overlay's: the policy checks it */
    if (!policy_input_subject(r, in))
        return false; /* names no element of this rack */
    if (t == POLICY_TARGET_PSU) {
        ov->psu_seen[i].failed = in->kind == POLICY_PSU_FAIL;
        ov->psu_seen[i].unknown = in->kind == POLICY_PSU_UNKNOWN;
        ov->psu_seen[i].derated_mw = in->kind == POLICY_PSU_DEGRADE ? in->watts_mw : 0;
        return !ov->psu_oos[i];
    }
    ov->bus_seen_failed[i] = in->kind == POLICY_BUS_FAIL;
    return !ov->bus_oos[i];
}
