/*
 * test_ctl_http.c - rackpowerctl's HTTP client: URLs, bodies by length,
 * chunked and until close, Server-Sent Events, and the message when nobody
 * listens. A forked child plays the server with canned answers.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"

static char err[600];

static void test_urls(void **state)
{
    (void)state;
    struct http_url u;
    assert_int_equal(http_parse_url("http://127.0.0.1:8470", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "8470");
    assert_string_equal(u.base, "");
    assert_int_equal(http_parse_url("localhost", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "localhost");
    assert_string_equal(u.port, "8470");
    assert_int_equal(http_parse_url("http://[::1]:9000/rp/", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "9000");
    assert_string_equal(u.base, "/rp");
    char shown[64];
    http_url_show(&u, shown, sizeof(shown));
    assert_string_equal(shown, "[::1]:9000");
    assert_int_equal(http_parse_url("https://x", &u, err, sizeof(err)), -1);
    assert_string_equal(err, "https://x: only http:// is supported");
    assert_int_equal(http_parse_url("http://x:0", &u, err, sizeof(err)), -1);
    assert_int_equal(http_parse_url("http://x:99999", &u, err, sizeof(err)), -1);
    assert_int_equal(http_parse_url("http://:80", &u, err, sizeof(err)), -1);
    assert_int_equal(http_parse_url("http://[::1", &u, err, sizeof(err)), -1);
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
        struct http_sse s = {0};
        struct got g = {0};
        for (size_t i = 0; i < sizeof(stream) - 1; i += step) {
            size_t n = sizeof(stream) - 1 - i < step ? sizeof(stream) - 1 - i : step;
            assert_int_equal(http_sse_feed(&s, stream + i, n, on_event, &g), 0);
        }
        assert_int_equal(g.n, 3);
        assert_string_equal(g.data[0], "{\"a\":1}");
        assert_string_equal(g.data[1], "line1\nline2");
        assert_string_equal(g.data[2], "");
        http_sse_free(&s);
    }
}

/* Serves one connection with answer, after reading the request head. */
static pid_t serve(int *port, const char *answer)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
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
        ssize_t w = write(c, answer, strlen(answer));
        (void)w;
        close(c);
        _exit(0);
    }
    close(fd);
    return pid;
}

static void fetch(const char *answer, struct http_response *r)
{
    int port, st;
    pid_t pid = serve(&port, answer);
    char url[64];
    struct http_url u;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    assert_int_equal(http_parse_url(url, &u, err, sizeof(err)), 0);
    int rc = http_request(&u, "GET", "/v1/status", NULL, 5000, r, err, sizeof(err));
    waitpid(pid, &st, 0);
    if (rc)
        fail_msg("http_request: %s", err);
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
    struct http_url u;
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
        assert_int_equal(http_parse_url(url, &u, err, sizeof(err)), 0);
        assert_int_equal(http_request(&u, "GET", "/", NULL, 5000, &r, err, sizeof(err)), -1);
        waitpid(pid, &st, 0);
    }
}

static void test_nobody_listening(void **state)
{
    (void)state;
    /* a port that was free a moment ago */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    char url[64], want[128];
    struct http_url u;
    struct http_response r;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    assert_int_equal(http_parse_url(url, &u, err, sizeof(err)), 0);
    assert_int_equal(http_request(&u, "GET", "/", NULL, 5000, &r, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "cannot reach rackpowerd at 127.0.0.1:%d: Connection refused",
             ntohs(sa.sin_port));
    assert_string_equal(err, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_sse_events_split_anywhere),
        cmocka_unit_test(test_bodies_by_length_chunked_and_close),
        cmocka_unit_test(test_cut_short_and_garbage),
        cmocka_unit_test(test_nobody_listening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
