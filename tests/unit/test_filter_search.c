/* Filtered search end to end: payload planner + exact search over
 * candidates or filter-aware HNSW, against brute-force ground truth at
 * selectivities 0.1%, 1%, 10%, 50% and 100% (the filter issue's test; the
 * 100,000 x 384 figures come from `vdb filter-bench`). Recall@10 must be 1
 * where the planner chose exact search and >= 0.95 everywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "filter/filter.h"
#include "filter/payload.h"
#include "index/flat.h"
#include "index/hnsw.h"
#include "store/vecset.h"

#define N 12000u
#define DIM 24u
#define NQ 100u
#define K 10u

typedef struct truth_ctx {
    const uint16_t *bucket;
    unsigned limit;
} truth_ctx;

static int truth_accept(void *ctx, uint32_t row)
{
    const truth_ctx *t = ctx;
    return t->bucket[row] < t->limit;
}

/* Fraction of the true top-k ids found (sets; ties are rare on random data). */
static double recall(const vdb_hit *got, const size_t *got_n, const vdb_hit *truth,
                     const size_t *truth_n)
{
    size_t found = 0, total = 0;
    for (size_t q = 0; q < NQ; q++) {
        total += truth_n[q];
        for (size_t i = 0; i < truth_n[q]; i++)
            for (size_t j = 0; j < got_n[q]; j++)
                if (got[q * K + j].id == truth[q * K + i].id) {
                    found++;
                    break;
                }
    }
    return total ? (double)found / (double)total : 1.0;
}

static void test_filtered_search_recall(void **state)
{
    (void)state;
    vdb_error err;
    vdb_rng rng;
    vdb_rng_seed(&rng, 99);
    float *data = vdb_malloc((size_t)N * DIM * sizeof(*data));
    float *queries = vdb_malloc((size_t)NQ * DIM * sizeof(*queries));
    char **ids = vdb_calloc(N, sizeof(*ids));
    uint16_t *bucket = vdb_malloc(N * sizeof(*bucket));
    assert_true(data && queries && ids && bucket);
    for (size_t i = 0; i < (size_t)N * DIM; i++)
        data[i] = (float)vdb_rng_gauss(&rng);
    for (size_t i = 0; i < (size_t)NQ * DIM; i++)
        queries[i] = (float)vdb_rng_gauss(&rng);
    vdb_vecset *set = NULL;
    assert_int_equal(vdb_vecset_new(DIM, VDB_METRIC_COSINE, &set, &err), VDB_OK);
    vdb_payload *payload = NULL;
    assert_int_equal(vdb_payload_new(&payload, &err), VDB_OK);
    assert_non_null(set);
    assert_non_null(payload);
    for (uint32_t i = 0; i < N; i++) {
        char text[48];
        snprintf(text, sizeof(text), "v%u", i);
        ids[i] = vdb_strdup(text);
        bucket[i] = (uint16_t)vdb_rng_below(&rng, 1000);
        snprintf(text, sizeof(text), "{\"bucket\": %u}", bucket[i]);
        assert_int_equal(vdb_payload_set(payload, i, text, &err), VDB_OK);
    }
    assert_int_equal(vdb_vecset_upsert(set, N, data, (const char *const *)ids, NULL, NULL, NULL,
                                       &err),
                     VDB_OK);
    assert_int_equal(vdb_payload_create_index(payload, "bucket", &err), VDB_OK);
    vdb_vecview view = vdb_vecset_view(set);
    for (size_t q = 0; q < NQ; q++)
        assert_int_equal(vdb_flat_prepare_query(VDB_METRIC_COSINE, queries + q * DIM,
                                                queries + q * DIM, DIM, &err),
                         VDB_OK);
    vdb_hnsw *hnsw = NULL;
    assert_int_equal(vdb_hnsw_new(DIM, VDB_METRIC_COSINE, NULL, &hnsw, &err), VDB_OK);
    assert_non_null(hnsw);
    assert_int_equal(vdb_hnsw_build(hnsw, &view, 0, N, &err), VDB_OK);

    vdb_hit truth[NQ * K], got[NQ * K];
    size_t truth_n[NQ], got_n[NQ];
    const unsigned limits[] = {1, 10, 100, 500, 1000};
    int saw_exact = 0, saw_hnsw = 0;
    for (size_t s = 0; s < 5; s++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "{\"bucket\": {\"$lt\": %u}}", limits[s]);
        vdb_filter *filter = NULL;
        assert_int_equal(vdb_filter_compile_text(spec, strlen(spec), &filter, &err), VDB_OK);
        assert_non_null(filter);
        truth_ctx tc = {bucket, limits[s]};
        vdb_filter_hook th = {truth_accept, &tc};
        assert_int_equal(vdb_flat_search_batch(&view, queries, NQ, K, &th, truth, truth_n, &err),
                         VDB_OK);
        vdb_plan_input in = {K, 64, 1, 0, 0, NULL, NULL, 0, 0};
        vdb_selection *sel = NULL;
        assert_int_equal(vdb_payload_selection_new(payload, filter, &in, &sel, &err), VDB_OK);
        assert_non_null(sel);
        const vdb_plan *plan = vdb_selection_plan(sel);
        vdb_filter_hook hook = {vdb_selection_accept, sel};
        for (size_t q = 0; q < NQ; q++) {
            if (plan->kind == VDB_PLAN_EXACT_IDS) {
                size_t nids;
                const uint32_t *rows = vdb_selection_ids(sel, &nids);
                assert_int_equal(vdb_flat_search_ids(&view, queries + q * DIM, rows, nids, K,
                                                     got + q * K, &got_n[q], &err),
                                 VDB_OK);
            } else {
                assert_int_equal(plan->kind, VDB_PLAN_HNSW);
                assert_int_equal(vdb_hnsw_search(hnsw, &view, queries + q * DIM, K, plan->ef,
                                                 &hook, NULL, got + q * K, &got_n[q], &err),
                                 VDB_OK);
            }
            for (size_t i = 0; i < got_n[q]; i++)
                assert_true(bucket[got[q * K + i].id] < limits[s]);
        }
        double r = recall(got, got_n, truth, truth_n);
        printf("selectivity %5.1f%%: %s, recall@%u %.4f\n", limits[s] / 10.0, plan->explain, K, r);
        if (plan->kind == VDB_PLAN_EXACT_IDS) {
            saw_exact = 1;
            assert_true(r == 1.0);
        } else {
            saw_hnsw = 1;
            assert_true(r >= 0.95);
        }
        vdb_selection_free(sel);
        vdb_filter_free(filter);
    }
    assert_true(saw_exact && saw_hnsw);
    vdb_hnsw_free(hnsw);
    vdb_payload_free(payload);
    vdb_vecset_free(set);
    for (uint32_t i = 0; i < N; i++)
        vdb_free(ids[i]);
    vdb_free(ids);
    vdb_free(bucket);
    vdb_free(data);
    vdb_free(queries);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filtered_search_recall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
