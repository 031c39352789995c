/*
 * The monotonic clock, read in one place. Only the shell reads it (daemon,
 * drivers, the simulator's real-time server); core and node code take `now`
 * as an argument and never include this.
 */
#ifndef RP_MONOCLOCK_H
#define RP_MONOCLOCK_H

#include <stdint.h>

#define MONO_NS_PER_S 1000000000LL

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t mono_ns(void);

#endif
