/* HNSW tests: recall against exact search (the oracle), delete and filter
 * semantics, save/load round trip, hostile index files, concurrent
 * search + insert (also run under ThreadSanitizer: make test-tsan), and
 * allocation failures. All data is generated from fixed seeds. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <time.h>

#include "core/alloc.h"
#include "core/crc.h"
#include "core/rng.h"
#include "index/flat.h"
#include "index/hnsw.h"
#include "index/hnsw_int.h"
#include "kernel/dist.h"

typedef struct dataset {
    float *data;
    float *queries;
    uint64_t *deleted;
    uint32_t n, nq, dim;
    vdb_metric metric;
} dataset;

/* A clustered Gaussian mixture: what makes HNSW work hard (dense clusters,
 * queries near but not on the points). */
static void make_data(dataset *ds, uint32_t n, uint32_t nq, uint32_t dim, vdb_metric metric,
                      uint64_t seed)
{
    vdb_rng rng;
    vdb_rng_seed(&rng, seed);
    uint32_t clusters = 24;
    float *centres = malloc((size_t)clusters * dim * sizeof(float));
    for (size_t i = 0; i < (size_t)clusters * dim; i++)
        centres[i] = (float)vdb_rng_gauss(&rng);
    ds->data = malloc((size_t)n * dim * sizeof(float));
    ds->queries = malloc((size_t)nq * dim * sizeof(float));
    ds->deleted = calloc((n + 63) / 64 + 1, sizeof(uint64_t));
    for (uint32_t i = 0; i < n + nq; i++) {
        float *row = i < n ? ds->data + (size_t)i * dim : ds->queries + (size_t)(i - n) * dim;
        const float *c = centres + vdb_rng_below(&rng, clusters) * dim;
        for (uint32_t j = 0; j < dim; j++)
            row[j] = c[j] + 0.45f * (float)vdb_rng_gauss(&rng);
        if (metric == VDB_METRIC_COSINE)
            vdb_dist_normalize(row, dim);
    }
    free(centres);
    ds->n = n;
    ds->nq = nq;
    ds->dim = dim;
    ds->metric = metric;
}

static void free_data(dataset *ds)
{
    free(ds->data);
    free(ds->queries);
    free(ds->deleted);
}

static vdb_vecview view_of(const dataset *ds, int with_deletes)
{
    vdb_vecview v = {ds->data, with_deletes ? ds->deleted : NULL, ds->n, ds->dim, ds->metric};
    return v;
}

/* The graph of ds's rows: built in parallel on the global pool, or with
 * `one_by_one` inserted one at a time in this thread (deterministic). */
static vdb_hnsw *build_index_by(const dataset *ds, uint32_t m, uint32_t efc, int one_by_one)
{
    vdb_hnsw_params p;
    vdb_hnsw_params_default(&p);
    p.m = m;
    p.ef_construction = efc;
    vdb_error err;
    vdb_hnsw *h = NULL;
    assert_int_equal(vdb_hnsw_new(ds->dim, ds->metric, &p, &h, &err), VDB_OK);
    assert_non_null(h);
    vdb_vecview v = view_of(ds, 0);
    if (one_by_one)
        for (uint32_t i = 0; i < ds->n; i++)
            assert_int_equal(vdb_hnsw_add(h, &v, i, NULL, &err), VDB_OK);
    else
        assert_int_equal(vdb_hnsw_build(h, &v, 0, ds->n, &err), VDB_OK);
    assert_int_equal(vdb_hnsw_count(h), ds->n);
    assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
    return h;
}

static vdb_hnsw *build_index(const dataset *ds, uint32_t m, uint32_t efc)
{
    return build_index_by(ds, m, efc, 0);
}

typedef struct accept_mod {
    uint32_t mod;
} accept_mod;

static int accept_multiple(void *ctx, uint32_t id)
{
    return id % ((accept_mod *)ctx)->mod == 0;
}

/* Mean recall@k of HNSW against exact search on the same view and filter;
 * also checks every hit is eligible, sorted, and carries its exact distance. */
static double measure_recall(const vdb_hnsw *h, const dataset *ds, const vdb_vecview *v,
                             size_t k, size_t ef, const vdb_filter_hook *filter)
{
    vdb_hit *got = calloc(k, sizeof(vdb_hit)), *want = calloc(k, sizeof(vdb_hit));
    vdb_hnsw_scratch *s = NULL;
    assert_int_equal(vdb_hnsw_scratch_new(&s, NULL), VDB_OK);
    size_t hits = 0, total = 0;
    for (uint32_t q = 0; q < ds->nq; q++) {
        const float *query = ds->queries + (size_t)q * ds->dim;
        size_t ngot = 0, nwant = 0;
        vdb_error err;
        assert_int_equal(vdb_hnsw_search(h, v, query, k, ef, filter, s, got, &ngot, &err),
                         VDB_OK);
        assert_int_equal(vdb_flat_search(v, query, k, filter, want, &nwant, &err), VDB_OK);
        for (size_t i = 0; i < ngot; i++) {
            assert_true(got[i].id < v->n);
            assert_false(vdb_vecview_is_deleted(v, got[i].id));
            if (filter != NULL)
                assert_true(filter->accept(filter->ctx, got[i].id));
            float exact = vdb_flat_distance(v, query, got[i].id);
            assert_true(got[i].dist >= exact - 1e-4f && got[i].dist <= exact + 1e-4f);
            if (i > 0)
                assert_true(got[i - 1].dist <= got[i].dist);
            for (size_t j = 0; j < i; j++)
                assert_int_not_equal(got[j].id, got[i].id);
        }
        float kth = nwant > 0 ? want[nwant - 1].dist : 0.0f;
        for (size_t i = 0; i < ngot; i++)
            if (got[i].dist <= kth + 1e-5f)
                hits++;
        total += nwant;
    }
    vdb_hnsw_scratch_free(s);
    free(got);
    free(want);
    return total == 0 ? 1.0 : (double)hits / (double)total;
}

static void test_recall_cosine(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 4000, 100, 48, VDB_METRIC_COSINE, 1);
    vdb_hnsw *h = build_index(&ds, 16, 100);
    vdb_vecview v = view_of(&ds, 0);
    double r = measure_recall(h, &ds, &v, 10, 64, NULL);
    print_message("cosine recall@10 ef=64: %.4f\n", r);
    assert_true(r >= 0.95);
    /* A tiny ef must lose recall: the test can fail. */
    double low = measure_recall(h, &ds, &v, 10, 10, NULL);
    assert_true(low <= r);
    vdb_hnsw_free(h);
    free_data(&ds);
}

static void test_recall_l2_and_dot(void **state)
{
    (void)state;
    vdb_metric metrics[2] = {VDB_METRIC_L2, VDB_METRIC_DOT};
    for (int i = 0; i < 2; i++) {
        dataset ds;
        make_data(&ds, 3000, 80, 24, metrics[i], 2 + (uint64_t)i);
        vdb_hnsw *h = build_index(&ds, 12, 120);
        vdb_vecview v = view_of(&ds, 0);
        double r = measure_recall(h, &ds, &v, 10, 96, NULL);
        print_message("%s recall@10 ef=96: %.4f\n", vdb_metric_name(metrics[i]), r);
        assert_true(r >= (metrics[i] == VDB_METRIC_L2 ? 0.95 : 0.85));
        vdb_hnsw_free(h);
        free_data(&ds);
    }
}

typedef struct accept_one {
    uint32_t id;
} accept_one;

static int accept_only(void *ctx, uint32_t id)
{
    return id == ((accept_one *)ctx)->id;
}

/* Overwrites about a fifth of ds's rows (at most `max`) with one vector:
 * the data's mean plus noise, between the clusters, where searches pass.
 * The rows go to copies[]; returns how many. The vector goes to copy. */
static uint32_t copy_one_vector(dataset *ds, float copy[32], uint32_t *copies, uint32_t max)
{
    vdb_rng rng;
    vdb_rng_seed(&rng, 99);
    memset(copy, 0, 32 * sizeof(float));
    for (uint32_t i = 0; i < ds->n; i++)
        for (uint32_t j = 0; j < ds->dim; j++)
            copy[j] += ds->data[(size_t)i * ds->dim + j] / (float)ds->n;
    for (uint32_t j = 0; j < ds->dim; j++)
        copy[j] += 0.3f * (float)vdb_rng_gauss(&rng);
    if (ds->metric == VDB_METRIC_COSINE)
        vdb_dist_normalize(copy, ds->dim);
    uint32_t n = 0;
    for (uint32_t i = 0; i < ds->n && n < max; i++)
        if (vdb_rng_below(&rng, 5) == 0) {
            memcpy(ds->data + (size_t)i * ds->dim, copy, 32 * sizeof(float));
            copies[n++] = i;
        }
    return n;
}

/* A fifth of the store exact copies of one vector (the same text embedded
 * again and again, an empty document's embedding): with the diversity rule
 * alone, a copy's list held only other copies once there were more of
 * them than links, and searches that reached the group could not leave it
 * (recall@10 near 0.50 at every ef in BENCHMARKS.md's cases; 0.41 here).
 * The copies must keep ways out, and most of them must stay reachable (a
 * filter that accepts just that row finds it: 4 of 103 sampled before,
 * 88-98% now.
 * The store re-runs a filtered query exactly when the graph finds fewer
 * than k, so one that only accepts unreachable copies still answers). */
static void test_copies_keep_ways_out(void **state)
{
    (void)state;
    vdb_metric metrics[2] = {VDB_METRIC_L2, VDB_METRIC_COSINE};
    for (int mi = 0; mi < 2; mi++) {
        dataset ds;
        make_data(&ds, 5000, 200, 32, metrics[mi], 11 + (uint64_t)mi);
        float copy[32];
        uint32_t copies[1200];
        uint32_t ncopies = copy_one_vector(&ds, copy, copies, 1200);
        vdb_rng rng;
        vdb_rng_seed(&rng, 98);
        vdb_vecview v = view_of(&ds, 0);
        /* One row at a time (deterministic): before the search kept
         * repeats of a row out of an insert's results, the ef results of
         * the rows inserted late filled with copies, those rows got lists
         * of 1-5 links among themselves and a cluster's late rows became
         * an island: euclidean read 0.9660 here, now 1.0000. */
        vdb_hnsw *seq = build_index_by(&ds, 16, 100, 1);
        double r1 = measure_recall(seq, &ds, &v, 10, 64, NULL);
        print_message("%s, one row at a time: recall@10 ef=64 %.4f\n",
                      vdb_metric_name(metrics[mi]), r1);
        assert_true(r1 >= 0.99);
        vdb_hnsw_free(seq);
        vdb_hnsw *h = build_index(&ds, 16, 100);
        double r = measure_recall(h, &ds, &v, 10, 64, NULL);
        print_message("%s, %u of %u rows copies of one vector: recall@10 ef=64 %.4f\n",
                      vdb_metric_name(metrics[mi]), ncopies, ds.n, r);
        /* The build is parallel, so the graph depends on the threads'
         * timing: with 2 build threads on a loaded 2-core machine (four
         * runs at once) euclidean read 1.0000 in 12 runs of 12; before
         * searches grouped equal rows, 0.9245-1.0000 (CI under ASan read
         * 0.9355). */
        assert_true(r >= 0.95);
        /* Queries at the copies: any 10 of them are the answer. */
        for (uint32_t q = 0; q < ds.nq; q++) {
            float *query = ds.queries + (size_t)q * ds.dim;
            for (uint32_t j = 0; j < ds.dim; j++)
                query[j] = copy[j] + 0.01f * (float)vdb_rng_gauss(&rng);
            if (metrics[mi] == VDB_METRIC_COSINE)
                vdb_dist_normalize(query, ds.dim);
        }
        assert_true(measure_recall(h, &ds, &v, 10, 16, NULL) >= 0.999);
        /* Every 10th copy, found alone through a filter. */
        vdb_hnsw_scratch *s = NULL;
        assert_int_equal(vdb_hnsw_scratch_new(&s, NULL), VDB_OK);
        size_t found = 0, tried = 0;
        for (uint32_t c = 0; c < ncopies; c += 10) {
            accept_one one = {copies[c]};
            vdb_filter_hook f = {accept_only, &one};
            vdb_hit hit;
            size_t n = 0;
            vdb_error err;
            assert_int_equal(
                vdb_hnsw_search(h, &v, ds.queries, 1, 10, &f, s, &hit, &n, &err), VDB_OK);
            found += n == 1 && hit.id == copies[c];
            tried++;
        }
        print_message("  %zu of %zu copies found alone through a filter\n", found, tried);
        assert_true(found * 10 >= tried * 7);
        vdb_hnsw_scratch_free(s);
        vdb_hnsw_free(h);
        free_data(&ds);
    }
}

/* The same at 20,000 rows, euclidean, one row at a time: 4,000 copies, more
 * than the beam. With inserts alone grouping equal rows this read 0.9640
 * (0.9655 before either): a query whose descent ended on a copy filled its
 * 64 results with copies at one distance, and the copies' lists lead to
 * the same hundred rows nearest the copied vector, so it never reached its
 * own cluster. Queries now keep at most k of equal rows: 0.9990. */
static void test_copies_do_not_fill_the_beam(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 20000, 200, 32, VDB_METRIC_L2, 11);
    float copy[32];
    static uint32_t copies[5000];
    uint32_t ncopies = copy_one_vector(&ds, copy, copies, 5000);
    vdb_hnsw *h = build_index_by(&ds, 16, 100, 1);
    vdb_vecview v = view_of(&ds, 0);
    double r = measure_recall(h, &ds, &v, 10, 64, NULL);
    print_message("euclidean, %u of %u rows copies, one row at a time: recall@10 ef=64 %.4f\n",
                  ncopies, ds.n, r);
    assert_true(r >= 0.99);
    vdb_hnsw_free(h);
    free_data(&ds);
}

static void test_incremental_add_and_args(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 1500, 50, 16, VDB_METRIC_L2, 7);
    vdb_error err;
    vdb_hnsw *h = NULL;
    assert_int_equal(vdb_hnsw_new(ds.dim, ds.metric, NULL, &h, &err), VDB_OK);
    assert_non_null(h);
    vdb_vecview v = view_of(&ds, 0);
    vdb_hit hits[10];
    size_t n = 99;
    /* Empty index: no hits, no error. */
    assert_int_equal(vdb_hnsw_search(h, &v, ds.queries, 10, 0, NULL, NULL, hits, &n, &err),
                     VDB_OK);
    assert_int_equal(n, 0);
    for (uint32_t r = 0; r < ds.n; r++)
        assert_int_equal(vdb_hnsw_add(h, &v, r, NULL, &err), VDB_OK);
    /* Re-adding is a no-op. */
    assert_int_equal(vdb_hnsw_add(h, &v, 5, NULL, &err), VDB_OK);
    assert_int_equal(vdb_hnsw_count(h), ds.n);
    assert_int_equal(vdb_hnsw_rows(h), ds.n);
    assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
    assert_true(measure_recall(h, &ds, &v, 10, 64, NULL) >= 0.95);
    /* Bad arguments. */
    assert_int_equal(vdb_hnsw_search(h, &v, ds.queries, 0, 0, NULL, NULL, hits, &n, &err),
                     VDB_EINVAL);
    vdb_vecview wrong = v;
    wrong.dim = ds.dim + 1;
    assert_int_equal(vdb_hnsw_search(h, &wrong, ds.queries, 10, 0, NULL, NULL, hits, &n, &err),
                     VDB_EDIM);
    wrong = v;
    wrong.metric = VDB_METRIC_COSINE;
    assert_int_equal(vdb_hnsw_add(h, &wrong, 1, NULL, &err), VDB_EINVAL);
    assert_int_equal(vdb_hnsw_add(h, &v, ds.n, NULL, &err), VDB_EINVAL);
    assert_int_equal(vdb_hnsw_build(h, &v, 10, ds.n + 1, &err), VDB_EINVAL);
    vdb_hnsw_params p;
    vdb_hnsw_params_default(&p);
    p.m = 1;
    vdb_hnsw *bad = h; /* must come back NULL */
    assert_int_equal(vdb_hnsw_new(8, VDB_METRIC_L2, &p, &bad, &err), VDB_EINVAL);
    assert_null(bad);
    assert_int_equal(err.code, VDB_EINVAL);
    assert_int_equal(vdb_hnsw_new(0, VDB_METRIC_L2, NULL, &bad, NULL), VDB_EINVAL);
    assert_null(bad);
    assert_true(vdb_hnsw_memory(h) > (size_t)ds.n * 4 * (1 + 2 * 16));
    vdb_hnsw_free(h);
    vdb_hnsw_free(NULL);
    free_data(&ds);
}

static void test_deletes_and_rebuild(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 4000, 100, 32, VDB_METRIC_COSINE, 11);
    vdb_hnsw *h = build_index(&ds, 16, 100);
    vdb_rng rng;
    vdb_rng_seed(&rng, 99);
    size_t removed = 0;
    while (removed < ds.n * 3 / 10) {
        uint32_t r = (uint32_t)vdb_rng_below(&rng, ds.n);
        if (!((ds.deleted[r >> 6] >> (r & 63)) & 1u)) {
            ds.deleted[r >> 6] |= 1ull << (r & 63);
            removed++;
        }
    }
    vdb_vecview v = view_of(&ds, 1);
    /* Deleted rows still route; none is ever returned (checked inside). */
    double before = measure_recall(h, &ds, &v, 10, 64, NULL);
    vdb_error err;
    vdb_hnsw *fresh = NULL;
    assert_int_equal(vdb_hnsw_rebuild(h, &v, &fresh, &err), VDB_OK);
    assert_non_null(fresh);
    assert_int_equal(vdb_hnsw_count(fresh), ds.n - removed);
    assert_int_equal(vdb_hnsw_check(fresh, &err), VDB_OK);
    double after = measure_recall(fresh, &ds, &v, 10, 64, NULL);
    print_message("30%% deleted: recall %.4f before rebuild, %.4f after\n", before, after);
    assert_true(before >= 0.90);
    assert_true(after >= 0.95);
    vdb_hnsw_free(fresh);
    vdb_hnsw_free(h);
    free_data(&ds);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Issue 13: 10% deletes repaired in place must cost a fraction of a
 * rebuild and keep recall within 0.005 of the rebuilt graph; the freed
 * slots can take their rows again. */
static void test_repair_after_deletes(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 12000, 200, 32, VDB_METRIC_COSINE, 23);
    vdb_hnsw *h = build_index(&ds, 16, 100);
    vdb_rng rng;
    vdb_rng_seed(&rng, 5);
    size_t deleted = 0, removed = 0;
    while (deleted < ds.n / 10) {
        uint32_t r = (uint32_t)vdb_rng_below(&rng, ds.n);
        if (!((ds.deleted[r >> 6] >> (r & 63)) & 1u)) {
            ds.deleted[r >> 6] |= 1ull << (r & 63);
            deleted++;
        }
    }
    vdb_vecview v = view_of(&ds, 1);
    vdb_error err;
    double t0 = now_s();
    vdb_hnsw *fresh = NULL;
    assert_int_equal(vdb_hnsw_rebuild(h, &v, &fresh, &err), VDB_OK);
    double rebuild_s = now_s() - t0;
    assert_non_null(fresh);
    t0 = now_s();
    assert_int_equal(vdb_hnsw_repair(h, &v, &removed, &err), VDB_OK);
    double repair_s = now_s() - t0;
    assert_int_equal(removed, deleted);
    assert_int_equal(vdb_hnsw_count(h), ds.n - deleted);
    assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
    double rebuilt = measure_recall(fresh, &ds, &v, 10, 64, NULL);
    double repaired = measure_recall(h, &ds, &v, 10, 64, NULL);
    print_message("10%% deleted of %u: repair %.3f s (%.1f%% of the rebuild's %.3f s), recall "
                  "%.4f repaired vs %.4f rebuilt (ef 64)\n", ds.n, repair_s,
                  100.0 * repair_s / rebuild_s, rebuild_s, repaired, rebuilt);
    assert_true(repaired >= rebuilt - 0.005);
    assert_true(repair_s < rebuild_s);
    /* A freed slot takes its row again (a store reusing the row). */
    uint32_t back = 0;
    while (!((ds.deleted[back >> 6] >> (back & 63)) & 1u))
        back++;
    ds.deleted[back >> 6] &= ~(1ull << (back & 63));
    assert_int_equal(vdb_hnsw_add(h, &v, back, NULL, &err), VDB_OK);
    assert_int_equal(vdb_hnsw_count(h), ds.n - deleted + 1);
    assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
    vdb_hit hit[1];
    size_t got = 0;
    assert_int_equal(vdb_hnsw_search(h, &v, ds.data + (size_t)back * ds.dim, 1, 64, NULL, NULL,
                                     hit, &got, &err), VDB_OK);
    assert_int_equal(got, 1);
    assert_int_equal(hit[0].id, back);
    vdb_hnsw_free(fresh);
    vdb_hnsw_free(h);
    free_data(&ds);
}

/* vdb_hnsw_renumber (issue 13): refused while a dropped row is still a
 * node (graph unchanged); after a repair it moves every node to its
 * compacted row, and the graph over the compacted rows is valid and finds
 * each live row from its own vector. */
static void test_renumber_after_repair(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 3000, 10, 16, VDB_METRIC_L2, 31);
    vdb_hnsw *h = build_index(&ds, 8, 64);
    uint32_t *old_to_new = malloc(ds.n * sizeof(uint32_t)), kept = 0;
    for (uint32_t r = 0; r < ds.n; r++)
        if (r % 7 == 3)
            ds.deleted[r >> 6] |= 1ull << (r & 63);
    for (uint32_t r = 0; r < ds.n; r++)
        old_to_new[r] = r % 7 == 3 ? UINT32_MAX : kept++;
    vdb_error err;
    assert_int_equal(vdb_hnsw_renumber(h, old_to_new, ds.n, &err), VDB_EINVAL);
    assert_int_equal(vdb_hnsw_count(h), ds.n);
    assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
    vdb_vecview v = view_of(&ds, 1);
    assert_int_equal(vdb_hnsw_repair(h, &v, NULL, &err), VDB_OK);
    old_to_new[5] = 7; /* not a compaction: refused */
    assert_int_equal(vdb_hnsw_renumber(h, old_to_new, ds.n, &err), VDB_EINVAL);
    old_to_new[5] = 4;
    assert_int_equal(vdb_hnsw_renumber(h, old_to_new, ds.n, &err), VDB_OK);
    assert_int_equal(vdb_hnsw_count(h), kept);
    assert_int_equal(vdb_hnsw_rows(h), kept);
    assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
    float *packed = malloc((size_t)kept * ds.dim * sizeof(float));
    for (uint32_t r = 0; r < ds.n; r++)
        if (old_to_new[r] != UINT32_MAX)
            memcpy(packed + (size_t)old_to_new[r] * ds.dim, ds.data + (size_t)r * ds.dim,
                   ds.dim * sizeof(float));
    vdb_vecview pv = {packed, NULL, kept, ds.dim, ds.metric};
    size_t self = 0;
    for (uint32_t r = 0; r < kept; r++) {
        vdb_hit hit[1];
        size_t got = 0;
        assert_int_equal(vdb_hnsw_search(h, &pv, packed + (size_t)r * ds.dim, 1, 32, NULL, NULL,
                                         hit, &got, &err), VDB_OK);
        self += got == 1 && hit[0].id == r;
    }
    print_message("renumbered graph: %zu of %u rows find themselves\n", self, kept);
    assert_true(self >= kept - kept / 100);
    free(packed);
    free(old_to_new);
    vdb_hnsw_free(h);
    free_data(&ds);
}

static void test_filter(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 4000, 60, 32, VDB_METRIC_L2, 13);
    vdb_hnsw *h = build_index(&ds, 16, 100);
    vdb_vecview v = view_of(&ds, 0);
    uint32_t mods[3] = {2, 10, 50};
    for (int i = 0; i < 3; i++) {
        accept_mod ctx = {mods[i]};
        vdb_filter_hook hook = {accept_multiple, &ctx};
        double r = measure_recall(h, &ds, &v, 10, 64, &hook);
        print_message("filter 1/%u: recall %.4f\n", mods[i], r);
        assert_true(r >= 0.90);
    }
    vdb_hnsw_free(h);
    free_data(&ds);
}

/* One scratch serving searches of every size must answer as a fresh one
 * does: the visited set is cleared from its log after a small search and
 * zeroed whole after one that visited more rows than the log holds (ef = n
 * visits all n rows, a few more than the log's capacity, so the ids logged
 * after it overflowed cover only some of the set's words; and a filter
 * passing 1 row in 4000). A bit left set would hide that row from the next
 * search and change its hits. */
static void test_scratch_reuse_clears_visited(void **state)
{
    (void)state;
    dataset ds;
    uint32_t n = VDB_HNSW_VLOG_CAP + 200;
    make_data(&ds, n, 12, 8, VDB_METRIC_L2, 17);
    vdb_hnsw *h = build_index(&ds, 8, 40);
    vdb_vecview v = view_of(&ds, 0);
    vdb_hnsw_scratch *shared = NULL;
    assert_int_equal(vdb_hnsw_scratch_new(&shared, NULL), VDB_OK);
    accept_mod ctx = {4000};
    vdb_filter_hook sparse = {accept_multiple, &ctx};
    size_t efs[6] = {10, n, 10, 200, 10, 10};
    vdb_hit got[10], want[10];
    for (uint32_t q = 0; q < ds.nq; q++) {
        const float *query = ds.queries + (size_t)q * ds.dim;
        for (int i = 0; i < 6; i++) {
            const vdb_filter_hook *f = i == 4 ? &sparse : NULL;
            size_t ngot = 0, nwant = 0;
            vdb_error err;
            vdb_hnsw_scratch *fresh = NULL;
            assert_int_equal(vdb_hnsw_scratch_new(&fresh, NULL), VDB_OK);
            assert_int_equal(vdb_hnsw_search(h, &v, query, 10, efs[i], f, shared, got, &ngot,
                                             &err),
                             VDB_OK);
            assert_int_equal(vdb_hnsw_search(h, &v, query, 10, efs[i], f, fresh, want, &nwant,
                                             &err),
                             VDB_OK);
            vdb_hnsw_scratch_free(fresh);
            assert_int_equal(ngot, nwant);
            for (size_t j = 0; j < ngot; j++)
                assert_int_equal(got[j].id, want[j].id);
            if (i == 1) { /* ef = n: every row reachable is visited, so exact */
                size_t nflat = 0;
                vdb_hit flat[10];
                assert_int_equal(vdb_flat_search(&v, query, 10, NULL, flat, &nflat, &err),
                                 VDB_OK);
                for (size_t j = 0; j < ngot; j++)
                    assert_true(got[j].dist <= flat[nflat - 1].dist + 1e-5f);
            }
        }
    }
    vdb_hnsw_scratch_free(shared);
    vdb_hnsw_free(h);
    free_data(&ds);
}

static char *temp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof(path), "/tmp/vdb_test_hnsw_%d_%s", (int)getpid(), name);
    return path;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len);
    assert_int_equal(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void test_save_load(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 3000, 50, 16, VDB_METRIC_COSINE, 17);
    vdb_hnsw *h = build_index(&ds, 8, 80);
    char path[256], path2[256];
    snprintf(path, sizeof(path), "%s", temp_path("a"));
    snprintf(path2, sizeof(path2), "%s", temp_path("b"));
    vdb_error err;
    assert_int_equal(vdb_hnsw_save(h, path, &err), VDB_OK);
    vdb_hnsw *g = NULL;
    assert_int_equal(vdb_hnsw_load(path, ds.dim, ds.metric, &g, &err), VDB_OK);
    assert_non_null(g);
    assert_int_equal(vdb_hnsw_count(g), vdb_hnsw_count(h));
    assert_int_equal(vdb_hnsw_rows(g), vdb_hnsw_rows(h));
    vdb_hnsw_params ph = vdb_hnsw_get_params(h), pg = vdb_hnsw_get_params(g);
    assert_int_equal(ph.m, pg.m);
    assert_int_equal(ph.ef_construction, pg.ef_construction);
    assert_int_equal(ph.ef_search, pg.ef_search);
    assert_int_equal(ph.seed, pg.seed);
    /* Same graph: identical results for every query, identical bytes. */
    vdb_vecview v = view_of(&ds, 0);
    for (uint32_t q = 0; q < ds.nq; q++) {
        vdb_hit a[10], b[10];
        size_t na, nb;
        const float *query = ds.queries + (size_t)q * ds.dim;
        assert_int_equal(vdb_hnsw_search(h, &v, query, 10, 40, NULL, NULL, a, &na, &err), 0);
        assert_int_equal(vdb_hnsw_search(g, &v, query, 10, 40, NULL, NULL, b, &nb, &err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof(vdb_hit));
    }
    assert_int_equal(vdb_hnsw_save(g, path2, &err), VDB_OK);
    size_t la, lb;
    unsigned char *fa = slurp(path, &la), *fb = slurp(path2, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(fa, fb, la);
    /* The loaded index keeps growing. */
    assert_int_equal(vdb_hnsw_add(g, &v, 0, NULL, &err), VDB_OK);
    assert_int_equal(vdb_hnsw_check(g, &err), VDB_OK);
    /* Wrong expectations and missing files. */
    vdb_hnsw *none = g; /* must come back NULL */
    assert_int_equal(vdb_hnsw_load(path, ds.dim + 1, ds.metric, &none, &err), VDB_EINVAL);
    assert_null(none);
    assert_int_equal(err.code, VDB_EINVAL);
    assert_int_equal(vdb_hnsw_load(temp_path("missing"), ds.dim, ds.metric, &none, NULL),
                     VDB_ENOTFOUND);
    assert_null(none);
    free(fa);
    free(fb);
    unlink(path);
    unlink(path2);
    vdb_hnsw_free(g);
    vdb_hnsw_free(h);
    free_data(&ds);
}

/* Format version 1's trailer (the 64-bit word hash documented in
 * hnsw_io.c), written out here independently so the test can turn a saved
 * file into a version 1 file and check that those still load. */
static uint64_t v1_sum(const unsigned char *p, size_t len)
{
    uint64_t h = 0, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 32;
    }
    uint64_t pending = 0;
    unsigned np = 0;
    for (; i < len; i++)
        pending |= (uint64_t)p[i] << (8 * np++);
    h = (h ^ (pending ^ ((uint64_t)np << 56))) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    h = (h ^ (uint64_t)len) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

static void expect_corrupt(const char *path, const unsigned char *buf, size_t len,
                           uint32_t dim)
{
    spit(path, buf, len);
    vdb_error err;
    vdb_hnsw *h = NULL;
    int rc = vdb_hnsw_load(path, dim, VDB_METRIC_COSINE, &h, &err);
    if (h != NULL)
        fail_msg("corrupt file of %zu bytes was accepted", len);
    assert_int_equal(rc, VDB_ECORRUPT);
    assert_int_equal(err.code, VDB_ECORRUPT);
    /* The same code without an error record to carry it. */
    assert_int_equal(vdb_hnsw_load(path, dim, VDB_METRIC_COSINE, &h, NULL), VDB_ECORRUPT);
    assert_null(h);
}

/* A saved graph file for the tests that damage one: the graph (M 6, efC
 * 40) of n clustered 8-d cosine rows, saved at `good`, its bytes in
 * buf[len]; `bad` is the path for damaged copies. */
typedef struct saved_file {
    dataset ds;
    vdb_hnsw *h;
    char good[300], bad[300];
    unsigned char *buf;
    size_t len;
} saved_file;

static void saved_open(saved_file *f, uint32_t n, uint32_t nq, uint64_t seed, const char *tag)
{
    vdb_error err;
    make_data(&f->ds, n, nq, 8, VDB_METRIC_COSINE, seed);
    f->h = build_index(&f->ds, 6, 40);
    snprintf(f->good, sizeof(f->good), "%s-good", temp_path(tag));
    snprintf(f->bad, sizeof(f->bad), "%s-bad", temp_path(tag));
    assert_int_equal(vdb_hnsw_save(f->h, f->good, &err), VDB_OK);
    f->buf = slurp(f->good, &f->len);
    assert_non_null(f->buf);
}

static void saved_close(saved_file *f)
{
    free(f->buf);
    unlink(f->good);
    unlink(f->bad);
    vdb_hnsw_free(f->h);
    free_data(&f->ds);
}

static void test_corrupt_files(void **state)
{
    (void)state;
    saved_file file;
    saved_open(&file, 600, 1, 19, "corrupt");
    dataset ds = file.ds;
    const char *bad = file.bad;
    unsigned char *buf = file.buf;
    size_t len = file.len;
    unsigned char *copy = malloc(len + 16);
    /* Truncations at every length class. */
    size_t cuts[] = {0, 1, 7, 8, 79, 80, 81, 600, len / 2, len - 9, len - 8, len - 5, len - 4, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        expect_corrupt(bad, buf, cuts[i], ds.dim);
    /* Appended garbage. */
    memcpy(copy, buf, len);
    memset(copy + len, 0xAB, 16);
    expect_corrupt(bad, copy, len + 16, ds.dim);
    /* Random byte flips anywhere. */
    vdb_rng rng;
    vdb_rng_seed(&rng, 23);
    for (int t = 0; t < 300; t++) {
        memcpy(copy, buf, len);
        int flips = 1 + (int)vdb_rng_below(&rng, 3);
        for (int f = 0; f < flips; f++)
            copy[vdb_rng_below(&rng, len)] ^= (unsigned char)(1 + vdb_rng_below(&rng, 255));
        expect_corrupt(bad, copy, len, ds.dim);
    }
    /* Structural damage under a valid checksum (the version 2 trailer is the
     * CRC32C of every byte before it): the validator must see it. */
    size_t n = ds.n, slot0 = 1 + 2 * 6;
    size_t links0 = 80 + n + (4 - n % 4) % 4;
    struct {
        size_t offset;
        uint32_t value;
    } edits[] = {
        {links0 + 4 * (slot0 * 3 + 1), 3},            /* self link */
        {links0 + 4 * (slot0 * 3 + 1), 100000},       /* dangling link */
        {links0 + 4 * (slot0 * 3 + 0), 1000},         /* count above 2M */
        {36, (uint32_t)n + 1},                        /* row count vs size */
        {40, (uint32_t)n + 5},                        /* entry point */
        {48, (uint32_t)n - 1},                        /* node count */
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(copy, buf, len);
        memcpy(copy + edits[i].offset, &edits[i].value, 4);
        uint32_t sum = vdb_crc32c(0, copy, len - 4);
        memcpy(copy + len - 4, &sum, 4);
        expect_corrupt(bad, copy, len, ds.dim);
    }
    /* Duplicate link: copy link 1 over link 2 of a node with >= 2 links. */
    for (uint32_t node = 0; node < n; node++) {
        uint32_t cnt;
        memcpy(&cnt, buf + links0 + 4 * slot0 * node, 4);
        if (cnt < 2)
            continue;
        memcpy(copy, buf, len);
        memcpy(copy + links0 + 4 * (slot0 * node + 2), copy + links0 + 4 * (slot0 * node + 1),
               4);
        uint32_t sum = vdb_crc32c(0, copy, len - 4);
        memcpy(copy + len - 4, &sum, 4);
        expect_corrupt(bad, copy, len, ds.dim);
        break;
    }
    /* The forged checksum is right: the unmodified bytes still load. */
    memcpy(copy, buf, len);
    uint32_t sum = vdb_crc32c(0, copy, len - 4);
    assert_memory_equal(&sum, buf + len - 4, 4);
    free(copy);
    saved_close(&file);
}

/* Version 2's checksum covers every byte: one flipped bit in a field the
 * structural validator cannot judge (ef_search, the level-draw seed), in a
 * link or in the trailer itself is caught, and the file loads again once
 * the bit is flipped back. */
static void test_checksum_catches_one_bit(void **state)
{
    (void)state;
    saved_file f;
    saved_open(&f, 500, 1, 29, "crc");
    const dataset ds = f.ds;
    const char *bad = f.bad;
    unsigned char *buf = f.buf;
    size_t len = f.len;
    vdb_error err;
    uint32_t version;
    memcpy(&version, buf + 12, 4);
    assert_int_equal(version, 2);
    size_t n = ds.n, links0 = 80 + n + (4 - n % 4) % 4;
    size_t offsets[] = {32, 56, links0 + 4, len - 1};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        buf[offsets[i]] ^= 0x01;
        spit(bad, buf, len);
        vdb_hnsw *g = NULL;
        assert_int_equal(vdb_hnsw_load(bad, ds.dim, ds.metric, &g, &err), VDB_ECORRUPT);
        if (g != NULL)
            fail_msg("a file with byte %zu flipped was accepted", offsets[i]);
        assert_int_equal(err.code, VDB_ECORRUPT);
        assert_non_null(strstr(err.msg, "checksum"));
        buf[offsets[i]] ^= 0x01;
    }
    /* The seed flip is one the structural validator alone would pass: under
     * a recomputed CRC the same edit loads, so it is the checksum that
     * refused it above. */
    buf[56] ^= 0x01;
    uint32_t sum = vdb_crc32c(0, buf, len - 4);
    memcpy(buf + len - 4, &sum, 4);
    spit(bad, buf, len);
    vdb_hnsw *g = NULL;
    assert_int_equal(vdb_hnsw_load(bad, ds.dim, ds.metric, &g, &err), VDB_OK);
    assert_non_null(g);
    vdb_hnsw_free(g);
    saved_close(&f);
}

/* Graphs saved before version 2 (8-byte word-hash trailer) still load, give
 * the same answers, and a damaged version 1 file is still refused. */
static void test_loads_version_1(void **state)
{
    (void)state;
    saved_file f;
    saved_open(&f, 800, 20, 31, "v1");
    const dataset ds = f.ds;
    const vdb_hnsw *h = f.h;
    const char *v1 = f.bad;
    const unsigned char *buf = f.buf;
    size_t len = f.len;
    vdb_error err;
    unsigned char *old = malloc(len + 4);
    uint32_t one = 1;
    memcpy(old, buf, len - 4);
    memcpy(old + 12, &one, 4);
    uint64_t sum = v1_sum(old, len - 4);
    memcpy(old + len - 4, &sum, 8);
    spit(v1, old, len + 4);
    vdb_hnsw *g = NULL;
    assert_int_equal(vdb_hnsw_load(v1, ds.dim, ds.metric, &g, &err), VDB_OK);
    assert_non_null(g);
    assert_int_equal(vdb_hnsw_count(g), vdb_hnsw_count(h));
    vdb_vecview v = {ds.data, NULL, ds.n, ds.dim, ds.metric};
    for (uint32_t q = 0; q < ds.nq; q++) {
        vdb_hit a[10], b[10];
        size_t na = 0, nb = 0;
        const float *query = ds.queries + (size_t)q * ds.dim;
        assert_int_equal(vdb_hnsw_search(h, &v, query, 10, 40, NULL, NULL, a, &na, &err), 0);
        assert_int_equal(vdb_hnsw_search(g, &v, query, 10, 40, NULL, NULL, b, &nb, &err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof(vdb_hit));
    }
    /* Saved again, it is version 2, byte for byte the file h saved. */
    assert_int_equal(vdb_hnsw_save(g, v1, &err), VDB_OK);
    size_t len2;
    unsigned char *again = slurp(v1, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, buf, len);
    vdb_hnsw_free(g);
    /* A version 1 file with a flipped byte, or a version 2 trailer, is refused. */
    old[60] ^= 0x10;
    expect_corrupt(v1, old, len + 4, ds.dim);
    old[60] ^= 0x10;
    expect_corrupt(v1, old, len, ds.dim);
    free(again);
    free(old);
    saved_close(&f);
}

typedef struct conc_ctx {
    vdb_hnsw *h;
    const dataset *ds;
    uint32_t from, to;
    int stop;
    size_t searches;
    int failures;
} conc_ctx;

static void *conc_insert(void *arg)
{
    conc_ctx *c = arg;
    vdb_vecview v = view_of(c->ds, 0);
    vdb_hnsw_scratch *s = NULL;
    if (vdb_hnsw_scratch_new(&s, NULL) != VDB_OK) /* a thread: no cmocka asserts here */
        __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
    for (uint32_t r = c->from; r < c->to; r++)
        if (vdb_hnsw_add(c->h, &v, r, s, NULL) != VDB_OK)
            __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
    vdb_hnsw_scratch_free(s);
    return NULL;
}

static void *conc_search(void *arg)
{
    conc_ctx *c = arg;
    vdb_vecview v = view_of(c->ds, 0);
    vdb_hit hits[10];
    size_t q = 0;
    while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE) || q < 50) {
        size_t n;
        const float *query = c->ds->queries + (q % c->ds->nq) * c->ds->dim;
        if (vdb_hnsw_search(c->h, &v, query, 10, 32, NULL, NULL, hits, &n, NULL) != VDB_OK ||
            n == 0)
            __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
        for (size_t i = 0; i < n; i++)
            if (hits[i].id >= c->ds->n)
                __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
        /* Accounting is read while inserts grow the arrays. */
        if (q % 64 == 0 && (vdb_hnsw_memory(c->h) == 0 || vdb_hnsw_count(c->h) == 0))
            __atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
        q++;
    }
    __atomic_add_fetch(&c->searches, q, __ATOMIC_RELAXED);
    return NULL;
}

static void test_concurrent_search_insert(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 3000, 40, 16, VDB_METRIC_L2, 29);
    vdb_error err;
    vdb_hnsw_params p;
    vdb_hnsw_params_default(&p);
    p.m = 8;
    p.ef_construction = 64;
    vdb_hnsw *h = NULL;
    assert_int_equal(vdb_hnsw_new(ds.dim, ds.metric, &p, &h, &err), VDB_OK);
    vdb_vecview v = view_of(&ds, 0);
    /* Start small so inserts must grow the arrays under the searchers. */
    assert_int_equal(vdb_hnsw_build(h, &v, 0, 200, &err), VDB_OK);
    conc_ctx c = {h, &ds, 200, 0, 0, 0, 0};
    conc_ctx c1 = c, c2 = c;
    c1.from = 200;
    c1.to = 1600;
    c2.from = 1600;
    c2.to = ds.n;
    pthread_t ins1, ins2, s1, s2;
    pthread_create(&s1, NULL, conc_search, &c);
    pthread_create(&s2, NULL, conc_search, &c);
    pthread_create(&ins1, NULL, conc_insert, &c1);
    pthread_create(&ins2, NULL, conc_insert, &c2);
    pthread_join(ins1, NULL);
    pthread_join(ins2, NULL);
    __atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
    pthread_join(s1, NULL);
    pthread_join(s2, NULL);
    print_message("concurrent: %zu searches during inserts\n", c.searches);
    assert_int_equal(c.failures + c1.failures + c2.failures, 0);
    assert_int_equal(vdb_hnsw_count(h), ds.n);
    assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
    assert_true(measure_recall(h, &ds, &v, 10, 64, NULL) >= 0.95);
    vdb_hnsw_free(h);
    free_data(&ds);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    dataset ds;
    make_data(&ds, 800, 10, 8, VDB_METRIC_L2, 31);
    vdb_vecview v = view_of(&ds, 0);
    int failed = 0;
    for (uint64_t nth = 1; nth < 40; nth += 3) {
        vdb_error err;
        vdb_hnsw *h = NULL;
        assert_int_equal(vdb_hnsw_new(ds.dim, ds.metric, NULL, &h, &err), VDB_OK);
        assert_non_null(h);
        vdb_alloc_fail_at(nth, 1);
        int rc = vdb_hnsw_build(h, &v, 0, ds.n, &err);
        vdb_alloc_fail_at(0, 0);
        if (rc != VDB_OK) {
            assert_int_equal(rc, VDB_ENOMEM);
            failed++;
        }
        /* Whatever got in is a valid graph that can be completed. */
        assert_int_equal(vdb_hnsw_check(h, &err), VDB_OK);
        assert_int_equal(vdb_hnsw_build(h, &v, 0, ds.n, &err), VDB_OK);
        assert_int_equal(vdb_hnsw_count(h), ds.n);
        vdb_hnsw_free(h);
    }
    assert_true(failed > 0);
    free_data(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recall_cosine),
        cmocka_unit_test(test_recall_l2_and_dot),
        cmocka_unit_test(test_copies_keep_ways_out),
        cmocka_unit_test(test_copies_do_not_fill_the_beam),
        cmocka_unit_test(test_incremental_add_and_args),
        cmocka_unit_test(test_deletes_and_rebuild),
        cmocka_unit_test(test_repair_after_deletes),
        cmocka_unit_test(test_renumber_after_repair),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_scratch_reuse_clears_visited),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_checksum_catches_one_bit),
        cmocka_unit_test(test_loads_version_1),
        cmocka_unit_test(test_concurrent_search_insert),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
