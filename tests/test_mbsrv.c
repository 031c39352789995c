/*
 * test_mbsrv.c - the Modbus server side: answers, exceptions, CRC and the
 * framing of RTU and TCP requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mbsrv.h"

/* A device with 10 registers (value 100 + address) and 20 coils; unit 5 only. */
struct fake {
    uint16_t regs[10];
    uint8_t coils[20];
    int writes;
};

static int f_read_coils(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, uint8_t *bits)
{
    struct fake *f = ctx;
    if (unit != 5)
        return MBSRV_EX_GATEWAY_TARGET;
    if (addr + n > 20)
        return MBSRV_EX_ILLEGAL_ADDRESS;
    memcpy(bits, f->coils + addr, n);
    return 0;
}

static int f_read_regs(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, uint16_t *regs)
{
    struct fake *f = ctx;
    (void)unit;
    if (addr + n > 10)
        return MBSRV_EX_ILLEGAL_ADDRESS;
    memcpy(regs, f->regs + addr, n * sizeof(*regs));
    return 0;
}

static int f_write_coils(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, const uint8_t *bits)
{
    struct fake *f = ctx;
    (void)unit;
    if (addr + n > 20)
        return MBSRV_EX_ILLEGAL_ADDRESS;
    memcpy(f->coils + addr, bits, n);
    f->writes++;
    return 0;
}

static int f_write_regs(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, const uint16_t *regs)
{
    struct fake *f = ctx;
    (void)unit;
    if (addr + n > 10)
        return MBSRV_EX_ILLEGAL_ADDRESS;
    memcpy(f->regs + addr, regs, n * sizeof(*regs));
    f->writes++;
    return 0;
}

static int f_ident(void *ctx, uint8_t unit, char *buf, size_t len)
{
    (void)ctx;
    (void)unit;
    strncpy(buf, "fake", len);
    return 0;
}

static const struct mbsrv_ops ops = {f_read_coils, f_read_regs, f_write_coils, f_write_regs,
                                     f_ident};

static struct fake dev;
static uint8_t rsp[MBSRV_PDU_MAX];

static int setup(void **state)
{
    (void)state;
    memset(&dev, 0, sizeof(dev));
    for (int i = 0; i < 10; i++)
        dev.regs[i] = (uint16_t)(100 + i);
    dev.coils[3] = 1;
    dev.coils[9] = 1;
    return 0;
}

static size_t ask(const uint8_t *req, size_t len)
{
    memset(rsp, 0xAA, sizeof(rsp));
    return mbsrv_handle(&ops, &dev, 5, req, len, rsp);
}

static void assert_exception(const uint8_t *req, size_t len, int code)
{
    size_t n = ask(req, len);
    assert_int_equal(n, 2);
    assert_int_equal(rsp[0], req[0] | 0x80);
    assert_int_equal(rsp[1], code);
}

static void test_read_holding_registers_big_endian(void **state)
{
    (void)state;
    const uint8_t req[] = {0x03, 0x00, 0x02, 0x00, 0x03};
    assert_int_equal(ask(req, sizeof(req)), 8);
    const uint8_t want[] = {0x03, 6, 0, 102, 0, 103, 0, 104};
    assert_memory_equal(rsp, want, sizeof(want));
}

static void test_read_coils_packed_lsb_first(void **state)
{
    (void)state;
    const uint8_t req[] = {0x01, 0x00, 0x00, 0x00, 0x0A};
    assert_int_equal(ask(req, sizeof(req)), 4);
    assert_int_equal(rsp[1], 2);
    assert_int_equal(rsp[2], 0x08); /* coil 3 */
    assert_int_equal(rsp[3], 0x02); /* coil 9 */
}

static void test_out_of_range_address_is_exception_2(void **state)
{
    (void)state;
    const uint8_t req[] = {0x03, 0x00, 0x08, 0x00, 0x03};
    assert_exception(req, sizeof(req), MBSRV_EX_ILLEGAL_ADDRESS);
    const uint8_t wrap[] = {0x03, 0xFF, 0xFF, 0x00, 0x02};
    assert_exception(wrap, sizeof(wrap), MBSRV_EX_ILLEGAL_ADDRESS);
}

static void test_unsupported_function_is_exception_1(void **state)
{
    (void)state;
    const uint8_t in_regs[] = {0x04, 0x00, 0x00, 0x00, 0x01};
    assert_exception(in_regs, sizeof(in_regs), MBSRV_EX_ILLEGAL_FUNCTION);
    const uint8_t ident[] = {0x2B, 0x0E, 0x01, 0x00};
    assert_exception(ident, sizeof(ident), MBSRV_EX_ILLEGAL_FUNCTION);
    struct mbsrv_ops none = {0};
    const uint8_t rd[] = {0x03, 0x00, 0x00, 0x00, 0x01};
    assert_int_equal(mbsrv_handle(&none, &dev, 5, rd, sizeof(rd), rsp), 2);
    assert_int_equal(rsp[1], MBSRV_EX_ILLEGAL_FUNCTION);
}

static void test_bad_quantity_or_length_is_exception_3(void **state)
{
    (void)state;
    const uint8_t zero[] = {0x03, 0x00, 0x00, 0x00, 0x00};
    assert_exception(zero, sizeof(zero), MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t many[] = {0x03, 0x00, 0x00, 0x00, 126};
    assert_exception(many, sizeof(many), MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t short_req[] = {0x03, 0x00, 0x00};
    assert_exception(short_req, sizeof(short_req), MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t coil_value[] = {0x05, 0x00, 0x01, 0x12, 0x34};
    assert_exception(coil_value, sizeof(coil_value), MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t count[] = {0x10, 0x00, 0x00, 0x00, 0x02, 0x03, 0, 1, 0};
    assert_exception(count, sizeof(count), MBSRV_EX_ILLEGAL_VALUE);
    const uint8_t bits[] = {0x0F, 0x00, 0x00, 0x00, 0x09, 0x01, 0xFF};
    assert_exception(bits, sizeof(bits), MBSRV_EX_ILLEGAL_VALUE);
    assert_int_equal(dev.writes, 0);
}

static void test_writes_echo_and_apply(void **state)
{
    (void)state;
    const uint8_t coil[] = {0x05, 0x00, 0x04, 0xFF, 0x00};
    assert_int_equal(ask(coil, sizeof(coil)), 5);
    assert_memory_equal(rsp, coil, 5);
    assert_int_equal(dev.coils[4], 1);

    const uint8_t reg[] = {0x06, 0x00, 0x01, 0x12, 0x34};
    assert_int_equal(ask(reg, sizeof(reg)), 5);
    assert_int_equal(dev.regs[1], 0x1234);

    const uint8_t regs[] = {0x10, 0x00, 0x07, 0x00, 0x02, 0x04, 0xAB, 0xCD, 0x00, 0x07};
    assert_int_equal(ask(regs, sizeof(regs)), 5);
    assert_memory_equal(rsp, regs, 5);
    assert_int_equal(dev.regs[7], 0xABCD);
    assert_int_equal(dev.regs[8], 7);

    const uint8_t coils[] = {0x0F, 0x00, 0x0A, 0x00, 0x0A, 0x02, 0x05, 0x02};
    assert_int_equal(ask(coils, sizeof(coils)), 5);
    assert_int_equal(dev.coils[10], 1);
    assert_int_equal(dev.coils[11], 0);
    assert_int_equal(dev.coils[12], 1);
    assert_int_equal(dev.coils[19], 1);
}

static void test_device_exception_passes_through(void **state)
{
    (void)state;
    const uint8_t req[] = {0x01, 0x00, 0x00, 0x00, 0x01};
    memset(rsp, 0, sizeof(rsp));
    assert_int_equal(mbsrv_handle(&ops, &dev, 6, req, sizeof(req), rsp), 2);
    assert_int_equal(rsp[0], 0x81);
    assert_int_equal(rsp[1], MBSRV_EX_GATEWAY_TARGET);
}

static void test_report_server_id(void **state)
{
    (void)state;
    const uint8_t req[] = {0x11};
    assert_int_equal(ask(req, 1), 7);
    assert_int_equal(rsp[1], 5);
    assert_memory_equal(rsp + 2, "fake", 4);
    assert_int_equal(rsp[6], 0xFF);
}

static void test_crc16_modbus(void **state)
{
    (void)state;
    /* the textbook frame 01 03 00 00 00 0A has CRC C5 CD on the wire */
    const uint8_t f[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x0A};
    uint16_t crc = mbsrv_crc16(f, sizeof(f));
    assert_int_equal(crc & 0xFF, 0xC5);
    assert_int_equal(crc >> 8, 0xCD);
    assert_int_equal(mbsrv_crc16((const uint8_t *)"123456789", 9), 0x4B37);
}

static void test_rtu_request_length(void **state)
{
    (void)state;
    const uint8_t rd[] = {200, 0x03, 0, 79, 0, 1};
    assert_int_equal(mbsrv_rtu_request_len(rd, 1), 0);
    assert_int_equal(mbsrv_rtu_request_len(rd, 2), 8);
    const uint8_t wr[] = {1, 0x10, 0, 0, 0, 2, 4, 0, 1, 0, 2};
    assert_int_equal(mbsrv_rtu_request_len(wr, 6), 0);
    assert_int_equal(mbsrv_rtu_request_len(wr, 7), 13);
    const uint8_t id[] = {1, 0x11};
    assert_int_equal(mbsrv_rtu_request_len(id, 2), 4);
    const uint8_t odd[] = {1, 0x2B};
    assert_int_equal(mbsrv_rtu_request_len(odd, 2), -1);
}

/* A frame with its CRC on the end, as a master sends it. */
static size_t with_crc(uint8_t *f, size_t n)
{
    uint16_t crc = mbsrv_crc16(f, n);
    f[n] = (uint8_t)crc;
    f[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

static void test_rtu_cut_frames_by_length_crc_and_silence(void **state)
{
    (void)state;
    size_t n;
    uint8_t f[32] = {200, 0x03, 0, 79, 0, 1};
    size_t len = with_crc(f, 6);
    f[len] = 201; /* the start of the next frame behind it */
    assert_int_equal(mbsrv_rtu_cut(f, 5, false, &n), MBSRV_RTU_WAIT);
    assert_int_equal(mbsrv_rtu_cut(f, len + 1, false, &n), MBSRV_RTU_FRAME);
    assert_int_equal(n, len);
    f[len - 1] ^= 0xFF;
    assert_int_equal(mbsrv_rtu_cut(f, len, false, &n), MBSRV_RTU_BAD_CRC);
    assert_int_equal(n, len);
    /* a cut-short request is nothing at the silence */
    assert_int_equal(mbsrv_rtu_cut(f, 5, true, &n), MBSRV_RTU_NO_FRAME);
    /* a function of unknown length ends at the silence, if its CRC is good */
    uint8_t odd[8] = {1, 0x2B, 0x0E, 0x01};
    size_t olen = with_crc(odd, 4);
    assert_int_equal(mbsrv_rtu_cut(odd, olen, false, &n), MBSRV_RTU_WAIT);
    assert_int_equal(mbsrv_rtu_cut(odd, olen, true, &n), MBSRV_RTU_FRAME);
    assert_int_equal(n, olen);
    odd[0] = 2;
    assert_int_equal(mbsrv_rtu_cut(odd, olen, true, &n), MBSRV_RTU_NO_FRAME);
    /* a byte count past one frame's room is noise */
    uint8_t big[8] = {1, 0x10, 0, 0, 0, 0x7F, 0xFE};
    assert_int_equal(mbsrv_rtu_cut(big, 7, false, &n), MBSRV_RTU_TOO_LONG);
}

static void test_rtu_silence(void **state)
{
    (void)state;
    assert_int_equal(mbsrv_rtu_silence_ns(19200), 1822916);
    assert_int_equal(mbsrv_rtu_silence_ns(9600), 3645833);
    assert_int_equal(mbsrv_rtu_silence_ns(115200), 1750000);
}

static void test_tcp_frame_length(void **state)
{
    (void)state;
    const uint8_t f[] = {0x12, 0x34, 0, 0, 0, 6, 200, 0x03, 0, 79, 0, 1, 0xEE};
    assert_int_equal(mbsrv_tcp_frame_len(f, 5), 0);
    assert_int_equal(mbsrv_tcp_frame_len(f, 11), 0);
    assert_int_equal(mbsrv_tcp_frame_len(f, 12), 12);
    assert_int_equal(mbsrv_tcp_frame_len(f, 13), 12);
    const uint8_t proto[] = {0, 1, 0, 1, 0, 6};
    assert_int_equal(mbsrv_tcp_frame_len(proto, 6), -1);
    const uint8_t len1[] = {0, 1, 0, 0, 0, 1};
    assert_int_equal(mbsrv_tcp_frame_len(len1, 6), -1);
    const uint8_t huge[] = {0, 1, 0, 0, 1, 0};
    assert_int_equal(mbsrv_tcp_frame_len(huge, 6), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_read_holding_registers_big_endian, setup),
        cmocka_unit_test_setup(test_read_coils_packed_lsb_first, setup),
        cmocka_unit_test_setup(test_out_of_range_address_is_exception_2, setup),
        cmocka_unit_test_setup(test_unsupported_function_is_exception_1, setup),
        cmocka_unit_test_setup(test_bad_quantity_or_length_is_exception_3, setup),
        cmocka_unit_test_setup(test_writes_echo_and_apply, setup),
        cmocka_unit_test_setup(test_device_exception_passes_through, setup),
        cmocka_unit_test_setup(test_report_server_id, setup),
        cmocka_unit_test(test_crc16_modbus),
        cmocka_unit_test(test_rtu_request_length),
        cmocka_unit_test(test_rtu_cut_frames_by_length_crc_and_silence),
        cmocka_unit_test(test_rtu_silence),
        cmocka_unit_test(test_tcp_frame_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
