/* `vdb store-bench --optimize-deletes`: optimize after deletes, graph
 * repaired vs rebuilt, on one store (issue 13).
 *
 * Builds an HNSW store of --n x --dim vectors from the `vdb bench`
 * generator (euclidean, fsync off: the graph is what is measured), waits
 * for the graph, closes it and copies the directory, so both runs start
 * from the same files. Each copy is opened, gets the same --delete-frac of
 * its rows deleted, and is optimized: the first with the default
 * (VDB_STORE_GRAPH_AUTO, which must choose the repair at 10%), the second
 * with VDB_STORE_GRAPH_REBUILD. Reported per run: the optimize call's
 * wall time (the checkpoint, the repair or the wait for the rebuilt graph,
 * until the graph covers every row and the declared recall is measured
 * again), the graph step alone, the calibration that went on after the
 * call returned (a repaired store that scans at its target returns before
 * its full calibration, store.h; waited for before the recall), and recall@10
 * of --queries held-out queries against the store's exact search (a hit
 * counts within the k-th true distance) at the store's default and with
 * the graph at ef 16, 32 and 64 (where graph quality shows). Each
 * run happens once: at 1M rows one rebuild takes minutes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/rng.h"
#include "../store/store.h"
#include "bench.h"

enum { OPT_K = 10, OPT_BATCH = 5000 };

typedef struct opt_answers {
    vdb_hit *hits;   /* nq x OPT_K */
    size_t *counts;  /* nq */
} opt_answers;

static int take_hits(void *ctx, size_t q, const vdb_store_hit *hits, size_t count)
{
    opt_answers *a = ctx;
    a->counts[q] = count;
    for (size_t i = 0; i < count; i++) {
        a->hits[q * OPT_K + i].dist = hits[i].distance;
        a->hits[q * OPT_K + i].id = (uint32_t)i; /* vdb_bench_recall reads distances only */
    }
    return 0;
}

/* The fixed efs recall is also reported at: at the default the planner
 * may scan (recall 1.0 on both graphs), and graph quality shows at low ef
 * (the "recall within 0.005 of the rebuilt graph"). */
static const uint32_t opt_efs[] = {16, 32, 64};
#define OPT_NEFS (sizeof(opt_efs) / sizeof(opt_efs[0]))

/* Recall@OPT_K against the store's exact search: at the store's default
 * (out[0]) and with the graph at each of opt_efs (out[1..]). */
static int store_recall(vdb_store *store, const float *queries, size_t nq, double *out,
                        vdb_error *err)
{
    vdb_query_params approx = {OPT_K, 0, NULL, 0, NULL, 0}, exact = {OPT_K, 0, NULL, 1, NULL, 0};
    opt_answers got = {vdb_malloc(nq * OPT_K * sizeof(vdb_hit)), vdb_calloc(nq, sizeof(size_t))};
    opt_answers truth = {vdb_malloc(nq * OPT_K * sizeof(vdb_hit)), vdb_calloc(nq, sizeof(size_t))};
    int rc = VDB_ENOMEM;
    if (got.hits == NULL || got.counts == NULL || truth.hits == NULL || truth.counts == NULL) {
        vdb_error_set(err, rc, "no memory for %zu queries", nq);
        goto cleanup;
    }
    if ((rc = vdb_store_query(store, queries, nq, &exact, take_hits, &truth, err)) != VDB_OK)
        goto cleanup;
    for (size_t e = 0; e <= OPT_NEFS; e++) {
        approx.ef = e == 0 ? 0 : opt_efs[e - 1];
        if ((rc = vdb_store_query(store, queries, nq, &approx, take_hits, &got, err)) != VDB_OK)
            goto cleanup;
        out[e] = vdb_bench_recall(got.hits, got.counts, truth.hits, truth.counts, nq, OPT_K);
    }
cleanup:
    vdb_free(got.hits);
    vdb_free(got.counts);
    vdb_free(truth.hits);
    vdb_free(truth.counts);
    return rc;
}

static int open_at(const char *dir, vdb_store **out, vdb_error *err)
{
    vdb_store_options options;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    options.wal_checkpoint_bytes = (uint64_t)1 << 40; /* only the measured compaction */
    return vdb_store_open(dir, &options, out, err);
}

static int build_store(const char *dir, const float *data, size_t n, uint32_t dim,
                       vdb_error *err)
{
    vdb_store_config config;
    vdb_store_options options;
    char (*names)[16] = vdb_malloc((size_t)OPT_BATCH * sizeof(*names));
    const char **ids = vdb_malloc((size_t)OPT_BATCH * sizeof(*ids));
    vdb_store *store = NULL;
    int rc = VDB_ENOMEM;
    if (names == NULL || ids == NULL) {
        vdb_error_set(err, rc, "no memory for the ids");
        goto cleanup;
    }
    vdb_store_config_default(&config);
    config.dim = dim;
    config.metric = VDB_METRIC_L2;
    config.index = VDB_INDEX_HNSW;
    vdb_store_options_default(&options);
    options.fsync = VDB_FSYNC_OFF;
    options.wal_checkpoint_bytes = (uint64_t)1 << 40;
    if ((rc = vdb_store_create(dir, &config, &options, &store, err)) != VDB_OK)
        goto cleanup;
    for (size_t at = 0; at < n; at += OPT_BATCH) {
        size_t count = n - at < OPT_BATCH ? n - at : OPT_BATCH;
        for (size_t i = 0; i < count; i++) {
            snprintf(names[i], sizeof(names[i]), "v%zu", at + i);
            ids[i] = names[i];
        }
        if ((rc = vdb_store_add(store, count, data + at * dim, ids, NULL, NULL, err)) != VDB_OK)
            goto cleanup;
    }
    rc = vdb_store_optimize(store, NULL, err);
cleanup:
    if (store != NULL)
        vdb_store_close(store);
    vdb_free(names);
    vdb_free(ids);
    return rc;
}

/* One run: open the copy at `dir`, delete, optimize with `mode`, measure. */
static int run_one(const char *dir, size_t n, double frac, vdb_store_graph_mode mode,
                   const float *queries, size_t nq, const char *label, int json,
                   vdb_error *err)
{
    vdb_store_optimize_info info;
    vdb_store *store;
    vdb_rng rng;
    double t0, seconds, after = 0, recall[1 + OPT_NEFS] = {0};
    size_t deleted = 0;
    int rc = open_at(dir, &store, err);
    if (rc != VDB_OK)
        return rc;
    vdb_rng_seed(&rng, 1313);
    for (size_t r = 0; r < n; r++) {
        char name[24];
        const char *id[1] = {name};
        if (vdb_rng_uniform(&rng) >= frac)
            continue;
        snprintf(name, sizeof(name), "v%zu", r);
        if ((rc = vdb_store_delete(store, 1, id, NULL, err)) != VDB_OK)
            goto cleanup;
        deleted++;
    }
    t0 = vdb_bench_now();
    if ((rc = vdb_store_optimize_mode(store, mode, &info, err)) != VDB_OK)
        goto cleanup;
    seconds = vdb_bench_now() - t0;
    if (info.calibrating) {
        vdb_store_wait_idle(store);
        after = vdb_bench_now() - t0 - seconds;
    }
    if ((rc = store_recall(store, queries, nq, recall, err)) != VDB_OK)
        goto cleanup;
    if (json)
        printf("{\"run\":\"%s\",\"rows\":%zu,\"deleted\":%zu,\"graph\":\"%s\","
               "\"optimize_seconds\":%.3f,\"graph_seconds\":%.3f,"
               "\"calibration_after_seconds\":%.3f,\"recall_at_10\":%.4f,"
               "\"recall_at_10_ef%u\":%.4f,\"recall_at_10_ef%u\":%.4f,"
               "\"recall_at_10_ef%u\":%.4f}\n",
               label, n, deleted, info.graph, seconds, info.graph_seconds, after, recall[0],
               opt_efs[0],
               recall[1], opt_efs[1], recall[2], opt_efs[2], recall[3]);
    else
        printf("%-8s %zu rows, %zu deleted: graph %s, optimize %.2f s (graph step %.2f s; "
               "calibration after the call %.2f s), "
               "recall@10 %.4f at the default, %.4f / %.4f / %.4f at ef %u / %u / %u\n", label,
               n, deleted, info.graph, seconds, info.graph_seconds, after, recall[0], recall[1],
               recall[2], recall[3], opt_efs[0], opt_efs[1], opt_efs[2]);
    fflush(stdout);
cleanup:
    vdb_store_close(store);
    return rc;
}

int vdb_bench_store_optimize(const char *dir, size_t n, uint32_t dim, double frac, size_t nq,
                             uint64_t seed, int json)
{
    char a[4096], b[4096], cmd[8300];
    float *data = NULL, *queries = NULL;
    vdb_error err;
    double t0;
    int rc;
    vdb_error_clear(&err);
    snprintf(a, sizeof(a), "%s/repair", dir);
    snprintf(b, sizeof(b), "%s/rebuild", dir);
    if ((rc = vdb_fsx_mkdirs(dir, 0755, &err)) != VDB_OK)
        goto cleanup;
    if ((rc = vdb_bench_generate(n, nq, dim, n / 100 ? n / 100 : 1, seed, &data, &queries,
                                 &err)) != VDB_OK)
        goto cleanup;
    t0 = vdb_bench_now();
    if ((rc = build_store(a, data, n, dim, &err)) != VDB_OK)
        goto cleanup;
    if (!json)
        printf("built %zu x %u (HNSW, L2) in %.1f s\n", n, dim, vdb_bench_now() - t0);
    snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", a, b);
    if (system(cmd) != 0) {
        rc = vdb_error_set(&err, VDB_EIO, "cannot copy %s", a);
        goto cleanup;
    }
    if ((rc = run_one(a, n, frac, VDB_STORE_GRAPH_AUTO, queries, nq, "default", json, &err)) !=
            VDB_OK ||
        (rc = run_one(b, n, frac, VDB_STORE_GRAPH_REBUILD, queries, nq, "rebuild", json, &err)) !=
            VDB_OK)
        goto cleanup;
cleanup:
    if (rc != VDB_OK)
        fprintf(stderr, "vdb store-bench: %s\n", err.msg);
    vdb_free(data);
    vdb_free(queries);
    return rc == VDB_OK ? 0 : 1;
}
