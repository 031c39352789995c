/*
 * driver.h - the one interface every device backend implements (DESIGN.md:
 * "drivers: each implements one small vtable over an opaque instance").
 *
 * A driver instance serves one entry of the config's `devices:` list. The
 * daemon runs each instance on its own worker thread (src/daemon/devices.c):
 * open, then poll and act in turn until it stops, then close. All four calls
 * happen on that one thread, so a driver needs no locking of its own and may
 * block in I/O (bounded by the timeouts given). A driver never touches the
 * daemon's rack: it gets a copy at open, reports what it sees by rack index,
 * and executes the decisions it is handed.
 */
#ifndef DRIVER_H
#define DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"
#include "daemonconf.h"

/* Telemetry of one PSU: the quantities of the history (issue 11 section 2,
 * docs/prediction.md); every figure is -1 when the device does not say
 * (driver_psu_unknown gives a reading with none). docs/devices.md
 * "Readings" says where each driver takes each one from. */
struct driver_psu_reading {
    int psu; /* rack index */
    int64_t out_mw, in_mw;
    int64_t out_mv, out_ma;
    int64_t in_mv, in_ma; /* input (AC rms or DC) voltage and current */
    int64_t temp_mc;      /* the PSU's hot spot (ORv3 outlet), milli-degrees Celsius */
    int64_t inlet_mc;     /* the air coming in, milli-degrees Celsius */
    int64_t fan_rpm;      /* the mean of its fans that report */
    /* PMBus STATUS_WORD; ORv3 alarm registers 60-64 mapped onto it
     * (risk_orv3_status_word); hwmon: the summary bits of the alarm files */
    int32_t status_word;
    /* the device could not be read: the figures (all -1) are withdrawn, not
     * a fresh reading (their age goes on) */
    bool unread;
};

/* A reading of one battery reserve (a UPS through NUT, an ORv3 BBU); every
 * figure is -1 when the device does not say. */
#define DRIVER_RES_ONLINE 0x01     /* on mains (NUT OL; a BBU not discharging) */
#define DRIVER_RES_ON_BATTERY 0x02 /* NUT OB; a BBU discharging */
#define DRIVER_RES_LOW 0x04        /* NUT LB; a BBU fully discharged */
#define DRIVER_RES_CHARGING 0x08
#define DRIVER_RES_FAULT 0x10 /* it says it cannot discharge (a BBU's status bits) */
struct driver_reserve_reading {
    int reserve;       /* rack index */
    unsigned flags;    /* DRIVER_RES_* */
    int charge_pct;    /* battery.charge; a BBU's relative state of charge */
    int64_t runtime_s; /* battery.runtime; a BBU's run time to empty */
    double watts;      /* what it delivers now, -1 unknown */
    bool unread;       /* it could not be read: figures withdrawn (their age goes on) */
    char status[64];   /* what the device said, for the journal ("OB LB", "0x0040") */
};

/* Counters of one unit on a device bus (Modbus), for the operator. */
struct driver_unit_stats {
    int unit;
    char kind[16];  /* "orv3-psu", "simdev-chassis" ... */
    char state[12]; /* "live", "dormant", "absent" */
    uint64_t ok, timeouts, crc_errors, exceptions, retries, writes, write_errors;
    int64_t last_ok_ns; /* CLOCK_MONOTONIC of its last answer; INT64_MIN never */
    char last_error[160];
};

/* What one poll saw: facts for the policy (a server asks for power, a PSU
 * failed, a server's measured draw as POLICY_REPORT) and telemetry for the
 * operator. Inputs are edges: report a change once, not every poll. */
/* A server its device shows at lower power than the controller's rack. */
struct driver_found {
    int server;
    int64_t cap_mw; /* 0: powered off; else on, capped at this */
};

#define DRIVER_INPUT_NOTE_LEN 300

/* A PSU its device shows otherwise than the controller last heard of it
 * (balancing's standby and share, docs/balancing.md "Where it runs"): awake
 * though told to stand by (the shelf woke it as its bus sagged, or did not
 * take the command), standing by though told to wake, or at another share.
 * The controller's model takes what the device shows. */
struct driver_psu_state {
    int psu;           /* rack index */
    bool standby;      /* as read back */
    int64_t share_ppm; /* as read back, of its bus's load; 0: none set */
    char why[DRIVER_INPUT_NOTE_LEN];
};

struct driver_report {
    struct policy_input *inputs;
    size_t ninputs, inputs_cap;
    /* per input, parallel to inputs: what the device said of that input
     * alone (one PSU's alarm bits, a feed and its PSUs); "" for the report's
     * note. So that an event carries its own cause, not its neighbours'. */
    char (*input_notes)[DRIVER_INPUT_NOTE_LEN];
    size_t input_notes_cap;
    struct driver_psu_reading *psus;
    size_t npsus, psus_cap;
    /* What the device said that made the inputs: the alarm bits and raw
     * registers of a fault episode. Goes into the journal with them. */
    char note[512];
    /* the device's per-unit counters, when it has them (every poll) */
    struct driver_unit_stats *units;
    size_t nunits, units_cap;
    /* servers the controller's rack had drawing when the driver opened that
     * its device shows at lower power (off, or capped below the ledger): the
     * driver leaves them so (the lower power stands until the policy decides
     * again) and says so here */
    struct driver_found *found;
    size_t nfound, found_cap;
    /* servers whose device answered for them in this poll (their draw and
     * state are fresh, changed or not): what the API's ages count from.
     * A PSU's reading is fresh when it is in psus and not unread. */
    int *read;
    size_t nread, read_cap;
    /* a command device refused a command because it holds this higher
     * epoch (docs/controllers.md "Fencing"): this controller was replaced
     * and the driver commands nothing more; 0: none */
    uint64_t fenced_by;
    /* the epoch a command device was read back holding in this poll when it
     * is this controller's (docs/outage.md "Several controllers"); 0 none */
    uint64_t epoch_held;
    /* battery reserves read in this poll (docs/outage.md) */
    struct driver_reserve_reading *reserves;
    size_t nreserves, reserves_cap;
    /* PSUs read back otherwise than the controller believes (above) */
    struct driver_psu_state *psu_states;
    size_t npsu_states, psu_states_cap;
    /* the devices cannot stand PSUs by after all (a PSU configured with
     * rackpower's extension answered that it has none): balancing plans no
     * standby any more; "" none, else why */
    char no_standby[DRIVER_INPUT_NOTE_LEN];
};

/* Appends to a report; 0, or -1 when out of memory (the report keeps what it
 * had). */
int driver_report_input(struct driver_report *rep, enum policy_input_kind kind, int index,
                        int64_t watts_mw);
/* An input with its own note (input_notes). */
int driver_report_input_note(struct driver_report *rep, enum policy_input_kind kind, int index,
                             int64_t watts_mw, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int driver_report_psu(struct driver_report *rep, const struct driver_psu_reading *x);
/* A reading of PSU psu in which the device says nothing (every figure -1). */
struct driver_psu_reading driver_psu_unknown(int psu);
/* The reading as a row of the history (telemetry_csv.h, docs/prediction.md):
 * t in Unix seconds, figures in V, A, W, °C, RPM, -1 as not read (NaN); the
 * caller names the PSU (row->psu). */
struct tcsv_row;
void driver_psu_row(const struct driver_psu_reading *x, int64_t t, struct tcsv_row *row);
int driver_report_unit(struct driver_report *rep, const struct driver_unit_stats *u);
int driver_report_found(struct driver_report *rep, int server, int64_t cap_mw);
int driver_report_read(struct driver_report *rep, int server);
int driver_report_reserve(struct driver_report *rep, const struct driver_reserve_reading *x);
int driver_report_psu_state(struct driver_report *rep, int psu, bool standby, int64_t share_ppm,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Adds to the note ("; " between parts); what does not fit is cut. */
void driver_report_note(struct driver_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void driver_report_clear(struct driver_report *rep);
void driver_report_free(struct driver_report *rep);

struct driver_ops {
    const char *kind; /* as written in the config: "sim", "modbus-tcp", ... */
    /*
     * Opens the devices of one `devices:` entry. rack is the rack as the
     * controller holds it when the driver starts: its shape and ids (copy what
     * you need, it is freed after open returns), the grants, caps and PSU
     * positions the controller believes in. A driver reconciles with it: it
     * re-applies those positions and grants or reports (first poll) where the
     * devices disagree. May block; returns the instance, or NULL with err.
     */
    void *(*open)(const struct rackfile_device *dev, const struct rack *rack, char *err,
                  size_t errlen);
    /* Reads the devices once, blocking at most timeout_ms in I/O, and appends
     * what it saw to out. Returns 0, or -1 with err (the worker logs it and
     * polls again at the next interval). */
    int (*poll)(void *inst, int timeout_ms, struct driver_report *out, char *err, size_t errlen);
    /* Executes one decision. An action about elements this instance does not
     * drive (another device's PSU, a WAIT) is not an error: return 0. */
    int (*act)(void *inst, const struct policy_action *a, char *err, size_t errlen);
    void (*close)(void *inst);
    /* Optional. A file descriptor that becomes readable when the devices have
     * news (an alert line): the worker then polls at once instead of at the
     * next interval. -1 for none at the moment. */
    int (*fd)(void *inst);
    /* Optional. When the driver wants its next poll, if sooner than the
     * configured interval (a new alarm to confirm), in CLOCK_MONOTONIC ns;
     * INT64_MAX for no wish. */
    int64_t (*next_due_ns)(void *inst);
    /*
     * Optional: drivers of command devices with an owner-epoch register
     * (docs/controllers.md "Fencing and wiring"; the Modbus drivers). Sets
     * the epoch this controller commands with and fences: writes it to every
     * command device of the instance. From then on every command carries
     * it, and the driver puts back no decision made before (its fixes are
     * forgotten: the new primary reads the devices and decides). Returns 0
     * (every command device holds epoch now), -1 with err (one did not
     * answer: the others are fenced, and every later command carries the
     * epoch anyway), or -2 with *seen the higher epoch a device holds (this
     * controller was replaced: it commands nothing). Epoch 0 stands down:
     * the driver commands nothing (act returns -1, no fixes) until fenced
     * again. A driver without it sends bare commands, as a lone controller.
     * act returns -2 for a command refused by a device fenced by a higher
     * epoch; the next poll's report says which (fenced_by).
     */
    int (*fence)(void *inst, uint64_t epoch, uint64_t *seen, char *err, size_t errlen);
};

/* The driver for a device kind, or NULL when this build has none for it. */
const struct driver_ops *driver_find(enum rackfile_device_kind kind);

#endif
