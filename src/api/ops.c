/* The API's shared operations: what more than one handler file (or the
 * dispatcher) needs, kept in one file under the handlers so no handler
 * file calls another and the dispatcher calls no handler directly.
 *
 * Here: parsing and applying an add (/vectors/add, /admin/add_test_vectors,
 * /v1/batch/add), a result item, a new store's configuration, store and
 * system figures (/health, /admin/stats, /monitoring, /performance), warming
 * a store (startup and /performance/warmup). The BLAS self-test, warm-up
 * and name are the store layer's (store/compute.h). */
#include "api_int.h"
#include "qcache.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../store/query.h"
#include "../store/store_codes.h"
#include "floatparse.h"

/* The metrics' label tables: here, under the handlers that read them, not
 * in api.c (the dispatcher), so no handler depends on the file above it. */
const int vdb_api_statuses[VDB_NSTATUS] = {200, 204, 400, 401, 403, 404, 405, 409,
                                           413, 415, 422, 429, 500, 503, 507, 0};

const char *const vdb_rate_class_names[VDB_RATE_NCLASSES] = {"query", "add", "batch", "admin",
                                                             "public"};

/* Appends the store's dimension to a dimension error message. */
int vdb_api_with_store_dim(vdb_req *req, uint32_t dim)
{
    char msg[VDB_ERROR_MSG_MAX];
    snprintf(msg, sizeof(msg), "%s", req->err.msg);
    return vdb_error_set(&req->err, VDB_EDIM, "%s (the store's dimension is %u)", msg, dim);
}

/* ---- add ---- */

void vdb_add_batch_free(add_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->metas)
            vdb_json_free_text(b->metas[i]);
        if (b->id_bufs)
            vdb_free(b->id_bufs[i]);
    }
    if (!b->vectors_borrowed)
        vdb_free(b->vectors);
    vdb_free((void *)b->ids);
    vdb_free(b->id_bufs);
    vdb_free(b->metas);
}

static int parse_one_meta(vdb_req *req, add_batch *b, size_t i, vdb_json *meta)
{
    if (meta == NULL || vdb_jtype(meta) == VDB_JSON_NULL)
        return VDB_OK;
    if (vdb_jtype(meta) != VDB_JSON_OBJECT)
        return vdb_error_set(&req->err, VDB_EINVAL, "metadata[%zu] must be an object", i);
    vdb_json *id = vdb_json_object_get(meta, "id");
    if (id != NULL && vdb_jtype(id) == VDB_JSON_STRING) {
        b->ids[i] = vdb_json_string_value(id);
    } else if (id != NULL && vdb_jtype(id) == VDB_JSON_INT) {
        b->id_bufs[i] = vdb_malloc(32);
        if (b->id_bufs[i] == NULL)
            return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
        snprintf(b->id_bufs[i], 32, "%lld", vdb_json_int_value(id));
        b->ids[i] = b->id_bufs[i];
    } else if (id != NULL && vdb_jtype(id) != VDB_JSON_NULL) {
        return vdb_error_set(&req->err, VDB_EINVAL, "metadata[%zu].id must be a string or integer",
                             i);
    }
    if (b->ids[i] != NULL && (b->ids[i][0] == '\0' || strlen(b->ids[i]) > VDB_MAX_ID_LEN))
        return vdb_error_set(&req->err, VDB_EINVAL, "metadata[%zu].id must be 1..%u bytes", i,
                             VDB_MAX_ID_LEN);
    b->metas[i] = vdb_json_dump(meta, VDB_JSON_DUMP_COMPACT);
    if (b->metas[i] == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    if (strlen(b->metas[i]) > VDB_MAX_META_BYTES)
        return vdb_error_set(&req->err, VDB_EINVAL, "metadata[%zu] is over %u bytes", i,
                             VDB_MAX_META_BYTES);
    return VDB_OK;
}

int vdb_add_batch_parse(vdb_req *req, vdb_json *body, uint32_t dim, vdb_floatmatrix *fast,
                        add_batch *b)
{
    int rc;
    memset(b, 0, sizeof(*b));
    b->dim = dim;
    if (fast != NULL) {
        if (dim != 0 && fast->dim != dim)
            return vdb_error_set(&req->err, VDB_EDIM, "vectors[0] has %u components, expected %u",
                                 fast->dim, dim);
        b->vectors = fast->data;
        b->n = fast->rows;
        b->dim = fast->dim;
        fast->data = NULL;
    } else {
        rc = vdb_req_matrix(req, vdb_json_object_get(body, "vectors"), "vectors",
                            req->api->config.max_batch, &b->dim, &b->vectors, &b->n);
        if (rc != VDB_OK)
            return rc;
    }
    if (b->dim > req->api->config.max_dim)
        return vdb_error_set(&req->err, VDB_EINVAL, "dimension %u is over the limit %u", b->dim,
                             req->api->config.max_dim);
    vdb_json *metadata = vdb_json_object_get(body, "metadata");
    if (metadata != NULL && vdb_jtype(metadata) != VDB_JSON_NULL &&
        (vdb_jtype(metadata) != VDB_JSON_ARRAY || vdb_json_array_size(metadata) != b->n))
        return vdb_error_set(&req->err, VDB_EINVAL,
                             "Vectors and metadata must have the same length (%zu vectors)", b->n);
    b->ids = vdb_calloc(b->n, sizeof(*b->ids));
    b->id_bufs = vdb_calloc(b->n, sizeof(*b->id_bufs));
    b->metas = vdb_calloc(b->n, sizeof(*b->metas));
    if (b->ids == NULL || b->id_bufs == NULL || b->metas == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->n && vdb_jtype(metadata) == VDB_JSON_ARRAY; i++)
        if ((rc = parse_one_meta(req, b, i, vdb_json_array_get(metadata, i))) != VDB_OK)
            return rc;
    return VDB_OK;
}

void vdb_api_store_config(const vdb_api *api, uint32_t dim, vdb_store_config *config)
{
    vdb_store_config_default(config);
    config->dim = dim;
    config->metric = VDB_METRIC_COSINE;
    config->index = api->config.enable_hnsw ? VDB_INDEX_AUTO : VDB_INDEX_FLAT;
    config->hnsw_threshold = api->config.hnsw_threshold;
}

static vdb_json *ids_json(char **ids, size_t n)
{
    vdb_json *arr = vdb_json_array();
    for (size_t i = 0; arr != NULL && i < n; i++)
        vdb_json_array_append_new(arr, vdb_json_string(ids[i] ? ids[i] : ""));
    return arr;
}

int vdb_vectors_add(vdb_req *req, int create_missing, vdb_json **result)
{
    vdb_json *body;
    const char *user_id, *model_id;
    vdb_store_handle *handle = NULL;
    add_batch batch;
    char **ids_out = NULL;
    double start = vdb_now_ms();
    vdb_floatmatrix fast;
    memset(&batch, 0, sizeof(batch));
    int have_fast;
    int rc = vdb_req_body_or_matrix(req, "vectors", 1, req->api->config.max_batch, &fast,
                                    &have_fast, &body);
    if (rc == VDB_OK)
        rc = vdb_req_names(req, &user_id, &model_id);
    if (rc == VDB_OK) {
        rc = vdb_registry_acquire(req->api->registry, user_id, model_id, &handle, &req->err);
        if (rc == VDB_ENOTFOUND && !create_missing)
            rc = vdb_req_not_found(req, user_id, model_id);
        else if (rc == VDB_ENOTFOUND)
            rc = VDB_OK;
    }
    if (rc != VDB_OK) {
        if (have_fast)
            vdb_floatmatrix_free(&fast);
        return rc;
    }
    uint32_t dim = handle ? vdb_store_get_config(vdb_registry_store(handle))->dim : 0;
    if (handle != NULL && vdb_store_get_config(vdb_registry_store(handle))->dim_from_first_add)
        dim = 0; /* the first add sets it (below) */
    rc = vdb_add_batch_parse(req, body, dim, have_fast ? &fast : NULL, &batch);
    if (have_fast)
        vdb_floatmatrix_free(&fast);
    if (rc == VDB_EDIM && handle != NULL)
        rc = vdb_api_with_store_dim(req, dim);
    if (rc == VDB_OK && handle == NULL) {
        vdb_store_config config;
        vdb_api_store_config(req->api, batch.dim, &config);
        rc = vdb_registry_create(req->api->registry, user_id, model_id, &config, &handle,
                                 &req->err);
        if (rc == VDB_EEXIST) /* created by a concurrent request meanwhile */
            rc = vdb_registry_acquire(req->api->registry, user_id, model_id, &handle,
                                      &req->err);
        if (rc == VDB_OK && vdb_store_get_config(vdb_registry_store(handle))->dim != batch.dim)
            rc = vdb_error_set(&req->err, VDB_EDIM, "vectors have %u components, the store %u",
                               batch.dim,
                               vdb_store_get_config(vdb_registry_store(handle))->dim);
    }
    if (rc == VDB_OK && dim == 0 && handle != NULL &&
        (rc = vdb_store_adopt_dim(vdb_registry_store(handle), batch.dim, &req->err)) == VDB_OK &&
        vdb_store_get_config(vdb_registry_store(handle))->dim != batch.dim)
        rc = vdb_api_with_store_dim(req, vdb_store_get_config(vdb_registry_store(handle))->dim);
    if (rc == VDB_OK && (ids_out = vdb_calloc(batch.n, sizeof(*ids_out))) == NULL)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    if (rc == VDB_OK)
        rc = vdb_store_add(vdb_registry_store(handle), batch.n, batch.vectors, batch.ids,
                           (const char *const *)batch.metas, ids_out, &req->err);
    if (rc == VDB_OK) {
        double ms = vdb_now_ms() - start;
        vdb_counter_add(&req->api->additions, batch.n);
        vdb_histogram_observe(&req->api->add_hist, ms / 1e3);
        vdb_json *out = vdb_json_object();
        vdb_set(out, "success", vdb_json_bool(1));
        vdb_set(out, "vectors_added", vdb_json_int((long long)batch.n));
        vdb_set(out, "total_vectors",
                vdb_json_int((long long)vdb_store_count(vdb_registry_store(handle))));
        vdb_set(out, "processing_time_ms", vdb_json_real(ms));
        vdb_set(out, "ids", ids_json(ids_out, batch.n));
        *result = out;
    }
    for (size_t i = 0; ids_out != NULL && i < batch.n; i++)
        vdb_free(ids_out[i]);
    vdb_free(ids_out);
    vdb_add_batch_free(&batch);
    vdb_registry_release(handle);
    return rc;
}

vdb_json *vdb_api_hit_item(const vdb_store_hit *hit, size_t rank)
{
    vdb_json *item = vdb_json_object(), *meta = NULL;
    /* Stored metadata is an object the store validated on insert; anything
     * else reads as none. Running out of memory is a failure, not "none". */
    int rc = hit->meta ? vdb_json_parse(hit->meta, strlen(hit->meta), 0, &meta, NULL) : VDB_OK;
    if (meta == NULL || vdb_jtype(meta) != VDB_JSON_OBJECT) {
        vdb_json_decref(meta);
        meta = rc == VDB_ENOMEM ? NULL : vdb_json_object();
    }
    if (item == NULL || meta == NULL) {
        vdb_json_decref(item);
        vdb_json_decref(meta);
        return NULL;
    }
    for (void *it = vdb_json_object_iter(meta); it; it = vdb_json_object_next(meta, it))
        vdb_json_object_set(item, vdb_json_iter_key(it), vdb_json_iter_value(it));
    /* A numeric metadata id comes back as the number given (the original
     * echoed the value); the store keys it by its decimal text. */
    vdb_json *given = vdb_json_object_get(meta, "id");
    char text[32];
    if (vdb_jtype(given) == VDB_JSON_INT &&
        snprintf(text, sizeof(text), "%lld", vdb_json_int_value(given)) > 0 &&
        strcmp(text, hit->id) == 0)
        vdb_set(item, "id", vdb_json_int(vdb_json_int_value(given)));
    else
        vdb_set(item, "id", vdb_json_string(hit->id));
    vdb_set(item, "metadata", meta);
    vdb_set(item, "similarity_score", vdb_json_real(hit->similarity));
    vdb_set(item, "distance", vdb_json_real(hit->distance));
    vdb_set(item, "rank", vdb_json_int((long long)rank));
    vdb_set(item, "index", vdb_json_int((long long)hit->row));
    return item;
}


size_t vdb_api_rss_bytes(void)
{
    long pages = 0, resident = 0;
    char text[256];
    if (vdb_fsx_read_text("/proc/self/statm", text, sizeof(text), NULL, NULL) != VDB_OK ||
        sscanf(text, "%ld %ld", &pages, &resident) != 2 || resident < 0)
        return 0;
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

void vdb_api_mem_info(size_t *total, size_t *available)
{
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    *total = pages > 0 ? (size_t)pages * (size_t)page : 0;
    *available = avail > 0 ? (size_t)avail * (size_t)page : 0;
    char text[8192]; /* /proc/meminfo is ~1.5 KB; MemAvailable is its third line */
    if (vdb_fsx_read_text("/proc/meminfo", text, sizeof(text), NULL, NULL) == VDB_OK) {
        const char *line = strstr(text, "MemAvailable:");
        unsigned long long kb;
        if (line != NULL && sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            *available = (size_t)kb * 1024;
    }
}

void vdb_api_disk_info(const vdb_api *api, uint64_t *total, uint64_t *free_bytes)
{
    struct statvfs st;
    *total = *free_bytes = 0;
    if (statvfs(vdb_registry_data_dir(api->registry), &st) == 0) {
        *total = (uint64_t)st.f_blocks * st.f_frsize;
        *free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    }
}

typedef struct totals_ctx {
    vdb_req *req;
    size_t stores, vectors, bytes;
} totals_ctx;

static void add_totals(void *ctx, vdb_store_handle *handle)
{
    totals_ctx *t = ctx;
    vdb_store_stats stats;
    if (t->req != NULL && !vdb_req_sees_user(t->req, vdb_registry_user(handle)))
        return;
    vdb_store_get_stats(vdb_registry_store(handle), &stats);
    t->stores++;
    t->vectors += stats.vectors;
    t->bytes += stats.memory_bytes;
}

void vdb_api_store_totals_all(vdb_api *api, size_t *stores, size_t *vectors, size_t *bytes)
{
    totals_ctx t = {NULL, 0, 0, 0};
    vdb_registry_each_loaded(api->registry, add_totals, &t);
    *stores = t.stores;
    *vectors = t.vectors;
    *bytes = t.bytes;
}

void vdb_api_store_totals(vdb_req *req, size_t *stores, size_t *vectors, size_t *bytes)
{
    totals_ctx t = {req, 0, 0, 0};
    vdb_registry_each_loaded(req->api->registry, add_totals, &t);
    *stores = t.stores;
    *vectors = t.vectors;
    *bytes = t.bytes;
}

vdb_json *vdb_api_store_json(vdb_store_handle *handle)
{
    vdb_store *store = vdb_registry_store(handle);
    const vdb_store_config *config = vdb_store_get_config(store);
    vdb_store_stats stats;
    vdb_store_get_stats(store, &stats);
    vdb_json *obj = vdb_json_object();
    if (obj == NULL)
        return NULL;
    vdb_set(obj, "user_id", vdb_json_string(vdb_registry_user(handle)));
    vdb_set(obj, "model_id", vdb_json_string(vdb_registry_model(handle)));
    vdb_set(obj, "vector_count", vdb_json_int((long long)stats.vectors));
    vdb_set(obj, "vectors", vdb_json_int((long long)stats.vectors));
    vdb_set(obj, "metadata", vdb_json_int((long long)stats.vectors));
    vdb_set(obj, "dimension", vdb_json_int(config->dim));
    vdb_set(obj, "metric", vdb_json_string(vdb_metric_name(config->metric)));
    vdb_set(obj, "memory_usage_mb", vdb_json_real((double)stats.memory_bytes / 1048576.0));
    vdb_set(obj, "index_type", vdb_json_string(stats.index_name ? stats.index_name : "flat"));
    vdb_set(obj, "rows", vdb_json_int((long long)stats.rows));
    vdb_set(obj, "index_rows", vdb_json_int((long long)stats.index_rows));
    vdb_set(obj, "wal_bytes", vdb_json_int((long long)stats.wal_bytes));
    vdb_set(obj, "wal_lsn", vdb_json_int((long long)stats.wal_lsn));
    vdb_set(obj, "checkpoints", vdb_json_int((long long)stats.checkpoints));
    vdb_set(obj, "read_only", vdb_json_bool(stats.read_only));
    vdb_set(obj, "recall", vdb_store_recall_json(store));
    vdb_set(obj, "quantization", vdb_store_codes_json(store));
    return obj;
}

vdb_json *vdb_api_store_entry(vdb_req *req, const char *user_id, const char *model_id)
{
    vdb_store_handle *handle;
    vdb_error err;
    vdb_json *entry;
    vdb_error_clear(&err);
    int rc = vdb_registry_acquire(req->api->registry, user_id, model_id, &handle, &err);
    if (rc == VDB_OK) {
        entry = vdb_api_store_json(handle);
        vdb_registry_release(handle);
        if (entry != NULL)
            vdb_json_object_set_new(entry, "state", vdb_json_string("loaded"));
        return entry;
    }
    /* Listed even when it cannot be opened, with why. */
    entry = vdb_json_object();
    if (entry == NULL)
        return NULL;
    vdb_json_object_set_new(entry, "user_id", vdb_json_string(user_id));
    vdb_json_object_set_new(entry, "model_id", vdb_json_string(model_id));
    vdb_json_object_set_new(entry, "state",
                            vdb_json_string(rc == VDB_ECORRUPT  ? "quarantined"
                                            : rc == VDB_ELOCKED ? "locked"
                                                                : "unavailable"));
    vdb_json_object_set_new(entry, "reason", vdb_json_string(err.msg));
    return entry;
}

vdb_json *vdb_api_cache_json(const vdb_api *api)
{
    vdb_qcache_stats st;
    vdb_json *out = vdb_json_object();
    uint64_t lookups;
    vdb_qcache_get_stats(api->qcache, &st);
    lookups = st.hits + st.misses;
    vdb_json_object_set_new(out, "hits", vdb_json_int((long long)st.hits));
    vdb_json_object_set_new(out, "misses", vdb_json_int((long long)st.misses));
    vdb_json_object_set_new(out, "hit_rate",
                            vdb_json_real(lookups ? (double)st.hits / (double)lookups : 0.0));
    vdb_json_object_set_new(out, "entries", vdb_json_int((long long)st.entries));
    vdb_json_object_set_new(out, "bytes", vdb_json_int((long long)st.bytes));
    vdb_json_object_set_new(out, "capacity_bytes", vdb_json_int((long long)st.capacity_bytes));
    vdb_json_object_set_new(out, "max_entries", vdb_json_int((long long)st.max_entries));
    vdb_json_object_set_new(out, "inserts", vdb_json_int((long long)st.inserts));
    vdb_json_object_set_new(out, "evictions", vdb_json_int((long long)st.evictions));
    return out;
}

static int ignore_hits(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    (void)ctx, (void)query, (void)hits, (void)count;
    return 0;
}

/* Warming a store = opening it and running one exact query, which streams
 * every row once (faulting in mapped pages, filling caches). */
int vdb_api_warm_store(vdb_store_handle *handle, vdb_error *err)
{
    vdb_store *store = vdb_registry_store(handle);
    uint32_t dim = vdb_store_get_config(store)->dim;
    if (vdb_store_count(store) == 0)
        return VDB_OK;
    float *query = vdb_malloc(dim * sizeof(float));
    if (query == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < dim; i++)
        query[i] = 1.0f / (float)(i + 1);
    vdb_query_params params = {1, 0, NULL, 1, NULL, 0};
    int rc = vdb_store_query(store, query, 1, &params, ignore_hits, NULL, err);
    vdb_free(query);
    return rc;
}
