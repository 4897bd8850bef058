/* Exact queries of one store with quantization none / int8 / binary, through
 * the store API (vdb_store_query with exact = 1, one query at a time), on
 * the files `vdb bench --save DIR` writes (data.npy, queries.npy, truth.npy
 * = exact top-k row numbers).
 *
 * One store (fsync off, flat index) gets every row of data.npy with the row
 * number as its id, then each round runs the queries once per setting,
 * switching with vdb_store_set_quantization (the rebuild is timed apart:
 * it is what an open or a change costs), best pass of ROUNDS kept. Recall@k
 * against truth.npy must be 1.0 for every setting (exact answers). The
 * global thread pool has THREADS threads (default 2, the server's default
 * on this machine): the float scan splits over it, the code scan runs on
 * the calling thread. FILL_QUANT (none, int8, binary; default none) is the
 * setting while the rows are added, so fill_seconds shows what keeping the
 * codes up to date costs writers. Prints one JSON object.
 *
 * Build: make bench-store-exact (build/store_exact). Benchmarks only: run
 * under flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE.
 * Usage: store_exact DIR cosine|l2|dot [QUERIES] [ROUNDS] [THREADS] [FILL_QUANT] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/alloc.h"
#include "core/json.h"
#include "core/npy.h"
#include "core/pool.h"
#include "index/quant.h"
#include "store/store.h"
#include "store/store_codes.h"

#define BATCH 10000u

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "store_exact: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

typedef struct found {
    const int32_t *truth;
    size_t k;
    size_t hits;
} found;

static int count_hits(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    found *f = ctx;
    (void)q;
    for (size_t i = 0; i < count; i++)
        for (size_t t = 0; t < f->k; t++)
            if (f->truth[t] == atoi(hits[i].id))
                f->hits++;
    return 0;
}

static long long figure(vdb_store *store, const char *name)
{
    vdb_json *obj = vdb_store_codes_json(store);
    long long v = obj ? vdb_json_int_value(vdb_json_object_get(obj, name)) : -1;
    vdb_json_decref(obj);
    return v;
}

static vdb_store *fill(const char *dir, const matrix *data, int metric, int quant)
{
    vdb_store_config config;
    vdb_store_options options;
    vdb_error err = {0};
    vdb_store_config_default(&config);
    config.dim = (uint32_t)data->cols;
    config.metric = (vdb_metric)metric;
    config.index = VDB_INDEX_FLAT;
    config.quantization = quant;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    if (vdb_store_create(dir, &config, &options, &store, &err) != VDB_OK)
        die("create", &err);
    char (*names)[16] = malloc(BATCH * sizeof(*names));
    const char **ids = malloc(BATCH * sizeof(char *));
    if (names == NULL || ids == NULL)
        die("ids", NULL);
    for (size_t at = 0; at < data->rows; at += BATCH) {
        size_t n = data->rows - at < BATCH ? data->rows - at : BATCH;
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof(names[i]), "%zu", at + i);
            ids[i] = names[i];
        }
        if (vdb_store_add(store, n, (const float *)data->data + at * data->cols, ids, NULL, NULL,
                          &err) != VDB_OK)
            die("add", &err);
    }
    free(names);
    free(ids);
    if (vdb_store_checkpoint(store, &err) != VDB_OK)
        die("checkpoint", &err);
    return store;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR cosine|l2|dot [QUERIES] [ROUNDS] [THREADS] [FILL_QUANT]\n",
                argv[0]);
        return 2;
    }
    int metric = vdb_metric_parse(argv[2]);
    if (metric < 0)
        die("metric", NULL);
    int rounds = argc > 4 ? atoi(argv[4]) : 3, threads = argc > 5 ? atoi(argv[5]) : 2;
    int fill_quant = argc > 6 ? vdb_quant_kind_parse(argv[6]) : VDB_QUANT_NONE;
    if (fill_quant < 0)
        die("FILL_QUANT must be none, int8 or binary", NULL);
    vdb_pool_global_configure(threads > 0 ? threads : 1);
    matrix data = load(argv[1], "data.npy", VDB_NPY_F4);
    matrix queries = load(argv[1], "queries.npy", VDB_NPY_F4);
    matrix truth = load(argv[1], "truth.npy", VDB_NPY_I4);
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : queries.rows, k = truth.cols;
    nq = nq < queries.rows ? nq : queries.rows;
    char dir[] = "/tmp/vdb-store-exact-XXXXXX", path[64];
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    snprintf(path, sizeof(path), "%s/s", dir);
    double t0 = now();
    vdb_store *store = fill(path, &data, metric, fill_quant);
    double fill_s = now() - t0;
    static const int kinds[3] = {VDB_QUANT_NONE, VDB_QUANT_INT8, VDB_QUANT_BINARY};
    double best[3] = {1e30, 1e30, 1e30}, build[3] = {0, 0, 0}, recall[3] = {0, 0, 0};
    long long bytes[3] = {0, 0, 0}, reranked[3] = {0, 0, 0}, fallbacks[3] = {0, 0, 0};
    vdb_error err = {0};
    for (int round = 0; round < rounds; round++)
        for (int i = 0; i < 3; i++) {
            t0 = now();
            if (vdb_store_set_quantization(store, kinds[i], &err) != VDB_OK)
                die("set_quantization", &err);
            build[i] = now() - t0;
            long long r0 = figure(store, "reranked_rows"), f0 = figure(store, "float_fallbacks");
            found f = {truth.data, k, 0};
            vdb_query_params p = {.k = k, .exact = 1};
            t0 = now();
            for (size_t q = 0; q < nq; q++) {
                f.truth = (const int32_t *)truth.data + q * k;
                if (vdb_store_query(store, (const float *)queries.data + q * data.cols, 1, &p,
                                    count_hits, &f, &err) != VDB_OK)
                    die("query", &err);
            }
            best[i] = fmin(best[i], now() - t0);
            recall[i] = (double)f.hits / (double)(nq * k);
            bytes[i] = figure(store, "bytes_per_row");
            reranked[i] = (figure(store, "reranked_rows") - r0) / (long long)nq;
            fallbacks[i] = figure(store, "float_fallbacks") - f0;
        }
    printf("{\"n\": %zu, \"dim\": %zu, \"metric\": \"%s\", \"queries\": %zu, \"k\": %zu, "
           "\"rounds\": %d, \"pool_threads\": %d, \"fill_quantization\": \"%s\", "
           "\"fill_seconds\": %.1f,\n",
           data.rows, data.cols, argv[2], nq, k, rounds, threads,
           vdb_quant_kind_name((vdb_quant_kind)fill_quant), fill_s);
    for (int i = 0; i < 3; i++)
        printf(" \"%s\": {\"qps\": %.2f, \"x_float\": %.2f, \"recall_at_k\": %.4f, "
               "\"code_bytes_per_row\": %lld, \"set_seconds\": %.2f, "
               "\"reranked_rows_per_query\": %lld, \"float_fallbacks\": %lld}%s\n",
               vdb_quant_kind_name((vdb_quant_kind)kinds[i]), nq / best[i], best[0] / best[i],
               recall[i], bytes[i], build[i], reranked[i], fallbacks[i], i < 2 ? "," : "");
    printf("}\n");
    vdb_store_close(store);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "store_exact: could not remove %s\n", dir);
    vdb_aligned_free(data.data);
    vdb_aligned_free(queries.data);
    vdb_aligned_free(truth.data);
    return 0;
}
