/*
 * event.c - decisions and inputs as JSON events and log lines.
 */
#include "event.h"

#include <stdio.h>

json_t *event_new(int64_t t_ns, double time, const char *name)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(0));
    /* the daemon's events keep their time to the millisecond */
    json_object_set_new(o, "t", evjson_seconds(t_ns - t_ns % 1000000));
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

void event_text(const json_t *ev, char *buf, size_t len)
{
    struct evjson_text x;
    evjson_text(ev, &x);
    snprintf(buf, len, "%s%s%s%s%s: %s", x.event, x.subject[0] ? " " : "", x.subject,
             x.figure[0] ? " " : "", x.figure, x.why);
}

void event_action_text(const struct rack *r, const struct policy_action *a, char *buf, size_t len)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(policy_action_name(a->kind)));
    evjson_action(o, r, a);
    event_text(o, buf, len);
    json_decref(o);
}
