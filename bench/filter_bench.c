/* Filtered-search benchmark: recall@k and latency of the payload planner
 * (exact search over candidates, or filter-aware HNSW with a widened ef)
 * at filter selectivities 0.1%, 1%, 10%, 50% and 100%, against brute-force
 * ground truth, next to the unfiltered HNSW query on the same data.
 *
 * Data: the core's clustered generator (vdb bench's), cosine, plus one
 * metadata field per row, {"bucket": b} with b uniform in [0, 1000) and
 * independent of the clusters, indexed by the payload. A selectivity s is
 * the filter {"bucket": {"$lt": 1000 s}}.
 *
 * Build and run (from the repository root):
 *   make BUILD=build/filter build/filter/libvdb.a
 *   cc -std=c11 -O2 -D_GNU_SOURCE -pthread -Isrc bench/filter_bench.c src/cli/bench_data.c \
 *      build/filter/libvdb.a -ljansson -lopenblas -lroaring -lm -o build/filter/filter_bench
 *   flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
 *      build/filter/filter_bench [n] [dim] [queries] [ef] [sweep]
 * Latencies are single-threaded per query and include planning (filter
 * evaluation over the indexes); the HNSW build uses every core. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "filter/filter.h"
#include "filter/payload.h"
#include "index/flat.h"
#include "index/hnsw.h"
#include "store/vecset.h"

#define K 10

typedef struct truth_ctx {
    const uint16_t *bucket;
    unsigned limit;
} truth_ctx;

static int truth_accept(void *ctx, uint32_t row)
{
    const truth_ctx *t = ctx;
    return t->bucket[row] < t->limit;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const vdb_error *err)
{
    fprintf(stderr, "filter_bench: %s: %s\n", what, err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    uint32_t dim = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 384;
    size_t nq = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
    uint32_t ef = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 64;
    vdb_error err;
    float *data = NULL, *queries = NULL;
    if (vdb_bench_generate(n, nq, dim, n / 100 ? n / 100 : 1, 42, &data, &queries, &err) != 0)
        die("generate", &err);
    vdb_vecset *set = vdb_vecset_new(dim, VDB_METRIC_COSINE, &err);
    char **ids = vdb_malloc(n * sizeof(*ids));
    uint16_t *bucket = vdb_malloc(n * sizeof(*bucket));
    if (set == NULL || ids == NULL || bucket == NULL)
        die("alloc", &err);
    vdb_rng rng;
    vdb_rng_seed(&rng, 7);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "v%zu", i);
        ids[i] = vdb_strdup(id);
        bucket[i] = (uint16_t)vdb_rng_below(&rng, 1000);
    }
    if (vdb_vecset_upsert(set, n, data, (const char *const *)ids, NULL, NULL, NULL, &err) != 0)
        die("upsert", &err);
    vdb_vecview view = vdb_vecset_view(set);
    for (size_t q = 0; q < nq; q++)
        vdb_flat_prepare_query(VDB_METRIC_COSINE, queries + q * dim, queries + q * dim, dim, NULL);

    /* Payload: metadata cache and the bucket index, with their memory. */
    struct mallinfo2 before = mallinfo2();
    double t0 = vdb_bench_now();
    vdb_payload *payload = vdb_payload_new(&err);
    for (size_t i = 0; i < n; i++) {
        char meta[64];
        snprintf(meta, sizeof(meta), "{\"bucket\": %u, \"raw\": %u}", bucket[i], bucket[i]);
        if (vdb_payload_set(payload, (uint32_t)i, meta, &err) != 0)
            die("payload set", &err);
    }
    double t1 = vdb_bench_now();
    struct mallinfo2 cached = mallinfo2();
    if (vdb_payload_create_index(payload, "bucket", &err) != 0)
        die("index", &err);
    double t2 = vdb_bench_now();
    printf("payload: set %zu rows in %.1f ms (metadata cache %.1f MB, %.0f B/row); "
           "index built in %.1f ms, %.2f MB\n",
           n, (t1 - t0) * 1e3, (double)(cached.uordblks - before.uordblks) / 1e6,
           (double)(cached.uordblks - before.uordblks) / (double)n, (t2 - t1) * 1e3,
           (double)vdb_payload_index_memory(payload) / 1e6);

    vdb_hnsw_params hp;
    vdb_hnsw_params_default(&hp);
    vdb_hnsw *hnsw = vdb_hnsw_new(dim, VDB_METRIC_COSINE, &hp, &err);
    t0 = vdb_bench_now();
    if (hnsw == NULL || vdb_hnsw_build(hnsw, &view, 0, (uint32_t)n, &err) != 0)
        die("hnsw build", &err);
    printf("hnsw: built %zu x %u (M=%u, efC=%u) in %.1f s\n", n, dim, hp.m, hp.ef_construction,
           vdb_bench_now() - t0);
    vdb_hnsw_scratch *scratch = vdb_hnsw_scratch_new(&err);

    vdb_hit *truth = vdb_malloc(nq * K * sizeof(*truth));
    vdb_hit *got = vdb_malloc(nq * K * sizeof(*got));
    size_t *truth_n = vdb_malloc(nq * sizeof(*truth_n));
    size_t *got_n = vdb_malloc(nq * sizeof(*got_n));
    double *lat = vdb_malloc(nq * sizeof(*lat));
    double *plan_t = vdb_malloc(nq * sizeof(*plan_t));

    /* Baseline: unfiltered HNSW at the same ef. */
    if (vdb_flat_search_batch(&view, queries, nq, K, NULL, truth, truth_n, &err) != 0)
        die("truth", &err);
    for (size_t q = 0; q < nq; q++) {
        double s = vdb_bench_now();
        vdb_hnsw_search(hnsw, &view, queries + q * dim, K, ef, NULL, scratch, got + q * K,
                        &got_n[q], &err);
        lat[q] = vdb_bench_now() - s;
    }
    qsort(lat, nq, sizeof(*lat), cmp_double);
    double base_p50 = lat[nq / 2] * 1e3;
    printf("\nunfiltered HNSW ef=%u: recall@%d %.4f, p50 %.3f ms, p99 %.3f ms\n\n", ef, K,
           vdb_bench_recall(got, got_n, truth, truth_n, nq, K), base_p50,
           lat[(nq * 99) / 100] * 1e3);

    printf("%-11s %-22s %8s %6s %9s %9s %9s %8s %9s\n", "selectivity", "plan", "matches", "ef",
           "plan_ms", "p50_ms", "p99_ms", "recall", "p50/base");
    /* The same filters on "raw", which holds the same values but is not
     * indexed (the scan/sample path), follow the indexed ones. */
    const unsigned limits[] = {1, 10, 30, 50, 70, 100, 500, 1000};
    const size_t nlimits = sizeof(limits) / sizeof(limits[0]);
    for (size_t s = 0; s < 2 * nlimits; s++) {
        char spec[64];
        if (s == nlimits)
            printf("\nnot indexed (field \"raw\"):\n");
        snprintf(spec, sizeof(spec), "{\"%s\": {\"$lt\": %u}}", s < nlimits ? "bucket" : "raw",
                 limits[s % nlimits]);
        vdb_filter *filter = vdb_filter_compile_text(spec, strlen(spec), &err);
        truth_ctx tc = {bucket, limits[s % nlimits]};
        vdb_filter_hook th = {truth_accept, &tc};
        if (vdb_flat_search_batch(&view, queries, nq, K, &th, truth, truth_n, &err) != 0)
            die("truth", &err);
        vdb_plan plan = {0};
        for (size_t q = 0; q < nq; q++) {
            double start = vdb_bench_now();
            vdb_plan_input in = {K, ef, 1, 0, 0};
            vdb_selection *sel = vdb_payload_select(payload, filter, &in, &err);
            if (sel == NULL)
                die("select", &err);
            plan = *vdb_selection_plan(sel);
            double planned = vdb_bench_now();
            if (plan.kind == VDB_PLAN_EXACT_IDS) {
                size_t nids;
                const uint32_t *rows = vdb_selection_ids(sel, &nids);
                if (vdb_flat_search_ids(&view, queries + q * dim, rows, nids, K, got + q * K,
                                        &got_n[q], &err) != 0)
                    die("search ids", &err);
            } else {
                vdb_filter_hook hook = {vdb_selection_accept, sel};
                if (vdb_hnsw_search(hnsw, &view, queries + q * dim, K, plan.ef, &hook, scratch,
                                    got + q * K, &got_n[q], &err) != 0)
                    die("hnsw search", &err);
            }
            lat[q] = vdb_bench_now() - start;
            plan_t[q] = planned - start;
            vdb_selection_free(sel);
        }
        double recall = vdb_bench_recall(got, got_n, truth, truth_n, nq, K);
        double plan_sum = 0;
        for (size_t q = 0; q < nq; q++)
            plan_sum += plan_t[q];
        qsort(lat, nq, sizeof(*lat), cmp_double);
        char label[16];
        snprintf(label, sizeof(label), "%.1f%%", limits[s % nlimits] / 10.0);
        printf("%-11s %-22s %8zu %6u %9.3f %9.3f %9.3f %8.4f %8.2fx\n", label,
               plan.kind == VDB_PLAN_EXACT_IDS ? "exact-over-candidates"
               : plan.kind == VDB_PLAN_HNSW    ? "filtered-hnsw"
                                               : "other",
               plan.estimate, plan.kind == VDB_PLAN_HNSW ? plan.ef : 0,
               plan_sum / (double)nq * 1e3, lat[nq / 2] * 1e3, lat[(nq * 99) / 100] * 1e3,
               recall, lat[nq / 2] * 1e3 / base_p50);
        printf("            explain: %s\n", plan.explain);
        vdb_filter_free(filter);
    }
    if (argc > 5 && strcmp(argv[5], "sweep") == 0) {
        /* Filter-aware HNSW forced at each selectivity over a range of ef:
         * the data behind the planner's ef policy. */
        printf("\nforced filtered HNSW (no exact path):\n%-11s %6s %9s %8s\n", "selectivity",
               "ef", "p50_ms", "recall");
        const unsigned efs[] = {10, 16, 24, 32, 48, 64, 96};
        for (size_t s = 0; s < nlimits; s++) {
            truth_ctx tc = {bucket, limits[s]};
            vdb_filter_hook th = {truth_accept, &tc};
            if (vdb_flat_search_batch(&view, queries, nq, K, &th, truth, truth_n, &err) != 0)
                die("truth", &err);
            for (size_t e = 0; e < sizeof(efs) / sizeof(efs[0]); e++) {
                for (size_t q = 0; q < nq; q++) {
                    double start = vdb_bench_now();
                    vdb_hnsw_search(hnsw, &view, queries + q * dim, K, efs[e], &th, scratch,
                                    got + q * K, &got_n[q], &err);
                    lat[q] = vdb_bench_now() - start;
                }
                qsort(lat, nq, sizeof(*lat), cmp_double);
                printf("%-10.1f%% %6u %9.3f %8.4f\n", limits[s] / 10.0, efs[e],
                       lat[nq / 2] * 1e3, vdb_bench_recall(got, got_n, truth, truth_n, nq, K));
            }
        }
    }
    return 0;
}
