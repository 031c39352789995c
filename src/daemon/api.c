/*
 * api.c - routes, answers and event streams.
 *
 * libmicrohttpd runs a small pool of threads over epoll (API_THREADS), so no
 * request may block one: a command is posted to the loop and its connection
 * suspended until the hub's watcher hears the answer (or API_CMD_TIMEOUT_MS
 * pass); an event stream with nothing to send is suspended until the journal
 * grows, its keep-alive is due, or its client hangs up. One helper thread
 * (the resumer) watches those deadlines and the parked streams' sockets.
 * Every answer is JSON; every error is {"error": "..."} with a 4xx/5xx.
 *
 * Two listeners: TCP (plain HTTP on loopback, or HTTPS) and the local Unix
 * socket, each its own libmicrohttpd daemon (so the socket keeps its own
 * capacity whatever TCP clients hold). Every request is checked before it
 * is routed (authorize, then permit): docs/security.md says who may do what.
 */
#define _GNU_SOURCE /* POLLRDHUP: the peer closed its side (Linux) */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api_history.h"
#include "auth.h"
#include "grow.h"
#include "log.h"
#include "monoclock.h"
#include "store.h"

#define MAX_STREAMS 32
#define MAX_EVENTS 1000 /* per GET /v1/events */
#define DEFAULT_EVENTS 100
#define SHOW_ID 64
#define API_DRAIN_BODY (1 << 20) /* bodies up to this are read before a 413 */
#define API_THREADS 2
#define RESUMER_MAX_WAIT_MS 1000 /* the resumer looks again at least this often */
#define SPARE_FDS 64             /* beyond the connections: journal, devices, logs */
#define LOCAL_MAX_CONNECTIONS 64 /* on the Unix socket */
#define MAX_PEM_BYTES (1 << 20)
#define MAX_NAMES (RACKFILE_API_NAMES + 4)
#define PEER_GROUPS 64

struct stream;
struct req;
struct api;

/* Which listener a request came in on: the handler's argument. */
struct listener {
    struct api *a;
    bool local; /* the Unix socket */
};

struct api {
    struct MHD_Daemon *mhd, *local_mhd;
    struct listener tcp, local;
    struct hub *hub;
    char db_path[4096];
    char hist_path[4096]; /* the history's file, "" none */
    int keepalive_ms;
    unsigned port;
    pthread_mutex_t mu;
    int streams;             /* under mu */
    struct stream *parkable; /* under mu: every open event stream */
    struct req *waiting;     /* under mu: every command waiting for the loop */
    bool stopping;           /* under mu: nothing may be suspended any more */
    int wake_fd;             /* eventfd: the resumer looks again */
    pthread_t resumer;
    bool resumer_started;
    struct log_limit mhd_warnings;
    /* who may do what */
    bool tls, plain_reads;
    char *tls_cert, *tls_key; /* PEM, alive as long as the daemon */
    char socket_path[108];
    gid_t socket_group; /* (gid_t)-1: none */
    enum auth_role socket_role;
    uid_t self_uid;
    char tokens_path[4096];
    pthread_rwlock_t tokens_lock;
    struct auth_tokens tokens;    /* under tokens_lock */
    const char *names[MAX_NAMES]; /* a Host may name these */
    size_t nnames;
    const char *origins[RACKFILE_API_NAMES];
    size_t norigins;
    struct rackfile_api conf; /* a copy: names and origins point into it */
    struct auth_rate rate;    /* under mu */
};

/* Who sent a request, once authorize has said. */
struct who {
    enum auth_role role;
    char name[80]; /* a token's name, "uid:N", or "" for an anonymous reader */
};

/* One request's body as it arrives, and the command it waits for. */
struct req {
    char body[API_MAX_BODY + 1];
    size_t len;
    struct MHD_Connection *c;
    struct hub_cmd *cmd;     /* posted to the loop, not yet answered to the client */
    int64_t deadline_ns;     /* the command's answer is given up then */
    bool suspended;          /* under mu */
    bool listed;             /* under mu: in api.waiting */
    struct req *prev, *next; /* under mu */
    bool started;            /* its headers have been seen */
    bool raw_nul;            /* its request target holds %00 (the path we see is cut there) */
    bool too_large;
    bool answered; /* refused before its body: nothing more to say */
};

/* ---- answers ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text,
                                 size_t len, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, const char *text)
{
    return send_text(c, status, text, strlen(text), NULL);
}

__attribute__((format(printf, 4, 5))) static enum MHD_Result
send_error(struct MHD_Connection *c, unsigned status, const char *allow, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{ss}", "error", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) /* out of memory: still an answer, not a dropped connection */
        return send_json(c, status, "{\"error\":\"request refused\"}");
    enum MHD_Result ret = send_text(c, status, text, strlen(text), allow);
    free(text);
    return ret;
}

/* An id from a URL, fit to be echoed in a message: printable ASCII, cut
 * short. Bytes above 0x7f go too: they may not be UTF-8, and jansson refuses
 * a string that is not, which would leave the request without an answer. */
static void show_id(char *out, size_t len, const char *id)
{
    size_t n = 0;
    for (; id[n] && n + 1 < len && n < SHOW_ID; n++) {
        unsigned char ch = (unsigned char)id[n];
        out[n] = ch >= 0x20 && ch < 0x7f ? id[n] : '?';
    }
    out[n] = '\0';
    if (id[n] && n + 4 < len)
        memcpy(out + n, "...", 4);
}

/* ---- query parameters ---- */

struct query {
    const char *const *allowed;
    char bad[SHOW_ID + 8];
};

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)value;
    struct query *q = cls;
    for (size_t i = 0; q->allowed && q->allowed[i]; i++)
        if (!strcmp(key, q->allowed[i]))
            return MHD_YES;
    if (!q->bad[0])
        show_id(q->bad, sizeof(q->bad), key);
    return MHD_YES;
}

/* Rejects query parameters other than those allowed (NULL-terminated). */
static bool unknown_args(struct MHD_Connection *c, const char *const *allowed, char *bad,
                         size_t len)
{
    struct query q = {.allowed = allowed};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &q);
    snprintf(bad, len, "%s", q.bad);
    return q.bad[0] != '\0';
}

/* An integer parameter in [min, max]; absent: def. -1 when malformed. */
static int int_arg(struct MHD_Connection *c, const char *name, long long min, long long max,
                   long long def, long long *out)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    *out = def;
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < min || x > max || (s[0] < '0' || s[0] > '9'))
        return -1;
    *out = x;
    return 0;
}

/* ---- reads ---- */

static enum MHD_Result get_list(struct api *a, struct MHD_Connection *c, const char *what,
                                const char *id)
{
    struct hub_snap *s = hub_snap_get(a->hub);
    if (!s)
        return send_error(c, 503, NULL, "starting: no state yet");
    const struct hub_list *l = !strcmp(what, "server") ? &s->servers
                               : !strcmp(what, "psu")  ? &s->psus
                                                       : &s->buses;
    enum MHD_Result ret;
    if (!id) {
        ret = send_json(c, 200, l->all);
    } else {
        long i = hub_list_find(l, id);
        char shown[SHOW_ID + 8];
        show_id(shown, sizeof(shown), id);
        ret = i < 0 ? send_error(c, 404, NULL, "no %s '%s'", what, shown)
                    : send_json(c, 200, l->json[i]);
    }
    hub_snap_put(a->hub, s);
    return ret;
}

static enum MHD_Result get_status(struct api *a, struct MHD_Connection *c)
{
    struct hub_snap *s = hub_snap_get(a->hub);
    if (!s)
        return send_error(c, 503, NULL, "starting: no state yet");
    enum MHD_Result ret = send_json(c, 200, s->status);
    hub_snap_put(a->hub, s);
    return ret;
}

static enum MHD_Result get_outage(struct api *a, struct MHD_Connection *c)
{
    struct hub_snap *s = hub_snap_get(a->hub);
    if (!s)
        return send_error(c, 503, NULL, "starting: no state yet");
    enum MHD_Result ret = send_json(c, 200, s->outage);
    hub_snap_put(a->hub, s);
    return ret;
}

/* Text that grows; out of memory is remembered and reported once. */
struct text {
    char *s;
    size_t len, cap;
    bool oom;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (grow_to((void **)&t->s, &t->cap, t->len + n + 1, 1, 1024, 0)) {
        t->oom = true;
        return;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

struct collect {
    struct text *t;
    int64_t last;
    size_t n;
};

static int collect_json(void *arg, int64_t id, const char *json)
{
    struct collect *k = arg;
    if (k->n++)
        text_add(k->t, ",", 1);
    text_add(k->t, json, strlen(json));
    k->last = id;
    return 0;
}

static enum MHD_Result get_events(struct api *a, struct MHD_Connection *c)
{
    long long since, limit, tail;
    if (int_arg(c, "since", 0, INT64_MAX, 0, &since))
        return send_error(c, 400, NULL, "since: expected an event id (an integer >= 0)");
    if (int_arg(c, "limit", 1, MAX_EVENTS, DEFAULT_EVENTS, &limit))
        return send_error(c, 400, NULL, "limit: expected an integer from 1 to %d", MAX_EVENTS);
    if (int_arg(c, "tail", 1, MAX_EVENTS, 0, &tail))
        return send_error(c, 400, NULL, "tail: expected an integer from 1 to %d", MAX_EVENTS);
    bool has_since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since") != NULL;
    bool has_limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit") != NULL;
    if (tail && (has_since || has_limit))
        return send_error(c, 400, NULL, "tail: cannot be combined with since or limit");
    char err[512];
    struct store *st = store_open(a->db_path, true, err, sizeof(err));
    if (!st) {
        log_warnx("api: %s", err);
        return send_error(c, 503, NULL, "journal unavailable");
    }
    struct text t = {0};
    struct collect k = {.t = &t, .last = since};
    text_add(&t, "{\"events\":[", 11);
    int rc = store_events(st, since, (int)(tail ? tail : limit), tail != 0, collect_json, &k, err,
                          sizeof(err));
    int64_t last = store_last_id(st);
    store_close(st);
    char tailtext[64];
    snprintf(tailtext, sizeof(tailtext), "],\"last_event_id\":%lld}", (long long)last);
    text_add(&t, tailtext, strlen(tailtext));
    enum MHD_Result ret;
    if (rc || last < 0 || t.oom) {
        log_warnx("api: journal: %s", rc ? err : "out of memory");
        ret = send_error(c, 503, NULL, "journal unavailable");
    } else {
        ret = send_text(c, 200, t.s, t.len, NULL);
    }
    free(t.s);
    return ret;
}

static enum MHD_Result get_history(struct api *a, struct MHD_Connection *c, const char *psu)
{
    struct hub_snap *s = hub_snap_get(a->hub);
    bool in_rack = s && hub_list_find(&s->psus, psu) >= 0;
    if (s)
        hub_snap_put(a->hub, s);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *body = NULL;
    int status = api_history_psu(a->hist_path, psu, in_rack,
                                 MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from"),
                                 MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to"),
                                 MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "step"),
                                 (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &body);
    enum MHD_Result ret;
    if (!body)
        ret = send_error(c, 503, NULL, "out of memory");
    else if (status == 200)
        ret = send_text(c, 200, body, strlen(body), NULL);
    else {
        if (status >= 500)
            log_warnx("api: %s", body);
        ret = send_error(c, (unsigned)status, NULL, "%s", body);
    }
    free(body);
    return ret;
}

/* ---- parking: suspended connections and the resumer ---- */

/* Makes the resumer look at its lists again. */
static void kick(struct api *a)
{
    uint64_t one = 1;
    if (write(a->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("api: cannot wake the resumer");
}

/* ---- the event stream ---- */

struct stream {
    struct api *a;
    struct MHD_Connection *c;
    int fd;
    struct store *st;
    int64_t last;         /* the last event sent */
    int64_t seen;         /* under mu: the hub's newest id when last looked */
    int64_t keepalive_ns; /* a comment is due then when nothing else was sent */
    struct text out;
    size_t off;
    bool said_hello;
    bool suspended;             /* under mu */
    struct stream *prev, *next; /* under mu: api.parkable */
};

static int stream_event(void *arg, int64_t id, const char *json)
{
    struct stream *s = arg;
    char head[48];
    int n = snprintf(head, sizeof(head), "id: %lld\ndata: ", (long long)id);
    text_add(&s->out, head, (size_t)n);
    text_add(&s->out, json, strlen(json));
    text_add(&s->out, "\n\n", 2);
    s->last = id;
    return 0;
}

/* Whether the client closed its side or the connection broke: a parked
 * stream's slot is given back then, not at the next keep-alive. */
static bool client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void pause_10ms(void)
{
    struct timespec ts = {.tv_nsec = 10 * 1000000};
    nanosleep(&ts, NULL);
}

/* Called on a pool thread whenever the stream can send: never blocks. With
 * nothing to send it suspends the connection (returning 0), and the resumer
 * resumes it when the journal grows, a keep-alive is due or the client goes. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    struct api *a = s->a;
    char err[256];
    while (s->off >= s->out.len) {
        s->off = s->out.len = 0;
        if (!s->said_hello) {
            /* reconnecting clients wait 2 s; the comment opens the stream at once */
            static const char hello[] = "retry: 2000\n: rackpowerd events\n\n";
            text_add(&s->out, hello, sizeof(hello) - 1);
            s->said_hello = true;
            break;
        }
        if (client_gone(s->fd)) /* a normal end: no warning for every client that leaves */
            return MHD_CONTENT_READER_END_OF_STREAM;
        int64_t id = hub_last_event(a->hub);
        if (id < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&a->mu);
        bool news = id > s->seen;
        s->seen = id;
        pthread_mutex_unlock(&a->mu);
        if (news && id > s->last) {
            if (store_events(s->st, s->last, 100, false, stream_event, s, err, sizeof(err))) {
                log_warnx("api: event stream: %s", err);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (s->out.oom)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            if (s->out.len)
                break;
        }
        if (mono_ns() >= s->keepalive_ns) {
            static const char ka[] = ": keep-alive\n\n";
            text_add(&s->out, ka, sizeof(ka) - 1);
            break;
        }
        pthread_mutex_lock(&a->mu);
        bool stopping = a->stopping;
        if (!stopping) {
            s->suspended = true;
            MHD_suspend_connection(s->c);
        }
        pthread_mutex_unlock(&a->mu);
        if (stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        kick(a); /* a new socket to watch, a new deadline */
        return 0;
    }
    size_t n = s->out.len - s->off;
    if (n > max)
        n = max;
    memcpy(buf, s->out.s + s->off, n);
    s->off += n;
    s->keepalive_ns = mono_ns() + (int64_t)a->keepalive_ms * 1000000;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    struct api *a = s->a;
    pthread_mutex_lock(&a->mu);
    a->streams--;
    if (s->prev || a->parkable == s) {
        if (s->prev)
            s->prev->next = s->next;
        else
            a->parkable = s->next;
        if (s->next)
            s->next->prev = s->prev;
    }
    pthread_mutex_unlock(&a->mu);
    store_close(s->st);
    free(s->out.s);
    free(s);
}

static enum MHD_Result get_stream(struct api *a, struct MHD_Connection *c)
{
    long long since;
    const char *from = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (int_arg(c, "since", 0, INT64_MAX, -1, &since))
        return send_error(c, 400, NULL, "since: expected an event id (an integer >= 0)");
    if (since < 0 && from) {
        char *end;
        since = strtoll(from, &end, 10);
        if (*end || end == from || since < 0)
            return send_error(c, 400, NULL, "Last-Event-ID: expected an event id");
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return send_error(c, 503, NULL, "cannot follow this connection");
    pthread_mutex_lock(&a->mu);
    bool full = a->streams >= MAX_STREAMS;
    if (!full)
        a->streams++;
    pthread_mutex_unlock(&a->mu);
    if (full)
        return send_error(c, 503, NULL, "too many event streams (at most %d)", MAX_STREAMS);
    char err[512];
    struct stream *s = calloc(1, sizeof(*s));
    if (s) {
        s->a = a;
        s->c = c;
        s->fd = ci->connect_fd;
    }
    if (!s || !(s->st = store_open(a->db_path, true, err, sizeof(err)))) {
        if (s)
            log_warnx("api: %s", err);
        pthread_mutex_lock(&a->mu);
        a->streams--;
        pthread_mutex_unlock(&a->mu);
        free(s);
        return send_error(c, 503, NULL, "journal unavailable");
    }
    s->last = since >= 0 ? since : store_last_id(s->st);
    s->keepalive_ns = mono_ns() + (int64_t)a->keepalive_ms * 1000000;
    pthread_mutex_lock(&a->mu);
    s->seen = s->last; /* anything newer is news */
    s->next = a->parkable;
    if (a->parkable)
        a->parkable->prev = s;
    a->parkable = s;
    pthread_mutex_unlock(&a->mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!r) {
        stream_free(s);
        return send_error(c, 503, NULL, "out of memory");
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Resumes a parked stream or command; under mu. */
static void resume_stream(struct stream *s)
{
    s->suspended = false;
    MHD_resume_connection(s->c);
}

static void resume_req(struct req *rq)
{
    rq->suspended = false;
    MHD_resume_connection(rq->c);
}

/* The hub's watcher: an answered command's connection is resumed at once;
 * new events and the shutdown go through the resumer. */
static void on_hub(void *arg, struct hub_cmd *answered)
{
    struct api *a = arg;
    if (!answered) {
        kick(a);
        return;
    }
    pthread_mutex_lock(&a->mu);
    for (struct req *rq = a->waiting; rq; rq = rq->next)
        if (rq->cmd == answered && rq->suspended)
            resume_req(rq);
    pthread_mutex_unlock(&a->mu);
}

/* The poll set of one look: the wake fd, then each parked stream's socket. */
struct watch {
    struct pollfd *fds;
    struct stream **who;
    size_t n, fds_cap, who_cap;
};

/*
 * Resumes what is due and fills w with the sockets of the streams still
 * parked; returns how long to wait, in ms. Under mu.
 */
static int look(struct api *a, struct watch *w)
{
    int64_t now = mono_ns(), next = now + (int64_t)RESUMER_MAX_WAIT_MS * 1000000;
    int64_t last = hub_last_event(a->hub);
    w->n = 1;
    for (struct stream *s = a->parkable; s; s = s->next) {
        if (!s->suspended)
            continue;
        if (a->stopping || last < 0 || last > s->seen || now >= s->keepalive_ns) {
            resume_stream(s);
            continue;
        }
        if (s->keepalive_ns < next)
            next = s->keepalive_ns;
        if (grow_to((void **)&w->fds, &w->fds_cap, w->n + 1, sizeof(*w->fds), 64, 0) ||
            grow_to((void **)&w->who, &w->who_cap, w->n + 1, sizeof(*w->who), 64, 0)) {
            next = now + 10 * 1000000; /* out of memory: watched at the next look */
            continue;
        }
        w->fds[w->n] = (struct pollfd){.fd = s->fd, .events = POLLRDHUP};
        w->who[w->n++] = s;
    }
    for (struct req *rq = a->waiting; rq; rq = rq->next) {
        if (!rq->suspended)
            continue;
        if (a->stopping || last < 0 || now >= rq->deadline_ns)
            resume_req(rq);
        else if (rq->deadline_ns < next)
            next = rq->deadline_ns;
    }
    return (int)((next - now + 999999) / 1000000);
}

static void *resumer(void *arg)
{
    struct api *a = arg;
    struct watch w = {0};
    for (;;) {
        pthread_mutex_lock(&a->mu);
        bool stopping = a->stopping;
        int wait_ms = look(a, &w);
        pthread_mutex_unlock(&a->mu);
        log_limit_flush(&a->mhd_warnings);
        if (stopping)
            break;
        if (!w.fds && grow_to((void **)&w.fds, &w.fds_cap, 1, sizeof(*w.fds), 64, 0)) {
            pause_10ms();
            continue;
        }
        w.fds[0] = (struct pollfd){.fd = a->wake_fd, .events = POLLIN};
        if (poll(w.fds, w.n, wait_ms) < 0 && errno != EINTR) {
            log_warn("api: poll");
            pause_10ms();
            continue;
        }
        if (w.fds[0].revents & POLLIN) {
            uint64_t count;
            if (read(a->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
                log_warn("api: reading the resumer's wake-up");
        }
        /* A stream whose socket says hang-up is resumed: its reader sees the
         * client gone and ends it. The stream is checked to be still parked
         * (a connection that ended meanwhile is not in the list any more). */
        pthread_mutex_lock(&a->mu);
        for (size_t i = 1; i < w.n; i++) {
            if (!w.fds[i].revents)
                continue;
            for (struct stream *s = a->parkable; s; s = s->next)
                if (s == w.who[i] && s->suspended && s->fd == w.fds[i].fd)
                    resume_stream(s);
        }
        pthread_mutex_unlock(&a->mu);
    }
    free(w.fds);
    free(w.who);
    return NULL;
}

/* ---- commands ---- */

static int rate_take(struct api *a, struct MHD_Connection *c, const struct who *w,
                     enum auth_action act, enum MHD_Result *ret);

/* What a command's optional body may say: {"reason": "...", "dry_run": true,
 * "force": true}. */
struct cmd_body {
    char note[256];
    bool dry_run, force;
    char action[8]; /* POST /v1/outage: "start" or "end"; "" unsaid */
};

/* A boolean key of a command's body into *flag. 0, or -1 with why. */
static int bool_key(const char *key, json_t *v, bool *flag, char *why, size_t wlen)
{
    if (!json_is_boolean(v)) {
        snprintf(why, wlen, "body: %s: expected true or false", key);
        return -1;
    }
    *flag = json_is_true(v);
    return 0;
}

/* The optional body of a command (struct cmd_body). */
static int parse_body(const struct req *rq, struct cmd_body *b, char *why, size_t wlen)
{
    char *note = b->note;
    size_t len = sizeof(b->note);
    *b = (struct cmd_body){0};
    size_t i = 0;
    while (i < rq->len && strchr(" \t\r\n", rq->body[i]))
        i++;
    if (i == rq->len)
        return 0;
    json_error_t je;
    json_t *o = json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(why, wlen, "body: not JSON: %s (at byte %d)", je.text, je.position);
        return -1;
    }
    int rc = 0;
    const char *key;
    json_t *v;
    if (!json_is_object(o)) {
        snprintf(why, wlen, "body: expected a JSON object such as {\"reason\": \"...\"}");
        rc = -1;
    }
    json_object_foreach(o, key, v)
    {
        if (rc)
            break;
        if (!strcmp(key, "action")) {
            const char *act = json_string_value(v);
            if (!act || (strcmp(act, "start") && strcmp(act, "end"))) {
                snprintf(why, wlen, "body: action: expected \"start\" or \"end\"");
                rc = -1;
            } else {
                snprintf(b->action, sizeof(b->action), "%s", act);
            }
        } else if (!strcmp(key, "dry_run")) {
            rc = bool_key(key, v, &b->dry_run, why, wlen);
        } else if (!strcmp(key, "force")) {
            rc = bool_key(key, v, &b->force, why, wlen);
        } else if (strcmp(key, "reason")) {
            char shown[SHOW_ID + 8];
            show_id(shown, sizeof(shown), key);
            snprintf(why, wlen,
                     "body: unknown key '%s' (expected reason, dry_run, force or action)", shown);
            rc = -1;
        } else if (!json_is_string(v) || json_string_length(v) > 200) {
            snprintf(why, wlen, "body: reason: expected text of at most 200 bytes");
            rc = -1;
        } else {
            const char *s = json_string_value(v);
            size_t n = 0;
            for (; s[n] && n + 1 < len; n++)
                note[n] = (unsigned char)s[n] >= 0x20 ? s[n] : ' ';
            note[n] = '\0';
        }
    }
    json_decref(o);
    return rc;
}

/* Posts a command to the loop and parks its connection until the loop has
 * answered (command_done then sends the answer). */
static enum MHD_Result command(struct api *a, struct MHD_Connection *c, enum hub_cmd_kind kind,
                               const char *id, struct req *rq, const struct who *w)
{
    struct cmd_body b;
    char why[300];
    bool service =
        kind == HUB_PSU_OUT || kind == HUB_PSU_IN || kind == HUB_BUS_OUT || kind == HUB_BUS_IN;
    bool takes_out = kind == HUB_PSU_OUT || kind == HUB_BUS_OUT;
    if (parse_body(rq, &b, why, sizeof(why)))
        return send_error(c, 400, NULL, "%s", why);
    if (b.dry_run && !service)
        return send_error(c, 400, NULL, "body: dry_run goes with out-of-service and in-service");
    if (b.force && !takes_out)
        return send_error(c, 400, NULL, "body: force goes with out-of-service");
    bool outage = kind == HUB_OUTAGE_START || kind == HUB_OUTAGE_END;
    if (b.action[0] && !outage)
        return send_error(c, 400, NULL, "body: action goes with POST /v1/outage");
    if (outage && !b.action[0])
        return send_error(c, 400, NULL,
                          "body: POST /v1/outage needs {\"action\": \"start\"} or "
                          "{\"action\": \"end\"}");
    if (outage)
        kind = !strcmp(b.action, "start") ? HUB_OUTAGE_START : HUB_OUTAGE_END;
    /* a dry run lowers nothing, and each costs the loop a copy of the rack:
     * it is held to the command rate like a command that raises power */
    enum MHD_Result limited;
    if (b.dry_run && takes_out && rate_take(a, c, w, AUTH_RAISE, &limited))
        return limited;
    struct hub_cmd *cmd = hub_cmd_new(kind, id, b.note, w->name);
    if (!cmd)
        return send_error(c, 503, NULL, "out of memory");
    cmd->dry_run = b.dry_run;
    cmd->force = b.force;
    snprintf(cmd->role, sizeof(cmd->role), "%s", auth_role_name(w->role));
    pthread_mutex_lock(&a->mu);
    if (a->stopping) {
        pthread_mutex_unlock(&a->mu);
        hub_cmd_put(a->hub, cmd);
        return send_error(c, 503, NULL, "rackpowerd is stopping");
    }
    rq->cmd = cmd;
    rq->c = c;
    rq->deadline_ns = mono_ns() + (int64_t)API_CMD_TIMEOUT_MS * 1000000;
    rq->prev = NULL;
    rq->next = a->waiting;
    if (a->waiting)
        a->waiting->prev = rq;
    a->waiting = rq;
    rq->listed = rq->suspended = true;
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&a->mu);
    if (hub_post(a->hub, cmd)) { /* stopping: answered at once */
        pthread_mutex_lock(&a->mu);
        if (rq->suspended)
            resume_req(rq);
        pthread_mutex_unlock(&a->mu);
    }
    kick(a); /* a new deadline */
    return MHD_YES;
}

static void unlist(struct api *a, struct req *rq)
{
    if (!rq->listed)
        return;
    if (rq->prev)
        rq->prev->next = rq->next;
    else
        a->waiting = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->prev = rq->next = NULL;
    rq->listed = false;
}

/* The connection of a command is back: its answer, or why there is none. */
static enum MHD_Result command_done(struct api *a, struct MHD_Connection *c, struct req *rq)
{
    pthread_mutex_lock(&a->mu);
    unlist(a, rq);
    pthread_mutex_unlock(&a->mu);
    struct hub_cmd *cmd = rq->cmd;
    rq->cmd = NULL;
    enum MHD_Result ret;
    if (hub_cmd_answered(a->hub, cmd))
        ret = send_json(c, (unsigned)cmd->status, cmd->body);
    else if (hub_is_shutdown(a->hub))
        ret = send_error(c, 503, NULL, "rackpowerd is stopping");
    else
        ret = send_error(c, 503, NULL, "rackpowerd did not decide within %d s",
                         API_CMD_TIMEOUT_MS / 1000);
    hub_cmd_put(a->hub, cmd);
    return ret;
}

/* ---- routing ---- */

static const char *const no_args[] = {NULL};
static const char *const event_args[] = {"since", "limit", "tail", NULL};
static const char *const stream_args[] = {"since", NULL};
static const char *const history_args[] = {"from", "to", "step", NULL};

struct route {
    enum {
        R_STATUS,
        R_LIST,
        R_ITEM,
        R_CMD,
        R_EVENTS,
        R_STREAM,
        R_ADMIN,
        R_OUTAGE,
        R_OUTAGE_PLAN,
        R_HISTORY
    } kind;
    const char *what; /* "server", "psu", "bus" */
    enum hub_cmd_kind cmd;
    bool post;
    const char *const *args;
};

static bool is_id(const char *s, size_t n)
{
    if (n < 1 || n >= RACK_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("_.:-", s[i])))
            return false;
    return true;
}

/* Matches a path. id receives the element's id (possibly not an id at all:
 * the caller answers 404 for it). Returns 0 or -1 for no such path. */
static int match(const char *url, struct route *rt, char *id, size_t idlen)
{
    static const struct {
        const char *prefix, *what;
        enum hub_cmd_kind out, in;
    } kinds[] = {
        {"/v1/servers", "server", HUB_POWER_ON, HUB_POWER_OFF},
        {"/v1/psus", "psu", HUB_PSU_OUT, HUB_PSU_IN},
        {"/v1/buses", "bus", HUB_BUS_OUT, HUB_BUS_IN},
    };
    *rt = (struct route){.args = no_args};
    id[0] = '\0';
    if (!strcmp(url, "/v1/status")) {
        rt->kind = R_STATUS;
        return 0;
    }
    if (!strcmp(url, "/v1/events")) {
        rt->kind = R_EVENTS;
        rt->args = event_args;
        return 0;
    }
    if (!strcmp(url, "/v1/events/stream")) {
        rt->kind = R_STREAM;
        rt->args = stream_args;
        return 0;
    }
    if (!strcmp(url, "/v1/outage")) { /* GET, or POST {"action": ...} (route) */
        rt->kind = R_OUTAGE;
        return 0;
    }
    if (!strcmp(url, "/v1/outage/plan")) {
        rt->kind = R_OUTAGE_PLAN;
        return 0;
    }
    if (!strncmp(url, "/v1/history/psu/", 16)) { /* a PSU's telemetry (api_history.h) */
        rt->kind = R_HISTORY;
        rt->what = "psu";
        rt->args = history_args;
        snprintf(id, idlen, "%s", url + 16);
        return 0;
    }
    if (!strcmp(url, "/v1/reload") || !strcmp(url, "/v1/shutdown")) {
        rt->kind = R_ADMIN;
        rt->post = true;
        rt->cmd = url[4] == 'r' ? HUB_RELOAD : HUB_SHUTDOWN;
        return 0;
    }
    for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
        size_t pl = strlen(kinds[k].prefix);
        if (strncmp(url, kinds[k].prefix, pl))
            continue;
        const char *rest = url + pl;
        rt->what = kinds[k].what;
        if (!*rest) {
            rt->kind = R_LIST;
            return 0;
        }
        if (*rest != '/' || !rest[1])
            return -1;
        rest++;
        const char *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        snprintf(id, idlen, "%.*s", (int)(n < idlen - 1 ? n : idlen - 1), rest);
        if (!slash) {
            rt->kind = R_ITEM;
            return 0;
        }
        const char *verb = slash + 1;
        rt->kind = R_CMD;
        rt->post = true;
        if (k == 0 && !strcmp(verb, "power-on"))
            rt->cmd = kinds[k].out;
        else if (k == 0 && !strcmp(verb, "power-off"))
            rt->cmd = kinds[k].in;
        else if (k > 0 && !strcmp(verb, "out-of-service"))
            rt->cmd = kinds[k].out;
        else if (k > 0 && !strcmp(verb, "in-service"))
            rt->cmd = kinds[k].in;
        else if (kinds[k].out == HUB_PSU_OUT && !strcmp(verb, "risk-clear"))
            rt->cmd = HUB_PSU_RISK_CLEAR;
        else
            return -1;
        return 0;
    }
    return -1;
}

/* ---- who may ---- */

static enum auth_action action_of(const struct route *rt)
{
    if (!rt->post)
        return AUTH_READ;
    switch (rt->cmd) {
    case HUB_POWER_OFF:
    case HUB_PSU_OUT:
    case HUB_BUS_OUT:
        return AUTH_LOWER;
    case HUB_RELOAD:
        return AUTH_RELOAD;
    case HUB_SHUTDOWN:
        return AUTH_SHUTDOWN;
    default:
        return AUTH_RAISE;
    }
}

static enum MHD_Result send_unauthorized(struct MHD_Connection *c, const char *msg)
{
    json_t *o = json_pack("{ss}", "error", msg);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        text ? strlen(text) : 2, text ? text : "{}", MHD_RESPMEM_MUST_COPY);
    free(text);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"rackpowerd\"");
    enum MHD_Result ret = MHD_queue_response(c, 401, r);
    MHD_destroy_response(r);
    return ret;
}

/* The role of the peer on the local socket. */
static int local_peer(struct api *a, struct MHD_Connection *c, struct who *w)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    uid_t uid;
    gid_t gid, groups[PEER_GROUPS];
    size_t ngroups = PEER_GROUPS;
    if (!ci || auth_peer(ci->connect_fd, &uid, &gid, groups, &ngroups))
        return -1;
    w->role =
        auth_peer_role(uid, gid, groups, ngroups, a->self_uid, a->socket_group, a->socket_role);
    snprintf(w->name, sizeof(w->name), "uid:%u", (unsigned)uid);
    return 0;
}

/*
 * Who sent the request, before it is routed: the peer's uid on the local
 * socket; over TCP, after the Host and Origin checks, a bearer token or,
 * when plain_reads allows it, nobody (a reader). 0 with *w, or -1 when the
 * request was answered (refused).
 */
static int authorize(const struct listener *l, struct MHD_Connection *c, struct who *w,
                     enum MHD_Result *ret)
{
    struct api *a = l->a;
    *w = (struct who){0};
    if (l->local) {
        if (local_peer(a, c, w)) {
            *ret = send_error(c, 500, NULL, "cannot read the peer's credentials");
            return -1;
        }
        if (w->role == AUTH_NONE) {
            *ret = send_error(c, 403, NULL,
                              "%s may not use rackpowerd's socket (see "
                              "docs/security.md: socket_group, socket_role)",
                              w->name);
            return -1;
        }
        return 0;
    }
    /* A browser sends the name it looked up: a page of another site that
     * rebound its name to us is refused here. No Host at all is the strict
     * HTTP check's to refuse. */
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char shown[SHOW_ID + 8];
    if (host && !auth_host_ok(host, a->names, a->nnames)) {
        show_id(shown, sizeof(shown), host);
        *ret =
            send_error(c, 403, NULL, "Host '%s' is not a name of this server (api: hosts)", shown);
        return -1;
    }
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin && !auth_origin_ok(origin, a->origins, a->norigins)) {
        show_id(shown, sizeof(shown), origin);
        *ret = send_error(c, 403, NULL, "Origin '%s' is not allowed (api: origins)", shown);
        return -1;
    }
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *secret = auth_bearer(authz);
    if (authz && !secret) {
        *ret = send_unauthorized(c, "Authorization: expected Bearer TOKEN");
        return -1;
    }
    if (!secret) {
        if (a->plain_reads && !a->tls) {
            w->role = AUTH_VIEWER; /* reads only: commands need a token (permit) */
            return 0;
        }
        *ret = send_unauthorized(c, "a token is needed: Authorization: Bearer TOKEN "
                                    "(rackpowerctl token add), or the local socket");
        return -1;
    }
    pthread_rwlock_rdlock(&a->tokens_lock);
    const struct auth_token *t = auth_tokens_verify(&a->tokens, secret);
    if (t) {
        w->role = t->role;
        snprintf(w->name, sizeof(w->name), "%s", t->name);
    }
    pthread_rwlock_unlock(&a->tokens_lock);
    if (!t) {
        *ret = send_unauthorized(c, "unknown or revoked token");
        return -1;
    }
    return 0;
}

/* Whether w may do what rt is: role, a JSON body, the command rate. 0, or
 * -1 when the request was answered (refused). */
static int permit(struct api *a, struct MHD_Connection *c, const struct route *rt,
                  const struct who *w, enum MHD_Result *ret)
{
    enum auth_action act = action_of(rt);
    enum auth_role need = auth_needs(act);
    if (act != AUTH_READ && !w->name[0]) {
        *ret = send_unauthorized(c, "commands over TCP need a token: Authorization: Bearer "
                                    "TOKEN (rackpowerctl token add), or use the local socket");
        return -1;
    }
    if (w->role < need) {
        *ret = send_error(c, 403, NULL, "%s (%s) may not do this: it needs %s", w->name,
                          auth_role_name(w->role), auth_role_name(need));
        return -1;
    }
    if (act == AUTH_READ)
        return 0;
    /* A browser posts text/plain, a form or a multipart body across sites
     * without asking first; application/json it must ask for (CORS). */
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!auth_json_type(ct)) {
        char shown[SHOW_ID + 8];
        show_id(shown, sizeof(shown), ct ? ct : "none");
        *ret = send_error(c, 415, NULL, "commands need Content-Type: application/json (got %s)",
                          shown);
        return -1;
    }
    return rate_take(a, c, w, act, ret);
}

/* One of w's commands of kind act from the command rate. 0, or -1 when the
 * request was answered 429 (with Retry-After). */
static int rate_take(struct api *a, struct MHD_Connection *c, const struct who *w,
                     enum auth_action act, enum MHD_Result *ret)
{
    pthread_mutex_lock(&a->mu);
    int64_t wait_ms = auth_rate_take(&a->rate, w->name, act, mono_ns());
    pthread_mutex_unlock(&a->mu);
    if (wait_ms > 0) {
        char after[32];
        snprintf(after, sizeof(after), "%lld", (long long)((wait_ms + 999) / 1000));
        json_t *o = json_pack("{ss}", "error", "too many commands: try again later");
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        struct MHD_Response *r =
            text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY)
                 : NULL;
        free(text);
        if (!r) {
            *ret = MHD_NO;
            return -1;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, after);
        *ret = MHD_queue_response(c, 429, r);
        MHD_destroy_response(r);
        return -1;
    }
    return 0;
}

static enum MHD_Result route(const struct listener *l, struct MHD_Connection *c, const char *url,
                             const char *method, struct req *rq)
{
    struct api *a = l->a;
    char id[API_MAX_URL + 1], shown[SHOW_ID + 8], bad[SHOW_ID + 8];
    struct route rt;
    struct who w;
    enum MHD_Result refused;
    if (authorize(l, c, &w, &refused))
        return refused;
    if (strlen(url) > API_MAX_URL)
        return send_error(c, 414, NULL, "URL too long (at most %d bytes)", API_MAX_URL);
    if (match(url, &rt, id, sizeof(id))) {
        show_id(shown, sizeof(shown), url);
        return send_error(c, 404, NULL, "no such path '%s' (see docs/api.md)", shown);
    }
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool post = !strcmp(method, "POST");
    if (rt.kind == R_OUTAGE && post) { /* start or end, as its body says */
        rt.post = true;
        rt.cmd = HUB_OUTAGE_START;
    }
    if (rt.post ? !post : !get) {
        show_id(shown, sizeof(shown), method);
        const char *allowed = rt.kind == R_OUTAGE ? "GET, HEAD, POST"
                              : rt.post           ? "POST"
                                                  : "GET, HEAD";
        return send_error(c, 405, allowed, "method %s not allowed here (allowed: %s)", shown,
                          allowed);
    }
    if (rq->too_large)
        return send_error(c, 413, NULL, "request body too large (at most %d bytes)", API_MAX_BODY);
    if (unknown_args(c, rt.args, bad, sizeof(bad)))
        return send_error(c, 400, NULL, "unknown query parameter '%s'", bad);
    if (permit(a, c, &rt, &w, &refused))
        return refused;
    if ((rt.kind == R_ITEM || rt.kind == R_CMD || rt.kind == R_HISTORY) && !is_id(id, strlen(id))) {
        show_id(shown, sizeof(shown), id);
        return send_error(c, 404, NULL, "no %s '%s'", rt.what, shown);
    }
    switch (rt.kind) {
    case R_STATUS:
        return get_status(a, c);
    case R_LIST:
        return get_list(a, c, rt.what, NULL);
    case R_ITEM:
        return get_list(a, c, rt.what, id);
    case R_CMD:
    case R_ADMIN:
        return command(a, c, rt.cmd, id, rq, &w);
    case R_OUTAGE:
        if (rt.post)
            return command(a, c, HUB_OUTAGE_START, "", rq, &w);
        return get_outage(a, c);
    case R_OUTAGE_PLAN: /* the loop plans it on its rack: asked like a command */
        return command(a, c, HUB_OUTAGE_PLAN, "", rq, &w);
    case R_EVENTS:
        return get_events(a, c);
    case R_STREAM:
        return get_stream(a, c);
    case R_HISTORY:
        return get_history(a, c, id);
    }
    return send_error(c, 404, NULL, "no such path");
}

/* Called with the request target as it came, before libmicrohttpd decodes
 * it: the one place where a %00 can be seen (the decoded path the handler
 * gets ends there, so /v1/servers/db1/power-off%00junk would act on db1).
 * What it returns becomes the request's *con_cls. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct req *rq = calloc(1, sizeof(*rq));
    if (rq) {
        for (const char *p = strchr(uri, '%'); p; p = strchr(p + 1, '%'))
            if (p[1] == '0' && p[2] == '0')
                rq->raw_nul = true;
    }
    return rq;
}

struct content_length {
    const char *first;
    bool differ;
};

static enum MHD_Result check_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    struct content_length *k = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        return MHD_YES;
    if (!k->first)
        k->first = value;
    else if (strcmp(k->first, value))
        k->differ = true;
    return MHD_YES;
}

/* What makes a request ambiguous, or NULL. Two different lengths let a proxy
 * and this server disagree on where a request ends; a request without Host
 * cannot be checked against the names this server answers to. */
static const char *strict_http(struct MHD_Connection *c, const struct req *rq)
{
    struct content_length k = {0};
    if (rq->raw_nul)
        return "a NUL byte (%00) in the request target";
    if (!MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))
        return "missing Host header";
    MHD_get_connection_values(c, MHD_HEADER_KIND, check_length, &k);
    if (k.differ)
        return "two different Content-Length headers";
    return NULL;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version;
    const struct listener *l = cls;
    struct api *a = l->a;
    struct req *rq = *con_cls;
    if (!rq) { /* uri_seen had no memory */
        if (!(rq = calloc(1, sizeof(*rq))))
            return send_json(c, 503, "{\"error\":\"out of memory\"}");
        *con_cls = rq;
    }
    if (!rq->started) { /* headers are in */
        rq->started = true;
        const char *why = strict_http(c, rq);
        if (why) {
            rq->answered = true;
            return send_error(c, 400, NULL, "%s", why);
        }
        /* A body a little too large is read and dropped, then refused: an
         * answer sent while the client still sends is often lost (the close
         * resets the connection). A huge one is refused at once. */
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > API_DRAIN_BODY) {
            rq->too_large = rq->answered = true;
            return send_error(c, 413, NULL, "request body too large (at most %d bytes)",
                              API_MAX_BODY);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->len + *upload_size > API_MAX_BODY)
            rq->too_large = true;
        else {
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->answered)
        return MHD_YES;
    if (rq->cmd) /* resumed */
        return command_done(a, c, rq);
    return route(l, c, url, method, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    struct api *a = cls;
    struct req *rq = *con_cls;
    if (rq) {
        pthread_mutex_lock(&a->mu);
        unlist(a, rq); /* a command cut short (the daemon stopping) */
        pthread_mutex_unlock(&a->mu);
        if (rq->cmd)
            hub_cmd_put(a->hub, rq->cmd);
    }
    free(rq);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct api *a = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    /* a flood of bad requests or refused connections is one warning each:
     * a few lines, then a count */
    log_warnx_limited(&a->mhd_warnings, "api: %s", msg);
}

/* Room for every connection the API may hold: the soft limit on open files
 * is raised toward the hard one (systemd starts services at 1024). */
static void enough_files(void)
{
    struct rlimit rl;
    rlim_t want = API_MAX_CONNECTIONS + SPARE_FDS;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        log_warn("api: cannot raise the open files limit to %lu", (unsigned long)rl.rlim_cur);
}

/* How many connections fit under the open files limit. */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur >= API_MAX_CONNECTIONS + SPARE_FDS)
        return API_MAX_CONNECTIONS;
    return rl.rlim_cur > 2 * SPARE_FDS ? (unsigned)(rl.rlim_cur - SPARE_FDS) : SPARE_FDS;
}

/* A PEM file's text (NUL-terminated, malloc'd), or NULL with err. */
static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "api: %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_PEM_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_PEM_BYTES + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > MAX_PEM_BYTES || n == 0) {
        snprintf(err, errlen, "api: %s: %s", path,
                 !buf  ? "out of memory"
                 : bad ? "cannot read"
                 : n   ? "too large"
                       : "empty");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The names a Host header may carry: the listen address, localhost on
 * loopback, and the config's hosts. */
static void set_names(struct api *a)
{
    const struct rackfile_api *k = &a->conf;
    a->names[a->nnames++] = k->listen;
    if (!strncmp(k->listen, "127.", 4) || !strcmp(k->listen, "::1"))
        a->names[a->nnames++] = "localhost";
    for (size_t i = 0; i < k->nhosts && a->nnames < MAX_NAMES; i++)
        a->names[a->nnames++] = k->hosts[i];
    for (size_t i = 0; i < k->norigins; i++)
        a->origins[a->norigins++] = k->origins[i];
}

int api_reload_tokens(struct api *a, size_t *n, char *err, size_t errlen)
{
    struct auth_tokens t;
    bool missing;
    *n = 0;
    if (!a->tokens_path[0])
        return 0;
    if (auth_tokens_load(a->tokens_path, a->self_uid, &t, &missing, err, errlen))
        return -1;
    pthread_rwlock_wrlock(&a->tokens_lock);
    struct auth_tokens old = a->tokens;
    a->tokens = t;
    pthread_rwlock_unlock(&a->tokens_lock);
    auth_tokens_free(&old);
    *n = t.n;
    return 0;
}

/*
 * The local socket's listening fd at path, mode 0660, group a->socket_group;
 * -1 with err. A socket left by a daemon that died is replaced; one another
 * process answers on is not (err says so, *busy is set).
 */
static int listen_local(struct api *a, const char *path, bool *busy, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    *busy = false;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "api: socket %s: path too long", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "api: socket: %s", strerror(errno));
        return -1;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "api: socket %s: exists and is not a socket", path);
            close(fd);
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            snprintf(err, errlen, "api: socket %s: another process serves it", path);
            *busy = true;
            close(fd);
            return -1;
        }
        close(fd);
        unlink(path); /* left by a daemon that died */
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
            snprintf(err, errlen, "api: socket: %s", strerror(errno));
            return -1;
        }
    }
    /* Born 0600 whatever the umask (only the main thread runs here that
     * creates files), then opened to the group: nobody else is ever let in. */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc || (a->socket_group != (gid_t)-1 && chown(path, (uid_t)-1, a->socket_group)) ||
        chmod(path, 0660) || listen(fd, 64)) {
        snprintf(err, errlen, "api: socket %s: %s", path, strerror(errno));
        if (!rc)
            unlink(path);
        close(fd);
        return -1;
    }
    return fd;
}

/* The local socket's own daemon, when there is a socket. 0, or -1 with err;
 * a socket another process serves is left to it (logged, 0). */
static int start_local(struct api *a, const struct api_opts *o, unsigned flags, char *err,
                       size_t errlen)
{
    if (!o->socket_path || !o->socket_path[0])
        return 0;
    bool busy;
    int fd = listen_local(a, o->socket_path, &busy, err, errlen);
    if (fd < 0 && busy) {
        log_warnx("%s; no local socket", err);
        return 0;
    }
    if (fd < 0)
        return -1;
    snprintf(a->socket_path, sizeof(a->socket_path), "%s", o->socket_path);
    a->local_mhd = MHD_start_daemon(
        flags & ~(unsigned)MHD_USE_IPv6, 0, NULL, NULL, handler, &a->local,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, completed, a, MHD_OPTION_URI_LOG_CALLBACK, uri_seen, a,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)LOCAL_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)API_IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!a->local_mhd) {
        snprintf(err, errlen, "api: cannot serve the socket %s", o->socket_path);
        close(fd);
        return -1;
    }
    return 0;
}

struct api *api_start(const struct api_opts *o, char *err, size_t errlen)
{
    struct api *a = calloc(1, sizeof(*a));
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
    const struct sockaddr *sa;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->hub = o->hub;
    a->keepalive_ms = o->keepalive_ms > 0 ? o->keepalive_ms : 15000;
    a->wake_fd = -1;
    snprintf(a->db_path, sizeof(a->db_path), "%s", o->db_path);
    snprintf(a->hist_path, sizeof(a->hist_path), "%s", o->hist_path ? o->hist_path : "");
    pthread_mutex_init(&a->mu, NULL);
    log_limit_init(&a->mhd_warnings, API_WARN_BURST, API_WARN_WINDOW_S);
    pthread_rwlock_init(&a->tokens_lock, NULL);
    a->tcp = (struct listener){.a = a};
    a->local = (struct listener){.a = a, .local = true};
    a->self_uid = geteuid();
    a->socket_group = (gid_t)-1;
    if (o->conf)
        a->conf = *o->conf;
    else
        snprintf(a->conf.listen, sizeof(a->conf.listen), "%s", o->listen);
    a->plain_reads = a->conf.plain_reads != 0;
    a->socket_role = (enum auth_role)a->conf.socket_role;
    auth_rate_init(&a->rate, (double)a->conf.command_rate_milli / 1000.0, a->conf.command_burst);
    set_names(a);
    if (a->conf.socket_group[0]) {
        struct group *g = getgrnam(a->conf.socket_group); /* before any request thread */
        if (!g) {
            snprintf(err, errlen, "api: socket_group: no group '%s'", a->conf.socket_group);
            api_stop(a);
            return NULL;
        }
        a->socket_group = g->gr_gid;
    }
    snprintf(a->tokens_path, sizeof(a->tokens_path), "%s", o->tokens_path ? o->tokens_path : "");
    size_t ntokens;
    if (api_reload_tokens(a, &ntokens, err, errlen)) {
        api_stop(a);
        return NULL;
    }
    if (a->conf.tls_cert[0]) {
        if (!(a->tls_cert = read_pem(a->conf.tls_cert, err, errlen)) ||
            !(a->tls_key = read_pem(a->conf.tls_key, err, errlen))) {
            api_stop(a);
            return NULL;
        }
        a->tls = true;
    }
    if (inet_pton(AF_INET, o->listen, &v4.sin_addr) == 1) {
        v4.sin_port = htons((uint16_t)o->port);
        sa = (const struct sockaddr *)&v4;
    } else if (inet_pton(AF_INET6, o->listen, &v6.sin6_addr) == 1) {
        v6.sin6_port = htons((uint16_t)o->port);
        sa = (const struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "api: listen: '%s' is not an IP address", o->listen);
        api_stop(a);
        return NULL;
    }
    if ((a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        snprintf(err, errlen, "api: eventfd: %s", strerror(errno));
        api_stop(a);
        return NULL;
    }
    enough_files();
    hub_watch(a->hub, on_hub, a);
    errno = 0;
    /* the certificate and key only when there are (the option list ends
     * before them otherwise) */
    a->mhd = MHD_start_daemon(
        flags | (a->tls ? MHD_USE_TLS : 0), (uint16_t)o->port, NULL, NULL, handler, &a->tcp,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a, /* first: see its doc */
        MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_NOTIFY_COMPLETED, completed, a,
        MHD_OPTION_URI_LOG_CALLBACK, uri_seen, a, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)API_THREADS, MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)API_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)API_IDLE_TIMEOUT_S, a->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
        a->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, a->tls_key, MHD_OPTION_END);
    if (!a->mhd) {
        snprintf(err, errlen, "api: cannot listen on %s port %d: %s", o->listen, o->port,
                 errno ? strerror(errno) : "libmicrohttpd failed to start");
        api_stop(a);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
    a->port = info ? info->port : (unsigned)o->port;
    if (start_local(a, o, flags, err, errlen)) {
        api_stop(a);
        return NULL;
    }
    if (pthread_create(&a->resumer, NULL, resumer, a)) {
        snprintf(err, errlen, "api: cannot start a thread");
        api_stop(a);
        return NULL;
    }
    a->resumer_started = true;
    return a;
}

unsigned api_port(const struct api *a)
{
    return a ? a->port : 0;
}

bool api_tls(const struct api *a)
{
    return a && a->tls;
}

const char *api_socket(const struct api *a)
{
    return a ? a->socket_path : "";
}

void api_stop(struct api *a)
{
    if (!a)
        return;
    /* Nothing parks any more and everything parked is resumed (ends):
     * libmicrohttpd must not be stopped with suspended connections. */
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    pthread_mutex_unlock(&a->mu);
    if (a->resumer_started) {
        kick(a);
        pthread_join(a->resumer, NULL);
    }
    pthread_mutex_lock(&a->mu);
    for (struct stream *s = a->parkable; s; s = s->next)
        if (s->suspended)
            resume_stream(s);
    for (struct req *rq = a->waiting; rq; rq = rq->next)
        if (rq->suspended)
            resume_req(rq);
    pthread_mutex_unlock(&a->mu);
    if (a->mhd)
        MHD_stop_daemon(a->mhd);
    if (a->local_mhd)
        MHD_stop_daemon(a->local_mhd); /* closes the listening socket */
    if (a->socket_path[0])
        unlink(a->socket_path);
    if (a->hub)
        hub_watch(a->hub, NULL, NULL);
    log_limit_flush(&a->mhd_warnings);
    log_limit_fini(&a->mhd_warnings);
    if (a->wake_fd >= 0)
        close(a->wake_fd);
    pthread_mutex_destroy(&a->mu);
    pthread_rwlock_destroy(&a->tokens_lock);
    auth_tokens_free(&a->tokens);
    free(a->tls_cert);
    free(a->tls_key);
    free(a);
}
