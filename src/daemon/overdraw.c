/*
 * overdraw.c - servers over their grant, servers that lost power (overdraw.h).
 */
#include "overdraw.h"

#include <stdio.h>
#include <stdlib.h>

#include "policy.h"

int overdraw_init(struct overdraw *o, int nservers)
{
    size_t n = (size_t)(nservers > 0 ? nservers : 1);
    o->n = nservers;
    o->since_ns = malloc(n * sizeof(*o->since_ns));
    o->due = calloc(n, sizeof(*o->due));
    o->lost_ns = malloc(n * sizeof(*o->lost_ns));
    o->fresh = malloc(n * sizeof(*o->fresh));
    o->grant_mw = malloc(n * sizeof(*o->grant_mw));
    o->changed_ns = calloc(n, sizeof(*o->changed_ns));
    if (!o->since_ns || !o->due || !o->lost_ns || !o->fresh || !o->grant_mw || !o->changed_ns) {
        overdraw_fini(o);
        return -1;
    }
    for (int i = 0; i < nservers; i++) {
        o->since_ns[i] = o->lost_ns[i] = INT64_MIN;
        o->grant_mw[i] = -1;
    }
    return 0;
}

void overdraw_fini(struct overdraw *o)
{
    free(o->since_ns);
    free(o->due);
    free(o->lost_ns);
    free(o->fresh);
    free(o->grant_mw);
    free(o->changed_ns);
    *o = (struct overdraw){0};
}

static int64_t grant_mw(const struct rack_server *s)
{
    return rack_server_draws(s) ? s->alloc_mw : 0;
}

int64_t overdraw_limit_mw(const struct rack_server *s)
{
    int64_t g = grant_mw(s), tol = g * OVERDRAW_PCT / 100;
    return g + (tol > OVERDRAW_MIN_MW ? tol : OVERDRAW_MIN_MW);
}

bool overdraw_cappable(const struct rack_server *s)
{
    return rack_server_draws(s) && s->min_mw < s->power_mw;
}

int overdraw_update(struct overdraw *o, const struct rack *r, int64_t now_ns, int64_t *next_ns)
{
    int nf = 0;
    *next_ns = INT64_MAX;
    for (int i = 0; i < o->n && i < r->nservers; i++) {
        const struct rack_server *s = &r->servers[i];
        if (s->state != RACK_SRV_SHED)
            o->lost_ns[i] = INT64_MIN;
        if (grant_mw(s) != o->grant_mw[i]) { /* a decision: its draw follows it */
            if (o->grant_mw[i] >= 0)
                o->changed_ns[i] = now_ns;
            o->grant_mw[i] = grant_mw(s);
        }
        if (s->draw_mw < 0 || s->draw_mw <= overdraw_limit_mw(s)) {
            o->since_ns[i] = INT64_MIN;
            o->due[i] = false;
            continue;
        }
        if (o->since_ns[i] == INT64_MIN)
            o->since_ns[i] = now_ns;
        if (o->due[i])
            continue;
        /* drawing without a grant is the worst case: no delay */
        int64_t at = rack_server_draws(s) ? o->since_ns[i] + r->over_draw_ns : o->since_ns[i];
        if (at < o->changed_ns[i] + OVERDRAW_SETTLE_NS)
            at = o->changed_ns[i] + OVERDRAW_SETTLE_NS;
        if (now_ns >= at) {
            o->due[i] = true;
            o->fresh[nf++] = i;
        } else if (at < *next_ns) {
            *next_ns = at;
        }
    }
    return nf;
}

void overdraw_lost(struct overdraw *o, int i, int64_t now_ns)
{
    if (i >= 0 && i < o->n)
        o->lost_ns[i] = now_ns;
}

static double secs(int64_t t_ns, int64_t start_ns)
{
    return (double)(t_ns - start_ns) / 1e9;
}

void overdraw_reason(const struct overdraw *o, const struct rack *r, int i, int64_t start_ns,
                     char *buf, size_t len)
{
    const struct rack_server *s = &r->servers[i];
    long long draw = (long long)(s->draw_mw / 1000), grant = (long long)(grant_mw(s) / 1000);
    double since = secs(o->since_ns[i], start_ns);
    if (!rack_server_draws(s))
        snprintf(buf, len, "draws %lld W with no grant (%s) since t=%.1f s: it should draw nothing",
                 draw, rack_server_state_name(s->state), since);
    else if (overdraw_cappable(s))
        snprintf(buf, len,
                 "draws %lld W, granted %lld W, over its grant since t=%.1f s: capped at %lld W",
                 draw, grant, since, grant);
    else
        snprintf(buf, len,
                 "draws %lld W, granted %lld W, over its grant since t=%.1f s: cannot be capped "
                 "(min_w = power_w); the policy plans with what it draws",
                 draw, grant, since);
}

void overdraw_lost_reason(const struct overdraw *o, const struct rack *r, int i, int64_t start_ns,
                          char *buf, size_t len)
{
    const struct rack_server *s = &r->servers[i];
    int64_t back = policy_loss_backoff_ns(r->restore_after_ns, s->losses);
    int n = snprintf(buf, len,
                     "lost power without a decision (brown-out, breaker or cable) at t=%.1f s, "
                     "loss %d in a row: kept off (coil 0) until the policy restores it, not "
                     "before %lld s after the loss",
                     secs(o->lost_ns[i], start_ns), s->losses, (long long)(back / 1000000000));
    if (s->losses > 1 && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n,
                 "; repeated losses: a power loop (a server that powers on after AC loss, or "
                 "power that keeps failing), stopped by keeping it off");
}
