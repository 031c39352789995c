/*
 * test_ctl_http.c - rackpowerctl's requests over libcurl (URLs, bodies by
 * length, chunked and until close, answers cut short, a stream, a Unix-domain
 * socket, the message when nobody listens), its Server-Sent Events parser, and
 * the rackpowerctl binary's alarms against a canned status.
 * A forked child plays the server with canned answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "sse.h"

static char err[600];

static void test_urls(void **state)
{
    (void)state;
    struct http_api a;
    assert_int_equal(http_api_init(&a, "http://127.0.0.1:8470", NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(a.url[0].base, "http://127.0.0.1:8470");
    assert_string_equal(a.url[0].where, "127.0.0.1:8470");
    assert_int_equal(http_api_init(&a, "localhost", NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(a.url[0].base, "http://localhost:8470");
    assert_int_equal(http_api_init(&a, "http://[::1]:9000/rp/", NULL, NULL, err, sizeof(err)), 0);
    assert_string_equal(a.url[0].base, "http://[::1]:9000/rp");
    assert_string_equal(a.url[0].where, "[::1]:9000");
    assert_int_equal(http_api_init(&a, "https://x", "ca.pem", NULL, err, sizeof(err)), 0);
    assert_string_equal(a.url[0].base, "https://x:8470");
    assert_string_equal(a.cacert, "ca.pem");
    assert_int_equal(http_api_init(&a, "http://localhost", NULL, "/run/rp.sock", err, sizeof(err)),
                     0);
    assert_string_equal(a.url[0].where, "/run/rp.sock");
    assert_int_equal(http_api_init(&a, "ftp://x", NULL, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "ftp://x: only http:// and https:// are supported");
    assert_int_equal(http_api_init(&a, "http://x:0", NULL, NULL, err, sizeof(err)), -1);
    assert_int_equal(http_api_init(&a, "http://x:99999", NULL, NULL, err, sizeof(err)), -1);
    assert_int_equal(http_api_init(&a, "http://:80", NULL, NULL, err, sizeof(err)), -1);
    assert_int_equal(http_api_init(&a, "http://[::1", NULL, NULL, err, sizeof(err)), -1);
    assert_int_equal(http_api_init(&a, "http://x/v1?a=1", NULL, NULL, err, sizeof(err)), -1);
}

static void test_several_urls_one_list(void **state)
{
    (void)state;
    struct http_api a;
    assert_int_equal(
        http_api_init(&a, "127.0.0.1:8471,https://[::1]:8472/rp,h3", NULL, NULL, err, sizeof(err)),
        0);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.url[0].base, "http://127.0.0.1:8471");
    assert_string_equal(a.url[1].base, "https://[::1]:8472/rp");
    assert_string_equal(a.url[2].base, "http://h3:8470");
    assert_string_equal(a.url[2].where, "h3:8470");
    assert_int_equal(http_api_init(&a, "a,,b", NULL, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "a,,b: an empty URL");
    assert_int_equal(http_api_init(&a, "a,", NULL, NULL, err, sizeof(err)), -1);
    assert_int_equal(http_api_init(&a, "a,ftp://b", NULL, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "ftp://b: only http:// and https:// are supported");
    assert_int_equal(http_api_init(&a, "a,b,c,d,e,f,g,h,i", NULL, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "a,b,c,d,e,f,g,h,i: more than 8 URLs");
    assert_int_equal(http_api_init(&a, "a,b", NULL, "/run/rp.sock", err, sizeof(err)), -1);
    assert_string_equal(err, "a,b: several URLs do not go with a Unix-domain socket");
}

struct got {
    char data[8][128];
    int n;
};

static int on_event(void *arg, const char *data)
{
    struct got *g = arg;
    snprintf(g->data[g->n++], sizeof(g->data[0]), "%s", data);
    return 0;
}

static void test_sse_events_split_anywhere(void **state)
{
    (void)state;
    static const char stream[] = "retry: 2000\n: hello\n\nid: 1\ndata: {\"a\":1}\n\n"
                                 "id: 2\r\ndata: line1\r\ndata:line2\r\n\r\n: keep-alive\n\n"
                                 "event: x\ndata\n\n";
    /* the same events however the bytes are cut */
    for (size_t step = 1; step <= sizeof(stream); step++) {
        struct sse s = {0};
        struct got g = {0};
        for (size_t i = 0; i < sizeof(stream) - 1; i += step) {
            size_t n = sizeof(stream) - 1 - i < step ? sizeof(stream) - 1 - i : step;
            assert_int_equal(sse_feed(&s, stream + i, n, on_event, &g), 0);
        }
        assert_int_equal(g.n, 3);
        assert_string_equal(g.data[0], "{\"a\":1}");
        assert_string_equal(g.data[1], "line1\nline2");
        assert_string_equal(g.data[2], "");
        sse_free(&s);
    }
}

/* Serves one connection on the listening fd with answer, after reading the
 * request head; the answer is "HTTP/1.1 400" when the head does not start
 * with want (NULL: any). */
static pid_t serve_on(int fd, const char *want, const char *answer)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int c = accept(fd, NULL, NULL);
        char buf[4096];
        size_t got = 0;
        while (got < sizeof(buf) - 1) {
            ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        if (want && strncmp(buf, want, strlen(want)))
            answer = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        ssize_t w = write(c, answer, strlen(answer));
        (void)w;
        close(c);
        _exit(0);
    }
    close(fd);
    return pid;
}

static pid_t serve(int *port, const char *answer)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return serve_on(fd, NULL, answer);
}

/* One request to the server pid, which answers once and is then reaped
 * (before the request's failure fails the test, so that none is left). */
static void request_served(struct http_api *a, pid_t pid, const char *method, const char *path,
                           const char *body, struct http_response *r)
{
    int st;
    int rc = http_request(a, method, path, body, 5000, r, err, sizeof(err));
    waitpid(pid, &st, 0);
    if (rc)
        fail_msg("http_request: %s", err);
}

static void fetch(const char *answer, struct http_response *r)
{
    int port;
    pid_t pid = serve(&port, answer);
    char url[64];
    struct http_api a;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    assert_int_equal(http_api_init(&a, url, NULL, NULL, err, sizeof(err)), 0);
    request_served(&a, pid, "GET", "/v1/status", NULL, r);
}

static void test_bodies_by_length_chunked_and_close(void **state)
{
    (void)state;
    struct http_response r;
    fetch("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloIGNORED", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    http_response_free(&r);
    fetch("HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n"
          "4\r\n{\"er\r\n0a;ext=1\r\nror\":\"no\"}\r\n0\r\nX-Trailer: 1\r\n\r\n",
          &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":\"no\"}");
    http_response_free(&r);
    fetch("HTTP/1.0 200 OK\r\n\r\nuntil close", &r);
    assert_string_equal(r.body, "until close");
    http_response_free(&r);
}

static void test_cut_short_and_garbage(void **state)
{
    (void)state;
    int port, st;
    struct http_api a;
    struct http_response r;
    char url[64];
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "SSH-2.0-OpenSSH\r\n",
        "",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        pid_t pid = serve(&port, bad[k]);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
        assert_int_equal(http_api_init(&a, url, NULL, NULL, err, sizeof(err)), 0);
        assert_int_equal(http_request(&a, "GET", "/", NULL, 5000, &r, err, sizeof(err)), -1);
        waitpid(pid, &st, 0);
    }
}

/* A loopback port nobody listens on (free a moment ago). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_nobody_listening(void **state)
{
    (void)state;
    int port = dead_port();
    char url[64], want[128];
    struct http_api a;
    struct http_response r;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    assert_int_equal(http_api_init(&a, url, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(http_request(&a, "GET", "/", NULL, 5000, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "cannot reach rackpowerd at 127.0.0.1:%d: Connection refused",
             port);
    assert_string_equal(err, want);
}

static void test_several_urls_first_that_answers_is_used_and_kept(void **state)
{
    (void)state;
    int d1 = dead_port(), d2 = dead_port(), port;
    pid_t pid = serve(&port, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    char urls[200], want[300];
    struct http_api a;
    struct http_response r;
    snprintf(urls, sizeof(urls), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", d1, d2, port);
    assert_int_equal(http_api_init(&a, urls, NULL, NULL, err, sizeof(err)), 0);
    request_served(&a, pid, "GET", "/v1/status", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    http_response_free(&r);
    assert_int_equal(a.first, 2); /* the next request starts there */

    /* nobody anywhere: every one tried is named, from the one kept */
    assert_int_equal(http_request(&a, "POST", "/v1/reload", "", 5000, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want),
             "cannot reach rackpowerd at 127.0.0.1:%d: Connection refused; at 127.0.0.1:%d: "
             "Connection refused; at 127.0.0.1:%d: Connection refused",
             port, d1, d2);
    assert_string_equal(err, want);
}

static void test_several_urls_a_command_that_may_have_arrived_is_not_sent_again(void **state)
{
    (void)state;
    /* the first accepts the command and closes without an answer; the
     * second would answer: it must not be asked */
    int p1, p2, st;
    pid_t pid1 = serve(&p1, "");
    int fd2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd2, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd2, 1), 0);
    assert_int_equal(getsockname(fd2, (struct sockaddr *)&sa, &len), 0);
    p2 = ntohs(sa.sin_port);
    char urls[200];
    struct http_api a;
    struct http_response r;
    snprintf(urls, sizeof(urls), "127.0.0.1:%d,127.0.0.1:%d", p1, p2);
    assert_int_equal(http_api_init(&a, urls, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(
        http_request(&a, "POST", "/v1/servers/db1/power-on", "", 5000, &r, err, sizeof(err)), -1);
    waitpid(pid1, &st, 0);
    char prefix[100];
    snprintf(prefix, sizeof(prefix), "rackpowerd at 127.0.0.1:%d: ", p1);
    assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
    assert_null(strchr(err, ';'));
    /* the second never saw a connection */
    struct timeval tv = {0, 0};
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd2, &rd);
    assert_int_equal(select(fd2 + 1, &rd, NULL, NULL, &tv), 0);
    close(fd2);

    /* a read is asked again of the next */
    pid1 = serve(&p1, "");
    pid_t pid2 = serve(&p2, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nread");
    snprintf(urls, sizeof(urls), "127.0.0.1:%d,127.0.0.1:%d", p1, p2);
    assert_int_equal(http_api_init(&a, urls, NULL, NULL, err, sizeof(err)), 0);
    int rc = http_request(&a, "GET", "/v1/status", NULL, 5000, &r, err, sizeof(err));
    waitpid(pid1, &st, 0);
    waitpid(pid2, &st, 0);
    if (rc)
        fail_msg("http_request: %s", err);
    assert_string_equal(r.body, "read");
    http_response_free(&r);
}

static int collect(void *arg, const char *data, size_t len)
{
    char *buf = arg;
    size_t n = strlen(buf);
    snprintf(buf + n, 256 - n, "%.*s", (int)len, data);
    return 0;
}

static void test_stream_passes_2xx_keeps_4xx(void **state)
{
    (void)state;
    static const char *const answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n: ka\n\n",
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 15\r\n\r\n{\"error\":\"bad\"}",
    };
    for (size_t k = 0; k < 2; k++) {
        int port, st, status = 0;
        pid_t pid = serve(&port, answers[k]);
        char url[64], got[256] = "";
        struct http_api a;
        struct http_response r;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
        assert_int_equal(http_api_init(&a, url, NULL, NULL, err, sizeof(err)), 0);
        int rc = http_stream(&a, "/v1/events/stream", collect, got, &status, &r, err, sizeof(err));
        waitpid(pid, &st, 0);
        if (rc)
            fail_msg("http_stream %zu: %s", k, err);
        if (k == 0) {
            assert_int_equal(status, 200);
            assert_string_equal(got, "data: 1\n\n: ka\n\n");
        } else {
            assert_int_equal(status, 400);
            assert_string_equal(got, "");
            assert_string_equal(r.body, "{\"error\":\"bad\"}");
        }
        http_response_free(&r);
    }
}

static void test_unix_socket_with_prefix(void **state)
{
    (void)state;
    char dir[] = "/tmp/rpctl.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/api.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    /* the URL's host does not matter; its prefix does */
    pid_t pid = serve_on(fd, "POST /rp/v1/servers/db1/power-on HTTP/1.1\r\n",
                         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
    struct http_api a;
    struct http_response r;
    assert_int_equal(
        http_api_init(&a, "http://nowhere.invalid/rp", NULL, sa.sun_path, err, sizeof(err)), 0);
    request_served(&a, pid, "POST", "/v1/servers/db1/power-on", "", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    http_response_free(&r);
    unlink(sa.sun_path);

    /* nobody on the socket now */
    char want[200];
    assert_int_equal(http_request(&a, "GET", "/v1/status", NULL, 5000, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "cannot reach rackpowerd at %s: No such file or directory",
             sa.sun_path);
    assert_string_equal(err, want);
    rmdir(dir);
}

/* Runs the rackpowerctl binary with args against a server that answers
 * GET /v1/status with status_body; its stdout in out. */
static void ctl_against(const char *status_body, const char *args, char *out, size_t outlen)
{
    const char *bin = getenv("RP_BINARY_DIR");
    char answer[2048], cmd[512];
    snprintf(answer, sizeof(answer),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(status_body), status_body);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    pid_t pid = serve_on(fd, "GET /v1/status HTTP/1.1\r\n", answer);
    snprintf(cmd, sizeof(cmd), "%s/rackpowerctl --api http://127.0.0.1:%d %s", bin ? bin : ".",
             ntohs(sa.sin_port), args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    assert_int_equal(pclose(f), 0);
    int st;
    waitpid(pid, &st, 0);
}

static void test_alarms_listed_and_counted(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1); /* rackpowerctl's wall clock, for the comparison */
    static const char with[] =
        "{\"name\":\"demo\",\"counts\":{},\"started\":1795260744.28,\"alarms\":["
        "{\"kind\":\"device_down\",\"subject\":\"modbus-tcp\",\"since\":12.5,"
        "\"reason\":\"no answer\"},"
        "{\"kind\":\"psu_unknown\",\"subject\":\"ps3\",\"since\":40,\"reason\":\"unreadable\"}]}";
    char out[2048];
    ctl_against(with, "alarms", out, sizeof(out));
    /* since: the start's time plus the alarm's since, on the wall clock */
    assert_string_equal(out,
                        "KIND             SUBJECT      SINCE                      REASON\n"
                        "device_down      modbus-tcp   2026-11-21T11:32:36+00:00  no answer\n"
                        "psu_unknown      ps3          2026-11-21T11:33:04+00:00  unreadable\n");
    setenv("TZ", "XYZ-5:30", 1); /* local time, with its offset */
    ctl_against(with, "alarms", out, sizeof(out));
    assert_non_null(
        strstr(out, "\ndevice_down      modbus-tcp   2026-11-21T17:02:36+05:30  no answer\n"));
    setenv("TZ", "UTC", 1);
    ctl_against(with, "alarms --json", out, sizeof(out));
    assert_string_equal(out, "{\"alarms\":[{\"kind\":\"device_down\",\"subject\":\"modbus-tcp\","
                             "\"since\":12.5,\"reason\":\"no answer\"},{\"kind\":\"psu_unknown\","
                             "\"subject\":\"ps3\",\"since\":40,\"reason\":\"unreadable\"}]}\n");
    ctl_against(with, "status", out, sizeof(out));
    assert_non_null(strstr(out, "\nalarms: 2\n"));
    assert_non_null(strstr(out, "\nevents: 0, up 0 s (started 2026-11-21T11:32:24+00:00)\n"));

    /* a daemon from before alarms: none */
    static const char without[] = "{\"name\":\"demo\",\"counts\":{}}";
    ctl_against(without, "alarms", out, sizeof(out));
    assert_string_equal(out, "no active alarms\n");
    ctl_against(without, "alarms --json", out, sizeof(out));
    assert_string_equal(out, "{\"alarms\":[]}\n");
    ctl_against(without, "status", out, sizeof(out));
    assert_non_null(strstr(out, "\nalarms: 0\n"));
}

static void test_headline_says_what_is_unknown_instead_of_protected(void **state)
{
    (void)state;
    static const char unknown[] =
        "{\"name\":\"demo\",\"protection\":\"n+1\",\"protected\":false,"
        "\"redundancy_lost\":true,\"capacity_w\":10000,\"allocated_w\":5000,\"counts\":{},"
        "\"devices\":[{\"device\":\"modbus-tcp 127.0.0.1:502\",\"state\":\"down\","
        "\"error\":\"no answer\",\"age_s\":12.4,\"stale\":true}],"
        "\"unknown\":[{\"psu\":\"ps1\",\"age_s\":13},{\"psu\":\"ps2\",\"age_s\":12.4}],"
        "\"stale\":{\"psus\":4,\"servers\":6},\"alarms\":[]}";
    char out[2048];
    ctl_against(unknown, "status", out, sizeof(out));
    assert_non_null(strstr(out, "rack demo: n+1 unknown: ps1, ps2 unreadable for 12 s, redundancy "
                                "lost; 5000 of 10000 W allocated\n"));
    assert_null(strstr(out, "protected"));
    assert_non_null(
        strstr(out, "\nstale: 4 psu readings, 6 server draws (not read for more than 3 polls)\n"));
    assert_non_null(
        strstr(out, "\ndevice modbus-tcp 127.0.0.1:502: down: no answer (last read 12s ago)\n"));

    /* protected without the PSU it cannot read: protected, and says which */
    static const char counted[] =
        "{\"name\":\"demo\",\"protection\":\"n+1\",\"protected\":true,\"counts\":{},"
        "\"capacity_w\":10000,\"allocated_w\":5000,"
        "\"unknown\":[{\"psu\":\"ps3\",\"age_s\":null}],\"stale\":{\"psus\":0,\"servers\":0}}";
    ctl_against(counted, "status", out, sizeof(out));
    assert_non_null(strstr(out, "rack demo: n+1 protected (not counting ps3: never read); 5000 of "
                                "10000 W allocated\n"));
    assert_null(strstr(out, "stale:"));

    /* a daemon from before ages: the headline as it was */
    static const char old[] = "{\"name\":\"demo\",\"protection\":\"n+1\",\"protected\":true,"
                              "\"counts\":{},\"capacity_w\":10000,\"allocated_w\":5000}";
    ctl_against(old, "status", out, sizeof(out));
    assert_non_null(strstr(out, "rack demo: n+1 protected; 5000 of 10000 W allocated\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_sse_events_split_anywhere),
        cmocka_unit_test(test_bodies_by_length_chunked_and_close),
        cmocka_unit_test(test_cut_short_and_garbage),
        cmocka_unit_test(test_nobody_listening),
        cmocka_unit_test(test_several_urls_one_list),
        cmocka_unit_test(test_several_urls_first_that_answers_is_used_and_kept),
        cmocka_unit_test(test_several_urls_a_command_that_may_have_arrived_is_not_sent_again),
        cmocka_unit_test(test_stream_passes_2xx_keeps_4xx),
        cmocka_unit_test(test_unix_socket_with_prefix),
        cmocka_unit_test(test_alarms_listed_and_counted),
        cmocka_unit_test(test_headline_says_what_is_unknown_instead_of_protected),
    };
    if (http_init())
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_fini();
    return failed;
}
