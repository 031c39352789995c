/*
 * http.h - the small HTTP/1.1 client rackpowerctl needs: one request per
 * connection over a plain socket, bodies by Content-Length, chunked
 * transfer coding or until close, and a Server-Sent Events parser.
 * No TLS: rackpowerd listens on 127.0.0.1 by default.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_url {
    char host[256]; /* without brackets for IPv6 */
    char port[8];
    char base[256]; /* path prefix, "" or "/prefix" */
};

/* Parses "http://host[:port][/prefix]" (the scheme may be left out; port
 * defaults to 8470, rackpowerd's). 0, or -1 with err. */
int http_parse_url(const char *url, struct http_url *u, char *err, size_t errlen);
/* "host:port", "[::1]:8470" for messages. */
void http_url_show(const struct http_url *u, char *buf, size_t len);

struct http_response {
    int status;
    char *body; /* NUL-terminated */
    size_t len;
};

/* Sends one request (body may be NULL) and reads the whole answer, waiting at
 * most timeout_ms for each read. When the server cannot be reached err is
 * "cannot reach rackpowerd at HOST:PORT: <reason>". 0, or -1 with err. */
int http_request(const struct http_url *u, const char *method, const char *path, const char *body,
                 int timeout_ms, struct http_response *out, char *err, size_t errlen);
void http_response_free(struct http_response *r);

/* Sends a GET and passes the body to fn as it arrives (de-chunked) until the
 * server closes, fn returns non-zero, or an error. status: the answer's.
 * A non-2xx answer's body is returned whole in out (fn is not called). */
int http_stream(const struct http_url *u, const char *path,
                int (*fn)(void *arg, const char *data, size_t len), void *arg, int *status,
                struct http_response *out, char *err, size_t errlen);

/* Server-Sent Events: feed bytes, get each event's data (the data: lines
 * joined with '\n'), comments and other fields skipped. */
struct http_sse {
    char *line;
    size_t len, cap;
    char *data;
    size_t dlen, dcap;
    bool has_data; /* a data: line since the last event, even an empty one */
};
/* Returns fn's non-zero value (and stops), or 0; -1 when out of memory. */
int http_sse_feed(struct http_sse *s, const char *buf, size_t len,
                  int (*fn)(void *arg, const char *data), void *arg);
void http_sse_free(struct http_sse *s);

#endif
