/*
 * mbsrv.c - Modbus request PDUs answered through struct mbsrv_ops, and the
 * framing rules of RTU and TCP requests.
 */
#include "mbsrv.h"

#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

size_t mbsrv_exception(uint8_t function, int code, uint8_t *rsp)
{
    rsp[0] = (uint8_t)(function | 0x80);
    rsp[1] = (uint8_t)code;
    return 2;
}

/* 0x01: address, quantity -> byte count, bits packed LSB first */
static size_t read_coils(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                         size_t len, uint8_t *rsp)
{
    if (len != 5)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    uint16_t addr = get16(req + 1), n = get16(req + 3);
    if (n < 1 || n > MBSRV_MAX_READ_BITS)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    if ((uint32_t)addr + n > 0x10000)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_ADDRESS, rsp);
    uint8_t bits[MBSRV_MAX_READ_BITS];
    int ex = ops->read_coils(ctx, unit, addr, n, bits);
    if (ex)
        return mbsrv_exception(req[0], ex, rsp);
    size_t nbytes = (n + 7u) / 8;
    rsp[0] = req[0];
    rsp[1] = (uint8_t)nbytes;
    memset(rsp + 2, 0, nbytes);
    for (unsigned i = 0; i < n; i++)
        if (bits[i])
            rsp[2 + i / 8] |= (uint8_t)(1u << (i % 8));
    return 2 + nbytes;
}

/* 0x03: address, quantity -> byte count, registers big-endian */
static size_t read_regs(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                        size_t len, uint8_t *rsp)
{
    if (len != 5)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    uint16_t addr = get16(req + 1), n = get16(req + 3);
    if (n < 1 || n > MBSRV_MAX_READ_REGS)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    if ((uint32_t)addr + n > 0x10000)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_ADDRESS, rsp);
    uint16_t regs[MBSRV_MAX_READ_REGS];
    int ex = ops->read_regs(ctx, unit, addr, n, regs);
    if (ex)
        return mbsrv_exception(req[0], ex, rsp);
    rsp[0] = req[0];
    rsp[1] = (uint8_t)(2 * n);
    for (unsigned i = 0; i < n; i++)
        put16(rsp + 2 + 2 * i, regs[i]);
    return 2 + 2u * n;
}

/* 0x05: address, 0xFF00 or 0x0000 -> echo */
static size_t write_coil(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                         size_t len, uint8_t *rsp)
{
    if (len != 5)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    uint16_t v = get16(req + 3);
    if (v != 0xFF00 && v != 0x0000)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    uint8_t bit = v == 0xFF00;
    int ex = ops->write_coils(ctx, unit, get16(req + 1), 1, &bit);
    if (ex)
        return mbsrv_exception(req[0], ex, rsp);
    memcpy(rsp, req, 5);
    return 5;
}

/* 0x06: address, value -> echo */
static size_t write_reg(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                        size_t len, uint8_t *rsp)
{
    if (len != 5)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    uint16_t v = get16(req + 3);
    int ex = ops->write_regs(ctx, unit, get16(req + 1), 1, &v);
    if (ex)
        return mbsrv_exception(req[0], ex, rsp);
    memcpy(rsp, req, 5);
    return 5;
}

/* 0x0F: address, quantity, byte count, bits -> address, quantity */
static size_t write_coils(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                          size_t len, uint8_t *rsp)
{
    if (len < 6)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    uint16_t addr = get16(req + 1), n = get16(req + 3);
    if (n < 1 || n > MBSRV_MAX_WRITE_BITS || req[5] != (n + 7u) / 8 || len != 6u + req[5])
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    if ((uint32_t)addr + n > 0x10000)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_ADDRESS, rsp);
    uint8_t bits[MBSRV_MAX_WRITE_BITS];
    for (unsigned i = 0; i < n; i++)
        bits[i] = (uint8_t)(req[6 + i / 8] >> (i % 8) & 1);
    int ex = ops->write_coils(ctx, unit, addr, n, bits);
    if (ex)
        return mbsrv_exception(req[0], ex, rsp);
    memcpy(rsp, req, 5);
    return 5;
}

/* 0x10: address, quantity, byte count, registers -> address, quantity */
static size_t write_regs(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                         size_t len, uint8_t *rsp)
{
    if (len < 6)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    uint16_t addr = get16(req + 1), n = get16(req + 3);
    if (n < 1 || n > MBSRV_MAX_WRITE_REGS || req[5] != 2 * n || len != 6u + req[5])
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    if ((uint32_t)addr + n > 0x10000)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_ADDRESS, rsp);
    uint16_t regs[MBSRV_MAX_WRITE_REGS];
    for (unsigned i = 0; i < n; i++)
        regs[i] = get16(req + 6 + 2 * i);
    int ex = ops->write_regs(ctx, unit, addr, n, regs);
    if (ex)
        return mbsrv_exception(req[0], ex, rsp);
    memcpy(rsp, req, 5);
    return 5;
}

/* 0x11: -> byte count, server id text, run indicator 0xFF */
static size_t report_id(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                        size_t len, uint8_t *rsp)
{
    if (len != 1)
        return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_VALUE, rsp);
    char text[200] = "";
    int ex = ops->ident(ctx, unit, text, sizeof(text));
    if (ex)
        return mbsrv_exception(req[0], ex, rsp);
    size_t n = strnlen(text, sizeof(text) - 1);
    rsp[0] = req[0];
    rsp[1] = (uint8_t)(n + 1);
    memcpy(rsp + 2, text, n);
    rsp[2 + n] = 0xFF;
    return 3 + n;
}

size_t mbsrv_handle(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                    size_t len, uint8_t *rsp)
{
    switch (req[0]) {
    case 0x01:
        if (ops->read_coils)
            return read_coils(ops, ctx, unit, req, len, rsp);
        break;
    case 0x03:
        if (ops->read_regs)
            return read_regs(ops, ctx, unit, req, len, rsp);
        break;
    case 0x05:
        if (ops->write_coils)
            return write_coil(ops, ctx, unit, req, len, rsp);
        break;
    case 0x06:
        if (ops->write_regs)
            return write_reg(ops, ctx, unit, req, len, rsp);
        break;
    case 0x0F:
        if (ops->write_coils)
            return write_coils(ops, ctx, unit, req, len, rsp);
        break;
    case 0x10:
        if (ops->write_regs)
            return write_regs(ops, ctx, unit, req, len, rsp);
        break;
    case 0x11:
        if (ops->ident)
            return report_id(ops, ctx, unit, req, len, rsp);
        break;
    default:
        break;
    }
    return mbsrv_exception(req[0], MBSRV_EX_ILLEGAL_FUNCTION, rsp);
}

uint16_t mbsrv_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

int mbsrv_rtu_request_len(const uint8_t *buf, size_t n)
{
    if (n < 2)
        return 0;
    switch (buf[1]) {
    case 0x01: /* reads and single writes: address, quantity or value */
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x05:
    case 0x06:
        return 8;
    case 0x07: /* no data */
    case 0x0B:
    case 0x0C:
    case 0x11:
        return 4;
    case 0x08: /* diagnostics: sub-function, one word of data */
        return 8;
    case 0x0F: /* address, quantity, byte count, data */
    case 0x10:
        return n < 7 ? 0 : 9 + buf[6];
    case 0x16: /* mask write: address, and, or */
        return 10;
    case 0x17: /* read address, quantity, write address, quantity, byte count, data */
        return n < 11 ? 0 : 13 + buf[10];
    default:
        return -1;
    }
}

static bool crc_ok(const uint8_t *f, size_t n)
{
    uint16_t crc = mbsrv_crc16(f, n - 2);
    return f[n - 2] == (uint8_t)crc && f[n - 1] == (crc >> 8);
}

enum mbsrv_rtu_cut mbsrv_rtu_cut(const uint8_t *buf, size_t n, bool silent, size_t *len)
{
    int need = mbsrv_rtu_request_len(buf, n);
    *len = n;
    if (need > MBSRV_RTU_MAX)
        return MBSRV_RTU_TOO_LONG;
    if (need > 0 && (size_t)need <= n) {
        *len = (size_t)need;
        return crc_ok(buf, (size_t)need) ? MBSRV_RTU_FRAME : MBSRV_RTU_BAD_CRC;
    }
    if (!silent)
        return MBSRV_RTU_WAIT;
    if (need < 0 && n >= 4 && crc_ok(buf, n))
        return MBSRV_RTU_FRAME;
    return MBSRV_RTU_NO_FRAME;
}

int64_t mbsrv_rtu_silence_ns(int baud)
{
    if (baud <= 0 || baud > 19200)
        return 1750000;
    /* 35,000,000 / baud us (the Modbus serial line guide): 1.82 ms at 19200 */
    return 35000000000LL / baud;
}

int mbsrv_tcp_frame_len(const uint8_t *buf, size_t n)
{
    if (n < 6)
        return 0;
    if (get16(buf + 2) != 0)
        return -1;
    uint16_t len = get16(buf + 4); /* unit id + PDU */
    if (len < 2 || len > 254)
        return -1;
    return n < 6u + len ? 0 : 6 + len;
}
