/*
 * test_balance.c - one test per behaviour of the balancing plan
 * (docs/balancing.md), on racks built in code. Protection is checked with the
 * policy's own check on the rack as planned, not with balance's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "balance.h"
#include "policy.h"

#define W(x) ((int64_t)(x)*1000)
#define S(x) ((int64_t)(x)*1000000000LL)
#define BA 1u
#define BB 2u
#define BAB 3u

struct fx {
    struct rack r;
    struct policy *p;
    struct balance *b;
    struct balance_plan pl;
    struct policy_actions a;
    int64_t load[RACK_MAX_BUSES];
    char err[256];
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

static int add_psu(struct fx *f, int watts, int feed, uint32_t wired, int bus, int model)
{
    struct rack_psu *q = &f->r.psus[f->r.npsus];
    snprintf(q->id, RACK_ID_LEN, "ps%d", f->r.npsus + 1);
    q->rated_mw = q->derated_mw = W(watts);
    q->feed = feed;
    q->wired = wired;
    q->bus = bus;
    q->sw = RACK_SWITCH_FET;
    q->switch_ns = RACK_FET_SWITCH_NS;
    q->model = model;
    return f->r.npsus++;
}

static int add_server(struct fx *f, const char *id, int power, uint32_t wired)
{
    struct rack_server *s = &f->r.servers[f->r.nservers];
    snprintf(s->id, RACK_ID_LEN, "%s", id);
    s->power_mw = s->min_mw = W(power);
    s->priority = 1;
    s->wired = wired;
    s->chassis = -1;
    s->draw_mw = -1;
    s->on_draw_mw = -1;
    return f->r.nservers++;
}

/* Settles, grants every server, and makes the balancing state. */
static void rack_end(struct fx *f)
{
    f->p = policy_new(&f->r);
    assert_non_null(f->p);
    policy_settle(f->p, &f->r, 0, &f->a);
    for (int i = 0; i < f->r.nservers; i++) {
        struct policy_input in = {.kind = POLICY_POWER_ON, .index = i};
        assert_int_equal(policy_handle(f->p, &f->r, &in, 0, &f->a, f->err, sizeof(f->err)), 0);
        assert_int_equal(f->r.servers[i].state, RACK_SRV_ON);
    }
    f->b = balance_new(&f->r, NULL);
    assert_non_null(f->b);
    assert_int_equal(balance_plan_init(&f->pl, f->r.npsus), 0);
}

static void done(struct fx *f)
{
    balance_plan_free(&f->pl);
    balance_free(f->b);
    policy_free(f->p);
    policy_actions_free(&f->a);
    rack_free(&f->r);
}

static void plan(struct fx *f, int64_t now_ns)
{
    assert_int_equal(balance_plan(f->b, &f->r, f->load, now_ns, &f->pl, f->err, sizeof(f->err)), 0);
}

static void apply(struct fx *f, int64_t now_ns)
{
    policy_actions_clear(&f->a);
    balance_apply(f->b, &f->r, &f->pl, now_ns, &f->a);
}

static int nstandby(const struct balance_plan *pl)
{
    int n = 0;
    for (int i = 0; i < pl->npsus; i++)
        n += pl->psus[i].standby;
    return n;
}

/* The policy's own view of the rack as it stands. */
static void assert_protected(struct fx *f)
{
    struct policy_check chk;
    policy_check(f->p, &f->r, &chk);
    assert_true(chk.feasible);
    assert_true(chk.is_protected);
}

/* Four 2000 W PSUs on one bus: n+1 needs two of them for 1200 W. */
static void shelf(struct fx *f)
{
    rack_begin(f, RACK_PROT_N1, 1, 2);
    for (int i = 0; i < 4; i++)
        add_psu(f, 2000, i % 2, BA, 0, RACK_MODEL_TITANIUM);
    add_server(f, "web1", 600, BA);
    add_server(f, "web2", 600, BA);
    rack_end(f);
    f->load[0] = W(1000);
}

static void test_loss_model_follows_the_curve(void **state)
{
    (void)state;
    struct rack r;
    rack_init(&r);
    const struct rack_psu_model *ti = &r.models[RACK_MODEL_TITANIUM];
    /* 96 % at half load: 1000 W out, 1000/0.96 - 1000 = 41.667 W lost */
    assert_int_equal(balance_loss_mw(ti, W(2000), W(1000)), 41667);
    /* 94 % at 20 %, linear between 20 and 50 %: at 35 %, 95 % */
    assert_int_equal(balance_efficiency_ppm(ti, W(2000), W(700)), 950000);
    /* below 10 %: the loss at 10 % (fixed losses), 200/0.9 - 200 = 22.222 W */
    assert_int_equal(balance_loss_mw(ti, W(2000), 0), 22222);
    assert_int_equal(balance_loss_mw(ti, W(2000), W(100)), 22222);
    assert_int_equal(balance_loss_mw(ti, W(2000), W(200)), 22222);
    /* ORv3: 97.5 % at half load */
    assert_int_equal(balance_efficiency_ppm(&r.models[RACK_MODEL_ORV3], W(3000), W(1500)), 975000);
    rack_free(&r);
}

static void test_standby_chosen_at_light_load(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    plan(&f, S(1000));
    assert_true(f.pl.changed);
    assert_true(nstandby(&f.pl) >= 1);
    assert_true(f.pl.loss_after_mw < f.pl.loss_before_mw);
    /* what is left awake carries the bus, in shares that sum to the whole */
    int64_t sum = 0, carried = 0;
    for (int i = 0; i < 4; i++) {
        sum += f.pl.psus[i].share_ppm;
        carried += f.pl.psus[i].load_mw;
        if (f.pl.psus[i].standby)
            assert_int_equal(f.pl.psus[i].share_ppm, 0);
    }
    assert_int_equal(sum, BALANCE_PPM);
    assert_true(carried >= W(1000) - 4 && carried <= W(1000) + 4);
    apply(&f, S(1000));
    assert_true(f.a.n >= 1);
    /* standbys come last: nothing leans on capacity before it is there */
    bool seen_standby = false;
    for (size_t k = 0; k < f.a.n; k++) {
        if (f.a.v[k].kind == POLICY_ACT_STANDBY)
            seen_standby = true;
        else
            assert_false(seen_standby);
    }
    assert_protected(&f);
    assert_int_equal(balance_rack_loss_mw(&f.r, f.load), f.pl.loss_after_mw);
    done(&f);
}

static void test_heavy_load_keeps_everything_awake(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    f.load[0] = W(5000); /* 62 % of the shelf: every PSU near its best */
    plan(&f, S(1000));
    assert_int_equal(nstandby(&f.pl), 0);
    done(&f);
}

/* A slow wake counts for nothing (route.c): standing by would leave n+1 to
 * the PSUs awake, and the plan then keeps enough awake for it. */
static void test_slow_wake_standby_counts_for_nothing(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    f.r.models[RACK_MODEL_TITANIUM].wake_ns = 50000000; /* 50 ms > 16 ms hold-up */
    /* by hand: three standing by leave one 2000 W PSU for 1200 W: no n+1 */
    for (int i = 1; i < 4; i++)
        f.r.psus[i].standby = true;
    struct policy_check chk;
    policy_check(f.p, &f.r, &chk);
    assert_false(chk.is_protected);
    /* the plan wakes what n+1 needs at once */
    plan(&f, S(1000));
    assert_true(f.pl.changed);
    assert_true(nstandby(&f.pl) <= 2);
    apply(&f, S(1000));
    assert_protected(&f);
    assert_int_equal(f.a.v[0].kind, POLICY_ACT_WAKE);
    done(&f);
}

static void test_no_standby_while_a_feed_has_failed(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    plan(&f, S(1000));
    apply(&f, S(1000));
    assert_true(nstandby(&f.pl) >= 1);
    struct policy_input in = {.kind = POLICY_FEED_FAIL, .index = 1};
    assert_int_equal(policy_handle(f.p, &f.r, &in, S(1001), &f.a, f.err, sizeof(f.err)), 0);
    plan(&f, S(1001));
    for (int i = 0; i < 4; i++)
        assert_false(f.pl.psus[i].standby);
    assert_true(f.pl.changed);
    assert_non_null(strstr(f.pl.reason, "feed F2 has failed"));
    done(&f);
}

static void test_no_standby_while_a_psu_is_unknown(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    struct policy_input in = {.kind = POLICY_PSU_UNKNOWN, .index = 3};
    assert_int_equal(policy_handle(f.p, &f.r, &in, S(1), &f.a, f.err, sizeof(f.err)), 0);
    plan(&f, S(1000));
    assert_int_equal(nstandby(&f.pl), 0);
    done(&f);
}

/* Hysteresis: a small change of load keeps the plan; the dwell keeps a PSU
 * that just woke from standing by again; waking is at once. */
static void test_hysteresis_holds(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    plan(&f, S(1000));
    apply(&f, S(1000));
    f.load[0] = W(1020);
    plan(&f, S(1010));
    assert_false(f.pl.changed);
    assert_non_null(strstr(f.pl.reason, "kept"));
    done(&f);
}

/* The devices carry a plan's switches one after another: each leaves a bus
 * that keeps an awake PSU, so no bus is left to PSUs standing by alone in
 * between (over Modbus its shelf woke them by itself: a sag). */
static void test_switches_never_leave_a_bus_to_standby_alone(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 2, 2);
    add_psu(&f, 2000, 0, 3, 0, RACK_MODEL_TITANIUM);
    add_psu(&f, 2000, 1, 3, 0, RACK_MODEL_TITANIUM);
    add_psu(&f, 3000, 0, 3, 0, RACK_MODEL_TITANIUM);
    add_psu(&f, 3000, 1, 3, 1, RACK_MODEL_TITANIUM);
    add_server(&f, "s1", 1000, 3);
    rack_end(&f);
    f.r.psus[2].standby = true;
    /* ps1 and ps2 from A to B, ps4 from B to A, ps3 stands by on A */
    static const int to[4] = {1, 1, 0, 0};
    f.pl.changed = true;
    for (int i = 0; i < 4; i++)
        f.pl.psus[i] = (struct balance_psu){.bus = to[i], .standby = i == 2};
    apply(&f, S(1000));
    int pos[4] = {0, 0, 0, 1}, nsw = 0;
    for (size_t k = 0; k < f.a.n; k++) {
        const struct policy_action *a = &f.a.v[k];
        if (a->kind != POLICY_ACT_SWITCH)
            continue;
        nsw++;
        pos[a->psu] = a->to_bus;
        bool awake[2] = {false, false};
        for (int i = 0; i < 4; i++)
            awake[pos[i]] = awake[pos[i]] || i != 2;
        assert_true(awake[0] && awake[1]);
    }
    assert_int_equal(nsw, 3);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f.r.psus[i].bus, to[i]);
    done(&f);
}

static void test_wake_always_allowed_and_dwell_holds_standby(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    plan(&f, S(1000));
    apply(&f, S(1000));
    int sb = nstandby(&f.pl);
    assert_true(sb >= 1);
    /* the load rises past what the PSUs awake carry: wake at once, within
     * the dwell of their flip */
    f.load[0] = W(2000) * (4 - sb) + W(500);
    plan(&f, S(1001));
    assert_true(f.pl.changed);
    assert_true(nstandby(&f.pl) < sb);
    apply(&f, S(1001));
    assert_int_equal(f.a.v[0].kind, POLICY_ACT_WAKE);
    bool woke[4] = {false};
    for (size_t k = 0; k < f.a.n; k++)
        if (f.a.v[k].kind == POLICY_ACT_WAKE)
            woke[f.a.v[k].psu] = true;
    /* light again, 10 s later: the ones that just woke stay awake (dwell) */
    f.load[0] = W(1000);
    plan(&f, S(1011));
    for (int i = 0; i < 4; i++)
        if (woke[i])
            assert_false(f.pl.psus[i].standby);
    /* after the dwell they may stand by again */
    plan(&f, S(1001) + BALANCE_DEFAULT_MIN_DWELL_NS);
    assert_true(nstandby(&f.pl) >= sb);
    done(&f);
}

/* Two models on one bus at two thirds of their capacity: past half load the
 * titanium unit's efficiency falls much faster than the ORv3 rectifier's, so
 * the rectifier carries more than its share by capacity. */
static void test_shares_at_a_mix_of_models(void **state)
{
    (void)state;
    struct fx f;
    rack_begin(&f, RACK_PROT_NONE, 1, 1);
    add_psu(&f, 3000, 0, BA, 0, RACK_MODEL_TITANIUM);
    add_psu(&f, 3000, 0, BA, 0, RACK_MODEL_ORV3);
    add_server(&f, "db1", 3000, BA);
    rack_end(&f);
    balance_set_can_standby(f.b, 0, false);
    balance_set_can_standby(f.b, 1, false);
    f.load[0] = W(4000);
    plan(&f, S(1));
    assert_true(f.pl.psus[1].load_mw > f.pl.psus[0].load_mw + W(500));
    assert_true(f.pl.loss_after_mw < f.pl.loss_before_mw);
    /* within 1 % of the exhaustive optimum, and above its lower bound */
    struct balance_plan ex;
    int64_t lower;
    assert_int_equal(balance_plan_init(&ex, 2), 0);
    assert_int_equal(balance_exhaustive(f.b, &f.r, f.load, &ex, &lower, f.err, sizeof(f.err)), 0);
    assert_true(f.pl.loss_after_mw <= ex.loss_after_mw + ex.loss_after_mw / 100);
    assert_true(lower <= ex.loss_after_mw);
    balance_plan_free(&ex);
    done(&f);
}

/* A PSU whose device cannot stand it by is never planned in standby. */
static void test_psu_that_cannot_stand_by_stays_awake(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    for (int i = 0; i < 4; i++)
        balance_set_can_standby(f.b, i, false);
    plan(&f, S(1000));
    assert_int_equal(nstandby(&f.pl), 0);
    done(&f);
}

static void test_plan_of_wrong_size_is_an_error(void **state)
{
    (void)state;
    struct fx f;
    shelf(&f);
    struct balance_plan small;
    assert_int_equal(balance_plan_init(&small, 2), 0);
    assert_int_equal(balance_plan(f.b, &f.r, f.load, 0, &small, f.err, sizeof(f.err)), -1);
    assert_non_null(strstr(f.err, "balance"));
    balance_plan_free(&small);
    done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_model_follows_the_curve),
        cmocka_unit_test(test_standby_chosen_at_light_load),
        cmocka_unit_test(test_heavy_load_keeps_everything_awake),
        cmocka_unit_test(test_slow_wake_standby_counts_for_nothing),
        cmocka_unit_test(test_no_standby_while_a_feed_has_failed),
        cmocka_unit_test(test_no_standby_while_a_psu_is_unknown),
        cmocka_unit_test(test_hysteresis_holds),
        cmocka_unit_test(test_wake_always_allowed_and_dwell_holds_standby),
        cmocka_unit_test(test_switches_never_leave_a_bus_to_standby_alone),
        cmocka_unit_test(test_shares_at_a_mix_of_models),
        cmocka_unit_test(test_psu_that_cannot_stand_by_stays_awake),
        cmocka_unit_test(test_plan_of_wrong_size_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
