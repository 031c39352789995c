/*
 * node_io.c - the rack bus over UDP on the loop thread (node_io.h).
 */
#include "node_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "log.h"
#include "monoclock.h"

#define FAULTS_LOOK_NS 50000000LL /* the fault file is looked at every 50 ms at most */

struct peer {
    uint8_t addr;
    struct sockaddr_storage at;
};

struct node_io {
    uv_udp_t sock;  /* bound to listen: every datagram goes out from it */
    uv_udp_t group; /* bound to the multicast port, member of the group */
    bool sock_open, group_open;
    bool multicast;
    struct sockaddr_storage mcast;
    uint8_t self;
    struct peer *peers;
    size_t npeers;
    struct rackbus_key key;
    struct guard guard;
    uint64_t boot_id, seq;
    struct node_io_counters count;
    node_io_receive *receive;
    void *arg;
    struct log_limit forged_log, send_log;
    /* the fault switch */
    char faults[256];
    int64_t faults_looked_ns;
    struct stat faults_st;
    bool faults_had;
    bool drop[256], drop_all, drop_any;
    uint8_t rx[65536];
    uint8_t tx[RACKBUS_MAX_DATAGRAM];
};

static uint64_t random64(void)
{
    uint64_t x = 0;
    /* getrandom never returns less than 256 bytes asked unless interrupted
     * before the pool is ready; then the clock makes it unique enough for a
     * boot id, and a nonce the peer cannot predict is what matters:
     * retried until it is whole */
    while (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x))
        if (errno != EINTR && errno != EAGAIN)
            return (uint64_t)mono_ns() ^ 0x9e3779b97f4a7c15ULL;
    return x;
}

static int sockaddr_of(const struct rackfile_udp *u, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (strchr(u->host, ':'))
        return uv_ip6_addr(u->host, u->port, (struct sockaddr_in6 *)out);
    return uv_ip4_addr(u->host, u->port, (struct sockaddr_in *)out);
}

/* ---- the fault switch ---- */

static void faults_read(struct node_io *io)
{
    memset(io->drop, 0, sizeof(io->drop));
    io->drop_all = io->drop_any = false;
    FILE *f = fopen(io->faults, "r");
    if (!f)
        return;
    char word[32];
    while (fscanf(f, "%31s", word) == 1) {
        char *end;
        long a = strtol(word, &end, 10);
        if (!strcmp(word, "all"))
            io->drop_all = true;
        else if (!*end && a >= 1 && a <= 255)
            io->drop[a] = true;
        else
            log_warnx("rack bus: %s: '%s' is neither a peer's address nor all; ignored", io->faults,
                      word);
    }
    fclose(f);
    for (int a = 1; a < 256; a++)
        io->drop_any = io->drop_any || io->drop[a];
    io->drop_any = io->drop_any || io->drop_all;
    log_info("rack bus: fault switch %s: %s", io->faults,
             io->drop_all   ? "every datagram dropped"
             : io->drop_any ? "datagrams of some peers dropped"
                            : "nothing dropped");
}

/* Reads the fault file again when it changed. */
static void faults_look(struct node_io *io, int64_t now)
{
    if (!io->faults[0] || now - io->faults_looked_ns < FAULTS_LOOK_NS)
        return;
    io->faults_looked_ns = now;
    struct stat st;
    bool has = stat(io->faults, &st) == 0;
    if (!has && !io->faults_had)
        return;
    if (has && io->faults_had && st.st_ino == io->faults_st.st_ino &&
        st.st_size == io->faults_st.st_size && st.st_mtim.tv_sec == io->faults_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == io->faults_st.st_mtim.tv_nsec)
        return;
    io->faults_had = has;
    if (has)
        io->faults_st = st;
    faults_read(io);
}

static bool dropped(struct node_io *io, uint8_t addr)
{
    if (io->drop_all || io->drop[addr]) {
        io->count.dropped++;
        return true;
    }
    return false;
}

/* ---- sending ---- */

static int send_to(struct node_io *io, const struct sockaddr *to, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)io->tx, (unsigned)len);
    int rc = uv_udp_try_send(&io->sock, &b, 1, to);
    if (rc < 0) {
        io->count.send_failed++;
        log_warnx_limited(&io->send_log, "rack bus: a datagram was not sent: %s", uv_strerror(rc));
        return -1;
    }
    io->count.sent++;
    return 0;
}

static const struct peer *peer_of(const struct node_io *io, uint8_t addr)
{
    for (size_t i = 0; i < io->npeers; i++)
        if (io->peers[i].addr == addr)
            return &io->peers[i];
    return NULL;
}

/* Seals m (to: 0 everyone) and sends it. */
static int send_msg(struct node_io *io, uint8_t to, const struct rackbus_msg *m, char *err,
                    size_t errlen)
{
    struct rackbus_msg x = *m;
    x.from = io->self;
    x.to = to;
    x.boot_id = io->boot_id;
    x.seq = ++io->seq;
    size_t len;
    if (rackbus_encode(&x, &io->key, io->tx, sizeof(io->tx), &len, err, errlen))
        return -1;
    faults_look(io, mono_ns());
    if (to) {
        const struct peer *p = peer_of(io, to);
        if (!p) {
            snprintf(err, errlen, "no peer has address %u", to);
            return -1;
        }
        if (!dropped(io, to))
            send_to(io, (const struct sockaddr *)&p->at, len);
        return 0;
    }
    if (io->multicast && !io->drop_any) {
        send_to(io, (const struct sockaddr *)&io->mcast, len);
        return 0;
    }
    for (size_t i = 0; i < io->npeers; i++)
        if (!dropped(io, io->peers[i].addr))
            send_to(io, (const struct sockaddr *)&io->peers[i].at, len);
    return 0;
}

int node_io_send(struct node_io *io, uint8_t to, const struct rackbus_msg *m, char *err,
                 size_t errlen)
{
    return send_msg(io, to, m, err, errlen);
}

/* ---- receiving ---- */

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    (void)want;
    struct node_io *io = h->data;
    *buf = uv_buf_init((char *)io->rx, sizeof(io->rx));
}

static void challenge(struct node_io *io, uint8_t addr, int64_t now)
{
    uint64_t nonce = random64();
    if (!guard_challenge(&io->guard, addr, nonce, now))
        return;
    struct rackbus_msg c = {.type = RACKBUS_CHALLENGE};
    c.u.challenge.nonce = nonce;
    char err[256];
    send_msg(io, addr, &c, err, sizeof(err));
}

static void on_datagram(struct node_io *io, const uint8_t *buf, size_t len)
{
    struct rackbus_msg m;
    char err[256];
    int64_t now = mono_ns();
    io->count.received++;
    if (rackbus_decode(buf, len, &io->key, &m, err, sizeof(err))) {
        guard_forged(&io->guard);
        log_warnx_limited(&io->forged_log, "rack bus: a datagram was dropped as forged: %s", err);
        return;
    }
    if (m.from == io->self)
        return; /* our own, back from the multicast group */
    faults_look(io, now);
    if (dropped(io, m.from))
        return;
    if (m.to && m.to != io->self) {
        io->count.foreign++;
        return;
    }
    switch (guard_check(&io->guard, &m, now)) {
    case GUARD_ACCEPT:
        break;
    case GUARD_REPLAY:
        return;
    case GUARD_UNVERIFIED:
        if (peer_of(io, m.from))
            challenge(io, m.from, now);
        return;
    }
    if (m.type == RACKBUS_CHALLENGE) {
        struct rackbus_msg r = {.type = RACKBUS_RESPONSE};
        r.u.response.nonce = m.u.challenge.nonce;
        if (peer_of(io, m.from))
            send_msg(io, m.from, &r, err, sizeof(err));
        return;
    }
    if (m.type == RACKBUS_RESPONSE)
        return; /* the guard has verified its boot */
    io->receive(io->arg, &m, now);
}

static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    struct node_io *io = h->data;
    if (n < 0) {
        log_warnx_limited(&io->send_log, "rack bus: receive: %s", uv_strerror((int)n));
        return;
    }
    if (!from || n == 0)
        return;                   /* nothing more for now */
    if (flags & UV_UDP_PARTIAL) { /* larger than any message: forged */
        guard_forged(&io->guard);
        return;
    }
    on_datagram(io, (const uint8_t *)buf->base, (size_t)n);
}

/* ---- start and stop ---- */

static int bind_group(struct node_io *io, uv_loop_t *loop, const struct rackfile_node *c, char *err,
                      size_t errlen)
{
    char text[80];
    rackfile_udp_text(&c->multicast, text, sizeof(text));
    struct sockaddr_storage any;
    bool v6 = strchr(c->multicast.host, ':') != NULL;
    if (v6)
        uv_ip6_addr("::", c->multicast.port, (struct sockaddr_in6 *)&any);
    else
        uv_ip4_addr("0.0.0.0", c->multicast.port, (struct sockaddr_in *)&any);
    int rc = uv_udp_init(loop, &io->group);
    if (!rc) {
        io->group_open = true;
        io->group.data = io;
        rc = uv_udp_bind(&io->group, (const struct sockaddr *)&any, UV_UDP_REUSEADDR);
    }
    /* joined on the listen address's interface: the rack's management
     * network, loopback in tests */
    if (!rc)
        rc = uv_udp_set_membership(&io->group, c->multicast.host, v6 ? NULL : c->listen.host,
                                   UV_JOIN_GROUP);
    if (!rc)
        rc = uv_udp_set_multicast_interface(&io->sock, v6 ? NULL : c->listen.host);
    if (!rc)
        rc = uv_udp_set_multicast_loop(&io->sock, 1); /* peers on this host hear it too */
    if (!rc)
        rc = uv_udp_recv_start(&io->group, on_alloc, on_recv);
    if (rc) {
        snprintf(err, errlen, "node: multicast %s: %s", text, uv_strerror(rc));
        return -1;
    }
    return 0;
}

struct node_io *node_io_start(uv_loop_t *loop, const struct rackfile_node *c,
                              const struct rackbus_key *key, node_io_receive *receive, void *arg,
                              char *err, size_t errlen)
{
    struct node_io *io = calloc(1, sizeof(*io));
    if (!io || (c->npeers && !(io->peers = calloc(c->npeers, sizeof(*io->peers))))) {
        free(io);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    io->self = (uint8_t)c->address;
    io->key = *key;
    io->receive = receive;
    io->arg = arg;
    io->boot_id = random64();
    guard_init(&io->guard);
    log_limit_init(&io->forged_log, 5, 60);
    log_limit_init(&io->send_log, 5, 60);
    const char *faults = getenv(NODE_IO_FAULTS_ENV);
    if (faults && faults[0]) {
        snprintf(io->faults, sizeof(io->faults), "%s", faults);
        io->faults_looked_ns = mono_ns() - FAULTS_LOOK_NS;
        faults_look(io, mono_ns());
        log_info("rack bus: fault switch %s (%s)", io->faults, NODE_IO_FAULTS_ENV);
    }
    for (size_t i = 0; i < c->npeers; i++) {
        io->peers[i].addr = (uint8_t)c->peers[i].address;
        if (sockaddr_of(&c->peers[i].at, &io->peers[i].at)) {
            snprintf(err, errlen, "node: peer %d: bad address %s", c->peers[i].address,
                     c->peers[i].at.host);
            goto fail;
        }
    }
    io->npeers = c->npeers;
    char text[80];
    rackfile_udp_text(&c->listen, text, sizeof(text));
    struct sockaddr_storage listen;
    int rc = sockaddr_of(&c->listen, &listen);
    if (!rc)
        rc = uv_udp_init(loop, &io->sock);
    if (!rc) {
        io->sock_open = true;
        io->sock.data = io;
        rc = uv_udp_bind(&io->sock, (const struct sockaddr *)&listen, 0);
    }
    if (!rc)
        rc = uv_udp_recv_start(&io->sock, on_alloc, on_recv);
    if (rc) {
        snprintf(err, errlen, "node: listen %s: %s", text, uv_strerror(rc));
        goto fail;
    }
    if (c->multicast.port) {
        if (sockaddr_of(&c->multicast, &io->mcast) || bind_group(io, loop, c, err, errlen))
            goto fail;
        io->multicast = true;
    }
    return io;
fail:
    node_io_stop(io);
    return NULL;
}

void node_io_counters(const struct node_io *io, struct node_io_counters *c)
{
    *c = io->count;
    c->guard = io->guard.count;
}

static void on_closed(uv_handle_t *h)
{
    struct node_io *io = h->data;
    bool last = h == (uv_handle_t *)&io->sock ? !io->group_open : !io->sock_open;
    if (h == (uv_handle_t *)&io->sock)
        io->sock_open = false;
    else
        io->group_open = false;
    if (last) {
        free(io->peers);
        free(io);
    }
}

void node_io_stop(struct node_io *io)
{
    if (!io)
        return;
    rackbus_key_wipe(&io->key);
    log_limit_fini(&io->forged_log);
    log_limit_fini(&io->send_log);
    if (!io->sock_open && !io->group_open) {
        free(io->peers);
        free(io);
        return;
    }
    /* freed when the last handle has closed (the loop runs once more) */
    if (io->sock_open)
        uv_close((uv_handle_t *)&io->sock, on_closed);
    if (io->group_open)
        uv_close((uv_handle_t *)&io->group, on_closed);
}
