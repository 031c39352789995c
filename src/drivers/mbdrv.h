/*
 * mbdrv.h - the Modbus polling engine (client role): one bus (TCP or RTU),
 * the devices on it, their poll plans, retries, dormancy, discovery, writes
 * for actions and an alert line. Blocking; a bus belongs to one worker thread
 * and every call on it comes from that thread. Rules and numbers:
 * docs/modbus.md.
 *
 * Time: now_ns (any monotonic frame: the daemon's clock, or a test's virtual
 * time) drives what is due and stamps events; deadline_ns is absolute
 * CLOCK_MONOTONIC, because it bounds real blocking I/O.
 *
 * Names carry mbdrv_ so they cannot clash with libmodbus's own modbus_.
 */
#ifndef MBDRV_H
#define MBDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orv3.h"

enum mbdrv_transport { MBDRV_TCP, MBDRV_RTU };

struct mbdrv_bus_config {
    enum mbdrv_transport transport;
    char host[64]; /* TCP */
    int port;
    char device[128];            /* RTU: /dev/ttyUSB0 */
    int baud;                    /* 19200 */
    char parity;                 /* 'N', 'E' (default) or 'O' */
    int data_bits;               /* 8 */
    int stop_bits;               /* 1 */
    int64_t response_timeout_ns; /* per transaction (300 ms) */
    int64_t idle_gap_ns;         /* silence after each transaction: RTU 3 ms, TCP 0 */
    int retries;                 /* extra tries of a failed transaction (2) */
    int dormant_after;           /* consecutive failed tries that make a device dormant (10) */
    int64_t reprobe_ns;          /* how often a long-dormant or absent unit is probed (60 s) */
    int64_t reprobe_min_ns;      /* the first re-probe of a unit that just went dormant (1 s);
                                  * each probe without an answer doubles the wait, up to
                                  * reprobe_ns */
    int64_t probe_timeout_ns;    /* response timeout of a probe (70 ms) */
    int64_t confirm_ns;          /* alarm re-read while a new health awaits debounce (50 ms) */
    int max_span_words;          /* 120 */
    int max_hole_words;          /* ORV3_DEFAULT_MAX_HOLE */
    int32_t draw_deadband_mw;    /* chassis: a draw change smaller than this is not reported */
    struct orv3_monitor_config monitor;
};

/* Defaults for a transport (the idle gap differs). */
void mbdrv_bus_config_default(struct mbdrv_bus_config *c, enum mbdrv_transport t);

enum mbdrv_kind { MBDRV_ORV3_PSU, MBDRV_ORV3_BBU, MBDRV_SIM_SWITCH, MBDRV_SIM_CHASSIS };
const char *mbdrv_kind_name(enum mbdrv_kind k); /* "orv3-psu", "orv3-bbu", "simdev-switch", ... */
int mbdrv_kind_parse(const char *s, enum mbdrv_kind *out); /* 0 or -1 */

/* What a poll plan gives an interval to. ORv3 devices use the orv3 groups;
 * simdev modules (switch positions, chassis slots) use MBDRV_G_MODULE. */
enum mbdrv_group {
    MBDRV_G_IDENTITY = ORV3_G_IDENTITY,
    MBDRV_G_ALARM = ORV3_G_ALARM,
    MBDRV_G_TELEMETRY = ORV3_G_TELEMETRY,
    MBDRV_G_STATS = ORV3_G_STATS,
    MBDRV_G_CONFIG = ORV3_G_CONFIG,
    MBDRV_G_MODULE,
    MBDRV_NGROUPS,
};
#define MBDRV_ONCE INT64_MAX        /* read when the device is (re)found, then never */
#define MBDRV_NEVER (INT64_MAX - 1) /* not read */

struct mbdrv_device_config {
    enum mbdrv_kind kind;
    int unit;   /* 1..247 */
    int count;  /* simdev-chassis: slots (1..RACKMOD_MAX_SLOTS); simdev-switch: PSUs */
    int nbuses; /* simdev-switch: buses per PSU (for coil addresses), 1..8 */
    /* orv3-psu: it has rackpower's extension (standby and share, rackmod.h
     * RACKMOD_PSU_*): it keeps an owner epoch and takes fenced commands like
     * the modules (mbdrv_fence, mbdrv_psu_command, mbdrv_psu_ext_read) */
    bool ext;
    /* 0 = the default for the kind (docs/modbus.md), MBDRV_ONCE, MBDRV_NEVER
     * or an interval in ns. */
    int64_t interval_ns[MBDRV_NGROUPS];
};

enum mbdrv_state {
    MBDRV_LIVE,    /* answering, polled by its plan */
    MBDRV_DORMANT, /* stopped answering: probed after reprobe_min_ns, then doubling to
                    * reprobe_ns */
    MBDRV_ABSENT,  /* a discovery candidate that never answered */
};
const char *mbdrv_state_name(enum mbdrv_state s);

#define MBDRV_NEXC 12 /* exception counters by code 1..11; [0] for unknown codes */
struct mbdrv_stats {
    enum mbdrv_state state;
    uint64_t ok;         /* transactions answered */
    uint64_t timeouts;   /* tries without an answer */
    uint64_t crc_errors; /* EMBBADCRC */
    uint64_t exceptions; /* exception replies, all codes */
    uint64_t exc_by_code[MBDRV_NEXC];
    uint64_t other_errors; /* bad data, connection errors, ... */
    uint64_t retries;      /* tries after the first */
    uint64_t probes, probes_ok;
    uint64_t writes, write_errors;
    uint64_t dormant_count; /* times it went dormant */
    int consecutive_failures;
    int64_t last_ok_ns; /* now_ns of its last answer (a read, a write, a probe); INT64_MIN never */
    int64_t probe_gap_ns; /* dormant: the wait before the next probe; 0 otherwise */
    char last_error[200];
};

/* ---- results ------------------------------------------------------------ */

enum mbdrv_event_kind {
    MBDRV_EV_PSU,    /* u.psu: an ORv3 PSU was read (after each alarm/telemetry read) */
    MBDRV_EV_BBU,    /* u.bbu */
    MBDRV_EV_HEALTH, /* u.health: a monitor event of an ORv3 device */
    MBDRV_EV_SLOT,   /* u.slot: a chassis slot changed (or was read the first time) */
    MBDRV_EV_SWITCH, /* u.sw: a switch position changed (or was read the first time) */
    MBDRV_EV_DEVICE, /* u.dev: a device was found, went dormant, came back */
};

/* Changed-field bits of a slot event. */
#define MBDRV_SLOT_PRESENT 0x01u
#define MBDRV_SLOT_REQUEST 0x02u
#define MBDRV_SLOT_STATE 0x04u
#define MBDRV_SLOT_CAP 0x08u
#define MBDRV_SLOT_DRAW 0x10u
#define MBDRV_SLOT_ASK 0x20u
#define MBDRV_SLOT_CHANGES 0x40u /* the module's change counter moved */
#define MBDRV_SLOT_FIRST 0x80u   /* first read of the slot */
#define MBDRV_SLOT_LOST 0x100u   /* the module's lost latch moved */

struct mbdrv_slot {
    int slot;
    bool present;
    int state; /* enum rackmod_power_state */
    int ask;   /* enum rackmod_ask */
    int64_t request_mw, cap_mw, draw_mw;
    uint16_t changes; /* the module's change counter */
    uint16_t lost;    /* the module's lost latch: losses of power not ordered (rackmod.h) */
    unsigned changed; /* MBDRV_SLOT_* */
};

struct mbdrv_switch {
    int psu;
    int bus;      /* -1: connected to none */
    int prev_bus; /* -1 also on the first read */
};

struct mbdrv_devev {
    enum mbdrv_state from, to; /* ABSENT->LIVE found, LIVE->DORMANT, DORMANT->LIVE back */
    char why[200];
};

struct mbdrv_event {
    enum mbdrv_event_kind kind;
    int device; /* index from mbdrv_add_device / mbdrv_discover */
    int unit;
    enum mbdrv_kind dev_kind;
    int64_t t_ns;
    union {
        struct orv3_psu_telemetry psu;
        struct orv3_bbu_telemetry bbu;
        struct orv3_event health;
        struct mbdrv_slot slot;
        struct mbdrv_switch sw;
        struct mbdrv_devev dev;
    } u;
};

/* Called from mbdrv_poll_once, and from the writes when a write changes a
 * device's state (dormant, back); ev is valid for the call only. */
typedef void (*mbdrv_sink)(void *ctx, const struct mbdrv_event *ev);

/* ---- the bus ------------------------------------------------------------ */

struct mbdrv_bus;

/* Creates the libmodbus context; does not connect yet. NULL with err filled
 * on a bad configuration. */
struct mbdrv_bus *mbdrv_bus_new(const struct mbdrv_bus_config *c, mbdrv_sink sink, void *sink_ctx,
                                char *err, size_t errlen);
void mbdrv_bus_free(struct mbdrv_bus *b);

/* A device assumed present: read at once. Returns its index, or -1 with err
 * (bad unit or count, unit already on the bus, out of memory). */
int mbdrv_add_device(struct mbdrv_bus *b, const struct mbdrv_device_config *c, char *err,
                     size_t errlen);
/*
 * Discovery: adds a candidate device of kind for every unit in units that
 * is not on the bus yet (count/intervals as in tmpl). Candidates are ABSENT
 * until a probe answers; at most one absent or dormant unit is probed per
 * mbdrv_poll_once. Returns how many were added, or -1 with err (the
 * candidates added before the bad one stay).
 */
int mbdrv_discover(struct mbdrv_bus *b, const struct mbdrv_device_config *tmpl,
                   const uint8_t *units, int n, char *err, size_t errlen);

/*
 * Serves every span that is due at now_ns, one span per device in turn
 * (round robin, resumed at the next call), then probes the absent or dormant
 * units that are due: at most one probe without an answer per call. A
 * dormant unit that answers makes the other dormant units due at once (the
 * bus or gateway is likely back), and they are probed in the same call while
 * they answer. Over TCP, while the connection is down and units are dormant,
 * a connect is tried every call; when it is accepted the dormant units are
 * probed at once. Stops starting transactions once
 * CLOCK_MONOTONIC passes deadline_ns (0: no deadline); the span under way
 * finishes with its retries, so a call can overrun the deadline by
 * (1 + retries) response timeouts. A device whose span got no answer waits
 * for the next call. Results go to the sink. Returns the number of
 * transactions done (each counting its retries once). Device failures are
 * counted, never returned.
 */
int mbdrv_poll_once(struct mbdrv_bus *b, int64_t now_ns, int64_t deadline_ns);

/* Earliest now_ns at which something is due: the now_ns of the last poll
 * when something is due already, INT64_MAX when nothing ever will be. */
int64_t mbdrv_next_due_ns(const struct mbdrv_bus *b);

/*
 * Waits up to timeout_ns for the alert fd (fd < 0: just sleeps). Each byte
 * on it is one alert (like an ALERT# line): they are drained and the alarm
 * spans of every live device (and chassis slot spans) become due at once.
 * Returns 1 when alerted, 0 on timeout, -1 on an error of poll or read.
 */
int mbdrv_wait(struct mbdrv_bus *b, int fd, int64_t timeout_ns);

/* Makes every span of a device due at once (after an action, say). */
void mbdrv_refresh(struct mbdrv_bus *b, int dev);

int mbdrv_device_count(const struct mbdrv_bus *b);
/* 0, or -1 for a bad index. */
int mbdrv_device_stats(const struct mbdrv_bus *b, int dev, struct mbdrv_stats *out);
int mbdrv_device_unit(const struct mbdrv_bus *b, int dev);
/* A device's poll plan, for display and tests. */
struct mbdrv_plan_entry {
    uint16_t start, words;
    uint32_t groups; /* ORV3_GROUP_BIT / 1u << MBDRV_G_MODULE */
    int64_t interval_ns;
    int64_t next_due_ns;
};
int mbdrv_device_plan(const struct mbdrv_bus *b, int dev, struct mbdrv_plan_entry *out, int cap);

/* ---- writes (actions) ------------------------------------------------------
 * Each returns 0, or -1 with err "unit U (kind): what: libmodbus error"
 * (arguments out of range are refused before any I/O). A write is retried
 * like a read, counted in the device's stats, and its events are stamped
 * with the now_ns of the last mbdrv_poll_once. A write to a module makes all
 * of its spans due, so the new state is read back at the next poll. */

/* simdev-switch: connect (on) or disconnect psu from bus. */
int mbdrv_set_switch(struct mbdrv_bus *b, int dev, int psu, int bus, bool on, char *err,
                     size_t errlen);
/* simdev-chassis: power a slot's server on (grant, restore) or off (shed). */
int mbdrv_set_slot_power(struct mbdrv_bus *b, int dev, int slot, bool on, char *err, size_t errlen);
/* simdev-chassis: the slot's cap; written in whole watts, rounded down; 0 = none. */
int mbdrv_set_slot_cap(struct mbdrv_bus *b, int dev, int slot, int64_t cap_mw, char *err,
                       size_t errlen);
/* simdev-chassis: a grant: the cap (0 = none; before the power, so the
 * server never draws above it), the power on and the ask cleared. With an
 * epoch (fencing, below) the three are one request, carried out whole or not
 * at all; without, three writes in that order, stopping at the first error. */
int mbdrv_grant_slot(struct mbdrv_bus *b, int dev, int slot, int64_t cap_mw, char *err,
                     size_t errlen);
/* simdev-chassis: the controller handled the slot's ask. */
int mbdrv_clear_ask(struct mbdrv_bus *b, int dev, int slot, char *err, size_t errlen);
/* simdev-chassis: the controller saw the slot's latched losses of power. */
int mbdrv_clear_lost(struct mbdrv_bus *b, int dev, int slot, char *err, size_t errlen);
/* Any device: one holding register (0x06) or one coil (0x05). */
int mbdrv_write_register(struct mbdrv_bus *b, int dev, int reg, uint16_t value, char *err,
                         size_t errlen);
int mbdrv_write_coil(struct mbdrv_bus *b, int dev, int coil, bool on, char *err, size_t errlen);

/* ---- fencing (rackmod.h "Fencing", docs/controllers.md) ---------------------
 * With an epoch set (not 0), every command above to the switch and chassis
 * modules (mbdrv_set_switch, _slot_power, _slot_cap, _clear_ask, _clear_lost)
 * is one write multiple registers (0x10) to RACKMOD_FENCED_CMD carrying the
 * epoch and the command; a switch opened is opened from whatever bus it is
 * on. A module that refuses it (exception 0x04) has its owner epoch read
 * back: higher than ours, the call returns -2 (this controller was replaced;
 * it is not tried again) and mbdrv_fenced_by says the epoch. With epoch 0 the
 * commands are bare writes as before (a lone controller). mbdrv_write_register
 * and mbdrv_write_coil stay bare. */
void mbdrv_set_epoch(struct mbdrv_bus *b, uint64_t epoch);
uint64_t mbdrv_epoch(const struct mbdrv_bus *b);
/* The highest owner epoch above ours a module refused a command with since
 * the epoch was last raised; 0 for none. */
uint64_t mbdrv_fenced_by(const struct mbdrv_bus *b);
/* A switch or chassis module, or a PSU with rackpower's extension: a device
 * with an owner epoch. */
bool mbdrv_is_command_device(const struct mbdrv_bus *b, int dev);
/* The owner epoch a command module holds now, read in one request (the
 * proof, at every poll, that it still takes this controller's epoch:
 * docs/outage.md "Several controllers"). 0 with *owner, or -1 with err. */
int mbdrv_owner_epoch(struct mbdrv_bus *b, int dev, uint64_t *owner, char *err, size_t errlen);
/* The fence: the bus's epoch alone to one module. 0; -1 with err (no
 * answer, not a module, no epoch set); -2 with *seen the module's higher
 * owner epoch. */
int mbdrv_fence(struct mbdrv_bus *b, int dev, uint64_t *seen, char *err, size_t errlen);
/* What a module showed at its last read: a chassis slot, a switch position
 * (-1 on no bus). 0, or -1 when not read yet (or not such a device). */
int mbdrv_last_slot(const struct mbdrv_bus *b, int dev, int slot, struct mbdrv_slot *out);
int mbdrv_last_switch(const struct mbdrv_bus *b, int dev, int psu, int *bus);

/* ---- rackpower's extension of a PSU (rackmod.h RACKMOD_PSU_*,
 * docs/modbus.md "Standby and share") ------------------------------------------
 * Only for an orv3-psu added with ext: nothing is ever sent to another (a
 * plain ORv3 shelf has nothing at those registers, or a vendor's own). */

/* What it says of itself now, in one read of RACKMOD_PSU_STATE: *standby 1
 * standing by, 0 awake; *share its share of its bus's load in 1/10000 (0:
 * none set). 0; -1 with err (no answer, not such a device); -3 with err when
 * it answered exception 0x02 (illegal data address): it has no such
 * registers after all. */
int mbdrv_psu_ext_read(struct mbdrv_bus *b, int dev, int *standby, int *share, char *err,
                       size_t errlen);
/* One command (enum rackmod_psu_op, value) in a fenced write with the bus's
 * epoch (0 for a lone controller: a PSU never fenced takes it). 0; -1 with
 * err (exception 0x03: a value it refuses; no answer; a lone controller
 * refused by a PSU a cluster fenced); -2 with an epoch set and the PSU
 * holding a higher one (mbdrv_fenced_by says which, as for the modules).
 * Values out of range are refused before any I/O. */
int mbdrv_psu_command(struct mbdrv_bus *b, int dev, int op, int value, char *err, size_t errlen);

#endif
