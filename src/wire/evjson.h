/*
 * evjson.h - decisions and inputs as JSON event fields: the one shape the
 * simulator prints (docs/simulator.md) and the daemon journals and serves
 * (docs/api.md). The caller makes the object and its time fields.
 */
#ifndef EVJSON_H
#define EVJSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"

/* Watts from milliwatts: an integer when whole. */
json_t *evjson_watts(int64_t mw);

/* Seconds from nanoseconds, an event's "t": an integer when whole. */
json_t *evjson_seconds(int64_t t_ns);

/* Adds the fields of a decision (psu/from/to/..., server/watts/priority,
 * protected/level, figures and reason) to o. */
void evjson_action(json_t *o, const struct rack *r, const struct policy_action *a);

/* Adds the fields of an input that is an event of its own (psu, bus and feed
 * failures and repairs, a degraded PSU, a report) to o. Returns -1 for the
 * requests (power_on, power_off, remove, tick): they show as their decisions. */
int evjson_input(json_t *o, const struct rack *r, const struct policy_input *in);

/* The readable parts of an event, read from its JSON whoever made it (the
 * simulator, the daemon's journal): what it names, its figure and why. */
struct evjson_text {
    const char *event; /* "grant", "psu_fail" ...; "" when missing */
    char subject[64];  /* its server, psu, bus, feed or device; a protection's level */
    char figure[64];   /* "1000 W p1", "B -> A (slow)", "NOT protected", "2000 W" ... */
    const char *why;   /* its reason, "" when none: points into the event */
};
void evjson_text(const json_t *ev, struct evjson_text *t);

/* The columns the simulator and rackpowerctl print after their time (and id),
 * without a newline: "grant       db1        1000 W p1     fits with ...". */
void evjson_columns(const struct evjson_text *t, char *buf, size_t len);

#endif
