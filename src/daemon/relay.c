/*
 * relay.c - a controller's own PSUs, forwarded to the primary; the PSUs the
 * primary cannot hear about, unknown (relay.h).
 */
#include "relay.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EDGES RACK_MAX_FEEDS

/* A reading's Unix milliseconds: far beyond any clock, short of overflow
 * in the history's arithmetic. */
#define MAX_T_MS (INT64_C(1) << 52)
#define MAX_FIGURE (INT64_C(1) << 40) /* watts, volts, seconds ... in their units */

struct relay {
    int npsus, nfeeds, nreserves;
    int64_t grace_ns;
    bool *own; /* read by this controller's devices */
    /* a secondary's side: its own PSUs */
    struct relay_told *mine;
    bool *mine_fresh; /* read (or told) since the start: worth forwarding */
    struct driver_psu_reading *tel;
    int64_t *tel_ms;                    /* when tel was read, Unix ms; -1 never */
    struct relay_told edges[MAX_EDGES]; /* feed edges not forwarded yet */
    size_t nedges;
    bool *own_res;                      /* reserves read by this controller's devices */
    struct driver_reserve_reading *res; /* each own reserve's latest reading */
    int64_t *res_ms;                    /* when, Unix ms */
    bool *res_fresh;                    /* res is a read one: forwarded */
    int res_next;                       /* the first reserve of the next forward */
    /* the primary's side: the others' PSUs */
    bool primary;
    uint8_t *owner;      /* the node that last told of it, 0 none */
    int64_t *heard_ns;   /* when, INT64_MIN never */
    int64_t *due_ns;     /* unknown when not heard by then; INT64_MAX none */
    bool *unheard;       /* made unknown for want of a word (until heard) */
    uint8_t *unheard_of; /* the node whose silence did it, 0 none told of it */
    char (*why)[RELAY_WHY_LEN];
    struct relay_inputs out;
    /* every role: the others' readings kept in the history */
    bool *told;           /* another controller has told of it since the start */
    int64_t *kept_ms;     /* the sender's t_ms of the last one kept, -1 none */
    int64_t *res_kept_ms; /* the same per reserve */
};

struct relay *relay_new(const struct rack *r, const bool *own, const bool *own_res,
                        int64_t grace_ns)
{
    struct relay *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    size_t n = r->npsus > 0 ? (size_t)r->npsus : 1;
    size_t nres = r->nreserves > 0 ? (size_t)r->nreserves : 1;
    rl->npsus = r->npsus;
    rl->nfeeds = r->nfeeds;
    rl->nreserves = r->nreserves;
    rl->grace_ns = grace_ns;
    rl->own = calloc(n, sizeof(*rl->own));
    rl->mine = calloc(n, sizeof(*rl->mine));
    rl->mine_fresh = calloc(n, sizeof(*rl->mine_fresh));
    rl->tel = calloc(n, sizeof(*rl->tel));
    rl->tel_ms = calloc(n, sizeof(*rl->tel_ms));
    rl->kept_ms = calloc(n, sizeof(*rl->kept_ms));
    rl->told = calloc(n, sizeof(*rl->told));
    rl->owner = calloc(n, sizeof(*rl->owner));
    rl->heard_ns = calloc(n, sizeof(*rl->heard_ns));
    rl->due_ns = calloc(n, sizeof(*rl->due_ns));
    rl->unheard = calloc(n, sizeof(*rl->unheard));
    rl->unheard_of = calloc(n, sizeof(*rl->unheard_of));
    rl->why = calloc(n, sizeof(*rl->why));
    rl->out.in = calloc(n + MAX_EDGES, sizeof(*rl->out.in));
    rl->out.why = calloc(n + MAX_EDGES, sizeof(*rl->out.why));
    rl->own_res = calloc(nres, sizeof(*rl->own_res));
    rl->res = calloc(nres, sizeof(*rl->res));
    rl->res_ms = calloc(nres, sizeof(*rl->res_ms));
    rl->res_fresh = calloc(nres, sizeof(*rl->res_fresh));
    rl->res_kept_ms = calloc(nres, sizeof(*rl->res_kept_ms));
    if (!rl->own || !rl->mine || !rl->mine_fresh || !rl->tel || !rl->tel_ms || !rl->kept_ms ||
        !rl->told || !rl->owner || !rl->heard_ns || !rl->due_ns || !rl->unheard ||
        !rl->unheard_of || !rl->why || !rl->out.in || !rl->out.why || !rl->own_res || !rl->res ||
        !rl->res_ms || !rl->res_fresh || !rl->res_kept_ms) {
        relay_free(rl);
        return NULL;
    }
    for (int i = 0; i < r->nreserves; i++) {
        rl->own_res[i] = own_res && own_res[i];
        rl->res_kept_ms[i] = -1;
    }
    for (int i = 0; i < r->npsus; i++) {
        const struct rack_psu *p = &r->psus[i];
        rl->own[i] = own && own[i];
        /* what its driver believes until it says otherwise: the rack it
         * opened with (a driver tells what differs from that) */
        enum policy_input_kind k = p->health == RACK_PSU_FAILED     ? POLICY_PSU_FAIL
                                   : p->health == RACK_PSU_DEGRADED ? POLICY_PSU_DEGRADE
                                   : p->health == RACK_PSU_UNKNOWN  ? POLICY_PSU_UNKNOWN
                                                                    : POLICY_PSU_REPAIR;
        rl->mine[i] = (struct relay_told){
            .index = i, .kind = k, .watts_mw = k == POLICY_PSU_DEGRADE ? p->derated_mw : 0};
        rl->tel[i] = driver_psu_unknown(i);
        rl->tel[i].unread = true;
        rl->tel_ms[i] = -1;
        rl->kept_ms[i] = -1;
        rl->heard_ns[i] = INT64_MIN;
        rl->due_ns[i] = INT64_MAX;
    }
    return rl;
}

void relay_free(struct relay *rl)
{
    if (!rl)
        return;
    free(rl->own);
    free(rl->mine);
    free(rl->mine_fresh);
    free(rl->tel);
    free(rl->tel_ms);
    free(rl->kept_ms);
    free(rl->told);
    free(rl->owner);
    free(rl->heard_ns);
    free(rl->due_ns);
    free(rl->unheard);
    free(rl->unheard_of);
    free(rl->why);
    free(rl->out.in);
    free(rl->out.why);
    free(rl->own_res);
    free(rl->res);
    free(rl->res_ms);
    free(rl->res_fresh);
    free(rl->res_kept_ms);
    free(rl);
}

static bool psu_kind(enum policy_input_kind k)
{
    return k == POLICY_PSU_REPAIR || k == POLICY_PSU_DEGRADE || k == POLICY_PSU_FAIL ||
           k == POLICY_PSU_UNKNOWN;
}

static bool feed_kind(enum policy_input_kind k)
{
    return k == POLICY_FEED_FAIL || k == POLICY_FEED_REPAIR;
}

/* ---- a secondary's side ---- */

bool relay_take_report(struct relay *rl, const struct driver_report *rep, int64_t t_ms)
{
    bool changed = false;
    for (size_t k = 0; k < rep->ninputs; k++) {
        const struct policy_input *in = &rep->inputs[k];
        const char *note =
            rep->input_notes && rep->input_notes[k][0] ? rep->input_notes[k] : rep->note;
        if (psu_kind(in->kind) && in->index >= 0 && in->index < rl->npsus && rl->own[in->index]) {
            struct relay_told *t = &rl->mine[in->index];
            int64_t w = in->kind == POLICY_PSU_DEGRADE ? in->watts_mw : 0;
            changed = changed || t->kind != in->kind || t->watts_mw != w;
            t->kind = in->kind;
            t->watts_mw = w;
            snprintf(t->note, sizeof(t->note), "%s", note);
            rl->mine_fresh[in->index] = true;
        } else if (feed_kind(in->kind) && in->index >= 0 && in->index < rl->nfeeds) {
            changed = true;
            if (rl->nedges == MAX_EDGES) /* the oldest goes: the latest word counts */
                memmove(rl->edges, rl->edges + 1, (MAX_EDGES - 1) * sizeof(*rl->edges));
            else
                rl->nedges++;
            struct relay_told *e = &rl->edges[rl->nedges - 1];
            *e = (struct relay_told){.index = in->index, .kind = in->kind};
            snprintf(e->note, sizeof(e->note), "%s", note);
        }
    }
    for (size_t k = 0; k < rep->npsus; k++) {
        int i = rep->psus[k].psu;
        if (i < 0 || i >= rl->npsus || !rl->own[i])
            continue;
        rl->tel[i] = rep->psus[k];
        rl->tel_ms[i] = t_ms;
        rl->mine_fresh[i] = rl->mine_fresh[i] || !rep->psus[k].unread;
    }
    for (size_t k = 0; k < rep->nreserves; k++) {
        int i = rep->reserves[k].reserve;
        if (i < 0 || i >= rl->nreserves || !rl->own_res[i])
            continue;
        /* unread: nothing to keep, and the last reading is no longer its word */
        rl->res_fresh[i] = !rep->reserves[k].unread;
        rl->res[i] = rep->reserves[k];
        rl->res_ms[i] = t_ms;
    }
    return changed;
}

void relay_drop_edges(struct relay *rl)
{
    rl->nedges = 0;
}

static int set_new(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : -1;
}

/* A reserve's figure as a forward carries it: -1 (not read) when the device
 * said nothing or nonsense beyond what a decoder takes (reserve_keys). */
static int64_t reserve_figure(double v, int64_t max)
{
    return v >= 0 && v <= (double)max ? (int64_t)llround(v) : -1;
}

/* The keys of a forward's reserve entry and what a decoder takes of each. */
static const struct {
    const char *key;
    int64_t min, max;
} reserve_keys[] = {
    {"charge_pct", -1, 100}, {"runtime_s", -1, MAX_FIGURE}, {"watts_mw", -1, MAX_FIGURE},
    {"flags", 0, 0xffff}, /* DRIVER_RES_*, room for a newer sender's */
    {"t_ms", 0, MAX_T_MS},
};

/* Reserve i's latest reading as a forward's entry. NULL when out of memory. */
static json_t *reserve_entry(const struct relay *rl, const struct rack *r, int i)
{
    const struct driver_reserve_reading *x = &rl->res[i];
    const int64_t v[] = {
        reserve_figure(x->charge_pct, 100), reserve_figure((double)x->runtime_s, MAX_FIGURE),
        reserve_figure(x->watts * 1000.0, MAX_FIGURE), x->flags & 0xffff, rl->res_ms[i]};
    _Static_assert(sizeof(v) / sizeof(*v) == sizeof(reserve_keys) / sizeof(*reserve_keys),
                   "one figure per key");
    json_t *e = json_object();
    int bad = !e || set_new(e, "reserve", json_string(r->reserves[i].id));
    for (size_t k = 0; !bad && k < sizeof(v) / sizeof(*v); k++)
        bad = set_new(e, reserve_keys[k].key, json_integer(v[k]));
    if (bad) {
        json_decref(e);
        return NULL;
    }
    return e;
}

/* The own reserves' latest readings as o's "reserves" (none: no key), from
 * res_next on, while o's text (len bytes without them) stays within
 * max_len and up to RELAY_MAX_RESERVES; the first left out is the next
 * forward's first. 0, or -1 when out of memory. */
static int add_reserves(struct relay *rl, const struct rack *r, json_t *o, size_t len,
                        size_t max_len, size_t *left_out)
{
    json_t *rs = json_array();
    size_t used = len + strlen(",\"reserves\":[]"), n = 0, left = 0;
    int first_left = -1;
    if (!rs)
        return -1;
    for (int j = 0; j < rl->nreserves; j++) {
        int i = (rl->res_next + j) % rl->nreserves;
        if (!rl->own_res[i] || !rl->res_fresh[i] || rl->res_ms[i] < 0 || rl->res_ms[i] > MAX_T_MS)
            continue; /* not its, not read, or at no time a history keeps */
        json_t *e = reserve_entry(rl, r, i);
        if (!e) {
            json_decref(rs);
            return -1;
        }
        size_t l = json_dumpb(e, NULL, 0, JSON_COMPACT) + (n ? 1 : 0); /* and its comma */
        if (n == RELAY_MAX_RESERVES || used + l > max_len) {
            json_decref(e);
            left++;
            if (first_left < 0)
                first_left = i;
            continue;
        }
        if (json_array_append_new(rs, e)) {
            json_decref(rs);
            return -1;
        }
        used += l;
        n++;
    }
    rl->res_next = first_left >= 0 ? first_left : 0;
    if (left_out)
        *left_out = left;
    int rc = n ? json_object_set(o, "reserves", rs) : 0;
    json_decref(rs);
    return rc;
}

int relay_encode(struct relay *rl, const struct rack *r, const char *device, size_t max_len,
                 char **json, size_t *left_out)
{
    if (left_out)
        *left_out = 0;
    json_t *o = json_object(), *ps = json_array(), *fs = json_array();
    int bad = !o || !ps || !fs || set_new(o, "device", json_string(device ? device : ""));
    size_t sent = 0;
    for (int i = 0; !bad && i < rl->npsus && sent < RELAY_MAX_PSUS; i++) {
        if (!rl->own[i] || !rl->mine_fresh[i])
            continue; /* not its, or not read yet: nothing to tell */
        const struct relay_told *t = &rl->mine[i];
        const struct driver_psu_reading *x = &rl->tel[i];
        json_t *p = json_object();
        bad = !p || json_array_append_new(ps, p) || set_new(p, "psu", json_string(r->psus[i].id)) ||
              set_new(p, "told", json_string(policy_input_name(t->kind))) ||
              set_new(p, "watts_mw", json_integer(t->watts_mw)) ||
              set_new(p, "note", json_string(t->note)) ||
              set_new(p, "out_mw", json_integer(x->out_mw)) ||
              set_new(p, "in_mw", json_integer(x->in_mw)) ||
              set_new(p, "out_mv", json_integer(x->out_mv)) ||
              set_new(p, "out_ma", json_integer(x->out_ma)) ||
              set_new(p, "temp_mc", json_integer(x->temp_mc)) ||
              set_new(p, "in_mv", json_integer(x->in_mv)) ||
              set_new(p, "in_ma", json_integer(x->in_ma)) ||
              set_new(p, "inlet_mc", json_integer(x->inlet_mc)) ||
              set_new(p, "fan_rpm", json_integer(x->fan_rpm)) ||
              set_new(p, "status_word", json_integer(x->status_word)) ||
              set_new(p, "unread", json_boolean(x->unread)) ||
              set_new(p, "t_ms", json_integer(rl->tel_ms[i]));
        sent++;
    }
    for (size_t k = 0; !bad && k < rl->nedges; k++) {
        const struct relay_told *e = &rl->edges[k];
        json_t *f = json_object();
        bad = !f || json_array_append_new(fs, f) ||
              set_new(f, "feed", json_string(r->feeds[e->index])) ||
              set_new(f, "told", json_string(policy_input_name(e->kind))) ||
              set_new(f, "note", json_string(e->note));
    }
    if (!bad) {
        bad = json_object_set(o, "psus", ps) || json_object_set(o, "feeds", fs);
    }
    if (!bad) /* the PSUs and feeds go whatever their size: the reserves, if they fit */
        bad = add_reserves(rl, r, o, json_dumpb(o, NULL, 0, JSON_COMPACT), max_len, left_out);
    *json = bad ? NULL : json_dumps(o, JSON_COMPACT);
    json_decref(ps);
    json_decref(fs);
    json_decref(o);
    if (!*json)
        return -1;
    rl->nedges = 0;
    return 0;
}

/* ---- the primary's side ---- */

static int kind_named(const char *s, bool feed)
{
    static const enum policy_input_kind kinds[] = {POLICY_PSU_REPAIR, POLICY_PSU_DEGRADE,
                                                   POLICY_PSU_FAIL,   POLICY_PSU_UNKNOWN,
                                                   POLICY_FEED_FAIL,  POLICY_FEED_REPAIR};
    for (size_t k = 0; s && k < sizeof(kinds) / sizeof(*kinds); k++)
        if (feed == feed_kind(kinds[k]) && !strcmp(s, policy_input_name(kinds[k])))
            return (int)kinds[k];
    return -1;
}

/* A telemetry figure: an integer, -1 for none, else within bounds. */
static int figure(json_t *p, const char *key, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(p, key);
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    if (x < -1 || x > max)
        return -1;
    *out = x;
    return 0;
}

/* A figure added after the forward's first version: absent, it is -1 (a
 * controller of an older version forwards without it). */
static int later_figure(json_t *p, const char *key, int64_t max, int64_t *out)
{
    if (!json_object_get(p, key)) {
        *out = -1;
        return 0;
    }
    return figure(p, key, max, out);
}

static const char *text(json_t *o, const char *key, size_t max)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && strlen(s) < max ? s : NULL;
}

/* A forward's "reserves" into f: all, or none and -1 with why. */
static int decode_reserves(json_t *rs, const struct rack *r, struct relay_forward *f, char *err,
                           size_t errlen)
{
    size_t k;
    json_t *e;
    if (!json_is_array(rs)) {
        snprintf(err, errlen, "a forward's reserves are not an array: reserves left out");
        return -1;
    }
    if (json_array_size(rs) > RELAY_MAX_RESERVES) {
        snprintf(err, errlen, "a forward tells of %zu reserves, more than %d: reserves left out",
                 json_array_size(rs), RELAY_MAX_RESERVES);
        return -1;
    }
    json_array_foreach(rs, k, e)
    {
        const char *id = text(e, "reserve", RACK_ID_LEN);
        int i = id ? rack_find_reserve(r, id) : -1;
        if (i < 0) {
            snprintf(err, errlen,
                     "a forward's reserves[%zu] names no reserve of this rack (%s): reserves "
                     "left out",
                     k, id ? id : "no reserve id");
            return -1;
        }
        int64_t v[sizeof(reserve_keys) / sizeof(*reserve_keys)];
        for (size_t j = 0; j < sizeof(v) / sizeof(*v); j++) {
            json_t *x = json_object_get(e, reserve_keys[j].key);
            if (!json_is_integer(x) || json_integer_value(x) < reserve_keys[j].min ||
                json_integer_value(x) > reserve_keys[j].max) {
                snprintf(err, errlen,
                         "a forward's reserves[%zu] (%s): %s is not an integer from %" PRId64
                         " to %" PRId64 ": reserves left out",
                         k, id, reserve_keys[j].key, reserve_keys[j].min, reserve_keys[j].max);
                return -1;
            }
            v[j] = json_integer_value(x);
        }
        /* the order of reserve_keys */
        f->reserves[k] = (struct driver_reserve_reading){
            .reserve = i,
            .charge_pct = (int)v[0],
            .runtime_s = v[1],
            .watts = v[2] < 0 ? -1 : (double)v[2] / 1000.0,
            .flags = (unsigned)v[3],
        };
        f->res_t_ms[k] = v[4];
        f->nreserves++;
    }
    return 0;
}

int relay_decode(const char *buf, size_t len, const struct rack *r, struct relay_forward *f,
                 char *err, size_t errlen)
{
    json_error_t je;
    memset(f, 0, sizeof(*f));
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "a forward is not a JSON object%s%s", o ? "" : ": ",
                 o ? "" : je.text);
        json_decref(o);
        return -1;
    }
    int rc = -1;
    json_t *ps = json_object_get(o, "psus"), *fs = json_object_get(o, "feeds"), *p;
    const char *dev = text(o, "device", sizeof(f->device));
    size_t k;
    if (!dev || !json_is_array(ps) || !json_is_array(fs)) {
        snprintf(err, errlen, "a forward needs device, psus and feeds");
        goto out;
    }
    snprintf(f->device, sizeof(f->device), "%s", dev);
    if (json_array_size(ps) > RELAY_MAX_PSUS || json_array_size(fs) > RACK_MAX_FEEDS) {
        snprintf(err, errlen, "a forward tells of too many PSUs or feeds");
        goto out;
    }
    json_array_foreach(ps, k, p)
    {
        const char *id = text(p, "psu", RACK_ID_LEN), *note = text(p, "note", RELAY_NOTE_LEN);
        int i = id ? rack_find_psu(r, id) : -1, kind = kind_named(text(p, "told", 32), false);
        struct relay_told *t = &f->psus[k];
        struct driver_psu_reading *x = &f->tel[k];
        int64_t status_word = -1;
        *x = driver_psu_unknown(i);
        f->t_ms[k] = -1;
        json_t *unread = json_object_get(p, "unread");
        if (i < 0 || kind < 0 || !note || !json_is_boolean(unread) ||
            figure(p, "watts_mw", r->psus[i].rated_mw, &t->watts_mw) ||
            (kind == POLICY_PSU_DEGRADE && t->watts_mw <= 0) || /* the policy's bound */
            figure(p, "out_mw", INT64_C(1) << 40, &x->out_mw) ||
            figure(p, "in_mw", INT64_C(1) << 40, &x->in_mw) ||
            figure(p, "out_mv", INT64_C(1) << 40, &x->out_mv) ||
            figure(p, "out_ma", INT64_C(1) << 40, &x->out_ma) ||
            figure(p, "temp_mc", INT64_C(1) << 30, &x->temp_mc) ||
            later_figure(p, "in_mv", INT64_C(1) << 40, &x->in_mv) ||
            later_figure(p, "in_ma", INT64_C(1) << 40, &x->in_ma) ||
            later_figure(p, "inlet_mc", INT64_C(1) << 30, &x->inlet_mc) ||
            later_figure(p, "fan_rpm", INT64_C(1) << 30, &x->fan_rpm) ||
            later_figure(p, "status_word", 0xffff, &status_word) ||
            later_figure(p, "t_ms", MAX_T_MS, &f->t_ms[k])) {
            snprintf(err, errlen, "a forward's psus[%zu] is not a PSU of this rack told right", k);
            goto out;
        }
        t->index = x->psu = i;
        t->kind = (enum policy_input_kind)kind;
        snprintf(t->note, sizeof(t->note), "%s", note);
        x->unread = json_is_true(unread);
        x->status_word = (int32_t)status_word;
        f->npsus++;
    }
    json_array_foreach(fs, k, p)
    {
        const char *id = text(p, "feed", RACK_ID_LEN), *note = text(p, "note", RELAY_NOTE_LEN);
        int i = id ? rack_find_feed(r, id) : -1;
        int kind = kind_named(text(p, "told", 32), true);
        if (i < 0 || kind < 0 || !note) {
            snprintf(err, errlen, "a forward's feeds[%zu] is not a feed of this rack told right",
                     k);
            goto out;
        }
        f->feeds[k] = (struct relay_told){.index = i, .kind = (enum policy_input_kind)kind};
        snprintf(f->feeds[k].note, sizeof(f->feeds[k].note), "%s", note);
        f->nfeeds++;
    }
    json_t *rs = json_object_get(o, "reserves");
    if (rs && decode_reserves(rs, r, f, f->reserves_refused, sizeof(f->reserves_refused)))
        f->nreserves = 0; /* history alone: the PSUs' health still counts */
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* ---- every controller's side: the history ---- */

bool relay_keep_reserve(struct relay *rl, const struct relay_forward *f, size_t k)
{
    if (k >= f->nreserves)
        return false;
    int i = f->reserves[k].reserve;
    if (i < 0 || i >= rl->nreserves || rl->own_res[i] || f->reserves[k].unread)
        return false;
    /* a repeat by its equal time, as relay_keep_reading */
    if (f->res_t_ms[k] == rl->res_kept_ms[i])
        return false;
    rl->res_kept_ms[i] = f->res_t_ms[k];
    return true;
}

bool relay_keep_reading(struct relay *rl, const struct relay_forward *f, size_t k)
{
    if (k >= f->npsus)
        return false;
    const struct driver_psu_reading *x = &f->tel[k];
    int i = x->psu;
    if (i < 0 || i >= rl->npsus || rl->own[i] || x->unread)
        return false;
    if (f->t_ms[k] < 0)
        return true; /* an older sender: no time to know a repeat by */
    /* not "older than the last": a sender's clock may be set back */
    if (f->t_ms[k] == rl->kept_ms[i])
        return false;
    rl->kept_ms[i] = f->t_ms[k];
    return true;
}

/* Whether the rack already holds what t tells. */
static bool holds(const struct rack *r, const struct relay_told *t)
{
    const struct rack_psu *p = &r->psus[t->index];
    switch (t->kind) {
    case POLICY_PSU_REPAIR:
        return p->health == RACK_PSU_OK;
    case POLICY_PSU_DEGRADE:
        return p->health == RACK_PSU_DEGRADED && p->derated_mw == t->watts_mw;
    case POLICY_PSU_FAIL:
        return p->health == RACK_PSU_FAILED;
    case POLICY_PSU_UNKNOWN: /* a failed PSU stays failed until read again (policy.h) */
        return p->health == RACK_PSU_UNKNOWN || p->health == RACK_PSU_FAILED;
    default:
        return true;
    }
}

static void emit(struct relay *rl, enum policy_input_kind kind, int index, int64_t watts_mw,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit(struct relay *rl, enum policy_input_kind kind, int index, int64_t watts_mw,
                 const char *fmt, ...)
{
    if (rl->out.n >= (size_t)rl->npsus + MAX_EDGES)
        return;
    rl->out.in[rl->out.n] = (struct policy_input){kind, index, watts_mw};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rl->out.why[rl->out.n], RELAY_WHY_LEN, fmt, ap);
    va_end(ap);
    rl->out.n++;
}

const struct relay_inputs *relay_heard(struct relay *rl, uint8_t from,
                                       const struct relay_forward *f, const struct rack *r,
                                       int64_t now)
{
    rl->out.n = 0;
    for (size_t k = 0; k < f->npsus; k++) {
        const struct relay_told *t = &f->psus[k];
        int i = t->index;
        if (i < 0 || i >= rl->npsus || rl->own[i])
            continue; /* its own reads count here, not another's word */
        bool was_unheard = rl->unheard[i];
        rl->owner[i] = from;
        rl->heard_ns[i] = now;
        rl->unheard[i] = false;
        rl->why[i][0] = '\0';
        if (rl->primary)
            rl->due_ns[i] = now + rl->grace_ns;
        if (!holds(r, t) || (was_unheard && t->kind == POLICY_PSU_UNKNOWN))
            emit(rl, t->kind, i, t->watts_mw, "told by node %u (%s)%s%s", from, f->device,
                 t->note[0] ? ": " : ", as it reads it", t->note);
    }
    for (size_t k = 0; k < f->nfeeds; k++) {
        const struct relay_told *t = &f->feeds[k];
        if (t->index >= 0 && t->index < r->nfeeds &&
            r->feed_failed[t->index] != (t->kind == POLICY_FEED_FAIL))
            emit(rl, t->kind, t->index, 0, "told by node %u (%s)%s%s", from, f->device,
                 t->note[0] ? ": " : "", t->note);
    }
    return &rl->out;
}

void relay_note_told(struct relay *rl, const struct relay_forward *f)
{
    for (size_t k = 0; k < f->npsus; k++) {
        int i = f->psus[k].index;
        if (i >= 0 && i < rl->npsus && !rl->own[i])
            rl->told[i] = true;
    }
}

bool relay_told_since(const struct relay *rl, int64_t since)
{
    for (int i = 0; i < rl->npsus; i++)
        if (!rl->own[i] && rl->told[i] && !rl->unheard[i] && rl->heard_ns[i] < since)
            return false;
    return true;
}

bool relay_others_read(const struct relay *rl)
{
    for (int i = 0; i < rl->npsus; i++)
        if (!rl->own[i] && rl->told[i])
            return true;
    return false;
}

void relay_primary(struct relay *rl, int64_t now)
{
    /* a secondary hears no forwards: each gets the grace from now */
    rl->primary = true;
    for (int i = 0; i < rl->npsus; i++)
        if (!rl->own[i] && !rl->unheard[i])
            rl->due_ns[i] = now + rl->grace_ns;
}

void relay_not_primary(struct relay *rl)
{
    rl->primary = false;
    for (int i = 0; i < rl->npsus; i++) {
        rl->due_ns[i] = INT64_MAX;
        rl->unheard[i] = false;
        rl->why[i][0] = '\0';
    }
}

/* PSU i is unknown for want of a word: the input, once. */
static void unheard(struct relay *rl, const struct rack *r, int i, const char *why)
{
    rl->due_ns[i] = INT64_MAX;
    if (rl->unheard[i])
        return;
    rl->unheard[i] = true;
    rl->unheard_of[i] = rl->owner[i];
    snprintf(rl->why[i], sizeof(rl->why[i]), "%s", why);
    if (r->psus[i].health == RACK_PSU_OK || r->psus[i].health == RACK_PSU_DEGRADED)
        emit(rl, POLICY_PSU_UNKNOWN, i, 0, "%s", why);
}

const struct relay_inputs *relay_peer_dead(struct relay *rl, uint8_t node, const struct rack *r)
{
    rl->out.n = 0;
    if (!rl->primary)
        return &rl->out;
    char why[RELAY_WHY_LEN];
    for (int i = 0; i < rl->npsus; i++) {
        if (rl->own[i] || rl->owner[i] != node || rl->unheard[i])
            continue;
        snprintf(
            why, sizeof(why),
            "psu unknown: its controller, node %u, is lost (the rack bus heard nothing from it "
            "for its missed heartbeats): dead or cut off, not failed",
            node);
        unheard(rl, r, i, why);
    }
    return &rl->out;
}

const struct relay_inputs *relay_due(struct relay *rl, const struct rack *r, int64_t now)
{
    rl->out.n = 0;
    if (!rl->primary)
        return &rl->out;
    char why[RELAY_WHY_LEN];
    for (int i = 0; i < rl->npsus; i++) {
        if (rl->own[i] || rl->due_ns[i] > now)
            continue;
        if (rl->owner[i])
            snprintf(why, sizeof(why),
                     "psu unknown: its controller, node %u, has not told of it for %.1f s: dead, "
                     "cut off, or it cannot read it",
                     rl->owner[i], (double)(now - rl->heard_ns[i]) / 1e9);
        else
            snprintf(
                why, sizeof(why),
                "psu unknown: no controller has told of it in the %.1f s since this one became "
                "primary: the one that reads it is dead or cut off",
                (double)rl->grace_ns / 1e9);
        unheard(rl, r, i, why);
    }
    return &rl->out;
}

int64_t relay_next_due(const struct relay *rl)
{
    int64_t next = INT64_MAX;
    for (int i = 0; rl->primary && i < rl->npsus; i++)
        if (rl->due_ns[i] < next)
            next = rl->due_ns[i];
    return next;
}

int relay_alarms(const struct relay *rl, const struct rack *r, const bool dead[256],
                 struct alarm_set *set)
{
    for (unsigned node = 1; node <= 255; node++) {
        char list[ALARM_REASON_LEN - 120] = "", subject[16], why[ALARM_REASON_LEN];
        size_t used = 0;
        for (int i = 0; i < rl->npsus; i++) {
            if (!rl->unheard[i] || rl->unheard_of[i] != node)
                continue;
            if (used < sizeof(list))
                used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
                                         r->psus[i].id);
        }
        if (!list[0] && !(dead && dead[node]))
            continue;
        snprintf(subject, sizeof(subject), "node %u", node);
        if (list[0])
            snprintf(why, sizeof(why),
                     "nothing heard from it (dead or cut off): the PSUs it reads, %s, are unknown",
                     list);
        else
            snprintf(why, sizeof(why),
                     "nothing heard from it for its missed heartbeats (dead or cut off)");
        if (alarm_set_add(set, ALARM_PEER_LOST, subject, why))
            return -1;
    }
    return 0;
}

const char *relay_unknown_reason(const struct relay *rl, int i)
{
    return i >= 0 && i < rl->npsus && rl->unheard[i] ? rl->why[i] : NULL;
}

/* ---- commands ---- */

static const struct {
    enum hub_cmd_kind kind;
    const char *name;
} cmd_names[] = {
    {HUB_POWER_ON, "power_on"},
    {HUB_POWER_OFF, "power_off"},
    {HUB_PSU_OUT, "psu_out"},
    {HUB_PSU_IN, "psu_in"},
    {HUB_BUS_OUT, "bus_out"},
    {HUB_BUS_IN, "bus_in"},
    {HUB_OUTAGE_START, "outage_start"},
    {HUB_OUTAGE_END, "outage_end"},
    {HUB_PSU_RISK_CLEAR, "psu_risk_clear"},
};

bool relay_cmd_forwarded(enum hub_cmd_kind kind)
{
    for (size_t k = 0; k < sizeof(cmd_names) / sizeof(*cmd_names); k++)
        if (cmd_names[k].kind == kind)
            return true;
    return false;
}

int relay_cmd_encode(const struct hub_cmd *c, char **json)
{
    const char *name = NULL;
    for (size_t k = 0; k < sizeof(cmd_names) / sizeof(*cmd_names); k++)
        if (cmd_names[k].kind == c->kind)
            name = cmd_names[k].name;
    *json = NULL;
    if (!name)
        return -1;
    json_t *o = json_pack("{sssssssssssbsb}", "kind", name, "id", c->id, "note", c->note, "who",
                          c->who, "role", c->role, "dry_run", c->dry_run, "force", c->force);
    if (o)
        *json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return *json ? 0 : -1;
}

int relay_cmd_decode(const char *json, size_t len, uint8_t from, struct hub_cmd *c, char *err,
                     size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    const char *kind = text(o, "kind", 16), *id = text(o, "id", sizeof(c->id)),
               *note = text(o, "note", sizeof(c->note)), *who = text(o, "who", sizeof(c->who)),
               *role = text(o, "role", sizeof(c->role));
    json_t *dry = json_object_get(o, "dry_run"), *force = json_object_get(o, "force");
    int rc = -1;
    if (!json_is_object(o) || !kind || !id || !note || !who || !role || !json_is_boolean(dry) ||
        !json_is_boolean(force)) {
        snprintf(err, errlen,
                 "a forwarded command needs kind, id, note, who, role, dry_run and "
                 "force, each of its type and length");
        goto out;
    }
    size_t k = 0;
    while (k < sizeof(cmd_names) / sizeof(*cmd_names) && strcmp(cmd_names[k].name, kind))
        k++;
    if (k == sizeof(cmd_names) / sizeof(*cmd_names)) {
        snprintf(err, errlen, "a forwarded command of kind '%s': not one a secondary forwards",
                 kind);
        goto out;
    }
    if (strcmp(role, "operator") && strcmp(role, "admin")) {
        snprintf(err, errlen,
                 "a forwarded command from a '%s': commands need an operator or an "
                 "admin",
                 role);
        goto out;
    }
    c->kind = cmd_names[k].kind;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->note, sizeof(c->note), "%s", note);
    /* the way it came stays whole: a long name is cut, not " via node N" */
    char way[40];
    int wl = snprintf(way, sizeof(way), " (%s) via node %u", role, from);
    snprintf(c->who, sizeof(c->who), "%.*s%s", (int)(sizeof(c->who) - 1 - (size_t)wl),
             who[0] ? who : "someone", way);
    snprintf(c->role, sizeof(c->role), "%s", role);
    c->dry_run = json_is_true(dry);
    c->force = json_is_true(force);
    rc = 0;
out:
    json_decref(o);
    return rc;
}
