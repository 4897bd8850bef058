/* A durable store with an HNSW index: queries served by the graph agree
 * with exact search, the background indexer covers every row, the graph is
 * saved beside the snapshot and loaded (not rebuilt) on reopen, deletes are
 * never returned, optimize after 30% deletes restores recall, and a corrupt
 * or stale index file is rebuilt instead of trusted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "index/hnsw.h"
#include "store/store.h"
#include "store_testutil.h"

enum { N = 4000, D = 32, NQ = 50, K = 10 };

typedef struct hits_out {
    char ids[NQ][K][40];
    size_t counts[NQ];
} hits_out;

static int collect(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    hits_out *out = ctx;
    out->counts[q] = count;
    for (size_t i = 0; i < count; i++) {
        snprintf(out->ids[q][i], sizeof(out->ids[q][i]), "%s", hits[i].id);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(out->ids[q][j], out->ids[q][i]); /* never twice */
    }
    return 0;
}

static void make_data(float *data, size_t n, uint64_t seed)
{
    vdb_rng rng;
    float centres[20][D];
    vdb_rng_seed(&rng, seed);
    for (int c = 0; c < 20; c++)
        for (int d = 0; d < D; d++)
            centres[c][d] = (float)vdb_rng_gauss(&rng);
    for (size_t i = 0; i < n; i++) {
        int c = (int)vdb_rng_below(&rng, 20);
        for (int d = 0; d < D; d++)
            data[i * D + d] = centres[c][d] + 0.3f * (float)vdb_rng_gauss(&rng);
    }
}

static double recall(vdb_store *store, const float *queries)
{
    vdb_query_params approx = {K, 200, NULL, 0, NULL, 0}, exact = {K, 0, NULL, 1, NULL, 0};
    static hits_out a, e;
    size_t found = 0, total = 0;
    assert_int_equal(vdb_store_query(store, queries, NQ, &approx, collect, &a, NULL), VDB_OK);
    assert_int_equal(vdb_store_query(store, queries, NQ, &exact, collect, &e, NULL), VDB_OK);
    for (int q = 0; q < NQ; q++) {
        assert_int_equal(a.counts[q], e.counts[q]);
        for (size_t i = 0; i < e.counts[q]; i++)
            for (size_t j = 0; j < a.counts[q]; j++)
                if (strcmp(e.ids[q][i], a.ids[q][j]) == 0) {
                    found++;
                    break;
                }
        total += e.counts[q];
    }
    fprintf(stderr, "recall %.4f\n", (double)found / (double)total);
    return (double)found / (double)total;
}

static vdb_store *create_store(const char *dir)
{
    vdb_store_config config;
    vdb_store_options options;
    vdb_error err;
    vdb_store *store;
    vdb_store_config_default(&config);
    config.dim = D;
    config.metric = VDB_METRIC_L2;
    config.index = VDB_INDEX_HNSW;
    config.hnsw_ef_construction = 100;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    store = tu_store_create(dir, &config, &options, &err);
    if (store == NULL)
        fail_msg("create: %s", err.msg);
    return store;
}

static vdb_store *reopen(vdb_store *store, const char *dir)
{
    vdb_store_options options;
    vdb_error err;
    vdb_store_close(store);
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    store = tu_store_open(dir, &options, &err);
    if (store == NULL)
        fail_msg("open: %s", err.msg);
    return store;
}

static void add_all(vdb_store *store, const float *data, size_t n, size_t first)
{
    char names[500][16];
    const char *ids[500];
    for (size_t at = 0; at < n; at += 500) {
        size_t count = n - at < 500 ? n - at : 500;
        for (size_t i = 0; i < count; i++) {
            snprintf(names[i], sizeof(names[i]), "v%zu", first + at + i);
            ids[i] = names[i];
        }
        assert_int_equal(vdb_store_add(store, count, data + at * D, ids, NULL, NULL, NULL), VDB_OK);
    }
}

static void test_hnsw_store_lifecycle(void **state)
{
    char dir[] = "/tmp/vdb-hnsw-store-XXXXXX", store_dir[512], idx[600];
    float *data = malloc(sizeof(float) * N * D), *queries = malloc(sizeof(float) * NQ * D);
    vdb_store_stats stats;
    vdb_store *store;
    size_t left;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(store_dir, sizeof(store_dir), "%s/s", dir);
    snprintf(idx, sizeof(idx), "%s/hnsw.idx", store_dir);
    make_data(data, N, 1);
    make_data(queries, NQ, 2);

    store = create_store(store_dir);
    add_all(store, data, N, 0);
    assert_int_equal(vdb_store_optimize(store, &left, NULL), VDB_OK);
    vdb_store_get_stats(store, &stats);
    assert_string_equal(stats.index_name, "hnsw");
    assert_int_equal(stats.index_rows, N);
    assert_true(recall(store, queries) >= 0.95);

    /* Saved at close, loaded at open: the graph covers every row at once. */
    store = reopen(store, store_dir);
    assert_int_equal(access(idx, F_OK), 0);
    vdb_store_get_stats(store, &stats);
    assert_int_equal(stats.index_rows, N);
    assert_true(recall(store, queries) >= 0.95);

    /* Rows added after the graph: the tail is searched exactly meanwhile. */
    add_all(store, queries, NQ, N);
    {
        vdb_query_params p = {1, 0, NULL, 0, NULL, 0};
        hits_out *one = calloc(1, sizeof(*one));
        assert_int_equal(vdb_store_query(store, queries + 7 * D, 1, &p, collect, one, NULL),
                         VDB_OK);
        assert_string_equal(one->ids[0][0], "v4007"); /* the query itself, just added */
        free(one);
    }

    /* 30% deletes: never returned; optimize compacts and rebuilds. */
    for (int i = 0; i < N; i += 3) {
        char name[16];
        const char *ids[1] = {name};
        size_t deleted;
        snprintf(name, sizeof(name), "v%d", i);
        assert_int_equal(vdb_store_delete(store, 1, ids, &deleted, NULL), VDB_OK);
        assert_int_equal(deleted, 1);
    }
    assert_true(recall(store, queries) >= 0.90);
    assert_int_equal(vdb_store_optimize(store, &left, NULL), VDB_OK);
    assert_int_equal(left, N + NQ - (N + 2) / 3);
    vdb_store_get_stats(store, &stats);
    assert_int_equal(stats.rows, left);
    assert_int_equal(stats.index_rows, left);
    assert_true(recall(store, queries) >= 0.95);

    /* A corrupt index file is rebuilt, not trusted: one bit flipped in the
     * middle of the link lists is caught by the file's CRC32C (the same load
     * the store's open runs refuses it), and after the reopen the store has
     * rebuilt and saved a graph that loads again. */
    vdb_store_close(store);
    {
        vdb_error err;
        uint32_t rows = 0;
        FILE *f = fopen(idx, "r+b");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        long size = ftell(f);
        assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
        int c = fgetc(f);
        assert_int_equal(fseek(f, size / 2, SEEK_SET), 0);
        fputc(c ^ 0x04, f);
        fclose(f);
        vdb_error_clear(&err);
        assert_int_equal(vdb_hnsw_file_check(idx, &rows, NULL, &err), VDB_ECORRUPT);
        assert_non_null(strstr(err.msg, "checksum"));
        store = reopen(NULL, store_dir);
        assert_int_equal(vdb_store_optimize(store, &left, NULL), VDB_OK);
        assert_true(recall(store, queries) >= 0.95);
        store = reopen(store, store_dir);
        assert_int_equal(vdb_hnsw_file_check(idx, &rows, NULL, &err), VDB_OK);
        assert_int_equal(rows, left);
    }
    vdb_store_close(store);
    free(data);
    free(queries);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hnsw_store_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
