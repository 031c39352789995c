/*
 * decide.h - deciding and journaling: the order every change of the rack
 * follows (DESIGN.md: "a grant is journaled before it is announced").
 *
 *   1. the policy decides on the live rack, a copy kept as the undo;
 *   2. the events and the ledger rows the decision changed are written in
 *      one SQLite transaction; if that fails the rack is put back, the
 *      policy starts afresh and nothing happened (an API caller gets 503, a
 *      device reports again);
 *   3. only then: log lines, and the caller's hooks (event streams woken,
 *      actions to the devices, the snapshot, the policy's timer).
 * So no device is told of a grant the ledger does not hold.
 *
 * Called on the loop thread only. Nothing here exits: out of memory is an
 * error returned like a journal that cannot be written.
 */
#ifndef DECIDE_H
#define DECIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"
#include "store.h"

/* What the decider tells its owner after a decision was journaled. Each may
 * be NULL. */
struct decider_hooks {
    /* the journal's newest id grew to last_id (event streams wait on it) */
    void (*journaled)(void *arg, int64_t last_id);
    /* the decision is journaled: execute acts (devices, snapshot, timer) */
    void (*execute)(void *arg, const struct policy_actions *acts);
    void *arg;
};

struct decider {
    struct rack *rack;             /* the live rack (not owned) */
    struct policy *pol;            /* the policy's scratch for this rack's shape */
    struct policy *spare;          /* a fresh one, so that an undo cannot fail */
    struct policy_actions acts;    /* the actions of the last decision */
    struct store *store;           /* the journal and ledger (not owned) */
    const bool *psu_oos, *bus_oos; /* the operator's flags, written in rows (not owned) */
    int64_t start_ns;              /* an event's t counts from here (mono_ns) */
    int64_t last_id;               /* the journal's newest id */
    struct decider_hooks hooks;
    /* Why the journal cannot be trusted with a decision that raises power,
     * "" while it can (decider_distrust). */
    char distrust[256];
};

/* Sets d up for rack r, journaling to s. 0, or -1 with err (out of memory). */
int decider_init(struct decider *d, struct rack *r, struct store *s, const bool *psu_oos,
                 const bool *bus_oos, int64_t start_ns, char *err, size_t len);
void decider_fini(struct decider *d);

/* What to decide: inputs, or with settle the rack as it stands. */
struct decision {
    const struct policy_input *in;
    size_t n;
    bool settle;
    const char *why;         /* the reason shown on input events */
    const char *note;        /* the operator's words, added to every event; NULL: none */
    json_t *pre;             /* events to journal first (an operator's action, a reload); taken */
    bool flag_psu, flag_bus; /* write the row of flag_index too (an out-of-service flag) */
    int flag_index;
    json_t **events; /* when not NULL: every journaled event (a new reference) */
};

/* A decision on n inputs that the devices or the clock reported. */
struct decision decision_inputs(const struct policy_input *in, size_t n, const char *why);
/* A settle of the rack as it stands, after the events in pre (taken; may be
 * NULL): a start, a reload. */
struct decision decision_settle(json_t *pre);

/*
 * Decides, journals and then executes. Returns 0, or -1 with err when
 * nothing was decided (the inputs name nothing), the journal could not be
 * written or memory ran out: the rack and the ledger are as before.
 */
int decide(struct decider *d, const struct decision *x, char *err, size_t len);

/*
 * The gate for decisions that raise power (DESIGN.md: "when the controller
 * cannot know, lowering power is allowed, raising it needs proof"). While
 * the journal is trusted every decision is taken as the policy made it.
 * Once it is not (its database file was unlinked or replaced under the
 * daemon), decide() still takes every decision that lowers power or keeps
 * the rack within its capacity (re-route, cap, shed, release, refusals),
 * but holds each one that would raise a server's power: a server granted
 * in the decision stays waiting (its grant becomes a wait whose reason is
 * why), a restore or a raised cap is not made. Held decisions are not
 * retried until the next decision.
 */
bool decider_journal_trusted(const struct decider *d);
/* Distrusts the journal from now on; why says so in held decisions' place
 * ("the database file was replaced"). It lasts until the daemon restarts. */
void decider_distrust(struct decider *d, const char *why);

/* Journals one event that decides nothing (a device up or down, a refused
 * reload, the stop); takes ev. Returns its id, or -1 with err. */
int64_t decider_journal(struct decider *d, json_t *ev, char *err, size_t len);

/* A new event named name, at now: {"id": 0, "t", "time", "event"}. */
json_t *decider_event(const struct decider *d, const char *name);
/* The event of an input the policy was told, at now, with why (NULL for
 * requests and reports: they show as their decisions). */
json_t *decider_input_event(const struct decider *d, const struct policy_input *in,
                            const char *why);

/*
 * Puts back a rack saved before a change the journal refused (a reload):
 * *saved is moved into the live rack, and the policy starts afresh. 0, or
 * -1 with err when memory ran out for the next fresh policy (the rack is
 * put back all the same; the next decision tries again).
 */
int decider_restore(struct decider *d, struct rack *saved, char *err, size_t len);

#endif
