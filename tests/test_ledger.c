/*
 * test_ledger.c - the ledger's rows and the rack (src/daemon/ledger.h):
 * rows say what the rack holds, a rack written and read back is the same
 * rack, and rows from an older config are fitted into the new one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ledger.h"
#include "rackfile.h"
#include "testdir.h"

static const char rack_text[] = "rack:\n"
                                "  name: r1\n"
                                "  protection: none\n"
                                "  buses: [A, B]\n"
                                "  psus:\n"
                                "    - {id: p1, capacity_w: 3000, buses: [A, B], bus: A}\n"
                                "    - {id: p2, capacity_w: 3000, buses: [A, B], bus: B}\n"
                                "    - {id: p3, capacity_w: 3000, buses: [B], bus: B}\n"
                                "  servers:\n"
                                "    - {id: db1, power_w: 800, priority: 1, buses: [A, B]}\n"
                                "    - {id: web1, power_w: 600, min_w: 300, priority: 3, buses: "
                                "[A, B]}\n"
                                "    - {id: app1, power_w: 500, priority: 2, buses: [A]}\n"
                                "    - {id: ml1, power_w: 900, priority: 4, buses: [B]}\n"
                                "    - {id: log1, power_w: 100, priority: 5, buses: [B]}\n";

static char dir[64], path[128], err[512];

static void load_rack(struct rack *r)
{
    if (rackfile_load_string("t.yaml", rack_text, strlen(rack_text), r, NULL, err, sizeof(err)))
        fail_msg("rack: %s", err);
}

static int setup(void **state)
{
    (void)state;
    if (testdir_make(dir, sizeof(dir), path, sizeof(path), "test_ledger"))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testdir_remove(dir);
}

static void set_server(struct rack *r, int i, enum rack_server_state st, int64_t alloc_mw,
                       uint64_t seq)
{
    r->servers[i].state = st;
    r->servers[i].alloc_mw = alloc_mw;
    r->servers[i].seq = seq;
}

static void test_ledger_rows_say_what_the_rack_holds(void **state)
{
    (void)state;
    struct rack r;
    load_rack(&r);
    set_server(&r, 0, RACK_SRV_ON, 800000, 3);
    set_server(&r, 1, RACK_SRV_CAPPED, 400000, 4);
    set_server(&r, 3, RACK_SRV_SHED, 0, 5);
    struct store_server on = ledger_server_row(&r, 0, 1700000000.5);
    assert_string_equal(on.id, "db1");
    assert_int_equal(on.state, RACK_SRV_ON);
    assert_int_equal(on.watts_mw, 800000);
    assert_int_equal(on.cap_mw, 0);
    assert_int_equal(on.seq, 3);
    assert_true(on.time == 1700000000.5);
    struct store_server capped = ledger_server_row(&r, 1, 0);
    assert_int_equal(capped.watts_mw, 400000);
    assert_int_equal(capped.cap_mw, 400000);
    struct store_server shed = ledger_server_row(&r, 3, 0);
    assert_int_equal(shed.state, RACK_SRV_SHED);
    assert_int_equal(shed.watts_mw, 0);

    r.psus[0].bus = -1;
    r.psus[0].at_risk = true;
    struct store_psu p1 = ledger_psu_row(&r, 0, true), p2 = ledger_psu_row(&r, 1, false);
    assert_string_equal(p1.id, "p1");
    assert_string_equal(p1.bus, "");
    assert_true(p1.out_of_service);
    assert_true(p1.at_risk);
    assert_false(p2.at_risk);
    assert_string_equal(p2.bus, "B");
    assert_false(p2.out_of_service);
    struct store_bus b = ledger_bus_row(&r, 1, true);
    assert_string_equal(b.id, "B");
    assert_true(b.out_of_service);
    rack_free(&r);
}

static void test_ledger_round_trip_gives_the_same_rack(void **state)
{
    (void)state;
    struct rack r, back;
    bool psu_oos[4] = {false, true, false}, bus_oos[RACK_MAX_BUSES] = {true};
    load_rack(&r);
    set_server(&r, 0, RACK_SRV_ON, 800000, 3);
    set_server(&r, 1, RACK_SRV_CAPPED, 400000, 7);
    set_server(&r, 2, RACK_SRV_WAITING, 0, 9);
    set_server(&r, 3, RACK_SRV_SHED, 0, 5);
    r.psus[0].bus = 1;        /* p1 moved from A to B */
    r.psus[1].at_risk = true; /* predicted to fail, then taken out: it keeps the flag */
    r.psus[2].at_risk = true; /* predicted to fail, drained */
    r.psus[2].bus = -1;

    struct store *s = store_open(path, false, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(ledger_put_all(s, &r, psu_oos, bus_oos, 1700000000, err, sizeof(err)), 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    store_close(s);

    s = store_open(path, false, err, sizeof(err));
    assert_non_null(s);
    bool psu_back[4] = {false}, bus_back[RACK_MAX_BUSES] = {false};
    struct ledger_counts counts;
    load_rack(&back);
    assert_int_equal(
        ledger_restore(s, &back, psu_back, bus_back, 123456789, &counts, NULL, err, sizeof(err)),
        0);
    store_close(s);
    for (int i = 0; i < r.nservers; i++) {
        assert_int_equal(back.servers[i].state, r.servers[i].state);
        assert_int_equal(back.servers[i].alloc_mw, r.servers[i].alloc_mw);
        assert_int_equal(back.servers[i].seq, r.servers[i].seq);
    }
    for (int i = 0; i < r.npsus; i++) {
        assert_int_equal(back.psus[i].bus, r.psus[i].bus);
        assert_int_equal(psu_back[i], psu_oos[i]);
        assert_int_equal(back.psus[i].at_risk, r.psus[i].at_risk);
    }
    assert_false(back.psus[0].at_risk);
    /* out of service is a failure for the policy */
    assert_int_equal(back.psus[1].health, RACK_PSU_FAILED);
    assert_int_equal(back.psus[0].health, RACK_PSU_OK);
    assert_true(bus_back[0]);
    assert_true(back.bus_failed[0]);
    assert_false(bus_back[1]);
    assert_false(back.bus_failed[1]);
    assert_int_equal(counts.servers[RACK_SRV_ON], 1);
    assert_int_equal(counts.servers[RACK_SRV_CAPPED], 1);
    assert_int_equal(counts.servers[RACK_SRV_WAITING], 1);
    assert_int_equal(counts.servers[RACK_SRV_SHED], 1);
    assert_int_equal(counts.servers[RACK_SRV_OFF], 1);
    /* requests go on after the last one; the restart is a change of health */
    assert_int_equal(back.next_seq, 10);
    assert_int_equal(back.last_change_ns, 123456789);
    rack_free(&r);
    rack_free(&back);
}

static void test_ledger_forgets_a_server_not_in_the_rack(void **state)
{
    (void)state;
    struct rack r;
    load_rack(&r);
    struct store_server x = {.id = "gone1", .state = RACK_SRV_ON, .watts_mw = 500000, .seq = 2};
    assert_int_equal(ledger_apply_server(&r, &x), -1);
    for (int i = 0; i < r.nservers; i++)
        assert_int_equal(r.servers[i].state, RACK_SRV_OFF);
    rack_free(&r);
}

static void test_ledger_grant_follows_the_configs_power(void **state)
{
    (void)state;
    struct rack r;
    load_rack(&r);
    /* db1 was granted 1000 W under an older config; it asks 800 W now */
    struct store_server x = {.id = "db1", .state = RACK_SRV_ON, .watts_mw = 1000000, .seq = 1};
    assert_int_equal(ledger_apply_server(&r, &x), 0);
    assert_int_equal(r.servers[0].alloc_mw, 800000);
    rack_free(&r);
}

static void test_ledger_clamps_a_cap_into_the_new_range(void **state)
{
    (void)state;
    struct rack r;
    load_rack(&r);
    /* web1 runs 300..600 W now: a cap of 200 W becomes 300 W */
    struct store_server low = {.id = "web1", .state = RACK_SRV_CAPPED, .cap_mw = 200000};
    assert_int_equal(ledger_apply_server(&r, &low), 1);
    assert_int_equal(r.servers[1].state, RACK_SRV_CAPPED);
    assert_int_equal(r.servers[1].alloc_mw, 300000);
    /* a cap at or above its power is no cap */
    struct store_server high = {.id = "web1", .state = RACK_SRV_CAPPED, .cap_mw = 700000};
    assert_int_equal(ledger_apply_server(&r, &high), 1);
    assert_int_equal(r.servers[1].state, RACK_SRV_ON);
    assert_int_equal(r.servers[1].alloc_mw, 600000);
    rack_free(&r);
}

static void test_ledger_ignores_a_position_the_psu_is_not_wired_to(void **state)
{
    (void)state;
    struct rack r;
    bool oos[4] = {false};
    load_rack(&r);
    struct store_psu x = {.id = "p3", .bus = "A"}; /* p3 is wired to B only */
    assert_int_equal(ledger_apply_psu(&r, oos, &x), 2);
    assert_int_equal(r.psus[2].bus, 1);
    struct store_psu y = {.id = "p1", .bus = "Z"}; /* no such bus */
    assert_int_equal(ledger_apply_psu(&r, oos, &y), 0);
    assert_int_equal(r.psus[0].bus, 0);
    struct store_psu z = {.id = "p9", .bus = "A", .out_of_service = true};
    assert_int_equal(ledger_apply_psu(&r, oos, &z), -1);
    assert_false(oos[0] || oos[1] || oos[2]);
    rack_free(&r);
}

static void test_ledger_keeps_a_psu_out_of_service_on_no_bus(void **state)
{
    (void)state;
    struct rack r;
    bool oos[4] = {false};
    load_rack(&r);
    assert_true(r.psus[0].bus >= 0); /* the rack file puts p1 on a bus */
    struct store_psu x = {.id = "p1", .bus = "", .out_of_service = true};
    assert_int_equal(ledger_apply_psu(&r, oos, &x), 0);
    assert_int_equal(r.psus[0].bus, -1); /* its switch was opened: it stays on none */
    assert_int_equal(r.psus[0].health, RACK_PSU_FAILED);
    assert_true(oos[0]);
    rack_free(&r);
}

static void test_ledger_missing_knows_no_server(void **state)
{
    (void)state;
    struct rack r;
    load_rack(&r);
    struct store *s = store_open(path, false, err, sizeof(err)); /* a new, empty database */
    assert_non_null(s);
    bool psu_oos[4] = {false}, bus_oos[RACK_MAX_BUSES] = {false};
    bool known[5] = {true, true, true, true, true};
    struct ledger_counts counts;
    assert_int_equal(ledger_restore(s, &r, psu_oos, bus_oos, 1, &counts, known, err, sizeof(err)),
                     0);
    assert_int_equal(counts.rows, 0);
    for (int i = 0; i < r.nservers; i++)
        assert_false(known[i]);
    /* one row: that server is known, the others are not */
    set_server(&r, 1, RACK_SRV_ON, 600000, 1);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(ledger_put_server(s, &r, 1, 0, err, sizeof(err)), 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    assert_int_equal(ledger_restore(s, &r, psu_oos, bus_oos, 1, &counts, known, err, sizeof(err)),
                     0);
    assert_int_equal(counts.rows, 1);
    assert_true(known[1]);
    assert_false(known[0]);
    store_close(s);
    rack_free(&r);
}

static void test_ledger_adopts_a_server_its_device_reports_drawing(void **state)
{
    (void)state;
    struct rack r;
    load_rack(&r);
    r.next_seq = 4;
    /* off, drawing: on at its power_w, next in the request order */
    assert_true(ledger_adopt(&r, 0, 750000));
    assert_int_equal(r.servers[0].state, RACK_SRV_ON);
    assert_int_equal(r.servers[0].alloc_mw, 800000);
    assert_int_equal(r.servers[0].seq, 4);
    assert_int_equal(r.next_seq, 5);
    /* waiting, drawing: on, keeping its place */
    set_server(&r, 1, RACK_SRV_WAITING, 0, 2);
    assert_true(ledger_adopt(&r, 1, 100000));
    assert_int_equal(r.servers[1].state, RACK_SRV_ON);
    assert_int_equal(r.servers[1].alloc_mw, 600000);
    assert_int_equal(r.servers[1].seq, 2);
    /* drawing nothing, or already drawing: nothing to adopt */
    assert_false(ledger_adopt(&r, 2, 0));
    assert_int_equal(r.servers[2].state, RACK_SRV_OFF);
    set_server(&r, 3, RACK_SRV_CAPPED, 450000, 3);
    assert_false(ledger_adopt(&r, 3, 900000));
    assert_int_equal(r.servers[3].alloc_mw, 450000);
    rack_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ledger_rows_say_what_the_rack_holds),
        cmocka_unit_test(test_ledger_keeps_a_psu_out_of_service_on_no_bus),
        cmocka_unit_test_setup_teardown(test_ledger_missing_knows_no_server, setup, teardown),
        cmocka_unit_test(test_ledger_adopts_a_server_its_device_reports_drawing),
        cmocka_unit_test_setup_teardown(test_ledger_round_trip_gives_the_same_rack, setup,
                                        teardown),
        cmocka_unit_test(test_ledger_forgets_a_server_not_in_the_rack),
        cmocka_unit_test(test_ledger_grant_follows_the_configs_power),
        cmocka_unit_test(test_ledger_clamps_a_cap_into_the_new_range),
        cmocka_unit_test(test_ledger_ignores_a_position_the_psu_is_not_wired_to),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
