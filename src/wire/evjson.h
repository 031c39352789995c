/*
 * evjson.h - decisions and inputs as JSON event fields: the one shape the
 * simulator prints (docs/simulator.md) and the daemon journals and serves
 * (docs/api.md). The caller makes the object and its time fields.
 */
#ifndef EVJSON_H
#define EVJSON_H

#include <jansson.h>

#include "policy.h"
#include "rack.h"

/* Watts from milliwatts: an integer when whole. */
json_t *evjson_watts(int64_t mw);

/* Adds the fields of a decision (psu/from/to/..., server/watts/priority,
 * protected/level, figures and reason) to o. */
void evjson_action(json_t *o, const struct rack *r, const struct policy_action *a);

/* Adds the fields of an input that is an event of its own (psu, bus and feed
 * failures and repairs, a degraded PSU, a report) to o. Returns -1 for the
 * requests (power_on, power_off, remove, tick): they show as their decisions. */
int evjson_input(json_t *o, const struct rack *r, const struct policy_input *in);

#endif
