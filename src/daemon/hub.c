/*
 * hub.c - snapshot, event notification and commands between threads.
 *
 * One mutex guards everything here; nothing blocks while holding it. Nobody
 * waits here either: a watcher (the API) is told of new events, answers and
 * the shutdown, and wakes what it has parked.
 */
#include "hub.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hub {
    pthread_mutex_t mu;
    struct hub_snap *snap;
    int64_t last_id;
    struct hub_cmd *head, *tail;
    bool shutdown;
    void (*wake)(void *arg);
    void *arg;
    void (*watch)(void *arg, struct hub_cmd *answered);
    void *watch_arg;
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
    free(s->outage);
    list_free(&s->servers);
    list_free(&s->psus);
    list_free(&s->buses);
    free(s);
}

struct hub *hub_new(void (*wake)(void *arg), void *arg)
{
    struct hub *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->wake = wake;
    h->arg = arg;
    pthread_mutex_init(&h->mu, NULL);
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

/* Tells the watcher, outside the mutex (it may take its own locks). */
static void tell(struct hub *h, struct hub_cmd *answered)
{
    pthread_mutex_lock(&h->mu);
    void (*fn)(void *, struct hub_cmd *) = h->watch;
    void *arg = h->watch_arg;
    pthread_mutex_unlock(&h->mu);
    if (fn)
        fn(arg, answered);
}

void hub_notify(struct hub *h, int64_t last_id)
{
    pthread_mutex_lock(&h->mu);
    if (last_id > h->last_id)
        h->last_id = last_id;
    pthread_mutex_unlock(&h->mu);
    tell(h, NULL);
}

int64_t hub_last_event(struct hub *h)
{
    pthread_mutex_lock(&h->mu);
    int64_t id = h->shutdown ? -1 : h->last_id;
    pthread_mutex_unlock(&h->mu);
    return id;
}

void hub_watch(struct hub *h, void (*fn)(void *arg, struct hub_cmd *answered), void *arg)
{
    pthread_mutex_lock(&h->mu);
    h->watch = fn;
    h->watch_arg = arg;
    pthread_mutex_unlock(&h->mu);
}

struct hub_cmd *hub_cmd_new(enum hub_cmd_kind kind, const char *id, const char *note,
                            const char *who)
{
    struct hub_cmd *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->kind = kind;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->note, sizeof(c->note), "%s", note ? note : "");
    snprintf(c->who, sizeof(c->who), "%s", who ? who : "");
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

int hub_post(struct hub *h, struct hub_cmd *c)
{
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
    return 0;
}

bool hub_cmd_answered(struct hub *h, const struct hub_cmd *c)
{
    pthread_mutex_lock(&h->mu);
    bool done = c->done;
    pthread_mutex_unlock(&h->mu);
    return done;
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
    pthread_mutex_unlock(&h->mu);
    if (c->on_answer)
        c->on_answer(c->on_answer_arg, c);
    tell(h, c);
    hub_cmd_put(h, c);
}

void hub_shutdown(struct hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->shutdown = true;
    pthread_mutex_unlock(&h->mu);
    tell(h, NULL);
}

bool hub_is_shutdown(struct hub *h)
{
    pthread_mutex_lock(&h->mu);
    bool s = h->shutdown;
    pthread_mutex_unlock(&h->mu);
    return s;
}
