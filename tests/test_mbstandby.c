/*
 * test_mbstandby.c - the Modbus driver's standby and share commands
 * (rackpower's extension of a PSU, docs/modbus.md "Standby and share")
 * against the simulated PSUs of rackpower-sim serve (simdevs over physics),
 * answered over Modbus TCP on 127.0.0.1 by a thread of this test: a fenced
 * write to 4100 per command, read back at 4352-4353; nothing sent before the
 * unit answered that read; a refused command leaves the PSU as it was and
 * the driver says so (the model takes the device's word); a PSU that did not
 * wake counts for no protection (psu_unknown) until it reads awake; a unit
 * without the registers (0x02) gets nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemonconf.h"
#include "driver.h"
#include "mbdev.h"
#include "mbdrv.h"
#include "physics.h"
#include "rackmod.h"
#include "simdevs_tcp.h"

static const char *rack_text = SIMRACK_TWO_PSUS SIMRACK_C1_SERVERS;

#define PS1_UNIT 200
#define PS2_UNIT 201

static int setup(void **state)
{
    (void)state;
    return setup_rack(rack_text);
}

struct ctl {
    struct rack r;
    struct rackfile_daemon dc;
    void *inst;
    struct driver_report rep;
};

static void ctl_open_units(struct ctl *c, const char *units)
{
    char err[256];
    memset(&c->rep, 0, sizeof(c->rep));
    load_tcp_config(rack_text, units, &c->r, &c->dc);
    c->inst = mbdev_tcp_ops.open(&c->dc.devices[0], &c->r, err, sizeof(err));
    if (!c->inst)
        fail_msg("%s", err);
}

/* ps1 and ps2 with the extension (units 200, 201). */
static void ctl_open(struct ctl *c)
{
    ctl_open_units(c, "    units:\n"
                      "      - {unit: 200, psu: ps1, extension: rackpower}\n"
                      "      - {unit: 201, psu: ps2, extension: rackpower}\n");
}

static void ctl_close(struct ctl *c)
{
    mbdev_tcp_ops.close(c->inst);
    driver_report_free(&c->rep);
    rackfile_daemon_free(&c->dc);
    rack_free(&c->r);
}

/* One poll into c->rep (cleared first). */
static void poll_once(struct ctl *c)
{
    char err[256];
    driver_report_clear(&c->rep);
    mbdev_tcp_ops.poll(c->inst, 500, &c->rep, err, sizeof(err));
}

/* Polls until a read-back of the extension is due again (once a second) and
 * taken: until a poll reports a state of psu or an input of kind for it, at
 * most 2 s. The report of that poll stays in c->rep. */
static bool poll_until(struct ctl *c, int psu, int kind)
{
    for (int i = 0; i < 40; i++) {
        poll_once(c);
        for (size_t k = 0; k < c->rep.npsu_states; k++)
            if (kind < 0 && c->rep.psu_states[k].psu == psu)
                return true;
        for (size_t k = 0; k < c->rep.ninputs; k++)
            if ((int)c->rep.inputs[k].kind == kind && c->rep.inputs[k].index == psu)
                return true;
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    return false;
}

static const struct driver_psu_state *state_of(const struct ctl *c, int psu)
{
    for (size_t k = 0; k < c->rep.npsu_states; k++)
        if (c->rep.psu_states[k].psu == psu)
            return &c->rep.psu_states[k];
    return NULL;
}

static bool standing_by(int psu)
{
    pthread_mutex_lock(&srv.mu);
    bool sb = srv.ph.r.psus[psu].standby;
    pthread_mutex_unlock(&srv.mu);
    return sb;
}

static int64_t share_of(int psu)
{
    pthread_mutex_lock(&srv.mu);
    int64_t s = srv.ph.r.psus[psu].share_ppm;
    pthread_mutex_unlock(&srv.mu);
    return s;
}

/* The shelf itself wakes the PSU (its bus sagged). */
static void shelf_wakes(int psu)
{
    pthread_mutex_lock(&srv.mu);
    phys_standby(&srv.ph, psu, false, 0, "test: the shelf wakes it");
    pthread_mutex_unlock(&srv.mu);
}

/* Another controller of a cluster fences the PSU unit with epoch. */
static void fenced_by_another(int unit, uint64_t epoch)
{
    struct mbdrv_bus_config bc;
    mbdrv_bus_config_default(&bc, MBDRV_TCP);
    bc.port = srv.port;
    char err[256];
    struct mbdrv_bus *b = mbdrv_bus_new(&bc, NULL, NULL, err, sizeof(err));
    assert_non_null(b);
    struct mbdrv_device_config d = {.kind = MBDRV_ORV3_PSU, .unit = unit, .ext = true};
    for (int g = 0; g < MBDRV_NGROUPS; g++)
        d.interval_ns[g] = MBDRV_NEVER;
    assert_int_equal(mbdrv_add_device(b, &d, err, sizeof(err)), 0);
    mbdrv_set_epoch(b, epoch);
    uint64_t seen;
    assert_int_equal(mbdrv_fence(b, 0, &seen, err, sizeof(err)), 0);
    mbdrv_bus_free(b);
    assert_true(owner(unit) == epoch);
}

static const struct policy_action standby_ps1 = {
    .kind = POLICY_ACT_STANDBY, .psu = 0, .server = -1, .to_bus = -1, .from_bus = -1};
static const struct policy_action wake_ps1 = {
    .kind = POLICY_ACT_WAKE, .psu = 0, .server = -1, .to_bus = -1, .from_bus = -1};

static void test_standby_wake_and_share_are_fenced_writes_read_back(void **state)
{
    (void)state;
    struct ctl c;
    ctl_open(&c);
    char err[256];
    poll_once(&c); /* the extension answers: commands may go */
    int before = srv.fenced_writes;
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &standby_ps1, err, sizeof(err)), 0);
    assert_true(standing_by(0));
    assert_false(standing_by(1));
    struct policy_action share = {.kind = POLICY_ACT_SHARE,
                                  .psu = 1,
                                  .server = -1,
                                  .share_ppm = 333349}; /* 33.33 % and a bit: 3333 */
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &share, err, sizeof(err)), 0);
    assert_int_equal(share_of(1), 333300);
    assert_int_equal(srv.fenced_writes, before + 2);
    assert_true(owner(PS1_UNIT) == 0); /* a lone controller's epoch 0 raises nothing */
    poll_once(&c);                     /* read back at once: as told, nothing to say */
    assert_int_equal(c.rep.npsu_states, 0);
    assert_int_equal(c.rep.ninputs, 0);
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &wake_ps1, err, sizeof(err)), 0);
    assert_false(standing_by(0));
    /* a PSU of no device here, or without the extension: nothing sent */
    struct policy_action other = standby_ps1;
    other.psu = 5;
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &other, err, sizeof(err)), 0);
    assert_int_equal(srv.fenced_writes, before + 3);
    ctl_close(&c);
}

static void test_no_command_before_the_extension_answers_a_read(void **state)
{
    (void)state;
    struct ctl c;
    ctl_open(&c);
    char err[256];
    int before = srv.fenced_writes;
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &standby_ps1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ps1 (unit 200): standby 1: not sent"));
    assert_int_equal(srv.fenced_writes, before);
    assert_false(standing_by(0));
    /* the controller's model has it standing by: the read-back says awake */
    poll_once(&c);
    const struct driver_psu_state *x = state_of(&c, 0);
    assert_non_null(x);
    assert_false(x->standby);
    assert_non_null(strstr(x->why, "unit 200 is awake (register 4352 = 0) though told to stand "
                                   "by: the command failed: standby 1 refused: not sent"));
    ctl_close(&c);
}

static void test_a_psu_its_shelf_woke_is_reported_awake_not_put_back(void **state)
{
    (void)state;
    struct ctl c;
    ctl_open(&c);
    char err[256];
    poll_once(&c);
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &standby_ps1, err, sizeof(err)), 0);
    poll_once(&c);
    assert_true(standing_by(0));
    shelf_wakes(0);
    int before = srv.fenced_writes;
    assert_true(poll_until(&c, 0, -1));
    const struct driver_psu_state *x = state_of(&c, 0);
    assert_false(x->standby);
    assert_non_null(strstr(x->why, "its shelf woke it"));
    assert_int_equal(srv.fenced_writes, before); /* never stood by again by the driver */
    assert_false(standing_by(0));
    /* said once */
    poll_until(&c, 0, -1);
    assert_null(state_of(&c, 0));
    /* from then on the controller has it awake: standing by again without
     * a command of its own, it counts for nothing until it wakes */
    pthread_mutex_lock(&srv.mu);
    phys_standby(&srv.ph, 0, true, 0, "test: not the controller");
    pthread_mutex_unlock(&srv.mu);
    assert_true(poll_until(&c, 0, POLICY_PSU_UNKNOWN));
    ctl_close(&c);
}

/* A lone controller (epoch 0) and a PSU a cluster fenced: every command is
 * refused (0x04). A standby refused: awake at its old share, said once. A
 * wake refused: the PSU counts for no protection (psu_unknown) and is woken
 * again; once it reads awake it is told healthy again. */
static void test_refused_commands_leave_the_psu_as_it_was(void **state)
{
    (void)state;
    struct ctl c;
    ctl_open(&c);
    char err[256];
    poll_once(&c);
    struct policy_action share = {
        .kind = POLICY_ACT_SHARE, .psu = 0, .server = -1, .share_ppm = 600000};
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &share, err, sizeof(err)), 0);
    assert_int_equal(share_of(0), 600000);
    fenced_by_another(PS1_UNIT, 0x202);
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &standby_ps1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ps1 (unit 200): standby 1: unit 200 (orv3-psu): refused: the PSU "
                                "is fenced by a cluster's epoch 514"));
    assert_false(standing_by(0));
    poll_once(&c);
    const struct driver_psu_state *x = state_of(&c, 0);
    assert_non_null(x);
    assert_false(x->standby);
    assert_int_equal(x->share_ppm, 600000); /* its old share */
    assert_non_null(strstr(x->why, "the command failed: standby 1 refused"));
    share.share_ppm = 200000;
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &share, err, sizeof(err)), -1);
    assert_null(strstr(err, "not the primary")); /* a lone controller is replaced by nobody */
    poll_once(&c);
    x = state_of(&c, 0);
    assert_non_null(x);
    assert_int_equal(x->share_ppm, 600000);
    assert_non_null(strstr(x->why, "carries a share of 60.00 % (register 4353) though told "
                                   "20.00 %"));

    /* the cluster stood it by; this controller's wake is refused */
    pthread_mutex_lock(&srv.mu);
    phys_standby(&srv.ph, 0, true, 0, "test: the other controller");
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &wake_ps1, err, sizeof(err)), -1);
    poll_once(&c);
    x = state_of(&c, 0);
    assert_non_null(x);
    assert_true(x->standby);
    bool unknown = false;
    for (size_t k = 0; k < c.rep.ninputs; k++)
        if (c.rep.inputs[k].kind == POLICY_PSU_UNKNOWN && c.rep.inputs[k].index == 0) {
            unknown = true;
            assert_non_null(strstr(c.rep.input_notes[k], "stands by though told to wake"));
            assert_non_null(strstr(c.rep.input_notes[k], "counts for no protection"));
        }
    assert_true(unknown);
    /* woken again at each read-back (refused here), said once */
    int before = srv.fenced_writes;
    poll_until(&c, 0, POLICY_PSU_UNKNOWN);
    assert_null(state_of(&c, 0));
    assert_true(srv.fenced_writes > before);
    /* it wakes (the cluster's doing): healthy again, nothing more */
    shelf_wakes(0);
    assert_true(poll_until(&c, 0, POLICY_PSU_REPAIR));
    ctl_close(&c);
}

/* A cluster's controller whose epoch is lower than the PSU's: replaced (-2),
 * it commands nothing more. */
static void test_a_replaced_controller_stands_down(void **state)
{
    (void)state;
    struct ctl c;
    ctl_open(&c);
    char err[256];
    uint64_t seen;
    poll_once(&c);
    assert_int_equal(mbdev_tcp_ops.fence(c.inst, 0x101, &seen, err, sizeof(err)), 0);
    assert_true(owner(PS1_UNIT) == 0x101 && owner(PS2_UNIT) == 0x101); /* fenced at once */
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &standby_ps1, err, sizeof(err)), 0);
    assert_true(standing_by(0));
    fenced_by_another(PS1_UNIT, 0x202);
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &wake_ps1, err, sizeof(err)), -2);
    assert_true(standing_by(0));
    poll_once(&c);
    assert_true(c.rep.fenced_by == 0x202);
    ctl_close(&c);
}

/* Chassis module c1 answers at unit 10, with nothing at 4352 (0x02): as a
 * plain ORv3 unit configured with the extension by mistake. */
static void test_a_unit_without_the_registers_gets_nothing(void **state)
{
    (void)state;
    struct ctl c;
    ctl_open_units(&c, "    units:\n"
                       "      - {unit: 10, psu: ps1, extension: rackpower}\n");
    char err[256];
    uint64_t seen;
    int before = srv.fenced_writes;
    assert_int_equal(mbdev_tcp_ops.fence(c.inst, 0x101, &seen, err, sizeof(err)), 0);
    poll_once(&c);
    assert_non_null(strstr(c.rep.no_standby, "ps1 (unit 10) is configured with extension: "
                                             "rackpower but has no such registers"));
    assert_int_equal(mbdev_tcp_ops.act(c.inst, &standby_ps1, err, sizeof(err)), 0);
    assert_int_equal(srv.fenced_writes, before); /* neither the fence nor the command */
    assert_true(owner(RACKMOD_CHASSIS_UNIT_BASE) == 0);
    ctl_close(&c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_standby_wake_and_share_are_fenced_writes_read_back),
        T(test_no_command_before_the_extension_answers_a_read),
        T(test_a_psu_its_shelf_woke_is_reported_awake_not_put_back),
        T(test_refused_commands_leave_the_psu_as_it_was),
        T(test_a_replaced_controller_stands_down),
        T(test_a_unit_without_the_registers_gets_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
