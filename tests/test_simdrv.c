/*
 * test_simdrv.c - the daemon's embedded simulated rack is the simulator's
 * physics: for the same seed, the same inputs and the same times, the sim
 * driver reports the draws, PSU outputs and temperatures that physics.c
 * computes (what rackpower-sim serve shows over Modbus), and the faults of
 * its timeline happen to the hardware as they do in the simulator.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemonconf.h"
#include "driver.h"
#include "physics.h"
#include "pmbus.h"
#include "rackfile.h"
#include "risk.h"
#include "simdrv.h"

#define S 1000000000LL
#define T0 (1000 * S) /* the monotonic clock at open: any frame will do */

static const char *rack_text =
    "rack:\n"
    "  name: t\n"
    "  protection: n+1\n"
    "  feeds: [F1, F2]\n"
    "  buses: [A, B]\n"
    "  psus:\n"
    "    - {id: ps1, capacity_w: 2000, feed: F1, buses: [A, B], bus: A}\n"
    "    - {id: ps2, capacity_w: 2000, feed: F2, buses: [A, B], bus: A}\n"
    "    - {id: ps3, capacity_w: 3000, feed: F1, buses: [A, B], bus: B}\n"
    "  servers:\n"
    "    - {id: db1, power_w: 1000, priority: 1, buses: [A, B]}\n"
    "    - {id: app1, power_w: 1200, min_w: 800, priority: 2, buses: [A]}\n"
    "    - {id: web1, power_w: 800, priority: 3, buses: [B]}\n";

struct fixture {
    struct rack r;
    struct rackfile_device dev;
    int boot[3];
    struct rackfile_step step;
    struct policy_input fault;
    void *drv;       /* the driver */
    struct phys ref; /* the physics, driven by hand the same way */
    struct driver_report rep;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];
    if (rackfile_load_string("t.yaml", rack_text, strlen(rack_text), &f->r, NULL, err, sizeof(err)))
        fail_msg("%s", err);
    for (int i = 0; i < 3; i++)
        f->boot[i] = i;
    f->fault = (struct policy_input){.kind = POLICY_PSU_FAIL, .index = 0}; /* ps1 */
    f->step = (struct rackfile_step){.at_ns = 20 * S, .ninputs = 1, .inputs = &f->fault};
    f->dev = (struct rackfile_device){.kind = RACKFILE_DEV_SIM,
                                      .poll_ns = S,
                                      .seed = 7,
                                      .boot = {.n = 3, .v = f->boot},
                                      .timeline = {.nsteps = 1, .steps = &f->step}};
    f->drv = simdrv_open_at(&f->dev, &f->r, T0, err, sizeof(err));
    if (!f->drv)
        fail_msg("%s", err);
    assert_int_equal(phys_init(&f->ref, &f->r, 7, PHYS_DEFAULT_OVERLOAD_NS, T0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    simdrv_ops.close(f->drv);
    phys_free(&f->ref);
    driver_report_free(&f->rep);
    rack_free(&f->r);
    free(f);
    return 0;
}

static void poll_at(struct fixture *f, int64_t t)
{
    char err[256];
    driver_report_clear(&f->rep);
    if (simdrv_poll_at(f->drv, t, &f->rep, err, sizeof(err)))
        fail_msg("%s", err);
}

static bool reported(const struct fixture *f, enum policy_input_kind k, int index, int64_t *mw)
{
    for (size_t i = 0; i < f->rep.ninputs; i++)
        if (f->rep.inputs[i].kind == k && f->rep.inputs[i].index == index) {
            if (mw)
                *mw = f->rep.inputs[i].watts_mw;
            return true;
        }
    return false;
}

static void act(struct fixture *f, enum policy_action_kind k, int server, int64_t mw, int64_t t)
{
    struct policy_action a = {.kind = k, .server = server, .psu = -1, .watts_mw = mw};
    char err[256];
    if (simdrv_act_at(f->drv, &a, t, err, sizeof(err)))
        fail_msg("%s", err);
}

/* Every drawing server's draw and every PSU's reading, as physics says. */
static void assert_reports_match_physics(const struct fixture *f)
{
    const struct phys *ph = &f->ref;
    for (int i = 0; i < ph->r.nservers; i++) {
        int64_t mw = -1;
        bool drew = reported(f, POLICY_REPORT, i, &mw);
        assert_int_equal(drew, ph->srv[i].powered);
        if (drew)
            assert_int_equal(mw, 1000 * llround((double)ph->srv[i].draw_mw / 1000));
    }
    assert_int_equal(f->rep.npsus, (size_t)ph->r.npsus);
    for (size_t k = 0; k < f->rep.npsus; k++) {
        const struct driver_psu_reading *x = &f->rep.psus[k];
        const struct phys_psu *p = &ph->psu[x->psu];
        assert_int_equal(x->out_mw, p->out_mw);
        assert_int_equal(x->in_mw, p->pin_mw);
        assert_int_equal(x->out_mv, p->vout_mv);
        assert_int_equal(x->out_ma, p->iout_ma);
        assert_int_equal(x->temp_mc, llround(p->outlet_c * 1000));
        assert_int_equal(x->in_mv, p->vin_mv);
        assert_int_equal(x->in_ma, p->iin_ma);
        assert_int_equal(x->inlet_mc, llround(p->inlet_c * 1000));
        assert_int_equal(x->fan_rpm, llround((p->fan_rpm[0] + p->fan_rpm[1]) / 2));
        assert_true(x->fan_rpm > 1000); /* running */
        assert_true(x->inlet_mc > 10000 && x->inlet_mc < x->temp_mc);
        const uint16_t *al = p->alarm;
        assert_int_equal(x->status_word, risk_orv3_status_word(al[ORV3_AL_GENERAL], al[ORV3_AL_PFC],
                                                               al[ORV3_AL_DCDC], al[ORV3_AL_TEMP],
                                                               al[ORV3_AL_COMM]));
    }
}

static void test_boot_servers_ask_for_power(void **state)
{
    struct fixture *f = *state;
    poll_at(f, T0);
    for (int i = 0; i < 3; i++)
        assert_true(reported(f, POLICY_POWER_ON, i, NULL));
    assert_false(reported(f, POLICY_REPORT, 0, NULL)); /* nothing granted: nothing drawn */
    poll_at(f, T0 + S);
    assert_false(reported(f, POLICY_POWER_ON, 0, NULL)); /* an edge, reported once */
}

static void test_draws_and_psu_readings_are_the_physics(void **state)
{
    struct fixture *f = *state;
    char err[256];
    poll_at(f, T0);
    for (int i = 0; i < 3; i++) {
        struct policy_input in = {.kind = POLICY_POWER_ON, .index = i};
        assert_int_equal(phys_apply(&f->ref, &in, T0, err, sizeof(err)), 0);
    }
    /* grants, app1 capped at 900 W */
    act(f, POLICY_ACT_GRANT, 0, 1000000, T0 + S / 10);
    act(f, POLICY_ACT_GRANT, 1, 900000, T0 + S / 10);
    act(f, POLICY_ACT_GRANT, 2, 800000, T0 + S / 10);
    for (int i = 0; i < 3; i++)
        assert_int_equal(phys_power(&f->ref, i, true, T0 + S / 10, "test"), 0);
    phys_cap(&f->ref, 1, 900000, T0 + S / 10, "test");
    for (int k = 1; k <= 15; k++) {
        poll_at(f, T0 + k * S);
        phys_step(&f->ref, T0 + k * S);
        assert_reports_match_physics(f);
    }
    /* the draws move (the utilisation walk), under their grants */
    int64_t first = -1, mw = -1;
    poll_at(f, T0 + 16 * S);
    phys_step(&f->ref, T0 + 16 * S);
    assert_true(reported(f, POLICY_REPORT, 1, &first));
    assert_true(first > 0 && first <= 900000);
    poll_at(f, T0 + 19 * S);
    phys_step(&f->ref, T0 + 19 * S);
    assert_true(reported(f, POLICY_REPORT, 1, &mw));
    assert_true(mw != first);
    assert_reports_match_physics(f);

    /* the timeline's fault at 20 s: reported, and the hardware fails */
    poll_at(f, T0 + 20 * S);
    assert_true(reported(f, POLICY_PSU_FAIL, 0, NULL));
    assert_int_equal(phys_apply(&f->ref, &f->fault, T0 + 20 * S, err, sizeof(err)), 0);
    assert_reports_match_physics(f);
    assert_int_equal(f->rep.psus[0].out_mw, 0);
    assert_int_equal(f->rep.psus[0].out_mv, 0);
    assert_true(f->rep.psus[0].status_word & PMBUS_SW_POWER_GOOD_N); /* failed */
    assert_int_equal(f->rep.psus[1].status_word, 0);                 /* healthy: no alarm */
    assert_true(f->rep.psus[1].out_mw > 0);                          /* ps2 carries A alone */
    for (int k = 21; k <= 40; k += 5) {
        poll_at(f, T0 + k * S);
        phys_step(&f->ref, T0 + k * S);
        assert_reports_match_physics(f);
    }
}

static void test_shed_powers_off_and_switch_moves_the_psu(void **state)
{
    struct fixture *f = *state;
    poll_at(f, T0);
    act(f, POLICY_ACT_GRANT, 2, 800000, T0);
    poll_at(f, T0 + S);
    assert_true(reported(f, POLICY_REPORT, 2, NULL));
    act(f, POLICY_ACT_SHED, 2, 0, T0 + 2 * S);
    poll_at(f, T0 + 3 * S);
    assert_false(reported(f, POLICY_REPORT, 2, NULL));

    struct policy_action sw = {
        .kind = POLICY_ACT_SWITCH, .server = -1, .psu = 2, .from_bus = 1, .to_bus = 0};
    char err[256];
    assert_int_equal(simdrv_act_at(f->drv, &sw, T0 + 4 * S, err, sizeof(err)), 0);
    act(f, POLICY_ACT_GRANT, 1, 1200000, T0 + 4 * S);
    poll_at(f, T0 + 5 * S);
    /* three PSUs on A now share app1's draw by capacity */
    assert_true(f->rep.psus[2].out_mw > 0);
    assert_true(llabs(f->rep.psus[2].out_mw * 2 - f->rep.psus[0].out_mw * 3) <= 3);
}

/* A server whose only bus fails loses power: told as lost_power once, and
 * not powered again when the bus is back (only the policy's restore does);
 * one set to power on after AC loss that boots by itself is put off. */
static void test_granted_server_that_lost_power_is_told_and_kept_off(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct policy_input fail = {.kind = POLICY_BUS_FAIL, .index = 1};
    struct policy_input repair = {.kind = POLICY_BUS_REPAIR, .index = 1};
    struct rackfile_step steps[] = {{.at_ns = 2 * S, .ninputs = 1, .inputs = &fail},
                                    {.at_ns = 4 * S, .ninputs = 1, .inputs = &repair}};
    simdrv_ops.close(f->drv);
    f->r.servers[2].ac_restart = 1; /* web1 */
    f->dev.timeline = (struct rackfile_timeline){.nsteps = 2, .steps = steps};
    f->drv = simdrv_open_at(&f->dev, &f->r, T0, err, sizeof(err));
    assert_non_null(f->drv);
    poll_at(f, T0);
    act(f, POLICY_ACT_GRANT, 2, 800000, T0); /* web1, bus B only */
    poll_at(f, T0 + S);
    assert_true(reported(f, POLICY_REPORT, 2, NULL));
    poll_at(f, T0 + 2 * S);
    assert_true(reported(f, POLICY_BUS_FAIL, 1, NULL));
    assert_false(reported(f, POLICY_REPORT, 2, NULL)); /* no bus, no power */
    assert_true(reported(f, POLICY_LOST_POWER, 2, NULL));
    poll_at(f, T0 + 3 * S);
    assert_false(reported(f, POLICY_REPORT, 2, NULL));     /* its bus is still dead */
    assert_false(reported(f, POLICY_LOST_POWER, 2, NULL)); /* told once */
    poll_at(f, T0 + 4 * S);
    assert_true(reported(f, POLICY_BUS_REPAIR, 1, NULL));
    poll_at(f, T0 + 6 * S); /* past its boot after power returned: put off again */
    assert_false(reported(f, POLICY_REPORT, 2, NULL));
    assert_false(reported(f, POLICY_LOST_POWER, 2, NULL));
    act(f, POLICY_ACT_RESTORE, 2, 800000, T0 + 7 * S); /* the policy decides */
    poll_at(f, T0 + 8 * S);
    assert_true(reported(f, POLICY_REPORT, 2, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_boot_servers_ask_for_power, setup, teardown),
        cmocka_unit_test_setup_teardown(test_draws_and_psu_readings_are_the_physics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shed_powers_off_and_switch_moves_the_psu, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_granted_server_that_lost_power_is_told_and_kept_off,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
