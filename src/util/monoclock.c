#include "monoclock.h"

#include <time.h>

int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * MONO_NS_PER_S + ts.tv_nsec;
}
