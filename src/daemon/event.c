/*
 * event.c - decisions and inputs as JSON events and log lines.
 */
#include "event.h"

#include <stdio.h>

json_t *event_watts(int64_t mw)
{
    if (mw % 1000 == 0)
        return json_integer(mw / 1000);
    return json_real((double)mw / 1000);
}

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
    if (a->kind == POLICY_ACT_SWITCH) {
        const struct rack_psu *q = &r->psus[a->psu];
        json_object_set_new(o, "psu", json_string(q->id));
        json_object_set_new(o, "from",
                            a->from_bus >= 0 ? json_string(r->buses[a->from_bus]) : json_null());
        json_object_set_new(o, "to", json_string(r->buses[a->to_bus]));
        json_object_set_new(o, "switch", json_string(rack_switch_name(q->sw)));
        json_object_set_new(o, "switch_ms", json_real((double)q->switch_ns / 1e6));
        json_object_set_new(o, "instant", json_boolean(a->instant));
    } else if (a->kind == POLICY_ACT_PROTECTION) {
        json_object_set_new(o, "protected", json_boolean(a->is_protected));
        json_object_set_new(o, "level", json_string(rack_protection_name(r->protection)));
        json_object_set_new(o, "redundancy_lost", json_boolean(a->redundancy_lost));
    } else if (a->server >= 0) {
        const struct rack_server *s = &r->servers[a->server];
        json_object_set_new(o, "server", json_string(s->id));
        if (a->kind != POLICY_ACT_IGNORED) {
            json_object_set_new(o, "watts", event_watts(a->watts_mw));
            json_object_set_new(o, "priority", json_integer(s->priority));
        }
    }
    if (a->kind != POLICY_ACT_IGNORED) {
        json_object_set_new(o, "capacity_w", event_watts(a->capacity_mw));
        json_object_set_new(o, "allocated_w", event_watts(a->allocated_mw));
    }
    json_object_set_new(o, "reason", json_string(a->reason));
    return o;
}

json_t *event_input(const struct rack *r, const struct policy_input *in, int64_t t_ns, double time,
                    const char *reason)
{
    const char *key, *id;
    switch (in->kind) {
    case POLICY_PSU_FAIL:
    case POLICY_PSU_DEGRADE:
    case POLICY_PSU_REPAIR:
        key = "psu";
        id = r->psus[in->index].id;
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        key = "bus";
        id = r->buses[in->index];
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        key = "feed";
        id = r->feeds[in->index];
        break;
    default:
        return NULL;
    }
    json_t *o = event_new(t_ns, time, policy_input_name(in->kind));
    json_object_set_new(o, key, json_string(id));
    if (in->kind == POLICY_PSU_DEGRADE)
        json_object_set_new(o, "capacity_w", event_watts(in->watts_mw));
    if (in->kind == POLICY_FEED_FAIL || in->kind == POLICY_FEED_REPAIR) {
        json_t *ps = json_array();
        for (int i = 0; i < r->npsus; i++)
            if (r->psus[i].feed == in->index)
                json_array_append_new(ps, json_string(r->psus[i].id));
        json_object_set_new(o, "psus", ps);
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
