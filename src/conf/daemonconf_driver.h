/*
 * daemonconf_driver.h - what a driver hands the daemon config schema
 * (daemonconf.h) so that its device entries can be read: its kind, the table
 * of its keys and a check of what spans several keys. The schema knows no
 * driver: it walks the list it is given (src/drivers/driver_conf.h has the
 * build's list), so a new driver brings its keys in a file of its own.
 */
#ifndef DAEMONCONF_DRIVER_H
#define DAEMONCONF_DRIVER_H

#include <stdbool.h>

#include "conf.h"
#include "daemonconf.h"
#include "rackfile_fields.h"

/* The bound every driver's poll_ms shares. */
#define DAEMONCONF_MAX_POLL_MS 3600e3

struct daemonconf_driver {
    const char *kind;              /* as written after `kind:`: "modbus-tcp" */
    enum rackfile_device_kind id;  /* stored in the device's kind */
    const struct conf_table *keys; /* "<kind> device"; first row: {"kind", daemonconf_set_kind} */
    /* Simulates the whole rack: it answers for every element, so it is the
     * only entry of `devices:`. */
    bool whole_rack;
    /* Commands the rack (grants, sheds, switches) through devices without
     * an owner-epoch register: its commands cannot be fenced, so a config
     * with node: refuses it (docs/controllers.md "Fencing and wiring"). */
    bool unfenced_commands;
    /* Optional: after the table, checks what depends on several keys or on
     * other entries (daemonconf_claim); vals as for conf_parse_map. */
    int (*check)(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_device *dev,
                 const yaml_node_t *vals[]);
};

/* The setter of each table's `kind` row: the schema has read the kind to pick
 * the table, the row only makes it a known, required key. */
conf_setter daemonconf_set_kind;

/* What an entry of devices: claims of the rack: no element is claimed twice. */
enum daemonconf_claim {
    DAEMONCONF_READ_PSU,       /* a PSU is read by one device */
    DAEMONCONF_SWITCH_PSU,     /* a PSU has one switch */
    DAEMONCONF_CHASSIS_SERVER, /* a server sits in one chassis module */
    DAEMONCONF_READ_RESERVE,   /* a reserve is read by one device (a BBU unit, a NUT ups) */
    DAEMONCONF_BMC_SERVER,     /* a server has one BMC (kind: ipmi) */
    DAEMONCONF_STAGE_SERVER,   /* a server's stage is published by one device (a NUT ups) */
};

/* Claims element i (a psu, server or reserve index) for the entry at line; key and at
 * name the value that claims it in the message when another entry has. */
int daemonconf_claim(struct conf_ctx *c, enum daemonconf_claim what, int i, int line,
                     const yaml_node_t *at, const char *key);

#endif
