/*
 * rackpower-sim - plays a rack scenario through the power policy in virtual
 * time and prints every decision with its reason.
 */
#include <errno.h>
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
          "  --seed N   seed of the simulated servers' actual draw (default 1)\n",
          f);
}

int main(int argc, char **argv)
{
    struct runner_opts o = {.json = false, .seed = 1, .out = stdout};
    const char *path = NULL;
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (strcmp(argv[i], "--seed") == 0) {
            char *end;
            if (i + 1 >= argc) {
                fprintf(stderr, "rackpower-sim: --seed needs a number\n");
                return 2;
            }
            errno = 0;
            o.seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || argv[i][0] == '-') {
                fprintf(stderr, "rackpower-sim: --seed: '%s' is not a non-negative integer\n",
                        argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "rackpower-sim: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "rackpower-sim: one scenario at a time ('%s' and '%s')\n", path,
                    argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
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
