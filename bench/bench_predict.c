/*
 * bench_predict.c - what a live prediction costs rackpowerd's loop
 * (docs/benchmarks.md "Live prediction"): one reading through
 * pred_reading, as the engine calls it for each fresh reading of a PSU: a
 * sample into a full window (3 days of readings a minute apart: 4320), its
 * features and the default model's risk. Prints percentiles of the time per
 * evaluation, and what the readings that are not sampled cost. Figures
 * only, never a test.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_io.h"
#include "monoclock.h"
#include "predict.h"
#include "rackfile.h"

static const char rack_text[] = "rack:\n"
                                "  name: bench\n"
                                "  protection: n+1\n"
                                "  buses: [A, B]\n"
                                "  psus:\n"
                                "    - {id: ps1, capacity_w: 3000, buses: [A, B], bus: A}\n"
                                "    - {id: ps2, capacity_w: 3000, buses: [A, B], bus: B}\n"
                                "  servers:\n"
                                "    - {id: s1, power_w: 1500, priority: 1, buses: [A, B]}\n";

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* A healthy PSU's reading at step k: a daily load swing and a little noise. */
static struct driver_psu_reading reading(int k)
{
    double load =
        0.5 + 0.25 * sin(6.283185307179586 * k / 1440.0) + 0.02 * ((k * 7919) % 13 - 6) / 6.0;
    struct driver_psu_reading x = driver_psu_unknown(0);
    x.out_mw = llround(3000000 * load);
    x.in_mw = llround((double)x.out_mw / 0.965);
    x.out_mv = llround(51000 - 300 * load);
    x.out_ma = llround((double)x.out_mw / 51);
    x.in_mv = 230000;
    x.in_ma = llround((double)x.in_mw / 230 / 0.99);
    x.inlet_mc = 25000;
    x.temp_mc = llround(25000 + 4000 + 300.0 * (double)(x.in_mw - x.out_mw) / 1000);
    x.fan_rpm = 8000;
    x.status_word = 0;
    return x;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    if (n < 100)
        n = 100;
    struct rack r;
    char err[400];
    if (rackfile_load_string("bench.yaml", rack_text, strlen(rack_text), &r, NULL, err,
                             sizeof(err))) {
        fprintf(stderr, "bench-predict: %s\n", err);
        return 1;
    }
    /* a minute of model time per second of the clock, one sample a second */
    struct rackfile_prediction conf = {.enabled = 1, .time_scale = 60, .sample_s = 60};
    snprintf(conf.model, sizeof(conf.model), "%s", model_default_path());
    struct predictor p;
    if (pred_open(&p, &conf, &r, 0, 1767225600, err, sizeof(err)) || !p.on) {
        fprintf(stderr, "bench-predict: %s\n", err);
        return 1;
    }
    const int warm = 4320; /* a full window first */
    int64_t *t = malloc((size_t)n * sizeof(*t));
    if (!t)
        return 1;
    enum pred_change_kind kind;
    int episodes = 0;
    for (int k = 0; k < warm + n; k++) {
        struct driver_psu_reading x = reading(k);
        int64_t now = (int64_t)k * 1000000000;
        int64_t t0 = mono_ns();
        int rc = pred_reading(&p, &r, &x, now, &kind, err, sizeof(err));
        int64_t dt = mono_ns() - t0;
        if (rc < 0) {
            fprintf(stderr, "bench-predict: %s\n", err);
            return 1;
        }
        episodes += rc;
        if (k >= warm)
            t[k - warm] = dt;
    }
    qsort(t, (size_t)n, sizeof(*t), cmp);
    double sum = 0;
    for (int k = 0; k < n; k++)
        sum += (double)t[k];
    printf("live prediction: %d evaluations of one PSU with a full window (%zu readings), "
           "default model\n",
           n, p.fleet.psus[p.psu[0].slot].n);
    printf("  per evaluation (sample in, features, risk): mean %.2f us, p50 %.2f us, p99 %.2f us, "
           "p99.9 %.1f us, max %.1f us; %d episodes\n",
           sum / n / 1e3, (double)t[n / 2] / 1e3, (double)t[n * 99 / 100] / 1e3,
           (double)t[n - n / 1000] / 1e3, (double)t[n - 1] / 1e3, episodes);
    /* readings between samples: looked at and left */
    int64_t t0 = mono_ns();
    int skip = 0;
    for (int k = 0; k < n; k++) {
        struct driver_psu_reading x = reading(k);
        int64_t now = (int64_t)(warm + n) * 1000000000 + (int64_t)k * 1000; /* 1 us apart */
        skip += pred_reading(&p, &r, &x, now, &kind, err, sizeof(err)) == 0;
    }
    printf("  a reading between samples (not sampled): %.3f us (%d of %d)\n",
           (double)(mono_ns() - t0) / n / 1e3, skip, n);
    free(t);
    pred_close(&p);
    rack_free(&r);
    return 0;
}
