/*
 * histstore.h - the telemetry history in SQLite (issue 11 section 1,
 * docs/history.md): every reading of every PSU, battery reserve and server,
 * raw and rolled up to 1 minute and 1 hour (min/avg/max), and labels
 * (failures, repairs, operator actions).
 *
 * Its own database file beside the journal's (rackpowerd's DB.history): the
 * history's writes never hold the journal's write lock, so a slow history
 * never delays a decision, and SQLITE_FULL on it is the history's alone.
 *
 * One writer (rackpowerd's history thread, history.h) writes with hist_put,
 * rolls up with hist_rollup and prunes with hist_prune; readers (the API,
 * rackpower-history) open it read-only (WAL: they never wait for the
 * writer). Times are Unix milliseconds. Library code: errors are returned
 * with a message, nothing is logged.
 */
#ifndef HISTSTORE_H
#define HISTSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_ID_LEN 32         /* an element's id with its NUL (RACK_ID_LEN) */
#define HIST_NONE INT64_MIN    /* a figure that was not read */
#define HIST_MAXCOLS 9         /* the most figures of one kind (a PSU's) */
#define HIST_MINUTE_MS 60000LL /* the first rollup */
#define HIST_HOUR_MS 3600000LL /* the second */
#define HIST_ERR_FULL (-2)     /* hist_put: the disk (or the file's bound) is full */

/* What a reading is of. Each kind has its own tables (psu_raw, psu_1m,
 * psu_1h, ...) and its figures (hist_kind_cols). */
enum hist_kind { HIST_PSU, HIST_RESERVE, HIST_SERVER, HIST_NKINDS };

/* The PSU's figures, in the column order of the history CSV (issue 11
 * section 2) after t and psu; status_word is the reading's bits. */
enum hist_psu_col {
    HIST_VIN_MV,
    HIST_IIN_MA,
    HIST_VOUT_MV,
    HIST_IOUT_MA,
    HIST_PIN_MW,
    HIST_POUT_MW,
    HIST_TEMP_MC,  /* the PSU's hottest sensor, milli-degrees C */
    HIST_INLET_MC, /* its inlet air */
    HIST_FAN_RPM,
};
enum hist_reserve_col { HIST_CHARGE_PCT, HIST_RUNTIME_S, HIST_RES_WATTS_MW };
enum hist_server_col { HIST_DRAW_MW };

struct hist_col {
    const char *name; /* the SQL column: "vin_mv" */
    const char *out;  /* the API's name: "vin_v" */
    double scale;     /* out = stored / scale */
};
struct hist_kind_def {
    const char *name; /* "psu", "reserve", "server": the tables' prefix */
    const char *bits; /* the bits' column ("status_word", "flags"), NULL for none */
    size_t ncols;
    struct hist_col cols[HIST_MAXCOLS];
};
const struct hist_kind_def *hist_kind_def(enum hist_kind k);

struct hist_reading {
    int64_t t_ms; /* Unix milliseconds */
    enum hist_kind kind;
    char elem[HIST_ID_LEN];
    int64_t v[HIST_MAXCOLS]; /* the kind's figures; HIST_NONE not read */
    int64_t bits;            /* STATUS_WORD, a reserve's DRIVER_RES_* flags; HIST_NONE */
};

/* A failure, repair or operator action: an event of the journal worth
 * knowing when the history is read back (history.h's hist_label_of). */
struct hist_label {
    int64_t t_ms;
    char elem[HIST_ID_LEN]; /* the PSU, server, bus ... it names; "" none */
    char kind[32];          /* the event: "psu_fail", "out_of_service" ... */
    char text[256];         /* its reason, and who asked */
};

struct histstore;

/* Opens (creating when read-write) the history database at path. A reader
 * (readonly) of a file that is not there fails with "no history". NULL with
 * err. */
struct histstore *hist_open(const char *path, bool readonly, char *err, size_t errlen);
void hist_close(struct histstore *h);

/* Writes readings and labels in one transaction. 0; HIST_ERR_FULL when the
 * disk is full (SQLITE_FULL: nothing of them was written); -1 with err. */
int hist_put(struct histstore *h, const struct hist_reading *v, size_t n,
             const struct hist_label *l, size_t nl, char *err, size_t errlen);

/* Rolls the raw readings written since the last call into their minute and
 * hour (min, avg, max; the bits OR'd), merging with what those buckets
 * already hold, in one transaction. A bucket [k*60 s, (k+1)*60 s) is
 * complete once no more of its readings come. Returns the readings rolled
 * (0: none), HIST_ERR_FULL or -1 with err. */
int64_t hist_rollup(struct histstore *h, char *err, size_t errlen);

/* Retention: raw readings older than raw_keep_ms, minutes older than
 * minute_keep_ms, hours older than hour_keep_ms (labels as long as the
 * hours); then, while the data (its pages in use) is over max_bytes, the
 * oldest raw readings, then the oldest minutes, then the oldest hours and
 * labels. Only readings already rolled up are deleted. 0 for any: no bound. */
struct hist_limits {
    int64_t raw_keep_ms, minute_keep_ms, hour_keep_ms;
    int64_t max_bytes;
};
/* Deletes at most batch rows in one short transaction (journal pruning's
 * way, prune.h), and gives the freed pages back to the file system. Returns
 * the rows deleted (0: within the limits), or -1 with err. */
int64_t hist_prune(struct histstore *h, const struct hist_limits *lim, int64_t now_ms, int batch,
                   char *err, size_t errlen);
/* Caps the file at pages (PRAGMA max_page_count): past it a write fails
 * as on a full disk (HIST_ERR_FULL). For tests. 0, or -1. */
int hist_cap_pages(struct histstore *h, int64_t pages);
/* The bytes of the pages in use (the bound's measure); -1 on error. */
int64_t hist_bytes(struct histstore *h);

/* Reading back. The level follows the step: under a minute raw readings,
 * under an hour minutes, else hours; a step longer than the level's bucket
 * groups its rows into steps. step_ms 0: raw rows as they are. */
enum hist_level { HIST_RAW, HIST_1M, HIST_1H };
enum hist_level hist_level_for(int64_t step_ms);
const char *hist_level_name(enum hist_level l);

struct hist_row {
    int64_t t_ms; /* the reading's time, or the start of its step */
    int64_t n;    /* readings in it */
    /* per figure; NaN when none was read (a raw row: all three the same) */
    double min[HIST_MAXCOLS], avg[HIST_MAXCOLS], max[HIST_MAXCOLS];
    int64_t bits; /* OR of the readings' bits; HIST_NONE none read */
    char elem[HIST_ID_LEN];
};

/* Calls fn for each row of elem (NULL: every element of the kind, ordered
 * by time then element) with from_ms <= t < to_ms, oldest first, at most
 * max_rows (then -1 with err "more than N rows"). A non-zero return from
 * fn stops and is returned. 0, or -1 with err. */
int hist_query(struct histstore *h, enum hist_kind kind, const char *elem, int64_t from_ms,
               int64_t to_ms, int64_t step_ms, size_t max_rows,
               int (*fn)(void *arg, const struct hist_row *r), void *arg, char *err, size_t errlen);
/* A PSU's row as a row of the history CSV (issue 11 section 2): t the
 * whole seconds of t_ms (0 before 1970), psu its element, the figures' averages, its bits
 * as status_word (-1: none read). */
struct tcsv_row;
void hist_row_tcsv(const struct hist_row *r, struct tcsv_row *row);

/* Whether the store knows the element (it has had a reading). */
bool hist_known(struct histstore *h, enum hist_kind kind, const char *elem);

/* The labels with from_ms <= t < to_ms, oldest first. */
int hist_labels(struct histstore *h, int64_t from_ms, int64_t to_ms,
                int (*fn)(void *arg, const struct hist_label *l), void *arg, char *err,
                size_t errlen);

#endif
