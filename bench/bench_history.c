/*
 * bench_history.c - what the telemetry history costs (docs/benchmarks.md,
 * "History"): the loop's push per reading, the writer thread's write per
 * reading, and the database's growth per PSU-day with the default
 * retention (raw 24 h, minutes 30 days, hours 2 years); the start's filling
 * of the predictor's windows from the history (predict_history.h) on an
 * ORv3 rack's 18 PSUs with 72 h of minutes each.
 *
 *   bench-history [DIR]   (default /tmp; a fresh file is made there)
 *
 * Figures only, never a test.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "history.h"
#include "histstore.h"
#include "predict_history.h"
#include "rackfile.h"

#define PSUS 48
#define SECONDS 600 /* of readings, one a second per PSU, through the writer */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static struct hist_reading reading(int psu, int64_t t_ms, int k)
{
    struct hist_reading r = {.t_ms = t_ms, .kind = HIST_PSU, .bits = k % 97 ? 0 : 0x0040};
    snprintf(r.elem, sizeof(r.elem), "ps%d", psu);
    /* every section-2 figure, varying as readings do */
    r.v[HIST_VIN_MV] = 230000 + k % 1500;
    r.v[HIST_IIN_MA] = 5000 + k % 700;
    r.v[HIST_VOUT_MV] = 50800 + k % 60;
    r.v[HIST_IOUT_MA] = 22000 + k % 900;
    r.v[HIST_PIN_MW] = 1180000 + k % 20000;
    r.v[HIST_POUT_MW] = 1150000 + k % 20000;
    r.v[HIST_TEMP_MC] = 35000 + k % 5000;
    r.v[HIST_INLET_MC] = 24000 + k % 2000;
    r.v[HIST_FAN_RPM] = 9000 + k % 800;
    return r;
}

/* Removes a database file and its WAL and shared-memory files. */
static void remove_db(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    char rm[4200];
    for (int i = 0; i < 3; i++) {
        snprintf(rm, sizeof(rm), "%s%s", path, sfx[i]);
        unlink(rm);
    }
}

/* The predictor's windows filled at start: PRIME_PSUS PSUs, the default
 * model's window (72 h) of readings a minute apart, rolled up into minutes,
 * read back and evaluated as rackpowerd's start does. */
#define PRIME_PSUS 18
static int bench_prime(const char *dir)
{
    char path[4096], err[600], rack[8192];
    snprintf(path, sizeof(path), "%s/bench_prime_%d.db", dir, (int)getpid());
    int n = snprintf(rack, sizeof(rack),
                     "rack:\n  name: r\n  protection: none\n  buses: [A]\n"
                     "  psus:\n");
    for (int i = 0; i < PRIME_PSUS; i++)
        n += snprintf(rack + n, sizeof(rack) - (size_t)n,
                      "    - {id: ps%d, capacity_w: 3000, buses: [A], bus: A}\n", i);
    struct rack r;
    if (rackfile_load_string("bench.yaml", rack, strlen(rack), &r, NULL, err, sizeof(err))) {
        fprintf(stderr, "bench-history: %s\n", err);
        return 1;
    }
    struct histstore *h = hist_open(path, false, err, sizeof(err));
    if (!h) {
        fprintf(stderr, "bench-history: %s\n", err);
        return 1;
    }
    int64_t start_s = (int64_t)time(NULL);
    int64_t t0_ms = (start_s - 72 * 3600) * 1000;
    static struct hist_reading hour[60 * PRIME_PSUS];
    int64_t w0 = now_ns();
    for (int hr = 0; hr < 72; hr++) {
        for (int m = 0; m < 60; m++)
            for (int i = 0; i < PRIME_PSUS; i++) {
                int k = (hr * 60 + m) * PRIME_PSUS + i;
                struct hist_reading x = reading(i, t0_ms + (hr * 60 + m) * 60000LL, k);
                snprintf(x.elem, sizeof(x.elem), "ps%d", i);
                hour[m * PRIME_PSUS + i] = x;
            }
        if (hist_put(h, hour, 60 * PRIME_PSUS, NULL, 0, err, sizeof(err)) ||
            hist_rollup(h, err, sizeof(err)) < 0) {
            fprintf(stderr, "bench-history: %s\n", err);
            return 1;
        }
    }
    int64_t write_ns = now_ns() - w0;
    hist_close(h);
    struct rackfile_prediction conf = {.enabled = 1};
    struct predictor p;
    if (pred_open(&p, &conf, &r, now_ns(), start_s, err, sizeof(err)) || !p.on) {
        fprintf(stderr, "bench-history: the default model: %s\n", err);
        return 1;
    }
    struct pred_history_stats st;
    if (pred_history_prime(&p, &r, path, &st, err, sizeof(err))) {
        fprintf(stderr, "bench-history: %s\n", err);
        return 1;
    }
    int have = 0;
    for (int i = 0; i < PRIME_PSUS; i++)
        have += p.psu[i].have;
    printf("  windows filled at start: %d PSUs x 72 h of minutes (written in %.1f s): %" PRId64
           " rows read, %" PRId64 " samples evaluated, %d PSUs with a risk, in %" PRId64
           " ms (%.1f us a sample)\n",
           PRIME_PSUS, (double)write_ns / 1e9, st.rows, st.primed, have, st.ms,
           st.primed ? (double)st.ms * 1e3 / (double)st.primed : 0.0);
    pred_close(&p);
    rack_free(&r);
    remove_db(path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[4096], err[600];
    snprintf(path, sizeof(path), "%s/bench_history_%d.db", dir, (int)getpid());
    struct rackfile_history conf = {.enabled = 1,
                                    .raw_keep_ns = 24 * 3600e9,
                                    .minute_keep_ns = 30 * 86400e9,
                                    .hour_keep_ns = 730 * 86400e9,
                                    .max_bytes = 1000000000,
                                    .queue = 8192};
    struct histw *w = histw_start(path, &conf, err, sizeof(err));
    if (!w) {
        fprintf(stderr, "bench-history: %s\n", err);
        return 1;
    }
    /* the loop's side: one push per reading, PSUS readings a second, sent
     * as fast as they go (the worst case for contention with the writer) */
    size_t n = (size_t)PSUS * SECONDS;
    int64_t *push = malloc(n * sizeof(*push));
    int64_t t0_ms = (int64_t)time(NULL) * 1000 - SECONDS * 1000LL;
    int64_t start = now_ns();
    size_t dropped = 0;
    for (size_t k = 0; k < n; k++) {
        struct hist_reading r =
            reading((int)(k % PSUS), t0_ms + (int64_t)(k / PSUS) * 1000, (int)k);
        int64_t a = now_ns();
        dropped += !histw_push(w, &r);
        push[k] = now_ns() - a;
        if (k % PSUS == PSUS - 1) { /* a poll's worth, then a breath as the loop has */
            struct timespec gap = {0, 200000};
            nanosleep(&gap, NULL);
        }
    }
    histw_flush(w);
    int64_t wall = now_ns() - start;
    struct histw_stats st;
    histw_stats(w, &st);
    qsort(push, n, sizeof(*push), cmp64);
    printf("history: %d PSUs x %d s of readings, %zu pushes in %.2f s (%zu dropped: queue full)\n",
           PSUS, SECONDS, n, (double)wall / 1e9, dropped);
    printf("  loop: push p50 %" PRId64 " ns, p99 %" PRId64 " ns, max %" PRId64 " ns\n", push[n / 2],
           push[n * 99 / 100], push[n - 1]);
    printf("  writer: %" PRIu64 " readings written, %.2f us each in hist_put (batched)\n",
           st.written, st.written ? (double)st.write_ns / (double)st.written / 1e3 : 0.0);
    histw_stop(w);
    free(push);

    /* growth: one PSU-day of raw readings at 1 s and its rollups */
    struct histstore *h = hist_open(path, false, err, sizeof(err));
    if (!h) {
        fprintf(stderr, "bench-history: %s\n", err);
        return 1;
    }
    int64_t before = hist_bytes(h);
    static struct hist_reading day[3600];
    int64_t d0 = 1700000000000LL;
    int64_t rt0 = now_ns();
    for (int hour = 0; hour < 24; hour++) {
        for (int s = 0; s < 3600; s++)
            day[s] = reading(999, d0 + (hour * 3600LL + s) * 1000, hour * 3600 + s);
        if (hist_put(h, day, 3600, NULL, 0, err, sizeof(err))) {
            fprintf(stderr, "bench-history: %s\n", err);
            return 1;
        }
    }
    int64_t put_ns = now_ns() - rt0;
    int64_t raw_day = hist_bytes(h) - before;
    rt0 = now_ns();
    if (hist_rollup(h, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench-history: %s\n", err);
        return 1;
    }
    int64_t roll_ns = now_ns() - rt0;
    int64_t rolled_day = hist_bytes(h) - before - raw_day;
    /* the minutes and hours of one day: 1440 and 24 rows */
    double minute_row = (double)rolled_day / (1440.0 + 24.0);
    double steady = (double)raw_day + minute_row * (1440.0 * 30 + 24.0 * 730);
    printf("  growth per PSU-day at 1 reading/s: raw %.1f MB (%.0f bytes a reading), "
           "rollups %.0f kB (%.0f bytes a row)\n",
           (double)raw_day / 1e6, (double)raw_day / 86400.0, (double)rolled_day / 1e3, minute_row);
    printf("  one PSU kept at the defaults (24 h raw, 30 days of minutes, 2 years of hours): "
           "%.1f MB\n",
           steady / 1e6);
    printf("  a day's 86400 readings: hist_put %.2f us each in 1 h batches, rollup %.0f ms\n",
           (double)put_ns / 86400.0 / 1e3, (double)roll_ns / 1e6);
    hist_close(h);
    remove_db(path);
    return bench_prime(dir);
}
