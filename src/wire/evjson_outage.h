/*
 * evjson_outage.h - an outage plan's steps and the reserves as JSON event
 * fields (docs/outage.md, docs/simulator.md): the one shape the simulator
 * prints and the daemon journals and serves. The caller makes the object,
 * its "event" and time fields.
 */
#ifndef EVJSON_OUTAGE_H
#define EVJSON_OUTAGE_H

#include <jansson.h>

#include "outage.h"
#include "rack.h"

/*
 * Adds a step's fields to o: a divert {reserve, to, watts, reason}, a move
 * {activity, from, to, watts, reason}, a stop {server, activity (or null),
 * stage, watts, now, at_s, wh_left, gain_s, reason}. Figures that are
 * infinite (a gain while mains lasts) are null. The event's name is
 * outage_step_name(s->kind).
 */
void evjson_outage_step(json_t *o, const struct rack *r, const struct outage_step *s);

/* Adds "runtime_s" {activity id: seconds} from a plan (null where mains
 * carries it): the stop event's runtime per set. */
void evjson_outage_runtimes(json_t *o, const struct rack *r, const struct outage_plan *p);

/* Adds reserve i's fields to o: {id, wh_left, watts, runtime_s (null while it
 * delivers nothing), known}; runtime_s is the caller's (outage_runtime_s). */
void evjson_reserve(json_t *o, const struct rack *r, int i, double runtime_s);

#endif
