/*
 * evjson.c - decisions and inputs as JSON event fields.
 */
#include "evjson.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

json_t *evjson_watts(int64_t mw)
{
    if (mw % 1000 == 0)
        return json_integer(mw / 1000);
    return json_real((double)mw / 1000);
}

json_t *evjson_seconds(int64_t t_ns)
{
    if (t_ns % 1000000000 == 0)
        return json_integer(t_ns / 1000000000);
    return json_real((double)t_ns / 1e9);
}

void evjson_action(json_t *o, const struct rack *r, const struct policy_action *a)
{
    if (a->kind == POLICY_ACT_SWITCH) {
        const struct rack_psu *q = &r->psus[a->psu];
        json_object_set_new(o, "psu", json_string(q->id));
        json_object_set_new(o, "from",
                            a->from_bus >= 0 ? json_string(r->buses[a->from_bus]) : json_null());
        /* to no bus: its switch opened (an operator's out of service) */
        json_object_set_new(o, "to",
                            a->to_bus >= 0 ? json_string(r->buses[a->to_bus]) : json_null());
        json_object_set_new(o, "switch", json_string(rack_switch_name(q->sw)));
        json_object_set_new(o, "switch_ms", json_real((double)q->switch_ns / 1e6));
        json_object_set_new(o, "instant", json_boolean(a->instant));
    } else if (a->kind == POLICY_ACT_PROTECTION) {
        json_object_set_new(o, "protected", json_boolean(a->is_protected));
        json_object_set_new(o, "level", json_string(rack_protection_name(r->protection)));
        json_object_set_new(o, "redundancy_lost", json_boolean(a->redundancy_lost));
    } else if (a->kind == POLICY_ACT_STANDBY || a->kind == POLICY_ACT_WAKE ||
               a->kind == POLICY_ACT_SHARE) { /* balancing (docs/balancing.md) */
        json_object_set_new(o, "psu", json_string(r->psus[a->psu].id));
        json_object_set_new(o, "bus",
                            a->to_bus >= 0 ? json_string(r->buses[a->to_bus]) : json_null());
        json_object_set_new(o, "watts",
                            evjson_watts(a->kind == POLICY_ACT_STANDBY ? 0 : a->watts_mw));
        if (a->kind == POLICY_ACT_SHARE)
            json_object_set_new(o, "share", json_real((double)a->share_ppm / 1e6));
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
    case POLICY_PSU_UNKNOWN:
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
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
    case POLICY_LOST_POWER: /* an event of its own: no decision says it */
        json_object_set_new(o, "server", json_string(r->servers[in->index].id));
        return 0;
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
    case POLICY_TICK:
    case POLICY_OUTAGE_STOP: /* the shed (and the plan's stop event) say it */
    case POLICY_OUTAGE_RELEASE:
        break;
    }
    return -1;
}

static const char *str(const json_t *ev, const char *key)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s ? s : "-";
}

/* A number in whole W, rounded half away from zero as the policy's reasons
 * round, or "-" when it is not one: a line shows whole watts, the JSON keeps
 * the fraction. */
static void fmt_watts(char *buf, size_t len, const json_t *v)
{
    if (json_is_number(v))
        snprintf(buf, len, "%lld", (long long)llround(json_number_value(v)));
    else
        snprintf(buf, len, "-");
}

void evjson_text(const json_t *ev, struct evjson_text *t)
{
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *why = json_string_value(json_object_get(ev, "reason"));
    t->event = name ? name : "";
    t->why = why ? why : "";
    t->subject[0] = t->figure[0] = '\0';
    static const char *const keys[] = {"server", "psu",      "bus",    "feed",
                                       "device", "activity", "reserve"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++)
        if (json_object_get(ev, keys[k])) {
            snprintf(t->subject, sizeof(t->subject), "%s", str(ev, keys[k]));
            break;
        }
    char w[32];
    if (!strcmp(t->event, "move")) { /* docs/outage.md */
        snprintf(t->figure, sizeof(t->figure), "%s -> %s", str(ev, "from"), str(ev, "to"));
    } else if (!strcmp(t->event, "balance")) { /* docs/balancing.md: the loss before -> after */
        char w2[32];
        fmt_watts(w, sizeof(w), json_object_get(ev, "loss_before_w"));
        fmt_watts(w2, sizeof(w2), json_object_get(ev, "loss_w"));
        snprintf(t->figure, sizeof(t->figure), "%s -> %s W", w, w2);
    } else if (!strcmp(t->event, "divert")) {
        snprintf(t->figure, sizeof(t->figure), "-> %s", str(ev, "to"));
    } else if (!strcmp(t->event, "stop")) {
        snprintf(t->figure, sizeof(t->figure), "stage %lld",
                 (long long)json_integer_value(json_object_get(ev, "stage")));
    } else if (!strcmp(t->event, "reserve")) {
        snprintf(t->subject, sizeof(t->subject), "%s", str(ev, "id"));
        fmt_watts(w, sizeof(w), json_object_get(ev, "wh_left"));
        snprintf(t->figure, sizeof(t->figure), "%s Wh", w);
    } else if (!strcmp(t->event, "outage")) {
        snprintf(t->subject, sizeof(t->subject), "%s", str(ev, "cause"));
        snprintf(t->figure, sizeof(t->figure), "%s", str(ev, "state"));
    } else if (!strcmp(t->event, "switch")) {
        const char *to = json_is_null(json_object_get(ev, "to")) ? "none" : str(ev, "to");
        snprintf(t->figure, sizeof(t->figure), "%s -> %s%s", str(ev, "from"), to,
                 json_is_false(json_object_get(ev, "instant")) ? " (slow)" : "");
    } else if (!strcmp(t->event, "protection")) {
        snprintf(t->subject, sizeof(t->subject), "%s", str(ev, "level"));
        snprintf(t->figure, sizeof(t->figure), "%s",
                 json_is_true(json_object_get(ev, "protected")) ? "protected" : "NOT protected");
    } else if (json_object_get(ev, "watts") && json_object_get(ev, "priority")) {
        fmt_watts(w, sizeof(w), json_object_get(ev, "watts"));
        snprintf(t->figure, sizeof(t->figure), "%s W p%lld", w,
                 (long long)json_integer_value(json_object_get(ev, "priority")));
    } else if (json_object_get(ev, "watts")) { /* a report: what the server draws */
        fmt_watts(w, sizeof(w), json_object_get(ev, "watts"));
        snprintf(t->figure, sizeof(t->figure), "%s W", w);
    } else if (json_object_get(ev, "capacity_w") && !json_object_get(ev, "allocated_w")) {
        fmt_watts(w, sizeof(w), json_object_get(ev, "capacity_w"));
        snprintf(t->figure, sizeof(t->figure), "%s W", w);
    } else if (json_object_get(ev, "state")) {
        snprintf(t->figure, sizeof(t->figure), "%s", str(ev, "state"));
    }
}

void evjson_columns(const struct evjson_text *t, char *buf, size_t len)
{
    snprintf(buf, len, "%-11s %-10s %-13s %s", t->event, t->subject, t->figure, t->why);
}
