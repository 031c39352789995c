/*
 * bench_modbus - what the Modbus polling engine (src/drivers/mbdrv.c) costs
 * against a bare libmodbus loop reading the same spans of the same devices.
 * Prints figures; never judges.
 *
 *   bench-modbus --tcp HOST:PORT [--psus N] [--seconds S] [--rounds R]
 *   bench-modbus --rtu PATH [--baud B] [--parity N|E|O] [--psus N] [--seconds S] [--rounds R]
 *
 * The devices are ORv3 PSUs at the first N ORv3 unit ids (200, 201, ...), as
 * `rackpower-sim serve` serves them. Two plans are measured:
 *   hot:   the span the daemon reads every second, alarms + telemetry
 *          (registers 60..89, 30 words); identity, config and stats not read;
 *   whole: every group at one interval, which the planner makes one 105-word
 *          span (registers 0..104).
 * The engine is driven in virtual time, a second per mbdrv_poll_once with
 * 1 ms intervals, so every span is due at every call: it reads as fast as
 * the device answers, with its decoding, health monitor and sink. The bare
 * loop is modbus_set_slave + modbus_read_registers over the same spans.
 *
 * TCP: transactions and registers per second, engine against bare, in R
 * rounds of S seconds each way, alternating (the order flips each round), on
 * one connection each. RTU: the process's CPU time (CLOCK_PROCESS_CPUTIME_ID:
 * user + system) per transaction against the wire time of the same frames at
 * the line's baud rate (computed: a pseudo-terminal carries bytes at once).
 * Only one master may use an RTU line, so each run opens and closes it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modbus/modbus.h>

#include "mbdrv.h"

#define NS_PER_S 1000000000LL
#define MAX_PSUS ORV3_NPSU_UNITS
#define MAX_SPANS 64
#define MAX_ROUNDS 1000

enum plan { PLAN_HOT, PLAN_WHOLE };

struct opts {
    enum mbdrv_transport transport;
    char host[64];
    int port;
    char device[128];
    int baud;
    char parity;
    int npsus;
    double seconds;
    int rounds;
};

/* One span of one device, as the engine planned it: what the bare loop reads. */
struct rd {
    int unit;
    int start, words;
};

struct run {
    uint64_t tx, regs;
    int64_t wall_ns, cpu_ns;
    uint64_t errors;
};

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t sink_events;

static void sink(void *ctx, const struct mbdrv_event *ev)
{
    (void)ctx;
    (void)ev;
    sink_events++;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench-modbus: %s: %s\n", what, why);
    exit(1);
}

static struct mbdrv_bus *engine_new(const struct opts *o, enum plan p)
{
    struct mbdrv_bus_config c;
    char err[256];
    mbdrv_bus_config_default(&c, o->transport);
    snprintf(c.host, sizeof(c.host), "%s", o->host);
    c.port = o->port;
    snprintf(c.device, sizeof(c.device), "%s", o->device);
    c.baud = o->baud;
    c.parity = o->parity;
    struct mbdrv_bus *b = mbdrv_bus_new(&c, sink, NULL, err, sizeof(err));
    if (!b)
        die("engine", err);
    for (int i = 0; i < o->npsus; i++) {
        struct mbdrv_device_config d = {.kind = MBDRV_ORV3_PSU, .unit = orv3_psu_units[i]};
        for (int g = 0; g < MBDRV_NGROUPS; g++)
            d.interval_ns[g] = p == PLAN_WHOLE ? 1000000 : MBDRV_NEVER;
        if (p == PLAN_HOT)
            d.interval_ns[MBDRV_G_ALARM] = d.interval_ns[MBDRV_G_TELEMETRY] = 1000000;
        if (mbdrv_add_device(b, &d, err, sizeof(err)) < 0)
            die("engine", err);
    }
    return b;
}

/* The engine's plan as a list of reads, in the engine's order. */
static int plan_reads(struct mbdrv_bus *b, struct rd *out, int cap)
{
    int n = 0;
    for (int dev = 0; dev < mbdrv_device_count(b); dev++) {
        struct mbdrv_plan_entry e[MAX_SPANS];
        int ns = mbdrv_device_plan(b, dev, e, MAX_SPANS);
        for (int k = 0; k < ns && n < cap; k++)
            out[n++] = (struct rd){mbdrv_device_unit(b, dev), e[k].start, e[k].words};
    }
    return n;
}

static uint64_t engine_errors(struct mbdrv_bus *b)
{
    uint64_t e = 0;
    for (int dev = 0; dev < mbdrv_device_count(b); dev++) {
        struct mbdrv_stats st;
        mbdrv_device_stats(b, dev, &st);
        e += st.timeouts + st.crc_errors + st.exceptions + st.other_errors;
    }
    return e;
}

/* Virtual time: a second per call, so every 1 ms span is due at each. */
static int64_t vnow;

static struct run engine_run(struct mbdrv_bus *b, int words_per_round, double seconds)
{
    struct run r = {0};
    uint64_t err0 = engine_errors(b);
    int64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t end = w0 + (int64_t)(seconds * NS_PER_S);
    do {
        vnow += NS_PER_S;
        r.tx += (uint64_t)mbdrv_poll_once(b, vnow, 0);
        r.regs += (uint64_t)words_per_round;
    } while (clock_ns(CLOCK_MONOTONIC) < end);
    r.wall_ns = clock_ns(CLOCK_MONOTONIC) - w0;
    r.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    r.errors = engine_errors(b) - err0;
    return r;
}

static modbus_t *bare_new(const struct opts *o)
{
    modbus_t *ctx;
    if (o->transport == MBDRV_TCP) {
        char port[16];
        snprintf(port, sizeof(port), "%d", o->port);
        ctx = modbus_new_tcp_pi(o->host, port);
    } else {
        ctx = modbus_new_rtu(o->device, o->baud, o->parity, 8, 1);
    }
    if (!ctx)
        die("libmodbus", modbus_strerror(errno));
    modbus_set_response_timeout(ctx, 0, 300000);
    if (modbus_connect(ctx) == -1)
        die("connect", modbus_strerror(errno));
    return ctx;
}

static void bare_free(modbus_t *ctx)
{
    modbus_close(ctx);
    modbus_free(ctx);
}

static struct run bare_run(modbus_t *ctx, const struct rd *reads, int nreads, double seconds)
{
    struct run r = {0};
    uint16_t regs[125];
    int64_t w0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t end = w0 + (int64_t)(seconds * NS_PER_S);
    do {
        for (int k = 0; k < nreads; k++) {
            modbus_set_slave(ctx, reads[k].unit);
            if (modbus_read_registers(ctx, reads[k].start, reads[k].words, regs) !=
                reads[k].words) {
                r.errors++;
                break;
            }
            r.tx++;
            r.regs += (uint64_t)reads[k].words;
        }
    } while (!r.errors && clock_ns(CLOCK_MONOTONIC) < end);
    r.wall_ns = clock_ns(CLOCK_MONOTONIC) - w0;
    r.cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void add(struct run *sum, const struct run *r)
{
    sum->tx += r->tx;
    sum->regs += r->regs;
    sum->wall_ns += r->wall_ns;
    sum->cpu_ns += r->cpu_ns;
    sum->errors += r->errors;
}

static double per_s(uint64_t n, int64_t ns)
{
    return ns > 0 ? (double)n * 1e9 / (double)ns : 0;
}

static double us_per_tx(const struct run *r)
{
    return r->tx ? (double)r->cpu_ns / 1e3 / (double)r->tx : 0;
}

static void describe(const struct rd *reads, int n, char *buf, size_t len)
{
    snprintf(buf, len, "%d..%d (%d words) x %d PSUs", reads[0].start,
             reads[0].start + reads[0].words - 1, reads[0].words, n);
    for (int k = 1; k < n; k++)
        if (reads[k].start != reads[0].start || reads[k].words != reads[0].words)
            snprintf(buf, len, "%d spans, mixed", n);
}

/* Wire time of one read of n registers: request 8 characters, reply 5 + 2n,
 * each frame followed by 3.5 characters of silence; 11 bits a character
 * (start, 8 data, parity or a second stop, stop). */
static double wire_ms(int words, int baud)
{
    double chars = 8 + 5 + 2.0 * words + 2 * 3.5;
    return chars * 11 / baud * 1e3;
}

static void bench_plan(const struct opts *o, enum plan p)
{
    struct mbdrv_bus *b = engine_new(o, p);
    struct rd reads[MAX_PSUS * MAX_SPANS];
    int nreads = plan_reads(b, reads, MAX_PSUS * MAX_SPANS);
    int words = 0;
    for (int k = 0; k < nreads; k++)
        words += reads[k].words;
    char what[64];
    describe(reads, nreads, what, sizeof(what));
    modbus_t *ctx = NULL;
    struct run e = {0}, x = {0};
    double ratio[MAX_ROUNDS];
    /* warm up both: connect, and (engine) the first read of each device */
    vnow += NS_PER_S;
    mbdrv_poll_once(b, vnow, 0);
    if (o->transport == MBDRV_TCP) {
        ctx = bare_new(o);
        bare_run(ctx, reads, nreads, 0.05);
    } else {
        mbdrv_bus_free(b); /* one master at a time on a line */
        b = NULL;
    }
    for (int round = 0; round < o->rounds; round++) {
        struct run re = {0}, rx = {0};
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == (round % 2 == 0)) {
                if (!b) {
                    b = engine_new(o, p);
                    vnow += NS_PER_S;
                    mbdrv_poll_once(b, vnow, 0);
                }
                re = engine_run(b, words, o->seconds);
                if (o->transport == MBDRV_RTU) {
                    mbdrv_bus_free(b);
                    b = NULL;
                }
            } else {
                if (!ctx)
                    ctx = bare_new(o);
                rx = bare_run(ctx, reads, nreads, o->seconds);
                if (o->transport == MBDRV_RTU) {
                    bare_free(ctx);
                    ctx = NULL;
                }
            }
        }
        if (re.errors || rx.errors) { /* figures of a failing device mean nothing */
            fprintf(stderr,
                    "bench-modbus: failed transactions (engine %llu, bare %llu): is the device "
                    "still there?\n",
                    (unsigned long long)re.errors, (unsigned long long)rx.errors);
            exit(1);
        }
        add(&e, &re);
        add(&x, &rx);
        ratio[round] = per_s(re.regs, re.wall_ns) / per_s(rx.regs, rx.wall_ns);
    }
    qsort(ratio, (size_t)o->rounds, sizeof(ratio[0]), cmp_double);
    if (o->transport == MBDRV_TCP) {
        printf("  %-28s %8.0f %10.0f %8.0f %10.0f %7.1f %% %7.1f %% (%.0f-%.0f) %6.1f %6.1f\n",
               what, per_s(e.tx, e.wall_ns), per_s(e.regs, e.wall_ns), per_s(x.tx, x.wall_ns),
               per_s(x.regs, x.wall_ns), 100 * per_s(e.regs, e.wall_ns) / per_s(x.regs, x.wall_ns),
               100 * ratio[o->rounds / 2], 100 * ratio[0], 100 * ratio[o->rounds - 1],
               us_per_tx(&e), us_per_tx(&x));
    } else {
        double wire = wire_ms(reads[0].words, o->baud);
        printf("  %-28s %7llu %10.1f %7llu %10.1f %10.2f   %6.3f %%   %6.3f %%\n", what,
               (unsigned long long)e.tx, us_per_tx(&e), (unsigned long long)x.tx, us_per_tx(&x),
               wire, us_per_tx(&e) / 1e3 / wire * 100, us_per_tx(&x) / 1e3 / wire * 100);
    }
    if (b)
        mbdrv_bus_free(b);
    if (ctx)
        bare_free(ctx);
}

static void usage(FILE *f, int code)
{
    fputs("usage: bench-modbus --tcp HOST:PORT | --rtu PATH [--baud 19200] [--parity E]\n"
          "                    [--psus 4] [--seconds S] [--rounds R]\n",
          f);
    exit(code);
}

int main(int argc, char **argv)
{
    struct opts o = {.transport = MBDRV_TCP, .baud = 19200, .parity = 'E', .npsus = 4};
    bool have = false;
    enum { OPT_TCP = 256, OPT_RTU, OPT_BAUD, OPT_PARITY, OPT_PSUS, OPT_SECONDS, OPT_ROUNDS };
    static const struct option longopts[] = {
        {"tcp", required_argument, NULL, OPT_TCP},
        {"rtu", required_argument, NULL, OPT_RTU},
        {"baud", required_argument, NULL, OPT_BAUD},
        {"parity", required_argument, NULL, OPT_PARITY},
        {"psus", required_argument, NULL, OPT_PSUS},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* any mistake shows the usage */
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        const char *v = optarg;
        switch (c) {
        case OPT_TCP: {
            const char *colon = strrchr(v, ':');
            if (!colon || colon == v || (size_t)(colon - v) >= sizeof(o.host))
                usage(stderr, 2);
            snprintf(o.host, sizeof(o.host), "%.*s", (int)(colon - v), v);
            o.port = atoi(colon + 1);
            o.transport = MBDRV_TCP;
            have = true;
            break;
        }
        case OPT_RTU:
            snprintf(o.device, sizeof(o.device), "%s", v);
            o.transport = MBDRV_RTU;
            have = true;
            break;
        case OPT_BAUD:
            o.baud = atoi(v);
            break;
        case OPT_PARITY:
            o.parity = v[0];
            break;
        case OPT_PSUS:
            o.npsus = atoi(v);
            break;
        case OPT_SECONDS:
            o.seconds = atof(v);
            break;
        case OPT_ROUNDS:
            o.rounds = atoi(v);
            break;
        case 'h':
            usage(stdout, 0);
            break;
        default:
            usage(stderr, 2);
        }
    }
    if (optind < argc)
        usage(stderr, 2);
    if (!have || o.npsus < 1 || o.npsus > MAX_PSUS || o.baud <= 0 || o.rounds > MAX_ROUNDS)
        usage(stderr, 2);
    if (o.seconds <= 0)
        o.seconds = o.transport == MBDRV_TCP ? 1.0 : 2.0;
    if (o.rounds <= 0)
        o.rounds = o.transport == MBDRV_TCP ? 5 : 2;
    if (o.transport == MBDRV_TCP) {
        printf("modbus tcp %s:%d, %d PSUs: %d rounds of %g s each way, alternating\n", o.host,
               o.port, o.npsus, o.rounds, o.seconds);
        printf("  %-28s %8s %10s %8s %10s %9s %-18s %6s %6s\n", "spans", "engine", "", "bare", "",
               "engine/", "bare regs/s", "CPU us", "per tx");
        printf("  %-28s %8s %10s %8s %10s %9s %-18s %6s %6s\n", "", "tx/s", "regs/s", "tx/s",
               "regs/s", "all", "median (range)", "engine", "bare");
    } else {
        printf("modbus rtu %s at %d 8%c1, %d PSUs: %d rounds of %g s each way, alternating\n",
               o.device, o.baud, o.parity, o.npsus, o.rounds, o.seconds);
        printf("  %-28s %7s %10s %7s %10s %10s   %-8s   %-8s\n", "spans", "engine", "CPU us",
               "bare", "CPU us", "wire ms", "engine", "bare");
        printf("  %-28s %7s %10s %7s %10s %10s   %-8s   %-8s\n", "", "tx", "per tx", "tx", "per tx",
               "per tx", "CPU/wire", "CPU/wire");
    }
    bench_plan(&o, PLAN_HOT);
    bench_plan(&o, PLAN_WHOLE);
    return 0;
}
