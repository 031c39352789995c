/* The pieces of rackpower-sim cluster below the world: the ledger payload
 * (src/sim/cluster_ledger.c) and the virtual network (src/sim/cluster_net.c).
 * The world itself is tested by running it (tests/sim_cluster*.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_ledger.h"
#include "cluster_net.h"
#include "rackfile.h"

static const char rack_text[] =
    "rack:\n"
    "  buses: [A, B]\n"
    "  feeds: [F1, F2]\n"
    "  psus:\n"
    "    - {id: p1, capacity_w: 1000, feed: F1, buses: [A, B]}\n"
    "    - {id: p2, capacity_w: 1000, feed: F2, buses: [B]}\n"
    "  servers:\n"
    "    - {id: s1, power_w: 500, priority: 1, buses: [A]}\n"
    "    - {id: s2, power_w: 400, min_w: 200, priority: 2, buses: [B]}\n";

static void load(struct rack *r)
{
    char err[256];
    assert_int_equal(
        rackfile_load_string("t.yaml", rack_text, strlen(rack_text), r, NULL, err, sizeof(err)), 0);
}

static void test_ledger_round_trip_keeps_every_mutable_field(void **state)
{
    (void)state;
    struct rack a, b;
    load(&a);
    load(&b);
    a.servers[0].state = RACK_SRV_ON;
    a.servers[0].alloc_mw = 500000;
    a.servers[0].seq = 7;
    a.servers[1].state = RACK_SRV_CAPPED;
    a.servers[1].alloc_mw = 250000;
    a.servers[1].losses = 2;
    a.servers[1].lost_ns = 123456789;
    a.servers[1].back_ns = -1;
    a.psus[0].bus = 1;
    a.psus[1].health = RACK_PSU_DEGRADED;
    a.psus[1].derated_mw = 600000;
    a.bus_failed[0] = true;
    a.feed_failed[1] = true;
    a.next_seq = 9;
    a.last_change_ns = 5000000000LL;
    a.is_protected = true;
    uint8_t buf[4096];
    size_t len = cledger_encode(&a, buf, sizeof(buf));
    assert_int_equal(len, cledger_size(&a));
    char err[256];
    assert_int_equal(cledger_decode(&b, buf, len, err, sizeof(err)), 0);
    assert_int_equal(b.servers[0].state, RACK_SRV_ON);
    assert_int_equal(b.servers[0].alloc_mw, 500000);
    assert_int_equal(b.servers[0].seq, 7);
    assert_int_equal(b.servers[1].state, RACK_SRV_CAPPED);
    assert_int_equal(b.servers[1].losses, 2);
    assert_int_equal(b.servers[1].lost_ns, 123456789);
    assert_int_equal(b.servers[1].back_ns, -1);
    assert_int_equal(b.psus[0].bus, 1);
    assert_int_equal(b.psus[1].health, RACK_PSU_DEGRADED);
    assert_int_equal(b.psus[1].derated_mw, 600000);
    assert_true(b.bus_failed[0]);
    assert_true(b.feed_failed[1]);
    assert_int_equal(b.next_seq, 9);
    assert_int_equal(b.last_change_ns, 5000000000LL);
    assert_true(b.is_protected);
    /* the same bytes again: nothing was lost on the way */
    uint8_t again[4096];
    assert_int_equal(cledger_encode(&b, again, sizeof(again)), len);
    assert_memory_equal(buf, again, len);
    assert_int_equal(cledger_encode(&a, buf, len - 1), 0); /* too small a buffer */
    rack_free(&a);
    rack_free(&b);
}

static void test_ledger_refuses_a_bad_payload_and_leaves_the_rack(void **state)
{
    (void)state;
    struct rack a, b;
    load(&a);
    load(&b);
    uint8_t buf[4096];
    size_t len = cledger_encode(&a, buf, sizeof(buf));
    char err[256];
    assert_int_equal(cledger_decode(&b, buf, len - 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bytes"));
    uint8_t bad[4096];
    memcpy(bad, buf, len);
    bad[0] ^= 1;
    assert_int_equal(cledger_decode(&b, bad, len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "magic"));
    /* a server state past the last one */
    a.servers[1].state = RACK_SRV_ON;
    len = cledger_encode(&a, buf, sizeof(buf));
    memcpy(bad, buf, len);
    size_t s1 = 4 + 4 + 4 + 1 + 1 + 8 + 8 + 8 + 1 + (1 + 8 + 8 + 8 + 8 + 4 + 8 + 8);
    bad[s1] = 9;
    assert_int_equal(cledger_decode(&b, bad, len, err, sizeof(err)), -1);
    assert_int_equal(b.servers[1].state, RACK_SRV_OFF); /* unchanged */
    /* a PSU on a bus it is not wired to (p2 reaches only B) */
    a.psus[1].bus = 0;
    len = cledger_encode(&a, buf, sizeof(buf));
    assert_int_equal(cledger_decode(&b, buf, len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "PSU 1"));
    assert_int_equal(b.psus[1].bus, 1);
    rack_free(&a);
    rack_free(&b);
}

static struct cnet_dgram *pop(struct cnet *n, int64_t now)
{
    return cnet_pop(n, now);
}

static void test_net_delivers_in_time_order_then_send_order(void **state)
{
    (void)state;
    struct cnet *n = cnet_new();
    uint64_t rng = 1;
    struct cnet_conf c = {.delay_min_ns = 1000};
    cnet_configure(n, &c);
    assert_int_equal(cnet_send(n, &rng, 50, 0, 1, (const uint8_t *)"b", 1, CNET_REAL), 0);
    assert_int_equal(cnet_send(n, &rng, 10, 0, 1, (const uint8_t *)"a", 1, CNET_REAL), 0);
    assert_int_equal(cnet_send(n, &rng, 10, 1, 0, (const uint8_t *)"c", 1, CNET_REAL), 0);
    assert_int_equal(cnet_next(n), 1010);
    assert_null(pop(n, 1009));
    struct cnet_dgram *d = pop(n, 2000);
    assert_memory_equal(d->buf, "a", 1);
    cnet_release(n, d);
    d = pop(n, 2000);
    assert_memory_equal(d->buf, "c", 1); /* same time as a: sent after it */
    assert_int_equal(d->from, 1);
    cnet_release(n, d);
    d = pop(n, 2000);
    assert_memory_equal(d->buf, "b", 1);
    cnet_release(n, d);
    assert_null(pop(n, 2000));
    assert_int_equal(cnet_next(n), INT64_MAX);
    cnet_free(n);
}

static void test_net_one_way_partition_drops_one_direction_also_in_flight(void **state)
{
    (void)state;
    struct cnet *n = cnet_new();
    uint64_t rng = 1;
    struct cnet_conf c = {.delay_min_ns = 100};
    cnet_configure(n, &c);
    cnet_send(n, &rng, 0, 0, 1, (const uint8_t *)"x", 1, CNET_REAL); /* in flight */
    cnet_block(n, 0, 1, true);
    assert_true(cnet_blocked(n, 0, 1));
    assert_false(cnet_blocked(n, 1, 0));
    cnet_send(n, &rng, 0, 0, 1, (const uint8_t *)"y", 1, CNET_REAL);    /* blocked at once */
    cnet_send(n, &rng, 0, 1, 0, (const uint8_t *)"z", 1, CNET_REAL);    /* the other way: fine */
    cnet_send(n, &rng, 0, -1, 1, (const uint8_t *)"f", 1, CNET_FORGED); /* the attacker's */
    struct cnet_dgram *d;
    int got = 0;
    while ((d = pop(n, 1000))) {
        assert_true(d->buf[0] == 'z' || d->buf[0] == 'f');
        got++;
        cnet_release(n, d);
    }
    assert_int_equal(got, 2);
    assert_int_equal(cnet_stats(n).partitioned, 2);
    cnet_heal(n);
    assert_false(cnet_blocked(n, 0, 1));
    cnet_free(n);
}

static void test_net_loses_and_duplicates_as_configured(void **state)
{
    (void)state;
    struct cnet *n = cnet_new();
    uint64_t rng = 42;
    struct cnet_conf all_lost = {.loss = 1.0};
    cnet_configure(n, &all_lost);
    for (int i = 0; i < 100; i++)
        cnet_send(n, &rng, 0, 0, 1, (const uint8_t *)"x", 1, CNET_REAL);
    assert_null(pop(n, 1000));
    assert_int_equal(cnet_stats(n).lost, 100);
    struct cnet_conf twice = {.dup = 1.0, .delay_jitter_ns = 500};
    cnet_configure(n, &twice);
    cnet_send(n, &rng, 0, 0, 1, (const uint8_t *)"x", 1, CNET_REAL);
    struct cnet_dgram *a = pop(n, 1000), *b = pop(n, 1000);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->kind == CNET_DUP || b->kind == CNET_DUP, 1);
    assert_null(pop(n, 1000));
    cnet_release(n, a);
    cnet_release(n, b);
    /* the same seed draws the same faults */
    struct cnet_conf some = {.loss = 0.5, .delay_jitter_ns = 1000};
    uint64_t r1 = 7, r2 = 7;
    cnet_reset(n);
    cnet_configure(n, &some);
    for (int i = 0; i < 50; i++)
        cnet_send(n, &r1, 0, 0, 1, (const uint8_t *)"x", 1, CNET_REAL);
    uint64_t lost1 = cnet_stats(n).lost;
    cnet_reset(n);
    cnet_configure(n, &some);
    for (int i = 0; i < 50; i++)
        cnet_send(n, &r2, 0, 0, 1, (const uint8_t *)"x", 1, CNET_REAL);
    assert_int_equal(cnet_stats(n).lost, lost1);
    assert_true(lost1 > 0 && lost1 < 50);
    cnet_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ledger_round_trip_keeps_every_mutable_field),
        cmocka_unit_test(test_ledger_refuses_a_bad_payload_and_leaves_the_rack),
        cmocka_unit_test(test_net_delivers_in_time_order_then_send_order),
        cmocka_unit_test(test_net_one_way_partition_drops_one_direction_also_in_flight),
        cmocka_unit_test(test_net_loses_and_duplicates_as_configured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
