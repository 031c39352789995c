/*
 * timer_at.h - arms a libuv timer for a deadline on the monotonic clock
 * (mono_ns), the way the loop's timers want it: the policy's restore, the
 * over-draw check, the node's heartbeats, the relay's grace.
 */
#ifndef TIMER_AT_H
#define TIMER_AT_H

#include <stdint.h>
#include <uv.h>

#include "monoclock.h"

/* Starts t to call cb once at deadline_ns (rounded up to the next
 * millisecond; at once when it has passed), or stops it for INT64_MAX (no
 * deadline). */
static inline void timer_at(uv_timer_t *t, uv_timer_cb cb, int64_t deadline_ns)
{
    if (deadline_ns == INT64_MAX) {
        uv_timer_stop(t);
        return;
    }
    int64_t now = mono_ns();
    uint64_t ms = deadline_ns > now ? (uint64_t)((deadline_ns - now + 999999) / 1000000) : 0;
    uv_timer_start(t, cb, ms, 0);
}

#endif
