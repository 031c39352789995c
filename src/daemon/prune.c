/*
 * prune.c - the journal's pruning thread (prune.h).
 */
#include "prune.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"

#define PASS_NS 1000000000LL     /* between passes that found nothing more to do */
#define BUSY_PAUSE_NS 10000000LL /* between batches: the loop's writes go first */

struct pruner {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* CLOCK_MONOTONIC */
    bool stop;                   /* under mu */
    struct rackfile_journal lim; /* under mu */
    int64_t deleted;             /* under mu */
    struct store *s;             /* the thread's own */
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits wait_ns or until stopped; returns false when stopped. Called with mu held. */
static bool pause_for(struct pruner *p, int64_t wait_ns)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = (int64_t)until.tv_nsec + wait_ns;
    until.tv_sec += (time_t)(ns / 1000000000LL);
    until.tv_nsec = (long)(ns % 1000000000LL);
    while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0)
        ;
    return !p->stop;
}

static void *prune_main(void *arg)
{
    struct pruner *p = arg;
    char err[256], last_err[256] = "";
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct rackfile_journal lim = p->lim;
        pthread_mutex_unlock(&p->mu);
        double before = wall_now() - (double)lim.max_age_ns / 1e9;
        int n = store_prune(p->s, before, lim.max_bytes, PRUNE_BATCH, err, sizeof(err));
        if (n < 0 && strstr(err, "locked")) { /* the loop was writing for long: no matter */
            log_debug("journal pruning: %s; trying again", err);
        } else if (n < 0 && strcmp(err, last_err)) { /* once per kind of trouble */
            log_warnx("journal pruning: %s; trying again", err);
            snprintf(last_err, sizeof(last_err), "%s", err);
        } else if (n >= 0) {
            last_err[0] = '\0';
        }
        if (n > 0)
            log_debug("journal: %d old events pruned, %lld bytes of events kept", n,
                      (long long)store_journal_bytes(p->s));
        pthread_mutex_lock(&p->mu);
        if (n > 0)
            p->deleted += n;
        pause_for(p, n == PRUNE_BATCH ? BUSY_PAUSE_NS : PASS_NS);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct pruner *pruner_start(const char *path, const struct rackfile_journal *lim, char *err,
                            size_t errlen)
{
    struct pruner *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char dberr[512];
    if (!(p->s = store_open(path, false, dberr, sizeof(dberr))) ||
        store_sync_normal(p->s, dberr, sizeof(dberr))) {
        snprintf(err, errlen, "journal pruning: %s", dberr);
        store_close(p->s);
        free(p);
        return NULL;
    }
    p->lim = *lim;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    int e = pthread_create(&p->thread, NULL, prune_main, p);
    if (e) {
        snprintf(err, errlen, "journal pruning: cannot start its thread: %s", strerror(e));
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        store_close(p->s);
        free(p);
        return NULL;
    }
    return p;
}

void pruner_limits(struct pruner *p, const struct rackfile_journal *lim)
{
    pthread_mutex_lock(&p->mu);
    p->lim = *lim;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int64_t pruner_deleted(struct pruner *p)
{
    pthread_mutex_lock(&p->mu);
    int64_t n = p->deleted;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void pruner_stop(struct pruner *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    store_close(p->s);
    free(p);
}
