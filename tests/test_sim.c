/*
 * test_sim.c - the scenario runner: every example plays, every line is the
 * documented JSON, the same input and seed give the same bytes, and each
 * example shows the behaviour it is named after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "runner.h"

static char *example_path(const char *name)
{
    const char *dir = getenv("RP_SOURCE_DIR");
    static char path[1024];
    snprintf(path, sizeof(path), "%s/examples/%s", dir ? dir : "..", name);
    return path;
}

/* Runs a scenario file; returns the output (caller frees). */
static char *run(const char *path, bool json, uint64_t seed, int *rc, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct runner_opts o = {.json = json, .seed = seed, .out = f};
    *rc = runner_run_file(path, &o, err, errlen);
    fclose(f);
    return buf;
}

static char *run_example(const char *name, bool json, uint64_t seed)
{
    char err[512] = "";
    int rc;
    char *out = run(example_path(name), json, seed, &rc, err, sizeof(err));
    if (rc)
        fail_msg("%s: %s", name, err);
    return out;
}

/* The JSON lines of a run, parsed. */
struct lines {
    json_t *v[1024];
    size_t n;
};

static void parse_lines(const char *out, struct lines *ls)
{
    ls->n = 0;
    const char *p = out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        json_error_t e;
        json_t *j = json_loadb(p, (size_t)(nl - p), 0, &e);
        if (!j)
            fail_msg("not JSON: %.*s (%s)", (int)(nl - p), p, e.text);
        assert_true(json_is_object(j));
        assert_true(json_is_number(json_object_get(j, "t")));
        assert_true(json_is_string(json_object_get(j, "event")));
        assert_true(ls->n < sizeof(ls->v) / sizeof(*ls->v));
        ls->v[ls->n++] = j;
        p = nl + 1;
    }
}

static void free_lines(struct lines *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        json_decref(ls->v[i]);
}

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Number of events `event` at time t (t < 0: any) about `who` (NULL: any),
 * where who is matched against server, psu, bus or feed. */
static int count(const struct lines *ls, double t, const char *event, const char *who)
{
    int n = 0;
    for (size_t i = 0; i < ls->n; i++) {
        json_t *o = ls->v[i];
        if (strcmp(str(o, "event"), event) != 0)
            continue;
        if (t >= 0 && json_number_value(json_object_get(o, "t")) != t)
            continue;
        if (who && strcmp(str(o, "server"), who) != 0 && strcmp(str(o, "psu"), who) != 0 &&
            strcmp(str(o, "bus"), who) != 0 && strcmp(str(o, "feed"), who) != 0)
            continue;
        n++;
    }
    return n;
}

/* The last state line at time t. */
static json_t *state_at(const struct lines *ls, double t)
{
    json_t *found = NULL;
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(str(ls->v[i], "event"), "state") == 0 &&
            json_number_value(json_object_get(ls->v[i], "t")) == t)
            found = ls->v[i];
    assert_non_null(found);
    return found;
}

static const char *server_state(json_t *state, const char *id)
{
    return str(json_object_get(json_object_get(state, "servers"), id), "state");
}

static const char *const examples[] = {
    "demo.yaml",
    "boot-storm.yaml",
    "psu-reroute.yaml",
    "psu-shed-restore.yaml",
    "feed-failure.yaml",
    "bus-failure.yaml",
    "degraded-psu.yaml",
    "abrupt-removal.yaml",
    "non-uniform-psus.yaml",
    "cap-before-shed.yaml",
};

static void test_every_example_plays_as_documented_json(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(examples) / sizeof(*examples); k++) {
        char *out = run_example(examples[k], true, 1);
        struct lines ls;
        parse_lines(out, &ls);
        assert_true(ls.n > 0);
        int states = 0;
        double last_t = -1;
        for (size_t i = 0; i < ls.n; i++) {
            json_t *o = ls.v[i];
            double t = json_number_value(json_object_get(o, "t"));
            assert_true(t >= last_t); /* virtual time never goes back */
            last_t = t;
            if (strcmp(str(o, "event"), "state") != 0)
                continue;
            states++;
            assert_true(json_is_number(json_object_get(o, "allocated_w")));
            assert_true(json_is_number(json_object_get(o, "capacity_w")));
            assert_true(json_is_boolean(json_object_get(o, "protected")));
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(o, "servers"), key, v)
            {
                const char *s = str(v, "state");
                assert_true(strcmp(s, "on") == 0 || strcmp(s, "off") == 0 ||
                            strcmp(s, "waiting") == 0 || strcmp(s, "capped") == 0 ||
                            strcmp(s, "shed") == 0);
                assert_true(json_is_number(json_object_get(v, "watts")));
            }
            json_object_foreach(json_object_get(o, "psus"), key, v)
            {
                assert_true(json_is_string(json_object_get(v, "bus")));
                assert_true(json_is_string(json_object_get(v, "state")));
                assert_true(json_is_number(json_object_get(v, "capacity_w")));
            }
            json_object_foreach(json_object_get(o, "buses"), key, v)
            {
                assert_true(json_is_string(json_object_get(v, "state")));
                assert_true(json_is_number(json_object_get(v, "capacity_w")));
                assert_true(json_is_number(json_object_get(v, "load_w")));
                /* a settled rack never carries more than a bus holds */
                assert_true(json_number_value(json_object_get(v, "load_w")) <=
                            json_number_value(json_object_get(v, "capacity_w")));
            }
            /* and the rack as a whole is served */
            assert_true(json_number_value(json_object_get(o, "allocated_w")) <=
                        json_number_value(json_object_get(o, "capacity_w")));
        }
        assert_true(states >= 2);
        free_lines(&ls);
        free(out);
    }
}

static void test_same_input_and_seed_same_output_byte_for_byte(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(examples) / sizeof(*examples); k++) {
        char *a = run_example(examples[k], true, 7);
        char *b = run_example(examples[k], true, 7);
        assert_string_equal(a, b);
        free(a);
        free(b);
        a = run_example(examples[k], false, 7);
        b = run_example(examples[k], false, 7);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    /* the seed moves only the simulated draw, never a decision */
    char *a = run_example("demo.yaml", true, 1);
    char *b = run_example("demo.yaml", true, 2);
    assert_string_not_equal(a, b);
    struct lines la, lb;
    parse_lines(a, &la);
    parse_lines(b, &lb);
    assert_int_equal(la.n, lb.n);
    for (size_t i = 0; i < la.n; i++)
        assert_string_equal(str(la.v[i], "event"), str(lb.v[i], "event"));
    free_lines(&la);
    free_lines(&lb);
    free(a);
    free(b);
}

static void test_demo_survives_psu_failure_by_reroute_then_shed(void **state)
{
    (void)state;
    char *out = run_example("demo.yaml", true, 1);
    struct lines ls;
    parse_lines(out, &ls);
    /* first failure: one fet moves a PSU onto the short bus, nobody shed */
    assert_int_equal(count(&ls, 10, "switch", NULL), 1);
    assert_int_equal(count(&ls, 10, "shed", NULL), 0);
    assert_true(json_is_true(json_object_get(state_at(&ls, 10), "protected")));
    /* second failure: cap, then shed, least important first */
    assert_int_equal(count(&ls, 20, "shed", "batch1"), 1);
    assert_int_equal(count(&ls, 20, "shed", "web1"), 1);
    assert_int_equal(count(&ls, 20, "shed", "web2"), 1);
    assert_int_equal(count(&ls, 20, "cap", "app1"), 1);
    assert_string_equal(server_state(state_at(&ls, 20), "db1"), "on");
    assert_true(json_is_true(json_object_get(state_at(&ls, 20), "protected")));
    /* restored 30 s after the last repair, then the queued request granted */
    assert_int_equal(count(&ls, 75, "restore", NULL), 4);
    assert_int_equal(count(&ls, 0, "wait", "ml1"), 1);
    assert_int_equal(count(&ls, 100, "grant", "ml1"), 1);
    free_lines(&ls);
    free(out);
}

static void test_examples_show_what_they_are_named_after(void **state)
{
    (void)state;
    struct lines ls;
    char *out;

    out = run_example("boot-storm.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 0, "wait", "web3"), 1);
    assert_int_equal(count(&ls, 0, "wait", "ml1"), 1);
    assert_int_equal(count(&ls, 0, "grant", "log1"), 1); /* small passes large */
    assert_int_equal(count(&ls, 60, "grant", "web3"), 1);
    assert_int_equal(count(&ls, 90, "grant", "ml1"), 1);
    free_lines(&ls);
    free(out);

    out = run_example("psu-reroute.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 10, "switch", NULL), 1);
    assert_int_equal(count(&ls, -1, "shed", NULL), 0);
    free_lines(&ls);
    free(out);

    out = run_example("psu-shed-restore.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 10, "shed", "dev1"), 1);
    assert_int_equal(count(&ls, 10, "shed", "web2"), 1);
    assert_int_equal(count(&ls, 50, "restore", NULL), 0); /* the flap restarted the clock */
    assert_int_equal(count(&ls, 70, "restore", "web2"), 1);
    assert_int_equal(count(&ls, 70, "restore", "dev1"), 1);
    free_lines(&ls);
    free(out);

    out = run_example("feed-failure.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, -1, "shed", NULL), 0);
    assert_int_equal(count(&ls, 10, "protection", NULL), 1);
    assert_true(json_is_true(json_object_get(state_at(&ls, 10), "redundancy_lost")));
    assert_true(json_is_false(json_object_get(state_at(&ls, 40), "redundancy_lost")));
    free_lines(&ls);
    free(out);

    out = run_example("bus-failure.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 10, "shed", "old1"), 1);
    assert_string_equal(server_state(state_at(&ls, 10), "db1"), "on");
    assert_int_equal(count(&ls, 50, "restore", "old1"), 1);
    free_lines(&ls);
    free(out);

    out = run_example("degraded-psu.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 10, "shed", "batch"), 1);
    assert_int_equal(count(&ls, 20, "shed", "web1"), 1);
    free_lines(&ls);
    free(out);

    out = run_example("abrupt-removal.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 5, "wait", "app2"), 1);
    assert_int_equal(count(&ls, 31, "release", "web1"), 1);
    assert_int_equal(count(&ls, 31, "grant", "app2"), 1);
    free_lines(&ls);
    free(out);

    out = run_example("non-uniform-psus.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 0, "wait", "web1"), 1);
    assert_string_equal(server_state(state_at(&ls, 10), "db1"), "on");
    free_lines(&ls);
    free(out);

    out = run_example("cap-before-shed.yaml", true, 1);
    parse_lines(out, &ls);
    assert_int_equal(count(&ls, 10, "cap", "batch1"), 1);
    assert_int_equal(count(&ls, 10, "cap", "batch2"), 1);
    assert_int_equal(count(&ls, 10, "shed", NULL), 0);
    free_lines(&ls);
    free(out);
}

static void test_bad_scenario_reports_file_line_column(void **state)
{
    (void)state;
    char path[] = "/tmp/rp-test-sim-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("rack:\n  buses: [A]\n  psus:\n    - {id: ps1, capacty_w: 100, buses: [A]}\n", f);
    fclose(f);
    char err[512] = "";
    int rc;
    char *out = run(path, true, 1, &rc, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, ":4:17: unknown key 'capacty_w'"));
    assert_string_equal(out, ""); /* nothing runs */
    free(out);
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_example_plays_as_documented_json),
        cmocka_unit_test(test_same_input_and_seed_same_output_byte_for_byte),
        cmocka_unit_test(test_demo_survives_psu_failure_by_reroute_then_shed),
        cmocka_unit_test(test_examples_show_what_they_are_named_after),
        cmocka_unit_test(test_bad_scenario_reports_file_line_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
