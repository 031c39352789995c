/*
 * rackfile.c - rack and scenario files: YAML (libyaml's document API) into a
 * struct rack and a timeline of policy inputs. The format is docs/rack-file.md.
 *
 * Each kind of mapping (top level, rack, psu, server, timeline step, ...) is
 * one table of fields: key, setter, required, default, bounds. The same table
 * drives parsing, checking, defaults and the allowed keys named in errors.
 * Defaults that depend on other keys (a psu's feed, bus and switch_ms, a
 * server's min_w) are computed after the table, in parse_psu/parse_server.
 */
#include "rackfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_FIELDS 16
#define MAX_WATTS 10e6 /* per psu or server: far above any real one */
#define MAX_SECONDS 1e9
#define MAX_PRIORITY 1000000
#define MAX_FILE_BYTES ((size_t)256 << 20)
#define MAX_DEVICES 256
#define MAX_POLL_MS 3600e3
#define MAX_TIMEOUT_MS 60e3
#define SHOW_CHARS 40
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Setters store through offsets: enums as int, ids first so a psu or server
 * array doubles as an array of ids for the index below. */
_Static_assert(sizeof(enum rack_protection) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rack_on_loss) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rack_switch_kind) == sizeof(int), "enum stored as int");
_Static_assert(offsetof(struct rack_psu, id) == 0, "psu id first");
_Static_assert(offsetof(struct rack_server, id) == 0, "server id first");

/* What the ids in a value name. */
enum ref { REF_NONE, REF_FEED, REF_BUS, REF_PSU, REF_SERVER, REF_CHASSIS };
static const char *const ref_noun[] = {"", "feed", "bus", "psu", "server", "chassis"};

/* Which files a top-level key belongs to. */
enum scope { SCOPE_ALL, SCOPE_FILE, SCOPE_DAEMON };

/* Open-addressing index of ids kept in an array: slot = array index + 1. Lets
 * 100000 servers be checked for duplicates and looked up in linear time. */
struct idx {
    uint32_t *slot;
    size_t mask;
};

struct ctx {
    const char *name; /* file name for messages */
    yaml_document_t *doc;
    struct rack *r;
    struct rackfile_timeline *tl; /* NULL for a rack file */
    struct rackfile_daemon *d;    /* NULL unless a daemon config */
    char *err;
    size_t errlen;
    const yaml_node_t *key; /* key of the value being set, NULL for a default */
    struct idx psus, servers, chassis;
    size_t ninputs; /* timeline inputs so far */
    /* Daemon configs: line of the device entry that already reads each PSU,
     * switches it, or holds each server (0: none), so no element is claimed
     * by two devices. */
    int *psu_line, *switch_line, *server_line;
    char shown[SHOW_CHARS + 16];
};

struct field;
typedef int setter(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj);

struct table {
    const char *what; /* the mapping in messages: "psu", "timeline step" */
    const struct field *f;
    size_t n;
};

struct field {
    const char *key;
    setter *set;
    bool required;
    const char *def;              /* default, written as in a file; NULL: none or computed */
    size_t off;                   /* where the setter stores the value in the object */
    double min, max;              /* set_num, set_int: bounds in the file's unit */
    bool min_open;                /* min itself is not allowed: "> min" */
    double scale;                 /* set_num: file unit -> stored unit */
    const char *const *words;     /* set_enum: accepted words, in enum order */
    enum ref ref;                 /* what ids in the value name */
    enum policy_input_kind input; /* timeline actions: the input produced */
    const struct table *sub;      /* set_inputs: the mapping each item is */
    enum scope scope;             /* top-level keys: which files allow it */
};

static setter set_rack, set_timeline, set_name, set_id, set_enum, set_num, set_int, set_ref,
    set_busmask, set_chassis, set_names, set_list, set_targets, set_inputs, set_devices, set_api,
    set_ids, set_units, set_dev_timeline, set_host, set_path, set_baud, set_listen;

static const char *const protection_words[] = {"none", "n+1", "n+n", NULL};
static const char *const on_loss_words[] = {"shed", "hold", NULL};
static const char *const switch_words[] = {"fet", "relay", "breaker", NULL};

/* Rack and scenario files: rack, timeline. Daemon configs: rack, devices, api. */
enum { TOP_RACK, TOP_TIMELINE, TOP_DEVICES, TOP_API };
static const struct field top_fields[] = {
    [TOP_RACK] = {"rack", set_rack, .required = true},
    [TOP_TIMELINE] = {"timeline", set_timeline, .scope = SCOPE_FILE},
    [TOP_DEVICES] = {"devices", set_devices, .scope = SCOPE_DAEMON},
    [TOP_API] = {"api", set_api, .scope = SCOPE_DAEMON},
};
static const struct table top_table = {"top-level", top_fields, LEN(top_fields)};

/* Table order is processing order: feeds and buses before the psus and
 * servers that name them. */
enum { RACK_NAME, RACK_PROTECTION };
static const struct field rack_fields[] = {
    [RACK_NAME] = {"name", set_name, .def = "rack", .off = offsetof(struct rack, name)},
    [RACK_PROTECTION] = {"protection", set_enum, .def = "n+1",
                         .off = offsetof(struct rack, protection), .words = protection_words},
    {"on_protection_loss", set_enum, .def = "shed", .off = offsetof(struct rack, on_loss),
     .words = on_loss_words},
    {"restore_after_s", set_num, .def = "30", .off = offsetof(struct rack, restore_after_ns),
     .max = MAX_SECONDS, .scale = 1e9},
    {"holdup_ms", set_num, .def = "16", .off = offsetof(struct rack, holdup_ns), .min_open = true,
     .max = MAX_SECONDS * 1e3, .scale = 1e6},
    {"feeds", set_names, .ref = REF_FEED},
    {"buses", set_names, .required = true, .ref = REF_BUS},
    {"psus", set_list, .ref = REF_PSU},
    {"servers", set_list, .ref = REF_SERVER},
};
static const struct table rack_table = {"rack", rack_fields, LEN(rack_fields)};

enum { PSU_ID, PSU_CAPACITY, PSU_FEED, PSU_BUSES, PSU_BUS, PSU_SWITCH, PSU_SWITCH_MS };
static const struct field psu_fields[] = {
    [PSU_ID] = {"id", set_id, .required = true, .off = offsetof(struct rack_psu, id)},
    [PSU_CAPACITY] = {"capacity_w", set_num, .required = true,
                      .off = offsetof(struct rack_psu, rated_mw), .min_open = true,
                      .max = MAX_WATTS, .scale = 1e3},
    [PSU_FEED] = {"feed", set_ref, .off = offsetof(struct rack_psu, feed), .ref = REF_FEED},
    [PSU_BUSES] = {"buses", set_busmask, .required = true, .off = offsetof(struct rack_psu, wired)},
    [PSU_BUS] = {"bus", set_ref, .off = offsetof(struct rack_psu, bus), .ref = REF_BUS},
    [PSU_SWITCH] = {"switch", set_enum, .def = "fet", .off = offsetof(struct rack_psu, sw),
                    .words = switch_words},
    [PSU_SWITCH_MS] = {"switch_ms", set_num, .off = offsetof(struct rack_psu, switch_ns),
                       .max = MAX_SECONDS * 1e3, .scale = 1e6},
};
static const struct table psu_table = {"psu", psu_fields, LEN(psu_fields)};

enum { SRV_ID, SRV_POWER, SRV_MIN, SRV_PRIORITY, SRV_BUSES, SRV_CHASSIS };
static const struct field server_fields[] = {
    [SRV_ID] = {"id", set_id, .required = true, .off = offsetof(struct rack_server, id)},
    [SRV_POWER] = {"power_w", set_num, .required = true,
                   .off = offsetof(struct rack_server, power_mw), .min_open = true,
                   .max = MAX_WATTS, .scale = 1e3},
    [SRV_MIN] = {"min_w", set_num, .off = offsetof(struct rack_server, min_mw), .min_open = true,
                 .max = MAX_WATTS, .scale = 1e3},
    [SRV_PRIORITY] = {"priority", set_int, .required = true,
                      .off = offsetof(struct rack_server, priority), .min = 1, .max = MAX_PRIORITY},
    [SRV_BUSES] = {"buses", set_busmask, .required = true,
                   .off = offsetof(struct rack_server, wired)},
    [SRV_CHASSIS] = {"chassis", set_chassis, .off = offsetof(struct rack_server, chassis)},
};
static const struct table server_table = {"server", server_fields, LEN(server_fields)};

enum { DEGRADE_PSU, DEGRADE_CAPACITY };
static const struct field degrade_fields[] = {
    [DEGRADE_PSU] = {"psu", set_ref, .required = true, .off = offsetof(struct policy_input, index),
                     .ref = REF_PSU},
    [DEGRADE_CAPACITY] = {"capacity_w", set_num, .required = true,
                          .off = offsetof(struct policy_input, watts_mw), .min_open = true,
                          .max = MAX_WATTS, .scale = 1e3},
};
static const struct table degrade_table = {"psu_degrade", degrade_fields, LEN(degrade_fields)};

static const struct field report_fields[] = {
    {"server", set_ref, .required = true, .off = offsetof(struct policy_input, index),
     .ref = REF_SERVER},
    {"watts", set_num, .required = true, .off = offsetof(struct policy_input, watts_mw),
     .max = MAX_WATTS, .scale = 1e3},
};
static const struct table report_table = {"report", report_fields, LEN(report_fields)};

/* `at` first; the actions after it run in the order they are written. */
enum { STEP_AT };
static const struct field step_fields[] = {
    [STEP_AT] = {"at", set_num, .required = true, .off = offsetof(struct rackfile_step, at_ns),
                 .max = MAX_SECONDS, .scale = 1e9},
    {"power_on", set_targets, .ref = REF_SERVER, .input = POLICY_POWER_ON},
    {"power_off", set_targets, .ref = REF_SERVER, .input = POLICY_POWER_OFF},
    {"remove", set_targets, .ref = REF_SERVER, .input = POLICY_REMOVE},
    {"psu_fail", set_targets, .ref = REF_PSU, .input = POLICY_PSU_FAIL},
    {"psu_repair", set_targets, .ref = REF_PSU, .input = POLICY_PSU_REPAIR},
    {"psu_degrade", set_inputs, .input = POLICY_PSU_DEGRADE, .sub = &degrade_table},
    {"bus_fail", set_targets, .ref = REF_BUS, .input = POLICY_BUS_FAIL},
    {"bus_repair", set_targets, .ref = REF_BUS, .input = POLICY_BUS_REPAIR},
    {"feed_fail", set_targets, .ref = REF_FEED, .input = POLICY_FEED_FAIL},
    {"feed_repair", set_targets, .ref = REF_FEED, .input = POLICY_FEED_REPAIR},
    {"report", set_inputs, .input = POLICY_REPORT, .sub = &report_table},
};
static const struct table step_table = {"timeline step", step_fields, LEN(step_fields)};

/* ---- the daemon's config: devices and api ---- */

static const char *const device_words[] = {"sim", "modbus-tcp", "modbus-rtu", "hwmon", NULL};
static const char *const parity_words[] = {"none", "even", "odd", NULL};
_Static_assert(sizeof(enum rackfile_device_kind) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rackfile_parity) == sizeof(int), "enum stored as int");

#define DEV(m) offsetof(struct rackfile_device, m)
/* Every kind has `kind` first and `poll_ms`; Modbus adds `timeout_ms` and `units`. */
static const struct field sim_fields[] = {
    {"kind", set_enum, .required = true, .off = DEV(kind), .words = device_words},
    {"boot", set_ids, .off = DEV(boot), .ref = REF_SERVER},
    {"timeline", set_dev_timeline, .off = DEV(timeline)},
    {"seed", set_int, .def = "1", .off = DEV(seed), .max = INT_MAX},
    {"poll_ms", set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true, .max = MAX_POLL_MS,
     .scale = 1e6},
};
/* What TCP and RTU devices have alike, after their transport's own keys. */
/* clang-format off */
#define MODBUS_FIELDS                                                                             \
    {"timeout_ms", set_num, .def = "500", .off = DEV(timeout_ns), .min_open = true,              \
     .max = MAX_TIMEOUT_MS, .scale = 1e6},                                                        \
    {"poll_ms", set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true,                   \
     .max = MAX_POLL_MS, .scale = 1e6},                                                           \
    {"alert", set_path, .off = DEV(alert)},                                                       \
    {"reprobe_s", set_num, .def = "60", .off = DEV(reprobe_ns), .min_open = true,                \
     .max = 86400, .scale = 1e9},                                                                 \
    {"units", set_units, .required = true},
/* clang-format on */
static const struct field tcp_fields[] = {
    {"kind", set_enum, .required = true, .off = DEV(kind), .words = device_words},
    {"host", set_host, .required = true, .off = DEV(host)},
    {"port", set_int, .def = "502", .off = DEV(port), .min = 1, .max = 65535},
    MODBUS_FIELDS};
static const struct field rtu_fields[] = {
    {"kind", set_enum, .required = true, .off = DEV(kind), .words = device_words},
    {"device", set_path, .required = true, .off = DEV(device)},
    {"baud", set_baud, .def = "19200", .off = DEV(baud)},
    {"parity", set_enum, .def = "even", .off = DEV(parity), .words = parity_words},
    {"data_bits", set_int, .def = "8", .off = DEV(data_bits), .min = 7, .max = 8},
    {"stop_bits", set_int, .def = "1", .off = DEV(stop_bits), .min = 1, .max = 2},
    MODBUS_FIELDS};
enum { HWMON_KIND, HWMON_PATH, HWMON_PSU };
static const struct field hwmon_fields[] = {
    [HWMON_KIND] = {"kind", set_enum, .required = true, .off = DEV(kind), .words = device_words},
    [HWMON_PATH] = {"path", set_path, .required = true, .off = DEV(path)},
    [HWMON_PSU] = {"psu", set_ref, .required = true, .off = DEV(psu), .ref = REF_PSU},
    {"poll_ms", set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true, .max = MAX_POLL_MS,
     .scale = 1e6},
};
/* Indexed by enum rackfile_device_kind. */
static const struct table device_tables[] = {
    {"sim device", sim_fields, LEN(sim_fields)},
    {"modbus-tcp device", tcp_fields, LEN(tcp_fields)},
    {"modbus-rtu device", rtu_fields, LEN(rtu_fields)},
    {"hwmon device", hwmon_fields, LEN(hwmon_fields)},
};

#define UNIT(m) offsetof(struct rackfile_unit, m)
/* After `unit`, exactly one role key, in enum rackfile_unit_role order
 * (servers is the other way to name a chassis module's slots). */
enum { UNIT_UNIT, UNIT_PSU, UNIT_SWITCHES, UNIT_CHASSIS, UNIT_SERVERS };
static const struct field unit_fields[] = {
    [UNIT_UNIT] = {"unit", set_int, .required = true, .off = UNIT(unit), .min = 1, .max = 247},
    [UNIT_PSU] = {"psu", set_ref, .off = UNIT(psu), .ref = REF_PSU},
    [UNIT_SWITCHES] = {"switches", set_ids, .off = UNIT(items), .min = 1, .ref = REF_PSU},
    [UNIT_CHASSIS] = {"chassis", set_ref, .off = UNIT(chassis), .ref = REF_CHASSIS},
    [UNIT_SERVERS] = {"servers", set_ids, .off = UNIT(items), .min = 1, .ref = REF_SERVER},
};
static const struct table unit_table = {"unit", unit_fields, LEN(unit_fields)};

#define API(m) offsetof(struct rackfile_api, m)
static const struct field api_fields[] = {
    {"listen", set_listen, .def = "127.0.0.1", .off = API(listen)},
    {"port", set_int, .def = "8470", .off = API(port), .max = 65535},
    {"keepalive_s", set_num, .def = "15", .off = API(keepalive_ns), .min_open = true, .max = 3600,
     .scale = 1e9},
};
static const struct table api_table = {"api", api_fields, LEN(api_fields)};

/* collect() keeps a table's nodes in arrays of MAX_FIELDS. */
_Static_assert(LEN(top_fields) <= MAX_FIELDS && LEN(rack_fields) <= MAX_FIELDS &&
                   LEN(psu_fields) <= MAX_FIELDS && LEN(server_fields) <= MAX_FIELDS &&
                   LEN(step_fields) <= MAX_FIELDS && LEN(rtu_fields) <= MAX_FIELDS &&
                   LEN(tcp_fields) <= MAX_FIELDS && LEN(unit_fields) <= MAX_FIELDS,
               "MAX_FIELDS too small");

/* ---- messages ---- */

__attribute__((format(printf, 3, 0))) static int vfail(struct ctx *c, yaml_mark_t m,
                                                       const char *fmt, va_list ap)
{
    int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name, m.line + 1, m.column + 1);
    if (n >= 0 && (size_t)n < c->errlen)
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    return -1;
}

__attribute__((format(printf, 3, 4))) static int fail_mark(struct ctx *c, yaml_mark_t m,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, m, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reports a problem with node n, at its position. Always returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, const yaml_node_t *n,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, n->start_mark, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t line_of(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

/* Appends s to a ", "-separated list in buf. */
static void join(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);
    if (n + 1 < len)
        snprintf(buf + n, len - n, "%s%s", n ? ", " : "", s);
}

static void join_keys(char *buf, size_t len, const struct table *t, size_t from)
{
    buf[0] = '\0';
    for (size_t i = from; i < t->n; i++)
        join(buf, len, t->f[i].key);
}

/* Whether a top-level key belongs in the file being loaded. */
static bool in_scope(const struct ctx *c, const struct field *f)
{
    return f->scope == SCOPE_ALL || (f->scope == SCOPE_DAEMON) == (c->d != NULL);
}

/* The names among n selected by mask. */
static void join_names(char *buf, size_t len, const char (*names)[RACK_ID_LEN], int n,
                       uint32_t mask)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        if ((mask >> i) & 1)
            join(buf, len, names[i]);
}

/* ---- nodes ---- */

static const yaml_node_t *node(struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

/* Text of a scalar, NULL for a list or mapping. */
static const char *str(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
    const char *s = str(n);
    return is_plain(n) && (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
                           !strcmp(s, "NULL"));
}

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static const yaml_node_t *seq_item(struct ctx *c, const yaml_node_t *n, size_t i)
{
    return node(c, n->data.sequence.items.start[i]);
}

/* What a node is, for "got ..." in messages. */
static const char *show(struct ctx *c, const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return seq_len(n) ? "a list" : "an empty list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (is_null(n))
        return "nothing";
    size_t len = n->data.scalar.length;
    snprintf(c->shown, sizeof(c->shown), "'%.*s%s'", (int)(len < SHOW_CHARS ? len : SHOW_CHARS),
             str(n), len > SHOW_CHARS ? "..." : "");
    for (char *p = c->shown; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return c->shown;
}

/* A quoted number is a string: say so, since it looks right at a glance. */
static const char *quote_hint(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && !is_plain(n) ? " (quoted, so a string)" : "";
}

/* Index of the field named by key node k, or t->n. */
static size_t field_index(const struct table *t, const yaml_node_t *k)
{
    const char *s = str(k);
    for (size_t i = 0; s && i < t->n; i++)
        if (strlen(t->f[i].key) == k->data.scalar.length && !strcmp(t->f[i].key, s))
            return i;
    return t->n;
}

/* Value of key in a mapping already checked, or the mapping itself. */
static const yaml_node_t *map_value(struct ctx *c, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *s = str(node(c, p->key));
        if (s && !strcmp(s, key))
            return node(c, p->value);
    }
    return map;
}

/* ---- the id index ---- */

static int idx_init(struct idx *h, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    h->slot = calloc(cap, sizeof(*h->slot));
    h->mask = cap - 1;
    return h->slot ? 0 : -1;
}

/* Index of id among the ids at base (one every stride bytes), or -1; when
 * absent and add >= 0, records add as its index. */
static long idx_get(struct idx *h, const char *base, size_t stride, const char *id, long add)
{
    if (!h->slot)
        return -1;
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const char *s = id; *s; s++)
        hash = (hash ^ (unsigned char)*s) * 16777619u;
    for (size_t i = hash & h->mask;; i = (i + 1) & h->mask) {
        uint32_t e = h->slot[i];
        if (e == 0) {
            if (add >= 0)
                h->slot[i] = (uint32_t)add + 1;
            return -1;
        }
        if (!strcmp(base + (e - 1) * stride, id))
            return (long)e - 1;
    }
}

static int find(struct ctx *c, enum ref ref, const char *id)
{
    switch (ref) {
    case REF_FEED:
        return rack_find_feed(c->r, id);
    case REF_BUS:
        return rack_find_bus(c->r, id);
    case REF_PSU:
        return (int)idx_get(&c->psus, (const char *)c->r->psus, sizeof(*c->r->psus), id, -1);
    case REF_SERVER:
        return (int)idx_get(&c->servers, (const char *)c->r->servers, sizeof(*c->r->servers), id,
                            -1);
    case REF_CHASSIS:
        return (int)idx_get(&c->chassis, (const char *)c->r->chassis, RACK_ID_LEN, id, -1);
    case REF_NONE:
        break;
    }
    return -1;
}

/* ---- mappings ---- */

/* Checks a mapping against a table: every key known and given once, every
 * required key present. keys[i], vals[i] are field i's nodes, or NULL. */
static int collect(struct ctx *c, const yaml_node_t *map, const struct table *t,
                   const yaml_node_t *keys[], const yaml_node_t *vals[])
{
    char allowed[512];
    bool top = t == &top_table;
    allowed[0] = '\0';
    for (size_t i = 0; i < t->n; i++)
        if (!top || in_scope(c, &t->f[i]))
            join(allowed, sizeof(allowed), t->f[i].key);
    if (map->type != YAML_MAPPING_NODE) {
        if (top)
            return fail(c, map, "expected a mapping at the top level (with keys %s), got %s",
                        allowed, show(c, map));
        return fail(c, map, "%s: expected a mapping, got %s", t->what, show(c, map));
    }
    for (size_t i = 0; i < t->n; i++)
        keys[i] = vals[i] = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = node(c, p->key);
        size_t i = field_index(t, k);
        if (i == t->n && top)
            return fail(c, k, "unknown top-level key %s (expected %s)", show(c, k), allowed);
        if (i == t->n)
            return fail(c, k, "unknown key %s in %s (expected %s)", show(c, k), t->what, allowed);
        if (keys[i] && top)
            return fail(c, k, "duplicate top-level key '%s' (first at line %zu)", t->f[i].key,
                        line_of(keys[i]));
        if (keys[i])
            return fail(c, k, "duplicate key '%s' in %s (first at line %zu)", t->f[i].key, t->what,
                        line_of(keys[i]));
        keys[i] = k;
        vals[i] = node(c, p->value);
    }
    for (size_t i = 0; i < t->n; i++) {
        if (!t->f[i].required || vals[i])
            continue;
        if (top)
            return fail(c, map, "missing required top-level key '%s'", t->f[i].key);
        /* Name the element when its id is known: the mapping may be long. */
        const char *id = !strcmp(t->f[0].key, "id") && vals[0] ? str(vals[0]) : NULL;
        if (id)
            return fail(c, map, "missing required key '%s' in %s '%.31s'", t->f[i].key, t->what,
                        id);
        return fail(c, map, "missing required key '%s' in %s", t->f[i].key, t->what);
    }
    return 0;
}

/* Parses a mapping into obj: each field in table order, from the file or
 * from its default. vals as for collect. */
static int parse_map(struct ctx *c, const yaml_node_t *map, const struct table *t, void *obj,
                     const yaml_node_t *vals[])
{
    const yaml_node_t *keys[MAX_FIELDS];
    if (collect(c, map, t, keys, vals))
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const struct field *f = &t->f[i];
        /* A default goes through the same setter and checks, as a plain scalar. */
        yaml_node_t def = {.type = YAML_SCALAR_NODE};
        if (!vals[i] && f->def) {
            def.data.scalar.value = (yaml_char_t *)f->def;
            def.data.scalar.length = strlen(f->def);
            def.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
        }
        const yaml_node_t *v = vals[i] ? vals[i] : f->def ? &def : NULL;
        c->key = keys[i];
        if (v && f->set(c, f, v, obj))
            return -1;
    }
    return 0;
}

/* ---- setters: check the value node v of field f, store it in obj ---- */

#define AT(obj, f, type) ((type *)((char *)(obj) + (f)->off))

static int check_id(struct ctx *c, const char *key, const yaml_node_t *v, char out[RACK_ID_LEN])
{
    const char *s = str(v);
    size_t len = s ? v->data.scalar.length : 0;
    bool ok = s && !is_null(v) && len >= 1 && len < RACK_ID_LEN;
    for (size_t i = 0; ok && i < len; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || (s[i] && strchr("_.:-", s[i]));
    if (!ok)
        return fail(c, v, "%s: expected an id (1 to %d of A-Z a-z 0-9 _ . : -), got %s", key,
                    RACK_ID_LEN - 1, show(c, v));
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static int set_id(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    return check_id(c, f->key, v, AT(obj, f, char));
}

static int set_name(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    const char *s = str(v);
    size_t len = s ? v->data.scalar.length : 0, max = sizeof(c->r->name) - 1;
    bool ok = s && !is_null(v) && len >= 1 && len <= max;
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
    if (!ok)
        return fail(c, v, "%s: expected text of 1 to %zu bytes without control characters, got %s",
                    f->key, max, show(c, v));
    memcpy(AT(obj, f, char), s, len + 1);
    return 0;
}

static int set_enum(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    const char *s = str(v);
    char words[128] = "";
    for (int i = 0; f->words[i]; i++) {
        if (s && strlen(f->words[i]) == v->data.scalar.length && !strcmp(s, f->words[i])) {
            *AT(obj, f, int) = i;
            return 0;
        }
        join(words, sizeof(words), f->words[i]);
    }
    return fail(c, v, "%s: expected one of %s, got %s", f->key, words, show(c, v));
}

/* A plain scalar that is a finite decimal number: "12", "0.5", "1e3". No
 * hex, inf or nan; YAML booleans and strings are not numbers. */
static bool parse_number(const yaml_node_t *v, double *out)
{
    const char *s = str(v);
    if (!is_plain(v) || is_null(v) || strpbrk(s, "xXiInN"))
        return false;
    char *end;
    *out = strtod(s, &end);
    return end != s && end == s + v->data.scalar.length;
}

static int set_num(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    double x;
    if (!parse_number(v, &x))
        return fail(c, v, "%s: expected a number, got %s%s", f->key, show(c, v), quote_hint(v));
    bool low = x < f->min || (f->min_open && x <= f->min);
    if (!low && x > f->max) /* also 1e999, which strtod makes inf */
        return fail(c, v, "%s: must be at most %.15g, got %s", f->key, f->max, show(c, v));
    /* Every min is >= 0, so + 0.5 rounds to nearest (without libm). */
    int64_t scaled = low ? 0 : (int64_t)(x * f->scale + 0.5);
    /* Rounding to the stored unit must not turn "> 0" into 0. */
    if (low || (f->min_open && scaled <= (int64_t)(f->min * f->scale)))
        return fail(c, v, "%s: must be %s %g, got %s", f->key, f->min_open ? ">" : ">=", f->min,
                    show(c, v));
    *AT(obj, f, int64_t) = scaled;
    return 0;
}

static int set_int(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    const char *s = str(v);
    char *end = NULL;
    long long x = is_plain(v) && !is_null(v) ? strtoll(s, &end, 10) : 0;
    if (!end || end == s || end != s + v->data.scalar.length || x < f->min)
        return fail(c, v, "%s: expected an integer >= %g, got %s%s", f->key, f->min, show(c, v),
                    quote_hint(v));
    if (x > f->max)
        return fail(c, v, "%s: must be at most %.15g, got %s", f->key, f->max, show(c, v));
    *AT(obj, f, int) = (int)x;
    return 0;
}

/* Resolves the id in v to the index of a ref in the rack. */
static int lookup(struct ctx *c, enum ref ref, const char *key, const yaml_node_t *v, int *out)
{
    char id[RACK_ID_LEN], known[RACK_MAX_FEEDS * (RACK_ID_LEN + 2)];
    if (check_id(c, key, v, id))
        return -1;
    *out = find(c, ref, id);
    if (*out >= 0)
        return 0;
    if (ref == REF_BUS) {
        join_names(known, sizeof(known), c->r->buses, c->r->nbuses, ~0u);
        return fail(c, v, "%s: unknown bus '%s' (rack buses: %s)", key, id, known);
    }
    if (ref == REF_FEED) {
        join_names(known, sizeof(known), c->r->feeds, c->r->nfeeds, ~0u);
        return fail(c, v, "%s: unknown feed '%s' (rack feeds: %s)", key, id, known);
    }
    return fail(c, v, "%s: unknown %s '%s'", key, ref_noun[ref], id);
}

static int set_ref(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    return lookup(c, f->ref, f->key, v, AT(obj, f, int));
}

static int set_busmask(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    if (v->type != YAML_SEQUENCE_NODE || !seq_len(v))
        return fail(c, v, "%s: expected a list of buses such as [%s], got %s", f->key,
                    c->r->buses[0], show(c, v));
    uint32_t mask = 0;
    for (size_t i = 0; i < seq_len(v); i++) {
        const yaml_node_t *item = seq_item(c, v, i);
        int b;
        if (lookup(c, REF_BUS, f->key, item, &b))
            return -1;
        if ((mask >> b) & 1)
            return fail(c, item, "%s: bus '%s' is listed twice", f->key, c->r->buses[b]);
        mask |= 1u << b;
    }
    *AT(obj, f, uint32_t) = mask;
    return 0;
}

/* Chassis are named by servers only: the first mention adds one. */
static int set_chassis(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rack *r = c->r;
    char id[RACK_ID_LEN];
    if (check_id(c, f->key, v, id))
        return -1;
    long i = idx_get(&c->chassis, (const char *)r->chassis, RACK_ID_LEN, id, r->nchassis);
    if (i < 0) {
        memcpy(r->chassis[r->nchassis], id, sizeof(id));
        i = r->nchassis++;
    }
    *AT(obj, f, int) = (int)i;
    return 0;
}

/* The rack's feeds: or buses: list. */
static int set_names(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rack *r = obj;
    bool bus = f->ref == REF_BUS;
    char(*names)[RACK_ID_LEN] = bus ? r->buses : r->feeds;
    int *count = bus ? &r->nbuses : &r->nfeeds, max = bus ? RACK_MAX_BUSES : RACK_MAX_FEEDS;
    if (v->type != YAML_SEQUENCE_NODE || !seq_len(v))
        return fail(c, v, "%s: expected a list of ids such as [A, B], got %s", f->key, show(c, v));
    *count = 0;
    for (size_t i = 0; i < seq_len(v); i++) {
        const yaml_node_t *item = seq_item(c, v, i);
        if (*count == max)
            return fail(c, item, "%s: too many %s (at most %d)", f->key, f->key, max);
        if (check_id(c, f->key, item, names[i]))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(names[j], names[i]))
                return fail(c, item, "duplicate %s id '%s' (first at line %zu)", ref_noun[f->ref],
                            names[i], line_of(seq_item(c, v, j)));
        (*count)++;
    }
    return 0;
}

static int parse_psu(struct ctx *c, const yaml_node_t *map, struct rack_psu *p,
                     const yaml_node_t *vals[])
{
    const struct rack *r = c->r;
    char names[RACK_MAX_FEEDS * (RACK_ID_LEN + 2)];
    p->bus = -1;
    if (parse_map(c, map, &psu_table, p, vals))
        return -1;
    if (!vals[PSU_FEED] && r->nfeeds > 1) {
        join_names(names, sizeof(names), r->feeds, r->nfeeds, ~0u);
        return fail(c, map,
                    "missing key 'feed' in psu '%s' (required when the rack has several "
                    "feeds: %s)",
                    p->id, names);
    }
    if (!vals[PSU_FEED])
        p->feed = 0;
    if (!vals[PSU_BUS]) {
        p->bus = rack_find_bus(r, str(seq_item(c, vals[PSU_BUSES], 0))); /* the first written */
    } else if (!((p->wired >> p->bus) & 1)) {
        join_names(names, sizeof(names), r->buses, r->nbuses, p->wired);
        return fail(c, vals[PSU_BUS], "bus: '%s' is not one of the psu's buses (%s)",
                    r->buses[p->bus], names);
    }
    if (!vals[PSU_SWITCH_MS])
        p->switch_ns = rack_switch_default_ns(p->sw);
    p->derated_mw = p->rated_mw;
    p->health = RACK_PSU_OK;
    return 0;
}

static int parse_server(struct ctx *c, const yaml_node_t *map, struct rack_server *s,
                        const yaml_node_t *vals[])
{
    s->chassis = -1;
    s->state = RACK_SRV_OFF;
    s->draw_mw = -1;
    if (parse_map(c, map, &server_table, s, vals))
        return -1;
    if (!vals[SRV_MIN])
        s->min_mw = s->power_mw; /* cannot be capped */
    else if (s->min_mw > s->power_mw)
        return fail(c, vals[SRV_MIN], "min_w: must be at most power_w (%s), got %s",
                    str(vals[SRV_POWER]), show(c, vals[SRV_MIN]));
    return 0;
}

/* The rack's psus: or servers: list. */
static int set_list(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rack *r = obj;
    bool psu = f->ref == REF_PSU;
    size_t max = psu ? RACKFILE_MAX_PSUS : RACKFILE_MAX_SERVERS;
    size_t size = psu ? sizeof(*r->psus) : sizeof(*r->servers);
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, v, "%s: expected a list of %ss, got %s", f->key, ref_noun[f->ref],
                    show(c, v));
    size_t n = seq_len(v);
    if (n > max)
        return fail(c, v, "%s: too many %ss (%zu, at most %zu)", f->key, ref_noun[f->ref], n, max);
    if (n == 0)
        return 0;
    char *items = calloc(n, size);
    struct idx *h = psu ? &c->psus : &c->servers;
    if (psu)
        r->psus = (struct rack_psu *)items;
    else
        r->servers = (struct rack_server *)items;
    if (!items || idx_init(h, n) ||
        (!psu && (!(r->chassis = calloc(n, RACK_ID_LEN)) || idx_init(&c->chassis, n))))
        return fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = seq_item(c, v, i), *vals[MAX_FIELDS];
        char *id = items + i * size;
        if (psu ? parse_psu(c, item, (struct rack_psu *)id, vals)
                : parse_server(c, item, (struct rack_server *)id, vals))
            return -1;
        long j = idx_get(h, items, size, id, (long)i);
        if (j >= 0)
            return fail(c, vals[0], "duplicate %s id '%s' (first at line %zu)", ref_noun[f->ref],
                        id, line_of(map_value(c, seq_item(c, v, (size_t)j), "id")));
        ++*(psu ? &r->npsus : &r->nservers);
    }
    if (!psu && r->nchassis == 0) {
        free(r->chassis);
        r->chassis = NULL;
    }
    return 0;
}

static int set_rack(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[MAX_FIELDS];
    /* The implicit feed, replaced by a feeds: list. */
    c->r->nfeeds = 1;
    snprintf(c->r->feeds[0], RACK_ID_LEN, "mains");
    if (parse_map(c, v, &rack_table, c->r, vals))
        return -1;
    /* n+n is surviving the loss of either feed: with one feed it would
     * protect against nothing a feed does, silently. */
    if (c->r->protection == RACK_PROT_NN && c->r->nfeeds < 2)
        return fail(c, vals[RACK_PROTECTION] ? vals[RACK_PROTECTION] : v,
                    "protection: n+n needs at least two feeds (list them under feeds:, and "
                    "give each psu its feed), this rack has %d",
                    c->r->nfeeds);
    return 0;
}

/* An action naming one id or a list of them: one input per id. */
static int set_targets(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rackfile_step *s = obj;
    bool list = v->type == YAML_SEQUENCE_NODE;
    size_t n = list ? seq_len(v) : 1;
    if (v->type == YAML_MAPPING_NODE || n == 0)
        return fail(c, v, "%s: expected a %s id or a list of them, got %s", f->key,
                    ref_noun[f->ref], show(c, v));
    for (size_t i = 0; i < n; i++) {
        struct policy_input *in = &s->inputs[s->ninputs];
        *in = (struct policy_input){.kind = f->input};
        if (lookup(c, f->ref, f->key, list ? seq_item(c, v, i) : v, &in->index))
            return -1;
        s->ninputs++;
    }
    return 0;
}

/* An action given as a mapping ({psu: ps1, capacity_w: 1500}) or a list of them. */
static int set_inputs(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rackfile_step *s = obj;
    bool list = v->type == YAML_SEQUENCE_NODE;
    size_t n = list ? seq_len(v) : 1;
    char keys[64];
    join_keys(keys, sizeof(keys), f->sub, 0);
    if (v->type == YAML_SCALAR_NODE || n == 0)
        return fail(c, v, "%s: expected {%s} or a list of them, got %s", f->key, keys, show(c, v));
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *vals[MAX_FIELDS];
        struct policy_input *in = &s->inputs[s->ninputs];
        *in = (struct policy_input){.kind = f->input};
        if (parse_map(c, list ? seq_item(c, v, i) : v, f->sub, in, vals))
            return -1;
        const struct rack_psu *p = f->input == POLICY_PSU_DEGRADE ? &c->r->psus[in->index] : NULL;
        if (p && in->watts_mw > p->rated_mw)
            return fail(c, vals[DEGRADE_CAPACITY],
                        "capacity_w: must be at most the rated capacity of psu '%s' (%.15g), "
                        "got %s",
                        p->id, (double)p->rated_mw / 1e3, show(c, vals[DEGRADE_CAPACITY]));
        s->ninputs++;
    }
    return 0;
}

static int parse_step(struct ctx *c, const yaml_node_t *map, struct rackfile_step *s,
                      const struct rackfile_step *prev)
{
    const yaml_node_t *keys[MAX_FIELDS], *vals[MAX_FIELDS];
    char actions[256];
    if (collect(c, map, &step_table, keys, vals))
        return -1;
    s->line = (int)line_of(map);
    if (set_num(c, &step_fields[STEP_AT], vals[STEP_AT], s))
        return -1;
    if (prev && s->at_ns < prev->at_ns)
        return fail(c, vals[STEP_AT],
                    "at: %s is earlier than the step before it (line %d): steps must be in time "
                    "order",
                    show(c, vals[STEP_AT]), prev->line);
    /* Each id or mapping in an action is one input: count them to allocate once. */
    size_t n = 0, nactions = 0;
    for (size_t i = STEP_AT + 1; i < step_table.n; i++) {
        if (!vals[i])
            continue;
        nactions++;
        n += vals[i]->type == YAML_SEQUENCE_NODE ? seq_len(vals[i]) : 1;
    }
    if (nactions == 0) {
        join_keys(actions, sizeof(actions), &step_table, STEP_AT + 1);
        return fail(c, map, "timeline step has no action (expected one or more of %s)", actions);
    }
    if (n > RACKFILE_MAX_INPUTS - c->ninputs)
        return fail(c, map, "timeline: more than %d inputs in all", RACKFILE_MAX_INPUTS);
    c->ninputs += n;
    if (n && !(s->inputs = calloc(n, sizeof(*s->inputs))))
        return fail(c, map, "out of memory");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = node(c, p->key);
        size_t i = field_index(&step_table, k);
        c->key = k;
        if (i != STEP_AT && step_fields[i].set(c, &step_fields[i], node(c, p->value), s))
            return -1;
    }
    return 0;
}

static int set_timeline(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    (void)obj;
    struct rackfile_timeline *tl = c->tl;
    if (!tl)
        return fail(c, c->key, "%s: only allowed in a scenario file", f->key);
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, v, "%s: expected a list of steps, got %s", f->key, show(c, v));
    size_t n = seq_len(v);
    if (n == 0)
        return 0;
    if (!(tl->steps = calloc(n, sizeof(*tl->steps))))
        return fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        tl->nsteps = i + 1;
        if (parse_step(c, seq_item(c, v, i), &tl->steps[i], i ? &tl->steps[i - 1] : NULL))
            return -1;
    }
    return 0;
}

/* ---- the daemon's config ---- */

static int need_daemon(struct ctx *c, const struct field *f)
{
    if (c->d)
        return 0;
    return fail(c, c->key, "%s: only allowed in a daemon config", f->key);
}

/* A list of ids of one kind (f->ref), each at most once, at least f->min. */
static int set_ids(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rackfile_ids *ids = AT(obj, f, struct rackfile_ids);
    const char *noun = ref_noun[f->ref];
    if (v->type != YAML_SEQUENCE_NODE || seq_len(v) < (size_t)f->min)
        return fail(c, v, "%s: expected a list of %s ids such as [%s], got %s", f->key, noun,
                    f->ref == REF_PSU ? "ps1, ps2" : "db1, web1", show(c, v));
    size_t n = seq_len(v);
    if (n && !(ids->v = calloc(n, sizeof(*ids->v))))
        return fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = seq_item(c, v, i);
        int k;
        if (lookup(c, f->ref, f->key, item, &k))
            return -1;
        for (size_t j = 0; j < ids->n; j++)
            if (ids->v[j] == k)
                return fail(c, item, "%s: %s %s is listed twice", f->key, noun, show(c, item));
        ids->v[ids->n++] = k;
    }
    return 0;
}

/* A sim device's timeline: a scenario's, `at` counted from the daemon's start. */
static int set_dev_timeline(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rackfile_timeline *saved = c->tl;
    c->tl = AT(obj, f, struct rackfile_timeline);
    int rc = set_timeline(c, f, v, obj);
    c->tl = saved;
    return rc;
}

/* Text of 1 to max bytes, each accepted by ok(). */
static bool check_text(const yaml_node_t *v, size_t max, bool (*ok)(char))
{
    const char *s = str(v);
    size_t len = s ? v->data.scalar.length : 0;
    if (!s || is_null(v) || len < 1 || len > max || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!ok(s[i]))
            return false;
    return true;
}

static bool host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == ':' || ch == '_';
}

static bool path_char(char ch)
{
    return (unsigned char)ch >= 0x20 && ch != 0x7f;
}

static int set_host(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    if (!check_text(v, 255, host_char))
        return fail(c, v, "%s: expected a host name or an IP address, got %s", f->key, show(c, v));
    memcpy(AT(obj, f, char), str(v), v->data.scalar.length + 1);
    return 0;
}

static int set_path(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    if (!check_text(v, 255, path_char) || str(v)[0] != '/')
        return fail(c, v, "%s: expected an absolute path (starting with /), got %s", f->key,
                    show(c, v));
    memcpy(AT(obj, f, char), str(v), v->data.scalar.length + 1);
    return 0;
}

static int set_baud(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    static const int rates[] = {1200,  2400,   4800,   9600,   19200, 38400,
                                57600, 115200, 230400, 460800, 921600};
    const char *s = str(v);
    char *end = NULL;
    long x = is_plain(v) && !is_null(v) ? strtol(s, &end, 10) : 0;
    bool digits = end && end != s && end == s + v->data.scalar.length;
    char words[128] = "", one[16];
    for (size_t i = 0; i < LEN(rates); i++) {
        if (digits && x == rates[i]) {
            *AT(obj, f, int) = rates[i];
            return 0;
        }
        snprintf(one, sizeof(one), "%d", rates[i]);
        join(words, sizeof(words), one);
    }
    return fail(c, v, "%s: expected one of %s, got %s", f->key, words, show(c, v));
}

static int set_listen(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    unsigned char addr[16];
    const char *s = str(v);
    size_t max = sizeof(((struct rackfile_api *)0)->listen) - 1;
    if (!s || is_null(v) || v->data.scalar.length > max || strlen(s) != v->data.scalar.length ||
        (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1))
        return fail(c, v, "%s: expected an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got %s",
                    f->key, show(c, v));
    memcpy(AT(obj, f, char), s, v->data.scalar.length + 1);
    return 0;
}

/* Claims element i for the entry (unit or device) at line: each PSU is read
 * by one device and switched by one, each server sits in one chassis module. */
static int claim(struct ctx *c, int *lines, int i, int line, const yaml_node_t *at, const char *key,
                 const char *noun, const char *id, const char *why)
{
    if (lines[i])
        return fail(c, at, "%s: %s '%s' is already mapped at line %d (%s)", key, noun, id, lines[i],
                    why);
    lines[i] = line;
    return 0;
}

static int parse_unit(struct ctx *c, const yaml_node_t *map, struct rackfile_unit *u)
{
    const yaml_node_t *keys[MAX_FIELDS], *vals[MAX_FIELDS];
    const struct rack *r = c->r;
    u->psu = u->chassis = -1;
    u->line = (int)line_of(map);
    /* One role per unit, checked before any list is stored. */
    if (collect(c, map, &unit_table, keys, vals))
        return -1;
    size_t role = 0;
    for (size_t i = UNIT_PSU; i < unit_table.n; i++) {
        if (!vals[i])
            continue;
        if (role)
            return fail(c, keys[i],
                        "%s: a unit is one of psu, switches, chassis or servers, and this one is "
                        "already a %s",
                        unit_fields[i].key, unit_fields[role].key);
        role = i;
    }
    if (parse_map(c, map, &unit_table, u, vals))
        return -1;
    if (!role)
        return fail(c, map, "unit %d: expected one of psu, switches, chassis or servers", u->unit);
    u->role = role == UNIT_PSU        ? RACKFILE_UNIT_PSU
              : role == UNIT_SWITCHES ? RACKFILE_UNIT_SWITCH
                                      : RACKFILE_UNIT_CHASSIS;
    const char *key = unit_fields[role].key;
    if (role == UNIT_PSU)
        return claim(c, c->psu_line, u->psu, u->line, vals[role], key, "psu", r->psus[u->psu].id,
                     "a PSU is read by one device");
    if (role == UNIT_CHASSIS) { /* its slots: the chassis' servers in rack order */
        size_t n = 0;
        for (int i = 0; i < r->nservers; i++)
            n += r->servers[i].chassis == u->chassis;
        if (n && !(u->items.v = calloc(n, sizeof(*u->items.v))))
            return fail(c, map, "out of memory");
        for (int i = 0; i < r->nservers; i++)
            if (r->servers[i].chassis == u->chassis)
                u->items.v[u->items.n++] = i;
    }
    for (size_t k = 0; k < u->items.n; k++) {
        int i = u->items.v[k];
        bool sw = role == UNIT_SWITCHES;
        const yaml_node_t *at = role == UNIT_CHASSIS ? vals[role] : seq_item(c, vals[role], k);
        if (claim(c, sw ? c->switch_line : c->server_line, i, u->line, at, key,
                  sw ? "psu" : "server", sw ? r->psus[i].id : r->servers[i].id,
                  sw ? "a PSU has one switch" : "a server sits in one chassis module"))
            return -1;
    }
    return 0;
}

static int set_units(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    struct rackfile_device *dev = obj;
    if (v->type != YAML_SEQUENCE_NODE || !seq_len(v))
        return fail(c, v, "%s: expected a list of units such as [{unit: 200, psu: ps1}], got %s",
                    f->key, show(c, v));
    size_t n = seq_len(v);
    if (n > 255)
        return fail(c, v, "%s: too many units (%zu, at most 255)", f->key, n);
    if (!(dev->units = calloc(n, sizeof(*dev->units))))
        return fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = seq_item(c, v, i);
        struct rackfile_unit *u = &dev->units[i];
        dev->nunits = i + 1;
        if (parse_unit(c, item, u))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (dev->units[j].unit == u->unit)
                return fail(c, map_value(c, item, "unit"),
                            "unit: %d is used twice on this device (first at line %d)", u->unit,
                            dev->units[j].line);
    }
    return 0;
}

static int parse_device(struct ctx *c, const yaml_node_t *map, struct rackfile_device *dev)
{
    const struct field *kind_field = &sim_fields[0]; /* the same in every kind's table */
    const yaml_node_t *vals[MAX_FIELDS];
    char words[64];
    dev->line = (int)line_of(map);
    dev->psu = -1;
    if (map->type != YAML_MAPPING_NODE)
        return fail(c, map, "device: expected a mapping with a kind, got %s", show(c, map));
    const yaml_node_t *kind = map_value(c, map, "kind");
    if (kind == map) {
        words[0] = '\0';
        for (int i = 0; device_words[i]; i++)
            join(words, sizeof(words), device_words[i]);
        return fail(c, map, "missing required key 'kind' in device (one of %s)", words);
    }
    c->key = NULL;
    if (set_enum(c, kind_field, kind, dev))
        return -1;
    if (parse_map(c, map, &device_tables[dev->kind], dev, vals))
        return -1;
    if (dev->kind == RACKFILE_DEV_HWMON)
        return claim(c, c->psu_line, dev->psu, dev->line, vals[HWMON_PSU], "psu", "psu",
                     c->r->psus[dev->psu].id, "a PSU is read by one device");
    return 0;
}

static int set_devices(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    (void)obj;
    struct rackfile_daemon *d = c->d;
    if (need_daemon(c, f))
        return -1;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(c, v, "%s: expected a list of devices, got %s", f->key, show(c, v));
    size_t n = seq_len(v);
    if (n > MAX_DEVICES)
        return fail(c, v, "%s: too many devices (%zu, at most %d)", f->key, n, MAX_DEVICES);
    if (n == 0)
        return 0;
    size_t np = (size_t)(c->r->npsus ? c->r->npsus : 1);
    size_t ns = (size_t)(c->r->nservers ? c->r->nservers : 1);
    if (!(d->devices = calloc(n, sizeof(*d->devices))) ||
        !(c->psu_line = calloc(np, sizeof(int))) || !(c->switch_line = calloc(np, sizeof(int))) ||
        !(c->server_line = calloc(ns, sizeof(int))))
        return fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        d->ndevices = i + 1;
        if (parse_device(c, seq_item(c, v, i), &d->devices[i]))
            return -1;
    }
    /* The simulated rack is the whole rack: it answers for every element. */
    for (size_t i = 0; i < n && n > 1; i++)
        if (d->devices[i].kind == RACKFILE_DEV_SIM)
            return fail(c, seq_item(c, v, i ? i : 1),
                        "%s: a sim device simulates the whole rack and cannot be combined with "
                        "other devices (the sim is at line %d)",
                        f->key, d->devices[i].line);
    return 0;
}

static int set_api(struct ctx *c, const struct field *f, const yaml_node_t *v, void *obj)
{
    (void)obj;
    const yaml_node_t *vals[MAX_FIELDS];
    if (need_daemon(c, f))
        return -1;
    return parse_map(c, v, &api_table, &c->d->api, vals);
}

/* ---- entry points ---- */

/* libyaml's own problem text and position. */
static int yaml_fail(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR) {
        snprintf(c->err, c->errlen, "%s: out of memory", c->name);
        return -1;
    }
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) { /* bad encoding: only a byte offset is known */
        m = (yaml_mark_t){0};
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            m.column++;
            if (text[i] == '\n') {
                m.line++;
                m.column = 0;
            }
        }
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        return fail_mark(c, m, "%s (%s at line %zu, column %zu)", problem, p->context,
                         p->context_mark.line + 1, p->context_mark.column + 1);
    return fail_mark(c, m, "%s", problem);
}

static int load(const char *name, const char *text, size_t len, struct rack *r,
                struct rackfile_timeline *tl, struct rackfile_daemon *d, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc, more;
    struct ctx c = {
        .name = name, .doc = &doc, .r = r, .tl = tl, .d = d, .err = err, .errlen = errlen};
    int rc = -1;

    rack_init(r);
    if (tl)
        *tl = (struct rackfile_timeline){0};
    if (d)
        *d = (struct rackfile_daemon){0};
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_fail(&c, &parser, text, len);
        yaml_parser_delete(&parser);
        return -1;
    }
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null(root)) {
        fail_mark(&c, root ? root->start_mark : (yaml_mark_t){0},
                  "empty file: expected a mapping with a 'rack' key");
    } else if (!yaml_parser_load(&parser, &more)) {
        yaml_fail(&c, &parser, text, len);
    } else {
        const yaml_node_t *extra = yaml_document_get_root_node(&more);
        if (extra)
            fail(&c, extra, "a second YAML document: the file must hold only one");
        yaml_document_delete(&more);
        const yaml_node_t *vals[MAX_FIELDS];
        if (!extra)
            rc = parse_map(&c, root, &top_table, NULL, vals);
        if (rc == 0 && d && !vals[TOP_API]) { /* the api's defaults */
            yaml_node_t none = {.type = YAML_MAPPING_NODE};
            c.key = NULL;
            rc = parse_map(&c, &none, &api_table, &d->api, vals);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    free(c.psus.slot);
    free(c.servers.slot);
    free(c.chassis.slot);
    free(c.psu_line);
    free(c.switch_line);
    free(c.server_line);
    if (rc) {
        rack_free(r);
        rackfile_timeline_free(tl);
        rackfile_daemon_free(d);
    }
    return rc;
}

int rackfile_load_string(const char *name, const char *text, size_t len, struct rack *r,
                         struct rackfile_timeline *tl, char *err, size_t errlen)
{
    return load(name, text, len, r, tl, NULL, err, errlen);
}

int rackfile_load_config_string(const char *name, const char *text, size_t len, struct rack *r,
                                struct rackfile_daemon *d, char *err, size_t errlen)
{
    return load(name, text, len, r, NULL, d, err, errlen);
}

static int load_file(const char *path, struct rack *r, struct rackfile_timeline *tl,
                     struct rackfile_daemon *d, char *err, size_t errlen)
{
    rack_init(r);
    if (tl)
        *tl = (struct rackfile_timeline){0};
    if (d)
        *d = (struct rackfile_daemon){0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int e = 0;
    while (len <= MAX_FILE_BYTES) { /* reads at most one byte too many */
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            cap = cap < MAX_FILE_BYTES + 1 ? cap : MAX_FILE_BYTES + 1;
            char *nbuf = realloc(buf, cap);
            if (!nbuf) {
                e = ENOMEM;
                break;
            }
            buf = nbuf;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            e = ferror(f) ? errno : 0;
            break;
        }
    }
    fclose(f);
    int rc = -1;
    if (e)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
    else if (len > MAX_FILE_BYTES)
        snprintf(err, errlen, "%s: larger than %zu MiB, not a rack file", path,
                 MAX_FILE_BYTES >> 20);
    else
        rc = load(path, buf, len, r, tl, d, err, errlen);
    free(buf);
    return rc;
}

int rackfile_load(const char *path, struct rack *r, struct rackfile_timeline *tl, char *err,
                  size_t errlen)
{
    return load_file(path, r, tl, NULL, err, errlen);
}

int rackfile_load_config(const char *path, struct rack *r, struct rackfile_daemon *d, char *err,
                         size_t errlen)
{
    return load_file(path, r, NULL, d, err, errlen);
}

void rackfile_daemon_free(struct rackfile_daemon *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->ndevices; i++) {
        struct rackfile_device *dev = &d->devices[i];
        free(dev->boot.v);
        rackfile_timeline_free(&dev->timeline);
        for (size_t k = 0; k < dev->nunits; k++)
            free(dev->units[k].items.v);
        free(dev->units);
    }
    free(d->devices);
    d->devices = NULL;
    d->ndevices = 0;
}

const char *rackfile_device_kind_name(enum rackfile_device_kind k)
{
    return (unsigned)k < LEN(device_words) - 1 ? device_words[k] : "?";
}

void rackfile_timeline_free(struct rackfile_timeline *tl)
{
    if (!tl)
        return;
    for (size_t i = 0; i < tl->nsteps; i++)
        free(tl->steps[i].inputs);
    free(tl->steps);
    tl->steps = NULL;
    tl->nsteps = 0;
}
