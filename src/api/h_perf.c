/* /performance handlers: compute health, warmup, a real benchmark,
 * optimize and per-store figures.
 *
 * The benchmark never writes into the caller's store (the original did,
 * permanently): it builds a scratch store with the same dimension, metric
 * and index settings in a temporary directory under the data directory
 * (fsync off), adds generated clustered vectors, times single queries
 * through the store's normal search path, measures recall@k against exact
 * search, and deletes the scratch store. */
#include "api_int.h"
#include "qcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/cpu.h"
#include "../core/pool.h"
#include "../core/rng.h"
#include "../store/compute.h"

#define BENCH_MAX_FLOATS (64u * 1024u * 1024u) /* 256 MB of generated vectors */

int vdb_h_perf_health(vdb_req *req)
{
    vdb_json *compute = vdb_json_object(), *out = vdb_json_object(), *ops = vdb_json_array();
    vdb_qcache_stats cache;
    double worst = 0, start = vdb_now_ms();
    /* The README-era page said "mlx_operations": "working" after running
     * one MLX op; here the same verdict comes from a real sgemm checked
     * against a scalar reference (vdb_store_compute_selftest). */
    int rc = vdb_store_compute_selftest(&worst, &req->err);
    if (rc != VDB_OK) {
        vdb_json_decref(compute), vdb_json_decref(out), vdb_json_decref(ops);
        return rc;
    }
    int working = worst < 1e-3;
    vdb_qcache_get_stats(req->api->qcache, &cache);
    vdb_set(compute, "isa", vdb_json_string(vdb_isa_name(vdb_cpu_best_isa())));
    vdb_set(compute, "blas", vdb_json_string(vdb_store_compute_backend()));
    vdb_set(compute, "threads", vdb_json_int(vdb_pool_threads(vdb_pool_global())));
    vdb_set(compute, "cpus", vdb_json_int(vdb_cpu_count()));
    vdb_set(compute, "selftest_max_relative_error", vdb_json_real(worst));
    vdb_set(compute, "selftest_ms", vdb_json_real(vdb_now_ms() - start));
    vdb_json_array_append_new(ops, vdb_json_string("sgemm"));
    vdb_json_array_append_new(ops, vdb_json_string("reference_check"));
    vdb_set(out, "status", vdb_json_string(working ? "healthy" : "degraded"));
    vdb_set(out, "compute", compute);
    vdb_set(out, "stores_loaded", vdb_json_int((long long)vdb_registry_loaded_count(req->api->registry)));
    vdb_set(out, "uptime_seconds", vdb_json_real(vdb_api_uptime(req->api)));
    /* README-era fields (no MLX here: they describe the CPU kernels). */
    vdb_set(out, "mlx_operations", vdb_json_string(working ? "working" : "failed"));
    vdb_set(out, "mlx_available", vdb_json_bool(0));
    vdb_set(out, "cache_status", vdb_json_string(cache.capacity_bytes ? "active" : "disabled"));
    vdb_set(out, "cache_entries", vdb_json_int((long long)cache.entries));
    vdb_set(out, "tested_operations", ops);
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    return vdb_reply_json(req, 200, out);
}

typedef struct warm_ctx {
    vdb_req *req;
    size_t warmed;
    int rc;
} warm_ctx;

static void warm_loaded(void *ctx, vdb_store_handle *handle)
{
    warm_ctx *w = ctx;
    if (!vdb_req_sees_user(w->req, vdb_registry_user(handle)) || w->rc != VDB_OK)
        return;
    w->rc = vdb_api_warm_store(handle, &w->req->err);
    w->warmed += w->rc == VDB_OK;
}

/* An optional integer in 1..max: 0 when absent; present but 0 (or out of
 * range) is a 422 like any other bad value. */
static int opt_positive(vdb_req *req, const char *name, long long max, long long *out)
{
    vdb_json *body = NULL;
    int rc = vdb_req_int(req, name, 0, 0, max, out);
    if (rc != VDB_OK || *out != 0)
        return rc;
    if (vdb_http_query(req->http, name) == NULL &&
        (vdb_req_body(req, 0, &body) != VDB_OK || vdb_json_object_get(body, name) == NULL))
        return VDB_OK;
    return vdb_error_set(&req->err, VDB_EINVAL, "%s must be in 1..%lld, got 0", name, max);
}

int vdb_h_perf_warmup(vdb_req *req)
{
    const char *user_id = NULL, *model_id = NULL;
    double start = vdb_now_ms();
    long long dimension = 0;
    warm_ctx w = {req, 0, VDB_OK};
    int rc = vdb_req_str(req, "user_id", 0, &user_id);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "model_id", 0, &model_id);
    if (rc == VDB_OK)
        rc = opt_positive(req, "dimension", req->api->config.max_dim, &dimension);
    if (rc != VDB_OK)
        return rc;
    if (dimension > 0 && (rc = vdb_store_compute_warm((uint32_t)dimension, &req->err)) != VDB_OK)
        return rc;
    if (user_id != NULL && model_id != NULL) {
        vdb_store_handle *handle;
        if ((rc = vdb_req_store(req, &handle)) != VDB_OK)
            return rc;
        w.rc = vdb_api_warm_store(handle, &req->err);
        w.warmed = w.rc == VDB_OK;
        vdb_registry_release(handle);
    } else {
        vdb_registry_each_loaded(req->api->registry, warm_loaded, &w);
    }
    if (w.rc != VDB_OK)
        return w.rc;
    double ms = vdb_now_ms() - start;
    vdb_json *out = vdb_json_object();
    vdb_set(out, "status", vdb_json_string(dimension > 0 ? "warmup_completed" : "warmed"));
    vdb_set(out, "success", vdb_json_bool(1));
    vdb_set(out, "stores_warmed", vdb_json_int((long long)w.warmed));
    vdb_set(out, "warmup_time_ms", vdb_json_real(ms));
    vdb_set(out, "warmup_time_seconds", vdb_json_real(ms / 1e3));
    if (dimension > 0) {
        vdb_json *ops = vdb_json_array();
        vdb_json_array_append_new(ops, vdb_json_string("random"));
        vdb_json_array_append_new(ops, vdb_json_string("sgemm"));
        vdb_set(out, "dimension", vdb_json_int(dimension));
        vdb_set(out, "operations_tested", ops);
    }
    return vdb_reply_json(req, 200, out);
}

/* ---- benchmark ---- */

typedef struct bench {
    size_t n, nq, k;
    uint32_t dim;
    float *data;
    float *queries;
    uint32_t *truth;  /* nq x k exact rows, UINT32_MAX padded */
    uint32_t *found;
    double *latency_ms;
    size_t slot;      /* query being collected */
    uint32_t *sink;   /* where collect_rows writes */
    double gen_ms;    /* time spent generating data and queries */
} bench;

static void generate(bench *b, uint64_t seed)
{
    vdb_rng rng;
    size_t centers = b->n / 100 + 1;
    vdb_rng_seed(&rng, seed);
    float *center = vdb_malloc((size_t)b->dim * sizeof(float) * (centers < 1024 ? centers : 1024));
    size_t nc = centers < 1024 ? centers : 1024;
    for (size_t i = 0; center && i < nc * b->dim; i++)
        center[i] = (float)vdb_rng_gauss(&rng);
    for (size_t i = 0; i < b->n; i++) {
        const float *c = center ? center + (vdb_rng_below(&rng, nc) * b->dim) : NULL;
        for (uint32_t j = 0; j < b->dim; j++)
            b->data[i * b->dim + j] = (c ? c[j] : 0) + 0.3f * (float)vdb_rng_gauss(&rng);
    }
    for (size_t q = 0; q < b->nq; q++) {
        const float *row = b->data + vdb_rng_below(&rng, b->n) * b->dim;
        for (uint32_t j = 0; j < b->dim; j++)
            b->queries[q * b->dim + j] = row[j] + 0.1f * (float)vdb_rng_gauss(&rng);
    }
    vdb_free(center);
}

static int collect_rows(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    bench *b = ctx;
    uint32_t *out = b->sink + (b->slot + query) * b->k;
    for (size_t i = 0; i < b->k; i++)
        out[i] = i < count ? hits[i].row : UINT32_MAX;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double recall(const bench *b)
{
    size_t hit = 0, total = 0;
    for (size_t q = 0; q < b->nq; q++)
        for (size_t i = 0; i < b->k; i++) {
            uint32_t want = b->truth[q * b->k + i];
            if (want == UINT32_MAX)
                continue;
            total++;
            for (size_t j = 0; j < b->k; j++)
                if (b->found[q * b->k + j] == want) {
                    hit++;
                    break;
                }
        }
    return total ? (double)hit / (double)total : 1.0;
}

/* Rows of one query as a JSON array: what the query cache would hold. */
typedef struct cache_probe {
    vdb_json *rows;
} cache_probe;

static int collect_json(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    cache_probe *c = ctx;
    (void)query;
    c->rows = vdb_json_array();
    for (size_t i = 0; i < count; i++)
        vdb_json_array_append_new(c->rows, vdb_json_int(hits[i].row));
    return 0;
}

/* The README-era "cache_performance" section, measured: a scratch query
 * cache (same implementation as the server's, not shared with it) is
 * asked for each query twice; the first lookup misses, so the query runs
 * and its rows are stored; the second is served from the cache. */
#define BENCH_CACHE_QUERIES 32
#define BENCH_BATCH_QUERIES 100
static int bench_cache(vdb_store *store, bench *b, const vdb_query_params *params, vdb_json **out,
                       vdb_error *err)
{
    size_t n = b->nq < BENCH_CACHE_QUERIES ? b->nq : BENCH_CACHE_QUERIES;
    vdb_qcache *cache = vdb_qcache_new(16u << 20, 4096);
    const uint64_t tag[2] = {1, 0};
    double miss_ms = 0, hit_ms = 0;
    size_t served = 0;
    int rc = VDB_OK;
    if (cache == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory for the benchmark cache");
    for (size_t q = 0; rc == VDB_OK && q < n; q++) {
        const float *key = b->queries + q * b->dim;
        size_t len = b->dim * sizeof(float);
        cache_probe probe = {NULL};
        double t = vdb_now_ms();
        vdb_json *hit = vdb_qcache_get(cache, key, len, tag);
        if (hit == NULL) {
            rc = vdb_store_query(store, key, 1, params, collect_json, &probe, err);
            if (rc == VDB_OK && probe.rows != NULL)
                vdb_qcache_put(cache, key, len, tag, probe.rows, 64 + b->k * 16);
        }
        miss_ms += vdb_now_ms() - t;
        vdb_json_decref(hit), vdb_json_decref(probe.rows);
        t = vdb_now_ms();
        hit = vdb_qcache_get(cache, key, len, tag);
        hit_ms += vdb_now_ms() - t;
        served += hit != NULL;
        vdb_json_decref(hit);
    }
    vdb_qcache_stats st;
    vdb_qcache_get_stats(cache, &st);
    vdb_qcache_free(cache);
    if (rc != VDB_OK)
        return rc;
    vdb_json *c = vdb_json_object();
    uint64_t lookups = st.hits + st.misses;
    vdb_set(c, "queries", vdb_json_int((long long)n));
    vdb_set(c, "uncached_avg_ms", vdb_json_real(n ? miss_ms / (double)n : 0));
    vdb_set(c, "cached_avg_ms", vdb_json_real(n ? hit_ms / (double)n : 0));
    vdb_set(c, "speedup_factor", vdb_json_real(hit_ms > 0 ? miss_ms / hit_ms : 0));
    vdb_set(c, "cache_hits", vdb_json_int((long long)st.hits));
    vdb_set(c, "cache_misses", vdb_json_int((long long)st.misses));
    vdb_set(c, "hit_rate_percent", vdb_json_real(lookups ? 100.0 * (double)st.hits / (double)lookups : 0));
    vdb_set(c, "served_from_cache", vdb_json_int((long long)served));
    vdb_set(c, "method", vdb_json_string("scratch query cache: first lookup runs the query and stores it, second is a hit"));
    *out = c;
    return VDB_OK;
}

static vdb_json *rate_section(double ms, size_t items, const char *count_key, const char *rate_key)
{
    vdb_json *o = vdb_json_object();
    vdb_set(o, count_key, vdb_json_int((long long)items));
    vdb_set(o, "time_seconds", vdb_json_real(ms / 1e3));
    vdb_set(o, rate_key, vdb_json_real(ms > 0 ? (double)items / (ms / 1e3) : 0));
    return o;
}

static int run_bench(vdb_req *req, const vdb_store_config *config, bench *b, vdb_json **out)
{
    char dir[4200];
    vdb_store_options options;
    vdb_store *store;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    int rc = vdb_registry_scratch_open(req->api->registry, config, &options, &store, dir,
                                       sizeof(dir), &req->err);
    if (rc != VDB_OK)
        return rc;
    double t0 = vdb_now_ms();
    for (size_t at = 0; rc == VDB_OK && at < b->n; at += 1000) {
        size_t m = b->n - at < 1000 ? b->n - at : 1000;
        rc = vdb_store_add(store, m, b->data + at * b->dim, NULL, NULL, NULL, &req->err);
    }
    double add_ms = vdb_now_ms() - t0;
    vdb_query_params params = {b->k, 0, NULL, 0, NULL, 0};
    b->sink = b->found;
    double q0 = vdb_now_ms();
    for (size_t q = 0; rc == VDB_OK && q < b->nq; q++) {
        double s = vdb_now_ms();
        b->slot = q;
        rc = vdb_store_query(store, b->queries + q * b->dim, 1, &params, collect_rows, b,
                             &req->err);
        b->latency_ms[q] = vdb_now_ms() - s;
    }
    double query_ms = vdb_now_ms() - q0;
    vdb_query_params exact = {b->k, 0, NULL, 1, NULL, 0};
    b->sink = b->truth;
    b->slot = 0;
    if (rc == VDB_OK)
        rc = vdb_store_query(store, b->queries, b->nq, &exact, collect_rows, b, &req->err);
    double rec = recall(b);
    /* One call with up to BENCH_BATCH_QUERIES queries: the batch path (one
     * sgemm for flat). Bounded so the extra sections add little to a large
     * benchmark's run time. */
    double batch_ms = 0;
    size_t nbatch = b->nq < BENCH_BATCH_QUERIES ? b->nq : BENCH_BATCH_QUERIES;
    b->sink = b->found;
    b->slot = 0;
    if (rc == VDB_OK) {
        double t = vdb_now_ms();
        rc = vdb_store_query(store, b->queries, nbatch, &params, collect_rows, b, &req->err);
        batch_ms = vdb_now_ms() - t;
    }
    vdb_json *cache = NULL;
    if (rc == VDB_OK)
        rc = bench_cache(store, b, &params, &cache, &req->err);
    vdb_store_stats stats;
    vdb_store_get_stats(store, &stats);
    vdb_registry_scratch_drop(store, dir);
    if (rc != VDB_OK)
        return rc;
    qsort(b->latency_ms, b->nq, sizeof(double), cmp_double);
    vdb_json *r = vdb_json_object();
    double add_s = add_ms / 1e3, qps = query_ms > 0 ? (double)b->nq / (query_ms / 1e3) : 0;
    double p50 = b->latency_ms[b->nq / 2];
    double p99 = b->latency_ms[(size_t)((double)(b->nq - 1) * 0.99)];
    double add_rate = add_s > 0 ? (double)b->n / add_s : 0;
    vdb_set(r, "num_vectors", vdb_json_int((long long)b->n));
    vdb_set(r, "num_queries", vdb_json_int((long long)b->nq));
    vdb_set(r, "dimension", vdb_json_int(b->dim));
    vdb_set(r, "metric", vdb_json_string(vdb_metric_name(config->metric)));
    vdb_set(r, "k", vdb_json_int((long long)b->k));
    vdb_set(r, "index_type", vdb_json_string(stats.index_name ? stats.index_name : "flat"));
    vdb_set(r, "add_vectors_per_s", vdb_json_real(add_rate));
    vdb_set(r, "qps", vdb_json_real(qps));
    vdb_set(r, "p50_ms", vdb_json_real(p50));
    vdb_set(r, "p99_ms", vdb_json_real(p99));
    vdb_set(r, "recall_at_k", vdb_json_real(rec));
    vdb_set(r, "add_time_seconds", vdb_json_real(add_s));
    vdb_set(r, "avg_query_time_seconds", vdb_json_real(query_ms / 1e3 / (double)b->nq));
    vdb_set(r, "vectors_per_second", vdb_json_real(add_rate));
    vdb_set(r, "queries_per_second", vdb_json_real(qps));
    vdb_set(r, "durability", vdb_json_string("scratch store, fsync off"));

    /* README-era sections, from the same run. */
    vdb_json *single = vdb_json_object(), *batch, *summary = vdb_json_object();
    vdb_set(single, "queries", vdb_json_int((long long)b->nq));
    vdb_set(single, "k", vdb_json_int((long long)b->k));
    vdb_set(single, "total_time_seconds", vdb_json_real(query_ms / 1e3));
    vdb_set(single, "avg_latency_ms", vdb_json_real(query_ms / (double)b->nq));
    vdb_set(single, "p50_latency_ms", vdb_json_real(p50));
    vdb_set(single, "p99_latency_ms", vdb_json_real(p99));
    vdb_set(single, "queries_per_second", vdb_json_real(qps));
    vdb_set(single, "recall_at_k", vdb_json_real(rec));
    batch = rate_section(batch_ms, nbatch, "queries", "queries_per_second");
    vdb_set(batch, "avg_latency_per_query_ms", vdb_json_real(batch_ms / (double)nbatch));
    vdb_set(batch, "speedup_vs_single",
            vdb_json_real(batch_ms > 0 ? (query_ms / (double)b->nq) / (batch_ms / (double)nbatch) : 0));
    vdb_set(summary, "total_time_seconds",
            vdb_json_real((b->gen_ms + add_ms + query_ms + batch_ms) / 1e3));
    vdb_set(summary, "vectors_per_second", vdb_json_real(add_rate));
    vdb_set(summary, "queries_per_second", vdb_json_real(qps));
    vdb_set(summary, "batch_queries_per_second",
            vdb_json_real(batch_ms > 0 ? (double)nbatch / (batch_ms / 1e3) : 0));
    vdb_set(summary, "avg_query_latency_ms", vdb_json_real(query_ms / (double)b->nq));
    vdb_set(summary, "recall_at_k", vdb_json_real(rec));
    vdb_set(summary, "index_type", vdb_json_string(stats.index_name ? stats.index_name : "flat"));
    vdb_set(summary, "compute", vdb_json_string(vdb_store_compute_backend()));
    vdb_set(r, "data_generation", rate_section(b->gen_ms, b->n + b->nq, "vectors_generated", "vectors_per_second"));
    vdb_set(r, "vector_addition", rate_section(add_ms, b->n, "vectors_added", "vectors_per_second"));
    vdb_set(r, "single_query", single);
    vdb_set(r, "batch_query", batch);
    vdb_set(r, "cache_performance", cache);
    vdb_set(r, "summary", summary);
    *out = r;
    return VDB_OK;
}

int vdb_h_perf_benchmark(vdb_req *req)
{
    vdb_store_handle *handle;
    long long n = 1000, nq = 100, k = 10;
    bench b;
    vdb_json *results = NULL;
    memset(&b, 0, sizeof(b));
    long long vector_dim = 0;
    /* test_size / query_count / vector_dim are the README-era names. */
    int rc = vdb_req_int(req, "num_vectors", 1000, 1, 1000000, &n);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "test_size", n, 1, 1000000, &n);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "num_queries", 100, 1, 10000, &nq);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "query_count", nq, 1, 10000, &nq);
    if (rc == VDB_OK)
        rc = opt_positive(req, "vector_dim", req->api->config.max_dim, &vector_dim);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "k", 10, 1, req->api->config.max_k, &k);
    if (rc == VDB_OK)
        rc = vdb_req_store(req, &handle);
    if (rc != VDB_OK)
        return rc;
    vdb_store_config config = *vdb_store_get_config(vdb_registry_store(handle));
    vdb_registry_release(handle);
    if (vector_dim != 0 && (uint32_t)vector_dim != config.dim)
        return vdb_error_set(&req->err, VDB_EDIM,
                             "vector_dim %lld does not match the store's dimension %u", vector_dim,
                             config.dim);
    if ((double)n * config.dim > BENCH_MAX_FLOATS)
        return vdb_error_set(&req->err, VDB_EINVAL,
                             "num_vectors x dimension is over %u floats; use fewer vectors",
                             BENCH_MAX_FLOATS);
    b.n = (size_t)n, b.nq = (size_t)nq, b.k = (size_t)k, b.dim = config.dim;
    b.data = vdb_malloc(b.n * b.dim * sizeof(float));
    b.queries = vdb_malloc(b.nq * b.dim * sizeof(float));
    b.truth = vdb_malloc(b.nq * b.k * sizeof(uint32_t));
    b.found = vdb_malloc(b.nq * b.k * sizeof(uint32_t));
    b.latency_ms = vdb_malloc(b.nq * sizeof(double));
    if (!b.data || !b.queries || !b.truth || !b.found || !b.latency_ms)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory for the benchmark data");
    if (rc == VDB_OK) {
        double t = vdb_now_ms();
        generate(&b, 42);
        b.gen_ms = vdb_now_ms() - t;
        rc = run_bench(req, &config, &b, &results);
    }
    vdb_free(b.data), vdb_free(b.queries), vdb_free(b.truth), vdb_free(b.found);
    vdb_free(b.latency_ms);
    if (rc != VDB_OK)
        return rc;
    vdb_json *out = vdb_json_object();
    vdb_set(out, "benchmark_results", results);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_perf_optimize(vdb_req *req)
{
    vdb_store_handle *handle;
    size_t vectors = 0;
    int force = 0, rebuild = 0;
    vdb_store_stats before, after;
    vdb_store_optimize_info info;
    /* force_rebuild_index (README era) and rebuild (issue 13) both ask for
     * a fresh graph; without them a store with few deletes gets its graph
     * repaired locally (store.h: VDB_STORE_GRAPH_AUTO). */
    int rc = vdb_req_bool(req, "force_rebuild_index", 0, &force);
    if (rc == VDB_OK)
        rc = vdb_req_bool(req, "rebuild", 0, &rebuild);
    if (rc == VDB_OK)
        rc = vdb_req_store(req, &handle);
    if (rc != VDB_OK)
        return rc;
    vdb_store *store = vdb_registry_store(handle);
    vdb_store_get_stats(store, &before);
    double start = vdb_now_ms();
    rc = vdb_store_optimize_mode(store, force || rebuild ? VDB_STORE_GRAPH_REBUILD
                                                         : VDB_STORE_GRAPH_AUTO,
                                 &info, &req->err);
    vectors = info.vectors;
    double ms = vdb_now_ms() - start;
    vdb_store_get_stats(store, &after);
    vdb_registry_release(handle);
    if (rc != VDB_OK)
        return rc;
    const char *user_id = NULL, *model_id = NULL;
    vdb_req_names(req, &user_id, &model_id);
    vdb_json *results = vdb_json_object(), *out = vdb_json_object();
    /* A flat store has no graph: its exact index is the live rows, current
     * by construction, so only a repaired graph is "not rebuilt". */
    vdb_set(results, "index_rebuilt", vdb_json_bool(strcmp(info.graph, "repaired") != 0));
    vdb_set(results, "graph", vdb_json_string(info.graph));
    vdb_set(results, "graph_seconds", vdb_json_real(info.graph_seconds));
    /* True when the store answers at its target already (it scans there)
     * and the full calibration for other targets goes on in the background. */
    vdb_set(results, "calibrating", vdb_json_bool(info.calibrating));
    vdb_set(results, "deleted_fraction", vdb_json_real(info.deleted_fraction));
    vdb_set(results, "force_rebuild_index", vdb_json_bool(force));
    vdb_set(results, "index_type", vdb_json_string(after.index_name ? after.index_name : "flat"));
    vdb_set(results, "vectors_optimized", vdb_json_int((long long)vectors));
    vdb_set(results, "rows_before", vdb_json_int((long long)before.rows));
    vdb_set(results, "rows_after", vdb_json_int((long long)after.rows));
    vdb_set(results, "tombstones_removed",
            vdb_json_int((long long)(before.rows > after.rows ? before.rows - after.rows : 0)));
    vdb_set(results, "time_seconds", vdb_json_real(ms / 1e3));
    vdb_set(out, "success", vdb_json_bool(1));
    vdb_set(out, "status", vdb_json_string("success"));
    vdb_set(out, "message", vdb_json_string(strcmp(info.graph, "repaired") == 0
                                                ? "Store optimized: graph repaired, tombstones compacted"
                                                : "Store optimized: index rebuilt, tombstones compacted"));
    vdb_set(out, "optimization_time_ms", vdb_json_real(ms));
    vdb_set(out, "vectors_optimized", vdb_json_int((long long)vectors));
    vdb_set(out, "total_time_seconds", vdb_json_real(ms / 1e3));
    if (user_id != NULL && model_id != NULL) {
        vdb_set(out, "user_id", vdb_json_string(user_id));
        vdb_set(out, "model_id", vdb_json_string(model_id));
    }
    vdb_set(out, "optimization_results", results);
    return vdb_reply_json(req, 200, out);
}

typedef struct perf_ctx {
    vdb_req *req;
    vdb_json *stores;
    const char *user_id, *model_id; /* filters, or NULL */
} perf_ctx;

static void perf_one(void *ctx, vdb_store_handle *handle)
{
    perf_ctx *p = ctx;
    if (!vdb_req_sees_user(p->req, vdb_registry_user(handle)) ||
        (p->user_id && strcmp(p->user_id, vdb_registry_user(handle)) != 0) ||
        (p->model_id && strcmp(p->model_id, vdb_registry_model(handle)) != 0))
        return;
    vdb_json_array_append_new(p->stores, vdb_api_store_json(handle));
}

/* Optional user_id / model_id narrow the listing; each, when given, is
 * validated like a store name (422), and a user the key may not see lists
 * nothing rather than erroring, as the unfiltered listing does. */
int vdb_h_perf_stats(vdb_req *req)
{
    perf_ctx p = {req, NULL, NULL, NULL};
    int rc = vdb_req_str(req, "user_id", 0, &p.user_id);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "model_id", 0, &p.model_id);
    if (rc == VDB_OK && p.user_id != NULL)
        rc = vdb_registry_check_name("user_id", p.user_id, &req->err);
    if (rc == VDB_OK && p.model_id != NULL)
        rc = vdb_registry_check_name("model_id", p.model_id, &req->err);
    if (rc != VDB_OK)
        return rc;
    p.stores = vdb_json_array();
    vdb_registry_each_loaded(req->api->registry, perf_one, &p);
    vdb_json *out = vdb_json_object(), *q = vdb_json_object();
    vdb_set(q, "queries_total", vdb_json_int((long long)vdb_counter_get(&req->api->queries)));
    vdb_set(q, "additions_total", vdb_json_int((long long)vdb_counter_get(&req->api->additions)));
    vdb_set(q, "query_p50_ms", vdb_json_real(vdb_histogram_quantile(&req->api->query_hist, 0.5) * 1e3));
    vdb_set(q, "query_p99_ms", vdb_json_real(vdb_histogram_quantile(&req->api->query_hist, 0.99) * 1e3));
    vdb_set(out, "stores", p.stores);
    vdb_set(out, "operations", q);
    vdb_set(out, "cache", vdb_api_cache_json(req->api));
    return vdb_reply_json(req, 200, out);
}

int vdb_h_perf_cache_stats(vdb_req *req)
{
    vdb_json *out = vdb_json_object();
    vdb_set(out, "cache", vdb_api_cache_json(req->api));
    vdb_set(out, "invalidation", vdb_json_string("a store's entries expire at its next write"));
    return vdb_reply_json(req, 200, out);
}

int vdb_h_perf_cache_clear(vdb_req *req)
{
    vdb_json *out = vdb_json_object();
    size_t removed = vdb_qcache_clear(req->api->qcache);
    vdb_set(out, "status", vdb_json_string("cleared"));
    vdb_set(out, "entries_removed", vdb_json_int((long long)removed));
    return vdb_reply_json(req, 200, out);
}
