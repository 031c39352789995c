/*
 * bench_balance.c - what balancing saves and what it costs (issue 11 section
 * 7, docs/benchmarks.md "Balancing"):
 * - the demo rack's conversion loss with every PSU awake sharing its bus in
 *   proportion to capacity (as the hardware shares unplanned) against the
 *   plan's, at 20, 50 and 80 % load;
 * - the plan's gap to balance_exhaustive on the random small racks of
 *   test_balance_property.c (tests/balance_rack.h: the same racks);
 * - the time per re-balance: on those racks, and on large racks re-planned
 *   as their load drifts.
 * Figures only, never a pass/fail test.
 *
 * Usage: bench-balance [--rack FILE] [--racks N] [--seed S]
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balance.h"
#include "balance_rack.h"
#include "flow.h"
#include "policy.h"
#include "rackfile.h"
#include "splitmix.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of n sorted values. */
static int64_t quantile(const int64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)ceil(q * (double)n);
    return v[k > 0 ? k - 1 : 0];
}

static struct balance *new_balance(const struct rack *r, bool hysteresis)
{
    struct balance_conf conf;
    balance_conf_default(&conf);
    if (!hysteresis) { /* the plan is the search's best */
        conf.min_saving_mw = 0;
        conf.min_saving_pct = 0;
    }
    return balance_new(r, &conf);
}

/*
 * The demo rack at a load: its servers' power_w scaled so that their sum is
 * the load, granted by the policy at the protection given, the bus loads
 * their grants as flow_rack spreads them. Prints the loss with every PSU
 * awake sharing by capacity and the plan's.
 */
static int demo_point(const struct rack *file, int pct, int64_t of_mw, enum rack_protection prot)
{
    struct rack r;
    if (rack_copy(&r, file)) {
        fprintf(stderr, "bench-balance: out of memory\n");
        return -1;
    }
    r.protection = prot;
    int64_t want = of_mw * pct / 100, sum = 0;
    for (int i = 0; i < r.nservers; i++)
        sum += r.servers[i].power_mw;
    for (int i = 0; i < r.nservers; i++) {
        struct rack_server *s = &r.servers[i];
        s->power_mw = s->power_mw * want / sum;
        s->min_mw = s->power_mw; /* no caps: the load is what it is */
    }
    struct policy *pol = policy_new(&r);
    struct policy_actions a = {0};
    char err[256];
    policy_settle(pol, &r, 0, &a);
    for (int i = 0; i < r.nservers; i++) {
        struct policy_input in = {.kind = POLICY_POWER_ON, .index = i};
        policy_handle(pol, &r, &in, 0, &a, err, sizeof(err));
    }
    int64_t cap[RACK_MAX_BUSES], load[RACK_MAX_BUSES];
    flow_rack(&r, NULL, cap, load);
    int64_t equal = balance_rack_loss_mw(&r, load);
    struct balance *b = new_balance(&r, false);
    struct balance_plan pl;
    int rc = -1;
    if (b && balance_plan_init(&pl, r.npsus) == 0) {
        if (balance_plan(b, &r, load, 0, &pl, err, sizeof(err)) == 0) {
            int standby = 0;
            for (int i = 0; i < r.npsus; i++)
                standby += pl.psus[i].standby;
            int64_t after = pl.changed ? pl.loss_after_mw : equal;
            printf("  %3d %% %6.0f W  %-5s %-3s  %7.1f W  %7.1f W  %6.1f W  %5.1f %%  %d standby\n",
                   pct, (double)rack_allocated_mw(&r) / 1e3, rack_protection_name(r.protection),
                   r.is_protected ? "yes" : "no", (double)equal / 1e3, (double)after / 1e3,
                   (double)(equal - after) / 1e3,
                   equal > 0 ? 100.0 * (double)(equal - after) / (double)equal : 0.0, standby);
            rc = 0;
        } else {
            fprintf(stderr, "bench-balance: %s\n", err);
        }
        balance_plan_free(&pl);
    }
    balance_free(b);
    policy_actions_free(&a);
    policy_free(pol);
    rack_free(&r);
    return rc;
}

static int demo_rack(const char *path)
{
    struct rack r;
    struct rackfile_timeline tl = {0}; /* a scenario's timeline is not played */
    char err[512];
    if (rackfile_load(path, &r, &tl, err, sizeof(err))) {
        fprintf(stderr, "bench-balance: %s\n", err);
        return -1;
    }
    rackfile_timeline_free(&tl);
    int64_t cap = rack_capacity_mw(&r), largest = 0;
    for (int i = 0; i < r.npsus; i++)
        if (r.psus[i].rated_mw > largest)
            largest = r.psus[i].rated_mw;
    printf("demo rack %s (%s): %d PSUs, %.0f W, %d buses; loss with every PSU awake sharing its "
           "bus by capacity (equal) against the plan (balanced), at the granted load\n",
           r.name, path, r.npsus, (double)cap / 1e3, r.nbuses);
    printf("  load   granted  level prot equal      balanced   saved    saved\n");
    int rc = 0;
    /* of the rated capacity, at the rack's protection where it can hold
     * (n+1 cannot carry more than the capacity less its largest PSU) */
    static const int pcts[] = {20, 50, 80};
    for (size_t k = 0; k < sizeof(pcts) / sizeof(*pcts) && rc == 0; k++) {
        bool holds = r.protection == RACK_PROT_NONE || cap * pcts[k] / 100 <= cap - largest;
        rc = demo_point(&r, pcts[k], cap, holds ? r.protection : RACK_PROT_NONE);
    }
    printf("  of the capacity n+1 protects (%.0f W: the rack less its largest PSU), at n+1:\n",
           (double)(cap - largest) / 1e3);
    for (size_t k = 0; k < sizeof(pcts) / sizeof(*pcts) && rc == 0; k++)
        rc = demo_point(&r, pcts[k], cap - largest, r.protection);
    rack_free(&r);
    return rc;
}

/* The random small racks: gap to the exhaustive optimum, time per plan. */
static int small_racks(uint64_t seed, int n)
{
    int64_t *t = calloc((size_t)n, sizeof(*t));
    if (!t)
        return -1;
    size_t nt = 0;
    long compared = 0, over = 0;
    double sum_gap = 0, worst = 0;
    int worst_idx = -1;
    for (int idx = 0; idx < n; idx++) {
        struct rack r;
        int event, no_sb;
        int64_t load[RACK_MAX_BUSES];
        struct policy *pol = balance_case(seed, idx, &r, &event, &no_sb, load);
        struct balance *b = new_balance(&r, false);
        struct balance_plan pl, ex;
        char err[256];
        if (no_sb >= 0)
            balance_set_can_standby(b, no_sb, false);
        balance_plan_init(&pl, r.npsus);
        balance_plan_init(&ex, r.npsus);
        int64_t t0 = now_ns();
        int rc = balance_plan(b, &r, load, 1000000000000LL, &pl, err, sizeof(err));
        t[nt++] = now_ns() - t0;
        int64_t lower;
        if (rc == 0 && r.npsus <= 6 &&
            balance_exhaustive(b, &r, load, &ex, &lower, err, sizeof(err)) == 0) {
            double best = (double)ex.loss_after_mw, got = (double)pl.loss_after_mw;
            double gap = best > 0 ? (got - best) / best : 0;
            compared++;
            sum_gap += gap;
            over += gap > 0.01;
            if (gap > worst) {
                worst = gap;
                worst_idx = idx;
            }
        }
        balance_plan_free(&pl);
        balance_plan_free(&ex);
        balance_free(b);
        policy_free(pol);
        rack_free(&r);
    }
    qsort(t, nt, sizeof(*t), cmp_i64);
    printf("random small racks (tests/balance_rack.h, seed %" PRIu64 ", %d racks of 2-6 PSUs, 1-3 "
           "buses, failures, unknowns and feeds down among them):\n",
           seed, n);
    printf("  against balance_exhaustive on %ld racks: mean gap %.3f %%, worst %.3f %% (rack %d), "
           "%ld above 1 %%\n",
           compared, compared ? 100 * sum_gap / (double)compared : 0.0, 100 * worst, worst_idx,
           over);
    printf("  time per plan: median %.1f us, p99 %.1f us, max %.1f us\n",
           (double)quantile(t, nt, 0.5) / 1e3, (double)quantile(t, nt, 0.99) / 1e3,
           (double)t[nt - 1] / 1e3);
    free(t);
    return 0;
}

/*
 * A large rack: npsus PSUs of 3000 W (titanium) on nbuses buses, every one
 * wired to every bus by a fet, two feeds; servers of 500-1500 W wired to one
 * or two buses, granted at n+1 until half the capacity is asked.
 */
static void large_rack(struct rack *r, uint64_t *g, int npsus, int nbuses)
{
    rack_init(r);
    r->protection = RACK_PROT_N1;
    r->nbuses = nbuses;
    for (int b = 0; b < nbuses; b++)
        snprintf(r->buses[b], RACK_ID_LEN, "B%d", b + 1);
    r->nfeeds = 2;
    snprintf(r->feeds[0], RACK_ID_LEN, "F1");
    snprintf(r->feeds[1], RACK_ID_LEN, "F2");
    r->npsus = npsus;
    r->psus = calloc((size_t)npsus, sizeof(*r->psus));
    for (int i = 0; i < npsus; i++) {
        struct rack_psu *p = &r->psus[i];
        snprintf(p->id, RACK_ID_LEN, "ps%d", i + 1);
        p->rated_mw = p->derated_mw = 3000000;
        p->feed = i % 2;
        p->wired = (1u << nbuses) - 1;
        p->bus = i % nbuses;
        p->sw = RACK_SWITCH_FET;
        p->switch_ns = rack_switch_default_ns(p->sw);
    }
    int64_t asked = 0, half = (int64_t)npsus * 3000000 / 2;
    int n = 0;
    r->servers = calloc((size_t)npsus * 4, sizeof(*r->servers));
    while (asked < half && n < npsus * 4) {
        struct rack_server *s = &r->servers[n];
        snprintf(s->id, RACK_ID_LEN, "srv%d", n + 1);
        s->power_mw = s->min_mw = 1000 * (500 + pick(g, 1001));
        s->priority = 1 + pick(g, 3);
        int b = pick(g, nbuses);
        s->wired = 1u << b;
        if (pick(g, 2))
            s->wired |= 1u << ((b + 1) % nbuses);
        s->chassis = -1;
        s->draw_mw = s->on_draw_mw = -1;
        asked += s->power_mw;
        n++;
    }
    r->nservers = n;
}

/* Re-balances of a large rack as its load drifts (each bus's load a random
 * walk of +-5 % a step between 30 and 100 % of its grants), with the
 * default hysteresis, the plan carried out each time. */
static int large_racks_at(uint64_t seed, int64_t max_evals);

/* The large racks without a bound on a plan's evaluations (minutes for 96
 * PSUs; --bound-only leaves it out), then with the bound rackpowerd plans
 * with (balance.h BALANCE_LOOP_MAX_EVALS). */
static int large_racks(uint64_t seed, bool bound_only)
{
    printf("re-balances of large racks (3000 W titanium PSUs on fets wired to every bus, n+1, "
           "half the capacity granted, loads drifting +-5 %% a step, default hysteresis):\n");
    if (!bound_only) {
        printf(" no bound on a plan's evaluations:\n");
        large_racks_at(seed, 0);
    }
    printf(" at most %d PSU evaluations a plan (rackpowerd's bound):\n", BALANCE_LOOP_MAX_EVALS);
    return large_racks_at(seed, BALANCE_LOOP_MAX_EVALS);
}

static int large_racks_at(uint64_t seed, int64_t max_evals)
{
    static const struct {
        int npsus, nbuses, steps;
    } sizes[] = {{8, 2, 200}, {24, 4, 100}, {48, 4, 40}, {96, 8, 10}};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
        uint64_t g = seed + k;
        struct rack r;
        large_rack(&r, &g, sizes[k].npsus, sizes[k].nbuses);
        struct policy *pol = policy_new(&r);
        struct policy_actions a = {0};
        char err[256];
        policy_settle(pol, &r, 0, &a);
        for (int i = 0; i < r.nservers; i++) {
            struct policy_input in = {.kind = POLICY_POWER_ON, .index = i};
            policy_handle(pol, &r, &in, 0, &a, err, sizeof(err));
        }
        struct balance_conf conf;
        balance_conf_default(&conf);
        conf.max_evals = max_evals;
        struct balance *b = balance_new(&r, &conf);
        struct balance_plan pl;
        balance_plan_init(&pl, r.npsus);
        int64_t evals = 0, bounded = 0;
        int64_t cap[RACK_MAX_BUSES], grant[RACK_MAX_BUSES], load[RACK_MAX_BUSES];
        double u[RACK_MAX_BUSES];
        flow_rack(&r, NULL, cap, grant);
        for (int bb = 0; bb < r.nbuses; bb++)
            u[bb] = 0.7;
        int n = sizes[k].steps;
        int64_t *t = calloc((size_t)n, sizeof(*t));
        int changed = 0;
        double first_loss = 0, first_saved = 0, last_loss = 0;
        for (int step = 0; step < n && t; step++) {
            for (int bb = 0; bb < r.nbuses; bb++) {
                u[bb] += (splitmix64_unit(&g) - 0.5) * 0.1;
                u[bb] = u[bb] < 0.3 ? 0.3 : u[bb] > 1 ? 1 : u[bb];
                load[bb] = (int64_t)((double)grant[bb] * u[bb]);
            }
            int64_t now = (int64_t)step * 10000000000LL; /* every 10 s */
            int64_t t0 = now_ns();
            if (balance_plan(b, &r, load, now, &pl, err, sizeof(err))) {
                fprintf(stderr, "bench-balance: %s\n", err);
                break;
            }
            t[step] = now_ns() - t0;
            evals += pl.evals;
            bounded += pl.bounded;
            if (step == 0) {
                first_loss = (double)pl.loss_before_mw / 1e3;
                first_saved = (double)(pl.loss_before_mw - pl.loss_after_mw) / 1e3;
            }
            changed += pl.changed;
            last_loss = (double)pl.loss_after_mw / 1e3;
            policy_actions_clear(&a);
            balance_apply(b, &r, &pl, now, &a);
        }
        if (t) {
            qsort(t, (size_t)n, sizeof(*t), cmp_i64);
            printf("  %3d PSUs, %d buses, %4d servers (%6.0f W granted): first plan saves %6.1f "
                   "of %6.1f W; %3d re-plans, %3d changed the rack, %3lld stopped at the bound, "
                   "%7.0f PSU evaluations a plan; last plan's loss %6.1f W; median %8.1f us, p99 "
                   "%8.1f us, max %8.1f us\n",
                   r.npsus, r.nbuses, r.nservers, (double)rack_allocated_mw(&r) / 1e3, first_saved,
                   first_loss, n, changed, (long long)bounded, (double)evals / n, last_loss,
                   (double)quantile(t, (size_t)n, 0.5) / 1e3,
                   (double)quantile(t, (size_t)n, 0.99) / 1e3, (double)t[n - 1] / 1e3);
        }
        free(t);
        balance_plan_free(&pl);
        balance_free(b);
        policy_actions_free(&a);
        policy_free(pol);
        rack_free(&r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *rack = "examples/demo.yaml";
    int racks = 1500;
    uint64_t seed = 11;
    bool bound_only = false;
    static const struct option opts[] = {
        {"rack", required_argument, NULL, 'r'}, {"racks", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'}, {"bound-only", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'r':
            rack = optarg;
            break;
        case 'n':
            racks = (int)strtol(optarg, &end, 10);
            if (*end || racks < 1 || racks > 10000000) {
                fprintf(stderr, "bench-balance: --racks: expected 1 to 10000000, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 's':
            seed = strtoull(optarg, &end, 0);
            if (*end || !*optarg) {
                fprintf(stderr, "bench-balance: --seed: expected a number, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'b':
            bound_only = true;
            break;
        case 'h':
            printf("usage: bench-balance [--rack FILE] [--racks N] [--seed S] [--bound-only]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (demo_rack(rack) || small_racks(seed, racks) || large_racks(seed, bound_only))
        return 1;
    return 0;
}
