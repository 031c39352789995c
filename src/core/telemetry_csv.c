/*
 * telemetry_csv.c - the PSU history CSV, one line at a time (telemetry_csv.h).
 * Fields are checked strictly (digits, not strtod's hex floats or "inf") and
 * within physical bounds, because a history file is outside input: it may
 * come from another tool, a hand edit or a truncated copy.
 */
#include "telemetry_csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCOLS 12

const char tcsv_header_line[] =
    "t,psu,vin_v,iin_a,vout_v,iout_a,pin_w,pout_w,temp_c,inlet_c,fan_rpm,status_word";

static const char *const col_names[NCOLS] = {"t",      "psu",     "vin_v",   "iin_a",
                                             "vout_v", "iout_a",  "pin_w",   "pout_w",
                                             "temp_c", "inlet_c", "fan_rpm", "status_word"};

/* Physical bounds of each value: wide enough for any PSU, narrow enough that
 * a unit mix-up (mV for V, m°C for °C) is caught rather than learnt from. */
static const double lo[TCSV_NVALUES] = {0, -10, 0, -10, 0, 0, -60, -60, 0};
static const double hi[TCSV_NVALUES] = {1000, 1000, 1000, 10000, 100000, 100000, 250, 150, 100000};

const char *tcsv_column_name(int i)
{
    return i >= 0 && i < NCOLS ? col_names[i] : "?";
}

static size_t strip_cr(const char *line, size_t len)
{
    return len > 0 && line[len - 1] == '\r' ? len - 1 : len;
}

int tcsv_check_header(const char *line, size_t len, char *err, size_t errlen)
{
    len = strip_cr(line, len);
    size_t want = sizeof(tcsv_header_line) - 1;
    if (len == want && memcmp(line, tcsv_header_line, want) == 0)
        return 0;
    snprintf(err, errlen, "line 1: header: expected \"%s\"", tcsv_header_line);
    return -1;
}

/* A decimal number: [-+]digits[.digits][e[-+]digits], at least one digit. */
static int is_decimal(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, e++;
        if (e == 0)
            return 0;
    }
    return i == n;
}

static int bad(char *err, size_t errlen, long lineno, int col, const char *what, const char *f,
               size_t n)
{
    if (n > 24)
        n = 24; /* enough to recognise it, never the whole of a garbage line */
    char shown[25];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        shown[k++] = (f[i] >= 0x20 && f[i] < 0x7f && f[i] != '"') ? f[i] : '?';
    shown[k] = '\0';
    snprintf(err, errlen, "line %ld: %s: %s \"%s\"", lineno, tcsv_column_name(col), what, shown);
    return -1;
}

static int parse_time(const char *f, size_t n, long lineno, int64_t *t, char *err, size_t errlen)
{
    if (n == 0)
        return bad(err, errlen, lineno, 0, "empty (the time is required)", f, n);
    if (n > 12)
        return bad(err, errlen, lineno, 0, "out of range", f, n);
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i] < '0' || f[i] > '9')
            return bad(err, errlen, lineno, 0, "not whole Unix seconds", f, n);
        v = v * 10 + (f[i] - '0');
    }
    *t = v;
    return 0;
}

static int parse_psu(const char *f, size_t n, long lineno, char *psu, char *err, size_t errlen)
{
    if (n == 0)
        return bad(err, errlen, lineno, 1, "empty (the PSU id is required)", f, n);
    if (n >= TCSV_ID_LEN)
        return bad(err, errlen, lineno, 1, "id longer than 31 characters", f, n);
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        int okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == ':';
        if (!okc)
            return bad(err, errlen, lineno, 1, "id may hold only letters, digits and _-.:", f, n);
    }
    memcpy(psu, f, n);
    psu[n] = '\0';
    return 0;
}

static int parse_value(const char *f, size_t n, long lineno, int k, double *v, char *err,
                       size_t errlen)
{
    if (n == 0) {
        *v = NAN; /* not read */
        return 0;
    }
    if (n >= TCSV_FIELD_MAX || !is_decimal(f, n))
        return bad(err, errlen, lineno, k + 2, "not a decimal number", f, n);
    char buf[TCSV_FIELD_MAX];
    memcpy(buf, f, n);
    buf[n] = '\0';
    double x = strtod(buf, NULL);
    if (!isfinite(x) || x < lo[k] || x > hi[k]) {
        char what[64];
        snprintf(what, sizeof(what), "outside %g..%g", lo[k], hi[k]);
        return bad(err, errlen, lineno, k + 2, what, f, n);
    }
    *v = x;
    return 0;
}

static int parse_status(const char *f, size_t n, long lineno, int32_t *sw, char *err, size_t errlen)
{
    if (n == 0) {
        *sw = -1;
        return 0;
    }
    if (n < 3 || n > 6 || f[0] != '0' || (f[1] != 'x' && f[1] != 'X'))
        return bad(err, errlen, lineno, 11, "not 0xNNNN", f, n);
    int32_t v = 0;
    for (size_t i = 2; i < n; i++) {
        char c = f[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return bad(err, errlen, lineno, 11, "not 0xNNNN", f, n);
        v = v * 16 + d;
    }
    *sw = v;
    return 0;
}

int tcsv_parse_row(const char *line, size_t len, long lineno, struct tcsv_row *row, char *err,
                   size_t errlen)
{
    len = strip_cr(line, len);
    if (len == 0) {
        snprintf(err, errlen, "line %ld: empty line", lineno);
        return -1;
    }
    if (memchr(line, '\0', len)) {
        snprintf(err, errlen, "line %ld: a NUL byte in the line", lineno);
        return -1;
    }
    const char *f[NCOLS];
    size_t n[NCOLS];
    int cols = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || line[i] == ',') {
            if (cols < NCOLS) {
                f[cols] = line + start;
                n[cols] = i - start;
            }
            cols++;
            start = i + 1;
        }
    }
    if (cols != NCOLS) {
        snprintf(err, errlen, "line %ld: %d fields, expected %d (%s)", lineno, cols, NCOLS,
                 tcsv_header_line);
        return -1;
    }
    if (parse_time(f[0], n[0], lineno, &row->t, err, errlen) < 0 ||
        parse_psu(f[1], n[1], lineno, row->psu, err, errlen) < 0)
        return -1;
    for (int k = 0; k < TCSV_NVALUES; k++)
        if (parse_value(f[k + 2], n[k + 2], lineno, k, &row->v[k], err, errlen) < 0)
            return -1;
    return parse_status(f[11], n[11], lineno, &row->status_word, err, errlen);
}

int tcsv_format_row(const struct tcsv_row *row, char *buf, size_t len)
{
    size_t at = 0;
    int w = snprintf(buf, len, "%lld,%s", (long long)row->t, row->psu);
    if (w < 0 || (size_t)w >= len)
        return -1;
    at = (size_t)w;
    for (int k = 0; k < TCSV_NVALUES; k++) {
        if (isnan(row->v[k]))
            w = snprintf(buf + at, len - at, ",");
        else
            w = snprintf(buf + at, len - at, ",%.9g", row->v[k]);
        if (w < 0 || (size_t)w >= len - at)
            return -1;
        at += (size_t)w;
    }
    if (row->status_word < 0)
        w = snprintf(buf + at, len - at, ",");
    else
        w = snprintf(buf + at, len - at, ",0x%04x", (unsigned)row->status_word);
    if (w < 0 || (size_t)w >= len - at)
        return -1;
    return (int)(at + (size_t)w);
}
