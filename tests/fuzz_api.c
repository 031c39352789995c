/*
 * fuzz_api.c - libFuzzer target for rackpowerd's HTTP API (src/daemon/api.c):
 * the paths, query strings, headers and bodies of requests, driven through
 * the real handler. The input is a method (first line), a path with its
 * query (second line; bytes a request line cannot carry are percent-encoded,
 * so the handler sees them decoded, except a '%' the input holds itself) and
 * a body (the rest). The first line may go on after a tab with header lines
 * of the fuzzer's own, tab-separated: then they stand instead of the
 * harness's Host and Content-Length (so a request may lack Host or carry two
 * lengths), and the harness ends its side after sending; a request whose
 * first length promises more than its body (or that is chunked) may go
 * unanswered (the server waits for the rest until its idle timeout). Each becomes one HTTP/1.1
 * request to the API, started once on a loopback port over a hub whose
 * "loop" answers every command at once and a snapshot of a small rack, and a
 * journal in a temporary directory.
 *
 * The handler only runs inside libmicrohttpd's connection threads (api.c has
 * no entry point without a connection), so requests go over 127.0.0.1; the
 * sanitizers and libFuzzer's coverage see those threads too. Checked beyond
 * "no crash": every answer comes within 5 s, no status is 5xx but 503, and
 * every application/json answer parses as JSON. Every request carries an
 * admin's token and a JSON Content-Type, so that it gets past the checks of
 * who may (those have their own tests: test_auth, daemon_auth.sh).
 * Run: make fuzz (tests/fuzz/api holds the seeds).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "hub.h"
#include "log.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hub *hub;
static struct api *api; /* serves until the process ends */
static unsigned port;
static char db[64], tokens[64], secret[AUTH_TOKEN_LEN];

/* The loop's side: every command is answered at once, as decided. */
static void wake(void *arg)
{
    (void)arg;
    struct hub_cmd *c = hub_take(hub);
    while (c) {
        struct hub_cmd *next = c->next;
        hub_answer(hub, c, 200, strdup("{\"result\":\"granted\"}"));
        c = next;
    }
}

static void list_one(struct hub_list *l, const char *name, const char *id)
{
    l->n = 1;
    l->ids = calloc(1, sizeof(*l->ids));
    l->json = calloc(1, sizeof(*l->json));
    char obj[128], all[192];
    snprintf(l->ids[0], sizeof(l->ids[0]), "%s", id);
    snprintf(obj, sizeof(obj), "{\"id\":\"%s\"}", id);
    snprintf(all, sizeof(all), "{\"%s\":[%s]}", name, obj);
    l->json[0] = strdup(obj);
    l->all = strdup(all);
}

static void start(void)
{
    char dir[] = "/tmp/fuzz_api.XXXXXX", err[512];
    if (!mkdtemp(dir)) {
        perror("fuzz_api: mkdtemp");
        abort();
    }
    snprintf(db, sizeof(db), "%s/rp.db", dir);
    struct store *st = store_open(db, false, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    store_close(st);
    log_init("fuzz_api", false);
    hub = hub_new(wake, NULL);
    struct hub_snap *s = calloc(1, sizeof(*s));
    s->status = strdup("{\"rack\":{\"name\":\"fuzz\"}}");
    list_one(&s->servers, "servers", "db1");
    list_one(&s->psus, "psus", "ps1");
    list_one(&s->buses, "buses", "A");
    hub_publish(hub, s);
    struct auth_tokens t = {0};
    struct auth_token tok;
    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    if (auth_token_new("fuzz", AUTH_ADMIN, &tok, secret, err, sizeof(err)) ||
        auth_tokens_add(&t, &tok, err, sizeof(err)) ||
        auth_tokens_save(tokens, &t, err, sizeof(err))) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    auth_tokens_free(&t);
    static struct rackfile_api conf = {
        .listen = "127.0.0.1", .socket_role = 1, .nhosts = 1, .hosts = {"fuzz"}};
    struct api_opts o = {.listen = "127.0.0.1",
                         .port = 0,
                         .keepalive_ms = 100,
                         .db_path = db,
                         .hub = hub,
                         .conf = &conf,
                         .tokens_path = tokens};
    api = api_start(&o, err, sizeof(err));
    if (!api) {
        fprintf(stderr, "fuzz_api: %s\n", err);
        abort();
    }
    port = api_port(api);
}

/* strstr without case (strcasestr is a GNU extension). */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n))
            return hay;
    return NULL;
}

/* Bytes a request line may carry as they are; the rest percent-encoded. */
static size_t put_url(char *out, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~:/?&=%+", ch)) {
            out[k++] = (char)ch;
        } else {
            out[k++] = '%';
            out[k++] = hex[ch >> 4];
            out[k++] = hex[ch & 15];
        }
    }
    return k;
}

/* Whether the fuzzer's own headers (tab-separated) promise a body longer
 * than blen, or a chunked one: then the server waits for the rest until its
 * idle timeout, and no answer is no finding. */
static bool promises_more(const uint8_t *h, size_t n, size_t blen)
{
    static const char cl[] = "content-length:", te[] = "transfer-encoding:";
    for (size_t i = 0; i < n;) {
        size_t end = i;
        while (end < n && h[end] != '\t')
            end++;
        size_t len = end - i;
        if (len >= sizeof(te) - 1 && !strncasecmp((const char *)h + i, te, sizeof(te) - 1))
            return true;
        if (len >= sizeof(cl) - 1 && !strncasecmp((const char *)h + i, cl, sizeof(cl) - 1)) {
            char num[32];
            size_t k = sizeof(cl) - 1, m = 0;
            while (i + k < end && m + 1 < sizeof(num))
                num[m++] = (char)h[i + k++];
            num[m] = '\0';
            return strtoull(num, NULL, 10) > blen; /* the first one is the one read */
        }
        i = end + 1;
    }
    return false;
}

static int exchange(const char *req, size_t len, bool end_send, int wait_s, char *rsp, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = wait_s};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        close(fd);
        return -1;
    }
    (void)!send(fd, req, len, MSG_NOSIGNAL);
    if (end_send)
        shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, rsp + got, cap - 1 - got, 0);
        if (r < 0) {
            close(fd);
            return -2; /* no answer within 5 s */
        }
        if (r == 0)
            break;
        got += (size_t)r;
        rsp[got] = '\0';
        if (got == cap - 1 || strstr(rsp, "text/event-stream"))
            break; /* an event stream goes on: its headers are enough */
        char *end = strstr(rsp, "\r\n\r\n");
        const char *cl = end ? find_ci(rsp, "\r\nContent-Length:") : NULL;
        if (end && cl && cl < end && got >= (size_t)(end + 4 - rsp) + strtoul(cl + 17, NULL, 10))
            break;
        if (end && !strncmp(req, "HEAD ", 5))
            break;
    }
    rsp[got] = '\0';
    close(fd);
    return (int)got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hub)
        start();
    const uint8_t *nl1 = memchr(data, '\n', size);
    if (!nl1)
        return 0;
    const uint8_t *url = nl1 + 1;
    const uint8_t *nl2 = memchr(url, '\n', size - (size_t)(url - data));
    if (!nl2)
        return 0;
    size_t mlen = (size_t)(nl1 - data), ulen = (size_t)(nl2 - url), hlen = 0;
    const uint8_t *body = nl2 + 1, *hdrs = memchr(data, '\t', mlen);
    size_t blen = size - (size_t)(body - data);
    if (hdrs) {
        hlen = (size_t)(nl1 - hdrs - 1);
        mlen = (size_t)(hdrs - data);
        hdrs++;
        if (memchr(hdrs, '\r', hlen) || hlen > 1024)
            return 0;
    }
    if (mlen < 1 || mlen > 16 || memchr(data, '\r', mlen) || memchr(data, ' ', mlen) ||
        ulen > 2 * API_MAX_URL)
        return 0;
    size_t cap = mlen + 3 * ulen + 2 * hlen + blen + 256;
    char *req = malloc(cap), rsp[65536];
    if (!req)
        return 0;
    size_t k = 0;
    memcpy(req, data, mlen);
    k += mlen;
    req[k++] = ' ';
    if (!ulen || url[0] != '/')
        req[k++] = '/';
    k += put_url(req + k, url, ulen);
    if (hdrs) { /* the fuzzer's own header lines, after the token */
        k += (size_t)snprintf(req + k, cap - k,
                              " HTTP/1.1\r\nConnection: close\r\nAuthorization: Bearer %s\r\n",
                              secret);
        for (size_t i = 0; i < hlen; i++) {
            if (hdrs[i] == '\t') {
                req[k++] = '\r';
                req[k++] = '\n';
            } else {
                req[k++] = (char)hdrs[i];
            }
        }
        k += (size_t)snprintf(req + k, cap - k, "\r\n\r\n");
    } else {
        k += (size_t)snprintf(req + k, cap - k,
                              " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n"
                              "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                              "Content-Length: %zu\r\n\r\n",
                              secret, blen);
    }
    memcpy(req + k, body, blen);
    k += blen;
    bool incomplete = hdrs && promises_more(hdrs, hlen, blen);
    int got = exchange(req, k, hdrs != NULL, incomplete ? 1 : 5, rsp, sizeof(rsp));
    free(req);
    if (got == -2 && !incomplete)
        __builtin_trap(); /* the API did not answer a whole request */
    if (got <= 0)
        return 0;
    unsigned status = 0;
    if (sscanf(rsp, "HTTP/1.%*1d %3u", &status) != 1)
        __builtin_trap(); /* not an HTTP answer */
    if (status >= 500 && status != 503)
        __builtin_trap();
    char *end = strstr(rsp, "\r\n\r\n");
    if (end && find_ci(rsp, "Content-Type: application/json") &&
        strncmp((char *)data, "HEAD", mlen) && end + 4 < rsp + got) {
        json_error_t je;
        json_t *j = json_loads(end + 4, 0, &je);
        if (!j)
            __builtin_trap(); /* a JSON answer that does not parse */
        json_decref(j);
    }
    return 0;
}
