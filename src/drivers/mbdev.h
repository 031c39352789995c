/*
 * mbdev.h - the modbus-tcp and modbus-rtu drivers (driver.h) over the Modbus
 * polling engine (mbdrv.h): ORv3 PSUs, the switch module and chassis modules
 * of a rack, mapped to rack elements by the config's `units:`.
 */
#ifndef MBDEV_H
#define MBDEV_H

#include "driver.h"

extern const struct driver_ops mbdev_tcp_ops;
extern const struct driver_ops mbdev_rtu_ops;

#endif
