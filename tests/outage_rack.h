/*
 * outage_rack.h - racks with reserves and activities built in code, for
 * test_outage and test_outage_property: a rack the loaders would make, with
 * every array on the heap so that rack_free frees it.
 */
#ifndef OUTAGE_RACK_H
#define OUTAGE_RACK_H

#include <stdlib.h>
#include <string.h>

#include "rack.h"

static inline void orack_init(struct rack *r, int nfeeds, int nbuses)
{
    rack_init(r);
    r->nfeeds = nfeeds;
    r->nbuses = nbuses;
    for (int f = 0; f < nfeeds; f++)
        snprintf(r->feeds[f], RACK_ID_LEN, "F%d", f + 1);
    for (int b = 0; b < nbuses; b++)
        snprintf(r->buses[b], RACK_ID_LEN, "%c", 'A' + b);
    r->psus = calloc(64, sizeof(*r->psus));
    r->servers = calloc(128, sizeof(*r->servers));
    r->reserves = calloc(32, sizeof(*r->reserves));
    r->activities = calloc(128, sizeof(*r->activities));
}

static inline int orack_psu(struct rack *r, int feed, int bus, double watts)
{
    struct rack_psu *p = &r->psus[r->npsus];
    snprintf(p->id, RACK_ID_LEN, "ps%d", r->npsus + 1);
    p->rated_mw = p->derated_mw = (int64_t)(watts * 1000);
    p->feed = feed;
    p->bus = bus;
    p->wired = 1u << bus;
    p->health = RACK_PSU_OK;
    return r->npsus++;
}

/* A server drawing `watts` (granted and on), priority prio, on buses mask. */
static inline int orack_server(struct rack *r, const char *id, double watts, int prio,
                               uint32_t buses)
{
    struct rack_server *s = &r->servers[r->nservers];
    snprintf(s->id, RACK_ID_LEN, "%s", id);
    s->power_mw = s->min_mw = s->alloc_mw = (int64_t)(watts * 1000);
    s->priority = s->own_priority = prio;
    s->wired = buses;
    s->chassis = -1;
    s->state = RACK_SRV_ON;
    s->draw_mw = -1;
    s->on_draw_mw = -1;
    s->seq = r->next_seq++;
    return r->nservers++;
}

static inline int orack_reserve(struct rack *r, const char *id, enum rack_reserve_kind kind, int at,
                                double wh, double max_w)
{
    struct rack_reserve *x = &r->reserves[r->nreserves];
    snprintf(x->id, RACK_ID_LEN, "%s", id);
    x->kind = kind;
    x->at = at;
    x->energy_wh = x->wh_left = wh;
    x->max_w = x->rated_w = max_w;
    x->efficiency = 1;
    x->peukert = 1;
    x->known = true;
    x->to_bus = x->to_server = -1;
    return r->nreserves++;
}

static inline void orack_switch_server(struct rack *r, int res, int server)
{
    struct rack_reserve *x = &r->reserves[res];
    int *v = realloc(x->switch_servers, (size_t)(x->nswitch_servers + 1) * sizeof(int));
    if (!v)
        abort();
    x->switch_servers = v;
    v[x->nswitch_servers++] = server;
}

static inline int *orack_ints(int n, const int *v)
{
    int *p = malloc((size_t)(n ? n : 1) * sizeof(int));
    if (!p)
        abort();
    if (n)
        memcpy(p, v, (size_t)n * sizeof(int));
    return p;
}

/* An activity of priority prio on one server (share 1 unless given), with
 * the servers it may move to. Sets the server's priority from it. */
static inline int orack_activity(struct rack *r, const char *id, int prio, int server, double share,
                                 int nmovable, const int *movable)
{
    struct rack_activity *a = &r->activities[r->nactivities];
    snprintf(a->id, RACK_ID_LEN, "%s", id);
    snprintf(a->qos, RACK_ID_LEN, "q%d", prio);
    a->priority = prio;
    a->nservers = a->nhome = 1;
    a->servers = orack_ints(1, &server);
    a->home = orack_ints(1, &server);
    a->share = malloc(sizeof(double));
    if (!a->share)
        abort();
    a->share[0] = share;
    a->nmovable = nmovable;
    a->movable_to = orack_ints(nmovable, movable);
    a->stop_ns = 30000000000LL;
    a->state = RACK_ACT_RUNNING;
    int n = r->nactivities++;
    r->servers[server].priority =
        rack_server_activity_priority(r, server, r->servers[server].own_priority);
    return n;
}

#endif
