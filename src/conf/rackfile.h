/*
 * rackfile.h - loads rack files and scenario files (YAML, docs/rack-file.md).
 *
 * A rack file describes one rack: its feeds, buses, PSUs and servers. A
 * scenario file is a rack file with a `timeline:` of timed inputs for the
 * policy (power on, PSU failure, ...), used by the simulator and the tests.
 *
 * Every mistake in a file is reported as "file:line:column: message" (1-based)
 * naming the key and what is wrong with it. The daemon's config, a rack file
 * with devices and an API, is daemonconf.h; both stand on conf.h.
 */
#ifndef RACKFILE_H
#define RACKFILE_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rack.h"

/* Limits that keep a file from asking for absurd amounts of memory. */
#define RACKFILE_MAX_PSUS 4096
#define RACKFILE_MAX_SERVERS 100000
#define RACKFILE_MAX_INPUTS 10000000 /* timeline inputs, all steps together */

/* Timeline actions that are not policy inputs: outages (docs/outage.md). */
enum rackfile_event_kind {
    RACKFILE_EV_MAINS_FAIL,   /* feed (or -1: every feed) loses mains */
    RACKFILE_EV_MAINS_RETURN, /* feed (or -1: every feed) has mains again */
    RACKFILE_EV_OUTAGE_START, /* the operator's `outage: start` */
    RACKFILE_EV_OUTAGE_END,   /* the operator's `outage: end` */
    RACKFILE_EV_RESERVE_LOST, /* reserve: its readings stop (upsd or the BBU stops answering) */
    RACKFILE_EV_RESERVE_BACK, /* reserve: its readings come back */
};

struct rackfile_event {
    enum rackfile_event_kind kind;
    int index; /* feed (-1 all) or reserve, per kind; -1 for start/end */
};

/* One timeline entry: the inputs to apply, in written order, at at_ns, then
 * the outage events. */
struct rackfile_step {
    int64_t at_ns;
    int line; /* line of the step in the file, for messages */
    size_t ninputs;
    struct policy_input *inputs;
    size_t nevents;
    struct rackfile_event *events;
};

/* Steps in non-decreasing at_ns order. */
struct rackfile_timeline {
    size_t nsteps;
    struct rackfile_step *steps;
};

/*
 * Loads a rack file (tl == NULL: a `timeline:` key is an error) or a scenario
 * file (rack + timeline; a missing timeline is an empty one). r and tl may be
 * uninitialised: r is rack_init'ed first. On success returns 0 and r holds
 * psus/servers/chassis arrays (free them with rack_free, tl with
 * rackfile_timeline_free); servers are off with nothing allocated, draw_mw -1,
 * seq 0; PSUs are healthy with derated_mw = rated_mw. On error returns -1,
 * fills err with "file:line:column: message" and leaves r and tl freed/empty.
 * A file that cannot be read gives "path: cannot open: <strerror>".
 */
int rackfile_load(const char *path, struct rack *r, struct rackfile_timeline *tl, char *err,
                  size_t errlen);
/* Same, from text in memory; name stands for the file in messages. */
int rackfile_load_string(const char *name, const char *text, size_t len, struct rack *r,
                         struct rackfile_timeline *tl, char *err, size_t errlen);
void rackfile_timeline_free(struct rackfile_timeline *tl);

/* Indices of rack elements, in written order. */
struct rackfile_ids {
    size_t n;
    int *v;
};

#endif
