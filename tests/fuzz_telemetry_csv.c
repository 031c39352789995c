/*
 * fuzz_telemetry_csv.c - libFuzzer target for the PSU history CSV
 * (src/core/telemetry_csv.c), any bytes: the first line against the header,
 * every other line as a row. Checked beyond "no crash": an error names its
 * line; a row that parses is written again and reads back the same.
 * Run: make fuzz (tests/fuzz/telemetry_csv holds the seeds).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "telemetry_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const char *line, size_t len, long lineno)
{
    struct tcsv_row a, b;
    char err[160], want[32];
    if (tcsv_parse_row(line, len, lineno, &a, err, sizeof(err)) < 0) {
        snprintf(want, sizeof(want), "line %ld: ", lineno);
        if (strncmp(err, want, strlen(want)) != 0)
            __builtin_trap();
        return;
    }
    char buf[1024];
    int n = tcsv_format_row(&a, buf, sizeof(buf));
    if (n < 0 || tcsv_parse_row(buf, (size_t)n, lineno, &b, err, sizeof(err)) < 0)
        __builtin_trap();
    if (a.t != b.t || strcmp(a.psu, b.psu) != 0 || a.status_word != b.status_word)
        __builtin_trap();
    for (int k = 0; k < TCSV_NVALUES; k++) {
        if (isnan(a.v[k]) != isnan(b.v[k]))
            __builtin_trap();
        /* %.9g keeps 9 significant digits */
        if (!isnan(a.v[k]) && fabs(a.v[k] - b.v[k]) > 1e-8 * fabs(a.v[k]) + 1e-300)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    long lineno = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char err[160];
        if (lineno == 1)
            (void)tcsv_check_header(p, len, err, sizeof(err));
        else
            one(p, len, lineno);
        p += len + (nl ? 1 : 0);
        lineno++;
    }
    return 0;
}
