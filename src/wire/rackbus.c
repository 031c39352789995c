/*
 * rackbus.c - encoding, decoding and sealing of the rack bus's messages, and
 * the key file. The layout is in rackbus.h.
 *
 * The HMAC is GnuTLS's (docs/security.md: the one crypto stack the project
 * already links for TLS). A datagram is external input: every length is
 * checked against what is left before anything is read.
 */
#include "rackbus.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The fixed part of each type's body, before its payload (if it has one). */
static const size_t fixed_body_bytes[RACKBUS_NTYPES] = {
    [RACKBUS_QUERY] = 8 + 8 + 1,     [RACKBUS_STATUS] = 1 + 1 + 8 + 8 + 1,
    [RACKBUS_HEARTBEAT] = 8 + 8 + 8, [RACKBUS_APPEND] = 8 + 8 + 8 + 1 + 8 + 4,
    [RACKBUS_ACK] = 8 + 8,           [RACKBUS_CATCHUP] = 8,
    [RACKBUS_FORWARD] = 4 + 1 + 4,   [RACKBUS_ANSWER] = 4 + 2 + 4,
    [RACKBUS_CHALLENGE] = 8,         [RACKBUS_RESPONSE] = 8,
};

static const char *const type_names[RACKBUS_NTYPES] = {
    [RACKBUS_QUERY] = "query",       [RACKBUS_STATUS] = "status", [RACKBUS_HEARTBEAT] = "heartbeat",
    [RACKBUS_APPEND] = "append",     [RACKBUS_ACK] = "ack",       [RACKBUS_CATCHUP] = "catchup",
    [RACKBUS_FORWARD] = "forward",   [RACKBUS_ANSWER] = "answer", [RACKBUS_CHALLENGE] = "challenge",
    [RACKBUS_RESPONSE] = "response",
};

const char *rackbus_type_name(int type)
{
    if (type <= 0 || type >= RACKBUS_NTYPES)
        return "unknown";
    return type_names[type];
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A cursor over a buffer whose bounds were checked once, up front: each
 * writer and reader below stays inside what that check allowed. */
struct cursor {
    uint8_t *w;
    const uint8_t *r;
};

static void put_u8(struct cursor *c, uint8_t v)
{
    *c->w++ = v;
}
static void put_u16(struct cursor *c, uint16_t v)
{
    put_u8(c, (uint8_t)(v >> 8));
    put_u8(c, (uint8_t)v);
}
static void put_u32(struct cursor *c, uint32_t v)
{
    put_u16(c, (uint16_t)(v >> 16));
    put_u16(c, (uint16_t)v);
}
static void put_u64(struct cursor *c, uint64_t v)
{
    put_u32(c, (uint32_t)(v >> 32));
    put_u32(c, (uint32_t)v);
}
static void put_bytes(struct cursor *c, const uint8_t *p, size_t n)
{
    if (n)
        memcpy(c->w, p, n);
    c->w += n;
}

static uint8_t get_u8(struct cursor *c)
{
    return *c->r++;
}
static uint16_t get_u16(struct cursor *c)
{
    uint16_t hi = get_u8(c);
    return (uint16_t)(hi << 8 | get_u8(c));
}
static uint32_t get_u32(struct cursor *c)
{
    uint32_t hi = get_u16(c);
    return hi << 16 | get_u16(c);
}
static uint64_t get_u64(struct cursor *c)
{
    uint64_t hi = get_u32(c);
    return hi << 32 | get_u32(c);
}

/* The payload of a type that carries one, or NULL. */
static bool payload_of(const struct rackbus_msg *m, const uint8_t **p, uint32_t *len)
{
    switch (m->type) {
    case RACKBUS_APPEND:
        *p = m->u.append.payload;
        *len = m->u.append.len;
        return true;
    case RACKBUS_FORWARD:
        *p = m->u.forward.payload;
        *len = m->u.forward.len;
        return true;
    case RACKBUS_ANSWER:
        *p = m->u.answer.payload;
        *len = m->u.answer.len;
        return true;
    default:
        return false;
    }
}

static int mac(const struct rackbus_key *k, const uint8_t *data, size_t len,
               uint8_t out[RACKBUS_MAC_BYTES])
{
    return gnutls_hmac_fast(GNUTLS_MAC_SHA256, k->bytes, k->len, data, len, out) ? -1 : 0;
}

int rackbus_encode(const struct rackbus_msg *m, const struct rackbus_key *k, uint8_t *buf,
                   size_t cap, size_t *len, char *err, size_t errlen)
{
    if (m->type <= 0 || m->type >= RACKBUS_NTYPES)
        return fail(err, errlen, "unknown message type %d", m->type);
    if (m->from == 0)
        return fail(err, errlen, "sender address 0 (addresses are 1..255)");
    if (m->seq == 0)
        return fail(err, errlen, "sequence number 0 (sequences start at 1)");
    if (!k || k->len < RACKBUS_KEY_MIN_BYTES || k->len > RACKBUS_KEY_MAX_BYTES)
        return fail(err, errlen, "no rack key of %d..%d bytes", RACKBUS_KEY_MIN_BYTES,
                    RACKBUS_KEY_MAX_BYTES);
    if (m->type == RACKBUS_APPEND && m->u.append.kind > RACKBUS_SNAPSHOT)
        return fail(err, errlen, "append kind %u (0 entry, 1 snapshot)", m->u.append.kind);
    if (m->type == RACKBUS_FORWARD && m->u.forward.kind > RACKBUS_FWD_COMMAND)
        return fail(err, errlen, "forward kind %u (0 readings, 1 alert, 2 command)",
                    m->u.forward.kind);
    if ((m->type == RACKBUS_QUERY && m->u.query.flags & ~RACKBUS_NODE_FLAGS) ||
        (m->type == RACKBUS_STATUS && m->u.status.flags & ~RACKBUS_NODE_FLAGS))
        return fail(err, errlen, "%s flags other than caught-up and unfit",
                    rackbus_type_name(m->type));

    const uint8_t *payload = NULL;
    uint32_t plen = 0;
    payload_of(m, &payload, &plen);
    if (plen && !payload)
        return fail(err, errlen, "%s: payload of %u bytes missing", rackbus_type_name(m->type),
                    plen);
    size_t body = fixed_body_bytes[m->type] + plen;
    size_t total = RACKBUS_HEADER_BYTES + body + RACKBUS_MAC_BYTES;
    if (total > RACKBUS_MAX_DATAGRAM)
        return fail(err, errlen, "%s of %zu bytes: more than a datagram's %d",
                    rackbus_type_name(m->type), total, RACKBUS_MAX_DATAGRAM);
    if (total > cap)
        return fail(err, errlen, "%s of %zu bytes: buffer of %zu", rackbus_type_name(m->type),
                    total, cap);

    struct cursor c = {.w = buf};
    put_bytes(&c, (const uint8_t *)RACKBUS_MAGIC, 4);
    put_u8(&c, m->type);
    put_u8(&c, m->from);
    put_u8(&c, m->to == 0 ? RACKBUS_TO_EVERYONE : 0);
    put_u8(&c, m->to);
    put_u64(&c, m->epoch);
    put_u64(&c, m->boot_id);
    put_u64(&c, m->seq);
    put_u32(&c, (uint32_t)body);
    switch (m->type) {
    case RACKBUS_QUERY:
        put_u64(&c, m->u.query.log_epoch);
        put_u64(&c, m->u.query.index);
        put_u8(&c, m->u.query.flags);
        break;
    case RACKBUS_STATUS:
        put_u8(&c, m->u.status.role);
        put_u8(&c, m->u.status.primary);
        put_u64(&c, m->u.status.log_epoch);
        put_u64(&c, m->u.status.index);
        put_u8(&c, m->u.status.flags);
        break;
    case RACKBUS_HEARTBEAT:
        put_u64(&c, m->u.heartbeat.log_epoch);
        put_u64(&c, m->u.heartbeat.index);
        put_u64(&c, m->u.heartbeat.commit);
        break;
    case RACKBUS_APPEND:
        put_u64(&c, m->u.append.epoch);
        put_u64(&c, m->u.append.index);
        put_u64(&c, m->u.append.prev_index);
        put_u8(&c, m->u.append.kind);
        put_u64(&c, m->u.append.commit);
        put_u32(&c, plen);
        break;
    case RACKBUS_ACK:
        put_u64(&c, m->u.ack.index);
        put_u64(&c, m->u.ack.log_epoch);
        break;
    case RACKBUS_CATCHUP:
        put_u64(&c, m->u.catchup.index);
        break;
    case RACKBUS_FORWARD:
        put_u32(&c, m->u.forward.id);
        put_u8(&c, m->u.forward.kind);
        put_u32(&c, plen);
        break;
    case RACKBUS_ANSWER:
        put_u32(&c, m->u.answer.id);
        put_u16(&c, m->u.answer.status);
        put_u32(&c, plen);
        break;
    case RACKBUS_CHALLENGE:
        put_u64(&c, m->u.challenge.nonce);
        break;
    case RACKBUS_RESPONSE:
        put_u64(&c, m->u.response.nonce);
        break;
    }
    put_bytes(&c, payload, plen);
    size_t sealed = total - RACKBUS_MAC_BYTES;
    if (mac(k, buf, sealed, buf + sealed) < 0)
        return fail(err, errlen, "HMAC-SHA256 failed (GnuTLS)");
    *len = total;
    return 0;
}

int rackbus_decode(const uint8_t *buf, size_t len, const struct rackbus_key *k,
                   struct rackbus_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    if (!k || k->len < RACKBUS_KEY_MIN_BYTES || k->len > RACKBUS_KEY_MAX_BYTES)
        return fail(err, errlen, "no rack key of %d..%d bytes", RACKBUS_KEY_MIN_BYTES,
                    RACKBUS_KEY_MAX_BYTES);
    if (len < RACKBUS_HEADER_BYTES + RACKBUS_MAC_BYTES)
        return fail(err, errlen, "short datagram: %zu bytes, a message has at least %d", len,
                    RACKBUS_HEADER_BYTES + RACKBUS_MAC_BYTES);
    if (len > RACKBUS_MAX_DATAGRAM)
        return fail(err, errlen, "datagram of %zu bytes: more than %d", len, RACKBUS_MAX_DATAGRAM);
    if (memcmp(buf, RACKBUS_MAGIC, 4) != 0)
        return fail(err, errlen, "bad magic (not a rack bus message)");
    struct cursor c = {.r = buf + 32};
    uint32_t body = get_u32(&c);
    if ((size_t)body != len - RACKBUS_HEADER_BYTES - RACKBUS_MAC_BYTES)
        return fail(err, errlen, "body length %u, but the datagram of %zu bytes holds %zu", body,
                    len, len - RACKBUS_HEADER_BYTES - RACKBUS_MAC_BYTES);

    /* Authenticate before interpreting anything beyond the lengths. */
    uint8_t want[RACKBUS_MAC_BYTES];
    size_t sealed = len - RACKBUS_MAC_BYTES;
    if (mac(k, buf, sealed, want) < 0)
        return fail(err, errlen, "HMAC-SHA256 failed (GnuTLS)");
    if (gnutls_memcmp(want, buf + sealed, RACKBUS_MAC_BYTES) != 0)
        return fail(err, errlen, "bad HMAC (forged, corrupted or another rack's key)");

    c.r = buf + 4;
    m->type = get_u8(&c);
    m->from = get_u8(&c);
    m->flags = get_u8(&c);
    m->to = get_u8(&c);
    m->epoch = get_u64(&c);
    m->boot_id = get_u64(&c);
    m->seq = get_u64(&c);
    c.r += 4; /* the body length, checked above */
    if (m->type == 0 || m->type >= RACKBUS_NTYPES)
        return fail(err, errlen, "unknown message type %u", m->type);
    const char *name = rackbus_type_name(m->type);
    if (m->from == 0)
        return fail(err, errlen, "%s from address 0 (addresses are 1..255)", name);
    if (m->flags & ~RACKBUS_TO_EVERYONE)
        return fail(err, errlen, "%s: undefined header flags 0x%02x", name, m->flags);
    if (((m->flags & RACKBUS_TO_EVERYONE) != 0) != (m->to == 0))
        return fail(err, errlen, "%s: the to-everyone flag and destination %u disagree", name,
                    m->to);
    if (m->seq == 0)
        return fail(err, errlen, "%s with sequence number 0 (sequences start at 1)", name);
    if (body < fixed_body_bytes[m->type])
        return fail(err, errlen, "%s body of %u bytes: it needs %zu", name, body,
                    fixed_body_bytes[m->type]);

    const uint8_t *payload_at = c.r + fixed_body_bytes[m->type];
    uint32_t plen = 0;
    switch (m->type) {
    case RACKBUS_QUERY:
        m->u.query.log_epoch = get_u64(&c);
        m->u.query.index = get_u64(&c);
        m->u.query.flags = get_u8(&c);
        if (m->u.query.flags & ~RACKBUS_NODE_FLAGS)
            return fail(err, errlen, "query: undefined flags 0x%02x", m->u.query.flags);
        break;
    case RACKBUS_STATUS:
        m->u.status.role = get_u8(&c);
        m->u.status.primary = get_u8(&c);
        m->u.status.log_epoch = get_u64(&c);
        m->u.status.index = get_u64(&c);
        m->u.status.flags = get_u8(&c);
        if (m->u.status.flags & ~RACKBUS_NODE_FLAGS)
            return fail(err, errlen, "status: undefined flags 0x%02x", m->u.status.flags);
        break;
    case RACKBUS_HEARTBEAT:
        m->u.heartbeat.log_epoch = get_u64(&c);
        m->u.heartbeat.index = get_u64(&c);
        m->u.heartbeat.commit = get_u64(&c);
        break;
    case RACKBUS_APPEND:
        m->u.append.epoch = get_u64(&c);
        m->u.append.index = get_u64(&c);
        m->u.append.prev_index = get_u64(&c);
        m->u.append.kind = get_u8(&c);
        m->u.append.commit = get_u64(&c);
        plen = m->u.append.len = get_u32(&c);
        m->u.append.payload = payload_at;
        if (m->u.append.kind > RACKBUS_SNAPSHOT)
            return fail(err, errlen, "append kind %u (0 entry, 1 snapshot)", m->u.append.kind);
        break;
    case RACKBUS_ACK:
        m->u.ack.index = get_u64(&c);
        m->u.ack.log_epoch = get_u64(&c);
        break;
    case RACKBUS_CATCHUP:
        m->u.catchup.index = get_u64(&c);
        break;
    case RACKBUS_FORWARD:
        m->u.forward.id = get_u32(&c);
        m->u.forward.kind = get_u8(&c);
        plen = m->u.forward.len = get_u32(&c);
        m->u.forward.payload = payload_at;
        if (m->u.forward.kind > RACKBUS_FWD_COMMAND)
            return fail(err, errlen, "forward kind %u (0 readings, 1 alert, 2 command)",
                        m->u.forward.kind);
        break;
    case RACKBUS_ANSWER:
        m->u.answer.id = get_u32(&c);
        m->u.answer.status = get_u16(&c);
        plen = m->u.answer.len = get_u32(&c);
        m->u.answer.payload = payload_at;
        break;
    case RACKBUS_CHALLENGE:
        m->u.challenge.nonce = get_u64(&c);
        break;
    case RACKBUS_RESPONSE:
        m->u.response.nonce = get_u64(&c);
        break;
    }
    /* In 64 bits: plen up to 2^32 - 1 must not wrap the sum. */
    if ((uint64_t)fixed_body_bytes[m->type] + plen != body)
        return fail(err, errlen, "%s body of %u bytes: its fields say %llu", name, body,
                    (unsigned long long)fixed_body_bytes[m->type] + plen);
    return 0;
}

void rackbus_key_wipe(struct rackbus_key *k)
{
    /* volatile: a plain memset before free may be removed as a dead store */
    volatile uint8_t *p = k->bytes;
    for (size_t i = 0; i < sizeof(k->bytes); i++)
        p[i] = 0;
    k->len = 0;
}
