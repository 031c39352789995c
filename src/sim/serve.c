/*
 * serve.c - rackpower-sim serve: the loop (time first: the physics, the
 * timeline, the RTU line's silence; then the sockets), the scenario and the
 * physics' log and alerts. The transports, the control lines and the
 * command line are in serve_*.c (serve_int.h).
 */
#define _GNU_SOURCE /* ppoll: the loop waits to the ns for an RTU answer's wire time */
#include "serve.h"
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
#include <sys/wait.h>
#include <time.h>

#include "monoclock.h"

volatile sig_atomic_t serve_stop_signal;

static void on_signal(int sig)
{
    serve_stop_signal = sig;
}

void serve_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

void serve_say(const struct serve *s, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* microseconds: the benchmark times the daemon by these stamps */
    fprintf(stderr, "rackpower-sim %12.6fs  %s\n", (double)(mono_ns() - s->t0) / 1e9, msg);
}

void serve_set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* ---- the physics' log and alerts ---------------------------------------- */

/* Logs what the physics reported and raises the alerts it calls for. */
void serve_drain(struct serve *s)
{
    struct phys *ph = &s->ph;
    for (size_t k = 0; k < ph->nev; k++) {
        const struct phys_event *e = &ph->ev[k];
        switch (e->kind) {
        case PHYS_EV_NOTE:
            serve_say(s, "%s", e->msg);
            break;
        case PHYS_EV_ERROR:
            serve_say(s, "error: %s", e->msg);
            break;
        case PHYS_EV_PSU:
            serve_say(s, "%s", e->msg);
            serve_alert_unit(s, simdevs_psu_unit(&s->dev, e->index));
            break;
        case PHYS_EV_SLOT:
            serve_say(s, "%s", e->msg);
            serve_alert_unit(s, simdevs_server_unit(&s->dev, e->index, NULL));
            break;
        case PHYS_EV_BBU:
            serve_say(s, "%s", e->msg);
            serve_alert_unit(s, simdevs_bbu_unit(&s->dev, e->index));
            break;
        }
    }
    ph->nev = 0;
    if (ph->dropped) {
        serve_say(s, "(%zu log lines dropped)", ph->dropped);
        ph->dropped = 0;
    }
}

/* ---- inputs: scenario steps and control lines ---------------------------- */

int serve_apply_input(struct serve *s, const struct policy_input *in, const char *source,
                      int64_t now)
{
    char what[128], err[256];
    phys_describe(&s->ph.r, in, what, sizeof(what));
    if (phys_check(&s->ph, in, err, sizeof(err))) {
        serve_say(s, "%s: error: %s", source, err);
        return -1;
    }
    serve_say(s, "%s: %s", source, what);
    phys_apply(&s->ph, in, now, err, sizeof(err));
    serve_drain(s);
    return 0;
}

/* A timeline event, as the served hardware has it: mains_fail and
 * mains_return fail and repair the feeds (the BBUs then carry their buses),
 * reserve_lost and reserve_back silence a BBU's unit and make it answer
 * again; outage start and end are a controller's matter (logged only). */
static void apply_event(struct serve *s, const struct rackfile_event *e, const char *source,
                        int64_t now)
{
    const struct rack *r = &s->ph.r;
    switch (e->kind) {
    case RACKFILE_EV_MAINS_FAIL:
    case RACKFILE_EV_MAINS_RETURN: {
        bool fail = e->kind == RACKFILE_EV_MAINS_FAIL;
        for (int f = 0; f < r->nfeeds; f++) {
            if ((e->index >= 0 && f != e->index) || r->feed_failed[f] == fail)
                continue;
            struct policy_input in = {.kind = fail ? POLICY_FEED_FAIL : POLICY_FEED_REPAIR,
                                      .index = f};
            serve_apply_input(s, &in, source, now);
        }
        break;
    }
    case RACKFILE_EV_RESERVE_LOST:
    case RACKFILE_EV_RESERVE_BACK: {
        bool lost = e->kind == RACKFILE_EV_RESERVE_LOST;
        if (simdevs_bbu_silence(&s->dev, e->index, lost) == 0)
            serve_say(s, "%s: reserve_%s %s: unit %d %s", source, lost ? "lost" : "back",
                      r->reserves[e->index].id, simdevs_bbu_unit(&s->dev, e->index),
                      lost ? "answers nothing now" : "answers again");
        else
            serve_say(s, "%s: reserve_%s %s: not a served BBU; nothing to do", source,
                      lost ? "lost" : "back", r->reserves[e->index].id);
        break;
    }
    default:
        serve_say(s, "%s: outage %s: the controller's (nothing to do here)", source,
                  e->kind == RACKFILE_EV_OUTAGE_START ? "start" : "end");
        break;
    }
}

static void play_steps(struct serve *s, int64_t now)
{
    while (s->next_step < s->tl.nsteps && s->t0 + s->tl.steps[s->next_step].at_ns <= now) {
        const struct rackfile_step *st = &s->tl.steps[s->next_step++];
        char source[64];
        snprintf(source, sizeof(source), "scenario (line %d, at %gs)", st->line,
                 (double)st->at_ns / 1e9);
        for (size_t j = 0; j < st->ninputs; j++)
            serve_apply_input(s, &st->inputs[j], source, now);
        for (size_t j = 0; j < st->nevents; j++)
            apply_event(s, &st->events[j], source, now);
    }
    if (s->tl.nsteps && s->next_step == s->tl.nsteps) {
        serve_say(s, "scenario: last step played; serving on");
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
    case POLICY_PSU_UNKNOWN:
    case POLICY_PSU_AT_RISK:
    case POLICY_PSU_RISK_CLEAR:
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

/* An event's feed or reserve of the scenario's rack in the served rack's indexes. */
static int map_event(const struct rack *from, const struct rack *to, struct rackfile_event *e,
                     int line, char *err, size_t errlen)
{
    const char *kind, *id;
    int idx;
    switch (e->kind) {
    case RACKFILE_EV_MAINS_FAIL:
    case RACKFILE_EV_MAINS_RETURN:
        if (e->index < 0)
            return 0; /* every feed */
        kind = "feed";
        id = from->feeds[e->index];
        idx = rack_find_feed(to, id);
        break;
    case RACKFILE_EV_RESERVE_LOST:
    case RACKFILE_EV_RESERVE_BACK:
        kind = "reserve";
        id = from->reserves[e->index].id;
        idx = rack_find_reserve(to, id);
        break;
    default:
        return 0;
    }
    if (idx < 0) {
        snprintf(err, errlen, "line %d: %s '%s' is not in the served rack", line, kind, id);
        return -1;
    }
    e->index = idx;
    return 0;
}

/* --ageing-rate: the unit with the defect (--ageing-psu, the first by
 * default) and its cause. */
static int set_ageing(struct serve *s, char *err, size_t errlen)
{
    int psu = s->rack.npsus ? 0 : -1;
    if (s->o.ageing_psu) {
        psu = -1;
        for (int i = 0; i < s->rack.npsus; i++)
            if (strcmp(s->rack.psus[i].id, s->o.ageing_psu) == 0)
                psu = i;
        if (psu < 0) {
            snprintf(err, errlen, "--ageing-psu: the rack has no PSU '%s'", s->o.ageing_psu);
            return -1;
        }
    }
    char e[128];
    if (phys_set_ageing(&s->ph, psu, (enum fleet_cause)s->o.ageing_cause, s->o.ageing_h_per_s, e,
                        sizeof(e))) {
        snprintf(err, errlen, "--ageing-rate: %s", e);
        return -1;
    }
    if (psu >= 0)
        serve_say(s, "ageing: %g h per second; %s has a %s defect (fails after %g h at 40 C)",
                  s->o.ageing_h_per_s, s->rack.psus[psu].id,
                  fleet_cause_name((enum fleet_cause)s->o.ageing_cause), PHYS_DEFECT_H);
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
    for (size_t k = 0; k < s->tl.nsteps && rc == 0; k++) {
        for (size_t j = 0; j < s->tl.steps[k].ninputs && rc == 0; j++)
            if (map_input(&sr, &s->rack, &s->tl.steps[k].inputs[j], s->tl.steps[k].line, e,
                          sizeof(e))) {
                snprintf(err, errlen, "%s: %s", s->o.scenario, e);
                rc = -1;
            }
        for (size_t j = 0; j < s->tl.steps[k].nevents && rc == 0; j++)
            if (map_event(&sr, &s->rack, &s->tl.steps[k].events[j], s->tl.steps[k].line, e,
                          sizeof(e))) {
                snprintf(err, errlen, "%s: %s", s->o.scenario, e);
                rc = -1;
            }
    }
    rack_free(&sr);
    return rc;
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
    if (s->rtu_nout > 0 && s->rtu_out[0].due_ns < d)
        d = s->rtu_out[0].due_ns; /* an answer's wire time ends */
    return d;
}

enum { SLOT_TCP_LISTEN, SLOT_RTU, SLOT_CTL_LISTEN, SLOT_ALERT_LISTEN, SLOT_FIXED };

static int run(struct serve *s)
{
    struct pollfd fds[SLOT_FIXED + MAX_TCP + MAX_CTL + MAX_ALERT];
    while (!serve_stop_signal) {
        int64_t now = mono_ns();
        int64_t d = next_deadline(s);
        /* ns, not ms: an RTU answer's wire time is due to the microsecond */
        int64_t wait_ns = d <= now ? 0 : d - now;
        if (wait_ns > 1000000000LL)
            wait_ns = 1000000000LL;
        struct timespec timeout = {(time_t)(wait_ns / 1000000000LL),
                                   (long)(wait_ns % 1000000000LL)};
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
        int rc = ppoll(fds, (nfds_t)n, &timeout, NULL);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            serve_say(s, "poll: %s", strerror(errno));
            return 1;
        }
        now = mono_ns();

        /* time first: the physics, the timeline, the line's silence */
        if (now >= s->next_tick || phys_next_deadline(&s->ph) <= now) {
            phys_step(&s->ph, now);
            serve_drain(s);
            if (now >= s->next_tick) {
                s->next_tick += PHYS_TICK_NS;
                if (s->next_tick <= now)
                    s->next_tick = now + PHYS_TICK_NS;
            }
        }
        play_steps(s, now);
        serve_rtu_send_due(s, now);
        if (s->rtu_fd >= 0 && now - s->rtu_last_ns >= s->silence_ns) {
            s->rtu_discard = false;
            if (s->rtu_len)
                serve_rtu_process(s, true, now);
        }
        if (rc == 0)
            continue;

        if (fds[SLOT_TCP_LISTEN].revents)
            serve_tcp_accept(s);
        if (s->rtu_fd >= 0 && (fds[SLOT_RTU].revents & (POLLIN | POLLERR | POLLHUP)))
            serve_rtu_read(s, now);
        if (fds[SLOT_CTL_LISTEN].revents) {
            int fd;
            while ((fd = serve_accept_one(s->ctl_fd)) >= 0) {
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
            while ((fd = serve_accept_one(s->alert_fd)) >= 0) {
                int k = 0;
                while (k < MAX_ALERT && s->alert[k] >= 0)
                    k++;
                if (k == MAX_ALERT) {
                    serve_say(s, "alerts: %d listeners already; a new one is refused", MAX_ALERT);
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
                serve_tcp_read(s, c, now);
            if (c->fd >= 0 && c->outlen)
                serve_tcp_flush(c);
        }
        for (int k = 0; k < MAX_CTL; k++, at++)
            if (s->ctl[k].fd >= 0 && fds[at].fd == s->ctl[k].fd && fds[at].revents)
                serve_ctl_read(s, &s->ctl[k], now);
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
                serve_say(s, "rtu: socat ended; RTU no longer served");
                if (s->rtu_fd >= 0)
                    close(s->rtu_fd);
                s->rtu_fd = -1;
                if (s->tcp_fd < 0)
                    return 1;
            }
        }
    }
    serve_say(s, "stopping on %s", serve_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}

static void cleanup(struct serve *s)
{
    serve_rtu_stop(s);
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
        serve_say(s, "%s: its timeline is not played (give the file as --scenario to play it)",
                  s->o.rack_path);
    rackfile_timeline_free(&own);
    if (s->o.scenario && load_scenario(s, err, errlen))
        return -1;
    if (phys_init(&s->ph, &s->rack, s->o.seed, s->o.overload_ns, mono_ns())) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->ph_ok = true;
    if (s->o.ageing_h_per_s > 0 && set_ageing(s, err, errlen))
        return -1;
    if (simdevs_init(&s->dev, &s->ph, s->o.baud)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->dev_ok = true;
    if (s->dev.unserved_psus || s->dev.unserved_servers)
        serve_say(s, "not served (beyond the unit ids of rackmod.h): %d PSUs, %d servers",
                  s->dev.unserved_psus, s->dev.unserved_servers);
    if (s->dev.unserved_bbus)
        serve_say(s, "not served (beyond the %d ORv3 BBU unit ids): %d BBUs", ORV3_NBBU_UNITS,
                  s->dev.unserved_bbus);
    if (s->o.tcp && serve_tcp_listen(s, err, errlen))
        return -1;
    if (s->o.control && (s->ctl_fd = serve_unix_listen(s->o.control, "--control", &s->ctl_path_ours,
                                                       err, errlen)) < 0)
        return -1;
    if (s->o.alert && (s->alert_fd = serve_unix_listen(s->o.alert, "--alert", &s->alert_path_ours,
                                                       err, errlen)) < 0)
        return -1;
    if (s->o.rtu && serve_rtu_start(s, err, errlen))
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
    int pr = serve_parse_args(argc, argv, &s->o);
    if (pr) {
        free(s);
        return pr > 0 ? 0 : 2;
    }
    s->tcp_fd = s->rtu_fd = s->rtu_peer_fd = s->ctl_fd = s->alert_fd = -1;
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
        serve_say(s, "units: %s", units);
        serve_say(s, "clock: 0 s here is %.6f s on CLOCK_MONOTONIC (rackpowerd's debug stamps)",
                  (double)s->t0 / 1e9);
        if (s->socat > 0)
            serve_say(s, "rtu: socat (pid %d) links %s <-> %s", (int)s->socat, s->o.rtu,
                      s->rtu_sim);
        s->next_tick = s->t0 + PHYS_TICK_NS;
        printf("%s\n", line);
        fflush(stdout);
        serve_drain(s);
        play_steps(s, mono_ns());
        rc = run(s);
    }
    cleanup(s);
    free(s);
    return rc;
}
