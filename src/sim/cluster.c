/*
 * cluster.c - rackpower-sim cluster (cluster.h): the world of one seed (the
 * true rack, its fenced devices, the controllers and the network), the
 * event loop in virtual time, and the invariant checks.
 *
 * Time. The world's clock is virtual nanoseconds from the start of the
 * seed. Controller c sees local = t + t * drift_ppm / 10^6 (its clock runs
 * fast or slow); every node, policy and ledger time of c is local.
 *
 * What a controller is here: its node, its replay guard, its ledger (a rack
 * whose states and grants are what it holds, cluster_ledger.h), and, while
 * it is the active primary, the power policy run on that ledger. It polls
 * the devices every poll_ns: the switch module (positions and bus health),
 * the chassis modules (who asks for power, who is on) and the PSUs. A PSU is
 * read by the controller it sits on (PSU i belongs to controller
 * i * N / npsus): the primary hears it when that controller is up and its
 * datagrams reach the primary (the forwarding of seed [0045], modelled by
 * the link, not sent as FORWARD messages); otherwise the PSU is unknown.
 */
#include "cluster.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_ledger.h"
#include "cluster_net.h"
#include "guard.h"
#include "node.h"
#include "policy.h"
#include "rackbus.h"
#include "rackfile.h"
#include "rackmod.h"
#include "splitmix.h"

#define NS 1000000000LL
#define MS 1000000LL
#define MAX_STEPS 2000000 /* per seed: a loop that stops making progress is a finding */
#define MAX_BOOTS 64      /* incarnations per controller and seed */
#define CAPTURE 16        /* datagrams kept for replays */
#define MAX_FAULTS 16
#define MAX_XEV 24 /* pairs of events each seed adds to the timeline, twice */

enum fault_kind {
    F_CRASH,       /* a controller (the active primary at that moment, or any) */
    F_PART_SYM,    /* a group of controllers cut from the rest, both ways */
    F_PART_ONEWAY, /* one controller not heard by the others (or not hearing them) */
    F_FORGE,       /* the attacker sends forged datagrams */
    F_REPLAY,      /* the attacker sends captured datagrams again */
    F_UNBLOCK,     /* the end of a partition */
};

struct fault {
    int64_t at;
    enum fault_kind kind;
    uint64_t draw; /* random bits drawn with the schedule, used when it happens */
    int64_t dur;
    int id; /* a partition's, for its end */
};

struct pend { /* a raise waiting for NODE_ACT_COMMITTED */
    bool has;
    uint64_t index;
    int64_t cap_mw; /* 0: none */
};

struct ctrl {
    int idx;
    uint8_t addr;
    bool up;
    int64_t restart_at; /* INT64_MAX: none */
    bool restart_with_disk;
    bool booted_without_disk; /* this incarnation started from nothing */
    struct node *node;
    struct node_out out;
    struct guard guard;
    uint64_t boot_id, seq;
    int nboots;
    uint64_t boots[MAX_BOOTS]; /* its boot ids, oldest first */
    int64_t drift_ppm;
    int64_t jitter_ns;
    struct node_disk disk;
    uint8_t *disk_ledger; /* the payload last applied or appended: what its disk holds */
    size_t disk_len;
    struct rack rack;
    bool active;
    uint64_t epoch; /* while active */
    int64_t next_poll;
    struct pend *pend;              /* per server */
    uint8_t *snap;                  /* a snapshot's payload, valid until its message is sent */
    int heard_boot[CNET_MAX_NODES]; /* newest incarnation of each sender it heard */
    int64_t next_g;                 /* world time of node_next_deadline, after the last call */
};

struct delivered { /* (receiver, sender, sender's incarnation): the seqs heard */
    int to, from, inc;
    uint8_t *bits;
    size_t nbits;
};

enum sabotage { SAB_NONE, SAB_FENCE, SAB_COMMIT, SAB_ADOPT };

struct world {
    enum sabotage sab;
    const struct cluster_opts *o;
    const struct rack *pristine;
    const struct rackfile_timeline *tl;
    struct policy *pol;
    struct policy_actions acts;
    struct rackbus_key key, wrong_key;
    struct cnet *net;
    int n;
    struct ctrl c[CLUSTER_MAX_CONTROLLERS];
    int *psu_owner;
    /* the truth */
    struct rack truth; /* health, positions (the switch module), failed buses and feeds */
    bool *wants, *present, *coil;
    int64_t *cap_mw;
    uint64_t *dev_owner; /* owner epoch: [0] switch, [1 + c] chassis c, [1 + nchassis] loose */
    int ndev;
    uint64_t max_accepted; /* highest epoch of any accepted write */
    /* grants that reached a server: the device accepted coil 1 */
    bool *reached;
    int64_t *before; /* decide's scratch: grants before a decision */
    uint64_t *reached_epoch, *reached_index;
    /* the seed */
    uint64_t seed, rng;
    int64_t t;
    size_t step; /* next timeline step */
    struct fault faults[MAX_FAULTS * 2];
    int nfaults, next_fault;
    int block_count[CNET_MAX_NODES][CNET_MAX_NODES];
    struct xev { /* the seed's own requests and PSU faults, on top of the timeline */
        int64_t at;
        struct policy_input in;
    } xev[MAX_XEV];
    int nxev, next_xev;
    int part_from[MAX_FAULTS], part_to[MAX_FAULTS]; /* one-way: from -> to (-1: all) */
    uint32_t part_mask[MAX_FAULTS];
    bool part_sym[MAX_FAULTS];
    int64_t t_heal, t_settle, t_end, bound_ns;
    bool healed, recovered;
    int64_t recovery_ns;
    struct cnet_conf netconf;
    uint8_t capture[CAPTURE][512];
    size_t capture_len[CAPTURE];
    int capture_to[CAPTURE];
    int ncapture;
    struct delivered *dl;
    size_t ndl, dlcap;
    struct prim {
        uint64_t epoch;
        uint8_t addr;
    } prim[512];
    int nprim;
    uint8_t buf[RACKBUS_MAX_DATAGRAM];
    uint8_t payload[65536];
    size_t ledger_len;
    /* the reference: the policy alone on the timeline, no cluster */
    struct rack ref;
    bool ref_all_in;     /* the reference ends with every asking server granted in full */
    struct rack scratch; /* the end check's settle */
    /* outcome */
    bool failed;
    char why[512];
    struct cluster_result *res;
};

/* ---------------------------------------------------------------- helpers */

static void trace(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct world *w, const char *fmt, ...)
{
    if (!w->o->trace)
        return;
    fprintf(w->o->out, "%12.6fs  ", (double)w->t / NS);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(w->o->out, fmt, ap);
    va_end(ap);
    fputc('\n', w->o->out);
}

static void fail(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct world *w, const char *fmt, ...)
{
    if (w->failed)
        return; /* the first finding is the one to replay */
    w->failed = true;
    int k = snprintf(w->why, sizeof(w->why), "at %.6fs: ", (double)w->t / NS);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why + k, sizeof(w->why) - (size_t)k, fmt, ap);
    va_end(ap);
    trace(w, "INVARIANT BROKEN: %s", w->why);
}

static uint64_t rnd(struct world *w)
{
    return splitmix64_next(&w->rng);
}

static int64_t rnd_range(struct world *w, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd(w) % (uint64_t)(hi - lo + 1));
}

static int64_t local_of(const struct ctrl *c, int64_t t)
{
    if (c->drift_ppm == 0)
        return t;
    return t + (int64_t)((__int128)t * c->drift_ppm / 1000000);
}

/* The first world time at which c's clock reads at least d. */
static int64_t global_of(const struct ctrl *c, int64_t d)
{
    if (d == INT64_MAX || c->drift_ppm == 0)
        return d;
    int64_t g = (int64_t)((__int128)d * 1000000 / (1000000 + c->drift_ppm));
    if (g < 0)
        g = 0;
    while (local_of(c, g) < d)
        g++;
    while (g > 0 && local_of(c, g - 1) >= d)
        g--;
    return g;
}

/* Copies src's state into dst, which has arrays of the same shape. */
static void rack_assign(struct rack *dst, const struct rack *src)
{
    struct rack_psu *p = dst->psus;
    struct rack_server *s = dst->servers;
    char(*ch)[RACK_ID_LEN] = dst->chassis;
    *dst = *src;
    dst->psus = p;
    dst->servers = s;
    dst->chassis = ch;
    memcpy(p, src->psus, sizeof(*p) * (size_t)src->npsus);
    memcpy(s, src->servers, sizeof(*s) * (size_t)src->nservers);
}

static int rack_alloc_like(struct rack *dst, const struct rack *src)
{
    return rack_copy(dst, src);
}

static bool drawing(enum rack_server_state s)
{
    return s == RACK_SRV_ON || s == RACK_SRV_CAPPED;
}

static int dev_of_server(const struct world *w, int s)
{
    int ch = w->pristine->servers[s].chassis;
    return ch >= 0 ? 1 + ch : 1 + w->pristine->nchassis;
}

/* ---------------------------------------------------------------- devices */

/*
 * One write to a fenced device (the switch module or a chassis module): the
 * rule of the simulated devices (rackmod_fence_accept, docs/sim-devices.md):
 * a write whose epoch is lower than the owner epoch is refused, one at least
 * as high is carried out and raises the owner epoch. Returns 0, or -1 with *seen the owner epoch.
 * Also checks that no device accepts an epoch lower than any device has
 * accepted since (at most one primary has its commands accepted).
 */
static int dev_write(struct world *w, struct ctrl *c, int dev, uint64_t epoch, bool fence,
                     uint64_t *seen)
{
    uint64_t *owner = &w->dev_owner[dev];
    uint64_t before = *owner;
    if (!rackmod_fence_accept(owner, epoch)) {
        *seen = *owner;
        w->res->refused_writes++;
        trace(w, "c%d: device %d refuses epoch %#" PRIx64 " (owner %#" PRIx64 ")", c->addr, dev,
              epoch, *owner);
        return -1;
    }
    if (!fence && epoch < w->max_accepted)
        fail(w,
             "device %d accepted a write of epoch %#" PRIx64
             " (c%d) after a write of epoch %#" PRIx64
             " was accepted: two primaries have their commands accepted",
             dev, epoch, c->addr, w->max_accepted);
    if (epoch == 0)
        fail(w, "device %d accepted a write without an epoch from c%d", dev, c->addr);
    if (epoch < before)
        fail(w, "device %d accepted epoch %#" PRIx64 " below its owner epoch %#" PRIx64, dev, epoch,
             before);
    if (!fence && epoch > w->max_accepted)
        w->max_accepted = epoch;
    return 0;
}

/* ---------------------------------------------------------------- network */

static void net_send(struct world *w, struct ctrl *c, int to, const uint8_t *buf, size_t len)
{
    if (cnet_send(w->net, &w->rng, w->t, c->idx, to, buf, len, CNET_REAL))
        fail(w, "out of memory in the virtual network");
    w->res->messages++;
    /* now and then keep a copy for the attacker to replay */
    if (len <= sizeof(w->capture[0]) && (rnd(w) & 15) == 0) {
        int k = w->ncapture < CAPTURE ? w->ncapture++ : (int)(rnd(w) % CAPTURE);
        memcpy(w->capture[k], buf, len);
        w->capture_len[k] = len;
        w->capture_to[k] = to;
    }
}

static void send_msg(struct world *w, struct ctrl *c, uint8_t to, struct rackbus_msg *m)
{
    m->from = c->addr;
    m->to = to;
    m->boot_id = c->boot_id;
    m->seq = ++c->seq;
    size_t len;
    char err[160];
    if (rackbus_encode(m, &w->key, w->buf, sizeof(w->buf), &len, err, sizeof(err))) {
        fail(w, "c%d cannot encode a %s: %s", c->addr, rackbus_type_name(m->type), err);
        return;
    }
    if (to == 0) {
        for (int i = 0; i < w->n; i++)
            if (i != c->idx)
                net_send(w, c, i, w->buf, len);
    } else if (to >= 1 && to <= w->n && to != c->addr) {
        net_send(w, c, to - 1, w->buf, len);
    }
}

/* ---------------------------------------------------------------- controllers */

static void flush(struct world *w, struct ctrl *c);

static void save_disk(struct world *w, struct ctrl *c, const uint8_t *payload, size_t len)
{
    (void)w;
    if (payload) {
        memcpy(c->disk_ledger, payload, len);
        c->disk_len = len;
    }
}

/* Stops commanding. A decision cut short by a refused write was neither
 * carried out nor appended: the ledger goes back to what the disk holds
 * (what was last appended), and the devices say the rest at the next
 * adoption. */
static void demote(struct world *w, struct ctrl *c, const char *why)
{
    if (c->active)
        trace(w, "c%d: no longer active: %s", c->addr, why);
    c->active = false;
    for (int s = 0; s < w->pristine->nservers; s++)
        c->pend[s].has = false;
    char err[256];
    rack_assign(&c->rack, w->pristine);
    if (c->disk_len && cledger_decode(&c->rack, c->disk_ledger, c->disk_len, err, sizeof(err)))
        fail(w, "c%d cannot read its own disk: %s", c->addr, err);
}

/* A raise reaches a server only once every secondary that c counts as live
 * holds its entry (one that restarted without its disk may have lost it). */
static void check_committed(struct world *w, struct ctrl *c, uint64_t index)
{
    for (size_t k = 0; k < node_npeers(c->node); k++) {
        struct node_peer_view v = node_peer(c->node, k);
        if (v.addr < 1 || v.addr > w->n)
            continue;
        struct ctrl *q = &w->c[v.addr - 1];
        if (v.state == NODE_PEER_ALIVE && q->up && !q->booted_without_disk &&
            node_last(q->node) < index)
            fail(w,
                 "c%d carries out a raise of entry %" PRIu64 " while live secondary c%d holds "
                 "only %" PRIu64,
                 c->addr, index, q->addr, node_last(q->node));
    }
}

/* A chassis command for server s: coil on/off and a cap (0: none). */
static int server_write(struct world *w, struct ctrl *c, int s, bool on, int64_t cap_mw)
{
    uint64_t seen = 0;
    if (dev_write(w, c, dev_of_server(w, s), c->epoch, false, &seen)) {
        node_epoch_seen(c->node, seen, local_of(c, w->t), &c->out);
        demote(w, c, "a device refused a write");
        return -1;
    }
    bool was = w->coil[s];
    if (on && !was)
        check_committed(w, c, c->pend[s].index ? c->pend[s].index : node_last(c->node) + 1);
    w->coil[s] = on && w->present[s];
    w->cap_mw[s] = on ? cap_mw : 0;
    trace(w, "c%d: %s %s cap %" PRId64 " W (epoch %#" PRIx64 ")", c->addr,
          w->pristine->servers[s].id, on ? "on" : "off", cap_mw / 1000, c->epoch);
    if (on && !was) {
        w->reached[s] = true;
        w->reached_epoch[s] = c->epoch;
        w->reached_index[s] = c->pend[s].index;
    } else if (!on) {
        w->reached[s] = false;
    }
    return 0;
}

static int64_t cap_of(const struct rack_server *s)
{
    return s->state == RACK_SRV_CAPPED && s->alloc_mw < s->power_mw ? s->alloc_mw : 0;
}

/*
 * Carries out the policy's actions, DESIGN's way: what lowers power (a
 * switch, a shed, a lower cap, a release) goes to the devices at once; what
 * raises it (a grant, a restore, a higher cap) waits in c->pend for the
 * entry's commit. before[s] is the grant each server had before the decision.
 * Returns -1 when a device refused a write (c is demoted then).
 */
static int carry_out(struct world *w, struct ctrl *c, const int64_t *before, bool *raised)
{
    for (size_t i = 0; i < w->acts.n && c->active; i++) {
        const struct policy_action *a = &w->acts.v[i];
        trace(w, "c%d: %s %s%s %" PRId64 " W: %s", c->addr, policy_action_name(a->kind),
              a->server >= 0 ? w->pristine->servers[a->server].id
              : a->psu >= 0  ? w->pristine->psus[a->psu].id
                             : "",
              "", a->watts_mw / 1000, a->reason);
        switch (a->kind) {
        case POLICY_ACT_SWITCH: {
            uint64_t seen = 0;
            if (dev_write(w, c, 0, c->epoch, false, &seen)) {
                node_epoch_seen(c->node, seen, local_of(c, w->t), &c->out);
                demote(w, c, "the switch module refused a write");
                return -1;
            }
            w->truth.psus[a->psu].bus = a->to_bus;
            break;
        }
        case POLICY_ACT_SHED:
        case POLICY_ACT_RELEASE:
            c->pend[a->server].has = false;
            if (server_write(w, c, a->server, false, 0))
                return -1;
            break;
        case POLICY_ACT_CAP:
        case POLICY_ACT_GRANT:
        case POLICY_ACT_RESTORE: {
            struct pend *p = &c->pend[a->server];
            bool lower = a->kind == POLICY_ACT_CAP && a->watts_mw <= before[a->server];
            if (lower && w->coil[a->server]) {
                if (server_write(w, c, a->server, true, a->watts_mw))
                    return -1;
                if (p->has) /* a raise still waiting is lowered too */
                    p->cap_mw = a->watts_mw;
                break;
            }
            if (lower && p->has) {
                p->cap_mw = a->watts_mw;
                break;
            }
            if (w->sab == SAB_COMMIT) {
                if (server_write(w, c, a->server, true, cap_of(&c->rack.servers[a->server])))
                    return -1;
                break;
            }
            p->has = true;
            p->index = 0; /* the entry's, set when it is appended */
            p->cap_mw = a->watts_mw < w->pristine->servers[a->server].power_mw ? a->watts_mw : 0;
            *raised = true;
            break;
        }
        default:
            break;
        }
    }
    return c->active ? 0 : -1;
}

/* Appends the ledger as it now stands when it changed; pending raises
 * without an index take the new entry's. */
static void append(struct world *w, struct ctrl *c)
{
    size_t len = cledger_encode(&c->rack, w->payload, sizeof(w->payload));
    if (!len) {
        fail(w, "ledger payload too large");
        return;
    }
    if (len == c->disk_len && memcmp(w->payload, c->disk_ledger, len) == 0) {
        bool waiting = false;
        for (int s = 0; s < w->pristine->nservers; s++)
            waiting |= c->pend[s].has && c->pend[s].index == 0;
        if (!waiting)
            return;
    }
    uint64_t idx = node_append(c->node, w->payload, len, local_of(c, w->t), &c->out);
    if (!idx) {
        fail(w, "c%d: node_append refused an entry while active", c->addr);
        return;
    }
    save_disk(w, c, w->payload, len);
    for (int s = 0; s < w->pristine->nservers; s++)
        if (c->pend[s].has && c->pend[s].index == 0)
            c->pend[s].index = idx;
}

/* Runs the policy on c's ledger: inputs (n may be 0: a settle) or a tick. */
static void decide(struct world *w, struct ctrl *c, const struct policy_input *in, size_t n,
                   bool settle)
{
    int ns = w->pristine->nservers;
    int64_t *before = w->before;
    for (int s = 0; s < ns; s++)
        before[s] = drawing(c->rack.servers[s].state) ? c->rack.servers[s].alloc_mw : 0;
    policy_actions_clear(&w->acts);
    char err[256];
    int64_t now = local_of(c, w->t);
    if (settle) {
        policy_settle(w->pol, &c->rack, now, &w->acts);
    } else if (policy_handle_many(w->pol, &c->rack, in, n, now, &w->acts, err, sizeof(err))) {
        fail(w, "c%d: the policy refused its inputs: %s", c->addr, err);
        return;
    }
    bool raised = false;
    if (carry_out(w, c, before, &raised))
        return;
    append(w, c);
}

/* What c reads of PSU i: its health, or unknown when it cannot hear it. */
static enum rack_psu_health psu_view(struct world *w, struct ctrl *c, int i)
{
    int k = w->psu_owner[i];
    if (k != c->idx && (!w->c[k].up || cnet_blocked(w->net, k, c->idx)))
        return RACK_PSU_UNKNOWN;
    return w->truth.psus[i].health;
}

/* The active primary's poll: what the devices and PSUs say, as inputs. */
static void poll(struct world *w, struct ctrl *c)
{
    const struct rack *r = w->pristine;
    struct policy_input in[512];
    size_t n = 0;
    const size_t max = sizeof(in) / sizeof(in[0]);
    for (int f = 0; f < r->nfeeds && n < max; f++)
        if (w->truth.feed_failed[f] != c->rack.feed_failed[f])
            in[n++] = (struct policy_input){
                w->truth.feed_failed[f] ? POLICY_FEED_FAIL : POLICY_FEED_REPAIR, f, 0};
    for (int b = 0; b < r->nbuses && n < max; b++)
        if (w->truth.bus_failed[b] != c->rack.bus_failed[b])
            in[n++] = (struct policy_input){
                w->truth.bus_failed[b] ? POLICY_BUS_FAIL : POLICY_BUS_REPAIR, b, 0};
    for (int i = 0; i < r->npsus && n < max; i++) {
        enum rack_psu_health v = psu_view(w, c, i);
        const struct rack_psu *p = &c->rack.psus[i];
        const struct rack_psu *t = &w->truth.psus[i];
        if (v == RACK_PSU_UNKNOWN) {
            if (p->health != RACK_PSU_UNKNOWN && p->health != RACK_PSU_FAILED)
                in[n++] = (struct policy_input){POLICY_PSU_UNKNOWN, i, 0};
        } else if (v == RACK_PSU_FAILED) {
            if (p->health != RACK_PSU_FAILED)
                in[n++] = (struct policy_input){POLICY_PSU_FAIL, i, 0};
        } else if (v == RACK_PSU_DEGRADED) {
            if (p->health != RACK_PSU_DEGRADED || p->derated_mw != t->derated_mw)
                in[n++] = (struct policy_input){POLICY_PSU_DEGRADE, i, t->derated_mw};
        } else if (p->health != RACK_PSU_OK || p->derated_mw != p->rated_mw) {
            in[n++] = (struct policy_input){POLICY_PSU_REPAIR, i, 0};
        }
    }
    for (int s = 0; s < r->nservers && n < max; s++) {
        enum rack_server_state st = c->rack.servers[s].state;
        if (!w->present[s] && st != RACK_SRV_OFF)
            in[n++] = (struct policy_input){POLICY_REMOVE, s, 0};
        else if (w->present[s] && w->wants[s] && st == RACK_SRV_OFF)
            in[n++] = (struct policy_input){POLICY_POWER_ON, s, 0};
        else if (w->present[s] && !w->wants[s] && st != RACK_SRV_OFF)
            in[n++] = (struct policy_input){POLICY_POWER_OFF, s, 0};
        else if (w->present[s] && drawing(st) && !w->coil[s] && !c->pend[s].has)
            /* off at its chassis with no decision, asking again: it powered
             * down and asked between two polls (the chassis counts both) */
            in[n++] = (struct policy_input){POLICY_POWER_OFF, s, 0};
    }
    if (n) {
        decide(w, c, in, n, false);
    } else if (policy_next_deadline(&c->rack) <= local_of(c, w->t)) {
        struct policy_input tick = {POLICY_TICK, 0, 0};
        decide(w, c, &tick, 1, false);
    }
}

/*
 * A new primary, fenced: first the check that every grant that reached a
 * server is in its ledger (or, when it was elected without it, on at its
 * device); then it adopts what the devices report: positions, and a server
 * on at its chassis is granted; one granted in the ledger but off at its
 * device was never carried out and asks again (raising needs proof).
 */
static void adopt(struct world *w, struct ctrl *c)
{
    const struct rack *r = w->pristine;
    for (int s = 0; s < r->nservers; s++) {
        if (!w->reached[s] || !w->coil[s])
            continue;
        struct rack_server *sv = &c->rack.servers[s];
        if (drawing(sv->state))
            continue;
        /* A ledger that holds the entry of the grant (same epoch, at least
         * its index) and no later decision that lowered it must show it. */
        struct node_disk d = node_disk(c->node);
        if (d.log_epoch == w->reached_epoch[s] && d.index >= w->reached_index[s] &&
            w->reached_index[s] > 0)
            fail(w,
                 "c%d (epoch %#" PRIx64 ") holds entry %" PRIu64 " of epoch %#" PRIx64
                 " that granted %s, but its ledger shows it %s",
                 c->addr, c->epoch, d.index, w->reached_epoch[s], r->servers[s].id,
                 rack_server_state_name(sv->state));
        w->res->device_adopted++;
        trace(w, "c%d: %s is on at its device, not in its ledger: adopted", c->addr,
              r->servers[s].id);
    }
    for (int i = 0; i < r->npsus; i++)
        c->rack.psus[i].bus = w->truth.psus[i].bus;
    for (int s = 0; s < r->nservers && w->sab != SAB_ADOPT; s++) {
        struct rack_server *sv = &c->rack.servers[s];
        if (w->coil[s]) {
            int64_t cap = w->cap_mw[s];
            if (cap > 0 && cap < sv->power_mw) {
                sv->state = RACK_SRV_CAPPED;
                sv->alloc_mw = cap;
            } else {
                sv->state = RACK_SRV_ON;
                sv->alloc_mw = sv->power_mw;
            }
            if (!sv->seq)
                sv->seq = ++c->rack.next_seq;
        } else if (drawing(sv->state)) {
            sv->state = RACK_SRV_WAITING;
            sv->alloc_mw = 0;
        }
    }
    c->active = true;
    c->next_poll = w->t;
    /* the adoption is a decision: settled, carried out and replicated */
    decide(w, c, NULL, 0, true);
}

static void committed(struct world *w, struct ctrl *c, uint64_t index)
{
    for (int s = 0; s < w->pristine->nservers && c->active; s++) {
        struct pend *p = &c->pend[s];
        if (!p->has || p->index == 0 || p->index > index)
            continue;
        p->has = false;
        if (!drawing(c->rack.servers[s].state))
            continue;
        server_write(w, c, s, true, cap_of(&c->rack.servers[s]));
    }
}

static void apply(struct world *w, struct ctrl *c, const struct node_action *a)
{
    char err[256];
    if (cledger_decode(&c->rack, a->payload, a->len, err, sizeof(err))) {
        fail(w, "c%d cannot apply entry %" PRIu64 ": %s", c->addr, a->index, err);
        return;
    }
    save_disk(w, c, a->payload, a->len);
    node_applied(c->node, a->index, local_of(c, w->t), &c->out);
}

/* Sends what the node wants sent, then carries out its actions, one at a
 * time (an action may call the node again, which adds to the lists). */
static void flush(struct world *w, struct ctrl *c)
{
    size_t m = 0, a = 0;
    for (;;) {
        if (c->out.oom)
            fail(w, "c%d: the node's output could not grow", c->addr);
        for (; m < c->out.nmsgs; m++)
            send_msg(w, c, c->out.msgs[m].to, &c->out.msgs[m].m);
        if (a >= c->out.nacts)
            break;
        struct node_action act = c->out.acts[a++];
        int64_t now = local_of(c, w->t);
        switch (act.kind) {
        case NODE_ACT_FENCE: {
            c->disk = node_disk(c->node);
            trace(w, "c%d: elected, epoch %#" PRIx64 ": fencing", c->addr, act.epoch);
            w->res->elections++;
            uint64_t seen = 0, top = 0;
            bool ok = true;
            c->epoch = act.epoch;
            for (int d = 0; d < w->ndev && w->sab != SAB_FENCE; d++) {
                if (w->dev_owner[d] > top)
                    top = w->dev_owner[d];
                if (dev_write(w, c, d, act.epoch, true, &seen)) {
                    ok = false;
                    top = seen > top ? seen : top;
                }
            }
            node_fenced(c->node, ok, top, now, &c->out);
            break;
        }
        case NODE_ACT_ACTIVE:
            trace(w, "c%d: active primary, epoch %#" PRIx64, c->addr, act.epoch);
            c->epoch = act.epoch;
            adopt(w, c);
            break;
        case NODE_ACT_DEMOTED:
            demote(w, c, act.why);
            break;
        case NODE_ACT_PRIMARY_IS:
            trace(w, "c%d: primary is c%d (epoch %#" PRIx64 ")", c->addr, act.addr, act.epoch);
            break;
        case NODE_ACT_PRIMARY_LOST:
            trace(w, "c%d: lost primary c%d", c->addr, act.addr);
            break;
        case NODE_ACT_APPLY:
            apply(w, c, &act);
            break;
        case NODE_ACT_COMMITTED:
            if (c->active)
                committed(w, c, act.index);
            break;
        case NODE_ACT_SNAPSHOT_WANTED: {
            size_t len = cledger_encode(&c->rack, c->snap, w->ledger_len);
            node_snapshot(c->node, act.addr, c->snap, len, now, &c->out);
            break;
        }
        case NODE_ACT_PEER_DEAD:
            trace(w, "c%d: peer c%d dead", c->addr, act.addr);
            break;
        case NODE_ACT_PEER_ALIVE:
            trace(w, "c%d: peer c%d alive", c->addr, act.addr);
            break;
        }
    }
    node_out_clear(&c->out);
    c->disk = node_disk(c->node);
    c->next_g = global_of(c, node_next_deadline(c->node));
}

static void boot(struct world *w, struct ctrl *c, bool with_disk)
{
    struct node_conf conf = {0};
    conf.addr = c->addr;
    for (int i = 0; i < w->n; i++)
        if (i != c->idx)
            conf.peers[conf.npeers++] = (uint8_t)(i + 1);
    conf.heartbeat_ns = w->o->heartbeat_ns;
    conf.missed = w->o->missed;
    conf.jitter_ns = c->jitter_ns;
    if (!with_disk) {
        memset(&c->disk, 0, sizeof(c->disk));
        c->disk_len = 0;
    }
    rack_assign(&c->rack, w->pristine);
    char err[256];
    if (c->disk_len && cledger_decode(&c->rack, c->disk_ledger, c->disk_len, err, sizeof(err)))
        fail(w, "c%d cannot read its own disk: %s", c->addr, err);
    int64_t now = local_of(c, w->t);
    c->node = node_new(&conf, &c->disk, now);
    if (!c->node) {
        fail(w, "c%d: node_new failed", c->addr);
        return;
    }
    c->up = true;
    c->booted_without_disk = !with_disk;
    c->active = false;
    c->restart_at = INT64_MAX;
    guard_init(&c->guard);
    c->boot_id = rnd(w);
    c->seq = 0;
    if (c->nboots < MAX_BOOTS)
        c->boots[c->nboots++] = c->boot_id;
    for (int i = 0; i < CNET_MAX_NODES; i++)
        c->heard_boot[i] = -1;
    for (int s = 0; s < w->pristine->nservers; s++)
        c->pend[s].has = false;
    trace(w, "c%d: starts%s (boot %d), ledger at %" PRIu64, c->addr,
          with_disk ? "" : " without its disk", c->nboots, c->disk.index);
    node_start(c->node, now, &c->out);
    flush(w, c);
}

static void crash(struct world *w, struct ctrl *c, int64_t dur, bool keep_disk)
{
    if (!c->up)
        return;
    trace(w, "c%d: crashes%s for %.3fs", c->addr, keep_disk ? "" : " and loses its disk",
          (double)dur / NS);
    node_free(c->node);
    c->node = NULL;
    node_out_clear(&c->out);
    c->up = false;
    c->active = false;
    c->restart_at = w->t + dur;
    c->restart_with_disk = keep_disk;
}

/* ---------------------------------------------------------------- receive */

static int boot_inc(const struct ctrl *c, uint64_t boot_id)
{
    for (int i = c->nboots - 1; i >= 0; i--)
        if (c->boots[i] == boot_id)
            return i;
    return -1;
}

/* Records that `to` heard (from, inc, seq); false when it heard it before. */
static bool heard_once(struct world *w, int to, int from, int inc, uint64_t seq)
{
    struct delivered *d = NULL;
    for (size_t i = 0; i < w->ndl; i++)
        if (w->dl[i].to == to && w->dl[i].from == from && w->dl[i].inc == inc) {
            d = &w->dl[i];
            break;
        }
    if (!d) {
        if (w->ndl == w->dlcap) {
            size_t cap = w->dlcap ? w->dlcap * 2 : 64;
            struct delivered *v = realloc(w->dl, cap * sizeof(*v));
            if (!v)
                return true;
            w->dl = v;
            w->dlcap = cap;
        }
        d = &w->dl[w->ndl++];
        *d = (struct delivered){to, from, inc, NULL, 0};
    }
    if (seq >= d->nbits) {
        size_t nb = d->nbits ? d->nbits : 1024;
        while (nb <= seq)
            nb *= 2;
        uint8_t *b = realloc(d->bits, nb / 8);
        if (!b)
            return true;
        memset(b + d->nbits / 8, 0, (nb - d->nbits) / 8);
        d->bits = b;
        d->nbits = nb;
    }
    uint8_t bit = (uint8_t)(1u << (seq % 8));
    if (d->bits[seq / 8] & bit)
        return false;
    d->bits[seq / 8] |= bit;
    return true;
}

static void receive(struct world *w, struct cnet_dgram *d)
{
    struct ctrl *c = &w->c[d->to];
    if (!c->up)
        return;
    struct rackbus_msg m;
    char err[160];
    if (rackbus_decode(d->buf, d->len, &w->key, &m, err, sizeof(err))) {
        guard_forged(&c->guard);
        if (d->kind == CNET_FORGED)
            w->res->forged_dropped++;
        else
            fail(w, "c%d cannot decode a genuine datagram: %s", c->addr, err);
        return;
    }
    if (d->kind == CNET_FORGED) {
        fail(w, "c%d decoded a forged datagram (a %s from %u)", c->addr, rackbus_type_name(m.type),
             m.from);
        return;
    }
    if (m.to != 0 && m.to != c->addr)
        return;
    int64_t now = local_of(c, w->t);
    enum guard_verdict v = guard_check(&c->guard, &m, now);
    if (v == GUARD_REPLAY) {
        if (d->kind == CNET_REPLAY)
            w->res->replays_dropped++;
        return;
    }
    if (v == GUARD_UNVERIFIED) {
        if (d->kind == CNET_REPLAY)
            w->res->replays_dropped++;
        uint64_t nonce = rnd(w);
        if (guard_challenge(&c->guard, m.from, nonce, now)) {
            struct rackbus_msg ch = {0};
            ch.type = RACKBUS_CHALLENGE;
            ch.epoch = node_epoch(c->node);
            ch.u.challenge.nonce = nonce;
            send_msg(w, c, m.from, &ch);
        }
        return;
    }
    if (m.type == RACKBUS_CHALLENGE) {
        struct rackbus_msg r = {0};
        r.type = RACKBUS_RESPONSE;
        r.epoch = node_epoch(c->node);
        r.u.response.nonce = m.u.challenge.nonce;
        send_msg(w, c, m.from, &r);
        return;
    }
    if (m.from < 1 || m.from > w->n)
        return;
    struct ctrl *s = &w->c[m.from - 1];
    int inc = boot_inc(s, m.boot_id);
    if (inc < 0) {
        fail(w, "c%d heard a boot c%u never had", c->addr, m.from);
        return;
    }
    if (inc < c->heard_boot[s->idx])
        fail(w, "c%d heard boot %d of c%d after its boot %d", c->addr, inc + 1, s->addr,
             c->heard_boot[s->idx] + 1);
    c->heard_boot[s->idx] = inc;
    if (!heard_once(w, c->idx, s->idx, inc, m.seq))
        fail(w, "c%d heard datagram %" PRIu64 " of c%d's boot %d twice (a %s)", c->addr, m.seq,
             s->addr, inc + 1, rackbus_type_name(m.type));
    if (m.type == RACKBUS_RESPONSE)
        return;
    node_receive(c->node, &m, now, &c->out);
    flush(w, c);
}

/* ---------------------------------------------------------------- faults */

static void forge(struct world *w, int to)
{
    uint8_t b[256];
    size_t len = 0;
    switch (rnd(w) % 3) {
    case 0: /* random bytes, sometimes with the right magic */
        len = (size_t)rnd_range(w, 0, sizeof(b));
        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)rnd(w);
        if (len >= 4 && (rnd(w) & 1))
            memcpy(b, RACKBUS_MAGIC, 4);
        break;
    case 1: /* a real datagram with one bit flipped */
        if (!w->ncapture)
            return;
        {
            int k = (int)(rnd(w) % (uint64_t)w->ncapture);
            len = w->capture_len[k];
            memcpy(b, w->capture[k], len);
            size_t bit = rnd(w) % (len * 8);
            b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        break;
    default: { /* a well-formed heartbeat of a high epoch under the wrong key */
        struct rackbus_msg m = {0};
        m.type = RACKBUS_HEARTBEAT;
        m.from = (uint8_t)rnd_range(w, 1, w->n);
        m.epoch = UINT64_MAX - 255 + m.from;
        m.boot_id = rnd(w);
        m.seq = 1;
        char err[160];
        if (rackbus_encode(&m, &w->wrong_key, b, sizeof(b), &len, err, sizeof(err)))
            return;
        break;
    }
    }
    cnet_send(w->net, &w->rng, w->t, -1, to, b, len, CNET_FORGED);
}

static void set_block(struct world *w, int from, int to, int delta)
{
    w->block_count[from][to] += delta;
    cnet_block(w->net, from, to, w->block_count[from][to] > 0);
}

static void partition(struct world *w, int id, int delta)
{
    for (int a = 0; a < w->n; a++)
        for (int b = 0; b < w->n; b++) {
            if (a == b)
                continue;
            bool cut;
            if (w->part_sym[id])
                cut = ((w->part_mask[id] >> a) & 1) != ((w->part_mask[id] >> b) & 1);
            else
                cut = a == w->part_from[id] && (w->part_to[id] < 0 || b == w->part_to[id]);
            if (cut)
                set_block(w, a, b, delta);
        }
}

static struct ctrl *active_primary(struct world *w)
{
    struct ctrl *best = NULL;
    for (int i = 0; i < w->n; i++)
        if (w->c[i].up && w->c[i].active && (!best || w->c[i].epoch > best->epoch))
            best = &w->c[i];
    return best;
}

static void do_fault(struct world *w, struct fault *f)
{
    uint64_t r = f->draw;
    switch (f->kind) {
    case F_CRASH: {
        struct ctrl *c = active_primary(w);
        if (!c || (r & 3) == 0)
            c = &w->c[(r >> 2) % (uint64_t)w->n];
        crash(w, c, f->dur, (r >> 8) % 3 != 0);
        break;
    }
    case F_PART_SYM:
    case F_PART_ONEWAY:
        if (f->kind == F_PART_SYM) {
            uint32_t all = (1u << w->n) - 1;
            uint32_t mask = (uint32_t)(r % all);
            struct ctrl *p = active_primary(w);
            if (p && (r >> 40) & 1) /* the primary alone, half the time */
                mask = 1u << p->idx;
            if (mask == 0)
                mask = 1;
            w->part_sym[f->id] = true;
            w->part_mask[f->id] = mask;
            trace(w, "partition %d: {%#x} | rest, both ways, for %.3fs", f->id, mask,
                  (double)f->dur / NS);
        } else {
            struct ctrl *p = active_primary(w);
            int from = p && (r & 1) ? p->idx : (int)((r >> 1) % (uint64_t)w->n);
            int to = (r >> 9) & 1 ? -1 : (int)((r >> 10) % (uint64_t)w->n);
            if (to == from)
                to = -1;
            w->part_sym[f->id] = false;
            w->part_from[f->id] = from;
            w->part_to[f->id] = to;
            trace(w, "partition %d: c%d not heard by %s%d, for %.3fs", f->id, from + 1,
                  to < 0 ? "any" : "c", to < 0 ? 0 : to + 1, (double)f->dur / NS);
        }
        partition(w, f->id, +1);
        break;
    case F_UNBLOCK:
        trace(w, "partition %d ends", f->id);
        partition(w, f->id, -1);
        break;
    case F_FORGE: {
        int k = (int)(r % 6) + 1;
        trace(w, "attacker: %d forged datagrams", k);
        for (int i = 0; i < k; i++)
            forge(w, (int)(rnd(w) % (uint64_t)w->n));
        break;
    }
    case F_REPLAY: {
        int k = (int)(r % 6) + 1;
        trace(w, "attacker: %d replayed datagrams", k);
        for (int i = 0; i < k && w->ncapture; i++) {
            int j = (int)(rnd(w) % (uint64_t)w->ncapture);
            cnet_send(w->net, &w->rng, w->t, -1, w->capture_to[j], w->capture[j], w->capture_len[j],
                      CNET_REPLAY);
        }
        break;
    }
    }
}

static int fault_cmp(const void *a, const void *b)
{
    const struct fault *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return (int)x->kind - (int)y->kind;
}

/* The seed's faults: network quality, drift, and episodes before t_heal. */
static void draw_faults(struct world *w)
{
    w->nfaults = 0;
    w->next_fault = 0;
    memset(&w->netconf, 0, sizeof(w->netconf));
    w->netconf.delay_min_ns = rnd_range(w, 50000, 2 * MS);
    if (!w->o->faults) {
        cnet_configure(w->net, &w->netconf);
        return;
    }
    static const double loss[] = {0, 0, 0.01, 0.05, 0.2};
    w->netconf.loss = loss[rnd(w) % 5];
    w->netconf.dup = (rnd(w) & 1) ? 0.05 : 0;
    w->netconf.delay_jitter_ns = (rnd(w) & 1) ? rnd_range(w, 0, w->o->heartbeat_ns / 2) : 0;
    cnet_configure(w->net, &w->netconf);
    for (int i = 0; i < w->n; i++)
        w->c[i].drift_ppm = (rnd(w) & 1) ? rnd_range(w, -5000, 5000) : 0;
    int k = (int)rnd_range(w, 0, MAX_FAULTS / 2);
    int parts = 0;
    for (int i = 0; i < k; i++) {
        struct fault f = {0};
        f.at = rnd_range(w, NS / 2, w->t_heal - NS / 2);
        f.draw = rnd(w);
        f.dur = rnd_range(w, w->o->heartbeat_ns, 8 * NS);
        if (f.at + f.dur > w->t_heal)
            f.dur = w->t_heal - f.at;
        switch (rnd(w) % 8) {
        case 0:
        case 1:
        case 2:
            f.kind = F_CRASH;
            break;
        case 3:
        case 4:
            f.kind = F_PART_SYM;
            break;
        case 5:
            f.kind = F_PART_ONEWAY;
            break;
        case 6:
            f.kind = F_FORGE;
            break;
        default:
            f.kind = F_REPLAY;
            break;
        }
        if (w->n < 2 && (f.kind == F_PART_SYM || f.kind == F_PART_ONEWAY))
            f.kind = F_FORGE;
        if (f.kind == F_PART_SYM || f.kind == F_PART_ONEWAY) {
            f.id = parts++;
            struct fault end = {.at = f.at + f.dur, .kind = F_UNBLOCK, .id = f.id};
            w->faults[w->nfaults++] = end;
        }
        w->faults[w->nfaults++] = f;
    }
    qsort(w->faults, (size_t)w->nfaults, sizeof(w->faults[0]), fault_cmp);
}

/* ---------------------------------------------------------------- the truth */

static void world_input(struct world *w, const struct policy_input *in)
{
    struct rack *t = &w->truth;
    int x = in->index;
    trace(w, "world: %s %s", policy_input_name(in->kind),
          policy_input_subject(t, in) ? policy_input_subject(t, in) : "");
    switch (in->kind) {
    case POLICY_POWER_ON:
        if (w->present[x])
            w->wants[x] = true;
        break;
    case POLICY_POWER_OFF: /* the server powers down in order */
        w->wants[x] = false;
        w->coil[x] = false;
        w->reached[x] = false;
        break;
    case POLICY_REMOVE:
        w->wants[x] = false;
        w->present[x] = false;
        w->coil[x] = false;
        w->reached[x] = false;
        break;
    case POLICY_PSU_FAIL:
        t->psus[x].health = RACK_PSU_FAILED;
        break;
    case POLICY_PSU_REPAIR:
        t->psus[x].health = RACK_PSU_OK;
        t->psus[x].derated_mw = t->psus[x].rated_mw;
        break;
    case POLICY_PSU_DEGRADE:
        t->psus[x].health = RACK_PSU_DEGRADED;
        t->psus[x].derated_mw = in->watts_mw;
        break;
    case POLICY_BUS_FAIL:
        t->bus_failed[x] = true;
        break;
    case POLICY_BUS_REPAIR:
        t->bus_failed[x] = false;
        break;
    case POLICY_FEED_FAIL:
        t->feed_failed[x] = true;
        break;
    case POLICY_FEED_REPAIR:
        t->feed_failed[x] = false;
        break;
    default: /* reports and the rest: the simulated servers draw their grant */
        break;
    }
}

static void timeline_step(struct world *w, const struct rackfile_step *st)
{
    for (size_t i = 0; i < st->ninputs; i++)
        world_input(w, &st->inputs[i]);
}

static int xev_cmp(const void *a, const void *b)
{
    const struct xev *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* The seed's own events: a server that powers off and asks again, a PSU that
 * fails or degrades and is repaired; every pair ends before the heal. */
static void draw_churn(struct world *w)
{
    w->nxev = w->next_xev = 0;
    const struct rack *r = w->pristine;
    int k = (int)rnd_range(w, 0, MAX_XEV / 2);
    for (int i = 0; i < k; i++) {
        int64_t at = rnd_range(w, NS, w->t_heal - 3 * NS);
        int64_t end = at + rnd_range(w, NS / 2, 10 * NS);
        if (end > w->t_heal - NS)
            end = w->t_heal - NS;
        struct xev *a = &w->xev[w->nxev++], *b = &w->xev[w->nxev++];
        a->at = at;
        b->at = end;
        uint64_t what = rnd(w) % 3;
        if ((what == 0 && r->nservers) || !r->npsus) {
            int x = (int)(rnd(w) % (uint64_t)r->nservers);
            a->in = (struct policy_input){POLICY_POWER_OFF, x, 0};
            b->in = (struct policy_input){POLICY_POWER_ON, x, 0};
        } else {
            int x = (int)(rnd(w) % (uint64_t)r->npsus);
            int64_t rated = r->psus[x].rated_mw;
            a->in = what == 1 ? (struct policy_input){POLICY_PSU_FAIL, x, 0}
                              : (struct policy_input){POLICY_PSU_DEGRADE, x,
                                                      rnd_range(w, rated / 4, rated)};
            b->in = (struct policy_input){POLICY_PSU_REPAIR, x, 0};
        }
    }
    qsort(w->xev, (size_t)w->nxev, sizeof(w->xev[0]), xev_cmp);
}

/* ---------------------------------------------------------------- checks */

/* After every step: one primary per epoch, and an epoch names its primary. */
static void check_step(struct world *w)
{
    for (int i = 0; i < w->n; i++) {
        struct ctrl *c = &w->c[i];
        if (!c->up || node_role(c->node) != NODE_PRIMARY)
            continue;
        uint64_t e = node_epoch(c->node);
        if (node_epoch_address(e) != c->addr)
            fail(w, "c%d is primary in epoch %#" PRIx64 ", which names c%d", c->addr, e,
                 node_epoch_address(e));
        bool known = false;
        for (int k = 0; k < w->nprim; k++)
            if (w->prim[k].epoch == e) {
                known = true;
                if (w->prim[k].addr != c->addr)
                    fail(w, "epoch %#" PRIx64 " has two primaries: c%d and c%d", e, w->prim[k].addr,
                         c->addr);
            }
        if (!known && w->nprim < (int)(sizeof(w->prim) / sizeof(w->prim[0])))
            w->prim[w->nprim++] = (struct prim){e, c->addr};
    }
}

/* The primary whose commands the devices accept (the active one of the
 * highest epoch, if it has written since) holds a grant for every server on
 * at its chassis: no server draws without a grant. */
static void check_grants(struct world *w)
{
    struct ctrl *p = active_primary(w);
    if (!p || p->epoch < w->max_accepted)
        return;
    for (int s = 0; s < w->pristine->nservers; s++)
        if (w->coil[s] && !drawing(p->rack.servers[s].state))
            fail(w, "%s is on at its chassis, but the primary c%d has it %s",
                 w->pristine->servers[s].id, p->addr,
                 rack_server_state_name(p->rack.servers[s].state));
}

/* Exactly one active primary, every other controller its caught-up secondary. */
static struct ctrl *one_primary(struct world *w, char *why, size_t len)
{
    struct ctrl *p = NULL;
    for (int i = 0; i < w->n; i++) {
        struct ctrl *c = &w->c[i];
        if (!c->up) {
            snprintf(why, len, "c%d is down", c->addr);
            return NULL;
        }
        if (c->active) {
            if (p) {
                snprintf(why, len, "c%d and c%d are both active", p->addr, c->addr);
                return NULL;
            }
            p = c;
        }
    }
    if (!p) {
        snprintf(why, len, "no active primary");
        return NULL;
    }
    for (int i = 0; i < w->n; i++) {
        struct ctrl *c = &w->c[i];
        if (c == p)
            continue;
        if (node_role(c->node) != NODE_SECONDARY || node_primary(c->node) != p->addr) {
            snprintf(why, len, "c%d is %s with primary c%d, not c%d's secondary", c->addr,
                     node_role_name(node_role(c->node)), node_primary(c->node), p->addr);
            return NULL;
        }
    }
    return p;
}

/* At the end: the rack converged to what the policy decides on the true
 * state, and every controller holds the primary's ledger. */
static void check_end(struct world *w)
{
    char why[256];
    struct ctrl *p = one_primary(w, why, sizeof(why));
    if (!p) {
        fail(w, "at the end: %s", why);
        return;
    }
    const struct rack *r = w->pristine;
    const struct rack *l = &p->rack;
    for (int f = 0; f < r->nfeeds; f++)
        if (l->feed_failed[f] != w->truth.feed_failed[f])
            fail(w, "at the end: c%d has feed %s %s", p->addr, r->feeds[f],
                 l->feed_failed[f] ? "failed" : "ok");
    for (int b = 0; b < r->nbuses; b++)
        if (l->bus_failed[b] != w->truth.bus_failed[b])
            fail(w, "at the end: c%d has bus %s %s", p->addr, r->buses[b],
                 l->bus_failed[b] ? "failed" : "ok");
    for (int i = 0; i < r->npsus; i++) {
        if (l->psus[i].health != w->truth.psus[i].health)
            fail(w, "at the end: c%d has %s %s, it is %s", p->addr, r->psus[i].id,
                 rack_psu_health_name(l->psus[i].health),
                 rack_psu_health_name(w->truth.psus[i].health));
        if (l->psus[i].bus != w->truth.psus[i].bus)
            fail(w, "at the end: c%d has %s on bus %d, its switch on %d", p->addr, r->psus[i].id,
                 l->psus[i].bus, w->truth.psus[i].bus);
    }
    for (int s = 0; s < r->nservers; s++) {
        const struct rack_server *sv = &l->servers[s];
        if (drawing(sv->state) != w->coil[s])
            fail(w, "at the end: c%d has %s %s, its chassis has it %s", p->addr, r->servers[s].id,
                 rack_server_state_name(sv->state), w->coil[s] ? "on" : "off");
        else if (w->coil[s] && cap_of(sv) != w->cap_mw[s])
            fail(w, "at the end: c%d has %s at %" PRId64 " W, its chassis caps it at %" PRId64 " W",
                 p->addr, r->servers[s].id, sv->alloc_mw / 1000, w->cap_mw[s] / 1000);
        /* The policy alone ended with every server that asks granted in
         * full: then no history (requests seen late, PSUs unknown for a
         * while) excuses another end. Otherwise who holds a place depends on
         * the order things were seen, and only the fixed point is checked. */
        const struct rack_server *rs = &w->ref.servers[s];
        if (w->ref_all_in && (sv->state != rs->state || sv->alloc_mw != rs->alloc_mw))
            fail(w,
                 "at the end: c%d has %s %s at %" PRId64 " W; the policy alone on the timeline "
                 "has it %s at %" PRId64 " W",
                 p->addr, r->servers[s].id, rack_server_state_name(sv->state), sv->alloc_mw / 1000,
                 rack_server_state_name(rs->state), rs->alloc_mw / 1000);
    }
    if (!w->ref_all_in) {
        for (int s = 0; s < r->nservers; s++) {
            const struct rack_server *sv = &l->servers[s], *rs = &w->ref.servers[s];
            if (sv->state != rs->state || sv->alloc_mw != rs->alloc_mw) {
                w->res->ends_differ++;
                break;
            }
        }
    }
    /* the fixed point: settled again, the policy on the true state decides
     * nothing more */
    rack_assign(&w->scratch, l);
    policy_actions_clear(&w->acts);
    policy_settle(w->pol, &w->scratch, local_of(p, w->t), &w->acts);
    for (size_t i = 0; i < w->acts.n; i++) {
        const struct policy_action *a = &w->acts.v[i];
        if (a->kind == POLICY_ACT_PROTECTION || a->kind == POLICY_ACT_IGNORED ||
            a->kind == POLICY_ACT_WAIT)
            continue;
        fail(w, "at the end: c%d's rack is not settled: the policy still decides %s %s: %s",
             p->addr, policy_action_name(a->kind),
             a->server >= 0 ? r->servers[a->server].id
             : a->psu >= 0  ? r->psus[a->psu].id
                            : "",
             a->reason);
        break;
    }
    struct policy_check pc;
    policy_check(w->pol, l, &pc);
    if (!pc.feasible)
        fail(w, "at the end: what draws is not feasible");
    if (w->ref_all_in && pc.is_protected != w->ref.is_protected)
        fail(w, "at the end: protected %d, the policy alone %d", pc.is_protected,
             w->ref.is_protected);
    /* every secondary holds the primary's ledger */
    size_t len = cledger_encode(l, w->payload, sizeof(w->payload));
    for (int i = 0; i < w->n; i++) {
        struct ctrl *c = &w->c[i];
        if (c == p)
            continue;
        if (node_last(c->node) != node_last(p->node))
            fail(w, "at the end: c%d holds entry %" PRIu64 ", the primary c%d %" PRIu64, c->addr,
                 node_last(c->node), p->addr, node_last(p->node));
        else if (c->disk_len != len || memcmp(c->disk_ledger, w->payload, len))
            fail(w, "at the end: c%d's ledger differs from the primary c%d's", c->addr, p->addr);
    }
}

/* ---------------------------------------------------------------- one seed */

static void reference(struct world *w);

static void reset(struct world *w, uint64_t seed)
{
    w->seed = seed;
    w->rng = seed * 0x9e3779b97f4a7c15ull + 0x5851f42d4c957f2dull;
    w->t = 0;
    w->step = 0;
    w->failed = false;
    w->why[0] = 0;
    w->healed = w->recovered = false;
    w->recovery_ns = 0;
    w->max_accepted = 0;
    w->ncapture = 0;
    w->nprim = 0;
    for (size_t i = 0; i < w->ndl; i++)
        free(w->dl[i].bits);
    w->ndl = 0;
    memset(w->block_count, 0, sizeof(w->block_count));
    cnet_reset(w->net);
    rack_assign(&w->truth, w->pristine);
    const struct rack *r = w->pristine;
    for (int s = 0; s < r->nservers; s++) {
        w->wants[s] = false;
        w->present[s] = true;
        w->coil[s] = false;
        w->cap_mw[s] = 0;
        w->reached[s] = false;
    }
    memset(w->dev_owner, 0, sizeof(*w->dev_owner) * (size_t)w->ndev);
    for (int i = 0; i < w->n; i++) {
        struct ctrl *c = &w->c[i];
        if (c->node)
            node_free(c->node);
        c->node = NULL;
        node_out_clear(&c->out);
        c->up = false;
        c->active = false;
        c->nboots = 0;
        c->drift_ppm = 0;
        c->disk_len = 0;
        memset(&c->disk, 0, sizeof(c->disk));
        c->restart_at = (int64_t)((uint64_t)rnd(w) % (uint64_t)w->o->heartbeat_ns);
        c->restart_with_disk = true;
        c->jitter_ns = (int64_t)(rnd(w) % (uint64_t)w->o->heartbeat_ns);
    }
    draw_faults(w);
    if (w->o->faults)
        draw_churn(w);
    else
        w->nxev = w->next_xev = 0;
    reference(w);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void run_seed(struct world *w, uint64_t seed)
{
    reset(w, seed);
    size_t steps = 0;
    while (!w->failed) {
        int64_t next = w->t_end + 1;
        next = min64(next, cnet_next(w->net));
        if (w->step < w->tl->nsteps)
            next = min64(next, w->tl->steps[w->step].at_ns);
        if (w->next_fault < w->nfaults)
            next = min64(next, w->faults[w->next_fault].at);
        if (w->next_xev < w->nxev)
            next = min64(next, w->xev[w->next_xev].at);
        if (!w->healed)
            next = min64(next, w->t_heal);
        if (!w->recovered)
            next = min64(next, w->t_heal + w->bound_ns);
        for (int i = 0; i < w->n; i++) {
            struct ctrl *c = &w->c[i];
            if (!c->up) {
                next = min64(next, c->restart_at);
                continue;
            }
            next = min64(next, c->next_g);
            if (c->active)
                next = min64(next, c->next_poll);
        }
        if (next > w->t_end)
            break;
        if (next > w->t)
            w->t = next;
        if (++steps > MAX_STEPS) {
            fail(w, "no progress after %d steps", MAX_STEPS);
            break;
        }
        /* the world first: the timeline, the faults, the heal */
        while (w->step < w->tl->nsteps && w->tl->steps[w->step].at_ns <= w->t)
            timeline_step(w, &w->tl->steps[w->step++]);
        while (w->next_xev < w->nxev && w->xev[w->next_xev].at <= w->t)
            world_input(w, &w->xev[w->next_xev++].in);
        while (w->next_fault < w->nfaults && w->faults[w->next_fault].at <= w->t)
            do_fault(w, &w->faults[w->next_fault++]);
        if (!w->healed && w->t >= w->t_heal) {
            w->healed = true;
            trace(w, "world: every fault heals");
            struct cnet_conf calm = {.delay_min_ns = w->netconf.delay_min_ns};
            cnet_configure(w->net, &calm);
            cnet_heal(w->net);
            memset(w->block_count, 0, sizeof(w->block_count));
            for (int i = 0; i < w->n; i++)
                if (!w->c[i].up && w->c[i].restart_at > w->t)
                    w->c[i].restart_at = w->t;
        }
        for (int i = 0; i < w->n; i++)
            if (!w->c[i].up && w->c[i].restart_at <= w->t)
                boot(w, &w->c[i], w->c[i].restart_with_disk);
        /* then the network, the nodes' timers and the primary's poll */
        struct cnet_dgram *d;
        while (!w->failed && (d = cnet_pop(w->net, w->t))) {
            receive(w, d);
            cnet_release(w->net, d);
        }
        for (int i = 0; i < w->n && !w->failed; i++) {
            struct ctrl *c = &w->c[i];
            if (c->up && c->next_g <= w->t) {
                node_tick(c->node, local_of(c, w->t), &c->out);
                flush(w, c);
            }
            if (c->up && c->active && c->next_poll <= w->t) {
                c->next_poll = w->t + w->o->poll_ns;
                poll(w, c);
                flush(w, c);
            }
        }
        check_step(w);
        check_grants(w);
        if (w->healed && !w->recovered) {
            char why[256];
            if (one_primary(w, why, sizeof(why))) {
                w->recovered = true;
                w->recovery_ns = w->t - w->t_heal;
            } else if (w->t >= w->t_heal + w->bound_ns) {
                fail(w, "%.3fs after every fault healed, still %s (bound %.3fs)",
                     (double)(w->t - w->t_heal) / NS, why, (double)w->bound_ns / NS);
            }
        }
    }
    if (!w->failed) {
        w->t = w->t_end;
        check_end(w);
    }
    if (w->recovery_ns > w->res->max_recovery_ns)
        w->res->max_recovery_ns = w->recovery_ns;
}

/* The policy alone on the timeline and the seed's own events, ticking when
 * it asks to: what the rack must converge to. */
static void ref_until(struct world *w, int64_t t)
{
    struct rack *r = &w->ref;
    char err[256];
    while (policy_next_deadline(r) < t) {
        struct policy_input tick = {POLICY_TICK, 0, 0};
        policy_actions_clear(&w->acts);
        policy_handle(w->pol, r, &tick, policy_next_deadline(r), &w->acts, err, sizeof(err));
    }
}

static void reference(struct world *w)
{
    struct rack *r = &w->ref;
    char err[256];
    rack_assign(r, w->pristine);
    size_t i = 0;
    int x = 0;
    while (i < w->tl->nsteps || x < w->nxev) {
        if (i < w->tl->nsteps && (x >= w->nxev || w->tl->steps[i].at_ns <= w->xev[x].at)) {
            const struct rackfile_step *st = &w->tl->steps[i++];
            ref_until(w, st->at_ns);
            policy_actions_clear(&w->acts);
            if (policy_handle_many(w->pol, r, st->inputs, st->ninputs, st->at_ns, &w->acts, err,
                                   sizeof(err)))
                fail(w, "the reference refused a step: %s", err);
        } else {
            const struct xev *e = &w->xev[x++];
            ref_until(w, e->at);
            policy_actions_clear(&w->acts);
            if (policy_handle(w->pol, r, &e->in, e->at, &w->acts, err, sizeof(err)))
                fail(w, "the reference refused an input: %s", err);
        }
    }
    ref_until(w, w->t_settle);
    w->ref_all_in = true;
    for (int s = 0; s < r->nservers; s++) {
        const struct rack_server *sv = &r->servers[s];
        if (sv->state == RACK_SRV_WAITING || sv->state == RACK_SRV_SHED ||
            sv->state == RACK_SRV_CAPPED)
            w->ref_all_in = false;
    }
}

/* ---------------------------------------------------------------- the run */

static void world_free(struct world *w)
{
    for (int i = 0; i < w->n; i++) {
        struct ctrl *c = &w->c[i];
        node_free(c->node);
        node_out_free(&c->out);
        rack_free(&c->rack);
        free(c->pend);
        free(c->disk_ledger);
        free(c->snap);
    }
    for (size_t i = 0; i < w->ndl; i++)
        free(w->dl[i].bits);
    free(w->dl);
    cnet_free(w->net);
    policy_free(w->pol);
    policy_actions_free(&w->acts);
    rack_free(&w->truth);
    rack_free(&w->ref);
    rack_free(&w->scratch);
    free(w->psu_owner);
    free(w->wants);
    free(w->present);
    free(w->coil);
    free(w->cap_mw);
    free(w->dev_owner);
    free(w->reached);
    free(w->before);
    free(w->reached_epoch);
    free(w->reached_index);
}

static int world_init(struct world *w, const struct cluster_opts *o, const struct rack *r,
                      const struct rackfile_timeline *tl, struct cluster_result *res, char *err,
                      size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->o = o;
    if (!o->sabotage)
        w->sab = SAB_NONE;
    else if (strcmp(o->sabotage, "fence") == 0)
        w->sab = SAB_FENCE;
    else if (strcmp(o->sabotage, "commit") == 0)
        w->sab = SAB_COMMIT;
    else if (strcmp(o->sabotage, "adopt") == 0)
        w->sab = SAB_ADOPT;
    else {
        snprintf(err, errlen, "--sabotage: '%s' is not fence, commit or adopt", o->sabotage);
        return -1;
    }
    w->pristine = r;
    w->tl = tl;
    w->res = res;
    w->n = o->controllers;
    w->key.len = 32;
    w->wrong_key.len = 32;
    for (int i = 0; i < 32; i++) {
        w->key.bytes[i] = (uint8_t)(0x5a ^ i * 7);
        w->wrong_key.bytes[i] = (uint8_t)(0xa5 ^ i * 11);
    }
    size_t ns = (size_t)(r->nservers ? r->nservers : 1);
    w->pol = policy_new(r);
    w->net = cnet_new();
    w->psu_owner = calloc((size_t)(r->npsus ? r->npsus : 1), sizeof(int));
    w->wants = calloc(ns, sizeof(bool));
    w->present = calloc(ns, sizeof(bool));
    w->coil = calloc(ns, sizeof(bool));
    w->cap_mw = calloc(ns, sizeof(int64_t));
    w->reached = calloc(ns, sizeof(bool));
    w->before = calloc(ns, sizeof(int64_t));
    w->reached_epoch = calloc(ns, sizeof(uint64_t));
    w->reached_index = calloc(ns, sizeof(uint64_t));
    w->ndev = 2 + r->nchassis;
    w->dev_owner = calloc((size_t)w->ndev, sizeof(uint64_t));
    w->ledger_len = cledger_size(r);
    bool ok = w->pol && w->net && w->psu_owner && w->wants && w->present && w->coil && w->cap_mw &&
              w->reached && w->before && w->reached_epoch && w->reached_index && w->dev_owner &&
              w->ledger_len <= sizeof(w->payload) && w->ledger_len <= NODE_MAX_PAYLOAD &&
              !rack_alloc_like(&w->truth, r) && !rack_alloc_like(&w->ref, r) &&
              !rack_alloc_like(&w->scratch, r);
    for (int i = 0; ok && i < w->n; i++) {
        struct ctrl *c = &w->c[i];
        c->idx = i;
        c->addr = (uint8_t)(i + 1);
        c->pend = calloc(ns, sizeof(*c->pend));
        c->disk_ledger = malloc(w->ledger_len);
        c->snap = malloc(w->ledger_len);
        ok = c->pend && c->disk_ledger && c->snap && !rack_alloc_like(&c->rack, r);
    }
    if (!ok) {
        snprintf(err, errlen, "out of memory (or a rack too large for one ledger entry)");
        return -1;
    }
    for (int i = 0; i < r->npsus; i++)
        w->psu_owner[i] = (int)((int64_t)i * w->n / r->npsus);
    int64_t last = tl->nsteps ? tl->steps[tl->nsteps - 1].at_ns : 0;
    int64_t q = 2 * o->heartbeat_ns;
    w->t_heal = last + 5 * NS;
    /* After the heal: the primary is lost after `missed` heartbeats plus the
     * jitter (one heartbeat), a query round, a second one when a more
     * advanced controller answered, and a restarted controller's first
     * query; one heartbeat more for the challenge of a new boot. */
    w->bound_ns = (o->missed + 2) * o->heartbeat_ns + 3 * q;
    w->bound_ns += w->bound_ns / 50; /* the clocks' drift, at most 0.5 % */
    w->t_settle = w->t_heal + w->bound_ns + r->restore_after_ns + 5 * NS;
    w->t_end = w->t_settle;
    res->bound_ns = w->bound_ns;
    return 0;
}

int cluster_run(const struct cluster_opts *o, struct cluster_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    if (o->controllers < 1 || o->controllers > CLUSTER_MAX_CONTROLLERS) {
        snprintf(err, errlen, "--controllers: 1 to %d", CLUSTER_MAX_CONTROLLERS);
        return -1;
    }
    struct rack r;
    struct rackfile_timeline tl;
    if (rackfile_load(o->path, &r, &tl, err, errlen))
        return -1;
    struct world *w = malloc(sizeof(*w));
    int rc = -1;
    if (!w) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (world_init(w, o, &r, &tl, res, err, errlen))
        goto out_w;
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    for (uint64_t s = o->seed_from;; s++) {
        run_seed(w, s);
        res->seeds++;
        if (w->failed) {
            res->failed++;
            fprintf(o->out,
                    "FAIL seed %" PRIu64
                    ": %s\n  replay: rackpower-sim cluster %s --controllers %d "
                    "--seeds %" PRIu64 " --heartbeat-ms %" PRId64 " --missed %d --poll-ms %" PRId64
                    "%s%s%s --trace\n",
                    s, w->why, o->path, o->controllers, s, (int64_t)(o->heartbeat_ns / MS),
                    o->missed, (int64_t)(o->poll_ns / MS), o->faults ? "" : " --no-faults",
                    o->sabotage ? " --sabotage " : "", o->sabotage ? o->sabotage : "");
        }
        if (s == o->seed_to || (w->failed && o->stop))
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    res->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    res->cpu_seconds = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    rc = res->failed ? 1 : 0;
out_w:
    world_free(w);
    free(w);
out:
    rack_free(&r);
    rackfile_timeline_free(&tl);
    return rc;
}
