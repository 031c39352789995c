/*
 * uart.c - characters on an RS-485 line: wire time, and what a receiver in
 * another format reads (uart.h).
 */
#include "uart.h"

#include <stdio.h>

int uart_char_bits(const struct uart_fmt *f)
{
    return 1 + f->data_bits + (f->parity != 'N') + f->stop_bits;
}

int64_t uart_char_ns(const struct uart_fmt *f)
{
    if (f->baud <= 0)
        return 0;
    return (int64_t)uart_char_bits(f) * 1000000000LL / f->baud;
}

bool uart_fmt_match(const struct uart_fmt *tx, const struct uart_fmt *rx)
{
    return tx->baud == rx->baud && tx->data_bits == rx->data_bits && tx->parity == rx->parity;
}

void uart_fmt_name(const struct uart_fmt *f, char *buf, size_t len)
{
    snprintf(buf, len, "%d %d%c%d", f->baud, f->data_bits, f->parity, f->stop_bits);
}

int uart_fmt_from_termios(const struct termios *t, struct uart_fmt *f)
{
    static const struct {
        speed_t speed;
        int baud;
    } speeds[] = {{B50, 50},         {B75, 75},         {B110, 110},       {B134, 134},
                  {B150, 150},       {B200, 200},       {B300, 300},       {B600, 600},
                  {B1200, 1200},     {B1800, 1800},     {B2400, 2400},     {B4800, 4800},
                  {B9600, 9600},     {B19200, 19200},   {B38400, 38400},   {B57600, 57600},
                  {B115200, 115200}, {B230400, 230400}, {B460800, 460800}, {B921600, 921600}};
    speed_t sp = cfgetospeed(t);
    f->baud = 0;
    for (size_t k = 0; k < sizeof(speeds) / sizeof(*speeds); k++)
        if (speeds[k].speed == sp)
            f->baud = speeds[k].baud;
    switch (t->c_cflag & CSIZE) {
    case CS5:
        f->data_bits = 5;
        break;
    case CS6:
        f->data_bits = 6;
        break;
    case CS7:
        f->data_bits = 7;
        break;
    default:
        f->data_bits = 8;
        break;
    }
    f->parity = !(t->c_cflag & PARENB) ? 'N' : (t->c_cflag & PARODD) ? 'O' : 'E';
    f->stop_bits = (t->c_cflag & CSTOPB) ? 2 : 1;
    return f->baud > 0 ? 0 : -1;
}

int uart_fmt_from_pty_termios(const struct termios *t, struct uart_fmt *f)
{
    int rc = uart_fmt_from_termios(t, f);
    f->data_bits = 8;
    f->parity = (t->c_cflag & PARODD) ? 'O' : (t->c_iflag & INPCK) ? 'E' : 'N';
    return rc;
}

/* The sender's bit stream: bit i of characters sent back to back. */
struct stream {
    const struct uart_fmt *f;
    const uint8_t *in;
    size_t n;
    int bpc; /* bits per character */
};

static int parity_bit(unsigned v, int bits, char parity)
{
    int ones = 0;
    for (int b = 0; b < bits; b++)
        ones += (int)(v >> b & 1u);
    return parity == 'E' ? ones & 1 : !(ones & 1);
}

static int stream_bit(const struct stream *s, int64_t i)
{
    if (i < 0 || i >= (int64_t)s->n * s->bpc)
        return 1; /* idle line */
    unsigned c = s->in[i / s->bpc];
    int k = (int)(i % s->bpc);
    if (k == 0)
        return 0; /* start bit */
    if (k <= s->f->data_bits)
        return (int)(c >> (k - 1) & 1u);
    if (s->f->parity != 'N' && k == s->f->data_bits + 1)
        return parity_bit(c, s->f->data_bits, s->f->parity);
    return 1; /* stop bits */
}

/*
 * Time counts in ticks: a sender bit lasts 2 x rx->baud ticks and a receiver
 * bit 2 x tx->baud, so both, and the middle of a receiver bit, are whole.
 */
size_t uart_receive(const struct uart_fmt *tx, const struct uart_fmt *rx, const uint8_t *in,
                    size_t n, struct uart_char *out, size_t cap)
{
    if (tx->baud <= 0 || rx->baud <= 0)
        return 0;
    const struct stream s = {tx, in, n, uart_char_bits(tx)};
    const int64_t ts = 2LL * rx->baud, tr = 2LL * tx->baud, half = tx->baud;
    const int64_t nbits = (int64_t)n * s.bpc;
#define LINE(t) stream_bit(&s, (t) / ts)
    size_t got = 0;
    int64_t t = 0;
    while (got < cap) {
        int64_t start;
        if (LINE(t) == 0) {
            start = t; /* still low after a framing error: taken as a start bit */
        } else {
            int64_t i = t / ts + 1; /* the next sender bit boundary after t */
            while (i < nbits && stream_bit(&s, i) != 0)
                i++;
            if (i >= nbits)
                break; /* only idle line left */
            start = i * ts;
        }
        if (LINE(start + half) != 0) { /* a glitch, not a start bit */
            t = start + half;
            continue;
        }
        unsigned v = 0;
        for (int b = 0; b < rx->data_bits; b++)
            v |= (unsigned)LINE(start + (1 + b) * tr + half) << b;
        uint8_t err = 0;
        int k = 1 + rx->data_bits;
        if (rx->parity != 'N') {
            if (LINE(start + k * tr + half) != parity_bit(v, rx->data_bits, rx->parity))
                err |= UART_PARITY_ERROR;
            k++;
        }
        int64_t stop = start + k * tr + half;
        if (LINE(stop) != 1)
            err |= UART_FRAMING_ERROR;
        out[got++] = (struct uart_char){(uint8_t)v, err};
        t = stop;
    }
#undef LINE
    return got;
}

size_t uart_tty_bytes(const struct uart_char *c, size_t n, tcflag_t iflag, uint8_t *out, size_t cap)
{
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t v = (iflag & ISTRIP) ? (uint8_t)(c[k].value & 0x7f) : c[k].value;
        uint8_t b[3];
        size_t nb = 0;
        if (c[k].errors && (iflag & INPCK)) {
            if (iflag & IGNPAR)
                continue;
            if (iflag & PARMRK) {
                b[nb++] = 0xff;
                b[nb++] = 0x00;
                b[nb++] = v;
            } else {
                b[nb++] = 0x00;
            }
        } else if (v == 0xff && (iflag & PARMRK) && !(iflag & ISTRIP)) {
            b[nb++] = 0xff;
            b[nb++] = 0xff;
        } else {
            b[nb++] = v;
        }
        if (o + nb > cap)
            break;
        for (size_t i = 0; i < nb; i++)
            out[o++] = b[i];
    }
    return o;
}
