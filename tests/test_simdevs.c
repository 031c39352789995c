/*
 * test_simdevs.c - fencing at the simulated switch and chassis modules, at
 * the register level (rackmod.h "Fencing", docs/sim-devices.md): the owner
 * epoch, fenced commands carried with their epoch in one request, stale
 * epochs and bare writes refused with exception 0x04 once fenced, and a
 * device never fenced answering bare writes as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mbsrv.h"
#include "physics.h"
#include "rackfile.h"
#include "rackmod.h"
#include "simdevs.h"
#include "simrack_fixture.h"

/* one line of YAML a line, like the racks it is built from */
/* clang-format off */
static const char *rack_text =
    SIMRACK_TWO_PSUS
    "    - {id: ps3, capacity_w: 3000, feed: F1, buses: [B], bus: B}\n"
    "  servers:\n"
    "    - {id: a1, power_w: 1000, priority: 1, buses: [A], chassis: c1}\n"
    "    - {id: a2, power_w: 1500, priority: 2, buses: [A], chassis: c1}\n"
    "    - {id: b1, power_w: 800, priority: 3, buses: [B]}\n";
/* clang-format on */

#define C1 RACKMOD_CHASSIS_UNIT_BASE
#define SW RACKMOD_SWITCH_UNIT

static struct phys ph;
static struct simdevs d;

static int setup(void **state)
{
    (void)state;
    simrack_phys(&ph, rack_text);
    assert_int_equal(simdevs_init(&d, &ph, 19200), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    simdevs_free(&d);
    phys_free(&ph);
    return 0;
}

/* Sends one request PDU; returns the exception code, or 0 for an answer. */
static int request(uint8_t unit, const uint8_t *pdu, size_t len, uint8_t *rsp)
{
    size_t n = mbsrv_handle(&simdevs_ops, &d, unit, pdu, len, rsp);
    assert_true(n >= 2);
    return rsp[0] & 0x80 ? rsp[1] : 0;
}

/* 0x10 to RACKMOD_FENCED_CMD: epoch, then the command words. */
static int fenced(uint8_t unit, uint64_t epoch, const uint16_t *cmd, int ncmd)
{
    uint16_t words[MBSRV_MAX_WRITE_REGS];
    rackmod_epoch_put(epoch, words);
    if (ncmd > 0)
        memcpy(words + RACKMOD_EPOCH_WORDS, cmd, (size_t)ncmd * sizeof(*cmd));
    int n = RACKMOD_EPOCH_WORDS + ncmd;
    uint8_t pdu[MBSRV_PDU_MAX], rsp[MBSRV_PDU_MAX];
    pdu[0] = 0x10;
    pdu[1] = RACKMOD_FENCED_CMD >> 8;
    pdu[2] = RACKMOD_FENCED_CMD & 0xff;
    pdu[3] = 0;
    pdu[4] = (uint8_t)n;
    pdu[5] = (uint8_t)(2 * n);
    for (int i = 0; i < n; i++) {
        pdu[6 + 2 * i] = (uint8_t)(words[i] >> 8);
        pdu[7 + 2 * i] = (uint8_t)words[i];
    }
    return request(unit, pdu, 6 + 2 * (size_t)n, rsp);
}

static uint64_t owner_read(uint8_t unit)
{
    const uint8_t pdu[] = {0x03, RACKMOD_OWNER_EPOCH >> 8, RACKMOD_OWNER_EPOCH & 0xff, 0,
                           RACKMOD_EPOCH_WORDS};
    uint8_t rsp[MBSRV_PDU_MAX];
    assert_int_equal(request(unit, pdu, sizeof(pdu), rsp), 0);
    assert_int_equal(rsp[1], 2 * RACKMOD_EPOCH_WORDS);
    uint16_t w[RACKMOD_EPOCH_WORDS];
    for (int i = 0; i < RACKMOD_EPOCH_WORDS; i++)
        w[i] = (uint16_t)(rsp[2 + 2 * i] << 8 | rsp[3 + 2 * i]);
    return rackmod_epoch_get(w);
}

static int coil(uint8_t unit, int addr, bool on)
{
    const uint8_t pdu[] = {0x05, (uint8_t)(addr >> 8), (uint8_t)addr, on ? 0xFF : 0, 0};
    uint8_t rsp[MBSRV_PDU_MAX];
    return request(unit, pdu, sizeof(pdu), rsp);
}

static int reg(uint8_t unit, int addr, uint16_t v)
{
    const uint8_t pdu[] = {0x06, (uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)(v >> 8),
                           (uint8_t)v};
    uint8_t rsp[MBSRV_PDU_MAX];
    return request(unit, pdu, sizeof(pdu), rsp);
}

/* ---- the pure rule ------------------------------------------------------- */

static void test_fence_rule_accepts_equal_or_higher_and_raises_the_owner(void **state)
{
    (void)state;
    uint64_t owner = 0;
    assert_true(rackmod_bare_ok(owner));
    assert_true(rackmod_fence_accept(&owner, 0x101));
    assert_int_equal(owner, 0x101);
    assert_false(rackmod_bare_ok(owner));
    assert_true(rackmod_fence_accept(&owner, 0x101)); /* the same primary goes on */
    assert_false(rackmod_fence_check(owner, 0x100));
    assert_false(rackmod_fence_accept(&owner, 0x0ff));
    assert_false(rackmod_fence_accept(&owner, 0));
    assert_int_equal(owner, 0x101);
    assert_true(rackmod_fence_accept(&owner, 0x203));
    assert_int_equal(owner, 0x203);
}

static void test_epoch_words_are_big_endian(void **state)
{
    (void)state;
    uint16_t w[RACKMOD_EPOCH_WORDS];
    rackmod_epoch_put(0x0102030405060708ULL, w);
    assert_int_equal(w[0], 0x0102);
    assert_int_equal(w[3], 0x0708);
    assert_true(rackmod_epoch_get(w) == 0x0102030405060708ULL);
}

/* ---- the simulated modules ------------------------------------------------ */

static void test_unfenced_modules_read_epoch_0_and_take_bare_writes(void **state)
{
    (void)state;
    assert_int_equal(owner_read(SW), 0);
    assert_int_equal(owner_read(C1), 0);
    assert_int_equal(owner_read(RACKMOD_LOOSE_CHASSIS_UNIT), 0);
    assert_int_equal(coil(SW, RACKMOD_SW_COIL(0, 1), true), 0);
    assert_int_equal(ph.r.psus[0].bus, 1);
    assert_int_equal(coil(C1, RACKMOD_SLOT_COIL(0), true), 0);
    assert_true(ph.srv[0].powered);
}

static void test_fence_alone_raises_the_owner_epoch_and_commands_nothing(void **state)
{
    (void)state;
    assert_int_equal(fenced(SW, 0x201, NULL, 0), 0);
    assert_int_equal(owner_read(SW), 0x201);
    assert_int_equal(owner_read(C1), 0); /* each module has its own */
    assert_int_equal(ph.r.psus[0].bus, 0);
    assert_true(simdevs_owner_epoch(&d, SW) == 0x201);
    /* a part of the block reads its words */
    const uint8_t low[] = {0x03, 0x10, 0x03, 0, 1};
    uint8_t rsp[MBSRV_PDU_MAX];
    assert_int_equal(request(SW, low, sizeof(low), rsp), 0);
    assert_int_equal(rsp[2] << 8 | rsp[3], 0x201);
}

static void test_fenced_switch_command_moves_and_opens_a_psu(void **state)
{
    (void)state;
    const uint16_t to_b[] = {0, 2}; /* ps1 to bus B */
    assert_int_equal(fenced(SW, 0x101, to_b, 2), 0);
    assert_int_equal(ph.r.psus[0].bus, 1);
    const uint16_t open[] = {0, 0, 1, 0}; /* ps1 and ps2 on no bus, in one request */
    assert_int_equal(fenced(SW, 0x101, open, 4), 0);
    assert_int_equal(ph.r.psus[0].bus, -1);
    assert_int_equal(ph.r.psus[1].bus, -1);
    /* a position the PSU is not wired to changes nothing, the owner epoch neither */
    const uint16_t bad[] = {0, 1, 2, 1}; /* ps3 is on B only */
    assert_int_equal(fenced(SW, 0x301, bad, 4), MBSRV_EX_ILLEGAL_VALUE);
    assert_int_equal(ph.r.psus[0].bus, -1);
    assert_int_equal(owner_read(SW), 0x101);
    const uint16_t nopsu[] = {9, 1};
    assert_int_equal(fenced(SW, 0x101, nopsu, 2), MBSRV_EX_ILLEGAL_ADDRESS);
    const uint16_t odd[] = {0};
    assert_int_equal(fenced(SW, 0x101, odd, 1), MBSRV_EX_ILLEGAL_VALUE);
}

static void test_fenced_chassis_commands_power_cap_and_clear(void **state)
{
    (void)state;
    struct policy_input ask = {.kind = POLICY_POWER_ON, .index = 1};
    char err[128];
    assert_int_equal(phys_apply(&ph, &ask, 0, err, sizeof(err)), 0);
    assert_int_equal(ph.srv[1].ask, RACKMOD_ASK_POWER_ON);
    /* cap a2 at 1200 W and power it on in one request */
    const uint16_t grant[] = {1, RACKMOD_OP_CAP_W, 1200, 1, RACKMOD_OP_POWER, 1};
    assert_int_equal(fenced(C1, 0x102, grant, 6), 0);
    assert_true(ph.srv[1].powered);
    assert_int_equal(ph.srv[1].cap_mw, 1200000);
    assert_int_equal(ph.srv[1].ask, RACKMOD_ASK_NONE);
    /* a lost latch is cleared with the epoch too */
    ph.srv[0].lost = 2;
    const uint16_t clear[] = {0, RACKMOD_OP_CLEAR_LOST, 0, 0, RACKMOD_OP_CLEAR_ASK, 0};
    assert_int_equal(fenced(C1, 0x102, clear, 6), 0);
    assert_int_equal(ph.srv[0].lost, 0);
    const uint16_t off[] = {1, RACKMOD_OP_POWER, 0};
    assert_int_equal(fenced(C1, 0x102, off, 3), 0);
    assert_false(ph.srv[1].powered);
    /* bad commands change nothing: the whole request is checked first */
    const uint16_t half_bad[] = {1, RACKMOD_OP_POWER, 1, 0, 9, 0};
    assert_int_equal(fenced(C1, 0x102, half_bad, 6), MBSRV_EX_ILLEGAL_VALUE);
    assert_false(ph.srv[1].powered);
    const uint16_t clear_to_5[] = {0, RACKMOD_OP_CLEAR_ASK, 5};
    assert_int_equal(fenced(C1, 0x102, clear_to_5, 3), MBSRV_EX_ILLEGAL_VALUE);
    const uint16_t noslot[] = {2, RACKMOD_OP_POWER, 1};
    assert_int_equal(fenced(C1, 0x102, noslot, 3), MBSRV_EX_ILLEGAL_ADDRESS);
    const uint16_t two[] = {0, RACKMOD_OP_POWER};
    assert_int_equal(fenced(C1, 0x102, two, 2), MBSRV_EX_ILLEGAL_VALUE);
}

static void test_lower_epoch_is_refused_with_exception_4_and_changes_nothing(void **state)
{
    (void)state;
    assert_int_equal(fenced(C1, 0x201, NULL, 0), 0); /* controller 1, term 2 */
    const uint16_t on[] = {0, RACKMOD_OP_POWER, 1};
    assert_int_equal(fenced(C1, 0x103, on, 3), MBSRV_EX_DEVICE_FAILURE); /* term 1: stale */
    assert_false(ph.srv[0].powered);
    assert_int_equal(owner_read(C1), 0x201);
    assert_int_equal(fenced(C1, 0, on, 3), MBSRV_EX_DEVICE_FAILURE);
    assert_false(ph.srv[0].powered);
    /* a higher one is accepted and becomes the owner: the old one is out */
    assert_int_equal(fenced(C1, 0x302, on, 3), 0);
    assert_true(ph.srv[0].powered);
    assert_int_equal(owner_read(C1), 0x302);
    const uint16_t off[] = {0, RACKMOD_OP_POWER, 0};
    assert_int_equal(fenced(C1, 0x201, off, 3), MBSRV_EX_DEVICE_FAILURE);
    assert_true(ph.srv[0].powered);
}

static void test_bare_writes_are_refused_once_fenced(void **state)
{
    (void)state;
    assert_int_equal(fenced(SW, 0x101, NULL, 0), 0);
    assert_int_equal(fenced(C1, 0x101, NULL, 0), 0);
    assert_int_equal(coil(SW, RACKMOD_SW_COIL(0, 1), true), MBSRV_EX_DEVICE_FAILURE);
    assert_int_equal(ph.r.psus[0].bus, 0);
    assert_int_equal(coil(C1, RACKMOD_SLOT_COIL(0), true), MBSRV_EX_DEVICE_FAILURE);
    assert_false(ph.srv[0].powered);
    assert_int_equal(reg(C1, RACKMOD_SLOT_REG(0, RACKMOD_SLOT_CAP_W), 500),
                     MBSRV_EX_DEVICE_FAILURE);
    assert_int_equal(ph.srv[0].cap_mw, 0);
    struct policy_input ask = {.kind = POLICY_POWER_ON, .index = 0};
    char err[128];
    assert_int_equal(phys_apply(&ph, &ask, 0, err, sizeof(err)), 0);
    assert_int_equal(reg(C1, RACKMOD_SLOT_REG(0, RACKMOD_SLOT_ASK), 0), MBSRV_EX_DEVICE_FAILURE);
    assert_int_equal(ph.srv[0].ask, RACKMOD_ASK_POWER_ON); /* a stale primary cannot eat it */
    /* 0x0F as well */
    const uint8_t many[] = {0x0F, 0, 0, 0, 2, 1, 0x03};
    uint8_t rsp[MBSRV_PDU_MAX];
    assert_int_equal(request(C1, many, sizeof(many), rsp), MBSRV_EX_DEVICE_FAILURE);
    /* the loose unit was never fenced: it still takes them */
    assert_int_equal(coil(RACKMOD_LOOSE_CHASSIS_UNIT, RACKMOD_SLOT_COIL(0), true), 0);
    assert_true(ph.srv[2].powered);
    /* reads are not commands */
    const uint8_t rd[] = {0x01, 0, 0, 0, 2};
    assert_int_equal(request(C1, rd, sizeof(rd), rsp), 0);
}

static void test_owner_epoch_block_is_read_only(void **state)
{
    (void)state;
    assert_int_equal(reg(SW, RACKMOD_OWNER_EPOCH + 3, 9), MBSRV_EX_ILLEGAL_ADDRESS);
    assert_int_equal(reg(C1, RACKMOD_OWNER_EPOCH, 9), MBSRV_EX_ILLEGAL_ADDRESS);
    assert_int_equal(owner_read(C1), 0);
    /* a single-register write to the command block is too short to carry an epoch */
    assert_int_equal(reg(C1, RACKMOD_FENCED_CMD, 9), MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t past[] = {0x03, RACKMOD_OWNER_EPOCH >> 8, RACKMOD_OWNER_EPOCH & 0xff, 0, 5};
    uint8_t rsp[MBSRV_PDU_MAX];
    assert_int_equal(request(SW, past, sizeof(past), rsp), MBSRV_EX_ILLEGAL_ADDRESS);
    /* a PSU's (rackpower's extension) is read-only too */
    assert_int_equal(owner_read(200), 0);
    assert_int_equal(reg(200, RACKMOD_OWNER_EPOCH, 9), MBSRV_EX_ILLEGAL_ADDRESS);
}

/* Registers RACKMOD_PSU_STATE (standby) and +1 (share) of a PSU unit. */
static void psu_state(uint8_t unit, uint16_t *standby, uint16_t *share)
{
    const uint8_t pdu[] = {0x03, RACKMOD_PSU_STATE >> 8, RACKMOD_PSU_STATE & 0xff, 0,
                           RACKMOD_PSU_STATE_WORDS};
    uint8_t rsp[MBSRV_PDU_MAX];
    assert_int_equal(request(unit, pdu, sizeof(pdu), rsp), 0);
    *standby = (uint16_t)(rsp[2] << 8 | rsp[3]);
    *share = (uint16_t)(rsp[4] << 8 | rsp[5]);
}

static void test_psu_extension_stands_by_wakes_and_shares_fenced(void **state)
{
    (void)state;
    uint16_t sb, share;
    /* a1 draws on A (ps1 alone there), b1 on B (ps2 and ps3) */
    assert_int_equal(phys_power(&ph, 0, true, 0, "test"), 0);
    assert_int_equal(phys_power(&ph, 2, true, 0, "test"), 0);
    assert_true(ph.psu[1].out_mw > 0 && ph.psu[2].out_mw > 0);
    /* ps2 stands by: ps3 carries B alone, ps2 delivers nothing and draws standby_w */
    const uint16_t standby[] = {RACKMOD_PSU_OP_STANDBY, 1};
    assert_int_equal(fenced(201, 0x101, standby, 2), 0);
    assert_true(ph.r.psus[1].standby);
    assert_int_equal(ph.psu[1].out_mw, 0);
    assert_int_equal(ph.psu[1].pin_mw, RACK_DEFAULT_STANDBY_MW);
    assert_int_equal(ph.psu[1].vout_mv, 0);
    assert_int_equal(ph.psu[2].out_mw, ph.bus_load_mw[1]);
    psu_state(201, &sb, &share);
    assert_int_equal(sb, 1);
    assert_int_equal(owner_read(201), 0x101);
    assert_int_equal(owner_read(200), 0); /* each PSU keeps its own */
    /* ps1 alone on A stands by: its bus sags and it wakes by itself (cold
     * redundancy), so a1 keeps its power */
    assert_int_equal(fenced(200, 0x101, standby, 2), 0);
    assert_false(ph.r.psus[0].standby);
    assert_true(ph.psu[0].out_mw > 0 && ph.srv[0].powered);
    /* ps2 wakes; shares 25 % and 75 % of B */
    const uint16_t wake_share[] = {RACKMOD_PSU_OP_STANDBY, 0, RACKMOD_PSU_OP_SHARE, 2500};
    assert_int_equal(fenced(201, 0x101, wake_share, 4), 0);
    const uint16_t share3[] = {RACKMOD_PSU_OP_SHARE, 7500};
    assert_int_equal(fenced(202, 0x101, share3, 2), 0);
    assert_false(ph.r.psus[1].standby);
    assert_true(llabs(3 * ph.psu[1].out_mw - ph.psu[2].out_mw) <= 3);
    psu_state(201, &sb, &share);
    assert_int_equal(sb, 0);
    assert_int_equal(share, 2500);
    /* refused: a bad op or value changes nothing; a lower epoch; a bare
     * command once fenced (the ORv3 settings stay bare: they command no power) */
    const uint16_t bad[] = {RACKMOD_PSU_OP_SHARE, 5000, RACKMOD_PSU_OP_SHARE, 10001};
    assert_int_equal(fenced(201, 0x101, bad, 4), MBSRV_EX_ILLEGAL_VALUE);
    const uint16_t noop[] = {3, 0};
    assert_int_equal(fenced(201, 0x101, noop, 2), MBSRV_EX_ILLEGAL_VALUE);
    assert_int_equal(fenced(201, 0x100, standby, 2), MBSRV_EX_DEVICE_FAILURE);
    psu_state(201, &sb, &share);
    assert_int_equal(sb, 0);
    assert_int_equal(share, 2500);
    assert_int_equal(reg(201, RACKMOD_FENCED_CMD, 1), MBSRV_EX_ILLEGAL_VALUE);
    assert_int_equal(reg(201, 96, 50), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fence_rule_accepts_equal_or_higher_and_raises_the_owner),
        cmocka_unit_test(test_epoch_words_are_big_endian),
        T(test_unfenced_modules_read_epoch_0_and_take_bare_writes),
        T(test_psu_extension_stands_by_wakes_and_shares_fenced),
        T(test_fence_alone_raises_the_owner_epoch_and_commands_nothing),
        T(test_fenced_switch_command_moves_and_opens_a_psu),
        T(test_fenced_chassis_commands_power_cap_and_clear),
        T(test_lower_epoch_is_refused_with_exception_4_and_changes_nothing),
        T(test_bare_writes_are_refused_once_fenced),
        T(test_owner_epoch_block_is_read_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
