/*
 * cluster_net.c - the virtual network (cluster_net.h): a binary heap of
 * datagrams ordered by delivery time, then send order.
 */
#include "cluster_net.h"

#include <stdlib.h>
#include <string.h>

#include "splitmix.h"

/* Datagrams up to SLOT bytes live in reused blocks: a seed sends tens of
 * thousands, and malloc per datagram was a tenth of the run. */
#define SLOT 1024

struct cnet {
    struct cnet_dgram *free_list[256];
    size_t nfree;
    struct cnet_dgram **heap;
    size_t n, cap;
    uint64_t order;
    struct cnet_conf conf;
    bool blocked[CNET_MAX_NODES][CNET_MAX_NODES];
    struct cnet_stats st;
};

struct cnet *cnet_new(void)
{
    return calloc(1, sizeof(struct cnet));
}

void cnet_release(struct cnet *n, struct cnet_dgram *d)
{
    if (d && d->len <= SLOT && n->nfree < sizeof(n->free_list) / sizeof(n->free_list[0]))
        n->free_list[n->nfree++] = d;
    else
        free(d);
}

void cnet_reset(struct cnet *n)
{
    for (size_t i = 0; i < n->n; i++)
        cnet_release(n, n->heap[i]);
    n->n = 0;
    n->order = 0;
    memset(&n->st, 0, sizeof(n->st));
    memset(&n->conf, 0, sizeof(n->conf));
    cnet_heal(n);
}

void cnet_free(struct cnet *n)
{
    if (!n)
        return;
    cnet_reset(n);
    for (size_t i = 0; i < n->nfree; i++)
        free(n->free_list[i]);
    free(n->heap);
    free(n);
}

void cnet_configure(struct cnet *n, const struct cnet_conf *c)
{
    n->conf = *c;
}

static bool in_range(int i)
{
    return i >= 0 && i < CNET_MAX_NODES;
}

void cnet_block(struct cnet *n, int from, int to, bool blocked)
{
    if (in_range(from) && in_range(to))
        n->blocked[from][to] = blocked;
}

bool cnet_blocked(const struct cnet *n, int from, int to)
{
    return in_range(from) && in_range(to) && n->blocked[from][to];
}

void cnet_heal(struct cnet *n)
{
    memset(n->blocked, 0, sizeof(n->blocked));
}

static bool before(const struct cnet_dgram *a, const struct cnet_dgram *b)
{
    return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static int push(struct cnet *n, struct cnet_dgram *d)
{
    if (n->n == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 256;
        struct cnet_dgram **h = realloc(n->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        n->heap = h;
        n->cap = cap;
    }
    size_t i = n->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(d, n->heap[p]))
            break;
        n->heap[i] = n->heap[p];
        i = p;
    }
    n->heap[i] = d;
    return 0;
}

static struct cnet_dgram *pop_top(struct cnet *n)
{
    struct cnet_dgram *top = n->heap[0];
    struct cnet_dgram *last = n->heap[--n->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct cnet_dgram *best = last;
        if (l < n->n && before(n->heap[l], best)) {
            m = l;
            best = n->heap[l];
        }
        if (r < n->n && before(n->heap[r], best))
            m = r;
        if (m == i)
            break;
        n->heap[i] = n->heap[m];
        i = m;
    }
    if (n->n)
        n->heap[i] = last;
    return top;
}

static int enqueue(struct cnet *n, int64_t at, int from, int to, const uint8_t *buf, size_t len,
                   enum cnet_kind kind)
{
    struct cnet_dgram *d;
    if (len <= SLOT && n->nfree)
        d = n->free_list[--n->nfree];
    else
        d = malloc(sizeof(*d) + (len <= SLOT ? SLOT : len));
    if (!d)
        return -1;
    d->at = at;
    d->order = n->order++;
    d->from = from;
    d->to = to;
    d->kind = kind;
    d->len = len;
    memcpy(d->buf, buf, len);
    if (push(n, d)) {
        cnet_release(n, d);
        return -1;
    }
    return 0;
}

static int64_t delay(struct cnet *n, uint64_t *rng)
{
    int64_t j = n->conf.delay_jitter_ns;
    return n->conf.delay_min_ns + (j > 0 ? (int64_t)(splitmix64_next(rng) % (uint64_t)j) : 0);
}

int cnet_send(struct cnet *n, uint64_t *rng, int64_t now, int from, int to, const uint8_t *buf,
              size_t len, enum cnet_kind kind)
{
    n->st.sent++;
    if (from < 0) /* the attacker's: no fault of ours, only the wire's time */
        return enqueue(n, now + n->conf.delay_min_ns, from, to, buf, len, kind);
    if (cnet_blocked(n, from, to)) {
        n->st.partitioned++;
        return 0;
    }
    if (n->conf.loss > 0 && splitmix64_unit(rng) < n->conf.loss) {
        n->st.lost++;
        return 0;
    }
    if (enqueue(n, now + delay(n, rng), from, to, buf, len, kind))
        return -1;
    if (n->conf.dup > 0 && splitmix64_unit(rng) < n->conf.dup) {
        n->st.duplicated++;
        return enqueue(n, now + delay(n, rng), from, to, buf, len, CNET_DUP);
    }
    return 0;
}

int64_t cnet_next(const struct cnet *n)
{
    return n->n ? n->heap[0]->at : INT64_MAX;
}

struct cnet_dgram *cnet_pop(struct cnet *n, int64_t now)
{
    while (n->n && n->heap[0]->at <= now) {
        struct cnet_dgram *d = pop_top(n);
        if (d->from >= 0 && cnet_blocked(n, d->from, d->to)) {
            n->st.partitioned++;
            cnet_release(n, d);
            continue;
        }
        n->st.delivered++;
        return d;
    }
    return NULL;
}

struct cnet_stats cnet_stats(const struct cnet *n)
{
    return n->st;
}
