/*
 * member.c - the node on the loop thread (member.h).
 */
#include "member.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "monoclock.h"
#include "node.h"
#include "rackkey.h"
#include "timer_at.h"

struct member {
    struct node *node;
    struct node_io *io;
    struct store *store;
    struct member_hooks h;
    uv_timer_t timer;
    bool timer_open;
    struct node_disk saved; /* as last written to the store */
    uint8_t addr;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1e3;
}

static void on_timer(uv_timer_t *t);

static void send_all(struct member *m, const struct node_out *out)
{
    char err[256];
    for (size_t k = 0; k < out->nmsgs; k++)
        if (node_io_send(m->io, out->msgs[k].to, &out->msgs[k].m, err, sizeof(err)))
            log_warnx("node %u: %s not sent: %s", m->addr, rackbus_type_name(out->msgs[k].m.type),
                      err);
}

/* Keeps the node's position on disk: before a fence is carried out, so
 * that a restart never takes an epoch it held. -1 when it could not be
 * written (logged; tried again at the next change). */
static int persist(struct member *m)
{
    struct node_disk d = node_disk(m->node);
    if (!memcmp(&d, &m->saved, sizeof(d)))
        return 0;
    struct store_node x = {.max_epoch = d.max_epoch, .log_epoch = d.log_epoch, .index = d.index};
    char err[256];
    if (store_node_put(m->store, &x, err, sizeof(err))) {
        log_warnx("node: its position cannot be written (%s); it is tried again at the next "
                  "change",
                  err);
        return -1;
    }
    m->saved = d;
    return 0;
}

static void arm(struct member *m)
{
    timer_at(&m->timer, on_timer, node_next_deadline(m->node));
}

/*
 * Sends what the node said, writes its position, then carries out its
 * actions in order. A hook may call back into the member (an activated
 * primary appends its first entry): each call runs with its own out.
 */
static void process(struct member *m, struct node_out *out)
{
    send_all(m, out);
    persist(m);
    bool changed = false;
    char err[160];
    for (size_t k = 0; k < out->nacts; k++) {
        const struct node_action *a = &out->acts[k];
        switch (a->kind) {
        case NODE_ACT_FENCE:
            if (m->saved.max_epoch < a->epoch && persist(m)) {
                /* An epoch not on disk could be taken again after a restart,
                 * by this controller, for other entries: it is not used. The
                 * node steps down and stands again later, higher. */
                log_warnx("node %u: epoch %llu cannot be kept on disk: not fencing with it",
                          m->addr, (unsigned long long)a->epoch);
                struct node_out o = {0};
                node_fenced(m->node, false, 0, mono_ns(), &o);
                process(m, &o);
                node_out_free(&o);
                break;
            }
            log_info("node %u: elected primary in epoch %llu (term %llu); fencing the devices",
                     m->addr, (unsigned long long)a->epoch,
                     (unsigned long long)node_epoch_term(a->epoch));
            changed = true;
            m->h.fence(m->h.arg, a->epoch);
            break;
        case NODE_ACT_ACTIVE:
            log_info("node %u: primary in epoch %llu, devices fenced", m->addr,
                     (unsigned long long)a->epoch);
            changed = true;
            m->h.active(m->h.arg, a->epoch);
            break;
        case NODE_ACT_DEMOTED:
            log_warnx("node %u: DEMOTED: %s", m->addr, a->why);
            changed = true;
            m->h.demoted(m->h.arg, a->why);
            break;
        case NODE_ACT_PRIMARY_IS:
            log_info("node %u: the primary is node %u (epoch %llu)", m->addr, a->addr,
                     (unsigned long long)a->epoch);
            changed = true;
            break;
        case NODE_ACT_PRIMARY_LOST:
            log_warnx("node %u: primary node %u lost", m->addr, a->addr);
            changed = true;
            break;
        case NODE_ACT_APPLY: {
            bool snap = a->apply_kind == NODE_APPLY_SNAPSHOT;
            if (m->h.apply(m->h.arg, snap, a->log_epoch, a->index, a->payload, a->len) == 0) {
                struct node_out o = {0};
                node_applied(m->node, a->index, mono_ns(), &o);
                process(m, &o);
                node_out_free(&o);
            }
            break;
        }
        case NODE_ACT_COMMITTED:
            m->h.committed(m->h.arg, a->index);
            break;
        case NODE_ACT_SNAPSHOT_WANTED: {
            size_t len = 0;
            char *snap = m->h.snapshot(m->h.arg, &len);
            if (!snap || len > (size_t)NODE_MAX_PAYLOAD) {
                snprintf(err, sizeof(err), "%s",
                         snap ? "too large for a datagram" : "out of memory");
                log_warnx("node %u: no snapshot for node %u: %s", m->addr, a->addr, err);
                free(snap);
                break;
            }
            struct node_out o = {0};
            node_snapshot(m->node, a->addr, snap, len, mono_ns(), &o);
            process(m, &o);
            node_out_free(&o);
            free(snap);
            break;
        }
        case NODE_ACT_PEER_DEAD:
            log_warnx("node %u: peer %u is dead", m->addr, a->addr);
            changed = true;
            break;
        case NODE_ACT_PEER_ALIVE:
            log_info("node %u: peer %u is alive", m->addr, a->addr);
            changed = true;
            break;
        }
    }
    if (out->oom)
        log_warnx("node %u: out of memory: messages or actions were lost (as a lossy network "
                  "would)",
                  m->addr);
    persist(m);
    arm(m);
    if (changed && m->h.changed)
        m->h.changed(m->h.arg);
}

static void on_timer(uv_timer_t *t)
{
    struct member *m = t->data;
    struct node_out o = {0};
    node_tick(m->node, mono_ns(), &o);
    process(m, &o);
    node_out_free(&o);
}

static void on_receive(void *arg, const struct rackbus_msg *msg, int64_t now)
{
    struct member *m = arg;
    if (msg->type == RACKBUS_FORWARD || msg->type == RACKBUS_ANSWER) {
        if (m->h.relayed) /* forwarding is not the node's */
            m->h.relayed(m->h.arg, msg, now);
        return;
    }
    struct node_out o = {0};
    node_receive(m->node, msg, now, &o);
    process(m, &o);
    node_out_free(&o);
}

struct member *member_start(uv_loop_t *loop, const struct rackfile_node *c, struct store *store,
                            const struct member_hooks *hooks, char *err, size_t errlen)
{
    struct member *m = calloc(1, sizeof(*m));
    struct rackbus_key *key = calloc(1, sizeof(*key));
    char why[300];
    if (!m || !key) {
        free(m);
        free(key);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->store = store;
    m->h = *hooks;
    m->addr = (uint8_t)c->address;
    if (rackkey_load(c->key_file, key, why, sizeof(why))) {
        snprintf(err, errlen, "node: key_file: %s", why);
        goto fail;
    }
    struct store_node sn;
    if (store_node_get(store, &sn, why, sizeof(why))) {
        snprintf(err, errlen, "node: its position cannot be read: %s", why);
        goto fail;
    }
    m->saved =
        (struct node_disk){.max_epoch = sn.max_epoch, .log_epoch = sn.log_epoch, .index = sn.index};
    struct node_conf nc = {
        .addr = (uint8_t)c->address,
        .npeers = c->npeers,
        .heartbeat_ns = c->heartbeat_ns,
        .missed = c->missed,
    };
    for (size_t i = 0; i < c->npeers; i++)
        nc.peers[i] = (uint8_t)c->peers[i].address;
    /* so that the secondaries of a lost primary do not all stand at once */
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)mono_ns();
    nc.jitter_ns = (int64_t)(r % (uint32_t)(c->heartbeat_ns / 1000 + 1)) * 1000;
    if (node_conf_check(&nc, why, sizeof(why))) {
        snprintf(err, errlen, "node: %s", why);
        goto fail;
    }
    int64_t now = mono_ns();
    if (!(m->node = node_new(&nc, &m->saved, now))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(m->io = node_io_start(loop, c, key, on_receive, m, err, errlen)))
        goto fail;
    rackbus_key_wipe(key);
    free(key);
    key = NULL;
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    m->timer_open = true;
    char text[80];
    rackfile_udp_text(&c->listen, text, sizeof(text));
    log_info("node %u: on the rack bus at %s with %zu peers; epoch seen %llu, ledger at "
             "(%llu, %llu); asking who is primary",
             m->addr, text, c->npeers, (unsigned long long)m->saved.max_epoch,
             (unsigned long long)m->saved.log_epoch, (unsigned long long)m->saved.index);
    struct node_out o = {0};
    node_start(m->node, now, &o);
    process(m, &o);
    node_out_free(&o);
    return m;
fail:
    if (key) {
        rackbus_key_wipe(key);
        free(key);
    }
    member_stop(m);
    return NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void member_stop(struct member *m)
{
    if (!m)
        return;
    node_io_stop(m->io);
    node_free(m->node);
    m->io = NULL;
    m->node = NULL;
    if (m->timer_open) /* freed once the timer's handle has closed */
        uv_close((uv_handle_t *)&m->timer, on_timer_closed);
    else
        free(m);
}

uint64_t member_append(struct member *m, const void *payload, size_t len)
{
    struct node_out o = {0};
    uint64_t index = node_append(m->node, payload, len, mono_ns(), &o);
    process(m, &o);
    node_out_free(&o);
    return index;
}

void member_fenced(struct member *m, bool ok, uint64_t device_epoch)
{
    struct node_out o = {0};
    node_fenced(m->node, ok, device_epoch, mono_ns(), &o);
    process(m, &o);
    node_out_free(&o);
}

void member_unfit(struct member *m, const char *why)
{
    struct node_out o = {0};
    node_unfit(m->node, why, mono_ns(), &o);
    process(m, &o);
    node_out_free(&o);
}

void member_fit(struct member *m)
{
    struct node_out o = {0};
    node_fit(m->node, mono_ns(), &o);
    process(m, &o);
    node_out_free(&o);
}

void member_epoch_seen(struct member *m, uint64_t epoch)
{
    struct node_out o = {0};
    node_epoch_seen(m->node, epoch, mono_ns(), &o);
    process(m, &o);
    node_out_free(&o);
}

bool member_active(const struct member *m)
{
    return m && m->node && node_active(m->node);
}

uint8_t member_primary(const struct member *m)
{
    return m && node_role(m->node) == NODE_SECONDARY ? node_primary(m->node) : 0;
}

int member_send(struct member *m, uint8_t to, const struct rackbus_msg *msg, char *err,
                size_t errlen)
{
    return node_io_send(m->io, to, msg, err, errlen);
}

uint64_t member_epoch(const struct member *m)
{
    return m && m->node ? node_epoch(m->node) : 0;
}

size_t member_max_payload(void)
{
    return NODE_MAX_PAYLOAD;
}

static const char *peer_state(enum node_peer_state s)
{
    switch (s) {
    case NODE_PEER_ALIVE:
    case NODE_PEER_CATCHING: /* it answers; the primary brings it up to date */
        return "alive";
    case NODE_PEER_DEAD:
        return "dead";
    default:
        return "unknown";
    }
}

void member_view(const struct member *m, struct member_view *v)
{
    memset(v, 0, sizeof(*v));
    v->role = node_role_name(node_role(m->node));
    v->node = m->addr;
    v->epoch = node_epoch(m->node);
    v->primary = node_primary(m->node);
    v->active = node_active(m->node);
    int64_t now = mono_ns();
    double wall = wall_now();
    size_t n = node_npeers(m->node);
    for (size_t i = 0; i < n && i < MEMBER_VIEW_PEERS; i++) {
        struct node_peer_view p = node_peer(m->node, i);
        struct member_peer_view *o = &v->peers[v->npeers++];
        o->node = p.addr;
        o->state = peer_state(p.state);
        o->last_heard = p.last_heard_ns < 0 ? 0 : wall - (double)(now - p.last_heard_ns) / 1e9;
    }
    node_io_counters(m->io, &v->bus);
}
