/*
 * simdrv.h - the `sim` driver: an in-process simulated rack whose devices
 * answer at once. It is what rackpowerd manages when no hardware is
 * configured (the embedded default), and what the daemon's tests drive.
 *
 * Its servers ask for power (the `boot` list at start, the `power_on` steps
 * of its timeline); the controller's decisions are applied to it (a switch
 * moves a PSU, a grant or restore powers a server on, a cap limits it, a
 * shed or release powers it off); its timeline injects faults (psu_fail,
 * bus_fail ...) at their time after start. Each poll reports what changed
 * and the draw of every powered server (the cluster power model of
 * docs/simulator.md, seeded), and the PSUs' output as telemetry.
 */
#ifndef SIMDRV_H
#define SIMDRV_H

#include "driver.h"

extern const struct driver_ops simdrv_ops;

#endif
