/*
 * histstore.c - the telemetry history in SQLite (histstore.h).
 *
 * Tables, per kind K (psu, reserve, server):
 *   K_raw(t_ms, elem, <figures>, [bits])            one row per reading
 *   K_1m, K_1h(t_ms, elem, n, <figure>_min/_avg/_max ..., [bits])
 * and elem(id, kind, name) (rows name their element by number: a
 * reading's row stays small), labels(t_ms, elem, kind, text) and
 * rolled(kind, upto): the raw rowid up to which the rollups hold it.
 *
 * Raw rows are appended in the order they come, which is time order but for
 * a late forward: "oldest" is taken as the lowest rowid, which keeps pruning
 * and rolling up to index walks. A rollup merges into its bucket (an
 * upsert), so a bucket may be rolled in several passes and a late reading
 * still lands in its minute.
 */
#include "histstore.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telemetry_csv.h"

#define SCHEMA_VERSION 1
#define BUSY_MS 2000
#define ROLLUP_MAX_ROWS 50000 /* raw rows rolled in one transaction */
#define SQL_LEN 8192
#define ELEM_CACHE 1024

static const struct hist_kind_def kinds[HIST_NKINDS] = {
    [HIST_PSU] = {"psu",
                  "status_word",
                  9,
                  {[HIST_VIN_MV] = {"vin_mv", "vin_v", 1e3},
                   [HIST_IIN_MA] = {"iin_ma", "iin_a", 1e3},
                   [HIST_VOUT_MV] = {"vout_mv", "vout_v", 1e3},
                   [HIST_IOUT_MA] = {"iout_ma", "iout_a", 1e3},
                   [HIST_PIN_MW] = {"pin_mw", "pin_w", 1e3},
                   [HIST_POUT_MW] = {"pout_mw", "pout_w", 1e3},
                   [HIST_TEMP_MC] = {"temp_mc", "temp_c", 1e3},
                   [HIST_INLET_MC] = {"inlet_mc", "inlet_c", 1e3},
                   [HIST_FAN_RPM] = {"fan_rpm", "fan_rpm", 1}}},
    [HIST_RESERVE] = {"reserve",
                      "flags",
                      3,
                      {[HIST_CHARGE_PCT] = {"charge_pct", "charge_pct", 1},
                       [HIST_RUNTIME_S] = {"runtime_s", "runtime_s", 1},
                       [HIST_RES_WATTS_MW] = {"watts_mw", "watts", 1e3}}},
    [HIST_SERVER] = {"server", NULL, 1, {[HIST_DRAW_MW] = {"draw_mw", "draw_w", 1e3}}},
};

static const char *const level_suffix[] = {[HIST_RAW] = "raw", [HIST_1M] = "1m", [HIST_1H] = "1h"};
static const int64_t level_ms[] = {
    [HIST_RAW] = 0, [HIST_1M] = HIST_MINUTE_MS, [HIST_1H] = HIST_HOUR_MS};

const struct hist_kind_def *hist_kind_def(enum hist_kind k)
{
    return (unsigned)k < HIST_NKINDS ? &kinds[k] : NULL;
}

enum hist_level hist_level_for(int64_t step_ms)
{
    if (step_ms < HIST_MINUTE_MS)
        return HIST_RAW;
    return step_ms < HIST_HOUR_MS ? HIST_1M : HIST_1H;
}

const char *hist_level_name(enum hist_level l)
{
    return (unsigned)l <= HIST_1H ? level_suffix[l] : "?";
}

struct elem_entry {
    int kind;
    int64_t id;
    char name[HIST_ID_LEN];
};

struct histstore {
    sqlite3 *db;
    bool readonly;
    sqlite3_stmt *insert[HIST_NKINDS]; /* a raw row */
    sqlite3_stmt *label, *elem_get, *elem_put;
    struct elem_entry cache[ELEM_CACHE];
    size_t ncache;
};

static int fail(struct histstore *h, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, h->db ? sqlite3_errmsg(h->db) : "out of memory");
    return -1;
}

/* bit_or(x): the OR of the non-NULL values, NULL when none. */
struct bit_or_ctx {
    int64_t v;
    bool any;
};
static void bit_or_step(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct bit_or_ctx *x = sqlite3_aggregate_context(c, sizeof(*x));
    if (!x || sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    x->v |= sqlite3_value_int64(argv[0]);
    x->any = true;
}
static void bit_or_final(sqlite3_context *c)
{
    struct bit_or_ctx *x = sqlite3_aggregate_context(c, 0);
    if (x && x->any)
        sqlite3_result_int64(c, x->v);
    else
        sqlite3_result_null(c);
}

/* Appends to a fixed buffer; a cut is a bug (the SQL is ours). */
static void cat(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cat(char *buf, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, SQL_LEN - len, fmt, ap);
    va_end(ap);
}

static int exec(struct histstore *h, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(h->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(h->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int create_schema(struct histstore *h, char *err, size_t errlen)
{
    char sql[SQL_LEN];
    /* before any table: pages freed by pruning go back to the file system */
    if (exec(h, "PRAGMA auto_vacuum=INCREMENTAL", err, errlen) ||
        exec(h, "BEGIN IMMEDIATE", err, errlen))
        return -1;
    int rc = exec(h,
                  "CREATE TABLE IF NOT EXISTS elem(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, "
                  "  name TEXT NOT NULL, UNIQUE(kind, name));"
                  "CREATE TABLE IF NOT EXISTS labels(t_ms INTEGER NOT NULL, elem TEXT NOT NULL, "
                  "  kind TEXT NOT NULL, text TEXT NOT NULL);"
                  "CREATE TABLE IF NOT EXISTS rolled(kind INTEGER PRIMARY KEY, "
                  "  upto INTEGER NOT NULL);",
                  err, errlen);
    for (int k = 0; !rc && k < HIST_NKINDS; k++) {
        const struct hist_kind_def *d = &kinds[k];
        sql[0] = '\0';
        cat(sql, "CREATE TABLE IF NOT EXISTS %s_raw(t_ms INTEGER NOT NULL, elem INTEGER NOT NULL",
            d->name);
        for (size_t c = 0; c < d->ncols; c++)
            cat(sql, ", %s INTEGER", d->cols[c].name);
        if (d->bits)
            cat(sql, ", %s INTEGER", d->bits);
        cat(sql, "); CREATE INDEX IF NOT EXISTS %s_raw_elem ON %s_raw(elem, t_ms);", d->name,
            d->name);
        for (int l = HIST_1M; l <= HIST_1H; l++) {
            cat(sql,
                "CREATE TABLE IF NOT EXISTS %s_%s(t_ms INTEGER NOT NULL, elem INTEGER NOT NULL, "
                "n INTEGER NOT NULL",
                d->name, level_suffix[l]);
            for (size_t c = 0; c < d->ncols; c++)
                cat(sql, ", %s_min INTEGER, %s_avg REAL, %s_max INTEGER", d->cols[c].name,
                    d->cols[c].name, d->cols[c].name);
            if (d->bits)
                cat(sql, ", %s INTEGER", d->bits);
            cat(sql, ", UNIQUE(elem, t_ms));");
        }
        rc = exec(h, sql, err, errlen);
    }
    if (!rc)
        rc = exec(h, "PRAGMA user_version=1; COMMIT", err, errlen);
    if (rc)
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int prepare(struct histstore *h, sqlite3_stmt **q, const char *sql, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(h->db, sql, -1, q, NULL) != SQLITE_OK)
        return fail(h, "prepare", err, errlen);
    return 0;
}

static int prepare_writer(struct histstore *h, char *err, size_t errlen)
{
    char sql[SQL_LEN];
    for (int k = 0; k < HIST_NKINDS; k++) {
        const struct hist_kind_def *d = &kinds[k];
        sql[0] = '\0';
        cat(sql, "INSERT INTO %s_raw(t_ms, elem", d->name);
        for (size_t c = 0; c < d->ncols; c++)
            cat(sql, ", %s", d->cols[c].name);
        if (d->bits)
            cat(sql, ", %s", d->bits);
        cat(sql, ") VALUES (?, ?");
        for (size_t c = 0; c < d->ncols + (d->bits != NULL); c++)
            cat(sql, ", ?");
        cat(sql, ")");
        if (prepare(h, &h->insert[k], sql, err, errlen))
            return -1;
    }
    return prepare(h, &h->label, "INSERT INTO labels(t_ms, elem, kind, text) VALUES (?, ?, ?, ?)",
                   err, errlen) ||
           prepare(h, &h->elem_get, "SELECT id FROM elem WHERE kind = ? AND name = ?", err,
                   errlen) ||
           prepare(h, &h->elem_put, "INSERT INTO elem(kind, name) VALUES (?, ?)", err, errlen);
}

struct histstore *hist_open(const char *path, bool readonly, char *err, size_t errlen)
{
    struct histstore *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    h->readonly = readonly;
    char why[512];
    if (readonly && strcmp(path, ":memory:") && access(path, F_OK) != 0) {
        snprintf(err, errlen, "%s: no history (%s)", path, strerror(errno));
        free(h);
        return NULL;
    }
    if (!readonly && strcmp(path, ":memory:")) { /* private, as the journal (store.c) */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(h);
            return NULL;
        }
        close(fd);
    }
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &h->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        fail(h, path, err, errlen);
        hist_close(h);
        return NULL;
    }
    sqlite3_busy_timeout(h->db, BUSY_MS);
    sqlite3_extended_result_codes(h->db, 0);
    sqlite3_create_function(h->db, "bit_or", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
                            bit_or_step, bit_or_final);
    int version = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(h->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        version = sqlite3_column_int(q, 0);
    else {
        sqlite3_finalize(q);
        fail(h, path, err, errlen);
        hist_close(h);
        return NULL;
    }
    sqlite3_finalize(q);
    if (version > SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "%s: made by a newer rackpowerd (history schema %d, this one knows %d)", path,
                 version, SCHEMA_VERSION);
        hist_close(h);
        return NULL;
    }
    if (readonly) {
        if (version < SCHEMA_VERSION) {
            snprintf(err, errlen, "%s: not a rackpower history (no tables)", path);
            hist_close(h);
            return NULL;
        }
        return h;
    }
    /* the history may lose its last commits to a power cut, never its
     * shape: WAL with synchronous=NORMAL */
    if (exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", why, sizeof(why)) ||
        (version < SCHEMA_VERSION && create_schema(h, why, sizeof(why))) ||
        prepare_writer(h, why, sizeof(why))) {
        snprintf(err, errlen, "%s: %s", path, why);
        hist_close(h);
        return NULL;
    }
    return h;
}

void hist_close(struct histstore *h)
{
    if (!h)
        return;
    for (int k = 0; k < HIST_NKINDS; k++)
        sqlite3_finalize(h->insert[k]);
    sqlite3_finalize(h->label);
    sqlite3_finalize(h->elem_get);
    sqlite3_finalize(h->elem_put);
    sqlite3_close(h->db);
    free(h);
}

/* The element's number, made when new (inside the caller's transaction). */
static int64_t elem_id(struct histstore *h, int kind, const char *name)
{
    for (size_t i = 0; i < h->ncache; i++)
        if (h->cache[i].kind == kind && !strcmp(h->cache[i].name, name))
            return h->cache[i].id;
    int64_t id = -1;
    sqlite3_reset(h->elem_get);
    sqlite3_bind_int(h->elem_get, 1, kind);
    sqlite3_bind_text(h->elem_get, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(h->elem_get);
    if (rc == SQLITE_ROW)
        id = sqlite3_column_int64(h->elem_get, 0);
    sqlite3_reset(h->elem_get);
    if (rc == SQLITE_ROW) {
    } else if (rc != SQLITE_DONE) {
        return -1;
    } else {
        sqlite3_reset(h->elem_put);
        sqlite3_bind_int(h->elem_put, 1, kind);
        sqlite3_bind_text(h->elem_put, 2, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(h->elem_put);
        sqlite3_reset(h->elem_put);
        if (rc != SQLITE_DONE)
            return -1;
        id = sqlite3_last_insert_rowid(h->db);
    }
    if (h->ncache < ELEM_CACHE) {
        struct elem_entry *e = &h->cache[h->ncache++];
        e->kind = kind;
        e->id = id;
        snprintf(e->name, sizeof(e->name), "%s", name);
    }
    return id;
}

static void bind_figure(sqlite3_stmt *q, int i, int64_t v)
{
    if (v == HIST_NONE)
        sqlite3_bind_null(q, i);
    else
        sqlite3_bind_int64(q, i, v);
}

/* Ends a failed write: the rollback, and what it was (full or not). */
static int write_failed(struct histstore *h, int rc, const char *what, char *err, size_t errlen)
{
    fail(h, what, err, errlen);
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    h->ncache = 0; /* elements made in the transaction are gone with it */
    return rc == SQLITE_FULL ? HIST_ERR_FULL : -1;
}

int hist_put(struct histstore *h, const struct hist_reading *v, size_t n,
             const struct hist_label *l, size_t nl, char *err, size_t errlen)
{
    if (h->readonly) {
        snprintf(err, errlen, "history opened read-only");
        return -1;
    }
    int rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return write_failed(h, rc, "begin", err, errlen);
    for (size_t i = 0; i < n; i++) {
        const struct hist_reading *r = &v[i];
        if ((unsigned)r->kind >= HIST_NKINDS)
            continue;
        const struct hist_kind_def *d = &kinds[r->kind];
        int64_t id = elem_id(h, r->kind, r->elem);
        if (id < 0)
            return write_failed(h, sqlite3_errcode(h->db), "element", err, errlen);
        sqlite3_stmt *q = h->insert[r->kind];
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, r->t_ms);
        sqlite3_bind_int64(q, 2, id);
        for (size_t c = 0; c < d->ncols; c++)
            bind_figure(q, 3 + (int)c, r->v[c]);
        if (d->bits)
            bind_figure(q, 3 + (int)d->ncols, r->bits);
        rc = sqlite3_step(q);
        sqlite3_reset(q);
        if (rc != SQLITE_DONE)
            return write_failed(h, rc, "reading", err, errlen);
    }
    for (size_t i = 0; i < nl; i++) {
        sqlite3_reset(h->label);
        sqlite3_bind_int64(h->label, 1, l[i].t_ms);
        sqlite3_bind_text(h->label, 2, l[i].elem, -1, SQLITE_STATIC);
        sqlite3_bind_text(h->label, 3, l[i].kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(h->label, 4, l[i].text, -1, SQLITE_STATIC);
        rc = sqlite3_step(h->label);
        sqlite3_reset(h->label);
        if (rc != SQLITE_DONE)
            return write_failed(h, rc, "label", err, errlen);
    }
    rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return write_failed(h, rc, "commit", err, errlen);
    return 0;
}

/* A single integer from a query with one bound integer (or none). */
static int query_int(struct histstore *h, const char *sql, int64_t arg, bool bind, int64_t *out)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    if (bind)
        sqlite3_bind_int64(q, 1, arg);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_type(q, 0) == SQLITE_NULL ? HIST_NONE : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* The merge of a bucket's figures with the rows rolled into it now. */
static void rollup_sql(char *sql, const struct hist_kind_def *d, enum hist_level l)
{
    int64_t b = level_ms[l];
    sql[0] = '\0';
    cat(sql, "INSERT INTO %s_%s(t_ms, elem, n", d->name, level_suffix[l]);
    for (size_t c = 0; c < d->ncols; c++)
        cat(sql, ", %s_min, %s_avg, %s_max", d->cols[c].name, d->cols[c].name, d->cols[c].name);
    if (d->bits)
        cat(sql, ", %s", d->bits);
    cat(sql, ") SELECT (t_ms / %lld) * %lld, elem, count(*)", (long long)b, (long long)b);
    for (size_t c = 0; c < d->ncols; c++)
        cat(sql, ", min(%s), avg(%s), max(%s)", d->cols[c].name, d->cols[c].name, d->cols[c].name);
    if (d->bits)
        cat(sql, ", bit_or(%s)", d->bits);
    cat(sql, " FROM %s_raw WHERE rowid > ?1 AND rowid <= ?2 GROUP BY 1, 2", d->name);
    cat(sql, " ON CONFLICT(elem, t_ms) DO UPDATE SET n = n + excluded.n");
    for (size_t c = 0; c < d->ncols; c++) {
        const char *x = d->cols[c].name;
        /* min() and max() of two are NULL when either is: NULL is "none read" */
        cat(sql,
            ", %s_min = min(coalesce(%s_min, excluded.%s_min), coalesce(excluded.%s_min, %s_min))"
            ", %s_max = max(coalesce(%s_max, excluded.%s_max), coalesce(excluded.%s_max, %s_max))"
            ", %s_avg = CASE WHEN %s_avg IS NULL THEN excluded.%s_avg"
            " WHEN excluded.%s_avg IS NULL THEN %s_avg"
            " ELSE (%s_avg * n + excluded.%s_avg * excluded.n) / (n + excluded.n) END",
            x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x);
    }
    if (d->bits)
        cat(sql,
            ", %s = CASE WHEN %s IS NULL THEN excluded.%s WHEN excluded.%s IS NULL THEN %s"
            " ELSE %s | excluded.%s END",
            d->bits, d->bits, d->bits, d->bits, d->bits, d->bits, d->bits);
}

int64_t hist_rollup(struct histstore *h, char *err, size_t errlen)
{
    char sql[SQL_LEN];
    int64_t total = 0;
    for (int k = 0; k < HIST_NKINDS; k++) {
        const struct hist_kind_def *d = &kinds[k];
        int64_t from = 0, last = 0;
        char q1[128];
        snprintf(q1, sizeof(q1), "SELECT max(rowid) FROM %s_raw", d->name);
        if (query_int(h, "SELECT upto FROM rolled WHERE kind = ?", k, true, &from) < 0 ||
            query_int(h, q1, 0, false, &last) < 0)
            return fail(h, "rollup", err, errlen);
        if (from == HIST_NONE)
            from = 0;
        if (last == HIST_NONE || last <= from)
            continue;
        if (last - from > ROLLUP_MAX_ROWS)
            last = from + ROLLUP_MAX_ROWS;
        int rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return write_failed(h, rc, "rollup", err, errlen);
        for (int l = HIST_1M; l <= HIST_1H; l++) {
            sqlite3_stmt *q;
            rollup_sql(sql, d, (enum hist_level)l);
            if (sqlite3_prepare_v2(h->db, sql, -1, &q, NULL) != SQLITE_OK)
                return write_failed(h, SQLITE_ERROR, "rollup", err, errlen);
            sqlite3_bind_int64(q, 1, from);
            sqlite3_bind_int64(q, 2, last);
            rc = sqlite3_step(q);
            sqlite3_finalize(q);
            if (rc != SQLITE_DONE)
                return write_failed(h, rc, "rollup", err, errlen);
        }
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(h->db, "INSERT OR REPLACE INTO rolled(kind, upto) VALUES (?, ?)", -1,
                               &q, NULL) != SQLITE_OK)
            return write_failed(h, SQLITE_ERROR, "rollup", err, errlen);
        sqlite3_bind_int(q, 1, k);
        sqlite3_bind_int64(q, 2, last);
        rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return write_failed(h, rc, "rollup", err, errlen);
        rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return write_failed(h, rc, "rollup", err, errlen);
        total += last - from;
    }
    return total;
}

int hist_cap_pages(struct histstore *h, int64_t pages)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld", (long long)pages);
    return sqlite3_exec(h->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int64_t hist_bytes(struct histstore *h)
{
    int64_t pages = 0, free_pages = 0, size = 0;
    if (query_int(h, "PRAGMA page_count", 0, false, &pages) ||
        query_int(h, "PRAGMA freelist_count", 0, false, &free_pages) ||
        query_int(h, "PRAGMA page_size", 0, false, &size))
        return -1;
    return (pages - free_pages) * size;
}

/* Deletes, of table's oldest batch rows (rowid order), those before cutoff
 * (INT64_MAX: all of them), and none past rowid upto. Rows deleted or -1. */
static int64_t delete_oldest(struct histstore *h, const char *table, int64_t cutoff, int64_t upto,
                             int batch)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE rowid <= ?1 "
             "ORDER BY rowid LIMIT ?2) AND t_ms < ?3",
             table, table);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(q, 1, upto);
    sqlite3_bind_int(q, 2, batch);
    sqlite3_bind_int64(q, 3, cutoff);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? sqlite3_changes(h->db) : -1;
}

/* The rowid up to which a table may be deleted: raw rows once rolled up. */
static int64_t deletable_upto(struct histstore *h, int kind, enum hist_level l)
{
    if (l != HIST_RAW)
        return INT64_MAX;
    int64_t upto = 0;
    if (query_int(h, "SELECT upto FROM rolled WHERE kind = ?", kind, true, &upto) < 0)
        return -1;
    return upto == HIST_NONE ? 0 : upto;
}

static void give_back(struct histstore *h)
{
    sqlite3_exec(h->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
}

int64_t hist_prune(struct histstore *h, const struct hist_limits *lim, int64_t now_ms, int batch,
                   char *err, size_t errlen)
{
    const int64_t keep[] = {[HIST_RAW] = lim->raw_keep_ms,
                            [HIST_1M] = lim->minute_keep_ms,
                            [HIST_1H] = lim->hour_keep_ms};
    char table[64];
    /* by age */
    for (int l = HIST_RAW; l <= HIST_1H; l++) {
        if (keep[l] <= 0)
            continue;
        for (int k = 0; k < HIST_NKINDS; k++) {
            snprintf(table, sizeof(table), "%s_%s", kinds[k].name, level_suffix[l]);
            int64_t upto = deletable_upto(h, k, (enum hist_level)l);
            int64_t n = upto < 0 ? -1 : delete_oldest(h, table, now_ms - keep[l], upto, batch);
            if (n < 0)
                return fail(h, "pruning", err, errlen);
            if (n > 0) {
                give_back(h);
                return n;
            }
        }
    }
    if (keep[HIST_1H] > 0) {
        int64_t n = delete_oldest(h, "labels", now_ms - keep[HIST_1H], INT64_MAX, batch);
        if (n < 0)
            return fail(h, "pruning", err, errlen);
        if (n > 0)
            return n;
    }
    /* by size: the finest level's oldest first, across the kinds */
    if (lim->max_bytes <= 0)
        return 0;
    int64_t bytes = hist_bytes(h);
    if (bytes < 0)
        return fail(h, "pruning", err, errlen);
    if (bytes <= lim->max_bytes)
        return 0;
    for (int l = HIST_RAW; l <= HIST_1H; l++) {
        int best = -1;
        int64_t best_t = INT64_MAX, best_upto = 0;
        for (int k = 0; k < HIST_NKINDS; k++) {
            char sql[160];
            int64_t upto = deletable_upto(h, k, (enum hist_level)l), t = HIST_NONE;
            snprintf(sql, sizeof(sql),
                     "SELECT t_ms FROM %s_%s WHERE rowid <= ? ORDER BY rowid LIMIT 1",
                     kinds[k].name, level_suffix[l]);
            int rc = upto < 0 ? -1 : query_int(h, sql, upto, true, &t);
            if (rc < 0)
                return fail(h, "pruning", err, errlen);
            if (rc == 0 && t != HIST_NONE && t < best_t) {
                best = k;
                best_t = t;
                best_upto = upto;
            }
        }
        if (best < 0)
            continue;
        snprintf(table, sizeof(table), "%s_%s", kinds[best].name, level_suffix[l]);
        int64_t n = delete_oldest(h, table, INT64_MAX, best_upto, batch);
        if (n < 0)
            return fail(h, "pruning", err, errlen);
        if (n > 0) {
            give_back(h);
            return n;
        }
    }
    int64_t n = delete_oldest(h, "labels", INT64_MAX, INT64_MAX, batch);
    if (n < 0)
        return fail(h, "pruning", err, errlen);
    give_back(h);
    return n;
}

void hist_row_tcsv(const struct hist_row *r, struct tcsv_row *row)
{
    memset(row, 0, sizeof(*row));
    row->t = r->t_ms >= 0 ? r->t_ms / 1000 : 0;
    snprintf(row->psu, sizeof(row->psu), "%s", r->elem);
    for (int k = 0; k < TCSV_NVALUES && k < HIST_MAXCOLS; k++)
        row->v[k] = r->avg[k];
    row->status_word = r->bits != HIST_NONE ? (int32_t)(r->bits & 0xffff) : -1;
}

bool hist_known(struct histstore *h, enum hist_kind kind, const char *elem)
{
    int64_t id = HIST_NONE;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db, "SELECT id FROM elem WHERE kind = ? AND name = ?", -1, &q,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int(q, 1, kind);
    sqlite3_bind_text(q, 2, elem, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW)
        id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return id != HIST_NONE;
}

static double column_double(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

int hist_query(struct histstore *h, enum hist_kind kind, const char *elem, int64_t from_ms,
               int64_t to_ms, int64_t step_ms, size_t max_rows,
               int (*fn)(void *arg, const struct hist_row *r), void *arg, char *err, size_t errlen)
{
    if ((unsigned)kind >= HIST_NKINDS || step_ms < 0) {
        snprintf(err, errlen, "bad query");
        return -1;
    }
    const struct hist_kind_def *d = &kinds[kind];
    enum hist_level l = hist_level_for(step_ms);
    int64_t bucket = step_ms > level_ms[l] ? step_ms : level_ms[l];
    char sql[SQL_LEN] = "";
    if (l == HIST_RAW && step_ms == 0) { /* the readings as they are */
        cat(sql, "SELECT r.t_ms, 1");
        for (size_t c = 0; c < d->ncols; c++)
            cat(sql, ", r.%s, r.%s, r.%s", d->cols[c].name, d->cols[c].name, d->cols[c].name);
        cat(sql, ", %s%s, e.name FROM %s_raw r JOIN elem e ON e.id = r.elem", d->bits ? "r." : "",
            d->bits ? d->bits : "NULL", d->name);
    } else if (l == HIST_RAW) {
        cat(sql, "SELECT (r.t_ms / %lld) * %lld AS b, count(*)", (long long)bucket,
            (long long)bucket);
        for (size_t c = 0; c < d->ncols; c++)
            cat(sql, ", min(r.%s), avg(r.%s), max(r.%s)", d->cols[c].name, d->cols[c].name,
                d->cols[c].name);
        cat(sql, ", %s%s%s, e.name FROM %s_raw r JOIN elem e ON e.id = r.elem",
            d->bits ? "bit_or(r." : "", d->bits ? d->bits : "NULL", d->bits ? ")" : "", d->name);
    } else if (step_ms <= level_ms[l]) { /* a row per bucket: the rows as they are */
        cat(sql, "SELECT r.t_ms AS b, r.n");
        for (size_t c = 0; c < d->ncols; c++)
            cat(sql, ", r.%s_min, r.%s_avg, r.%s_max", d->cols[c].name, d->cols[c].name,
                d->cols[c].name);
        cat(sql, ", %s%s, e.name FROM %s_%s r JOIN elem e ON e.id = r.elem", d->bits ? "r." : "",
            d->bits ? d->bits : "NULL", d->name, level_suffix[l]);
    } else {
        cat(sql, "SELECT (r.t_ms / %lld) * %lld AS b, sum(r.n)", (long long)bucket,
            (long long)bucket);
        for (size_t c = 0; c < d->ncols; c++) {
            const char *x = d->cols[c].name;
            cat(sql,
                ", min(r.%s_min), sum(r.%s_avg * r.n) / "
                "sum(CASE WHEN r.%s_avg IS NULL THEN 0 ELSE r.n END), max(r.%s_max)",
                x, x, x, x);
        }
        cat(sql, ", %s%s%s, e.name FROM %s_%s r JOIN elem e ON e.id = r.elem",
            d->bits ? "bit_or(r." : "", d->bits ? d->bits : "NULL", d->bits ? ")" : "", d->name,
            level_suffix[l]);
    }
    cat(sql, " WHERE e.kind = %d AND r.t_ms >= ?1 AND r.t_ms < ?2", (int)kind);
    if (elem)
        cat(sql, " AND e.name = ?3");
    bool grouped = l == HIST_RAW ? step_ms > 0 : step_ms > level_ms[l];
    if (grouped)
        cat(sql, " GROUP BY b, r.elem");
    /* one element: its index in time order; all (an export): as written */
    if (elem)
        cat(sql, " ORDER BY 1");
    else if (l != HIST_RAW || step_ms)
        cat(sql, " ORDER BY 1, e.name");
    else
        cat(sql, " ORDER BY r.rowid");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db, sql, -1, &q, NULL) != SQLITE_OK)
        return fail(h, "history query", err, errlen);
    sqlite3_bind_int64(q, 1, from_ms);
    sqlite3_bind_int64(q, 2, to_ms);
    if (elem)
        sqlite3_bind_text(q, 3, elem, -1, SQLITE_STATIC);
    struct hist_row row;
    size_t rows = 0;
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (++rows > max_rows) {
            snprintf(err, errlen, "more than %zu rows: ask for a shorter time or a longer step",
                     max_rows);
            sqlite3_finalize(q);
            return -1;
        }
        memset(&row, 0, sizeof(row));
        row.t_ms = sqlite3_column_int64(q, 0);
        row.n = sqlite3_column_int64(q, 1);
        int i = 2;
        for (size_t c = 0; c < d->ncols; c++) {
            double s = d->cols[c].scale;
            row.min[c] = column_double(q, i++) / s;
            row.avg[c] = column_double(q, i++) / s;
            row.max[c] = column_double(q, i++) / s;
        }
        row.bits =
            sqlite3_column_type(q, i) == SQLITE_NULL ? HIST_NONE : sqlite3_column_int64(q, i);
        i++;
        const unsigned char *name = sqlite3_column_text(q, i);
        snprintf(row.elem, sizeof(row.elem), "%s", name ? (const char *)name : "");
        stop = fn(arg, &row);
    }
    if (stop) {
        sqlite3_finalize(q);
        return stop;
    }
    if (rc != SQLITE_DONE) {
        fail(h, "history query", err, errlen);
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_finalize(q);
    return 0;
}

int hist_labels(struct histstore *h, int64_t from_ms, int64_t to_ms,
                int (*fn)(void *arg, const struct hist_label *l), void *arg, char *err,
                size_t errlen)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT t_ms, elem, kind, text FROM labels WHERE t_ms >= ? AND t_ms < ? "
                           "ORDER BY t_ms, rowid",
                           -1, &q, NULL) != SQLITE_OK)
        return fail(h, "labels", err, errlen);
    sqlite3_bind_int64(q, 1, from_ms);
    sqlite3_bind_int64(q, 2, to_ms);
    int rc, stop = 0;
    struct hist_label lab;
    while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        memset(&lab, 0, sizeof(lab));
        lab.t_ms = sqlite3_column_int64(q, 0);
        const unsigned char *s;
        if ((s = sqlite3_column_text(q, 1)))
            snprintf(lab.elem, sizeof(lab.elem), "%s", (const char *)s);
        if ((s = sqlite3_column_text(q, 2)))
            snprintf(lab.kind, sizeof(lab.kind), "%s", (const char *)s);
        if ((s = sqlite3_column_text(q, 3)))
            snprintf(lab.text, sizeof(lab.text), "%s", (const char *)s);
        stop = fn(arg, &lab);
    }
    int bad = !stop && rc != SQLITE_DONE;
    if (bad)
        fail(h, "labels", err, errlen);
    sqlite3_finalize(q);
    return stop ? stop : bad ? -1 : 0;
}
