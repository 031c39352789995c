/*
 * view.c - the snapshot's JSON.
 */
#include "view.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balance.h"
#include "event.h"
#include "flow.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12))

int64_t view_stale_after_ns(int64_t poll_ns)
{
    int64_t n = poll_ns > INT64_MAX / VIEW_STALE_POLLS ? INT64_MAX : VIEW_STALE_POLLS * poll_ns;
    return n < VIEW_STALE_MIN_NS ? VIEW_STALE_MIN_NS : n;
}

/* The age of a reading last fresh at at_ns (INT64_MIN: never), in seconds
 * to the tenth; -1 for never. */
static int64_t age_ds(const struct view_in *in, int64_t at_ns)
{
    if (at_ns == INT64_MIN)
        return -1;
    int64_t age = in->start_ns + in->t_ns - at_ns;
    return age > 0 ? age / 100000000 : 0;
}

static json_t *age_json(int64_t ds)
{
    return ds < 0 ? json_null() : ds % 10 ? json_real((double)ds / 10) : json_integer(ds / 10);
}

static bool is_stale(const struct view_in *in, const struct view_read *rd)
{
    if (rd->at_ns == INT64_MIN)
        return false; /* never read: its figures are null, not old */
    int64_t limit = rd->dev >= 0 && (size_t)rd->dev < in->ndevices
                        ? in->devices[rd->dev].stale_after_ns
                        : VIEW_STALE_MIN_NS;
    return in->start_ns + in->t_ns - rd->at_ns > limit;
}

/* A reading's age beside its figures: age_s (seconds since its device last
 * read it, to the tenth), read_at (Unix time of that read) and stale (older
 * than a few polls of its device); null, null, false when never read. */
static void set_age(json_t *o, const struct view_in *in, const struct view_read *rd)
{
    json_object_set_new(o, "age_s", age_json(age_ds(in, rd->at_ns)));
    if (rd->at_ns == INT64_MIN) {
        json_object_set_new(o, "read_at", json_null());
    } else {
        int64_t ms = (int64_t)(in->started * 1e3) + (rd->at_ns - in->start_ns) / 1000000;
        json_object_set_new(o, "read_at", json_real((double)ms / 1e3));
    }
    json_object_set_new(o, "stale", json_boolean(is_stale(in, rd)));
}

static json_t *bus_names(const struct rack *r, uint32_t mask)
{
    json_t *a = json_array();
    for (int b = 0; b < r->nbuses; b++)
        if ((mask >> b) & 1)
            json_array_append_new(a, json_string(r->buses[b]));
    return a;
}

void view_queue_positions(const struct rack *r, int *pos)
{
    /* a waiting request's place: one more than the waiting requests the
     * policy considers before it (quadratic, but racks hold tens of servers
     * and this runs once per snapshot) */
    for (int i = 0; i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        pos[i] = 0;
        if (s->state != RACK_SRV_WAITING)
            continue;
        pos[i] = 1;
        for (int j = 0; j < r->nservers; j++) {
            const struct rack_server *o = &r->servers[j];
            if (j != i && o->state == RACK_SRV_WAITING &&
                (o->priority < s->priority ||
                 (o->priority == s->priority && (o->seq < s->seq || (o->seq == s->seq && j < i)))))
                pos[i]++;
        }
    }
}

json_t *view_server(const struct rack *r, int i, int queue_pos, const char *reason)
{
    const struct rack_server *s = &r->servers[i];
    bool draws = rack_server_draws(s);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(s->id));
    json_object_set_new(o, "state", json_string(rack_server_state_name(s->state)));
    json_object_set_new(o, "watts", evjson_watts(draws ? s->alloc_mw : 0));
    json_object_set_new(o, "power_w", evjson_watts(s->power_mw));
    json_object_set_new(o, "min_w", evjson_watts(s->min_mw));
    json_object_set_new(o, "priority", json_integer(s->priority));
    json_object_set_new(o, "buses", bus_names(r, s->wired));
    json_object_set_new(o, "chassis",
                        s->chassis >= 0 ? json_string(r->chassis[s->chassis]) : json_null());
    json_object_set_new(o, "draw_w",
                        draws && s->draw_mw >= 0 ? evjson_watts(s->draw_mw) : json_null());
    json_object_set_new(o, "seq", json_integer((json_int_t)s->seq));
    json_object_set_new(o, "queue_position", queue_pos > 0 ? json_integer(queue_pos) : json_null());
    json_object_set_new(o, "reason", reason && *reason ? json_string(reason) : json_null());
    return o;
}

static json_t *psu_obj(const struct view_in *in, int i, int64_t load_mw, int64_t loss_mw)
{
    const struct rack *r = in->r;
    const struct rack_psu *p = &r->psus[i];
    bool dead = r->feed_failed[p->feed];
    const struct driver_psu_reading *t = &in->tel[i];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(p->id));
    json_object_set_new(o, "state", json_string(dead ? "failed" : rack_psu_health_name(p->health)));
    json_object_set_new(o, "out_of_service", json_boolean(in->psu_oos[i]));
    json_object_set_new(o, "bus", p->bus >= 0 ? json_string(r->buses[p->bus]) : json_null());
    json_object_set_new(o, "buses", bus_names(r, p->wired));
    json_object_set_new(o, "feed", json_string(r->feeds[p->feed]));
    json_object_set_new(o, "capacity_w", evjson_watts(dead ? 0 : rack_psu_health_mw(p)));
    json_object_set_new(o, "rated_w", evjson_watts(p->rated_mw));
    json_object_set_new(o, "switch", json_string(rack_switch_name(p->sw)));
    json_object_set_new(o, "switch_ms", json_real((double)p->switch_ns / 1e6));
    json_object_set_new(o, "predicted_to_fail", json_boolean(p->at_risk));
    /* balancing's model (docs/balancing.md): what it carries and loses */
    json_object_set_new(o, "standby", json_boolean(p->standby));
    json_object_set_new(o, "share",
                        p->share_ppm > 0 && !p->standby
                            ? json_real((double)p->share_ppm / BALANCE_PPM)
                            : json_null());
    json_object_set_new(o, "load_w", evjson_watts(load_mw));
    json_object_set_new(o, "loss_w", evjson_watts(loss_mw));
    bool have = t->psu == i;
    json_object_set_new(o, "output_w",
                        have && t->out_mw >= 0 ? evjson_watts(t->out_mw) : json_null());
    json_object_set_new(o, "input_w", have && t->in_mw >= 0 ? evjson_watts(t->in_mw) : json_null());
    json_object_set_new(o, "voltage_v",
                        have && t->out_mv >= 0 ? json_real((double)t->out_mv / 1e3) : json_null());
    json_object_set_new(o, "current_a",
                        have && t->out_ma >= 0 ? json_real((double)t->out_ma / 1e3) : json_null());
    json_object_set_new(o, "temperature_c",
                        have && t->temp_mc >= 0 ? json_real((double)t->temp_mc / 1e3)
                                                : json_null());
    json_object_set_new(o, "input_v",
                        have && t->in_mv >= 0 ? json_real((double)t->in_mv / 1e3) : json_null());
    json_object_set_new(o, "input_a",
                        have && t->in_ma >= 0 ? json_real((double)t->in_ma / 1e3) : json_null());
    json_object_set_new(o, "inlet_c",
                        have && t->inlet_mc >= 0 ? json_real((double)t->inlet_mc / 1e3)
                                                 : json_null());
    json_object_set_new(o, "fan_rpm",
                        have && t->fan_rpm >= 0 ? json_integer(t->fan_rpm) : json_null());
    const struct pred_psu *q = in->pred && in->pred->on ? &in->pred->psu[i] : NULL;
    json_object_set_new(o, "risk",
                        q && q->have ? json_real(round(q->risk * 1e4) / 1e4) : json_null());
    /* off, a PSU adopted from the ledger is still at risk (pred_adopt) */
    json_object_set_new(o, "at_risk",
                        json_boolean(in->pred && in->pred->psu && in->pred->psu[i].at_risk));
    json_object_set_new(o, "ttf_s", q && q->have ? json_integer(llround(q->ttf_s)) : json_null());
    /* at risk from the ledger (a restart, a fail-over), not from its window:
     * risk and ttf_s are then what its window says now, not why it is */
    json_object_set_new(o, "risk_adopted",
                        json_boolean(in->pred && in->pred->psu && in->pred->psu[i].at_risk &&
                                     in->pred->psu[i].adopted));
    char sw[8];
    snprintf(sw, sizeof(sw), "0x%04x", have && t->status_word >= 0 ? (unsigned)t->status_word : 0u);
    json_object_set_new(o, "status_word",
                        have && t->status_word >= 0 ? json_string(sw) : json_null());
    return o;
}

static json_t *bus_obj(const struct view_in *in, int b, const int64_t *cap, const int64_t *load)
{
    const struct rack *r = in->r;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(r->buses[b]));
    json_object_set_new(o, "state", json_string(r->bus_failed[b] ? "failed" : "ok"));
    json_object_set_new(o, "out_of_service", json_boolean(in->bus_oos[b]));
    json_object_set_new(o, "capacity_w", evjson_watts(cap[b]));
    json_object_set_new(o, "load_w", evjson_watts(load[b]));
    json_t *ps = json_array();
    for (int i = 0; i < r->npsus; i++)
        if (r->psus[i].bus == b)
            json_array_append_new(ps, json_string(r->psus[i].id));
    json_object_set_new(o, "psus", ps);
    return o;
}

/* An ISO 8601 UTC time to the millisecond, as the journal's events show
 * theirs; null for 0 (never). */
static json_t *iso_time(double t)
{
    if (t <= 0)
        return json_null();
    time_t sec = (time_t)t;
    struct tm tm;
    char buf[40];
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)((t - (double)sec) * 1000) % 1000);
    return json_string(buf);
}

/* role, node, epoch, primary, peers and the rack bus's counters: a lone
 * controller is its own primary, in epoch 0, without a rack bus. */
static void cluster_fields(json_t *o, const struct view_cluster *c)
{
    json_object_set_new(o, "role", json_string(c ? c->role : "primary"));
    json_object_set_new(o, "node", c ? json_integer(c->node) : json_null());
    json_object_set_new(o, "epoch", json_integer(c ? (json_int_t)c->epoch : 0));
    json_object_set_new(o, "primary", c && c->primary ? json_integer(c->primary) : json_null());
    json_t *peers = json_array();
    for (size_t i = 0; c && i < c->npeers; i++)
        json_array_append_new(peers, json_pack("{sissso}", "node", c->peers[i].node, "state",
                                               c->peers[i].state, "last_heard",
                                               iso_time(c->peers[i].last_heard)));
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "rackbus",
                        c ? json_pack("{sIsIsIsIsI}", "sent", (json_int_t)c->sent, "received",
                                      (json_int_t)c->received, "forged", (json_int_t)c->forged,
                                      "replayed", (json_int_t)c->replayed, "unverified",
                                      (json_int_t)c->unverified)
                          : json_null());
}

static json_t *status_obj(const struct view_in *in)
{
    const struct rack *r = in->r;
    int count[5] = {0}, psus_failed = 0, buses_failed = 0;
    for (int i = 0; i < r->nservers; i++)
        count[r->servers[i].state]++;
    for (int i = 0; i < r->npsus; i++)
        psus_failed += !rack_psu_alive(r, &r->psus[i]);
    for (int b = 0; b < r->nbuses; b++)
        buses_failed += r->bus_failed[b];
    json_t *o = json_object(), *c = json_object(), *devs = json_array();
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "protection", json_string(rack_protection_name(r->protection)));
    json_object_set_new(o, "on_protection_loss",
                        json_string(r->on_loss == RACK_ON_LOSS_SHED ? "shed" : "hold"));
    json_object_set_new(o, "on_predicted_failure",
                        json_string(r->on_predicted == RACK_PREDICTED_SHED ? "shed" : "keep"));
    json_object_set_new(o, "protected", json_boolean(r->is_protected));
    json_object_set_new(o, "redundancy_lost", json_boolean(r->redundancy_lost));
    json_object_set_new(o, "capacity_w", evjson_watts(rack_capacity_mw(r)));
    /* what the battery reserves give the policy while a feed is down (0 else) */
    json_object_set_new(o, "reserve_capacity_w", evjson_watts(rack_reserve_mw(r)));
    json_object_set_new(o, "allocated_w", evjson_watts(rack_allocated_mw(r)));
    json_object_set_new(c, "servers", json_integer(r->nservers));
    static const enum rack_server_state order[] = {RACK_SRV_ON, RACK_SRV_CAPPED, RACK_SRV_SHED,
                                                   RACK_SRV_WAITING, RACK_SRV_OFF};
    for (size_t k = 0; k < sizeof(order) / sizeof(*order); k++)
        json_object_set_new(c, rack_server_state_name(order[k]), json_integer(count[order[k]]));
    json_object_set_new(c, "psus", json_integer(r->npsus));
    json_object_set_new(c, "psus_failed", json_integer(psus_failed));
    json_object_set_new(c, "buses", json_integer(r->nbuses));
    json_object_set_new(c, "buses_failed", json_integer(buses_failed));
    json_object_set_new(o, "counts", c);
    for (size_t k = 0; k < in->ndevices; k++) {
        json_t *d = json_object();
        json_object_set_new(d, "device", json_string(in->devices[k].name));
        json_object_set_new(d, "state", json_string(in->devices[k].up ? "up" : "down"));
        json_object_set_new(d, "error",
                            in->devices[k].up || !in->devices[k].error[0]
                                ? json_null()
                                : json_string(in->devices[k].error));
        struct view_read dr = {in->devices[k].read_ns, (int)k};
        set_age(d, in, &dr);
        json_object_set_new(d, "stale_after_s",
                            age_json(in->devices[k].stale_after_ns / 100000000));
        if (in->devices[k].nunits) {
            json_t *us = json_array();
            for (size_t j = 0; j < in->devices[k].nunits; j++) {
                const struct driver_unit_stats *u = &in->devices[k].units[j];
                json_t *uo = json_object();
                json_object_set_new(uo, "unit", json_integer(u->unit));
                json_object_set_new(uo, "kind", json_string(u->kind));
                json_object_set_new(uo, "state", json_string(u->state));
                json_object_set_new(uo, "ok", json_integer((json_int_t)u->ok));
                json_object_set_new(uo, "timeouts", json_integer((json_int_t)u->timeouts));
                json_object_set_new(uo, "crc_errors", json_integer((json_int_t)u->crc_errors));
                json_object_set_new(uo, "exceptions", json_integer((json_int_t)u->exceptions));
                json_object_set_new(uo, "retries", json_integer((json_int_t)u->retries));
                json_object_set_new(uo, "writes", json_integer((json_int_t)u->writes));
                json_object_set_new(uo, "write_errors", json_integer((json_int_t)u->write_errors));
                json_object_set_new(uo, "last_error",
                                    u->last_error[0] ? json_string(u->last_error) : json_null());
                json_object_set_new(uo, "age_s", age_json(age_ds(in, u->last_ok_ns)));
                json_array_append_new(us, uo);
            }
            json_object_set_new(d, "units", us);
        }
        json_array_append_new(devs, d);
    }
    json_object_set_new(o, "devices", devs);
    /* what the protection check cannot count (a PSU whose health cannot be
     * read: docs/policy.md), with how long it has not been read; and how
     * many readings are stale */
    json_t *unknown = json_array();
    int stale_psus = 0, stale_servers = 0;
    for (int i = 0; in->psu_read && i < r->npsus; i++) {
        stale_psus += is_stale(in, &in->psu_read[i]);
        if (rack_psu_known(&r->psus[i]) || !rack_psu_alive(r, &r->psus[i]))
            continue;
        json_t *u = json_object();
        json_object_set_new(u, "psu", json_string(r->psus[i].id));
        json_object_set_new(u, "age_s", age_json(age_ds(in, in->psu_read[i].at_ns)));
        json_array_append_new(unknown, u);
    }
    for (int i = 0; in->srv_read && i < r->nservers; i++)
        stale_servers += is_stale(in, &in->srv_read[i]);
    json_object_set_new(o, "unknown", unknown);
    json_object_set_new(o, "stale",
                        json_pack("{sisi}", "psus", stale_psus, "servers", stale_servers));
    json_t *alarms = json_array();
    for (size_t k = 0; in->alarms && k < in->alarms->n; k++) {
        const struct alarm *a = &in->alarms->v[k];
        json_t *ao = json_object();
        json_object_set_new(ao, "kind", json_string(alarm_kind_name(a->kind)));
        json_object_set_new(ao, "subject", json_string(a->subject));
        int64_t since_ns = a->since_ns - in->start_ns;
        /* as an event's t: to the millisecond */
        json_object_set_new(ao, "since", evjson_seconds(since_ns - since_ns % 1000000));
        json_object_set_new(ao, "reason", json_string(a->reason));
        json_array_append_new(alarms, ao);
    }
    json_object_set_new(o, "alarms", alarms);
    json_object_set_new(o, "t", evjson_seconds(in->t_ns - in->t_ns % 1000000));
    json_object_set_new(o, "started", json_real(in->started));
    json_object_set_new(o, "last_event_id", json_integer(in->last_event_id));
    json_object_set_new(o, "version", json_string(in->version));
    cluster_fields(o, in->cluster);
    json_object_set(o, "outage", in->outage_status ? in->outage_status : json_null());
    json_object_set_new(o, "raises_held",
                        in->raises_held && in->raises_held[0] ? json_string(in->raises_held)
                                                              : json_null());
    return o;
}

/* Fills a list from objs (an array of objects with "id"), under name. */
static int fill_list(struct hub_list *l, const char *name, json_t *objs)
{
    size_t n = json_array_size(objs), total = strlen(name) + 8;
    l->n = n;
    l->ids = calloc(n ? n : 1, sizeof(*l->ids));
    l->json = calloc(n ? n : 1, sizeof(*l->json));
    if (!l->ids || !l->json)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(objs, i);
        const char *id = json_string_value(json_object_get(o, "id"));
        snprintf(l->ids[i], RACK_ID_LEN, "%s", id ? id : "");
        if (!(l->json[i] = json_dumps(o, DUMP_FLAGS)))
            return -1;
        total += strlen(l->json[i]) + 1;
    }
    if (!(l->all = malloc(total)))
        return -1;
    size_t o = (size_t)snprintf(l->all, total, "{\"%s\":[", name);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(l->json[i]);
        if (i)
            l->all[o++] = ',';
        memcpy(l->all + o, l->json[i], len);
        o += len;
    }
    memcpy(l->all + o, "]}", 3);
    return 0;
}

struct hub_snap *view_build(const struct view_in *in)
{
    const struct rack *r = in->r;
    struct hub_snap *s = calloc(1, sizeof(*s));
    json_t *servers = json_array(), *psus = json_array(), *buses = json_array();
    json_t *status = status_obj(in);
    int64_t cap[RACK_MAX_BUSES], load[RACK_MAX_BUSES];
    if (flow_rack(r, NULL, cap, load) > 1.0) /* the granted power does not fit: no split to show */
        memset(load, 0, sizeof(load));
    /* each PSU's load and loss by balancing's model, at what the servers
     * draw (measured, else their grants) */
    int64_t *draw = calloc((size_t)r->nservers + 1, sizeof(*draw));
    int64_t *psu_load = calloc((size_t)r->npsus + 1, sizeof(*psu_load));
    int64_t *psu_loss = calloc((size_t)r->npsus + 1, sizeof(*psu_loss));
    if (draw && psu_load && psu_loss) {
        int64_t bus_mw[RACK_MAX_BUSES];
        for (int i = 0; i < r->nservers; i++) {
            const struct rack_server *sv = &r->servers[i];
            draw[i] = !rack_server_draws(sv) ? 0 : sv->draw_mw >= 0 ? sv->draw_mw : sv->alloc_mw;
        }
        balance_awake_loads(r, draw, bus_mw);
        balance_rack_psus(r, bus_mw, psu_load, psu_loss);
        if (status)
            json_object_set_new(status, "loss_w", evjson_watts(balance_rack_loss_mw(r, bus_mw)));
    }
    if (status)
        json_object_set_new(status, "balance",
                            json_string(r->balance == RACK_BALANCE_ON ? "on" : "off"));
    int *queue = calloc((size_t)r->nservers + 1, sizeof(*queue));
    bool listed = queue != NULL && draw && psu_load && psu_loss;
    if (listed) {
        view_queue_positions(r, queue);
        for (int i = 0; i < r->nservers; i++) {
            json_t *so = view_server(r, i, queue[i], in->srv_reason ? in->srv_reason[i] : NULL);
            if (in->srv_read)
                set_age(so, in, &in->srv_read[i]);
            json_array_append_new(servers, so);
        }
    }
    free(queue);
    for (int i = 0; i < r->npsus; i++) {
        json_t *po = psu_obj(in, i, psu_load ? psu_load[i] : 0, psu_loss ? psu_loss[i] : 0);
        if (in->psu_read)
            set_age(po, in, &in->psu_read[i]);
        json_array_append_new(psus, po);
    }
    for (int b = 0; b < r->nbuses; b++)
        json_array_append_new(buses, bus_obj(in, b, cap, load));
    bool ok = s && listed && servers && psus && buses && status &&
              (s->status = json_dumps(status, DUMP_FLAGS)) &&
              (s->outage = json_dumps(in->outage ? in->outage : json_null(),
                                      DUMP_FLAGS | JSON_ENCODE_ANY)) &&
              !fill_list(&s->servers, "servers", servers) && !fill_list(&s->psus, "psus", psus) &&
              !fill_list(&s->buses, "buses", buses);
    json_decref(servers);
    json_decref(psus);
    json_decref(buses);
    json_decref(status);
    free(draw);
    free(psu_load);
    free(psu_loss);
    if (!ok) {
        hub_snap_free(s);
        return NULL;
    }
    return s;
}
