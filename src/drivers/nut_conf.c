/*
 * nut_conf.c - the keys of a `kind: nut` entry of devices: (docs/daemon.md,
 * docs/outage.md): a NUT upsd, the UPSes on it that are reserves of kind ups,
 * and the dummy-ups "UPSes" through which servers are told their stage
 * (nut.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemonconf_driver.h"
#include "driver_conf.h"

#define MAX_TIMEOUT_MS 60e3
#define MAX_UPS 4096
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DEV(m) offsetof(struct rackfile_device, m)

static conf_setter set_ups, set_stages, set_user;

enum {
    NUT_KIND,
    NUT_HOST,
    NUT_PORT,
    NUT_USER,
    NUT_PASSWORD,
    NUT_POLL,
    NUT_TIMEOUT,
    NUT_UPS,
    NUT_STAGES
};
static const struct conf_field nut_fields[] = {
    [NUT_KIND] = {"kind", daemonconf_set_kind, .required = true},
    [NUT_HOST] = {"host", conf_set_host, .def = "127.0.0.1", .off = DEV(host)},
    [NUT_PORT] = {"port", conf_set_int, .def = "3493", .off = DEV(port), .min = 1, .max = 65535},
    [NUT_USER] = {"user", set_user, .off = DEV(user)},
    [NUT_PASSWORD] = {"password_file", conf_set_path, .off = DEV(password_file)},
    [NUT_POLL] = {"poll_ms", conf_set_num, .def = "2000", .off = DEV(poll_ns), .min_open = true,
                  .max = DAEMONCONF_MAX_POLL_MS, .scale = 1e6},
    [NUT_TIMEOUT] = {"timeout_ms", conf_set_num, .def = "2000", .off = DEV(timeout_ns),
                     .min_open = true, .max = MAX_TIMEOUT_MS, .scale = 1e6},
    [NUT_UPS] = {"ups", set_ups},
    [NUT_STAGES] = {"stages", set_stages},
};
static const struct conf_table nut_table = {
    .what = "nut device", .f = nut_fields, .n = LEN(nut_fields)};

/* One entry of ups: the UPS's name, then what it is: a reserve or a server. */
enum { UPS_UPS, UPS_RESERVE, UPS_SERVER };
static conf_setter set_ups_name, set_reserve;
static const struct conf_field ups_fields[] = {
    [UPS_UPS] = {"ups", set_ups_name, .required = true,
                 .off = offsetof(struct rackfile_nut_ups, ups)},
    [UPS_RESERVE] = {"reserve", set_reserve, .off = offsetof(struct rackfile_nut_ups, reserve)},
    [UPS_SERVER] = {"server", rackfile_set_ref, .off = offsetof(struct rackfile_nut_ups, server),
                    .ref = CONF_REF_SERVER},
};
static const struct conf_table ups_table = {.what = "ups", .f = ups_fields, .n = LEN(ups_fields)};

_Static_assert(LEN(nut_fields) <= CONF_MAX_FIELDS, "CONF_MAX_FIELDS too small");

/* A name upsd takes in a request line unquoted: letters, digits, _ . - */
static bool ups_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || ch == '-';
}

static int set_ups_name(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                        void *obj)
{
    if (!conf_check_text(v, 63, ups_char))
        return conf_fail(c, v,
                         "%s: expected a UPS name as upsd knows it (1 to 63 of A-Z a-z "
                         "0-9 _ . -), got %s",
                         f->key, conf_show(c, v));
    memcpy(conf_at(obj, f), conf_str(v), v->data.scalar.length + 1);
    return 0;
}

static int set_user(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    if (!conf_check_text(v, 63, ups_char))
        return conf_fail(c, v,
                         "%s: expected a upsd.users section name (1 to 63 of A-Z a-z 0-9 "
                         "_ . -), got %s",
                         f->key, conf_show(c, v));
    memcpy(conf_at(obj, f), conf_str(v), v->data.scalar.length + 1);
    return 0;
}

/* A reserve of kind ups, by id, as its index. */
static int set_reserve(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    char id[RACK_ID_LEN];
    if (conf_check_id(c, f->key, v, id))
        return -1;
    int i = rack_find_reserve(c->r, id);
    if (i < 0)
        return conf_fail(c, v, "%s: no reserve '%s' in the rack", f->key, id);
    if (c->r->reserves[i].kind != RACK_RESERVE_UPS)
        return conf_fail(c, v, "%s: reserve '%s' is a %s; a upsd reads reserves of kind ups",
                         f->key, id, rack_reserve_kind_name(c->r->reserves[i].kind));
    *(int *)conf_at(obj, f) = i;
    return 0;
}

static int parse_one(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_nut_ups *u)
{
    const yaml_node_t *keys[CONF_MAX_FIELDS], *vals[CONF_MAX_FIELDS];
    u->reserve = u->server = -1;
    u->line = (int)conf_line(map);
    if (map->type != YAML_MAPPING_NODE)
        return conf_fail(c, map,
                         "ups: expected a mapping such as {ups: ups1, reserve: ups1} or "
                         "{ups: db1, server: db1}, got %s",
                         conf_show(c, map));
    if (conf_collect(c, map, &ups_table, keys, vals))
        return -1;
    if (!vals[UPS_RESERVE] == !vals[UPS_SERVER])
        return conf_fail(c, vals[UPS_SERVER] ? keys[UPS_SERVER] : map,
                         "ups: a UPS is either a reserve it reads or a server whose stage it "
                         "publishes: give one of reserve or server");
    return conf_parse_map(c, map, &ups_table, u, vals);
}

static int set_ups(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    struct rackfile_device *dev = obj;
    if (v->type != YAML_SEQUENCE_NODE || !conf_seq_len(v))
        return conf_fail(c, v,
                         "%s: expected a list such as [{ups: ups1, reserve: ups1}, {ups: db1, "
                         "server: db1}], got %s",
                         f->key, conf_show(c, v));
    size_t n = conf_seq_len(v);
    if (n > MAX_UPS)
        return conf_fail(c, v, "%s: too many (%zu, at most %d)", f->key, n, MAX_UPS);
    if (!(dev->ups = calloc(n, sizeof(*dev->ups))))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < n; i++) {
        dev->nups = i + 1;
        if (parse_one(c, conf_seq_item(c, v, i), &dev->ups[i]))
            return -1;
    }
    return 0;
}

/* stages: all. The UPSes are added by check, after ups:. */
static int set_stages(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                      void *obj)
{
    (void)obj;
    const char *s = conf_str(v);
    if (!s || !conf_is_plain(v) || strcmp(s, "all"))
        return conf_fail(c, v, "%s: expected all (one UPS per server, named as the server), got %s",
                         f->key, conf_show(c, v));
    return 0;
}

/* stages: all adds a UPS per server not already in ups:, named as it. */
static int add_stages(struct conf_ctx *c, struct rackfile_device *dev, const yaml_node_t *at)
{
    const struct rack *r = c->r;
    size_t n = dev->nups + (size_t)r->nservers;
    if (n > MAX_UPS)
        return conf_fail(c, at, "stages: too many UPSes (%zu, at most %d)", n, MAX_UPS);
    struct rackfile_nut_ups *u = realloc(dev->ups, (n ? n : 1) * sizeof(*u));
    if (!u)
        return conf_fail(c, at, "out of memory");
    dev->ups = u;
    for (int s = 0; s < r->nservers; s++) {
        const char *id = r->servers[s].id;
        for (const char *p = id; *p; p++)
            if (!ups_char(*p))
                return conf_fail(c, at,
                                 "stages: all names each server's UPS as the server, and upsd "
                                 "takes no '%c' in a name (server '%s'): list it in ups: instead",
                                 *p, id);
        struct rackfile_nut_ups *x = &dev->ups[dev->nups++];
        *x = (struct rackfile_nut_ups){.reserve = -1, .server = s, .line = (int)conf_line(at)};
        snprintf(x->ups, sizeof(x->ups), "%s", id);
    }
    return 0;
}

/*
 * What spans keys and entries: stages: all expanded; each UPS named once on
 * the device; each reserve read by one device and each server's stage
 * published by one; a user and password_file when stages are published.
 */
static int check(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_device *dev,
                 const yaml_node_t *vals[])
{
    if (!vals[NUT_UPS] && !vals[NUT_STAGES])
        return conf_fail(c, map,
                         "nut device: expected ups: (the UPSes it reads or publishes "
                         "stages on) or stages: all");
    size_t listed = dev->nups;
    if (vals[NUT_STAGES] && add_stages(c, dev, vals[NUT_STAGES]))
        return -1;
    bool publishes = false;
    for (size_t i = 0; i < dev->nups; i++) {
        const struct rackfile_nut_ups *u = &dev->ups[i];
        const yaml_node_t *item =
            i < listed ? conf_seq_item(c, vals[NUT_UPS], i) : vals[NUT_STAGES];
        const yaml_node_t *name = i < listed ? conf_map_value(c, item, "ups") : item;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(dev->ups[j].ups, u->ups))
                return conf_fail(c, name,
                                 "ups: '%s' is named twice on this device (first at line %d): a "
                                 "UPS is one reserve or one server",
                                 u->ups, dev->ups[j].line);
        if (u->reserve >= 0) {
            const yaml_node_t *at = i < listed ? conf_map_value(c, item, "reserve") : item;
            if (daemonconf_claim(c, DAEMONCONF_READ_RESERVE, u->reserve, u->line, at, "reserve"))
                return -1;
        } else {
            publishes = true;
            const yaml_node_t *at = i < listed ? conf_map_value(c, item, "server") : item;
            if (daemonconf_claim(c, DAEMONCONF_STAGE_SERVER, u->server, u->line, at,
                                 i < listed ? "server" : "stages"))
                return -1;
        }
    }
    if (publishes && (!dev->user[0] || !dev->password_file[0]))
        return conf_fail(c, map,
                         "nut device: publishing servers' stages needs user and password_file "
                         "(a upsd.users user with actions = SET)");
    if (!dev->user[0] != !dev->password_file[0])
        return conf_fail(c, map, "nut device: user and password_file go together");
    return 0;
}

const struct daemonconf_driver nut_conf_keys = {
    .kind = "nut", .id = RACKFILE_DEV_NUT, .keys = &nut_table, .check = check};
