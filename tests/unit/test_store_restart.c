/* Restart after kill -9 costs the tail, not the store (issue 11 item 11):
 * the HNSW graph is saved by the indexer as it grows, not only at
 * checkpoints, so a store that never reached the WAL checkpoint threshold
 * reloads its graph after a crash instead of rebuilding all of it; and a
 * WAL replayed at open that is larger than the snapshot is checkpointed
 * then, so the next crash replays only the new tail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "store_testutil.h"

#include "core/log.h"
#include "store/store.h"

enum { DIM = 64, ROWS = 6000 };

TU_ROOT_FIXTURE("restart", VDB_LOG_ERROR)

static void options_and_config(vdb_store_options *options, vdb_store_config *config)
{
    vdb_store_options_default(options);
    options->fsync = VDB_FSYNC_OFF;
    options->wal_checkpoint_bytes = 1ull << 40; /* never: as a small store under 64 MiB */
    vdb_store_config_default(config);
    config->dim = DIM;
    config->index = VDB_INDEX_HNSW;
    config->hnsw_ef_construction = 40;
}

/* The child writes, waits for the graph to be saved, and dies without
 * closing: exit 0 when hnsw.idx appeared, 2 when it never did. */
static void child(const char *dir)
{
    vdb_store_options options;
    vdb_store_config config;
    vdb_error err;
    char idx[800];
    float *v = malloc(500 * DIM * sizeof(float));
    options_and_config(&options, &config);
    vdb_store *store = tu_store_create(dir, &config, &options, &err);
    if (store == NULL || v == NULL)
        _exit(1);
    for (uint32_t b = 0; b < ROWS / 500; b++) {
        tu_fill(v, b, 500, DIM);
        if (vdb_store_add(store, 500, v, NULL, NULL, NULL, &err) != VDB_OK)
            _exit(1);
    }
    snprintf(idx, sizeof(idx), "%s/hnsw.idx", dir);
    for (int i = 0; i < 1000; i++) {
        vdb_store_stats st;
        vdb_store_get_stats(store, &st);
        if (tu_file_size(idx) > 0 && st.index_rows == ROWS)
            _exit(0);
        usleep(10000);
    }
    _exit(2);
}

static void test_graph_saved_without_checkpoint(void **state)
{
    vdb_store_options options;
    vdb_store_config config;
    vdb_store_stats st;
    vdb_error err;
    char dir[700], wal[800];
    int status = -1;
    (void)state;
    snprintf(dir, sizeof(dir), "%s/s", root);
    pid_t pid = fork();
    if (pid == 0)
        child(dir);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* the graph was saved, no checkpoint ran */
    snprintf(wal, sizeof(wal), "%s/wal.log", dir);
    assert_true(tu_file_size(wal) > 100000); /* the data is still all in the WAL */
    options_and_config(&options, &config);
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_open(dir, &options, &store, &err), VDB_OK);
    assert_non_null(store);
    vdb_store_get_stats(store, &st);
    assert_int_equal(st.vectors, ROWS);
    /* Loaded at open, not rebuilt from row 0. */
    assert_true(st.index_rows >= 4096);
    /* The WAL replayed was larger than the snapshot: checkpointed at open,
     * so the next crash replays only what comes after. */
    assert_true(st.wal_bytes < 1024);
    assert_int_equal(st.checkpoints, 1);
    vdb_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_saved_without_checkpoint),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
