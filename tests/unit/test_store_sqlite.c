/*
 * test_store_sqlite.c -- the SQLite storage driver (src/store/sqlite/):
 * records survive a close and reopen (and a process that never closed:
 * the WAL is recovered), transactions group writes, and bad files are
 * refused with a clear error and left untouched: garbage, a truncated or
 * damaged database, a SQLite file that is not a store, a store of another
 * mesh, a store with a newer schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "test.h"
#include "weft/store.h"

static char dir[256];
static const uint8_t MESH[32] = {1, 2, 3};
static const uint8_t OTHER[32] = {9, 9, 9};

static void path_of(char *out, const char *name) { snprintf(out, 512, "%s/%s", dir, name); }

static weft_store_record rec(const char *ns, const char *key, const char *val, uint64_t hlc)
{
    weft_store_record r;
    memset(&r, 0, sizeof r);
    r.ns = (const uint8_t *)ns;
    r.ns_len = strlen(ns);
    r.key = (const uint8_t *)key;
    r.key_len = strlen(key);
    r.value = (const uint8_t *)val;
    r.value_len = val ? strlen(val) : 0;
    r.hlc = hlc;
    r.writer.key[0] = 7;
    r.sig[0] = 5;
    r.flags = val ? 0 : WEFT_STORE_F_TOMBSTONE;
    return r;
}

typedef struct seen {
    int n;
    uint64_t hlc_sum;
    int tomb;
    char last_val[64];
} seen;

static int each(void *arg, const weft_store_record *r)
{
    seen *s = arg;
    s->n++;
    s->hlc_sum += r->hlc;
    s->tomb += !!(r->flags & WEFT_STORE_F_TOMBSTONE);
    if (r->value_len < sizeof s->last_val) {
        if (r->value_len)
            memcpy(s->last_val, r->value, r->value_len);
        s->last_val[r->value_len] = 0;
    }
    CHECK(r->writer.key[0] == 7 && r->sig[0] == 5);
    return 0;
}

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static int file_equals(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return 0;
    char buf[4096];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return got == n && memcmp(buf, b, n) == 0;
}

TEST(records_survive_reopen_and_replace)
{
    char p[512], err[256];
    path_of(p, "a.db");
    weft_store *s;
    REQUIRE(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err) == 0);
    weft_store_record r1 = rec("ns", "k1", "v1", 10), r2 = rec("ns", "k2", "v2", 20);
    CHECK(s->put(s->ctx, &r1) == 0);
    CHECK(s->put(s->ctx, &r2) == 0);
    r1 = rec("ns", "k1", "v1b", 30);
    CHECK(s->put(s->ctx, &r1) == 0);            /* replaces */
    CHECK(s->begin(s->ctx) == 0);
    weft_store_record r3 = rec("ns", "k3", NULL, 40); /* a tombstone */
    CHECK(s->put(s->ctx, &r3) == 0);
    CHECK(s->remove(s->ctx, (const uint8_t *)"ns", 2, (const uint8_t *)"k2", 2) == 0);
    CHECK(s->commit(s->ctx) == 0);
    weft_store_sqlite_close(s);
    REQUIRE(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_FULL, err, sizeof err) == 0);
    seen sn = {0};
    CHECK(s->load(s->ctx, each, &sn) == 0);
    CHECK_EQ_INT(sn.n, 2);
    CHECK_EQ_INT(sn.hlc_sum, 70);
    CHECK_EQ_INT(sn.tomb, 1);
    weft_store_sqlite_close(s);
}

TEST(a_killed_writer_loses_nothing_it_was_told_was_stored)
{
    char p[512], err[256];
    path_of(p, "kill.db");
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        weft_store *s;
        if (weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err))
            _exit(2);
        for (int i = 0; i < 200; i++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", i);
            weft_store_record r = rec("ns", k, "v", (uint64_t)i + 1);
            if (s->put(s->ctx, &r))
                _exit(3);
        }
        _exit(0); /* no close, no checkpoint: like kill -9 after the acks */
    }
    int status;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    weft_store *s;
    REQUIRE(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err) == 0);
    seen sn = {0};
    CHECK(s->load(s->ctx, each, &sn) == 0);
    CHECK_EQ_INT(sn.n, 200);
    weft_store_sqlite_close(s);
}

TEST(garbage_file_is_refused_and_untouched)
{
    char p[512], err[256];
    path_of(p, "garbage.db");
    static const char junk[] = "this is not a database, it is a text file of some length....";
    FILE *f = fopen(p, "wb");
    REQUIRE(f);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    weft_store *s = NULL;
    int rc = weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err);
    CHECK_EQ_INT(rc, WEFT_ERR_CORRUPT);
    CHECK(s == NULL);
    CHECK(strstr(err, "not a SQLite database") != NULL);
    CHECK(file_equals(p, junk, sizeof junk));
}

TEST(damaged_database_is_refused)
{
    char p[512], err[256];
    path_of(p, "damaged.db");
    weft_store *s;
    REQUIRE(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err) == 0);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        weft_store_record r = rec("ns", k, big, 1);
        CHECK(s->put(s->ctx, &r) == 0);
    }
    weft_store_sqlite_close(s); /* checkpoints the WAL into the file */
    /* scribble over pages in the middle */
    FILE *f = fopen(p, "r+b");
    REQUIRE(f);
    fseek(f, 8192, SEEK_SET);
    char junk[16384];
    memset(junk, 0xa5, sizeof junk);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    long before = file_size(p);
    int rc = weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err);
    CHECK_EQ_INT(rc, WEFT_ERR_CORRUPT);
    CHECK(err[0] != 0);
    CHECK_EQ_INT(file_size(p), before);
}

TEST(another_mesh_and_foreign_databases_are_refused)
{
    char p[512], q[512], err[256];
    path_of(p, "mesh.db");
    weft_store *s;
    REQUIRE(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err) == 0);
    weft_store_record r = rec("ns", "k", "v", 1);
    CHECK(s->put(s->ctx, &r) == 0);
    weft_store_sqlite_close(s);
    long before = file_size(p);
    CHECK_EQ_INT(weft_store_sqlite_open(&s, p, OTHER, WEFT_STORE_SYNC_NORMAL, err, sizeof err),
                 WEFT_ERR_WRONG_MESH);
    CHECK(strstr(err, "another mesh") != NULL);
    CHECK_EQ_INT(file_size(p), before);
    /* still ours afterwards */
    REQUIRE(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err) == 0);
    seen sn = {0};
    CHECK(s->load(s->ctx, each, &sn) == 0 && sn.n == 1);
    weft_store_sqlite_close(s);

    /* some other application's SQLite database */
    path_of(q, "other-app.db");
    sqlite3 *db;
    REQUIRE(sqlite3_open(q, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT);"
                           "INSERT INTO photos(name) VALUES ('cat');", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    before = file_size(q);
    CHECK_EQ_INT(weft_store_sqlite_open(&s, q, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err),
                 WEFT_ERR_CORRUPT);
    CHECK(strstr(err, "not a weft store") != NULL);
    CHECK_EQ_INT(file_size(q), before);
}

TEST(newer_schema_is_refused)
{
    char p[512], err[256];
    path_of(p, "newer.db");
    weft_store *s;
    REQUIRE(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err) == 0);
    weft_store_sqlite_close(s);
    sqlite3 *db;
    REQUIRE(sqlite3_open(p, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "UPDATE meta SET v = x'63000000' WHERE k = 'schema'", NULL, NULL,
                       NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_INT(weft_store_sqlite_open(&s, p, MESH, WEFT_STORE_SYNC_NORMAL, err, sizeof err),
                 WEFT_ERR_VERSION_MISMATCH);
    CHECK(strstr(err, "newer") != NULL);
}

TEST(bad_arguments)
{
    char err[256];
    weft_store *s;
    CHECK_EQ_INT(weft_store_sqlite_open(&s, NULL, MESH, 1, err, sizeof err), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft_store_sqlite_open(&s, "/tmp/x", MESH, 7, err, sizeof err), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft_store_sqlite_open(&s, "/nonexistent-dir/x.db", MESH, 1, err, sizeof err),
                 WEFT_ERR_IO);
    CHECK(err[0] != 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-test-sqlite-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(records_survive_reopen_and_replace);
    RUN(a_killed_writer_loses_nothing_it_was_told_was_stored);
    RUN(garbage_file_is_refused_and_untouched);
    RUN(damaged_database_is_refused);
    RUN(another_mesh_and_foreign_databases_are_refused);
    RUN(newer_schema_is_refused);
    RUN(bad_arguments);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_MAIN_END();
}
