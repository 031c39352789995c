/*
 * simdevs_tcp.h - for tests: the simulator's own modules (simdevs over
 * physics, the devices of rackpower-sim serve) answered over Modbus TCP on
 * 127.0.0.1 by a thread of the test, so that real Modbus clients (the
 * engine, the driver, the device workers) can be tested against them.
 * setup/teardown per test; srv.port is the port. Static: include it once (the
 * helpers a test may not use are inline, so that it need not).
 */
#ifndef SIMDEVS_TCP_H
#define SIMDEVS_TCP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemonconf.h"
#include "driver_conf.h"
#include "mbsrv.h"
#include "physics.h"
#include "rackmod.h"
#include "rackfile.h"
#include "simdevs.h"
#include "simrack_fixture.h"

#define MAX_CLIENTS 4

/* ---- the simulated modules on a TCP port --------------------------------- */

static struct {
    struct phys ph;
    struct simdevs d;
    int lfd, port;
    pthread_t th;
    pthread_mutex_t mu;
    atomic_int stop;
    int fenced_writes; /* 0x10 requests to RACKMOD_FENCED_CMD */
} srv;

static void answer(int fd, uint8_t *buf, size_t *have)
{
    for (;;) {
        int n = mbsrv_tcp_frame_len(buf, *have);
        if (n <= 0) {
            if (n < 0)
                *have = 0;
            return;
        }
        uint8_t rsp[MBSRV_TCP_MAX];
        pthread_mutex_lock(&srv.mu);
        if (buf[7] == 0x10 && (buf[8] << 8 | buf[9]) == RACKMOD_FENCED_CMD)
            srv.fenced_writes++;
        /* a unit that answers nothing (a silenced BBU): what a gateway says */
        size_t r = simdevs_answers(&srv.d, buf[6])
                       ? mbsrv_handle(&simdevs_ops, &srv.d, buf[6], buf + 7, (size_t)n - 7, rsp + 7)
                       : mbsrv_exception(buf[7], MBSRV_EX_GATEWAY_TARGET, rsp + 7);
        pthread_mutex_unlock(&srv.mu);
        memcpy(rsp, buf, 4);
        rsp[4] = (uint8_t)((r + 1) >> 8);
        rsp[5] = (uint8_t)(r + 1);
        rsp[6] = buf[6];
        if (write(fd, rsp, 7 + r) < 0)
            return;
        memmove(buf, buf + n, *have - (size_t)n);
        *have -= (size_t)n;
    }
}

static void *serve(void *arg)
{
    (void)arg;
    struct pollfd p[1 + MAX_CLIENTS];
    uint8_t buf[MAX_CLIENTS][1024];
    size_t have[MAX_CLIENTS] = {0};
    int nc = 0;
    p[0] = (struct pollfd){.fd = srv.lfd, .events = POLLIN};
    while (!atomic_load(&srv.stop)) {
        if (poll(p, (nfds_t)(1 + nc), 20) <= 0)
            continue;
        for (int i = 0; i < nc; i++) {
            if (!(p[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t k = read(p[1 + i].fd, buf[i] + have[i], sizeof(buf[i]) - have[i]);
            if (k <= 0) { /* the client closed: keep its place, no more reads */
                close(p[1 + i].fd);
                p[1 + i].fd = -1;
                continue;
            }
            have[i] += (size_t)k;
            answer(p[1 + i].fd, buf[i], &have[i]);
        }
        if ((p[0].revents & POLLIN) && nc < MAX_CLIENTS) {
            int c = accept(srv.lfd, NULL, NULL);
            if (c >= 0) {
                have[nc] = 0;
                p[1 + nc++] = (struct pollfd){.fd = c, .events = POLLIN};
            }
        }
    }
    for (int i = 0; i < nc; i++)
        if (p[1 + i].fd >= 0)
            close(p[1 + i].fd);
    return NULL;
}

/* Serves srv.ph, made by the caller. */
static int setup_served(void)
{
    assert_int_equal(simdevs_init(&srv.d, &srv.ph, 0), 0);
    pthread_mutex_init(&srv.mu, NULL);
    srv.fenced_writes = 0;
    atomic_store(&srv.stop, 0);
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(srv.lfd, 8), 0);
    assert_int_equal(getsockname(srv.lfd, (struct sockaddr *)&a, &al), 0);
    srv.port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&srv.th, NULL, serve, NULL), 0);
    return 0;
}

static inline int setup_rack(const char *rack_text)
{
    simrack_phys(&srv.ph, rack_text);
    return setup_served();
}

static int teardown(void **state)
{
    (void)state;
    atomic_store(&srv.stop, 1);
    pthread_join(srv.th, NULL);
    close(srv.lfd);
    simdevs_free(&srv.d);
    phys_free(&srv.ph);
    pthread_mutex_destroy(&srv.mu);
    return 0;
}

/* Loads a daemon config: rack_text, then one modbus-tcp device at srv.port
 * and rest (its other keys, at least units:, and any top-level section after
 * it, such as node:). A config that does not load fails the test. */
static inline void load_tcp_config(const char *rack_text, const char *rest, struct rack *r,
                                   struct rackfile_daemon *dc)
{
    char text[2048], err[256];
    snprintf(text, sizeof(text),
             "%sdevices:\n"
             "  - kind: modbus-tcp\n"
             "    host: 127.0.0.1\n"
             "    port: %d\n"
             "%s",
             rack_text, srv.port, rest);
    if (rackfile_load_config_string("t.yaml", text, strlen(text), driver_conf_keys, r, dc, err,
                                    sizeof(err)))
        fail_msg("%s", err);
}

static inline uint64_t owner(int unit)
{
    pthread_mutex_lock(&srv.mu);
    uint64_t e = simdevs_owner_epoch(&srv.d, unit);
    pthread_mutex_unlock(&srv.mu);
    return e;
}

static inline bool powered(int server)
{
    pthread_mutex_lock(&srv.mu);
    bool on = srv.ph.srv[server].powered;
    pthread_mutex_unlock(&srv.mu);
    return on;
}

#endif
