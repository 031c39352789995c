/*
 * outage_run.h - rackpowerd in an outage (docs/outage.md): the reserves'
 * live state from the drivers' readings, the outage's start and end, the
 * plan made again at every reading and change, and its steps carried out
 * (stages to the servers' upsmon, soft-off and power off through the
 * policy, moves through the activity's migrate command).
 *
 * Loop thread only. The rack is the decider's live rack; every decision that
 * changes it (a stop, a release) goes through decide() as any other input,
 * and every event is journaled through the decider. What goes to the nut
 * and ipmi devices (stages, soft-offs) goes through hooks.send, which gates
 * it (a cluster's stale primary sends nothing: docs/outage.md "Several
 * controllers").
 */
#ifndef OUTAGE_RUN_H
#define OUTAGE_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "alarms.h"
#include "daemonconf.h"
#include "decide.h"
#include "driver.h"
#include "outage.h"

struct orun_hooks {
    /* actions for the nut and ipmi devices (stage, soft_off); the engine
     * gates them (commanding, the epoch confirmed) and journals what it
     * held back */
    void (*send)(void *arg, const struct policy_action *v, size_t n);
    /* whether the migrate commands may run now (the same gate); NULL: yes;
     * why: the reason when not */
    bool (*may_command)(void *arg, char *why, size_t len);
    /* the outage's state changed without a decision (a reading, a start):
     * alarms, the snapshot */
    void (*changed)(void *arg);
    /* the record changed (a start, a stop's phase, the operator's word...)
     * or events were journaled since the last replication: a cluster's
     * primary replicates orun_take_events and orun_record in an entry of
     * their own (docs/outage.md "Several controllers"); NULL: a lone
     * controller, nothing is collected */
    void (*record)(void *arg);
    void *arg;
};

/* One reserve's readings, as the daemon keeps them. */
struct orun_reserve {
    bool read_by_device;    /* some configured device reads it (nut, a BBU unit) */
    int dev;                /* the device that read it last, -1 none */
    int64_t read_ns;        /* mono_ns of its last fresh reading; INT64_MIN never */
    int64_t stale_ns;       /* older than this: not known (3 polls of its device) */
    int64_t integ_ns;       /* wh_left is integrated up to here (mono_ns) */
    double drain_w;         /* watts taken from its cells at the last known rate */
    unsigned flags;         /* DRIVER_RES_* of the last reading */
    int charge_pct;         /* -1 unsaid */
    int64_t runtime_s;      /* -1 unsaid */
    char status[64];        /* as the device said it */
    bool feed_failed_by_us; /* a ups that ran out: we applied POLICY_FEED_FAIL */
    bool had_energy;        /* wh_left > 0 at the last update (reserves_emptied) */
};

/* Where a server's outage stop stands. */
enum orun_stop_phase {
    ORUN_UP,       /* not stopped */
    ORUN_STAGED,   /* told OB LB: its upsmon shuts it down (graceful time) */
    ORUN_SOFT_OFF, /* soft-off sent; power off at the deadline */
    ORUN_HELD,     /* POLICY_OUTAGE_STOP decided: shed and held */
};

struct orun_server {
    enum orun_stop_phase phase;
    int64_t due_ns; /* the next phase at this mono_ns (STAGED, SOFT_OFF) */
    int stage;      /* the plan's stage number */
};

struct migrate;

/* A move being carried out (the activity's migrate command). */
struct orun_move {
    int activity, from, to;
    bool home; /* going home after the outage */
    double watts;
    char reason[OUTAGE_REASON_LEN];
    struct migrate *m;
};

struct orun {
    struct decider *dec; /* the live rack is dec->rack */
    uv_loop_t *loop;     /* for the migrate commands */
    struct orun_hooks hooks;
    struct outage o;
    bool operator_on; /* the operator started one and has not ended it */
    char operator_who[80];
    char cause_reason[OUTAGE_REASON_LEN]; /* why it started */
    int nres;
    struct orun_reserve *res;
    int nsrv;
    struct orun_server *srv;
    int nact;
    bool *move_failed;       /* per activity: its move failed this outage (planned without it) */
    struct outage_plan plan; /* the last plan made during the outage */
    bool planned;
    char plan_err[160];
    struct orun_move *moves;
    size_t nmoves, moves_cap;
    bool released;          /* the held servers were released after this outage */
    bool busy;              /* re-entry guard: a decision made here calls back orun_changed */
    bool again;             /* a change came while busy: update once more */
    double last_start_wall; /* Unix time of the start, for the API */

    /* Across a fail-over (orun_record, orun_follow, orun_adopt). */
    json_t *pending;    /* events journaled since the last replication (hooks.record) */
    json_t *sent;       /* the record's lasting part as last replicated (or followed) */
    int64_t sent_ns;    /* when the record was last made (mono_ns) */
    bool adopted;       /* carrying on an outage another primary started */
    int64_t adopted_ns; /* when (mono_ns): it ends only on readings taken since */
};

/*
 * Sets o up for the decider's rack and the config's devices (which reserves
 * some device reads, and how often). 0, or -1 with err (out of memory).
 */
int orun_init(struct orun *o, struct decider *dec, uv_loop_t *loop,
              const struct rackfile_device *devs, size_t ndevs, const struct orun_hooks *h,
              char *err, size_t errlen);
void orun_fini(struct orun *o);

/* A reading from device dev, posted at posted_ns (mono_ns). Call
 * orun_update after the report's readings. */
void orun_reading(struct orun *o, int dev, const struct driver_reserve_reading *x,
                  int64_t posted_ns);

/*
 * Brings the outage up to now: the reserves' energy (integrated since the
 * last reading), their freshness, starts and ends, the plan made again and
 * its due steps carried out, stops advanced, releases when the outage is
 * over. Called after readings, after every decision, at its deadline.
 */
void orun_update(struct orun *o, int64_t now_ns);

/* The next mono_ns orun_update wants to run at (INT64_MAX: none). */
int64_t orun_next_deadline(const struct orun *o, int64_t now_ns);

/*
 * The operator's start or end (POST /v1/outage): journaled with who and
 * note. Returns the HTTP status, with *body the answer (malloc'd JSON).
 */
int orun_command(struct orun *o, bool start, const char *who, const char *note, int64_t now_ns,
                 char **body);

/* Adds the conditions that hold now: reserve_lost per reserve not known
 * during an outage, on_reserves while an outage is on. 0, or -1 (memory). */
int orun_alarms(const struct orun *o, int64_t now_ns, struct alarm_set *c);

/* GET /v1/outage (docs/api.md); NULL when out of memory. */
json_t *orun_view(const struct orun *o, int64_t now_ns);
/* The status's "outage" field: null while none, else {state, cause, since}. */
json_t *orun_status(const struct orun *o, int64_t now_ns);
/*
 * GET /v1/outage/plan: what the planner would do if mains failed now, on a
 * copy of the rack (nothing acts). The answer's HTTP status, *body the JSON.
 */
int orun_plan_preview(const struct orun *o, int64_t now_ns, char **body);

/* The migrate commands running (a stop, a reload waits for none). */
size_t orun_moves_running(const struct orun *o);

/*
 * ---- Across a fail-over (docs/outage.md "Several controllers") ----
 *
 * The primary's outage record travels in every ledger entry and snapshot
 * (replica.h, "outage"): the outage (cause, start, reason, the operator's
 * start and who), the stages taken, each stopping server's phase and hold,
 * the plan's commitments (floors), the activities' places and the moves
 * that failed, the reserves' diverts and last readings. Times are ages (the
 * monotonic clocks of two controllers differ): since_age_ns, due_in_ns...
 * as of the entry's making; the start's Unix time rides along for the API.
 */

/* The record as of now (a new JSON object; NULL when out of memory); the
 * lasting part is remembered as replicated. */
json_t *orun_record(struct orun *o, int64_t now_ns);
/* Events journaled since the last replication (a new array, maybe empty;
 * the pending list starts afresh). */
json_t *orun_take_events(struct orun *o);
/*
 * A secondary takes the primary's record: its outage (since counted back
 * from now), stops and holds (the rack's held flags), floors, activities'
 * places, diverts, and the reserves' readings when fresher than its own.
 * 0, or -1 with err and nothing changed (a record that is not one; names
 * this rack lacks are skipped).
 */
int orun_follow(struct orun *o, json_t *rec, int64_t now_ns, char *err, size_t errlen);
/*
 * Elected primary, or a lone controller restarted with its record (how says
 * which, for the journal): carries on the outage it followed (no second start, no
 * stage sent again, stops go on at their due times, held servers stay
 * held), journaled as outage_adopted. Until this controller's own devices
 * have read every reserve they read since now (and for a ups or bbu outage,
 * at least one), the outage does not end for want of a reading; the
 * operator's end is taken as the word when nothing here can read one.
 */
void orun_adopt(struct orun *o, int64_t now_ns, const char *how);
/* A secondary between records: the reserves' energy and freshness brought
 * to now from its own readings; nothing is decided or sent. */
void orun_track(struct orun *o, int64_t now_ns);
/* The next mono_ns orun_track wants to run at (a reading growing stale),
 * INT64_MAX none: a secondary's stops are the primary's to advance, so
 * their due times are not its deadlines. */
int64_t orun_track_deadline(const struct orun *o, int64_t now_ns);

#endif
