/*
 * test_migrate.c - an activity's migrate command (src/daemon/migrate.h): real
 * programs run by a real libuv loop, their exit status, output and time limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"

static char dir[] = "/tmp/test_migrate.XXXXXX";

struct seen {
    int calls;
    struct migrate_result r;
};

static void done(void *arg, struct migrate *m, const struct migrate_result *r)
{
    struct seen *s = arg;
    (void)m;
    s->calls++;
    s->r = *r;
}

/* A script in the test's directory; its path in path. */
static void script(const char *name, const char *body, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static struct seen run(const char *path, int64_t timeout_ns)
{
    uv_loop_t loop;
    struct seen s = {0};
    char err[256];
    assert_int_equal(uv_loop_init(&loop), 0);
    struct migrate *m = migrate_start(&loop, path, "orders-db", "db1", "app1", timeout_ns, done, &s,
                                      err, sizeof(err));
    assert_non_null(m);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return s;
}

static void test_arguments_are_activity_from_to_and_exit_0_is_success(void **state)
{
    (void)state;
    char path[300], out[400];
    snprintf(out, sizeof(out), "%s/args", dir);
    char body[600];
    snprintf(body, sizeof(body), "echo \"$1 $2 $3 $#\" > %s\necho moved", out);
    script("ok.sh", body, path, sizeof(path));
    struct seen s = run(path, 10000000000LL);
    assert_int_equal(s.calls, 1);
    assert_true(s.r.ok);
    assert_int_equal(s.r.exit_status, 0);
    assert_false(s.r.timed_out);
    assert_string_equal(s.r.tail, "moved");
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[100] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "orders-db db1 app1 3\n");
    assert_non_null(strstr(s.r.summary, "exit 0"));
}

static void test_a_failing_command_says_its_status_and_last_lines(void **state)
{
    (void)state;
    char path[300];
    script("fail.sh",
           "i=0; while [ $i -lt 100 ]; do echo \"line $i\"; i=$((i+1)); done\n"
           "echo 'cannot reach app1' >&2\nexit 3",
           path, sizeof(path));
    struct seen s = run(path, 10000000000LL);
    assert_int_equal(s.calls, 1);
    assert_false(s.r.ok);
    assert_int_equal(s.r.exit_status, 3);
    assert_non_null(strstr(s.r.tail, "cannot reach app1"));
    assert_non_null(strstr(s.r.tail, "line 99"));
    assert_null(strstr(s.r.tail, "line 1\n")); /* the first lines are not kept */
    assert_true(strlen(s.r.tail) < MIGRATE_TAIL_LEN);
    assert_non_null(strstr(s.r.summary, "exit 3"));
}

static void test_a_command_past_its_time_limit_is_killed(void **state)
{
    (void)state;
    char path[300];
    script("slow.sh", "echo started\nexec sleep 30", path, sizeof(path));
    struct seen s = run(path, 300000000LL); /* 0.3 s */
    assert_int_equal(s.calls, 1);
    assert_false(s.r.ok);
    assert_true(s.r.timed_out);
    assert_int_equal(s.r.term_signal, 15);
    assert_true(s.r.took_ns < 5000000000LL); /* SIGTERM was enough: no SIGKILL wait */
    assert_string_equal(s.r.tail, "started");
    assert_non_null(strstr(s.r.summary, "time limit"));
}

static void test_a_command_ignoring_sigterm_is_killed_after_the_grace(void **state)
{
    (void)state;
    char path[300];
    script("stubborn.sh", "trap '' TERM\necho stubborn\nwhile :; do sleep 1; done", path,
           sizeof(path));
    struct seen s = run(path, 200000000LL);
    assert_int_equal(s.calls, 1);
    assert_true(s.r.timed_out);
    assert_int_equal(s.r.term_signal, 9);
    assert_true(s.r.took_ns >= MIGRATE_KILL_NS);
}

static void test_a_missing_program_is_refused_at_once(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct seen s = {0};
    char err[256] = "";
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_null(migrate_start(&loop, "/nonexistent/migrate", "a", "b", "c", 1000000000LL, done, &s,
                              err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/migrate"));
    assert_null(migrate_start(&loop, "", "a", "b", "c", 1000000000LL, done, &s, err, sizeof(err)));
    uv_run(&loop, UV_RUN_DEFAULT); /* the handles of the failed spawn close */
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(s.calls, 0);
}

static void test_a_cancelled_command_is_killed_and_not_told(void **state)
{
    (void)state;
    char path[300], err[256];
    script("long.sh", "exec sleep 30", path, sizeof(path));
    uv_loop_t loop;
    struct seen s = {0};
    assert_int_equal(uv_loop_init(&loop), 0);
    struct migrate *m =
        migrate_start(&loop, path, "a", "b", "c", 60000000000LL, done, &s, err, sizeof(err));
    assert_non_null(m);
    migrate_cancel(m);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(s.calls, 0);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments_are_activity_from_to_and_exit_0_is_success),
        cmocka_unit_test(test_a_failing_command_says_its_status_and_last_lines),
        cmocka_unit_test(test_a_command_past_its_time_limit_is_killed),
        cmocka_unit_test(test_a_command_ignoring_sigterm_is_killed_after_the_grace),
        cmocka_unit_test(test_a_missing_program_is_refused_at_once),
        cmocka_unit_test(test_a_cancelled_command_is_killed_and_not_told),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
