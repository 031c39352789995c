/*
 * reload.h - what a reload (SIGHUP) may change in a running rackpowerd, and
 * the change itself. Pure: racks and device lists in, a verdict and a text
 * out; no I/O, no clock, no log.
 *
 * The policy, the ledger and the drivers all hold indices into the rack, so
 * its shape (the feeds, buses, PSUs, servers and reserves, their order and
 * wiring),
 * the devices, every key of api: and of node: change only with a restart (the tokens
 * file's content is read again on every reload, api.h). Figures
 * change live: the rack's name, protection, on_protection_loss,
 * restore_after_s, holdup_ms, a PSU's capacity and switch, a server's
 * power, minimum and priority.
 */
#ifndef RELOAD_H
#define RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "rack.h"
#include "daemonconf.h"

/* A config as the daemon runs it. */
struct reload_config {
    const struct rack *rack;
    const struct rackfile_device *devs; /* the effective devices (reload_devices) */
    size_t ndevs;
    const struct rackfile_api *api;
    const struct rackfile_node *node; /* NULL: not compared */
};

/*
 * The devices to run: the config's, or the simulated rack when there are
 * none, or with force_sim (which keeps a configured sim device's settings).
 * *devs points into conf or at *simdev.
 */
void reload_devices(const struct rackfile_daemon *conf, bool force_sim,
                    struct rackfile_device *simdev, const struct rackfile_device **devs, size_t *n);

/*
 * Whether next may replace cur live: 0, or -1 with why, the refusal as the
 * operator reads it ("<path>: the rack's shape changed (bus 'c' added); that
 * needs a restart"). path names the config in the text.
 */
int reload_check(const struct reload_config *cur, const struct reload_config *next,
                 const char *path, char *why, size_t len);

/*
 * Copies what may change live from nr into r (same shape: reload_check said
 * so) and lists the changes in what ("protection n+1 -> n+n; p1 capacity_w
 * 3000 -> 2500"), "" when nothing changed. Health and grants follow the new
 * figures: a derating above the new capacity ends, a grant follows its
 * server's power, a cap stays inside the new range (and ends at the top).
 */
void reload_apply(struct rack *r, const struct rack *nr, char *what, size_t len);

/* Appends a change ("what old -> new") to buf, a "; "-separated list of
 * them; what does not fit is left out. */
__attribute__((format(printf, 3, 4))) void reload_note(char *buf, size_t len, const char *fmt, ...);

#endif
