/*
 * test_rackkey.c - the rack key file's rules (rackkey.h): raw bytes from a
 * regular file of mode 0600 or stricter, 32..1024 of them; anything else is
 * refused with its reason and leaves no key.
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

#include "rackkey.h"
#include "testdir.h"

static char err[256];

/* The key file tests work in a directory of their own. */
static char dir[64], dbpath[96];

static int make_dir(void **state)
{
    (void)state;
    return testdir_make(dir, sizeof(dir), dbpath, sizeof(dbpath), "test_rackkey");
}

static int remove_dir(void **state)
{
    (void)state;
    return testdir_remove(dir);
}

static const char *write_key(const char *name, size_t len, mode_t mode)
{
    static char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc((int)(i * 13 + 1) & 0xff, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void key_refused(const char *path, const char *reason)
{
    struct rackbus_key k;
    err[0] = 0;
    assert_int_equal(rackkey_load(path, &k, err, sizeof(err)), -1);
    if (!strstr(err, reason))
        fail_msg("reason \"%s\" lacks \"%s\"", err, reason);
    assert_int_equal(k.len, 0);
}

static void test_key_file_of_mode_0600_is_read_as_raw_bytes(void **state)
{
    (void)state;
    struct rackbus_key k;
    const char *path = write_key("rack.key", 32, 0600);
    assert_int_equal(rackkey_load(path, &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, 32);
    for (size_t i = 0; i < 32; i++)
        assert_int_equal(k.bytes[i], (i * 13 + 1) & 0xff);
    path = write_key("ro.key", RACKBUS_KEY_MAX_BYTES, 0400);
    assert_int_equal(rackkey_load(path, &k, err, sizeof(err)), 0);
    assert_int_equal(k.len, RACKBUS_KEY_MAX_BYTES);
    rackbus_key_wipe(&k);
    assert_int_equal(k.len, 0);
    assert_int_equal(k.bytes[0], 0);
}

static void test_key_file_others_or_group_may_use_is_refused(void **state)
{
    (void)state;
    key_refused(write_key("a.key", 32, 0644), "mode 0644 lets others read it; chmod 600");
    key_refused(write_key("b.key", 32, 0640), "mode 0640 lets its group read it; chmod 600");
    key_refused(write_key("c.key", 32, 0602), "lets others write it");
    key_refused(write_key("d.key", 32, 0620), "lets its group write it");
    key_refused(write_key("e.key", 32, 0610), "lets its group execute it");
}

static void test_key_file_too_short_too_long_or_not_a_file_is_refused(void **state)
{
    (void)state;
    key_refused(write_key("short.key", 31, 0600), "31 bytes, a key needs at least 32");
    key_refused(write_key("empty.key", 0, 0600), "0 bytes");
    key_refused(write_key("long.key", RACKBUS_KEY_MAX_BYTES + 1, 0600), "longer than 1024");
    char path[160];
    snprintf(path, sizeof(path), "%s/missing.key", dir);
    key_refused(path, "No such file");
    snprintf(path, sizeof(path), "%s/sub", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    key_refused(path, "not a regular file");
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    key_refused(path, "not a regular file"); /* and does not wait for a writer */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file_of_mode_0600_is_read_as_raw_bytes),
        cmocka_unit_test(test_key_file_others_or_group_may_use_is_refused),
        cmocka_unit_test(test_key_file_too_short_too_long_or_not_a_file_is_refused),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
