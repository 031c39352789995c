/*
 * cluster.h - rackpower-sim cluster: a whole rack of controllers in one
 * process, in virtual time, deterministically from a seed
 * (docs/controllers.md, "Simulation").
 *
 * Each seed runs N node state machines (src/node/node.h) over a virtual
 * network (cluster_net.h) that loses, duplicates, delays and reorders
 * datagrams, is partitioned (both ways and one way) and carries forged and
 * replayed datagrams; every message is really encoded and authenticated
 * (rackbus.h) and passes the replay guard (guard.h). Controllers crash and
 * restart, with and without their disk, and their clocks drift. The active
 * primary runs the power policy on its own ledger and commands the rack's
 * fenced devices (a switch module, a chassis module per chassis); the
 * scenario's timeline fails and repairs PSUs, buses and feeds and has
 * servers ask for and release power. After every step the run checks the
 * invariants of issue 9 (cluster.c, check_*); a seed that breaks one prints
 * the line that replays it.
 */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CLUSTER_MAX_CONTROLLERS 16

struct cluster_opts {
    int controllers;    /* 1..CLUSTER_MAX_CONTROLLERS */
    uint64_t seed_from; /* seeds seed_from..seed_to, both included */
    uint64_t seed_to;
    int64_t heartbeat_ns; /* the nodes' heartbeat (default 100 ms) */
    int missed;           /* heartbeats missed before the primary is lost (default 3) */
    int64_t poll_ns;      /* how often the active primary reads the devices (default 200 ms) */
    bool stop;            /* stop after the first failing seed */
    bool trace;           /* print every fault, role change, device write and decision */
    bool faults;          /* false: no fault at all (a healthy cluster, for comparison) */
    const char *path;     /* the scenario, named in the replay line */
    /* Breaks the simulated controllers on purpose, to show that the checks
     * catch it (tests/sim_cluster.sh): "fence" (a new primary does not fence
     * the devices), "commit" (raises go to the devices before they are
     * committed), "adopt" (a new primary does not adopt what the devices
     * report); NULL: none. */
    const char *sabotage;
    FILE *out;
};

struct cluster_result {
    uint64_t seeds, failed;
    double seconds;          /* wall time of the whole run */
    double cpu_seconds;      /* its CPU time (the figure on a shared machine) */
    uint64_t messages;       /* datagrams sent, all seeds */
    uint64_t forged_dropped; /* forged datagrams the controllers refused */
    uint64_t replays_dropped;
    uint64_t elections;      /* promotions to primary */
    uint64_t refused_writes; /* device writes refused by the fence */
    uint64_t device_adopted; /* grants a new primary knew only from its devices */
    uint64_t ends_differ;    /* seeds whose end differs from the policy alone, where that may */
    int64_t max_recovery_ns; /* the longest time from the heal to one primary */
    int64_t bound_ns;        /* what it may take (cluster.c, world_init) */
};

/* Plays seeds opts->seed_from..seed_to on the scenario at opts->path and
 * prints failing seeds (one replay line each) and a summary to opts->out.
 * 0 when every seed passed, 1 when one failed, -1 with err when the run
 * could not start (bad scenario, bad options). */
int cluster_run(const struct cluster_opts *o, struct cluster_result *res, char *err, size_t errlen);

/* The subcommand: argv[0] is "cluster". Returns the exit status. */
int cluster_main(int argc, char **argv);

#endif
