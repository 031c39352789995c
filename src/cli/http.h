/*
 * http.h - rackpowerctl's requests to rackpowerd's API, over libcurl (its
 * GnuTLS build, docs/dependencies.md): http://, https:// with the server's
 * certificate checked (against the system's CAs, or a given bundle), and
 * Unix-domain sockets.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

/* libcurl's global setup, once before any request, and its teardown. 0 or -1. */
int http_init(void);
void http_fini(void);

/* At most this many controllers in one --api list (a rack has a few). */
#define HTTP_MAX_URLS 8

struct http_url {
    char base[600];  /* "http://127.0.0.1:8470" or ".../prefix", no '/' at the end */
    char where[600]; /* "127.0.0.1:8470", "[::1]:9000" or the socket, for messages */
};

struct http_api {
    struct http_url url[HTTP_MAX_URLS]; /* tried in this order */
    size_t n;                           /* how many */
    size_t first;                       /* where to start: the last that answered */
    const char *cacert;                 /* the CA bundle for https, or NULL for the system's */
    const char *unix_socket; /* connect to this socket instead of the URL's host, or NULL */
    const char *token;       /* sent as "Authorization: Bearer TOKEN", or NULL */
};

/* Takes "[http[s]://]HOST[:PORT][/PREFIX]", or several of them separated by
 * commas (the controllers of one rack, docs/controllers.md): the scheme
 * defaults to http://, the port to 8470 (rackpowerd's). Several URLs do not
 * go with a unix_socket. cacert and unix_socket may be NULL and must outlive
 * a. 0, or -1 with err. */
int http_api_init(struct http_api *a, const char *url, const char *cacert, const char *unix_socket,
                  char *err, size_t errlen);

struct http_response {
    int status;
    char *body; /* NUL-terminated */
    size_t len;
};

/* Sends one request (body may be NULL) and reads the whole answer within
 * timeout_ms. With several URLs, they are tried in order from the last that
 * answered, and the first that answers (any HTTP status) is used and
 * remembered: a read goes on to the next after any failure without an
 * answer; a command (not GET) only when the server could not be connected
 * to at all, so that no command is ever sent twice. When the server cannot
 * be reached err is "cannot reach rackpowerd at WHERE: <reason>", and with
 * several "...; at WHERE2: <reason>" for each one tried. 0, or -1 with err. */
int http_request(struct http_api *a, const char *method, const char *path, const char *body,
                 long timeout_ms, struct http_response *out, char *err, size_t errlen);
void http_response_free(struct http_response *r);

/* Sends a GET and passes the body to fn as it arrives until the server
 * closes, fn returns non-zero, or an error; no time limit once connected.
 * status: the answer's. A non-2xx answer's body is returned whole in out
 * (fn is not called). 0 when the server ended the answer, else -1 with err. */
int http_stream(struct http_api *a, const char *path,
                int (*fn)(void *arg, const char *data, size_t len), void *arg, int *status,
                struct http_response *out, char *err, size_t errlen);

#endif
