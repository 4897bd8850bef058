/* HNSW search traversing int8 or binary codes (vdb_hnsw_search_codes,
 * float re-rank of the ef results) against the same graph traversed on the
 * float rows (vdb_hnsw_search), on the files `vdb bench --save DIR` writes
 * (data.npy, queries.npy, truth.npy = exact top-k row numbers).
 *
 * Builds one graph (M 16, efC 200) on the global pool (BUILD_THREADS,
 * default 2) and the int8 and binary codes, then searches single-threaded,
 * one query at a time, at each ef of the list: the float, int8 and binary
 * passes alternate, best of ROUNDS (3) per ef. MODES=digits runs only the
 * named passes (0 float, 1 int8, 2 binary; the others print as 0 QPS), for
 * a profile of one. Recall@k against truth.npy. Memory per vector that the
 * search reads: float rows 4*dim bytes, int8 codes dim bytes (+4 for L2),
 * binary codes dim/8 rounded up to 8 bytes + 4, the graph's links the same
 * for all. Prints one JSON object.
 *
 * For an A/B of the search code on a loaded machine: GRAPH=FILE loads the
 * graph from FILE when it is there (else builds and saves it), so two
 * builds of this driver search the same graph; CPU=1 times each pass by
 * the thread's CPU time (time spent descheduled does not count).
 *
 * Build: make bench-quant-graph (build/quant_graph). Benchmarks only: run
 * under flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE.
 * Usage: quant_graph DIR cosine|l2|dot [QUERIES] [EF_LIST] [BUILD_THREADS] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/alloc.h"
#include "core/pool.h"
#include "index/flat.h"
#include "index/hnsw.h"
#include "index/quant.h"

#define ROUNDS 3
#define MAX_EFS 12

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "quant_graph: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* A pass MODES skipped has no time: it prints 0 QPS and 0 for any ratio
 * it is part of (not a quotient of the placeholder). */
#define NOT_RUN 1e30

static double qps(size_t nq, double seconds)
{
    return seconds >= NOT_RUN ? 0 : (double)nq / seconds;
}

static double ratio(double base, double other)
{
    return base >= NOT_RUN || other >= NOT_RUN ? 0 : base / other;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR cosine|l2|dot [QUERIES] [EF_LIST] [BUILD_THREADS]\n",
                argv[0]);
        return 2;
    }
    int metric = vdb_metric_parse(argv[2]);
    if (metric < 0)
        die("metric", NULL);
    size_t efs[MAX_EFS] = {16, 24, 32, 48, 64, 128};
    int nef = 6;
    if (argc > 4) {
        nef = 0;
        for (char *s = argv[4], *end; *s != '\0' && nef < MAX_EFS; s = *end ? end + 1 : end) {
            efs[nef++] = strtoul(s, &end, 10);
            if (end == s)
                die("EF_LIST", NULL);
        }
    }
    vdb_pool_global_configure(argc > 5 ? atoi(argv[5]) : 2);
    matrix data = load(argv[1], "data.npy", VDB_NPY_F4);
    matrix queries = load(argv[1], "queries.npy", VDB_NPY_F4);
    matrix truth = load(argv[1], "truth.npy", VDB_NPY_I4);
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : queries.rows, k = truth.cols;
    nq = nq < queries.rows ? nq : queries.rows;
    vdb_vecview view = prepare_view(&data, &queries, nq, metric);
    uint32_t dim = view.dim;
    float *qs = queries.data;
    vdb_error err = {0};
    double t0 = now();
    vdb_hnsw *h = NULL;
    const char *cache = getenv("GRAPH");
    if (cache == NULL || vdb_hnsw_load(cache, dim, (vdb_metric)metric, &h, &err) != VDB_OK) {
        h = NULL;
        if (vdb_hnsw_new(dim, (vdb_metric)metric, NULL, &h, &err) != VDB_OK ||
            vdb_hnsw_build(h, &view, 0, view.n, &err) != VDB_OK)
            die("hnsw", &err);
        if (cache != NULL && vdb_hnsw_save(h, cache, &err) != VDB_OK)
            die("save", &err);
    }
    double build = now() - t0; /* the load's, with GRAPH and a saved file */
    double (*clock_fn)(void) = getenv("CPU") != NULL && atoi(getenv("CPU")) ? cpu_now : now;
    vdb_pool_global_configure(1);
    vdb_quant *q8 = NULL, *qb = NULL;
    vdb_quant_scratch *s8 = NULL, *sb = NULL;
    if (vdb_quant_build(VDB_QUANT_INT8, &view, &q8, &err) != VDB_OK ||
        vdb_quant_scratch_new(q8, 1, &s8, &err) != VDB_OK ||
        vdb_quant_build(VDB_QUANT_BINARY, &view, &qb, &err) != VDB_OK ||
        vdb_quant_scratch_new(qb, 1, &sb, &err) != VDB_OK)
        die("codes", &err);
    vdb_hnsw_scratch *hs = NULL;
    if (vdb_hnsw_scratch_new(&hs, &err) != VDB_OK)
        die("scratch", &err);
    vdb_hit *hits = vdb_malloc(k * sizeof(vdb_hit));
    if (hits == NULL)
        die("codes", &err);
    /* Modes: 0 float rows, 1 int8 codes, 2 binary codes (traversal; the
     * ef results re-ranked on the float rows). */
    double best[3][MAX_EFS], recall[3][MAX_EFS]; /* best NOT_RUN: a pass MODES skipped */
    const int32_t *gt = truth.data;
    for (int i = 0; i < nef; i++)
        for (int m = 0; m < 3; m++) {
            best[m][i] = NOT_RUN;
            recall[m][i] = 0;
        }
    for (int round = 0; round < ROUNDS; round++)
        for (int e = 0; e < nef; e++)
            for (int codes = 0; codes < 3; codes++) {
                if (getenv("MODES") != NULL && strchr(getenv("MODES"), '0' + codes) == NULL)
                    continue;
                size_t found = 0;
                double t = clock_fn();
                for (size_t i = 0; i < nq; i++) {
                    const float *qv = qs + i * dim;
                    size_t got = 0;
                    int rc;
                    if (codes) {
                        vdb_hnsw_codes c;
                        rc = codes == 1 ? vdb_quant_traversal(q8, qv, s8, &c, &err)
                                        : vdb_quant_traversal(qb, qv, sb, &c, &err);
                        if (rc == VDB_OK)
                            rc = vdb_hnsw_search_codes(h, &view, qv, &c, k, efs[e], NULL, hs,
                                                       hits, &got, &err);
                    } else {
                        rc = vdb_hnsw_search(h, &view, qv, k, efs[e], NULL, hs, hits, &got, &err);
                    }
                    if (rc != VDB_OK)
                        die("search", &err);
                    for (size_t j = 0; j < got; j++)
                        for (size_t r = 0; r < k; r++)
                            found += gt[i * k + r] == (int32_t)hits[j].id;
                }
                best[codes][e] = fmin(best[codes][e], clock_fn() - t);
                recall[codes][e] = (double)found / (double)(nq * k);
            }
    /* Memory per vector that a search keeps resident (heap bytes actually
     * held: vdb_hnsw_memory, vdb_quant_memory): the graph, plus the float
     * rows (float traversal) or the codes (int8 traversal; the float rows
     * stay mapped and only the ef results are read for the re-rank), or
     * the binary codes likewise. */
    double rows = (double)data.rows, graph = (double)vdb_hnsw_memory(h) / rows;
    double fl = (double)dim * sizeof(float), i8 = (double)vdb_quant_memory(q8) / rows;
    double bn = (double)vdb_quant_memory(qb) / rows;
    printf("{\"n\": %zu, \"dim\": %u, \"metric\": \"%s\", \"queries\": %zu, \"k\": %zu, "
           "\"rounds\": %d, \"build_seconds\": %.1f, \"float_bytes_per_vector\": %zu, "
           "\"code_bytes_per_vector\": %zu,\n \"resident_bytes_per_vector\": {\"graph\": %.1f, "
           "\"float32\": %.1f, \"int8\": %.1f, \"int8_x_float32\": %.3f, \"binary\": %.1f, "
           "\"binary_x_float32\": %.3f},\n \"ef\": [",
           data.rows, dim, argv[2], nq, k, ROUNDS, build, (size_t)dim * sizeof(float),
           vdb_quant_row_bytes(q8), graph, graph + fl, graph + i8, (graph + i8) / (graph + fl),
           graph + bn, (graph + bn) / (graph + fl));
    for (int e = 0; e < nef; e++)
        printf("%s{\"ef\": %zu, \"float_qps\": %.0f, \"float_recall\": %.4f, \"int8_qps\": %.0f, "
               "\"int8_recall\": %.4f, \"x_float\": %.2f, \"binary_qps\": %.0f, "
               "\"binary_recall\": %.4f, \"binary_x_float\": %.2f}",
               e ? ",\n  " : "", efs[e], qps(nq, best[0][e]), recall[0][e], qps(nq, best[1][e]),
               recall[1][e], ratio(best[0][e], best[1][e]), qps(nq, best[2][e]), recall[2][e],
               ratio(best[0][e], best[2][e]));
    printf("]}\n");
    vdb_free(hits);
    vdb_hnsw_scratch_free(hs);
    vdb_quant_scratch_free(s8);
    vdb_quant_scratch_free(sb);
    vdb_quant_free(q8);
    vdb_quant_free(qb);
    vdb_hnsw_free(h);
    vdb_aligned_free(data.data);
    vdb_aligned_free(queries.data);
    vdb_aligned_free(truth.data);
    return 0;
}
