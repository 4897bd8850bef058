/* Quantized stores (store_codes.h) end to end through the store API: for
 * int8 and binary codes on every data family of families.h (uniform,
 * clustered, spread L2 norms, inner product, duplicates with exact ties,
 * 3-d), a quantized store and a float twin get the same adds, upserts and
 * deletes; every exact query of the quantized store (answered on its codes,
 * checked through the codes' query counter) must equal the twin's float scan
 * up to ties, after writes, after a checkpoint that compacts tombstones,
 * and after a reopen (the setting persists, the codes are rebuilt). Also:
 * changing the setting later, bad settings refused without change, and how
 * many rows the bounds re-ranked (printed: the work the codes saved). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/rng.h"
#include "index/quant.h"
#include "store/store.h"
#include "store/store_codes.h"
#include "families.h"
#include "store_testutil.h"

#define K 10
#define NQ 40
#define ROWS 3000u
#define BATCH 500u

typedef struct answer {
    double dist[K];
    char id[K][32];
    size_t count;
} answer;

static int take(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    answer *a = (answer *)ctx + q;
    a->count = count;
    for (size_t i = 0; i < count && i < K; i++) {
        a->dist[i] = hits[i].distance;
        snprintf(a->id[i], sizeof(a->id[i]), "%s", hits[i].id);
    }
    return 0;
}

static vdb_store *create(const char *path, uint32_t dim, vdb_metric metric, int quant)
{
    vdb_store_config config;
    vdb_store_options options;
    vdb_store_config_default(&config);
    config.dim = dim;
    config.metric = metric;
    config.index = VDB_INDEX_FLAT;
    config.quantization = quant;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(path, &config, &options, &store, NULL), VDB_OK);
    assert_non_null(store);
    return store;
}

static vdb_store *reopen(vdb_store *store, const char *path)
{
    vdb_store_options options;
    vdb_store_close(store);
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    assert_int_equal(vdb_store_open(path, &options, &store, NULL), VDB_OK);
    assert_non_null(store);
    return store;
}

static long long codes_figure(vdb_store *store, const char *name)
{
    vdb_json *obj = vdb_store_codes_json(store);
    assert_non_null(obj);
    long long v = vdb_json_int_value(vdb_json_object_get(obj, name));
    vdb_json_decref(obj);
    return v;
}

/* Both stores' exact answers agree up to ties: equal counts, distances
 * within float rounding, and equal ids wherever the distance is not tied
 * with a neighbour. Returns the rows re-ranked for these queries. */
static long long compare(vdb_store *quant, vdb_store *twin, const float *queries, uint32_t dim,
                         const char *what)
{
    answer *got = calloc(NQ, sizeof(answer)), *want = calloc(NQ, sizeof(answer));
    vdb_query_params exact = {.k = K, .exact = 1};
    long long before = codes_figure(quant, "exact_queries");
    long long reranked = codes_figure(quant, "reranked_rows");
    for (size_t q = 0; q < NQ; q++) {
        assert_int_equal(vdb_store_query(quant, queries + q * dim, 1, &exact, take, got + q, NULL),
                         VDB_OK);
        assert_int_equal(vdb_store_query(twin, queries + q * dim, 1, &exact, take, want + q, NULL),
                         VDB_OK);
    }
    assert_int_equal(codes_figure(quant, "exact_queries") - before, NQ);
    for (size_t q = 0; q < NQ; q++) {
        assert_int_equal(got[q].count, want[q].count);
        for (size_t i = 0; i < want[q].count; i++) {
            double d = want[q].dist[i], tol = 1e-5 * (1.0 + fabs(d));
            if (fabs(got[q].dist[i] - d) > tol)
                fail_msg("%s: query %zu rank %zu: distance %.9g, float scan %.9g", what, q, i,
                         got[q].dist[i], d);
            int tied = (i > 0 && fabs(want[q].dist[i - 1] - d) <= tol) ||
                       (i + 1 < want[q].count && fabs(want[q].dist[i + 1] - d) <= tol);
            if (!tied && strcmp(got[q].id[i], want[q].id[i]) != 0)
                fail_msg("%s: query %zu rank %zu: id %s, float scan %s", what, q, i, got[q].id[i],
                         want[q].id[i]);
        }
    }
    free(got);
    free(want);
    return codes_figure(quant, "reranked_rows") - reranked;
}

static void add_both(vdb_store *a, vdb_store *b, size_t n, const float *v, char **ids)
{
    assert_int_equal(vdb_store_add(a, n, v, (const char *const *)ids, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_store_add(b, n, v, (const char *const *)ids, NULL, NULL, NULL), VDB_OK);
}

static void check(family f, uint32_t dim, vdb_metric metric, int kind, const char *name)
{
    char dir[256], qpath[300], fpath[300];
    vdb_rng rng;
    float *centres = family_centres(dim, 7);
    float *batch = malloc((size_t)BATCH * dim * sizeof(float));
    float *queries = malloc((size_t)NQ * dim * sizeof(float));
    char **ids = malloc(BATCH * sizeof(char *));
    for (uint32_t i = 0; i < BATCH; i++)
        ids[i] = malloc(32);
    tu_tmpdir(dir, sizeof(dir), "squant");
    snprintf(qpath, sizeof(qpath), "%s/q", dir);
    snprintf(fpath, sizeof(fpath), "%s/f", dir);
    vdb_store *quant = create(qpath, dim, metric, kind);
    vdb_store *twin = create(fpath, dim, metric, VDB_QUANT_NONE);
    vdb_rng_seed(&rng, 99);
    for (size_t q = 0; q < NQ; q++) {
        gen_query(f, &rng, dim, queries + q * dim, centres);
    }
    /* Batches of growing data: the first trains the codes, later ones are
     * appended (and retrain at each doubling). */
    vdb_rng_seed(&rng, 1);
    for (uint32_t at = 0; at < ROWS; at += BATCH) {
        for (uint32_t i = 0; i < BATCH; i++) {
            gen(f, &rng, dim, batch + (size_t)i * dim, centres);
            snprintf(ids[i], 32, "r%u", at + i);
        }
        add_both(quant, twin, BATCH, batch, ids);
    }
    long long reranked = compare(quant, twin, queries, dim, name);
    /* Upserts move ids to new rows (the old ones become tombstones);
     * deletes tombstone in place. */
    for (uint32_t i = 0; i < BATCH; i++) {
        gen(f, &rng, dim, batch + (size_t)i * dim, centres);
        snprintf(ids[i], 32, "r%u", i * 5);
    }
    add_both(quant, twin, BATCH, batch, ids);
    for (uint32_t i = 0; i < BATCH; i++)
        snprintf(ids[i], 32, "r%u", i * 3 + 1);
    assert_int_equal(vdb_store_delete(quant, BATCH, (const char *const *)ids, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_store_delete(twin, BATCH, (const char *const *)ids, NULL, NULL), VDB_OK);
    reranked += compare(quant, twin, queries, dim, name);
    /* A checkpoint compacts the tombstones: codes follow the renumbering. */
    assert_int_equal(vdb_store_checkpoint(quant, NULL), VDB_OK);
    assert_int_equal(vdb_store_checkpoint(twin, NULL), VDB_OK);
    assert_int_equal(codes_figure(quant, "rows"), (long long)vdb_store_count(quant));
    reranked += compare(quant, twin, queries, dim, name);
    /* Reopen: the setting persists and the codes are rebuilt. */
    quant = reopen(quant, qpath);
    assert_int_equal(vdb_store_get_config(quant)->quantization, kind);
    assert_int_equal(codes_figure(quant, "rows"), (long long)vdb_store_count(quant));
    reranked += compare(quant, twin, queries, dim, name);
    printf("  %-8s %-30s re-ranked %.1f rows per query of %zu; float fallbacks %lld of %d\n",
           vdb_quant_kind_name((vdb_quant_kind)kind), name, (double)reranked / (4.0 * NQ),
           vdb_store_count(quant), codes_figure(quant, "float_fallbacks"), NQ);
    vdb_store_close(quant);
    vdb_store_close(twin);
    tu_rm_rf(dir);
    for (uint32_t i = 0; i < BATCH; i++)
        free(ids[i]);
    free(ids);
    free(queries);
    free(batch);
    free(centres);
}

#define FAMILY_TESTS(kind, tag)                                                                  \
    static void test_##tag##_uniform(void **s) { (void)s; check(FAM_UNIFORM, 64, VDB_METRIC_COSINE, kind, "uniform unit 64-d"); } \
    static void test_##tag##_clustered(void **s) { (void)s; check(FAM_CLUSTERED, 128, VDB_METRIC_COSINE, kind, "clustered 128-d"); } \
    static void test_##tag##_norms_l2(void **s) { (void)s; check(FAM_NORMS_L2, 128, VDB_METRIC_L2, kind, "euclidean norms 25x 128-d"); } \
    static void test_##tag##_norms_dot(void **s) { (void)s; check(FAM_NORMS_DOT, 96, VDB_METRIC_DOT, kind, "inner product norms 4x 96-d"); } \
    static void test_##tag##_duplicates(void **s) { (void)s; check(FAM_DUPLICATES, 32, VDB_METRIC_COSINE, kind, "duplicates, exact ties"); } \
    static void test_##tag##_lowdim(void **s) { (void)s; check(FAM_LOWDIM, 3, VDB_METRIC_L2, kind, "3-d euclidean"); }

FAMILY_TESTS(VDB_QUANT_INT8, int8)
FAMILY_TESTS(VDB_QUANT_BINARY, binary)

/* Graph queries of an int8 store traverse the codes (graph_queries counts
 * them): at an explicit ef their recall@10 (against the float scan) stays
 * within 0.03 of the same graph traversed on the float rows, and at the
 * default target the planner's answer (graph or scan, whichever its
 * calibration found cheaper) meets the target on held-out queries. */
static double graph_recall(vdb_store *store, family f, uint32_t dim, const float *centres,
                           uint32_t ef, char *explain)
{
    vdb_rng rng;
    float *v = malloc((size_t)dim * sizeof(float));
    size_t hit = 0, total = 0;
    vdb_rng_seed(&rng, 99);
    for (uint32_t q = 0; q < 100; q++) {
        gen_query(f, &rng, dim, v, centres);
        answer got[1], want[1];
        vdb_query_params approx = {.k = K, .ef = ef, .explain = explain},
                         exact = {.k = K, .exact = 1};
        assert_int_equal(vdb_store_query(store, v, 1, &approx, take, got, NULL), VDB_OK);
        assert_int_equal(vdb_store_query(store, v, 1, &exact, take, want, NULL), VDB_OK);
        double kth = want[0].dist[want[0].count - 1];
        for (size_t i = 0; i < got[0].count; i++)
            hit += got[0].dist[i] <= kth + 1e-5 * (fabs(kth) + 1);
        total += want[0].count;
    }
    free(v);
    return (double)hit / (double)total;
}

static void check_graph(family f, uint32_t dim, vdb_metric metric, const char *name)
{
    char dir[256], path[300], explain[VDB_EXPLAIN_MAX];
    vdb_rng rng;
    const uint32_t rows = 6000;
    float *centres = family_centres(dim, 7);
    float *v = malloc((size_t)rows * dim * sizeof(float));
    tu_tmpdir(dir, sizeof(dir), "squant");
    snprintf(path, sizeof(path), "%s/g", dir);
    vdb_store_config config;
    vdb_store_options options;
    vdb_store_config_default(&config);
    config.dim = dim;
    config.metric = metric;
    config.hnsw_threshold = 1000;
    config.quantization = VDB_QUANT_INT8;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(path, &config, &options, &store, NULL), VDB_OK);
    assert_non_null(store);
    vdb_rng_seed(&rng, 1);
    for (uint32_t i = 0; i < rows; i++)
        gen(f, &rng, dim, v + (size_t)i * dim, centres);
    assert_int_equal(vdb_store_add(store, rows, v, NULL, NULL, NULL, NULL), VDB_OK);
    assert_int_equal(vdb_store_optimize(store, NULL, NULL), VDB_OK);
    double planned = graph_recall(store, f, dim, centres, 0, explain);
    printf("  int8 %-28s default plan recall@10 %.4f (%s)\n", name, planned, explain);
    assert_true(planned >= VDB_DEFAULT_TARGET_RECALL - 0.02);
    long long before = codes_figure(store, "graph_queries");
    double on_codes = graph_recall(store, f, dim, centres, 24, explain);
    /* At least these 100 (a background recalibration, due once real
     * queries joined its reservoir, searches the same way and counts too). */
    assert_true(codes_figure(store, "graph_queries") - before >= 100);
    assert_int_equal(vdb_store_set_quantization(store, VDB_QUANT_NONE, NULL), VDB_OK);
    double on_floats = graph_recall(store, f, dim, centres, 24, explain);
    printf("  ef 24 %-27s recall@10 on int8 codes %.4f, on floats %.4f\n", name, on_codes,
           on_floats);
    assert_true(on_codes >= on_floats - 0.03);
    vdb_store_close(store);
    tu_rm_rf(dir);
    free(v);
    free(centres);
}

static void test_graph_clustered(void **s) { (void)s; check_graph(FAM_CLUSTERED, 64, VDB_METRIC_COSINE, "clustered 64-d"); }
static void test_graph_norms_l2(void **s) { (void)s; check_graph(FAM_NORMS_L2, 48, VDB_METRIC_L2, "euclidean norms 25x 48-d"); }
static void test_graph_norms_dot(void **s) { (void)s; check_graph(FAM_NORMS_DOT, 48, VDB_METRIC_DOT, "inner product norms 4x 48-d"); }

/* The setting changes later (codes built from the float rows, persisted),
 * bad values are refused without change, a store without codes counts no
 * code queries. */
static void test_set_quantization(void **state)
{
    char dir[256], path[300];
    vdb_rng rng;
    (void)state;
    tu_tmpdir(dir, sizeof(dir), "squant");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = create(path, 16, VDB_METRIC_L2, VDB_QUANT_NONE);
    float v[200 * 16];
    vdb_rng_seed(&rng, 3);
    for (size_t i = 0; i < 200 * 16; i++)
        v[i] = (float)vdb_rng_gauss(&rng);
    assert_int_equal(vdb_store_add(store, 200, v, NULL, NULL, NULL, NULL), VDB_OK);
    vdb_query_params exact = {.k = 5, .exact = 1};
    answer a[1];
    assert_int_equal(vdb_store_query(store, v, 1, &exact, take, a, NULL), VDB_OK);
    assert_int_equal(codes_figure(store, "exact_queries"), 0);
    assert_int_equal(codes_figure(store, "rows"), 0);
    vdb_error err;
    assert_int_equal(vdb_store_set_quantization(store, 7, &err), VDB_EINVAL);
    assert_int_equal(vdb_store_get_config(store)->quantization, VDB_QUANT_NONE);
    assert_int_equal(vdb_store_set_quantization(store, VDB_QUANT_INT8, NULL), VDB_OK);
    assert_int_equal(codes_figure(store, "rows"), 200);
    assert_int_equal(vdb_store_query(store, v, 1, &exact, take, a, NULL), VDB_OK);
    assert_int_equal(codes_figure(store, "exact_queries"), 1);
    assert_true(a[0].count == 5 && a[0].dist[0] < 1e-6); /* the query is row 0 */
    store = reopen(store, path);
    assert_int_equal(vdb_store_get_config(store)->quantization, VDB_QUANT_INT8);
    assert_int_equal(vdb_store_set_quantization(store, VDB_QUANT_BINARY, NULL), VDB_OK);
    store = reopen(store, path);
    assert_int_equal(vdb_store_get_config(store)->quantization, VDB_QUANT_BINARY);
    assert_int_equal(codes_figure(store, "bytes_per_row"), 8 + 8);
    assert_int_equal(vdb_store_set_quantization(store, VDB_QUANT_NONE, NULL), VDB_OK);
    assert_int_equal(codes_figure(store, "rows"), 0);
    store = reopen(store, path);
    assert_int_equal(vdb_store_get_config(store)->quantization, VDB_QUANT_NONE);
    /* A bad config at create is refused. */
    vdb_store_config config;
    vdb_store_config_default(&config);
    config.dim = 4;
    config.quantization = 4; /* 0-2 kinds, 3 auto */
    snprintf(path, sizeof(path), "%s/bad", dir);
    vdb_store *none = NULL;
    assert_int_equal(vdb_store_create(path, &config, NULL, &none, NULL), VDB_EINVAL);
    assert_null(none);
    assert_int_equal(vdb_store_create(path, &config, NULL, &none, &err), VDB_EINVAL);
    assert_int_equal(err.code, VDB_EINVAL);
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* Readers query exactly while a writer adds, upserts, deletes,
 * checkpoints (compaction) and switches the quantization: every answer has
 * k hits sorted best first, the query row itself (never deleted) first.
 * Meant for the TSan build too (make SANITIZER=thread). */
typedef struct race {
    vdb_store *store;
    const float *rows;
    _Atomic int stop;
    _Atomic long answers;
} race;

static void *race_reader(void *arg)
{
    race *r = arg;
    vdb_query_params exact = {.k = K, .exact = 1};
    for (uint32_t i = 0; !atomic_load(&r->stop); i = (i + 7) % 200) {
        answer a[1];
        assert_int_equal(vdb_store_query(r->store, r->rows + (size_t)i * 16, 1, &exact, take, a,
                                         NULL),
                         VDB_OK);
        assert_int_equal(a[0].count, K);
        assert_true(a[0].dist[0] < 1e-4);
        for (size_t j = 1; j < a[0].count; j++)
            assert_true(a[0].dist[j - 1] <= a[0].dist[j] + 1e-6);
        atomic_fetch_add(&r->answers, 1);
    }
    return NULL;
}

static void test_concurrent_writes(void **state)
{
    char dir[256], path[300];
    vdb_rng rng;
    (void)state;
    tu_tmpdir(dir, sizeof(dir), "squant");
    snprintf(path, sizeof(path), "%s/c", dir);
    vdb_store *store = create(path, 16, VDB_METRIC_L2, VDB_QUANT_INT8);
    float *rows = malloc((size_t)200 * 16 * sizeof(float)), more[100 * 16];
    char **ids = malloc(100 * sizeof(char *));
    vdb_rng_seed(&rng, 8);
    for (size_t i = 0; i < 200 * 16; i++)
        rows[i] = (float)vdb_rng_gauss(&rng);
    assert_int_equal(vdb_store_add(store, 200, rows, NULL, NULL, NULL, NULL), VDB_OK);
    for (uint32_t i = 0; i < 100; i++)
        ids[i] = malloc(16);
    race r = {.store = store, .rows = rows};
    pthread_t readers[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&readers[t], NULL, race_reader, &r), 0);
    for (int round = 0; round < 30; round++) {
        for (size_t i = 0; i < 100 * 16; i++)
            more[i] = 5.0f + (float)vdb_rng_gauss(&rng); /* far from the query rows */
        for (uint32_t i = 0; i < 100; i++)
            snprintf(ids[i], 16, "w%u", (round * 100 + i) % 250);
        assert_int_equal(vdb_store_add(store, 100, more, (const char *const *)ids, NULL, NULL,
                                       NULL),
                         VDB_OK);
        assert_int_equal(vdb_store_delete(store, 30, (const char *const *)ids, NULL, NULL), VDB_OK);
        if (round % 5 == 4)
            assert_int_equal(vdb_store_checkpoint(store, NULL), VDB_OK);
        if (round % 10 == 9)
            assert_int_equal(vdb_store_set_quantization(store, round % 20 == 9 ? VDB_QUANT_BINARY
                                                                             : VDB_QUANT_INT8,
                                                        NULL),
                             VDB_OK);
    }
    atomic_store(&r.stop, 1);
    for (int t = 0; t < 2; t++)
        pthread_join(readers[t], NULL);
    printf("  %ld answers during 30 write rounds\n", atomic_load(&r.answers));
    assert_true(atomic_load(&r.answers) > 0);
    vdb_store_close(store);
    tu_rm_rf(dir);
    for (uint32_t i = 0; i < 100; i++)
        free(ids[i]);
    free(ids);
    free(rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_uniform),     cmocka_unit_test(test_int8_clustered),
        cmocka_unit_test(test_int8_norms_l2),    cmocka_unit_test(test_int8_norms_dot),
        cmocka_unit_test(test_int8_duplicates),  cmocka_unit_test(test_int8_lowdim),
        cmocka_unit_test(test_binary_uniform),   cmocka_unit_test(test_binary_clustered),
        cmocka_unit_test(test_binary_norms_l2),  cmocka_unit_test(test_binary_norms_dot),
        cmocka_unit_test(test_binary_duplicates), cmocka_unit_test(test_binary_lowdim),
        cmocka_unit_test(test_set_quantization),
        cmocka_unit_test(test_graph_clustered),  cmocka_unit_test(test_graph_norms_l2),
        cmocka_unit_test(test_graph_norms_dot),  cmocka_unit_test(test_concurrent_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
