/*
 * bench_rackbus.c - what a rack bus message costs (src/wire/rackbus.c,
 * docs/benchmarks.md): encode (with its HMAC-SHA256), decode (which checks
 * the HMAC) and the replay guard's check, for a heartbeat and for APPENDs of
 * 1 KiB, 16 KiB and the largest payload a datagram carries. Prints figures;
 * not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "monoclock.h"
#include "rackbus.h"

static uint8_t buf[RACKBUS_MAX_DATAGRAM];
static uint8_t payload[RACKBUS_MAX_PAYLOAD];

static int one(const char *what, int type, uint32_t plen, long n)
{
    struct rackbus_key k = {.len = 32};
    for (size_t i = 0; i < k.len; i++)
        k.bytes[i] = (uint8_t)(i * 37 + 11);
    struct rackbus_msg m = {
        .type = (uint8_t)type, .from = 1, .to = 0, .epoch = 0x101, .boot_id = 0xb007, .seq = 1};
    if (type == RACKBUS_APPEND)
        m.u.append = (struct rackbus_append){0x101, 1, 0, RACKBUS_ENTRY, 0, payload, plen};
    else
        m.u.heartbeat = (struct rackbus_heartbeat){0x101, 1000, 999};
    struct guard g;
    guard_init(&g);
    /* the sender verified, as after its first challenge */
    g.peers[1].verified = true;
    g.peers[1].boot_id = 0xb007;
    char err[256];
    size_t len = 0;
    int64_t enc_ns = 0, dec_ns = 0, guard_ns = 0;
    for (long i = 0; i < n; i++) {
        m.seq = (uint64_t)i + 1;
        int64_t t0 = mono_ns();
        if (rackbus_encode(&m, &k, buf, sizeof(buf), &len, err, sizeof(err))) {
            fprintf(stderr, "bench-rackbus: %s\n", err);
            return 1;
        }
        int64_t t1 = mono_ns();
        struct rackbus_msg d;
        if (rackbus_decode(buf, len, &k, &d, err, sizeof(err))) {
            fprintf(stderr, "bench-rackbus: %s\n", err);
            return 1;
        }
        int64_t t2 = mono_ns();
        if (guard_check(&g, &d, t2) != GUARD_ACCEPT) {
            fprintf(stderr, "bench-rackbus: message %ld not accepted\n", i);
            return 1;
        }
        int64_t t3 = mono_ns();
        enc_ns += t1 - t0;
        dec_ns += t2 - t1;
        guard_ns += t3 - t2;
    }
    double e = (double)enc_ns / n / 1000, d = (double)dec_ns / n / 1000,
           gu = (double)guard_ns / n / 1000;
    printf("%-22s %6zu B  encode %8.2f us  decode %8.2f us  guard %6.3f us  all %8.2f us  "
           "%9.0f msg/s\n",
           what, len, e, d, gu, e + d + gu, 1e6 / (e + d + gu));
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench-rackbus [messages]\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 131);
    printf("bench-rackbus: %ld messages each, 32-byte key, HMAC-SHA256 by GnuTLS\n", n);
    return one("heartbeat", RACKBUS_HEARTBEAT, 0, n) ||
           one("append 1 KiB", RACKBUS_APPEND, 1024, n) ||
           one("append 16 KiB", RACKBUS_APPEND, 16384, n / 10 + 1) ||
           one("append largest", RACKBUS_APPEND, RACKBUS_MAX_PAYLOAD, n / 40 + 1);
}
