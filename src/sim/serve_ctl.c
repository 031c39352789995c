/*
 * serve_ctl.c - the control socket's clients: lines in (control.c parses
 * them), inputs applied, one reply line each ("ok", "error: ...", status).
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

#include "control.h"
#include "monoclock.h"

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
                  "psu %s unit %d bus %s %s%s capacity %.0f W out %.0f W %.2f V alarms "
                  "%04x %04x %04x %04x %04x",
                  q->id, simdevs_psu_unit(&s->dev, i), q->bus >= 0 ? r->buses[q->bus] : "-",
                  r->feed_failed[q->feed] ? "no-ac" : rack_psu_health_name(q->health),
                  q->standby ? " standby" : "", (double)rack_psu_capacity_mw(r, q) / 1000,
                  (double)p->out_mw / 1000, (double)p->vout_mv / 1000, p->alarm[0], p->alarm[1],
                  p->alarm[2], p->alarm[3], p->alarm[4]);
    }
    for (int k = 0; k < r->nreserves; k++) {
        const struct rack_reserve *res = &r->reserves[k];
        int unit = simdevs_bbu_unit(&s->dev, k);
        if (!unit)
            continue;
        ctl_reply(c, "bbu %s unit %d bus %s %s %.3f of %.3f Wh out %.0f W status %04x%s", res->id,
                  unit, phys_bbu_bus(ph, k) >= 0 ? r->buses[phys_bbu_bus(ph, k)] : "-",
                  res->discharging      ? "discharging"
                  : ph->bbu[k].charging ? "charging"
                                        : "standby",
                  res->wh_left, res->energy_wh, res->watts, ph->bbu[k].status,
                  s->dev.silent[unit] ? " silent" : "");
    }
    for (int i = 0; i < r->nservers; i++) {
        const struct phys_server *v = &ph->srv[i];
        int slot = 0, unit = simdevs_server_unit(&s->dev, i, &slot);
        ctl_reply(c,
                  "server %s unit %d slot %d %s %s draw %.0f W cap %.0f W ask %u changes %u "
                  "lost %u",
                  r->servers[i].id, unit, slot, v->present ? "present" : "absent",
                  v->powered ? "on" : "off", (double)v->draw_mw / 1000, (double)v->cap_mw / 1000,
                  v->ask, v->changes, v->lost);
    }
}

/* The BBU's own lines (docs/sim-devices.md "BBU"): `reserve_lost ID...` and
 * `reserve_back ID...` silence its unit and make it answer again (its
 * readings lost, as the timeline's events say), `bbu_status ID VALUE` sets
 * its status register (104; 0 clears). Whether line was one of them. */
static bool ctl_bbu(struct serve *s, struct ctl_client *c, char *line, int64_t now)
{
    char *save = NULL, *word = strtok_r(line, " ", &save);
    bool lost = word && !strcmp(word, "reserve_lost"), back = word && !strcmp(word, "reserve_back");
    bool status = word && !strcmp(word, "bbu_status");
    if (!lost && !back && !status)
        return false;
    const struct rack *r = &s->ph.r;
    int ids[MAX_CTL_INPUTS], n = 0;
    char *arg;
    while ((arg = strtok_r(NULL, " ", &save)) && n < MAX_CTL_INPUTS) {
        if (status && n == 1) {
            char *end;
            unsigned long v = strtoul(arg, &end, 0);
            if (*end || end == arg || v > 0xffff) {
                serve_say(s, "control: error: bbu_status: %.40s is not a 16-bit value", arg);
                ctl_reply(c, "error: bbu_status: %.40s is not a 16-bit value", arg);
                return true;
            }
            ids[n++] = (int)v;
            continue;
        }
        int k = rack_find_reserve(r, arg);
        if (k < 0 || !simdevs_bbu_unit(&s->dev, k)) {
            serve_say(s, "control: error: %s: %.40s is not a served BBU (nothing changed)", word,
                      arg);
            ctl_reply(c, "error: %s: %.40s is not a served BBU", word, arg);
            return true;
        }
        ids[n++] = k;
    }
    if (!n || (status && n != 2)) {
        ctl_reply(c, "error: %s", status ? "usage: bbu_status BBU VALUE" : "expected BBU ids");
        return true;
    }
    if (status) {
        char why[64];
        snprintf(why, sizeof(why), "control bbu_status");
        phys_bbu_fault(&s->ph, ids[0], (uint16_t)ids[1], now, why);
        serve_drain(s);
    } else {
        for (int i = 0; i < n; i++) {
            simdevs_bbu_silence(&s->dev, ids[i], lost);
            serve_say(s, "control: bbu %s (unit %d) %s", r->reserves[ids[i]].id,
                      simdevs_bbu_unit(&s->dev, ids[i]),
                      lost ? "answers nothing now (its readings are lost)" : "answers again");
        }
    }
    ctl_reply(c, "ok");
    return true;
}

/* `psu_wake PSU...`: the shelf wakes PSUs standing by by itself, as it does
 * when their bus sags (docs/sim-devices.md "Standby and share"), so that a
 * test can see the controller notice. Whether line was it. */
static bool ctl_psu_wake(struct serve *s, struct ctl_client *c, char *line, int64_t now)
{
    char *save = NULL, *word = strtok_r(line, " ", &save);
    if (!word || strcmp(word, "psu_wake"))
        return false;
    const struct rack *r = &s->ph.r;
    int ids[MAX_CTL_INPUTS], n = 0;
    char *arg;
    while ((arg = strtok_r(NULL, " ", &save)) && n < MAX_CTL_INPUTS) {
        int i = rack_find_psu(r, arg);
        if (i < 0) {
            serve_say(s, "control: error: psu_wake: %.40s is not a PSU (nothing changed)", arg);
            ctl_reply(c, "error: psu_wake: %.40s is not a PSU", arg);
            return true;
        }
        ids[n++] = i;
    }
    if (!n) {
        ctl_reply(c, "error: expected PSU ids");
        return true;
    }
    for (int k = 0; k < n; k++)
        phys_standby(&s->ph, ids[k], false, now, "control psu_wake: its shelf wakes it");
    serve_drain(s);
    ctl_reply(c, "ok");
    return true;
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
                     "feed_fail|feed_repair FEED...; report SERVER WATTS; "
                     "reserve_lost|reserve_back BBU...; bbu_status BBU VALUE; psu_wake PSU...; "
                     "status; help");
        ctl_reply(c, "ok");
        return;
    }
    char copy[CTL_LINE_MAX];
    snprintf(copy, sizeof(copy), "%s", p);
    if (ctl_bbu(s, c, copy, now))
        return;
    snprintf(copy, sizeof(copy), "%s", p);
    if (ctl_psu_wake(s, c, copy, now))
        return;
    struct policy_input in[MAX_CTL_INPUTS];
    size_t n = 0;
    char err[256];
    int rc = control_parse(&s->ph.r, p, in, MAX_CTL_INPUTS, &n, err, sizeof(err));
    for (size_t k = 0; rc == 0 && k < n; k++)
        rc = phys_check(&s->ph, &in[k], err, sizeof(err));
    if (rc) {
        serve_say(s, "control: error: %s (line '%.80s'; nothing changed)", err, p);
        ctl_reply(c, "error: %s", err);
        return;
    }
    int failed = 0;
    for (size_t k = 0; k < n; k++)
        failed += serve_apply_input(s, &in[k], "control", now) != 0;
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

void serve_ctl_read(struct serve *s, struct ctl_client *c, int64_t now)
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
            serve_say(s, "control: error: %s (nothing changed)",
                      ch == 0 ? "a NUL byte in a line" : "line too long");
            ctl_reply(c, "error: %s", ch == 0 ? "a NUL byte in the line" : "line too long");
            c->skipping = true;
            c->inlen = 0;
        } else {
            c->in[c->inlen++] = ch;
        }
    }
}
