/*
 * grow.h - the one growable array: every buffer or list that grows as it is
 * filled (a response body, a list of actions, a file being read) grows here,
 * doubling, so each bound and each out-of-memory path reads the same.
 */
#ifndef RP_GROW_H
#define RP_GROW_H

#include <stddef.h>

/* Makes *v (of *cap elements of size bytes) hold at least need elements:
 * doubles from first (at least 1) until it does. 0; or -1, with *v and *cap
 * untouched, when out of memory or when that would pass max elements (0: no
 * bound). */
int grow_to(void **v, size_t *cap, size_t need, size_t size, size_t first, size_t max);

#endif
