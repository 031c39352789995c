/*
 * control.h - the control protocol of rackpower-sim serve (docs/sim-devices.md):
 * one line, one command in the timeline's words. Pure.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <stddef.h>

#include "policy.h"
#include "rack.h"

/*
 * Parses a control line: a word of the timeline and its ids, e.g.
 * "psu_fail ps3", "power_on db1 web1", "psu_degrade ps4 1500",
 * "report db1 612". Writes up to max inputs, *n how many. Returns 0, or -1
 * with err ("unknown psu 'ps9'", ...).
 */
int control_parse(const struct rack *r, const char *line, struct policy_input *in, size_t max,
                  size_t *n, char *err, size_t errlen);

#endif
