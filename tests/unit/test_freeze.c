/* The tenant write freeze (api/freeze): which routes count as writes, the
 * frozen set surviving a reopen (the file is what a node killed mid-move
 * comes back with), a malformed file refused rather than read as "nothing
 * frozen", and the barrier returning with no write in flight. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/freeze.h"
#include "api/router.h"
#include "core/fsx.h"

static void tmpdir(char *out, size_t size)
{
    snprintf(out, size, "/tmp/vdb-test-freeze-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void cleanup(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/.vdb_frozen.json", dir);
    unlink(path);
    rmdir(dir);
}

static const vdb_route *route(const char *method, const char *path)
{
    int known = 0;
    char allow[64];
    return vdb_router_match(method, path, &known, allow, sizeof(allow));
}

static void test_write_routes(void **state)
{
    (void)state;
    assert_true(vdb_freeze_is_write(route("POST", "/vectors/add")));
    assert_true(vdb_freeze_is_write(route("POST", "/vectors/delete")));
    assert_true(vdb_freeze_is_write(route("DELETE", "/admin/store")));
    assert_true(vdb_freeze_is_write(route("POST", "/admin/import_zip")));
    assert_true(vdb_freeze_is_write(route("POST", "/v1/batch/upload")));
    assert_false(vdb_freeze_is_write(route("POST", "/vectors/query")));
    assert_false(vdb_freeze_is_write(route("GET", "/admin/export_zip")));
    assert_false(vdb_freeze_is_write(route("POST", "/admin/freeze")));
    assert_false(vdb_freeze_is_write(NULL));
}

static void test_persisted(void **state)
{
    char dir[64];
    vdb_error err = {0};
    (void)state;
    tmpdir(dir, sizeof(dir));
    vdb_freeze *fz;
    assert_int_equal(vdb_freeze_open(dir, &fz, &err), VDB_OK);
    assert_non_null(fz);
    assert_false(vdb_freeze_has(fz, "alice"));
    assert_int_equal(vdb_freeze_set(fz, "alice", 1, &err), VDB_OK);
    assert_int_equal(vdb_freeze_set(fz, "alice", 1, &err), VDB_OK); /* idempotent */
    assert_int_equal(vdb_freeze_set(fz, "bob", 1, &err), VDB_OK);
    assert_int_equal(vdb_freeze_set(fz, "bob", 0, &err), VDB_OK);
    assert_true(vdb_freeze_has(fz, "alice"));
    assert_false(vdb_freeze_has(fz, "bob"));
    vdb_freeze_free(fz);
    assert_int_equal(vdb_freeze_open(dir, &fz, &err), VDB_OK); /* as after a kill -9 */
    assert_non_null(fz);
    assert_true(vdb_freeze_has(fz, "alice"));
    assert_false(vdb_freeze_has(fz, "bob"));
    vdb_json *list = vdb_freeze_list(fz);
    assert_int_equal(vdb_json_array_size(list), 1);
    vdb_json_decref(list);
    vdb_freeze_free(fz);
    cleanup(dir);
}

static void test_malformed_file(void **state)
{
    static const char *const bad[] = {"{", "{\"frozen\":3}", "{\"frozen\":[1]}",
                                      "{\"frozen\":[\"\"]}", "[]"};
    char dir[64];
    (void)state;
    tmpdir(dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vdb_error err = {0};
        assert_int_equal(vdb_fsx_replace_file(dir, ".vdb_frozen.json", bad[i], strlen(bad[i]), 0600,
                                              &err),
                         VDB_OK);
        vdb_freeze *fz;
        assert_int_equal(vdb_freeze_open(dir, &fz, &err), VDB_ECORRUPT);
        assert_null(fz);
        assert_int_equal(err.code, VDB_ECORRUPT);
        /* The code does not depend on an error record. */
        assert_int_equal(vdb_freeze_open(dir, &fz, NULL), VDB_ECORRUPT);
    }
    cleanup(dir);
}

typedef struct writer {
    vdb_freeze *fz;
    atomic_int inside, done;
} writer;

static void *slow_write(void *arg)
{
    writer *w = arg;
    vdb_freeze_enter(w->fz);
    atomic_store(&w->inside, 1);
    usleep(200 * 1000);
    atomic_store(&w->done, 1);
    vdb_freeze_leave(w->fz);
    return NULL;
}

static void test_barrier_waits_for_writes(void **state)
{
    char dir[64];
    vdb_error err = {0};
    pthread_t t;
    (void)state;
    tmpdir(dir, sizeof(dir));
    writer w = {NULL, 0, 0};
    assert_int_equal(vdb_freeze_open(dir, &w.fz, &err), VDB_OK);
    assert_non_null(w.fz);
    pthread_create(&t, NULL, slow_write, &w);
    while (!atomic_load(&w.inside))
        usleep(1000);
    assert_int_equal(vdb_freeze_set(w.fz, "alice", 1, &err), VDB_OK);
    assert_true(atomic_load(&w.done)); /* the freeze returned after the write */
    pthread_join(t, NULL);
    vdb_freeze_free(w.fz);
    cleanup(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_routes),
        cmocka_unit_test(test_persisted),
        cmocka_unit_test(test_malformed_file),
        cmocka_unit_test(test_barrier_waits_for_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
