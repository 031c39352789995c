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
static const bool own_res[3] = {true, false, false}; /* bbu1 */
#define MAX_LEN ((size_t)59000)                      /* about a rack-bus datagram's payload */
static char err[300];

static int setup(void **state)
{
    (void)state;
    if (relay_rack_build(&r))
        return -1;
    rl = relay_new(&r, own, own_res, GRACE);
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
    assert_int_equal(relay_encode(rl, &r, "modbus-tcp 127.0.0.1:15020", MAX_LEN, &json, NULL), 0);
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
/* What a new primary's hold waits on (engine.c): whether another controller
 * has told of a PSU this one does not read. Its own PSUs in a forward (its
 * own reads count) and a rack whose PSUs nobody forwards do not. */
static void test_others_read_once_another_controller_told_of_a_psu(void **state)
{
    (void)state;
    static const bool theirs[6] = {false, false, true, true, false, false};
    struct relay *other = relay_new(&r, theirs, NULL, GRACE);
    assert_non_null(other);
    assert_false(relay_others_read(other)); /* nobody has told of anything */
    reading(2, W(900));                     /* not ours: not forwarded */
    assert_false(relay_take_report(rl, &rep, 1000));
    struct relay_forward f;
    forward(&f);
    assert_int_equal(f.npsus, 0);
    relay_note_told(other, &f);
    assert_false(relay_others_read(other));
    relay_note_told(rl, &f);
    assert_false(relay_others_read(rl));
    driver_report_clear(&rep);
    reading(0, W(700)); /* ps1, ours: the other hears of a PSU it does not read */
    relay_take_report(rl, &rep, 2000);
    forward(&f);
    relay_note_told(rl, &f); /* its own forward: its own PSU */
    assert_false(relay_others_read(rl));
    relay_note_told(other, &f);
    assert_true(relay_others_read(other));
    /* primary: ps1 told of before, not since; heard again, or unknown for
     * want of a word, it is settled (what ends a new primary's hold) */
    relay_primary(other, MS(1000));
    assert_false(relay_told_since(other, MS(1000)));
    relay_heard(other, 1, &f, &r, MS(1200));
    assert_true(relay_told_since(other, MS(1000)));
    assert_false(relay_told_since(other, MS(1300)));
    relay_due(other, &r, MS(1200) + GRACE); /* its grace over: unknown */
    assert_true(relay_told_since(other, MS(1300)));
    relay_free(other);
    driver_report_free(&rep);
}

static void test_a_forwarded_reading_is_kept_once_at_its_time(void **state)
{
    (void)state;
    static const bool theirs[6] = {false, false, true, true, false, false};
    struct relay *other = relay_new(&r, theirs, NULL, GRACE); /* a secondary: never primary */
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

/* A reserve's reading in our device's report. */
static void reserve_reading(int reserve, int charge_pct, double watts, unsigned flags)
{
    struct driver_reserve_reading x = {.reserve = reserve,
                                       .flags = flags,
                                       .charge_pct = charge_pct,
                                       .runtime_s = charge_pct < 0 ? -1 : 3 * charge_pct,
                                       .watts = watts,
                                       .unread = charge_pct < 0};
    snprintf(x.status, sizeof(x.status), "unit 64: 104=0000");
    assert_int_equal(driver_report_reserve(&rep, &x), 0);
}

/* Every controller keeps the others' reserves in its history too: the
 * latest reading of each reserve its devices read goes with every forward,
 * at the time it was read; a receiver keeps each once. */
static void test_a_reserve_reading_is_forwarded_and_kept_once_at_its_time(void **state)
{
    (void)state;
    struct relay *other = relay_new(&r, own, NULL, GRACE); /* reads no reserve */
    assert_non_null(other);
    const int64_t t0 = INT64_C(1764000000123);
    reserve_reading(0, 87, 812.5, DRIVER_RES_ON_BATTERY | DRIVER_RES_LOW);
    reserve_reading(1, 50, 10, DRIVER_RES_ONLINE); /* bbu2: not ours, not forwarded */
    assert_false(relay_take_report(rl, &rep, t0)); /* a reserve is never an alert */
    struct relay_forward f;
    forward(&f);
    assert_int_equal(f.npsus, 0);
    assert_int_equal(f.nreserves, 1);
    assert_string_equal(f.reserves_refused, "");
    assert_int_equal(f.reserves[0].reserve, 0);
    assert_int_equal(f.reserves[0].charge_pct, 87);
    assert_int_equal(f.reserves[0].runtime_s, 261);
    assert_true(f.reserves[0].watts == 812.5);
    assert_int_equal(f.reserves[0].flags, DRIVER_RES_ON_BATTERY | DRIVER_RES_LOW);
    assert_false(f.reserves[0].unread);
    assert_int_equal(f.res_t_ms[0], t0); /* the reading's time, not the receiver's */
    assert_true(relay_keep_reserve(other, &f, 0));
    /* the next forward repeats it (a lost datagram is made good): kept once */
    forward(&f);
    assert_int_equal(f.nreserves, 1);
    assert_false(relay_keep_reserve(other, &f, 0));
    /* nor by the one that reads it itself (its own are kept as they come) */
    assert_false(relay_keep_reserve(rl, &f, 0));
    assert_false(relay_keep_reserve(other, &f, 1)); /* past its reserves */
    /* the next reading is new, even from a clock set back; figures not
     * read stay not read */
    driver_report_clear(&rep);
    reserve_reading(0, 86, -1, DRIVER_RES_ONLINE);
    relay_take_report(rl, &rep, t0 - 5000);
    forward(&f);
    assert_int_equal(f.nreserves, 1);
    assert_int_equal(f.res_t_ms[0], t0 - 5000);
    assert_int_equal(f.reserves[0].charge_pct, 86);
    assert_true(f.reserves[0].watts == -1);
    assert_true(relay_keep_reserve(other, &f, 0));
    assert_false(relay_keep_reserve(other, &f, 0));
    /* it could not be read: nothing to keep, and its last reading is no
     * longer forwarded (no key at all) */
    driver_report_clear(&rep);
    reserve_reading(0, -1, -1, 0);
    relay_take_report(rl, &rep, t0 + 1000);
    char *json = NULL;
    assert_int_equal(relay_encode(rl, &r, "d", MAX_LEN, &json, NULL), 0);
    assert_null(strstr(json, "reserves"));
    free(json);
    forward(&f);
    assert_int_equal(f.nreserves, 0);
    /* read again: forwarded again */
    driver_report_clear(&rep);
    reserve_reading(0, 85, 0, DRIVER_RES_ONLINE);
    relay_take_report(rl, &rep, t0 + 2000);
    forward(&f);
    assert_int_equal(f.nreserves, 1);
    assert_true(relay_keep_reserve(other, &f, 0));
    relay_free(other);
    driver_report_free(&rep);
}

/* A forward of an older controller has no reserves and decodes as before;
 * a newer one's keys this version does not know are ignored (as an older
 * decoder ignores "reserves" and "t_ms": it reads the keys it knows). */
static void test_a_forward_without_reserves_or_with_unknown_keys_decodes_as_before(void **state)
{
    (void)state;
    static const char older[] =
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps3\",\"told\":\"psu_repair\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":5,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,"
        "\"temp_mc\":-1,\"unread\":false}],\"feeds\":[]}";
    static const char newer[] =
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps3\",\"told\":\"psu_repair\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":5,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,"
        "\"temp_mc\":-1,\"unread\":false,\"ripple_mv\":40}],\"feeds\":[],"
        "\"reserves\":[{\"reserve\":\"bbu2\",\"charge_pct\":40,\"runtime_s\":-1,"
        "\"watts_mw\":-1,\"flags\":1,\"t_ms\":1764000000000,\"soh_pct\":93}],"
        "\"servers\":[{\"server\":\"db1\"}]}";
    struct relay_forward f;
    assert_int_equal(relay_decode(older, strlen(older), &r, &f, err, sizeof(err)), 0);
    assert_int_equal(f.npsus, 1);
    assert_int_equal(f.tel[0].out_mw, 5);
    assert_int_equal(f.nreserves, 0);
    assert_string_equal(f.reserves_refused, "");
    assert_int_equal(relay_decode(newer, strlen(newer), &r, &f, err, sizeof(err)), 0);
    assert_int_equal(f.npsus, 1);
    assert_int_equal(f.tel[0].out_mw, 5);
    assert_int_equal(f.nreserves, 1);
    assert_int_equal(f.reserves[0].reserve, 1);
    assert_int_equal(f.reserves[0].charge_pct, 40);
    assert_int_equal(f.reserves[0].runtime_s, -1);
    assert_int_equal(f.res_t_ms[0], INT64_C(1764000000000));
    assert_string_equal(f.reserves_refused, "");
}

/* Bad reserves are refused, all of that forward's, with a reason naming
 * what is wrong; its PSUs still count (the reserves are history, a PSU's
 * health is not). */
static void test_bad_reserves_are_refused_alone_with_a_reason(void **state)
{
    (void)state;
    static const char head[] =
        "{\"device\":\"d\",\"psus\":[{\"psu\":\"ps3\",\"told\":\"psu_fail\",\"watts_mw\":0,"
        "\"note\":\"\",\"out_mw\":0,\"in_mw\":-1,\"out_mv\":-1,\"out_ma\":-1,"
        "\"temp_mc\":-1,\"unread\":false}],\"feeds\":[],\"reserves\":";
#define OK_RES                                                                                     \
    "{\"reserve\":\"bbu2\",\"charge_pct\":40,\"runtime_s\":60,\"watts_mw\":5,\"flags\":1,"
    static const struct {
        const char *reserves, *why;
    } bad[] = {
        {"{}", "not an array"},
        {"[" OK_RES "\"t_ms\":1}, 7]", "reserves[1] names no reserve of this rack (no reserve id)"},
        {"[{\"reserve\":\"bbu9\",\"charge_pct\":40,\"runtime_s\":60,\"watts_mw\":5,"
         "\"flags\":1,\"t_ms\":1}]",
         "reserves[0] names no reserve of this rack (bbu9)"},
        {"[" OK_RES "\"t_ms\":-1}]", "reserves[0] (bbu2): t_ms is not an integer from 0"},
        {"[" OK_RES "\"t_ms\":4503599627370497}]", "t_ms is not an integer"},
        {"[" OK_RES "\"t_ms\":1.5e12}]", "t_ms is not an integer"},
        {"[" OK_RES "\"tms\":1}]", "t_ms is not an integer"},
        {"[{\"reserve\":\"bbu2\",\"charge_pct\":101,\"runtime_s\":60,\"watts_mw\":5,"
         "\"flags\":1,\"t_ms\":1}]",
         "charge_pct is not an integer from -1 to 100"},
        {"[{\"reserve\":\"bbu2\",\"charge_pct\":40,\"runtime_s\":-2,\"watts_mw\":5,"
         "\"flags\":1,\"t_ms\":1}]",
         "runtime_s is not an integer from -1"},
        {"[{\"reserve\":\"bbu2\",\"charge_pct\":40,\"runtime_s\":60,\"watts_mw\":\"5\","
         "\"flags\":1,\"t_ms\":1}]",
         "watts_mw is not an integer"},
        {"[{\"reserve\":\"bbu2\",\"charge_pct\":40,\"runtime_s\":60,\"watts_mw\":5,"
         "\"flags\":-1,\"t_ms\":1}]",
         "flags is not an integer from 0 to 65535"},
    };
    struct relay_forward f;
    char buf[4096];
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        snprintf(buf, sizeof(buf), "%s%s}", head, bad[k].reserves);
        if (relay_decode(buf, strlen(buf), &r, &f, err, sizeof(err)))
            fail_msg("refused whole: %s: %s", buf, err);
        assert_int_equal(f.npsus, 1); /* the PSU's failure still counts */
        assert_int_equal(f.psus[0].kind, POLICY_PSU_FAIL);
        assert_int_equal(f.nreserves, 0);
        if (!strstr(f.reserves_refused, bad[k].why) ||
            !strstr(f.reserves_refused, "reserves left out"))
            fail_msg("%s: '%s', not '%s'", bad[k].reserves, f.reserves_refused, bad[k].why);
    }
    /* more than a forward carries */
    size_t n = (size_t)snprintf(buf, sizeof(buf), "%s[", head);
    for (int k = 0; k <= RELAY_MAX_RESERVES; k++)
        n +=
            (size_t)snprintf(buf + n, sizeof(buf) - n, "%s" OK_RES "\"t_ms\":%d}", k ? "," : "", k);
    snprintf(buf + n, sizeof(buf) - n, "]}");
    assert_true(strlen(buf) < sizeof(buf) - 1);
    assert_int_equal(relay_decode(buf, strlen(buf), &r, &f, err, sizeof(err)), 0);
    assert_int_equal(f.nreserves, 0);
    assert_non_null(strstr(f.reserves_refused, "tells of 33 reserves, more than 32"));
#undef OK_RES
}

/* A forward is one rack-bus datagram: the reserves go while they fit (and
 * up to RELAY_MAX_RESERVES), the PSUs always; those left out go first in
 * the next forward, so each gets its turn. */
static void test_reserves_that_do_not_fit_wait_for_the_next_forward(void **state)
{
    (void)state;
    static const bool all[3] = {true, true, true};
    struct relay *mine = relay_new(&r, own, all, GRACE);
    assert_non_null(mine);
    reading(0, W(700));
    for (int i = 0; i < 3; i++)
        reserve_reading(i, 50, 100, DRIVER_RES_ONLINE); /* entries of one length */
    relay_take_report(mine, &rep, INT64_C(1764000000000));
    char *json;
    size_t left;
    /* no room at all: the PSU alone, every reserve left out */
    assert_int_equal(relay_encode(mine, &r, "d", 0, &json, &left), 0);
    assert_int_equal(left, 3);
    assert_null(strstr(json, "reserves"));
    assert_non_null(strstr(json, "\"ps1\""));
    size_t base = strlen(json);
    free(json);
    assert_int_equal(relay_encode(mine, &r, "d", MAX_LEN, &json, &left), 0);
    assert_int_equal(left, 0);
    size_t full = strlen(json);
    free(json);
    size_t entry = (full - base - strlen(",\"reserves\":[]") - 2) / 3; /* and two commas */
    assert_int_equal(base + strlen(",\"reserves\":[]") + 3 * entry + 2, full);
    /* every budget from the PSUs' alone to all: as many as fit, within it */
    for (size_t max = base; max <= full + 1; max++) {
        size_t fit = 0;
        while (fit < 3 && base + strlen(",\"reserves\":[]") + (fit + 1) * (entry + 1) - 1 <= max)
            fit++;
        assert_int_equal(relay_encode(mine, &r, "d", max, &json, &left), 0);
        struct relay_forward f;
        if (relay_decode(json, strlen(json), &r, &f, err, sizeof(err)))
            fail_msg("decode %s: %s", json, err);
        assert_int_equal(f.npsus, 1);
        assert_int_equal(f.nreserves, fit);
        assert_int_equal(left, 3 - fit);
        assert_true(strlen(json) <= max);
        free(json);
    }
    /* room for one: each in turn */
    size_t one = base + strlen(",\"reserves\":[]") + entry;
    struct relay_forward f;
    for (int turn = 0; turn < 4; turn++) {
        assert_int_equal(relay_encode(mine, &r, "d", one, &json, &left), 0);
        assert_int_equal(relay_decode(json, strlen(json), &r, &f, err, sizeof(err)), 0);
        free(json);
        assert_int_equal(f.nreserves, 1);
        assert_int_equal(left, 2);
        assert_int_equal(f.reserves[0].reserve, turn % 3);
    }
    relay_free(mine);
    driver_report_free(&rep);
}

/* At most RELAY_MAX_RESERVES a forward, however many a controller reads. */
static void test_a_forward_carries_at_most_its_bound_of_reserves(void **state)
{
    (void)state;
    struct rack big;
    assert_int_equal(relay_rack_build(&big), 0);
    const int n = RELAY_MAX_RESERVES + 8;
    free(big.reserves);
    big.reserves = calloc((size_t)n, sizeof(*big.reserves));
    assert_non_null(big.reserves);
    big.nreserves = n;
    bool *all = calloc((size_t)n, sizeof(*all));
    assert_non_null(all);
    for (int i = 0; i < n; i++) {
        snprintf(big.reserves[i].id, sizeof(big.reserves[i].id), "bbu%d", i + 1);
        all[i] = true;
        reserve_reading(i, 50, 100, DRIVER_RES_ONLINE);
    }
    struct relay *mine = relay_new(&big, own, all, GRACE);
    assert_non_null(mine);
    relay_take_report(mine, &rep, INT64_C(1764000000000));
    char *json;
    size_t left;
    static struct relay_forward f;
    assert_int_equal(relay_encode(mine, &big, "d", MAX_LEN, &json, &left), 0);
    assert_int_equal(relay_decode(json, strlen(json), &big, &f, err, sizeof(err)), 0);
    free(json);
    assert_int_equal(f.nreserves, RELAY_MAX_RESERVES);
    assert_int_equal(left, 8);
    /* the next one starts with the first left out */
    assert_int_equal(relay_encode(mine, &big, "d", MAX_LEN, &json, &left), 0);
    assert_int_equal(relay_decode(json, strlen(json), &big, &f, err, sizeof(err)), 0);
    free(json);
    assert_int_equal(f.reserves[0].reserve, RELAY_MAX_RESERVES);
    relay_free(mine);
    free(all);
    rack_free(&big);
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
        T(test_others_read_once_another_controller_told_of_a_psu),
        T(test_a_forwarded_reading_is_kept_once_at_its_time),
        T(test_primary_takes_only_what_differs_from_its_rack),
        T(test_a_psu_nobody_tells_of_is_unknown_after_the_grace),
        T(test_a_dead_peer_makes_its_psus_unknown_at_once_and_alarmed),
        T(test_a_secondary_declares_nothing_unknown),
        T(test_bad_forwards_are_refused_with_a_reason),
        T(test_a_reserve_reading_is_forwarded_and_kept_once_at_its_time),
        T(test_a_forward_without_reserves_or_with_unknown_keys_decodes_as_before),
        T(test_bad_reserves_are_refused_alone_with_a_reason),
        T(test_reserves_that_do_not_fit_wait_for_the_next_forward),
        T(test_a_forward_carries_at_most_its_bound_of_reserves),
        T(test_a_command_goes_to_the_primary_with_who_and_role),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
