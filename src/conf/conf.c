/*
 * conf.c - the field-table engine (conf.h): YAML nodes, mappings checked
 * against tables, typed scalar setters, messages with file:line:column.
 */
#include "conf.h"
#include "grow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_BYTES ((size_t)256 << 20)

/* ---- messages ---- */

__attribute__((format(printf, 3, 0))) static int vfail(struct conf_ctx *c, yaml_mark_t m,
                                                       const char *fmt, va_list ap)
{
    int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name, m.line + 1, m.column + 1);
    if (n >= 0 && (size_t)n < c->errlen)
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    return -1;
}

int conf_fail_mark(struct conf_ctx *c, yaml_mark_t m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, m, fmt, ap);
    va_end(ap);
    return -1;
}

int conf_fail(struct conf_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, n->start_mark, fmt, ap);
    va_end(ap);
    return -1;
}

size_t conf_line(const yaml_node_t *n)
{
    return n->start_mark.line + 1;
}

void conf_join(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);
    if (n + 1 < len)
        snprintf(buf + n, len - n, "%s%s", n ? ", " : "", s);
}

void conf_join_keys(char *buf, size_t len, const struct conf_table *t, size_t from)
{
    buf[0] = '\0';
    for (size_t i = from; i < t->n; i++)
        conf_join(buf, len, t->f[i].key);
}

/* ---- nodes ---- */

const yaml_node_t *conf_node(struct conf_ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

const char *conf_str(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

bool conf_is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool conf_is_null(const yaml_node_t *n)
{
    const char *s = conf_str(n);
    return conf_is_plain(n) && (!*s || !strcmp(s, "~") || !strcmp(s, "null") ||
                                !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

size_t conf_seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

const yaml_node_t *conf_seq_item(struct conf_ctx *c, const yaml_node_t *n, size_t i)
{
    return conf_node(c, n->data.sequence.items.start[i]);
}

const char *conf_show(struct conf_ctx *c, const yaml_node_t *n)
{
    if (n->type == YAML_SEQUENCE_NODE)
        return conf_seq_len(n) ? "a list" : "an empty list";
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (conf_is_null(n))
        return "nothing";
    size_t len = n->data.scalar.length;
    snprintf(c->shown, sizeof(c->shown), "'%.*s%s'",
             (int)(len < CONF_SHOW_CHARS ? len : CONF_SHOW_CHARS), conf_str(n),
             len > CONF_SHOW_CHARS ? "..." : "");
    for (char *p = c->shown; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return c->shown;
}

/* A quoted number is a string: say so, since it looks right at a glance. */
const char *conf_quote_hint(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && !conf_is_plain(n) ? " (quoted, so a string)" : "";
}

size_t conf_field_index(const struct conf_table *t, const yaml_node_t *k)
{
    const char *s = conf_str(k);
    for (size_t i = 0; s && i < t->n; i++)
        if (strlen(t->f[i].key) == k->data.scalar.length && !strcmp(t->f[i].key, s))
            return i;
    return t->n;
}

const yaml_node_t *conf_map_value(struct conf_ctx *c, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *s = conf_str(conf_node(c, p->key));
        if (s && !strcmp(s, key))
            return conf_node(c, p->value);
    }
    return map;
}

/* ---- mappings ---- */

int conf_collect(struct conf_ctx *c, const yaml_node_t *map, const struct conf_table *t,
                 const yaml_node_t *keys[], const yaml_node_t *vals[])
{
    char allowed[512];
    bool top = t->top;
    allowed[0] = '\0';
    for (size_t i = 0; i < t->n; i++)
        if (!t->f[i].hidden)
            conf_join(allowed, sizeof(allowed), t->f[i].key);
    if (map->type != YAML_MAPPING_NODE) {
        if (top)
            return conf_fail(c, map, "expected a mapping at the top level (with keys %s), got %s",
                             allowed, conf_show(c, map));
        return conf_fail(c, map, "%s: expected a mapping, got %s", t->what, conf_show(c, map));
    }
    for (size_t i = 0; i < t->n; i++)
        keys[i] = vals[i] = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = conf_node(c, p->key);
        size_t i = conf_field_index(t, k);
        if (i == t->n && top)
            return conf_fail(c, k, "unknown top-level key %s (expected %s)", conf_show(c, k),
                             allowed);
        if (i == t->n)
            return conf_fail(c, k, "unknown key %s in %s (expected %s)", conf_show(c, k), t->what,
                             allowed);
        if (keys[i] && top)
            return conf_fail(c, k, "duplicate top-level key '%s' (first at line %zu)", t->f[i].key,
                             conf_line(keys[i]));
        if (keys[i])
            return conf_fail(c, k, "duplicate key '%s' in %s (first at line %zu)", t->f[i].key,
                             t->what, conf_line(keys[i]));
        keys[i] = k;
        vals[i] = conf_node(c, p->value);
    }
    for (size_t i = 0; i < t->n; i++) {
        if (!t->f[i].required || vals[i])
            continue;
        if (top)
            return conf_fail(c, map, "missing required top-level key '%s'", t->f[i].key);
        /* Name the element when its id is known: the mapping may be long. */
        const char *id = !strcmp(t->f[0].key, "id") && vals[0] ? conf_str(vals[0]) : NULL;
        if (id)
            return conf_fail(c, map, "missing required key '%s' in %s '%.31s'", t->f[i].key,
                             t->what, id);
        return conf_fail(c, map, "missing required key '%s' in %s", t->f[i].key, t->what);
    }
    return 0;
}

int conf_parse_map(struct conf_ctx *c, const yaml_node_t *map, const struct conf_table *t,
                   void *obj, const yaml_node_t *vals[])
{
    const yaml_node_t *keys[CONF_MAX_FIELDS];
    if (conf_collect(c, map, t, keys, vals))
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_field *f = &t->f[i];
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

/* ---- typed fields ---- */

int conf_check_id(struct conf_ctx *c, const char *key, const yaml_node_t *v, char out[RACK_ID_LEN])
{
    const char *s = conf_str(v);
    size_t len = s ? v->data.scalar.length : 0;
    bool ok = s && !conf_is_null(v) && len >= 1 && len < RACK_ID_LEN;
    for (size_t i = 0; ok && i < len; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || (s[i] && strchr("_.:-", s[i]));
    if (!ok)
        return conf_fail(c, v, "%s: expected an id (1 to %d of A-Z a-z 0-9 _ . : -), got %s", key,
                         RACK_ID_LEN - 1, conf_show(c, v));
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

int conf_set_id(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    return conf_check_id(c, f->key, v, conf_at(obj, f));
}

int conf_set_enum(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    const char *s = conf_str(v);
    char words[128] = "";
    for (int i = 0; f->words[i]; i++) {
        if (s && strlen(f->words[i]) == v->data.scalar.length && !strcmp(s, f->words[i])) {
            *(int *)conf_at(obj, f) = i;
            return 0;
        }
        conf_join(words, sizeof(words), f->words[i]);
    }
    return conf_fail(c, v, "%s: expected one of %s, got %s", f->key, words, conf_show(c, v));
}

/* A plain scalar that is a finite decimal number: "12", "0.5", "1e3". No
 * hex, inf or nan; YAML booleans and strings are not numbers. */
static bool parse_number(const yaml_node_t *v, double *out)
{
    const char *s = conf_str(v);
    if (!conf_is_plain(v) || conf_is_null(v) || strpbrk(s, "xXiInN"))
        return false;
    char *end;
    *out = strtod(s, &end);
    return end != s && end == s + v->data.scalar.length;
}

int conf_set_num(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    double x;
    if (!parse_number(v, &x))
        return conf_fail(c, v, "%s: expected a number, got %s%s", f->key, conf_show(c, v),
                         conf_quote_hint(v));
    bool low = x < f->min || (f->min_open && x <= f->min);
    if (!low && x > f->max) /* also 1e999, which strtod makes inf */
        return conf_fail(c, v, "%s: must be at most %.15g, got %s", f->key, f->max,
                         conf_show(c, v));
    /* Every min is >= 0, so + 0.5 rounds to nearest (without libm). */
    int64_t scaled = low ? 0 : (int64_t)(x * f->scale + 0.5);
    /* Rounding to the stored unit must not turn "> 0" into 0. */
    if (low || (f->min_open && scaled <= (int64_t)(f->min * f->scale)))
        return conf_fail(c, v, "%s: must be %s %g, got %s", f->key,
                         f->min_open ? ">" : ">=", f->min, conf_show(c, v));
    *(int64_t *)conf_at(obj, f) = scaled;
    return 0;
}

int conf_set_real(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    double x;
    if (!parse_number(v, &x))
        return conf_fail(c, v, "%s: expected a number, got %s%s", f->key, conf_show(c, v),
                         conf_quote_hint(v));
    if (x < f->min || (f->min_open && x <= f->min))
        return conf_fail(c, v, "%s: must be %s %g, got %s", f->key,
                         f->min_open ? ">" : ">=", f->min, conf_show(c, v));
    if (x > f->max) /* also 1e999, which strtod makes inf */
        return conf_fail(c, v, "%s: must be at most %.15g, got %s", f->key, f->max,
                         conf_show(c, v));
    *(double *)conf_at(obj, f) = x * (f->scale ? f->scale : 1);
    return 0;
}

int conf_set_int(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    const char *s = conf_str(v);
    char *end = NULL;
    long long x = conf_is_plain(v) && !conf_is_null(v) ? strtoll(s, &end, 10) : 0;
    if (!end || end == s || end != s + v->data.scalar.length || x < f->min)
        return conf_fail(c, v, "%s: expected an integer >= %g, got %s%s", f->key, f->min,
                         conf_show(c, v), conf_quote_hint(v));
    if (x > f->max)
        return conf_fail(c, v, "%s: must be at most %.15g, got %s", f->key, f->max,
                         conf_show(c, v));
    *(int *)conf_at(obj, f) = (int)x;
    return 0;
}

bool conf_check_text(const yaml_node_t *v, size_t max, bool (*ok)(char))
{
    const char *s = conf_str(v);
    size_t len = s ? v->data.scalar.length : 0;
    if (!s || conf_is_null(v) || len < 1 || len > max || strlen(s) != len)
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

int conf_set_host(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    if (!conf_check_text(v, 255, host_char))
        return conf_fail(c, v, "%s: expected a host name or an IP address, got %s", f->key,
                         conf_show(c, v));
    memcpy(conf_at(obj, f), conf_str(v), v->data.scalar.length + 1);
    return 0;
}

int conf_set_path(struct conf_ctx *c, const struct conf_field *f, const yaml_node_t *v, void *obj)
{
    if (!conf_check_text(v, 255, path_char) || conf_str(v)[0] != '/')
        return conf_fail(c, v, "%s: expected an absolute path (starting with /), got %s", f->key,
                         conf_show(c, v));
    memcpy(conf_at(obj, f), conf_str(v), v->data.scalar.length + 1);
    return 0;
}

/* ---- the id index ---- */

int conf_idx_init(struct conf_idx *h, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    h->slot = calloc(cap, sizeof(*h->slot));
    h->mask = cap - 1;
    return h->slot ? 0 : -1;
}

long conf_idx_get(struct conf_idx *h, const char *base, size_t stride, const char *id, long add)
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

void conf_idx_free(struct conf_idx *h)
{
    free(h->slot);
    *h = (struct conf_idx){0};
}

/* ---- documents ---- */

/* libyaml's own problem text and position. */
static int yaml_fail(struct conf_ctx *c, const yaml_parser_t *p, const char *text, size_t len)
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
        return conf_fail_mark(c, m, "%s (%s at line %zu, column %zu)", problem, p->context,
                              p->context_mark.line + 1, p->context_mark.column + 1);
    return conf_fail_mark(c, m, "%s", problem);
}

int conf_load_text(struct conf_ctx *c, const char *text, size_t len,
                   int (*parse)(struct conf_ctx *c, const yaml_node_t *root, void *arg), void *arg)
{
    yaml_parser_t parser;
    yaml_document_t doc, more;
    int rc = -1;

    if (!yaml_parser_initialize(&parser)) {
        snprintf(c->err, c->errlen, "%s: out of memory", c->name);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_fail(c, &parser, text, len);
        yaml_parser_delete(&parser);
        return -1;
    }
    c->doc = &doc;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || conf_is_null(root)) {
        conf_fail_mark(c, root ? root->start_mark : (yaml_mark_t){0},
                       "empty file: expected a mapping with a 'rack' key");
    } else if (!yaml_parser_load(&parser, &more)) {
        yaml_fail(c, &parser, text, len);
    } else {
        const yaml_node_t *extra = yaml_document_get_root_node(&more);
        if (extra)
            conf_fail(c, extra, "a second YAML document: the file must hold only one");
        yaml_document_delete(&more);
        if (!extra)
            rc = parse(c, root, arg);
    }
    c->doc = NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int conf_read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    /* O_NONBLOCK: opening a FIFO would wait for a writer, and rackpowerd
     * reads its config on its one loop thread (SIGHUP); only regular files
     * are read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int e = 0;
    while (len <= MAX_FILE_BYTES) { /* reads at most one byte too many */
        if (grow_to((void **)&buf, &cap, len + 1, 1, 65536, MAX_FILE_BYTES + 1)) {
            e = ENOMEM;
            break;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            e = ferror(f) ? errno : 0;
            break;
        }
    }
    fclose(f);
    if (e)
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
    else if (len > MAX_FILE_BYTES)
        snprintf(err, errlen, "%s: larger than %zu MiB, not a rack file", path,
                 MAX_FILE_BYTES >> 20);
    if (e || len > MAX_FILE_BYTES) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}
