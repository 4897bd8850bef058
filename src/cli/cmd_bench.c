/* `vdb bench`: measures vdb on synthetic or user-given data.
 *
 * Phases, each timed separately: in-process add (a vecset in batches, no
 * durability), batch exact search (all queries as one GEMM batch; also the
 * ground truth), single-query exact search (one query at a time: QPS,
 * latency percentiles, recall against the batch truth, so the SIMD and the
 * BLAS paths check each other), then HNSW when asked. --save writes the
 * dataset, queries and truth as .npy so bench/peers.py runs the peers on
 * exactly the same data. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/alloc.h"
#include "../core/cpu.h"
#include "../core/fsx.h"
#include "../core/json.h"
#include "../core/pool.h"
#include "../index/flat.h"
#include "../kernel/dist.h"
#include "../kernel/gemm.h"
#include "../store/vecset.h"
#include "bench.h"
#include "cli.h"

typedef struct bench_opts {
    size_t n, dim, nq, k, clusters, add_batch;
    vdb_metric metric;
    int hnsw;
    uint64_t seed;
    int threads;
    int json;
    const char *save_dir, *data_file, *query_file;
    vdb_bench_hnsw_opts hnsw_opts;
} bench_opts;

typedef struct bench_state {
    float *data, *queries;
    size_t n, nq;
    uint32_t dim;
    vdb_vecset *set;
    vdb_hit *truth;
    size_t *truth_counts;
    vdb_json *result;
} bench_state;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vdb bench [options]\n"
            "  --n N               vectors to generate (100000)\n"
            "  --dim D             dimension (384)\n"
            "  --queries Q         held-out queries (1000)\n"
            "  --k K               neighbours per query (10)\n"
            "  --metric M          cosine | euclidean | dot (cosine)\n"
            "  --index I           flat | hnsw (flat)\n"
            "  --clusters C        mixture components (n/100, at least 1)\n"
            "  --seed S            generator seed (42)\n"
            "  --threads T         worker threads (all CPUs)\n"
            "  --json              print one JSON object instead of text\n"
            "  --save DIR          write data.npy, queries.npy, truth.npy into DIR\n"
            "  --data FILE         use this float32 .npy (n x dim) instead of generating\n"
            "  --query-file FILE   queries .npy (with --data; default: first Q rows of data)\n"
            "  --m M --ef-construction E --ef EF --target-recall R   (HNSW)\n");
}

static int parse_opts(int argc, char **argv, bench_opts *o)
{
    static const struct option longs[] = {
        {"n", required_argument, 0, 'n'},         {"dim", required_argument, 0, 'd'},
        {"queries", required_argument, 0, 'q'},   {"k", required_argument, 0, 'k'},
        {"metric", required_argument, 0, 'M'},    {"index", required_argument, 0, 'i'},
        {"clusters", required_argument, 0, 'c'},  {"seed", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'},   {"json", no_argument, 0, 'j'},
        {"save", required_argument, 0, 'S'},      {"data", required_argument, 0, 'D'},
        {"query-file", required_argument, 0, 'Q'}, {"m", required_argument, 0, 'm'},
        {"ef-construction", required_argument, 0, 'e'}, {"ef", required_argument, 0, 'E'},
        {"target-recall", required_argument, 0, 'r'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c, metric;
    memset(o, 0, sizeof(*o));
    o->n = 100000;
    o->dim = 384;
    o->nq = 1000;
    o->k = 10;
    o->seed = 42;
    o->add_batch = 10000;
    o->metric = VDB_METRIC_COSINE;
    o->hnsw_opts.m = 16;
    o->hnsw_opts.ef_construction = 200;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'n': o->n = strtoull(optarg, NULL, 10); break;
        case 'd': o->dim = strtoull(optarg, NULL, 10); break;
        case 'q': o->nq = strtoull(optarg, NULL, 10); break;
        case 'k': o->k = strtoull(optarg, NULL, 10); break;
        case 'c': o->clusters = strtoull(optarg, NULL, 10); break;
        case 's': o->seed = strtoull(optarg, NULL, 10); break;
        case 't': o->threads = atoi(optarg); break;
        case 'j': o->json = 1; break;
        case 'S': o->save_dir = optarg; break;
        case 'D': o->data_file = optarg; break;
        case 'Q': o->query_file = optarg; break;
        case 'm': o->hnsw_opts.m = (uint32_t)atoi(optarg); break;
        case 'e': o->hnsw_opts.ef_construction = (uint32_t)atoi(optarg); break;
        case 'E': o->hnsw_opts.ef = (uint32_t)atoi(optarg); break;
        case 'r': o->hnsw_opts.target_recall = atof(optarg); break;
        case 'M':
            if ((metric = vdb_metric_parse(optarg)) < 0) {
                fprintf(stderr, "vdb bench: unknown metric '%s'\n", optarg);
                return 2;
            }
            o->metric = (vdb_metric)metric;
            break;
        case 'i':
            if (strcmp(optarg, "flat") != 0 && strcmp(optarg, "hnsw") != 0) {
                fprintf(stderr, "vdb bench: --index must be flat or hnsw\n");
                return 2;
            }
            o->hnsw = strcmp(optarg, "hnsw") == 0;
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (o->dim == 0 || o->dim > 8192 || o->k == 0 || o->nq == 0 || (o->n == 0 && !o->data_file)) {
        fprintf(stderr, "vdb bench: need n >= 1, 1 <= dim <= 8192, k >= 1, queries >= 1\n");
        return 2;
    }
    if (o->clusters == 0)
        o->clusters = o->n / 100 ? o->n / 100 : 1;
    o->hnsw_opts.threads = o->threads;
    return 0;
}

static int load_data(const bench_opts *o, bench_state *st, vdb_error *err)
{
    size_t rows, cols;
    int rc;
    if (o->data_file == NULL) {
        st->n = o->n;
        st->nq = o->nq;
        st->dim = (uint32_t)o->dim;
        return vdb_bench_generate(o->n, o->nq, st->dim, o->clusters, o->seed, &st->data,
                                  &st->queries, err);
    }
    if ((rc = vdb_bench_npy_read(o->data_file, &st->data, &st->n, &cols, err)) != VDB_OK)
        return rc;
    st->dim = (uint32_t)cols;
    if (o->query_file != NULL) {
        if ((rc = vdb_bench_npy_read(o->query_file, &st->queries, &st->nq, &rows, err)) != VDB_OK)
            return rc;
        if (rows != cols)
            return vdb_error_set(err, VDB_EDIM, "queries have dim %zu, data %zu", rows, cols);
        return VDB_OK;
    }
    st->nq = o->nq < st->n ? o->nq : st->n;
    st->queries = vdb_malloc(st->nq * cols * sizeof(float));
    if (st->queries == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    memcpy(st->queries, st->data, st->nq * cols * sizeof(float));
    return VDB_OK;
}

static void put_num(vdb_json *obj, const char *key, double value)
{
    vdb_json_object_set_new(obj, key, vdb_json_real(value));
}

/* Adds all rows to a fresh vecset in batches; ids are made beforehand so
 * only the store's work is timed. */
static int bench_add(const bench_opts *o, bench_state *st, vdb_error *err)
{
    char **ids = vdb_calloc(st->n, sizeof(char *));
    double t0, elapsed;
    int rc = VDB_ENOMEM;
    if (ids == NULL)
        return vdb_error_set(err, rc, "out of memory");
    for (size_t i = 0; i < st->n; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "v%zu", i);
        if ((ids[i] = vdb_strdup(buf)) == NULL)
            goto cleanup;
    }
    if ((rc = vdb_vecset_new(st->dim, o->metric, &st->set, err)) != VDB_OK)
        goto cleanup;
    t0 = vdb_bench_now();
    for (size_t at = 0; at < st->n; at += o->add_batch) {
        size_t count = st->n - at < o->add_batch ? st->n - at : o->add_batch;
        rc = vdb_vecset_upsert(st->set, count, st->data + at * st->dim,
                               (const char *const *)ids + at, NULL, NULL, NULL, err);
        if (rc != VDB_OK)
            goto cleanup;
    }
    elapsed = vdb_bench_now() - t0;
    put_num(st->result, "add_vectors_per_s", (double)st->n / elapsed);
    put_num(st->result, "add_seconds", elapsed);
    rc = VDB_OK;
cleanup:
    for (size_t i = 0; i < st->n && ids != NULL; i++)
        vdb_free(ids[i]);
    vdb_free(ids);
    return rc;
}

static int prepare_queries(const bench_opts *o, bench_state *st, vdb_error *err)
{
    for (size_t q = 0; q < st->nq; q++) {
        float *v = st->queries + q * st->dim;
        int rc = vdb_flat_prepare_query(o->metric, v, v, st->dim, err);
        if (rc != VDB_OK)
            return rc;
    }
    return VDB_OK;
}

static int bench_batch(const bench_opts *o, bench_state *st, vdb_error *err)
{
    vdb_vecview view = vdb_vecset_view(st->set);
    double t0, elapsed;
    int rc;
    st->truth = vdb_malloc(st->nq * o->k * sizeof(vdb_hit));
    st->truth_counts = vdb_malloc(st->nq * sizeof(size_t));
    if (st->truth == NULL || st->truth_counts == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    /* One untimed warm-up pass faults the pages in and spins up threads. */
    rc = vdb_flat_search_batch(&view, st->queries, st->nq < 64 ? st->nq : 64, o->k, NULL,
                               st->truth, st->truth_counts, err);
    if (rc != VDB_OK)
        return rc;
    t0 = vdb_bench_now();
    rc = vdb_flat_search_batch(&view, st->queries, st->nq, o->k, NULL, st->truth,
                               st->truth_counts, err);
    elapsed = vdb_bench_now() - t0;
    if (rc != VDB_OK)
        return rc;
    put_num(st->result, "batch_qps", (double)st->nq / elapsed);
    put_num(st->result, "batch_seconds", elapsed);
    put_num(st->result, "batch_gflops",
            2.0 * (double)st->nq * (double)st->n * st->dim / elapsed / 1e9);
    return VDB_OK;
}

static int bench_single(const bench_opts *o, bench_state *st, vdb_error *err)
{
    vdb_vecview view = vdb_vecset_view(st->set);
    vdb_hit *hits = vdb_malloc(st->nq * o->k * sizeof(vdb_hit));
    size_t *counts = vdb_malloc(st->nq * sizeof(size_t));
    double *lat = vdb_malloc(st->nq * sizeof(double));
    double t0, total, p50, p99;
    int rc = VDB_ENOMEM;
    if (hits == NULL || counts == NULL || lat == NULL) {
        vdb_error_set(err, rc, "out of memory");
        goto cleanup;
    }
    t0 = vdb_bench_now();
    for (size_t q = 0; q < st->nq; q++) {
        double start = vdb_bench_now();
        rc = vdb_flat_search(&view, st->queries + q * st->dim, o->k, NULL, hits + q * o->k,
                             &counts[q], err);
        if (rc != VDB_OK)
            goto cleanup;
        lat[q] = vdb_bench_now() - start;
    }
    total = vdb_bench_now() - t0;
    vdb_bench_percentiles(lat, st->nq, &p50, &p99);
    put_num(st->result, "single_qps", (double)st->nq / total);
    put_num(st->result, "p50_ms", p50);
    put_num(st->result, "p99_ms", p99);
    put_num(st->result, "single_gbps", (double)st->n * st->dim * 4.0 * st->nq / total / 1e9);
    put_num(st->result, "recall_at_k",
            vdb_bench_recall(hits, counts, st->truth, st->truth_counts, st->nq, o->k));
    rc = VDB_OK;
cleanup:
    vdb_free(hits);
    vdb_free(counts);
    vdb_free(lat);
    return rc;
}

/* mkdir -p: creates every missing component of `dir`. */
static int save_all(const bench_opts *o, const bench_state *st, vdb_error *err)
{
    char path[4096];
    int32_t *ids;
    int rc;
    if ((rc = vdb_fsx_mkdirs(o->save_dir, 0755, err)) != VDB_OK)
        return rc;
    snprintf(path, sizeof(path), "%s/data.npy", o->save_dir);
    if ((rc = vdb_bench_npy_write_f32(path, st->data, st->n, st->dim, err)) != VDB_OK)
        return rc;
    snprintf(path, sizeof(path), "%s/queries.npy", o->save_dir);
    if ((rc = vdb_bench_npy_write_f32(path, st->queries, st->nq, st->dim, err)) != VDB_OK)
        return rc;
    ids = vdb_malloc(st->nq * o->k * sizeof(int32_t));
    if (ids == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    for (size_t q = 0; q < st->nq; q++)
        for (size_t i = 0; i < o->k; i++)
            ids[q * o->k + i] = i < st->truth_counts[q] ? (int32_t)st->truth[q * o->k + i].id : -1;
    snprintf(path, sizeof(path), "%s/truth.npy", o->save_dir);
    rc = vdb_bench_npy_write_i32(path, ids, st->nq, o->k, err);
    vdb_free(ids);
    return rc;
}

static void describe(const bench_opts *o, const bench_state *st)
{
    vdb_json *r = st->result;
    vdb_json_object_set_new(r, "n", vdb_json_int((long long)st->n));
    vdb_json_object_set_new(r, "dim", vdb_json_int(st->dim));
    vdb_json_object_set_new(r, "queries", vdb_json_int((long long)st->nq));
    vdb_json_object_set_new(r, "k", vdb_json_int((long long)o->k));
    vdb_json_object_set_new(r, "metric", vdb_json_string(vdb_metric_name(o->metric)));
    vdb_json_object_set_new(r, "index", vdb_json_string(o->hnsw ? "hnsw" : "flat"));
    vdb_json_object_set_new(r, "seed", vdb_json_int((long long)o->seed));
    vdb_json_object_set_new(r, "data", vdb_json_string(o->data_file ? o->data_file : "synthetic"));
    vdb_json_object_set_new(r, "isa", vdb_json_string(vdb_isa_name(vdb_dist()->isa)));
    vdb_json_object_set_new(r, "blas", vdb_json_string(vdb_gemm_backend()));
    vdb_json_object_set_new(r, "threads", vdb_json_int(vdb_pool_threads(vdb_pool_global())));
}

static void print_text(const bench_state *st)
{
    static const char *keys[] = {"add_vectors_per_s", "batch_qps", "batch_gflops", "single_qps",
                                 "single_gbps", "p50_ms", "p99_ms", "recall_at_k"};
    printf("vdb bench: %zu x %u, %zu queries, isa %s, %d threads\n", st->n, st->dim, st->nq,
           vdb_isa_name(vdb_dist()->isa), vdb_pool_threads(vdb_pool_global()));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        vdb_json *v = vdb_json_object_get(st->result, keys[i]);
        if (v != NULL)
            printf("  %-20s %.4g\n", keys[i], vdb_json_number_value(v));
    }
}

static int run(const bench_opts *o, bench_state *st, vdb_error *err)
{
    int rc;
    FILE *text = o->json ? stderr : stdout;
    if ((rc = load_data(o, st, err)) != VDB_OK || (rc = bench_add(o, st, err)) != VDB_OK ||
        (rc = prepare_queries(o, st, err)) != VDB_OK || (rc = bench_batch(o, st, err)) != VDB_OK)
        return rc;
    if (o->save_dir != NULL && (rc = save_all(o, st, err)) != VDB_OK)
        return rc;
    if ((rc = bench_single(o, st, err)) != VDB_OK)
        return rc;
    describe(o, st);
    if (o->hnsw) {
        vdb_vecview view = vdb_vecset_view(st->set);
        vdb_json *h = vdb_json_object();
        if (h == NULL)
            return vdb_error_set(err, VDB_ENOMEM, "out of memory");
        vdb_json_object_set_new(st->result, "hnsw", h);
        rc = vdb_bench_hnsw(&view, st->queries, st->nq, st->truth, st->truth_counts, o->k,
                            &o->hnsw_opts, h, text, err);
    }
    return rc;
}

int vdb_cmd_bench(int argc, char **argv)
{
    bench_opts opts;
    bench_state st;
    vdb_error err;
    int rc = parse_opts(argc, argv, &opts);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    vdb_error_clear(&err);
    memset(&st, 0, sizeof(st));
    vdb_pool_global_configure(opts.threads);
    st.result = vdb_json_object();
    rc = st.result ? run(&opts, &st, &err) : VDB_ENOMEM;
    if (rc == VDB_OK) {
        if (opts.json) {
            char *text = vdb_json_dump(st.result, VDB_JSON_DUMP_SORT_KEYS);
            printf("%s\n", text ? text : "{}");
            vdb_json_free_text(text);
        } else {
            print_text(&st);
        }
    } else {
        fprintf(stderr, "vdb bench: %s\n", err.msg[0] ? err.msg : vdb_err_text(rc));
    }
    vdb_json_decref(st.result);
    vdb_vecset_free(st.set);
    vdb_free(st.data);
    vdb_free(st.queries);
    vdb_free(st.truth);
    vdb_free(st.truth_counts);
    return rc == VDB_OK ? 0 : 1;
}
