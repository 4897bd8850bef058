/* HNSW on a store where many rows are exact copies of one vector (the same
 * text embedded again and again, an empty document's embedding): recall@10
 * of ordinary queries and of queries at the copies, and how many copies a
 * filter that accepts just that row can reach.
 *
 * Data (fixed seeds): N rows around 50 Gaussian centres (sd 0.5), then
 * COPIES of them replaced, at random positions, by one vector: the data's
 * mean plus noise (sd 0.3), between the clusters, where searches pass.
 * Cosine (METRIC=l2 or dot in the environment for another), M 16, efC 200,
 * built on BUILD_THREADS (default 2). Queries: 500
 * drawn like the rows; truth by brute force; a hit counts when its distance
 * is within the 10th exact one (copies tie). Then 200 queries at the copied
 * vector (plus noise 0.01), and for up to 1,000 copies (evenly spaced) a
 * filtered search (ef 10, k 1) that accepts only that row: it explores all
 * the graph reaches, so it finds the row exactly when the row is reachable.
 * Prints one JSON object.
 *
 * SAVE=DIR also writes DIR/data.npy, queries.npy (the ordinary queries) and
 * truth.npy (their exact top-10 row numbers), for the native peers' driver
 * (build/hnsw_native_peers, bench/hnsw_native.cpp) on the same data.
 *
 * Build: make build/hnsw_copies. Usage: hnsw_copies N COPIES DIM [BUILD_THREADS] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/npy.h"
#include "core/pool.h"
#include "core/rng.h"
#include "index/flat.h"
#include "index/hnsw.h"

#define NQ 500
#define NQ_AT 200
#define K 10

static const size_t EFS[] = {10, 16, 32, 64, 128};
#define NEF (sizeof(EFS) / sizeof(EFS[0]))

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "hnsw_copies: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static void *must(void *p)
{
    if (p == NULL)
        die("out of memory", NULL);
    return p;
}

/* Mean recall@K over nq queries at ef: hits within the K-th exact distance. */
static double recall(const vdb_hnsw *h, const vdb_vecview *v, const float *qs, size_t nq,
                     const float *kth, size_t ef, vdb_hnsw_scratch *s)
{
    size_t found = 0;
    vdb_error err = {0};
    for (size_t i = 0; i < nq; i++) {
        vdb_hit hits[K];
        size_t got = 0;
        if (vdb_hnsw_search(h, v, qs + i * v->dim, K, ef, NULL, s, hits, &got, &err) != VDB_OK)
            die("search", &err);
        for (size_t t = 0; t < got; t++)
            found += hits[t].dist <= kth[i] + 1e-5f;
    }
    return (double)found / (double)(nq * K);
}

static float *kth_distances(const vdb_vecview *v, const float *qs, size_t nq)
{
    float *kth = must(malloc(nq * sizeof(float)));
    vdb_hit want[K];
    vdb_error err = {0};
    for (size_t i = 0; i < nq; i++) {
        size_t n = 0;
        if (vdb_flat_search(v, qs + i * v->dim, K, NULL, want, &n, &err) != VDB_OK || n == 0)
            die("exact search", &err);
        kth[i] = want[n - 1].dist;
    }
    return kth;
}

/* Writes rows x cols of `descr` ("<f4" / "<i4") to DIR/name as .npy. */
static void save_npy(const char *dir, const char *name, const char *descr, const void *p,
                     size_t rows, size_t cols)
{
    char path[4096], head[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t hl = vdb_npy_build(head, sizeof(head), descr, rows, cols, 2);
    FILE *f = fopen(path, "wb");
    if (hl == 0 || f == NULL || fwrite(head, 1, hl, f) != hl ||
        fwrite(p, 4, rows * cols, f) != rows * cols || fclose(f) != 0)
        die("cannot write", NULL);
}

/* SAVE=DIR: the rows, the ordinary queries and their exact top-K ids. */
static void save_all(const char *dir, const vdb_vecview *v, const float *qs)
{
    int32_t *truth = must(malloc((size_t)NQ * K * sizeof(int32_t)));
    vdb_hit want[K];
    vdb_error err = {0};
    for (size_t i = 0; i < NQ; i++) {
        size_t n = 0;
        if (vdb_flat_search(v, qs + i * v->dim, K, NULL, want, &n, &err) != VDB_OK || n != K)
            die("exact search", &err);
        for (size_t t = 0; t < K; t++)
            truth[i * K + t] = (int32_t)want[t].id;
    }
    save_npy(dir, "data.npy", "<f4", v->data, v->n, v->dim);
    save_npy(dir, "queries.npy", "<f4", qs, NQ, v->dim);
    save_npy(dir, "truth.npy", "<i4", truth, NQ, K);
    free(truth);
}

static uint32_t g_only;

static int accept_only(void *ctx, uint32_t id)
{
    (void)ctx;
    return id == g_only;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s N COPIES DIM [BUILD_THREADS]\n", argv[0]);
        return 2;
    }
    size_t n = strtoul(argv[1], NULL, 10), copies = strtoul(argv[2], NULL, 10);
    uint32_t dim = (uint32_t)strtoul(argv[3], NULL, 10);
    if (n == 0 || copies > n || dim == 0 || dim > 4096)
        die("need 0 < COPIES <= N and 0 < DIM <= 4096", NULL);
    vdb_pool_global_configure(argc > 4 ? atoi(argv[4]) : 2);
    int parsed = vdb_metric_parse(getenv("METRIC") != NULL ? getenv("METRIC") : "cosine");
    if (parsed < 0)
        die("METRIC must be cosine, l2 or dot", NULL);
    vdb_metric metric = (vdb_metric)parsed;
    vdb_rng rng;
    vdb_rng_seed(&rng, 7);
    float *data = must(malloc(n * dim * sizeof(float)));
    float *qs = must(malloc((size_t)NQ * dim * sizeof(float)));
    float *at = must(malloc((size_t)NQ_AT * dim * sizeof(float)));
    float *centres = must(malloc((size_t)50 * dim * sizeof(float)));
    float *copy = must(calloc(dim, sizeof(float)));
    uint8_t *is_copy = must(calloc(n, 1));
    for (size_t i = 0; i < (size_t)50 * dim; i++)
        centres[i] = (float)vdb_rng_gauss(&rng);
    for (size_t r = 0; r < n + NQ; r++) {
        float *row = r < n ? data + r * dim : qs + (r - n) * dim;
        const float *c = centres + vdb_rng_below(&rng, 50) * dim;
        for (uint32_t j = 0; j < dim; j++)
            row[j] = c[j] + 0.5f * (float)vdb_rng_gauss(&rng);
    }
    for (size_t r = 0; r < n; r++)
        for (uint32_t j = 0; j < dim; j++)
            copy[j] += data[r * dim + j] / (float)n;
    for (uint32_t j = 0; j < dim; j++)
        copy[j] += 0.3f * (float)vdb_rng_gauss(&rng);
    for (size_t placed = 0; placed < copies;) {
        size_t r = vdb_rng_below(&rng, n);
        if (is_copy[r])
            continue;
        memcpy(data + r * dim, copy, dim * sizeof(float));
        is_copy[r] = 1;
        placed++;
    }
    for (size_t i = 0; i < NQ_AT; i++)
        for (uint32_t j = 0; j < dim; j++)
            at[i * dim + j] = copy[j] + 0.01f * (float)vdb_rng_gauss(&rng);
    for (size_t r = 0; r < n; r++)
        vdb_flat_prepare_query(metric, data + r * dim, data + r * dim, dim, NULL);
    for (size_t i = 0; i < NQ; i++)
        vdb_flat_prepare_query(metric, qs + i * dim, qs + i * dim, dim, NULL);
    for (size_t i = 0; i < NQ_AT; i++)
        vdb_flat_prepare_query(metric, at + i * dim, at + i * dim, dim, NULL);
    vdb_vecview view = {data, NULL, (uint32_t)n, dim, metric};
    if (getenv("SAVE") != NULL)
        save_all(getenv("SAVE"), &view, qs);
    vdb_error err = {0};
    vdb_hnsw *h = NULL;
    if (vdb_hnsw_new(dim, metric, NULL, &h, &err) != VDB_OK ||
        vdb_hnsw_build(h, &view, 0, (uint32_t)n, &err) != VDB_OK)
        die("build", &err);
    float *kth = kth_distances(&view, qs, NQ), *kth_at = kth_distances(&view, at, NQ_AT);
    vdb_hnsw_scratch *s = NULL;
    if (vdb_hnsw_scratch_new(&s, &err) != VDB_OK)
        die("scratch", &err);
    printf("{\"n\": %zu, \"copies\": %zu, \"dim\": %u, \"metric\": \"%s\", \"k\": %d, "
           "\"recall\": [",
           n, copies, dim, vdb_metric_name(metric), K);
    for (size_t e = 0; e < NEF; e++)
        printf("%s{\"ef\": %zu, \"queries\": %.4f, \"at_copies\": %.4f}", e ? ", " : "", EFS[e],
               recall(h, &view, qs, NQ, kth, EFS[e], s),
               recall(h, &view, at, NQ_AT, kth_at, EFS[e], s));
    size_t reached = 0, tried = 0, seen = 0, every = copies > 1000 ? (copies + 999) / 1000 : 1;
    vdb_filter_hook only = {accept_only, NULL};
    for (size_t r = 0; r < n; r++) {
        if (!is_copy[r] || seen++ % every != 0)
            continue;
        tried++;
        vdb_hit hit;
        size_t got = 0;
        g_only = (uint32_t)r;
        if (vdb_hnsw_search(h, &view, at, 1, 10, &only, s, &hit, &got, &err) != VDB_OK)
            die("filtered search", &err);
        reached += got == 1 && hit.id == r;
    }
    printf("], \"copies_tried_alone\": %zu, \"reached\": %zu}\n", tried, reached);
    vdb_hnsw_scratch_free(s);
    vdb_hnsw_free(h);
    free(kth);
    free(kth_at);
    free(data);
    free(qs);
    free(at);
    free(centres);
    free(copy);
    free(is_copy);
    return 0;
}
