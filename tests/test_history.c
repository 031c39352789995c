/*
 * test_history.c - the telemetry history (histstore.h, history.h): readings
 * come back as written, rollups cut at the minute and the hour and merge
 * late readings, pruning by age and by size, a full queue drops and counts,
 * a full disk drops history while the journal still writes, labels from
 * the journal's events.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "api_history.h"
#include "history.h"
#include "histstore.h"
#include "store.h"
#include "testdir.h"

static char dir[64], path[128], hpath[160];
static char err[512];

static int setup(void **state)
{
    (void)state;
    if (testdir_make(dir, sizeof(dir), path, sizeof(path), "test_history"))
        return -1;
    snprintf(hpath, sizeof(hpath), "%s.history", path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testdir_remove(dir);
}

static struct histstore *open_rw(void)
{
    struct histstore *h = hist_open(hpath, false, err, sizeof(err));
    if (!h)
        fail_msg("hist_open: %s", err);
    return h;
}

/* A PSU reading: pout w watts at t_ms, temp c, the rest not read. */
static struct hist_reading psu(const char *id, int64_t t_ms, int64_t pout_w, int64_t temp_c,
                               int64_t status)
{
    struct hist_reading r = {.t_ms = t_ms, .kind = HIST_PSU, .bits = status};
    snprintf(r.elem, sizeof(r.elem), "%s", id);
    for (int c = 0; c < HIST_MAXCOLS; c++)
        r.v[c] = HIST_NONE;
    r.v[HIST_POUT_MW] = pout_w * 1000;
    r.v[HIST_TEMP_MC] = temp_c * 1000;
    r.v[HIST_VOUT_MV] = 12000;
    return r;
}

struct rows {
    struct hist_row r[64];
    size_t n;
};

static int take(void *arg, const struct hist_row *r)
{
    struct rows *x = arg;
    if (x->n < 64)
        x->r[x->n] = *r;
    x->n++;
    return 0;
}

static struct rows query(struct histstore *h, const char *id, int64_t from, int64_t to,
                         int64_t step)
{
    struct rows x = {0};
    if (hist_query(h, HIST_PSU, id, from, to, step, 1000, take, &x, err, sizeof(err)))
        fail_msg("hist_query: %s", err);
    return x;
}

static void put(struct histstore *h, const struct hist_reading *v, size_t n)
{
    if (hist_put(h, v, n, NULL, 0, err, sizeof(err)))
        fail_msg("hist_put: %s", err);
}

static void test_readings_come_back_as_written(void **state)
{
    (void)state;
    struct histstore *h = open_rw();
    struct hist_reading v[] = {psu("ps1", 1000, 500, 40, 0), psu("ps2", 1500, 700, 45, HIST_NONE),
                               psu("ps1", 2000, 600, 41, 0x0040), psu("ps1", 3000, 650, 42, 0)};
    v[2].v[HIST_FAN_RPM] = 9000;
    put(h, v, 4);
    struct rows x = query(h, "ps1", 0, 2500, 0);
    assert_int_equal(x.n, 2); /* to is excluded */
    assert_int_equal(x.r[0].t_ms, 1000);
    assert_true(fabs(x.r[0].avg[HIST_POUT_MW] - 500.0) < 1e-9);
    assert_true(fabs(x.r[0].avg[HIST_VOUT_MV] - 12.0) < 1e-9);
    assert_true(isnan(x.r[0].avg[HIST_FAN_RPM])); /* not read */
    assert_true(fabs(x.r[1].avg[HIST_FAN_RPM] - 9000.0) < 1e-9);
    assert_int_equal(x.r[1].bits, 0x0040);
    assert_string_equal(x.r[1].elem, "ps1");
    x = query(h, "ps2", 0, 10000, 0);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.r[0].bits, HIST_NONE);
    x = query(h, "ps9", 0, 10000, 0);
    assert_int_equal(x.n, 0);
    struct rows y = {0};
    assert_int_equal(hist_query(h, HIST_PSU, "ps1", 0, 10000, 0, 2, take, &y, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "more than 2 rows"));
    assert_true(hist_known(h, HIST_PSU, "ps1"));
    assert_false(hist_known(h, HIST_PSU, "ps9"));
    assert_false(hist_known(h, HIST_SERVER, "ps1"));
    /* a reader sees the commits; it cannot write */
    struct histstore *r = hist_open(hpath, true, err, sizeof(err));
    assert_non_null(r);
    x = query(r, NULL, 0, 10000, 0);
    assert_int_equal(x.n, 4);
    assert_int_equal(hist_put(r, v, 1, NULL, 0, err, sizeof(err)), -1);
    hist_close(r);
    hist_close(h);
}

static void test_rollup_cuts_at_the_minute_and_the_hour(void **state)
{
    (void)state;
    struct histstore *h = open_rw();
    const int64_t H = HIST_HOUR_MS, M = HIST_MINUTE_MS;
    struct hist_reading v[] = {
        psu("ps1", M - 1, 100, 30, 0x0001),    psu("ps1", M, 200, 31, 0x0002),
        psu("ps1", M + 1, 400, 35, HIST_NONE), psu("ps1", H - 1, 300, 33, 0),
        psu("ps1", H, 1000, 50, 0x0100),       psu("ps2", M + 5, 7, 20, 0),
    };
    put(h, v, 6);
    assert_int_equal(hist_rollup(h, err, sizeof(err)), 6);
    assert_int_equal(hist_rollup(h, err, sizeof(err)), 0); /* nothing new */
    struct rows x = query(h, "ps1", 0, 2 * H, M);
    assert_int_equal(x.n, 4);
    assert_int_equal(x.r[0].t_ms, 0);
    assert_int_equal(x.r[0].n, 1);
    assert_int_equal(x.r[1].t_ms, M);
    assert_int_equal(x.r[1].n, 2);
    assert_true(fabs(x.r[1].min[HIST_POUT_MW] - 200.0) < 1e-9);
    assert_true(fabs(x.r[1].avg[HIST_POUT_MW] - 300.0) < 1e-9);
    assert_true(fabs(x.r[1].max[HIST_POUT_MW] - 400.0) < 1e-9);
    assert_int_equal(x.r[1].bits, 0x0002); /* the unread one adds nothing */
    assert_int_equal(x.r[2].t_ms, H - M);
    assert_int_equal(x.r[3].t_ms, H);
    x = query(h, "ps1", 0, 2 * H, H);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.r[0].n, 4);
    assert_true(fabs(x.r[0].avg[HIST_POUT_MW] - 250.0) < 1e-9);
    assert_true(fabs(x.r[0].max[HIST_TEMP_MC] - 35.0) < 1e-9);
    assert_int_equal(x.r[0].bits, 0x0003);
    assert_int_equal(x.r[1].n, 1);
    assert_int_equal(x.r[1].bits, 0x0100);
    /* a late reading merges into a minute and an hour already rolled */
    struct hist_reading late = psu("ps1", M + 30000, 600, 60, 0x0800);
    put(h, &late, 1);
    assert_int_equal(hist_rollup(h, err, sizeof(err)), 1);
    x = query(h, "ps1", M, 2 * M, M);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.r[0].n, 3);
    assert_true(fabs(x.r[0].avg[HIST_POUT_MW] - 400.0) < 1e-9);
    assert_true(fabs(x.r[0].max[HIST_TEMP_MC] - 60.0) < 1e-9);
    assert_true(fabs(x.r[0].min[HIST_TEMP_MC] - 31.0) < 1e-9);
    assert_int_equal(x.r[0].bits, 0x0802);
    x = query(h, "ps1", 0, H, H);
    assert_int_equal(x.r[0].n, 5);
    assert_true(fabs(x.r[0].avg[HIST_POUT_MW] - 320.0) < 1e-9);
    /* a step of 2 min over minutes, of 10 s over raw readings */
    x = query(h, "ps1", 0, 2 * H, 2 * M);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.r[0].n, 4);
    x = query(h, "ps1", M - 10000, M + 10000, 10000);
    assert_int_equal(x.n, 2);
    assert_int_equal(x.r[1].t_ms, M);
    assert_int_equal(x.r[1].n, 2);
    hist_close(h);
}

static int64_t prune_all(struct histstore *h, const struct hist_limits *lim, int64_t now)
{
    int64_t total = 0, n;
    while ((n = hist_prune(h, lim, now, 100, err, sizeof(err))) > 0)
        total += n;
    if (n < 0)
        fail_msg("hist_prune: %s", err);
    return total;
}

static void test_prune_by_age_keeps_what_is_not_rolled_up(void **state)
{
    (void)state;
    struct histstore *h = open_rw();
    const int64_t now = 1800000000000LL, day = 86400000LL;
    struct hist_reading v[300];
    for (int i = 0; i < 300; i++) /* 200 two days old, 100 from the last hour */
        v[i] =
            psu("ps1", i < 200 ? now - 2 * day + i * 1000 : now - 3600000 + i * 1000, 500, 40, 0);
    put(h, v, 300);
    struct hist_limits lim = {
        .raw_keep_ms = day, .minute_keep_ms = 30 * day, .hour_keep_ms = 730 * day};
    assert_int_equal(prune_all(h, &lim, now), 0); /* nothing rolled up yet: nothing goes */
    assert_int_equal(query(h, "ps1", 0, now, 0).n, 300);
    assert_int_equal(hist_rollup(h, err, sizeof(err)), 300);
    assert_int_equal(prune_all(h, &lim, now), 200);
    struct rows x = query(h, "ps1", 0, now, 0);
    assert_int_equal(x.n, 100);
    assert_true(x.r[0].t_ms >= now - day);
    /* the minutes of the old readings stay */
    x = query(h, "ps1", 0, now - day, HIST_MINUTE_MS);
    assert_int_equal(x.n, 4); /* 200 s of readings from a minute's start: 4 minutes */
    /* minutes older than theirs go at 1 day of minutes, hours at 1 day */
    lim.minute_keep_ms = day;
    assert_true(prune_all(h, &lim, now) > 0);
    assert_int_equal(query(h, "ps1", 0, now - day, HIST_MINUTE_MS).n, 0);
    assert_int_equal(query(h, "ps1", 0, now - day, HIST_HOUR_MS).n, 1);
    hist_close(h);
}

static void test_prune_by_size_holds_the_bound_and_keeps_the_newest(void **state)
{
    (void)state;
    struct histstore *h = open_rw();
    const int64_t now = 1800000000000LL;
    static struct hist_reading v[2000];
    for (int b = 0; b < 20; b++) { /* 40,000 readings, a second apart, 2 PSUs */
        for (int i = 0; i < 2000; i++) {
            int k = b * 2000 + i;
            v[i] = psu(k % 2 ? "ps2" : "ps1", now - 40000000 + k * 1000LL, 500 + k % 7, 40, 0);
            v[i].v[HIST_VIN_MV] = 230000 + k % 13;
        }
        put(h, v, 2000);
    }
    assert_int_equal(hist_rollup(h, err, sizeof(err)), 40000);
    int64_t before = hist_bytes(h);
    assert_true(before > 1000000);
    struct hist_limits lim = {.max_bytes = 400000};
    assert_true(prune_all(h, &lim, now) > 0);
    int64_t after = hist_bytes(h);
    print_message("history: %lld bytes for 40000 readings, %lld after pruning to 400000\n",
                  (long long)before, (long long)after);
    assert_true(after <= 400000);
    assert_true(after > 200000); /* a batch at a time: not far under */
    /* the newest readings stay, the oldest went */
    struct rows x = query(h, "ps2", now - 10000, now, 0);
    assert_int_equal(x.n, 5);
    assert_int_equal(query(h, "ps1", 0, now - 39000000, 0).n, 0);
    /* the minutes are kept while the raw readings are enough to cut */
    assert_true(query(h, "ps1", 0, now, HIST_HOUR_MS).n > 0);
    hist_close(h);
}

static struct rackfile_history conf_of(int queue)
{
    struct rackfile_history c = {.enabled = 1,
                                 .raw_keep_ns = 86400000000000LL,
                                 .minute_keep_ns = 30 * 86400000000000LL,
                                 .hour_keep_ns = 730 * 86400000000000LL,
                                 .max_bytes = 1000000000,
                                 .queue = queue};
    return c;
}

static void test_a_full_queue_drops_and_counts(void **state)
{
    (void)state;
    struct rackfile_history c = conf_of(32);
    struct histw *w = histw_start(hpath, &c, err, sizeof(err));
    assert_non_null(w);
    histw_hold(w, true);
    int ok = 0;
    int64_t now = (int64_t)time(NULL) * 1000; /* young: the writer prunes by age */
    for (int i = 0; i < 40; i++) {
        struct hist_reading r = psu("ps1", now + i * 1000, 500, 40, 0);
        ok += histw_push(w, &r);
    }
    assert_int_equal(ok, 32);
    struct histw_stats st;
    histw_stats(w, &st);
    assert_int_equal(st.dropped_queue, 8);
    histw_hold(w, false);
    histw_flush(w);
    histw_stats(w, &st);
    assert_int_equal(st.written, 32);
    assert_int_equal(st.dropped_disk + st.dropped_error, 0);
    histw_stop(w);
    struct histstore *h = hist_open(hpath, true, err, sizeof(err));
    assert_non_null(h);
    assert_int_equal(query(h, NULL, 0, INT64_MAX, 0).n, 32);
    assert_int_equal(query(h, "ps1", 0, INT64_MAX, 0).n, 32);
    hist_close(h);
}

static void test_a_full_disk_drops_history_and_the_journal_still_writes(void **state)
{
    (void)state;
    struct store *s = store_open(path, false, err, sizeof(err)); /* the journal, beside it */
    assert_non_null(s);
    struct rackfile_history c = conf_of(4096);
    struct histw *w = histw_start(hpath, &c, err, sizeof(err));
    assert_non_null(w);
    struct hist_reading r = psu("ps1", 1700000000000LL, 500, 40, 0);
    histw_push(w, &r);
    histw_flush(w);
    histw_cap_pages(w, 1); /* the file cannot grow: SQLITE_FULL, as a full disk */
    histw_hold(w, true);   /* one batch, more than the pages it has hold */
    for (int i = 1; i <= 3000; i++) {
        r = psu("ps1", 1700000000000LL + i * 1000, 500, 40, 0);
        histw_push(w, &r);
    }
    histw_hold(w, false);
    histw_flush(w);
    struct histw_stats st;
    histw_stats(w, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.dropped_disk, 3000);
    assert_int_equal(st.dropped_error, 0);
    /* the journal is another file: it writes */
    json_t *ev = json_pack("{si s:f ss}", "id", 0, "time", 1700000001.0, "event", "grant");
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_true(store_append(s, ev, err, sizeof(err)) > 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    json_decref(ev);
    /* under min_free_mb the readings are dropped before they are tried */
    histw_cap_pages(w, 1000000);
    c.min_free_bytes = INT64_MAX / 2;
    histw_limits(w, &c);
    r = psu("ps1", 1700000009000LL, 500, 40, 0);
    histw_push(w, &r);
    histw_flush(w);
    histw_stats(w, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.dropped_disk, 3001);
    histw_stop(w);
    store_close(s);
}

static int count_label(void *arg, const struct hist_label *l)
{
    assert_string_equal(l->kind, "psu_fail");
    (*(int *)arg)++;
    return 0;
}

static void test_labels_from_the_journals_events(void **state)
{
    (void)state;
    struct hist_label l;
    json_t *ev = json_pack("{ss ss s:f ss}", "event", "psu_fail", "psu", "ps3", "time",
                           1700000000.5, "reason", "reported by sim: ac lost");
    assert_true(hist_label_of(ev, &l));
    assert_int_equal(l.t_ms, 1700000000500LL);
    assert_string_equal(l.elem, "ps3");
    assert_string_equal(l.kind, "psu_fail");
    assert_non_null(strstr(l.text, "ac lost"));
    json_decref(ev);
    ev = json_pack("{ss ss s:f ss ss}", "event", "power_on", "server", "db1", "time", 1700000001.0,
                   "reason", "asked", "who", "uid:0");
    assert_true(hist_label_of(ev, &l));
    assert_string_equal(l.elem, "db1");
    assert_non_null(strstr(l.text, "by uid:0"));
    json_decref(ev);
    ev = json_pack("{ss ss s:f}", "event", "grant", "server", "db1", "time", 1700000001.0);
    assert_false(hist_label_of(ev, &l)); /* the policy's own decision: not a label */
    json_decref(ev);
    /* a clear of a prediction: the operator's restarts the PSU's window, the window's own not */
    ev = json_pack("{ss ss s:f ss ss}", "event", "psu_risk_clear", "psu", "ps2", "time",
                   1700000002.0, "reason", "a false alarm", "who", "uid:0");
    assert_true(hist_label_of(ev, &l));
    assert_string_equal(l.kind, "risk_cleared");
    assert_string_equal(l.elem, "ps2");
    json_decref(ev);
    ev = json_pack("{ss ss s:f ss}", "event", "psu_risk_clear", "psu", "ps2", "time", 1700000003.0,
                   "reason", "no longer predicted to fail");
    assert_true(hist_label_of(ev, &l));
    assert_string_equal(l.kind, "psu_risk_clear");
    json_decref(ev);
    /* written and read back */
    struct histstore *h = open_rw();
    struct hist_label two[2] = {{.t_ms = 5, .elem = "ps1", .kind = "psu_fail", .text = "x"},
                                {.t_ms = 9, .elem = "ps1", .kind = "psu_repair", .text = "y"}};
    assert_int_equal(hist_put(h, NULL, 0, two, 2, err, sizeof(err)), 0);
    int n = 0;
    assert_int_equal(hist_labels(h, 0, 9, count_label, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1); /* to is excluded */
    hist_close(h);
}

static void test_the_api_answers_and_refuses(void **state)
{
    (void)state;
    int64_t ms, now = 1800000000000LL;
    assert_int_equal(api_history_time("1700000000.5", now, &ms), 0);
    assert_int_equal(ms, 1700000000500LL);
    assert_int_equal(api_history_time("-90m", now, &ms), 0);
    assert_int_equal(ms, now - 5400000);
    assert_int_equal(api_history_time("now", now, &ms), 0);
    assert_int_equal(ms, now);
    const char *bad[] = {"", "-", "1e9", "0x10", "nan", "inf", "1.2.3", "-5y", "--5m", " 5", "5 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(api_history_time(bad[i], now, &ms), -1);
    assert_int_equal(api_history_step("1h", &ms), 0);
    assert_int_equal(ms, HIST_HOUR_MS);
    assert_int_equal(api_history_step("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(api_history_step("-1", &ms), -1);
    assert_int_equal(api_history_step("99999999999999999d", &ms), -1);

    struct histstore *h = open_rw();
    struct hist_reading v[] = {psu("ps1", now - 5000, 500, 40, 0x0002),
                               psu("ps1", now - 4000, 600, 41, HIST_NONE)};
    put(h, v, 2);
    assert_int_equal(hist_rollup(h, err, sizeof(err)), 2);
    hist_close(h);
    char *body;
    assert_int_equal(api_history_psu(hpath, "ps1", true, "-1m", NULL, NULL, now, &body), 200);
    assert_non_null(strstr(body, "\"level\":\"raw\""));
    assert_non_null(strstr(body, "\"pout_w\":500,"));
    assert_non_null(strstr(body, "\"status_word\":\"0x0002\""));
    assert_non_null(strstr(body, "\"fan_rpm\":null"));
    free(body);
    assert_int_equal(api_history_psu(hpath, "ps1", true, "-1h", NULL, "1m", now, &body), 200);
    assert_non_null(strstr(body, "\"n\":2,"));
    assert_non_null(strstr(body, "\"pout_w_max\":600"));
    free(body);
    assert_int_equal(api_history_psu(hpath, "ps9", false, NULL, NULL, NULL, now, &body), 404);
    free(body);
    assert_int_equal(api_history_psu(hpath, "ps9", true, NULL, NULL, NULL, now, &body), 200);
    free(body);
    assert_int_equal(api_history_psu(hpath, "ps1", true, "x", NULL, NULL, now, &body), 400);
    assert_non_null(strstr(body, "from:"));
    free(body);
    assert_int_equal(api_history_psu(hpath, "ps1", true, "-1m", "-2m", NULL, now, &body), 400);
    free(body);
    assert_int_equal(api_history_psu(hpath, "ps1", true, NULL, NULL, "1w", now, &body), 400);
    free(body);
    assert_int_equal(api_history_psu("", "ps1", true, NULL, NULL, NULL, now, &body), 503);
    free(body);
    assert_int_equal(api_history_psu("/nonexistent/h", "ps1", true, NULL, NULL, NULL, now, &body),
                     503);
    free(body);
}

static void test_bad_files_are_refused(void **state)
{
    (void)state;
    assert_null(hist_open(hpath, true, err, sizeof(err)));
    assert_non_null(strstr(err, "no history"));
    FILE *f = fopen(hpath, "w");
    fputs("not a database, not at all, no SQLite header here", f);
    fclose(f);
    assert_null(hist_open(hpath, true, err, sizeof(err)));
    assert_null(hist_open(hpath, false, err, sizeof(err)));
    assert_null(hist_open("/nonexistent/dir/h.db", false, err, sizeof(err)));
    assert_null(histw_start("/nonexistent/dir/h.db", &(struct rackfile_history){.queue = 16}, err,
                            sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_readings_come_back_as_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollup_cuts_at_the_minute_and_the_hour, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_age_keeps_what_is_not_rolled_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_size_holds_the_bound_and_keeps_the_newest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_queue_drops_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_disk_drops_history_and_the_journal_still_writes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels_from_the_journals_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_api_answers_and_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
