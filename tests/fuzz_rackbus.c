/*
 * fuzz_rackbus.c - libFuzzer target for the rack bus's messages
 * (src/wire/rackbus.c): any datagram, under a fixed key. Random bytes almost
 * never pass the HMAC, so the first byte of the input chooses: even, the rest
 * is decoded as it came (what a forger sends); odd, the rest is sealed with
 * the key first (what a faulty sender holding the key could send), so the
 * checks behind the HMAC are reached too. Checked beyond "no crash": a
 * refusal has a reason; what decodes has its payload inside the datagram and
 * encodes again to the very same bytes (the layout has one encoding per
 * message).
 * Run: make fuzz (tests/fuzz/rackbus holds one sealed datagram of each type,
 * made with this key; an odd first byte reseals anyway).
 */
#include <gnutls/crypto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rackbus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_KEY "rackpower fuzz key: 32 bytes ok!"

static uint8_t datagram[RACKBUS_MAX_DATAGRAM + 1];
static uint8_t again[RACKBUS_MAX_DATAGRAM];

/* A decoded payload lies inside the datagram it came in. */
static void payload_inside(const struct rackbus_msg *m, const uint8_t *buf, size_t size)
{
    const uint8_t *p = NULL;
    uint32_t len = 0;
    switch (m->type) {
    case RACKBUS_APPEND:
        p = m->u.append.payload;
        len = m->u.append.len;
        break;
    case RACKBUS_FORWARD:
        p = m->u.forward.payload;
        len = m->u.forward.len;
        break;
    case RACKBUS_ANSWER:
        p = m->u.answer.payload;
        len = m->u.answer.len;
        break;
    }
    if (len && (p < buf || len > size || p > buf + size - len))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > sizeof(datagram))
        return 0;
    struct rackbus_key k = {.len = 32};
    memcpy(k.bytes, FUZZ_KEY, 32);
    bool seal = data[0] & 1;
    size--;
    /* An exact-size copy (in the static buffer's tail when smaller), so that
     * ASan sees a read past the end. */
    uint8_t *buf = datagram + sizeof(datagram) - size;
    memcpy(buf, data + 1, size);
    if (seal && size >= RACKBUS_MAC_BYTES)
        gnutls_hmac_fast(GNUTLS_MAC_SHA256, k.bytes, k.len, buf, size - RACKBUS_MAC_BYTES,
                         buf + size - RACKBUS_MAC_BYTES);

    struct rackbus_msg m;
    char err[200] = "";
    if (rackbus_decode(buf, size, &k, &m, err, sizeof(err)) != 0) {
        if (!err[0])
            __builtin_trap(); /* a refusal says why */
        return 0;
    }
    payload_inside(&m, buf, size);

    size_t len = 0;
    if (rackbus_encode(&m, &k, again, sizeof(again), &len, err, sizeof(err)) != 0)
        __builtin_trap(); /* what decodes can be sent */
    if (len != size || memcmp(again, buf, size) != 0)
        __builtin_trap(); /* and is sent as the same bytes */
    return 0;
}
