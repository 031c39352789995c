/*
 * node_io.h - the rack bus on the loop thread (docs/controllers.md, "Messages
 * and keys" and "Running a cluster"): UDP over libuv between this controller
 * and its peers (design9.md), each datagram sealed and checked by
 * rackbus.h, each sender's boot and sequence checked by the replay guard
 * (guard.h).
 *
 * What arrives and passes both goes to the owner's receive hook on the loop
 * thread; a forged datagram (rackbus_decode refuses it), a replay and a
 * message from a boot not verified yet are dropped and counted, and the
 * latter is challenged. A CHALLENGE is answered here; the owner never sees
 * CHALLENGE or RESPONSE.
 *
 * Sending: a message to everyone goes to the multicast group when there is
 * one, else to each peer's `at`; a message to one peer to its `at`. Each
 * gets this process's boot id (random, getrandom) and the next sequence
 * number. A send that the kernel cannot take at once is dropped and counted,
 * as the network would lose it: the node sends again at its next heartbeat.
 *
 * The fault switch (tests, when nftables cannot be used): when the
 * environment names a file in RACKPOWER_RACKBUS_FAULTS, it is read again
 * whenever it changes (looked at every 50 ms at most); it holds peer
 * addresses (decimal, separated by spaces or lines) whose datagrams are
 * dropped both ways, or "all". A missing or empty file drops nothing.
 * Dropped datagrams are counted as `dropped`.
 */
#ifndef NODE_IO_H
#define NODE_IO_H

#include <stdint.h>
#include <uv.h>

#include "daemonconf.h"
#include "guard.h"
#include "rackbus.h"

#define NODE_IO_FAULTS_ENV "RACKPOWER_RACKBUS_FAULTS"

struct node_io;

/* What the owner hears: one authenticated, new message for it. */
typedef void node_io_receive(void *arg, const struct rackbus_msg *m, int64_t now_ns);

/* The counters shown in the status ("rackbus"). */
struct node_io_counters {
    uint64_t sent, received;     /* datagrams */
    uint64_t send_failed;        /* the kernel refused them at once */
    uint64_t dropped;            /* by the fault switch */
    uint64_t foreign;            /* authentic, but addressed to another controller */
    struct guard_counters guard; /* accepted, replayed, unverified, forged ... */
};

/*
 * Binds the listen address (and joins the multicast group when set), and
 * starts receiving on loop. The key is copied. Returns NULL with err when an
 * address cannot be bound or joined, or memory runs out.
 */
struct node_io *node_io_start(uv_loop_t *loop, const struct rackfile_node *conf,
                              const struct rackbus_key *key, node_io_receive *receive, void *arg,
                              char *err, size_t errlen);
/* Sends m to peer `to` (0: everyone); from, boot id and sequence are set
 * here. 0, or -1 with err (it cannot be encoded; no peer has that address).
 * A datagram the kernel refuses or the fault switch drops is not an error:
 * it is counted, as the network would lose it. */
int node_io_send(struct node_io *io, uint8_t to, const struct rackbus_msg *m, char *err,
                 size_t errlen);
void node_io_counters(const struct node_io *io, struct node_io_counters *c);
/* Closes the sockets (their handles close with the loop's next run) and
 * wipes the key. NULL is fine. */
void node_io_stop(struct node_io *io);

#endif
