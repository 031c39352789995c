/*
 * sse.c - Server-Sent Events, parsed line by line as the bytes come.
 */
#include "sse.h"
#include "grow.h"

#include <stdlib.h>
#include <string.h>

static int grow(char **s, size_t *cap, size_t need)
{
    return grow_to((void **)s, cap, need, 1, 256, 0);
}

/* One complete line of the stream. */
static int sse_line(struct sse *s, int (*fn)(void *arg, const char *data), void *arg)
{
    const char *l = s->line;
    if (s->len == 0) { /* blank line: dispatch */
        if (!s->has_data)
            return 0;
        s->data[s->dlen] = '\0';
        s->dlen = 0;
        s->has_data = false;
        return fn(arg, s->data);
    }
    if (l[0] == ':' || strncmp(l, "data", 4) || (l[4] != ':' && l[4] != '\0'))
        return 0; /* a comment, or a field other than data */
    const char *v = l[4] == ':' ? l + 5 : l + 4;
    if (*v == ' ')
        v++;
    size_t vl = s->len - (size_t)(v - l);
    if (grow(&s->data, &s->dcap, s->dlen + vl + 2))
        return -1;
    if (s->has_data)
        s->data[s->dlen++] = '\n';
    memcpy(s->data + s->dlen, v, vl);
    s->dlen += vl;
    s->has_data = true;
    return 0;
}

int sse_feed(struct sse *s, const char *buf, size_t len, int (*fn)(void *arg, const char *data),
             void *arg)
{
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (ch == '\n') {
            if (s->len && s->line[s->len - 1] == '\r')
                s->len--;
            if (grow(&s->line, &s->cap, s->len + 1))
                return -1;
            s->line[s->len] = '\0';
            int rc = sse_line(s, fn, arg);
            s->len = 0;
            if (rc)
                return rc;
            continue;
        }
        if (grow(&s->line, &s->cap, s->len + 2))
            return -1;
        s->line[s->len++] = ch;
    }
    return 0;
}

void sse_free(struct sse *s)
{
    free(s->line);
    free(s->data);
    *s = (struct sse){0};
}
