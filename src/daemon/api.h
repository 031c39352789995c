/*
 * api.h - rackpowerd's HTTP API (libmicrohttpd, JSON; docs/api.md).
 *
 * Requests run on a small pool of threads and never touch the loop's state:
 * reads come from the hub's snapshot and from the journal (a read-only store
 * per request), commands are posted to the loop through the hub and answered
 * when the loop has decided. No request blocks a thread of the pool.
 */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>

#include "daemonconf.h"
#include "hub.h"

#define API_MAX_BODY 4096 /* bytes of a request body */
#define API_MAX_URL 1024  /* bytes of a request path */
#define API_CMD_TIMEOUT_MS 10000
/* Connections (docs/api.md, "Connections"): at most API_MAX_CONNECTIONS in
 * all (fewer when the open files limit cannot be raised for them), at most
 * API_MAX_PER_IP from one address (more are closed at once), and one idle
 * for API_IDLE_TIMEOUT_S (a request that does not come, or comes a byte at
 * a time without ending) is closed. Parked ones (an event stream between
 * events, a command waiting for the loop) do not time out. */
#define API_MAX_CONNECTIONS 1000
#define API_MAX_PER_IP 500
#define API_IDLE_TIMEOUT_S 10
/* libmicrohttpd's own warnings (malformed requests, refused connections):
 * at most this many lines per window, then one line with the count. */
#define API_WARN_BURST 5
#define API_WARN_WINDOW_S 60

struct api_opts {
    const char *listen; /* IPv4 or IPv6 address */
    int port;           /* 0: any free port (see api_port) */
    int keepalive_ms;   /* event streams: a comment when nothing happened for this long */
    const char *db_path;
    const char *hist_path; /* the telemetry history's file (docs/history.md), NULL/"" none */
    struct hub *hub;
    /* who may do what (docs/security.md): the config's api: keys; NULL is
     * the defaults (no tokens, no socket, plain HTTP refusing everything) */
    const struct rackfile_api *conf;
    const char *socket_path; /* the local socket, "" none (auth_socket_default) */
    const char *tokens_path; /* the tokens file, "" none (auth_tokens_default) */
};

struct api;

/* Listens and serves until api_stop. NULL with err when it cannot listen.
 * It becomes the hub's watcher, and raises the process's soft limit on open
 * files to API_MAX_CONNECTIONS and some when it is lower. */
struct api *api_start(const struct api_opts *o, char *err, size_t errlen);
unsigned api_port(const struct api *a);
/* Whether the TCP listener speaks HTTPS. */
bool api_tls(const struct api *a);
/* The local socket it serves, "" when none. */
const char *api_socket(const struct api *a);
/* Reads the tokens file again (a reload): 0 with the count in *n, or -1 with
 * err (the tokens in use stay). Any thread. */
int api_reload_tokens(struct api *a, size_t *n, char *err, size_t errlen);
/* Ends every event stream and waiting command (they answer "stopping"),
 * stops listening and waits for the pool's threads. NULL is fine. */
void api_stop(struct api *a);

#endif
