/*
 * predict_main.c - rackpower-predict: replays a PSU history file through the
 * risk model in time order and prints a JSON line when a PSU becomes at risk
 * (once per episode) and one when it stops (man/rackpower-predict.1,
 * docs/prediction.md).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history_io.h"
#include "model_io.h"
#include "risk.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rackpower-predict --history FILE.csv [--model FILE] [--skip-bad]\n"
            "                         [--threshold P] [--persist-s S]\n"
            "  --history FILE   the history CSV (docs/prediction.md), - for stdin\n"
            "  --model FILE     the risk model (default %s)\n"
            "  --skip-bad       skip bad rows and count them (else the first is an error)\n"
            "  --threshold P    at risk from this probability (default: the model's)\n"
            "  --persist-s S    ... held at every reading for S seconds (default: the model's)\n"
            "  --help           this text\n",
            model_default_path());
}

/* One episode line. The id is [A-Za-z0-9_.:-] and the reason fixed words and
 * numbers, so neither needs JSON escaping. */
static void line(const char *event, const struct tcsv_row *r, const struct risk_out *o)
{
    char reason[160];
    if (strcmp(event, "clear") == 0)
        snprintf(reason, sizeof(reason), "risk below the threshold");
    else
        risk_reason(o, reason, sizeof(reason));
    printf("{\"event\":\"%s\",\"t\":%lld,\"psu\":\"%s\",\"risk\":%.4f,\"ttf_s\":%.0f,"
           "\"reason\":\"%s\"}\n",
           event, (long long)r->t, r->psu, o->risk, o->ttf_s, reason);
}

int main(int argc, char **argv)
{
    const char *history = NULL, *model = NULL;
    int skip_bad = 0;
    double threshold = NAN;
    long long persist_s = -1;
    static const struct option opts[] = {
        {"history", required_argument, NULL, 'H'},
        {"model", required_argument, NULL, 'm'},
        {"skip-bad", no_argument, NULL, 's'},
        {"threshold", required_argument, NULL, 't'},
        {"persist-s", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            history = optarg;
            break;
        case 'm':
            model = optarg;
            break;
        case 's':
            skip_bad = 1;
            break;
        case 't': {
            char *end;
            threshold = strtod(optarg, &end);
            if (*end || !(threshold > 0 && threshold < 1)) {
                fprintf(stderr, "rackpower-predict: --threshold: a probability between 0 and 1\n");
                return 2;
            }
            break;
        }
        case 'p': {
            char *end;
            persist_s = strtoll(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end || persist_s > 366 * 86400LL) {
                fprintf(stderr, "rackpower-predict: --persist-s: whole seconds from 0 to a year\n");
                return 2;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!history || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (!model)
        model = model_default_path();
    char err[300];
    struct risk_model m;
    if (model_read(model, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-predict: %s\n", err);
        return 1;
    }
    if (!isnan(threshold))
        m.threshold = threshold;
    if (persist_s >= 0)
        m.persist_s = persist_s;
    struct history h;
    if (history_read(history, skip_bad, &h, err, sizeof(err)) < 0) {
        fprintf(stderr, "rackpower-predict: %s\n", err);
        return 1;
    }
    struct risk_fleet fleet;
    risk_fleet_init(&fleet, m.window_s);
    long episodes = 0;
    int rc = 0;
    for (size_t i = 0; i < h.n; i++) {
        int p;
        struct risk_out o;
        int step = risk_fleet_step(&fleet, &m, m.threshold, &h.rows[i], &p, &o, err, sizeof(err));
        if (step == -2) { /* rows are sorted: only out of memory */
            fprintf(stderr, "rackpower-predict: %s\n", err);
            rc = 1;
            break;
        }
        if (step > 0) {
            line("at_risk", &h.rows[i], &o);
            episodes++;
        } else if (step < 0) {
            line("clear", &h.rows[i], &o);
        }
    }
    fflush(stdout);
    fprintf(stderr, "rackpower-predict: %zu rows, %zu PSUs, %ld episodes", h.n, fleet.npsus,
            episodes);
    if (skip_bad)
        fprintf(stderr, ", %ld bad rows skipped", h.bad);
    fprintf(stderr, "\n");
    risk_fleet_free(&fleet);
    history_free(&h);
    return rc;
}
