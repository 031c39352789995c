/*
 * rack.h - the rack model: feeds, buses, PSUs and their switches, servers.
 *
 * Plain data owned by the caller. The policy (policy.h) reads and updates it;
 * loaders (src/conf) fill it. Powers are integers in milliwatts, times in
 * nanoseconds; watts and seconds exist only at the edges (files, output).
 */
#ifndef RACK_H
#define RACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Feasibility looks at every subset of buses, so buses are few by design. */
#define RACK_MAX_BUSES 8
#define RACK_MAX_FEEDS 32
#define RACK_ID_LEN 32

/* Switching times used when a PSU does not set its own (switch_ms). */
#define RACK_FET_SWITCH_NS 100000LL        /* 0.1 ms: solid-state */
#define RACK_RELAY_SWITCH_NS 20000000LL    /* 20 ms: electromagnetic relay */
#define RACK_BREAKER_SWITCH_NS 200000000LL /* 200 ms: motorised breaker */
#define RACK_DEFAULT_HOLDUP_NS 16000000LL  /* 16 ms: ATX12VO hold-up at full load */
#define RACK_DEFAULT_RESTORE_NS 30000000000LL
#define RACK_DEFAULT_OVER_DRAW_NS 5000000000LL /* over its grant this long: alarmed, capped */

/* PSU models (docs/balancing.md): an efficiency curve, what standby costs
 * and how long a wake takes. Two are built in (RACK_MODEL_TITANIUM, the
 * default, and RACK_MODEL_ORV3); a rack file's psu_models: adds more. */
#define RACK_MAX_MODELS 32
#define RACK_MODEL_POINTS 4 /* efficiency at 10, 20, 50 and 100 % of rated load */
#define RACK_MODEL_TITANIUM 0
#define RACK_MODEL_ORV3 1
#define RACK_DEFAULT_STANDBY_MW 5000LL  /* 5 W: a cold-redundant PSU's housekeeping */
#define RACK_DEFAULT_WAKE_NS 10000000LL /* 10 ms: within the 16 ms default hold-up */

struct rack_psu_model {
    char name[RACK_ID_LEN];
    int32_t eff_ppm[RACK_MODEL_POINTS]; /* output / input, parts per million */
    int64_t standby_mw;                 /* input drawn while standing by */
    int64_t wake_ns;                    /* standby to carrying load */
};

/* The load fractions of rack_psu_model.eff_ppm, in per cent. */
extern const int rack_model_load_pct[RACK_MODEL_POINTS];

enum rack_protection { RACK_PROT_NONE, RACK_PROT_N1, RACK_PROT_NN };
enum rack_on_loss { RACK_ON_LOSS_SHED, RACK_ON_LOSS_HOLD };
/* What a PSU predicted to fail does to the rack (docs/policy.md "PSUs predicted
 * to fail"): keep: it counts for nothing that admits or protects, but a
 * prediction alone cuts nobody; shed: it counts as failed. */
enum rack_on_predicted { RACK_PREDICTED_KEEP, RACK_PREDICTED_SHED };
enum rack_switch_kind { RACK_SWITCH_FET, RACK_SWITCH_RELAY, RACK_SWITCH_BREAKER };
/* Balancing (docs/balancing.md): off, the rack as the policy leaves it; on,
 * standbys, placement and shares planned on every change of load. */
enum rack_balance { RACK_BALANCE_OFF, RACK_BALANCE_ON };
/* Only positive evidence (an alarm, zero output, a dead bus) makes a PSU
 * failed. One that cannot be read is unknown: it keeps serving what it last
 * served, but does not count for protection (docs/policy.md). */
enum rack_psu_health { RACK_PSU_OK, RACK_PSU_DEGRADED, RACK_PSU_FAILED, RACK_PSU_UNKNOWN };
enum rack_server_state {
    RACK_SRV_OFF,     /* not asking for power */
    RACK_SRV_WAITING, /* asked, not granted yet */
    RACK_SRV_ON,      /* granted power_mw */
    RACK_SRV_CAPPED,  /* granted less than power_mw, at least min_mw */
    RACK_SRV_SHED,    /* was granted, powered down by the controller */
};

struct rack_psu {
    char id[RACK_ID_LEN];
    int64_t rated_mw;   /* nameplate capacity */
    int64_t derated_mw; /* what it delivers while degraded; while unknown, what
                         * it delivered when last read (rated_mw if it was ok) */
    int feed;           /* index into rack.feeds */
    uint32_t wired;     /* mask of buses its switch can connect it to */
    int bus;            /* bus it is connected to now, -1 for none */
    enum rack_switch_kind sw;
    int64_t switch_ns; /* time its switch takes to move it */
    enum rack_psu_health health;
    /* Balancing (docs/balancing.md): its model (index into rack.models),
     * whether it stands by (cold redundancy: on its bus, carrying nothing),
     * and its planned share of its bus's load, in parts per million (0 in
     * standby; all 0 before any plan: the bus shares as the hardware does). */
    int model;
    bool standby;
    int64_t share_ppm;
    /* Predicted to fail (POLICY_PSU_AT_RISK, docs/policy.md "PSUs predicted
     * to fail"): counted like a PSU that cannot be read (serves, never counts
     * for protection or admission) and drained off its bus while the rack
     * keeps its protection without it; with on_predicted shed, as failed. */
    bool at_risk;
};

struct rack_server {
    char id[RACK_ID_LEN];
    int64_t power_mw; /* what it asks for (its EEPROM/BMC figure) */
    int64_t min_mw;   /* lowest cap it runs at; == power_mw when it cannot be capped */
    int priority;     /* 1 = most important; with activities, the most important
                       * activity's it hosts now (rack_server_activity_priority) */
    int own_priority; /* its priority when it hosts no activity: the rack file's
                       * priority:, or without one the least important priority of
                       * the rack (docs/rack-file.md) */
    uint32_t wired;   /* mask of buses it draws from */
    int chassis;      /* index into rack.chassis, -1 for none */
    enum rack_server_state state;
    int64_t alloc_mw; /* granted now: power_mw when on, the cap when capped, else 0 */
    int64_t draw_mw;  /* last reported actual draw, -1 when never reported */
    /* last draw measured while it was granted, -1 none: what it is planned at
     * (if above its grant) when it is granted again or comes back, since the
     * 0 W its slot reads while off says nothing of what it draws when on */
    int64_t on_draw_mw;
    uint64_t seq;   /* order of its request, first come first served */
    int ac_restart; /* 1: powers on by itself when power returns after a loss
                     * (its BIOS's power-on-after-AC-loss); the simulator's */
    /* Power lost without a decision (POLICY_LOST_POWER, docs/policy.md). */
    int losses;      /* losses in a row, each soon after the one before; 0 = none */
    int64_t lost_ns; /* when it last lost power (meaningful while losses > 0) */
    int64_t back_ns; /* not restored before this; 0 once a settle after it has
                      * considered it (or it was never set) */
    /* Stopped by an outage plan (POLICY_OUTAGE_STOP, docs/outage.md): shed,
     * holding its place, and not restored while held; POLICY_OUTAGE_RELEASE
     * lets it come back by the restore rules once mains is stable. */
    bool held;
};

/* Outages and battery reserves (seed 003, docs/outage.md). A rack file
 * without reserves:/activities: has none, and nothing below changes the
 * policy's behaviour then. */
#define RACK_MAX_RESERVES 1024
#define RACK_MAX_ACTIVITIES 100000
#define RACK_DEFAULT_STOP_NS 60000000000LL         /* an activity's graceful stop: 60 s */
#define RACK_DEFAULT_MAINS_STABLE_NS 60000000000LL /* mains back this long before restores */
#define RACK_DEFAULT_MIN_CHARGE_PCT 20             /* ... and the reserves this full */
#define RACK_DEFAULT_SLACK_PCT 5 /* runtime a set gives up so that less important ones run */
#define RACK_DEFAULT_SOFT_OFF_NS 10000000000LL /* soft-off to power off: 10 s */

enum rack_reserve_kind {
    RACK_RESERVE_BBU,    /* a battery unit on a bus (an ORv3 BBU shelf): at = bus */
    RACK_RESERVE_UPS,    /* a UPS on a feed: at = feed; keeps the feed's PSUs up */
    RACK_RESERVE_SERVER, /* a server's own battery (claim 10): at = server */
};

struct rack_reserve {
    char id[RACK_ID_LEN];
    enum rack_reserve_kind kind;
    int at;                /* bus, feed or server index, per kind */
    double energy_wh;      /* usable energy when full, down to the cut-off, at rated_w */
    double max_w;          /* most it delivers */
    double rated_w;        /* the discharge rate energy_wh is given at (default max_w) */
    double efficiency;     /* (0, 1]: watts delivered per watt taken from the cells */
    double peukert;        /* >= 1: usable energy shrinks above rated_w (docs/outage.md) */
    uint32_t switch_buses; /* buses it can be directed to besides its own (claim 23) */
    int nswitch_servers;   /* servers it can be directed to besides its own */
    int *switch_servers;   /* server indices, owned by the rack */

    /* Live state. */
    double wh_left;   /* usable energy left now (energy_wh when full) */
    double watts;     /* what it delivers now (0 unless discharging) */
    bool discharging; /* carrying load */
    bool known;       /* its readings are fresh; false: the planner assumes it drains
                       * at its last known rate and never raises power on it */
    int to_bus;       /* where it is directed now: a bus, or -1 */
    int to_server;    /* ... or a server, or -1; both -1: its own place */
};

enum rack_group_by { RACK_GROUP_DATA, RACK_GROUP_PROCESS };
enum rack_activity_state {
    RACK_ACT_RUNNING, /* on its servers */
    RACK_ACT_MOVED,   /* running, on other servers than its own */
    RACK_ACT_STOPPED, /* stopped by an outage plan */
};

struct rack_activity {
    char id[RACK_ID_LEN];
    char qos[RACK_ID_LEN];       /* its QoS class (qos_classes:) */
    int priority;                /* of its class, 1 = most important */
    enum rack_group_by group_by; /* informational (claims 2-3) */
    int nservers;
    int *servers;  /* where it runs now (after moves), owned by the rack */
    double *share; /* per server: fraction of its power_w this activity uses */
    int nhome;
    int *home; /* where the rack file puts it (restored after an outage) */
    int nmovable;
    int *movable_to; /* servers it may move to */
    int64_t stop_ns; /* how long its graceful stop takes */
    enum rack_activity_state state;
    char migrate[256];          /* the daemon's: command moving it (argv ACT FROM TO), "" none */
    int64_t migrate_timeout_ns; /* killed after this long */
};

struct rack_outage_conf {
    int64_t ride_through_ns; /* everything runs this long on reserves before any stop */
    int64_t mains_stable_ns; /* mains back this long before anything is restored */
    int min_charge_pct;      /* ... and every reserve at least this full */
    int slack_pct;           /* runtime of a set given up for less important ones */
    int64_t soft_off_ns;     /* after a graceful stop's time, a soft-off; this long after
                              * it, power off */
};

struct rack {
    char name[64];
    enum rack_protection protection;
    enum rack_on_loss on_loss;
    enum rack_on_predicted on_predicted;
    int64_t restore_after_ns;
    int64_t holdup_ns;
    int64_t over_draw_ns; /* a server drawing more than its grant this long is alarmed and
                           * capped (the daemon's, docs/daemon.md) */

    int nfeeds;
    char feeds[RACK_MAX_FEEDS][RACK_ID_LEN];
    bool feed_failed[RACK_MAX_FEEDS];

    int nbuses;
    char buses[RACK_MAX_BUSES][RACK_ID_LEN];
    bool bus_failed[RACK_MAX_BUSES];

    int npsus;
    struct rack_psu *psus;
    int nservers;
    struct rack_server *servers;
    int nchassis;
    char (*chassis)[RACK_ID_LEN];

    /* Policy bookkeeping, kept here so a rack is one value to save and restore. */
    uint64_t next_seq;
    int64_t last_change_ns;  /* last change of health: restore counts from here */
    int64_t restore_done_ns; /* last_change_ns value a restore pass already ran for */
    bool is_protected;       /* result of the last settle */
    bool redundancy_lost;    /* some drawing server has a failure it cannot survive */

    /* Outages (docs/outage.md). */
    bool feed_on_reserve[RACK_MAX_FEEDS]; /* mains lost, PSUs kept up by a ups reserve */
    int nreserves;
    struct rack_reserve *reserves;
    int nactivities;
    struct rack_activity *activities;
    struct rack_outage_conf outage;

    /* PSU models: the built-ins first (rack_init), then the rack file's. */
    int balance; /* enum rack_balance */
    int nmodels;
    struct rack_psu_model models[RACK_MAX_MODELS];
};

/* Zeroed rack with sensible defaults; arrays empty. */
void rack_init(struct rack *r);
void rack_free(struct rack *r);
/* Deep copy; returns 0, or -1 when out of memory. dst must not hold arrays. */
int rack_copy(struct rack *dst, const struct rack *src);

/* Index of a named element, or -1. */
int rack_find_psu(const struct rack *r, const char *id);
int rack_find_server(const struct rack *r, const char *id);
int rack_find_bus(const struct rack *r, const char *id);
int rack_find_feed(const struct rack *r, const char *id);
int rack_find_reserve(const struct rack *r, const char *id);
int rack_find_activity(const struct rack *r, const char *id);

/* A server's priority from the activities it hosts now: the most important
 * one's, or `fallback` when it hosts none. */
int rack_server_activity_priority(const struct rack *r, int server, int fallback);

/* What a PSU delivers now given its health, feed and bus (0 when it cannot). */
int64_t rack_psu_capacity_mw(const struct rack *r, const struct rack_psu *p);
/* Capacity of a PSU from its health alone, wherever it is connected (an
 * unknown PSU counts at what it last delivered). */
int64_t rack_psu_health_mw(const struct rack_psu *p);
/* Whether a PSU counts for protection: its state is known. */
bool rack_psu_known(const struct rack_psu *p);
bool rack_psu_alive(const struct rack *r, const struct rack_psu *p);
/* A PSU's model (the built-in titanium when its index is out of range). */
const struct rack_psu_model *rack_psu_model_of(const struct rack *r, const struct rack_psu *p);
/* Standing by with a wake slower than the hold-up: it counts for nothing
 * (as if failed) until woken. One that wakes within the hold-up counts as
 * active (route.c), so standby never weakens what the policy sees. */
bool rack_psu_asleep(const struct rack *r, const struct rack_psu *p);
/* Index of a named model, or -1. */
int rack_find_model(const struct rack *r, const char *name);
uint32_t rack_alive_buses(const struct rack *r);
/* Whether a server's grant counts (on or capped). */
bool rack_server_draws(const struct rack_server *s);

int64_t rack_capacity_mw(const struct rack *r);

/*
 * Battery reserves in the policy's eyes (docs/policy.md "Battery reserves").
 * While some feed has failed (mains lost where no ups keeps the feed's PSUs
 * up), a bbu reserve with energy left is capacity on the live bus it is
 * directed to, and a server battery carries what it can of the server it is
 * directed to. Otherwise reserves count for nothing: the policy never leans
 * on a battery while mains is there, and never raises power on one.
 */
bool rack_reserves_count(const struct rack *r);
/* Where a reserve delivers now: a bus or -1, a server or -1 (one of them). */
int rack_reserve_bus(const struct rack_reserve *res);
int rack_reserve_server(const struct rack_reserve *res);
/* What the reserves give bus b / server i for the policy now, in mW (0 while
 * rack_reserves_count is false, for a failed bus, and from an empty reserve). */
int64_t rack_reserve_bus_mw(const struct rack *r, int b);
int64_t rack_reserve_server_mw(const struct rack *r, int i);
/* Both, over the rack: what the reserves give the policy now. */
int64_t rack_reserve_mw(const struct rack *r);
int64_t rack_allocated_mw(const struct rack *r);

const char *rack_protection_name(enum rack_protection p);
const char *rack_switch_name(enum rack_switch_kind k);
const char *rack_psu_health_name(enum rack_psu_health h);
const char *rack_server_state_name(enum rack_server_state s);
int64_t rack_switch_default_ns(enum rack_switch_kind k);
const char *rack_reserve_kind_name(enum rack_reserve_kind k);
const char *rack_activity_state_name(enum rack_activity_state s);

#endif
