/*
 * daemonconf.c - the daemon config schema (daemonconf.h, docs/daemon.md): a
 * rack file's rack plus `devices:` and `api:`, through the field-table engine
 * (conf.h) and the rack schema's fields (rackfile_fields.h).
 */
#include "daemonconf.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "rackfile_fields.h"

#define MAX_DEVICES 256
#define MAX_POLL_MS 3600e3
#define MAX_TIMEOUT_MS 60e3
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static conf_setter set_devices, set_api, set_units, set_baud, set_listen;

/* Daemon configs: rack, devices, api. A scenario's timeline is known so that
 * a config using it hears where it belongs. */
enum { TOP_RACK, TOP_TIMELINE, TOP_DEVICES, TOP_API };
static const struct conf_field top_fields[] = {
    [TOP_RACK] = {"rack", rackfile_set_rack, .required = true},
    [TOP_TIMELINE] = {"timeline", rackfile_set_timeline, .hidden = true},
    [TOP_DEVICES] = {"devices", set_devices},
    [TOP_API] = {"api", set_api},
};
static const struct conf_table top_table = {
    .what = "top-level", .f = top_fields, .n = LEN(top_fields), .top = true};

static const char *const device_words[] = {"sim", "modbus-tcp", "modbus-rtu", "hwmon", NULL};
static const char *const parity_words[] = {"none", "even", "odd", NULL};
_Static_assert(sizeof(enum rackfile_device_kind) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum rackfile_parity) == sizeof(int), "enum stored as int");

#define DEV(m) offsetof(struct rackfile_device, m)
/* Every kind has `kind` first and `poll_ms`; Modbus adds `timeout_ms` and `units`. */
static const struct conf_field sim_fields[] = {
    {"kind", conf_set_enum, .required = true, .off = DEV(kind), .words = device_words},
    {"boot", rackfile_set_ids, .off = DEV(boot), .ref = CONF_REF_SERVER},
    {"timeline", rackfile_set_timeline_at, .off = DEV(timeline)},
    {"seed", conf_set_int, .def = "1", .off = DEV(seed), .max = INT_MAX},
    {"poll_ms", conf_set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true,
     .max = MAX_POLL_MS, .scale = 1e6},
};
/* What TCP and RTU devices have alike, after their transport's own keys. */
/* clang-format off */
#define MODBUS_FIELDS                                                                             \
    {"timeout_ms", conf_set_num, .def = "500", .off = DEV(timeout_ns), .min_open = true,              \
     .max = MAX_TIMEOUT_MS, .scale = 1e6},                                                        \
    {"poll_ms", conf_set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true,                   \
     .max = MAX_POLL_MS, .scale = 1e6},                                                           \
    {"alert", conf_set_path, .off = DEV(alert)},                                                       \
    {"reprobe_s", conf_set_num, .def = "60", .off = DEV(reprobe_ns), .min_open = true,                \
     .max = 86400, .scale = 1e9},                                                                 \
    {"units", set_units, .required = true},
/* clang-format on */
static const struct conf_field tcp_fields[] = {
    {"kind", conf_set_enum, .required = true, .off = DEV(kind), .words = device_words},
    {"host", conf_set_host, .required = true, .off = DEV(host)},
    {"port", conf_set_int, .def = "502", .off = DEV(port), .min = 1, .max = 65535},
    MODBUS_FIELDS};
static const struct conf_field rtu_fields[] = {
    {"kind", conf_set_enum, .required = true, .off = DEV(kind), .words = device_words},
    {"device", conf_set_path, .required = true, .off = DEV(device)},
    {"baud", set_baud, .def = "19200", .off = DEV(baud)},
    {"parity", conf_set_enum, .def = "even", .off = DEV(parity), .words = parity_words},
    {"data_bits", conf_set_int, .def = "8", .off = DEV(data_bits), .min = 7, .max = 8},
    {"stop_bits", conf_set_int, .def = "1", .off = DEV(stop_bits), .min = 1, .max = 2},
    MODBUS_FIELDS};
enum { HWMON_KIND, HWMON_PATH, HWMON_PSU };
static const struct conf_field hwmon_fields[] = {
    [HWMON_KIND] = {"kind", conf_set_enum, .required = true, .off = DEV(kind),
                    .words = device_words},
    [HWMON_PATH] = {"path", conf_set_path, .required = true, .off = DEV(path)},
    [HWMON_PSU] = {"psu", rackfile_set_ref, .required = true, .off = DEV(psu), .ref = CONF_REF_PSU},
    {"poll_ms", conf_set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true,
     .max = MAX_POLL_MS, .scale = 1e6},
};
/* Indexed by enum rackfile_device_kind. */
static const struct conf_table device_tables[] = {
    {.what = "sim device", .f = sim_fields, .n = LEN(sim_fields)},
    {.what = "modbus-tcp device", .f = tcp_fields, .n = LEN(tcp_fields)},
    {.what = "modbus-rtu device", .f = rtu_fields, .n = LEN(rtu_fields)},
    {.what = "hwmon device", .f = hwmon_fields, .n = LEN(hwmon_fields)},
};

#define UNIT(m) offsetof(struct rackfile_unit, m)
/* After `unit`, exactly one role key, in enum rackfile_unit_role order
 * (servers is the other way to name a chassis module's slots). */
enum { UNIT_UNIT, UNIT_PSU, UNIT_SWITCHES, UNIT_CHASSIS, UNIT_SERVERS };
static const struct conf_field unit_fields[] = {
    [UNIT_UNIT] = {"unit", conf_set_int, .required = true, .off = UNIT(unit), .min = 1, .max = 247},
    [UNIT_PSU] = {"psu", rackfile_set_ref, .off = UNIT(psu), .ref = CONF_REF_PSU},
    [UNIT_SWITCHES] = {"switches", rackfile_set_ids, .off = UNIT(items), .min = 1,
                       .ref = CONF_REF_PSU},
    [UNIT_CHASSIS] = {"chassis", rackfile_set_ref, .off = UNIT(chassis), .ref = CONF_REF_CHASSIS},
    [UNIT_SERVERS] = {"servers", rackfile_set_ids, .off = UNIT(items), .min = 1,
                      .ref = CONF_REF_SERVER},
};
static const struct conf_table unit_table = {
    .what = "unit", .f = unit_fields, .n = LEN(unit_fields)};

#define API(m) offsetof(struct rackfile_api, m)
static const struct conf_field api_fields[] = {
    {"listen", set_listen, .def = "127.0.0.1", .off = API(listen)},
    {"port", conf_set_int, .def = "8470", .off = API(port), .max = 65535},
    {"keepalive_s", conf_set_num, .def = "15", .off = API(keepalive_ns), .min_open = true,
     .max = 3600, .scale = 1e9},
};
static const struct conf_table api_table = {.what = "api", .f = api_fields, .n = LEN(api_fields)};

/* conf_collect keeps a table's nodes in arrays of CONF_MAX_FIELDS. */
_Static_assert(LEN(top_fields) <= CONF_MAX_FIELDS && LEN(rtu_fields) <= CONF_MAX_FIELDS &&
                   LEN(tcp_fields) <= CONF_MAX_FIELDS && LEN(unit_fields) <= CONF_MAX_FIELDS,
               "CONF_MAX_FIELDS too small");

static int set_baud(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    static const int rates[] = {1200,  2400,   4800,   9600,   19200, 38400,
                                57600, 115200, 230400, 460800, 921600};
    const char *s = conf_str(v);
    char *end = NULL;
    long x = conf_is_plain(v) && !conf_is_null(v) ? strtol(s, &end, 10) : 0;
    bool digits = end && end != s && end == s + v->data.scalar.length;
    char words[128] = "", one[16];
    for (size_t i = 0; i < LEN(rates); i++) {
        if (digits && x == rates[i]) {
            *(int *)conf_at(obj, f) = rates[i];
            return 0;
        }
        snprintf(one, sizeof(one), "%d", rates[i]);
        conf_join(words, sizeof(words), one);
    }
    return conf_fail(c, v, "%s: expected one of %s, got %s", f->key, words, conf_show(c, v));
}

static int set_listen(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                      void *obj)
{
    unsigned char addr[16];
    const char *s = conf_str(v);
    size_t max = sizeof(((struct rackfile_api *)0)->listen) - 1;
    if (!s || conf_is_null(v) || v->data.scalar.length > max ||
        strlen(s) != v->data.scalar.length ||
        (inet_pton(AF_INET, s, addr) != 1 && inet_pton(AF_INET6, s, addr) != 1))
        return conf_fail(c, v,
                         "%s: expected an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got %s",
                         f->key, conf_show(c, v));
    memcpy(conf_at(obj, f), s, v->data.scalar.length + 1);
    return 0;
}

/* Claims element i for the entry (unit or device) at line: each PSU is read
 * by one device and switched by one, each server sits in one chassis module. */
static int claim(struct conf_ctx *c, int *lines, int i, int line, const yaml_node_t *at,
                 const char *key, const char *noun, const char *id, const char *why)
{
    if (lines[i])
        return conf_fail(c, at, "%s: %s '%s' is already mapped at line %d (%s)", key, noun, id,
                         lines[i], why);
    lines[i] = line;
    return 0;
}

static int parse_unit(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_unit *u)
{
    const yaml_node_t *keys[CONF_MAX_FIELDS], *vals[CONF_MAX_FIELDS];
    const struct rack *r = c->r;
    u->psu = u->chassis = -1;
    u->line = (int)conf_line(map);
    /* One role per unit, checked before any list is stored. */
    if (conf_collect(c, map, &unit_table, keys, vals))
        return -1;
    size_t role = 0;
    for (size_t i = UNIT_PSU; i < unit_table.n; i++) {
        if (!vals[i])
            continue;
        if (role)
            return conf_fail(
                c, keys[i],
                "%s: a unit is one of psu, switches, chassis or servers, and this one is "
                "already a %s",
                unit_fields[i].key, unit_fields[role].key);
        role = i;
    }
    if (conf_parse_map(c, map, &unit_table, u, vals))
        return -1;
    if (!role)
        return conf_fail(c, map, "unit %d: expected one of psu, switches, chassis or servers",
                         u->unit);
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
            return conf_fail(c, map, "out of memory");
        for (int i = 0; i < r->nservers; i++)
            if (r->servers[i].chassis == u->chassis)
                u->items.v[u->items.n++] = i;
    }
    for (size_t k = 0; k < u->items.n; k++) {
        int i = u->items.v[k];
        bool sw = role == UNIT_SWITCHES;
        const yaml_node_t *at = role == UNIT_CHASSIS ? vals[role] : conf_seq_item(c, vals[role], k);
        if (claim(c, sw ? c->switch_line : c->server_line, i, u->line, at, key,
                  sw ? "psu" : "server", sw ? r->psus[i].id : r->servers[i].id,
                  sw ? "a PSU has one switch" : "a server sits in one chassis module"))
            return -1;
    }
    return 0;
}

static int set_units(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    struct rackfile_device *dev = obj;
    if (v->type != YAML_SEQUENCE_NODE || !conf_seq_len(v))
        return conf_fail(c, v,
                         "%s: expected a list of units such as [{unit: 200, psu: ps1}], got %s",
                         f->key, conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n > 255)
        return conf_fail(c, v, "%s: too many units (%zu, at most 255)", f->key, n);
    if (!(dev->units = calloc(n, sizeof(*dev->units))))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i);
        struct rackfile_unit *u = &dev->units[i];
        dev->nunits = i + 1;
        if (parse_unit(c, item, u))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (dev->units[j].unit == u->unit)
                return conf_fail(c, conf_map_value(c, item, "unit"),
                                 "unit: %d is used twice on this device (first at line %d)",
                                 u->unit, dev->units[j].line);
    }
    return 0;
}

static int parse_device(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_device *dev)
{
    const struct conf_field *kind_field = &sim_fields[0]; /* the same in every kind's table */
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    char words[64];
    dev->line = (int)conf_line(map);
    dev->psu = -1;
    if (map->type != YAML_MAPPING_NODE)
        return conf_fail(c, map, "device: expected a mapping with a kind, got %s",
                         conf_show(c, map));
    const yaml_node_t *kind = conf_map_value(c, map, "kind");
    if (kind == map) {
        words[0] = '\0';
        for (int i = 0; device_words[i]; i++)
            conf_join(words, sizeof(words), device_words[i]);
        return conf_fail(c, map, "missing required key 'kind' in device (one of %s)", words);
    }
    c->key = NULL;
    if (conf_set_enum(c, kind_field, kind, dev))
        return -1;
    if (conf_parse_map(c, map, &device_tables[dev->kind], dev, vals))
        return -1;
    if (dev->kind == RACKFILE_DEV_HWMON)
        return claim(c, c->psu_line, dev->psu, dev->line, vals[HWMON_PSU], "psu", "psu",
                     c->r->psus[dev->psu].id, "a PSU is read by one device");
    return 0;
}

static int set_devices(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    (void)obj;
    struct rackfile_daemon *d = c->d;
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list of devices, got %s", f->key, conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n > MAX_DEVICES)
        return conf_fail(c, v, "%s: too many devices (%zu, at most %d)", f->key, n, MAX_DEVICES);
    if (n == 0)
        return 0;
    size_t np = (size_t)(c->r->npsus ? c->r->npsus : 1);
    size_t ns = (size_t)(c->r->nservers ? c->r->nservers : 1);
    if (!(d->devices = calloc(n, sizeof(*d->devices))) ||
        !(c->psu_line = calloc(np, sizeof(int))) || !(c->switch_line = calloc(np, sizeof(int))) ||
        !(c->server_line = calloc(ns, sizeof(int))))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        d->ndevices = i + 1;
        if (parse_device(c, conf_seq_item(c, v, i), &d->devices[i]))
            return -1;
    }
    /* The simulated rack is the whole rack: it answers for every element. */
    for (size_t i = 0; i < n && n > 1; i++)
        if (d->devices[i].kind == RACKFILE_DEV_SIM)
            return conf_fail(
                c, conf_seq_item(c, v, i ? i : 1),
                "%s: a sim device simulates the whole rack and cannot be combined with "
                "other devices (the sim is at line %d)",
                f->key, d->devices[i].line);
    return 0;
}

static int set_api(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    return conf_parse_map(c, v, &api_table, &c->d->api, vals);
}

/* ---- entry points ---- */

static int parse_top(struct conf_ctx *c, const yaml_node_t *root, void *arg)
{
    (void)arg;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    if (conf_parse_map(c, root, &top_table, NULL, vals))
        return -1;
    if (vals[TOP_API])
        return 0;
    yaml_node_t none = {.type = YAML_MAPPING_NODE}; /* the api's defaults */
    c->key = NULL;
    return conf_parse_map(c, &none, &api_table, &c->d->api, vals);
}

int rackfile_load_config_string(const char *name, const char *text, size_t len, struct rack *r,
                                struct rackfile_daemon *d, char *err, size_t errlen)
{
    struct conf_ctx c = {.name = name, .r = r, .d = d, .err = err, .errlen = errlen};
    rack_init(r);
    *d = (struct rackfile_daemon){0};
    int rc = conf_load_text(&c, text, len, parse_top, NULL);
    rackfile_ctx_free(&c);
    free(c.psu_line);
    free(c.switch_line);
    free(c.server_line);
    if (rc) {
        rack_free(r);
        rackfile_daemon_free(d);
    }
    return rc;
}

int rackfile_load_config(const char *path, struct rack *r, struct rackfile_daemon *d, char *err,
                         size_t errlen)
{
    char *buf;
    size_t len;
    rack_init(r);
    *d = (struct rackfile_daemon){0};
    if (conf_read_file(path, &buf, &len, err, errlen))
        return -1;
    int rc = rackfile_load_config_string(path, buf, len, r, d, err, errlen);
    free(buf);
    return rc;
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
