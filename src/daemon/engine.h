/*
 * engine.h - rackpowerd's state and its loop: the one thread that owns the
 * rack, the policy, the ledger and the journal (DESIGN.md: "one thread owns
 * the state and runs the loop").
 *
 * Everything that changes the rack comes to the loop as an input: a device's
 * report (from a worker, src/daemon/devices.c), an operator's command (from
 * an HTTP thread, src/daemon/hub.c), the policy's own deadline, a signal.
 * Each is decided by the pure policy; what lowers power goes to the devices
 * at once, then the decision is journaled with the ledger in one
 * transaction, and only then logged, published (snapshot, event streams)
 * and what raises power handed to the devices (decide.h). docs/daemon.md
 * describes the model.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "rack.h"
#include "daemonconf.h"

struct engine_opts {
    const char *config_path; /* reloaded from on SIGHUP; a name when config_text is set */
    const char *config_text; /* a built-in config (rackpowerd --sim alone), or NULL */
    size_t config_len;
    const char *db_path;
    bool force_sim; /* --sim: manage the in-process simulated rack whatever devices: says */
};

struct engine;

/* Loads o's config: its file, or the built-in text that stands in for it.
 * 0, or -1 and err. */
int engine_load_config(const struct engine_opts *o, struct rack *r, struct rackfile_daemon *d,
                       char *err, size_t errlen);

/*
 * Takes the loaded config (rack and conf are moved into the engine and
 * zeroed), opens the database, restores the ledger, settles, starts the
 * device workers and the API. Returns NULL with err when any of it fails
 * (everything started is stopped again).
 */
struct engine *engine_new(const struct engine_opts *o, struct rack *rack,
                          struct rackfile_daemon *conf, char *err, size_t errlen);
/* The API's port (the chosen one when the config says 0). */
unsigned engine_api_port(const struct engine *e);
/* Runs until SIGTERM or SIGINT. Returns the exit status: 0. */
int engine_run(struct engine *e);
/* Stops the API and the devices, journals the stop, closes the database. */
void engine_free(struct engine *e);

#endif
