/*
 * evjson_outage.c - outage steps and reserves as JSON event fields.
 */
#include "evjson_outage.h"

#include <math.h>

/* Figures rounded to what they mean (a watt-hour to 0.001, a second to 0.1)
 * so that the simulator's lines stay the same from run to run. */
static json_t *figure(double v, double unit)
{
    if (!isfinite(v))
        return json_null();
    double x = round(v / unit) * unit;
    if (x == trunc(x) && fabs(x) < 9e15)
        return json_integer((json_int_t)x);
    return json_real(x);
}

static json_t *id_or_null(const char *id)
{
    return id ? json_string(id) : json_null();
}

void evjson_outage_step(json_t *o, const struct rack *r, const struct outage_step *s)
{
    const char *act =
        s->activity >= 0 && s->activity < r->nactivities ? r->activities[s->activity].id : NULL;
    const char *srv = s->server >= 0 && s->server < r->nservers ? r->servers[s->server].id : NULL;
    const char *to = s->to_bus >= 0 && s->to_bus < r->nbuses           ? r->buses[s->to_bus]
                     : s->to_server >= 0 && s->to_server < r->nservers ? r->servers[s->to_server].id
                                                                       : NULL;
    switch (s->kind) {
    case OUTAGE_STEP_DIVERT:
        json_object_set_new(o, "reserve",
                            id_or_null(s->reserve >= 0 && s->reserve < r->nreserves
                                           ? r->reserves[s->reserve].id
                                           : NULL));
        json_object_set_new(o, "to", id_or_null(to));
        break;
    case OUTAGE_STEP_MOVE:
        json_object_set_new(o, "activity", id_or_null(act));
        json_object_set_new(o, "from", id_or_null(srv));
        json_object_set_new(o, "to", id_or_null(to));
        break;
    case OUTAGE_STEP_STOP:
        json_object_set_new(o, "server", id_or_null(srv));
        json_object_set_new(o, "activity", id_or_null(act));
        json_object_set_new(o, "stage", json_integer(s->stage));
        json_object_set_new(o, "now", json_boolean(s->now));
        json_object_set_new(o, "at_s", figure(s->at_s, 0.1));
        json_object_set_new(o, "wh_left", figure(s->at_wh, 0.001));
        json_object_set_new(o, "gain_s", figure(s->gain_s, 0.1));
        break;
    }
    json_object_set_new(o, "watts", figure(s->watts, 0.001));
    json_object_set_new(o, "reason", json_string(s->reason));
}

void evjson_outage_runtimes(json_t *o, const struct rack *r, const struct outage_plan *p)
{
    json_t *rt = json_object();
    for (int a = 0; a < r->nactivities && a < p->nruntime; a++)
        json_object_set_new(rt, r->activities[a].id, figure(p->runtime_s[a], 0.1));
    json_object_set_new(o, "runtime_s", rt);
}

void evjson_reserve(json_t *o, const struct rack *r, int i, double runtime_s)
{
    const struct rack_reserve *res = &r->reserves[i];
    json_object_set_new(o, "id", json_string(res->id));
    json_object_set_new(o, "wh_left", figure(res->wh_left, 0.001));
    json_object_set_new(o, "watts", figure(res->watts, 0.001));
    json_object_set_new(o, "runtime_s", figure(runtime_s, 0.1));
    json_object_set_new(o, "known", json_boolean(res->known));
}
