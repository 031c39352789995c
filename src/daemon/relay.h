/*
 * relay.h - what a controller tells the primary of its own power supplies,
 * and what the primary makes of it (issue 9, section 5; docs/controllers.md,
 * "What an operator sees").
 *
 * Each controller polls its own power supply assembly. A secondary forwards
 * what it believes of its own PSUs to the primary after every poll of them
 * (rack bus FORWARD: kind "alert" when the poll changed a PSU's health or a
 * feed's, so at once and never at the next heartbeat; kind "readings"
 * otherwise). A forward carries the whole belief, not the edge: each own
 * PSU's health as its driver last told it (the input psu_repair,
 * psu_degrade with the derated watts, psu_fail or psu_unknown, with its
 * note) and its telemetry; a feed's failure or repair goes as an edge. So a
 * lost datagram is made good by the next poll, and a new primary hears the
 * whole truth from every live controller within one poll.
 *
 * The primary takes a forward as if its own device had read it: an input
 * for each PSU whose forwarded health is not its rack's. A PSU that it does
 * not read itself and that no controller has told of for grace_ns (a
 * controller's grace: heartbeats missed plus a few of its polls), or whose
 * controller the rack bus declared dead, is *unknown*, not failed: a
 * psu_unknown input (it keeps serving and does not count for protection,
 * docs/policy.md), with the reason, and the node is alarmed as peer_lost
 * until it is heard again.
 *
 * Every controller also sends its forwards to every other controller, not
 * only the primary, with the time each reading was taken: one that does not
 * command keeps the readings in its history and does nothing else with them
 * (relay_keep_reading), so that every controller keeps the whole rack's
 * history and a fail-over loses none of it.
 *
 * A forward also carries the latest reading of each battery reserve (BBU,
 * UPS) its own devices read, under "reserves", for the others' history
 * only (relay_keep_reserve): no role decides anything on a forwarded
 * reserve reading; the primary's outage logic reads its own devices'.
 *
 * Pure but for jansson: no I/O, no clock, no log; the caller passes now.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alarms.h"
#include "driver.h"
#include "hub.h"
#include "policy.h"
#include "rack.h"

#define RELAY_NOTE_LEN DRIVER_INPUT_NOTE_LEN
#define RELAY_MAX_PSUS 64     /* per forward: a controller's own assembly is a few */
#define RELAY_MAX_RESERVES 32 /* per forward: a rack has a handful */

/* What a controller last told of one PSU (or a feed's edge). */
struct relay_told {
    int index;                   /* psu (or feed) index in the rack */
    enum policy_input_kind kind; /* psu_repair, psu_degrade, psu_fail, psu_unknown;
                                  * feed_fail, feed_repair for a feed's edge */
    int64_t watts_mw;            /* the derated capacity with psu_degrade, else 0 */
    char note[RELAY_NOTE_LEN];
};

/* A forward, decoded (the primary's side). */
struct relay_forward {
    char device[160];                       /* the sender's device that read them, for reasons */
    struct relay_told psus[RELAY_MAX_PSUS]; /* each PSU's health as told */
    struct driver_psu_reading tel[RELAY_MAX_PSUS]; /* parallel: telemetry (-1: none) */
    int64_t t_ms[RELAY_MAX_PSUS]; /* parallel: when the sender read it, Unix ms; -1 when the
                                   * sender is of a version that does not say */
    size_t npsus;
    struct relay_told feeds[RACK_MAX_FEEDS]; /* feed edges */
    size_t nfeeds;
    /* the sender's reserves, each's latest reading (read ones only: an
     * unread reserve is left out) at res_t_ms (Unix ms); for the history */
    struct driver_reserve_reading reserves[RELAY_MAX_RESERVES];
    int64_t res_t_ms[RELAY_MAX_RESERVES];
    size_t nreserves;
    /* "" when the reserves were taken (or none sent); else why they were
     * all refused (nreserves 0): the PSUs and feeds are still taken, since
     * the reserves are history and the PSUs' health is not */
    char reserves_refused[200];
};

struct relay;

/* A relay for rack r. own[i]: PSU i is read by this controller's own
 * devices (it never goes unknown for want of a forward). own_res[i]:
 * reserve i is read by its own devices (forwarded; another's forward of it
 * is not kept); NULL none. grace_ns: how long another controller's PSU may
 * go untold before it is unknown. NULL when out of memory. */
struct relay *relay_new(const struct rack *r, const bool *own, const bool *own_res,
                        int64_t grace_ns);
void relay_free(struct relay *rl);

/* ---- a secondary's side (any role keeps its beliefs: a secondary may be
 * promoted) ---- */

/* Takes one of its own devices' reports: the health told of its own PSUs
 * (their inputs), their telemetry and its own reserves' readings read at
 * t_ms (Unix ms, the time its own history keeps them by), and feed edges
 * (kept for the next encode). A reserve's reading is forwarded until the
 * next one replaces it; an unread one withdraws it. Returns true when a
 * health or a feed changed: forward as an alert at once. */
bool relay_take_report(struct relay *rl, const struct driver_report *rep, int64_t t_ms);

/* The forward of everything believed of the own PSUs, the feed edges taken
 * since the last encode (which it forgets) and the own reserves' latest
 * readings, as JSON text (malloc'd, *json) naming the rack's ids. device:
 * which of its devices read them. The reserves go while the text stays
 * within max_len bytes (one rack-bus datagram's payload) and up to
 * RELAY_MAX_RESERVES; those left out (*left_out, may be NULL) go first in
 * the next forward. The PSUs and feeds are never left out. 0, or -1 when
 * out of memory (the edges are kept). */
int relay_encode(struct relay *rl, const struct rack *r, const char *device, size_t max_len,
                 char **json, size_t *left_out);

/* Forget the feed edges without sending them (no primary to tell). */
void relay_drop_edges(struct relay *rl);

/* ---- the primary's side ---- */

/* Reads a forward's JSON against rack r: every id must be the rack's, every
 * kind one a forward may carry, every figure in range. 0, or -1 with err.
 * Keys it does not know are ignored (a newer sender's); a forward without
 * "reserves" (an older sender) has none. Bad reserves refuse the reserves
 * alone (f->reserves_refused says why), not the forward. */
int relay_decode(const char *json, size_t len, const struct rack *r, struct relay_forward *f,
                 char *err, size_t errlen);

/* ---- every controller's side: the history ---- */

/* Whether reading k of f is one this controller's history has yet to
 * keep: read (not unread), of a PSU it does not read itself (its own reads
 * are kept as they come), and not the one last kept of that PSU (a forward
 * repeats a PSU's last reading until it is read again: on the heartbeat,
 * and when another of the sender's devices reports). A repeat is known by
 * the sender's t_ms; a forward without one (an older sender) is always
 * new. Remembers it as kept. Any role: a secondary keeps the history too
 * (docs/history.md, "Several controllers"). */
bool relay_keep_reading(struct relay *rl, const struct relay_forward *f, size_t k);

/* The same for reserve reading k of f: not of a reserve this controller
 * reads itself, and not the one last kept of that reserve (by its t_ms).
 * Remembers it as kept. */
bool relay_keep_reserve(struct relay *rl, const struct relay_forward *f, size_t k);

/* Inputs for the policy, each with its own reason (as a device's inputs
 * carry theirs). Owned by the relay: valid until its next call. */
#define RELAY_WHY_LEN (RELAY_NOTE_LEN + 200)
struct relay_inputs {
    struct policy_input *in;
    char (*why)[RELAY_WHY_LEN];
    size_t n;
};

/* Node `from` told f at now: each PSU is heard (its owner is from, its
 * grace restarts); an input for each PSU whose told health differs from
 * r's (a PSU this controller reads itself is skipped: its own reads count),
 * and each feed edge that changes r. */
const struct relay_inputs *relay_heard(struct relay *rl, uint8_t from,
                                       const struct relay_forward *f, const struct rack *r,
                                       int64_t now);

/* Any role: another controller told of f's PSUs (a forward it sent,
 * decoded). relay_others_read: some PSU this controller does not read has
 * been told of by another since the start, so that another controller
 * reads it (what a new primary's hold waits on, engine.c). */
void relay_note_told(struct relay *rl, const struct relay_forward *f);
bool relay_others_read(const struct relay *rl);
/* While primary: every PSU another controller has told of (relay_note_told)
 * has been heard at or after since (relay_heard), or is unknown for want of
 * a word; a new primary's hold ends then, before the grace when it can. */
bool relay_told_since(const struct relay *rl, int64_t since);

/* This controller became the active primary at now: every PSU it does not
 * read itself must be told of within grace from now (or has been, since). */
void relay_primary(struct relay *rl, int64_t now);

/* The rack bus declared node dead: the PSUs it told of are unknown at once. */
const struct relay_inputs *relay_peer_dead(struct relay *rl, uint8_t node, const struct rack *r);

/* The PSUs whose grace ended by now: unknown, with the reason (each once,
 * until heard again). Only while primary (after relay_primary). */
const struct relay_inputs *relay_due(struct relay *rl, const struct rack *r, int64_t now);

/* When relay_due has something to say next (INT64_MAX: nothing). */
int64_t relay_next_due(const struct relay *rl);

/* No longer primary: no deadlines (a secondary declares nothing unknown). */
void relay_not_primary(struct relay *rl);

/* Adds the conditions of the alarms: peer_lost for each node that dead
 * says is dead (the rack bus's word, by address; NULL none), and each whose
 * PSUs are unknown for want of a word from it (subject "node 2", reason
 * "nothing heard from it (dead or cut off): the PSUs it reads, ps4, ps5,
 * ps6, are unknown"); the alarm's since says since when. 0, or -1 when out
 * of memory. */
int relay_alarms(const struct relay *rl, const struct rack *r, const bool dead[256],
                 struct alarm_set *set);

/* Why PSU i is unknown when it is for want of a word, else NULL (the
 * reason of its psu_unknown alarm). */
const char *relay_unknown_reason(const struct relay *rl, int i);

/* ---- commands given to a secondary (its API), carried out by the primary ---- */

/* Whether a command of this kind goes to the primary (power on/off, out of
 * and back in service); reload and shutdown are the controller's own. */
bool relay_cmd_forwarded(enum hub_cmd_kind kind);

/* A command as a FORWARD's payload: what, on what, why, and who asked with
 * the role the secondary's API gave them. JSON text (malloc'd, *json).
 * 0, or -1 when out of memory. */
int relay_cmd_encode(const struct hub_cmd *c, char **json);

/* The command node `from` forwarded, into c (a fresh hub_cmd): its who
 * becomes "WHO (ROLE) via node FROM" for the journal. A command needs the
 * role operator or admin. 0, or -1 with err. */
int relay_cmd_decode(const char *json, size_t len, uint8_t from, struct hub_cmd *c, char *err,
                     size_t errlen);

#endif
