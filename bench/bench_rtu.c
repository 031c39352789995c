/*
 * bench_rtu - the reply timing of `rackpower-sim serve --rtu` as a libmodbus
 * client sees it, against the wire model of docs/sim-devices.md ("Wire
 * timing"): a read of n registers costs the request's 8 characters, t3.5 of
 * silence, and the reply's 5 + 2n characters, at the line's bits per
 * character. Prints figures; never judges.
 *
 *   bench-rtu PATH BAUD PARITY [COUNT]
 *
 * Reads unit 200 (the first PSU), COUNT times (default 20) per span length,
 * one transaction at a time with a 3 ms gap between them (the daemon's idle
 * gap), and prints the median, lowest and highest round trip against the model.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modbus/modbus.h>

#include "mbsrv.h"
#include "monoclock.h"
#include "uart.h"

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fputs("usage: bench-rtu PATH BAUD N|E|O [COUNT]\n", stderr);
        return 2;
    }
    int baud = atoi(argv[2]), count = argc == 5 ? atoi(argv[4]) : 20;
    char parity = argv[3][0];
    if (baud <= 0 || count < 1 || count > 1000 || !strchr("NEO", parity) || argv[3][1]) {
        fputs("bench-rtu: BAUD > 0, parity N, E or O, COUNT 1..1000\n", stderr);
        return 2;
    }
    modbus_t *ctx = modbus_new_rtu(argv[1], baud, parity, 8, 1);
    if (!ctx || modbus_connect(ctx) == -1) {
        fprintf(stderr, "bench-rtu: %s: %s\n", argv[1], modbus_strerror(errno));
        return 1;
    }
    modbus_set_response_timeout(ctx, 5, 0);
    modbus_set_slave(ctx, 200);
    /* the simulator's own wire model: its character time and its t3.5 */
    const struct uart_fmt fmt = {.baud = baud, .data_bits = 8, .parity = parity, .stop_bits = 1};
    double char_ms = (double)uart_char_ns(&fmt) / 1e6;
    double t35_ms = (double)mbsrv_rtu_silence_ns(baud) / 1e6;
    printf("rtu %s at %d 8%c1: %.3f ms a character, t3.5 %.3f ms; %d reads of unit 200 each\n",
           argv[1], baud, parity, char_ms, t35_ms, count);
    printf("  %5s %9s %9s %9s %9s %9s\n", "words", "model ms", "median", "lowest", "highest",
           "median-model");
    static const int spans[] = {1, 16, 30, 52, 110};
    int64_t *rt = calloc((size_t)count, sizeof(*rt));
    uint16_t regs[125];
    for (size_t s = 0; s < sizeof(spans) / sizeof(*spans); s++) {
        int words = spans[s];
        for (int k = 0; k < count; k++) {
            struct timespec gap = {0, 3000000};
            nanosleep(&gap, NULL);
            int64_t t0 = mono_ns();
            if (modbus_read_registers(ctx, 0, words, regs) != words) {
                fprintf(stderr, "bench-rtu: read of %d words: %s\n", words, modbus_strerror(errno));
                return 1;
            }
            rt[k] = mono_ns() - t0;
        }
        qsort(rt, (size_t)count, sizeof(*rt), cmp64);
        double model = (8 + 5 + 2.0 * words) * char_ms + t35_ms;
        double med = (double)rt[count / 2] / 1e6;
        printf("  %5d %9.2f %9.2f %9.2f %9.2f %9.2f\n", words, model, med, (double)rt[0] / 1e6,
               (double)rt[count - 1] / 1e6, med - model);
    }
    free(rt);
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}
