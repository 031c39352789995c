/*
 * relay_rack.h - the rack built in code that test_relay and fuzz_relay share:
 * six PSUs of 1500 W, healthy, on two feeds in turn (ps1 on F1, ps2 on F2,
 * ...), three reserves (bbu1, bbu2, ups1), no buses or servers: all that a
 * forward can name. Built in code, not loaded, so that the fuzz target needs
 * no file.
 */
#ifndef RELAY_RACK_H
#define RELAY_RACK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    static const char *const reserve_ids[] = {"bbu1", "bbu2", "ups1"};
    const int nres = (int)(sizeof(reserve_ids) / sizeof(*reserve_ids));
    r->reserves = calloc((size_t)nres, sizeof(*r->reserves));
    if (!r->reserves)
        return -1;
    r->nreserves = nres;
    for (int i = 0; i < nres; i++) {
        snprintf(r->reserves[i].id, sizeof(r->reserves[i].id), "%s", reserve_ids[i]);
        r->reserves[i].kind =
            strncmp(reserve_ids[i], "ups", 3) ? RACK_RESERVE_BBU : RACK_RESERVE_UPS;
        r->reserves[i].energy_wh = r->reserves[i].max_w = 1000;
    }
    return 0;
}

#endif
