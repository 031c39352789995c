/*
 * guard.c - the rack bus's replay guard: a sliding window of sequence
 * numbers per verified boot, and challenges for boots not yet verified.
 * The contract is in guard.h.
 */
#include "guard.h"

#include <string.h>

void guard_init(struct guard *g)
{
    memset(g, 0, sizeof(*g));
}

void guard_forged(struct guard *g)
{
    g->count.forged++;
}

/* Marks seq seen in p's window: true if it was new. */
static bool window_take(struct guard_peer *p, uint64_t seq)
{
    if (seq > p->top_seq) {
        uint64_t ahead = seq - p->top_seq;
        p->seen = ahead >= GUARD_WINDOW ? 1 : p->seen << ahead | 1;
        p->top_seq = seq;
        return true;
    }
    uint64_t behind = p->top_seq - seq;
    if (behind >= GUARD_WINDOW)
        return false;
    uint64_t bit = (uint64_t)1 << behind;
    if (p->seen & bit)
        return false;
    p->seen |= bit;
    return true;
}

/* The slot of a live challenge to p carrying nonce, or -1. */
static int live_challenge(const struct guard_peer *p, uint64_t nonce, int64_t now_ns)
{
    for (int i = 0; i < 2; i++)
        if (p->nonce_live[i] && p->nonce[i] == nonce && now_ns >= p->nonce_at_ns[i] &&
            now_ns - p->nonce_at_ns[i] < GUARD_CHALLENGE_TTL_NS)
            return i;
    return -1;
}

static enum guard_verdict verdict(struct guard *g, enum guard_verdict v)
{
    switch (v) {
    case GUARD_ACCEPT:
        g->count.accepted++;
        break;
    case GUARD_REPLAY:
        g->count.replayed++;
        break;
    case GUARD_UNVERIFIED:
        g->count.unverified++;
        break;
    }
    return v;
}

enum guard_verdict guard_check(struct guard *g, const struct rackbus_msg *m, int64_t now_ns)
{
    struct guard_peer *p = &g->peers[m->from];
    if (m->type == RACKBUS_CHALLENGE)
        return verdict(g, GUARD_ACCEPT); /* answering it proves nothing and costs one datagram */
    if (m->type == RACKBUS_RESPONSE) {
        int slot = live_challenge(p, m->u.response.nonce, now_ns);
        if (slot < 0)
            return verdict(g, GUARD_REPLAY);
        p->nonce_live[slot] = false; /* one answer per challenge */
        if (p->verified && p->boot_id == m->boot_id)
            return verdict(g, window_take(p, m->seq) ? GUARD_ACCEPT : GUARD_REPLAY);
        /* A new boot: only what it sends after this answer is heard, so none
         * of its earlier datagrams (dropped while unverified) can be
         * replayed into it. */
        p->verified = true;
        p->boot_id = m->boot_id;
        p->top_seq = m->seq;
        p->seen = ~(uint64_t)0;
        g->count.verified++;
        return verdict(g, GUARD_ACCEPT);
    }
    if (!p->verified || p->boot_id != m->boot_id)
        return verdict(g, GUARD_UNVERIFIED);
    return verdict(g, window_take(p, m->seq) ? GUARD_ACCEPT : GUARD_REPLAY);
}

bool guard_challenge(struct guard *g, uint8_t addr, uint64_t nonce, int64_t now_ns)
{
    struct guard_peer *p = &g->peers[addr];
    if (p->nonce_live[p->newest] && now_ns >= p->nonce_at_ns[p->newest] &&
        now_ns - p->nonce_at_ns[p->newest] < GUARD_CHALLENGE_GAP_NS)
        return false;
    int slot = 1 - p->newest; /* the older one gives way */
    p->newest = (uint8_t)slot;
    p->nonce[slot] = nonce;
    p->nonce_at_ns[slot] = now_ns;
    p->nonce_live[slot] = true;
    g->count.challenged++;
    return true;
}
