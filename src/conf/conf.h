/*
 * conf.h - the field-table engine under every config schema: walks a YAML
 * document (libyaml's document API), checks each mapping against a table of
 * typed fields (key, setter, required, default, bounds) and reports the first
 * mistake as "file:line:column: message" (1-based) in the caller's buffer.
 *
 * A schema is a set of tables plus setters for its own types. The same table
 * drives parsing, checking, defaults and the allowed keys named in errors.
 * The schemas: the rack and timeline (rackfile.c, rackfile_fields.h), the
 * daemon config (daemonconf.c), and each driver's device keys, which the
 * drivers define and the daemon passes in (daemonconf.h).
 *
 * Library code: every function returns 0, or -1 with the message in c->err;
 * none logs, exits or asserts on input.
 */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "policy.h"
#include "rack.h"

/* collect() keeps a table's nodes in arrays of this many. */
#define CONF_MAX_FIELDS 24
#define CONF_SHOW_CHARS 40 /* of a value quoted in a message */

/* What the ids in a value name. */
enum conf_ref {
    CONF_REF_NONE,
    CONF_REF_FEED,
    CONF_REF_BUS,
    CONF_REF_PSU,
    CONF_REF_SERVER,
    CONF_REF_CHASSIS,
    CONF_REF_RESERVE,
    CONF_REF_ACTIVITY
};

/* Open-addressing index of ids kept in an array: slot = array index + 1. Lets
 * 100000 servers be checked for duplicates and looked up in linear time. */
struct conf_idx {
    uint32_t *slot;
    size_t mask;
};

struct rackfile_timeline;
struct rackfile_daemon;
struct daemonconf_driver;

/* One load: the engine's part, then the state of the schemas (owned and freed
 * by them, zero when unused). */
/* How many kinds of claim enum daemonconf_claim (daemonconf_driver.h) has. */
#define CONF_NCLAIMS 6

struct conf_ctx {
    const char *name; /* file name for messages */
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    const yaml_node_t *key; /* key of the value being set, NULL for a default */
    char shown[CONF_SHOW_CHARS + 16];
    /* rack schema: the rack that ids name, and its indexes */
    struct rack *r;
    struct conf_idx psus, servers, chassis;
    /* outage keys (rackfile_outage.c): the rack's qos_classes: mapping once
     * checked (NULL: none), and the ids of activities and reserves */
    const yaml_node_t *qos;
    struct conf_idx activities, reserves;
    struct rackfile_timeline *tl; /* NULL unless a scenario file (or a sim device's) */
    size_t ninputs;               /* timeline inputs so far */
    /* daemon schema: NULL unless a daemon config. Line of the device entry
     * that already reads each PSU, switches it, holds each server, is its
     * BMC or publishes its stage, or reads each reserve (0: none), so no
     * element is claimed by two devices. */
    struct rackfile_daemon *d;
    const struct daemonconf_driver *const *drivers; /* NULL-terminated */
    int *claim_line[CONF_NCLAIMS];                  /* per enum daemonconf_claim, per element */
};

struct conf_field;
/* Checks the value node v of field f and stores it in obj; 0 or -1. */
typedef int conf_setter(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v,
                        void *obj);

struct conf_table {
    const char *what; /* the mapping in messages: "psu", "timeline step" */
    const struct conf_field *f;
    size_t n;
    bool top; /* the document's top level: messages say "top-level key" */
};

struct conf_field {
    const char *key;
    conf_setter *set;
    bool required;
    const char *def;              /* default, written as in a file; NULL: none or computed */
    size_t off;                   /* where the setter stores the value in the object */
    double min, max;              /* conf_set_num, conf_set_int: bounds in the file's unit */
    bool min_open;                /* min itself is not allowed: "> min" */
    double scale;                 /* conf_set_num: file unit -> stored unit */
    const char *const *words;     /* conf_set_enum: accepted words, in enum order */
    enum conf_ref ref;            /* what ids in the value name */
    enum policy_input_kind input; /* timeline actions: the input produced */
    const struct conf_table *sub; /* a mapping each item of the value is */
    bool hidden;                  /* known (its setter says where it belongs), not offered */
};

/* Where a setter stores: the field's offset in obj. */
static inline void *conf_at(void *obj, const struct conf_field *f)
{
    return (char *)obj + f->off;
}

/* ---- messages ---- */

/* Report a problem at a mark or a node's start. Always return -1. */
int conf_fail_mark(struct conf_ctx *c, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int conf_fail(struct conf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t conf_line(const yaml_node_t *n); /* 1-based */
/* Appends s to a ", "-separated list in buf. */
void conf_join(char *buf, size_t len, const char *s);
/* The keys of t from index from on, ", "-separated. */
void conf_join_keys(char *buf, size_t len, const struct conf_table *t, size_t from);
/* What a node is, for "got ..." in messages: "a list", "'12x'" (valid until
 * the next call). */
const char *conf_show(struct conf_ctx *c, const yaml_node_t *n);
/* " (quoted, so a string)" for a quoted scalar, else "". */
const char *conf_quote_hint(const yaml_node_t *n);

/* ---- nodes ---- */

const yaml_node_t *conf_node(struct conf_ctx *c, int id);
/* Text of a scalar, NULL for a list or mapping. */
const char *conf_str(const yaml_node_t *n);
bool conf_is_plain(const yaml_node_t *n);
bool conf_is_null(const yaml_node_t *n);
size_t conf_seq_len(const yaml_node_t *n);
const yaml_node_t *conf_seq_item(struct conf_ctx *c, const yaml_node_t *n, size_t i);
/* Index of the field named by key node k, or t->n. */
size_t conf_field_index(const struct conf_table *t, const yaml_node_t *k);
/* Value of key in a mapping already checked, or the mapping itself. */
const yaml_node_t *conf_map_value(struct conf_ctx *c, const yaml_node_t *map, const char *key);

/* ---- mappings ---- */

/* Checks a mapping against a table: every key known and given once, every
 * required key present. keys[i], vals[i] are field i's nodes, or NULL. */
int conf_collect(struct conf_ctx *c, const yaml_node_t *map, const struct conf_table *t,
                 const yaml_node_t *keys[], const yaml_node_t *vals[]);
/* Parses a mapping into obj: each field in table order, from the file or
 * from its default (through the same setter, as a plain scalar). vals as for
 * conf_collect, so a caller can check what depends on several keys. */
int conf_parse_map(struct conf_ctx *c, const yaml_node_t *map, const struct conf_table *t,
                   void *obj, const yaml_node_t *vals[]);

/* ---- typed fields: setters any table may use ---- */

/* An id (1 to RACK_ID_LEN - 1 of A-Z a-z 0-9 _ . : -) into out; key names it. */
int conf_check_id(struct conf_ctx *c, const char *key, const yaml_node_t *v, char out[RACK_ID_LEN]);
/* A scalar of 1 to max bytes, each accepted by ok(). */
bool conf_check_text(const yaml_node_t *v, size_t max, bool (*ok)(char));
conf_setter conf_set_id;   /* char[RACK_ID_LEN] */
conf_setter conf_set_enum; /* int: index of the word in f->words */
conf_setter conf_set_num;  /* int64_t: decimal in [min, max], times scale, rounded */
conf_setter conf_set_int;  /* int: integer in [min, max] */
conf_setter conf_set_real; /* double: decimal in [min, max] ((min, max] with min_open), times
                            * scale (1 when 0) */
conf_setter conf_set_host; /* char[256]: a host name or an IP address */
conf_setter conf_set_path; /* char[256]: an absolute path */

/* ---- the id index ---- */

int conf_idx_init(struct conf_idx *h, size_t n);
/* Index of id among the ids at base (one every stride bytes), or -1; when
 * absent and add >= 0, records add as its index. */
long conf_idx_get(struct conf_idx *h, const char *base, size_t stride, const char *id, long add);
void conf_idx_free(struct conf_idx *h);

/* ---- documents ---- */

/*
 * Parses text (one YAML document) and hands its root, never empty, to parse.
 * c->name, err and errlen are set by the caller, with any schema state; the
 * engine sets c->doc for the call. libyaml's own errors, an empty file and a
 * second document are reported here.
 */
int conf_load_text(struct conf_ctx *c, const char *text, size_t len,
                   int (*parse)(struct conf_ctx *c, const yaml_node_t *root, void *arg), void *arg);
/* Reads a whole regular file of at most 256 MiB into *buf (free it); 0 or
 * -1 with "path: cannot open: ..." (or read, too large, not a regular file)
 * in err. Never waits: a FIFO or a device is refused, not opened for
 * reading until a writer comes. */
int conf_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

#endif
