/*
 * rackfile.h - loads rack files and scenario files (YAML, docs/rack-file.md).
 *
 * A rack file describes one rack: its feeds, buses, PSUs and servers. A
 * scenario file is a rack file with a `timeline:` of timed inputs for the
 * policy (power on, PSU failure, ...), used by the simulator and the tests.
 *
 * Every mistake in a file is reported as "file:line:column: message" (1-based)
 * naming the key and what is wrong with it.
 */
#ifndef RACKFILE_H
#define RACKFILE_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"

/* Limits that keep a file from asking for absurd amounts of memory. */
#define RACKFILE_MAX_PSUS 4096
#define RACKFILE_MAX_SERVERS 100000
#define RACKFILE_MAX_INPUTS 10000000 /* timeline inputs, all steps together */

/* One timeline entry: the inputs to apply, in written order, at at_ns. */
struct rackfile_step {
    int64_t at_ns;
    int line; /* line of the step in the file, for messages */
    size_t ninputs;
    struct policy_input *inputs;
};

/* Steps in non-decreasing at_ns order. */
struct rackfile_timeline {
    size_t nsteps;
    struct rackfile_step *steps;
};

/*
 * Loads a rack file (tl == NULL: a `timeline:` key is an error) or a scenario
 * file (rack + timeline; a missing timeline is an empty one). r and tl may be
 * uninitialised: r is rack_init'ed first. On success returns 0 and r holds
 * psus/servers/chassis arrays (free them with rack_free, tl with
 * rackfile_timeline_free); servers are off with nothing allocated, draw_mw -1,
 * seq 0; PSUs are healthy with derated_mw = rated_mw. On error returns -1,
 * fills err with "file:line:column: message" and leaves r and tl freed/empty.
 * A file that cannot be read gives "path: cannot open: <strerror>".
 */
int rackfile_load(const char *path, struct rack *r, struct rackfile_timeline *tl, char *err,
                  size_t errlen);
/* Same, from text in memory; name stands for the file in messages. */
int rackfile_load_string(const char *name, const char *text, size_t len, struct rack *r,
                         struct rackfile_timeline *tl, char *err, size_t errlen);
void rackfile_timeline_free(struct rackfile_timeline *tl);

/*
 * The daemon's config (docs/daemon.md): a rack file plus `devices:` (where
 * the rack's elements are read and switched) and `api:` (where rackpowerd
 * listens). Only rackfile_load_config accepts these keys; rackfile_load
 * refuses them ("devices: only allowed in a daemon config").
 */
enum rackfile_device_kind {
    RACKFILE_DEV_SIM,        /* the in-process simulated rack */
    RACKFILE_DEV_MODBUS_TCP, /* Modbus TCP gateway or devices */
    RACKFILE_DEV_MODBUS_RTU, /* Modbus RTU on a serial line */
    RACKFILE_DEV_HWMON,      /* one PSU seen through Linux hwmon (PMBus) */
};
enum rackfile_parity { RACKFILE_PARITY_NONE, RACKFILE_PARITY_EVEN, RACKFILE_PARITY_ODD };

/* Indices of rack elements, in written order. */
struct rackfile_ids {
    size_t n;
    int *v;
};

/* What a Modbus unit id is (docs/sim-devices.md has the simulated layouts). */
enum rackfile_unit_role {
    RACKFILE_UNIT_PSU,     /* a PSU (ORv3 PSU registers): psu */
    RACKFILE_UNIT_SWITCH,  /* the switch module: items = PSUs in coil order */
    RACKFILE_UNIT_CHASSIS, /* a chassis module: items = servers in slot order */
};

struct rackfile_unit {
    int unit; /* Modbus unit id, 1 to 255 */
    enum rackfile_unit_role role;
    int psu;                   /* RACKFILE_UNIT_PSU: rack index */
    int chassis;               /* RACKFILE_UNIT_CHASSIS named by chassis: index, else -1 */
    struct rackfile_ids items; /* SWITCH: psu indices; CHASSIS: server indices */
    int line;
};

struct rackfile_device {
    enum rackfile_device_kind kind;
    int line; /* of the entry, for messages */
    int64_t poll_ns;
    int64_t timeout_ns; /* one request's answer (modbus) */
    /* sim */
    struct rackfile_ids boot;          /* servers asking for power at start */
    struct rackfile_timeline timeline; /* events, `at` seconds after start */
    int seed;                          /* of the simulated draw */
    /* modbus-tcp */
    char host[256];
    int port;
    /* modbus-rtu */
    char device[256];
    int baud;
    enum rackfile_parity parity;
    int data_bits, stop_bits;
    /* modbus-tcp and modbus-rtu */
    char alert[256];    /* a Unix socket sending a line per alert (ALERT#), "" for none */
    int64_t reprobe_ns; /* how often a device that stopped answering is tried again */
    size_t nunits;
    struct rackfile_unit *units;
    /* hwmon */
    char path[256];
    int psu;
};

struct rackfile_api {
    char listen[64]; /* an IPv4 or IPv6 address */
    int port;        /* 0: any free port */
    int64_t keepalive_ns;
};

struct rackfile_daemon {
    size_t ndevices;
    struct rackfile_device *devices;
    struct rackfile_api api;
};

/* Loads a daemon config: like rackfile_load, plus `devices:` and `api:` into
 * d (which may be uninitialised; on error it is left empty). A missing
 * `devices:` is an empty list; `api:` defaults to 127.0.0.1:8470. */
int rackfile_load_config(const char *path, struct rack *r, struct rackfile_daemon *d, char *err,
                         size_t errlen);
int rackfile_load_config_string(const char *name, const char *text, size_t len, struct rack *r,
                                struct rackfile_daemon *d, char *err, size_t errlen);
void rackfile_daemon_free(struct rackfile_daemon *d);
const char *rackfile_device_kind_name(enum rackfile_device_kind k);

#endif
