/* The store's query engine; see query.h for the model. */
#include "query.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/json.h"
#include "../core/pool.h"
#include "../filter/filter.h"
#include "../index/flat.h"
#include "../index/hnsw.h"
#include "../index/quant.h"
#include "../kernel/topk.h"
#include "calib.h"
#include "store_codes.h"
#include "store_filter.h"
#include "store_index.h"
#include "store_int.h"

/* Re-ranking rows by id reads them one by one, several times dearer per
 * byte than the float scan's stream; past an eighth of the rows the code
 * scan has saved less than the re-rank costs, so the float scan answers. */
#define RERANK_DIVISOR 8u
#define RERANK_MIN 1024u

/* Retries when a writer dropped the filter indexes between building them
 * and taking the read guard (they are rebuilt by the next ensure). */
#define PAYLOAD_RETRIES 4

typedef enum {
    QPLAN_EXACT = 0,      /* exact scan over every row */
    QPLAN_GRAPH,          /* HNSW (with the filter hook when filtered) */
    QPLAN_CANDIDATES,     /* exact over the filter's candidate rows */
    QPLAN_EXACT_FILTER    /* exact scan with the filter hook */
} qplan_kind;

typedef struct qplan {
    qplan_kind kind;
    uint32_t ef;
    double target;
    double recall_lo, recall;  /* calibrated estimate for the chosen ef; -1 unknown */
    double graph_ns, exact_ns; /* per query; 0 when not measured */
    const char *why;
} qplan;

/* The plan counters, as vdb_store_recall_json reports them. */
typedef struct query_stats {
    uint64_t exact;      /* queries answered by an exact scan */
    uint64_t graph;      /* by the graph */
    uint64_t candidates; /* by exact search over filter candidates */
    uint64_t widened;    /* filtered graph answers re-run exactly (fewer than k found) */
} query_stats;

static void query_stats_get(vdb_store *store, query_stats *out)
{
    out->exact = atomic_load(&store->q_exact);
    out->graph = atomic_load(&store->q_graph);
    out->candidates = atomic_load(&store->q_candidates);
    out->widened = atomic_load(&store->q_widened);
}

static double target_of(const vdb_store *store, const vdb_query_params *params)
{
    return params->target_recall > 0 ? params->target_recall : store->config.target_recall;
}

/* The graph plan is taken only when its measured cost is below the exact
 * scan's by this factor (see plan_plain). */
#define PLAN_GRAPH_MARGIN 1.1

/* The unfiltered plan. */
static void plan_plain(vdb_store *store, const vdb_vecview *view, size_t nq, size_t k,
                       const vdb_query_params *params, const vdb_calib *cal, qplan *p)
{
    int kb = vdb_calib_k_band(k);
    p->target = target_of(store, params);
    p->recall = p->recall_lo = -1;
    p->kind = QPLAN_EXACT;
    if (params->exact) {
        p->why = "exact requested";
        return;
    }
    if (!vdb_store__index_ready(store, view)) {
        p->why = "no graph (small store or index still building)";
        return;
    }
    if (params->ef > 0) {
        p->kind = QPLAN_GRAPH;
        p->ef = params->ef;
        p->why = "explicit ef";
        return;
    }
    if (p->target >= 1.0) {
        p->why = "target 1.0";
        return;
    }
    if (!cal->valid) {
        p->why = "not calibrated yet";
        return;
    }
    if (kb >= VDB_CALIB_NK) {
        p->why = "k beyond the calibrated bands";
        return;
    }
    const vdb_calib_curve *c = &cal->curve[0][kb];
    int i = vdb_calib_pick(c, p->target);
    /* A batch runs as GEMM, which is not always cheaper per query than
     * the streaming scan (small batches, BLAS start-up): the cheaper one. */
    double per_row = nq > 1 && cal->gemm_ns_row < cal->scan_ns_row ? cal->gemm_ns_row
                                                                   : cal->scan_ns_row;
    p->exact_ns = per_row * view->n;
    if (i < 0) {
        p->why = "no ef reaches the target below the scan's cost";
        return;
    }
    p->graph_ns = c->ns[i];
    p->recall_lo = vdb_calib_curve_lcb(c, (uint32_t)i, &p->recall);
    p->ef = vdb_calib_ef_ladder[i];
    /* The graph must be clearly cheaper: the two costs are measured apart
     * (the scan on a few probes, the graph on the curve's), so a near tie
     * can fall either way with the machine's load, and on a tie the exact
     * scan gives recall 1.0 for the same time. Seen: 20,000 x 64 uniform
     * at 0.90, graph 166 us vs scan 170 us estimated, the graph then ran
     * 0.70x the scan's speed. */
    if (p->exact_ns <= p->graph_ns * PLAN_GRAPH_MARGIN) {
        p->why = p->exact_ns <= p->graph_ns ? "exact scan is cheaper"
                                            : "exact scan within 10% of the graph's cost";
        return;
    }
    p->kind = QPLAN_GRAPH;
    p->why = "graph meets the target";
}

typedef struct cost_ctx {
    const vdb_calib *cal;
    int kb;
    double target;
} cost_ctx;

/* A curve's measured search time at ladder ef `ef`: that entry's, or
 * where the curve skipped it (the filtered and k <= 100 curves keep the
 * coarse steps, calib.c) the next measured entry's above it, which costs
 * at least as much; past its last measured entry (the ladder stopped
 * early: perfect recall or the bound already reached) scaled from that
 * entry in proportion to ef. */
static double ns_at(const vdb_calib_curve *curve, uint32_t ef)
{
    uint32_t last = curve->measured - 1;
    for (uint32_t i = 0; i < curve->measured; i++)
        if (vdb_calib_ef_ladder[i] >= ef && curve->ns[i] > 0)
            return curve->ns[i];
    return curve->ns[last] * (double)ef / (double)vdb_calib_ef_ladder[last];
}

/* Filtered graph cost at c matches of `live` (payload.h's graph_cost):
 * the ef is the largest of the unfiltered one and those of the two
 * calibrated selectivity bands around c/live (never narrower than
 * unfiltered), and the cost is each band's time AT that ef (a band whose
 * own ef is smaller was once charged its own, cheaper time: a 10% filter
 * planned at 1.4 ms ran at ef 384 in 6.8 ms, above an exact search over
 * its candidates); below the lowest band the cost grows as 1/s. */
static double graph_cost(void *ctx, double c, double live, uint32_t *ef)
{
    const cost_ctx *cc = ctx;
    double s = live > 0 ? (c > 1 ? c : 1) / live : 1.0;
    int lo, hi;
    if (s > 1)
        s = 1;
    vdb_calib_s_bands_around(s, &hi, &lo);
    int bands[3] = {0, hi, lo};
    double cost = 0;
    uint32_t best = 0;
    for (int j = 0; j < 3; j++) {
        int i = vdb_calib_pick(&cc->cal->curve[bands[j]][cc->kb], cc->target);
        if (i < 0) {
            *ef = 0;
            return INFINITY;
        }
        if (vdb_calib_ef_ladder[i] > best)
            best = vdb_calib_ef_ladder[i];
    }
    for (int j = 0; j < 3; j++) {
        double ns = ns_at(&cc->cal->curve[bands[j]][cc->kb], best);
        if (j > 0 && s < vdb_calib_s_bands[bands[j]])
            ns *= vdb_calib_s_bands[bands[j]] / s;
        if (ns > cost)
            cost = ns;
    }
    *ef = best;
    return cost;
}

/* Plans a filtered query against the payload (rw held shared); *out
 * receives the selection (written on success only). Errors: those of
 * vdb_payload_selection_new (VDB_EINVAL, VDB_ENOMEM). */
static int plan_filtered(vdb_store *store, const vdb_vecview *view, size_t k,
                         const vdb_query_params *params, const vdb_calib *cal, cost_ctx *cc,
                         qplan *p, vdb_selection **out, vdb_error *err)
{
    vdb_plan_input input = {0};
    int ready = vdb_store__index_ready(store, view);
    p->target = target_of(store, params);
    p->recall = p->recall_lo = -1;
    input.k = k;
    input.ef = params->ef ? params->ef : store->config.hnsw_ef_search;
    input.hnsw = !params->exact && ready;
    cc->cal = cal;
    cc->kb = vdb_calib_k_band(k);
    cc->target = p->target;
    if (input.hnsw && params->ef == 0) {
        if (p->target >= 1.0 || !cal->valid || cc->kb >= VDB_CALIB_NK) {
            /* No trustworthy graph plan: exact, over candidates or with the
             * hook, whichever the planner's row counts favour. */
            input.hnsw = 0;
            p->why = p->target >= 1.0 ? "target 1.0"
                     : !cal->valid    ? "not calibrated yet"
                                      : "k beyond the calibrated bands";
        } else {
            input.graph_cost = graph_cost;
            input.cost_ctx = cc;
            input.ids_ns_row = cal->ids_ns_row;
            input.scan_ns_row = cal->scan_ns_row;
            p->why = "measured costs";
        }
    } else {
        p->why = params->exact ? "exact requested" : !ready ? "no graph" : "explicit ef";
    }
    vdb_selection *sel;
    int rc = vdb_payload_selection_new(vdb_store__filter_payload(store), params->filter, &input,
                                       &sel, err);
    if (rc != VDB_OK)
        return rc;
    const vdb_plan *plan = vdb_selection_plan(sel);
    switch (plan->kind) {
    case VDB_PLAN_EXACT_IDS:
        p->kind = QPLAN_CANDIDATES;
        break;
    case VDB_PLAN_HNSW:
        p->kind = QPLAN_GRAPH;
        p->ef = plan->ef;
        if (input.graph_cost != NULL) {
            /* The bound of the band the ef came from (the weakest one). */
            uint32_t ef;
            p->graph_ns = graph_cost(cc, (double)plan->estimate,
                                     (double)vdb_payload_live(vdb_store__filter_payload(store)),
                                     &ef);
            const vdb_calib_curve *c = &cal->curve[0][cc->kb];
            int i = vdb_calib_pick(c, p->target);
            if (i >= 0) {
                p->recall_lo = vdb_calib_curve_lcb(c, (uint32_t)i, &p->recall);
            }
        }
        break;
    case VDB_PLAN_FLAT:
    case VDB_PLAN_ALL:
    default:
        p->kind = plan->kind == VDB_PLAN_ALL && input.hnsw ? QPLAN_GRAPH : QPLAN_EXACT_FILTER;
        if (p->kind == QPLAN_GRAPH)
            p->ef = input.ef;
        break;
    }
    if (p->kind == QPLAN_CANDIDATES && cal->valid)
        p->exact_ns = cal->ids_ns_row * (double)plan->estimate;
    else if (p->kind == QPLAN_EXACT_FILTER && input.graph_cost != NULL)
        p->exact_ns = cal->scan_ns_row * (double)vdb_payload_live(vdb_store__filter_payload(store));
    *out = sel;
    return VDB_OK;
}

static void describe(const qplan *p, const vdb_selection *sel, char *out)
{
    static const char *names[] = {"exact scan", "graph", "exact over filter candidates",
                                  "exact scan with filter"};
    int len = snprintf(out, VDB_EXPLAIN_MAX, "%s (%s); target %.4g", names[p->kind], p->why != NULL ? p->why : "-",
                       p->target);
    if (len > 0 && len < VDB_EXPLAIN_MAX && p->kind == QPLAN_GRAPH)
        len += snprintf(out + len, VDB_EXPLAIN_MAX - (size_t)len, "; ef %u", p->ef);
    if (len > 0 && len < VDB_EXPLAIN_MAX && p->recall_lo >= 0)
        len += snprintf(out + len, VDB_EXPLAIN_MAX - (size_t)len,
                        "; est. recall %.4f (95%% lower bound %.4f)", p->recall, p->recall_lo);
    if (len > 0 && len < VDB_EXPLAIN_MAX && (p->graph_ns > 0 || p->exact_ns > 0))
        len += snprintf(out + len, VDB_EXPLAIN_MAX - (size_t)len,
                        "; cost graph %.0f us, exact %.0f us", p->graph_ns / 1e3,
                        p->exact_ns / 1e3);
    if (len > 0 && len < VDB_EXPLAIN_MAX && sel != NULL) {
        /* Appended by hand: the filter's own line may not fit, and a cut
         * explain line is fine. */
        const char *parts[2] = {" | filter: ", vdb_selection_plan(sel)->explain};
        size_t at = (size_t)len;
        for (int j = 0; j < 2; j++)
            for (const char *c = parts[j]; *c != '\0' && at + 1 < VDB_EXPLAIN_MAX; c++)
                out[at++] = *c;
        out[at] = '\0';
    }
}

typedef struct graph_job {
    const vdb_hnsw *hnsw;
    const vdb_vecview *view;
    const float *queries;
    size_t k;
    uint32_t ef;
    const vdb_filter_hook *hook;
    uint32_t *tail;                /* unindexed live, accepted rows: [upto, n) */
    size_t ntail;
    uint32_t upto;
    vdb_hit *hits;
    size_t *counts;
    vdb_hit *spare;                /* 2k hits per query for the merge */
    const struct vdb_quant *quant; /* int8 codes to traverse on (the caller's choice), or NULL */
    _Atomic int failed;
    vdb_error err;
} graph_job;

/* The graph part of one query: on the int8 codes when given (traversal
 * on codes, float re-rank), else on the float rows. */
static int graph_part(const graph_job *job, const float *query, vdb_hit *out, size_t *nout,
                      vdb_error *err)
{
    if (job->quant == NULL)
        return vdb_hnsw_search(job->hnsw, job->view, query, job->k, job->ef, job->hook, NULL,
                               out, nout, err);
    vdb_hnsw_codes codes;
    vdb_quant_scratch *scratch;
    int rc = vdb_quant_scratch_new(job->quant, 1, &scratch, err);
    if (rc != VDB_OK)
        return rc;
    rc = vdb_quant_traversal(job->quant, query, scratch, &codes, err);
    if (rc == VDB_OK)
        rc = vdb_hnsw_search_codes(job->hnsw, job->view, query, &codes, job->k, job->ef,
                                   job->hook, NULL, out, nout, err);
    vdb_quant_scratch_free(scratch);
    return rc;
}

/* One query (a pool task): graph for the indexed rows, exact over the
 * tail, merged. */
static void graph_one(void *arg, size_t q, int worker)
{
    graph_job *job = arg;
    const float *query = job->queries + q * job->view->dim;
    vdb_hit *graph = job->spare + q * 2 * job->k, *tail = graph + job->k;
    size_t ngraph = 0, ntail = 0;
    vdb_topk top;
    vdb_error err;
    (void)worker;
    vdb_error_clear(&err);
    if (graph_part(job, query, graph, &ngraph, &err) != VDB_OK ||
        (job->ntail > 0 && vdb_flat_search_ids(job->view, query, job->tail, job->ntail, job->k,
                                               tail, &ntail, &err) != VDB_OK)) {
        if (atomic_exchange(&job->failed, 1) == 0)
            job->err = err;
        job->counts[q] = 0;
        return;
    }
    vdb_topk_init(&top, job->hits + q * job->k, job->k);
    /* The indexer may have linked rows past `upto` already; the tail scan
     * covers those, so taking them from the graph too would duplicate them. */
    for (size_t i = 0; i < ngraph; i++)
        if (graph[i].id < job->upto)
            vdb_topk_push(&top, graph[i].dist, graph[i].id);
    for (size_t i = 0; i < ntail; i++)
        vdb_topk_push(&top, tail[i].dist, tail[i].id);
    job->counts[q] = vdb_topk_sort(&top);
}

/* The live rows past the graph that the filter accepts. */
static uint32_t *tail_rows(const vdb_vecview *view, uint32_t upto, const vdb_filter_hook *hook,
                           size_t *count)
{
    uint32_t *rows = vdb_malloc(((size_t)view->n - upto + 1) * sizeof(uint32_t));
    size_t n = 0;
    if (rows == NULL)
        return NULL;
    for (uint32_t r = upto; r < view->n; r++)
        if (!vdb_vecview_is_deleted(view, r) &&
            (hook == NULL || hook->accept == NULL || hook->accept(hook->ctx, r)))
            rows[n++] = r;
    *count = n;
    return rows;
}

int vdb_store__query_graph(vdb_store *store, const vdb_vecview *view, const float *queries,
                          size_t nq, size_t k, uint32_t ef, const vdb_filter_hook *hook,
                          const struct vdb_quant *codes, vdb_hit *hits, size_t *counts,
                          vdb_error *err)
{
    graph_job job;
    size_t spare_bytes = 0;
    int rc = VDB_OK;
    memset(&job, 0, sizeof(job));
    if ((job.hnsw = vdb_store__index_graph(store, view, &job.upto)) == NULL)
        return vdb_error_set(err, VDB_EINTERNAL,
                             "graph search asked of a store without a ready graph");
    job.view = view;
    job.queries = queries;
    job.k = k;
    job.ef = ef ? ef : store->config.hnsw_ef_search;
    job.hook = hook;
    job.hits = hits;
    job.counts = counts;
    job.quant = codes;
    job.tail = tail_rows(view, job.upto, hook, &job.ntail);
    if (vdb_mul_size(nq, 2 * k, &spare_bytes) != 0 ||
        vdb_mul_size(spare_bytes, sizeof(vdb_hit), &spare_bytes) != 0) {
        rc = vdb_error_set(err, VDB_ETOOBIG, "%zu x %zu results overflow the size type", nq, k);
        goto cleanup;
    }
    job.spare = vdb_malloc(spare_bytes);
    if (job.tail == NULL || job.spare == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "no memory for %zu HNSW queries", nq);
        goto cleanup;
    }
    vdb_pool_run(vdb_pool_global(), nq, graph_one, &job);
    if (atomic_load(&job.failed)) {
        if (err != NULL)
            *err = job.err;
        rc = job.err.code != VDB_OK ? job.err.code : VDB_EINTERNAL;
    }
cleanup:
    vdb_free(job.tail);
    vdb_free(job.spare);
    return rc;
}

int vdb_store__query_scan_codes(vdb_store *store, const struct vdb_quant *codes,
                               const vdb_vecview *view, const float *query, size_t k,
                               const vdb_filter_hook *filter, vdb_hit *out, size_t *nout,
                               vdb_error *err)
{
    size_t reranked = 0, limit = view->n / RERANK_DIVISOR;
    vdb_error local;
    vdb_quant_scratch *scratch;
    int rc = vdb_quant_scratch_new(codes, k, &scratch, err);
    if (rc != VDB_OK)
        return rc;
    rc = vdb_quant_search_exact(codes, view, query, k, filter,
                                    limit > RERANK_MIN ? limit : RERANK_MIN, scratch, out, nout,
                                    &reranked, &local);
    vdb_quant_scratch_free(scratch);
    vdb_store__codes_count_scan(store, reranked, rc == VDB_ETOOBIG);
    if (rc == VDB_ETOOBIG)
        return vdb_flat_search(view, query, k, filter, out, nout, err);
    if (rc != VDB_OK && err != NULL)
        *err = local;
    return rc;
}

/* Exact search over the planner's candidate rows, one query at a time. */
static int search_ids(const vdb_vecview *view, const float *queries, size_t nq, size_t k,
                      const uint32_t *ids, size_t nids, vdb_hit *hits, size_t *counts,
                      vdb_error *err)
{
    for (size_t q = 0; q < nq; q++) {
        int rc = vdb_flat_search_ids(view, queries + q * view->dim, ids, nids, k, hits + q * k,
                                     &counts[q], err);
        if (rc != VDB_OK)
            return rc;
    }
    return VDB_OK;
}

static int search_exact(const vdb_vecview *view, const float *queries, size_t nq, size_t k,
                        const vdb_filter_hook *filter, vdb_hit *hits, size_t *counts,
                        vdb_error *err)
{
    if (nq == 1)
        return vdb_flat_search(view, queries, k, filter, hits, counts, err);
    return vdb_flat_search_batch(view, queries, nq, k, filter, hits, counts, err);
}

/* Runs the plan (rw held shared). */
static int run(vdb_store *store, const vdb_vecview *view, const float *queries, size_t nq,
               size_t k, const qplan *p, vdb_selection *sel, vdb_hit *hits, size_t *counts,
               vdb_error *err)
{
    vdb_filter_hook hook = {vdb_selection_accept, sel};
    const vdb_filter_hook *filter = sel != NULL ? &hook : NULL;
    const struct vdb_quant *codes;
    int rc;
    switch (p->kind) {
    case QPLAN_CANDIDATES: {
        size_t nids;
        const uint32_t *ids = vdb_selection_ids(sel, &nids);
        atomic_fetch_add(&store->q_candidates, nq);
        return search_ids(view, queries, nq, k, ids, nids, hits, counts, err);
    }
    case QPLAN_GRAPH:
        atomic_fetch_add(&store->q_graph, nq);
        /* Traversal on the int8 codes when the store keeps them: the
         * path its calibration measured (plan_*: a mismatch scans). */
        rc = vdb_store__query_graph(store, view, queries, nq, k, p->ef, filter,
                                   vdb_store__codes_traversal(store, view, nq), hits, counts, err);
        if (rc != VDB_OK || filter == NULL)
            return rc;
        /* A filtered graph search can run out of reachable matches: when it
         * found fewer than k, scan exactly so every matching row counts. */
        for (size_t q = 0; q < nq && rc == VDB_OK; q++)
            if (counts[q] < k) {
                atomic_fetch_add(&store->q_widened, 1);
                rc = vdb_flat_search(view, queries + q * view->dim, k, filter, hits + q * k,
                                     &counts[q], err);
            }
        return rc;
    case QPLAN_EXACT:
    case QPLAN_EXACT_FILTER:
    default:
        atomic_fetch_add(&store->q_exact, nq);
        /* A quantized store scans its codes (same answer, fewer bytes). */
        if (nq == 1 && (codes = vdb_store__codes_current(store, view)) != NULL)
            return vdb_store__query_scan_codes(store, codes, view, queries, k, filter, hits,
                                              counts, err);
        return search_exact(view, queries, nq, k, filter, hits, counts, err);
    }
}

static int emit_all(vdb_store *store, size_t nq, size_t k, const vdb_hit *hits,
                    const size_t *counts, vdb_store_hits_fn emit, void *ctx, vdb_error *err)
{
    vdb_store_hit *out = vdb_malloc((k ? k : 1) * sizeof(*out));
    if (out == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for %zu results", k);
    for (size_t q = 0; q < nq; q++) {
        for (size_t i = 0; i < counts[q]; i++) {
            const vdb_hit *h = &hits[q * k + i];
            out[i].id = vdb_vecset_id(store->set, h->id);
            out[i].meta = vdb_vecset_meta(store->set, h->id);
            out[i].row = h->id;
            vdb_metric_report(store->config.metric, h->dist, &out[i].distance,
                              &out[i].similarity);
        }
        if (emit(ctx, q, out, counts[q]) != 0)
            break;
    }
    vdb_free(out);
    return VDB_OK;
}

/* Takes the read guard with the filter indexes present (they can be
 * dropped by a writer between vdb_store__filter_ensure and the guard:
 * checked under the guard, rebuilt and retried). */
static int lock_with_payload(vdb_store *store, int need, vdb_error *err)
{
    for (int attempt = 0; attempt < PAYLOAD_RETRIES; attempt++) {
        int rc;
        if (need && (rc = vdb_store__filter_ensure(store, err)) != VDB_OK)
            return rc;
        pthread_rwlock_rdlock(&store->rw);
        if (!need || vdb_store__filter_payload(store) != NULL)
            return VDB_OK;
        pthread_rwlock_unlock(&store->rw);
    }
    return vdb_error_set(err, VDB_EBUSY, "filter indexes keep being rebuilt; retry the query");
}

int vdb_store_query(vdb_store *store, const float *queries, size_t nq,
                    const vdb_query_params *params, vdb_store_hits_fn emit, void *ctx,
                    vdb_error *err)
{
    uint32_t dim = store->config.dim;
    float *prepared = NULL;
    vdb_hit *hits = NULL;
    size_t *counts = NULL, k, bytes;
    vdb_selection *selection = NULL;
    vdb_calib *cal = NULL;
    int index_fields = 0;
    vdb_vecview view;
    qplan plan;
    cost_ctx cc;
    int rc = VDB_OK;
    if (params == NULL || params->k == 0)
        return vdb_error_set(err, VDB_EINVAL, "k must be at least 1");
    if (params->target_recall < 0 || params->target_recall > 1 || isnan(params->target_recall))
        return vdb_error_set(err, VDB_EINVAL, "target_recall must be in (0, 1]");
    if (nq == 0)
        return VDB_OK;
    if (queries == NULL || vdb_mul_size(nq, (size_t)dim * sizeof(float), &bytes) != 0)
        return vdb_error_set(err, VDB_EINVAL, "bad query batch");
    if ((prepared = vdb_aligned_alloc(64, bytes)) == NULL ||
        (cal = vdb_malloc(sizeof(*cal))) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "no memory for %zu queries", nq);
        goto cleanup;
    }
    for (size_t q = 0; q < nq; q++) {
        if ((rc = vdb_flat_prepare_query(store->config.metric, queries + q * dim,
                                         prepared + q * dim, dim, err)) != VDB_OK) {
            if (nq > 1 && err != NULL) {
                char msg[VDB_ERROR_MSG_MAX];
                memcpy(msg, err->msg, sizeof(msg));
                vdb_error_set(err, rc, "query %zu: %s", q, msg);
            }
            goto cleanup;
        }
    }
    if ((rc = lock_with_payload(store, params->filter != NULL, err)) != VDB_OK)
        goto cleanup;
    view = vdb_vecset_view(store->set);
    /* Read under the guard: an auto store swaps its codes and the curves
     * measured on them in one exclusive hold (calib.c publish). Curves of
     * another traversal than the one run() takes (codes being rebuilt,
     * quantization just changed) do not describe it: plan as uncalibrated
     * until the next calibration. */
    vdb_store_calib_get(store, cal);
    if (cal->valid && cal->path != (vdb_store__codes_traversal(store, &view, 0) != NULL
                                        ? VDB_CALIB_PATH_INT8
                                        : VDB_CALIB_PATH_FLOAT))
        cal->valid = 0;
    k = params->k < view.n ? params->k : view.n;
    if (k == 0) {
        pthread_rwlock_unlock(&store->rw);
        for (size_t q = 0; q < nq && emit != NULL; q++)
            if (emit(ctx, q, NULL, 0) != 0)
                break;
        goto cleanup;
    }
    memset(&plan, 0, sizeof(plan));
    size_t hit_bytes = 0;
    int too_big = vdb_mul_size(nq, k, &hit_bytes) != 0 ||
                  vdb_mul_size(hit_bytes, sizeof(vdb_hit), &hit_bytes) != 0;
    hits = too_big ? NULL : vdb_malloc(hit_bytes);
    counts = vdb_calloc(nq, sizeof(size_t));
    if (too_big)
        rc = vdb_error_set(err, VDB_ETOOBIG, "%zu x %zu results overflow the size type", nq, k);
    else if (hits == NULL || counts == NULL)
        rc = vdb_error_set(err, VDB_ENOMEM, "no memory for %zu x %zu results", nq, k);
    else if (params->filter != NULL)
        rc = plan_filtered(store, &view, k, params, cal, &cc, &plan, &selection, err);
    else
        plan_plain(store, &view, nq, k, params, cal, &plan);
    if (rc == VDB_OK) {
        if (params->explain != NULL)
            describe(&plan, selection, params->explain);
        rc = run(store, &view, prepared, nq, k, &plan, selection, hits, counts, err);
    }
    if (rc == VDB_OK && emit != NULL)
        rc = emit_all(store, nq, k, hits, counts, emit, ctx, err);
    index_fields = selection != NULL && vdb_selection_plan(selection)->unindexed;
    vdb_selection_free(selection);
    pthread_rwlock_unlock(&store->rw);
    /* Real queries join the calibration probes (sampled: see calib.c). */
    if (rc == VDB_OK && params->filter == NULL)
        vdb_store__calib_offer(store, prepared, view.n);
    /* Fields are indexed on first use, by the background indexer. */
    if (index_fields)
        vdb_store__filter_want_fields(store, params->filter);
cleanup:
    vdb_free(cal);
    vdb_free(counts);
    vdb_free(hits);
    vdb_aligned_free(prepared);
    return rc;
}

void vdb_store_recall_summary(vdb_store *store, double *target, double *lower_bound,
                              uint32_t *ef)
{
    vdb_calib cal;
    vdb_store_calib_get(store, &cal);
    *target = store->config.target_recall;
    *lower_bound = -1;
    *ef = 0;
    if (!cal.valid)
        return;
    const vdb_calib_curve *c = &cal.curve[0][0];
    int i = vdb_calib_pick(c, *target);
    if (i >= 0) {
        *lower_bound = vdb_calib_curve_lcb(c, (uint32_t)i, NULL);
        *ef = vdb_calib_ef_ladder[i];
    }
}

/* The re-check after a local graph repair (calib.h), when there was one
 * since the full calibration: "kept" (the picks were re-measured on the
 * repaired graph and held), "recalibrated" (one missed: the figures
 * around it are a full calibration's) or "scans" (the store scanned at its
 * target: curves dropped, every target scans until the full calibration,
 * which follows). */
static void recheck_json(vdb_json *obj, const vdb_calib_recheck *r)
{
    if (r->outcome == VDB_CALIB_RECHECK_NONE)
        return;
    vdb_json *o = vdb_json_object();
    if (o == NULL)
        return;
    int kept = r->outcome == VDB_CALIB_RECHECK_KEPT;
    vdb_json_object_set_new(o, "outcome",
                            vdb_json_string(kept ? "kept"
                                            : r->outcome == VDB_CALIB_RECHECK_SCANS ? "scans"
                                                                                    : "recalibrated"));
    vdb_json_object_set_new(o, "measured_at", vdb_json_int(r->when));
    vdb_json_object_set_new(o, "measured_rows", vdb_json_int((long long)r->live));
    vdb_json_object_set_new(o, "probes", vdb_json_int(r->probes));
    vdb_json_object_set_new(o, "entries_measured", vdb_json_int(r->entries));
    vdb_json_object_set_new(o, "picks_moved_up", vdb_json_int(r->moved));
    if (!kept && r->failed_band >= 0) {
        /* Named from the band tables, e.g. "k<=10 all", "k<=100 2%". */
        char band[48];
        uint32_t kb = vdb_calib_k_bands[r->failed_band % VDB_CALIB_NK];
        double s = vdb_calib_s_bands[r->failed_band / VDB_CALIB_NK];
        if (s >= 1.0)
            snprintf(band, sizeof(band), "k<=%u all", kb);
        else
            snprintf(band, sizeof(band), "k<=%u %g%%", kb, s * 100);
        vdb_json_object_set_new(o, "missed_band", vdb_json_string(band));
    }
    if (r->ef > 0) {
        vdb_json_object_set_new(o, "ef", vdb_json_int(r->ef));
        vdb_json_object_set_new(o, "recall", vdb_json_real(r->recall));
        vdb_json_object_set_new(o, "recall_lower_bound", vdb_json_real(r->recall_lo));
        vdb_json_object_set_new(o, "recall_before", vdb_json_real(r->before));
    }
    vdb_json_object_set_new(o, "seconds", vdb_json_real(r->seconds));
    vdb_json_object_set_new(o, "cpu_seconds", vdb_json_real(r->cpu_seconds));
    vdb_json_object_set_new(obj, "recheck", o);
}

vdb_json *vdb_store_recall_json(vdb_store *store)
{
    vdb_calib cal;
    query_stats qs;
    double target = store->config.target_recall;
    vdb_json *obj = vdb_json_object(), *bands = vdb_json_array(), *plans = vdb_json_object();
    if (obj == NULL || bands == NULL || plans == NULL) {
        vdb_json_decref(obj);
        vdb_json_decref(bands);
        vdb_json_decref(plans);
        return NULL;
    }
    vdb_store_calib_get(store, &cal);
    query_stats_get(store, &qs);
    vdb_json_object_set_new(obj, "target_recall", vdb_json_real(target));
    vdb_json_object_set_new(obj, "calibrated", vdb_json_bool(cal.valid));
    if (cal.valid) {
        vdb_json_object_set_new(obj, "measured_at", vdb_json_int(cal.when));
        vdb_json_object_set_new(obj, "measured_rows", vdb_json_int((long long)cal.live));
        vdb_json_object_set_new(obj, "probes", vdb_json_int(cal.probes));
        vdb_json_object_set_new(obj, "real_probes", vdb_json_int(cal.real_probes));
        /* Which probe classes the bounds stand on (calib.h). */
        vdb_json *cls = vdb_json_array();
        static const char *const names[VDB_CALIB_NCLASS] = {"near", "spread", "real"};
        for (int c = 0; c < VDB_CALIB_NCLASS && cls != NULL; c++)
            if (cal.curve[0][0].classes & (1u << c))
                vdb_json_array_append_new(cls, vdb_json_string(names[c]));
        if (cls != NULL)
            vdb_json_object_set_new(obj, "probe_classes", cls);
        vdb_json_object_set_new(obj, "traversal",
                                vdb_json_string(cal.path == VDB_CALIB_PATH_INT8 ? "int8" : "float"));
        if (cal.auto_ns[0] > 0) {
            /* quantization auto: what decided it (calib.c auto_trial). */
            vdb_json *a = vdb_json_object();
            if (a != NULL) {
                vdb_json_object_set_new(a, "kept", vdb_json_string(cal.auto_kind == VDB_QUANT_INT8 ? "int8" : "none"));
                vdb_json_object_set_new(a, "target_recall", vdb_json_real(cal.auto_target));
                vdb_json_object_set_new(a, "float_plan_us", vdb_json_real(cal.auto_ns[0] / 1e3));
                vdb_json_object_set_new(a, "int8_plan_us", vdb_json_real(cal.auto_ns[1] / 1e3));
                vdb_json_object_set_new(a, "decided_on", vdb_json_string(cal.auto_real ? "real queries" : "synthetic probes"));
                vdb_json_object_set_new(obj, "quantization_auto", a);
            }
        }
        recheck_json(obj, &cal.recheck);
        vdb_json_object_set_new(obj, "calibration_seconds", vdb_json_real(cal.seconds));
        vdb_json_object_set_new(obj, "calibration_cpu_seconds", vdb_json_real(cal.cpu_seconds));
        vdb_json_object_set_new(obj, "exact_scan_ns_per_row", vdb_json_real(cal.scan_ns_row));
        vdb_json_object_set_new(obj, "exact_batch_ns_per_row", vdb_json_real(cal.gemm_ns_row));
        vdb_json_object_set_new(obj, "exact_candidates_ns_per_row",
                                vdb_json_real(cal.ids_ns_row));
        for (int sb = 0; sb < VDB_CALIB_NS; sb++)
            for (int kb = 0; kb < VDB_CALIB_NK; kb++) {
                const vdb_calib_curve *c = &cal.curve[sb][kb];
                int i = vdb_calib_pick(c, target);
                vdb_json *b = vdb_json_object();
                if (b == NULL)
                    continue;
                vdb_json_object_set_new(b, "k_max", vdb_json_int(vdb_calib_k_bands[kb]));
                vdb_json_object_set_new(b, "selectivity", vdb_json_real(vdb_calib_s_bands[sb]));
                if (i >= 0) {
                    double mean, lo = vdb_calib_curve_lcb(c, (uint32_t)i, &mean);
                    vdb_json_object_set_new(b, "ef", vdb_json_int(vdb_calib_ef_ladder[i]));
                    vdb_json_object_set_new(b, "recall", vdb_json_real(mean));
                    vdb_json_object_set_new(b, "recall_lower_bound", vdb_json_real(lo));
                    vdb_json_object_set_new(b, "graph_us", vdb_json_real(c->ns[i] / 1e3));
                } else {
                    /* No measured ef reaches the target: such queries scan. */
                    vdb_json_object_set_new(b, "ef", vdb_json_null());
                    if (c->measured > 0) {
                        uint32_t last = c->measured - 1;
                        vdb_json_object_set_new(
                            b, "best_recall_lower_bound",
                            vdb_json_real(vdb_calib_curve_lcb(c, last, NULL)));
                    }
                }
                vdb_json_array_append_new(bands, b);
            }
    }
    vdb_json_object_set_new(obj, "bands", bands);
    vdb_json_object_set_new(plans, "exact", vdb_json_int((long long)qs.exact));
    vdb_json_object_set_new(plans, "graph", vdb_json_int((long long)qs.graph));
    vdb_json_object_set_new(plans, "candidates", vdb_json_int((long long)qs.candidates));
    vdb_json_object_set_new(plans, "widened_to_exact", vdb_json_int((long long)qs.widened));
    vdb_json_object_set_new(obj, "queries_by_plan", plans);
    return obj;
}
