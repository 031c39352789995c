/*
 * event.c - decisions and inputs as JSON events and log lines.
 */
#include "event.h"

#include <stdio.h>

/* Seconds, to the millisecond: an integer when whole. */
static json_t *seconds(int64_t ns)
{
    int64_t ms = ns / 1000000;
    if (ms % 1000 == 0)
        return json_integer(ms / 1000);
    return json_real((double)ms / 1000);
}

json_t *event_new(int64_t t_ns, double time, const char *name)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(0));
    json_object_set_new(o, "t", seconds(t_ns));
    json_object_set_new(o, "time", json_real(time));
    json_object_set_new(o, "event", json_string(name));
    return o;
}

json_t *event_action(const struct rack *r, const struct policy_action *a, int64_t t_ns, double time)
{
    json_t *o = event_new(t_ns, time, policy_action_name(a->kind));
    evjson_action(o, r, a);
    return o;
}

json_t *event_input(const struct rack *r, const struct policy_input *in, int64_t t_ns, double time,
                    const char *reason)
{
    if (in->kind == POLICY_REPORT) /* a draw is telemetry, not an event */
        return NULL;
    json_t *o = event_new(t_ns, time, policy_input_name(in->kind));
    if (evjson_input(o, r, in)) {
        json_decref(o);
        return NULL;
    }
    if (reason)
        json_object_set_new(o, "reason", json_string(reason));
    return o;
}

void event_action_text(const struct rack *r, const struct policy_action *a, char *buf, size_t len)
{
    const char *name = policy_action_name(a->kind);
    if (a->kind == POLICY_ACT_SWITCH)
        snprintf(buf, len, "%s %s %s -> %s%s: %s", name, r->psus[a->psu].id,
                 a->from_bus >= 0 ? r->buses[a->from_bus] : "-", r->buses[a->to_bus],
                 a->instant ? "" : " (slow)", a->reason);
    else if (a->kind == POLICY_ACT_PROTECTION)
        snprintf(buf, len, "%s %s %s%s: %s", name, rack_protection_name(r->protection),
                 a->is_protected ? "protected" : "NOT protected",
                 a->redundancy_lost ? ", redundancy lost" : "", a->reason);
    else if (a->server >= 0 && a->kind != POLICY_ACT_IGNORED)
        snprintf(buf, len, "%s %s %.15g W p%d: %s", name, r->servers[a->server].id,
                 (double)a->watts_mw / 1000, r->servers[a->server].priority, a->reason);
    else
        snprintf(buf, len, "%s: %s", name, a->reason);
}
