/*
 * fuzz_mbsrv_rtu.c - libFuzzer target for rackpower-sim serve's Modbus RTU
 * framing: the input's first byte sets how many bytes each read from the
 * line brings (1..64), the rest is what the line carries, ending in a
 * silence. Frames are cut by mbsrv_rtu_cut, the rule serve_rtu.c's line
 * uses: by the length the function code gives, checked by CRC, or, for a
 * function of unknown length, at the silence; each good frame is
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
        size_t n;
        enum mbsrv_rtu_cut cut = mbsrv_rtu_cut(l->buf, l->len, silent, &n);
        if (n < 1 || n > l->len)
            __builtin_trap(); /* a cut past the bytes received */
        if (cut == MBSRV_RTU_WAIT)
            return;
        if (cut == MBSRV_RTU_FRAME) {
            answer(l, l->buf, n);
            memmove(l->buf, l->buf + n, l->len - n);
            l->len -= n;
            continue;
        }
        l->discard = cut == MBSRV_RTU_TOO_LONG || (cut == MBSRV_RTU_BAD_CRC && !silent);
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
