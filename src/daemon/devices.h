/*
 * devices.h - runs each driver instance on its own worker thread.
 *
 * A worker opens its driver (retrying every few seconds until it works),
 * then in turn executes the actions queued for it and polls at the device's
 * poll interval; what it sees and every change of health (up, down with the
 * error) it posts back as messages, then wakes the loop. Blocking device I/O
 * therefore never stalls the loop thread, and a dead device stalls only its
 * own worker.
 */
#ifndef DEVICES_H
#define DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "policy.h"
#include "rack.h"
#include "rackfile.h"

enum devices_msg_kind {
    DEVICES_UP,     /* opened, or answering again after errors */
    DEVICES_DOWN,   /* text: what failed (open, poll or act) */
    DEVICES_REPORT, /* rep: what a poll saw (rep.fenced_by: a command was refused) */
    DEVICES_FENCE,  /* the answer to devices_fence: fence, epoch, seen, text */
};

struct devices_msg {
    enum devices_msg_kind kind;
    size_t dev;        /* index in the config's devices */
    int64_t posted_ns; /* when the worker posted it (mono_ns) */
    struct driver_report rep;
    char text[256];
    /* DEVICES_FENCE: the epoch it answers for; fence 0 fenced (or nothing
     * to fence: text says so), -1 not reached (text: why), -2 refused: the
     * device holds seen, a higher epoch (this controller was replaced) */
    uint64_t epoch, seen;
    int fence;
    struct devices_msg *next;
};

struct devices;

/*
 * Starts one worker per device (devs, n: the config's list, which must stay
 * alive and unchanged until devices_stop). Each opens its driver with a copy
 * of rack as it is now. wake(arg) is called from a worker after it posted a
 * message. Returns NULL with err when a kind has no driver or a thread cannot
 * start (nothing is left running then).
 */
struct devices *devices_start(const struct rackfile_device *devs, size_t n, const struct rack *rack,
                              void (*wake)(void *arg), void *arg, char *err, size_t errlen);
/* Queues decisions for every worker (each driver ignores what is not its). */
void devices_act(struct devices *d, const struct policy_action *a, size_t n);
/*
 * Fencing (docs/controllers.md "Fencing and wiring"). Asks every worker to
 * fence its command devices with epoch (driver.h's fence) before any action
 * queued after this call, and from then on to send epoch with every
 * command; epoch 0 stands them down (they command nothing). Each worker
 * answers with one DEVICES_FENCE message: a driver without fence has
 * nothing to fence (0); a worker whose driver is not open answers -1 at once
 * and answers again when it opens. The devices of a clustered config
 * (rackfile_device.clustered) start stood down: their drivers command
 * nothing until fenced with an epoch.
 */
void devices_fence(struct devices *d, uint64_t epoch);
/* The loop tells the rack as it now stands (after each decision), for the
 * drivers still to open. */
void devices_rack(struct devices *d, const struct rack *rack);
/* The messages posted so far, oldest first. */
struct devices_msg *devices_take(struct devices *d);
void devices_msg_free(struct devices_msg *m);
/* Stops the workers, closes the drivers, frees everything. NULL is fine. */
void devices_stop(struct devices *d);
/* "sim", "modbus-tcp 10.0.0.5:502", "hwmon /sys/class/hwmon/hwmon3" */
void devices_describe(const struct rackfile_device *dev, char *buf, size_t len);

#endif
