/*
 * sse.h - a Server-Sent Events parser, for `rackpowerctl events --follow`:
 * feed it the bytes of a text/event-stream as they come, cut anywhere; it
 * calls back with each event's data (its data: lines joined with '\n').
 * Comments and the other fields (id, event, retry) are skipped.
 */
#ifndef SSE_H
#define SSE_H

#include <stdbool.h>
#include <stddef.h>

struct sse {
    char *line;
    size_t len, cap;
    char *data;
    size_t dlen, dcap;
    bool has_data; /* a data: line since the last event, even an empty one */
};

/* Returns fn's non-zero value (and stops), or 0; -1 when out of memory. */
int sse_feed(struct sse *s, const char *buf, size_t len, int (*fn)(void *arg, const char *data),
             void *arg);
void sse_free(struct sse *s);

#endif
