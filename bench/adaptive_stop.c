/* Per-query adaptive termination (issue 9, "go beyond"): the same graph
 * searched with one fixed ef for every query against a patient search
 * (vdb_hnsw_search_patient: ef as a ceiling, stop after `patience`
 * expansions in a row that did not improve the k best). A fixed ef must be
 * large enough for the hardest queries the target counts; a patient search
 * spends little on easy ones. Which is faster at the same recall is what
 * this measures, per data family.
 *
 * Data: tests/unit/families.h (FAMILY: clustered, uniform, norms-l2,
 * norms-dot, duplicates, lowdim), N rows x DIM, held-out queries from
 * another seed. One graph (M 16, efC 200, 2 build threads); then one query
 * at a time on one thread, fixed-ef passes and patient passes alternating,
 * best of ROUNDS; recall@10 counts a hit within the exact 10th distance.
 * Build: make build/adaptive_stop. Benchmarks only: run under
 * env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE.
 * Usage: adaptive_stop FAMILY [N] [DIM] [QUERIES] [EF_LIST] [PATIENCE_LIST] [EF_MAX] */
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
#include "../tests/unit/families.h"

#define ROUNDS 3
#define MAX_LIST 16
#define K 10

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "adaptive_stop: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_list(const char *text, size_t *out)
{
    int n = 0;
    char *end;
    for (const char *s = text; *s != '\0' && n < MAX_LIST; s = *end ? end + 1 : end) {
        out[n++] = strtoul(s, &end, 10);
        if (end == s)
            die("bad list", NULL);
    }
    return n;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        family f;
        vdb_metric metric;
    } fams[] = {{"clustered", FAM_CLUSTERED, VDB_METRIC_COSINE},
                {"uniform", FAM_UNIFORM, VDB_METRIC_COSINE},
                {"norms-l2", FAM_NORMS_L2, VDB_METRIC_L2},
                {"norms-dot", FAM_NORMS_DOT, VDB_METRIC_DOT},
                {"duplicates", FAM_DUPLICATES, VDB_METRIC_COSINE},
                {"lowdim", FAM_LOWDIM, VDB_METRIC_L2}};
    int fi = -1;
    for (size_t i = 0; argc > 1 && i < sizeof(fams) / sizeof(fams[0]); i++)
        if (!strcmp(argv[1], fams[i].name))
            fi = (int)i;
    if (fi < 0)
        die("usage: adaptive_stop FAMILY [N] [DIM] [QUERIES] [EF_LIST] [PATIENCE_LIST] [EF_MAX]",
            NULL);
    uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 100000;
    uint32_t dim = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 384;
    size_t nq = argc > 4 ? strtoul(argv[4], NULL, 10) : 500;
    size_t efs[MAX_LIST] = {16, 24, 32, 48, 64, 96, 128}, pats[MAX_LIST] = {4, 8, 12, 16, 24, 32};
    int nef = argc > 5 ? parse_list(argv[5], efs) : 7;
    int npat = argc > 6 ? parse_list(argv[6], pats) : 6;
    size_t ef_max = argc > 7 ? strtoul(argv[7], NULL, 10) : 256;
    if (n < K || dim == 0 || nq == 0)
        die("N, DIM and QUERIES must be positive", NULL);
    vdb_metric metric = fams[fi].metric;
    float *rows = vdb_malloc((size_t)n * dim * sizeof(float));
    float *qs = vdb_malloc(nq * dim * sizeof(float));
    float *kth = vdb_malloc(nq * sizeof(float));
    float *centres = family_centres(dim, 7);
    vdb_hit *truth = vdb_malloc(nq * K * sizeof(vdb_hit)), *hits = vdb_malloc(K * sizeof(vdb_hit));
    size_t *cnt = vdb_malloc(nq * sizeof(size_t));
    vdb_error err = {0};
    vdb_rng rng;
    if (rows == NULL || qs == NULL || kth == NULL || centres == NULL || truth == NULL ||
        hits == NULL || cnt == NULL)
        die("out of memory", NULL);
    vdb_rng_seed(&rng, 1);
    for (uint32_t i = 0; i < n; i++) {
        float *v = rows + (size_t)i * dim;
        gen(fams[fi].f, &rng, dim, v, centres);
        if (vdb_flat_prepare_query(metric, v, v, dim, &err) != VDB_OK)
            die("row", &err);
    }
    vdb_rng_seed(&rng, 99);
    for (size_t q = 0; q < nq; q++) {
        gen_query(fams[fi].f, &rng, dim, qs + q * dim, centres);
        if (vdb_flat_prepare_query(metric, qs + q * dim, qs + q * dim, dim, &err) != VDB_OK)
            die("query", &err);
    }
    vdb_vecview view = {rows, NULL, n, dim, metric};
    if (vdb_flat_search_batch(&view, qs, nq, K, NULL, truth, cnt, &err) != VDB_OK)
        die("truth", &err);
    for (size_t q = 0; q < nq; q++)
        kth[q] = cnt[q] ? truth[q * K + cnt[q] - 1].dist : INFINITY;
    vdb_pool_global_configure(2);
    double t0 = now();
    vdb_hnsw *g = vdb_hnsw_new(dim, metric, NULL, &err);
    if (g == NULL || vdb_hnsw_build(g, &view, 0, n, &err) != VDB_OK)
        die("build", &err);
    double build = now() - t0;
    vdb_hnsw_scratch *hs = vdb_hnsw_scratch_new(&err);
    if (hs == NULL)
        die("scratch", &err);
    int nconf = nef + npat;
    double best[2 * MAX_LIST], recall[2 * MAX_LIST];
    for (int c = 0; c < nconf; c++)
        best[c] = 1e30;
    for (int round = 0; round < ROUNDS; round++)
        for (int c = 0; c < nconf; c++) {
            size_t found = 0, total = 0;
            double t = now();
            for (size_t q = 0; q < nq; q++) {
                size_t got = 0;
                int rc = c < nef ? vdb_hnsw_search(g, &view, qs + q * dim, K, efs[c], NULL, hs,
                                                   hits, &got, &err)
                                 : vdb_hnsw_search_patient(g, &view, qs + q * dim, K, ef_max,
                                                           (uint32_t)pats[c - nef], NULL, hs,
                                                           hits, &got, &err);
                if (rc != VDB_OK)
                    die("search", &err);
                for (size_t j = 0; j < got; j++)
                    found += hits[j].dist <= kth[q] + 1e-5f * (fabsf(kth[q]) + 1);
                total += cnt[q];
            }
            best[c] = fmin(best[c], now() - t);
            recall[c] = total ? (double)found / (double)total : 1.0;
        }
    printf("{\"family\": \"%s\", \"n\": %u, \"dim\": %u, \"queries\": %zu, \"build_s\": %.1f, "
           "\"ef_max\": %zu,\n \"fixed\": [",
           fams[fi].name, n, dim, nq, build, ef_max);
    for (int c = 0; c < nef; c++)
        printf("%s{\"ef\": %zu, \"qps\": %.0f, \"recall\": %.4f}", c ? ",\n   " : "", efs[c],
               nq / best[c], recall[c]);
    printf("],\n \"patient\": [");
    for (int c = nef; c < nconf; c++)
        printf("%s{\"patience\": %zu, \"qps\": %.0f, \"recall\": %.4f}", c > nef ? ",\n   " : "",
               pats[c - nef], nq / best[c], recall[c]);
    printf("]}\n");
    vdb_hnsw_scratch_free(hs);
    vdb_hnsw_free(g);
    vdb_free(rows);
    vdb_free(qs);
    vdb_free(kth);
    free(centres);
    vdb_free(truth);
    vdb_free(hits);
    vdb_free(cnt);
    return 0;
}
