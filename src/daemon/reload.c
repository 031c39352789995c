/*
 * reload.c - the reload differ: what changed, whether it may change live,
 * and the change (reload.h).
 */
#include "reload.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void reload_devices(const struct rackfile_daemon *conf, bool force_sim,
                    struct rackfile_device *simdev, const struct rackfile_device **devs, size_t *n)
{
    for (size_t i = 0; i < conf->ndevices; i++)
        if (conf->devices[i].kind == RACKFILE_DEV_SIM) {
            *devs = &conf->devices[i];
            *n = 1;
            return;
        }
    if (conf->ndevices && !force_sim) {
        *devs = conf->devices;
        *n = conf->ndevices;
        return;
    }
    /* as `devices: [{kind: sim}]` would load */
    *simdev = (struct rackfile_device){.kind = RACKFILE_DEV_SIM, .poll_ns = 1000000000, .seed = 1};
    *devs = simdev;
    *n = 1;
}

static bool same_ids(const struct rackfile_ids *a, const struct rackfile_ids *b)
{
    return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof(*a->v)));
}

static bool same_timeline(const struct rackfile_timeline *a, const struct rackfile_timeline *b)
{
    if (a->nsteps != b->nsteps)
        return false;
    for (size_t k = 0; k < a->nsteps; k++) {
        const struct rackfile_step *x = &a->steps[k], *y = &b->steps[k];
        if (x->at_ns != y->at_ns || x->ninputs != y->ninputs ||
            memcmp(x->inputs, y->inputs, x->ninputs * sizeof(*x->inputs)))
            return false;
    }
    return true;
}

static bool same_device(const struct rackfile_device *a, const struct rackfile_device *b)
{
    if (a->kind != b->kind || a->poll_ns != b->poll_ns || a->timeout_ns != b->timeout_ns ||
        a->seed != b->seed || strcmp(a->host, b->host) || a->port != b->port ||
        strcmp(a->device, b->device) || a->baud != b->baud || a->parity != b->parity ||
        strcmp(a->alert, b->alert) || a->reprobe_ns != b->reprobe_ns ||
        a->data_bits != b->data_bits || a->stop_bits != b->stop_bits || strcmp(a->path, b->path) ||
        a->psu != b->psu || a->nunits != b->nunits || !same_ids(&a->boot, &b->boot) ||
        !same_timeline(&a->timeline, &b->timeline))
        return false;
    for (size_t k = 0; k < a->nunits; k++) {
        const struct rackfile_unit *x = &a->units[k], *y = &b->units[k];
        if (x->unit != y->unit || x->role != y->role || x->psu != y->psu ||
            x->chassis != y->chassis || x->extension != y->extension ||
            !same_ids(&x->items, &y->items))
            return false;
    }
    return true;
}

/* The first difference of ids between two lists, as "psu 'x' added". */
static bool ids_differ(const char *noun, const char *a, size_t astride, int na, const char *b,
                       size_t bstride, int nb, char *why, size_t len)
{
    for (int i = 0; i < nb; i++) {
        int j = 0;
        while (j < na && strcmp(a + (size_t)j * astride, b + (size_t)i * bstride))
            j++;
        if (j == na) {
            snprintf(why, len, "%s '%s' added", noun, b + (size_t)i * bstride);
            return true;
        }
    }
    for (int j = 0; j < na; j++) {
        int i = 0;
        while (i < nb && strcmp(a + (size_t)j * astride, b + (size_t)i * bstride))
            i++;
        if (i == nb) {
            snprintf(why, len, "%s '%s' removed", noun, a + (size_t)j * astride);
            return true;
        }
    }
    for (int i = 0; i < na; i++)
        if (strcmp(a + (size_t)i * astride, b + (size_t)i * bstride)) {
            snprintf(why, len, "the order of the %s list changed", noun);
            return true;
        }
    return false;
}

/* Whether the new rack has another shape: elements added, removed or wired
 * differently. The policy, the ledger and the drivers all hold indices. */
static bool shape_differs(const struct rack *a, const struct rack *b, char *why, size_t len)
{
    if (ids_differ("feed", a->feeds[0], RACK_ID_LEN, a->nfeeds, b->feeds[0], RACK_ID_LEN, b->nfeeds,
                   why, len) ||
        ids_differ("bus", a->buses[0], RACK_ID_LEN, a->nbuses, b->buses[0], RACK_ID_LEN, b->nbuses,
                   why, len) ||
        ids_differ("psu", a->psus ? a->psus[0].id : "", sizeof(*a->psus), a->npsus,
                   b->psus ? b->psus[0].id : "", sizeof(*b->psus), b->npsus, why, len) ||
        ids_differ("server", a->servers ? a->servers[0].id : "", sizeof(*a->servers), a->nservers,
                   b->servers ? b->servers[0].id : "", sizeof(*b->servers), b->nservers, why,
                   len) ||
        ids_differ("reserve", a->reserves ? a->reserves[0].id : "", sizeof(*a->reserves),
                   a->nreserves, b->reserves ? b->reserves[0].id : "", sizeof(*b->reserves),
                   b->nreserves, why, len))
        return true;
    for (int i = 0; i < a->npsus; i++)
        if (a->psus[i].wired != b->psus[i].wired || a->psus[i].feed != b->psus[i].feed) {
            snprintf(why, len, "psu '%s': its buses or feed changed", a->psus[i].id);
            return true;
        }
    for (int i = 0; i < a->nreserves; i++)
        if (a->reserves[i].kind != b->reserves[i].kind || a->reserves[i].at != b->reserves[i].at) {
            snprintf(why, len, "reserve '%s': its kind or place changed", a->reserves[i].id);
            return true;
        }
    for (int i = 0; i < a->nservers; i++) {
        const struct rack_server *x = &a->servers[i], *y = &b->servers[i];
        const char *cx = x->chassis >= 0 ? a->chassis[x->chassis] : "";
        const char *cy = y->chassis >= 0 ? b->chassis[y->chassis] : "";
        if (x->wired != y->wired || strcmp(cx, cy)) {
            snprintf(why, len, "server '%s': its buses or chassis changed", x->id);
            return true;
        }
    }
    return false;
}

/* Every key of api: alike (the listeners, the socket, TLS and the checks
 * are set up at start; only the tokens file's content is read again). */
static bool same_api(const struct rackfile_api *a, const struct rackfile_api *b)
{
    if (strcmp(a->listen, b->listen) || a->port != b->port || a->keepalive_ns != b->keepalive_ns ||
        strcmp(a->socket, b->socket) || strcmp(a->socket_group, b->socket_group) ||
        a->socket_role != b->socket_role || strcmp(a->tokens, b->tokens) ||
        strcmp(a->tls_cert, b->tls_cert) || strcmp(a->tls_key, b->tls_key) ||
        a->plain_reads != b->plain_reads || a->nhosts != b->nhosts || a->norigins != b->norigins ||
        a->command_rate_milli != b->command_rate_milli || a->command_burst != b->command_burst)
        return false;
    for (size_t i = 0; i < a->nhosts; i++)
        if (strcmp(a->hosts[i], b->hosts[i]))
            return false;
    for (size_t i = 0; i < a->norigins; i++)
        if (strcmp(a->origins[i], b->origins[i]))
            return false;
    return true;
}

int reload_check(const struct reload_config *cur, const struct reload_config *next,
                 const char *path, char *why, size_t len)
{
    char shape[300];
    if (shape_differs(cur->rack, next->rack, shape, sizeof(shape))) {
        snprintf(why, len, "%s: the rack's shape changed (%s); that needs a restart", path, shape);
        return -1;
    }
    if (next->ndevs != cur->ndevs) {
        snprintf(why, len, "%s: devices: changes need a restart", path);
        return -1;
    }
    for (size_t i = 0; i < next->ndevs; i++)
        if (!same_device(&next->devs[i], &cur->devs[i])) {
            snprintf(why, len,
                     "%s: devices: the device at line %d changed; devices change with a restart",
                     path, next->devs[i].line);
            return -1;
        }
    if (!same_api(next->api, cur->api)) {
        snprintf(why, len,
                 "%s: api: changes need a restart (the tokens file's content is read "
                 "again on every reload)",
                 path);
        return -1;
    }
    if (cur->node && next->node && !rackfile_node_same(cur->node, next->node)) {
        snprintf(why, len,
                 "%s: node: changes need a restart (a controller's address, peers and key are "
                 "what the others know it by)",
                 path);
        return -1;
    }
    return 0;
}

void reload_note(char *buf, size_t len, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 3 >= len)
        return;
    if (n)
        n += (size_t)snprintf(buf + n, len - n, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, len - n, fmt, ap);
    va_end(ap);
}

/* Watts from milliwatts, for the text of a change. */
static double watts_of_mw(int64_t mw)
{
    return (double)mw / 1000;
}

void reload_apply(struct rack *r, const struct rack *nr, char *what, size_t len)
{
    if (strcmp(r->name, nr->name))
        reload_note(what, len, "name %s -> %s", r->name, nr->name);
    if (r->protection != nr->protection)
        reload_note(what, len, "protection %s -> %s", rack_protection_name(r->protection),
                    rack_protection_name(nr->protection));
    if (r->on_loss != nr->on_loss)
        reload_note(what, len, "on_protection_loss -> %s",
                    nr->on_loss == RACK_ON_LOSS_SHED ? "shed" : "hold");
    if (r->on_predicted != nr->on_predicted)
        reload_note(what, len, "on_predicted_failure -> %s",
                    nr->on_predicted == RACK_PREDICTED_SHED ? "shed" : "keep");
    if (r->restore_after_ns != nr->restore_after_ns)
        reload_note(what, len, "restore_after_s %.15g -> %.15g", (double)r->restore_after_ns / 1e9,
                    (double)nr->restore_after_ns / 1e9);
    if (r->holdup_ns != nr->holdup_ns)
        reload_note(what, len, "holdup_ms %.15g -> %.15g", (double)r->holdup_ns / 1e6,
                    (double)nr->holdup_ns / 1e6);
    if (r->over_draw_ns != nr->over_draw_ns)
        reload_note(what, len, "over_draw_s %.15g -> %.15g", (double)r->over_draw_ns / 1e9,
                    (double)nr->over_draw_ns / 1e9);
    memcpy(r->name, nr->name, sizeof(r->name));
    r->protection = nr->protection;
    r->on_loss = nr->on_loss;
    r->on_predicted = nr->on_predicted;
    r->restore_after_ns = nr->restore_after_ns;
    r->holdup_ns = nr->holdup_ns;
    r->over_draw_ns = nr->over_draw_ns;
    for (int i = 0; i < r->npsus; i++) {
        struct rack_psu *p = &r->psus[i];
        const struct rack_psu *q = &nr->psus[i];
        if (p->rated_mw != q->rated_mw)
            reload_note(what, len, "%s capacity_w %.15g -> %.15g", p->id, watts_of_mw(p->rated_mw),
                        watts_of_mw(q->rated_mw));
        if (p->sw != q->sw || p->switch_ns != q->switch_ns)
            reload_note(what, len, "%s switch %s %.15g ms -> %s %.15g ms", p->id,
                        rack_switch_name(p->sw), (double)p->switch_ns / 1e6,
                        rack_switch_name(q->sw), (double)q->switch_ns / 1e6);
        p->rated_mw = q->rated_mw;
        p->derated_mw = p->health == RACK_PSU_DEGRADED && p->derated_mw < q->rated_mw
                            ? p->derated_mw
                            : q->rated_mw;
        if (p->health == RACK_PSU_DEGRADED && p->derated_mw >= p->rated_mw)
            p->health = RACK_PSU_OK;
        p->sw = q->sw;
        p->switch_ns = q->switch_ns;
    }
    for (int i = 0; i < r->nservers; i++) {
        struct rack_server *s = &r->servers[i];
        const struct rack_server *q = &nr->servers[i];
        if (s->power_mw != q->power_mw)
            reload_note(what, len, "%s power_w %.15g -> %.15g", s->id, watts_of_mw(s->power_mw),
                        watts_of_mw(q->power_mw));
        if (s->min_mw != q->min_mw)
            reload_note(what, len, "%s min_w %.15g -> %.15g", s->id, watts_of_mw(s->min_mw),
                        watts_of_mw(q->min_mw));
        if (s->priority != q->priority)
            reload_note(what, len, "%s priority %d -> %d", s->id, s->priority, q->priority);
        s->power_mw = q->power_mw;
        s->min_mw = q->min_mw;
        s->priority = q->priority;
        /* a grant follows the server's figure; a cap stays inside its new range */
        if (s->state == RACK_SRV_ON)
            s->alloc_mw = s->power_mw;
        if (s->state == RACK_SRV_CAPPED) {
            s->alloc_mw = s->alloc_mw < s->min_mw ? s->min_mw : s->alloc_mw;
            if (s->alloc_mw >= s->power_mw) {
                s->alloc_mw = s->power_mw;
                s->state = RACK_SRV_ON;
            }
        }
    }
}
