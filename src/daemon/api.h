/*
 * api.h - rackpowerd's HTTP API (libmicrohttpd, JSON; docs/api.md).
 *
 * Requests run on their own threads (one per connection) and never touch
 * the loop's state: reads come from the hub's snapshot and from the journal
 * (a read-only store per request), commands are posted to the loop through
 * the hub and answered when the loop has decided.
 */
#ifndef API_H
#define API_H

#include <stddef.h>

#include "hub.h"

#define API_MAX_BODY 4096 /* bytes of a request body */
#define API_MAX_URL 1024  /* bytes of a request path */
#define API_CMD_TIMEOUT_MS 10000

struct api_opts {
    const char *listen; /* IPv4 or IPv6 address */
    int port;           /* 0: any free port (see api_port) */
    int keepalive_ms;   /* event streams: a comment when nothing happened for this long */
    const char *db_path;
    struct hub *hub;
};

struct api;

/* Listens and serves until api_stop. NULL with err when it cannot listen. */
struct api *api_start(const struct api_opts *o, char *err, size_t errlen);
unsigned api_port(const struct api *a);
/* Stops listening and waits for every request thread. Call hub_shutdown
 * first so that event streams and waiting commands end. NULL is fine. */
void api_stop(struct api *a);

#endif
