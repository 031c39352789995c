/*
 * history.c - the history's writer thread (history.h).
 *
 * The queue is two rings under one mutex (readings, labels). The loop's
 * push is a copy under the mutex and no wake-up: the thread wakes on its
 * own every WRITE_NS, or sooner when a ring is half full, and takes what
 * is there in one batch. Between batches it rolls up and prunes one batch
 * of rows at most, so a long prune never holds readings back for long.
 */
#include "history.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "evjson.h"
#include "log.h"

#define WRITE_NS 250000000LL /* between batches when nothing hurries */
#define ROLLUP_NS 1000000000LL
#define FREE_CHECK_NS 1000000000LL
#define PRUNE_ROWS 1000 /* rows deleted in one transaction */
#define LABELS_MAX 256

struct histw {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, done; /* CLOCK_MONOTONIC; done: a batch was handled */
    bool stop;
    bool hold;                    /* histw_hold: nothing is taken from the queue */
    bool recheck;                 /* new limits: look at the free space at once */
    int64_t cap_pages;            /* histw_cap_pages: to apply on the thread's connection, 0 none */
    struct rackfile_history conf; /* under mu */
    /* the rings, under mu */
    struct hist_reading *q;
    size_t cap, head, n;
    struct hist_label lq[LABELS_MAX];
    size_t lhead, ln;
    uint64_t pushed, handled; /* readings and labels: pushed by the loop, handled by the thread */
    struct histw_stats st;    /* under mu */
    /* the thread's own */
    struct histstore *h;
    char dir[4096]; /* the file system the history is on (min_free_mb) */
};

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_ns(struct histw *w, int64_t ns)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t t = (int64_t)until.tv_nsec + ns;
    until.tv_sec += (time_t)(t / 1000000000LL);
    until.tv_nsec = (long)(t % 1000000000LL);
    pthread_cond_timedwait(&w->cv, &w->mu, &until);
}

/* Whether the file system holds less than min free bytes (statvfs's
 * f_bavail: what an unprivileged writer may still use). */
static bool disk_low(const char *dir, int64_t min)
{
    struct statvfs v;
    if (min <= 0 || statvfs(dir, &v) != 0)
        return false;
    return (int64_t)v.f_bavail * (int64_t)v.f_frsize < min;
}

static void *writer_main(void *arg)
{
    struct histw *w = arg;
    struct hist_reading *batch = malloc(w->cap * sizeof(*batch));
    struct hist_label *lbatch = malloc(LABELS_MAX * sizeof(*lbatch));
    char err[300], last_err[300] = "";
    int64_t next_rollup = 0, next_free = 0;
    bool low = false, was_low = false;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (!w->stop && (w->hold || (w->n < w->cap / 2 && w->ln < LABELS_MAX / 2)))
            wait_ns(w, WRITE_NS);
        if (w->cap_pages) {
            hist_cap_pages(w->h, w->cap_pages);
            w->cap_pages = 0;
        }
        size_t n = 0, nl = 0;
        while (w->hold && !w->stop && !w->n && !w->ln)
            wait_ns(w, WRITE_NS);
        if (w->hold && !w->stop) {
            pthread_cond_broadcast(&w->done);
            continue;
        }
        while (w->n && batch) {
            batch[n++] = w->q[w->head];
            w->head = (w->head + 1) % w->cap;
            w->n--;
        }
        while (w->ln && lbatch) {
            lbatch[nl++] = w->lq[w->lhead];
            w->lhead = (w->lhead + 1) % LABELS_MAX;
            w->ln--;
        }
        bool stopping = w->stop;
        if (w->recheck)
            next_free = 0;
        w->recheck = false;
        struct rackfile_history conf = w->conf;
        pthread_mutex_unlock(&w->mu);

        int64_t now = mono_now();
        if (now >= next_free) {
            low = disk_low(w->dir, conf.min_free_bytes);
            next_free = now + FREE_CHECK_NS;
            if (low && !was_low)
                log_warnx("history: under %lld MB free on %s: readings are dropped until there "
                          "is more",
                          (long long)(conf.min_free_bytes / 1000000), w->dir);
            else if (!low && was_low)
                log_info("history: space again on %s: readings are kept again", w->dir);
            was_low = low;
        }
        int rc = 0;
        int64_t t0 = mono_now(), spent = 0;
        if ((n || nl) && !low) {
            rc = hist_put(w->h, batch, n, lbatch, nl, err, sizeof(err));
            spent = mono_now() - t0;
            if (rc == HIST_ERR_FULL) {
                if (strcmp(last_err, "full"))
                    log_warnx("history: the disk is full: readings are dropped (%s)", err);
                snprintf(last_err, sizeof(last_err), "full");
            } else if (rc < 0 && strcmp(err, last_err)) {
                log_warnx("history: %s; readings are dropped", err);
                snprintf(last_err, sizeof(last_err), "%s", err);
            } else if (rc == 0 && last_err[0]) {
                log_info("history: written again");
                last_err[0] = '\0';
            }
        }
        int64_t pruned = 0, bytes = -1;
        if (!low && rc == 0 && mono_now() >= next_rollup) {
            struct hist_limits lim = {conf.raw_keep_ns / 1000000, conf.minute_keep_ns / 1000000,
                                      conf.hour_keep_ns / 1000000, conf.max_bytes};
            if (hist_rollup(w->h, err, sizeof(err)) < 0)
                log_debug("history: rollup: %s; trying again", err);
            pruned = hist_prune(w->h, &lim, wall_ms(), PRUNE_ROWS, err, sizeof(err));
            if (pruned < 0) {
                log_debug("history: pruning: %s; trying again", err);
                pruned = 0;
            }
            bytes = hist_bytes(w->h);
            /* more to prune: again after the next batch, else in a second */
            next_rollup = pruned == PRUNE_ROWS ? 0 : mono_now() + ROLLUP_NS;
        }

        pthread_mutex_lock(&w->mu);
        w->st.write_ns += spent;
        if (n || nl) {
            if (low || rc == HIST_ERR_FULL)
                w->st.dropped_disk += n + nl;
            else if (rc < 0)
                w->st.dropped_error += n + nl;
            else {
                w->st.written += n;
                w->st.labels += nl;
            }
        }
        w->st.pruned += (uint64_t)pruned;
        if (bytes >= 0)
            w->st.bytes = bytes;
        w->handled += n + nl;
        pthread_cond_broadcast(&w->done);
        if (stopping && !w->n && !w->ln)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    free(batch);
    free(lbatch);
    return NULL;
}

static void dir_of(const char *path, char *dir, size_t len)
{
    snprintf(dir, len, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, len, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
}

struct histw *histw_start(const char *path, const struct rackfile_history *conf, char *err,
                          size_t errlen)
{
    struct histw *w = calloc(1, sizeof(*w));
    if (w)
        w->cap = conf->queue > 0 ? (size_t)conf->queue : 1;
    if (!w || !(w->q = calloc(w->cap, sizeof(*w->q)))) {
        snprintf(err, errlen, "history: out of memory");
        free(w);
        return NULL;
    }
    char why[600];
    if (!(w->h = hist_open(path, false, why, sizeof(why)))) {
        snprintf(err, errlen, "history: %s", why);
        free(w->q);
        free(w);
        return NULL;
    }
    w->conf = *conf;
    dir_of(path, w->dir, sizeof(w->dir));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_cond_init(&w->done, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    int e = pthread_create(&w->thread, NULL, writer_main, w);
    if (e) {
        snprintf(err, errlen, "history: cannot start its thread: %s", strerror(e));
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->done);
        pthread_mutex_destroy(&w->mu);
        hist_close(w->h);
        free(w->q);
        free(w);
        return NULL;
    }
    return w;
}

void histw_limits(struct histw *w, const struct rackfile_history *conf)
{
    pthread_mutex_lock(&w->mu);
    int queue = w->conf.queue;
    w->conf = *conf;
    w->conf.queue = queue;
    w->recheck = true;
    pthread_mutex_unlock(&w->mu);
}

bool histw_push(struct histw *w, const struct hist_reading *r)
{
    pthread_mutex_lock(&w->mu);
    bool ok = w->n < w->cap;
    if (ok) {
        w->q[(w->head + w->n) % w->cap] = *r;
        w->n++;
        w->pushed++;
        w->st.queued++;
        if (w->n == w->cap / 2) /* the thread hurries */
            pthread_cond_signal(&w->cv);
    } else {
        w->st.dropped_queue++;
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

bool histw_label(struct histw *w, const struct hist_label *l)
{
    pthread_mutex_lock(&w->mu);
    bool ok = w->ln < LABELS_MAX;
    if (ok) {
        w->lq[(w->lhead + w->ln) % LABELS_MAX] = *l;
        w->ln++;
        w->pushed++;
        if (w->ln == LABELS_MAX / 2)
            pthread_cond_signal(&w->cv);
    } else {
        w->st.dropped_queue++;
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

void histw_flush(struct histw *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->pushed;
    pthread_cond_signal(&w->cv);
    while (w->handled < target) {
        pthread_cond_signal(&w->cv);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 50000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->done, &w->mu, &until);
    }
    pthread_mutex_unlock(&w->mu);
}

void histw_hold(struct histw *w, bool hold)
{
    pthread_mutex_lock(&w->mu);
    w->hold = hold;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void histw_cap_pages(struct histw *w, int64_t pages)
{
    pthread_mutex_lock(&w->mu);
    w->cap_pages = pages;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void histw_stats(struct histw *w, struct histw_stats *st)
{
    pthread_mutex_lock(&w->mu);
    *st = w->st;
    pthread_mutex_unlock(&w->mu);
}

void histw_stop(struct histw *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->mu);
    hist_close(w->h);
    free(w->q);
    free(w);
}

bool hist_label_of(const json_t *ev, struct hist_label *l)
{
    static const char *const facts[] = {"psu_", "bus_", "feed_", "lost_power"};
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *who = json_string_value(json_object_get(ev, "who"));
    if (!name)
        return false;
    bool fact = false;
    for (size_t k = 0; k < sizeof(facts) / sizeof(*facts); k++)
        fact = fact || !strncmp(name, facts[k], strlen(facts[k]));
    if (!fact && !who)
        return false;
    struct evjson_text t;
    evjson_text(ev, &t);
    memset(l, 0, sizeof(*l));
    double time = json_number_value(json_object_get(ev, "time"));
    l->t_ms = time > 0 ? (int64_t)(time * 1000.0) : wall_ms();
    snprintf(l->elem, sizeof(l->elem), "%s", t.subject);
    /* an operator's out-of-service is not the unit failing: a label of its own */
    if (who && (!strcmp(name, "psu_fail") || !strcmp(name, "bus_fail")))
        snprintf(l->kind, sizeof(l->kind), "out_of_service");
    else if (who && (!strcmp(name, "psu_repair") || !strcmp(name, "bus_repair")))
        snprintf(l->kind, sizeof(l->kind), "in_service");
    /* ... nor the operator's clear of a prediction its window's end: it
     * restarts the window (predict_history.c primes none from before it) */
    else if (who && !strcmp(name, "psu_risk_clear"))
        snprintf(l->kind, sizeof(l->kind), "risk_cleared");
    else
        snprintf(l->kind, sizeof(l->kind), "%s", name);
    snprintf(l->text, sizeof(l->text), "%s%s%s%s%s", t.figure, t.figure[0] && t.why[0] ? ": " : "",
             t.why, who ? "; by " : "", who ? who : "");
    return true;
}

/* A driver's figure (-1: the device does not say) as a history figure. */
static int64_t figure(int64_t v)
{
    return v < 0 ? HIST_NONE : v;
}

static void blank(struct hist_reading *r, enum hist_kind kind, const char *id, int64_t t_ms)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->t_ms = t_ms;
    snprintf(r->elem, sizeof(r->elem), "%s", id);
    for (int c = 0; c < HIST_MAXCOLS; c++)
        r->v[c] = HIST_NONE;
    r->bits = HIST_NONE;
}

void histw_psu(struct histw *w, const char *id, int64_t t_ms, const struct driver_psu_reading *x)
{
    if (!w || x->unread)
        return;
    struct hist_reading r;
    blank(&r, HIST_PSU, id, t_ms);
    r.v[HIST_VOUT_MV] = figure(x->out_mv);
    r.v[HIST_IOUT_MA] = figure(x->out_ma);
    r.v[HIST_PIN_MW] = figure(x->in_mw);
    r.v[HIST_POUT_MW] = figure(x->out_mw);
    r.v[HIST_TEMP_MC] = x->temp_mc == -1 ? HIST_NONE : x->temp_mc;
    r.v[HIST_VIN_MV] = figure(x->in_mv);
    r.v[HIST_IIN_MA] = figure(x->in_ma);
    r.v[HIST_INLET_MC] = x->inlet_mc == -1 ? HIST_NONE : x->inlet_mc;
    r.v[HIST_FAN_RPM] = figure(x->fan_rpm);
    r.bits = x->status_word < 0 ? HIST_NONE : (int64_t)(x->status_word & 0xffff);
    histw_push(w, &r);
}

void histw_reserve(struct histw *w, const char *id, int64_t t_ms,
                   const struct driver_reserve_reading *x)
{
    if (!w || x->unread)
        return;
    struct hist_reading r;
    blank(&r, HIST_RESERVE, id, t_ms);
    r.v[HIST_CHARGE_PCT] = x->charge_pct < 0 ? HIST_NONE : x->charge_pct;
    r.v[HIST_RUNTIME_S] = figure(x->runtime_s);
    r.v[HIST_RES_WATTS_MW] = x->watts < 0 ? HIST_NONE : (int64_t)(x->watts * 1000.0 + 0.5);
    r.bits = x->flags;
    histw_push(w, &r);
}

void histw_server(struct histw *w, const char *id, int64_t t_ms, int64_t draw_mw)
{
    if (!w)
        return;
    struct hist_reading r;
    blank(&r, HIST_SERVER, id, t_ms);
    r.v[HIST_DRAW_MW] = figure(draw_mw);
    histw_push(w, &r);
}

void histw_events(struct histw *w, const json_t *evs)
{
    size_t k;
    const json_t *ev;
    struct hist_label l;
    if (!w || !json_is_array(evs))
        return;
    json_array_foreach(evs, k, ev)
    {
        if (hist_label_of(ev, &l))
            histw_label(w, &l);
    }
}
