/*
 * rackpowerctl - the operator's command line for rackpowerd (docs/api.md).
 *
 * Each command is one request to the API; the answer is printed as a table
 * (or raw JSON with --json). Exit 0 done, 1 the daemon refused or could not
 * be reached (one line on stderr saying why), 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "evjson.h"
#include "http.h"
#include "sse.h"

#define TIMEOUT_MS 15000
#define DEFAULT_API "http://127.0.0.1:8470"
#define SYSTEM_SOCKET "/run/rackpower/rackpowerd.sock"
#define DEFAULT_TOKENS "/etc/rackpower/tokens"

struct opts {
    struct http_api *api; /* not const: it remembers which controller answered */
    bool json, follow;
    long tail;
    long long since;
    const char *reason;
    bool dry_run, force;
    const char *from, *to, *step; /* history: as given (the API checks them) */
    bool csv;
};

static void usage(FILE *f)
{
    fputs("usage: rackpowerctl [--api URL[,URL...] | --unix-socket PATH] [--cacert FILE]\n"
          "                    [--token-file FILE] [--json] COMMAND\n"
          "  status                          the rack: protection, capacity, allocation\n"
          "  alarms                          the active alarms: kind, subject, since, why\n"
          "  servers | psus | buses          every server, PSU or bus bar\n"
          "  servers ID                      one server: state, grant, draw, queue position, why\n"
          "  events [--tail N | --since ID] [--follow]\n"
          "                                  the journal (last 20); --follow waits for more\n"
          "  power-on ID | power-off ID      ask power for a server, or release it\n"
          "  out-of-service psu|bus ID [--dry-run | --force]\n"
          "                                  take a PSU or bus out: the policy sees it fail,\n"
          "                                  a PSU's switch opens; refused when it would shed\n"
          "                                  or cap anyone, unless --force\n"
          "  in-service psu|bus ID [--dry-run]\n"
          "                                  put it back\n"
          "  risk-clear ID                   a PSU predicted to fail is not (a false alarm):\n"
          "                                  it counts for protection again\n"
          "  history psu ID [--from T] [--to T] [--step S] [--csv]\n"
          "                                  a PSU's telemetry history: T Unix seconds, now\n"
          "                                  or before now (-90m, -24h, -7d); S seconds or\n"
          "                                  10s, 1m, 1h (0: raw readings; default by the\n"
          "                                  span); --csv: the history CSV of\n"
          "                                  rackpower-predict (averages per step)\n"
          "  outage status                   the outage: cause, reserves, activities, stops, plan\n"
          "  outage plan                     what the planner would do if mains failed now\n"
          "                                  (nothing acts)\n"
          "  outage start | outage end       the operator says the power is out, or back\n"
          "  reload | shutdown               reload the config and tokens, or stop (admin)\n"
          "  token add NAME --role ROLE      a new API token (viewer, operator, admin),\n"
          "                                  printed once; written to the tokens file\n"
          "  token list | token revoke NAME  the tokens in the file; remove one\n"
          "options:\n"
          "  --api URL[,URL...]\n"
          "                 rackpowerd's API over TCP, http:// or https:// (default\n"
          "                 $RACKPOWER_API; without either, the local socket when it\n"
          "                 exists, else " DEFAULT_API "); several: the controllers\n"
          "                 of one rack, the first that answers is used\n"
          "  --cacert FILE  check an https server's certificate against the CAs in FILE\n"
          "                 (default: the system's); it is always checked\n"
          "  --unix-socket PATH\n"
          "                 reach rackpowerd over this Unix-domain socket (the URL still\n"
          "                 gives the path prefix and Host); default $RACKPOWER_SOCKET,\n"
          "                 else " SYSTEM_SOCKET ",\n"
          "                 else the user's own (rackpower.yaml(5): socket), when it exists\n"
          "  --token-file FILE\n"
          "                 send the token in FILE (default $RACKPOWER_TOKEN's token)\n"
          "  --tokens FILE  the tokens file of token add|list|revoke (default\n"
          "                 " DEFAULT_TOKENS ")\n"
          "  --role ROLE    token add: viewer, operator or admin\n"
          "  --json         print the API's JSON as it comes\n"
          "  --reason TEXT  why, for power-on/off, (in|out-of)-service, risk-clear and\n"
          "                 outage start|end: goes in the journal\n"
          "  --from T, --to T, --step S, --csv\n"
          "                 history: the span (default the last hour), the step, CSV out\n"
          "  --dry-run      (in|out-of)-service: show what it would do, change nothing\n"
          "  --force        out-of-service: do it even when it sheds or caps servers\n"
          "  -h, --help     print this and exit\n",
          f);
}

static void die(const char *msg)
{
    fprintf(stderr, "rackpowerctl: %s\n", msg);
    exit(1);
}

/* The answer's "error", or the status when it has none. */
static void die_answer(const struct http_response *r)
{
    json_t *o = json_loads(r->body, 0, NULL);
    const char *e = json_string_value(json_object_get(o, "error"));
    char msg[600];
    if (e)
        snprintf(msg, sizeof(msg), "%s", e);
    else
        snprintf(msg, sizeof(msg), "rackpowerd answered %d", r->status);
    json_decref(o);
    die(msg);
}

/* Sends a request; dies on any failure; returns the parsed 2xx answer. */
static json_t *call(const struct opts *o, const char *method, const char *path, const char *body,
                    struct http_response *raw)
{
    char err[600];
    if (http_request(o->api, method, path, body, TIMEOUT_MS, raw, err, sizeof(err)))
        die(err);
    if (raw->status < 200 || raw->status > 299)
        die_answer(raw);
    json_error_t je;
    json_t *j = json_loadb(raw->body, raw->len, 0, &je);
    if (!j) {
        snprintf(err, sizeof(err), "rackpowerd's answer is not JSON: %s", je.text);
        die(err);
    }
    return j;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* A number in W rounded to a whole watt (half away from zero), or "-" for
 * null: tables show whole watts; --json has the API's figures, fractional
 * where a device measured them. */
static void fmt_w(char *buf, size_t len, json_t *v)
{
    if (json_is_number(v))
        snprintf(buf, len, "%lld", (long long)llround(json_number_value(v)));
    else
        snprintf(buf, len, "-");
}

/* Unix time as local ISO 8601 with its offset, to the second:
 * "2026-11-30T21:04:05+01:00" ("-" when not a number). */
static void fmt_time(char *buf, size_t len, json_t *v)
{
    struct tm tm;
    char off[8];
    time_t t = json_is_number(v) ? (time_t)floor(json_number_value(v)) : 0;
    if (!json_is_number(v) || !localtime_r(&t, &tm) ||
        !strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) || !strftime(off, sizeof(off), "%z", &tm) ||
        strlen(off) != 5) {
        snprintf(buf, len, "-");
        return;
    }
    size_t n = strlen(buf); /* %z is +hhmm; ISO 8601's extended form is +hh:mm */
    snprintf(buf + n, len - n, "%.3s:%.2s", off, off + 3);
}

static void join_array(char *buf, size_t len, json_t *a)
{
    size_t i;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach(a, i, v)
    {
        size_t n = strlen(buf);
        snprintf(buf + n, len - n, "%s%s", i ? "," : "", json_string_value(v));
    }
}

/* ---- events, as the simulator prints them ---- */

/* id, wall-clock time, the event's columns, then the operator's note (unless
 * the reason already ends with it, as an out-of-service's does) */
static void print_event(json_t *ev)
{
    struct evjson_text x;
    char cols[1024], when[64];
    evjson_text(ev, &x);
    evjson_columns(&x, cols, sizeof(cols));
    fmt_time(when, sizeof(when), json_object_get(ev, "time"));
    const char *note = json_string_value(json_object_get(ev, "note"));
    size_t nl = note ? strlen(note) : 0, wl = strlen(x.why);
    if (note && (!*note || (wl >= nl && !strcmp(x.why + wl - nl, note))))
        note = NULL;
    printf("%6lld %s  %s%s%s%s\n", (long long)json_integer_value(json_object_get(ev, "id")), when,
           cols, note ? " [note: " : "", note ? note : "", note ? "]" : "");
}

static void print_event_json(json_t *ev)
{
    char *s = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (s)
        puts(s);
    free(s);
}

struct follow {
    const struct opts *o;
    struct sse sse;
};

static int on_event(void *arg, const char *data)
{
    struct follow *f = arg;
    json_t *ev = json_loads(data, JSON_DECODE_ANY, NULL);
    if (f->o->json || !ev)
        puts(data);
    else
        print_event(ev);
    json_decref(ev);
    fflush(stdout);
    return 0;
}

static int on_bytes(void *arg, const char *data, size_t len)
{
    struct follow *f = arg;
    return sse_feed(&f->sse, data, len, on_event, f) < 0 ? -1 : 0;
}

static int cmd_events(const struct opts *o)
{
    char path[128], err[600];
    struct http_response raw;
    if (o->since >= 0)
        snprintf(path, sizeof(path), "/v1/events?since=%lld&limit=1000", o->since);
    else
        snprintf(path, sizeof(path), "/v1/events?tail=%ld", o->tail);
    json_t *j = call(o, "GET", path, NULL, &raw);
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(j, "events"), i, ev)
    {
        if (o->json)
            print_event_json(ev);
        else
            print_event(ev);
    }
    fflush(stdout);
    long long last = (long long)json_integer_value(json_object_get(j, "last_event_id"));
    json_decref(j);
    http_response_free(&raw);
    if (!o->follow)
        return 0;
    /* from where the list ended: nothing missed, nothing twice */
    snprintf(path, sizeof(path), "/v1/events/stream?since=%lld", last);
    struct follow f = {.o = o};
    int status = 0;
    if (http_stream(o->api, path, on_bytes, &f, &status, &raw, err, sizeof(err)))
        die(status == 200 ? "the event stream ended: rackpowerd stopped" : err);
    sse_free(&f.sse);
    if (status < 200 || status > 299)
        die_answer(&raw);
    http_response_free(&raw);
    die("rackpowerd closed the event stream");
    return 1;
}

/* ---- readings' ages (docs/api.md): a stale figure gets a trailing '?' ---- */

/* A reading's figure in W, "851?" when its object says it is stale. */
static void fmt_read_w(char *buf, size_t len, json_t *obj, const char *key)
{
    fmt_w(buf, len, json_object_get(obj, key));
    size_t n = strlen(buf);
    if (json_is_true(json_object_get(obj, "stale")) && strcmp(buf, "-") && n + 1 < len)
        memcpy(buf + n, "?", 2);
}

/* An age in seconds: "0.4s", "47s"; "-" when never read (null). */
static void fmt_age(char *buf, size_t len, json_t *age)
{
    if (!json_is_number(age))
        snprintf(buf, len, "-");
    else if (json_number_value(age) < 10)
        snprintf(buf, len, "%.1fs", json_number_value(age));
    else
        snprintf(buf, len, "%.0fs", json_number_value(age));
}

/* Under a table with stale figures, what the mark means. */
static void stale_footnote(json_t *list)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) if (json_is_true(json_object_get(o, "stale")))
    {
        printf("? stale: not read for more than 3 polls of its device, at least 3 s (AGE: since "
               "its last read)\n");
        return;
    }
}

/*
 * The headline's protection: "n+1 protected", "n+1 NOT protected", or, while
 * PSUs the protection check depends on cannot be read, what is unknown:
 * "n+1 unknown: ps1, ps2 unreadable for 12 s". A rack protected without
 * them is protected, and says which are not counted.
 */
static void fmt_protection(char *buf, size_t len, json_t *j)
{
    json_t *unknown = json_object_get(j, "unknown");
    bool prot = json_is_true(json_object_get(j, "protected"));
    size_t n = json_array_size(unknown);
    if (!n) {
        snprintf(buf, len, "%s %s", str(j, "protection"), prot ? "protected" : "NOT protected");
        return;
    }
    char names[160] = "";
    double least = -1;
    size_t i;
    json_t *u;
    json_array_foreach(unknown, i, u)
    {
        size_t o = strlen(names);
        if (i < 4)
            snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "", str(u, "psu"));
        else if (i == 4)
            snprintf(names + o, sizeof(names) - o, " and %zu more", n - 4);
        json_t *age = json_object_get(u, "age_s");
        if (json_is_number(age) && (least < 0 || json_number_value(age) < least))
            least = json_number_value(age);
    }
    char how[48];
    if (least < 0)
        snprintf(how, sizeof(how), "never read");
    else
        snprintf(how, sizeof(how), "unreadable for %.0f s", least);
    if (prot)
        snprintf(buf, len, "%s protected (not counting %s: %s)", str(j, "protection"), names, how);
    else
        snprintf(buf, len, "%s unknown: %s %s", str(j, "protection"), names, how);
}

/* ---- tables ---- */

/* A member of a cluster: "node 2: secondary, epoch 769, primary node 3;
 * peers: 1 dead (last heard 2026-...), 3 alive", and what the rack bus
 * dropped. Nothing for a lone controller (node null). */
static void print_node(json_t *j)
{
    json_t *node = json_object_get(j, "node");
    if (!json_is_integer(node))
        return;
    json_t *prim = json_object_get(j, "primary");
    char who[32];
    if (json_is_integer(prim))
        snprintf(who, sizeof(who), "node %lld", (long long)json_integer_value(prim));
    else
        snprintf(who, sizeof(who), "none known");
    printf("node %lld: %s, epoch %lld, primary %s", (long long)json_integer_value(node),
           str(j, "role"), (long long)json_integer_value(json_object_get(j, "epoch")), who);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(j, "peers"), i, p)
    {
        printf("%s%lld %s",
               i ? ", " : "; peers: ", (long long)json_integer_value(json_object_get(p, "node")),
               str(p, "state"));
        if (strcmp(str(p, "state"), "alive") && json_is_string(json_object_get(p, "last_heard")))
            printf(" (last heard %s)", str(p, "last_heard"));
    }
    printf("\n");
    json_t *bus = json_object_get(j, "rackbus");
#define B(k) ((long long)json_integer_value(json_object_get(bus, k)))
    if (B("forged") || B("replayed") || B("unverified"))
        printf("rack bus: dropped %lld forged, %lld replayed, %lld unverified datagrams\n",
               B("forged"), B("replayed"), B("unverified"));
#undef B
}

static void print_status(json_t *j)
{
    json_t *c = json_object_get(j, "counts");
    char cap[32], alloc[32], prot[256];
    fmt_w(cap, sizeof(cap), json_object_get(j, "capacity_w"));
    fmt_w(alloc, sizeof(alloc), json_object_get(j, "allocated_w"));
    fmt_protection(prot, sizeof(prot), j);
#define N(k) ((long long)json_integer_value(json_object_get(c, k)))
    printf("rack %s: %s%s; %s of %s W allocated\n", str(j, "name"), prot,
           json_is_true(json_object_get(j, "redundancy_lost")) ? ", redundancy lost" : "", alloc,
           cap);
    print_node(j);
    printf("servers: %lld (%lld on, %lld capped, %lld shed, %lld waiting, %lld off)\n",
           N("servers"), N("on"), N("capped"), N("shed"), N("waiting"), N("off"));
    printf("psus: %lld (%lld failed); buses: %lld (%lld failed)\n", N("psus"), N("psus_failed"),
           N("buses"), N("buses_failed"));
    if (json_is_number(json_object_get(j, "loss_w"))) { /* docs/balancing.md */
        char loss[32];
        fmt_w(loss, sizeof(loss), json_object_get(j, "loss_w"));
        printf("conversion loss: %s W (balancing %s)\n", loss, str(j, "balance"));
    }
    printf("alarms: %zu\n", json_array_size(json_object_get(j, "alarms")));
    const char *held = json_string_value(json_object_get(j, "raises_held"));
    if (held) /* decisions that raise power wait: why */
        printf("raising power held: %s\n", held);
    json_t *out = json_object_get(j, "outage");
    if (json_is_object(out)) {
        char wh[32] = "-", rt[32] = "-";
        json_t *v = json_object_get(out, "wh_left");
        if (json_is_number(v))
            snprintf(wh, sizeof(wh), "%.0f Wh", json_number_value(v));
        v = json_object_get(out, "top_runtime_s");
        if (json_is_number(v))
            snprintf(rt, sizeof(rt), "%.0f s", json_number_value(v));
        printf("outage: %s (%s) for %.0f s, %lld stages; %s left, most important set %s: %s\n",
               str(out, "state"), str(out, "cause"),
               json_number_value(json_object_get(out, "for_s")),
               (long long)json_integer_value(json_object_get(out, "stages")), wh, rt,
               str(out, "reason"));
    }
    json_t *stale = json_object_get(j, "stale");
    long long sp = (long long)json_integer_value(json_object_get(stale, "psus"));
    long long ss = (long long)json_integer_value(json_object_get(stale, "servers"));
    if (sp || ss)
        printf("stale: %lld psu readings, %lld server draws (not read for more than 3 polls)\n", sp,
               ss);
#undef N
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(j, "devices"), i, d)
    {
        const char *e = json_string_value(json_object_get(d, "error"));
        char last[64] = "";
        if (json_is_true(json_object_get(d, "stale")) ||
            (e && json_is_number(json_object_get(d, "age_s")))) {
            char age[32];
            fmt_age(age, sizeof(age), json_object_get(d, "age_s"));
            snprintf(last, sizeof(last), " (last read %s ago)", age);
        }
        printf("device %s: %s%s%s%s\n", str(d, "device"), str(d, "state"), e ? ": " : "",
               e ? e : "", last);
        size_t k;
        json_t *u;
        json_array_foreach(json_object_get(d, "units"), k, u)
        {
#define U(key) ((long long)json_integer_value(json_object_get(u, key)))
            const char *le = json_string_value(json_object_get(u, "last_error"));
            printf("  unit %3lld %-15s %-8s %lld ok, %lld timeouts, %lld crc errors, %lld "
                   "exceptions, %lld retries, %lld/%lld writes failed%s%s\n",
                   U("unit"), str(u, "kind"), str(u, "state"), U("ok"), U("timeouts"),
                   U("crc_errors"), U("exceptions"), U("retries"), U("write_errors"), U("writes"),
                   le ? "; last: " : "", le ? le : "");
#undef U
        }
    }
    char started[64];
    fmt_time(started, sizeof(started), json_object_get(j, "started"));
    printf("events: %lld, up %.0f s (started %s)\n",
           (long long)json_integer_value(json_object_get(j, "last_event_id")),
           json_number_value(json_object_get(j, "t")), started);
}

/* A daemon without alarms in its status has none to show. */
static void print_alarms(json_t *j)
{
    json_t *alarms = json_object_get(j, "alarms");
    if (!json_array_size(alarms)) {
        printf("no active alarms\n");
        return;
    }
    /* since counts from the start, as an event's t: the wall clock is the
     * start's time plus it */
    json_t *started = json_object_get(j, "started");
    printf("%-16s %-12s %-25s  %s\n", "KIND", "SUBJECT", "SINCE", "REASON");
    size_t i;
    json_t *a;
    json_array_foreach(alarms, i, a)
    {
        char since[64] = "-";
        json_t *at = json_is_number(json_object_get(a, "since")) && json_is_number(started)
                         ? json_real(json_number_value(started) +
                                     json_number_value(json_object_get(a, "since")))
                         : json_null();
        fmt_time(since, sizeof(since), at);
        json_decref(at);
        printf("%-16s %-12s %-25s  %s\n", str(a, "kind"), str(a, "subject"), since,
               str(a, "reason"));
    }
}

static void print_servers(json_t *j)
{
    size_t i;
    json_t *s;
    char watts[32], asks[32], draw[32], buses[64], queue[32], age[32];
    printf("%-12s %-8s %8s %8s %5s %-8s %-10s %8s %5s %6s\n", "ID", "STATE", "GRANT W", "ASKS W",
           "PRIO", "BUSES", "CHASSIS", "DRAW W", "QUEUE", "AGE");
    json_array_foreach(json_object_get(j, "servers"), i, s)
    {
        fmt_w(watts, sizeof(watts), json_object_get(s, "watts"));
        fmt_w(asks, sizeof(asks), json_object_get(s, "power_w"));
        fmt_read_w(draw, sizeof(draw), s, "draw_w");
        fmt_w(queue, sizeof(queue), json_object_get(s, "queue_position"));
        fmt_age(age, sizeof(age), json_object_get(s, "age_s"));
        join_array(buses, sizeof(buses), json_object_get(s, "buses"));
        printf("%-12s %-8s %8s %8s %5lld %-8s %-10s %8s %5s %6s\n", str(s, "id"), str(s, "state"),
               watts, asks, (long long)json_integer_value(json_object_get(s, "priority")), buses,
               str(s, "chassis"), draw, queue, age);
    }
    stale_footnote(json_object_get(j, "servers"));
}

/* One server in one line: "ml1: waiting, priority 5, granted 0 of 3000 W,
 * draws - W, queue position 1; queued: n+1: ..." */
static void print_server(json_t *s)
{
    char watts[32], asks[32], draw[32], queue[48] = "not queued";
    fmt_w(watts, sizeof(watts), json_object_get(s, "watts"));
    fmt_w(asks, sizeof(asks), json_object_get(s, "power_w"));
    fmt_read_w(draw, sizeof(draw), s, "draw_w");
    json_t *q = json_object_get(s, "queue_position");
    if (json_is_integer(q))
        snprintf(queue, sizeof(queue), "queue position %lld", (long long)json_integer_value(q));
    const char *why = json_string_value(json_object_get(s, "reason"));
    printf("%s: %s, priority %lld, granted %s of %s W, draws %s W, %s; %s\n", str(s, "id"),
           str(s, "state"), (long long)json_integer_value(json_object_get(s, "priority")), watts,
           asks, draw, queue, why ? why : "no decision about it on record");
}

/* A PSU's predicted risk: "0.012", "0.83!" at risk, "-" none yet ("-!" at
 * risk without one: still at risk from before a restart or a fail-over). */
static void fmt_risk(char *buf, size_t len, json_t *p)
{
    json_t *r = json_object_get(p, "risk");
    const char *mark = json_is_true(json_object_get(p, "at_risk")) ? "!" : "";
    if (!json_is_number(r))
        snprintf(buf, len, "-%s", mark);
    else
        snprintf(buf, len, "%.3g%s", json_number_value(r), mark);
}

static void print_psus(json_t *j)
{
    size_t i;
    json_t *p;
    char cap[32], rated[32], out[32], age[32], load[32], loss[32], risk[32];
    int at_risk = 0;
    printf("%-10s %-9s %-4s %-5s %10s %9s %-6s %-8s %8s %6s %-7s %6s %6s %6s\n", "ID", "STATE",
           "OOS", "BUS", "CAPACITY W", "RATED W", "FEED", "SWITCH", "OUTPUT W", "AGE", "STANDBY",
           "LOAD W", "LOSS W", "RISK");
    json_array_foreach(json_object_get(j, "psus"), i, p)
    {
        fmt_w(cap, sizeof(cap), json_object_get(p, "capacity_w"));
        fmt_w(rated, sizeof(rated), json_object_get(p, "rated_w"));
        fmt_read_w(out, sizeof(out), p, "output_w");
        fmt_age(age, sizeof(age), json_object_get(p, "age_s"));
        fmt_w(load, sizeof(load), json_object_get(p, "load_w"));
        fmt_w(loss, sizeof(loss), json_object_get(p, "loss_w"));
        fmt_risk(risk, sizeof(risk), p);
        at_risk += json_is_true(json_object_get(p, "at_risk"));
        printf("%-10s %-9s %-4s %-5s %10s %9s %-6s %-8s %8s %6s %-7s %6s %6s %6s\n", str(p, "id"),
               str(p, "state"), json_is_true(json_object_get(p, "out_of_service")) ? "yes" : "no",
               str(p, "bus"), cap, rated, str(p, "feed"), str(p, "switch"), out, age,
               json_is_true(json_object_get(p, "standby")) ? "yes" : "no", load, loss, risk);
    }
    stale_footnote(json_object_get(j, "psus"));
    if (!at_risk)
        return;
    json_array_foreach(json_object_get(j, "psus"), i, p)
    {
        json_t *ttf = json_object_get(p, "ttf_s");
        double t = json_is_number(ttf) ? json_number_value(ttf) : NAN;
        char when[32];
        if (isnan(t))
            snprintf(when, sizeof(when), "unknown");
        else if (t < 3600)
            snprintf(when, sizeof(when), "%.0f s", t);
        else if (t < 4 * 86400)
            snprintf(when, sizeof(when), "%.1f h", t / 3600);
        else
            snprintf(when, sizeof(when), "%.1f d", t / 86400);
        json_t *figure = json_object_get(p, "risk");
        if (!json_is_true(json_object_get(p, "at_risk")))
            continue;
        if (!json_is_true(json_object_get(p, "risk_adopted")))
            printf("! %s predicted to fail: risk %.2f, time to failure about %s\n", str(p, "id"),
                   json_number_value(figure), when);
        else if (json_is_number(figure)) /* its window's word now, not why it is at risk */
            printf("! %s predicted to fail before a restart or fail-over; its window now: risk "
                   "%.2f\n",
                   str(p, "id"), json_number_value(figure));
        else /* its window holds too little */
            printf("! %s predicted to fail before a restart or fail-over; its window now: risk "
                   "unknown\n",
                   str(p, "id"));
    }
}

static void print_buses(json_t *j)
{
    size_t i;
    json_t *b;
    char cap[32], load[32], psus[256];
    printf("%-8s %-7s %-4s %10s %9s %s\n", "ID", "STATE", "OOS", "CAPACITY W", "LOAD W", "PSUS");
    json_array_foreach(json_object_get(j, "buses"), i, b)
    {
        fmt_w(cap, sizeof(cap), json_object_get(b, "capacity_w"));
        fmt_w(load, sizeof(load), json_object_get(b, "load_w"));
        join_array(psus, sizeof(psus), json_object_get(b, "psus"));
        printf("%-8s %-7s %-4s %10s %9s %s\n", str(b, "id"), str(b, "state"),
               json_is_true(json_object_get(b, "out_of_service")) ? "yes" : "no", cap, load, psus);
    }
}

/* ---- commands ---- */

static char *reason_body(const struct opts *o)
{
    if (!o->reason && !o->dry_run && !o->force)
        return NULL;
    json_t *b = json_object();
    if (b && o->reason)
        json_object_set_new(b, "reason", json_string(o->reason));
    if (b && o->dry_run)
        json_object_set_new(b, "dry_run", json_true());
    if (b && o->force)
        json_object_set_new(b, "force", json_true());
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    return s;
}

/* Ids go into a path: they must be ids (docs/rack-file.md), nothing to escape. */
static void check_id(const char *id)
{
    size_t n = strlen(id);
    bool ok = n >= 1 && n <= 31;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
             (id[i] >= '0' && id[i] <= '9') || strchr("_.:-", id[i]);
    if (!ok) {
        fprintf(stderr, "rackpowerctl: '%s' is not an id (1 to 31 of A-Z a-z 0-9 _ . : -)\n", id);
        exit(2);
    }
}

/* What a command caused (its "consequences"), one line each. */
static void print_consequences(json_t *j)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(j, "consequences"), i, a)
    {
        json_t *ev = json_deep_copy(a);
        if (!ev)
            continue;
        json_object_set(ev, "event", json_object_get(a, "action"));
        struct evjson_text x;
        char cols[1024];
        evjson_text(ev, &x);
        json_t *was = json_object_get(a, "was_w"), *w = json_object_get(a, "watts");
        char was_w[32], w_w[32];
        fmt_w(was_w, sizeof(was_w), was);
        fmt_w(w_w, sizeof(w_w), w);
        if (json_is_number(was) && json_is_number(w)) /* "2000 -> 0 W p3" */
            snprintf(x.figure, sizeof(x.figure), "%s -> %s W p%lld", was_w, w_w,
                     (long long)json_integer_value(json_object_get(a, "priority")));
        evjson_columns(&x, cols, sizeof(cols));
        printf("  %s\n", cols);
        json_decref(ev);
    }
}

/* The answer of (in|out-of)-service: what it did, or would do. */
static void print_service(json_t *j, const char *kind, const char *id, const char *verb)
{
    const char *noun = !strcmp(kind, "psus") ? "psu" : "bus";
    size_t n = json_array_size(json_object_get(j, "consequences"));
    bool out = !strcmp(verb, "out-of-service");
    if (json_is_true(json_object_get(j, "dry_run"))) {
        bool would = json_is_true(json_object_get(j, "would_change"));
        printf("%s %s: dry run: %s %s\n", noun, id, out ? "out of service" : "back in service",
               !would ? "changes nothing (already)"
               : n    ? "would cause:"
                      : "would cause nothing");
        print_consequences(j);
        printf("nothing was done\n");
        return;
    }
    bool oos = json_is_true(json_object_get(j, "out_of_service"));
    printf("%s %s: %s%s, %s\n", noun, id, oos ? "out of service" : "in service",
           json_is_true(json_object_get(j, "changed")) ? "" : " (already)", str(j, "state"));
    if (n)
        printf("caused:\n");
    print_consequences(j);
}

static int post(const struct opts *o, const char *kind, const char *id, const char *verb)
{
    char path[128], err[600];
    check_id(id);
    snprintf(path, sizeof(path), "/v1/%s/%s/%s", kind, id, verb);
    char *body = reason_body(o);
    struct http_response raw;
    if (http_request(o->api, "POST", path, body ? body : "", TIMEOUT_MS, &raw, err, sizeof(err)))
        die(err);
    free(body);
    json_t *j = NULL;
    if (raw.status == 409 && (j = json_loadb(raw.body, raw.len, 0, NULL)) &&
        json_object_get(j, "consequences")) {
        /* refused: it would shed or cap; the preview says what it would do */
        if (o->json) {
            puts(raw.body);
        } else {
            printf("%s %s: refused: out of service would cause:\n",
                   !strcmp(kind, "psus") ? "psu" : "bus", id);
            print_consequences(j);
            printf("nothing was done; to do it anyway: rackpowerctl out-of-service %s %s --force\n",
                   !strcmp(kind, "psus") ? "psu" : "bus", id);
        }
        fprintf(stderr, "rackpowerctl: %s\n", str(j, "error"));
        json_decref(j);
        http_response_free(&raw);
        return 1;
    }
    json_decref(j);
    if (raw.status < 200 || raw.status > 299)
        die_answer(&raw);
    json_error_t je;
    if (!(j = json_loadb(raw.body, raw.len, 0, &je))) {
        snprintf(err, sizeof(err), "rackpowerd's answer is not JSON: %s", je.text);
        die(err);
    }
    if (o->json) {
        puts(raw.body);
    } else if (!strcmp(kind, "servers")) {
        char w[32];
        fmt_w(w, sizeof(w), json_object_get(j, "watts"));
        const char *result = str(j, "result");
        printf("%s: %s", str(j, "server"), result);
        if (!strcmp(result, "granted"))
            printf(" %s W", w);
        const char *why = json_string_value(json_object_get(j, "reason"));
        printf("%s%s%s\n", why && *why ? " (" : "", why && *why ? why : "", why && *why ? ")" : "");
        /* what else it caused: a power-off that let a waiting server in */
        json_t *all = json_object_get(j, "consequences"), *others = json_array();
        size_t i;
        json_t *a;
        json_array_foreach(all, i, a)
        {
            const char *srv = json_string_value(json_object_get(a, "server"));
            if (!srv || strcmp(srv, id))
                json_array_append(others, a);
        }
        json_t *view = json_pack("{so}", "consequences", others);
        if (view && json_array_size(others))
            printf("caused:\n");
        print_consequences(view);
        json_decref(view);
    } else if (!strcmp(verb, "risk-clear")) {
        printf("psu %s: prediction cleared: it counts for protection again and its window "
               "starts anew\n",
               id);
        if (json_array_size(json_object_get(j, "consequences")))
            printf("caused:\n");
        print_consequences(j);
    } else {
        print_service(j, kind, id, verb);
    }
    json_decref(j);
    http_response_free(&raw);
    return 0;
}

/* GET of a list, or of one element when id is not NULL (servers ID). */
static int get(const struct opts *o, const char *what, const char *id)
{
    char path[128];
    bool alarms = !strcmp(what, "alarms"); /* they are a part of the status */
    if (id) {
        check_id(id);
        snprintf(path, sizeof(path), "/v1/%s/%s", what, id);
    } else {
        snprintf(path, sizeof(path), "/v1/%s", alarms ? "status" : what);
    }
    struct http_response raw;
    json_t *j = call(o, "GET", path, NULL, &raw);
    if (o->json && alarms) {
        json_t *a = json_object_get(j, "alarms");
        json_t *out = json_pack("{so}", "alarms", a ? json_incref(a) : json_array());
        print_event_json(out);
        json_decref(out);
    } else if (o->json)
        puts(raw.body);
    else if (alarms)
        print_alarms(j);
    else if (!strcmp(what, "status"))
        print_status(j);
    else if (id)
        print_server(j);
    else if (!strcmp(what, "servers"))
        print_servers(j);
    else if (!strcmp(what, "psus"))
        print_psus(j);
    else
        print_buses(j);
    json_decref(j);
    http_response_free(&raw);
    return 0;
}

/* ---- outages (docs/outage.md) ---- */

static void fmt_num(char *buf, size_t len, json_t *v, const char *unit)
{
    if (json_is_number(v))
        snprintf(buf, len, "%.0f%s", json_number_value(v), unit);
    else
        snprintf(buf, len, "-");
}

static void print_plan(json_t *plan)
{
    if (!json_is_object(plan)) {
        printf("plan: none\n");
        return;
    }
    char wh[32], load[32], top[32];
    fmt_num(wh, sizeof(wh), json_object_get(plan, "wh_left"), " Wh");
    fmt_num(load, sizeof(load), json_object_get(plan, "load_w"), " W");
    fmt_num(top, sizeof(top), json_object_get(plan, "top_runtime_s"), " s");
    printf("plan: %s left, %s drawn, most important set runs %s%s\n", wh, load, top,
           json_is_true(json_object_get(plan, "feasible")) ? "" : " (NOT feasible)");
    const char *sum = json_string_value(json_object_get(plan, "summary"));
    if (sum && *sum)
        printf("  %s\n", sum);
    json_t *steps = json_object_get(plan, "steps");
    if (!json_array_size(steps)) {
        printf("  no steps\n");
        return;
    }
    printf("  %-6s %-8s %-12s %-12s %-10s %-9s %s\n", "STEP", "KIND", "WHAT", "TO", "WHEN", "GAIN",
           "REASON");
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st)
    {
        const char *kind = str(st, "step");
        const char *what = !strcmp(kind, "divert") ? str(st, "reserve")
                           : !strcmp(kind, "move") ? str(st, "activity")
                                                   : str(st, "server");
        char when[32], gain[32];
        if (json_is_true(json_object_get(st, "now")) || strcmp(kind, "stop"))
            snprintf(when, sizeof(when), "now");
        else
            fmt_num(when, sizeof(when), json_object_get(st, "at_s"), " s");
        fmt_num(gain, sizeof(gain), json_object_get(st, "gain_s"), " s");
        printf("  %-6zu %-8s %-12s %-12s %-10s %-9s %s\n", i + 1, kind, what,
               strcmp(kind, "stop") ? str(st, "to") : "-", when, gain, str(st, "reason"));
    }
}

static void print_outage(json_t *j)
{
    printf("outage: %s", str(j, "state"));
    if (json_is_string(json_object_get(j, "cause")))
        printf(" (%s)", str(j, "cause"));
    if (json_is_string(json_object_get(j, "reason")))
        printf(": %s", str(j, "reason"));
    printf("%s\n",
           json_is_true(json_object_get(j, "operator")) && strcmp(str(j, "cause"), "operator")
               ? "; the operator's outage is on too"
               : "");
    const char *key;
    json_t *v;
    json_t *res = json_object_get(j, "reserves");
    if (json_object_size(res))
        printf("%-12s %-7s %-10s %-10s %-9s %-10s %-6s %s\n", "RESERVE", "KIND", "WH_LEFT", "WATTS",
               "RUNTIME", "CHARGE", "KNOWN", "STATUS");
    json_object_foreach(res, key, v)
    {
        char wh[32], w[32], rt[32], ch[32];
        fmt_num(wh, sizeof(wh), json_object_get(v, "wh_left"), " Wh");
        fmt_num(w, sizeof(w), json_object_get(v, "watts"), " W");
        fmt_num(rt, sizeof(rt), json_object_get(v, "runtime_s"), " s");
        fmt_num(ch, sizeof(ch), json_object_get(v, "charge_pct"), " %");
        printf("%-12s %-7s %-10s %-10s %-9s %-10s %-6s %s\n", key, str(v, "kind"), wh, w, rt, ch,
               json_is_true(json_object_get(v, "known")) ? "yes" : "NO", str(v, "status"));
    }
    json_t *acts = json_object_get(j, "activities");
    if (json_object_size(acts))
        printf("%-12s %-9s %-8s %s\n", "ACTIVITY", "STATE", "PRIORITY", "SERVERS");
    json_object_foreach(acts, key, v)
    {
        char on[256];
        join_array(on, sizeof(on), json_object_get(v, "servers"));
        printf("%-12s %-9s %-8lld %s%s%s\n", key, str(v, "state"),
               (long long)json_integer_value(json_object_get(v, "priority")), on,
               json_is_string(json_object_get(v, "moving_to")) ? " -> " : "",
               json_is_string(json_object_get(v, "moving_to")) ? str(v, "moving_to") : "");
    }
    json_t *stops = json_object_get(j, "stops");
    json_object_foreach(stops, key, v)
    {
        char next[32];
        fmt_num(next, sizeof(next), json_object_get(v, "next_in_s"), " s");
        printf("stop: %s stage %lld: %s (next in %s)\n", key,
               (long long)json_integer_value(json_object_get(v, "stage")), str(v, "phase"), next);
    }
    if (!strcmp(str(j, "state"), "on"))
        print_plan(json_object_get(j, "plan"));
}

static int cmd_outage(const struct opts *o, const char *verb)
{
    struct http_response raw;
    json_t *j;
    if (!strcmp(verb, "status") || !strcmp(verb, "plan")) {
        j = call(o, "GET", !strcmp(verb, "plan") ? "/v1/outage/plan" : "/v1/outage", NULL, &raw);
        if (o->json)
            puts(raw.body);
        else if (!strcmp(verb, "plan")) {
            printf("if mains failed now:\n");
            print_plan(json_object_get(j, "plan"));
            printf("nothing was done\n");
        } else
            print_outage(j);
    } else {
        json_t *b = json_pack("{ss}", "action", verb);
        if (b && o->reason)
            json_object_set_new(b, "reason", json_string(o->reason));
        char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
        json_decref(b);
        if (!body)
            die("out of memory");
        j = call(o, "POST", "/v1/outage", body, &raw);
        free(body);
        if (o->json)
            puts(raw.body);
        else
            printf("outage %s: %s\n", verb, str(j, "result"));
    }
    json_decref(j);
    http_response_free(&raw);
    return 0;
}

/* ---- the tokens file (run on the daemon's host, as root or its owner) ---- */

static void load_tokens(const char *path, struct auth_tokens *t)
{
    char err[600];
    bool missing;
    if (auth_tokens_load(path, geteuid(), t, &missing, err, sizeof(err)))
        die(err);
}

static int cmd_token(const char *verb, const char *name, const char *path, const char *role)
{
    struct auth_tokens t;
    char err[600];
    if (!strcmp(verb, "list")) {
        load_tokens(path, &t);
        printf("%-32s %s\n", "NAME", "ROLE");
        for (size_t i = 0; i < t.n; i++)
            printf("%-32s %s\n", t.v[i].name, auth_role_name(t.v[i].role));
        auth_tokens_free(&t);
        return 0;
    }
    load_tokens(path, &t);
    if (!strcmp(verb, "add")) {
        struct auth_token tok;
        char secret[AUTH_TOKEN_LEN];
        if (auth_token_new(name, auth_role_parse(role), &tok, secret, err, sizeof(err)) ||
            auth_tokens_add(&t, &tok, err, sizeof(err)) ||
            auth_tokens_save(path, &t, err, sizeof(err)))
            die(err);
        printf("%s\n", secret);
        fprintf(stderr,
                "rackpowerctl: token '%s' (%s) added to %s; it is shown only now. rackpowerd "
                "reads it on reload (systemctl reload rackpowerd, or kill -HUP)\n",
                name, role, path);
    } else {
        long i = auth_tokens_find(&t, name);
        if (i < 0) {
            snprintf(err, sizeof(err), "no token named '%s' in %s", name, path);
            die(err);
        }
        auth_tokens_remove(&t, (size_t)i);
        if (auth_tokens_save(path, &t, err, sizeof(err)))
            die(err);
        fprintf(stderr, "rackpowerctl: token '%s' revoked in %s; rackpowerd forgets it on reload\n",
                name, path);
    }
    auth_tokens_free(&t);
    return 0;
}

/* The token of --token-file FILE (its first line) or $RACKPOWER_TOKEN. */
static const char *read_token(const char *file, char *buf, size_t len)
{
    if (!file) {
        const char *env = getenv("RACKPOWER_TOKEN");
        return env && *env ? env : NULL;
    }
    FILE *f = fopen(file, "r");
    if (!f || !fgets(buf, (int)len, f)) {
        fprintf(stderr, "rackpowerctl: --token-file %s: %s\n", file, f ? "empty" : strerror(errno));
        exit(1);
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

/* The local socket to use when neither --api nor $RACKPOWER_API says. */
static const char *default_socket(char *buf, size_t len)
{
    struct stat st;
    const char *env = getenv("RACKPOWER_SOCKET");
    if (env && *env)
        return env;
    if (stat(SYSTEM_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode))
        return SYSTEM_SOCKET;
    auth_socket_default(buf, len); /* a user's own rackpowerd */
    if (buf[0] && stat(buf, &st) == 0 && S_ISSOCK(st.st_mode))
        return buf;
    return NULL;
}

static int admin(const struct opts *o, const char *verb)
{
    char path[64];
    snprintf(path, sizeof(path), "/v1/%s", verb);
    struct http_response raw;
    json_t *j = call(o, "POST", path, "", &raw);
    if (o->json)
        puts(raw.body);
    else if (!strcmp(verb, "shutdown"))
        printf("rackpowerd is stopping\n");
    else {
        printf("reload %s: %s; tokens: %s\n",
               json_is_true(json_object_get(j, "applied")) ? "applied" : "refused",
               str(j, "reason"), str(j, "tokens"));
        if (json_array_size(json_object_get(j, "consequences")))
            printf("caused:\n");
        print_consequences(j);
    }
    json_decref(j);
    http_response_free(&raw);
    return 0;
}

/* The history CSV's columns after t and psu, as the API names them
 * (docs/prediction.md "The history file"). */
static const char *const history_cols[] = {"vin_v",  "iin_a",  "vout_v",  "iout_a", "pin_w",
                                           "pout_w", "temp_c", "inlet_c", "fan_rpm"};

static void print_figure(json_t *v, const char *none, int width)
{
    if (json_is_number(v))
        printf(" %*.*g", width - 1, 6, json_number_value(v));
    else
        printf(" %*s", width - 1, none);
}

static int cmd_history(const struct opts *o, const char *psu)
{
    char path[512];
    struct http_response raw;
    int n = snprintf(path, sizeof(path), "/v1/history/psu/%s?", psu);
    if (o->from)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "from=%s&", o->from);
    if (o->to)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "to=%s&", o->to);
    if (o->step)
        n += snprintf(path + n, sizeof(path) - (size_t)n, "step=%s&", o->step);
    path[n - 1] = '\0'; /* the last '&' or the '?' */
    json_t *j = call(o, "GET", path, NULL, &raw);
    json_t *rows = json_object_get(j, "rows"), *row;
    size_t i;
    if (o->json) {
        fwrite(raw.body, 1, raw.len, stdout);
    } else if (o->csv) {
        puts("t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,status_word");
        json_array_foreach(rows, i, row)
        {
            printf("%lld,%s", (long long)floor(json_number_value(json_object_get(row, "t"))), psu);
            for (size_t c = 0; c < sizeof(history_cols) / sizeof(*history_cols); c++) {
                json_t *v = json_object_get(row, history_cols[c]);
                if (json_is_number(v))
                    printf(",%.9g", json_number_value(v));
                else
                    fputs(",", stdout);
            }
            const char *sw = json_string_value(json_object_get(row, "status_word"));
            printf(",%s\n", sw ? sw : "");
        }
    } else {
        printf("%s: %zu rows, %s, step %g s\n", psu, json_array_size(rows), str(j, "level"),
               json_number_value(json_object_get(j, "step_s")));
        printf("%-20s %5s %8s %8s %8s %8s %8s %8s %7s %7s %7s %6s\n", "time (UTC)", "n", "vin_v",
               "iin_a", "vout_v", "iout_a", "pin_w", "pout_w", "temp_c", "inlet_c", "fan_rpm",
               "status");
        json_array_foreach(rows, i, row)
        {
            time_t t = (time_t)floor(json_number_value(json_object_get(row, "t")));
            struct tm tm;
            char when[32];
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
            printf("%-20s %5lld", when, (long long)json_integer_value(json_object_get(row, "n")));
            for (size_t c = 0; c < sizeof(history_cols) / sizeof(*history_cols); c++)
                print_figure(json_object_get(row, history_cols[c]), "-", c < 6 ? 9 : 8);
            const char *sw = json_string_value(json_object_get(row, "status_word"));
            printf(" %6s\n", sw ? sw : "-");
        }
    }
    fflush(stdout);
    json_decref(j);
    http_response_free(&raw);
    return 0;
}

/* A history parameter goes into the URL as it is: what a time or a step
 * may hold, no more (the API says what is wrong with it). */
static const char *history_arg(const char *opt, const char *s)
{
    if (!s[0] || strlen(s) > 32 || strspn(s, "0123456789.-smhdnow") != strlen(s)) {
        fprintf(stderr,
                "rackpowerctl: %s: expected Unix seconds, now, -90m, -24h ... or a "
                "step such as 60, 10s, 1h\n",
                opt);
        usage(stderr);
        exit(2);
    }
    return s;
}

__attribute__((format(printf, 1, 2), noreturn)) static void bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rackpowerctl: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage(stderr);
    exit(2);
}

static long long number(const char *opt, const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || x < min || x > max)
        bad_usage("%s: expected a number", opt);
    return x;
}

int main(int argc, char **argv)
{
    struct opts o = {.tail = 20, .since = -1};
    const char *api = getenv("RACKPOWER_API"), *args[4], *cacert = NULL, *unix_socket = NULL;
    const char *token_file = NULL, *tokens = DEFAULT_TOKENS, *role = NULL;
    int nargs = 0;
    char err[600], sockbuf[300], tokbuf[200];
    if (!api || !*api)
        api = NULL;
    enum {
        OPT_API = 256,
        OPT_TAIL,
        OPT_SINCE,
        OPT_REASON,
        OPT_CACERT,
        OPT_UNIX_SOCKET,
        OPT_JSON,
        OPT_TOKEN_FILE,
        OPT_TOKENS,
        OPT_ROLE,
        OPT_DRY_RUN,
        OPT_FORCE,
        OPT_FROM,
        OPT_TO,
        OPT_STEP,
        OPT_CSV,
    };
    static const struct option longopts[] = {
        {"api", required_argument, NULL, OPT_API},
        {"tail", required_argument, NULL, OPT_TAIL},
        {"since", required_argument, NULL, OPT_SINCE},
        {"reason", required_argument, NULL, OPT_REASON},
        {"cacert", required_argument, NULL, OPT_CACERT},
        {"unix-socket", required_argument, NULL, OPT_UNIX_SOCKET},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"tokens", required_argument, NULL, OPT_TOKENS},
        {"role", required_argument, NULL, OPT_ROLE},
        {"json", no_argument, NULL, OPT_JSON},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"force", no_argument, NULL, OPT_FORCE},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"step", required_argument, NULL, OPT_STEP},
        {"csv", no_argument, NULL, OPT_CSV},
        {"follow", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0; /* the messages below are ours */
    int c;
    while ((c = getopt_long(argc, argv, ":fh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_API:
            api = optarg;
            break;
        case OPT_TAIL:
            o.tail = (long)number("--tail", optarg, 1, 1000);
            break;
        case OPT_SINCE:
            o.since = number("--since", optarg, 0, INT64_MAX);
            break;
        case OPT_REASON:
            o.reason = optarg;
            break;
        case OPT_CACERT:
            cacert = optarg;
            break;
        case OPT_UNIX_SOCKET:
            unix_socket = optarg;
            break;
        case OPT_TOKEN_FILE:
            token_file = optarg;
            break;
        case OPT_TOKENS:
            tokens = optarg;
            break;
        case OPT_ROLE:
            role = optarg;
            break;
        case OPT_JSON:
            o.json = true;
            break;
        case OPT_DRY_RUN:
            o.dry_run = true;
            break;
        case OPT_FORCE:
            o.force = true;
            break;
        case OPT_FROM:
            o.from = history_arg("--from", optarg);
            break;
        case OPT_TO:
            o.to = history_arg("--to", optarg);
            break;
        case OPT_STEP:
            o.step = history_arg("--step", optarg);
            break;
        case OPT_CSV:
            o.csv = true;
            break;
        case 'f':
            o.follow = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            bad_usage("%s needs a value", argv[optind - 1]);
        default:
            if (optopt)
                bad_usage("unknown option '-%c'", optopt);
            bad_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    /* getopt_long moved the commands and ids after the options */
    for (int i = optind; i < argc; i++) {
        if (nargs == 4)
            bad_usage("too many arguments ('%s')", argv[i]);
        args[nargs++] = argv[i];
    }
    if (!nargs) {
        usage(stderr);
        return 2;
    }
    const char *cmd = args[0];
    if (!strcmp(cmd, "token")) { /* the file, not the daemon */
        const char *verb = nargs > 1 ? args[1] : "";
        int want = !strcmp(verb, "list") ? 2 : 3;
        if (strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "revoke"))
            bad_usage("token: expected add, list or revoke");
        if (nargs != want)
            bad_usage(nargs < want ? "token %s: missing argument" : "token %s: too many arguments",
                      verb);
        if (!strcmp(verb, "add") && (!role || auth_role_parse(role) == AUTH_NONE))
            bad_usage("token add: --role viewer, operator or admin");
        if (o.dry_run || o.force)
            bad_usage("--dry-run and --force go with (in|out-of)-service");
        if (role && strcmp(verb, "add"))
            bad_usage("--role goes with token add");
        return cmd_token(verb, want == 3 ? args[2] : NULL, tokens, role);
    }
    if (role)
        bad_usage("--role goes with token add");
    if (!api && !unix_socket)
        unix_socket = default_socket(sockbuf, sizeof(sockbuf));
    if (http_init())
        die("cannot set up libcurl");
    static struct http_api apis;
    o.api = &apis;
    if (http_api_init(o.api, api ? api : DEFAULT_API, cacert, unix_socket, err, sizeof(err)))
        bad_usage("--api: %s", err);
    o.api->token = read_token(token_file, tokbuf, sizeof(tokbuf));
    if (!strcmp(cmd, "reload") || !strcmp(cmd, "shutdown")) {
        if (nargs != 1)
            bad_usage("%s: too many arguments", cmd);
        if (o.reason || o.follow || o.since >= 0 || o.tail != 20 || o.dry_run || o.force)
            bad_usage("%s takes no options", cmd);
        return admin(&o, cmd);
    }
    bool history = !strcmp(cmd, "history");
    if (!history && (o.from || o.to || o.step || o.csv))
        bad_usage("%s: --from, --to, --step and --csv go with history", cmd);
    if (history) {
        if (nargs < 2 || strcmp(args[1], "psu"))
            bad_usage("history: expected psu ID");
        if (nargs != 3)
            bad_usage(nargs < 3 ? "history psu: missing argument"
                                : "history psu: too many arguments");
        if (o.reason || o.follow || o.since >= 0 || o.tail != 20 || o.dry_run || o.force)
            bad_usage("history: takes only --from, --to, --step, --csv and --json");
        if (o.csv && o.json)
            bad_usage("history: --csv or --json, not both");
        if (!args[2][0] || strlen(args[2]) > 31 ||
            strspn(args[2], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") !=
                strlen(args[2]))
            bad_usage("history psu: '%s' is not a PSU id", args[2]);
        return cmd_history(&o, args[2]);
    }
    if (!strcmp(cmd, "outage")) {
        const char *verb = nargs > 1 ? args[1] : "";
        if (strcmp(verb, "status") && strcmp(verb, "plan") && strcmp(verb, "start") &&
            strcmp(verb, "end"))
            bad_usage("outage: expected status, plan, start or end");
        if (nargs != 2)
            bad_usage("outage %s: too many arguments", verb);
        if (o.follow || o.since >= 0 || o.tail != 20 || o.dry_run || o.force)
            bad_usage("outage %s: takes only --reason (start, end) and --json", verb);
        if (o.reason && (!strcmp(verb, "status") || !strcmp(verb, "plan")))
            bad_usage("outage %s: --reason goes with start and end", verb);
        return cmd_outage(&o, verb);
    }
    if (!strcmp(cmd, "risk-clear")) {
        if (nargs != 2)
            bad_usage(nargs < 2 ? "risk-clear: missing argument"
                                : "risk-clear: too many arguments");
        if (o.follow || o.since >= 0 || o.tail != 20 || o.dry_run || o.force)
            bad_usage("risk-clear: takes only --reason and --json");
        return post(&o, "psus", args[1], cmd);
    }
    int want = 1;
    if (!strcmp(cmd, "power-on") || !strcmp(cmd, "power-off"))
        want = 2;
    else if (!strcmp(cmd, "out-of-service") || !strcmp(cmd, "in-service"))
        want = 3;
    else if (strcmp(cmd, "status") && strcmp(cmd, "alarms") && strcmp(cmd, "servers") &&
             strcmp(cmd, "psus") && strcmp(cmd, "buses") && strcmp(cmd, "events"))
        bad_usage("unknown command '%s'", cmd);
    if (!strcmp(cmd, "servers") && nargs == 2)
        want = 2; /* one server */
    if (nargs != want)
        bad_usage(nargs < want ? "%s: missing argument" : "%s: too many arguments", cmd);
    if ((o.follow || o.since >= 0 || o.tail != 20) && strcmp(cmd, "events"))
        bad_usage("%s: --follow, --tail and --since go with events", cmd);
    if (o.reason && (want == 1 || !strcmp(cmd, "servers")))
        bad_usage("%s: --reason goes with power-on/off and (in|out-of)-service", cmd);
    if (o.dry_run && want != 3)
        bad_usage("%s: --dry-run goes with out-of-service and in-service", cmd);
    if (o.force && strcmp(cmd, "out-of-service"))
        bad_usage("%s: --force goes with out-of-service", cmd);
    if (o.force && o.dry_run)
        bad_usage("%s: --dry-run or --force, not both", cmd);

    if (!strcmp(cmd, "events"))
        return cmd_events(&o);
    if (want == 1)
        return get(&o, cmd, NULL);
    if (!strcmp(cmd, "servers"))
        return get(&o, cmd, args[1]);
    if (want == 2)
        return post(&o, "servers", args[1], cmd);
    if (strcmp(args[1], "psu") && strcmp(args[1], "bus"))
        bad_usage("%s: expected psu or bus, got '%s'", cmd, args[1]);
    return post(&o, !strcmp(args[1], "psu") ? "psus" : "buses", args[2], cmd);
}
