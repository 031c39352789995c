/*
 * test_overdraw.c - servers over their grant and servers shed by a loss of
 * power (src/daemon/overdraw.h), on racks built in code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "overdraw.h"
#include "policy.h"

#define W(x) ((int64_t)(x)*1000)
#define S(x) ((int64_t)(x)*1000000000LL)

static struct rack r;
static struct overdraw od;

static int setup(void **state)
{
    (void)state;
    rack_init(&r);
    r.over_draw_ns = S(5);
    r.nservers = 3;
    r.servers = calloc(3, sizeof(*r.servers));
    const char *ids[] = {"db1", "db2", "web1"};
    for (int i = 0; i < 3; i++) {
        struct rack_server *s = &r.servers[i];
        snprintf(s->id, sizeof(s->id), "%s", ids[i]);
        s->power_mw = s->alloc_mw = W(800);
        s->min_mw = i == 0 ? W(400) : W(800); /* db1 can be capped, db2 cannot */
        s->state = RACK_SRV_ON;
        s->draw_mw = W(700);
        s->priority = i + 1;
    }
    r.servers[2].state = RACK_SRV_OFF; /* web1: no grant */
    r.servers[2].alloc_mw = 0;
    r.servers[2].draw_mw = 0;
    return overdraw_init(&od, 3);
}

static int teardown(void **state)
{
    (void)state;
    overdraw_fini(&od);
    rack_free(&r);
    return 0;
}

static void test_tolerance_is_five_percent_at_least_ten_watts(void **state)
{
    (void)state;
    assert_int_equal(overdraw_limit_mw(&r.servers[0]), W(840));
    assert_int_equal(overdraw_limit_mw(&r.servers[2]), W(10)); /* no grant */
    r.servers[0].alloc_mw = W(100);
    r.servers[0].state = RACK_SRV_CAPPED;
    assert_int_equal(overdraw_limit_mw(&r.servers[0]), W(110));
}

static void test_over_grant_is_due_after_over_draw_s(void **state)
{
    (void)state;
    int64_t next;
    r.servers[0].draw_mw = W(2400);
    assert_int_equal(overdraw_update(&od, &r, S(10), &next), 0);
    assert_int_equal(next, S(15));
    assert_false(od.due[0]);
    assert_int_equal(overdraw_update(&od, &r, S(14), &next), 0);
    assert_int_equal(overdraw_update(&od, &r, S(15), &next), 1);
    assert_int_equal(od.fresh[0], 0);
    assert_true(od.due[0]);
    assert_int_equal(next, INT64_MAX);
    /* due once: not again while it lasts */
    assert_int_equal(overdraw_update(&od, &r, S(20), &next), 0);
    assert_true(od.due[0]);
    char why[512];
    overdraw_reason(&od, &r, 0, S(0), why, sizeof(why));
    assert_string_equal(why, "draws 2400 W, granted 800 W, over its grant since t=10.0 s: "
                             "capped at 800 W");
    assert_true(overdraw_cappable(&r.servers[0]));
    /* back within the tolerance: no longer due */
    r.servers[0].draw_mw = W(840);
    assert_int_equal(overdraw_update(&od, &r, S(21), &next), 0);
    assert_false(od.due[0]);
    assert_int_equal(od.since_ns[0], INT64_MIN);
}

static void test_a_short_over_draw_is_not_due(void **state)
{
    (void)state;
    int64_t next;
    r.servers[1].draw_mw = W(900);
    overdraw_update(&od, &r, S(1), &next);
    r.servers[1].draw_mw = W(800);
    overdraw_update(&od, &r, S(3), &next);
    r.servers[1].draw_mw = W(900); /* counts again from here */
    assert_int_equal(overdraw_update(&od, &r, S(4), &next), 0);
    assert_int_equal(next, S(9));
}

static void test_server_without_cap_range_says_it_cannot_be_capped(void **state)
{
    (void)state;
    int64_t next;
    r.servers[1].draw_mw = W(2400);
    overdraw_update(&od, &r, S(0), &next);
    assert_int_equal(overdraw_update(&od, &r, S(5), &next), 1);
    assert_false(overdraw_cappable(&r.servers[1]));
    char why[512];
    overdraw_reason(&od, &r, 1, S(0), why, sizeof(why));
    assert_non_null(strstr(why, "cannot be capped (min_w = power_w)"));
}

static void test_drawing_without_a_grant_is_due_at_once(void **state)
{
    (void)state;
    int64_t next;
    r.servers[2].draw_mw = W(11); /* above the 10 W of a standby BMC */
    assert_int_equal(overdraw_update(&od, &r, S(7), &next), 1);
    assert_int_equal(od.fresh[0], 2);
    char why[512];
    overdraw_reason(&od, &r, 2, S(0), why, sizeof(why));
    assert_string_equal(why,
                        "draws 11 W with no grant (off) since t=7.0 s: it should draw nothing");
    r.servers[2].draw_mw = W(10);
    overdraw_update(&od, &r, S(8), &next);
    assert_false(od.due[2]);
}

static void test_loss_is_kept_while_shed_and_names_a_loop(void **state)
{
    (void)state;
    int64_t next;
    r.restore_after_ns = S(30);
    overdraw_lost(&od, 1, S(12));
    r.servers[1].state = RACK_SRV_SHED;
    r.servers[1].losses = 2;
    overdraw_update(&od, &r, S(13), &next);
    assert_int_equal(od.lost_ns[1], S(12));
    char why[512];
    overdraw_lost_reason(&od, &r, 1, S(2), why, sizeof(why));
    assert_string_equal(why, "lost power without a decision (brown-out, breaker or cable) at "
                             "t=10.0 s, loss 2 in a row: kept off (coil 0) until the policy "
                             "restores it, not before 60 s after the loss; repeated losses: a "
                             "power loop (a server that powers on after AC loss, or power that "
                             "keeps failing), stopped by keeping it off");
    r.servers[1].state = RACK_SRV_ON; /* restored: the loss is history */
    overdraw_update(&od, &r, S(50), &next);
    assert_int_equal(od.lost_ns[1], INT64_MIN);
}

static void test_a_server_just_released_is_not_judged_on_its_last_draw(void **state)
{
    (void)state;
    int64_t next;
    overdraw_update(&od, &r, S(1), &next);
    r.servers[0].state = RACK_SRV_OFF; /* released at 2 s: it shows 700 W until read again */
    r.servers[0].alloc_mw = 0;
    assert_int_equal(overdraw_update(&od, &r, S(2), &next), 0);
    assert_int_equal(next, S(2) + OVERDRAW_SETTLE_NS);
    r.servers[0].draw_mw = 0; /* the next poll */
    assert_int_equal(overdraw_update(&od, &r, S(3), &next), 0);
    assert_int_equal(next, INT64_MAX);
    r.servers[0].draw_mw = W(700); /* still drawing after the settle: due */
    assert_int_equal(overdraw_update(&od, &r, S(6), &next), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tolerance_is_five_percent_at_least_ten_watts),
        T(test_over_grant_is_due_after_over_draw_s),
        T(test_a_short_over_draw_is_not_due),
        T(test_server_without_cap_range_says_it_cannot_be_capped),
        T(test_drawing_without_a_grant_is_due_at_once),
        T(test_loss_is_kept_while_shed_and_names_a_loop),
        T(test_a_server_just_released_is_not_judged_on_its_last_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
