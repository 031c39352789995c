/*
 * splitmix.c - splitmix64 (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", 2014): a Weyl sequence through a mixer.
 */
#include "splitmix.h"

uint64_t splitmix64_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double splitmix64_unit(uint64_t *state)
{
    return (double)(splitmix64_next(state) >> 11) / 9007199254740992.0; /* 2^53 */
}
