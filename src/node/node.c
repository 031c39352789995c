/*
 * node.c - one controller's election, heartbeats and replication (node.h
 * says why it is safe; docs/controllers.md how it reads to an operator).
 */
#include "node.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

struct peer {
    uint8_t addr;
    int64_t heard_ns; /* last message of any kind; -1 never */
    uint64_t boot_id;
    /* What it last said of itself (QUERY, STATUS, HEARTBEAT, ACK), and when. */
    int64_t said_ns;
    uint8_t role, primary, flags;
    uint64_t log_epoch, index;
    /* Seen from a primary. */
    enum node_peer_state state;
    int64_t acked_ns;
    bool verified;         /* its log is known to be a prefix of ours up to match */
    int64_t unverified_ns; /* since when it is not */
    uint64_t match;        /* highest index known to be in its log */
    uint64_t next;         /* next index to send it */
    int64_t snap_asked_ns;
};

struct slot {
    int64_t t_ns; /* when it was appended or received */
    uint64_t epoch, index;
    size_t off, len;
};

struct node {
    struct node_conf c;
    int64_t lost_ns; /* missed x heartbeat */
    bool started;
    int64_t started_ns;
    int refusals; /* devices refused us since we last heard a peer: do not stand alone soon */
    enum node_role role;
    bool active, unfit, caught_up;
    uint64_t max_seen;
    /* The primary: ourselves, or the one a secondary follows. */
    uint8_t primary;
    uint64_t primary_epoch;
    bool synced; /* a secondary's log is verified against its primary's */
    /* The log: position, the base under the kept entries (a snapshot or the
     * disk), the kept entries, commit. */
    uint64_t log_epoch, index, applied, commit;
    uint64_t base_epoch, base_index;
    struct slot ring[NODE_LOG_KEEP];
    size_t rfirst, rcount;
    uint8_t *bytes;
    size_t bytes_used; /* ring entries lie in bytes[ring[rfirst].off .. bytes_used) */
    /* Timers (INT64_MAX: disarmed). */
    bool in_round;
    int64_t round_start, round_end;
    int64_t lost_at, status_at, heartbeat_at;
    struct peer peers[NODE_MAX_PEERS];
};

/* ---- out ---- */

void node_out_clear(struct node_out *o)
{
    o->nmsgs = 0;
    o->nacts = 0;
    o->oom = false;
}

void node_out_free(struct node_out *o)
{
    free(o->msgs);
    free(o->acts);
    memset(o, 0, sizeof(*o));
}

static struct rackbus_msg *msg_to(struct node *n, struct node_out *o, uint8_t to, int type)
{
    if (grow_to((void **)&o->msgs, &o->msgs_cap, o->nmsgs + 1, sizeof(*o->msgs), 16, 0) != 0) {
        o->oom = true;
        return NULL;
    }
    struct node_msg *nm = &o->msgs[o->nmsgs++];
    memset(nm, 0, sizeof(*nm));
    nm->to = to;
    nm->m.type = (uint8_t)type;
    nm->m.from = n->c.addr;
    nm->m.to = to;
    nm->m.epoch = n->role == NODE_PRIMARY ? n->primary_epoch : n->max_seen;
    return &nm->m;
}

static struct node_action *act(struct node_out *o, enum node_act kind)
{
    if (grow_to((void **)&o->acts, &o->acts_cap, o->nacts + 1, sizeof(*o->acts), 16, 0) != 0) {
        o->oom = true;
        return NULL;
    }
    struct node_action *a = &o->acts[o->nacts++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    return a;
}

static void act_addr(struct node_out *o, enum node_act kind, uint8_t addr)
{
    struct node_action *a = act(o, kind);
    if (a)
        a->addr = addr;
}

/* ---- the log ---- */

static struct slot *slot_at(struct node *n, size_t k)
{
    return &n->ring[(n->rfirst + k) % NODE_LOG_KEEP];
}

static const struct slot *find_slot(const struct node *n, uint64_t index)
{
    if (n->rcount == 0)
        return NULL;
    const struct slot *first = &n->ring[n->rfirst];
    if (index < first->index || index >= first->index + n->rcount)
        return NULL;
    return &n->ring[(n->rfirst + (index - first->index)) % NODE_LOG_KEEP];
}

/* The epoch of entry `index` when the node knows it. */
static bool epoch_at(const struct node *n, uint64_t index, uint64_t *epoch)
{
    if (index == 0) {
        *epoch = 0;
        return true;
    }
    if (index == n->index) {
        *epoch = n->log_epoch;
        return true;
    }
    if (index == n->base_index) {
        *epoch = n->base_epoch;
        return true;
    }
    const struct slot *s = find_slot(n, index);
    if (!s)
        return false;
    *epoch = s->epoch;
    return true;
}

static void ring_clear(struct node *n)
{
    n->rfirst = 0;
    n->rcount = 0;
    n->bytes_used = 0;
}

static void ring_drop_oldest(struct node *n)
{
    n->rfirst = (n->rfirst + 1) % NODE_LOG_KEEP;
    n->rcount--;
    if (n->rcount == 0)
        n->bytes_used = 0;
}

/* Keeps entry (epoch, index) = index + 1 of the log, dropping the oldest
 * kept ones to make room, and moving the rest to the start of the buffer
 * when the end is reached (payloads handed out before move: node.h). */
static const uint8_t *ring_put(struct node *n, uint64_t epoch, uint64_t index, const void *p,
                               size_t len, int64_t now)
{
    if (n->rcount == NODE_LOG_KEEP)
        ring_drop_oldest(n);
    if (n->bytes_used + len > NODE_LOG_BYTES) {
        size_t start = n->rcount ? n->ring[n->rfirst].off : n->bytes_used;
        while (n->rcount && n->bytes_used - start + len > NODE_LOG_BYTES) {
            ring_drop_oldest(n);
            start = n->rcount ? n->ring[n->rfirst].off : 0;
        }
        if (n->rcount) {
            memmove(n->bytes, n->bytes + start, n->bytes_used - start);
            for (size_t k = 0; k < n->rcount; k++)
                slot_at(n, k)->off -= start;
            n->bytes_used -= start;
        }
    }
    struct slot *s = slot_at(n, n->rcount);
    s->t_ns = now;
    s->epoch = epoch;
    s->index = index;
    s->off = n->bytes_used;
    s->len = len;
    if (len)
        memcpy(n->bytes + s->off, p, len);
    n->bytes_used += len;
    n->rcount++;
    return n->bytes + s->off;
}

/* ---- small helpers ---- */

static struct peer *peer_of(struct node *n, uint8_t addr)
{
    for (size_t i = 0; i < n->c.npeers; i++)
        if (n->peers[i].addr == addr)
            return &n->peers[i];
    return NULL;
}

static bool heard_lately(const struct node *n, const struct peer *p, int64_t now)
{
    return p->heard_ns >= 0 && now - p->heard_ns < n->lost_ns;
}

static uint8_t my_flags(const struct node *n)
{
    return (uint8_t)((n->caught_up ? RACKBUS_CAUGHT_UP : 0) | (n->unfit ? RACKBUS_UNFIT : 0));
}

/* The peer views' alive/dead, emitting the changes. */
static void set_state(struct node_out *o, struct peer *p, enum node_peer_state s)
{
    enum node_peer_state was = p->state;
    p->state = s;
    if (s == NODE_PEER_ALIVE && was != NODE_PEER_ALIVE)
        act_addr(o, NODE_ACT_PEER_ALIVE, p->addr);
    else if (was == NODE_PEER_ALIVE && s != NODE_PEER_ALIVE) /* no longer counted */
        act_addr(o, NODE_ACT_PEER_DEAD, p->addr);
    else if (was == NODE_PEER_UNKNOWN && s == NODE_PEER_DEAD)
        act_addr(o, NODE_ACT_PEER_DEAD, p->addr);
}

/* Is (le, i, a) more advanced than (le2, i2, a2)? Ledger position first. */
static bool outranks(uint64_t le, uint64_t i, uint8_t a, uint64_t le2, uint64_t i2, uint8_t a2)
{
    if (le != le2)
        return le > le2;
    if (i != i2)
        return i > i2;
    return a > a2;
}

/* The position a controller stands on: what its owner applied. */
static void position(const struct node *n, uint64_t *log_epoch, uint64_t *index)
{
    if (epoch_at(n, n->applied, log_epoch)) {
        *index = n->applied;
        return;
    }
    *log_epoch = 0;
    *index = 0;
}

static void send_query(struct node *n, struct node_out *o, uint8_t to)
{
    struct rackbus_msg *m = msg_to(n, o, to, RACKBUS_QUERY);
    if (!m)
        return;
    position(n, &m->u.query.log_epoch, &m->u.query.index);
    m->u.query.flags = my_flags(n);
}

static void send_status(struct node *n, struct node_out *o, uint8_t to)
{
    struct rackbus_msg *m = msg_to(n, o, to, RACKBUS_STATUS);
    if (!m)
        return;
    m->u.status.role = (uint8_t)n->role;
    m->u.status.primary = n->primary;
    position(n, &m->u.status.log_epoch, &m->u.status.index);
    m->u.status.flags = my_flags(n);
}

static void send_heartbeat(struct node *n, struct node_out *o, uint8_t to)
{
    struct rackbus_msg *m = msg_to(n, o, to, RACKBUS_HEARTBEAT);
    if (!m)
        return;
    m->u.heartbeat.log_epoch = n->log_epoch;
    m->u.heartbeat.index = n->index;
    m->u.heartbeat.commit = n->commit;
}

static void send_ack(struct node *n, struct node_out *o)
{
    /* Not while a snapshot waits to be applied: it could only name the log
     * the snapshot replaced. */
    if (!n->primary || n->role == NODE_PRIMARY || n->applied < n->base_index)
        return;
    uint64_t e = 0;
    uint64_t i = n->applied;
    if (!epoch_at(n, i, &e))
        i = 0; /* cannot name it: say empty, the primary will resend or snapshot */
    struct rackbus_msg *m = msg_to(n, o, n->primary, RACKBUS_ACK);
    if (!m)
        return;
    m->u.ack.index = i;
    m->u.ack.log_epoch = i ? e : 0;
}

static void send_entry(struct node *n, struct node_out *o, uint8_t to, const struct slot *s)
{
    struct rackbus_msg *m = msg_to(n, o, to, RACKBUS_APPEND);
    if (!m)
        return;
    m->u.append.epoch = s->epoch;
    m->u.append.index = s->index;
    m->u.append.prev_index = s->index - 1;
    m->u.append.kind = RACKBUS_ENTRY;
    m->u.append.commit = n->commit;
    m->u.append.payload = n->bytes + s->off;
    m->u.append.len = (uint32_t)s->len;
}

/* ---- life ---- */

int node_conf_check(const struct node_conf *c, char *err, size_t errlen)
{
    if (c->addr == 0) {
        snprintf(err, errlen, "node address 0: addresses are 1..255");
        return -1;
    }
    if (c->npeers > NODE_MAX_PEERS) {
        snprintf(err, errlen, "%zu peers: at most %d", c->npeers, NODE_MAX_PEERS);
        return -1;
    }
    for (size_t i = 0; i < c->npeers; i++) {
        if (c->peers[i] == 0 || c->peers[i] == c->addr) {
            snprintf(err, errlen, "peer %u: not another controller's address (1..255)",
                     c->peers[i]);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (c->peers[j] == c->peers[i]) {
                snprintf(err, errlen, "peer %u named twice", c->peers[i]);
                return -1;
            }
    }
    if (c->heartbeat_ns < 0 || c->missed < 0 || c->query_ns < 0 || c->jitter_ns < 0 ||
        c->alone_ns < 0) {
        snprintf(err, errlen, "negative heartbeat, missed count, query, jitter or alone time");
        return -1;
    }
    return 0;
}

struct node *node_new(const struct node_conf *c, const struct node_disk *disk, int64_t now)
{
    char err[128];
    if (node_conf_check(c, err, sizeof(err)) != 0)
        return NULL;
    struct node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->bytes = malloc(NODE_LOG_BYTES);
    if (!n->bytes) {
        free(n);
        return NULL;
    }
    n->c = *c;
    if (n->c.heartbeat_ns == 0)
        n->c.heartbeat_ns = NODE_DEFAULT_HEARTBEAT_NS;
    if (n->c.missed == 0)
        n->c.missed = NODE_DEFAULT_MISSED;
    if (n->c.query_ns == 0)
        n->c.query_ns = 2 * n->c.heartbeat_ns;
    n->lost_ns = n->c.missed * n->c.heartbeat_ns;
    if (n->c.alone_ns == 0)
        n->c.alone_ns = 3 * n->lost_ns;
    n->role = NODE_SECONDARY;
    if (disk) {
        n->max_seen = disk->max_epoch > disk->log_epoch ? disk->max_epoch : disk->log_epoch;
        n->log_epoch = n->base_epoch = disk->log_epoch;
        n->index = n->base_index = n->applied = disk->index;
    }
    n->lost_at = n->status_at = n->heartbeat_at = n->round_end = INT64_MAX;
    for (size_t i = 0; i < c->npeers; i++) {
        n->peers[i].addr = c->peers[i];
        n->peers[i].heard_ns = -1;
        n->peers[i].said_ns = -1;
        n->peers[i].acked_ns = -1;
        n->peers[i].snap_asked_ns = -1;
        n->peers[i].unverified_ns = -1;
    }
    (void)now;
    return n;
}

void node_free(struct node *n)
{
    if (!n)
        return;
    free(n->bytes);
    free(n);
}

static void start_round(struct node *n, int64_t now, struct node_out *o)
{
    n->in_round = true;
    n->round_start = now;
    n->round_end = now + n->c.query_ns;
    send_query(n, o, 0);
}

void node_start(struct node *n, int64_t now, struct node_out *out)
{
    if (n->started)
        return;
    n->started = true;
    n->started_ns = now;
    n->status_at = now + n->c.heartbeat_ns;
    start_round(n, now, out);
}

/* ---- primary ---- */

static void recompute_commit(struct node *n, struct node_out *o)
{
    if (n->role != NODE_PRIMARY)
        return;
    uint64_t c = n->index;
    for (size_t i = 0; i < n->c.npeers; i++) {
        const struct peer *p = &n->peers[i];
        if (p->state != NODE_PEER_ALIVE)
            continue;
        uint64_t m = p->verified ? p->match : 0;
        if (m < c)
            c = m;
    }
    if (c <= n->commit)
        return;
    n->commit = c;
    if (n->active) {
        struct node_action *a = act(o, NODE_ACT_COMMITTED);
        if (a)
            a->index = c;
    }
}

static void unverify(struct peer *p, int64_t now)
{
    if (p->verified || p->unverified_ns < 0)
        p->unverified_ns = now;
    p->verified = false;
}

/* A live peer that has not acknowledged an entry `missed` heartbeats after
 * it was appended (or whose log could not be matched for as long) holds
 * commits back no longer: it acknowledges, but cannot keep up (a journal
 * write fails, a snapshot is too large to send). */
static bool lagging(const struct node *n, const struct peer *p, int64_t now)
{
    if (!p->verified)
        return now - p->unverified_ns >= n->lost_ns;
    if (p->match >= n->index)
        return false;
    const struct slot *s = find_slot(n, p->match + 1);
    return !s || now - s->t_ns >= n->lost_ns;
}

static void want_snapshot(struct node *n, struct peer *p, int64_t now, struct node_out *o)
{
    unverify(p, now);
    if (p->snap_asked_ns >= 0 && now - p->snap_asked_ns < n->c.heartbeat_ns)
        return;
    p->snap_asked_ns = now;
    act_addr(o, NODE_ACT_SNAPSHOT_WANTED, p->addr);
}

/* Sends a verified peer what it lacks: the kept entries, or asks for a
 * snapshot when they are gone. */
static void send_missing(struct node *n, struct peer *p, int64_t now, struct node_out *o)
{
    if (!p->verified || p->match >= n->index)
        return;
    uint64_t from = p->match + 1;
    if (!find_slot(n, from)) {
        want_snapshot(n, p, now, o);
        return;
    }
    for (uint64_t i = from; i <= n->index; i++)
        send_entry(n, o, p->addr, find_slot(n, i));
    p->next = n->index + 1;
}

static void peer_caught_up_check(struct node *n, struct peer *p, struct node_out *o)
{
    if (p->state == NODE_PEER_CATCHING && p->verified && p->match >= n->index)
        set_state(o, p, NODE_PEER_ALIVE);
}

static void on_ack(struct node *n, struct peer *p, uint64_t index, uint64_t log_epoch, int64_t now,
                   struct node_out *o)
{
    p->acked_ns = now;
    if (p->state == NODE_PEER_DEAD || p->state == NODE_PEER_UNKNOWN)
        set_state(o, p, NODE_PEER_CATCHING);
    uint64_t e;
    if (index > n->index || !epoch_at(n, index, &e) || e != log_epoch) {
        want_snapshot(n, p, now, o);
        return;
    }
    bool newly = !p->verified;
    if (newly) {
        p->verified = true;
        p->match = index;
        p->next = index + 1;
    } else if (index > p->match) {
        p->match = index;
    }
    if (newly)
        send_missing(n, p, now, o);
    peer_caught_up_check(n, p, o);
    recompute_commit(n, o);
}

static void primary_heartbeat(struct node *n, int64_t now, struct node_out *o)
{
    send_heartbeat(n, o, 0);
    for (size_t i = 0; i < n->c.npeers; i++) {
        struct peer *p = &n->peers[i];
        if (p->state != NODE_PEER_ALIVE && p->state != NODE_PEER_CATCHING)
            continue;
        if (p->acked_ns < 0 || now - p->acked_ns >= n->lost_ns) {
            unverify(p, now);
            set_state(o, p, NODE_PEER_DEAD);
            continue;
        }
        if (p->state == NODE_PEER_ALIVE && lagging(n, p, now))
            set_state(o, p, NODE_PEER_CATCHING);
        send_missing(n, p, now, o);
    }
    recompute_commit(n, o);
    n->heartbeat_at = now + n->c.heartbeat_ns;
}

static void promote(struct node *n, int64_t now, struct node_out *o)
{
    uint64_t term = node_epoch_term(n->max_seen);
    if (term >= (UINT64_MAX >> 8)) /* epochs exhausted: never in practice */
        return;
    uint64_t e = ((term + 1) << 8) | n->c.addr;
    n->max_seen = n->primary_epoch = e;
    /* It stands on what its owner applied: entries given but not applied go. */
    position(n, &n->log_epoch, &n->index);
    while (n->rcount && slot_at(n, n->rcount - 1)->index > n->index)
        n->rcount--;
    if (n->rcount)
        n->bytes_used = slot_at(n, n->rcount - 1)->off + slot_at(n, n->rcount - 1)->len;
    else
        ring_clear(n);
    for (size_t k = 0; k < n->rcount; k++) /* the peers' time to acknowledge starts now */
        slot_at(n, k)->t_ns = now;
    if (n->index < n->base_index) {
        n->base_index = n->index;
        n->base_epoch = n->log_epoch;
    }
    n->applied = n->index;
    n->role = NODE_PRIMARY;
    n->primary = n->c.addr;
    n->active = false;
    n->in_round = false;
    n->round_end = n->lost_at = n->status_at = INT64_MAX;
    n->commit = 0;
    n->caught_up = true;
    for (size_t i = 0; i < n->c.npeers; i++) {
        struct peer *p = &n->peers[i];
        p->verified = false;
        p->unverified_ns = now;
        p->match = 0;
        p->next = 0;
        p->snap_asked_ns = -1;
        if (heard_lately(n, p, now)) {
            p->acked_ns = now; /* given `missed` heartbeats to acknowledge */
            set_state(o, p, NODE_PEER_ALIVE);
        } else {
            p->acked_ns = -1;
            set_state(o, p, p->heard_ns < 0 ? NODE_PEER_UNKNOWN : NODE_PEER_DEAD);
        }
    }
    struct node_action *a = act(o, NODE_ACT_FENCE);
    if (a)
        a->epoch = e;
    send_heartbeat(n, o, 0);
    n->heartbeat_at = now + n->c.heartbeat_ns;
}

/* Back to secondary without a primary, querying. */
static void become_secondary(struct node *n, int64_t now, struct node_out *o)
{
    n->role = NODE_SECONDARY;
    n->active = false;
    n->primary = 0;
    n->primary_epoch = 0;
    n->synced = false;
    n->caught_up = false;
    n->heartbeat_at = INT64_MAX;
    n->lost_at = INT64_MAX;
    n->status_at = now + n->c.heartbeat_ns;
    for (size_t i = 0; i < n->c.npeers; i++) {
        struct peer *p = &n->peers[i];
        if (p->heard_ns < 0)
            set_state(o, p, NODE_PEER_UNKNOWN);
        else
            set_state(o, p, heard_lately(n, p, now) ? NODE_PEER_ALIVE : NODE_PEER_DEAD);
    }
    start_round(n, now, o);
}

static void demote(struct node *n, int64_t now, struct node_out *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void demote(struct node *n, int64_t now, struct node_out *o, const char *fmt, ...)
{
    struct node_action *a = act(o, NODE_ACT_DEMOTED);
    if (a) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(a->why, sizeof(a->why), fmt, ap);
        va_end(ap);
    }
    become_secondary(n, now, o);
}

/* ---- secondary ---- */

static void update_caught_up(struct node *n)
{
    n->caught_up = n->synced && n->index >= n->commit;
}

/* A HEARTBEAT from a primary with an epoch as high as any we know. */
static void follow(struct node *n, struct peer *p, const struct rackbus_msg *m, int64_t now,
                   struct node_out *o)
{
    if (n->primary != p->addr || n->primary_epoch != m->epoch) {
        n->primary = p->addr;
        n->primary_epoch = m->epoch;
        n->synced = false;
        struct node_action *a = act(o, NODE_ACT_PRIMARY_IS);
        if (a) {
            a->addr = p->addr;
            a->epoch = m->epoch;
        }
    }
    n->role = NODE_SECONDARY;
    n->in_round = false;
    n->round_end = INT64_MAX;
    n->lost_at = now + n->lost_ns + n->c.jitter_ns;
    if (n->status_at == INT64_MAX)
        n->status_at = now + n->c.heartbeat_ns;
    if (n->log_epoch == m->u.heartbeat.log_epoch && n->index == m->u.heartbeat.index)
        n->synced = true;
    n->commit = m->u.heartbeat.commit;
    update_caught_up(n);
    if (n->applied < n->base_index) {
        /* the snapshot given was not applied: ask for another */
        struct rackbus_msg *c = msg_to(n, o, n->primary, RACKBUS_CATCHUP);
        if (c)
            c->u.catchup.index = n->applied;
        return;
    }
    send_ack(n, o);
}

/* An entry's APPLY, its payload kept in the ring. */
static void give(struct node_out *o, const struct slot *s, const uint8_t *payload)
{
    struct node_action *a = act(o, NODE_ACT_APPLY);
    if (!a)
        return;
    a->apply_kind = NODE_APPLY_ENTRY;
    a->log_epoch = s->epoch;
    a->index = s->index;
    a->payload = payload;
    a->len = s->len;
}

static void on_append(struct node *n, const struct rackbus_msg *m, int64_t now, struct node_out *o)
{
    const struct rackbus_append *ap = &m->u.append;
    uint64_t e = 0;
    if (ap->kind == RACKBUS_SNAPSHOT) {
        /* A duplicate or a late one (we applied as much of this primary's
         * log) is ignored: it would roll us back. */
        bool pending = n->applied < n->base_index;
        bool have = epoch_at(n, n->applied, &e);
        if (n->synced && !pending && have && !outranks(ap->epoch, ap->index, 0, e, n->applied, 0)) {
            send_ack(n, o);
            return;
        }
        ring_clear(n);
        n->base_epoch = n->log_epoch = ap->epoch;
        n->base_index = n->index = ap->index;
        n->applied = 0;
        n->synced = true;
        struct node_action *a = act(o, NODE_ACT_APPLY);
        if (a) {
            a->apply_kind = NODE_APPLY_SNAPSHOT;
            a->log_epoch = ap->epoch;
            a->index = ap->index;
            a->payload = ap->payload;
            a->len = ap->len;
        }
    } else if (ap->index == n->index + 1 && ap->prev_index == n->index && n->applied == n->index) {
        const uint8_t *kept = ring_put(n, ap->epoch, ap->index, ap->payload, ap->len, now);
        n->log_epoch = ap->epoch;
        n->index = ap->index;
        n->synced = true;
        give(o, find_slot(n, ap->index), kept);
    } else if (n->applied < n->index && n->applied >= n->base_index &&
               ap->index == n->applied + 1 && epoch_at(n, ap->index, &e) && e == ap->epoch &&
               find_slot(n, ap->index)) {
        /* Given before, but its owner could not apply it: again. */
        const struct slot *s = find_slot(n, ap->index);
        give(o, s, n->bytes + s->off);
    } else {
        /* A duplicate, or a gap: say where we are. */
        send_ack(n, o);
    }
    if (ap->commit > n->commit)
        n->commit = ap->commit;
    update_caught_up(n);
}

/* ---- the election ---- */

/* Whether a candidate may stand now: no fit peer that spoke this round is
 * more advanced, and none names a live primary; alone, only after alone_ns
 * of silence (node.h, "One-way partitions"). */
static bool may_stand(const struct node *n, int64_t now)
{
    if (n->unfit)
        return false;
    int64_t last = n->started_ns;
    bool heard = false;
    for (size_t i = 0; i < n->c.npeers; i++) {
        if (n->peers[i].heard_ns >= n->round_start)
            heard = true;
        if (n->peers[i].heard_ns > last)
            last = n->peers[i].heard_ns;
    }
    if (n->c.npeers && !heard) {
        int64_t wait = n->c.alone_ns;
        if (n->refusals) /* 10x, doubled per refusal in a row, at most 80x */
            wait *= 10 << (n->refusals < 4 ? n->refusals - 1 : 3);
        if (now - last < wait)
            return false;
    }
    uint64_t le, idx;
    position(n, &le, &idx);
    for (size_t i = 0; i < n->c.npeers; i++) {
        const struct peer *p = &n->peers[i];
        if (p->said_ns < n->round_start)
            continue;
        if (p->primary && p->primary != n->c.addr && p->role != NODE_CANDIDATE)
            return false;
        if (p->flags & RACKBUS_UNFIT)
            continue;
        if (outranks(p->log_epoch, p->index, p->addr, le, idx, n->c.addr))
            return false;
    }
    return true;
}

/* Every peer has spoken this round or has been silent long enough to be
 * dead: waiting longer would tell the candidate nothing. */
static bool round_complete(const struct node *n, int64_t now)
{
    for (size_t i = 0; i < n->c.npeers; i++) {
        const struct peer *p = &n->peers[i];
        if (p->said_ns >= n->round_start)
            continue;
        if (p->heard_ns >= 0 && now - p->heard_ns >= n->lost_ns)
            continue;
        return false;
    }
    return true;
}

static void round_end(struct node *n, int64_t now, struct node_out *o)
{
    n->in_round = false;
    n->round_end = INT64_MAX;
    if (n->primary)
        return;
    if (may_stand(n, now)) {
        promote(n, now, o);
        return;
    }
    if (!n->unfit)
        n->role = NODE_CANDIDATE;
    start_round(n, now, o);
}

static void maybe_decide_early(struct node *n, int64_t now, struct node_out *o)
{
    if (n->in_round && !n->primary && n->role == NODE_CANDIDATE && round_complete(n, now) &&
        may_stand(n, now))
        round_end(n, now, o);
}

/* ---- events ---- */

static void record_said(struct peer *p, int64_t now, uint8_t role, uint8_t primary,
                        uint64_t log_epoch, uint64_t index, uint8_t flags)
{
    p->said_ns = now;
    p->role = role;
    p->primary = primary;
    p->log_epoch = log_epoch;
    p->index = index;
    p->flags = flags;
}

void node_receive(struct node *n, const struct rackbus_msg *m, int64_t now, struct node_out *out)
{
    if (!n->started || m->from == n->c.addr)
        return;
    struct peer *p = peer_of(n, m->from);
    if (!p)
        return;
    switch (m->type) {
    case RACKBUS_QUERY:
    case RACKBUS_STATUS:
    case RACKBUS_HEARTBEAT:
    case RACKBUS_APPEND:
    case RACKBUS_ACK:
    case RACKBUS_CATCHUP:
        break;
    default:
        return;
    }
    if (p->heard_ns >= 0 && p->boot_id != m->boot_id && n->role == NODE_PRIMARY) {
        /* restarted: what it held before may be gone */
        unverify(p, now);
        p->match = 0;
    }
    p->boot_id = m->boot_id;
    p->heard_ns = now;
    n->refusals = 0;
    if (n->role != NODE_PRIMARY && p->state != NODE_PEER_ALIVE)
        set_state(out, p, NODE_PEER_ALIVE);
    if (m->epoch > n->max_seen) {
        n->max_seen = m->epoch;
        if (n->role == NODE_PRIMARY)
            demote(n, now, out, "node %u has seen epoch %" PRIu64 ", higher than ours", m->from,
                   m->epoch);
    }
    switch (m->type) {
    case RACKBUS_QUERY:
        record_said(p, now, NODE_CANDIDATE, 0, m->u.query.log_epoch, m->u.query.index,
                    m->u.query.flags);
        if (n->role == NODE_PRIMARY)
            send_heartbeat(n, out, p->addr);
        else
            send_status(n, out, p->addr);
        maybe_decide_early(n, now, out);
        break;
    case RACKBUS_STATUS:
        record_said(p, now, m->u.status.role, m->u.status.primary, m->u.status.log_epoch,
                    m->u.status.index, m->u.status.flags);
        maybe_decide_early(n, now, out);
        break;
    case RACKBUS_HEARTBEAT:
        record_said(p, now, NODE_PRIMARY, p->addr, m->u.heartbeat.log_epoch, m->u.heartbeat.index,
                    0);
        if (m->epoch < n->max_seen) { /* a stale primary: tell it */
            if (n->role == NODE_PRIMARY)
                send_heartbeat(n, out, p->addr);
            else
                send_status(n, out, p->addr);
        } else if (n->role != NODE_PRIMARY) {
            follow(n, p, m, now, out);
        }
        break;
    case RACKBUS_APPEND:
        if (n->role != NODE_PRIMARY && n->primary == p->addr && n->primary_epoch == m->epoch)
            on_append(n, m, now, out);
        else if (m->epoch < n->max_seen)
            send_status(n, out, p->addr);
        break;
    case RACKBUS_ACK:
        if (n->role == NODE_PRIMARY && m->epoch == n->primary_epoch)
            on_ack(n, p, m->u.ack.index, m->u.ack.log_epoch, now, out);
        break;
    case RACKBUS_CATCHUP:
        if (n->role == NODE_PRIMARY && m->epoch == n->primary_epoch) {
            p->acked_ns = now;
            if (p->state == NODE_PEER_DEAD || p->state == NODE_PEER_UNKNOWN)
                set_state(out, p, NODE_PEER_CATCHING);
            want_snapshot(n, p, now, out);
        }
        break;
    }
}

void node_tick(struct node *n, int64_t now, struct node_out *out)
{
    if (!n->started)
        return;
    if (n->role == NODE_PRIMARY) {
        if (now >= n->heartbeat_at)
            primary_heartbeat(n, now, out);
        return;
    }
    if (n->primary && now >= n->lost_at) {
        uint8_t lost = n->primary;
        struct peer *p = peer_of(n, lost);
        if (p)
            set_state(out, p, NODE_PEER_DEAD);
        n->primary = 0;
        n->primary_epoch = 0;
        n->synced = false;
        n->caught_up = false;
        n->lost_at = INT64_MAX;
        act_addr(out, NODE_ACT_PRIMARY_LOST, lost);
        if (!n->unfit)
            n->role = NODE_CANDIDATE;
        start_round(n, now, out);
    }
    if (now >= n->status_at) {
        send_status(n, out, 0);
        for (size_t i = 0; i < n->c.npeers; i++) {
            struct peer *p = &n->peers[i];
            if (p->state == NODE_PEER_ALIVE && !heard_lately(n, p, now))
                set_state(out, p, NODE_PEER_DEAD);
        }
        n->status_at = now + n->c.heartbeat_ns;
    }
    if (n->in_round && now >= n->round_end)
        round_end(n, now, out);
}

int64_t node_next_deadline(const struct node *n)
{
    if (!n->started)
        return INT64_MAX;
    int64_t d = INT64_MAX;
    int64_t t[] = {n->heartbeat_at, n->lost_at, n->status_at,
                   n->in_round ? n->round_end : INT64_MAX};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i] < d)
            d = t[i];
    return d;
}

uint64_t node_append(struct node *n, const void *payload, size_t len, int64_t now,
                     struct node_out *out)
{
    if (n->role != NODE_PRIMARY || !n->active || len > NODE_MAX_PAYLOAD)
        return 0;
    uint64_t index = n->index + 1;
    ring_put(n, n->primary_epoch, index, payload, len, now);
    n->log_epoch = n->primary_epoch;
    n->index = index;
    n->applied = index;
    const struct slot *s = find_slot(n, index);
    for (size_t i = 0; i < n->c.npeers; i++) {
        struct peer *p = &n->peers[i];
        if (p->state == NODE_PEER_DEAD || p->state == NODE_PEER_UNKNOWN || !p->verified ||
            p->next != index)
            continue;
        send_entry(n, out, p->addr, s);
        p->next = index + 1;
    }
    recompute_commit(n, out);
    return index;
}

void node_snapshot(struct node *n, uint8_t to, const void *payload, size_t len, int64_t now,
                   struct node_out *out)
{
    (void)now;
    struct peer *p = peer_of(n, to);
    if (n->role != NODE_PRIMARY || !p || len > NODE_MAX_PAYLOAD)
        return;
    struct rackbus_msg *m = msg_to(n, out, to, RACKBUS_APPEND);
    if (!m)
        return;
    m->u.append.epoch = n->log_epoch;
    m->u.append.index = n->index;
    m->u.append.prev_index = 0;
    m->u.append.kind = RACKBUS_SNAPSHOT;
    m->u.append.commit = n->commit;
    m->u.append.payload = payload;
    m->u.append.len = (uint32_t)len;
    p->next = n->index + 1;
}

void node_fenced(struct node *n, bool ok, uint64_t device_epoch, int64_t now, struct node_out *out)
{
    if (device_epoch > n->max_seen)
        n->max_seen = device_epoch;
    if (n->role != NODE_PRIMARY || n->active)
        return;
    if (ok && device_epoch <= n->primary_epoch) {
        n->active = true;
        struct node_action *a = act(out, NODE_ACT_ACTIVE);
        if (a)
            a->epoch = n->primary_epoch;
        recompute_commit(n, out);
        return;
    }
    if (device_epoch > n->primary_epoch) {
        n->refusals++;
        demote(n, now, out, "a device has seen epoch %" PRIu64 ", higher than ours", device_epoch);
    } else {
        demote(n, now, out, "fencing the devices failed");
    }
}

void node_unfit(struct node *n, const char *why, int64_t now, struct node_out *out)
{
    n->unfit = true;
    if (n->role == NODE_PRIMARY)
        demote(n, now, out, "%s", why ? why : "unfit");
    else if (n->role == NODE_CANDIDATE)
        n->role = NODE_SECONDARY;
}

void node_fit(struct node *n, int64_t now, struct node_out *out)
{
    (void)now;
    (void)out;
    n->unfit = false;
}

void node_epoch_seen(struct node *n, uint64_t epoch, int64_t now, struct node_out *out)
{
    if (epoch > n->max_seen)
        n->max_seen = epoch;
    if (n->role == NODE_PRIMARY && epoch > n->primary_epoch) {
        n->refusals++;
        demote(n, now, out, "a device refused us: it has seen epoch %" PRIu64, epoch);
    }
}

void node_applied(struct node *n, uint64_t index, int64_t now, struct node_out *out)
{
    (void)now;
    if (n->role == NODE_PRIMARY || index > n->index)
        return;
    n->applied = index;
    send_ack(n, out);
}

/* ---- reads ---- */

enum node_role node_role(const struct node *n)
{
    return n->role;
}

const char *node_role_name(enum node_role r)
{
    switch (r) {
    case NODE_SECONDARY:
        return "secondary";
    case NODE_CANDIDATE:
        return "candidate";
    case NODE_PRIMARY:
        return "primary";
    }
    return "unknown";
}

const char *node_peer_state_name(enum node_peer_state s)
{
    switch (s) {
    case NODE_PEER_UNKNOWN:
        return "unknown";
    case NODE_PEER_ALIVE:
        return "alive";
    case NODE_PEER_CATCHING:
        return "catching-up";
    case NODE_PEER_DEAD:
        return "dead";
    }
    return "unknown";
}

const char *node_act_name(enum node_act k)
{
    switch (k) {
    case NODE_ACT_FENCE:
        return "fence";
    case NODE_ACT_ACTIVE:
        return "active";
    case NODE_ACT_DEMOTED:
        return "demoted";
    case NODE_ACT_PRIMARY_IS:
        return "primary_is";
    case NODE_ACT_PRIMARY_LOST:
        return "primary_lost";
    case NODE_ACT_APPLY:
        return "apply";
    case NODE_ACT_COMMITTED:
        return "committed";
    case NODE_ACT_SNAPSHOT_WANTED:
        return "snapshot_wanted";
    case NODE_ACT_PEER_DEAD:
        return "peer_dead";
    case NODE_ACT_PEER_ALIVE:
        return "peer_alive";
    }
    return "unknown";
}

uint8_t node_addr(const struct node *n)
{
    return n->c.addr;
}

uint8_t node_primary(const struct node *n)
{
    return n->primary;
}

uint64_t node_epoch(const struct node *n)
{
    return n->role == NODE_PRIMARY ? n->primary_epoch : n->max_seen;
}

bool node_active(const struct node *n)
{
    return n->role == NODE_PRIMARY && n->active;
}

bool node_caught_up(const struct node *n)
{
    return n->caught_up;
}

bool node_fit_to_stand(const struct node *n)
{
    return !n->unfit;
}

uint64_t node_last(const struct node *n)
{
    return n->index;
}

uint64_t node_commit(const struct node *n)
{
    return n->commit;
}

size_t node_npeers(const struct node *n)
{
    return n->c.npeers;
}

struct node_peer_view node_peer(const struct node *n, size_t i)
{
    struct node_peer_view v = {0};
    if (i >= n->c.npeers)
        return v;
    const struct peer *p = &n->peers[i];
    v.addr = p->addr;
    v.state = p->state;
    v.last_heard_ns = p->heard_ns;
    v.match = p->match;
    return v;
}

struct node_disk node_disk(const struct node *n)
{
    /* what the owner has made durable, not what it was given */
    struct node_disk d = {.max_epoch = n->max_seen};
    position(n, &d.log_epoch, &d.index);
    return d;
}
