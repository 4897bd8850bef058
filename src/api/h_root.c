/* Root handlers: /, /health, /system/info, /config, /debug/routes and the
 * compute self-test behind /debug/mlx (the original probed MLX there; vdb
 * runs its own BLAS and distance kernels and checks them). */
#include "api_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "../core/alloc.h"
#include "../core/cpu.h"
#include "../core/limits.h"
#include "../core/pool.h"
#include "../core/rng.h"
#include "../store/compute.h"

int vdb_h_root(vdb_req *req)
{
    vdb_json *links = vdb_json_object(), *out = vdb_json_object();
    vdb_set(links, "docs", vdb_json_string("/docs"));
    vdb_set(links, "openapi", vdb_json_string("/openapi.json"));
    vdb_set(links, "health", vdb_json_string("/health"));
    vdb_set(links, "metrics", vdb_json_string("/monitoring/metrics"));
    vdb_set(out, "service", vdb_json_string("vdb vector database"));
    vdb_set(out, "name", vdb_json_string("vdb"));
    vdb_set(out, "version", vdb_json_string(VDB_VERSION));
    vdb_set(out, "status", vdb_json_string("operational"));
    vdb_set(out, "documentation", vdb_json_string("/docs"));
    vdb_set(out, "docs", vdb_json_string("/docs"));
    vdb_set(out, "links", links);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_health(vdb_req *req)
{
    size_t stores, vectors, bytes;
    uint64_t total = 0, errors = 0, server_errors = 0, count, buckets[VDB_HIST_BUCKETS + 1];
    double sum_all = 0;
    for (size_t slot = 0; slot <= VDB_ROUTES_MAX; slot++) {
        double s;
        vdb_histogram_read(&req->api->route_hist[slot], &count, &s, buckets);
        total += count;
        sum_all += s;
        for (size_t i = 0; i < VDB_NSTATUS; i++) {
            uint64_t c = vdb_counter_get(&req->api->route_status[slot][i]);
            if (vdb_api_statuses[i] >= 400)
                errors += c;
            if (vdb_api_statuses[i] >= 500)
                server_errors += c;
        }
    }
    /* Server-wide totals whoever asks: the health of the process is not
     * per tenant, and counts reveal no tenant's data (per-tenant detail
     * stays behind /admin and /monitoring). */
    vdb_api_store_totals_all(req->api, &stores, &vectors, &bytes);
    char device[64];
    snprintf(device, sizeof(device), "Device(cpu, 0) [%s]", vdb_isa_name(vdb_cpu_best_isa()));
    vdb_json *perf = vdb_json_object(), *out = vdb_json_object();
    vdb_set(perf, "total_requests", vdb_json_int((long long)total));
    vdb_set(perf, "total_errors", vdb_json_int((long long)errors)); /* 4xx + 5xx */
    vdb_set(perf, "total_client_errors", vdb_json_int((long long)(errors - server_errors)));
    vdb_set(perf, "total_server_errors", vdb_json_int((long long)server_errors));
    vdb_set(perf, "avg_response_time_ms", vdb_json_real(total ? sum_all * 1e3 / (double)total : 0));
    vdb_set(perf, "error_rate", vdb_json_real(total ? (double)errors / (double)total : 0));
    vdb_set(out, "status", vdb_json_string("healthy"));
    vdb_set(out, "version", vdb_json_string(VDB_VERSION));
    vdb_set(out, "service", vdb_json_string("vdb"));
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    vdb_set(out, "uptime_seconds", vdb_json_real(vdb_api_uptime(req->api)));
    vdb_set(out, "mlx_available", vdb_json_bool(0));
    vdb_set(out, "mlx_device", vdb_json_string(device));
    vdb_set(out, "compute_isa", vdb_json_string(vdb_isa_name(vdb_cpu_best_isa())));
    vdb_set(out, "stores_active", vdb_json_int((long long)stores));
    vdb_set(out, "total_vectors", vdb_json_int((long long)vectors));
    vdb_set(out, "memory_usage_mb", vdb_json_real((double)bytes / 1048576.0));
    vdb_set(out, "performance_metrics", perf);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_system_info(vdb_req *req)
{
    struct utsname uts;
    size_t total, available, stores, vectors, bytes;
    uname(&uts);
    vdb_api_mem_info(&total, &available);
    vdb_api_store_totals(req, &stores, &vectors, &bytes);
    vdb_json *sys = vdb_json_object(), *mem = vdb_json_object(), *build = vdb_json_object();
    vdb_json *compute = vdb_json_object(), *mgr = vdb_json_object(), *out = vdb_json_object();
    vdb_set(sys, "platform", vdb_json_string(uts.sysname));
    vdb_set(sys, "release", vdb_json_string(uts.release));
    vdb_set(sys, "architecture", vdb_json_string(uts.machine));
    vdb_set(sys, "processor", vdb_json_string(uts.machine));
    vdb_set(sys, "cpu_count", vdb_json_int(vdb_cpu_count()));
    vdb_set(compute, "isa", vdb_json_string(vdb_isa_name(vdb_cpu_best_isa())));
    vdb_set(compute, "blas", vdb_json_string(vdb_store_compute_backend()));
    vdb_set(compute, "search_threads", vdb_json_int(vdb_pool_threads(vdb_pool_global())));
    vdb_set(compute, "http_threads", vdb_json_int(req->api->config.http_threads));
    vdb_set(mem, "total_gb", vdb_json_real((double)total / 1073741824.0));
    vdb_set(mem, "available_gb", vdb_json_real((double)available / 1073741824.0));
    vdb_set(mem, "used_percent",
            vdb_json_real(total ? 100.0 * (double)(total - available) / (double)total : 0));
    vdb_set(mem, "process_rss_mb", vdb_json_real((double)vdb_api_rss_bytes() / 1048576.0));
    vdb_set(build, "version", vdb_json_string(VDB_VERSION));
    vdb_set(build, "compiler", vdb_json_string(__VERSION__));
    vdb_set(build, "date", vdb_json_string(__DATE__));
    vdb_set(mgr, "total_stores", vdb_json_int((long long)stores));
    vdb_set(mgr, "total_vectors", vdb_json_int((long long)vectors));
    vdb_set(mgr, "total_memory_mb", vdb_json_real((double)bytes / 1048576.0));
    vdb_set(out, "system", sys);
    vdb_set(out, "compute", compute);
    vdb_set(out, "memory", mem);
    vdb_set(out, "build", build);
    vdb_set(out, "store_manager", mgr);
    vdb_set(out, "uptime_seconds", vdb_json_real(vdb_api_uptime(req->api)));
    return vdb_reply_json(req, 200, out);
}

static void add_setting(void *ctx, const char *name, const char *value, const char *help,
                        int is_secret)
{
    (void)help, (void)is_secret;
    vdb_set(ctx, name, vdb_json_string(value));
}

int vdb_h_config(vdb_req *req)
{
    const vdb_config *c = &req->api->config;
    vdb_json *settings = vdb_json_object(), *server = vdb_json_object();
    vdb_json *features = vdb_json_object(), *limits = vdb_json_object(), *out = vdb_json_object();
    vdb_config_visit(c, add_setting, settings);
    vdb_set(server, "host", vdb_json_string(c->host));
    vdb_set(server, "port", vdb_json_int(vdb_http_port(req->api->http)));
    vdb_set(server, "http_threads", vdb_json_int(c->http_threads));
    vdb_set(server, "data_dir", vdb_json_string(c->data_dir));
    vdb_set(server, "environment", vdb_json_string(c->environment));
    vdb_set(features, "hnsw", vdb_json_bool(c->enable_hnsw));
    vdb_set(features, "metrics", vdb_json_bool(c->enable_metrics));
    vdb_set(features, "query_cache", vdb_json_bool(1));
    vdb_set(features, "fsync", vdb_json_string(c->fsync));
    vdb_set(limits, "max_body_bytes", vdb_json_int((long long)c->max_body_bytes));
    vdb_set(limits, "max_bodies_bytes", vdb_json_int((long long)c->max_bodies_bytes));
    vdb_set(limits, "max_batch", vdb_json_int(c->max_batch));
    vdb_set(limits, "max_k", vdb_json_int(c->max_k));
    vdb_set(limits, "max_dimension", vdb_json_int(c->max_dim));
    vdb_set(limits, "max_name_length", vdb_json_int(VDB_MAX_NAME_LEN));
    vdb_set(limits, "max_id_bytes", vdb_json_int(VDB_MAX_ID_LEN));
    vdb_set(limits, "max_metadata_bytes", vdb_json_int(VDB_MAX_META_BYTES));
    vdb_set(limits, "max_json_depth", vdb_json_int(VDB_MAX_JSON_DEPTH));
    vdb_set(limits, "max_connections", vdb_json_int(c->max_connections));
    vdb_set(limits, "connection_timeout_s", vdb_json_int(c->conn_timeout_s));
    vdb_set(out, "settings", settings);
    vdb_set(out, "server", server);
    vdb_set(out, "features", features);
    vdb_set(out, "limits", limits);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_debug_routes(vdb_req *req)
{
    size_t n = req->api->nroutes;
    const vdb_route *routes = req->api->routes;
    vdb_json *list = vdb_json_array(), *out = vdb_json_object();
    for (size_t i = 0; i < n; i++) {
        vdb_json *r = vdb_json_object(), *methods = vdb_json_array();
        vdb_json_array_append_new(methods, vdb_json_string(routes[i].method));
        vdb_set(r, "path", vdb_json_string(routes[i].path));
        vdb_set(r, "methods", methods);
        vdb_set(r, "name", vdb_json_string(routes[i].op_id));
        vdb_set(r, "auth", vdb_json_string(vdb_access_name(routes[i].access)));
        vdb_set(r, "summary", vdb_json_string(routes[i].summary));
        vdb_json_array_append_new(list, r);
    }
    vdb_set(out, "total", vdb_json_int((long long)n));
    vdb_set(out, "routes", list);
    return vdb_reply_json(req, 200, out);
}

int vdb_h_debug_compute(vdb_req *req)
{
    enum { N = VDB_STORE_SELFTEST_N, D = VDB_STORE_SELFTEST_D };
    double worst = 0, start = vdb_now_ms();
    int rc = vdb_store_compute_selftest(&worst, &req->err);
    if (rc != VDB_OK)
        return rc;
    vdb_json *ops = vdb_json_array(), *shape = vdb_json_array(), *out = vdb_json_object();
    vdb_json_array_append_new(ops, vdb_json_string("random"));
    vdb_json_array_append_new(ops, vdb_json_string("sgemm"));
    vdb_json_array_append_new(ops, vdb_json_string("reference_check"));
    vdb_json_array_append_new(shape, vdb_json_int(N));
    vdb_json_array_append_new(shape, vdb_json_int(D));
    vdb_set(out, "mlx_working", vdb_json_bool(0));
    vdb_set(out, "compute_working", vdb_json_bool(worst < 1e-3));
    vdb_set(out, "backend", vdb_json_string(vdb_store_compute_backend()));
    vdb_set(out, "isa", vdb_json_string(vdb_isa_name(vdb_cpu_best_isa())));
    vdb_set(out, "device", vdb_json_string("cpu"));
    vdb_set(out, "test_shape", shape);
    vdb_set(out, "max_relative_error", vdb_json_real(worst));
    vdb_set(out, "operations_tested", ops);
    vdb_set(out, "time_ms", vdb_json_real(vdb_now_ms() - start));
    return vdb_reply_json(req, 200, out);
}
