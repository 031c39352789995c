/*
 * fleet_main.c - rackpower-sim fleet: the command line of the fleet
 * simulator (fleet.h). Bad arguments: a message and exit 2.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "fleet_main.h"

static void usage(FILE *f)
{
    fputs("usage: rackpower-sim fleet --psus N --days D --seed S --out HISTORY.csv\n"
          "                           [--labels LABELS.csv] [--interval-s 60] [--mix train]\n"
          "  Simulates N PSUs ageing and failing over D days and writes their telemetry\n"
          "  history (docs/prediction.md, \"The fleet simulator\").\n"
          "  --psus N         units in the fleet, 1..100000\n"
          "  --days D         length of the run in days (may be fractional), up to 3650\n"
          "  --seed S         non-negative integer; the same arguments give the same bytes\n"
          "  --out FILE       the history CSV (- for standard output)\n"
          "  --labels FILE    the failures: psu,failure_t,cause,predictable\n"
          "  --interval-s I   seconds between readings, 1..86400 (default 60)\n"
          "  --mix M          the mix of failure causes: train (default), eval or wide\n"
          "  -h, --help       print this and exit\n",
          f);
}

/* A whole number in lo..hi, or -1 with a message. */
static int parse_num(const char *opt, const char *s, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi) {
        fprintf(stderr, "rackpower-sim fleet: %s: '%s' is not a whole number in %lld..%lld\n", opt,
                s, lo, hi);
        return -1;
    }
    *v = x;
    return 0;
}

int fleet_main(int argc, char **argv)
{
    struct fleet_opts o = {
        .npsus = 0, .days = 0, .seed = 0, .interval_s = 60, .mix = FLEET_MIX_TRAIN};
    const char *out = NULL, *labels = NULL;
    bool have_seed = false;
    enum { OPT_PSUS = 256, OPT_DAYS, OPT_SEED, OPT_OUT, OPT_LABELS, OPT_INTERVAL, OPT_MIX };
    static const struct option longopts[] = {
        {"psus", required_argument, NULL, OPT_PSUS},
        {"days", required_argument, NULL, OPT_DAYS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"out", required_argument, NULL, OPT_OUT},
        {"labels", required_argument, NULL, OPT_LABELS},
        {"interval-s", required_argument, NULL, OPT_INTERVAL},
        {"mix", required_argument, NULL, OPT_MIX},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_PSUS:
            if (parse_num("--psus", optarg, 1, 100000, &v))
                return 2;
            o.npsus = (int)v;
            break;
        case OPT_DAYS: {
            char *end;
            errno = 0;
            double d = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(d > 0) || d > 3650) {
                fprintf(stderr,
                        "rackpower-sim fleet: --days: '%s' is not a number of days in (0, "
                        "3650]\n",
                        optarg);
                return 2;
            }
            o.days = d;
            break;
        }
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "rackpower-sim fleet: --seed: '%s' is not a non-negative integer\n",
                        optarg);
                return 2;
            }
            o.seed = s;
            have_seed = true;
            break;
        }
        case OPT_OUT:
            out = optarg;
            break;
        case OPT_LABELS:
            labels = optarg;
            break;
        case OPT_INTERVAL:
            if (parse_num("--interval-s", optarg, 1, 86400, &v))
                return 2;
            o.interval_s = (int)v;
            break;
        case OPT_MIX:
            if (strcmp(optarg, "train") == 0) {
                o.mix = FLEET_MIX_TRAIN;
            } else if (strcmp(optarg, "eval") == 0) {
                o.mix = FLEET_MIX_EVAL;
            } else if (strcmp(optarg, "wide") == 0) {
                o.mix = FLEET_MIX_WIDE;
            } else {
                fprintf(stderr, "rackpower-sim fleet: --mix: '%s' is not train, eval or wide\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "rackpower-sim fleet: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            if (optopt)
                fprintf(stderr, "rackpower-sim fleet: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "rackpower-sim fleet: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rackpower-sim fleet: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    const char *missing = !o.npsus        ? "--psus"
                          : !(o.days > 0) ? "--days"
                          : !have_seed    ? "--seed"
                          : !out          ? "--out"
                                          : NULL;
    if (missing) {
        fprintf(stderr, "rackpower-sim fleet: %s is required\n", missing);
        usage(stderr);
        return 2;
    }
    if (labels && strcmp(labels, out) == 0) {
        fprintf(stderr, "rackpower-sim fleet: --labels and --out name the same file\n");
        return 2;
    }
    FILE *fo = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
    if (!fo) {
        fprintf(stderr, "rackpower-sim fleet: %s: %s\n", out, strerror(errno));
        return 1;
    }
    FILE *fl = NULL;
    if (labels) {
        fl = strcmp(labels, "-") == 0 ? stdout : fopen(labels, "w");
        if (!fl) {
            fprintf(stderr, "rackpower-sim fleet: %s: %s\n", labels, strerror(errno));
            if (fo != stdout)
                fclose(fo);
            return 1;
        }
    }
    struct fleet_stats st;
    char err[256];
    int rc = fleet_run(&o, fo, fl, &st, err, sizeof(err));
    if (fo != stdout && fclose(fo) != 0 && rc == 0) {
        snprintf(err, sizeof(err), "%s: write error", out);
        rc = -1;
    }
    if (fl && fl != stdout && fclose(fl) != 0 && rc == 0) {
        snprintf(err, sizeof(err), "%s: write error", labels);
        rc = -1;
    }
    if (rc) {
        fprintf(stderr, "rackpower-sim fleet: %s\n", err);
        return 1;
    }
    int nfail = 0;
    for (int k = 0; k < FLEET_NCAUSES; k++)
        nfail += st.failures[k];
    fprintf(stderr,
            "fleet: %d PSUs, %g days, %llu readings (%llu not taken, %llu with a field not "
            "read), %d failures (capacitor %d, fan %d, efficiency %d, sudden %d; %d "
            "predictable), %d still ageing at the end\n",
            o.npsus, o.days, (unsigned long long)st.rows, (unsigned long long)st.dropped,
            (unsigned long long)st.blanks, nfail, st.failures[FLEET_CAUSE_CAP],
            st.failures[FLEET_CAUSE_FAN], st.failures[FLEET_CAUSE_EFF],
            st.failures[FLEET_CAUSE_SUDDEN], st.predictable, st.ageing_at_end);
    return 0;
}
