/*
 * mbsrv.h - the server side of Modbus, pure: answers request PDUs through a
 * small device interface, and finds request frames in a byte stream (RTU:
 * address, PDU, CRC-16/MODBUS; TCP: the MBAP header).
 *
 * rackpower-sim serve frames requests itself rather than through libmodbus's
 * server calls because one line must answer many unit ids (an RTU context of
 * libmodbus 3.1.6 filters requests by its one slave id) and because no client
 * may block the others (modbus_receive waits for a whole frame from one
 * peer). docs/sim-devices.md.
 */
#ifndef MBSRV_H
#define MBSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MBSRV_PDU_MAX 253 /* function code + data */
#define MBSRV_RTU_MAX 256 /* address + PDU + CRC */
#define MBSRV_TCP_MAX 260 /* MBAP (7 bytes with the unit id) + PDU */

/* Exception codes (Modbus application protocol v1.1b3, section 7). */
enum mbsrv_exception {
    MBSRV_EX_ILLEGAL_FUNCTION = 0x01,
    MBSRV_EX_ILLEGAL_ADDRESS = 0x02,
    MBSRV_EX_ILLEGAL_VALUE = 0x03,
    MBSRV_EX_DEVICE_FAILURE = 0x04,
    MBSRV_EX_GATEWAY_TARGET = 0x0B, /* gateway target device failed to respond */
};

/* Limits of one request (the protocol's, so every answer fits one PDU). */
#define MBSRV_MAX_READ_BITS 2000
#define MBSRV_MAX_READ_REGS 125
#define MBSRV_MAX_WRITE_BITS 1968
#define MBSRV_MAX_WRITE_REGS 123

/*
 * What a server serves. Each call returns 0, or the exception code to answer
 * (a write that returns one must have changed nothing). Bits are one byte
 * each, 0 or 1. A NULL function answers MBSRV_EX_ILLEGAL_FUNCTION.
 */
struct mbsrv_ops {
    int (*read_coils)(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, uint8_t *bits);
    int (*read_regs)(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, uint16_t *regs);
    int (*write_coils)(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, const uint8_t *bits);
    int (*write_regs)(void *ctx, uint8_t unit, uint16_t addr, uint16_t n, const uint16_t *regs);
    /* Report Server ID (0x11): a short text for the unit into buf. */
    int (*ident)(void *ctx, uint8_t unit, char *buf, size_t len);
};

/*
 * Answers one request PDU (function code first, len >= 1) for unit: 0x01
 * read coils, 0x03 read holding registers, 0x05/0x0F write coils, 0x06/0x10
 * write registers, 0x11 report server id; anything else is an illegal
 * function. A PDU of the wrong length or a quantity out of the protocol's
 * bounds is an illegal data value. Writes the response PDU (an answer or an
 * exception) to rsp (MBSRV_PDU_MAX bytes) and returns its length.
 */
size_t mbsrv_handle(const struct mbsrv_ops *ops, void *ctx, uint8_t unit, const uint8_t *req,
                    size_t len, uint8_t *rsp);

/* An exception response PDU for function; returns its length (2). */
size_t mbsrv_exception(uint8_t function, int code, uint8_t *rsp);

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first. */
uint16_t mbsrv_crc16(const uint8_t *p, size_t n);

/*
 * RTU: the length of the request frame at the start of buf (n bytes so far),
 * from its function code and byte count: > 0 the whole frame's length
 * (address to CRC), 0 more bytes are needed to tell, -1 a function whose
 * length cannot be told (such a frame ends at the silent interval).
 */
int mbsrv_rtu_request_len(const uint8_t *buf, size_t n);

/* What the bytes received so far make (mbsrv_rtu_cut). */
enum mbsrv_rtu_cut {
    MBSRV_RTU_WAIT,     /* a frame not yet whole: wait for more, or for the silence */
    MBSRV_RTU_FRAME,    /* a whole frame, its CRC good: *n bytes */
    MBSRV_RTU_BAD_CRC,  /* a whole frame, its CRC bad (*n bytes): the rest is noise */
    MBSRV_RTU_TOO_LONG, /* a length past MBSRV_RTU_MAX: noise until the silence */
    MBSRV_RTU_NO_FRAME, /* at the silence, bytes that make no frame */
};

/*
 * RTU framing, the one rule for the simulator's line and its fuzz target:
 * a frame ends when the length its function code gives is complete, or, for
 * a function of unknown length, at the silence (silent: t3.5 has passed
 * since the last byte), if its CRC is good. buf holds n bytes, n > 0.
 */
enum mbsrv_rtu_cut mbsrv_rtu_cut(const uint8_t *buf, size_t n, bool silent, size_t *len);

/* t3.5 in ns: 35,000,000 / baud us up to 19200 baud, 1.75 ms above. */
int64_t mbsrv_rtu_silence_ns(int baud);

/*
 * TCP: the length of the MBAP frame at the start of buf: > 0 complete, 0
 * incomplete, -1 malformed (protocol id not 0, or a length field outside
 * 2..254): the stream cannot be resynchronised.
 */
int mbsrv_tcp_frame_len(const uint8_t *buf, size_t n);

#endif
