/* Inner product on a graph (issue 9): HNSW built with the dot metric on the
 * raw rows against the standard reduction of maximum inner product search
 * to nearest neighbour search (one extra coordinate: x' = [x, sqrt(M^2 -
 * |x|^2)] with M the largest row norm, q' = [q, 0]; |x' - q'|^2 = M^2 +
 * |q|^2 - 2 x.q, so the L2 order on the augmented rows is the inner
 * product order). Both graphs get the same rows (M 16, efC 200, built on
 * BUILD_THREADS) and are searched one query at a time on one thread at
 * each ef, the two alternating, best of ROUNDS. Recall@10 against the
 * exact inner product top-10 (a hit counts when its true inner product
 * reaches the exact 10th's).
 *
 * Data: tests/unit/families.h's inner-product family (Gaussian directions,
 * norms spread SPREAD x; SPREAD 4 is the family's own), N rows x DIM.
 * Build: make build/mips_reduction. Benchmarks only: run under
 * env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE.
 * Usage: mips_reduction [N] [DIM] [QUERIES] [EF_LIST] [BUILD_THREADS] [SPREAD] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "index/flat.h"
#include "index/hnsw.h"

#define ROUNDS 3
#define MAX_EFS 16
#define K 10

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "mips_reduction: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A Gaussian direction scaled to a norm in [1, spread]. */
static void draw(vdb_rng *rng, uint32_t dim, double spread, float *v)
{
    double norm = 0;
    for (uint32_t j = 0; j < dim; j++) {
        v[j] = (float)vdb_rng_gauss(rng);
        norm += (double)v[j] * v[j];
    }
    double scale = (1.0 + (spread - 1.0) * vdb_rng_uniform(rng)) / sqrt(norm);
    for (uint32_t j = 0; j < dim; j++)
        v[j] = (float)(v[j] * scale);
}

static double dot(const float *a, const float *b, uint32_t dim)
{
    double s = 0;
    for (uint32_t j = 0; j < dim; j++)
        s += (double)a[j] * b[j];
    return s;
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 100000;
    uint32_t dim = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 96;
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : 500;
    size_t efs[MAX_EFS] = {10, 16, 32, 64, 128, 256, 512};
    int nef = 7;
    if (argc > 4) {
        nef = 0;
        for (char *s = argv[4], *end; *s != '\0' && nef < MAX_EFS; s = *end ? end + 1 : end) {
            efs[nef++] = strtoul(s, &end, 10);
            if (end == s)
                die("EF_LIST", NULL);
        }
    }
    int threads = argc > 5 ? atoi(argv[5]) : 2;
    double spread = argc > 6 ? atof(argv[6]) : 4.0;
    if (n < K || dim == 0 || nq == 0 || threads < 1 || spread < 1)
        die("usage: mips_reduction [N] [DIM] [QUERIES] [EF_LIST] [BUILD_THREADS] [SPREAD]", NULL);
    uint32_t adim = dim + 1;
    float *raw = vdb_malloc((size_t)n * dim * sizeof(float));
    float *aug = vdb_malloc((size_t)n * adim * sizeof(float));
    float *qs = vdb_malloc(nq * dim * sizeof(float)), *aq = vdb_malloc(nq * adim * sizeof(float));
    double *kth = vdb_malloc(nq * sizeof(double));
    vdb_hit *hits = vdb_malloc(1024 * sizeof(vdb_hit));
    vdb_error err = {0};
    vdb_rng rng;
    if (raw == NULL || aug == NULL || qs == NULL || aq == NULL || kth == NULL || hits == NULL)
        die("out of memory", NULL);
    vdb_rng_seed(&rng, 7);
    double m2 = 0;
    for (uint32_t i = 0; i < n; i++) {
        draw(&rng, dim, spread, raw + (size_t)i * dim);
        double s = dot(raw + (size_t)i * dim, raw + (size_t)i * dim, dim);
        m2 = s > m2 ? s : m2;
    }
    for (uint32_t i = 0; i < n; i++) {
        const float *x = raw + (size_t)i * dim;
        memcpy(aug + (size_t)i * adim, x, dim * sizeof(float));
        double rest = m2 - dot(x, x, dim);
        aug[(size_t)i * adim + dim] = (float)sqrt(rest > 0 ? rest : 0);
    }
    vdb_rng_seed(&rng, 99);
    for (size_t q = 0; q < nq; q++) {
        draw(&rng, dim, spread, qs + q * dim);
        memcpy(aq + q * adim, qs + q * dim, dim * sizeof(float));
        aq[q * adim + dim] = 0;
    }
    vdb_vecview vraw = {raw, NULL, n, dim, VDB_METRIC_DOT};
    vdb_vecview vaug = {aug, NULL, n, adim, VDB_METRIC_L2};
    /* Truth: the exact inner product top-K (GEMM batch). */
    {
        vdb_hit *t = vdb_malloc(nq * K * sizeof(vdb_hit));
        size_t *cnt = vdb_malloc(nq * sizeof(size_t));
        if (t == NULL || cnt == NULL ||
            vdb_flat_search_batch(&vraw, qs, nq, K, NULL, t, cnt, &err) != VDB_OK)
            die("truth", &err);
        for (size_t q = 0; q < nq; q++)
            kth[q] = dot(qs + q * dim, raw + (size_t)t[q * K + K - 1].id * dim, dim);
        vdb_free(t);
        vdb_free(cnt);
    }
    vdb_pool_global_configure(threads);
    vdb_hnsw *g[2];
    double build[2];
    const vdb_vecview *views[2] = {&vraw, &vaug};
    for (int w = 0; w < 2; w++) {
        double t0 = now();
        if (vdb_hnsw_new(views[w]->dim, views[w]->metric, NULL, &g[w], &err) != VDB_OK ||
            vdb_hnsw_build(g[w], views[w], 0, n, &err) != VDB_OK)
            die("build", &err);
        build[w] = now() - t0;
    }
    vdb_pool_global_configure(1);
    vdb_hnsw_scratch *hs = NULL;
    if (vdb_hnsw_scratch_new(&hs, &err) != VDB_OK)
        die("scratch", &err);
    double best[2][MAX_EFS], recall[2][MAX_EFS];
    for (int e = 0; e < nef; e++)
        best[0][e] = best[1][e] = 1e30;
    for (int round = 0; round < ROUNDS; round++)
        for (int e = 0; e < nef; e++)
            for (int w = 0; w < 2; w++) {
                size_t found = 0;
                double t = now();
                for (size_t q = 0; q < nq; q++) {
                    size_t got = 0;
                    const float *qv = w ? aq + q * adim : qs + q * dim;
                    if (vdb_hnsw_search(g[w], views[w], qv, K, efs[e], NULL, hs, hits, &got,
                                        &err) != VDB_OK)
                        die("search", &err);
                    for (size_t j = 0; j < got; j++)
                        found += dot(qs + q * dim, raw + (size_t)hits[j].id * dim, dim) >=
                                 kth[q] - 1e-5 * fabs(kth[q]);
                }
                best[w][e] = fmin(best[w][e], now() - t);
                recall[w][e] = (double)found / (double)(nq * K);
            }
    printf("{\"n\": %u, \"dim\": %u, \"spread\": %.1f, \"queries\": %zu, \"build_s\": "
           "{\"dot\": %.1f, \"reduced\": %.1f},\n \"ef\": [",
           n, dim, spread, nq, build[0], build[1]);
    for (int e = 0; e < nef; e++)
        printf("%s{\"ef\": %zu, \"dot_qps\": %.0f, \"dot_recall\": %.4f, \"reduced_qps\": %.0f, "
               "\"reduced_recall\": %.4f}",
               e ? ",\n  " : "", efs[e], nq / best[0][e], recall[0][e], nq / best[1][e],
               recall[1][e]);
    printf("]}\n");
    vdb_hnsw_scratch_free(hs);
    vdb_hnsw_free(g[0]);
    vdb_hnsw_free(g[1]);
    vdb_free(raw);
    vdb_free(aug);
    vdb_free(qs);
    vdb_free(aq);
    vdb_free(kth);
    vdb_free(hits);
    return 0;
}
