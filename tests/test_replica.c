/*
 * test_replica.c - what a cluster's primary replicates and how a secondary
 * takes it (src/daemon/replica.h): an entry carries the decision's events
 * and rows, and once applied the secondary's ledger, journal and rack say
 * what the primary's do; a snapshot replaces every row; what is not an
 * entry is refused and writes nothing; an entry too large for a datagram
 * leaves its events out, never its rows; the outage record rides along.
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
#include "replica.h"
#include "testdir.h"

static const char rack_text[] = "rack:\n"
                                "  name: r1\n"
                                "  protection: none\n"
                                "  buses: [A, B]\n"
                                "  psus:\n"
                                "    - {id: p1, capacity_w: 3000, buses: [A, B], bus: A}\n"
                                "    - {id: p2, capacity_w: 3000, buses: [A, B], bus: B}\n"
                                "  servers:\n"
                                "    - {id: db1, power_w: 800, priority: 1, buses: [A, B]}\n"
                                "    - {id: web1, power_w: 600, min_w: 300, priority: 3, buses: "
                                "[A, B]}\n"
                                "    - {id: app1, power_w: 500, priority: 2, buses: [A]}\n";

static char dir[64], path[128], err[512];

/* The primary's rack and the secondary's, with their flags and store. */
static struct rack pr, sr;
static bool p_psu_oos[2], p_bus_oos[2], s_psu_oos[2], s_bus_oos[2], known[3];
static struct store *st;

static int setup(void **state)
{
    (void)state;
    if (testdir_make(dir, sizeof(dir), path, sizeof(path), "test_replica"))
        return -1;
    if (rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &pr, NULL, err, sizeof(err)) ||
        rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &sr, NULL, err, sizeof(err)))
        return -1;
    memset(p_psu_oos, 0, sizeof(p_psu_oos));
    memset(p_bus_oos, 0, sizeof(p_bus_oos));
    memset(s_psu_oos, 0, sizeof(s_psu_oos));
    memset(s_bus_oos, 0, sizeof(s_bus_oos));
    memset(known, 0, sizeof(known));
    st = store_open(path, false, err, sizeof(err));
    return st ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    store_close(st);
    rack_free(&pr);
    rack_free(&sr);
    return testdir_remove(dir);
}

static struct replica_target target(void)
{
    return (struct replica_target){
        .store = st, .rack = &sr, .psu_oos = s_psu_oos, .bus_oos = s_bus_oos, .known = known};
}

/* The primary grants db1 and caps web1: one decision, its actions. */
static void decide_on_primary(struct policy_actions *acts)
{
    pr.servers[0].state = RACK_SRV_ON;
    pr.servers[0].alloc_mw = 800000;
    pr.servers[0].seq = 4;
    pr.servers[1].state = RACK_SRV_CAPPED;
    pr.servers[1].alloc_mw = 400000;
    pr.servers[1].seq = 5;
    pr.psus[1].bus = 0;
    static struct policy_action v[2];
    v[0] = (struct policy_action){.kind = POLICY_ACT_GRANT, .server = 0, .psu = -1};
    v[1] = (struct policy_action){.kind = POLICY_ACT_CAP, .server = 1, .psu = -1};
    *acts = (struct policy_actions){.v = v, .n = 2, .cap = 2};
}

static int count_events(void *arg, int64_t id, const char *json)
{
    (void)id;
    int *n = arg;
    if (strstr(json, "\"entry\":1"))
        (*n)++;
    return 0;
}

static void test_an_applied_entry_makes_the_secondary_hold_what_the_primary_decided(void **state)
{
    (void)state;
    struct policy_actions acts;
    decide_on_primary(&acts);
    json_t *evs =
        json_pack("[{sisfssss},{sisfssss}]", "id", 0, "time", 1.5, "event", "grant", "server",
                  "db1", "id", 0, "time", 1.5, "event", "cap", "server", "web1");
    size_t len;
    char *p = replica_entry(&pr, p_psu_oos, p_bus_oos, evs, &acts, false, NULL, 1700000000.0, 60000,
                            &len, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(strlen(p), len);
    /* only the servers the decision named, every PSU and bus */
    assert_null(strstr(p, "app1"));
    assert_non_null(strstr(p, "\"psus\""));
    struct store_node pos = {.max_epoch = 0x201, .log_epoch = 0x201, .index = 1};
    json_t *got = NULL;
    struct replica_target t = target();
    assert_int_equal(replica_apply(&t, false, 1, (const uint8_t *)p, len, &pos, 1700000001.0, &got,
                                   NULL, err, sizeof(err)),
                     0);
    assert_int_equal(json_array_size(got), 2);
    json_decref(got);
    /* the rack */
    assert_int_equal(sr.servers[0].state, RACK_SRV_ON);
    assert_int_equal(sr.servers[0].alloc_mw, 800000);
    assert_int_equal(sr.servers[1].state, RACK_SRV_CAPPED);
    assert_int_equal(sr.servers[1].alloc_mw, 400000);
    assert_int_equal(sr.servers[2].state, RACK_SRV_OFF);
    assert_int_equal(sr.psus[1].bus, 0);
    assert_true(sr.next_seq > 5);
    assert_true(known[0] && known[1] && !known[2]);
    /* the journal, and the node's position with them */
    int n = 0;
    assert_int_equal(store_events(st, 0, 100, false, count_events, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    struct store_node back;
    assert_int_equal(store_node_get(st, &back, err, sizeof(err)), 0);
    assert_int_equal(back.index, 1);
    assert_int_equal(back.log_epoch, 0x201);
    /* and the ledger: a restart of the secondary restores the same rack */
    struct rack again;
    bool psu_oos[2] = {0}, bus_oos[2] = {0};
    struct ledger_counts counts;
    assert_int_equal(rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &again, NULL, err,
                                          sizeof(err)),
                     0);
    assert_int_equal(
        ledger_restore(st, &again, psu_oos, bus_oos, 0, &counts, NULL, err, sizeof(err)), 0);
    assert_int_equal(again.servers[0].state, RACK_SRV_ON);
    assert_int_equal(again.servers[1].alloc_mw, 400000);
    rack_free(&again);
    free(p);
    json_decref(evs);
}

static void test_a_snapshot_replaces_every_row(void **state)
{
    (void)state;
    struct policy_actions acts;
    decide_on_primary(&acts);
    p_psu_oos[0] = true; /* an operator's out of service */
    pr.psus[0].health = RACK_PSU_FAILED;
    /* the secondary believed app1 on: the snapshot says off */
    sr.servers[2].state = RACK_SRV_ON;
    sr.servers[2].alloc_mw = 500000;
    size_t len;
    char *p = replica_snapshot(&pr, p_psu_oos, p_bus_oos, NULL, 1700000000.0, &len);
    assert_non_null(p);
    assert_non_null(strstr(p, "\"snapshot\":true"));
    struct store_node pos = {.max_epoch = 0x301, .log_epoch = 0x301, .index = 40};
    struct replica_target t = target();
    assert_int_equal(replica_apply(&t, true, 40, (const uint8_t *)p, len, &pos, 1700000001.0, NULL,
                                   NULL, err, sizeof(err)),
                     0);
    assert_int_equal(sr.servers[0].state, RACK_SRV_ON);
    assert_int_equal(sr.servers[2].state, RACK_SRV_OFF);
    assert_int_equal(sr.servers[2].alloc_mw, 0);
    assert_true(s_psu_oos[0]);
    assert_int_equal(sr.psus[0].health, RACK_PSU_FAILED);
    assert_true(known[2]);
    free(p);
    /* the operator's flag lifted: the PSU is the readings' again */
    p_psu_oos[0] = false;
    p = replica_snapshot(&pr, p_psu_oos, p_bus_oos, NULL, 1700000002.0, &len);
    pos.index = 41;
    assert_int_equal(replica_apply(&t, true, 41, (const uint8_t *)p, len, &pos, 1700000003.0, NULL,
                                   NULL, err, sizeof(err)),
                     0);
    assert_false(s_psu_oos[0]);
    assert_int_equal(sr.psus[0].health, RACK_PSU_OK);
    free(p);
}

static void test_what_is_not_an_entry_is_refused_and_writes_nothing(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "not json",
        "[1,2]",
        "{\"events\":[]}",
        "{\"events\":[],\"servers\":[{\"id\":\"db1\",\"state\":\"flying\",\"watts_mw\":1,"
        "\"cap_mw\":0,\"seq\":1,\"time\":1}],\"psus\":[],\"buses\":[]}",
        "{\"events\":[{\"event\":\"grant\"}],\"servers\":[],\"psus\":[],\"buses\":[]}",
        "{\"events\":[],\"servers\":[],\"psus\":[{\"id\":\"p1\",\"bus\":\"A\"}],\"buses\":[]}",
        "{\"events\":[],\"servers\":[],\"psus\":[{\"id\":\"p1\",\"bus\":\"A\",\"oos\":false,"
        "\"at_risk\":1}],\"buses\":[]}",
        "{\"events\":[],\"servers\":[],\"psus\":[{\"id\":\"p1\",\"bus\":\"A\",\"oos\":false,"
        "\"at_risk\":null}],\"buses\":[]}",
        "{\"servers\":[],\"psus\":[],\"buses\":[]}",
    };
    struct store_node pos = {.index = 7};
    struct replica_target t = target();
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        err[0] = '\0';
        assert_int_equal(replica_apply(&t, false, 7, (const uint8_t *)bad[k], strlen(bad[k]), &pos,
                                       1.0, NULL, NULL, err, sizeof(err)),
                         -1);
        assert_true(err[0] != '\0');
    }
    int n = 0;
    assert_int_equal(store_events(st, 0, 100, false, count_events, &n, err, sizeof(err)), 0);
    assert_int_equal(store_last_id(st), 0);
    struct store_node back;
    assert_int_equal(store_node_get(st, &back, err, sizeof(err)), 0);
    assert_int_equal(back.index, 0);
}

static void test_an_entry_too_large_keeps_its_rows_and_leaves_its_events_out(void **state)
{
    (void)state;
    struct policy_actions acts;
    decide_on_primary(&acts);
    json_t *evs = json_array();
    char reason[1000];
    memset(reason, 'x', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    for (int k = 0; k < 10; k++)
        json_array_append_new(
            evs, json_pack("{sisfssss}", "id", 0, "time", 1.0, "event", "grant", "reason", reason));
    size_t len;
    char *p = replica_entry(&pr, p_psu_oos, p_bus_oos, evs, &acts, true, NULL, 1.0, 2000, &len, err,
                            sizeof(err));
    assert_non_null(p);
    assert_true(len <= 2000);
    assert_non_null(strstr(p, "\"events_left_out\":10"));
    assert_non_null(strstr(p, "app1")); /* all: every server's row */
    free(p);
    /* rows that do not fit at all: refused */
    assert_null(replica_entry(&pr, p_psu_oos, p_bus_oos, evs, &acts, true, NULL, 1.0, 100, &len,
                              err, sizeof(err)));
    assert_non_null(strstr(err, "more than a datagram's 100"));
    json_decref(evs);
}

/* The outage record (outage_run.h) rides in entries and snapshots as the
 * owner gave it, and comes out of replica_apply for the owner to check; an
 * entry without one gives none; too large for its events, an entry keeps
 * its record with its rows. */
static void test_the_outage_record_rides_in_entries_and_snapshots(void **state)
{
    (void)state;
    struct policy_actions acts;
    decide_on_primary(&acts);
    json_t *rec = json_pack("{sbsssiso}", "active", 1, "cause", "operator", "stages", 2, "servers",
                            json_pack("{s{sssb}}", "web1", "phase", "held", "held", 1));
    json_t *evs = json_array();
    size_t len;
    char *p = replica_entry(&pr, p_psu_oos, p_bus_oos, evs, &acts, false, rec, 1.0, 60000, &len,
                            err, sizeof(err));
    assert_non_null(p);
    struct store_node pos = {.max_epoch = 0x201, .log_epoch = 0x201, .index = 1};
    struct replica_target t = target();
    json_t *got = NULL;
    assert_int_equal(replica_apply(&t, false, 1, (const uint8_t *)p, len, &pos, 2.0, NULL, &got,
                                   err, sizeof(err)),
                     0);
    assert_true(json_equal(got, rec));
    json_decref(got);
    free(p);
    /* none given, none taken */
    p = replica_entry(&pr, p_psu_oos, p_bus_oos, evs, &acts, false, NULL, 1.0, 60000, &len, err,
                      sizeof(err));
    pos.index = 2;
    got = json_true();
    assert_int_equal(replica_apply(&t, false, 2, (const uint8_t *)p, len, &pos, 2.0, NULL, &got,
                                   err, sizeof(err)),
                     0);
    assert_null(got);
    free(p);
    /* a snapshot carries it too */
    p = replica_snapshot(&pr, p_psu_oos, p_bus_oos, rec, 3.0, &len);
    assert_non_null(p);
    pos.index = 3;
    assert_int_equal(replica_apply(&t, true, 3, (const uint8_t *)p, len, &pos, 4.0, NULL, &got, err,
                                   sizeof(err)),
                     0);
    assert_true(json_equal(got, rec));
    json_decref(got);
    free(p);
    /* events too many for a datagram: left out, the record kept */
    for (int k = 0; k < 40; k++)
        json_array_append_new(evs, json_pack("{sisfssss}", "id", 0, "time", 1.5, "event", "stage",
                                             "reason", "a long reason to fill the datagram up"));
    p = replica_entry(&pr, p_psu_oos, p_bus_oos, evs, &acts, false, rec, 1.0, 1500, &len, err,
                      sizeof(err));
    assert_non_null(p);
    assert_non_null(strstr(p, "\"events_left_out\":40"));
    assert_non_null(strstr(p, "\"outage\":{"));
    free(p);
    json_decref(evs);
    json_decref(rec);
}

/* The secondary's flag of PSU i, as its ledger gives it back at a restart. */
static bool restored_at_risk(int i)
{
    struct rack again;
    bool psu_oos[2] = {0}, bus_oos[2] = {0};
    struct ledger_counts counts;
    assert_int_equal(rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &again, NULL, err,
                                          sizeof(err)),
                     0);
    assert_int_equal(
        ledger_restore(st, &again, psu_oos, bus_oos, 0, &counts, NULL, err, sizeof(err)), 0);
    bool at_risk = again.psus[i].at_risk;
    rack_free(&again);
    return at_risk;
}

static int apply_text(uint64_t index, const char *text)
{
    struct store_node pos = {.index = index};
    struct replica_target t = target();
    return replica_apply(&t, false, index, (const uint8_t *)text, strlen(text), &pos, 2.0, NULL,
                         NULL, err, sizeof(err));
}

static void test_a_psu_predicted_to_fail_stays_so_on_the_secondary(void **state)
{
    (void)state;
    struct policy_actions none = {0};
    pr.psus[1].at_risk = true; /* the primary's policy drains p2 */
    pr.psus[1].bus = -1;
    size_t len;
    char *p = replica_entry(&pr, p_psu_oos, p_bus_oos, NULL, &none, false, NULL, 1.0, 60000, &len,
                            err, sizeof(err));
    assert_non_null(p);
    assert_non_null(strstr(p, "{\"id\":\"p2\",\"bus\":\"\",\"oos\":false,\"at_risk\":true}"));
    assert_int_equal(apply_text(1, p), 0);
    free(p);
    assert_true(sr.psus[1].at_risk);
    assert_false(sr.psus[0].at_risk);
    assert_true(restored_at_risk(1)); /* its ledger keeps it */
    assert_false(restored_at_risk(0));

    /* an older primary's rows say nothing of it: the flag stays as it is */
    assert_int_equal(apply_text(2, "{\"events\":[],\"servers\":[],\"psus\":[{\"id\":\"p1\",\"bus\":"
                                   "\"A\",\"oos\":false},{\"id\":\"p2\",\"bus\":\"\",\"oos\":false}"
                                   "],\"buses\":[]}"),
                     0);
    assert_true(sr.psus[1].at_risk);
    assert_false(sr.psus[0].at_risk);
    assert_true(restored_at_risk(1));
    assert_false(restored_at_risk(0));

    /* cleared on the primary (its predictor, or an operator): cleared here */
    pr.psus[1].at_risk = false;
    p = replica_snapshot(&pr, p_psu_oos, p_bus_oos, NULL, 3.0, &len);
    assert_non_null(p);
    struct store_node pos = {.index = 3};
    struct replica_target t = target();
    assert_int_equal(replica_apply(&t, true, 3, (const uint8_t *)p, len, &pos, 3.0, NULL, NULL, err,
                                   sizeof(err)),
                     0);
    free(p);
    assert_false(sr.psus[1].at_risk);
    assert_false(restored_at_risk(1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_an_applied_entry_makes_the_secondary_hold_what_the_primary_decided, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_snapshot_replaces_every_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_what_is_not_an_entry_is_refused_and_writes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_entry_too_large_keeps_its_rows_and_leaves_its_events_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_psu_predicted_to_fail_stays_so_on_the_secondary,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_outage_record_rides_in_entries_and_snapshots,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
