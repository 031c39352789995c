/*
 * alarms.h - conditions that last until they clear: a device down, a PSU
 * whose health cannot be read, redundancy lost, a database replaced (and, in
 * what comes next, a peer lost, a PSU at risk).
 *
 * Pure: the caller says which conditions hold now (each a kind, a subject
 * and a reason) and what time it is; alarms_update compares them with the
 * active alarms and returns what raised and what cleared. An alarm is
 * identified by its kind and subject: while the condition holds it stays
 * active with the since of its raise (its reason follows the latest word);
 * when it no longer holds it clears. The daemon journals one alarm_raise
 * and one alarm_clear event for each and shows the active ones in
 * /v1/status (docs/api.md). No I/O, no clock, no log.
 */
#ifndef ALARMS_H
#define ALARMS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The kinds, with their names in events and the API. Adding a kind is one
 * line here (and the code that reports its condition). Subjects:
 *   device_down      a device (as /v1/status names it): its worker reports it down
 *   psu_unknown      a psu id: its health cannot be read
 *   redundancy_lost  the rack's name: not protected for its configured protection
 *   database_replaced  the database's path: its file or WAL was unlinked or replaced
 *   over_draw        a server id: it draws more than its grant (overdraw.h)
 *   lost_power       a server id: it lost power without a decision and is kept off
 *   peer_lost        "node N": the primary hears nothing of the PSUs controller N reads
 *                    (dead or cut off); they are unknown (relay.h)
 *   reserve_lost     a reserve id: a device should read it and has not lately; it is
 *                    taken as draining at its last known rate (outage_run.h)
 *   on_reserves      the rack's name: an outage is on (docs/outage.md)
 *   psu_at_risk      a psu id: predicted to fail (predict.h); the reason names the
 *                    risk, the time to failure (lead time) and why
 */
#define ALARM_KIND_LIST(X)                                                                         \
    X(ALARM_DEVICE_DOWN, "device_down")                                                            \
    X(ALARM_PSU_UNKNOWN, "psu_unknown")                                                            \
    X(ALARM_REDUNDANCY_LOST, "redundancy_lost")                                                    \
    X(ALARM_DATABASE_REPLACED, "database_replaced")                                                \
    X(ALARM_JOURNAL_BEHIND, "journal_behind")                                                      \
    X(ALARM_OVER_DRAW, "over_draw")                                                                \
    X(ALARM_LOST_POWER, "lost_power")                                                              \
    X(ALARM_PEER_LOST, "peer_lost")                                                                \
    X(ALARM_RESERVE_LOST, "reserve_lost")                                                          \
    X(ALARM_ON_RESERVES, "on_reserves")                                                            \
    X(ALARM_PSU_AT_RISK, "psu_at_risk")

#define ALARM_ENUM(kind, name) kind,
enum alarm_kind { ALARM_KIND_LIST(ALARM_ENUM) ALARM_NKINDS };
#undef ALARM_ENUM

#define ALARM_SUBJECT_LEN 300 /* a device's description ("modbus-tcp 10.0.0.5:502") */
#define ALARM_REASON_LEN 512

struct alarm {
    enum alarm_kind kind;
    char subject[ALARM_SUBJECT_LEN];
    int64_t since_ns; /* when it raised (the caller's clock) */
    char reason[ALARM_REASON_LEN];
};

/* A growable list of alarms (zero-initialised is empty). */
struct alarm_set {
    struct alarm *v;
    size_t n, cap;
};

/* Appends a condition (since 0): 0, or -1 when out of memory. Texts longer
 * than the fields are cut. */
int alarm_set_add(struct alarm_set *s, enum alarm_kind kind, const char *subject,
                  const char *reason);
/* Empties s, keeping its memory. */
void alarm_set_clear(struct alarm_set *s);
void alarm_set_free(struct alarm_set *s);
/* The alarm of that kind and subject in s, or NULL. */
const struct alarm *alarm_set_find(const struct alarm_set *s, enum alarm_kind kind,
                                   const char *subject);

/*
 * Brings active up to the conditions that hold at now_ns: a condition not
 * active raises (since now_ns), an active alarm whose condition is gone
 * clears, one that still holds keeps its since and takes the condition's
 * reason. raised and cleared are emptied, then filled (a cleared alarm as
 * it was, with its since and reason). Active keeps the order of raising.
 * Returns 0, or -1 when out of memory: then active is as before and
 * raised, cleared are empty (the next update tries again).
 */
int alarms_update(struct alarm_set *active, const struct alarm_set *now, int64_t now_ns,
                  struct alarm_set *raised, struct alarm_set *cleared);

/* "device_down", ...; "?" for a value out of range. */
const char *alarm_kind_name(enum alarm_kind k);

#endif
