/* The daemon's log: a warning outside input can repeat at will is shown a
 * few times, then counted (src/daemon/log.h, log_warnx_limited). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

/* stderr goes to a temporary file; its text so far, malloc'd. */
static char path[] = "/tmp/test_log.XXXXXX";

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0 || !freopen(path, "w", stderr))
        return -1;
    close(fd);
    log_init("test_log", false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static char *logged(void)
{
    fflush(stderr);
    FILE *f = fopen(path, "r");
    static char buf[65536];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

static void test_limited_warning_shows_burst_then_counts_the_rest(void **state)
{
    (void)state;
    struct log_limit l;
    log_limit_init(&l, 3, 1);
    for (int i = 0; i < 20; i++)
        log_warnx_limited(&l, "bad request %d", i);
    char *text = logged();
    assert_int_equal(count(text, "bad request"), 3); /* 0, 1, 2 */
    assert_non_null(strstr(text, "bad request 2\n"));
    log_limit_flush(&l); /* the window is not over: nothing yet */
    assert_int_equal(count(logged(), "more warnings like these"), 0);
    struct timespec ts = {.tv_sec = 1, .tv_nsec = 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    log_limit_flush(&l);
    text = logged();
    assert_non_null(strstr(text, "17 more warnings like these in the last 1 s, not shown; the "
                                 "last: bad request 19"));
    /* a new window shows again */
    log_warnx_limited(&l, "bad request again");
    assert_non_null(strstr(logged(), "bad request again"));
    log_limit_fini(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limited_warning_shows_burst_then_counts_the_rest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
