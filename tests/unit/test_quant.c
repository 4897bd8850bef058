/* Quantized codes and code scans (index/quant.h) against exact float search
 * (index/flat.h) on several data families (clustered, anisotropic with
 * offsets, all-positive uniform) for every metric: recall@10 at a stated
 * candidate margin, exact equality when every row is a candidate, deletes,
 * filters, append with clipping, invariants, bad input and allocation
 * failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "index/flat.h"
#include "index/hnsw.h"
#include "index/quant.h"

enum { FAMILY_CLUSTERED, FAMILY_ANISOTROPIC, FAMILY_UNIFORM, FAMILY_COUNT };
enum { K = 10, NQ = 40 };

typedef struct fixture {
    float *data;
    float *queries;
    uint64_t *deleted;
    vdb_vecview view;
} fixture;

static void fill_row(vdb_rng *rng, int family, const float *centres, uint32_t dim, float *row)
{
    if (family == FAMILY_CLUSTERED) {
        const float *c = centres + vdb_rng_below(rng, 20) * dim;
        for (uint32_t d = 0; d < dim; d++)
            row[d] = c[d] + 0.3f * (float)vdb_rng_gauss(rng);
    } else if (family == FAMILY_ANISOTROPIC) {
        /* Per-dimension spreads over three decades plus offsets: what a
         * single global scale would quantize badly. */
        for (uint32_t d = 0; d < dim; d++)
            row[d] = 5.0f + (float)d * 0.1f +
                     (float)vdb_rng_gauss(rng) * powf(10.0f, (float)(d % 4) - 2.0f);
    } else {
        for (uint32_t d = 0; d < dim; d++)
            row[d] = (float)vdb_rng_uniform(rng);
    }
}

static void make_store(fixture *f, int family, uint32_t n, uint32_t dim, vdb_metric metric,
                       uint64_t seed)
{
    vdb_rng rng;
    vdb_rng_seed(&rng, seed);
    float *centres = vdb_malloc(20 * (size_t)dim * sizeof(float));
    assert_non_null(centres);
    for (size_t i = 0; i < 20 * (size_t)dim; i++)
        centres[i] = 2.0f * (float)vdb_rng_gauss(&rng);
    f->data = vdb_aligned_alloc(64, (size_t)n * dim * sizeof(float));
    f->queries = vdb_malloc((size_t)NQ * dim * sizeof(float));
    f->deleted = vdb_calloc((n + 63) / 64 + 1, sizeof(uint64_t));
    assert_non_null(f->data);
    assert_non_null(f->queries);
    assert_non_null(f->deleted);
    for (uint32_t r = 0; r < n; r++)
        fill_row(&rng, family, centres, dim, f->data + (size_t)r * dim);
    for (uint32_t i = 0; i < NQ; i++) {
        float *qv = f->queries + (size_t)i * dim;
        fill_row(&rng, family, centres, dim, qv);
        assert_int_equal(vdb_flat_prepare_query(metric, qv, qv, dim, NULL), VDB_OK);
    }
    if (metric == VDB_METRIC_COSINE)
        for (uint32_t r = 0; r < n; r++)
            vdb_flat_prepare_query(metric, f->data + (size_t)r * dim, f->data + (size_t)r * dim,
                                   dim, NULL);
    vdb_free(centres);
    f->view = (vdb_vecview){f->data, NULL, n, dim, metric};
}

static void free_store(fixture *f)
{
    vdb_aligned_free(f->data);
    vdb_free(f->queries);
    vdb_free(f->deleted);
}

/* Recall@K of the quantized search against vdb_flat_search over NQ queries;
 * every returned distance must equal the flat distance of that row. */
static double measure(const vdb_quant *q, const fixture *f, size_t candidates,
                      const vdb_filter_hook *filter)
{
    vdb_error err = {0};
    vdb_quant_scratch *s = NULL;
    assert_int_equal(vdb_quant_scratch_new(q, candidates > K ? candidates : K, &s, &err), VDB_OK);
    assert_non_null(s);
    size_t hits = 0, wanted = 0;
    for (uint32_t i = 0; i < NQ; i++) {
        const float *qv = f->queries + (size_t)i * f->view.dim;
        vdb_hit exact[K], got[K];
        size_t ne = 0, ng = 0;
        assert_int_equal(vdb_flat_search(&f->view, qv, K, filter, exact, &ne, &err), VDB_OK);
        assert_int_equal(vdb_quant_search(q, &f->view, qv, K, candidates, filter, s, got, &ng,
                                          &err),
                         VDB_OK);
        assert_int_equal(ng, ne);
        for (size_t j = 0; j < ng; j++) {
            assert_false(vdb_vecview_is_deleted(&f->view, got[j].id));
            assert_true(got[j].dist == vdb_flat_distance(&f->view, qv, got[j].id));
            if (j > 0)
                assert_true(got[j - 1].dist <= got[j].dist);
            for (size_t e = 0; e < ne; e++)
                if (exact[e].id == got[j].id)
                    hits++;
        }
        wanted += ne;
    }
    vdb_quant_scratch_free(s);
    return wanted ? (double)hits / (double)wanted : 1.0;
}

/* The margins and bars below are the documented behaviour on these
 * families: int8 with 4x candidates, binary with 30x (1 bit per dimension
 * ranks far more coarsely). */
static void test_recall_families(void **state)
{
    (void)state;
    static const vdb_metric metrics[] = {VDB_METRIC_COSINE, VDB_METRIC_L2, VDB_METRIC_DOT};
    for (int family = 0; family < FAMILY_COUNT; family++)
        for (size_t m = 0; m < 3; m++) {
            fixture f;
            make_store(&f, family, 4000, 72, metrics[m], 100 + (uint64_t)family * 7 + m);
            vdb_error err = {0};
            vdb_quant *q8 = NULL;
            assert_int_equal(vdb_quant_build(VDB_QUANT_INT8, &f.view, &q8, &err), VDB_OK);
            vdb_quant *qb = NULL;
            assert_int_equal(vdb_quant_build(VDB_QUANT_BINARY, &f.view, &qb, &err), VDB_OK);
            assert_non_null(q8);
            assert_non_null(qb);
            assert_int_equal(vdb_quant_check(q8, &err), VDB_OK);
            assert_int_equal(vdb_quant_check(qb, &err), VDB_OK);
            double r8 = measure(q8, &f, 4 * K, NULL), rb = measure(qb, &f, 30 * K, NULL);
            print_message("family %d %-9s int8@4x %.4f binary@30x %.4f\n", family,
                          vdb_metric_name(metrics[m]), r8, rb);
            assert_true(r8 >= 0.98);
            assert_true(rb >= 0.80);
            /* Every row a candidate: exactly the float scan. */
            assert_true(measure(q8, &f, 4000, NULL) == 1.0);
            assert_true(measure(qb, &f, 4000, NULL) == 1.0);
            vdb_quant_free(q8);
            vdb_quant_free(qb);
            free_store(&f);
        }
}

static int accept_even(void *ctx, uint32_t id)
{
    (void)ctx;
    return (id & 1) == 0;
}

/* vdb_quant_search_exact against vdb_flat_search: the same rows, best
 * first, with exact distances, except where distances tie. Returns the
 * rows re-ranked per query. */
static double check_exact(const vdb_quant *q, const fixture *f, const vdb_filter_hook *filter)
{
    vdb_error err = {0};
    vdb_quant_scratch *s = NULL;
    assert_int_equal(vdb_quant_scratch_new(q, K, &s, &err), VDB_OK);
    size_t total = 0;
    assert_non_null(s);
    for (uint32_t i = 0; i < NQ; i++) {
        const float *qv = f->queries + (size_t)i * f->view.dim;
        vdb_hit want[K], got[K];
        size_t nw = 0, ng = 0, reranked = 0;
        assert_int_equal(vdb_flat_search(&f->view, qv, K, filter, want, &nw, &err), VDB_OK);
        assert_int_equal(vdb_quant_search_exact(q, &f->view, qv, K, filter, 0, s, got, &ng,
                                                &reranked, &err),
                         VDB_OK);
        assert_int_equal(ng, nw);
        for (size_t j = 0; j < ng; j++) {
            float tol = 1e-5f * (1.0f + fabsf(want[j].dist));
            assert_true(fabsf(got[j].dist - want[j].dist) <= tol);
            if (got[j].id != want[j].id)
                assert_true((j > 0 && fabsf(want[j - 1].dist - want[j].dist) <= tol) ||
                            (j + 1 < nw && fabsf(want[j + 1].dist - want[j].dist) <= tol));
        }
        total += reranked;
    }
    vdb_quant_scratch_free(s);
    return (double)total / NQ;
}

/* The bounded scan equals the float scan on every family and metric, for
 * both code kinds, with deletes and a filter; the re-rank limit stops it. */
static void test_exact_bounds(void **state)
{
    (void)state;
    static const vdb_metric metrics[] = {VDB_METRIC_COSINE, VDB_METRIC_L2, VDB_METRIC_DOT};
    for (int family = 0; family < FAMILY_COUNT; family++)
        for (size_t m = 0; m < 3; m++) {
            fixture f;
            make_store(&f, family, 3000, 40, metrics[m], 300 + (uint64_t)family * 7 + m);
            vdb_error err = {0};
            for (int kind = VDB_QUANT_INT8; kind <= VDB_QUANT_BINARY; kind++) {
                vdb_quant *q = NULL;
                assert_int_equal(vdb_quant_build((vdb_quant_kind)kind, &f.view, &q, &err), VDB_OK);
                assert_non_null(q);
                double plain = check_exact(q, &f, NULL);
                vdb_filter_hook even = {accept_even, NULL};
                f.view.deleted = f.deleted;
                for (uint32_t r = 0; r < 3000; r += 5)
                    f.deleted[r >> 6] |= 1ull << (r & 63);
                double filtered = check_exact(q, &f, &even);
                memset(f.deleted, 0, (3000 + 63) / 64 * sizeof(uint64_t));
                f.view.deleted = NULL;
                print_message("family %d %-9s %-6s re-ranked %.1f (filtered %.1f) of 3000\n",
                              family, vdb_metric_name(metrics[m]),
                              vdb_quant_kind_name((vdb_quant_kind)kind), plain, filtered);
                if (kind == VDB_QUANT_INT8)
                    assert_true(plain < 3000 / 4); /* int8 bounds do prune */
                /* A limit below what the bounds need stops the scan. */
                vdb_quant_scratch *s = NULL;
                assert_int_equal(vdb_quant_scratch_new(q, K, &s, &err), VDB_OK);
                vdb_hit got[K];
                size_t ng = 0;
                assert_int_equal(vdb_quant_search_exact(q, &f.view, f.queries, K, NULL, 1, s,
                                                        got, &ng, NULL, &err),
                                 VDB_ETOOBIG);
                vdb_quant_scratch_free(s);
                vdb_quant_free(q);
            }
            free_store(&f);
        }
}

/* Recall@10 against the float scan of graph search at `ef`: on the float
 * rows (q == NULL) or traversing q's codes. Every returned distance must be
 * the row's exact distance, in order. */
static double graph_recall(const fixture *f, const vdb_hnsw *h, const vdb_quant *q,
                           vdb_quant_scratch *s, uint32_t dim, size_t ef)
{
    vdb_error err = {0};
    size_t found = 0;
    for (uint32_t i = 0; i < NQ; i++) {
        const float *qv = f->queries + (size_t)i * dim;
        vdb_hit truth[K], got[K];
        size_t nt, ng;
        assert_int_equal(vdb_flat_search(&f->view, qv, K, NULL, truth, &nt, &err), VDB_OK);
        if (q == NULL) {
            assert_int_equal(vdb_hnsw_search(h, &f->view, qv, K, ef, NULL, NULL, got, &ng, &err),
                             VDB_OK);
        } else {
            vdb_hnsw_codes codes;
            assert_int_equal(vdb_quant_traversal(q, qv, s, &codes, &err), VDB_OK);
            assert_int_equal(vdb_hnsw_search_codes(h, &f->view, qv, &codes, K, ef, NULL, NULL,
                                                   got, &ng, &err),
                             VDB_OK);
        }
        assert_int_equal(ng, K);
        for (size_t j = 0; j < ng; j++) {
            assert_true(got[j].dist == vdb_flat_distance(&f->view, qv, got[j].id));
            if (j > 0)
                assert_true(got[j - 1].dist <= got[j].dist);
            for (size_t t = 0; t < nt; t++)
                found += got[j].id == truth[t].id;
        }
    }
    return (double)found / (NQ * K);
}

/* HNSW traversal on codes with float re-rank, per metric: distances are
 * exact; int8 keeps recall@10 within 0.03 of the float traversal at the
 * same ef; binary (32x fewer bytes, a coarser estimate) needs a larger ef,
 * and its recall rises with ef to within 0.05 of float's at ef 32 by ef 256.
 * A scratch of another dim is refused. */
static void test_graph_on_codes(void **state)
{
    (void)state;
    static const vdb_metric metrics[] = {VDB_METRIC_COSINE, VDB_METRIC_L2, VDB_METRIC_DOT};
    for (size_t m = 0; m < 3; m++) {
        fixture f;
        make_store(&f, FAMILY_CLUSTERED, 4000, 48, metrics[m], 500 + m);
        vdb_error err = {0};
        vdb_hnsw *h = NULL;
        assert_int_equal(vdb_hnsw_new(48, metrics[m], NULL, &h, &err), VDB_OK);
        assert_non_null(h);
        assert_int_equal(vdb_hnsw_build(h, &f.view, 0, 4000, &err), VDB_OK);
        vdb_quant *q8 = NULL, *qb = NULL;
        vdb_quant_scratch *s8 = NULL, *sb = NULL;
        assert_int_equal(vdb_quant_build(VDB_QUANT_INT8, &f.view, &q8, &err), VDB_OK);
        assert_int_equal(vdb_quant_scratch_new(q8, 1, &s8, &err), VDB_OK);
        assert_int_equal(vdb_quant_build(VDB_QUANT_BINARY, &f.view, &qb, &err), VDB_OK);
        assert_int_equal(vdb_quant_scratch_new(qb, 1, &sb, &err), VDB_OK);

        double rf = graph_recall(&f, h, NULL, NULL, 48, 32);
        double r8 = graph_recall(&f, h, q8, s8, 48, 32);
        double rb32 = graph_recall(&f, h, qb, sb, 48, 32);
        double rb256 = graph_recall(&f, h, qb, sb, 48, 256);
        print_message("graph %-9s float ef 32 %.4f, int8 ef 32 %.4f, binary ef 32 %.4f, "
                      "ef 256 %.4f\n",
                      vdb_metric_name(metrics[m]), rf, r8, rb32, rb256);
        assert_true(r8 >= rf - 0.03);
        assert_true(rb256 > rb32);
        assert_true(rb256 >= rf - 0.05);

        /* A scratch prepared for another dim is refused. */
        fixture g;
        make_store(&g, FAMILY_CLUSTERED, 64, 16, metrics[m], 600 + m);
        vdb_quant *qg = NULL;
        vdb_quant_scratch *sg = NULL;
        assert_int_equal(vdb_quant_build(VDB_QUANT_BINARY, &g.view, &qg, &err), VDB_OK);
        assert_int_equal(vdb_quant_scratch_new(qg, 1, &sg, &err), VDB_OK);
        vdb_hnsw_codes none;
        assert_int_equal(vdb_quant_traversal(qb, f.queries, sg, &none, &err), VDB_EINVAL);
        assert_int_equal(vdb_quant_traversal(q8, f.queries, sg, &none, &err), VDB_EINVAL);
        vdb_quant_scratch_free(sg);
        vdb_quant_free(qg);
        free_store(&g);

        vdb_quant_scratch_free(sb);
        vdb_quant_free(qb);
        vdb_quant_scratch_free(s8);
        vdb_quant_free(q8);
        vdb_hnsw_free(h);
        free_store(&f);
    }
}

/* Compaction keeps the surviving rows' codes in order; reordering
 * renumberings and a wrong row count are refused without change. */
static void test_compact(void **state)
{
    (void)state;
    fixture f;
    make_store(&f, FAMILY_UNIFORM, 1000, 24, VDB_METRIC_L2, 11);
    vdb_error err = {0};
    for (int kind = VDB_QUANT_INT8; kind <= VDB_QUANT_BINARY; kind++) {
        vdb_quant *q = NULL;
        assert_int_equal(vdb_quant_build((vdb_quant_kind)kind, &f.view, &q, &err), VDB_OK);
        uint32_t *map = vdb_malloc(1000 * sizeof(uint32_t));
        assert_non_null(q);
        assert_non_null(map);
        for (uint32_t r = 0; r < 1000; r++)
            map[r] = 999 - r;
        assert_int_equal(vdb_quant_compact(q, map, 1000, &err), VDB_EINVAL);
        assert_int_equal(vdb_quant_compact(q, map, 999, &err), VDB_EINVAL);
        assert_int_equal(vdb_quant_count(q), 1000);
        /* Drop every third row, in place, as vdb_vecset_compact does. */
        uint32_t kept = 0;
        for (uint32_t r = 0; r < 1000; r++) {
            map[r] = r % 3 == 0 ? UINT32_MAX : kept;
            if (r % 3 != 0) {
                memmove(f.data + (size_t)kept * 24, f.data + (size_t)r * 24, 24 * sizeof(float));
                kept++;
            }
        }
        assert_int_equal(vdb_quant_compact(q, map, 1000, &err), VDB_OK);
        assert_int_equal(vdb_quant_count(q), kept);
        fixture small = f;
        small.view.n = kept;
        assert_int_equal(vdb_quant_check(q, &err), VDB_OK);
        check_exact(q, &small, NULL);
        vdb_quant_free(q);
        vdb_free(map);
        free_store(&f);
        make_store(&f, FAMILY_UNIFORM, 1000, 24, VDB_METRIC_L2, 11);
    }
    free_store(&f);
}

static void test_deletes_and_filter(void **state)
{
    (void)state;
    fixture f;
    make_store(&f, FAMILY_CLUSTERED, 3000, 65, VDB_METRIC_L2, 7);
    vdb_error err = {0};
    vdb_quant *q = NULL;
    assert_int_equal(vdb_quant_build(VDB_QUANT_INT8, &f.view, &q, &err), VDB_OK);
    assert_non_null(q);
    for (uint32_t r = 0; r < 3000; r += 3)
        f.deleted[r >> 6] |= 1ull << (r & 63);
    f.view.deleted = f.deleted;
    vdb_filter_hook even = {accept_even, NULL};
    assert_true(measure(q, &f, 3000, &even) == 1.0);
    assert_true(measure(q, &f, 3000, NULL) == 1.0);
    assert_true(measure(q, &f, 4 * K, &even) >= 0.95);
    vdb_quant_free(q);
    free_store(&f);
}

static void test_append_and_clip(void **state)
{
    (void)state;
    fixture f;
    make_store(&f, FAMILY_ANISOTROPIC, 2000, 33, VDB_METRIC_L2, 9);
    vdb_error err = {0};
    vdb_vecview half = f.view;
    half.n = 1000;
    for (int kind = VDB_QUANT_INT8; kind <= VDB_QUANT_BINARY; kind++) {
        vdb_quant *q = NULL;
        assert_int_equal(vdb_quant_build((vdb_quant_kind)kind, &half, &q, &err), VDB_OK);
        assert_non_null(q);
        assert_int_equal(vdb_quant_count(q), 1000);
        /* Rows far outside the trained range clip to +-127 but stay valid. */
        for (uint32_t d = 0; d < 33; d++)
            f.data[1500 * 33 + d] = (d & 1) ? 1e6f : -1e6f;
        assert_int_equal(vdb_quant_append(q, &f.view, &err), VDB_OK);
        assert_int_equal(vdb_quant_count(q), 2000);
        assert_int_equal(vdb_quant_check(q, &err), VDB_OK);
        assert_true(measure(q, &f, 2000, NULL) == 1.0);
        assert_true(vdb_quant_memory(q) >= 2000 * vdb_quant_row_bytes(q));
        assert_int_equal(vdb_quant_row_bytes(q), kind == VDB_QUANT_INT8 ? 33 + 4 + 8 : 8 + 8);
        /* The codes moved when they grew, and still start a cache line
         * (the traversal's rows then span no extra line). */
        vdb_quant_scratch *s = NULL;
        vdb_hnsw_codes c;
        assert_int_equal(vdb_quant_scratch_new(q, 1, &s, &err), VDB_OK);
        assert_int_equal(vdb_quant_traversal(q, f.queries, s, &c, &err), VDB_OK);
        const void *base = kind == VDB_QUANT_INT8 ? (const void *)c.codes : (const void *)c.bits;
        assert_int_equal((uintptr_t)base % 64, 0);
        vdb_quant_scratch_free(s);
        /* Fewer rows than encoded is refused. */
        assert_int_equal(vdb_quant_append(q, &half, &err), VDB_EINVAL);
        vdb_quant_free(q);
    }
    /* An empty view builds; the first append trains. */
    vdb_vecview empty = f.view;
    empty.n = 0;
    vdb_quant *q = NULL;
    assert_int_equal(vdb_quant_build(VDB_QUANT_INT8, &empty, &q, &err), VDB_OK);
    assert_non_null(q);
    assert_int_equal(vdb_quant_count(q), 0);
    assert_int_equal(vdb_quant_append(q, &f.view, &err), VDB_OK);
    assert_true(measure(q, &f, 2000, NULL) == 1.0);
    vdb_quant_free(q);
    free_store(&f);
}

/* vdb_quant_new_trained + appends in pieces ends with the codes
 * vdb_quant_build makes (a store's trial codes must be what an open
 * builds): every query re-ranks the same rows and answers alike. */
static void test_trained_then_pieces(void **state)
{
    (void)state;
    fixture f;
    make_store(&f, FAMILY_CLUSTERED, 3000, 48, VDB_METRIC_COSINE, 21);
    vdb_error err = {0};
    for (int kind = VDB_QUANT_INT8; kind <= VDB_QUANT_BINARY; kind++) {
        vdb_quant *whole = NULL;
        assert_int_equal(vdb_quant_build((vdb_quant_kind)kind, &f.view, &whole, &err), VDB_OK);
        vdb_quant *parts = NULL;
        assert_int_equal(vdb_quant_new_trained((vdb_quant_kind)kind, &f.view, 3000, &parts, &err), VDB_OK);
        assert_non_null(whole);
        assert_non_null(parts);
        assert_int_equal(vdb_quant_count(parts), 0);
        size_t reserved = vdb_quant_memory(parts);
        for (uint32_t at = 700; at < 3000 + 700; at += 700) {
            vdb_vecview piece = f.view;
            piece.n = at < 3000 ? at : 3000;
            assert_int_equal(vdb_quant_append(parts, &piece, &err), VDB_OK);
        }
        assert_int_equal(vdb_quant_count(parts), 3000);
        assert_int_equal(vdb_quant_memory(parts), reserved); /* within the room reserved */
        assert_int_equal(vdb_quant_memory(parts), vdb_quant_memory(whole));
        vdb_quant_scratch *s = NULL;
        assert_int_equal(vdb_quant_scratch_new(whole, K, &s, &err), VDB_OK);
        assert_non_null(s);
        for (int qi = 0; qi < NQ; qi++) {
            vdb_hit a[K], b[K];
            size_t na, nb, ra, rb;
            const float *qv = f.queries + (size_t)qi * 48;
            assert_int_equal(vdb_quant_search_exact(whole, &f.view, qv, K, NULL, 0, s, a, &na,
                                                    &ra, &err), VDB_OK);
            assert_int_equal(vdb_quant_search_exact(parts, &f.view, qv, K, NULL, 0, s, b, &nb,
                                                    &rb, &err), VDB_OK);
            assert_int_equal(ra, rb);
            assert_int_equal(na, nb);
            for (size_t i = 0; i < na; i++)
                assert_int_equal(a[i].id, b[i].id);
        }
        vdb_quant_scratch_free(s);
        vdb_quant_free(whole);
        vdb_quant_free(parts);
    }
    free_store(&f);
}

static void test_bad_input(void **state)
{
    (void)state;
    fixture f;
    make_store(&f, FAMILY_UNIFORM, 100, 8, VDB_METRIC_COSINE, 3);
    vdb_error err = {0};
    vdb_quant *none = (vdb_quant *)&err; /* must come back NULL */
    assert_int_equal(vdb_quant_build(VDB_QUANT_NONE, &f.view, &none, &err), VDB_EINVAL);
    assert_null(none);
    assert_int_equal(err.code, VDB_EINVAL);
    vdb_vecview bad = f.view;
    bad.dim = 0;
    assert_int_equal(vdb_quant_build(VDB_QUANT_INT8, &bad, &none, NULL), VDB_EINVAL);
    assert_null(none);
    f.data[5 * 8 + 3] = NAN;
    assert_int_equal(vdb_quant_build(VDB_QUANT_INT8, &f.view, &none, &err), VDB_EINVAL);
    assert_null(none);
    assert_int_equal(err.code, VDB_EINVAL);
    assert_non_null(strstr(err.msg, "row 5 component 3"));
    f.data[5 * 8 + 3] = 0.5f;
    vdb_quant *q = NULL;
    assert_int_equal(vdb_quant_build(VDB_QUANT_INT8, &f.view, &q, &err), VDB_OK);
    assert_non_null(q);
    vdb_quant_scratch *s = NULL;
    assert_int_equal(vdb_quant_scratch_new(q, 0, &s, &err), VDB_EINVAL);
    assert_null(s);
    assert_int_equal(vdb_quant_scratch_new(q, VDB_QUANT_MAX_CANDIDATES + 1, &s, NULL), VDB_EINVAL);
    assert_null(s);
    assert_int_equal(vdb_quant_scratch_new(q, 20, &s, &err), VDB_OK);
    assert_non_null(s);
    vdb_hit out[K];
    size_t n = 0;
    assert_int_equal(vdb_quant_search(q, &f.view, f.queries, 0, 20, NULL, s, out, &n, &err),
                     VDB_EINVAL);
    assert_int_equal(vdb_quant_search(q, &f.view, f.queries, K, 21, NULL, s, out, &n, &err),
                     VDB_EINVAL);
    bad = f.view;
    bad.n = 99;
    assert_int_equal(vdb_quant_search(q, &bad, f.queries, K, 20, NULL, s, out, &n, &err),
                     VDB_EINVAL);
    bad = f.view;
    bad.metric = VDB_METRIC_L2;
    assert_int_equal(vdb_quant_append(q, &bad, &err), VDB_EDIM);
    assert_int_equal(vdb_quant_kind_parse("int8"), VDB_QUANT_INT8);
    assert_int_equal(vdb_quant_kind_parse("binary"), VDB_QUANT_BINARY);
    assert_int_equal(vdb_quant_kind_parse("none"), VDB_QUANT_NONE);
    assert_int_equal(vdb_quant_kind_parse("int4"), -1);
    assert_string_equal(vdb_quant_kind_name(vdb_quant_kind_of(q)), "int8");
    vdb_quant_scratch_free(s);
    vdb_quant_free(q);
    vdb_quant_free(NULL);
    vdb_quant_scratch_free(NULL);
    free_store(&f);
}

/* Every allocation of build, append and scratch failing in turn returns
 * VDB_ENOMEM (or NULL) without leaking or corrupting. Every other round
 * passes no error record: the code is the return value, never read back
 * from an optional message buffer. */
static void test_alloc_failures(void **state)
{
    (void)state;
    fixture f;
    make_store(&f, FAMILY_CLUSTERED, 3000, 16, VDB_METRIC_L2, 11);
    for (uint64_t nth = 1; nth < 24; nth++) {
        vdb_error err = {0};
        vdb_error *e = nth % 2 ? &err : NULL;
        vdb_quant *q = NULL;
        vdb_quant_scratch *s = NULL;
        vdb_alloc_fail_at((nth + 1) / 2, 0);
        int rc = vdb_quant_build(VDB_QUANT_INT8, &f.view, &q, e);
        int rs = rc == VDB_OK ? vdb_quant_scratch_new(q, 40, &s, e) : VDB_OK;
        vdb_alloc_fail_at(0, 0);
        assert_true(rc == VDB_OK || rc == VDB_ENOMEM);
        assert_true(rs == VDB_OK || rs == VDB_ENOMEM);
        assert_true((rc == VDB_OK) == (q != NULL));
        assert_true((rc == VDB_OK && rs == VDB_OK) == (s != NULL));
        if (e != NULL && (rc != VDB_OK || rs != VDB_OK))
            assert_int_equal(err.code, VDB_ENOMEM);
        vdb_quant_scratch_free(s);
        vdb_quant_free(q);
    }
    free_store(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recall_families),   cmocka_unit_test(test_deletes_and_filter),
        cmocka_unit_test(test_append_and_clip),
        cmocka_unit_test(test_trained_then_pieces),   cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_exact_bounds),      cmocka_unit_test(test_compact),
        cmocka_unit_test(test_graph_on_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
