/*
 * test_hwmon.c - the hwmon PSU driver against fixture trees laid out like
 * /sys/class/hwmon/hwmonN of a PMBus PSU: readings and units, debouncing,
 * communication loss, brownouts and the timed wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hwmon.h"
#include "pmbus.h"

#define MAXEV 8

struct fx {
    char root[64];
};

static void put(const char *dir, const char *file, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void put_int(const char *dir, const char *file, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld\n", v);
    put(dir, file, buf);
}

static void rm_file(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    assert_int_equal(unlink(path), 0);
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[512];
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                rm_tree(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

/* A PMBus PSU as the kernel's pmbus driver lays it out (values in mV, mA,
 * µW, m°C, RPM), plus files that are not ours to read (beep, limits). */
static void make_psu(const char *dir)
{
    assert_int_equal(mkdir(dir, 0755), 0);
    put(dir, "name", "pmbus\n");
    put(dir, "in1_label", "vin\n");
    put_int(dir, "in1_input", 230000);
    put_int(dir, "in1_lcrit", 90000);
    put_int(dir, "in1_beep", 0);
    put(dir, "in2_label", "vout1\n");
    put_int(dir, "in2_input", 12100);
    put(dir, "curr1_label", "iin\n");
    put_int(dir, "curr1_input", 4480);
    put(dir, "curr2_label", "iout1\n");
    put_int(dir, "curr2_input", 83000);
    put(dir, "power1_label", "pin\n");
    put_int(dir, "power1_input", 1030500400);
    put(dir, "power2_label", "pout1\n");
    put_int(dir, "power2_input", 1004000600);
    put_int(dir, "temp1_input", 31000);
    put_int(dir, "temp1_max", 85000);
    put_int(dir, "temp2_input", -5250);
    put_int(dir, "fan1_input", 9800);
    put_int(dir, "fan2_input", 9700);
    const char *alarms[] = {
        "in1_min_alarm",    "in1_lcrit_alarm",   "in1_max_alarm",    "in1_crit_alarm",
        "in2_min_alarm",    "in2_lcrit_alarm",   "in2_max_alarm",    "in2_crit_alarm",
        "curr1_max_alarm",  "curr2_max_alarm",   "curr2_crit_alarm", "power1_alarm",
        "power2_max_alarm", "power2_crit_alarm", "temp1_max_alarm",  "temp1_crit_alarm",
        "temp2_max_alarm",  "fan1_alarm",        "fan1_fault",       "fan2_fault",
    };
    for (size_t i = 0; i < sizeof(alarms) / sizeof(alarms[0]); i++)
        put_int(dir, alarms[i], 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/rp-hwmon-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rm_tree(f->root);
    free(f);
    return 0;
}

static void psu_path(const struct fx *f, int i, char *out, size_t len)
{
    snprintf(out, len, "%s/psu%d", f->root, i);
}

static struct hwmon *open_psu(const struct fx *f, int i, const struct hwmon_config *cfg)
{
    char dir[128], id[16], err[256] = "";
    psu_path(f, i, dir, sizeof(dir));
    snprintf(id, sizeof(id), "ps%d", i);
    struct hwmon *h = hwmon_open(dir, id, cfg, err, sizeof(err));
    if (!h)
        fail_msg("hwmon_open: %s", err);
    return h;
}

static struct hwmon *new_psu(const struct fx *f, int i, char *dir, size_t len)
{
    psu_path(f, i, dir, len);
    make_psu(dir);
    return open_psu(f, i, NULL);
}

/* One read + debounce step; returns the number of events. */
static size_t step(struct hwmon *h, struct hwmon_event *ev)
{
    struct hwmon_snapshot s;
    return hwmon_poll(h, &s, ev, MAXEV);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_open_finds_files_by_label(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    assert_string_equal(hwmon_name(h), "pmbus");
    assert_string_equal(hwmon_id(h), "ps1");
    assert_int_equal(hwmon_alarm_count(h), 20); /* in1_beep and limits are not alarms */
    bool seen_lcrit = false, seen_fault = false;
    for (int i = 0; i < hwmon_alarm_count(h); i++) {
        seen_lcrit |= strcmp(hwmon_alarm_name(h, i), "in2_lcrit_alarm") == 0;
        seen_fault |= strcmp(hwmon_alarm_name(h, i), "fan2_fault") == 0;
    }
    assert_true(seen_lcrit && seen_fault);
    assert_null(hwmon_alarm_name(h, 20));
    hwmon_close(h);
}

static void test_read_snapshot_in_project_units(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_snapshot s;
    assert_int_equal(hwmon_read(h, &s), 0);
    assert_true(s.valid);
    assert_int_equal(s.vin_mv, 230000);
    assert_int_equal(s.vout_mv, 12100);
    assert_int_equal(s.iin_ma, 4480);
    assert_int_equal(s.iout_ma, 83000);
    assert_int_equal(s.pin_mw, 1030500);  /* 1030500400 µW */
    assert_int_equal(s.pout_mw, 1004001); /* 1004000600 µW rounds up */
    assert_int_equal(s.pout_cap_mw, HWMON_ABSENT);
    assert_int_equal(s.pout_max_mw, HWMON_ABSENT);
    assert_int_equal(s.ntemps, 2);
    assert_int_equal(s.temp_mc[0], 31000);
    assert_int_equal(s.temp_mc[1], -5250);
    assert_int_equal(s.nfans, 2);
    assert_int_equal(s.fan_rpm[0], 9800);
    assert_int_equal(s.fan_rpm[1], 9700);
    assert_int_equal(s.nalarms, 20);
    for (int i = 0; i < s.nalarms; i++)
        assert_false(s.alarm[i]);
    assert_false(s.input_fault);
    assert_int_equal(s.status_word, 0); /* alarm files, none set */

    /* the alarm files set show as their STATUS_WORD summary bits */
    put_int(dir, "temp1_max_alarm", 1);
    put_int(dir, "fan2_fault", 1);
    put_int(dir, "in2_crit_alarm", 1);
    assert_int_equal(hwmon_read(h, &s), 0);
    assert_int_equal(s.status_word,
                     PMBUS_SW_TEMPERATURE | PMBUS_SW_FANS | PMBUS_SW_VOUT | PMBUS_SW_VOUT_OV_FAULT);
    put_int(dir, "temp1_max_alarm", 0);
    put_int(dir, "fan2_fault", 0);
    put_int(dir, "in2_crit_alarm", 0);

    /* the label decides, not the number: swap in1 and in2 */
    put(dir, "in1_label", "vout1\n");
    put(dir, "in2_label", "vin\n");
    hwmon_close(h);
    h = open_psu(f, 1, NULL);
    assert_int_equal(hwmon_read(h, &s), 0);
    assert_int_equal(s.vin_mv, 12100);
    assert_int_equal(s.vout_mv, 230000);
    hwmon_close(h);
}

static void test_open_rejects_what_is_not_a_psu(void **state)
{
    struct fx *f = *state;
    char dir[128], err[256];
    snprintf(dir, sizeof(dir), "%s/nothing", f->root);
    assert_null(hwmon_open(dir, "ps1", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "No such file or directory"));

    assert_int_equal(mkdir(dir, 0755), 0);
    put_int(dir, "in1_input", 12000);
    assert_null(hwmon_open(dir, "ps1", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a hwmon directory"));

    put(dir, "name", "coretemp\n");
    put_int(dir, "temp1_input", 40000);
    assert_null(hwmon_open(dir, "ps1", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "no PSU sensors"));

    put(dir, "in1_label", "vout1\n");
    struct hwmon_config c;
    hwmon_config_default(&c);
    c.fault_reads = 0;
    assert_null(hwmon_open(dir, "ps1", &c, err, sizeof(err)));
    assert_string_equal(err, "hwmon: fault_reads is 0, must be 1..1000");
    hwmon_config_default(&c);
    c.derate_pct = 101;
    assert_null(hwmon_open(dir, "ps1", &c, err, sizeof(err)));
    assert_string_equal(err, "hwmon: derate_pct is 101, must be 0..100");

    struct hwmon *h = hwmon_open(dir, "ps1", NULL, err, sizeof(err));
    assert_non_null(h); /* one labelled sensor is enough */
    hwmon_close(h);
}

static void test_bad_values_are_failed_reads(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_snapshot s;

    put(dir, "in2_input", "12abc\n");
    assert_int_equal(hwmon_read(h, &s), -1);
    assert_false(s.valid);
    assert_string_equal(s.err, "in2_input: not a number: \"12abc\"");

    put(dir, "in2_input", "");
    assert_int_equal(hwmon_read(h, &s), -1);
    assert_string_equal(s.err, "in2_input: empty");

    put(dir, "in2_input", "99999999999999999999\n");
    assert_int_equal(hwmon_read(h, &s), -1);
    assert_string_equal(s.err, "in2_input: value out of range: \"99999999999999999999\"");

    put(dir, "in2_input", "1234567890123456789012345678901234567890\n");
    assert_int_equal(hwmon_read(h, &s), -1);
    assert_string_equal(s.err, "in2_input: value too long");

    put(dir, "in2_input", "12100\n");
    put(dir, "temp1_crit_alarm", "yes\n");
    assert_int_equal(hwmon_read(h, &s), -1);
    assert_string_equal(s.err, "temp1_crit_alarm: not a number: \"yes\"");

    put(dir, "temp1_crit_alarm", "0\n");
    assert_int_equal(hwmon_read(h, &s), 0);
    hwmon_close(h);
}

static void test_fault_counts_after_three_reads_and_clears_after_three(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_event ev[MAXEV];

    assert_int_equal(step(h, ev), 0); /* healthy: nothing to say */
    put_int(dir, "temp1_crit_alarm", 1);
    put_int(dir, "temp1_input", 121000);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_FAILED);
    assert_string_equal(ev[0].psu, "ps1");
    assert_string_equal(ev[0].reason, "OT_FAULT");
    assert_string_equal(ev[0].alarms, "temp1_crit_alarm");
    assert_int_equal(ev[0].raw.temp_mc[0], 121000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(step(h, ev), 0); /* one event per episode */

    put_int(dir, "temp1_crit_alarm", 0);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_OK);
    assert_string_equal(ev[0].alarms, "");
    assert_int_equal(step(h, ev), 0);

    struct policy_input in;
    assert_int_equal(hwmon_event_policy_input(&ev[0], 4, 3000000, &in), 1);
    assert_int_equal(in.kind, POLICY_PSU_REPAIR);
    assert_int_equal(in.index, 4);
    hwmon_close(h);
}

static void test_transient_fault_is_ignored(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_event ev[MAXEV];
    for (int round = 0; round < 3; round++) {
        put_int(dir, "curr2_crit_alarm", 1);
        assert_int_equal(step(h, ev), 0);
        assert_int_equal(step(h, ev), 0);
        put_int(dir, "curr2_crit_alarm", 0);
        assert_int_equal(step(h, ev), 0);
    }
    hwmon_close(h);
}

static void test_output_lost_needs_five_reads(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_event ev[MAXEV];
    put_int(dir, "in2_lcrit_alarm", 1);
    put_int(dir, "in2_input", 310);
    for (int i = 0; i < 4; i++)
        assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_FAILED);
    assert_string_equal(ev[0].reason, "VOUT_UV_FAULT");
    assert_string_equal(ev[0].alarms, "in2_lcrit_alarm");
    assert_int_equal(ev[0].raw.vout_mv, 310);
    struct policy_input in;
    assert_int_equal(hwmon_event_policy_input(&ev[0], 0, 3000000, &in), 1);
    assert_int_equal(in.kind, POLICY_PSU_FAIL);
    hwmon_close(h);
}

static void test_warning_degrades_to_the_device_cap(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    hwmon_close(h);
    put_int(dir, "power2_cap", 1500000000);
    put_int(dir, "power2_max", 2900000000);
    h = open_psu(f, 1, NULL);
    struct hwmon_event ev[MAXEV];
    put_int(dir, "temp1_max_alarm", 1);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_DEGRADED);
    assert_int_equal(ev[0].derated_mw, 1500000);
    assert_int_equal(ev[0].raw.pout_max_mw, 2900000);
    assert_string_equal(ev[0].reason, "OT_WARN; derated to 1500 W (power2_cap)");
    struct policy_input in;
    assert_int_equal(hwmon_event_policy_input(&ev[0], 2, 3000000, &in), 1);
    assert_int_equal(in.kind, POLICY_PSU_DEGRADE);
    assert_int_equal(in.watts_mw, 1500000);
    assert_int_equal(in.index, 2);
    /* never above the rated capacity */
    assert_int_equal(hwmon_event_policy_input(&ev[0], 2, 1000000, &in), 1);
    assert_int_equal(in.watts_mw, 1000000);
    hwmon_close(h);

    /* without a cap, power*_max */
    rm_file(dir, "power2_cap");
    h = open_psu(f, 1, NULL);
    for (int i = 0; i < 2; i++)
        assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].derated_mw, 2900000);
    assert_string_equal(ev[0].reason, "OT_WARN; derated to 2900 W (power2_max)");
    hwmon_close(h);
}

static void test_warning_degrades_by_rule_without_device_figure(void **state)
{
    struct fx *f = *state;
    char dir[128];
    psu_path(f, 1, dir, sizeof(dir));
    make_psu(dir);
    struct hwmon_config c;
    hwmon_config_default(&c);
    assert_int_equal(c.derate_pct, 50);
    c.derate_pct = 30;
    struct hwmon *h = open_psu(f, 1, &c);
    struct hwmon_event ev[MAXEV];
    put_int(dir, "fan1_alarm", 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_DEGRADED);
    assert_int_equal(ev[0].derated_mw, -1);
    assert_int_equal(ev[0].derate_pct, 30);
    assert_string_equal(ev[0].reason, "FAN1_WARN; derated to 30 % of rated");
    struct policy_input in;
    assert_int_equal(hwmon_event_policy_input(&ev[0], 1, 3000000, &in), 1);
    assert_int_equal(in.kind, POLICY_PSU_DEGRADE);
    assert_int_equal(in.watts_mw, 900000);
    hwmon_close(h);
}

static void test_degraded_then_failed_then_ok(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_event ev[MAXEV];
    put_int(dir, "temp1_max_alarm", 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_DEGRADED);

    put_int(dir, "fan2_fault", 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_FAILED);
    assert_string_equal(ev[0].reason, "FAN2_FAULT OT_WARN");
    assert_string_equal(ev[0].alarms, "fan2_fault temp1_max_alarm");

    put_int(dir, "fan2_fault", 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_DEGRADED); /* the warning is still there */

    put_int(dir, "temp1_max_alarm", 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_OK);
    hwmon_close(h);
}

static void test_comm_lost_on_vanished_file_and_back(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_event ev[MAXEV];
    struct hwmon_snapshot s;
    assert_int_equal(step(h, ev), 0);

    rm_file(dir, "in2_input");
    assert_int_equal(hwmon_read(h, &s), -1);
    assert_string_equal(s.err, "in2_input: No such file or directory");
    assert_int_equal(hwmon_step(h, &s, ev, MAXEV), 0);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_COMM_LOST);
    assert_string_equal(ev[0].reason, "3 failed reads: in2_input: No such file or directory");
    assert_false(ev[0].raw.valid);
    struct policy_input in;
    assert_int_equal(hwmon_event_policy_input(&ev[0], 0, 3000000, &in), 1);
    /* it cannot be read: unknown, not failed (it may well still deliver) */
    assert_int_equal(in.kind, POLICY_PSU_UNKNOWN);
    assert_int_equal(in.index, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(step(h, ev), 0);

    put_int(dir, "in2_input", 12000);
    assert_int_equal(step(h, ev), 2);
    assert_int_equal(ev[0].kind, HWMON_EV_COMM_BACK);
    assert_int_equal(hwmon_event_policy_input(&ev[0], 0, 3000000, &in), 0);
    assert_int_equal(ev[1].kind, HWMON_EV_OK); /* the health again, for the policy */
    assert_int_equal(ev[1].raw.vout_mv, 12000);
    assert_int_equal(step(h, ev), 0);

    /* two failures then a good read: not a comm fault */
    rm_file(dir, "fan2_fault");
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 0);
    put_int(dir, "fan2_fault", 0);
    assert_int_equal(step(h, ev), 0);
    hwmon_close(h);
}

static void test_comm_lost_when_the_device_goes_away(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_event ev[MAXEV];
    rm_tree(dir);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_COMM_LOST);
    assert_int_equal(hwmon_wait(h, 1), HWMON_WAIT_TIMEOUT); /* no fds left to spin on */
    hwmon_close(h);
}

static size_t host_round(struct hwmon_host *host, struct hwmon **h, size_t n,
                         struct hwmon_event *ev, size_t maxev)
{
    struct hwmon_snapshot s[4];
    for (size_t i = 0; i < n; i++)
        hwmon_read(h[i], &s[i]);
    return hwmon_host_step(host, h, s, n, ev, maxev);
}

static void test_blackout_is_one_event_for_three_psus(void **state)
{
    struct fx *f = *state;
    char dir[3][128];
    struct hwmon *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = new_psu(f, i + 1, dir[i], sizeof(dir[i]));
    struct hwmon_host host;
    hwmon_host_init(&host, NULL);
    struct hwmon_event ev[MAXEV];

    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    for (int i = 0; i < 3; i++) {
        put_int(dir[i], "in1_lcrit_alarm", 1);
        put_int(dir[i], "in1_input", 61000);
    }
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_BLACKOUT);
    assert_string_equal(ev[0].psu, "");
    assert_string_equal(ev[0].reason, "input fault on all 3 present PSUs: ps1 ps2 ps3");
    assert_string_equal(ev[0].alarms,
                        "ps1:in1_lcrit_alarm ps2:in1_lcrit_alarm ps3:in1_lcrit_alarm");
    struct policy_input in;
    assert_int_equal(hwmon_event_policy_input(&ev[0], 0, 3000000, &in), 0);
    for (int r = 0; r < 6; r++)
        assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);

    for (int i = 0; i < 3; i++)
        put_int(dir[i], "in1_lcrit_alarm", 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_BLACKOUT_OVER);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    for (int i = 0; i < 3; i++)
        hwmon_close(h[i]);
}

static void test_input_fault_on_one_psu_fails_that_psu(void **state)
{
    struct fx *f = *state;
    char dir[3][128];
    struct hwmon *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = new_psu(f, i + 1, dir[i], sizeof(dir[i]));
    struct hwmon_host host;
    hwmon_host_init(&host, NULL);
    struct hwmon_event ev[MAXEV];
    put_int(dir[1], "in1_lcrit_alarm", 1);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_FAILED);
    assert_string_equal(ev[0].psu, "ps2");
    assert_string_equal(ev[0].reason, "VIN_UV_FAULT");

    /* the other two follow: now it is a blackout, told once; ps2's failure
     * is already told and the others' are held back */
    put_int(dir[0], "in1_lcrit_alarm", 1);
    put_int(dir[2], "in1_lcrit_alarm", 1);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_BLACKOUT);

    /* power comes back to all but ps3: after the blackout, ps3's own
     * failure is told and ps2's repair too */
    put_int(dir[0], "in1_lcrit_alarm", 0);
    put_int(dir[1], "in1_lcrit_alarm", 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    size_t n = host_round(&host, h, 3, ev, MAXEV);
    assert_int_equal(n, 3);
    assert_int_equal(ev[0].kind, HWMON_EV_BLACKOUT_OVER);
    assert_int_equal(ev[1].kind, HWMON_EV_OK);
    assert_string_equal(ev[1].psu, "ps2");
    assert_int_equal(ev[2].kind, HWMON_EV_FAILED);
    assert_string_equal(ev[2].psu, "ps3");
    assert_int_equal(host_round(&host, h, 3, ev, MAXEV), 0);
    for (int i = 0; i < 3; i++)
        hwmon_close(h[i]);
}

static void test_blackout_counts_present_psus_only(void **state)
{
    (void)state;
    struct hwmon_snapshot s[3];
    memset(s, 0, sizeof(s));
    assert_false(hwmon_blackout(s, 3)); /* none present */
    s[0].valid = s[2].valid = true;
    s[0].input_fault = true;
    assert_false(hwmon_blackout(s, 3));
    s[2].input_fault = true; /* s[1] unreadable: not present */
    assert_true(hwmon_blackout(s, 3));
    assert_false(hwmon_blackout(s, 0));
}

static void test_events_that_do_not_fit_come_next_step(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct hwmon_event ev[MAXEV];
    struct hwmon_snapshot s;
    put_int(dir, "fan1_fault", 1);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(step(h, ev), 0);
    assert_int_equal(hwmon_poll(h, &s, ev, 0), 0);
    assert_int_equal(step(h, ev), 1);
    assert_int_equal(ev[0].kind, HWMON_EV_FAILED);
    assert_string_equal(ev[0].reason, "FAN1_FAULT");
    hwmon_close(h);
}

static void test_wait_falls_back_to_the_timeout_and_rereads(void **state)
{
    struct fx *f = *state;
    char dir[128];
    struct hwmon *h = new_psu(f, 1, dir, sizeof(dir));
    struct pollfd pfd[4];
    /* regular files have no notifier: nothing to poll, nothing to spin on */
    assert_int_equal(hwmon_fds(h, pfd, 4), 0);

    struct hwmon_snapshot s;
    assert_int_equal(hwmon_read(h, &s), 0);
    assert_int_equal(s.vout_mv, 12100);
    int64_t t0 = mono_ms();
    assert_int_equal(hwmon_wait(h, 50), HWMON_WAIT_TIMEOUT);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 50); /* lower bound only */
    fprintf(stderr, "hwmon_wait(50 ms) took %lld ms\n", (long long)took);

    put_int(dir, "in2_input", 11800);
    put_int(dir, "temp2_max_alarm", 1);
    assert_int_equal(hwmon_read(h, &s), 0);
    assert_int_equal(s.vout_mv, 11800);
    int set = 0;
    for (int i = 0; i < s.nalarms; i++)
        if (s.alarm[i]) {
            assert_string_equal(hwmon_alarm_name(h, i), "temp2_max_alarm");
            set++;
        }
    assert_int_equal(set, 1);
    hwmon_close(h);
}

static void test_wait_many_returns_early_on_the_wake_fd(void **state)
{
    struct fx *f = *state;
    char dir[2][128];
    struct hwmon *h[2];
    for (int i = 0; i < 2; i++)
        h[i] = new_psu(f, i + 1, dir[i], sizeof(dir[i]));
    int p[2];
    assert_int_equal(pipe(p), 0);
    bool fired[2] = {true, true};

    int64_t t0 = mono_ms();
    assert_int_equal(hwmon_wait_many(h, 2, 20, p[0], fired), HWMON_WAIT_TIMEOUT);
    assert_true(mono_ms() - t0 >= 20);
    assert_false(fired[0] || fired[1]);

    assert_int_equal(write(p[1], "x", 1), 1);
    /* would take 60 s if the wake were missed */
    assert_int_equal(hwmon_wait_many(h, 2, 60000, p[0], fired), HWMON_WAIT_WAKE);
    assert_false(fired[0] || fired[1]);

    close(p[1]);
    close(p[0]);
    assert_int_equal(hwmon_wait_many(h, 2, 10, p[0], fired), -1); /* closed fd */
    assert_int_equal(errno, EBADF);
    for (int i = 0; i < 2; i++)
        hwmon_close(h[i]);
}

static void test_event_names(void **state)
{
    (void)state;
    assert_string_equal(hwmon_event_name(HWMON_EV_COMM_LOST), "comm_lost");
    assert_string_equal(hwmon_event_name(HWMON_EV_BLACKOUT_OVER), "blackout_over");
    struct hwmon_config c;
    hwmon_config_default(&c);
    assert_int_equal(c.fault_reads, 3);
    assert_int_equal(c.pgood_reads, 5);
    assert_int_equal(c.clear_reads, 3);
    assert_int_equal(c.comm_reads, 3);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_finds_files_by_label),
        T(test_read_snapshot_in_project_units),
        T(test_open_rejects_what_is_not_a_psu),
        T(test_bad_values_are_failed_reads),
        T(test_fault_counts_after_three_reads_and_clears_after_three),
        T(test_transient_fault_is_ignored),
        T(test_output_lost_needs_five_reads),
        T(test_warning_degrades_to_the_device_cap),
        T(test_warning_degrades_by_rule_without_device_figure),
        T(test_degraded_then_failed_then_ok),
        T(test_comm_lost_on_vanished_file_and_back),
        T(test_comm_lost_when_the_device_goes_away),
        T(test_blackout_is_one_event_for_three_psus),
        T(test_input_fault_on_one_psu_fails_that_psu),
        cmocka_unit_test(test_blackout_counts_present_psus_only),
        T(test_events_that_do_not_fit_come_next_step),
        T(test_wait_falls_back_to_the_timeout_and_rereads),
        T(test_wait_many_returns_early_on_the_wake_fd),
        cmocka_unit_test(test_event_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
