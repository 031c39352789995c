/*
 * simdrv_conf.c - the keys of a `kind: sim` entry of devices: (docs/daemon.md),
 * the in-process simulated rack (simdrv.c).
 */
#include <limits.h>
#include <stddef.h>

#include "daemonconf_driver.h"
#include "driver_conf.h"

#define DEV(m) offsetof(struct rackfile_device, m)

static const struct conf_field sim_fields[] = {
    {"kind", daemonconf_set_kind, .required = true},
    {"boot", rackfile_set_ids, .off = DEV(boot), .ref = CONF_REF_SERVER},
    {"timeline", rackfile_set_timeline_at, .off = DEV(timeline)},
    {"seed", conf_set_int, .def = "1", .off = DEV(seed), .max = INT_MAX},
    {"poll_ms", conf_set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true,
     .max = DAEMONCONF_MAX_POLL_MS, .scale = 1e6},
};
static const struct conf_table sim_table = {
    .what = "sim device", .f = sim_fields, .n = sizeof(sim_fields) / sizeof(sim_fields[0])};

const struct daemonconf_driver simdrv_conf_keys = {.kind = "sim",
                                                   .id = RACKFILE_DEV_SIM,
                                                   .keys = &sim_table,
                                                   .whole_rack = true,
                                                   .unfenced_commands = true};
