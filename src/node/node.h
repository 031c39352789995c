/*
 * node.h - one controller of a rack with several: the election of one
 * primary, its heartbeats, the replication of its ledger to the secondaries,
 * the catch-up of a controller that comes back, and demotion
 * (docs/controllers.md, "Roles and election" and "Replication").
 *
 * Pure: events and `now` (ns, the caller's monotonic clock) go in, messages
 * to send and actions to carry out come out in a struct node_out. No I/O, no
 * clock, no randomness (any jitter is the caller's, in node_conf), and no
 * allocation after node_new but the caller's node_out growing. So one process
 * can run a whole rack of controllers from a seed (rackpower-sim cluster).
 *
 * Epochs. A controller with address a that promotes itself takes
 * ((max_seen >> 8) + 1) << 8 | a, where max_seen is the highest epoch it has
 * seen (messages, devices, its own disk). An epoch thus names its primary, so
 *   - at most one controller is ever primary in a given epoch: two that
 *     promote from the same max_seen take different epochs, and one that
 *     promotes twice takes a higher one the second time (max_seen includes
 *     its own last epoch, which the owner keeps on disk: node_disk());
 *   - "the highest (epoch, address) wins" is "the highest epoch wins". Every
 *     message carries the sender's highest epoch; a primary that hears a
 *     higher one steps down at once (NODE_ACT_DEMOTED), and a device that has
 *     seen a higher one refuses its commands (node_epoch_seen). Which
 *     primary the devices obey is decided by the devices' fence, not by the
 *     network: two primaries may believe they are for a moment, but only the
 *     one with the higher epoch has its commands accepted.
 *
 * Why a grant committed by one primary is in every later primary's ledger.
 *   - NODE_ACT_COMMITTED(i) comes only when every live secondary has
 *     acknowledged every entry up to i (the owner carries out a raise, and
 *     answers its client, only then). A secondary is live while it
 *     acknowledges; one silent for `missed` heartbeats is declared dead and
 *     no longer counted: it may lack committed entries.
 *   - Each heartbeat carries the commit index. A secondary counts itself
 *     caught up only when its log is verified against this primary's and
 *     holds at least that index: a secondary the primary declared dead sees
 *     the commit pass it and is not caught up any more.
 *   - When the primary is lost, candidates compare ledger positions
 *     (log_epoch, then index, then address); one stands only when no fit
 *     controller that answered is more advanced, and none of them still
 *     names a primary. The most advanced ledger among those that answer
 *     therefore stands, and every committed entry is in it unless every
 *     live secondary of the old primary is dead or cut off too.
 *   - A controller that comes back (restart, healed partition) answers to a
 *     primary if one exists, and is brought up to date by it (entries, or a
 *     snapshot) before its position can outrank anyone's. With no primary
 *     at all (the whole rack powering up), the most advanced ledger stands.
 *   - For what a dead secondary missed and then became primary anyway (the
 *     whole rest of the rack died or was cut off), the devices speak: a new
 *     primary fences every command device first (NODE_ACT_FENCE), then reads
 *     them and adopts what they report (NODE_ACT_ACTIVE): a grant that
 *     reached a server is in its chassis module.
 *
 * One-way partitions.
 *   - A secondary that hears the primary but is not heard: its
 *     acknowledgements stop, the primary declares it dead after `missed`
 *     heartbeats and goes on committing without it. The secondary still
 *     hears heartbeats, so it never stands (only missing heartbeats start an
 *     election), and it sees the commit index pass its own: not caught up.
 *   - A primary that is heard by nobody but hears them: the secondaries lose
 *     it and elect another, whose heartbeats (or any message, carrying the
 *     higher epoch) make the old one step down; until then the devices,
 *     fenced by the new epoch, refuse the old primary's commands.
 *   - A candidate that cannot hear the primary while a peer still does
 *     waits (a peer's STATUS names the primary): it does not fence a working
 *     primary out.
 *   - A controller cut off from every peer cannot tell that from every peer
 *     being dead. It stands alone only after alone_ns without hearing
 *     anyone (a lone survivor must run the rack); if it was then refused by
 *     a device (the others, still together, fenced it out), it does not
 *     stand alone again for 10 x alone_ns, doubled for each refusal in a
 *     row (at most 80 x), so the rack's devices do not keep swinging
 *     between the two sides of a partition.
 *
 * Log matching. An entry is named by (epoch, index) and made once, by the
 * primary of that epoch. A primary sends a peer entries only after the
 * peer's reported position (log_epoch, index) is found in its own log
 * (verified), or after it sent the peer a snapshot; a secondary takes an
 * entry only from its current primary, in order (prev_index = its last).
 * So a secondary's log is always a prefix of its primary's. Weakness: a
 * controller restarted without its disk, alone, can take an epoch it held
 * before (nothing tells it that epoch was used); its entries then share
 * names with older ones. A peer holding those older entries is verified
 * wrongly. Keep the disk.
 */
#ifndef NODE_H
#define NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rackbus.h"

#define NODE_MAX_PEERS 254
#define NODE_LOG_KEEP 64                     /* entries whose payloads a node keeps */
#define NODE_LOG_BYTES (1024 * 1024)         /* the bytes it keeps them in */
#define NODE_MAX_PAYLOAD RACKBUS_MAX_PAYLOAD /* one entry or snapshot */
#define NODE_WHY_LEN 128

#define NODE_DEFAULT_HEARTBEAT_NS 100000000LL /* 100 ms */
#define NODE_DEFAULT_MISSED 3

static inline uint8_t node_epoch_address(uint64_t e)
{
    return (uint8_t)(e & 0xff);
}
static inline uint64_t node_epoch_term(uint64_t e)
{
    return e >> 8;
}

struct node_conf {
    uint8_t addr;         /* 1..255 */
    uint8_t peers[255];   /* the other controllers' addresses */
    size_t npeers;        /* at most NODE_MAX_PEERS */
    int64_t heartbeat_ns; /* 0: NODE_DEFAULT_HEARTBEAT_NS */
    int missed;           /* lost after `missed` heartbeats; 0: NODE_DEFAULT_MISSED */
    int64_t query_ns;     /* how long a query waits; 0: 2 x heartbeat */
    int64_t jitter_ns;    /* added to the wait before a lost primary is declared;
                           * the caller draws it (0..heartbeat) so that secondaries
                           * do not all start an election in the same instant */
    int64_t alone_ns;     /* how long a candidate that hears no peer at all waits
                           * before it stands alone; 0: 3 x missed x heartbeat */
};

/* What survives a restart: the owner stores it after every call that changed
 * it, and at least before it carries out NODE_ACT_FENCE (so a restarted
 * controller never takes an epoch it held). Zeros for a fresh disk. The
 * position is that of the last entry the owner applied (node_applied). */
struct node_disk {
    uint64_t max_epoch; /* highest epoch seen (own included) */
    uint64_t log_epoch; /* epoch of the primary that wrote the last entry held */
    uint64_t index;     /* that entry's index (0: empty) */
};

enum node_role {
    NODE_SECONDARY = 0,
    NODE_CANDIDATE = 1,
    NODE_PRIMARY = 2,
};

enum node_peer_state {
    NODE_PEER_UNKNOWN = 0, /* never heard */
    NODE_PEER_ALIVE,       /* heard lately (a primary: acknowledging, counted for commit) */
    NODE_PEER_CATCHING,    /* a primary's peer that answers again but is behind: not counted */
    NODE_PEER_DEAD,        /* silent for `missed` heartbeats */
};

enum node_act {
    NODE_ACT_FENCE,           /* epoch: fence every command device with it, then node_fenced */
    NODE_ACT_ACTIVE,          /* epoch: fenced; read the devices, adopt them, act as primary */
    NODE_ACT_DEMOTED,         /* why: stop commanding devices at once */
    NODE_ACT_PRIMARY_IS,      /* addr, epoch: a secondary's primary */
    NODE_ACT_PRIMARY_LOST,    /* addr: the primary it lost */
    NODE_ACT_APPLY,           /* apply_kind, log_epoch, index, payload, len: make it durable,
                               * then node_applied(index) */
    NODE_ACT_COMMITTED,       /* index: every live secondary holds every entry up to it */
    NODE_ACT_SNAPSHOT_WANTED, /* addr: call node_snapshot for it */
    NODE_ACT_PEER_DEAD,       /* addr */
    NODE_ACT_PEER_ALIVE,      /* addr */
};

enum node_apply_kind {
    NODE_APPLY_ENTRY = 0,
    NODE_APPLY_SNAPSHOT = 1, /* replaces the whole ledger; the log is now at index */
};

struct node_action {
    enum node_act kind;
    uint8_t addr;
    enum node_apply_kind apply_kind;
    uint64_t epoch;     /* FENCE, ACTIVE, PRIMARY_IS */
    uint64_t log_epoch; /* APPLY: the entry's (or snapshot's) epoch */
    uint64_t index;     /* APPLY, COMMITTED */
    const uint8_t *payload;
    size_t len;
    char why[NODE_WHY_LEN]; /* DEMOTED */
};

/* A message to send. The node fills type, from, to, epoch and the body; the
 * owner sets boot_id and seq, and encodes. to = 0: to every peer. */
struct node_msg {
    uint8_t to;
    struct rackbus_msg m;
};

/* The caller's list: node calls append, the caller sends, carries out and
 * clears (node_out_clear). Payloads (APPEND messages, APPLY actions) point
 * into the node's log or into the message received: they stay valid until
 * the next node_append or node_receive. oom is set when the list could not
 * grow and something was lost (a message: as if the network lost it). */
struct node_out {
    struct node_msg *msgs;
    size_t nmsgs, msgs_cap;
    struct node_action *acts;
    size_t nacts, acts_cap;
    bool oom;
};

void node_out_clear(struct node_out *o);
void node_out_free(struct node_out *o);

struct node_peer_view {
    uint8_t addr;
    enum node_peer_state state;
    int64_t last_heard_ns; /* -1: never */
    uint64_t match;        /* a primary: highest index known to be in the peer's log */
};

struct node;

/* 0, or -1 and the reason: an address 0, a peer that is 0, ours or twice,
 * too many peers, a negative time or count. */
int node_conf_check(const struct node_conf *c, char *err, size_t errlen);

/* NULL when node_conf_check refuses c or memory runs out. disk may be NULL. */
struct node *node_new(const struct node_conf *c, const struct node_disk *disk, int64_t now);
void node_free(struct node *n);

/* Sends QUERY and arms the query timer: the node is a secondary, not caught up. */
void node_start(struct node *n, int64_t now, struct node_out *out);

/* One message, authenticated and replay-checked by the caller. Types the
 * node does not handle (FORWARD, ANSWER, CHALLENGE, RESPONSE) and senders
 * that are not peers are ignored. */
void node_receive(struct node *n, const struct rackbus_msg *m, int64_t now, struct node_out *out);

/* Timers: call at node_next_deadline() (earlier or later is harmless). */
void node_tick(struct node *n, int64_t now, struct node_out *out);
int64_t node_next_deadline(const struct node *n);

/* Primary side. The new entry's index, or 0 when the node is not an active
 * primary or the payload is larger than NODE_MAX_PAYLOAD. */
uint64_t node_append(struct node *n, const void *payload, size_t len, int64_t now,
                     struct node_out *out);
/* The answer to NODE_ACT_SNAPSHOT_WANTED(to): the whole ledger as of
 * node_last(n). The payload must stay valid until the message is sent. */
void node_snapshot(struct node *n, uint8_t to, const void *payload, size_t len, int64_t now,
                   struct node_out *out);
/* The result of NODE_ACT_FENCE: ok, and the highest epoch a device reported
 * (its owner epoch before ours, or the higher one that refused us). */
void node_fenced(struct node *n, bool ok, uint64_t device_epoch, int64_t now, struct node_out *out);
/* Its own devices or its journal are lost: a primary steps down; none
 * stands until node_fit. */
void node_unfit(struct node *n, const char *why, int64_t now, struct node_out *out);
void node_fit(struct node *n, int64_t now, struct node_out *out);
/* A device refused a command: it has seen epoch. */
void node_epoch_seen(struct node *n, uint64_t epoch, int64_t now, struct node_out *out);

/* Secondary side: the owner made entry (or snapshot) `index` durable. The
 * owner applies each APPLY before its next call into the node; when it cannot
 * (a write failed), it does not call node_applied: the node takes no further
 * entry, acknowledges only what was applied, and gives the entry again when
 * the primary sends it again (at its next heartbeat); a snapshot not applied
 * is asked for again (CATCHUP). */
void node_applied(struct node *n, uint64_t index, int64_t now, struct node_out *out);

/* Reads. */
enum node_role node_role(const struct node *n);
const char *node_role_name(enum node_role r);
const char *node_peer_state_name(enum node_peer_state s);
uint8_t node_addr(const struct node *n);
uint8_t node_primary(const struct node *n); /* 0: none known */
uint64_t node_epoch(const struct node *n);  /* a primary's own; else the highest seen */
bool node_active(const struct node *n);     /* a primary that is fenced */
bool node_caught_up(const struct node *n);
bool node_fit_to_stand(const struct node *n);
uint64_t node_last(const struct node *n);   /* index of the last entry held */
uint64_t node_commit(const struct node *n); /* a primary's commit index; a secondary's
                                             * primary's, as last heard */
size_t node_npeers(const struct node *n);
struct node_peer_view node_peer(const struct node *n, size_t i);
struct node_disk node_disk(const struct node *n);

const char *node_act_name(enum node_act k);

#endif
