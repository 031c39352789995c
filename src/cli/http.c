/*
 * http.c - rackpowerctl's requests, over libcurl.
 */
#include "http.h"
#include "grow.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT "8470"
#define CONNECT_TIMEOUT_MS 15000L
#define CONNECT_TIMEOUT_SEVERAL_MS 3000L
#define MAX_BODY ((size_t)64 << 20)

int http_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_fini(void)
{
    curl_global_cleanup();
}

static bool scheme_ok(const char *s)
{
    return !strcmp(s, "http") || !strcmp(s, "https");
}

/* One URL into u; 0, or -1 with err. */
static int parse_url(struct http_url *u_out, const char *url, const char *unix_socket, char *err,
                     size_t errlen)
{
    char full[600];
    snprintf(full, sizeof(full), "%s%s", strstr(url, "://") ? "" : "http://", url);
    CURLU *u = curl_url();
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *frag = NULL,
         *user = NULL;
    int rc = -1;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, full, CURLU_NON_SUPPORT_SCHEME);
    if (uc) {
        snprintf(err, errlen, "%s: %s", url, curl_url_strerror(uc));
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    curl_url_get(u, CURLUPART_QUERY, &query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
    curl_url_get(u, CURLUPART_USER, &user, 0);
    if (!scheme || !scheme_ok(scheme)) {
        snprintf(err, errlen, "%s: only http:// and https:// are supported", url);
        goto out;
    }
    if (!host || query || frag || user) {
        snprintf(err, errlen, "%s: expected http[s]://HOST[:PORT][/PREFIX]", url);
        goto out;
    }
    if (port && atoi(port) < 1) {
        snprintf(err, errlen, "%s: bad port", url);
        goto out;
    }
    size_t pl = path ? strlen(path) : 0;
    while (pl && path[pl - 1] == '/')
        pl--;
    const char *p = port ? port : DEFAULT_PORT;
    int n = snprintf(u_out->base, sizeof(u_out->base), "%s://%s:%s%.*s", scheme, host, p, (int)pl,
                     path ? path : "");
    if (n < 0 || (size_t)n >= sizeof(u_out->base)) {
        snprintf(err, errlen, "%s: too long", url);
        goto out;
    }
    if (unix_socket)
        snprintf(u_out->where, sizeof(u_out->where), "%s", unix_socket);
    else
        snprintf(u_out->where, sizeof(u_out->where), "%s:%s", host, p);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(frag);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

int http_api_init(struct http_api *a, const char *urls, const char *cacert, const char *unix_socket,
                  char *err, size_t errlen)
{
    *a = (struct http_api){.cacert = cacert, .unix_socket = unix_socket};
    const char *p = urls;
    for (;;) {
        size_t len = strcspn(p, ",");
        char one[600];
        if (!len || len >= sizeof(one)) {
            snprintf(err, errlen, "%s: %s", urls, len ? "a URL is too long" : "an empty URL");
            return -1;
        }
        if (a->n == HTTP_MAX_URLS) {
            snprintf(err, errlen, "%s: more than %d URLs", urls, HTTP_MAX_URLS);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (parse_url(&a->url[a->n], one, unix_socket, err, errlen))
            return -1;
        a->n++;
        if (!p[len])
            break;
        p += len + 1;
    }
    if (a->n > 1 && unix_socket) {
        snprintf(err, errlen, "%s: several URLs do not go with a Unix-domain socket", urls);
        return -1;
    }
    return 0;
}

void http_response_free(struct http_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* Where the answer's bytes go: a 2xx to fn when there is one, anything else
 * into body (a non-2xx answer is kept whole for its message). */
struct sink {
    CURL *c;
    int (*fn)(void *arg, const char *data, size_t len);
    void *arg;
    char *body;
    size_t len, cap;
    bool too_large, stopped;
};

static bool status_2xx(CURL *c)
{
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code >= 200 && code <= 299;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (s->fn && status_2xx(s->c)) {
        if (s->fn(s->arg, data, n)) {
            s->stopped = true;
            return 0; /* libcurl stops the transfer */
        }
        return n;
    }
    if (grow_to((void **)&s->body, &s->cap, s->len + n + 1, 1, 4096, MAX_BODY)) {
        s->too_large = true;
        return 0;
    }
    memcpy(s->body + s->len, data, n);
    s->len += n;
    s->body[s->len] = '\0';
    return n;
}

/* libcurl's reason, or the system's (Connection refused) when it has one. */
static void explain(CURL *c, CURLcode cc, const char *curl_err, const struct http_url *u, char *err,
                    size_t errlen)
{
    long os_errno = 0, code = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    const char *why = curl_err[0] ? curl_err : curl_easy_strerror(cc);
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
        (cc == CURLE_OPERATION_TIMEDOUT && code == 0))
        snprintf(err, errlen, "cannot reach rackpowerd at %s: %s", u->where,
                 os_errno ? strerror((int)os_errno) : why);
    else
        snprintf(err, errlen, "rackpowerd at %s: %s", u->where, why);
}

/* One request to one URL of a. -1 with err on failure; *connected says
 * whether the server was connected to (a command may have reached it). */
static int exchange(const struct http_api *a, const struct http_url *u, const char *method,
                    const char *path, const char *body, long timeout_ms, struct sink *s,
                    int *status, struct http_response *out, bool *connected, char *err,
                    size_t errlen)
{
    char url[1200], curl_err[CURL_ERROR_SIZE] = "";
    *out = (struct http_response){0};
    *connected = false;
    if ((size_t)snprintf(url, sizeof(url), "%s%s", u->base, path) >= sizeof(url)) {
        snprintf(err, errlen, "request too long");
        return -1;
    }
    CURL *c = curl_easy_init();
    bool get = !strcmp(method, "GET");
    struct curl_slist *head =
        curl_slist_append(NULL, "Accept: application/json, text/event-stream");
    if (!get && head)
        head = curl_slist_append(head, "Content-Type: application/json");
    if (!get && head) /* no 100-continue round trip for a body: send it */
        head = curl_slist_append(head, "Expect:");
    char authz[200];
    if (a->token && head) {
        snprintf(authz, sizeof(authz), "Authorization: Bearer %s", a->token);
        head = curl_slist_append(head, authz);
    }
    if (!c || !head) {
        curl_easy_cleanup(c);
        curl_slist_free_all(head);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->c = c;
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (get) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body ? (long)strlen(body) : 0L);
        if (strcmp(method, "POST"))
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, head);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "rackpowerctl");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* with several controllers, one that is cut off must not hold up the others long */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     a->n > 1 ? CONNECT_TIMEOUT_SEVERAL_MS : CONNECT_TIMEOUT_MS);
    if (timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* libcurl checks the server's certificate and name by default: say so anyway */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, a->cacert);
    if (a->unix_socket)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, a->unix_socket);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);

    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
    *status = (int)code;
    *connected = code != 0 || connect_us > 0;
    int rc = 0;
    if (s->too_large) {
        snprintf(err, errlen, "rackpowerd at %s: answer too large", u->where);
        rc = -1;
    } else if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && s->stopped)) {
        explain(c, cc, curl_err, u, err, errlen);
        rc = -1;
    } else {
        out->status = *status;
        out->body = s->body ? s->body : calloc(1, 1);
        out->len = s->len;
        s->body = NULL;
        if (!out->body) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    free(s->body);
    curl_slist_free_all(head);
    curl_easy_cleanup(c);
    return rc;
}

/* Tries a's URLs in turn from the last that answered (http.h says when it
 * goes on to the next); the errors of all that were tried in err. */
static int exchange_any(struct http_api *a, const char *method, const char *path, const char *body,
                        long timeout_ms, struct sink *proto, int *status, struct http_response *out,
                        char *err, size_t errlen)
{
    bool get = !strcmp(method, "GET");
    size_t used = 0;
    for (size_t k = 0; k < a->n; k++) {
        size_t i = (a->first + k) % a->n;
        struct sink s = *proto;
        bool connected;
        char one[600];
        if (!exchange(a, &a->url[i], method, path, body, timeout_ms, &s, status, out, &connected,
                      one, sizeof(one))) {
            a->first = i;
            return 0;
        }
        /* what went wrong here, after what went wrong before */
        if (!k)
            used = (size_t)snprintf(err, errlen, "%s", one);
        else if (used < errlen)
            used +=
                (size_t)snprintf(err + used, errlen - used, "; %s",
                                 !strncmp(one, "cannot reach rackpowerd ", 24) ? one + 24 : one);
        /* an answer (even a bad one) means it was there; a command that may
         * have arrived is never sent to another */
        if (*status != 0 || (!get && connected))
            return -1;
    }
    return -1;
}

int http_request(struct http_api *a, const char *method, const char *path, const char *body,
                 long timeout_ms, struct http_response *out, char *err, size_t errlen)
{
    struct sink s = {0};
    int status = 0;
    return exchange_any(a, method, path, body, timeout_ms, &s, &status, out, err, errlen);
}

int http_stream(struct http_api *a, const char *path,
                int (*fn)(void *arg, const char *data, size_t len), void *arg, int *status,
                struct http_response *out, char *err, size_t errlen)
{
    struct sink s = {.fn = fn, .arg = arg};
    return exchange_any(a, "GET", path, NULL, 0, &s, status, out, err, errlen);
}
