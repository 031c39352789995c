/*
 * rack.c - the rack model: construction, copies, lookups and derived figures.
 */
#include "rack.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

const int rack_model_load_pct[RACK_MODEL_POINTS] = {10, 20, 50, 100};

/* 80 PLUS Titanium (230 V internal redundant) and an ORv3 rectifier:
 * docs/balancing.md "The curves" says where each point comes from. */
static const struct rack_psu_model builtin_models[] = {
    [RACK_MODEL_TITANIUM] = {"titanium",
                             {900000, 940000, 960000, 910000},
                             RACK_DEFAULT_STANDBY_MW,
                             RACK_DEFAULT_WAKE_NS},
    [RACK_MODEL_ORV3] = {"orv3",
                         {940000, 960000, 975000, 965000},
                         RACK_DEFAULT_STANDBY_MW,
                         RACK_DEFAULT_WAKE_NS},
};

void rack_init(struct rack *r)
{
    memset(r, 0, sizeof(*r));
    r->protection = RACK_PROT_NONE;
    r->on_loss = RACK_ON_LOSS_SHED;
    r->on_predicted = RACK_PREDICTED_KEEP;
    r->restore_after_ns = RACK_DEFAULT_RESTORE_NS;
    r->holdup_ns = RACK_DEFAULT_HOLDUP_NS;
    r->over_draw_ns = RACK_DEFAULT_OVER_DRAW_NS;
    r->next_seq = 1;
    r->last_change_ns = INT64_MIN;
    r->restore_done_ns = INT64_MIN;
    r->is_protected = true;
    r->outage.mains_stable_ns = RACK_DEFAULT_MAINS_STABLE_NS;
    r->outage.min_charge_pct = RACK_DEFAULT_MIN_CHARGE_PCT;
    r->outage.slack_pct = RACK_DEFAULT_SLACK_PCT;
    r->outage.soft_off_ns = RACK_DEFAULT_SOFT_OFF_NS;
    r->nmodels = (int)(sizeof(builtin_models) / sizeof(*builtin_models));
    memcpy(r->models, builtin_models, sizeof(builtin_models));
}

static void free_outage(struct rack *r)
{
    for (int i = 0; i < r->nreserves; i++)
        free(r->reserves[i].switch_servers);
    for (int i = 0; i < r->nactivities; i++) {
        struct rack_activity *a = &r->activities[i];
        free(a->servers);
        free(a->share);
        free(a->home);
        free(a->movable_to);
    }
    free(r->reserves);
    free(r->activities);
    r->reserves = NULL;
    r->activities = NULL;
    r->nreserves = r->nactivities = 0;
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
    free_outage(r);
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

/* Copies the arrays of reserves and activities that dst still shares with
 * src (after *dst = *src). On failure dst's pointers are all its own or NULL. */
static int copy_outage(struct rack *dst, const struct rack *src)
{
    dst->reserves = dup_array(src->reserves, (size_t)src->nreserves, sizeof(*src->reserves));
    dst->activities =
        dup_array(src->activities, (size_t)src->nactivities, sizeof(*src->activities));
    int bad = (src->nreserves && !dst->reserves) || (src->nactivities && !dst->activities);
    if (!dst->reserves)
        dst->nreserves = 0;
    if (!dst->activities)
        dst->nactivities = 0;
    for (int i = 0; i < dst->nreserves; i++) {
        struct rack_reserve *d = &dst->reserves[i];
        const struct rack_reserve *s = &src->reserves[i];
        d->switch_servers =
            bad ? NULL : dup_array(s->switch_servers, (size_t)s->nswitch_servers, sizeof(int));
        bad |= s->nswitch_servers && !d->switch_servers;
    }
    for (int i = 0; i < dst->nactivities; i++) {
        struct rack_activity *d = &dst->activities[i];
        const struct rack_activity *s = &src->activities[i];
        d->servers = d->home = d->movable_to = NULL;
        d->share = NULL;
        if (bad)
            continue;
        d->servers = dup_array(s->servers, (size_t)s->nservers, sizeof(int));
        d->share = dup_array(s->share, (size_t)s->nservers, sizeof(double));
        d->home = dup_array(s->home, (size_t)s->nhome, sizeof(int));
        d->movable_to = dup_array(s->movable_to, (size_t)s->nmovable, sizeof(int));
        bad |= (s->nservers && (!d->servers || !d->share)) || (s->nhome && !d->home) ||
               (s->nmovable && !d->movable_to);
    }
    return bad ? -1 : 0;
}

int rack_copy(struct rack *dst, const struct rack *src)
{
    *dst = *src;
    dst->psus = dup_array(src->psus, (size_t)src->npsus, sizeof(*src->psus));
    dst->servers = dup_array(src->servers, (size_t)src->nservers, sizeof(*src->servers));
    dst->chassis = dup_array(src->chassis, (size_t)src->nchassis, sizeof(*src->chassis));
    int bad = copy_outage(dst, src);
    if (bad || (src->npsus && !dst->psus) || (src->nservers && !dst->servers) ||
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

int rack_find_reserve(const struct rack *r, const char *id)
{
    for (int i = 0; i < r->nreserves; i++)
        if (strcmp(r->reserves[i].id, id) == 0)
            return i;
    return -1;
}

int rack_find_activity(const struct rack *r, const char *id)
{
    for (int i = 0; i < r->nactivities; i++)
        if (strcmp(r->activities[i].id, id) == 0)
            return i;
    return -1;
}

int rack_server_activity_priority(const struct rack *r, int server, int fallback)
{
    int best = INT_MAX;
    for (int i = 0; i < r->nactivities; i++) {
        const struct rack_activity *a = &r->activities[i];
        if (a->state == RACK_ACT_STOPPED)
            continue;
        for (int k = 0; k < a->nservers; k++)
            if (a->servers[k] == server && a->priority < best)
                best = a->priority;
    }
    return best == INT_MAX ? fallback : best;
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
    if (p->at_risk && r->on_predicted == RACK_PREDICTED_SHED)
        return false; /* counted as failed: the rack file asks for it */
    return rack_psu_health_mw(p) > 0 && !r->feed_failed[p->feed];
}

const struct rack_psu_model *rack_psu_model_of(const struct rack *r, const struct rack_psu *p)
{
    if (p->model < 0 || p->model >= r->nmodels) /* a rack built without rack_init too */
        return &builtin_models[RACK_MODEL_TITANIUM];
    return &r->models[p->model];
}

bool rack_psu_asleep(const struct rack *r, const struct rack_psu *p)
{
    return p->standby && rack_psu_model_of(r, p)->wake_ns > r->holdup_ns;
}

int rack_find_model(const struct rack *r, const char *name)
{
    for (int i = 0; i < r->nmodels; i++)
        if (strcmp(r->models[i].name, name) == 0)
            return i;
    return -1;
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

bool rack_reserves_count(const struct rack *r)
{
    if (r->nreserves == 0)
        return false;
    for (int f = 0; f < r->nfeeds; f++)
        if (r->feed_failed[f])
            return true;
    return false;
}

int rack_reserve_bus(const struct rack_reserve *res)
{
    if (res->to_bus >= 0)
        return res->to_bus;
    if (res->to_server >= 0)
        return -1;
    return res->kind == RACK_RESERVE_BBU ? res->at : -1;
}

int rack_reserve_server(const struct rack_reserve *res)
{
    if (res->to_server >= 0)
        return res->to_server;
    if (res->to_bus >= 0)
        return -1;
    return res->kind == RACK_RESERVE_SERVER ? res->at : -1;
}

/* What a reserve gives for the policy: its most, while it has energy. A ups
 * gives nothing here: it keeps its feed's PSUs up instead. */
static int64_t reserve_mw(const struct rack_reserve *res)
{
    if (res->kind == RACK_RESERVE_UPS || !(res->wh_left > 0) || !(res->max_w > 0))
        return 0;
    return res->max_w >= 1e12 ? (int64_t)1e15 : (int64_t)(res->max_w * 1000.0);
}

int64_t rack_reserve_bus_mw(const struct rack *r, int b)
{
    if (b < 0 || b >= r->nbuses || r->bus_failed[b] || !rack_reserves_count(r))
        return 0;
    int64_t mw = 0;
    for (int k = 0; k < r->nreserves; k++)
        if (rack_reserve_bus(&r->reserves[k]) == b)
            mw += reserve_mw(&r->reserves[k]);
    return mw;
}

int64_t rack_reserve_server_mw(const struct rack *r, int i)
{
    if (i < 0 || i >= r->nservers || !rack_reserves_count(r))
        return 0;
    int64_t mw = 0;
    for (int k = 0; k < r->nreserves; k++)
        if (rack_reserve_server(&r->reserves[k]) == i)
            mw += reserve_mw(&r->reserves[k]);
    return mw;
}

int64_t rack_reserve_mw(const struct rack *r)
{
    int64_t mw = 0;
    for (int b = 0; b < r->nbuses; b++)
        mw += rack_reserve_bus_mw(r, b);
    for (int i = 0; i < r->nservers; i++)
        mw += rack_reserve_server_mw(r, i);
    return mw;
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

const char *rack_reserve_kind_name(enum rack_reserve_kind k)
{
    switch (k) {
    case RACK_RESERVE_BBU:
        return "bbu";
    case RACK_RESERVE_UPS:
        return "ups";
    case RACK_RESERVE_SERVER:
        return "server";
    }
    return "?";
}

const char *rack_activity_state_name(enum rack_activity_state s)
{
    switch (s) {
    case RACK_ACT_RUNNING:
        return "running";
    case RACK_ACT_MOVED:
        return "moved";
    case RACK_ACT_STOPPED:
        return "stopped";
    }
    return "?";
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
