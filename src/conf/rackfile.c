/*
 * rackfile.c - the rack and timeline schema: rack and scenario files
 * (docs/rack-file.md) into a struct rack and a timeline of policy inputs,
 * through the field-table engine (conf.h).
 *
 * Each kind of mapping (top level, rack, psu, server, timeline step, ...) is
 * one table of fields. Defaults that depend on other keys (a psu's feed, bus
 * and switch_ms, a server's min_w) are computed after the table, in
 * parse_psu/parse_server. The setters that name rack elements are offered to
 * the other schemas in rackfile_fields.h.
 */
#include "rackfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "rackfile_fields.h"

#define MAX_WATTS 10e6 /* per psu or server: far above any real one */
#define MAX_SECONDS 1e9
#define MAX_PRIORITY 1000000
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Setters store through offsets: enums as int, ids first so a psu or server
 * array doubles as an array of ids for the index below. */
_Static_assert(sizeof(enum rack_protection) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rack_on_loss) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rack_on_predicted) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rack_switch_kind) == sizeof(int), "enum stored as int");
_Static_assert(offsetof(struct rack_psu, id) == 0, "psu id first");
_Static_assert(offsetof(struct rack_server, id) == 0, "server id first");

static const char *const ref_noun[] = {"",       "feed",    "bus",     "psu",
                                       "server", "chassis", "reserve", "activity"};

static conf_setter set_name, set_chassis, set_names, set_list, set_targets, set_inputs,
    set_daemon_only, set_models, set_model, set_efficiency;

static const char *const protection_words[] = {"none", "n+1", "n+n", NULL};
static const char *const on_loss_words[] = {"shed", "hold", NULL};
static const char *const on_predicted_words[] = {"keep", "shed", NULL};
static const char *const switch_words[] = {"fet", "relay", "breaker", NULL};
static const char *const balance_words[] = {"off", "on", NULL};

/* Table order is processing order: feeds and buses before the psus and
 * servers that name them. */
enum {
    RACK_NAME,
    RACK_PROTECTION,
    RACK_ON_LOSS,
    RACK_ON_PREDICTED,
    RACK_RESTORE,
    RACK_HOLDUP,
    RACK_OVER_DRAW,
    RACK_FEEDS,
    RACK_BUSES,
    RACK_PSU_MODELS,
    RACK_PSUS,
    RACK_SERVERS
};
static const struct conf_field rack_fields[] = {
    [RACK_NAME] = {"name", set_name, .def = "rack", .off = offsetof(struct rack, name)},
    [RACK_PROTECTION] = {"protection", conf_set_enum, .def = "n+1",
                         .off = offsetof(struct rack, protection), .words = protection_words},
    {"on_protection_loss", conf_set_enum, .def = "shed", .off = offsetof(struct rack, on_loss),
     .words = on_loss_words},
    {"on_predicted_failure", conf_set_enum, .def = "keep",
     .off = offsetof(struct rack, on_predicted), .words = on_predicted_words},
    {"restore_after_s", conf_set_num, .def = "30", .off = offsetof(struct rack, restore_after_ns),
     .max = MAX_SECONDS, .scale = 1e9},
    {"holdup_ms", conf_set_num, .def = "16", .off = offsetof(struct rack, holdup_ns),
     .min_open = true, .max = MAX_SECONDS * 1e3, .scale = 1e6},
    {"over_draw_s", conf_set_num, .def = "5", .off = offsetof(struct rack, over_draw_ns),
     .max = MAX_SECONDS, .scale = 1e9},
    {"feeds", set_names, .ref = CONF_REF_FEED},
    {"buses", set_names, .required = true, .ref = CONF_REF_BUS},
    /* Models before the psus naming them. */
    [RACK_PSU_MODELS] = {"psu_models", set_models},
    {"psus", set_list, .ref = CONF_REF_PSU},
    [RACK_SERVERS] = {"servers", set_list, .ref = CONF_REF_SERVER},
    /* Outages (rackfile_outage.c): classes before the activities naming
     * them, activities before reserves (their ids are unique together). */
    {"qos_classes", rackfile_set_qos_classes},
    {"activities", rackfile_set_activities},
    {"reserves", rackfile_set_reserves},
    {"outage", rackfile_set_outage},
    {"balance", conf_set_enum, .def = "off", .off = offsetof(struct rack, balance),
     .words = balance_words},
};
static const struct conf_table rack_table = {
    .what = "rack", .f = rack_fields, .n = LEN(rack_fields)};

/* A psu model (docs/balancing.md): the built-in titanium's defaults. */
static const struct conf_field model_fields[] = {
    {"name", conf_set_id, .required = true, .off = offsetof(struct rack_psu_model, name)},
    {"efficiency", set_efficiency, .required = true,
     .off = offsetof(struct rack_psu_model, eff_ppm)},
    {"standby_w", conf_set_num, .def = "5", .off = offsetof(struct rack_psu_model, standby_mw),
     .max = MAX_WATTS, .scale = 1e3},
    {"wake_ms", conf_set_num, .def = "10", .off = offsetof(struct rack_psu_model, wake_ns),
     .max = MAX_SECONDS * 1e3, .scale = 1e6},
};
static const struct conf_table model_table = {
    .what = "psu model", .f = model_fields, .n = LEN(model_fields)};

enum { PSU_ID, PSU_CAPACITY, PSU_FEED, PSU_BUSES, PSU_BUS, PSU_SWITCH, PSU_SWITCH_MS, PSU_MODEL };
static const struct conf_field psu_fields[] = {
    [PSU_ID] = {"id", conf_set_id, .required = true, .off = offsetof(struct rack_psu, id)},
    [PSU_CAPACITY] = {"capacity_w", conf_set_num, .required = true,
                      .off = offsetof(struct rack_psu, rated_mw), .min_open = true,
                      .max = MAX_WATTS, .scale = 1e3},
    [PSU_FEED] = {"feed", rackfile_set_ref, .off = offsetof(struct rack_psu, feed),
                  .ref = CONF_REF_FEED},
    [PSU_BUSES] = {"buses", rackfile_set_busmask, .required = true,
                   .off = offsetof(struct rack_psu, wired)},
    [PSU_BUS] = {"bus", rackfile_set_ref, .off = offsetof(struct rack_psu, bus),
                 .ref = CONF_REF_BUS},
    [PSU_SWITCH] = {"switch", conf_set_enum, .def = "fet", .off = offsetof(struct rack_psu, sw),
                    .words = switch_words},
    [PSU_SWITCH_MS] = {"switch_ms", conf_set_num, .off = offsetof(struct rack_psu, switch_ns),
                       .max = MAX_SECONDS * 1e3, .scale = 1e6},
    [PSU_MODEL] = {"model", set_model, .def = "titanium", .off = offsetof(struct rack_psu, model)},
};
static const struct conf_table psu_table = {.what = "psu", .f = psu_fields, .n = LEN(psu_fields)};

enum { SRV_ID, SRV_POWER, SRV_MIN, SRV_PRIORITY, SRV_BUSES, SRV_CHASSIS, SRV_AC_RESTART };
static const char *const booleans[] = {"false", "true", NULL};
static const struct conf_field server_fields[] = {
    [SRV_ID] = {"id", conf_set_id, .required = true, .off = offsetof(struct rack_server, id)},
    [SRV_POWER] = {"power_w", conf_set_num, .required = true,
                   .off = offsetof(struct rack_server, power_mw), .min_open = true,
                   .max = MAX_WATTS, .scale = 1e3},
    [SRV_MIN] = {"min_w", conf_set_num, .off = offsetof(struct rack_server, min_mw),
                 .min_open = true, .max = MAX_WATTS, .scale = 1e3},
    /* Required unless an activity runs on the server (rackfile_outage.c). */
    [SRV_PRIORITY] = {"priority", conf_set_int, .off = offsetof(struct rack_server, priority),
                      .min = 1, .max = MAX_PRIORITY},
    [SRV_BUSES] = {"buses", rackfile_set_busmask, .required = true,
                   .off = offsetof(struct rack_server, wired)},
    [SRV_CHASSIS] = {"chassis", set_chassis, .off = offsetof(struct rack_server, chassis)},
    [SRV_AC_RESTART] = {"power_on_after_ac_loss", conf_set_enum, .def = "false",
                        .off = offsetof(struct rack_server, ac_restart), .words = booleans},
};
static const struct conf_table server_table = {
    .what = "server", .f = server_fields, .n = LEN(server_fields)};

enum { DEGRADE_PSU, DEGRADE_CAPACITY };
static const struct conf_field degrade_fields[] = {
    [DEGRADE_PSU] = {"psu", rackfile_set_ref, .required = true,
                     .off = offsetof(struct policy_input, index), .ref = CONF_REF_PSU},
    [DEGRADE_CAPACITY] = {"capacity_w", conf_set_num, .required = true,
                          .off = offsetof(struct policy_input, watts_mw), .min_open = true,
                          .max = MAX_WATTS, .scale = 1e3},
};
static const struct conf_table degrade_table = {
    .what = "psu_degrade", .f = degrade_fields, .n = LEN(degrade_fields)};

static const struct conf_field report_fields[] = {
    {"server", rackfile_set_ref, .required = true, .off = offsetof(struct policy_input, index),
     .ref = CONF_REF_SERVER},
    {"watts", conf_set_num, .required = true, .off = offsetof(struct policy_input, watts_mw),
     .max = MAX_WATTS, .scale = 1e3},
};
static const struct conf_table report_table = {
    .what = "report", .f = report_fields, .n = LEN(report_fields)};

/* `at` first; the actions after it run in the order they are written. */
enum { STEP_AT };
static const struct conf_field step_fields[] = {
    [STEP_AT] = {"at", conf_set_num, .required = true, .off = offsetof(struct rackfile_step, at_ns),
                 .max = MAX_SECONDS, .scale = 1e9},
    {"power_on", set_targets, .ref = CONF_REF_SERVER, .input = POLICY_POWER_ON},
    {"power_off", set_targets, .ref = CONF_REF_SERVER, .input = POLICY_POWER_OFF},
    {"remove", set_targets, .ref = CONF_REF_SERVER, .input = POLICY_REMOVE},
    {"psu_fail", set_targets, .ref = CONF_REF_PSU, .input = POLICY_PSU_FAIL},
    {"psu_repair", set_targets, .ref = CONF_REF_PSU, .input = POLICY_PSU_REPAIR},
    {"psu_degrade", set_inputs, .input = POLICY_PSU_DEGRADE, .sub = &degrade_table},
    /* what a failure model says (docs/prediction.md): the policy acts on it */
    {"psu_at_risk", set_targets, .ref = CONF_REF_PSU, .input = POLICY_PSU_AT_RISK},
    {"psu_risk_clear", set_targets, .ref = CONF_REF_PSU, .input = POLICY_PSU_RISK_CLEAR},
    {"bus_fail", set_targets, .ref = CONF_REF_BUS, .input = POLICY_BUS_FAIL},
    {"bus_repair", set_targets, .ref = CONF_REF_BUS, .input = POLICY_BUS_REPAIR},
    {"feed_fail", set_targets, .ref = CONF_REF_FEED, .input = POLICY_FEED_FAIL},
    {"feed_repair", set_targets, .ref = CONF_REF_FEED, .input = POLICY_FEED_REPAIR},
    {"report", set_inputs, .input = POLICY_REPORT, .sub = &report_table},
    /* Outage events (rackfile_outage.c), after the policy inputs. */
    {"mains_fail", rackfile_set_event},
    {"mains_return", rackfile_set_event},
    {"outage", rackfile_set_event},
    {"reserve_lost", rackfile_set_event},
    {"reserve_back", rackfile_set_event},
};
static const struct conf_table step_table = {
    .what = "timeline step", .f = step_fields, .n = LEN(step_fields)};

/* Rack and scenario files: rack, timeline. The daemon config's keys are known
 * so that a rack file using them hears where they belong. */
enum { TOP_RACK, TOP_TIMELINE };
static const struct conf_field top_fields[] = {
    [TOP_RACK] = {"rack", rackfile_set_rack, .required = true},
    [TOP_TIMELINE] = {"timeline", rackfile_set_timeline, .required = false},
    {"devices", set_daemon_only, .hidden = true},
    {"api", set_daemon_only, .hidden = true},
};
static const struct conf_table top_table = {
    .what = "top-level", .f = top_fields, .n = LEN(top_fields), .top = true};

/* conf_collect keeps a table's nodes in arrays of CONF_MAX_FIELDS. */
_Static_assert(LEN(top_fields) <= CONF_MAX_FIELDS && LEN(rack_fields) <= CONF_MAX_FIELDS &&
                   LEN(psu_fields) <= CONF_MAX_FIELDS && LEN(server_fields) <= CONF_MAX_FIELDS &&
                   LEN(step_fields) <= CONF_MAX_FIELDS,
               "CONF_MAX_FIELDS too small");

const char *rackfile_ref_noun(enum conf_ref ref)
{
    return (unsigned)ref < LEN(ref_noun) ? ref_noun[ref] : "?";
}

/* The names among n selected by mask. */
static void join_names(char *buf, size_t len, const char (*names)[RACK_ID_LEN], int n,
                       uint32_t mask)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        if ((mask >> i) & 1)
            conf_join(buf, len, names[i]);
}

static int find(struct conf_ctx *c, enum conf_ref ref, const char *id)
{
    switch (ref) {
    case CONF_REF_FEED:
        return rack_find_feed(c->r, id);
    case CONF_REF_BUS:
        return rack_find_bus(c->r, id);
    case CONF_REF_PSU:
        return (int)conf_idx_get(&c->psus, (const char *)c->r->psus, sizeof(*c->r->psus), id, -1);
    case CONF_REF_SERVER:
        return (int)conf_idx_get(&c->servers, (const char *)c->r->servers, sizeof(*c->r->servers),
                                 id, -1);
    case CONF_REF_CHASSIS:
        return (int)conf_idx_get(&c->chassis, (const char *)c->r->chassis, RACK_ID_LEN, id, -1);
    case CONF_REF_RESERVE:
        return (int)conf_idx_get(&c->reserves, (const char *)c->r->reserves,
                                 sizeof(*c->r->reserves), id, -1);
    case CONF_REF_ACTIVITY:
        return (int)conf_idx_get(&c->activities, (const char *)c->r->activities,
                                 sizeof(*c->r->activities), id, -1);
    case CONF_REF_NONE:
        break;
    }
    return -1;
}

static int set_name(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    const char *s = conf_str(v);
    size_t len = s ? v->data.scalar.length : 0, max = sizeof(c->r->name) - 1;
    bool ok = s && !conf_is_null(v) && len >= 1 && len <= max;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (!ok)
        return conf_fail(c, v,
                         "%s: expected text of 1 to %zu bytes without control characters, got %s",
                         f->key, max, conf_show(c, v));
    memcpy(conf_at(obj, f), s, len + 1);
    return 0;
}

int rackfile_lookup(struct conf_ctx *c, enum conf_ref ref, const char *key, const yaml_node_t *v,
                    int *out)
{
    char id[RACK_ID_LEN], known[RACK_MAX_FEEDS * (RACK_ID_LEN + 2)];
    if (conf_check_id(c, key, v, id))
        return -1;
    *out = find(c, ref, id);
    if (*out >= 0)
        return 0;
    if (ref == CONF_REF_BUS) {
        join_names(known, sizeof(known), c->r->buses, c->r->nbuses, ~0u);
        return conf_fail(c, v, "%s: unknown bus '%s' (rack buses: %s)", key, id, known);
    }
    if (ref == CONF_REF_FEED) {
        join_names(known, sizeof(known), c->r->feeds, c->r->nfeeds, ~0u);
        return conf_fail(c, v, "%s: unknown feed '%s' (rack feeds: %s)", key, id, known);
    }
    return conf_fail(c, v, "%s: unknown %s '%s'", key, ref_noun[ref], id);
}

int rackfile_set_ref(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    return rackfile_lookup(c, f->ref, f->key, v, conf_at(obj, f));
}

int rackfile_set_busmask(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                         void *obj)
{
    if (v->type != YAML_SEQUENCE_NODE || !conf_seq_len(v))
        return conf_fail(c, v, "%s: expected a list of buses such as [%s], got %s", f->key,
                         c->r->buses[0], conf_show(c, v));
    uint32_t mask = 0;
    for (size_t i = 0; i < conf_seq_len(v); i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i);
        int b;
        if (rackfile_lookup(c, CONF_REF_BUS, f->key, item, &b))
            return -1;
        if ((mask >> b) & 1)
            return conf_fail(c, item, "%s: bus '%s' is listed twice", f->key, c->r->buses[b]);
        mask |= 1u << b;
    }
    *(uint32_t *)conf_at(obj, f) = mask;
    return 0;
}

/* Chassis are named by servers only: the first mention adds one. */
static int set_chassis(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    struct rack *r = c->r;
    char id[RACK_ID_LEN];
    if (conf_check_id(c, f->key, v, id))
        return -1;
    long i = conf_idx_get(&c->chassis, (const char *)r->chassis, RACK_ID_LEN, id, r->nchassis);
    if (i < 0) {
        memcpy(r->chassis[r->nchassis], id, sizeof(id));
        i = r->nchassis++;
    }
    *(int *)conf_at(obj, f) = (int)i;
    return 0;
}

/* A model's efficiency: [e10, e20, e50, e100], per cent at 10/20/50/100 %
 * of rated load, each in (0, 100]. */
static int set_efficiency(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                          void *obj)
{
    int32_t *ppm = conf_at(obj, f);
    if (v->type != YAML_SEQUENCE_NODE || conf_seq_len(v) != RACK_MODEL_POINTS)
        return conf_fail(c, v,
                         "%s: expected %d numbers, per cent at 10, 20, 50 and 100 %% of rated "
                         "load, such as [90, 94, 96, 91], got %s",
                         f->key, RACK_MODEL_POINTS, conf_show(c, v));
    const struct conf_field pct = {
        .key = f->key, .min = 0, .min_open = true, .max = 100, .scale = 1e4};
    for (size_t i = 0; i < RACK_MODEL_POINTS; i++) {
        int64_t x;
        if (conf_set_num(c, &pct, conf_seq_item(c, v, i), &x))
            return -1;
        ppm[i] = (int32_t)x;
    }
    return 0;
}

/* The rack's psu_models: list, after the built-in models; a model named as
 * a built-in one replaces it. */
static int set_models(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                      void *obj)
{
    struct rack *r = obj;
    int builtin = r->nmodels;
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v,
                         "%s: expected a list of {name, efficiency, standby_w, wake_ms}, got %s",
                         f->key, conf_show(c, v));
    for (size_t i = 0; i < conf_seq_len(v); i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i), *vals[CONF_MAX_FIELDS];
        struct rack_psu_model m = {0};
        if (conf_parse_map(c, item, &model_table, &m, vals))
            return -1;
        int k = rack_find_model(r, m.name);
        if (k >= builtin)
            return conf_fail(
                c, vals[0], "duplicate psu model '%s' (first at line %zu)", m.name,
                conf_line(conf_map_value(c, conf_seq_item(c, v, (size_t)(k - builtin)), "name")));
        if (k < 0 && r->nmodels == RACK_MAX_MODELS)
            return conf_fail(c, item, "%s: too many models (at most %d with the %d built in)",
                             f->key, RACK_MAX_MODELS, builtin);
        if (k >= 0) { /* a built-in one, replaced where psus find it */
            r->models[k] = m;
            continue;
        }
        r->models[r->nmodels++] = m;
    }
    return 0;
}

/* A psu's model: the name of a built-in model or of one in psu_models:. */
static int set_model(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    const struct rack *r = c->r;
    char name[RACK_ID_LEN], known[RACK_MAX_MODELS * (RACK_ID_LEN + 2)] = "";
    if (conf_check_id(c, f->key, v, name))
        return -1;
    int k = rack_find_model(r, name);
    if (k < 0) {
        for (int i = 0; i < r->nmodels; i++)
            conf_join(known, sizeof(known), r->models[i].name);
        return conf_fail(c, v, "%s: unknown psu model '%s' (known: %s)", f->key, name, known);
    }
    *(int *)conf_at(obj, f) = k;
    return 0;
}

/* The rack's feeds: or buses: list. */
static int set_names(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    struct rack *r = obj;
    bool bus = f->ref == CONF_REF_BUS;
    char(*names)[RACK_ID_LEN] = bus ? r->buses : r->feeds;
    int *count = bus ? &r->nbuses : &r->nfeeds, max = bus ? RACK_MAX_BUSES : RACK_MAX_FEEDS;
    if (v->type != YAML_SEQUENCE_NODE || !conf_seq_len(v))
        return conf_fail(c, v, "%s: expected a list of ids such as [A, B], got %s", f->key,
                         conf_show(c, v));
    *count = 0;
    for (size_t i = 0; i < conf_seq_len(v); i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i);
        if (*count == max)
            return conf_fail(c, item, "%s: too many %s (at most %d)", f->key, f->key, max);
        if (conf_check_id(c, f->key, item, names[i]))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(names[j], names[i]))
                return conf_fail(c, item, "duplicate %s id '%s' (first at line %zu)",
                                 ref_noun[f->ref], names[i], conf_line(conf_seq_item(c, v, j)));
        (*count)++;
    }
    return 0;
}

static int parse_psu(struct conf_ctx *c, const yaml_node_t *map, struct rack_psu *p,
                     const yaml_node_t *vals[])
{
    const struct rack *r = c->r;
    char names[RACK_MAX_FEEDS * (RACK_ID_LEN + 2)];
    p->bus = -1;
    if (conf_parse_map(c, map, &psu_table, p, vals))
        return -1;
    if (!vals[PSU_FEED] && r->nfeeds > 1) {
        join_names(names, sizeof(names), r->feeds, r->nfeeds, ~0u);
        return conf_fail(c, map,
                         "missing key 'feed' in psu '%s' (required when the rack has several "
                         "feeds: %s)",
                         p->id, names);
    }
    if (!vals[PSU_FEED])
        p->feed = 0;
    if (!vals[PSU_BUS]) {
        p->bus = rack_find_bus(
            r, conf_str(conf_seq_item(c, vals[PSU_BUSES], 0))); /* the first written */
    } else if (!((p->wired >> p->bus) & 1)) {
        join_names(names, sizeof(names), r->buses, r->nbuses, p->wired);
        return conf_fail(c, vals[PSU_BUS], "bus: '%s' is not one of the psu's buses (%s)",
                         r->buses[p->bus], names);
    }
    if (!vals[PSU_SWITCH_MS])
        p->switch_ns = rack_switch_default_ns(p->sw);
    p->derated_mw = p->rated_mw;
    p->health = RACK_PSU_OK;
    return 0;
}

static int parse_server(struct conf_ctx *c, const yaml_node_t *map, struct rack_server *s,
                        const yaml_node_t *vals[])
{
    s->chassis = -1;
    s->state = RACK_SRV_OFF;
    s->draw_mw = -1;
    s->on_draw_mw = -1;
    if (conf_parse_map(c, map, &server_table, s, vals))
        return -1;
    if (!vals[SRV_MIN])
        s->min_mw = s->power_mw; /* cannot be capped */
    else if (s->min_mw > s->power_mw)
        return conf_fail(c, vals[SRV_MIN], "min_w: must be at most power_w (%s), got %s",
                         conf_str(vals[SRV_POWER]), conf_show(c, vals[SRV_MIN]));
    return 0;
}

/* The rack's psus: or servers: list. */
static int set_list(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    struct rack *r = obj;
    bool psu = f->ref == CONF_REF_PSU;
    size_t max = psu ? RACKFILE_MAX_PSUS : RACKFILE_MAX_SERVERS;
    size_t size = psu ? sizeof(*r->psus) : sizeof(*r->servers);
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list of %ss, got %s", f->key, ref_noun[f->ref],
                         conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n > max)
        return conf_fail(c, v, "%s: too many %ss (%zu, at most %zu)", f->key, ref_noun[f->ref], n,
                         max);
    if (n == 0)
        return 0;
    char *items = calloc(n, size);
    struct conf_idx *h = psu ? &c->psus : &c->servers;
    if (psu)
        r->psus = (struct rack_psu *)items;
    else
        r->servers = (struct rack_server *)items;
    if (!items || conf_idx_init(h, n) ||
        (!psu && (!(r->chassis = calloc(n, RACK_ID_LEN)) || conf_idx_init(&c->chassis, n))))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i), *vals[CONF_MAX_FIELDS];
        char *id = items + i * size;
        if (psu ? parse_psu(c, item, (struct rack_psu *)id, vals)
                : parse_server(c, item, (struct rack_server *)id, vals))
            return -1;
        long j = conf_idx_get(h, items, size, id, (long)i);
        if (j >= 0)
            return conf_fail(c, vals[0], "duplicate %s id '%s' (first at line %zu)",
                             ref_noun[f->ref], id,
                             conf_line(conf_map_value(c, conf_seq_item(c, v, (size_t)j), "id")));
        ++*(psu ? &r->npsus : &r->nservers);
    }
    if (!psu && r->nchassis == 0) {
        free(r->chassis);
        r->chassis = NULL;
    }
    return 0;
}

int rackfile_set_rack(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                      void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    /* The implicit feed, replaced by a feeds: list. */
    c->r->nfeeds = 1;
    snprintf(c->r->feeds[0], RACK_ID_LEN, "mains");
    if (conf_parse_map(c, v, &rack_table, c->r, vals) ||
        rackfile_outage_priorities(c, vals[RACK_SERVERS]))
        return -1;
    /* n+n is surviving the loss of either feed: with one feed it would
     * protect against nothing a feed does, silently. */
    if (c->r->protection == RACK_PROT_NN && c->r->nfeeds < 2)
        return conf_fail(c, vals[RACK_PROTECTION] ? vals[RACK_PROTECTION] : v,
                         "protection: n+n needs at least two feeds (list them under feeds:, and "
                         "give each psu its feed), this rack has %d",
                         c->r->nfeeds);
    return 0;
}

/* An action naming one id or a list of them: one input per id. */
static int set_targets(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    struct rackfile_step *s = obj;
    bool list = v->type == YAML_SEQUENCE_NODE;
    size_t n = list ? conf_seq_len(v) : 1;
    if (v->type == YAML_MAPPING_NODE || n == 0)
        return conf_fail(c, v, "%s: expected a %s id or a list of them, got %s", f->key,
                         ref_noun[f->ref], conf_show(c, v));
    for (size_t i = 0; i < n; i++) {
        struct policy_input *in = &s->inputs[s->ninputs];
        *in = (struct policy_input){.kind = f->input};
        if (rackfile_lookup(c, f->ref, f->key, list ? conf_seq_item(c, v, i) : v, &in->index))
            return -1;
        s->ninputs++;
    }
    return 0;
}

/* An action given as a mapping ({psu: ps1, capacity_w: 1500}) or a list of them. */
static int set_inputs(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                      void *obj)
{
    struct rackfile_step *s = obj;
    bool list = v->type == YAML_SEQUENCE_NODE;
    size_t n = list ? conf_seq_len(v) : 1;
    char keys[64];
    conf_join_keys(keys, sizeof(keys), f->sub, 0);
    if (v->type == YAML_SCALAR_NODE || n == 0)
        return conf_fail(c, v, "%s: expected {%s} or a list of them, got %s", f->key, keys,
                         conf_show(c, v));
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *vals[CONF_MAX_FIELDS];
        struct policy_input *in = &s->inputs[s->ninputs];
        *in = (struct policy_input){.kind = f->input};
        if (conf_parse_map(c, list ? conf_seq_item(c, v, i) : v, f->sub, in, vals))
            return -1;
        const struct rack_psu *p = f->input == POLICY_PSU_DEGRADE ? &c->r->psus[in->index] : NULL;
        if (p && in->watts_mw > p->rated_mw)
            return conf_fail(c, vals[DEGRADE_CAPACITY],
                             "capacity_w: must be at most the rated capacity of psu '%s' (%.15g), "
                             "got %s",
                             p->id, (double)p->rated_mw / 1e3,
                             conf_show(c, vals[DEGRADE_CAPACITY]));
        s->ninputs++;
    }
    return 0;
}

static int parse_step(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_step *s,
                      const struct rackfile_step *prev)
{
    const yaml_node_t *keys[CONF_MAX_FIELDS], *vals[CONF_MAX_FIELDS];
    char actions[256];
    if (conf_collect(c, map, &step_table, keys, vals))
        return -1;
    s->line = (int)conf_line(map);
    if (conf_set_num(c, &step_fields[STEP_AT], vals[STEP_AT], s))
        return -1;
    if (prev && s->at_ns < prev->at_ns)
        return conf_fail(
            c, vals[STEP_AT],
            "at: %s is earlier than the step before it (line %d): steps must be in time "
            "order",
            conf_show(c, vals[STEP_AT]), prev->line);
    /* Each id or mapping in an action is one input: count them to allocate once. */
    size_t n = 0, nevents = 0, nactions = 0;
    for (size_t i = STEP_AT + 1; i < step_table.n; i++) {
        if (!vals[i])
            continue;
        nactions++;
        size_t k = vals[i]->type == YAML_SEQUENCE_NODE ? conf_seq_len(vals[i]) : 1;
        *(step_fields[i].set == rackfile_set_event ? &nevents : &n) += k;
    }
    if (nactions == 0) {
        conf_join_keys(actions, sizeof(actions), &step_table, STEP_AT + 1);
        return conf_fail(c, map, "timeline step has no action (expected one or more of %s)",
                         actions);
    }
    if (n + nevents > RACKFILE_MAX_INPUTS - c->ninputs)
        return conf_fail(c, map, "timeline: more than %d inputs in all", RACKFILE_MAX_INPUTS);
    c->ninputs += n + nevents;
    if ((n && !(s->inputs = calloc(n, sizeof(*s->inputs)))) ||
        (nevents && !(s->events = calloc(nevents, sizeof(*s->events)))))
        return conf_fail(c, map, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = conf_node(c, p->key);
        size_t i = conf_field_index(&step_table, k);
        c->key = k;
        if (i != STEP_AT && step_fields[i].set(c, &step_fields[i], conf_node(c, p->value), s))
            return -1;
    }
    return 0;
}

int rackfile_set_timeline(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                          void *obj)
{
    (void)obj;
    struct rackfile_timeline *tl = c->tl;
    if (!tl)
        return conf_fail(c, c->key, "%s: only allowed in a scenario file", f->key);
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list of steps, got %s", f->key, conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n == 0)
        return 0;
    if (!(tl->steps = calloc(n, sizeof(*tl->steps))))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        tl->nsteps = i + 1;
        if (parse_step(c, conf_seq_item(c, v, i), &tl->steps[i], i ? &tl->steps[i - 1] : NULL))
            return -1;
    }
    return 0;
}

/* A list of ids of one kind (f->ref), each at most once, at least f->min. */
int rackfile_set_ids(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    struct rackfile_ids *ids = conf_at(obj, f);
    const char *noun = ref_noun[f->ref];
    if (v->type != YAML_SEQUENCE_NODE || conf_seq_len(v) < (size_t)f->min)
        return conf_fail(c, v, "%s: expected a list of %s ids such as [%s], got %s", f->key, noun,
                         f->ref == CONF_REF_PSU ? "ps1, ps2" : "db1, web1", conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n && !(ids->v = calloc(n, sizeof(*ids->v))))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i);
        int k;
        if (rackfile_lookup(c, f->ref, f->key, item, &k))
            return -1;
        for (size_t j = 0; j < ids->n; j++)
            if (ids->v[j] == k)
                return conf_fail(c, item, "%s: %s %s is listed twice", f->key, noun,
                                 conf_show(c, item));
        ids->v[ids->n++] = k;
    }
    return 0;
}

/* A sim device's timeline: a scenario's, `at` counted from the daemon's start. */
int rackfile_set_timeline_at(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                             void *obj)
{
    struct rackfile_timeline *saved = c->tl;
    c->tl = conf_at(obj, f);
    int rc = rackfile_set_timeline(c, f, v, obj);
    c->tl = saved;
    return rc;
}

static int set_daemon_only(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                           void *obj)
{
    (void)v;
    (void)obj;
    return conf_fail(c, c->key, "%s: only allowed in a daemon config", f->key);
}

/* ---- entry points ---- */

void rackfile_ctx_free(struct conf_ctx *c)
{
    conf_idx_free(&c->psus);
    conf_idx_free(&c->servers);
    conf_idx_free(&c->chassis);
    conf_idx_free(&c->activities);
    conf_idx_free(&c->reserves);
}

static int parse_top(struct conf_ctx *c, const yaml_node_t *root, void *arg)
{
    (void)arg;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    return conf_parse_map(c, root, &top_table, NULL, vals);
}

int rackfile_load_string(const char *name, const char *text, size_t len, struct rack *r,
                         struct rackfile_timeline *tl, char *err, size_t errlen)
{
    struct conf_ctx c = {.name = name, .r = r, .tl = tl, .err = err, .errlen = errlen};
    rack_init(r);
    if (tl)
        *tl = (struct rackfile_timeline){0};
    int rc = conf_load_text(&c, text, len, parse_top, NULL);
    rackfile_ctx_free(&c);
    if (rc) {
        rack_free(r);
        rackfile_timeline_free(tl);
    }
    return rc;
}

int rackfile_load(const char *path, struct rack *r, struct rackfile_timeline *tl, char *err,
                  size_t errlen)
{
    char *buf;
    size_t len;
    rack_init(r);
    if (tl)
        *tl = (struct rackfile_timeline){0};
    if (conf_read_file(path, &buf, &len, err, errlen))
        return -1;
    int rc = rackfile_load_string(path, buf, len, r, tl, err, errlen);
    free(buf);
    return rc;
}

void rackfile_timeline_free(struct rackfile_timeline *tl)
{
    if (!tl)
        return;
    for (size_t i = 0; i < tl->nsteps; i++) {
        free(tl->steps[i].inputs);
        free(tl->steps[i].events);
    }
    free(tl->steps);
    tl->steps = NULL;
    tl->nsteps = 0;
}
