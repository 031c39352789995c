/*
 * decide.h - deciding and journaling: the order every change of the rack
 * follows (DESIGN.md: "safety before bookkeeping").
 *
 *   1. the policy decides on the live rack, a copy kept as the undo;
 *   2. the actions that lower power (a switch, a shed, a lowered cap, a
 *      release) go to the devices at once;
 *   3. the events and the ledger rows the decision changed are written in
 *      one SQLite transaction;
 *   4. only then: log lines, the actions that raise power (a grant, a
 *      restore, a raised cap) to the devices, and the caller's hooks (event
 *      streams woken, the snapshot, the policy's timer).
 * So no device is told of a grant the ledger does not hold, and no shed
 * waits for the disk.
 *
 * When the transaction fails (a full disk, an I/O error) a decision on
 * inputs still stands as far as it lowers power: what raises power is taken
 * back (the servers are as before: a grant waits, a restore stays shed), a
 * power-on request is refused, and the events of what was done wait in
 * memory, in order, to be journaled with the ledger rows by the next write
 * that succeeds (decider_catch_up). A settle (a start, a reload) is all or
 * nothing: it is undone, and its actions go to the devices only after the
 * commit.
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

#include "balance.h"
#include "policy.h"
#include "rack.h"
#include "store.h"

/* What the decider tells its owner. Each may be NULL. */
struct decider_hooks {
    /* the journal's newest id grew to last_id (event streams wait on it) */
    void (*journaled)(void *arg, int64_t last_id);
    /* actions for the devices: those that lower power before the journal is
     * written, those that raise it after (each call in the policy's order) */
    void (*send)(void *arg, const struct policy_action *v, size_t n);
    /* the decision stands: what follows from it (alarms, snapshot, timer) */
    void (*execute)(void *arg, const struct policy_actions *acts);
    /* the decision was journaled (its events evs, the rows of the servers of
     * its actions, or of every server with all): after the commit, before
     * what raises power is sent, so that a cluster's primary can replicate
     * it and hold the raises until its secondaries have it (member.h) */
    void (*replicate)(void *arg, json_t *evs, bool all);
    void *arg;
};

/* Monotonic stamps (mono_ns) of the last decision's steps, for the log and
 * the benchmark: where the time from an input to the devices goes. */
struct decide_trace {
    int64_t begin_ns;     /* decide was called */
    int64_t decided_ns;   /* the policy answered */
    int64_t sent_ns;      /* the lowering actions were handed to the devices */
    int64_t journaled_ns; /* the transaction committed (or failed) */
    int64_t done_ns;      /* the raising actions were handed over, the hooks ran */
    size_t nsent;         /* how many actions went before the journal */
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
    struct decide_trace trace;

    /* while the journal cannot be written */
    json_t *backlog;           /* events not journaled yet, oldest first */
    size_t backlog_lost;       /* events dropped past DECIDE_BACKLOG_MAX */
    bool rows_dirty;           /* ledger rows changed unjournaled: all are written next */
    bool withheld;             /* raises were taken back: a settle when it works again */
    double failing_since;      /* Unix time of the first failure, 0 when none */
    bool retrying;             /* decider_catch_up is writing */
    char failing_err[256];     /* the last failure */
    struct policy_action *out; /* the actions handed to send (scratch) */
    size_t out_cap;

    /* Balancing (docs/balancing.md), with the rack's balance: on: after the
     * policy's decision on inputs, once what it lowered is on its way. */
    bool standby_ok;     /* the devices can stand PSUs by (the engine's word) */
    struct balance *bal; /* for the rack's shape as last seen; NULL: none yet */
    struct balance_plan plan;
    const struct rack_psu *bal_psus;     /* the rack's psus it was made for */
    int64_t bal_load_mw[RACK_MAX_BUSES]; /* the bus loads of the last plan */
    int64_t bal_at_ns;                   /* when it was made (mono_ns) */
};

/* A reading of the servers' draws plans again only when some bus's load
 * moved by both of these since the last plan, and at most this often
 * (balance.h's hysteresis then decides whether the plan changes anything):
 * a draw wanders every poll, a plan should not. */
#define DECIDE_BALANCE_MOVED_PCT 10
#define DECIDE_BALANCE_MOVED_MW 50000LL
#define DECIDE_BALANCE_EVERY_NS 10000000000LL

/* Events kept in memory while the journal fails; past it the oldest are
 * dropped and counted (the ledger rows are written whole all the same). */
#define DECIDE_BACKLOG_MAX 10000

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
    const char *const *whys; /* per input (n): its own reason, NULL for why; NULL: none */
    const char *note;        /* the operator's words, added to every event; NULL: none */
    const char *who;         /* who asked (a token's name, "uid:N"), on every event; NULL: none */
    json_t *pre;             /* events to journal first (an operator's action, a reload); taken */
    bool flag_psu, flag_bus; /* write the row of flag_index too (an out-of-service flag) */
    int flag_index;
    /* with flag_psu: after the policy, PSU flag_index leaves every bus (a
     * switch action to no bus, to_bus -1, sent with what lowers power): an
     * operator's out of service, so that nobody's power depends on it */
    bool open_switch;
    json_t **events; /* when not NULL: every journaled event (a new reference) */
    bool defer;      /* a settle whose journal fails keeps its facts (pre) for the
                      * catch-up, which settles again: the start on a full disk */
    bool reask;      /* a settle that answers every waiting server again (a grant or a
                      * wait with today's reason): when held raises are taken again */
};

/* A decision on n inputs that the devices or the clock reported. */
struct decision decision_inputs(const struct policy_input *in, size_t n, const char *why);
/* A settle of the rack as it stands, after the events in pre (taken; may be
 * NULL): a start, a reload. */
struct decision decision_settle(json_t *pre);

/*
 * Decides, sends what lowers power, journals, then sends what raises it and
 * executes. With the rack's balance: on, a decision on inputs is followed by
 * a balance plan (balance.h) at what the servers draw (measured, else their
 * grants) once the policy's lowering actions are sent: failures first. A
 * plan that changes the rack adds its actions (wakes, switches, shares,
 * standbys: none raises power, so they go at once, before the journal and
 * so before any grant of the decision) and a `balance` event (saved_w,
 * loss_before_w, loss_w, reason). A settle (a start, a reload) does not
 * balance. Returns 0 when the decision stands (with the journal behind
 * when it could not be written: decider_behind). -1 with err when nothing
 * was decided (the inputs name nothing, memory ran out, a settle the
 * journal refused: the rack and the ledger are as before), or when the
 * journal failed and the inputs held a power-on request: the request is
 * refused, while what lowered power stands.
 */
int decide(struct decider *d, const struct decision *x, char *err, size_t len);
/* Whether a balance plan now would change the rack (the rack's balance: on,
 * the loads moved as DECIDE_BALANCE_* say since the last plan): then a
 * decide on no inputs (decision_inputs(NULL, 0, ...)) carries it out. For a
 * change of what the servers draw, which is no decision. */
bool decider_balance_due(struct decider *d);
/* The devices cannot stand PSUs by after all (a Modbus PSU configured with
 * rackpower's extension has none): from now on balancing plans no standby,
 * and what stands by wakes at the next plan. */
void decider_no_standby(struct decider *d);

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
 * ("the database file was replaced"). It lasts until decider_trust. */
void decider_distrust(struct decider *d, const char *why);
/* Trusts it again (the proof came: a missing ledger's devices were read). */
void decider_trust(struct decider *d);

/*
 * What decide(d, x) would do, without doing it: the policy runs on a copy of
 * the rack with a policy scratch of its own (allocated here, freed before
 * returning), so the live rack, the decider's policy, the journal and the
 * devices are untouched. out gets the actions (cleared first; the caller
 * frees it). A fresh policy announces protection once; that word is left
 * out when it says what the rack already says. The hold of an untrusted
 * journal (decider_journal_trusted) is not applied: a preview may show a
 * raise that decide would hold. 0, or -1 with err (out of memory, or inputs
 * that name nothing).
 */
int decider_preview(const struct decider *d, const struct decision *x, struct policy_actions *out,
                    char *err, size_t len);

/* Journals one event that decides nothing (a device up or down, a refused
 * reload, the stop); takes ev. Returns its id, or -1 with err: the event
 * then waits in the backlog for the next write that succeeds. */
int64_t decider_journal(struct decider *d, json_t *ev, char *err, size_t len);

/* Whether the journal is behind: events wait to be written, or raises were
 * taken back and wait for a settle. */
bool decider_behind(const struct decider *d);

/*
 * Writes what waits (the backlog, every ledger row, and a "journal" event
 * that says what was late) and, once written, settles so that the raises
 * taken back happen, journaled. 0 when the journal has caught up, -1 with
 * err when it still cannot be written (the owner tries again later).
 */
int decider_catch_up(struct decider *d, char *err, size_t len);

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
