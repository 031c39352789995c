/*
 * serve_args.c - the serve subcommand's command line (getopt_long).
 */
#include "serve_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs("usage: rackpower-sim serve RACK.yaml [--tcp HOST:PORT] [--rtu PATH] [--baud 19200]\n"
          "         [--parity E] [--alert PATH] [--control PATH] [--scenario SCENARIO.yaml]\n"
          "         [--seed N] [--overload-ms 1000] [--ageing-rate H [--ageing-psu ID]\n"
          "         [--ageing-cause capacitor]]\n"
          "  Serves the rack's PSUs (ORv3), switch module and chassis modules over Modbus\n"
          "  in real time (docs/sim-devices.md).\n"
          "  --tcp HOST:PORT     Modbus TCP (default 127.0.0.1:1502 when no --rtu; port 0:\n"
          "                      any free port, printed in the ready line)\n"
          "  --rtu PATH          Modbus RTU: socat links a pseudo-terminal pair, clients\n"
          "                      open PATH, the simulator serves PATH.sim\n"
          "  --baud N            1200 .. 115200 (default 19200); --parity N|E|O (default E)\n"
          "  --alert PATH        Unix stream socket: 'unit <id>' lines when a device wants\n"
          "                      to be read (alarm change, ask, removal, brown-out)\n"
          "  --control PATH      Unix stream socket taking lines such as 'psu_fail ps3'\n"
          "  --scenario FILE     play the timeline of FILE, 'at' in seconds from start\n"
          "  --seed N            seed of the servers' utilisation walk (default 1)\n"
          "  --overload-ms N     how long a bus may carry more than its PSUs deliver before\n"
          "                      its servers brown out (default 1000)\n"
          "  --ageing-rate H     hours of ageing per second (default 0: none); the PSU of\n"
          "                      --ageing-psu (default the first) ages to its failure in\n"
          "                      168 h at 40 C, its temperature, fans and efficiency drifting\n"
          "  --ageing-psu ID     the PSU with the defect\n"
          "  --ageing-cause C    its defect: capacitor (default), fan or efficiency\n"
          "  -h, --help          this text\n",
          f);
}

static int parse_u64(const char *opt, const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-' || v[0] == '+' || x > max) {
        fprintf(stderr, "rackpower-sim serve: %s: '%s' is not an integer from 0 to %llu\n", opt, v,
                (unsigned long long)max);
        return -1;
    }
    *out = x;
    return 0;
}

enum {
    OPT_TCP = 256,
    OPT_RTU,
    OPT_BAUD,
    OPT_PARITY,
    OPT_ALERT,
    OPT_CONTROL,
    OPT_SCENARIO,
    OPT_SEED,
    OPT_OVERLOAD_MS,
    OPT_AGEING_RATE,
    OPT_AGEING_PSU,
    OPT_AGEING_CAUSE
};

static const struct option longopts[] = {
    {"tcp", required_argument, NULL, OPT_TCP},
    {"rtu", required_argument, NULL, OPT_RTU},
    {"baud", required_argument, NULL, OPT_BAUD},
    {"parity", required_argument, NULL, OPT_PARITY},
    {"alert", required_argument, NULL, OPT_ALERT},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"seed", required_argument, NULL, OPT_SEED},
    {"overload-ms", required_argument, NULL, OPT_OVERLOAD_MS},
    {"ageing-rate", required_argument, NULL, OPT_AGEING_RATE},
    {"ageing-psu", required_argument, NULL, OPT_AGEING_PSU},
    {"ageing-cause", required_argument, NULL, OPT_AGEING_CAUSE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A path or address option: any non-empty value. */
static int set_string(const char *opt, const char *v, const char **out)
{
    if (!*v) {
        fprintf(stderr, "rackpower-sim serve: %s: empty value\n", opt);
        return -1;
    }
    *out = v;
    return 0;
}

static int set_baud(const char *v, int *baud)
{
    uint64_t x;
    if (parse_u64("--baud", v, 115200, &x))
        return -1;
    if (serve_baud_speed((int)x) == 0) {
        fprintf(stderr,
                "rackpower-sim serve: --baud: %s is not one of 1200, 2400, 4800, 9600, "
                "19200, 38400, 57600, 115200\n",
                v);
        return -1;
    }
    *baud = (int)x;
    return 0;
}

static int set_parity(const char *v, char *parity)
{
    char c = (char)(v[0] & ~0x20);
    if (!v[0] || v[1] || (c != 'N' && c != 'E' && c != 'O')) {
        fprintf(stderr, "rackpower-sim serve: --parity: expected N, E or O, got '%s'\n", v);
        return -1;
    }
    *parity = c;
    return 0;
}

/* One option and its value; 0, or -1 said on stderr. */
static int set_option(int c, const char *v, struct serve_opts *o)
{
    uint64_t x;
    switch (c) {
    case OPT_TCP:
        return set_string("--tcp", v, &o->tcp);
    case OPT_RTU:
        return set_string("--rtu", v, &o->rtu);
    case OPT_ALERT:
        return set_string("--alert", v, &o->alert);
    case OPT_CONTROL:
        return set_string("--control", v, &o->control);
    case OPT_SCENARIO:
        return set_string("--scenario", v, &o->scenario);
    case OPT_BAUD:
        return set_baud(v, &o->baud);
    case OPT_PARITY:
        return set_parity(v, &o->parity);
    case OPT_SEED:
        return parse_u64("--seed", v, UINT64_MAX, &o->seed);
    case OPT_OVERLOAD_MS:
        if (parse_u64("--overload-ms", v, 3600000, &x))
            return -1;
        o->overload_ns = (int64_t)x * 1000000;
        return 0;
    case OPT_AGEING_RATE: {
        char *end;
        errno = 0;
        double h = strtod(v, &end);
        if (errno || end == v || *end || !(h >= 0) || h > 1e6) {
            fprintf(stderr,
                    "rackpower-sim serve: --ageing-rate: '%s' is not a number of hours per "
                    "second from 0 to 1e6\n",
                    v);
            return -1;
        }
        o->ageing_h_per_s = h;
        return 0;
    }
    case OPT_AGEING_PSU:
        return set_string("--ageing-psu", v, &o->ageing_psu);
    case OPT_AGEING_CAUSE:
        for (int k = FLEET_CAUSE_CAP; k <= FLEET_CAUSE_EFF; k++)
            if (strcmp(v, fleet_cause_name((enum fleet_cause)k)) == 0) {
                o->ageing_cause = k;
                return 0;
            }
        fprintf(stderr,
                "rackpower-sim serve: --ageing-cause: '%s' is not capacitor, fan or efficiency\n",
                v);
        return -1;
    }
    return -1;
}

int serve_parse_args(int argc, char **argv, struct serve_opts *o)
{
    *o = (struct serve_opts){
        .baud = 19200, .parity = 'E', .seed = 1, .overload_ns = PHYS_DEFAULT_OVERLOAD_NS};
    int c;
    opterr = 0; /* the messages below are ours */
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (c == ':') {
            fprintf(stderr, "rackpower-sim serve: %s needs a value\n", argv[optind - 1]);
            return -1;
        }
        if (c == '?') {
            fprintf(stderr, "rackpower-sim serve: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return -1;
        }
        if (set_option(c, optarg, o))
            return -1;
    }
    /* getopt_long moved the rack after the options */
    if (optind < argc)
        o->rack_path = argv[optind];
    if (optind + 1 < argc) {
        fprintf(stderr, "rackpower-sim serve: one rack at a time ('%s' and '%s')\n", o->rack_path,
                argv[optind + 1]);
        return -1;
    }
    if (!o->rack_path) {
        usage(stderr);
        return -1;
    }
    if (!o->tcp && !o->rtu)
        o->tcp = DEFAULT_TCP;
    return 0;
}
