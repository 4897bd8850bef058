/* A/B of the HNSW search code in one process: this tree's library against
 * a base commit's search, quantizer and quantized kernels (its
 * src/index/hnsw_search.c, hnsw.c, quant.c, quant_exact.c and
 * src/kernel/qdist*.c, compiled and linked in with every symbol they
 * define renamed BASE_...; bench/search_ab.sh builds it), on one graph and
 * one set of queries. The graph is loaded by this tree's code and searched
 * by both, so struct vdb_hnsw must not differ between the two.
 *
 * Why: on a shared VM the machine's speed drifts by 30% and more within
 * seconds, so two builds run one after the other (or alternating passes of
 * a few hundred queries, as quant_graph does) disagree by more than the
 * changes being measured. Here the two alternate every BLOCK queries, the
 * order flipping each block, and each side's thread CPU time is summed: a
 * slow spell lands on both. A build against itself reads 1.00 +- 0.03.
 *
 * Usage: search_ab DIR cosine|l2|dot EF ROUNDS [MODES]; DIR as `vdb bench
 * --save` writes it, GRAPH=FILE a graph quant_graph saved for DIR (the
 * same for both sides: the search, not the build, is compared). MODES:
 * digits, 0 float traversal, 1 int8 traversal (default 01). Prints per
 * mode each side's QPS and recall@k (first round), and tree/base: above 1
 * when this tree is faster. The two sides return the same hits unless the
 * change alters the search. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/pool.h"
#include "index/hnsw.h"
#include "index/quant.h"

#define BLOCK 20

int BASE_vdb_hnsw_search(const vdb_hnsw *h, const vdb_vecview *view, const float *query, size_t k,
                      size_t ef, const vdb_filter_hook *filter, vdb_hnsw_scratch *scratch,
                      vdb_hit *out, size_t *nout, vdb_error *err);
int BASE_vdb_hnsw_search_codes(const vdb_hnsw *h, const vdb_vecview *view, const float *query,
                            const vdb_hnsw_codes *codes, size_t k, size_t ef,
                            const vdb_filter_hook *filter, vdb_hnsw_scratch *scratch,
                            vdb_hit *out, size_t *nout, vdb_error *err);
int BASE_vdb_hnsw_scratch_new(vdb_hnsw_scratch **out, vdb_error *err);
int BASE_vdb_quant_build(vdb_quant_kind kind, const vdb_vecview *view, vdb_quant **out,
                      vdb_error *err);
int BASE_vdb_quant_scratch_new(const vdb_quant *q, size_t max_candidates, vdb_quant_scratch **out,
                            vdb_error *err);
int BASE_vdb_quant_traversal(const vdb_quant *q, const float *query, vdb_quant_scratch *scratch,
                          vdb_hnsw_codes *out, vdb_error *err);

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "search_ab: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* Each side's search state: its own quantizer (the base's layout may
 * differ) and scratch. Side 0 is this tree, side 1 the base. */
typedef struct side {
    vdb_quant *q8;
    vdb_quant_scratch *s8;
    vdb_hnsw_scratch *hs;
} side;

static int run_one(int b, const side *sd, const vdb_hnsw *h, const vdb_vecview *view,
                   const float *qv, int codes, size_t k, size_t ef, vdb_hit *hits, size_t *got,
                   vdb_error *err)
{
    if (!codes)
        return b ? BASE_vdb_hnsw_search(h, view, qv, k, ef, NULL, sd->hs, hits, got, err)
                 : vdb_hnsw_search(h, view, qv, k, ef, NULL, sd->hs, hits, got, err);
    vdb_hnsw_codes c;
    int rc = b ? BASE_vdb_quant_traversal(sd->q8, qv, sd->s8, &c, err)
               : vdb_quant_traversal(sd->q8, qv, sd->s8, &c, err);
    if (rc != VDB_OK)
        return rc;
    return b ? BASE_vdb_hnsw_search_codes(h, view, qv, &c, k, ef, NULL, sd->hs, hits, got, err)
             : vdb_hnsw_search_codes(h, view, qv, &c, k, ef, NULL, sd->hs, hits, got, err);
}

int main(int argc, char **argv)
{
    if (argc < 5 || getenv("GRAPH") == NULL) {
        fprintf(stderr, "usage: GRAPH=FILE %s DIR cosine|l2|dot EF ROUNDS [MODES]\n", argv[0]);
        return 2;
    }
    int metric = vdb_metric_parse(argv[2]);
    if (metric < 0)
        die("metric", NULL);
    size_t ef = strtoul(argv[3], NULL, 10);
    int rounds = atoi(argv[4]);
    const char *modes = argc > 5 ? argv[5] : "01";
    vdb_pool_global_configure(1);
    matrix data = load(argv[1], "data.npy", VDB_NPY_F4);
    matrix queries = load(argv[1], "queries.npy", VDB_NPY_F4);
    matrix truth = load(argv[1], "truth.npy", VDB_NPY_I4);
    size_t nq = queries.rows, k = truth.cols;
    vdb_vecview view = prepare_view(&data, &queries, nq, metric);
    const float *qs = queries.data;
    vdb_error err = {0};
    vdb_hnsw *h = NULL;
    if (vdb_hnsw_load(getenv("GRAPH"), view.dim, (vdb_metric)metric, &h, &err) != VDB_OK)
        die("graph", &err);
    side sides[2] = {{0}, {0}};
    if (vdb_quant_build(VDB_QUANT_INT8, &view, &sides[0].q8, &err) != VDB_OK ||
        vdb_quant_scratch_new(sides[0].q8, 1, &sides[0].s8, &err) != VDB_OK ||
        vdb_hnsw_scratch_new(&sides[0].hs, &err) != VDB_OK ||
        BASE_vdb_quant_build(VDB_QUANT_INT8, &view, &sides[1].q8, &err) != VDB_OK ||
        BASE_vdb_quant_scratch_new(sides[1].q8, 1, &sides[1].s8, &err) != VDB_OK ||
        BASE_vdb_hnsw_scratch_new(&sides[1].hs, &err) != VDB_OK)
        die("setup", &err);
    vdb_hit *hits = vdb_malloc(k * sizeof(vdb_hit));
    if (hits == NULL)
        die("hits", NULL);
    const int32_t *gt = truth.data;
    for (const char *m = modes; *m != '\0'; m++) {
        int codes = *m == '1';
        double spent[2] = {0, 0};
        size_t found[2] = {0, 0};
        for (int r = 0; r < rounds; r++)
            for (size_t b0 = 0; b0 < nq; b0 += BLOCK)
                for (int turn = 0; turn < 2; turn++) {
                    int b = ((size_t)r + b0 / BLOCK) & 1 ? 1 - turn : turn;
                    double t = cpu_now();
                    for (size_t i = b0; i < b0 + BLOCK && i < nq; i++) {
                        size_t got = 0;
                        if (run_one(b, &sides[b], h, &view, qs + i * view.dim, codes, k, ef, hits,
                                    &got, &err) != VDB_OK)
                            die("search", &err);
                        for (size_t j = 0; r == 0 && j < got; j++)
                            for (size_t x = 0; x < k; x++)
                                found[b] += gt[i * k + x] == (int32_t)hits[j].id;
                    }
                    spent[b] += cpu_now() - t;
                }
        double all = (double)(nq * (size_t)rounds), total = (double)(nq * k);
        printf("%s ef %zu: base %.0f QPS recall %.4f | tree %.0f QPS recall %.4f | "
               "tree/base %.3f\n",
               codes ? "int8 " : "float", ef, all / spent[1], (double)found[1] / total,
               all / spent[0], (double)found[0] / total, spent[1] / spent[0]);
    }
    return 0;
}
