/* Exact search against a naive double-precision reference on random stores:
 * ids, ties (duplicated rows), deletes, filters, k > n, every metric, single
 * and batch (BLAS) paths, and large stores that take the parallel path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "index/flat.h"
#include "kernel/topk.h"

typedef struct fixture {
    float *data;
    uint64_t *deleted;
    vdb_vecview view;
} fixture;

static void make_store(fixture *f, uint32_t n, uint32_t dim, vdb_metric metric, uint64_t seed,
                       int with_dups)
{
    vdb_rng rng;
    vdb_rng_seed(&rng, seed);
    f->data = vdb_aligned_alloc(64, (size_t)(n ? n : 1) * dim * sizeof(float));
    f->deleted = vdb_calloc((n + 63) / 64 + 1, sizeof(uint64_t));
    for (size_t i = 0; i < (size_t)n * dim; i++)
        f->data[i] = (float)vdb_rng_gauss(&rng);
    /* Exact duplicates of earlier rows create distance ties. */
    for (uint32_t r = 1; with_dups && r < n; r += 7)
        memcpy(f->data + (size_t)r * dim, f->data + (size_t)(r / 2) * dim, dim * sizeof(float));
    if (metric == VDB_METRIC_COSINE)
        for (uint32_t r = 0; r < n; r++)
            vdb_flat_prepare_query(metric, f->data + (size_t)r * dim, f->data + (size_t)r * dim,
                                   dim, NULL);
    f->view.data = f->data;
    f->view.deleted = NULL;
    f->view.n = n;
    f->view.dim = dim;
    f->view.metric = metric;
}

static void free_store(fixture *f)
{
    vdb_aligned_free(f->data);
    vdb_free(f->deleted);
}

static double ref_dist(const fixture *f, const float *q, uint32_t r)
{
    double dot = 0, l2 = 0;
    for (uint32_t i = 0; i < f->view.dim; i++) {
        double a = q[i], b = f->data[(size_t)r * f->view.dim + i];
        dot += a * b;
        l2 += (a - b) * (a - b);
    }
    switch (f->view.metric) {
    case VDB_METRIC_COSINE: return 1.0 - dot;
    case VDB_METRIC_DOT: return -dot;
    default: return l2;
    }
}

typedef struct ref_hit {
    double dist;
    uint32_t id;
} ref_hit;

static int cmp_ref(const void *a, const void *b)
{
    const ref_hit *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int accept_even(void *ctx, uint32_t id)
{
    (void)ctx;
    return id % 2 == 0;
}

/* Checks hits against the reference: same count, every hit's reference
 * distance within tolerance of the reference rank's, sorted, no deleted or
 * filtered rows. Ties may be resolved either way only within float noise. */
static void check_against_ref(const fixture *f, const float *q, size_t k, const vdb_hit *hits,
                              size_t count, int filtered)
{
    ref_hit *ref = malloc(sizeof(ref_hit) * (f->view.n + 1));
    size_t eligible = 0;
    for (uint32_t r = 0; r < f->view.n; r++) {
        if (vdb_vecview_is_deleted(&f->view, r) || (filtered && r % 2))
            continue;
        ref[eligible].dist = ref_dist(f, q, r);
        ref[eligible++].id = r;
    }
    qsort(ref, eligible, sizeof(ref_hit), cmp_ref);
    assert_int_equal(count, eligible < k ? eligible : k);
    for (size_t i = 0; i < count; i++) {
        double got = ref_dist(f, q, hits[i].id);
        assert_false(vdb_vecview_is_deleted(&f->view, hits[i].id));
        if (filtered)
            assert_int_equal(hits[i].id % 2, 0);
        assert_true(fabs(got - ref[i].dist) <= 1e-4 * (1.0 + fabs(ref[i].dist)));
        assert_true(fabs((double)hits[i].dist - got) <= 1e-3 * (1.0 + fabs(got)));
        if (i > 0) {
            assert_true(hits[i - 1].dist <= hits[i].dist);
            if (hits[i - 1].dist == hits[i].dist)
                assert_true(hits[i - 1].id < hits[i].id);
        }
    }
    free(ref);
}

static void run_case(uint32_t n, uint32_t dim, vdb_metric metric, size_t k, int deletes,
                     int filtered, uint64_t seed)
{
    fixture f;
    vdb_rng rng;
    vdb_filter_hook hook = {accept_even, NULL};
    enum { NQ = 9 };
    float *queries = malloc(sizeof(float) * NQ * dim);
    vdb_hit *hits = malloc(sizeof(vdb_hit) * NQ * k);
    size_t counts[NQ], count;
    make_store(&f, n, dim, metric, seed, 1);
    vdb_rng_seed(&rng, seed + 1);
    if (deletes) {
        for (uint32_t r = 0; r < n; r += 3)
            f.deleted[r >> 6] |= (uint64_t)1 << (r & 63);
        f.view.deleted = f.deleted;
    }
    for (size_t i = 0; i < (size_t)NQ * dim; i++)
        queries[i] = (float)vdb_rng_gauss(&rng);
    /* Query 0 is a stored row: it must find itself (or an exact twin) first. */
    if (n > 4)
        memcpy(queries, f.data + 4 * (size_t)dim, dim * sizeof(float));
    for (int q = 0; q < NQ; q++)
        assert_int_equal(vdb_flat_prepare_query(metric, queries + q * dim, queries + q * dim, dim,
                                                NULL), VDB_OK);
    for (int q = 0; q < NQ; q++) {
        assert_int_equal(vdb_flat_search(&f.view, queries + q * dim, k, filtered ? &hook : NULL,
                                         hits, &count, NULL), VDB_OK);
        check_against_ref(&f, queries + q * dim, k, hits, count, filtered);
    }
    assert_int_equal(vdb_flat_search_batch(&f.view, queries, NQ, k, filtered ? &hook : NULL,
                                           hits, counts, NULL), VDB_OK);
    for (int q = 0; q < NQ; q++)
        check_against_ref(&f, queries + q * dim, k, hits + q * k, counts[q], filtered);
    free(queries);
    free(hits);
    free_store(&f);
}

static void test_metrics_small(void **state)
{
    (void)state;
    for (int m = 0; m < 3; m++) {
        run_case(50, 7, (vdb_metric)m, 5, 0, 0, 1);
        run_case(300, 33, (vdb_metric)m, 10, 1, 0, 2);
        run_case(300, 16, (vdb_metric)m, 10, 0, 1, 3);
        run_case(300, 16, (vdb_metric)m, 10, 1, 1, 4);
    }
}

static void test_k_larger_than_n(void **state)
{
    (void)state;
    run_case(6, 5, VDB_METRIC_L2, 50, 0, 0, 5);
    run_case(6, 5, VDB_METRIC_COSINE, 50, 1, 1, 6);
    run_case(1, 3, VDB_METRIC_DOT, 10, 0, 0, 7);
}

static void test_parallel_path(void **state)
{
    (void)state;
    /* 40000 x 64 floats exceeds the parallel threshold: slices + merge. */
    run_case(40000, 64, VDB_METRIC_COSINE, 10, 1, 0, 8);
    run_case(40000, 32, VDB_METRIC_L2, 100, 0, 1, 9);
}

static void test_ties_by_id(void **state)
{
    fixture f;
    float q[4] = {1, 0, 0, 0};
    vdb_hit hits[8];
    size_t count;
    (void)state;
    make_store(&f, 8, 4, VDB_METRIC_L2, 10, 0);
    for (int r = 0; r < 8; r++)
        memcpy(f.data + r * 4, q, sizeof(q)); /* all rows identical */
    assert_int_equal(vdb_flat_search(&f.view, q, 5, NULL, hits, &count, NULL), VDB_OK);
    assert_int_equal(count, 5);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(hits[i].id, i);
    free_store(&f);
}

static void test_empty_and_bad_input(void **state)
{
    fixture f;
    vdb_hit hits[4];
    size_t count = 99, counts[2];
    float q[3] = {1, 2, 3}, bad[3] = {1, NAN, 3};
    vdb_error err;
    (void)state;
    make_store(&f, 0, 3, VDB_METRIC_COSINE, 11, 0);
    assert_int_equal(vdb_flat_search(&f.view, q, 3, NULL, hits, &count, NULL), VDB_OK);
    assert_int_equal(count, 0);
    assert_int_equal(vdb_flat_search_batch(&f.view, q, 1, 3, NULL, hits, counts, NULL), VDB_OK);
    assert_int_equal(counts[0], 0);
    assert_int_equal(vdb_flat_search(&f.view, q, 0, NULL, hits, &count, &err), VDB_EINVAL);
    assert_int_equal(vdb_flat_prepare_query(VDB_METRIC_COSINE, bad, bad, 3, &err), VDB_EINVAL);
    assert_non_null(strstr(err.msg, "component 1"));
    free_store(&f);
}

static void test_topk_heap(void **state)
{
    vdb_hit storage[4];
    vdb_topk top;
    (void)state;
    vdb_topk_init(&top, storage, 4);
    assert_true(isinf(vdb_topk_threshold(&top)));
    float d[] = {5, 1, 4, 1, 3, 9, 0.5f, 4};
    for (uint32_t i = 0; i < 8; i++)
        vdb_topk_push(&top, d[i], i);
    assert_float_equal(vdb_topk_threshold(&top), 3.0f, 0);
    assert_int_equal(vdb_topk_sort(&top), 4);
    assert_int_equal(storage[0].id, 6);
    assert_int_equal(storage[1].id, 1); /* tie 1.0: smaller id first */
    assert_int_equal(storage[2].id, 3);
    assert_int_equal(storage[3].id, 4);
}

static void test_search_ids(void **state)
{
    fixture f;
    uint32_t ids[] = {3, 9, 12, 40, 1000};
    vdb_hit hits[3];
    size_t count;
    (void)state;
    make_store(&f, 50, 8, VDB_METRIC_DOT, 12, 0);
    f.deleted[0] |= 1u << 9;
    f.view.deleted = f.deleted;
    assert_int_equal(vdb_flat_search_ids(&f.view, f.data + 12 * 8, ids, 5, 3, hits, &count, NULL),
                     VDB_OK);
    assert_int_equal(count, 3); /* 9 deleted, 1000 out of range */
    for (size_t i = 0; i < count; i++)
        assert_true(hits[i].id == 3 || hits[i].id == 12 || hits[i].id == 40);
    free_store(&f);
}

/* vdb_flat_parallelism says how many threads a single-query scan uses:
 * one below the parallel threshold, else the pool's threads or the
 * slices, whichever is fewer (calibration divides CPU time by it). */
static void test_parallelism(void **state)
{
    (void)state;
    int threads = vdb_pool_threads(vdb_pool_global());
    vdb_vecview small = {NULL, NULL, 100, 4, VDB_METRIC_L2};
    vdb_vecview big = {NULL, NULL, 3 * 8192, 128, VDB_METRIC_L2};
    vdb_vecview huge = {NULL, NULL, 1u << 22, 128, VDB_METRIC_L2};
    assert_int_equal(vdb_flat_parallelism(&small), 1);
    assert_int_equal(vdb_flat_parallelism(&big), threads < 2 ? 1 : (threads < 3 ? threads : 3));
    assert_int_equal(vdb_flat_parallelism(&huge), threads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_heap),
        cmocka_unit_test(test_metrics_small),
        cmocka_unit_test(test_k_larger_than_n),
        cmocka_unit_test(test_ties_by_id),
        cmocka_unit_test(test_parallel_path),
        cmocka_unit_test(test_empty_and_bad_input),
        cmocka_unit_test(test_search_ids),
        cmocka_unit_test(test_parallelism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
