/*
 * rackpower-sim - plays a rack scenario through the power policy in virtual
 * time and prints every decision with its reason.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fleet_main.h"
#include "rackfile.h"
#include "runner.h"
#include "sizing.h"
#include "serve.h"

static void usage(FILE *f)
{
    fputs("usage: rackpower-sim SCENARIO.yaml [--json] [--seed N]\n"
          "       rackpower-sim --check SCENARIO.yaml   (its sizing figures and warnings)\n"
          "       rackpower-sim serve RACK.yaml [options]   (serve --help)\n"
          "       rackpower-sim cluster SCENARIO.yaml [options]   (cluster --help)\n"
          "       rackpower-sim fleet --psus N --days D --seed S --out FILE   (fleet --help)\n"
          "  Plays the scenario (a rack file plus a timeline, see docs/rack-file.md)\n"
          "  in virtual time and prints each decision with its reason.\n"
          "  --json     one JSON object per line (docs/simulator.md)\n"
          "  --seed N   seed of the simulated servers' actual draw (default 1)\n"
          "  --check    load the file, print its sizing figures and warnings, exit\n"
          "             (0: valid, even with warnings; 1: the file does not load)\n"
          "  -h, --help print this and exit\n",
          f);
}

/* --check: the same sizing check as rackpowerd --check (sizing.h). */
static int check_file(const char *path)
{
    char err[512];
    struct rack r;
    struct rackfile_timeline tl;
    if (rackfile_load(path, &r, &tl, err, sizeof(err))) {
        fprintf(stderr, "rackpower-sim: %s\n", err);
        return 1;
    }
    printf("%s: ok: rack %s, %d PSUs, %d buses, %d servers, %zu timeline steps\n", path, r.name,
           r.npsus, r.nbuses, r.nservers, tl.nsteps);
    struct sizing *sz = malloc(sizeof(*sz));
    int rc = 0;
    if (!sz || sizing_check(&r, sz)) {
        fprintf(stderr, "rackpower-sim: out of memory\n");
        rc = 1;
    } else {
        sizing_print(stdout, &r, sz);
    }
    free(sz);
    rack_free(&r);
    rackfile_timeline_free(&tl);
    return rc;
}

int main(int argc, char **argv)
{
    bool check = false;
    struct runner_opts o = {.json = false, .seed = 1, .out = stdout};
    const char *path = NULL;
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "cluster") == 0)
        return cluster_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "fleet") == 0)
        return fleet_main(argc - 1, argv + 1);
    enum { OPT_JSON = 256, OPT_SEED, OPT_CHECK };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"seed", required_argument, NULL, OPT_SEED},
        {"check", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* the messages below are ours */
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            o.json = true;
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            o.seed = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || optarg[0] == '-') {
                fprintf(stderr, "rackpower-sim: --seed: '%s' is not a non-negative integer\n",
                        optarg);
                return 2;
            }
            break;
        }
        case OPT_CHECK:
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "rackpower-sim: --seed needs a number\n");
            return 2;
        default:
            if (optopt)
                fprintf(stderr, "rackpower-sim: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "rackpower-sim: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    /* getopt_long moved the scenario after the options */
    if (optind < argc)
        path = argv[optind];
    if (optind + 1 < argc) {
        fprintf(stderr, "rackpower-sim: one scenario at a time ('%s' and '%s')\n", path,
                argv[optind + 1]);
        return 2;
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    if (check)
        return check_file(path);
    char err[512];
    if (runner_run_file(path, &o, err, sizeof(err))) {
        fprintf(stderr, "rackpower-sim: %s\n", err);
        return 1;
    }
    return 0;
}
