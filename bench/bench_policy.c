/*
 * bench_policy - figures for the policy core: latency of a full re-plan after
 * a PSU failure, admissions per second, peak memory. Prints; never judges.
 *
 * Racks: 2 buses, 2 feeds, identical fet PSUs wired to both buses (together
 * 90 % of what the servers ask),
 * n+1; servers of 300-900 W, a fifth on bus A only, a fifth on B only, the
 * rest on both, 8 priorities, a third cappable to 60 %. The rack is booted
 * (every server asks at once, admission fills it to the n+1 limit, the rest
 * waits), then each sample restores that booted state and times the policy's
 * answer to the failure of one PSU (re-route, cap, shed, re-admit), cycling
 * over the PSUs. Each size runs in its own process so peak memory is its own.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "policy.h"

static uint64_t rng = 42;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void build(struct rack *r, int nservers, int npsus)
{
    rack_init(r);
    snprintf(r->name, sizeof(r->name), "bench-%d", nservers);
    r->protection = RACK_PROT_N1;
    r->nbuses = 2;
    strcpy(r->buses[0], "A");
    strcpy(r->buses[1], "B");
    r->nfeeds = 2;
    strcpy(r->feeds[0], "F1");
    strcpy(r->feeds[1], "F2");
    r->nservers = nservers;
    r->servers = calloc((size_t)nservers, sizeof(*r->servers));
    int64_t demand = 0;
    for (int i = 0; i < nservers; i++) {
        struct rack_server *s = &r->servers[i];
        snprintf(s->id, sizeof(s->id), "s%d", i + 1);
        s->power_mw = (300 + (int64_t)rnd(601)) * 1000;
        s->min_mw = rnd(3) == 0 ? s->power_mw * 6 / 10 : s->power_mw;
        s->priority = 1 + (int)rnd(8);
        uint32_t k = rnd(5);
        s->wired = k == 0 ? 1u : k == 1 ? 2u : 3u;
        s->chassis = -1;
        s->draw_mw = -1;
        demand += s->power_mw;
    }
    /* PSUs sized so that the rack cannot take every server under n+1: the
     * boot storm leaves some waiting and a failure must cap and shed */
    int64_t psu_mw = demand * 9 / 10 / npsus / 100000 * 100000;
    r->npsus = npsus;
    r->psus = calloc((size_t)npsus, sizeof(*r->psus));
    for (int i = 0; i < npsus; i++) {
        struct rack_psu *q = &r->psus[i];
        snprintf(q->id, sizeof(q->id), "ps%d", i + 1);
        q->rated_mw = q->derated_mw = psu_mw;
        q->feed = i % 2;
        q->wired = 3;
        q->bus = i % 2;
        q->sw = RACK_SWITCH_FET;
        q->switch_ns = RACK_FET_SWITCH_NS;
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run(int nservers, int npsus, int samples)
{
    struct rack r;
    build(&r, nservers, npsus);
    struct policy *p = policy_new(&r);
    struct policy_actions acts = {0};
    char err[128];
    policy_settle(p, &r, 0, &acts);

    /* boot storm: every server asks */
    int64_t t0 = mono_ns();
    for (int i = 0; i < nservers; i++) {
        struct policy_input in = {.kind = POLICY_POWER_ON, .index = i};
        policy_actions_clear(&acts);
        policy_handle(p, &r, &in, 0, &acts, err, sizeof(err));
    }
    double boot_s = (double)(mono_ns() - t0) / 1e9;
    int granted = 0;
    for (int i = 0; i < nservers; i++)
        granted += rack_server_draws(&r.servers[i]);

    struct rack snap;
    rack_copy(&snap, &r);
    int64_t *lat = calloc((size_t)samples, sizeof(*lat));
    size_t nacts = 0;
    for (int k = 0; k < samples; k++) {
        memcpy(r.servers, snap.servers, (size_t)nservers * sizeof(*r.servers));
        memcpy(r.psus, snap.psus, (size_t)npsus * sizeof(*r.psus));
        r.last_change_ns = snap.last_change_ns;
        r.restore_done_ns = snap.restore_done_ns;
        r.is_protected = snap.is_protected;
        r.redundancy_lost = snap.redundancy_lost;
        struct policy_input in = {.kind = POLICY_PSU_FAIL, .index = k % npsus};
        policy_actions_clear(&acts);
        int64_t a = mono_ns();
        policy_handle(p, &r, &in, 1000000000LL, &acts, err, sizeof(err));
        lat[k] = mono_ns() - a;
        nacts += acts.n;
    }
    qsort(lat, (size_t)samples, sizeof(*lat), cmp64);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(
        "%6d servers %4d PSUs of %.1f kW | re-plan after PSU failure: p50 %9.1f us  p99 %9.1f us  "
        "max %9.1f us  (%d samples, %.1f actions each) | admissions %9.0f /s (%d of %d "
        "granted) | peak RSS %ld KiB\n",
        nservers, npsus, (double)r.psus[0].rated_mw / 1e6, (double)lat[samples / 2] / 1e3,
        (double)lat[(size_t)samples * 99 / 100] / 1e3, (double)lat[samples - 1] / 1e3, samples,
        (double)nacts / samples, nservers / boot_s, granted, nservers, ru.ru_maxrss);
    fflush(stdout);
    free(lat);
    rack_free(&snap);
    policy_actions_free(&acts);
    policy_free(p);
    rack_free(&r);
}

static void usage(FILE *f, int code)
{
    fputs("usage: bench-policy [SCALE]\n"
          "  SCALE multiplies the samples of each rack size (default 1)\n",
          f);
    exit(code);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* any mistake shows the usage */
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        usage(c == 'h' ? stdout : stderr, c == 'h' ? 0 : 2);
    if (argc - optind > 1)
        usage(stderr, 2);
    int scale = optind < argc ? atoi(argv[optind]) : 1;
    if (scale < 1)
        scale = 1;
    static const struct {
        int servers, psus, samples;
    } sizes[] = {{48, 12, 20000}, {1000, 180, 2000}, {10000, 1800, 200}};
    printf("bench-policy: n+1, 2 buses, equal fet PSUs (90 %% of the demand); times are wall clock "
           "on this machine\n");
    fflush(stdout);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        pid_t pid = fork();
        if (pid == 0) {
            run(sizes[i].servers, sizes[i].psus, sizes[i].samples * scale);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
    }
    return 0;
}
