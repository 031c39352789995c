/*
 * test_node.c - one test per behaviour of the node state machine (node.h):
 * 1 to 5 controllers driven by hand through a tiny message pump. Every
 * message is encoded and decoded by the real rack bus code (rackbus.c), and
 * the devices' fence is one owner-epoch register shared by all: a fence
 * with a lower epoch than it holds is refused, as the simulated devices do.
 * Each controller's owner keeps its ledger as a string: every entry applied
 * is appended to it, a snapshot replaces it, so that two ledgers compare
 * with strcmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node.h"
#include "rackbus.h"

#define MS 1000000LL
#define HB (100 * MS)
#define MAXN 5
#define STATE_BYTES 65536

struct owner {
    struct node *n;
    bool up;
    struct node_out out;
    struct node_disk disk;
    uint64_t boot, seq;
    char state[STATE_BYTES];
    uint64_t committed;
    int fences, actives, demoted, snapshots_wanted, primary_lost, peer_dead, peer_alive;
    int applied_snapshots;
    int fail_applies; /* the next so many APPLYs fail (a journal write failed) */
    char why[NODE_WHY_LEN];
};

struct dgram {
    uint8_t from, to;
    size_t len;
    uint8_t *buf;
};

struct net {
    int nn;
    struct owner o[MAXN + 1];     /* by address, 1..nn */
    bool cut[MAXN + 1][MAXN + 1]; /* [from][to]: dropped */
    int64_t now;
    uint64_t device_epoch; /* the devices' owner-epoch register */
    struct dgram *q;
    size_t nq, qcap, qhead;
    bool hold; /* keep datagrams queued: the test delivers them one by one */
    bool fence_fails;
    int primaries_max; /* the most primaries of one epoch seen at once (must stay 1) */
    struct rackbus_key key;
};

static struct net *net;

static struct node_conf conf_of(int addr, int nn)
{
    struct node_conf c;
    memset(&c, 0, sizeof(c));
    c.addr = (uint8_t)addr;
    for (int a = 1; a <= nn; a++)
        if (a != addr)
            c.peers[c.npeers++] = (uint8_t)a;
    c.heartbeat_ns = HB;
    c.missed = 3;
    c.query_ns = 2 * HB;
    return c;
}

static void flush(int addr);

static void enqueue(uint8_t from, uint8_t to, const uint8_t *buf, size_t len)
{
    if (net->cut[from][to] || !net->o[to].up)
        return;
    if (net->nq == net->qcap) {
        net->qcap = net->qcap ? 2 * net->qcap : 64;
        net->q = realloc(net->q, net->qcap * sizeof(*net->q));
        assert_non_null(net->q);
    }
    struct dgram *d = &net->q[net->nq++];
    d->from = from;
    d->to = to;
    d->len = len;
    d->buf = malloc(len);
    assert_non_null(d->buf);
    memcpy(d->buf, buf, len);
}

static uint8_t wire[RACKBUS_MAX_DATAGRAM];

/* Sends what the node put out, then carries out its actions as an owner
 * would, until nothing more comes out. */
static void flush(int addr)
{
    struct owner *w = &net->o[addr];
    for (;;) {
        struct node_out *out = &w->out;
        assert_false(out->oom);
        for (size_t i = 0; i < out->nmsgs; i++) {
            struct rackbus_msg m = out->msgs[i].m;
            m.boot_id = w->boot;
            m.seq = ++w->seq;
            size_t len;
            char err[128];
            if (rackbus_encode(&m, &net->key, wire, sizeof(wire), &len, err, sizeof(err)) != 0)
                fail_msg("encode: %s", err);
            for (int to = 1; to <= net->nn; to++)
                if (to != addr && (out->msgs[i].to == 0 || out->msgs[i].to == to))
                    enqueue((uint8_t)addr, (uint8_t)to, wire, len);
        }
        size_t nacts = out->nacts;
        if (nacts == 0) {
            node_out_clear(out);
            break;
        }
        struct node_action *acts = malloc(nacts * sizeof(*acts));
        assert_non_null(acts);
        memcpy(acts, out->acts, nacts * sizeof(acts[0]));
        /* payloads first: they are valid until the next call into the node */
        bool *failed = calloc(nacts, sizeof(*failed));
        assert_non_null(failed);
        for (size_t i = 0; i < nacts; i++) {
            struct node_action *a = &acts[i];
            if (a->kind != NODE_ACT_APPLY)
                continue;
            if (w->fail_applies > 0) {
                w->fail_applies--;
                failed[i] = true;
                continue;
            }
            if (a->apply_kind == NODE_APPLY_SNAPSHOT) {
                w->state[0] = 0;
                w->applied_snapshots++;
            }
            size_t have = strlen(w->state);
            assert_true(have + a->len < STATE_BYTES);
            memcpy(w->state + have, a->payload, a->len);
            w->state[have + a->len] = 0;
        }
        node_out_clear(out);
        for (size_t i = 0; i < nacts; i++) {
            struct node_action *a = &acts[i];
            switch (a->kind) {
            case NODE_ACT_FENCE:
                w->fences++;
                w->disk = node_disk(w->n); /* durable before fencing */
                if (!net->fence_fails && a->epoch >= net->device_epoch) {
                    uint64_t before = net->device_epoch;
                    net->device_epoch = a->epoch;
                    node_fenced(w->n, true, before, net->now, out);
                } else {
                    node_fenced(w->n, false, net->device_epoch, net->now, out);
                }
                break;
            case NODE_ACT_ACTIVE:
                w->actives++;
                break;
            case NODE_ACT_DEMOTED:
                w->demoted++;
                snprintf(w->why, sizeof(w->why), "%s", a->why);
                break;
            case NODE_ACT_APPLY:
                if (!failed[i])
                    node_applied(w->n, a->index, net->now, out);
                break;
            case NODE_ACT_COMMITTED:
                assert_true(a->index >= w->committed);
                w->committed = a->index;
                break;
            case NODE_ACT_SNAPSHOT_WANTED:
                w->snapshots_wanted++;
                node_snapshot(w->n, a->addr, w->state, strlen(w->state), net->now, out);
                break;
            case NODE_ACT_PRIMARY_LOST:
                w->primary_lost++;
                break;
            case NODE_ACT_PEER_DEAD:
                w->peer_dead++;
                break;
            case NODE_ACT_PEER_ALIVE:
                w->peer_alive++;
                break;
            case NODE_ACT_PRIMARY_IS:
                break;
            }
        }
        free(acts);
        free(failed);
    }
    w->disk = node_disk(w->n);
}

/* No two controllers primary in the same epoch, ever. */
static void check_one_primary_per_epoch(void)
{
    for (int a = 1; a <= net->nn; a++)
        for (int b = a + 1; b <= net->nn; b++) {
            struct owner *x = &net->o[a], *y = &net->o[b];
            if (x->up && y->up && node_role(x->n) == NODE_PRIMARY &&
                node_role(y->n) == NODE_PRIMARY)
                assert_int_not_equal(node_epoch(x->n), node_epoch(y->n));
        }
}

static bool deliver_one(void)
{
    if (net->qhead == net->nq) {
        net->qhead = net->nq = 0;
        return false;
    }
    struct dgram d = net->q[net->qhead++];
    struct owner *w = &net->o[d.to];
    if (w->up) {
        struct rackbus_msg m;
        char err[128];
        if (rackbus_decode(d.buf, d.len, &net->key, &m, err, sizeof(err)) != 0)
            fail_msg("decode: %s", err);
        node_receive(w->n, &m, net->now, &w->out);
        flush(d.to);
        check_one_primary_per_epoch();
    }
    free(d.buf);
    return true;
}

static void deliver_all(void)
{
    while (deliver_one())
        ;
}

/* Runs virtual time to t: messages arrive at once, timers fire in order. */
static void run_to(int64_t t)
{
    for (;;) {
        if (!net->hold)
            deliver_all();
        int64_t d = INT64_MAX;
        for (int a = 1; a <= net->nn; a++)
            if (net->o[a].up && node_next_deadline(net->o[a].n) < d)
                d = node_next_deadline(net->o[a].n);
        if (d > t)
            break;
        if (d > net->now)
            net->now = d;
        for (int a = 1; a <= net->nn; a++) {
            struct owner *w = &net->o[a];
            if (w->up && node_next_deadline(w->n) <= net->now) {
                node_tick(w->n, net->now, &w->out);
                flush(a);
            }
        }
        check_one_primary_per_epoch();
    }
    if (t > net->now)
        net->now = t;
}

static void run_for(int64_t dt)
{
    run_to(net->now + dt);
}

static void start_with(int addr, const struct node_disk *disk)
{
    struct owner *w = &net->o[addr];
    struct node_conf c = conf_of(addr, net->nn);
    w->n = node_new(&c, disk, net->now);
    assert_non_null(w->n);
    w->up = true;
    w->boot = 0x1000u * (uint64_t)addr + w->boot + 1;
    w->seq = 0;
    node_start(w->n, net->now, &w->out);
    flush(addr);
}

static void start(int addr)
{
    start_with(addr, NULL);
}

static void crash(int addr)
{
    struct owner *w = &net->o[addr];
    node_free(w->n);
    w->n = NULL;
    w->up = false;
}

/* A restart keeps the disk (and the ledger with it), or loses both. */
static void restart(int addr, bool with_disk)
{
    struct owner *w = &net->o[addr];
    struct node_disk disk = w->disk;
    if (!with_disk)
        w->state[0] = 0;
    start_with(addr, with_disk ? &disk : NULL);
}

static void cut_both(int a, int b, bool cut)
{
    net->cut[a][b] = net->cut[b][a] = cut;
}

static void isolate(int a, bool cut)
{
    for (int b = 1; b <= net->nn; b++)
        if (b != a)
            cut_both(a, b, cut);
}

static int primary_count(void)
{
    int k = 0;
    for (int a = 1; a <= net->nn; a++)
        if (net->o[a].up && node_role(net->o[a].n) == NODE_PRIMARY)
            k++;
    return k;
}

/* The one primary, or 0. */
static int the_primary(void)
{
    int p = 0;
    for (int a = 1; a <= net->nn; a++)
        if (net->o[a].up && node_role(net->o[a].n) == NODE_PRIMARY) {
            if (p)
                return 0;
            p = a;
        }
    return p;
}

/* The primary appends an entry; its owner keeps it in its ledger. */
static uint64_t propose(int addr, const char *what)
{
    struct owner *w = &net->o[addr];
    uint64_t i = node_append(w->n, what, strlen(what), net->now, &w->out);
    if (i) {
        size_t have = strlen(w->state);
        snprintf(w->state + have, STATE_BYTES - have, "%s", what);
    }
    flush(addr);
    if (!net->hold)
        deliver_all();
    return i;
}

static int setup(void **state)
{
    (void)state;
    net = calloc(1, sizeof(*net));
    if (!net)
        return -1;
    net->key.len = 32;
    for (size_t i = 0; i < net->key.len; i++)
        net->key.bytes[i] = (uint8_t)(i * 13 + 5);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int a = 1; a <= MAXN; a++) {
        node_free(net->o[a].n);
        node_out_free(&net->o[a].out);
    }
    for (size_t i = net->qhead; i < net->nq; i++)
        free(net->q[i].buf);
    free(net->q);
    free(net);
    return 0;
}

static uint64_t epoch_of(uint64_t term, int addr)
{
    return term << 8 | (uint64_t)addr;
}

/* Starts nn controllers at once and lets them elect. */
static int boot(int nn)
{
    net->nn = nn;
    for (int a = 1; a <= nn; a++)
        start(a);
    run_for(5 * HB);
    assert_int_equal(primary_count(), 1);
    return the_primary();
}

/* ---- election ---- */

static void test_lone_controller_promotes_after_query_ns(void **state)
{
    (void)state;
    net->nn = 1;
    start(1);
    run_to(2 * HB - 1);
    assert_int_equal(node_role(net->o[1].n), NODE_SECONDARY);
    assert_int_equal(net->o[1].fences, 0);
    run_to(2 * HB);
    assert_int_equal(node_role(net->o[1].n), NODE_PRIMARY);
    assert_int_equal(net->o[1].fences, 1);
    assert_int_equal(net->o[1].actives, 1);
    assert_true(node_active(net->o[1].n));
    assert_int_equal(node_epoch(net->o[1].n), epoch_of(1, 1));
    assert_int_equal(node_primary(net->o[1].n), 1);
}

static void test_controller_that_hears_no_peer_stands_alone_only_after_alone_ns(void **state)
{
    (void)state;
    net->nn = 3;
    start(2); /* its peers are down (or it is cut off: it cannot tell) */
    run_to(9 * HB - 1);
    assert_int_equal(primary_count(), 0);
    assert_int_equal(net->o[2].fences, 0);
    run_to(10 * HB); /* the first round's end after alone_ns (3 x 3 heartbeats) */
    assert_int_equal(the_primary(), 2);
    assert_int_equal(node_epoch(net->o[2].n), epoch_of(1, 2));
}

static void test_lone_survivor_takes_over_after_alone_ns(void **state)
{
    (void)state;
    int p = boot(3);
    crash(p);
    crash(1);
    run_for(8 * HB); /* 3 heartbeats to lose the primary, then alone */
    assert_int_equal(primary_count(), 0);
    run_for(5 * HB);
    assert_int_equal(the_primary(), 2);
}

static void test_isolated_controller_refused_by_a_device_does_not_stand_alone_again(void **state)
{
    (void)state;
    int p = boot(3);
    isolate(1, true);
    run_for(15 * HB);
    /* it stood alone and fenced the devices; the others still have theirs */
    assert_int_equal(node_role(net->o[1].n), NODE_PRIMARY);
    assert_int_equal(net->device_epoch, node_epoch(net->o[1].n));
    /* the primary's next command is refused: it steps down, and 2 and 3
     * elect one that fences again, higher */
    struct owner *w = &net->o[p];
    node_epoch_seen(w->n, net->device_epoch, net->now, &w->out);
    flush(p);
    run_for(10 * HB);
    int q = node_role(net->o[2].n) == NODE_PRIMARY ? 2 : 3;
    assert_int_equal(node_role(net->o[q].n), NODE_PRIMARY);
    assert_int_equal(primary_count(), 2); /* the lone one does not know yet */
    assert_int_equal(net->device_epoch, node_epoch(net->o[q].n));
    /* so is the lone one's */
    struct owner *l = &net->o[1];
    node_epoch_seen(l->n, net->device_epoch, net->now, &l->out);
    flush(1);
    assert_int_equal(node_role(l->n), NODE_SECONDARY);
    int fences = l->fences;
    run_for(60 * HB);
    assert_int_equal(l->fences, fences);
    assert_int_equal(net->device_epoch, node_epoch(net->o[q].n));
    /* healed: it follows */
    isolate(1, false);
    run_for(5 * HB);
    assert_int_equal(node_primary(l->n), q);
    assert_int_equal(the_primary(), q);
}

static void test_controller_started_later_stays_secondary(void **state)
{
    (void)state;
    net->nn = 3;
    start(1);
    run_for(10 * HB);
    assert_int_equal(the_primary(), 1);
    start(3); /* a higher address, but there is a primary */
    run_for(20 * HB);
    assert_int_equal(the_primary(), 1);
    assert_int_equal(node_role(net->o[3].n), NODE_SECONDARY);
    assert_int_equal(node_primary(net->o[3].n), 1);
    assert_int_equal(node_epoch(net->o[3].n), epoch_of(1, 1));
    assert_int_equal(net->o[3].fences, 0);
    assert_true(node_caught_up(net->o[3].n));
}

static void test_simultaneous_start_elects_highest_address_among_equals(void **state)
{
    (void)state;
    assert_int_equal(boot(3), 3);
    for (int a = 1; a <= 2; a++) {
        assert_int_equal(node_role(net->o[a].n), NODE_SECONDARY);
        assert_int_equal(node_primary(net->o[a].n), 3);
        assert_int_equal(net->o[a].fences, 0);
    }
    assert_int_equal(net->o[3].fences, 1);
}

static void test_simultaneous_start_elects_the_most_advanced_ledger(void **state)
{
    (void)state;
    net->nn = 3;
    struct node_disk ahead = {epoch_of(4, 3), epoch_of(4, 3), 7};
    struct node_disk behind = {epoch_of(5, 2), epoch_of(4, 3), 6};
    strcpy(net->o[1].state, "seven");
    start_with(1, &ahead);
    start_with(2, &behind);
    start(3);
    run_for(5 * HB);
    assert_int_equal(the_primary(), 1);
    /* the new epoch is above every epoch seen, node 2's disk included */
    assert_int_equal(node_epoch(net->o[1].n), epoch_of(6, 1));
    run_for(5 * HB);
    /* the others hold the leader's ledger, by snapshot: they lack entry 7's
     * payload and node 2's entry 6 may not be the leader's */
    assert_string_equal(net->o[2].state, "seven");
    assert_string_equal(net->o[3].state, "seven");
    assert_int_equal(node_last(net->o[3].n), 7);
}

static void test_heartbeats_keep_the_primary(void **state)
{
    (void)state;
    int p = boot(3);
    uint64_t e = node_epoch(net->o[p].n);
    run_for(600 * HB);
    assert_int_equal(the_primary(), p);
    assert_int_equal(node_epoch(net->o[p].n), e);
    for (int a = 1; a <= 3; a++) {
        assert_int_equal(net->o[a].primary_lost, 0);
        assert_int_equal(net->o[a].fences, a == p ? 1 : 0);
        assert_int_equal(node_epoch(net->o[a].n), e);
    }
}

static void test_missed_heartbeats_elect_another_with_a_higher_epoch(void **state)
{
    (void)state;
    int p = boot(3);
    uint64_t e = node_epoch(net->o[p].n);
    int64_t killed = net->now;
    crash(p);
    run_for(3 * HB - 1);
    assert_int_equal(primary_count(), 0);
    int64_t t = killed;
    while (primary_count() == 0 && t < killed + 20 * HB) {
        t += MS;
        run_to(t);
    }
    assert_int_equal(the_primary(), 2);
    assert_true(node_epoch(net->o[2].n) > e);
    assert_int_equal(node_epoch(net->o[2].n), epoch_of(node_epoch_term(e) + 1, 2));
    /* lost after 3 missed heartbeats, elected at once: every live peer answered */
    assert_true(t - killed <= 4 * HB);
    run_for(5 * HB);
    assert_int_equal(node_primary(net->o[1].n), 2);
    assert_int_equal(net->o[1].fences, 0);
}

static void test_old_primary_steps_down_on_hearing_a_higher_epoch(void **state)
{
    (void)state;
    int p = boot(3);
    isolate(p, true);
    run_for(10 * HB);
    /* two primaries for a moment, in two epochs: the devices obey the higher */
    assert_int_equal(node_role(net->o[3].n), NODE_PRIMARY);
    assert_int_equal(node_role(net->o[2].n), NODE_PRIMARY);
    assert_true(net->device_epoch == node_epoch(net->o[2].n));
    isolate(p, false);
    run_for(HB);
    assert_int_equal(the_primary(), 2);
    assert_int_equal(net->o[3].demoted, 1);
    assert_non_null(strstr(net->o[3].why, "higher than ours"));
    run_for(5 * HB);
    assert_int_equal(node_primary(net->o[3].n), 2);
    assert_int_equal(node_role(net->o[3].n), NODE_SECONDARY);
}

static void test_epoch_seen_at_a_device_demotes_and_the_next_epoch_is_higher(void **state)
{
    (void)state;
    int p = boot(3);
    struct owner *w = &net->o[p];
    node_epoch_seen(w->n, epoch_of(40, 1), net->now, &w->out);
    flush(p);
    assert_int_equal(w->demoted, 1);
    assert_non_null(strstr(w->why, "refused"));
    assert_int_equal(node_role(w->n), NODE_SECONDARY);
    net->device_epoch = epoch_of(40, 1);
    run_for(20 * HB);
    int q = the_primary();
    assert_true(q != 0);
    assert_true(node_epoch(net->o[q].n) > epoch_of(40, 1));
    assert_int_equal(node_epoch_term(node_epoch(net->o[q].n)), 41);
}

static void test_refused_fence_demotes(void **state)
{
    (void)state;
    net->nn = 1;
    net->device_epoch = epoch_of(9, 7); /* someone we never heard fenced the devices */
    net->fence_fails = true;
    start(1);
    run_to(2 * HB);
    assert_int_equal(net->o[1].fences, 1);
    assert_int_equal(net->o[1].demoted, 1);
    assert_int_equal(net->o[1].actives, 0);
    assert_int_equal(node_role(net->o[1].n), NODE_SECONDARY);
    net->fence_fails = false;
    run_for(3 * HB);
    assert_int_equal(the_primary(), 1);
    assert_int_equal(node_epoch(net->o[1].n), epoch_of(10, 1));
    assert_true(node_active(net->o[1].n));
}

static void test_unfit_primary_steps_down_and_does_not_stand(void **state)
{
    (void)state;
    int p = boot(3);
    struct owner *w = &net->o[p];
    node_unfit(w->n, "its shelf cannot be read", net->now, &w->out);
    flush(p);
    assert_int_equal(w->demoted, 1);
    assert_string_equal(w->why, "its shelf cannot be read");
    run_for(10 * HB);
    assert_int_equal(the_primary(), 2);
    crash(2);
    crash(1);
    run_for(50 * HB); /* alone, and still unfit: nobody */
    assert_int_equal(primary_count(), 0);
    node_fit(w->n, net->now, &w->out);
    flush(p);
    run_for(5 * HB);
    assert_int_equal(the_primary(), 3);
}

static void test_candidates_wait_for_a_more_advanced_unfit_peer_no_longer(void **state)
{
    (void)state;
    int p = boot(3);
    struct owner *w = &net->o[2];
    node_unfit(w->n, "journal write failed", net->now, &w->out);
    flush(2);
    crash(p);
    run_for(10 * HB);
    assert_int_equal(the_primary(), 1);
}

static void test_standing_alone_backs_off_for_each_refusal_in_a_row(void **state)
{
    (void)state;
    net->nn = 3; /* 2 and 3 never heard: cut off, or dead */
    start(1);
    run_to(10 * HB);
    assert_int_equal(the_primary(), 1);
    struct owner *w = &net->o[1];
    run_to(20 * HB);
    net->device_epoch = epoch_of(5, 3); /* the others fenced it out */
    node_epoch_seen(w->n, net->device_epoch, net->now, &w->out);
    flush(1);
    assert_int_equal(node_role(w->n), NODE_SECONDARY);
    run_to(90 * HB - 1); /* 10 x alone_ns of silence */
    assert_int_equal(w->fences, 1);
    run_to(93 * HB);
    assert_int_equal(w->fences, 2);
    assert_int_equal(the_primary(), 1);
    net->device_epoch = epoch_of(9, 3);
    node_epoch_seen(w->n, net->device_epoch, net->now, &w->out);
    flush(1);
    run_to(180 * HB - 1); /* twice that */
    assert_int_equal(w->fences, 2);
    run_to(183 * HB);
    assert_int_equal(w->fences, 3);
    assert_int_equal(node_epoch(w->n), epoch_of(10, 1));
}

/* ---- one-way partitions ---- */

static void test_secondary_that_hears_the_primary_but_is_not_heard_does_not_stand(void **state)
{
    (void)state;
    int p = boot(3);
    net->cut[1][p] = true; /* 3 no longer hears 1 */
    run_for(100 * HB);
    assert_int_equal(the_primary(), p);
    assert_int_equal(net->o[1].fences, 0);
    assert_int_equal(node_role(net->o[1].n), NODE_SECONDARY);
    struct node_peer_view v = node_peer(net->o[p].n, 0);
    assert_int_equal(v.addr, 1);
    assert_int_equal(v.state, NODE_PEER_DEAD);
    /* and it knows it misses what the primary commits without it */
    propose(p, "a");
    run_for(2 * HB);
    assert_int_equal(net->o[p].committed, 1);
    assert_false(node_caught_up(net->o[1].n));
    assert_true(node_caught_up(net->o[2].n));
}

static void test_candidate_does_not_stand_while_a_peer_still_hears_the_primary(void **state)
{
    (void)state;
    int p = boot(3);
    net->cut[p][1] = true; /* 1 no longer hears 3; 2 does */
    run_for(100 * HB);
    assert_int_equal(the_primary(), p);
    assert_int_equal(net->o[1].fences, 0);
    assert_int_equal(node_role(net->o[1].n), NODE_CANDIDATE);
    assert_int_equal(net->device_epoch, node_epoch(net->o[p].n));
}

/* ---- replication ---- */

static void test_append_commits_only_after_every_live_peer_acked(void **state)
{
    (void)state;
    int p = boot(3);
    run_for(HB);
    net->hold = true;
    assert_int_equal(propose(p, "a"), 1);
    assert_int_equal(net->o[p].committed, 0);
    /* the APPENDs to 1 and 2, in that order */
    assert_true(deliver_one());
    assert_int_equal(net->o[p].committed, 0);
    assert_true(deliver_one());
    assert_int_equal(net->o[p].committed, 0);
    assert_true(deliver_one()); /* 1's ACK */
    assert_int_equal(net->o[p].committed, 0);
    assert_true(deliver_one()); /* 2's ACK */
    assert_int_equal(net->o[p].committed, 1);
    net->hold = false;
    deliver_all();
    assert_string_equal(net->o[1].state, "a");
    assert_string_equal(net->o[2].state, "a");
    /* the commit index travels with the next heartbeat */
    run_for(HB);
    assert_int_equal(node_commit(net->o[1].n), 1);
}

static void test_lone_primary_commits_at_once(void **state)
{
    (void)state;
    net->nn = 1;
    start(1);
    run_for(3 * HB);
    assert_int_equal(propose(1, "x"), 1);
    assert_int_equal(net->o[1].committed, 1);
}

static void test_append_refused_until_fenced_and_on_secondaries(void **state)
{
    (void)state;
    int p = boot(3);
    struct owner *w = &net->o[1];
    assert_int_equal(node_append(w->n, "x", 1, net->now, &w->out), 0);
    (void)p;
    net->nn = 3;
    /* a primary waiting for its fence does not append */
    struct node_conf c = conf_of(5, 0);
    struct node *lone = node_new(&c, NULL, 0);
    struct node_out out = {0};
    node_start(lone, 0, &out);
    node_tick(lone, 2 * HB, &out);
    assert_int_equal(node_role(lone), NODE_PRIMARY);
    assert_false(node_active(lone));
    assert_int_equal(node_append(lone, "x", 1, 2 * HB, &out), 0);
    node_fenced(lone, true, 0, 2 * HB, &out);
    assert_int_equal(node_append(lone, "x", 1, 2 * HB, &out), 1);
    node_out_free(&out);
    node_free(lone);
}

static void test_dead_peer_stops_blocking_commit_after_missed_heartbeats(void **state)
{
    (void)state;
    int p = boot(3);
    cut_both(1, p, true);
    assert_int_equal(propose(p, "a"), 1);
    run_for(HB);
    assert_int_equal(net->o[p].committed, 0);
    run_for(3 * HB);
    assert_int_equal(net->o[p].committed, 1);
    assert_int_equal(node_peer(net->o[p].n, 0).state, NODE_PEER_DEAD);
    assert_true(net->o[p].peer_dead >= 1);
}

static void test_dead_peer_comes_back_gets_the_missing_entries_and_is_live_again(void **state)
{
    (void)state;
    int p = boot(3);
    cut_both(1, p, true);
    cut_both(1, 2, true);
    propose(p, "a");
    run_for(4 * HB);
    propose(p, "b");
    propose(p, "c");
    assert_int_equal(net->o[p].committed, 3);
    int alive_before = net->o[p].peer_alive;
    cut_both(1, p, false);
    cut_both(1, 2, false);
    run_for(3 * HB);
    assert_string_equal(net->o[1].state, "abc");
    assert_int_equal(net->o[p].snapshots_wanted, 0); /* the kept entries did */
    assert_int_equal(node_peer(net->o[p].n, 0).state, NODE_PEER_ALIVE);
    assert_int_equal(net->o[p].peer_alive, alive_before + 1);
    /* and it is counted again */
    cut_both(1, p, true);
    propose(p, "d");
    run_for(HB);
    assert_int_equal(net->o[p].committed, 3);
}

static void test_peer_too_far_behind_gets_a_snapshot(void **state)
{
    (void)state;
    int p = boot(3);
    cut_both(1, p, true);
    run_for(4 * HB);
    char e[8];
    for (int i = 0; i < NODE_LOG_KEEP + 10; i++) {
        snprintf(e, sizeof(e), "%c", 'a' + i % 26);
        propose(p, e);
    }
    cut_both(1, p, false);
    run_for(3 * HB);
    assert_true(net->o[p].snapshots_wanted >= 1);
    assert_int_equal(net->o[1].applied_snapshots, 1);
    assert_string_equal(net->o[1].state, net->o[p].state);
    assert_int_equal(node_last(net->o[1].n), NODE_LOG_KEEP + 10);
    assert_int_equal(node_peer(net->o[p].n, 0).state, NODE_PEER_ALIVE);
    propose(p, "z");
    assert_int_equal(net->o[p].committed, NODE_LOG_KEEP + 11);
}

static void test_duplicated_and_reordered_appends_are_harmless(void **state)
{
    (void)state;
    int p = boot(2);
    run_for(HB);
    net->hold = true;
    propose(p, "a");
    propose(p, "b");
    propose(p, "c");
    assert_int_equal(net->nq - net->qhead, 3);
    /* deliver c, b, a, a, c, b: out of order and twice */
    struct dgram d[3];
    memcpy(d, &net->q[net->qhead], sizeof(d));
    net->nq = net->qhead = 0;
    int order[] = {2, 1, 0, 0, 2, 1};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
        enqueue(d[order[k]].from, d[order[k]].to, d[order[k]].buf, d[order[k]].len);
    for (int k = 0; k < 3; k++)
        free(d[k].buf);
    net->hold = false;
    run_for(2 * HB);
    int s = p == 1 ? 2 : 1;
    assert_string_equal(net->o[s].state, "abc");
    assert_int_equal(node_last(net->o[s].n), 3);
    assert_int_equal(net->o[p].committed, 3);
}

static void test_late_snapshot_does_not_roll_a_secondary_back(void **state)
{
    (void)state;
    int p = boot(2);
    int s = p == 1 ? 2 : 1;
    struct owner *w = &net->o[p];
    propose(p, "a");
    net->hold = true;
    node_snapshot(w->n, (uint8_t)s, "a", 1, net->now, &w->out);
    flush(p);
    struct dgram late = net->q[net->qhead];
    net->nq = net->qhead = 0;
    net->hold = false;
    propose(p, "b");
    run_for(HB);
    assert_string_equal(net->o[s].state, "ab");
    enqueue(late.from, late.to, late.buf, late.len);
    free(late.buf);
    run_for(HB);
    assert_string_equal(net->o[s].state, "ab");
    assert_int_equal(node_last(net->o[s].n), 2);
}

static void test_entry_its_owner_could_not_apply_is_given_again(void **state)
{
    (void)state;
    int p = boot(3);
    run_for(HB);
    net->o[1].fail_applies = 1;
    propose(p, "a");
    propose(p, "b"); /* not taken before "a" is applied */
    assert_string_equal(net->o[1].state, "");
    assert_int_equal(net->o[p].committed, 0);
    assert_int_equal(node_disk(net->o[1].n).index, 0);
    run_for(HB); /* resent at the heartbeat, applied this time */
    assert_string_equal(net->o[1].state, "ab");
    assert_int_equal(net->o[p].committed, 2);
    assert_int_equal(node_disk(net->o[1].n).index, 2);
    assert_int_equal(node_peer(net->o[p].n, 0).state, NODE_PEER_ALIVE);
}

static void test_secondary_that_acks_but_cannot_apply_stops_holding_commits_back(void **state)
{
    (void)state;
    int p = boot(3);
    run_for(HB);
    net->o[1].fail_applies = 1000; /* its journal is broken, its network is fine */
    int dead_before = net->o[p].peer_dead;
    propose(p, "a");
    run_for(2 * HB);
    assert_int_equal(net->o[p].committed, 0);
    run_for(2 * HB);
    assert_int_equal(net->o[p].committed, 1);
    assert_int_equal(node_peer(net->o[p].n, 0).state, NODE_PEER_CATCHING);
    assert_int_equal(net->o[p].peer_dead, dead_before + 1);
    propose(p, "b");
    assert_int_equal(net->o[p].committed, 2);
    net->o[1].fail_applies = 0; /* repaired */
    run_for(2 * HB);
    assert_string_equal(net->o[1].state, "ab");
    assert_int_equal(node_peer(net->o[p].n, 0).state, NODE_PEER_ALIVE);
    cut_both(1, p, true);
    propose(p, "c");
    run_for(HB);
    assert_int_equal(net->o[p].committed, 2); /* counted again */
}

static void test_candidates_rank_on_what_their_owner_applied(void **state)
{
    (void)state;
    int p = boot(3);
    run_for(HB);
    net->o[2].fail_applies = 1;
    propose(p, "a"); /* 2 was given it but could not apply it */
    crash(p);
    run_for(10 * HB);
    assert_int_equal(the_primary(), 1); /* not 2, the higher address */
    run_for(2 * HB);
    assert_string_equal(net->o[2].state, "a");
}

static void test_snapshot_its_owner_could_not_apply_is_asked_for_again(void **state)
{
    (void)state;
    int p = boot(3);
    cut_both(1, p, true);
    run_for(4 * HB);
    char e[8];
    for (int i = 0; i < NODE_LOG_KEEP + 4; i++) {
        snprintf(e, sizeof(e), "%c", 'a' + i % 26);
        propose(p, e);
    }
    net->o[1].fail_applies = 1;
    cut_both(1, p, false);
    run_for(2 * HB);
    assert_int_equal(net->o[1].applied_snapshots, 1);
    assert_string_equal(net->o[1].state, net->o[p].state);
    assert_true(net->o[p].snapshots_wanted >= 2);
    assert_int_equal(node_disk(net->o[1].n).index, NODE_LOG_KEEP + 4);
}

/* ---- catch-up and restarts ---- */

static void test_restarted_controller_without_disk_does_not_outrank_a_caught_up_one(void **state)
{
    (void)state;
    int p = boot(3);
    propose(p, "a");
    propose(p, "b");
    run_for(HB);
    crash(p);
    crash(1);
    restart(1, false);
    run_for(10 * HB);
    assert_int_equal(the_primary(), 2);
    run_for(3 * HB);
    assert_string_equal(net->o[1].state, "ab");
    assert_true(node_caught_up(net->o[1].n));
}

static void test_old_primary_restarted_with_disk_stays_secondary_and_catches_up(void **state)
{
    (void)state;
    int p = boot(3);
    propose(p, "a");
    run_for(HB);
    /* an entry the others never got */
    cut_both(p, 1, true);
    cut_both(p, 2, true);
    propose(p, "X");
    crash(p);
    cut_both(p, 1, false);
    cut_both(p, 2, false);
    run_for(10 * HB);
    int q = the_primary();
    assert_int_equal(q, 2);
    propose(q, "b");
    restart(p, true);
    assert_int_equal(node_last(net->o[p].n), 2);
    run_for(10 * HB);
    assert_int_equal(the_primary(), q);
    assert_int_equal(node_role(net->o[p].n), NODE_SECONDARY);
    /* its unreplicated X is replaced by the primary's ledger */
    assert_string_equal(net->o[p].state, "ab");
    assert_true(node_caught_up(net->o[p].n));
    assert_int_equal(net->o[p].fences, 1); /* the first life's only */
}

static void test_secondary_declared_dead_is_not_caught_up_and_loses_to_one_that_is(void **state)
{
    (void)state;
    int p = boot(3);
    cut_both(1, p, true); /* 2 still hears the primary: 1 does not stand */
    run_for(4 * HB);
    assert_int_equal(node_role(net->o[1].n), NODE_CANDIDATE);
    propose(p, "a"); /* committed without 1 */
    run_for(HB);
    assert_int_equal(net->o[p].committed, 1);
    crash(p);
    run_for(10 * HB);
    /* 1 (address lower, ledger behind) does not stand: 2 holds the grant */
    assert_int_equal(the_primary(), 2);
    run_for(3 * HB);
    assert_string_equal(net->o[1].state, "a");
}

static void test_peer_views(void **state)
{
    (void)state;
    int p = boot(3);
    run_for(HB);
    for (size_t i = 0; i < node_npeers(net->o[p].n); i++) {
        struct node_peer_view v = node_peer(net->o[p].n, i);
        assert_int_equal(v.state, NODE_PEER_ALIVE);
        assert_true(v.last_heard_ns > net->now - 2 * HB);
    }
    crash(1);
    run_for(5 * HB);
    assert_int_equal(node_peer(net->o[p].n, 0).state, NODE_PEER_DEAD);
    assert_int_equal(node_peer(net->o[2].n, 0).state, NODE_PEER_DEAD);
    assert_int_equal(node_peer(net->o[2].n, 1).state, NODE_PEER_ALIVE);
    assert_string_equal(node_peer_state_name(NODE_PEER_DEAD), "dead");
    assert_string_equal(node_role_name(node_role(net->o[p].n)), "primary");
}

static void test_bad_conf_is_refused_with_a_reason(void **state)
{
    (void)state;
    char err[128];
    struct node_conf c = conf_of(0, 3);
    assert_int_equal(node_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "address 0"));
    assert_null(node_new(&c, NULL, 0));
    c = conf_of(2, 3);
    c.peers[1] = 2;
    assert_int_equal(node_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "peer 2"));
    c = conf_of(2, 3);
    c.peers[1] = c.peers[0];
    assert_int_equal(node_conf_check(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "twice"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_lone_controller_promotes_after_query_ns),
        T(test_controller_that_hears_no_peer_stands_alone_only_after_alone_ns),
        T(test_lone_survivor_takes_over_after_alone_ns),
        T(test_isolated_controller_refused_by_a_device_does_not_stand_alone_again),
        T(test_standing_alone_backs_off_for_each_refusal_in_a_row),
        T(test_controller_started_later_stays_secondary),
        T(test_simultaneous_start_elects_highest_address_among_equals),
        T(test_simultaneous_start_elects_the_most_advanced_ledger),
        T(test_heartbeats_keep_the_primary),
        T(test_missed_heartbeats_elect_another_with_a_higher_epoch),
        T(test_old_primary_steps_down_on_hearing_a_higher_epoch),
        T(test_epoch_seen_at_a_device_demotes_and_the_next_epoch_is_higher),
        T(test_refused_fence_demotes),
        T(test_unfit_primary_steps_down_and_does_not_stand),
        T(test_candidates_wait_for_a_more_advanced_unfit_peer_no_longer),
        T(test_secondary_that_hears_the_primary_but_is_not_heard_does_not_stand),
        T(test_candidate_does_not_stand_while_a_peer_still_hears_the_primary),
        T(test_append_commits_only_after_every_live_peer_acked),
        T(test_lone_primary_commits_at_once),
        T(test_append_refused_until_fenced_and_on_secondaries),
        T(test_dead_peer_stops_blocking_commit_after_missed_heartbeats),
        T(test_dead_peer_comes_back_gets_the_missing_entries_and_is_live_again),
        T(test_peer_too_far_behind_gets_a_snapshot),
        T(test_duplicated_and_reordered_appends_are_harmless),
        T(test_late_snapshot_does_not_roll_a_secondary_back),
        T(test_entry_its_owner_could_not_apply_is_given_again),
        T(test_snapshot_its_owner_could_not_apply_is_asked_for_again),
        T(test_candidates_rank_on_what_their_owner_applied),
        T(test_secondary_that_acks_but_cannot_apply_stops_holding_commits_back),
        T(test_restarted_controller_without_disk_does_not_outrank_a_caught_up_one),
        T(test_old_primary_restarted_with_disk_stays_secondary_and_catches_up),
        T(test_secondary_declared_dead_is_not_caught_up_and_loses_to_one_that_is),
        T(test_peer_views),
        T(test_bad_conf_is_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
