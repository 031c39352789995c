/*
 * devices.c - one worker thread per driver instance.
 */
#include "devices.h"
#include "driver_conf.h"
#include "monoclock.h"
#include "grow.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REOPEN_NS 5000000000LL /* between attempts to open a device */

struct worker {
    struct devices *d;
    size_t index;
    const struct rackfile_device *dev;
    const struct driver_ops *ops;
    pthread_t thread;
    bool started;
    /* under d->mu */
    struct policy_action *acts;
    size_t nacts, cap;
    int64_t queued_ns; /* when the first of acts was queued (mono_ns) */
    int wake[2];       /* a byte in it: actions queued, or stop */
    uint64_t epoch;    /* the epoch to command with (devices_fence); 0 none */
    bool fence_asked;  /* devices_fence called: answer it */
};

struct devices {
    pthread_mutex_t mu;
    bool stop;
    struct worker *w;
    size_t n;
    struct devices_msg *head, *tail;
    /* the controller's rack for drivers still to open, kept current by
     * devices_rack while any is closed: a driver reconciles with what the
     * controller believes when it opens, not with what it believed at start */
    struct rack rack;
    size_t closed;
    void (*wake)(void *arg);
    void *arg;
};

void devices_describe(const struct rackfile_device *dev, char *buf, size_t len)
{
    const char *kind = driver_kind_name(dev->kind);
    switch (dev->kind) {
    case RACKFILE_DEV_MODBUS_TCP:
    case RACKFILE_DEV_NUT:
    case RACKFILE_DEV_IPMI:
        snprintf(buf, len, "%s %s:%d", kind, dev->host, dev->port);
        break;
    case RACKFILE_DEV_MODBUS_RTU:
        snprintf(buf, len, "%s %s", kind, dev->device);
        break;
    case RACKFILE_DEV_HWMON:
        snprintf(buf, len, "%s %s", kind, dev->path);
        break;
    case RACKFILE_DEV_SIM:
        snprintf(buf, len, "%s", kind);
        break;
    }
}

/* Posts a message (taking rep's arrays) and wakes the loop. A message lost
 * to a failed allocation is a report missed: the next poll reports again. */
static struct devices_msg *post_fence(struct worker *w, enum devices_msg_kind kind,
                                      struct driver_report *rep, const char *text, int fence,
                                      uint64_t epoch, uint64_t seen);

static void post(struct worker *w, enum devices_msg_kind kind, struct driver_report *rep,
                 const char *text)
{
    post_fence(w, kind, rep, text, 0, 0, 0);
}

static struct devices_msg *post_fence(struct worker *w, enum devices_msg_kind kind,
                                      struct driver_report *rep, const char *text, int fence,
                                      uint64_t epoch, uint64_t seen)
{
    struct devices *d = w->d;
    struct devices_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->fence = fence;
    m->epoch = epoch;
    m->seen = seen;
    m->kind = kind;
    m->dev = w->index;
    m->posted_ns = mono_ns();
    if (rep) {
        m->rep = *rep;
        *rep = (struct driver_report){0};
    }
    snprintf(m->text, sizeof(m->text), "%s", text ? text : "");
    pthread_mutex_lock(&d->mu);
    if (d->tail)
        d->tail->next = m;
    else
        d->head = m;
    d->tail = m;
    pthread_mutex_unlock(&d->mu);
    d->wake(d->arg);
    return m;
}

/*
 * Gives an open driver the epoch to command with: at once after it opens
 * (a clustered one stands down until it has an epoch) and when the loop asks.
 * Answers the loop when it asked, or when an epoch was set. Returns true
 * when a device refused it (this controller was replaced).
 */
static bool fence(struct worker *w, void *inst, uint64_t epoch, bool asked)
{
    char err[256] = "";
    uint64_t seen = 0;
    int rc = 0;
    if (w->ops->fence && (w->dev->clustered || asked || epoch))
        rc = w->ops->fence(inst, epoch, &seen, err, sizeof(err));
    else
        snprintf(err, sizeof(err), "no command device to fence");
    if (asked || epoch)
        post_fence(w, DEVICES_FENCE, NULL, err, rc, epoch, seen);
    return rc == -2;
}

static void wake_worker(struct worker *w)
{
    char c = 1;
    if (write(w->wake[1], &c, 1) < 0 && errno != EAGAIN)
        return; /* the pipe is full: the worker is awake anyway */
}

/*
 * Waits until the absolute monotonic time until, a wake (actions, stop) or
 * news on the driver's fd (an alert line). Called with d->mu held, which it
 * releases while waiting. Returns true when the driver's fd has news.
 */
static bool wait_until(struct worker *w, int64_t until, int fd)
{
    pthread_mutex_unlock(&w->d->mu);
    int64_t left = until - mono_ns();
    int ms = left <= 0 ? 0 : left > 3600000000000LL ? 3600000 : (int)((left + 999999) / 1000000);
    struct pollfd p[2] = {{.fd = w->wake[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int n = poll(p, fd >= 0 ? 2 : 1, ms);
    if (n > 0 && (p[0].revents & POLLIN)) {
        char buf[64];
        while (read(w->wake[0], buf, sizeof(buf)) > 0)
            ;
    }
    pthread_mutex_lock(&w->d->mu);
    return n > 0 && fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR));
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct devices *d = w->d;
    char err[256], last_err[256] = "";
    void *inst = NULL;
    struct driver_report rep = {0};
    struct policy_action *acts = NULL;
    size_t nacts = 0, cap = 0;
    int timeout_ms = (int)(w->dev->timeout_ns ? w->dev->timeout_ns / 1000000 : 1000);
    int64_t next_poll = mono_ns();
    bool up = false;
    bool fenced = false; /* the open driver has the worker's epoch */

    for (;;) {
        if (!inst) {
            struct rack r;
            pthread_mutex_lock(&d->mu);
            int e = rack_copy(&r, &d->rack);
            pthread_mutex_unlock(&d->mu);
            snprintf(err, sizeof(err), "out of memory");
            if (!e) {
                err[0] = '\0';
                inst = w->ops->open(w->dev, &r, err, sizeof(err));
                rack_free(&r);
            }
            if (inst) {
                pthread_mutex_lock(&d->mu);
                d->closed--;
                pthread_mutex_unlock(&d->mu);
                post(w, DEVICES_UP, NULL, "opened");
                up = true;
                fenced = false;
                last_err[0] = '\0';
                next_poll = mono_ns();
            } else if (strcmp(err, last_err)) {
                snprintf(last_err, sizeof(last_err), "%s", err);
                post(w, DEVICES_DOWN, NULL, err);
            }
        }
        /* the epoch before any action: the fence comes first */
        pthread_mutex_lock(&d->mu);
        bool asked = w->fence_asked;
        uint64_t epoch = w->epoch;
        w->fence_asked = false;
        pthread_mutex_unlock(&d->mu);
        if (!inst && asked) {
            char why[300];
            snprintf(why, sizeof(why), "not open: %s", last_err[0] ? last_err : "opening");
            post_fence(w, DEVICES_FENCE, NULL, why, -1, epoch, 0);
        } else if (inst && (asked || !fenced)) {
            fenced = true;
            if (fence(w, inst, epoch, asked))
                next_poll = mono_ns(); /* replaced: the report says by what */
        }
        /* the driver may want a poll sooner than the interval (a new alarm
         * to confirm) and may have an alert line to wait on */
        int64_t due = inst && w->ops->next_due_ns ? w->ops->next_due_ns(inst) : INT64_MAX;
        int fd = inst && w->ops->fd ? w->ops->fd(inst) : -1;
        bool alerted = false;
        pthread_mutex_lock(&d->mu);
        int64_t until = inst ? (due < next_poll ? due : next_poll) : mono_ns() + REOPEN_NS;
        for (;;) {
            if (!inst) /* decisions before open: open reconciles with the rack */
                w->nacts = 0;
            if (d->stop || w->nacts || w->fence_asked || alerted || mono_ns() >= until)
                break;
            alerted = wait_until(w, until, fd);
        }
        bool stop = d->stop;
        int64_t queued_ns = w->queued_ns, taken_ns = mono_ns();
        if (inst && w->nacts) { /* swap the queue out: act without the lock */
            struct policy_action *t = acts;
            size_t tcap = cap;
            acts = w->acts;
            nacts = w->nacts;
            cap = w->cap;
            w->acts = t;
            w->cap = tcap;
            w->nacts = 0;
        }
        pthread_mutex_unlock(&d->mu);
        if (stop)
            break;
        if (!inst)
            continue;
        bool ok = true;
        for (size_t k = 0; k < nacts; k++) {
            err[0] = '\0';
            int rc = w->ops->act(inst, &acts[k], err, sizeof(err));
            if (rc == -2) {
                /* refused by a device fenced by a higher epoch: this
                 * controller was replaced; the rest is not sent, and a
                 * poll at once tells the loop by what (fenced_by) */
                log_warnx("device %zu: %s", w->index + 1, err);
                next_poll = mono_ns();
                break;
            }
            if (rc) {
                ok = false;
                if (strcmp(err, last_err) || up) {
                    snprintf(last_err, sizeof(last_err), "%s", err);
                    post(w, DEVICES_DOWN, NULL, err);
                    up = false;
                }
            }
        }
        if (nacts && log_debugging()) { /* the benchmark's stamps (docs/benchmarks.md) */
            int64_t done_ns = mono_ns();
            char name[300];
            devices_describe(w->dev, name, sizeof(name));
            log_debug("%s: %zu actions queued at %.6f, taken +%" PRId64 " us, written +%" PRId64
                      " us (monotonic s)",
                      name, nacts, (double)queued_ns / 1e9, (taken_ns - queued_ns) / 1000,
                      (done_ns - queued_ns) / 1000);
        }
        nacts = 0;
        int64_t now = mono_ns();
        bool scheduled = now >= next_poll;
        if (!scheduled && !alerted && now < due)
            continue;
        driver_report_clear(&rep);
        err[0] = '\0';
        if (w->ops->poll(inst, timeout_ms, &rep, err, sizeof(err))) {
            ok = false;
            if (strcmp(err, last_err) || up) {
                snprintf(last_err, sizeof(last_err), "%s", err);
                post(w, DEVICES_DOWN, NULL, err);
                up = false;
            }
            /* some of its devices may still have spoken */
            if (rep.ninputs || rep.npsus || rep.nunits || rep.nfound || rep.nread ||
                rep.fenced_by || rep.nreserves || rep.epoch_held || rep.npsu_states ||
                rep.no_standby[0])
                post(w, DEVICES_REPORT, &rep, NULL);
        } else {
            if (!up && ok) {
                post(w, DEVICES_UP, NULL, "answering again");
                up = true;
                last_err[0] = '\0';
            }
            if (rep.ninputs || rep.npsus || rep.nunits || rep.nfound || rep.nread ||
                rep.fenced_by || rep.nreserves || rep.epoch_held || rep.npsu_states ||
                rep.no_standby[0])
                post(w, DEVICES_REPORT, &rep, NULL);
        }
        if (!scheduled)
            continue;
        next_poll += w->dev->poll_ns;
        now = mono_ns();
        if (next_poll < now) /* fell behind (a slow device): no burst to catch up */
            next_poll = now + w->dev->poll_ns;
    }
    if (inst)
        w->ops->close(inst);
    driver_report_free(&rep);
    free(acts);
    return NULL;
}

struct devices *devices_start(const struct rackfile_device *devs, size_t n, const struct rack *rack,
                              void (*wake)(void *arg), void *arg, char *err, size_t errlen)
{
    struct devices *d = calloc(1, sizeof(*d));
    if (!d || !(d->w = calloc(n ? n : 1, sizeof(*d->w)))) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    if (rack_copy(&d->rack, rack)) {
        snprintf(err, errlen, "out of memory");
        devices_stop(d);
        return NULL;
    }
    d->closed = n;
    d->n = n;
    d->wake = wake;
    d->arg = arg;
    for (size_t i = 0; i < n; i++) {
        struct worker *w = &d->w[i];
        char name[300];
        w->d = d;
        w->index = i;
        w->dev = &devs[i];
        w->ops = driver_find(devs[i].kind);
        w->wake[0] = w->wake[1] = -1;
        devices_describe(&devs[i], name, sizeof(name));
        if (!w->ops) {
            snprintf(err, errlen, "device at line %d (%s): this build has no %s driver yet",
                     devs[i].line, name, driver_kind_name(devs[i].kind));
            devices_stop(d);
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct worker *w = &d->w[i];
        if (pipe(w->wake) < 0) {
            snprintf(err, errlen, "cannot start the worker of device %zu: pipe: %s", i + 1,
                     strerror(errno));
            w->wake[0] = w->wake[1] = -1;
            devices_stop(d);
            return NULL;
        }
        for (int k = 0; k < 2; k++) {
            fcntl(w->wake[k], F_SETFL, O_NONBLOCK);
            fcntl(w->wake[k], F_SETFD, FD_CLOEXEC);
        }
        int e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e) {
            snprintf(err, errlen, "cannot start the worker of device %zu: %s", i + 1, strerror(e));
            devices_stop(d);
            return NULL;
        }
        w->started = true;
    }
    return d;
}

void devices_act(struct devices *d, const struct policy_action *a, size_t n)
{
    if (!d || !n)
        return;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n; i++) {
        struct worker *w = &d->w[i];
        if (grow_to((void **)&w->acts, &w->cap, w->nacts + n, sizeof(*w->acts), 16, 0))
            continue; /* lost: the driver reconciles at its next open */
        if (!w->nacts)
            w->queued_ns = mono_ns();
        memcpy(w->acts + w->nacts, a, n * sizeof(*a));
        w->nacts += n;
        wake_worker(w);
    }
    pthread_mutex_unlock(&d->mu);
}

void devices_fence(struct devices *d, uint64_t epoch)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->n; i++) {
        d->w[i].epoch = epoch;
        d->w[i].fence_asked = true;
        if (d->w[i].started)
            wake_worker(&d->w[i]);
    }
    pthread_mutex_unlock(&d->mu);
}

void devices_rack(struct devices *d, const struct rack *rack)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    if (d->closed) {
        struct rack copy;
        if (!rack_copy(&copy, rack)) {
            rack_free(&d->rack);
            d->rack = copy;
        }
    }
    pthread_mutex_unlock(&d->mu);
}

struct devices_msg *devices_take(struct devices *d)
{
    if (!d)
        return NULL;
    pthread_mutex_lock(&d->mu);
    struct devices_msg *m = d->head;
    d->head = d->tail = NULL;
    pthread_mutex_unlock(&d->mu);
    return m;
}

void devices_msg_free(struct devices_msg *m)
{
    while (m) {
        struct devices_msg *next = m->next;
        driver_report_free(&m->rep);
        free(m);
        m = next;
    }
}

void devices_stop(struct devices *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    for (size_t i = 0; i < d->n; i++)
        if (d->w[i].started)
            wake_worker(&d->w[i]);
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < d->n; i++) {
        struct worker *w = &d->w[i];
        if (!w->started)
            continue;
        pthread_join(w->thread, NULL);
        free(w->acts);
    }
    for (size_t i = 0; i < d->n; i++)
        for (int k = 0; k < 2; k++)
            if (d->w[i].wake[k] >= 0)
                close(d->w[i].wake[k]);
    devices_msg_free(d->head);
    rack_free(&d->rack);
    pthread_mutex_destroy(&d->mu);
    free(d->w);
    free(d);
}
