/*
 * test_telemetry_csv.c - the PSU history CSV (src/core/telemetry_csv.c): a
 * good row and its empty fields, each kind of bad field named with its line,
 * the header, and a row written and read back.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry_csv.h"

static int parse(const char *line, long lineno, struct tcsv_row *r, char *err)
{
    return tcsv_parse_row(line, strlen(line), lineno, r, err, 200);
}

static void a_full_row_gives_every_value(void **state)
{
    (void)state;
    struct tcsv_row r;
    char err[200];
    assert_int_equal(
        parse("1700000000,psu-1,230.5,2.1,12.02,38.5,480,462.5,41.5,24,8200,0x0804", 2, &r, err),
        0);
    assert_int_equal(r.t, 1700000000);
    assert_string_equal(r.psu, "psu-1");
    assert_true(r.v[TCSV_VIN_V] == 230.5);
    assert_true(r.v[TCSV_POUT_W] == 462.5);
    assert_true(r.v[TCSV_FAN_RPM] == 8200);
    assert_int_equal(r.status_word, 0x0804);
}

static void empty_fields_are_not_read(void **state)
{
    (void)state;
    struct tcsv_row r;
    char err[200];
    assert_int_equal(parse("5,ps1,,,,,,,,,,\r", 3, &r, err), 0);
    for (int k = 0; k < TCSV_NVALUES; k++)
        assert_true(isnan(r.v[k]));
    assert_int_equal(r.status_word, -1);
}

/* Each kind of bad field is refused, the error naming the line and field. */
static void each_bad_field_is_named_with_its_line(void **state)
{
    (void)state;
    static const struct {
        const char *line, *want;
    } cases[] = {
        {",p,1,1,1,1,1,1,1,1,1,0x0000", "line 7: t: empty"},
        {"-5,p,1,1,1,1,1,1,1,1,1,0x0000", "line 7: t: not whole Unix seconds"},
        {"1.5,p,1,1,1,1,1,1,1,1,1,0x0000", "line 7: t: not whole"},
        {"99999999999999,p,1,1,1,1,1,1,1,1,1,0x0000", "line 7: t: out of range"},
        {"1,,1,1,1,1,1,1,1,1,1,0x0000", "line 7: psu: empty"},
        {"1,p s,1,1,1,1,1,1,1,1,1,0x0000", "line 7: psu: id may hold only"},
        {"1,p,abc,1,1,1,1,1,1,1,1,0x0000", "line 7: vin_v: not a decimal number \"abc\""},
        {"1,p,1,inf,1,1,1,1,1,1,1,0x0000", "line 7: iin_a: not a decimal"},
        {"1,p,1,1,0x10,1,1,1,1,1,1,0x0000", "line 7: vout_v: not a decimal"},
        {"1,p,1,1,1,1e9,1,1,1,1,1,0x0000", "line 7: iout_a: outside"},
        {"1,p,1,1,1,1,-3,1,1,1,1,0x0000", "line 7: pin_w: outside"},
        {"1,p,1,1,1,1,1,1e,1,1,1,0x0000", "line 7: pout_w: not a decimal"},
        {"1,p,1,1,1,1,1,1,41000,1,1,0x0000", "line 7: temp_c: outside"},
        {"1,p,1,1,1,1,1,1,1,.,1,0x0000", "line 7: inlet_c: not a decimal"},
        {"1,p,1,1,1,1,1,1,1,1,-1,0x0000", "line 7: fan_rpm: outside"},
        {"1,p,1,1,1,1,1,1,1,1,1,804", "line 7: status_word: not 0xNNNN"},
        {"1,p,1,1,1,1,1,1,1,1,1,0x12345", "line 7: status_word: not 0xNNNN"},
        {"1,p,1,1,1,1,1,1,1,1,1,0xzz", "line 7: status_word: not 0xNNNN"},
        {"1,p,1,1,1,1,1,1,1,1,1", "line 7: 11 fields, expected 12"},
        {"1,p,1,1,1,1,1,1,1,1,1,0x0000,", "line 7: 13 fields, expected 12"},
        {"", "line 7: empty line"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tcsv_row r;
        char err[200] = "";
        int rc = parse(cases[i].line, 7, &r, err);
        if (rc != -1 || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("\"%s\": rc %d, err \"%s\", wanted \"%s\"", cases[i].line, rc, err,
                     cases[i].want);
    }
}

static void a_nul_byte_is_an_error_not_an_end(void **state)
{
    (void)state;
    static const char line[] = "1,p,1,1\0,1,1,1,1,1,1,1,0x0000";
    struct tcsv_row r;
    char err[200];
    assert_int_equal(tcsv_parse_row(line, sizeof(line) - 1, 4, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "line 4: a NUL byte"));
}

static void the_header_must_be_exact(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(tcsv_check_header(tcsv_header_line, strlen(tcsv_header_line), err, 200), 0);
    const char *swapped =
        "t,psu,iin_a,vin_v,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,status_word";
    assert_int_equal(tcsv_check_header(swapped, strlen(swapped), err, 200), -1);
    assert_non_null(strstr(err, "line 1: header"));
}

static void a_written_row_reads_back_the_same(void **state)
{
    (void)state;
    struct tcsv_row a = {.t = 1234567, .psu = "rack1:ps3", .status_word = 0xffff};
    for (int k = 0; k < TCSV_NVALUES; k++)
        a.v[k] = k == 4 ? NAN : 1.25 * (k + 1);
    char buf[512], err[200];
    int n = tcsv_format_row(&a, buf, sizeof(buf));
    assert_true(n > 0);
    struct tcsv_row b;
    assert_int_equal(tcsv_parse_row(buf, (size_t)n, 2, &b, err, sizeof(err)), 0);
    assert_int_equal(b.t, a.t);
    assert_string_equal(b.psu, a.psu);
    assert_int_equal(b.status_word, a.status_word);
    for (int k = 0; k < TCSV_NVALUES; k++)
        assert_true(k == 4 ? isnan(b.v[k]) : b.v[k] == a.v[k]);
    assert_int_equal(tcsv_format_row(&a, buf, 10), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_row_gives_every_value),
        cmocka_unit_test(empty_fields_are_not_read),
        cmocka_unit_test(each_bad_field_is_named_with_its_line),
        cmocka_unit_test(a_nul_byte_is_an_error_not_an_end),
        cmocka_unit_test(the_header_must_be_exact),
        cmocka_unit_test(a_written_row_reads_back_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
