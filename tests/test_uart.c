/* test_uart.c - the RS-485 line model of rackpower-sim serve's RTU (uart.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "uart.h"

static const struct uart_fmt l8e1 = {19200, 8, 'E', 1}, l8n1 = {19200, 8, 'N', 1},
                             l8o1 = {19200, 8, 'O', 1}, l8e2 = {19200, 8, 'E', 2},
                             s9600 = {9600, 8, 'E', 1}, l7e1 = {19200, 7, 'E', 1};

/* A read of registers 79 of unit 200, with its CRC: what a client sends. */
static const uint8_t request[] = {0xC8, 0x03, 0x00, 0x4F, 0x00, 0x01, 0xA4, 0x44};

static void test_character_wire_time_counts_start_parity_and_stop_bits(void **state)
{
    (void)state;
    assert_int_equal(uart_char_bits(&l8e1), 11);
    assert_int_equal(uart_char_bits(&l8n1), 10);
    assert_int_equal(uart_char_bits(&l8e2), 12);
    assert_int_equal(uart_char_ns(&l8e1), 572916); /* 11 bits / 19200 */
    assert_int_equal(uart_char_ns(&(struct uart_fmt){115200, 8, 'E', 1}), 95486);
    assert_int_equal(uart_char_ns(&(struct uart_fmt){1200, 8, 'N', 1}), 8333333);
    char name[32];
    uart_fmt_name(&l8e1, name, sizeof(name));
    assert_string_equal(name, "19200 8E1");
}

static void test_matching_formats_carry_every_byte_unchanged(void **state)
{
    (void)state;
    const struct uart_fmt *fmts[] = {&l8e1, &l8n1, &l8o1, &s9600};
    uint8_t in[256];
    for (int k = 0; k < 256; k++)
        in[k] = (uint8_t)k;
    struct uart_char out[300];
    for (size_t f = 0; f < sizeof(fmts) / sizeof(*fmts); f++) {
        assert_int_equal(uart_receive(fmts[f], fmts[f], in, 256, out, 300), 256);
        for (int k = 0; k < 256; k++) {
            assert_int_equal(out[k].value, k);
            assert_int_equal(out[k].errors, 0);
        }
    }
    /* two stop bits sent, one expected: still read as sent */
    assert_true(uart_fmt_match(&l8e2, &l8e1));
    assert_int_equal(uart_receive(&l8e2, &l8e1, in, 256, out, 300), 256);
    for (int k = 0; k < 256; k++)
        assert_true(out[k].value == k && out[k].errors == 0);
    /* seven data bits: the eighth is not sent */
    assert_int_equal(uart_receive(&l7e1, &l7e1, in, 256, out, 300), 256);
    assert_int_equal(out[0xC8].value, 0x48);
    assert_int_equal(out[0xC8].errors, 0);
}

static int errors_in(const struct uart_char *c, size_t n)
{
    int e = 0;
    for (size_t k = 0; k < n; k++)
        e += c[k].errors != 0;
    return e;
}

static void test_a_wrong_baud_rate_reads_as_garbage(void **state)
{
    (void)state;
    assert_false(uart_fmt_match(&s9600, &l8e1));
    struct uart_char out[64];
    /* a 9600-baud client on a 19200 line: every bit is read twice */
    size_t n = uart_receive(&s9600, &l8e1, request, sizeof(request), out, 64);
    assert_true(n > 0);
    assert_true(errors_in(out, n) > 0);
    /* a 19200 answer to a 9600 client: about half as many characters, wrong ones */
    n = uart_receive(&l8e1, &s9600, request, sizeof(request), out, 64);
    assert_true(n > 0 && n < sizeof(request));
    bool same = true;
    for (size_t k = 0; k < n; k++)
        same = same && out[k].value == request[k];
    assert_false(same);
}

static void test_a_wrong_parity_gives_parity_or_framing_errors(void **state)
{
    (void)state;
    struct uart_char out[64];
    /* 8N1 client, 8E1 line: the stop bit is read as parity, the next start
     * bit as the stop bit: a framing error, and the receiver is out of step
     * for the rest of the frame */
    size_t n = uart_receive(&l8n1, &l8e1, request, sizeof(request), out, 64);
    assert_true(n > 0);
    assert_int_equal(out[0].value, request[0]);
    assert_true(out[0].errors & UART_FRAMING_ERROR);
    assert_true(errors_in(out, n) > 1);
    /* odd parity against even: every character's parity bit is wrong */
    n = uart_receive(&l8o1, &l8e1, request, sizeof(request), out, 64);
    assert_int_equal(n, sizeof(request));
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(out[k].value, request[k]);
        assert_int_equal(out[k].errors, UART_PARITY_ERROR);
    }
    /* 8E1 client, 8N1 line: the parity bit is read as the stop bit; a byte
     * with an odd number of ones (parity bit 1) passes, the others do not */
    const uint8_t two[] = {0x01, 0x03};
    n = uart_receive(&l8e1, &l8n1, two, 2, out, 64);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].value, 0x01);
    assert_int_equal(out[0].errors, 0);
    assert_int_equal(out[1].value, 0x03);
    assert_int_equal(out[1].errors, UART_FRAMING_ERROR);
}

static void test_tty_flags_decide_what_read_returns_for_bad_characters(void **state)
{
    (void)state;
    const struct uart_char c[] = {{0x41, 0}, {0x42, UART_PARITY_ERROR}, {0xFF, 0}};
    uint8_t out[16];
    /* without INPCK nothing is checked */
    assert_int_equal(uart_tty_bytes(c, 3, 0, out, 16), 3);
    assert_memory_equal(out, "\x41\x42\xFF", 3);
    /* INPCK: a bad character reads as 0 (libmodbus sets INPCK when it has parity) */
    assert_int_equal(uart_tty_bytes(c, 3, INPCK, out, 16), 3);
    assert_memory_equal(out, "\x41\x00\xFF", 3);
    assert_int_equal(uart_tty_bytes(c, 3, INPCK | IGNPAR, out, 16), 2);
    assert_memory_equal(out, "\x41\xFF", 2);
    assert_int_equal(uart_tty_bytes(c, 3, INPCK | PARMRK, out, 16), 6);
    assert_memory_equal(out, "\x41\xFF\x00\x42\xFF\xFF", 6);
    assert_int_equal(uart_tty_bytes(c, 3, ISTRIP, out, 16), 3);
    assert_int_equal(out[2], 0x7F);
    assert_int_equal(uart_tty_bytes(c, 3, INPCK | PARMRK, out, 3), 1); /* never past cap */
}

static void test_format_read_from_termios(void **state)
{
    (void)state;
    struct termios t;
    memset(&t, 0, sizeof(t));
    cfsetospeed(&t, B9600);
    t.c_cflag = (t.c_cflag & ~(tcflag_t)CSIZE) | CS7 | PARENB | PARODD | CSTOPB;
    struct uart_fmt f;
    assert_int_equal(uart_fmt_from_termios(&t, &f), 0);
    assert_int_equal(f.baud, 9600);
    assert_int_equal(f.data_bits, 7);
    assert_int_equal(f.parity, 'O');
    assert_int_equal(f.stop_bits, 2);
    t.c_cflag = CS8;
    cfsetospeed(&t, B115200);
    assert_int_equal(uart_fmt_from_termios(&t, &f), 0);
    assert_true(f.baud == 115200 && f.data_bits == 8 && f.parity == 'N' && f.stop_bits == 1);
    cfsetospeed(&t, B0);
    assert_int_equal(uart_fmt_from_termios(&t, &f), -1);

    /* a pty's side: PARENB and CSIZE are the kernel's; INPCK and PARODD tell */
    t.c_cflag = CS8 | CREAD; /* (the speed lives in c_cflag: set it after) */
    cfsetospeed(&t, B19200);
    t.c_iflag = INPCK;
    assert_int_equal(uart_fmt_from_pty_termios(&t, &f), 0);
    assert_true(f.baud == 19200 && f.data_bits == 8 && f.parity == 'E' && f.stop_bits == 1);
    t.c_cflag |= PARODD | CSTOPB;
    assert_int_equal(uart_fmt_from_pty_termios(&t, &f), 0);
    assert_true(f.parity == 'O' && f.stop_bits == 2);
    t.c_cflag = CS7 | PARENB; /* as a client asked: the pty would not keep it */
    cfsetospeed(&t, B19200);
    t.c_iflag = 0;
    assert_int_equal(uart_fmt_from_pty_termios(&t, &f), 0);
    assert_true(f.data_bits == 8 && f.parity == 'N');
}

/* Any bytes, any two formats: the receiver stays within its buffer and ends;
 * with the same format it reads what was sent (the data bits of it). */
static void test_random_formats_and_bytes_stay_in_bounds(void **state)
{
    (void)state;
    static const int bauds[] = {50, 1200, 9600, 19200, 38400, 115200, 921600};
    static const char parities[] = "NEO";
    uint32_t x = 12345;
#define RND() (x = x * 1103515245u + 12345u, x >> 16)
    uint8_t in[300];
    struct uart_char out[64 + 1];
    for (int round = 0; round < 2000; round++) {
        struct uart_fmt f[2];
        for (int k = 0; k < 2; k++)
            f[k] = (struct uart_fmt){bauds[RND() % 7], 5 + (int)(RND() % 4), parities[RND() % 3],
                                     1 + (int)(RND() % 2)};
        size_t n = RND() % sizeof(in);
        for (size_t k = 0; k < n; k++)
            in[k] = (uint8_t)RND();
        size_t cap = 1 + RND() % 64;
        out[cap].value = 0xA5; /* a guard past the end */
        size_t got = uart_receive(&f[0], &f[1], in, n, out, cap);
        assert_true(got <= cap);
        assert_int_equal(out[cap].value, 0xA5);
        got = uart_receive(&f[0], &f[0], in, n, out, cap);
        assert_int_equal(got, n < cap ? n : cap);
        for (size_t k = 0; k < got; k++) {
            assert_int_equal(out[k].value, in[k] & ((1u << f[0].data_bits) - 1));
            assert_int_equal(out[k].errors, 0);
        }
    }
#undef RND
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_character_wire_time_counts_start_parity_and_stop_bits),
        cmocka_unit_test(test_matching_formats_carry_every_byte_unchanged),
        cmocka_unit_test(test_a_wrong_baud_rate_reads_as_garbage),
        cmocka_unit_test(test_a_wrong_parity_gives_parity_or_framing_errors),
        cmocka_unit_test(test_tty_flags_decide_what_read_returns_for_bad_characters),
        cmocka_unit_test(test_format_read_from_termios),
        cmocka_unit_test(test_random_formats_and_bytes_stay_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
