/*
 * hwdev_conf.c - the keys of a `kind: hwmon` entry of devices: (docs/daemon.md),
 * one PSU read through Linux hwmon (hwdev.c).
 */
#include <stddef.h>

#include "daemonconf_driver.h"
#include "driver_conf.h"

#define DEV(m) offsetof(struct rackfile_device, m)

enum { HWMON_KIND, HWMON_PATH, HWMON_PSU };
static const struct conf_field hwmon_fields[] = {
    [HWMON_KIND] = {"kind", daemonconf_set_kind, .required = true},
    [HWMON_PATH] = {"path", conf_set_path, .required = true, .off = DEV(path)},
    [HWMON_PSU] = {"psu", rackfile_set_ref, .required = true, .off = DEV(psu), .ref = CONF_REF_PSU},
    {"poll_ms", conf_set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true,
     .max = DAEMONCONF_MAX_POLL_MS, .scale = 1e6},
};
static const struct conf_table hwmon_table = {
    .what = "hwmon device", .f = hwmon_fields, .n = sizeof(hwmon_fields) / sizeof(hwmon_fields[0])};

/* The PSU it reads is read by no other device. */
static int check(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_device *dev,
                 const yaml_node_t *vals[])
{
    (void)map;
    return daemonconf_claim(c, DAEMONCONF_READ_PSU, dev->psu, dev->line, vals[HWMON_PSU], "psu");
}

const struct daemonconf_driver hwdev_conf_keys = {
    .kind = "hwmon", .id = RACKFILE_DEV_HWMON, .keys = &hwmon_table, .check = check};
