/*
 * serve_tcp.c - Modbus TCP: listening, clients, MBAP framing (mbsrv.h) and
 * answers queued per client.
 */
#include "serve_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>

/* ---- Modbus TCP ------------------------------------------------------------ */

static void tcp_close(struct tcp_client *c)
{
    close(c->fd);
    c->fd = -1;
    c->inlen = c->outlen = 0;
}

void serve_tcp_flush(struct tcp_client *c)
{
    while (c->outlen) {
        ssize_t w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            tcp_close(c); /* gone: what it did not read goes with it */
            return;
        }
        memmove(c->out, c->out + w, c->outlen - (size_t)w);
        c->outlen -= (size_t)w;
    }
}

static void tcp_frame(struct serve *s, struct tcp_client *c, const uint8_t *f, size_t len,
                      int64_t now)
{
    uint8_t unit = f[6];
    uint8_t rsp[7 + MBSRV_PDU_MAX];
    size_t n;
    if (!simdevs_answers(&s->dev, unit)) {
        n = mbsrv_exception(f[7], MBSRV_EX_GATEWAY_TARGET, rsp + 7);
    } else {
        s->dev.now_ns = now;
        n = mbsrv_handle(&simdevs_ops, &s->dev, unit, f + 7, len - 7, rsp + 7);
        serve_drain(s);
    }
    memcpy(rsp, f, 4); /* transaction and protocol ids */
    rsp[4] = (uint8_t)((n + 1) >> 8);
    rsp[5] = (uint8_t)(n + 1);
    rsp[6] = unit;
    if (c->outlen + 7 + n > sizeof(c->out)) {
        serve_say(s, "tcp: a client does not read its answers; disconnected");
        tcp_close(c);
        return;
    }
    memcpy(c->out + c->outlen, rsp, 7 + n);
    c->outlen += 7 + n;
}

void serve_tcp_read(struct serve *s, struct tcp_client *c, int64_t now)
{
    ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        tcp_close(c); /* gone, maybe mid-request: its partial frame goes with it */
        return;
    }
    if (n < 0)
        return;
    c->inlen += (size_t)n;
    for (;;) {
        int len = mbsrv_tcp_frame_len(c->in, c->inlen);
        if (len < 0) {
            serve_say(s, "tcp: malformed MBAP header (protocol id or length); disconnected");
            tcp_close(c);
            return;
        }
        if (len == 0)
            break;
        tcp_frame(s, c, c->in, (size_t)len, now);
        if (c->fd < 0)
            return;
        memmove(c->in, c->in + len, c->inlen - (size_t)len);
        c->inlen -= (size_t)len;
    }
    serve_tcp_flush(c);
}

int serve_tcp_listen(struct serve *s, char *err, size_t errlen)
{
    char host[256], port[32];
    const char *spec = s->o.tcp, *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1] || (size_t)(colon - spec) >= sizeof(host) ||
        strlen(colon + 1) >= sizeof(port)) {
        snprintf(err, errlen, "--tcp: expected HOST:PORT, got '%s'", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    snprintf(port, sizeof(port), "%s", colon + 1);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g) {
        snprintf(err, errlen, "--tcp %s: %s", spec, gai_strerror(g));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 32)) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "--tcp %s: cannot listen: %s", spec, strerror(saved));
        return -1;
    }
    serve_set_nonblock_cloexec(fd);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char h[256] = "?", p[32] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), p, sizeof(p),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(s->tcp_desc, sizeof(s->tcp_desc), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h,
             p);
    s->tcp_fd = fd;
    return 0;
}

void serve_tcp_accept(struct serve *s)
{
    for (;;) {
        int fd = accept(s->tcp_fd, NULL, NULL);
        if (fd < 0)
            return; /* EAGAIN, or a connection that died in the queue */
        serve_set_nonblock_cloexec(fd);
        int k = 0;
        while (k < MAX_TCP && s->tcp[k].fd >= 0)
            k++;
        if (k == MAX_TCP) {
            serve_say(s, "tcp: %d clients already; a new one is refused", MAX_TCP);
            close(fd);
            continue;
        }
        s->tcp[k].fd = fd;
        s->tcp[k].inlen = s->tcp[k].outlen = 0;
    }
}
