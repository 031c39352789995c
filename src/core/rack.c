/*
 * rack.c - the rack model: construction, copies, lookups and derived figures.
 */
#include "rack.h"

#include <stdlib.h>
#include <string.h>

void rack_init(struct rack *r)
{
    memset(r, 0, sizeof(*r));
    r->protection = RACK_PROT_NONE;
    r->on_loss = RACK_ON_LOSS_SHED;
    r->restore_after_ns = RACK_DEFAULT_RESTORE_NS;
    r->holdup_ns = RACK_DEFAULT_HOLDUP_NS;
    r->over_draw_ns = RACK_DEFAULT_OVER_DRAW_NS;
    r->next_seq = 1;
    r->last_change_ns = INT64_MIN;
    r->restore_done_ns = INT64_MIN;
    r->is_protected = true;
}

void rack_free(struct rack *r)
{
    free(r->psus);
    free(r->servers);
    free(r->chassis);
    r->psus = NULL;
    r->servers = NULL;
    r->chassis = NULL;
    r->npsus = r->nservers = r->nchassis = 0;
}

static void *dup_array(const void *src, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = malloc(n * size);
    if (p)
        memcpy(p, src, n * size);
    return p;
}

int rack_copy(struct rack *dst, const struct rack *src)
{
    *dst = *src;
    dst->psus = dup_array(src->psus, (size_t)src->npsus, sizeof(*src->psus));
    dst->servers = dup_array(src->servers, (size_t)src->nservers, sizeof(*src->servers));
    dst->chassis = dup_array(src->chassis, (size_t)src->nchassis, sizeof(*src->chassis));
    if ((src->npsus && !dst->psus) || (src->nservers && !dst->servers) ||
        (src->nchassis && !dst->chassis)) {
        rack_free(dst);
        return -1;
    }
    return 0;
}

int rack_find_psu(const struct rack *r, const char *id)
{
    for (int i = 0; i < r->npsus; i++)
        if (strcmp(r->psus[i].id, id) == 0)
            return i;
    return -1;
}

int rack_find_server(const struct rack *r, const char *id)
{
    for (int i = 0; i < r->nservers; i++)
        if (strcmp(r->servers[i].id, id) == 0)
            return i;
    return -1;
}

int rack_find_bus(const struct rack *r, const char *id)
{
    for (int i = 0; i < r->nbuses; i++)
        if (strcmp(r->buses[i], id) == 0)
            return i;
    return -1;
}

int rack_find_feed(const struct rack *r, const char *id)
{
    for (int i = 0; i < r->nfeeds; i++)
        if (strcmp(r->feeds[i], id) == 0)
            return i;
    return -1;
}

int64_t rack_psu_health_mw(const struct rack_psu *p)
{
    switch (p->health) {
    case RACK_PSU_OK:
        return p->rated_mw;
    case RACK_PSU_DEGRADED:
    case RACK_PSU_UNKNOWN:
        return p->derated_mw;
    case RACK_PSU_FAILED:
        break;
    }
    return 0;
}

bool rack_psu_known(const struct rack_psu *p)
{
    return p->health != RACK_PSU_UNKNOWN;
}

bool rack_psu_alive(const struct rack *r, const struct rack_psu *p)
{
    return rack_psu_health_mw(p) > 0 && !r->feed_failed[p->feed];
}

uint32_t rack_alive_buses(const struct rack *r)
{
    uint32_t m = 0;
    for (int b = 0; b < r->nbuses; b++)
        if (!r->bus_failed[b])
            m |= 1u << b;
    return m;
}

int64_t rack_psu_capacity_mw(const struct rack *r, const struct rack_psu *p)
{
    if (!rack_psu_alive(r, p) || p->bus < 0 || r->bus_failed[p->bus])
        return 0;
    return rack_psu_health_mw(p);
}

bool rack_server_draws(const struct rack_server *s)
{
    return s->state == RACK_SRV_ON || s->state == RACK_SRV_CAPPED;
}

int64_t rack_capacity_mw(const struct rack *r)
{
    int64_t c = 0;
    for (int i = 0; i < r->npsus; i++)
        c += rack_psu_capacity_mw(r, &r->psus[i]);
    return c;
}

int64_t rack_allocated_mw(const struct rack *r)
{
    int64_t a = 0;
    for (int i = 0; i < r->nservers; i++)
        if (rack_server_draws(&r->servers[i]))
            a += r->servers[i].alloc_mw;
    return a;
}

const char *rack_protection_name(enum rack_protection p)
{
    switch (p) {
    case RACK_PROT_NONE:
        return "none";
    case RACK_PROT_N1:
        return "n+1";
    case RACK_PROT_NN:
        return "n+n";
    }
    return "?";
}

const char *rack_switch_name(enum rack_switch_kind k)
{
    switch (k) {
    case RACK_SWITCH_FET:
        return "fet";
    case RACK_SWITCH_RELAY:
        return "relay";
    case RACK_SWITCH_BREAKER:
        return "breaker";
    }
    return "?";
}

int64_t rack_switch_default_ns(enum rack_switch_kind k)
{
    switch (k) {
    case RACK_SWITCH_FET:
        return RACK_FET_SWITCH_NS;
    case RACK_SWITCH_RELAY:
        return RACK_RELAY_SWITCH_NS;
    case RACK_SWITCH_BREAKER:
        return RACK_BREAKER_SWITCH_NS;
    }
    return RACK_BREAKER_SWITCH_NS;
}

const char *rack_psu_health_name(enum rack_psu_health h)
{
    switch (h) {
    case RACK_PSU_OK:
        return "ok";
    case RACK_PSU_DEGRADED:
        return "degraded";
    case RACK_PSU_FAILED:
        return "failed";
    case RACK_PSU_UNKNOWN:
        return "unknown";
    }
    return "?";
}

const char *rack_server_state_name(enum rack_server_state s)
{
    switch (s) {
    case RACK_SRV_OFF:
        return "off";
    case RACK_SRV_WAITING:
        return "waiting";
    case RACK_SRV_ON:
        return "on";
    case RACK_SRV_CAPPED:
        return "capped";
    case RACK_SRV_SHED:
        return "shed";
    }
    return "?";
}
