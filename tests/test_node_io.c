/*
 * test_node_io.c - the rack bus over real UDP sockets on loopback
 * (src/daemon/node_io.h): what a peer sends arrives once its boot is
 * verified; forged, replayed and foreign datagrams are dropped and counted;
 * a challenge is answered; the fault switch drops a peer's datagrams.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "node_io.h"
#include "testdir.h"

static uv_loop_t loop;
static struct rackbus_key key;
static char err[512];

/* What a controller heard. */
struct heard {
    int n;
    struct rackbus_msg last;
};

static void on_heard(void *arg, const struct rackbus_msg *m, int64_t now)
{
    (void)now;
    struct heard *h = arg;
    h->n++;
    h->last = *m;
}

/* A free UDP port on 127.0.0.1 (the kernel's choice, then let go). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A raw socket bound on loopback: a peer that speaks bytes. */
static int raw_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void raw_send(int fd, int port, const uint8_t *buf, size_t len)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&a, sizeof(a)), (ssize_t)len);
}

/* Runs the loop for about ms milliseconds (the sockets' callbacks). */
static void spin(int ms)
{
    for (int i = 0; i < ms; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_sleep(1);
    }
}

static void conf(struct rackfile_node *c, int addr, int port, int peer, int peer_port)
{
    static struct rackfile_peer peers[2][1];
    struct rackfile_peer *p = peers[addr & 1];
    memset(c, 0, sizeof(*c));
    c->address = addr;
    snprintf(c->listen.host, sizeof(c->listen.host), "127.0.0.1");
    c->listen.port = port;
    p->address = peer;
    snprintf(p->at.host, sizeof(p->at.host), "127.0.0.1");
    p->at.port = peer_port;
    c->peers = p;
    c->npeers = 1;
    c->heartbeat_ns = 100000000;
    c->missed = 3;
}

/* Controller addr listening on port, its one peer at peer_port, started on
 * the loop; what it hears goes to h. */
static struct node_io *start(int addr, int port, int peer, int peer_port, struct heard *h)
{
    struct rackfile_node c;
    conf(&c, addr, port, peer, peer_port);
    struct node_io *io = node_io_start(&loop, &c, &key, on_heard, h, err, sizeof(err));
    assert_non_null(io);
    return io;
}

/* Seals m under k into buf (RACKBUS_MAX_DATAGRAM) and sends it from the raw
 * socket fd to port. Returns its length, for a replay of the same bytes. */
static size_t raw_send_msg(int fd, int port, const struct rackbus_msg *m,
                           const struct rackbus_key *k, uint8_t *buf)
{
    size_t len;
    assert_int_equal(rackbus_encode(m, k, buf, RACKBUS_MAX_DATAGRAM, &len, err, sizeof(err)), 0);
    raw_send(fd, port, buf, len);
    return len;
}

/* The datagram the raw socket fd has received, decoded. */
static struct rackbus_msg raw_recv_msg(int fd)
{
    uint8_t in[RACKBUS_MAX_DATAGRAM];
    ssize_t n = recv(fd, in, sizeof(in), 0);
    assert_true(n > 0);
    struct rackbus_msg m;
    assert_int_equal(rackbus_decode(in, (size_t)n, &key, &m, err, sizeof(err)), 0);
    return m;
}

static int setup(void **state)
{
    (void)state;
    key.len = 32;
    for (size_t i = 0; i < key.len; i++)
        key.bytes[i] = (uint8_t)(i * 7 + 1);
    unsetenv(NODE_IO_FAULTS_ENV);
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    (void)state;
    uv_run(&loop, UV_RUN_DEFAULT); /* the handles closed by node_io_stop */
    return uv_loop_close(&loop);
}

static struct rackbus_msg heartbeat(uint64_t index)
{
    struct rackbus_msg m = {.type = RACKBUS_HEARTBEAT, .epoch = 0x101};
    m.u.heartbeat.index = index;
    return m;
}

static void test_a_peer_is_heard_once_its_boot_is_verified(void **state)
{
    (void)state;
    int p1 = free_port(), p2 = free_port();
    struct heard h1 = {0}, h2 = {0};
    struct node_io *a = start(1, p1, 2, p2, &h1);
    struct node_io *b = start(2, p2, 1, p1, &h2);
    struct rackbus_msg m = heartbeat(7);
    /* the first is dropped and its boot challenged; the answer verifies it */
    assert_int_equal(node_io_send(a, 0, &m, err, sizeof(err)), 0);
    spin(50);
    assert_int_equal(h2.n, 0);
    struct node_io_counters cb;
    node_io_counters(b, &cb);
    assert_int_equal(cb.guard.unverified, 1);
    assert_int_equal(cb.guard.challenged, 1);
    assert_int_equal(cb.guard.verified, 1);
    /* then it is heard, with who sent it and what */
    assert_int_equal(node_io_send(a, 2, &m, err, sizeof(err)), 0);
    spin(50);
    assert_int_equal(h2.n, 1);
    assert_int_equal(h2.last.type, RACKBUS_HEARTBEAT);
    assert_int_equal(h2.last.from, 1);
    assert_int_equal(h2.last.to, 2);
    assert_int_equal(h2.last.u.heartbeat.index, 7);
    assert_int_equal(h1.n, 0); /* the challenge and its answer are the bus's own */
    /* a peer the config does not name cannot be sent to */
    assert_int_equal(node_io_send(a, 9, &m, err, sizeof(err)), -1);
    assert_string_equal(err, "no peer has address 9");
    node_io_stop(a);
    node_io_stop(b);
}

static void test_forged_replayed_and_foreign_datagrams_are_dropped_and_counted(void **state)
{
    (void)state;
    int pb = free_port(), praw;
    int raw = raw_socket(&praw);
    struct heard h = {0};
    struct node_io *b = start(2, pb, 1, praw, &h); /* peer 1 is the raw socket */
    uint8_t buf[RACKBUS_MAX_DATAGRAM];
    /* bytes that are no message, and a message sealed under another key */
    raw_send(raw, pb, (const uint8_t *)"hello", 5);
    struct rackbus_key other = key;
    other.bytes[0] ^= 1;
    struct rackbus_msg m = heartbeat(1);
    m.from = 1;
    m.boot_id = 0x1234;
    m.seq = 5;
    raw_send_msg(raw, pb, &m, &other, buf);
    spin(30);
    struct node_io_counters cnt;
    node_io_counters(b, &cnt);
    assert_int_equal(cnt.guard.forged, 2);
    assert_int_equal(h.n, 0);
    /* sealed right, from a boot it does not know: challenged */
    raw_send_msg(raw, pb, &m, &key, buf);
    spin(30);
    struct rackbus_msg ch = raw_recv_msg(raw);
    assert_int_equal(ch.type, RACKBUS_CHALLENGE);
    assert_int_equal(ch.from, 2);
    assert_int_equal(ch.to, 1);
    /* the proof, then a message after it: heard */
    struct rackbus_msg r = {
        .type = RACKBUS_RESPONSE, .from = 1, .to = 2, .boot_id = 0x1234, .seq = 6};
    r.u.response.nonce = ch.u.challenge.nonce;
    raw_send_msg(raw, pb, &r, &key, buf);
    m.seq = 7;
    size_t len = raw_send_msg(raw, pb, &m, &key, buf);
    spin(30);
    assert_int_equal(h.n, 1);
    /* the same datagram again: a replay */
    raw_send(raw, pb, buf, len);
    spin(30);
    assert_int_equal(h.n, 1);
    node_io_counters(b, &cnt);
    assert_int_equal(cnt.guard.replayed, 1);
    /* authentic, but for controller 3: not this one's */
    m.seq = 8;
    m.to = 3;
    raw_send_msg(raw, pb, &m, &key, buf);
    spin(30);
    assert_int_equal(h.n, 1);
    node_io_counters(b, &cnt);
    assert_int_equal(cnt.foreign, 1);
    assert_int_equal(cnt.received, 7);
    node_io_stop(b);
    close(raw);
}

static void test_a_challenge_is_answered_with_its_nonce(void **state)
{
    (void)state;
    int pb = free_port(), praw;
    int raw = raw_socket(&praw);
    struct heard h = {0};
    struct node_io *b = start(2, pb, 1, praw, &h); /* peer 1 is the raw socket */
    struct rackbus_msg m = {.type = RACKBUS_CHALLENGE, .from = 1, .to = 2, .boot_id = 9, .seq = 1};
    m.u.challenge.nonce = 0xfeedbeefULL;
    uint8_t buf[RACKBUS_MAX_DATAGRAM];
    raw_send_msg(raw, pb, &m, &key, buf);
    spin(30);
    struct rackbus_msg r = raw_recv_msg(raw);
    assert_int_equal(r.type, RACKBUS_RESPONSE);
    assert_int_equal(r.u.response.nonce, 0xfeedbeefULL);
    assert_int_equal(h.n, 0);
    node_io_stop(b);
    close(raw);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_the_fault_switch_drops_a_peer_both_ways(void **state)
{
    (void)state;
    char dir[64], path[128];
    assert_int_equal(testdir_make(dir, sizeof(dir), path, sizeof(path), "faults"), 0);
    write_file(path, "2\n");
    setenv(NODE_IO_FAULTS_ENV, path, 1);
    int p1 = free_port(), p2 = free_port();
    struct heard h1 = {0}, h2 = {0};
    struct node_io *a = start(1, p1, 2, p2, &h1);
    unsetenv(NODE_IO_FAULTS_ENV);
    struct node_io *b = start(2, p2, 1, p1, &h2);
    /* a's switch names 2: what b sends a is dropped there, what a sends b
     * never leaves */
    struct rackbus_msg m = heartbeat(1);
    assert_int_equal(node_io_send(b, 1, &m, err, sizeof(err)), 0);
    assert_int_equal(node_io_send(a, 2, &m, err, sizeof(err)), 0);
    spin(50);
    struct node_io_counters ca, cb;
    node_io_counters(a, &ca);
    node_io_counters(b, &cb);
    assert_int_equal(ca.dropped, 2);
    assert_int_equal(ca.sent, 0);
    assert_int_equal(cb.received, 0);
    assert_int_equal(ca.guard.unverified + ca.guard.accepted, 0);
    /* the switch emptied: heard again (after the challenge of b's boot) */
    write_file(path, "");
    spin(100);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(node_io_send(b, 1, &m, err, sizeof(err)), 0);
        spin(30);
    }
    assert_true(h1.n >= 2);
    node_io_counters(a, &ca);
    assert_int_equal(ca.dropped, 2);
    node_io_stop(a);
    node_io_stop(b);
    testdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_peer_is_heard_once_its_boot_is_verified, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_forged_replayed_and_foreign_datagrams_are_dropped_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_challenge_is_answered_with_its_nonce, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_fault_switch_drops_a_peer_both_ways, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
