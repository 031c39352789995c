/*
 * nut.c - the nut driver: a NUT upsd behind the driver vtable (nut.h).
 *
 * The protocol is upsd's line protocol (docs/outage.md has the lines an
 * operator writes; ../shared/reference/nut-ups.md the facts): a request
 * line, one answer line, "ERR CODE" for a refusal. libupsclient carries it.
 * Its upscli_get waits for an answer up to libupsclient's own network
 * timeout (5 s in 2.8.0), longer than a poll may block; so each request is
 * sent with upscli_sendline_timeout, the answer waited for with poll() on
 * upscli_fd to the millisecond, then read with upscli_readline_timeout, and
 * upsd's refusals ("ERR WORD") told apart here. Requests go one at a time,
 * so no answer can sit in libupsclient's buffer while poll() waits on the
 * socket.
 *
 * Readings are a state, not edges: every poll reports every reserve it
 * reads, unread when it cannot (the engine counts the age of the last good
 * one). Stages are a state too (what the driver wants upsd to say of each
 * server): act sets it and publishes, poll publishes again what upsd lost.
 */
#include "nut.h"

/* upsclient.h (NUT 2.8.0) uses these without including them */
#include <stdint.h>
#include <sys/types.h>
#include <sys/time.h>
#include <time.h>

#include <upsclient.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monoclock.h"

#define NUT_LINE 512              /* UPSCLI_NETBUF_LEN: upsd's lines fit */
#define NUT_CONFIRM_NS 50000000LL /* between reads confirming a SET VAR */
#define NUT_PASSWORD_MAX 128

struct nut_ups {
    char name[64];          /* on upsd */
    char what[RACK_ID_LEN]; /* the reserve's or server's id, for messages */
    int reserve;            /* rack index, or -1 */
    int server;             /* rack index, or -1 */
    int want;               /* stage to publish (enum policy_stage), -1 none decided */
    int shown;              /* the stage upsd was last seen to say, -1 unknown */
};

struct nut {
    UPSCONN_t conn;
    char refused[32]; /* the WORD of upsd's last "ERR WORD" */
    bool connected;
    bool logged; /* USERNAME and PASSWORD sent on this connection */
    bool clustered;
    char host[256];
    uint16_t port;
    char user[64];
    char password[NUT_PASSWORD_MAX];
    int64_t timeout_ns;
    size_t nups;
    struct nut_ups *ups;
};

static const char *const stage_text[] = {"OL", "OB", "OB LB"};

/* ---- libupsclient's one-time setup ---- */

static pthread_once_t nut_once = PTHREAD_ONCE_INIT;
static int nut_init_rc;

static void nut_init(void)
{
    /* no certificates: the connection is plain TCP (docs/outage.md says to
     * keep upsd on the controller's host or a trusted network) */
    nut_init_rc = upscli_init(0, NULL, NULL, NULL);
}

/* ---- I/O bounded by a deadline ---- */

static void nut_drop(struct nut *n)
{
    if (n->connected)
        upscli_disconnect(&n->conn);
    n->connected = false;
    n->logged = false;
    for (size_t i = 0; i < n->nups; i++)
        n->ups[i].shown = -1;
}

/* What upsd's refusals mean (its protocol's ERR words), for messages. */
static const char *refusal_text(const char *word)
{
    static const struct {
        const char *word, *text;
    } words[] = {
        {"ACCESS-DENIED", "access denied"},
        {"UNKNOWN-UPS", "upsd has no such UPS"},
        {"VAR-NOT-SUPPORTED", "the UPS has no such variable"},
        {"CMD-NOT-SUPPORTED", "the UPS has no such command"},
        {"INVALID-ARGUMENT", "invalid argument"},
        {"INSTCMD-FAILED", "the command failed"},
        {"SET-FAILED", "the UPS's driver did not take the value"},
        {"READONLY", "the variable is read-only"},
        {"TOO-LONG", "the value is too long"},
        {"INVALID-VALUE", "invalid value"},
        {"DATA-STALE", "the UPS's driver has not spoken lately (data stale)"},
        {"DRIVER-NOT-CONNECTED", "the UPS's driver is not connected to upsd"},
        {"PASSWORD-REQUIRED", "a password is required"},
        {"PASSWORD-INCORRECT", "password incorrect"},
        {"INVALID-PASSWORD", "invalid password"},
        {"USERNAME-REQUIRED", "a user name is required"},
        {"INVALID-USERNAME", "invalid user name"},
        {"ALREADY-LOGGED-IN", "already logged in"},
        {"ALREADY-SET-PASSWORD", "password already set"},
        {"ALREADY-SET-USERNAME", "user name already set"},
        {"UNKNOWN-COMMAND", "unknown command"},
    };
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (!strcmp(word, words[i].word))
            return words[i].text;
    return "refused";
}

/* Whole seconds for libupsclient's timeouts: at least 1, the rest rounded up. */
static time_t secs_left(int64_t deadline_ns)
{
    int64_t left = deadline_ns - mono_ns();
    return left <= 0 ? 1 : (time_t)((left + MONO_NS_PER_S - 1) / MONO_NS_PER_S);
}

static int nut_connect(struct nut *n, int64_t deadline_ns, char *err, size_t errlen)
{
    if (n->connected)
        return 0;
    int64_t left = deadline_ns - mono_ns();
    if (left < 1000000)
        left = 1000000;
    struct timeval tv = {.tv_sec = (time_t)(left / MONO_NS_PER_S),
                         .tv_usec = (suseconds_t)(left % MONO_NS_PER_S / 1000)};
    memset(&n->conn, 0, sizeof(n->conn));
    if (upscli_tryconnect(&n->conn, n->host, n->port, 0, &tv) < 0) {
        snprintf(err, errlen, "upsd %s:%u: %s", n->host, (unsigned)n->port,
                 upscli_strerror(&n->conn));
        upscli_disconnect(&n->conn);
        return -1;
    }
    n->connected = true;
    n->logged = false;
    return 0;
}

/*
 * Sends line (without its newline) and reads the answer into ans. 0; -1 with
 * err: upsd refused it (*refused true, the connection stands) or the
 * connection failed or timed out (dropped: connected again next time).
 */
static int request(struct nut *n, int64_t deadline_ns, const char *line, char *ans, size_t anslen,
                   bool *refused, char *err, size_t errlen)
{
    char buf[NUT_LINE];
    *refused = false;
    int len = snprintf(buf, sizeof(buf), "%s\n", line);
    if (len < 0 || (size_t)len >= sizeof(buf)) {
        snprintf(err, errlen, "request too long for upsd");
        return -1;
    }
    if (upscli_sendline_timeout(&n->conn, buf, (size_t)len, secs_left(deadline_ns)) < 0)
        goto failed;
    struct pollfd p = {.fd = upscli_fd(&n->conn), .events = POLLIN};
    for (;;) {
        int64_t left = deadline_ns - mono_ns();
        int ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
        int k = poll(&p, 1, ms);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(err, errlen, "upsd %s:%u: no answer within the timeout", n->host,
                     (unsigned)n->port);
            nut_drop(n); /* a late answer would be taken for the next one's */
            return -1;
        }
        break;
    }
    if (upscli_readline_timeout(&n->conn, ans, anslen, 1) < 0)
        goto failed;
    ans[strcspn(ans, "\r\n")] = '\0';
    if (!strncmp(ans, "ERR ", 4)) { /* refused; the connection stands */
        *refused = true;
        snprintf(n->refused, sizeof(n->refused), "%.*s", (int)strcspn(ans + 4, " "), ans + 4);
        snprintf(err, errlen, "%s (ERR %s)", refusal_text(n->refused), n->refused);
        return -1;
    }
    return 0;
failed:
    snprintf(err, errlen, "upsd %s:%u: %s", n->host, (unsigned)n->port, upscli_strerror(&n->conn));
    nut_drop(n);
    return -1;
}

/* A value as upsd quotes it: "\"" and "\\" escaped. */
static void quote(char *out, size_t len, const char *s)
{
    size_t k = 0;
    if (len < 3) {
        if (len)
            out[0] = '\0';
        return;
    }
    out[k++] = '"';
    for (; *s && k + 3 < len; s++) {
        if (*s == '"' || *s == '\\')
            out[k++] = '\\';
        out[k++] = *s;
    }
    out[k++] = '"';
    out[k] = '\0';
}

/*
 * GET VAR ups var into val ("" when upsd says the UPS does not have it:
 * *absent true). 0, or -1 with err as request's.
 */
static int get_var(struct nut *n, int64_t deadline_ns, const char *ups, const char *var, char *val,
                   size_t vallen, bool *absent, bool *refused, char *err, size_t errlen)
{
    char line[NUT_LINE], ans[NUT_LINE];
    *absent = false;
    val[0] = '\0';
    snprintf(line, sizeof(line), "GET VAR %s %s", ups, var);
    if (request(n, deadline_ns, line, ans, sizeof(ans), refused, err, errlen)) {
        if (*refused && !strcmp(n->refused, "VAR-NOT-SUPPORTED")) {
            *absent = true;
            return 0;
        }
        return -1;
    }
    /* VAR <ups> <var> "<value>" */
    char head[NUT_LINE];
    int hl = snprintf(head, sizeof(head), "VAR %s %s \"", ups, var);
    if (hl < 0 || strncmp(ans, head, (size_t)hl)) {
        snprintf(err, errlen, "upsd %s:%u: unexpected answer to GET VAR %s %s: %.80s", n->host,
                 (unsigned)n->port, ups, var, ans);
        nut_drop(n);
        return -1;
    }
    size_t k = 0;
    for (const char *s = ans + hl; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1])
            s++;
        if (k + 1 < vallen)
            val[k++] = *s;
    }
    val[k] = '\0';
    return 0;
}

/* ---- readings ---- */

/* ups.status tokens as the DRIVER_RES_* flags. */
static unsigned status_flags(const char *status)
{
    unsigned f = 0;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", status);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (!strcmp(t, "OL"))
            f |= DRIVER_RES_ONLINE;
        else if (!strcmp(t, "OB"))
            f |= DRIVER_RES_ON_BATTERY;
        else if (!strcmp(t, "LB") || !strcmp(t, "FSD"))
            f |= DRIVER_RES_LOW; /* FSD: its primary is shutting everything down */
        else if (!strcmp(t, "CHRG"))
            f |= DRIVER_RES_CHARGING;
        else if (!strcmp(t, "OFF") || !strcmp(t, "BYPASS"))
            f |= DRIVER_RES_FAULT; /* output off, or load on bypass: no battery behind it */
    }
    return f;
}

/* A number upsd gave ("87", "1800.00"), or -1. */
static double number(const char *s, bool absent)
{
    if (absent || !*s)
        return -1;
    char *end = NULL;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || x < 0 || x != x)
        return -1;
    return x;
}

/* Reads one reserve's UPS; x is filled (unread when it could not be read). 0;
 * -1 with err (the connection may be gone: n->connected). */
static int read_reserve(struct nut *n, int64_t deadline_ns, const struct nut_ups *u,
                        struct driver_reserve_reading *x, char *err, size_t errlen)
{
    *x = (struct driver_reserve_reading){
        .reserve = u->reserve, .charge_pct = -1, .runtime_s = -1, .watts = -1, .unread = true};
    char val[NUT_LINE], why[256];
    bool absent, refused;
    if (get_var(n, deadline_ns, u->name, "ups.status", val, sizeof(val), &absent, &refused, why,
                sizeof(why))) {
        snprintf(err, errlen, "ups %s (reserve %s): %s", u->name, u->what, why);
        return -1;
    }
    if (absent || !val[0]) {
        snprintf(err, errlen, "ups %s (reserve %s): upsd has no ups.status", u->name, u->what);
        return -1;
    }
    snprintf(x->status, sizeof(x->status), "%s", val);
    x->flags = status_flags(val);
    static const char *const vars[] = {"battery.charge", "battery.runtime", "ups.realpower"};
    double v[3];
    for (int i = 0; i < 3; i++) {
        if (get_var(n, deadline_ns, u->name, vars[i], val, sizeof(val), &absent, &refused, why,
                    sizeof(why))) {
            snprintf(err, errlen, "ups %s (reserve %s): %s: %s", u->name, u->what, vars[i], why);
            return -1;
        }
        v[i] = number(val, absent);
    }
    x->charge_pct = v[0] < 0 ? -1 : v[0] > 100 ? 100 : (int)(v[0] + 0.5);
    x->runtime_s = v[1] < 0 ? -1 : (int64_t)v[1];
    x->watts = v[2];
    x->unread = false;
    return 0;
}

/* ---- stages ---- */

/* The stage a ups.status says, or -1 (neither OL, OB nor OB LB as we set them). */
static int stage_of(const char *status)
{
    unsigned f = status_flags(status);
    if ((f & DRIVER_RES_ON_BATTERY) && (f & DRIVER_RES_LOW))
        return POLICY_STAGE_OB_LB;
    if (f & DRIVER_RES_ON_BATTERY)
        return POLICY_STAGE_OB;
    if (f & DRIVER_RES_ONLINE)
        return POLICY_STAGE_OL;
    return -1;
}

static int login(struct nut *n, int64_t deadline_ns, char *err, size_t errlen)
{
    if (n->logged)
        return 0;
    char line[NUT_LINE], q[2 * NUT_PASSWORD_MAX + 3], ans[NUT_LINE];
    bool refused;
    if (!n->user[0] || !n->password[0]) {
        snprintf(err, errlen,
                 "no user and password_file: upsd takes SET VAR only from a user "
                 "with actions = SET");
        return -1;
    }
    snprintf(line, sizeof(line), "USERNAME %s", n->user);
    if (request(n, deadline_ns, line, ans, sizeof(ans), &refused, err, errlen))
        return -1;
    quote(q, sizeof(q), n->password);
    snprintf(line, sizeof(line), "PASSWORD %s", q);
    if (request(n, deadline_ns, line, ans, sizeof(ans), &refused, err, errlen))
        return -1;
    n->logged = true;
    return 0;
}

/*
 * Sets u's ups.status to its wanted stage and reads it back until upsd says
 * it (dummy-ups takes the value a moment after upsd's OK). 0, or -1 with err.
 */
static int publish(struct nut *n, int64_t deadline_ns, struct nut_ups *u, char *err, size_t errlen)
{
    char line[NUT_LINE], ans[NUT_LINE], why[256], val[NUT_LINE];
    bool refused, absent;
    int stage = u->want;
    if (nut_connect(n, deadline_ns, err, errlen) || login(n, deadline_ns, why, sizeof(why))) {
        if (n->connected)
            snprintf(err, errlen, "ups %s (server %s): login as %s: %s", u->name, u->what, n->user,
                     why);
        return -1;
    }
    /* Never FSD: upsd latches it until the UPS's driver restarts, so it
     * could not be taken back when mains returns; OB LB makes the upsmon
     * on the server shut it down just the same (docs/outage.md). */
    snprintf(line, sizeof(line), "SET VAR %s ups.status \"%s\"", u->name, stage_text[stage]);
    if (request(n, deadline_ns, line, ans, sizeof(ans), &refused, why, sizeof(why))) {
        if (refused)
            snprintf(err, errlen,
                     "ups %s (server %s): upsd refused SET VAR ups.status \"%s\": %s%s", u->name,
                     u->what, stage_text[stage], why,
                     !strcmp(n->refused, "ACCESS-DENIED")
                         ? " (check user, password_file and that upsd.users gives the user "
                           "actions = SET)"
                         : "");
        else
            snprintf(err, errlen, "ups %s (server %s): %s", u->name, u->what, why);
        return -1;
    }
    for (;;) {
        if (get_var(n, deadline_ns, u->name, "ups.status", val, sizeof(val), &absent, &refused, why,
                    sizeof(why))) {
            snprintf(err, errlen, "ups %s (server %s): reading back: %s", u->name, u->what, why);
            return -1;
        }
        if (!absent && stage_of(val) == stage) {
            u->shown = stage;
            return 0;
        }
        int64_t now = mono_ns();
        if (now + NUT_CONFIRM_NS > deadline_ns) {
            snprintf(err, errlen, "ups %s (server %s): upsd took \"%s\" but still says \"%s\"",
                     u->name, u->what, stage_text[stage], absent ? "" : val);
            return -1;
        }
        struct timespec ts = {0, NUT_CONFIRM_NS};
        nanosleep(&ts, NULL);
    }
}

/* ---- the vtable ---- */

bool nut_rack_in_outage(const struct rack *r)
{
    for (int f = 0; f < r->nfeeds && f < RACK_MAX_FEEDS; f++)
        if (r->feed_on_reserve[f])
            return true;
    for (int i = 0; i < r->nreserves; i++)
        if (r->reserves[i].discharging)
            return true;
    for (int i = 0; i < r->nservers; i++)
        if (r->servers[i].held)
            return true;
    return false;
}

/* The password alone in a file only its owner may read (as the rack key):
 * its first line, without the newline. */
static int read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "password_file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(err, errlen, "password_file %s: %s", path,
                 !S_ISREG(st.st_mode) ? "not a regular file"
                                      : "others than its owner may read or write it; chmod 600");
        close(fd);
        return -1;
    }
    char buf[NUT_PASSWORD_MAX + 2];
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got < 0) {
        snprintf(err, errlen, "password_file %s: %s", path, strerror(errno));
        return -1;
    }
    buf[got] = '\0';
    size_t len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    bool clean = len > 0 && len < outlen;
    for (size_t i = 0; i < len; i++)
        clean = clean && (unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f;
    if (!clean) {
        snprintf(err, errlen,
                 "password_file %s: expected the password alone on its first line "
                 "(1 to %zu printable characters)",
                 path, outlen - 1);
        memset(buf, 0, sizeof(buf));
        return -1;
    }
    memcpy(out, buf, len + 1);
    memset(buf, 0, sizeof(buf));
    return 0;
}

static void nut_close(void *inst)
{
    struct nut *n = inst;
    if (!n)
        return;
    nut_drop(n);
    memset(n->password, 0, sizeof(n->password));
    free(n->ups);
    free(n);
}

static void *nut_open(const struct rackfile_device *dev, const struct rack *r, char *err,
                      size_t errlen)
{
    pthread_once(&nut_once, nut_init);
    if (nut_init_rc != 1) { /* upscli_init's success */
        snprintf(err, errlen, "libupsclient could not be initialised");
        return NULL;
    }
    struct nut *n = calloc(1, sizeof(*n));
    if (!n || (dev->nups && !(n->ups = calloc(dev->nups, sizeof(*n->ups))))) {
        free(n);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(n->host, sizeof(n->host), "%s", dev->host[0] ? dev->host : "127.0.0.1");
    n->port = (uint16_t)(dev->port > 0 && dev->port < 65536 ? dev->port : 3493);
    snprintf(n->user, sizeof(n->user), "%s", dev->user);
    n->timeout_ns = dev->timeout_ns > 0 ? dev->timeout_ns : MONO_NS_PER_S;
    n->clustered = dev->clustered;
    if (dev->password_file[0] &&
        read_password(dev->password_file, n->password, sizeof(n->password), err, errlen)) {
        nut_close(n);
        return NULL;
    }
    /* a lone controller puts every server back to OL unless an outage is on */
    int start = n->clustered || nut_rack_in_outage(r) ? -1 : POLICY_STAGE_OL;
    for (size_t i = 0; i < dev->nups; i++) {
        const struct rackfile_nut_ups *c = &dev->ups[i];
        struct nut_ups *u = &n->ups[i];
        bool res = c->reserve >= 0 && c->reserve < r->nreserves;
        bool srv = c->server >= 0 && c->server < r->nservers;
        if (res == srv) {
            snprintf(err, errlen, "ups %s: neither a reserve nor a server of the rack", c->ups);
            nut_close(n);
            return NULL;
        }
        snprintf(u->name, sizeof(u->name), "%s", c->ups);
        snprintf(u->what, sizeof(u->what), "%s",
                 res ? r->reserves[c->reserve].id : r->servers[c->server].id);
        u->reserve = res ? c->reserve : -1;
        u->server = srv ? c->server : -1;
        u->want = srv ? start : -1;
        u->shown = -1;
        n->nups = i + 1;
    }
    return n;
}

static int nut_poll(void *inst, int timeout_ms, struct driver_report *out, char *err, size_t errlen)
{
    struct nut *n = inst;
    int64_t t = timeout_ms > 0 ? (int64_t)timeout_ms * 1000000 : n->timeout_ns;
    int64_t deadline_ns = mono_ns() + (t < n->timeout_ns ? t : n->timeout_ns);
    char why[300] = "";
    int failed = 0;
    err[0] = '\0';
    if (nut_connect(n, deadline_ns, why, sizeof(why))) {
        snprintf(err, errlen, "%s", why);
        failed++;
    }
    for (size_t i = 0; i < n->nups; i++) {
        struct nut_ups *u = &n->ups[i];
        char e[300] = "";
        if (u->reserve >= 0) {
            struct driver_reserve_reading x = {.reserve = u->reserve,
                                               .charge_pct = -1,
                                               .runtime_s = -1,
                                               .watts = -1,
                                               .unread = true};
            if (n->connected && read_reserve(n, deadline_ns, u, &x, e, sizeof(e)))
                failed++;
            (void)driver_report_reserve(out, &x); /* out of memory: the next poll reports */
        } else if (n->connected) {
            char val[NUT_LINE];
            bool absent, refused;
            if (get_var(n, deadline_ns, u->name, "ups.status", val, sizeof(val), &absent, &refused,
                        e, sizeof(e))) {
                char w[300];
                snprintf(w, sizeof(w), "ups %s (server %s): %s", u->name, u->what, e);
                snprintf(e, sizeof(e), "%s", w);
                failed++;
            } else {
                u->shown = absent ? -1 : stage_of(val);
                /* what upsd lost (a dummy-ups restarted from its file) or
                 * someone changed: published again, by a lone controller */
                if (u->want >= 0 && u->shown != u->want && !n->clustered) {
                    driver_report_note(out,
                                       "ups %s (server %s): upsd said \"%s\", published "
                                       "\"%s\" again",
                                       u->name, u->what, absent ? "" : val, stage_text[u->want]);
                    if (publish(n, deadline_ns, u, e, sizeof(e)))
                        failed++;
                }
            }
        }
        if (e[0] && !err[0])
            snprintf(err, errlen, "%s", e);
    }
    if (failed > 1 && err[0]) {
        size_t len = strlen(err);
        if (len + 24 < errlen)
            snprintf(err + len, errlen - len, " (and %d more)", failed - 1);
    }
    return failed ? -1 : 0;
}

static int nut_act(void *inst, const struct policy_action *a, char *err, size_t errlen)
{
    struct nut *n = inst;
    if (a->kind != POLICY_ACT_STAGE)
        return 0; /* power, caps and switches are other devices' */
    if (a->stage < POLICY_STAGE_OL || a->stage > POLICY_STAGE_OB_LB) {
        snprintf(err, errlen, "stage %d is not OL, OB or OB LB", a->stage);
        return -1;
    }
    for (size_t i = 0; i < n->nups; i++) {
        struct nut_ups *u = &n->ups[i];
        if (u->server != a->server)
            continue;
        u->want = a->stage;
        int64_t deadline_ns = mono_ns() + n->timeout_ns;
        return publish(n, deadline_ns, u, err, errlen);
    }
    return 0; /* a server another device publishes */
}

const struct driver_ops nut_ops = {
    .kind = "nut",
    .open = nut_open,
    .poll = nut_poll,
    .act = nut_act,
    .close = nut_close,
};
