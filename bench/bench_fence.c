/*
 * bench_fence - what fencing costs a command (docs/benchmarks.md, "Fencing"):
 * the Modbus engine (src/drivers/mbdrv.c) against `rackpower-sim serve`
 * over TCP, chassis module unit 10 slot 0 and the switch module.
 * Prints figures; never judges.
 *
 *   bench-fence HOST:PORT [N]
 *
 * In this order, N times each (default 2000), timed one by one (CLOCK_MONOTONIC):
 *   bare power:   a slot's coil written (0x05), on and off in turn;
 *   bare grant:   cap, coil, ask cleared: three bare writes;
 *   fence:        the epoch alone to the chassis module (0x10, 4 words);
 *   fenced power: the epoch and the power command in one 0x10 request;
 *   fenced grant: the epoch and cap, power, ask cleared in one request;
 *   refused:      a command with a lower epoch: the 0x04 and the owner epoch
 *                 read back (what a replaced primary spends to learn it).
 * Bare before fenced: once fenced, the module refuses bare writes until the
 * simulator restarts. The slot is left off.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbdrv.h"

#define UNIT 10

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void sink(void *ctx, const struct mbdrv_event *ev)
{
    (void)ctx;
    (void)ev;
}

enum what { BARE_POWER, BARE_GRANT, FENCE, FENCED_POWER, FENCED_GRANT, REFUSED };
static const char *const names[] = {"bare power (0x05)",      "bare grant (3 writes)",
                                    "fence (0x10, epoch)",    "fenced power (0x10)",
                                    "fenced grant (0x10, 3)", "refused (0x04 + read)"};

/* One command of the kind; the rc it must give. */
static int one(struct mbdrv_bus *b, enum what w, int i, char *err, size_t errlen)
{
    uint64_t seen;
    switch (w) {
    case BARE_POWER:
    case FENCED_POWER:
        return mbdrv_set_slot_power(b, 0, 0, i % 2 == 0, err, errlen);
    case BARE_GRANT:
    case FENCED_GRANT:
        if (i % 2)
            return mbdrv_set_slot_power(b, 0, 0, false, err, errlen);
        return mbdrv_grant_slot(b, 0, 0, 0, err, errlen);
    case FENCE:
        return mbdrv_fence(b, 0, &seen, err, errlen);
    case REFUSED:
        return mbdrv_set_slot_power(b, 0, 0, false, err, errlen) == -2 ? 0 : -1;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strchr(argv[1], ':')) {
        fprintf(stderr, "usage: bench-fence HOST:PORT [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    if (n < 10 || n > 1000000) {
        fprintf(stderr, "bench-fence: N must be 10..1000000\n");
        return 2;
    }
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)(strchr(argv[1], ':') - argv[1]), argv[1]);
    struct mbdrv_bus_config c;
    mbdrv_bus_config_default(&c, MBDRV_TCP);
    snprintf(c.host, sizeof(c.host), "%s", host);
    c.port = atoi(strchr(argv[1], ':') + 1);
    c.retries = 0;
    char err[256];
    struct mbdrv_bus *b = mbdrv_bus_new(&c, sink, NULL, err, sizeof(err));
    struct mbdrv_bus *other = mbdrv_bus_new(&c, sink, NULL, err, sizeof(err));
    struct mbdrv_device_config ch = {.kind = MBDRV_SIM_CHASSIS, .unit = UNIT, .count = 1};
    for (int g = 0; g < MBDRV_NGROUPS; g++)
        ch.interval_ns[g] = MBDRV_NEVER;
    if (!b || !other || mbdrv_add_device(b, &ch, err, sizeof(err)) < 0 ||
        mbdrv_add_device(other, &ch, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench-fence: %s\n", err);
        return 1;
    }
    int64_t *t = malloc((size_t)n * sizeof(*t));
    if (!t)
        return 1;
    printf("bench-fence: %d commands each against %s, unit %d slot 0 (microseconds)\n", n, argv[1],
           UNIT);
    printf("%-24s %8s %8s %8s\n", "", "p50", "p99", "max");
    for (int w = BARE_POWER; w <= REFUSED; w++) {
        if (w == FENCE)
            mbdrv_set_epoch(b, 0x101);
        if (w == REFUSED) { /* another controller takes over */
            mbdrv_set_epoch(other, 0x202);
            uint64_t seen;
            if (mbdrv_fence(other, 0, &seen, err, sizeof(err))) {
                fprintf(stderr, "bench-fence: the other controller's fence: %s\n", err);
                return 1;
            }
        }
        for (int i = 0; i < n; i++) {
            int64_t t0 = now_ns();
            if (one(b, (enum what)w, i, err, sizeof(err))) {
                fprintf(stderr, "bench-fence: %s #%d: %s\n", names[w], i, err);
                return 1;
            }
            t[i] = now_ns() - t0;
        }
        qsort(t, (size_t)n, sizeof(*t), cmp64);
        printf("%-24s %8.1f %8.1f %8.1f\n", names[w], (double)t[n / 2] / 1e3,
               (double)t[(size_t)n * 99 / 100] / 1e3, (double)t[n - 1] / 1e3);
    }
    free(t);
    mbdrv_bus_free(b);
    mbdrv_bus_free(other);
    return 0;
}
