/*
 * test_store.c - the ledger and the journal: what is committed survives a
 * close, a reopen and a crash; what is not committed is gone; events come
 * back in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "testdir.h"

static char dir[64], path[128];
static char err[512];

static int setup(void **state)
{
    (void)state;
    if (testdir_make(dir, sizeof(dir), path, sizeof(path), "test_store"))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testdir_remove(dir);
}

static struct store *open_rw(void)
{
    struct store *s = store_open(path, false, err, sizeof(err));
    if (!s)
        fail_msg("store_open: %s", err);
    return s;
}

static struct store_server server(const char *id, enum rack_server_state st, int64_t mw,
                                  int64_t cap, uint64_t seq)
{
    struct store_server x = {
        .state = st, .watts_mw = mw, .cap_mw = cap, .seq = seq, .time = 1700000000.5};
    snprintf(x.id, sizeof(x.id), "%s", id);
    return x;
}

static int64_t append(struct store *s, const char *name, int n)
{
    json_t *ev = json_pack("{si s:f ss si}", "id", 0, "time", 1700000000.25, "event", name, "n", n);
    int64_t id = store_append(s, ev, err, sizeof(err));
    json_decref(ev);
    return id;
}

struct rows {
    struct store_server v[16];
    int n;
};

static int collect(void *arg, const struct store_server *x)
{
    struct rows *r = arg;
    if (r->n < 16)
        r->v[r->n++] = *x;
    return 0;
}

static const struct store_server *find(const struct rows *r, const char *id)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].id, id))
            return &r->v[i];
    return NULL;
}

static void load(struct store *s, struct rows *r)
{
    r->n = 0;
    assert_int_equal(store_load_servers(s, collect, r, err, sizeof(err)), 0);
}

static void test_ledger_round_trip(void **state)
{
    (void)state;
    struct store *s = open_rw();
    struct store_server a = server("db1", RACK_SRV_ON, 1000000, 0, 1);
    struct store_server b = server("app1", RACK_SRV_CAPPED, 800000, 800000, 2);
    struct store_server c = server("ml1", RACK_SRV_WAITING, 0, 0, 3);
    struct store_server d = server("web2", RACK_SRV_SHED, 0, 0, 4);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(store_put_server(s, &a, err, sizeof(err)), 0);
    assert_int_equal(store_put_server(s, &b, err, sizeof(err)), 0);
    assert_int_equal(store_put_server(s, &c, err, sizeof(err)), 0);
    assert_int_equal(store_put_server(s, &d, err, sizeof(err)), 0);
    struct store_psu p = {.id = "ps1", .bus = "B", .out_of_service = true};
    struct store_bus bus = {.id = "A", .out_of_service = true};
    assert_int_equal(store_put_psu(s, &p, err, sizeof(err)), 0);
    assert_int_equal(store_put_bus(s, &bus, err, sizeof(err)), 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    /* a later change replaces the row */
    a.state = RACK_SRV_CAPPED;
    a.watts_mw = a.cap_mw = 700000;
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(store_put_server(s, &a, err, sizeof(err)), 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    store_close(s);

    s = open_rw();
    struct rows r;
    load(s, &r);
    assert_int_equal(r.n, 4);
    const struct store_server *x = find(&r, "db1");
    assert_non_null(x);
    assert_int_equal(x->state, RACK_SRV_CAPPED);
    assert_int_equal(x->watts_mw, 700000);
    assert_int_equal(x->cap_mw, 700000);
    assert_int_equal(x->seq, 1);
    assert_true(x->time == 1700000000.5);
    x = find(&r, "app1");
    assert_int_equal(x->state, RACK_SRV_CAPPED);
    assert_int_equal(x->cap_mw, 800000);
    assert_int_equal(find(&r, "ml1")->state, RACK_SRV_WAITING);
    assert_int_equal(find(&r, "web2")->state, RACK_SRV_SHED);
    assert_int_equal(find(&r, "web2")->seq, 4);
    store_close(s);
}

struct evs {
    int64_t ids[64];
    char names[64][16];
    int n;
};

static int collect_event(void *arg, int64_t id, const char *text)
{
    struct evs *e = arg;
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), id);
    snprintf(e->names[e->n], sizeof(e->names[0]), "%s",
             json_string_value(json_object_get(o, "event")));
    e->ids[e->n++] = id;
    json_decref(o);
    return 0;
}

/* The outage record: none at first, then the last one kept, across a close. */
static void test_the_outage_record_is_kept_across_a_restart(void **state)
{
    (void)state;
    struct store *s = open_rw();
    char *text = (char *)"x";
    double made = -1;
    assert_int_equal(store_outage_get(s, &text, &made, err, sizeof(err)), 0);
    assert_null(text);
    assert_true(made == 0);
    assert_int_equal(store_outage_put(s, "{\"active\":true}", 1795000000.25, err, sizeof(err)), 0);
    assert_int_equal(store_outage_put(s, "{\"active\":false}", 1795000010.5, err, sizeof(err)), 0);
    store_close(s);
    s = open_rw();
    assert_int_equal(store_outage_get(s, &text, &made, err, sizeof(err)), 0);
    assert_string_equal(text, "{\"active\":false}");
    assert_true(made == 1795000010.5);
    free(text);
    store_close(s);
}

static void test_journal_keeps_order_and_numbers(void **state)
{
    (void)state;
    struct store *s = open_rw();
    assert_int_equal(store_last_id(s), 0);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    static const char *const names[] = {"start", "grant", "wait", "psu_fail", "switch", "shed"};
    for (int i = 0; i < 6; i++)
        assert_int_equal(append(s, names[i], i), i + 1);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    store_close(s);

    /* a reader sees them in order; since, limit and tail select */
    struct store *rd = store_open(path, true, err, sizeof(err));
    assert_non_null(rd);
    struct evs e = {0};
    assert_int_equal(store_events(rd, 0, 100, false, collect_event, &e, err, sizeof(err)), 0);
    assert_int_equal(e.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(e.ids[i], i + 1);
        assert_string_equal(e.names[i], names[i]);
    }
    e.n = 0;
    assert_int_equal(store_events(rd, 2, 3, false, collect_event, &e, err, sizeof(err)), 0);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.ids[0], 3);
    assert_int_equal(e.ids[2], 5);
    e.n = 0;
    assert_int_equal(store_events(rd, 0, 2, true, collect_event, &e, err, sizeof(err)), 0);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.ids[0], 5);
    assert_int_equal(e.ids[1], 6);
    assert_int_equal(store_last_id(rd), 6);
    store_close(rd);

    /* numbering goes on after a reopen */
    s = open_rw();
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "grant", 7), 7);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    store_close(s);
}

static void test_rollback_forgets_and_frees_ids(void **state)
{
    (void)state;
    struct store *s = open_rw();
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "grant", 1), 1);
    struct store_server a = server("db1", RACK_SRV_ON, 1000000, 0, 1);
    assert_int_equal(store_put_server(s, &a, err, sizeof(err)), 0);
    store_rollback(s);
    assert_int_equal(store_last_id(s), 0);
    struct rows r;
    load(s, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "grant", 1), 1);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    store_close(s);
}

static void test_close_without_commit_loses_nothing_committed(void **state)
{
    (void)state;
    struct store *s = open_rw();
    struct store_server a = server("db1", RACK_SRV_ON, 1000000, 0, 1);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "grant", 1), 1);
    assert_int_equal(store_put_server(s, &a, err, sizeof(err)), 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    struct store_server b = server("web1", RACK_SRV_ON, 400000, 0, 2);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "grant", 2), 2);
    assert_int_equal(store_put_server(s, &b, err, sizeof(err)), 0);
    store_close(s); /* mid-transaction */

    s = open_rw();
    struct rows r;
    load(s, &r);
    assert_int_equal(r.n, 1);
    assert_non_null(find(&r, "db1"));
    assert_int_equal(store_last_id(s), 1);
    store_close(s);
}

/* A child commits one grant, starts a second transaction and is killed in
 * the middle of it (SIGKILL: no close, no rollback, the WAL left behind). */
static void test_crash_mid_transaction_loses_nothing_committed(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *s = store_open(path, false, err, sizeof(err));
        struct store_server a = server("db1", RACK_SRV_ON, 1000000, 0, 1);
        struct store_server b = server("web1", RACK_SRV_CAPPED, 300000, 300000, 2);
        if (!s || store_begin(s, err, sizeof(err)) || append(s, "grant", 1) != 1 ||
            store_put_server(s, &a, err, sizeof(err)) || store_commit(s, err, sizeof(err)))
            _exit(3);
        if (store_begin(s, err, sizeof(err)) || append(s, "cap", 2) != 2 ||
            store_put_server(s, &b, err, sizeof(err)))
            _exit(4);
        kill(getpid(), SIGKILL);
        _exit(5);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    struct store *s = open_rw();
    struct rows r;
    load(s, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(find(&r, "db1")->state, RACK_SRV_ON);
    assert_null(find(&r, "web1"));
    assert_int_equal(store_last_id(s), 1);
    /* and it goes on from there */
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "grant", 2), 2);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    store_close(s);
}

static void test_readers_see_only_commits(void **state)
{
    (void)state;
    struct store *s = open_rw();
    struct store *rd = store_open(path, true, err, sizeof(err));
    assert_non_null(rd);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "grant", 1), 1);
    assert_int_equal(store_last_id(rd), 0); /* not yet committed */
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    assert_int_equal(store_last_id(rd), 1);
    store_close(rd);
    store_close(s);
}

static void test_bad_paths_and_states(void **state)
{
    (void)state;
    assert_null(store_open("/nonexistent/dir/rp.db", false, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/dir/rp.db"));
    assert_null(store_open(path, true, err, sizeof(err))); /* read-only: must exist */
    assert_int_equal(store_state_parse("capped"), RACK_SRV_CAPPED);
    assert_int_equal(store_state_parse("bogus"), -1);
    assert_int_equal(store_state_parse(NULL), -1);
    /* a file that is not a database */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a database, just text that is long enough to look like a header........\n", f);
    fclose(f);
    assert_null(store_open(path, false, err, sizeof(err)));
    assert_non_null(strstr(err, "not a database"));
}

static unsigned mode_of(const char *suffix)
{
    char p[160];
    struct stat st;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    if (stat(p, &st))
        fail_msg("%s: missing", p);
    return st.st_mode & 0777;
}

static void test_files_are_private_whatever_the_umask(void **state)
{
    (void)state;
    mode_t old = umask(0);
    struct store *s = open_rw();
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_true(append(s, "grant", 1) > 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    assert_int_equal(mode_of(""), 0600);
    assert_int_equal(mode_of("-wal"), 0600);
    assert_int_equal(mode_of("-shm"), 0600);
    store_close(s);
    /* one left readable by others (an old install, a copy) is tightened */
    assert_int_equal(chmod(path, 0666), 0);
    s = open_rw();
    assert_int_equal(mode_of(""), 0600);
    store_close(s);
    umask(old);
}

static void test_path_that_is_not_a_file_is_refused(void **state)
{
    (void)state;
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_null(store_open(path, false, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));
}

/* Appends an event at Unix time t with a padding of pad bytes. */
static int64_t append_at(struct store *s, double t, int pad)
{
    char text[2048];
    memset(text, 'x', (size_t)pad);
    text[pad] = '\0';
    json_t *ev = json_pack("{si s:f ss ss}", "id", 0, "time", t, "event", "e", "pad", text);
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    int64_t id = store_append(s, ev, err, sizeof(err));
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);
    json_decref(ev);
    return id;
}

static int first_id(void *arg, int64_t id, const char *json)
{
    (void)json;
    int64_t *first = arg;
    if (!*first)
        *first = id;
    return 0;
}

static int count_event(void *arg, int64_t id, const char *json)
{
    (void)id;
    (void)json;
    ++*(int *)arg;
    return 0;
}

/* The oldest id left and how many there are. */
static int64_t oldest(struct store *s, int *count)
{
    int64_t first = 0;
    assert_int_equal(store_events(s, 0, 100000, false, first_id, &first, err, sizeof(err)), 0);
    int n = 0;
    assert_int_equal(store_events(s, 0, 100000, false, count_event, &n, err, sizeof(err)), 0);
    *count = n;
    return first;
}

static void test_prune_by_age_keeps_the_young_and_the_newest(void **state)
{
    (void)state;
    struct store *w = open_rw();
    for (int k = 0; k < 10; k++) /* ids 1..10 at 1000..1009 */
        append_at(w, 1000 + k, 10);
    /* the loop's writer and the pruner: two connections on one file */
    struct store *p = open_rw();
    assert_int_equal(store_prune(p, 1004, INT64_MAX, 500, err, sizeof(err)), 4);
    int n;
    assert_int_equal(oldest(w, &n), 5);
    assert_int_equal(n, 6);
    /* nothing more is old enough */
    assert_int_equal(store_prune(p, 1004, INT64_MAX, 500, err, sizeof(err)), 0);
    /* everything is old: the newest stays, and ids go on after it */
    assert_int_equal(store_prune(p, 5000, INT64_MAX, 500, err, sizeof(err)), 5);
    assert_int_equal(oldest(w, &n), 10);
    assert_int_equal(n, 1);
    assert_int_equal(append_at(w, 1010, 10), 11);
    store_close(p);
    store_close(w);
    /* a restart numbers on */
    w = open_rw();
    assert_int_equal(append_at(w, 1011, 10), 12);
    store_close(w);
}

static void test_prune_by_size_counts_what_is_appended_meanwhile(void **state)
{
    (void)state;
    struct store *w = open_rw();
    struct store *p = open_rw();
    for (int k = 0; k < 10; k++)
        append_at(w, 1000 + k, 1000);
    assert_int_equal(store_prune(p, 0, INT64_MAX, 500, err, sizeof(err)), 0);
    int64_t all = store_journal_bytes(p);
    assert_true(all > 10 * 1000 && all < 10 * 1100);
    int64_t one = all / 10;
    /* room for 4: the 6 oldest go */
    assert_int_equal(store_prune(p, 0, 4 * one + one / 2, 500, err, sizeof(err)), 6);
    int n;
    assert_int_equal(oldest(w, &n), 7);
    assert_int_equal(n, 4);
    assert_true(store_journal_bytes(p) <= 4 * one + one / 2);
    /* 5 more appended by the writer: counted, and the 5 oldest go */
    for (int k = 0; k < 5; k++)
        append_at(w, 2000 + k, 1000);
    assert_int_equal(store_prune(p, 0, 4 * one + one / 2, 500, err, sizeof(err)), 5);
    assert_int_equal(oldest(w, &n), 12);
    assert_int_equal(n, 4);
    store_close(p);
    store_close(w);
}

static void test_prune_goes_by_batches(void **state)
{
    (void)state;
    struct store *w = open_rw();
    for (int k = 0; k < 25; k++)
        append_at(w, 1000 + k, 10);
    struct store *p = open_rw();
    assert_int_equal(store_prune(p, 1020, INT64_MAX, 8, err, sizeof(err)), 8);
    assert_int_equal(store_prune(p, 1020, INT64_MAX, 8, err, sizeof(err)), 8);
    assert_int_equal(store_prune(p, 1020, INT64_MAX, 8, err, sizeof(err)), 4);
    assert_int_equal(store_prune(p, 1020, INT64_MAX, 8, err, sizeof(err)), 0);
    int n;
    assert_int_equal(oldest(w, &n), 21);
    assert_int_equal(n, 5);
    store_close(p);
    store_close(w);
}

static void test_file_check_sees_unlink_and_replace(void **state)
{
    (void)state;
    char why[512], other[160];
    struct store *w = open_rw();
    assert_int_equal(store_check_file(w, why, sizeof(why)), 0);
    /* replaced: another file renamed over it */
    snprintf(other, sizeof(other), "%s.other", path);
    FILE *f = fopen(other, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(rename(other, path), 0);
    assert_int_equal(store_check_file(w, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "was replaced (inode"));
    store_close(w);
    unlink(path);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    /* unlinked */
    w = open_rw();
    assert_int_equal(unlink(path), 0);
    assert_int_equal(store_check_file(w, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "was unlinked"));
    store_close(w);
    /* the WAL unlinked, the file kept */
    w = open_rw();
    assert_int_equal(store_check_file(w, why, sizeof(why)), 0);
    assert_int_equal(unlink(wal), 0);
    assert_int_equal(store_check_file(w, why, sizeof(why)), 1);
    assert_non_null(strstr(why, "database's WAL"));
    store_close(w);
    /* readers and memory databases have nothing to check */
    struct store *m = store_open(":memory:", false, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(store_check_file(m, why, sizeof(why)), 0);
    store_close(m);
}

/* ---- the schema's versions ---- */

/* Runs SQL on the file at path with SQLite itself, as another program (or
 * an older rackpowerd) would. */
static void sql(const char *text)
{
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", text, msg);
    sqlite3_close(db);
}

/* One integer that SQL on the file at path answers. */
static int64_t sql_int(const char *text)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, text, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* The psus table's definition in the file at path. */
static void psus_sql(char *buf, size_t len)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = 'psus'", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(buf, len, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* A database as rackpowerd of schema 1 left it: its tables, word for word,
 * and a row in each. */
static const char v1_file[] =
    "PRAGMA journal_mode=WAL;"
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
    "  record TEXT NOT NULL, made REAL NOT NULL);"
    "INSERT INTO ledger VALUES ('db1', 'on', 1000000, 0, 4, 1700000000.5);"
    "INSERT INTO psus VALUES ('ps1', 'A', 0), ('ps2', '', 1);"
    "INSERT INTO buses VALUES ('B', 1);"
    "INSERT INTO journal VALUES (1, 1700000000.0, 'start', '{\"id\":1,\"event\":\"start\"}'),"
    "  (2, 1700000001.0, 'grant', '{\"id\":2,\"event\":\"grant\"}');"
    "INSERT INTO node VALUES (1, 7, 6, 42);"
    "PRAGMA user_version=1;";

struct psu_rows {
    struct store_psu v[8];
    int n;
};

static int collect_psu(void *arg, const struct store_psu *x)
{
    struct psu_rows *r = arg;
    if (r->n < 8)
        r->v[r->n++] = *x;
    return 0;
}

static const struct store_psu *psu_of(struct store *s, struct psu_rows *r, const char *id)
{
    r->n = 0;
    assert_int_equal(store_load_psus(s, collect_psu, r, err, sizeof(err)), 0);
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->v[i].id, id))
            return &r->v[i];
    fail_msg("no psu row %s", id);
    return NULL;
}

static void test_a_version_1_database_is_migrated_keeping_its_rows(void **state)
{
    (void)state;
    char want[512], got[512];
    /* what a new database's psus table is */
    store_close(open_rw());
    psus_sql(want, sizeof(want));
    assert_int_equal(sql_int("PRAGMA user_version"), 2);
    assert_int_equal(unlink(path), 0);

    sql(v1_file);
    /* a reader (the API's journal) reads a version 1 file as it is */
    struct store *rd = store_open(path, true, err, sizeof(err));
    assert_non_null(rd);
    assert_int_equal(store_last_id(rd), 2);
    store_close(rd);
    assert_int_equal(sql_int("PRAGMA user_version"), 1);

    /* the writer migrates it in place */
    struct store *s = open_rw();
    assert_int_equal(sql_int("PRAGMA user_version"), 2);
    psus_sql(got, sizeof(got));
    assert_string_equal(got, want); /* as a new one: the same steps */
    struct psu_rows pr;
    const struct store_psu *p = psu_of(s, &pr, "ps1");
    assert_string_equal(p->bus, "A");
    assert_false(p->out_of_service);
    assert_false(p->at_risk); /* version 1 did not keep it */
    p = psu_of(s, &pr, "ps2");
    assert_string_equal(p->bus, "");
    assert_true(p->out_of_service);
    assert_int_equal(pr.n, 2);
    struct rows r;
    load(s, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(find(&r, "db1")->state, RACK_SRV_ON);
    assert_int_equal(find(&r, "db1")->seq, 4);
    struct store_node node;
    assert_int_equal(store_node_get(s, &node, err, sizeof(err)), 0);
    assert_int_equal(node.max_epoch, 7);
    assert_int_equal(node.index, 42);
    /* the journal numbers on, and at_risk is kept */
    struct store_psu risky = {.id = "ps1", .bus = "", .at_risk = true};
    assert_int_equal(store_begin(s, err, sizeof(err)), 0);
    assert_int_equal(append(s, "prediction", 3), 3);
    assert_int_equal(store_put_psu(s, &risky, err, sizeof(err)), 0);
    assert_int_equal(store_commit(s, err, sizeof(err)), 0);

    /* a second writer (journal pruning) and a reader open the version 2
     * file while the first is open: neither writes or fails */
    struct store *w2 = open_rw();
    rd = store_open(path, true, err, sizeof(err));
    assert_non_null(rd);
    assert_int_equal(store_last_id(rd), 3);
    assert_true(psu_of(w2, &pr, "ps1")->at_risk);
    store_close(rd);
    store_close(w2);
    store_close(s);

    s = open_rw(); /* a restart */
    p = psu_of(s, &pr, "ps1");
    assert_true(p->at_risk);
    assert_string_equal(p->bus, "");
    assert_false(psu_of(s, &pr, "ps2")->at_risk);
    store_close(s);
    assert_int_equal(sql_int("PRAGMA user_version"), 2);
}

static void test_a_failed_migration_leaves_the_file_as_it_was(void **state)
{
    (void)state;
    sql(v1_file);
    /* a column in the way: the version bump must not happen without it */
    sql("ALTER TABLE psus ADD COLUMN at_risk TEXT");
    assert_null(store_open(path, false, err, sizeof(err)));
    assert_non_null(strstr(err, "schema 1 to 2"));
    assert_non_null(strstr(err, "duplicate column"));
    assert_int_equal(sql_int("PRAGMA user_version"), 1);
    assert_int_equal(sql_int("SELECT COUNT(*) FROM psus"), 2);
}

static void test_a_newer_database_is_refused(void **state)
{
    (void)state;
    sql(v1_file);
    sql("PRAGMA user_version=3");
    assert_null(store_open(path, false, err, sizeof(err)));
    assert_non_null(strstr(err, "made by a newer rackpowerd (schema 3, this one knows 2)"));
    assert_int_equal(sql_int("PRAGMA user_version"), 3); /* untouched */
    sql("PRAGMA user_version=-1");
    assert_null(store_open(path, false, err, sizeof(err)));
    assert_non_null(strstr(err, "not a rackpowerd database"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ledger_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_keeps_order_and_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_forgets_and_frees_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_without_commit_loses_nothing_committed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_transaction_loses_nothing_committed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readers_see_only_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths_and_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_are_private_whatever_the_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_that_is_not_a_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_age_keeps_the_young_and_the_newest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_by_size_counts_what_is_appended_meanwhile, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_goes_by_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_check_sees_unlink_and_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_outage_record_is_kept_across_a_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_version_1_database_is_migrated_keeping_its_rows,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_migration_leaves_the_file_as_it_was, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_newer_database_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
