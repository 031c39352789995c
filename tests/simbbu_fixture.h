/*
 * simbbu_fixture.h - the BBU racks of the simulator's and the driver's BBU
 * tests (test_simbbu, test_bbu_driver): one feed, one PSU on bus A, one
 * server on A alone, and BBU reserves on A, so that a failure of the feed
 * leaves the BBUs alone to carry the server. Include cmocka.h first.
 */
#ifndef SIMBBU_FIXTURE_H
#define SIMBBU_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rack.h"
#include "rackfile.h"

static const char *const simbbu_rack_text =
    "rack:\n"
    "  name: t\n"
    "  feeds: [F1]\n"
    "  buses: [A]\n"
    "  psus:\n"
    "    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A], bus: A}\n"
    "  servers:\n"
    "    - {id: s1, power_w: 1000, priority: 1, buses: [A]}\n";

/* The rack with nbbu reserves of kind bbu on bus A (bbu1, bbu2, ...), each of
 * wh watt-hours and 3000 W, with the rack file's defaults for a bbu. Built in
 * code: the BBUs are the subject here, not the rack file's keys. */
static inline void simbbu_rack(struct rack *r, int nbbu, double wh)
{
    char err[256];
    if (rackfile_load_string("t.yaml", simbbu_rack_text, strlen(simbbu_rack_text), r, NULL, err,
                             sizeof(err)))
        fail_msg("%s", err);
    r->reserves = calloc((size_t)nbbu + 1, sizeof(*r->reserves));
    assert_non_null(r->reserves);
    for (int k = 0; k < nbbu; k++) {
        struct rack_reserve *x = &r->reserves[r->nreserves++];
        snprintf(x->id, sizeof(x->id), "bbu%d", k + 1);
        x->kind = RACK_RESERVE_BBU;
        x->at = 0;
        x->energy_wh = x->wh_left = wh;
        x->max_w = x->rated_w = 3000;
        x->efficiency = 0.95;
        x->peukert = 1.05;
        x->known = true;
        x->to_bus = x->to_server = -1;
    }
}

#endif
