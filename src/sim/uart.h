/*
 * uart.h - what an RS-485 line does to characters, for rackpower-sim serve's
 * Modbus RTU: the wire time of a character from its format, and what a
 * receiver set to one format makes of characters sent in another (a wrong
 * baud rate or parity gives garbage and parity or framing errors, as on a
 * real line), down to the bytes a tty hands to read() under its termios
 * input flags. Pure: no I/O, no clock. docs/sim-devices.md, "Wire timing".
 *
 * A pseudo-terminal carries bytes, not bits: it ignores the baud rate and
 * parity both ends set. The simulator reads the client's termios from its
 * side of the pty and passes the bytes through this model.
 */
#ifndef UART_H
#define UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

struct uart_fmt {
    int baud;      /* bits per second, > 0 */
    int data_bits; /* 5..8 */
    char parity;   /* 'N', 'E' or 'O' */
    int stop_bits; /* 1 or 2 */
};

/* Bits of one character on the wire: start, data, parity, stop. */
int uart_char_bits(const struct uart_fmt *f);
/* The wire time of one character in ns (19200 8E1: 572,917 ns). */
int64_t uart_char_ns(const struct uart_fmt *f);

/*
 * Whether a receiver in format rx reads every character a sender in format tx
 * sends as sent: same baud, data bits and parity. Stop bits do not matter
 * (a receiver samples the first stop bit only).
 */
bool uart_fmt_match(const struct uart_fmt *tx, const struct uart_fmt *rx);

/* "19200 8E1" */
void uart_fmt_name(const struct uart_fmt *f, char *buf, size_t len);

/*
 * The format a tty is set to: baud from its output speed, CSIZE, PARENB /
 * PARODD, CSTOPB. Returns 0, or -1 for a speed it does not know (B0, ...).
 */
int uart_fmt_from_termios(const struct termios *t, struct uart_fmt *f);

/*
 * The same for the client's side of a Linux pseudo-terminal, which clears
 * PARENB and sets CS8 whatever the client asks (drivers/tty/pty.c), but keeps
 * the speed, CSTOPB, PARODD and the input flags. The parity is taken from
 * what libmodbus sets with it: PARODD for odd, else INPCK (input parity
 * checking) for even, else none. Data bits are 8. A client that sets parity
 * without INPCK (pyserial clears INPCK) is seen as 'N'.
 */
int uart_fmt_from_pty_termios(const struct termios *t, struct uart_fmt *f);

#define UART_PARITY_ERROR 1u
#define UART_FRAMING_ERROR 2u

struct uart_char {
    uint8_t value;  /* the data bits as sampled, LSB first */
    uint8_t errors; /* UART_PARITY_ERROR | UART_FRAMING_ERROR */
};

/*
 * A receiver in format rx listening to in[0..n) sent back to back in format
 * tx, the line idle before and after: it hunts each start bit (a falling
 * edge), samples every bit in its middle at its own rate, checks parity and
 * the stop bit, and hunts again from the middle of the stop bit (a stop bit
 * read as 0 is a framing error; the UART then takes the low line as the next
 * start bit). Writes at most cap characters to out and returns their number.
 * With matching formats out equals in, without errors.
 */
size_t uart_receive(const struct uart_fmt *tx, const struct uart_fmt *rx, const uint8_t *in,
                    size_t n, struct uart_char *out, size_t cap);

/*
 * The bytes read() returns for received characters under a tty's input flags,
 * as Linux's serial drivers and line discipline give them: errors are only
 * seen with INPCK; then IGNPAR drops the character, PARMRK marks it as
 * 0xFF 0x00 c, and otherwise it reads as 0x00. ISTRIP keeps 7 bits; with
 * PARMRK and without ISTRIP a good 0xFF reads as 0xFF 0xFF. Returns the
 * number of bytes written to out (at most cap).
 */
size_t uart_tty_bytes(const struct uart_char *c, size_t n, tcflag_t iflag, uint8_t *out,
                      size_t cap);

#endif
