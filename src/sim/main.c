/*
 * rackpower-sim - plays a rack scenario through the power policy in virtual
 * time and prints every decision with its reason.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "serve.h"

static void usage(FILE *f)
{
    fputs("usage: rackpower-sim SCENARIO.yaml [--json] [--seed N]\n"
          "       rackpower-sim serve RACK.yaml [options]   (serve --help)\n"
          "  Plays the scenario (a rack file plus a timeline, see docs/rack-file.md)\n"
          "  in virtual time and prints each decision with its reason.\n"
          "  --json     one JSON object per line (docs/simulator.md)\n"
          "  --seed N   seed of the simulated servers' actual draw (default 1)\n"
          "  -h, --help print this and exit\n",
          f);
}

int main(int argc, char **argv)
{
    struct runner_opts o = {.json = false, .seed = 1, .out = stdout};
    const char *path = NULL;
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    enum { OPT_JSON = 256, OPT_SEED };
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"seed", required_argument, NULL, OPT_SEED},
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
    char err[512];
    if (runner_run_file(path, &o, err, sizeof(err))) {
        fprintf(stderr, "rackpower-sim: %s\n", err);
        return 1;
    }
    return 0;
}
