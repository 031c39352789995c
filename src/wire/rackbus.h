/*
 * rackbus.h - the rack bus's messages: one UDP datagram = one message,
 * authenticated by an HMAC-SHA256 under the rack key (docs/controllers.md,
 * "Messages and keys"). Pure: no clock, no socket, no file, no allocation
 * (the key file is read by the daemon: rackkey.h).
 *
 * Layout, big-endian:
 *   0  4  magic "RPB1"
 *   4  1  type (enum rackbus_type)
 *   5  1  sender address (1..255)
 *   6  1  flags (bit 0: to everyone, set exactly when the destination is 0)
 *   7  1  destination address (0 = everyone)
 *   8  8  sender's epoch
 *  16  8  boot id (random per start of the sending process)
 *  24  8  sequence number (per sender and boot, from 1)
 *  32  4  body length n
 *  36  n  body (per type, below)
 *  36+n 32 HMAC-SHA256 over bytes 0 .. 36+n-1
 *
 * rackbus_decode checks the lengths and the HMAC before it reads any field
 * of the body, so nothing unauthenticated is ever interpreted; every refusal
 * comes with a reason, and the caller counts it as forged.
 */
#ifndef RACKBUS_H
#define RACKBUS_H

#include <stddef.h>
#include <stdint.h>

#define RACKBUS_MAGIC "RPB1"
#define RACKBUS_HEADER_BYTES 36
#define RACKBUS_MAC_BYTES 32
#define RACKBUS_MAX_DATAGRAM 60000
/* The most a payload (APPEND, FORWARD, ANSWER) can carry in one datagram. */
#define RACKBUS_MAX_PAYLOAD (RACKBUS_MAX_DATAGRAM - RACKBUS_HEADER_BYTES - RACKBUS_MAC_BYTES - 37)

#define RACKBUS_KEY_MIN_BYTES 32
#define RACKBUS_KEY_MAX_BYTES 1024

#define RACKBUS_TO_EVERYONE 0x01u /* header flags, bit 0 */
#define RACKBUS_CAUGHT_UP 0x01u   /* QUERY and STATUS flags, bit 0 */
#define RACKBUS_UNFIT 0x02u       /* QUERY and STATUS flags, bit 1: it will not stand */
#define RACKBUS_NODE_FLAGS (RACKBUS_CAUGHT_UP | RACKBUS_UNFIT)

enum rackbus_type {
    RACKBUS_QUERY = 1,     /* who is primary? */
    RACKBUS_STATUS = 2,    /* a secondary's or candidate's answer, and its periodic word */
    RACKBUS_HEARTBEAT = 3, /* the primary, every heartbeat; also its answer to QUERY */
    RACKBUS_APPEND = 4,    /* primary -> secondary: one ledger entry or a snapshot */
    RACKBUS_ACK = 5,       /* secondary -> primary: what it holds */
    RACKBUS_CATCHUP = 6,   /* secondary -> primary: send me a snapshot */
    RACKBUS_FORWARD = 7,   /* secondary -> primary: readings, an alert, a command */
    RACKBUS_ANSWER = 8,    /* primary -> secondary: a forwarded command's answer */
    RACKBUS_CHALLENGE = 9, /* prove that your boot is live */
    RACKBUS_RESPONSE = 10, /* the proof: the nonce of the challenge */
};
#define RACKBUS_NTYPES 11 /* one past the last type */

enum rackbus_append_kind {
    RACKBUS_ENTRY = 0,
    RACKBUS_SNAPSHOT = 1, /* replaces everything up to index */
};

enum rackbus_forward_kind {
    RACKBUS_FWD_READINGS = 0,
    RACKBUS_FWD_ALERT = 1,
    RACKBUS_FWD_COMMAND = 2,
};

/* Bodies. Payloads point into the buffer decoded (or the caller's, to encode). */
struct rackbus_query {
    uint64_t log_epoch, index;
    uint8_t flags; /* RACKBUS_CAUGHT_UP, RACKBUS_UNFIT */
};
struct rackbus_status {
    uint8_t role;    /* the node's enum node_role; the wire does not interpret it */
    uint8_t primary; /* the address it believes is primary, 0 none */
    uint64_t log_epoch, index;
    uint8_t flags; /* RACKBUS_CAUGHT_UP, RACKBUS_UNFIT */
};
struct rackbus_heartbeat {
    uint64_t log_epoch, index, commit;
};
struct rackbus_append {
    uint64_t epoch, index, prev_index;
    uint8_t kind; /* enum rackbus_append_kind */
    uint64_t commit;
    const uint8_t *payload;
    uint32_t len;
};
struct rackbus_ack {
    uint64_t index, log_epoch;
};
struct rackbus_catchup {
    uint64_t index;
};
struct rackbus_forward {
    uint32_t id;
    uint8_t kind; /* enum rackbus_forward_kind */
    const uint8_t *payload;
    uint32_t len;
};
struct rackbus_answer {
    uint32_t id;
    uint16_t status;
    const uint8_t *payload;
    uint32_t len;
};
struct rackbus_nonce { /* CHALLENGE and RESPONSE */
    uint64_t nonce;
};

struct rackbus_msg {
    uint8_t type;  /* enum rackbus_type */
    uint8_t from;  /* 1..255 */
    uint8_t to;    /* 0 = everyone */
    uint8_t flags; /* decode fills it; encode derives it from `to` */
    uint64_t epoch, boot_id, seq;
    union {
        struct rackbus_query query;
        struct rackbus_status status;
        struct rackbus_heartbeat heartbeat;
        struct rackbus_append append;
        struct rackbus_ack ack;
        struct rackbus_catchup catchup;
        struct rackbus_forward forward;
        struct rackbus_answer answer;
        struct rackbus_nonce challenge;
        struct rackbus_nonce response;
    } u;
};

/* The rack key: the key file's bytes, as they are (raw, not hex). */
struct rackbus_key {
    uint8_t bytes[RACKBUS_KEY_MAX_BYTES];
    size_t len;
};

/* Encodes m into buf (cap bytes) and seals it with k; *len gets the datagram's
 * size. -1 and a reason for a type, address, kind or payload the layout cannot
 * carry, a key shorter than RACKBUS_KEY_MIN_BYTES, or too small a buffer. */
int rackbus_encode(const struct rackbus_msg *m, const struct rackbus_key *k, uint8_t *buf,
                   size_t cap, size_t *len, char *err, size_t errlen);

/* Decodes one datagram. -1 and a reason when it is short, has a bad magic,
 * lengths that do not add up, a bad HMAC (checked before the body is read),
 * an unknown type, a sender address 0, sequence 0, flags the layout does not
 * define or a body that does not match its type. Payloads point into buf. */
int rackbus_decode(const uint8_t *buf, size_t len, const struct rackbus_key *k,
                   struct rackbus_msg *m, char *err, size_t errlen);

/* "query", "status", ... or "unknown". */
const char *rackbus_type_name(int type);

/* Zeroes a key (before its memory is given back). */
void rackbus_key_wipe(struct rackbus_key *k);

#endif
