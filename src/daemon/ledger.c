/*
 * ledger.c - ledger rows from the rack and back (ledger.h).
 */
#include "ledger.h"

#include <stdio.h>

#include "log.h"

struct store_server ledger_server_row(const struct rack *r, int i, double time)
{
    const struct rack_server *s = &r->servers[i];
    struct store_server x = {.state = s->state, .seq = s->seq, .time = time};
    snprintf(x.id, sizeof(x.id), "%s", s->id);
    x.watts_mw = rack_server_draws(s) ? s->alloc_mw : 0;
    x.cap_mw = s->state == RACK_SRV_CAPPED ? s->alloc_mw : 0;
    return x;
}

struct store_psu ledger_psu_row(const struct rack *r, int i, bool oos)
{
    const struct rack_psu *p = &r->psus[i];
    struct store_psu x = {.out_of_service = oos, .at_risk = p->at_risk};
    snprintf(x.id, sizeof(x.id), "%s", p->id);
    snprintf(x.bus, sizeof(x.bus), "%s", p->bus >= 0 ? r->buses[p->bus] : "");
    return x;
}

struct store_bus ledger_bus_row(const struct rack *r, int b, bool oos)
{
    struct store_bus x = {.out_of_service = oos};
    snprintf(x.id, sizeof(x.id), "%s", r->buses[b]);
    return x;
}

int ledger_apply_server(struct rack *r, const struct store_server *x)
{
    int i = rack_find_server(r, x->id);
    if (i < 0) {
        if (x->state != RACK_SRV_OFF)
            log_warnx("ledger: server '%s' (%s) is not in the rack any more; forgotten", x->id,
                      rack_server_state_name(x->state));
        return -1;
    }
    struct rack_server *s = &r->servers[i];
    s->state = x->state;
    s->seq = x->seq;
    s->alloc_mw = 0;
    if (x->state == RACK_SRV_ON) {
        s->alloc_mw = s->power_mw;
    } else if (x->state == RACK_SRV_CAPPED) {
        int64_t cap = x->cap_mw < s->min_mw ? s->min_mw : x->cap_mw;
        s->alloc_mw = cap < s->power_mw ? cap : s->power_mw;
        if (s->alloc_mw == s->power_mw)
            s->state = RACK_SRV_ON;
    }
    return i;
}

int ledger_apply_psu(struct rack *r, bool *psu_oos, const struct store_psu *x)
{
    int i = rack_find_psu(r, x->id);
    if (i < 0)
        return -1;
    int b = x->bus[0] ? rack_find_bus(r, x->bus) : -1;
    if (b >= 0 && ((r->psus[i].wired >> b) & 1))
        r->psus[i].bus = b;
    else if (!x->bus[0])
        r->psus[i].bus = -1; /* on none: an out of service opened its switch */
    psu_oos[i] = x->out_of_service;
    /* as the policy left it: a failed or out of service PSU keeps it (a
     * repair after a failure ends it, policy.c) */
    r->psus[i].at_risk = x->at_risk;
    if (x->out_of_service)
        r->psus[i].health = RACK_PSU_FAILED;
    return i;
}

int ledger_apply_bus(struct rack *r, bool *bus_oos, const struct store_bus *x)
{
    int b = rack_find_bus(r, x->id);
    if (b >= 0 && x->out_of_service) {
        bus_oos[b] = true;
        r->bus_failed[b] = true;
    }
    return b;
}

int ledger_put_server(struct store *s, const struct rack *r, int i, double time, char *err,
                      size_t len)
{
    struct store_server x = ledger_server_row(r, i, time);
    return store_put_server(s, &x, err, len);
}

int ledger_put_psu(struct store *s, const struct rack *r, int i, bool oos, char *err, size_t len)
{
    struct store_psu x = ledger_psu_row(r, i, oos);
    return store_put_psu(s, &x, err, len);
}

int ledger_put_bus(struct store *s, const struct rack *r, int b, bool oos, char *err, size_t len)
{
    struct store_bus x = ledger_bus_row(r, b, oos);
    return store_put_bus(s, &x, err, len);
}

int ledger_put_all(struct store *s, const struct rack *r, const bool *psu_oos, const bool *bus_oos,
                   double time, char *err, size_t len)
{
    for (int i = 0; i < r->nservers; i++)
        if (ledger_put_server(s, r, i, time, err, len))
            return -1;
    for (int i = 0; i < r->npsus; i++)
        if (ledger_put_psu(s, r, i, psu_oos[i], err, len))
            return -1;
    for (int b = 0; b < r->nbuses; b++)
        if (ledger_put_bus(s, r, b, bus_oos[b], err, len))
            return -1;
    return 0;
}

struct restore {
    struct rack *r;
    bool *psu_oos, *bus_oos;
    bool *known;
    struct ledger_counts *counts;
    uint64_t max_seq;
};

static int restore_server(void *arg, const struct store_server *x)
{
    struct restore *rs = arg;
    int i = ledger_apply_server(rs->r, x);
    if (i < 0)
        return 0;
    rs->counts->servers[rs->r->servers[i].state]++;
    rs->counts->rows++;
    if (rs->known)
        rs->known[i] = true;
    if (x->seq > rs->max_seq)
        rs->max_seq = x->seq;
    return 0;
}

static int restore_psu(void *arg, const struct store_psu *x)
{
    struct restore *rs = arg;
    ledger_apply_psu(rs->r, rs->psu_oos, x);
    return 0;
}

static int restore_bus(void *arg, const struct store_bus *x)
{
    struct restore *rs = arg;
    ledger_apply_bus(rs->r, rs->bus_oos, x);
    return 0;
}

int ledger_restore(struct store *s, struct rack *r, bool *psu_oos, bool *bus_oos, int64_t now_ns,
                   struct ledger_counts *counts, bool *known, char *err, size_t len)
{
    struct restore rs = {
        .r = r, .psu_oos = psu_oos, .bus_oos = bus_oos, .known = known, .counts = counts};
    for (int i = 0; known && i < r->nservers; i++)
        known[i] = false;
    *counts = (struct ledger_counts){.rows = 0};
    if (store_load_servers(s, restore_server, &rs, err, len) ||
        store_load_psus(s, restore_psu, &rs, err, len) ||
        store_load_buses(s, restore_bus, &rs, err, len))
        return -1;
    r->next_seq = rs.max_seq + 1;
    r->last_change_ns = now_ns;
    return 0;
}

bool ledger_adopt(struct rack *r, int i, int64_t drawn_mw)
{
    struct rack_server *s = &r->servers[i];
    if (drawn_mw <= 0 || rack_server_draws(s))
        return false;
    if (s->state == RACK_SRV_OFF) /* a waiting one keeps its place in the order */
        s->seq = r->next_seq++;
    s->state = RACK_SRV_ON;
    s->alloc_mw = s->power_mw;
    return true;
}
