/*
 * mbdev_conf.c - the keys of `kind: modbus-tcp` and `kind: modbus-rtu` entries
 * of devices: (docs/daemon.md) and of their units, the Modbus devices of
 * mbdev.c: which unit id is a PSU, the switch module, a chassis module or a
 * BBU (`role: bbu, reserve: ID`, docs/outage.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemonconf_driver.h"
#include "driver_conf.h"

#define MAX_TIMEOUT_MS 60e3
#define MAX_UNITS 255
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DEV(m) offsetof(struct rackfile_device, m)
#define UNIT(m) offsetof(struct rackfile_unit, m)

static conf_setter set_units, set_baud, set_role, set_reserve;

static const char *const parity_words[] = {"none", "even", "odd", NULL};
/* in enum rackfile_psu_extension order */
static const char *const extension_words[] = {"none", "rackpower", NULL};
_Static_assert(sizeof(enum rackfile_parity) == sizeof(int), "enum stored as int");

/* What TCP and RTU devices have alike, after their transport's own keys. */
/* clang-format off */
#define MODBUS_FIELDS                                                                             \
    {"timeout_ms", conf_set_num, .def = "500", .off = DEV(timeout_ns), .min_open = true,         \
     .max = MAX_TIMEOUT_MS, .scale = 1e6},                                                        \
    {"poll_ms", conf_set_num, .def = "1000", .off = DEV(poll_ns), .min_open = true,              \
     .max = DAEMONCONF_MAX_POLL_MS, .scale = 1e6},                                                \
    {"alert", conf_set_path, .off = DEV(alert)},                                                  \
    {"reprobe_s", conf_set_num, .def = "60", .off = DEV(reprobe_ns), .min_open = true,           \
     .max = 86400, .scale = 1e9},                                                                 \
    {"derate_pct", conf_set_int, .def = "50", .off = DEV(derate_pct), .min = 1, .max = 100},      \
    {"units", set_units, .required = true},
/* clang-format on */
static const struct conf_field tcp_fields[] = {
    {"kind", daemonconf_set_kind, .required = true},
    {"host", conf_set_host, .required = true, .off = DEV(host)},
    {"port", conf_set_int, .def = "502", .off = DEV(port), .min = 1, .max = 65535},
    MODBUS_FIELDS};
static const struct conf_field rtu_fields[] = {
    {"kind", daemonconf_set_kind, .required = true},
    {"device", conf_set_path, .required = true, .off = DEV(device)},
    {"baud", set_baud, .def = "19200", .off = DEV(baud)},
    {"parity", conf_set_enum, .def = "even", .off = DEV(parity), .words = parity_words},
    {"data_bits", conf_set_int, .def = "8", .off = DEV(data_bits), .min = 7, .max = 8},
    {"stop_bits", conf_set_int, .def = "1", .off = DEV(stop_bits), .min = 1, .max = 2},
    MODBUS_FIELDS};
static const struct conf_table tcp_table = {
    .what = "modbus-tcp device", .f = tcp_fields, .n = LEN(tcp_fields)};
static const struct conf_table rtu_table = {
    .what = "modbus-rtu device", .f = rtu_fields, .n = LEN(rtu_fields)};

/* After `unit`, exactly one role key, in enum rackfile_unit_role order
 * (servers is the other way to name a chassis module's slots); a BBU's
 * reserve comes with `role: bbu`, as the design of issue 10 writes it. */
enum {
    UNIT_UNIT,
    UNIT_PSU,
    UNIT_SWITCHES,
    UNIT_CHASSIS,
    UNIT_SERVERS,
    UNIT_RESERVE,
    UNIT_ROLE,
    UNIT_EXTENSION
};
static const struct conf_field unit_fields[] = {
    [UNIT_UNIT] = {"unit", conf_set_int, .required = true, .off = UNIT(unit), .min = 1, .max = 247},
    [UNIT_PSU] = {"psu", rackfile_set_ref, .off = UNIT(psu), .ref = CONF_REF_PSU},
    [UNIT_SWITCHES] = {"switches", rackfile_set_ids, .off = UNIT(items), .min = 1,
                       .ref = CONF_REF_PSU},
    [UNIT_CHASSIS] = {"chassis", rackfile_set_ref, .off = UNIT(chassis), .ref = CONF_REF_CHASSIS},
    [UNIT_SERVERS] = {"servers", rackfile_set_ids, .off = UNIT(items), .min = 1,
                      .ref = CONF_REF_SERVER},
    [UNIT_RESERVE] = {"reserve", set_reserve, .off = UNIT(reserve)},
    [UNIT_ROLE] = {"role", set_role},
    /* written only where the operator says the PSU has it: a real ORv3
     * shelf has nothing at those registers, or a vendor's own */
    [UNIT_EXTENSION] = {"extension", conf_set_enum, .def = "none", .off = UNIT(extension),
                        .words = extension_words},
};
static const struct conf_table unit_table = {
    .what = "unit", .f = unit_fields, .n = LEN(unit_fields)};

/* conf_collect keeps a table's nodes in arrays of CONF_MAX_FIELDS. */
_Static_assert(LEN(tcp_fields) <= CONF_MAX_FIELDS && LEN(rtu_fields) <= CONF_MAX_FIELDS &&
                   LEN(unit_fields) <= CONF_MAX_FIELDS,
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

/* role: bbu, the one word (the other roles are named by their keys). */
static int set_role(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    (void)obj;
    const char *s = conf_str(v);
    if (s && v->data.scalar.length == 3 && !strcmp(s, "bbu"))
        return 0;
    return conf_fail(c, v, "%s: expected bbu (an ORv3 BBU, with reserve: ID), got %s", f->key,
                     conf_show(c, v));
}

/* A reserve of kind bbu, by id. */
static int set_reserve(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    const char *s = conf_str(v);
    int k = s ? rack_find_reserve(c->r, s) : -1;
    if (k < 0)
        return conf_fail(c, v, "%s: %s is not a reserve of the rack", f->key, conf_show(c, v));
    if (c->r->reserves[k].kind != RACK_RESERVE_BBU)
        return conf_fail(c, v,
                         "%s: %s is a reserve of kind %s; a BBU unit reads a reserve of kind bbu "
                         "(a ups is read through kind: nut)",
                         f->key, c->r->reserves[k].id,
                         rack_reserve_kind_name(c->r->reserves[k].kind));
    *(int *)conf_at(obj, f) = k;
    return 0;
}

static int parse_unit(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_unit *u)
{
    const yaml_node_t *keys[CONF_MAX_FIELDS], *vals[CONF_MAX_FIELDS];
    const struct rack *r = c->r;
    u->psu = u->chassis = u->reserve = -1;
    u->line = (int)conf_line(map);
    /* One role per unit, checked before any list is stored. */
    if (conf_collect(c, map, &unit_table, keys, vals))
        return -1;
    size_t role = 0;
    for (size_t i = UNIT_PSU; i <= UNIT_RESERVE; i++) {
        if (!vals[i])
            continue;
        if (role)
            return conf_fail(
                c, keys[i],
                "%s: a unit is one of psu, switches, chassis, servers or reserve (a BBU), and "
                "this one is already a %s",
                unit_fields[i].key, unit_fields[role].key);
        role = i;
    }
    if (vals[UNIT_ROLE] && role != UNIT_RESERVE)
        return conf_fail(c, keys[UNIT_ROLE], "role: a BBU unit names its reserve (reserve: ID)");
    if (role == UNIT_RESERVE && !vals[UNIT_ROLE])
        return conf_fail(c, keys[UNIT_RESERVE],
                         "reserve: a unit that reads a reserve says what it is (role: bbu)");
    if (vals[UNIT_EXTENSION] && role != UNIT_PSU)
        return conf_fail(c, keys[UNIT_EXTENSION],
                         "extension: only a PSU unit (psu: ID) has one (rackpower's standby "
                         "and share registers)");
    if (conf_parse_map(c, map, &unit_table, u, vals))
        return -1;
    if (!role)
        return conf_fail(
            c, map, "unit %d: expected one of psu, switches, chassis, servers or reserve", u->unit);
    u->role = role == UNIT_PSU        ? RACKFILE_UNIT_PSU
              : role == UNIT_SWITCHES ? RACKFILE_UNIT_SWITCH
              : role == UNIT_RESERVE  ? RACKFILE_UNIT_BBU
                                      : RACKFILE_UNIT_CHASSIS;
    const char *key = unit_fields[role].key;
    if (role == UNIT_PSU)
        return daemonconf_claim(c, DAEMONCONF_READ_PSU, u->psu, u->line, vals[role], key);
    if (role == UNIT_RESERVE)
        return daemonconf_claim(c, DAEMONCONF_READ_RESERVE, u->reserve, u->line, vals[role], key);
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
        if (daemonconf_claim(c, sw ? DAEMONCONF_SWITCH_PSU : DAEMONCONF_CHASSIS_SERVER, i, u->line,
                             at, key))
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
    if (n > MAX_UNITS)
        return conf_fail(c, v, "%s: too many units (%zu, at most %d)", f->key, n, MAX_UNITS);
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

const struct daemonconf_driver mbdev_tcp_conf_keys = {
    .kind = "modbus-tcp", .id = RACKFILE_DEV_MODBUS_TCP, .keys = &tcp_table};
const struct daemonconf_driver mbdev_rtu_conf_keys = {
    .kind = "modbus-rtu", .id = RACKFILE_DEV_MODBUS_RTU, .keys = &rtu_table};
