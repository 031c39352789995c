/*
 * view.h - the rack as the API shows it: builds the snapshot's JSON texts
 * (docs/api.md) from the loop's state. Called on the loop thread only.
 */
#ifndef VIEW_H
#define VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alarms.h"
#include "driver.h"
#include "hub.h"
#include "policy.h"
#include "predict.h"
#include "rack.h"

/* Room for a server's last reason: the policy's, or the daemon's own on an
 * adopt or reconcile event, which are longer. */
#define VIEW_REASON_LEN 768

struct view_device {
    char name[300]; /* "modbus-tcp 10.0.0.5:502" */
    bool up;
    char error[256];                 /* the last error while down */
    struct driver_unit_stats *units; /* its units' counters, as last reported */
    size_t nunits;
    int64_t read_ns;        /* mono_ns of its last fresh reading; INT64_MIN: none yet */
    int64_t stale_after_ns; /* a reading of it older than this is stale (view_stale_after_ns) */
};

/* When a reading (a PSU's telemetry and health, a server's draw and state)
 * was last fresh, and which device read it. */
struct view_read {
    int64_t at_ns; /* mono_ns; INT64_MIN: never read */
    int dev;       /* index in devices; -1: none */
};

/* "A few polls": a reading older than 3 poll intervals of its device is
 * stale, and never one younger than 3 s (an ORv3 PSU's telemetry is read
 * every second whatever poll_ms says, and the snapshot is rebuilt every
 * second). */
#define VIEW_STALE_POLLS 3
#define VIEW_STALE_MIN_NS 3000000000LL
int64_t view_stale_after_ns(int64_t poll_ns);

/* This controller in a cluster (docs/controllers.md, "What an operator
 * sees"); view_in.cluster NULL: a lone controller. */
#define VIEW_PEERS 254
struct view_cluster {
    const char *role; /* "primary", "secondary", "candidate" */
    int node;
    uint64_t epoch;
    int primary; /* 0: none known */
    size_t npeers;
    struct view_peer {
        int node;
        const char *state; /* "alive", "dead", "unknown" */
        double last_heard; /* Unix time, 0: never */
    } peers[VIEW_PEERS];
    uint64_t sent, received, forged, replayed, unverified; /* datagrams */
};

struct view_in {
    const struct rack *r;
    const bool *psu_oos, *bus_oos;        /* operator's out-of-service flags */
    const struct driver_psu_reading *tel; /* per PSU; tel[i].psu < 0: none yet */
    const struct predictor *pred;         /* failure prediction; NULL or off: none */
    const struct view_device *devices;
    size_t ndevices;
    const struct alarm_set *alarms;              /* the active alarms */
    const struct view_read *psu_read, *srv_read; /* per PSU, per server; NULL: no ages */
    /* per server: the reason of the last decision about it, "" when none is
     * known (NULL: none for any) */
    const char (*srv_reason)[VIEW_REASON_LEN];
    int64_t start_ns; /* mono_ns of the start: an alarm's since counts from it */
    int64_t t_ns;     /* since start: now is start_ns + t_ns */
    double started;   /* Unix time of the start */
    int64_t last_event_id;
    const char *version;
    const struct view_cluster *cluster; /* NULL: a lone controller */
    json_t *outage;                     /* GET /v1/outage's object (outage_run.h); NULL: none */
    json_t *outage_status;              /* the status's "outage" field; NULL: null */
    /* why decisions that raise power are held now ("" or NULL: they are not;
     * the decider's distrust: no ledger yet, a promotion, a lost database) */
    const char *raises_held;
};

/* A new snapshot, or NULL when out of memory. */
struct hub_snap *view_build(const struct view_in *in);
/*
 * Each server's place in the queue: pos[i] is 1 for the waiting request the
 * policy considers first (most important, then first come: the lowest
 * priority number, then the lowest seq), 2 for the next ..., and 0 for a
 * server that is not waiting. pos has r->nservers entries.
 */
void view_queue_positions(const struct rack *r, int *pos);
/* One server's object, as in GET /v1/servers/{id}: queue_pos is its
 * view_queue_positions entry, reason its last decision's ("" or NULL: null). */
json_t *view_server(const struct rack *r, int i, int queue_pos, const char *reason);

#endif
