/*
 * event.h - the daemon's events as JSON, in the simulator's shapes
 * (docs/simulator.md): {"id", "t", "time", "event", ...fields, "reason"}.
 * t is seconds since the daemon started, time the Unix time; the journal
 * numbers the id (store_append).
 */
#ifndef EVENT_H
#define EVENT_H

#include <jansson.h>

#include "evjson.h"
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"

/* {"id": 0, "t", "time", "event"}: the rest is the caller's. */
json_t *event_new(int64_t t_ns, double time, const char *name);
/* A decision of the policy. */
json_t *event_action(const struct rack *r, const struct policy_action *a, int64_t t_ns,
                     double time);
/* A fact the policy was told (psu_fail, bus_repair ...), with why; NULL for
 * requests and reports, which show as the decisions they cause. */
json_t *event_input(const struct rack *r, const struct policy_input *in, int64_t t_ns, double time,
                    const char *reason);

/* One readable line for the log, from the event's readable parts (evjson_text):
 * "grant db1 1000 W p1: fits with ...", "psu_fail ps1: reported by ...". */
void event_text(const json_t *ev, char *buf, size_t len);
/* The same for a decision of the policy. */
void event_action_text(const struct rack *r, const struct policy_action *a, char *buf, size_t len);

#endif
