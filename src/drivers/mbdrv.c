/*
 * mbdrv.c - the Modbus polling engine over libmodbus. See mbdrv.h for the
 * contract and docs/modbus.md for the rules and the numbers.
 */
#include "mbdrv.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus/modbus.h>

#include "rackmod.h"
#include "grow.h"
#include "monoclock.h"

#define MAX_SPANS 64
#define MAX_FIELDS ORV3_BBU_NFIELDS
_Static_assert((int)ORV3_PSU_NFIELDS <= (int)MAX_FIELDS, "the PSU table fits the planning buffer");
#define ONCE_RETRY_NS 10000000000LL /* a failed read-once span is tried again after 10 s */
#define NS_PER_S 1000000000LL

struct span {
    uint16_t start, words;
    uint32_t groups;
    int64_t interval_ns;
    int64_t next_due_ns;
};

struct device {
    struct mbdrv_device_config cfg;
    struct mbdrv_stats st;
    int nspans;
    struct span spans[MAX_SPANS];
    bool narrow; /* re-planned for a PSU that accepts only short reads */
    uint16_t *image;
    int nregs;
    int64_t next_probe_ns;
    uint64_t failed_round; /* round in which a span got no answer: wait for the next one */
    struct orv3_monitor mon;
    struct mbdrv_slot *slots; /* chassis: last reported */
    int *sw_bus;              /* switch: last reported bus per PSU */
    bool *seen;               /* per slot / PSU: reported at least once */
};

struct mbdrv_bus {
    struct mbdrv_bus_config cfg;
    modbus_t *ctx;
    bool connected;
    int64_t timeout_set_ns; /* response timeout now set on ctx */
    int64_t last_io_ns;     /* CLOCK_MONOTONIC end of the last transaction */
    mbdrv_sink sink;
    void *sink_ctx;
    struct device *devs;
    int ndevs;
    size_t capdevs;
    int cursor;     /* round robin: the device to look at first */
    uint64_t round; /* count of mbdrv_poll_once calls, from 1 */
    int64_t now_ns; /* now_ns of the last poll: the time frame writes are stamped in */
    /* Fencing (rackmod.h): the epoch every command to a module carries; 0
     * sends bare commands (a lone controller). fenced_by: the highest owner
     * epoch above it that a module refused a command with; 0 none. */
    uint64_t epoch, fenced_by;
};

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / NS_PER_S), (long)(ns % NS_PER_S)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void mbdrv_bus_config_default(struct mbdrv_bus_config *c, enum mbdrv_transport t)
{
    memset(c, 0, sizeof(*c));
    c->transport = t;
    snprintf(c->host, sizeof(c->host), "127.0.0.1");
    c->port = 502;
    c->baud = 19200;
    c->parity = 'E';
    c->data_bits = 8;
    c->stop_bits = 1;
    c->response_timeout_ns = 300000000LL;
    c->idle_gap_ns = t == MBDRV_RTU ? 3000000LL : 0;
    c->retries = 2;
    c->dormant_after = 10;
    c->reprobe_ns = 60 * NS_PER_S;
    c->reprobe_min_ns = NS_PER_S;
    c->probe_timeout_ns = 70000000LL;
    c->confirm_ns = 50000000LL;
    c->max_span_words = ORV3_MAX_SPAN_WORDS;
    c->max_hole_words = ORV3_DEFAULT_MAX_HOLE;
    c->draw_deadband_mw = 5000;
    orv3_monitor_config_default(&c->monitor);
}

static const char *const kind_names[] = {"orv3-psu", "orv3-bbu", "simdev-switch", "simdev-chassis"};

const char *mbdrv_kind_name(enum mbdrv_kind k)
{
    return (unsigned)k < 4 ? kind_names[k] : "?";
}

int mbdrv_kind_parse(const char *s, enum mbdrv_kind *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum mbdrv_kind)i;
            return 0;
        }
    }
    return -1;
}

const char *mbdrv_state_name(enum mbdrv_state s)
{
    static const char *const names[] = {"live", "dormant", "absent"};
    return (unsigned)s < 3 ? names[s] : "?";
}

/* ---- bus ---------------------------------------------------------------- */

static int check_config(const struct mbdrv_bus_config *c, char *err, size_t errlen)
{
    if (c->transport == MBDRV_TCP) {
        if (!c->host[0] || c->port < 1 || c->port > 65535) {
            seterr(err, errlen, "modbus tcp: host must be set and port in 1..65535 (got '%s':%d)",
                   c->host, c->port);
            return -1;
        }
    } else if (c->transport == MBDRV_RTU) {
        if (!c->device[0]) {
            seterr(err, errlen, "modbus rtu: no serial device given");
            return -1;
        }
        if (c->baud <= 0 || (c->parity != 'N' && c->parity != 'E' && c->parity != 'O') ||
            c->data_bits < 5 || c->data_bits > 8 || c->stop_bits < 1 || c->stop_bits > 2) {
            seterr(err, errlen,
                   "modbus rtu %s: bad line settings %d baud, parity '%c', %d data bits, %d stop "
                   "bits (want baud > 0, parity N/E/O, 5..8 data bits, 1..2 stop bits)",
                   c->device, c->baud, c->parity ? c->parity : '?', c->data_bits, c->stop_bits);
            return -1;
        }
    } else {
        seterr(err, errlen, "modbus: unknown transport %d", (int)c->transport);
        return -1;
    }
    if (c->response_timeout_ns < 1000000 || c->probe_timeout_ns < 1000000 ||
        c->response_timeout_ns > 60 * NS_PER_S || c->probe_timeout_ns > 60 * NS_PER_S) {
        seterr(err, errlen, "modbus: response and probe timeouts must be within 1 ms..60 s");
        return -1;
    }
    if (c->idle_gap_ns < 0 || c->idle_gap_ns > NS_PER_S || c->retries < 0 || c->retries > 10 ||
        c->dormant_after < 1 || c->reprobe_ns < 1000000 || c->reprobe_min_ns < 1000000 ||
        c->confirm_ns < 1000000) {
        seterr(err, errlen,
               "modbus: idle gap 0..1 s, retries 0..10, dormant_after >= 1, reprobe and confirm "
               "intervals >= 1 ms");
        return -1;
    }
    if (c->max_span_words < 8 || c->max_span_words > 125 || c->max_hole_words < 0 ||
        c->max_hole_words > c->max_span_words) {
        seterr(err, errlen,
               "modbus: max_span_words must be 8..125 and max_hole_words 0..max_span_words (got "
               "%d, %d)",
               c->max_span_words, c->max_hole_words);
        return -1;
    }
    return 0;
}

struct mbdrv_bus *mbdrv_bus_new(const struct mbdrv_bus_config *c, mbdrv_sink sink, void *sink_ctx,
                                char *err, size_t errlen)
{
    if (check_config(c, err, errlen) < 0)
        return NULL;
    struct mbdrv_bus *b = calloc(1, sizeof(*b));
    if (!b) {
        seterr(err, errlen, "modbus: out of memory");
        return NULL;
    }
    b->cfg = *c;
    b->sink = sink;
    b->sink_ctx = sink_ctx;
    if (c->transport == MBDRV_TCP) {
        char port[16];
        snprintf(port, sizeof(port), "%d", c->port);
        b->ctx = modbus_new_tcp_pi(c->host, port);
    } else {
        b->ctx = modbus_new_rtu(c->device, c->baud, c->parity, c->data_bits, c->stop_bits);
    }
    if (!b->ctx) {
        seterr(err, errlen, "modbus: cannot create context for %s: %s",
               c->transport == MBDRV_TCP ? c->host : c->device, modbus_strerror(errno));
        free(b);
        return NULL;
    }
    b->timeout_set_ns = -1;
    return b;
}

static void device_free(struct device *d)
{
    free(d->image);
    free(d->slots);
    free(d->sw_bus);
    free(d->seen);
}

void mbdrv_bus_free(struct mbdrv_bus *b)
{
    if (!b)
        return;
    if (b->connected)
        modbus_close(b->ctx);
    modbus_free(b->ctx);
    for (int i = 0; i < b->ndevs; i++)
        device_free(&b->devs[i]);
    free(b->devs);
    free(b);
}

static void emit(struct mbdrv_bus *b, struct mbdrv_event *ev)
{
    if (b->sink)
        b->sink(b->sink_ctx, ev);
}

static void event_init(struct mbdrv_event *ev, enum mbdrv_event_kind k, const struct mbdrv_bus *b,
                       const struct device *d, int64_t now_ns)
{
    memset(ev, 0, sizeof(*ev));
    ev->kind = k;
    ev->device = (int)(d - b->devs);
    ev->unit = d->cfg.unit;
    ev->dev_kind = d->cfg.kind;
    ev->t_ns = now_ns;
}

/* ---- poll plans --------------------------------------------------------- */

static bool is_orv3(const struct device *d)
{
    return d->cfg.kind == MBDRV_ORV3_PSU || d->cfg.kind == MBDRV_ORV3_BBU;
}

static const struct orv3_table *table_of(const struct device *d)
{
    return d->cfg.kind == MBDRV_ORV3_PSU ? &orv3_psu_table : &orv3_bbu_table;
}

static int64_t default_interval(enum mbdrv_kind k, int g)
{
    switch (g) {
    case MBDRV_G_IDENTITY:
    case MBDRV_G_CONFIG:
        return MBDRV_ONCE;
    case MBDRV_G_ALARM:
    case MBDRV_G_TELEMETRY:
        return NS_PER_S;
    case MBDRV_G_STATS:
        return 10 * NS_PER_S;
    case MBDRV_G_MODULE:
        return k == MBDRV_SIM_CHASSIS ? 200000000LL : NS_PER_S;
    }
    return MBDRV_NEVER;
}

static int add_span(struct device *d, int start, int words, uint32_t groups, int64_t interval_ns)
{
    if (d->nspans >= MAX_SPANS)
        return -1;
    d->spans[d->nspans++] = (struct span){(uint16_t)start, (uint16_t)words, groups, interval_ns, 0};
    return 0;
}

/* Builds d->spans from the intervals; every span is due at once. */
static int build_plan(const struct mbdrv_bus *b, struct device *d, char *err, size_t errlen)
{
    d->nspans = 0;
    if (is_orv3(d)) {
        struct orv3_span_policy p = {b->cfg.max_span_words, b->cfg.max_hole_words};
        if (d->narrow)
            p = (struct orv3_span_policy){ORV3_OLD_SPAN_WORDS, 0};
        const struct orv3_table *t = table_of(d);
        /* Groups with one interval are planned together (alarms and telemetry
         * at 1 s make one 30-word read of a PSU), fastest first; a slower
         * group leaves out the fields a faster span reads anyway. */
        bool covered[ORV3_MAX_NREGS] = {false};
        uint32_t done = 0;
        for (;;) {
            int64_t iv = 0;
            bool any = false;
            for (int g = 0; g < ORV3_NGROUPS; g++) {
                int64_t giv = d->cfg.interval_ns[g];
                if (!(done & (1u << g)) && giv != MBDRV_NEVER && (!any || giv < iv)) {
                    iv = giv;
                    any = true;
                }
            }
            if (!any)
                break;
            struct orv3_field fields[MAX_FIELDS];
            int nf = 0;
            for (int i = 0; i < t->nfields; i++) {
                const struct orv3_field *f = &t->fields[i];
                if (d->cfg.interval_ns[f->group] == iv && !covered[f->reg])
                    fields[nf++] = *f;
            }
            for (int g = 0; g < ORV3_NGROUPS; g++)
                if (d->cfg.interval_ns[g] == iv)
                    done |= 1u << g;
            struct orv3_table sub = {t->name, fields, nf, t->nregs};
            struct orv3_span out[MAX_SPANS];
            int n = orv3_plan_spans(&sub, ORV3_ALL_GROUPS, &p, out, MAX_SPANS);
            if (n < 0) {
                seterr(err, errlen, "unit %d (%s): cannot plan reads of at most %d words",
                       d->cfg.unit, mbdrv_kind_name(d->cfg.kind), p.max_words);
                return -1;
            }
            for (int k = 0; k < n; k++) {
                if (add_span(d, out[k].start, out[k].words, out[k].groups, iv) < 0)
                    goto too_long;
                for (int r = out[k].start; r < out[k].start + out[k].words; r++)
                    covered[r] = true;
            }
        }
        /* Read-once spans (identity) go first, so that the first report of a
         * device names it; the rest stay fastest first, alarms leading. */
        struct span sorted[MAX_SPANS];
        int ns = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < d->nspans; i++)
                if ((d->spans[i].interval_ns == MBDRV_ONCE) == (pass == 0))
                    sorted[ns++] = d->spans[i];
        memcpy(d->spans, sorted, (size_t)ns * sizeof(sorted[0]));
        return 0;
    }
    int64_t iv = d->cfg.interval_ns[MBDRV_G_MODULE];
    if (iv == MBDRV_NEVER)
        return 0;
    uint32_t g = 1u << MBDRV_G_MODULE;
    if (d->cfg.kind == MBDRV_SIM_CHASSIS) {
        /* Whole slots per span, so a slot is always seen in one piece. */
        int per = b->cfg.max_span_words / RACKMOD_SLOT_FIELDS;
        for (int s = 0; s < d->cfg.count; s += per) {
            int n = d->cfg.count - s < per ? d->cfg.count - s : per;
            if (add_span(d, RACKMOD_SLOT_REG(s, 0), n * RACKMOD_SLOT_FIELDS, g, iv) < 0)
                goto too_long;
        }
    } else {
        for (int p = 0; p < d->cfg.count; p += b->cfg.max_span_words) {
            int n =
                d->cfg.count - p < b->cfg.max_span_words ? d->cfg.count - p : b->cfg.max_span_words;
            if (add_span(d, RACKMOD_SW_REG_BUS(p), n, g, iv) < 0)
                goto too_long;
        }
    }
    return 0;
too_long:
    seterr(err, errlen, "unit %d (%s): poll plan too long (%d spans at most)", d->cfg.unit,
           mbdrv_kind_name(d->cfg.kind), MAX_SPANS);
    return -1;
}

static void all_due(struct device *d, int64_t when_ns)
{
    for (int i = 0; i < d->nspans; i++)
        d->spans[i].next_due_ns = when_ns;
}

static int find_unit(const struct mbdrv_bus *b, int unit)
{
    for (int i = 0; i < b->ndevs; i++)
        if (b->devs[i].cfg.unit == unit)
            return i;
    return -1;
}

static int add(struct mbdrv_bus *b, const struct mbdrv_device_config *c, enum mbdrv_state state,
               char *err, size_t errlen)
{
    const char *kn = mbdrv_kind_name(c->kind);
    if ((unsigned)c->kind > MBDRV_SIM_CHASSIS) {
        seterr(err, errlen, "unit %d: unknown device kind %d", c->unit, (int)c->kind);
        return -1;
    }
    if (c->unit < 1 || c->unit > 247) {
        seterr(err, errlen, "unit %d (%s): unit id must be 1..247", c->unit, kn);
        return -1;
    }
    if (find_unit(b, c->unit) >= 0) {
        seterr(err, errlen, "unit %d (%s): already on the bus", c->unit, kn);
        return -1;
    }
    if (c->kind == MBDRV_SIM_CHASSIS && (c->count < 1 || c->count > RACKMOD_MAX_SLOTS)) {
        seterr(err, errlen, "unit %d (%s): slot count must be 1..%d (got %d)", c->unit, kn,
               RACKMOD_MAX_SLOTS, c->count);
        return -1;
    }
    if (c->kind == MBDRV_SIM_SWITCH &&
        (c->count < 1 || c->count > RACKMOD_MAX_PSUS || c->nbuses < 1 || c->nbuses > 8)) {
        seterr(err, errlen, "unit %d (%s): PSU count must be 1..%d and buses 1..8 (got %d, %d)",
               c->unit, kn, RACKMOD_MAX_PSUS, c->count, c->nbuses);
        return -1;
    }
    for (int g = 0; g < MBDRV_NGROUPS; g++) {
        if (c->interval_ns[g] < 0 || (c->interval_ns[g] > 0 && c->interval_ns[g] < 1000000)) {
            seterr(err, errlen, "unit %d (%s): %s interval must be at least 1 ms", c->unit, kn,
                   g == MBDRV_G_MODULE ? "module" : orv3_group_name((enum orv3_group)g));
            return -1;
        }
    }
    if (grow_to((void **)&b->devs, &b->capdevs, (size_t)b->ndevs + 1, sizeof(*b->devs), 8, 0))
        goto oom;
    struct device *d = &b->devs[b->ndevs];
    memset(d, 0, sizeof(*d));
    d->cfg = *c;
    for (int g = 0; g < MBDRV_NGROUPS; g++)
        if (d->cfg.interval_ns[g] == 0)
            d->cfg.interval_ns[g] = default_interval(c->kind, g);
    switch (c->kind) {
    case MBDRV_ORV3_PSU:
        d->nregs = ORV3_PSU_NREGS;
        break;
    case MBDRV_ORV3_BBU:
        d->nregs = ORV3_BBU_NREGS;
        break;
    case MBDRV_SIM_SWITCH:
        d->nregs = c->count;
        d->sw_bus = calloc((size_t)c->count, sizeof(*d->sw_bus));
        d->seen = calloc((size_t)c->count, sizeof(*d->seen));
        if (!d->sw_bus || !d->seen)
            goto oom_dev;
        break;
    case MBDRV_SIM_CHASSIS:
        d->nregs = c->count * RACKMOD_SLOT_FIELDS;
        d->slots = calloc((size_t)c->count, sizeof(*d->slots));
        d->seen = calloc((size_t)c->count, sizeof(*d->seen));
        if (!d->slots || !d->seen)
            goto oom_dev;
        break;
    }
    d->image = calloc((size_t)d->nregs, sizeof(*d->image));
    if (!d->image)
        goto oom_dev;
    if (build_plan(b, d, err, errlen) < 0) {
        device_free(d);
        return -1;
    }
    orv3_monitor_init(&d->mon, c->kind == MBDRV_ORV3_BBU ? ORV3_DEV_BBU : ORV3_DEV_PSU,
                      &b->cfg.monitor);
    d->st.state = state;
    d->st.last_ok_ns = INT64_MIN;
    d->next_probe_ns = INT64_MIN;
    all_due(d, INT64_MIN);
    return b->ndevs++;
oom_dev:
    device_free(d);
oom:
    seterr(err, errlen, "unit %d (%s): out of memory", c->unit, kn);
    return -1;
}

int mbdrv_add_device(struct mbdrv_bus *b, const struct mbdrv_device_config *c, char *err,
                     size_t errlen)
{
    return add(b, c, MBDRV_LIVE, err, errlen);
}

int mbdrv_discover(struct mbdrv_bus *b, const struct mbdrv_device_config *tmpl,
                   const uint8_t *units, int n, char *err, size_t errlen)
{
    int added = 0;
    for (int i = 0; i < n; i++) {
        if (find_unit(b, units[i]) >= 0)
            continue;
        struct mbdrv_device_config c = *tmpl;
        c.unit = units[i];
        if (add(b, &c, MBDRV_ABSENT, err, errlen) < 0)
            return -1;
        added++;
    }
    return added;
}

/* ---- transactions ------------------------------------------------------- */

enum op { OP_READ, OP_WRITE_REG, OP_WRITE_COIL, OP_WRITE_REGS };

enum outcome {
    ANSWERED,  /* the device replied with data */
    EXCEPTION, /* it replied with an exception: alive, but no data */
    NO_ANSWER, /* timeout, CRC error, garbage, no connection */
};

static const char *op_name(enum op op)
{
    return op == OP_READ         ? "read registers (0x03)"
           : op == OP_WRITE_REG  ? "write register (0x06)"
           : op == OP_WRITE_REGS ? "fenced write (0x10)"
                                 : "write coil (0x05)";
}

static int64_t first_probe_gap(const struct mbdrv_bus *b)
{
    return b->cfg.reprobe_min_ns < b->cfg.reprobe_ns ? b->cfg.reprobe_min_ns : b->cfg.reprobe_ns;
}

/* The wait after a probe without an answer: a dormant unit's doubles up to
 * reprobe_ns; an absent unit (never answered) waits reprobe_ns. */
static int64_t next_probe_gap(const struct mbdrv_bus *b, const struct device *d)
{
    if (d->st.state != MBDRV_DORMANT || d->st.probe_gap_ns <= 0)
        return b->cfg.reprobe_ns;
    return d->st.probe_gap_ns >= b->cfg.reprobe_ns / 2 ? b->cfg.reprobe_ns : 2 * d->st.probe_gap_ns;
}

static void set_state(struct mbdrv_bus *b, struct device *d, enum mbdrv_state to, int64_t now_ns,
                      const char *why)
{
    enum mbdrv_state from = d->st.state;
    if (from == to)
        return;
    d->st.state = to;
    if (to == MBDRV_DORMANT) {
        /* It answered a moment ago: most outages (a restart, a cable
         * re-seated) are short, so the first re-probes come fast; the slow
         * reprobe_ns is for units that stay silent. */
        d->st.dormant_count++;
        d->st.probe_gap_ns = first_probe_gap(b);
        d->next_probe_ns = now_ns + d->st.probe_gap_ns;
    }
    if (to == MBDRV_LIVE) {
        d->st.probe_gap_ns = 0;
        /* Coming back: read everything again, report slots and switches afresh. */
        all_due(d, INT64_MIN);
        if (d->seen)
            memset(d->seen, 0, (size_t)d->cfg.count * sizeof(*d->seen));
    }
    struct mbdrv_event ev;
    event_init(&ev, MBDRV_EV_DEVICE, b, d, now_ns);
    ev.u.dev.from = from;
    ev.u.dev.to = to;
    snprintf(ev.u.dev.why, sizeof(ev.u.dev.why), "%s", why);
    emit(b, &ev);
}

static int ensure_connected(struct mbdrv_bus *b, char *why, size_t whylen)
{
    if (b->connected)
        return 0;
    if (modbus_connect(b->ctx) == -1) {
        int e = errno;
        if (b->cfg.transport == MBDRV_TCP)
            snprintf(why, whylen, "connect %s:%d: %s", b->cfg.host, b->cfg.port,
                     modbus_strerror(e));
        else
            snprintf(why, whylen, "open %s: %s", b->cfg.device, modbus_strerror(e));
        return -1;
    }
    b->connected = true;
    return 0;
}

static void drop_connection(struct mbdrv_bus *b)
{
    if (b->connected)
        modbus_close(b->ctx);
    b->connected = false;
}

/*
 * One try of one transaction. On failure counts it, fills why and returns
 * EXCEPTION (with *exc the code) or NO_ANSWER.
 */
static enum outcome try_once(struct mbdrv_bus *b, struct device *d, enum op op, int addr, int n,
                             uint16_t *regs, int value, int64_t timeout_ns, int *exc, char *why,
                             size_t whylen)
{
    *exc = 0;
    if (b->cfg.idle_gap_ns > 0 && b->last_io_ns)
        sleep_ns(b->last_io_ns + b->cfg.idle_gap_ns - mono_ns());
    /* Set before connecting: libmodbus bounds a TCP connect by it too. */
    if (b->timeout_set_ns != timeout_ns) {
        modbus_set_response_timeout(b->ctx, (uint32_t)(timeout_ns / NS_PER_S),
                                    (uint32_t)(timeout_ns % NS_PER_S / 1000));
        b->timeout_set_ns = timeout_ns;
    }
    if (ensure_connected(b, why, whylen) < 0) {
        d->st.other_errors++;
        b->last_io_ns = mono_ns();
        return NO_ANSWER;
    }
    int rc;
    if (modbus_set_slave(b->ctx, d->cfg.unit) == -1) {
        rc = -1;
    } else if (op == OP_READ) {
        rc = modbus_read_registers(b->ctx, addr, n, regs);
        if (rc >= 0 && rc != n) {
            rc = -1;
            errno = EMBBADDATA;
        }
    } else if (op == OP_WRITE_REG) {
        rc = modbus_write_register(b->ctx, addr, (uint16_t)value);
    } else if (op == OP_WRITE_REGS) {
        rc = modbus_write_registers(b->ctx, addr, n, regs);
    } else {
        rc = modbus_write_bit(b->ctx, addr, value ? 1 : 0);
    }
    int e = errno;
    b->last_io_ns = mono_ns();
    if (rc >= 0)
        return ANSWERED;
    snprintf(why, whylen, "%s", modbus_strerror(e));
    if (e > MODBUS_ENOBASE && e < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX) {
        int code = e - MODBUS_ENOBASE;
        d->st.exceptions++;
        d->st.exc_by_code[code < MBDRV_NEXC ? code : 0]++;
        snprintf(why, whylen, "%s (exception %d)", modbus_strerror(e), code);
        /* A gateway that cannot reach the unit answers for it: not an answer. */
        if (code == MODBUS_EXCEPTION_GATEWAY_PATH || code == MODBUS_EXCEPTION_GATEWAY_TARGET)
            return NO_ANSWER;
        *exc = code;
        return EXCEPTION;
    }
    if (e == ETIMEDOUT) {
        d->st.timeouts++;
    } else if (e == EMBBADCRC) {
        d->st.crc_errors++;
    } else {
        d->st.other_errors++;
        if (e < MODBUS_ENOBASE) /* the socket or the port itself failed: reopen next time */
            drop_connection(b);
    }
    /* A late or partial reply must not be taken for the next one's. */
    if (b->connected)
        modbus_flush(b->ctx);
    return NO_ANSWER;
}

/* Exceptions worth another try: the device is busy or had a passing fault. */
static bool exception_retryable(int code)
{
    return code == MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE ||
           code == MODBUS_EXCEPTION_ACKNOWLEDGE || code == MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY;
}

/*
 * A transaction with its retries. Tracks consecutive failures and makes the
 * device dormant after dormant_after of them (then stops retrying). Returns
 * the outcome of the last try; on failure fills d->st.last_error and err.
 */
static enum outcome transact(struct mbdrv_bus *b, struct device *d, int64_t now_ns, enum op op,
                             int addr, int n, uint16_t *regs, int value, int *exc, char *err,
                             size_t errlen)
{
    char why[160] = "";
    enum outcome o = NO_ANSWER;
    int made = 0;
    while (made < 1 + b->cfg.retries) {
        if (made++ > 0)
            d->st.retries++;
        o = try_once(b, d, op, addr, n, regs, value, b->cfg.response_timeout_ns, exc, why,
                     sizeof(why));
        if (o != NO_ANSWER) {
            d->st.consecutive_failures = 0;
            d->st.last_ok_ns = now_ns;
            if (o == ANSWERED)
                d->st.ok++;
            if (d->st.state != MBDRV_LIVE)
                set_state(b, d, MBDRV_LIVE, now_ns, "answered");
            if (o == ANSWERED || !exception_retryable(*exc))
                break;
            /* a module's refusal of a fenced write is 0x04 too: the caller
             * reads the owner epoch before it tries again */
            if (op == OP_WRITE_REGS && *exc == MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE)
                break;
            continue;
        }
        d->st.consecutive_failures++;
        if (d->st.consecutive_failures >= b->cfg.dormant_after && d->st.state == MBDRV_LIVE) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%d failures in a row, last: %s", d->st.consecutive_failures,
                     why);
            set_state(b, d, MBDRV_DORMANT, now_ns, msg);
            break;
        }
    }
    if (o != ANSWERED) {
        char what[64], tries[32] = "";
        if (op == OP_READ)
            snprintf(what, sizeof(what), "%s %d..%d", op_name(op), addr, addr + n - 1);
        else if (op == OP_WRITE_REGS)
            snprintf(what, sizeof(what), "%s %d..%d, epoch %llu", op_name(op), addr, addr + n - 1,
                     (unsigned long long)b->epoch);
        else
            snprintf(what, sizeof(what), "%s %d = %d", op_name(op), addr, value);
        if (made > 1)
            snprintf(tries, sizeof(tries), " (%d tries)", made);
        snprintf(d->st.last_error, sizeof(d->st.last_error), "unit %d (%s): %s: %s%s", d->cfg.unit,
                 mbdrv_kind_name(d->cfg.kind), what, why, tries);
        seterr(err, errlen, "%s", d->st.last_error);
    }
    return o;
}

/* ---- reading spans and reporting ---------------------------------------- */

static void report_health(struct mbdrv_bus *b, struct device *d, int64_t now_ns,
                          const struct orv3_event *evs, int n)
{
    for (int i = 0; i < n; i++) {
        struct mbdrv_event ev;
        event_init(&ev, MBDRV_EV_HEALTH, b, d, now_ns);
        ev.u.health = evs[i];
        emit(b, &ev);
    }
}

static void after_orv3_read(struct mbdrv_bus *b, struct device *d, const struct span *s,
                            int64_t now_ns)
{
    uint32_t live = ORV3_GROUP_BIT(ORV3_G_ALARM) | ORV3_GROUP_BIT(ORV3_G_TELEMETRY);
    if (!(s->groups & live))
        return;
    struct mbdrv_event ev;
    struct orv3_event hev[ORV3_MONITOR_MAX_EVENTS];
    int nh = 0;
    if (d->cfg.kind == MBDRV_ORV3_PSU) {
        event_init(&ev, MBDRV_EV_PSU, b, d, now_ns);
        orv3_psu_decode(d->image, &ev.u.psu);
        emit(b, &ev);
        if (s->groups & ORV3_GROUP_BIT(ORV3_G_ALARM))
            nh = orv3_monitor_feed_psu(&d->mon, now_ns, &ev.u.psu, hev);
    } else {
        event_init(&ev, MBDRV_EV_BBU, b, d, now_ns);
        orv3_bbu_decode(d->image, &ev.u.bbu);
        emit(b, &ev);
        if (s->groups & ORV3_GROUP_BIT(ORV3_G_ALARM))
            nh = orv3_monitor_feed_bbu(&d->mon, now_ns, &ev.u.bbu, hev);
    }
    report_health(b, d, now_ns, hev, nh);
    /* A new health waits for debounce_reads reads: take them soon, not in a second. */
    if (orv3_monitor_pending(&d->mon))
        for (int i = 0; i < d->nspans; i++)
            if ((d->spans[i].groups & ORV3_GROUP_BIT(ORV3_G_ALARM)) &&
                d->spans[i].next_due_ns > now_ns + b->cfg.confirm_ns)
                d->spans[i].next_due_ns = now_ns + b->cfg.confirm_ns;
}

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

static void after_chassis_read(struct mbdrv_bus *b, struct device *d, const struct span *s,
                               int64_t now_ns)
{
    int first = s->start / RACKMOD_SLOT_FIELDS;
    int last = (s->start + s->words) / RACKMOD_SLOT_FIELDS;
    for (int k = first; k < last && k < d->cfg.count; k++) {
        const uint16_t *r = d->image + RACKMOD_SLOT_REG(k, 0);
        struct mbdrv_slot n = {
            .slot = k,
            .present = r[RACKMOD_SLOT_PRESENT] != 0,
            .state = r[RACKMOD_SLOT_STATE],
            .ask = r[RACKMOD_SLOT_ASK],
            .request_mw = (int64_t)r[RACKMOD_SLOT_REQUEST_W] * 1000,
            .cap_mw = (int64_t)r[RACKMOD_SLOT_CAP_W] * 1000,
            .draw_mw = (int64_t)r[RACKMOD_SLOT_DRAW_W] * 1000,
            .changes = r[RACKMOD_SLOT_CHANGES],
            .lost = r[RACKMOD_SLOT_LOST],
        };
        struct mbdrv_slot *o = &d->slots[k];
        unsigned ch = 0;
        if (!d->seen[k]) {
            ch = MBDRV_SLOT_FIRST;
        } else {
            ch |= n.present != o->present ? MBDRV_SLOT_PRESENT : 0;
            ch |= n.request_mw != o->request_mw ? MBDRV_SLOT_REQUEST : 0;
            ch |= n.state != o->state ? MBDRV_SLOT_STATE : 0;
            ch |= n.cap_mw != o->cap_mw ? MBDRV_SLOT_CAP : 0;
            ch |= n.ask != o->ask ? MBDRV_SLOT_ASK : 0;
            ch |= n.changes != o->changes ? MBDRV_SLOT_CHANGES : 0;
            ch |= n.lost != o->lost ? MBDRV_SLOT_LOST : 0;
            if (n.draw_mw != o->draw_mw &&
                (abs64(n.draw_mw - o->draw_mw) >= b->cfg.draw_deadband_mw || n.draw_mw == 0 ||
                 o->draw_mw == 0))
                ch |= MBDRV_SLOT_DRAW;
        }
        if (!ch)
            continue;
        if (!(ch & (MBDRV_SLOT_DRAW | MBDRV_SLOT_FIRST)))
            n.draw_mw = o->draw_mw; /* keep the reported draw as the deadband's reference */
        n.changed = ch;
        *o = n;
        d->seen[k] = true;
        struct mbdrv_event ev;
        event_init(&ev, MBDRV_EV_SLOT, b, d, now_ns);
        ev.u.slot = n;
        ev.u.slot.draw_mw = (int64_t)r[RACKMOD_SLOT_DRAW_W] * 1000;
        emit(b, &ev);
    }
}

static void after_switch_read(struct mbdrv_bus *b, struct device *d, const struct span *s,
                              int64_t now_ns)
{
    for (int p = s->start; p < s->start + s->words && p < d->cfg.count; p++) {
        int bus = (int)d->image[RACKMOD_SW_REG_BUS(p)] - 1;
        if (d->seen[p] && bus == d->sw_bus[p])
            continue;
        struct mbdrv_event ev;
        event_init(&ev, MBDRV_EV_SWITCH, b, d, now_ns);
        ev.u.sw.psu = p;
        ev.u.sw.bus = bus;
        ev.u.sw.prev_bus = d->seen[p] ? d->sw_bus[p] : -1;
        d->sw_bus[p] = bus;
        d->seen[p] = true;
        emit(b, &ev);
    }
}

/* An old PSU refusing a long or holed read: plan again at 16 words without holes. */
static bool narrow_plan(struct mbdrv_bus *b, struct device *d, const struct span *s, int exc)
{
    if (!is_orv3(d) || d->narrow ||
        (exc != MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS &&
         exc != MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE))
        return false;
    int wanted = 0;
    const struct orv3_table *t = table_of(d);
    for (int i = 0; i < t->nfields; i++)
        if (t->fields[i].reg >= s->start && t->fields[i].reg < s->start + s->words)
            wanted += t->fields[i].words;
    if (s->words <= ORV3_OLD_SPAN_WORDS && wanted == s->words)
        return false; /* nothing to narrow: the device lacks these registers */
    struct span saved[MAX_SPANS];
    int nsaved = d->nspans;
    memcpy(saved, d->spans, sizeof(saved));
    d->narrow = true;
    if (build_plan(b, d, NULL, 0) < 0) {
        memcpy(d->spans, saved, sizeof(saved));
        d->nspans = nsaved;
        return false;
    }
    all_due(d, INT64_MIN);
    return true;
}

static void read_span(struct mbdrv_bus *b, struct device *d, int si, int64_t now_ns)
{
    struct span *s = &d->spans[si];
    uint16_t regs[125];
    int exc = 0;
    enum outcome o = transact(b, d, now_ns, OP_READ, s->start, s->words, regs, 0, &exc, NULL, 0);
    if (o == ANSWERED) {
        memcpy(d->image + s->start, regs, (size_t)s->words * sizeof(regs[0]));
        s->next_due_ns = s->interval_ns == MBDRV_ONCE ? INT64_MAX : now_ns + s->interval_ns;
        struct span copy = *s;
        if (is_orv3(d))
            after_orv3_read(b, d, &copy, now_ns);
        else if (d->cfg.kind == MBDRV_SIM_CHASSIS)
            after_chassis_read(b, d, &copy, now_ns);
        else
            after_switch_read(b, d, &copy, now_ns);
        return;
    }
    if (o == EXCEPTION && narrow_plan(b, d, s, exc)) {
        size_t len = strlen(d->st.last_error);
        snprintf(d->st.last_error + len, sizeof(d->st.last_error) - len,
                 "; now reading %d words at most, without holes", ORV3_OLD_SPAN_WORDS);
        return;
    }
    int64_t iv = s->interval_ns == MBDRV_ONCE ? ONCE_RETRY_NS : s->interval_ns;
    s->next_due_ns = now_ns + iv;
    if (o == NO_ANSWER)
        d->failed_round = b->round;
    if (is_orv3(d) && o == NO_ANSWER) {
        struct orv3_event hev[ORV3_MONITOR_MAX_EVENTS];
        int nh = orv3_monitor_feed_fail(&d->mon, now_ns, hev);
        report_health(b, d, now_ns, hev, nh);
    }
}

static void probe(struct mbdrv_bus *b, struct device *d, int64_t now_ns)
{
    int reg = is_orv3(d) ? ORV3_PROBE_REG : 0;
    uint16_t v;
    int exc;
    char why[160];
    d->st.probes++;
    enum outcome o =
        try_once(b, d, OP_READ, reg, 1, &v, 0, b->cfg.probe_timeout_ns, &exc, why, sizeof(why));
    if (o == NO_ANSWER) {
        d->st.probe_gap_ns = next_probe_gap(b, d);
        d->next_probe_ns = now_ns + d->st.probe_gap_ns;
        snprintf(d->st.last_error, sizeof(d->st.last_error),
                 "unit %d (%s): probe of register %d: %s", d->cfg.unit,
                 mbdrv_kind_name(d->cfg.kind), reg, why);
        return;
    }
    /* An exception is an answer too: something lives at that address. */
    d->st.probes_ok++;
    if (o == ANSWERED)
        d->st.ok++;
    d->st.consecutive_failures = 0;
    d->st.last_ok_ns = now_ns;
    set_state(b, d, MBDRV_LIVE, now_ns,
              d->st.state == MBDRV_ABSENT ? "found by discovery" : "answered a re-probe");
}

/*
 * TCP: while the connection is down and units are dormant (the gateway or
 * simulator went away), a connect is tried every round: refused, it costs
 * nothing; accepted, the other end is back, so the dormant units are probed
 * now rather than at their backed-off time, however long they were gone.
 */
static void reconnect_dormant(struct mbdrv_bus *b, int64_t now_ns)
{
    if (b->cfg.transport != MBDRV_TCP || b->connected)
        return;
    bool dormant = false;
    for (int i = 0; i < b->ndevs && !dormant; i++)
        dormant = b->devs[i].st.state == MBDRV_DORMANT;
    char why[160];
    if (!dormant || ensure_connected(b, why, sizeof(why)) < 0)
        return;
    for (int i = 0; i < b->ndevs; i++)
        if (b->devs[i].st.state == MBDRV_DORMANT && b->devs[i].next_probe_ns > now_ns)
            b->devs[i].next_probe_ns = now_ns;
}

/* The dormant unit due first (absent ones too unless only_dormant), -1 for
 * none. */
static int due_probe(const struct mbdrv_bus *b, int64_t now_ns, bool only_dormant)
{
    int pick = -1;
    for (int i = 0; i < b->ndevs; i++) {
        const struct device *d = &b->devs[i];
        if (d->st.state == MBDRV_LIVE || (only_dormant && d->st.state != MBDRV_DORMANT))
            continue;
        if (d->next_probe_ns <= now_ns &&
            (pick < 0 || d->next_probe_ns < b->devs[pick].next_probe_ns))
            pick = i;
    }
    return pick;
}

static int due_span(const struct device *d, int64_t now_ns)
{
    int best = -1;
    for (int i = 0; i < d->nspans; i++)
        if (d->spans[i].next_due_ns <= now_ns &&
            (best < 0 || d->spans[i].next_due_ns < d->spans[best].next_due_ns))
            best = i;
    return best;
}

static bool past(int64_t deadline_ns)
{
    return deadline_ns > 0 && mono_ns() >= deadline_ns;
}

int mbdrv_poll_once(struct mbdrv_bus *b, int64_t now_ns, int64_t deadline_ns)
{
    int done = 0;
    b->now_ns = now_ns;
    b->round++;
    while (b->ndevs > 0 && !past(deadline_ns)) {
        int pick = -1, si = -1;
        for (int k = 0; k < b->ndevs; k++) {
            int i = (b->cursor + k) % b->ndevs;
            /* A device that just failed a span after its retries waits for
             * the next round: a dying device costs one span's tries per round. */
            if (b->devs[i].st.state != MBDRV_LIVE || b->devs[i].failed_round == b->round)
                continue;
            si = due_span(&b->devs[i], now_ns);
            if (si >= 0) {
                pick = i;
                break;
            }
        }
        if (pick < 0)
            break;
        b->cursor = (pick + 1) % b->ndevs;
        read_span(b, &b->devs[pick], si, now_ns);
        done++;
    }
    if (!past(deadline_ns))
        reconnect_dormant(b, now_ns);
    /* One probe without an answer per round at most: an empty address costs
     * one probe timeout per round, never a stall of the live devices. */
    bool peer_back = false;
    int pick;
    while (!past(deadline_ns) && (pick = due_probe(b, now_ns, peer_back)) >= 0) {
        struct device *d = &b->devs[pick];
        bool was_dormant = d->st.state == MBDRV_DORMANT;
        probe(b, d, now_ns);
        done++;
        if (d->st.state != MBDRV_LIVE || !was_dormant)
            break;
        /* A dormant unit answered: the bus or its gateway is likely back, so
         * the other dormant units are asked now, not at their own time. */
        if (!peer_back)
            for (int i = 0; i < b->ndevs; i++)
                if (b->devs[i].st.state == MBDRV_DORMANT && b->devs[i].next_probe_ns > now_ns)
                    b->devs[i].next_probe_ns = now_ns;
        peer_back = true;
    }
    return done;
}

int64_t mbdrv_next_due_ns(const struct mbdrv_bus *b)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < b->ndevs; i++) {
        const struct device *d = &b->devs[i];
        if (d->st.state != MBDRV_LIVE) {
            if (d->next_probe_ns < next)
                next = d->next_probe_ns;
            continue;
        }
        for (int k = 0; k < d->nspans; k++)
            if (d->spans[k].next_due_ns < next)
                next = d->spans[k].next_due_ns;
    }
    /* "At once" is kept as INT64_MIN inside; callers subtract their now. */
    return next < b->now_ns ? b->now_ns : next;
}

int mbdrv_wait(struct mbdrv_bus *b, int fd, int64_t timeout_ns)
{
    /* Callers may pass next_due - now with nothing due (INT64_MAX): a day
     * is as good as forever and keeps the arithmetic below from overflowing. */
    if (timeout_ns < 0)
        timeout_ns = 0;
    if (timeout_ns > 86400 * NS_PER_S)
        timeout_ns = 86400 * NS_PER_S;
    if (fd < 0) {
        sleep_ns(timeout_ns);
        return 0;
    }
    int64_t end = mono_ns() + timeout_ns;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc;
    for (;;) {
        int64_t left = end - mono_ns();
        if (left < 0)
            left = 0;
        int ms = (int)((left + 999999) / 1000000);
        rc = poll(&p, 1, ms);
        if (rc >= 0 || errno != EINTR)
            break;
    }
    if (rc <= 0)
        return rc;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1; /* error, or the alert line's writer is gone */
    /* An alert line that names its units ("unit 203\n" per alert) makes only
     * those due, so the one that raised it is read first and alone; any
     * other byte counts as an alert from anyone. */
    buf[n] = '\0';
    int named[64], nnamed = 0;
    bool all = false;
    for (char *c = buf; *c && !all;) {
        int unit, used = 0;
        if (sscanf(c, "unit %d%n", &unit, &used) == 1 && used > 0 && nnamed < 64) {
            named[nnamed++] = unit;
            c += used;
            while (*c == '\n' || *c == '\r')
                c++;
        } else {
            all = true;
        }
    }
    if (!nnamed)
        all = true;
    for (int i = 0; i < b->ndevs; i++) {
        struct device *d = &b->devs[i];
        if (d->st.state != MBDRV_LIVE)
            continue;
        bool hit = all;
        for (int k = 0; k < nnamed && !hit; k++)
            hit = named[k] == d->cfg.unit;
        if (!hit)
            continue;
        for (int k = 0; k < d->nspans; k++)
            if ((d->spans[k].groups & ORV3_GROUP_BIT(ORV3_G_ALARM)) ||
                d->cfg.kind == MBDRV_SIM_CHASSIS)
                d->spans[k].next_due_ns = INT64_MIN;
    }
    return 1;
}

void mbdrv_refresh(struct mbdrv_bus *b, int dev)
{
    if (dev >= 0 && dev < b->ndevs)
        all_due(&b->devs[dev], INT64_MIN);
}

int mbdrv_device_count(const struct mbdrv_bus *b)
{
    return b->ndevs;
}

int mbdrv_device_stats(const struct mbdrv_bus *b, int dev, struct mbdrv_stats *out)
{
    if (dev < 0 || dev >= b->ndevs)
        return -1;
    *out = b->devs[dev].st;
    return 0;
}

int mbdrv_device_unit(const struct mbdrv_bus *b, int dev)
{
    return dev >= 0 && dev < b->ndevs ? b->devs[dev].cfg.unit : -1;
}

int mbdrv_device_plan(const struct mbdrv_bus *b, int dev, struct mbdrv_plan_entry *out, int cap)
{
    if (dev < 0 || dev >= b->ndevs)
        return -1;
    const struct device *d = &b->devs[dev];
    int n = 0;
    for (int i = 0; i < d->nspans && n < cap; i++, n++)
        out[n] = (struct mbdrv_plan_entry){d->spans[i].start, d->spans[i].words, d->spans[i].groups,
                                           d->spans[i].interval_ns, d->spans[i].next_due_ns};
    return n;
}

/* ---- writes ------------------------------------------------------------- */

static struct device *writable(struct mbdrv_bus *b, int dev, int want_kind, char *err,
                               size_t errlen)
{
    if (dev < 0 || dev >= b->ndevs) {
        seterr(err, errlen, "modbus: no device %d on this bus", dev);
        return NULL;
    }
    struct device *d = &b->devs[dev];
    if (want_kind >= 0 && d->cfg.kind != (enum mbdrv_kind)want_kind) {
        seterr(err, errlen, "unit %d (%s): not a %s", d->cfg.unit, mbdrv_kind_name(d->cfg.kind),
               mbdrv_kind_name((enum mbdrv_kind)want_kind));
        return NULL;
    }
    return d;
}

/* The devices that keep an owner epoch and take fenced commands (rackmod.h
 * "Fencing"): the switch and chassis modules, and PSUs with rackpower's
 * extension. */
static bool keeps_owner_epoch(const struct device *d)
{
    return d->cfg.kind == MBDRV_SIM_SWITCH || d->cfg.kind == MBDRV_SIM_CHASSIS ||
           (d->cfg.kind == MBDRV_ORV3_PSU && d->cfg.ext);
}

/* Device dev when it keeps an owner epoch, else NULL and why. */
static struct device *epoch_device(struct mbdrv_bus *b, int dev, char *err, size_t errlen)
{
    struct device *d = writable(b, dev, -1, err, errlen);
    if (d && !keeps_owner_epoch(d)) {
        seterr(err, errlen, "unit %d (%s): has no owner epoch", d->cfg.unit,
               mbdrv_kind_name(d->cfg.kind));
        return NULL;
    }
    return d;
}

/* The one read of a module's owner epoch, for the poll's read-back, a
 * refused fenced command and a refused bare write: 0 and *owner, or -1 and
 * why it did not answer. */
static int read_owner_epoch(struct mbdrv_bus *b, struct device *d, uint64_t *owner, char *err,
                            size_t errlen)
{
    uint16_t w[RACKMOD_EPOCH_WORDS];
    int exc;
    *owner = 0;
    if (transact(b, d, b->now_ns, OP_READ, RACKMOD_OWNER_EPOCH, RACKMOD_EPOCH_WORDS, w, 0, &exc,
                 err, errlen) != ANSWERED)
        return -1;
    *owner = rackmod_epoch_get(w);
    return 0;
}

static int do_write(struct mbdrv_bus *b, struct device *d, enum op op, int addr, int value,
                    char *err, size_t errlen)
{
    int exc;
    d->st.writes++;
    enum outcome o = transact(b, d, b->now_ns, op, addr, 1, NULL, value, &exc, err, errlen);
    if (o != ANSWERED) {
        d->st.write_errors++;
        /* a module a cluster has fenced refuses bare writes: say so, the
         * operator of a lone controller would not guess it from a 0x04 */
        uint64_t owner;
        if (o == EXCEPTION && exc == MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE &&
            keeps_owner_epoch(d) && read_owner_epoch(b, d, &owner, NULL, 0) == 0 && owner != 0)
            seterr(err, errlen,
                   "unit %d (%s): %s %d refused: the module is fenced by a cluster's epoch %llu "
                   "and takes only commands that carry one (docs/controllers.md)",
                   d->cfg.unit, mbdrv_kind_name(d->cfg.kind), op_name(op), addr,
                   (unsigned long long)owner);
        return -1;
    }
    return 0;
}

/*
 * A command with the bus's epoch (rackmod.h "Fencing"): the epoch words and
 * the command's words in one 0x10 request. A refusal (0x04) is checked by
 * reading the module's owner epoch: higher than ours, the module was fenced
 * by a newer primary: -2, and fenced_by says by what; no retry. Otherwise it
 * was an ordinary failure of the device, and the write is tried again.
 */
#define MAX_FENCED_CMD_WORDS (3 * RACKMOD_SLOT_CMD_WORDS)

static int do_fenced(struct mbdrv_bus *b, struct device *d, const uint16_t *cmd, int ncmd,
                     char *err, size_t errlen)
{
    uint16_t words[RACKMOD_EPOCH_WORDS + MAX_FENCED_CMD_WORDS];
    rackmod_epoch_put(b->epoch, words);
    if (ncmd > 0)
        memcpy(words + RACKMOD_EPOCH_WORDS, cmd, (size_t)ncmd * sizeof(*cmd));
    int n = RACKMOD_EPOCH_WORDS + ncmd, exc;
    for (int again = 0; again < 2; again++) {
        d->st.writes++;
        enum outcome o = transact(b, d, b->now_ns, OP_WRITE_REGS, RACKMOD_FENCED_CMD, n, words, 0,
                                  &exc, err, errlen);
        if (o == ANSWERED)
            return 0;
        d->st.write_errors++;
        if (o != EXCEPTION || exc != MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE)
            return -1;
        uint64_t seen;
        char rerr[200];
        if (read_owner_epoch(b, d, &seen, rerr, sizeof(rerr)) < 0) {
            seterr(err, errlen,
                   "unit %d (%s): refused (exception 4), and its owner epoch "
                   "could not be read: %s",
                   d->cfg.unit, mbdrv_kind_name(d->cfg.kind), rerr);
            return -1;
        }
        if (!rackmod_fence_check(seen, b->epoch)) {
            if (seen > b->fenced_by)
                b->fenced_by = seen;
            snprintf(d->st.last_error, sizeof(d->st.last_error),
                     "unit %d (%s): fenced: it holds epoch %llu, higher than ours (%llu)",
                     d->cfg.unit, mbdrv_kind_name(d->cfg.kind), (unsigned long long)seen,
                     (unsigned long long)b->epoch);
            seterr(err, errlen, "%s", d->st.last_error);
            return -2;
        }
    }
    return -1;
}

/* Slot `slot` of chassis module dev, or NULL and why. */
static struct device *chassis_slot(struct mbdrv_bus *b, int dev, int slot, char *err, size_t errlen)
{
    struct device *d = writable(b, dev, MBDRV_SIM_CHASSIS, err, errlen);
    if (d && (slot < 0 || slot >= d->cfg.count)) {
        seterr(err, errlen, "unit %d (%s): no slot %d (it has %d)", d->cfg.unit,
               mbdrv_kind_name(d->cfg.kind), slot, d->cfg.count);
        return NULL;
    }
    return d;
}

/* One command to a module: in a cluster the fenced command cmd (with the
 * bus's epoch), else the bare write of value to the coil or register addr;
 * done, the module is read back at the next poll. */
static int command(struct mbdrv_bus *b, struct device *d, const uint16_t *cmd, int ncmd, enum op op,
                   int addr, int value, char *err, size_t errlen)
{
    int rc = b->epoch ? do_fenced(b, d, cmd, ncmd, err, errlen)
                      : do_write(b, d, op, addr, value, err, errlen);
    if (rc == 0)
        all_due(d, INT64_MIN);
    return rc;
}

/* A cap in whole watts, as the modules take it; -1 and why when out of range. */
static int cap_w(const struct device *d, int slot, int64_t cap_mw, char *err, size_t errlen)
{
    if (cap_mw < 0 || cap_mw / 1000 > UINT16_MAX) {
        seterr(err, errlen, "unit %d (%s): slot %d: cap %lld mW is outside 0..%d W", d->cfg.unit,
               mbdrv_kind_name(d->cfg.kind), slot, (long long)cap_mw, UINT16_MAX);
        return -1;
    }
    return (int)(cap_mw / 1000);
}

int mbdrv_set_switch(struct mbdrv_bus *b, int dev, int psu, int bus, bool on, char *err,
                     size_t errlen)
{
    struct device *d = writable(b, dev, MBDRV_SIM_SWITCH, err, errlen);
    if (!d)
        return -1;
    if (psu < 0 || psu >= d->cfg.count || bus < 0 || bus >= d->cfg.nbuses) {
        seterr(err, errlen, "unit %d (%s): no PSU %d / bus %d (it has %d PSUs, %d buses)",
               d->cfg.unit, mbdrv_kind_name(d->cfg.kind), psu, bus, d->cfg.count, d->cfg.nbuses);
        return -1;
    }
    /* fenced: one position per PSU, so opening it opens it from any bus */
    const uint16_t cmd[RACKMOD_SW_CMD_WORDS] = {(uint16_t)psu, on ? (uint16_t)(bus + 1) : 0};
    return command(b, d, cmd, RACKMOD_SW_CMD_WORDS, OP_WRITE_COIL, RACKMOD_SW_COIL(psu, bus), on,
                   err, errlen);
}

int mbdrv_set_slot_power(struct mbdrv_bus *b, int dev, int slot, bool on, char *err, size_t errlen)
{
    struct device *d = chassis_slot(b, dev, slot, err, errlen);
    const uint16_t cmd[] = {(uint16_t)slot, RACKMOD_OP_POWER, on};
    return d ? command(b, d, cmd, RACKMOD_SLOT_CMD_WORDS, OP_WRITE_COIL, RACKMOD_SLOT_COIL(slot),
                       on, err, errlen)
             : -1;
}

int mbdrv_set_slot_cap(struct mbdrv_bus *b, int dev, int slot, int64_t cap_mw, char *err,
                       size_t errlen)
{
    struct device *d = chassis_slot(b, dev, slot, err, errlen);
    int w = d ? cap_w(d, slot, cap_mw, err, errlen) : -1;
    if (w < 0)
        return -1;
    const uint16_t cmd[] = {(uint16_t)slot, RACKMOD_OP_CAP_W, (uint16_t)w};
    return command(b, d, cmd, RACKMOD_SLOT_CMD_WORDS, OP_WRITE_REG,
                   RACKMOD_SLOT_REG(slot, RACKMOD_SLOT_CAP_W), w, err, errlen);
}

int mbdrv_grant_slot(struct mbdrv_bus *b, int dev, int slot, int64_t cap_mw, char *err,
                     size_t errlen)
{
    struct device *d = chassis_slot(b, dev, slot, err, errlen);
    if (!d)
        return -1;
    if (!b->epoch)
        return mbdrv_set_slot_cap(b, dev, slot, cap_mw, err, errlen) ||
                       mbdrv_set_slot_power(b, dev, slot, true, err, errlen) ||
                       mbdrv_clear_ask(b, dev, slot, err, errlen)
                   ? -1
                   : 0;
    int w = cap_w(d, slot, cap_mw, err, errlen);
    if (w < 0)
        return -1;
    uint16_t s = (uint16_t)slot;
    const uint16_t cmd[] = {
        s, RACKMOD_OP_CAP_W, (uint16_t)w, s, RACKMOD_OP_POWER, 1, s, RACKMOD_OP_CLEAR_ASK, 0};
    _Static_assert(sizeof(cmd) / sizeof(cmd[0]) <= MAX_FENCED_CMD_WORDS, "fits the request");
    int rc = do_fenced(b, d, cmd, (int)(sizeof(cmd) / sizeof(cmd[0])), err, errlen);
    if (rc == 0)
        all_due(d, INT64_MIN);
    return rc;
}

int mbdrv_clear_ask(struct mbdrv_bus *b, int dev, int slot, char *err, size_t errlen)
{
    struct device *d = chassis_slot(b, dev, slot, err, errlen);
    const uint16_t cmd[] = {(uint16_t)slot, RACKMOD_OP_CLEAR_ASK, 0};
    return d ? command(b, d, cmd, RACKMOD_SLOT_CMD_WORDS, OP_WRITE_REG,
                       RACKMOD_SLOT_REG(slot, RACKMOD_SLOT_ASK), RACKMOD_ASK_NONE, err, errlen)
             : -1;
}

int mbdrv_clear_lost(struct mbdrv_bus *b, int dev, int slot, char *err, size_t errlen)
{
    struct device *d = chassis_slot(b, dev, slot, err, errlen);
    const uint16_t cmd[] = {(uint16_t)slot, RACKMOD_OP_CLEAR_LOST, 0};
    return d ? command(b, d, cmd, RACKMOD_SLOT_CMD_WORDS, OP_WRITE_REG,
                       RACKMOD_SLOT_REG(slot, RACKMOD_SLOT_LOST), 0, err, errlen)
             : -1;
}

int mbdrv_write_register(struct mbdrv_bus *b, int dev, int reg, uint16_t value, char *err,
                         size_t errlen)
{
    struct device *d = writable(b, dev, -1, err, errlen);
    if (!d)
        return -1;
    if (reg < 0 || reg > 0xffff) {
        seterr(err, errlen, "unit %d: register %d out of range", d->cfg.unit, reg);
        return -1;
    }
    return do_write(b, d, OP_WRITE_REG, reg, value, err, errlen);
}

int mbdrv_write_coil(struct mbdrv_bus *b, int dev, int coil, bool on, char *err, size_t errlen)
{
    struct device *d = writable(b, dev, -1, err, errlen);
    if (!d)
        return -1;
    if (coil < 0 || coil > 0xffff) {
        seterr(err, errlen, "unit %d: coil %d out of range", d->cfg.unit, coil);
        return -1;
    }
    return do_write(b, d, OP_WRITE_COIL, coil, on, err, errlen);
}

void mbdrv_set_epoch(struct mbdrv_bus *b, uint64_t epoch)
{
    b->epoch = epoch;
    if (!rackmod_fence_check(b->fenced_by, epoch) || epoch == 0)
        return;
    b->fenced_by = 0; /* a higher epoch of ours: the refusals seen are past */
}

uint64_t mbdrv_epoch(const struct mbdrv_bus *b)
{
    return b->epoch;
}

uint64_t mbdrv_fenced_by(const struct mbdrv_bus *b)
{
    return b->fenced_by;
}

bool mbdrv_is_command_device(const struct mbdrv_bus *b, int dev)
{
    return dev >= 0 && dev < b->ndevs && keeps_owner_epoch(&b->devs[dev]);
}

int mbdrv_fence(struct mbdrv_bus *b, int dev, uint64_t *seen, char *err, size_t errlen)
{
    *seen = 0;
    struct device *d = epoch_device(b, dev, err, errlen);
    if (!d)
        return -1;
    if (b->epoch == 0) {
        seterr(err, errlen, "unit %d (%s): no epoch to fence with", d->cfg.unit,
               mbdrv_kind_name(d->cfg.kind));
        return -1;
    }
    int rc = do_fenced(b, d, NULL, 0, err, errlen);
    if (rc == -2)
        *seen = b->fenced_by;
    return rc;
}

int mbdrv_owner_epoch(struct mbdrv_bus *b, int dev, uint64_t *owner, char *err, size_t errlen)
{
    *owner = 0;
    struct device *d = epoch_device(b, dev, err, errlen);
    return d ? read_owner_epoch(b, d, owner, err, errlen) : -1;
}

/* An orv3-psu with the extension, or NULL and why. */
static struct device *ext_psu(struct mbdrv_bus *b, int dev, char *err, size_t errlen)
{
    struct device *d = writable(b, dev, MBDRV_ORV3_PSU, err, errlen);
    if (d && !d->cfg.ext) {
        seterr(err, errlen, "unit %d (%s): has no rackpower extension (extension: rackpower)",
               d->cfg.unit, mbdrv_kind_name(d->cfg.kind));
        return NULL;
    }
    return d;
}

int mbdrv_psu_ext_read(struct mbdrv_bus *b, int dev, int *standby, int *share, char *err,
                       size_t errlen)
{
    struct device *d = ext_psu(b, dev, err, errlen);
    if (!d)
        return -1;
    uint16_t w[RACKMOD_PSU_STATE_WORDS];
    int exc;
    enum outcome o = transact(b, d, b->now_ns, OP_READ, RACKMOD_PSU_STATE, RACKMOD_PSU_STATE_WORDS,
                              w, 0, &exc, err, errlen);
    if (o == EXCEPTION && exc == MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS)
        return -3;
    if (o != ANSWERED)
        return -1;
    *standby = w[0];
    *share = w[1];
    return 0;
}

int mbdrv_psu_command(struct mbdrv_bus *b, int dev, int op, int value, char *err, size_t errlen)
{
    struct device *d = ext_psu(b, dev, err, errlen);
    if (!d)
        return -1;
    if ((op != RACKMOD_PSU_OP_STANDBY && op != RACKMOD_PSU_OP_SHARE) || value < 0 ||
        value > (op == RACKMOD_PSU_OP_STANDBY ? 1 : RACKMOD_SHARE_SCALE)) {
        seterr(err, errlen, "unit %d (%s): no command op %d = %d (1 standby 0/1, 2 share 0..%d)",
               d->cfg.unit, mbdrv_kind_name(d->cfg.kind), op, value, RACKMOD_SHARE_SCALE);
        return -1;
    }
    const uint16_t cmd[RACKMOD_PSU_CMD_WORDS] = {(uint16_t)op, (uint16_t)value};
    uint64_t was = b->fenced_by;
    int rc = do_fenced(b, d, cmd, RACKMOD_PSU_CMD_WORDS, err, errlen);
    if (rc == -2 && b->epoch == 0) {
        /* a lone controller is not replaced by anyone: the PSU belongs to a
         * cluster, which is the operator's to sort out (as a bare write to a
         * fenced module) */
        uint64_t seen = b->fenced_by;
        b->fenced_by = was;
        seterr(err, errlen,
               "unit %d (%s): refused: the PSU is fenced by a cluster's epoch %llu and this "
               "controller has none (docs/controllers.md)",
               d->cfg.unit, mbdrv_kind_name(d->cfg.kind), (unsigned long long)seen);
        return -1;
    }
    return rc;
}

int mbdrv_last_slot(const struct mbdrv_bus *b, int dev, int slot, struct mbdrv_slot *out)
{
    if (dev < 0 || dev >= b->ndevs || b->devs[dev].cfg.kind != MBDRV_SIM_CHASSIS)
        return -1;
    const struct device *d = &b->devs[dev];
    if (slot < 0 || slot >= d->cfg.count || !d->seen[slot])
        return -1;
    *out = d->slots[slot];
    return 0;
}

int mbdrv_last_switch(const struct mbdrv_bus *b, int dev, int psu, int *bus)
{
    if (dev < 0 || dev >= b->ndevs || b->devs[dev].cfg.kind != MBDRV_SIM_SWITCH)
        return -1;
    const struct device *d = &b->devs[dev];
    if (psu < 0 || psu >= d->cfg.count || !d->seen[psu])
        return -1;
    *bus = d->sw_bus[psu];
    return 0;
}
