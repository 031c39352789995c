/*
 * ipmi_conf.c - the keys of a `kind: ipmi` entry of devices: (docs/daemon.md,
 * docs/outage.md): one server's BMC over IPMI 2.0 LAN (RMCP+), driven by
 * ipmi.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "daemonconf_driver.h"
#include "driver_conf.h"

#define DEV(m) offsetof(struct rackfile_device, m)
#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_TIMEOUT_MS 60e3
#define IPMI_USER_MAX 16 /* an IPMI user name is at most 16 bytes (IPMI 2.0, 22.28) */

static conf_setter set_user, set_workarounds;

/* In the order of IPMI's privilege levels from user (2): the device keeps
 * the level itself (index + 2). */
static const char *const privilege_words[] = {"user", "operator", "admin", NULL};

enum {
    IPMI_KIND,
    IPMI_SERVER,
    IPMI_HOST,
    IPMI_PORT,
    IPMI_USER,
    IPMI_PASSWORD_FILE,
    IPMI_PRIVILEGE
};
static const struct conf_field ipmi_fields[] = {
    [IPMI_KIND] = {"kind", daemonconf_set_kind, .required = true},
    [IPMI_SERVER] = {"server", rackfile_set_ref, .required = true, .off = DEV(server),
                     .ref = CONF_REF_SERVER},
    [IPMI_HOST] = {"host", conf_set_host, .required = true, .off = DEV(host)},
    [IPMI_PORT] = {"port", conf_set_int, .def = "623", .off = DEV(port), .min = 1, .max = 65535},
    [IPMI_USER] = {"user", set_user, .required = true, .off = DEV(user)},
    [IPMI_PASSWORD_FILE] = {"password_file", conf_set_path, .required = true,
                            .off = DEV(password_file)},
    [IPMI_PRIVILEGE] = {"privilege", conf_set_enum, .def = "operator", .off = DEV(privilege),
                        .words = privilege_words},
    {"workarounds", set_workarounds, .off = DEV(ipmi_workarounds)},
    {"cipher_suite", conf_set_int, .def = "3", .off = DEV(cipher_suite), .min = 1, .max = 17},
    {"poll_ms", conf_set_num, .def = "5000", .off = DEV(poll_ns), .min_open = true,
     .max = DAEMONCONF_MAX_POLL_MS, .scale = 1e6},
    {"timeout_ms", conf_set_num, .def = "5000", .off = DEV(timeout_ns), .min = 100,
     .max = MAX_TIMEOUT_MS, .scale = 1e6},
};
_Static_assert(LEN(ipmi_fields) <= CONF_MAX_FIELDS, "CONF_MAX_FIELDS too small");
static const struct conf_table ipmi_table = {
    .what = "ipmi device", .f = ipmi_fields, .n = LEN(ipmi_fields)};

static bool user_char(char ch)
{
    return (unsigned char)ch > 0x20 && ch != 0x7f;
}

static int set_user(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    if (!conf_check_text(v, IPMI_USER_MAX, user_char))
        return conf_fail(c, v,
                         "%s: expected an IPMI user name (1 to %d characters, no spaces), got %s",
                         f->key, IPMI_USER_MAX, conf_show(c, v));
    snprintf(conf_at(obj, f), sizeof(((struct rackfile_device *)0)->user), "%s", conf_str(v));
    return 0;
}

static const char *const workaround_words[] = {"opensesspriv", "intel20", "supermicro20", "sun20",
                                               NULL};

static int set_workarounds(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                           void *obj)
{
    unsigned *flags = conf_at(obj, f);
    *flags = 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return conf_fail(c, v, "%s: expected a list of %s, got %s", f->key,
                         "opensesspriv, intel20, supermicro20, sun20", conf_show(c, v));
    for (size_t i = 0; i < conf_seq_len(v); i++) {
        const yaml_node_t *w = conf_seq_item(c, v, i);
        const char *s = conf_str(w);
        size_t k = 0;
        while (s && workaround_words[k] && strcmp(s, workaround_words[k]))
            k++;
        if (!s || !workaround_words[k])
            return conf_fail(c, w, "%s: unknown workaround %s (known: %s)", f->key, conf_show(c, w),
                             "opensesspriv, intel20, supermicro20, sun20");
        *flags |= 1u << k;
    }
    return 0;
}

/* A server has one BMC; the privilege is stored as IPMI numbers it. */
static int check(struct conf_ctx *c, const yaml_node_t *map, struct rackfile_device *dev,
                 const yaml_node_t *vals[])
{
    (void)map;
    dev->privilege += 2;
    return daemonconf_claim(c, DAEMONCONF_BMC_SERVER, dev->server, dev->line, vals[IPMI_SERVER],
                            "server");
}

const struct daemonconf_driver ipmi_conf_keys = {
    .kind = "ipmi", .id = RACKFILE_DEV_IPMI, .keys = &ipmi_table, .check = check};
