/*
 * daemonconf.h - the daemon config schema (docs/daemon.md): a rack file plus
 * `devices:` (where the rack's elements are read and switched) and `api:`
 * (where rackpowerd listens). Only rackfile_load_config accepts these keys;
 * rackfile_load refuses them ("devices: only allowed in a daemon config").
 * Errors are "file:line:column: message", as for rack files (rackfile.h).
 */
#ifndef DAEMONCONF_H
#define DAEMONCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rack.h"
#include "rackfile.h"

/* What a device entry holds once read. The keys that fill it are each
 * driver's own (daemonconf_driver.h, the *_conf.c files of src/drivers); an
 * entry's kind is the id its driver's keys declare. */
enum rackfile_device_kind {
    RACKFILE_DEV_SIM,        /* the in-process simulated rack */
    RACKFILE_DEV_MODBUS_TCP, /* Modbus TCP gateway or devices */
    RACKFILE_DEV_MODBUS_RTU, /* Modbus RTU on a serial line */
    RACKFILE_DEV_HWMON,      /* one PSU seen through Linux hwmon (PMBus) */
    RACKFILE_DEV_NUT,        /* a NUT upsd: reserves of kind ups read, servers' stages
                              * published (docs/outage.md) */
    RACKFILE_DEV_IPMI,       /* one server's BMC over IPMI LAN (libfreeipmi) */
};
enum rackfile_parity { RACKFILE_PARITY_NONE, RACKFILE_PARITY_EVEN, RACKFILE_PARITY_ODD };

/* What a Modbus unit id is (docs/sim-devices.md has the simulated layouts). */
enum rackfile_unit_role {
    RACKFILE_UNIT_PSU,     /* a PSU (ORv3 PSU registers): psu */
    RACKFILE_UNIT_SWITCH,  /* the switch module: items = PSUs in coil order */
    RACKFILE_UNIT_CHASSIS, /* a chassis module: items = servers in slot order */
    RACKFILE_UNIT_BBU,     /* an ORv3 BBU (BBU registers): reserve */
};

/* A PSU unit's registers beyond ORv3 (docs/daemon.md "units"). */
enum rackfile_psu_extension {
    RACKFILE_EXT_NONE,      /* plain ORv3: nothing beyond its registers is read or written */
    RACKFILE_EXT_RACKPOWER, /* rackpower's standby and share block (rackmod.h), as
                             * rackpower-sim serve's PSUs have it */
};

struct rackfile_unit {
    int unit; /* Modbus unit id, 1 to 255 */
    enum rackfile_unit_role role;
    int psu;                   /* RACKFILE_UNIT_PSU: rack index */
    int extension;             /* RACKFILE_UNIT_PSU: enum rackfile_psu_extension */
    int reserve;               /* RACKFILE_UNIT_BBU: rack index */
    int chassis;               /* RACKFILE_UNIT_CHASSIS named by chassis: index, else -1 */
    struct rackfile_ids items; /* SWITCH: psu indices; CHASSIS: server indices */
    int line;
};

/* One UPS name on a NUT upsd: a reserve it reads, or a server whose stage it
 * publishes (a dummy-ups whose status rackpowerd sets; docs/outage.md). */
struct rackfile_nut_ups {
    char ups[64]; /* the UPS name on that upsd */
    int reserve;  /* a reserve of kind ups, or -1 */
    int server;   /* a server, or -1 */
    int line;
};

/* IPMI 2.0 session quirks of some BMCs, named as FreeIPMI's tools name them
 * (`workarounds:` of an ipmi device, docs/daemon.md). */
#define RACKFILE_IPMI_WA_OPENSESSPRIV 0x01 /* keys hashed with the Open Session privilege */
#define RACKFILE_IPMI_WA_INTEL20 0x02
#define RACKFILE_IPMI_WA_SUPERMICRO20 0x04
#define RACKFILE_IPMI_WA_SUN20 0x08

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
    int derate_pct;     /* a degraded PSU's capacity when its registers say no less */
    size_t nunits;
    struct rackfile_unit *units;
    /* hwmon */
    char path[256];
    int psu;
    /* nut (host, port) and ipmi (host, port: 623 by default) */
    char user[64];
    char password_file[256]; /* the password, alone in a file (mode 0600) */
    size_t nups;
    struct rackfile_nut_ups *ups;
    /* ipmi */
    int server;                /* the server whose BMC it is */
    int privilege;             /* the session's: 2 user, 3 operator, 4 admin (IPMI's numbers) */
    int cipher_suite;          /* the RMCP+ cipher suite id */
    unsigned ipmi_workarounds; /* RACKFILE_IPMI_WA_*: a BMC's protocol quirks */
    /* set by the loader when the config has node: (a controller of a
     * cluster): the device's driver commands nothing until fenced */
    bool clustered;
};

#define RACKFILE_API_NAMES 8 /* hosts:, origins: */

/* Who may do what, and over which transports: docs/security.md. */
struct rackfile_api {
    char listen[64]; /* an IPv4 or IPv6 address */
    int port;        /* 0: any free port */
    int64_t keepalive_ns;
    char socket[256];      /* the local Unix socket; "" the default place, "none" no socket */
    char socket_group[64]; /* the socket's group, "" rackpowerd's own */
    int socket_role;       /* what its members may do: 0 none, 1 viewer, 2 operator, 3 admin */
    char tokens[256];      /* the tokens file, "" the default place */
    char tls_cert[256];    /* PEM files: HTTPS when set (both or neither) */
    char tls_key[256];
    int plain_reads;         /* 1: plain HTTP (loopback only) serves reads without a token */
    size_t nhosts, norigins; /* names a Host header may carry; Origins a browser may send */
    char hosts[RACKFILE_API_NAMES][256];
    char origins[RACKFILE_API_NAMES][256];
    int64_t command_rate_milli; /* commands a second per client on average, x1000; 0 no limit */
    int command_burst;          /* ... and at once */
};

/* How much of the journal is kept (docs/daemon.md: pruning). */
struct rackfile_journal {
    int64_t max_age_ns; /* events older than this are pruned */
    int64_t max_bytes;  /* the oldest events are pruned past this much JSON */
};

/* The telemetry history (docs/history.md): where, how long, how big. */
struct rackfile_history {
    int enabled;            /* 1: readings are kept (the default) */
    char path[256];         /* its database; "": the daemon's database path + ".history" */
    int64_t raw_keep_ns;    /* raw readings older than this are pruned */
    int64_t minute_keep_ns; /* 1 min rollups ... */
    int64_t hour_keep_ns;   /* 1 h rollups and labels ... */
    int64_t max_bytes;      /* the oldest (raw first) pruned past this much data */
    int64_t min_free_bytes; /* readings are dropped while the file system has less free */
    int queue;              /* readings waiting for the writer at most; more are dropped */
};

/* An IPv4 or IPv6 address and a UDP port: "127.0.0.1:7301", "[::1]:7301". */
struct rackfile_udp {
    char host[64]; /* the address, without brackets */
    int port;      /* 1 to 65535; 0: none given */
};

struct rackfile_peer {
    int address; /* 1 to 255 */
    struct rackfile_udp at;
    int line;
};

/* This controller as a member of a cluster (docs/controllers.md); address 0:
 * no node: section, a lone controller. */
struct rackfile_node {
    int address; /* 1 to 255 */
    struct rackfile_udp listen;
    size_t npeers;
    struct rackfile_peer *peers;
    struct rackfile_udp multicast; /* port 0: none */
    char key_file[256];
    int64_t heartbeat_ns;
    int missed; /* heartbeats missed before a peer is lost */
    int line;
};

/* Live failure prediction (docs/prediction.md "In rackpowerd"). */
struct rackfile_prediction {
    int enabled;       /* 1 (the default): every PSU's readings go through the model */
    char model[256];   /* the model file; "" the installed default (missing: prediction off) */
    double threshold;  /* at risk from this probability; 0: the model's */
    double time_scale; /* model seconds per second of the clock: 1; a test rig whose simulated
                        * PSUs age hours a second sets more (docs/prediction.md) */
    int64_t sample_s;  /* model seconds between the readings that enter a PSU's window: 60 */
    int line;          /* of the section, 0 when absent */
};

struct rackfile_daemon {
    size_t ndevices;
    struct rackfile_device *devices;
    struct rackfile_api api;
    struct rackfile_journal journal;
    struct rackfile_history history;
    struct rackfile_node node;
    struct rackfile_prediction prediction;
};

struct daemonconf_driver; /* a driver's keys: daemonconf_driver.h */

/* Loads a daemon config: like rackfile_load, plus `devices:`, `api:`, `journal:`, `history:`,
 * `node:` and `prediction:` into d (which may be uninitialised; on error it is left empty). Each
 * entry of devices: is read with the keys of the driver its kind names, among drivers
 * (NULL-terminated; the daemon passes driver_conf_keys, driver_conf.h). A missing `devices:` is an
 * empty list; `api:` defaults to 127.0.0.1:8470, `journal:` to 365 days and 100 MB, `history:` to
 * docs/history.md's defaults, no `node:` to a lone controller (address 0). */
int rackfile_load_config(const char *path, const struct daemonconf_driver *const drivers[],
                         struct rack *r, struct rackfile_daemon *d, char *err, size_t errlen);
int rackfile_load_config_string(const char *name, const char *text, size_t len,
                                const struct daemonconf_driver *const drivers[], struct rack *r,
                                struct rackfile_daemon *d, char *err, size_t errlen);
void rackfile_daemon_free(struct rackfile_daemon *d);

/* Whether two node: sections are the same (a reload refuses a change). */
bool rackfile_node_same(const struct rackfile_node *a, const struct rackfile_node *b);
/* "127.0.0.1:7301", "[::1]:7301" into buf. */
void rackfile_udp_text(const struct rackfile_udp *u, char *buf, size_t len);

#endif
