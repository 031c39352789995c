/*
 * hub.c - snapshot, event notification and commands between threads.
 *
 * One mutex guards everything here; one condition variable (on the
 * monotonic clock) wakes event streams and threads waiting for answers.
 * Nothing blocks while holding the mutex.
 */
#include "hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hub {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct hub_snap *snap;
    int64_t last_id;
    struct hub_cmd *head, *tail;
    bool shutdown;
    void (*wake)(void *arg);
    void *arg;
};

long hub_list_find(const struct hub_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->ids[i], id))
            return (long)i;
    return -1;
}

static void list_free(struct hub_list *l)
{
    for (size_t i = 0; l->json && i < l->n; i++)
        free(l->json[i]);
    free(l->json);
    free(l->ids);
    free(l->all);
}

void hub_snap_free(struct hub_snap *s)
{
    if (!s)
        return;
    free(s->status);
    list_free(&s->servers);
    list_free(&s->psus);
    list_free(&s->buses);
    free(s);
}

struct hub *hub_new(void (*wake)(void *arg), void *arg)
{
    struct hub *h = calloc(1, sizeof(*h));
    pthread_condattr_t ca;
    if (!h)
        return NULL;
    h->wake = wake;
    h->arg = arg;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    return h;
}

void hub_free(struct hub *h)
{
    if (!h)
        return;
    hub_snap_free(h->snap);
    for (struct hub_cmd *c = h->head, *next; c; c = next) {
        next = c->next;
        free(c->body);
        free(c);
    }
    pthread_cond_destroy(&h->cond);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void hub_publish(struct hub *h, struct hub_snap *s)
{
    s->refs = 1;
    pthread_mutex_lock(&h->mu);
    struct hub_snap *old = h->snap;
    h->snap = s;
    bool last = old && --old->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last)
        hub_snap_free(old);
}

struct hub_snap *hub_snap_get(struct hub *h)
{
    pthread_mutex_lock(&h->mu);
    struct hub_snap *s = h->snap;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&h->mu);
    return s;
}

void hub_snap_put(struct hub *h, struct hub_snap *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&h->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last)
        hub_snap_free(s);
}

void hub_notify(struct hub *h, int64_t last_id)
{
    pthread_mutex_lock(&h->mu);
    if (last_id > h->last_id)
        h->last_id = last_id;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
}

static struct timespec deadline(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int64_t hub_wait_event(struct hub *h, int64_t after, int timeout_ms)
{
    struct timespec until = deadline(timeout_ms);
    pthread_mutex_lock(&h->mu);
    int rc = 0;
    while (!h->shutdown && h->last_id <= after && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&h->cond, &h->mu, &until);
    int64_t id = h->shutdown ? -1 : h->last_id;
    pthread_mutex_unlock(&h->mu);
    return id;
}

struct hub_cmd *hub_cmd_new(enum hub_cmd_kind kind, const char *id, const char *note)
{
    struct hub_cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->kind = kind;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->note, sizeof(c->note), "%s", note ? note : "");
    c->refs = 1;
    return c;
}

void hub_cmd_put(struct hub *h, struct hub_cmd *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&h->mu);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last) {
        free(c->body);
        free(c);
    }
}

int hub_submit(struct hub *h, struct hub_cmd *c, int timeout_ms)
{
    struct timespec until = deadline(timeout_ms);
    pthread_mutex_lock(&h->mu);
    if (h->shutdown) {
        pthread_mutex_unlock(&h->mu);
        return -1;
    }
    c->refs++; /* the hub's, dropped by hub_answer */
    c->next = NULL;
    if (h->tail)
        h->tail->next = c;
    else
        h->head = c;
    h->tail = c;
    pthread_mutex_unlock(&h->mu);
    h->wake(h->arg);

    pthread_mutex_lock(&h->mu);
    int rc = 0;
    while (!c->done && !h->shutdown && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&h->cond, &h->mu, &until);
    bool done = c->done;
    pthread_mutex_unlock(&h->mu);
    return done ? 0 : -1;
}

struct hub_cmd *hub_take(struct hub *h)
{
    pthread_mutex_lock(&h->mu);
    struct hub_cmd *c = h->head;
    h->head = h->tail = NULL;
    pthread_mutex_unlock(&h->mu);
    return c;
}

void hub_answer(struct hub *h, struct hub_cmd *c, int status, char *body)
{
    pthread_mutex_lock(&h->mu);
    c->status = status;
    free(c->body);
    c->body = body;
    c->done = true;
    c->next = NULL;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
    hub_cmd_put(h, c);
}

void hub_shutdown(struct hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->shutdown = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
}

bool hub_is_shutdown(struct hub *h)
{
    pthread_mutex_lock(&h->mu);
    bool s = h->shutdown;
    pthread_mutex_unlock(&h->mu);
    return s;
}
