/*
 * hwdev.h - the `hwmon` driver (driver.h): one PSU seen by the Linux kernel
 * through hwmon (PMBus), read by the hwmon reader (hwmon.h).
 *
 * One instance is one `hwmon` entry of the config: one directory, one rack
 * PSU. Its debounced health events become policy inputs (failed or
 * unreadable -> psu_fail, degraded -> psu_degrade, ok -> psu_repair), each
 * told once; every good read is reported as telemetry. It has no switches
 * and no servers, so every action is a no-op. Brownout detection across
 * PSUs (hwmon_host_step) needs several PSUs in one instance: not done here.
 */
#ifndef HWDEV_H
#define HWDEV_H

#include "driver.h"
#include "hwmon.h"

extern const struct driver_ops hwdev_ops;

/* A good snapshot as a reading (docs/daemon.md "PSU readings"): the hottest
 * temperature is the hot spot, temp1 the inlet when there are two or more,
 * the fan speed the mean of the fans, the status word what the alarm files
 * show of it (snapshot.status_word). */
void hwdev_psu_reading(int psu, const struct hwmon_snapshot *s, struct driver_psu_reading *x);

#endif
