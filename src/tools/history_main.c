/*
 * history_main.c - rackpower-history: reads rackpowerd's telemetry history
 * (docs/history.md, man/rackpower-history.1).
 *
 *   rackpower-history export DB [--from T] [--to T] [--step S] [--labels FILE]
 *
 * writes every PSU's readings as the history CSV of rackpower-predict and
 * rackpower-train (docs/prediction.md "The history file"), and with
 * --labels the PSUs' failures in the labels format rackpower-train reads.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "histstore.h"
#include "telemetry_csv.h"

static void usage(FILE *out)
{
    fputs("usage: rackpower-history export DB [--from T] [--to T] [--step S] [--labels FILE]\n"
          "  DB            the history: rackpowerd's database (its DB.history beside it is\n"
          "                read) or the history file itself\n"
          "  --from T      from Unix seconds T (default: the oldest)\n"
          "  --to T        up to Unix seconds T, not included (default: all)\n"
          "  --step S      0 (default): every raw reading; 60: the 1 min averages;\n"
          "                3600: the 1 h averages (also 10s, 1m, 1h, 1d; longer steps\n"
          "                group the averages)\n"
          "  --labels FILE write the PSUs' failures there: psu,failure_t,cause,predictable\n"
          "                (rackpower-train --labels)\n"
          "  -h, --help    this text\n"
          "The CSV goes to standard output: t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,\n"
          "temp_c,inlet_c,fan_rpm,status_word.\n",
          out);
}

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rackpower-history: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    return 2;
}

/* Unix seconds, a whole number >= 0; -1 when it is not one. */
static int64_t seconds(const char *s)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!s[0] || *end || errno || x < 0 || s[0] == '-' || s[0] == '+' || s[0] == ' ' ||
        x > 100000000000LL)
        return -1;
    return x;
}

/* A step: seconds, or with s, m, h or d. -1 when it is not one. */
static int64_t step_ms(const char *s)
{
    static const char units[] = "smhd";
    static const int64_t ms[] = {1000, 60000, 3600000, 86400000};
    char num[32];
    size_t n = strlen(s);
    int64_t scale = 1000;
    if (!n || n >= sizeof(num))
        return -1;
    memcpy(num, s, n + 1);
    const char *u = strchr(units, num[n - 1]);
    if (u && num[n - 1]) {
        scale = ms[u - units];
        num[n - 1] = '\0';
    }
    int64_t x = seconds(num);
    return x < 0 || x > 10000000 ? -1 : x * scale;
}

struct export
{
    FILE *out;
    long rows;
    int failed;
};

static int put_row(void *arg, const struct hist_row *r)
{
    struct export *x = arg;
    struct tcsv_row row;
    char line[512];
    hist_row_tcsv(r, &row);
    int n = tcsv_format_row(&row, line, sizeof(line));
    if (n < 0 || fprintf(x->out, "%s\n", line) < 0) {
        x->failed = 1;
        return 1;
    }
    x->rows++;
    return 0;
}

struct failures {
    struct hist_label *l;
    size_t n, cap;
};

/* A PSU's first failure in the history: the readings after it are not
 * the healthy unit's (rackpower-train uses none at or after it). */
static int take_failure(void *arg, const struct hist_label *l)
{
    struct failures *f = arg;
    if (strcmp(l->kind, "psu_fail") || !l->elem[0])
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->l[i].elem, l->elem))
            return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 32;
        struct hist_label *nl = realloc(f->l, cap * sizeof(*nl));
        if (!nl)
            return -1;
        f->l = nl;
        f->cap = cap;
    }
    f->l[f->n++] = *l;
    return 0;
}

static int write_labels(struct histstore *h, const char *path, int64_t from, int64_t to)
{
    char err[600];
    struct failures f = {0};
    if (hist_labels(h, from, to, take_failure, &f, err, sizeof(err))) {
        fprintf(stderr, "rackpower-history: labels: %s\n", f.n == f.cap ? "out of memory" : err);
        free(f.l);
        return -1;
    }
    FILE *out = fopen(path, "w");
    if (!out) {
        fprintf(stderr, "rackpower-history: %s: %s\n", path, strerror(errno));
        free(f.l);
        return -1;
    }
    fputs("psu,failure_t,cause,predictable\n", out);
    /* the daemon sees a failure, not its cause: every one is counted as
     * predictable, so that a recall over them is over all failures */
    for (size_t i = 0; i < f.n; i++)
        fprintf(out, "%s,%lld,observed,yes\n", f.l[i].elem, (long long)(f.l[i].t_ms / 1000));
    free(f.l);
    if (fclose(out)) {
        fprintf(stderr, "rackpower-history: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *labels = NULL;
    int64_t from = 0, to = INT64_MAX, step = 0;
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
        {"step", required_argument, NULL, 's'}, {"labels", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if ((from = seconds(optarg)) < 0)
                return bad_usage("--from: expected Unix seconds, got '%s'", optarg);
            from *= 1000;
            break;
        case 't':
            if ((to = seconds(optarg)) < 0)
                return bad_usage("--to: expected Unix seconds, got '%s'", optarg);
            to *= 1000;
            break;
        case 's':
            if ((step = step_ms(optarg)) < 0)
                return bad_usage("--step: expected seconds or 10s, 1m, 1h, 1d, got '%s'", optarg);
            break;
        case 'l':
            labels = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return bad_usage("%s needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return bad_usage("%s", "missing command: export");
    if (strcmp(argv[optind], "export"))
        return bad_usage("unknown command '%s' (expected export)", argv[optind]);
    if (argc - optind != 2)
        return bad_usage("%s",
                         argc - optind < 2 ? "export: missing DB" : "export: too many arguments");
    if (from >= to)
        return bad_usage("%s", "--from must be before --to");
    const char *db = argv[optind + 1];
    char path[4200], err[700];
    snprintf(path, sizeof(path), "%s.history", db);
    if (access(path, F_OK) != 0)
        snprintf(path, sizeof(path), "%s", db);
    struct histstore *h = hist_open(path, true, err, sizeof(err));
    if (!h) {
        fprintf(stderr, "rackpower-history: %s\n", err);
        return 1;
    }
    struct export x = {.out = stdout};
    printf("%s\n", tcsv_header_line);
    int rc = hist_query(h, HIST_PSU, NULL, from, to, step, SIZE_MAX, put_row, &x, err, sizeof(err));
    if (rc < 0 || x.failed) {
        fprintf(stderr, "rackpower-history: %s\n", x.failed ? "cannot write the CSV" : err);
        hist_close(h);
        return 1;
    }
    if (labels && write_labels(h, labels, from, to)) {
        hist_close(h);
        return 1;
    }
    hist_close(h);
    if (fflush(stdout)) {
        fprintf(stderr, "rackpower-history: cannot write the CSV: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "rackpower-history: %ld rows\n", x.rows);
    return 0;
}
