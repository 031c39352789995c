/*
 * relay_rack.h - the rack built in code that test_relay and fuzz_relay share:
 * six PSUs of 1500 W, healthy, on two feeds in turn (ps1 on F1, ps2 on F2,
 * ...), no buses or servers: all that a forward can name. Built in code, not
 * loaded, so that the fuzz target needs no file.
 */
#ifndef RELAY_RACK_H
#define RELAY_RACK_H

#include <stdio.h>
#include <stdlib.h>

#include "rack.h"

/* Makes r anew (rack_free it after). 0, or -1 when out of memory. */
static inline int relay_rack_build(struct rack *r)
{
    rack_init(r);
    r->nfeeds = 2;
    snprintf(r->feeds[0], sizeof(r->feeds[0]), "F1");
    snprintf(r->feeds[1], sizeof(r->feeds[1]), "F2");
    r->psus = calloc(6, sizeof(*r->psus));
    if (!r->psus)
        return -1;
    r->npsus = 6;
    for (int i = 0; i < 6; i++) {
        snprintf(r->psus[i].id, sizeof(r->psus[i].id), "ps%d", i + 1);
        r->psus[i].rated_mw = r->psus[i].derated_mw = 1500000;
        r->psus[i].feed = i % 2;
        r->psus[i].health = RACK_PSU_OK;
    }
    return 0;
}

#endif
