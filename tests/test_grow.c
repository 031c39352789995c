/* The one growable array (src/util/grow.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "grow.h"

static void test_grow_doubles_from_first_until_it_holds_need(void **state)
{
    (void)state;
    int *v = NULL;
    size_t cap = 0;
    assert_int_equal(grow_to((void **)&v, &cap, 5, sizeof(*v), 4, 0), 0);
    assert_int_equal(cap, 8);
    v[7] = 1;
    assert_int_equal(grow_to((void **)&v, &cap, 8, sizeof(*v), 4, 0), 0);
    assert_int_equal(cap, 8); /* already holds it: untouched */
    assert_int_equal(grow_to((void **)&v, &cap, 33, sizeof(*v), 4, 0), 0);
    assert_int_equal(cap, 64);
    assert_int_equal(v[7], 1); /* contents kept */
    free(v);
}

static void test_grow_stops_at_max_and_refuses_past_it(void **state)
{
    (void)state;
    char *b = NULL;
    size_t cap = 0;
    assert_int_equal(grow_to((void **)&b, &cap, 70, 1, 64, 100), 0);
    assert_int_equal(cap, 100); /* clamped to the bound, still holds 70 */
    assert_int_equal(grow_to((void **)&b, &cap, 101, 1, 64, 100), -1);
    assert_int_equal(cap, 100); /* refused: untouched */
    assert_non_null(b);
    free(b);
}

static void test_grow_refuses_a_size_that_overflows(void **state)
{
    (void)state;
    char *b = NULL;
    size_t cap = 0;
    assert_int_equal(grow_to((void **)&b, &cap, SIZE_MAX / 2 + 2, 4, 16, 0), -1);
    assert_null(b);
    assert_int_equal(cap, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_doubles_from_first_until_it_holds_need),
        cmocka_unit_test(test_grow_stops_at_max_and_refuses_past_it),
        cmocka_unit_test(test_grow_refuses_a_size_that_overflows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
