/*
 * fuzz_mbsrv_rtu.c - libFuzzer target for rackpower-sim serve's Modbus RTU
 * framing: the input's first byte sets how many bytes each read from the
 * line brings (1..64), the rest is what the line carries, ending in a
 * silence. Frames are cut as serve_rtu.c's serve_rtu_process cuts them: by the length
 * mbsrv_rtu_request_len derives from the function code, checked by CRC, or,
 * for a function of unknown length, at the silence; each good frame is
 * answered by mbsrv_handle over the demo rack's simulated devices. Any bytes
 * must be framed, answered or dropped, never crash or overrun.
 * Run: make fuzz (tests/fuzz/mbsrv_rtu holds the seeds).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_simrack.h"
#include "mbsrv.h"
#include "physics.h"
#include "simdevs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct line {
    struct phys ph;
    struct simdevs dev;
    uint8_t buf[4 * MBSRV_RTU_MAX]; /* as serve_rtu.c's receive buffer */
    size_t len;
    bool discard;
    int64_t now_ns;
};

static void answer(struct line *l, const uint8_t *f, size_t len)
{
    uint8_t unit = f[0];
    if (unit == 0 || simdevs_kind(&l->dev, unit) == SIMDEVS_NONE)
        return; /* broadcasts and units nobody serves: no answer */
    if (len < 4 || len > MBSRV_RTU_MAX)
        __builtin_trap(); /* address, function, CRC at least; one PDU at most */
    /* the PDU alone on the heap, so that reading past it is an ASan finding */
    uint8_t *pdu = malloc(len - 3), rsp[MBSRV_RTU_MAX];
    if (!pdu)
        return;
    memcpy(pdu, f + 1, len - 3);
    l->dev.now_ns = l->now_ns;
    size_t n = mbsrv_handle(&simdevs_ops, &l->dev, unit, pdu, len - 3, rsp + 1);
    free(pdu);
    if (n < 2 || n > MBSRV_PDU_MAX || (rsp[1] & 0x7f) != (f[1] & 0x7f))
        __builtin_trap();
    l->ph.nev = 0;
}

static void process(struct line *l, bool silent)
{
    while (l->len > 0) {
        int need = mbsrv_rtu_request_len(l->buf, l->len);
        if (need > MBSRV_RTU_MAX) {
            l->discard = true;
            l->len = 0;
            return;
        }
        if (need > 0 && (size_t)need <= l->len) {
            uint16_t crc = mbsrv_crc16(l->buf, (size_t)need - 2);
            if (l->buf[need - 2] != (uint8_t)crc || l->buf[need - 1] != (crc >> 8)) {
                l->discard = !silent;
                l->len = 0;
                return;
            }
            answer(l, l->buf, (size_t)need);
            memmove(l->buf, l->buf + need, l->len - (size_t)need);
            l->len -= (size_t)need;
            continue;
        }
        if (!silent)
            return;
        if (need < 0 && l->len >= 4) {
            uint16_t crc = mbsrv_crc16(l->buf, l->len - 2);
            if (l->buf[l->len - 2] == (uint8_t)crc && l->buf[l->len - 1] == (crc >> 8))
                answer(l, l->buf, l->len);
        }
        l->len = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static struct line l;
    memset(&l, 0, sizeof(l));
    if (phys_init(&l.ph, fuzz_demo_rack(), 1, 0, 0))
        return 0;
    if (simdevs_init(&l.dev, &l.ph, 19200)) {
        phys_free(&l.ph);
        return 0;
    }
    size_t chunk = 1 + data[0] % 64, off = 1;
    while (off < size) {
        size_t take = size - off < chunk ? size - off : chunk;
        l.now_ns += 100000;
        if (!l.discard) {
            if (l.len + take > sizeof(l.buf)) {
                l.len = 0;
                l.discard = true;
            } else {
                memcpy(l.buf + l.len, data + off, take);
                l.len += take;
                process(&l, false);
            }
        }
        off += take;
    }
    l.discard = false;
    process(&l, true); /* the line falls silent */
    simdevs_free(&l.dev);
    phys_free(&l.ph);
    return 0;
}
