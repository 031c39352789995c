/*
 * replica.c - a cluster's ledger entries and snapshots (replica.h).
 */
#include "replica.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

static json_t *server_row(const struct rack *r, int i, double time)
{
    struct store_server x = ledger_server_row(r, i, time);
    return json_pack("{sssssIsIsIsf}", "id", x.id, "state", rack_server_state_name(x.state),
                     "watts_mw", (json_int_t)x.watts_mw, "cap_mw", (json_int_t)x.cap_mw, "seq",
                     (json_int_t)x.seq, "time", x.time);
}

/* The rows of every PSU and bus, and of the servers marked (or all). */
static json_t *rows(const struct rack *r, const bool *psu_oos, const bool *bus_oos,
                    const bool *marked, double time)
{
    json_t *o = json_object(), *servers = json_array(), *psus = json_array(), *buses = json_array();
    json_object_set_new(o, "servers", servers);
    json_object_set_new(o, "psus", psus);
    json_object_set_new(o, "buses", buses);
    for (int i = 0; i < r->nservers; i++)
        if (!marked || marked[i])
            json_array_append_new(servers, server_row(r, i, time));
    for (int i = 0; i < r->npsus; i++) {
        struct store_psu x = ledger_psu_row(r, i, psu_oos[i]);
        json_array_append_new(psus, json_pack("{sssssbsb}", "id", x.id, "bus", x.bus, "oos",
                                              (int)x.out_of_service, "at_risk", (int)x.at_risk));
    }
    for (int b = 0; b < r->nbuses; b++) {
        struct store_bus x = ledger_bus_row(r, b, bus_oos[b]);
        json_array_append_new(buses, json_pack("{sssb}", "id", x.id, "oos", (int)x.out_of_service));
    }
    /* json_pack returns NULL when out of memory: an array that lost a row */
    if (!o || !servers || !psus || !buses || json_array_size(psus) != (size_t)r->npsus ||
        json_array_size(buses) != (size_t)r->nbuses) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static char *dump(json_t *o, size_t *len)
{
    char *text = json_dumps(o, DUMP_FLAGS);
    *len = text ? strlen(text) : 0;
    return text;
}

char *replica_entry(const struct rack *r, const bool *psu_oos, const bool *bus_oos, json_t *evs,
                    const struct policy_actions *acts, bool all, json_t *outage, double time,
                    size_t max, size_t *len, char *err, size_t errlen)
{
    bool *marked = NULL;
    if (!all) {
        marked = calloc((size_t)r->nservers + 1, sizeof(*marked));
        if (!marked) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        for (size_t k = 0; k < acts->n; k++)
            if (acts->v[k].server >= 0 && acts->v[k].server < r->nservers)
                marked[acts->v[k].server] = true;
    }
    json_t *o = rows(r, psu_oos, bus_oos, marked, time);
    free(marked);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (outage)
        json_object_set(o, "outage", outage);
    json_object_set_new(o, "events", evs ? json_incref(evs) : json_array());
    char *text = dump(o, len);
    if (text && *len > max) { /* the rows are what matters: the events stay here */
        free(text);
        json_object_set_new(o, "events", json_array());
        json_object_set_new(o, "events_left_out", json_integer((json_int_t)json_array_size(evs)));
        text = dump(o, len);
    }
    json_decref(o);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (*len > max) {
        snprintf(err, errlen, "the entry's rows%s take %zu bytes, more than a datagram's %zu",
                 outage ? " and outage record" : "", *len, max);
        free(text);
        return NULL;
    }
    return text;
}

char *replica_snapshot(const struct rack *r, const bool *psu_oos, const bool *bus_oos,
                       json_t *outage, double time, size_t *len)
{
    json_t *o = rows(r, psu_oos, bus_oos, NULL, time);
    if (!o)
        return NULL;
    json_object_set_new(o, "snapshot", json_true());
    if (outage)
        json_object_set(o, "outage", outage);
    char *text = dump(o, len);
    json_decref(o);
    return text;
}

/* ---- applying ---- */

static const char *str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int parse_server(json_t *o, struct store_server *x, char *err, size_t errlen)
{
    const char *id = str_of(o, "id"), *state = str_of(o, "state");
    json_t *w = json_object_get(o, "watts_mw"), *c = json_object_get(o, "cap_mw"),
           *q = json_object_get(o, "seq"), *t = json_object_get(o, "time");
    int st = state ? store_state_parse(state) : -1;
    if (!id || strlen(id) >= RACK_ID_LEN || st < 0 || !json_is_integer(w) || !json_is_integer(c) ||
        !json_is_integer(q) || json_integer_value(q) < 0 || !json_is_number(t)) {
        snprintf(err, errlen, "a server row that is not one");
        return -1;
    }
    *x = (struct store_server){.state = (enum rack_server_state)st,
                               .watts_mw = json_integer_value(w),
                               .cap_mw = json_integer_value(c),
                               .seq = (uint64_t)json_integer_value(q),
                               .time = json_number_value(t)};
    snprintf(x->id, sizeof(x->id), "%s", id);
    return 0;
}

/* A row without at_risk comes from an older primary, which does not keep
 * it: the flag stays as this controller holds it (r). */
static int parse_psu(json_t *o, const struct rack *r, struct store_psu *x, char *err, size_t errlen)
{
    const char *id = str_of(o, "id"), *bus = str_of(o, "bus");
    json_t *oos = json_object_get(o, "oos"), *risk = json_object_get(o, "at_risk");
    if (!id || !bus || strlen(id) >= RACK_ID_LEN || strlen(bus) >= RACK_ID_LEN ||
        !json_is_boolean(oos) || (risk && !json_is_boolean(risk))) {
        snprintf(err, errlen, "a PSU row that is not one");
        return -1;
    }
    int i = risk ? -1 : rack_find_psu(r, id);
    *x = (struct store_psu){.out_of_service = json_is_true(oos),
                            .at_risk = risk ? json_is_true(risk) : i >= 0 && r->psus[i].at_risk};
    snprintf(x->id, sizeof(x->id), "%s", id);
    snprintf(x->bus, sizeof(x->bus), "%s", bus);
    return 0;
}

static int parse_bus(json_t *o, struct store_bus *x, char *err, size_t errlen)
{
    const char *id = str_of(o, "id");
    json_t *oos = json_object_get(o, "oos");
    if (!id || strlen(id) >= RACK_ID_LEN || !json_is_boolean(oos)) {
        snprintf(err, errlen, "a bus row that is not one");
        return -1;
    }
    *x = (struct store_bus){.out_of_service = json_is_true(oos)};
    snprintf(x->id, sizeof(x->id), "%s", id);
    return 0;
}

/* The rows parsed, all checked before anything is written. */
struct parsed {
    struct store_server *servers;
    struct store_psu *psus;
    struct store_bus *buses;
    size_t nservers, npsus, nbuses;
};

static void parsed_free(struct parsed *p)
{
    free(p->servers);
    free(p->psus);
    free(p->buses);
}

static int parse_rows(json_t *o, const struct rack *r, struct parsed *p, char *err, size_t errlen)
{
    json_t *servers = json_object_get(o, "servers"), *psus = json_object_get(o, "psus"),
           *buses = json_object_get(o, "buses");
    if (!json_is_array(servers) || !json_is_array(psus) || !json_is_array(buses)) {
        snprintf(err, errlen, "no servers, psus or buses rows");
        return -1;
    }
    p->nservers = json_array_size(servers);
    p->npsus = json_array_size(psus);
    p->nbuses = json_array_size(buses);
    p->servers = calloc(p->nservers + 1, sizeof(*p->servers));
    p->psus = calloc(p->npsus + 1, sizeof(*p->psus));
    p->buses = calloc(p->nbuses + 1, sizeof(*p->buses));
    if (!p->servers || !p->psus || !p->buses) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < p->nservers; k++)
        if (parse_server(json_array_get(servers, k), &p->servers[k], err, errlen))
            return -1;
    for (size_t k = 0; k < p->npsus; k++)
        if (parse_psu(json_array_get(psus, k), r, &p->psus[k], err, errlen))
            return -1;
    for (size_t k = 0; k < p->nbuses; k++)
        if (parse_bus(json_array_get(buses, k), &p->buses[k], err, errlen))
            return -1;
    return 0;
}

static int write_all(const struct replica_target *t, const struct parsed *p, json_t *evs,
                     json_t *outage, double time, const struct store_node *pos, char *err,
                     size_t errlen)
{
    size_t k;
    json_t *ev;
    json_array_foreach(evs, k, ev)
    {
        if (store_append(t->store, ev, err, errlen) < 0)
            return -1;
    }
    for (k = 0; k < p->nservers; k++)
        if (store_put_server(t->store, &p->servers[k], err, errlen))
            return -1;
    for (k = 0; k < p->npsus; k++)
        if (store_put_psu(t->store, &p->psus[k], err, errlen))
            return -1;
    for (k = 0; k < p->nbuses; k++)
        if (store_put_bus(t->store, &p->buses[k], err, errlen))
            return -1;
    if (json_is_object(outage)) { /* kept with the rows: a restart comes back knowing it */
        char *text = json_dumps(outage, DUMP_FLAGS);
        int rc = text ? store_outage_put(t->store, text, time, err, errlen) : -1;
        if (!text)
            snprintf(err, errlen, "out of memory");
        free(text);
        if (rc)
            return -1;
    }
    return store_node_put(t->store, pos, err, errlen);
}

/* The rows into the rack. An operator's flag that ends gives the element
 * back to the readings (ledger_apply_* only ever sets it). */
static void put_rows(const struct replica_target *t, const struct parsed *p)
{
    struct rack *r = t->rack;
    for (size_t k = 0; k < p->nservers; k++) {
        int i = ledger_apply_server(r, &p->servers[k]);
        if (i < 0)
            continue;
        if (t->known)
            t->known[i] = true;
        if (p->servers[k].seq >= r->next_seq)
            r->next_seq = p->servers[k].seq + 1;
    }
    for (size_t k = 0; k < p->npsus; k++) {
        int i = rack_find_psu(r, p->psus[k].id);
        bool was = i >= 0 && t->psu_oos[i];
        i = ledger_apply_psu(r, t->psu_oos, &p->psus[k]);
        if (i >= 0 && was && !p->psus[k].out_of_service && r->psus[i].health == RACK_PSU_FAILED)
            r->psus[i].health = RACK_PSU_OK;
    }
    for (size_t k = 0; k < p->nbuses; k++) {
        int b = ledger_apply_bus(r, t->bus_oos, &p->buses[k]);
        if (b >= 0 && !p->buses[k].out_of_service && t->bus_oos[b]) {
            t->bus_oos[b] = false;
            r->bus_failed[b] = false;
        }
    }
}

int replica_apply(const struct replica_target *t, bool snapshot, uint64_t index,
                  const uint8_t *payload, size_t len, const struct store_node *pos, double time,
                  json_t **events, json_t **outage, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
    struct parsed p = {0};
    json_t *evs = NULL;
    int rc = -1;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "the entry is not a JSON object: %s", o ? "" : jerr.text);
        goto out;
    }
    if (parse_rows(o, t->rack, &p, err, errlen))
        goto out;
    if (snapshot) {
        char why[200];
        snprintf(why, sizeof(why),
                 "the primary's ledger replaced this controller's, as of its entry %llu",
                 (unsigned long long)index);
        evs = json_pack("[{sIsfssss}]", "id", (json_int_t)0, "time", time, "event", "snapshot",
                        "reason", why);
    } else {
        evs = json_deep_copy(json_object_get(o, "events"));
        if (!json_is_array(evs)) {
            snprintf(err, errlen, "the entry has no events");
            goto out;
        }
        size_t k;
        json_t *ev;
        json_array_foreach(evs, k, ev)
        {
            if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "event")) ||
                !json_is_number(json_object_get(ev, "time"))) {
                snprintf(err, errlen, "an event that is not one");
                goto out;
            }
            json_object_set_new(ev, "entry", json_integer((json_int_t)index));
        }
    }
    if (!evs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (store_begin(t->store, err, errlen))
        goto out;
    if (write_all(t, &p, evs, json_object_get(o, "outage"), time, pos, err, errlen) ||
        store_commit(t->store, err, errlen)) {
        store_rollback(t->store);
        goto out;
    }
    put_rows(t, &p);
    if (events)
        *events = json_incref(evs);
    if (outage) /* checked by its owner (orun_follow): a bad one costs no entry */
        *outage = json_incref(json_object_get(o, "outage"));
    rc = 0;
out:
    json_decref(evs);
    json_decref(o);
    parsed_free(&p);
    return rc;
}
