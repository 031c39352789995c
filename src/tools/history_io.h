/*
 * history_io.h - reading the files of rackpower-predict and rackpower-train:
 * the history CSV (every row, in time order) and the labels CSV. The I/O
 * around src/core/telemetry_csv.c; errors name the file and the line.
 */
#ifndef HISTORY_IO_H
#define HISTORY_IO_H

#include <stddef.h>
#include <stdint.h>

#include "telemetry_csv.h"

struct history {
    struct tcsv_row *rows; /* sorted by t, rows of equal t in file order */
    size_t n;
    long bad; /* rows skipped (skip_bad) */
};

/* Reads path. A bad row: -1 with err, or with skip_bad it is counted and
 * skipped (a bad header is always an error). 0 on success. */
int history_read(const char *path, int skip_bad, struct history *h, char *err, size_t errlen);
void history_free(struct history *h);

struct label {
    char psu[TCSV_ID_LEN];
    int64_t failure_t; /* -1: did not fail */
    char cause[32];
    int predictable;
};

struct labels {
    struct label *l;
    size_t n;
};

/* Reads a labels file: header psu,failure_t,cause,predictable; failure_t
 * Unix seconds or empty (did not fail); predictable yes/no (or 1/0). One line per PSU
 * at most. 0, or -1 with err naming the line. */
int labels_read(const char *path, struct labels *ls, char *err, size_t errlen);
const struct label *labels_find(const struct labels *ls, const char *psu);
void labels_free(struct labels *ls);

#endif
