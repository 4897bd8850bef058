/* The bulk-ingest path of the store (issue 12): a store created without a
 * dimension adopting the first add's (durably, once, never over rows);
 * big batches logged from the caller's vectors in pieces replaying
 * bit-identical after a crash; checkpoints past the threshold while big
 * batches arrive (the WAL is cut back, and close with one due is clean);
 * and readers running while a writer copies its rows
 * never seeing a partial batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "store_testutil.h"

#include "core/alloc.h"
#include "core/log.h"
#include "store/store.h"

TU_ROOT_FIXTURE("store-ingest", VDB_LOG_ERROR)

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", root, name);
}

/* Adds rows [first, first + n) of dimension dim with ids "r<i>". */
static int add_rows(vdb_store *store, uint32_t dim, uint32_t first, uint32_t n)
{
    /* calloc: at -O1 (the sanitizer build) gcc cannot see the loop below
     * fills every element and warns maybe-uninitialized. */
    float *v = calloc((size_t)n * dim + 1, sizeof(float));
    char **ids = calloc((size_t)n + 1, sizeof(char *));
    assert_non_null(v);
    assert_non_null(ids);
    for (uint32_t i = 0; i < n; i++) {
        ids[i] = malloc(16);
        snprintf(ids[i], 16, "r%u", first + i);
        for (uint32_t c = 0; c < dim; c++)
            v[(size_t)i * dim + c] = tu_value(first + i, 0, c);
    }
    int rc = vdb_store_add(store, n, v, (const char *const *)ids, NULL, NULL, NULL);
    for (uint32_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(v);
    return rc;
}

/* Row i as stored: the input scaled to unit length (cosine stores). */
static void check_row(vdb_store *store, uint32_t dim, uint32_t i)
{
    char id[16];
    float got[64], want[64], norm = 0;
    snprintf(id, sizeof(id), "r%u", i);
    assert_true(dim <= 64);
    assert_int_equal(vdb_store_get(store, id, got, NULL, NULL), VDB_OK);
    for (uint32_t c = 0; c < dim; c++) {
        want[c] = tu_value(i, 0, c);
        norm += want[c] * want[c];
    }
    norm = sqrtf(norm);
    for (uint32_t c = 0; c < dim; c++)
        assert_true(fabsf(got[c] - want[c] / norm) < 1e-6f);
}

static void test_adopt_dim(void **state)
{
    char dir[600];
    vdb_store_config config;
    vdb_error err;
    (void)state;
    path_of(dir, sizeof(dir), "adopt");
    vdb_store_config_default(&config);
    config.dim = 384; /* provisional */
    config.dim_from_first_add = 1;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(dir, &config, NULL, &store, &err), VDB_OK);
    assert_non_null(store);
    assert_int_equal(vdb_store_adopt_dim(store, 0, &err), VDB_EINVAL);
    assert_int_equal(vdb_store_adopt_dim(store, 1u << 30, &err), VDB_EINVAL);
    assert_int_equal(vdb_store_get_config(store)->dim, 384);
    assert_int_equal(vdb_store_adopt_dim(store, 16, &err), VDB_OK);
    assert_int_equal(vdb_store_get_config(store)->dim, 16);
    assert_int_equal(vdb_store_get_config(store)->dim_from_first_add, 0);
    /* Fixed now: a second adoption changes nothing (the add then checks
     * the width as usual). */
    assert_int_equal(vdb_store_adopt_dim(store, 32, &err), VDB_OK);
    assert_int_equal(vdb_store_get_config(store)->dim, 16);
    assert_int_equal(add_rows(store, 16, 0, 10), VDB_OK);
    vdb_store_close(store);
    /* Durable: the reopened store has the adopted width and the rows. */
    assert_int_equal(vdb_store_open(dir, NULL, &store, &err), VDB_OK);
    assert_non_null(store);
    assert_int_equal(vdb_store_get_config(store)->dim, 16);
    assert_int_equal(vdb_store_get_config(store)->dim_from_first_add, 0);
    assert_int_equal(vdb_store_count(store), 10);
    check_row(store, 16, 7);
    vdb_store_close(store);

    /* Persisted while still provisional: a reopen keeps the flag, and the
     * adoption then works as on the first open. */
    path_of(dir, sizeof(dir), "adopt-later");
    assert_int_equal(vdb_store_create(dir, &config, NULL, &store, &err), VDB_OK);
    assert_non_null(store);
    vdb_store_close(store);
    assert_int_equal(vdb_store_open(dir, NULL, &store, &err), VDB_OK);
    assert_non_null(store);
    assert_int_equal(vdb_store_get_config(store)->dim_from_first_add, 1);
    assert_int_equal(vdb_store_adopt_dim(store, 8, &err), VDB_OK);
    assert_int_equal(vdb_store_get_config(store)->dim, 8);
    assert_int_equal(add_rows(store, 8, 0, 3), VDB_OK);
    vdb_store_close(store);

    /* A store with a declared dimension never adopts another. */
    path_of(dir, sizeof(dir), "declared");
    config.dim_from_first_add = 0;
    config.dim = 8;
    assert_int_equal(vdb_store_create(dir, &config, NULL, &store, &err), VDB_OK);
    assert_non_null(store);
    assert_int_equal(vdb_store_adopt_dim(store, 16, &err), VDB_OK);
    assert_int_equal(vdb_store_get_config(store)->dim, 8);
    vdb_store_close(store);
}

/* A child adds batches big enough to cross the checkpoint threshold and
 * exits without closing (as after kill -9): replay must give every
 * acknowledged row back, bit-identical. */
static void test_big_batches_replay(void **state)
{
    char dir[600];
    vdb_store_config config;
    vdb_store_options options;
    vdb_error err;
    int status;
    (void)state;
    path_of(dir, sizeof(dir), "big");
    vdb_store_config_default(&config);
    config.dim = 64;
    vdb_store_options_default(&options);
    options.wal_checkpoint_bytes = 256 * 1024;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(dir, &config, &options, &store, &err), VDB_OK);
    assert_non_null(store);
    vdb_store_close(store);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store = tu_store_open(dir, &options, NULL);
        for (uint32_t b = 0; store != NULL && b < 6; b++)
            if (add_rows(store, 64, b * 2000, 2000) != VDB_OK)
                _exit(3);
        _exit(store == NULL ? 2 : 0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(vdb_store_open(dir, &options, &store, &err), VDB_OK);
    assert_non_null(store);
    assert_int_equal(vdb_store_count(store), 12000);
    for (uint32_t i = 0; i < 12000; i += 997)
        check_row(store, 64, i);
    check_row(store, 64, 11999);
    vdb_store_close(store);
}

static void test_background_checkpoint(void **state)
{
    char dir[600];
    vdb_store_config config;
    vdb_store_options options;
    vdb_store_stats stats;
    vdb_error err;
    (void)state;
    path_of(dir, sizeof(dir), "bg");
    vdb_store_config_default(&config);
    config.dim = 32;
    vdb_store_options_default(&options);
    options.wal_checkpoint_bytes = 64 * 1024;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(dir, &config, &options, &store, &err), VDB_OK);
    assert_non_null(store);
    /* ~140 KB of WAL per batch: each one asks for a checkpoint. */
    for (uint32_t b = 0; b < 5; b++)
        assert_int_equal(add_rows(store, 32, b * 1000, 1000), VDB_OK);
    /* Checkpoints run on the store's background thread after the
     * acknowledgement: wait for one, at most 20 s. */
    for (int wait = 0; wait < 2000; wait++) {
        vdb_store_get_stats(store, &stats);
        if (stats.checkpoints >= 1 && stats.wal_bytes < 5 * 140 * 1024)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    assert_true(stats.checkpoints >= 1);
    /* The threshold is max(64 KiB, half the snapshot): the last checkpoint
     * left less than that in the WAL. */
    assert_true(stats.wal_bytes < 5 * 140 * 1024);
    assert_int_equal(stats.vectors, 5000);
    /* Close with a checkpoint just queued: joins the thread, loses nothing. */
    assert_int_equal(add_rows(store, 32, 5000, 1000), VDB_OK);
    vdb_store_close(store);
    assert_int_equal(vdb_store_open(dir, &options, &store, &err), VDB_OK);
    assert_non_null(store);
    assert_int_equal(vdb_store_count(store), 6000);
    check_row(store, 32, 5999);
    vdb_store_close(store);
}

typedef struct reader_ctx {
    vdb_store *store;
    atomic_int stop;
    atomic_int bad;
    atomic_long reads;
} reader_ctx;

/* Rows arrive in batches of 500: a reader must never see a count between
 * two batch boundaries, nor miss the last row of the batch it counts. */
static void *reader_main(void *arg)
{
    reader_ctx *c = arg;
    while (!atomic_load(&c->stop)) {
        size_t n = vdb_store_count(c->store);
        char id[32];
        if (n % 500 != 0)
            atomic_store(&c->bad, 1);
        if (n > 0) {
            snprintf(id, sizeof(id), "r%zu", n - 1);
            if (vdb_store_get(c->store, id, NULL, NULL, NULL) != VDB_OK)
                atomic_store(&c->bad, 2);
        }
        atomic_fetch_add(&c->reads, 1);
    }
    return NULL;
}

static void test_readers_see_whole_batches(void **state)
{
    char dir[600];
    vdb_store_config config;
    vdb_store_options options;
    vdb_error err;
    pthread_t threads[2];
    (void)state;
    path_of(dir, sizeof(dir), "readers");
    vdb_store_config_default(&config);
    config.dim = 16;
    config.index = VDB_INDEX_FLAT;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(dir, &config, &options, &store, &err), VDB_OK);
    assert_non_null(store);
    reader_ctx ctx = {store, 0, 0, 0};
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, reader_main, &ctx), 0);
    for (uint32_t b = 0; b < 40; b++)
        assert_int_equal(add_rows(store, 16, b * 500, 500), VDB_OK);
    atomic_store(&ctx.stop, 1);
    for (int t = 0; t < 2; t++)
        pthread_join(threads[t], NULL);
    assert_int_equal(atomic_load(&ctx.bad), 0);
    assert_true(atomic_load(&ctx.reads) > 0);
    assert_int_equal(vdb_store_count(store), 20000);
    check_row(store, 16, 12345);
    vdb_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adopt_dim),
        cmocka_unit_test(test_big_batches_replay),
        cmocka_unit_test(test_background_checkpoint),
        cmocka_unit_test(test_readers_see_whole_batches),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
