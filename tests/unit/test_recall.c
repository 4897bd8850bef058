/* The declared recall target, end to end through the store API: a data
 * family generator (the shapes on which a fixed ef is known to fail), each
 * store at DEFAULT settings, recall@10 measured on held-out queries drawn
 * fresh (never seen by calibration) against exact search. Also filters at
 * 0.1% .. 100% selectivity, calibration persisted across reopen and redone
 * after growth.
 *
 * Tolerance: recall@10 >= target - TOLERANCE, with TOLERANCE 0.02 at the
 * default target 0.99. Calibration uses a 95% lower bound, so the mean
 * held-out recall should sit above the target; 0.02 covers the sampling
 * error of RECALL_QUERIES held-out queries. Sizes are kept at the HNSW
 * threshold (10,000 rows) so the graph path is exercised within a bounded
 * runtime on a 2-core CI machine. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "filter/filter.h"
#include "core/json.h"
#include "index/quant.h"
#include "store/calib.h"
#include "store/store_codes.h"
#include "store/store.h"
#include "families.h"
#include "store_testutil.h"

#define K 10
#define RECALL_QUERIES 150
#define TOLERANCE 0.02
#define ROWS 10000u
#define CALIB_REAL_MIN_TEST 320 /* calib.c's CALIB_REAL_MIN */

typedef struct collect {
    double dist[K];
    size_t count;
} collect;

static int take(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    collect *c = (collect *)ctx + q;
    c->count = count;
    for (size_t i = 0; i < count && i < K; i++)
        c->dist[i] = hits[i].distance;
    return 0;
}

/* Recall@K of the default plan vs exact on fresh queries (ties count). */
static double held_out_recall(vdb_store *store, const float *queries, size_t nq, uint32_t dim,
                              const vdb_filter *filter, double target, size_t *short_answers)
{
    collect *got = calloc(nq, sizeof(*got)), *truth = calloc(nq, sizeof(*truth));
    vdb_query_params approx = {.k = K, .filter = filter, .target_recall = target};
    vdb_query_params exact = {.k = K, .filter = filter, .exact = 1};
    size_t hit = 0, total = 0;
    assert_non_null(got);
    assert_non_null(truth);
    for (size_t q = 0; q < nq; q++)
        assert_int_equal(vdb_store_query(store, queries + q * dim, 1, &approx, take, got + q, NULL),
                         VDB_OK);
    assert_int_equal(vdb_store_query(store, queries, nq, &exact, take, truth, NULL), VDB_OK);
    for (size_t q = 0; q < nq; q++) {
        if (truth[q].count == 0)
            continue;
        double kth = truth[q].dist[truth[q].count - 1];
        for (size_t i = 0; i < got[q].count; i++)
            hit += got[q].dist[i] <= kth + 1e-5 * (fabs(kth) + 1);
        total += truth[q].count;
        if (got[q].count < truth[q].count)
            (*short_answers)++;
    }
    free(got);
    free(truth);
    return total ? (double)hit / (double)total : 1.0;
}

static vdb_store *make_store(const char *path, family f, uint32_t dim, vdb_metric metric,
                             uint32_t rows, uint64_t seed, float *centres, int with_meta)
{
    vdb_store_config config;
    vdb_store_options options;
    vdb_rng rng;
    vdb_store_config_default(&config);
    config.dim = dim;
    config.metric = metric;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    assert_int_equal(vdb_store_create(path, &config, &options, &store, NULL), VDB_OK);
    assert_non_null(store);
    vdb_rng_seed(&rng, seed);
    float *batch = malloc((size_t)1000 * dim * sizeof(float));
    char **metas = calloc(1000, sizeof(char *));
    for (uint32_t at = 0; at < rows; at += 1000) {
        uint32_t n = rows - at < 1000 ? rows - at : 1000;
        for (uint32_t i = 0; i < n; i++) {
            gen(f, &rng, dim, batch + (size_t)i * dim, centres);
            if (with_meta) {
                metas[i] = malloc(32);
                snprintf(metas[i], 32, "{\"b\":%u}", (at + i) % 1000);
            }
        }
        assert_int_equal(vdb_store_add(store, n, batch, NULL, (const char *const *)metas, NULL,
                                       NULL),
                         VDB_OK);
        for (uint32_t i = 0; i < n && with_meta; i++)
            free(metas[i]);
    }
    free(metas);
    free(batch);
    assert_int_equal(vdb_store_optimize(store, NULL, NULL), VDB_OK);
    return store;
}

static void check_family(family f, uint32_t dim, vdb_metric metric, uint32_t rows,
                         const char *name)
{
    char dir[256], path[300];
    vdb_rng rng;
    size_t short_answers = 0;
    float *centres = family_centres(dim, 7);
    float *queries = malloc((size_t)RECALL_QUERIES * dim * sizeof(float));
    tu_tmpdir(dir, sizeof(dir), "recall");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, f, dim, metric, rows, 1, centres, 0);
    vdb_rng_seed(&rng, 99); /* held out: a seed the store never saw */
    for (size_t q = 0; q < RECALL_QUERIES; q++) {
        gen_query(f, &rng, dim, queries + q * dim, centres);
    }
    double r = held_out_recall(store, queries, RECALL_QUERIES, dim, NULL, 0, &short_answers);
    vdb_calib cal;
    char explain[VDB_EXPLAIN_MAX];
    vdb_query_params p = {.k = K, .explain = explain};
    collect one[1];
    assert_int_equal(vdb_store_query(store, queries, 1, &p, take, one, NULL), VDB_OK);
    vdb_store_calib_get(store, &cal);
    printf("  %-28s rows %5u dim %3u: recall@10 %.4f (calibrated %d; %s)\n", name, rows, dim, r,
           cal.valid, explain);
    assert_true(r >= VDB_DEFAULT_TARGET_RECALL - TOLERANCE);
    assert_int_equal(short_answers, 0);
    if (rows >= ROWS)
        assert_true(cal.valid); /* optimize waits for the calibration */
    /* Those queries were the store's first real ones: once calibrated on
     * them, fresh queries (another seed) must meet the target as well. */
    for (int waited = 0; waited < 1200; waited++) {
        if (!vdb_store_calib_due(store) && !vdb_store_calib_running(store))
            break;
        usleep(50000);
    }
    vdb_rng_seed(&rng, 100);
    for (size_t q = 0; q < RECALL_QUERIES; q++)
        gen_query(f, &rng, dim, queries + q * dim, centres);
    r = held_out_recall(store, queries, RECALL_QUERIES, dim, NULL, 0, &short_answers);
    assert_int_equal(vdb_store_query(store, queries, 1, &p, take, one, NULL), VDB_OK);
    vdb_store_calib_get(store, &cal);
    printf("  %-28s after real queries: recall@10 %.4f (classes 0x%x; %s)\n", "", r,
           cal.curve[0][0].classes, explain);
    assert_true(r >= VDB_DEFAULT_TARGET_RECALL - TOLERANCE);
    assert_int_equal(short_answers, 0);
    vdb_store_close(store);
    tu_rm_rf(dir);
    free(queries);
    free(centres);
}

static void test_uniform_64(void **s) { (void)s; check_family(FAM_UNIFORM, 64, VDB_METRIC_COSINE, ROWS, "uniform unit 64-d"); }
#if !defined(__SANITIZE_ADDRESS__)
static void test_uniform_256(void **s) { (void)s; check_family(FAM_UNIFORM, 256, VDB_METRIC_COSINE, ROWS, "uniform unit 256-d"); }
#endif
static void test_clustered(void **s) { (void)s; check_family(FAM_CLUSTERED, 128, VDB_METRIC_COSINE, ROWS, "clustered text-like 128-d"); }
#if !defined(__SANITIZE_ADDRESS__)
static void test_norms_l2(void **s) { (void)s; check_family(FAM_NORMS_L2, 128, VDB_METRIC_L2, ROWS, "euclidean norms 25x 128-d"); }
#endif
#if !defined(__SANITIZE_ADDRESS__)
static void test_norms_dot(void **s) { (void)s; check_family(FAM_NORMS_DOT, 96, VDB_METRIC_DOT, ROWS, "inner product norms 4x 96-d"); }
#endif
#if !defined(__SANITIZE_ADDRESS__)
static void test_duplicates(void **s) { (void)s; check_family(FAM_DUPLICATES, 32, VDB_METRIC_COSINE, ROWS, "near-duplicates, exact ties"); }
#endif
#if !defined(__SANITIZE_ADDRESS__)
/* A fifth of the rows one vector (hnsw.h: exact copies get a capped share
 * of each list, so the group is no trap for the graph). */
static void test_copies(void **s) { (void)s; check_family(FAM_COPIES, 64, VDB_METRIC_COSINE, ROWS, "a fifth of rows one vector"); }
#endif
static void test_lowdim(void **s) { (void)s; check_family(FAM_LOWDIM, 3, VDB_METRIC_L2, ROWS, "3-d euclidean"); }

static void test_tiny(void **s)
{
    static const uint32_t sizes[] = {1, 2, 9, 100, 1000};
    (void)s;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_family(FAM_UNIFORM, 16, VDB_METRIC_COSINE, sizes[i], "tiny store");
}

/* Filters from 0.1% to 100% selectivity: recall >= target - tolerance, and
 * k results whenever k rows match. */
static void test_filtered(void **s)
{
    static const char *filters[] = {"{\"b\": {\"$lt\": 1}}", "{\"b\": {\"$lt\": 10}}",
                                    "{\"b\": {\"$lt\": 100}}", "{\"b\": {\"$lt\": 500}}",
                                    "{\"b\": {\"$gte\": 0}}"};
    char dir[256], path[300];
    vdb_rng rng;
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallf");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, FAM_UNIFORM, 64, VDB_METRIC_COSINE, ROWS, 3, NULL, 1);
    float *queries = malloc((size_t)RECALL_QUERIES * 64 * sizeof(float));
    vdb_rng_seed(&rng, 1234);
    for (size_t q = 0; q < RECALL_QUERIES; q++)
        gen(FAM_UNIFORM, &rng, 64, queries + q * 64, NULL);
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        size_t short_answers = 0;
        vdb_filter *filter = NULL;
        assert_int_equal(vdb_filter_compile_text(filters[i], strlen(filters[i]), &filter, NULL),
                         VDB_OK);
        assert_non_null(filter);
        double r = held_out_recall(store, queries, RECALL_QUERIES, 64, filter, 0,
                                   &short_answers);
        printf("  filter %-24s recall@10 %.4f\n", filters[i], r);
        assert_true(r >= VDB_DEFAULT_TARGET_RECALL - TOLERANCE);
        assert_int_equal(short_answers, 0);
        vdb_filter_free(filter);
    }
    vdb_store_close(store);
    tu_rm_rf(dir);
    free(queries);
}

/* A lower per-request target may use a cheaper plan but must still meet
 * itself; target 1.0 is exact. */
static void test_request_target(void **s)
{
    char dir[256], path[300], explain[VDB_EXPLAIN_MAX];
    vdb_rng rng;
    size_t short_answers = 0;
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallt");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, FAM_UNIFORM, 64, VDB_METRIC_COSINE, ROWS, 5, NULL, 0);
    float *queries = malloc((size_t)RECALL_QUERIES * 64 * sizeof(float));
    vdb_rng_seed(&rng, 77);
    for (size_t q = 0; q < RECALL_QUERIES; q++)
        gen(FAM_UNIFORM, &rng, 64, queries + q * 64, NULL);
    double r = held_out_recall(store, queries, RECALL_QUERIES, 64, NULL, 0.9, &short_answers);
    vdb_query_params probe = {.k = K, .explain = explain, .target_recall = 0.9};
    collect one[1];
    assert_int_equal(vdb_store_query(store, queries, 1, &probe, take, one, NULL), VDB_OK);
    printf("  target 0.9: held-out recall@10 %.4f; plan: %s\n", r, explain);
    assert_true(r >= 0.9 - TOLERANCE);
    vdb_query_params p = {.k = K, .explain = explain, .target_recall = 1.0};
    collect c[1];
    assert_int_equal(vdb_store_query(store, queries, 1, &p, take, c, NULL), VDB_OK);
    assert_non_null(strstr(explain, "exact scan"));
    p.target_recall = 1.5;
    assert_int_equal(vdb_store_query(store, queries, 1, &p, take, c, NULL), VDB_EINVAL);
    /* The store's target is changed and persisted. */
    assert_int_equal(vdb_store_set_target_recall(store, 0.95, NULL), VDB_OK);
    assert_int_equal(vdb_store_set_target_recall(store, 0.0, NULL), VDB_EINVAL);
    vdb_store_close(store);
    assert_int_equal(vdb_store_open(path, NULL, &store, NULL), VDB_OK);
    assert_non_null(store);
    assert_true(fabs(vdb_store_get_config(store)->target_recall - 0.95) < 1e-12);
    vdb_store_close(store);
    tu_rm_rf(dir);
    free(queries);
}

/* Until real queries have been seen, the bound stands on near and spread
 * probes; once the reservoir holds enough distinct real ones, a
 * calibration is due and the real queries alone decide (persisted across
 * reopen). A query repeated many times counts once. */
static void test_real_queries_take_over(void **s)
{
    char dir[256], path[300];
    vdb_calib cal;
    vdb_rng rng;
    float q[32];
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallq");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, FAM_UNIFORM, 32, VDB_METRIC_COSINE, ROWS, 21, NULL, 0);
    vdb_store_calib_get(store, &cal);
    assert_true(cal.valid);
    assert_int_equal(cal.curve[0][0].classes, (1u << VDB_CALIB_NEAR) | (1u << VDB_CALIB_SPREAD));
    /* quantization auto decided on the synthetic probes */
    int kind0 = cal.auto_kind;
    assert_true(kind0 == VDB_QUANT_NONE || kind0 == VDB_QUANT_INT8);
    assert_int_equal(cal.auto_real, 0);
    vdb_rng_seed(&rng, 5);
    vdb_query_params p = {.k = K};
    collect one[1];
    /* One query asked 200 times is one real query: nothing is due. */
    gen(FAM_UNIFORM, &rng, 32, q, NULL);
    for (int i = 0; i < 200; i++)
        assert_int_equal(vdb_store_query(store, q, 1, &p, take, one, NULL), VDB_OK);
    assert_int_equal(vdb_store_calib_due(store), 0);
    for (int i = 0; i < 1000; i++) {
        gen(FAM_UNIFORM, &rng, 32, q, NULL);
        assert_int_equal(vdb_store_query(store, q, 1, &p, take, one, NULL), VDB_OK);
    }
    for (int waited = 0; waited < 1200; waited++) {
        vdb_store_calib_get(store, &cal);
        if (!vdb_store_calib_due(store) && !vdb_store_calib_running(store) &&
            (cal.curve[0][0].classes & (1u << VDB_CALIB_REAL)))
            break;
        usleep(50000);
    }
    assert_int_equal(cal.curve[0][0].classes, 1u << VDB_CALIB_REAL);
    assert_true(cal.curve[0][0].total[VDB_CALIB_REAL][0] > 0);
    /* A "none" decided on them was tried again on the real queries; an
     * int8 decision stands. */
    printf("  auto: %s on synthetic probes, %s after real queries (decided on %s)\n",
           kind0 == VDB_QUANT_INT8 ? "int8" : "none",
           cal.auto_kind == VDB_QUANT_INT8 ? "int8" : "none", cal.auto_real ? "real" : "synthetic");
    assert_int_equal(cal.auto_real, kind0 == VDB_QUANT_NONE);
    if (kind0 == VDB_QUANT_INT8)
        assert_int_equal(cal.auto_kind, VDB_QUANT_INT8);
    vdb_store_close(store);
    assert_int_equal(vdb_store_open(path, NULL, &store, NULL), VDB_OK);
    assert_non_null(store);
    vdb_store_calib_get(store, &cal);
    assert_int_equal(cal.curve[0][0].classes, 1u << VDB_CALIB_REAL);
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* Runs `n` fresh distinct queries (uniform 32-d) on `store`. */
static void distinct_queries(vdb_store *store, vdb_rng *rng, size_t n)
{
    float q[32];
    vdb_query_params p = {.k = K};
    collect one[1];
    for (size_t i = 0; i < n; i++) {
        gen(FAM_UNIFORM, rng, 32, q, NULL);
        assert_int_equal(vdb_store_query(store, q, 1, &p, take, one, NULL), VDB_OK);
    }
}

/* Waits for the background calibration to settle: nothing due or running. */
static void settle(vdb_store *store)
{
    for (int waited = 0; waited < 2400; waited++) {
        if (!vdb_store_calib_due(store) && !vdb_store_calib_running(store))
            return;
        usleep(50000);
    }
    fail_msg("calibration did not settle");
}

/* A store that sees many queries calibrates on many: the reservoir holds
 * more than the old 512 (its size scales with the store), and a
 * calibration is due again each time the usable real queries doubled
 * since the last one, and not before. (Before the reservoir grew, a
 * calibration used at most 512 real queries and none was due after the
 * first: probes stayed <= 512.) */
static void test_reservoir_grows(void **s)
{
    char dir[256], path[300];
    vdb_calib cal;
    vdb_rng rng;
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallr");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, FAM_UNIFORM, 32, VDB_METRIC_COSINE, ROWS, 23, NULL, 0);
    vdb_rng_seed(&rng, 7);
    uint32_t cap = vdb_calib_reservoir_cap(32, ROWS);
    assert_true(cap >= 2048);
    /* 400 distinct queries: every one enters (the reservoir is filling),
     * the real ones take over. */
    distinct_queries(store, &rng, 400);
    settle(store);
    vdb_store_calib_get(store, &cal);
    uint32_t r1 = cal.real_probes;
    printf("  reservoir cap %u at %u x 32; first real calibration on %u queries\n", cap, ROWS, r1);
    assert_true(r1 >= 320 && r1 <= 400);
    assert_int_equal(cal.curve[0][0].classes, 1u << VDB_CALIB_REAL);
    /* Up to one short of twice r1 held: nothing due. */
    distinct_queries(store, &rng, 2 * r1 - 1 - 400);
    assert_int_equal(vdb_store_calib_due(store), 0);
    /* The query that doubles them makes one due; it measures all of them. */
    distinct_queries(store, &rng, 1);
    assert_int_equal(vdb_store_calib_due(store), 1);
    settle(store);
    vdb_store_calib_get(store, &cal);
    assert_int_equal(cal.real_probes, 2 * r1);
    /* Fill it: the last calibration uses more than the old 512, every
     * one of them counted at the top of the ladder. */
    distinct_queries(store, &rng, 3 * cap);
    settle(store);
    vdb_store_calib_get(store, &cal);
    const vdb_calib_curve *c = &cal.curve[0][0];
    uint32_t top = c->probes[VDB_CALIB_REAL][c->measured - 1];
    printf("  after %u queries: calibrated on %u real queries (%u at ef %u)\n", 2 * r1 + 3 * cap,
           cal.real_probes, top, vdb_calib_ef_ladder[c->measured - 1]);
    assert_true(cal.real_probes > cap / 2 && cal.real_probes <= cap);
    assert_true(top > 512);
    /* Persisted with the calibration: a reopen (empty reservoir) does not
     * measure again until as many new ones arrive. */
    vdb_store_close(store);
    assert_int_equal(vdb_store_open(path, NULL, &store, NULL), VDB_OK);
    vdb_calib again;
    vdb_store_calib_get(store, &again);
    assert_int_equal(again.real_probes, cal.real_probes);
    distinct_queries(store, &rng, CALIB_REAL_MIN_TEST);
    assert_int_equal(vdb_store_calib_due(store), 0);
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* The reservoir's size scales with the store within its memory share and
 * the calibration's truth budget, never below the old floor. */
static void test_reservoir_cap(void **s)
{
    (void)s;
    /* Small stores: 512, or what fits 1 MiB (4096 at 32-d, 64 at 4096-d). */
    assert_int_equal(vdb_calib_reservoir_cap(32, 1000), 4096);
    assert_int_equal(vdb_calib_reservoir_cap(384, 1000), 682);
    assert_int_equal(vdb_calib_reservoir_cap(4096, 1000), 64);
    /* 100k x 384: 1/32 of the rows' 153.6 MB is 4.8 MB, 3,125 queries. */
    assert_int_equal(vdb_calib_reservoir_cap(384, 100000), 3125);
    /* 1M x 384: the truth budget (2e11 / 3.84e8 = 520). */
    assert_int_equal(vdb_calib_reservoir_cap(384, 1000000), 520);
    /* 10M x 384: the floor, as before. */
    assert_int_equal(vdb_calib_reservoir_cap(384, 10000000), 512);
    for (uint64_t rows = 100; rows <= 100000000; rows *= 3)
        for (uint32_t dim = 3; dim <= 4096; dim *= 2) {
            uint32_t cap = vdb_calib_reservoir_cap(dim, rows);
            double bytes = (double)cap * dim * 4, share = (double)rows * dim * 4 / 32;
            assert_true(cap >= 1 && cap <= 4096);
            assert_true(bytes <= (1u << 20) || bytes <= share);
            assert_true(cap <= 512 || (double)cap * rows * dim <= 2e11);
        }
}

/* The ef ladder: increasing, from 10 to 2048, in steps of 1.2-1.34x (the
 * old ladder stepped 1.5-1.6x: ef 64 -> 96 where 64 was enough). */
static void test_ladder_steps(void **s)
{
    (void)s;
    assert_int_equal(vdb_calib_ef_ladder[0], 10);
    assert_int_equal(vdb_calib_ef_ladder[VDB_CALIB_NEF - 1], 2048);
    for (int e = 1; e < VDB_CALIB_NEF; e++) {
        double step = (double)vdb_calib_ef_ladder[e] / vdb_calib_ef_ladder[e - 1];
        assert_true(step >= 1.19 && step <= 1.34);
    }
}

/* A calib.txt of an older format (the shorter ladder) is not read: the
 * store measures again. */
static void test_old_format_remeasured(void **s)
{
    char dir[256], path[300], file[400];
    vdb_calib cal;
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallo");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, FAM_LOWDIM, 3, VDB_METRIC_L2, ROWS, 5, NULL, 0);
    vdb_store_close(store);
    /* A well-formed format-4 file (16 ladder entries, no real probe count)
     * measured at time 12345. */
    snprintf(file, sizeof(file), "%s/%s", path, VDB_CALIB_FILE);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fprintf(f, "vdb-calib 4\n12345 %u 500 1 1 1000 1000 1000\n", ROWS);
    for (int band = 0; band < VDB_CALIB_NS * VDB_CALIB_NK; band++)
        fprintf(f, "1 1 1000 5000 5000 500 0 0 0 0 0 0\n");
    fprintf(f, "0 -1 0 0 0\n");
    assert_int_equal(fclose(f), 0);
    assert_int_equal(vdb_store_open(path, NULL, &store, NULL), VDB_OK);
    vdb_store_calib_get(store, &cal);
    assert_false(cal.valid && cal.when == 12345);
    settle(store);
    vdb_store_calib_get(store, &cal);
    assert_true(cal.valid);
    assert_true(cal.when != 12345);
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* Calibration is persisted (a reopen does not redo it) and redone after
 * the store grew by more than the stale fraction. */
/* Closes and reopens `store`: the calibration comes back from calib.txt,
 * the same measurement (`after`), and nothing is due. */
static vdb_store *reopen_same_calib(vdb_store *store, const char *path, const vdb_calib *before,
                                    vdb_calib *after)
{
    vdb_store_close(store);
    assert_int_equal(vdb_store_open(path, NULL, &store, NULL), VDB_OK);
    assert_non_null(store);
    vdb_store_calib_get(store, after);
    assert_true(after->valid);
    assert_int_equal(after->when, before->when);
    assert_int_equal(after->live, before->live);
    assert_int_equal(after->path, before->path);
    assert_int_equal(vdb_store_calib_due(store), 0);
    return store;
}

static void test_persist_and_stale(void **s)
{
    char dir[256], path[300], file[400];
    vdb_calib before, after;
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallp");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, FAM_UNIFORM, 32, VDB_METRIC_COSINE, ROWS, 9, NULL, 0);
    vdb_store_calib_get(store, &before);
    assert_true(before.valid);
    snprintf(file, sizeof(file), "%s/%s", path, VDB_CALIB_FILE);
    assert_true(tu_file_size(file) > 0);
    store = reopen_same_calib(store, path, &before, &after);
    assert_true(fabs(after.scan_ns_row - before.scan_ns_row) < 1e-9 * before.scan_ns_row + 1e-12);
    assert_int_equal(vdb_store_calib_due(store), 0);
    /* Grow by 30%: stale, measured again in the background. */
    {
        vdb_rng rng;
        uint32_t n = 3000, dim = 32;
        float *v = malloc((size_t)n * dim * sizeof(float));
        vdb_rng_seed(&rng, 4242);
        for (uint32_t i = 0; i < n; i++)
            gen(FAM_UNIFORM, &rng, dim, v + (size_t)i * dim, NULL);
        assert_int_equal(vdb_store_add(store, n, v, NULL, NULL, NULL, NULL), VDB_OK);
        free(v);
    }
    assert_int_equal(vdb_store_optimize(store, NULL, NULL), VDB_OK);
    vdb_store_calib_get(store, &after);
    assert_true(after.valid);
    assert_int_equal(after.live, ROWS + 3000);
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* Replaces a closed store's calib.txt with a hand-written calibration:
 * scan and candidate costs 1 us a row, `curves[band]` the curve line of
 * that selectivity band for both k bands ("measured classes" then per
 * ladder entry "ns hits total probes" for each of the three classes). */
/* scan_ns / ids_ns: the measured exact costs per row, of a scan and of a
 * search over a candidate list. */
static void write_calib_costs(const char *store_path, const char *const curves[VDB_CALIB_NS],
                              double scan_ns, double ids_ns)
{
    char file[400];
    snprintf(file, sizeof(file), "%s/%s", store_path, VDB_CALIB_FILE);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fprintf(f, "vdb-calib 5\n%lld %u 500 0 1 1 %g %g 1000\n", (long long)time(NULL), ROWS,
            scan_ns, ids_ns);
    for (int band = 0; band < VDB_CALIB_NS; band++)
        for (int kb = 0; kb < VDB_CALIB_NK; kb++)
            fprintf(f, "%s\n", curves[band]);
    /* measured on the float rows; no quantization auto decision */
    fprintf(f, "0 -1 0 0 0 0\n");
    assert_int_equal(fclose(f), 0);
}

/* Runs one filtered query on `store` and checks its plan names `want`. */
static void expect_filtered_plan(vdb_store *store, const char *filter_text, const char *want)
{
    char explain[VDB_EXPLAIN_MAX];
    collect one;
    float q[3] = {0.1f, 0.2f, 0.3f};
    vdb_filter *filter = NULL;
    assert_int_equal(vdb_filter_compile_text(filter_text, strlen(filter_text), &filter, NULL),
                     VDB_OK);
    vdb_query_params p = {.k = K, .filter = filter, .explain = explain};
    assert_non_null(filter);
    assert_int_equal(vdb_store_query(store, q, 1, &p, take, &one, NULL), VDB_OK);
    printf("  filter %-24s %s\n", filter_text, explain);
    assert_non_null(strstr(explain, want));
    assert_int_equal(one.count, K);
    vdb_filter_free(filter);
}

/* A 3-d store of ROWS rows with {"b": row % 1000}, closed, its calibration
 * replaced by `curves` (exact costs scan_ns / ids_ns per row), reopened. */
static vdb_store *store_with_calib_costs(const char *path, const char *const curves[VDB_CALIB_NS],
                                         double scan_ns, double ids_ns)
{
    vdb_store *store = make_store(path, FAM_LOWDIM, 3, VDB_METRIC_L2, ROWS, 5, NULL, 1);
    vdb_store_close(store);
    write_calib_costs(path, curves, scan_ns, ids_ns);
    assert_int_equal(vdb_store_open(path, NULL, &store, NULL), VDB_OK);
    assert_non_null(store);
    vdb_calib cal;
    vdb_store_calib_get(store, &cal);
    assert_true(cal.valid);
    assert_int_equal(vdb_store_calib_due(store), 0);
    return store;
}

static vdb_store *store_with_calib(const char *path, const char *const curves[VDB_CALIB_NS])
{
    return store_with_calib_costs(path, curves, 1000, 1000);
}

/* A filtered query is planned with the selectivity bands around its own
 * selectivity: with a calibration in which every band but the 2% one
 * reaches the target cheaply (ef 10, 1 us; 500 perfect near probes: bound
 * 0.9946), a filter matching 100% or 50% of the rows goes to the graph.
 * (The band search once always took the 2% band, so such queries ran
 * exact over all their candidates.) */
static void test_filtered_bands(void **s)
{
    static const char *const curves[VDB_CALIB_NS] = {
        "1 1 1000 5000 5000 500 0 0 0 0 0 0", "1 1 1000 5000 5000 500 0 0 0 0 0 0",
        "1 1 1000 5000 5000 500 0 0 0 0 0 0", "1 1 1000 0 5000 500 0 0 0 0 0 0"};
    char dir[256], path[300];
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallb");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = store_with_calib(path, curves);
    expect_filtered_plan(store, "{\"b\": {\"$gte\": 0}}", "graph (");
    expect_filtered_plan(store, "{\"b\": {\"$lt\": 500}}", "graph (");
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* A filtered graph search is costed at the ef it will run with: the
 * unfiltered band needs ef 16 (1 us), the 10% band meets the target at
 * ef 10 (0.1 us) but costs 5 ms at ef 16, so a 10% filter (1,000
 * candidates at 1 us) runs exact over its candidates. (The 10% band was
 * once charged its time at its own ef: a 10% filter planned at 1.4 ms ran
 * at ef 384 in 6.8 ms.) */
static void test_filtered_cost_at_ef(void **s)
{
    static const char *const curves[VDB_CALIB_NS] = {
        "3 1 500 0 5000 500 0 0 0 0 0 0 700 0 5000 500 0 0 0 0 0 0 1000 5000 5000 500 0 0 0 0 0 0",
        "3 1 500 0 5000 500 0 0 0 0 0 0 700 0 5000 500 0 0 0 0 0 0 1000 5000 5000 500 0 0 0 0 0 0",
        "3 1 100 5000 5000 500 0 0 0 0 0 0 200 5000 5000 500 0 0 0 0 0 0 5000000 5000 5000 500 0 0 0 0 0 0",
        "3 1 100 5000 5000 500 0 0 0 0 0 0 200 5000 5000 500 0 0 0 0 0 0 5000000 5000 5000 500 0 0 0 0 0 0"};
    char dir[256], path[300];
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallc");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = store_with_calib(path, curves);
    expect_filtered_plan(store, "{\"b\": {\"$lt\": 100}}", "exact over filter candidates");
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* When no ef reaches the target, a broad filter scans every row with the
 * filter (measured here at 100 ns a row) rather than gathering its
 * candidates one by one (1,000 ns each), and a narrow one still searches
 * its candidates. (A 100% filter on 100,000 x 64 uniform rows once ran
 * over its candidates in 1.7 ms where the scan took 0.7 ms: only the
 * candidates' cost was compared.) */
static void test_filtered_scan_beats_ids(void **s)
{
    static const char *const curves[VDB_CALIB_NS] = {
        "1 1 1000 0 5000 500 0 0 0 0 0 0", "1 1 1000 0 5000 500 0 0 0 0 0 0",
        "1 1 1000 0 5000 500 0 0 0 0 0 0", "1 1 1000 0 5000 500 0 0 0 0 0 0"};
    char dir[256], path[300];
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recalls");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = store_with_calib_costs(path, curves, 100, 1000);
    expect_filtered_plan(store, "{\"b\": {\"$gte\": 0}}", "exact scan with filter");
    expect_filtered_plan(store, "{\"b\": {\"$lt\": 500}}", "exact scan with filter");
    expect_filtered_plan(store, "{\"b\": {\"$lt\": 10}}", "exact over filter candidates");
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* Writes do not wait for a calibration: while one is measuring, adds
 * complete and are visible (the calibration is still running after them). */
static void test_writes_during_calibration(void **s)
{
    char dir[256], path[300];
    vdb_rng rng;
    float v[64 * 10];
    size_t writes = 0;
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallw");
    snprintf(path, sizeof(path), "%s/s", dir);
    vdb_store *store = make_store(path, FAM_UNIFORM, 64, VDB_METRIC_COSINE, ROWS, 11, NULL, 0);
    vdb_rng_seed(&rng, 5);
    /* Growth past the stale fraction starts a calibration in the background. */
    for (int round = 0; round < 25; round++) {
        for (int i = 0; i < 10; i++)
            gen(FAM_UNIFORM, &rng, 64, v + i * 64, NULL);
        assert_int_equal(vdb_store_add(store, 10, v, NULL, NULL, NULL, NULL), VDB_OK);
    }
    float *bulk = malloc((size_t)2500 * 64 * sizeof(float));
    for (int i = 0; i < 2500; i++)
        gen(FAM_UNIFORM, &rng, 64, bulk + (size_t)i * 64, NULL);
    assert_int_equal(vdb_store_add(store, 2500, bulk, NULL, NULL, NULL, NULL), VDB_OK);
    free(bulk);
    for (int wait = 0; wait < 3000 && !vdb_store_calib_running(store); wait++)
        usleep(10000);
    assert_true(vdb_store_calib_running(store));
    while (vdb_store_calib_running(store) && writes < 50) {
        for (int i = 0; i < 10; i++)
            gen(FAM_UNIFORM, &rng, 64, v + i * 64, NULL);
        assert_int_equal(vdb_store_add(store, 10, v, NULL, NULL, NULL, NULL), VDB_OK);
        writes++;
    }
    /* Several writes completed while it was still measuring. */
    printf("  %zu writes of 10 rows completed during one calibration\n", writes);
    assert_true(writes >= 3);
    vdb_store_close(store);
    tu_rm_rf(dir);
}

/* The codes an auto store keeps, by name ("none", "int8", "undecided"). */
static void expect_effective(vdb_store *store, const char *want)
{
    vdb_json *j = vdb_store_codes_json(store);
    assert_non_null(j);
    assert_string_equal(vdb_json_string_value(vdb_json_object_get(j, "kind")), "auto");
    assert_string_equal(vdb_json_string_value(vdb_json_object_get(j, "effective")), want);
    vdb_json_decref(j);
}

/* A writer beside a calibration: a row every 50 ms until told to stop. */
typedef struct side_writer {
    vdb_store *store;
    uint32_t dim;
    const float *centres;
    _Atomic int stop;
    size_t rows;
} side_writer;

static void *side_write(void *arg)
{
    side_writer *w = arg;
    vdb_rng rng;
    float *v = malloc((size_t)w->dim * sizeof(float));
    vdb_rng_seed(&rng, 31337);
    /* At most 10% of the rows: under the growth that makes it stale. */
    while (v != NULL && !atomic_load(&w->stop) && w->rows < ROWS / 10) {
        gen(FAM_CLUSTERED, &rng, w->dim, v, w->centres);
        if (vdb_store_add(w->store, 1, v, NULL, NULL, NULL, NULL) != VDB_OK)
            break;
        w->rows++;
        usleep(50000); /* spread over the whole calibration, trial included */
    }
    free(v);
    return NULL;
}

/* quantization auto, the default: the first calibration measures the float
 * path, then the int8 path on trial codes, and keeps the codes only when
 * their plan at the target costs under 0.9x the float plan's; the queries
 * then run the path the published curves describe and meet the target.
 * The decision and its evidence survive a reopen without a second trial;
 * setting another quantization and then auto again starts over. */
static void test_quant_auto(void **s)
{
    char dir[256], path[300];
    vdb_rng rng;
    vdb_calib cal, again;
    size_t short_answers = 0;
    uint32_t dim = 128;
    (void)s;
    tu_tmpdir(dir, sizeof(dir), "recallq");
    snprintf(path, sizeof(path), "%s/s", dir);
    float *centres = family_centres(dim, 7);
    float *queries = malloc((size_t)RECALL_QUERIES * dim * sizeof(float));
    vdb_store *store = make_store(path, FAM_CLUSTERED, dim, VDB_METRIC_COSINE, ROWS, 21, centres, 0);
    vdb_store_calib_get(store, &cal);
    assert_true(cal.valid);
    int kind = vdb_store__codes_auto_kind(store);
    printf("  auto: kept %s (plan at %.2f: float %.1f us, int8 %.1f us)\n",
           kind == VDB_QUANT_INT8 ? "int8" : "none", cal.auto_target, cal.auto_ns[0] / 1e3,
           cal.auto_ns[1] / 1e3);
    assert_true(kind == VDB_QUANT_NONE || kind == VDB_QUANT_INT8);
    assert_int_equal(cal.auto_kind, kind);
    assert_true(cal.auto_ns[0] > 0 && cal.auto_ns[1] > 0);
    assert_int_equal(kind == VDB_QUANT_INT8, cal.auto_ns[1] < 0.9 * cal.auto_ns[0]);
    assert_int_equal(cal.path, kind == VDB_QUANT_INT8 ? VDB_CALIB_PATH_INT8 : VDB_CALIB_PATH_FLOAT);
    expect_effective(store, kind == VDB_QUANT_INT8 ? "int8" : "none");
    vdb_rng_seed(&rng, 77);
    for (size_t q = 0; q < RECALL_QUERIES; q++)
        gen_query(FAM_CLUSTERED, &rng, dim, queries + q * dim, centres);
    double r = held_out_recall(store, queries, RECALL_QUERIES, dim, NULL, 0, &short_answers);
    printf("  auto: held-out recall@10 %.4f\n", r);
    assert_true(r >= VDB_DEFAULT_TARGET_RECALL - TOLERANCE);
    /* Reopened: the same calibration and decision, the codes rebuilt to
     * match, nothing due. */
    store = reopen_same_calib(store, path, &cal, &again);
    assert_int_equal(again.auto_kind, kind);
    assert_int_equal(vdb_store__codes_auto_kind(store), kind);
    expect_effective(store, kind == VDB_QUANT_INT8 ? "int8" : "none");
    /* none, then auto again: undecided, measured again by the next
     * calibration (optimize waits for it). */
    assert_int_equal(vdb_store_set_quantization(store, VDB_QUANT_NONE, NULL), VDB_OK);
    assert_int_equal(vdb_store__codes_auto_kind(store), -2);
    assert_int_equal(vdb_store_set_quantization(store, VDB_STORE_QUANT_AUTO, NULL), VDB_OK);
    assert_int_equal(vdb_store__codes_auto_kind(store), -1);
    expect_effective(store, "undecided");
    assert_int_equal(vdb_store_calib_due(store), 1);
    /* This time a writer adds rows while the trial codes are built and
     * measured (they must follow every row: kept codes cover the store). */
    side_writer w = {.store = store, .dim = dim, .centres = centres};
    pthread_t writer;
    assert_int_equal(pthread_create(&writer, NULL, side_write, &w), 0);
    assert_int_equal(vdb_store_optimize(store, NULL, NULL), VDB_OK);
    atomic_store(&w.stop, 1);
    pthread_join(writer, NULL);
    printf("  auto: %zu rows written during the second trial\n", w.rows);
    assert_true(w.rows > 0);
    int kind2 = vdb_store__codes_auto_kind(store);
    assert_true(kind2 == VDB_QUANT_NONE || kind2 == VDB_QUANT_INT8);
    {
        vdb_json *j = vdb_store_codes_json(store);
        long long coded = vdb_json_int_value(vdb_json_object_get(j, "rows"));
        vdb_json_decref(j);
        assert_int_equal(coded, kind2 == VDB_QUANT_INT8 ? (long long)(ROWS + w.rows) : 0);
    }
    r = held_out_recall(store, queries, RECALL_QUERIES, dim, NULL, 0, &short_answers);
    assert_true(r >= VDB_DEFAULT_TARGET_RECALL - TOLERANCE);
    assert_int_equal(short_answers, 0);
    vdb_store_close(store);
    tu_rm_rf(dir);
    free(queries);
    free(centres);
}

/* The ef pick is a fixed-sequence test from the top of the ladder: a low
 * ef that passes below one that misses (noise, or a lucky sample) is not
 * taken; the smallest ef of the passing run at the top is. */
static void test_pick_fixed_sequence(void **s)
{
    vdb_calib_curve c;
    (void)s;
    memset(&c, 0, sizeof(c));
    c.classes = 1u << VDB_CALIB_NEAR;
    c.measured = 4;
    /* 500 probe queries each: all hits bound ~0.9946, none 0. */
    const uint64_t hits[4] = {5000, 0, 5000, 5000};
    for (int e = 0; e < 4; e++) {
        c.hits[VDB_CALIB_NEAR][e] = hits[e];
        c.total[VDB_CALIB_NEAR][e] = 5000;
        c.probes[VDB_CALIB_NEAR][e] = 500;
        c.ns[e] = 1000.0 * (e + 1);
    }
    assert_int_equal(vdb_calib_pick(&c, 0.99), 2); /* not 0: entry 1 misses */
    c.hits[VDB_CALIB_NEAR][1] = 5000;
    assert_int_equal(vdb_calib_pick(&c, 0.99), 0);
    c.hits[VDB_CALIB_NEAR][3] = 4000; /* the top misses: nothing is claimed */
    assert_int_equal(vdb_calib_pick(&c, 0.99), -1);
    assert_int_equal(vdb_calib_pick(&c, 0.70), 0);
    c.measured = 0;
    assert_int_equal(vdb_calib_pick(&c, 0.5), -1);
    /* An entry a curve did not measure (the filtered and k <= 100 curves
     * keep the coarse steps) is not on its ladder: passed over, not a
     * failure that stops the test (before, the pick stopped above it). */
    c.measured = 4;
    c.hits[VDB_CALIB_NEAR][3] = 5000;
    c.hits[VDB_CALIB_NEAR][1] = c.total[VDB_CALIB_NEAR][1] = 0;
    c.probes[VDB_CALIB_NEAR][1] = 0;
    c.ns[1] = 0;
    assert_int_equal(vdb_calib_pick(&c, 0.99), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick_fixed_sequence),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_uniform_64),
#if !defined(__SANITIZE_ADDRESS__)
        /* Under AddressSanitizer each family costs minutes (a graph and two
         * calibrations) and these four run the same code as the others on
         * other data; the plain build (make test) runs every family. */
        cmocka_unit_test(test_uniform_256),
        cmocka_unit_test(test_norms_l2),
        cmocka_unit_test(test_norms_dot),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_copies),
#endif
        cmocka_unit_test(test_clustered),
        cmocka_unit_test(test_lowdim),
        cmocka_unit_test(test_filtered),
        cmocka_unit_test(test_filtered_bands),
        cmocka_unit_test(test_filtered_cost_at_ef),
        cmocka_unit_test(test_filtered_scan_beats_ids),
        cmocka_unit_test(test_request_target),
        cmocka_unit_test(test_real_queries_take_over),
        cmocka_unit_test(test_reservoir_grows),
        cmocka_unit_test(test_reservoir_cap),
        cmocka_unit_test(test_ladder_steps),
        cmocka_unit_test(test_old_format_remeasured),
        cmocka_unit_test(test_persist_and_stale),
        cmocka_unit_test(test_writes_during_calibration),
        cmocka_unit_test(test_quant_auto),
    };
    /* VDB_TEST_FILTER runs the matching tests only (while iterating). */
    if (getenv("VDB_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("VDB_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
