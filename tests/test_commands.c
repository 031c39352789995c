/*
 * test_commands.c - the operator's commands and out-of-service overlay
 * (src/daemon/commands.h), decided and journaled through a real decider on
 * a real store: what the answer says, what the rack becomes, what the
 * journal and the ledger hold, and what the devices' word does meanwhile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "commands.h"
#include "ledger.h"
#include "monoclock.h"
#include "rackfile.h"
#include "testdir.h"

/* n+1 over three PSUs: 4000 W may be granted. */
static const char rack_text[] = "rack:\n"
                                "  name: r1\n"
                                "  protection: n+1\n"
                                "  buses: [A, B]\n"
                                "  psus:\n"
                                "    - {id: p1, capacity_w: 2000, buses: [A, B], bus: A}\n"
                                "    - {id: p2, capacity_w: 2000, buses: [A, B], bus: B}\n"
                                "    - {id: p3, capacity_w: 2000, buses: [A, B], bus: A}\n"
                                "  servers:\n"
                                "    - {id: db1, power_w: 1500, priority: 1, buses: [A, B]}\n"
                                "    - {id: web1, power_w: 2000, priority: 3, buses: [A, B]}\n"
                                "    - {id: ml1, power_w: 1500, priority: 4, buses: [A, B]}\n";

static char dir[64], path[128], err[512];
static struct rack r;
static struct store *st;
static struct decider d;
static struct commands_overlay ov;

static int setup(void **state)
{
    (void)state;
    if (testdir_make(dir, sizeof(dir), path, sizeof(path), "test_commands"))
        return -1;
    if (rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &r, NULL, err, sizeof(err)) ||
        !(st = store_open(path, false, err, sizeof(err))) || commands_overlay_init(&ov, &r) ||
        decider_init(&d, &r, st, ov.psu_oos, ov.bus_oos, mono_ns(), err, sizeof(err)))
        return -1;
    struct decision x = decision_settle(NULL);
    return decide(&d, &x, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    decider_fini(&d);
    commands_overlay_fini(&ov);
    store_close(st);
    st = NULL;
    rack_free(&r);
    return testdir_remove(dir);
}

/* Runs a command, as a dry run or forced; returns its status and the answer
 * parsed into *answer. */
static int run_with(enum hub_cmd_kind kind, const char *id, const char *note, bool dry_run,
                    bool force, json_t **answer)
{
    struct hub_cmd c = {.kind = kind, .dry_run = dry_run, .force = force};
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.note, sizeof(c.note), "%s", note);
    char *body = NULL;
    int status = commands_run(&d, &ov, &c, &body);
    assert_non_null(body);
    json_error_t jerr;
    *answer = json_loads(body, 0, &jerr);
    free(body);
    assert_non_null(*answer);
    return status;
}

/* Runs a command as asked plainly. */
static int run(enum hub_cmd_kind kind, const char *id, const char *note, json_t **answer)
{
    return run_with(kind, id, note, false, false, answer);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    assert_non_null(s);
    return s;
}

/* The members of the answer's array `list` whose `key` is `value`: how many,
 * and the first one. */
static size_t members(json_t *answer, const char *list, const char *key, const char *value,
                      json_t **first)
{
    size_t k, n = 0;
    json_t *m;
    *first = NULL;
    json_array_foreach(json_object_get(answer, list), k, m)
    {
        if (!strcmp(str(m, key), value) && !n++)
            *first = m;
    }
    return n;
}

/* The events of an answer, by name: how many, and the first one. */
static size_t events_named(json_t *answer, const char *name, json_t **first)
{
    return members(answer, "events", "event", name, first);
}

static int count_journal(void *arg, int64_t id, const char *json)
{
    (void)id;
    (void)json;
    ++*(int *)arg;
    return 0;
}

static int journal_size(void)
{
    int n = 0;
    assert_int_equal(store_events(st, 0, 1000, false, count_journal, &n, err, sizeof(err)), 0);
    return n;
}

static int find_server_row(void *arg, const struct store_server *x)
{
    struct store_server *want = arg;
    if (!strcmp(x->id, want->id))
        *want = *x;
    return 0;
}

static struct store_server server_row(const char *id)
{
    struct store_server x = {.state = -1};
    snprintf(x.id, sizeof(x.id), "%s", id);
    assert_int_equal(store_load_servers(st, find_server_row, &x, err, sizeof(err)), 0);
    return x;
}

static int find_psu_row(void *arg, const struct store_psu *x)
{
    struct store_psu *want = arg;
    if (!strcmp(x->id, want->id))
        *want = *x;
    return 0;
}

static void test_power_on_grants_and_journals_the_grant(void **state)
{
    (void)state;
    json_t *a, *ev;
    int before = journal_size();
    assert_int_equal(run(HUB_POWER_ON, "db1", "maintenance done", &a), 200);
    assert_string_equal(str(a, "result"), "granted");
    assert_string_equal(str(a, "state"), "on");
    assert_int_equal(json_integer_value(json_object_get(a, "watts")), 1500);
    assert_int_equal(events_named(a, "grant", &ev), 1);
    assert_string_equal(str(ev, "server"), "db1");
    assert_string_equal(str(ev, "note"), "maintenance done");
    assert_int_equal(journal_size(), before + 1);
    assert_int_equal(r.servers[0].state, RACK_SRV_ON);
    struct store_server row = server_row("db1");
    assert_int_equal(row.state, RACK_SRV_ON);
    assert_int_equal(row.watts_mw, 1500000);
    json_decref(a);
}

static void test_power_on_queues_what_does_not_fit(void **state)
{
    (void)state;
    json_t *a, *ev;
    assert_int_equal(run(HUB_POWER_ON, "web1", "", &a), 200);
    json_decref(a);
    assert_int_equal(run(HUB_POWER_ON, "db1", "", &a), 200);
    json_decref(a);
    /* 3500 W granted of 4000 W protected: ml1's 1500 W waits */
    assert_int_equal(run(HUB_POWER_ON, "ml1", "", &a), 200);
    assert_string_equal(str(a, "result"), "queued");
    assert_string_equal(str(a, "state"), "waiting");
    assert_int_equal(json_integer_value(json_object_get(a, "watts")), 0);
    assert_int_equal(events_named(a, "wait", &ev), 1);
    assert_true(strlen(str(a, "reason")) > 0);
    assert_int_equal(server_row("ml1").state, RACK_SRV_WAITING);
    json_decref(a);
    /* web1 lets go: the waiting request is granted in the same decision */
    assert_int_equal(run(HUB_POWER_OFF, "web1", "", &a), 200);
    assert_string_equal(str(a, "result"), "released");
    assert_string_equal(str(a, "state"), "off");
    assert_int_equal(events_named(a, "grant", &ev), 1);
    assert_string_equal(str(ev, "server"), "ml1");
    assert_int_equal(r.servers[2].state, RACK_SRV_ON);
    assert_int_equal(server_row("web1").state, RACK_SRV_OFF);
    json_decref(a);
}

static void test_command_naming_nothing_is_404_and_journals_nothing(void **state)
{
    (void)state;
    json_t *a;
    int before = journal_size();
    assert_int_equal(run(HUB_POWER_ON, "ghost", "", &a), 404);
    assert_string_equal(str(a, "error"), "no server 'ghost'");
    json_decref(a);
    assert_int_equal(run(HUB_PSU_OUT, "p9", "", &a), 404);
    assert_string_equal(str(a, "error"), "no psu 'p9'");
    json_decref(a);
    assert_int_equal(run(HUB_BUS_IN, "Z", "", &a), 404);
    assert_string_equal(str(a, "error"), "no bus 'Z'");
    json_decref(a);
    assert_int_equal(journal_size(), before);
}

static void test_psu_out_of_service_is_a_failure_for_the_policy(void **state)
{
    (void)state;
    json_t *a, *ev;
    assert_int_equal(run(HUB_PSU_OUT, "p2", "swap fan", &a), 200);
    assert_string_equal(str(a, "psu"), "p2");
    assert_true(json_is_true(json_object_get(a, "out_of_service")));
    assert_true(json_is_true(json_object_get(a, "changed")));
    assert_string_equal(str(a, "state"), "failed");
    assert_int_equal(events_named(a, "psu_fail", &ev), 1);
    assert_string_equal(str(ev, "reason"), "out of service by operator: swap fan");
    assert_true(ov.psu_oos[1]);
    assert_int_equal(r.psus[1].health, RACK_PSU_FAILED);
    struct store_psu row = {.id = "p2"};
    assert_int_equal(store_load_psus(st, find_psu_row, &row, err, sizeof(err)), 0);
    assert_true(row.out_of_service);
    json_decref(a);
    /* asked again: nothing changes, nothing is journaled */
    int before = journal_size();
    assert_int_equal(run(HUB_PSU_OUT, "p2", "", &a), 200);
    assert_true(json_is_false(json_object_get(a, "changed")));
    assert_int_equal(json_array_size(json_object_get(a, "events")), 0);
    assert_int_equal(journal_size(), before);
    json_decref(a);
    /* back in service: a repair */
    assert_int_equal(run(HUB_PSU_IN, "p2", "", &a), 200);
    assert_string_equal(str(a, "state"), "ok");
    assert_int_equal(events_named(a, "psu_repair", &ev), 1);
    assert_string_equal(str(ev, "reason"), "back in service by operator");
    assert_false(ov.psu_oos[1]);
    assert_int_equal(r.psus[1].health, RACK_PSU_OK);
    json_decref(a);
}

static void test_devices_word_is_held_while_out_of_service(void **state)
{
    (void)state;
    json_t *a;
    assert_int_equal(run(HUB_PSU_OUT, "p1", "", &a), 200);
    json_decref(a);
    struct policy_input repair = {.kind = POLICY_PSU_REPAIR, .index = 0};
    assert_false(commands_pass_health(&ov, &r, &repair));
    struct policy_input fail = {.kind = POLICY_PSU_FAIL, .index = 0};
    assert_false(commands_pass_health(&ov, &r, &fail));
    assert_true(ov.psu_seen[0].failed);
    /* another PSU's word passes */
    struct policy_input other = {.kind = POLICY_PSU_FAIL, .index = 2};
    assert_true(commands_pass_health(&ov, &r, &other));
    /* inputs that name nothing do not */
    struct policy_input ghost = {.kind = POLICY_PSU_FAIL, .index = 3};
    assert_false(commands_pass_health(&ov, &r, &ghost));
    struct policy_input no_bus = {.kind = POLICY_BUS_FAIL, .index = -1};
    assert_false(commands_pass_health(&ov, &r, &no_bus));
    struct policy_input request = {.kind = POLICY_POWER_ON, .index = 0};
    assert_true(commands_pass_health(&ov, &r, &request));
}

static void test_back_in_service_stays_failed_when_its_device_says_failed(void **state)
{
    (void)state;
    json_t *a, *ev;
    assert_int_equal(run(HUB_PSU_OUT, "p1", "", &a), 200);
    json_decref(a);
    struct policy_input fail = {.kind = POLICY_PSU_FAIL, .index = 0};
    assert_false(commands_pass_health(&ov, &r, &fail));
    assert_int_equal(run(HUB_PSU_IN, "p1", "checked", &a), 200);
    assert_true(json_is_true(json_object_get(a, "changed")));
    assert_string_equal(str(a, "state"), "failed");
    assert_int_equal(events_named(a, "psu_fail", &ev), 1);
    assert_string_equal(str(ev, "reason"), "back in service by operator: checked; still failed: "
                                           "its device reports it failed");
    assert_false(ov.psu_oos[0]);
    assert_int_equal(r.psus[0].health, RACK_PSU_FAILED);
    json_decref(a);
    /* the device's repair now reaches the policy */
    struct policy_input repair = {.kind = POLICY_PSU_REPAIR, .index = 0};
    assert_true(commands_pass_health(&ov, &r, &repair));
}

static void test_back_in_service_degraded_when_its_device_says_degraded(void **state)
{
    (void)state;
    json_t *a, *ev;
    assert_int_equal(run(HUB_PSU_OUT, "p3", "", &a), 200);
    json_decref(a);
    struct policy_input derate = {.kind = POLICY_PSU_DEGRADE, .index = 2, .watts_mw = 1200000};
    assert_false(commands_pass_health(&ov, &r, &derate));
    assert_int_equal(run(HUB_PSU_IN, "p3", "", &a), 200);
    assert_int_equal(events_named(a, "psu_degrade", &ev), 1);
    assert_int_equal(r.psus[2].health, RACK_PSU_DEGRADED);
    assert_int_equal(r.psus[2].derated_mw, 1200000);
    json_decref(a);
}

static void test_back_in_service_stays_failed_while_its_device_cannot_read_it(void **state)
{
    (void)state;
    json_t *a, *ev;
    assert_int_equal(run(HUB_PSU_OUT, "p2", "", &a), 200);
    json_decref(a);
    struct policy_input unknown = {.kind = POLICY_PSU_UNKNOWN, .index = 1};
    assert_false(commands_pass_health(&ov, &r, &unknown));
    assert_int_equal(r.psus[1].health, RACK_PSU_FAILED);
    /* the core's rule: a failed PSU stays failed until a reading says otherwise */
    assert_int_equal(run(HUB_PSU_IN, "p2", "", &a), 200);
    assert_int_equal(events_named(a, "psu_unknown", &ev), 1);
    assert_false(ov.psu_oos[1]);
    assert_int_equal(r.psus[1].health, RACK_PSU_FAILED);
    json_decref(a);
    struct policy_input repair = {.kind = POLICY_PSU_REPAIR, .index = 1};
    assert_true(commands_pass_health(&ov, &r, &repair));
}

static void test_bus_out_of_service_fails_the_bus(void **state)
{
    (void)state;
    json_t *a, *ev;
    assert_int_equal(run(HUB_BUS_OUT, "B", "", &a), 200);
    assert_string_equal(str(a, "bus"), "B");
    assert_string_equal(str(a, "state"), "failed");
    assert_int_equal(events_named(a, "bus_fail", &ev), 1);
    assert_true(ov.bus_oos[1]);
    assert_true(r.bus_failed[1]);
    json_decref(a);
    struct policy_input repair = {.kind = POLICY_BUS_REPAIR, .index = 1};
    assert_false(commands_pass_health(&ov, &r, &repair));
    assert_int_equal(run(HUB_BUS_IN, "B", "", &a), 200);
    assert_string_equal(str(a, "state"), "ok");
    assert_false(r.bus_failed[1]);
    json_decref(a);
}

/* Appends each event's JSON to the string arg (a char[8192]). */
static int gather(void *arg, int64_t id, const char *json)
{
    (void)id;
    char *buf = arg;
    snprintf(buf + strlen(buf), 8192 - strlen(buf), "%s\n", json);
    return 0;
}

static int psu_oos_row(void *arg, const struct store_psu *x)
{
    if (!strcmp(x->id, "p1"))
        *(int *)arg = x->out_of_service;
    return 0;
}

static void test_journal_refused_refuses_grants_and_keeps_what_lowers_power(void **state)
{
    (void)state;
    json_t *a;
    /* a read-only store: every transaction fails, as SQLite fails them */
    struct store *ro = store_open(path, true, err, sizeof(err));
    assert_non_null(ro);
    d.store = ro;
    assert_int_equal(run(HUB_POWER_ON, "db1", "", &a), 503);
    assert_non_null(strstr(str(a, "error"), "the journal cannot be written ("));
    assert_non_null(strstr(str(a, "error"), "power is not granted until it can be"));
    assert_int_equal(r.servers[0].state, RACK_SRV_OFF);
    json_decref(a);
    /* an operator's out of service is a failure: it lowers power, it stands */
    assert_int_equal(run(HUB_PSU_OUT, "p1", "", &a), 200);
    assert_true(ov.psu_oos[0]);
    assert_int_equal(r.psus[0].health, RACK_PSU_FAILED);
    json_decref(a);
    assert_true(decider_behind(&d));
    assert_int_equal(decider_catch_up(&d, err, sizeof(err)), -1);
    /* the journal works again: what waited is written, the flag's row too */
    d.store = st;
    store_close(ro);
    assert_int_equal(decider_catch_up(&d, err, sizeof(err)), 0);
    assert_false(decider_behind(&d));
    static char text[8192];
    text[0] = '\0';
    assert_int_equal(store_events(st, 0, 100, false, gather, text, err, sizeof(err)), 0);
    assert_non_null(strstr(text, "\"event\":\"psu_fail\",\"psu\":\"p1\""));
    assert_non_null(strstr(text, "\"event\":\"journal\""));
    /* the failure, the word on protection that came with it, and p1's
     * switch opening */
    assert_non_null(strstr(text, "\"late\":3"));
    assert_null(strstr(text, "\"server\":\"db1\""));
    int oos = -1;
    assert_int_equal(store_load_psus(st, psu_oos_row, &oos, err, sizeof(err)), 0);
    assert_int_equal(oos, 1);
    /* and a request is granted again */
    assert_int_equal(run(HUB_POWER_ON, "db1", "", &a), 200);
    assert_string_equal(str(a, "result"), "granted");
    json_decref(a);
}

static void test_command_that_changes_nothing_journals_nothing(void **state)
{
    (void)state;
    json_t *a;
    assert_int_equal(run(HUB_POWER_ON, "db1", "", &a), 200);
    json_decref(a);
    int before = journal_size();
    /* asked again while on: answered, no row */
    assert_int_equal(run(HUB_POWER_ON, "db1", "again", &a), 200);
    assert_string_equal(str(a, "result"), "ignored");
    assert_string_equal(str(a, "state"), "on");
    assert_string_equal(str(a, "reason"), "db1 already asked for power");
    assert_int_equal(json_array_size(json_object_get(a, "events")), 0);
    json_decref(a);
    /* off while off */
    assert_int_equal(run(HUB_POWER_OFF, "ml1", "", &a), 200);
    assert_string_equal(str(a, "result"), "ignored");
    assert_string_equal(str(a, "reason"), "ml1 is already off");
    assert_int_equal(json_array_size(json_object_get(a, "events")), 0);
    json_decref(a);
    /* back in service while in service */
    assert_int_equal(run(HUB_PSU_IN, "p1", "", &a), 200);
    assert_true(json_is_false(json_object_get(a, "changed")));
    json_decref(a);
    assert_int_equal(journal_size(), before);
    /* a device asking again for a server that is on: no row either */
    struct policy_input again = {.kind = POLICY_POWER_ON, .index = 0};
    struct decision x = decision_inputs(&again, 1, "reported by test");
    assert_int_equal(decide(&d, &x, err, sizeof(err)), 0);
    assert_int_equal(journal_size(), before);
}

static size_t count_events(json_t *answer, const char *name)
{
    json_t *first;
    return events_named(answer, name, &first);
}

static void test_untrusted_journal_holds_what_raises_power_and_keeps_lowering(void **state)
{
    (void)state;
    json_t *a;
    assert_int_equal(run(HUB_POWER_ON, "web1", "", &a), 200);
    json_decref(a);
    assert_int_equal(run(HUB_POWER_ON, "db1", "", &a), 200);
    json_decref(a);
    assert_true(decider_journal_trusted(&d));
    decider_distrust(&d, "the database file was replaced");
    assert_false(decider_journal_trusted(&d));

    /* lowering power goes on: p2 out leaves 2000 W under n+1 for 3500 W */
    assert_int_equal(run_with(HUB_PSU_OUT, "p2", "", false, true, &a), 200);
    assert_int_equal(count_events(a, "shed"), 1);
    assert_int_equal(r.servers[1].state, RACK_SRV_SHED);
    json_decref(a);

    /* capacity back at once: the restore is not made */
    r.restore_after_ns = 0;
    assert_int_equal(run(HUB_PSU_IN, "p2", "", &a), 200);
    assert_int_equal(count_events(a, "psu_repair"), 1);
    assert_int_equal(count_events(a, "restore"), 0);
    json_decref(a);
    assert_int_equal(r.servers[1].state, RACK_SRV_SHED);
    assert_int_equal(server_row("web1").state, RACK_SRV_SHED);

    /* power-offs are taken */
    assert_int_equal(run(HUB_POWER_OFF, "web1", "", &a), 200);
    assert_string_equal(str(a, "result"), "released");
    json_decref(a);
    assert_int_equal(run(HUB_POWER_OFF, "db1", "", &a), 200);
    assert_string_equal(str(a, "result"), "released");
    json_decref(a);
    assert_int_equal(rack_allocated_mw(&r), 0);

    /* a new request that fits is held, and says why */
    assert_int_equal(run(HUB_POWER_ON, "ml1", "", &a), 200);
    assert_string_equal(str(a, "result"), "queued");
    assert_string_equal(str(a, "state"), "waiting");
    assert_string_equal(str(a, "reason"), "held: the database file was replaced");
    assert_int_equal(count_events(a, "grant"), 0);
    assert_int_equal(count_events(a, "wait"), 1);
    json_decref(a);
    assert_int_equal(r.servers[2].state, RACK_SRV_WAITING);
    assert_int_equal(server_row("ml1").state, RACK_SRV_WAITING);
    assert_int_equal(rack_allocated_mw(&r), 0);
}

/* Grants web1 and db1: 3500 W of the 4000 W n+1 allows over three PSUs. */
static void grant_web1_db1(void)
{
    json_t *a;
    assert_int_equal(run(HUB_POWER_ON, "web1", "", &a), 200);
    json_decref(a);
    assert_int_equal(run(HUB_POWER_ON, "db1", "", &a), 200);
    json_decref(a);
}

/* Whether two racks hold the same state: servers, PSUs, buses, protection. */
static void assert_same_rack(const struct rack *x, const struct rack *y)
{
    for (int i = 0; i < x->nservers; i++) {
        assert_int_equal(x->servers[i].state, y->servers[i].state);
        assert_int_equal(x->servers[i].alloc_mw, y->servers[i].alloc_mw);
    }
    for (int i = 0; i < x->npsus; i++) {
        assert_int_equal(x->psus[i].bus, y->psus[i].bus);
        assert_int_equal(x->psus[i].health, y->psus[i].health);
    }
    for (int b = 0; b < x->nbuses; b++)
        assert_int_equal(x->bus_failed[b], y->bus_failed[b]);
    assert_int_equal(x->is_protected, y->is_protected);
    assert_int_equal(x->redundancy_lost, y->redundancy_lost);
}

/* The consequences of an answer of one action kind: how many, and the
 * first one. */
static size_t caused(json_t *answer, const char *action, json_t **first)
{
    return members(answer, "consequences", "action", action, first);
}

static void test_out_of_service_dry_run_shows_the_sheds_and_changes_nothing(void **state)
{
    (void)state;
    json_t *a, *c;
    grant_web1_db1();
    struct rack saved;
    assert_int_equal(rack_copy(&saved, &r), 0);
    int before = journal_size();
    assert_int_equal(run_with(HUB_PSU_OUT, "p2", "fan", true, false, &a), 200);
    assert_true(json_is_true(json_object_get(a, "dry_run")));
    assert_true(json_is_true(json_object_get(a, "would_change")));
    assert_true(json_is_false(json_object_get(a, "changed")));
    assert_true(json_is_false(json_object_get(a, "out_of_service")));
    assert_string_equal(str(a, "state"), "ok");
    /* 2000 W left under n+1 for 3500 W: web1 (priority 3) goes, db1 stays */
    assert_int_equal(caused(a, "shed", &c), 1);
    assert_string_equal(str(c, "server"), "web1");
    assert_int_equal(json_integer_value(json_object_get(c, "watts")), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "was_w")), 2000);
    assert_true(strlen(str(c, "reason")) > 0);
    assert_int_equal(caused(a, "switch", &c), 1);
    assert_string_equal(str(c, "psu"), "p2");
    assert_string_equal(str(c, "from"), "B");
    assert_true(json_is_null(json_object_get(c, "to")));
    assert_int_equal(json_array_size(json_object_get(a, "events")), 0);
    json_decref(a);
    /* nothing changed: the rack, the flag, the journal, the ledger */
    assert_same_rack(&r, &saved);
    assert_false(ov.psu_oos[1]);
    assert_int_equal(journal_size(), before);
    assert_int_equal(server_row("web1").state, RACK_SRV_ON);
    struct store_psu row = {.id = "p2"};
    assert_int_equal(store_load_psus(st, find_psu_row, &row, err, sizeof(err)), 0);
    assert_false(row.out_of_service);
    assert_string_equal(row.bus, "B");
    rack_free(&saved);
    /* and the same decision, taken for real, does what the preview said */
    assert_int_equal(run_with(HUB_PSU_OUT, "p2", "fan", false, true, &a), 200);
    assert_int_equal(caused(a, "shed", &c), 1);
    assert_string_equal(str(c, "server"), "web1");
    json_decref(a);
}

static void test_out_of_service_that_sheds_is_refused_without_force(void **state)
{
    (void)state;
    json_t *a, *c;
    grant_web1_db1();
    struct rack saved;
    assert_int_equal(rack_copy(&saved, &r), 0);
    int before = journal_size();
    assert_int_equal(run(HUB_PSU_OUT, "p2", "", &a), 409);
    assert_string_equal(str(a, "error"),
                        "psu p2 out of service would shed web1; nothing was done: ask again with "
                        "force (rackpowerctl --force) to do it, or see what it would do with "
                        "dry_run");
    assert_true(json_is_false(json_object_get(a, "dry_run")));
    assert_true(json_is_false(json_object_get(a, "changed")));
    assert_int_equal(caused(a, "shed", &c), 1);
    json_decref(a);
    assert_same_rack(&r, &saved);
    assert_false(ov.psu_oos[1]);
    assert_int_equal(journal_size(), before);
    rack_free(&saved);

    /* with force it is done: the shed, then the PSU leaves every bus */
    assert_int_equal(run_with(HUB_PSU_OUT, "p2", "", false, true, &a), 200);
    assert_true(json_is_true(json_object_get(a, "changed")));
    assert_int_equal(caused(a, "shed", &c), 1);
    assert_string_equal(str(c, "server"), "web1");
    assert_int_equal(caused(a, "switch", &c), 1);
    assert_true(json_is_null(json_object_get(c, "to")));
    assert_non_null(strstr(str(c, "reason"), "the PSU may still be live on its feed"));
    size_t k, shed_at = 0, switch_at = 0;
    json_array_foreach(json_object_get(a, "consequences"), k, c)
    {
        if (!strcmp(str(c, "action"), "shed"))
            shed_at = k;
        if (!strcmp(str(c, "action"), "switch"))
            switch_at = k;
    }
    assert_true(shed_at < switch_at); /* the load goes before the supply */
    /* the journal has the switch, the ledger p2 on no bus */
    json_t *ev;
    assert_int_equal(events_named(a, "switch", &ev), 1);
    assert_true(json_is_null(json_object_get(ev, "to")));
    json_decref(a);
    assert_true(ov.psu_oos[1]);
    assert_int_equal(r.psus[1].bus, -1);
    assert_int_equal(r.servers[1].state, RACK_SRV_SHED);
    struct store_psu row = {.id = "p2"};
    assert_int_equal(store_load_psus(st, find_psu_row, &row, err, sizeof(err)), 0);
    assert_true(row.out_of_service);
    assert_string_equal(row.bus, "");
}

static void test_out_of_service_that_sheds_nobody_needs_no_force(void **state)
{
    (void)state;
    json_t *a, *c;
    assert_int_equal(run(HUB_POWER_ON, "db1", "", &a), 200);
    json_decref(a);
    /* 1500 W granted; two PSUs left carry it under n+1 */
    assert_int_equal(run(HUB_PSU_OUT, "p3", "", &a), 200);
    assert_true(json_is_true(json_object_get(a, "changed")));
    assert_int_equal(caused(a, "shed", &c), 0);
    assert_int_equal(caused(a, "cap", &c), 0);
    assert_int_equal(caused(a, "switch", &c), 1);
    assert_string_equal(str(c, "psu"), "p3");
    assert_string_equal(str(c, "from"), "A");
    json_decref(a);
    assert_int_equal(r.psus[2].bus, -1);
    assert_int_equal(r.servers[0].state, RACK_SRV_ON);
}

static void test_back_in_service_counts_the_psu_again(void **state)
{
    (void)state;
    json_t *a, *c;
    assert_int_equal(run(HUB_PSU_OUT, "p1", "", &a), 200);
    json_decref(a);
    assert_int_equal(r.psus[0].bus, -1);
    assert_int_equal(rack_capacity_mw(&r), 4000000);
    /* a dry run of the way back shows its switch closing, and does nothing */
    assert_int_equal(run_with(HUB_PSU_IN, "p1", "", true, false, &a), 200);
    assert_true(json_is_true(json_object_get(a, "would_change")));
    assert_int_equal(json_array_size(json_object_get(a, "events")), 0);
    assert_int_equal(caused(a, "switch", &c), 1);
    assert_string_equal(str(c, "psu"), "p1");
    assert_true(json_is_null(json_object_get(c, "from")));
    json_decref(a);
    assert_int_equal(r.psus[0].health, RACK_PSU_FAILED);
    assert_int_equal(r.psus[0].bus, -1);
    assert_true(ov.psu_oos[0]);
    /* for real: healthy again, on a bus at once (no supply is stranded on
     * none: docs/policy.md), and it counts: 3500 W under n+1, which two PSUs
     * cannot carry, is granted */
    assert_int_equal(run(HUB_PSU_IN, "p1", "", &a), 200);
    assert_int_equal(caused(a, "switch", &c), 1);
    json_decref(a);
    assert_int_equal(r.psus[0].health, RACK_PSU_OK);
    assert_true(r.psus[0].bus >= 0);
    grant_web1_db1();
    assert_int_equal(r.servers[0].state, RACK_SRV_ON);
    assert_int_equal(r.servers[1].state, RACK_SRV_ON);
    assert_true(r.is_protected);
}

static void test_power_off_lists_the_grant_it_caused(void **state)
{
    (void)state;
    json_t *a, *c;
    grant_web1_db1();
    assert_int_equal(run(HUB_POWER_ON, "ml1", "", &a), 200);
    assert_string_equal(str(a, "result"), "queued");
    assert_int_equal(caused(a, "wait", &c), 1);
    json_decref(a);
    assert_int_equal(run(HUB_POWER_OFF, "web1", "", &a), 200);
    assert_int_equal(caused(a, "release", &c), 1);
    assert_string_equal(str(c, "server"), "web1");
    assert_int_equal(caused(a, "grant", &c), 1);
    assert_string_equal(str(c, "server"), "ml1");
    assert_int_equal(json_integer_value(json_object_get(c, "watts")), 1500);
    assert_true(strlen(str(c, "reason")) > 0);
    json_decref(a);
}

static void test_out_of_service_already_out_changes_nothing_even_dry(void **state)
{
    (void)state;
    json_t *a;
    assert_int_equal(run(HUB_PSU_OUT, "p3", "", &a), 200);
    json_decref(a);
    int before = journal_size();
    assert_int_equal(run_with(HUB_PSU_OUT, "p3", "", true, false, &a), 200);
    assert_true(json_is_false(json_object_get(a, "would_change")));
    assert_int_equal(json_array_size(json_object_get(a, "consequences")), 0);
    json_decref(a);
    assert_int_equal(journal_size(), before);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_power_on_grants_and_journals_the_grant),
        T(test_power_on_queues_what_does_not_fit),
        T(test_command_naming_nothing_is_404_and_journals_nothing),
        T(test_psu_out_of_service_is_a_failure_for_the_policy),
        T(test_devices_word_is_held_while_out_of_service),
        T(test_back_in_service_stays_failed_when_its_device_says_failed),
        T(test_back_in_service_degraded_when_its_device_says_degraded),
        T(test_back_in_service_stays_failed_while_its_device_cannot_read_it),
        T(test_bus_out_of_service_fails_the_bus),
        T(test_journal_refused_refuses_grants_and_keeps_what_lowers_power),
        T(test_command_that_changes_nothing_journals_nothing),
        T(test_untrusted_journal_holds_what_raises_power_and_keeps_lowering),
        T(test_out_of_service_dry_run_shows_the_sheds_and_changes_nothing),
        T(test_out_of_service_that_sheds_is_refused_without_force),
        T(test_out_of_service_that_sheds_nobody_needs_no_force),
        T(test_back_in_service_counts_the_psu_again),
        T(test_power_off_lists_the_grant_it_caused),
        T(test_out_of_service_already_out_changes_nothing_even_dry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
