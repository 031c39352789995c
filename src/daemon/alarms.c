/*
 * alarms.c - active alarms from the conditions that hold (alarms.h).
 */
#include "alarms.h"
#include "grow.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALARM_NAME(kind, name) [kind] = name,
static const char *const kind_names[] = {ALARM_KIND_LIST(ALARM_NAME)};
#undef ALARM_NAME

const char *alarm_kind_name(enum alarm_kind k)
{
    if ((unsigned)k >= sizeof(kind_names) / sizeof(*kind_names))
        return "?";
    return kind_names[k];
}

static int reserve(struct alarm_set *s, size_t n)
{
    return grow_to((void **)&s->v, &s->cap, n, sizeof(*s->v), 8, 0);
}

static int append(struct alarm_set *s, const struct alarm *a)
{
    if (reserve(s, s->n + 1))
        return -1;
    s->v[s->n++] = *a;
    return 0;
}

int alarm_set_add(struct alarm_set *s, enum alarm_kind kind, const char *subject,
                  const char *reason)
{
    struct alarm a = {.kind = kind};
    snprintf(a.subject, sizeof(a.subject), "%s", subject);
    snprintf(a.reason, sizeof(a.reason), "%s", reason ? reason : "");
    return append(s, &a);
}

void alarm_set_clear(struct alarm_set *s)
{
    s->n = 0;
}

void alarm_set_free(struct alarm_set *s)
{
    free(s->v);
    *s = (struct alarm_set){0};
}

const struct alarm *alarm_set_find(const struct alarm_set *s, enum alarm_kind kind,
                                   const char *subject)
{
    for (size_t k = 0; k < s->n; k++)
        if (s->v[k].kind == kind && !strcmp(s->v[k].subject, subject))
            return &s->v[k];
    return NULL;
}

int alarms_update(struct alarm_set *active, const struct alarm_set *now, int64_t now_ns,
                  struct alarm_set *raised, struct alarm_set *cleared)
{
    alarm_set_clear(raised);
    alarm_set_clear(cleared);
    /* room first, so that active is never half updated */
    if (reserve(active, active->n + now->n) || reserve(raised, now->n) ||
        reserve(cleared, active->n))
        return -1;
    size_t kept = 0;
    for (size_t k = 0; k < active->n; k++) {
        struct alarm *a = &active->v[k];
        const struct alarm *c = alarm_set_find(now, a->kind, a->subject);
        if (!c) {
            cleared->v[cleared->n++] = *a;
            continue;
        }
        memcpy(a->reason, c->reason, sizeof(a->reason));
        active->v[kept++] = *a;
    }
    active->n = kept;
    for (size_t k = 0; k < now->n; k++) {
        const struct alarm *c = &now->v[k];
        if (alarm_set_find(active, c->kind, c->subject))
            continue; /* active already, or said twice now */
        struct alarm a = *c;
        a.since_ns = now_ns;
        active->v[active->n++] = a;
        raised->v[raised->n++] = a;
    }
    return 0;
}
