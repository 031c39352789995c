/*
 * daemonconf.c - the daemon config schema (daemonconf.h, docs/daemon.md): a
 * rack file's rack plus `devices:` and `api:`, through the field-table engine
 * (conf.h) and the rack schema's fields (rackfile_fields.h).
 */
#include "daemonconf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "daemonconf_driver.h"
#include "rackfile_fields.h"

#define MAX_DEVICES 256
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static conf_setter set_devices, set_api, set_listen, set_socket, set_group, set_names, set_journal,
    set_history, set_node, set_udp, set_peers, set_prediction;

/* Daemon configs: rack, devices, api, journal. A scenario's timeline is known so that
 * a config using it hears where it belongs. */
enum {
    TOP_RACK,
    TOP_TIMELINE,
    TOP_DEVICES,
    TOP_API,
    TOP_JOURNAL,
    TOP_HISTORY,
    TOP_NODE,
    TOP_PREDICTION
};
static const struct conf_field top_fields[] = {
    [TOP_RACK] = {"rack", rackfile_set_rack, .required = true},
    [TOP_TIMELINE] = {"timeline", rackfile_set_timeline, .hidden = true},
    [TOP_DEVICES] = {"devices", set_devices, .required = false},
    [TOP_API] = {"api", set_api, .required = false},
    [TOP_JOURNAL] = {"journal", set_journal, .required = false},
    [TOP_HISTORY] = {"history", set_history, .required = false},
    [TOP_NODE] = {"node", set_node, .required = false},
    [TOP_PREDICTION] = {"prediction", set_prediction, .required = false},
};
static const struct conf_table top_table = {
    .what = "top-level", .f = top_fields, .n = LEN(top_fields), .top = true};

#define API(m) offsetof(struct rackfile_api, m)
static const char *const roles[] = {"none", "viewer", "operator", "admin", NULL};
static const char *const booleans[] = {"false", "true", NULL};
enum {
    API_SOCKET = 3,
    API_TLS_CERT = 7,
    API_TLS_KEY,
    API_PLAIN_READS,
    API_HOSTS,
    API_ORIGINS,
};
static const struct conf_field api_fields[] = {
    {"listen", set_listen, .def = "127.0.0.1", .off = API(listen)},
    {"port", conf_set_int, .def = "8470", .off = API(port), .max = 65535},
    {"keepalive_s", conf_set_num, .def = "15", .off = API(keepalive_ns), .min_open = true,
     .max = 3600, .scale = 1e9},
    [API_SOCKET] = {"socket", set_socket, .off = API(socket)},
    {"socket_group", set_group, .off = API(socket_group)},
    {"socket_role", conf_set_enum, .def = "viewer", .off = API(socket_role), .words = roles},
    {"tokens", conf_set_path, .off = API(tokens)},
    [API_TLS_CERT] = {"tls_cert", conf_set_path, .off = API(tls_cert)},
    [API_TLS_KEY] = {"tls_key", conf_set_path, .off = API(tls_key)},
    [API_PLAIN_READS] = {"plain_reads", conf_set_enum, .def = "false", .off = API(plain_reads),
                         .words = booleans},
    [API_HOSTS] = {"hosts", set_names, .off = API(hosts)},
    [API_ORIGINS] = {"origins", set_names, .off = API(origins)},
    {"command_rate", conf_set_num, .def = "10", .off = API(command_rate_milli), .max = 1e6,
     .scale = 1e3},
    {"command_burst", conf_set_int, .def = "20", .min = 1, .off = API(command_burst),
     .max = 1000000},
};
static const struct conf_table api_table = {.what = "api", .f = api_fields, .n = LEN(api_fields)};

#define JOURNAL(m) offsetof(struct rackfile_journal, m)
static const struct conf_field journal_fields[] = {
    {"max_age_days", conf_set_num, .def = "365", .off = JOURNAL(max_age_ns), .min_open = true,
     .max = 36500, .scale = 86400e9},
    {"max_mb", conf_set_num, .def = "100", .off = JOURNAL(max_bytes), .min_open = true,
     .max = 1000000, .scale = 1e6},
};
static const struct conf_table journal_table = {
    .what = "journal", .f = journal_fields, .n = LEN(journal_fields)};

/* history: the telemetry history (docs/history.md). */
#define HISTORY(m) offsetof(struct rackfile_history, m)
static const struct conf_field history_fields[] = {
    {"enabled", conf_set_enum, .def = "true", .off = HISTORY(enabled), .words = booleans},
    {"path", conf_set_path, .off = HISTORY(path)},
    {"raw_keep_h", conf_set_num, .def = "24", .off = HISTORY(raw_keep_ns), .min_open = true,
     .max = 87600, .scale = 3600e9},
    {"minute_keep_days", conf_set_num, .def = "30", .off = HISTORY(minute_keep_ns),
     .min_open = true, .max = 36500, .scale = 86400e9},
    {"hour_keep_days", conf_set_num, .def = "730", .off = HISTORY(hour_keep_ns), .min_open = true,
     .max = 36500, .scale = 86400e9},
    {"max_mb", conf_set_num, .def = "1000", .off = HISTORY(max_bytes), .min_open = true,
     .max = 1000000, .scale = 1e6},
    {"min_free_mb", conf_set_num, .def = "64", .off = HISTORY(min_free_bytes), .max = 1000000,
     .scale = 1e6},
    {"queue", conf_set_int, .def = "8192", .off = HISTORY(queue), .min = 16, .max = 1000000},
};
static const struct conf_table history_table = {
    .what = "history", .f = history_fields, .n = LEN(history_fields)};

/* prediction: the live failure prediction (docs/prediction.md "In rackpowerd"). */
#define PRED(m) offsetof(struct rackfile_prediction, m)
static const struct conf_field prediction_fields[] = {
    {"enabled", conf_set_enum, .def = "true", .off = PRED(enabled), .words = booleans},
    {"model", conf_set_path, .off = PRED(model)},
    {"threshold", conf_set_real, .def = "0", .off = PRED(threshold), .min = 0, .max = 0.999999},
    {"time_scale", conf_set_real, .def = "1", .off = PRED(time_scale), .min = 0, .min_open = true,
     .max = 1e6},
    {"sample_s", conf_set_num, .def = "60", .off = PRED(sample_s), .min = 1, .max = 86400,
     .scale = 1},
};
static const struct conf_table prediction_table = {
    .what = "prediction", .f = prediction_fields, .n = LEN(prediction_fields)};

/* node: this controller in a cluster (docs/controllers.md). */
#define NODE(m) offsetof(struct rackfile_node, m)
enum { NODE_ADDRESS, NODE_LISTEN, NODE_PEERS, NODE_MULTICAST, NODE_KEY_FILE };
static const struct conf_field node_fields[] = {
    [NODE_ADDRESS] = {"address", conf_set_int, .required = true, .off = NODE(address), .min = 1,
                      .max = 255},
    [NODE_LISTEN] = {"listen", set_udp, .required = true, .off = NODE(listen)},
    [NODE_PEERS] = {"peers", set_peers},
    [NODE_MULTICAST] = {"multicast", set_udp, .off = NODE(multicast)},
    [NODE_KEY_FILE] = {"key_file", conf_set_path, .required = true, .off = NODE(key_file)},
    {"heartbeat_ms", conf_set_num, .def = "100", .off = NODE(heartbeat_ns), .min = 10, .max = 10000,
     .scale = 1e6},
    {"missed_heartbeats", conf_set_int, .def = "3", .off = NODE(missed), .min = 2, .max = 100},
};
static const struct conf_table node_table = {
    .what = "node", .f = node_fields, .n = LEN(node_fields)};

#define PEER(m) offsetof(struct rackfile_peer, m)
static const struct conf_field peer_fields[] = {
    {"address", conf_set_int, .required = true, .off = PEER(address), .min = 1, .max = 255},
    {"at", set_udp, .required = true, .off = PEER(at)},
};
static const struct conf_table peer_table = {
    .what = "peer", .f = peer_fields, .n = LEN(peer_fields)};

/* conf_collect keeps a table's nodes in arrays of CONF_MAX_FIELDS. */
_Static_assert(LEN(top_fields) <= CONF_MAX_FIELDS && LEN(api_fields) <= CONF_MAX_FIELDS &&
                   LEN(node_fields) <= CONF_MAX_FIELDS,
               "CONF_MAX_FIELDS too small");

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

/* An absolute path, or none (no local socket). */
static int set_socket(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                      void *obj)
{
    const char *s = conf_str(v);
    if (s && conf_is_plain(v) && !strcmp(s, "none")) {
        memcpy(conf_at(obj, f), "none", 5);
        return 0;
    }
    /* sun_path holds 108 bytes with its NUL */
    if (s && v->data.scalar.length > 107)
        return conf_fail(c, v, "%s: a socket's path is at most 107 bytes", f->key);
    return conf_set_path(c, f, v, obj);
}

static bool group_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.';
}

static int set_group(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    if (!conf_check_text(v, 63, group_char))
        return conf_fail(c, v, "%s: expected a group's name, got %s", f->key, conf_show(c, v));
    memcpy(conf_at(obj, f), conf_str(v), v->data.scalar.length + 1);
    return 0;
}

static bool name_char(char ch)
{
    return ch > ' ' && ch < 0x7f && ch != ',' && ch != '"';
}

/* hosts: names (or addresses) a Host header may carry; origins: scheme,
 * host and port as a browser sends them. */
static int set_names(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    struct rackfile_api *a = obj;
    bool origins = !strcmp(f->key, "origins");
    size_t *n = origins ? &a->norigins : &a->nhosts;
    char(*out)[256] = origins ? a->origins : a->hosts;
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list such as [%s], got %s", f->key,
                         origins ? "https://rack1.example.net:8470" : "rack1.example.net",
                         conf_show(c, v));
    if (conf_seq_len(v) > RACKFILE_API_NAMES)
        return conf_fail(c, v, "%s: at most %d", f->key, RACKFILE_API_NAMES);
    for (size_t i = 0; i < conf_seq_len(v); i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i);
        const char *s = conf_str(item);
        if (!conf_check_text(item, 255, name_char) ||
            (origins && strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) ||
            (!origins && strchr(s, '/')))
            return conf_fail(c, item, "%s: expected %s, got %s", f->key,
                             origins ? "an origin such as https://rack1.example.net:8470"
                                     : "a host name or an address",
                             conf_show(c, item));
        memcpy(out[i], s, item->data.scalar.length + 1);
    }
    *n = conf_seq_len(v);
    return 0;
}

static bool loopback(const char *addr)
{
    return !strncmp(addr, "127.", 4) || !strcmp(addr, "::1");
}

int daemonconf_set_kind(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                        void *obj)
{
    (void)c;
    (void)f;
    (void)v;
    (void)obj;
    return 0;
}

/* What each claim is about, and why an element has one claimer. */
enum claim_elem { CLAIM_PSU, CLAIM_SERVER, CLAIM_RESERVE };
static const char *const claim_elem_name[] = {"psu", "server", "reserve"};
static const struct claim_kind {
    enum claim_elem elem;
    const char *why;
} claim_kinds[] = {
    [DAEMONCONF_READ_PSU] = {CLAIM_PSU, "a PSU is read by one device"},
    [DAEMONCONF_SWITCH_PSU] = {CLAIM_PSU, "a PSU has one switch"},
    [DAEMONCONF_CHASSIS_SERVER] = {CLAIM_SERVER, "a server sits in one chassis module"},
    [DAEMONCONF_READ_RESERVE] = {CLAIM_RESERVE, "a reserve is read by one device"},
    [DAEMONCONF_BMC_SERVER] = {CLAIM_SERVER, "a server has one BMC"},
    [DAEMONCONF_STAGE_SERVER] = {CLAIM_SERVER, "a server's stage is published by one device"},
};
_Static_assert(sizeof(claim_kinds) / sizeof(*claim_kinds) == CONF_NCLAIMS,
               "CONF_NCLAIMS counts the claims");

static const char *claim_elem_id(const struct rack *r, enum claim_elem e, int i)
{
    switch (e) {
    case CLAIM_PSU:
        return r->psus[i].id;
    case CLAIM_SERVER:
        return r->servers[i].id;
    case CLAIM_RESERVE:
        break;
    }
    return r->reserves[i].id;
}

static int claim_elem_count(const struct rack *r, enum claim_elem e)
{
    int n = e == CLAIM_PSU ? r->npsus : e == CLAIM_SERVER ? r->nservers : r->nreserves;
    return n ? n : 1;
}

int daemonconf_claim(struct conf_ctx *c, enum daemonconf_claim what, int i, int line,
                     const yaml_node_t *at, const char *key)
{
    const struct claim_kind *k = &claim_kinds[what];
    int *lines = c->claim_line[what];
    const char *kind = claim_elem_name[k->elem], *id = claim_elem_id(c->r, k->elem, i);
    const char *why = k->why;
    if (lines[i])
        return conf_fail(c, at, "%s: %s '%s' is already mapped at line %d (%s)", key, kind, id,
                         lines[i], why);
    lines[i] = line;
    return 0;
}

/* The driver whose kind is the scalar v, or NULL. */
static const struct daemonconf_driver *driver_named(const struct daemonconf_driver *const *drivers,
                                                    const yaml_node_t *v)
{
    const char *s = conf_str(v);
    for (size_t i = 0; s && drivers[i]; i++)
        if (strlen(drivers[i]->kind) == v->data.scalar.length && !strcmp(s, drivers[i]->kind))
            return drivers[i];
    return NULL;
}

static const struct daemonconf_driver *driver_of(const struct daemonconf_driver *const *drivers,
                                                 enum rackfile_device_kind id)
{
    for (size_t i = 0; drivers[i]; i++)
        if (drivers[i]->id == id)
            return drivers[i];
    return NULL;
}

static int parse_device(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_device *dev)
{
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    char words[128] = "";
    dev->line = (int)conf_line(map);
    dev->psu = -1;
    if (map->type != YAML_MAPPING_NODE)
        return conf_fail(c, map, "device: expected a mapping with a kind, got %s",
                         conf_show(c, map));
    for (size_t i = 0; c->drivers[i]; i++)
        conf_join(words, sizeof(words), c->drivers[i]->kind);
    const yaml_node_t *kind = conf_map_value(c, map, "kind");
    if (kind == map)
        return conf_fail(c, map, "missing required key 'kind' in device (one of %s)", words);
    const struct daemonconf_driver *drv = driver_named(c->drivers, kind);
    if (!drv)
        return conf_fail(c, kind, "kind: expected one of %s, got %s", words, conf_show(c, kind));
    dev->kind = drv->id;
    if (conf_parse_map(c, map, drv->keys, dev, vals))
        return -1;
    return drv->check ? drv->check(c, map, dev, vals) : 0;
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
    if (!(d->devices = calloc(n, sizeof(*d->devices))))
        return conf_fail(c, v, "out of memory");
    for (int k = 0; k < CONF_NCLAIMS; k++) {
        size_t ne = (size_t)claim_elem_count(c->r, claim_kinds[k].elem);
        if (!(c->claim_line[k] = calloc(ne, sizeof(int))))
            return conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        d->ndevices = i + 1;
        if (parse_device(c, conf_seq_item(c, v, i), &d->devices[i]))
            return -1;
    }
    /* A simulated rack is the whole rack: it answers for every element. */
    for (size_t i = 0; i < n && n > 1; i++) {
        const struct daemonconf_driver *drv = driver_of(c->drivers, d->devices[i].kind);
        if (drv && drv->whole_rack)
            return conf_fail(c, conf_seq_item(c, v, i ? i : 1),
                             "%s: a %s device simulates the whole rack and cannot be combined "
                             "with other devices (the %s is at line %d)",
                             f->key, drv->kind, drv->kind, d->devices[i].line);
    }
    return 0;
}

/* "address:port", "[v6 address]:port": an address, not a name (a
 * controller must not wait on DNS to find its peers). */
static int set_udp(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    struct rackfile_udp *u = conf_at(obj, f);
    const char *s = conf_str(v);
    char host[64];
    unsigned char addr[16];
    const char *colon = s ? strrchr(s, ':') : NULL;
    size_t hlen = colon ? (size_t)(colon - s) : 0;
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') { /* [::1]:7301 */
        s++;
        hlen -= 2;
    }
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    bool ok = s && !conf_is_null(v) && strlen(conf_str(v)) == v->data.scalar.length && colon &&
              hlen > 0 && hlen < sizeof(host) && end != colon + 1 && !*end && port >= 1 &&
              port <= 65535;
    if (ok) {
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        ok = inet_pton(AF_INET, host, addr) == 1 ||
             (inet_pton(AF_INET6, host, addr) == 1 && conf_str(v)[0] == '[');
    }
    if (!ok)
        return conf_fail(c, v,
                         "%s: expected an address and a UDP port such as 127.0.0.1:7301 or "
                         "[::1]:7301, got %s",
                         f->key, conf_show(c, v));
    memcpy(u->host, host, hlen + 1);
    u->port = (int)port;
    return 0;
}

static bool multicast_group(const char *host)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return (a[0] & 0xf0) == 0xe0; /* 224.0.0.0/4 */
    return inet_pton(AF_INET6, host, a) == 1 && a[0] == 0xff;
}

static int set_peers(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                     void *obj)
{
    struct rackfile_node *n = obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v,
                         "%s: expected a list such as [{address: 2, at: 127.0.0.1:7302}], "
                         "got %s",
                         f->key, conf_show(c, v));
    size_t len = conf_seq_len(v);
    if (len > 254)
        return conf_fail(c, v, "%s: at most 254 (addresses are 1 to 255)", f->key);
    if (len && !(n->peers = calloc(len, sizeof(*n->peers))))
        return conf_fail(c, v, "out of memory");
    for (size_t i = 0; i < len; i++) {
        const yaml_node_t *item = conf_seq_item(c, v, i);
        struct rackfile_peer *p = &n->peers[i];
        n->npeers = i + 1;
        p->line = (int)conf_line(item);
        if (conf_parse_map(c, item, &peer_table, p, vals))
            return -1;
        for (size_t k = 0; k < i; k++)
            if (n->peers[k].address == p->address)
                return conf_fail(c, vals[0], "address: peer %d is already listed at line %d",
                                 p->address, n->peers[k].line);
    }
    return 0;
}

/* What depends on several keys of node:. */
static int check_node(struct conf_ctx *c, const yaml_node_t *vals[])
{
    struct rackfile_node *n = &c->d->node;
    for (size_t i = 0; i < n->npeers; i++) {
        const struct rackfile_peer *p = &n->peers[i];
        if (p->address == n->address)
            return conf_fail(c, vals[NODE_PEERS],
                             "peers: the peer at line %d has this controller's own address %d",
                             p->line, n->address);
        if (!strcmp(p->at.host, n->listen.host) && p->at.port == n->listen.port)
            return conf_fail(c, vals[NODE_PEERS],
                             "peers: the peer at line %d is at this controller's own listen "
                             "address",
                             p->line);
    }
    if (n->multicast.port && !multicast_group(n->multicast.host))
        return conf_fail(c, vals[NODE_MULTICAST],
                         "multicast: %s is not a multicast group (224.0.0.0/4 or ff00::/8)",
                         n->multicast.host);
    return 0;
}

static int set_node(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    c->d->node.line = (int)conf_line(v);
    if (conf_parse_map(c, v, &node_table, &c->d->node, vals) || check_node(c, vals)) {
        c->d->node.address = 0;
        return -1;
    }
    return 0;
}

bool rackfile_node_same(const struct rackfile_node *a, const struct rackfile_node *b)
{
    if (a->address != b->address || strcmp(a->listen.host, b->listen.host) ||
        a->listen.port != b->listen.port || a->npeers != b->npeers ||
        strcmp(a->multicast.host, b->multicast.host) || a->multicast.port != b->multicast.port ||
        strcmp(a->key_file, b->key_file) || a->heartbeat_ns != b->heartbeat_ns ||
        a->missed != b->missed)
        return false;
    for (size_t i = 0; i < a->npeers; i++)
        if (a->peers[i].address != b->peers[i].address ||
            strcmp(a->peers[i].at.host, b->peers[i].at.host) ||
            a->peers[i].at.port != b->peers[i].at.port)
            return false;
    return true;
}

void rackfile_udp_text(const struct rackfile_udp *u, char *buf, size_t len)
{
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(buf, len, "%s%s%s:%d", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
}

/* What depends on several keys of api:. */
static int check_api(struct conf_ctx *c, const yaml_node_t *map, const yaml_node_t *vals[])
{
    struct rackfile_api *a = &c->d->api;
    if (!a->tls_cert[0] != !a->tls_key[0])
        return conf_fail(c, vals[API_TLS_CERT] ? vals[API_TLS_CERT] : vals[API_TLS_KEY],
                         "api: tls_cert and tls_key go together");
    if (!a->tls_cert[0] && !loopback(a->listen))
        return conf_fail(
            c, map,
            "api: listen %s without tls_cert and tls_key: plain HTTP is served on "
            "loopback only (127.0.0.1 or ::1), tokens must not cross a network in clear",
            a->listen);
    if (a->tls_cert[0] && a->plain_reads)
        return conf_fail(c, vals[API_PLAIN_READS],
                         "api: plain_reads: with tls_cert every request needs a token");
    return 0;
}

static int set_api(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    return conf_parse_map(c, v, &api_table, &c->d->api, vals) || check_api(c, v, vals);
}

static int set_journal(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    return conf_parse_map(c, v, &journal_table, &c->d->journal, vals);
}

static int set_history(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                       void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    return conf_parse_map(c, v, &history_table, &c->d->history, vals);
}

static int set_prediction(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                          void *obj)
{
    (void)f;
    (void)obj;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    if (conf_parse_map(c, v, &prediction_table, &c->d->prediction, vals))
        return -1;
    c->d->prediction.line = (int)v->start_mark.line + 1;
    return 0;
}

/* ---- entry points ---- */

/*
 * A controller of a cluster commands only devices that fence (their
 * commands carry its epoch): a stale primary must be able to do nothing.
 * A device that reads only (hwmon) is fine.
 */
static int check_cluster_devices(struct conf_ctx *c, const yaml_node_t *devices)
{
    struct rackfile_daemon *d = c->d;
    for (size_t i = 0; i < d->ndevices; i++) {
        d->devices[i].clustered = true;
        const struct daemonconf_driver *drv = driver_of(c->drivers, d->devices[i].kind);
        if (drv && drv->unfenced_commands)
            return conf_fail(c, conf_seq_item(c, devices, i),
                             "devices[%zu] (%s): its commands cannot carry an epoch; a cluster "
                             "(node: at line %d) needs command devices with an owner-epoch "
                             "register (docs/controllers.md)",
                             i, drv->kind, d->node.line);
    }
    return 0;
}

static int parse_top(struct conf_ctx *c, const yaml_node_t *root, void *arg)
{
    (void)arg;
    const yaml_node_t *vals[CONF_MAX_FIELDS];
    const yaml_node_t *sub[CONF_MAX_FIELDS];
    if (conf_parse_map(c, root, &top_table, NULL, vals))
        return -1;
    yaml_node_t none = {.type = YAML_MAPPING_NODE}; /* a section's defaults */
    c->key = NULL;
    if (!vals[TOP_API] && conf_parse_map(c, &none, &api_table, &c->d->api, sub))
        return -1;
    if (!vals[TOP_JOURNAL] && conf_parse_map(c, &none, &journal_table, &c->d->journal, sub))
        return -1;
    if (!vals[TOP_HISTORY] && conf_parse_map(c, &none, &history_table, &c->d->history, sub))
        return -1;
    if (!vals[TOP_PREDICTION] &&
        conf_parse_map(c, &none, &prediction_table, &c->d->prediction, sub))
        return -1;
    if (c->d->node.address && vals[TOP_DEVICES] && check_cluster_devices(c, vals[TOP_DEVICES]))
        return -1;
    return 0;
}

int rackfile_load_config_string(const char *name, const char *text, size_t len,
                                const struct daemonconf_driver *const drivers[], struct rack *r,
                                struct rackfile_daemon *d, char *err, size_t errlen)
{
    struct conf_ctx c = {
        .name = name, .r = r, .d = d, .drivers = drivers, .err = err, .errlen = errlen};
    rack_init(r);
    *d = (struct rackfile_daemon){0};
    int rc = conf_load_text(&c, text, len, parse_top, NULL);
    rackfile_ctx_free(&c);
    for (int k = 0; k < CONF_NCLAIMS; k++)
        free(c.claim_line[k]);
    if (rc) {
        rack_free(r);
        rackfile_daemon_free(d);
    }
    return rc;
}

int rackfile_load_config(const char *path, const struct daemonconf_driver *const drivers[],
                         struct rack *r, struct rackfile_daemon *d, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    rack_init(r);
    *d = (struct rackfile_daemon){0};
    if (conf_read_file(path, &buf, &len, err, errlen))
        return -1;
    int rc = rackfile_load_config_string(path, buf, len, drivers, r, d, err, errlen);
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
        free(dev->ups);
    }
    free(d->devices);
    d->devices = NULL;
    d->ndevices = 0;
    free(d->node.peers);
    d->node = (struct rackfile_node){0};
}
