/*
 * simrack_fixture.h - the small racks of the simulator's tests (test_physics,
 * test_simdevs, and through simdevs_tcp.h test_mbfence and
 * test_devices_fence) and the simulated hardware made from one, so that the
 * racks they share are written once. Include cmocka.h first: a rack that does
 * not load fails the test.
 */
#ifndef SIMRACK_FIXTURE_H
#define SIMRACK_FIXTURE_H

#include <string.h>

#include "physics.h"
#include "rackfile.h"

/* Two feeds and two buses; the PSUs follow. */
#define SIMRACK_HEAD                                                                               \
    "rack:\n"                                                                                      \
    "  name: t\n"                                                                                  \
    "  feeds: [F1, F2]\n"                                                                          \
    "  buses: [A, B]\n"                                                                            \
    "  psus:\n"

/* One 3000 W PSU on each feed, each able to feed either bus: the switch
 * module has two PSUs to move. More PSUs may follow. */
#define SIMRACK_TWO_PSUS                                                                           \
    SIMRACK_HEAD                                                                                   \
    "    - {id: ps1, capacity_w: 3000, feed: F1, buses: [A, B], bus: A}\n"                         \
    "    - {id: ps2, capacity_w: 3000, feed: F2, buses: [A, B], bus: B}\n"

/* Servers 0 and 1 (a1, a2) in chassis c1 on both buses: what the fencing
 * tests grant and shed. More servers may follow. */
#define SIMRACK_C1_SERVERS                                                                         \
    "  servers:\n"                                                                                 \
    "    - {id: a1, power_w: 1000, priority: 1, buses: [A, B], chassis: c1}\n"                     \
    "    - {id: a2, power_w: 1500, priority: 2, buses: [A, B], chassis: c1}\n"

/* The simulated hardware of rack_text at time 0: seed 7 for the servers'
 * utilisation, an overload carried 1 s before the brown-out (the tests'
 * timings count on these). */
static inline void simrack_phys(struct phys *ph, const char *rack_text)
{
    struct rack r;
    char err[256];
    if (rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &r, NULL, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(phys_init(ph, &r, 7, 1000000000LL, 0), 0);
    rack_free(&r);
}

#endif
