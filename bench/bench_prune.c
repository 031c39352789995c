/*
 * bench_prune.c - what pruning the journal costs the loop's writes
 * (docs/benchmarks.md). Fills a journal with N events (about 300 bytes of
 * JSON each, one second apart, the oldest N seconds ago), then appends one
 * event every 2 ms in its own transaction, as the loop journals decisions,
 * and times each append (begin, append, commit with synchronous=FULL):
 * first alone, then while the pruner (src/daemon/prune.c, its own thread
 * and connection) deletes the oldest 90 % by age. Prints the appends'
 * percentiles in both phases and how fast the pruner went. Figures only.
 *
 * Usage: bench-prune [N] [DIR]  (N default 200000; DIR default /tmp)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monoclock.h"
#include "prune.h"
#include "store.h"

#define APPEND_EVERY_NS 2000000LL

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *event(double t)
{
    return json_pack("{si s:f ss ss si si si si ss}", "id", 0, "time", t, "event", "grant",
                     "server", "db1", "watts", 1000, "priority", 1, "capacity_w", 10000,
                     "allocated_w", 5000, "reason",
                     "fits with n+1 kept: 5000 of 10000 W allocated; a reason about as long as the "
                     "policy's usual ones, with its figures, so that an event is near 300 bytes");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_i64);
    printf("%-28s %6zu appends: p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", what, n,
           (double)v[n / 2] / 1e6, (double)v[n * 99 / 100] / 1e6, (double)v[n - 1] / 1e6);
}

/* One append as the loop makes it; returns its duration. */
static int64_t append_one(struct store *s)
{
    char err[256];
    int64_t t0 = mono_ns();
    json_t *ev = event(wall_now());
    if (store_begin(s, err, sizeof(err)) || store_append(s, ev, err, sizeof(err)) < 0 ||
        store_commit(s, err, sizeof(err))) {
        fprintf(stderr, "bench-prune: %s\n", err);
        exit(1);
    }
    json_decref(ev);
    return mono_ns() - t0;
}

/* Appends every 2 ms until done() or max_n; durations into v. */
static size_t run_appends(struct store *s, int64_t *v, size_t max_n, struct pruner *p,
                          int64_t target)
{
    size_t n = 0;
    int64_t next = mono_ns();
    while (n < max_n && (!p || pruner_deleted(p) < target)) {
        v[n++] = append_one(s);
        next += APPEND_EVERY_NS;
        int64_t left = next - mono_ns();
        if (left > 0) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left};
            nanosleep(&ts, NULL);
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    long nevents = argc > 1 ? atol(argv[1]) : 200000;
    const char *base = argc > 2 ? argv[2] : "/tmp";
    char dir[512], path[600], err[512];
    if (nevents < 1000) {
        fprintf(stderr, "usage: bench-prune [N >= 1000] [DIR]\n");
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s/bench-prune.XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/rp.db", dir);
    log_init("bench-prune", false);
    struct store *s = store_open(path, false, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "bench-prune: %s\n", err);
        return 1;
    }

    /* the journal: N events, one second apart, the newest now */
    double now = wall_now();
    int64_t t0 = mono_ns();
    for (long k = 0; k < nevents;) {
        if (store_begin(s, err, sizeof(err)))
            goto fail;
        for (int j = 0; j < 1000 && k < nevents; j++, k++) {
            json_t *ev = event(now - (double)(nevents - k));
            int64_t id = store_append(s, ev, err, sizeof(err));
            json_decref(ev);
            if (id < 0)
                goto fail;
        }
        if (store_commit(s, err, sizeof(err)))
            goto fail;
    }
    printf("journal: %ld events written in %.1f s\n", nevents, (double)(mono_ns() - t0) / 1e9);

    size_t max_n = 200000;
    int64_t *v = calloc(max_n, sizeof(*v));
    if (!v)
        return 1;
    size_t n = run_appends(s, v, 1500, NULL, 0);
    report("alone:", v, n);

    /* keep the newest 10 %: the oldest 90 % are older than the limit */
    struct rackfile_journal lim = {.max_age_ns = (int64_t)((double)nevents * 0.1 * 1e9),
                                   .max_bytes = INT64_MAX};
    int64_t target = nevents * 9 / 10 - 1;
    t0 = mono_ns();
    struct pruner *p = pruner_start(path, &lim, err, sizeof(err));
    if (!p)
        goto fail;
    n = run_appends(s, v, max_n, p, target);
    double took_s = (double)(mono_ns() - t0) / 1e9;
    int64_t deleted = pruner_deleted(p);
    pruner_stop(p);
    report("while pruning:", v, n);
    printf("pruned: %lld events in %.2f s (%.0f events/s, batches of %d, 10 ms apart)\n",
           (long long)deleted, took_s, (double)deleted / took_s, PRUNE_BATCH);
    free(v);
    store_close(s);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench-prune: could not remove %s\n", dir);
    return 0;
fail:
    fprintf(stderr, "bench-prune: %s\n", err);
    return 1;
}
