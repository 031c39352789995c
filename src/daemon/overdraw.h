/*
 * overdraw.h - servers that draw more than they were granted, and servers
 * that lost power without a decision (docs/daemon.md, "Over-draw and lost
 * power").
 *
 * Over-draw: a server whose measured draw is above its grant by more than
 * the tolerance (OVERDRAW_PCT of the grant, at least OVERDRAW_MIN_MW) for
 * longer than the rack's over_draw_ns is due: the daemon raises over_draw,
 * journals it and caps it at its grant where it can be capped. A server
 * drawing without any grant (off, waiting, shed) is due at once. Neither
 * before OVERDRAW_SETTLE_NS after its grant changed. It stops being over
 * when its draw comes back within the tolerance.
 *
 * Lost power: a server that the policy shed for a lost_power input keeps
 * the lost_power alarm while it stays shed.
 *
 * Pure: the rack and now_ns come in; no I/O, no clock.
 */
#ifndef OVERDRAW_H
#define OVERDRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rack.h"

#define OVERDRAW_PCT 5
#define OVERDRAW_MIN_MW 10000 /* 10 W: what a BMC on standby may show */
/* After its grant changes, a server's draw is not judged for this long: the
 * device carries the decision out and a poll reads the new draw (a server
 * just shed or released still shows its last draw until then). */
#define OVERDRAW_SETTLE_NS 3000000000LL

struct overdraw {
    int n;
    int64_t *since_ns;   /* per server: over its grant since, INT64_MIN when not */
    bool *due;           /* per server: over long enough (alarmed) */
    int64_t *lost_ns;    /* per server: shed for a loss of power at, INT64_MIN when not */
    int *fresh;          /* the servers the last update found due */
    int64_t *grant_mw;   /* per server: its grant when last looked at (-1 before) */
    int64_t *changed_ns; /* per server: when that grant changed */
};

int overdraw_init(struct overdraw *o, int nservers);
void overdraw_fini(struct overdraw *o);

/* The most server s may draw before it counts as over its grant. */
int64_t overdraw_limit_mw(const struct rack_server *s);

/*
 * Brings the watch up to the rack at now_ns. Servers that became due in
 * this call are listed in o->fresh and counted in the return value;
 * *next_ns is when the next one becomes due if nothing changes, INT64_MAX
 * when none waits. A server no longer shed forgets its loss.
 */
int overdraw_update(struct overdraw *o, const struct rack *r, int64_t now_ns, int64_t *next_ns);

/* A lost_power input shed server i at now_ns (the caller checked it is shed). */
void overdraw_lost(struct overdraw *o, int i, int64_t now_ns);

/* Whether server i can be capped at its grant: it is granted and has a cap
 * range (min_w below power_w). */
bool overdraw_cappable(const struct rack_server *s);

/* The over_draw alarm's reason for a due server: draw, grant, since when
 * (seconds from start_ns), and what was done. */
void overdraw_reason(const struct overdraw *o, const struct rack *r, int i, int64_t start_ns,
                     char *buf, size_t len);
/* The lost_power alarm's reason for a server shed by a loss. */
void overdraw_lost_reason(const struct overdraw *o, const struct rack *r, int i, int64_t start_ns,
                          char *buf, size_t len);

#endif
