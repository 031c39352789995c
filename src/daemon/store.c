/*
 * store.c - the ledger and the journal in SQLite.
 *
 * WAL mode with synchronous=FULL: a commit is on disk when store_commit
 * returns, and readers never block the writer. Statements are prepared once
 * per store. The schema is versioned with PRAGMA user_version.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1: the first; 2: psus.at_risk (a PSU predicted to fail, docs/prediction.md) */
#define SCHEMA_VERSION 2
#define BUSY_MS 2000

enum stmt {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PUT_SERVER,
    ST_PUT_PSU,
    ST_PUT_BUS,
    ST_APPEND,
    ST_LAST_ID,
    ST_SERVERS,
    ST_PSUS,
    ST_BUSES,
    ST_EVENTS,
    ST_TAIL,
    ST_PRUNE_NEW,
    ST_PRUNE_OLDEST,
    ST_PRUNE_DELETE,
    ST_NODE_GET,
    ST_NODE_PUT,
    ST_OUTAGE_GET,
    ST_OUTAGE_PUT,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PUT_SERVER] = "INSERT OR REPLACE INTO ledger(server, state, watts_mw, cap_mw, seq, time) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
    [ST_PUT_PSU] = "INSERT OR REPLACE INTO psus(psu, bus, out_of_service, at_risk) "
                   "VALUES (?, ?, ?, ?)",
    [ST_PUT_BUS] = "INSERT OR REPLACE INTO buses(bus, out_of_service) VALUES (?, ?)",
    [ST_APPEND] = "INSERT INTO journal(id, time, event, json) VALUES (?, ?, ?, ?)",
    [ST_LAST_ID] = "SELECT COALESCE(MAX(id), 0) FROM journal",
    [ST_SERVERS] = "SELECT server, state, watts_mw, cap_mw, seq, time FROM ledger ORDER BY seq",
    [ST_PSUS] = "SELECT psu, bus, out_of_service, at_risk FROM psus",
    [ST_BUSES] = "SELECT bus, out_of_service FROM buses",
    [ST_EVENTS] = "SELECT id, json FROM journal WHERE id > ? ORDER BY id LIMIT ?",
    [ST_TAIL] = "SELECT id, json FROM (SELECT id, json FROM journal ORDER BY id DESC LIMIT ?) "
                "ORDER BY id",
    [ST_PRUNE_NEW] = "SELECT COALESCE(SUM(length(CAST(json AS BLOB))), 0), COALESCE(MAX(id), 0) "
                     "FROM journal WHERE id > ?",
    [ST_PRUNE_OLDEST] = "SELECT id, time, length(CAST(json AS BLOB)) FROM journal ORDER BY id "
                        "LIMIT ?",
    [ST_PRUNE_DELETE] = "DELETE FROM journal WHERE id <= ?",
    [ST_NODE_GET] = "SELECT max_epoch, log_epoch, log_index FROM node WHERE one = 1",
    [ST_NODE_PUT] = "INSERT OR REPLACE INTO node(one, max_epoch, log_epoch, log_index) "
                    "VALUES (1, ?, ?, ?)",
    [ST_OUTAGE_GET] = "SELECT record, made FROM outage WHERE one = 1",
    [ST_OUTAGE_PUT] = "INSERT OR REPLACE INTO outage(one, record, made) VALUES (1, ?, ?)",
};

/* Version 1's tables, as a version 1 rackpowerd made them: a new database
 * is made by the same steps as an old one is migrated, so both end alike. */
static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS ledger(server TEXT PRIMARY KEY, state TEXT NOT NULL, "
    "  watts_mw INTEGER NOT NULL, cap_mw INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "  time REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS psus(psu TEXT PRIMARY KEY, bus TEXT NOT NULL, "
    "  out_of_service INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS buses(bus TEXT PRIMARY KEY, out_of_service INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS journal(id INTEGER PRIMARY KEY, time REAL NOT NULL, "
    "  event TEXT NOT NULL, json TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS node(one INTEGER PRIMARY KEY CHECK (one = 1), "
    "  max_epoch INTEGER NOT NULL, log_epoch INTEGER NOT NULL, log_index INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outage(one INTEGER PRIMARY KEY CHECK (one = 1), "
    "  record TEXT NOT NULL, made REAL NOT NULL);";

/* Version 2: the policy's at_risk of each PSU, so that a PSU drained because
 * it was predicted to fail stays so across a restart (rows of version 1 are
 * not at risk: that version did not keep it). */
static const char schema_v2[] = "ALTER TABLE psus ADD COLUMN at_risk INTEGER NOT NULL DEFAULT 0;";

struct store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool readonly;
    bool in_txn;
    int64_t last_id; /* writer: the journal's highest id */
    /* writer: the files it opened (store_check_file) */
    char path[4096];
    struct file_id {
        bool known; /* it existed when the store opened */
        dev_t dev;
        ino_t ino;
    } file, wal;
    /* store_prune: the journal's JSON bytes in rows up to id counted_id */
    int64_t bytes, counted_id;
};

static int db_fail(struct store *s, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    return -1;
}

/* A statement ready to bind: reset from its last use. */
static sqlite3_stmt *stmt(struct store *s, enum stmt k, char *err, size_t errlen)
{
    if (!s->st[k] && sqlite3_prepare_v2(s->db, stmt_sql[k], -1, &s->st[k], NULL) != SQLITE_OK) {
        db_fail(s, "prepare", err, errlen);
        return NULL;
    }
    sqlite3_reset(s->st[k]);
    sqlite3_clear_bindings(s->st[k]);
    return s->st[k];
}

/* Runs a statement that returns no rows. */
static int run(struct store *s, sqlite3_stmt *q, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE)
        return db_fail(s, what, err, errlen);
    return 0;
}

static int pragma_int(struct store *s, const char *sql, int *out)
{
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW && out)
        *out = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Brings a new or older database to SCHEMA_VERSION in one transaction, the
 * version bump with it: a crash or an error leaves it as it was. The
 * version is read again inside, under the write lock: another writer
 * (journal pruning, another process) may have migrated it meanwhile. */
static int migrate(struct store *s, const char *path, char *err, size_t errlen)
{
    static const char *const steps[SCHEMA_VERSION] = {schema_v1, schema_v2};
    char *msg = NULL, bump[48];
    int version = 0, rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    if (rc == SQLITE_OK && pragma_int(s, "PRAGMA user_version", &version))
        rc = SQLITE_ERROR;
    if (rc == SQLITE_OK && (version < 0 || version > SCHEMA_VERSION)) {
        snprintf(err, errlen, "%s: schema %d changed while it was opened", path, version);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    for (int v = version; rc == SQLITE_OK && v < SCHEMA_VERSION; v++)
        rc = sqlite3_exec(s->db, steps[v], NULL, NULL, &msg);
    snprintf(bump, sizeof(bump), "PRAGMA user_version=%d", SCHEMA_VERSION);
    if (rc == SQLITE_OK && version < SCHEMA_VERSION)
        rc = sqlite3_exec(s->db, bump, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: schema %d to %d: %s", path, version, SCHEMA_VERSION,
                 msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int setup_writer(struct store *s, const char *path, char *err, size_t errlen)
{
    int version = 0;
    sqlite3_stmt *q;
    /* journal_mode answers with the mode it got: WAL needs a local file system */
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, path, err, errlen);
    int rc = sqlite3_step(q);
    const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
    bool wal = mode && !strcmp((const char *)mode, "wal");
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return db_fail(s, path, err, errlen);
    if (!wal && strcmp(path, ":memory:")) {
        snprintf(err, errlen, "%s: cannot switch to WAL mode", path);
        return -1;
    }
    if (pragma_int(s, "PRAGMA synchronous=FULL", NULL) ||
        pragma_int(s, "PRAGMA user_version", &version))
        return db_fail(s, path, err, errlen);
    if (version < 0) {
        snprintf(err, errlen, "%s: not a rackpowerd database (schema %d)", path, version);
        return -1;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, errlen, "%s: made by a newer rackpowerd (schema %d, this one knows %d)", path,
                 version, SCHEMA_VERSION);
        return -1;
    }
    /* only a new or older database is written to: an open writes nothing */
    if (version < SCHEMA_VERSION && migrate(s, path, err, errlen))
        return -1;
    s->last_id = store_last_id(s);
    if (s->last_id < 0)
        return db_fail(s, path, err, errlen);
    return 0;
}

/*
 * The ledger says who holds power and the journal who asked: private to the
 * daemon whatever the umask. SQLite gives the -wal and -shm files the mode
 * of the database file, so creating that one 0600 covers all three. A file
 * that group or others can read or write is tightened to its owner's bits.
 */
static int make_private(const char *path, char *err, size_t errlen)
{
    if (!strcmp(path, ":memory:"))
        return 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    if (!rc && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        rc = -1;
    } else if (!rc && (st.st_mode & 0077) && fchmod(fd, st.st_mode & 0700)) {
        snprintf(err, errlen, "%s: cannot make it private: %s", path, strerror(errno));
        rc = -1;
    } else if (rc) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    }
    close(fd);
    return rc;
}

/* The identity (device, inode) of the file at path: false when there is
 * none (or it cannot be seen). */
static bool file_id(const char *path, struct file_id *id)
{
    struct stat st;
    if (stat(path, &st))
        return false;
    *id = (struct file_id){.known = true, .dev = st.st_dev, .ino = st.st_ino};
    return true;
}

/* The writer's files as they are now: the database and, in WAL mode, its
 * -wal, which SQLite keeps while a connection is open. An in-memory
 * database has neither. */
static void remember_files(struct store *s, const char *path)
{
    char wal[sizeof(s->path) + 8];
    if (!strcmp(path, ":memory:"))
        return;
    snprintf(s->path, sizeof(s->path), "%s", path);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    file_id(path, &s->file);
    file_id(wal, &s->wal);
}

/* Whether the file at path is no longer the one remembered in id: 1 with why. */
static int file_changed(const char *path, const struct file_id *id, const char *what, char *why,
                        size_t len)
{
    struct stat st;
    if (stat(path, &st)) {
        if (errno == ENOENT)
            snprintf(why, len, "the %s %s was unlinked", what, path);
        else
            snprintf(why, len, "the %s %s cannot be checked: %s", what, path, strerror(errno));
        return 1;
    }
    if (st.st_dev != id->dev || st.st_ino != id->ino) {
        snprintf(why, len, "the %s %s was replaced (inode %llu, now %llu)", what, path,
                 (unsigned long long)id->ino, (unsigned long long)st.st_ino);
        return 1;
    }
    return 0;
}

struct store *store_open(const char *path, bool readonly, char *err, size_t errlen)
{
    if (!readonly && make_private(path, err, errlen))
        return NULL;

    struct store *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    s->readonly = readonly;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    /* FULLMUTEX: a store is used by one thread at a time, but stays safe if not */
    flags |= SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        db_fail(s, path, err, errlen);
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, BUSY_MS);
    sqlite3_extended_result_codes(s->db, 1);
    /* The WAL and shm files stay after the last close: a restart on a full
     * disk then opens and reads the ledger without creating a file (the
     * writes wait for space; the daemon starts with the journal behind). */
    int persist = 1;
    if (!readonly)
        sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (!readonly && setup_writer(s, path, err, errlen)) {
        store_close(s);
        return NULL;
    }
    if (!readonly)
        remember_files(s, path);
    return s;
}

int store_check_file(struct store *s, char *why, size_t len)
{
    char wal[sizeof(s->path) + 8];
    snprintf(wal, sizeof(wal), "%s-wal", s->path);
    if (!s->file.known)
        return 0;
    if (file_changed(s->path, &s->file, "database file", why, len) ||
        (s->wal.known && file_changed(wal, &s->wal, "database's WAL", why, len)))
        return 1;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->in_txn)
        store_rollback(s);
    for (int k = 0; k < ST_COUNT; k++)
        sqlite3_finalize(s->st[k]);
    if (s->db && !s->readonly)
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close_v2(s->db);
    free(s);
}

int store_begin(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_BEGIN, err, errlen);
    if (!q || run(s, q, "begin", err, errlen))
        return -1;
    s->in_txn = true;
    return 0;
}

int store_commit(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_COMMIT, err, errlen);
    if (!q || run(s, q, "commit", err, errlen))
        return -1;
    s->in_txn = false;
    return 0;
}

void store_rollback(struct store *s)
{
    char err[64];
    sqlite3_stmt *q = stmt(s, ST_ROLLBACK, err, sizeof(err));
    if (q)
        run(s, q, "rollback", err, sizeof(err));
    s->in_txn = false;
    /* ids handed out inside the rolled back transaction are free again */
    int64_t last = store_last_id(s);
    if (last >= 0)
        s->last_id = last;
}

int store_put_server(struct store *s, const struct store_server *x, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_PUT_SERVER, err, errlen);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, x->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, rack_server_state_name(x->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, x->watts_mw);
    sqlite3_bind_int64(q, 4, x->cap_mw);
    sqlite3_bind_int64(q, 5, (sqlite3_int64)x->seq);
    sqlite3_bind_double(q, 6, x->time);
    return run(s, q, "ledger", err, errlen);
}

int store_put_psu(struct store *s, const struct store_psu *x, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_PUT_PSU, err, errlen);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, x->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 2, x->bus, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 3, x->out_of_service);
    sqlite3_bind_int(q, 4, x->at_risk);
    return run(s, q, "psus", err, errlen);
}

int store_put_bus(struct store *s, const struct store_bus *x, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_PUT_BUS, err, errlen);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, x->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(q, 2, x->out_of_service);
    return run(s, q, "buses", err, errlen);
}

int64_t store_append(struct store *s, json_t *ev, char *err, size_t errlen)
{
    int64_t id = s->last_id + 1;
    sqlite3_stmt *q = stmt(s, ST_APPEND, err, errlen);
    if (!q)
        return -1;
    json_object_set_new(ev, "id", json_integer(id));
    char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    const char *name = json_string_value(json_object_get(ev, "event"));
    if (!text) {
        snprintf(err, errlen, "journal: out of memory");
        return -1;
    }
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_double(q, 2, json_number_value(json_object_get(ev, "time")));
    sqlite3_bind_text(q, 3, name ? name : "?", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(q, 4, text, -1, free);
    if (run(s, q, "journal", err, errlen))
        return -1;
    s->last_id = id;
    return id;
}

/* Epochs and indices are uint64_t; SQLite keeps them as their int64_t bits. */
int store_node_get(struct store *s, struct store_node *x, char *err, size_t errlen)
{
    *x = (struct store_node){0};
    sqlite3_stmt *q = stmt(s, ST_NODE_GET, err, errlen);
    if (!q)
        return -1;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        x->max_epoch = (uint64_t)sqlite3_column_int64(q, 0);
        x->log_epoch = (uint64_t)sqlite3_column_int64(q, 1);
        x->index = (uint64_t)sqlite3_column_int64(q, 2);
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, "node", err, errlen);
    return 0;
}

int store_node_put(struct store *s, const struct store_node *x, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_NODE_PUT, err, errlen);
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)x->max_epoch);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)x->log_epoch);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)x->index);
    return run(s, q, "node", err, errlen);
}

int store_outage_put(struct store *s, const char *record, double made, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_OUTAGE_PUT, err, errlen);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, record, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(q, 2, made);
    return run(s, q, "outage", err, errlen);
}

int store_outage_get(struct store *s, char **record, double *made, char *err, size_t errlen)
{
    *record = NULL;
    *made = 0;
    sqlite3_stmt *q = stmt(s, ST_OUTAGE_GET, err, errlen);
    if (!q)
        return -1;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 0);
        *made = sqlite3_column_double(q, 1);
        if (text && !(*record = strdup(text))) {
            sqlite3_reset(q);
            snprintf(err, errlen, "outage: out of memory");
            return -1;
        }
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, "outage", err, errlen);
    return 0;
}

int64_t store_last_id(struct store *s)
{
    char err[64];
    sqlite3_stmt *q = stmt(s, ST_LAST_ID, err, sizeof(err));
    if (!q)
        return -1;
    int64_t id = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
    sqlite3_reset(q);
    return id;
}

static void copy_id(char dst[RACK_ID_LEN], const unsigned char *src)
{
    snprintf(dst, RACK_ID_LEN, "%s", src ? (const char *)src : "");
}

/* Steps a query, calling row(s, q, fn, arg) for each row. */
static int each_row(struct store *s, sqlite3_stmt *q, const char *what,
                    int (*row)(sqlite3_stmt *q, void *fn, void *arg), void *fn, void *arg,
                    char *err, size_t errlen)
{
    int rc, stop = 0;
    while (!stop && (rc = sqlite3_step(q)) == SQLITE_ROW)
        stop = row(q, fn, arg);
    sqlite3_reset(q);
    if (stop)
        return stop;
    if (rc != SQLITE_DONE)
        return db_fail(s, what, err, errlen);
    return 0;
}

typedef int server_fn(void *arg, const struct store_server *x);
typedef int psu_fn(void *arg, const struct store_psu *x);
typedef int bus_fn(void *arg, const struct store_bus *x);
typedef int event_fn(void *arg, int64_t id, const char *json);

/* Function pointers travel as data pointers inside a struct: */
struct cb {
    server_fn *server;
    psu_fn *psu;
    bus_fn *bus;
    event_fn *event;
};

static int server_row(sqlite3_stmt *q, void *fn, void *arg)
{
    struct store_server x = {0};
    copy_id(x.id, sqlite3_column_text(q, 0));
    int st = store_state_parse((const char *)sqlite3_column_text(q, 1));
    x.state = st < 0 ? RACK_SRV_OFF : (enum rack_server_state)st;
    x.watts_mw = sqlite3_column_int64(q, 2);
    x.cap_mw = sqlite3_column_int64(q, 3);
    x.seq = (uint64_t)sqlite3_column_int64(q, 4);
    x.time = sqlite3_column_double(q, 5);
    return ((struct cb *)fn)->server(arg, &x);
}

static int psu_row(sqlite3_stmt *q, void *fn, void *arg)
{
    struct store_psu x = {0};
    copy_id(x.id, sqlite3_column_text(q, 0));
    copy_id(x.bus, sqlite3_column_text(q, 1));
    x.out_of_service = sqlite3_column_int(q, 2) != 0;
    x.at_risk = sqlite3_column_int(q, 3) != 0;
    return ((struct cb *)fn)->psu(arg, &x);
}

static int bus_row(sqlite3_stmt *q, void *fn, void *arg)
{
    struct store_bus x = {0};
    copy_id(x.id, sqlite3_column_text(q, 0));
    x.out_of_service = sqlite3_column_int(q, 1) != 0;
    return ((struct cb *)fn)->bus(arg, &x);
}

static int event_row(sqlite3_stmt *q, void *fn, void *arg)
{
    const char *json = (const char *)sqlite3_column_text(q, 1);
    return ((struct cb *)fn)->event(arg, sqlite3_column_int64(q, 0), json ? json : "{}");
}

int store_load_servers(struct store *s, server_fn *fn, void *arg, char *err, size_t errlen)
{
    struct cb cb = {.server = fn};
    sqlite3_stmt *q = stmt(s, ST_SERVERS, err, errlen);
    return q ? each_row(s, q, "ledger", server_row, &cb, arg, err, errlen) : -1;
}

int store_load_psus(struct store *s, psu_fn *fn, void *arg, char *err, size_t errlen)
{
    struct cb cb = {.psu = fn};
    sqlite3_stmt *q = stmt(s, ST_PSUS, err, errlen);
    return q ? each_row(s, q, "psus", psu_row, &cb, arg, err, errlen) : -1;
}

int store_load_buses(struct store *s, bus_fn *fn, void *arg, char *err, size_t errlen)
{
    struct cb cb = {.bus = fn};
    sqlite3_stmt *q = stmt(s, ST_BUSES, err, errlen);
    return q ? each_row(s, q, "buses", bus_row, &cb, arg, err, errlen) : -1;
}

int store_events(struct store *s, int64_t since, int limit, bool tail, event_fn *fn, void *arg,
                 char *err, size_t errlen)
{
    struct cb cb = {.event = fn};
    sqlite3_stmt *q = stmt(s, tail ? ST_TAIL : ST_EVENTS, err, errlen);
    if (!q)
        return -1;
    if (tail) {
        sqlite3_bind_int(q, 1, limit);
    } else {
        sqlite3_bind_int64(q, 1, since);
        sqlite3_bind_int(q, 2, limit);
    }
    return each_row(s, q, "journal", event_row, &cb, arg, err, errlen);
}

int store_state_parse(const char *name)
{
    static const enum rack_server_state all[] = {RACK_SRV_OFF, RACK_SRV_WAITING, RACK_SRV_ON,
                                                 RACK_SRV_CAPPED, RACK_SRV_SHED};
    for (size_t i = 0; name && i < sizeof(all) / sizeof(*all); i++)
        if (!strcmp(name, rack_server_state_name(all[i])))
            return (int)all[i];
    return -1;
}

/* Adds the JSON of the rows appended since the last count. */
static int count_new(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *q = stmt(s, ST_PRUNE_NEW, err, errlen);
    if (!q)
        return -1;
    sqlite3_bind_int64(q, 1, s->counted_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        s->bytes += sqlite3_column_int64(q, 0);
        int64_t newest = sqlite3_column_int64(q, 1);
        if (newest > s->counted_id)
            s->counted_id = newest;
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? 0 : db_fail(s, "journal size", err, errlen);
}

int store_prune(struct store *s, double before_time, int64_t max_bytes, int batch, char *err,
                size_t errlen)
{
    if (count_new(s, err, errlen))
        return -1;
    sqlite3_stmt *q = stmt(s, ST_PRUNE_OLDEST, err, errlen);
    if (!q)
        return -1;
    sqlite3_bind_int(q, 1, batch);
    int64_t cutoff = 0, freed = 0;
    int n = 0, rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        /* the newest row stays: the next start numbers on from it */
        if (id >= s->counted_id)
            break;
        if (sqlite3_column_double(q, 1) >= before_time && s->bytes - freed <= max_bytes)
            break; /* young enough, and what is left fits */
        cutoff = id;
        freed += sqlite3_column_int64(q, 2);
        n++;
    }
    sqlite3_reset(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, "journal", err, errlen);
    if (!n)
        return 0;
    /* only this store deletes: the rows read are still there, the writer
     * only appends after them */
    if (store_begin(s, err, errlen))
        return -1;
    if (!(q = stmt(s, ST_PRUNE_DELETE, err, errlen))) {
        store_rollback(s);
        return -1;
    }
    sqlite3_bind_int64(q, 1, cutoff);
    if (run(s, q, "journal prune", err, errlen) || store_commit(s, err, errlen)) {
        store_rollback(s);
        return -1;
    }
    s->bytes -= freed;
    return n;
}

int store_sync_normal(struct store *s, char *err, size_t errlen)
{
    if (pragma_int(s, "PRAGMA synchronous=NORMAL", NULL))
        return db_fail(s, "synchronous", err, errlen);
    return 0;
}

int64_t store_journal_bytes(const struct store *s)
{
    return s->bytes;
}
