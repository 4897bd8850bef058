/* /admin handlers: store lifecycle (create, delete, stats, list), the
 * README-era add_test_vectors and stats, server figures, optimize and
 * per-user key management. Export/import live in h_zip.c.
 *
 * A per-user key may manage its own user's stores; any other user's store
 * answers 404 as if it did not exist (vdb_req_names). */
#include "api_int.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/limits.h"
#include "../core/log.h"
#include "batchops.h"
#include "freeze.h"

static int parse_index(vdb_req *req, const char *name, vdb_index_kind *out)
{
    int kind = name != NULL ? vdb_index_kind_parse(name) : VDB_INDEX_AUTO;
    if (kind == VDB_INDEX_AUTO)
        *out = req->api->config.enable_hnsw ? VDB_INDEX_AUTO : VDB_INDEX_FLAT;
    else if (kind >= 0)
        *out = (vdb_index_kind)kind;
    else
        return vdb_error_set(&req->err, VDB_EINVAL, "index must be auto, flat or hnsw, not '%s'",
                             name);
    return VDB_OK;
}

static int config_uint(vdb_req *req, vdb_json *config, const char *name, uint32_t max,
                       uint32_t *out)
{
    vdb_json *value = config ? vdb_json_object_get(config, name) : NULL;
    if (value == NULL || vdb_jtype(value) == VDB_JSON_NULL)
        return VDB_OK;
    long long v = vdb_json_int_value(value);
    if (vdb_jtype(value) != VDB_JSON_INT || v < 1 || v > (long long)max)
        return vdb_error_set(&req->err, VDB_EINVAL, "config.%s must be an integer in 1..%u", name,
                             max);
    *out = (uint32_t)v;
    return VDB_OK;
}

/* The "quantization" field: absent or null keeps `*out`. */
static int parse_quantization(vdb_req *req, int *out)
{
    const char *name = NULL;
    int rc = vdb_req_str(req, "quantization", 0, &name);
    if (rc != VDB_OK || name == NULL)
        return rc;
    int kind = vdb_store_quant_parse(name);
    if (kind < 0)
        return vdb_error_set(&req->err, VDB_EINVAL,
                             "quantization must be auto, none, int8 or binary, not '%s'", name);
    *out = kind;
    return VDB_OK;
}

/* A number in (0, 1] at body[name]; absent = keep `*out`. */
static int parse_store_config(vdb_req *req, vdb_json *body, vdb_store_config *config)
{
    long long dim = 384;
    const char *metric = NULL, *index = NULL;
    vdb_store_config_default(config);
    config->hnsw_threshold = req->api->config.hnsw_threshold;
    int rc = vdb_req_int(req, "dimension", 384, 1, req->api->config.max_dim, &dim);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "metric", 0, &metric);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "index", 0, &index);
    if (rc != VDB_OK)
        return rc;
    int parsed = metric ? vdb_metric_parse(metric) : VDB_METRIC_COSINE;
    if (parsed < 0)
        return vdb_error_set(&req->err, VDB_EINVAL,
                             "metric must be cosine, euclidean (l2) or dot (inner_product), not '%s'",
                             metric);
    config->dim = (uint32_t)dim;
    /* Without a dimension, the README-era original took it from the first
     * add: 384 stands until then (vdb_store_adopt_dim). */
    config->dim_from_first_add = vdb_http_query(req->http, "dimension") == NULL &&
                                 (body == NULL || vdb_json_object_get(body, "dimension") == NULL ||
                                  vdb_jtype(vdb_json_object_get(body, "dimension")) == VDB_JSON_NULL);
    config->metric = (vdb_metric)parsed;
    if ((rc = parse_index(req, index, &config->index)) != VDB_OK)
        return rc;
    vdb_json *extra = body ? vdb_json_object_get(body, "config") : NULL;
    if (extra != NULL && vdb_jtype(extra) != VDB_JSON_NULL &&
        vdb_jtype(extra) != VDB_JSON_OBJECT)
        return vdb_error_set(&req->err, VDB_EINVAL, "config must be an object");
    if ((rc = config_uint(req, extra, "M", 256, &config->hnsw_m)) == VDB_OK &&
        (rc = config_uint(req, extra, "ef_construction", 10000, &config->hnsw_ef_construction)) ==
            VDB_OK &&
        (rc = config_uint(req, extra, "ef_search", 10000, &config->hnsw_ef_search)) == VDB_OK)
        rc = config_uint(req, extra, "hnsw_threshold", 0xFFFFFFF0u, &config->hnsw_threshold);
    if (rc == VDB_OK)
        rc = vdb_req_target(req, body, "target_recall", &config->target_recall);
    if (rc == VDB_OK)
        rc = parse_quantization(req, &config->quantization);
    return rc;
}

int vdb_h_admin_create_store(vdb_req *req)
{
    vdb_json *body;
    const char *user_id, *model_id;
    vdb_store_config config;
    vdb_store_handle *handle;
    int rc = vdb_req_body(req, 1, &body);
    if (rc == VDB_OK)
        rc = vdb_req_names(req, &user_id, &model_id);
    if (rc == VDB_OK)
        rc = parse_store_config(req, body, &config);
    if (rc == VDB_OK)
        rc = vdb_registry_create(req->api->registry, user_id, model_id, &config, &handle,
                                 &req->err);
    if (rc == VDB_EEXIST)
        return vdb_error_set(&req->err, rc, "Store already exists for %s/%s", user_id, model_id);
    if (rc != VDB_OK)
        return rc;
    vdb_registry_release(handle);
    vdb_json *data = vdb_json_object(), *cfg = vdb_json_object(), *out = vdb_json_object();
    vdb_set(data, "store_created", vdb_json_bool(1));
    vdb_set(data, "user_id", vdb_json_string(user_id));
    vdb_set(data, "model_id", vdb_json_string(model_id));
    vdb_set(data, "dimension", vdb_json_int(config.dim));
    vdb_set(data, "metric", vdb_json_string(vdb_metric_name(config.metric)));
    vdb_set(data, "index", vdb_json_string(vdb_index_kind_name(config.index)));
    vdb_set(cfg, "dimension", vdb_json_int(config.dim));
    vdb_set(cfg, "metric", vdb_json_string(vdb_metric_name(config.metric)));
    vdb_set(cfg, "M", vdb_json_int(config.hnsw_m));
    vdb_set(cfg, "ef_construction", vdb_json_int(config.hnsw_ef_construction));
    vdb_set(cfg, "ef_search", vdb_json_int(config.hnsw_ef_search));
    vdb_set(cfg, "target_recall", vdb_json_real(config.target_recall));
    vdb_set(cfg, "quantization",
            vdb_json_string(vdb_store_quant_name(config.quantization)));
    vdb_set(data, "config", cfg);
    vdb_set(out, "status", vdb_json_string("success"));
    vdb_set(out, "user_id", vdb_json_string(user_id));
    vdb_set(out, "model_id", vdb_json_string(model_id));
    vdb_set(out, "data", data);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_admin_delete_store(vdb_req *req)
{
    const char *user_id, *model_id;
    vdb_store_handle *handle;
    int rc = vdb_req_store(req, &handle); /* 404 for absent or foreign stores */
    if (rc != VDB_OK)
        return rc;
    long long removed = (long long)vdb_store_count(vdb_registry_store(handle));
    vdb_registry_release(handle);
    vdb_req_names(req, &user_id, &model_id);
    rc = vdb_registry_delete(req->api->registry, user_id, model_id, &req->err);
    if (rc == VDB_ENOTFOUND)
        return vdb_req_not_found(req, user_id, model_id);
    if (rc != VDB_OK)
        return rc;
    char message[200];
    snprintf(message, sizeof(message), "Store %s/%s deleted.", user_id, model_id);
    vdb_json *out = vdb_json_object();
    vdb_set(out, "status", vdb_json_string("success"));
    vdb_set(out, "message", vdb_json_string(message));
    vdb_set(out, "user_id", vdb_json_string(user_id));
    vdb_set(out, "model_id", vdb_json_string(model_id));
    vdb_set(out, "vectors_removed", vdb_json_int(removed));
    return vdb_reply_json(req, 200, out);
}

int vdb_h_admin_set_target_recall(vdb_req *req)
{
    vdb_json *body;
    vdb_store_handle *handle;
    double target = -1;
    int rc = vdb_req_body(req, 1, &body);
    if (rc == VDB_OK)
        rc = vdb_req_target(req, body, "target_recall", &target);
    if (rc == VDB_OK && target < 0)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "target_recall is required");
    if (rc == VDB_OK)
        rc = vdb_req_store(req, &handle);
    if (rc != VDB_OK)
        return rc;
    rc = vdb_store_set_target_recall(vdb_registry_store(handle), target, &req->err);
    vdb_json *out = rc == VDB_OK ? vdb_api_store_json(handle) : NULL;
    vdb_registry_release(handle);
    if (rc != VDB_OK)
        return rc;
    return vdb_reply_json(req, 200, out);
}

int vdb_h_admin_set_quantization(vdb_req *req)
{
    vdb_json *body;
    vdb_store_handle *handle;
    int kind = -1;
    int rc = vdb_req_body(req, 1, &body);
    if (rc == VDB_OK)
        rc = parse_quantization(req, &kind);
    if (rc == VDB_OK && kind < 0)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "quantization is required (auto, none, int8, binary)");
    if (rc == VDB_OK)
        rc = vdb_req_store(req, &handle);
    if (rc != VDB_OK)
        return rc;
    rc = vdb_store_set_quantization(vdb_registry_store(handle), kind, &req->err);
    vdb_json *out = rc == VDB_OK ? vdb_api_store_json(handle) : NULL;
    vdb_registry_release(handle);
    if (rc != VDB_OK)
        return rc;
    return vdb_reply_json(req, 200, out);
}

int vdb_h_admin_store_stats(vdb_req *req)
{
    vdb_store_handle *handle;
    int rc = vdb_req_store(req, &handle);
    if (rc != VDB_OK)
        return rc;
    vdb_json *out = vdb_api_store_json(handle);
    vdb_registry_release(handle);
    if (out != NULL)
        vdb_set(out, "stats", vdb_json_deep_copy(out));
    return vdb_reply_json(req, 200, out);
}

typedef struct list_ctx {
    vdb_req *req;
    vdb_json *stores;
    int failed;
} list_ctx;

/* The contract's listing fields, plus the state (and reason when the store
 * cannot be opened). */
static int list_one(void *ctx, const char *user_id, const char *model_id)
{
    static const char *keys[] = {"user_id",      "model_id",   "dimension",       "metric",
                                 "vector_count", "index_type", "memory_usage_mb", "state",
                                 "reason"};
    list_ctx *c = ctx;
    vdb_json *full, *entry;
    if (!vdb_req_sees_user(c->req, user_id))
        return 0;
    full = vdb_api_store_entry(c->req, user_id, model_id);
    entry = vdb_json_object();
    for (size_t i = 0; entry && full && i < sizeof(keys) / sizeof(keys[0]); i++) {
        vdb_json *value = vdb_json_object_get(full, keys[i]);
        if (value != NULL)
            vdb_json_object_set(entry, keys[i], value);
    }
    vdb_json_decref(full);
    if (full == NULL || entry == NULL || vdb_json_array_append_new(c->stores, entry) != VDB_OK)
        c->failed = 1;
    return c->failed;
}

int vdb_h_admin_list_stores(vdb_req *req)
{
    const char *user_id = NULL;
    list_ctx c = {req, NULL, 0};
    int rc = vdb_req_str(req, "user_id", 0, &user_id);
    if (rc == VDB_OK && user_id != NULL)
        rc = vdb_registry_check_name("user_id", user_id, &req->err);
    if (rc != VDB_OK)
        return rc;
    if ((c.stores = vdb_json_array()) == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    rc = vdb_registry_list(req->api->registry, user_id, list_one, &c, &req->err);
    if (rc == VDB_OK && c.failed)
        rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    if (rc != VDB_OK) {
        vdb_json_decref(c.stores);
        return rc;
    }
    vdb_json *out = vdb_json_object();
    long long total = (long long)vdb_json_array_size(c.stores);
    vdb_set(out, "stores", c.stores);
    vdb_set(out, "total", vdb_json_int(total));
    vdb_set(out, "total_count", vdb_json_int(total));
    return vdb_reply_json(req, 200, out);
}

int vdb_h_admin_add_test_vectors(vdb_req *req)
{
    vdb_json *result = NULL;
    const char *user_id, *model_id;
    int rc = vdb_vectors_add(req, 0, &result);
    if (rc != VDB_OK)
        return rc;
    vdb_req_names(req, &user_id, &model_id);
    vdb_set(result, "status", vdb_json_string("vectors added"));
    vdb_set(result, "user_id", vdb_json_string(user_id));
    vdb_set(result, "model_id", vdb_json_string(model_id));
    vdb_json_object_set(result, "count", vdb_json_object_get(result, "vectors_added"));
    return vdb_reply_json(req, 200, result);
}

typedef struct stats_ctx {
    vdb_req *req;
    vdb_json *users;
    vdb_json *models; /* of the current user */
    char user[VDB_MAX_NAME_LEN + 1];
} stats_ctx;

static int stats_one(void *ctx, const char *user_id, const char *model_id)
{
    stats_ctx *c = ctx;
    vdb_store_handle *handle;
    vdb_error err;
    if (!vdb_req_sees_user(c->req, user_id))
        return 0;
    if (c->models == NULL || strcmp(c->user, user_id) != 0) {
        vdb_json *entry = vdb_json_object();
        c->models = vdb_json_array();
        vdb_set(entry, "user_id", vdb_json_string(user_id));
        vdb_set(entry, "models", c->models);
        vdb_json_array_append_new(c->users, entry);
        snprintf(c->user, sizeof(c->user), "%s", user_id);
    }
    long long n = -1;
    if (vdb_registry_acquire(c->req->api->registry, user_id, model_id, &handle, &err) == VDB_OK) {
        n = (long long)vdb_store_count(vdb_registry_store(handle));
        vdb_registry_release(handle);
    }
    vdb_json *model = vdb_json_object();
    vdb_set(model, "model_id", vdb_json_string(model_id));
    vdb_set(model, "vectors", vdb_json_int(n));
    vdb_set(model, "metadata", vdb_json_int(n));
    vdb_json_array_append_new(c->models, model);
    return 0;
}

int vdb_h_admin_stats(vdb_req *req)
{
    stats_ctx c = {req, vdb_json_array(), NULL, ""};
    int rc = vdb_registry_list(req->api->registry, NULL, stats_one, &c, &req->err);
    if (rc != VDB_OK) {
        vdb_json_decref(c.users);
        return rc;
    }
    return vdb_reply_json(req, 200, c.users);
}

int vdb_h_admin_system_stats(vdb_req *req)
{
    size_t stores, vectors, bytes, total, available;
    uint64_t disk_total, disk_free;
    vdb_api_store_totals(req, &stores, &vectors, &bytes);
    vdb_api_mem_info(&total, &available);
    vdb_api_disk_info(req->api, &disk_total, &disk_free);
    vdb_json *store_stats = vdb_json_object(), *mem = vdb_json_object();
    vdb_json *sys = vdb_json_object(), *disk = vdb_json_object(), *out = vdb_json_object();
    vdb_set(store_stats, "total_stores", vdb_json_int((long long)stores));
    vdb_set(store_stats, "total_vectors", vdb_json_int((long long)vectors));
    vdb_set(store_stats, "total_memory_mb", vdb_json_real((double)bytes / 1048576.0));
    vdb_set(mem, "total_gb", vdb_json_real((double)total / 1073741824.0));
    vdb_set(mem, "available_gb", vdb_json_real((double)available / 1073741824.0));
    vdb_set(mem, "percent",
            vdb_json_real(total ? 100.0 * (double)(total - available) / (double)total : 0));
    vdb_set(mem, "process_rss_mb", vdb_json_real((double)vdb_api_rss_bytes() / 1048576.0));
    vdb_set(disk, "total_gb", vdb_json_real((double)disk_total / 1073741824.0));
    vdb_set(disk, "free_gb", vdb_json_real((double)disk_free / 1073741824.0));
    vdb_set(sys, "memory_usage", mem);
    vdb_set(sys, "disk", disk);
    vdb_set(sys, "uptime_seconds", vdb_json_real(vdb_api_uptime(req->api)));
    vdb_set(out, "store_stats", store_stats);
    vdb_set(out, "system_info", sys);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_admin_health(vdb_req *req)
{
    vdb_json *out = vdb_json_object();
    vdb_set(out, "status", vdb_json_string("healthy"));
    vdb_set(out, "service", vdb_json_string("admin"));
    return vdb_reply_json(req, 200, out);
}

/* ---- per-user keys ---- */

int vdb_h_admin_keys_create(vdb_req *req)
{
    const char *user_id;
    char key[VDB_AUTH_KEY_MAX], key_id[17];
    vdb_json *body;
    int rc = vdb_req_body(req, 1, &body);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "user_id", 1, &user_id);
    if (rc == VDB_OK)
        rc = vdb_auth_create_key(req->api->auth, user_id, key, key_id, &req->err);
    if (rc != VDB_OK)
        return rc;
    vdb_json *out = vdb_json_object();
    vdb_set(out, "api_key", vdb_json_string(key));
    vdb_set(out, "key_id", vdb_json_string(key_id));
    vdb_set(out, "user_id", vdb_json_string(user_id));
    vdb_set(out, "note", vdb_json_string("shown once; only its hash is stored"));
    memset(key, 0, sizeof(key));
    return vdb_reply_json(req, 200, out);
}

static void list_key(void *ctx, const char *key_id, const char *user_id, long long created)
{
    vdb_json *entry = vdb_json_object();
    vdb_set(entry, "key_id", vdb_json_string(key_id));
    vdb_set(entry, "user_id", vdb_json_string(user_id));
    vdb_set(entry, "created", vdb_json_int(created));
    vdb_json_array_append_new(ctx, entry);
}

int vdb_h_admin_keys_list(vdb_req *req)
{
    const char *user_id = NULL;
    int rc = vdb_req_str(req, "user_id", 0, &user_id);
    if (rc != VDB_OK)
        return rc;
    vdb_json *keys = vdb_json_array();
    vdb_auth_list(req->api->auth, user_id, list_key, keys);
    vdb_json *out = vdb_json_object();
    vdb_set(out, "total", vdb_json_int((long long)vdb_json_array_size(keys)));
    vdb_set(out, "keys", keys);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_admin_keys_revoke(vdb_req *req)
{
    const char *key_id = NULL, *user_id = NULL;
    size_t revoked = 0;
    int rc = vdb_req_str(req, "key_id", 0, &key_id);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "user_id", 0, &user_id);
    if (rc == VDB_OK && key_id == NULL && user_id == NULL)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "give key_id or user_id");
    if (rc == VDB_OK)
        rc = vdb_auth_revoke(req->api->auth, key_id, user_id, &revoked, &req->err);
    if (rc != VDB_OK)
        return rc;
    vdb_json *out = vdb_json_object();
    vdb_set(out, "status", vdb_json_string("revoked"));
    vdb_set(out, "revoked", vdb_json_int((long long)revoked));
    return vdb_reply_json(req, 200, out);
}

/* POST /admin/freeze {"user_id": ..., "frozen": true|false}: the server side
 * of a tenant move (freeze.h). Answers after the barrier, so a 200 for
 * "frozen": true means no write of the tenant is still in flight.
 *
 * Background /v1/batch operations commit chunks after their request has
 * answered 202, outside the barrier. When the tenant still has running
 * operations, the answer is 503 with Retry-After at once, and the tenant
 * stays frozen: no new operation of it can begin (they begin inside their
 * request, which is refused), so the running ones drain, and the caller
 * (the mover) repeats the call until it gets 200 or gives up and thaws.
 * The request never waits for them: a wait here would hold this HTTP
 * worker, and every connection it polls, for as long as the slowest job
 * (it used to, up to 30 s). */
int vdb_h_admin_freeze(vdb_req *req)
{
    const char *user_id;
    vdb_json *body = NULL;
    int rc = vdb_req_body(req, 1, &body);
    if (rc == VDB_OK)
        rc = vdb_req_str(req, "user_id", 1, &user_id);
    if (rc == VDB_OK)
        rc = vdb_registry_check_name("user_id", user_id, &req->err);
    vdb_json *flag = body ? vdb_json_object_get(body, "frozen") : NULL;
    if (rc == VDB_OK && vdb_jtype(flag) != VDB_JSON_BOOL)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "frozen must be true or false");
    int on = rc == VDB_OK && vdb_json_bool_value(flag);
    if (rc == VDB_OK)
        rc = vdb_freeze_set(req->api->freeze, user_id, on, &req->err);
    if (rc != VDB_OK)
        return rc;
    /* A zero timeout only counts: this worker does not wait. */
    size_t running = on ? vdb_batchops_wait_user(req->api->batchops, user_id, 0) : 0;
    if (running > 0) {
        char retry[16];
        snprintf(retry, sizeof(retry), "%d", VDB_FREEZE_RETRY_S);
        vdb_http_response_header(req->resp, "Retry-After", retry);
        return vdb_error_set(&req->err, VDB_EBUSY,
                             "tenant '%s' is frozen but %zu batch operation(s) of it are still "
                             "running (GET /v1/batch/operations): repeat this call until it "
                             "answers 200, or thaw with \"frozen\": false",
                             user_id, running);
    }
    vdb_log_info("tenant %s %s", user_id, on ? "frozen (writes refused)" : "thawed");
    vdb_json *out = vdb_json_object();
    vdb_set(out, "user_id", vdb_json_string(user_id));
    vdb_set(out, "frozen", vdb_json_bool(on));
    return vdb_reply_json(req, 200, out);
}

/* GET /admin/freeze: the tenants frozen on this node. */
int vdb_h_admin_frozen(vdb_req *req)
{
    vdb_json *out = vdb_json_object(), *list = vdb_freeze_list(req->api->freeze);
    if (out == NULL || list == NULL) {
        vdb_json_decref(out);
        vdb_json_decref(list);
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    }
    vdb_set(out, "frozen", list);
    return vdb_reply_json(req, 200, out);
}
