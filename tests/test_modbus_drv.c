/*
 * test_modbus_drv.c - the Modbus polling engine against a real libmodbus TCP
 * server on 127.0.0.1 (an ephemeral port) running in a thread of this test.
 * The server answers for several unit ids (the unit id is the last byte of
 * the MBAP header), can stay silent for absent units, swallow replies, send
 * exceptions and refuse long reads, and logs every request so the tests can
 * assert on order and counts rather than on wall-clock time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <modbus/modbus.h>

#include "mbdrv.h"
#include "orv3.h"
#include "rackmod.h"

#define MS(x) ((int64_t)(x)*1000000LL)
#define SEC(x) ((int64_t)(x)*1000000000LL)

/* ---- the test server ---------------------------------------------------- */

struct unitsim {
    int unit;
    bool present;
    modbus_mapping_t *map;
    int drop;      /* replies to swallow */
    int exc_count; /* replies to answer with exc_code */
    int exc_code;
    int max_read; /* > 0: longer reads get exception 3 (an old PSU) */
};

struct req {
    int unit, fn, addr, n;
};

#define MAX_UNITS 8
#define MAX_LOG 4096

struct server {
    modbus_t *ctx;
    int lfd, port;
    pthread_t th;
    pthread_mutex_t mu;
    atomic_int stop;
    struct unitsim units[MAX_UNITS];
    int nunits;
    struct req log[MAX_LOG];
    int nlog;
};

static struct unitsim *find(struct server *s, int unit)
{
    for (int i = 0; i < s->nunits; i++)
        if (s->units[i].unit == unit)
            return &s->units[i];
    return NULL;
}

static void handle(struct server *s, const uint8_t *q, int len)
{
    int hl = modbus_get_header_length(s->ctx);
    struct req r = {q[hl - 1], q[hl], q[hl + 1] << 8 | q[hl + 2], q[hl + 3] << 8 | q[hl + 4]};
    pthread_mutex_lock(&s->mu);
    if (s->nlog < MAX_LOG)
        s->log[s->nlog++] = r;
    struct unitsim *u = find(s, r.unit);
    if (!u || !u->present) {
        /* silence: the client times out */
    } else if (u->drop > 0) {
        u->drop--;
    } else if (u->exc_count > 0) {
        u->exc_count--;
        modbus_reply_exception(s->ctx, q, (unsigned)u->exc_code);
    } else if (r.fn == MODBUS_FC_READ_HOLDING_REGISTERS && u->max_read > 0 && r.n > u->max_read) {
        modbus_reply_exception(s->ctx, q, MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE);
    } else {
        modbus_reply(s->ctx, q, len, u->map);
    }
    pthread_mutex_unlock(&s->mu);
}

static void *serve(void *arg)
{
    struct server *s = arg;
    uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
    while (!atomic_load(&s->stop)) {
        struct pollfd pl = {.fd = s->lfd, .events = POLLIN};
        if (poll(&pl, 1, 20) <= 0)
            continue;
        int cfd = modbus_tcp_accept(s->ctx, &s->lfd);
        if (cfd < 0)
            continue;
        while (!atomic_load(&s->stop)) {
            struct pollfd pc = {.fd = cfd, .events = POLLIN};
            int r = poll(&pc, 1, 20);
            if (r == 0)
                continue;
            if (r < 0)
                break;
            int len = modbus_receive(s->ctx, q);
            if (len < 0)
                break; /* the client closed */
            if (len > 0)
                handle(s, q, len);
        }
        close(cfd);
        modbus_set_socket(s->ctx, -1);
    }
    return NULL;
}

static struct unitsim *add_unit(struct server *s, int unit, int bits, int regs)
{
    struct unitsim *u = &s->units[s->nunits++];
    memset(u, 0, sizeof(*u));
    u->unit = unit;
    u->present = true;
    u->map = modbus_mapping_new(bits, 0, regs, 0);
    assert_non_null(u->map);
    return u;
}

/* An ORv3 PSU at 51 V, 20.5 A, healthy. */
static void fill_psu(struct unitsim *u, const char *serial)
{
    uint16_t *r = u->map->tab_registers;
    const struct orv3_field *f = orv3_psu_fields;
#define PUT(i) (r + f[i].reg)
    orv3_encode_string(&f[ORV3_PSU_PART_NUMBER], "PN-123", PUT(ORV3_PSU_PART_NUMBER));
    orv3_encode_string(&f[ORV3_PSU_MODEL], "ORV3-PSU", PUT(ORV3_PSU_MODEL));
    orv3_encode_string(&f[ORV3_PSU_SERIAL], serial, PUT(ORV3_PSU_SERIAL));
    orv3_encode_string(&f[ORV3_PSU_FW_REV], "1.2", PUT(ORV3_PSU_FW_REV));
    orv3_encode_float(&f[ORV3_PSU_VOUT], 51.0, PUT(ORV3_PSU_VOUT));
    orv3_encode_float(&f[ORV3_PSU_IOUT], 20.5, PUT(ORV3_PSU_IOUT));
    orv3_encode_float(&f[ORV3_PSU_ISHARE], 20.5, PUT(ORV3_PSU_ISHARE));
    orv3_encode_float(&f[ORV3_PSU_POUT], 1045.5, PUT(ORV3_PSU_POUT));
    orv3_encode_float(&f[ORV3_PSU_TEMP_INLET], -2.5, PUT(ORV3_PSU_TEMP_INLET));
    orv3_encode_float(&f[ORV3_PSU_TEMP_OUTLET], 41.25, PUT(ORV3_PSU_TEMP_OUTLET));
    orv3_encode_float(&f[ORV3_PSU_VIN], 230.0, PUT(ORV3_PSU_VIN));
    orv3_encode_float(&f[ORV3_PSU_FIN], 50.0, PUT(ORV3_PSU_FIN));
    orv3_encode_int(&f[ORV3_PSU_FAN0_RPM], 9000, PUT(ORV3_PSU_FAN0_RPM));
    orv3_encode_int(&f[ORV3_PSU_SETTING], 1u << 11, PUT(ORV3_PSU_SETTING));
#undef PUT
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->ctx = modbus_new_tcp("127.0.0.1", 0);
    assert_non_null(s->ctx);
    s->lfd = modbus_tcp_listen(s->ctx, 4);
    assert_true(s->lfd >= 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
}

static void server_run(struct server *s)
{
    assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    modbus_free(s->ctx);
    for (int i = 0; i < s->nunits; i++)
        modbus_mapping_free(s->units[i].map);
    pthread_mutex_destroy(&s->mu);
}

/* The server goes away (its process dies): its connection and listener close. */
static void server_down(struct server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->lfd);
    s->lfd = -1;
}

/* ... and comes back on the same port. */
static void server_up(struct server *s)
{
    modbus_free(s->ctx);
    s->ctx = modbus_new_tcp("127.0.0.1", s->port);
    assert_non_null(s->ctx);
    s->lfd = modbus_tcp_listen(s->ctx, 4);
    assert_true(s->lfd >= 0);
    atomic_store(&s->stop, 0);
    assert_int_equal(pthread_create(&s->th, NULL, serve, s), 0);
}

static int log_count(struct server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nlog;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- the client side ---------------------------------------------------- */

#define MAX_EVENTS 1024
struct rec {
    struct mbdrv_event ev[MAX_EVENTS];
    int n;
};

static void sink(void *ctx, const struct mbdrv_event *ev)
{
    struct rec *r = ctx;
    if (r->n < MAX_EVENTS)
        r->ev[r->n++] = *ev;
}

static int count_events(const struct rec *r, enum mbdrv_event_kind k, int from)
{
    int n = 0;
    for (int i = from; i < r->n; i++)
        n += r->ev[i].kind == k;
    return n;
}

static const struct mbdrv_event *last_event(const struct rec *r, enum mbdrv_event_kind k)
{
    for (int i = r->n - 1; i >= 0; i--)
        if (r->ev[i].kind == k)
            return &r->ev[i];
    return NULL;
}

struct fixture {
    struct server srv;
    struct rec rec;
    struct mbdrv_bus_config cfg;
    struct mbdrv_bus *bus;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    server_start(&f->srv);
    mbdrv_bus_config_default(&f->cfg, MBDRV_TCP);
    f->cfg.port = f->srv.port;
    f->cfg.response_timeout_ns = MS(100);
    f->cfg.probe_timeout_ns = MS(50);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mbdrv_bus_free(f->bus);
    server_stop(&f->srv);
    free(f);
    return 0;
}

static void open_bus(struct fixture *f)
{
    char err[256];
    server_run(&f->srv);
    f->bus = mbdrv_bus_new(&f->cfg, sink, &f->rec, err, sizeof(err));
    assert_non_null(f->bus);
}

static int add_dev(struct fixture *f, enum mbdrv_kind kind, int unit, int count)
{
    struct mbdrv_device_config c = {.kind = kind, .unit = unit, .count = count, .nbuses = 2};
    char err[256];
    int d = mbdrv_add_device(f->bus, &c, err, sizeof(err));
    if (d < 0)
        fail_msg("%s", err);
    return d;
}

static struct mbdrv_stats stats(struct fixture *f, int dev)
{
    struct mbdrv_stats st;
    assert_int_equal(mbdrv_device_stats(f->bus, dev, &st), 0);
    return st;
}

/* ---- tests -------------------------------------------------------------- */

static void test_psu_telemetry_decoded(void **state)
{
    struct fixture *f = *state;
    fill_psu(add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS), "SN-200");
    open_bus(f);
    int d = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    /* identity+config once, alarms+telemetry at 1 s, stats at 10 s less
     * what the 1-second read covers (the error counters at 75..78) */
    struct mbdrv_plan_entry p[16];
    int np = mbdrv_device_plan(f->bus, d, p, 16);
    static const int64_t want[][3] = {{0, 52, MBDRV_ONCE},
                                      {94, 11, MBDRV_ONCE},
                                      {60, 30, SEC(1)},
                                      {52, 6, SEC(10)},
                                      {90, 1, SEC(10)}};
    assert_int_equal(np, 5);
    for (int i = 0; i < np; i++) {
        assert_int_equal(p[i].start, want[i][0]);
        assert_int_equal(p[i].words, want[i][1]);
        assert_int_equal(p[i].interval_ns, want[i][2]);
    }

    assert_int_equal(mbdrv_poll_once(f->bus, 0, 0), 5);
    const struct mbdrv_event *e = last_event(&f->rec, MBDRV_EV_PSU);
    assert_non_null(e);
    assert_int_equal(e->unit, 200);
    assert_int_equal(e->device, d);
    assert_int_equal(e->dev_kind, MBDRV_ORV3_PSU);
    assert_string_equal(e->u.psu.model, "ORV3-PSU");
    assert_string_equal(e->u.psu.serial, "SN-200");
    assert_string_equal(e->u.psu.part_number, "PN-123");
    assert_int_equal(e->u.psu.vout_mv, 51000);
    assert_int_equal(e->u.psu.iout_ma, 20500);
    assert_int_equal(e->u.psu.pout_mw, 1045500);
    assert_int_equal(e->u.psu.inlet_mc, -2500);
    assert_int_equal(e->u.psu.outlet_mc, 41250);
    assert_int_equal(e->u.psu.vin_mv, 230000);
    assert_int_equal(e->u.psu.fin_millihz, 50000);
    assert_int_equal(e->u.psu.fan_rpm[0], 9000);
    assert_int_equal(e->u.psu.setting, 1u << 11);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_HEALTH, 0), 0);
    struct mbdrv_stats st = stats(f, d);
    assert_int_equal(st.ok, 5);
    assert_int_equal(st.timeouts + st.exceptions + st.other_errors, 0);
    assert_int_equal(st.state, MBDRV_LIVE);
    assert_int_equal(mbdrv_next_due_ns(f->bus), SEC(1));
}

static void test_round_robin_order_and_intervals(void **state)
{
    struct fixture *f = *state;
    f->cfg.max_span_words = 16;
    fill_psu(add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS), "A");
    fill_psu(add_unit(&f->srv, 201, 0, ORV3_PSU_NREGS), "B");
    open_bus(f);
    int d0 = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    add_dev(f, MBDRV_ORV3_PSU, 201, 0);
    struct mbdrv_plan_entry p[32];
    int np = mbdrv_device_plan(f->bus, d0, p, 32);
    int per_second = 0, per_ten = 0;
    for (int i = 0; i < np; i++) {
        assert_true(p[i].words <= 16);
        per_second += p[i].interval_ns == SEC(1);
        per_ten += p[i].interval_ns == SEC(10);
    }
    assert_true(np >= 8);
    assert_true(per_second >= 2);

    /* everything due: the two devices take turns, each in its plan order */
    assert_int_equal(mbdrv_poll_once(f->bus, 0, 0), 2 * np);
    assert_int_equal(log_count(&f->srv), 2 * np);
    for (int i = 0; i < 2 * np; i++) {
        assert_int_equal(f->srv.log[i].unit, i % 2 ? 201 : 200);
        assert_int_equal(f->srv.log[i].addr, p[i / 2].start);
        assert_int_equal(f->srv.log[i].n, p[i / 2].words);
    }
    /* nothing is due before a second has passed */
    assert_int_equal(mbdrv_poll_once(f->bus, MS(999), 0), 0);
    /* at 1 s: only the 1-second spans, still alternating */
    int base = log_count(&f->srv);
    assert_int_equal(mbdrv_poll_once(f->bus, SEC(1), 0), 2 * per_second);
    for (int i = 0; i < 2 * per_second; i++) {
        const struct req *r = &f->srv.log[base + i];
        assert_int_equal(r->unit, i % 2 ? 201 : 200);
        assert_true(r->addr >= 60 && r->addr < 90);
    }
    for (int s = 2; s < 10; s++)
        assert_int_equal(mbdrv_poll_once(f->bus, SEC(s), 0), 2 * per_second);
    /* at 10 s the stats spans come along; identity and config never again */
    assert_int_equal(mbdrv_poll_once(f->bus, SEC(10), 0), 2 * (per_second + per_ten));
    int ident = 0;
    for (int i = 2 * np; i < log_count(&f->srv); i++)
        ident += f->srv.log[i].addr < 52 || f->srv.log[i].addr >= 94;
    assert_int_equal(ident, 0);
}

static void test_deadline_resumes_with_the_next_device(void **state)
{
    struct fixture *f = *state;
    for (int u = 200; u < 203; u++)
        fill_psu(add_unit(&f->srv, u, 0, ORV3_PSU_NREGS), "X");
    open_bus(f);
    for (int u = 200; u < 203; u++)
        add_dev(f, MBDRV_ORV3_PSU, u, 0);
    /* a deadline already passed: nothing starts */
    assert_int_equal(mbdrv_poll_once(f->bus, 0, 1), 0);
    /* serve everything, then at 1 s one span per device in turn */
    assert_true(mbdrv_poll_once(f->bus, 0, 0) > 0);
    int base = log_count(&f->srv);
    assert_int_equal(mbdrv_poll_once(f->bus, SEC(1), 0), 3);
    assert_int_equal(f->srv.log[base].unit, 200);
    assert_int_equal(f->srv.log[base + 1].unit, 201);
    assert_int_equal(f->srv.log[base + 2].unit, 202);
}

static void test_retries_and_counters(void **state)
{
    struct fixture *f = *state;
    struct unitsim *u = add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS);
    fill_psu(u, "R");
    open_bus(f);
    int d = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    mbdrv_poll_once(f->bus, 0, 0);
    struct mbdrv_stats st0 = stats(f, d);

    /* two replies lost: the third try succeeds */
    pthread_mutex_lock(&f->srv.mu);
    u->drop = 2;
    pthread_mutex_unlock(&f->srv.mu);
    int base = log_count(&f->srv);
    assert_int_equal(mbdrv_poll_once(f->bus, SEC(1), 0), 1);
    assert_int_equal(log_count(&f->srv) - base, 3);
    struct mbdrv_stats st = stats(f, d);
    assert_int_equal(st.timeouts, 2);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.ok, st0.ok + 1);
    assert_int_equal(st.consecutive_failures, 0);

    /* three lost: the span fails, with a message */
    pthread_mutex_lock(&f->srv.mu);
    u->drop = 3;
    pthread_mutex_unlock(&f->srv.mu);
    int nev = f->rec.n;
    mbdrv_poll_once(f->bus, SEC(2), 0);
    st = stats(f, d);
    assert_int_equal(st.timeouts, 5);
    assert_int_equal(st.retries, 4);
    assert_int_equal(st.consecutive_failures, 3);
    assert_int_equal(st.state, MBDRV_LIVE);
    assert_non_null(strstr(st.last_error, "unit 200 (orv3-psu): read registers (0x03) 60..89"));
    assert_non_null(strstr(st.last_error, "timed out (3 tries)"));
    assert_int_equal(count_events(&f->rec, MBDRV_EV_PSU, nev), 0);
    /* a good read resets the run of failures */
    mbdrv_poll_once(f->bus, SEC(3), 0);
    assert_int_equal(stats(f, d).consecutive_failures, 0);

    /* a busy/failed device (exception 4) is tried again */
    pthread_mutex_lock(&f->srv.mu);
    u->exc_count = 1;
    u->exc_code = MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE;
    pthread_mutex_unlock(&f->srv.mu);
    base = log_count(&f->srv);
    mbdrv_poll_once(f->bus, SEC(4), 0);
    assert_int_equal(log_count(&f->srv) - base, 2);
    st = stats(f, d);
    assert_int_equal(st.exceptions, 1);
    assert_int_equal(st.exc_by_code[MODBUS_EXCEPTION_SLAVE_OR_SERVER_FAILURE], 1);

    /* an illegal function is not: the same request would get the same answer */
    pthread_mutex_lock(&f->srv.mu);
    u->exc_count = 1;
    u->exc_code = MODBUS_EXCEPTION_ILLEGAL_FUNCTION;
    pthread_mutex_unlock(&f->srv.mu);
    base = log_count(&f->srv);
    mbdrv_poll_once(f->bus, SEC(5), 0);
    assert_int_equal(log_count(&f->srv) - base, 1);
    st = stats(f, d);
    assert_int_equal(st.exceptions, 2);
    assert_int_equal(st.exc_by_code[MODBUS_EXCEPTION_ILLEGAL_FUNCTION], 1);
    assert_int_equal(st.consecutive_failures, 0); /* it answered */
    assert_non_null(strstr(st.last_error, "exception 1"));
    assert_int_equal(st.crc_errors, 0);
}

static void test_dormant_after_10_failures_and_back_on_reprobe(void **state)
{
    struct fixture *f = *state;
    f->cfg.response_timeout_ns = MS(30);
    f->cfg.reprobe_min_ns = SEC(60); /* no fast re-probes: the slow one alone */
    struct unitsim *u = add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS);
    fill_psu(u, "D");
    open_bus(f);
    int d = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    mbdrv_poll_once(f->bus, 0, 0);

    pthread_mutex_lock(&f->srv.mu);
    u->present = false;
    pthread_mutex_unlock(&f->srv.mu);
    int base = log_count(&f->srv), nev = f->rec.n;
    int64_t t = 0;
    int polls = 0;
    while (stats(f, d).state == MBDRV_LIVE && polls < 20) {
        t += SEC(1);
        mbdrv_poll_once(f->bus, t, 0);
        polls++;
    }
    /* 3 + 3 + 3 + 1 tries: dormant at the 10th failure in a row */
    assert_int_equal(polls, 4);
    assert_int_equal(log_count(&f->srv) - base, 10);
    struct mbdrv_stats st = stats(f, d);
    assert_int_equal(st.state, MBDRV_DORMANT);
    assert_int_equal(st.timeouts, 10);
    assert_int_equal(st.dormant_count, 1);
    const struct mbdrv_event *e = last_event(&f->rec, MBDRV_EV_DEVICE);
    assert_non_null(e);
    assert_int_equal(e->u.dev.from, MBDRV_LIVE);
    assert_int_equal(e->u.dev.to, MBDRV_DORMANT);
    assert_non_null(strstr(e->u.dev.why, "10 failures in a row"));
    /* the monitor reported the comm loss once */
    int lost = 0;
    for (int i = nev; i < f->rec.n; i++)
        lost +=
            f->rec.ev[i].kind == MBDRV_EV_HEALTH && f->rec.ev[i].u.health.kind == ORV3_EV_COMM_LOST;
    assert_int_equal(lost, 1);
    assert_int_equal(mbdrv_next_due_ns(f->bus), t + SEC(60));

    /* dormant: not read, not probed before a minute has passed */
    pthread_mutex_lock(&f->srv.mu);
    u->present = true;
    pthread_mutex_unlock(&f->srv.mu);
    base = log_count(&f->srv);
    for (int s = 1; s < 60; s += 7)
        assert_int_equal(mbdrv_poll_once(f->bus, t + SEC(s), 0), 0);
    assert_int_equal(log_count(&f->srv), base);

    /* the re-probe: one register, reg 8 */
    assert_int_equal(mbdrv_poll_once(f->bus, t + SEC(60), 0), 1);
    assert_int_equal(log_count(&f->srv) - base, 1);
    assert_int_equal(f->srv.log[base].addr, ORV3_PROBE_REG);
    assert_int_equal(f->srv.log[base].n, 1);
    e = last_event(&f->rec, MBDRV_EV_DEVICE);
    assert_int_equal(e->u.dev.to, MBDRV_LIVE);
    assert_int_equal(stats(f, d).state, MBDRV_LIVE);
    assert_int_equal(stats(f, d).probes_ok, 1);

    /* back: read in full, identity included */
    nev = f->rec.n;
    base = log_count(&f->srv);
    assert_int_equal(mbdrv_poll_once(f->bus, t + SEC(60), 0), 5);
    assert_int_equal(f->srv.log[base].addr, 0);
    int back = 0;
    for (int i = nev; i < f->rec.n; i++)
        back +=
            f->rec.ev[i].kind == MBDRV_EV_HEALTH && f->rec.ev[i].u.health.kind == ORV3_EV_COMM_BACK;
    assert_int_equal(back, 1);
}

/* Makes unit u of the fixture's server answer or not. */
static void set_present(struct fixture *f, struct unitsim *u, bool present)
{
    pthread_mutex_lock(&f->srv.mu);
    u->present = present;
    pthread_mutex_unlock(&f->srv.mu);
}

/* Polls every second from t until dev is dormant; returns the time it went. */
static int64_t poll_until_dormant(struct fixture *f, int dev, int64_t t)
{
    for (int polls = 0; stats(f, dev).state == MBDRV_LIVE; polls++) {
        assert_true(polls < 20);
        t += SEC(1);
        mbdrv_poll_once(f->bus, t, 0);
    }
    return t;
}

static int probes_since(struct fixture *f, int base, int unit)
{
    int n = 0;
    for (int i = base; i < log_count(&f->srv); i++)
        n += f->srv.log[i].unit == unit && f->srv.log[i].addr == ORV3_PROBE_REG &&
             f->srv.log[i].n == 1;
    return n;
}

static void test_dormant_unit_reprobed_after_a_poll_then_doubling_to_reprobe(void **state)
{
    struct fixture *f = *state;
    f->cfg.response_timeout_ns = MS(30);
    f->cfg.reprobe_min_ns = SEC(1); /* the daemon gives its poll interval */
    struct unitsim *u = add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS);
    fill_psu(u, "B");
    open_bus(f);
    int d = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    mbdrv_poll_once(f->bus, 0, 0);
    assert_int_equal(stats(f, d).last_ok_ns, 0);
    set_present(f, u, false);
    int64_t t0 = poll_until_dormant(f, d, 0);
    assert_int_equal(stats(f, d).last_ok_ns, 0); /* its last answer, kept while silent */

    /* waits 1, 2, 4, 8, 16, 32 s, then reprobe_ns (60 s) for good */
    static const int gaps_s[] = {1, 2, 4, 8, 16, 32, 60, 60};
    int64_t t = t0;
    for (size_t k = 0; k < sizeof(gaps_s) / sizeof(*gaps_s); k++) {
        assert_int_equal(mbdrv_next_due_ns(f->bus), t + SEC(gaps_s[k]));
        int base = log_count(&f->srv);
        mbdrv_poll_once(f->bus, t + SEC(gaps_s[k]) - MS(1), 0); /* not yet */
        assert_int_equal(log_count(&f->srv), base);
        t += SEC(gaps_s[k]);
        mbdrv_poll_once(f->bus, t, 0);
        assert_int_equal(probes_since(f, base, 200), 1);
        assert_int_equal(stats(f, d).state, MBDRV_DORMANT);
    }

    /* back: the next probe finds it, and a new outage starts fast again */
    set_present(f, u, true);
    t += SEC(60);
    mbdrv_poll_once(f->bus, t, 0);
    assert_int_equal(stats(f, d).state, MBDRV_LIVE);
    assert_int_equal(stats(f, d).last_ok_ns, t);
    assert_int_equal(stats(f, d).probe_gap_ns, 0);
    set_present(f, u, false);
    t = poll_until_dormant(f, d, t);
    assert_int_equal(mbdrv_next_due_ns(f->bus), t + SEC(1));
}

static void test_a_dormant_unit_that_answers_brings_its_dormant_peers_back_at_once(void **state)
{
    struct fixture *f = *state;
    f->cfg.response_timeout_ns = MS(30);
    f->cfg.reprobe_min_ns = SEC(1);
    struct unitsim *u1 = add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS);
    struct unitsim *u2 = add_unit(&f->srv, 201, 0, ORV3_PSU_NREGS);
    struct unitsim *u3 = add_unit(&f->srv, 202, 0, ORV3_PSU_NREGS);
    fill_psu(u1, "P1");
    fill_psu(u2, "P2");
    fill_psu(u3, "P3");
    open_bus(f);
    int d1 = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    int d2 = add_dev(f, MBDRV_ORV3_PSU, 201, 0);
    int d3 = add_dev(f, MBDRV_ORV3_PSU, 202, 0);
    mbdrv_poll_once(f->bus, 0, 0);
    set_present(f, u1, false);
    set_present(f, u2, false);
    set_present(f, u3, false);
    int64_t t = 0;
    while (stats(f, d1).state == MBDRV_LIVE || stats(f, d2).state == MBDRV_LIVE ||
           stats(f, d3).state == MBDRV_LIVE) {
        assert_true(t < SEC(20));
        t += SEC(1);
        mbdrv_poll_once(f->bus, t, 0);
    }
    /* some probes without an answer: one per round, never more */
    for (int k = 0; k < 5; k++) {
        int base = log_count(&f->srv);
        t += SEC(1);
        mbdrv_poll_once(f->bus, t, 0);
        assert_true(probes_since(f, base, 200) + probes_since(f, base, 201) +
                        probes_since(f, base, 202) <=
                    1);
    }
    /* the gateway is back for 200 and 201; 202 stays silent */
    set_present(f, u1, true);
    set_present(f, u2, true);
    int base = 0, rounds = 0;
    while (stats(f, d1).state != MBDRV_LIVE && stats(f, d2).state != MBDRV_LIVE) {
        assert_true(rounds++ < 10);
        base = log_count(&f->srv);
        mbdrv_poll_once(f->bus, mbdrv_next_due_ns(f->bus), 0);
    }
    /* the round in which one answered asked the others too */
    assert_int_equal(stats(f, d1).state, MBDRV_LIVE);
    assert_int_equal(stats(f, d2).state, MBDRV_LIVE);
    assert_int_equal(stats(f, d3).state, MBDRV_DORMANT);
    assert_int_equal(probes_since(f, base, 202), 1);
    /* 202 stays on its own back-off */
    assert_true(stats(f, d3).probe_gap_ns > SEC(1));
}

static void test_a_tcp_server_back_is_probed_at_once_however_long_it_was_gone(void **state)
{
    struct fixture *f = *state;
    f->cfg.response_timeout_ns = MS(30);
    f->cfg.reprobe_min_ns = SEC(1);
    fill_psu(add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS), "T");
    open_bus(f);
    int d = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    mbdrv_poll_once(f->bus, 0, 0);
    server_down(&f->srv);
    int64_t t = poll_until_dormant(f, d, 0);
    /* gone for a minute: the probes have backed off to 32 s */
    for (int k = 0; k < 5; k++) {
        t = mbdrv_next_due_ns(f->bus);
        mbdrv_poll_once(f->bus, t, 0);
    }
    assert_int_equal(stats(f, d).state, MBDRV_DORMANT);
    assert_int_equal(stats(f, d).probe_gap_ns, SEC(32));
    int64_t due = mbdrv_next_due_ns(f->bus);
    /* a round with nothing due, connection refused: still dormant */
    mbdrv_poll_once(f->bus, t + SEC(1), 0);
    assert_int_equal(stats(f, d).state, MBDRV_DORMANT);
    /* back: the next round's connect is accepted and the unit is probed at
     * once, not 31 s later */
    server_up(&f->srv);
    assert_true(t + SEC(2) < due);
    mbdrv_poll_once(f->bus, t + SEC(2), 0);
    assert_int_equal(stats(f, d).state, MBDRV_LIVE);
    assert_int_equal(stats(f, d).last_ok_ns, t + SEC(2));
}

static void test_discovery_probes_one_absent_unit_per_round(void **state)
{
    struct fixture *f = *state;
    fill_psu(add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS), "LIVE");
    fill_psu(add_unit(&f->srv, 203, 0, ORV3_PSU_NREGS), "FOUND");
    open_bus(f);
    add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    struct mbdrv_device_config tmpl = {.kind = MBDRV_ORV3_PSU};
    char err[256];
    /* 200 is on the bus already and is skipped */
    assert_int_equal(mbdrv_discover(f->bus, &tmpl, orv3_psu_units, 6, err, sizeof(err)), 5);

    int probed[256] = {0};
    for (int round = 0; round < 8; round++) {
        int base = log_count(&f->srv);
        mbdrv_poll_once(f->bus, SEC(round), 0);
        int end = log_count(&f->srv), probes = 0, last_live = -1, first_probe = -1;
        for (int i = base; i < end; i++) {
            const struct req *r = &f->srv.log[i];
            bool is_probe = r->unit != 200 && r->addr == ORV3_PROBE_REG && r->n == 1;
            if (is_probe) {
                probes++;
                probed[r->unit]++;
                if (first_probe < 0)
                    first_probe = i;
            }
            if (r->unit == 200)
                last_live = i;
        }
        /* the live device is served every round, before any probe */
        assert_true(last_live >= base);
        if (first_probe >= 0)
            assert_true(first_probe > last_live);
        assert_true(probes <= 1);
        assert_int_equal(probes, round < 5 ? 1 : 0);
    }
    for (int u = 201; u <= 205; u++)
        assert_int_equal(probed[u], 1);
    /* 203 answered: found, then read like the others */
    int found = -1;
    for (int i = 0; i < f->rec.n; i++)
        if (f->rec.ev[i].kind == MBDRV_EV_DEVICE && f->rec.ev[i].unit == 203) {
            assert_int_equal(f->rec.ev[i].u.dev.from, MBDRV_ABSENT);
            assert_int_equal(f->rec.ev[i].u.dev.to, MBDRV_LIVE);
            found = i;
        }
    assert_true(found >= 0);
    bool read203 = false;
    for (int i = found; i < f->rec.n; i++)
        if (f->rec.ev[i].kind == MBDRV_EV_PSU && f->rec.ev[i].unit == 203) {
            assert_string_equal(f->rec.ev[i].u.psu.serial, "FOUND");
            read203 = true;
        }
    assert_true(read203);
    /* the empty addresses are tried again after the re-probe interval */
    int base = log_count(&f->srv);
    mbdrv_poll_once(f->bus, SEC(70), 0);
    int probes = 0;
    for (int i = base; i < log_count(&f->srv); i++)
        probes += f->srv.log[i].addr == ORV3_PROBE_REG && f->srv.log[i].n == 1;
    assert_int_equal(probes, 1);
}

static void test_writes_reach_the_server(void **state)
{
    struct fixture *f = *state;
    struct unitsim *ch = add_unit(&f->srv, 10, 4, 4 * RACKMOD_SLOT_FIELDS);
    struct unitsim *sw = add_unit(&f->srv, 1, 2 * 8, 2);
    ch->map->tab_registers[RACKMOD_SLOT_REG(3, RACKMOD_SLOT_ASK)] = RACKMOD_ASK_POWER_ON;
    open_bus(f);
    int dc = add_dev(f, MBDRV_SIM_CHASSIS, 10, 4);
    int ds = add_dev(f, MBDRV_SIM_SWITCH, 1, 2);
    int dx = add_dev(f, MBDRV_SIM_CHASSIS, 11, 1); /* not on the bus */
    char err[256];

    assert_int_equal(mbdrv_set_slot_power(f->bus, dc, 2, true, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_set_slot_cap(f->bus, dc, 1, 750900, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_clear_ask(f->bus, dc, 3, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_set_switch(f->bus, ds, 1, 1, true, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_write_register(f->bus, dc, RACKMOD_SLOT_REG(0, RACKMOD_SLOT_CAP_W), 42,
                                          err, sizeof(err)),
                     0);
    pthread_mutex_lock(&f->srv.mu);
    assert_int_equal(ch->map->tab_bits[RACKMOD_SLOT_COIL(2)], 1);
    assert_int_equal(ch->map->tab_registers[RACKMOD_SLOT_REG(1, RACKMOD_SLOT_CAP_W)], 750);
    assert_int_equal(ch->map->tab_registers[RACKMOD_SLOT_REG(3, RACKMOD_SLOT_ASK)], 0);
    assert_int_equal(ch->map->tab_registers[RACKMOD_SLOT_REG(0, RACKMOD_SLOT_CAP_W)], 42);
    assert_int_equal(sw->map->tab_bits[RACKMOD_SW_COIL(1, 1)], 1);
    pthread_mutex_unlock(&f->srv.mu);
    assert_int_equal(stats(f, dc).writes, 4);
    assert_int_equal(stats(f, ds).writes, 1);

    /* bad arguments are refused without I/O */
    int base = log_count(&f->srv);
    assert_int_equal(mbdrv_set_slot_power(f->bus, dc, 4, true, err, sizeof(err)), -1);
    assert_string_equal(err, "unit 10 (simdev-chassis): no slot 4 (it has 4)");
    assert_int_equal(mbdrv_set_slot_power(f->bus, ds, 0, true, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a simdev-chassis"));
    assert_int_equal(mbdrv_set_switch(f->bus, ds, 0, 2, true, err, sizeof(err)), -1);
    assert_int_equal(mbdrv_set_slot_cap(f->bus, dc, 0, -1, err, sizeof(err)), -1);
    assert_int_equal(mbdrv_set_slot_cap(f->bus, dc, 0, 70000000, err, sizeof(err)), -1);
    assert_int_equal(mbdrv_set_slot_power(f->bus, 99, 0, true, err, sizeof(err)), -1);
    assert_int_equal(log_count(&f->srv), base);

    /* an exception reply names the exception */
    pthread_mutex_lock(&f->srv.mu);
    ch->exc_count = 1;
    ch->exc_code = MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS;
    pthread_mutex_unlock(&f->srv.mu);
    assert_int_equal(mbdrv_set_slot_power(f->bus, dc, 0, false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unit 10 (simdev-chassis): write coil (0x05) 0 = 0: "));
    assert_non_null(strstr(err, "exception 2"));
    /* a unit that never answers */
    assert_int_equal(mbdrv_set_slot_power(f->bus, dx, 0, true, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unit 11 (simdev-chassis): write coil (0x05) 0 = 1: "));
    assert_non_null(strstr(err, "timed out (3 tries)"));
    struct mbdrv_stats st = stats(f, dx);
    assert_int_equal(st.writes, 1);
    assert_int_equal(st.write_errors, 1);
    assert_int_equal(st.timeouts, 3);
    assert_int_equal(stats(f, dc).write_errors, 1);
}

static void test_chassis_slots_and_switch_positions_reported(void **state)
{
    struct fixture *f = *state;
    struct unitsim *ch = add_unit(&f->srv, 10, 3, 3 * RACKMOD_SLOT_FIELDS);
    struct unitsim *sw = add_unit(&f->srv, 1, 16, 2);
    uint16_t *r = ch->map->tab_registers;
    for (int s = 0; s < 3; s++) {
        r[RACKMOD_SLOT_REG(s, RACKMOD_SLOT_PRESENT)] = 1;
        r[RACKMOD_SLOT_REG(s, RACKMOD_SLOT_REQUEST_W)] = (uint16_t)(500 + s);
        r[RACKMOD_SLOT_REG(s, RACKMOD_SLOT_DRAW_W)] = 300;
    }
    sw->map->tab_registers[0] = 1; /* PSU 0 on bus 0 */
    sw->map->tab_registers[1] = 2; /* PSU 1 on bus 1 */
    open_bus(f);
    int dc = add_dev(f, MBDRV_SIM_CHASSIS, 10, 3);
    add_dev(f, MBDRV_SIM_SWITCH, 1, 2);
    struct mbdrv_plan_entry p[4];
    assert_int_equal(mbdrv_device_plan(f->bus, dc, p, 4), 1);
    assert_int_equal(p[0].interval_ns, MS(200));

    mbdrv_poll_once(f->bus, 0, 0);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_SLOT, 0), 3);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_SWITCH, 0), 2);
    const struct mbdrv_event *e = last_event(&f->rec, MBDRV_EV_SLOT);
    assert_int_equal(e->u.slot.slot, 2);
    assert_int_equal(e->u.slot.changed, MBDRV_SLOT_FIRST);
    assert_int_equal(e->u.slot.request_mw, 502000);
    assert_int_equal(e->u.slot.draw_mw, 300000);
    assert_true(e->u.slot.present);
    e = last_event(&f->rec, MBDRV_EV_SWITCH);
    assert_int_equal(e->u.sw.psu, 1);
    assert_int_equal(e->u.sw.bus, 1);
    assert_int_equal(e->u.sw.prev_bus, -1);

    /* slot 1 asks to power on; slot 2's draw moves 3 W (inside the deadband) */
    pthread_mutex_lock(&f->srv.mu);
    r[RACKMOD_SLOT_REG(1, RACKMOD_SLOT_ASK)] = RACKMOD_ASK_POWER_ON;
    r[RACKMOD_SLOT_REG(1, RACKMOD_SLOT_CHANGES)] = 1;
    r[RACKMOD_SLOT_REG(2, RACKMOD_SLOT_DRAW_W)] = 303;
    sw->map->tab_registers[0] = 2;
    pthread_mutex_unlock(&f->srv.mu);
    int nev = f->rec.n;
    mbdrv_poll_once(f->bus, MS(200), 0); /* the switch is not due yet */
    assert_int_equal(f->rec.n - nev, 1);
    e = &f->rec.ev[nev];
    assert_int_equal(e->kind, MBDRV_EV_SLOT);
    assert_int_equal(e->u.slot.slot, 1);
    assert_int_equal(e->u.slot.changed, MBDRV_SLOT_ASK | MBDRV_SLOT_CHANGES);
    assert_int_equal(e->u.slot.ask, RACKMOD_ASK_POWER_ON);
    /* another 3 W: 6 W from the last reported draw, past the deadband */
    pthread_mutex_lock(&f->srv.mu);
    r[RACKMOD_SLOT_REG(2, RACKMOD_SLOT_DRAW_W)] = 306;
    pthread_mutex_unlock(&f->srv.mu);
    nev = f->rec.n;
    mbdrv_poll_once(f->bus, SEC(1), 0);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_SLOT, nev), 1);
    e = last_event(&f->rec, MBDRV_EV_SLOT);
    assert_int_equal(e->u.slot.changed, MBDRV_SLOT_DRAW);
    assert_int_equal(e->u.slot.draw_mw, 306000);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_SWITCH, nev), 1);
    e = last_event(&f->rec, MBDRV_EV_SWITCH);
    assert_int_equal(e->u.sw.psu, 0);
    assert_int_equal(e->u.sw.bus, 1);
    assert_int_equal(e->u.sw.prev_bus, 0);
}

static void test_chassis_lost_latch_read_and_cleared(void **state)
{
    struct fixture *f = *state;
    struct unitsim *ch = add_unit(&f->srv, 10, 2, 2 * RACKMOD_SLOT_FIELDS);
    uint16_t *r = ch->map->tab_registers;
    for (int s = 0; s < 2; s++) {
        r[RACKMOD_SLOT_REG(s, RACKMOD_SLOT_PRESENT)] = 1;
        r[RACKMOD_SLOT_REG(s, RACKMOD_SLOT_STATE)] = RACKMOD_SLOT_ON;
        ch->map->tab_bits[RACKMOD_SLOT_COIL(s)] = 1;
    }
    r[RACKMOD_SLOT_REG(1, RACKMOD_SLOT_LOST)] = 2; /* latched before the first read */
    open_bus(f);
    int dc = add_dev(f, MBDRV_SIM_CHASSIS, 10, 2);
    mbdrv_poll_once(f->bus, 0, 0);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_SLOT, 0), 2);
    const struct mbdrv_event *e = last_event(&f->rec, MBDRV_EV_SLOT);
    assert_int_equal(e->u.slot.slot, 1);
    assert_int_equal(e->u.slot.lost, 2);

    /* slot 0 browns out and powers on again between two reads: only the
     * latch tells; the state reads on as before */
    pthread_mutex_lock(&f->srv.mu);
    r[RACKMOD_SLOT_REG(0, RACKMOD_SLOT_LOST)] = 1;
    pthread_mutex_unlock(&f->srv.mu);
    int nev = f->rec.n;
    mbdrv_poll_once(f->bus, MS(200), 0);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_SLOT, nev), 1);
    e = last_event(&f->rec, MBDRV_EV_SLOT);
    assert_int_equal(e->u.slot.slot, 0);
    assert_int_equal(e->u.slot.changed, MBDRV_SLOT_LOST);
    assert_int_equal(e->u.slot.lost, 1);
    assert_int_equal(e->u.slot.state, RACKMOD_SLOT_ON);

    /* the controller clears it: written 0, read back, reported as moved */
    char err[256];
    assert_int_equal(mbdrv_clear_lost(f->bus, dc, 0, err, sizeof(err)), 0);
    pthread_mutex_lock(&f->srv.mu);
    assert_int_equal(r[RACKMOD_SLOT_REG(0, RACKMOD_SLOT_LOST)], 0);
    assert_int_equal(r[RACKMOD_SLOT_REG(1, RACKMOD_SLOT_LOST)], 2);
    pthread_mutex_unlock(&f->srv.mu);
    nev = f->rec.n;
    mbdrv_poll_once(f->bus, MS(400), 0);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_SLOT, nev), 1);
    e = last_event(&f->rec, MBDRV_EV_SLOT);
    assert_int_equal(e->u.slot.changed, MBDRV_SLOT_LOST);
    assert_int_equal(e->u.slot.lost, 0);
    assert_int_equal(mbdrv_clear_lost(f->bus, dc, 2, err, sizeof(err)), -1);
    assert_string_equal(err, "unit 10 (simdev-chassis): no slot 2 (it has 2)");
}

static void test_alarm_raised_after_fast_confirm_reads(void **state)
{
    struct fixture *f = *state;
    struct unitsim *u = add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS);
    fill_psu(u, "H");
    open_bus(f);
    add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    mbdrv_poll_once(f->bus, 0, 0);
    pthread_mutex_lock(&f->srv.mu);
    u->map->tab_registers[62] = 1u << 8; /* DCDC fail */
    pthread_mutex_unlock(&f->srv.mu);
    int nev = f->rec.n;
    mbdrv_poll_once(f->bus, SEC(1), 0);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_HEALTH, nev), 0);
    /* not believed yet: the alarm span is due again after confirm_ns, not 1 s */
    assert_int_equal(mbdrv_next_due_ns(f->bus), SEC(1) + MS(50));
    mbdrv_poll_once(f->bus, SEC(1) + MS(50), 0);
    mbdrv_poll_once(f->bus, SEC(1) + MS(100), 0);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_HEALTH, nev), 1);
    const struct mbdrv_event *e = last_event(&f->rec, MBDRV_EV_HEALTH);
    assert_int_equal(e->u.health.kind, ORV3_EV_RAISE);
    assert_int_equal(e->u.health.a.level, ORV3_FAILED);
    assert_int_equal(e->u.health.alarm[2], 0x100);
    assert_int_equal(e->t_ns, SEC(1) + MS(100));
    /* believed: back to the 1-second plan */
    assert_int_equal(mbdrv_next_due_ns(f->bus), SEC(2) + MS(100));
}

struct alerter {
    int fd;
    int delay_ms;
};

static void *alert_later(void *arg)
{
    struct alerter *a = arg;
    struct timespec ts = {0, (long)a->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    char c = '!';
    if (write(a->fd, &c, 1) != 1)
        abort();
    return NULL;
}

static void test_alert_fd_wakes_the_poller(void **state)
{
    struct fixture *f = *state;
    fill_psu(add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS), "AL");
    open_bus(f);
    add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    mbdrv_poll_once(f->bus, 0, 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);

    /* no alert: the wait times out */
    assert_int_equal(mbdrv_wait(f->bus, pfd[0], MS(10)), 0);
    assert_int_equal(mbdrv_poll_once(f->bus, MS(20), 0), 0);

    /* an alert while waiting far longer than the next poll is away */
    struct alerter a = {pfd[1], 20};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, alert_later, &a), 0);
    assert_int_equal(mbdrv_wait(f->bus, pfd[0], SEC(30)), 1);
    pthread_join(th, NULL);
    /* the alarm span is due at once, not at 1 s: "already", the last poll's time */
    assert_int_equal(mbdrv_next_due_ns(f->bus), MS(20));
    int base = log_count(&f->srv);
    assert_int_equal(mbdrv_poll_once(f->bus, MS(40), 0), 1);
    assert_int_equal(f->srv.log[base].addr, 60);
    assert_int_equal(count_events(&f->rec, MBDRV_EV_PSU, 0), 2);
    /* the pipe was drained */
    assert_int_equal(mbdrv_wait(f->bus, pfd[0], 0), 0);
    /* the writer gone: an error, never a busy loop */
    close(pfd[1]);
    assert_int_equal(mbdrv_wait(f->bus, pfd[0], MS(10)), -1);
    close(pfd[0]);
    /* no fd: just a sleep */
    assert_int_equal(mbdrv_wait(f->bus, -1, MS(1)), 0);
}

static void test_old_psu_gets_short_reads(void **state)
{
    struct fixture *f = *state;
    struct unitsim *u = add_unit(&f->srv, 200, 0, ORV3_PSU_NREGS);
    fill_psu(u, "OLD");
    u->max_read = 16;
    open_bus(f);
    int d = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    mbdrv_poll_once(f->bus, 0, 0);
    const struct mbdrv_event *e = last_event(&f->rec, MBDRV_EV_PSU);
    assert_non_null(e);
    assert_string_equal(e->u.psu.serial, "OLD");
    assert_int_equal(e->u.psu.vout_mv, 51000);
    struct mbdrv_stats st = stats(f, d);
    assert_int_equal(st.exceptions, 1);
    assert_int_equal(st.exc_by_code[MODBUS_EXCEPTION_ILLEGAL_DATA_VALUE], 1);
    assert_non_null(strstr(st.last_error, "now reading 16 words at most"));
    struct mbdrv_plan_entry p[32];
    int np = mbdrv_device_plan(f->bus, d, p, 32);
    for (int i = 0; i < np; i++)
        assert_true(p[i].words <= 16);
    /* the reads of the last second: every one of them short */
    for (int i = 1; i < log_count(&f->srv); i++)
        assert_true(f->srv.log[i].n <= 16);
}

static void test_dead_bus_never_crashes(void **state)
{
    struct fixture *f = *state;
    /* a port nobody listens on: bind one, note it, close it */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    getsockname(s, (struct sockaddr *)&a, &alen);
    close(s);
    f->cfg.port = ntohs(a.sin_port);
    open_bus(f);
    int d = add_dev(f, MBDRV_ORV3_PSU, 200, 0);
    for (int i = 0; i < 6; i++)
        mbdrv_poll_once(f->bus, SEC(i), 0);
    struct mbdrv_stats st = stats(f, d);
    assert_int_equal(st.state, MBDRV_DORMANT);
    assert_true(st.other_errors >= 10);
    assert_int_equal(st.ok, 0);
    char want[64];
    snprintf(want, sizeof(want), "connect 127.0.0.1:%d: ", f->cfg.port);
    assert_non_null(strstr(st.last_error, want));
    char err[256];
    assert_int_equal(mbdrv_clear_ask(f->bus, d, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a simdev-chassis"));
}

static void test_bad_configuration_is_refused_with_a_message(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct mbdrv_bus_config c = f->cfg;
    c.port = 0;
    assert_null(mbdrv_bus_new(&c, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "port"));
    mbdrv_bus_config_default(&c, MBDRV_RTU);
    assert_int_equal(c.idle_gap_ns, MS(3));
    assert_null(mbdrv_bus_new(&c, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "no serial device"));
    snprintf(c.device, sizeof(c.device), "/dev/null-nope");
    c.parity = 'X';
    assert_null(mbdrv_bus_new(&c, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "parity"));
    c.parity = 'E';
    c.max_span_words = 200;
    assert_null(mbdrv_bus_new(&c, NULL, NULL, err, sizeof(err)));
    /* an RTU bus whose port does not exist: errors, never a crash */
    c.max_span_words = 120;
    c.response_timeout_ns = MS(5);
    struct rec *r = calloc(1, sizeof(*r));
    struct mbdrv_bus *b = mbdrv_bus_new(&c, sink, r, err, sizeof(err));
    assert_non_null(b);
    struct mbdrv_device_config dc = {.kind = MBDRV_ORV3_BBU, .unit = 64};
    assert_int_equal(mbdrv_add_device(b, &dc, err, sizeof(err)), 0);
    assert_int_equal(mbdrv_add_device(b, &dc, err, sizeof(err)), -1);
    assert_string_equal(err, "unit 64 (orv3-bbu): already on the bus");
    dc.unit = 0;
    assert_int_equal(mbdrv_add_device(b, &dc, err, sizeof(err)), -1);
    dc.unit = 248;
    assert_int_equal(mbdrv_add_device(b, &dc, err, sizeof(err)), -1);
    assert_string_equal(err, "unit 248 (orv3-bbu): unit id must be 1..247");
    dc = (struct mbdrv_device_config){.kind = MBDRV_SIM_CHASSIS, .unit = 10, .count = 0};
    assert_int_equal(mbdrv_add_device(b, &dc, err, sizeof(err)), -1);
    dc.count = 2;
    dc.interval_ns[MBDRV_G_MODULE] = 5;
    assert_int_equal(mbdrv_add_device(b, &dc, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at least 1 ms"));
    mbdrv_poll_once(b, 0, 0);
    struct mbdrv_stats st;
    mbdrv_device_stats(b, 0, &st);
    assert_non_null(strstr(st.last_error, "open /dev/null-nope: "));
    assert_int_equal(mbdrv_device_stats(b, 5, &st), -1);
    enum mbdrv_kind k;
    assert_int_equal(mbdrv_kind_parse("simdev-chassis", &k), 0);
    assert_int_equal(k, MBDRV_SIM_CHASSIS);
    assert_int_equal(mbdrv_kind_parse("nope", &k), -1);
    mbdrv_bus_free(b);
    free(r);
    open_bus(f); /* the fixture's teardown expects a running server */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_psu_telemetry_decoded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_order_and_intervals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_resumes_with_the_next_device, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retries_and_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dormant_after_10_failures_and_back_on_reprobe, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_dormant_unit_reprobed_after_a_poll_then_doubling_to_reprobe, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_dormant_unit_that_answers_brings_its_dormant_peers_back_at_once, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_tcp_server_back_is_probed_at_once_however_long_it_was_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discovery_probes_one_absent_unit_per_round, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writes_reach_the_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chassis_slots_and_switch_positions_reported, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chassis_lost_latch_read_and_cleared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_raised_after_fast_confirm_reads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_fd_wakes_the_poller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_psu_gets_short_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_bus_never_crashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configuration_is_refused_with_a_message, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
