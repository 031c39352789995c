/*
 * driver_conf.c - the list of the drivers' config keys (driver_conf.h).
 */
#include "driver_conf.h"

#include <stddef.h>

#include "daemonconf_driver.h"

const struct daemonconf_driver *const driver_conf_keys[] = {&simdrv_conf_keys,
                                                            &mbdev_tcp_conf_keys,
                                                            &mbdev_rtu_conf_keys,
                                                            &hwdev_conf_keys,
                                                            &ipmi_conf_keys,
                                                            &nut_conf_keys,
                                                            NULL};

const char *driver_kind_name(enum rackfile_device_kind kind)
{
    for (size_t i = 0; driver_conf_keys[i]; i++)
        if (driver_conf_keys[i]->id == kind)
            return driver_conf_keys[i]->kind;
    return "?";
}
