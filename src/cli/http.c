/*
 * http.c - HTTP/1.1 over a socket, for rackpowerctl.
 */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_HEAD 65536
#define MAX_BODY ((size_t)64 << 20)

int http_parse_url(const char *url, struct http_url *u, char *err, size_t errlen)
{
    *u = (struct http_url){.port = "8470"};
    const char *p = url;
    if (!strncmp(p, "http://", 7))
        p += 7;
    else if (strstr(p, "://")) {
        snprintf(err, errlen, "%s: only http:// is supported", url);
        return -1;
    }
    const char *host = p, *host_end;
    if (*p == '[') { /* [v6]:port */
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) {
            snprintf(err, errlen, "%s: missing ']'", url);
            return -1;
        }
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof(u->host)) {
        snprintf(err, errlen, "%s: expected http://HOST[:PORT]", url);
        return -1;
    }
    memcpy(u->host, host, hl);
    if (*p == ':') {
        p++;
        size_t pl = strspn(p, "0123456789");
        long port = strtol(p, NULL, 10);
        if (pl == 0 || pl > 5 || port < 1 || port > 65535 || (p[pl] && p[pl] != '/')) {
            snprintf(err, errlen, "%s: bad port", url);
            return -1;
        }
        snprintf(u->port, sizeof(u->port), "%ld", port);
        p += pl;
    }
    if (*p && *p != '/') {
        snprintf(err, errlen, "%s: expected http://HOST[:PORT]", url);
        return -1;
    }
    size_t bl = strlen(p);
    while (bl && p[bl - 1] == '/')
        bl--;
    if (bl >= sizeof(u->base)) {
        snprintf(err, errlen, "%s: path too long", url);
        return -1;
    }
    memcpy(u->base, p, bl);
    return 0;
}

void http_url_show(const struct http_url *u, char *buf, size_t len)
{
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(buf, len, "%s%s%s:%s", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
}

static int dial(const struct http_url *u, int timeout_ms, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    char where[300];
    http_url_show(u, where, sizeof(where));
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot reach rackpowerd at %s: %s", where, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (timeout_ms > 0) {
            struct timeval tv = {.tv_sec = timeout_ms / 1000,
                                 .tv_usec = (timeout_ms % 1000) * 1000};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect too */
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot reach rackpowerd at %s: %s", where, strerror(e));
    return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A buffered reader over the socket. */
struct rd {
    int fd;
    char buf[16384];
    size_t off, len;
    bool eof;
};

/* Makes bytes available; 0, or -1 on error (errno) or end of stream (eof). */
static int fill(struct rd *r)
{
    if (r->off < r->len)
        return 0;
    for (;;) {
        ssize_t n = recv(r->fd, r->buf, sizeof(r->buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r->eof = n == 0;
            return -1;
        }
        r->off = 0;
        r->len = (size_t)n;
        return 0;
    }
}

/* Reads a line ending in LF (CR dropped), at most len - 1 bytes. */
static int read_line(struct rd *r, char *line, size_t len)
{
    size_t n = 0;
    for (;;) {
        if (fill(r))
            return -1;
        char ch = r->buf[r->off++];
        if (ch == '\n')
            break;
        if (n + 1 >= len)
            return -1;
        line[n++] = ch;
    }
    if (n && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return 0;
}

typedef int sink_fn(void *arg, const char *data, size_t len);

/* Passes up to n bytes (or all until close when n is SIZE_MAX) to fn. */
static int read_body(struct rd *r, size_t n, sink_fn *fn, void *arg, int *stop)
{
    while (n) {
        if (fill(r))
            return n == SIZE_MAX && r->eof ? 0 : -1;
        size_t k = r->len - r->off;
        if (k > n)
            k = n;
        if ((*stop = fn(arg, r->buf + r->off, k)))
            return 0;
        r->off += k;
        if (n != SIZE_MAX)
            n -= k;
    }
    return 0;
}

static int read_chunked(struct rd *r, sink_fn *fn, void *arg, int *stop)
{
    char line[256];
    for (;;) {
        if (read_line(r, line, sizeof(line)))
            return -1;
        char *end;
        errno = 0;
        unsigned long long size = strtoull(line, &end, 16);
        if (end == line || errno || (*end && *end != ';' && *end != ' '))
            return -1;
        if (size == 0) { /* trailers up to the empty line */
            while (!read_line(r, line, sizeof(line)) && line[0])
                ;
            return 0;
        }
        if (read_body(r, (size_t)size, fn, arg, stop) || *stop)
            return *stop ? 0 : -1;
        if (read_line(r, line, sizeof(line)) || line[0])
            return -1;
    }
}

struct buf {
    char *s;
    size_t len, cap;
};

static int buf_sink(void *arg, const char *data, size_t len)
{
    struct buf *b = arg;
    if (b->len + len + 1 > MAX_BODY)
        return -1;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s)
            return -1;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, data, len);
    b->len += len;
    b->s[b->len] = '\0';
    return 0;
}

/* One exchange: sends, reads the head, then the body into fn (or into out
 * for a non-2xx answer when out is given). */
static int exchange(const struct http_url *u, const char *method, const char *path,
                    const char *body, int timeout_ms, sink_fn *fn, void *arg, int *status,
                    struct http_response *out, char *err, size_t errlen)
{
    char where[300], head[2048], line[MAX_HEAD];
    http_url_show(u, where, sizeof(where));
    int fd = dial(u, timeout_ms, err, errlen);
    if (fd < 0)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: rackpowerctl\r\n"
                     "Accept: application/json, text/event-stream\r\nConnection: close\r\n",
                     method, u->base, path, where);
    if (body && n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    if (n > 0 && (size_t)n < sizeof(head))
        n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        snprintf(err, errlen, "request too long");
        close(fd);
        return -1;
    }
    struct rd *r = calloc(1, sizeof(*r));
    if (!r) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->fd = fd;
    int rc = -1, stop = 0;
    if (send_all(fd, head, (size_t)n) || (blen && send_all(fd, body, blen))) {
        snprintf(err, errlen, "%s: cannot send: %s", where, strerror(errno));
        goto out;
    }
    if (read_line(r, line, sizeof(line)) || sscanf(line, "HTTP/1.%*d %d", status) != 1) {
        snprintf(err, errlen, "%s: %s", where,
                 r->eof || !errno ? "no HTTP answer" : strerror(errno));
        goto out;
    }
    size_t length = SIZE_MAX;
    bool chunked = false;
    for (;;) {
        if (read_line(r, line, sizeof(line))) {
            snprintf(err, errlen, "%s: answer cut short", where);
            goto out;
        }
        if (!line[0])
            break;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        const char *v = colon + 1 + strspn(colon + 1, " \t");
        if (!strcasecmp(line, "Content-Length"))
            length = (size_t)strtoull(v, NULL, 10);
        else if (!strcasecmp(line, "Transfer-Encoding") && strstr(v, "chunked"))
            chunked = true;
    }
    struct buf whole = {0};
    bool keep = out && (*status < 200 || *status > 299 || !fn);
    sink_fn *sink = keep ? buf_sink : fn;
    void *sarg = keep ? (void *)&whole : arg;
    int brc =
        chunked ? read_chunked(r, sink, sarg, &stop) : read_body(r, length, sink, sarg, &stop);
    if (keep) {
        out->status = *status;
        out->body = whole.s ? whole.s : calloc(1, 1);
        out->len = whole.len;
        if (stop || !out->body) {
            snprintf(err, errlen, "%s: answer too large", where);
            http_response_free(out);
            goto out;
        }
    }
    if (brc && !stop) {
        snprintf(err, errlen, "%s: answer cut short", where);
        if (keep)
            http_response_free(out);
        goto out;
    }
    rc = 0;
out:
    close(fd);
    free(r);
    return rc;
}

int http_request(const struct http_url *u, const char *method, const char *path, const char *body,
                 int timeout_ms, struct http_response *out, char *err, size_t errlen)
{
    int status = 0;
    *out = (struct http_response){0};
    return exchange(u, method, path, body, timeout_ms, NULL, NULL, &status, out, err, errlen);
}

void http_response_free(struct http_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int http_stream(const struct http_url *u, const char *path, sink_fn *fn, void *arg, int *status,
                struct http_response *out, char *err, size_t errlen)
{
    *out = (struct http_response){0};
    return exchange(u, "GET", path, NULL, 0, fn, arg, status, out, err, errlen);
}

static int grow(char **s, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *n = realloc(*s, c);
    if (!n)
        return -1;
    *s = n;
    *cap = c;
    return 0;
}

/* One complete line of the stream. */
static int sse_line(struct http_sse *s, int (*fn)(void *arg, const char *data), void *arg)
{
    const char *l = s->line;
    if (s->len == 0) { /* blank line: dispatch */
        if (!s->has_data)
            return 0;
        s->data[s->dlen] = '\0';
        s->dlen = 0;
        s->has_data = false;
        return fn(arg, s->data);
    }
    if (l[0] == ':' || strncmp(l, "data", 4) || (l[4] != ':' && l[4] != '\0'))
        return 0; /* a comment, or a field other than data */
    const char *v = l[4] == ':' ? l + 5 : l + 4;
    if (*v == ' ')
        v++;
    size_t vl = s->len - (size_t)(v - l);
    if (grow(&s->data, &s->dcap, s->dlen + vl + 2))
        return -1;
    if (s->has_data)
        s->data[s->dlen++] = '\n';
    memcpy(s->data + s->dlen, v, vl);
    s->dlen += vl;
    s->has_data = true;
    return 0;
}

int http_sse_feed(struct http_sse *s, const char *buf, size_t len,
                  int (*fn)(void *arg, const char *data), void *arg)
{
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == '\n') {
            if (s->len && s->line[s->len - 1] == '\r')
                s->len--;
            if (grow(&s->line, &s->cap, s->len + 1))
                return -1;
            s->line[s->len] = '\0';
            int rc = sse_line(s, fn, arg);
            s->len = 0;
            if (rc)
                return rc;
            continue;
        }
        if (grow(&s->line, &s->cap, s->len + 2))
            return -1;
        s->line[s->len++] = ch;
    }
    return 0;
}

void http_sse_free(struct http_sse *s)
{
    free(s->line);
    free(s->data);
    *s = (struct http_sse){0};
}
