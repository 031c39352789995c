/*
 * serve.c - rackpower-sim serve: the simulated rack's devices over Modbus TCP
 * and RTU in real time, faults from a timeline or a control socket, alerts on
 * a socket. One thread and one poll() loop; every descriptor is non-blocking,
 * so no peer (a slow client, one that vanishes mid-request, a flood of
 * garbage) holds up the others.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mbsrv.h"
#include "physics.h"
#include "rackfile.h"
#include "simdevs.h"
#include "monoclock.h"

#define MAX_TCP 64
#define MAX_CTL 16
#define MAX_ALERT 32
#define TCP_OUT_MAX 8192
#define CTL_LINE_MAX 1024
#define MAX_CTL_INPUTS 64
#define DEFAULT_TCP "127.0.0.1:1502"
#define RTU_MIN_SILENCE_NS 5000000LL

struct serve_opts {
    const char *rack_path, *tcp, *rtu, *alert, *control, *scenario;
    int baud;
    char parity; /* 'N', 'E', 'O' */
    uint64_t seed;
    int64_t overload_ns;
};

struct tcp_client {
    int fd; /* -1 when free */
    uint8_t in[2 * MBSRV_TCP_MAX];
    size_t inlen;
    uint8_t out[TCP_OUT_MAX];
    size_t outlen;
};

struct ctl_client {
    int fd;
    char in[CTL_LINE_MAX];
    size_t inlen;
    bool skipping; /* a line too long: dropped up to its newline */
};

struct serve {
    struct serve_opts o;
    struct rack rack;
    struct rackfile_timeline tl; /* scenario steps, indexes into rack */
    size_t next_step;
    struct phys ph;
    bool ph_ok;
    struct simdevs dev;
    bool dev_ok;
    int64_t t0, next_tick;

    int tcp_fd;
    char tcp_desc[128];
    struct tcp_client tcp[MAX_TCP];

    int rtu_fd;
    pid_t socat;
    char rtu_sim[4096];
    bool rtu_links; /* the links are ours to remove */
    uint8_t rtu_buf[4 * MBSRV_RTU_MAX];
    size_t rtu_len;
    int64_t rtu_last_ns, silence_ns;
    bool rtu_discard; /* after a bad frame: drop bytes until the line is silent */

    int ctl_fd;
    struct ctl_client ctl[MAX_CTL];
    int alert_fd;
    int alert[MAX_ALERT];
    bool ctl_path_ours, alert_path_ours;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void say(const struct serve *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct serve *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "rackpower-sim %9.3fs  %s\n", (double)(mono_ns() - s->t0) / 1e9, msg);
}

static void set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* ---- alerts --------------------------------------------------------------- */

static void alert_unit(struct serve *s, int unit)
{
    if (unit <= 0)
        return;
    char line[16];
    int n = snprintf(line, sizeof(line), "unit %d\n", unit);
    for (int k = 0; k < MAX_ALERT; k++) {
        if (s->alert[k] < 0)
            continue;
        ssize_t w = send(s->alert[k], line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w != n) {
            /* a partial line would garble the stream: a client that does not read goes */
            say(s, "alerts: a listener %s; disconnected",
                w < 0 && errno != EAGAIN ? "went away" : "does not read");
            close(s->alert[k]);
            s->alert[k] = -1;
        }
    }
}

/* Logs what the physics reported and raises the alerts it calls for. */
static void drain(struct serve *s)
{
    struct phys *ph = &s->ph;
    for (size_t k = 0; k < ph->nev; k++) {
        const struct phys_event *e = &ph->ev[k];
        switch (e->kind) {
        case PHYS_EV_NOTE:
            say(s, "%s", e->msg);
            break;
        case PHYS_EV_ERROR:
            say(s, "error: %s", e->msg);
            break;
        case PHYS_EV_PSU:
            say(s, "%s", e->msg);
            alert_unit(s, simdevs_psu_unit(&s->dev, e->index));
            break;
        case PHYS_EV_SLOT:
            say(s, "%s", e->msg);
            alert_unit(s, simdevs_server_unit(&s->dev, e->index, NULL));
            break;
        }
    }
    ph->nev = 0;
    if (ph->dropped) {
        say(s, "(%zu log lines dropped)", ph->dropped);
        ph->dropped = 0;
    }
}

/* ---- inputs: scenario steps and control lines ---------------------------- */

static int apply_input(struct serve *s, const struct policy_input *in, const char *source,
                       int64_t now)
{
    char what[128], err[256];
    phys_describe(&s->ph.r, in, what, sizeof(what));
    if (phys_check(&s->ph, in, err, sizeof(err))) {
        say(s, "%s: error: %s", source, err);
        return -1;
    }
    say(s, "%s: %s", source, what);
    phys_apply(&s->ph, in, now, err, sizeof(err));
    drain(s);
    return 0;
}

static void play_steps(struct serve *s, int64_t now)
{
    while (s->next_step < s->tl.nsteps && s->t0 + s->tl.steps[s->next_step].at_ns <= now) {
        const struct rackfile_step *st = &s->tl.steps[s->next_step++];
        char source[64];
        snprintf(source, sizeof(source), "scenario (line %d, at %gs)", st->line,
                 (double)st->at_ns / 1e9);
        for (size_t j = 0; j < st->ninputs; j++)
            apply_input(s, &st->inputs[j], source, now);
    }
    if (s->tl.nsteps && s->next_step == s->tl.nsteps) {
        say(s, "scenario: last step played; serving on");
        s->next_step++; /* said once */
    }
}

/* A name of the scenario's rack in the served rack's indexes. */
static int map_input(const struct rack *from, const struct rack *to, struct policy_input *in,
                     int line, char *err, size_t errlen)
{
    const char *kind = NULL, *id = NULL;
    int idx = -1;
    switch (in->kind) {
    case POLICY_POWER_ON:
    case POLICY_POWER_OFF:
    case POLICY_REMOVE:
    case POLICY_REPORT:
        kind = "server";
        id = from->servers[in->index].id;
        idx = rack_find_server(to, id);
        break;
    case POLICY_PSU_FAIL:
    case POLICY_PSU_DEGRADE:
    case POLICY_PSU_REPAIR:
        kind = "psu";
        id = from->psus[in->index].id;
        idx = rack_find_psu(to, id);
        if (idx >= 0 && in->kind == POLICY_PSU_DEGRADE && in->watts_mw > to->psus[idx].rated_mw) {
            snprintf(err, errlen, "line %d: psu_degrade %s: more than its rated %g W here", line,
                     id, (double)to->psus[idx].rated_mw / 1000);
            return -1;
        }
        break;
    case POLICY_BUS_FAIL:
    case POLICY_BUS_REPAIR:
        kind = "bus";
        id = from->buses[in->index];
        idx = rack_find_bus(to, id);
        break;
    case POLICY_FEED_FAIL:
    case POLICY_FEED_REPAIR:
        kind = "feed";
        id = from->feeds[in->index];
        idx = rack_find_feed(to, id);
        break;
    default:
        snprintf(err, errlen, "line %d: %s is not a simulator input", line,
                 policy_input_name(in->kind));
        return -1;
    }
    if (idx < 0) {
        snprintf(err, errlen, "line %d: %s '%s' is not in the served rack", line, kind, id);
        return -1;
    }
    in->index = idx;
    return 0;
}

static int load_scenario(struct serve *s, char *err, size_t errlen)
{
    struct rack sr;
    char e[512];
    if (rackfile_load(s->o.scenario, &sr, &s->tl, e, sizeof(e))) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    int rc = 0;
    for (size_t k = 0; k < s->tl.nsteps && rc == 0; k++)
        for (size_t j = 0; j < s->tl.steps[k].ninputs && rc == 0; j++)
            if (map_input(&sr, &s->rack, &s->tl.steps[k].inputs[j], s->tl.steps[k].line, e,
                          sizeof(e))) {
                snprintf(err, errlen, "%s: %s", s->o.scenario, e);
                rc = -1;
            }
    rack_free(&sr);
    return rc;
}

static void ctl_reply(struct ctl_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ctl_reply(struct ctl_client *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    /* best effort: a reader that does not read loses its replies, nothing else */
    if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the read side will see the hangup */
    }
}

static void ctl_status(struct serve *s, struct ctl_client *c)
{
    const struct phys *ph = &s->ph;
    const struct rack *r = &ph->r;
    ctl_reply(c, "rack %s at %.3fs", r->name, (double)(mono_ns() - s->t0) / 1e9);
    for (int f = 0; f < r->nfeeds; f++)
        ctl_reply(c, "feed %s %s", r->feeds[f], r->feed_failed[f] ? "failed" : "ok");
    for (int b = 0; b < r->nbuses; b++)
        ctl_reply(c, "bus %s %s load %.0f W capacity %.0f W", r->buses[b],
                  r->bus_failed[b] ? "failed" : "ok", (double)ph->bus_load_mw[b] / 1000,
                  (double)ph->bus_cap_mw[b] / 1000);
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *q = &r->psus[i];
        const struct phys_psu *p = &ph->psu[i];
        ctl_reply(c,
                  "psu %s unit %d bus %s %s capacity %.0f W out %.0f W %.2f V alarms "
                  "%04x %04x %04x %04x %04x",
                  q->id, simdevs_psu_unit(&s->dev, i), q->bus >= 0 ? r->buses[q->bus] : "-",
                  r->feed_failed[q->feed] ? "no-ac" : rack_psu_health_name(q->health),
                  (double)rack_psu_capacity_mw(r, q) / 1000, (double)p->out_mw / 1000,
                  (double)p->vout_mv / 1000, p->alarm[0], p->alarm[1], p->alarm[2], p->alarm[3],
                  p->alarm[4]);
    }
    for (int i = 0; i < r->nservers; i++) {
        const struct phys_server *v = &ph->srv[i];
        int slot = 0, unit = simdevs_server_unit(&s->dev, i, &slot);
        ctl_reply(c, "server %s unit %d slot %d %s %s draw %.0f W cap %.0f W ask %u changes %u",
                  r->servers[i].id, unit, slot, v->present ? "present" : "absent",
                  v->powered ? "on" : "off", (double)v->draw_mw / 1000, (double)v->cap_mw / 1000,
                  v->ask, v->changes);
    }
}

static void ctl_line(struct serve *s, struct ctl_client *c, char *line, int64_t now)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        line[--len] = 0;          /* also "\r\n" line ends */
    for (char *q = line; *q; q++) /* commands are ASCII: keep the log readable */
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
            *q = (*q == '\t') ? ' ' : '?';
    char *p = line;
    while (*p == ' ')
        p++;
    if (!*p || *p == '#')
        return;
    if (strcmp(p, "status") == 0) {
        ctl_status(s, c);
        ctl_reply(c, "ok");
        return;
    }
    if (strcmp(p, "help") == 0) {
        ctl_reply(c, "power_on|power_off|remove SERVER...; psu_fail|psu_repair PSU...; "
                     "psu_degrade PSU WATTS; bus_fail|bus_repair BUS...; "
                     "feed_fail|feed_repair FEED...; report SERVER WATTS; status; help");
        ctl_reply(c, "ok");
        return;
    }
    struct policy_input in[MAX_CTL_INPUTS];
    size_t n = 0;
    char err[256];
    int rc = phys_parse(&s->ph.r, p, in, MAX_CTL_INPUTS, &n, err, sizeof(err));
    for (size_t k = 0; rc == 0 && k < n; k++)
        rc = phys_check(&s->ph, &in[k], err, sizeof(err));
    if (rc) {
        say(s, "control: error: %s (line '%.80s'; nothing changed)", err, p);
        ctl_reply(c, "error: %s", err);
        return;
    }
    int failed = 0;
    for (size_t k = 0; k < n; k++)
        failed += apply_input(s, &in[k], "control", now) != 0;
    if (failed)
        ctl_reply(c, "error: %d of %zu inputs did not apply (see the log)", failed, n);
    else
        ctl_reply(c, "ok");
}

static void ctl_close(struct ctl_client *c)
{
    close(c->fd);
    c->fd = -1;
}

static void ctl_read(struct serve *s, struct ctl_client *c, int64_t now)
{
    char buf[512];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        if (c->inlen && !c->skipping) { /* a last line without its newline */
            c->in[c->inlen] = 0;
            ctl_line(s, c, c->in, now);
        }
        ctl_close(c);
        return;
    }
    for (ssize_t k = 0; k < n; k++) {
        char ch = buf[k];
        if (ch == '\n') {
            if (!c->skipping) {
                c->in[c->inlen] = 0;
                ctl_line(s, c, c->in, now);
            }
            c->inlen = 0;
            c->skipping = false;
        } else if (c->skipping) {
            continue;
        } else if (c->inlen + 1 >= sizeof(c->in) || ch == 0) {
            say(s, "control: error: %s (nothing changed)",
                ch == 0 ? "a NUL byte in a line" : "line too long");
            ctl_reply(c, "error: %s", ch == 0 ? "a NUL byte in the line" : "line too long");
            c->skipping = true;
            c->inlen = 0;
        } else {
            c->in[c->inlen++] = ch;
        }
    }
}

/* ---- Modbus TCP ------------------------------------------------------------ */

static void tcp_close(struct tcp_client *c)
{
    close(c->fd);
    c->fd = -1;
    c->inlen = c->outlen = 0;
}

static void tcp_flush(struct tcp_client *c)
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
    if (simdevs_kind(&s->dev, unit) == SIMDEVS_NONE) {
        n = mbsrv_exception(f[7], MBSRV_EX_GATEWAY_TARGET, rsp + 7);
    } else {
        s->dev.now_ns = now;
        n = mbsrv_handle(&simdevs_ops, &s->dev, unit, f + 7, len - 7, rsp + 7);
        drain(s);
    }
    memcpy(rsp, f, 4); /* transaction and protocol ids */
    rsp[4] = (uint8_t)((n + 1) >> 8);
    rsp[5] = (uint8_t)(n + 1);
    rsp[6] = unit;
    if (c->outlen + 7 + n > sizeof(c->out)) {
        say(s, "tcp: a client does not read its answers; disconnected");
        tcp_close(c);
        return;
    }
    memcpy(c->out + c->outlen, rsp, 7 + n);
    c->outlen += 7 + n;
}

static void tcp_read(struct serve *s, struct tcp_client *c, int64_t now)
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
            say(s, "tcp: malformed MBAP header (protocol id or length); disconnected");
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
    tcp_flush(c);
}

static int tcp_listen(struct serve *s, char *err, size_t errlen)
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
    set_nonblock_cloexec(fd);
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

static void tcp_accept(struct serve *s)
{
    for (;;) {
        int fd = accept(s->tcp_fd, NULL, NULL);
        if (fd < 0)
            return; /* EAGAIN, or a connection that died in the queue */
        set_nonblock_cloexec(fd);
        int k = 0;
        while (k < MAX_TCP && s->tcp[k].fd >= 0)
            k++;
        if (k == MAX_TCP) {
            say(s, "tcp: %d clients already; a new one is refused", MAX_TCP);
            close(fd);
            continue;
        }
        s->tcp[k].fd = fd;
        s->tcp[k].inlen = s->tcp[k].outlen = 0;
    }
}

/* ---- Unix sockets (control, alerts) --------------------------------------- */

static int unix_listen(const char *path, const char *opt, bool *ours, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "%s %s: path too long (at most %zu bytes)", opt, path,
                 sizeof(sa.sun_path) - 1);
        return -1;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s %s: exists and is not a socket", opt, path);
            return -1;
        }
        unlink(path); /* left by an earlier run */
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 16)) {
        snprintf(err, errlen, "%s %s: %s", opt, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *ours = true;
    set_nonblock_cloexec(fd);
    return fd;
}

static int accept_one(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        set_nonblock_cloexec(fd);
    return fd;
}

/* ---- Modbus RTU on a socat pseudo-terminal pair --------------------------- */

static speed_t baud_speed(int baud)
{
    static const struct {
        int baud;
        speed_t speed;
    } t[] = {{1200, B1200},   {2400, B2400},   {4800, B4800},   {9600, B9600},
             {19200, B19200}, {38400, B38400}, {57600, B57600}, {115200, B115200}};
    for (size_t k = 0; k < sizeof(t) / sizeof(*t); k++)
        if (t[k].baud == baud)
            return t[k].speed;
    return (speed_t)0;
}

static bool is_link(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static void rtu_stop(struct serve *s)
{
    if (s->rtu_fd >= 0)
        close(s->rtu_fd);
    s->rtu_fd = -1;
    if (s->socat > 0) {
        kill(s->socat, SIGTERM);
        int st;
        bool gone = false;
        for (int k = 0; k < 200 && !gone; k++) {
            gone = waitpid(s->socat, &st, WNOHANG) != 0;
            if (!gone)
                sleep_ms(10);
        }
        if (!gone) {
            kill(s->socat, SIGKILL);
            waitpid(s->socat, &st, 0);
        }
        s->socat = 0;
    }
    if (s->rtu_links) { /* socat removes them when it ends well; make sure */
        if (is_link(s->o.rtu))
            unlink(s->o.rtu);
        if (is_link(s->rtu_sim))
            unlink(s->rtu_sim);
        s->rtu_links = false;
    }
}

static int rtu_start(struct serve *s, char *err, size_t errlen)
{
    const char *path = s->o.rtu;
    for (const char *p = path; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("/._-+@", *p))) {
            snprintf(err, errlen,
                     "--rtu %s: use only letters, digits and / . _ - + @ in the path (socat "
                     "address syntax)",
                     path);
            return -1;
        }
    if (snprintf(s->rtu_sim, sizeof(s->rtu_sim), "%s.sim", path) >= (int)sizeof(s->rtu_sim)) {
        snprintf(err, errlen, "--rtu: path too long");
        return -1;
    }
    const char *paths[] = {path, s->rtu_sim};
    for (int k = 0; k < 2; k++) {
        struct stat st;
        if (lstat(paths[k], &st) == 0 && !S_ISLNK(st.st_mode)) {
            snprintf(err, errlen, "--rtu: %s exists and is not a link socat made", paths[k]);
            return -1;
        }
    }
    char a1[4200], a2[4200];
    snprintf(a1, sizeof(a1), "pty,raw,echo=0,link=%s", path);
    snprintf(a2, sizeof(a2), "pty,raw,echo=0,link=%s", s->rtu_sim);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "--rtu: fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* socat goes when we go, even on SIGKILL */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        signal(SIGPIPE, SIG_DFL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
        }
        execlp("socat", "socat", a1, a2, (char *)NULL);
        fprintf(stderr, "rackpower-sim: cannot run socat: %s\n", strerror(errno));
        _exit(127);
    }
    s->socat = pid;
    s->rtu_links = true;
    for (int k = 0; k < 500; k++) { /* up to 5 s for socat to make the links */
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->socat = 0;
            snprintf(err, errlen, "--rtu %s: socat ended (status %d) before making the links", path,
                     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            rtu_stop(s);
            return -1;
        }
        if (is_link(path) && is_link(s->rtu_sim))
            break;
        sleep_ms(10);
    }
    s->rtu_fd = open(s->rtu_sim, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct termios t;
    if (s->rtu_fd < 0 || tcgetattr(s->rtu_fd, &t)) {
        snprintf(err, errlen, "--rtu %s: %s", s->rtu_sim, strerror(errno));
        rtu_stop(s);
        return -1;
    }
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON |
                             IXOFF | INPCK);
    t.c_oflag &= ~(tcflag_t)OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    if (s->o.parity != 'N')
        t.c_cflag |= PARENB | (s->o.parity == 'O' ? PARODD : 0);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, baud_speed(s->o.baud));
    cfsetospeed(&t, baud_speed(s->o.baud));
    tcsetattr(s->rtu_fd, TCSANOW, &t);
    tcflush(s->rtu_fd, TCIOFLUSH);
    /* On a pseudo-terminal bytes come in the chunks the client wrote, not at
     * the baud rate; a little more patience than t3.5 keeps a frame that the
     * scheduler split in two from being dropped. */
    s->silence_ns = mbsrv_rtu_silence_ns(s->o.baud);
    if (s->silence_ns < RTU_MIN_SILENCE_NS)
        s->silence_ns = RTU_MIN_SILENCE_NS;
    return 0;
}

static void rtu_frame(struct serve *s, const uint8_t *f, size_t len, int64_t now)
{
    uint8_t unit = f[0];
    /* broadcasts (0) and units nobody serves get no answer, as on a real line */
    if (unit == 0 || simdevs_kind(&s->dev, unit) == SIMDEVS_NONE)
        return;
    uint8_t rsp[MBSRV_RTU_MAX];
    s->dev.now_ns = now;
    size_t n = mbsrv_handle(&simdevs_ops, &s->dev, unit, f + 1, len - 3, rsp + 1);
    drain(s);
    rsp[0] = unit;
    uint16_t crc = mbsrv_crc16(rsp, n + 1);
    rsp[n + 1] = (uint8_t)crc;
    rsp[n + 2] = (uint8_t)(crc >> 8);
    ssize_t w = write(s->rtu_fd, rsp, n + 3);
    if (w != (ssize_t)(n + 3))
        say(s, "rtu: answer to unit %d not sent whole (%s)", unit,
            w < 0 ? strerror(errno) : "line full");
}

/* Frames on the line: a frame ends when its length (from its function code)
 * is complete, or, for functions of unknown length, at t3.5 of silence. */
static void rtu_process(struct serve *s, bool silent, int64_t now)
{
    while (s->rtu_len > 0) {
        int need = mbsrv_rtu_request_len(s->rtu_buf, s->rtu_len);
        if (need > MBSRV_RTU_MAX) {
            s->rtu_discard = true;
            s->rtu_len = 0;
            return;
        }
        if (need > 0 && (size_t)need <= s->rtu_len) {
            uint16_t crc = mbsrv_crc16(s->rtu_buf, (size_t)need - 2);
            if (s->rtu_buf[need - 2] != (uint8_t)crc || s->rtu_buf[need - 1] != (crc >> 8)) {
                s->dev.crc_errors[s->rtu_buf[0]]++;
                say(s, "rtu: bad CRC in a %d-byte frame for unit %d; dropped to the next silence",
                    need, s->rtu_buf[0]);
                s->rtu_discard = !silent;
                s->rtu_len = 0;
                return;
            }
            rtu_frame(s, s->rtu_buf, (size_t)need, now);
            memmove(s->rtu_buf, s->rtu_buf + need, s->rtu_len - (size_t)need);
            s->rtu_len -= (size_t)need;
            continue;
        }
        if (!silent)
            return; /* wait for the rest, or for the silence */
        if (need < 0 && s->rtu_len >= 4) {
            uint16_t crc = mbsrv_crc16(s->rtu_buf, s->rtu_len - 2);
            if (s->rtu_buf[s->rtu_len - 2] == (uint8_t)crc &&
                s->rtu_buf[s->rtu_len - 1] == (crc >> 8)) {
                rtu_frame(s, s->rtu_buf, s->rtu_len, now);
                s->rtu_len = 0;
                return;
            }
        }
        say(s, "rtu: %zu bytes that make no frame dropped at the silence", s->rtu_len);
        s->rtu_len = 0;
    }
}

static void rtu_read(struct serve *s, int64_t now)
{
    for (;;) {
        uint8_t buf[256];
        ssize_t n = read(s->rtu_fd, buf, sizeof(buf));
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                say(s, "rtu: read %s: %s; RTU no longer served", s->rtu_sim, strerror(errno));
                close(s->rtu_fd);
                s->rtu_fd = -1;
            }
            return;
        }
        s->rtu_last_ns = now;
        if (s->rtu_discard)
            continue;
        size_t take = (size_t)n;
        if (s->rtu_len + take > sizeof(s->rtu_buf)) {
            say(s, "rtu: %zu bytes without a frame; dropped", s->rtu_len + take);
            s->rtu_len = 0;
            s->rtu_discard = true;
            continue;
        }
        memcpy(s->rtu_buf + s->rtu_len, buf, take);
        s->rtu_len += take;
        rtu_process(s, false, now);
    }
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: rackpower-sim serve RACK.yaml [--tcp HOST:PORT] [--rtu PATH] [--baud 19200]\n"
          "         [--parity E] [--alert PATH] [--control PATH] [--scenario SCENARIO.yaml]\n"
          "         [--seed N] [--overload-ms 1000]\n"
          "  Serves the rack's PSUs (ORv3), switch module and chassis modules over Modbus\n"
          "  in real time (docs/sim-devices.md).\n"
          "  --tcp HOST:PORT     Modbus TCP (default 127.0.0.1:1502 when no --rtu; port 0:\n"
          "                      any free port, printed in the ready line)\n"
          "  --rtu PATH          Modbus RTU: socat links a pseudo-terminal pair, clients\n"
          "                      open PATH, the simulator serves PATH.sim\n"
          "  --baud N            1200 .. 115200 (default 19200); --parity N|E|O (default E)\n"
          "  --alert PATH        Unix stream socket: 'unit <id>' lines when a device wants\n"
          "                      to be read (alarm change, ask, removal, brown-out)\n"
          "  --control PATH      Unix stream socket taking lines such as 'psu_fail ps3'\n"
          "  --scenario FILE     play the timeline of FILE, 'at' in seconds from start\n"
          "  --seed N            seed of the servers' utilisation walk (default 1)\n"
          "  --overload-ms N     how long a bus may carry more than its PSUs deliver before\n"
          "                      its servers brown out (default 1000)\n",
          f);
}

static int parse_u64(const char *opt, const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-' || v[0] == '+' || x > max) {
        fprintf(stderr, "rackpower-sim serve: %s: '%s' is not an integer from 0 to %llu\n", opt, v,
                (unsigned long long)max);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_args(int argc, char **argv, struct serve_opts *o)
{
    *o = (struct serve_opts){
        .baud = 19200, .parity = 'E', .seed = 1, .overload_ns = PHYS_DEFAULT_OVERLOAD_NS};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **str = strcmp(a, "--tcp") == 0        ? &o->tcp
                           : strcmp(a, "--rtu") == 0      ? &o->rtu
                           : strcmp(a, "--alert") == 0    ? &o->alert
                           : strcmp(a, "--control") == 0  ? &o->control
                           : strcmp(a, "--scenario") == 0 ? &o->scenario
                                                          : NULL;
        bool numeric = strcmp(a, "--baud") == 0 || strcmp(a, "--parity") == 0 ||
                       strcmp(a, "--seed") == 0 || strcmp(a, "--overload-ms") == 0;
        if ((str || numeric) && i + 1 >= argc) {
            fprintf(stderr, "rackpower-sim serve: %s needs a value\n", a);
            return -1;
        }
        uint64_t v;
        if (str) {
            *str = argv[++i];
            if (!**str) {
                fprintf(stderr, "rackpower-sim serve: %s: empty value\n", a);
                return -1;
            }
        } else if (strcmp(a, "--baud") == 0) {
            if (parse_u64(a, argv[++i], 115200, &v))
                return -1;
            if (baud_speed((int)v) == 0) {
                fprintf(stderr,
                        "rackpower-sim serve: --baud: %s is not one of 1200, 2400, 4800, 9600, "
                        "19200, 38400, 57600, 115200\n",
                        argv[i]);
                return -1;
            }
            o->baud = (int)v;
        } else if (strcmp(a, "--parity") == 0) {
            const char *p = argv[++i];
            char c = (char)(p[0] & ~0x20);
            if (p[1] || (c != 'N' && c != 'E' && c != 'O')) {
                fprintf(stderr, "rackpower-sim serve: --parity: expected N, E or O, got '%s'\n", p);
                return -1;
            }
            o->parity = c;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(a, argv[++i], UINT64_MAX, &o->seed))
                return -1;
        } else if (strcmp(a, "--overload-ms") == 0) {
            if (parse_u64(a, argv[++i], 3600000, &v))
                return -1;
            o->overload_ns = (int64_t)v * 1000000;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "rackpower-sim serve: unknown option '%s'\n", a);
            usage(stderr);
            return -1;
        } else if (o->rack_path) {
            fprintf(stderr, "rackpower-sim serve: one rack at a time ('%s' and '%s')\n",
                    o->rack_path, a);
            return -1;
        } else {
            o->rack_path = a;
        }
    }
    if (!o->rack_path) {
        usage(stderr);
        return -1;
    }
    if (!o->tcp && !o->rtu)
        o->tcp = DEFAULT_TCP;
    return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static int64_t next_deadline(const struct serve *s)
{
    int64_t d = s->next_tick, p = phys_next_deadline(&s->ph);
    if (p < d)
        d = p;
    if (s->next_step < s->tl.nsteps && s->t0 + s->tl.steps[s->next_step].at_ns < d)
        d = s->t0 + s->tl.steps[s->next_step].at_ns;
    if (s->rtu_fd >= 0 && (s->rtu_len || s->rtu_discard) && s->rtu_last_ns + s->silence_ns < d)
        d = s->rtu_last_ns + s->silence_ns;
    return d;
}

enum { SLOT_TCP_LISTEN, SLOT_RTU, SLOT_CTL_LISTEN, SLOT_ALERT_LISTEN, SLOT_FIXED };

static int run(struct serve *s)
{
    struct pollfd fds[SLOT_FIXED + MAX_TCP + MAX_CTL + MAX_ALERT];
    while (!stop_signal) {
        int64_t now = mono_ns();
        int64_t d = next_deadline(s);
        int timeout = d <= now ? 0 : (int)((d - now + 999999) / 1000000);
        if (timeout > 1000)
            timeout = 1000;
        fds[SLOT_TCP_LISTEN] = (struct pollfd){.fd = s->tcp_fd, .events = POLLIN};
        fds[SLOT_RTU] = (struct pollfd){.fd = s->rtu_fd, .events = POLLIN};
        fds[SLOT_CTL_LISTEN] = (struct pollfd){.fd = s->ctl_fd, .events = POLLIN};
        fds[SLOT_ALERT_LISTEN] = (struct pollfd){.fd = s->alert_fd, .events = POLLIN};
        int n = SLOT_FIXED;
        for (int k = 0; k < MAX_TCP; k++)
            fds[n++] = (struct pollfd){
                .fd = s->tcp[k].fd, .events = (short)(POLLIN | (s->tcp[k].outlen ? POLLOUT : 0))};
        for (int k = 0; k < MAX_CTL; k++)
            fds[n++] = (struct pollfd){.fd = s->ctl[k].fd, .events = POLLIN};
        for (int k = 0; k < MAX_ALERT; k++)
            fds[n++] = (struct pollfd){.fd = s->alert[k], .events = POLLIN};
        int rc = poll(fds, (nfds_t)n, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            say(s, "poll: %s", strerror(errno));
            return 1;
        }
        now = mono_ns();

        /* time first: the physics, the timeline, the line's silence */
        if (now >= s->next_tick || phys_next_deadline(&s->ph) <= now) {
            phys_step(&s->ph, now);
            drain(s);
            if (now >= s->next_tick) {
                s->next_tick += PHYS_TICK_NS;
                if (s->next_tick <= now)
                    s->next_tick = now + PHYS_TICK_NS;
            }
        }
        play_steps(s, now);
        if (s->rtu_fd >= 0 && now - s->rtu_last_ns >= s->silence_ns) {
            s->rtu_discard = false;
            if (s->rtu_len)
                rtu_process(s, true, now);
        }
        if (rc == 0)
            continue;

        if (fds[SLOT_TCP_LISTEN].revents)
            tcp_accept(s);
        if (s->rtu_fd >= 0 && (fds[SLOT_RTU].revents & (POLLIN | POLLERR | POLLHUP)))
            rtu_read(s, now);
        if (fds[SLOT_CTL_LISTEN].revents) {
            int fd;
            while ((fd = accept_one(s->ctl_fd)) >= 0) {
                int k = 0;
                while (k < MAX_CTL && s->ctl[k].fd >= 0)
                    k++;
                if (k == MAX_CTL) {
                    close(fd);
                    continue;
                }
                s->ctl[k] = (struct ctl_client){.fd = fd};
            }
        }
        if (fds[SLOT_ALERT_LISTEN].revents) {
            int fd;
            while ((fd = accept_one(s->alert_fd)) >= 0) {
                int k = 0;
                while (k < MAX_ALERT && s->alert[k] >= 0)
                    k++;
                if (k == MAX_ALERT) {
                    say(s, "alerts: %d listeners already; a new one is refused", MAX_ALERT);
                    close(fd);
                    continue;
                }
                s->alert[k] = fd;
            }
        }
        int at = SLOT_FIXED;
        for (int k = 0; k < MAX_TCP; k++, at++) {
            struct tcp_client *c = &s->tcp[k];
            if (c->fd < 0 || fds[at].fd != c->fd || !fds[at].revents)
                continue;
            if (fds[at].revents & (POLLIN | POLLERR | POLLHUP))
                tcp_read(s, c, now);
            if (c->fd >= 0 && c->outlen)
                tcp_flush(c);
        }
        for (int k = 0; k < MAX_CTL; k++, at++)
            if (s->ctl[k].fd >= 0 && fds[at].fd == s->ctl[k].fd && fds[at].revents)
                ctl_read(s, &s->ctl[k], now);
        for (int k = 0; k < MAX_ALERT; k++, at++) {
            if (s->alert[k] < 0 || fds[at].fd != s->alert[k] || !fds[at].revents)
                continue;
            char junk[256]; /* listeners only listen: what they send is ignored */
            ssize_t r = recv(s->alert[k], junk, sizeof(junk), MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                close(s->alert[k]);
                s->alert[k] = -1;
            }
        }
        if (s->socat > 0) {
            int st;
            if (waitpid(s->socat, &st, WNOHANG) == s->socat) {
                s->socat = 0;
                say(s, "rtu: socat ended; RTU no longer served");
                if (s->rtu_fd >= 0)
                    close(s->rtu_fd);
                s->rtu_fd = -1;
                if (s->tcp_fd < 0)
                    return 1;
            }
        }
    }
    say(s, "stopping on %s", stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}

static void cleanup(struct serve *s)
{
    rtu_stop(s);
    for (int k = 0; k < MAX_TCP; k++)
        if (s->tcp[k].fd >= 0)
            close(s->tcp[k].fd);
    for (int k = 0; k < MAX_CTL; k++)
        if (s->ctl[k].fd >= 0)
            close(s->ctl[k].fd);
    for (int k = 0; k < MAX_ALERT; k++)
        if (s->alert[k] >= 0)
            close(s->alert[k]);
    if (s->tcp_fd >= 0)
        close(s->tcp_fd);
    if (s->ctl_fd >= 0)
        close(s->ctl_fd);
    if (s->alert_fd >= 0)
        close(s->alert_fd);
    if (s->ctl_path_ours)
        unlink(s->o.control);
    if (s->alert_path_ours)
        unlink(s->o.alert);
    if (s->dev_ok)
        simdevs_free(&s->dev);
    if (s->ph_ok)
        phys_free(&s->ph);
    rackfile_timeline_free(&s->tl);
    rack_free(&s->rack);
}

static int start(struct serve *s, char *err, size_t errlen)
{
    struct rackfile_timeline own = {0};
    char e[512];
    if (rackfile_load(s->o.rack_path, &s->rack, &own, e, sizeof(e))) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    if (own.nsteps && !s->o.scenario)
        say(s, "%s: its timeline is not played (give the file as --scenario to play it)",
            s->o.rack_path);
    rackfile_timeline_free(&own);
    if (s->o.scenario && load_scenario(s, err, errlen))
        return -1;
    if (phys_init(&s->ph, &s->rack, s->o.seed, s->o.overload_ns, mono_ns())) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->ph_ok = true;
    if (simdevs_init(&s->dev, &s->ph, s->o.baud)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->dev_ok = true;
    if (s->dev.unserved_psus || s->dev.unserved_servers)
        say(s, "not served (beyond the unit ids of rackmod.h): %d PSUs, %d servers",
            s->dev.unserved_psus, s->dev.unserved_servers);
    if (s->o.tcp && tcp_listen(s, err, errlen))
        return -1;
    if (s->o.control &&
        (s->ctl_fd = unix_listen(s->o.control, "--control", &s->ctl_path_ours, err, errlen)) < 0)
        return -1;
    if (s->o.alert &&
        (s->alert_fd = unix_listen(s->o.alert, "--alert", &s->alert_path_ours, err, errlen)) < 0)
        return -1;
    if (s->o.rtu && rtu_start(s, err, errlen))
        return -1;
    return 0;
}

int serve_main(int argc, char **argv)
{
    struct serve *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "rackpower-sim serve: out of memory\n");
        return 1;
    }
    int pr = parse_args(argc, argv, &s->o);
    if (pr) {
        free(s);
        return pr > 0 ? 0 : 2;
    }
    s->tcp_fd = s->rtu_fd = s->ctl_fd = s->alert_fd = -1;
    for (int k = 0; k < MAX_TCP; k++)
        s->tcp[k].fd = -1;
    for (int k = 0; k < MAX_CTL; k++)
        s->ctl[k].fd = -1;
    for (int k = 0; k < MAX_ALERT; k++)
        s->alert[k] = -1;
    s->t0 = mono_ns();

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[1024];
    int rc = 0;
    if (start(s, err, sizeof(err))) {
        fprintf(stderr, "rackpower-sim: %s\n", err);
        rc = 1;
    } else {
        char line[2048];
        size_t o =
            (size_t)snprintf(line, sizeof(line), "rackpower-sim: serving rack %s on", s->rack.name);
        if (s->tcp_fd >= 0)
            o += (size_t)snprintf(line + o, sizeof(line) - o, " tcp %s%s", s->tcp_desc,
                                  s->o.rtu ? "," : "");
        if (s->o.rtu && o < sizeof(line))
            o += (size_t)snprintf(line + o, sizeof(line) - o, " rtu %s (%d 8%c1)", s->o.rtu,
                                  s->o.baud, s->o.parity);
        if (s->o.control && o < sizeof(line))
            o += (size_t)snprintf(line + o, sizeof(line) - o, ", control %s", s->o.control);
        if (s->o.alert && o < sizeof(line))
            snprintf(line + o, sizeof(line) - o, ", alerts %s", s->o.alert);
        char units[4096];
        simdevs_describe(&s->dev, units, sizeof(units));
        say(s, "units: %s", units);
        if (s->socat > 0)
            say(s, "rtu: socat (pid %d) links %s <-> %s", (int)s->socat, s->o.rtu, s->rtu_sim);
        s->next_tick = s->t0 + PHYS_TICK_NS;
        printf("%s\n", line);
        fflush(stdout);
        drain(s);
        play_steps(s, mono_ns());
        rc = run(s);
    }
    cleanup(s);
    free(s);
    return rc;
}
