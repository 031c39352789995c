/*
 * fuzz_uart.c - libFuzzer target for the RTU line model of rackpower-sim
 * serve (src/sim/uart.c): the bytes a client writes reach uart_receive in
 * the client's format and the line's, and answers go back through
 * uart_tty_bytes under the client's input flags. The input's first 6 bytes
 * pick the two formats, the receive buffer's size and the flags; the rest is
 * what the client sends. Any input must stay within the buffers, end, and
 * read back unchanged when the two formats match.
 * Run: make fuzz (tests/fuzz/uart holds the seeds).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <termios.h>

#include "uart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct uart_fmt fmt(uint8_t b)
{
    static const int bauds[] = {50, 1200, 2400, 9600, 19200, 38400, 115200, 921600};
    return (struct uart_fmt){bauds[b & 7], 5 + (b >> 3 & 3), "NEON"[b >> 5 & 3], 1 + (b >> 7)};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    struct uart_fmt tx = fmt(data[0]), rx = fmt(data[1]);
    size_t cap = 1 + data[2] % 255;
    tcflag_t iflag = (data[3] & 1 ? INPCK : 0) | (data[3] & 2 ? IGNPAR : 0) |
                     (data[3] & 4 ? PARMRK : 0) | (data[3] & 8 ? ISTRIP : 0);
    size_t outcap = 1 + (size_t)data[4] * 3 % 768;
    data += 6;
    size = size - 6 > 512 ? 512 : size - 6;
    struct uart_char c[256];
    uint8_t out[768];
    size_t n = uart_receive(&tx, &rx, data, size, c, cap);
    if (n > cap)
        abort();
    if (uart_tty_bytes(c, n, iflag, out, outcap) > outcap)
        abort();
    n = uart_receive(&tx, &tx, data, size, c, cap);
    if (n != (size < cap ? size : cap))
        abort();
    for (size_t k = 0; k < n; k++)
        if (c[k].errors || c[k].value != (data[k] & ((1u << tx.data_bits) - 1)))
            abort();
    return 0;
}
