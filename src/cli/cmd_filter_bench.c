/* `vdb filter-bench`: recall@k and latency of filtered search through the
 * payload planner (exact search over candidates, or filter-aware HNSW with
 * the planner's ef) at filter selectivities from 0.1% to 100%, against
 * brute-force ground truth, next to the unfiltered HNSW query on the same
 * data.
 *
 * Data: vdb bench's clustered generator, cosine, with metadata
 * {"bucket": b, "raw": b}, b uniform in [0, 1000) and independent of the
 * clusters. "bucket" is indexed by the payload, "raw" is not (the sample and
 * scan path). Selectivity s is the filter {"bucket": {"$lt": 1000 s}}.
 * Latencies are single-threaded per query and include planning; the HNSW
 * build uses every core. --sweep adds filter-aware HNSW forced at fixed ef
 * values, the data behind the planner's ef policy (payload_plan.c). */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/json.h"
#include "../core/rng.h"
#include "../filter/filter.h"
#include "../filter/payload.h"
#include "../index/flat.h"
#include "../index/hnsw.h"
#include "../store/vecset.h"
#include "bench.h"
#include "cli.h"

typedef struct fb_opts {
    size_t n, dim, nq, k;
    uint32_t ef;
    uint64_t seed;
    int sweep, json;
} fb_opts;

typedef struct fb_state {
    fb_opts o;
    vdb_vecset *set;
    vdb_vecview view;
    float *queries;
    uint16_t *bucket;
    vdb_payload *payload;
    vdb_hnsw *hnsw;
    vdb_hnsw_scratch *scratch;
    vdb_hit *truth, *got;
    size_t *truth_n, *got_n;
    double *lat;
    double base_p50;
    vdb_json *result;
} fb_state;

typedef struct truth_ctx {
    const uint16_t *bucket;
    unsigned limit;
} truth_ctx;

static const unsigned LIMITS[] = {1, 10, 30, 50, 70, 100, 500, 1000};
#define NLIMITS (sizeof(LIMITS) / sizeof(LIMITS[0]))

static int truth_accept(void *ctx, uint32_t row)
{
    const truth_ctx *t = ctx;
    return t->bucket[row] < t->limit;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: vdb filter-bench [options]\n"
                 "  --n N        vectors (100000)\n"
                 "  --dim D      dimension (384)\n"
                 "  --queries Q  queries (300)\n"
                 "  --k K        neighbours (10)\n"
                 "  --ef EF      HNSW ef of the unfiltered query (64)\n"
                 "  --seed S     generator seed (42)\n"
                 "  --sweep      also force filtered HNSW at fixed ef values\n"
                 "  --json       print one JSON object instead of text\n");
}

static int parse_opts(int argc, char **argv, fb_opts *o)
{
    static const struct option longs[] = {
        {"n", required_argument, 0, 'n'},    {"dim", required_argument, 0, 'd'},
        {"queries", required_argument, 0, 'q'}, {"k", required_argument, 0, 'k'},
        {"ef", required_argument, 0, 'e'},   {"seed", required_argument, 0, 's'},
        {"sweep", no_argument, 0, 'w'},      {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    int c;
    *o = (fb_opts){100000, 384, 300, 10, 64, 42, 0, 0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'n': o->n = strtoull(optarg, NULL, 10); break;
        case 'd': o->dim = strtoull(optarg, NULL, 10); break;
        case 'q': o->nq = strtoull(optarg, NULL, 10); break;
        case 'k': o->k = strtoull(optarg, NULL, 10); break;
        case 'e': o->ef = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 's': o->seed = strtoull(optarg, NULL, 10); break;
        case 'w': o->sweep = 1; break;
        case 'j': o->json = 1; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (o->n < 1000 || o->dim == 0 || o->dim > 8192 || o->nq == 0 || o->k == 0 || o->ef == 0) {
        fprintf(stderr, "vdb filter-bench: need n >= 1000, 1 <= dim <= 8192, queries, k, ef >= 1\n");
        return -1;
    }
    return 0;
}

/* Vectors into a vecset (normalized there), bucket values, prepared queries. */
static int load_data(fb_state *st, vdb_error *err)
{
    float *data = NULL;
    char **ids = NULL;
    int rc = vdb_bench_generate(st->o.n, st->o.nq, (uint32_t)st->o.dim,
                                st->o.n / 100 ? st->o.n / 100 : 1, st->o.seed, &data,
                                &st->queries, err);
    if (rc != VDB_OK)
        return rc;
    if ((rc = vdb_vecset_new((uint32_t)st->o.dim, VDB_METRIC_COSINE, &st->set, err)) != VDB_OK)
        goto cleanup;
    ids = vdb_calloc(st->o.n, sizeof(*ids));
    st->bucket = vdb_malloc(st->o.n * sizeof(*st->bucket));
    if (ids == NULL || st->bucket == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory loading %zu vectors", st->o.n);
        goto cleanup;
    }
    vdb_rng rng;
    vdb_rng_seed(&rng, st->o.seed + 1);
    for (size_t i = 0; i < st->o.n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "v%zu", i);
        if ((ids[i] = vdb_strdup(id)) == NULL) {
            rc = vdb_error_set(err, VDB_ENOMEM, "out of memory for ids");
            goto cleanup;
        }
        st->bucket[i] = (uint16_t)vdb_rng_below(&rng, 1000);
    }
    rc = vdb_vecset_upsert(st->set, st->o.n, data, (const char *const *)ids, NULL, NULL, NULL,
                           err);
    st->view = vdb_vecset_view(st->set);
    for (size_t q = 0; rc == VDB_OK && q < st->o.nq; q++)
        rc = vdb_flat_prepare_query(VDB_METRIC_COSINE, st->queries + q * st->o.dim,
                                    st->queries + q * st->o.dim, (uint32_t)st->o.dim, err);
cleanup:
    for (size_t i = 0; ids != NULL && i < st->o.n; i++)
        vdb_free(ids[i]);
    vdb_free(ids);
    vdb_free(data);
    return rc;
}

/* The payload (metadata cache + index on "bucket"), with its memory. */
static int build_payload(fb_state *st, vdb_error *err)
{
    struct mallinfo2 before = mallinfo2();
    double t0 = vdb_bench_now();
    int rc = vdb_payload_new(&st->payload, err);
    if (rc != VDB_OK)
        return rc;
    for (size_t i = 0; i < st->o.n; i++) {
        char meta[64];
        snprintf(meta, sizeof(meta), "{\"bucket\": %u, \"raw\": %u}", st->bucket[i],
                 st->bucket[i]);
        if ((rc = vdb_payload_set(st->payload, (uint32_t)i, meta, err)) != VDB_OK)
            return rc;
    }
    double t1 = vdb_bench_now();
    struct mallinfo2 cached = mallinfo2();
    rc = vdb_payload_create_index(st->payload, "bucket", err);
    if (rc != VDB_OK)
        return rc;
    double t2 = vdb_bench_now();
    double cache_bytes = (double)(cached.uordblks - before.uordblks);
    vdb_json *p = vdb_json_object();
    vdb_json_object_set_new(p, "set_ms", vdb_json_real((t1 - t0) * 1e3));
    vdb_json_object_set_new(p, "metadata_cache_bytes_per_row",
                            vdb_json_real(cache_bytes / (double)st->o.n));
    vdb_json_object_set_new(p, "index_ms", vdb_json_real((t2 - t1) * 1e3));
    vdb_json_object_set_new(p, "index_bytes",
                            vdb_json_int((long long)vdb_payload_index_memory(st->payload)));
    vdb_json_object_set_new(st->result, "payload", p);
    if (!st->o.json)
        printf("payload: set %zu rows in %.1f ms (metadata cache %.1f MB, %.0f B/row); index on "
               "\"bucket\" built in %.1f ms, %.2f MB\n",
               st->o.n, (t1 - t0) * 1e3, cache_bytes / 1e6, cache_bytes / (double)st->o.n,
               (t2 - t1) * 1e3, (double)vdb_payload_index_memory(st->payload) / 1e6);
    return VDB_OK;
}

static int build_hnsw(fb_state *st, vdb_error *err)
{
    vdb_hnsw_params hp;
    vdb_hnsw_params_default(&hp);
    double t0 = vdb_bench_now();
    int rc = vdb_hnsw_new((uint32_t)st->o.dim, VDB_METRIC_COSINE, &hp, &st->hnsw, err);
    if (rc != VDB_OK)
        return rc;
    rc = vdb_hnsw_build(st->hnsw, &st->view, 0, (uint32_t)st->o.n, err);
    if (rc != VDB_OK)
        return rc;
    if ((rc = vdb_hnsw_scratch_new(&st->scratch, err)) != VDB_OK)
        return rc;
    if (!st->o.json)
        printf("hnsw: built %zu x %zu (M=%u, efC=%u) in %.1f s\n", st->o.n, st->o.dim, hp.m,
               hp.ef_construction, vdb_bench_now() - t0);
    return VDB_OK;
}

/* Sorts st->lat and returns {p50, p99} in ms. */
static void percentiles(fb_state *st, double *p50, double *p99)
{
    vdb_bench_percentiles(st->lat, st->o.nq, p50, p99);
}

static int run_unfiltered(fb_state *st, vdb_error *err)
{
    size_t k = st->o.k, dim = st->o.dim;
    double p50, p99;
    int rc = vdb_flat_search_batch(&st->view, st->queries, st->o.nq, k, NULL, st->truth,
                                   st->truth_n, err);
    for (size_t q = 0; rc == VDB_OK && q < st->o.nq; q++) {
        double start = vdb_bench_now();
        rc = vdb_hnsw_search(st->hnsw, &st->view, st->queries + q * dim, k, st->o.ef, NULL,
                             st->scratch, st->got + q * k, &st->got_n[q], err);
        st->lat[q] = vdb_bench_now() - start;
    }
    if (rc != VDB_OK)
        return rc;
    percentiles(st, &p50, &p99);
    double recall = vdb_bench_recall(st->got, st->got_n, st->truth, st->truth_n, st->o.nq, k);
    st->base_p50 = p50;
    vdb_json *u = vdb_json_object();
    vdb_json_object_set_new(u, "ef", vdb_json_int(st->o.ef));
    vdb_json_object_set_new(u, "recall_at_k", vdb_json_real(recall));
    vdb_json_object_set_new(u, "p50_ms", vdb_json_real(p50));
    vdb_json_object_set_new(u, "p99_ms", vdb_json_real(p99));
    vdb_json_object_set_new(st->result, "unfiltered", u);
    if (!st->o.json)
        printf("\nunfiltered HNSW ef=%u: recall@%zu %.4f, p50 %.3f ms, p99 %.3f ms\n\n"
               "%-6s %-11s %-22s %8s %5s %8s %8s %8s %7s %8s\n",
               st->o.ef, k, recall, p50, p99, "field", "selectivity", "plan", "matches", "ef",
               "plan_ms", "p50_ms", "p99_ms", "recall", "p50/base");
    return VDB_OK;
}

/* One planned, filtered query: select, then search the way the plan says. */
static int planned_query(fb_state *st, const vdb_filter *filter, size_t q, vdb_plan *plan,
                         double *plan_s, vdb_error *err)
{
    size_t k = st->o.k;
    double start = vdb_bench_now();
    vdb_plan_input in = {.k = k, .ef = st->o.ef, .hnsw = 1};
    vdb_selection *sel = NULL;
    int rc = vdb_payload_selection_new(st->payload, filter, &in, &sel, err);
    if (rc != VDB_OK)
        return rc;
    *plan = *vdb_selection_plan(sel);
    *plan_s += vdb_bench_now() - start;
    const float *query = st->queries + q * st->o.dim;
    if (plan->kind == VDB_PLAN_EXACT_IDS) {
        size_t nids;
        const uint32_t *rows = vdb_selection_ids(sel, &nids);
        rc = vdb_flat_search_ids(&st->view, query, rows, nids, k, st->got + q * k, &st->got_n[q],
                                 err);
    } else {
        vdb_filter_hook hook = {vdb_selection_accept, sel};
        rc = vdb_hnsw_search(st->hnsw, &st->view, query, k, plan->ef, &hook, st->scratch,
                             st->got + q * k, &st->got_n[q], err);
    }
    st->lat[q] = vdb_bench_now() - start;
    vdb_selection_free(sel);
    return rc;
}

static int run_selectivity(fb_state *st, const char *field, unsigned limit, vdb_json *rows,
                           vdb_error *err)
{
    char spec[64];
    vdb_plan plan = {0};
    double plan_s = 0, p50, p99;
    snprintf(spec, sizeof(spec), "{\"%s\": {\"$lt\": %u}}", field, limit);
    vdb_filter *filter;
    truth_ctx tc = {st->bucket, limit};
    vdb_filter_hook th = {truth_accept, &tc};
    int rc = vdb_filter_compile_text(spec, strlen(spec), &filter, err);
    if (rc == VDB_OK)
        rc = vdb_flat_search_batch(&st->view, st->queries, st->o.nq, st->o.k, &th, st->truth,
                                   st->truth_n, err);
    for (size_t q = 0; rc == VDB_OK && q < st->o.nq; q++)
        rc = planned_query(st, filter, q, &plan, &plan_s, err);
    vdb_filter_free(filter);
    if (rc != VDB_OK)
        return rc;
    double recall =
        vdb_bench_recall(st->got, st->got_n, st->truth, st->truth_n, st->o.nq, st->o.k);
    percentiles(st, &p50, &p99);
    const char *kind = plan.kind == VDB_PLAN_EXACT_IDS ? "exact-over-candidates"
                       : plan.kind == VDB_PLAN_HNSW    ? "filtered-hnsw"
                                                       : "other";
    vdb_json *r = vdb_json_object();
    vdb_json_object_set_new(r, "field", vdb_json_string(field));
    vdb_json_object_set_new(r, "selectivity", vdb_json_real(limit / 1000.0));
    vdb_json_object_set_new(r, "plan", vdb_json_string(kind));
    vdb_json_object_set_new(r, "matches", vdb_json_int((long long)plan.estimate));
    vdb_json_object_set_new(r, "ef", vdb_json_int(plan.kind == VDB_PLAN_HNSW ? plan.ef : 0));
    vdb_json_object_set_new(r, "plan_ms", vdb_json_real(plan_s / (double)st->o.nq * 1e3));
    vdb_json_object_set_new(r, "p50_ms", vdb_json_real(p50));
    vdb_json_object_set_new(r, "p99_ms", vdb_json_real(p99));
    vdb_json_object_set_new(r, "recall_at_k", vdb_json_real(recall));
    vdb_json_object_set_new(r, "p50_vs_unfiltered", vdb_json_real(p50 / st->base_p50));
    vdb_json_object_set_new(r, "explain", vdb_json_string(plan.explain));
    vdb_json_array_append_new(rows, r);
    if (!st->o.json)
        printf("%-6s %10.1f%% %-22s %8zu %5u %8.3f %8.3f %8.3f %7.4f %7.2fx\n", field,
               limit / 10.0, kind, plan.estimate, plan.kind == VDB_PLAN_HNSW ? plan.ef : 0,
               plan_s / (double)st->o.nq * 1e3, p50, p99, recall, p50 / st->base_p50);
    return VDB_OK;
}

/* Filter-aware HNSW forced at fixed ef for each selectivity. */
static int run_sweep(fb_state *st, vdb_error *err)
{
    static const uint32_t efs[] = {10, 16, 24, 32, 48, 64, 96};
    vdb_json *rows = vdb_json_array();
    size_t k = st->o.k;
    if (!st->o.json)
        printf("\nforced filtered HNSW:\n%-11s %5s %8s %7s\n", "selectivity", "ef", "p50_ms",
               "recall");
    for (size_t s = 0; s < NLIMITS; s++) {
        truth_ctx tc = {st->bucket, LIMITS[s]};
        vdb_filter_hook th = {truth_accept, &tc};
        int rc = vdb_flat_search_batch(&st->view, st->queries, st->o.nq, k, &th, st->truth,
                                       st->truth_n, err);
        for (size_t e = 0; rc == VDB_OK && e < sizeof(efs) / sizeof(efs[0]); e++) {
            double p50, p99;
            for (size_t q = 0; rc == VDB_OK && q < st->o.nq; q++) {
                double start = vdb_bench_now();
                rc = vdb_hnsw_search(st->hnsw, &st->view, st->queries + q * st->o.dim, k,
                                     efs[e], &th, st->scratch, st->got + q * k, &st->got_n[q],
                                     err);
                st->lat[q] = vdb_bench_now() - start;
            }
            percentiles(st, &p50, &p99);
            double recall =
                vdb_bench_recall(st->got, st->got_n, st->truth, st->truth_n, st->o.nq, k);
            vdb_json *r = vdb_json_object();
            vdb_json_object_set_new(r, "selectivity", vdb_json_real(LIMITS[s] / 1000.0));
            vdb_json_object_set_new(r, "ef", vdb_json_int(efs[e]));
            vdb_json_object_set_new(r, "p50_ms", vdb_json_real(p50));
            vdb_json_object_set_new(r, "recall_at_k", vdb_json_real(recall));
            vdb_json_array_append_new(rows, r);
            if (!st->o.json)
                printf("%10.1f%% %5u %8.3f %7.4f\n", LIMITS[s] / 10.0, efs[e], p50, recall);
        }
        if (rc != VDB_OK) {
            vdb_json_decref(rows);
            return rc;
        }
    }
    vdb_json_object_set_new(st->result, "sweep", rows);
    return VDB_OK;
}

static int run_all(fb_state *st, vdb_error *err)
{
    size_t nk = st->o.nq * st->o.k;
    st->truth = vdb_malloc(nk * sizeof(*st->truth));
    st->got = vdb_malloc(nk * sizeof(*st->got));
    st->truth_n = vdb_malloc(st->o.nq * sizeof(*st->truth_n));
    st->got_n = vdb_malloc(st->o.nq * sizeof(*st->got_n));
    st->lat = vdb_malloc(st->o.nq * sizeof(*st->lat));
    if (!st->truth || !st->got || !st->truth_n || !st->got_n || !st->lat)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory for %zu queries", st->o.nq);
    int rc;
    if ((rc = load_data(st, err)) != VDB_OK || (rc = build_payload(st, err)) != VDB_OK ||
        (rc = build_hnsw(st, err)) != VDB_OK || (rc = run_unfiltered(st, err)) != VDB_OK)
        return rc;
    vdb_json *rows = vdb_json_array();
    vdb_json_object_set_new(st->result, "filtered", rows);
    for (size_t s = 0; rc == VDB_OK && s < 2 * NLIMITS; s++) {
        if (s == NLIMITS && !st->o.json)
            printf("(field \"raw\" holds the same values, not indexed)\n");
        rc = run_selectivity(st, s < NLIMITS ? "bucket" : "raw", LIMITS[s % NLIMITS], rows, err);
    }
    if (rc == VDB_OK && st->o.sweep)
        rc = run_sweep(st, err);
    return rc;
}

int vdb_cmd_filter_bench(int argc, char **argv)
{
    fb_state st;
    vdb_error err;
    memset(&st, 0, sizeof(st));
    vdb_error_clear(&err);
    if (parse_opts(argc, argv, &st.o) != 0) {
        usage(stderr);
        return 2;
    }
    st.result = vdb_json_object();
    int rc = st.result == NULL ? VDB_ENOMEM : run_all(&st, &err);
    if (rc == VDB_OK && st.o.json) {
        char *text = vdb_json_dump(st.result, VDB_JSON_DUMP_COMPACT);
        if (text != NULL)
            printf("%s\n", text);
        vdb_json_free_text(text);
    }
    if (rc != VDB_OK)
        fprintf(stderr, "vdb filter-bench: %s\n", err.msg);
    vdb_json_decref(st.result);
    vdb_hnsw_scratch_free(st.scratch);
    vdb_hnsw_free(st.hnsw);
    vdb_payload_free(st.payload);
    vdb_vecset_free(st.set);
    vdb_free(st.queries);
    vdb_free(st.bucket);
    vdb_free(st.truth);
    vdb_free(st.got);
    vdb_free(st.truth_n);
    vdb_free(st.got_n);
    vdb_free(st.lat);
    return rc == VDB_OK ? 0 : 1;
}
