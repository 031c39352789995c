/*
 * test_policy.c - one test per behaviour of the power policy (DESIGN.md,
 * "Semantics"), on racks built in code.
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

#define W(x) ((int64_t)(x)*1000)
#define BA 1u
#define BB 2u
#define BAB 3u

struct fx {
    struct rack r;
    struct policy *p;
    struct policy_actions a;
    int64_t now;
};

static void rack_begin(struct fx *f, enum rack_protection prot, int nbuses, int nfeeds)
{
    memset(f, 0, sizeof(*f));
    rack_init(&f->r);
    f->r.protection = prot;
    f->r.nbuses = nbuses;
    for (int b = 0; b < nbuses; b++)
        snprintf(f->r.buses[b], RACK_ID_LEN, "%c", 'A' + b);
    f->r.nfeeds = nfeeds;
    for (int i = 0; i < nfeeds; i++)
        snprintf(f->r.feeds[i], RACK_ID_LEN, "F%d", i + 1);
    f->r.psus = calloc(16, sizeof(*f->r.psus));
    f->r.servers = calloc(32, sizeof(*f->r.servers));
}

static int add_psu(struct fx *f, int watts, int feed, uint32_t wired, int bus,
                   enum rack_switch_kind sw)
{
    struct rack_psu *q = &f->r.psus[f->r.npsus];
    snprintf(q->id, RACK_ID_LEN, "ps%d", f->r.npsus + 1);
    q->rated_mw = q->derated_mw = W(watts);
    q->feed = feed;
    q->wired = wired;
    q->bus = bus;
    q->sw = sw;
    q->switch_ns = rack_switch_default_ns(sw);
    return f->r.npsus++;
}

static int add_server(struct fx *f, const char *id, int power, int min, int prio, uint32_t wired)
{
    struct rack_server *s = &f->r.servers[f->r.nservers];
    snprintf(s->id, RACK_ID_LEN, "%s", id);
    s->power_mw = W(power);
    s->min_mw = min ? W(min) : W(power);
    s->priority = prio;
    s->wired = wired;
    s->chassis = -1;
    s->draw_mw = -1;
    s->on_draw_mw = -1;
    return f->r.nservers++;
}

static void rack_end(struct fx *f)
{
    f->p = policy_new(&f->r);
    assert_non_null(f->p);
    policy_settle(f->p, &f->r, 0, &f->a);
}

static void done(struct fx *f)
{
    policy_free(f->p);
    policy_actions_free(&f->a);
    rack_free(&f->r);
}

static void in(struct fx *f, enum policy_input_kind k, int index, int64_t t_s)
{
    char err[128];
    struct policy_input x = {.kind = k, .index = index};
    f->now = t_s * 1000000000LL;
    policy_actions_clear(&f->a);
    assert_int_equal(policy_handle(f->p, &f->r, &x, f->now, &f->a, err, sizeof(err)), 0);
}

static void degrade(struct fx *f, int psu, int watts, int64_t t_s)
{
    char err[128];
    struct policy_input x = {.kind = POLICY_PSU_DEGRADE, .index = psu, .watts_mw = W(watts)};
    f->now = t_s * 1000000000LL;
    policy_actions_clear(&f->a);
    assert_int_equal(policy_handle(f->p, &f->r, &x, f->now, &f->a, err, sizeof(err)), 0);
}

static void tick(struct fx *f)
{
    int64_t d = policy_next_deadline(&f->r);
    assert_true(d != INT64_MAX);
    char err[128];
    struct policy_input x = {.kind = POLICY_TICK};
    policy_actions_clear(&f->a);
    assert_int_equal(policy_handle(f->p, &f->r, &x, d, &f->a, err, sizeof(err)), 0);
}

static enum rack_server_state st(const struct fx *f, int s)
{
    return f->r.servers[s].state;
}

static int count(const struct fx *f, enum policy_action_kind k)
{
    int n = 0;
    for (size_t i = 0; i < f->a.n; i++)
        n += f->a.v[i].kind == k;
    return n;
}

static const struct policy_action *find(const struct fx *f, enum policy_action_kind k, int server)
{
    for (size_t i = 0; i < f->a.n; i++)
        if (f->a.v[i].kind == k && (server < 0 || f->a.v[i].server == server))
            return &f->a.v[i];
    return NULL;
}

static void assert_feasible_and_protected(struct fx *f)
{
    struct policy_check c;
    policy_check(f->p, &f->r, &c);
    assert_true(c.feasible);
    assert_true(c.is_protected);
}

/* ---- admission --------------------------------------------------------- */

static void test_grant_when_it_fits(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int s = add_server(&f, "s1", 800, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, s, 0);
    assert_int_equal(st(&f, s), RACK_SRV_ON);
    const struct policy_action *g = find(&f, POLICY_ACT_GRANT, s);
    assert_non_null(g);
    assert_int_equal(g->watts_mw, W(800));
    assert_int_equal(g->allocated_mw, W(800));
    assert_int_equal(g->capacity_mw, W(2000));
    assert_non_null(strstr(g->reason, "n+1"));
    done(&f);
}

static void test_wait_when_protection_would_break(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 700, 0, 1, BA);
    int b = add_server(&f, "b", 700, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 1);
    /* 1400 W fits 2000 W, but not the 1000 W left after losing one PSU */
    assert_int_equal(st(&f, b), RACK_SRV_WAITING);
    const struct policy_action *w = find(&f, POLICY_ACT_WAIT, b);
    assert_non_null(w);
    assert_non_null(strstr(w->reason, "losing ps"));
    assert_non_null(strstr(w->reason, "1000 W for 1400 W"));
    done(&f);
}

static void test_waiting_granted_in_priority_order_after_release(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int big = add_server(&f, "big", 1000, 0, 1, BA);
    int low = add_server(&f, "low", 600, 0, 3, BA);
    int high = add_server(&f, "high", 600, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, big, 0);
    in(&f, POLICY_POWER_ON, low, 1);
    in(&f, POLICY_POWER_ON, high, 2);
    assert_int_equal(st(&f, low), RACK_SRV_WAITING);
    assert_int_equal(st(&f, high), RACK_SRV_WAITING);
    in(&f, POLICY_POWER_OFF, big, 3);
    /* the more important request goes first although it came later */
    assert_int_equal(st(&f, high), RACK_SRV_ON);
    assert_int_equal(st(&f, low), RACK_SRV_WAITING);
    done(&f);
}

static void test_first_come_first_served_inside_a_priority(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int big = add_server(&f, "big", 1000, 0, 1, BA);
    int second = add_server(&f, "second", 600, 0, 2, BA);
    int first = add_server(&f, "first", 600, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, big, 0);
    in(&f, POLICY_POWER_ON, first, 1);
    in(&f, POLICY_POWER_ON, second, 2);
    in(&f, POLICY_POWER_OFF, big, 3);
    assert_int_equal(st(&f, first), RACK_SRV_ON);
    assert_int_equal(st(&f, second), RACK_SRV_WAITING);
    done(&f);
}

static void test_smaller_less_important_request_passes_larger(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 500, 0, 1, BA);
    int large = add_server(&f, "large", 800, 0, 1, BA);
    int small = add_server(&f, "small", 300, 0, 5, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, large, 1);
    in(&f, POLICY_POWER_ON, small, 2);
    assert_int_equal(st(&f, large), RACK_SRV_WAITING);
    assert_int_equal(st(&f, small), RACK_SRV_ON);
    done(&f);
}

static void test_power_on_twice_is_ignored(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 500, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, a, 1);
    assert_int_equal(count(&f, POLICY_ACT_IGNORED), 1);
    assert_int_equal(count(&f, POLICY_ACT_GRANT), 0);
    assert_int_equal(f.r.servers[a].alloc_mw, W(500));
    done(&f);
}

/* ---- re-routing -------------------------------------------------------- */

static void test_psu_failure_reroutes_with_fewest_switches(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 2, 1);
    int p1 = add_psu(&f, 1000, 0, BAB, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BAB, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 1500, 0, 1, BA);
    int b = add_server(&f, "b", 900, 0, 1, BB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    in(&f, POLICY_PSU_FAIL, p1, 1);
    /* A needs 1500 W and has 1000: one PSU moves from B, no more */
    assert_int_equal(count(&f, POLICY_ACT_SWITCH), 1);
    const struct policy_action *sw = find(&f, POLICY_ACT_SWITCH, -1);
    assert_int_equal(sw->from_bus, 1);
    assert_int_equal(sw->to_bus, 0);
    assert_true(sw->instant);
    assert_non_null(strstr(sw->reason, "A has 1000 W for 1500 W"));
    assert_int_equal(count(&f, POLICY_ACT_SHED), 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_ON);
    assert_feasible_and_protected(&f);
    done(&f);
}

static void test_reroute_restores_protection_with_slow_switch(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 2, 1);
    f.r.on_loss = RACK_ON_LOSS_HOLD;
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int relay = add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_RELAY);
    int a = add_server(&f, "a", 900, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_PSU_FAIL, p2, 1);
    /* losing the last fet on A would drop a: the relay is too slow to save it
     * then, so it is moved to A now */
    assert_int_equal(f.r.psus[relay].bus, 0);
    const struct policy_action *sw = find(&f, POLICY_ACT_SWITCH, -1);
    assert_non_null(sw);
    assert_false(sw->instant);
    assert_true(f.r.is_protected);
    done(&f);
}

static void test_slow_switch_does_not_count_for_protection(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 2, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BB, 1, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_BREAKER);
    int a = add_server(&f, "a", 900, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    /* granted only by moving the breaker PSU to A beforehand: after losing
     * ps1, a breaker takes 200 ms, far past the 16 ms hold-up */
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(f.r.psus[2].bus, 0);
    done(&f);
}

/* ---- overload: cap, then shed, lowest priority first ------------------- */

static void test_psu_failure_sheds_lowest_priority_first(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 600, 0, 1, BA);
    int web = add_server(&f, "web", 600, 0, 3, BA);
    int app = add_server(&f, "app", 600, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    in(&f, POLICY_POWER_ON, app, 0);
    in(&f, POLICY_PSU_FAIL, p2, 1);
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    assert_int_equal(st(&f, app), RACK_SRV_SHED);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    /* shed in order: least important first, with the reason */
    assert_int_equal(f.a.v[0].kind, POLICY_ACT_SHED);
    assert_int_equal(f.a.v[0].server, web);
    assert_int_equal(f.a.v[1].server, app);
    assert_non_null(strstr(f.a.v[0].reason, "ps2 failed"));
    assert_non_null(strstr(f.a.v[0].reason, "1000 W for 1800 W"));
    done(&f);
}

static void test_shed_least_overshoot_inside_priority(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 500, 0, BA, 0, RACK_SWITCH_FET);
    int big = add_server(&f, "big", 900, 0, 2, BA);
    int mid = add_server(&f, "mid", 600, 0, 2, BA);
    int small = add_server(&f, "small", 400, 0, 2, BA);
    int db = add_server(&f, "db", 500, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, big, 0);
    in(&f, POLICY_POWER_ON, mid, 0);
    in(&f, POLICY_POWER_ON, small, 0);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_PSU_FAIL, p2, 1);
    /* 2400 W on 2000 W: 400 W too much; shedding small overshoots least */
    assert_int_equal(st(&f, small), RACK_SRV_SHED);
    assert_int_equal(st(&f, big), RACK_SRV_ON);
    assert_int_equal(st(&f, mid), RACK_SRV_ON);
    assert_int_equal(count(&f, POLICY_ACT_SHED), 1);
    done(&f);
}

static void test_cap_before_shed(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 500, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 600, 0, 1, BA);
    int batch = add_server(&f, "batch", 800, 300, 4, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, batch, 0);
    in(&f, POLICY_PSU_FAIL, p2, 1);
    /* 1400 W on 1000 W: batch capped to 400 W instead of shed */
    assert_int_equal(st(&f, batch), RACK_SRV_CAPPED);
    assert_int_equal(f.r.servers[batch].alloc_mw, W(400));
    const struct policy_action *c = find(&f, POLICY_ACT_CAP, batch);
    assert_non_null(c);
    assert_int_equal(c->watts_mw, W(400));
    assert_int_equal(count(&f, POLICY_ACT_SHED), 0);
    done(&f);
}

static void test_capping_spreads_evenly_inside_priority(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 600, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 800, 200, 2, BA);
    int b = add_server(&f, "b", 800, 700, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    in(&f, POLICY_PSU_FAIL, p2, 1);
    /* 600 W to take: b gives its 100 W of room, a the other 500 W */
    assert_int_equal(f.r.servers[b].alloc_mw, W(700));
    assert_int_equal(f.r.servers[a].alloc_mw, W(300));
    done(&f);
}

static void test_shed_when_capping_is_not_enough(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 900, 0, 1, BA);
    int batch = add_server(&f, "batch", 800, 500, 4, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, batch, 0);
    in(&f, POLICY_PSU_FAIL, p2, 1);
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    done(&f);
}

static void test_protection_loss_sheds_down_to_protection(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p3 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 900, 0, 1, BA);
    int web = add_server(&f, "web", 900, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    in(&f, POLICY_PSU_FAIL, p3, 1);
    /* 1800 W still fits 2000 W, but not n+1: web goes */
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    assert_true(f.r.is_protected);
    assert_non_null(strstr(find(&f, POLICY_ACT_SHED, web)->reason, "n+1: losing"));
    done(&f);
}

static void test_hold_policy_refuses_grants_but_keeps_servers(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    f.r.on_loss = RACK_ON_LOSS_HOLD;
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p3 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 900, 0, 1, BA);
    int web = add_server(&f, "web", 900, 0, 2, BA);
    int late = add_server(&f, "late", 100, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    in(&f, POLICY_PSU_FAIL, p3, 1);
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    assert_false(f.r.is_protected);
    const struct policy_action *pr = find(&f, POLICY_ACT_PROTECTION, -1);
    assert_non_null(pr);
    assert_false(pr->is_protected);
    in(&f, POLICY_POWER_ON, late, 2);
    assert_int_equal(st(&f, late), RACK_SRV_WAITING);
    done(&f);
}

/* ---- restore ----------------------------------------------------------- */

static void test_restore_after_stable_time_most_important_first(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    int web = add_server(&f, "web", 600, 0, 3, BA);
    int app = add_server(&f, "app", 600, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    in(&f, POLICY_POWER_ON, app, 0);
    in(&f, POLICY_PSU_FAIL, p2, 10);
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    assert_int_equal(st(&f, app), RACK_SRV_SHED);
    in(&f, POLICY_PSU_REPAIR, p2, 20);
    /* not yet: the rack must be stable for 30 s first */
    assert_int_equal(st(&f, app), RACK_SRV_SHED);
    assert_int_equal(policy_next_deadline(&f.r), 50 * 1000000000LL);
    tick(&f);
    assert_int_equal(st(&f, app), RACK_SRV_ON);
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    assert_int_equal(f.a.v[0].kind, POLICY_ACT_RESTORE);
    assert_int_equal(f.a.v[0].server, app);
    assert_int_equal(f.a.v[1].server, web);
    assert_int_equal(policy_next_deadline(&f.r), INT64_MAX);
    done(&f);
}

static void test_flapping_psu_restarts_stability_timer(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    int web = add_server(&f, "web", 600, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    in(&f, POLICY_PSU_FAIL, p2, 10);
    in(&f, POLICY_PSU_REPAIR, p2, 20);
    in(&f, POLICY_PSU_FAIL, p2, 40);
    in(&f, POLICY_PSU_REPAIR, p2, 45);
    assert_int_equal(policy_next_deadline(&f.r), 75 * 1000000000LL);
    in(&f, POLICY_TICK, 0, 60);
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    tick(&f);
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    done(&f);
}

static void test_shed_server_holds_its_place_against_less_important_request(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    int app = add_server(&f, "app", 900, 0, 2, BA);
    int late = add_server(&f, "late", 700, 0, 3, BA);
    int tiny = add_server(&f, "tiny", 200, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, app, 0);
    in(&f, POLICY_PSU_FAIL, p2, 10);
    assert_int_equal(st(&f, app), RACK_SRV_SHED);
    in(&f, POLICY_PSU_REPAIR, p2, 20);
    in(&f, POLICY_POWER_ON, late, 21);
    /* 700 W would fit now, but not with app back: late waits */
    assert_int_equal(st(&f, late), RACK_SRV_WAITING);
    /* 200 W would fit even with app back, but app is more important and
     * could come back: tiny waits too, until app is back */
    in(&f, POLICY_POWER_ON, tiny, 22);
    assert_int_equal(st(&f, tiny), RACK_SRV_WAITING);
    tick(&f);
    assert_int_equal(st(&f, app), RACK_SRV_ON);
    assert_int_equal(st(&f, tiny), RACK_SRV_ON); /* 800 + 900 + 200 of 2000 W */
    assert_int_equal(st(&f, late), RACK_SRV_WAITING);
    done(&f);
}

/* ---- priority at every moment (issue 7) --------------------------------- */

/* Two 1000 W PSUs; db (priority 1) asks 1200 W and can run at 600 W. One
 * PSU fails: db is capped to 1000 W. The PSU comes back: db waits for the
 * rack to be stable before it is back at 1200 W. */
static void capped_db(struct fx *f, int *db, int *p2)
{
    rack_begin(f, RACK_PROT_NONE, 1, 1);
    f->r.restore_after_ns = 30 * 1000000000LL;
    add_psu(f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    *p2 = add_psu(f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    *db = add_server(f, "db", 1200, 600, 1, BA);
}

static void test_restore_wait_blocks_less_important_request(void **state)
{
    (void)state;
    struct fx f;
    int db, p2;
    capped_db(&f, &db, &p2);
    int batch = add_server(&f, "batch", 300, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_PSU_FAIL, p2, 10);
    assert_int_equal(st(&f, db), RACK_SRV_CAPPED);
    in(&f, POLICY_PSU_REPAIR, p2, 20);
    assert_int_equal(st(&f, db), RACK_SRV_CAPPED); /* not before 50 s */
    assert_true(policy_could_come_back(f.p, &f.r, db));
    /* 300 W fits even with db back at 1200 W, but db could come back: the
     * place is held in time too */
    in(&f, POLICY_POWER_ON, batch, 21);
    assert_int_equal(st(&f, batch), RACK_SRV_WAITING);
    const struct policy_action *w = find(&f, POLICY_ACT_WAIT, batch);
    assert_non_null(w);
    assert_non_null(strstr(w->reason, "db (priority 1, capped)"));
    tick(&f);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, batch), RACK_SRV_ON); /* granted as soon as db is back */
    assert_int_equal(f.a.v[0].kind, POLICY_ACT_RESTORE);
    assert_int_equal(f.a.v[0].server, db);
    assert_non_null(find(&f, POLICY_ACT_GRANT, batch));
    done(&f);
}

static void test_request_as_important_passes_if_it_fits_with_held(void **state)
{
    (void)state;
    struct fx f;
    int db, p2;
    capped_db(&f, &db, &p2);
    int db2 = add_server(&f, "db2", 500, 0, 1, BA);
    int db3 = add_server(&f, "db3", 400, 0, 1, BA);
    int batch = add_server(&f, "batch", 100, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_PSU_FAIL, p2, 10);
    in(&f, POLICY_PSU_REPAIR, p2, 20);
    assert_int_equal(st(&f, db), RACK_SRV_CAPPED);
    /* as important as db: passes, since 1200 + 500 W fit 2000 W */
    in(&f, POLICY_POWER_ON, db2, 21);
    assert_int_equal(st(&f, db2), RACK_SRV_ON);
    /* 1000 + 500 + 400 W would fit now, but not with db back at 1200 W */
    in(&f, POLICY_POWER_ON, db3, 22);
    assert_int_equal(st(&f, db3), RACK_SRV_WAITING);
    in(&f, POLICY_POWER_ON, batch, 23);
    assert_int_equal(st(&f, batch), RACK_SRV_WAITING);
    tick(&f);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, db3), RACK_SRV_WAITING);
    assert_int_equal(st(&f, batch), RACK_SRV_ON); /* 1200 + 500 + 100 W */
    done(&f);
}

static void test_server_that_cannot_come_back_blocks_nobody(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int big = add_server(&f, "big", 1500, 0, 1, BA);
    int batch = add_server(&f, "batch", 300, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, big, 0);
    in(&f, POLICY_PSU_FAIL, p2, 10);
    assert_int_equal(st(&f, big), RACK_SRV_SHED);
    /* 1500 W cannot fit 1000 W even with everyone less important off */
    assert_false(policy_could_come_back(f.p, &f.r, big));
    in(&f, POLICY_POWER_ON, batch, 11); /* in the restore wait */
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    /* once the PSU is back, big could come back: it holds its place again
     * (batch, already drawing, fits beside it) and is back after the wait */
    in(&f, POLICY_PSU_REPAIR, p2, 20);
    assert_true(policy_could_come_back(f.p, &f.r, big));
    tick(&f);
    assert_int_equal(st(&f, big), RACK_SRV_ON);
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    done(&f);
}

static void test_power_off_frees_held_place(void **state)
{
    (void)state;
    struct fx f;
    int db, p2;
    capped_db(&f, &db, &p2);
    int batch = add_server(&f, "batch", 900, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_PSU_FAIL, p2, 10);
    in(&f, POLICY_PSU_REPAIR, p2, 20);
    in(&f, POLICY_POWER_ON, batch, 21);
    assert_int_equal(st(&f, batch), RACK_SRV_WAITING);
    /* the operator powers db off: its place is free at once, no tick */
    in(&f, POLICY_POWER_OFF, db, 22);
    assert_int_equal(st(&f, db), RACK_SRV_OFF);
    assert_false(policy_could_come_back(f.p, &f.r, db));
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    assert_non_null(find(&f, POLICY_ACT_GRANT, batch));
    done(&f);
}

/* app is shed when it cannot come back, batch (less important) still fits
 * and draws. The PSU is repaired: app could come back beside batch and waits
 * for the rack to be stable. A second failure in that wait leaves no room
 * for both: batch gives app's place up at once, not at the restore tick. */
static void test_failure_during_restore_wait_replans_at_once(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    int p1 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p3 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 1000, 0, 1, BA);
    int app = add_server(&f, "app", 1500, 0, 2, BA);
    int batch = add_server(&f, "batch", 500, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, app, 0);
    in(&f, POLICY_POWER_ON, batch, 1);
    assert_int_equal(st(&f, batch), RACK_SRV_ON); /* 3000 of 3000 W */
    in(&f, POLICY_PSU_FAIL, p3, 10);
    assert_int_equal(st(&f, app), RACK_SRV_SHED); /* 2500 W cannot fit 2000 W */
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    in(&f, POLICY_PSU_REPAIR, p3, 20);
    assert_true(policy_could_come_back(f.p, &f.r, app));
    assert_int_equal(st(&f, batch), RACK_SRV_ON); /* app's place fits beside it */
    degrade(&f, p1, 500, 25); /* 2500 W: db and batch fit, app's place does not */
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    assert_int_equal(st(&f, app), RACK_SRV_SHED); /* not back before the rack is stable */
    const struct policy_action *a = find(&f, POLICY_ACT_SHED, batch);
    assert_non_null(a);
    assert_non_null(strstr(a->reason, "ps1 degraded to 500 W"));
    assert_non_null(strstr(a->reason, "places of servers waiting to come back"));
    tick(&f);
    assert_int_equal(st(&f, app), RACK_SRV_ON);
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    done(&f);
}

/* h3 (bus A only) was shed when A's PSU failed; it is back, and h3 waits
 * for the rack to be stable. r1 (priority 1) does not fit beside t4; r2
 * (priority 2) does, and its grant leaves h3's place short, so t4 gives way
 * at once: the room it frees goes to r1 in the same settle, not later. */
static void test_room_freed_for_a_held_place_goes_to_a_waiting_request(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 2, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    int pa = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BB, 1, RACK_SWITCH_FET);
    int h3 = add_server(&f, "h3", 800, 0, 3, BA);
    int t4 = add_server(&f, "t4", 1000, 0, 4, BAB);
    int r1 = add_server(&f, "r1", 1200, 0, 1, BAB);
    int r2 = add_server(&f, "r2", 300, 0, 2, BAB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, h3, 0);
    in(&f, POLICY_POWER_ON, t4, 0);
    in(&f, POLICY_PSU_FAIL, pa, 10);
    assert_int_equal(st(&f, h3), RACK_SRV_SHED);
    assert_int_equal(st(&f, t4), RACK_SRV_ON);
    in(&f, POLICY_PSU_REPAIR, pa, 20);
    assert_true(policy_could_come_back(f.p, &f.r, h3));
    in(&f, POLICY_POWER_ON, r1, 21); /* 1000 + 1200 W of 2000 W */
    assert_int_equal(st(&f, r1), RACK_SRV_WAITING);
    in(&f, POLICY_POWER_ON, r2, 22);
    assert_int_equal(st(&f, r2), RACK_SRV_ON);
    assert_int_equal(st(&f, t4), RACK_SRV_SHED);
    assert_int_equal(st(&f, r1), RACK_SRV_ON); /* 300 + 1200 W */
    assert_non_null(find(&f, POLICY_ACT_GRANT, r1));
    done(&f);
}

static void test_shed_on_dead_bus_holds_no_place(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 3, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BB, 1, RACK_SWITCH_FET);
    int pc = add_psu(&f, 1000, 0, 4u, 2, RACK_SWITCH_FET);
    int dba = add_server(&f, "dbA", 800, 0, 1, BA);
    int dbc = add_server(&f, "dbC", 800, 0, 1, 4u);
    int batch = add_server(&f, "batch", 900, 0, 3, BB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, dba, 0);
    in(&f, POLICY_POWER_ON, dbc, 0);
    in(&f, POLICY_BUS_FAIL, 0, 10);
    assert_int_equal(st(&f, dba), RACK_SRV_SHED);
    in(&f, POLICY_PSU_FAIL, pc, 11); /* bus C lives, but nothing can feed it */
    assert_int_equal(st(&f, dbc), RACK_SRV_SHED);
    assert_false(policy_could_come_back(f.p, &f.r, dba));
    assert_false(policy_could_come_back(f.p, &f.r, dbc));
    in(&f, POLICY_POWER_ON, batch, 12); /* in the restore wait */
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    /* and after it: still nobody to wait for */
    in(&f, POLICY_POWER_OFF, batch, 100);
    in(&f, POLICY_POWER_ON, batch, 101);
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    assert_int_equal(st(&f, dba), RACK_SRV_SHED);
    done(&f);
}

/* ---- removal, degraded PSUs, feeds, buses ------------------------------- */

static void test_abrupt_removal_releases_power(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 700, 0, 1, BA);
    int b = add_server(&f, "b", 700, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 1);
    assert_int_equal(st(&f, b), RACK_SRV_WAITING);
    in(&f, POLICY_REMOVE, a, 2);
    assert_int_equal(st(&f, a), RACK_SRV_OFF);
    const struct policy_action *rel = find(&f, POLICY_ACT_RELEASE, a);
    assert_non_null(rel);
    assert_int_equal(rel->watts_mw, W(700));
    assert_non_null(strstr(rel->reason, "removed"));
    assert_int_equal(st(&f, b), RACK_SRV_ON);
    done(&f);
}

static void test_degraded_psu_counts_derated_capacity(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    int p1 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 600, 0, 1, BA);
    int b = add_server(&f, "b", 300, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    degrade(&f, p1, 700, 1);
    assert_int_equal(rack_capacity_mw(&f.r), W(700));
    assert_int_equal(st(&f, b), RACK_SRV_SHED);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    done(&f);
}

static void test_feed_failure_fails_all_its_psus(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 2);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 1, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 900, 0, 1, BA);
    int b = add_server(&f, "b", 900, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    in(&f, POLICY_FEED_FAIL, 0, 1);
    assert_int_equal(rack_capacity_mw(&f.r), W(1000));
    assert_int_equal(st(&f, b), RACK_SRV_SHED);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    done(&f);
}

static void test_nn_survives_either_feed(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NN, 2, 2);
    add_psu(&f, 1000, 0, BAB, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_FET);
    add_psu(&f, 1000, 1, BAB, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 1, BAB, 1, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 1200, 0, 1, BAB);
    int b = add_server(&f, "b", 900, 0, 1, BAB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    /* 2100 W would need more than half of the 4000 W */
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_WAITING);
    assert_non_null(strstr(find(&f, POLICY_ACT_WAIT, b)->reason, "losing feed F"));
    in(&f, POLICY_FEED_FAIL, 1, 1);
    /* the other half carries everything; losing the last feed could not be
     * survived by anyone: nobody is shed for it, but the rack is not
     * protected any more and says which failure it cannot survive */
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_false(f.r.is_protected);
    assert_true(f.r.redundancy_lost);
    assert_int_equal(count(&f, POLICY_ACT_SHED), 0);
    assert_string_equal(find(&f, POLICY_ACT_PROTECTION, -1)->reason,
                        "n+n impossible: every PSU that reaches A+B is on feed F1 (a); nobody is "
                        "shed for a failure that shedding cannot fix");
    done(&f);
}

static void test_bus_failure_sheds_servers_only_on_it(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 2, 1);
    add_psu(&f, 1000, 0, BAB, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_FET);
    int onlya = add_server(&f, "onlya", 500, 0, 1, BA);
    int both = add_server(&f, "both", 500, 0, 2, BAB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, onlya, 0);
    in(&f, POLICY_POWER_ON, both, 0);
    in(&f, POLICY_BUS_FAIL, 0, 1);
    assert_int_equal(st(&f, onlya), RACK_SRV_SHED);
    assert_int_equal(st(&f, both), RACK_SRV_ON);
    /* B alone carries `both`, but ps1 is not left stranded on dead A */
    assert_int_equal(count(&f, POLICY_ACT_SWITCH), 1);
    assert_int_equal(find(&f, POLICY_ACT_SWITCH, -1)->psu, 0);
    assert_int_equal(f.r.psus[0].bus, 1);
    in(&f, POLICY_BUS_REPAIR, 0, 2);
    tick(&f);
    assert_int_equal(st(&f, onlya), RACK_SRV_ON);
    done(&f);
}

static void test_nn_single_bus_server_loses_redundancy(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NN, 2, 2);
    add_psu(&f, 1000, 0, BAB, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 1, BAB, 1, RACK_SWITCH_FET);
    int onlya = add_server(&f, "onlya", 500, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, onlya, 0);
    /* losing bus A cannot be survived by a server only on A: it is left out
     * of the check that admits, so it is granted, but n+n (each feed and each
     * bus) cannot hold for it: the rack is not protected and says why */
    assert_int_equal(st(&f, onlya), RACK_SRV_ON);
    assert_false(f.r.is_protected);
    assert_true(f.r.redundancy_lost);
    assert_string_equal(find(&f, POLICY_ACT_PROTECTION, -1)->reason,
                        "n+n impossible: onlya has no live bus but A; nobody is shed for a "
                        "failure that shedding cannot fix");
    assert_non_null(strstr(find(&f, POLICY_ACT_GRANT, onlya)->reason, "redundancy lost"));
    done(&f);
}

/* The rack: after ps1 and ps2 fail, ps3 alone feeds A+B. Losing it
 * too could not be survived whatever is shed: nobody is shed, but the rack
 * is not protected, redundancy is lost and the reason names the failure. */
static void test_last_psu_for_bus_set_reports_not_protected_and_sheds_nobody(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 2, 1);
    add_psu(&f, 1500, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1500, 0, BB, 1, RACK_SWITCH_FET);
    add_psu(&f, 1500, 0, BAB, 0, RACK_SWITCH_FET);
    int db1 = add_server(&f, "db1", 800, 0, 1, BAB);
    int web1 = add_server(&f, "web1", 700, 0, 2, BAB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db1, 0);
    in(&f, POLICY_POWER_ON, web1, 0);
    assert_true(f.r.is_protected);
    assert_false(f.r.redundancy_lost);
    in(&f, POLICY_PSU_FAIL, 0, 1);
    assert_true(f.r.is_protected);
    in(&f, POLICY_PSU_FAIL, 1, 2);
    assert_int_equal(st(&f, db1), RACK_SRV_ON);
    assert_int_equal(st(&f, web1), RACK_SRV_ON);
    assert_int_equal(count(&f, POLICY_ACT_SHED) + count(&f, POLICY_ACT_CAP), 0);
    assert_false(f.r.is_protected);
    assert_true(f.r.redundancy_lost);
    const struct policy_action *a = find(&f, POLICY_ACT_PROTECTION, -1);
    assert_non_null(a);
    assert_false(a->is_protected);
    assert_true(a->redundancy_lost);
    assert_string_equal(a->reason, "n+1 impossible: ps3 is the last PSU that reaches A+B (db1, "
                                   "web1); nobody is shed for a failure that shedding cannot fix");
    struct policy_check c;
    policy_check(f.p, &f.r, &c);
    assert_true(c.feasible);
    assert_false(c.is_protected);
    assert_true(c.redundancy_lost);
    /* a repair gives the protection back */
    in(&f, POLICY_PSU_REPAIR, 0, 3);
    assert_true(f.r.is_protected);
    assert_false(f.r.redundancy_lost);
    assert_string_equal(find(&f, POLICY_ACT_PROTECTION, -1)->reason, "n+1 kept");
    done(&f);
}

/* Prints the actions of the last input (when a test fails, they say why). */
static void show(const struct fx *f)
{
    for (size_t i = 0; i < f->a.n; i++)
        print_message("  %s %s: %s\n", policy_action_name(f->a.v[i].kind),
                      f->a.v[i].server >= 0 ? f->r.servers[f->a.v[i].server].id
                      : f->a.v[i].psu >= 0  ? f->r.psus[f->a.v[i].psu].id
                                            : "-",
                      f->a.v[i].reason);
}

/* The rack: ps1 (relay) and ps3 (fet) wired to A+B sit on A, ps2 on
 * B alone. Bus A fails. */
static void stranded_rack(struct fx *f, enum rack_on_loss on_loss)
{
    rack_begin(f, RACK_PROT_N1, 2, 1);
    f->r.on_loss = on_loss;
    add_psu(f, 1500, 0, BAB, 0, RACK_SWITCH_RELAY);
    add_psu(f, 2500, 0, BB, 1, RACK_SWITCH_FET);
    add_psu(f, 1500, 0, BAB, 0, RACK_SWITCH_FET);
    add_server(f, "db1", 1200, 0, 1, BAB);
    add_server(f, "db2", 800, 0, 1, BAB);
    add_server(f, "app1", 600, 0, 2, BA);
    add_server(f, "web1", 300, 0, 3, BA);
    rack_end(f);
    for (int i = 0; i < 4; i++)
        in(f, POLICY_POWER_ON, i, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(st(f, i), RACK_SRV_ON);
}

static void test_psu_on_dead_bus_moves_to_live_bus(void **state)
{
    (void)state;
    struct fx f;
    stranded_rack(&f, RACK_ON_LOSS_SHED);
    in(&f, POLICY_BUS_FAIL, 0, 1);
    show(&f);
    /* both PSUs wired to B leave dead A: B has all 5500 W */
    assert_int_equal(f.r.psus[0].bus, 1);
    assert_int_equal(f.r.psus[2].bus, 1);
    assert_int_equal(rack_capacity_mw(&f.r), W(5500));
    assert_int_equal(st(&f, 0), RACK_SRV_ON);
    assert_int_equal(st(&f, 1), RACK_SRV_ON);
    assert_feasible_and_protected(&f);
    const struct policy_action *a = find(&f, POLICY_ACT_SWITCH, -1);
    assert_non_null(a);
    assert_non_null(strstr(a->reason, "delivered nothing on dead bus A: moved to live bus B"));
    done(&f);
}

static void test_relay_psu_moves_off_dead_bus(void **state)
{
    (void)state;
    struct fx f;
    stranded_rack(&f, RACK_ON_LOSS_SHED);
    in(&f, POLICY_BUS_FAIL, 0, 1);
    bool seen = false;
    for (size_t i = 0; i < f.a.n; i++) {
        const struct policy_action *a = &f.a.v[i];
        if (a->kind != POLICY_ACT_SWITCH || a->psu != 0)
            continue;
        seen = true;
        assert_int_equal(a->from_bus, 0);
        assert_int_equal(a->to_bus, 1);
        assert_false(a->instant); /* a relay: not instant, but it restores 1500 W */
        assert_string_equal(a->reason, "bus A failed: ps1 delivered nothing on dead bus A: moved "
                                       "to live bus B, 1500 W back (a slow switch: not instant)");
    }
    assert_true(seen);
    done(&f);
}

/* hold refuses to shed for protection, never to re-route: with protection
 * out of reach and B feasible on ps2 alone, the PSUs on dead A still move */
static void test_hold_still_reroutes(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 2, 1);
    f.r.on_loss = RACK_ON_LOSS_HOLD;
    add_psu(&f, 1500, 0, BAB, 0, RACK_SWITCH_RELAY);
    add_psu(&f, 2500, 0, BB, 1, RACK_SWITCH_FET);
    add_psu(&f, 1500, 0, BAB, 0, RACK_SWITCH_FET);
    int db1 = add_server(&f, "db1", 1500, 0, 1, BAB);
    int db2 = add_server(&f, "db2", 1000, 0, 1, BAB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db1, 0);
    in(&f, POLICY_POWER_ON, db2, 0);
    assert_true(f.r.is_protected);
    degrade(&f, 0, 500, 1);
    degrade(&f, 2, 500, 2);
    assert_false(f.r.is_protected); /* losing ps2 leaves 1000 W for 2500 W; hold: nobody cut */
    assert_int_equal(count(&f, POLICY_ACT_SHED) + count(&f, POLICY_ACT_CAP), 0);
    in(&f, POLICY_BUS_FAIL, 0, 3);
    show(&f);
    assert_int_equal(f.r.psus[0].bus, 1);
    assert_int_equal(f.r.psus[2].bus, 1);
    assert_int_equal(rack_capacity_mw(&f.r), W(3500));
    assert_int_equal(count(&f, POLICY_ACT_SWITCH), 2);
    assert_int_equal(st(&f, db1), RACK_SRV_ON);
    assert_int_equal(st(&f, db2), RACK_SRV_ON);
    assert_false(f.r.is_protected);
    done(&f);
}

static void test_reason_names_servers_without_live_bus(void **state)
{
    (void)state;
    struct fx f;
    stranded_rack(&f, RACK_ON_LOSS_SHED);
    in(&f, POLICY_BUS_FAIL, 0, 1);
    assert_int_equal(st(&f, 2), RACK_SRV_SHED);
    assert_int_equal(st(&f, 3), RACK_SRV_SHED);
    for (size_t i = 0; i < f.a.n; i++) {
        const struct policy_action *a = &f.a.v[i];
        assert_null(strstr(a->reason, "0 W for"));
        assert_null(strstr(a->reason, "no live bus has"));
    }
    assert_string_equal(find(&f, POLICY_ACT_SHED, 3)->reason,
                        "bus A failed: app1 and web1 have no live bus; shedding lowest first, "
                        "priority 3");
    done(&f);
}

/* Protection out of reach (hold): the routing still leaves the most margin
 * under the worst failure, before it counts switch operations. Four relay
 * PSUs, two per bus; x (600 W) on A, y (300 W) on B; ps1 fails. Staying
 * puts A's 600 W on ps2 alone (losing it: 600 W short); moving one relay
 * from B to A leaves B's 300 W on one PSU (300 W short): one move. */
static void test_unprotectable_routing_keeps_most_margin_before_fewest_moves(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 2, 1);
    f.r.on_loss = RACK_ON_LOSS_HOLD;
    add_psu(&f, 1000, 0, BAB, 0, RACK_SWITCH_RELAY);
    add_psu(&f, 1000, 0, BAB, 0, RACK_SWITCH_RELAY);
    add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_RELAY);
    add_psu(&f, 1000, 0, BAB, 1, RACK_SWITCH_RELAY);
    int x = add_server(&f, "x", 600, 0, 1, BA);
    int y = add_server(&f, "y", 300, 0, 1, BB);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, x, 0);
    in(&f, POLICY_POWER_ON, y, 0);
    assert_true(f.r.is_protected);
    in(&f, POLICY_PSU_FAIL, 0, 1);
    show(&f);
    assert_false(f.r.is_protected);
    /* no "0 W for": the relays could reach B, just not in time */
    assert_string_equal(find(&f, POLICY_ACT_PROTECTION, -1)->reason,
                        "n+1: losing ps4 would leave B nothing within the hold-up time for 300 W");
    assert_int_equal(count(&f, POLICY_ACT_SWITCH), 1);
    const struct policy_action *a = find(&f, POLICY_ACT_SWITCH, -1);
    assert_int_equal(a->from_bus, 1);
    assert_int_equal(a->to_bus, 0);
    assert_int_equal(st(&f, x), RACK_SRV_ON);
    assert_int_equal(st(&f, y), RACK_SRV_ON);
    done(&f);
}

static void report(struct fx *f, int server, int watts, int64_t t_s)
{
    char err[128];
    struct policy_input x = {.kind = POLICY_REPORT, .index = server, .watts_mw = W(watts)};
    f->now = t_s * 1000000000LL;
    policy_actions_clear(&f->a);
    assert_int_equal(policy_handle(f->p, &f->r, &x, f->now, &f->a, err, sizeof(err)), 0);
}

/* Three 1000 W PSUs, n+1: 2000 W protected. db2 800 W (p1), web1 500 W (p3),
 * batch1 400 W (p4): 1700 W granted. */
static void overdraw_rack(struct fx *f, enum rack_protection prot)
{
    rack_begin(f, prot, 1, 1);
    for (int i = 0; i < 3; i++)
        add_psu(f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_server(f, "db2", 800, 0, 1, BA);
    add_server(f, "web1", 500, 0, 3, BA);
    add_server(f, "batch1", 400, 0, 4, BA);
    rack_end(f);
    for (int i = 0; i < 3; i++)
        in(f, POLICY_POWER_ON, i, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(st(f, i), RACK_SRV_ON);
}

static void test_overdraw_planned_at_measured_draw(void **state)
{
    (void)state;
    struct fx f;
    overdraw_rack(&f, RACK_PROT_N1);
    /* within its grant: nothing to plan */
    report(&f, 0, 700, 1);
    assert_int_equal(f.a.n, 0);
    /* 1200 W against 800: planned at 1200, 2100 W does not survive losing
     * a PSU; the least important goes, and only it */
    report(&f, 0, 1200, 2);
    show(&f);
    assert_int_equal(st(&f, 2), RACK_SRV_SHED);
    assert_int_equal(st(&f, 1), RACK_SRV_ON);
    assert_int_equal(st(&f, 0), RACK_SRV_ON);
    assert_int_equal(f.r.servers[0].alloc_mw, W(800)); /* the grant stays what it was */
    assert_string_equal(find(&f, POLICY_ACT_SHED, 2)->reason,
                        "db2 draws 1200 W over its 800 W grant: n+1: losing ps1 would leave A "
                        "2000 W for 2100 W; shedding lowest first, priority 4");
    assert_true(f.r.is_protected);
    struct policy_check c;
    policy_check(f.p, &f.r, &c);
    assert_true(c.feasible && c.is_protected);
    done(&f);
}

static void test_overdraw_sheds_lowest_priority_first(void **state)
{
    (void)state;
    struct fx f;
    overdraw_rack(&f, RACK_PROT_NONE);
    /* 2400 + 500 + 400 W on 3000 W: the least important goes first ... */
    report(&f, 0, 2400, 1);
    show(&f);
    assert_int_equal(st(&f, 2), RACK_SRV_SHED);
    assert_int_equal(st(&f, 1), RACK_SRV_ON);
    assert_int_equal(st(&f, 0), RACK_SRV_ON);
    /* ... and the over-drawing server only in its own turn: at 3300 W
     * web1 goes too, then db2 itself, and both come back without it */
    report(&f, 0, 3200, 2);
    show(&f);
    assert_int_equal(st(&f, 0), RACK_SRV_SHED);
    assert_int_equal(st(&f, 1), RACK_SRV_ON);
    assert_int_equal(count(&f, POLICY_ACT_SHED), 1);
    done(&f);
}

/* A report that lowers again: the plan follows the draw back down (never
 * below the grant), but nobody comes back before the rack has been stable
 * for restore_after since the over-draw rose. */
static void test_overdraw_lowering_follows_draw_down_after_restore_wait(void **state)
{
    (void)state;
    struct fx f;
    overdraw_rack(&f, RACK_PROT_N1);
    report(&f, 0, 1200, 1);
    assert_int_equal(st(&f, 2), RACK_SRV_SHED);
    report(&f, 0, 700, 2);
    assert_int_equal(st(&f, 2), RACK_SRV_SHED); /* the restore wait */
    assert_int_equal(policy_next_deadline(&f.r), 1000000000LL + f.r.restore_after_ns);
    tick(&f);
    assert_int_equal(st(&f, 2), RACK_SRV_ON);
    assert_true(f.r.is_protected);
    done(&f);
}

/* Issue 8: db2 shed for drawing 3200 W against its 800 W grant reads 0 W
 * while off. Restored at its grant it would draw 3200 W again and brown the
 * bus out, more important servers with it: it comes back only where what it
 * drew when last on fits. An orderly power-off forgets that figure. */
static void test_shed_overdrawer_comes_back_only_where_its_last_draw_fits(void **state)
{
    (void)state;
    struct fx f;
    overdraw_rack(&f, RACK_PROT_NONE);
    report(&f, 0, 3200, 1);
    assert_int_equal(st(&f, 0), RACK_SRV_SHED);
    report(&f, 0, 0, 2); /* its slot is off */
    assert_int_equal(f.r.servers[0].draw_mw, 0);
    assert_int_equal(f.r.servers[0].on_draw_mw, W(3200));
    tick(&f);
    show(&f);
    assert_int_equal(st(&f, 0), RACK_SRV_SHED);
    assert_int_equal(st(&f, 1), RACK_SRV_ON);
    assert_int_equal(st(&f, 2), RACK_SRV_ON);
    assert_false(policy_could_come_back(f.p, &f.r, 0));
    /* the operator powers it off and on: a new request, at its grant */
    in(&f, POLICY_POWER_OFF, 0, 3);
    assert_int_equal(f.r.servers[0].on_draw_mw, -1);
    in(&f, POLICY_POWER_ON, 0, 4);
    assert_int_equal(st(&f, 0), RACK_SRV_ON);
    done(&f);
}

/* A server capped below what it was measured drawing: the cap is planned
 * (it was within its grant), the old measurement no longer stands. */
static void test_cap_below_draw_counts_until_a_report_says_otherwise(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 1500, 0, 1, BA);
    int b = add_server(&f, "b", 1500, 500, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    report(&f, b, 1400, 1);
    in(&f, POLICY_PSU_FAIL, 1, 2); /* 2000 W for 3000 W: b capped to 500 W */
    assert_int_equal(st(&f, b), RACK_SRV_CAPPED);
    assert_int_equal(f.r.servers[b].alloc_mw, W(500));
    assert_int_equal(f.r.servers[b].draw_mw, -1);
    /* it ignores its cap: over-draw, shed in its turn */
    report(&f, b, 1400, 3);
    assert_int_equal(st(&f, b), RACK_SRV_SHED);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    done(&f);
}

static void test_non_uniform_psus(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    add_psu(&f, 3000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1500, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 2400, 0, 1, BA);
    int b = add_server(&f, "b", 200, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    /* losing the 3000 W unit leaves 2500 W: 2400 fits, 2600 does not */
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_WAITING);
    assert_non_null(strstr(find(&f, POLICY_ACT_WAIT, b)->reason, "losing ps1"));
    done(&f);
}

static void test_bad_input_index_is_refused(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_server(&f, "a", 700, 0, 1, BA);
    rack_end(&f);
    char err[128] = "";
    struct policy_input x = {.kind = POLICY_POWER_ON, .index = 7};
    assert_int_equal(policy_handle(f.p, &f.r, &x, 0, &f.a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no element 7"));
    x = (struct policy_input){.kind = POLICY_PSU_DEGRADE, .index = 0, .watts_mw = W(2000)};
    assert_int_equal(policy_handle(f.p, &f.r, &x, 0, &f.a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "capacity must be"));
    assert_int_equal(f.r.psus[0].health, RACK_PSU_OK);
    done(&f);
}

static void test_report_records_actual_draw(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 700, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    char err[128];
    struct policy_input x = {.kind = POLICY_REPORT, .index = a, .watts_mw = W(523)};
    assert_int_equal(policy_handle(f.p, &f.r, &x, 0, &f.a, err, sizeof(err)), 0);
    assert_int_equal(f.r.servers[a].draw_mw, W(523));
    assert_int_equal(f.r.servers[a].alloc_mw, W(700));
    done(&f);
}

/* ---- a PSU that cannot be read (docs/policy.md, "Unknown PSUs") --------- */

static int count_cuts(const struct fx *f)
{
    return count(f, POLICY_ACT_SHED) + count(f, POLICY_ACT_CAP);
}

/* n+1 rack: three 1000 W PSUs on one bus, a and b on at 700 W each. */
static void n1_three_psus(struct fx *f, int *a, int *b, int *c)
{
    rack_begin(f, RACK_PROT_N1, 1, 1);
    for (int i = 0; i < 3; i++)
        add_psu(f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    *a = add_server(f, "a", 700, 0, 1, BA);
    *b = add_server(f, "b", 700, 0, 2, BA);
    *c = add_server(f, "c", 300, 0, 1, BA);
    rack_end(f);
    in(f, POLICY_POWER_ON, *a, 0);
    in(f, POLICY_POWER_ON, *b, 0);
    assert_true(f->r.is_protected);
}

/* ---- PSUs predicted to fail (docs/policy.md) ----------------------------- */

static const struct policy_action *find_switch(const struct fx *f, int psu)
{
    for (size_t i = 0; i < f->a.n; i++)
        if (f->a.v[i].kind == POLICY_ACT_SWITCH && f->a.v[i].psu == psu)
            return &f->a.v[i];
    return NULL;
}

/* Three 1000 W PSUs on bus A, n+1, a 800 W server: without any one of them
 * the rack still has n+1 for 800 W. */
static void three_psus(struct fx *f, int *a)
{
    rack_begin(f, RACK_PROT_N1, 1, 1);
    for (int i = 0; i < 3; i++)
        add_psu(f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    *a = add_server(f, "a", 800, 0, 1, BA);
    rack_end(f);
    in(f, POLICY_POWER_ON, *a, 0);
    assert_int_equal(st(f, *a), RACK_SRV_ON);
}

static void test_at_risk_psu_drained_when_protected_without_it(void **state)
{
    (void)state;
    struct fx f;
    int a;
    three_psus(&f, &a);
    in(&f, POLICY_PSU_AT_RISK, 0, 1);
    assert_true(f.r.psus[0].at_risk);
    const struct policy_action *sw = find_switch(&f, 0);
    assert_non_null(sw);
    assert_int_equal(sw->from_bus, 0);
    assert_int_equal(sw->to_bus, -1);
    assert_non_null(strstr(sw->reason, "ps1 drained off bus A before its predicted failure"));
    assert_int_equal(f.r.psus[0].bus, -1);
    assert_int_equal(count_cuts(&f), 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_true(f.r.is_protected);
    assert_feasible_and_protected(&f);
    /* then it fails: nothing left to do */
    in(&f, POLICY_PSU_FAIL, 0, 100);
    assert_int_equal(count(&f, POLICY_ACT_SWITCH), 0);
    assert_int_equal(count_cuts(&f), 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_true(f.r.is_protected);
    done(&f);
}

static void test_at_risk_psu_needed_keeps_serving_and_counts_for_nothing(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    for (int i = 0; i < 3; i++)
        add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 1200, 0, 1, BA);
    int c = add_server(&f, "c", 300, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_PSU_AT_RISK, 0, 1);
    /* without ps1, losing another leaves 1000 W for 1200 W: it stays and
     * serves, nobody is cut */
    assert_int_equal(count(&f, POLICY_ACT_SWITCH), 0);
    assert_int_equal(f.r.psus[0].bus, 0);
    assert_int_equal(count_cuts(&f), 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(rack_capacity_mw(&f.r), W(3000));
    /* ... but it counts for no protection: the rack says so, and a request
     * that n+1 with ps1 would admit (1500 W of 2000 W) waits, naming why */
    assert_false(f.r.is_protected);
    in(&f, POLICY_POWER_ON, c, 2);
    assert_int_equal(st(&f, c), RACK_SRV_WAITING);
    const struct policy_action *w = find(&f, POLICY_ACT_WAIT, c);
    assert_non_null(w);
    assert_non_null(strstr(w->reason, "ps1 not counted: predicted to fail"));
    /* the prediction clears: c fits n+1 with ps1 counted */
    in(&f, POLICY_PSU_RISK_CLEAR, 0, 3);
    assert_int_equal(st(&f, c), RACK_SRV_ON);
    assert_true(f.r.is_protected);
    done(&f);
}

static void test_at_risk_psu_back_when_risk_clears(void **state)
{
    (void)state;
    struct fx f;
    int a;
    three_psus(&f, &a);
    in(&f, POLICY_PSU_AT_RISK, 0, 1);
    assert_int_equal(f.r.psus[0].bus, -1);
    in(&f, POLICY_PSU_RISK_CLEAR, 0, 2);
    assert_false(f.r.psus[0].at_risk);
    const struct policy_action *sw = find_switch(&f, 0);
    assert_non_null(sw);
    assert_int_equal(sw->to_bus, 0);
    assert_int_equal(f.r.psus[0].bus, 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    done(&f);
}

static void test_drained_psu_returns_when_another_fails(void **state)
{
    (void)state;
    struct fx f;
    int a;
    three_psus(&f, &a);
    in(&f, POLICY_PSU_AT_RISK, 0, 1);
    assert_int_equal(f.r.psus[0].bus, -1);
    in(&f, POLICY_PSU_FAIL, 1, 2);
    /* ps3 alone has no n+1 for 800 W: the predicted one is better than none */
    const struct policy_action *sw = find_switch(&f, 0);
    assert_non_null(sw);
    assert_int_equal(sw->to_bus, 0);
    assert_non_null(strstr(sw->reason, "predicted to fail, back on bus A"));
    assert_int_equal(f.r.psus[0].bus, 0);
    assert_int_equal(count_cuts(&f), 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    done(&f);
}

static void test_at_risk_psu_sheds_only_with_on_predicted_shed(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        struct fx f;
        rack_begin(&f, RACK_PROT_NONE, 1, 1);
        f.r.on_predicted = mode ? RACK_PREDICTED_SHED : RACK_PREDICTED_KEEP;
        add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
        add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
        int a = add_server(&f, "a", 800, 0, 1, BA);
        int b = add_server(&f, "b", 700, 0, 2, BA);
        rack_end(&f);
        in(&f, POLICY_POWER_ON, a, 0);
        in(&f, POLICY_POWER_ON, b, 0);
        in(&f, POLICY_PSU_AT_RISK, 0, 1);
        assert_int_equal(st(&f, a), RACK_SRV_ON);
        if (mode) { /* counted as failed: b is shed, ps1 is off its bus */
            assert_int_equal(st(&f, b), RACK_SRV_SHED);
            assert_int_equal(f.r.psus[0].bus, -1);
            assert_int_equal(rack_capacity_mw(&f.r), W(1000));
        } else { /* a prediction alone cuts nobody; 1500 W need both */
            assert_int_equal(st(&f, b), RACK_SRV_ON);
            assert_int_equal(f.r.psus[0].bus, 0);
            assert_int_equal(count_cuts(&f), 0);
        }
        done(&f);
    }
}

static void test_unknown_psu_keeps_serving(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 900, 0, 1, BA);
    int b = add_server(&f, "b", 900, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    in(&f, POLICY_PSU_UNKNOWN, 1, 1);
    /* 1800 W needs both: the unknown one still carries its share */
    assert_int_equal(f.r.psus[1].health, RACK_PSU_UNKNOWN);
    assert_string_equal(rack_psu_health_name(f.r.psus[1].health), "unknown");
    assert_int_equal(rack_capacity_mw(&f.r), W(2000));
    assert_int_equal(count_cuts(&f), 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_ON);
    struct policy_check c;
    policy_check(f.p, &f.r, &c);
    assert_true(c.feasible);
    done(&f);
}

static void test_unknown_psu_keeps_its_derated_capacity(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    rack_end(&f);
    degrade(&f, 1, 600, 0);
    in(&f, POLICY_PSU_UNKNOWN, 1, 1);
    in(&f, POLICY_PSU_UNKNOWN, 0, 1);
    assert_int_equal(f.r.psus[1].health, RACK_PSU_UNKNOWN);
    assert_int_equal(rack_psu_capacity_mw(&f.r, &f.r.psus[1]), W(600));
    assert_int_equal(rack_psu_capacity_mw(&f.r, &f.r.psus[0]), W(1000));
    in(&f, POLICY_PSU_REPAIR, 1, 2); /* read again, and ok */
    assert_int_equal(f.r.psus[1].health, RACK_PSU_OK);
    assert_int_equal(rack_psu_capacity_mw(&f.r, &f.r.psus[1]), W(1000));
    done(&f);
}

static void test_failed_psu_stays_failed_when_it_cannot_be_read(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    rack_end(&f);
    in(&f, POLICY_PSU_FAIL, 1, 0);
    in(&f, POLICY_PSU_UNKNOWN, 1, 1);
    assert_int_equal(f.r.psus[1].health, RACK_PSU_FAILED);
    assert_int_equal(rack_capacity_mw(&f.r), W(1000));
    done(&f);
}

static void test_unknown_psu_does_not_count_for_protection(void **state)
{
    (void)state;
    struct fx f;
    int a, b, c;
    n1_three_psus(&f, &a, &b, &c);
    in(&f, POLICY_PSU_UNKNOWN, 2, 1);
    /* without ps3, losing one more leaves 1000 W for 1400 W */
    assert_false(f.r.is_protected);
    const struct policy_action *p = find(&f, POLICY_ACT_PROTECTION, -1);
    assert_non_null(p);
    assert_false(p->is_protected);
    assert_non_null(strstr(p->reason, "1000 W for 1400 W"));
    assert_non_null(strstr(p->reason, "ps3 not counted: cannot be read"));
    struct policy_check k;
    policy_check(f.p, &f.r, &k);
    assert_true(k.feasible);
    assert_false(k.is_protected);
    done(&f);
}

static void test_unknown_psu_admission_waits(void **state)
{
    (void)state;
    struct fx f;
    int a, b, c;
    n1_three_psus(&f, &a, &b, &c);
    in(&f, POLICY_PSU_UNKNOWN, 2, 1);
    in(&f, POLICY_POWER_ON, c, 2);
    /* 1700 W of 3000 W fits, but not without ps3 */
    assert_int_equal(st(&f, c), RACK_SRV_WAITING);
    const struct policy_action *w = find(&f, POLICY_ACT_WAIT, c);
    assert_non_null(w);
    assert_non_null(strstr(w->reason, "ps3 not counted"));
    in(&f, POLICY_PSU_REPAIR, 2, 3); /* an ok reading: counts again */
    assert_int_equal(f.r.psus[2].health, RACK_PSU_OK);
    assert_int_equal(st(&f, c), RACK_SRV_ON);
    assert_true(f.r.is_protected);
    done(&f);
}

/* With protection none, an unknown PSU's capacity still serves but admits
 * nobody new: the rack must serve everyone without it. */
static void test_unknown_psu_admission_waits_without_protection(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 900, 0, 1, BA);
    int b = add_server(&f, "b", 900, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_PSU_UNKNOWN, 1, 1);
    assert_true(f.r.is_protected); /* 900 W fit ps1 alone */
    in(&f, POLICY_POWER_ON, b, 2);
    assert_int_equal(st(&f, b), RACK_SRV_WAITING);
    assert_non_null(
        strstr(find(&f, POLICY_ACT_WAIT, b)->reason, "ps2 cannot be read: without it "));
    done(&f);
}

/* Several PSUs that cannot be read are named together, and the reason's
 * grammar follows: "without them". */
static void test_unknown_psus_are_named_together(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 900, 0, 1, BA);
    int b = add_server(&f, "b", 900, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_PSU_UNKNOWN, 1, 1);
    in(&f, POLICY_PSU_UNKNOWN, 2, 2);
    in(&f, POLICY_POWER_ON, b, 3);
    assert_int_equal(st(&f, b), RACK_SRV_WAITING);
    assert_non_null(
        strstr(find(&f, POLICY_ACT_WAIT, b)->reason, "ps2 and ps3 cannot be read: without them "));
    done(&f);
}

static void test_protection_lost_to_unknown_psu_holds_despite_on_loss_shed(void **state)
{
    (void)state;
    struct fx f;
    int a, b, c;
    n1_three_psus(&f, &a, &b, &c);
    assert_int_equal(f.r.on_loss, RACK_ON_LOSS_SHED);
    in(&f, POLICY_PSU_UNKNOWN, 2, 1);
    assert_int_equal(count_cuts(&f), 0);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_ON);
    assert_non_null(strstr(find(&f, POLICY_ACT_PROTECTION, -1)->reason, "holding"));
    /* and time passing changes nothing */
    struct policy_input t = {.kind = POLICY_TICK};
    char err[128];
    policy_actions_clear(&f.a);
    assert_int_equal(policy_handle(f.p, &f.r, &t, W(3600) * 1000000, &f.a, err, sizeof(err)), 0);
    assert_int_equal(count_cuts(&f), 0);
    done(&f);
}

/* A real failure on top of an unknown PSU sheds what the failure needs,
 * counting the unknown PSU as healthy: nothing more. */
static void test_failure_beside_unknown_psu_sheds_only_for_the_failure(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    for (int i = 0; i < 4; i++)
        add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 1000, 0, 1, BA);
    int b = add_server(&f, "b", 1000, 0, 2, BA);
    int c = add_server(&f, "c", 1000, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    in(&f, POLICY_POWER_ON, c, 0);
    assert_true(f.r.is_protected);
    in(&f, POLICY_PSU_UNKNOWN, 3, 1);
    assert_int_equal(count_cuts(&f), 0);
    in(&f, POLICY_PSU_FAIL, 0, 2);
    /* ps2, ps3 and the unknown ps4 are 3000 W: n+1 keeps 2000 W, so c goes;
     * without ps4 n+1 would leave 1000 W and b would go too */
    assert_int_equal(st(&f, c), RACK_SRV_SHED);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_ON);
    assert_int_equal(count(&f, POLICY_ACT_SHED), 1);
    done(&f);
}

static void test_only_positive_evidence_sheds(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 900, 0, 1, BA);
    int b = add_server(&f, "b", 900, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    in(&f, POLICY_PSU_UNKNOWN, 1, 1);
    in(&f, POLICY_PSU_UNKNOWN, 0, 1);
    assert_int_equal(count_cuts(&f), 0); /* nothing can be read: nothing is shed */
    in(&f, POLICY_PSU_FAIL, 1, 2);       /* an alarm: positive evidence */
    assert_int_equal(st(&f, b), RACK_SRV_SHED);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    done(&f);
}

/* ---- power lost without a decision ------------------------------------- */

static void lose(struct fx *f, int server, int64_t t_s)
{
    in(f, POLICY_LOST_POWER, server, t_s);
}

static void test_lost_power_sheds_and_holds_its_place_until_its_back_off(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    int web = add_server(&f, "web", 800, 0, 2, BA);
    int low = add_server(&f, "low", 800, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    lose(&f, db, 10);
    assert_int_equal(st(&f, db), RACK_SRV_SHED);
    assert_int_equal(f.r.servers[db].alloc_mw, 0);
    const struct policy_action *s = find(&f, POLICY_ACT_SHED, db);
    assert_non_null(s);
    assert_non_null(strstr(s->reason, "db lost power without a decision"));
    assert_non_null(strstr(s->reason, "not restored for 30 s (loss 1 in a row)"));
    assert_int_equal(count(&f, POLICY_ACT_RESTORE), 0);
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    assert_int_equal(policy_next_deadline(&f.r), 40 * 1000000000LL);
    /* its place is held: a less important request waits behind it */
    in(&f, POLICY_POWER_ON, low, 11);
    assert_int_equal(st(&f, low), RACK_SRV_WAITING);
    assert_non_null(strstr(find(&f, POLICY_ACT_WAIT, low)->reason, "db (priority 1, shed)"));
    tick(&f);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_non_null(find(&f, POLICY_ACT_RESTORE, db));
    assert_int_equal(policy_next_deadline(&f.r), INT64_MAX);
    done(&f);
}

static void test_repeated_loss_doubles_the_back_off_up_to_its_cap(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 10 * 1000000000LL;
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    int64_t t = 1, want = 10;
    for (int n = 1; n <= 7; n++) {
        lose(&f, db, t);
        assert_int_equal(st(&f, db), RACK_SRV_SHED);
        assert_int_equal(f.r.servers[db].losses, n);
        int64_t d = policy_next_deadline(&f.r);
        assert_int_equal(d, (t + want) * 1000000000LL);
        /* nothing raises it before: another input in the back-off changes nothing */
        in(&f, POLICY_TICK, 0, t + want - 1);
        assert_int_equal(st(&f, db), RACK_SRV_SHED);
        tick(&f);
        assert_int_equal(st(&f, db), RACK_SRV_ON);
        t += want + 1; /* browns out again one second after it is back */
        if (want < 10 * POLICY_LOSS_BACKOFF_MAX)
            want *= 2;
    }
    assert_int_equal(want, 160);
    /* a loss long after the last back-off ended starts over */
    lose(&f, db, t + POLICY_LOSS_WINDOW_NS / 1000000000LL + 1);
    assert_int_equal(f.r.servers[db].losses, 1);
    assert_non_null(strstr(find(&f, POLICY_ACT_SHED, db)->reason, "for 10 s (loss 1 in a row)"));
    done(&f);
}

/* restore_after_s: 0 restores at once; a loss of power still waits 5 s,
 * then 10, 20 ...: a server that browns out each time it is back does not
 * loop at the poll rate. */
static void test_back_off_is_at_least_5_s_when_restore_is_immediate(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 0;
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    lose(&f, db, 1);
    assert_int_equal(st(&f, db), RACK_SRV_SHED); /* not back in the same call */
    assert_int_equal(policy_next_deadline(&f.r), 6 * 1000000000LL);
    tick(&f);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    lose(&f, db, 7);
    assert_int_equal(policy_next_deadline(&f.r), 17 * 1000000000LL);
    assert_int_equal(policy_loss_backoff_ns(0, 9), 80 * 1000000000LL);
    done(&f);
}

static void test_lost_power_of_a_server_not_granted_is_ignored(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    int web = add_server(&f, "web", 800, 0, 2, BA);
    rack_end(&f);
    lose(&f, db, 1); /* off */
    assert_int_equal(st(&f, db), RACK_SRV_OFF);
    assert_non_null(find(&f, POLICY_ACT_IGNORED, db));
    in(&f, POLICY_POWER_ON, db, 2);
    in(&f, POLICY_POWER_ON, web, 3); /* waits */
    lose(&f, web, 4);
    assert_int_equal(st(&f, web), RACK_SRV_WAITING);
    assert_int_equal(f.r.servers[web].losses, 0);
    assert_int_equal(count(&f, POLICY_ACT_SHED), 0);
    assert_int_equal(policy_next_deadline(&f.r), INT64_MAX);
    done(&f);
}

static void test_back_off_also_waits_for_a_stable_rack(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int p2 = add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    lose(&f, db, 10);
    in(&f, POLICY_PSU_FAIL, p2, 20); /* the rack changed: stable from 50 s on */
    /* at 40 s its back-off ends: it holds its place again, but the rack
     * is not stable yet */
    assert_int_equal(policy_next_deadline(&f.r), 40 * 1000000000LL);
    tick(&f);
    assert_int_equal(st(&f, db), RACK_SRV_SHED);
    assert_int_equal(policy_next_deadline(&f.r), 50 * 1000000000LL);
    tick(&f);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(policy_next_deadline(&f.r), INT64_MAX);
    done(&f);
}

/* docs/policy.md: in its back-off a server that lost power holds its place
 * against requests only; a change of health cuts nobody for it. From the end
 * of its back-off its place is held again, and the restore brings it back
 * before the less important server. */
static void test_back_off_cuts_nobody_until_it_ends(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    f.r.restore_after_ns = 30 * 1000000000LL;
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int p3 = add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 1200, 0, 1, BA);
    int web = add_server(&f, "web", 1000, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 1);
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    lose(&f, db, 10);                /* back-off until 40 s */
    in(&f, POLICY_PSU_FAIL, p3, 20); /* db's place no longer fits beside web */
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    assert_int_equal(count(&f, POLICY_ACT_SHED), 0);
    assert_int_equal(policy_next_deadline(&f.r), 40 * 1000000000LL);
    tick(&f); /* its back-off ends in the restore wait: web gives way */
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    assert_int_equal(st(&f, db), RACK_SRV_SHED);
    assert_int_equal(policy_next_deadline(&f.r), 50 * 1000000000LL);
    tick(&f);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    done(&f);
}

static void test_power_off_ends_a_back_off(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    lose(&f, db, 10);
    in(&f, POLICY_POWER_OFF, db, 11);
    assert_int_equal(st(&f, db), RACK_SRV_OFF);
    assert_int_equal(policy_next_deadline(&f.r), INT64_MAX);
    /* asking again is a new request, granted at once */
    in(&f, POLICY_POWER_ON, db, 12);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    done(&f);
}

/* ---- battery reserves (docs/policy.md "Battery reserves") -------------- */

/* A bbu on bus b (or a server battery, when server >= 0), full. */
static void add_reserve(struct fx *f, enum rack_reserve_kind kind, int at, int max_w, double wh)
{
    struct rack *r = &f->r;
    r->reserves = realloc(r->reserves, (size_t)(r->nreserves + 1) * sizeof(*r->reserves));
    assert_non_null(r->reserves);
    struct rack_reserve *v = &r->reserves[r->nreserves];
    memset(v, 0, sizeof(*v));
    snprintf(v->id, RACK_ID_LEN, "res%d", r->nreserves + 1);
    v->kind = kind;
    v->at = at;
    v->energy_wh = v->wh_left = wh;
    v->max_w = v->rated_w = max_w;
    v->efficiency = 1;
    v->peukert = 1;
    v->to_bus = v->to_server = -1;
    v->known = true;
    r->nreserves++;
}

/* One bus, n+1, three 1500 W PSUs on F1, a bbu of max_w on the bus; db
 * (1000 W, priority 1) and batch (800 W, priority 4) granted. */
static void bbu_rack(struct fx *f, int max_w, int *db, int *batch)
{
    rack_begin(f, RACK_PROT_N1, 1, 1);
    for (int k = 0; k < 3; k++)
        add_psu(f, 1500, 0, BA, 0, RACK_SWITCH_FET);
    *db = add_server(f, "db", 1000, 0, 1, BA);
    *batch = add_server(f, "batch", 800, 0, 4, BA);
    add_reserve(f, RACK_RESERVE_BBU, 0, max_w, 100);
    rack_end(f);
    in(f, POLICY_POWER_ON, *db, 0);
    in(f, POLICY_POWER_ON, *batch, 0);
    assert_int_equal(st(f, *db), RACK_SRV_ON);
    assert_int_equal(st(f, *batch), RACK_SRV_ON);
}

static void test_bbu_carries_the_bus_while_its_feed_is_down(void **state)
{
    (void)state;
    struct fx f;
    int db, batch;
    bbu_rack(&f, 3000, &db, &batch);
    in(&f, POLICY_FEED_FAIL, 0, 10);
    /* no PSU delivers, but the bbu's 3000 W carry both: nobody is shed */
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    assert_int_equal(count(&f, POLICY_ACT_SHED), 0);
    assert_int_equal(rack_reserve_mw(&f.r), W(3000));
    /* it is no redundancy: not protected, and said so */
    const struct policy_action *pr = find(&f, POLICY_ACT_PROTECTION, -1);
    assert_non_null(pr);
    assert_false(pr->is_protected);
    assert_non_null(strstr(pr->reason, "on battery reserves"));
    struct policy_check c;
    policy_check(f.p, &f.r, &c);
    assert_true(c.feasible);
    assert_false(c.is_protected);
    done(&f);
}

static void test_bbu_short_of_the_load_sheds_least_important_first(void **state)
{
    (void)state;
    struct fx f;
    int db, batch;
    bbu_rack(&f, 1500, &db, &batch); /* 1800 W granted */
    in(&f, POLICY_FEED_FAIL, 0, 10);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    done(&f);
}

static void test_empty_bbu_counts_for_nothing(void **state)
{
    (void)state;
    struct fx f;
    int db, batch;
    bbu_rack(&f, 3000, &db, &batch);
    f.r.reserves[0].wh_left = 0;
    in(&f, POLICY_FEED_FAIL, 0, 10);
    assert_int_equal(rack_reserve_mw(&f.r), 0);
    assert_int_equal(st(&f, db), RACK_SRV_SHED);
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    done(&f);
}

static void test_bbu_is_not_leaned_on_while_mains_is_there(void **state)
{
    (void)state;
    struct fx f;
    int db, batch;
    bbu_rack(&f, 3000, &db, &batch);
    /* a PSU fails, mains is still there: n+1 on the two left (1500 W each
     * way) takes batch off, as it would without a battery; counted, the bbu
     * would have kept it (it is kept for an outage) */
    in(&f, POLICY_PSU_FAIL, 0, 10);
    assert_int_equal(rack_reserve_mw(&f.r), 0);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    done(&f);
}

static void test_nothing_is_raised_on_battery_reserves(void **state)
{
    (void)state;
    struct fx f;
    int db, batch;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 3000, 0, BA, 0, RACK_SWITCH_FET);
    db = add_server(&f, "db", 1000, 0, 1, BA);
    batch = add_server(&f, "batch", 800, 0, 4, BA);
    int web = add_server(&f, "web", 500, 0, 3, BA);
    add_reserve(&f, RACK_RESERVE_BBU, 0, 1500, 100);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, batch, 0);
    in(&f, POLICY_FEED_FAIL, 0, 10);
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    /* room on the bbu (1500 W for 1000 W), but a request waits ... */
    in(&f, POLICY_POWER_ON, web, 11);
    assert_int_equal(st(&f, web), RACK_SRV_WAITING);
    const struct policy_action *w = find(&f, POLICY_ACT_WAIT, web);
    assert_non_null(w);
    assert_non_null(strstr(w->reason, "runs on its battery reserves"));
    /* ... and the shed server is not restored, however long it is stable */
    in(&f, POLICY_TICK, 0, 1000);
    assert_int_equal(st(&f, batch), RACK_SRV_SHED);
    assert_int_equal(count(&f, POLICY_ACT_RESTORE), 0);
    assert_int_equal(policy_next_deadline(&f.r), INT64_MAX);
    /* mains back: the PSU alone decides again */
    in(&f, POLICY_FEED_REPAIR, 0, 1001);
    in(&f, POLICY_TICK, 0, 1100);
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    done(&f);
}

static void test_losing_a_bbu_is_no_failure_protection_sheds_for(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 2, 1);
    for (int k = 0; k < 2; k++)
        add_psu(&f, 1500, 0, BAB, k, RACK_SWITCH_FET);
    add_psu(&f, 1500, 0, BAB, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 1000, 0, 1, BAB);
    int batch = add_server(&f, "batch", 800, 0, 4, BAB);
    add_reserve(&f, RACK_RESERVE_BBU, 0, 1500, 100);
    add_reserve(&f, RACK_RESERVE_BBU, 1, 1500, 100);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, batch, 0);
    in(&f, POLICY_FEED_FAIL, 0, 10);
    /* 1800 W on 2 x 1500 W of bbus: losing one would leave 1500 W, but a
     * battery is a bridge, not redundancy: nobody is shed for it */
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, batch), RACK_SRV_ON);
    done(&f);
}

static void test_server_battery_carries_its_own_server(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 3000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 1000, 0, 1, BA);
    int web = add_server(&f, "web", 800, 0, 3, BA);
    add_reserve(&f, RACK_RESERVE_SERVER, db, 1200, 50); /* db's own battery */
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    in(&f, POLICY_FEED_FAIL, 0, 10);
    /* db's battery carries db; nothing carries web */
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    done(&f);
}

static void test_server_batteries_are_no_protection(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    for (int k = 0; k < 3; k++)
        add_psu(&f, 1500, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 1000, 0, 1, BA);
    add_reserve(&f, RACK_RESERVE_SERVER, db, 1200, 50);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_FEED_FAIL, 0, 10);
    /* its battery carries it all: it runs, but nothing protects it */
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    struct policy_check c;
    policy_check(f.p, &f.r, &c);
    assert_true(c.feasible);
    assert_false(c.is_protected);
    assert_false(f.r.is_protected);
    done(&f);
}

static void test_reserve_directed_to_another_bus_serves_there(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 2, 1);
    add_psu(&f, 3000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 3000, 0, BB, 1, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 1000, 0, 1, BA);
    int b = add_server(&f, "b", 1000, 0, 2, BB);
    add_reserve(&f, RACK_RESERVE_BBU, 1, 1200, 50); /* on B ... */
    f.r.reserves[0].switch_buses = BA;
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    f.r.reserves[0].to_bus = 0; /* ... directed to A */
    in(&f, POLICY_FEED_FAIL, 0, 10);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_SHED);
    done(&f);
}

/* ---- outages (docs/outage.md) ------------------------------------------- */

static void test_outage_stop_sheds_and_holds_the_server_until_released(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    int web = add_server(&f, "web", 800, 0, 2, BA);
    int low = add_server(&f, "low", 800, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, db, 0);
    in(&f, POLICY_POWER_ON, web, 0);
    in(&f, POLICY_OUTAGE_STOP, web, 10);
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    assert_true(f.r.servers[web].held);
    assert_int_equal(f.r.servers[web].alloc_mw, 0);
    const struct policy_action *s = find(&f, POLICY_ACT_SHED, web);
    assert_non_null(s);
    assert_non_null(strstr(s->reason, "outage plan: web stopped (held until mains is back)"));
    /* never restored while held, however long the rack is stable */
    in(&f, POLICY_TICK, 0, 1000);
    assert_int_equal(st(&f, web), RACK_SRV_SHED);
    assert_int_equal(count(&f, POLICY_ACT_RESTORE), 0);
    /* it keeps its place: a less important request waits behind it */
    in(&f, POLICY_POWER_ON, low, 1001);
    assert_int_equal(st(&f, low), RACK_SRV_WAITING);
    assert_non_null(strstr(find(&f, POLICY_ACT_WAIT, low)->reason, "web (priority 2, shed)"));
    /* released: the restore rules bring it back; low still does not fit */
    in(&f, POLICY_OUTAGE_RELEASE, web, 1002);
    assert_false(f.r.servers[web].held);
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    assert_non_null(find(&f, POLICY_ACT_RESTORE, web));
    assert_int_equal(st(&f, low), RACK_SRV_WAITING);
    /* a second release, or one of a server never held, changes nothing */
    in(&f, POLICY_OUTAGE_RELEASE, web, 1003);
    assert_non_null(find(&f, POLICY_ACT_IGNORED, web));
    assert_int_equal(st(&f, web), RACK_SRV_ON);
    done(&f);
}

static void test_held_server_power_on_waits_until_released(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int db = add_server(&f, "db", 800, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_OUTAGE_STOP, db, 1); /* off: nothing to shed, but held */
    assert_int_equal(st(&f, db), RACK_SRV_OFF);
    assert_true(f.r.servers[db].held);
    assert_non_null(find(&f, POLICY_ACT_IGNORED, db));
    in(&f, POLICY_POWER_ON, db, 2);
    assert_int_equal(st(&f, db), RACK_SRV_WAITING);
    const struct policy_action *w = find(&f, POLICY_ACT_WAIT, db);
    assert_non_null(w);
    assert_non_null(strstr(w->reason, "held until mains is back"));
    in(&f, POLICY_OUTAGE_RELEASE, db, 3);
    assert_int_equal(st(&f, db), RACK_SRV_ON);
    assert_non_null(find(&f, POLICY_ACT_GRANT, db));
    done(&f);
}

/* Released together, held servers come back most important first, as far
 * as they fit; the others keep their place. */
static void test_released_servers_come_back_most_important_first(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 2000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 800, 0, 3, BA);
    int b = add_server(&f, "b", 800, 0, 1, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 0);
    in(&f, POLICY_POWER_ON, b, 0);
    in(&f, POLICY_OUTAGE_STOP, a, 1);
    in(&f, POLICY_OUTAGE_STOP, b, 1);
    degrade(&f, 0, 1000, 2); /* room for one of them */
    struct policy_input rel[] = {{.kind = POLICY_OUTAGE_RELEASE, .index = a},
                                 {.kind = POLICY_OUTAGE_RELEASE, .index = b}};
    char err[128];
    policy_actions_clear(&f.a);
    assert_int_equal(policy_handle_many(f.p, &f.r, rel, 2, 100000000000LL, &f.a, err, sizeof(err)),
                     0);
    assert_int_equal(st(&f, b), RACK_SRV_ON);
    assert_int_equal(st(&f, a), RACK_SRV_SHED);
    assert_false(f.r.servers[a].held);
    assert_true(policy_could_come_back(f.p, &f.r, a) == false);
    done(&f);
}

/* After an outage plan moves work, the servers' priorities change: the
 * policy's order follows once told (policy_resort). */
static void test_resort_follows_changed_priorities(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int x = add_server(&f, "x", 800, 0, 1, BA);
    int y = add_server(&f, "y", 800, 0, 2, BA);
    int z = add_server(&f, "z", 800, 0, 3, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, x, 0);
    in(&f, POLICY_POWER_ON, y, 1);
    in(&f, POLICY_POWER_ON, z, 2);
    f.r.servers[z].priority = 1;
    f.r.servers[y].priority = 3;
    policy_resort(f.p);
    in(&f, POLICY_POWER_OFF, x, 3);
    assert_int_equal(st(&f, z), RACK_SRV_ON);
    assert_int_equal(st(&f, y), RACK_SRV_WAITING);
    done(&f);
}

/* policy_reask_waiting: the next settle answers each waiting server as a
 * new request (a wait with today's reason, or a grant), its place in the
 * queue kept; a settle without it says nothing of them. */
static void test_reask_answers_waiting_servers_again(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_N1, 1, 1);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    add_psu(&f, 1000, 0, BA, 0, RACK_SWITCH_FET);
    int a = add_server(&f, "a", 800, 0, 1, BA);
    int b = add_server(&f, "b", 800, 0, 2, BA);
    rack_end(&f);
    in(&f, POLICY_POWER_ON, a, 1);
    in(&f, POLICY_POWER_ON, b, 2);
    assert_int_equal(st(&f, a), RACK_SRV_ON);
    assert_int_equal(st(&f, b), RACK_SRV_WAITING);
    uint64_t seq = f.r.servers[b].seq;
    policy_actions_clear(&f.a);
    policy_settle(f.p, &f.r, W(3) * 1000, &f.a);
    assert_null(find(&f, POLICY_ACT_WAIT, b));
    policy_reask_waiting(f.p, &f.r);
    policy_actions_clear(&f.a);
    policy_settle(f.p, &f.r, W(4) * 1000, &f.a);
    const struct policy_action *w = find(&f, POLICY_ACT_WAIT, b);
    assert_non_null(w);
    assert_non_null(strstr(w->reason, "queued: "));
    assert_null(find(&f, POLICY_ACT_WAIT, a)); /* on: not waiting */
    assert_int_equal(f.r.servers[b].seq, seq);
    policy_actions_clear(&f.a); /* once: the flags go with the settle */
    policy_settle(f.p, &f.r, W(5) * 1000, &f.a);
    assert_null(find(&f, POLICY_ACT_WAIT, b));
    /* room for b: the re-asked settle grants it */
    in(&f, POLICY_POWER_OFF, a, 6);
    assert_int_equal(st(&f, b), RACK_SRV_ON);
    done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_when_it_fits),
        cmocka_unit_test(test_wait_when_protection_would_break),
        cmocka_unit_test(test_waiting_granted_in_priority_order_after_release),
        cmocka_unit_test(test_first_come_first_served_inside_a_priority),
        cmocka_unit_test(test_smaller_less_important_request_passes_larger),
        cmocka_unit_test(test_power_on_twice_is_ignored),
        cmocka_unit_test(test_psu_failure_reroutes_with_fewest_switches),
        cmocka_unit_test(test_reroute_restores_protection_with_slow_switch),
        cmocka_unit_test(test_slow_switch_does_not_count_for_protection),
        cmocka_unit_test(test_psu_failure_sheds_lowest_priority_first),
        cmocka_unit_test(test_shed_least_overshoot_inside_priority),
        cmocka_unit_test(test_cap_before_shed),
        cmocka_unit_test(test_capping_spreads_evenly_inside_priority),
        cmocka_unit_test(test_shed_when_capping_is_not_enough),
        cmocka_unit_test(test_protection_loss_sheds_down_to_protection),
        cmocka_unit_test(test_hold_policy_refuses_grants_but_keeps_servers),
        cmocka_unit_test(test_restore_after_stable_time_most_important_first),
        cmocka_unit_test(test_flapping_psu_restarts_stability_timer),
        cmocka_unit_test(test_shed_server_holds_its_place_against_less_important_request),
        cmocka_unit_test(test_restore_wait_blocks_less_important_request),
        cmocka_unit_test(test_request_as_important_passes_if_it_fits_with_held),
        cmocka_unit_test(test_server_that_cannot_come_back_blocks_nobody),
        cmocka_unit_test(test_power_off_frees_held_place),
        cmocka_unit_test(test_failure_during_restore_wait_replans_at_once),
        cmocka_unit_test(test_room_freed_for_a_held_place_goes_to_a_waiting_request),
        cmocka_unit_test(test_shed_on_dead_bus_holds_no_place),
        cmocka_unit_test(test_abrupt_removal_releases_power),
        cmocka_unit_test(test_degraded_psu_counts_derated_capacity),
        cmocka_unit_test(test_feed_failure_fails_all_its_psus),
        cmocka_unit_test(test_nn_survives_either_feed),
        cmocka_unit_test(test_bus_failure_sheds_servers_only_on_it),
        cmocka_unit_test(test_nn_single_bus_server_loses_redundancy),
        cmocka_unit_test(test_reask_answers_waiting_servers_again),
        cmocka_unit_test(test_last_psu_for_bus_set_reports_not_protected_and_sheds_nobody),
        cmocka_unit_test(test_psu_on_dead_bus_moves_to_live_bus),
        cmocka_unit_test(test_relay_psu_moves_off_dead_bus),
        cmocka_unit_test(test_hold_still_reroutes),
        cmocka_unit_test(test_reason_names_servers_without_live_bus),
        cmocka_unit_test(test_unprotectable_routing_keeps_most_margin_before_fewest_moves),
        cmocka_unit_test(test_overdraw_planned_at_measured_draw),
        cmocka_unit_test(test_overdraw_sheds_lowest_priority_first),
        cmocka_unit_test(test_shed_overdrawer_comes_back_only_where_its_last_draw_fits),
        cmocka_unit_test(test_overdraw_lowering_follows_draw_down_after_restore_wait),
        cmocka_unit_test(test_cap_below_draw_counts_until_a_report_says_otherwise),
        cmocka_unit_test(test_non_uniform_psus),
        cmocka_unit_test(test_bad_input_index_is_refused),
        cmocka_unit_test(test_report_records_actual_draw),
        cmocka_unit_test(test_at_risk_psu_drained_when_protected_without_it),
        cmocka_unit_test(test_at_risk_psu_needed_keeps_serving_and_counts_for_nothing),
        cmocka_unit_test(test_at_risk_psu_back_when_risk_clears),
        cmocka_unit_test(test_drained_psu_returns_when_another_fails),
        cmocka_unit_test(test_at_risk_psu_sheds_only_with_on_predicted_shed),
        cmocka_unit_test(test_unknown_psu_keeps_serving),
        cmocka_unit_test(test_unknown_psu_keeps_its_derated_capacity),
        cmocka_unit_test(test_failed_psu_stays_failed_when_it_cannot_be_read),
        cmocka_unit_test(test_unknown_psu_does_not_count_for_protection),
        cmocka_unit_test(test_unknown_psu_admission_waits),
        cmocka_unit_test(test_unknown_psu_admission_waits_without_protection),
        cmocka_unit_test(test_unknown_psus_are_named_together),
        cmocka_unit_test(test_protection_lost_to_unknown_psu_holds_despite_on_loss_shed),
        cmocka_unit_test(test_failure_beside_unknown_psu_sheds_only_for_the_failure),
        cmocka_unit_test(test_only_positive_evidence_sheds),
        cmocka_unit_test(test_lost_power_sheds_and_holds_its_place_until_its_back_off),
        cmocka_unit_test(test_repeated_loss_doubles_the_back_off_up_to_its_cap),
        cmocka_unit_test(test_back_off_is_at_least_5_s_when_restore_is_immediate),
        cmocka_unit_test(test_lost_power_of_a_server_not_granted_is_ignored),
        cmocka_unit_test(test_back_off_also_waits_for_a_stable_rack),
        cmocka_unit_test(test_power_off_ends_a_back_off),
        cmocka_unit_test(test_back_off_cuts_nobody_until_it_ends),
        cmocka_unit_test(test_outage_stop_sheds_and_holds_the_server_until_released),
        cmocka_unit_test(test_held_server_power_on_waits_until_released),
        cmocka_unit_test(test_released_servers_come_back_most_important_first),
        cmocka_unit_test(test_resort_follows_changed_priorities),
        cmocka_unit_test(test_bbu_carries_the_bus_while_its_feed_is_down),
        cmocka_unit_test(test_bbu_short_of_the_load_sheds_least_important_first),
        cmocka_unit_test(test_empty_bbu_counts_for_nothing),
        cmocka_unit_test(test_bbu_is_not_leaned_on_while_mains_is_there),
        cmocka_unit_test(test_nothing_is_raised_on_battery_reserves),
        cmocka_unit_test(test_losing_a_bbu_is_no_failure_protection_sheds_for),
        cmocka_unit_test(test_server_battery_carries_its_own_server),
        cmocka_unit_test(test_server_batteries_are_no_protection),
        cmocka_unit_test(test_reserve_directed_to_another_bus_serves_there),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
