/*
 * fuzz_simrack.h - the demo rack (examples/demo.yaml) for the fuzz targets
 * that need a rack: loaded once, on the first input. RP_SOURCE_DIR is set by
 * cmake/fuzz.cmake. A failure to load is a broken build, not a finding: it
 * aborts with a message.
 */
#ifndef FUZZ_SIMRACK_H
#define FUZZ_SIMRACK_H

#include <stdio.h>
#include <stdlib.h>

#include "rackfile.h"

static const struct rack *fuzz_demo_rack(void)
{
    static struct rack r;
    static int loaded;
    if (!loaded) {
        struct rackfile_timeline tl;
        char err[512];
        if (rackfile_load(RP_SOURCE_DIR "/examples/demo.yaml", &r, &tl, err, sizeof(err))) {
            fprintf(stderr, "fuzz: %s\n", err);
            abort();
        }
        rackfile_timeline_free(&tl);
        loaded = 1;
    }
    return &r;
}

#endif
