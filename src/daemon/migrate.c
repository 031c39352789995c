/*
 * migrate.c - an activity's migrate command in a process of its own
 * (migrate.h).
 */
#include "migrate.h"
#include "monoclock.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRAIN_MS 200 /* after its exit, what it wrote last is read this long at most */

struct migrate {
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timer;
    int open;      /* handles still to close */
    bool spawned;  /* proc is a live process handle */
    bool exited;   /* its exit was seen */
    bool killed;   /* SIGTERM sent at the time limit */
    bool finished; /* done was called (or cancelled) */
    int eofs;      /* pipes at their end */
    int64_t start_ns, timeout_ns;
    migrate_done_fn done;
    void *arg;
    struct migrate_result r;
    char buf[2 * MIGRATE_TAIL_LEN]; /* the newest output, oldest bytes dropped */
    size_t len;
    char rd[512];
};

static void on_closed(uv_handle_t *h)
{
    struct migrate *m = h->data;
    if (--m->open == 0)
        free(m);
}

static void close_all(struct migrate *m)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&m->proc, (uv_handle_t *)&m->out, (uv_handle_t *)&m->err,
                         (uv_handle_t *)&m->timer};
    for (size_t k = 0; k < sizeof(hs) / sizeof(*hs); k++)
        if (!uv_is_closing(hs[k]))
            uv_close(hs[k], on_closed);
}

/* The last lines of what it wrote, printable, at most MIGRATE_TAIL_LEN - 1. */
static void tail(struct migrate *m)
{
    size_t n = m->len;
    while (n && (m->buf[n - 1] == '\n' || m->buf[n - 1] == '\r'))
        n--;
    size_t from = n > MIGRATE_TAIL_LEN - 1 ? n - (MIGRATE_TAIL_LEN - 1) : 0;
    if (from) /* start at a line */
        for (size_t k = from; k < n; k++)
            if (m->buf[k] == '\n') {
                from = k + 1;
                break;
            }
    size_t o = 0;
    for (size_t k = from; k < n && o + 1 < sizeof(m->r.tail); k++) {
        unsigned char c = (unsigned char)m->buf[k];
        m->r.tail[o++] = c == '\n' ? '\n' : c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    m->r.tail[o] = '\0';
}

static void finish(struct migrate *m)
{
    if (m->finished)
        return;
    m->finished = true;
    m->r.took_ns = mono_ns() - m->start_ns;
    double s = (double)m->r.took_ns / 1e9;
    m->r.ok = m->exited && !m->killed && m->r.exit_status == 0 && !m->r.term_signal;
    if (m->killed)
        snprintf(m->r.summary, sizeof(m->r.summary), "killed after its time limit of %.0f s",
                 (double)m->timeout_ns / 1e9);
    else if (m->r.term_signal)
        snprintf(m->r.summary, sizeof(m->r.summary), "ended by signal %d after %.1f s",
                 m->r.term_signal, s);
    else
        snprintf(m->r.summary, sizeof(m->r.summary), "exit %d after %.1f s", m->r.exit_status, s);
    m->r.timed_out = m->killed;
    tail(m);
    if (m->done)
        m->done(m->arg, m, &m->r);
    close_all(m);
}

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *b)
{
    struct migrate *m = h->data;
    (void)want;
    *b = uv_buf_init(m->rd, sizeof(m->rd));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct migrate *m = s->data;
    if (n < 0) {
        uv_read_stop(s);
        if (++m->eofs == 2 && m->exited)
            finish(m);
        return;
    }
    size_t k = (size_t)n;
    if (k >= sizeof(m->buf)) {
        memcpy(m->buf, b->base + k - sizeof(m->buf), sizeof(m->buf));
        m->len = sizeof(m->buf);
        return;
    }
    if (m->len + k > sizeof(m->buf)) {
        size_t drop = m->len + k - sizeof(m->buf);
        memmove(m->buf, m->buf + drop, m->len - drop);
        m->len -= drop;
    }
    memcpy(m->buf + m->len, b->base, k);
    m->len += k;
}

static void on_timer(uv_timer_t *t)
{
    struct migrate *m = t->data;
    if (m->exited) { /* what it left in the pipes was read long enough */
        finish(m);
        return;
    }
    if (!m->killed) {
        m->killed = true;
        uv_process_kill(&m->proc, SIGTERM);
        uv_timer_start(&m->timer, on_timer, MIGRATE_KILL_NS / 1000000, 0);
    } else {
        uv_process_kill(&m->proc, SIGKILL);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct migrate *m = p->data;
    m->exited = true;
    m->r.exit_status = sig ? -1 : (int)status;
    m->r.term_signal = sig;
    if (m->eofs == 2) {
        finish(m);
        return;
    }
    uv_timer_start(&m->timer, on_timer, DRAIN_MS, 0);
}

struct migrate *migrate_start(uv_loop_t *loop, const char *command, const char *activity,
                              const char *from, const char *to, int64_t timeout_ns,
                              migrate_done_fn done, void *arg, char *err, size_t errlen)
{
    if (!command || !command[0]) {
        snprintf(err, errlen, "no migrate command");
        return NULL;
    }
    struct migrate *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->done = done;
    m->arg = arg;
    m->timeout_ns = timeout_ns > 0 ? timeout_ns : 1;
    m->start_ns = mono_ns();
    m->r.exit_status = -1;
    m->proc.data = m->out.data = m->err.data = m->timer.data = m;
    uv_pipe_init(loop, &m->out, 0);
    uv_pipe_init(loop, &m->err, 0);
    uv_timer_init(loop, &m->timer);
    m->open = 3;
    char *args[] = {(char *)command, (char *)activity, (char *)from, (char *)to, NULL};
    uv_stdio_container_t io[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&m->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&m->err},
    };
    uv_process_options_t o = {
        .exit_cb = on_exit_cb,
        .file = command,
        .args = args,
        .stdio_count = 3,
        .stdio = io,
    };
    int rc = uv_spawn(loop, &m->proc, &o);
    m->open++; /* uv_spawn initialises the handle even when it fails */
    if (rc) {
        snprintf(err, errlen, "cannot run %s: %s", command, uv_strerror(rc));
        m->finished = true;
        close_all(m);
        return NULL;
    }
    m->spawned = true;
    uv_read_start((uv_stream_t *)&m->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&m->err, on_alloc, on_read);
    uint64_t ms = (uint64_t)((m->timeout_ns + 999999) / 1000000);
    uv_timer_start(&m->timer, on_timer, ms, 0);
    return m;
}

void migrate_cancel(struct migrate *m)
{
    if (!m || m->finished)
        return;
    m->finished = true;
    if (!m->exited)
        uv_process_kill(&m->proc, SIGKILL);
    close_all(m);
}
