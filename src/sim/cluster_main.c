/*
 * cluster_main.c - the command line of rackpower-sim cluster (cluster.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

static void usage(FILE *f)
{
    fputs("usage: rackpower-sim cluster SCENARIO.yaml [--controllers N] [--seeds A..B]\n"
          "         [--heartbeat-ms 100] [--missed 3] [--poll-ms 200] [--no-faults]\n"
          "         [--sabotage fence|commit|adopt] [--stop] [--trace]\n"
          "  Runs N controllers (their node state machines, the policy, the fenced\n"
          "  devices and the rack) in one process, in virtual time, once per seed, with\n"
          "  the faults each seed draws: lost, duplicated, delayed and reordered\n"
          "  datagrams, partitions (both ways and one way), crashes and restarts with\n"
          "  and without disk, clock drift, forged and replayed datagrams; and the\n"
          "  scenario's timeline. After every step it checks the invariants of\n"
          "  docs/controllers.md (\"Simulation\"); a seed that breaks one prints the\n"
          "  line that replays it.\n"
          "  --controllers N   1 to 16 (default 3)\n"
          "  --seeds A..B      the seeds to run, both included, or one seed (default 1..100)\n"
          "  --heartbeat-ms N  the nodes' heartbeat (default 100)\n"
          "  --missed N        heartbeats missed before the primary is lost (default 3)\n"
          "  --poll-ms N       how often the primary reads the devices (default 200)\n"
          "  --no-faults       no fault at all: a healthy cluster playing the timeline\n"
          "  --sabotage WHAT   break the simulated controllers on purpose, to see the\n"
          "                    checks catch it: fence (no fencing), commit (raises\n"
          "                    before their commit), adopt (no reading of the devices)\n"
          "  --stop            stop after the first seed that fails\n"
          "  --trace           print every fault, role change, device write and decision\n"
          "  -h, --help        print this and exit\n"
          "  Exit status: 0 every seed passed, 1 a seed broke an invariant or the\n"
          "  scenario does not load, 2 bad command line.\n",
          f);
}

static int number(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || end == s || s[0] == '-' || x < lo || x > hi) {
        fprintf(stderr,
                "rackpower-sim cluster: %s: '%s' is not an integer in %" PRIu64 "..%" PRIu64 "\n",
                opt, s, lo, hi);
        return -1;
    }
    *v = x;
    return 0;
}

static int seeds(const char *s, uint64_t *a, uint64_t *b)
{
    const char *dots = strstr(s, "..");
    if (!dots)
        return number("--seeds", s, 0, UINT64_MAX, a) || (*b = *a, 0);
    char first[32];
    size_t n = (size_t)(dots - s);
    if (n == 0 || n >= sizeof(first)) {
        fprintf(stderr, "rackpower-sim cluster: --seeds: '%s' is not A..B\n", s);
        return -1;
    }
    memcpy(first, s, n);
    first[n] = 0;
    if (number("--seeds", first, 0, UINT64_MAX, a) || number("--seeds", dots + 2, 0, UINT64_MAX, b))
        return -1;
    if (*b < *a) {
        fprintf(stderr, "rackpower-sim cluster: --seeds: %s ends before it starts\n", s);
        return -1;
    }
    return 0;
}

int cluster_main(int argc, char **argv)
{
    struct cluster_opts o = {
        .controllers = 3,
        .seed_from = 1,
        .seed_to = 100,
        .heartbeat_ns = 100000000LL,
        .missed = 3,
        .poll_ns = 200000000LL,
        .faults = true,
        .out = stdout,
    };
    enum {
        OPT_CONTROLLERS = 256,
        OPT_SEEDS,
        OPT_HEARTBEAT,
        OPT_MISSED,
        OPT_POLL,
        OPT_NOFAULTS,
        OPT_TRACE,
        OPT_SABOTAGE,
        OPT_STOP
    };
    static const struct option longopts[] = {
        {"controllers", required_argument, NULL, OPT_CONTROLLERS},
        {"seeds", required_argument, NULL, OPT_SEEDS},
        {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
        {"missed", required_argument, NULL, OPT_MISSED},
        {"poll-ms", required_argument, NULL, OPT_POLL},
        {"no-faults", no_argument, NULL, OPT_NOFAULTS},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"sabotage", required_argument, NULL, OPT_SABOTAGE},
        {"stop", no_argument, NULL, OPT_STOP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_CONTROLLERS:
            if (number("--controllers", optarg, 1, CLUSTER_MAX_CONTROLLERS, &v))
                return 2;
            o.controllers = (int)v;
            break;
        case OPT_SEEDS:
            if (seeds(optarg, &o.seed_from, &o.seed_to))
                return 2;
            break;
        case OPT_HEARTBEAT:
            if (number("--heartbeat-ms", optarg, 1, 60000, &v))
                return 2;
            o.heartbeat_ns = (int64_t)v * 1000000LL;
            break;
        case OPT_MISSED:
            if (number("--missed", optarg, 1, 100, &v))
                return 2;
            o.missed = (int)v;
            break;
        case OPT_POLL:
            if (number("--poll-ms", optarg, 1, 60000, &v))
                return 2;
            o.poll_ns = (int64_t)v * 1000000LL;
            break;
        case OPT_NOFAULTS:
            o.faults = false;
            break;
        case OPT_TRACE:
            o.trace = true;
            break;
        case OPT_STOP:
            o.stop = true;
            break;
        case OPT_SABOTAGE:
            if (strcmp(optarg, "fence") && strcmp(optarg, "commit") && strcmp(optarg, "adopt")) {
                fprintf(stderr,
                        "rackpower-sim cluster: --sabotage: '%s' is not fence, commit or "
                        "adopt\n",
                        optarg);
                return 2;
            }
            o.sabotage = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "rackpower-sim cluster: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            if (optopt)
                fprintf(stderr, "rackpower-sim cluster: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "rackpower-sim cluster: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "rackpower-sim cluster: one scenario at a time ('%s' and '%s')\n",
                argv[optind], argv[optind + 1]);
        return 2;
    }
    o.path = argv[optind];
    struct cluster_result r;
    char err[512];
    int rc = cluster_run(&o, &r, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "rackpower-sim cluster: %s\n", err);
        return 1;
    }
    double rate = r.seconds > 0 ? (double)r.seeds / r.seconds : 0;
    double cpu_rate = r.cpu_seconds > 0 ? (double)r.seeds / r.cpu_seconds : 0;
    printf("cluster: %s, %d controllers, seeds %" PRIu64 "..%" PRIu64 ": %" PRIu64
           " passed, %" PRIu64 " failed in %.2f s (%.0f seeds/s; %.0f per CPU second)\n",
           o.path, o.controllers, o.seed_from, o.seed_from + r.seeds - 1, r.seeds - r.failed,
           r.failed, r.seconds, rate, cpu_rate);
    printf("  %" PRIu64 " datagrams, %" PRIu64 " forged and %" PRIu64 " replayed dropped, %" PRIu64
           " elections, %" PRIu64 " device writes refused by the fence, %" PRIu64
           " grants adopted from the devices, %" PRIu64 " ends other than the policy alone's;\n"
           "  longest time from the heal to one primary "
           "%.3f s (bound %.3f s)\n",
           r.messages, r.forged_dropped, r.replays_dropped, r.elections, r.refused_writes,
           r.device_adopted, r.ends_differ, (double)r.max_recovery_ns / 1e9,
           (double)r.bound_ns / 1e9);
    return rc;
}
