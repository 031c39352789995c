/*
 * guard.h - the rack bus's replay guard (docs/controllers.md, "Messages and
 * keys"). Pure: no I/O, no clock (`now_ns` comes in), no allocation.
 *
 * The HMAC proves who made a message, not that it is new: anyone on the
 * management network can send an old datagram again. So, per sender address,
 * the guard keeps the boot id it has verified, the highest sequence number
 * seen from that boot and a window of the GUARD_WINDOW numbers below it:
 * a number seen before, or older than the window, is a replay.
 *
 * A boot id the guard has not verified (a peer that restarted, or a replay of
 * an old boot) is not heard until the sender proves its boot is live: the
 * caller sends it a CHALLENGE with a fresh random nonce (guard_challenge
 * tells when), and a RESPONSE from that boot carrying that nonce, less than
 * GUARD_CHALLENGE_TTL_NS after the challenge, verifies the boot. A replay of
 * an old boot is challenged and never answered, so never heard; a controller
 * restarted without its disk (new boot id, sequence from 1) is challenged
 * once by each peer and then heard.
 */
#ifndef GUARD_H
#define GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "rackbus.h"

#define GUARD_WINDOW 64                     /* sequence numbers below the highest */
#define GUARD_CHALLENGE_TTL_NS 2000000000LL /* a challenge's answer counts for 2 s */
#define GUARD_CHALLENGE_GAP_NS 200000000LL  /* at most one challenge per peer per 200 ms */

enum guard_verdict {
    GUARD_ACCEPT,     /* new: hand it on (a RESPONSE that verified its boot: nothing more to do) */
    GUARD_REPLAY,     /* seen, older than the window, or a RESPONSE to no live challenge: drop */
    GUARD_UNVERIFIED, /* boot id not verified: drop; challenge it if guard_challenge says so */
};

/* What the daemon shows as "rackbus" in its status. forged is the caller's:
 * it counts the datagrams rackbus_decode refused (guard_forged). */
struct guard_counters {
    uint64_t accepted, replayed, unverified, forged, challenged, verified;
};

struct guard_peer {
    bool verified;
    uint64_t boot_id; /* the verified boot */
    uint64_t top_seq; /* the highest sequence number seen from it */
    uint64_t seen;    /* bit i: top_seq - i seen */
    /* The challenges outstanding: the latest and the one before (its answer
     * may still be on its way when the next one goes out). */
    uint64_t nonce[2];
    int64_t nonce_at_ns[2];
    bool nonce_live[2];
    uint8_t newest; /* the slot of the latest */
};

struct guard {
    struct guard_peer peers[256]; /* by sender address */
    struct guard_counters count;
};

void guard_init(struct guard *g);

/* The verdict on an authenticated message (rackbus_decode succeeded). A
 * CHALLENGE passes without verification (answer it with a RESPONSE); a
 * RESPONSE is ACCEPT only when it carries the nonce of a live challenge to its
 * sender, which verifies its boot id (then only numbers after the RESPONSE's
 * are heard from that boot). Counts the verdict. */
enum guard_verdict guard_check(struct guard *g, const struct rackbus_msg *m, int64_t now_ns);

/* After UNVERIFIED from addr: true when a CHALLENGE carrying `nonce` (the
 * caller's fresh random number) should go to addr now, which the guard then
 * expects an answer to; false when one went less than GUARD_CHALLENGE_GAP_NS
 * ago (its answer is awaited; nonce is not used). */
bool guard_challenge(struct guard *g, uint8_t addr, uint64_t nonce, int64_t now_ns);

/* Counts a datagram that rackbus_decode refused. */
void guard_forged(struct guard *g);

#endif
