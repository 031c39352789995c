/*
 * simdrv.h - the `sim` driver: an in-process simulated rack whose devices
 * answer at once. It is what rackpowerd manages when no hardware is
 * configured (the embedded default), and what the daemon's tests drive.
 *
 * It is a thin driver over the simulator's physics (src/sim/physics.h):
 * its servers ask for power (the `boot` list at start, the `power_on` steps
 * of its timeline); the controller's decisions are applied to it (a switch
 * moves a PSU, a grant or restore powers a server on, a cap limits it, a
 * shed or release powers it off); its timeline injects faults (psu_fail,
 * bus_fail ...) at their time after start. Each poll reports what changed,
 * the draw of every powered server (physics' power model from `seed`, in
 * whole watts) and the PSUs' readings: what rackpower-sim serve shows over
 * Modbus for the same seed and time.
 */
#ifndef SIMDRV_H
#define SIMDRV_H

#include "driver.h"

extern const struct driver_ops simdrv_ops;

/*
 * The driver's open, poll and act at a given CLOCK_MONOTONIC time now_ns
 * (simdrv_ops passes mono_ns()): the physics runs in that frame, the
 * timeline counts from the open. Public so that a test drives the driver in
 * virtual time.
 */
void *simdrv_open_at(const struct rackfile_device *dev, const struct rack *rack, int64_t now_ns,
                     char *err, size_t errlen);
int simdrv_poll_at(void *inst, int64_t now_ns, struct driver_report *out, char *err, size_t errlen);
int simdrv_act_at(void *inst, const struct policy_action *a, int64_t now_ns, char *err,
                  size_t errlen);

#endif
