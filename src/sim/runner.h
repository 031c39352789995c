/*
 * runner.h - plays a scenario (rack + timeline) through the policy in
 * virtual time and prints what happened: a readable timeline, or JSON lines.
 */
#ifndef RUNNER_H
#define RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rack.h"
#include "rackfile.h"

struct runner_opts {
    bool json;
    uint64_t seed; /* drives the simulated servers' actual draw */
    FILE *out;
};

/* Loads and plays a scenario file. Returns 0, or -1 with err filled. */
int runner_run_file(const char *path, const struct runner_opts *o, char *err, size_t errlen);

/* Plays an already loaded rack (modified in place) and timeline. */
int runner_run(struct rack *r, const struct rackfile_timeline *tl, const struct runner_opts *o,
               char *err, size_t errlen);

#endif
