/*
 * test_relay.c - what a secondary forwards of its own PSUs and what the
 * primary makes of it, PSUs nobody tells of made unknown (src/daemon/relay.h),
 * on a rack built in code: six PSUs, two feeds; "we" read ps1 and ps2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay.h"
#include "relay_rack.h"

#define W(x) ((int64_t)(x)*1000)
#define MS(x) ((int64_t)(x)*1000000LL)
#define GRACE MS(500)

static struct rack r;
static struct relay *rl;
static const bool own[6] = {true, true, false, false, false, false};
static char err[300];

static int setup(void **state)
{
    (void)state;
    if (relay_rack_build(&r))
        return -1;
    rl = relay_new(&r, own, GRACE);
    return rl ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    relay_free(rl);
    rack_free(&r);
    return 0;
}

/* A report of our device: telemetry of the PSUs given (-1: not read), and
 * inputs. */
static struct driver_report rep;

static void reading(int psu, int64_t out_mw)
{
    struct driver_psu_reading x = driver_psu_unknown(psu);
    x.out_mw = out_mw;
    x.in_mw = out_mw + W(30);
    x.out_mv = 51000;
    x.temp_mc = 30000;
    x.in_mv = 230000;
    x.in_ma = 3100;
    x.inlet_mc = 25500;
    x.fan_rpm = 7200;
    x.status_word = 0x0404;
    x.unread = out_mw < 0;
    assert_int_equal(driver_report_psu(&rep, &x), 0);
}

/* Encodes what we would forward, decodes it as the primary would. */
static void forward(struct relay_forward *f)
{
    char *json = NULL;
    assert_int_equal(relay_encode(rl, &r, "modbus-tcp 127.0.0.1:15020", &json), 0);
    if (relay_decode(json, strlen(json), &r, f, err, sizeof(err)))
        fail_msg("decode %s: %s", json, err);
    free(json);
}

static void test_forward_tells_only_own_psus_once_read(void **state)
{
    (void)state;
    reading(0, W(700)); /* ps1 read, ps2 not yet; ps3 is not ours */
    reading(2, W(900));
    assert_false(relay_take_report(rl, &rep, 1000)); /* no health changed: readings */
    struct relay_forward f;
    forward(&f);
    assert_int_equal(f.npsus, 1);
    assert_int_equal(f.psus[0].index, 0);
    assert_int_equal(f.psus[0].kind, POLICY_PSU_REPAIR); /* as it opened: ok */
    assert_int_equal(f.tel[0].out_mw, W(700));
    assert_int_equal(f.tel[0].temp_mc, 30000);
    assert_int_equal(f.tel[0].in_mv, 230000);
    assert_int_equal(f.tel[0].in_ma, 3100);
    assert_int_equal(f.tel[0].inlet_mc, 25500);
    assert_int_equal(f.tel[0].fan_rpm, 7200);
    assert_int_equal(f.tel[0].status_word, 0x0404);
    assert_false(f.tel[0].unread);
    assert_string_equal(f.device, "modbus-tcp 127.0.0.1:15020");
    driver_report_free(&rep);
}

static void test_a_change_of_health_is_an_alert_and_stays_told(void **state)
{
    (void)state;
    assert_int_equal(driver_report_input_note(&rep, POLICY_PSU_DEGRADE, 1, W(900), "fan"), 0);
    assert_true(relay_take_report(rl, &rep, 1000)); /* forward at once */
    driver_report_clear(&rep);
    reading(1, W(800));
    assert_false(relay_take_report(rl, &rep, 1000)); /* the next poll: the same belief */
    struct relay_forward f;
    forward(&f);
    assert_int_equal(f.npsus, 1); /* ps2 (ps1 never read) */
    assert_int_equal(f.psus[0].index, 1);
    assert_int_equal(f.psus[0].kind, POLICY_PSU_DEGRADE);
    assert_int_equal(f.psus[0].watts_mw, W(900));
    assert_string_equal(f.psus[0].note, "fan");
    /* the whole belief again in the next forward: a lost datagram is made good */
    forward(&f);
    assert_int_equal(f.npsus, 1);
    assert_int_equal(f.psus[0].kind, POLICY_PSU_DEGRADE);
    driver_report_free(&rep);
}

static void test_feed_edges_are_forwarded_once(void **state)
{
    (void)state;
    assert_int_equal(driver_report_input_note(&rep, POLICY_FEED_FAIL, 1, 0, "F2 lost"), 0);
    assert_true(relay_take_report(rl, &rep, 1000));
    struct relay_forward f;
    forward(&f);
    assert_int_equal(f.nfeeds, 1);
    assert_int_equal(f.feeds[0].index, 1);
    assert_int_equal(f.feeds[0].kind, POLICY_FEED_FAIL);
    forward(&f);
    assert_int_equal(f.nfeeds, 0);
    driver_report_free(&rep);
}

/* Every controller keeps the others' readings in its history (docs/
 * history.md, "Several controllers"): each once, at the time its
 * controller read it, whatever the keeper's role. */
static void test_a_forwarded_reading_is_kept_once_at_its_time(void **state)
{
    (void)state;
    static const bool theirs[6] = {false, false, true, true, false, false};
    struct relay *other = relay_new(&r, theirs, GRACE); /* a secondary: never primary */
    assert_non_null(other);
    const int64_t t0 = INT64_C(1764000000123);
    reading(0, W(700));
    assert_false(relay_take_report(rl, &rep, t0));
    struct relay_forward f;
    forward(&f);
    assert_int_equal(f.npsus, 1);
    assert_int_equal(f.t_ms[0], t0); /* the reading's time, not the receiver's */
    assert_true(relay_keep_reading(other, &f, 0));
    /* the heartbeat's forward repeats it: not kept twice */
    forward(&f);
    assert_false(relay_keep_reading(other, &f, 0));
    /* nor by the sender itself (its own reads are kept as they come) */
    assert_false(relay_keep_reading(rl, &f, 0));
    /* the next reading is new, even from a clock set back */
    driver_report_clear(&rep);
    reading(0, W(710));
    relay_take_report(rl, &rep, t0 - 5000);
    forward(&f);
    assert_int_equal(f.t_ms[0], t0 - 5000);
    assert_int_equal(f.tel[0].out_mw, W(710));
    assert_true(relay_keep_reading(other, &f, 0));
    assert_false(relay_keep_reading(other, &f, 0));
    /* a PSU that could not be read is no reading */
    driver_report_clear(&rep);
    reading(0, -1);
    relay_take_report(rl, &rep, t0 + 1000);
    forward(&f);
    assert_true(f.tel[0].unread);
    assert_false(relay_keep_reading(other, &f, 0));
    assert_false(relay_keep_reading(other, &f, 1)); /* past its PSUs */
    /* an older sender's forward has no time: each is a new reading */
    static const char older[] =
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps2\",\"told\":\"psu_repair\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":5,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,"
        "\"temp_mc\":-1,\"unread\":false}],\"feeds\":[]}";
    assert_int_equal(relay_decode(older, strlen(older), &r, &f, err, sizeof(err)), 0);
    assert_int_equal(f.t_ms[0], -1);
    assert_true(relay_keep_reading(other, &f, 0));
    assert_true(relay_keep_reading(other, &f, 0));
    relay_free(other);
    driver_report_free(&rep);
}

/* What another controller (node 2, reading ps3 and ps4) tells us. */
static void told(struct relay_forward *f, int psu, enum policy_input_kind k, int64_t watts_mw)
{
    struct relay_told *t = &f->psus[f->npsus];
    *t = (struct relay_told){.index = psu, .kind = k, .watts_mw = watts_mw};
    snprintf(t->note, sizeof(t->note), "read so");
    f->tel[f->npsus] = driver_psu_unknown(psu);
    f->npsus++;
}

static void test_primary_takes_only_what_differs_from_its_rack(void **state)
{
    (void)state;
    relay_primary(rl, 0);
    struct relay_forward f = {.device = "modbus-tcp x"};
    told(&f, 2, POLICY_PSU_FAIL, 0);
    told(&f, 3, POLICY_PSU_REPAIR, 0); /* the rack has it ok already */
    told(&f, 0, POLICY_PSU_FAIL, 0);   /* ours: our own reads count, not its word */
    const struct relay_inputs *in = relay_heard(rl, 2, &f, &r, MS(10));
    assert_int_equal(in->n, 1);
    assert_int_equal(in->in[0].kind, POLICY_PSU_FAIL);
    assert_int_equal(in->in[0].index, 2);
    assert_string_equal(in->why[0], "told by node 2 (modbus-tcp x): read so");
    /* a belief with no words of the device (as it opened) */
    f.psus[0].note[0] = '\0';
    r.psus[2].health = RACK_PSU_OK;
    in = relay_heard(rl, 2, &f, &r, MS(15));
    assert_string_equal(in->why[0], "told by node 2 (modbus-tcp x), as it reads it");
    r.psus[2].health = RACK_PSU_FAILED;
    /* applied: told again, nothing new */
    r.psus[2].health = RACK_PSU_FAILED;
    in = relay_heard(rl, 2, &f, &r, MS(20));
    assert_int_equal(in->n, 0);
}

static void test_a_psu_nobody_tells_of_is_unknown_after_the_grace(void **state)
{
    (void)state;
    relay_primary(rl, 0);
    struct relay_forward f = {.device = "d"};
    told(&f, 2, POLICY_PSU_REPAIR, 0);
    told(&f, 3, POLICY_PSU_REPAIR, 0);
    assert_int_equal(relay_heard(rl, 2, &f, &r, MS(100))->n, 0);
    assert_int_equal(relay_next_due(rl), GRACE); /* ps5, ps6: never told of */
    assert_int_equal(relay_due(rl, &r, GRACE - 1)->n, 0);
    const struct relay_inputs *in = relay_due(rl, &r, GRACE);
    assert_int_equal(in->n, 2);
    assert_int_equal(in->in[0].kind, POLICY_PSU_UNKNOWN);
    assert_int_equal(in->in[0].index, 4);
    assert_int_equal(in->in[1].index, 5);
    assert_non_null(strstr(in->why[0], "no controller has told of it"));
    assert_non_null(relay_unknown_reason(rl, 4));
    assert_null(relay_unknown_reason(rl, 2));
    assert_null(relay_unknown_reason(rl, 0)); /* ours: never unknown for want of a word */
    /* once */
    assert_int_equal(relay_due(rl, &r, GRACE + MS(1))->n, 0);
    /* node 2 falls silent: ps3 and ps4 go unknown a grace after its last word */
    assert_int_equal(relay_next_due(rl), MS(100) + GRACE);
    r.psus[3].health = RACK_PSU_FAILED; /* a failed PSU stays failed: no input for it */
    in = relay_due(rl, &r, MS(100) + GRACE);
    assert_int_equal(in->n, 1);
    assert_int_equal(in->in[0].index, 2);
    assert_non_null(strstr(in->why[0], "its controller, node 2, has not told of it for 0.5 s"));
    assert_int_equal(relay_next_due(rl), INT64_MAX);
}

static void test_a_dead_peer_makes_its_psus_unknown_at_once_and_alarmed(void **state)
{
    (void)state;
    relay_primary(rl, 0);
    struct relay_forward f = {.device = "d"};
    told(&f, 2, POLICY_PSU_REPAIR, 0);
    told(&f, 3, POLICY_PSU_REPAIR, 0);
    relay_heard(rl, 2, &f, &r, MS(10));
    struct relay_forward g = {.device = "d"};
    told(&g, 4, POLICY_PSU_REPAIR, 0);
    told(&g, 5, POLICY_PSU_REPAIR, 0);
    relay_heard(rl, 3, &g, &r, MS(10));
    const struct relay_inputs *in = relay_peer_dead(rl, 2, &r);
    assert_int_equal(in->n, 2);
    assert_int_equal(in->in[0].index, 2);
    assert_int_equal(in->in[1].index, 3);
    assert_non_null(strstr(in->why[0], "its controller, node 2, is lost"));
    struct alarm_set set = {0};
    assert_int_equal(relay_alarms(rl, &r, NULL, &set), 0);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.v[0].kind, ALARM_PEER_LOST);
    assert_string_equal(set.v[0].subject, "node 2");
    assert_string_equal(set.v[0].reason, "nothing heard from it (dead or cut off): the PSUs it "
                                         "reads, ps3, ps4, are unknown");
    /* heard again: known again (it tells what it reads), the alarm's condition is gone */
    r.psus[2].health = r.psus[3].health = RACK_PSU_UNKNOWN;
    in = relay_heard(rl, 2, &f, &r, MS(900));
    assert_int_equal(in->n, 2);
    assert_int_equal(in->in[0].kind, POLICY_PSU_REPAIR);
    alarm_set_clear(&set);
    assert_int_equal(relay_alarms(rl, &r, NULL, &set), 0);
    assert_int_equal(set.n, 0);
    /* a node the rack bus calls dead is alarmed whether or not it read PSUs */
    bool dead[256] = {0};
    dead[5] = true;
    assert_int_equal(relay_alarms(rl, &r, dead, &set), 0);
    assert_int_equal(set.n, 1);
    assert_string_equal(set.v[0].subject, "node 5");
    assert_string_equal(set.v[0].reason,
                        "nothing heard from it for its missed heartbeats (dead or cut off)");
    alarm_set_free(&set);
}

static void test_a_secondary_declares_nothing_unknown(void **state)
{
    (void)state;
    assert_int_equal(relay_next_due(rl), INT64_MAX);
    assert_int_equal(relay_due(rl, &r, MS(100000))->n, 0);
    assert_int_equal(relay_peer_dead(rl, 2, &r)->n, 0);
    /* demoted: its deadlines and unknowns are dropped */
    relay_primary(rl, 0);
    relay_not_primary(rl);
    assert_int_equal(relay_due(rl, &r, MS(100000))->n, 0);
}

static void test_bad_forwards_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"device\":\"d\",\"psus\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps9\",\"told\":\"psu_fail\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"power_on\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_degrade\",\"watts_mw\":"
        "9000000,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_fail\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-7,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[],\"feeds\":[{\"feed\":\"F1\",\"told\":\"psu_fail\","
        "\"note\":\"\"}]}",
        "{\"device\":\"d\",\"psus\":[],\"feeds\":[{\"feed\":\"F9\",\"told\":\"feed_fail\","
        "\"note\":\"\"}]}",
        "{\"device\":\"d\",\"device\":\"e\",\"psus\":[],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_fail\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"status_word\":65536,\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_fail\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"fan_rpm\":\"fast\",\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_fail\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"t_ms\":-2,\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_degrade\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"unread\":true}],\"feeds\":[]}",
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_fail\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":-1,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,\"temp_mc\":-1,"
        "\"t_ms\":1.5e12,\"unread\":true}],\"feeds\":[]}",
    };
    struct relay_forward f;
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        err[0] = '\0';
        if (relay_decode(bad[k], strlen(bad[k]), &r, &f, err, sizeof(err)) != -1)
            fail_msg("accepted: %s", bad[k]);
        assert_true(err[0] != '\0');
    }
    static const char good[] =
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps1\",\"told\":\"psu_degrade\",\"watts_mw\":"
        "900000,\"note\":\"fan\",\"out_mw\":5,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,"
        "\"temp_mc\":-1,\"unread\":false}],\"feeds\":[{\"feed\":\"F2\",\"told\":\"feed_repair\","
        "\"note\":\"back\"}]}";
    assert_int_equal(relay_decode(good, strlen(good), &r, &f, err, sizeof(err)), 0);
    assert_int_equal(f.npsus, 1);
    assert_int_equal(f.nfeeds, 1);
    assert_int_equal(f.feeds[0].kind, POLICY_FEED_REPAIR);
    /* a forward of an older version, without the input, inlet, fan and
     * status figures: they are not known */
    assert_int_equal(f.tel[0].in_mv, -1);
    assert_int_equal(f.tel[0].inlet_mc, -1);
    assert_int_equal(f.tel[0].fan_rpm, -1);
    assert_int_equal(f.tel[0].status_word, -1);
}

static void test_a_command_goes_to_the_primary_with_who_and_role(void **state)
{
    (void)state;
    struct hub_cmd *c = hub_cmd_new(HUB_PSU_OUT, "ps3", "fan swap", "uid:0");
    snprintf(c->role, sizeof(c->role), "admin");
    c->dry_run = true;
    char *json;
    assert_int_equal(relay_cmd_encode(c, &json), 0);
    struct hub_cmd got = {0};
    assert_int_equal(relay_cmd_decode(json, strlen(json), 2, &got, err, sizeof(err)), 0);
    assert_int_equal(got.kind, HUB_PSU_OUT);
    assert_string_equal(got.id, "ps3");
    assert_string_equal(got.note, "fan swap");
    assert_string_equal(got.who, "uid:0 (admin) via node 2");
    assert_string_equal(got.role, "admin");
    assert_true(got.dry_run);
    assert_false(got.force);
    free(json);
    assert_true(relay_cmd_forwarded(HUB_POWER_ON));
    assert_false(relay_cmd_forwarded(HUB_RELOAD));
    assert_false(relay_cmd_forwarded(HUB_SHUTDOWN));
    /* a long name is cut, the way it came is not */
    memset(c->who, 'x', sizeof(c->who) - 1);
    c->who[sizeof(c->who) - 1] = '\0';
    assert_int_equal(relay_cmd_encode(c, &json), 0);
    assert_int_equal(relay_cmd_decode(json, strlen(json), 2, &got, err, sizeof(err)), 0);
    assert_int_equal(strlen(got.who), sizeof(got.who) - 1);
    assert_non_null(strstr(got.who, "xxx (admin) via node 2"));
    free(json);
    c->kind = HUB_RELOAD; /* the controller's own: never forwarded */
    assert_int_equal(relay_cmd_encode(c, &json), -1);
    free(c);

    static const char *const bad[] = {
        "{\"kind\":\"power_on\",\"id\":\"db1\",\"note\":\"\",\"who\":\"x\",\"role\":"
        "\"viewer\",\"dry_run\":false,\"force\":false}",
        "{\"kind\":\"reload\",\"id\":\"\",\"note\":\"\",\"who\":\"x\",\"role\":\"admin\","
        "\"dry_run\":false,\"force\":false}",
        "{\"kind\":\"power_on\",\"id\":\"db1\",\"note\":\"\",\"who\":\"x\",\"role\":"
        "\"admin\",\"dry_run\":0,\"force\":false}",
        "{\"kind\":\"power_on\"}",
        "nonsense",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        err[0] = '\0';
        if (relay_cmd_decode(bad[k], strlen(bad[k]), 2, &got, err, sizeof(err)) != -1)
            fail_msg("accepted: %s", bad[k]);
        assert_true(err[0] != '\0');
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_forward_tells_only_own_psus_once_read),
        T(test_a_change_of_health_is_an_alert_and_stays_told),
        T(test_feed_edges_are_forwarded_once),
        T(test_a_forwarded_reading_is_kept_once_at_its_time),
        T(test_primary_takes_only_what_differs_from_its_rack),
        T(test_a_psu_nobody_tells_of_is_unknown_after_the_grace),
        T(test_a_dead_peer_makes_its_psus_unknown_at_once_and_alarmed),
        T(test_a_secondary_declares_nothing_unknown),
        T(test_bad_forwards_are_refused_with_a_reason),
        T(test_a_command_goes_to_the_primary_with_who_and_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
