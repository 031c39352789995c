/*
 * rackfile_outage.c - the rack file's outage keys (docs/rack-file.md,
 * docs/outage.md "The model"): qos_classes:, activities:, reserves: and
 * outage: under rack:, the servers' priorities that follow from the
 * activities, and the timeline's outage events (mains_fail, mains_return,
 * outage, reserve_lost, reserve_back).
 *
 * A rack file without these keys loads exactly as before: nothing here runs
 * but rackfile_outage_priorities, which then only copies each server's
 * priority into own_priority.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "rackfile_fields.h"

#define MAX_SECONDS 1e9
#define MAX_PRIORITY 1000000
#define MAX_QOS_CLASSES 1024
#define MAX_RESERVE_W 1e9 /* a whole data hall's UPS is far below */
#define MAX_RESERVE_WH 1e9
#define SHARE_SLACK 1e-9 /* shares written as decimals: 0.7 + 0.3 may exceed 1 by an ulp */
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Defaults by kind (design: lithium BBUs and server batteries, lead-acid UPSes). */
#define BBU_EFFICIENCY 0.95
#define UPS_EFFICIENCY 0.92
#define LITHIUM_PEUKERT 1.05
#define LEAD_ACID_PEUKERT 1.15

_Static_assert(sizeof(enum rack_group_by) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rack_reserve_kind) == sizeof(int), "enum stored as int");
_Static_assert(offsetof(struct rack_activity, id) == 0, "activity id first");
_Static_assert(offsetof(struct rack_reserve, id) == 0, "reserve id first");

static const char *const group_words[] = {"data", "process", NULL};
static const char *const kind_words[] = {"bbu", "ups", "server", NULL};
static const char *const outage_words[] = {"start", "end", NULL};

static conf_setter set_qos, set_servers, set_movable, set_migrate, set_switch;

/* ---- activities ---- */

/* An activity while it is read: the rack's, and what only the file has. */
struct act_in {
    struct rack_activity a;
    double share; /* share: of the list form */
    int *seen;    /* per server: stamp of the last list of this activity naming it */
    int stamp;    /* its servers: are marked stamp, its movable_to: stamp + 1 */
};

enum { ACT_ID, ACT_QOS, ACT_GROUP_BY, ACT_SERVERS, ACT_SHARE, ACT_MOVABLE, ACT_STOP, ACT_MIGRATE };
static const struct conf_field activity_fields[] = {
    [ACT_ID] = {"id", conf_set_id, .required = true, .off = offsetof(struct act_in, a.id)},
    [ACT_QOS] = {"qos", set_qos, .required = true, .off = offsetof(struct act_in, a.qos)},
    [ACT_GROUP_BY] = {"group_by", conf_set_enum, .def = "data",
                      .off = offsetof(struct act_in, a.group_by), .words = group_words},
    [ACT_SERVERS] = {"servers", set_servers, .required = true},
    [ACT_SHARE] = {"share", conf_set_real, .def = "1", .off = offsetof(struct act_in, share),
                   .min_open = true, .max = 1},
    [ACT_MOVABLE] = {"movable_to", set_movable},
    [ACT_STOP] = {"stop_s", conf_set_num, .def = "60", .off = offsetof(struct act_in, a.stop_ns),
                  .max = MAX_SECONDS, .scale = 1e9},
    [ACT_MIGRATE] = {"migrate", set_migrate},
};
static const struct conf_table activity_table = {
    .what = "activity", .f = activity_fields, .n = LEN(activity_fields)};

static const struct conf_field migrate_fields[] = {
    {"command", conf_set_path, .required = true, .off = offsetof(struct rack_activity, migrate)},
    {"timeout_s", conf_set_num, .def = "300",
     .off = offsetof(struct rack_activity, migrate_timeout_ns), .min_open = true,
     .max = MAX_SECONDS, .scale = 1e9},
};
static const struct conf_table migrate_table = {
    .what = "migrate", .f = migrate_fields, .n = LEN(migrate_fields)};

/* ---- reserves ---- */

struct res_in {
    struct rack_reserve r;
    int bus, feed, server; /* its place: the one its kind names */
    uint32_t sw_buses;
    struct rackfile_ids sw_servers;
};

enum {
    RES_ID,
    RES_KIND,
    RES_BUS,
    RES_FEED,
    RES_SERVER,
    RES_ENERGY,
    RES_MAX,
    RES_RATED,
    RES_EFFICIENCY,
    RES_PEUKERT,
    RES_SWITCH
};
static const struct conf_field reserve_fields[] = {
    [RES_ID] = {"id", conf_set_id, .required = true, .off = offsetof(struct res_in, r.id)},
    [RES_KIND] = {"kind", conf_set_enum, .required = true, .off = offsetof(struct res_in, r.kind),
                  .words = kind_words},
    [RES_BUS] = {"bus", rackfile_set_ref, .off = offsetof(struct res_in, bus), .ref = CONF_REF_BUS},
    [RES_FEED] = {"feed", rackfile_set_ref, .off = offsetof(struct res_in, feed),
                  .ref = CONF_REF_FEED},
    [RES_SERVER] = {"server", rackfile_set_ref, .off = offsetof(struct res_in, server),
                    .ref = CONF_REF_SERVER},
    [RES_ENERGY] = {"energy_wh", conf_set_real, .required = true,
                    .off = offsetof(struct res_in, r.energy_wh), .min_open = true,
                    .max = MAX_RESERVE_WH},
    [RES_MAX] = {"max_w", conf_set_real, .required = true, .off = offsetof(struct res_in, r.max_w),
                 .min_open = true, .max = MAX_RESERVE_W},
    [RES_RATED] = {"rated_w", conf_set_real, .off = offsetof(struct res_in, r.rated_w),
                   .min_open = true, .max = MAX_RESERVE_W},
    [RES_EFFICIENCY] = {"efficiency", conf_set_real, .off = offsetof(struct res_in, r.efficiency),
                        .min_open = true, .max = 1},
    [RES_PEUKERT] = {"peukert", conf_set_real, .off = offsetof(struct res_in, r.peukert), .min = 1,
                     .max = 2},
    [RES_SWITCH] = {"switch", set_switch},
};
static const struct conf_table reserve_table = {
    .what = "reserve", .f = reserve_fields, .n = LEN(reserve_fields)};

enum { SW_BUSES, SW_SERVERS };
static const struct conf_field switch_fields[] = {
    [SW_BUSES] = {"buses", rackfile_set_busmask, .off = offsetof(struct res_in, sw_buses)},
    [SW_SERVERS] = {"servers", rackfile_set_ids, .off = offsetof(struct res_in, sw_servers),
                    .min = 1, .ref = CONF_REF_SERVER},
};
static const struct conf_table switch_table = {
    .what = "switch", .f = switch_fields, .n = LEN(switch_fields)};

/* ---- outage settings ---- */

static const struct conf_field outage_fields[] = {
    {"ride_through_s", conf_set_num, .def = "0",
     .off = offsetof(struct rack_outage_conf, ride_through_ns), .max = MAX_SECONDS, .scale = 1e9},
    {"mains_stable_s", conf_set_num, .def = "60",
     .off = offsetof(struct rack_outage_conf, mains_stable_ns), .max = MAX_SECONDS, .scale = 1e9},
    {"min_charge_pct", conf_set_int, .def = "20",
     .off = offsetof(struct rack_outage_conf, min_charge_pct), .max = 100},
    {"slack_pct", conf_set_int, .def = "5", .off = offsetof(struct rack_outage_conf, slack_pct),
     .max = 100},
    {"soft_off_s", conf_set_num, .def = "10", .off = offsetof(struct rack_outage_conf, soft_off_ns),
     .max = MAX_SECONDS, .scale = 1e9},
};
static const struct conf_table outage_table = {
    .what = "outage", .f = outage_fields, .n = LEN(outage_fields)};

_Static_assert(LEN(activity_fields) <= CONF_MAX_FIELDS && LEN(reserve_fields) <= CONF_MAX_FIELDS &&
                   LEN(outage_fields) <= CONF_MAX_FIELDS,
               "CONF_MAX_FIELDS too small");

/* ---- qos_classes ---- */

static size_t map_len(const yaml_node_t *n)
{
    return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* The priority of a class in the checked qos_classes: mapping, 0 if absent. */
static int qos_priority(struct conf_ctx *c, const char *name)
{
    if (!c->qos)
        return 0;
    for (yaml_node_pair_t *p = c->qos->data.mapping.pairs.start; p < c->qos->data.mapping.pairs.top;
         p++)
        if (!strcmp(conf_str(conf_node(c, p->key)), name))
            return atoi(conf_str(conf_node(c, p->value)));
    return 0;
}

int rackfile_set_qos_classes(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                             void *obj)
{
    (void)obj;
    if (v->type != YAML_MAPPING_NODE)
        return conf_fail(c, v,
                         "%s: expected a mapping of class names to priorities such as "
                         "{critical: 1, gold: 2}, got %s",
                         f->key, conf_show(c, v));
    if (map_len(v) > MAX_QOS_CLASSES)
        return conf_fail(c, v, "%s: too many classes (%zu, at most %d)", f->key, map_len(v),
                         MAX_QOS_CLASSES);
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = conf_node(c, p->key);
        char id[RACK_ID_LEN], key[RACK_ID_LEN + 16];
        int priority;
        if (conf_check_id(c, f->key, k, id))
            return -1;
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(conf_str(conf_node(c, q->key)), id))
                return conf_fail(c, k, "%s: class '%s' is listed twice (first at line %zu)", f->key,
                                 id, conf_line(conf_node(c, q->key)));
        snprintf(key, sizeof(key), "%s: %s", f->key, id);
        struct conf_field pf = {key, conf_set_int, .min = 1, .max = MAX_PRIORITY};
        if (conf_set_int(c, &pf, conf_node(c, p->value), &priority))
            return -1;
    }
    c->qos = v;
    return 0;
}

/* ---- activities ---- */

static int set_qos(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    struct rack_activity *a = &((struct act_in *)obj)->a;
    char known[512] = "";
    if (conf_check_id(c, f->key, v, a->qos))
        return -1;
    if ((a->priority = qos_priority(c, a->qos)) > 0)
        return 0;
    if (!c->qos || map_len(c->qos) == 0)
        return conf_fail(c, v, "%s: unknown class '%s' (the rack has no qos_classes:)", f->key,
                         a->qos);
    for (yaml_node_pair_t *p = c->qos->data.mapping.pairs.start; p < c->qos->data.mapping.pairs.top;
         p++)
        conf_join(known, sizeof(known), conf_str(conf_node(c, p->key)));
    return conf_fail(c, v, "%s: unknown class '%s' (qos_classes: %s)", f->key, a->qos, known);
}

/* The node naming the k-th server of a servers: list or map. */
static const yaml_node_t *server_node(struct conf_ctx *c, const yaml_node_t *v, size_t k)
{
    if (v->type == YAML_SEQUENCE_NODE)
        return conf_seq_item(c, v, k);
    return conf_node(c, v->data.mapping.pairs.start[k].key);
}

/* servers: [db1, db2] (each at share:) or {db1: 0.8, db2: 0.5}. */
static int set_servers(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    struct act_in *in = obj;
    struct rack_activity *a = &in->a;
    bool map = v->type == YAML_MAPPING_NODE;
    size_t n = map ? map_len(v) : v->type == YAML_SEQUENCE_NODE ? conf_seq_len(v) : 0;
    if (n == 0)
        return conf_fail(c, v,
                         "%s: expected a list of server ids such as [db1, db2] or their shares "
                         "such as {db1: 0.8, db2: 0.5}, got %s",
                         f->key, conf_show(c, v));
    if (!(a->servers = calloc(n, sizeof(int))) || !(a->share = calloc(n, sizeof(double))) ||
        !(a->home = calloc(n, sizeof(int))))
        return conf_fail(c, v, "out of memory");
    for (size_t k = 0; k < n; k++) {
        const yaml_node_t *item = server_node(c, v, k);
        int s;
        if (rackfile_lookup(c, CONF_REF_SERVER, f->key, item, &s))
            return -1;
        if (in->seen[s] == in->stamp)
            return conf_fail(c, item, "%s: server '%s' is listed twice", f->key,
                             c->r->servers[s].id);
        in->seen[s] = in->stamp;
        struct conf_field sf = {"share", conf_set_real, .min_open = true, .max = 1};
        if (map &&
            conf_set_real(c, &sf, conf_node(c, v->data.mapping.pairs.start[k].value), &a->share[k]))
            return -1;
        a->servers[k] = a->home[k] = s;
        a->nservers = a->nhome = (int)k + 1;
    }
    return 0;
}

static int set_movable(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    struct act_in *in = obj;
    struct rack_activity *a = &in->a;
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list of server ids such as [db2, app1], got %s",
                         f->key, conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n && !(a->movable_to = calloc(n, sizeof(int))))
        return conf_fail(c, v, "out of memory");
    for (size_t k = 0; k < n; k++) {
        const yaml_node_t *item = conf_seq_item(c, v, k);
        int s;
        if (rackfile_lookup(c, CONF_REF_SERVER, f->key, item, &s))
            return -1;
        if (in->seen[s] == in->stamp)
            return conf_fail(c, item, "%s: server '%s' already runs activity '%s' (servers:)",
                             f->key, c->r->servers[s].id, a->id);
        if (in->seen[s] == in->stamp + 1)
            return conf_fail(c, item, "%s: server '%s' is listed twice", f->key,
                             c->r->servers[s].id);
        in->seen[s] = in->stamp + 1;
        a->movable_to[a->nmovable++] = s;
    }
    return 0;
}

static int set_migrate(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    (void)f;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    return conf_parse_map(c, v, &migrate_table, &((struct act_in *)obj)->a, vals);
}

static bool map_is_shares(const yaml_node_t *servers)
{
    return servers->type == YAML_MAPPING_NODE;
}

/* One activity into in (its arrays owned by in->a, whatever happens). */
static int parse_activity(struct conf_ctx *c, const yaml_node_t *map, struct act_in *in,
                          const yaml_node_t *vals[])
{
    if (conf_parse_map(c, map, &activity_table, in, vals))
        return -1;
    if (map_is_shares(vals[ACT_SERVERS]) && vals[ACT_SHARE])
        return conf_fail(c, vals[ACT_SHARE],
                         "share: not with servers: given as a map (the map gives each server's "
                         "share)");
    if (!map_is_shares(vals[ACT_SERVERS]))
        for (int k = 0; k < in->a.nservers; k++)
            in->a.share[k] = in->share;
    in->a.state = RACK_ACT_RUNNING;
    return 0;
}

int rackfile_set_activities(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                            void *obj)
{
    struct rack *r = obj;
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list of activities, got %s", f->key,
                         conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n > RACK_MAX_ACTIVITIES)
        return conf_fail(c, v, "%s: too many activities (%zu, at most %d)", f->key, n,
                         RACK_MAX_ACTIVITIES);
    if (n == 0)
        return 0;
    size_t ns = r->nservers ? (size_t)r->nservers : 1;
    int *seen = calloc(ns, sizeof(*seen));
    double *sum = calloc(ns, sizeof(*sum));  /* shares on each server so far */
    int *first = calloc(ns, sizeof(*first)); /* first activity on it, + 1 */
    int rc = -1;
    if (!(r->activities = calloc(n, sizeof(*r->activities))) || !seen || !sum || !first ||
        conf_idx_init(&c->activities, n)) {
        conf_fail(c, v, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i), *vals[CONF_MAX_FIELDS];
        struct act_in in = {.seen = seen, .stamp = 2 * (int)i + 1};
        int bad = parse_activity(c, item, &in, vals);
        struct rack_activity *a = &r->activities[i];
        *a = in.a; /* the rack owns its arrays from here, loaded or not */
        r->nactivities = (int)i + 1;
        if (bad)
            goto out;
        long j =
            conf_idx_get(&c->activities, (const char *)r->activities, sizeof(*a), a->id, (long)i);
        if (j >= 0) {
            conf_fail(c, vals[ACT_ID], "duplicate activity id '%s' (first at line %zu)", a->id,
                      conf_line(conf_map_value(c, conf_seq_item(c, v, (size_t)j), "id")));
            goto out;
        }
        for (int k = 0; k < a->nservers; k++) {
            int s = a->servers[k];
            if (!first[s])
                first[s] = (int)i + 1;
            sum[s] += a->share[k];
            if (sum[s] > 1 + SHARE_SLACK) {
                const struct rack_activity *a0 = &r->activities[first[s] - 1];
                conf_fail(c, server_node(c, vals[ACT_SERVERS], (size_t)k),
                          "servers: shares of server '%s' add up to %.6g, more than all of it "
                          "(its first activity: '%s' at line %zu)",
                          r->servers[s].id, sum[s], a0->id,
                          conf_line(conf_seq_item(c, v, (size_t)first[s] - 1)));
                goto out;
            }
        }
    }
    rc = 0;
out:
    free(seen);
    free(sum);
    free(first);
    return rc;
}

/* ---- reserves ---- */

static int set_switch(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                      void *obj)
{
    (void)f;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    if (conf_parse_map(c, v, &switch_table, obj, vals))
        return -1;
    if (!vals[SW_BUSES] && !vals[SW_SERVERS])
        return conf_fail(c, v,
                         "switch: expected buses:, servers: or both (where the reserve "
                         "can be directed besides its own place)");
    return 0;
}

/* The item of a switch's list naming what the reserve's own place is. */
static const yaml_node_t *switch_item(struct conf_ctx *c, const yaml_node_t *sw, const char *key,
                                      const char *id)
{
    const yaml_node_t *list = conf_map_value(c, sw, key);
    for (size_t i = 0; list->type == YAML_SEQUENCE_NODE && i < conf_seq_len(list); i++)
        if (!strcmp(conf_str(conf_seq_item(c, list, i)), id))
            return conf_seq_item(c, list, i);
    return sw;
}

static int parse_reserve(struct conf_ctx *c, const yaml_node_t *map, struct res_in *in,
                         const yaml_node_t *vals[])
{
    static const char *const place_key[] = {"bus", "feed", "server"};
    static const int place_field[] = {RES_BUS, RES_FEED, RES_SERVER};
    const struct rack *r = c->r;
    struct rack_reserve *res = &in->r;
    int bad = conf_parse_map(c, map, &reserve_table, in, vals);
    /* The switch's servers belong to the reserve (then to the rack) at once. */
    res->switch_servers = in->sw_servers.v;
    res->nswitch_servers = (int)in->sw_servers.n;
    if (bad)
        return -1;
    int kind = (int)res->kind;
    for (int k = 0; k < 3; k++)
        if (k != kind && vals[place_field[k]])
            return conf_fail(
                c, vals[place_field[k]], "%s: a reserve of kind %s sits on a %s (%s:), not on a %s",
                place_key[k], kind_words[kind], place_key[kind], place_key[kind], place_key[k]);
    if (!vals[place_field[kind]] && !(res->kind == RACK_RESERVE_UPS && r->nfeeds == 1))
        return conf_fail(c, map,
                         "missing key '%s' in reserve '%s' (a reserve of kind %s sits on "
                         "a %s)",
                         place_key[kind], res->id, kind_words[kind], place_key[kind]);
    res->at = res->kind == RACK_RESERVE_BBU   ? in->bus
              : res->kind == RACK_RESERVE_UPS ? (vals[RES_FEED] ? in->feed : 0)
                                              : in->server;
    if (res->kind == RACK_RESERVE_BBU && ((in->sw_buses >> res->at) & 1))
        return conf_fail(c, switch_item(c, vals[RES_SWITCH], "buses", r->buses[res->at]),
                         "switch: bus '%s' is where reserve '%s' sits already", r->buses[res->at],
                         res->id);
    for (int k = 0; res->kind == RACK_RESERVE_SERVER && k < res->nswitch_servers; k++)
        if (res->switch_servers[k] == res->at)
            return conf_fail(c, switch_item(c, vals[RES_SWITCH], "servers", r->servers[res->at].id),
                             "switch: server '%s' is where reserve '%s' sits already",
                             r->servers[res->at].id, res->id);
    res->switch_buses = in->sw_buses;
    bool ups = res->kind == RACK_RESERVE_UPS;
    if (!vals[RES_RATED])
        res->rated_w = res->max_w;
    if (!vals[RES_EFFICIENCY])
        res->efficiency = ups ? UPS_EFFICIENCY : BBU_EFFICIENCY;
    if (!vals[RES_PEUKERT])
        res->peukert = ups ? LEAD_ACID_PEUKERT : LITHIUM_PEUKERT;
    res->wh_left = res->energy_wh;
    res->watts = 0;
    res->discharging = false;
    res->known = true;
    res->to_bus = res->to_server = -1;
    return 0;
}

int rackfile_set_reserves(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                          void *obj)
{
    struct rack *r = obj;
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list of reserves, got %s", f->key, conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n > RACK_MAX_RESERVES)
        return conf_fail(c, v, "%s: too many reserves (%zu, at most %d)", f->key, n,
                         RACK_MAX_RESERVES);
    if (n == 0)
        return 0;
    if (!(r->reserves = calloc(n, sizeof(*r->reserves))) || conf_idx_init(&c->reserves, n))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i), *vals[CONF_MAX_FIELDS];
        struct res_in in = {.bus = -1, .feed = -1, .server = -1};
        int bad = parse_reserve(c, item, &in, vals);
        struct rack_reserve *res = &r->reserves[i];
        *res = in.r; /* the rack owns switch_servers from here */
        r->nreserves = (int)i + 1;
        if (bad)
            return -1;
        long j =
            conf_idx_get(&c->reserves, (const char *)r->reserves, sizeof(*res), res->id, (long)i);
        if (j >= 0)
            return conf_fail(c, vals[RES_ID], "duplicate reserve id '%s' (first at line %zu)",
                             res->id,
                             conf_line(conf_map_value(c, conf_seq_item(c, v, (size_t)j), "id")));
        /* Events and journals name reserves and activities alike (reserve_lost:,
         * divert and move events): one id names one thing. */
        if (conf_idx_get(&c->activities, (const char *)r->activities, sizeof(*r->activities),
                         res->id, -1) >= 0)
            return conf_fail(c, vals[RES_ID],
                             "reserve id '%s' is already an activity's (ids of reserves and "
                             "activities are unique together)",
                             res->id);
    }
    return 0;
}

int rackfile_set_outage(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                        void *obj)
{
    (void)f;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    return conf_parse_map(c, v, &outage_table, &((struct rack *)obj)->outage, vals);
}

/* ---- servers' priorities ---- */

int rackfile_outage_priorities(struct conf_ctx *c, const yaml_node_t *servers)
{
    struct rack *r = c->r;
    if (r->nservers == 0)
        return 0;
    int *best = calloc((size_t)r->nservers, sizeof(*best)); /* 0: hosts no activity */
    int *by = calloc((size_t)r->nservers, sizeof(*by));
    int least = 0, rc = -1;
    if (!best || !by) {
        conf_fail(c, servers, "out of memory");
        goto out;
    }
    for (int i = 0; i < r->nactivities; i++) {
        const struct rack_activity *a = &r->activities[i];
        for (int k = 0; k < a->nservers; k++)
            if (!best[a->servers[k]] || a->priority < best[a->servers[k]]) {
                best[a->servers[k]] = a->priority;
                by[a->servers[k]] = i;
            }
    }
    /* A server emptied by moves is worth no more than the least important
     * thing in the rack: a class or an explicit priority. */
    for (yaml_node_pair_t *p = c->qos ? c->qos->data.mapping.pairs.start : NULL;
         p && p < c->qos->data.mapping.pairs.top; p++)
        if (atoi(conf_str(conf_node(c, p->value))) > least)
            least = atoi(conf_str(conf_node(c, p->value)));
    for (int s = 0; s < r->nservers; s++)
        if (r->servers[s].priority > least)
            least = r->servers[s].priority;
    for (int s = 0; s < r->nservers; s++) {
        struct rack_server *sv = &r->servers[s];
        const yaml_node_t *item = conf_seq_item(c, servers, (size_t)s);
        if (sv->priority && best[s] && best[s] != sv->priority) {
            const struct rack_activity *a = &r->activities[by[s]];
            conf_fail(c, conf_map_value(c, item, "priority"),
                      "priority: %d contradicts activity '%s' (qos %s, priority %d) on server "
                      "'%s': leave priority: out, and the server takes its activities' priority",
                      sv->priority, a->id, a->qos, a->priority, sv->id);
            goto out;
        }
        if (!sv->priority && !best[s]) {
            conf_fail(c, item,
                      "missing required key 'priority' in server '%s' (no activity runs on it to "
                      "give it one)",
                      sv->id);
            goto out;
        }
        sv->own_priority = sv->priority ? sv->priority : least;
        if (!sv->priority)
            sv->priority = best[s];
    }
    rc = 0;
out:
    free(best);
    free(by);
    return rc;
}

/* ---- timeline events ---- */

int rackfile_set_event(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    struct rackfile_step *st = obj;
    bool mains = !strncmp(f->key, "mains_", 6), outage = !strcmp(f->key, "outage");
    bool list = v->type == YAML_SEQUENCE_NODE;
    size_t n = list ? conf_seq_len(v) : 1;
    if (outage) {
        int word;
        struct conf_field wf = {f->key, conf_set_enum, .words = outage_words};
        if (conf_set_enum(c, &wf, v, &word))
            return -1;
        st->events[st->nevents++] = (struct rackfile_event){
            .kind = word ? RACKFILE_EV_OUTAGE_END : RACKFILE_EV_OUTAGE_START, .index = -1};
        return 0;
    }
    enum rackfile_event_kind kind = !strcmp(f->key, "mains_fail")     ? RACKFILE_EV_MAINS_FAIL
                                    : !strcmp(f->key, "mains_return") ? RACKFILE_EV_MAINS_RETURN
                                    : !strcmp(f->key, "reserve_lost") ? RACKFILE_EV_RESERVE_LOST
                                                                      : RACKFILE_EV_RESERVE_BACK;
    if (v->type == YAML_MAPPING_NODE || n == 0)
        return conf_fail(c, v, "%s: expected %s id or a list of them, got %s", f->key,
                         mains ? "all, a feed" : "a reserve", conf_show(c, v));
    if (mains && conf_is_plain(v) && !strcmp(conf_str(v), "all")) {
        st->events[st->nevents++] = (struct rackfile_event){.kind = kind, .index = -1};
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct rackfile_event *e = &st->events[st->nevents];
        *e = (struct rackfile_event){.kind = kind};
        if (rackfile_lookup(c, mains ? CONF_REF_FEED : CONF_REF_RESERVE, f->key,
                            list ? conf_seq_item(c, v, i) : v, &e->index))
            return -1;
        st->nevents++;
    }
    return 0;
}
