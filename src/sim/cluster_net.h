/*
 * cluster_net.h - the virtual network of rackpower-sim cluster: datagrams
 * between simulated controllers, in virtual time, with loss, duplication,
 * delay (and so reordering) and partitions, symmetric or one-way. Every
 * datagram is the bytes a real controller would send (rackbus_encode); the
 * network never looks inside. Random draws come from the caller's splitmix
 * state, so a seed replays exactly.
 */
#ifndef CLUSTER_NET_H
#define CLUSTER_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CNET_MAX_NODES 32

enum cnet_kind {
    CNET_REAL,   /* sent by a controller */
    CNET_DUP,    /* a copy the network made of a real one */
    CNET_FORGED, /* made by the attacker: random bytes, a flipped bit, a wrong key */
    CNET_REPLAY, /* a real datagram captured earlier and sent again by the attacker */
};

struct cnet_dgram {
    int64_t at;     /* delivery time */
    uint64_t order; /* ties at the same time go in send order */
    int from, to;   /* controller indices; from -1: the attacker */
    enum cnet_kind kind;
    size_t len;
    uint8_t buf[];
};

struct cnet_conf {
    double loss;             /* probability that a datagram is lost */
    double dup;              /* probability that it arrives twice */
    int64_t delay_min_ns;    /* every datagram takes at least this */
    int64_t delay_jitter_ns; /* plus up to this, drawn per datagram: reorders them */
};

struct cnet;

struct cnet *cnet_new(void);
void cnet_free(struct cnet *n);
/* Forgets every datagram in flight and every partition. */
void cnet_reset(struct cnet *n);
void cnet_configure(struct cnet *n, const struct cnet_conf *c);
/* Blocks (or unblocks) what `from` sends to `to`: a one-way partition. */
void cnet_block(struct cnet *n, int from, int to, bool blocked);
bool cnet_blocked(const struct cnet *n, int from, int to);
void cnet_heal(struct cnet *n);

/* Sends len bytes from -> to at now. Loss, duplication and delay are drawn
 * from *rng (not for the attacker's datagrams, which arrive after
 * delay_min_ns). 0, or -1 when out of memory. */
int cnet_send(struct cnet *n, uint64_t *rng, int64_t now, int from, int to, const uint8_t *buf,
              size_t len, enum cnet_kind kind);

/* When the next datagram is due, INT64_MAX when none is in flight. */
int64_t cnet_next(const struct cnet *n);
/* The next datagram due at or before now (the caller gives it back with
 * cnet_release), or NULL. A datagram whose link is blocked when it is due is
 * dropped here. */
struct cnet_dgram *cnet_pop(struct cnet *n, int64_t now);
/* Gives a popped datagram back (kept for reuse). */
void cnet_release(struct cnet *n, struct cnet_dgram *d);

struct cnet_stats {
    uint64_t sent, lost, duplicated, partitioned, delivered;
};
struct cnet_stats cnet_stats(const struct cnet *n);

#endif
