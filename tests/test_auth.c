/* test_auth: roles, the tokens file, token checks, request checks and the
 * per-client command rate (src/daemon/auth.h). */
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

#include "auth.h"

static void test_roles_order_viewer_operator_admin(void **state)
{
    (void)state;
    assert_int_equal(auth_role_parse("viewer"), AUTH_VIEWER);
    assert_int_equal(auth_role_parse("operator"), AUTH_OPERATOR);
    assert_int_equal(auth_role_parse("admin"), AUTH_ADMIN);
    assert_int_equal(auth_role_parse("root"), AUTH_NONE);
    assert_int_equal(auth_role_parse("none"), AUTH_NONE);
    assert_int_equal(auth_needs(AUTH_READ), AUTH_VIEWER);
    assert_int_equal(auth_needs(AUTH_RAISE), AUTH_OPERATOR);
    assert_int_equal(auth_needs(AUTH_LOWER), AUTH_OPERATOR);
    assert_int_equal(auth_needs(AUTH_RELOAD), AUTH_ADMIN);
    assert_int_equal(auth_needs(AUTH_SHUTDOWN), AUTH_ADMIN);
    assert_true(AUTH_VIEWER < AUTH_OPERATOR && AUTH_OPERATOR < AUTH_ADMIN);
}

static void test_new_token_verifies_and_a_changed_one_does_not(void **state)
{
    (void)state;
    struct auth_tokens t = {0};
    struct auth_token a, b;
    char sa[AUTH_TOKEN_LEN], sb[AUTH_TOKEN_LEN], err[256];
    assert_int_equal(auth_token_new("ops", AUTH_OPERATOR, &a, sa, err, sizeof(err)), 0);
    assert_int_equal(auth_token_new("view", AUTH_VIEWER, &b, sb, err, sizeof(err)), 0);
    assert_int_equal(strlen(sa), AUTH_TOKEN_LEN - 1);
    assert_memory_equal(sa, "rp_", 3);
    assert_string_not_equal(sa, sb);
    assert_int_equal(auth_tokens_add(&t, &a, err, sizeof(err)), 0);
    assert_int_equal(auth_tokens_add(&t, &b, err, sizeof(err)), 0);
    const struct auth_token *got = auth_tokens_verify(&t, sa);
    assert_non_null(got);
    assert_string_equal(got->name, "ops");
    assert_int_equal(got->role, AUTH_OPERATOR);
    got = auth_tokens_verify(&t, sb);
    assert_non_null(got);
    assert_string_equal(got->name, "view");
    sa[10] = sa[10] == 'a' ? 'b' : 'a';
    assert_null(auth_tokens_verify(&t, sa));
    assert_null(auth_tokens_verify(&t, ""));
    assert_null(auth_tokens_verify(&t, "rp_short"));
    assert_null(auth_tokens_verify(&t, NULL));
    /* the same name twice is refused */
    assert_int_equal(auth_tokens_add(&t, &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exists already"));
    auth_tokens_free(&t);
}

static void test_token_names_and_roles_are_checked(void **state)
{
    (void)state;
    struct auth_token a;
    char s[AUTH_TOKEN_LEN], err[256];
    assert_int_equal(auth_token_new("a b", AUTH_VIEWER, &a, s, err, sizeof(err)), -1);
    assert_int_equal(auth_token_new("", AUTH_VIEWER, &a, s, err, sizeof(err)), -1);
    assert_int_equal(auth_token_new("ok", AUTH_NONE, &a, s, err, sizeof(err)), -1);
    assert_true(auth_name_ok("ci-bot@rack1.x_y"));
    assert_false(auth_name_ok("uid:0")); /* cannot pass for a local peer in the journal */
}

static char dir[] = "/tmp/test_auth.XXXXXX";

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void test_saved_file_loads_back_and_verifies(void **state)
{
    (void)state;
    char path[256], err[512];
    struct auth_tokens t = {0}, back;
    struct auth_token a;
    char secret[AUTH_TOKEN_LEN];
    bool missing;
    snprintf(path, sizeof(path), "%s/tokens", dir);
    assert_int_equal(auth_token_new("admin1", AUTH_ADMIN, &a, secret, err, sizeof(err)), 0);
    assert_int_equal(auth_tokens_add(&t, &a, err, sizeof(err)), 0);
    umask(0); /* the file is 0600 whatever the umask */
    assert_int_equal(auth_tokens_save(path, &t, err, sizeof(err)), 0);
    umask(022);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(auth_tokens_load(path, getuid(), &back, &missing, err, sizeof(err)), 0);
    assert_false(missing);
    assert_int_equal(back.n, 1);
    const struct auth_token *got = auth_tokens_verify(&back, secret);
    assert_non_null(got);
    assert_string_equal(got->name, "admin1");
    assert_int_equal(got->role, AUTH_ADMIN);
    /* the secret itself is nowhere in the file */
    FILE *f = fopen(path, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_null(strstr(text, secret + 3));
    auth_tokens_free(&t);
    auth_tokens_free(&back);
}

static void test_file_others_may_read_is_refused(void **state)
{
    (void)state;
    char path[256], err[512];
    struct auth_tokens t;
    bool missing;
    snprintf(path, sizeof(path), "%s/open", dir);
    write_file(path, "# none yet\n", 0644);
    assert_int_equal(auth_tokens_load(path, getuid(), &t, &missing, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "group or others may access it (mode 0644"));
    chmod(path, 0640);
    assert_int_equal(auth_tokens_load(path, getuid(), &t, &missing, err, sizeof(err)), -1);
    chmod(path, 0600);
    assert_int_equal(auth_tokens_load(path, getuid(), &t, &missing, err, sizeof(err)), 0);
    assert_int_equal(t.n, 0);
    auth_tokens_free(&t);
}

static void test_missing_file_is_no_tokens(void **state)
{
    (void)state;
    char path[256], err[512];
    struct auth_tokens t;
    bool missing;
    snprintf(path, sizeof(path), "%s/nothing-here", dir);
    assert_int_equal(auth_tokens_load(path, getuid(), &t, &missing, err, sizeof(err)), 0);
    assert_true(missing);
    assert_int_equal(t.n, 0);
}

static void test_bad_lines_name_file_and_line(void **state)
{
    (void)state;
    struct auth_tokens t;
    char err[512];
    static const char salt[] = "00112233445566778899aabbccddeeff";
    static const char hash[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char good[256], text[1024];
    snprintf(good, sizeof(good), "ops operator %s %s\n", salt, hash);
    assert_int_equal(auth_tokens_parse(good, strlen(good), "f", &t, err, sizeof(err)), 0);
    assert_int_equal(t.n, 1);
    auth_tokens_free(&t);

    snprintf(text, sizeof(text), "# c\n\n%sx root %s %s\n", good, salt, hash);
    assert_int_equal(auth_tokens_parse(text, strlen(text), "f", &t, err, sizeof(err)), -1);
    assert_string_equal(err, "f:4: role: expected viewer, operator or admin");
    snprintf(text, sizeof(text), "x viewer %.30s %s\n", salt, hash);
    assert_int_equal(auth_tokens_parse(text, strlen(text), "f", &t, err, sizeof(err)), -1);
    assert_string_equal(err, "f:1: salt: expected 32 hex digits");
    snprintf(text, sizeof(text), "x viewer %s %.62sgg\n", salt, hash);
    assert_int_equal(auth_tokens_parse(text, strlen(text), "f", &t, err, sizeof(err)), -1);
    assert_string_equal(err, "f:1: hash: expected 64 hex digits");
    snprintf(text, sizeof(text), "x viewer %s\n", salt);
    assert_int_equal(auth_tokens_parse(text, strlen(text), "f", &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "f:1: expected NAME ROLE SALT HASH"));
    snprintf(text, sizeof(text), "%s%s", good, good);
    assert_int_equal(auth_tokens_parse(text, strlen(text), "f", &t, err, sizeof(err)), -1);
    assert_string_equal(err, "f:2: a token named 'ops' exists already");
    assert_int_equal(t.n, 0);
}

static void test_peer_roles_root_self_group_and_others(void **state)
{
    (void)state;
    gid_t groups[] = {10, 20};
    enum auth_role op = AUTH_OPERATOR;
    assert_int_equal(auth_peer_role(0, 0, NULL, 0, 1000, 50, op), AUTH_ADMIN);
    assert_int_equal(auth_peer_role(1000, 100, NULL, 0, 1000, 50, op), AUTH_ADMIN);
    assert_int_equal(auth_peer_role(1001, 50, NULL, 0, 1000, 50, op), AUTH_OPERATOR);
    assert_int_equal(auth_peer_role(1001, 100, groups, 2, 1000, 20, op), AUTH_OPERATOR);
    assert_int_equal(auth_peer_role(1001, 100, groups, 2, 1000, 30, op), AUTH_NONE);
    assert_int_equal(auth_peer_role(1001, 50, groups, 2, 1000, (gid_t)-1, op), AUTH_NONE);
}

static void test_host_must_be_one_of_our_names(void **state)
{
    (void)state;
    const char *names[] = {"127.0.0.1", "localhost", "::1", "rack1.example.net"};
    assert_true(auth_host_ok("127.0.0.1:8470", names, 4));
    assert_true(auth_host_ok("LOCALHOST:8470", names, 4));
    assert_true(auth_host_ok("localhost", names, 4));
    assert_true(auth_host_ok("[::1]:8470", names, 4));
    assert_true(auth_host_ok("rack1.example.net", names, 4));
    assert_false(auth_host_ok("evil.example.com:8470", names, 4)); /* DNS rebinding */
    assert_false(auth_host_ok("localhost.evil.example.com", names, 4));
    assert_false(auth_host_ok("[::1", names, 4));
    assert_false(auth_host_ok("[::1]x", names, 4));
    assert_false(auth_host_ok("", names, 4));
    assert_false(auth_host_ok(NULL, names, 4));
}

static void test_origin_content_type_and_bearer(void **state)
{
    (void)state;
    const char *origins[] = {"https://rack1.example.net:8470"};
    assert_true(auth_origin_ok("https://rack1.example.net:8470", origins, 1));
    assert_false(auth_origin_ok("https://evil.example.com", origins, 1));
    assert_false(auth_origin_ok("null", origins, 1));
    assert_true(auth_json_type("application/json"));
    assert_true(auth_json_type("application/json; charset=utf-8"));
    assert_true(auth_json_type("Application/JSON"));
    assert_false(auth_json_type("text/plain"));
    assert_false(auth_json_type("application/jsonx"));
    assert_false(auth_json_type("application/x-www-form-urlencoded"));
    assert_false(auth_json_type(NULL));
    assert_string_equal(auth_bearer("Bearer rp_abc"), "rp_abc");
    assert_string_equal(auth_bearer("bearer  rp_abc"), "rp_abc");
    assert_null(auth_bearer("Basic dXNlcjpwYXNz"));
    assert_null(auth_bearer("Bearer "));
    assert_null(auth_bearer(NULL));
}

#define S 1000000000LL

static void test_rate_limits_raising_commands_per_client(void **state)
{
    (void)state;
    struct auth_rate *r = malloc(sizeof(*r));
    assert_non_null(r);
    auth_rate_init(r, 1, 3); /* one a second, three at once */
    int64_t t = 100 * S;
    for (int i = 0; i < 3; i++)
        assert_int_equal(auth_rate_take(r, "ops", AUTH_RAISE, t), 0);
    int64_t wait = auth_rate_take(r, "ops", AUTH_RAISE, t);
    assert_true(wait > 0 && wait <= 1001);
    /* another client has its own bucket */
    assert_int_equal(auth_rate_take(r, "uid:1000", AUTH_RAISE, t), 0);
    /* a second later one more goes */
    assert_int_equal(auth_rate_take(r, "ops", AUTH_RAISE, t + S), 0);
    assert_true(auth_rate_take(r, "ops", AUTH_RELOAD, t + S) > 0);
    free(r);
}

static void test_rate_never_holds_back_lowering_power(void **state)
{
    (void)state;
    struct auth_rate *r = malloc(sizeof(*r));
    assert_non_null(r);
    auth_rate_init(r, 1, 1);
    int64_t t = 5 * S;
    assert_int_equal(auth_rate_take(r, "ops", AUTH_RAISE, t), 0);
    assert_true(auth_rate_take(r, "ops", AUTH_RAISE, t) > 0);
    for (int i = 0; i < 1000; i++) /* power-off, out-of-service: always, at once */
        assert_int_equal(auth_rate_take(r, "ops", AUTH_LOWER, t), 0);
    /* and they took nothing from the bucket */
    assert_int_equal(auth_rate_take(r, "ops", AUTH_RAISE, t + S), 0);
    free(r);
}

static void test_rate_forgets_the_client_seen_longest_ago_when_full(void **state)
{
    (void)state;
    struct auth_rate *r = malloc(sizeof(*r));
    assert_non_null(r);
    auth_rate_init(r, 1, 1);
    char name[32];
    for (int i = 0; i < AUTH_RATE_CLIENTS + 10; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        assert_int_equal(auth_rate_take(r, name, AUTH_RAISE, (int64_t)i * 1000), 0);
    }
    assert_int_equal(r->n, AUTH_RATE_CLIENTS);
    /* the last one is still held back */
    assert_true(auth_rate_take(r, name, AUTH_RAISE, (int64_t)(AUTH_RATE_CLIENTS + 9) * 1000) > 0);
    auth_rate_init(r, 0, 1); /* rate 0: no limit */
    for (int i = 0; i < 100; i++)
        assert_int_equal(auth_rate_take(r, "x", AUTH_RAISE, 0), 0);
    free(r);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_order_viewer_operator_admin),
        cmocka_unit_test(test_new_token_verifies_and_a_changed_one_does_not),
        cmocka_unit_test(test_token_names_and_roles_are_checked),
        cmocka_unit_test(test_saved_file_loads_back_and_verifies),
        cmocka_unit_test(test_file_others_may_read_is_refused),
        cmocka_unit_test(test_missing_file_is_no_tokens),
        cmocka_unit_test(test_bad_lines_name_file_and_line),
        cmocka_unit_test(test_peer_roles_root_self_group_and_others),
        cmocka_unit_test(test_host_must_be_one_of_our_names),
        cmocka_unit_test(test_origin_content_type_and_bearer),
        cmocka_unit_test(test_rate_limits_raising_commands_per_client),
        cmocka_unit_test(test_rate_never_holds_back_lowering_power),
        cmocka_unit_test(test_rate_forgets_the_client_seen_longest_ago_when_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
