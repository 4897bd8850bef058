/* The route table (see router.h). Matching is a linear scan over exact
 * paths: with ~60 routes that is a few hundred nanoseconds, far below the
 * cost of parsing any body, and it keeps the table plain data. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "api_int.h"

#define PUB VDB_ACCESS_PUBLIC
#define USR VDB_ACCESS_USER
#define STO VDB_ACCESS_STORES
#define ADM VDB_ACCESS_ADMIN
#define SM "user_id!,model_id!"

static const vdb_route routes[] = {
    /* method, path, access, handler, operationId, tag, summary, query params, request, response */
    {"GET", "/", PUB, vdb_h_root, "root", "root", "Service name, version and links", NULL, NULL, "Object"},
    {"GET", "/health", PUB, vdb_h_health, "health", "root", "Liveness and store totals", NULL, NULL, "Health"},
    {"GET", "/system/info", USR, vdb_h_system_info, "systemInfo", "root", "CPU, ISA, memory and build", NULL, NULL, "Object"},
    {"GET", "/config", STO, vdb_h_config, "config", "root", "Effective configuration, secrets masked", NULL, NULL, "Object"},
    {"GET", "/debug/routes", STO, vdb_h_debug_routes, "debugRoutes", "root", "Every route with method and auth level", NULL, NULL, "Object"},
    {"GET", "/debug/mlx", STO, vdb_h_debug_compute, "debugCompute", "root", "Compute backend self-test (the original's MLX probe)", NULL, NULL, "Object"},
    {"GET", "/openapi.json", PUB, vdb_h_openapi, "openapi", "root", "This OpenAPI document", NULL, NULL, "Object"},
    {"GET", "/docs", PUB, vdb_h_docs, "docs", "root", "Swagger UI (offline; ?ui=builtin: the self-contained page)", "ui", NULL, "text/html"},
    {"GET", "/redoc", PUB, vdb_h_redoc, "redoc", "root", "ReDoc API reference (offline)", NULL, NULL, "text/html"},
    {"GET", "/docs/swagger-ui.css", PUB, vdb_h_docs_asset, "docsCss", "root", "Swagger UI asset", NULL, NULL, "text/css"},
    {"GET", "/docs/swagger-ui-bundle.js", PUB, vdb_h_docs_asset, "docsBundle", "root", "Swagger UI asset", NULL, NULL, "text/javascript"},
    {"GET", "/docs/swagger-init.js", PUB, vdb_h_docs_asset, "docsInit", "root", "Swagger UI asset", NULL, NULL, "text/javascript"},
    {"GET", "/docs/redoc.standalone.js", PUB, vdb_h_docs_asset, "docsRedoc", "root", "ReDoc asset", NULL, NULL, "text/javascript"},

    {"POST", "/vectors/add", USR, vdb_h_vectors_add, "vectorsAdd", "vectors", "Add or upsert vectors (creates a missing store, cosine)", NULL, "AddRequest", "AddResponse"},
    {"POST", "/vectors/query", USR, vdb_h_vectors_query, "vectorsQuery", "vectors", "Top-k similarity search", NULL, "QueryRequest", "QueryResponse"},
    {"POST", "/vectors/batch_query", USR, vdb_h_vectors_batch_query, "vectorsBatchQuery", "vectors", "Top-k search for many queries", NULL, "BatchQueryRequest", "BatchQueryResponse"},
    {"POST", "/vectors/stream_query", USR, vdb_h_vectors_stream_query, "vectorsStreamQuery", "vectors", "Batch search answered as NDJSON, one line per query", NULL, "BatchQueryRequest", "application/x-ndjson"},
    {"GET", "/vectors/count", USR, vdb_h_vectors_count, "vectorsCount", "vectors", "Number of live vectors", SM, NULL, "CountResponse"},
    {"POST", "/vectors/delete", USR, vdb_h_vectors_delete, "vectorsDelete", "vectors", "Delete vectors by id or metadata filter", NULL, "DeleteRequest", "DeleteResponse"},
    {"GET", "/vectors/stats", USR, vdb_h_vectors_stats, "vectorsStats", "vectors", "Store and query statistics", SM, NULL, "Object"},
    {"GET", "/vectors/health", PUB, vdb_h_vectors_health, "vectorsHealth", "vectors", "Vector service health", NULL, NULL, "Health"},
    {"POST", "/vectors/create", USR, vdb_h_admin_create_store, "vectorsCreate", "vectors", "Create a store (README-era form)", NULL, "CreateStoreRequest", "Object"},
    {"GET", "/vectors/users", USR, vdb_h_vectors_users, "vectorsUsers", "vectors", "User ids with stores", NULL, NULL, "StringList"},
    {"GET", "/vectors/models", USR, vdb_h_vectors_models, "vectorsModels", "vectors", "Model ids of one user", "user_id!", NULL, "StringList"},
    {"GET", "/vectors/ping", USR, vdb_h_vectors_ping, "vectorsPing", "vectors", "Ping", NULL, NULL, "Object"},
    {"POST", "/vectors/benchmark", USR, vdb_h_perf_benchmark, "vectorsBenchmark", "vectors", "Benchmark on a scratch copy with the store's dimension and metric", "user_id!,model_id!,num_vectors,num_queries,k", NULL, "BenchmarkResponse"},

    {"POST", "/admin/create_store", USR, vdb_h_admin_create_store, "adminCreateStore", "admin", "Create a store (409 if it exists)", NULL, "CreateStoreRequest", "Object"},
    {"DELETE", "/admin/store", USR, vdb_h_admin_delete_store, "adminDeleteStore", "admin", "Delete a store and its files (query or JSON body)", "user_id,model_id,force", "StoreRef", "Object"},
    {"POST", "/admin/store/target_recall", USR, vdb_h_admin_set_target_recall, "adminSetTargetRecall", "admin", "Change a store's declared recall target (persisted in store.json)", NULL, "TargetRecallRequest", "Object"},
    {"POST", "/admin/store/quantization", USR, vdb_h_admin_set_quantization, "adminSetQuantization", "admin", "Change a store's quantization (codes rebuilt from the float rows; persisted in store.json)", NULL, "QuantizationRequest", "Object"},
    {"GET", "/admin/store/stats", USR, vdb_h_admin_store_stats, "adminStoreStats", "admin", "One store's statistics", SM, NULL, "Object"},
    {"GET", "/admin/list_stores", USR, vdb_h_admin_list_stores, "adminListStores", "admin", "Stores the key can see", "user_id", NULL, "Object"},
    {"POST", "/admin/add_test_vectors", USR, vdb_h_admin_add_test_vectors, "adminAddTestVectors", "admin", "Add vectors to an existing store (404 if absent)", NULL, "AddRequest", "AddResponse"},
    {"GET", "/admin/stats", USR, vdb_h_admin_stats, "adminStats", "admin", "Users and their models with counts", NULL, NULL, "Object"},
    {"GET", "/admin/system_stats", STO, vdb_h_admin_system_stats, "adminSystemStats", "admin", "Server-wide figures", NULL, NULL, "Object"},
    {"GET", "/admin/health", PUB, vdb_h_admin_health, "adminHealth", "admin", "Admin service health", NULL, NULL, "Object"},
    {"POST", "/admin/optimize_store", USR, vdb_h_perf_optimize, "adminOptimizeStore", "admin", "Rebuild the index and compact", "user_id,model_id", "StoreRef", "OptimizeResponse"},
    {"GET", "/admin/export_zip", USR, vdb_h_admin_export_zip, "adminExportZip", "admin", "Export a store (or all of a user's stores) as a ZIP", "user_id!,model_id", NULL, "application/zip"},
    {"POST", "/admin/import_zip", USR, vdb_h_admin_import_zip, "adminImportZip", "admin", "Import a ZIP (multipart field 'file' or raw application/zip body)", "user_id!,model_id!,overwrite", "ZipUpload", "Object"},
    {"POST", "/admin/keys", ADM, vdb_h_admin_keys_create, "adminKeysCreate", "admin", "Create a per-user key (answered once)", NULL, "KeyCreateRequest", "Object"},
    {"GET", "/admin/wal_tail", ADM, vdb_h_admin_wal_tail, "adminWalTail", "admin", "A store's WAL records after an LSN (tenant-move catch-up; 409 once checkpointed past it)", "user_id!,model_id!,after!", NULL, "application/octet-stream"},
    {"POST", "/admin/wal_apply", ADM, vdb_h_admin_wal_apply, "adminWalApply", "admin", "Apply WAL records from /admin/wal_tail to a store (upserts and deletes by id)", "user_id!,model_id!", NULL, "Object"},
    {"POST", "/admin/freeze", ADM, vdb_h_admin_freeze, "adminFreeze", "admin", "Freeze or thaw a tenant's writes (tenant moves; persisted)", NULL, "FreezeRequest", "Object"},
    {"GET", "/admin/freeze", ADM, vdb_h_admin_frozen, "adminFrozen", "admin", "Tenants whose writes are frozen on this node", NULL, NULL, "Object"},
    {"GET", "/admin/keys", ADM, vdb_h_admin_keys_list, "adminKeysList", "admin", "List per-user keys (ids only)", "user_id", NULL, "Object"},
    {"DELETE", "/admin/keys", ADM, vdb_h_admin_keys_revoke, "adminKeysRevoke", "admin", "Revoke a key by key_id, or all keys of a user_id", "key_id,user_id", NULL, "Object"},

    {"GET", "/performance/health", PUB, vdb_h_perf_health, "perfHealth", "performance", "Compute backend status", NULL, NULL, "Object"},
    {"POST", "/performance/warmup", USR, vdb_h_perf_warmup, "perfWarmup", "performance", "Open and touch stores so first queries are fast", "dimension", "WarmupRequest", "Object"},
    {"POST", "/performance/benchmark", USR, vdb_h_perf_benchmark, "perfBenchmark", "performance", "Benchmark add and query on a scratch store", NULL, "BenchmarkRequest", "BenchmarkResponse"},
    {"POST", "/performance/optimize", USR, vdb_h_perf_optimize, "perfOptimize", "performance", "Rebuild the index and compact", "user_id,model_id,force_rebuild_index,rebuild", "StoreRef", "OptimizeResponse"},
    {"GET", "/performance/stats", USR, vdb_h_perf_stats, "perfStats", "performance", "Per-store and query latency figures", "user_id,model_id", NULL, "Object"},
    {"GET", "/performance/cache/stats", USR, vdb_h_perf_cache_stats, "perfCacheStats", "performance", "Query result cache figures", NULL, NULL, "Object"},
    {"POST", "/performance/cache/clear", ADM, vdb_h_perf_cache_clear, "perfCacheClear", "performance", "Empty the query result cache", NULL, NULL, "Object"},

    {"GET", "/monitoring/health", PUB, vdb_h_mon_health, "monHealth", "monitoring", "Liveness with uptime", NULL, NULL, "Object"},
    {"GET", "/monitoring/metrics", USR, vdb_h_mon_metrics, "monMetrics", "monitoring", "Prometheus text (or ?format=json)", "format", NULL, "text/plain"},
    {"GET", "/monitoring/metrics/summary", USR, vdb_h_mon_summary, "monSummary", "monitoring", "Summary of the metrics", NULL, NULL, "Object"},
    {"GET", "/monitoring/health/detailed", USR, vdb_h_mon_health_detailed, "monHealthDetailed", "monitoring", "Named health checks", NULL, NULL, "Object"},
    {"GET", "/monitoring/status", STO, vdb_h_mon_status, "monStatus", "monitoring", "Per-store state, WAL, resources", NULL, NULL, "Object"},
    {"GET", "/monitoring/stores", USR, vdb_h_mon_stores, "monStores", "monitoring", "Per-store summary", NULL, NULL, "Object"},
    {"POST", "/monitoring/alerts/test", USR, vdb_h_mon_alert_test, "monAlertTest", "monitoring", "Evaluate and log a test alert", "alert_type", NULL, "Object"},

    {"POST", "/v1/batch/vectors/add", USR, vdb_h_batch_add, "batchAdd", "batch", "Add up to max_batch vectors in chunks; enable_streaming runs it in the background", NULL, "BatchAddRequest", "Object"},
    {"POST", "/v1/batch/vectors/query", USR, vdb_h_batch_query, "batchQuery", "batch", "Top-k search for many queries, grouped per query", NULL, "BatchQueryRequest", "Object"},
    {"POST", "/v1/batch/upload", USR, vdb_h_batch_upload, "batchUpload", "batch", "Upload .npy/.npz/JSONL vectors (multipart 'file' + 'metadata', or a raw .npy/.npz body); runs in the background", "user_id!,model_id!,chunk_size,wait", NULL, "Object"},
    {"GET", "/v1/batch/progress/{operation_id}", USR, vdb_h_batch_progress, "batchProgress", "batch", "Progress of a batch operation", NULL, NULL, "Object"},
    {"GET", "/v1/batch/stream/{operation_id}", USR, vdb_h_batch_stream, "batchStream", "batch", "Progress as server-sent events, every 0.5 s until done", NULL, NULL, "text/event-stream"},
    {"GET", "/v1/batch/operations", USR, vdb_h_batch_operations, "batchOperations", "batch", "Batch operations the key can see", NULL, NULL, "Object"},
    {"POST", "/v1/batch/benchmark", USR, vdb_h_batch_benchmark, "batchBenchmark", "batch", "Durable batch-ingest benchmark on a scratch store", NULL, "Object", "Object"},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))
_Static_assert(NROUTES <= VDB_ROUTES_MAX, "raise VDB_ROUTES_MAX");

const vdb_route *vdb_router_routes(size_t *count)
{
    *count = NROUTES;
    return routes;
}

size_t vdb_router_index(const vdb_route *route)
{
    return route == NULL ? VDB_ROUTES_MAX : (size_t)(route - routes);
}

/* Exact paths, plus one trailing parameter: "/v1/batch/progress/{operation_id}"
 * matches "/v1/batch/progress/<one non-empty segment>". */
static int path_matches(const char *pattern, const char *path)
{
    const char *brace = strchr(pattern, '{');
    if (brace == NULL)
        return strcmp(pattern, path) == 0;
    size_t prefix = (size_t)(brace - pattern);
    return strncmp(pattern, path, prefix) == 0 && path[prefix] != '\0' &&
           strchr(path + prefix, '/') == NULL;
}

const vdb_route *vdb_router_match(const char *method, const char *path, int *path_known,
                                  char *allow, size_t allow_size)
{
    size_t used = 0;
    *path_known = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < NROUTES; i++) {
        if (!path_matches(routes[i].path, path))
            continue;
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
            return &routes[i];
        *path_known = 1;
        int n = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "",
                         routes[i].method);
        if (n > 0 && (size_t)n < allow_size - used)
            used += (size_t)n;
    }
    return NULL;
}
