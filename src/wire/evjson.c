/*
 * evjson.c - decisions and inputs as JSON event fields.
 */
#include "evjson.h"

json_t *evjson_watts(int64_t mw)
{
    if (mw % 1000 == 0)
        return json_integer(mw / 1000);
    return json_real((double)mw / 1000);
}

void evjson_action(json_t *o, const struct rack *r, const struct policy_action *a)
{
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
            json_object_set_new(o, "watts", evjson_watts(a->watts_mw));
            json_object_set_new(o, "priority", json_integer(s->priority));
        }
    }
    if (a->kind != POLICY_ACT_IGNORED) {
        json_object_set_new(o, "capacity_w", evjson_watts(a->capacity_mw));
        json_object_set_new(o, "allocated_w", evjson_watts(a->allocated_mw));
    }
    json_object_set_new(o, "reason", json_string(a->reason));
}

int evjson_input(json_t *o, const struct rack *r, const struct policy_input *in)
{
    switch (in->kind) {
    case POLICY_PSU_FAIL:
    case POLICY_PSU_DEGRADE:
    case POLICY_PSU_REPAIR:
        json_object_set_new(o, "psu", json_string(r->psus[in->index].id));
        if (in->kind == POLICY_PSU_DEGRADE)
            json_object_set_new(o, "capacity_w", evjson_watts(in->watts_mw));
        return 0;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        json_object_set_new(o, "bus", json_string(r->buses[in->index]));
        return 0;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR: {
        json_object_set_new(o, "feed", json_string(r->feeds[in->index]));
        json_t *ps = json_array();
        for (int i = 0; i < r->npsus; i++)
            if (r->psus[i].feed == in->index)
                json_array_append_new(ps, json_string(r->psus[i].id));
        json_object_set_new(o, "psus", ps);
        return 0;
    }
    case POLICY_REPORT:
        json_object_set_new(o, "server", json_string(r->servers[in->index].id));
        json_object_set_new(o, "watts", evjson_watts(in->watts_mw));
        return 0;
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
    case POLICY_TICK:
        break;
    }
    return -1;
}
