/*
 * test_view.c - the operator's view of a server (src/daemon/view.h): its
 * place among the waiting requests, in the order the policy grants them
 * (priority, then first come), and the reason of the last decision, as the
 * snapshot's JSON shows them. The requests are decided by the real policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"
#include "rackfile.h"
#include "view.h"

/* One 1000 W PSU, no protection: once a is on, nobody else fits. b comes
 * before e in the rack, both priority 1. */
static const char rack_text[] = "rack:\n"
                                "  name: q\n"
                                "  protection: none\n"
                                "  buses: [A]\n"
                                "  psus:\n"
                                "    - {id: p1, capacity_w: 1000, buses: [A], bus: A}\n"
                                "  servers:\n"
                                "    - {id: a, power_w: 800, priority: 2, buses: [A]}\n"
                                "    - {id: b, power_w: 900, priority: 1, buses: [A]}\n"
                                "    - {id: c, power_w: 900, priority: 2, buses: [A]}\n"
                                "    - {id: d, power_w: 500, priority: 3, buses: [A]}\n"
                                "    - {id: e, power_w: 900, priority: 1, buses: [A]}\n";

static char err[512];

static int64_t t_ns;

static void ask(struct policy *p, struct rack *r, const char *id, int kind)
{
    struct policy_actions acts = {0};
    struct policy_input in = {.kind = kind, .index = rack_find_server(r, id)};
    assert_true(in.index >= 0);
    t_ns += 1000000;
    assert_int_equal(policy_handle(p, r, &in, t_ns, &acts, err, sizeof(err)), 0);
    policy_actions_free(&acts);
}

static int pos_of(const struct rack *r, const int *pos, const char *id)
{
    return pos[rack_find_server(r, id)];
}

static void test_queue_is_priority_then_first_come(void **state)
{
    (void)state;
    struct rack r;
    assert_int_equal(
        rackfile_load_string("q.yaml", rack_text, strlen(rack_text), &r, NULL, err, sizeof(err)),
        0);
    struct policy *p = policy_new(&r);
    assert_non_null(p);
    /* asked in this order: the queue is not the order of asking, nor the rack's */
    static const char *const order[] = {"a", "d", "c", "e", "b"};
    for (size_t k = 0; k < sizeof(order) / sizeof(*order); k++)
        ask(p, &r, order[k], POLICY_POWER_ON);
    assert_int_equal(r.servers[rack_find_server(&r, "a")].state, RACK_SRV_ON);
    int pos[5];
    view_queue_positions(&r, pos);
    assert_int_equal(pos_of(&r, pos, "a"), 0); /* on: not waiting */
    assert_int_equal(pos_of(&r, pos, "e"), 1); /* priority 1, asked before b */
    assert_int_equal(pos_of(&r, pos, "b"), 2);
    assert_int_equal(pos_of(&r, pos, "c"), 3); /* priority 2 */
    assert_int_equal(pos_of(&r, pos, "d"), 4); /* priority 3, asked second of all */

    /* a withdrawn request leaves the queue; those behind move up */
    ask(p, &r, "e", POLICY_POWER_OFF);
    view_queue_positions(&r, pos);
    assert_int_equal(pos_of(&r, pos, "e"), 0);
    assert_int_equal(pos_of(&r, pos, "b"), 1);
    assert_int_equal(pos_of(&r, pos, "c"), 2);
    assert_int_equal(pos_of(&r, pos, "d"), 3);

    /* a asks again after releasing: the end of its priority */
    ask(p, &r, "a", POLICY_POWER_OFF); /* b (900 W) is granted in its place */
    assert_int_equal(r.servers[rack_find_server(&r, "b")].state, RACK_SRV_ON);
    ask(p, &r, "a", POLICY_POWER_ON);
    view_queue_positions(&r, pos);
    assert_int_equal(pos_of(&r, pos, "c"), 1);
    assert_int_equal(pos_of(&r, pos, "a"), 2);
    assert_int_equal(pos_of(&r, pos, "d"), 3);
    policy_free(p);
    rack_free(&r);
}

static void test_snapshot_shows_queue_position_and_reason(void **state)
{
    (void)state;
    struct rack r;
    assert_int_equal(
        rackfile_load_string("q.yaml", rack_text, strlen(rack_text), &r, NULL, err, sizeof(err)),
        0);
    struct policy *p = policy_new(&r);
    ask(p, &r, "a", POLICY_POWER_ON);
    ask(p, &r, "c", POLICY_POWER_ON);
    char reasons[5][VIEW_REASON_LEN] = {{0}};
    snprintf(reasons[2], sizeof(reasons[2]), "queued: A has 200 W for 900 W");
    bool oos[5] = {false};
    struct driver_psu_reading tel[1] = {{.psu = -1}};
    struct view_in in = {
        .r = &r, .psu_oos = oos, .bus_oos = oos, .tel = tel, .srv_reason = reasons, .version = "t"};
    struct hub_snap *s = view_build(&in);
    assert_non_null(s);
    long c = hub_list_find(&s->servers, "c"), a = hub_list_find(&s->servers, "a");
    assert_non_null(strstr(s->servers.json[c],
                           "\"queue_position\":1,\"reason\":\"queued: A has 200 W for 900 W\""));
    assert_non_null(strstr(s->servers.json[a], "\"queue_position\":null,\"reason\":null"));
    assert_non_null(strstr(s->servers.all, "\"queue_position\":1,"));
    hub_snap_free(s);

    /* without reasons at all: null for everyone */
    in.srv_reason = NULL;
    s = view_build(&in);
    assert_non_null(s);
    assert_non_null(strstr(s->servers.json[c], "\"queue_position\":1,\"reason\":null"));
    hub_snap_free(s);
    policy_free(p);
    rack_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_is_priority_then_first_come),
        cmocka_unit_test(test_snapshot_shows_queue_position_and_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
