/*
 * mbdev.h - the modbus-tcp and modbus-rtu drivers (driver.h) over the Modbus
 * polling engine (mbdrv.h): ORv3 PSUs, the switch module and chassis modules
 * of a rack, mapped to rack elements by the config's `units:`.
 */
#ifndef MBDEV_H
#define MBDEV_H

#include "driver.h"
#include "orv3.h"

extern const struct driver_ops mbdev_tcp_ops;
extern const struct driver_ops mbdev_rtu_ops;

/* An ORv3 PSU's registers as a reading (docs/daemon.md "PSU readings"): the
 * outlet temperature is its hot spot, the fan speed the mean of its two
 * fans, the status word its alarm registers 60-64 by risk_orv3_status_word. */
void mbdev_psu_reading(int psu, const struct orv3_psu_telemetry *t, struct driver_psu_reading *x);

#endif
