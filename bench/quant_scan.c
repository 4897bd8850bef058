/* Exact search on quantized codes (index/quant.h) against the float scan,
 * on the files `vdb bench --save DIR` writes (data.npy, queries.npy,
 * truth.npy = exact top-k ids).
 *
 * Single-threaded (the global pool is set to one thread so the float scan
 * does not split either), one query at a time. Per round it times one pass
 * of: a plain streaming read of the float rows (the memory-bandwidth figure
 * the float scan is bound by), the float scan (vdb_flat_search), the int8
 * scan + re-rank at each candidate margin, the binary scan + re-rank at each
 * margin; three rounds, alternating, best pass kept. Recall@k counts ids
 * found in truth.npy's top-k. Prints one JSON object.
 *
 * Build: make bench-quant (build/quant_scan).  Benchmarks only: run under
 * flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE.
 * Usage: quant_scan DIR METRIC(cosine|l2|dot) [QUERIES] [INT8_MARGINS] [BINARY_MARGINS]
 *        margins are comma lists of candidates / k (default 2,4,10 and 10,30,100). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "core/alloc.h"
#include "core/npy.h"
#include "core/pool.h"
#include "index/flat.h"
#include "index/quant.h"

#define ROUNDS 3
#define MAX_MARGINS 8

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "quant_scan: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* Whole file read into a 64-byte aligned buffer (as a store maps rows). */
static int parse_list(const char *s, size_t *out)
{
    int n = 0;
    for (char *end; *s != '\0' && n < MAX_MARGINS; s = *end == ',' ? end + 1 : end) {
        out[n++] = strtoul(s, &end, 10);
        if (end == s)
            break;
    }
    return n;
}

typedef struct result {
    double best;
    double recall;
} result;

/* Plain read of every row: the single-thread bandwidth bound. */
static double stream(const float *rows, size_t count)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= count; i += 4) {
        s0 += rows[i];
        s1 += rows[i + 1];
        s2 += rows[i + 2];
        s3 += rows[i + 3];
    }
    return (double)(s0 + s1 + s2 + s3);
}

static double recall_of(const vdb_hit *hits, size_t got, const int32_t *truth, size_t k)
{
    size_t found = 0;
    for (size_t j = 0; j < got; j++)
        for (size_t t = 0; t < k; t++)
            if (truth[t] == (int32_t)hits[j].id)
                found++;
    return (double)found;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR cosine|l2|dot [QUERIES] [INT8_MARGINS] [BINARY_MARGINS]\n",
                argv[0]);
        return 2;
    }
    int metric = vdb_metric_parse(argv[2]);
    if (metric < 0)
        die("metric", NULL);
    size_t m8[MAX_MARGINS] = {2, 4, 10}, mb[MAX_MARGINS] = {10, 30, 100};
    int n8 = argc > 4 ? parse_list(argv[4], m8) : 3, nb = argc > 5 ? parse_list(argv[5], mb) : 3;
    vdb_pool_global_configure(1);
    matrix data = load(argv[1], "data.npy", VDB_NPY_F4);
    matrix queries = load(argv[1], "queries.npy", VDB_NPY_F4);
    matrix truth = load(argv[1], "truth.npy", VDB_NPY_I4);
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : queries.rows, k = truth.cols;
    nq = nq < queries.rows ? nq : queries.rows;
    vdb_vecview view = prepare_view(&data, &queries, nq, metric);
    uint32_t dim = view.dim;
    float *rows = data.data, *qs = queries.data;
    vdb_error err = {0};
    double t0 = now();
    vdb_quant *q8 = NULL, *qb = NULL;
    int rc = vdb_quant_build(VDB_QUANT_INT8, &view, &q8, &err);
    double build8 = now() - t0;
    t0 = now();
    if (rc == VDB_OK)
        rc = vdb_quant_build(VDB_QUANT_BINARY, &view, &qb, &err);
    double buildb = now() - t0;
    if (rc != VDB_OK)
        die("build", &err);
    size_t maxc = 1;
    for (int i = 0; i < n8; i++)
        maxc = m8[i] * k > maxc ? m8[i] * k : maxc;
    for (int i = 0; i < nb; i++)
        maxc = mb[i] * k > maxc ? mb[i] * k : maxc;
    vdb_quant_scratch *s8 = NULL, *sb = NULL;
    if (vdb_quant_scratch_new(q8, maxc, &s8, &err) != VDB_OK ||
        vdb_quant_scratch_new(qb, maxc, &sb, &err) != VDB_OK)
        die("scratch", &err);
    vdb_hit *hits = vdb_malloc(k * sizeof(vdb_hit));
    if (hits == NULL)
        die("scratch", &err);
    result bw = {1e30, 0}, fl = {1e30, 0}, r8[MAX_MARGINS], rb[MAX_MARGINS];
    for (int i = 0; i < MAX_MARGINS; i++)
        r8[i] = rb[i] = (result){1e30, 0};
    volatile double sink = 0;
    const int32_t *gt = truth.data;
    for (int round = 0; round < ROUNDS; round++) {
        double t = now();
        for (size_t i = 0; i < nq; i++)
            sink += stream(rows, data.rows * dim);
        bw.best = fmin(bw.best, now() - t);
        double found = 0;
        t = now();
        for (size_t i = 0; i < nq; i++) {
            size_t got = 0;
            if (vdb_flat_search(&view, qs + i * dim, k, NULL, hits, &got, &err) != VDB_OK)
                die("flat", &err);
            found += recall_of(hits, got, gt + i * k, k);
        }
        fl.best = fmin(fl.best, now() - t);
        fl.recall = found / (double)(nq * k);
        for (int pass = 0; pass < n8 + nb; pass++) {
            int is8 = pass < n8;
            size_t cand = (is8 ? m8[pass] : mb[pass - n8]) * k;
            result *res = is8 ? &r8[pass] : &rb[pass - n8];
            found = 0;
            t = now();
            for (size_t i = 0; i < nq; i++) {
                size_t got = 0;
                if (vdb_quant_search(is8 ? q8 : qb, &view, qs + i * dim, k, cand, NULL,
                                     is8 ? s8 : sb, hits, &got, &err) != VDB_OK)
                    die("quant", &err);
                found += recall_of(hits, got, gt + i * k, k);
            }
            res->best = fmin(res->best, now() - t);
            res->recall = found / (double)(nq * k);
        }
    }
    double float_bytes = (double)data.rows * dim * sizeof(float);
    printf("{\"n\": %zu, \"dim\": %u, \"metric\": \"%s\", \"queries\": %zu, \"k\": %zu, "
           "\"threads\": 1, \"rounds\": %d,\n \"stream_read\": {\"qps\": %.2f, \"gb_per_s\": %.2f},\n"
           " \"float_scan\": {\"qps\": %.2f, \"recall_at_k\": %.4f, \"bytes_per_vector\": %zu, "
           "\"gb_per_s\": %.2f},\n",
           data.rows, dim, argv[2], nq, k, ROUNDS, nq / bw.best, nq * float_bytes / bw.best / 1e9,
           nq / fl.best, fl.recall, dim * sizeof(float), nq * float_bytes / fl.best / 1e9);
    for (int kind = 0; kind < 2; kind++) {
        const vdb_quant *qq = kind ? qb : q8;
        printf(" \"%s\": {\"build_seconds\": %.3f, \"bytes_per_vector\": %zu, \"memory_bytes\": "
               "%zu, \"margins\": [",
               kind ? "binary" : "int8", kind ? buildb : build8, vdb_quant_row_bytes(qq),
               vdb_quant_memory(qq));
        int count = kind ? nb : n8;
        for (int i = 0; i < count; i++) {
            result *res = kind ? &rb[i] : &r8[i];
            size_t margin = kind ? mb[i] : m8[i];
            printf("%s{\"candidates\": %zu, \"margin\": %zu, \"qps\": %.2f, \"recall_at_k\": %.4f, "
                   "\"x_float_scan\": %.2f, \"code_gb_per_s\": %.2f}",
                   i ? ", " : "", margin * k, margin, nq / res->best, res->recall,
                   fl.best / res->best,
                   nq * (double)data.rows * vdb_quant_row_bytes(qq) / res->best / 1e9);
        }
        printf("]}%s\n", kind ? "" : ",");
    }
    printf("}\n");
    (void)sink;
    vdb_free(hits);
    vdb_quant_scratch_free(s8);
    vdb_quant_scratch_free(sb);
    vdb_quant_free(q8);
    vdb_quant_free(qb);
    vdb_aligned_free(data.data);
    vdb_aligned_free(queries.data);
    vdb_aligned_free(truth.data);
    return 0;
}
