/*
 * api_history.c - a PSU's history as the API serves it (api_history.h).
 */
#include "api_history.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "histstore.h"

#define RAW_SPAN_MS (6 * HIST_HOUR_MS)         /* a default step: raw readings up to this span */
#define MINUTE_SPAN_MS (7 * 24 * HIST_HOUR_MS) /* ... minutes up to this one, then hours */

/* A decimal number, nothing else: strtod without its hex, inf and nan. */
static int decimal(const char *s, double *out)
{
    if (!s[0] || strspn(s, "0123456789.") != strlen(s) || strchr(s, '.') != strrchr(s, '.'))
        return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*end || errno || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}

/* "15m" -> 900000; a bare number is seconds. */
static int span(const char *s, int64_t *ms)
{
    static const struct {
        char unit;
        double ms;
    } units[] = {{'s', 1e3}, {'m', 6e4}, {'h', 3.6e6}, {'d', 8.64e7}};
    char num[32];
    size_t n = strlen(s);
    double scale = 1e3;
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n + 1);
    for (size_t k = 0; k < sizeof(units) / sizeof(*units); k++)
        if (num[n - 1] == units[k].unit) {
            scale = units[k].ms;
            num[--n] = '\0';
            break;
        }
    double x;
    if (decimal(num, &x) || x * scale > 1e15)
        return -1;
    *ms = (int64_t)llround(x * scale);
    return 0;
}

int api_history_time(const char *s, int64_t now_ms, int64_t *ms)
{
    if (!strcmp(s, "now")) {
        *ms = now_ms;
        return 0;
    }
    int64_t back;
    if (s[0] == '-') {
        if (span(s + 1, &back))
            return -1;
        *ms = now_ms - back;
        return 0;
    }
    double x;
    if (decimal(s, &x) || x > 1e13)
        return -1;
    *ms = (int64_t)llround(x * 1e3);
    return 0;
}

int api_history_step(const char *s, int64_t *ms)
{
    return span(s, ms);
}

/* Text that grows; out of memory is remembered. */
struct out {
    char *s;
    size_t len, cap;
    bool oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->s ? o->s + o->len : NULL, o->s ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->oom = true;
            return;
        }
        if (o->s && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap * 2 : 65536;
        while (cap < o->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(o->s, cap);
        if (!s) {
            o->oom = true;
            return;
        }
        o->s = s;
        o->cap = cap;
    }
}

static void number(struct out *o, const char *key, double v)
{
    if (isnan(v))
        put(o, ",\"%s\":null", key);
    else
        put(o, ",\"%s\":%.10g", key, v);
}

struct rows {
    struct out *o;
    bool raw; /* readings as they are: one value per figure */
    size_t n;
};

static int add_row(void *arg, const struct hist_row *r)
{
    struct rows *x = arg;
    const struct hist_kind_def *d = hist_kind_def(HIST_PSU);
    put(x->o, "%s{\"t\":%.3f,\"n\":%lld", x->n++ ? "," : "", (double)r->t_ms / 1e3,
        (long long)r->n);
    char key[48];
    for (size_t c = 0; c < d->ncols; c++) {
        number(x->o, d->cols[c].out, r->avg[c]);
        if (x->raw)
            continue;
        snprintf(key, sizeof(key), "%s_min", d->cols[c].out);
        number(x->o, key, r->min[c]);
        snprintf(key, sizeof(key), "%s_max", d->cols[c].out);
        number(x->o, key, r->max[c]);
    }
    if (r->bits == HIST_NONE)
        put(x->o, ",\"status_word\":null}");
    else
        put(x->o, ",\"status_word\":\"0x%04llx\"}", (unsigned long long)(r->bits & 0xffff));
    return 0;
}

static int answer(char **body, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int answer(char **body, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *body = strdup(msg);
    return status;
}

int api_history_psu(const char *hist_path, const char *psu, bool in_rack, const char *from,
                    const char *to, const char *step, int64_t now_ms, char **body)
{
    int64_t from_ms, to_ms = now_ms, step_ms;
    *body = NULL;
    if (to && api_history_time(to, now_ms, &to_ms))
        return answer(body, 400,
                      "to: expected Unix seconds, now, or a time before now such as -1h");
    if (!from)
        from_ms = to_ms - HIST_HOUR_MS;
    else if (api_history_time(from, now_ms, &from_ms))
        return answer(body, 400,
                      "from: expected Unix seconds, now, or a time before now such as -24h");
    if (from_ms >= to_ms)
        return answer(body, 400, "from must be before to");
    if (!step)
        step_ms = to_ms - from_ms <= RAW_SPAN_MS      ? 0
                  : to_ms - from_ms <= MINUTE_SPAN_MS ? HIST_MINUTE_MS
                                                      : HIST_HOUR_MS;
    else if (api_history_step(step, &step_ms))
        return answer(body, 400,
                      "step: expected seconds or a duration such as 10s, 1m, 1h (0: raw readings)");
    if (!hist_path || !hist_path[0])
        return answer(body, 503, "history unavailable: it is off (history: enabled: false)");
    char err[600];
    struct histstore *h = hist_open(hist_path, true, err, sizeof(err));
    if (!h)
        return answer(body, 503, "history unavailable: %s", err);
    if (!in_rack && !hist_known(h, HIST_PSU, psu)) {
        hist_close(h);
        return answer(body, 404, "no psu '%s' in the rack or its history", psu);
    }
    enum hist_level l = hist_level_for(step_ms);
    struct out o = {0};
    put(&o, "{\"psu\":\"%s\",\"from\":%.3f,\"to\":%.3f,\"step_s\":%.3f,\"level\":\"%s\",\"rows\":[",
        psu, (double)from_ms / 1e3, (double)to_ms / 1e3, (double)step_ms / 1e3, hist_level_name(l));
    struct rows x = {.o = &o, .raw = step_ms == 0};
    int rc = hist_query(h, HIST_PSU, psu, from_ms, to_ms, step_ms, API_HISTORY_MAX_ROWS, add_row,
                        &x, err, sizeof(err));
    hist_close(h);
    put(&o, "]}\n");
    if (rc) {
        free(o.s);
        if (strstr(err, "more than"))
            return answer(body, 400, "%s", err);
        return answer(body, 503, "history unavailable: %s", err);
    }
    if (o.oom) {
        free(o.s);
        return answer(body, 503, "out of memory");
    }
    *body = o.s;
    return 200;
}
