/*
 * splitmix.h - splitmix64, the one pseudo-random generator of the project:
 * small, fast, and the same sequence for the same seed everywhere (the
 * simulator's utilisation walk, the scenario runner's draws, the property
 * tests' racks). Pure: the state is the caller's.
 */
#ifndef SPLITMIX_H
#define SPLITMIX_H

#include <stdint.h>

/* The next 64 random bits; advances *state. */
uint64_t splitmix64_next(uint64_t *state);
/* Uniform in [0, 1), from the top 53 bits of splitmix64_next. */
double splitmix64_unit(uint64_t *state);

#endif
