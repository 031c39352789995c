/*
 * member.h - rackpowerd as one controller of a cluster (docs/controllers.md,
 * "Running a cluster"): the node (src/node/node.h, pure) run on the loop
 * thread over the rack bus (node_io.h), with its position kept in the
 * database (store_node) so that a restart with its disk comes back knowing
 * the epochs it saw and the entries it holds.
 *
 * The member turns the node's actions into calls of the owner's hooks (the
 * engine: fence the devices, act as primary, stop commanding, carry out the
 * raises an entry waited for, apply an entry) and sends its messages. Every
 * entry point runs the node, sends, persists its position when it changed,
 * calls the hooks in the node's order and re-arms the node's timer.
 *
 * Called on the loop thread only.
 */
#ifndef MEMBER_H
#define MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "daemonconf.h"
#include "node_io.h"
#include "store.h"

struct member_hooks {
    /* won the election: fence every command device with epoch, then call
     * member_fenced */
    void (*fence)(void *arg, uint64_t epoch);
    /* fenced: read the devices, adopt what they report, act as primary */
    void (*active)(void *arg, uint64_t epoch);
    /* stop commanding the devices at once */
    void (*demoted)(void *arg, const char *why);
    /* every live secondary holds every entry up to index */
    void (*committed)(void *arg, uint64_t index);
    /* a secondary: make the entry (or the snapshot) durable and apply it;
     * 0, or -1 (not acknowledged: the primary sends it again) */
    int (*apply)(void *arg, bool snapshot, uint64_t log_epoch, uint64_t index,
                 const uint8_t *payload, size_t len);
    /* the whole ledger as a snapshot's payload (malloc'd), NULL when out of
     * memory */
    char *(*snapshot)(void *arg, size_t *len);
    /* role, primary or a peer's state changed (for the status) */
    void (*changed)(void *arg);
    /* FORWARD and ANSWER, which are not the node's (relay.h); optional */
    void (*relayed)(void *arg, const struct rackbus_msg *msg, int64_t now);
    void *arg;
};

struct member;

/*
 * Loads the key (refused unless a regular file of 32 to 1024 bytes that
 * its group and others cannot read or write), reads the node's position
 * from store, binds the rack bus and starts the node: a secondary that
 * asks who is primary. NULL with err when any of it fails.
 */
struct member *member_start(uv_loop_t *loop, const struct rackfile_node *conf, struct store *store,
                            const struct member_hooks *hooks, char *err, size_t errlen);
/* Closes the rack bus (with the loop's next run) and frees. NULL is fine. */
void member_stop(struct member *m);

/* The primary: replicates one entry; its index, or 0 when the member is not
 * an active primary or the payload is larger than one datagram holds. */
uint64_t member_append(struct member *m, const void *payload, size_t len);
/* The result of the fence the hook asked for. */
void member_fenced(struct member *m, bool ok, uint64_t device_epoch);
/* Its own devices or its journal are lost: step down, stand no more until
 * member_fit. */
void member_unfit(struct member *m, const char *why);
void member_fit(struct member *m);
/* A device refused a command: it has seen epoch. */
void member_epoch_seen(struct member *m, uint64_t epoch);

bool member_active(const struct member *m);
/* The primary a secondary follows; 0 when none is known or this one is not
 * a secondary. */
uint8_t member_primary(const struct member *m);
/* Sends a FORWARD or an ANSWER (relay.h) to peer `to`: node_io_send. */
int member_send(struct member *m, uint8_t to, const struct rackbus_msg *msg, char *err,
                size_t errlen);
uint64_t member_epoch(const struct member *m);
/* The largest payload member_append takes. */
size_t member_max_payload(void);

/* What the status shows (view.h). */
#define MEMBER_VIEW_PEERS 254
struct member_view {
    const char *role; /* "primary", "secondary", "candidate" */
    int node;
    uint64_t epoch;
    int primary; /* 0: none known */
    bool active; /* a primary that fenced the devices */
    size_t npeers;
    struct member_peer_view {
        int node;
        const char *state; /* "alive", "dead", "unknown" (a primary's peer catching up: alive) */
        double last_heard; /* Unix time, 0 never */
    } peers[MEMBER_VIEW_PEERS];
    struct node_io_counters bus;
};
void member_view(const struct member *m, struct member_view *v);

#endif
