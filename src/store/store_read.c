/* The store's read side: queries, lookups, counts and stats. Everything
 * here holds the rwlock shared, so reads run in parallel with each other
 * and with the fsync wait of writers; only the short in-memory apply of a
 * write excludes them. */
#include "store.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../filter/filter.h"
#include "../index/flat.h"
#include "store_filter.h"
#include "store_index.h"
#include "store_int.h"

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

/* Runs the queries the way the plan says: without a filter (or with the
 * filter as a hook) the HNSW graph answers when the store has one covering
 * most rows and exact search was not requested, else rows are scanned
 * exactly; a small filtered candidate set is searched exactly. */
static int search_rows(vdb_store *store, const vdb_vecview *view, const float *queries,
                       size_t nq, size_t k, const vdb_query_params *params,
                       vdb_selection *selection, vdb_hit *hits, size_t *counts, vdb_error *err)
{
    vdb_filter_hook hook = {vdb_selection_accept, selection};
    const vdb_filter_hook *filter = NULL;
    uint32_t ef = params->ef;
    if (selection != NULL) {
        const vdb_plan *plan = vdb_selection_plan(selection);
        if (params->explain != NULL)
            snprintf(params->explain, VDB_EXPLAIN_MAX, "%s", plan->explain);
        if (plan->kind == VDB_PLAN_EXACT_IDS) {
            size_t nids;
            const uint32_t *ids = vdb_selection_ids(selection, &nids);
            return search_ids(view, queries, nq, k, ids, nids, hits, counts, err);
        }
        if (plan->kind != VDB_PLAN_ALL)
            filter = &hook;
        /* The planner sizes ef for the filter: wider when matches are rare
         * among the nodes the search visits, narrower when the graph search
         * would only spend time on rows the filter refuses. */
        if (plan->kind == VDB_PLAN_HNSW && plan->ef > 0)
            ef = plan->ef;
    }
    if (!params->exact) {
        int rc = vdb_store_index_search(store, view, queries, nq, k, ef, filter, hits, counts,
                                        err);
        if (rc != VDB_ENOTFOUND)
            return rc;
    }
    if (nq == 1)
        return vdb_flat_search(view, queries, k, filter, hits, counts, err);
    return vdb_flat_search_batch(view, queries, nq, k, filter, hits, counts, err);
}

/* Plans a filtered query against the payload (rw held shared). */
static vdb_selection *plan_filter(vdb_store *store, const vdb_query_params *params, size_t k,
                                  vdb_error *err)
{
    vdb_plan_input input = {0};
    input.k = k;
    input.ef = params->ef ? params->ef : store->config.hnsw_ef_search;
    input.hnsw = !params->exact && strcmp(vdb_store_index_name(store), "hnsw") == 0;
    return vdb_payload_select(vdb_store_filter_payload(store), params->filter, &input, err);
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

int vdb_store_query(vdb_store *store, const float *queries, size_t nq,
                    const vdb_query_params *params, vdb_store_hits_fn emit, void *ctx,
                    vdb_error *err)
{
    uint32_t dim = store->config.dim;
    float *prepared = NULL;
    vdb_hit *hits = NULL;
    size_t *counts = NULL, k, bytes;
    vdb_selection *selection = NULL;
    int index_fields = 0;
    vdb_vecview view;
    int rc = VDB_OK;
    if (params == NULL || params->k == 0)
        return vdb_error_set(err, VDB_EINVAL, "k must be at least 1");
    if (nq == 0)
        return VDB_OK;
    if (queries == NULL || vdb_mul_size(nq, (size_t)dim * sizeof(float), &bytes) != 0)
        return vdb_error_set(err, VDB_EINVAL, "bad query batch");
    if ((prepared = vdb_aligned_alloc(64, bytes)) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for %zu queries", nq);
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
    if (params->filter != NULL && (rc = vdb_store_filter_ensure(store, err)) != VDB_OK)
        goto cleanup;
    pthread_rwlock_rdlock(&store->rw);
    view = vdb_vecset_view(store->set);
    k = params->k < view.n ? params->k : view.n;
    if (k == 0) {
        pthread_rwlock_unlock(&store->rw);
        for (size_t q = 0; q < nq && emit != NULL; q++)
            if (emit(ctx, q, NULL, 0) != 0)
                break;
        goto cleanup;
    }
    size_t hit_bytes = 0;
    int too_big = vdb_mul_size(nq, k, &hit_bytes) != 0 ||
                  vdb_mul_size(hit_bytes, sizeof(vdb_hit), &hit_bytes) != 0;
    hits = too_big ? NULL : vdb_malloc(hit_bytes);
    counts = vdb_calloc(nq, sizeof(size_t));
    if (too_big)
        rc = vdb_error_set(err, VDB_ETOOBIG, "%zu x %zu results overflow the size type", nq, k);
    else if (hits == NULL || counts == NULL)
        rc = vdb_error_set(err, VDB_ENOMEM, "no memory for %zu x %zu results", nq, k);
    else if (params->filter != NULL && (selection = plan_filter(store, params, k, err)) == NULL)
        rc = err != NULL && err->code != VDB_OK ? err->code : VDB_ENOMEM;
    else
        rc = search_rows(store, &view, prepared, nq, k, params, selection, hits, counts, err);
    if (rc == VDB_OK && emit != NULL)
        rc = emit_all(store, nq, k, hits, counts, emit, ctx, err);
    index_fields = selection != NULL && vdb_selection_plan(selection)->unindexed;
    vdb_selection_free(selection);
    pthread_rwlock_unlock(&store->rw);
    /* Fields are indexed on first use: the next query with them plans
     * from bitmaps instead of evaluating rows one by one. */
    if (index_fields)
        vdb_store_filter_index_fields(store, params->filter);
cleanup:
    vdb_free(counts);
    vdb_free(hits);
    vdb_aligned_free(prepared);
    return rc;
}

int vdb_store_get(vdb_store *store, const char *id, float *vector_out, char **meta_out,
                  vdb_error *err)
{
    int64_t row;
    char *meta = NULL;
    int rc = VDB_OK;
    if (id == NULL)
        return vdb_error_set(err, VDB_EINVAL, "id is required");
    pthread_rwlock_rdlock(&store->rw);
    row = vdb_vecset_find(store->set, id);
    if (row < 0) {
        rc = vdb_error_set(err, VDB_ENOTFOUND, "id '%s' not found", id);
    } else {
        const char *stored = vdb_vecset_meta(store->set, (uint32_t)row);
        if (meta_out != NULL && stored != NULL && (meta = vdb_strdup(stored)) == NULL)
            rc = vdb_error_set(err, VDB_ENOMEM, "no memory for metadata");
        else if (vector_out != NULL)
            memcpy(vector_out, vdb_vecset_vector(store->set, (uint32_t)row),
                   store->config.dim * sizeof(float));
    }
    pthread_rwlock_unlock(&store->rw);
    if (rc == VDB_OK && meta_out != NULL)
        *meta_out = meta;
    return rc;
}

size_t vdb_store_count(vdb_store *store)
{
    size_t count;
    pthread_rwlock_rdlock(&store->rw);
    count = vdb_vecset_count(store->set);
    pthread_rwlock_unlock(&store->rw);
    return count;
}

int vdb_store_count_where(vdb_store *store, const struct vdb_filter *filter, size_t *count,
                          vdb_error *err)
{
    int rc;
    if (filter == NULL) {
        *count = vdb_store_count(store);
        return VDB_OK;
    }
    if ((rc = vdb_store_filter_ensure(store, err)) != VDB_OK)
        return rc;
    pthread_rwlock_rdlock(&store->rw);
    rc = vdb_payload_count(vdb_store_filter_payload(store), filter, count, err);
    pthread_rwlock_unlock(&store->rw);
    return rc;
}

void vdb_store_get_stats(vdb_store *store, vdb_store_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    pthread_rwlock_rdlock(&store->rw);
    stats->vectors = vdb_vecset_count(store->set);
    stats->rows = vdb_vecset_rows(store->set);
    stats->memory_bytes = vdb_vecset_memory(store->set) + vdb_store_index_memory(store);
    stats->index_name = vdb_store_index_name(store);
    stats->index_rows = vdb_store_index_rows(store);
    pthread_rwlock_unlock(&store->rw);
    stats->wal_bytes = vdb_wal_size(store->wal);
    stats->checkpoints = atomic_load(&store->checkpoints);
    stats->wal_dropped_bytes = store->wal_dropped;
    stats->wal_lsn = vdb_wal_last_lsn(store->wal);
    stats->wal_syncs = vdb_wal_syncs(store->wal);
    stats->read_only = store->options.read_only || vdb_wal_failed(store->wal);
}
