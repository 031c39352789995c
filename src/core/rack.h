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

enum rack_protection { RACK_PROT_NONE, RACK_PROT_N1, RACK_PROT_NN };
enum rack_on_loss { RACK_ON_LOSS_SHED, RACK_ON_LOSS_HOLD };
enum rack_switch_kind { RACK_SWITCH_FET, RACK_SWITCH_RELAY, RACK_SWITCH_BREAKER };
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
};

struct rack_server {
    char id[RACK_ID_LEN];
    int64_t power_mw; /* what it asks for (its EEPROM/BMC figure) */
    int64_t min_mw;   /* lowest cap it runs at; == power_mw when it cannot be capped */
    int priority;     /* 1 = most important */
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
};

struct rack {
    char name[64];
    enum rack_protection protection;
    enum rack_on_loss on_loss;
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

/* What a PSU delivers now given its health, feed and bus (0 when it cannot). */
int64_t rack_psu_capacity_mw(const struct rack *r, const struct rack_psu *p);
/* Capacity of a PSU from its health alone, wherever it is connected (an
 * unknown PSU counts at what it last delivered). */
int64_t rack_psu_health_mw(const struct rack_psu *p);
/* Whether a PSU counts for protection: its state is known. */
bool rack_psu_known(const struct rack_psu *p);
bool rack_psu_alive(const struct rack *r, const struct rack_psu *p);
uint32_t rack_alive_buses(const struct rack *r);
/* Whether a server's grant counts (on or capped). */
bool rack_server_draws(const struct rack_server *s);

int64_t rack_capacity_mw(const struct rack *r);
int64_t rack_allocated_mw(const struct rack *r);

const char *rack_protection_name(enum rack_protection p);
const char *rack_switch_name(enum rack_switch_kind k);
const char *rack_psu_health_name(enum rack_psu_health h);
const char *rack_server_state_name(enum rack_server_state s);
int64_t rack_switch_default_ns(enum rack_switch_kind k);

#endif
