/*
 * runner.h - plays a scenario (rack + timeline) through the policy in
 * virtual time and prints what happened: a readable timeline, or JSON lines.
 */
#ifndef RUNNER_H
#define RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "outage_run.h"
#include "rack.h"
#include "rackfile.h"

struct runner_opts {
    bool json;
    uint64_t seed; /* drives the simulated servers' actual draw */
    FILE *out;
    /* bench_outage.c: servers draw their whole grant (no random draw), who
     * decides the stops, and what the outage measured (NULL: nothing) */
    bool full_draw;
    enum orun_strategy strategy;
    struct orun_stats *stats;
};

/* Loads and plays a scenario file. Returns 0, or -1 with err filled. */
int runner_run_file(const char *path, const struct runner_opts *o, char *err, size_t errlen);

/* Plays an already loaded rack (modified in place) and timeline. */
int runner_run(struct rack *r, const struct rackfile_timeline *tl, const struct runner_opts *o,
               char *err, size_t errlen);

#endif
