/*
 * cluster_ledger.c - the simulated controllers' ledger payload
 * (cluster_ledger.h).
 */
#include "cluster_ledger.h"

#include <stdio.h>
#include <string.h>

#define CL_MAGIC 0x434c3031u /* "CL01" */
#define CL_HEAD 4 + 4 + 4 + 1 + 1 + 8 + 8 + 8 + 1
#define CL_SERVER 1 + 8 + 8 + 8 + 8 + 4 + 8 + 8
#define CL_PSU 1 + 1 + 8

struct wbuf {
    uint8_t *p;
    size_t n;
};

static void put(struct wbuf *w, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

struct rbuf {
    const uint8_t *p;
    size_t n, at;
};

static uint64_t get(struct rbuf *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | r->p[r->at++];
    return v;
}

size_t cledger_size(const struct rack *r)
{
    return (size_t)(CL_HEAD) + (size_t)r->nservers * (CL_SERVER) + (size_t)r->npsus * (CL_PSU) +
           (size_t)r->nbuses + (size_t)r->nfeeds;
}

size_t cledger_encode(const struct rack *r, uint8_t *buf, size_t cap)
{
    size_t need = cledger_size(r);
    if (cap < need)
        return 0;
    struct wbuf w = {buf, 0};
    put(&w, CL_MAGIC, 4);
    put(&w, (uint64_t)r->nservers, 4);
    put(&w, (uint64_t)r->npsus, 4);
    put(&w, (uint64_t)r->nbuses, 1);
    put(&w, (uint64_t)r->nfeeds, 1);
    put(&w, r->next_seq, 8);
    put(&w, (uint64_t)r->last_change_ns, 8);
    put(&w, (uint64_t)r->restore_done_ns, 8);
    put(&w, (uint64_t)(r->is_protected | r->redundancy_lost << 1), 1);
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        put(&w, (uint64_t)s->state, 1);
        put(&w, (uint64_t)s->alloc_mw, 8);
        put(&w, (uint64_t)s->draw_mw, 8);
        put(&w, (uint64_t)s->on_draw_mw, 8);
        put(&w, s->seq, 8);
        put(&w, (uint64_t)(uint32_t)s->losses, 4);
        put(&w, (uint64_t)s->lost_ns, 8);
        put(&w, (uint64_t)s->back_ns, 8);
    }
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        put(&w, (uint64_t)(uint8_t)(int8_t)p->bus, 1);
        put(&w, (uint64_t)p->health, 1);
        put(&w, (uint64_t)p->derated_mw, 8);
    }
    for (int b = 0; b < r->nbuses; b++)
        put(&w, r->bus_failed[b], 1);
    for (int f = 0; f < r->nfeeds; f++)
        put(&w, r->feed_failed[f], 1);
    return w.n;
}

int cledger_decode(struct rack *r, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    if (len != cledger_size(r)) {
        snprintf(err, errlen, "ledger payload of %zu bytes, this rack's is %zu", len,
                 cledger_size(r));
        return -1;
    }
    struct rbuf b = {buf, len, 0};
    if (get(&b, 4) != CL_MAGIC) {
        snprintf(err, errlen, "ledger payload: bad magic");
        return -1;
    }
    uint64_t ns = get(&b, 4), np = get(&b, 4), nb = get(&b, 1), nf = get(&b, 1);
    if (ns != (uint64_t)r->nservers || np != (uint64_t)r->npsus || nb != (uint64_t)r->nbuses ||
        nf != (uint64_t)r->nfeeds) {
        snprintf(err, errlen, "ledger payload of another rack's shape");
        return -1;
    }
    /* Checked in a first pass so that a bad payload leaves r as it was. */
    size_t body = b.at + 8 + 8 + 8 + 1;
    for (int i = 0; i < r->nservers; i++) {
        uint8_t st = buf[body + (size_t)i * (CL_SERVER)];
        if (st > RACK_SRV_SHED) {
            snprintf(err, errlen, "ledger payload: server %d has state %u", i, st);
            return -1;
        }
    }
    size_t pbase = body + (size_t)r->nservers * (CL_SERVER);
    for (int i = 0; i < r->npsus; i++) {
        int8_t bus = (int8_t)buf[pbase + (size_t)i * (CL_PSU)];
        uint8_t h = buf[pbase + (size_t)i * (CL_PSU) + 1];
        if (bus < -1 || bus >= r->nbuses || (bus >= 0 && !(r->psus[i].wired & (1u << bus))) ||
            h > RACK_PSU_UNKNOWN) {
            snprintf(err, errlen, "ledger payload: PSU %d has bus %d, health %u", i, bus, h);
            return -1;
        }
    }
    r->next_seq = get(&b, 8);
    r->last_change_ns = (int64_t)get(&b, 8);
    r->restore_done_ns = (int64_t)get(&b, 8);
    uint64_t fl = get(&b, 1);
    r->is_protected = fl & 1;
    r->redundancy_lost = (fl >> 1) & 1;
    for (int i = 0; i < r->nservers; i++) {
        struct rack_server *s = &r->servers[i];
        s->state = (enum rack_server_state)get(&b, 1);
        s->alloc_mw = (int64_t)get(&b, 8);
        s->draw_mw = (int64_t)get(&b, 8);
        s->on_draw_mw = (int64_t)get(&b, 8);
        s->seq = get(&b, 8);
        s->losses = (int)(int32_t)(uint32_t)get(&b, 4);
        s->lost_ns = (int64_t)get(&b, 8);
        s->back_ns = (int64_t)get(&b, 8);
    }
    for (int i = 0; i < r->npsus; i++) {
        struct rack_psu *p = &r->psus[i];
        p->bus = (int8_t)(uint8_t)get(&b, 1);
        p->health = (enum rack_psu_health)get(&b, 1);
        p->derated_mw = (int64_t)get(&b, 8);
    }
    for (int i = 0; i < r->nbuses; i++)
        r->bus_failed[i] = get(&b, 1) != 0;
    for (int i = 0; i < r->nfeeds; i++)
        r->feed_failed[i] = get(&b, 1) != 0;
    return 0;
}
