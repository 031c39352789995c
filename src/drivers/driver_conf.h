/*
 * driver_conf.h - the drivers' keys in the daemon config: each driver defines
 * its own (daemonconf_driver.h) in its *_conf.c; the daemon hands this list
 * to rackfile_load_config.
 */
#ifndef DRIVER_CONF_H
#define DRIVER_CONF_H

#include "daemonconf.h"

extern const struct daemonconf_driver simdrv_conf_keys;    /* simdrv_conf.c */
extern const struct daemonconf_driver mbdev_tcp_conf_keys; /* mbdev_conf.c */
extern const struct daemonconf_driver mbdev_rtu_conf_keys; /* mbdev_conf.c */
extern const struct daemonconf_driver hwdev_conf_keys;     /* hwdev_conf.c */
extern const struct daemonconf_driver ipmi_conf_keys;      /* ipmi_conf.c */
extern const struct daemonconf_driver nut_conf_keys;       /* nut_conf.c */

/* Every driver of this build, in the order messages list their kinds;
 * NULL-terminated. */
extern const struct daemonconf_driver *const driver_conf_keys[];

/* A device kind as written in a config ("modbus-tcp"), "?" if unknown. */
const char *driver_kind_name(enum rackfile_device_kind kind);

#endif
