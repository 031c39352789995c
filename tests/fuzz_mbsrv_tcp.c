/*
 * fuzz_mbsrv_tcp.c - libFuzzer target for rackpower-sim serve's Modbus TCP
 * side: the input is what one client sends on its connection. It is cut into
 * MBAP frames by mbsrv_tcp_frame_len, as the server cuts its receive buffer,
 * and each frame is answered by mbsrv_handle over the simulated devices of
 * the demo rack (simdevs), so writes reach the physics too. Any bytes must be
 * framed, answered or refused, never crash or overrun. The devices start
 * afresh for each input, so a finding replays alone.
 * Run: make fuzz (tests/fuzz/mbsrv_tcp holds the seeds).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_simrack.h"
#include "mbsrv.h"
#include "physics.h"
#include "simdevs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct phys ph;
    struct simdevs dev;
    if (phys_init(&ph, fuzz_demo_rack(), 1, 0, 0))
        return 0;
    if (simdevs_init(&dev, &ph, 19200)) {
        phys_free(&ph);
        return 0;
    }
    int64_t now_ns = 0;
    size_t off = 0;
    while (off < size) {
        int len = mbsrv_tcp_frame_len(data + off, size - off);
        if (len < 0 || len == 0) /* malformed: disconnected; incomplete: the client went */
            break;
        if ((size_t)len > size - off || len > MBSRV_TCP_MAX || len < 8)
            __builtin_trap(); /* a frame must lie inside what was received */
        const uint8_t *f = data + off;
        uint8_t rsp[MBSRV_PDU_MAX];
        size_t n;
        if (simdevs_kind(&dev, f[6]) == SIMDEVS_NONE) {
            n = mbsrv_exception(f[7], MBSRV_EX_GATEWAY_TARGET, rsp);
        } else {
            dev.now_ns = now_ns;
            n = mbsrv_handle(&simdevs_ops, &dev, f[6], f + 7, (size_t)len - 7, rsp);
        }
        if (n < 2 || n > MBSRV_PDU_MAX || (rsp[0] & 0x7f) != (f[7] & 0x7f))
            __builtin_trap(); /* an answer or an exception, for the function asked */
        ph.nev = 0;           /* the server logs and drops the devices' events after each request */
        now_ns += 1000000;
        phys_step(&ph, now_ns);
        off += (size_t)len;
    }
    simdevs_free(&dev);
    phys_free(&ph);
    return 0;
}
